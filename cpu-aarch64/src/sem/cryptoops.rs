//! Cryptographic operation types of the [`super::Emitter`], evaluated by
//! `crate::crypto`.

/// Cryptographic operations on whole registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CryptoOp {
    /// AESE: AddRoundKey, SubBytes, ShiftRows.
    Aese,
}
