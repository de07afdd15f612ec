//! Character backends: where a UART's (and later a virtio console's) bytes
//! go on the host, and where its input comes from.
//!
//! A [`CharBackend`] is polled, never waited on: [`CharBackend::write`]
//! does not block the emulation for long and [`CharBackend::read_available`]
//! returns at once with whatever input has arrived. Backends report their
//! own I/O errors once (through `tracing`) and then carry on, so a closed
//! output never stops the guest.
//!
//! Backends, as named in QEMU-style specs ([`ChardevSpec`]):
//!
//! | spec | backend |
//! |---|---|
//! | `stdio` | [`Stdio`]: stdout; stdin through a reader thread. On a terminal, raw mode and the Ctrl-a escape (see below) |
//! | `null` | [`Null`]: output dropped, no input |
//! | `file:PATH` | [`File`]: output to PATH (truncated), no input |
//! | `pty` | [`Pty`]: a new pseudo-terminal; open its slave (`/dev/pts/N`) with `screen`, `picocom`, … |
//! | `tcp:PORT`, `tcp:HOST:PORT` | [`Tcp`]: a listening socket, 127.0.0.1 unless HOST is given |
//!
//! For embedding there are also [`Writer`] (output to any `Write`) and
//! [`Capture`] (output kept in memory, input from a queue: what the test
//! runner in `boards::runner` connects each UART to).
//!
//! # The console escape
//!
//! When stdin is a terminal, [`Stdio`] puts it in raw mode (keys such as
//! Ctrl-c go to the guest; output post-processing stays on so a guest's
//! `\n` starts a new line, as with QEMU) and watches for Ctrl-a:
//! `Ctrl-a x` asks the machine to quit ([`quit_requested`]), `Ctrl-a h`
//! prints help, `Ctrl-a Ctrl-a` sends one Ctrl-a to the guest; any other
//! key after Ctrl-a is dropped. The terminal is restored when the backend
//! is dropped, on panic (a panic hook) and by [`restore_terminal`]. It is
//! not restored if the process is killed by a signal (`reset` fixes the
//! terminal then). When stdin is not a terminal (a pipe, a file, CI) its
//! bytes pass unchanged and end-of-file means no more input.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::{Arc, Mutex, Once, OnceLock, PoisonError};

use nix::sys::termios::{self, SetArg, Termios};

/// The host side of a character device.
pub trait CharBackend: Send {
    /// Sends guest output to the host. Never blocks for long; output the
    /// host cannot take is dropped (each backend documents when).
    fn write(&mut self, bytes: &[u8]);
    /// Copies input that has already arrived into `buf` and returns how
    /// many bytes; 0 when there is none. Never blocks.
    fn read_available(&mut self, buf: &mut [u8]) -> usize;
    /// Whether input may still arrive (stdin not at end of file, a socket
    /// listening). A machine whose cores all wait for an interrupt keeps
    /// waiting, instead of reporting a deadlock, while this holds.
    fn can_produce_input(&self) -> bool;
    /// A short description for messages, e.g. `tcp:127.0.0.1:4444`.
    fn describe(&self) -> String;
}

/// Why a backend could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ChardevError {
    /// The spec names no known backend.
    #[error("serial backend `{0}`: unknown kind (expected stdio, null, file:PATH, pty, tcp:PORT or tcp:HOST:PORT)")]
    UnknownKind(String),
    /// A required part of the spec is missing or malformed.
    #[error("serial backend `{spec}`: {reason}")]
    BadSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The output file could not be created.
    #[error("serial backend file:{}: cannot create the file", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// No pseudo-terminal could be allocated.
    #[error("serial backend pty: {0}")]
    Pty(String),
    /// The socket could not be set up.
    #[error("serial backend tcp:{addr}: cannot listen")]
    Tcp {
        /// `HOST:PORT` as given.
        addr: String,
        /// Why.
        source: io::Error,
    },
}

/// A parsed backend spec, before anything is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChardevSpec {
    /// `stdio`.
    Stdio,
    /// `null`.
    Null,
    /// `file:PATH`.
    File(PathBuf),
    /// `pty`.
    Pty,
    /// `tcp:PORT` (host 127.0.0.1) or `tcp:HOST:PORT`.
    Tcp {
        /// Address to listen on.
        host: String,
        /// Port; 0 picks a free one.
        port: u16,
    },
}

/// QEMU's socket options that describe what [`Tcp`] does anyway (a server
/// that does not wait for a client); accepted and ignored.
const TCP_NOOP_OPTIONS: [&str; 4] = ["server", "server=on", "nowait", "wait=off"];

impl FromStr for ChardevSpec {
    type Err = ChardevError;

    fn from_str(spec: &str) -> Result<Self, ChardevError> {
        let bad = |reason: &str| ChardevError::BadSpec {
            spec: spec.into(),
            reason: reason.into(),
        };
        let (kind, rest) = match spec.split_once(':') {
            Some((k, r)) => (k, Some(r)),
            None => (spec, None),
        };
        match (kind, rest) {
            ("stdio", None) => Ok(ChardevSpec::Stdio),
            ("null", None) => Ok(ChardevSpec::Null),
            ("pty", None) => Ok(ChardevSpec::Pty),
            ("stdio" | "null" | "pty", Some(_)) => Err(bad("takes no argument")),
            ("file", None | Some("")) => Err(bad("missing path (file:PATH)")),
            ("file", Some(p)) => Ok(ChardevSpec::File(PathBuf::from(p))),
            ("tcp", None | Some("")) => Err(bad("missing port (tcp:PORT or tcp:HOST:PORT)")),
            ("tcp", Some(r)) => {
                let mut parts = r.split(',');
                let addr = parts.next().unwrap_or_default();
                if let Some(o) = parts.find(|o| !TCP_NOOP_OPTIONS.contains(o)) {
                    return Err(bad(&format!("unsupported option `{o}`")));
                }
                let (host, port) = match addr.rsplit_once(':') {
                    Some((h, p)) => {
                        let h = h.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(h);
                        if h.is_empty() {
                            return Err(bad(
                                "empty host: use tcp:PORT for 127.0.0.1, or name the address to listen on (tcp:0.0.0.0:PORT for every interface)",
                            ));
                        }
                        (h.to_string(), p)
                    }
                    None => ("127.0.0.1".to_string(), addr),
                };
                let port = port
                    .parse::<u16>()
                    .map_err(|_| bad(&format!("`{port}` is not a port number (0-65535)")))?;
                Ok(ChardevSpec::Tcp { host, port })
            }
            _ => Err(ChardevError::UnknownKind(spec.into())),
        }
    }
}

impl fmt::Display for ChardevSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChardevSpec::Stdio => f.write_str("stdio"),
            ChardevSpec::Null => f.write_str("null"),
            ChardevSpec::File(p) => write!(f, "file:{}", p.display()),
            ChardevSpec::Pty => f.write_str("pty"),
            ChardevSpec::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            ChardevSpec::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
        }
    }
}

impl ChardevSpec {
    /// Creates the backend (opens the file, allocates the pty, binds the
    /// socket).
    pub fn open(&self) -> Result<Box<dyn CharBackend>, ChardevError> {
        Ok(match self {
            ChardevSpec::Stdio => Box::new(Stdio::new()),
            ChardevSpec::Null => Box::new(Null),
            ChardevSpec::File(p) => Box::new(File::create(p)?),
            ChardevSpec::Pty => Box::new(Pty::open()?),
            ChardevSpec::Tcp { host, port } => Box::new(Tcp::listen(host, *port)?),
        })
    }
}

/// Parses a QEMU-style spec (`stdio`, `null`, `file:PATH`, `pty`,
/// `tcp:PORT`, `tcp:HOST:PORT`) and creates the backend.
pub fn open(spec: &str) -> Result<Box<dyn CharBackend>, ChardevError> {
    spec.parse::<ChardevSpec>()?.open()
}

/// Reports the first error of a backend, then stays quiet.
#[derive(Debug, Default)]
struct WarnOnce(bool);

impl WarnOnce {
    fn report(&mut self, what: &str, error: &dyn fmt::Display) {
        if !self.0 {
            self.0 = true;
            tracing::warn!(backend = what, error = %error, "serial output failed; further errors are not reported");
        }
    }
}

/// Drops output, never has input.
#[derive(Clone, Copy, Debug, Default)]
pub struct Null;

impl CharBackend for Null {
    fn write(&mut self, _bytes: &[u8]) {}
    fn read_available(&mut self, _buf: &mut [u8]) -> usize {
        0
    }
    fn can_produce_input(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        "null".into()
    }
}

/// Output to any writer, flushed after every write; no input. For tests
/// and for embedding (a `Vec`, a log, stdout without input).
pub struct Writer {
    out: Box<dyn Write + Send>,
    failed: WarnOnce,
}

impl Writer {
    /// Wraps `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Writer {
            out,
            failed: WarnOnce::default(),
        }
    }
}

impl CharBackend for Writer {
    fn write(&mut self, bytes: &[u8]) {
        if let Err(e) = self.out.write_all(bytes).and_then(|()| self.out.flush()) {
            self.failed.report("writer", &e);
        }
    }
    fn read_available(&mut self, _buf: &mut [u8]) -> usize {
        0
    }
    fn can_produce_input(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        "writer".into()
    }
}

/// Output to a file (created or truncated), written through at once so
/// the file is complete whenever the guest stops; no input.
pub struct File {
    path: PathBuf,
    file: std::fs::File,
    failed: WarnOnce,
}

impl File {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Self, ChardevError> {
        let file = std::fs::File::create(path).map_err(|source| ChardevError::File {
            path: path.into(),
            source,
        })?;
        Ok(File {
            path: path.into(),
            file,
            failed: WarnOnce::default(),
        })
    }
}

impl CharBackend for File {
    fn write(&mut self, bytes: &[u8]) {
        if let Err(e) = self.file.write_all(bytes) {
            self.failed.report("file", &e);
        }
    }
    fn read_available(&mut self, _buf: &mut [u8]) -> usize {
        0
    }
    fn can_produce_input(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        format!("file:{}", self.path.display())
    }
}

/// A backend shared between owners: clones use the same backend. Lets a
/// front end open its backends once and hand them to each machine it
/// builds (after a guest reset the file is not truncated again, the pty
/// keeps its name and the socket its clients).
#[derive(Clone)]
pub struct Shared(Arc<Mutex<Box<dyn CharBackend>>>);

impl Shared {
    /// Shares `backend`.
    pub fn new(backend: Box<dyn CharBackend>) -> Self {
        Shared(Arc::new(Mutex::new(backend)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn CharBackend>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shared").field(&self.describe()).finish()
    }
}

impl CharBackend for Shared {
    fn write(&mut self, bytes: &[u8]) {
        self.lock().write(bytes);
    }
    fn read_available(&mut self, buf: &mut [u8]) -> usize {
        self.lock().read_available(buf)
    }
    fn can_produce_input(&self) -> bool {
        self.lock().can_produce_input()
    }
    fn describe(&self) -> String {
        self.lock().describe()
    }
}

/// A backend kept in memory, for scripted tests and embedding: everything
/// the guest sends is appended to a buffer, and input comes from a queue
/// the host fills with [`Capture::send`]. Clones share the buffer and the
/// queue, so the machine owns one and the test keeps another.
///
/// While the input is open ([`Capture::close_input`] not called) the
/// backend counts as able to produce input, so a machine whose cores all
/// wait for an interrupt keeps waiting for the host instead of reporting a
/// deadlock.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<CaptureState>>);

#[derive(Default)]
struct CaptureState {
    output: Vec<u8>,
    input: VecDeque<u8>,
    input_closed: bool,
    /// Set whenever a line ends ([`Capture::signal_lines`]).
    line_signal: Option<Arc<AtomicBool>>,
}

impl Capture {
    /// An empty buffer and an open, empty input queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CaptureState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `bytes` as input for the guest.
    pub fn send(&self, bytes: &[u8]) {
        self.lock().input.extend(bytes);
    }

    /// Input queued but not yet taken by the device.
    pub fn pending_input(&self) -> usize {
        self.lock().input.len()
    }

    /// No more input will be sent: once the queue is drained the backend
    /// no longer keeps a sleeping machine waiting.
    pub fn close_input(&self) {
        self.lock().input_closed = true;
    }

    /// Sets `flag` whenever the guest ends a line (`\n`) from now on: a
    /// harness waiting for a line passes the machine the same flag
    /// (`Machine::set_pause_request`), so the run stops right after the
    /// line instead of running on to the end of its time slice.
    pub fn signal_lines(&self, flag: Arc<AtomicBool>) {
        self.lock().line_signal = Some(flag);
    }

    fn append(&self, bytes: &[u8]) {
        let mut s = self.lock();
        s.output.extend_from_slice(bytes);
        if let Some(f) = &s.line_signal {
            if bytes.contains(&b'\n') {
                f.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Bytes the guest has sent so far.
    pub fn len(&self) -> usize {
        self.lock().output.len()
    }

    /// Whether the guest has sent nothing yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the guest's output from byte `from` on (empty past the end).
    pub fn output_from(&self, from: usize) -> Vec<u8> {
        let s = self.lock();
        s.output.get(from..).unwrap_or_default().to_vec()
    }

    /// A copy of everything the guest has sent.
    pub fn output(&self) -> Vec<u8> {
        self.output_from(0)
    }

    /// A writer appending to the same buffer (for output that arrives as
    /// a stream, e.g. semihosting's console).
    pub fn writer(&self) -> Box<dyn Write + Send> {
        Box::new(CaptureWriter(self.clone()))
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("Capture")
            .field("output", &s.output.len())
            .field("input", &s.input.len())
            .field("input_closed", &s.input_closed)
            .finish()
    }
}

impl CharBackend for Capture {
    fn write(&mut self, bytes: &[u8]) {
        self.append(bytes);
    }
    fn read_available(&mut self, buf: &mut [u8]) -> usize {
        let mut s = self.lock();
        let n = buf.len().min(s.input.len());
        for (d, b) in buf.iter_mut().zip(s.input.drain(..n)) {
            *d = b;
        }
        n
    }
    fn can_produce_input(&self) -> bool {
        let s = self.lock();
        !s.input.is_empty() || !s.input_closed
    }
    fn describe(&self) -> String {
        "capture".into()
    }
}

struct CaptureWriter(Capture);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod capture_tests {
    use super::*;

    #[test]
    fn capture_keeps_output_and_hands_out_queued_input() {
        let cap = Capture::new();
        let mut dev: Box<dyn CharBackend> = Box::new(cap.clone());
        dev.write(b"hello ");
        cap.writer().write_all(b"world").unwrap();
        assert_eq!(cap.output(), b"hello world");
        assert_eq!(cap.output_from(6), b"world");
        assert!(cap.output_from(100).is_empty());

        let mut buf = [0u8; 4];
        assert_eq!(dev.read_available(&mut buf), 0);
        assert!(dev.can_produce_input(), "input stays open until closed");
        cap.send(b"abcdef");
        assert_eq!(dev.read_available(&mut buf), 4);
        assert_eq!(&buf, b"abcd");
        cap.close_input();
        assert!(dev.can_produce_input(), "queued bytes are still to come");
        assert_eq!(dev.read_available(&mut buf), 2);
        assert_eq!(&buf[..2], b"ef");
        assert!(!dev.can_produce_input());
    }
}

// ---------------------------------------------------------------------------
// The console escape.

/// Ctrl-a: the escape prefix.
pub const ESCAPE: u8 = 0x01;

/// What an escape sequence asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapeCommand {
    /// `Ctrl-a x`: quit the emulator.
    Quit,
    /// `Ctrl-a h`: print the help.
    Help,
}

/// The help `Ctrl-a h` prints.
pub const ESCAPE_HELP: &str = "\
Ctrl-a h      print this help\n\
Ctrl-a x      quit the emulator\n\
Ctrl-a Ctrl-a send Ctrl-a to the guest\n";

/// The Ctrl-a escape state machine. Keeps its state between calls, so a
/// sequence may be split across reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct EscapeFilter {
    after_escape: bool,
}

impl EscapeFilter {
    /// Passes `input` through: guest bytes are appended to `out`, escape
    /// commands to `commands`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, commands: &mut Vec<EscapeCommand>) {
        for &b in input {
            if !self.after_escape {
                if b == ESCAPE {
                    self.after_escape = true;
                } else {
                    out.push(b);
                }
                continue;
            }
            self.after_escape = false;
            match b {
                ESCAPE => out.push(ESCAPE),
                b'x' | b'X' => commands.push(EscapeCommand::Quit),
                b'h' | b'H' | b'?' => commands.push(EscapeCommand::Help),
                _ => {}
            }
        }
    }
}

static QUIT: AtomicBool = AtomicBool::new(false);

/// Whether the user asked to quit from the console (`Ctrl-a x`). The
/// machine's run loop checks this between turns.
pub fn quit_requested() -> bool {
    QUIT.load(Ordering::Relaxed)
}

/// Asks the machine to quit, as `Ctrl-a x` does.
pub fn request_quit() {
    QUIT.store(true, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// Terminal raw mode.

/// The terminal settings to restore, while stdin is in raw mode.
static SAVED_TERMIOS: Mutex<Option<Termios>> = Mutex::new(None);

/// Puts stdin (a terminal) in raw mode, keeping output post-processing
/// (so `\n` still starts a new line). Returns whether it did.
fn enter_raw_mode() -> bool {
    static HOOK: Once = Once::new();
    let stdin = io::stdin();
    let mut saved = SAVED_TERMIOS.lock().unwrap_or_else(PoisonError::into_inner);
    if saved.is_some() {
        return true;
    }
    let orig = match termios::tcgetattr(&stdin) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the terminal settings; stdin stays in line mode");
            return false;
        }
    };
    let mut raw = orig.clone();
    termios::cfmakeraw(&mut raw);
    raw.output_flags |= termios::OutputFlags::OPOST;
    if let Err(e) = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw) {
        tracing::warn!(error = %e, "cannot put the terminal in raw mode; stdin stays in line mode");
        return false;
    }
    *saved = Some(orig);
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // try_lock: a panic while the settings are being changed must
            // not deadlock on this thread's own lock.
            if let Ok(mut saved) = SAVED_TERMIOS.try_lock() {
                if let Some(t) = saved.take() {
                    let _ = termios::tcsetattr(io::stdin(), SetArg::TCSADRAIN, &t);
                }
            }
            previous(info);
        }));
    });
    true
}

/// Restores the terminal settings [`Stdio`] changed, if it changed them.
/// Safe to call any number of times.
pub fn restore_terminal() {
    let mut saved = SAVED_TERMIOS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(t) = saved.take() {
        let _ = termios::tcsetattr(io::stdin(), SetArg::TCSADRAIN, &t);
    }
}

// ---------------------------------------------------------------------------
// stdin.

/// Chunks the reader thread may queue before it stops reading (so a huge
/// piped file is not read into memory faster than the guest takes it).
const STDIN_QUEUE: usize = 16;

/// The process's one stdin reader, shared by every [`Stdio`] backend
/// (a machine rebuilt after a guest reset gets a new backend, not a new
/// thread).
struct StdinInput {
    rx: Receiver<Vec<u8>>,
    /// The part of the last chunk not yet handed out.
    leftover: VecDeque<u8>,
    eof: bool,
}

fn stdin_input(escape: bool) -> &'static Mutex<StdinInput> {
    static INPUT: OnceLock<Mutex<StdinInput>> = OnceLock::new();
    INPUT.get_or_init(|| {
        let (tx, rx) = sync_channel::<Vec<u8>>(STDIN_QUEUE);
        let spawned = std::thread::Builder::new().name("stdin".into()).spawn(move || {
            let mut filter = EscapeFilter::default();
            let mut buf = [0u8; 1024];
            let mut stdin = io::stdin().lock();
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading stdin failed; no more console input");
                        return;
                    }
                };
                let chunk = if escape {
                    let mut out = Vec::with_capacity(n);
                    let mut commands = Vec::new();
                    filter.feed(&buf[..n], &mut out, &mut commands);
                    for c in commands {
                        match c {
                            EscapeCommand::Quit => request_quit(),
                            EscapeCommand::Help => eprint!("\n{ESCAPE_HELP}"),
                        }
                    }
                    out
                } else {
                    buf[..n].to_vec()
                };
                if !chunk.is_empty() && tx.send(chunk).is_err() {
                    return;
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the stdin reader; no console input");
        }
        Mutex::new(StdinInput {
            rx,
            leftover: VecDeque::new(),
            eof: false,
        })
    })
}

/// The host's stdin and stdout.
///
/// Output goes to stdout, flushed at every write. Input, when enabled,
/// comes from a background thread reading stdin. If stdin is a terminal
/// it is put in raw mode with the Ctrl-a escape (see the module docs);
/// otherwise bytes pass unchanged and end of file ends the input.
pub struct Stdio {
    input: Option<&'static Mutex<StdinInput>>,
    raw: bool,
    failed: WarnOnce,
}

impl Stdio {
    /// Stdout for output, stdin for input (raw mode and the escape when
    /// stdin is a terminal).
    pub fn new() -> Self {
        let tty = io::stdin().is_terminal();
        let raw = tty && enter_raw_mode();
        Stdio {
            input: Some(stdin_input(raw)),
            raw,
            failed: WarnOnce::default(),
        }
    }

    /// Stdout for output only: stdin is left alone (no raw mode, never
    /// read).
    pub fn output_only() -> Self {
        Stdio {
            input: None,
            raw: false,
            failed: WarnOnce::default(),
        }
    }

    /// Whether this backend put the terminal in raw mode (and so handles
    /// the Ctrl-a escape).
    pub fn is_raw(&self) -> bool {
        self.raw
    }
}

impl Default for Stdio {
    fn default() -> Self {
        Stdio::new()
    }
}

impl Drop for Stdio {
    fn drop(&mut self) {
        if self.raw {
            restore_terminal();
        }
    }
}

impl CharBackend for Stdio {
    fn write(&mut self, bytes: &[u8]) {
        let mut out = io::stdout().lock();
        if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
            self.failed.report("stdio", &e);
        }
    }

    fn read_available(&mut self, buf: &mut [u8]) -> usize {
        let Some(input) = self.input else {
            return 0;
        };
        let mut s = input.lock().unwrap_or_else(PoisonError::into_inner);
        let mut n = 0;
        while n < buf.len() {
            if s.leftover.is_empty() {
                match s.rx.try_recv() {
                    Ok(chunk) => s.leftover.extend(chunk),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        s.eof = true;
                        break;
                    }
                }
            }
            let take = s.leftover.len().min(buf.len() - n);
            for (dst, src) in buf[n..n + take].iter_mut().zip(s.leftover.drain(..take)) {
                *dst = src;
            }
            n += take;
        }
        n
    }

    fn can_produce_input(&self) -> bool {
        self.input.is_some_and(|i| {
            let s = i.lock().unwrap_or_else(PoisonError::into_inner);
            !(s.eof && s.leftover.is_empty())
        })
    }

    fn describe(&self) -> String {
        "stdio".into()
    }
}

// ---------------------------------------------------------------------------
// Pseudo-terminal.

/// A new pseudo-terminal: guest output is readable on its slave device
/// (`/dev/pts/N`, [`Pty::path`]) and what is written there is guest input.
///
/// The slave is kept open (in raw mode) by the backend itself, so clients
/// may come and go; output written while no client reads accumulates in
/// the kernel's buffer (a few KiB) and is dropped beyond that.
pub struct Pty {
    master: nix::pty::PtyMaster,
    _slave: std::fs::File,
    path: PathBuf,
    failed: WarnOnce,
}

impl Pty {
    /// Allocates a pseudo-terminal.
    pub fn open() -> Result<Self, ChardevError> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        use std::os::unix::fs::OpenOptionsExt;
        let err = |what: &str, e: nix::Error| ChardevError::Pty(format!("{what}: {e}"));
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).map_err(|e| err("posix_openpt", e))?;
        nix::pty::grantpt(&master).map_err(|e| err("grantpt", e))?;
        nix::pty::unlockpt(&master).map_err(|e| err("unlockpt", e))?;
        let path = PathBuf::from(nix::pty::ptsname_r(&master).map_err(|e| err("ptsname", e))?);
        fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(|e| err("O_NONBLOCK", e))?;
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(OFlag::O_NOCTTY.bits())
            .open(&path)
            .map_err(|e| ChardevError::Pty(format!("{}: {e}", path.display())))?;
        // Raw, so the line discipline neither echoes guest output back as
        // input nor rewrites bytes; a client sets its own mode on open.
        let mut t = termios::tcgetattr(&slave).map_err(|e| err("tcgetattr", e))?;
        termios::cfmakeraw(&mut t);
        termios::tcsetattr(&slave, SetArg::TCSANOW, &t).map_err(|e| err("tcsetattr", e))?;
        Ok(Pty {
            master,
            _slave: slave,
            path,
            failed: WarnOnce::default(),
        })
    }

    /// The slave device clients open, e.g. `/dev/pts/3`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CharBackend for Pty {
    fn write(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self.master.write(bytes) {
                Ok(0) => return,
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Nobody reads and the buffer is full: drop.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.failed.report("pty", &e);
                    return;
                }
            }
        }
    }

    fn read_available(&mut self, buf: &mut [u8]) -> usize {
        // EIO (no client has the slave open) and EAGAIN both mean "none".
        self.master.read(buf).unwrap_or(0)
    }

    fn can_produce_input(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("pty:{}", self.path.display())
    }
}

// ---------------------------------------------------------------------------
// TCP.

/// Output kept for a connected client whose socket is momentarily full;
/// beyond this, output is dropped.
pub const TCP_OUTPUT_BUFFER: usize = 64 * 1024;

/// A listening TCP socket serving one client at a time (raw bytes, no
/// telnet negotiation: use `nc`, `socat` or `telnet` in character mode).
///
/// Listens on 127.0.0.1 unless another address is given. Connections are
/// accepted without blocking when the device polls; further clients wait
/// in the backlog until the current one disconnects. Output while nobody
/// is connected is dropped (the guest does not stall, as with QEMU's
/// `server=on,wait=off`); while a client is connected, up to
/// [`TCP_OUTPUT_BUFFER`] bytes are kept when its socket is full, and the
/// excess is dropped.
pub struct Tcp {
    listener: TcpListener,
    client: Option<TcpStream>,
    pending: VecDeque<u8>,
    addr: String,
    failed: WarnOnce,
}

impl Tcp {
    /// Listens on `host:port` (port 0 picks a free port).
    pub fn listen(host: &str, port: u16) -> Result<Self, ChardevError> {
        let shown = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let fail = |source| ChardevError::Tcp {
            addr: shown.clone(),
            source,
        };
        let listener = TcpListener::bind((host, port)).map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        let addr = listener.local_addr().map_err(fail)?.to_string();
        Ok(Tcp {
            listener,
            client: None,
            pending: VecDeque::new(),
            addr,
            failed: WarnOnce::default(),
        })
    }

    /// The address actually listened on (with the real port when 0 was
    /// asked for).
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether a client is connected (after the last poll).
    pub fn is_connected(&self) -> bool {
        self.client.is_some()
    }

    fn accept(&mut self) {
        if self.client.is_some() {
            return;
        }
        match self.listener.accept() {
            Ok((s, peer)) => {
                if s.set_nonblocking(true).is_err() {
                    return;
                }
                let _ = s.set_nodelay(true);
                tracing::info!(addr = %self.addr, %peer, "serial client connected");
                self.client = Some(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => tracing::debug!(addr = %self.addr, error = %e, "accept failed"),
        }
    }

    fn disconnect(&mut self) {
        if self.client.take().is_some() {
            tracing::info!(addr = %self.addr, "serial client disconnected");
        }
        self.pending.clear();
    }

    /// Sends as much pending output as the socket takes.
    fn flush_pending(&mut self) {
        let Some(c) = &mut self.client else {
            return;
        };
        while !self.pending.is_empty() {
            let (front, _) = self.pending.as_slices();
            match c.write(front) {
                Ok(0) => return self.disconnect(),
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.disconnect(),
            }
        }
    }
}

impl CharBackend for Tcp {
    fn write(&mut self, bytes: &[u8]) {
        self.accept();
        if self.client.is_none() {
            return;
        }
        let room = TCP_OUTPUT_BUFFER - self.pending.len();
        if bytes.len() > room {
            self.failed.report(
                "tcp",
                &format_args!("client not reading; output beyond {TCP_OUTPUT_BUFFER} bytes dropped"),
            );
        }
        self.pending.extend(&bytes[..bytes.len().min(room)]);
        self.flush_pending();
    }

    fn read_available(&mut self, buf: &mut [u8]) -> usize {
        self.accept();
        self.flush_pending();
        let Some(c) = &mut self.client else {
            return 0;
        };
        if buf.is_empty() {
            return 0;
        }
        match c.read(buf) {
            Ok(0) => {
                self.disconnect();
                0
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => 0,
            Err(_) => {
                self.disconnect();
                0
            }
        }
    }

    fn can_produce_input(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("tcp:{}", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn parse(s: &str) -> Result<ChardevSpec, String> {
        s.parse::<ChardevSpec>().map_err(|e| e.to_string())
    }

    #[test]
    fn good_specs() {
        assert_eq!(parse("stdio"), Ok(ChardevSpec::Stdio));
        assert_eq!(parse("null"), Ok(ChardevSpec::Null));
        assert_eq!(parse("pty"), Ok(ChardevSpec::Pty));
        assert_eq!(parse("file:/tmp/a:b.log"), Ok(ChardevSpec::File("/tmp/a:b.log".into())));
        let tcp = |h: &str, port| ChardevSpec::Tcp { host: h.into(), port };
        assert_eq!(parse("tcp:4444"), Ok(tcp("127.0.0.1", 4444)));
        assert_eq!(parse("tcp:0"), Ok(tcp("127.0.0.1", 0)));
        assert_eq!(parse("tcp:0.0.0.0:23"), Ok(tcp("0.0.0.0", 23)));
        assert_eq!(parse("tcp:localhost:23"), Ok(tcp("localhost", 23)));
        assert_eq!(parse("tcp:[::1]:23"), Ok(tcp("::1", 23)));
        assert_eq!(parse("tcp:4444,server,nowait"), Ok(tcp("127.0.0.1", 4444)));
        assert_eq!(parse("tcp:4444,server=on,wait=off"), Ok(tcp("127.0.0.1", 4444)));
        for s in ["stdio", "null", "pty", "file:/x", "tcp:127.0.0.1:5", "tcp:[::1]:5"] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_specs() {
        let cases = [
            ("", "unknown kind"),
            ("serial", "unknown kind"),
            ("udp:1", "unknown kind"),
            ("stdio:x", "takes no argument"),
            ("file", "missing path"),
            ("file:", "missing path"),
            ("tcp", "missing port"),
            ("tcp:", "missing port"),
            ("tcp:http", "`http` is not a port"),
            ("tcp:70000", "`70000` is not a port"),
            ("tcp::4444", "empty host"),
            ("tcp:4444,telnet", "unsupported option `telnet`"),
        ];
        for (s, needle) in cases {
            let e = parse(s).unwrap_err();
            assert!(e.contains(needle), "{s:?}: {e}");
            assert!(e.contains(&format!("`{s}`")) || s.is_empty(), "{s:?}: {e}");
        }
        let e = open("file:/nonexistent/dir/x").err().unwrap();
        assert!(matches!(e, ChardevError::File { .. }), "{e}");
    }

    #[test]
    fn escape_state_machine() {
        let run = |chunks: &[&[u8]]| {
            let mut f = EscapeFilter::default();
            let (mut out, mut cmds) = (Vec::new(), Vec::new());
            for c in chunks {
                f.feed(c, &mut out, &mut cmds);
            }
            (out, cmds)
        };
        assert_eq!(run(&[b"ab\x03c"]), (b"ab\x03c".to_vec(), vec![]));
        assert_eq!(run(&[b"a\x01xb"]), (b"ab".to_vec(), vec![EscapeCommand::Quit]));
        assert_eq!(run(&[b"\x01\x01z"]), (b"\x01z".to_vec(), vec![]));
        assert_eq!(run(&[b"\x01h"]), (vec![], vec![EscapeCommand::Help]));
        // Unknown commands are dropped with the prefix.
        assert_eq!(run(&[b"\x01qr"]), (b"r".to_vec(), vec![]));
        // Split across reads.
        assert_eq!(run(&[b"a\x01", b"x"]), (b"a".to_vec(), vec![EscapeCommand::Quit]));
        assert_eq!(
            run(&[b"\x01", b"\x01", b"\x01", b"x"]),
            (b"\x01".to_vec(), vec![EscapeCommand::Quit])
        );
    }

    #[test]
    fn file_backend_writes_through() {
        let dir = std::env::temp_dir().join(format!("preboard-chardev-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.txt");
        let mut b = open(&format!("file:{}", path.display())).unwrap();
        b.write(b"hello ");
        b.write(b"file\n");
        assert_eq!(std::fs::read(&path).unwrap(), b"hello file\n");
        assert!(!b.can_produce_input());
        assert_eq!(b.read_available(&mut [0; 8]), 0);
        assert_eq!(b.describe(), format!("file:{}", path.display()));
        drop(b);
        // Opening again truncates.
        let b = File::create(&path).unwrap();
        drop(b);
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    /// Polls `b` until `n` bytes arrived or a few seconds passed.
    fn read_n(b: &mut dyn CharBackend, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let start = Instant::now();
        while got.len() < n && start.elapsed() < Duration::from_secs(5) {
            let mut buf = [0u8; 64];
            let k = b.read_available(&mut buf);
            got.extend_from_slice(&buf[..k]);
            if k == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        got
    }

    #[test]
    fn tcp_round_trip_on_localhost() {
        let mut b = Tcp::listen("127.0.0.1", 0).unwrap();
        let addr = b.local_addr().unwrap();
        assert!(addr.ip().is_loopback());
        assert_eq!(b.describe(), format!("tcp:{addr}"));
        // Nobody connected: output is dropped, no input, but input may come.
        b.write(b"lost");
        assert_eq!(b.read_available(&mut [0; 8]), 0);
        assert!(b.can_produce_input());

        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        client.write_all(b"ping").unwrap();
        assert_eq!(read_n(&mut b, 4), b"ping");
        assert!(b.is_connected());
        b.write(b"pong");
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"pong");

        // The client leaves; a second one is served next.
        drop(client);
        let start = Instant::now();
        while b.is_connected() && start.elapsed() < Duration::from_secs(5) {
            b.read_available(&mut [0; 8]);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(!b.is_connected());
        let mut second = TcpStream::connect(addr).unwrap();
        second.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        second.write_all(b"2").unwrap();
        assert_eq!(read_n(&mut b, 1), b"2");
        b.write(b"ok");
        let mut r = [0u8; 2];
        second.read_exact(&mut r).unwrap();
        assert_eq!(&r, b"ok");
    }

    #[test]
    fn tcp_spec_listens_on_loopback_by_default() {
        let b = open("tcp:0").unwrap();
        assert!(b.describe().starts_with("tcp:127.0.0.1:"), "{}", b.describe());
    }

    #[test]
    fn pty_round_trip() {
        let mut b = match Pty::open() {
            Ok(b) => b,
            Err(e) => {
                // Containers without /dev/pts cannot allocate one.
                eprintln!("NOTICE: no pseudo-terminal available ({e}); skipping");
                return;
            }
        };
        assert!(b.describe().starts_with("pty:/dev/"), "{}", b.describe());
        let mut client = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(b.path())
            .unwrap();
        client.write_all(b"in").unwrap();
        assert_eq!(read_n(&mut b, 2), b"in");
        b.write(b"out");
        let mut r = [0u8; 3];
        client.read_exact(&mut r).unwrap();
        assert_eq!(&r, b"out");
    }

    #[test]
    fn null_and_writer() {
        let mut n = Null;
        n.write(b"x");
        assert_eq!(n.read_available(&mut [0; 4]), 0);
        assert!(!n.can_produce_input());
        let mut w = Writer::new(Box::new(io::sink()));
        w.write(b"x");
        assert!(!w.can_produce_input());
        assert_eq!(Stdio::output_only().read_available(&mut [0; 4]), 0);
        assert!(!Stdio::output_only().can_produce_input());
    }
}
