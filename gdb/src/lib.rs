//! The GDB remote stub for gdb-multiarch, on the `gdbstub` crate. It is a
//! client of the machine's inspection and control interface
//! ([`boards::control`]) and nothing else: cores are threads, all stop
//! together; continue, stepi, range stepping and Ctrl-C; software and
//! hardware breakpoints and watchpoints; registers including the system
//! registers the CPU implements (in the target description); memory by
//! virtual or (`monitor phys on`) physical address.
//!
//! One client at a time: while a session runs, further connections are
//! accepted and closed at once. Detaching (or losing the connection)
//! clears every breakpoint and lets the machine run on.
//!
//! A reset (the guest's PSCI SYSTEM_RESET or `monitor reset`) and
//! `monitor snapshot load` put a new machine in place of the running one,
//! built by the program that runs the stub ([`Rebuild`]: the same code
//! that builds it at start), while the client stays connected and its
//! breakpoints stay set.
#![deny(missing_docs)]

pub mod arch;
mod target;

use boards::control::Stop;
use boards::machine::{Machine, MachineError, RunOutcome};
use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use gdbstub::stub::{DisconnectReason, GdbStub, MultiThreadStopReason};
use gdbstub::target::ext::breakpoints::WatchKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use target::GdbTarget;
use target::{tid_of, Resume};

/// How long the machine runs between looks at the connection (the
/// latency of Ctrl-C).
const SLICE: Duration = Duration::from_millis(20);

/// Steps of a range step between looks at the connection.
const RANGE_STEPS: usize = 10_000;

/// Why the stub could not start.
#[derive(Debug, thiserror::Error)]
pub enum GdbError {
    /// The `--gdb` argument is not `tcp::PORT` or `tcp:HOST:PORT`.
    #[error("--gdb {0:?}: expected tcp::PORT (127.0.0.1) or tcp:HOST:PORT")]
    BadSpec(String),
    /// Listening failed.
    #[error("--gdb {spec}: cannot listen on {addr}: {source}")]
    Listen {
        /// The argument.
        spec: String,
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Waiting for or talking to the client failed.
    #[error("gdb connection: {0}")]
    Io(#[from] std::io::Error),
}

/// The address a `--gdb` argument names: `tcp::PORT` listens on
/// 127.0.0.1 (QEMU's spelling, but never on every interface by default),
/// `tcp:HOST:PORT` on HOST; a bare `PORT` or `:PORT` is `tcp::PORT`.
pub fn parse_spec(spec: &str) -> Result<String, GdbError> {
    let rest = spec.strip_prefix("tcp:").unwrap_or(spec);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => ("", rest),
    };
    let port: u16 = port.parse().map_err(|_| GdbError::BadSpec(spec.to_string()))?;
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    if host.contains(char::is_whitespace) {
        return Err(GdbError::BadSpec(spec.to_string()));
    }
    Ok(if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// Why a machine could not be built again (the program's own error).
pub type RebuildError = Box<dyn std::error::Error + Send + Sync>;

/// Builds the machine again for the stub: the program that runs the stub
/// implements it with the code that built the machine in the first place.
pub trait Rebuild {
    /// The machine as it starts (every core, device and RAM byte as at
    /// power-on, images loaded again): a system reset.
    fn reset(&mut self) -> Result<Machine, RebuildError>;
    /// The machine restored from the snapshot at `path`.
    fn restore(&mut self, path: &Path) -> Result<Machine, RebuildError>;
    /// Whether a reset the guest asks for restarts it in place (else the
    /// run ends with [`RunOutcome::Reset`], as with `--no-reboot`).
    fn reboot_on_guest_reset(&self) -> bool;
}

/// No way to build the machine again: `monitor reset` and `monitor
/// snapshot load` say so, and a guest reset ends the run.
pub struct NoRebuild;

impl Rebuild for NoRebuild {
    fn reset(&mut self) -> Result<Machine, RebuildError> {
        Err("this machine cannot be rebuilt".into())
    }
    fn restore(&mut self, path: &Path) -> Result<Machine, RebuildError> {
        Err(format!("{}: this machine cannot be rebuilt", path.display()).into())
    }
    fn reboot_on_guest_reset(&self) -> bool {
        false
    }
}

/// An error and its causes on one line.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// A listening stub.
pub struct GdbServer {
    listener: TcpListener,
}

impl GdbServer {
    /// Listens where `spec` (see [`parse_spec`]) says.
    pub fn bind(spec: &str) -> Result<GdbServer, GdbError> {
        let addr = parse_spec(spec)?;
        let listener = TcpListener::bind(&addr).map_err(|source| GdbError::Listen {
            spec: spec.to_string(),
            addr: addr.clone(),
            source,
        })?;
        Ok(GdbServer { listener })
    }

    /// The address actually listened on (the port when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Runs `machine` under the stub until the guest stops by itself (or
    /// gdb kills it). With `wait`, nothing runs before a client connects
    /// and continues; otherwise the guest runs and a client may attach
    /// (stopping it) at any time. A client that detaches leaves the
    /// machine running with no breakpoints; another may attach later.
    /// Resets and snapshot restores build a new machine with `rebuild`.
    pub fn serve(
        &self,
        machine: &mut Machine,
        wait: bool,
        rebuild: &mut dyn Rebuild,
    ) -> Result<RunOutcome, MachineError> {
        let mut waiting = wait;
        loop {
            let conn = if waiting {
                waiting = false;
                self.listener.set_nonblocking(false).ok();
                match self.listener.accept() {
                    Ok((s, _)) => Some(s),
                    Err(e) => {
                        tracing::warn!("gdb: accept failed: {e}");
                        None
                    }
                }
            } else {
                self.listener.set_nonblocking(true).ok();
                self.listener.accept().ok().map(|(s, _)| s)
            };
            if let Some(stream) = conn {
                stream.set_nonblocking(false).ok();
                stream.set_nodelay(true).ok();
                match self.session(machine, stream, rebuild) {
                    SessionEnd::Detached => {}
                    SessionEnd::Outcome(o) => return o,
                }
                continue;
            }
            match machine.run_until(None, Some(Instant::now() + SLICE * 5)) {
                Ok(RunOutcome::Deadline) => {}
                Ok(RunOutcome::Reset) if guest_reset(machine, rebuild) => {}
                other => return other,
            }
        }
    }

    /// One client's session; other clients are turned away meanwhile.
    fn session(&self, machine: &mut Machine, stream: TcpStream, rebuild: &mut dyn Rebuild) -> SessionEnd {
        let busy = Arc::new(AtomicBool::new(true));
        let bouncer = self.listener.try_clone().ok().map(|l| {
            let busy = busy.clone();
            std::thread::spawn(move || refuse_while(&l, &busy))
        });
        let end = run_session(machine, stream, Some(rebuild));
        busy.store(false, Ordering::Relaxed);
        if let Some(t) = bouncer {
            let _ = t.join();
        }
        end
    }
}

/// The guest asked for a system reset: restarts `machine` in place when
/// `rebuild` allows; false when the run is to end instead.
fn guest_reset(machine: &mut Machine, rebuild: &mut dyn Rebuild) -> bool {
    if !rebuild.reboot_on_guest_reset() {
        return false;
    }
    match rebuild.reset() {
        Ok(m) => {
            machine.replace(m);
            tracing::info!("guest requested a system reset: restarted");
            true
        }
        Err(e) => {
            eprintln!("preboard: guest reset: {}", chain(&*e));
            false
        }
    }
}

/// Accepts and closes connections while `busy` (a second debugger gets a
/// clean close instead of hanging in the backlog).
fn refuse_while(listener: &TcpListener, busy: &AtomicBool) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while busy.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((s, peer)) => {
                tracing::warn!("gdb: refusing a second client from {peer}: a debugger is already attached");
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

enum SessionEnd {
    /// The client went away; the machine runs on.
    Detached,
    /// The guest stopped by itself (or was killed).
    Outcome(Result<RunOutcome, MachineError>),
}

/// Runs the stub over `conn` until the client leaves.
fn run_session<C>(machine: &mut Machine, conn: C, rebuild: Option<&mut dyn Rebuild>) -> SessionEnd
where
    C: ConnectionExt<Error = std::io::Error>,
{
    // (The cast shortens the trait object's lifetime to the session's.)
    let mut target = GdbTarget::with_rebuild(machine, rebuild.map(|r| r as &mut dyn Rebuild));
    let stub = GdbStub::new(conn);
    let r = stub.run_blocking::<EventLoop<C>>(&mut target);
    let last = target.last_outcome.take();
    // Nothing of a session outlives it.
    machine.clear_debug_points();
    match r {
        Ok(DisconnectReason::Disconnect) => SessionEnd::Detached,
        Ok(DisconnectReason::Kill) => {
            // As if the power were cut: the run ends with exit code 0.
            eprintln!("preboard: gdb killed the guest");
            SessionEnd::Outcome(Ok(RunOutcome::PoweredOff))
        }
        Ok(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => {
            SessionEnd::Outcome(Ok(last.unwrap_or(RunOutcome::Quit)))
        }
        Err(e) => {
            // A broken connection or a protocol error the client caused:
            // the guest is not at fault and runs on.
            tracing::warn!("gdb: session ended: {e}");
            match last {
                Some(o) => SessionEnd::Outcome(Ok(o)),
                None => SessionEnd::Detached,
            }
        }
    }
}

struct EventLoop<'a, C>(std::marker::PhantomData<(&'a mut Machine, C)>);

type StopReason = MultiThreadStopReason<u64>;

impl<'a, C: ConnectionExt<Error = std::io::Error>> BlockingEventLoop for EventLoop<'a, C> {
    type Target = GdbTarget<'a>;
    type Connection = C;
    type StopReason = StopReason;

    fn wait_for_stop_reason(
        target: &mut Self::Target,
        conn: &mut C,
    ) -> Result<Event<StopReason>, WaitForStopReasonError<String, std::io::Error>> {
        loop {
            let stop = match target.resume {
                Resume::Step(core) => Some(target.step(core)),
                Resume::Range(core, start, end) => {
                    let mut stop = None;
                    for _ in 0..RANGE_STEPS {
                        let s = target.step(core);
                        let pc = target.machine.cpus[core].pc;
                        if s != (Stop::Stepped { core })
                            || !(start..end).contains(&pc)
                            || target.machine.at_breakpoint(core)
                        {
                            stop = Some(s);
                            break;
                        }
                    }
                    stop
                }
                Resume::Continue => target
                    .machine
                    .resume(Instant::now() + SLICE)
                    .map_err(|e| WaitForStopReasonError::Target(e.to_string()))?,
            };
            // A guest reset restarts the machine in place (when allowed)
            // and the resume goes on in the new one; a step ends there.
            let stop = match stop {
                Some(Stop::Reset) if target.guest_reset() => match target.resume {
                    Resume::Continue => None,
                    Resume::Step(_) | Resume::Range(..) => Some(Stop::Stepped { core: 0 }),
                },
                s => s,
            };
            if let Some(s) = stop {
                return Ok(Event::TargetStopped(target.report(s)));
            }
            if conn.peek().map_err(WaitForStopReasonError::Connection)?.is_some() {
                let b = conn.read().map_err(WaitForStopReasonError::Connection)?;
                return Ok(Event::IncomingData(b));
            }
        }
    }

    fn on_interrupt(target: &mut Self::Target) -> Result<Option<StopReason>, String> {
        let core = target.focus;
        Ok(Some(MultiThreadStopReason::SignalWithThread {
            tid: tid_of(core),
            signal: Signal::SIGINT,
        }))
    }
}

impl GdbTarget<'_> {
    /// The stop reply for `s`; guest exits are remembered for the caller.
    fn report(&mut self, s: Stop) -> StopReason {
        match s {
            Stop::Breakpoint { core, .. } => {
                self.focus = core;
                MultiThreadStopReason::SwBreak(tid_of(core))
            }
            Stop::Watchpoint { core, addr, kind, .. } => {
                self.focus = core;
                MultiThreadStopReason::Watch {
                    tid: tid_of(core),
                    kind: match kind {
                        cpu_aarch64::debug::WatchKind::Read => WatchKind::Read,
                        cpu_aarch64::debug::WatchKind::Write => WatchKind::Write,
                        cpu_aarch64::debug::WatchKind::Access => WatchKind::ReadWrite,
                    },
                    addr,
                }
            }
            Stop::Stepped { core } => {
                self.focus = core;
                MultiThreadStopReason::SignalWithThread {
                    tid: tid_of(core),
                    signal: Signal::SIGTRAP,
                }
            }
            Stop::Exited(code) => {
                self.last_outcome = Some(RunOutcome::Exited(code));
                MultiThreadStopReason::Exited(code as u8)
            }
            Stop::PoweredOff => {
                self.last_outcome = Some(RunOutcome::PoweredOff);
                MultiThreadStopReason::Exited(0)
            }
            Stop::Reset => {
                self.last_outcome = Some(RunOutcome::Reset);
                MultiThreadStopReason::Exited(0)
            }
            Stop::Quit => {
                self.last_outcome = Some(RunOutcome::Quit);
                MultiThreadStopReason::Terminated(Signal::SIGINT)
            }
            Stop::Fatal { core, message } => {
                eprintln!("preboard: core {core}: {message}");
                self.focus = core;
                MultiThreadStopReason::SignalWithThread {
                    tid: tid_of(core),
                    signal: Signal::SIGSEGV,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
