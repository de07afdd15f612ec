//! Differential test of the interpreter against an outside reference
//! (issue 3): random instruction sequences drawn from the encoding table
//! run on our interpreter and in QEMU user mode (`qemu-aarch64` running
//! `firmware/prebuilt/difftest.elf`); X0-X30, SP, NZCV, TPIDR_EL0, the data
//! window and the way each case ends must all agree. How the harness works
//! and what it cannot compare: firmware/README.md, "difftest".
//!
//! Environment:
//! - `PREBOARD_DIFF_CASES=N`: cases per run (default 20000; e.g. 1000000
//!   for a long run).
//! - `PREBOARD_DIFF_SEED=S`: the run's seed (default: fresh each run,
//!   printed). Case `i` has seed `case_seed(S, i)`.
//! - `PREBOARD_DIFF_CASE=S`: run only the case with seed `S` (as printed on
//!   a mismatch) and show it in full.
//! - `PREBOARD_DIFF_ROWS=NAME,...`: only these table rows (changes which
//!   case a seed gives; the mismatch report repeats it).
//! - `PREBOARD_REQUIRE_TOOLS=1`: a missing `qemu-aarch64` fails the test
//!   instead of skipping it.

use cpu_aarch64::isa::{Op, ROWS};
use cpu_aarch64::testgen::{
    self, case_seed, qemu::Harness, Case, GenStats, Generator, KnownMismatch, Outcome, RowClass, Runner,
};
use std::io::Write as _;
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
        "sp={:#018x}  nzcv={:#x}  tpidr_el0={:#018x}",
        s.sp, s.nzcv, s.tpidr
    ));
    out
}

/// The full story of one case: code, initial state, both outcomes, the
/// differences (including the data window, fetched again from QEMU).
fn report(case: &Case, q: &Outcome, ours: &Outcome, qemu: &Path, elf: &Path, runner: &mut Runner) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "case seed {:#x}; reproduce: {}\n",
        case.seed,
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
        "diff_qemu: {} cases in {secs:.1} s; instructions under test per row:\n",
        stats.cases
    ));
    for row in ROWS {
        let class = testgen::class_of(row);
        let n = stats.per_row[row.op as usize];
        match class {
            RowClass::Excluded(why) => out.push_str(&format!("  {:<14} excluded: {why}\n", row.name)),
            _ => out.push_str(&format!("  {:<14} {n:>8}\n", row.name)),
        }
    }
    out.push_str(&format!("  {:<14} {:>8}\n", "(UDF)", stats.udf));
    for (k, n) in KNOWN_MISMATCHES.iter().zip(&stats.known_skipped) {
        out.push_str(&format!("  known mismatch, {n} words skipped: {}\n", k.bug));
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
}

#[test]
fn every_integer_row_is_reachable() {
    // Each non-excluded row alone must yield instructions under test.
    for row in ROWS {
        if matches!(testgen::class_of(row), RowClass::Excluded(_)) {
            continue;
        }
        let mut g = Generator::new(Some(&[row.op]), KNOWN_MISMATCHES);
        let mut i = 0;
        while g.stats.per_row[row.op as usize] == 0 {
            g.case(case_seed(0x5eed, i));
            i += 1;
            assert!(
                i < 200,
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

    let cases = env_u64("PREBOARD_DIFF_CASES").unwrap_or(20_000);
    let run_seed = env_u64("PREBOARD_DIFF_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        testgen::case_seed(t, u64::from(std::process::id()))
    });
    println!(
        "diff_qemu: {cases} cases, PREBOARD_DIFF_SEED={run_seed:#x}, QEMU -cpu {}",
        testgen::qemu::QEMU_CPU
    );
    let start = Instant::now();

    let mut harness = Harness::spawn(&qemu, &elf).expect("start qemu-aarch64 on the difftest harness");
    let mut input = harness.take_input();
    let (tx, rx) = mpsc::sync_channel::<Case>(256);
    // Generation and feeding QEMU run on their own thread; this one runs our
    // interpreter and compares, so the three overlap.
    let feeder = std::thread::spawn(move || {
        let mut g = Generator::new(only.as_deref(), KNOWN_MISMATCHES);
        let mut buf = Vec::new();
        let mut busy = std::time::Duration::ZERO;
        for i in 0..cases {
            let t = Instant::now();
            let case = g.case(case_seed(run_seed, i));
            busy += t.elapsed();
            buf.clear();
            testgen::qemu::encode_case(&case, false, &mut buf);
            if input.write_all(&buf).is_err() || tx.send(case).is_err() {
                break; // the comparison side stopped early
            }
        }
        let mut q = Vec::new();
        testgen::qemu::encode_quit(&mut q);
        let _ = input.write_all(&q);
        let _ = input.flush();
        (g.stats, busy)
    });

    let mut mismatches = 0usize;
    let mut compared = 0u64;
    let mut ends: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut waiting, mut interpreting) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for case in rx.iter() {
        let t = Instant::now();
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
    if mismatches == 0 {
        let _ = harness.finish();
    } else {
        drop(harness); // kills QEMU, so the feeder's next write fails and it stops
    }
    let (stats, generating) = feeder.join().expect("generator thread");
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
