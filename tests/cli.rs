//! End-to-end tests of the `preboard` binary: the bundled demo, the device
//! tree commands, and clear errors (with exit codes) for bad input. Every
//! test that runs guest code runs under both engines (`<name>::interp`,
//! `<name>::jit`; the guest's files carry the engine's name, as the two
//! run in parallel).

mod common;

use common::{lossy as text, read, repo, run_with_timeout, scratch, tool, Engine};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn preboard(args: &[&str]) -> Output {
    common::preboard_command().args(args).output().expect("run preboard")
}

/// `preboard <args> --engine <engine>` (`args` starting with `run`).
fn preboard_on(engine: Engine, args: &[&str]) -> Output {
    common::preboard_command()
        .args(args)
        .args(engine.args())
        .output()
        .expect("run preboard")
}

/// `preboard run --engine <engine> <args>`, for spawning.
fn run_on(engine: Engine, args: &[&str]) -> Command {
    let mut cmd = common::preboard_command();
    cmd.arg("run").args(engine.args()).args(args);
    cmd
}

fn demo_prints_banner_model_and_memory_then_exits_0(engine: Engine) {
    let out = preboard_on(engine, &["run"]);
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
per_engine!(demo_prints_banner_model_and_memory_then_exits_0);

fn memory_and_smp_options_reach_the_guest(engine: Engine) {
    let out = preboard_on(engine, &["run", "-m", "1G", "--smp", "4"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("memory: base 0x40000000 size 0x40000000 (1024 MiB)"),
        "{stdout}"
    );
}
per_engine!(memory_and_smp_options_reach_the_guest);

/// The second builtin board, shaped unlike virt (boards/soc4.ron: RAM at
/// 0x8000_0000 plus an SRAM, UART0 at 0x1c09_0000, GICv3), runs hello built
/// for its memory map (firmware/Makefile's `hello-soc4` variant), also with
/// fewer cores than its default 4.
fn soc4_runs_its_hello_firmware(engine: Engine) {
    let elf = repo("firmware/prebuilt/hello-soc4.elf");
    let expected = [
        "Preboard hello firmware",
        "CurrentEL: EL1",
        "MPIDR_EL1: 0x80000000",
        "dtb: 0x80000000 (from x0)",
        "model: Preboard SoC4",
        "memory: base 0x80000000 size 0x20000000 (512 MiB)",
        "memory: base 0x4000000 size 0x100000 (1 MiB)",
        "total memory: 513 MiB",
        "bye",
    ];
    for extra in [&[][..], &["--smp", "2"]] {
        let mut args = vec!["run", "--board", "soc4", "--kernel", elf.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = preboard_on(engine, &args);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}\nstdout:\n{stdout}\nstderr:\n{}",
            text(&out.stderr)
        );
        assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{args:?}");
    }
}
per_engine!(soc4_runs_its_hello_firmware);

/// The bundled firmware is also correct on the outside reference: it
/// prints QEMU `virt`'s transcript (checked against QEMU itself in
/// `demo_transcript_is_qemus`; the DTB comes from QEMU there, so only the
/// model and the way the DTB was found differ).
fn demo_firmware_agrees_with_qemu(engine: Engine) {
    let expected = read("firmware/hello/qemu-virt.expected");
    let elf = repo("firmware/prebuilt/hello.elf");
    let ours = text(&preboard_on(engine, &["run", "--kernel", elf.to_str().unwrap()]).stdout);
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("dtb:") && !l.starts_with("model:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(strip(&ours), strip(&expected));
}
per_engine!(demo_firmware_agrees_with_qemu);

#[test]
fn board_dts_lists_the_cpus_of_smp() {
    let dts = text(&preboard(&["board", "dts", "--smp", "4"]).stdout);
    assert_eq!(dts.matches("device_type = \"cpu\"").count(), 4, "{dts}");
}

/// The soc4 board's device tree and the list of builtin boards.
#[test]
fn soc4_board_dts_and_the_board_list() {
    let out = preboard(&["board", "dts", "soc4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dts = text(&out.stdout);
    assert!(dts.starts_with("/dts-v1/;"), "{dts}");
    for needle in [
        "model = \"Preboard SoC4\";",
        "memory@80000000 {",
        "memory@4000000 {",
        "gic: interrupt-controller@2f000000 {",
        "pl011@1c090000 {",
        "pl011@1c0a0000 {",
        "stdout-path = \"/pl011@1c090000\";",
    ] {
        assert!(dts.contains(needle), "{needle:?} missing from:\n{dts}");
    }
    assert_eq!(dts.matches("device_type = \"cpu\"").count(), 4, "{dts}");
    let list = text(&preboard(&["board", "list"]).stdout);
    assert_eq!(list.lines().collect::<Vec<_>>(), ["virt", "virt-gicv3", "soc4"]);
}

/// The committed transcript of the bundled firmware is QEMU's.
#[test]
fn demo_transcript_is_qemus() {
    if !tool("qemu-system-aarch64") {
        return;
    }
    let expected = read("firmware/hello/qemu-virt.expected");
    let elf = repo("firmware/prebuilt/hello.elf");
    let out = common::qemu(
        20,
        &["-M", "virt", "-cpu", "cortex-a57"],
        ["-kernel".as_ref(), elf.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "qemu: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).replace('\r', ""),
        expected,
        "QEMU's transcript changed"
    );
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

fn run_dump_dtb_writes_what_the_guest_received(engine: Engine) {
    let blob = scratch(&format!("run-{engine}.dtb"));
    let out = preboard_on(
        engine,
        &[
            "run",
            "--append",
            "console=ttyAMA0 quiet",
            "--dump-dtb",
            blob.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let bytes = std::fs::read(&blob).unwrap();
    assert_eq!(&bytes[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
    let s = text(&bytes);
    assert!(s.contains("console=ttyAMA0 quiet"), "bootargs missing from the blob");
}
per_engine!(run_dump_dtb_writes_what_the_guest_received);

fn expect_error(args: &[&str], code: i32, needles: &[&str]) {
    check_error(&preboard(args), args, code, needles);
}

/// [`expect_error`] for `preboard <args> --engine <engine>`.
fn expect_error_on(engine: Engine, args: &[&str], code: i32, needles: &[&str]) {
    let out = preboard_on(engine, args);
    check_error(&out, &[args, &engine.args()].concat(), code, needles);
}

fn check_error(out: &Output, args: &[&str], code: i32, needles: &[&str]) {
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

fn a_guest_stuck_in_an_exception_loop_is_reported_not_hung(engine: Engine) {
    // Raw zeros are UDF; with VBAR_EL1 = 0 the vector fetch faults too.
    let zeros = scratch(&format!("zeros-{engine}.bin"));
    std::fs::write(&zeros, [0u8; 64]).unwrap();
    expect_error_on(
        engine,
        &["run", "--kernel", zeros.to_str().unwrap()],
        70,
        &["stuck taking exceptions", "ESR_EL1=0x2000000"],
    );
}
per_engine!(a_guest_stuck_in_an_exception_loop_is_reported_not_hung);

fn instruction_limit_stops_a_spinning_guest(engine: Engine) {
    // b . (0x14000000): spins forever.
    let spin = scratch(&format!("spin-{engine}.bin"));
    std::fs::write(&spin, 0x1400_0000u32.to_le_bytes()).unwrap();
    expect_error_on(
        engine,
        &["run", "--kernel", spin.to_str().unwrap(), "--max-insns", "100000"],
        124,
        &["--max-insns"],
    );
}
per_engine!(instruction_limit_stops_a_spinning_guest);

/// A raw guest (loaded at the start of RAM) that polls the PL011 at
/// 0x0900_0000, echoes what it receives in upper case, and powers off
/// (PSCI SYSTEM_OFF) on `q`. Words at 0x48 onwards: `wfi; b .-4`.
const ECHO_GUEST: [u32; 20] = [
    0xd2a1_2001, // movz x1, #0x0900, lsl #16
    0xb940_1822, // loop: ldr w2, [x1, #0x18]   (FR)
    0x3727_ffe2, // tbnz w2, #4, loop           (RXFE)
    0xb940_0023, // ldr w3, [x1]                (DR)
    0x1200_1c63, // and w3, w3, #0xff
    0x7101_c47f, // cmp w3, #'q'
    0x5400_0100, // b.eq done
    0x7101_847f, // cmp w3, #'a'
    0x5400_008b, // b.lt echo
    0x7101_e87f, // cmp w3, #'z'
    0x5400_004c, // b.gt echo
    0x5100_8063, // sub w3, w3, #0x20
    0xb900_0023, // echo: str w3, [x1]
    0x17ff_fff4, // b loop
    0xd2b0_8000, // done: movz x0, #0x8400, lsl #16
    0xf280_0100, // movk x0, #0x0008             (SYSTEM_OFF)
    0xd400_0002, // hvc #0
    0x1400_0000, // b .
    0xd503_207f, // wfi
    0x17ff_ffff, // b .-4
];

fn guest_file(name: &str, words: &[u32]) -> PathBuf {
    let path = scratch(name);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn serial_file_receives_the_console(engine: Engine) {
    let log = scratch(&format!("serial-file-{engine}.txt"));
    let out = preboard_on(engine, &["run", "--serial", &format!("file:{}", log.display())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let file = std::fs::read_to_string(&log).unwrap();
    assert!(file.starts_with("Preboard hello firmware\n"), "{file}");
    assert!(file.ends_with("bye\n"), "{file}");
    assert!(
        !text(&out.stdout).contains("Preboard hello firmware"),
        "the UART output went to the file, not stdout"
    );
    // `null` silences the console.
    let out = preboard_on(engine, &["run", "--serial", "null"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!text(&out.stdout).contains("bye"));
}
per_engine!(serial_file_receives_the_console);

#[test]
fn bad_serial_options_are_clear_errors() {
    let out = preboard(&["run", "--serial", "tcp:http"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`http` is not a port number"),
        "{}",
        text(&out.stderr)
    );
    let out = preboard(&["run", "--serial", "udp:5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown kind"), "{}", text(&out.stderr));
    expect_error(
        &["run", "--serial", "null", "--serial", "null"],
        2,
        &["2 --serial options", "1 PL011 UART(s) (uart0)"],
    );
    expect_error(
        &["run", "--serial", "file:/nonexistent/dir/log"],
        74,
        &["uart0", "/nonexistent/dir/log"],
    );
}

/// Piped (non-terminal) stdin is guest input on the default console: no
/// raw mode, no escape processing, bytes as they are.
fn piped_stdin_reaches_the_guest(engine: Engine) {
    use std::io::Write as _;
    let guest = guest_file(&format!("echo-{engine}.bin"), &ECHO_GUEST);
    let mut child = run_on(engine, &["--kernel", guest.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A Ctrl-a x here is a plain byte (no escape on a pipe): echoed as is.
    child.stdin.take().unwrap().write_all(b"hello, pl011\x01x\nq").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "HELLO, PL011\x01X\n");
}
per_engine!(piped_stdin_reaches_the_guest);

/// A guest waiting for an interrupt is not declared deadlocked while its
/// console can still receive input; once stdin is closed, it is.
fn a_waiting_guest_waits_for_console_input_until_eof(engine: Engine) {
    let guest = guest_file(&format!("wfi-{engine}.bin"), &ECHO_GUEST[18..]);
    let mut child = run_on(engine, &["--kernel", guest.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "exited while stdin was still open");
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(70), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("waits for an interrupt"),
        "{}",
        text(&out.stderr)
    );
}
per_engine!(a_waiting_guest_waits_for_console_input_until_eof);

/// `--serial tcp:0` listens on an ephemeral localhost port, announced on
/// stderr; a client talks to the guest through it.
fn serial_over_tcp_on_localhost(engine: Engine) {
    use std::io::{BufRead as _, Read as _, Write as _};
    let guest = guest_file(&format!("echo-tcp-{engine}.bin"), &ECHO_GUEST);
    let mut child = run_on(engine, &["--kernel", guest.to_str().unwrap(), "--serial", "tcp:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("preboard: uart0 redirected to tcp:")
        .unwrap_or_else(|| panic!("no announcement: {line}"))
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    sock.write_all(b"net").unwrap();
    let mut reply = [0u8; 3];
    sock.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"NET");
    sock.write_all(b"q").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
per_engine!(serial_over_tcp_on_localhost);

/// SIGTERM asks the guest to power off: the first presses the board's
/// power key (a guest that ignores it keeps running), the second stops
/// the machine (exit code 0).
/// Starts a guest that spins (`b .`) and ignores the power key.
fn spawn_spinning_guest(engine: Engine, name: &str) -> std::process::Child {
    let guest = guest_file(&format!("spin-{name}-{engine}.bin"), &[0x1400_0000]); // b .
    run_on(engine, &["--kernel", guest.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn sigterm(pid: u32) {
    let ok = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

fn sigterm_presses_the_power_key_then_stops(engine: Engine) {
    let mut child = spawn_spinning_guest(engine, "sigterm");
    std::thread::sleep(std::time::Duration::from_millis(500));
    sigterm(child.id());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first SIGTERM only presses the key"
    );
    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("pressing the power key"), "{err}");
    assert!(err.contains("stopping the machine"), "{err}");
}
per_engine!(sigterm_presses_the_power_key_then_stops);

/// A guest that ignores the power key does not outlive a single SIGTERM
/// (what `timeout` and CI runners send): the machine stops after the grace
/// period.
fn one_sigterm_stops_a_guest_that_ignores_the_key(engine: Engine) {
    let mut child = spawn_spinning_guest(engine, "grace");
    std::thread::sleep(std::time::Duration::from_millis(500));
    sigterm(child.id());
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("still running 30 s after one SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("did not power off within 10 s"), "{err}");
    assert!(
        start.elapsed() >= std::time::Duration::from_secs(9),
        "not before the grace period"
    );
}
per_engine!(one_sigterm_stops_a_guest_that_ignores_the_key);

/// The bytes of `elf`'s loadable segments that lie in `[base, base + size)`,
/// as a raw image of that range (up to the last byte any of them fills).
fn elf_image(elf: &[u8], base: u64, size: u64) -> Vec<u8> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    assert_eq!(&elf[..6], b"\x7fELF\x02\x01", "an ELF64 little-endian file");
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36) as usize, u16_at(0x38));
    let mut image = Vec::new();
    for i in 0..phnum as usize {
        let ph = phoff + i * phentsize;
        let (kind, offset, paddr, filesz) = (u32_at(ph), u64_at(ph + 8), u64_at(ph + 0x18), u64_at(ph + 0x20));
        if kind != 1 || filesz == 0 || paddr < base || paddr >= base + size {
            continue; // not PT_LOAD, nothing from the file, or in RAM
        }
        let at = (paddr - base) as usize;
        let end = at + filesz as usize;
        if image.len() < end {
            image.resize(end, 0);
        }
        image[at..end].copy_from_slice(&elf[offset as usize..offset as usize + filesz as usize]);
    }
    image
}

/// hello linked at 0x0 (`prebuilt/hello-flash.elf`) as a flash image.
fn hello_flash_image() -> Vec<u8> {
    let elf = std::fs::read(repo("firmware/prebuilt/hello-flash.elf")).unwrap();
    let image = elf_image(&elf, 0, 64 << 20);
    assert!(image.len() > 0x1000, "the code segment is at 0x0");
    image
}

/// With `--pflash` and no `--kernel`, the board boots its flash bank 0 in
/// place, as QEMU `virt` does with only a pflash image: hello linked at 0x0
/// (`prebuilt/hello-flash.elf`, its `.bss` and stack in RAM) runs from
/// flash at 0x0 with x0 = 0 and finds the DTB at the start of RAM, printing
/// QEMU's own transcript (see `flash_bank_0_image_runs_on_qemu`). Running
/// it does not change the image file.
fn flash_bank_0_executes_in_place(engine: Engine) {
    let image = hello_flash_image();
    let flash = scratch(&format!("hello-flash-{engine}.img"));
    std::fs::write(&flash, &image).unwrap();
    let expected = read("firmware/hello/qemu-virt.expected");
    let out = preboard_on(engine, &["run", "--pflash", flash.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let without_model = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("model:"))
            .map(str::to_string)
            .collect()
    };
    let ours = text(&out.stdout);
    assert_eq!(without_model(&ours), without_model(&expected), "{ours}");
    assert!(ours.contains("dtb: 0x40000000 (x0 = 0x0 is not an FDT; found one at the start of RAM)"));
    assert_eq!(
        std::fs::read(&flash).unwrap(),
        image,
        "reading and executing leave the file alone"
    );
}
per_engine!(flash_bank_0_executes_in_place);

/// The same image under QEMU prints the committed transcript (its pflash
/// wants the whole 64 MiB bank).
#[test]
fn flash_bank_0_image_runs_on_qemu() {
    if !tool("qemu-system-aarch64") {
        return;
    }
    let qemu_flash = scratch("hello-flash-qemu.img");
    let mut padded = hello_flash_image();
    padded.resize(64 << 20, 0xff);
    std::fs::write(&qemu_flash, padded).unwrap();
    let drive = format!("if=pflash,unit=0,format=raw,file={}", qemu_flash.display());
    let out = common::qemu(20, &["-M", "virt", "-cpu", "cortex-a57"], ["-drive", &drive]);
    assert_eq!(out.status.code(), Some(0), "qemu: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).replace('\r', ""),
        read("firmware/hello/qemu-virt.expected")
    );
}

/// Code running from flash that writes a command to its own bank switches
/// the bank out of read-array mode, as CFI flash does: the next fetch reads
/// query data, not code (an undefined instruction), and the guest is
/// reported stuck. A command is not data: the file is unchanged.
fn a_command_written_to_flash_while_executing_from_it_replaces_the_code(engine: Engine) {
    let flash = guest_file(
        &format!("flash-query-{engine}.img"),
        &[
            0x5280_1301, // mov  w1, #0x98            (CFI query, on both x16 halves)
            0x72a0_1301, // movk w1, #0x98, lsl #16
            0xd280_0002, // mov  x2, #0
            0xb900_0041, // str  w1, [x2]
            0x1400_0000, // b .                      (never fetched as such)
        ],
    );
    let before = std::fs::read(&flash).unwrap();
    let out = preboard_on(engine, &["run", "--pflash", flash.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(70), "{err}");
    // EC 0 (unknown reason: an undefined instruction) at the word after the store.
    assert!(err.contains("the first was ESR_EL1=0x2000000 at ELR_EL1=0x10"), "{err}");
    assert_eq!(std::fs::read(&flash).unwrap(), before);
}
per_engine!(a_command_written_to_flash_while_executing_from_it_replaces_the_code);

#[test]
fn missing_image_files_exit_66_and_name_the_device_once() {
    let missing = scratch("no-such-image.img");
    let missing = missing.to_str().unwrap();
    expect_error(
        &["run", "--drive", missing],
        66,
        &["virtio0: virtio-blk image", missing],
    );
    expect_error(
        &["run", "--pflash", missing],
        66,
        &["board virt: flash0: cannot open flash image", missing],
    );
    let out = preboard(&["run", "--pflash", missing]);
    assert_eq!(text(&out.stderr).matches("flash0").count(), 1, "{}", text(&out.stderr));
    // Present but unusable is still a bad input (65).
    let small = scratch("small-disk.img");
    std::fs::write(&small, [0u8; 100]).unwrap();
    expect_error(
        &["run", "--drive", small.to_str().unwrap()],
        65,
        &["smaller than one 512-byte sector"],
    );
}

/// Only one device may read stdin: an explicit `--serial stdio` with
/// `--virtio-console stdio` is refused (and an unusable console file is
/// an I/O error); without `--serial`, the console UART keeps printing to
/// stdout while the virtio-console owns stdin
/// (`the_uart_prints_to_stdout_while_the_virtio_console_owns_stdin`).
#[test]
fn virtio_console_and_serial_share_stdio_only_for_output() {
    expect_error(
        &["run", "--serial", "stdio", "--virtio-console", "stdio"],
        2,
        &["--serial stdio and --virtio-console stdio both want stdin"],
    );
    let out = preboard(&["run", "--virtio-console", "file:/nonexistent/dir/console"]);
    assert_eq!(out.status.code(), Some(74), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("virtio-console"), "{}", text(&out.stderr));
}

fn the_uart_prints_to_stdout_while_the_virtio_console_owns_stdin(engine: Engine) {
    let out = run_on(engine, &["--virtio-console", "stdio"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Preboard hello firmware\n"));
}
per_engine!(the_uart_prints_to_stdout_while_the_virtio_console_owns_stdin);

/// A bad `--nic` spec is a usage error (clap's, exit 2) that says what
/// was wrong.
#[test]
fn bad_nic_specs_are_usage_errors() {
    for (spec, needle) in [
        ("tap", "unknown network backend \"tap\""),
        ("user,mac=52:54:00:zz:34:56", "bad MAC address \"52:54:00:zz:34:56\""),
        ("user,hostfwd=tcp::2222-:22", "unknown network option"),
    ] {
        let out = preboard(&["run", "--nic", spec]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {stderr}");
        assert!(stderr.contains(needle), "expected `{needle}` in:\n{stderr}");
    }
}

/// The integer benchmark (`firmware/bench-int`, ~113 million instructions)
/// under the JIT prints QEMU's transcript (its self-check passes), and
/// `--stats` shows the JIT translated it to host code: most translated
/// instructions native, not calls into the interpreter. Well under a
/// second even in a debug build (minutes under the interpreter, so only
/// the JIT runs it here; `benches` has the interpreter's run, ignored).
#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "no JIT backend for this host")]
fn bench_int_runs_as_native_code_under_the_jit() {
    let elf = repo("firmware/prebuilt/bench-int.elf");
    let mut cmd = run_on(Engine::Jit, &["--stats", "--max-insns", "1000000000", "--kernel"]);
    cmd.arg(&elf);
    let run = run_with_timeout(&mut cmd, None, 120);
    assert_eq!(run.code, Some(0), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, read("firmware/bench-int/qemu-virt.expected"));
    // preboard: jit: B blocks (I instructions, N native, K via the interpreter), ...
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("preboard: jit: "))
        .unwrap_or_else(|| panic!("no JIT stats line in:\n{}", run.stderr));
    let counts: Vec<(u64, &str)> = line
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .unwrap_or_else(|| panic!("no counts in `{line}`"))
        .0
        .split(", ")
        .map(|part| {
            let (n, what) = part.split_once(' ').unwrap_or_else(|| panic!("`{part}` in `{line}`"));
            (n.parse().unwrap_or_else(|_| panic!("`{n}` in `{line}`")), what)
        })
        .collect();
    let count = |what: &str| {
        counts
            .iter()
            .find(|&&(_, w)| w == what)
            .unwrap_or_else(|| panic!("no `{what}` count in `{line}`"))
            .0
    };
    let (total, native, interp) = (count("instructions"), count("native"), count("via the interpreter"));
    assert_eq!(native + interp, total, "{line}");
    assert!(
        native > 0 && native > interp,
        "most of bench-int should be translated to host code: {line}"
    );
}

/// `--monitor`: a client reads the registers the guest set, stops the
/// machine (its instruction count stands still) and lets it run again,
/// saves a snapshot that `--snapshot-load` accepts, and quits (exit 0).
fn monitor_inspects_pauses_snapshots_and_quits(engine: Engine) {
    use std::io::{BufRead, BufReader, Read, Write};
    // mov x0, #42; b .
    let guest = guest_file(&format!("monitor-{engine}.bin"), &[0xd280_0540, 0x1400_0000]);
    let snap = scratch(&format!("monitor-{engine}.snap"));
    /// Kills the guest if the test fails before it quits.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reap(
        run_on(engine, &["--kernel", guest.to_str().unwrap(), "--monitor", "tcp::0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "preboard ended before listening");
        if let Some(a) = line.trim().strip_prefix("preboard: monitor listening on ") {
            break a.to_string();
        }
    };
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    // Sends a command (None: just the banner) and returns the text up to
    // the next prompt.
    let mut ask = |cmd: Option<&str>| -> String {
        if let Some(c) = cmd {
            sock.write_all(format!("{c}\n").as_bytes()).unwrap();
        }
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"(preboard) ") {
            assert_eq!(sock.read(&mut byte).unwrap(), 1, "monitor closed: {}", text(&got));
            got.push(byte[0]);
        }
        text(&got)
    };
    assert!(ask(None).contains("Preboard monitor"));
    let count = |s: &str| -> u64 {
        let words: Vec<&str> = s.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "instructions").expect(s);
        words[at - 1].parse().expect(s)
    };
    // The guest gets going (the first command may beat its first slice).
    let start = std::time::Instant::now();
    while count(&ask(Some("info cores"))) < 2 {
        assert!(start.elapsed().as_secs() < 20, "the guest does not run");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let regs = ask(Some("info registers"));
    assert!(regs.contains("X0  000000000000002a"), "{regs}");
    assert!(regs.contains("PC  "), "{regs}");
    assert!(ask(Some("stop")).contains("stopped"));
    let a = count(&ask(Some("info cores")));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let b = count(&ask(Some("info cores")));
    assert_eq!(a, b, "a stopped machine retires nothing");
    assert!(ask(Some("cont")).contains("running"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(count(&ask(Some("info cores"))) > b, "running again");
    let saved = ask(Some(&format!("snapshot save {}", snap.display())));
    assert!(saved.contains("machine saved to"), "{saved}");
    assert!(ask(Some("bogus")).contains("unknown command"));
    // Clients are served one at a time. A line without end is cut off
    // with a message, not buffered for ever; the next client is served.
    drop(sock);
    let mut flood = std::net::TcpStream::connect(&addr).unwrap();
    flood
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let _ = flood.write_all(&vec![b'x'; 64 << 10]);
    let mut answer = String::new();
    let _ = flood.read_to_string(&mut answer);
    drop(flood);
    assert!(answer.contains("line longer than 4096 bytes"), "{answer}");
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    sock.write_all(b"quit\n").unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // The saved machine boots again from the file (and keeps spinning
    // until its instruction limit).
    let out = run_with_timeout(
        &mut run_on(
            engine,
            &["--snapshot-load", snap.to_str().unwrap(), "--max-insns", "1000"],
        ),
        None,
        60,
    );
    assert!(out.stderr.contains("stopped after --max-insns"), "{}", out.stderr);
}
per_engine!(monitor_inspects_pauses_snapshots_and_quits);
