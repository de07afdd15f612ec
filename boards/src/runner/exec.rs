//! Running one test file: build the machine, run the steps in order
//! through the [`Harness`], and report what happened.

use super::file::{load_test_file, Step, TestFile};
use super::harness::{CoreState, EngineKind, Failure, Harness, MachineBuilder};
use crate::time::TimeMode;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How test files are run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Forces this engine on every test (the file's `engine` otherwise,
    /// then the host's default).
    pub engine: Option<EngineKind>,
    /// How many of each UART's last lines a failure report shows.
    pub last_lines: usize,
    /// How much of each UART's output a report keeps (its end), in bytes.
    pub keep_output: usize,
    /// Runs every test in deterministic time (`preboard test
    /// --deterministic`), as if its file said `deterministic: true`.
    pub deterministic: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            engine: None,
            last_lines: 20,
            keep_output: 64 << 10,
            deterministic: false,
        }
    }
}

/// How a test ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// A step failed.
    Failed(Box<StepFailure>),
    /// The test could not run: the file is malformed, an image is
    /// missing, the machine cannot be built (JUnit `<error>`).
    Error(String),
}

/// A failed step, with the machine's state when it failed.
#[derive(Clone, Debug)]
pub struct StepFailure {
    /// The step's index (0-based).
    pub step: usize,
    /// The step as text, e.g. `WaitUart(uart0, /^bye$/)`.
    pub step_text: String,
    /// Where the step is written, `file:line:col`.
    pub step_at: String,
    /// What went wrong.
    pub message: String,
    /// Core 0's PC, EL and syndrome registers.
    pub core0: Option<CoreState>,
    /// The last lines of each output that printed anything.
    pub last_lines: Vec<(String, Vec<String>)>,
}

/// The result of one test file.
#[derive(Clone, Debug)]
pub struct TestReport {
    /// The file.
    pub path: PathBuf,
    /// The test's name.
    pub name: String,
    /// The engine it ran on (`None` if it never ran).
    pub engine: Option<EngineKind>,
    /// Host time taken, building included.
    pub duration: Duration,
    /// Passed, failed or could not run.
    pub outcome: Outcome,
    /// Each output that printed anything, as text (its last
    /// [`RunOptions::keep_output`] bytes).
    pub output: Vec<(String, String)>,
}

impl TestReport {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Passed)
    }

    /// A one-line summary and, for a failure, the details: the step, the
    /// message, core 0's state and the last UART lines.
    pub fn render(&self) -> String {
        let secs = self.duration.as_secs_f64();
        let engine = self.engine.map(|e| format!(", {e}")).unwrap_or_default();
        let path = self.path.display();
        match &self.outcome {
            Outcome::Passed => format!("PASS  {path} ({secs:.2} s{engine})"),
            Outcome::Error(e) => format!("ERROR {path} ({secs:.2} s{engine})\n    {e}"),
            Outcome::Failed(f) => {
                let mut s = format!(
                    "FAIL  {path} ({secs:.2} s{engine})\n    step {} {} at {}: {}",
                    f.step + 1,
                    f.step_text,
                    f.step_at,
                    f.message
                );
                if let Some(c) = &f.core0 {
                    let _ = write!(s, "\n    {c}");
                }
                for (uart, lines) in &f.last_lines {
                    let _ = write!(s, "\n    last {} line(s) of {uart}:", lines.len());
                    for l in lines {
                        let _ = write!(s, "\n    | {l}");
                    }
                }
                s
            }
        }
    }
}

/// Loads and runs the test file at `path`.
pub fn run_test_file(path: &Path, opts: &RunOptions) -> TestReport {
    let start = Instant::now();
    let fallback_name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match load_test_file(path) {
        Ok(file) => run_test(&file, opts),
        Err(e) => TestReport {
            path: path.to_path_buf(),
            name: fallback_name,
            engine: None,
            duration: start.elapsed(),
            outcome: Outcome::Error(e.to_string()),
            output: Vec::new(),
        },
    }
}

/// Runs a loaded test file.
pub fn run_test(file: &TestFile, opts: &RunOptions) -> TestReport {
    let start = Instant::now();
    let engine = opts.engine.or(file.engine).unwrap_or_else(EngineKind::host_default);
    let report = |outcome: Outcome, output: Vec<(String, String)>| TestReport {
        path: file.path.clone(),
        name: file.name.clone(),
        engine: Some(engine),
        duration: start.elapsed(),
        outcome,
        output,
    };
    let time = match file.time {
        TimeMode::Host if opts.deterministic => TimeMode::deterministic(),
        t => t,
    };
    let mut b = MachineBuilder::new(file.board.clone())
        .engine(engine)
        .time(time)
        .host_safety_net(file.host_timeout);
    let img = &file.images;
    if let Some(k) = &img.kernel {
        b = b.kernel_file(k);
    }
    if let Some(a) = img.load_addr {
        b = b.load_addr(a);
    }
    if let Some(p) = &img.initrd {
        b = b.initrd_file(p);
    }
    if let Some(p) = &img.dtb {
        b = b.dtb_file(p);
    }
    if let Some(a) = &file.append {
        b = b.append(a);
    }
    for d in &img.drives {
        b = b.drive(d.clone());
    }
    for f in &img.pflash {
        b = b.pflash(f.clone());
    }
    let mut h = match b.rng(img.rng).build() {
        Ok(h) => h,
        Err(e) => {
            return report(
                Outcome::Error(format!("{}: cannot build the machine: {e}", file.path.display())),
                Vec::new(),
            )
        }
    };
    let outcome = match run_steps(&mut h, file) {
        Ok(()) => Outcome::Passed,
        Err((step, message)) => Outcome::Failed(Box::new(StepFailure {
            step,
            step_text: file.steps[step].to_string(),
            step_at: file.step_at[step].clone(),
            message,
            core0: h.core_state(0).ok(),
            last_lines: outputs(&h)
                .into_iter()
                .map(|u| {
                    let lines = h.last_lines(&u, opts.last_lines).unwrap_or_default();
                    (u, lines)
                })
                .collect(),
        })),
    };
    let output = outputs(&h)
        .into_iter()
        .map(|u| {
            let out = h.uart_output(&u).unwrap_or_default();
            let tail = &out[out.len().saturating_sub(opts.keep_output)..];
            (u, String::from_utf8_lossy(tail).into_owned())
        })
        .collect();
    report(outcome, output)
}

/// The outputs that printed something.
fn outputs(h: &Harness) -> Vec<String> {
    h.uart_names()
        .into_iter()
        .filter(|u| h.uart_output(u).is_ok_and(|o| !o.is_empty()))
        .map(str::to_string)
        .collect()
}

/// Runs the steps; on failure, the step's index and the message.
fn run_steps(h: &mut Harness, file: &TestFile) -> Result<(), (usize, String)> {
    // Test and step timeouts are on the harness's clock: guest time when
    // deterministic, where the host-time safety net also covers the test.
    let deadline = h.clock() + file.timeout;
    if h.is_deterministic() {
        h.set_host_deadline(Some(Instant::now() + file.host_timeout));
    }
    // After its last SendUart a UART's input is closed, so a guest that
    // waits for an interrupt nothing can raise is reported at once.
    let last_send = |uart: &str| {
        file.steps
            .iter()
            .rposition(|s| matches!(s, Step::SendUart { uart: u, .. } if u == uart))
    };
    for u in h.uart_names().into_iter().map(str::to_string).collect::<Vec<_>>() {
        if last_send(&u).is_none() {
            let _ = h.close_uart_input(&u);
        }
    }
    for (i, step) in file.steps.iter().enumerate() {
        let fail = |m: String| (i, m);
        let left = deadline.saturating_sub(h.clock());
        // The step's own limit, or what is left of the test's.
        let limit = |t: &Option<Duration>| match t {
            Some(t) if *t <= left => (*t, false),
            _ => (left, true),
        };
        let timeout_note = |global: bool, e: Failure| match (global, &e) {
            (true, Failure::Timeout { .. }) => {
                format!("{e} (the test's timeout_ms, {} ms, ran out)", file.timeout.as_millis())
            }
            _ => e.to_string(),
        };
        match step {
            Step::WaitUart { uart, regex, timeout } => {
                let (t, global) = limit(timeout);
                h.run_until_uart(uart, regex, t)
                    .map_err(|e| fail(timeout_note(global, e)))?;
            }
            Step::SendUart { uart, text } => {
                h.send_uart(uart, text.as_bytes()).map_err(|e| fail(e.to_string()))?;
                if last_send(uart) == Some(i) {
                    let _ = h.close_uart_input(uart);
                }
            }
            Step::ExpectExit { code, timeout } => {
                let (t, global) = limit(timeout);
                let stopped = h.run_until_exit(t).map_err(|e| fail(timeout_note(global, e)))?;
                if stopped.exit_code() != Some(*code) {
                    return Err(fail(format!("expected exit code {code}; the guest {stopped}")));
                }
            }
            Step::AssertReg { core, reg, value } => {
                let got = h.reg(*core, reg).map_err(|e| fail(e.to_string()))?;
                if got != *value {
                    return Err(fail(format!("core {core} {reg} is {got:#x}, expected {value:#x}")));
                }
            }
            Step::Snapshot { name } => h.snapshot_named(name).map_err(|e| fail(e.to_string()))?,
            Step::Restore { name } => h.restore_named(name).map_err(|e| fail(e.to_string()))?,
            Step::AssertMem { addr, value, size } => {
                let got = h.read_phys(*addr, *size).map_err(|e| fail(e.to_string()))?;
                if got != *value {
                    return Err(fail(format!(
                        "{size} byte(s) at {addr:#x} read {got:#x}, expected {value:#x}"
                    )));
                }
            }
        }
    }
    Ok(())
}
