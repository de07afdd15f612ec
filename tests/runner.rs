//! The headless test runner: `preboard test` on test files (our firmware
//! suite in `tests/hw/`, and files written here to fail in each way), its
//! JUnit XML read back, sharding, and the Rust API
//! (`boards::runner::MachineBuilder` / `Harness`) driving the bundled
//! firmware. Guest-running tests run under both engines.

mod common;

use boards::runner::{EngineKind, Failure, MachineBuilder, Regex, Stopped};
use common::{repo, run_with_timeout, Engine, Run, TempDir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `preboard test <args>` (killed after 180 s).
fn preboard_test(args: &[&str]) -> Run {
    let mut cmd = common::preboard_command();
    cmd.arg("test").args(args);
    run_with_timeout(&mut cmd, None, 180)
}

/// `--engine <engine>` for `preboard test`.
fn engine_args(engine: Engine) -> [&'static str; 2] {
    ["--engine", engine.name()]
}

fn engine_kind(engine: Engine) -> EngineKind {
    match engine {
        Engine::Interp => EngineKind::Interp,
        Engine::Jit => EngineKind::Jit,
    }
}

/// Writes test file `name` into `dir`, with `{fw}` replaced by the path of
/// `firmware/prebuilt`.
fn write_test(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let fw = repo("firmware/prebuilt");
    let path = dir.path(name);
    std::fs::write(&path, text.replace("{fw}", &fw.display().to_string())).unwrap();
    path
}

/// The counts on a `<testsuite>` and each test case's file with its
/// outcome (`pass`, `failure`, `error`), from a JUnit file.
struct Junit {
    tests: usize,
    failures: usize,
    errors: usize,
    cases: BTreeMap<String, &'static str>,
    /// Failure and error texts.
    texts: Vec<String>,
}

fn read_junit(path: &Path) -> Junit {
    let xml = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("JUnit XML does not parse: {e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
    assert_eq!(suites.len(), 1, "{xml}");
    let suite = suites[0];
    let count = |n: roxmltree::Node, a: &str| -> usize {
        n.attribute(a)
            .unwrap_or_else(|| panic!("no {a} attribute"))
            .parse()
            .unwrap()
    };
    let mut cases = BTreeMap::new();
    let mut texts = Vec::new();
    for case in suite.children().filter(|n| n.has_tag_name("testcase")) {
        let file = case.attribute("file").expect("testcase file").to_string();
        assert!(case.attribute("time").is_some());
        let mut outcome = "pass";
        for child in case.children().filter(|n| n.is_element()) {
            match child.tag_name().name() {
                "failure" => outcome = "failure",
                "error" => outcome = "error",
                "system-out" => continue,
                other => panic!("unexpected <{other}> in a testcase"),
            }
            assert!(child.attribute("message").is_some());
            texts.push(child.text().unwrap_or_default().to_string());
        }
        assert!(cases.insert(file, outcome).is_none(), "a file reported twice");
    }
    let j = Junit {
        tests: count(suite, "tests"),
        failures: count(suite, "failures"),
        errors: count(suite, "errors"),
        cases,
        texts,
    };
    assert_eq!(j.tests, j.cases.len());
    assert_eq!(count(root, "tests"), j.tests);
    assert_eq!(j.failures, j.cases.values().filter(|&&o| o == "failure").count());
    assert_eq!(j.errors, j.cases.values().filter(|&&o| o == "error").count());
    j
}

/// The suite's files, as `preboard test tests/hw` finds them.
fn hw_files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo("tests/hw"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

/// Our firmware suite (`tests/hw/*.ron`) passes, in parallel, with a
/// JUnit report that lists every file as passed.
fn firmware_suite_passes_with_junit(engine: Engine) {
    let dir = TempDir::new(&format!("suite-{engine}"));
    let junit = dir.path("junit.xml");
    let hw = repo("tests/hw");
    let run = preboard_test(
        &[
            &engine_args(engine)[..],
            &["-j", "2", "--junit", junit.to_str().unwrap(), hw.to_str().unwrap()],
        ]
        .concat(),
    );
    let files = hw_files();
    assert!(files.len() >= 5, "{files:?}");
    assert_eq!(run.code, Some(0), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let last = run.stdout.lines().last().unwrap_or_default();
    assert_eq!(last, format!("{} passed, 0 failed", files.len()), "{}", run.stdout);
    assert_eq!(run.stdout.matches("PASS  ").count(), files.len(), "{}", run.stdout);
    let j = read_junit(&junit);
    assert_eq!((j.tests, j.failures, j.errors), (files.len(), 0, 0));
    assert_eq!(j.cases.keys().cloned().collect::<Vec<_>>(), files);
}
per_engine!(firmware_suite_passes_with_junit);

const HELLO_WRONG_LINE: &str = r#"Test(
    board: "virt",
    images: (kernel: "{fw}/hello.elf"),
    steps: [
        WaitUart(regex: "^Preboard hello firmware$"),
        WaitUart(uart: "uart0", regex: "^no such line$", timeout_ms: 20000),
    ],
)
"#;

const HELLO_PASSES: &str = r#"Test(
    name: "hello passes",
    board: "virt",
    images: (kernel: "{fw}/hello.elf"),
    steps: [WaitUart(regex: "^bye$"), ExpectExit(code: 0)],
)
"#;

/// A wrong pattern fails the test (exit 1); the report names the step and
/// where it is written, core 0's state and the UART's last lines, and
/// JUnit counts one failure beside the passing test.
fn failing_step_is_reported(engine: Engine) {
    let dir = TempDir::new(&format!("fail-{engine}"));
    let fail = write_test(&dir, "fail.ron", HELLO_WRONG_LINE);
    let pass = write_test(&dir, "pass.ron", HELLO_PASSES);
    let junit = dir.path("junit.xml");
    let run = preboard_test(
        &[
            &engine_args(engine)[..],
            &[
                "--junit",
                junit.to_str().unwrap(),
                "--last-lines",
                "3",
                fail.to_str().unwrap(),
                pass.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    let out = &run.stdout;
    assert_eq!(run.code, Some(1), "stdout:\n{out}\nstderr:\n{}", run.stderr);
    let at = format!("{}:6:9", fail.display());
    for want in [
        format!("FAIL  {}", fail.display()),
        format!("step 2 WaitUart(uart0, /^no such line$/) at {at}: the guest exited with code 0 (semihosting) while waiting for /^no such line$/ on uart0"),
        "core 0: PC=0x".to_string(),
        " EL1 ESR_EL1=0x".to_string(),
        "last 3 line(s) of uart0:\n    | memory: base 0x40000000 size 0x8000000 (128 MiB)\n    | total memory: 128 MiB\n    | bye".to_string(),
        format!("PASS  {}", pass.display()),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("| model:"), "only the last 3 lines: {out}");
    assert_eq!(out.lines().last(), Some("1 passed, 1 failed"), "{out}");
    let j = read_junit(&junit);
    assert_eq!((j.tests, j.failures, j.errors), (2, 1, 0));
    assert_eq!(j.cases[&fail.display().to_string()], "failure");
    assert_eq!(j.cases[&pass.display().to_string()], "pass");
    assert!(j.texts[0].contains("| bye"), "{:?}", j.texts);
}
per_engine!(failing_step_is_reported);

/// A step whose pattern never appears fails at its timeout in host time
/// (the devices firmware waits for UART input that is never sent), and a
/// test's own `timeout_ms` bounds all its steps.
fn timeouts_fail_the_test(engine: Engine) {
    let dir = TempDir::new(&format!("timeout-{engine}"));
    let step = write_test(
        &dir,
        "step.ron",
        r#"Test(
    board: "virt",
    images: (kernel: "{fw}/devices.elf"),
    steps: [
        WaitUart(regex: "^GIC: v2$", timeout_ms: 20000),
        WaitUart(regex: "^ok uart-rx-irq$", timeout_ms: 400),
    ],
)
"#,
    );
    let whole = write_test(
        &dir,
        "whole.ron",
        r#"Test(
    board: "virt",
    timeout_ms: 1500,
    images: (kernel: "{fw}/devices.elf"),
    steps: [ExpectExit(code: 0, timeout_ms: 60000)],
)
"#,
    );
    let run = preboard_test(
        &[
            &engine_args(engine)[..],
            &[step.to_str().unwrap(), whole.to_str().unwrap()],
        ]
        .concat(),
    );
    let out = &run.stdout;
    assert_eq!(run.code, Some(1), "stdout:\n{out}\nstderr:\n{}", run.stderr);
    let step_msg = Regex::new(r"step 2 WaitUart\(uart0, /\^ok uart-rx-irq\$/\) at .*step\.ron:6:9: timed out after (\d+) ms waiting for /\^ok uart-rx-irq\$/ on uart0\n").unwrap();
    let waited: u64 = step_msg
        .captures(out)
        .unwrap_or_else(|| panic!("no step timeout in:\n{out}"))[1]
        .parse()
        .unwrap();
    assert!((400..5000).contains(&waited), "waited {waited} ms");
    assert!(out.contains("| GIC: v2"), "{out}");
    assert!(
        out.contains("timed out after")
            && out.contains("waiting for the guest to exit (the test's timeout_ms, 1500 ms, ran out)"),
        "{out}"
    );
}
per_engine!(timeouts_fail_the_test);

/// SendUart: the devices firmware reads the text through the PL011's
/// receive interrupt and says so; without it (above) it never does.
fn send_uart_round_trip(engine: Engine) {
    let dir = TempDir::new(&format!("send-{engine}"));
    let file = write_test(
        &dir,
        "send.ron",
        r#"Test(
    board: "virt-gicv3",
    images: (kernel: "{fw}/devices.elf"),
    steps: [
        WaitUart(regex: "^GIC: v3$", timeout_ms: 20000),
        SendUart(text: "Preboard devices: "),
        SendUart(uart: "uart0", text: "UART RX through the GIC\n"),
        WaitUart(regex: "^ok uart-rx-irq$", timeout_ms: 20000),
    ],
)
"#,
    );
    let run = preboard_test(&[&engine_args(engine)[..], &[file.to_str().unwrap()]].concat());
    assert_eq!(run.code, Some(0), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}
per_engine!(send_uart_round_trip);

/// ExpectExit, AssertReg and AssertMem failures say what was found.
fn assertions_report_what_they_found(engine: Engine) {
    let dir = TempDir::new(&format!("assert-{engine}"));
    let files = [
        (
            "exit.ron",
            "ExpectExit(code: 3)",
            "expected exit code 3; the guest exited with code 0 (semihosting)",
        ),
        (
            "reg.ron",
            r#"ExpectExit(code: 0), AssertReg(reg: "el", value: 2)"#,
            "core 0 el is 0x1, expected 0x2",
        ),
        (
            "mem.ron",
            "ExpectExit(code: 0), AssertMem(addr: 0x4000_0000, value: 0xd00dfeed)",
            "4 byte(s) at 0x40000000 read 0xedfe0dd0, expected 0xd00dfeed",
        ),
        (
            "unmapped.ron",
            "AssertMem(addr: 0x1_0000_0000, value: 0, size: 8)",
            "cannot read 8 byte(s) at physical address 0x100000000: no memory or device at 0x100000000",
        ),
    ];
    let mut args: Vec<String> = engine_args(engine).iter().map(|s| s.to_string()).collect();
    for (name, steps, _) in &files {
        let text = format!("Test(board: \"virt\", images: (kernel: \"{{fw}}/hello.elf\"), steps: [{steps}])\n");
        args.push(write_test(&dir, name, &text).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = preboard_test(&args);
    assert_eq!(run.code, Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    for (name, _, want) in files {
        assert!(
            run.stdout.contains(want),
            "{name}: missing {want:?} in:\n{}",
            run.stdout
        );
    }
    assert_eq!(run.stdout.lines().last(), Some("0 passed, 4 failed"));
}
per_engine!(assertions_report_what_they_found);

/// `--shard I/N` for I = 1..N runs every file of the suite exactly once,
/// whatever N, and the same files each time.
#[test]
fn shards_cover_the_suite_exactly_once() {
    let dir = TempDir::new("shards");
    let hw = repo("tests/hw");
    let files = hw_files();
    for n in [1, 2, 3] {
        let mut seen: Vec<String> = Vec::new();
        for i in 1..=n {
            let junit = dir.path(&format!("{i}-of-{n}.xml"));
            let shard = format!("{i}/{n}");
            let run = preboard_test(&[
                "--engine",
                "jit",
                "--shard",
                &shard,
                "--junit",
                junit.to_str().unwrap(),
                hw.to_str().unwrap(),
            ]);
            assert_eq!(run.code, Some(0), "shard {shard}:\n{}\n{}", run.stdout, run.stderr);
            let j = read_junit(&junit);
            let want: Vec<String> = files
                .iter()
                .enumerate()
                .filter(|(k, _)| k % n == i - 1)
                .map(|(_, f)| f.clone())
                .collect();
            assert_eq!(j.cases.keys().cloned().collect::<Vec<_>>(), want, "shard {shard}");
            seen.extend(j.cases.into_keys());
        }
        seen.sort();
        assert_eq!(seen, files, "{n} shards");
    }
}

/// Malformed test files are errors located at file:line:col (exit 1, JUnit
/// `<error>`), and the other files still run.
#[test]
fn malformed_test_files_point_at_the_problem() {
    let dir = TempDir::new("malformed");
    let cases = [
        (
            "field.ron",
            "Test(\n    board: \"virt\",\n    images: (kernel: \"{fw}/hello.elf\"),\n    steps: [\n        WaitUart(regx: \"x\"),\n    ],\n)\n",
            "field.ron:5:18: unknown field `regx` in `WaitUart` (expected one of `uart`, `regex`, `timeout_ms`)",
        ),
        (
            "regex.ron",
            "Test(\n    board: \"virt\",\n    images: (kernel: \"{fw}/hello.elf\"),\n    steps: [WaitUart(regex: \"(unclosed\")],\n)\n",
            "regex.ron:4:29: invalid regex \"(unclosed\": unclosed group",
        ),
        (
            "syntax.ron",
            "Test(\n    board: \"virt\"\n    steps: [],\n)\n",
            "syntax.ron:3:5: expected `,`",
        ),
        (
            "uart.ron",
            "Test(\n  board: \"virt\",\n  images: (kernel: \"{fw}/hello.elf\"),\n  steps: [SendUart(uart: \"uart7\", text: \"x\")],\n)\n",
            "uart.ron:4:26: board virt has no UART `uart7` (it has: uart0, and `semihosting` for semihosting output)",
        ),
        (
            "kernel.ron",
            "Test(\n  board: \"virt\",\n  images: (kernel: \"missing.elf\"),\n  steps: [ExpectExit(code: 0)],\n)\n",
            "kernel.ron:3:20: ",
        ),
        (
            "rtc.ron",
            "Test(\n  board: \"virt\",\n  rtc_epoch: 5,\n  images: (kernel: \"{fw}/hello.elf\"),\n  steps: [ExpectExit(code: 0)],\n)\n",
            "rtc.ron:3:14: `rtc_epoch` only applies to deterministic tests: add `deterministic: true` or remove it",
        ),
        (
            "reg.ron",
            "Test(\n  board: \"virt\",\n  images: (kernel: \"{fw}/hello.elf\"),\n  steps: [AssertReg(reg: \"x31\", value: 0)],\n)\n",
            "reg.ron:4:26: unknown register `x31`",
        ),
    ];
    let mut args = vec!["--junit".to_string(), dir.path("junit.xml").display().to_string()];
    for (name, text, _) in &cases {
        args.push(write_test(&dir, name, text).display().to_string());
    }
    args.push(write_test(&dir, "ok.ron", HELLO_PASSES).display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = preboard_test(&args);
    assert_eq!(run.code, Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    for (name, _, want) in cases {
        assert!(
            run.stdout.contains(&format!("{}{want}", dir.path("").display())),
            "{name}: missing {want:?} in:\n{}",
            run.stdout
        );
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let j = read_junit(&dir.path("junit.xml"));
    assert_eq!((j.tests, j.failures, j.errors), (cases.len() + 1, 0, cases.len()));
}

/// Usage errors exit 2: no such file, a bad shard, no files.
#[test]
fn usage_errors_exit_2() {
    let run = preboard_test(&["/nonexistent/test.ron"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("/nonexistent/test.ron does not exist"),
        "{}",
        run.stderr
    );
    let hw = repo("tests/hw");
    for shard in ["0/2", "3/2", "x"] {
        let run = preboard_test(&["--shard", shard, hw.to_str().unwrap()]);
        assert_eq!(run.code, Some(2), "--shard {shard}: {}", run.stderr);
    }
    assert_eq!(preboard_test(&[]).code, Some(2));
}

/// The Rust API on the demo firmware: a UART line with a capture group,
/// matches in order, the exit, then registers and memory.
fn api_runs_hello(engine: Engine) {
    let mut h = MachineBuilder::board("virt")
        .memory(256 << 20)
        .kernel_file(repo("firmware/prebuilt/hello.elf"))
        .engine(engine_kind(engine))
        .build()
        .unwrap();
    assert_eq!(h.uart_names(), ["uart0", "semihosting"]);
    let t = Duration::from_secs(20);
    let m = h
        .run_until_uart(
            "uart0",
            &Regex::new(r"^memory: base (0x[0-9a-f]+) size (\S+)").unwrap(),
            t,
        )
        .unwrap();
    assert_eq!((m.group(1), m.group(2)), (Some("0x40000000"), Some("0x10000000")));
    assert!(m.line.ends_with("(256 MiB)"), "{m:?}");
    // Matching starts after the previous match: the banner is behind us.
    let banner = Regex::new("^Preboard hello firmware$").unwrap();
    let e = h.run_until_uart("uart0", &banner, t).unwrap_err();
    assert!(
        matches!(
            &e,
            Failure::Stopped {
                stopped: Stopped::Exited(0),
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(h.run_until_exit(t).unwrap().exit_code(), Some(0));
    assert_eq!(h.reg(0, "EL").unwrap(), 1);
    assert_eq!(h.reg(0, "mpidr_el1").unwrap(), 0x8000_0000);
    assert!(h.reg(0, "x31").is_err());
    assert_eq!(h.read_phys(0x4000_0000, 4).unwrap(), 0xedfe_0dd0);
    let last = h.last_lines("uart0", 2).unwrap();
    assert_eq!(last, ["total memory: 256 MiB", "bye"]);
    let e = h.send_uart("uart9", b"x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no UART named `uart9` (this machine has: uart0, semihosting)"
    );
}
per_engine!(api_runs_hello);

/// The Rust API: send_uart reaches the guest through the PL011's receive
/// interrupt; a prompt-less timeout is a Failure::Timeout.
fn api_send_uart(engine: Engine) {
    let mut h = MachineBuilder::board("virt")
        .kernel_file(repo("firmware/prebuilt/devices.elf"))
        .engine(engine_kind(engine))
        .build()
        .unwrap();
    let t = Duration::from_secs(20);
    h.run_until_uart("uart0", &Regex::new("^GIC: v2$").unwrap(), t).unwrap();
    let ok = Regex::new("^ok uart-rx-irq$").unwrap();
    let e = h.run_until_uart("uart0", &ok, Duration::from_millis(200)).unwrap_err();
    assert!(matches!(e, Failure::Timeout { .. }), "{e}");
    h.send_uart("uart0", b"Preboard devices: UART RX through the GIC\n")
        .unwrap();
    h.close_uart_input("uart0").unwrap();
    let m = h.run_until_uart("uart0", &ok, t).unwrap();
    assert_eq!(m.line, "ok uart-rx-irq");
    let state = h.core_state(0).unwrap();
    assert_eq!(state.el, 1);
    assert!(state.to_string().starts_with("core 0: PC=0x"), "{state}");
}
per_engine!(api_send_uart);

/// A wait returns within a turn of the line it waited for, however long
/// the slice: a snapshot taken right after it holds the state at that
/// line, not the state a slice later (which, for a fast guest, can be past
/// its exit). A snapshot of a guest that has stopped is refused.
fn api_wait_stops_at_the_line(engine: Engine) {
    let mut h = MachineBuilder::board("virt")
        .kernel_file(repo("firmware/prebuilt/mmu.elf"))
        .engine(engine_kind(engine))
        .slice(Duration::from_secs(30))
        .build()
        .unwrap();
    let t = Duration::from_secs(60);
    h.run_until_uart("uart0", &Regex::new("^ok 4k/39 mmu-on$").unwrap(), t)
        .unwrap();
    assert!(h.stopped().is_none(), "{:?}", h.stopped());
    // The run stopped at the end of the round that printed the line (a
    // turn is 10 000 instructions: a handful of this firmware's lines),
    // not after the 590-odd lines a 30 s slice would have run to.
    let out = h.uart_output("uart0").unwrap();
    let text = String::from_utf8_lossy(&out);
    let after = text.split_once("ok 4k/39 mmu-on\n").unwrap().1;
    assert!(after.lines().count() < 10, "ran on past the line:\n{after}");
    // The run goes on from there to the end, and a snapshot then is refused.
    let dir = TempDir::new(&format!("wait-stops-{engine}"));
    h.snapshot(&dir.path("at-line.snap")).unwrap();
    h.run_until_uart("uart0", &Regex::new("^done: 0 failed$").unwrap(), t)
        .unwrap();
    assert_eq!(h.run_until_exit(t).unwrap().exit_code(), Some(0));
    let e = h.snapshot(&dir.path("after-exit.snap")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("no snapshot of a guest that exited with code 0"),
        "{e}"
    );
}
per_engine!(api_wait_stops_at_the_line);
