//! Remote debugging end to end: `preboard run --gdb tcp::0 --wait-gdb`
//! on the 4-core `firmware/prebuilt/smp.elf` (firmware/smp/README.md),
//! driven by the real `gdb-multiarch` in batch mode under each engine,
//! and by a raw protocol client for what batch gdb cannot do (Ctrl-C, a
//! second client).

mod common;

use common::{preboard_command, repo, run_with_timeout, tool, Engine};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `preboard run` waiting for a debugger on a free port.
struct Stub {
    child: Child,
    port: u16,
    stdout: std::thread::JoinHandle<String>,
    stderr: mpsc::Receiver<String>,
}

impl Stub {
    fn start(engine: Engine) -> Stub {
        Stub::spawn(
            preboard_command()
                .args(["run", "--smp", "4", "--kernel"])
                .arg(repo("firmware/prebuilt/smp.elf"))
                .args(engine.args())
                .args(["--gdb", "tcp::0", "--wait-gdb"]),
        )
    }

    fn spawn(cmd: &mut Command) -> Stub {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run preboard");
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Port 0: the stub says where it listens.
        let port = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("preboard announces the gdb port");
            if let Some(addr) = line.strip_prefix("preboard: gdb stub listening on 127.0.0.1:") {
                break addr.trim().parse().expect("a port number");
            }
        };
        Stub {
            child,
            port,
            stdout,
            stderr: rx,
        }
    }

    /// Waits (at most `secs`) for preboard to exit: its code and stdout.
    fn finish(mut self, secs: u64) -> (Option<i32>, String, String) {
        let start = Instant::now();
        let code = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st.code();
            }
            if start.elapsed() > Duration::from_secs(secs) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        (code, self.stdout.join().unwrap(), stderr.join("\n"))
    }
}

/// `gdb-multiarch -batch -nx` with the firmware's symbols, connected to
/// `port`, running `cmds`; its output.
fn gdb(port: u16, cmds: &[&str]) -> String {
    let mut c = Command::new("gdb-multiarch");
    c.args(["-batch", "-nx", "-ex", "set architecture aarch64", "-ex"])
        .arg(format!("file {}", repo("firmware/prebuilt/smp.elf").display()))
        .args(["-ex", &format!("target remote 127.0.0.1:{port}")]);
    for cmd in cmds {
        c.args(["-ex", cmd]);
    }
    let r = run_with_timeout(&mut c, None, 120);
    format!("{}{}", r.stdout, r.stderr)
}

fn has_gdb() -> bool {
    tool("gdb-multiarch")
}

/// Threads, per-thread system registers, a breakpoint on a symbol,
/// stepi, a watchpoint with the data address, `monitor help`, detach.
fn session(engine: Engine) {
    if !has_gdb() {
        return;
    }
    let stub = Stub::start(engine);
    let out = gdb(
        stub.port,
        &[
            "info threads",
            "p/x $MPIDR_EL1",
            "thread 3",
            "p/x $MPIDR_EL1",
            "thread 1",
            "p/x $pc",
            "p $pc == (long)&_start",
            "p/x $cpsr",
            "break *secondary_main",
            "continue",
            "p/x $x0",
            "stepi",
            "p $pc == (long)&secondary_main + 4",
            "delete",
            "watch *(unsigned int *)&arrived",
            "continue",
            "p $pc == (long)&atomic_inc + 12",
            "monitor help",
            "delete",
            "detach",
        ],
    );
    let (code, stdout, stderr) = stub.finish(60);
    let ctx = format!("--- gdb:\n{out}\n--- preboard stdout:\n{stdout}\n--- stderr:\n{stderr}");
    // Every core is a thread; secondaries are still off.
    for t in 1..=4 {
        assert!(out.contains(&format!("Thread 1.{t} (core {}", t - 1)), "{ctx}");
    }
    assert!(out.contains("MPIDR 0x80000003, EL1, off"), "{ctx}");
    // MPIDR_EL1 per thread: bit 31 RES1, Aff0 = core (virt's layout).
    assert!(out.contains("$1 = 0x80000000"), "{ctx}");
    assert!(out.contains("$2 = 0x80000002"), "{ctx}");
    // Halted at the ELF entry, EL1h with DAIF masked (the reset state).
    assert!(out.contains("$4 = 1"), "{ctx}");
    assert!(out.contains("$5 = 0x3c5"), "{ctx}");
    // The first secondary reaches the breakpoint with its CPU_ON
    // context id 0xc0de0000 | index in x0 (firmware/smp/README.md).
    assert!(out.contains("Thread 2 hit Breakpoint 1, 0x"), "{ctx}");
    assert!(out.contains("$6 = 0xc0de0001"), "{ctx}");
    assert!(out.contains("$7 = 1"), "{ctx}: stepi moved one instruction");
    // The increment of `arrived` (atomic_inc's STLXR at +8) triggers the
    // watchpoint; gdb attributes it through the reported data address
    // and steps over the store.
    assert!(
        out.contains("Hardware watchpoint 2: *(unsigned int *)&arrived"),
        "{ctx}"
    );
    assert!(out.contains("Old value = 0\nNew value = 1"), "{ctx}");
    assert!(out.contains("$8 = 1"), "{ctx}: after the STLXR");
    assert!(out.contains("Preboard monitor commands:"), "{ctx}");
    assert!(out.contains("[Inferior 1 (process 1) detached]"), "{ctx}");
    // Detaching resumed the machine: the firmware finishes.
    assert!(stdout.contains("done: 0 failed"), "{ctx}");
    assert_eq!(code, Some(0), "{ctx}");
}

/// A register written from gdb changes what the guest does: `want` of the
/// first `check_eq` (the PSCI version query) no longer matches, so the
/// firmware reports one failure and exits with code 1.
fn write_register(engine: Engine) {
    if !has_gdb() {
        return;
    }
    let stub = Stub::start(engine);
    let out = gdb(
        stub.port,
        &[
            "break *check_eq",
            "continue",
            "set $x1 = 0x5eed",
            "p/x $x1",
            "delete",
            "continue",
        ],
    );
    let (code, stdout, stderr) = stub.finish(60);
    let ctx = format!("--- gdb:\n{out}\n--- preboard stdout:\n{stdout}\n--- stderr:\n{stderr}");
    assert!(out.contains("Thread 1 hit Breakpoint 1, 0x"), "{ctx}");
    assert!(out.contains("$1 = 0x5eed"), "{ctx}");
    assert!(out.contains("exited with code 01"), "{ctx}");
    assert!(stdout.contains("FAIL psci-version"), "{ctx}");
    assert!(stdout.contains("done: 1 failed"), "{ctx}");
    assert_eq!(code, Some(1), "{ctx}");
}

per_engine!(session, write_register);

fn packet(body: &str) -> Vec<u8> {
    let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    format!("${body}#{sum:02x}").into_bytes()
}

/// The next reply body (acks skipped), or `None` at end of stream.
fn reply(s: &mut TcpStream) -> Option<String> {
    let mut body = Vec::new();
    let mut b = [0u8];
    loop {
        if s.read(&mut b).ok()? == 0 {
            return None;
        }
        if b[0] == b'$' {
            break;
        }
    }
    loop {
        if s.read(&mut b).ok()? == 0 {
            return None;
        }
        if b[0] == b'#' {
            let mut sum = [0u8; 2];
            s.read_exact(&mut sum).ok()?;
            s.write_all(b"+").ok()?;
            return Some(String::from_utf8_lossy(&body).into_owned());
        }
        body.push(b[0]);
    }
}

/// A guest that spins for ever (`b .`) on `smp` cores, under the stub.
fn spinning(engine: Engine, dir: &common::TempDir, extra: &[&str]) -> Stub {
    let spin = dir.path("spin.bin");
    std::fs::write(&spin, 0x1400_0000u32.to_le_bytes()).unwrap();
    Stub::spawn(
        preboard_command()
            .args(["run", "--smp", "2", "--kernel"])
            .arg(&spin)
            .args(engine.args())
            .args(["--gdb", "tcp::0"])
            .args(extra),
    )
}

/// Ctrl-C stops a running machine; a second client is turned away while
/// one is attached; `D` detaches and the guest runs on.
fn raw_protocol(engine: Engine) {
    let dir = common::TempDir::new("gdb-raw");
    let mut stub = spinning(engine, &dir, &["--wait-gdb"]);
    let mut c = TcpStream::connect(("127.0.0.1", stub.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(&packet("?")).unwrap();
    let r = reply(&mut c).expect("a stop reply");
    assert!(r.starts_with("T05thread:"), "{r}");
    // A second debugger: closed at once, and the first goes on working.
    let mut second = TcpStream::connect(("127.0.0.1", stub.port)).unwrap();
    second.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 16];
    assert_eq!(second.read(&mut b).unwrap_or(0), 0, "the second client is closed");
    c.write_all(&packet("vCont;c")).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    c.write_all(&[0x03]).unwrap();
    let r = reply(&mut c).expect("a stop reply after Ctrl-C");
    assert!(r.starts_with("T02thread:"), "SIGINT: {r}");
    c.write_all(&packet("D")).unwrap();
    assert_eq!(reply(&mut c).as_deref(), Some("OK"));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        stub.child.try_wait().unwrap().is_none(),
        "the guest runs on after detaching"
    );
    let _ = stub.child.kill();
    let _ = stub.finish(10);
}

per_engine!(raw_protocol);

/// Without --wait-gdb the guest runs, a client attaches (stopping it),
/// detaches, and the guest keeps running; a later client can attach.
fn attach_to_a_running_guest(engine: Engine) {
    let dir = common::TempDir::new("gdb-attach");
    let mut stub = spinning(engine, &dir, &[]);
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(200));
        let mut c = TcpStream::connect(("127.0.0.1", stub.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(&packet("?")).unwrap();
        let r = reply(&mut c).expect("a stop reply");
        assert!(r.starts_with("T05thread:01"), "{r}");
        // The monitor's core listing shows instructions were retired
        // before the attach (hex-encoded console output).
        c.write_all(&packet("qRcmd,696e666f20636f726573")).unwrap();
        let out = reply(&mut c).expect("monitor output");
        let text: String = (0..out.len().saturating_sub(1) / 2)
            .filter_map(|i| u8::from_str_radix(&out[1 + 2 * i..3 + 2 * i], 16).ok())
            .map(char::from)
            .collect();
        assert!(text.contains("core 0: MPIDR 0x80000000 on EL1"), "{text}");
        assert!(!text.contains(", 0 instructions"), "{text}");
        assert_eq!(reply(&mut c).as_deref(), Some("OK"));
        c.write_all(&packet("D")).unwrap();
        assert_eq!(reply(&mut c).as_deref(), Some("OK"));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        stub.child.try_wait().unwrap().is_none(),
        "the guest runs on after detaching"
    );
    let _ = stub.child.kill();
    let _ = stub.finish(10);
}

per_engine!(attach_to_a_running_guest);

#[test]
fn bad_gdb_address_is_refused() {
    let r = run_with_timeout(
        preboard_command().args(["run", "--gdb", "tcp:nonsense", "--wait-gdb"]),
        None,
        30,
    );
    assert_eq!(r.code, Some(65), "{}", r.stderr);
    assert!(r.stderr.contains("--gdb \"tcp:nonsense\""), "{}", r.stderr);
}
