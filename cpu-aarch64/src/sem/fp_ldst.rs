//! SIMD&FP register loads and stores of the general load/store rows (the
//! encodings with V = 1): LDR/STR (all addressing modes), LDUR/STUR,
//! LDR (literal), LDP/STP/LDNP/STNP.

use super::*;

impl<E: Emitter> Translate<'_, E> {
    /// LDR (literal, SIMD&FP): `opc` 00 S, 01 D, 10 Q.
    pub(super) fn fp_ldr_lit(&mut self, opc: u32, imm19: u32, rt: u32) -> SemResult<E> {
        let _ = (opc, imm19, rt);
        self.undef()
    }

    /// LDP/STP/LDNP/STNP (SIMD&FP): `opc` 00 S, 01 D, 10 Q.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fp_ldst_pair(
        &mut self,
        opc: u32,
        idx: u32,
        l: u32,
        imm7: u32,
        rt2: u32,
        rn: u32,
        rt: u32,
    ) -> SemResult<E> {
        let _ = (opc, idx, l, imm7, rt2, rn, rt);
        self.undef()
    }

    /// LDR/STR/LDUR/STUR (SIMD&FP): `size`:`opc<1>` selects B/H/S/D/Q,
    /// `opc<0>` load. `offset` is added to the base unless `post`; `wback`
    /// writes the moved address back.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fp_ldst(
        &mut self,
        size: u32,
        opc: u32,
        rn: u32,
        rt: u32,
        offset: E::V,
        post: bool,
        wback: bool,
    ) -> SemResult<E> {
        let _ = (size, opc, rn, rt, offset, post, wback);
        self.undef()
    }
}
