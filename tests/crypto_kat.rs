//! The crypto-extension known-answer tests as guest code:
//! `firmware/prebuilt/crypto-kat.elf` (AES, SHA-1, SHA-256, PMULL and an
//! AES-GCM vector through the ACLE intrinsics) must print exactly what it
//! prints under QEMU (`firmware/crypto-kat/qemu-virt.expected`) and exit 0,
//! under both engines.

mod common;

use common::{read, repo, text, tool, Engine};

fn expected() -> String {
    read("firmware/crypto-kat/qemu-virt.expected")
}

const ELF: &str = "firmware/prebuilt/crypto-kat.elf";

fn crypto_kat_firmware_passes_on_preboard(engine: Engine) {
    let out = common::preboard_command()
        .args(["run", "--max-insns", "50000000", "--kernel"])
        .arg(repo(ELF))
        .args(engine.args())
        .output()
        .expect("run preboard");
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "--engine {engine}\nstdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert_eq!(stdout, expected(), "--engine {engine}");
}
per_engine!(crypto_kat_firmware_passes_on_preboard);

/// The transcript is QEMU's (skipped when QEMU is not installed, unless
/// `PREBOARD_REQUIRE_TOOLS` is set, as in CI).
#[test]
fn crypto_kat_transcript_is_qemus() {
    if !tool("qemu-system-aarch64") {
        return;
    }
    let out = common::qemu(
        20,
        &["-M", "virt", "-cpu", "cortex-a57"],
        ["-kernel".as_ref(), repo(ELF).as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "qemu: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected(), "QEMU's transcript changed");
}
