//! A probe emitter: runs an instruction's semantics with no machine state
//! to learn what is decided at decode time (is the encoding UNDEFINED?).
//! Used by the disassembler's tests, the random-instruction generators and
//! (later) the JIT's translator.

use super::*;

/// Records whether the semantics raised Undefined Instruction; every value
/// is zero and every run-time check passes.
#[derive(Debug, Default)]
pub struct Probe {
    /// The semantics raised [`InsnException::Undefined`].
    pub undefined: bool,
}

/// True when `raw` is UNDEFINED whatever the machine state: unallocated,
/// or allocated to a feature we do not implement. Run-time conditions
/// (system register access rights, EL) are not considered.
pub fn undefined_at_decode(raw: u32) -> bool {
    let mut p = Probe::default();
    let _ = translate_raw(&mut p, raw);
    p.undefined
}

impl Emitter for Probe {
    type V = u64;
    type Q = u128;
    type Stop = ();

    fn pc(&self) -> u64 {
        0x1000
    }
    fn imm(&mut self, v: u64) -> u64 {
        v
    }
    fn get_x(&mut self, _: u32) -> u64 {
        0
    }
    fn set_x(&mut self, _: u32, _: u64) {}
    fn get_sp(&mut self) -> u64 {
        0
    }
    fn set_sp(&mut self, _: u64) {}
    fn get_nzcv(&mut self) -> u64 {
        0
    }
    fn set_nzcv(&mut self, _: u64) {}
    fn bin(&mut self, _: BinOp, _: u64, _: u64) -> u64 {
        0
    }
    fn un(&mut self, _: UnOp, _: u64) -> u64 {
        0
    }
    fn add_with_carry(&mut self, _: u64, _: u64, _: u64, _: Width) -> (u64, u64) {
        (0, 0)
    }
    fn logic_flags(&mut self, _: u64, _: Width) -> u64 {
        0
    }
    fn cond_holds(&mut self, _: u64, _: u32) -> u64 {
        0
    }
    fn select(&mut self, _: u64, a: u64, _: u64) -> u64 {
        a
    }
    fn load(&mut self, _: u64, _: u8, _: MemAccess) -> Result<u64, ()> {
        Ok(0)
    }
    fn store(&mut self, _: u64, _: u64, _: u8, _: MemAccess) -> Result<(), ()> {
        Ok(())
    }
    fn load_exclusive(&mut self, _: u64, _: u8, _: MemAccess) -> Result<u64, ()> {
        Ok(0)
    }
    fn store_exclusive(&mut self, _: u64, _: u64, _: u8, _: MemAccess) -> Result<u64, ()> {
        Ok(0)
    }
    fn load_exclusive_pair(&mut self, _: u64, _: u8, _: MemAccess) -> Result<(u64, u64), ()> {
        Ok((0, 0))
    }
    fn store_exclusive_pair(&mut self, _: u64, _: u64, _: u64, _: u8, _: MemAccess) -> Result<u64, ()> {
        Ok(0)
    }
    fn atomic_rmw(&mut self, _: AtomicOp, _: u64, _: u64, _: u8, _: MemAccess) -> Result<u64, ()> {
        Ok(0)
    }
    fn compare_and_swap(&mut self, _: u64, _: u64, _: u64, _: u8, _: MemAccess) -> Result<u64, ()> {
        Ok(0)
    }
    fn compare_and_swap_pair(&mut self, _: u64, _: (u64, u64), _: (u64, u64), _: MemAccess) -> Result<(u64, u64), ()> {
        Ok((0, 0))
    }
    fn check_sp_alignment(&mut self, _: u64) -> Result<(), ()> {
        Ok(())
    }
    fn branch(&mut self, _: u64) {}
    fn branch_indirect(&mut self, _: u64, _: BranchKind) {}
    fn branch_if(&mut self, _: u64, _: u64) {}
    fn raise(&mut self, e: InsnException) -> Result<(), ()> {
        if e == InsnException::Undefined {
            self.undefined = true;
        }
        Err(())
    }
    // Decided at run time: the encoding itself is allocated.
    fn read_sysreg(&mut self, _: SysRegId) -> Result<u64, ()> {
        Ok(0)
    }
    fn write_sysreg(&mut self, _: SysRegId, _: u64) -> Result<(), ()> {
        Ok(())
    }
    fn write_pstate_field(&mut self, _: u32, _: u32, _: u32) -> Result<(), ()> {
        Ok(())
    }
    fn sys(&mut self, _: SysRegId, _: u64) -> Result<(), ()> {
        Ok(())
    }
    fn eret(&mut self) -> Result<(), ()> {
        Ok(())
    }
    fn hint(&mut self, _: Hint) -> Result<(), ()> {
        Ok(())
    }
    fn barrier(&mut self, _: Barrier) {}
    fn clear_exclusive(&mut self) {}
    fn halt(&mut self, _: u16) -> Result<(), ()> {
        Ok(())
    }
    fn check_fp_enabled(&mut self) -> Result<(), ()> {
        Ok(())
    }
    fn get_q(&mut self, _: u32) -> u128 {
        0
    }
    fn set_q(&mut self, _: u32, _: u128) {}
    fn q_imm(&mut self, v: u128) -> u128 {
        v
    }
    fn q_lane(&mut self, _: u128, _: u8, _: u8) -> u64 {
        0
    }
    fn q_with_lane(&mut self, q: u128, _: u8, _: u8, _: u64) -> u128 {
        q
    }
    fn q_op(&mut self, _: QOp, a: u128, _: u128) -> u128 {
        a
    }
    fn q_table(&mut self, _: &[u128], _: u128, fallback: u128) -> u128 {
        fallback
    }
    fn check_alignment(&mut self, _: u64, _: u8, _: bool) -> Result<(), ()> {
        Ok(())
    }
    fn crypto(&mut self, _: CryptoOp, a: u128, _: u128, _: u128) -> u128 {
        a
    }
    fn fp(&mut self, _: FpOp, _: FpSize, _: &[u64]) -> u64 {
        0
    }
    fn sat(&mut self, _: SatOp, _: u64, _: u64) -> u64 {
        0
    }
}
