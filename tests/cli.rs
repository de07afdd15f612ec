//! End-to-end tests of the `preboard` binary: the bundled demo, the device
//! tree commands, and clear errors (with exit codes) for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn preboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_preboard"))
        .args(args)
        .output()
        .expect("run preboard")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An outside tool: tests that need it skip with a notice when it is
/// missing, unless `PREBOARD_REQUIRE_TOOLS=1` (set by CI) makes that a
/// failure.
fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("PREBOARD_REQUIRE_TOOLS").is_none(),
            "{name} is required (PREBOARD_REQUIRE_TOOLS is set) but not installed"
        );
        eprintln!("NOTICE: {name} not found; skipping this check (CI installs it)");
    }
    found
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("preboard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn demo_prints_banner_model_and_memory_then_exits_0() {
    let out = preboard(&["run"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    let expected = [
        "Preboard hello firmware",
        "CurrentEL: EL1",
        "MPIDR_EL1: 0x80000000",
        "dtb: 0x40000000 (from x0)",
        "model: Preboard virt",
        "memory: base 0x40000000 size 0x8000000 (128 MiB)",
        "total memory: 128 MiB",
        "bye",
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn memory_and_smp_options_reach_the_guest() {
    let out = preboard(&["run", "-m", "1G", "--smp", "4"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("memory: base 0x40000000 size 0x40000000 (1024 MiB)"),
        "{stdout}"
    );
    let dts = text(&preboard(&["board", "dts", "--smp", "4"]).stdout);
    assert_eq!(dts.matches("device_type = \"cpu\"").count(), 4, "{dts}");
}

/// The bundled firmware is also correct on the outside reference: QEMU's
/// `virt` prints the same lines (the DTB comes from QEMU there, so only the
/// model and the way the DTB was found differ).
#[test]
fn demo_firmware_agrees_with_qemu() {
    if !tool("qemu-system-aarch64") {
        return;
    }
    let expected = std::fs::read_to_string(repo("firmware/hello/qemu-virt.expected")).unwrap();
    let elf = repo("firmware/prebuilt/hello.elf");
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
        .arg(&elf)
        .output()
        .expect("run qemu");
    assert_eq!(out.status.code(), Some(0), "qemu: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).replace('\r', ""),
        expected,
        "QEMU's transcript changed"
    );
    let ours = text(&preboard(&["run", "--kernel", elf.to_str().unwrap()]).stdout);
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("dtb:") && !l.starts_with("model:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(strip(&ours), strip(&expected));
}

#[test]
fn board_dts_compiles_with_dtc_and_matches_the_dumped_blob() {
    let blob = scratch("virt.dtb");
    let out = preboard(&["board", "dts", "virt", "--dump-dtb", blob.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dts = text(&out.stdout);
    assert!(dts.starts_with("/dts-v1/;"), "{dts}");
    if !tool("dtc") {
        return;
    }
    let src = scratch("virt.dts");
    std::fs::write(&src, &dts).unwrap();
    let compiled = scratch("virt-dtc.dtb");
    let st = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(&compiled)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let decompile = |p: &Path| {
        let o = Command::new("dtc")
            .args(["-q", "-I", "dtb", "-O", "dts"])
            .arg(p)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    assert_eq!(decompile(&compiled), decompile(&blob), "dtc's blob and ours differ");
}

#[test]
fn run_dump_dtb_writes_what_the_guest_received() {
    let blob = scratch("run.dtb");
    let out = preboard(&[
        "run",
        "--append",
        "console=ttyAMA0 quiet",
        "--dump-dtb",
        blob.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let bytes = std::fs::read(&blob).unwrap();
    assert_eq!(&bytes[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
    let s = text(&bytes);
    assert!(s.contains("console=ttyAMA0 quiet"), "bootargs missing from the blob");
}

fn expect_error(args: &[&str], code: i32, needles: &[&str]) {
    let out = preboard(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "args {args:?}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "expected `{n}` in:\n{stderr}");
    }
    assert_eq!(stderr.lines().count(), 1, "one clear error line expected:\n{stderr}");
}

#[test]
fn malformed_boards_give_file_line_col_errors() {
    let good = std::fs::read_to_string(repo("boards/virt.ron")).unwrap();
    let cases = [
        (
            "missing-field.ron",
            good.replacen("model: \"Preboard virt\",", "", 1),
            "missing-field.ron:",
        ),
        (
            "unknown-kind.ron",
            good.replacen("Pl011(name", "Pl099(name", 1),
            "unknown-kind.ron:",
        ),
        (
            "overlap.ron",
            good.replacen("base: 0x0900_0000", "base: 0x4000_0000", 1),
            "overlap.ron:",
        ),
        (
            "misaligned.ron",
            good.replacen("base: 0x0900_0000", "base: 0x0900_0004", 1),
            "misaligned.ron:",
        ),
    ];
    for (name, src, needle) in cases {
        assert_ne!(src, good, "{name}: the edit did not apply");
        let path = scratch(name);
        std::fs::write(&path, src).unwrap();
        let p = path.to_str().unwrap();
        expect_error(&["run", "--board", p], 65, &[needle]);
        // The position is a real line:col.
        let out = text(&preboard(&["board", "dts", p]).stderr);
        let after = out.split(needle).nth(1).unwrap_or_default();
        let mut it = after.split(':');
        let line: usize = it.next().unwrap_or_default().parse().unwrap_or(0);
        let col: usize = it.next().unwrap_or_default().parse().unwrap_or(0);
        assert!(line > 0 && col > 0, "{name}: no line:col in {out}");
    }
}

#[test]
fn garbage_and_truncated_elves_are_clear_errors() {
    let elf = std::fs::read(repo("firmware/prebuilt/hello.elf")).unwrap();
    let truncated = scratch("truncated.elf");
    std::fs::write(&truncated, &elf[..100]).unwrap();
    expect_error(
        &["run", "--kernel", truncated.to_str().unwrap()],
        65,
        &["truncated.elf"],
    );
    let mut garbage = elf.clone();
    for b in garbage[0x20..0x40].iter_mut() {
        *b = 0xff; // program/section header offsets point nowhere
    }
    let g = scratch("garbage.elf");
    std::fs::write(&g, &garbage).unwrap();
    expect_error(&["run", "--kernel", g.to_str().unwrap()], 65, &["garbage.elf"]);
    expect_error(
        &["run", "--kernel", "/nonexistent/kernel"],
        66,
        &["/nonexistent/kernel"],
    );
}

#[test]
fn a_guest_stuck_in_an_exception_loop_is_reported_not_hung() {
    // Raw zeros are UDF; with VBAR_EL1 = 0 the vector fetch faults too.
    let zeros = scratch("zeros.bin");
    std::fs::write(&zeros, [0u8; 64]).unwrap();
    expect_error(
        &["run", "--kernel", zeros.to_str().unwrap()],
        70,
        &["stuck taking exceptions", "ESR_EL1=0x2000000"],
    );
}

#[test]
fn instruction_limit_stops_a_spinning_guest() {
    // b . (0x14000000): spins forever.
    let spin = scratch("spin.bin");
    std::fs::write(&spin, 0x1400_0000u32.to_le_bytes()).unwrap();
    expect_error(
        &["run", "--kernel", spin.to_str().unwrap(), "--max-insns", "100000"],
        124,
        &["--max-insns"],
    );
}
