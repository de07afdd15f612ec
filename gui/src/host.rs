//! The machine's own thread. It owns the [`Machine`], runs it in short
//! slices of host time and, between slices, obeys [`Command`]s and
//! publishes a [`View`]: everything the window shows, read through the
//! inspection and control interface (`boards::control`). The window only
//! sends commands (never waits for them) and takes the latest view (a
//! pointer swap under a mutex), so a busy guest never freezes the window
//! and a slow window never slows the guest.

use boards::control::{BreakKind, CoreStatus, DebugWalk, DeviceInfo, ExecStats, Reg, Space, StepOptions, Stop};
use boards::machine::Machine;
use cpu_aarch64::sysreg::SysReg;
use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Builds the machine (again after a reset): every device, core and RAM
/// byte starts over, as after a power cycle.
pub type Factory = Box<dyn FnMut() -> Result<Machine, String> + Send>;

/// How long the guest runs between looks at the commands.
const SLICE: Duration = Duration::from_millis(20);
/// How often a running machine publishes a view.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// How often the instructions-per-second figure is sampled.
const RATE_EVERY: Duration = Duration::from_millis(500);
/// Samples of the rate kept for the plot (one minute).
const RATE_SAMPLES: usize = 120;
/// Instructions shown before the address the disassembly is centred on.
pub const CODE_BEFORE: u64 = 16;
/// Instructions shown from that address on.
pub const CODE_AFTER: u64 = 48;
/// The most instructions one "step block" executes (a block that never
/// branches is cut there).
pub const BLOCK_STEP_LIMIT: usize = 4096;

/// The system registers the Cores panel shows, in order.
pub const KEY_SYSREGS: &[SysReg] = &[
    SysReg::SCTLR_EL1,
    SysReg::TCR_EL1,
    SysReg::TTBR0_EL1,
    SysReg::TTBR1_EL1,
    SysReg::MAIR_EL1,
    SysReg::VBAR_EL1,
    SysReg::ESR_EL1,
    SysReg::FAR_EL1,
    SysReg::ELR_EL1,
    SysReg::SPSR_EL1,
    SysReg::SCTLR_EL2,
    SysReg::HCR_EL2,
    SysReg::VBAR_EL2,
    SysReg::ESR_EL2,
    SysReg::FAR_EL2,
    SysReg::ELR_EL2,
    SysReg::SCTLR_EL3,
    SysReg::SCR_EL3,
    SysReg::VBAR_EL3,
    SysReg::ESR_EL3,
    SysReg::FAR_EL3,
    SysReg::ELR_EL3,
];

/// The generic timer registers the Devices panel shows per core.
pub const TIMER_SYSREGS: &[SysReg] = &[
    SysReg::CNTFRQ_EL0,
    SysReg::CNTVCT_EL0,
    SysReg::CNTP_CTL_EL0,
    SysReg::CNTP_CVAL_EL0,
    SysReg::CNTV_CTL_EL0,
    SysReg::CNTV_CVAL_EL0,
];

/// What the window asks the machine thread to do.
#[derive(Debug)]
pub enum Command {
    /// Run every core.
    Run,
    /// Stop at the next slice boundary.
    Pause,
    /// Execute one instruction of a core (pauses first).
    Step(usize),
    /// Execute a core's instructions until control flow leaves the
    /// straight line (a taken branch, an exception), at most
    /// [`BLOCK_STEP_LIMIT`].
    StepBlock(usize),
    /// Build the machine again (paused).
    Reset,
    /// Add a software breakpoint at a virtual address, or remove it.
    ToggleBreakpoint(u64),
    /// What the window wants to see.
    Watch(Interest),
    /// Write bytes to memory.
    WriteMemory {
        /// The core whose view of memory is used.
        core: usize,
        /// Where.
        addr: u64,
        /// Virtual or physical.
        space: Space,
        /// What.
        bytes: Vec<u8>,
    },
    /// Reply on the channel once every earlier command is done and a view
    /// reflecting them is published (tests and scripted use; the window
    /// never waits).
    Barrier(Sender<()>),
    /// End the thread.
    Quit,
}

/// The parts of the machine the window currently shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// The core the Cores, Disassembly and Memory panels look through.
    pub core: usize,
    /// The disassembly's centre: `None` follows the PC.
    pub code_at: Option<u64>,
    /// The memory window.
    pub memory: Option<MemoryRequest>,
    /// The address whose translation walk is shown.
    pub walk: Option<u64>,
}

/// A memory window to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRequest {
    /// First address (16-byte aligned rows start here).
    pub addr: u64,
    /// Virtual (the core's current regime) or physical.
    pub space: Space,
    /// Rows of 16 bytes.
    pub rows: usize,
}

/// Whether the machine runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// The guest runs.
    Running,
    /// Paused (by the user or a debug stop); it can run on.
    Paused,
    /// The guest is done (exited, powered off, fatal error); only a reset
    /// brings it back.
    Finished(String),
    /// The machine could not be built.
    Failed(String),
    /// The thread ended.
    Quit,
}

/// One core's registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreView {
    /// Power, EL and PC.
    pub status: CoreStatus,
    /// X0..X30.
    pub x: [u64; 31],
    /// The current stack pointer.
    pub sp: u64,
    /// PSTATE in SPSR layout.
    pub cpsr: u64,
    /// V0..V31.
    pub v: [u128; 32],
    /// FPSR.
    pub fpsr: u64,
    /// FPCR.
    pub fpcr: u64,
    /// [`KEY_SYSREGS`] then [`TIMER_SYSREGS`]: name and value (`None`
    /// where the core does not implement it).
    pub sys: Vec<(&'static str, Option<u64>)>,
}

/// Everything the window shows, as of one moment of the machine.
#[derive(Clone, Debug)]
pub struct View {
    /// Increases with every published view.
    pub generation: u64,
    /// Increases whenever the machine stops (pause, step, breakpoint,
    /// end): the Cores panel compares registers with the previous stop.
    pub stops: u64,
    /// Running or not.
    pub state: RunState,
    /// Why the machine last stopped, if it did.
    pub last_stop: Option<Stop>,
    /// The engine's name.
    pub engine: &'static str,
    /// Deterministic time.
    pub deterministic: bool,
    /// Every core.
    pub cores: Vec<CoreView>,
    /// Counters.
    pub stats: ExecStats,
    /// Guest instructions per second over the last sample period.
    pub ips: f64,
    /// (seconds since start, millions of instructions per second).
    pub rate_history: Vec<[f64; 2]>,
    /// Software breakpoints (virtual addresses).
    pub breakpoints: Vec<u64>,
    /// The interest this view answers.
    pub interest: Interest,
    /// Instruction words around the disassembly's centre: (address,
    /// word or `None` where unmapped).
    pub code: Vec<(u64, Option<u32>)>,
    /// The memory window: rows of 16 bytes, `None` where unreadable.
    pub memory: Vec<(u64, Option<[u8; 16]>)>,
    /// The requested translation walk.
    pub walk: Option<(u64, Result<DebugWalk, String>)>,
    /// The device tree blob the guest received.
    pub dtb: Arc<Vec<u8>>,
    /// The memory-mapped devices.
    pub devices: Arc<Vec<DeviceInfo>>,
    /// The interrupt controller.
    pub gic: Option<soc::gic::GicView>,
    /// Each device's own description of its state (virtio queues, flash),
    /// by instance name.
    pub device_views: Vec<(String, soc::device::DeviceView)>,
    /// Machine builds so far (1 + resets).
    pub builds: u64,
    /// The last command that failed, and why.
    pub error: Option<String>,
}

impl View {
    fn empty(state: RunState) -> View {
        View {
            generation: 0,
            stops: 0,
            state,
            last_stop: None,
            engine: "",
            deterministic: false,
            cores: Vec::new(),
            stats: ExecStats::default(),
            ips: 0.0,
            rate_history: Vec::new(),
            breakpoints: Vec::new(),
            interest: Interest::default(),
            code: Vec::new(),
            memory: Vec::new(),
            walk: None,
            dtb: Arc::default(),
            devices: Arc::default(),
            gic: None,
            device_views: Vec::new(),
            builds: 0,
            error: None,
        }
    }

    /// The core the window looks through, if it exists.
    pub fn core(&self) -> Option<&CoreView> {
        self.cores.get(self.interest.core)
    }
}

/// The window's side of the machine thread.
#[derive(Clone)]
pub struct Handle {
    commands: Sender<Command>,
    latest: Arc<Mutex<Arc<View>>>,
}

impl Handle {
    /// Sends a command; never blocks. A thread that has ended ignores it.
    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
    }

    /// The latest view.
    pub fn view(&self) -> Arc<View> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits (at most `timeout`) until every command sent so far is done
    /// and its view published. For tests and scripts: the window never
    /// calls it. False on timeout or when the thread is gone.
    pub fn sync(&self, timeout: Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        self.send(Command::Barrier(tx));
        rx.recv_timeout(timeout).is_ok()
    }
}

/// Starts the machine thread; the machine starts paused when `paused`.
/// `repaint` is called after every published view (the window asks its
/// toolkit to redraw).
pub fn spawn(
    factory: Factory,
    paused: bool,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<(Handle, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel();
    let latest = Arc::new(Mutex::new(Arc::new(View::empty(RunState::Paused))));
    let handle = Handle {
        commands: tx,
        latest: latest.clone(),
    };
    let join = std::thread::Builder::new().name("machine".into()).spawn(move || {
        let mut t = Thread {
            factory,
            machine: None,
            commands: rx,
            latest,
            repaint,
            view: View::empty(if paused { RunState::Paused } else { RunState::Running }),
            started: Instant::now(),
            rate_at: (Instant::now(), 0),
            history: VecDeque::new(),
            published: Instant::now(),
        };
        t.build();
        t.main();
    })?;
    Ok((handle, join))
}

struct Thread {
    factory: Factory,
    machine: Option<Machine>,
    commands: Receiver<Command>,
    latest: Arc<Mutex<Arc<View>>>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    /// The view being kept up to date (published as a copy).
    view: View,
    started: Instant,
    /// When the rate was last sampled, and the instruction count then.
    rate_at: (Instant, u64),
    history: VecDeque<[f64; 2]>,
    published: Instant,
}

impl Thread {
    fn build(&mut self) {
        match (self.factory)() {
            Ok(m) => {
                self.view.dtb = Arc::new(m.dtb().to_vec());
                self.view.devices = Arc::new(m.devices());
                self.view.engine = m.engine_name();
                self.view.deterministic = m.is_deterministic();
                self.view.builds += 1;
                self.view.last_stop = None;
                self.machine = Some(m);
                self.rate_at = (Instant::now(), 0);
                if matches!(self.view.state, RunState::Failed(_) | RunState::Finished(_)) {
                    self.view.state = RunState::Paused;
                }
            }
            Err(e) => {
                self.machine = None;
                self.view.state = RunState::Failed(e);
            }
        }
        self.publish();
    }

    fn main(&mut self) {
        loop {
            let running = self.view.state == RunState::Running && self.machine.is_some();
            let next = if running {
                match self.commands.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return self.quit(),
                }
            } else {
                match self.commands.recv_timeout(Duration::from_millis(50)) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return self.quit(),
                }
            };
            if let Some(c) = next {
                if !self.command(c) {
                    return self.quit();
                }
                continue;
            }
            if soc::chardev::quit_requested() {
                return self.quit();
            }
            if running {
                self.slice();
            }
        }
    }

    fn quit(&mut self) {
        self.view.state = RunState::Quit;
        self.publish();
    }

    /// Obeys one command; false to end the thread.
    fn command(&mut self, c: Command) -> bool {
        self.view.error = None;
        match c {
            Command::Quit => return false,
            Command::Barrier(reply) => {
                self.publish();
                let _ = reply.send(());
                return true;
            }
            Command::Reset => {
                self.machine = None;
                self.view.state = RunState::Paused;
                self.view.stops += 1;
                self.build();
                return true;
            }
            Command::Watch(i) => self.view.interest = i,
            Command::Run => {
                if self.machine.is_some() && self.view.state == RunState::Paused {
                    self.view.state = RunState::Running;
                    self.rate_at = (Instant::now(), self.instructions());
                }
            }
            Command::Pause => {
                if self.view.state == RunState::Running {
                    self.view.state = RunState::Paused;
                    self.view.stops += 1;
                }
            }
            Command::Step(core) => self.step(core, false),
            Command::StepBlock(core) => self.step(core, true),
            Command::ToggleBreakpoint(pc) => {
                if let Some(m) = &mut self.machine {
                    if !m.remove_breakpoint(pc, BreakKind::Software) {
                        m.insert_breakpoint(pc, BreakKind::Software);
                    }
                }
            }
            Command::WriteMemory {
                core,
                addr,
                space,
                bytes,
            } => {
                if let Some(m) = &mut self.machine {
                    if let Err(e) = m.write_memory(core, addr, space, &bytes) {
                        self.view.error = Some(format!("write {addr:#x}: {e}"));
                    }
                }
            }
        }
        self.publish();
        true
    }

    fn instructions(&self) -> u64 {
        self.machine.as_ref().map_or(0, |m| m.instructions())
    }

    fn step(&mut self, core: usize, block: bool) {
        if !matches!(self.view.state, RunState::Running | RunState::Paused) {
            return;
        }
        let Some(m) = &mut self.machine else { return };
        self.view.state = RunState::Paused;
        self.view.stops += 1;
        let limit = if block { BLOCK_STEP_LIMIT } else { 1 };
        for _ in 0..limit {
            let before = m.core_status(core).map(|s| s.pc);
            match m.step_core(core, StepOptions::default()) {
                Ok(Stop::Stepped { .. }) => {}
                Ok(stop) => {
                    let s = stop.clone();
                    self.view.last_stop = Some(stop);
                    self.stopped(&s);
                    return;
                }
                Err(e) => {
                    self.view.error = Some(e.to_string());
                    return;
                }
            }
            let after = m.core_status(core).map(|s| s.pc);
            if before.map(|p| p.wrapping_add(4)) != after {
                break;
            }
        }
        self.view.last_stop = Some(Stop::Stepped { core });
    }

    /// A stop that is not a plain step: the guest may be finished.
    fn stopped(&mut self, stop: &Stop) {
        let finished = match stop {
            Stop::Exited(code) => Some(format!("the guest exited with code {code}")),
            Stop::PoweredOff => Some("the guest powered off".to_string()),
            Stop::Fatal { core, message } => Some(format!("core {core}: {message}")),
            Stop::Quit => Some("quit".to_string()),
            Stop::Breakpoint { .. } | Stop::Watchpoint { .. } | Stop::Stepped { .. } | Stop::Reset => None,
        };
        if let Some(f) = finished {
            self.view.state = RunState::Finished(f);
        }
    }

    fn slice(&mut self) {
        let Some(m) = &mut self.machine else { return };
        let r = m.resume(Instant::now() + SLICE);
        match r {
            Ok(None) => {}
            Ok(Some(Stop::Reset)) => {
                // The guest asked for a reset: build again and run on.
                self.machine = None;
                self.build();
                self.view.state = RunState::Running;
                self.view.last_stop = Some(Stop::Reset);
            }
            Ok(Some(stop)) => {
                self.view.state = RunState::Paused;
                self.view.stops += 1;
                self.stopped(&stop);
                self.view.last_stop = Some(stop);
            }
            Err(e) => {
                self.view.stops += 1;
                self.view.state = RunState::Finished(e.to_string());
            }
        }
        let now = Instant::now();
        if now.duration_since(self.rate_at.0) >= RATE_EVERY {
            let n = self.instructions();
            let secs = now.duration_since(self.rate_at.0).as_secs_f64();
            self.view.ips = n.saturating_sub(self.rate_at.1) as f64 / secs;
            self.history
                .push_back([now.duration_since(self.started).as_secs_f64(), self.view.ips / 1e6]);
            if self.history.len() > RATE_SAMPLES {
                self.history.pop_front();
            }
            self.rate_at = (now, n);
        }
        if self.view.state != RunState::Running || now.duration_since(self.published) >= PUBLISH_EVERY {
            self.publish();
        }
    }

    /// Reads what the window shows and hands out a copy.
    fn publish(&mut self) {
        if self.view.state != RunState::Running {
            self.view.ips = 0.0;
        }
        if let Some(m) = &mut self.machine {
            fill(m, &mut self.view);
        }
        self.view.rate_history = self.history.iter().copied().collect();
        self.view.generation += 1;
        self.published = Instant::now();
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(self.view.clone());
        (self.repaint)();
    }
}

/// Reads the registers, counters and memory windows into `v`.
fn fill(m: &mut Machine, v: &mut View) {
    v.cores = (0..m.core_count()).filter_map(|c| core_view(m, c)).collect();
    v.stats = m.exec_stats();
    v.gic = m.gic_view();
    v.device_views = m.device_views();
    v.breakpoints = m
        .breakpoints()
        .into_iter()
        .filter(|b| b.1 == BreakKind::Software)
        .map(|b| b.0)
        .collect();
    let i = v.interest.clone();
    let centre = i.code_at.or_else(|| v.cores.get(i.core).map(|c| c.status.pc));
    v.code = match centre {
        Some(pc) => {
            let start = (pc & !3).wrapping_sub(CODE_BEFORE * 4);
            (0..CODE_BEFORE + CODE_AFTER)
                .map(|k| {
                    let a = start.wrapping_add(k * 4);
                    let mut b = [0u8; 4];
                    let w = m.read_memory(i.core, a, Space::Virtual, &mut b).ok();
                    (a, w.map(|()| u32::from_le_bytes(b)))
                })
                .collect()
        }
        None => Vec::new(),
    };
    v.memory = match i.memory {
        Some(r) => (0..r.rows as u64)
            .map(|k| {
                let a = (r.addr & !15).wrapping_add(k * 16);
                let mut b = [0u8; 16];
                let ok = m.read_memory(i.core, a, r.space, &mut b).is_ok();
                (a, ok.then_some(b))
            })
            .collect(),
        None => Vec::new(),
    };
    v.walk = i
        .walk
        .map(|va| (va, m.translation_walk(i.core, va).map_err(|e| e.to_string())));
}

fn core_view(m: &mut Machine, c: usize) -> Option<CoreView> {
    let status = m.core_status(c).ok()?;
    let mut read = |r: Reg| m.read_reg(c, r).ok();
    let mut x = [0u64; 31];
    for (n, x) in x.iter_mut().enumerate() {
        *x = read(Reg::X(n as u8)).unwrap_or(0) as u64;
    }
    let mut v = [0u128; 32];
    for (n, v) in v.iter_mut().enumerate() {
        *v = read(Reg::V(n as u8)).unwrap_or(0);
    }
    let sys = KEY_SYSREGS
        .iter()
        .chain(TIMER_SYSREGS)
        .map(|r| (r.info().name, read(Reg::Sys(r.info().id)).map(|v| v as u64)))
        .collect();
    Some(CoreView {
        status,
        x,
        sp: read(Reg::Sp).unwrap_or(0) as u64,
        cpsr: read(Reg::Cpsr).unwrap_or(0) as u64,
        v,
        fpsr: read(Reg::Fpsr).unwrap_or(0) as u64,
        fpcr: read(Reg::Fpcr).unwrap_or(0) as u64,
        sys,
    })
}
