//! The Arm Generic Interrupt Controller, architecture versions 2 and 3
//! (IHI 0048B and IHI 0069), as seen by software running without EL3.
//!
//! One [`Gic`] holds the distributor, the per-core banked state and the CPU
//! interfaces, and drives each core's [`IrqLines`]. It lives behind
//! `Arc<Mutex<Gic>>`: the bus owns a [`GicMmio`] (the register windows) that
//! locks it per access, devices hold [`crate::irq::IrqLine`]s into it through
//! [`InterruptController`], and for GICv3 the bus forwards the `ICC_*`
//! system registers to it through [`CpuInterfaceRegs`]
//! ([`crate::bus::SystemBus::set_gic_sysregs`]).
//!
//! # What is modelled
//!
//! * **Security.** A GIC without Security Extensions (v2) or with a single
//!   Security state (v3: GICD_CTLR.DS reads 1, GICD_TYPER.SecurityExtn
//!   reads 0), like QEMU's `virt` without `secure=on`. All registers show
//!   their single-security-state layout.
//! * **Groups.** Both groups are implemented. GICD_IGROUPR/GICR_IGROUPR0
//!   choose the group (reset: Group 0). The distributor enables
//!   (GICD_CTLR.EnableGrp0/1) and the CPU-interface enables (v2 GICC_CTLR
//!   bits 0/1, v3 ICC_IGRPEN0/1_EL1) gate each group. Group 1 is always
//!   signalled as IRQ. Group 0 is signalled as FIQ on v3 and on v2 when
//!   GICC_CTLR.FIQEn is set, else as IRQ. (Linux on a v2 GIC without
//!   Security Extensions leaves everything in Group 0 with FIQEn clear,
//!   so it sees IRQs; on v3 it moves everything to Group 1.)
//! * **Priorities.** 5 priority bits (32 levels, priority values are
//!   multiples of 8), as a GIC-400 has; GICD_IPRIORITYR, GICC_PMR and
//!   ICC_PMR_EL1 bits `[2:0]` read as zero. Binary points: BPR0 (Group 0, and
//!   Group 1 when CBPR is set) minimum 2, group priority bits `[7:BPR+1]`;
//!   BPR1 (GICC_ABPR, ICC_BPR1_EL1) minimum 3, group priority bits
//!   `[7:BPR]`. Writes below the minimum set the minimum.
//! * **Preemption.** The active priorities registers have one bit per group
//!   priority (bit n for priority n*8; only APR0 exists with 5 bits). The
//!   running priority is the highest set bit's priority, or 0xFF when idle.
//!   An interrupt is signalled when its priority is below PMR and its group
//!   priority below the running priority. EOI drops the highest active
//!   priority; with EOImode clear it also deactivates the interrupt, with
//!   EOImode set a DIR write deactivates it.
//! * **States.** Pending, active and active+pending. Level-sensitive
//!   interrupts are pending while their input is high, or while a
//!   software-set (ISPENDR) latch is set; edge-triggered ones latch on a
//!   rising edge. Acknowledging clears the latch (a level interrupt whose
//!   line is still high stays pending). An active+pending interrupt is not
//!   signalled again until deactivated.
//! * **Highest priority pending interrupt.** Among a core's pending,
//!   enabled, not active interrupts whose group is enabled at both the
//!   distributor and that CPU interface and that are routed to it, the
//!   lowest priority value wins, ties to the lowest INTID. HPPIR reports it
//!   regardless of PMR and running priority; IAR acknowledges it only if
//!   it can be signalled, else returns 1023.
//! * **SPI routing.** v2: GICD_ITARGETSR, a pending SPI is offered to every
//!   target core and the first to acknowledge it wins (the others then see
//!   it active, hence not pending). v3: `GICD_IROUTER<n>`; with
//!   Interrupt_Routing_Mode set (1 of N), the SPI is offered to every core
//!   whose redistributor is awake (GICR_WAKER.ProcessorSleep clear), first
//!   acknowledge wins; otherwise to the core whose affinity matches exactly
//!   (none if no core matches).
//! * **SGIs.** v2: GICD_SGIR with the three target filters, pending state
//!   kept per source core (GICD_SPENDSGIR/CPENDSGIR), IAR bits `[12:10]`
//!   give the source; the active state is per target core, not per source.
//!   v3: ICC_SGI1R_EL1 (either group: with DS = 1 it forwards SGIs of both
//!   groups), ICC_SGI0R_EL1 and ICC_ASGI1R_EL1 (Group 0 SGIs only, as with
//!   DS = 1), target list + Aff3.Aff2.Aff1 + RS, or IRM broadcast to all but
//!   self.
//!
//! # What is not
//!
//! LPIs and the ITS (GICD_TYPER.LPIS = 0, GICR_TYPER.PLPIS = 0, the LPI
//! registers read as zero), virtualization (no GICH/GICV, no ICH_*, no
//! maintenance interrupt, no VLPI frames: each redistributor is two 64 KiB
//! frames), GICv2 legacy operation on v3 (GICD_CTLR.ARE reads 1 and
//! ignores writes; there is no memory-mapped GICC on v3), message-based
//! SPIs, the extended SPI/PPI ranges, NMIs, GICv2 AckCtl (GICC_IAR
//! acknowledges both groups as if AckCtl were set; it never returns 1022),
//! the GICv2 interrupt bypass (bits stored only), wake-up requests for
//! sleeping v3 cores (E1NWF reads 0), power management registers.
//!
//! # Access sizes
//!
//! Registers are 32 bits; byte accesses also work for GICD_IPRIORITYR,
//! GICR_IPRIORITYR, GICD_ITARGETSR and GICD_CPENDSGIR/SPENDSGIR, 64-bit
//! accesses for GICD_IROUTER and GICR_TYPER (whose halves can also be read
//! as words). Anything else, and reserved offsets, reads as zero and
//! ignores writes (logged at debug level), as a GIC's reserved space does.

mod dist;
mod v2;
mod v3;
mod view;

#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests_v2;
#[cfg(test)]
mod tests_v3;

use std::sync::{Arc, Mutex, PoisonError};

use cpu_aarch64::irq::{IrqLines, FIQ, IRQ};
use cpu_aarch64::sem::SysRegId;
pub use view::{CpuIfView, GicView, IrqView};

use crate::device::{AccessInfo, AccessRejected, Device, MmioRegion};
use crate::dt::Node;
use crate::irq::{CpuInterfaceRegs, InterruptController};
use crate::snapshot::{StateError, StateReader, StateWriter};

/// The INTID reported when nothing can be acknowledged.
pub const SPURIOUS: u32 = 1023;
/// The label (hence phandle) of the GIC's device-tree node unless the
/// config says otherwise; boards put `interrupt-parent = <&gic>` in the
/// root node.
pub const DEFAULT_LABEL: &str = "gic";
/// Size of one GICv3 redistributor (RD_base + SGI_base frames).
pub const REDIST_STRIDE: u64 = 0x2_0000;

/// Implemented priority bits: 5.
const PRIO_MASK: u8 = 0xf8;
/// Minimum (and reset) BPR0 / GICC_BPR for 5 priority bits.
const BPR0_MIN: u8 = 2;
/// Minimum (and reset) BPR1 / GICC_ABPR.
const BPR1_MIN: u8 = 3;
/// Running priority when nothing is active.
const IDLE_PRIORITY: u8 = 0xff;

/// Architecture version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2 (a GIC-400): memory-mapped distributor and CPU interface.
    V2,
    /// GICv3: distributor, one redistributor per core, system-register CPU
    /// interface.
    V3,
}

/// One core as the GIC sees it.
#[derive(Clone, Debug)]
pub struct GicCpuConfig {
    /// The core's affinity as in MPIDR_EL1: Aff3 in bits `[39:32]`, Aff2
    /// `[23:16]`, Aff1 `[15:8]`, Aff0 `[7:0]`; other bits are ignored. Used by
    /// GICv3 (GICR_TYPER, IROUTER, SGI targeting).
    pub affinity: u64,
    /// The core's interrupt inputs, driven by its CPU interface.
    pub lines: IrqLines,
}

/// How to build a [`Gic`].
#[derive(Clone, Debug)]
pub struct GicConfig {
    /// Device name on the bus.
    pub name: String,
    /// Device-tree label of the node; its phandle is what
    /// `interrupt-parent` refers to.
    pub label: String,
    /// v2 or v3.
    pub version: GicVersion,
    /// The cores, in machine order (index = core id on the bus).
    pub cpus: Vec<GicCpuConfig>,
    /// Number of SPIs, a multiple of 32 up to 960 (GICD_TYPER.ITLinesNumber
    /// is `num_spis / 32`).
    pub num_spis: u32,
    /// Distributor base (window of 64 KiB).
    pub dist_base: u64,
    /// v2: CPU interface base; v3: base of the redistributor region
    /// (`cpus.len() * 128 KiB`).
    pub cpu_base: u64,
    /// v2: size of the CPU interface window (at least 0x2000, GICC_DIR is
    /// at 0x1000); ignored by v3.
    pub cpu_size: u64,
}

impl GicConfig {
    /// QEMU `virt`'s layout: distributor at 0x0800_0000, v2 CPU interface
    /// at 0x0801_0000 (64 KiB) or v3 redistributors from 0x080A_0000,
    /// 64 SPIs, name and label `gic`.
    pub fn virt(version: GicVersion, cpus: Vec<GicCpuConfig>) -> Self {
        GicConfig {
            name: "gic".into(),
            label: DEFAULT_LABEL.into(),
            version,
            cpus,
            num_spis: 64,
            dist_base: 0x0800_0000,
            cpu_base: match version {
                GicVersion::V2 => 0x0801_0000,
                GicVersion::V3 => 0x080a_0000,
            },
            cpu_size: 0x1_0000,
        }
    }
}

/// Why a [`GicConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GicConfigError {
    /// No cores.
    #[error("the GIC needs at least one core")]
    NoCpus,
    /// GICv2 supports at most 8 CPU interfaces.
    #[error("GICv2 supports at most 8 cores, not {0}")]
    TooManyCpus(usize),
    /// `num_spis` is not a multiple of 32 in 0..=960.
    #[error("the number of SPIs must be a multiple of 32 up to 960, not {0}")]
    BadSpiCount(u32),
    /// Two cores share an affinity (v3).
    #[error("cores {0} and {1} have the same affinity")]
    DuplicateAffinity(usize, usize),
    /// The v2 CPU interface window is too small for GICC_DIR.
    #[error("the GICv2 CPU interface window must be at least 0x2000 bytes, not {0:#x}")]
    CpuWindowTooSmall(u64),
}

/// State of 32 interrupts (one register's worth).
#[derive(Clone, Debug, Default)]
struct Bank {
    /// 1 = Group 1.
    group: u32,
    enabled: u32,
    /// Latched pending state (edge, ISPENDR, SGIs).
    latch: u32,
    active: u32,
    /// Input line levels.
    level: u32,
    /// 1 = edge-triggered.
    edge: u32,
    priority: [u8; 32],
}

impl Bank {
    fn pending(&self) -> u32 {
        self.latch | (self.level & !self.edge)
    }

    /// Drives input `bit`; returns whether the pending state may have changed.
    fn set_line(&mut self, bit: u32, level: bool) -> bool {
        let m = 1u32 << bit;
        let old = self.level & m != 0;
        if old == level {
            return false;
        }
        if level {
            self.level |= m;
            if self.edge & m != 0 {
                self.latch |= m;
            }
        } else {
            self.level &= !m;
        }
        true
    }
}

/// Per-core state: banked interrupts, CPU interface, redistributor.
#[derive(Clone, Debug)]
struct CpuState {
    /// Aff3.Aff2.Aff1.Aff0 in MPIDR layout (bits `[39:32]`, `[23:0]`).
    affinity: u64,
    lines: IrqLines,
    /// INTIDs 0..31.
    private: Bank,
    /// v2: per SGI, the source cores with a pending request.
    sgi_src: [u8; 16],
    /// v2 GICC_CTLR; v3 ICC_CTLR_EL1's writable bits (CBPR, EOImode).
    ctlr: u32,
    pmr: u8,
    bpr0: u8,
    bpr1: u8,
    /// Active priorities, Group 0 and Group 1.
    apr: [u32; 2],
    /// v3 ICC_IGRPEN0_EL1 / ICC_IGRPEN1_EL1.
    igrpen: [bool; 2],
    /// v3 GICR_WAKER.ProcessorSleep.
    asleep: bool,
}

/// The highest priority pending interrupt of a core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hppi {
    intid: u32,
    priority: u8,
    group: usize,
}

/// MPIDR affinity bits the GIC uses.
const AFF_MASK: u64 = 0xff_00ff_ffff;

/// A Generic Interrupt Controller. See the module documentation.
#[derive(Debug)]
pub struct Gic {
    name: String,
    label: String,
    version: GicVersion,
    dist_base: u64,
    cpu_base: u64,
    cpu_size: u64,
    num_spis: u32,
    cpus: Vec<CpuState>,
    /// SPI banks: `spis[i]` covers INTIDs `32 * (i + 1)..`.
    spis: Vec<Bank>,
    /// v2 GICD_ITARGETSR per SPI.
    targets: Vec<u8>,
    /// v3 GICD_IROUTER per SPI.
    route: Vec<u64>,
    /// GICD_CTLR EnableGrp0 (bit 0) and EnableGrp1 (bit 1).
    dist_ctlr: u32,
}

impl Gic {
    /// A GIC in its reset state, all output lines low.
    pub fn new(config: GicConfig) -> Result<Gic, GicConfigError> {
        let n = config.cpus.len();
        if n == 0 {
            return Err(GicConfigError::NoCpus);
        }
        if config.version == GicVersion::V2 && n > 8 {
            return Err(GicConfigError::TooManyCpus(n));
        }
        if config.num_spis % 32 != 0 || config.num_spis > 960 {
            return Err(GicConfigError::BadSpiCount(config.num_spis));
        }
        if config.version == GicVersion::V2 && config.cpu_size < 0x2000 {
            return Err(GicConfigError::CpuWindowTooSmall(config.cpu_size));
        }
        if config.version == GicVersion::V3 {
            for i in 0..n {
                for j in i + 1..n {
                    if config.cpus[i].affinity & AFF_MASK == config.cpus[j].affinity & AFF_MASK {
                        return Err(GicConfigError::DuplicateAffinity(i, j));
                    }
                }
            }
        }
        let private = Bank {
            // SGIs are always edge-triggered.
            edge: 0xffff,
            ..Bank::default()
        };
        let cpus = config
            .cpus
            .iter()
            .map(|c| CpuState {
                affinity: c.affinity & AFF_MASK,
                lines: c.lines.clone(),
                private: private.clone(),
                sgi_src: [0; 16],
                ctlr: 0,
                pmr: 0,
                bpr0: BPR0_MIN,
                bpr1: BPR1_MIN,
                apr: [0; 2],
                igrpen: [false; 2],
                asleep: true,
            })
            .collect();
        let nspi = config.num_spis as usize;
        let mut gic = Gic {
            name: config.name,
            label: config.label,
            version: config.version,
            dist_base: config.dist_base,
            cpu_base: config.cpu_base,
            cpu_size: config.cpu_size,
            num_spis: config.num_spis,
            cpus,
            spis: vec![Bank::default(); nspi / 32],
            targets: vec![0; nspi],
            route: vec![0; nspi],
            dist_ctlr: 0,
        };
        gic.update_all();
        Ok(gic)
    }

    /// [`Gic::new`] behind the `Arc<Mutex<_>>` everything shares.
    pub fn shared(config: GicConfig) -> Result<Arc<Mutex<Gic>>, GicConfigError> {
        Ok(Arc::new(Mutex::new(Gic::new(config)?)))
    }

    /// The architecture version.
    pub fn version(&self) -> GicVersion {
        self.version
    }

    /// Number of cores (CPU interfaces).
    pub fn num_cpus(&self) -> usize {
        self.cpus.len()
    }

    /// Number of SPIs.
    pub fn num_spis(&self) -> u32 {
        self.num_spis
    }

    /// Device name on the bus.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device-tree label (`interrupt-parent = <&label>`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The MMIO windows: distributor, then the v2 CPU interface or the v3
    /// redistributor region.
    pub fn regions(&self) -> Vec<MmioRegion> {
        let second = match self.version {
            GicVersion::V2 => self.cpu_size,
            GicVersion::V3 => REDIST_STRIDE * self.cpus.len() as u64,
        };
        vec![
            MmioRegion {
                base: self.dist_base,
                size: 0x1_0000,
            },
            MmioRegion {
                base: self.cpu_base,
                size: second,
            },
        ]
    }

    /// The node Linux's `arm,gic` / `arm,gic-v3` bindings describe.
    pub fn dt_node(&self) -> Node {
        let regs = self.regions();
        let node = Node::with_unit("interrupt-controller", self.dist_base).labelled(&self.label);
        let node = match self.version {
            GicVersion::V2 => node.string("compatible", "arm,gic-400"),
            GicVersion::V3 => node.string("compatible", "arm,gic-v3"),
        };
        let node = node
            .cells("#interrupt-cells", &[3])
            // No interrupt-map users: interrupt specifiers carry no
            // address part (dtc wants providers to say so).
            .cells("#address-cells", &[0])
            .flag("interrupt-controller")
            .reg64(&[(regs[0].base, regs[0].size), (regs[1].base, regs[1].size)]);
        match self.version {
            GicVersion::V2 => node,
            GicVersion::V3 => node.cells("#redistributor-regions", &[1]),
        }
    }

    /// Handles an MMIO read (see [`Device::read`]); never fails.
    pub fn mmio_read(&mut self, info: AccessInfo) -> u64 {
        if info.cpu >= self.cpus.len() {
            tracing::debug!(gic = %self.name, cpu = info.cpu, "GIC access from an unknown core reads as zero");
            return 0;
        }
        match (info.region, self.version) {
            (0, _) => self.dist_read(info.cpu, info.offset, info.size),
            (_, GicVersion::V2) => self.cpuif_read(info.cpu, info.offset, info.size, info.debug),
            (_, GicVersion::V3) => self.redist_read(info.offset, info.size),
        }
    }

    /// Handles an MMIO write (see [`Device::write`]); never fails.
    pub fn mmio_write(&mut self, info: AccessInfo, value: u64) {
        if info.cpu >= self.cpus.len() {
            tracing::debug!(gic = %self.name, cpu = info.cpu, "GIC write from an unknown core ignored");
            return;
        }
        match (info.region, self.version) {
            (0, _) => self.dist_write(info.cpu, info.offset, info.size, value),
            (_, GicVersion::V2) => self.cpuif_write(info.cpu, info.offset, info.size, value),
            (_, GicVersion::V3) => self.redist_write(info.offset, info.size, value),
        }
    }

    /// Logs an access the GIC ignores.
    fn bad_access(&self, what: &str, offset: u64, size: u8) {
        tracing::debug!(
            gic = %self.name,
            offset = format_args!("{offset:#x}"),
            size,
            "GIC {what}: reserved offset or unsupported size, RAZ/WI"
        );
    }

    // ---- the interrupt state machine, shared by v2 and v3 ----

    /// Number of INTIDs (SGIs + PPIs + SPIs).
    fn num_irqs(&self) -> u32 {
        32 + self.num_spis
    }

    fn bank(&self, cpu: usize, intid: u32) -> &Bank {
        if intid < 32 {
            &self.cpus[cpu].private
        } else {
            &self.spis[(intid / 32 - 1) as usize]
        }
    }

    fn bank_mut(&mut self, cpu: usize, intid: u32) -> &mut Bank {
        if intid < 32 {
            &mut self.cpus[cpu].private
        } else {
            &mut self.spis[(intid / 32 - 1) as usize]
        }
    }

    /// Whether SPI `intid` is offered to `cpu`.
    fn spi_routes_to(&self, intid: u32, cpu: usize) -> bool {
        let i = (intid - 32) as usize;
        match self.version {
            GicVersion::V2 => self.cpus.len() == 1 || self.targets[i] & (1 << cpu) != 0,
            GicVersion::V3 => {
                let r = self.route[i];
                if r & v3::IROUTER_IRM != 0 {
                    !self.cpus[cpu].asleep
                } else {
                    r & AFF_MASK == self.cpus[cpu].affinity
                }
            }
        }
    }

    /// Whether `group` is enabled at the CPU interface of `cpu`.
    fn cpu_group_enabled(&self, cpu: usize, group: usize) -> bool {
        let c = &self.cpus[cpu];
        match self.version {
            GicVersion::V2 => c.ctlr & (1 << group) != 0,
            GicVersion::V3 => c.igrpen[group],
        }
    }

    /// The highest priority pending interrupt of `cpu` (see the module docs).
    fn hppi(&self, cpu: usize) -> Option<Hppi> {
        let g0 = self.dist_ctlr & 1 != 0 && self.cpu_group_enabled(cpu, 0);
        let g1 = self.dist_ctlr & 2 != 0 && self.cpu_group_enabled(cpu, 1);
        if !g0 && !g1 {
            return None;
        }
        let mut best: Option<Hppi> = None;
        let banks = std::iter::once((0u32, &self.cpus[cpu].private))
            .chain(self.spis.iter().enumerate().map(|(i, b)| (32 * (i as u32 + 1), b)));
        for (base, bank) in banks {
            let groups = (if g0 { !bank.group } else { 0 }) | (if g1 { bank.group } else { 0 });
            let mut cand = bank.pending() & bank.enabled & !bank.active & groups;
            while cand != 0 {
                let bit = cand.trailing_zeros();
                cand &= cand - 1;
                let intid = base + bit;
                if intid >= 32 && !self.spi_routes_to(intid, cpu) {
                    continue;
                }
                let priority = bank.priority[bit as usize];
                if best.is_none_or(|b| priority < b.priority) {
                    best = Some(Hppi {
                        intid,
                        priority,
                        group: ((bank.group >> bit) & 1) as usize,
                    });
                }
            }
        }
        best
    }

    /// The running priority of `cpu`: that of the highest active priority
    /// bit, or 0xFF.
    fn running_priority(&self, cpu: usize) -> u8 {
        let a = self.cpus[cpu].apr[0] | self.cpus[cpu].apr[1];
        if a == 0 {
            IDLE_PRIORITY
        } else {
            (a.trailing_zeros() << 3) as u8
        }
    }

    /// Whether the CPU interface uses BPR0 for both groups.
    fn cbpr(&self, cpu: usize) -> bool {
        match self.version {
            GicVersion::V2 => self.cpus[cpu].ctlr & v2::CTLR_CBPR != 0,
            GicVersion::V3 => self.cpus[cpu].ctlr & v3::CTLR_CBPR != 0,
        }
    }

    /// Mask selecting the group priority bits for interrupts of `group`.
    fn group_priority_mask(&self, cpu: usize, group: usize) -> u8 {
        let c = &self.cpus[cpu];
        let shift = if group == 0 || self.cbpr(cpu) {
            c.bpr0 + 1
        } else {
            c.bpr1
        };
        (0xffu32 << shift) as u8 & PRIO_MASK
    }

    /// Whether `h` has sufficient priority to be signalled to `cpu`.
    fn can_signal(&self, cpu: usize, h: Hppi) -> bool {
        let c = &self.cpus[cpu];
        if self.version == GicVersion::V3 && c.asleep {
            return false;
        }
        h.priority < c.pmr && (h.priority & self.group_priority_mask(cpu, h.group)) < self.running_priority(cpu)
    }

    /// Whether EOI also deactivates (EOImode clear).
    fn eoi_deactivates(&self, cpu: usize) -> bool {
        match self.version {
            GicVersion::V2 => self.cpus[cpu].ctlr & v2::CTLR_EOIMODE_S == 0,
            GicVersion::V3 => self.cpus[cpu].ctlr & v3::CTLR_EOIMODE == 0,
        }
    }

    /// Recomputes `cpu`'s IRQ/FIQ outputs.
    fn update_cpu(&mut self, cpu: usize) {
        let (irq, fiq) = match self.hppi(cpu) {
            Some(h) if self.can_signal(cpu, h) => {
                let fiq = h.group == 0
                    && match self.version {
                        GicVersion::V2 => self.cpus[cpu].ctlr & v2::CTLR_FIQEN != 0,
                        GicVersion::V3 => true,
                    };
                (!fiq, fiq)
            }
            _ => (false, false),
        };
        let lines = &self.cpus[cpu].lines;
        lines.set(IRQ, irq);
        lines.set(FIQ, fiq);
    }

    /// Recomputes every core's outputs.
    fn update_all(&mut self) {
        for cpu in 0..self.cpus.len() {
            self.update_cpu(cpu);
        }
    }

    /// Recomputes the outputs of the cores `intid`'s state can affect.
    fn update_for(&mut self, cpu: usize, intid: u32) {
        if intid < 32 {
            self.update_cpu(cpu);
        } else {
            self.update_all();
        }
    }

    /// The value HPPIR shows for `h` (v2 SGIs carry their lowest source).
    fn hppi_value(&self, cpu: usize, h: Hppi) -> u32 {
        if self.version == GicVersion::V2 && h.intid < 16 {
            let src = self.cpus[cpu].sgi_src[h.intid as usize];
            h.intid | (src.trailing_zeros() << 10)
        } else {
            h.intid
        }
    }

    /// HPPIR: the highest priority pending interrupt, if in `group` (or
    /// any group), else 1023.
    fn read_hppir(&self, cpu: usize, group: Option<usize>) -> u32 {
        match self.hppi(cpu) {
            Some(h) if group.is_none_or(|g| g == h.group) => self.hppi_value(cpu, h),
            _ => SPURIOUS,
        }
    }

    /// IAR: acknowledges the highest priority pending interrupt if it can
    /// be signalled and is in `group` (or any group). `peek` reports what
    /// would be acknowledged without changing anything (debug reads).
    fn acknowledge(&mut self, cpu: usize, group: Option<usize>, peek: bool) -> u32 {
        let Some(h) = self.hppi(cpu) else {
            return SPURIOUS;
        };
        if !self.can_signal(cpu, h) || group.is_some_and(|g| g != h.group) {
            return SPURIOUS;
        }
        let value = self.hppi_value(cpu, h);
        if peek {
            return value;
        }
        let bit = h.intid % 32;
        let m = 1u32 << bit;
        if self.version == GicVersion::V2 && h.intid < 16 {
            let c = &mut self.cpus[cpu];
            let src = &mut c.sgi_src[h.intid as usize];
            *src &= src.wrapping_sub(1);
            if *src == 0 {
                c.private.latch &= !m;
            }
        } else {
            self.bank_mut(cpu, h.intid).latch &= !m;
        }
        self.bank_mut(cpu, h.intid).active |= m;
        let gp = h.priority & self.group_priority_mask(cpu, h.group);
        self.cpus[cpu].apr[h.group] |= 1 << (gp >> 3);
        self.update_for(cpu, h.intid);
        value
    }

    /// Priority drop: clears the highest active priority (preferring the
    /// bit of `group` if both groups somehow have it).
    fn priority_drop(&mut self, cpu: usize, group: usize) {
        let apr = &mut self.cpus[cpu].apr;
        let a = apr[0] | apr[1];
        if a == 0 {
            return;
        }
        let low = a & a.wrapping_neg();
        if apr[group] & low != 0 {
            apr[group] &= !low;
        } else {
            apr[group ^ 1] &= !low;
        }
    }

    /// Clears the active state of `intid` as seen from `cpu`.
    fn deactivate(&mut self, cpu: usize, intid: u32) {
        if intid >= self.num_irqs() {
            tracing::debug!(gic = %self.name, intid, "deactivation of a nonexistent interrupt ignored");
            return;
        }
        self.bank_mut(cpu, intid).active &= !(1 << (intid % 32));
        self.update_for(cpu, intid);
    }

    /// EOIR write of `intid` for `group`.
    fn end_of_interrupt(&mut self, cpu: usize, intid: u32, group: usize) {
        if intid >= 1020 {
            // Special INTIDs: no effect.
            return;
        }
        if intid >= self.num_irqs() {
            tracing::debug!(gic = %self.name, intid, "EOI of a nonexistent interrupt ignored");
            return;
        }
        self.priority_drop(cpu, group);
        if self.eoi_deactivates(cpu) {
            self.deactivate(cpu, intid);
        } else {
            self.update_cpu(cpu);
        }
    }

    /// DIR write.
    fn deactivate_interrupt(&mut self, cpu: usize, intid: u32) {
        if intid >= 1020 {
            return;
        }
        // With EOImode clear a DIR write is UNPREDICTABLE; deactivating is
        // one of the permitted behaviours.
        self.deactivate(cpu, intid);
    }

    /// Makes SGI `sgi` pending on `target`, requested by `src`.
    fn send_sgi(&mut self, src: usize, target: usize, sgi: u32) {
        let c = &mut self.cpus[target];
        if self.version == GicVersion::V2 {
            c.sgi_src[sgi as usize] |= 1 << src;
        }
        c.private.latch |= 1 << sgi;
        self.update_cpu(target);
    }
}

fn save_bank(w: &mut StateWriter, b: &Bank) {
    for v in [b.group, b.enabled, b.latch, b.active, b.level, b.edge] {
        w.u32(v);
    }
    for &p in &b.priority {
        w.u8(p);
    }
}

fn restore_bank(r: &mut StateReader<'_>) -> Result<Bank, StateError> {
    let mut b = Bank {
        group: r.u32("group")?,
        enabled: r.u32("enabled")?,
        latch: r.u32("pending")?,
        active: r.u32("active")?,
        level: r.u32("level")?,
        edge: r.u32("config")?,
        priority: [0; 32],
    };
    for p in &mut b.priority {
        *p = r.u8("priority")?;
    }
    Ok(b)
}

impl Gic {
    /// Whether input `intid` (a PPI) of `cpu` is high: a restored machine
    /// starts its timer forwarding from the restored levels.
    pub fn ppi_level(&self, cpu: usize, intid: u32) -> bool {
        intid < 32 && self.cpus.get(cpu).is_some_and(|c| c.private.level >> intid & 1 != 0)
    }

    /// Every register and input level (distributor, redistributors, CPU
    /// interfaces), for a snapshot.
    pub fn save_state(&self, w: &mut StateWriter) {
        w.u8(match self.version {
            GicVersion::V2 => 2,
            GicVersion::V3 => 3,
        });
        w.u32(self.cpus.len() as u32);
        w.u32(self.num_spis);
        w.u32(self.dist_ctlr);
        for c in &self.cpus {
            save_bank(w, &c.private);
            for &s in &c.sgi_src {
                w.u8(s);
            }
            w.u32(c.ctlr);
            w.u8(c.pmr);
            w.u8(c.bpr0);
            w.u8(c.bpr1);
            w.u32(c.apr[0]);
            w.u32(c.apr[1]);
            w.bool(c.igrpen[0]);
            w.bool(c.igrpen[1]);
            w.bool(c.asleep);
        }
        for b in &self.spis {
            save_bank(w, b);
        }
        for &t in &self.targets {
            w.u8(t);
        }
        for &r in &self.route {
            w.u64(r);
        }
    }

    /// Takes back [`Gic::save_state`]'s bytes for a GIC of the same
    /// version, core count and SPI count, then drives the cores' lines
    /// from the restored state. Nothing changes if the bytes are refused.
    pub fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let version = r.u8("version")?;
        let want = match self.version {
            GicVersion::V2 => 2,
            GicVersion::V3 => 3,
        };
        if version != want {
            return Err(r.invalid("version", format!("GICv{version}, this board has GICv{want}")));
        }
        let n = r.u32("cpus")?;
        if n as usize != self.cpus.len() {
            return Err(r.invalid("cpus", format!("{n}, this board has {}", self.cpus.len())));
        }
        let spis = r.u32("spis")?;
        if spis != self.num_spis {
            return Err(r.invalid("spis", format!("{spis}, this board has {}", self.num_spis)));
        }
        let dist_ctlr = r.u32("GICD_CTLR")?;
        let mut cpus = self.cpus.clone();
        for c in &mut cpus {
            c.private = restore_bank(r)?;
            for s in &mut c.sgi_src {
                *s = r.u8("sgi_src")?;
            }
            c.ctlr = r.u32("ctlr")?;
            c.pmr = r.u8("pmr")?;
            c.bpr0 = r.u8("bpr0")?;
            c.bpr1 = r.u8("bpr1")?;
            c.apr = [r.u32("apr0")?, r.u32("apr1")?];
            c.igrpen = [r.bool("igrpen0")?, r.bool("igrpen1")?];
            c.asleep = r.bool("asleep")?;
        }
        let mut banks = Vec::with_capacity(self.spis.len());
        for _ in 0..self.spis.len() {
            banks.push(restore_bank(r)?);
        }
        let mut targets = self.targets.clone();
        for t in &mut targets {
            *t = r.u8("targets")?;
        }
        let mut route = self.route.clone();
        for v in &mut route {
            *v = r.u64("route")?;
        }
        self.cpus = cpus;
        self.spis = banks;
        self.targets = targets;
        self.route = route;
        self.dist_ctlr = dist_ctlr;
        self.update_all();
        Ok(())
    }
}

impl InterruptController for Gic {
    fn set_spi(&mut self, spi: u32, level: bool) {
        if spi >= self.num_spis {
            tracing::debug!(gic = %self.name, spi, "input on a nonexistent SPI ignored");
            return;
        }
        let intid = spi + 32;
        if self.bank_mut(0, intid).set_line(intid % 32, level) {
            self.update_all();
        }
    }

    fn set_ppi(&mut self, cpu: usize, intid: u32, level: bool) {
        if cpu >= self.cpus.len() || !(16..32).contains(&intid) {
            tracing::debug!(gic = %self.name, cpu, intid, "input on a nonexistent PPI ignored");
            return;
        }
        if self.cpus[cpu].private.set_line(intid, level) {
            self.update_cpu(cpu);
        }
    }
}

impl CpuInterfaceRegs for Gic {
    fn sysreg_read(&mut self, cpu: usize, id: SysRegId, el: u8) -> Option<u64> {
        if self.version != GicVersion::V3 || cpu >= self.cpus.len() {
            return None;
        }
        self.icc_read(cpu, id, el)
    }

    fn sysreg_write(&mut self, cpu: usize, id: SysRegId, el: u8, value: u64) -> bool {
        if self.version != GicVersion::V3 || cpu >= self.cpus.len() {
            return false;
        }
        self.icc_write(cpu, id, el, value)
    }
}

/// The bus's view of a shared [`Gic`]: its MMIO windows and DT node.
pub struct GicMmio {
    gic: Arc<Mutex<Gic>>,
    name: String,
    regions: Vec<MmioRegion>,
}

impl GicMmio {
    /// A device for the bus that locks `gic` for each access.
    pub fn new(gic: Arc<Mutex<Gic>>) -> Self {
        let (name, regions) = {
            let g = gic.lock().unwrap_or_else(PoisonError::into_inner);
            (g.name.clone(), g.regions())
        };
        GicMmio { gic, name, regions }
    }

    /// The shared GIC.
    pub fn gic(&self) -> &Arc<Mutex<Gic>> {
        &self.gic
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gic> {
        self.gic.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Device for GicMmio {
    fn name(&self) -> &str {
        &self.name
    }

    fn regions(&self) -> Vec<MmioRegion> {
        self.regions.clone()
    }

    fn read(&mut self, info: AccessInfo) -> Result<u64, AccessRejected> {
        Ok(self.lock().mmio_read(info))
    }

    fn write(&mut self, info: AccessInfo, value: u64) -> Result<(), AccessRejected> {
        self.lock().mmio_write(info, value);
        Ok(())
    }

    fn dt_node(&self) -> Option<Node> {
        Some(self.lock().dt_node())
    }

    fn save_state(&self, w: &mut StateWriter) -> Result<(), StateError> {
        self.lock().save_state(w);
        Ok(())
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        self.lock().restore_state(r)
    }
}

impl std::fmt::Debug for GicMmio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GicMmio")
            .field("name", &self.name)
            .field("regions", &self.regions)
            .finish()
    }
}
