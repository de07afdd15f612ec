//! A read-only picture of the whole GIC for debuggers and monitors
//! ([`Gic::view`]): taking it has no side effect (unlike reading IAR), and
//! it shows state no register shows in one place (input levels, the
//! highest priority pending interrupt per core, the output lines).

use cpu_aarch64::irq::{FIQ, IRQ};

use super::{Bank, Gic, GicVersion};

/// One interrupt as a debugger shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrqView {
    /// Its INTID.
    pub intid: u32,
    /// Enabled (ISENABLER).
    pub enabled: bool,
    /// Pending (latched, or a level input that is high).
    pub pending: bool,
    /// Active.
    pub active: bool,
    /// Its input line is high.
    pub level: bool,
    /// Edge-triggered (else level-sensitive).
    pub edge: bool,
    /// Priority (IPRIORITYR).
    pub priority: u8,
    /// Group 0 or 1 (IGROUPR).
    pub group: u8,
    /// SPIs: v2 GICD_ITARGETSR (a core mask), v3 GICD_IROUTER.
    pub route: Option<u64>,
}

/// One core's redistributor (v3), banked interrupts and CPU interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuIfView {
    /// Affinity (MPIDR layout).
    pub affinity: u64,
    /// v3: GICR_WAKER.ProcessorSleep (the redistributor signals nothing).
    pub asleep: bool,
    /// v2 GICC_CTLR; v3 ICC_CTLR_EL1 as read.
    pub ctlr: u64,
    /// v3 ICC_IGRPEN0_EL1 and ICC_IGRPEN1_EL1; v2 GICC_CTLR's group enables.
    pub group_enable: [bool; 2],
    /// Priority mask.
    pub pmr: u8,
    /// Binary points (BPR0, BPR1 / GICC_ABPR).
    pub bpr: [u8; 2],
    /// Active priorities, groups 0 and 1.
    pub apr: [u32; 2],
    /// Running priority (0xFF when idle).
    pub running_priority: u8,
    /// The highest priority pending interrupt that could be acknowledged
    /// (whatever the priority mask): INTID, priority, group.
    pub hppi: Option<(u32, u8, u8)>,
    /// The core's IRQ and FIQ inputs as the GIC drives them.
    pub irq: bool,
    /// See `irq`.
    pub fiq: bool,
    /// SGIs and PPIs (INTIDs 0..31).
    pub private: Vec<IrqView>,
}

/// The whole controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GicView {
    /// v2 or v3.
    pub version: GicVersion,
    /// GICD_CTLR as read.
    pub dist_ctlr: u32,
    /// GICD_TYPER.
    pub dist_typer: u32,
    /// Per core, in core order.
    pub cpus: Vec<CpuIfView>,
    /// SPIs (INTIDs 32..).
    pub spis: Vec<IrqView>,
}

fn bank_view(b: &Bank, base: u32, route: impl Fn(u32) -> Option<u64>) -> Vec<IrqView> {
    (0..32)
        .map(|bit| {
            let m = 1u32 << bit;
            IrqView {
                intid: base + bit,
                enabled: b.enabled & m != 0,
                pending: b.pending() & m != 0,
                active: b.active & m != 0,
                level: b.level & m != 0,
                edge: b.edge & m != 0,
                priority: b.priority[bit as usize],
                group: u8::from(b.group & m != 0),
                route: route(base + bit),
            }
        })
        .collect()
}

impl Gic {
    /// Everything a debugger shows, read without side effects.
    pub fn view(&self) -> GicView {
        let cpus = (0..self.cpus.len())
            .map(|i| {
                let c = &self.cpus[i];
                let lines = c.lines.get();
                let (ctlr, group_enable) = match self.version {
                    GicVersion::V2 => (u64::from(c.ctlr), [c.ctlr & 1 != 0, c.ctlr & 2 != 0]),
                    GicVersion::V3 => (u64::from(c.ctlr) | super::v3::CTLR_RO, c.igrpen),
                };
                CpuIfView {
                    affinity: c.affinity,
                    asleep: self.version == GicVersion::V3 && c.asleep,
                    ctlr,
                    group_enable,
                    pmr: c.pmr,
                    bpr: [c.bpr0, c.bpr1],
                    apr: c.apr,
                    running_priority: self.running_priority(i),
                    hppi: self.hppi(i).map(|h| (h.intid, h.priority, h.group as u8)),
                    irq: lines & IRQ != 0,
                    fiq: lines & FIQ != 0,
                    private: bank_view(&c.private, 0, |_| None),
                }
            })
            .collect();
        let spis = self
            .spis
            .iter()
            .enumerate()
            .flat_map(|(k, b)| {
                bank_view(b, 32 * (k as u32 + 1), |intid| {
                    let i = (intid - 32) as usize;
                    Some(match self.version {
                        GicVersion::V2 => u64::from(self.targets[i]),
                        GicVersion::V3 => self.route[i],
                    })
                })
            })
            .collect();
        GicView {
            version: self.version,
            dist_ctlr: self.dist_ctlr_read(),
            dist_typer: self.dist_typer(),
            cpus,
            spis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::AccessInfo;
    use crate::gic::{GicConfig, GicCpuConfig};
    use cpu_aarch64::irq::IrqLines;
    use cpu_aarch64::sem::SysRegId;

    fn gic(version: GicVersion) -> Gic {
        let cpus = (0..2)
            .map(|i| GicCpuConfig {
                affinity: i,
                lines: IrqLines::new(),
            })
            .collect();
        Gic::new(GicConfig::virt(version, cpus)).unwrap()
    }

    fn wr(g: &mut Gic, region: usize, offset: u64, value: u32) {
        wr_sized(g, region, offset, 4, u64::from(value));
    }

    fn wr_sized(g: &mut Gic, region: usize, offset: u64, size: u8, value: u64) {
        g.mmio_write(
            AccessInfo {
                cpu: 0,
                region,
                offset,
                size,
                debug: false,
            },
            value,
        );
    }

    const ICC_PMR_EL1: SysRegId = SysRegId::new(3, 0, 4, 6, 0);
    const ICC_IGRPEN1_EL1: SysRegId = SysRegId::new(3, 0, 12, 12, 7);

    /// The v3 view shows what the registers were programmed with (IHI
    /// 0069 offsets), per redistributor and for SPIs, and the resulting
    /// highest priority pending interrupt and IRQ output.
    #[test]
    fn v3_view_follows_the_registers() {
        let mut g = gic(GicVersion::V3);
        let v = g.view();
        // Reset: ProcessorSleep set, nothing enabled, DS and ARE read 1.
        assert!(v.cpus.iter().all(|c| c.asleep && !c.irq && c.hppi.is_none()));
        assert_eq!(v.dist_ctlr, (1 << 6) | (1 << 4));
        assert_eq!(v.spis.len(), 64);
        // GICD_CTLR: EnableGrp1; core 1's redistributor awake (WAKER at
        // RD_base + 0x14 of the second 128 KiB frame), PPI 27 in group 1,
        // priority 0x80, enabled and forced pending (ISPENDR0).
        wr(&mut g, 0, 0, 2);
        let sgi1 = 0x2_0000 + 0x1_0000;
        wr(&mut g, 1, 0x2_0000 + 0x14, 0);
        wr(&mut g, 1, sgi1 + 0x80, 1 << 27);
        wr(&mut g, 1, sgi1 + 0x400 + 24, 0x80 << 24);
        wr(&mut g, 1, sgi1 + 0x100, 1 << 27);
        wr(&mut g, 1, sgi1 + 0x200, 1 << 27);
        // SPI 40: priority 0x10, routed to affinity 1 (GICD_IROUTER<n>
        // at 0x6000 + 8n).
        wr_sized(&mut g, 0, 0x6000 + 8 * 40, 8, 1);
        wr(&mut g, 0, 0x400 + 40, 0x10);
        let v = g.view();
        let c1 = &v.cpus[1];
        assert!(!c1.asleep && v.cpus[0].asleep);
        let ppi = &c1.private[27];
        assert_eq!(
            (ppi.enabled, ppi.pending, ppi.active, ppi.group, ppi.priority),
            (true, true, false, 1, 0x80)
        );
        assert_eq!(v.spis[8].intid, 40);
        assert_eq!((v.spis[8].priority, v.spis[8].route), (0x10, Some(1)));
        // Group 1 is not enabled at the CPU interface yet: nothing to take.
        assert_eq!(c1.hppi, None);
        assert!(g.icc_write(1, ICC_IGRPEN1_EL1, 1, 1));
        assert!(g.icc_write(1, ICC_PMR_EL1, 1, 0xff));
        let v = g.view();
        assert!(v.cpus[1].group_enable[1]);
        assert_eq!(v.cpus[1].pmr, 0xf8);
        assert_eq!(v.cpus[1].hppi, Some((27, 0x80, 1)));
        assert!(v.cpus[1].irq && !v.cpus[0].irq);
        // Taking the view acknowledged nothing.
        assert_eq!(g.view(), v);
    }

    #[test]
    fn v2_view_shows_targets() {
        let mut g = gic(GicVersion::V2);
        // GICD_ITARGETSR for SPI 33 (byte 33 of 0x800): core 1.
        wr(&mut g, 0, 0x800 + 32, 2 << 8);
        let v = g.view();
        assert_eq!(v.spis[1].route, Some(2));
        assert!(v.cpus.iter().all(|c| !c.asleep));
    }
}
