//! Semantics of group `simd_perm`: AdvSIMD structure loads/stores, permutes, table lookups, copies.
//!
//! Lanes are picked at translation time (`q_lane`/`q_with_lane` with
//! constant indices); only TBL/TBX index with run-time values, through
//! [`Emitter::q_table`]. Structure loads make every memory access (one per
//! element, element-aligned as the architecture checks them) before any
//! register changes, so a fault midway leaves the registers as they were;
//! structure stores may have stored part of their elements when one faults,
//! as the architecture allows.

use super::*;
use crate::isa::SimdPermVisitor;

/// `(rpt, selem)` of LD1-LD4/ST1-ST4 (multiple structures) by `opcode`:
/// how many registers are filled one after the other, and how many
/// registers each structure is spread over.
fn mult_layout(opcode: u32) -> Option<(u32, u32)> {
    Some(match opcode {
        0b0000 => (1, 4),
        0b0010 => (4, 1),
        0b0100 => (1, 3),
        0b0110 => (3, 1),
        0b0111 => (1, 1),
        0b1000 => (1, 2),
        0b1010 => (2, 1),
        _ => return None,
    })
}

/// What an LD1-LD4/ST1-ST4 (single structure) or LD1R-LD4R encoding does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SingleLayout {
    /// Registers per structure (1-4).
    selem: u32,
    /// log2 of the element size in bytes.
    scale: u32,
    /// The lane, or `None` for the load-and-replicate forms.
    index: Option<u32>,
}

/// Decodes the single-structure fields (`AdvSIMD load/store single
/// structure`); `None` is unallocated.
fn single_layout(q: u32, l: u32, r: u32, opcode: u32, s: u32, size: u32) -> Option<SingleLayout> {
    let selem = ((opcode & 1) << 1 | r) + 1;
    let (scale, index) = match opcode >> 1 {
        0 => (0, Some(q << 3 | s << 2 | size)),
        1 if size & 1 == 0 => (1, Some(q << 2 | s << 1 | size >> 1)),
        2 if size == 0 => (2, Some(q << 1 | s)),
        2 if size == 1 && s == 0 => (3, Some(q)),
        3 if l == 1 && s == 0 => (size, None),
        _ => return None,
    };
    Some(SingleLayout { selem, scale, index })
}

/// Element size and index of a copy's `imm5` (lowest set bit = size);
/// `None` when imm5 = x0000.
fn imm5_elem(imm5: u32) -> Option<(u32, u32)> {
    let size = imm5.trailing_zeros();
    (size <= 3).then(|| (size, imm5 >> (size + 1)))
}

impl<E: Emitter> Translate<'_, E> {
    /// `v` (an `esize`-byte value, zero-extended) in every lane of a 64-bit
    /// (`!q`, upper half zero) or 128-bit vector.
    fn replicate(&mut self, v: E::V, esize: u8, q: bool) -> E::Q {
        // v * 0x0101.. spreads a zero-extended element without carries.
        let ones = u64::MAX / crate::simd::mask(esize * 8);
        let v = if ones == 1 {
            v
        } else {
            let k = self.e.imm(ones);
            self.e.bin(BinOp::Mul, v, k)
        };
        let zero = self.e.q_imm(0);
        let r = self.e.q_with_lane(zero, 8, 0, v);
        if q {
            self.e.q_with_lane(r, 8, 1, v)
        } else {
            r
        }
    }

    /// Writes back the base of a post-indexed structure access: by X[rm],
    /// or by the transfer size `imm` when `rm` = 31.
    fn struct_writeback(&mut self, rn: u32, base: E::V, rm: u32, imm: u64) {
        let off = if rm == 31 { self.e.imm(imm) } else { self.e.get_x(rm) };
        let moved = self.e.bin(BinOp::Add, base, off);
        self.write_base(rn, moved);
    }

    /// LD1-LD4/ST1-ST4 (multiple structures); `post` carries Rm.
    #[allow(clippy::too_many_arguments)]
    fn ldst_multiple(
        &mut self,
        q: u32,
        l: u32,
        post: Option<u32>,
        opcode: u32,
        size: u32,
        rn: u32,
        rt: u32,
    ) -> SemResult<E> {
        let Some((rpt, selem)) = mult_layout(opcode) else {
            return self.undef();
        };
        if size == 3 && q == 0 && selem != 1 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let ebytes = 1u8 << size;
        let elements = (8u32 << q) / u32::from(ebytes);
        let base = self.base(rn)?;
        // Register k of the list is V[(rt + k) % 32]: r + s of the
        // pseudocode's loops (one of the two is always 0).
        let nregs = (rpt * selem) as usize;
        let reg = |k: usize| (rt + k as u32) % 32;
        let mut offs = 0u64;
        if l == 1 {
            let zero = self.e.q_imm(0);
            let mut vals = vec![zero; nregs];
            for r in 0..rpt {
                for e in 0..elements {
                    for s in 0..selem {
                        let k = (r + s) as usize;
                        let off = self.e.imm(offs);
                        let addr = self.e.bin(BinOp::Add, base, off);
                        let v = self.e.load(addr, ebytes, MemAccess::default())?;
                        vals[k] = self.e.q_with_lane(vals[k], ebytes, e as u8, v);
                        offs += u64::from(ebytes);
                    }
                }
            }
            if let Some(rm) = post {
                self.struct_writeback(rn, base, rm, offs);
            }
            for (k, v) in vals.into_iter().enumerate() {
                self.e.set_q(reg(k), v);
            }
        } else {
            let vals: Vec<E::Q> = (0..nregs).map(|k| self.e.get_q(reg(k))).collect();
            for r in 0..rpt {
                for e in 0..elements {
                    for s in 0..selem {
                        let k = (r + s) as usize;
                        let off = self.e.imm(offs);
                        let addr = self.e.bin(BinOp::Add, base, off);
                        let v = self.e.q_lane(vals[k], ebytes, e as u8);
                        self.e.store(addr, v, ebytes, MemAccess::default())?;
                        offs += u64::from(ebytes);
                    }
                }
            }
            if let Some(rm) = post {
                self.struct_writeback(rn, base, rm, offs);
            }
        }
        Ok(())
    }

    /// LD1-LD4/ST1-ST4 (single structure) and LD1R-LD4R; `post` carries Rm.
    #[allow(clippy::too_many_arguments)]
    fn ldst_one(
        &mut self,
        q: u32,
        l: u32,
        r: u32,
        post: Option<u32>,
        opcode: u32,
        s: u32,
        size: u32,
        rn: u32,
        rt: u32,
    ) -> SemResult<E> {
        let Some(lay) = single_layout(q, l, r, opcode, s, size) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let ebytes = 1u8 << lay.scale;
        let base = self.base(rn)?;
        let reg = |k: u32| (rt + k) % 32;
        let total = u64::from(lay.selem) * u64::from(ebytes);
        let addr_of = |t: &mut Self, k: u32| {
            let off = t.e.imm(u64::from(k) * u64::from(ebytes));
            t.e.bin(BinOp::Add, base, off)
        };
        if l == 1 {
            let mut elems = Vec::with_capacity(lay.selem as usize);
            for k in 0..lay.selem {
                let addr = addr_of(self, k);
                elems.push(self.e.load(addr, ebytes, MemAccess::default())?);
            }
            if let Some(rm) = post {
                self.struct_writeback(rn, base, rm, total);
            }
            for (k, v) in (0..).zip(elems) {
                let val = match lay.index {
                    None => self.replicate(v, ebytes, q == 1),
                    Some(i) => {
                        let old = self.e.get_q(reg(k));
                        self.e.q_with_lane(old, ebytes, i as u8, v)
                    }
                };
                self.e.set_q(reg(k), val);
            }
        } else {
            let i = lay.index.unwrap_or(0) as u8; // stores always have a lane
            for k in 0..lay.selem {
                let addr = addr_of(self, k);
                let src = self.e.get_q(reg(k));
                let v = self.e.q_lane(src, ebytes, i);
                self.e.store(addr, v, ebytes, MemAccess::default())?;
            }
            if let Some(rm) = post {
                self.struct_writeback(rn, base, rm, total);
            }
        }
        Ok(())
    }

    /// UZP/TRN/ZIP: `part` is 0 for the `1` forms, 1 for the `2` forms.
    #[allow(clippy::too_many_arguments)]
    fn permute(&mut self, kind: Permute, q: u32, size: u32, part: u32, rm: u32, rn: u32, rd: u32) -> SemResult<E> {
        if size == 3 && q == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let esize = 1u8 << size;
        let elements = (8u32 << q) / u32::from(esize);
        let a = self.e.get_q(rn);
        let b = self.e.get_q(rm);
        let mut res = self.e.q_imm(0);
        for e in 0..elements {
            // (source register, lane) of result lane e.
            let (src, idx) = match kind {
                Permute::Uzp => {
                    // Element 2e + part of b:a.
                    let i = 2 * e + part;
                    if i < elements {
                        (a, i)
                    } else {
                        (b, i - elements)
                    }
                }
                Permute::Trn => (if e % 2 == 0 { a } else { b }, (e & !1) + part),
                Permute::Zip => (if e % 2 == 0 { a } else { b }, part * elements / 2 + e / 2),
            };
            let v = self.e.q_lane(src, esize, idx as u8);
            res = self.e.q_with_lane(res, esize, e as u8, v);
        }
        self.e.set_q(rd, res);
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Permute {
    Uzp,
    Trn,
    Zip,
}

impl<E: Emitter> SimdPermVisitor for Translate<'_, E> {
    fn ldst_mult(&mut self, q: u32, l: u32, opcode: u32, size: u32, rn: u32, rt: u32) -> Self::Out {
        self.ldst_multiple(q, l, None, opcode, size, rn, rt)
    }

    fn ldst_mult_post(&mut self, q: u32, l: u32, rm: u32, opcode: u32, size: u32, rn: u32, rt: u32) -> Self::Out {
        self.ldst_multiple(q, l, Some(rm), opcode, size, rn, rt)
    }

    fn ldst_single(&mut self, q: u32, l: u32, r: u32, opcode: u32, s: u32, size: u32, rn: u32, rt: u32) -> Self::Out {
        self.ldst_one(q, l, r, None, opcode, s, size, rn, rt)
    }

    fn ldst_single_post(
        &mut self,
        q: u32,
        l: u32,
        r: u32,
        rm: u32,
        opcode: u32,
        s: u32,
        size: u32,
        rn: u32,
        rt: u32,
    ) -> Self::Out {
        self.ldst_one(q, l, r, Some(rm), opcode, s, size, rn, rt)
    }

    fn tbl_tbx(&mut self, q: u32, rm: u32, len: u32, op: u32, rn: u32, rd: u32) -> Self::Out {
        self.e.check_fp_enabled()?;
        let table: Vec<E::Q> = (0..=len).map(|k| self.e.get_q((rn + k) % 32)).collect();
        let idx = self.e.get_q(rm);
        let fallback = if op == 1 { self.e.get_q(rd) } else { self.e.q_imm(0) };
        let r = self.e.q_table(&table, idx, fallback);
        let r = if q == 1 {
            r
        } else {
            let lo = self.e.q_lane(r, 8, 0);
            let zero = self.e.q_imm(0);
            self.e.q_with_lane(zero, 8, 0, lo)
        };
        self.e.set_q(rd, r);
        Ok(())
    }

    fn uzp(&mut self, q: u32, size: u32, rm: u32, op: u32, rn: u32, rd: u32) -> Self::Out {
        self.permute(Permute::Uzp, q, size, op, rm, rn, rd)
    }

    fn trn(&mut self, q: u32, size: u32, rm: u32, op: u32, rn: u32, rd: u32) -> Self::Out {
        self.permute(Permute::Trn, q, size, op, rm, rn, rd)
    }

    fn zip(&mut self, q: u32, size: u32, rm: u32, op: u32, rn: u32, rd: u32) -> Self::Out {
        self.permute(Permute::Zip, q, size, op, rm, rn, rd)
    }

    fn ext(&mut self, q: u32, rm: u32, imm4: u32, rn: u32, rd: u32) -> Self::Out {
        if q == 0 && imm4 >= 8 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        // The result is bytes imm4.. of Vm:Vn (each `8 << q` bytes), built
        // from the 64-bit chunks of that concatenation.
        let a = self.e.get_q(rn);
        let b = self.e.get_q(rm);
        let mut chunks = Vec::new();
        for src in [a, b] {
            for h in 0..=q {
                chunks.push(self.e.q_lane(src, 8, h as u8));
            }
        }
        let (k, sh) = ((imm4 / 8) as usize, imm4 % 8 * 8);
        let mut res = self.e.q_imm(0);
        for lane in 0..=q as usize {
            let lo = chunks[k + lane];
            let v = if sh == 0 {
                lo
            } else {
                let s = self.e.imm(u64::from(sh));
                let lo = self.e.bin(BinOp::Lshr, lo, s);
                let s = self.e.imm(u64::from(64 - sh));
                let hi = self.e.bin(BinOp::Shl, chunks[k + lane + 1], s);
                self.e.bin(BinOp::Or, lo, hi)
            };
            res = self.e.q_with_lane(res, 8, lane as u8, v);
        }
        self.e.set_q(rd, res);
        Ok(())
    }

    fn dup_elem(&mut self, q: u32, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let Some((size, index)) = imm5_elem(imm5) else {
            return self.undef();
        };
        if size == 3 && q == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let src = self.e.get_q(rn);
        let v = self.e.q_lane(src, 1 << size, index as u8);
        let r = self.replicate(v, 1 << size, q == 1);
        self.e.set_q(rd, r);
        Ok(())
    }

    fn dup_gen(&mut self, q: u32, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let Some((size, _)) = imm5_elem(imm5) else {
            return self.undef();
        };
        if size == 3 && q == 0 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let x = self.xzr(rn, Width::W64);
        let v = if size == 3 {
            x
        } else {
            self.e.un(UnOp::Zext(8 << size), x)
        };
        let r = self.replicate(v, 1 << size, q == 1);
        self.e.set_q(rd, r);
        Ok(())
    }

    fn ins_gen(&mut self, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let Some((size, index)) = imm5_elem(imm5) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let x = self.xzr(rn, Width::W64);
        let old = self.e.get_q(rd);
        let r = self.e.q_with_lane(old, 1 << size, index as u8, x);
        self.e.set_q(rd, r);
        Ok(())
    }

    fn smov(&mut self, q: u32, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let Some((size, index)) = imm5_elem(imm5) else {
            return self.undef();
        };
        // To W: B, H; to X: B, H, S.
        if size > 1 + q {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let src = self.e.get_q(rn);
        let v = self.e.q_lane(src, 1 << size, index as u8);
        let v = self.e.un(UnOp::Sext(8 << size), v);
        self.set_xzr(rd, v, Width::from_sf(q));
        Ok(())
    }

    fn umov(&mut self, q: u32, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let Some((size, index)) = imm5_elem(imm5) else {
            return self.undef();
        };
        // To W: B, H, S; to X: D only.
        if (q == 0 && size > 2) || (q == 1 && size != 3) {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let src = self.e.get_q(rn);
        let v = self.e.q_lane(src, 1 << size, index as u8);
        self.set_xzr(rd, v, Width::from_sf(q));
        Ok(())
    }

    fn ins_elem(&mut self, imm5: u32, imm4: u32, rn: u32, rd: u32) -> Self::Out {
        let Some((size, dst)) = imm5_elem(imm5) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let src = self.e.get_q(rn);
        let v = self.e.q_lane(src, 1 << size, (imm4 >> size) as u8);
        let old = self.e.get_q(rd);
        let r = self.e.q_with_lane(old, 1 << size, dst as u8, v);
        self.e.set_q(rd, r);
        Ok(())
    }

    fn dup_elem_scalar(&mut self, imm5: u32, rn: u32, rd: u32) -> Self::Out {
        let Some((size, index)) = imm5_elem(imm5) else {
            return self.undef();
        };
        self.e.check_fp_enabled()?;
        let src = self.e.get_q(rn);
        let v = self.e.q_lane(src, 1 << size, index as u8);
        let zero = self.e.q_imm(0);
        let r = self.e.q_with_lane(zero, 8, 0, v);
        self.e.set_q(rd, r);
        Ok(())
    }
}

/// A one-instruction machine for the unit tests of this module and of
/// `fp_ldst`: RAM at [`tests::BASE`], the instruction at its start, data
/// at [`tests::DATA`] (byte `i` of RAM holds `i as u8` unless a test
/// writes it), FP/SIMD enabled.
#[cfg(test)]
pub(super) mod tests {
    use crate::bus::{Bus, BusError, PhysAddr, Requester};
    use crate::state::{Cpu, CpuConfig};
    use crate::sysreg::SysReg;
    use crate::StopReason;

    pub const BASE: u64 = 0x4000_0000;
    pub const SIZE: u64 = 0x4000;
    pub const DATA: u64 = BASE + 0x1000;

    pub struct Ram(pub Vec<u8>);

    impl Bus for Ram {
        fn read(&mut self, _: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
            let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
            let b = self.0.get(off..off + usize::from(size)).ok_or(BusError::Unmapped(pa))?;
            Ok(b.iter().rev().fold(0, |acc, &x| (acc << 8) | u64::from(x)))
        }
        fn write(&mut self, _: Requester, pa: PhysAddr, size: u8, v: u64) -> Result<(), BusError> {
            let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
            let b = self
                .0
                .get_mut(off..off + usize::from(size))
                .ok_or(BusError::Unmapped(pa))?;
            for (i, x) in b.iter_mut().enumerate() {
                *x = (v >> (8 * i)) as u8;
            }
            Ok(())
        }
    }

    pub struct M {
        pub cpu: Cpu,
        pub ram: Ram,
    }

    impl M {
        /// `word` at BASE, X1 = DATA.
        pub fn new(word: u32) -> M {
            let mut ram = Ram((0..SIZE).map(|i| i as u8).collect());
            ram.0[..4].copy_from_slice(&word.to_le_bytes());
            let mut cpu = Cpu::new(0, CpuConfig::cortex_a57(0), BASE);
            cpu.sys.set(SysReg::CPACR_EL1, 3 << 20);
            cpu.x[1] = DATA;
            M { cpu, ram }
        }

        /// Runs the instruction; panics if it does not complete.
        pub fn run(&mut self) -> &mut Self {
            self.cpu.step(&mut self.ram).expect("instruction completes");
            self
        }

        /// Runs the instruction, expecting an exception; returns ESR_EL1.
        pub fn fault(&mut self) -> u64 {
            assert_eq!(self.cpu.step(&mut self.ram), Err(StopReason::Exception));
            self.cpu.sys.get(SysReg::ESR_EL1)
        }

        pub fn mem(&self, addr: u64, n: usize) -> &[u8] {
            let off = (addr - BASE) as usize;
            &self.ram.0[off..off + n]
        }
    }

    /// The 16 bytes `first, first + 1, ...` as a register value.
    pub fn bytes_from(first: u8) -> u128 {
        u128::from_le_bytes(std::array::from_fn(|i| first.wrapping_add(i as u8)))
    }

    /// ESR of a data abort at the current EL with status `dfsc`.
    pub fn data_abort(dfsc: u64, write: bool) -> u64 {
        (0x25 << 26) | (1 << 25) | (u64::from(write) << 6) | dfsc
    }

    const ALIGNMENT: u64 = 0x21;
    const EXTERNAL: u64 = 0x10;
    const ONES: u128 = u128::MAX;

    #[test]
    fn ld1_one_register_and_the_64_bit_form_zeroes_the_top() {
        let mut m = M::new(0x4c40_7020); // ld1 {v0.16b}, [x1]
        m.run();
        assert_eq!(m.cpu.v[0], 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100);
        let mut m = M::new(0x0c40_7020); // ld1 {v0.8b}, [x1]
        m.cpu.v[0] = ONES;
        m.run();
        assert_eq!(m.cpu.v[0], 0x0706_0504_0302_0100);
    }

    #[test]
    fn ld3_deinterleaves_and_post_increments() {
        let mut m = M::new(0x4cdf_4420); // ld3 {v0.8h, v1.8h, v2.8h}, [x1], #48
        m.run();
        // Halfword k of memory is (2k+1):(2k); v0 gets k = 0, 3, 6, ...
        assert_eq!(m.cpu.v[0], 0x2b2a_2524_1f1e_1918_1312_0d0c_0706_0100);
        assert_eq!(m.cpu.v[1], 0x2d2c_2726_2120_1b1a_1514_0f0e_0908_0302);
        assert_eq!(m.cpu.v[2], 0x2f2e_2928_2322_1d1c_1716_1110_0b0a_0504);
        assert_eq!(m.cpu.x[1], DATA + 48);
    }

    #[test]
    fn st4_interleaves() {
        let mut m = M::new(0x4c00_0824); // st4 {v4.4s, v5.4s, v6.4s, v7.4s}, [x1]
        for r in 0..4u32 {
            // lane e of v(4+r) = 0x1000 * r + e
            m.cpu.v[4 + r as usize] = (0..4u32).fold(0, |q, e| q | u128::from(0x1000 * r + e) << (32 * e));
        }
        m.run();
        let words: Vec<u32> = m
            .mem(DATA, 64)
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        #[rustfmt::skip]
        assert_eq!(words, [
            0, 0x1000, 0x2000, 0x3000, 1, 0x1001, 0x2001, 0x3001,
            2, 0x1002, 0x2002, 0x3002, 3, 0x1003, 0x2003, 0x3003,
        ]);
        assert_eq!(m.cpu.x[1], DATA, "no writeback");
    }

    #[test]
    fn ld1_four_registers_wrap_from_v31_to_v0_and_post_index_by_register() {
        let mut m = M::new(0x4cc2_2c3e); // ld1 {v30.2d, v31.2d, v0.2d, v1.2d}, [x1], x2
        m.cpu.x[2] = 0x100;
        m.run();
        assert_eq!(m.cpu.v[30], bytes_from(0));
        assert_eq!(m.cpu.v[31], bytes_from(16));
        assert_eq!(m.cpu.v[0], bytes_from(32));
        assert_eq!(m.cpu.v[1], bytes_from(48));
        assert_eq!(m.cpu.x[1], DATA + 0x100);
    }

    #[test]
    fn ld2_to_one_lane_keeps_the_other_lanes() {
        let mut m = M::new(0x4d60_9020); // ld2 {v0.s, v1.s}[3], [x1]
        m.cpu.v[0] = ONES;
        m.cpu.v[1] = 0;
        m.run();
        assert_eq!(m.cpu.v[0], 0x0302_0100_ffff_ffff_ffff_ffff_ffff_ffff);
        assert_eq!(m.cpu.v[1], 0x0706_0504_0000_0000_0000_0000_0000_0000);
    }

    #[test]
    fn ld4r_and_ld1r_replicate() {
        let mut m = M::new(0x0dff_e420); // ld4r {v0.4h, v1.4h, v2.4h, v3.4h}, [x1], #8
        m.cpu.v[0] = ONES;
        m.run();
        assert_eq!(m.cpu.v[0], 0x0100_0100_0100_0100);
        assert_eq!(m.cpu.v[1], 0x0302_0302_0302_0302);
        assert_eq!(m.cpu.v[2], 0x0504_0504_0504_0504);
        assert_eq!(m.cpu.v[3], 0x0706_0706_0706_0706);
        assert_eq!(m.cpu.x[1], DATA + 8);
        let mut m = M::new(0x0d40_c020); // ld1r {v0.8b}, [x1]
        m.cpu.x[1] = DATA + 0x25;
        m.run();
        assert_eq!(m.cpu.v[0], 0x2525_2525_2525_2525);
    }

    #[test]
    fn st1_one_lane_post_index_by_register() {
        let mut m = M::new(0x4d82_4820); // st1 {v0.h}[5], [x1], x2
        m.cpu.v[0] = 0xabcd_u128 << 80;
        m.cpu.x[2] = u64::MAX; // -1
        m.run();
        assert_eq!(m.mem(DATA, 3), [0xcd, 0xab, 2]);
        assert_eq!(m.cpu.x[1], DATA - 1);
    }

    #[test]
    fn a_fault_midway_leaves_the_registers_unchanged() {
        // ld3 {v0.8h, v1.8h, v2.8h}, [x1], #48 with only 24 bytes mapped.
        let mut m = M::new(0x4cdf_4420);
        let at = BASE + SIZE - 24;
        m.cpu.x[1] = at;
        for r in 0..3 {
            m.cpu.v[r] = ONES;
        }
        assert_eq!(m.fault(), data_abort(EXTERNAL, false));
        assert_eq!(m.cpu.sys.get(SysReg::FAR_EL1), BASE + SIZE);
        assert_eq!(&m.cpu.v[..3], &[ONES; 3]);
        assert_eq!(m.cpu.x[1], at, "no writeback");
    }

    #[test]
    fn structure_elements_must_be_aligned_to_their_size_on_device_memory() {
        let mut m = M::new(0x4c40_7820); // ld1 {v0.4s}, [x1]
        m.cpu.x[1] = DATA + 2;
        assert_eq!(m.fault(), data_abort(ALIGNMENT, false));
        let mut m = M::new(0x4c40_7020); // ld1 {v0.16b}, [x1]: byte elements
        m.cpu.x[1] = DATA + 1;
        m.run();
        assert_eq!(m.cpu.v[0], bytes_from(1));
    }

    #[test]
    fn fp_disabled_traps_before_anything_changes() {
        let mut m = M::new(0x4cdf_4420); // ld3 ..., [x1], #48
        m.cpu.sys.set(SysReg::CPACR_EL1, 0);
        assert_eq!(m.fault(), (0x07 << 26) | (1 << 25) | 0x1e0_0000);
        assert_eq!(m.cpu.x[1], DATA);
        assert_eq!(m.cpu.v[0], 0);
    }

    /// V1 = bytes 0x10.., V2 = the given indices; runs `word`.
    fn table(word: u32, idx: [u8; 16], regs: &[(usize, u128)]) -> M {
        let mut m = M::new(word);
        for &(r, v) in regs {
            m.cpu.v[r] = v;
        }
        m.cpu.v[2] = u128::from_le_bytes(idx);
        m.run();
        m
    }

    #[test]
    fn tbl_out_of_range_indices_give_zero_and_tbx_keeps() {
        let idx = [0, 15, 16, 255, 3, 1, 2, 64, 0x80, 7, 7, 8, 9, 10, 11, 0x10];
        let m = table(0x4e02_0020, idx, &[(1, bytes_from(0x10)), (0, ONES)]); // tbl v0.16b, {v1.16b}, v2.16b
        #[rustfmt::skip]
        assert_eq!(m.cpu.v[0].to_le_bytes(), [
            0x10, 0x1f, 0, 0, 0x13, 0x11, 0x12, 0, 0, 0x17, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0,
        ]);
        let m = table(0x4e02_1020, idx, &[(1, bytes_from(0x10)), (0, ONES)]); // tbx v0.16b, {v1.16b}, v2.16b
        #[rustfmt::skip]
        assert_eq!(m.cpu.v[0].to_le_bytes(), [
            0x10, 0x1f, 0xff, 0xff, 0x13, 0x11, 0x12, 0xff, 0xff, 0x17, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0xff,
        ]);
    }

    #[test]
    fn tbl_with_several_registers() {
        // tbl v0.8b, {v1.16b, v2.16b}, v3.8b
        let mut m = M::new(0x0e03_2020);
        m.cpu.v[0] = ONES;
        m.cpu.v[1] = bytes_from(0x10);
        m.cpu.v[2] = bytes_from(0x20);
        m.cpu.v[3] = u128::from_le_bytes([31, 16, 0, 32, 17, 255, 15, 14, 1, 1, 1, 1, 1, 1, 1, 1]);
        m.run();
        assert_eq!(
            m.cpu.v[0],
            u128::from_le_bytes([0x2f, 0x20, 0x10, 0, 0x21, 0, 0x1f, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0])
        );
        // tbl v0.16b, {v31.16b, v0.16b, v1.16b, v2.16b}, v3.16b
        let mut m = M::new(0x4e03_63e0);
        m.cpu.v[31] = bytes_from(0x40);
        m.cpu.v[0] = bytes_from(0x50);
        m.cpu.v[1] = bytes_from(0x60);
        m.cpu.v[2] = bytes_from(0x70);
        m.cpu.v[3] = u128::from_le_bytes([63, 0, 16, 32, 48, 64, 47, 31, 200, 1, 2, 3, 4, 5, 6, 7]);
        m.run();
        assert_eq!(
            m.cpu.v[0].to_le_bytes(),
            [0x7f, 0x40, 0x50, 0x60, 0x70, 0, 0x6f, 0x5f, 0, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47]
        );
    }

    /// Runs `word` with V1 = bytes 0.., V2 = bytes 0x10.., V0 all ones.
    fn two_operand(word: u32) -> u128 {
        let mut m = M::new(word);
        m.cpu.v[0] = ONES;
        m.cpu.v[1] = bytes_from(0);
        m.cpu.v[2] = bytes_from(0x10);
        m.run();
        m.cpu.v[0]
    }

    #[test]
    fn zip_uzp_trn() {
        let b = |v: [u8; 16]| u128::from_le_bytes(v);
        #[rustfmt::skip]
        let cases: &[(u32, &str, u128)] = &[
            (0x4e02_3820, "zip1 v0.16b", b([0, 0x10, 1, 0x11, 2, 0x12, 3, 0x13, 4, 0x14, 5, 0x15, 6, 0x16, 7, 0x17])),
            (0x4e02_7820, "zip2 v0.16b", b([8, 0x18, 9, 0x19, 10, 0x1a, 11, 0x1b, 12, 0x1c, 13, 0x1d, 14, 0x1e, 15, 0x1f])),
            // Halfwords a_i = (2i+1):(2i), b_i = 0x10 + that.
            (0x4e42_1820, "uzp1 v0.8h", 0x1d1c_1918_1514_1110_0d0c_0908_0504_0100),
            (0x4e42_5820, "uzp2 v0.8h", 0x1f1e_1b1a_1716_1312_0f0e_0b0a_0706_0302),
            (0x4e82_2820, "trn1 v0.4s", 0x1b1a_1918_0b0a_0908_1312_1110_0302_0100),
            (0x4e82_6820, "trn2 v0.4s", 0x1f1e_1d1c_0f0e_0d0c_1716_1514_0706_0504),
            (0x0e82_3820, "zip1 v0.2s", 0x1312_1110_0302_0100),
        ];
        for &(word, what, want) in cases {
            assert_eq!(two_operand(word), want, "{what}: {:#034x}", two_operand(word));
        }
    }

    #[test]
    fn ext_takes_a_window_of_the_pair() {
        let r = two_operand(0x6e02_1820); // ext v0.16b, v1.16b, v2.16b, #3
        assert_eq!(
            r.to_le_bytes(),
            [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x10, 0x11, 0x12]
        );
        let r = two_operand(0x2e02_2820); // ext v0.8b, v1.8b, v2.8b, #5
        assert_eq!(
            r,
            u128::from_le_bytes([5, 6, 7, 0x10, 0x11, 0x12, 0x13, 0x14, 0, 0, 0, 0, 0, 0, 0, 0])
        );
    }

    /// Runs `word` with V1 = bytes `v1_first..`, X1 = `x1`, V0 all ones.
    fn copy(word: u32, v1_first: u8, x1: u64) -> M {
        let mut m = M::new(word);
        m.cpu.v[0] = ONES;
        m.cpu.v[1] = bytes_from(v1_first);
        m.cpu.x[0] = u64::MAX;
        m.cpu.x[1] = x1;
        m.run();
        m
    }

    #[test]
    fn dup_ins_umov_smov() {
        const X: u64 = 0xdead_beef_1234_5678;
        assert_eq!(
            copy(0x4e1a_0420, 0, X).cpu.v[0],
            0x0d0c_0d0c_0d0c_0d0c_0d0c_0d0c_0d0c_0d0c
        ); // dup v0.8h, v1.h[6]
        assert_eq!(copy(0x0e04_0c20, 0, X).cpu.v[0], 0x1234_5678_1234_5678); // dup v0.2s, w1
        assert_eq!(copy(0x4e08_0c20, 0, X).cpu.v[0], u128::from(X) << 64 | u128::from(X)); // dup v0.2d, x1
        assert_eq!(copy(0x4e13_1c20, 0, X).cpu.v[0], !(0xffu128 << 72) | 0x78 << 72); // mov v0.b[9], w1
        assert_eq!(copy(0x6e0a_7420, 0, X).cpu.v[0], !(0xffffu128 << 32) | 0x0f0e << 32); // mov v0.h[2], v1.h[7]
        assert_eq!(copy(0x0e1b_3c20, 0, X).cpu.x[0], 13); // umov w0, v1.b[13]
        assert_eq!(copy(0x4e18_3c20, 0, X).cpu.x[0], 0x0f0e_0d0c_0b0a_0908); // mov x0, v1.d[1]
        assert_eq!(copy(0x4e0e_2c20, 0x80, X).cpu.x[0], 0xffff_ffff_ffff_8786); // smov x0, v1.h[3]
        assert_eq!(copy(0x0e05_2c20, 0x80, X).cpu.x[0], 0xffff_ff82); // smov w0, v1.b[2]
        assert_eq!(copy(0x5e1c_0420, 0, X).cpu.v[0], 0x0f0e_0d0c); // mov s0, v1.s[3]
    }
}
