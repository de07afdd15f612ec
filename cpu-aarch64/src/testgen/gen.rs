//! The case generator: rows from the encoding table, random fields, and
//! the constraints that make a sequence safe and deterministic on both a
//! bare interpreter and Linux user mode.

use super::enc::{self, Exclusive};
use super::machine::{Access, Probe, ProbeResult};
use super::{Case, Group, GroupKind, Rng, State, DATA_BASE, DATA_SIZE, TAIL, TEST_PC};
use crate::isa::{self, Op, Row, ROWS};

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

/// The class of `row`, from its name (for the rows whose fields need
/// special values) or its fields.
pub fn class_of(row: &Row) -> RowClass {
    let has = |n: &str| row.fields.iter().any(|f| f.name == n);
    if !row.file.ends_with("-int.isa") {
        return RowClass::Excluded(
            "not an integer-group row: V registers and FPCR/FPSR are not part of the compared state yet",
        );
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
    /// `UDF` fault cases.
    pub udf: u64,
    /// Words skipped per [`KnownMismatch`] entry.
    pub known_skipped: Vec<u64>,
    /// Cases generated.
    pub cases: u64,
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

/// System registers by (op0, op1, CRn, CRm, op2).
const NZCV: (u32, u32, u32, u32, u32) = (3, 3, 4, 2, 0);
const TPIDR_EL0: (u32, u32, u32, u32, u32) = (3, 3, 13, 0, 2);
const TPIDRRO_EL0: (u32, u32, u32, u32, u32) = (3, 3, 13, 0, 3);
const CTR_EL0: (u32, u32, u32, u32, u32) = (3, 3, 0, 0, 1);
const DCZID_EL0: (u32, u32, u32, u32, u32) = (3, 3, 0, 0, 7);
const DAIF: (u32, u32, u32, u32, u32) = (3, 3, 4, 2, 1);
const SCTLR_EL1: (u32, u32, u32, u32, u32) = (3, 0, 1, 0, 0);

/// (is MRS, register) pairs EL0 may use.
const EL0_SYSREGS: [(bool, (u32, u32, u32, u32, u32)); 7] = [
    (true, NZCV),
    (false, NZCV),
    (true, TPIDR_EL0),
    (false, TPIDR_EL0),
    (true, TPIDRRO_EL0),
    (true, CTR_EL0),
    (true, DCZID_EL0),
];

/// (is MRS, register) pairs that are UNDEFINED at EL0 under Linux
/// (SCTLR_EL1.UMA clear; EL1 registers; TPIDRRO_EL0 is read-only). ID
/// registers are not here: Linux (and QEMU) emulate EL0 reads of them.
const EL0_UNDEF_SYSREGS: [(bool, (u32, u32, u32, u32, u32)); 4] =
    [(true, DAIF), (false, DAIF), (true, SCTLR_EL1), (false, TPIDRRO_EL0)];

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
}

impl Pending {
    fn single(word: u32, kind: GroupKind) -> Self {
        Pending {
            words: vec![word],
            insn: 0,
            kind,
            fix: Fix::None,
            touches: Vec::new(),
        }
    }
}

/// Generates [`Case`]s.
pub struct Generator {
    probe: Probe,
    /// Rows ordinary groups are drawn from, with their classes.
    pool: Vec<(Op, RowClass)>,
    /// Rows fault groups are drawn from.
    fault_pool: Vec<Op>,
    known: &'static [KnownMismatch],
    /// Counts so far.
    pub stats: GenStats,
}

impl Generator {
    /// A generator over every row that is not excluded (and, if `only` is
    /// given, only those rows); words matching `known` are skipped.
    pub fn new(only: Option<&[Op]>, known: &'static [KnownMismatch]) -> Self {
        let wanted = |op: Op| only.is_none_or(|o| o.contains(&op));
        let mut pool = Vec::new();
        let mut fault_pool = Vec::new();
        for row in ROWS {
            match class_of(row) {
                RowClass::Excluded(_) => {}
                _ if !wanted(row.op) => {}
                RowClass::Fault => fault_pool.push(row.op),
                c => pool.push((row.op, c)),
            }
        }
        Generator {
            probe: Probe::new(),
            pool,
            fault_pool,
            known,
            stats: GenStats {
                per_row: vec![0; ROWS.len()],
                known_skipped: vec![0; known.len()],
                ..GenStats::default()
            },
        }
    }

    /// The case for `seed` (the same seed always gives the same case).
    pub fn case(&mut self, seed: u64) -> Case {
        let mut rng = Rng::new(seed);
        let n = 1 + rng.below(16) as usize;
        let mut pending = Vec::with_capacity(n);
        while pending.len() < n {
            let last = pending.len() + 1 == n;
            let g = if self.pool.is_empty() || (last && rng.one_in(8)) {
                self.fault_group(&mut rng)
            } else {
                let (op, class) = self.pool[rng.below(self.pool.len() as u64) as usize];
                self.group(op, class, &mut rng)
            };
            if let Some(g) = g {
                pending.push(g);
            }
        }
        let init = State {
            x: std::array::from_fn(|_| rng.edge()),
            sp: if rng.one_in(2) {
                DATA_BASE + 16 * rng.below(DATA_SIZE / 16)
            } else {
                rng.edge()
            },
            nzcv: rng.below(16) << 28,
            tpidr: rng.edge(),
        };
        let case = self.layout(pending, init, seed, &mut rng);
        for g in &case.groups {
            match g.kind {
                GroupKind::Row(op) => self.stats.per_row[op as usize] += 1,
                GroupKind::Udf => self.stats.udf += 1,
            }
        }
        self.stats.cases += 1;
        case
    }

    /// Tries once to make a group for row `op`; `None` if the draw was
    /// rejected (the caller draws again).
    fn group(&mut self, op: Op, class: RowClass, rng: &mut Rng) -> Option<Pending> {
        let row = &ROWS[op as usize];
        let raw = match class {
            RowClass::SysReg => sysreg_word(row, EL0_SYSREGS[rng.below(7) as usize], rng),
            RowClass::Sys => {
                let (_, op1, crn, crm, op2) = EL0_SYS[rng.below(EL0_SYS.len() as u64) as usize];
                let w = [("l", 0), ("op1", op1), ("crn", crn), ("crm", crm), ("op2", op2)]
                    .iter()
                    .fold(row.value, |w, &(f, v)| enc::with_field(row, w, f, v));
                enc::with_field(row, w, "rt", rng.below(32) as u32)
            }
            _ => enc::canonical_exclusive_class(random_fields(row, rng)),
        };
        if isa::decode(raw) != Some(op) || self.is_known(raw) {
            return None;
        }
        if enc::field(row, raw, "v") == Some(1) {
            // SIMD&FP loads/stores: V registers are not in the compared
            // state yet (and would carry over between cases in QEMU).
            return None;
        }
        if op_is(row, "HINT") {
            // WFE/WFI wait (ours stops, QEMU returns at once): not compared.
            let hint = (enc::field(row, raw, "crm")? << 3) | enc::field(row, raw, "op2")?;
            if hint == 2 || hint == 3 {
                return None;
            }
        }
        let kind = GroupKind::Row(op);
        let st = self.random_state(rng);
        match class {
            RowClass::Plain | RowClass::SysReg | RowClass::Sys => {
                let p = self.probe.run(raw, TEST_PC, &st);
                (p.end.is_none() && p.next_pc == TEST_PC + 4 && p.accesses.is_empty())
                    .then(|| Pending::single(raw, kind))
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
                })
            }
            RowClass::Memory => self.memory_group(row, raw, rng),
            RowClass::Fault | RowClass::Excluded(_) => None,
        }
    }

    /// A group that must fault at EL0, from the fault rows, MRS/MSR of
    /// registers EL0 may not access, or UDF.
    fn fault_group(&mut self, rng: &mut Rng) -> Option<Pending> {
        let choices = self.fault_pool.len() as u64 + 2;
        let pick = rng.below(choices) as usize;
        if pick == self.fault_pool.len() {
            return Some(Pending::single(rng.below(0x1_0000) as u32, GroupKind::Udf));
        }
        let raw = if pick == self.fault_pool.len() + 1 {
            let row = ROWS.iter().find(|r| class_of(r) == RowClass::SysReg)?;
            let which = EL0_UNDEF_SYSREGS[rng.below(EL0_UNDEF_SYSREGS.len() as u64) as usize];
            sysreg_word(row, which, rng)
        } else {
            let row = &ROWS[self.fault_pool[pick] as usize];
            let raw = random_fields(row, rng);
            if op_is(row, "PSTATE") {
                // MSR DAIFSet/DAIFClr (UMA clear) or SPSel: UNDEFINED at
                // EL0. (Not SSBS/DIT/...: QEMU's cortex-a76 has SSBS.)
                let (op1, op2) = [(3, 6), (3, 7), (0, 5)][rng.below(3) as usize];
                enc::with_field(row, enc::with_field(row, raw, "op1", op1), "op2", op2)
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
        }
    }

    /// A load/store: choose the base (and index) register values so that
    /// every access is aligned and inside the window, and reject register
    /// combinations the architecture leaves CONSTRAINED UNPREDICTABLE.
    fn memory_group(&mut self, row: &Row, raw: u32, rng: &mut Rng) -> Option<Pending> {
        let f = |n: &str| enc::field(row, raw, n);
        let rn = f("rn")?;
        let rt = f("rt")?;
        let rt2 = f("rt2");
        let rm = f("rm");
        let excl = enc::exclusive(raw);
        if rm == Some(rn) && rn != 31 {
            return None; // base and index in one register: no fixed address
        }
        if enc::writes_back(raw) && rn != 31 && (rn == rt || rt2 == Some(rn)) {
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

        for _attempt in 0..6 {
            let mut st = State::default();
            let index = index_reg.map(|m| {
                let v = random_index(rng);
                st.x[m as usize] = v;
                v
            });
            let base_and_touches = match excl {
                Some((_, pair)) => {
                    // Slots by element size and pairness, so that two
                    // exclusives at one address always have the same size.
                    let size = raw >> 30;
                    let class = u64::from(size) + if pair { 2 } else { 0 }; // 0..=5
                    let slot = EXCL_BASE + 16 * (2 * class + rng.below(2));
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
                    let overwritten = rn != 31 && [Some(rt), rt2, f("rs")].contains(&Some(rn));
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
        let probe_base = DATA_BASE + 0x8000;
        let mut residues: Vec<u64> = if rn == 31 { vec![0] } else { (0..16).collect() };
        shuffle(&mut residues, rng);
        let (residue, first) = residues.into_iter().find_map(|r| {
            let p = self.try_base(raw, rn, probe_base + r, st);
            p.end.is_none().then_some((r, p))
        })?;
        // Offsets of the accesses from the base, and the base range that
        // keeps all of them inside [lo, hi).
        let from = probe_base + residue;
        let offs: Vec<(i128, i128)> = first
            .accesses
            .iter()
            .map(|a| {
                let off = i128::from(a.addr.wrapping_sub(from) as i64);
                (off, off + i128::from(a.size))
            })
            .collect();
        let min_off = offs.iter().map(|o| o.0).min().unwrap_or(0);
        let max_end = offs.iter().map(|o| o.1).max().unwrap_or(1);
        let bmin = i128::from(lo) - min_off;
        let bmax = i128::from(hi) - max_end;
        // Bases congruent to `residue` mod 16 in [bmin, bmax].
        let first_ok = bmin + (i128::from(residue) - bmin).rem_euclid(16);
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
    /// literal offsets, and fills the window patches.
    fn layout(&mut self, pending: Vec<Pending>, init: State, seed: u64, rng: &mut Rng) -> Case {
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
        let addr = |i: usize| TEST_PC + 4 * i as u64;
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
                    words[at] = self.literal_target(&ROWS[op as usize], field, words[at], at, n, rng);
                }
            }
            for a in &p.touches {
                let first = (a.addr - DATA_BASE) & !7;
                let last = (a.addr + u64::from(a.size) - 1 - DATA_BASE) & !7;
                for off in (first..=last).step_by(8) {
                    patched.entry(off as u32).or_insert_with(|| rng.edge());
                }
            }
        }
        Case {
            seed,
            words,
            groups,
            init,
            patches: patched.into_iter().collect(),
        }
    }

    /// An offset for the literal load at word `at` that reads (aligned)
    /// inside the sequence, the marker or the tail.
    fn literal_target(&mut self, row: &Row, field: &str, raw: u32, at: usize, n: usize, rng: &mut Rng) -> u32 {
        let lo = TEST_PC;
        let hi = TEST_PC + 4 * (n + 1 + TAIL.len()) as u64;
        let mut cands: Vec<usize> = (0..n + 1 + TAIL.len()).collect();
        shuffle(&mut cands, rng);
        let pc = TEST_PC + 4 * at as u64;
        let st = State::default();
        for k in cands {
            let delta = k as i64 - at as i64;
            let w = enc::with_field(row, raw, field, delta as u32);
            let p = self.probe.run(w, pc, &st);
            if p.end.is_none() && p.accesses.iter().all(|a| in_zone(a, lo, hi)) {
                return w;
            }
        }
        // Unreachable in practice: the word itself is always a valid target
        // for 4-byte loads and the 8-aligned first word for 8-byte ones.
        enc::with_field(row, raw, field, 0)
    }
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
/// a little, wide immediates favour zero, all-ones and small values.
fn random_fields(row: &Row, rng: &mut Rng) -> u32 {
    let mut raw = row.value;
    for f in row.fields {
        let max = if f.width >= 32 { u32::MAX } else { (1u32 << f.width) - 1 };
        let v = match f.name {
            "rd" | "rn" | "rm" | "rt" | "rt2" | "ra" | "rs" => {
                if rng.one_in(8) {
                    31
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

/// MRS (`mrs` = true) or MSR of system register `reg` with a random Xt.
fn sysreg_word(row: &Row, (mrs, reg): (bool, (u32, u32, u32, u32, u32)), rng: &mut Rng) -> u32 {
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
