//! The case generator: rows from the encoding table, random fields, and
//! the constraints that make a sequence safe and deterministic on both a
//! bare interpreter and Linux user mode.

use super::enc::{self, Exclusive};
use super::machine::{Access, Probe, ProbeResult};
use super::{Case, CaseKind, End, Group, GroupKind, Rng, State, DATA_BASE, DATA_SIZE, TAIL, TEST_PAGE, TEST_PC};
use crate::isa::{self, Op, Row, ROWS};
use crate::sysreg::fpcr;

/// How the generator treats a row of the encoding table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowClass {
    /// Data processing, hints, barriers, ADR: random fields, run as drawn.
    Plain,
    /// Loads and stores (the rows with both `rn` and `rt`): base and index
    /// registers set up so every access lands aligned in the data window.
    Memory,
    /// Immediate branches: the offset field (named here) is fixed up to
    /// reach a later instruction or the end.
    Branch(&'static str),
    /// PC-relative literal loads: the offset field is fixed up to read
    /// inside the sequence.
    Literal(&'static str),
    /// BR/BLR/RET: the target register is set to a later instruction or
    /// the end.
    Indirect,
    /// MRS/MSR: only the registers EL0 may access and Linux does not
    /// emulate (NZCV, TPIDR_EL0, TPIDRRO_EL0, CTR_EL0, DCZID_EL0), plus a
    /// few that must be UNDEFINED at EL0 (as the last instruction).
    SysReg,
    /// SYS: the EL0 cache maintenance that QEMU user mode implements.
    Sys,
    /// Encodings that must fault at EL0 (HVC, SMC, HLT: SIGILL; BRK:
    /// SIGTRAP; MSR DAIFSet/DAIFClr/SPSel): generated only as the last
    /// instruction of a case.
    Fault,
    /// Never generated.
    Excluded(&'static str),
}

/// True for the rows of the FP/SIMD/crypto groups (every table file but
/// `isa/10-int.isa`).
pub fn is_fp_simd_row(row: &Row) -> bool {
    !row.file.ends_with("10-int.isa")
}

/// True for the general load/store rows whose `v` field selects a SIMD&FP
/// register form (LDR literal, LDP/STP, LDR/STR in every addressing mode);
/// FP/SIMD cases draw those forms. (LDST_ATOMIC has the field too, but its
/// V = 1 encodings are unallocated.)
pub fn has_v_form(row: &Row) -> bool {
    !is_fp_simd_row(row) && row.name != "LDST_ATOMIC" && row.fields.iter().any(|f| f.name == "v")
}

/// The class of `row`, from its name (for the rows whose fields need
/// special values) or its fields.
pub fn class_of(row: &Row) -> RowClass {
    let has = |n: &str| row.fields.iter().any(|f| f.name == n);
    if is_fp_simd_row(row) {
        // SIMD structure loads/stores (LD1..LD4, ST1..ST4, LD1R...) are the
        // only FP/SIMD rows that touch memory.
        return if has("rn") && has("rt") {
            RowClass::Memory
        } else {
            RowClass::Plain
        };
    }
    match row.name {
        "SVC" => RowClass::Excluded("SVC is a Linux system call under QEMU"),
        "HVC" | "SMC" | "HLT" | "BRK" | "PSTATE" => RowClass::Fault,
        "B_IMM" => RowClass::Branch("imm26"),
        "B_COND" | "CB" => RowClass::Branch("imm19"),
        "TB" => RowClass::Branch("imm14"),
        "LDR_LIT" => RowClass::Literal("imm19"),
        "BR_REG" => RowClass::Indirect,
        "SYSREG" => RowClass::SysReg,
        "SYS" => RowClass::Sys,
        _ if has("rn") && has("rt") => RowClass::Memory,
        _ => RowClass::Plain,
    }
}

/// The immediate of the A64 semihosting trap, `HLT #0xf000`.
const SEMIHOSTING_HLT: u32 = 0xf000;

/// A known divergence between our interpreter and QEMU that is kept out
/// of the random cases until it is fixed: words for which `matches` is
/// true are not generated. Every entry names the bug.
#[derive(Clone, Copy, Debug)]
pub struct KnownMismatch {
    /// What is wrong, and in which component.
    pub bug: &'static str,
    /// True for the instruction words affected.
    pub matches: fn(u32) -> bool,
}

/// Counts kept while generating.
#[derive(Clone, Debug, Default)]
pub struct GenStats {
    /// Instructions under test per row (`Op as usize`), preludes excluded.
    pub per_row: Vec<u64>,
    /// Of those, SIMD&FP register forms (V = 1) of general load/store rows.
    pub v_forms: Vec<u64>,
    /// Encodings our semantics reject, per row (fault cases of FP/SIMD
    /// cases).
    pub undefined: Vec<u64>,
    /// SIMD&FP data-processing encodings no row decodes (fault cases).
    pub unallocated: u64,
    /// `UDF` fault cases.
    pub udf: u64,
    /// Words skipped per [`KnownMismatch`] entry.
    pub known_skipped: Vec<u64>,
    /// Cases generated.
    pub cases: u64,
    /// Integer cases generated.
    pub int_cases: u64,
    /// FP/SIMD cases generated.
    pub fp_cases: u64,
    /// Cases with at least one FP/SIMD/crypto instruction, SIMD&FP
    /// load/store or rejected SIMD&FP encoding under test.
    pub fp_containing: u64,
}

/// EL0 cache maintenance by VA: (name, op1, CRn, CRm, op2).
const EL0_SYS: [(&str, u32, u32, u32, u32); 4] = [
    ("DC CVAU", 3, 7, 11, 1),
    ("DC CVAC", 3, 7, 10, 1),
    ("DC CIVAC", 3, 7, 14, 1),
    ("IC IVAU", 3, 7, 5, 1),
    // Not generated: DC ZVA (our MMU-off memory is Device memory, where it
    // is an alignment fault; Linux memory is Normal) and DC CVAP (QEMU 7.2
    // user mode lacks it and raises SIGILL, while Linux on a core with
    // FEAT_DPB runs it).
];

/// A system register by (op0, op1, CRn, CRm, op2).
type SysRegEnc = (u32, u32, u32, u32, u32);
/// An MRS (`true`) or MSR of a system register.
type SysRegAccess = (bool, SysRegEnc);

const NZCV: SysRegEnc = (3, 3, 4, 2, 0);
const TPIDR_EL0: SysRegEnc = (3, 3, 13, 0, 2);
const TPIDRRO_EL0: SysRegEnc = (3, 3, 13, 0, 3);
const CTR_EL0: SysRegEnc = (3, 3, 0, 0, 1);
const DCZID_EL0: SysRegEnc = (3, 3, 0, 0, 7);
const DAIF: SysRegEnc = (3, 3, 4, 2, 1);
const SCTLR_EL1: SysRegEnc = (3, 0, 1, 0, 0);

/// The MRS/MSR accesses EL0 may make.
const EL0_SYSREGS: [SysRegAccess; 7] = [
    (true, NZCV),
    (false, NZCV),
    (true, TPIDR_EL0),
    (false, TPIDR_EL0),
    (true, TPIDRRO_EL0),
    (true, CTR_EL0),
    (true, DCZID_EL0),
];

/// FPCR and FPSR, which FP/SIMD cases also read and write.
const FPCR: SysRegEnc = (3, 3, 4, 4, 0);
const FPSR: SysRegEnc = (3, 3, 4, 4, 1);

/// The MRS/MSR accesses of FP/SIMD cases: those of [`EL0_SYSREGS`] and
/// FPCR/FPSR both ways.
const EL0_SYSREGS_FP: [SysRegAccess; 11] = [
    (true, NZCV),
    (false, NZCV),
    (true, TPIDR_EL0),
    (false, TPIDR_EL0),
    (true, TPIDRRO_EL0),
    (true, CTR_EL0),
    (true, DCZID_EL0),
    (true, FPCR),
    (false, FPCR),
    (true, FPSR),
    (false, FPSR),
];

/// The FPCR bits an `MSR FPCR` of an FP/SIMD case may set: the writable
/// ones, the trap enables (RAZ/WI: trapped exceptions are implemented by
/// neither side) and FZ16 (RES0 without FEAT_FP16). Not Len and Stride
/// (bits 21:16): they hold their value on a core with AArch32, such as
/// QEMU's Cortex-A57, and are RES0 on ours, which has none.
const MSR_FPCR_BITS: u64 = fpcr::WRITABLE | 0x9f00 | (1 << 19);

/// MRS/MSR accesses that are UNDEFINED at EL0 under Linux
/// (SCTLR_EL1.UMA clear; EL1 registers; TPIDRRO_EL0 is read-only). ID
/// registers are not here: Linux (and QEMU) emulate EL0 reads of them.
const EL0_UNDEF_SYSREGS: [SysRegAccess; 4] = [(true, DAIF), (false, DAIF), (true, SCTLR_EL1), (false, TPIDRRO_EL0)];

/// The data window's last 256 bytes hold the exclusive-monitor slots: only
/// load/store-exclusives go there, and nothing else writes there, so a
/// store-exclusive's success never depends on how an implementation treats
/// ordinary stores to a monitored location (IMPLEMENTATION DEFINED).
const EXCL_BASE: u64 = DATA_BASE + DATA_SIZE - 256;

/// What is left to decide once the sequence is laid out.
enum Fix {
    None,
    Branch {
        op: Op,
        field: &'static str,
    },
    Literal {
        op: Op,
        field: &'static str,
    },
    /// Words `at`, `at + 1` of the group load the target into `reg`.
    Indirect {
        at: usize,
        reg: u32,
    },
}

/// A group before layout.
struct Pending {
    words: Vec<u32>,
    insn: usize,
    kind: GroupKind,
    fix: Fix,
    /// Data-window bytes the instruction touches (for the patches).
    touches: Vec<Access>,
    /// The exclusive-monitor slot class and address, for exclusives.
    slot: Option<(u64, u64)>,
}

/// What the groups of one case know about each other.
struct CaseCtx {
    /// The case's kind.
    kind: CaseKind,
    /// Registers the case's register fields favour.
    hot: Vec<u32>,
    /// (class, slot) of the load-exclusives so far.
    excl_loads: Vec<(u64, u64)>,
    /// Groups to insert before the current one (a store-exclusive's
    /// load-exclusive partner).
    inserts: Vec<Pending>,
}

impl Pending {
    fn single(word: u32, kind: GroupKind) -> Self {
        Pending {
            words: vec![word],
            insn: 0,
            kind,
            fix: Fix::None,
            touches: Vec::new(),
            slot: None,
        }
    }
}

/// A row to draw from: its class, and the value its `v` field is forced
/// to (general load/store rows: 0 for the general-register forms, 1 for
/// the SIMD&FP ones).
#[derive(Clone, Copy, Debug)]
struct Draw {
    op: Op,
    class: RowClass,
    v: Option<u32>,
}

/// Which pool a group is drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pool {
    /// Integer rows (integer cases).
    Int,
    /// FP/SIMD/crypto rows and SIMD&FP loads/stores.
    Fp,
    /// The integer rows FP/SIMD cases mix in.
    FpInt,
}

/// Generates [`Case`]s.
pub struct Generator {
    probe: Probe,
    /// Integer rows (general-register forms).
    int_pool: Vec<Draw>,
    /// FP/SIMD/crypto rows and the SIMD&FP forms of general load/store rows.
    fp_pool: Vec<Draw>,
    /// The integer rows FP/SIMD cases mix in: not LDST_ATOMIC (LSE atomics,
    /// LDAPR) nor LDST_EXCL (CAS/CASP), which QEMU's Cortex-A57 lacks.
    fp_int_pool: Vec<Draw>,
    /// Rows fault groups are drawn from.
    fault_pool: Vec<Op>,
    /// Rows whose rejected encodings FP/SIMD cases end with (the rows of
    /// `fp_pool`).
    undef_pool: Vec<Draw>,
    known: &'static [KnownMismatch],
    /// Counts so far.
    pub stats: GenStats,
}

impl Generator {
    /// A generator over every row that is not excluded (and, if `only` is
    /// given, only those rows); words matching `known` are skipped.
    pub fn new(only: Option<&[Op]>, known: &'static [KnownMismatch]) -> Self {
        let wanted = |op: Op| only.is_none_or(|o| o.contains(&op));
        let mut g = Generator {
            probe: Probe::new(),
            int_pool: Vec::new(),
            fp_pool: Vec::new(),
            fp_int_pool: Vec::new(),
            fault_pool: Vec::new(),
            undef_pool: Vec::new(),
            known,
            stats: GenStats {
                per_row: vec![0; ROWS.len()],
                v_forms: vec![0; ROWS.len()],
                undefined: vec![0; ROWS.len()],
                known_skipped: vec![0; known.len()],
                ..GenStats::default()
            },
        };
        for row in ROWS {
            let class = class_of(row);
            let draw = |v| Draw { op: row.op, class, v };
            match class {
                RowClass::Excluded(_) => {}
                _ if !wanted(row.op) => {}
                RowClass::Fault => g.fault_pool.push(row.op),
                _ if is_fp_simd_row(row) => {
                    g.fp_pool.push(draw(None));
                    g.undef_pool.push(draw(None));
                }
                _ => {
                    let v = row.fields.iter().any(|f| f.name == "v").then_some(0);
                    g.int_pool.push(draw(v));
                    if !matches!(row.name, "LDST_ATOMIC" | "LDST_EXCL") {
                        g.fp_int_pool.push(draw(v));
                    }
                    if has_v_form(row) {
                        g.fp_pool.push(draw(Some(1)));
                        g.undef_pool.push(draw(Some(1)));
                    }
                }
            }
        }
        g
    }

    /// The case for `seed` (the same seed always gives the same case). Its
    /// kind is [`CaseKind::of_seed`], unless `only` leaves no row of that
    /// kind.
    pub fn case(&mut self, seed: u64) -> Case {
        let mut kind = CaseKind::of_seed(seed);
        if kind == CaseKind::FpSimd && self.fp_pool.is_empty() {
            kind = CaseKind::Int;
        } else if kind == CaseKind::Int && self.int_pool.is_empty() && !self.fp_pool.is_empty() {
            kind = CaseKind::FpSimd;
        }
        let mut rng = Rng::new(seed);
        let case = loop {
            // (A layout can fail, rarely: a 16-byte literal load in a case
            // too short to hold an aligned target. Draw again.)
            if let Some(case) = self.try_case(kind, seed, &mut rng) {
                break case;
            }
        };
        let mut fp = false;
        for g in &case.groups {
            match g.kind {
                GroupKind::Row(op) => {
                    let row = &ROWS[op as usize];
                    self.stats.per_row[op as usize] += 1;
                    let v_form = has_v_form(row) && enc::field(row, case.words[g.insn], "v") == Some(1);
                    if v_form {
                        self.stats.v_forms[op as usize] += 1;
                    }
                    fp |= v_form || is_fp_simd_row(row);
                }
                GroupKind::Udf => self.stats.udf += 1,
                GroupKind::Undefined(Some(op)) => {
                    self.stats.undefined[op as usize] += 1;
                    fp = true;
                }
                GroupKind::Undefined(None) => {
                    self.stats.unallocated += 1;
                    fp = true;
                }
            }
        }
        self.stats.cases += 1;
        match kind {
            CaseKind::Int => self.stats.int_cases += 1,
            CaseKind::FpSimd => self.stats.fp_cases += 1,
        }
        self.stats.fp_containing += u64::from(fp);
        case
    }

    fn try_case(&mut self, kind: CaseKind, seed: u64, rng: &mut Rng) -> Option<Case> {
        let n = 1 + rng.below(16) as usize;
        let mut pending: Vec<Pending> = Vec::with_capacity(n);
        let mut ctx = CaseCtx {
            kind,
            hot: (0..2 + rng.below(5)).map(|_| rng.below(31) as u32).collect(),
            excl_loads: Vec::new(),
            inserts: Vec::new(),
        };
        for (i, left) in (0..n).rev().enumerate() {
            let g = loop {
                let last = left == 0;
                let g = match kind {
                    CaseKind::Int if self.int_pool.is_empty() || (last && rng.one_in(8)) => self.fault_group(kind, rng),
                    CaseKind::Int => self.draw(Pool::Int, &mut ctx, rng),
                    // FP/SIMD cases: the first group is always FP/SIMD, the
                    // others one time in four an integer instruction; the
                    // last may be a rejected SIMD&FP encoding or (when it
                    // is not also the first) another fault.
                    CaseKind::FpSimd if last && rng.one_in(6) => self.undefined_group(rng),
                    CaseKind::FpSimd if last && i > 0 && rng.one_in(16) => self.fault_group(kind, rng),
                    CaseKind::FpSimd if i > 0 && !self.fp_int_pool.is_empty() && rng.one_in(4) => {
                        self.draw(Pool::FpInt, &mut ctx, rng)
                    }
                    CaseKind::FpSimd => self.draw(Pool::Fp, &mut ctx, rng),
                };
                if let Some(g) = g {
                    break g;
                }
                ctx.inserts.clear();
            };
            for extra in ctx.inserts.drain(..) {
                let at = rng.below(pending.len() as u64 + 1) as usize;
                pending.insert(at, extra);
            }
            pending.push(g);
        }
        let fp = kind == CaseKind::FpSimd;
        let init = State {
            x: std::array::from_fn(|_| if fp && rng.one_in(4) { rng.fp_u64() } else { rng.edge() }),
            sp: if rng.one_in(2) {
                DATA_BASE + 16 * rng.below(DATA_SIZE / 16)
            } else {
                rng.edge()
            },
            nzcv: rng.below(16) << 28,
            tpidr: rng.edge(),
            // (Integer cases only carry the V registers through.)
            v: std::array::from_fn(|_| if fp { rng.vreg() } else { rng.next_u128() }),
            fpcr: rng.fpcr(),
            fpsr: rng.fpsr(),
        };
        self.layout(pending, init, kind, seed, rng)
    }

    /// A group of a row drawn from `pool`; `None` if every try was
    /// rejected.
    fn draw(&mut self, pool: Pool, ctx: &mut CaseCtx, rng: &mut Rng) -> Option<Pending> {
        let pool = match pool {
            Pool::Int => &self.int_pool,
            Pool::Fp => &self.fp_pool,
            Pool::FpInt => &self.fp_int_pool,
        };
        if pool.is_empty() {
            return None;
        }
        let d = pool[rng.below(pool.len() as u64) as usize];
        // Rows with many unallocated or rejected encodings (BR_REG,
        // EXTRACT...) get enough draws to show up as often as the others.
        (0..64).find_map(|_| {
            ctx.inserts.clear();
            self.group(d, ctx, rng)
        })
    }

    /// Tries once to make a group for the row of `d`; `None` if the draw
    /// was rejected (the caller draws again).
    fn group(&mut self, d: Draw, ctx: &mut CaseCtx, rng: &mut Rng) -> Option<Pending> {
        let (op, class) = (d.op, d.class);
        let row = &ROWS[op as usize];
        let raw = match class {
            RowClass::SysReg => {
                let list: &[SysRegAccess] = match ctx.kind {
                    CaseKind::Int => &EL0_SYSREGS,
                    CaseKind::FpSimd => &EL0_SYSREGS_FP,
                };
                sysreg_word(row, list[rng.below(list.len() as u64) as usize], rng)
            }
            RowClass::Sys => {
                let (_, op1, crn, crm, op2) = EL0_SYS[rng.below(EL0_SYS.len() as u64) as usize];
                let w = [("l", 0), ("op1", op1), ("crn", crn), ("crm", crm), ("op2", op2)]
                    .iter()
                    .fold(row.value, |w, &(f, v)| enc::with_field(row, w, f, v));
                enc::with_field(row, w, "rt", rng.below(31) as u32)
            }
            RowClass::Indirect if !rng.one_in(8) => {
                // BR/BLR/RET (the other fields select pointer-authentication
                // forms and ERET, all UNDEFINED at EL0 here).
                let raw = random_fields(row, &ctx.hot, rng);
                [("opc", rng.below(3) as u32), ("op2", 31), ("op3", 0), ("op4", 0)]
                    .iter()
                    .fold(raw, |w, &(f, v)| enc::with_field(row, w, f, v))
            }
            _ => enc::canonical_exclusive_class(random_fields(row, &ctx.hot, rng)),
        };
        let raw = match d.v {
            Some(v) => enc::with_field(row, raw, "v", v),
            None => raw,
        };
        // (The decode-time check is cheap; the probe core then checks the
        // rest, such as EL0 access rights.)
        if isa::decode(raw) != Some(op) || crate::sem::probe::undefined_at_decode(raw) || self.is_known(raw) {
            return None;
        }
        if op_is(row, "HINT") {
            // Not generated: WFE/WFI wait (ours stops, QEMU returns at
            // once); YIELD makes QEMU user mode leave its CPU loop, which
            // clears its exclusive monitor (Linux on hardware does not), so
            // a later store-exclusive would fail there only.
            let hint = (enc::field(row, raw, "crm")? << 3) | enc::field(row, raw, "op2")?;
            if (1..=3).contains(&hint) {
                return None;
            }
        }
        let kind = GroupKind::Row(op);
        let st = self.random_state(rng);
        match class {
            RowClass::Plain | RowClass::SysReg => {
                let p = self.probe.run(raw, TEST_PC, &st);
                if p.end.is_some() || p.next_pc != TEST_PC + 4 || !p.accesses.is_empty() {
                    return None;
                }
                let rt = enc::field(row, raw, "rt").unwrap_or(31);
                if class == RowClass::SysReg && sysreg_of(row, raw) == (false, FPCR) && rt != 31 {
                    // MSR FPCR: Xt holds random bits of the ones both sides
                    // treat alike.
                    let mut words = enc::mov_imm(rt, rng.next_u64() & MSR_FPCR_BITS);
                    let insn = words.len();
                    words.push(raw);
                    return Some(Pending {
                        words,
                        insn,
                        ..Pending::single(raw, kind)
                    });
                }
                Some(Pending::single(raw, kind))
            }
            RowClass::Sys => {
                let p = self.probe.run(raw, TEST_PC, &st);
                if p.end.is_some() || p.next_pc != TEST_PC + 4 {
                    return None;
                }
                // Cache maintenance by VA of a window address: on hardware
                // an unmapped one would fault.
                let rt = enc::field(row, raw, "rt")?;
                let mut words = enc::mov_imm(rt, DATA_BASE + rng.below(DATA_SIZE));
                let insn = words.len();
                words.push(raw);
                Some(Pending {
                    words,
                    insn,
                    ..Pending::single(raw, kind)
                })
            }
            RowClass::Branch(field) => {
                let p = self.probe.run(raw, TEST_PC, &st);
                p.end.is_none().then(|| Pending {
                    fix: Fix::Branch { op, field },
                    ..Pending::single(raw, kind)
                })
            }
            RowClass::Literal(field) => {
                // Offset 0 (the word itself, 8-byte aligned): only
                // acceptance is checked here; the target comes later.
                let raw = enc::with_field(row, raw, field, 0);
                let p = self.probe.run(raw, TEST_PC, &st);
                p.end.is_none().then(|| Pending {
                    fix: Fix::Literal { op, field },
                    ..Pending::single(raw, kind)
                })
            }
            RowClass::Indirect => {
                let rn = enc::field(row, raw, "rn")?;
                if rn == 31 {
                    return None;
                }
                let mut st = st;
                st.x[rn as usize] = TEST_PC + 0x100;
                let p = self.probe.run(raw, TEST_PC, &st);
                if p.end.is_some() || p.next_pc != TEST_PC + 0x100 {
                    return None;
                }
                let mut words = enc::mov_imm32_fixed(rn, 0).to_vec();
                words.push(raw);
                Some(Pending {
                    words,
                    insn: 2,
                    kind,
                    fix: Fix::Indirect { at: 0, reg: rn },
                    touches: Vec::new(),
                    slot: None,
                })
            }
            RowClass::Memory => self.exclusive_aware_group(row, raw, ctx, rng),
            RowClass::Fault | RowClass::Excluded(_) => None,
        }
    }

    /// A group that must fault at EL0, from the fault rows, MRS/MSR of
    /// registers EL0 may not access, UDF, or (integer cases) a misaligned
    /// access that must be aligned (FP/SIMD cases run on a core without
    /// LSE atomics, so they have none of those).
    fn fault_group(&mut self, kind: CaseKind, rng: &mut Rng) -> Option<Pending> {
        let choices = self.fault_pool.len() as u64 + if kind == CaseKind::Int { 3 } else { 2 };
        let pick = rng.below(choices) as usize;
        if pick == self.fault_pool.len() {
            return Some(Pending::single(rng.below(0x1_0000) as u32, GroupKind::Udf));
        }
        if pick == self.fault_pool.len() + 2 {
            return self.misaligned_group(rng);
        }
        let raw = if pick == self.fault_pool.len() + 1 {
            let row = ROWS.iter().find(|r| class_of(r) == RowClass::SysReg)?;
            let which = EL0_UNDEF_SYSREGS[rng.below(EL0_UNDEF_SYSREGS.len() as u64) as usize];
            sysreg_word(row, which, rng)
        } else {
            let row = &ROWS[self.fault_pool[pick] as usize];
            let raw = random_fields(row, &[], rng);
            if op_is(row, "PSTATE") {
                // MSR DAIFSet/DAIFClr (UMA clear) or SPSel: UNDEFINED at
                // EL0. (Not SSBS/DIT/...: QEMU's cortex-a76 has SSBS.)
                let (op1, op2) = [(3, 6), (3, 7), (0, 5)][rng.below(3) as usize];
                enc::with_field(row, enc::with_field(row, raw, "op1", op1), "op2", op2)
            } else if op_is(row, "HLT") && enc::field(row, raw, "imm16") == Some(SEMIHOSTING_HLT) {
                // QEMU user mode takes HLT #0xf000 as a semihosting call
                // (without -semihosting) and aborts on the unknown
                // operation in X0 instead of raising SIGILL.
                enc::with_field(row, raw, "imm16", SEMIHOSTING_HLT ^ 1)
            } else {
                raw
            }
        };
        let op = isa::decode(raw)?;
        if self.is_known(raw) {
            return None;
        }
        Some(Pending::single(raw, GroupKind::Row(op)))
    }

    /// A load-acquire, store-release, load-exclusive, CAS/CASP or LSE
    /// atomic whose address is not aligned to its size (for pairs, often
    /// aligned to the element but not the pair): an alignment fault on
    /// Normal memory as on Device memory, so comparable. Two QEMU 7.2
    /// deviations are left out: store-exclusives (QEMU checks the monitor's
    /// address first and fails them without a fault, where the
    /// architecture checks alignment first) and LDAPR (QEMU does not check
    /// its alignment at all).
    fn misaligned_group(&mut self, rng: &mut Rng) -> Option<Pending> {
        let mem: Vec<Op> = self
            .int_pool
            .iter()
            .filter(|d| d.class == RowClass::Memory)
            .map(|d| d.op)
            .collect();
        if mem.is_empty() {
            return None;
        }
        // Most load/store encodings are not of this kind: draw until one is.
        let (op, raw, (total, elem)) = (0..64).find_map(|_| {
            let op = mem[rng.below(mem.len() as u64) as usize];
            let raw = enc::canonical_exclusive_class(random_fields(&ROWS[op as usize], &[], rng));
            enc::strict_alignment(raw)
                .filter(|_| !enc::is_ldapr(raw))
                .map(|a| (op, raw, a))
        })?;
        let row = &ROWS[op as usize];
        let rn = enc::field(row, raw, "rn")?;
        if total == 1 || rn == 31 || isa::decode(raw) != Some(op) || self.is_known(raw) {
            return None; // (SP as a misaligned base: QEMU has no SP alignment check)
        }
        // The encoding must be one our core implements: aligned, it runs.
        let aligned = DATA_BASE + 0x100 * (1 + rng.below(0x80));
        let mut st = State::default();
        if self.try_base(raw, rn, aligned, &mut st).end.is_some() {
            return None;
        }
        let delta = if total > elem && rng.one_in(2) {
            elem
        } else {
            1 + rng.below(total - 1)
        };
        let mut words = enc::mov_imm(rn, aligned + delta);
        let insn = words.len();
        words.push(raw);
        Some(Pending {
            words,
            insn,
            kind: GroupKind::Row(op),
            fix: Fix::None,
            touches: Vec::new(),
            slot: None,
        })
    }

    /// An encoding our semantics reject at decode time, which QEMU's
    /// Cortex-A57 (the v8.0 FP/SIMD feature set) must reject too: a word of
    /// an FP/SIMD row (or a SIMD&FP form of a load/store row) with random
    /// fields, or one time in four a SIMD&FP data-processing encoding
    /// (`op0` = x111) that no row decodes.
    fn undefined_group(&mut self, rng: &mut Rng) -> Option<Pending> {
        if rng.one_in(4) {
            let raw = (rng.next_u64() as u32 & !(0xf << 25)) | (0b0111 << 25) | ((rng.below(2) as u32) << 28);
            return (isa::decode(raw).is_none() && !self.is_known(raw))
                .then(|| Pending::single(raw, GroupKind::Undefined(None)));
        }
        if self.undef_pool.is_empty() {
            return None;
        }
        let d = self.undef_pool[rng.below(self.undef_pool.len() as u64) as usize];
        let row = &ROWS[d.op as usize];
        (0..64).find_map(|_| {
            let raw = (rng.next_u64() as u32 & !row.mask) | row.value;
            let raw = match d.v {
                Some(v) => enc::with_field(row, raw, "v", v),
                None => raw,
            };
            (isa::decode(raw) == Some(d.op) && crate::sem::probe::undefined_at_decode(raw) && !self.is_known(raw))
                .then(|| Pending::single(raw, GroupKind::Undefined(Some(d.op))))
        })
    }

    fn is_known(&mut self, raw: u32) -> bool {
        for (i, k) in self.known.iter().enumerate() {
            if (k.matches)(raw) {
                self.stats.known_skipped[i] += 1;
                return true;
            }
        }
        false
    }

    fn random_state(&self, rng: &mut Rng) -> State {
        State {
            x: std::array::from_fn(|_| rng.edge()),
            sp: DATA_BASE + 0x8000,
            nzcv: rng.below(16) << 28,
            tpidr: rng.edge(),
            v: [0; 32],
            fpcr: rng.fpcr(),
            fpsr: 0,
        }
    }

    /// A load/store, where store-exclusives are paired with load-exclusives
    /// of their slot class (an earlier one, or one inserted before them),
    /// so that the store-exclusive's success path is common.
    fn exclusive_aware_group(&mut self, row: &Row, raw: u32, ctx: &mut CaseCtx, rng: &mut Rng) -> Option<Pending> {
        let mut raw = raw;
        let mut slot = None;
        if let Some((Exclusive::Store, _)) = enc::exclusive(raw) {
            if !ctx.excl_loads.is_empty() && !rng.one_in(4) {
                let (class, s) = ctx.excl_loads[rng.below(ctx.excl_loads.len() as u64) as usize];
                let adopted = enc::with_exclusive_class(raw, class);
                if isa::decode(adopted) == Some(row.op) && !self.is_known(adopted) {
                    raw = adopted;
                    slot = Some(s);
                }
            } else if rng.one_in(2) {
                let ld = enc::exclusive_load_like(raw, rng);
                let s = exclusive_slot(enc::exclusive_class(raw), rng);
                if let Some(op) = isa::decode(ld).filter(|_| !self.is_known(ld)) {
                    if let Some(p) = self.memory_group(&ROWS[op as usize], ld, rng, Some(s)) {
                        ctx.inserts.push(p);
                        slot = Some(s);
                    }
                }
            }
        }
        let p = self.memory_group(row, raw, rng, slot)?;
        if let (Some((Exclusive::Load, _)), Some(s)) = (enc::exclusive(raw), p.slot) {
            ctx.excl_loads.push(s);
        }
        Some(p)
    }

    /// A load/store: choose the base (and index) register values so that
    /// every access is aligned and inside the window, and reject register
    /// combinations the architecture leaves CONSTRAINED UNPREDICTABLE.
    fn memory_group(&mut self, row: &Row, raw: u32, rng: &mut Rng, slot: Option<u64>) -> Option<Pending> {
        let f = |n: &str| enc::field(row, raw, n);
        let rn = f("rn")?;
        let rt = f("rt")?;
        let rt2 = f("rt2");
        let rm = f("rm");
        let excl = enc::exclusive(raw);
        // Rt and Rt2 name V registers: no overlap with the base.
        let v_transfer = enc::transfers_v(raw);
        if rm == Some(rn) && rn != 31 {
            return None; // base and index in one register: no fixed address
        }
        if enc::writes_back(raw) && rn != 31 && !v_transfer && (rn == rt || rt2 == Some(rn)) {
            return None; // writeback with Rn == Rt/Rt2
        }
        if enc::is_load_pair(raw) && rt2 == Some(rt) {
            return None; // load pair with Rt == Rt2
        }
        if let Some((Exclusive::Store, pair)) = excl {
            let rs = f("rs")?;
            if rs == rt || (rs == rn && rn != 31) || (pair && rt2 == Some(rs)) {
                return None; // store-exclusive status register overlaps
            }
        }
        let index_reg = rm.filter(|&m| m != 31);

        let mut chosen_slot = None;
        for _attempt in 0..6 {
            let mut st = State::default();
            let index = index_reg.map(|m| {
                let v = random_index(rng);
                st.x[m as usize] = v;
                v
            });
            let base_and_touches = match excl {
                Some(_) => {
                    let class = enc::exclusive_class(raw);
                    let slot = slot.unwrap_or_else(|| exclusive_slot(class, rng));
                    chosen_slot = Some((class, slot));
                    let p = self.try_base(raw, rn, slot, &mut st);
                    (p.end.is_none() && p.accesses.iter().all(|a| in_zone(a, EXCL_BASE, DATA_BASE + DATA_SIZE))).then(
                        || {
                            let whole = [
                                Access { addr: slot, size: 8 },
                                Access {
                                    addr: slot + 8,
                                    size: 8,
                                },
                            ];
                            (slot, whole.to_vec())
                        },
                    )
                }
                None => self.place(raw, rn, &mut st, rng).map(|(base, p)| {
                    // A writeback form the encoding classifier does not know
                    // would slip past the Rn == Rt checks above: stop loudly.
                    let base_after = if rn == 31 { p.after.sp } else { p.after.x[rn as usize] };
                    // (Rs + 1: CASP's second result register.)
                    let rs = f("rs");
                    let overwritten =
                        rn != 31 && !v_transfer && [Some(rt), rt2, rs, rs.map(|r| r + 1)].contains(&Some(rn));
                    assert!(
                        overwritten || base_after == base || enc::writes_back(raw),
                        "testgen: {raw:#010x} ({}) writes back its base register but enc::writes_back \
                         does not know it; teach testgen/enc.rs",
                        row.name
                    );
                    (base, p.accesses)
                }),
            };
            let Some((base, touches)) = base_and_touches else {
                continue;
            };
            let mut words = Vec::new();
            if rn == 31 {
                let t = rng.below(31) as u32;
                words.extend(enc::mov_imm(t, base));
                words.push(enc::mov_sp_from(t));
            } else {
                words.extend(enc::mov_imm(rn, base));
            }
            if let (Some(m), Some(v)) = (index_reg, index) {
                words.extend(enc::mov_imm(m, v));
            }
            let insn = words.len();
            words.push(raw);
            return Some(Pending {
                words,
                insn,
                kind: GroupKind::Row(row.op),
                fix: Fix::None,
                touches,
                slot: chosen_slot,
            });
        }
        None
    }

    /// Runs `raw` with base register `rn` = `base`.
    fn try_base(&mut self, raw: u32, rn: u32, base: u64, st: &mut State) -> ProbeResult {
        if rn == 31 {
            st.sp = base;
        } else {
            st.x[rn as usize] = base;
        }
        self.probe.run(raw, TEST_PC, st)
    }

    /// For an ordinary load/store: a base value putting every access
    /// inside the main part of the window, aligned (the probe core faults
    /// on misalignment, so a base residue mod 16 that runs cleanly is an
    /// aligned one), with the accesses it makes.
    fn place(&mut self, raw: u32, rn: u32, st: &mut State, rng: &mut Rng) -> Option<(u64, ProbeResult)> {
        let (lo, hi) = (DATA_BASE, EXCL_BASE);
        // Probe at a 16-byte aligned base; after an alignment fault, once
        // more with the base moved so that the faulting address is aligned.
        let probe_base = DATA_BASE + 0x8000;
        let mut from = probe_base;
        let mut first = self.try_base(raw, rn, from, st);
        if let (Some(End::Bus), Some(far), false) = (&first.end, first.fault_addr, rn == 31) {
            from = probe_base + (far.wrapping_sub(probe_base).wrapping_neg() & 15);
            first = self.try_base(raw, rn, from, st);
        }
        if first.end.is_some() {
            return None;
        }
        // Offsets of the accesses from the base; the base residues mod 16
        // that keep every access (and a strict-alignment instruction's whole
        // access) aligned; the base range that keeps all inside [lo, hi).
        let offs: Vec<(i128, i128)> = first
            .accesses
            .iter()
            .map(|a| {
                let off = i128::from(a.addr.wrapping_sub(from) as i64);
                (off, off + i128::from(a.size))
            })
            .collect();
        let strict = enc::strict_alignment(raw).map_or(1, |(total, _)| total as i128);
        let aligned = |r: i128| {
            (r % strict == 0 || offs.is_empty())
                && first
                    .accesses
                    .iter()
                    .zip(&offs)
                    .all(|(a, o)| (r + o.0).rem_euclid(i128::from(a.size)) == 0)
        };
        let residues: Vec<i128> = if rn == 31 { vec![0] } else { (0..16).collect() };
        // Aligned by the accesses' sizes, and accepted by our core (which
        // may check the alignment of a whole transfer, such as a Q
        // register's 16 bytes moved as two 8-byte accesses).
        let ok: Vec<i128> = residues
            .into_iter()
            .filter(|&r| aligned(r) && self.try_base(raw, rn, probe_base + r as u64, st).end.is_none())
            .collect();
        if ok.is_empty() {
            return None;
        }
        let residue = ok[rng.below(ok.len() as u64) as usize];
        let min_off = offs.iter().map(|o| o.0).min().unwrap_or(0);
        let max_end = offs.iter().map(|o| o.1).max().unwrap_or(1);
        let bmin = i128::from(lo) - min_off;
        let bmax = i128::from(hi) - max_end;
        // Bases congruent to `residue` mod 16 in [bmin, bmax].
        let first_ok = bmin + (residue - bmin).rem_euclid(16);
        if first_ok > bmax || first_ok < 0 {
            return None;
        }
        let choices = (bmax - first_ok) / 16 + 1;
        let base = (first_ok + 16 * i128::from(rng.below(choices as u64))) as u64;
        let p = self.try_base(raw, rn, base, st);
        if p.end.is_some() || !p.accesses.iter().all(|a| in_zone(a, lo, hi)) {
            return None;
        }
        Some((base, p))
    }

    /// Lays the groups out at [`TEST_PC`], fixes up branch targets and
    /// literal offsets, and fills the window patches (FP/SIMD cases: half
    /// of them FP data). `None` if a literal load has no valid target.
    fn layout(&mut self, pending: Vec<Pending>, init: State, kind: CaseKind, seed: u64, rng: &mut Rng) -> Option<Case> {
        let mut words = Vec::new();
        let mut groups = Vec::new();
        for p in &pending {
            groups.push(Group {
                start: words.len(),
                insn: words.len() + p.insn,
                len: p.words.len(),
                kind: p.kind,
            });
            words.extend_from_slice(&p.words);
        }
        let n = words.len();
        // Where in the test page the words go: half the cases at its
        // start, the others anywhere they fit (with the marker and tail).
        let room = TEST_PAGE / 4 - (n + 1 + TAIL.len()) as u64;
        let start = if rng.one_in(2) {
            0
        } else {
            4 * rng.below(room + 1) as u32
        };
        let first = TEST_PC + u64::from(start);
        let addr = |i: usize| first + 4 * i as u64;
        // Targets: the start of any later group, or the end marker.
        let target = |gi: usize, rng: &mut Rng| {
            let j = gi + 1 + rng.below((pending.len() - gi) as u64) as usize;
            groups.get(j).map_or(addr(n), |g| addr(g.start))
        };
        let mut patched = std::collections::BTreeMap::new();
        for (gi, p) in pending.iter().enumerate() {
            let at = groups[gi].insn;
            match p.fix {
                Fix::None => {}
                Fix::Branch { op, field } => {
                    let row = &ROWS[op as usize];
                    let delta = (target(gi, rng) - addr(at)) / 4;
                    words[at] = enc::with_field(row, words[at], field, delta as u32);
                    debug_assert_eq!(isa::decode(words[at]), Some(op));
                }
                Fix::Indirect { at: pre, reg } => {
                    let t = target(gi, rng) as u32;
                    let start = groups[gi].start + pre;
                    words[start..start + 2].copy_from_slice(&enc::mov_imm32_fixed(reg, t));
                }
                Fix::Literal { op, field } => {
                    words[at] = self.literal_target(&ROWS[op as usize], field, words[at], first, at, n, rng)?;
                }
            }
            for a in &p.touches {
                let first = (a.addr - DATA_BASE) & !7;
                let last = (a.addr + u64::from(a.size) - 1 - DATA_BASE) & !7;
                for off in (first..=last).step_by(8) {
                    patched.entry(off as u32).or_insert_with(|| {
                        if kind == CaseKind::FpSimd && rng.one_in(2) {
                            rng.fp_u64()
                        } else {
                            rng.edge()
                        }
                    });
                }
            }
        }
        Some(Case {
            seed,
            kind,
            start,
            words,
            groups,
            init,
            patches: patched.into_iter().collect(),
        })
    }

    /// An offset for the literal load at word `at` that reads (aligned)
    /// inside the sequence, the marker or the tail; `None` if there is none
    /// (a 16-byte load in a very short case).
    #[allow(clippy::too_many_arguments)]
    fn literal_target(
        &mut self,
        row: &Row,
        field: &str,
        raw: u32,
        first: u64,
        at: usize,
        n: usize,
        rng: &mut Rng,
    ) -> Option<u32> {
        let lo = first;
        let hi = first + 4 * (n + 1 + TAIL.len()) as u64;
        let mut cands: Vec<usize> = (0..n + 1 + TAIL.len()).collect();
        shuffle(&mut cands, rng);
        let pc = first + 4 * at as u64;
        let st = State::default();
        for k in cands {
            let delta = k as i64 - at as i64;
            let w = enc::with_field(row, raw, field, delta as u32);
            let p = self.probe.run(w, pc, &st);
            if p.end.is_none() && p.accesses.iter().all(|a| in_zone(a, lo, hi)) {
                return Some(w);
            }
        }
        // (The word itself is always a valid target for 4-byte loads and the
        // 8-aligned first word for 8-byte ones.)
        None
    }
}

/// One of the two 16-byte monitor slots of exclusive class `class`: by
/// element size and pairness, so that two exclusives at one address always
/// have the same size (a mismatch makes store-exclusive success
/// IMPLEMENTATION DEFINED).
fn exclusive_slot(class: u64, rng: &mut Rng) -> u64 {
    EXCL_BASE + 16 * (2 * class + rng.below(2))
}

fn op_is(row: &Row, name: &str) -> bool {
    row.name == name
}

fn in_zone(a: &Access, lo: u64, hi: u64) -> bool {
    a.addr >= lo && a.addr + u64::from(a.size) <= hi
}

fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// The row's fixed bits with random fields: registers favour 31 (SP/ZR)
/// a little and the case's `hot` registers a lot (so that instructions
/// consume each other's results), wide immediates favour zero, all-ones
/// and small values.
fn random_fields(row: &Row, hot: &[u32], rng: &mut Rng) -> u32 {
    let mut raw = row.value;
    for f in row.fields {
        let max = if f.width >= 32 { u32::MAX } else { (1u32 << f.width) - 1 };
        let v = match f.name {
            "rd" | "rn" | "rm" | "rt" | "rt2" | "ra" | "rs" => {
                if rng.one_in(8) {
                    31
                } else if !hot.is_empty() && rng.one_in(2) {
                    hot[rng.below(hot.len() as u64) as usize]
                } else {
                    rng.below(32) as u32
                }
            }
            _ if f.width >= 4 => match rng.below(8) {
                0 => 0,
                1 => max,
                2 => rng.below(4) as u32,
                _ => rng.next_u64() as u32 & max,
            },
            _ => rng.next_u64() as u32 & max,
        };
        raw |= (v & max) << f.lsb;
    }
    raw
}

/// An index register value whose extended, scaled form is small: 64-bit
/// small values of either sign, or small 32-bit values under random upper
/// halves (which UXTW/SXTW ignore).
fn random_index(rng: &mut Rng) -> u64 {
    let small = rng.below(1024) as i64 - 512;
    let garbage = rng.next_u64() & !0xffff_ffff;
    match rng.below(4) {
        0 => small as u64,
        1 => garbage | u64::from(small as u32),
        2 => small.unsigned_abs(),
        _ => garbage | small.unsigned_abs(),
    }
}

/// Whether `raw` (of the SYSREG row) is an MRS, and the register it names.
fn sysreg_of(row: &Row, raw: u32) -> SysRegAccess {
    let f = |n: &str| enc::field(row, raw, n).unwrap_or(0);
    (f("l") == 1, (f("o0") + 2, f("op1"), f("crn"), f("crm"), f("op2")))
}

/// MRS (`mrs` = true) or MSR of system register `reg` with a random Xt.
fn sysreg_word(row: &Row, (mrs, reg): SysRegAccess, rng: &mut Rng) -> u32 {
    let (op0, op1, crn, crm, op2) = reg;
    [
        ("l", u32::from(mrs)),
        ("o0", op0 - 2),
        ("op1", op1),
        ("crn", crn),
        ("crm", crm),
        ("op2", op2),
        ("rt", rng.below(32) as u32),
    ]
    .iter()
    .fold(row.value, |w, &(f, v)| enc::with_field(row, w, f, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testgen::MARKER;

    #[test]
    fn marker_is_not_an_instruction() {
        assert_eq!(isa::decode(MARKER), None);
    }
}
