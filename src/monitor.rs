//! `--monitor SPEC`: a line-oriented machine monitor on a TCP socket
//! (`tcp::PORT` listens on 127.0.0.1, `tcp:HOST:PORT` on HOST), for people
//! and scripts: `info registers`, `stop`/`cont`, `snapshot save FILE`,
//! `quit`. It reads and steers the machine only through the inspection and
//! control interface the gdb stub uses (`boards::control`).
//!
//! A listener thread accepts one client at a time and hands each line to
//! the run loop over a channel; the run loop runs the guest in 20 ms slices
//! of host time and answers between them, so a command waits at most one
//! slice, and a stopped machine costs nothing but the wait.

use crate::{exit, Failure};
use boards::control::Reg;
use boards::machine::{Machine, MachineError, RunOutcome};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

/// How long the guest runs between looks at the monitor.
const SLICE: Duration = Duration::from_millis(20);

const HELP: &str = "\
Preboard monitor commands:
  help                 this text
  info registers       general registers, SP, PC and PSTATE of every core
  info cores           power state, EL, PC and instruction count of every core
  stop                 pause the machine
  cont                 let it run again
  snapshot save FILE   save the machine (restore with --snapshot-load FILE)
  quit                 stop the machine and end preboard (as Ctrl-a x)";

/// One line from the client and where its answer goes.
struct Request {
    line: String,
    reply: Sender<String>,
}

/// A listening monitor.
pub struct Monitor {
    requests: Receiver<Request>,
}

/// Opens the monitor's socket when `--monitor` was given.
pub fn listen(spec: Option<&str>) -> Result<Option<Monitor>, Failure> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    let addr =
        parse_spec(spec).map_err(|e| Failure::new(exit::BAD_INPUT, anyhow::anyhow!("--monitor {spec:?}: {e}")))?;
    let listener = TcpListener::bind(&addr).map_err(|e| {
        Failure::new(
            exit::BAD_INPUT,
            anyhow::anyhow!("--monitor {spec:?}: cannot listen on {addr}: {e}"),
        )
    })?;
    if let Ok(a) = listener.local_addr() {
        eprintln!("preboard: monitor listening on {a}");
    }
    let (tx, requests) = mpsc::channel();
    std::thread::Builder::new()
        .name("monitor".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // One client at a time; its session ends when it hangs up.
                if serve_client(stream, &tx).is_err() {
                    continue;
                }
            }
        })
        .map_err(|e| Failure::new(exit::IO, anyhow::anyhow!("--monitor: cannot start its thread: {e}")))?;
    Ok(Some(Monitor { requests }))
}

/// `tcp::PORT` (localhost) or `tcp:HOST:PORT`.
fn parse_spec(spec: &str) -> Result<String, String> {
    let rest = spec.strip_prefix("tcp:").ok_or("expected tcp::PORT or tcp:HOST:PORT")?;
    let (host, port) = rest.rsplit_once(':').ok_or("expected tcp::PORT or tcp:HOST:PORT")?;
    let port: u16 = port.parse().map_err(|_| format!("{port:?} is not a port number"))?;
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    Ok(format!("{host}:{port}"))
}

/// The longest command line a client may send; a longer one ends its
/// session (a client cannot make the monitor buffer without bound).
const MAX_LINE: u64 = 4096;

/// Reads lines from one client, each answered by the run loop.
fn serve_client(stream: TcpStream, tx: &Sender<Request>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    out.write_all(b"Preboard monitor; `help` lists the commands\n(preboard) ")?;
    let mut input = BufReader::new(stream);
    loop {
        let mut bytes = Vec::new();
        let n = (&mut input).take(MAX_LINE + 1).read_until(b'\n', &mut bytes)?;
        if n == 0 {
            return Ok(()); // the client hung up
        }
        if bytes.last() != Some(&b'\n') && n as u64 > MAX_LINE {
            out.write_all(format!("line longer than {MAX_LINE} bytes; closing\n").as_bytes())?;
            return Ok(());
        }
        let line = String::from_utf8_lossy(&bytes)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        let (reply, answer) = mpsc::channel();
        if tx.send(Request { line, reply }).is_err() {
            return Ok(()); // the machine is gone
        }
        let text = answer.recv().unwrap_or_default();
        out.write_all(text.as_bytes())?;
        out.write_all(b"(preboard) ")?;
    }
}

impl Monitor {
    /// Runs `machine` (at most `limit` instructions) answering the monitor
    /// between slices, until the guest stops or a client says `quit`.
    pub fn run(&self, machine: &mut Machine, mut limit: Option<u64>) -> Result<RunOutcome, MachineError> {
        let mut paused = false;
        loop {
            loop {
                let req = if paused {
                    match self.requests.recv_timeout(SLICE) {
                        Ok(r) => r,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return Ok(RunOutcome::Quit),
                    }
                } else {
                    match self.requests.try_recv() {
                        Ok(r) => r,
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                };
                let (text, action) = command(machine, &req.line);
                let _ = req.reply.send(text);
                match action {
                    Action::None => {}
                    Action::Pause => paused = true,
                    Action::Resume => paused = false,
                    Action::Quit => return Ok(RunOutcome::Quit),
                }
            }
            if soc::chardev::quit_requested() {
                return Ok(RunOutcome::Quit);
            }
            if paused {
                continue;
            }
            let before = machine.instructions();
            let outcome = machine.run_until(limit, Some(Instant::now() + SLICE))?;
            if let Some(l) = &mut limit {
                *l = l.saturating_sub(machine.instructions() - before);
            }
            if outcome != RunOutcome::Deadline {
                return Ok(outcome);
            }
        }
    }
}

/// What a command does to the run loop.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    None,
    Pause,
    Resume,
    Quit,
}

/// Answers one monitor line.
fn command(machine: &mut Machine, line: &str) -> (String, Action) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let text = match words.as_slice() {
        [] => String::new(),
        ["help"] => format!("{HELP}\n"),
        ["info", "registers"] => registers(machine),
        ["info", "cores"] => cores(machine),
        ["stop"] => return ("stopped\n".into(), Action::Pause),
        ["cont"] => return ("running\n".into(), Action::Resume),
        ["snapshot", "save", path] => match machine.snapshot(std::path::Path::new(path)) {
            Ok(()) => format!("machine saved to {path}\n"),
            Err(e) => format!("snapshot save: {e}\n"),
        },
        ["quit"] => return ("quitting\n".into(), Action::Quit),
        _ => format!("unknown command {line:?}; try `help`\n"),
    };
    (text, Action::None)
}

fn cores(machine: &Machine) -> String {
    let mut s = String::new();
    for c in 0..machine.core_count() {
        if let Ok(st) = machine.core_status(c) {
            let state = match (st.on, st.sleeping) {
                (false, _) => "off",
                (true, true) => "asleep",
                (true, false) => "on",
            };
            s += &format!(
                "core {c}: MPIDR {:#x} {state} EL{} PC {:#018x} {} instructions\n",
                st.mpidr, st.el, st.pc, machine.cpus[c].icount
            );
        }
    }
    s
}

fn registers(machine: &mut Machine) -> String {
    let mut s = String::new();
    for c in 0..machine.core_count() {
        s += &format!("core {c}:\n");
        let mut read = |r: Reg| {
            machine
                .read_reg(c, r)
                .map_or_else(|e| format!("<{e}>"), |v| format!("{v:016x}"))
        };
        for i in 0..31u8 {
            s += &format!("  X{i:<2} {}", read(Reg::X(i)));
            s += if i % 4 == 3 { "\n" } else { "" };
        }
        s += &format!("  SP  {}\n", read(Reg::Sp));
        s += &format!("  PC  {}  CPSR {}\n", read(Reg::Pc), read(Reg::Cpsr));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_listen_on_localhost_unless_a_host_is_given() {
        assert_eq!(parse_spec("tcp::4444").unwrap(), "127.0.0.1:4444");
        assert_eq!(parse_spec("tcp:0.0.0.0:4444").unwrap(), "0.0.0.0:4444");
        assert!(parse_spec("4444").is_err());
        assert!(parse_spec("tcp::http").unwrap_err().contains("\"http\""));
    }
}
