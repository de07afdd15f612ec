//! Cryptographic operation types of the [`super::Emitter`], evaluated by
//! `crate::crypto`.

/// Cryptographic operations on whole registers: `Emitter::crypto(op, a, b,
/// c)` returns the new value of the destination register. Each variant says
/// which register each operand is; operands a form does not use are ignored.
/// The 32-bit scalar results (SHA1H) come back zero-extended to 128 bits,
/// ready for `set_q`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CryptoOp {
    /// AESE: `a` = Vd, `b` = Vn; AddRoundKey, ShiftRows, SubBytes.
    Aese,
    /// AESD: `a` = Vd, `b` = Vn; AddRoundKey, InvShiftRows, InvSubBytes.
    Aesd,
    /// AESMC: `a` = Vn; MixColumns.
    Aesmc,
    /// AESIMC: `a` = Vn; InvMixColumns.
    Aesimc,
    /// SHA1C: `a` = Qd (abcd), `b` = Sn (e, low 32 bits), `c` = Vm (4 words
    /// of schedule + K); four rounds with the choose function.
    Sha1C,
    /// SHA1P: as [`CryptoOp::Sha1C`] with the parity function.
    Sha1P,
    /// SHA1M: as [`CryptoOp::Sha1C`] with the majority function.
    Sha1M,
    /// SHA1SU0: `a` = Vd, `b` = Vn, `c` = Vm; schedule update, first part.
    Sha1Su0,
    /// SHA1H: `a` = Sn; the fixed rotate ROL(Sn, 30).
    Sha1H,
    /// SHA1SU1: `a` = Vd, `b` = Vn; schedule update, second part.
    Sha1Su1,
    /// SHA256H: `a` = Qd (abcd), `b` = Qn (efgh), `c` = Vm (4 words of
    /// schedule + K); four rounds, returns the new abcd.
    Sha256H,
    /// SHA256H2: `a` = Qd (efgh), `b` = Qn (abcd before SHA256H), `c` = Vm;
    /// the same four rounds, returns the new efgh.
    Sha256H2,
    /// SHA256SU0: `a` = Vd, `b` = Vn; schedule update, first part.
    Sha256Su0,
    /// SHA256SU1: `a` = Vd, `b` = Vn, `c` = Vm; schedule update, second part.
    Sha256Su1,
    /// PMULL/PMULL2 with 64-bit elements: `a` = Vn, `b` = Vm; the 128-bit
    /// carry-less product of their low (`upper = false`, PMULL) or high
    /// (`upper = true`, PMULL2) doublewords.
    Pmull64 {
        /// PMULL2: take the upper doublewords.
        upper: bool,
    },
}
