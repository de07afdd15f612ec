//! GICv3 tests. Offsets, encodings and values come from IHI 0069 (GICv3)
//! and the Arm ARM's ICC_* register descriptions, not from the
//! implementation.

use cpu_aarch64::sem::SysRegId;

use super::test_util::{Rig, CPU, DIST};
use super::{Gic, GicConfig, GicCpuConfig, GicVersion};
use crate::dt::PropValue;
use crate::irq::{CpuInterfaceRegs, InterruptController};

const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_IIDR: u64 = 0x0008;
const GICD_ISENABLER: u64 = 0x0100;
const GICD_ISPENDR: u64 = 0x0200;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_ICFGR: u64 = 0x0c00;
const GICD_IROUTER: u64 = 0x6000;
const GICD_PIDR2: u64 = 0xffe8;

const RD: u64 = 0x2_0000;
const GICR_CTLR: u64 = 0x0000;
const GICR_IIDR: u64 = 0x0004;
const GICR_TYPER: u64 = 0x0008;
const GICR_WAKER: u64 = 0x0014;
const GICR_PIDR2: u64 = 0xffe8;
const SGI: u64 = 0x1_0000;
const GICR_IGROUPR0: u64 = SGI + 0x0080;
const GICR_ISENABLER0: u64 = SGI + 0x0100;
const GICR_ICENABLER0: u64 = SGI + 0x0180;
const GICR_ISPENDR0: u64 = SGI + 0x0200;
const GICR_ICPENDR0: u64 = SGI + 0x0280;
const GICR_ISACTIVER0: u64 = SGI + 0x0300;
const GICR_ICACTIVER0: u64 = SGI + 0x0380;
const GICR_IPRIORITYR: u64 = SGI + 0x0400;
const GICR_ICFGR0: u64 = SGI + 0x0c00;
const GICR_ICFGR1: u64 = SGI + 0x0c04;

const ICC_PMR_EL1: SysRegId = SysRegId::new(3, 0, 4, 6, 0);
const ICC_IAR0_EL1: SysRegId = SysRegId::new(3, 0, 12, 8, 0);
const ICC_EOIR0_EL1: SysRegId = SysRegId::new(3, 0, 12, 8, 1);
const ICC_HPPIR0_EL1: SysRegId = SysRegId::new(3, 0, 12, 8, 2);
const ICC_BPR0_EL1: SysRegId = SysRegId::new(3, 0, 12, 8, 3);
const ICC_AP0R0_EL1: SysRegId = SysRegId::new(3, 0, 12, 8, 4);
const ICC_AP1R0_EL1: SysRegId = SysRegId::new(3, 0, 12, 9, 0);
const ICC_AP1R1_EL1: SysRegId = SysRegId::new(3, 0, 12, 9, 1);
const ICC_DIR_EL1: SysRegId = SysRegId::new(3, 0, 12, 11, 1);
const ICC_RPR_EL1: SysRegId = SysRegId::new(3, 0, 12, 11, 3);
const ICC_SGI1R_EL1: SysRegId = SysRegId::new(3, 0, 12, 11, 5);
const ICC_ASGI1R_EL1: SysRegId = SysRegId::new(3, 0, 12, 11, 6);
const ICC_SGI0R_EL1: SysRegId = SysRegId::new(3, 0, 12, 11, 7);
const ICC_IAR1_EL1: SysRegId = SysRegId::new(3, 0, 12, 12, 0);
const ICC_EOIR1_EL1: SysRegId = SysRegId::new(3, 0, 12, 12, 1);
const ICC_HPPIR1_EL1: SysRegId = SysRegId::new(3, 0, 12, 12, 2);
const ICC_BPR1_EL1: SysRegId = SysRegId::new(3, 0, 12, 12, 3);
const ICC_CTLR_EL1: SysRegId = SysRegId::new(3, 0, 12, 12, 4);
const ICC_SRE_EL1: SysRegId = SysRegId::new(3, 0, 12, 12, 5);
const ICC_IGRPEN0_EL1: SysRegId = SysRegId::new(3, 0, 12, 12, 6);
const ICC_IGRPEN1_EL1: SysRegId = SysRegId::new(3, 0, 12, 12, 7);
const ICC_SRE_EL2: SysRegId = SysRegId::new(3, 4, 12, 9, 5);
const ICH_HCR_EL2: SysRegId = SysRegId::new(3, 4, 12, 11, 0);
const ICC_SRE_EL3: SysRegId = SysRegId::new(3, 6, 12, 12, 5);
const ICC_IGRPEN1_EL3: SysRegId = SysRegId::new(3, 6, 12, 12, 7);

const SPURIOUS: u64 = 1023;

/// Core affinities: 0.0.0.0, 0.0.0.1, 0.0.1.0, 1.0.0.0 (Aff3.Aff2.Aff1.Aff0).
const AFFS: [u64; 4] = [0, 1, 0x100, 1 << 32];

fn icc(r: &mut Rig, cpu: usize, id: SysRegId) -> u64 {
    r.gic.sysreg_read(cpu, id, 1).expect("implemented ICC register")
}

fn set_icc(r: &mut Rig, cpu: usize, id: SysRegId, v: u64) {
    assert!(r.gic.sysreg_write(cpu, id, 1, v), "implemented ICC register");
}

fn gicr(r: &mut Rig, cpu: usize, off: u64) -> u32 {
    r.read(0, CPU, cpu as u64 * RD + off, 4) as u32
}

fn set_gicr(r: &mut Rig, cpu: usize, off: u64, v: u32) {
    r.write(0, CPU, cpu as u64 * RD + off, 4, u64::from(v))
}

/// Four cores awake, both groups enabled in the distributor, SGIs and PPIs
/// in Group 1, Group 1 enabled at each CPU interface, PMR 0xF0.
fn ready() -> Rig {
    let mut r = Rig::new(GicVersion::V3, &AFFS);
    r.set_gicd(GICD_CTLR, 3);
    for c in 0..AFFS.len() {
        set_gicr(&mut r, c, GICR_WAKER, 0);
        set_gicr(&mut r, c, GICR_IGROUPR0, u32::MAX);
        set_gicr(&mut r, c, GICR_ISENABLER0, 0xffff);
        set_icc(&mut r, c, ICC_PMR_EL1, 0xf0);
        set_icc(&mut r, c, ICC_IGRPEN1_EL1, 1);
    }
    r
}

/// Enables SPI `spi` in Group 1 with `priority` and IROUTER `route`.
fn spi(r: &mut Rig, spi: u32, priority: u8, route: u64) {
    let id = u64::from(32 + spi);
    let grp = r.gicd(0x80 + id / 32 * 4) | 1 << (id % 32);
    r.set_gicd(0x80 + id / 32 * 4, grp);
    r.set_gicd(GICD_ISENABLER + id / 32 * 4, 1 << (id % 32));
    r.write(0, DIST, GICD_IPRIORITYR + id, 1, u64::from(priority));
    r.write(0, DIST, GICD_IROUTER + 8 * id, 8, route);
}

/// Enables PPI/SGI `intid` of `cpu` with `priority`.
fn private(r: &mut Rig, cpu: usize, intid: u32, priority: u8) {
    set_gicr(r, cpu, GICR_ISENABLER0, 1 << intid);
    r.write(
        0,
        CPU,
        cpu as u64 * RD + GICR_IPRIORITYR + u64::from(intid),
        1,
        u64::from(priority),
    );
}

fn irqs(r: &Rig) -> Vec<bool> {
    r.outputs().iter().map(|o| o.0).collect()
}

#[test]
fn identification_and_type_registers() {
    let mut r = Rig::new(GicVersion::V3, &AFFS);
    // ITLinesNumber 2 (96 INTIDs), IDbits 9 (bits [23:19]), A3V (bit 24);
    // CPUNumber, SecurityExtn, MBIS, LPIS, No1N, RSS all 0.
    assert_eq!(r.gicd(GICD_TYPER), 0x0148_0002);
    assert_eq!(r.gicd(GICD_TYPER) & (1 << 17), 0);
    assert_eq!(r.gicd(GICD_IIDR), 0x0000_043b);
    // PIDR2.ArchRev = 3 in the distributor and every redistributor.
    assert_eq!(r.gicd(GICD_PIDR2), 0x3b);
    for c in 0..4 {
        assert_eq!(gicr(&mut r, c, GICR_PIDR2) >> 4 & 0xf, 3);
        assert_eq!(gicr(&mut r, c, GICR_IIDR), 0x0000_043b);
        assert_eq!(gicr(&mut r, c, GICR_CTLR), 0);
    }
    // GICR_TYPER: Affinity_Value [63:32] = Aff3.Aff2.Aff1.Aff0,
    // Processor_Number [23:8], Last [4]; PLPIS, VLPIS, DirectLPI = 0.
    let typer: Vec<u64> = (0..4).map(|c| r.read(0, CPU, c * RD + GICR_TYPER, 8)).collect();
    assert_eq!(
        typer,
        [0, 0x0000_0001_0000_0100, 0x0000_0100_0000_0200, 0x0100_0000_0000_0310]
    );
    assert_eq!(gicr(&mut r, 3, GICR_TYPER), 0x310);
    assert_eq!(gicr(&mut r, 3, GICR_TYPER + 4), 0x0100_0000);
    // GICD_CTLR: ARE and DS read as one; RWP and E1NWF as zero.
    assert_eq!(r.gicd(GICD_CTLR), 0x50);
    r.set_gicd(GICD_CTLR, u32::MAX);
    assert_eq!(r.gicd(GICD_CTLR), 0x53);
    r.set_gicd(GICD_CTLR, 0);
    assert_eq!(r.gicd(GICD_CTLR), 0x50);

    let mut r = Rig::with_spis(GicVersion::V3, &[0], 960);
    assert_eq!(r.gicd(GICD_TYPER), 0x0148_001e);
    assert_eq!(r.read(0, CPU, GICR_TYPER, 8), 0x10);
}

#[test]
fn waker_handshake_gates_delivery() {
    let mut r = Rig::new(GicVersion::V3, &[0, 1]);
    // Reset: ProcessorSleep and ChildrenAsleep set.
    assert_eq!(gicr(&mut r, 0, GICR_WAKER), 0b110);
    r.set_gicd(GICD_CTLR, 2);
    set_gicr(&mut r, 0, GICR_IGROUPR0, u32::MAX);
    private(&mut r, 0, 30, 0x80);
    set_icc(&mut r, 0, ICC_PMR_EL1, 0xff);
    set_icc(&mut r, 0, ICC_IGRPEN1_EL1, 1);
    r.gic.set_ppi(0, 30, true);
    assert!(!r.irq(0));
    set_gicr(&mut r, 0, GICR_WAKER, 0);
    assert_eq!(gicr(&mut r, 0, GICR_WAKER), 0);
    assert_eq!(gicr(&mut r, 1, GICR_WAKER), 0b110);
    assert!(r.irq(0));
    set_gicr(&mut r, 0, GICR_WAKER, 0b010);
    assert_eq!(gicr(&mut r, 0, GICR_WAKER), 0b110);
    assert!(!r.irq(0));
}

#[test]
fn timer_ppi_level_flow_through_sysregs() {
    let mut r = ready();
    private(&mut r, 1, 30, 0xa0);
    r.gic.set_ppi(1, 30, true);
    assert_eq!(
        r.outputs(),
        [(false, false), (true, false), (false, false), (false, false)]
    );
    assert_eq!(gicr(&mut r, 1, GICR_ISPENDR0), 1 << 30);
    assert_eq!(icc(&mut r, 1, ICC_HPPIR1_EL1), 30);
    assert_eq!(icc(&mut r, 1, ICC_HPPIR0_EL1), SPURIOUS);
    // A Group 1 interrupt is not acknowledged through IAR0.
    assert_eq!(icc(&mut r, 1, ICC_IAR0_EL1), SPURIOUS);
    assert_eq!(icc(&mut r, 1, ICC_IAR1_EL1), 30);
    assert_eq!(icc(&mut r, 1, ICC_RPR_EL1), 0xa0);
    assert_eq!(icc(&mut r, 1, ICC_AP1R0_EL1), 1 << (0xa0 >> 3));
    assert_eq!(gicr(&mut r, 1, GICR_ISACTIVER0), 1 << 30);
    assert!(!r.irq(1));
    set_icc(&mut r, 1, ICC_EOIR1_EL1, 30);
    assert_eq!(icc(&mut r, 1, ICC_RPR_EL1), 0xff);
    assert_eq!(gicr(&mut r, 1, GICR_ICACTIVER0), 0);
    // Still high: signalled again.
    assert!(r.irq(1));
    r.gic.set_ppi(1, 30, false);
    assert!(!r.irq(1));
    assert_eq!(icc(&mut r, 1, ICC_IAR1_EL1), SPURIOUS);
    // Disabled through ICENABLER0.
    set_gicr(&mut r, 1, GICR_ICENABLER0, 1 << 30);
    r.gic.set_ppi(1, 30, true);
    assert!(!r.irq(1));
    // Software pending and clearing of a PPI.
    set_gicr(&mut r, 1, GICR_ISENABLER0, 1 << 30);
    r.gic.set_ppi(1, 30, false);
    set_gicr(&mut r, 1, GICR_ISPENDR0, 1 << 27);
    assert!(!r.irq(1));
    private(&mut r, 1, 27, 0x10);
    assert!(r.irq(1));
    set_gicr(&mut r, 1, GICR_ICPENDR0, 1 << 27);
    assert!(!r.irq(1));
}

#[test]
fn icfgr_and_edge_ppis() {
    let mut r = ready();
    assert_eq!(gicr(&mut r, 0, GICR_ICFGR0), 0xaaaa_aaaa);
    set_gicr(&mut r, 0, GICR_ICFGR0, 0);
    assert_eq!(gicr(&mut r, 0, GICR_ICFGR0), 0xaaaa_aaaa);
    // PPI 20 is field 4 of ICFGR1.
    set_gicr(&mut r, 0, GICR_ICFGR1, 2 << 8);
    assert_eq!(gicr(&mut r, 0, GICR_ICFGR1), 2 << 8);
    private(&mut r, 0, 20, 0x40);
    r.gic.set_ppi(0, 20, true);
    r.gic.set_ppi(0, 20, false);
    assert!(r.irq(0));
    assert_eq!(icc(&mut r, 0, ICC_IAR1_EL1), 20);
    assert_eq!(gicr(&mut r, 0, GICR_ISPENDR0), 0);
    set_icc(&mut r, 0, ICC_EOIR1_EL1, 20);
    assert!(!r.irq(0));
}

#[test]
fn distributor_private_range_is_raz_wi_with_are() {
    let mut r = ready();
    r.set_gicd(GICD_ISENABLER, u32::MAX);
    assert_eq!(r.gicd(GICD_ISENABLER), 0);
    r.set_gicd(GICD_IPRIORITYR, u32::MAX);
    assert_eq!(r.gicd(GICD_IPRIORITYR), 0);
    assert_eq!(r.gicd(GICD_ICFGR), 0);
    assert_eq!(gicr(&mut r, 0, GICR_IPRIORITYR), 0);
    // No ITARGETSR or SGIR with affinity routing.
    r.write(0, DIST, 0x820, 1, 1);
    assert_eq!(r.read(0, DIST, 0x820, 1), 0);
    r.set_gicd(0xf00, 0x0001_0001);
    assert_eq!(r.outputs(), vec![(false, false); 4]);
}

#[test]
fn sgi1r_targets_by_affinity() {
    let mut r = ready();
    // Aff1 = 1, target list {0}: core 2 (0.0.1.0) only.
    set_icc(&mut r, 0, ICC_SGI1R_EL1, 5 << 24 | 1 << 16 | 1);
    assert_eq!(irqs(&r), [false, false, true, false]);
    assert_eq!(gicr(&mut r, 2, GICR_ISPENDR0), 1 << 5);
    // No source field in GICv3's INTID.
    assert_eq!(icc(&mut r, 2, ICC_IAR1_EL1), 5);
    set_icc(&mut r, 2, ICC_EOIR1_EL1, 5);
    // Aff3.Aff2.Aff1 = 0.0.0, list {0, 1}: cores 0 (the sender) and 1.
    set_icc(&mut r, 0, ICC_SGI1R_EL1, 1 << 24 | 0b11);
    assert_eq!(irqs(&r), [true, true, false, false]);
    for c in 0..2 {
        assert_eq!(icc(&mut r, c, ICC_IAR1_EL1), 1);
        set_icc(&mut r, c, ICC_EOIR1_EL1, 1);
    }
    // Aff3 = 1: core 3.
    set_icc(&mut r, 1, ICC_SGI1R_EL1, 1 << 48 | 2 << 24 | 1);
    assert_eq!(irqs(&r), [false, false, false, true]);
    assert_eq!(icc(&mut r, 3, ICC_IAR1_EL1), 2);
    set_icc(&mut r, 3, ICC_EOIR1_EL1, 2);
    // RS = 1 selects Aff0 16..31: nobody here.
    set_icc(&mut r, 0, ICC_SGI1R_EL1, 1 << 44 | 3 << 24 | 0xffff);
    assert_eq!(irqs(&r), [false; 4]);
    // IRM: every core but the sender, whatever the other fields say.
    set_icc(&mut r, 2, ICC_SGI1R_EL1, 1 << 40 | 9 << 24 | 0xff << 16);
    assert_eq!(irqs(&r), [true, true, false, true]);
    assert_eq!(gicr(&mut r, 2, GICR_ISPENDR0), 0);
    // Write-only register.
    assert_eq!(r.gic.sysreg_read(0, ICC_SGI1R_EL1, 1), None);
}

#[test]
fn group0_sgis_go_to_fiq() {
    let mut r = ready();
    // SGI 6 of core 1 in Group 0; Group 0 enabled at its interface.
    set_gicr(&mut r, 1, GICR_IGROUPR0, !(1 << 6));
    set_icc(&mut r, 1, ICC_IGRPEN0_EL1, 1);
    // SGI0R generates only Group 0 SGIs: SGI 7 (Group 1) is dropped.
    set_icc(&mut r, 0, ICC_SGI0R_EL1, 7 << 24 | 0b10);
    assert_eq!(r.outputs()[1], (false, false));
    set_icc(&mut r, 0, ICC_SGI0R_EL1, 6 << 24 | 0b10);
    assert_eq!(r.outputs()[1], (false, true));
    assert_eq!(icc(&mut r, 1, ICC_HPPIR0_EL1), 6);
    assert_eq!(icc(&mut r, 1, ICC_HPPIR1_EL1), SPURIOUS);
    assert_eq!(icc(&mut r, 1, ICC_IAR1_EL1), SPURIOUS);
    assert_eq!(icc(&mut r, 1, ICC_IAR0_EL1), 6);
    assert_eq!(icc(&mut r, 1, ICC_AP0R0_EL1), 1);
    assert_eq!(r.outputs()[1], (false, false));
    set_icc(&mut r, 1, ICC_EOIR0_EL1, 6);
    assert_eq!(icc(&mut r, 1, ICC_AP0R0_EL1), 0);
    // ASGI1R, like SGI0R with DS = 1, only reaches Group 0 SGIs.
    set_icc(&mut r, 0, ICC_ASGI1R_EL1, 7 << 24 | 0b10);
    assert_eq!(r.outputs()[1], (false, false));
    set_icc(&mut r, 0, ICC_ASGI1R_EL1, 6 << 24 | 0b10);
    assert_eq!(r.outputs()[1], (false, true));
    assert_eq!(icc(&mut r, 1, ICC_IAR0_EL1), 6);
    set_icc(&mut r, 1, ICC_EOIR0_EL1, 6);
    // SGI1R reaches both groups.
    set_icc(&mut r, 0, ICC_SGI1R_EL1, 6 << 24 | 0b10);
    assert_eq!(r.outputs()[1], (false, true));
    set_icc(&mut r, 0, ICC_SGI1R_EL1, 7 << 24 | 0b10);
    assert_eq!(r.outputs()[1], (false, true));
    // Group 0 disabled at the interface: the Group 1 SGI is signalled.
    set_icc(&mut r, 1, ICC_IGRPEN0_EL1, 0);
    assert_eq!(r.outputs()[1], (true, false));
}

#[test]
fn spi_routing_by_irouter() {
    let mut r = ready();
    // SPI 3 (INTID 35) to 0.0.1.0.
    spi(&mut r, 3, 0x80, 0x100);
    assert_eq!(r.read(0, DIST, GICD_IROUTER + 8 * 35, 8), 0x100);
    assert_eq!(r.read(0, DIST, GICD_IROUTER + 8 * 35, 4), 0x100);
    r.gic.set_spi(3, true);
    assert_eq!(irqs(&r), [false, false, true, false]);
    assert_eq!(r.gicd(GICD_ISPENDR + 4), 1 << 3);
    // Upper half: Aff3 = 1.
    r.write(0, DIST, GICD_IROUTER + 8 * 35, 4, 0);
    r.write(0, DIST, GICD_IROUTER + 8 * 35 + 4, 4, 1);
    assert_eq!(r.read(0, DIST, GICD_IROUTER + 8 * 35, 8), 1 << 32);
    assert_eq!(irqs(&r), [false, false, false, true]);
    // No core with that affinity: not signalled anywhere.
    r.write(0, DIST, GICD_IROUTER + 8 * 35, 8, 0x5);
    assert_eq!(irqs(&r), [false; 4]);
    // RES0 bits are dropped.
    r.write(0, DIST, GICD_IROUTER + 8 * 35, 8, u64::MAX);
    assert_eq!(r.read(0, DIST, GICD_IROUTER + 8 * 35, 8), 0xff_80ff_ffff);
    // 1 of N: every awake core may take it, the first acknowledge wins.
    set_gicr(&mut r, 1, GICR_WAKER, 0b010);
    r.write(0, DIST, GICD_IROUTER + 8 * 35, 8, 1 << 31);
    assert_eq!(irqs(&r), [true, false, true, true]);
    assert_eq!(icc(&mut r, 3, ICC_IAR1_EL1), 35);
    assert_eq!(irqs(&r), [false; 4]);
    assert_eq!(icc(&mut r, 0, ICC_IAR1_EL1), SPURIOUS);
    r.gic.set_spi(3, false);
    set_icc(&mut r, 3, ICC_EOIR1_EL1, 35);
    assert_eq!(irqs(&r), [false; 4]);
    // IROUTER of a nonexistent SPI is RAZ/WI.
    r.write(0, DIST, GICD_IROUTER + 8 * 96, 8, 1);
    assert_eq!(r.read(0, DIST, GICD_IROUTER + 8 * 96, 8), 0);
}

#[test]
fn binary_points_and_preemption() {
    let mut r = ready();
    // Reset binary points: BPR0 2, BPR1 3 (= BPR0 minimum + 1).
    assert_eq!(icc(&mut r, 0, ICC_BPR0_EL1), 2);
    assert_eq!(icc(&mut r, 0, ICC_BPR1_EL1), 3);
    set_icc(&mut r, 0, ICC_BPR1_EL1, 0);
    assert_eq!(icc(&mut r, 0, ICC_BPR1_EL1), 3);
    set_icc(&mut r, 0, ICC_BPR0_EL1, 1);
    assert_eq!(icc(&mut r, 0, ICC_BPR0_EL1), 2);

    private(&mut r, 0, 20, 0x80);
    private(&mut r, 0, 21, 0x40);
    private(&mut r, 0, 22, 0x80);
    r.gic.set_ppi(0, 20, true);
    assert_eq!(icc(&mut r, 0, ICC_IAR1_EL1), 20);
    assert_eq!(icc(&mut r, 0, ICC_RPR_EL1), 0x80);
    assert_eq!(icc(&mut r, 0, ICC_AP1R0_EL1), 1 << 16);
    // Equal priority waits.
    r.gic.set_ppi(0, 22, true);
    assert!(!r.irq(0));
    assert_eq!(icc(&mut r, 0, ICC_HPPIR1_EL1), 22);
    // Higher priority preempts.
    r.gic.set_ppi(0, 21, true);
    assert!(r.irq(0));
    assert_eq!(icc(&mut r, 0, ICC_IAR1_EL1), 21);
    assert_eq!(icc(&mut r, 0, ICC_AP1R0_EL1), 1 << 16 | 1 << 8);
    assert_eq!(icc(&mut r, 0, ICC_RPR_EL1), 0x40);
    r.gic.set_ppi(0, 21, false);
    set_icc(&mut r, 0, ICC_EOIR1_EL1, 21);
    assert_eq!(icc(&mut r, 0, ICC_RPR_EL1), 0x80);
    r.gic.set_ppi(0, 20, false);
    r.gic.set_ppi(0, 22, false);
    set_icc(&mut r, 0, ICC_EOIR1_EL1, 20);
    assert_eq!(icc(&mut r, 0, ICC_RPR_EL1), 0xff);

    // BPR1 = 6: Group 1 group priority is bits [7:6].
    set_icc(&mut r, 0, ICC_BPR1_EL1, 6);
    private(&mut r, 0, 23, 0x90);
    private(&mut r, 0, 24, 0x88);
    private(&mut r, 0, 25, 0x78);
    r.gic.set_ppi(0, 23, true);
    assert_eq!(icc(&mut r, 0, ICC_IAR1_EL1), 23);
    assert_eq!(icc(&mut r, 0, ICC_RPR_EL1), 0x80);
    assert_eq!(icc(&mut r, 0, ICC_AP1R0_EL1), 1 << 16);
    // 0x88 is numerically higher priority than 0x90 but in the same group.
    r.gic.set_ppi(0, 24, true);
    assert!(!r.irq(0));
    r.gic.set_ppi(0, 25, true);
    assert!(r.irq(0));
    assert_eq!(icc(&mut r, 0, ICC_IAR1_EL1), 25);
    assert_eq!(icc(&mut r, 0, ICC_RPR_EL1), 0x40);

    // CBPR: BPR0 governs Group 1 too; BPR1 reads BPR0 + 1, ignores writes.
    set_icc(&mut r, 1, ICC_CTLR_EL1, 1);
    assert_eq!(icc(&mut r, 1, ICC_CTLR_EL1), 0x8401);
    set_icc(&mut r, 1, ICC_BPR0_EL1, 5);
    assert_eq!(icc(&mut r, 1, ICC_BPR1_EL1), 6);
    set_icc(&mut r, 1, ICC_BPR1_EL1, 3);
    assert_eq!(icc(&mut r, 1, ICC_BPR1_EL1), 6);
    set_icc(&mut r, 1, ICC_BPR0_EL1, 7);
    assert_eq!(icc(&mut r, 1, ICC_BPR1_EL1), 7);
}

#[test]
fn pmr_masks() {
    let mut r = ready();
    private(&mut r, 2, 26, 0x80);
    set_icc(&mut r, 2, ICC_PMR_EL1, 0x80);
    r.gic.set_ppi(2, 26, true);
    assert!(!r.irq(2));
    assert_eq!(icc(&mut r, 2, ICC_HPPIR1_EL1), 26);
    assert_eq!(icc(&mut r, 2, ICC_IAR1_EL1), SPURIOUS);
    set_icc(&mut r, 2, ICC_PMR_EL1, 0xff);
    assert_eq!(icc(&mut r, 2, ICC_PMR_EL1), 0xf8);
    assert!(r.irq(2));
    // Group enable at the interface gates it too.
    set_icc(&mut r, 2, ICC_IGRPEN1_EL1, 0);
    assert!(!r.irq(2));
    assert_eq!(icc(&mut r, 2, ICC_IGRPEN1_EL1), 0);
    assert_eq!(icc(&mut r, 2, ICC_IAR1_EL1), SPURIOUS);
}

#[test]
fn eoimode_split() {
    let mut r = ready();
    // ICC_CTLR_EL1: PRIbits 4 (5 bits) [10:8], IDbits 0 (16 bits), A3V [15].
    assert_eq!(icc(&mut r, 0, ICC_CTLR_EL1), 0x8400);
    set_icc(&mut r, 0, ICC_CTLR_EL1, 2 | 0xffff_0000);
    assert_eq!(icc(&mut r, 0, ICC_CTLR_EL1), 0x8402);
    private(&mut r, 0, 30, 0x20);
    r.gic.set_ppi(0, 30, true);
    assert_eq!(icc(&mut r, 0, ICC_IAR1_EL1), 30);
    set_icc(&mut r, 0, ICC_EOIR1_EL1, 30);
    assert_eq!(icc(&mut r, 0, ICC_RPR_EL1), 0xff);
    assert_eq!(gicr(&mut r, 0, GICR_ISACTIVER0), 1 << 30);
    assert!(!r.irq(0));
    set_icc(&mut r, 0, ICC_DIR_EL1, 30);
    assert_eq!(gicr(&mut r, 0, GICR_ISACTIVER0), 0);
    assert!(r.irq(0));
}

#[test]
fn unimplemented_and_el_restricted_registers() {
    let mut r = ready();
    assert_eq!(icc(&mut r, 0, ICC_SRE_EL1), 0b111);
    set_icc(&mut r, 0, ICC_SRE_EL1, 0);
    assert_eq!(icc(&mut r, 0, ICC_SRE_EL1), 0b111);
    // Five priority bits: only AP0R0/AP1R0 exist.
    assert_eq!(r.gic.sysreg_read(0, ICC_AP1R1_EL1, 1), None);
    assert!(!r.gic.sysreg_write(0, ICC_AP1R1_EL1, 1, 0));
    // Read-only and write-only registers.
    assert!(!r.gic.sysreg_write(0, ICC_IAR1_EL1, 1, 0));
    assert!(!r.gic.sysreg_write(0, ICC_RPR_EL1, 1, 0));
    assert_eq!(r.gic.sysreg_read(0, ICC_EOIR1_EL1, 1), None);
    assert_eq!(r.gic.sysreg_read(0, ICC_DIR_EL1, 1), None);
    // EL2/EL3 registers need that EL; no virtualization interface.
    assert_eq!(r.gic.sysreg_read(0, ICC_SRE_EL2, 1), None);
    assert_eq!(r.gic.sysreg_read(0, ICC_SRE_EL2, 2), Some(0b1111));
    assert_eq!(r.gic.sysreg_read(0, ICC_SRE_EL3, 2), None);
    assert_eq!(r.gic.sysreg_read(0, ICC_SRE_EL3, 3), Some(0b1111));
    assert_eq!(r.gic.sysreg_read(0, ICH_HCR_EL2, 2), None);
    assert_eq!(r.gic.sysreg_read(0, ICC_IGRPEN1_EL3, 3), Some(1));
    assert!(r.gic.sysreg_write(0, ICC_IGRPEN1_EL3, 3, 0));
    assert_eq!(icc(&mut r, 0, ICC_IGRPEN1_EL1), 0);
    // Unknown core.
    assert_eq!(r.gic.sysreg_read(4, ICC_SRE_EL1, 1), None);
    // Active priorities can be saved and restored.
    set_icc(&mut r, 0, ICC_AP1R0_EL1, 1 << 4);
    assert_eq!(icc(&mut r, 0, ICC_RPR_EL1), 0x20);
    set_icc(&mut r, 0, ICC_AP0R0_EL1, 1 << 2);
    assert_eq!(icc(&mut r, 0, ICC_RPR_EL1), 0x10);
}

#[test]
fn bad_redistributor_accesses() {
    let mut r = ready();
    assert_eq!(r.read(0, CPU, GICR_WAKER, 8), 0);
    assert_eq!(r.read(0, CPU, GICR_TYPER, 2), 0);
    assert_eq!(r.read(0, CPU, GICR_TYPER + 4, 8), 0);
    assert_eq!(r.read(0, CPU, 0x0070, 8), 0);
    assert_eq!(r.read(0, CPU, SGI + 0x0104, 4), 0);
    assert_eq!(r.read(0, CPU, SGI + 0x0500, 4), 0);
    r.write(0, CPU, SGI + 0x0104, 4, u64::MAX);
    r.write(0, CPU, GICR_WAKER, 2, 0b010);
    assert_eq!(gicr(&mut r, 0, GICR_WAKER), 0);
    r.write(0, CPU, GICR_IPRIORITYR + 3, 2, 0xffff);
    assert_eq!(gicr(&mut r, 0, GICR_IPRIORITYR), 0);
    r.write(0, CPU, GICR_IPRIORITYR + 3, 1, 0xff);
    assert_eq!(gicr(&mut r, 0, GICR_IPRIORITYR), 0xf800_0000);
    assert_eq!(r.read(0, DIST, GICD_IROUTER + 8 * 40 + 2, 2), 0);
    // Past the last redistributor (the bus never sends these).
    assert_eq!(r.read(0, CPU, 4 * RD + GICR_WAKER, 4), 0);
    r.write(0, CPU, 4 * RD + GICR_WAKER, 4, 0);
}

#[test]
fn device_tree_node() {
    let r = Rig::new(GicVersion::V3, &AFFS);
    let n = r.gic.dt_node();
    assert_eq!(n.name, "interrupt-controller@8000000");
    assert_eq!(n.label.as_deref(), Some("gic"));
    assert_eq!(
        n.get("compatible"),
        Some(&PropValue::Strings(vec!["arm,gic-v3".into()]))
    );
    assert_eq!(n.get("#interrupt-cells"), Some(&PropValue::Cells(vec![3])));
    assert_eq!(n.get("interrupt-controller"), Some(&PropValue::Empty));
    assert_eq!(n.get("#redistributor-regions"), Some(&PropValue::Cells(vec![1])));
    // Distributor 64 KiB, four redistributors of 128 KiB.
    assert_eq!(
        n.get("reg"),
        Some(&PropValue::Cells(vec![
            0,
            0x0800_0000,
            0,
            0x1_0000,
            0,
            0x080a_0000,
            0,
            0x8_0000
        ]))
    );
    assert_eq!(n.get("interrupts"), None);
    assert!(n.children.is_empty());
}

#[test]
fn bus_forwards_system_registers() {
    use crate::bus::SystemBus;
    use crate::ram::GuestRam;
    use cpu_aarch64::bus::Bus;

    let cpus = vec![GicCpuConfig {
        affinity: 0,
        lines: Default::default(),
    }];
    let gic = Gic::shared(GicConfig::virt(GicVersion::V3, cpus)).unwrap();
    let mut bus = SystemBus::new(GuestRam::with_region("dram", 0x4000_0000, 0x1000).unwrap());
    assert_eq!(bus.gic_sysreg_read(0, ICC_SRE_EL1, 1), None);
    assert!(!bus.gic_sysreg_write(0, ICC_PMR_EL1, 1, 0xff));
    bus.set_gic_sysregs(gic.clone());
    assert_eq!(bus.gic_sysreg_read(0, ICC_SRE_EL1, 1), Some(0b111));
    assert!(bus.gic_sysreg_write(0, ICC_PMR_EL1, 1, 0xff));
    assert_eq!(bus.gic_sysreg_read(0, ICC_PMR_EL1, 1), Some(0xf8));
    assert_eq!(gic.lock().unwrap().sysreg_read(0, ICC_PMR_EL1, 1), Some(0xf8));
}

/// Save with an interrupt active on core 0 and others pending; the
/// restored GIC (fresh lines) drives the same outputs and acknowledges the
/// same interrupts in the same order.
#[test]
fn state_survives_a_snapshot_round_trip() {
    use crate::snapshot::{StateReader, StateWriter};
    let mut a = ready();
    spi(&mut a, 3, 0x40, 0);
    spi(&mut a, 4, 0x20, 1);
    private(&mut a, 0, 27, 0x10);
    a.gic.set_spi(3, true);
    a.gic.set_ppi(0, 27, true);
    assert_eq!(icc(&mut a, 0, ICC_IAR1_EL1), 27);
    a.gic.set_spi(4, true);
    let mut w = StateWriter::new();
    a.gic.save_state(&mut w);
    let bytes = w.into_bytes();

    let mut b = Rig::new(GicVersion::V3, &AFFS);
    let mut rd = StateReader::new("gic", &bytes);
    b.gic.restore_state(&mut rd).unwrap();
    rd.finish().unwrap();
    let mut w = StateWriter::new();
    b.gic.save_state(&mut w);
    assert_eq!(w.into_bytes(), bytes);
    assert_eq!(b.outputs(), a.outputs());
    assert!(b.gic.ppi_level(0, 27));
    for c in 0..2 {
        assert_eq!(icc(&mut b, c, ICC_RPR_EL1), icc(&mut a, c, ICC_RPR_EL1));
        assert_eq!(icc(&mut b, c, ICC_HPPIR1_EL1), icc(&mut a, c, ICC_HPPIR1_EL1));
    }
    set_icc(&mut a, 0, ICC_EOIR1_EL1, 27);
    set_icc(&mut b, 0, ICC_EOIR1_EL1, 27);
    assert_eq!(icc(&mut b, 0, ICC_IAR1_EL1), icc(&mut a, 0, ICC_IAR1_EL1));

    // A GIC of another shape refuses the state and keeps its own.
    let mut two = Rig::new(GicVersion::V3, &AFFS[..2]);
    let e = two.gic.restore_state(&mut StateReader::new("gic", &bytes)).unwrap_err();
    assert!(e.to_string().contains("cpus"), "{e}");
    let mut v2 = Rig::new(GicVersion::V2, &[0, 1, 2, 3]);
    let e = v2.gic.restore_state(&mut StateReader::new("gic", &bytes)).unwrap_err();
    assert!(e.to_string().contains("GICv3"), "{e}");
    // Truncated anywhere: an error, never a panic.
    for cut in [0, 1, 20, bytes.len() / 2, bytes.len() - 1] {
        let mut c = Rig::new(GicVersion::V3, &AFFS);
        assert!(c
            .gic
            .restore_state(&mut StateReader::new("gic", &bytes[..cut]))
            .is_err());
    }
}
