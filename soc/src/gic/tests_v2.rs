//! GICv2 tests. Offsets and values come from IHI 0048B (GICv2) and the
//! GIC-400 TRM (DDI 0471), not from the implementation.

use std::sync::{Arc, Mutex};

use cpu_aarch64::irq::IrqLines;

use super::test_util::{Rig, CPU, DIST};
use super::{Gic, GicConfig, GicConfigError, GicCpuConfig, GicMmio, GicVersion};
use crate::device::{AccessInfo, Device, MmioRegion};
use crate::dt::PropValue;
use crate::irq::{InterruptController, IrqLine, SharedInterruptController};

// Distributor.
const GICD_CTLR: u64 = 0x000;
const GICD_TYPER: u64 = 0x004;
const GICD_IIDR: u64 = 0x008;
const GICD_IGROUPR: u64 = 0x080;
const GICD_ISENABLER: u64 = 0x100;
const GICD_ICENABLER: u64 = 0x180;
const GICD_ISPENDR: u64 = 0x200;
const GICD_ICPENDR: u64 = 0x280;
const GICD_ISACTIVER: u64 = 0x300;
const GICD_ICACTIVER: u64 = 0x380;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ITARGETSR: u64 = 0x800;
const GICD_ICFGR: u64 = 0xc00;
const GICD_SGIR: u64 = 0xf00;
const GICD_CPENDSGIR: u64 = 0xf10;
const GICD_SPENDSGIR: u64 = 0xf20;
const GICD_PIDR2: u64 = 0xfe8;
// CPU interface.
const GICC_CTLR: u64 = 0x00;
const GICC_PMR: u64 = 0x04;
const GICC_BPR: u64 = 0x08;
const GICC_IAR: u64 = 0x0c;
const GICC_EOIR: u64 = 0x10;
const GICC_RPR: u64 = 0x14;
const GICC_HPPIR: u64 = 0x18;
const GICC_ABPR: u64 = 0x1c;
const GICC_AIAR: u64 = 0x20;
const GICC_AEOIR: u64 = 0x24;
const GICC_AHPPIR: u64 = 0x28;
const GICC_APR0: u64 = 0xd0;
const GICC_IIDR: u64 = 0xfc;
const GICC_DIR: u64 = 0x1000;

const SPURIOUS: u32 = 1023;

fn gicc(r: &mut Rig, cpu: usize, offset: u64) -> u32 {
    r.read(cpu, CPU, offset, 4) as u32
}

fn set_gicc(r: &mut Rig, cpu: usize, offset: u64, v: u32) {
    r.write(cpu, CPU, offset, 4, u64::from(v))
}

/// `n` cores (affinity = index), distributor Group 0 enabled, every CPU
/// interface's Group 0 enabled, PMR 0xF0.
fn ready(n: usize) -> Rig {
    let affs: Vec<u64> = (0..n as u64).collect();
    let mut r = Rig::new(GicVersion::V2, &affs);
    r.set_gicd(GICD_CTLR, 1);
    for c in 0..n {
        set_gicc(&mut r, c, GICC_CTLR, 1);
        set_gicc(&mut r, c, GICC_PMR, 0xf0);
    }
    r
}

/// Enables SPI `spi` with `priority`, targeted at the cores in `targets`.
fn spi(r: &mut Rig, spi: u32, priority: u8, targets: u8) {
    let id = u64::from(32 + spi);
    r.write(0, DIST, GICD_ISENABLER + id / 32 * 4, 4, 1 << (id % 32));
    r.write(0, DIST, GICD_IPRIORITYR + id, 1, u64::from(priority));
    r.write(0, DIST, GICD_ITARGETSR + id, 1, u64::from(targets));
}

/// Makes SPI `spi` edge-triggered (Int_config bit 1 of its ICFGR field).
fn edge(r: &mut Rig, spi: u32) {
    let id = u64::from(32 + spi);
    let off = GICD_ICFGR + id / 16 * 4;
    let v = r.gicd(off) | 2 << (2 * (id % 16));
    r.set_gicd(off, v);
}

#[test]
fn identification_registers() {
    let mut r = Rig::new(GicVersion::V2, &[0, 1]);
    // 96 INTIDs: ITLinesNumber = 2; two CPU interfaces: CPUNumber = 1;
    // SecurityExtn (bit 10) = 0.
    assert_eq!(r.gicd(GICD_TYPER), 0x22);
    assert_eq!(r.gicd(GICD_IIDR), 0x0200_143b);
    assert_eq!(gicc(&mut r, 0, GICC_IIDR), 0x0202_143b);
    // PIDR2.ArchRev = 2 (GICv2).
    assert_eq!(r.gicd(GICD_PIDR2), 0x2b);
    assert_eq!((r.gicd(GICD_PIDR2) >> 4) & 0xf, 2);
    let cidr: Vec<u32> = (0..4).map(|i| r.gicd(0xff0 + 4 * i)).collect();
    assert_eq!(cidr, [0x0d, 0xf0, 0x05, 0xb1]);
    // Read-only.
    r.set_gicd(GICD_TYPER, 0);
    assert_eq!(r.gicd(GICD_TYPER), 0x22);

    let mut r = Rig::with_spis(GicVersion::V2, &[0, 1, 2, 3, 4, 5, 6, 7], 480);
    assert_eq!(r.gicd(GICD_TYPER), 15 | 7 << 5);
}

#[test]
fn reset_state() {
    let mut r = Rig::new(GicVersion::V2, &[0, 1]);
    assert_eq!(r.gicd(GICD_CTLR), 0);
    assert_eq!(gicc(&mut r, 0, GICC_CTLR), 0);
    assert_eq!(gicc(&mut r, 0, GICC_PMR), 0);
    // Minimum binary points for 5 priority bits: BPR 2, ABPR 3.
    assert_eq!(gicc(&mut r, 0, GICC_BPR), 2);
    assert_eq!(gicc(&mut r, 0, GICC_ABPR), 3);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0xff);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), SPURIOUS);
    assert_eq!(gicc(&mut r, 0, GICC_HPPIR), SPURIOUS);
    // SGIs are edge-triggered (0b10 per field); PPIs and SPIs reset level.
    assert_eq!(r.gicd(GICD_ICFGR), 0xaaaa_aaaa);
    assert_eq!(r.gicd(GICD_ICFGR + 4), 0);
    assert_eq!(r.gicd(GICD_ICFGR + 8), 0);
    r.set_gicd(GICD_ICFGR, 0);
    assert_eq!(r.gicd(GICD_ICFGR), 0xaaaa_aaaa);
    // ITARGETSR0-7 read the accessing core's bit and ignore writes.
    assert_eq!(r.gicd(GICD_ITARGETSR), 0x0101_0101);
    assert_eq!(r.read(1, DIST, GICD_ITARGETSR + 28, 4), 0x0202_0202);
    r.write(1, DIST, GICD_ITARGETSR + 28, 4, 0x0303_0303);
    assert_eq!(r.read(1, DIST, GICD_ITARGETSR + 31, 1), 0x02);
    assert_eq!(r.outputs(), [(false, false), (false, false)]);
    // A uniprocessor GIC's ITARGETSRs are RAZ/WI.
    let mut u = Rig::new(GicVersion::V2, &[0]);
    assert_eq!(u.gicd(GICD_ITARGETSR), 0);
    u.set_gicd(GICD_ITARGETSR + 32, 0x0101_0101);
    assert_eq!(u.gicd(GICD_ITARGETSR + 32), 0);
}

#[test]
fn priority_and_pmr_fields_implement_five_bits() {
    let mut r = ready(1);
    r.set_gicd(GICD_IPRIORITYR + 32, 0xffff_ffff);
    assert_eq!(r.gicd(GICD_IPRIORITYR + 32), 0xf8f8_f8f8);
    r.write(0, DIST, GICD_IPRIORITYR + 33, 1, 0x47);
    assert_eq!(r.gicd(GICD_IPRIORITYR + 32), 0xf8f8_40f8);
    assert_eq!(r.read(0, DIST, GICD_IPRIORITYR + 33, 1), 0x40);
    set_gicc(&mut r, 0, GICC_PMR, 0xff);
    assert_eq!(gicc(&mut r, 0, GICC_PMR), 0xf8);
    // Binary points below the minimum read as the minimum.
    set_gicc(&mut r, 0, GICC_BPR, 0);
    set_gicc(&mut r, 0, GICC_ABPR, 1);
    assert_eq!(gicc(&mut r, 0, GICC_BPR), 2);
    assert_eq!(gicc(&mut r, 0, GICC_ABPR), 3);
    set_gicc(&mut r, 0, GICC_BPR, 0xf5);
    assert_eq!(gicc(&mut r, 0, GICC_BPR), 5);
}

#[test]
fn level_spi_acknowledge_and_eoi() {
    let mut r = ready(2);
    spi(&mut r, 5, 0xa0, 0x01);
    r.gic.set_spi(5, true);
    assert_eq!(r.outputs(), [(true, false), (false, false)]);
    assert_eq!(r.gicd(GICD_ISPENDR + 4), 1 << 5);
    assert_eq!(gicc(&mut r, 0, GICC_HPPIR), 37);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 37);
    // Active and, the line being high, still pending; not signalled again.
    assert_eq!(r.gicd(GICD_ISACTIVER + 4), 1 << 5);
    assert_eq!(r.gicd(GICD_ISPENDR + 4), 1 << 5);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0xa0);
    assert_eq!(gicc(&mut r, 0, GICC_APR0), 1 << (0xa0 >> 3));
    assert!(!r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_IAR), SPURIOUS);
    gicc_eoi(&mut r, 0, 37);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0xff);
    assert_eq!(gicc(&mut r, 0, GICC_APR0), 0);
    assert_eq!(r.gicd(GICD_ISACTIVER + 4), 0);
    // Line still high: pending again at once.
    assert!(r.irq(0));
    r.gic.set_spi(5, false);
    assert!(!r.irq(0));
    assert_eq!(r.gicd(GICD_ISPENDR + 4), 0);
    // Disabled interrupts are not signalled.
    r.set_gicd(GICD_ICENABLER + 4, 1 << 5);
    assert_eq!(r.gicd(GICD_ISENABLER + 4), 0);
    r.gic.set_spi(5, true);
    assert!(!r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_HPPIR), SPURIOUS);
}

fn gicc_eoi(r: &mut Rig, cpu: usize, v: u32) {
    set_gicc(r, cpu, GICC_EOIR, v);
}

#[test]
fn edge_spi_latches_rising_edges() {
    let mut r = ready(1);
    spi(&mut r, 7, 0x80, 0x01);
    edge(&mut r, 7);
    // INTID 39 is field 7 of ICFGR2.
    assert_eq!(r.gicd(GICD_ICFGR + 8), 2 << 14);
    r.gic.set_spi(7, true);
    r.gic.set_spi(7, false);
    assert!(r.irq(0));
    assert_eq!(r.gicd(GICD_ISPENDR + 4), 1 << 7);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 39);
    // Acknowledging clears the latched pending state.
    assert_eq!(r.gicd(GICD_ISPENDR + 4), 0);
    // A new edge while active: active and pending.
    r.gic.set_spi(7, true);
    assert_eq!(r.gicd(GICD_ISPENDR + 4), 1 << 7);
    assert_eq!(r.gicd(GICD_ISACTIVER + 4), 1 << 7);
    assert!(!r.irq(0));
    // Holding the line high makes no further edges.
    r.gic.set_spi(7, true);
    gicc_eoi(&mut r, 0, 39);
    assert!(r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 39);
    gicc_eoi(&mut r, 0, 39);
    assert!(!r.irq(0));
    assert_eq!(r.gicd(GICD_ISPENDR + 4), 0);
}

#[test]
fn software_pending_and_active() {
    let mut r = ready(1);
    spi(&mut r, 0, 0x40, 0x01);
    // Level interrupt with its line low, made pending by ISPENDR.
    r.set_gicd(GICD_ISPENDR + 4, 1);
    assert!(r.irq(0));
    r.set_gicd(GICD_ICPENDR + 4, 1);
    assert!(!r.irq(0));
    r.set_gicd(GICD_ISPENDR + 4, 1);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 32);
    // The latch went with the acknowledge.
    assert_eq!(r.gicd(GICD_ISPENDR + 4), 0);
    gicc_eoi(&mut r, 0, 32);
    assert!(!r.irq(0));
    // ISACTIVER/ICACTIVER set and clear the active state only.
    r.set_gicd(GICD_ISACTIVER + 4, 1);
    r.set_gicd(GICD_ISPENDR + 4, 1);
    assert_eq!(r.gicd(GICD_ICACTIVER + 4), 1);
    assert!(!r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0xff);
    r.set_gicd(GICD_ICACTIVER + 4, 1);
    assert!(r.irq(0));
}

#[test]
fn preemption_by_priority() {
    let mut r = ready(1);
    spi(&mut r, 0, 0x80, 1);
    spi(&mut r, 1, 0x40, 1);
    spi(&mut r, 2, 0x80, 1);
    r.gic.set_spi(0, true);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 32);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0x80);
    // Equal priority does not preempt.
    r.gic.set_spi(2, true);
    assert!(!r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_HPPIR), 34);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), SPURIOUS);
    // Higher priority (lower value) does.
    r.gic.set_spi(1, true);
    assert!(r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_HPPIR), 33);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 33);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0x40);
    // One active-priority bit per group priority: 0x40 >> 3, 0x80 >> 3.
    assert_eq!(gicc(&mut r, 0, GICC_APR0), (1 << 8) | (1 << 16));
    assert!(!r.irq(0));
    r.gic.set_spi(1, false);
    gicc_eoi(&mut r, 0, 33);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0x80);
    assert!(!r.irq(0));
    r.gic.set_spi(0, false);
    gicc_eoi(&mut r, 0, 32);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0xff);
    assert!(r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 34);
}

#[test]
fn binary_point_groups_priorities() {
    // BPR = 4: group priority is bits [7:5].
    let mut r = ready(1);
    set_gicc(&mut r, 0, GICC_BPR, 4);
    spi(&mut r, 0, 0xa8, 1);
    spi(&mut r, 1, 0xa0, 1);
    spi(&mut r, 2, 0x98, 1);
    r.gic.set_spi(0, true);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 32);
    // Running priority is the group priority 0xA0.
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0xa0);
    assert_eq!(gicc(&mut r, 0, GICC_APR0), 1 << (0xa0 >> 3));
    // 0xA0 has the same group priority: no preemption.
    r.gic.set_spi(1, true);
    assert!(!r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_IAR), SPURIOUS);
    // 0x98 is in group priority 0x80: preempts.
    r.gic.set_spi(2, true);
    assert!(r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 34);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0x80);

    // BPR = 2: all five bits are group priority, so 0xA0 preempts 0xA8.
    let mut r = ready(1);
    spi(&mut r, 0, 0xa8, 1);
    spi(&mut r, 1, 0xa0, 1);
    r.gic.set_spi(0, true);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 32);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0xa8);
    r.gic.set_spi(1, true);
    assert!(r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 33);
}

#[test]
fn pmr_masks_equal_and_lower_priorities() {
    let mut r = ready(1);
    spi(&mut r, 3, 0x80, 1);
    set_gicc(&mut r, 0, GICC_PMR, 0x80);
    r.gic.set_spi(3, true);
    assert!(!r.irq(0));
    // HPPIR ignores the mask, IAR does not.
    assert_eq!(gicc(&mut r, 0, GICC_HPPIR), 35);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), SPURIOUS);
    set_gicc(&mut r, 0, GICC_PMR, 0x88);
    assert!(r.irq(0));
    set_gicc(&mut r, 0, GICC_PMR, 0);
    assert!(!r.irq(0));
}

#[test]
fn enables_gate_signalling() {
    let mut r = ready(1);
    spi(&mut r, 0, 0x10, 1);
    r.gic.set_spi(0, true);
    assert!(r.irq(0));
    r.set_gicd(GICD_CTLR, 0);
    assert!(!r.irq(0));
    assert_eq!(gicc(&mut r, 0, GICC_IAR), SPURIOUS);
    r.set_gicd(GICD_CTLR, 1);
    set_gicc(&mut r, 0, GICC_CTLR, 0);
    assert!(!r.irq(0));
    set_gicc(&mut r, 0, GICC_CTLR, 1);
    assert!(r.irq(0));
}

#[test]
fn groups_and_fiq() {
    let mut r = ready(1);
    spi(&mut r, 0, 0x40, 1);
    spi(&mut r, 1, 0x20, 1);
    // SPI 1 (INTID 33) in Group 1.
    r.set_gicd(GICD_IGROUPR + 4, 1 << 1);
    assert_eq!(r.gicd(GICD_IGROUPR + 4), 2);
    r.gic.set_spi(1, true);
    // Group 1 disabled in the distributor (CTLR = EnableGrp0 only).
    assert_eq!(r.outputs(), [(false, false)]);
    r.set_gicd(GICD_CTLR, 3);
    assert_eq!(r.outputs(), [(false, false)]);
    // And at the CPU interface.
    set_gicc(&mut r, 0, GICC_CTLR, 3);
    assert_eq!(r.outputs(), [(true, false)]);
    assert_eq!(gicc(&mut r, 0, GICC_AHPPIR), 33);
    // Group 0 with FIQEn goes to FIQ; Group 1 stays IRQ.
    r.gic.set_spi(1, false);
    r.gic.set_spi(0, true);
    assert_eq!(r.outputs(), [(true, false)]);
    set_gicc(&mut r, 0, GICC_CTLR, 3 | 1 << 3);
    assert_eq!(gicc(&mut r, 0, GICC_CTLR), 0xb);
    assert_eq!(r.outputs(), [(false, true)]);
    // The aliased registers only see Group 1.
    assert_eq!(gicc(&mut r, 0, GICC_AHPPIR), SPURIOUS);
    assert_eq!(gicc(&mut r, 0, GICC_AIAR), SPURIOUS);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 32);
    assert_eq!(r.outputs(), [(false, false)]);
    // A Group 1 interrupt of higher priority preempts, through AIAR,
    // with ABPR (min 3: group priority [7:3]) as its binary point.
    r.gic.set_spi(1, true);
    assert_eq!(r.outputs(), [(true, false)]);
    assert_eq!(gicc(&mut r, 0, GICC_AIAR), 33);
    assert_eq!(gicc(&mut r, 0, 0xe0), 1 << (0x20 >> 3));
    set_gicc(&mut r, 0, GICC_AEOIR, 33);
    assert_eq!(gicc(&mut r, 0, 0xe0), 0);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0x40);
}

#[test]
fn sgi_target_filters_and_sources() {
    let mut r = ready(4);
    for c in 0..4 {
        // Banked: each core enables its own SGIs.
        r.write(c, DIST, GICD_ISENABLER, 4, 0xffff);
        assert_eq!(r.read(c, DIST, GICD_ISENABLER, 4), 0xffff);
    }
    // Core 1 sends SGI 3 to the list {0, 2}.
    r.write(1, DIST, GICD_SGIR, 4, 0b0101 << 16 | 3);
    assert_eq!(
        r.outputs().iter().map(|o| o.0).collect::<Vec<_>>(),
        [true, false, true, false]
    );
    // IAR bits [12:10] carry the source core.
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 1 << 10 | 3);
    assert_eq!(gicc(&mut r, 2, GICC_IAR), 1 << 10 | 3);
    set_gicc(&mut r, 0, GICC_EOIR, 1 << 10 | 3);
    set_gicc(&mut r, 2, GICC_EOIR, 1 << 10 | 3);
    assert_eq!(r.outputs(), vec![(false, false); 4]);
    // Filter 1: everyone but the sender.
    r.write(2, DIST, GICD_SGIR, 4, 1 << 24 | 0xff << 16 | 4);
    assert_eq!(
        r.outputs().iter().map(|o| o.0).collect::<Vec<_>>(),
        [true, true, false, true]
    );
    for c in [0, 1, 3] {
        assert_eq!(gicc(&mut r, c, GICC_IAR), 2 << 10 | 4);
        set_gicc(&mut r, c, GICC_EOIR, 2 << 10 | 4);
    }
    // Filter 2: the sender only.
    r.write(3, DIST, GICD_SGIR, 4, 2 << 24 | 0x1 << 16 | 5);
    assert_eq!(
        r.outputs().iter().map(|o| o.0).collect::<Vec<_>>(),
        [false, false, false, true]
    );
    assert_eq!(gicc(&mut r, 3, GICC_IAR), 3 << 10 | 5);
    set_gicc(&mut r, 3, GICC_EOIR, 3 << 10 | 5);
    // Filter 3 is reserved: nothing happens.
    r.write(0, DIST, GICD_SGIR, 4, 3 << 24 | 0xf << 16 | 6);
    assert_eq!(r.outputs(), vec![(false, false); 4]);

    // Pending state per source: cores 1 and 2 both send SGI 7 to core 0.
    r.write(1, DIST, GICD_SGIR, 4, 1 << 16 | 7);
    r.write(2, DIST, GICD_SGIR, 4, 1 << 16 | 7);
    // SPENDSGIR1 byte 3 is SGI 7: source bits 1 and 2.
    assert_eq!(r.gicd(GICD_SPENDSGIR + 4), 0b0110 << 24);
    assert_eq!(r.gicd(GICD_CPENDSGIR + 4), 0b0110 << 24);
    assert_eq!(r.read(0, DIST, GICD_SPENDSGIR + 7, 1), 0b0110);
    assert_eq!(gicc(&mut r, 0, GICC_HPPIR), 1 << 10 | 7);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 1 << 10 | 7);
    // Source 2's request is still pending while source 1's is active.
    assert_eq!(r.gicd(GICD_SPENDSGIR + 4), 0b0100 << 24);
    assert_eq!(r.gicd(GICD_ISPENDR) & 0xffff, 1 << 7);
    set_gicc(&mut r, 0, GICC_EOIR, 1 << 10 | 7);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 2 << 10 | 7);
    set_gicc(&mut r, 0, GICC_EOIR, 2 << 10 | 7);
    assert_eq!(r.gicd(GICD_ISPENDR) & 0xffff, 0);
    // SPENDSGIR/CPENDSGIR set and clear source bits; ISPENDR0/ICPENDR0
    // ignore SGI bits.
    r.write(0, DIST, GICD_SPENDSGIR + 2, 1, 0b1000);
    assert!(r.irq(0));
    assert_eq!(r.gicd(GICD_ISPENDR) & 0xffff, 1 << 2);
    r.set_gicd(GICD_ICPENDR, 1 << 2);
    assert!(r.irq(0));
    r.write(0, DIST, GICD_CPENDSGIR + 2, 1, 0b1000);
    assert!(!r.irq(0));
    r.set_gicd(GICD_ISPENDR, 1 << 9);
    assert_eq!(r.gicd(GICD_ISPENDR), 0);
}

#[test]
fn spi_routing_by_itargetsr() {
    let mut r = ready(2);
    spi(&mut r, 10, 0x50, 0x02);
    assert_eq!(r.read(0, DIST, GICD_ITARGETSR + 42, 1), 0x02);
    r.gic.set_spi(10, true);
    assert_eq!(r.outputs(), [(false, false), (true, false)]);
    // Bits for CPU interfaces that do not exist are RAZ/WI.
    r.write(0, DIST, GICD_ITARGETSR + 42, 1, 0xff);
    assert_eq!(r.read(0, DIST, GICD_ITARGETSR + 42, 1), 0x03);
    assert_eq!(r.outputs(), [(true, false), (true, false)]);
    // The first core to acknowledge wins; the other sees it active.
    assert_eq!(gicc(&mut r, 1, GICC_IAR), 42);
    assert_eq!(r.outputs(), [(false, false), (false, false)]);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), SPURIOUS);
    r.gic.set_spi(10, false);
    set_gicc(&mut r, 1, GICC_EOIR, 42);
    r.write(0, DIST, GICD_ITARGETSR + 42, 1, 0);
    r.gic.set_spi(10, true);
    assert_eq!(r.outputs(), [(false, false), (false, false)]);
}

#[test]
fn ppis_are_banked() {
    let mut r = ready(2);
    // Core 1 enables PPI 30 with priority 0x60 through its banked view.
    r.write(1, DIST, GICD_ISENABLER, 4, 1 << 30);
    r.write(1, DIST, GICD_IPRIORITYR + 30, 1, 0x60);
    assert_eq!(r.read(0, DIST, GICD_ISENABLER, 4), 0);
    assert_eq!(r.read(0, DIST, GICD_IPRIORITYR + 30, 1), 0);
    r.gic.set_ppi(0, 30, true);
    assert_eq!(r.outputs(), [(false, false), (false, false)]);
    r.gic.set_ppi(1, 30, true);
    assert_eq!(r.outputs(), [(false, false), (true, false)]);
    assert_eq!(r.read(1, DIST, GICD_ISPENDR, 4), 1 << 30);
    assert_eq!(r.read(0, DIST, GICD_ISPENDR, 4), 1 << 30);
    assert_eq!(gicc(&mut r, 1, GICC_IAR), 30);
    // Out-of-range inputs are ignored.
    r.gic.set_ppi(2, 30, true);
    r.gic.set_ppi(0, 15, true);
    r.gic.set_spi(64, true);
    assert_eq!(r.read(0, DIST, GICD_ISPENDR, 4), 1 << 30);
}

#[test]
fn eoimode_splits_priority_drop_and_deactivation() {
    let mut r = ready(1);
    // EOImodeS (bit 9) with Group 0 enabled.
    set_gicc(&mut r, 0, GICC_CTLR, 1 | 1 << 9);
    assert_eq!(gicc(&mut r, 0, GICC_CTLR), 0x201);
    spi(&mut r, 4, 0x30, 1);
    r.gic.set_spi(4, true);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 36);
    gicc_eoi(&mut r, 0, 36);
    // Priority dropped, still active, hence not signalled again.
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0xff);
    assert_eq!(r.gicd(GICD_ISACTIVER + 4), 1 << 4);
    assert!(!r.irq(0));
    set_gicc(&mut r, 0, GICC_DIR, 36);
    assert_eq!(r.gicd(GICD_ISACTIVER + 4), 0);
    assert!(r.irq(0));
    // With EOImode clear, EOIR does both.
    set_gicc(&mut r, 0, GICC_CTLR, 1);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 36);
    r.gic.set_spi(4, false);
    gicc_eoi(&mut r, 0, 36);
    assert_eq!(r.gicd(GICD_ISACTIVER + 4), 0);
    // Special INTIDs written to EOIR do nothing.
    r.set_gicd(GICD_ISPENDR + 4, 1 << 4);
    assert_eq!(gicc(&mut r, 0, GICC_IAR), 36);
    gicc_eoi(&mut r, 0, SPURIOUS);
    assert_eq!(gicc(&mut r, 0, GICC_RPR), 0x30);
}

#[test]
fn bad_accesses_are_raz_wi_and_debug_reads_do_not_acknowledge() {
    let mut r = ready(1);
    spi(&mut r, 0, 0x10, 1);
    r.gic.set_spi(0, true);
    // Halfword, doubleword and misaligned accesses; reserved offsets.
    assert_eq!(r.read(0, DIST, GICD_CTLR, 2), 0);
    assert_eq!(r.read(0, DIST, GICD_TYPER, 8), 0);
    assert_eq!(r.read(0, DIST, GICD_ISENABLER + 1, 4), 0);
    assert_eq!(r.read(0, DIST, 0x0f80, 4), 0);
    assert_eq!(r.read(0, DIST, 0x8000, 4), 0);
    assert_eq!(r.read(0, CPU, GICC_IAR, 8), 0);
    assert_eq!(r.read(0, CPU, 0x40, 4), 0);
    r.write(0, DIST, GICD_CTLR, 2, 0);
    r.write(0, CPU, GICC_CTLR, 1, 0);
    r.write(0, DIST, 0x0f80, 4, 0xffff_ffff);
    r.write(0, DIST, GICD_SGIR, 1, 0xff);
    // Accesses from a core the GIC does not know.
    assert_eq!(r.read(5, DIST, GICD_CTLR, 4), 0);
    r.write(5, CPU, GICC_CTLR, 4, 0);
    assert!(r.irq(0));
    let dbg = AccessInfo {
        cpu: 0,
        region: CPU,
        offset: GICC_IAR,
        size: 4,
        debug: true,
    };
    assert_eq!(r.gic.mmio_read(dbg), 32);
    assert_eq!(r.gic.mmio_read(dbg), 32);
    assert_eq!(r.gicd(GICD_ISACTIVER + 4), 0);
    // Write-only registers read as zero.
    assert_eq!(gicc(&mut r, 0, GICC_EOIR), 0);
    assert_eq!(r.gicd(GICD_SGIR), 0);
}

#[test]
fn device_tree_node_and_windows() {
    let r = Rig::new(GicVersion::V2, &[0, 1]);
    let n = r.gic.dt_node();
    assert_eq!(n.name, "interrupt-controller@8000000");
    assert_eq!(n.label.as_deref(), Some("gic"));
    assert_eq!(
        n.get("compatible"),
        Some(&PropValue::Strings(vec!["arm,gic-400".into()]))
    );
    assert_eq!(n.get("#interrupt-cells"), Some(&PropValue::Cells(vec![3])));
    assert_eq!(n.get("interrupt-controller"), Some(&PropValue::Empty));
    assert_eq!(
        n.get("reg"),
        Some(&PropValue::Cells(vec![
            0,
            0x0800_0000,
            0,
            0x1_0000,
            0,
            0x0801_0000,
            0,
            0x1_0000
        ]))
    );
    assert_eq!(
        n.get("#address-cells"),
        Some(&PropValue::Cells(vec![0])),
        "no interrupt-map users"
    );
    assert_eq!(n.get("interrupts"), None);
    assert!(n.children.is_empty());
    assert_eq!(
        r.gic.regions(),
        [
            MmioRegion {
                base: 0x0800_0000,
                size: 0x1_0000
            },
            MmioRegion {
                base: 0x0801_0000,
                size: 0x1_0000
            }
        ]
    );
}

#[test]
fn config_is_validated() {
    let cpu = |a| GicCpuConfig {
        affinity: a,
        lines: Default::default(),
    };
    let err = |cfg| Gic::new(cfg).unwrap_err();
    assert_eq!(err(GicConfig::virt(GicVersion::V2, vec![])), GicConfigError::NoCpus);
    assert_eq!(
        err(GicConfig::virt(GicVersion::V2, (0..9).map(cpu).collect())),
        GicConfigError::TooManyCpus(9)
    );
    let mut c = GicConfig::virt(GicVersion::V2, vec![cpu(0)]);
    c.num_spis = 40;
    assert_eq!(err(c.clone()), GicConfigError::BadSpiCount(40));
    c.num_spis = 992;
    assert_eq!(err(c.clone()), GicConfigError::BadSpiCount(992));
    c.num_spis = 0;
    c.cpu_size = 0x1000;
    assert_eq!(err(c.clone()), GicConfigError::CpuWindowTooSmall(0x1000));
    c.cpu_size = 0x2000;
    let g = Gic::new(c).unwrap();
    assert_eq!(g.num_spis(), 0);
    assert_eq!(
        err(GicConfig::virt(GicVersion::V3, vec![cpu(0x100), cpu(1 << 31 | 0x100)])),
        GicConfigError::DuplicateAffinity(0, 1)
    );
}

#[test]
fn on_the_bus_through_shared_handles() {
    use crate::bus::SystemBus;
    use crate::ram::GuestRam;
    use cpu_aarch64::bus::{AccessKind, Bus, PhysAddr, Requester};

    let lines = [IrqLines::new(), IrqLines::new()];
    let cpus = (0..2)
        .map(|i| GicCpuConfig {
            affinity: i as u64,
            lines: lines[i].clone(),
        })
        .collect();
    let gic: Arc<Mutex<Gic>> = Gic::shared(GicConfig::virt(GicVersion::V2, cpus)).unwrap();
    let ctrl: SharedInterruptController = gic.clone();
    let uart_irq = IrqLine::spi(ctrl, 1);
    let mut bus = SystemBus::new(GuestRam::with_region("dram", 0x4000_0000, 0x1000).unwrap());
    let mmio = GicMmio::new(gic.clone());
    assert_eq!(mmio.name(), "gic");
    assert_eq!(mmio.dt_node().unwrap().name, "interrupt-controller@8000000");
    bus.add_device(Box::new(mmio)).unwrap();
    let req = |cpu| Requester {
        cpu,
        kind: AccessKind::Data,
    };
    bus.write(req(0), PhysAddr(0x0800_0000), 4, 1).unwrap();
    bus.write(req(1), PhysAddr(0x0801_0000), 4, 1).unwrap();
    bus.write(req(1), PhysAddr(0x0801_0004), 4, 0xff).unwrap();
    bus.write(req(0), PhysAddr(0x0800_0104), 4, 1 << 1).unwrap();
    bus.write(req(0), PhysAddr(0x0800_0821), 1, 0x02).unwrap();
    uart_irq.raise();
    assert_eq!(lines[1].get(), cpu_aarch64::irq::IRQ);
    assert_eq!(lines[0].get(), 0);
    assert_eq!(bus.read(req(1), PhysAddr(0x0801_000c), 4).unwrap(), 33);
    assert_eq!(lines[1].get(), 0);
    // The bus forwards nothing to a v2 GIC's (absent) system registers.
    let sre = cpu_aarch64::sem::SysRegId::new(3, 0, 12, 12, 5);
    assert_eq!(bus.gic_sysreg_read(0, sre, 1), None);
    bus.set_gic_sysregs(gic.clone());
    assert_eq!(bus.gic_sysreg_read(0, sre, 1), None);
    assert!(!bus.gic_sysreg_write(0, sre, 1, 0));
    // The machine still reaches the GIC directly.
    gic.lock().unwrap().set_spi(1, false);
    assert_eq!(gic.lock().unwrap().num_cpus(), 2);
}

/// GICv2 through its MMIO device: an SGI pending from two sources, an
/// edge SPI latched and one interrupt active survive a save and restore
/// into a fresh GIC, which then acknowledges in the same order.
#[test]
fn state_survives_a_snapshot_round_trip() {
    use crate::snapshot::{StateReader, StateWriter};
    let mut a = ready(2);
    spi(&mut a, 5, 0x40, 0b01);
    edge(&mut a, 5);
    spi(&mut a, 6, 0x20, 0b11);
    a.write(0, DIST, GICD_ISENABLER, 4, 0xffff);
    a.gic.set_spi(5, true);
    a.gic.set_spi(5, false);
    a.gic.set_spi(6, true);
    // SGI 3 to core 0 from cores 0 and 1.
    a.set_gicd(GICD_SGIR, 1 << 16 | 3);
    a.write(1, DIST, GICD_SGIR, 4, 1 << 16 | 3);
    let first = gicc(&mut a, 0, GICC_IAR);
    assert_ne!(first & 0x3ff, SPURIOUS);
    let mut w = StateWriter::new();
    a.gic.save_state(&mut w);
    let bytes = w.into_bytes();

    let mut b = Rig::new(GicVersion::V2, &[0, 1]);
    let mut rd = StateReader::new("gic", &bytes);
    b.gic.restore_state(&mut rd).unwrap();
    rd.finish().unwrap();
    assert_eq!(b.outputs(), a.outputs());
    for off in [GICC_RPR, GICC_HPPIR, GICC_PMR, GICC_CTLR] {
        assert_eq!(gicc(&mut b, 0, off), gicc(&mut a, 0, off), "GICC {off:#x}");
    }
    set_gicc(&mut a, 0, GICC_EOIR, first);
    set_gicc(&mut b, 0, GICC_EOIR, first);
    // The other SGI source, the level SPI and the latched edge SPI, in
    // the same order on both.
    for _ in 0..3 {
        let (x, y) = (gicc(&mut a, 0, GICC_IAR), gicc(&mut b, 0, GICC_IAR));
        assert_eq!(x, y);
        set_gicc(&mut a, 0, GICC_EOIR, x);
        set_gicc(&mut b, 0, GICC_EOIR, y);
    }
    // SPI 6's input is still high (level): pending again on both.
    assert_eq!(gicc(&mut b, 0, GICC_HPPIR), 32 + 6);
    assert_eq!(gicc(&mut a, 0, GICC_HPPIR), 32 + 6);
    let mut w = StateWriter::new();
    b.gic.save_state(&mut w);
    let mut w2 = StateWriter::new();
    a.gic.save_state(&mut w2);
    assert_eq!(w.into_bytes(), w2.into_bytes());
}
