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
    /// Stage 1 translations cached by [`Cpu::translate`].
    pub tlb: crate::mmu::Tlb,
    /// Decoded-op cache keyed by instruction word (so it can never be stale).
    pub(crate) decoded: Box<[(u32, Option<Op>)]>,
}

impl Cpu {
    /// A core in its reset state at EL1 (like QEMU `virt` without EL2/EL3),
    /// SP_EL1 selected, all interrupts masked, PC = `entry`.
    pub fn new(id: usize, config: CpuConfig, entry: u64) -> Self {
        let sys = SysRegs::new(&config);
        Cpu {
            id,
            x: [0; 31],
            v: [0; 32],
            sp_el: [0; 4],
            pc: entry,
            pstate: PState {
                nzcv: 0,
                daif: 0xf,
                el: 1,
                sp: true,
                il: false,
                ss: false,
                pan: false,
            },
            sys,
            config,
            monitor: None,
            icount: 0,
            irq: crate::irq::IrqLines::new(),
            tlb: crate::mmu::Tlb::default(),
            decoded: vec![(0u32, None); DECODE_CACHE].into_boxed_slice(),
        }
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
