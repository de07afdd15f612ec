//! Differential test of our execution engines against an outside reference
//! (issues 3, 4 and 7): random instruction sequences drawn from the
//! encoding table run on our interpreter, on the JIT (x86-64 hosts) and in
//! QEMU user mode (`qemu-aarch64` running `firmware/prebuilt/difftest.elf`);
//! X0-X30, SP, NZCV, TPIDR_EL0, V0-V31, FPCR, FPSR, the data window and the
//! way each case ends must all agree, for each engine against QEMU and
//! between the two engines. A mismatch report names the engine(s) that
//! disagree. Integer cases run under `-cpu cortex-a76`, FP/SIMD cases (FP,
//! AdvSIMD, crypto, SIMD&FP loads/stores, special operand values, random
//! FPCR modes) under `-cpu cortex-a57`. How the harness works and what it
//! cannot compare: firmware/README.md, "difftest".
//!
//! Environment:
//! - `PREBOARD_DIFF_CASES=N`: cases per run (default 60000: 20400 integer
//!   and 39600 FP/SIMD cases; e.g. 1000000 for a long run).
//! - `PREBOARD_DIFF_FP=P`: the percentage of FP/SIMD cases (default 66;
//!   100 for an FP/SIMD-only run, 0 for integer cases only).
//! - `PREBOARD_DIFF_SEED=S`: the run's seed (default: fresh each run,
//!   printed). Case `i` has seed `case_seed(S, i)`.
//! - `PREBOARD_DIFF_CASE=S`: run only the case with seed `S` (as printed on
//!   a mismatch; its low bit says which kind) and show it in full.
//! - `PREBOARD_DIFF_ROWS=NAME,...`: only these table rows (changes which
//!   case a seed gives; the mismatch report repeats it).
//! - `PREBOARD_REQUIRE_TOOLS=1`: a missing `qemu-aarch64` fails the test
//!   instead of skipping it.
//!
//! On a host without a JIT backend (anything but x86-64) only the
//! interpreter is compared, with a notice.

mod common;

use common::JitCases;
use cpu_aarch64::isa::{Op, ROWS};
use cpu_aarch64::testgen::{
    self, case_seed, qemu::Harness, Case, CaseKind, GenStats, Generator, KnownMismatch, Outcome, RowClass, Runner,
};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Divergences kept out of the random cases until they are fixed. Each
/// entry must name the bug; the test prints how many words each one hid.
/// Keep this list empty whenever possible.
const KNOWN_MISMATCHES: &[KnownMismatch] = &[];

/// At most this many mismatches are reported in full before the run stops.
const MAX_REPORTED: usize = 5;

/// Default cases per run, and the default percentage of FP/SIMD cases: at
/// least 20000 of each kind.
const DEFAULT_CASES: u64 = 60_000;
const DEFAULT_FP_PERCENT: u64 = 66;

/// Whether case `i` of a run with `fp_percent` FP/SIMD cases is one:
/// spread evenly, `floor(n * fp_percent / 100)` of the first `n` cases.
fn is_fp_case(i: u64, fp_percent: u64) -> bool {
    let upto = |k: u64| (u128::from(k) * u128::from(fp_percent) / 100) as u64;
    upto(i + 1) > upto(i)
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().replace('_', "");
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v} is not a number (decimal or 0x-hex)")))
}

fn only_rows() -> Option<Vec<Op>> {
    let v = std::env::var("PREBOARD_DIFF_ROWS").ok()?;
    let ops = v
        .split(',')
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            ROWS.iter()
                .find(|r| r.name.eq_ignore_ascii_case(n))
                .unwrap_or_else(|| panic!("PREBOARD_DIFF_ROWS: no table row named {n}"))
                .op
        })
        .collect();
    Some(ops)
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `qemu-aarch64`, or `None` (with a notice) when it is not installed and
/// `PREBOARD_REQUIRE_TOOLS` is not set.
fn qemu() -> Option<PathBuf> {
    let name = "qemu-aarch64";
    if Command::new(name).arg("--version").output().is_ok() {
        return Some(PathBuf::from(name));
    }
    assert!(
        std::env::var_os("PREBOARD_REQUIRE_TOOLS").is_none(),
        "{name} is required (PREBOARD_REQUIRE_TOOLS is set) but not installed (Debian: qemu-user)"
    );
    eprintln!("NOTICE: {name} not found; skipping the differential test (CI installs qemu-user)");
    None
}

/// A private copy of the committed harness, removed when dropped: QEMU
/// maps the ELF, and rebuilding `firmware/prebuilt` during a run (`cp`
/// truncates in place) would otherwise crash it with SIGBUS.
struct HarnessCopy(PathBuf);

impl HarnessCopy {
    fn new() -> Self {
        let elf = repo("firmware/prebuilt/difftest.elf");
        assert!(elf.exists(), "{} is missing (make -C firmware prebuilt)", elf.display());
        let copy = std::env::temp_dir().join(format!("preboard-difftest-{}.elf", std::process::id()));
        std::fs::copy(&elf, &copy).unwrap_or_else(|e| panic!("copy {} to {}: {e}", elf.display(), copy.display()));
        HarnessCopy(copy)
    }
}

impl Drop for HarnessCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn reproduce_hint(case: &Case) -> String {
    let rows = std::env::var("PREBOARD_DIFF_ROWS")
        .map(|r| format!("PREBOARD_DIFF_ROWS={r} "))
        .unwrap_or_default();
    format!(
        "{rows}PREBOARD_DIFF_CASE={:#x} cargo test --test diff_qemu engines_match_qemu -- --nocapture",
        case.seed
    )
}

fn describe_state(s: &testgen::State) -> String {
    let mut out = String::new();
    for (i, x) in s.x.iter().enumerate() {
        out.push_str(&format!("x{i:<2}={x:#018x}"));
        out.push_str(if i % 4 == 3 { "\n    " } else { "  " });
    }
    out.push_str(&format!(
        "sp={:#018x}  nzcv={:#x}  tpidr_el0={:#018x}\n    fpcr={:#x}  fpsr={:#x}",
        s.sp, s.nzcv, s.tpidr, s.fpcr, s.fpsr
    ));
    for (i, v) in s.v.iter().enumerate() {
        out.push_str(if i % 3 == 0 { "\n    " } else { "  " });
        out.push_str(&format!("v{i:<2}={v:#034x}"));
    }
    out
}

/// One case's outcomes: QEMU's, the interpreter's and the JIT's (`None`
/// on a host without a JIT).
struct Outcomes<'a> {
    qemu: &'a Outcome,
    interp: &'a Outcome,
    jit: Option<&'a Outcome>,
}

impl Outcomes<'_> {
    /// Which engines disagree, or `None` when every engine matches QEMU
    /// (and so each other).
    fn disagreement(&self) -> Option<&'static str> {
        let interp_ok = self.qemu.diff(self.interp).is_empty();
        let jit_ok = self.jit.map(|j| self.qemu.diff(j).is_empty());
        let engines_same = self.jit.map(|j| j == self.interp);
        match (interp_ok, jit_ok, engines_same) {
            (true, None | Some(true), _) => None,
            (false, None, _) => Some("the interpreter differs from QEMU"),
            (false, Some(true), _) => Some("the interpreter differs from QEMU and the JIT"),
            (true, Some(false), _) => Some("the JIT differs from QEMU and the interpreter"),
            (false, Some(false), Some(true)) => Some("both engines differ from QEMU, identically"),
            (false, Some(false), _) => Some("both engines differ from QEMU and from each other"),
        }
    }
}

/// `Outcome::diff`'s lines with its sides named `a` and `b` (it calls
/// them "qemu" and "ours").
fn diff_between(a_name: &str, a: &Outcome, b_name: &str, b: &Outcome) -> Vec<String> {
    a.diff(b)
        .into_iter()
        .map(|d| {
            d.replacen(": qemu ", &format!(": {a_name} "), 1)
                .replacen(", ours ", &format!(", {b_name} "), 1)
        })
        .collect()
}

/// The full story of one case: which engines disagree, code, initial
/// state, all outcomes, the differences (including the data window,
/// fetched again from QEMU and both engines).
fn report(
    case: &Case,
    o: &Outcomes<'_>,
    qemu: &Path,
    elf: &Path,
    runner: &mut Runner,
    jit: Option<&mut JitCases>,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "case seed {:#x} ({} case, QEMU -cpu {}): {}; reproduce: {}\n",
        case.seed,
        case.kind.name(),
        case.kind.qemu_cpu(),
        o.disagreement().unwrap_or("every engine matches QEMU"),
        reproduce_hint(case)
    ));
    s.push_str(&format!(
        "  code (entered at {:#x}):\n{}",
        testgen::TEST_PC,
        case.listing()
    ));
    s.push_str(&format!("  initial state:\n    {}\n", describe_state(&case.init)));
    if !case.patches.is_empty() {
        let p: Vec<String> = case
            .patches
            .iter()
            .map(|(off, v)| format!("[{:#x}]={v:#x}", testgen::DATA_BASE + u64::from(*off)))
            .collect();
        s.push_str(&format!("  window patches: {}\n", p.join(" ")));
    }
    s.push_str(&format!(
        "  qemu:        {} at {:#x}\n  interpreter: {} at {:#x}\n",
        o.qemu.end, o.qemu.pc, o.interp.end, o.interp.pc
    ));
    if let Some(j) = o.jit {
        s.push_str(&format!("  jit:         {} at {:#x}\n", j.end, j.pc));
    }
    let mut sections = vec![(
        "interpreter vs QEMU",
        diff_between("qemu", o.qemu, "interpreter", o.interp),
    )];
    if let Some(j) = o.jit {
        sections.push(("JIT vs QEMU", diff_between("qemu", o.qemu, "jit", j)));
        // Only news when neither engine matches QEMU.
        if !sections[0].1.is_empty() && !sections[1].1.is_empty() {
            sections.push(("JIT vs interpreter", diff_between("interpreter", o.interp, "jit", j)));
        }
    }
    for (title, lines) in &sections {
        if !lines.is_empty() {
            s.push_str(&format!("  {title}:\n"));
            for d in lines {
                s.push_str(&format!("    DIFF {d}\n"));
            }
        }
    }
    let hash_differs = |x: &Outcome| x.window_hash != o.qemu.window_hash;
    if hash_differs(o.interp) || o.jit.is_some_and(hash_differs) {
        match Harness::run_one(qemu, elf, case) {
            Ok(r) => {
                let qw = r.window.expect("dumped window");
                runner.run(case);
                let iw = runner.window();
                let bg = runner.background();
                let jw = jit.map(|j| {
                    j.run(case);
                    j.window().to_vec()
                });
                let word = |m: &[u8], off: usize| u64::from_le_bytes(m[off..off + 8].try_into().unwrap());
                let mut shown = 0;
                for off in (0..qw.len()).step_by(8) {
                    let jit_differs = jw.as_ref().is_some_and(|w| w[off..off + 8] != qw[off..off + 8]);
                    if qw[off..off + 8] != iw[off..off + 8] || jit_differs {
                        let j = jw
                            .as_ref()
                            .map(|w| format!(", jit {:#018x}", word(w, off)))
                            .unwrap_or_default();
                        s.push_str(&format!(
                            "  DIFF memory [{:#x}]: qemu {:#018x}, interpreter {:#018x}{j} (before: {:#018x})\n",
                            testgen::DATA_BASE + off as u64,
                            word(&qw, off),
                            word(iw, off),
                            word(bg, off)
                        ));
                        shown += 1;
                        if shown == 16 {
                            s.push_str("  ... (more memory differences)\n");
                            break;
                        }
                    }
                }
            }
            Err(e) => s.push_str(&format!("  (could not rerun the case for a window dump: {e})\n")),
        }
    }
    s
}

fn print_stats(stats: &GenStats, secs: f64) {
    let mut out = String::new();
    out.push_str(&format!(
        "diff_qemu: {} cases in {secs:.1} s: {} integer, {} FP/SIMD ({} with an FP/SIMD instruction under test)\n",
        stats.cases, stats.int_cases, stats.fp_cases, stats.fp_containing
    ));
    out.push_str("  instructions under test per row (of them SIMD&FP forms), and UNDEFINED encodings:\n");
    for row in ROWS {
        let class = testgen::class_of(row);
        let i = row.op as usize;
        let n = stats.per_row[i];
        match class {
            RowClass::Excluded(why) => out.push_str(&format!("  {:<20} excluded: {why}\n", row.name)),
            _ => {
                let v = if testgen::has_v_form(row) {
                    format!("({:>7})", stats.v_forms[i])
                } else {
                    String::new()
                };
                let u = if stats.undefined[i] > 0 {
                    format!("  undefined {:>6}", stats.undefined[i])
                } else {
                    String::new()
                };
                out.push_str(&format!("  {:<20} {n:>8} {v:<9}{u}\n", row.name));
            }
        }
    }
    out.push_str(&format!("  {:<20} {:>8}\n", "(UDF)", stats.udf));
    out.push_str(&format!("  {:<20} {:>8}\n", "(unallocated SIMD&FP)", stats.unallocated));
    for (k, n) in KNOWN_MISMATCHES.iter().zip(&stats.known_skipped) {
        out.push_str(&format!("  known mismatch, {n} words skipped: {}\n", k.bug));
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
}

/// Runs the cases it is sent on a JIT of its own, in order, sending back
/// each outcome; at the end, its busy time and the JIT's counters.
fn jit_worker(cases: mpsc::Receiver<Case>, outcomes: mpsc::Sender<Outcome>) -> (Duration, jit::Stats) {
    let mut jit = JitCases::new("diff_qemu").expect("a JIT (the main thread started one)");
    let mut busy = Duration::ZERO;
    for case in cases {
        let t = Instant::now();
        let o = jit.run(&case);
        busy += t.elapsed();
        if outcomes.send(o).is_err() {
            break; // the comparison stopped early
        }
    }
    (busy, jit.stats())
}

#[test]
fn every_row_is_reachable() {
    // Each non-excluded row alone must yield instructions under test, and
    // the general load/store rows their SIMD&FP forms too.
    for row in ROWS {
        if matches!(testgen::class_of(row), RowClass::Excluded(_)) {
            continue;
        }
        let mut g = Generator::new(Some(&[row.op]), KNOWN_MISMATCHES);
        let i = row.op as usize;
        let mut n = 0;
        while g.stats.per_row[i] == 0 || (testgen::has_v_form(row) && g.stats.v_forms[i] == 0) {
            g.case(case_seed(0x5eed, n));
            n += 1;
            assert!(
                n < 200,
                "row {} ({}:{}) is never generated: every draw was rejected",
                row.name,
                row.file,
                row.line
            );
        }
    }
}

#[test]
fn engines_match_qemu() {
    let Some(qemu) = qemu() else { return };
    let harness_copy = HarnessCopy::new();
    let elf = harness_copy.0.clone();
    let only = only_rows();
    let mut runner = Runner::new();
    let mut jit = JitCases::new("diff_qemu");

    if let Some(seed) = env_u64("PREBOARD_DIFF_CASE") {
        let mut g = Generator::new(only.as_deref(), KNOWN_MISMATCHES);
        let case = g.case(seed);
        let q = Harness::run_one(&qemu, &elf, &case).expect("run the harness under QEMU");
        let ours = runner.run(&case);
        let on_jit = jit.as_mut().map(|j| j.run(&case));
        let o = Outcomes {
            qemu: &q.outcome,
            interp: &ours,
            jit: on_jit.as_ref(),
        };
        println!("{}", report(&case, &o, &qemu, &elf, &mut runner, jit.as_mut()));
        println!("  final (qemu):\n    {}", describe_state(&q.outcome.state));
        if let Some(why) = o.disagreement() {
            panic!("case {seed:#x}: {why} (above)");
        }
        return;
    }

    let cases = env_u64("PREBOARD_DIFF_CASES").unwrap_or(DEFAULT_CASES);
    let fp_percent = env_u64("PREBOARD_DIFF_FP").unwrap_or(DEFAULT_FP_PERCENT);
    assert!(fp_percent <= 100, "PREBOARD_DIFF_FP={fp_percent} is not a percentage");
    let run_seed = env_u64("PREBOARD_DIFF_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        testgen::case_seed(t, u64::from(std::process::id()))
    });
    println!(
        "diff_qemu: {cases} cases ({fp_percent}% FP/SIMD), PREBOARD_DIFF_SEED={run_seed:#x}, QEMU -cpu {} (integer), {} (FP/SIMD)",
        CaseKind::Int.qemu_cpu(),
        CaseKind::FpSimd.qemu_cpu()
    );
    let start = Instant::now();

    // One harness per kind (per QEMU CPU model), each fed by its own
    // writer thread, so that no pipe can fill up while this thread waits
    // for the other harness.
    let kinds = [CaseKind::Int, CaseKind::FpSimd];
    let mut harnesses: Vec<Harness> = kinds
        .iter()
        .map(|k| {
            Harness::spawn_with_cpu(&qemu, &elf, k.qemu_cpu()).expect("start qemu-aarch64 on the difftest harness")
        })
        .collect();
    let mut to_writer = Vec::new();
    let mut writers = Vec::new();
    for h in &mut harnesses {
        let (wtx, wrx) = mpsc::channel::<Vec<u8>>();
        let input: BufWriter<_> = h.take_input();
        to_writer.push(wtx);
        writers.push(std::thread::spawn(move || {
            let mut input = input;
            while let Ok(buf) = wrx.recv() {
                let mut ok = input.write_all(&buf).is_ok();
                while ok {
                    match wrx.try_recv() {
                        Ok(b) => ok = input.write_all(&b).is_ok(),
                        Err(_) => break,
                    }
                }
                // Flush whenever the queue runs dry: the comparison may be
                // waiting for these cases.
                if !ok || input.flush().is_err() {
                    return;
                }
            }
            let mut q = Vec::new();
            testgen::qemu::encode_quit(&mut q);
            let _ = input.write_all(&q);
            let _ = input.flush();
        }));
    }
    // The JIT runs on worker threads of its own (translating each case's
    // code costs more than interpreting it, in debug builds most of all):
    // case `i` goes to worker `i % n`, which answers in order.
    let mut to_jit = Vec::new();
    let mut from_jit = Vec::new();
    let mut jit_workers = Vec::new();
    if jit.is_some() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        for _ in 0..n {
            let (ctx, crx) = mpsc::channel::<Case>();
            let (otx, orx) = mpsc::channel::<Outcome>();
            to_jit.push(ctx);
            from_jit.push(orx);
            jit_workers.push(std::thread::spawn(move || jit_worker(crx, otx)));
        }
    }
    let (tx, rx) = mpsc::sync_channel::<Case>(256);
    // Generation runs on its own thread, feeding the writers and the JIT
    // workers; this one runs our interpreter and compares, so they all
    // overlap.
    let feeder = std::thread::spawn(move || {
        let mut g = Generator::new(only.as_deref(), KNOWN_MISMATCHES);
        let mut busy = Duration::ZERO;
        for i in 0..cases {
            let t = Instant::now();
            let kind = if is_fp_case(i, fp_percent) {
                CaseKind::FpSimd
            } else {
                CaseKind::Int
            };
            let case = g.case(kind.seed(case_seed(run_seed, i)));
            busy += t.elapsed();
            let mut buf = Vec::new();
            testgen::qemu::encode_case(&case, false, &mut buf);
            let w = kinds.iter().position(|&k| k == case.kind).expect("a harness per kind");
            let to_jit_ok = to_jit.is_empty() || to_jit[i as usize % to_jit.len()].send(case.clone()).is_ok();
            if to_writer[w].send(buf).is_err() || !to_jit_ok || tx.send(case).is_err() {
                break; // the comparison side stopped early
            }
        }
        drop(to_writer);
        drop(to_jit);
        (g.stats, busy)
    });

    let mut mismatches = 0usize;
    let mut compared = 0u64;
    let mut ends: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut waiting, mut interpreting, mut waiting_jit) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for case in rx.iter() {
        let t = Instant::now();
        let harness = &mut harnesses[kinds.iter().position(|&k| k == case.kind).expect("a harness per kind")];
        let q = harness.read_result(false).unwrap_or_else(|e| {
            panic!(
                "the QEMU harness stopped answering at case {compared} ({e}); it may have crashed on:\n{}\n{}",
                case.listing(),
                reproduce_hint(&case)
            )
        });
        let t2 = Instant::now();
        waiting += t2 - t;
        let ours = runner.run(&case);
        let t3 = Instant::now();
        interpreting += t3 - t2;
        let on_jit = (!from_jit.is_empty()).then(|| {
            from_jit[compared as usize % from_jit.len()].recv().unwrap_or_else(|_| {
                panic!(
                    "a JIT worker stopped at case {compared} (it may have crashed on:\n{}\n{})",
                    case.listing(),
                    reproduce_hint(&case)
                )
            })
        });
        waiting_jit += t3.elapsed();
        compared += 1;
        *ends.entry(q.outcome.end.to_string()).or_default() += 1;
        let o = Outcomes {
            qemu: &q.outcome,
            interp: &ours,
            jit: on_jit.as_ref(),
        };
        if o.disagreement().is_some() {
            mismatches += 1;
            println!(
                "diff_qemu: MISMATCH #{mismatches}: {}",
                report(&case, &o, &qemu, &elf, &mut runner, jit.as_mut())
            );
            if mismatches >= MAX_REPORTED {
                println!("diff_qemu: stopping after {MAX_REPORTED} mismatches");
                break;
            }
        }
    }
    drop(rx);
    drop(from_jit); // stops the workers if the comparison stopped early
    if mismatches != 0 {
        harnesses.clear(); // kills QEMU, so the writers' next writes fail and they stop
    }
    let (stats, generating) = feeder.join().expect("generator thread");
    let jit_runs: Vec<(Duration, jit::Stats)> = jit_workers
        .into_iter()
        .map(|w| w.join().expect("JIT worker thread"))
        .collect();
    for w in writers {
        w.join().expect("writer thread");
    }
    for h in harnesses {
        let _ = h.finish();
    }
    print_stats(&stats, start.elapsed().as_secs_f64());
    println!(
        "  time: generating {:.1} s, our interpreter {:.1} s, waiting for QEMU {:.1} s",
        generating.as_secs_f64(),
        interpreting.as_secs_f64(),
        waiting.as_secs_f64()
    );
    if !jit_runs.is_empty() {
        let busy: Duration = jit_runs.iter().map(|r| r.0).sum();
        let sum = |f: fn(&jit::Stats) -> u64| jit_runs.iter().map(|r| f(&r.1)).sum::<u64>();
        println!(
            "  JIT: {:.1} s on {} threads (waited for {:.1} s); {} blocks, {} instructions translated ({} as interpreter calls)",
            busy.as_secs_f64(),
            jit_runs.len(),
            waiting_jit.as_secs_f64(),
            sum(|s| s.blocks),
            sum(|s| s.insns),
            sum(|s| s.interp_insns)
        );
    }
    for (end, n) in &ends {
        println!("  cases ending {end}: {n}");
    }
    assert_eq!(
        mismatches, 0,
        "{mismatches} of {compared} cases differ between our engines and QEMU (run seed {run_seed:#x}; details above)"
    );
    assert_eq!(compared, cases, "not every case was compared");
}
