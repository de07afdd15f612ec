//! Differential test of the interpreter against an outside reference
//! (issues 3 and 4): random instruction sequences drawn from the encoding
//! table run on our interpreter and in QEMU user mode (`qemu-aarch64`
//! running `firmware/prebuilt/difftest.elf`); X0-X30, SP, NZCV, TPIDR_EL0,
//! V0-V31, FPCR, FPSR, the data window and the way each case ends must all
//! agree. Integer cases run under `-cpu cortex-a76`, FP/SIMD cases (FP,
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

use cpu_aarch64::isa::{Op, ROWS};
use cpu_aarch64::testgen::{
    self, case_seed, qemu::Harness, Case, CaseKind, GenStats, Generator, KnownMismatch, Outcome, RowClass, Runner,
};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Instant;

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
        "{rows}PREBOARD_DIFF_CASE={:#x} cargo test --test diff_qemu interpreter_matches_qemu -- --nocapture",
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

/// The full story of one case: code, initial state, both outcomes, the
/// differences (including the data window, fetched again from QEMU).
fn report(case: &Case, q: &Outcome, ours: &Outcome, qemu: &Path, elf: &Path, runner: &mut Runner) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "case seed {:#x} ({} case, QEMU -cpu {}); reproduce: {}\n",
        case.seed,
        case.kind.name(),
        case.kind.qemu_cpu(),
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
        "  qemu: {} at {:#x}\n  ours: {} at {:#x}\n",
        q.end, q.pc, ours.end, ours.pc
    ));
    for d in q.diff(ours) {
        s.push_str(&format!("  DIFF {d}\n"));
    }
    if q.window_hash != ours.window_hash {
        match Harness::run_one(qemu, elf, case) {
            Ok(r) => {
                let qw = r.window.expect("dumped window");
                runner.run(case);
                let ow = runner.window();
                let bg = runner.background();
                let mut shown = 0;
                for off in (0..qw.len()).step_by(8) {
                    let word = |m: &[u8]| u64::from_le_bytes(m[off..off + 8].try_into().unwrap());
                    if qw[off..off + 8] != ow[off..off + 8] {
                        s.push_str(&format!(
                            "  DIFF memory [{:#x}]: qemu {:#018x}, ours {:#018x} (before: {:#018x})\n",
                            testgen::DATA_BASE + off as u64,
                            word(&qw),
                            word(ow),
                            word(bg)
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
fn interpreter_matches_qemu() {
    let Some(qemu) = qemu() else { return };
    let harness_copy = HarnessCopy::new();
    let elf = harness_copy.0.clone();
    let only = only_rows();
    let mut runner = Runner::new();

    if let Some(seed) = env_u64("PREBOARD_DIFF_CASE") {
        let mut g = Generator::new(only.as_deref(), KNOWN_MISMATCHES);
        let case = g.case(seed);
        let q = Harness::run_one(&qemu, &elf, &case).expect("run the harness under QEMU");
        let ours = runner.run(&case);
        println!("{}", report(&case, &q.outcome, &ours, &qemu, &elf, &mut runner));
        println!("  final (qemu):\n    {}", describe_state(&q.outcome.state));
        assert!(q.outcome.diff(&ours).is_empty(), "case {seed:#x} differs (above)");
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
    let (tx, rx) = mpsc::sync_channel::<Case>(256);
    // Generation runs on its own thread, feeding the writers; this one runs
    // our interpreter and compares, so they all overlap.
    let feeder = std::thread::spawn(move || {
        let mut g = Generator::new(only.as_deref(), KNOWN_MISMATCHES);
        let mut busy = std::time::Duration::ZERO;
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
            if to_writer[w].send(buf).is_err() || tx.send(case).is_err() {
                break; // the comparison side stopped early
            }
        }
        drop(to_writer);
        (g.stats, busy)
    });

    let mut mismatches = 0usize;
    let mut compared = 0u64;
    let mut ends: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut waiting, mut interpreting) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
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
        interpreting += t2.elapsed();
        compared += 1;
        *ends.entry(q.outcome.end.to_string()).or_default() += 1;
        if !q.outcome.diff(&ours).is_empty() {
            mismatches += 1;
            println!(
                "diff_qemu: MISMATCH #{mismatches}: {}",
                report(&case, &q.outcome, &ours, &qemu, &elf, &mut runner)
            );
            if mismatches >= MAX_REPORTED {
                println!("diff_qemu: stopping after {MAX_REPORTED} mismatches");
                break;
            }
        }
    }
    drop(rx);
    if mismatches != 0 {
        harnesses.clear(); // kills QEMU, so the writers' next writes fail and they stop
    }
    let (stats, generating) = feeder.join().expect("generator thread");
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
    for (end, n) in &ends {
        println!("  cases ending {end}: {n}");
    }
    assert_eq!(
        mismatches, 0,
        "{mismatches} of {compared} cases differ between our interpreter and QEMU (run seed {run_seed:#x}; details above)"
    );
    assert_eq!(compared, cases, "not every case was compared");
}
