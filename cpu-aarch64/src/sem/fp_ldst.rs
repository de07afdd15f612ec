//! SIMD&FP register loads and stores of the general load/store rows (the
//! encodings with V = 1): LDR/STR (all addressing modes), LDUR/STUR,
//! LDR (literal), LDP/STP/LDNP/STNP.
//!
//! A scalar load writes the low bytes of the V register and zeroes the
//! rest. A Q register is moved as two 8-byte accesses (the Arm ARM's
//! `Mem[address, 16, AccType_VEC]`: a pair of 64-bit single-copy atomic
//! accesses) after the alignment of the whole 16 bytes has been checked, as
//! the architecture checks it.

use super::*;

/// Bytes moved by a SIMD&FP LDR/STR with `size` and `opc`: B, H, S, D
/// (`opc<1>` = 0) or Q (`size` = 0, `opc<1>` = 1); `None` is unallocated.
fn fp_access_bytes(size: u32, opc: u32) -> Option<u8> {
    match (opc >> 1, size) {
        (0, s) => Some(1 << s),
        (1, 0) => Some(16),
        _ => None,
    }
}

impl<E: Emitter> Translate<'_, E> {
    /// Loads a `bytes`-byte (1, 2, 4, 8, 16) SIMD&FP value at `addr`,
    /// zero-extended to 128 bits.
    pub(super) fn load_vreg(&mut self, addr: E::V, bytes: u8) -> Result<E::Q, E::Stop> {
        let zero = self.e.q_imm(0);
        if bytes < 16 {
            let v = self.e.load(addr, bytes, MemAccess::default())?;
            return Ok(self.e.q_with_lane(zero, 8, 0, v));
        }
        self.e.check_alignment(addr, 16, false)?;
        let lo = self.e.load(addr, 8, MemAccess::default())?;
        let eight = self.e.imm(8);
        let addr_hi = self.e.bin(BinOp::Add, addr, eight);
        let hi = self.e.load(addr_hi, 8, MemAccess::default())?;
        let q = self.e.q_with_lane(zero, 8, 0, lo);
        Ok(self.e.q_with_lane(q, 8, 1, hi))
    }

    /// Stores the low `bytes` (1, 2, 4, 8, 16) bytes of `q` at `addr`.
    pub(super) fn store_vreg(&mut self, addr: E::V, q: E::Q, bytes: u8) -> Result<(), E::Stop> {
        if bytes < 16 {
            let v = self.e.q_lane(q, 8, 0);
            return self.e.store(addr, v, bytes, MemAccess::default());
        }
        self.e.check_alignment(addr, 16, true)?;
        let lo = self.e.q_lane(q, 8, 0);
        let hi = self.e.q_lane(q, 8, 1);
        self.e.store(addr, lo, 8, MemAccess::default())?;
        let eight = self.e.imm(8);
        let addr_hi = self.e.bin(BinOp::Add, addr, eight);
        self.e.store(addr_hi, hi, 8, MemAccess::default())
    }

    /// LDR (literal, SIMD&FP): `opc` 00 S, 01 D, 10 Q.
    pub(super) fn fp_ldr_lit(&mut self, opc: u32, imm19: u32, rt: u32) -> SemResult<E> {
        let bytes = match opc {
            0 => 4,
            1 => 8,
            2 => 16,
            _ => return self.undef(),
        };
        self.e.check_fp_enabled()?;
        let addr = self.e.pc().wrapping_add(sext(u64::from(imm19) << 2, 21));
        let addr = self.e.imm(addr);
        let q = self.load_vreg(addr, bytes)?;
        self.e.set_q(rt, q);
        Ok(())
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
        if opc == 3 {
            return self.undef();
        }
        let scale = 2 + opc;
        let bytes = 1u8 << scale;
        // idx: 00 LDNP/STNP (offset), 01 post-index, 10 offset, 11 pre-index.
        let (post, wback) = match idx {
            1 => (true, true),
            3 => (false, true),
            _ => (false, false),
        };
        self.e.check_fp_enabled()?;
        let base = self.base(rn)?;
        let off = self.e.imm(sext(u64::from(imm7), 7) << scale);
        let moved = self.e.bin(BinOp::Add, base, off);
        let addr = if post { base } else { moved };
        let step = self.e.imm(u64::from(bytes));
        let addr2 = self.e.bin(BinOp::Add, addr, step);
        if l == 1 {
            // Both loads complete before any register changes. Rt == Rt2 is
            // CONSTRAINED UNPREDICTABLE; the second value wins here.
            let a = self.load_vreg(addr, bytes)?;
            let b = self.load_vreg(addr2, bytes)?;
            if wback {
                self.write_base(rn, moved);
            }
            self.e.set_q(rt, a);
            self.e.set_q(rt2, b);
        } else {
            let a = self.e.get_q(rt);
            let b = self.e.get_q(rt2);
            self.store_vreg(addr, a, bytes)?;
            self.store_vreg(addr2, b, bytes)?;
            if wback {
                self.write_base(rn, moved);
            }
        }
        Ok(())
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
        let Some(bytes) = fp_access_bytes(size, opc) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let base = self.base(rn)?;
        let moved = self.e.bin(BinOp::Add, base, offset);
        let addr = if post { base } else { moved };
        if opc & 1 == 1 {
            let q = self.load_vreg(addr, bytes)?;
            if wback {
                self.write_base(rn, moved);
            }
            self.e.set_q(rt, q);
        } else {
            let q = self.e.get_q(rt);
            self.store_vreg(addr, q, bytes)?;
            if wback {
                self.write_base(rn, moved);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::simd_perm::tests::{bytes_from, data_abort, BASE, DATA, M};

    #[test]
    fn ldr_q_and_scalar_loads_zero_the_rest() {
        let mut m = M::new(0x3dc0_0420); // ldr q0, [x1, #16]
        m.run();
        assert_eq!(m.cpu.v[0], bytes_from(16));
        let mut m = M::new(0xfd40_0020); // ldr d0, [x1]
        m.cpu.v[0] = u128::MAX;
        m.run();
        assert_eq!(m.cpu.v[0], 0x0706_0504_0302_0100);
        let mut m = M::new(0x7c5f_e020); // ldur h0, [x1, #-2]
        m.cpu.x[1] = DATA + 4;
        m.cpu.v[0] = u128::MAX;
        m.run();
        assert_eq!(m.cpu.v[0], 0x0302);
    }

    #[test]
    fn ldr_q_checks_16_byte_alignment_on_device_memory() {
        let mut m = M::new(0x3dc0_0020); // ldr q0, [x1]
        m.cpu.x[1] = DATA + 8;
        assert_eq!(m.fault(), data_abort(0x21, false));
        assert_eq!(m.cpu.v[0], 0);
        let mut m = M::new(0xfd40_0020); // ldr d0, [x1]: 8 bytes, aligned
        m.cpu.x[1] = DATA + 8;
        m.run();
        assert_eq!(m.cpu.v[0], 0x0f0e_0d0c_0b0a_0908);
    }

    #[test]
    fn stores_write_only_their_size() {
        let mut m = M::new(0x3d00_0c20); // str b0, [x1, #3]
        m.cpu.v[0] = 0xaabb;
        m.run();
        assert_eq!(m.mem(DATA, 5), [0, 1, 2, 0xbb, 4]);
        let mut m = M::new(0x3ca2_7821); // str q1, [x1, x2, lsl #4]
        m.cpu.v[1] = bytes_from(0xa0);
        m.cpu.x[2] = 2;
        m.run();
        assert_eq!(
            m.mem(DATA + 32, 17),
            [&bytes_from(0xa0).to_le_bytes()[..], &[48]].concat()
        );
    }

    #[test]
    fn register_offset_is_scaled_by_the_access_size() {
        let mut m = M::new(0xbc62_7821); // ldr s1, [x1, x2, lsl #2]
        m.cpu.x[2] = 3;
        m.run();
        assert_eq!(m.cpu.v[1], 0x0f0e_0d0c);
    }

    #[test]
    fn pairs_with_writeback() {
        let mut m = M::new(0xadff_0420); // ldp q0, q1, [x1, #-32]!
        m.cpu.x[1] = DATA + 0x40;
        m.run();
        assert_eq!((m.cpu.v[0], m.cpu.v[1]), (bytes_from(0x20), bytes_from(0x30)));
        assert_eq!(m.cpu.x[1], DATA + 0x20);
        let mut m = M::new(0x6c81_0c22); // stp d2, d3, [x1], #16
        m.cpu.v[2] = 0x1111_1111_1111_1111_8877_6655_4433_2211;
        m.cpu.v[3] = 0x99;
        m.run();
        assert_eq!(
            m.mem(DATA, 17),
            [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0, 0, 0, 0, 0, 0, 0, 16]
        );
        assert_eq!(m.cpu.x[1], DATA + 16);
        let mut m = M::new(0x2c40_0420); // ldnp s0, s1, [x1]
        m.run();
        assert_eq!((m.cpu.v[0], m.cpu.v[1]), (0x0302_0100, 0x0706_0504));
    }

    #[test]
    fn a_pair_that_faults_on_its_second_half_changes_nothing() {
        let mut m = M::new(0xadff_0420); // ldp q0, q1, [x1, #-32]!
        let end = BASE + super::super::simd_perm::tests::SIZE;
        m.cpu.x[1] = end + 16; // q0 from the last 16 bytes, q1 unmapped
        assert_eq!(m.fault(), data_abort(0x10, false));
        assert_eq!((m.cpu.v[0], m.cpu.v[1], m.cpu.x[1]), (0, 0, end + 16));
    }

    #[test]
    fn literal() {
        let mut m = M::new(0x9c00_0200); // ldr q0, #0x40
        m.run();
        assert_eq!(m.cpu.v[0], bytes_from(0x40));
    }
}
