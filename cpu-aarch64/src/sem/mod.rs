//! Instruction semantics, written once against [`Emitter`].
//!
//! [`Translate`] implements the generated [`crate::isa::Visitor`]: each row
//! of the encoding table gets one method that checks the row's unallocated
//! sub-encodings and expresses the instruction as emitter operations. The
//! pseudocode of the Arm ARM is the model; comments cite what is not obvious.

mod crypto;
mod cryptoops;
mod emitter;
mod fp;
mod fp_ldst;
mod fpops;
pub mod probe;
mod simd_fp;
mod simd_int;
mod simd_perm;
mod simdops;

pub use emitter::*;

use crate::isa::{self, decode_bit_masks, sext, IntVisitor, VisitorOut};

/// Result of one instruction's semantics.
pub type SemResult<E> = Result<(), <E as Emitter>::Stop>;

/// Runs the semantics of `raw` (already decoded to `op`) on emitter `e`.
pub fn translate<E: Emitter>(e: &mut E, op: isa::Op, raw: u32) -> SemResult<E> {
    isa::dispatch(&mut Translate { e }, op, raw)
}

/// Runs the semantics of an arbitrary word; unallocated words raise
/// Undefined Instruction.
pub fn translate_raw<E: Emitter>(e: &mut E, raw: u32) -> SemResult<E> {
    match isa::decode(raw) {
        Some(op) => translate(e, op, raw),
        None => e.raise(InsnException::Undefined),
    }
}

/// The semantics visitor over emitter `E`.
pub struct Translate<'a, E: Emitter> {
    /// Where the operations go.
    pub e: &'a mut E,
}

/// Shift types of the shifted-register forms.
#[derive(Clone, Copy)]
enum Shift {
    Lsl,
    Lsr,
    Asr,
    Ror,
}

impl Shift {
    fn from_field(v: u32) -> Self {
        match v & 3 {
            0 => Shift::Lsl,
            1 => Shift::Lsr,
            2 => Shift::Asr,
            _ => Shift::Ror,
        }
    }
}

impl<E: Emitter> Translate<'_, E> {
    fn undef(&mut self) -> SemResult<E> {
        self.e.raise(InsnException::Undefined)
    }

    /// X[r] with r = 31 reading as zero, truncated to `w`.
    fn xzr(&mut self, r: u32, w: Width) -> E::V {
        if r == 31 {
            self.e.imm(0)
        } else {
            let v = self.e.get_x(r);
            self.trunc(v, w)
        }
    }

    /// X[r] with r = 31 reading SP, truncated to `w`.
    fn xsp(&mut self, r: u32, w: Width) -> E::V {
        let v = if r == 31 { self.e.get_sp() } else { self.e.get_x(r) };
        self.trunc(v, w)
    }

    fn trunc(&mut self, v: E::V, w: Width) -> E::V {
        match w {
            Width::W64 => v,
            Width::W32 => self.e.un(UnOp::Zext(32), v),
        }
    }

    /// Writes X[r] (r = 31 discards), zero-extending 32-bit results.
    fn set_xzr(&mut self, r: u32, v: E::V, w: Width) {
        if r != 31 {
            let v = self.trunc(v, w);
            self.e.set_x(r, v);
        }
    }

    /// Writes X[r] (r = 31 writes SP), zero-extending 32-bit results.
    fn set_xsp(&mut self, r: u32, v: E::V, w: Width) {
        let v = self.trunc(v, w);
        if r == 31 {
            self.e.set_sp(v);
        } else {
            self.e.set_x(r, v);
        }
    }

    fn shift(&mut self, v: E::V, shift: Shift, amount: u32, w: Width) -> E::V {
        if amount == 0 {
            return v;
        }
        let a = self.e.imm(u64::from(amount));
        let r = match shift {
            Shift::Lsl => self.e.bin(BinOp::Shl, v, a),
            Shift::Lsr => self.e.bin(BinOp::Lshr, v, a),
            Shift::Asr => self.e.bin(BinOp::Asr(w), v, a),
            Shift::Ror => self.e.bin(BinOp::Ror(w), v, a),
        };
        self.trunc(r, w)
    }

    /// `ExtendReg`: extend X[rm] per `option`, then shift left by `amount`.
    fn extend(&mut self, rm: u32, option: u32, amount: u32, w: Width) -> E::V {
        let v = self.xzr(rm, Width::W64);
        let bits = 8u8 << (option & 3);
        let v = match (option >> 2, bits) {
            (_, 64) => v,
            (0, b) => self.e.un(UnOp::Zext(b), v),
            (_, b) => self.e.un(UnOp::Sext(b), v),
        };
        let v = self.shift(v, Shift::Lsl, amount, Width::W64);
        self.trunc(v, w)
    }

    /// Add or subtract `b` from `a` at width `w`; returns (result, nzcv).
    fn add_sub(&mut self, a: E::V, b: E::V, sub: bool, w: Width) -> (E::V, E::V) {
        if sub {
            let nb = self.e.un(UnOp::Not, b);
            let nb = self.trunc(nb, w);
            let one = self.e.imm(1);
            self.e.add_with_carry(a, nb, one, w)
        } else {
            let zero = self.e.imm(0);
            self.e.add_with_carry(a, b, zero, w)
        }
    }

    fn carry_flag(&mut self) -> E::V {
        let nzcv = self.e.get_nzcv();
        let sh = self.e.imm(29);
        let c = self.e.bin(BinOp::Lshr, nzcv, sh);
        self.e.un(UnOp::Zext(1), c)
    }

    fn logical(&mut self, opc: u32, a: E::V, b: E::V, w: Width) -> (E::V, bool) {
        let r = match opc {
            0 | 3 => self.e.bin(BinOp::And, a, b),
            1 => self.e.bin(BinOp::Or, a, b),
            _ => self.e.bin(BinOp::Xor, a, b),
        };
        let r = self.trunc(r, w);
        if opc == 3 {
            let f = self.e.logic_flags(r, w);
            self.e.set_nzcv(f);
        }
        (r, opc == 3)
    }

    /// Base register for a load/store: SP (alignment-checked) or X[rn].
    fn base(&mut self, rn: u32) -> Result<E::V, E::Stop> {
        if rn == 31 {
            let sp = self.e.get_sp();
            self.e.check_sp_alignment(sp)?;
            Ok(sp)
        } else {
            Ok(self.e.get_x(rn))
        }
    }

    fn write_base(&mut self, rn: u32, v: E::V) {
        if rn == 31 {
            self.e.set_sp(v);
        } else {
            self.e.set_x(rn, v);
        }
    }

    /// The common body of the single-register integer loads and stores.
    /// `offset` is added before the access unless `post`; `wback` writes the
    /// updated address back to the base register.
    #[allow(clippy::too_many_arguments)]
    fn ldst(
        &mut self,
        size: u32,
        opc: u32,
        rn: u32,
        rt: u32,
        offset: E::V,
        post: bool,
        wback: bool,
        acc: MemAccess,
    ) -> SemResult<E> {
        // Decode size:opc into (is load, sign-extend, destination width).
        enum Kind {
            Store,
            Load { signed: bool, w: Width },
            Prefetch,
        }
        let kind = match (opc, size) {
            (0, _) => Kind::Store,
            (1, _) => Kind::Load {
                signed: false,
                w: if size == 3 { Width::W64 } else { Width::W32 },
            },
            (2, 3) => Kind::Prefetch,
            (2, _) => Kind::Load {
                signed: true,
                w: Width::W64,
            },
            (3, 0 | 1) => Kind::Load {
                signed: true,
                w: Width::W32,
            },
            _ => return self.undef(),
        };
        if matches!(kind, Kind::Prefetch) && (wback || acc.unprivileged) {
            return self.undef();
        }
        let bytes = 1u8 << size;
        let base = self.base(rn)?;
        let moved = self.e.bin(BinOp::Add, base, offset);
        let addr = if post { base } else { moved };
        match kind {
            Kind::Prefetch => {}
            Kind::Store => {
                let v = self.xzr(rt, Width::W64);
                self.e.store(addr, v, bytes, acc)?;
            }
            Kind::Load { signed, w } => {
                let v = self.e.load(addr, bytes, acc)?;
                let v = if signed { self.e.un(UnOp::Sext(bytes * 8), v) } else { v };
                // Writeback first so that a load into the base register wins
                // (the Arm ARM leaves rt == rn with writeback CONSTRAINED
                // UNPREDICTABLE; this is the "value loaded" choice).
                if wback {
                    self.write_base(rn, moved);
                }
                self.set_xzr(rt, v, w);
                return Ok(());
            }
        }
        if wback {
            self.write_base(rn, moved);
        }
        Ok(())
    }
}

impl<E: Emitter> VisitorOut for Translate<'_, E> {
    type Out = SemResult<E>;
}

impl<E: Emitter> IntVisitor for Translate<'_, E> {
    fn adr(&mut self, op: u32, immlo: u32, immhi: u32, rd: u32) -> Self::Out {
        let imm = sext(u64::from((immhi << 2) | immlo), 21);
        let pc = self.e.pc();
        let v = if op == 1 {
            (pc & !0xfff).wrapping_add(imm << 12)
        } else {
            pc.wrapping_add(imm)
        };
        let v = self.e.imm(v);
        self.set_xzr(rd, v, Width::W64);
        Ok(())
    }

    fn addsub_imm(&mut self, sf: u32, op: u32, s: u32, sh: u32, imm12: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        let a = self.xsp(rn, w);
        let b = self.e.imm(u64::from(imm12) << (12 * sh));
        let (r, flags) = self.add_sub(a, b, op == 1, w);
        if s == 1 {
            self.e.set_nzcv(flags);
            self.set_xzr(rd, r, w);
        } else {
            self.set_xsp(rd, r, w);
        }
        Ok(())
    }

    fn logical_imm(&mut self, sf: u32, opc: u32, n: u32, immr: u32, imms: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        if sf == 0 && n == 1 {
            return self.undef();
        }
        let Some((imm, _)) = decode_bit_masks(n, imms, immr, true, w.bits()) else {
            return self.undef();
        };
        let a = self.xzr(rn, w);
        let b = self.e.imm(imm);
        let (r, flags) = self.logical(opc, a, b, w);
        if flags {
            self.set_xzr(rd, r, w);
        } else {
            self.set_xsp(rd, r, w);
        }
        Ok(())
    }

    fn move_wide(&mut self, sf: u32, opc: u32, hw: u32, imm16: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        if opc == 1 || (sf == 0 && hw >= 2) {
            return self.undef();
        }
        let pos = hw * 16;
        let imm = u64::from(imm16) << pos;
        let v = match opc {
            0 => self.e.imm(!imm),
            2 => self.e.imm(imm),
            _ => {
                let old = self.xzr(rd, Width::W64);
                let keep = self.e.imm(!(0xffffu64 << pos));
                let kept = self.e.bin(BinOp::And, old, keep);
                let ins = self.e.imm(imm);
                self.e.bin(BinOp::Or, kept, ins)
            }
        };
        self.set_xzr(rd, v, w);
        Ok(())
    }

    fn bitfield(&mut self, sf: u32, opc: u32, n: u32, immr: u32, imms: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        if opc == 3 || sf != n || (sf == 0 && (immr >= 32 || imms >= 32)) {
            return self.undef();
        }
        let Some((wmask, tmask)) = decode_bit_masks(n, imms, immr, false, w.bits()) else {
            return self.undef();
        };
        let src = self.xzr(rn, w);
        // The aliases compilers use most, as the one operation each is
        // (the general form below takes a dozen; the JIT's code for a
        // SXTW was eleven host instructions).
        let bits = w.bits();
        let alias = match opc {
            // SXTB/SXTH/SXTW, UXTB/UXTH: the low imms+1 bits extended.
            0 if immr == 0 => Some(self.e.un(UnOp::Sext(imms as u8 + 1), src)),
            2 if immr == 0 => Some(self.e.un(UnOp::Zext(imms as u8 + 1), src)),
            // ASR, LSR, LSL by an immediate.
            0 if imms == bits - 1 => Some(self.shift(src, Shift::Asr, immr, w)),
            2 if imms == bits - 1 => Some(self.shift(src, Shift::Lsr, immr, w)),
            2 if imms + 1 == immr => Some(self.shift(src, Shift::Lsl, bits - immr, w)),
            _ => None,
        };
        if let Some(r) = alias {
            self.set_xzr(rd, r, w);
            return Ok(());
        }
        let dst = if opc == 1 { self.xzr(rd, w) } else { self.e.imm(0) };
        // bot = (dst AND NOT wmask) OR (ROR(src, R) AND wmask)
        let rotated = self.shift(src, Shift::Ror, immr, w);
        let wm = self.e.imm(wmask);
        let rot_part = self.e.bin(BinOp::And, rotated, wm);
        let nwm = self.e.imm(!wmask);
        let dst_part = self.e.bin(BinOp::And, dst, nwm);
        let bot = self.e.bin(BinOp::Or, dst_part, rot_part);
        // top = Replicate(src<S>) for SBFM, dst for BFM, zero for UBFM.
        let top = match opc {
            0 => {
                let sh = self.e.imm(u64::from(imms));
                let bit = self.e.bin(BinOp::Lshr, src, sh);
                let bit = self.e.un(UnOp::Zext(1), bit);
                let zero = self.e.imm(0);
                self.e.bin(BinOp::Sub, zero, bit)
            }
            1 => dst,
            _ => self.e.imm(0),
        };
        let tm = self.e.imm(tmask);
        let ntm = self.e.imm(!tmask);
        let top_part = self.e.bin(BinOp::And, top, ntm);
        let bot_part = self.e.bin(BinOp::And, bot, tm);
        let r = self.e.bin(BinOp::Or, top_part, bot_part);
        self.set_xzr(rd, r, w);
        Ok(())
    }

    fn extract(&mut self, sf: u32, op21: u32, n: u32, o0: u32, rm: u32, imms: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        if op21 != 0 || o0 != 0 || n != sf || (sf == 0 && imms >= 32) {
            return self.undef();
        }
        let lo = self.xzr(rm, w);
        if imms == 0 {
            self.set_xzr(rd, lo, w);
            return Ok(());
        }
        let hi = self.xzr(rn, w);
        let r1 = self.shift(lo, Shift::Lsr, imms, w);
        let r2 = self.shift(hi, Shift::Lsl, w.bits() - imms, w);
        let r = self.e.bin(BinOp::Or, r1, r2);
        self.set_xzr(rd, r, w);
        Ok(())
    }

    fn b_cond(&mut self, o1: u32, imm19: u32, o0: u32, cond: u32) -> Self::Out {
        if o1 != 0 || o0 != 0 {
            return self.undef();
        }
        let target = self.e.pc().wrapping_add(sext(u64::from(imm19) << 2, 21));
        if cond >= 14 {
            self.e.branch(target);
        } else {
            let nzcv = self.e.get_nzcv();
            let c = self.e.cond_holds(nzcv, cond);
            self.e.branch_if(c, target);
        }
        Ok(())
    }

    fn svc(&mut self, imm16: u32) -> Self::Out {
        self.e.raise(InsnException::Svc(imm16 as u16))
    }

    fn hvc(&mut self, imm16: u32) -> Self::Out {
        self.e.raise(InsnException::Hvc(imm16 as u16))
    }

    fn smc(&mut self, imm16: u32) -> Self::Out {
        self.e.raise(InsnException::Smc(imm16 as u16))
    }

    fn brk(&mut self, imm16: u32) -> Self::Out {
        self.e.raise(InsnException::Brk(imm16 as u16))
    }

    fn hlt(&mut self, imm16: u32) -> Self::Out {
        self.e.halt(imm16 as u16)
    }

    fn hint(&mut self, crm: u32, op2: u32) -> Self::Out {
        // Every other hint (NOP, ESB, CSDB, BTI, PAC hints, ...) is a NOP
        // while the feature is not advertised.
        let h = match (crm << 3) | op2 {
            1 => Hint::Yield,
            2 => Hint::Wfe,
            3 => Hint::Wfi,
            4 => Hint::Sev,
            5 => Hint::Sevl,
            _ => return Ok(()),
        };
        self.e.hint(h)
    }

    fn barrier(&mut self, _crm: u32, op2: u32) -> Self::Out {
        match op2 {
            2 => self.e.clear_exclusive(),
            4 => self.e.barrier(Barrier::Dsb),
            5 => self.e.barrier(Barrier::Dmb),
            6 => self.e.barrier(Barrier::Isb),
            _ => return self.undef(),
        }
        Ok(())
    }

    fn pstate(&mut self, op1: u32, crm: u32, op2: u32) -> Self::Out {
        self.e.write_pstate_field(op1, op2, crm)
    }

    fn sys(&mut self, l: u32, op1: u32, crn: u32, crm: u32, op2: u32, rt: u32) -> Self::Out {
        if l == 1 {
            return self.undef(); // SYSL: nothing implemented uses it
        }
        let v = self.xzr(rt, Width::W64);
        self.e.sys(SysRegId::new(1, op1, crn, crm, op2), v)
    }

    fn sysreg(&mut self, l: u32, o0: u32, op1: u32, crn: u32, crm: u32, op2: u32, rt: u32) -> Self::Out {
        let id = SysRegId::new(2 + o0, op1, crn, crm, op2);
        if l == 1 {
            let v = self.e.read_sysreg(id)?;
            self.set_xzr(rt, v, Width::W64);
            Ok(())
        } else {
            let v = self.xzr(rt, Width::W64);
            self.e.write_sysreg(id, v)
        }
    }

    fn br_reg(&mut self, opc: u32, op2: u32, op3: u32, rn: u32, op4: u32) -> Self::Out {
        if op2 != 0x1f || op3 != 0 || op4 != 0 {
            return self.undef(); // pointer-authentication forms: not advertised
        }
        match opc {
            0..=2 => {
                let target = self.xzr(rn, Width::W64);
                let kind = match opc {
                    0 => BranchKind::Jump,
                    1 => {
                        // Read the target before X30 is overwritten (BLR X30).
                        let ret = self.e.imm(self.e.pc().wrapping_add(4));
                        self.e.set_x(30, ret);
                        BranchKind::Call
                    }
                    _ => BranchKind::Return,
                };
                self.e.branch_indirect(target, kind);
                Ok(())
            }
            4 if rn == 31 => self.e.eret(),
            _ => self.undef(),
        }
    }

    fn b_imm(&mut self, op: u32, imm26: u32) -> Self::Out {
        let pc = self.e.pc();
        if op == 1 {
            let ret = self.e.imm(pc.wrapping_add(4));
            self.e.set_x(30, ret);
        }
        self.e.branch(pc.wrapping_add(sext(u64::from(imm26) << 2, 28)));
        Ok(())
    }

    fn cb(&mut self, sf: u32, op: u32, imm19: u32, rt: u32) -> Self::Out {
        let v = self.xzr(rt, Width::from_sf(sf));
        let zero = self.e.imm(0);
        let c = self.e.bin(if op == 0 { BinOp::Eq } else { BinOp::Ne }, v, zero);
        let target = self.e.pc().wrapping_add(sext(u64::from(imm19) << 2, 21));
        self.e.branch_if(c, target);
        Ok(())
    }

    fn tb(&mut self, b5: u32, op: u32, b40: u32, imm14: u32, rt: u32) -> Self::Out {
        let bit = (b5 << 5) | b40;
        let v = self.xzr(rt, Width::W64);
        let sh = self.e.imm(u64::from(bit));
        let t = self.e.bin(BinOp::Lshr, v, sh);
        let t = self.e.un(UnOp::Zext(1), t);
        let zero = self.e.imm(0);
        let c = self.e.bin(if op == 0 { BinOp::Eq } else { BinOp::Ne }, t, zero);
        let target = self.e.pc().wrapping_add(sext(u64::from(imm14) << 2, 16));
        self.e.branch_if(c, target);
        Ok(())
    }

    fn ldst_excl(
        &mut self,
        size: u32,
        o2: u32,
        l: u32,
        o1: u32,
        rs: u32,
        o0: u32,
        rt2: u32,
        rn: u32,
        rt: u32,
    ) -> Self::Out {
        let bytes = 1u8 << size;
        let w = if size == 3 { Width::W64 } else { Width::W32 };
        // o0 = acquire (loads) / release (stores); for CAS/CASP, L is the
        // acquire bit and o0 release. Ordering is free in a sequential
        // engine, but every one of these accesses must be aligned.
        let cas = o1 == 1 && (o2 == 1 || size < 2);
        let acc = MemAccess {
            unprivileged: false,
            ordered: o0 == 1 || (cas && l == 1),
            atomic: true,
        };
        match (o2, o1) {
            // LDXR/LDAXR/STXR/STLXR
            (0, 0) => {
                let addr = self.base(rn)?;
                if l == 1 {
                    let v = self.e.load_exclusive(addr, bytes, acc)?;
                    self.set_xzr(rt, v, w);
                } else {
                    let v = self.xzr(rt, Width::W64);
                    let status = self.e.store_exclusive(addr, v, bytes, acc)?;
                    self.set_xzr(rs, status, Width::W32);
                }
            }
            // LDXP/LDAXP/STXP/STLXP (32- and 64-bit elements)
            (0, 1) if size >= 2 => {
                let addr = self.base(rn)?;
                if l == 1 {
                    let (a, b) = self.e.load_exclusive_pair(addr, bytes, acc)?;
                    self.set_xzr(rt, a, w);
                    self.set_xzr(rt2, b, w);
                } else {
                    let a = self.xzr(rt, w);
                    let b = self.xzr(rt2, w);
                    let status = self.e.store_exclusive_pair(addr, a, b, bytes, acc)?;
                    self.set_xzr(rs, status, Width::W32);
                }
            }
            // CASP/CASPA/CASPL/CASPAL: even register pairs only.
            (0, 1) => {
                if rt2 != 31 || rs & 1 == 1 || rt & 1 == 1 {
                    return self.undef();
                }
                let addr = self.base(rn)?;
                if size == 0 {
                    // Two W registers: one 64-bit access, Rs/Rt in the low half.
                    let cat = |t: &mut Self, lo: u32| {
                        let a = t.xzr(lo, Width::W32);
                        let b = t.xzr(lo + 1, Width::W32);
                        let sh = t.e.imm(32);
                        let b = t.e.bin(BinOp::Shl, b, sh);
                        t.e.bin(BinOp::Or, a, b)
                    };
                    let expected = cat(self, rs);
                    let new = cat(self, rt);
                    let old = self.e.compare_and_swap(addr, expected, new, 8, acc)?;
                    let sh = self.e.imm(32);
                    let hi = self.e.bin(BinOp::Lshr, old, sh);
                    self.set_xzr(rs, old, Width::W32);
                    self.set_xzr(rs + 1, hi, Width::W32);
                } else {
                    let expected = (self.xzr(rs, Width::W64), self.xzr(rs + 1, Width::W64));
                    let new = (self.xzr(rt, Width::W64), self.xzr(rt + 1, Width::W64));
                    let (lo, hi) = self.e.compare_and_swap_pair(addr, expected, new, acc)?;
                    self.set_xzr(rs, lo, Width::W64);
                    self.set_xzr(rs + 1, hi, Width::W64);
                }
            }
            // LDAR/STLR; LDLAR/STLLR (o0 = 0) need FEAT_LOR, not advertised.
            (1, 0) => {
                if o0 == 0 {
                    return self.undef();
                }
                let addr = self.base(rn)?;
                if l == 1 {
                    let v = self.e.load(addr, bytes, acc)?;
                    self.set_xzr(rt, v, w);
                } else {
                    let v = self.xzr(rt, Width::W64);
                    self.e.store(addr, v, bytes, acc)?;
                }
            }
            // CAS/CASA/CASL/CASAL, all sizes.
            _ => {
                if rt2 != 31 {
                    return self.undef();
                }
                let addr = self.base(rn)?;
                let expected = self.xzr(rs, w);
                let expected = self.e.un(UnOp::Zext(bytes * 8), expected);
                let new = self.xzr(rt, Width::W64);
                let old = self.e.compare_and_swap(addr, expected, new, bytes, acc)?;
                self.set_xzr(rs, old, w);
            }
        }
        Ok(())
    }

    fn ldst_atomic(
        &mut self,
        size: u32,
        v: u32,
        a: u32,
        r: u32,
        rs: u32,
        o3: u32,
        opc: u32,
        rn: u32,
        rt: u32,
    ) -> Self::Out {
        if v == 1 {
            return self.undef();
        }
        let bytes = 1u8 << size;
        let w = if size == 3 { Width::W64 } else { Width::W32 };
        let acc = MemAccess {
            unprivileged: false,
            ordered: a == 1 || r == 1,
            atomic: true,
        };
        let op = match (o3, opc) {
            (0, 0) => AtomicOp::Add,
            (0, 1) => AtomicOp::Clr,
            (0, 2) => AtomicOp::Eor,
            (0, 3) => AtomicOp::Set,
            (0, 4) => AtomicOp::SMax,
            (0, 5) => AtomicOp::SMin,
            (0, 6) => AtomicOp::UMax,
            (0, 7) => AtomicOp::UMin,
            (1, 0) => AtomicOp::Swp,
            (1, 4) => {
                // LDAPR (FEAT_LRCPC): a load-acquire.
                if a != 1 || r != 0 || rs != 31 {
                    return self.undef();
                }
                let addr = self.base(rn)?;
                let v = self.e.load(addr, bytes, acc)?;
                self.set_xzr(rt, v, w);
                return Ok(());
            }
            _ => return self.undef(),
        };
        let addr = self.base(rn)?;
        let operand = self.xzr(rs, Width::W64);
        let old = self.e.atomic_rmw(op, addr, operand, bytes, acc)?;
        self.set_xzr(rt, old, w);
        Ok(())
    }

    fn ldr_lit(&mut self, opc: u32, v: u32, imm19: u32, rt: u32) -> Self::Out {
        if v == 1 {
            return self.fp_ldr_lit(opc, imm19, rt);
        }
        let addr = self.e.pc().wrapping_add(sext(u64::from(imm19) << 2, 21));
        let a = self.e.imm(addr);
        let acc = MemAccess::default();
        match opc {
            0 => {
                let x = self.e.load(a, 4, acc)?;
                self.set_xzr(rt, x, Width::W32);
            }
            1 => {
                let x = self.e.load(a, 8, acc)?;
                self.set_xzr(rt, x, Width::W64);
            }
            2 => {
                let x = self.e.load(a, 4, acc)?;
                let x = self.e.un(UnOp::Sext(32), x);
                self.set_xzr(rt, x, Width::W64);
            }
            _ => {} // PRFM (literal)
        }
        Ok(())
    }

    fn ldst_pair(&mut self, opc: u32, v: u32, idx: u32, l: u32, imm7: u32, rt2: u32, rn: u32, rt: u32) -> Self::Out {
        if v == 1 {
            return self.fp_ldst_pair(opc, idx, l, imm7, rt2, rn, rt);
        }
        if opc == 3 || (opc == 1 && (l == 0 || idx == 0)) {
            return self.undef(); // SIMD&FP pairs: not yet; STGP: FEAT_MTE not advertised
        }
        let signed = opc == 1;
        let scale = if opc == 2 { 3 } else { 2 };
        let bytes = 1u8 << scale;
        let offset = sext(u64::from(imm7), 7) << scale;
        let (post, wback) = match idx {
            1 => (true, true),
            3 => (false, true),
            _ => (false, false),
        };
        let acc = MemAccess::default();
        let base = self.base(rn)?;
        let off = self.e.imm(offset);
        let moved = self.e.bin(BinOp::Add, base, off);
        let addr = if post { base } else { moved };
        let step = self.e.imm(u64::from(bytes));
        let addr2 = self.e.bin(BinOp::Add, addr, step);
        let w = if opc == 0 { Width::W32 } else { Width::W64 };
        if l == 1 {
            // Both loads complete before any register changes, so a fault on
            // the second leaves the registers as they were.
            let a = self.e.load(addr, bytes, acc)?;
            let b = self.e.load(addr2, bytes, acc)?;
            let (a, b) = if signed {
                (self.e.un(UnOp::Sext(32), a), self.e.un(UnOp::Sext(32), b))
            } else {
                (a, b)
            };
            if wback {
                self.write_base(rn, moved);
            }
            self.set_xzr(rt, a, w);
            self.set_xzr(rt2, b, w);
        } else {
            let a = self.xzr(rt, Width::W64);
            let b = self.xzr(rt2, Width::W64);
            self.e.store(addr, a, bytes, acc)?;
            self.e.store(addr2, b, bytes, acc)?;
            if wback {
                self.write_base(rn, moved);
            }
        }
        Ok(())
    }

    fn ldst_imm9(&mut self, size: u32, v: u32, opc: u32, imm9: u32, idx: u32, rn: u32, rt: u32) -> Self::Out {
        let off = self.e.imm(sext(u64::from(imm9), 9));
        if v == 1 {
            return match idx {
                0 => self.fp_ldst(size, opc, rn, rt, off, false, false),
                1 => self.fp_ldst(size, opc, rn, rt, off, true, true),
                3 => self.fp_ldst(size, opc, rn, rt, off, false, true),
                _ => self.undef(), // no unprivileged SIMD&FP forms
            };
        }
        let acc = MemAccess {
            unprivileged: idx == 2,
            ..MemAccess::default()
        };
        match idx {
            0 | 2 => self.ldst(size, opc, rn, rt, off, false, false, acc),
            1 => self.ldst(size, opc, rn, rt, off, true, true, acc),
            _ => self.ldst(size, opc, rn, rt, off, false, true, acc),
        }
    }

    fn ldst_reg(&mut self, size: u32, v: u32, opc: u32, rm: u32, option: u32, s: u32, rn: u32, rt: u32) -> Self::Out {
        if option & 2 == 0 {
            return self.undef();
        }
        if v == 1 {
            // The scale is the access size: 16 bytes for Q (size 0, opc 1x).
            let scale = if opc & 2 != 0 { 4 } else { size };
            let off = self.extend(rm, option, if s == 1 { scale } else { 0 }, Width::W64);
            return self.fp_ldst(size, opc, rn, rt, off, false, false);
        }
        let off = self.extend(rm, option, if s == 1 { size } else { 0 }, Width::W64);
        self.ldst(size, opc, rn, rt, off, false, false, MemAccess::default())
    }

    fn ldst_uimm(&mut self, size: u32, v: u32, opc: u32, imm12: u32, rn: u32, rt: u32) -> Self::Out {
        if v == 1 {
            let scale = if opc & 2 != 0 { 4 } else { size };
            let off = self.e.imm(u64::from(imm12) << scale);
            return self.fp_ldst(size, opc, rn, rt, off, false, false);
        }
        let off = self.e.imm(u64::from(imm12) << size);
        self.ldst(size, opc, rn, rt, off, false, false, MemAccess::default())
    }

    fn logical_reg(
        &mut self,
        sf: u32,
        opc: u32,
        shift: u32,
        n: u32,
        rm: u32,
        imm6: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        let w = Width::from_sf(sf);
        if sf == 0 && imm6 >= 32 {
            return self.undef();
        }
        let a = self.xzr(rn, w);
        let b = self.xzr(rm, w);
        let b = self.shift(b, Shift::from_field(shift), imm6, w);
        let b = if n == 1 {
            let nb = self.e.un(UnOp::Not, b);
            self.trunc(nb, w)
        } else {
            b
        };
        let (r, _) = self.logical(opc, a, b, w);
        self.set_xzr(rd, r, w);
        Ok(())
    }

    fn addsub_shift(
        &mut self,
        sf: u32,
        op: u32,
        s: u32,
        shift: u32,
        rm: u32,
        imm6: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        let w = Width::from_sf(sf);
        if shift == 3 || (sf == 0 && imm6 >= 32) {
            return self.undef();
        }
        let a = self.xzr(rn, w);
        let b = self.xzr(rm, w);
        let b = self.shift(b, Shift::from_field(shift), imm6, w);
        let (r, flags) = self.add_sub(a, b, op == 1, w);
        if s == 1 {
            self.e.set_nzcv(flags);
        }
        self.set_xzr(rd, r, w);
        Ok(())
    }

    fn addsub_ext(
        &mut self,
        sf: u32,
        op: u32,
        s: u32,
        opt: u32,
        rm: u32,
        option: u32,
        imm3: u32,
        rn: u32,
        rd: u32,
    ) -> Self::Out {
        let w = Width::from_sf(sf);
        if opt != 0 || imm3 > 4 {
            return self.undef();
        }
        let a = self.xsp(rn, w);
        let b = self.extend(rm, option, imm3, w);
        let (r, flags) = self.add_sub(a, b, op == 1, w);
        if s == 1 {
            self.e.set_nzcv(flags);
            self.set_xzr(rd, r, w);
        } else {
            self.set_xsp(rd, r, w);
        }
        Ok(())
    }

    fn addsub_carry(&mut self, sf: u32, op: u32, s: u32, rm: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        let a = self.xzr(rn, w);
        let b = self.xzr(rm, w);
        let b = if op == 1 {
            let nb = self.e.un(UnOp::Not, b);
            self.trunc(nb, w)
        } else {
            b
        };
        let c = self.carry_flag();
        let (r, flags) = self.e.add_with_carry(a, b, c, w);
        if s == 1 {
            self.e.set_nzcv(flags);
        }
        self.set_xzr(rd, r, w);
        Ok(())
    }

    fn cond_cmp(
        &mut self,
        sf: u32,
        op: u32,
        s: u32,
        rm: u32,
        cond: u32,
        imm: u32,
        o2: u32,
        rn: u32,
        o3: u32,
        nzcv: u32,
    ) -> Self::Out {
        let w = Width::from_sf(sf);
        if s != 1 || o2 != 0 || o3 != 0 {
            return self.undef();
        }
        let a = self.xzr(rn, w);
        let b = if imm == 1 {
            self.e.imm(u64::from(rm))
        } else {
            self.xzr(rm, w)
        };
        let (_, flags) = self.add_sub(a, b, op == 1, w);
        let old = self.e.get_nzcv();
        let holds = self.e.cond_holds(old, cond);
        let alt = self.e.imm(u64::from(nzcv) << 28);
        let f = self.e.select(holds, flags, alt);
        self.e.set_nzcv(f);
        Ok(())
    }

    fn cond_sel(&mut self, sf: u32, op: u32, s: u32, rm: u32, cond: u32, op2: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        if s != 0 || op2 & 2 != 0 {
            return self.undef();
        }
        let a = self.xzr(rn, w);
        let b = self.xzr(rm, w);
        let b = match (op, op2 & 1) {
            (0, 0) => b,
            (0, _) => {
                let one = self.e.imm(1);
                self.e.bin(BinOp::Add, b, one)
            }
            (_, 0) => self.e.un(UnOp::Not, b),
            _ => {
                let zero = self.e.imm(0);
                self.e.bin(BinOp::Sub, zero, b)
            }
        };
        let nzcv = self.e.get_nzcv();
        let c = self.e.cond_holds(nzcv, cond);
        let r = self.e.select(c, a, b);
        self.set_xzr(rd, r, w);
        Ok(())
    }

    fn dp3(&mut self, sf: u32, op54: u32, op31: u32, rm: u32, o0: u32, ra: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        if op54 != 0 || (sf == 0 && op31 != 0) {
            return self.undef();
        }
        let r = match (op31, o0) {
            (0, _) => {
                let a = self.xzr(rn, w);
                let b = self.xzr(rm, w);
                let acc = self.xzr(ra, w);
                let p = self.e.bin(BinOp::Mul, a, b);
                self.e.bin(if o0 == 0 { BinOp::Add } else { BinOp::Sub }, acc, p)
            }
            (1 | 5, _) => {
                // SMADDL/SMSUBL/UMADDL/UMSUBL: 32x32 -> 64 multiply-accumulate.
                let ext = if op31 == 1 { UnOp::Sext(32) } else { UnOp::Zext(32) };
                let a = self.xzr(rn, Width::W64);
                let a = self.e.un(ext, a);
                let b = self.xzr(rm, Width::W64);
                let b = self.e.un(ext, b);
                let acc = self.xzr(ra, w);
                let p = self.e.bin(BinOp::Mul, a, b);
                self.e.bin(if o0 == 0 { BinOp::Add } else { BinOp::Sub }, acc, p)
            }
            (2 | 6, 0) => {
                let a = self.xzr(rn, w);
                let b = self.xzr(rm, w);
                self.e.bin(if op31 == 2 { BinOp::SMulH } else { BinOp::UMulH }, a, b)
            }
            _ => return self.undef(),
        };
        self.set_xzr(rd, r, w);
        Ok(())
    }

    fn dp2(&mut self, sf: u32, s: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        if s != 0 {
            return self.undef();
        }
        let op = match opcode {
            2 => BinOp::UDiv(w),
            3 => BinOp::SDiv(w),
            8 => BinOp::Shl,
            9 => BinOp::Lshr,
            10 => BinOp::Asr(w),
            11 => BinOp::Ror(w),
            0x10..=0x17 => {
                let sz = opcode & 3;
                if (sz == 3) != (sf == 1) {
                    return self.undef();
                }
                BinOp::Crc32 {
                    bytes: 1 << sz,
                    castagnoli: opcode & 4 != 0,
                }
            }
            _ => return self.undef(),
        };
        let a = self.xzr(rn, w);
        let b = self.xzr(
            rm,
            if matches!(op, BinOp::Crc32 { .. }) {
                Width::W64
            } else {
                w
            },
        );
        let b = if matches!(op, BinOp::Shl | BinOp::Lshr | BinOp::Asr(_) | BinOp::Ror(_)) {
            // Variable shifts use the amount modulo the width.
            let m = self.e.imm(u64::from(w.bits() - 1));
            self.e.bin(BinOp::And, b, m)
        } else {
            b
        };
        let r = self.e.bin(op, a, b);
        self.set_xzr(rd, r, w);
        Ok(())
    }

    fn dp1(&mut self, sf: u32, s: u32, opcode2: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        let w = Width::from_sf(sf);
        if s != 0 || opcode2 != 0 {
            return self.undef(); // opcode2 = 1: pointer authentication, not advertised
        }
        let op = match (opcode, w) {
            (0, _) => UnOp::Rbit(w),
            (1, _) => UnOp::Rev16,
            (2, Width::W32) => UnOp::Rev32,
            (2, Width::W64) => UnOp::Rev32,
            (3, Width::W64) => UnOp::Rev64,
            (4, _) => UnOp::Clz(w),
            (5, _) => UnOp::Cls(w),
            _ => return self.undef(),
        };
        let a = self.xzr(rn, w);
        let r = self.e.un(op, a);
        self.set_xzr(rd, r, w);
        Ok(())
    }
}
