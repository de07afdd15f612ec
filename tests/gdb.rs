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

/// `gdb-multiarch -batch -nx` with the smp firmware's symbols, connected
/// to `port`, running `cmds`; its output.
fn gdb(port: u16, cmds: &[&str]) -> String {
    gdb_with("firmware/prebuilt/smp.elf", port, cmds)
}

/// [`gdb`] with the symbols of `elf`.
fn gdb_with(elf: &str, port: u16, cmds: &[&str]) -> String {
    let mut c = Command::new("gdb-multiarch");
    c.args(["-batch", "-nx", "-ex", "set architecture aarch64", "-ex"])
        .arg(format!("file {}", repo(elf).display()))
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

/// `monitor reset` in the middle of the SMP bring-up: the machine starts
/// over (secondaries off, core 0 at the ELF entry, the firmware's banner
/// printed again) with gdb still connected, and the breakpoint set before
/// the reset stops the first secondary again with its CPU_ON context id.
fn reset(engine: Engine) {
    if !has_gdb() {
        return;
    }
    let stub = Stub::start(engine);
    let out = gdb(
        stub.port,
        &[
            "break *secondary_main",
            "continue",
            "monitor reset",
            "maint flush register-cache",
            "info threads",
            "p $pc == (long)&_start",
            "p/x $cpsr",
            "continue",
            "p/x $x0",
            "delete",
            "detach",
        ],
    );
    let (code, stdout, stderr) = stub.finish(60);
    let ctx = format!("--- gdb:\n{out}\n--- preboard stdout:\n{stdout}\n--- stderr:\n{stderr}");
    assert_eq!(out.matches("Thread 2 hit Breakpoint 1, 0x").count(), 2, "{ctx}");
    assert!(out.contains("machine reset:"), "{ctx}");
    assert!(
        out.contains("core 0: MPIDR 0x80000000 on EL1 PC 0x40200000, 0 instructions"),
        "{ctx}"
    );
    // After the reset every secondary is off again (info threads).
    for t in 2..=4 {
        assert!(out.contains(&format!("MPIDR 0x8000000{}, EL1, off", t - 1)), "{ctx}");
    }
    assert!(out.contains("$1 = 1"), "{ctx}: core 0 at _start");
    assert!(out.contains("$2 = 0x3c5"), "{ctx}: the reset PSTATE");
    assert!(out.contains("$3 = 0xc0de0001"), "{ctx}");
    // The firmware started twice (images reloaded, RAM as at start) and
    // its second run finished after the detach.
    assert_eq!(stdout.matches("Preboard smp firmware").count(), 2, "{ctx}");
    assert!(stdout.contains("done: 0 failed"), "{ctx}");
    assert_eq!(code, Some(0), "{ctx}");
}

/// `monitor snapshot save`, then changes to registers (on two threads),
/// memory and execution, then `monitor snapshot load`: gdb reads back
/// exactly what it read at the save, and the restored machine runs the
/// firmware to its end.
fn snapshot_round_trip(engine: Engine) {
    if !has_gdb() {
        return;
    }
    let dir = common::TempDir::new(&format!("gdb-snap-{engine}"));
    let snap = dir.path("at-secondary.snap");
    let stub = Stub::start(engine);
    let state = "printf \"STATE t2 pc=%lx x0=%lx sp=%lx x19=%lx arrived=%d\\n\", $pc, $x0, $sp, $x19, *(int *)&arrived";
    let state1 = "printf \"STATE t1 pc=%lx x1=%lx v0=%lx\\n\", $pc, $x1, $v0.ud[0]";
    let save = format!("monitor snapshot save {}", snap.display());
    let load = format!("monitor snapshot load {}", snap.display());
    let out = gdb(
        stub.port,
        &[
            "break *secondary_main",
            "continue",
            "delete",
            state,
            "thread 1",
            state1,
            "thread 2",
            &save,
            // Change everything gdb looks at.
            "set $x0 = 0x1234",
            "set $x19 = 0x5678",
            "set var *(int *)&arrived = 77",
            "stepi 5",
            "thread 1",
            "set $x1 = 0x9abc",
            "set $v0.ud[0] = 0xdef0",
            state1,
            "thread 2",
            state,
            &load,
            "maint flush register-cache",
            state,
            "thread 1",
            state1,
            "detach",
        ],
    );
    let (code, stdout, stderr) = stub.finish(60);
    let ctx = format!("--- gdb:\n{out}\n--- preboard stdout:\n{stdout}\n--- stderr:\n{stderr}");
    assert!(out.contains("machine saved to"), "{ctx}");
    assert!(out.contains("machine restored from"), "{ctx}");
    let lines = |tag: &str| -> Vec<String> { out.lines().filter(|l| l.starts_with(tag)).map(str::to_string).collect() };
    let t2 = lines("STATE t2");
    let t1 = lines("STATE t1");
    assert_eq!((t2.len(), t1.len()), (3, 3), "{ctx}");
    // Changed in between, and back as saved after the load.
    assert_ne!(t2[1], t2[0], "{ctx}");
    assert_eq!(t2[2], t2[0], "{ctx}");
    assert!(t2[0].contains("x0=c0de0001"), "{ctx}");
    assert!(t2[1].contains("x0=1234") && t2[1].contains("arrived=77"), "{ctx}");
    assert_ne!(t1[1], t1[0], "{ctx}");
    assert_eq!(t1[2], t1[0], "{ctx}");
    // The restored machine finishes the bring-up as if never stopped.
    assert!(stdout.contains("done: 0 failed"), "{ctx}");
    assert_eq!(code, Some(0), "{ctx}");
}

/// `monitor info gic` on virt-gicv3 with the timer firmware stopped in its
/// IRQ handler, before it acknowledges the first interrupt: the state its
/// source (firmware/timer/main.c gic_init, GICv3 path) programmed, the
/// physical timer's PPI 30 pending, and nothing active yet.
fn info_gic_v3(engine: Engine) {
    if !has_gdb() {
        return;
    }
    let stub = Stub::spawn(
        preboard_command()
            .args(["run", "--board", "virt-gicv3", "--kernel"])
            .arg(repo("firmware/prebuilt/timer.elf"))
            .args(engine.args())
            .args(["--gdb", "tcp::0", "--wait-gdb"]),
    );
    let out = gdb_with(
        "firmware/prebuilt/timer.elf",
        stub.port,
        &["break *handler", "continue", "monitor info gic", "delete", "detach"],
    );
    let (_, stdout, stderr) = stub.finish(60);
    let ctx = format!("--- gdb:\n{out}\n--- preboard stdout:\n{stdout}\n--- stderr:\n{stderr}");
    // GICD_CTLR = ARE | EnableGrp1 | EnableGrp0 as written; DS reads 1.
    assert!(
        out.contains("GICv3: GICD_CTLR 0x53 (EnableGrp0 1, EnableGrp1 1, ARE 1, DS 1)"),
        "{ctx}"
    );
    // The redistributor woken through GICR_WAKER, IGRPEN1 set, PMR written
    // with 0xff (5 implemented priority bits: 0xf8, soc::gic docs).
    assert!(out.contains("core 0: redistributor (affinity 0x0) awake"), "{ctx}");
    assert!(
        out.contains("ICC_IGRPEN0_EL1 0, ICC_IGRPEN1_EL1 1, ICC_PMR_EL1 0xf8"),
        "{ctx}"
    );
    // IGROUPR0 = all ones; SGI 5, PPIs 27 and 30 enabled at priority 0x80.
    assert!(out.contains("SGIs and PPIs: group 1: 0-31"), "{ctx}");
    assert!(out.contains("INTID 5    enabled "), "{ctx}");
    assert!(out.contains("INTID 27   enabled "), "{ctx}");
    assert!(
        out.contains("INTID 30   enabled pending          priority 0x80 group 1 level (input high)"),
        "{ctx}"
    );
    assert!(
        out.contains("highest pending 30 (priority 0x80, group 1); IRQ 1"),
        "{ctx}"
    );
    assert!(out.contains("ICC_RPR_EL1 0xff"), "{ctx}: nothing active");
}

/// A hardware breakpoint with a condition gdb evaluates (only the second
/// secondary's context id passes), then read and access watchpoints on
/// `arrived` reported with their kind.
fn conditions_and_watch_kinds(engine: Engine) {
    if !has_gdb() {
        return;
    }
    let stub = Stub::start(engine);
    let out = gdb(
        stub.port,
        &[
            "hbreak *secondary_main if $x0 == 0xc0de0002",
            "continue",
            "p/x $x0",
            "p/x $MPIDR_EL1",
            "delete",
            "rwatch *(unsigned int *)&arrived",
            "continue",
            "delete",
            "awatch *(unsigned int *)&arrived",
            "continue",
            "delete",
            "detach",
        ],
    );
    let (code, stdout, stderr) = stub.finish(60);
    let ctx = format!("--- gdb:\n{out}\n--- preboard stdout:\n{stdout}\n--- stderr:\n{stderr}");
    assert!(out.contains("Hardware assisted breakpoint 1 at 0x"), "{ctx}");
    assert!(out.contains("Thread 3 hit Breakpoint 1, 0x"), "{ctx}");
    assert!(out.contains("$1 = 0xc0de0002"), "{ctx}");
    assert!(out.contains("$2 = 0x80000002"), "{ctx}");
    assert!(
        out.contains("Hardware read watchpoint 2: *(unsigned int *)&arrived"),
        "{ctx}"
    );
    assert!(out.contains("Value = "), "{ctx}");
    assert!(
        out.contains("Hardware access (read/write) watchpoint 3: *(unsigned int *)&arrived"),
        "{ctx}"
    );
    assert!(stdout.contains("done: 0 failed"), "{ctx}");
    assert_eq!(code, Some(0), "{ctx}");
}

per_engine!(
    session,
    write_register,
    reset,
    snapshot_round_trip,
    info_gic_v3,
    conditions_and_watch_kinds
);

/// `--deterministic`: the instruction counts and virtual time `monitor
/// info time` shows at a breakpoint are the same under both engines (the
/// promise of deterministic mode), and three `stepi`s add exactly three
/// instructions and 3 ns of virtual time (1 ns per instruction).
#[test]
fn deterministic_counts_agree_across_engines() {
    if !has_gdb() {
        return;
    }
    let mut seen = Vec::new();
    for engine in [Engine::Interp, Engine::Jit] {
        let stub = Stub::spawn(
            preboard_command()
                .args(["run", "--smp", "4", "--deterministic", "--kernel"])
                .arg(repo("firmware/prebuilt/smp.elf"))
                .args(engine.args())
                .args(["--gdb", "tcp::0", "--wait-gdb"]),
        );
        let out = gdb(
            stub.port,
            &[
                "break *secondary_main",
                "continue",
                "monitor info time",
                "delete",
                "stepi 3",
                "monitor info time",
                "detach",
            ],
        );
        let (code, stdout, stderr) = stub.finish(60);
        let ctx = format!("--- {engine} gdb:\n{out}\n--- preboard stdout:\n{stdout}\n--- stderr:\n{stderr}");
        assert_eq!(code, Some(0), "{ctx}");
        let counts: Vec<u64> = out
            .lines()
            .filter_map(|l| l.strip_prefix("instructions retired: "))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect();
        let ns: Vec<u64> = out
            .lines()
            .filter_map(|l| l.strip_prefix("deterministic time: "))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .collect();
        assert_eq!((counts.len(), ns.len()), (2, 2), "{ctx}");
        assert_eq!(counts[1], counts[0] + 3, "{ctx}");
        assert_eq!(ns[1], ns[0] + 3, "{ctx}");
        let per_core: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("instructions retired: "))
            .collect();
        seen.push((per_core.join("\n"), ns));
    }
    assert_eq!(seen[0], seen[1], "interp vs jit");
}

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
    // One directory per engine: both variants run at once.
    let dir = common::TempDir::new(&format!("gdb-raw-{engine}"));
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
    let dir = common::TempDir::new(&format!("gdb-attach-{engine}"));
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
