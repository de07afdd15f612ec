//! Machine snapshots through the `preboard` binary: run bundled firmware
//! part-way and save (`--max-insns N --snapshot-save`), then go on in a
//! fresh process (`--snapshot-load`); the two outputs together must be
//! what an uninterrupted run prints (for the timer firmware: QEMU's own
//! transcript). Each runs under both engines; after a restore the JIT
//! starts with an empty code cache. Also: the errors for a snapshot that
//! does not fit, is damaged or is missing.

mod common;

use common::{read, repo, run_with_timeout, Engine, Run, TempDir};
use std::path::Path;

/// `preboard run --engine <engine> <args>` (killed after 120 s).
fn run(engine: Engine, args: &[&str]) -> Run {
    let mut cmd = common::preboard_command();
    cmd.arg("run").args(engine.args()).args(args);
    run_with_timeout(&mut cmd, None, 120)
}

/// Runs `elf` on `board` for `at` instructions and saves; restores in a
/// new process and runs to the end; returns the two outputs.
fn split_run(engine: Engine, dir: &TempDir, board: &[&str], elf: &str, at: u64) -> (String, String) {
    let snap = dir.path("machine.snap");
    let snap = snap.to_str().unwrap();
    let elf = repo(&format!("firmware/prebuilt/{elf}"));
    let at = at.to_string();
    let mut args = board.to_vec();
    args.extend([
        "--kernel",
        elf.to_str().unwrap(),
        "--max-insns",
        &at,
        "--snapshot-save",
        snap,
    ]);
    let first = run(engine, &args);
    assert_eq!(first.code, Some(124), "first half: {}{}", first.stdout, first.stderr);
    let mut args = board.to_vec();
    args.extend(["--snapshot-load", snap]);
    let second = run(engine, &args);
    assert_eq!(second.code, Some(0), "second half: {}{}", second.stdout, second.stderr);
    (first.stdout, second.stdout)
}

/// The halves are a real split (each printed something) and add up to
/// `expected`.
fn assert_joins(first: &str, second: &str, expected: &str) {
    assert!(
        !first.is_empty() && !second.is_empty(),
        "save point not inside the output:\n--- before\n{first}--- after\n{second}"
    );
    assert_eq!(
        format!("{first}{second}"),
        expected,
        "\n--- before\n{first}--- after\n{second}"
    );
}

/// Timer interrupts through the GICv2: the generic timer's registers, the
/// counter and the GIC's pending/active state cross the snapshot.
fn timer_gicv2_continues_after_restore(engine: Engine) {
    let dir = TempDir::new(&format!("timer-v2-{engine}"));
    let (a, b) = split_run(engine, &dir, &[], "timer.elf", 30_000);
    assert_joins(&a, &b, &read("firmware/timer/qemu-virt.expected"));
}
per_engine!(timer_gicv2_continues_after_restore);

/// The same on GICv3 (redistributors and the ICC_* system registers).
fn timer_gicv3_continues_after_restore(engine: Engine) {
    let dir = TempDir::new(&format!("timer-v3-{engine}"));
    let (a, b) = split_run(engine, &dir, &["--board", "virt-gicv3"], "timer.elf", 30_000);
    assert_joins(&a, &b, &read("firmware/timer/qemu-virt-gicv3.expected"));
}
per_engine!(timer_gicv3_continues_after_restore);

/// Four cores (PSCI power states, spinlocks on exclusives), saved twice:
/// a restored machine saves and restores again.
fn smp_continues_across_two_snapshots(engine: Engine) {
    let dir = TempDir::new(&format!("smp-{engine}"));
    let elf = repo("firmware/prebuilt/smp.elf");
    let whole = run(engine, &["--smp", "4", "--kernel", elf.to_str().unwrap()]);
    assert_eq!(whole.code, Some(0), "{}{}", whole.stdout, whole.stderr);

    let (a, rest) = split_run(engine, &dir, &["--smp", "4"], "smp.elf", 40_000);
    assert_joins(&a, &rest, &whole.stdout);

    // Again from the first snapshot, stopping and saving once more.
    let one = dir.path("machine.snap");
    let two = dir.path("second.snap");
    let (one, two) = (one.to_str().unwrap(), two.to_str().unwrap());
    let mid = run(
        engine,
        &[
            "--smp",
            "4",
            "--snapshot-load",
            one,
            "--max-insns",
            "60000",
            "--snapshot-save",
            two,
        ],
    );
    assert_eq!(mid.code, Some(124), "{}{}", mid.stdout, mid.stderr);
    let end = run(engine, &["--smp", "4", "--snapshot-load", two]);
    assert_eq!(end.code, Some(0), "{}{}", end.stdout, end.stderr);
    assert_joins(&format!("{a}{}", mid.stdout), &end.stdout, &whole.stdout);
}
per_engine!(smp_continues_across_two_snapshots);

fn saved_hello(dir: &TempDir) -> String {
    let snap = dir.path("hello.snap");
    let elf = repo("firmware/prebuilt/hello.elf");
    let out = run(
        Engine::Interp,
        &[
            "--kernel",
            elf.to_str().unwrap(),
            "--max-insns",
            "20000",
            "--snapshot-save",
            snap.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(124), "{}", out.stderr);
    snap.to_str().unwrap().to_string()
}

#[test]
fn a_snapshot_that_does_not_fit_is_refused_with_its_name() {
    let dir = TempDir::new("refused");
    let snap = saved_hello(&dir);
    // Another core count.
    let out = run(Engine::Interp, &["--smp", "2", "--snapshot-load", &snap]);
    assert_eq!(out.code, Some(65), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "snapshot {snap}: taken on a machine with core count 1, but this one has 2"
        )),
        "{}",
        out.stderr
    );
    // Damaged: one bit flipped in the first section.
    let mut bytes = std::fs::read(&snap).unwrap();
    bytes[100] ^= 4;
    let bad = dir.path("bad.snap");
    std::fs::write(&bad, &bytes).unwrap();
    let out = run(Engine::Interp, &["--snapshot-load", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(65), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("snapshot {}: ", bad.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("checksum mismatch"), "{}", out.stderr);
    // Truncated.
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).unwrap();
    let out = run(Engine::Interp, &["--snapshot-load", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(65), "{}", out.stderr);
    assert!(out.stderr.contains("truncated?"), "{}", out.stderr);
    // Missing.
    let missing = dir.path("missing.snap");
    let out = run(Engine::Interp, &["--snapshot-load", missing.to_str().unwrap()]);
    assert_eq!(out.code, Some(66), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("snapshot {}: opening", missing.display())),
        "{}",
        out.stderr
    );
    // Images and a snapshot are two ways to start: not both.
    let out = run(
        Engine::Interp,
        &[
            "--snapshot-load",
            &snap,
            "--kernel",
            &repo("firmware/prebuilt/hello.elf").display().to_string(),
        ],
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(Path::new(&snap).exists());
}

/// The output of `ticks.elf` (two cores, timer-interrupt heavy) in
/// deterministic time when the machine stops after `at` instructions and
/// simply runs on in the same process: the reference for a split run.
fn ticks_split_in_process(engine: Engine, at: u64) -> String {
    use boards::machine::{Engine as MachineEngine, Machine, MachineConfig, RunOutcome};
    use soc::chardev::{Capture, CharBackend};
    let uart = Capture::new();
    let mut board = boards::resolve_board("virt").unwrap();
    board.set_cpu_count(2).unwrap();
    let bytes = std::fs::read(repo("firmware/prebuilt/ticks.elf")).unwrap();
    let cfg = MachineConfig {
        serial: vec![Box::new(uart.clone()) as Box<dyn CharBackend>],
        ..MachineConfig::headless(board, "ticks.elf", bytes)
    };
    let mut m = Machine::with_time(cfg, boards::time::TimeMode::deterministic()).unwrap();
    m.set_engine(match engine {
        Engine::Interp => MachineEngine::Interp,
        Engine::Jit => MachineEngine::Jit(Box::new(jit::Jit::new(jit::JitConfig::default()).unwrap())),
    });
    assert_eq!(m.run(Some(at)).unwrap(), RunOutcome::InstructionLimit);
    assert!(matches!(
        m.run(None).unwrap(),
        RunOutcome::Exited(0) | RunOutcome::PoweredOff
    ));
    String::from_utf8(uart.output()).unwrap()
}

/// Deterministic time makes the snapshot's completeness visible: stopped
/// at an instruction count, saved and restored in a fresh process, the
/// machine prints byte for byte what it prints when it just goes on in
/// the same process: every tick's virtual timestamp, lateness, PC,
/// instruction count and running hash. (Stopping at a limit itself moves
/// the cores' round-robin turns, so both sides stop at the same count.)
fn deterministic_ticks_continue_exactly(engine: Engine) {
    let dir = TempDir::new(&format!("ticks-{engine}"));
    let snap = dir.path("ticks.snap");
    let snap = snap.to_str().unwrap();
    let elf = repo("firmware/prebuilt/ticks.elf");
    let at = 700_000u64;
    let first = run(
        engine,
        &[
            "--deterministic",
            "--smp",
            "2",
            "--kernel",
            elf.to_str().unwrap(),
            "--max-insns",
            &at.to_string(),
            "--snapshot-save",
            snap,
        ],
    );
    assert_eq!(first.code, Some(124), "{}", first.stderr);
    let second = run(engine, &["--deterministic", "--smp", "2", "--snapshot-load", snap]);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let expected = ticks_split_in_process(engine, at);
    assert!(expected.contains("core 1: ticks 124"), "{expected}");
    assert_joins(&first.stdout, &second.stdout, &expected);
}
per_engine!(deterministic_ticks_continue_exactly);
