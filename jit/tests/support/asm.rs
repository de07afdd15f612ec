//! A tiny AArch64 assembler for the JIT's directed tests: one function per
//! encoding (the bit layout written out, as the Arm ARM gives it) and
//! [`Asm`], which places words and resolves labels. `enc_table` in
//! `programs.rs` checks every encoder against the crate's disassembler.

use std::collections::HashMap;

/// 64-bit operand size (`sf` = 1).
pub const X: bool = true;
/// 32-bit operand size (`sf` = 0).
pub const W: bool = false;
/// Register 31 as the zero register (or SP where the encoding says so).
pub const ZR: u32 = 31;
/// Register 31 as the stack pointer.
pub const SP: u32 = 31;

/// Condition codes.
pub mod cond {
    pub const EQ: u32 = 0;
    pub const NE: u32 = 1;
    pub const CS: u32 = 2;
    pub const CC: u32 = 3;
    pub const MI: u32 = 4;
    pub const PL: u32 = 5;
    pub const VS: u32 = 6;
    pub const VC: u32 = 7;
    pub const HI: u32 = 8;
    pub const LS: u32 = 9;
    pub const GE: u32 = 10;
    pub const LT: u32 = 11;
    pub const GT: u32 = 12;
    pub const LE: u32 = 13;
    pub const AL: u32 = 14;
    pub const NV: u32 = 15;
}

fn sf(x: bool) -> u32 {
    u32::from(x) << 31
}

/// Shift kinds of the shifted-register forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    Lsl = 0,
    Lsr = 1,
    Asr = 2,
    Ror = 3,
}

// ---------------------------------------------------------------------------
// Data processing

/// ADD/ADDS/SUB/SUBS (immediate): `sf op S 100010 sh imm12 Rn Rd`.
pub fn addsub_imm(x: bool, sub: bool, s: bool, rd: u32, rn: u32, imm12: u32, lsl12: bool) -> u32 {
    assert!(imm12 < 4096);
    sf(x)
        | u32::from(sub) << 30
        | u32::from(s) << 29
        | 0x1100_0000
        | u32::from(lsl12) << 22
        | imm12 << 10
        | rn << 5
        | rd
}
pub fn add_imm(x: bool, rd: u32, rn: u32, imm: u32) -> u32 {
    addsub_imm(x, false, false, rd, rn, imm, false)
}
pub fn sub_imm(x: bool, rd: u32, rn: u32, imm: u32) -> u32 {
    addsub_imm(x, true, false, rd, rn, imm, false)
}
pub fn adds_imm(x: bool, rd: u32, rn: u32, imm: u32) -> u32 {
    addsub_imm(x, false, true, rd, rn, imm, false)
}
pub fn subs_imm(x: bool, rd: u32, rn: u32, imm: u32) -> u32 {
    addsub_imm(x, true, true, rd, rn, imm, false)
}
pub fn cmp_imm(x: bool, rn: u32, imm: u32) -> u32 {
    subs_imm(x, ZR, rn, imm)
}

/// ADD/ADDS/SUB/SUBS (shifted register): `sf op S 01011 sh 0 Rm imm6 Rn Rd`.
#[allow(clippy::too_many_arguments)]
pub fn addsub_reg(x: bool, sub: bool, s: bool, rd: u32, rn: u32, rm: u32, sh: Shift, amount: u32) -> u32 {
    assert!(amount < if x { 64 } else { 32 } && sh != Shift::Ror);
    sf(x)
        | u32::from(sub) << 30
        | u32::from(s) << 29
        | 0x0b00_0000
        | (sh as u32) << 22
        | rm << 16
        | amount << 10
        | rn << 5
        | rd
}
pub fn add(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    addsub_reg(x, false, false, rd, rn, rm, Shift::Lsl, 0)
}
pub fn sub(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    addsub_reg(x, true, false, rd, rn, rm, Shift::Lsl, 0)
}
pub fn adds(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    addsub_reg(x, false, true, rd, rn, rm, Shift::Lsl, 0)
}
pub fn subs(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    addsub_reg(x, true, true, rd, rn, rm, Shift::Lsl, 0)
}
pub fn cmp(x: bool, rn: u32, rm: u32) -> u32 {
    subs(x, ZR, rn, rm)
}
pub fn cmn(x: bool, rn: u32, rm: u32) -> u32 {
    adds(x, ZR, rn, rm)
}

/// Logical (shifted register): `sf opc 01010 sh N Rm imm6 Rn Rd`; `opc`
/// 0 AND, 1 ORR, 2 EOR, 3 ANDS; `n` inverts Rm (BIC, ORN, EON, BICS).
#[allow(clippy::too_many_arguments)]
pub fn logical(x: bool, opc: u32, n: bool, rd: u32, rn: u32, rm: u32, sh: Shift, amount: u32) -> u32 {
    assert!(opc < 4 && amount < if x { 64 } else { 32 });
    sf(x) | opc << 29 | 0x0a00_0000 | (sh as u32) << 22 | u32::from(n) << 21 | rm << 16 | amount << 10 | rn << 5 | rd
}
pub fn and(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    logical(x, 0, false, rd, rn, rm, Shift::Lsl, 0)
}
pub fn orr(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    logical(x, 1, false, rd, rn, rm, Shift::Lsl, 0)
}
pub fn eor(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    logical(x, 2, false, rd, rn, rm, Shift::Lsl, 0)
}
pub fn ands(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    logical(x, 3, false, rd, rn, rm, Shift::Lsl, 0)
}
pub fn bics(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    logical(x, 3, true, rd, rn, rm, Shift::Lsl, 0)
}
/// `mov rd, rm` (ORR with the zero register).
pub fn mov(x: bool, rd: u32, rm: u32) -> u32 {
    orr(x, rd, ZR, rm)
}
/// `mov rd|sp, rn|sp` (ADD #0).
pub fn mov_sp(rd: u32, rn: u32) -> u32 {
    add_imm(X, rd, rn, 0)
}

/// MOVN/MOVZ/MOVK: `sf opc 100101 hw imm16 Rd`, `opc` 0 N, 2 Z, 3 K.
pub fn movw(x: bool, opc: u32, rd: u32, imm16: u32, hw: u32) -> u32 {
    assert!(imm16 < 0x1_0000 && hw < if x { 4 } else { 2 });
    sf(x) | opc << 29 | 0x1280_0000 | hw << 21 | imm16 << 5 | rd
}
pub fn movz(x: bool, rd: u32, imm16: u32, hw: u32) -> u32 {
    movw(x, 2, rd, imm16, hw)
}
pub fn movk(x: bool, rd: u32, imm16: u32, hw: u32) -> u32 {
    movw(x, 3, rd, imm16, hw)
}
pub fn movn(x: bool, rd: u32, imm16: u32, hw: u32) -> u32 {
    movw(x, 0, rd, imm16, hw)
}

/// The shortest MOVZ/MOVN + MOVK sequence loading `v` into `rd`.
pub fn mov64(rd: u32, v: u64) -> Vec<u32> {
    let half = |i: u32| (v >> (16 * i)) as u32 & 0xffff;
    let ones = (0..4).filter(|&i| half(i) == 0xffff).count();
    let zeros = (0..4).filter(|&i| half(i) == 0).count();
    let mut out = Vec::new();
    if ones > zeros {
        // MOVN of the first half that is not all ones, MOVK the rest.
        let first = (0..4).find(|&i| half(i) != 0xffff).unwrap_or(0);
        out.push(movn(X, rd, !half(first) & 0xffff, first));
        for i in (first + 1)..4 {
            if half(i) != 0xffff {
                out.push(movk(X, rd, half(i), i));
            }
        }
    } else {
        let first = (0..4).find(|&i| half(i) != 0).unwrap_or(0);
        out.push(movz(X, rd, half(first), first));
        for i in (first + 1)..4 {
            if half(i) != 0 {
                out.push(movk(X, rd, half(i), i));
            }
        }
    }
    out
}

/// ADC/ADCS/SBC/SBCS: `sf op S 11010000 Rm 000000 Rn Rd`.
pub fn adc(x: bool, sub: bool, s: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    sf(x) | u32::from(sub) << 30 | u32::from(s) << 29 | 0x1a00_0000 | rm << 16 | rn << 5 | rd
}

/// CCMP/CCMN (register): `sf op 1 11010010 Rm cond 0 0 Rn 0 nzcv`, `op` 1
/// CCMP, 0 CCMN.
pub fn ccmp(x: bool, neg: bool, rn: u32, rm: u32, nzcv: u32, c: u32) -> u32 {
    sf(x) | u32::from(!neg) << 30 | 0x3a40_0000 | rm << 16 | c << 12 | rn << 5 | nzcv
}
/// CCMP/CCMN (immediate): bit 11 set, imm5 in the Rm field.
pub fn ccmp_imm(x: bool, neg: bool, rn: u32, imm5: u32, nzcv: u32, c: u32) -> u32 {
    assert!(imm5 < 32);
    ccmp(x, neg, rn, imm5, nzcv, c) | 1 << 11
}

/// CSEL/CSINC/CSINV/CSNEG: `sf op 0 11010100 Rm cond 0 o2 Rn Rd`; `kind`
/// 0 CSEL, 1 CSINC, 2 CSINV, 3 CSNEG.
pub fn csel_kind(x: bool, kind: u32, rd: u32, rn: u32, rm: u32, c: u32) -> u32 {
    sf(x) | (kind >> 1) << 30 | 0x1a80_0000 | rm << 16 | c << 12 | (kind & 1) << 10 | rn << 5 | rd
}
pub fn csel(x: bool, rd: u32, rn: u32, rm: u32, c: u32) -> u32 {
    csel_kind(x, 0, rd, rn, rm, c)
}
pub fn csinc(x: bool, rd: u32, rn: u32, rm: u32, c: u32) -> u32 {
    csel_kind(x, 1, rd, rn, rm, c)
}

/// MADD/MSUB: `sf 00 11011 000 Rm o0 Ra Rn Rd`.
pub fn madd(x: bool, sub: bool, rd: u32, rn: u32, rm: u32, ra: u32) -> u32 {
    sf(x) | 0x1b00_0000 | rm << 16 | u32::from(sub) << 15 | ra << 10 | rn << 5 | rd
}
pub fn mul(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    madd(x, false, rd, rn, rm, ZR)
}
/// UMULH (`signed` = SMULH): `1 00 11011 U 10 Rm 0 11111 Rn Rd`.
pub fn mulh(signed: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    0x9b40_7c00 | u32::from(!signed) << 23 | rm << 16 | rn << 5 | rd
}

/// Data processing (2 source): `sf 0 0 11010110 Rm opcode Rn Rd`; opcode
/// 2 UDIV, 3 SDIV, 8 LSLV, 9 LSRV, 10 ASRV, 11 RORV.
pub fn dp2(x: bool, opcode: u32, rd: u32, rn: u32, rm: u32) -> u32 {
    sf(x) | 0x1ac0_0000 | rm << 16 | opcode << 10 | rn << 5 | rd
}
pub fn udiv(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    dp2(x, 2, rd, rn, rm)
}
pub fn sdiv(x: bool, rd: u32, rn: u32, rm: u32) -> u32 {
    dp2(x, 3, rd, rn, rm)
}

/// Data processing (1 source): `sf 1 0 11010110 00000 opcode Rn Rd`;
/// opcode 0 RBIT, 1 REV16, 2 REV32/REV(W), 3 REV(X), 4 CLZ, 5 CLS.
pub fn dp1(x: bool, opcode: u32, rd: u32, rn: u32) -> u32 {
    sf(x) | 0x5ac0_0000 | opcode << 10 | rn << 5 | rd
}

/// SBFM/BFM/UBFM: `sf opc 100110 N immr imms Rn Rd`, `opc` 0 SBFM, 1 BFM,
/// 2 UBFM.
pub fn bfm(x: bool, opc: u32, rd: u32, rn: u32, immr: u32, imms: u32) -> u32 {
    sf(x) | opc << 29 | 0x1300_0000 | u32::from(x) << 22 | immr << 16 | imms << 10 | rn << 5 | rd
}
pub fn lsl_imm(x: bool, rd: u32, rn: u32, s: u32) -> u32 {
    let bits = if x { 64 } else { 32 };
    bfm(x, 2, rd, rn, (bits - s) % bits, bits - 1 - s)
}
pub fn lsr_imm(x: bool, rd: u32, rn: u32, s: u32) -> u32 {
    bfm(x, 2, rd, rn, s, if x { 63 } else { 31 })
}
pub fn asr_imm(x: bool, rd: u32, rn: u32, s: u32) -> u32 {
    bfm(x, 0, rd, rn, s, if x { 63 } else { 31 })
}

/// EXTR: `sf 00 100111 N 0 Rm imms Rn Rd`.
pub fn extr(x: bool, rd: u32, rn: u32, rm: u32, lsb: u32) -> u32 {
    sf(x) | 0x1380_0000 | u32::from(x) << 22 | rm << 16 | lsb << 10 | rn << 5 | rd
}

/// `orr xd, xn, #1` (logical immediate N=1 immr=0 imms=0).
pub fn orr_1(rd: u32, rn: u32) -> u32 {
    0xb240_0000 | rn << 5 | rd
}
/// `and xd, xn, #(2^bits - 1)` for `bits` in 1..=63.
pub fn and_low(rd: u32, rn: u32, bits: u32) -> u32 {
    assert!((1..64).contains(&bits));
    0x9240_0000 | (bits - 1) << 10 | rn << 5 | rd
}

// ---------------------------------------------------------------------------
// Branches and system

/// B/BL with a byte offset.
pub fn b_off(link: bool, off: i64) -> u32 {
    assert!(off % 4 == 0 && (-(1 << 27)..(1 << 27)).contains(&off));
    u32::from(link) << 31 | 0x1400_0000 | ((off >> 2) as u32 & 0x03ff_ffff)
}
/// B.cond with a byte offset.
pub fn b_cond_off(c: u32, off: i64) -> u32 {
    0x5400_0000 | imm19(off) << 5 | c
}
/// CBZ/CBNZ with a byte offset.
pub fn cbz_off(x: bool, nz: bool, rt: u32, off: i64) -> u32 {
    sf(x) | 0x3400_0000 | u32::from(nz) << 24 | imm19(off) << 5 | rt
}
/// TBZ/TBNZ with a byte offset.
pub fn tbz_off(nz: bool, rt: u32, bit: u32, off: i64) -> u32 {
    assert!(off % 4 == 0 && (-(1 << 15)..(1 << 15)).contains(&off));
    (bit >> 5) << 31 | 0x3600_0000 | u32::from(nz) << 24 | (bit & 31) << 19 | ((off >> 2) as u32 & 0x3fff) << 5 | rt
}
fn imm19(off: i64) -> u32 {
    assert!(off % 4 == 0 && (-(1 << 20)..(1 << 20)).contains(&off));
    (off >> 2) as u32 & 0x7ffff
}
/// ADR with a byte offset.
pub fn adr_off(rd: u32, off: i64) -> u32 {
    assert!((-(1 << 20)..(1 << 20)).contains(&off));
    let imm = off as u32 & 0x1f_ffff;
    (imm & 3) << 29 | 0x1000_0000 | (imm >> 2) << 5 | rd
}
pub fn br(rn: u32) -> u32 {
    0xd61f_0000 | rn << 5
}
pub fn blr(rn: u32) -> u32 {
    0xd63f_0000 | rn << 5
}
pub fn ret() -> u32 {
    0xd65f_03c0
}
pub fn ret_reg(rn: u32) -> u32 {
    0xd65f_0000 | rn << 5
}
pub const NOP: u32 = 0xd503_201f;
pub const WFI: u32 = 0xd503_207f;
pub const ISB: u32 = 0xd503_3fdf;
pub const DSB_SY: u32 = 0xd503_3f9f;
pub const ERET: u32 = 0xd69f_03e0;
/// `ic iallu`.
pub const IC_IALLU: u32 = 0xd508_751f;
/// `ic ivau, xt`.
pub fn ic_ivau(rt: u32) -> u32 {
    0xd50b_7520 | rt
}
pub fn hvc(imm: u32) -> u32 {
    0xd400_0002 | imm << 5
}
pub fn svc(imm: u32) -> u32 {
    0xd400_0001 | imm << 5
}
pub fn brk(imm: u32) -> u32 {
    0xd420_0000 | imm << 5
}

/// System registers as (op0, op1, CRn, CRm, op2).
pub mod sysreg {
    pub type Id = (u32, u32, u32, u32, u32);
    pub const NZCV: Id = (3, 3, 4, 2, 0);
    pub const FPCR: Id = (3, 3, 4, 4, 0);
    pub const FPSR: Id = (3, 3, 4, 4, 1);
    pub const VBAR_EL1: Id = (3, 0, 12, 0, 0);
    pub const TTBR0_EL1: Id = (3, 0, 2, 0, 0);
    pub const ESR_EL1: Id = (3, 0, 5, 2, 0);
    pub const ELR_EL1: Id = (3, 0, 4, 0, 1);
    pub const FAR_EL1: Id = (3, 0, 6, 0, 0);
    pub const SPSR_EL1: Id = (3, 0, 4, 0, 0);
    pub const TPIDR_EL0: Id = (3, 3, 13, 0, 2);
    pub const TPIDRRO_EL0: Id = (3, 3, 13, 0, 3);
    pub const TPIDR_EL1: Id = (3, 0, 13, 0, 4);
    pub const SP_EL0: Id = (3, 0, 4, 1, 0);
    pub const DAIF: Id = (3, 3, 4, 2, 1);
    pub const CTR_EL0: Id = (3, 3, 0, 0, 1);
    pub const DCZID_EL0: Id = (3, 3, 0, 0, 7);
}

/// `MSR <pstate field>, #imm` (op1, op2 select the field: DAIFSet is
/// (3, 6), DAIFClr (3, 7), SPSel (0, 5)).
pub fn msr_imm(op1: u32, op2: u32, imm: u32) -> u32 {
    0xd500_401f | op1 << 16 | imm << 8 | op2 << 5
}

fn sys_fields((op0, op1, crn, crm, op2): sysreg::Id) -> u32 {
    (op0 - 2) << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5
}
pub fn mrs(rt: u32, r: sysreg::Id) -> u32 {
    0xd530_0000 | sys_fields(r) | rt
}
pub fn msr(r: sysreg::Id, rt: u32) -> u32 {
    0xd510_0000 | sys_fields(r) | rt
}

// ---------------------------------------------------------------------------
// Loads and stores

/// Load/store kinds: (size log2, opc) of the integer forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ls {
    Strb,
    Strh,
    StrW,
    StrX,
    Ldrb,
    Ldrh,
    LdrW,
    LdrX,
    LdrsbX,
    LdrsbW,
    LdrshX,
    LdrshW,
    Ldrsw,
}

impl Ls {
    pub const ALL: [Ls; 13] = [
        Ls::Strb,
        Ls::Strh,
        Ls::StrW,
        Ls::StrX,
        Ls::Ldrb,
        Ls::Ldrh,
        Ls::LdrW,
        Ls::LdrX,
        Ls::LdrsbX,
        Ls::LdrsbW,
        Ls::LdrshX,
        Ls::LdrshW,
        Ls::Ldrsw,
    ];
    /// (size log2, opc).
    pub fn fields(self) -> (u32, u32) {
        match self {
            Ls::Strb => (0, 0),
            Ls::Strh => (1, 0),
            Ls::StrW => (2, 0),
            Ls::StrX => (3, 0),
            Ls::Ldrb => (0, 1),
            Ls::Ldrh => (1, 1),
            Ls::LdrW => (2, 1),
            Ls::LdrX => (3, 1),
            Ls::LdrsbX => (0, 2),
            Ls::LdrsbW => (0, 3),
            Ls::LdrshX => (1, 2),
            Ls::LdrshW => (1, 3),
            Ls::Ldrsw => (2, 2),
        }
    }
    pub fn bytes(self) -> u32 {
        1 << self.fields().0
    }
    pub fn is_store(self) -> bool {
        self.fields().1 == 0
    }
}

/// Unsigned scaled offset: `size 111 0 01 opc imm12 Rn Rt`.
pub fn ldst(k: Ls, rt: u32, rn: u32, byte_off: u32) -> u32 {
    let (size, opc) = k.fields();
    assert!(byte_off % (1 << size) == 0 && byte_off >> size < 4096);
    size << 30 | 0x3900_0000 | opc << 22 | (byte_off >> size) << 10 | rn << 5 | rt
}
/// Unscaled (`idx` 0, LDUR/STUR), post-index (1) or pre-index (3):
/// `size 111 0 00 opc 0 imm9 idx Rn Rt`.
pub fn ldst_imm9(k: Ls, idx: u32, rt: u32, rn: u32, off: i32) -> u32 {
    let (size, opc) = k.fields();
    assert!((-256..256).contains(&off) && matches!(idx, 0 | 1 | 3));
    size << 30 | 0x3800_0000 | opc << 22 | (off as u32 & 0x1ff) << 12 | idx << 10 | rn << 5 | rt
}
pub fn ldst_post(k: Ls, rt: u32, rn: u32, off: i32) -> u32 {
    ldst_imm9(k, 1, rt, rn, off)
}
pub fn ldst_pre(k: Ls, rt: u32, rn: u32, off: i32) -> u32 {
    ldst_imm9(k, 3, rt, rn, off)
}
pub fn ldst_unscaled(k: Ls, rt: u32, rn: u32, off: i32) -> u32 {
    ldst_imm9(k, 0, rt, rn, off)
}
/// Register offset: `size 111 0 00 opc 1 Rm option S 10 Rn Rt`; `option`
/// 2 UXTW, 3 LSL, 6 SXTW, 7 SXTX; `scaled` shifts Rm by the size.
pub fn ldst_reg(k: Ls, rt: u32, rn: u32, rm: u32, option: u32, scaled: bool) -> u32 {
    let (size, opc) = k.fields();
    size << 30 | 0x3820_0800 | opc << 22 | rm << 16 | option << 13 | u32::from(scaled) << 12 | rn << 5 | rt
}

/// Pair kinds: `opc` 0 W, 1 LDPSW, 2 X.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pair {
    W,
    Sw,
    X,
}

/// LDP/STP: `opc 101 0 idx L imm7 Rt2 Rn Rt`; `idx` 1 post, 2 offset, 3
/// pre; `off` in bytes.
pub fn ldstp(p: Pair, load: bool, idx: u32, rt: u32, rt2: u32, rn: u32, off: i32) -> u32 {
    let (opc, scale) = match p {
        Pair::W => (0, 4),
        Pair::Sw => (1, 4),
        Pair::X => (2, 8),
    };
    assert!(off % scale == 0 && (-64..64).contains(&(off / scale)));
    assert!(load || p != Pair::Sw);
    opc << 30
        | 0x2800_0000
        | idx << 23
        | u32::from(load) << 22
        | ((off / scale) as u32 & 0x7f) << 15
        | rt2 << 10
        | rn << 5
        | rt
}
pub fn stp(x: bool, rt: u32, rt2: u32, rn: u32, off: i32) -> u32 {
    ldstp(if x { Pair::X } else { Pair::W }, false, 2, rt, rt2, rn, off)
}
pub fn ldp(x: bool, rt: u32, rt2: u32, rn: u32, off: i32) -> u32 {
    ldstp(if x { Pair::X } else { Pair::W }, true, 2, rt, rt2, rn, off)
}

/// LDXR/STXR: `size 001000 0 L 0 Rs o0 11111 Rn Rt` (o0 = 0).
pub fn ldxr(x: bool, rt: u32, rn: u32) -> u32 {
    (2 | u32::from(x)) << 30 | 0x085f_7c00 | rn << 5 | rt
}
pub fn stxr(x: bool, rs: u32, rt: u32, rn: u32) -> u32 {
    (2 | u32::from(x)) << 30 | 0x0800_7c00 | rs << 16 | rn << 5 | rt
}

// ---------------------------------------------------------------------------
// Floating point (double precision)

/// `fmov dd, xn`.
pub fn fmov_to_d(rd: u32, rn: u32) -> u32 {
    0x9e67_0000 | rn << 5 | rd
}
/// `fmov xd, dn`.
pub fn fmov_from_d(rd: u32, rn: u32) -> u32 {
    0x9e66_0000 | rn << 5 | rd
}
/// FP data processing (2 source, double): opcode 0 FMUL, 1 FDIV, 2 FADD,
/// 3 FSUB.
pub fn fp2(opcode: u32, rd: u32, rn: u32, rm: u32) -> u32 {
    0x1e60_0800 | rm << 16 | opcode << 12 | rn << 5 | rd
}
pub fn fsqrt(rd: u32, rn: u32) -> u32 {
    0x1e61_c000 | rn << 5 | rd
}
pub fn fcmp(rn: u32, rm: u32) -> u32 {
    0x1e60_2000 | rm << 16 | rn << 5
}
/// `scvtf dd, xn`.
pub fn scvtf(rd: u32, rn: u32) -> u32 {
    0x9e62_0000 | rn << 5 | rd
}
/// `fcvtzs xd, dn`.
pub fn fcvtzs(rd: u32, rn: u32) -> u32 {
    0x9e78_0000 | rn << 5 | rd
}
/// `ldr dt, [xn, #off]` / `str dt, [xn, #off]`.
pub fn ldst_d(load: bool, rt: u32, rn: u32, off: u32) -> u32 {
    assert!(off % 8 == 0 && off / 8 < 4096);
    0xfd00_0000 | u32::from(load) << 22 | (off / 8) << 10 | rn << 5 | rt
}
/// `add vd.2d, vn.2d, vm.2d`.
pub fn add_2d(rd: u32, rn: u32, rm: u32) -> u32 {
    0x4ee0_8400 | rm << 16 | rn << 5 | rd
}

// ---------------------------------------------------------------------------
// The assembler

#[derive(Clone, Copy, Debug)]
enum Fix {
    B(bool),
    BCond(u32),
    Cbz(bool, bool, u32),
    Tbz(bool, u32, u32),
    Adr(u32),
    /// The label's absolute address as a 64-bit little-endian data quad.
    Abs64,
}

/// Words placed from `base`, with labels.
#[derive(Clone, Debug)]
pub struct Asm {
    pub base: u64,
    pub words: Vec<u32>,
    labels: HashMap<String, usize>,
    fixups: Vec<(usize, String, Fix)>,
}

impl Asm {
    pub fn new(base: u64) -> Self {
        Asm {
            base,
            words: Vec::new(),
            labels: HashMap::new(),
            fixups: Vec::new(),
        }
    }

    /// The address of the next word.
    pub fn here(&self) -> u64 {
        self.base + 4 * self.words.len() as u64
    }

    /// Appends one instruction word.
    pub fn i(&mut self, w: u32) -> &mut Self {
        self.words.push(w);
        self
    }

    /// Appends several words.
    pub fn all(&mut self, ws: impl IntoIterator<Item = u32>) -> &mut Self {
        self.words.extend(ws);
        self
    }

    pub fn mov64(&mut self, rd: u32, v: u64) -> &mut Self {
        self.all(mov64(rd, v))
    }

    /// Pads with NOPs up to `addr`.
    pub fn pad_to(&mut self, addr: u64) -> &mut Self {
        assert!(
            addr >= self.here() && addr % 4 == 0,
            "pad_to {addr:#x} from {:#x}",
            self.here()
        );
        while self.here() < addr {
            self.i(NOP);
        }
        self
    }

    pub fn label(&mut self, name: &str) -> &mut Self {
        let old = self.labels.insert(name.to_string(), self.words.len());
        assert!(old.is_none(), "label {name} defined twice");
        self
    }

    fn fix(&mut self, name: &str, f: Fix) -> &mut Self {
        self.fixups.push((self.words.len(), name.to_string(), f));
        self.words.push(0);
        if let Fix::Abs64 = f {
            self.words.push(0);
        }
        self
    }
    pub fn b(&mut self, l: &str) -> &mut Self {
        self.fix(l, Fix::B(false))
    }
    pub fn bl(&mut self, l: &str) -> &mut Self {
        self.fix(l, Fix::B(true))
    }
    pub fn b_cond(&mut self, c: u32, l: &str) -> &mut Self {
        self.fix(l, Fix::BCond(c))
    }
    pub fn cbz(&mut self, x: bool, rt: u32, l: &str) -> &mut Self {
        self.fix(l, Fix::Cbz(x, false, rt))
    }
    pub fn cbnz(&mut self, x: bool, rt: u32, l: &str) -> &mut Self {
        self.fix(l, Fix::Cbz(x, true, rt))
    }
    pub fn tbz(&mut self, rt: u32, bit: u32, l: &str) -> &mut Self {
        self.fix(l, Fix::Tbz(false, rt, bit))
    }
    pub fn tbnz(&mut self, rt: u32, bit: u32, l: &str) -> &mut Self {
        self.fix(l, Fix::Tbz(true, rt, bit))
    }
    pub fn adr(&mut self, rd: u32, l: &str) -> &mut Self {
        self.fix(l, Fix::Adr(rd))
    }
    /// A data quad holding the label's address.
    pub fn quad_label(&mut self, l: &str) -> &mut Self {
        self.fix(l, Fix::Abs64)
    }
    /// A data quad.
    pub fn quad(&mut self, v: u64) -> &mut Self {
        self.all([v as u32, (v >> 32) as u32])
    }

    /// The address of label `l` (defined so far).
    pub fn addr(&self, l: &str) -> u64 {
        self.base + 4 * *self.labels.get(l).unwrap_or_else(|| panic!("no label {l}")) as u64
    }

    /// Resolves the labels and returns the words.
    pub fn finish(&self) -> Vec<u32> {
        let mut w = self.words.clone();
        for (at, name, f) in &self.fixups {
            let target = self.addr(name);
            let pc = self.base + 4 * *at as u64;
            let off = target.wrapping_sub(pc) as i64;
            w[*at] = match *f {
                Fix::B(link) => b_off(link, off),
                Fix::BCond(c) => b_cond_off(c, off),
                Fix::Cbz(x, nz, rt) => cbz_off(x, nz, rt, off),
                Fix::Tbz(nz, rt, bit) => tbz_off(nz, rt, bit, off),
                Fix::Adr(rd) => adr_off(rd, off),
                Fix::Abs64 => {
                    w[*at + 1] = (target >> 32) as u32;
                    target as u32
                }
            };
        }
        w
    }
}
