//! The floating-point/SIMD benchmark firmware (`firmware/bench-fp`) under
//! the JIT: it must print exactly QEMU's transcript (recorded with
//! `-M virt -cpu cortex-a57`) and exit 0, i.e. every kernel's checksum of
//! FP results and FPSR flags equals QEMU's, bit for bit.
//!
//! The full image (~150 million instructions) takes about 10 s under the
//! JIT of a release build but minutes in a debug build, so debug builds run
//! `bench-fp-quick` (the same kernels with about an eighth of the work, its
//! own checksums; ~10 s in a debug build) and skip the full one. The
//! interpreter runs it in `benches/compare.sh` (about 20 s in release).

mod common;

use std::ffi::OsStr;

use common::{qemu, read, repo, run_with_timeout, text, tool, Engine};

/// (image, QEMU's transcript of it)
const FULL: (&str, &str) = ("firmware/prebuilt/bench-fp.elf", "firmware/bench-fp/qemu-virt.expected");
const QUICK: (&str, &str) = (
    "firmware/prebuilt/bench-fp-quick.elf",
    "firmware/bench-fp/quick-qemu-virt.expected",
);

/// Transcript lines that differ from the guest's output, for a readable panic.
fn differing_lines(got: &str, want: &str) -> String {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    (0..g.len().max(w.len()))
        .filter(|&i| g.get(i) != w.get(i))
        .map(|i| format!("  line {}: QEMU {:?}\n          got  {:?}\n", i + 1, w.get(i), g.get(i)))
        .collect()
}

/// Runs `elf` under `engine` and requires exit 0 and exactly `expected`.
fn prints_qemus_transcript(engine: Engine, (elf, expected): (&str, &str), secs: u64) {
    let mut cmd = common::preboard_command();
    cmd.arg("run")
        .args(engine.args())
        .args(["--max-insns", "1000000000", "--kernel"])
        .arg(repo(elf));
    let run = run_with_timeout(&mut cmd, None, secs);
    let want = read(expected);
    assert!(
        run.stdout == want && run.code == Some(0),
        "{elf} under the {engine} (exit code {:?}) differs from {expected}:\n{}stdout:\n{}\nstderr:\n{}",
        run.code,
        differing_lines(&run.stdout, &want),
        run.stdout,
        run.stderr
    );
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "no JIT backend for this host")]
fn bench_fp_quick_prints_qemus_checksums_under_the_jit() {
    prints_qemus_transcript(Engine::Jit, QUICK, 120);
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "no JIT backend for this host")]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes in a debug build: cargo test --release --test bench_fp"
)]
fn bench_fp_prints_qemus_checksums_under_the_jit() {
    prints_qemus_transcript(Engine::Jit, FULL, 120);
}

/// The transcripts are QEMU's: the prebuilt images still print them there
/// (skipped without qemu-system-aarch64, unless CI requires the tool).
#[test]
fn bench_fp_transcripts_are_qemus() {
    if !tool("qemu-system-aarch64") {
        return;
    }
    for (elf, expected) in [FULL, QUICK] {
        let out = qemu(
            60,
            &["-M", "virt", "-cpu", "cortex-a57"],
            [OsStr::new("-kernel"), repo(elf).as_os_str()],
        );
        assert_eq!(out.status.code(), Some(0), "QEMU on {elf}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            read(expected),
            "QEMU's output of {elf} is not {expected}"
        );
    }
}
