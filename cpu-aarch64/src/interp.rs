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
use crate::sysreg::{sctlr, SysReg, SysRegError, DCZVA_BYTES};

/// Why an instruction stopped before completing normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// An exception was taken; the core is already at the vector.
    Exception,
    /// `HLT #0xF000` with semihosting enabled: PC still points at the HLT.
    Semihosting,
    /// WFI/WFE completed: the core may sleep until an event or interrupt.
    WaitForInterrupt,
}

/// What [`Cpu::run`] returns when it stops early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepEvent {
    /// The instruction budget ran out.
    Budget,
    /// A semihosting call is pending: service it, write X0, then call
    /// [`Cpu::finish_semihosting`].
    Semihosting,
    /// The core executed WFI/WFE.
    WaitForInterrupt,
    /// HVC/SMC through the board's firmware conduit (see
    /// `CpuConfig::firmware_conduit`): the call's arguments are in X0-X7 and
    /// PC is already past the instruction; the machine writes the results
    /// to X0-X3 and resumes the core.
    FirmwareCall,
    /// The guest cannot make progress: it is stuck in an exception loop
    /// (e.g. a fault at the vector itself).
    Fatal(String),
}

/// Consecutive exceptions without a retired instruction after which the
/// guest is declared stuck (e.g. VBAR points at unmapped memory).
const EXCEPTION_LOOP_LIMIT: u32 = 64;

/// The evaluating emitter: values are plain `u64`s.
pub struct Eval<'a, B: Bus + ?Sized> {
    cpu: &'a mut Cpu,
    bus: &'a mut B,
    pc: u64,
    next_pc: u64,
    /// The instruction word (for syndromes that quote its encoding).
    raw: u32,
}

impl<B: Bus + ?Sized> Eval<'_, B> {
    fn fault(&mut self, exc: Exception) -> StopReason {
        self.cpu.take_exception(exc, self.pc);
        StopReason::Exception
    }

    /// This (EL0) MSR/MRS/SYS instruction trapped to EL1 by an SCTLR_EL1
    /// control: EC 0x18 with the instruction's encoding.
    fn sysreg_trap(&mut self) -> StopReason {
        let iss = sysreg_trap_iss(self.raw);
        self.fault(Exception::SysRegTrap { iss })
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
        let unaligned = va & (u64::from(size) - 1) != 0;
        let strict = self.cpu.sys.get(SysReg::SCTLR_EL1) & sctlr::A != 0 || acc.ordered || acc.atomic;
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

    fn sysreg_result<T>(&mut self, r: Result<T, SysRegError>) -> Result<T, StopReason> {
        match r {
            Ok(v) => Ok(v),
            Err(SysRegError::Undefined) => Err(self.fault(Exception::Undefined)),
            Err(SysRegError::Trap) => Err(self.sysreg_trap()),
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
        if sp & 0xf != 0 && self.cpu.sys.get(SysReg::SCTLR_EL1) & bit != 0 {
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
        self.next_pc = target;
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
            InsnException::Svc(imm) => {
                if self.cpu.pstate.el > 1 {
                    // unreachable today: no EL2/EL3
                    return Err(self.fault(Exception::Undefined));
                }
                Exception::Svc(imm)
            }
            // No EL2 or EL3: HVC and SMC are UNDEFINED.
            InsnException::Hvc(_) | InsnException::Smc(_) => Exception::Undefined,
            InsnException::Brk(imm) => Exception::Brk(imm),
        };
        Err(self.fault(exc))
    }

    fn read_sysreg(&mut self, id: SysRegId) -> Result<u64, StopReason> {
        let r = self.cpu.sys.read(id, &self.cpu.pstate, self.cpu.sp_el[0]);
        self.sysreg_result(r)
    }

    fn write_sysreg(&mut self, id: SysRegId, v: u64) -> Result<(), StopReason> {
        let cpu = &mut *self.cpu;
        let r = cpu.sys.write(id, v, &mut cpu.pstate, &mut cpu.sp_el[0]);
        self.sysreg_result(r)
    }

    fn write_pstate_field(&mut self, op1: u32, op2: u32, imm: u32) -> Result<(), StopReason> {
        let el = self.cpu.pstate.el;
        let uma = self.cpu.sys.get(SysReg::SCTLR_EL1) & sctlr::UMA != 0;
        match (op1, op2) {
            (0, 5) if el > 0 => self.cpu.pstate.sp = imm & 1 == 1,
            // DAIFSet/DAIFClr at EL0 with SCTLR_EL1.UMA clear: trapped (EC 0x18).
            (3, 6 | 7) if el == 0 && !uma => return Err(self.sysreg_trap()),
            (3, 6) => self.cpu.pstate.daif |= imm & 0xf,
            (3, 7) => self.cpu.pstate.daif &= !imm & 0xf,
            _ => return Err(self.fault(Exception::Undefined)),
        }
        Ok(())
    }

    fn sys(&mut self, id: SysRegId, v: u64) -> Result<(), StopReason> {
        let (_, op1, crn, crm, op2) = id.fields();
        let el = self.cpu.pstate.el;
        match (op1, crn, crm, op2) {
            // DC ZVA: zero a 64-byte block (EL0 only with SCTLR_EL1.DZE).
            (3, 7, 4, 1) => {
                if el == 0 && self.cpu.sys.get(SysReg::SCTLR_EL1) & sctlr::DZE == 0 {
                    return Err(self.sysreg_trap());
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
                    return Err(self.sysreg_trap());
                }
                Ok(())
            }
            // Everything else (DC by set/way, IC IALLU[IS], TLBI, AT) is
            // EL1-only.
            _ if el == 0 => Err(self.fault(Exception::Undefined)),
            (0, 7, 6, 1 | 2) | (0, 7, 10 | 14, 2) | (0, 7, 1 | 5, 0) => Ok(()),
            // TLB maintenance: every TLBI flushes the whole TLB (allowed:
            // over-invalidation is always architecturally safe).
            (0, 8, _, _) => {
                self.cpu.tlb.flush();
                Ok(())
            }
            // AT S1E1R, S1E1W, S1E0R, S1E0W: translate without faulting and
            // report in PAR_EL1.
            (0, 7, 8, 0..=3) => {
                let access = if op2 & 1 == 1 {
                    AccessType::Write
                } else {
                    AccessType::Read
                };
                let par = self.cpu.address_translate(self.bus, v, access, op2 >= 2);
                self.cpu.sys.set(SysReg::PAR_EL1, par);
                Ok(())
            }
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
            Hint::Wfi | Hint::Wfe => {
                // At EL0, SCTLR_EL1.nTWI/nTWE = 0 trap WFI/WFE to EL1.
                let wfe = h == Hint::Wfe;
                let allow = if wfe { sctlr::NTWE } else { sctlr::NTWI };
                if self.cpu.pstate.el == 0 && self.cpu.sys.get(SysReg::SCTLR_EL1) & allow == 0 {
                    return Err(self.fault(Exception::WfxTrap { wfe }));
                }
                self.cpu.pc = self.next_pc;
                Err(StopReason::WaitForInterrupt)
            }
            Hint::Yield | Hint::Sev | Hint::Sevl => Ok(()),
        }
    }

    fn barrier(&mut self, _b: Barrier) {}

    fn clear_exclusive(&mut self) {
        self.cpu.monitor = None;
    }

    fn check_fp_enabled(&mut self) -> Result<(), StopReason> {
        if crate::sysreg::fp_enabled(self.cpu.sys.get(SysReg::CPACR_EL1), self.cpu.pstate.el) {
            Ok(())
        } else {
            Err(self.fault(Exception::FpAccessTrap))
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
        let fpcr = self.cpu.sys.get(SysReg::FPCR);
        let mut flags = 0u32;
        let r = crate::fp::eval(op, size, args, fpcr, &mut flags);
        if flags != 0 {
            let fpsr = self.cpu.sys.get(SysReg::FPSR);
            self.cpu.sys.set(SysReg::FPSR, fpsr | u64::from(flags));
        }
        r
    }
    fn sat(&mut self, op: SatOp, a: u64, b: u64) -> u64 {
        let (r, saturated) = crate::simd::eval_sat(op, a, b);
        if saturated {
            let fpsr = self.cpu.sys.get(SysReg::FPSR);
            self.cpu
                .sys
                .set(SysReg::FPSR, fpsr | u64::from(crate::sysreg::fpsr::QC));
        }
        r
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
        let mut exceptions_in_a_row = 0u32;
        let mut first = (0u64, 0u64, 0u64);
        while self.icount - start < budget {
            match self.step(bus) {
                Ok(()) => exceptions_in_a_row = 0,
                Err(StopReason::Exception) => {
                    exceptions_in_a_row += 1;
                    let syndrome = (
                        self.sys.get(SysReg::ESR_EL1),
                        self.sys.get(SysReg::ELR_EL1),
                        self.sys.get(SysReg::FAR_EL1),
                    );
                    if exceptions_in_a_row == 1 {
                        first = syndrome;
                    }
                    if exceptions_in_a_row >= EXCEPTION_LOOP_LIMIT {
                        let (esr, elr, far) = syndrome;
                        let msg = format!(
                            "core {} is stuck taking exceptions without executing an instruction \
                             (VBAR_EL1={:#x}): the first was ESR_EL1={:#x} at ELR_EL1={:#x} FAR_EL1={:#x}, \
                             the last ESR_EL1={esr:#x} at ELR_EL1={elr:#x} FAR_EL1={far:#x}",
                            self.id,
                            self.sys.get(SysReg::VBAR_EL1),
                            first.0,
                            first.1,
                            first.2,
                        );
                        return (self.icount - start, StepEvent::Fatal(msg));
                    }
                }
                Err(StopReason::Semihosting) => return (self.icount - start, StepEvent::Semihosting),
                Err(StopReason::WaitForInterrupt) => return (self.icount - start, StepEvent::WaitForInterrupt),
            }
        }
        (self.icount - start, StepEvent::Budget)
    }

    /// Executes one instruction (or takes the exception it raises).
    pub fn step<B: Bus + ?Sized>(&mut self, bus: &mut B) -> Result<(), StopReason> {
        let pc = self.pc;
        if self.pstate.il {
            self.take_exception(Exception::IllegalState, pc);
            return Err(StopReason::Exception);
        }
        if pc & 3 != 0 {
            self.take_exception(Exception::PcAlignment, pc);
            return Err(StopReason::Exception);
        }
        let pa = match self.translate(bus, pc, AccessType::Fetch, false) {
            Ok((pa, _)) => pa,
            Err(fault) => {
                self.take_exception(Exception::InstructionAbort { va: pc, fault }, pc);
                return Err(StopReason::Exception);
            }
        };
        let raw = match bus.fetch(self.id, pa) {
            Ok(w) => w,
            Err(_) => {
                self.take_exception(
                    Exception::InstructionAbort {
                        va: pc,
                        fault: Fault::External,
                    },
                    pc,
                );
                return Err(StopReason::Exception);
            }
        };
        let op = self.decode_cached(raw);
        let mut ev = Eval {
            cpu: self,
            bus,
            pc,
            next_pc: pc.wrapping_add(4),
            raw,
        };
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
            Err(StopReason::WaitForInterrupt) => {
                self.icount += 1;
                Err(StopReason::WaitForInterrupt)
            }
            Err(e) => Err(e),
        }
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
