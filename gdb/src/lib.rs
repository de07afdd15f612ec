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
    pub fn serve(&self, machine: &mut Machine, wait: bool) -> Result<RunOutcome, MachineError> {
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
                match self.session(machine, stream) {
                    SessionEnd::Detached => {}
                    SessionEnd::Outcome(o) => return o,
                }
                continue;
            }
            match machine.run_until(None, Some(Instant::now() + SLICE * 5)) {
                Ok(RunOutcome::Deadline) => {}
                other => return other,
            }
        }
    }

    /// One client's session; other clients are turned away meanwhile.
    fn session(&self, machine: &mut Machine, stream: TcpStream) -> SessionEnd {
        let busy = Arc::new(AtomicBool::new(true));
        let bouncer = self.listener.try_clone().ok().map(|l| {
            let busy = busy.clone();
            std::thread::spawn(move || refuse_while(&l, &busy))
        });
        let end = run_session(machine, stream);
        busy.store(false, Ordering::Relaxed);
        if let Some(t) = bouncer {
            let _ = t.join();
        }
        end
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
fn run_session<C>(machine: &mut Machine, conn: C) -> SessionEnd
where
    C: ConnectionExt<Error = std::io::Error>,
{
    let mut target = GdbTarget::new(machine);
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
