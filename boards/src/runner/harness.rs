//! The Rust API of the test runner: [`MachineBuilder`] builds a
//! [`Machine`] with every UART connected to an in-memory
//! [`Capture`] backend, and [`Harness`] runs it in slices of time,
//! looking at the captured output in between.
//!
//! Time is the host's, or with [`MachineBuilder::deterministic`] the
//! guest's virtual time ([`crate::time`]): then slices, timeouts and
//! [`Harness::run_for`] are in guest time, so a wait ends at the same
//! instruction on every run, and a host-time safety net
//! ([`MachineBuilder::host_safety_net`]) still bounds each wait.
//!
//! ```no_run
//! use boards::runner::{EngineKind, MachineBuilder, Regex};
//! use std::time::Duration;
//!
//! let mut h = MachineBuilder::board("virt")
//!     .kernel_file("firmware/prebuilt/hello.elf")
//!     .engine(EngineKind::Interp)
//!     .build()?;
//! let re = Regex::new(r"^model: (.*)$").unwrap();
//! let m = h.run_until_uart("uart0", &re, Duration::from_secs(5))?;
//! assert_eq!(m.group(1), Some("linux,dummy-virt"));
//! assert_eq!(h.run_until_exit(Duration::from_secs(5))?.exit_code(), Some(0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::loader::ImageFormat;
use crate::machine::{
    Attachments, Engine, InputFile, Machine, MachineConfig, MachineError, RestoreOptions, RunOutcome, SnapshotError,
};
use crate::schema::{BoardError, BoardSpec, DeviceSpec};
use crate::time::TimeMode;
use cpu_aarch64::sysreg::{SysReg, SYSREGS};
use cpu_aarch64::{AccessKind, Bus as _, PhysAddr, Requester};
use regex::Regex;
use soc::chardev::{Capture, CharBackend};
use soc::pflash::FlashImage;
use soc::virtio::BlkConfig;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The name under which semihosting console output (SYS_WRITE0/WRITEC/
/// WRITE to the console) is captured, beside the board's UARTs.
pub const SEMIHOSTING: &str = "semihosting";

/// How long the machine runs before the harness looks at its output
/// again (the latency of a UART match and of a host-time timeout).
pub const DEFAULT_SLICE: Duration = Duration::from_millis(20);

/// The slice in deterministic mode, in guest time (a million instructions).
pub const DEFAULT_GUEST_SLICE: Duration = Duration::from_millis(1);

/// How long one wait may take in host time in deterministic mode, whatever
/// its guest-time timeout (a guest that spins burns host time only).
pub const DEFAULT_HOST_SAFETY_NET: Duration = Duration::from_secs(60);

/// JIT code cache per test machine: tests run many machines at once.
const TEST_JIT_CACHE: usize = 32 << 20;

/// What executes guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum EngineKind {
    /// The JIT (where the host has a backend).
    Jit,
    /// The reference interpreter.
    Interp,
}

impl EngineKind {
    /// The host's default: the JIT on x86-64, the interpreter elsewhere.
    pub fn host_default() -> EngineKind {
        if cfg!(target_arch = "x86_64") {
            EngineKind::Jit
        } else {
            EngineKind::Interp
        }
    }

    /// The name `--engine` uses.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Jit => "jit",
            EngineKind::Interp => "interp",
        }
    }

    fn build(self) -> Result<Engine, BuildError> {
        match self {
            EngineKind::Interp => Ok(Engine::Interp),
            EngineKind::Jit => jit::Jit::new(jit::JitConfig {
                cache_size: TEST_JIT_CACHE,
                ..Default::default()
            })
            .map(|j| Engine::Jit(Box::new(j)))
            .map_err(|e| BuildError::Engine(e.to_string())),
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jit" => Ok(EngineKind::Jit),
            "interp" => Ok(EngineKind::Interp),
            _ => Err(format!("unknown engine `{s}` (jit or interp)")),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a machine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The board description, or an override of it, is unusable.
    #[error(transparent)]
    Board(#[from] BoardError),
    /// An image file cannot be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// Kernel, initrd, DTB.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The machine could not be built from the board and images.
    #[error(transparent)]
    Machine(#[from] MachineError),
    /// The engine could not start.
    #[error("engine: {0}")]
    Engine(String),
    /// A snapshot could not be saved or restored.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// A snapshot was asked for after the guest had stopped for good.
    #[error("no snapshot of a guest that {0}: restored, it could not go on")]
    Stopped(Stopped),
}

/// Builds a machine for a test: a board, images and an engine, with every
/// PL011 (in board order) and the semihosting console captured.
#[derive(Debug)]
pub struct MachineBuilder {
    board: Result<BoardSpec, BoardError>,
    memory: Option<u64>,
    smp: Option<u32>,
    boot_el: Option<u8>,
    kernel: Option<(PathBuf, Option<Vec<u8>>)>,
    load_addr: Option<u64>,
    initrd: Option<PathBuf>,
    dtb: Option<PathBuf>,
    append: Option<String>,
    attach: Attachments,
    engine: EngineKind,
    slice: Option<Duration>,
    time: TimeMode,
    safety_net: Duration,
}

impl MachineBuilder {
    /// A machine on `board` (already resolved), with the host's default
    /// engine and no images yet.
    pub fn new(board: BoardSpec) -> Self {
        Self::from_result(Ok(board))
    }

    /// A machine on a builtin board name or a board file (as `--board`);
    /// an unknown board is reported by [`MachineBuilder::build`].
    pub fn board(name_or_path: &str) -> Self {
        Self::from_result(crate::resolve_board(name_or_path))
    }

    fn from_result(board: Result<BoardSpec, BoardError>) -> Self {
        MachineBuilder {
            board,
            memory: None,
            smp: None,
            boot_el: None,
            kernel: None,
            load_addr: None,
            initrd: None,
            dtb: None,
            append: None,
            attach: Attachments::default(),
            engine: EngineKind::host_default(),
            slice: None,
            time: TimeMode::Host,
            safety_net: DEFAULT_HOST_SAFETY_NET,
        }
    }

    /// Main RAM size in bytes (as `-m`).
    pub fn memory(mut self, bytes: u64) -> Self {
        self.memory = Some(bytes);
        self
    }

    /// Number of cores (as `--smp`).
    pub fn smp(mut self, n: u32) -> Self {
        self.smp = Some(n);
        self
    }

    /// The exception level the cores start in (as `--boot-el`).
    pub fn boot_el(mut self, el: u8) -> Self {
        self.boot_el = Some(el);
        self
    }

    /// The kernel or firmware (ELF, arm64 Image or raw), read at build time.
    pub fn kernel_file(mut self, path: impl AsRef<Path>) -> Self {
        self.kernel = Some((path.as_ref().to_path_buf(), None));
        self
    }

    /// The kernel or firmware from memory; `name` appears in messages.
    pub fn kernel_bytes(mut self, name: &str, bytes: Vec<u8>) -> Self {
        self.kernel = Some((PathBuf::from(name), Some(bytes)));
        self
    }

    /// Loads a raw kernel at `addr` instead of detecting its format.
    pub fn load_addr(mut self, addr: u64) -> Self {
        self.load_addr = Some(addr);
        self
    }

    /// An initial ramdisk.
    pub fn initrd_file(mut self, path: impl AsRef<Path>) -> Self {
        self.initrd = Some(path.as_ref().to_path_buf());
        self
    }

    /// A device tree blob passed to the guest unchanged.
    pub fn dtb_file(mut self, path: impl AsRef<Path>) -> Self {
        self.dtb = Some(path.as_ref().to_path_buf());
        self
    }

    /// The kernel command line.
    pub fn append(mut self, cmdline: &str) -> Self {
        self.append = Some(cmdline.to_string());
        self
    }

    /// A virtio-blk disk in the next free virtio-mmio slot.
    pub fn drive(mut self, drive: BlkConfig) -> Self {
        self.attach.drives.push(drive);
        self
    }

    /// An image for the next flash bank.
    pub fn pflash(mut self, image: FlashImage) -> Self {
        self.attach.flash.push(Some(image));
        self
    }

    /// A virtio-rng in the next free slot.
    pub fn rng(mut self, on: bool) -> Self {
        self.attach.rng = on;
        self
    }

    /// What executes guest code.
    pub fn engine(mut self, engine: EngineKind) -> Self {
        self.engine = engine;
        self
    }

    /// How long the machine runs between looks at its output (default
    /// [`DEFAULT_SLICE`] of host time, or [`DEFAULT_GUEST_SLICE`] of guest
    /// time when deterministic).
    pub fn slice(mut self, slice: Duration) -> Self {
        self.slice = Some(slice.max(Duration::from_micros(1)));
        self
    }

    /// Deterministic virtual time ([`TimeMode::deterministic`]) or host
    /// time (the default).
    pub fn deterministic(self, on: bool) -> Self {
        self.time(if on { TimeMode::deterministic() } else { TimeMode::Host })
    }

    /// The guest's clocks (host or deterministic, with its settings).
    pub fn time(mut self, time: TimeMode) -> Self {
        self.time = time;
        self
    }

    /// In deterministic mode, the most host time one wait may take
    /// (default [`DEFAULT_HOST_SAFETY_NET`]).
    pub fn host_safety_net(mut self, limit: Duration) -> Self {
        self.safety_net = limit;
        self
    }

    /// Reads the images and builds the machine. Core 0 is ready at the
    /// kernel's entry point; nothing has run yet.
    pub fn build(self) -> Result<Harness, BuildError> {
        let mut board = self.board?;
        if let Some(m) = self.memory {
            board.set_ram_size(m)?;
        }
        if let Some(n) = self.smp {
            board.set_cpu_count(n)?;
        }
        if let Some(el) = self.boot_el {
            board.set_boot_el(el)?;
        }
        let read = |what: &'static str, path: &Path| {
            std::fs::read(path)
                .map(|bytes| InputFile {
                    path: path.to_path_buf(),
                    bytes,
                })
                .map_err(|source| BuildError::Read {
                    what,
                    path: path.to_path_buf(),
                    source,
                })
        };
        let kernel = match self.kernel {
            Some((path, Some(bytes))) => Some(InputFile { path, bytes }),
            Some((path, None)) => Some(read("kernel", &path)?),
            None => None,
        };
        let initrd = self.initrd.as_deref().map(|p| read("initrd", p)).transpose()?;
        let dtb = self.dtb.as_deref().map(|p| read("device tree blob", p)).transpose()?;
        let names: Vec<String> = board
            .devices
            .iter()
            .filter_map(|d| match d {
                DeviceSpec::Pl011(p) => Some(p.name.clone()),
                _ => None,
            })
            .collect();
        let mut uarts: Vec<(String, Capture)> = names.into_iter().map(|n| (n, Capture::new())).collect();
        let semihosting = Capture::new();
        let recipe = Recipe {
            board: board.clone(),
            append: self.append.clone(),
            attach: self.attach.clone(),
            time: self.time,
        };
        let cfg = MachineConfig {
            board,
            kernel,
            kernel_format: match self.load_addr {
                Some(load_addr) => ImageFormat::Raw { load_addr },
                None => ImageFormat::Auto,
            },
            initrd,
            append: self.append,
            dtb,
            console: Box::new(std::io::sink()),
            serial: uarts
                .iter()
                .map(|(_, c)| Box::new(c.clone()) as Box<dyn CharBackend>)
                .collect(),
            semihost_console: semihosting.writer(),
            attach: self.attach,
        };
        let mut machine = Machine::with_time(cfg, self.time)?;
        machine.set_engine(self.engine.build()?);
        uarts.push((SEMIHOSTING.to_string(), semihosting));
        // Every captured line ends the run's round, so a wait returns (and
        // a snapshot is taken) within a turn of the line it waited for.
        let line_signal = Arc::new(AtomicBool::new(false));
        for (_, c) in &uarts {
            c.signal_lines(line_signal.clone());
        }
        Ok(Harness {
            line_signal,
            machine,
            uarts: uarts
                .into_iter()
                .map(|(name, capture)| Uart {
                    name,
                    capture,
                    cursor: 0,
                })
                .collect(),
            stopped: None,
            slice: self.slice.unwrap_or(if self.time.is_deterministic() {
                DEFAULT_GUEST_SLICE
            } else {
                DEFAULT_SLICE
            }),
            engine: self.engine,
            created: Instant::now(),
            safety_net: self.safety_net,
            host_deadline: None,
            recipe,
            snapshots: None,
        })
    }
}

/// What a harness needs to build its machine again for a restore.
struct Recipe {
    board: BoardSpec,
    append: Option<String>,
    attach: Attachments,
    time: TimeMode,
}

/// A private directory for named snapshots, removed with the harness.
struct SnapshotDir(PathBuf);

impl SnapshotDir {
    fn create() -> std::io::Result<SnapshotDir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "preboard-snapshots-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p)?;
        Ok(SnapshotDir(p))
    }
}

impl Drop for SnapshotDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a guest stopped for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Semihosting SYS_EXIT / SYS_EXIT_EXTENDED with this code.
    Exited(i32),
    /// PSCI SYSTEM_OFF (exit code 0).
    PoweredOff,
    /// PSCI SYSTEM_RESET. The harness does not restart the machine.
    // TODO(issue 8): follow a reset by rebuilding the machine, as `preboard run` does.
    Reset,
    /// A quit was requested (`soc::chardev::request_quit`).
    Quit,
    /// The machine cannot continue (an exception loop, every core waiting
    /// for an interrupt nothing can raise); the message says why.
    Error(String),
}

impl Stopped {
    /// The exit code: the semihosting code, or 0 for PSCI SYSTEM_OFF.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Stopped::Exited(c) => Some(*c),
            Stopped::PoweredOff => Some(0),
            _ => None,
        }
    }
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stopped::Exited(c) => write!(f, "exited with code {c} (semihosting)"),
            Stopped::PoweredOff => f.write_str("powered off (PSCI SYSTEM_OFF, code 0)"),
            Stopped::Reset => f.write_str("asked for a system reset (PSCI SYSTEM_RESET)"),
            Stopped::Quit => f.write_str("was stopped by a quit request"),
            Stopped::Error(m) => write!(f, "cannot continue: {m}"),
        }
    }
}

/// A UART line that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// The whole line (without its line ending).
    pub line: String,
    /// The capture groups: 0 is the matched text.
    pub groups: Vec<Option<String>>,
    /// Byte offset of the line's start in the UART's output.
    pub offset: usize,
}

impl Match {
    /// Capture group `i` (0: the whole match).
    pub fn group(&self, i: usize) -> Option<&str> {
        self.groups.get(i).and_then(|g| g.as_deref())
    }
}

/// Why a harness operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No captured UART has this name.
    #[error("no UART named `{name}` (this machine has: {known})")]
    NoSuchUart {
        /// The name asked for.
        name: String,
        /// The UARTs there are.
        known: String,
    },
    /// The time limit passed first (host time, or guest time in a
    /// deterministic machine).
    #[error("timed out after {} ms{} waiting for {what}", waited.as_millis(), if *guest { " of guest time" } else { "" })]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
        /// Whether `waited` is guest (virtual) time.
        guest: bool,
    },
    /// Deterministic mode: the host-time safety net ran out before the
    /// guest-time timeout (the guest runs slower than its timeouts allow).
    #[error("the host-time safety net ran out after {} ms (at {} ms of guest time) waiting for {what}", waited.as_millis(), guest.as_millis())]
    HostSafetyNet {
        /// What was awaited.
        what: String,
        /// Host time waited.
        waited: Duration,
        /// Guest time waited.
        guest: Duration,
    },
    /// The guest stopped before what was awaited happened.
    #[error("the guest {stopped} while waiting for {what}")]
    Stopped {
        /// What was awaited.
        what: String,
        /// How it stopped.
        stopped: Stopped,
    },
    /// A register name that means nothing.
    #[error("unknown register `{0}` (x0-x30, w0-w30, sp, pc, el, nzcv, daif, sp_el0-sp_el3, or a system register such as esr_el1)")]
    NoSuchRegister(String),
    /// A core index past the machine's cores.
    #[error("no core {core} (the machine has {cores})")]
    NoSuchCore {
        /// The index asked for.
        core: usize,
        /// How many there are.
        cores: usize,
    },
    /// A physical access that did not work.
    #[error("cannot read {size} byte(s) at physical address {addr:#x}: {reason}")]
    Memory {
        /// The address.
        addr: u64,
        /// The size.
        size: u8,
        /// Why.
        reason: String,
    },
}

/// A register [`Harness::reg`] can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegName {
    /// `x0`-`x30`.
    X(usize),
    /// `w0`-`w30`: the low 32 bits.
    W(usize),
    /// `sp`: the stack pointer PSTATE selects.
    Sp,
    /// `sp_el0`-`sp_el3`.
    SpEl(usize),
    /// `pc`.
    Pc,
    /// `el` (or `currentel`): the current exception level, 0-3.
    El,
    /// `nzcv`: the flags in bits 31:28.
    Nzcv,
    /// `daif`: the masks in bits 9:6 (the MRS view).
    Daif,
    /// A system register by its architectural name (`esr_el1`,
    /// `sctlr_el1`, ...): the value stored in the core.
    Sys(SysReg),
}

impl RegName {
    /// Parses a register name; case does not matter.
    pub fn parse(name: &str) -> Option<RegName> {
        let lower = name.to_ascii_lowercase();
        let index = |s: &str| s.parse::<usize>().ok().filter(|&n| n <= 30 && !s.starts_with('+'));
        if let Some(n) = lower.strip_prefix('x').and_then(index) {
            return Some(RegName::X(n));
        }
        if let Some(n) = lower.strip_prefix('w').and_then(index) {
            return Some(RegName::W(n));
        }
        if let Some(n) = lower.strip_prefix("sp_el").and_then(|s| s.parse::<usize>().ok()) {
            return (n <= 3).then_some(RegName::SpEl(n));
        }
        match lower.as_str() {
            "sp" => Some(RegName::Sp),
            "pc" => Some(RegName::Pc),
            "el" | "currentel" => Some(RegName::El),
            "nzcv" => Some(RegName::Nzcv),
            "daif" => Some(RegName::Daif),
            _ => SYSREGS
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(name))
                .map(|r| RegName::Sys(r.reg)),
        }
    }
}

struct Uart {
    name: String,
    capture: Capture,
    /// Where the next [`Harness::run_until_uart`] starts looking.
    cursor: usize,
}

/// A core's position and exception state, for failure reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreState {
    /// The core's index.
    pub core: usize,
    /// Powered on (running or asleep).
    pub on: bool,
    /// The program counter.
    pub pc: u64,
    /// The current exception level.
    pub el: u8,
    /// ESR_ELx of each exception level the core implements (1..=3).
    pub esr: Vec<(u8, u64)>,
    /// ELR_EL1 (where the last exception to EL1 came from).
    pub elr_el1: u64,
    /// FAR_EL1.
    pub far_el1: u64,
    /// Instructions this core has retired.
    pub icount: u64,
}

impl fmt::Display for CoreState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "core {}: PC={:#x} EL{}", self.core, self.pc, self.el)?;
        for (el, v) in &self.esr {
            write!(f, " ESR_EL{el}={v:#x}")?;
        }
        write!(
            f,
            " ELR_EL1={:#x} FAR_EL1={:#x} ({} instructions{})",
            self.elr_el1,
            self.far_el1,
            self.icount,
            if self.on { "" } else { ", powered off" }
        )
    }
}

/// A machine under test: runs it in slices of host time with every UART
/// captured. See the [module documentation](self) for an example.
pub struct Harness {
    machine: Machine,
    uarts: Vec<Uart>,
    stopped: Option<Stopped>,
    slice: Duration,
    engine: EngineKind,
    /// When the harness was built (the origin of host-time [`Harness::clock`]).
    created: Instant,
    /// Deterministic mode: the host-time limit of one wait.
    safety_net: Duration,
    /// Deterministic mode: a host-time limit on every wait (a whole test's).
    host_deadline: Option<Instant>,
    recipe: Recipe,
    snapshots: Option<SnapshotDir>,
    /// Set by the captures at every line end; ends the machine's run.
    line_signal: Arc<AtomicBool>,
}

impl Harness {
    /// Saves the machine to `path` ([`Machine::snapshot`]), then goes on
    /// from that file as [`Harness::restore`] would: from now on disks
    /// write to memory, so the images stay as the snapshot expects them
    /// and the state can be restored any number of times.
    pub fn snapshot(&mut self, path: &Path) -> Result<(), BuildError> {
        if let Some(s) = &self.stopped {
            // Its state is the stop's (past a semihosting exit, say):
            // restored, it could never go on.
            return Err(BuildError::Stopped(s.clone()));
        }
        self.machine.snapshot(path)?;
        let stopped = self.stopped.take();
        let cursors: Vec<usize> = self.uarts.iter().map(|u| u.cursor).collect();
        self.restore(path)?;
        // Nothing changed for the guest: keep what was already matched.
        self.stopped = stopped;
        for (u, c) in self.uarts.iter_mut().zip(cursors) {
            u.cursor = c;
        }
        Ok(())
    }

    /// Replaces the machine with the one saved in `path` (same board and
    /// attachments, the same captured UARTs; a fresh engine). Output the
    /// guest printed before is kept, but [`Harness::run_until_uart`] only
    /// looks at what it prints from now on.
    pub fn restore(&mut self, path: &Path) -> Result<(), BuildError> {
        let (serial, semihosting): (Vec<&Uart>, Vec<&Uart>) = self.uarts.iter().partition(|u| u.name != SEMIHOSTING);
        let cfg = MachineConfig {
            board: self.recipe.board.clone(),
            kernel: None,
            kernel_format: ImageFormat::Auto,
            initrd: None,
            append: self.recipe.append.clone(),
            dtb: None,
            console: Box::new(std::io::sink()),
            serial: serial
                .iter()
                .map(|u| Box::new(u.capture.clone()) as Box<dyn CharBackend>)
                .collect(),
            semihost_console: match semihosting.first() {
                Some(u) => u.capture.writer(),
                None => Box::new(std::io::sink()),
            },
            attach: self.recipe.attach.clone(),
        };
        let opts = RestoreOptions {
            time: self.recipe.time,
            ..Default::default()
        };
        let mut machine = Machine::restore_with(cfg, path, opts)?;
        machine.set_engine(self.engine.build()?);
        self.machine = machine;
        self.stopped = None;
        for u in &mut self.uarts {
            u.cursor = u.capture.output().len();
        }
        Ok(())
    }

    fn snapshot_path(&mut self, name: &str) -> Result<PathBuf, BuildError> {
        if self.snapshots.is_none() {
            self.snapshots = Some(SnapshotDir::create().map_err(|e| {
                BuildError::Snapshot(SnapshotError::Io {
                    path: std::env::temp_dir(),
                    what: "creating a directory for snapshots".into(),
                    source: e,
                })
            })?);
        }
        let dir = self.snapshots.as_ref().map(|d| d.0.clone()).unwrap_or_default();
        // Any name is fine: the file is named after its bytes.
        let file: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        Ok(dir.join(format!("{file}.snap")))
    }

    /// [`Harness::snapshot`] to a file of this harness's own, known by
    /// `name` (a test file's `Snapshot(name: ...)` step).
    pub fn snapshot_named(&mut self, name: &str) -> Result<(), BuildError> {
        let path = self.snapshot_path(name)?;
        self.snapshot(&path)
    }

    /// [`Harness::restore`] of the snapshot saved as `name`.
    pub fn restore_named(&mut self, name: &str) -> Result<(), BuildError> {
        let path = self.snapshot_path(name)?;
        if !path.exists() {
            return Err(BuildError::Snapshot(SnapshotError::Corrupt {
                path,
                reason: format!("no snapshot named {name:?} was taken"),
            }));
        }
        self.restore(&path)
    }

    /// The machine, for anything this API does not cover.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The machine, mutably (registers, memory, devices).
    pub fn machine_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// The engine running guest code.
    pub fn engine(&self) -> EngineKind {
        self.engine
    }

    /// How the guest stopped, once it has.
    pub fn stopped(&self) -> Option<&Stopped> {
        self.stopped.as_ref()
    }

    /// The captured outputs' names: the board's PL011s in board order, then
    /// [`SEMIHOSTING`].
    pub fn uart_names(&self) -> Vec<&str> {
        self.uarts.iter().map(|u| u.name.as_str()).collect()
    }

    fn uart(&self, name: &str) -> Result<usize, Failure> {
        self.uarts
            .iter()
            .position(|u| u.name == name)
            .ok_or_else(|| Failure::NoSuchUart {
                name: name.to_string(),
                known: self.uart_names().join(", "),
            })
    }

    /// Everything `uart` has printed so far.
    pub fn uart_output(&self, uart: &str) -> Result<Vec<u8>, Failure> {
        Ok(self.uarts[self.uart(uart)?].capture.output())
    }

    /// The last `n` lines `uart` printed (a partial last line included),
    /// carriage returns removed.
    pub fn last_lines(&self, uart: &str, n: usize) -> Result<Vec<String>, Failure> {
        let out = self.uart_output(uart)?;
        let text = String::from_utf8_lossy(&out).replace('\r', "");
        let mut lines: Vec<&str> = text.split('\n').collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        let skip = lines.len().saturating_sub(n);
        Ok(lines[skip..].iter().map(|l| l.to_string()).collect())
    }

    /// Queues `bytes` as input on `uart` (the device takes them as its
    /// FIFO has room, while the machine runs).
    pub fn send_uart(&mut self, uart: &str, bytes: &[u8]) -> Result<(), Failure> {
        let i = self.uart(uart)?;
        self.uarts[i].capture.send(bytes);
        Ok(())
    }

    /// Tells the machine that no more input will come on `uart`: once
    /// every input is closed, a guest waiting for an interrupt that
    /// nothing can raise is reported at once instead of at the timeout.
    pub fn close_uart_input(&mut self, uart: &str) -> Result<(), Failure> {
        let i = self.uart(uart)?;
        self.uarts[i].capture.close_input();
        Ok(())
    }

    /// Whether the machine runs on deterministic virtual time.
    pub fn is_deterministic(&self) -> bool {
        self.machine.virtual_ns().is_some()
    }

    /// The time timeouts are measured in: virtual time in a deterministic
    /// machine, else host time since the harness was built.
    pub fn clock(&self) -> Duration {
        match self.machine.virtual_ns() {
            Some(ns) => Duration::from_nanos(ns),
            None => self.created.elapsed(),
        }
    }

    /// Deterministic mode: no wait runs past host time `deadline` either
    /// (reported as [`Failure::HostSafetyNet`]).
    pub fn set_host_deadline(&mut self, deadline: Option<Instant>) {
        self.host_deadline = deadline;
    }

    /// The host-time limit of a wait starting now, in deterministic mode.
    fn safety_limit(&self) -> Option<Instant> {
        if !self.is_deterministic() {
            return None;
        }
        let net = Instant::now() + self.safety_net;
        Some(self.host_deadline.map_or(net, |d| d.min(net)))
    }

    /// Whether a wait for `what` must stop now: its `until` ([`Harness::clock`])
    /// or its host safety limit passed.
    fn expired(
        &self,
        what: &dyn Fn() -> String,
        start: (Duration, Instant),
        until: Duration,
        safety: Option<Instant>,
    ) -> Option<Failure> {
        if self.clock() >= until {
            return Some(Failure::Timeout {
                what: what(),
                waited: self.clock().saturating_sub(start.0),
                guest: self.is_deterministic(),
            });
        }
        if safety.is_some_and(|s| Instant::now() >= s) {
            return Some(Failure::HostSafetyNet {
                what: what(),
                waited: start.1.elapsed(),
                guest: self.clock().saturating_sub(start.0),
            });
        }
        None
    }

    /// Runs for one slice (at most until `until` on [`Harness::clock`], and
    /// host time `safety`); records a stop.
    fn run_slice(&mut self, until: Duration, safety: Option<Instant>) {
        if self.stopped.is_some() {
            return;
        }
        let end = until.min(self.clock() + self.slice);
        // Only the harness's own runs stop at line ends (not a caller's
        // `machine_mut().run(..)`).
        self.line_signal.store(false, Ordering::Relaxed);
        self.machine.set_pause_request(Some(self.line_signal.clone()));
        let run = if self.is_deterministic() {
            let ns = u64::try_from(end.as_nanos()).unwrap_or(u64::MAX);
            self.machine.run_until_guest(ns, safety)
        } else {
            self.machine.run_until(None, Some(self.created + end))
        };
        self.machine.set_pause_request(None);
        let stopped = match run {
            Ok(RunOutcome::Deadline | RunOutcome::InstructionLimit | RunOutcome::DebugStop { .. }) => return,
            Ok(RunOutcome::Exited(c)) => Stopped::Exited(c),
            Ok(RunOutcome::PoweredOff) => Stopped::PoweredOff,
            Ok(RunOutcome::Reset) => Stopped::Reset,
            Ok(RunOutcome::Quit) => Stopped::Quit,
            Err(e) => Stopped::Error(e.to_string()),
        };
        self.stopped = Some(stopped);
    }

    /// Runs the guest for `duration` ([`Harness::clock`]: guest time when
    /// deterministic), or until it stops.
    pub fn run_for(&mut self, duration: Duration) -> Option<&Stopped> {
        let until = self.clock() + duration;
        let safety = self.safety_limit();
        while self.stopped.is_none() && self.clock() < until && safety.is_none_or(|s| Instant::now() < s) {
            self.run_slice(until, safety);
        }
        self.stopped.as_ref()
    }

    /// Runs until a line of `uart`'s output matches `regex`, looking only
    /// at output after the previous match on that UART. Lines end at
    /// `\n` (a `\r` before it is dropped); the line still being printed
    /// is tried too, so prompts without a newline match. Fails when
    /// `timeout` passes ([`Harness::clock`]: guest time when deterministic)
    /// or the guest stops first.
    pub fn run_until_uart(&mut self, uart: &str, regex: &Regex, timeout: Duration) -> Result<Match, Failure> {
        let i = self.uart(uart)?;
        let start = (self.clock(), Instant::now());
        let until = start.0 + timeout;
        let safety = self.safety_limit();
        // Complete lines before `checked` did not match.
        let mut checked = self.uarts[i].cursor;
        loop {
            let u = &mut self.uarts[i];
            let out = u.capture.output_from(checked);
            let mut pos = 0;
            while pos < out.len() {
                let (line_end, next) = match out[pos..].iter().position(|&b| b == b'\n') {
                    Some(nl) => (pos + nl, Some(pos + nl + 1)),
                    None => (out.len(), None),
                };
                let raw = &out[pos..line_end];
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                let line = String::from_utf8_lossy(raw);
                if let Some(c) = regex.captures(&line) {
                    let offset = checked + pos;
                    u.cursor = match next {
                        Some(n) => checked + n,
                        None => offset + c.get(0).map_or(0, |m| m.end()),
                    };
                    let groups = c.iter().map(|g| g.map(|g| g.as_str().to_string())).collect();
                    return Ok(Match {
                        line: line.to_string(),
                        groups,
                        offset,
                    });
                }
                match next {
                    Some(n) => pos = n,
                    None => break,
                }
            }
            checked += pos;
            let what = || format!("/{}/ on {uart}", regex.as_str());
            if let Some(stopped) = &self.stopped {
                return Err(Failure::Stopped {
                    what: what(),
                    stopped: stopped.clone(),
                });
            }
            if let Some(f) = self.expired(&what, start, until, safety) {
                return Err(f);
            }
            self.run_slice(until, safety);
        }
    }

    /// Runs until the guest stops (exits, powers off, resets or cannot
    /// continue), for at most `timeout` ([`Harness::clock`]).
    pub fn run_until_exit(&mut self, timeout: Duration) -> Result<Stopped, Failure> {
        let start = (self.clock(), Instant::now());
        let until = start.0 + timeout;
        let safety = self.safety_limit();
        loop {
            if let Some(s) = &self.stopped {
                return Ok(s.clone());
            }
            if let Some(f) = self.expired(&|| "the guest to exit".into(), start, until, safety) {
                return Err(f);
            }
            self.run_slice(until, safety);
        }
    }

    fn core(&self, core: usize) -> Result<&cpu_aarch64::Cpu, Failure> {
        self.machine.cpus.get(core).ok_or(Failure::NoSuchCore {
            core,
            cores: self.machine.cpus.len(),
        })
    }

    /// A register of `core` by name (see [`RegName::parse`]).
    pub fn reg(&self, core: usize, name: &str) -> Result<u64, Failure> {
        let c = self.core(core)?;
        let r = RegName::parse(name).ok_or_else(|| Failure::NoSuchRegister(name.to_string()))?;
        Ok(match r {
            RegName::X(n) => c.x[n],
            RegName::W(n) => c.x[n] & 0xffff_ffff,
            RegName::Sp => c.sp(),
            RegName::SpEl(n) => c.sp_el[n],
            RegName::Pc => c.pc,
            RegName::El => u64::from(c.pstate.el),
            RegName::Nzcv => u64::from(c.pstate.nzcv & 0xf000_0000),
            RegName::Daif => u64::from(c.pstate.daif & 0xf) << 6,
            RegName::Sys(r) => c.sys.get(r),
        })
    }

    /// Reads `size` (1, 2, 4 or 8) bytes at physical address `addr`,
    /// little-endian, as a debugger would (RAM, flash or a device's
    /// registers; naturally aligned).
    pub fn read_phys(&mut self, addr: u64, size: u8) -> Result<u64, Failure> {
        let bad = |reason: String| Failure::Memory { addr, size, reason };
        if !matches!(size, 1 | 2 | 4 | 8) {
            return Err(bad("the size must be 1, 2, 4 or 8".into()));
        }
        if addr % u64::from(size) != 0 {
            return Err(bad("not naturally aligned".into()));
        }
        let req = Requester {
            cpu: 0,
            kind: AccessKind::Debug,
        };
        self.machine
            .bus
            .read(req, PhysAddr(addr), size)
            .map_err(|e| bad(e.to_string()))
    }

    /// `core`'s PC, EL and exception syndrome registers.
    pub fn core_state(&self, core: usize) -> Result<CoreState, Failure> {
        let c = self.core(core)?;
        let highest = c.sys.highest_el();
        let esr = [(1, SysReg::ESR_EL1), (2, SysReg::ESR_EL2), (3, SysReg::ESR_EL3)]
            .into_iter()
            .filter(|(el, _)| *el <= highest)
            .map(|(el, r)| (el, c.sys.get(r)))
            .collect();
        Ok(CoreState {
            core,
            on: self.machine.is_on(core),
            pc: c.pc,
            el: c.pstate.el,
            esr,
            elr_el1: c.sys.get(SysReg::ELR_EL1),
            far_el1: c.sys.get(SysReg::FAR_EL1),
            icount: c.icount,
        })
    }
}
