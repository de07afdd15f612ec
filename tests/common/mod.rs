//! Helpers shared by the end-to-end tests (`mod common;` in each test file):
//! paths in the repository, running `preboard` under a time limit, the
//! execution engines every guest-running test covers ([`per_engine!`](crate::per_engine)),
//! and outside tools (QEMU, dtc) that CI installs.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A path in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A text file in the repository (panics naming it).
pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Guest output as text, carriage returns removed (QEMU's UART turns
/// `\n` into `\r\n` on a terminal; transcripts compare without them).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\r', "")
}

/// Output as text, byte for byte (only invalid UTF-8 replaced).
pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An outside tool: a test that needs it skips with a notice when it is
/// missing, unless `PREBOARD_REQUIRE_TOOLS=1` (set by CI) makes that a
/// failure.
pub fn tool(name: &str) -> bool {
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

/// `timeout <secs> qemu-system-aarch64 <flags> -nographic -semihosting
/// <boot>` (stdin closed), e.g. `boot` = `-kernel <elf>`.
pub fn qemu<I, S>(secs: u64, flags: &[&str], boot: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new("timeout")
        .arg(secs.to_string())
        .arg("qemu-system-aarch64")
        .args(flags)
        .args(["-nographic", "-semihosting"])
        .args(boot)
        .stdin(Stdio::null())
        .output()
        .expect("run qemu")
}

/// A file in this test binary's scratch directory (kept after the run).
/// Tests run in parallel: each must use names of its own.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("preboard-{}-{}", env!("CARGO_CRATE_NAME"), std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A directory for one test's files, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `<tmp>/preboard-<test binary>-<pid>-<name>`, empty.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "preboard-{}-{}-{name}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the temporary directory");
        TempDir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What executes guest code: each guest-running test runs under both
/// (`--engine`), with the same expectations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The reference interpreter.
    Interp,
    /// The JIT.
    Jit,
}

impl Engine {
    /// The engine's name, as `--engine` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::Jit => "jit",
        }
    }

    /// `--engine <name>`, for `preboard run`.
    pub fn args(self) -> [&'static str; 2] {
        ["--engine", self.name()]
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs each named function `fn name(engine: Engine)` as two tests,
/// `name::interp` and `name::jit`, one per engine; write the invocation
/// after the function. The JIT test is ignored on hosts without a JIT
/// backend (anything but x86-64).
#[macro_export]
macro_rules! per_engine {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn interp() {
                super::$name($crate::common::Engine::Interp);
            }

            #[test]
            #[cfg_attr(not(target_arch = "x86_64"), ignore = "no JIT backend for this host")]
            fn jit() {
                super::$name($crate::common::Engine::Jit);
            }
        }
    )+};
}

/// `preboard`, the binary under test.
pub fn preboard_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_preboard"))
}

/// What a run printed and how it ended.
pub struct Run {
    /// The exit code; `None` if killed (by the time limit or a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Spawns `cmd` with stdout and stderr captured (as [`text`]) and stdin
/// handed to `feed` (closed when `feed` returns; `None`: no stdin), and
/// kills it after `secs` seconds (a guest waiting for an interrupt that
/// never comes would hang the test); then the stderr says so.
pub fn run_with_timeout(cmd: &mut Command, feed: Option<Box<dyn FnOnce(ChildStdin) + Send>>, secs: u64) -> Run {
    let mut child = cmd
        .stdin(if feed.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run preboard");
    let in_t = feed.map(|feed| {
        let stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || feed(stdin))
    });
    // Drain both pipes on threads so a chatty guest cannot block on them.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for preboard") {
            break st;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for preboard");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(t) = in_t {
        let _ = t.join();
    }
    let mut stderr = text(&err_t.join().unwrap());
    if timed_out {
        stderr.push_str(&format!("\n(killed after {secs} s)"));
    }
    Run {
        code: if timed_out { None } else { status.code() },
        stdout: text(&out_t.join().unwrap()),
        stderr,
    }
}

/// The JIT running the random-sequence cases of `cpu_aarch64::testgen`
/// (through [`Runner::run_engine`](cpu_aarch64::testgen::Runner::run_engine)),
/// for the differential tests that hold it to the interpreter and QEMU.
pub struct JitCases {
    jit: jit::Jit,
    runner: cpu_aarch64::testgen::Runner,
}

impl JitCases {
    /// The JIT with its default configuration; `None` (with a notice) on a
    /// host without a JIT backend. On x86-64 a JIT that cannot start fails
    /// the test.
    pub fn new(test: &str) -> Option<Self> {
        match jit::Jit::new(jit::JitConfig::default()) {
            Ok(jit) => Some(JitCases {
                jit,
                runner: cpu_aarch64::testgen::Runner::new(),
            }),
            Err(e) if !cfg!(target_arch = "x86_64") => {
                eprintln!("NOTICE: {test}: no JIT on this host ({e}); only the interpreter is checked");
                None
            }
            Err(e) => panic!("{test}: the JIT must run on x86-64 hosts: {e}"),
        }
    }

    /// Runs `case` from a clean code cache (cases rewrite the code page).
    pub fn run(&mut self, case: &cpu_aarch64::testgen::Case) -> cpu_aarch64::testgen::Outcome {
        self.jit.flush();
        let jit = &mut self.jit;
        self.runner
            .run_engine(case, &mut |cpu, bus, budget| jit.run(0, cpu, bus, budget))
    }

    /// The data window as the last [`JitCases::run`] left it.
    pub fn window(&self) -> &[u8] {
        self.runner.window()
    }

    /// The JIT's counters so far.
    pub fn stats(&self) -> jit::Stats {
        self.jit.stats()
    }
}
