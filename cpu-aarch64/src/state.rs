//! Architectural state of one core.

use crate::isa::Op;
use crate::sysreg::SysRegs;

/// PSTATE, held as separate fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PState {
    /// N, Z, C, V in bits 31:28 (other bits zero).
    pub nzcv: u32,
    /// D, A, I, F in bits 3:0 (D = bit 3).
    pub daif: u32,
    /// Current exception level, 0..=3.
    pub el: u8,
    /// SPSel: true selects SP_ELx, false SP_EL0.
    pub sp: bool,
    /// Illegal execution state.
    pub il: bool,
    /// Software step.
    pub ss: bool,
    /// Privileged access never (FEAT_PAN): EL1/EL2 data accesses to
    /// EL0-accessible pages fault.
    pub pan: bool,
}

impl PState {
    /// The SPSR_ELx image of this PSTATE (AArch64 format).
    pub fn to_spsr(&self) -> u64 {
        u64::from(self.nzcv & 0xf000_0000)
            | (u64::from(self.pan) << 22)
            | (u64::from(self.ss) << 21)
            | (u64::from(self.il) << 20)
            | (u64::from(self.daif & 0xf) << 6)
            | (u64::from(self.el) << 2)
            | u64::from(self.sp)
    }

    /// Restores the fields an exception return restores from `spsr`; EL and
    /// SPSel are the caller's (they depend on the legality checks). An
    /// illegal return sets IL instead.
    pub fn set_from_spsr(&mut self, spsr: u64, legal: bool) {
        self.nzcv = (spsr as u32) & 0xf000_0000;
        self.daif = ((spsr >> 6) & 0xf) as u32;
        self.ss = spsr >> 21 & 1 == 1;
        self.pan = spsr >> 22 & 1 == 1;
        self.il = !legal || spsr >> 20 & 1 == 1;
    }
}

/// Fixed properties of a core, set by the board.
#[derive(Clone, Debug)]
pub struct CpuConfig {
    /// MIDR_EL1 (implementer, part number, revision).
    pub midr: u64,
    /// MPIDR_EL1 (affinity; bit 31 is RES1).
    pub mpidr: u64,
    /// Treat `HLT #0xF000` as a semihosting call.
    pub semihosting: bool,
    /// EL2 is implemented.
    pub has_el2: bool,
    /// EL3 is implemented.
    pub has_el3: bool,
    /// The exception level the core resets into (1, or an implemented 2/3).
    pub reset_el: u8,
    /// The GICv3 system-register CPU interface (ICC_*) is present: the core
    /// forwards those accesses to [`crate::Bus::gic_sysreg_read`] /
    /// [`crate::Bus::gic_sysreg_write`] and ID_AA64PFR0_EL1.GIC says so.
    pub gic_sysregs: bool,
    /// Firmware emulated above the guest: HVC (when EL2 is absent) or SMC
    /// (when EL3 is absent) through this conduit stops the core with
    /// [`crate::StepEvent::FirmwareCall`] for the machine to answer (PSCI).
    pub firmware_conduit: Option<Conduit>,
    /// The system counter's source; the machine gives all its cores one.
    pub time: crate::timer::TimeBase,
}

/// The instruction that calls firmware emulated by the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// HVC #0.
    Hvc,
    /// SMC #0.
    Smc,
}

impl CpuConfig {
    /// A Cortex-A57 (r1p0, MIDR as QEMU reports it) whose MPIDR_EL1
    /// affinity fields are `affinity` (Aff3..Aff0 as in the device tree's
    /// cpu `reg`); bit 31 (RES1) is added here.
    pub fn cortex_a57(affinity: u64) -> Self {
        CpuConfig {
            midr: 0x411f_d070,
            mpidr: (1 << 31) | affinity,
            semihosting: true,
            has_el2: false,
            has_el3: false,
            reset_el: 1,
            gic_sysregs: false,
            firmware_conduit: None,
            time: crate::timer::TimeBase::default(),
        }
    }
}

/// Size of the decoded-instruction cache (entries, a power of two).
const DECODE_CACHE: usize = 4096;

/// One core: registers, PSTATE, system registers, and the interpreter's
/// small caches.
#[derive(Clone)]
pub struct Cpu {
    /// Index of this core in the machine.
    pub id: usize,
    /// X0..X30.
    pub x: [u64; 31],
    /// V0..V31 (the SIMD&FP registers; B/H/S/D views are the low bits).
    pub v: [u128; 32],
    /// SP_EL0..SP_EL3.
    pub sp_el: [u64; 4],
    /// Program counter.
    pub pc: u64,
    /// PSTATE.
    pub pstate: PState,
    /// System registers.
    pub sys: SysRegs,
    /// Fixed configuration.
    pub config: CpuConfig,
    /// The local exclusive monitor: (address, size) armed by a
    /// load-exclusive.
    pub monitor: Option<(u64, u8)>,
    /// Instructions retired.
    pub icount: u64,
    /// Interrupt inputs, driven by the interrupt controller and sampled
    /// at instruction boundaries.
    pub irq: crate::irq::IrqLines,
    /// The event register (WFE): set by SEV/SEVL, an exception return or
    /// the machine (another core's SEV, see [`Cpu::sent_event`]); WFE
    /// clears it and continues instead of waiting.
    pub event: bool,
    /// Set when this core executed SEV: the machine sets the other cores'
    /// [`Cpu::event`] (waking those in WFE) and clears this flag.
    pub sent_event: bool,
    /// Stage 1 translations cached by [`Cpu::translate`].
    pub tlb: crate::mmu::Tlb,
    /// Inner-shareable TLBIs this core executed, for the machine to apply
    /// to every other core after the time slice ([`crate::mmu::tlb::deliver_broadcasts`]).
    pub broadcast_tlbi: Vec<crate::mmu::Tlbi>,
    /// Breakpoints, watchpoints and stepping state set by a debugger.
    pub debug: crate::debug::DebugState,
    /// Decoded-op cache keyed by instruction word (so it can never be stale).
    pub(crate) decoded: Box<[(u32, Option<Op>)]>,
}

impl Cpu {
    /// A core in its reset state at `config.reset_el` (EL1 by default, like
    /// QEMU `virt` without EL2/EL3; an EL the core does not implement falls
    /// back to the highest one below it), SP_ELx selected, all interrupts
    /// masked, PC = `entry`. See [`Cpu::power_on`] for the system registers
    /// that depend on the reset EL.
    pub fn new(id: usize, config: CpuConfig, entry: u64) -> Self {
        let sys = SysRegs::new(&config);
        let el = config.reset_el;
        let mut cpu = Cpu {
            id,
            x: [0; 31],
            v: [0; 32],
            sp_el: [0; 4],
            pc: entry,
            pstate: PState::default(),
            sys,
            config,
            monitor: None,
            icount: 0,
            irq: crate::irq::IrqLines::new(),
            event: false,
            sent_event: false,
            tlb: crate::mmu::Tlb::default(),
            broadcast_tlbi: Vec::new(),
            debug: Default::default(),
            decoded: vec![(0u32, None); DECODE_CACHE].into_boxed_slice(),
        };
        cpu.power_on(entry, 0, el);
        cpu
    }

    /// Resets the core to the board's boot EL (`config.reset_el`) at
    /// `entry`: [`Cpu::power_on`] with X0 = 0.
    pub fn reset(&mut self, entry: u64) {
        let el = self.config.reset_el;
        self.power_on(entry, 0, el);
    }

    /// Powers the core on (PSCI CPU_ON, or a reset): every register and
    /// system register back to its reset value, PSTATE at `el` with SP_ELx
    /// selected and DAIF masked, PC = `entry`, X0 = `context_id`. The
    /// configuration, the time base, the interrupt lines (shared with the
    /// interrupt controller) and the instruction count are kept.
    ///
    /// The security and EL2 configuration is what firmware above `el`
    /// would have left behind: entering at EL3, SCR_EL3 is at its reset
    /// value (Secure, nothing routed to EL3); entering at EL2 or EL1 with
    /// EL3 implemented, SCR_EL3 has NS = 1 (Non-secure), RW = 1 and HCE = 1
    /// (HVC enabled, as TF-A leaves it for a hypervisor or OS). HCR_EL2 is
    /// at its reset value (only RW set), so an EL2 nobody programs is
    /// transparent to an EL1 entry. RVBAR_EL3 reads `entry`.
    pub fn power_on(&mut self, entry: u64, context_id: u64, el: u8) {
        let el = match el {
            3 if self.config.has_el3 => 3,
            2 | 3 if self.config.has_el2 => 2,
            _ => 1,
        };
        let warned = std::mem::take(&mut self.sys.warned);
        let sink = self.sys.timer_sink.take();
        self.sys = SysRegs::new(&self.config);
        self.sys.warned = warned;
        self.sys.timer_sink = sink;
        self.sys.set(crate::sysreg::SysReg::RVBAR_EL3, entry & !3);
        if el < 3 && self.config.has_el3 {
            use crate::sysreg::scr;
            let v = self.sys.get(crate::sysreg::SysReg::SCR_EL3) | scr::NS | scr::RW | scr::HCE;
            self.sys.set(crate::sysreg::SysReg::SCR_EL3, v);
        }
        self.x = [0; 31];
        self.x[0] = context_id;
        self.v = [0; 32];
        self.sp_el = [0; 4];
        self.pc = entry;
        self.pstate = PState {
            nzcv: 0,
            daif: 0xf,
            el,
            sp: true,
            il: false,
            ss: false,
            pan: false,
        };
        self.monitor = None;
        self.event = false;
        self.sent_event = false;
        self.tlb.flush();
    }

    /// The stack pointer currently selected by PSTATE.{EL, SP}.
    #[inline]
    pub fn sp(&self) -> u64 {
        self.sp_el[self.sp_index()]
    }

    /// Writes the stack pointer currently selected.
    #[inline]
    pub fn set_sp(&mut self, v: u64) {
        let i = self.sp_index();
        self.sp_el[i] = v;
    }

    #[inline]
    fn sp_index(&self) -> usize {
        if self.pstate.sp {
            usize::from(self.pstate.el)
        } else {
            0
        }
    }

    /// The decoded row for instruction word `raw`, through the cache.
    #[inline]
    pub fn decode_cached(&mut self, raw: u32) -> Option<Op> {
        let h = (raw ^ (raw >> 11) ^ (raw >> 22)) as usize & (DECODE_CACHE - 1);
        let slot = &mut self.decoded[h];
        if slot.0 == raw {
            return slot.1;
        }
        let op = crate::isa::decode(raw);
        *slot = (raw, op);
        op
    }
}
