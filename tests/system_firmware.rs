//! The system-architecture self-tests as guest code: `firmware/prebuilt/
//! exceptions.elf`, `mmu.elf`, `els.elf` (booted at EL3), `timer.elf` (GICv2
//! and GICv3) and `smp.elf` (4 cores, PSCI) print one line per case
//! (`ok <name>`, `FAIL <name>: ...`) and exit with the number of failed
//! cases; smp ends with PSCI SYSTEM_OFF instead when all passed
//! (firmware/<fw>/README.md).
//!
//! On Preboard, under each engine (`--engine interp` and `--engine jit`:
//! the tests `<name>::interp` and `<name>::jit`), every case must pass and
//! the transcript must be QEMU's (`<fw>/qemu-virt.expected`, `-cpu
//! cortex-a57`), except where QEMU 7.2 is known to deviate from the Arm
//! ARM: there the firmware prints
//! `deviation <name>: <why>` under QEMU, and Preboard must print `ok <name>`.
//! Each such case is listed in [`KNOWN_QEMU_DEVIATIONS`]; a deviation not
//! listed there fails the test.
//!
//! QEMU's cortex-a57 has no 16 KiB granule (ID_AA64MMFR0_EL1.TGran16 = 0), so
//! the MMU firmware skips those configurations there; Preboard implements
//! them, and their reference is QEMU's `-cpu max` transcript
//! (`mmu/qemu-virt-max.expected`), whose 4 and 64 KiB lines are the same as
//! cortex-a57's.

mod common;

use common::{read, repo, run_with_timeout, text, tool, Engine, Run};
use std::ffi::OsStr;

/// Cases where QEMU 7.2 is known to differ from the Arm ARM (and Preboard),
/// by firmware and case name (without the MMU configuration prefix).
const KNOWN_QEMU_DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "exceptions",
        "align-device-mmu-off",
        "no alignment fault for unaligned accesses with the MMU off (Device-nGnRnE)",
    ),
    ("exceptions", "sp-align", "no SP alignment checking (SCTLR_EL1.SA)"),
    ("exceptions", "el0-sp-align", "no SP alignment checking (SCTLR_EL1.SA0)"),
    (
        "exceptions",
        "el0-daifset-uma0",
        "Op1 and Op2 swapped in the EC 0x18 ISS of a trapped MSR DAIFSet",
    ),
    ("exceptions", "el0-wfe-ntwe0", "WFE is never trapped (SCTLR_EL1.nTWE)"),
    (
        "mmu",
        "unaligned-device-fault",
        "no alignment fault for unaligned accesses to Device memory",
    ),
    (
        "mmu",
        "dczva-device-fault",
        "DC ZVA zeroes Device memory instead of faulting",
    ),
    (
        "mmu",
        "at-device-ngnrne",
        "PAR_EL1.SH copied from the descriptor for Device memory",
    ),
    (
        "mmu",
        "at-device-ngnre",
        "PAR_EL1.SH copied from the descriptor for Device memory",
    ),
    (
        "mmu",
        "at-normal-nc",
        "PAR_EL1.SH copied from the descriptor for Normal NC memory",
    ),
    // Not Arm ARM deviations but a PSCI/SMCCC implementation choice: QEMU
    // 7.2's PSCI 1.1 has no SMCCC_VERSION (SMCCC 1.0), Preboard's is SMCCC 1.1.
    (
        "smp",
        "psci-features-smccc-version",
        "PSCI_FEATURES(SMCCC_VERSION) is NOT_SUPPORTED (no SMCCC 1.1 in QEMU 7.2)",
    ),
    (
        "smp",
        "smccc-version",
        "SMCCC_VERSION is NOT_SUPPORTED (no SMCCC 1.1 in QEMU 7.2)",
    ),
];

/// The case name of a `deviation` line: its last word before the colon
/// (the MMU firmware puts a configuration such as `4k/39` before it).
fn deviation_case(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("deviation ")?;
    rest.split(':').next()?.split(' ').next_back()
}

/// QEMU's transcript as Preboard must print it: `deviation <name>: ...`
/// becomes `ok <name>` (each must be a known deviation).
fn as_preboard(fw: &str, transcript: &str) -> Vec<String> {
    transcript
        .lines()
        .map(|line| match deviation_case(line) {
            Some(case) => {
                assert!(
                    KNOWN_QEMU_DEVIATIONS.iter().any(|&(f, c, _)| f == fw && c == case),
                    "{fw}: QEMU's transcript has a deviation not in KNOWN_QEMU_DEVIATIONS: {line}"
                );
                let name = line["deviation ".len()..].split(':').next().unwrap();
                format!("ok {name}")
            }
            None => line.to_string(),
        })
        .collect()
}

/// The MMU reference: cortex-a57's transcript with each `skip <config>`
/// line replaced by that configuration's lines from `-cpu max`.
fn mmu_reference(a57: &str, max: &str) -> String {
    let mut out = String::new();
    for line in a57.lines() {
        if let Some(rest) = line.strip_prefix("skip ") {
            let config = rest.split(' ').next().unwrap();
            let lines: Vec<&str> = max.lines().filter(|l| l.split(' ').nth(1) == Some(config)).collect();
            assert!(
                !lines.is_empty(),
                "qemu-virt-max.expected has no lines for {config}, which cortex-a57 skips"
            );
            for l in lines {
                out.push_str(l);
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The reference transcript `firmware/<fw>/qemu-<config>.expected`.
fn reference(fw: &str, config: &str) -> String {
    let qemu = read(&format!("firmware/{fw}/qemu-{config}.expected"));
    if fw == "mmu" {
        mmu_reference(&qemu, &read("firmware/mmu/qemu-virt-max.expected"))
    } else {
        qemu
    }
}

/// Runs `preboard run --engine <engine> <args> --kernel <fw>.elf`, killed
/// after `secs` seconds (a core waiting for an interrupt that never comes
/// would hang the test).
fn run_preboard(engine: Engine, fw: &str, args: &[&str], secs: u64) -> Run {
    let elf = repo(&format!("firmware/prebuilt/{fw}.elf"));
    let mut cmd = common::preboard_command();
    cmd.args(["run", "--max-insns", "200000000"])
        .args(engine.args())
        .args(args)
        .arg("--kernel")
        .arg(&elf);
    run_with_timeout(&mut cmd, None, secs)
}

fn preboard_matches_qemu(engine: Engine, fw: &str) {
    preboard_matches(engine, fw, "virt", &[]);
}

/// Runs `fw` on Preboard under `engine` with `args` and compares its
/// transcript with `firmware/<fw>/qemu-<config>.expected` (deviations
/// turned into `ok`).
fn preboard_matches(engine: Engine, fw: &str, config: &str, args: &[&str]) {
    let Run { code, stdout, stderr } = run_preboard(engine, fw, args, 120);
    assert!(!stderr.contains("panicked"), "{fw} (--engine {engine}): {stderr}");
    let want = as_preboard(fw, &reference(fw, config));
    let got: Vec<&str> = stdout.lines().collect();
    let failed: Vec<&&str> = got.iter().filter(|l| !l.starts_with("ok ")).collect();
    assert_eq!(
        code,
        Some(0),
        "{fw} failed on Preboard (--engine {engine} {args:?}); lines other than `ok`:\n{failed:#?}\nstderr:\n{stderr}"
    );
    let mismatches: Vec<String> = want
        .iter()
        .zip(&got)
        .filter(|(w, g)| w != g)
        .map(|(w, g)| format!("  want: {w}\n  got:  {g}"))
        .collect();
    assert!(
        mismatches.is_empty() && want.len() == got.len(),
        "{fw} (--engine {engine}): Preboard's transcript differs from QEMU's ({} lines wanted, {} got):\n{}",
        want.len(),
        got.len(),
        mismatches.join("\n")
    );
}

fn exceptions_firmware_passes_on_preboard(engine: Engine) {
    preboard_matches_qemu(engine, "exceptions");
}
per_engine!(exceptions_firmware_passes_on_preboard);

fn mmu_firmware_passes_on_preboard(engine: Engine) {
    preboard_matches_qemu(engine, "mmu");
}
per_engine!(mmu_firmware_passes_on_preboard);

/// EL3 down to EL0: entry, return, routing and traps (firmware/els).
fn els_firmware_passes_on_preboard(engine: Engine) {
    preboard_matches(engine, "els", "virt", &["--boot-el", "3"]);
}
per_engine!(els_firmware_passes_on_preboard);

/// Timer interrupts through the GICv2 of the default virt board.
fn timer_firmware_passes_on_preboard_gicv2(engine: Engine) {
    preboard_matches(engine, "timer", "virt", &[]);
}
per_engine!(timer_firmware_passes_on_preboard_gicv2);

/// The same through a GICv3 (QEMU `-M virt,gic-version=3`).
fn timer_firmware_passes_on_preboard_gicv3(engine: Engine) {
    let board = repo("boards/virt-gicv3.ron");
    preboard_matches(engine, "timer", "virt-gicv3", &["--board", board.to_str().unwrap()]);
}
per_engine!(timer_firmware_passes_on_preboard_gicv3);

/// PSCI bring-up of 3 secondaries, then SYSTEM_OFF: exit code 0 and the
/// whole transcript (it ends with the `SYSTEM_OFF` line).
fn smp_firmware_passes_on_preboard(engine: Engine) {
    preboard_matches(engine, "smp", "virt", &["--smp", "4"]);
}
per_engine!(smp_firmware_passes_on_preboard);

fn qemu(fw: &str, cpu: &str) -> String {
    qemu_with(fw, &["-M", "virt", "-cpu", cpu])
}

/// `qemu-system-aarch64 <flags> -nographic -semihosting -kernel <fw>.elf`
/// (the flags of firmware/Makefile's QEMU_<fw>_<config>).
fn qemu_with(fw: &str, flags: &[&str]) -> String {
    let elf = repo(&format!("firmware/prebuilt/{fw}.elf"));
    let out = common::qemu(30, flags, [OsStr::new("-kernel"), elf.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{fw} on QEMU {flags:?}:\n{stdout}\nstderr: {}",
        text(&out.stderr)
    );
    stdout
}

/// The new firmwares' QEMU runs: firmware, config, QEMU flags.
const QEMU_RUNS: &[(&str, &str, &[&str])] = &[
    (
        "els",
        "virt",
        &["-M", "virt,secure=on,virtualization=on", "-cpu", "cortex-a57"],
    ),
    ("timer", "virt", &["-M", "virt", "-cpu", "cortex-a57"]),
    (
        "timer",
        "virt-gicv3",
        &["-M", "virt,gic-version=3", "-cpu", "cortex-a57"],
    ),
    ("smp", "virt", &["-M", "virt", "-cpu", "cortex-a57", "-smp", "4"]),
];

/// The committed transcripts are QEMU's, and every deviation in them is
/// a known one.
#[test]
fn transcripts_are_qemus() {
    if !tool("qemu-system-aarch64") {
        return;
    }
    for fw in ["exceptions", "mmu"] {
        let expected = read(&format!("firmware/{fw}/qemu-virt.expected"));
        assert_eq!(qemu(fw, "cortex-a57"), expected, "{fw}: QEMU's transcript changed");
        as_preboard(fw, &expected);
    }
    for &(fw, config, flags) in QEMU_RUNS {
        let expected = read(&format!("firmware/{fw}/qemu-{config}.expected"));
        assert_eq!(
            qemu_with(fw, flags),
            expected,
            "{fw}: QEMU's {config} transcript changed"
        );
        as_preboard(fw, &expected);
    }
    let max = read("firmware/mmu/qemu-virt-max.expected");
    assert_eq!(qemu("mmu", "max"), max, "mmu: QEMU's -cpu max transcript changed");
    as_preboard("mmu", &max);
    // Outside the configurations cortex-a57 skips, the two CPUs agree, so
    // -cpu max is a fair reference for the skipped ones.
    let a57 = read("firmware/mmu/qemu-virt.expected");
    let skipped: Vec<&str> = a57
        .lines()
        .filter_map(|l| l.strip_prefix("skip ")?.split(' ').next())
        .collect();
    let kept = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("skip ") && !skipped.iter().any(|c| l.split(' ').nth(1) == Some(*c)))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(kept(&max), kept(&a57), "mmu: -cpu max and cortex-a57 disagree");
}

#[test]
fn reference_merging() {
    let a57 = "Preboard MMU firmware\nok 4k/39 a\nskip 16k/39 (granule not implemented)\nok 64k/39 a\ndone: 0 failed\n";
    let max = "Preboard MMU firmware\nok 4k/39 a\nok 16k/39 a\ndeviation 16k/39 at-normal-nc: why\nok 64k/39 a\n";
    let r = mmu_reference(a57, max);
    assert_eq!(
        as_preboard("mmu", &r),
        [
            "Preboard MMU firmware",
            "ok 4k/39 a",
            "ok 16k/39 a",
            "ok 16k/39 at-normal-nc",
            "ok 64k/39 a",
            "done: 0 failed"
        ]
    );
    assert_eq!(deviation_case("deviation sp-align: x"), Some("sp-align"));
}
