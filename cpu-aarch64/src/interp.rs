//! The reference engine: an [`Emitter`] that evaluates each operation on
//! the spot, and the fetch/decode/execute loop around it.

use crate::bus::{AccessKind, Bus, PhysAddr, Requester};
use crate::exception::{sysreg_trap_iss, Exception, Fault};
use crate::isa::{condition_holds, sext};
use crate::mmu::{AccessType, MemType};
use crate::sem::{
    self, AtomicOp, Barrier, BinOp, BranchKind, CryptoOp, Emitter, FpOp, FpSize, Hint, InsnException, MemAccess, QOp,
    SatOp, SysRegId, UnOp, Width,
};
use crate::state::Cpu;
use crate::sysreg::{hcr, sctlr, SysReg, SysRegError, DCZVA_BYTES};

/// Why an instruction stopped before completing normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// An exception was taken; the core is already at the vector.
    Exception,
    /// `HLT #0xF000` with semihosting enabled: PC still points at the HLT.
    Semihosting,
    /// WFI completed: the core may sleep until an interrupt is pending
    /// ([`Cpu::interrupt_pending_for_wake`]). PC is past the WFI.
    WaitForInterrupt,
    /// WFE found the event register clear: the core may sleep until its
    /// event register is set or an interrupt is pending. PC is past the WFE.
    WaitForEvent,
    /// HVC/SMC through the board's firmware conduit: PC is past it.
    FirmwareCall,
    /// A breakpoint or watchpoint stopped the instruction at PC before it
    /// took effect (see `Cpu::debug`'s `hit`).
    Debug,
}

/// What [`Cpu::run`] returns when it stops early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepEvent {
    /// The instruction budget ran out.
    Budget,
    /// A semihosting call is pending: service it, write X0, then call
    /// [`Cpu::finish_semihosting`].
    Semihosting,
    /// The core executed WFI with no interrupt pending: it may sleep until
    /// [`Cpu::interrupt_pending_for_wake`] (PC is already past the WFI).
    WaitForInterrupt,
    /// The core executed WFE with its event register clear: it may sleep
    /// until [`Cpu::event`] is set (another core's SEV, see
    /// [`Cpu::sent_event`]) or [`Cpu::interrupt_pending_for_wake`]. PC is
    /// already past the WFE; waking it early is always allowed.
    WaitForEvent,
    /// HVC/SMC through the board's firmware conduit (see
    /// `CpuConfig::firmware_conduit`): the call's arguments are in X0-X7 and
    /// PC is already past the instruction; the machine writes the results
    /// to X0-X3 and resumes the core.
    FirmwareCall,
    /// A debugger breakpoint or watchpoint stopped the core (what was hit
    /// is in `Cpu::debug`'s `hit`); PC is at the instruction, which has
    /// not executed.
    Debug,
    /// The guest cannot make progress: it is stuck in an exception loop
    /// (e.g. a fault at the vector itself).
    Fatal(String),
}

/// Consecutive exceptions without a retired instruction after which the
/// guest is declared stuck (e.g. VBAR points at unmapped memory).
const EXCEPTION_LOOP_LIMIT: u32 = 64;

/// Notices a core taking exception after exception without retiring an
/// instruction (e.g. VBAR pointing at unmapped memory), for every engine's
/// run loop.
#[derive(Debug, Default)]
pub struct StuckDetector {
    count: u32,
    /// Instruction count at the last exception.
    at: u64,
    /// The first exception of the run: (EL, ESR, ELR, FAR).
    first: (u8, u64, u64, u64),
}

impl StuckDetector {
    /// Call after `cpu` took an exception; returns the fatal message once
    /// [`EXCEPTION_LOOP_LIMIT`] were taken with nothing retired.
    pub fn exception_taken(&mut self, cpu: &Cpu) -> Option<String> {
        let el = cpu.pstate.el;
        let (_, elr_r, esr_r, far_r, vbar_r) = crate::exception::el_regs(el);
        let syndrome = (el, cpu.sys.get(esr_r), cpu.sys.get(elr_r), cpu.sys.get(far_r));
        if self.count == 0 || self.at != cpu.icount {
            self.count = 0;
            self.at = cpu.icount;
            self.first = syndrome;
        }
        self.count += 1;
        if self.count < EXCEPTION_LOOP_LIMIT {
            return None;
        }
        let (el, esr, elr, far) = syndrome;
        let (fel, fesr, felr, ffar) = self.first;
        Some(format!(
            "core {} is stuck taking exceptions without executing an instruction \
             (VBAR_EL{el}={:#x}): the first was ESR_EL{fel}={fesr:#x} at ELR_EL{fel}={felr:#x} \
             FAR_EL{fel}={ffar:#x}, the last ESR_EL{el}={esr:#x} at ELR_EL{el}={elr:#x} \
             FAR_EL{el}={far:#x}",
            cpu.id,
            cpu.sys.get(vbar_r),
        ))
    }
}

/// The evaluating emitter: values are plain `u64`s.
pub struct Eval<'a, B: Bus + ?Sized> {
    cpu: &'a mut Cpu,
    bus: &'a mut B,
    pc: u64,
    next_pc: u64,
    /// The instruction word (for syndromes that quote its encoding).
    raw: u32,
}

impl<'a, B: Bus + ?Sized> Eval<'a, B> {
    /// Evaluates the instruction `raw` at `pc` on `cpu`.
    fn at(cpu: &'a mut Cpu, bus: &'a mut B, pc: u64, raw: u32) -> Self {
        Eval {
            cpu,
            bus,
            pc,
            next_pc: pc.wrapping_add(4),
            raw,
        }
    }
}

impl<B: Bus + ?Sized> Eval<'_, B> {
    /// Takes `exc` at its default EL (EL1 from EL0, or EL2 under
    /// HCR_EL2.TGE; else the current EL).
    fn fault(&mut self, exc: Exception) -> StopReason {
        self.cpu.take_exception(exc, self.pc);
        StopReason::Exception
    }

    /// Takes `exc` at `el` (see [`Cpu::take_exception_to`]).
    fn fault_to(&mut self, exc: Exception, el: u8) -> StopReason {
        self.cpu.take_exception_to(exc, self.pc, el);
        StopReason::Exception
    }

    /// This MSR/MRS/SYS instruction trapped to `el` (EC 0x18 with the
    /// instruction's encoding); 1 means EL1, or EL2 from EL0 under TGE.
    fn sysreg_trap(&mut self, el: u8) -> StopReason {
        let iss = sysreg_trap_iss(self.raw);
        self.fault_to(Exception::SysRegTrap { iss }, el)
    }

    /// HVC (AArch64 pseudocode order): UNDEFINED at EL0; without EL2 the
    /// board's firmware conduit answers or it is UNDEFINED; UNDEFINED in
    /// Secure EL1 and when disabled (SCR_EL3.HCE = 0 with EL3, else
    /// HCR_EL2.HCD = 1); taken to EL2 (EL3 when executed there), EC 0x16.
    fn hvc(&mut self, imm: u16) -> Result<(), StopReason> {
        let el = self.cpu.pstate.el;
        if el == 0 {
            return Err(self.fault(Exception::Undefined));
        }
        if !self.cpu.config.has_el2 {
            // Whatever the immediate (SMCCC asks for 0; QEMU's emulated
            // firmware answers any, and so do we).
            if self.cpu.config.firmware_conduit == Some(crate::state::Conduit::Hvc) {
                return Err(StopReason::FirmwareCall);
            }
            return Err(self.fault(Exception::Undefined));
        }
        let enabled = if self.cpu.config.has_el3 {
            self.cpu.sys.get(SysReg::SCR_EL3) & crate::sysreg::scr::HCE != 0
        } else {
            self.cpu.sys.get(SysReg::HCR_EL2) & hcr::HCD == 0
        };
        if (el == 1 && !self.cpu.el2_enabled()) || !enabled {
            return Err(self.fault(Exception::Undefined));
        }
        Err(self.fault_to(Exception::Hvc(imm), if el == 3 { 3 } else { 2 }))
    }

    /// SMC: UNDEFINED at EL0; at EL1 trapped to EL2 by HCR_EL2.TSC (EC
    /// 0x17, returning to the SMC); without EL3 the firmware conduit
    /// answers or it is UNDEFINED; UNDEFINED with SCR_EL3.SMD; else taken
    /// to EL3 (EC 0x17, returning after the SMC).
    fn smc(&mut self, imm: u16) -> Result<(), StopReason> {
        let el = self.cpu.pstate.el;
        if el == 0 {
            return Err(self.fault(Exception::Undefined));
        }
        if el == 1 && self.cpu.sys.hcr() & hcr::TSC != 0 {
            return Err(self.fault_to(Exception::SmcTrap(imm), 2));
        }
        if !self.cpu.config.has_el3 {
            if self.cpu.config.firmware_conduit == Some(crate::state::Conduit::Smc) {
                return Err(StopReason::FirmwareCall);
            }
            return Err(self.fault(Exception::Undefined));
        }
        if self.cpu.sys.get(SysReg::SCR_EL3) & crate::sysreg::scr::SMD != 0 {
            return Err(self.fault(Exception::Undefined));
        }
        Err(self.fault_to(Exception::Smc(imm), 3))
    }

    /// A GICv3 CPU-interface register (ICC_*) when the core has the
    /// system-register interface: ICC_PMR_EL1 (3,0,4,6,0), the EL1 block
    /// (3,0,12,8..=12,*), ICC_SRE_EL2, and ICC_CTLR/SRE/IGRPEN1_EL3. The
    /// value is the EL needed to access it.
    fn icc_min_el(&self, id: SysRegId) -> Option<u8> {
        if !self.cpu.config.gic_sysregs {
            return None;
        }
        match id.fields() {
            (3, 0, 4, 6, 0) | (3, 0, 12, 8..=12, _) => Some(1),
            (3, 4, 12, 9, 5) if self.cpu.config.has_el2 => Some(2),
            (3, 6, 12, 12, 4 | 5 | 7) if self.cpu.config.has_el3 => Some(3),
            _ => None,
        }
    }

    /// Translates a data address: identity with the MMU off (checked
    /// against the 48-bit physical address range), where every data access
    /// is to Device-nGnRnE memory. The MMU's stage-1 walk slots in here.
    fn translate_data(&mut self, va: u64, write: bool, unprivileged: bool) -> Result<(PhysAddr, MemType), StopReason> {
        let access = if write { AccessType::Write } else { AccessType::Read };
        match self.cpu.translate(self.bus, va, access, unprivileged) {
            Ok(t) => Ok(t),
            Err(fault) => Err(self.fault(Exception::DataAbort { va, fault, write })),
        }
    }

    /// Alignment then translation for an access of `size` bytes at `va`.
    /// Unaligned accesses fault on Device memory, when SCTLR_ELx.A is set,
    /// and for atomic/ordered accesses; otherwise (Normal memory) they are
    /// split into byte accesses by the callers.
    fn data_access(&mut self, va: u64, size: u8, acc: MemAccess, write: bool) -> Result<(PhysAddr, bool), StopReason> {
        // Watchpoints first: every access path (exclusives and atomics
        // included, before they touch the monitor) comes through here.
        if self.cpu.debug_watch(self.pc, va, u64::from(size), write) {
            return Err(StopReason::Debug);
        }
        let unaligned = va & (u64::from(size) - 1) != 0;
        let strict = self.cpu.sctlr_current() & sctlr::A != 0 || acc.ordered || acc.atomic;
        if unaligned && strict {
            return Err(self.fault(Exception::DataAbort {
                va,
                fault: Fault::Alignment,
                write,
            }));
        }
        let (pa, mem) = self.translate_data(va, write, acc.unprivileged)?;
        if unaligned && mem == MemType::Device {
            return Err(self.fault(Exception::DataAbort {
                va,
                fault: Fault::Alignment,
                write,
            }));
        }
        Ok((pa, unaligned))
    }

    fn req(&self) -> Requester {
        Requester {
            cpu: self.cpu.id,
            kind: AccessKind::Data,
        }
    }

    fn bus_read(&mut self, va: u64, pa: PhysAddr, size: u8) -> Result<u64, StopReason> {
        let req = self.req();
        self.bus.read(req, pa, size).map_err(|_| {
            self.fault(Exception::DataAbort {
                va,
                fault: Fault::External,
                write: false,
            })
        })
    }

    fn bus_write(&mut self, va: u64, pa: PhysAddr, size: u8, v: u64) -> Result<(), StopReason> {
        let req = self.req();
        self.bus.write(req, pa, size, v).map_err(|_| {
            self.fault(Exception::DataAbort {
                va,
                fault: Fault::External,
                write: true,
            })
        })
    }

    fn read_mem(&mut self, va: u64, size: u8, acc: MemAccess) -> Result<u64, StopReason> {
        let (pa, unaligned) = self.data_access(va, size, acc, false)?;
        if !unaligned {
            return self.bus_read(va, pa, size);
        }
        // Unaligned Normal access: byte by byte, each byte translated on
        // its own (the access may cross a page).
        let mut v = 0u64;
        for i in 0..u64::from(size) {
            let (pa, _) = self.translate_data(va.wrapping_add(i), false, acc.unprivileged)?;
            v |= self.bus_read(va, pa, 1)? << (8 * i);
        }
        Ok(v)
    }

    fn write_mem(&mut self, va: u64, v: u64, size: u8, acc: MemAccess) -> Result<(), StopReason> {
        let (pa, unaligned) = self.data_access(va, size, acc, true)?;
        if !unaligned {
            return self.bus_write(va, pa, size, v);
        }
        // Translate every byte before writing any, so a fault leaves memory
        // untouched.
        let mut pas = [PhysAddr(0); 8];
        for (i, slot) in pas.iter_mut().enumerate().take(usize::from(size)) {
            *slot = self
                .translate_data(va.wrapping_add(i as u64), true, acc.unprivileged)?
                .0;
        }
        for (i, pa) in pas.iter().enumerate().take(usize::from(size)) {
            self.bus_write(va, *pa, 1, v >> (8 * i))?;
        }
        Ok(())
    }

    /// Checks alignment of a `total`-byte atomic access at `va` (pairs).
    fn check_atomic_alignment(&mut self, va: u64, total: u64, write: bool) -> Result<(), StopReason> {
        if va & (total - 1) != 0 {
            return Err(self.fault(Exception::DataAbort {
                va,
                fault: Fault::Alignment,
                write,
            }));
        }
        Ok(())
    }

    /// FPCR and FPSR belong to the SIMD&FP unit: an access traps while
    /// CPACR/CPTR disable it (EC 0x07), as the FP instructions do.
    fn check_fp_sysreg(&mut self, id: SysRegId) -> Result<(), StopReason> {
        match SysReg::from_id(id) {
            Some(SysReg::FPCR | SysReg::FPSR) => match self.cpu.fp_trap() {
                None => Ok(()),
                Some(el) => Err(self.fault_to(Exception::FpAccessTrap, el)),
            },
            _ => Ok(()),
        }
    }

    fn sysreg_result<T>(&mut self, r: Result<T, SysRegError>) -> Result<T, StopReason> {
        match r {
            Ok(v) => Ok(v),
            Err(SysRegError::Undefined) => Err(self.fault(Exception::Undefined)),
            Err(SysRegError::Trap(el)) => Err(self.sysreg_trap(el)),
        }
    }
}

fn crc32(acc: u64, val: u64, bytes: u8, castagnoli: bool) -> u64 {
    let poly: u32 = if castagnoli { 0x82f6_3b78 } else { 0xedb8_8320 };
    let mut crc = acc as u32;
    for i in 0..bytes {
        crc ^= u32::from((val >> (8 * i)) as u8);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (poly & (crc & 1).wrapping_neg());
        }
    }
    u64::from(crc)
}

/// Evaluates one [`BinOp`]; shared with anything that folds constants.
pub fn eval_bin(op: BinOp, a: u64, b: u64) -> u64 {
    match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::UMulH => ((u128::from(a) * u128::from(b)) >> 64) as u64,
        BinOp::SMulH => ((i128::from(a as i64) * i128::from(b as i64)) >> 64) as u64,
        BinOp::Shl => a.wrapping_shl(b as u32),
        BinOp::Lshr => a.wrapping_shr(b as u32),
        BinOp::Asr(Width::W64) => ((a as i64).wrapping_shr(b as u32)) as u64,
        BinOp::Asr(Width::W32) => u64::from(((a as i32).wrapping_shr(b as u32)) as u32),
        BinOp::Ror(Width::W64) => a.rotate_right(b as u32),
        BinOp::Ror(Width::W32) => u64::from((a as u32).rotate_right(b as u32)),
        BinOp::UDiv(Width::W64) => a.checked_div(b).unwrap_or(0),
        BinOp::UDiv(Width::W32) => u64::from((a as u32).checked_div(b as u32).unwrap_or(0)),
        BinOp::SDiv(Width::W64) => {
            if b == 0 {
                0
            } else {
                (a as i64).wrapping_div(b as i64) as u64
            }
        }
        BinOp::SDiv(Width::W32) => {
            if b as u32 == 0 {
                0
            } else {
                u64::from((a as i32).wrapping_div(b as i32) as u32)
            }
        }
        BinOp::Crc32 { bytes, castagnoli } => crc32(a, b, bytes, castagnoli),
        BinOp::Eq => u64::from(a == b),
        BinOp::Ne => u64::from(a != b),
        BinOp::SubCond { cond, w } => {
            let (_, nzcv) = add_with_carry(a, !b, 1, w);
            u64::from(condition_holds(u32::from(cond), nzcv))
        }
    }
}

/// The new memory value of an LSE atomic at `size` bytes.
pub fn eval_atomic(op: AtomicOp, old: u64, v: u64, size: u8) -> u64 {
    let bits = u32::from(size) * 8;
    let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let (so, sv) = (sext(old, bits) as i64, sext(v, bits) as i64);
    let (uo, uv) = (old & mask, v & mask);
    let r = match op {
        AtomicOp::Add => old.wrapping_add(v),
        AtomicOp::Clr => old & !v,
        AtomicOp::Eor => old ^ v,
        AtomicOp::Set => old | v,
        AtomicOp::SMax => so.max(sv) as u64,
        AtomicOp::SMin => so.min(sv) as u64,
        AtomicOp::UMax => uo.max(uv),
        AtomicOp::UMin => uo.min(uv),
        AtomicOp::Swp => v,
    };
    r & mask
}

/// Evaluates one [`UnOp`].
pub fn eval_un(op: UnOp, a: u64) -> u64 {
    match op {
        UnOp::Not => !a,
        UnOp::Zext(64) | UnOp::Sext(64) => a,
        UnOp::Zext(n) => a & ((1u64 << n) - 1),
        UnOp::Sext(n) => sext(a, u32::from(n)),
        UnOp::Clz(Width::W64) => u64::from(a.leading_zeros()),
        UnOp::Clz(Width::W32) => u64::from((a as u32).leading_zeros()),
        UnOp::Cls(Width::W64) => u64::from((a ^ ((a as i64) >> 1) as u64).leading_zeros() - 1),
        UnOp::Cls(Width::W32) => {
            let x = a as u32;
            u64::from((x ^ ((x as i32) >> 1) as u32).leading_zeros() - 1)
        }
        UnOp::Rbit(Width::W64) => a.reverse_bits(),
        UnOp::Rbit(Width::W32) => u64::from((a as u32).reverse_bits()),
        UnOp::Rev16 => ((a & 0x00ff_00ff_00ff_00ff) << 8) | ((a >> 8) & 0x00ff_00ff_00ff_00ff),
        UnOp::Rev32 => u64::from((a as u32).swap_bytes()) | (u64::from(((a >> 32) as u32).swap_bytes()) << 32),
        UnOp::Rev64 => a.swap_bytes(),
    }
}

/// [`Emitter::q_table`]: TBL/TBX over the concatenated `table`.
pub fn eval_q_table(table: &[u128], idx: u128, fallback: u128) -> u128 {
    (0..16).fold(0u128, |acc, i| {
        let k = ((idx >> (8 * i)) & 0xff) as usize;
        let byte = match table.get(k / 16) {
            Some(t) => (t >> (8 * (k % 16))) & 0xff,
            None => (fallback >> (8 * i)) & 0xff,
        };
        acc | (byte << (8 * i))
    })
}

/// `AddWithCarry` at width `w`: (result, NZCV in bits 31:28).
pub fn add_with_carry(a: u64, b: u64, carry: u64, w: Width) -> (u64, u64) {
    let (bits, mask) = match w {
        Width::W64 => (64, u64::MAX),
        Width::W32 => (32, 0xffff_ffff),
    };
    let wide = u128::from(a & mask) + u128::from(b & mask) + u128::from(carry & 1);
    let r = (wide as u64) & mask;
    let n = (r >> (bits - 1)) & 1;
    let z = u64::from(r == 0);
    let c = ((wide >> bits) & 1) as u64;
    let v = (((a ^ r) & (b ^ r)) >> (bits - 1)) & 1;
    (r, (n << 31) | (z << 30) | (c << 29) | (v << 28))
}

impl<B: Bus + ?Sized> Emitter for Eval<'_, B> {
    type V = u64;
    type Q = u128;
    type Stop = StopReason;

    #[inline]
    fn pc(&self) -> u64 {
        self.pc
    }
    #[inline]
    fn imm(&mut self, v: u64) -> u64 {
        v
    }
    #[inline]
    fn get_x(&mut self, r: u32) -> u64 {
        self.cpu.x[r as usize]
    }
    #[inline]
    fn set_x(&mut self, r: u32, v: u64) {
        self.cpu.x[r as usize] = v;
    }
    #[inline]
    fn get_sp(&mut self) -> u64 {
        self.cpu.sp()
    }
    #[inline]
    fn set_sp(&mut self, v: u64) {
        self.cpu.set_sp(v);
    }
    #[inline]
    fn get_nzcv(&mut self) -> u64 {
        u64::from(self.cpu.pstate.nzcv)
    }
    #[inline]
    fn set_nzcv(&mut self, v: u64) {
        self.cpu.pstate.nzcv = (v as u32) & 0xf000_0000;
    }
    #[inline]
    fn bin(&mut self, op: BinOp, a: u64, b: u64) -> u64 {
        eval_bin(op, a, b)
    }
    #[inline]
    fn un(&mut self, op: UnOp, a: u64) -> u64 {
        eval_un(op, a)
    }
    #[inline]
    fn add_with_carry(&mut self, a: u64, b: u64, carry: u64, w: Width) -> (u64, u64) {
        add_with_carry(a, b, carry, w)
    }
    #[inline]
    fn logic_flags(&mut self, r: u64, w: Width) -> u64 {
        let n = (r >> (w.bits() - 1)) & 1;
        (n << 31) | (u64::from(r == 0) << 30)
    }
    #[inline]
    fn cond_holds(&mut self, nzcv: u64, cond: u32) -> u64 {
        u64::from(condition_holds(cond, nzcv))
    }
    #[inline]
    fn select(&mut self, c: u64, a: u64, b: u64) -> u64 {
        if c != 0 {
            a
        } else {
            b
        }
    }

    fn load(&mut self, addr: u64, size: u8, acc: MemAccess) -> Result<u64, StopReason> {
        self.read_mem(addr, size, acc)
    }

    fn store(&mut self, addr: u64, v: u64, size: u8, acc: MemAccess) -> Result<(), StopReason> {
        // A plain store by this core leaves its own monitor armed
        // (IMPLEMENTATION DEFINED; QEMU does the same). Other cores' monitors
        // are cleared by the machine whenever it switches cores.
        self.write_mem(addr, v, size, acc)
    }

    fn load_exclusive(&mut self, addr: u64, size: u8, acc: MemAccess) -> Result<u64, StopReason> {
        let v = self.read_mem(addr, size, acc)?;
        self.cpu.monitor = Some((addr, size));
        Ok(v)
    }

    fn store_exclusive(&mut self, addr: u64, v: u64, size: u8, acc: MemAccess) -> Result<u64, StopReason> {
        // Faults (alignment, translation) are taken whether or not the
        // monitor is armed, as the architecture requires.
        self.data_access(addr, size, acc, true)?;
        if self.cpu.monitor.take() != Some((addr, size)) {
            return Ok(1);
        }
        self.write_mem(addr, v, size, acc)?;
        Ok(0)
    }

    fn load_exclusive_pair(&mut self, addr: u64, size: u8, acc: MemAccess) -> Result<(u64, u64), StopReason> {
        self.check_atomic_alignment(addr, 2 * u64::from(size), false)?;
        let a = self.read_mem(addr, size, acc)?;
        let b = self.read_mem(addr.wrapping_add(u64::from(size)), size, acc)?;
        self.cpu.monitor = Some((addr, 2 * size));
        Ok((a, b))
    }

    fn store_exclusive_pair(&mut self, addr: u64, a: u64, b: u64, size: u8, acc: MemAccess) -> Result<u64, StopReason> {
        self.check_atomic_alignment(addr, 2 * u64::from(size), true)?;
        let second = addr.wrapping_add(u64::from(size));
        self.data_access(addr, size, acc, true)?;
        self.data_access(second, size, acc, true)?;
        if self.cpu.monitor.take() != Some((addr, 2 * size)) {
            return Ok(1);
        }
        self.write_mem(addr, a, size, acc)?;
        self.write_mem(second, b, size, acc)?;
        Ok(0)
    }

    fn atomic_rmw(&mut self, op: AtomicOp, addr: u64, v: u64, size: u8, acc: MemAccess) -> Result<u64, StopReason> {
        // The write side is checked first so a fault leaves memory as it was
        // (with one core running at a time the access is atomic).
        self.data_access(addr, size, acc, true)?;
        let old = self.read_mem(addr, size, acc)?;
        let new = eval_atomic(op, old, v, size);
        self.write_mem(addr, new, size, acc)?;
        Ok(old)
    }

    fn compare_and_swap(
        &mut self,
        addr: u64,
        expected: u64,
        new: u64,
        size: u8,
        acc: MemAccess,
    ) -> Result<u64, StopReason> {
        self.data_access(addr, size, acc, true)?;
        let old = self.read_mem(addr, size, acc)?;
        if old == expected {
            self.write_mem(addr, new, size, acc)?;
        }
        Ok(old)
    }

    fn compare_and_swap_pair(
        &mut self,
        addr: u64,
        expected: (u64, u64),
        new: (u64, u64),
        acc: MemAccess,
    ) -> Result<(u64, u64), StopReason> {
        self.check_atomic_alignment(addr, 16, true)?;
        let hi_addr = addr.wrapping_add(8);
        self.data_access(addr, 8, acc, true)?;
        self.data_access(hi_addr, 8, acc, true)?;
        let lo = self.read_mem(addr, 8, acc)?;
        let hi = self.read_mem(hi_addr, 8, acc)?;
        if (lo, hi) == expected {
            self.write_mem(addr, new.0, 8, acc)?;
            self.write_mem(hi_addr, new.1, 8, acc)?;
        }
        Ok((lo, hi))
    }

    fn check_sp_alignment(&mut self, sp: u64) -> Result<(), StopReason> {
        let bit = if self.cpu.pstate.el == 0 { sctlr::SA0 } else { sctlr::SA };
        if sp & 0xf != 0 && self.cpu.sctlr_current() & bit != 0 {
            return Err(self.fault(Exception::SpAlignment));
        }
        Ok(())
    }

    #[inline]
    fn branch(&mut self, target: u64) {
        self.next_pc = target;
    }
    #[inline]
    fn branch_indirect(&mut self, target: u64, _kind: BranchKind) {
        self.next_pc = self.cpu.branch_target(target);
    }
    #[inline]
    fn branch_if(&mut self, c: u64, target: u64) {
        if c != 0 {
            self.next_pc = target;
        }
    }

    fn raise(&mut self, e: InsnException) -> Result<(), StopReason> {
        let exc = match e {
            InsnException::Undefined => Exception::Undefined,
            // SVC: to EL1 from EL0 (EL2 under TGE), else the current EL.
            InsnException::Svc(imm) => Exception::Svc(imm),
            InsnException::Hvc(imm) => return self.hvc(imm),
            InsnException::Smc(imm) => return self.smc(imm),
            InsnException::Brk(imm) => Exception::Brk(imm),
        };
        Err(self.fault(exc))
    }

    fn read_sysreg(&mut self, id: SysRegId) -> Result<u64, StopReason> {
        let el = self.cpu.pstate.el;
        if let Some(min) = self.icc_min_el(id) {
            if el < min {
                return Err(self.fault(Exception::Undefined));
            }
            return match self.bus.gic_sysreg_read(self.cpu.id, id, el) {
                Some(v) => Ok(v),
                None => Err(self.fault(Exception::Undefined)),
            };
        }
        self.check_fp_sysreg(id)?;
        // A virtual counter must see this very instruction's count.
        self.cpu.sys.time.observe(self.cpu.icount);
        let r = self.cpu.sys.read(id, &self.cpu.pstate, &self.cpu.sp_el);
        self.sysreg_result(r)
    }

    fn write_sysreg(&mut self, id: SysRegId, v: u64) -> Result<(), StopReason> {
        let el = self.cpu.pstate.el;
        if let Some(min) = self.icc_min_el(id) {
            if el < min || !self.bus.gic_sysreg_write(self.cpu.id, id, el, v) {
                return Err(self.fault(Exception::Undefined));
            }
            return Ok(());
        }
        self.check_fp_sysreg(id)?;
        let cpu = &mut *self.cpu;
        cpu.sys.time.observe(cpu.icount);
        let r = cpu.sys.write(id, v, &mut cpu.pstate, &mut cpu.sp_el);
        if let Some(reg) = SysReg::from_id(id).filter(|r| r.defines_translation()) {
            cpu.tlb.regime_written(reg);
        }
        self.sysreg_result(r)
    }

    fn write_pstate_field(&mut self, op1: u32, op2: u32, imm: u32) -> Result<(), StopReason> {
        let el = self.cpu.pstate.el;
        let uma = self.cpu.sys.get(SysReg::SCTLR_EL1) & sctlr::UMA != 0;
        match (op1, op2) {
            (0, 5) if el > 0 => self.cpu.pstate.sp = imm & 1 == 1,
            // PAN (FEAT_PAN): CRm<3:1> must be zero.
            (0, 4) if el > 0 && imm < 2 => self.cpu.pstate.pan = imm == 1,
            // DAIFSet/DAIFClr at EL0 with SCTLR_EL1.UMA clear: trapped (EC 0x18).
            (3, 6 | 7) if el == 0 && !uma => return Err(self.sysreg_trap(1)),
            (3, 6) => self.cpu.pstate.daif |= imm & 0xf,
            (3, 7) => self.cpu.pstate.daif &= !imm & 0xf,
            _ => return Err(self.fault(Exception::Undefined)),
        }
        Ok(())
    }

    fn sys(&mut self, id: SysRegId, v: u64) -> Result<(), StopReason> {
        let (_, op1, crn, crm, op2) = id.fields();
        let el = self.cpu.pstate.el;
        if el <= 1 {
            // HCR_EL2 traps of EL0/EL1 maintenance to EL2 (EC 0x18); at EL0
            // only what EL0 may execute at all reaches them, so the EL1
            // checks below come first there.
            let h = self.cpu.sys.hcr();
            let bit = match (op1, crn, crm, op2) {
                (0, 7, 6 | 10 | 14, 2) => hcr::TSW,                 // DC ISW, CSW, CISW
                (0, 7, 6, 1) | (3, 7, 10 | 12 | 14, 1) => hcr::TPC, // DC IVAC, CVAC, CVAP, CIVAC
                (0, 7, 1 | 5, 0) | (3, 7, 5 | 11, 1) => hcr::TPU,   // IC IALLUIS, IALLU, IVAU; DC CVAU
                (0, 8, _, _) => hcr::TTLB,                          // TLBI
                _ => 0,
            };
            let el0_ok = op1 == 3 && self.cpu.sys.get(SysReg::SCTLR_EL1) & sctlr::UCI != 0;
            if h & bit != 0 && (el == 1 || el0_ok) {
                return Err(self.sysreg_trap(2));
            }
        }
        match (op1, crn, crm, op2) {
            // DC ZVA: zero a 64-byte block (EL0 only with SCTLR_EL1.DZE).
            (3, 7, 4, 1) => {
                if el == 0 && self.cpu.sys.get(SysReg::SCTLR_EL1) & sctlr::DZE == 0 {
                    return Err(self.sysreg_trap(1));
                }
                let base = v & !(DCZVA_BYTES - 1);
                // DC ZVA to any type of Device memory (all data memory with
                // the MMU off) is an alignment fault. The block lies in one
                // page, so one translation tells.
                let (_, mem) = self.translate_data(base, true, false)?;
                if mem == MemType::Device {
                    return Err(self.fault(Exception::DataAbort {
                        va: v,
                        fault: Fault::Alignment,
                        write: true,
                    }));
                }
                for off in (0..DCZVA_BYTES).step_by(8) {
                    self.write_mem(base + off, 0, 8, MemAccess::default())?;
                }
                Ok(())
            }
            // EL0-accessible cache maintenance by VA (CVAU, CIVAC, CVAC,
            // CVAP, IVAU): no caches are modelled, so nothing to do, but
            // EL0 is trapped while SCTLR_EL1.UCI is clear.
            (3, 7, 11 | 14 | 10 | 12, 1) | (3, 7, 5, 1) => {
                if el == 0 && self.cpu.sys.get(SysReg::SCTLR_EL1) & sctlr::UCI == 0 {
                    return Err(self.sysreg_trap(1));
                }
                Ok(())
            }
            // Everything else (DC by set/way, IC IALLU[IS], TLBI, AT) is
            // EL1-only.
            _ if el == 0 => Err(self.fault(Exception::Undefined)),
            (0, 7, 6, 1 | 2) | (0, 7, 10 | 14, 2) | (0, 7, 1 | 5, 0) => Ok(()),
            // TLB maintenance (mmu::tlb): EL1 (op1 0), EL2 (4), EL3 (6) forms;
            // the IS forms are queued for the other cores.
            (0 | 4 | 6, 8, _, _) => match crate::mmu::Tlbi::decode(op1, crm, op2, v) {
                Some(op) if self.cpu.tlbi_permitted(&op) => {
                    self.cpu.tlbi(op);
                    Ok(())
                }
                _ => Err(self.fault(Exception::Undefined)),
            },
            // AT: translate without faulting and report in PAR_EL1.
            (0 | 4 | 6, 7, 8 | 9, _) => match crate::mmu::At::decode(op1, crm, op2) {
                Some(at) if at.permitted(el, self.cpu.config.has_el2) => {
                    let par = self.cpu.at(self.bus, at, v);
                    self.cpu.sys.set(SysReg::PAR_EL1, par);
                    Ok(())
                }
                _ => Err(self.fault(Exception::Undefined)),
            },
            _ => {
                tracing::warn!("guest SYS #{op1}, C{crn}, C{crm}, #{op2} is not implemented: UNDEFINED");
                Err(self.fault(Exception::Undefined))
            }
        }
    }

    fn eret(&mut self) -> Result<(), StopReason> {
        if self.cpu.pstate.el == 0 {
            return Err(self.fault(Exception::Undefined));
        }
        self.cpu.exception_return();
        self.next_pc = self.cpu.pc;
        Ok(())
    }

    fn hint(&mut self, h: Hint) -> Result<(), StopReason> {
        match h {
            Hint::Wfi => {
                // With an interrupt pending WFI completes at once (and its
                // traps are not checked: Arm ARM pseudocode order).
                if self.cpu.interrupt_pending_for_wake() {
                    return Ok(());
                }
                if let Some(el) = self.cpu.wfx_trap(false) {
                    return Err(self.fault_to(Exception::WfxTrap { wfe: false }, el));
                }
                self.cpu.pc = self.next_pc;
                Err(StopReason::WaitForInterrupt)
            }
            Hint::Wfe => {
                // A set event register is consumed without any trap check.
                if self.cpu.event {
                    self.cpu.event = false;
                    return Ok(());
                }
                if let Some(el) = self.cpu.wfx_trap(true) {
                    return Err(self.fault_to(Exception::WfxTrap { wfe: true }, el));
                }
                if self.cpu.interrupt_pending_for_wake() {
                    return Ok(());
                }
                self.cpu.pc = self.next_pc;
                Err(StopReason::WaitForEvent)
            }
            // SEV signals every core, this one included; the machine
            // forwards `sent_event` to the others.
            Hint::Sev => {
                self.cpu.event = true;
                self.cpu.sent_event = true;
                Ok(())
            }
            Hint::Sevl => {
                self.cpu.event = true;
                Ok(())
            }
            Hint::Yield => Ok(()),
        }
    }

    fn barrier(&mut self, _b: Barrier) {}

    fn clear_exclusive(&mut self) {
        self.cpu.monitor = None;
    }

    fn check_fp_enabled(&mut self) -> Result<(), StopReason> {
        match self.cpu.fp_trap() {
            None => Ok(()),
            Some(el) => Err(self.fault_to(Exception::FpAccessTrap, el)),
        }
    }
    #[inline]
    fn get_q(&mut self, r: u32) -> u128 {
        self.cpu.v[r as usize]
    }
    #[inline]
    fn set_q(&mut self, r: u32, q: u128) {
        self.cpu.v[r as usize] = q;
    }
    #[inline]
    fn q_imm(&mut self, v: u128) -> u128 {
        v
    }
    #[inline]
    fn q_lane(&mut self, q: u128, esize: u8, idx: u8) -> u64 {
        let bits = u32::from(esize) * 8;
        ((q >> (bits * u32::from(idx))) as u64) & crate::simd::mask(esize * 8)
    }
    #[inline]
    fn q_with_lane(&mut self, q: u128, esize: u8, idx: u8, v: u64) -> u128 {
        let bits = u32::from(esize) * 8;
        let sh = bits * u32::from(idx);
        let m = u128::from(crate::simd::mask(esize * 8)) << sh;
        (q & !m) | ((u128::from(v) << sh) & m)
    }
    #[inline]
    fn q_op(&mut self, op: QOp, a: u128, b: u128) -> u128 {
        crate::simd::eval_q(op, a, b)
    }
    fn q_table(&mut self, table: &[u128], idx: u128, fallback: u128) -> u128 {
        eval_q_table(table, idx, fallback)
    }
    fn check_alignment(&mut self, addr: u64, size: u8, write: bool) -> Result<(), StopReason> {
        self.data_access(addr, size, MemAccess::default(), write).map(|_| ())
    }
    fn crypto(&mut self, op: CryptoOp, a: u128, b: u128, c: u128) -> u128 {
        crate::crypto::eval(op, a, b, c)
    }
    fn fp(&mut self, op: FpOp, size: FpSize, args: &[u64]) -> u64 {
        self.cpu.eval_fp(op, size, args)
    }
    fn sat(&mut self, op: SatOp, a: u64, b: u64) -> u64 {
        self.cpu.eval_sat(op, a, b)
    }

    fn halt(&mut self, imm: u16) -> Result<(), StopReason> {
        if imm == 0xf000 && self.cpu.config.semihosting && self.cpu.pstate.el > 0 {
            return Err(StopReason::Semihosting);
        }
        // Halting debug is not enabled, so HLT is UNDEFINED.
        Err(self.fault(Exception::Undefined))
    }
}

impl Cpu {
    /// Runs up to `budget` instructions on the interpreter. Returns the
    /// number retired and why it stopped.
    pub fn run<B: Bus + ?Sized>(&mut self, bus: &mut B, budget: u64) -> (u64, StepEvent) {
        let start = self.icount;
        let mut stuck = StuckDetector::default();
        while self.icount - start < budget {
            match self.step(bus) {
                Ok(()) => {}
                Err(StopReason::Exception) => {
                    if let Some(msg) = stuck.exception_taken(self) {
                        return (self.icount - start, StepEvent::Fatal(msg));
                    }
                }
                Err(StopReason::Semihosting) => return (self.icount - start, StepEvent::Semihosting),
                Err(StopReason::WaitForInterrupt) => return (self.icount - start, StepEvent::WaitForInterrupt),
                Err(StopReason::WaitForEvent) => return (self.icount - start, StepEvent::WaitForEvent),
                Err(StopReason::FirmwareCall) => return (self.icount - start, StepEvent::FirmwareCall),
                Err(StopReason::Debug) => return (self.icount - start, StepEvent::Debug),
            }
        }
        (self.icount - start, StepEvent::Budget)
    }

    /// Executes one instruction (or takes the exception it raises), after
    /// taking a pending unmasked interrupt if there is one (then it returns
    /// `Err(StopReason::Exception)` without executing anything).
    pub fn step<B: Bus + ?Sized>(&mut self, bus: &mut B) -> Result<(), StopReason> {
        let pa = self.boundary(bus)?;
        self.step_at(bus, pa)
    }

    /// The rest of [`Cpu::step`] once [`Cpu::boundary`] (or
    /// [`Cpu::boundary_next`]) gave the PC's physical address `pa`: a
    /// debugger's stop, else the fetch and the instruction.
    pub fn step_at<B: Bus + ?Sized>(&mut self, bus: &mut B, pa: PhysAddr) -> Result<(), StopReason> {
        if self.debug_break_here() {
            return Err(StopReason::Debug);
        }
        let pc = self.pc;
        let raw = self.fetch_word(bus, pc, pa)?;
        self.exec_fetched(bus, pc, raw)
    }

    /// [`Cpu::boundary`] for the next word after an instruction fetched
    /// from `prev` that did not branch, in the same 4 KiB page, when the
    /// caller knows nothing its translation depends on changed since that
    /// fetch: no exception taken, the same EL, no TLB maintenance or write
    /// to a register defining the regime (`tlb.epoch`). Skips translating
    /// the PC, about a fifth of the interpreter's time on straight-line
    /// code (the JIT runs code that is not hot yet this way).
    pub fn boundary_next(&mut self, prev: PhysAddr) -> Result<PhysAddr, StopReason> {
        debug_assert!((prev.0 + 4) & 0xfff != 0, "the next word is in another page");
        self.boundary_exception()?;
        Ok(PhysAddr(prev.0 + 4))
    }

    /// The exceptions taken at an instruction boundary before the fetch: a
    /// pending unmasked interrupt, or an illegal execution state.
    #[inline]
    fn boundary_exception(&mut self) -> Result<(), StopReason> {
        // One relaxed load of the interrupt lines (plus the cached HCR_EL2
        // virtual interrupts) and one branch in the common case.
        let lines = self.interrupt_lines();
        if lines != 0 && !self.debug.mask_interrupts && self.take_pending_interrupt(lines) {
            return Err(StopReason::Exception);
        }
        if self.pstate.il {
            let pc = self.pc;
            self.take_exception(Exception::IllegalState, pc);
            return Err(StopReason::Exception);
        }
        Ok(())
    }

    /// The instruction boundary before executing at `self.pc`: takes a
    /// pending unmasked interrupt, an illegal-state or PC-alignment
    /// exception, or an instruction abort from translating the PC; else
    /// returns the PC's physical address. Every engine calls this before
    /// fetching (the JIT before each block).
    #[inline]
    pub fn boundary<B: Bus + ?Sized>(&mut self, bus: &mut B) -> Result<PhysAddr, StopReason> {
        self.boundary_exception()?;
        let pc = self.pc;
        if pc & 3 != 0 {
            self.take_exception(Exception::PcAlignment, pc);
            return Err(StopReason::Exception);
        }
        match self.translate(bus, pc, AccessType::Fetch, false) {
            Ok((pa, _)) => Ok(pa),
            Err(fault) => {
                self.take_exception(Exception::InstructionAbort { va: pc, fault }, pc);
                Err(StopReason::Exception)
            }
        }
    }

    /// Fetches the word at `pa` (the translation of `pc`); a bus error is
    /// an instruction abort.
    #[inline]
    pub fn fetch_word<B: Bus + ?Sized>(&mut self, bus: &mut B, pc: u64, pa: PhysAddr) -> Result<u32, StopReason> {
        bus.fetch(self.id, pa).map_err(|_| {
            self.take_exception(
                Exception::InstructionAbort {
                    va: pc,
                    fault: Fault::External,
                },
                pc,
            );
            StopReason::Exception
        })
    }

    /// Executes the instruction word `raw`, already fetched from `pc`, on
    /// the interpreter: on success PC moves on and the instruction counts
    /// as retired. The JIT calls this for instructions it does not lower.
    pub fn exec_fetched<B: Bus + ?Sized>(&mut self, bus: &mut B, pc: u64, raw: u32) -> Result<(), StopReason> {
        let op = self.decode_cached(raw);
        let mut ev = Eval::at(self, bus, pc, raw);
        let r = match op {
            Some(op) => sem::translate(&mut ev, op, raw),
            None => ev.raise(InsnException::Undefined),
        };
        let next = ev.next_pc;
        match r {
            Ok(()) => {
                self.pc = next;
                self.icount += 1;
                Ok(())
            }
            Err(e @ (StopReason::WaitForInterrupt | StopReason::WaitForEvent)) => {
                self.icount += 1;
                Err(e)
            }
            // HVC/SMC answered by the machine: the instruction retires
            // (PC past it) without an exception being taken.
            Err(StopReason::FirmwareCall) => {
                self.pc = next;
                self.icount += 1;
                Err(StopReason::FirmwareCall)
            }
            Err(e) => Err(e),
        }
    }

    /// A data load made by the instruction `raw` at `pc`, exactly as the
    /// interpreter makes it (alignment, translation, splitting, faults
    /// taken with that PC). The JIT's slow path for loads.
    pub fn load_for<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        pc: u64,
        raw: u32,
        va: u64,
        size: u8,
        acc: MemAccess,
    ) -> Result<u64, StopReason> {
        let mut ev = Eval::at(self, bus, pc, raw);
        ev.read_mem(va, size, acc)
    }

    /// A data store made by the instruction `raw` at `pc` (see
    /// [`Cpu::load_for`]). The JIT's slow path for stores.
    #[allow(clippy::too_many_arguments)]
    pub fn store_for<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        pc: u64,
        raw: u32,
        va: u64,
        v: u64,
        size: u8,
        acc: MemAccess,
    ) -> Result<(), StopReason> {
        let mut ev = Eval::at(self, bus, pc, raw);
        ev.write_mem(va, v, size, acc)
    }

    /// The alignment check of a SIMD&FP access made by the instruction at
    /// `pc` (see [`Emitter::check_alignment`]).
    #[allow(clippy::too_many_arguments)]
    pub fn check_alignment_for<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        pc: u64,
        raw: u32,
        addr: u64,
        size: u8,
        write: bool,
    ) -> Result<(), StopReason> {
        let mut ev = Eval::at(self, bus, pc, raw);
        ev.check_alignment(addr, size, write)
    }

    /// A scalar floating-point operation under this core's FPCR,
    /// accumulating FPSR, as the interpreter evaluates it.
    pub fn eval_fp(&mut self, op: FpOp, size: FpSize, args: &[u64]) -> u64 {
        let fpcr = self.sys.get(SysReg::FPCR);
        let fpsr = self.sys.get(SysReg::FPSR);
        // The cumulative flags live in FPSR's low 32 bits (the rest is RES0).
        let mut flags = fpsr as u32;
        let r = crate::fp::eval(op, size, args, fpcr, &mut flags);
        if u64::from(flags) != fpsr {
            self.sys.set(SysReg::FPSR, fpsr | u64::from(flags));
        }
        r
    }

    /// A saturating operation, setting FPSR.QC when it saturates, as the
    /// interpreter evaluates it.
    pub fn eval_sat(&mut self, op: SatOp, a: u64, b: u64) -> u64 {
        let (r, saturated) = crate::simd::eval_sat(op, a, b);
        if saturated {
            let fpsr = self.sys.get(SysReg::FPSR);
            self.sys.set(SysReg::FPSR, fpsr | u64::from(crate::sysreg::fpsr::QC));
        }
        r
    }

    /// The SP alignment check of a load/store using SP as its base, made by
    /// the instruction at `pc` (see [`Emitter::check_sp_alignment`]).
    pub fn check_sp_alignment_for<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        pc: u64,
        raw: u32,
        sp: u64,
    ) -> Result<(), StopReason> {
        let mut ev = Eval::at(self, bus, pc, raw);
        ev.check_sp_alignment(sp)
    }

    /// Completes a semihosting call: X0 = `result`, PC past the HLT.
    pub fn finish_semihosting(&mut self, result: u64) {
        self.x[0] = result;
        self.pc = self.pc.wrapping_add(4);
        self.icount += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::BusError;
    use crate::state::CpuConfig;

    /// Flat RAM at `BASE` for tests.
    struct Ram(Vec<u8>);
    const BASE: u64 = 0x4000_0000;

    impl Bus for Ram {
        fn read(&mut self, _req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
            let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
            let bytes = self.0.get(off..off + size as usize).ok_or(BusError::Unmapped(pa))?;
            Ok(bytes.iter().rev().fold(0, |acc, &b| (acc << 8) | u64::from(b)))
        }
        fn write(&mut self, _req: Requester, pa: PhysAddr, size: u8, value: u64) -> Result<(), BusError> {
            let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
            let bytes = self.0.get_mut(off..off + size as usize).ok_or(BusError::Unmapped(pa))?;
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = (value >> (8 * i)) as u8;
            }
            Ok(())
        }
    }

    fn machine(words: &[u32]) -> (Cpu, Ram) {
        let mut ram = Ram(vec![0; 0x10000]);
        for (i, w) in words.iter().enumerate() {
            ram.0[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        (Cpu::new(0, CpuConfig::cortex_a57(0), BASE), ram)
    }

    fn run_to_hlt(words: &[u32]) -> Cpu {
        let (mut cpu, mut ram) = machine(words);
        let (_, ev) = cpu.run(&mut ram, 10_000);
        assert_eq!(
            ev,
            StepEvent::Semihosting,
            "program did not reach HLT; pc={:#x}",
            cpu.pc
        );
        cpu
    }

    const HLT: u32 = 0xd45e_0000;

    #[test]
    fn counted_loop() {
        // movz x0,#5; movz x1,#0; loop: add x1,x1,x0; subs x0,x0,#1; b.ne loop; hlt
        let cpu = run_to_hlt(&[0xd280_00a0, 0xd280_0001, 0x8b00_0021, 0xf100_0400, 0x54ff_ffc1, HLT]);
        assert_eq!(cpu.x[1], 15);
        assert_eq!(cpu.x[0], 0);
        assert_eq!(cpu.pstate.nzcv, 0x6000_0000, "Z and C set by the final subs");
        assert_eq!(cpu.icount, 2 + 5 * 3);
    }

    #[test]
    fn store_load_pair_and_writeback() {
        // mov sp from x0 via add: movz x0,#0x4000,lsl#16 ; add x0,x0,#0x1000 ; mov sp,x0
        // movz x1,#0x1234 ; movn x2,#0 ; stp x1,x2,[sp,#-16]! ; ldp x3,x4,[sp],#16 ; hlt
        let cpu = run_to_hlt(&[
            0xd2a8_0000, // movz x0, #0x4000, lsl #16
            0x9140_0400, // add x0, x0, #1, lsl #12
            0x9100_001f, // mov sp, x0
            0xd282_4681, // movz x1, #0x1234
            0x9280_0002, // movn x2, #0
            0xa9bf_0be1, // stp x1, x2, [sp, #-16]!
            0xa8c1_13e3, // ldp x3, x4, [sp], #16
            HLT,
        ]);
        assert_eq!(cpu.x[3], 0x1234);
        assert_eq!(cpu.x[4], u64::MAX);
        assert_eq!(cpu.sp(), 0x4000_1000);
    }

    #[test]
    fn undefined_instruction_takes_the_sync_vector() {
        // VBAR_EL1 = BASE + 0x800 (msr vbar_el1, x0), then UDF #0.
        let mut words = vec![0xd2a8_0000, 0x9120_0000, 0xd518_c000, 0x0000_0000];
        words.resize(0x1000 / 4, 0);
        words[(0x800 + 0x200) / 4] = HLT;
        let cpu = run_to_hlt(&words);
        assert_eq!(cpu.sys.get(SysReg::ESR_EL1), 1 << 25, "EC=0 (unknown), IL=1");
        assert_eq!(cpu.sys.get(SysReg::ELR_EL1), BASE + 12);
        assert_eq!(cpu.sys.get(SysReg::SPSR_EL1), 0x3c5, "EL1h with DAIF masked");
        assert_eq!(cpu.pc, BASE + 0xa00);
    }

    #[test]
    fn unaligned_access_with_mmu_off_is_an_alignment_fault() {
        // x0 = BASE+0x1001 ; ldr x1,[x0] -> data abort, vector at VBAR=0 is
        // unmapped -> the exception-loop detector reports it.
        let (mut cpu, mut ram) = machine(&[0xd2a8_0000, 0x9104_0400, 0xf940_0001]);
        let (_, ev) = cpu.run(&mut ram, 100);
        let StepEvent::Fatal(msg) = ev else {
            panic!("expected a fatal exception loop, got {ev:?}")
        };
        assert!(msg.contains("stuck taking exceptions"), "{msg}");
        assert_eq!(
            cpu.sys.get(SysReg::ELR_EL1),
            0x200,
            "last fault was the fetch at the EL1h sync vector"
        );
        assert_eq!(
            cpu.sys.get(SysReg::ESR_EL1),
            (0x21 << 26) | (1 << 25) | 0x10,
            "instruction abort, same EL, external"
        );
    }

    #[test]
    fn alu_reference_functions() {
        assert_eq!(add_with_carry(u64::MAX, 1, 0, Width::W64), (0, 0x6000_0000));
        assert_eq!(
            add_with_carry(0x7fff_ffff, 1, 0, Width::W32),
            (0x8000_0000, 0x9000_0000)
        );
        assert_eq!(
            eval_bin(BinOp::SDiv(Width::W64), i64::MIN as u64, u64::MAX),
            i64::MIN as u64
        );
        assert_eq!(eval_bin(BinOp::SDiv(Width::W32), 7, 0), 0);
        assert_eq!(eval_bin(BinOp::Asr(Width::W32), 0x8000_0000, 4), 0xf800_0000);
        assert_eq!(eval_un(UnOp::Cls(Width::W64), 0), 63);
        assert_eq!(eval_un(UnOp::Cls(Width::W32), 0xffff_ffff), 31);
        assert_eq!(eval_un(UnOp::Rev32, 0x0102_0304_0506_0708), 0x0403_0201_0807_0605);
        // CRC-32 of "123456789" (with the conventional pre/post inversion).
        let crc = b"123456789"
            .iter()
            .fold(0xffff_ffffu64, |c, &b| crc32(c, u64::from(b), 1, false));
        assert_eq!(crc ^ 0xffff_ffff, 0xcbf4_3926);
        let crc = b"123456789"
            .iter()
            .fold(0xffff_ffffu64, |c, &b| crc32(c, u64::from(b), 1, true));
        assert_eq!(crc ^ 0xffff_ffff, 0xe306_9283);
    }
}
