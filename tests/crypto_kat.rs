//! The crypto-extension known-answer tests as guest code:
//! `firmware/prebuilt/crypto-kat.elf` (AES, SHA-1, SHA-256, PMULL and an
//! AES-GCM vector through the ACLE intrinsics) must print exactly what it
//! prints under QEMU (`firmware/crypto-kat/qemu-virt.expected`) and exit 0.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\r', "")
}

fn expected() -> String {
    std::fs::read_to_string(repo("firmware/crypto-kat/qemu-virt.expected")).unwrap()
}

const ELF: &str = "firmware/prebuilt/crypto-kat.elf";

#[test]
fn crypto_kat_firmware_passes_on_preboard() {
    let out = Command::new(env!("CARGO_BIN_EXE_preboard"))
        .args(["run", "--max-insns", "50000000", "--kernel"])
        .arg(repo(ELF))
        .output()
        .expect("run preboard");
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert_eq!(stdout, expected());
}

/// The transcript is QEMU's (skipped when QEMU is not installed, unless
/// `PREBOARD_REQUIRE_TOOLS` is set, as in CI).
#[test]
fn crypto_kat_transcript_is_qemus() {
    if Command::new("qemu-system-aarch64").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("PREBOARD_REQUIRE_TOOLS").is_none(),
            "qemu-system-aarch64 is required (PREBOARD_REQUIRE_TOOLS is set) but not installed"
        );
        eprintln!("NOTICE: qemu-system-aarch64 not found; skipping this check (CI installs it)");
        return;
    }
    let out = Command::new("timeout")
        .args([
            "20",
            "qemu-system-aarch64",
            "-M",
            "virt",
            "-cpu",
            "cortex-a57",
            "-nographic",
            "-semihosting",
            "-kernel",
        ])
        .arg(repo(ELF))
        .output()
        .expect("run qemu");
    assert_eq!(out.status.code(), Some(0), "qemu: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected(), "QEMU's transcript changed");
}
