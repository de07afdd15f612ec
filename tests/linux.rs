//! An unmodified Debian arm64 kernel (and busybox userspace) boots on the
//! `virt` board (2 cores, GICv2) and on `virt-gicv3` (4 cores) under the
//! JIT, and works in the ways a user would check by hand at its shell:
//! disk, RNG, network, clock, CPUs, interrupts, consoles, poweroff (also
//! through the power key) and reboot. The guest comes from `scripts/fetch-linux-guest.sh` (CI runs
//! it before the tests); without it the tests skip with a notice, or fail
//! when `PREBOARD_REQUIRE_TOOLS=1`. `PREBOARD_LINUX_GUEST=DIR` names another
//! guest directory. `PREBOARD_LINUX_INTERP=1` adds the same boot under the
//! interpreter (minutes rather than seconds; not run in CI).

mod common;

use common::{preboard_command, TempDir};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What `/init` prints once the modules are loaded, before the shell.
const MARKER: &str = "PREBOARD-INIT-OK";

/// Lines a healthy boot never prints: kernel warnings, oopses, exception
/// reports, device-tree and firmware complaints, RCU stalls and hung tasks,
/// secondary cores that did not come up, and `/init`'s failed module loads.
const BAD: &[&str] = &[
    "WARNING:",
    "Oops",
    "Bad mode",
    "BUG:",
    "Kernel panic",
    "Call trace",
    "Unable to handle",
    "Internal error",
    // The kernel's device-tree code prints under "OF: " only to complain
    // on these boards (QEMU's virt boot of the same kernel prints none),
    // and its flattened-tree checks name the FDT.
    "OF: ",
    "FDT",
    "[Firmware Bug]",
    "rcu: INFO",
    "detected stall",
    "blocked for more than",
    "failed to come online",
    "failed to boot",
    "PREBOARD-INIT: insmod",
    "insmod:",
];

/// The fetched guest.
struct Guest {
    kernel: PathBuf,
    initrd: PathBuf,
    disk: PathBuf,
    /// Files the disk was made from (hello.txt, data.bin).
    disk_root: PathBuf,
    /// The kernel's `uname -r`, as the package names it.
    release: String,
}

/// The guest `scripts/fetch-linux-guest.sh` left in
/// `$CARGO_TARGET_DIR/linux-guest` (or `PREBOARD_LINUX_GUEST`), or `None`
/// with a notice.
fn guest() -> Option<Guest> {
    let dir = std::env::var_os("PREBOARD_LINUX_GUEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../linux-guest"));
    let g = Guest {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.gz"),
        disk: dir.join("disk.img"),
        disk_root: dir.join("disk-root"),
        release: std::fs::read_to_string(dir.join("kernel-release"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    };
    let complete = dir.join(".complete").exists() && g.kernel.exists() && g.initrd.exists() && g.disk.exists();
    if !complete {
        assert!(
            std::env::var_os("PREBOARD_REQUIRE_TOOLS").is_none(),
            "no Debian guest in {} (PREBOARD_REQUIRE_TOOLS is set): run scripts/fetch-linux-guest.sh",
            dir.display()
        );
        eprintln!(
            "NOTICE: no Debian guest in {}; skipping (run scripts/fetch-linux-guest.sh)",
            dir.display()
        );
        return None;
    }
    Some(g)
}

/// Output gathered by a reader thread (carriage returns dropped), with a
/// condition to wait on.
#[derive(Default)]
struct Sink {
    bytes: Mutex<(Vec<u8>, bool)>,
    grew: Condvar,
}

impl Sink {
    /// Reads `from` until EOF on a thread of its own.
    fn collect(from: impl std::io::Read + Send + 'static) -> Arc<Sink> {
        let sink = Arc::new(Sink::default());
        let s = sink.clone();
        std::thread::spawn(move || {
            let mut from = from;
            let mut buf = [0u8; 4096];
            loop {
                let n = from.read(&mut buf).unwrap_or(0);
                let mut g = s.bytes.lock().unwrap();
                if n == 0 {
                    g.1 = true;
                    s.grew.notify_all();
                    return;
                }
                // Without the tty's carriage returns, as [`common::text`].
                g.0.extend(buf[..n].iter().copied().filter(|&b| b != b'\r'));
                s.grew.notify_all();
            }
        });
        sink
    }

    fn text(&self) -> String {
        common::text(&self.bytes.lock().unwrap().0)
    }

    /// Waits (up to `limit`) until the reader has seen EOF.
    fn wait_eof(&self, limit: Duration) {
        let g = self.bytes.lock().unwrap();
        let _ = self.grew.wait_timeout_while(g, limit, |g| !g.1).unwrap();
    }

    /// Waits until the text after byte `from` contains `needle`; returns
    /// the offset just past it, or `None` at EOF or after `limit`.
    fn wait_for(&self, needle: &str, from: usize, limit: Duration) -> Option<usize> {
        let deadline = Instant::now() + limit;
        let mut g = self.bytes.lock().unwrap();
        loop {
            let hay = &g.0[from.min(g.0.len())..];
            if let Some(i) = hay.windows(needle.len()).position(|w| w == needle.as_bytes()) {
                return Some(from + i + needle.len());
            }
            let now = Instant::now();
            if g.1 || now >= deadline {
                return None;
            }
            g = self.grew.wait_timeout(g, deadline - now).unwrap().0;
        }
    }
}

/// A booting `preboard run` whose console is driven through stdin/stdout.
struct Machine {
    child: Child,
    stdin: ChildStdin,
    out: Arc<Sink>,
    err: Arc<Sink>,
    /// Where the next wait starts in `out`.
    pos: usize,
    /// Commands run so far (numbers their markers).
    n: u32,
}

impl Machine {
    fn start(guest: &Guest, engine: common::Engine, extra: &[&str]) -> Machine {
        let mut cmd = preboard_command();
        cmd.arg("run")
            .args(engine.args())
            .arg("--kernel")
            .arg(&guest.kernel)
            .arg("--initrd")
            .arg(&guest.initrd)
            .args(["--append", "console=ttyAMA0 panic=-1", "-m", "512M"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Machine::spawn(cmd)
    }

    /// The same guest through `preboard qemu`, with QEMU's spelling of
    /// the machine, memory, kernel and console options, and `extra`.
    fn start_qemu(guest: &Guest, extra: &[&str]) -> Machine {
        let mut cmd = preboard_command();
        cmd.args([
            "qemu",
            "-M",
            "virt",
            "-cpu",
            "cortex-a57",
            "-m",
            "512",
            "-nographic",
            "-kernel",
        ])
        .arg(&guest.kernel)
        .arg("-initrd")
        .arg(&guest.initrd)
        .args(["-append", "console=ttyAMA0 panic=-1"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        Machine::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Machine {
        let mut child = cmd.spawn().expect("run preboard");
        let stdin = child.stdin.take().unwrap();
        let out = Sink::collect(child.stdout.take().unwrap());
        let err = Sink::collect(child.stderr.take().unwrap());
        Machine {
            child,
            stdin,
            out,
            err,
            pos: 0,
            n: 0,
        }
    }

    /// Fails the test with the transcript's tail and stderr.
    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let out = self.out.text();
        let tail: String = out
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "{what}\n--- console (last 60 lines) ---\n{tail}\n--- stderr ---\n{}",
            self.err.text()
        );
    }

    /// Waits for `needle` on the console after what was already consumed.
    fn expect(&mut self, needle: &str, secs: u64) {
        match self.out.wait_for(needle, self.pos, Duration::from_secs(secs)) {
            Some(end) => self.pos = end,
            None => self.fail(&format!("no {needle:?} on the console within {secs} s")),
        }
    }

    /// Waits for `/init`'s marker and the shell's prompt.
    fn boot(&mut self, secs: u64) {
        self.expect(MARKER, secs);
        self.expect("# ", 30);
    }

    fn send(&mut self, line: &str) {
        if let Err(e) = self.stdin.write_all(format!("{line}\n").as_bytes()) {
            self.fail(&format!("cannot type {line:?}: {e}"));
        }
    }

    /// Runs `cmd` in the guest's shell; its output (without the echo of
    /// the command line) and exit status. The markers are split by
    /// quotes so the terminal's echo of the command never matches them.
    fn run(&mut self, cmd: &str, secs: u64) -> (String, i32) {
        self.n += 1;
        let n = self.n;
        self.send(&format!("echo '@@BEG''IN-{n}@@'; {cmd}; echo \"@@EN\"\"D-{n} $?@@\""));
        let begin = format!("@@BEGIN-{n}@@\n");
        self.expect(&begin, secs);
        let start = self.pos;
        let end = format!("@@END-{n} ");
        self.expect(&end, secs);
        let body_end = self.pos - end.len();
        let status_start = self.pos;
        self.expect("@@", secs);
        let all = self.out.bytes.lock().unwrap().0.clone();
        let body = common::text(&all[start..body_end]);
        let status = common::text(&all[status_start..self.pos - 2])
            .trim()
            .parse()
            .unwrap_or_else(|_| self.fail(&format!("no exit status after {cmd:?}")));
        // The next command is typed at the prompt, as by hand.
        self.expect("# ", secs);
        (body, status)
    }

    /// [`Machine::run`], which must succeed.
    fn ok(&mut self, cmd: &str, secs: u64) -> String {
        let (out, status) = self.run(cmd, secs);
        if status != 0 {
            self.fail(&format!("{cmd:?} exited {status}: {out}"));
        }
        out
    }

    /// Types `line` (e.g. `poweroff -f`) and waits for preboard to exit;
    /// its exit code and the whole console transcript.
    fn finish(mut self, line: &str, secs: u64) -> (Option<i32>, String) {
        self.send(line);
        self.wait_exit(line, secs)
    }

    /// Sends preboard SIGTERM, as a host shutdown would (it presses the
    /// board's power key), and waits for it to exit: its exit code and the
    /// whole console transcript.
    fn terminate(mut self, secs: u64) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        if !sent.as_ref().is_ok_and(|s| s.success()) {
            self.fail(&format!("kill -TERM {pid}: {sent:?}"));
        }
        self.wait_exit("SIGTERM", secs)
    }

    fn wait_exit(mut self, after: &str, secs: u64) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.out.wait_eof(Duration::from_secs(5));
                self.err.wait_eof(Duration::from_secs(5));
                return (st.code(), self.out.text());
            }
            if Instant::now() > deadline {
                self.fail(&format!("still running {secs} s after {after}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Every line of the transcript that a healthy boot never prints.
fn bad_lines(transcript: &str) -> Vec<&str> {
    transcript
        .lines()
        .filter(|l| BAD.iter().any(|b| l.contains(b)))
        .collect()
}

/// `sha256sum`'s digest of a host file.
fn host_sha256(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    common::text(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// A one-shot HTTP server on the host's loopback serving `body`; its port.
fn http_once(body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&b[..n]),
                }
            }
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// The address `preboard` announced for `name`'s TCP backend on stderr.
fn announced(m: &mut Machine, name: &str) -> String {
    let needle = format!("preboard: {name} redirected to tcp:");
    let Some(end) = m.err.wait_for(&needle, 0, Duration::from_secs(20)) else {
        m.fail(&format!("no {needle:?}"))
    };
    let err = m.err.bytes.lock().unwrap().0.clone();
    common::text(&err[end..]).lines().next().unwrap().trim().to_string()
}

/// Seconds since the epoch on the host.
fn host_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The workload each core runs: the sum of i² mod 7 for i = 1..=n, in
/// awk (double arithmetic, exact at this size).
fn workload(n: u64) -> String {
    format!("awk 'BEGIN {{ s = 0; for (i = 1; i <= {n}; i++) s += (i * i) % 7; print s }}'")
}

fn workload_expected(n: u64) -> u64 {
    (1..=n).map(|i| (i * i) % 7).sum()
}

/// Boots on 2 cores with a virtio disk, RNG, NIC and console, and checks
/// each at the shell.
fn debian_boots_and_works(engine: common::Engine, boot_secs: u64) {
    let Some(g) = guest() else { return };
    let tmp = TempDir::new(&format!("debian-{engine}"));
    let disk = tmp.path("disk.img");
    std::fs::copy(&g.disk, &disk).expect("copy the disk image");
    let drive = format!("{},serial=pbdisk0", disk.display());
    let nonce = format!("{:x}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
    let body = format!("served-by-the-host {nonce}\n");
    let port = http_once(body.clone());
    let mut m = Machine::start(
        &g,
        engine,
        &[
            "--smp",
            "2",
            "--drive",
            &drive,
            "--rng",
            "--nic",
            "user",
            "--virtio-console",
            "tcp:0",
        ],
    );
    let hvc = announced(&mut m, "virtio-console");
    m.boot(boot_secs);
    // Kernel messages from here on would interleave with command output;
    // the full log is checked at the end through dmesg.
    m.ok("dmesg -n 1", 30);

    assert_eq!(m.ok("uname -r", 30).trim(), g.release, "uname -r");
    assert_eq!(m.ok("uname -m", 30).trim(), "aarch64");

    // The disk: its files read back as the host wrote them.
    m.ok("mount -t ext4 /dev/vda /mnt", 60);
    let sum = m.ok("sha256sum /mnt/data.bin", 60);
    assert_eq!(
        sum.split_whitespace().next().unwrap_or(""),
        host_sha256(&g.disk_root.join("data.bin")),
        "data.bin on the virtio disk"
    );
    assert_eq!(m.ok("cat /mnt/hello.txt", 30), "hello from the host\n");
    assert_eq!(m.ok("cat /sys/block/vda/serial", 30).trim(), "pbdisk0");
    m.ok("umount /mnt", 30);

    // Both cores, each running the workload pinned to itself.
    let n = 200_000;
    let w = workload(n);
    let sums = m.ok(&format!("taskset -c 0 {w} & taskset -c 1 {w}; wait"), 120);
    let expected = workload_expected(n).to_string();
    assert_eq!(
        sums.split_whitespace().collect::<Vec<_>>(),
        [&expected, &expected],
        "{sums}"
    );

    // /proc/cpuinfo describes the two Cortex-A57s (MIDR 0x411fd070).
    let cpuinfo = m.ok("cat /proc/cpuinfo", 30);
    assert_eq!(cpuinfo.matches("processor\t:").count(), 2, "{cpuinfo}");
    for field in [
        "CPU implementer\t: 0x41",
        "CPU variant\t: 0x1",
        "CPU part\t: 0xd07",
        "CPU revision\t: 0",
    ] {
        assert_eq!(cpuinfo.matches(field).count(), 2, "{field}: {cpuinfo}");
    }
    let features = cpuinfo.lines().find(|l| l.starts_with("Features")).unwrap_or("");
    for f in ["fp", "asimd"] {
        assert!(features.split_whitespace().any(|w| w == f), "{f}: {features}");
    }
    assert_eq!(m.ok("nproc", 30).trim(), "2");

    // Wall-clock time from the PL031 at boot, kept by the timer since.
    let guest_now: i64 = m.ok("date +%s", 30).trim().parse().expect("date +%s");
    let drift = guest_now - host_now();
    assert!(drift.abs() <= 30, "guest clock is {drift} s off the host's");
    assert_eq!(
        m.ok(
            "cat /sys/devices/system/clocksource/clocksource0/current_clocksource",
            30
        )
        .trim(),
        "arch_sys_counter"
    );

    // virtio-rng behind /dev/hwrng.
    assert!(
        m.ok("cat /sys/class/misc/hw_random/rng_current", 30)
            .starts_with("virtio_rng"),
        "rng_current"
    );
    let hex = m.ok("head -c 64 /dev/hwrng | od -An -v -tx1", 30);
    let bytes: Vec<&str> = hex.split_whitespace().collect();
    assert_eq!(bytes.len(), 64, "{hex}");
    assert!(bytes.iter().any(|b| *b != "00"), "{hex}");

    // virtio-net: DHCP from user-mode networking, then HTTP from the host.
    m.ok(
        "ifconfig eth0 up && udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 5",
        60,
    );
    assert!(m.ok("ifconfig eth0", 30).contains("10.0.2.15"), "eth0's address");
    let got = m.ok(&format!("wget -q -O - http://10.0.2.2:{port}/file"), 60);
    assert_eq!(got, body, "wget from the host");

    // A shell on the virtio-console (/dev/hvc0), reached over TCP.
    let mut sock = TcpStream::connect(&hvc).unwrap_or_else(|e| m.fail(&format!("connect {hvc}: {e}")));
    sock.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    sock.write_all(b"echo hvc-$((6 * 7))-$(tty)\n").unwrap();
    let mut reader = BufReader::new(sock);
    let mut line = String::new();
    let mut seen = false;
    for _ in 0..20 {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.trim() == "hvc-42-/dev/hvc0" {
            seen = true;
            break;
        }
    }
    if !seen {
        m.fail("no answer from the shell on /dev/hvc0");
    }

    m.ok("dmesg", 60);
    let (code, transcript) = m.finish("poweroff -f", 60);
    assert_eq!(code, Some(0), "exit code after poweroff");
    let bad = bad_lines(&transcript);
    assert!(bad.is_empty(), "the boot log has complaints:\n{}", bad.join("\n"));
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "no JIT backend for this host")]
fn debian_boots_on_two_cores_and_its_devices_work_under_the_jit() {
    debian_boots_and_works(common::Engine::Jit, 120);
}

/// Four cores (PSCI CPU_ON) on a GICv3 (`virt-gicv3`: distributor,
/// one redistributor per core, system-register CPU interface): every core
/// comes online, takes its own timer interrupts (PPIs through its
/// redistributor) and IPIs (SGIs), and runs a share of the work; a
/// host shutdown (SIGTERM: the power key) powers it off cleanly.
#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "no JIT backend for this host")]
fn debian_boots_on_four_cores_with_a_gicv3_under_the_jit() {
    let Some(g) = guest() else { return };
    let mut m = Machine::start(&g, common::Engine::Jit, &["--board", "virt-gicv3", "--smp", "4"]);
    m.boot(180);
    m.ok("dmesg -n 1", 30);

    assert_eq!(m.ok("cat /sys/devices/system/cpu/online", 30).trim(), "0-3");
    assert_eq!(m.ok("nproc", 30).trim(), "4");

    // One pinned workload per core, all at once: the scheduler wakes the
    // idle cores with IPIs, and each result must be right.
    let n = 40_000;
    let w = workload(n);
    let sums = m.ok(
        &format!("for c in 0 1 2; do taskset -c $c {w} & done; taskset -c 3 {w}; wait"),
        180,
    );
    let expected = workload_expected(n).to_string();
    assert_eq!(sums.split_whitespace().collect::<Vec<_>>(), [&expected; 4], "{sums}");

    // Linux's GICv3 driver names its chip "GICv3"; the timer is INTID 27
    // (PPI 11, the virtual timer in the device tree), level-triggered; and
    // every core has taken some of its own timer interrupts and some IPIs.
    let irqs = m.ok("cat /proc/interrupts", 30);
    let row = |name: &str| -> Vec<&str> {
        irqs.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name) || f.last() == Some(&name))
            .unwrap_or_else(|| panic!("no {name} row in /proc/interrupts:\n{irqs}"))
    };
    let counts = |name: &str| -> Vec<u64> {
        row(name)[1..5]
            .iter()
            .map(|f| f.parse().unwrap_or_else(|_| panic!("{name}'s counts:\n{irqs}")))
            .collect()
    };
    assert_eq!(row("arch_timer")[5..], ["GICv3", "27", "Level", "arch_timer"], "{irqs}");
    assert!(counts("arch_timer").iter().all(|&c| c > 0), "arch_timer:\n{irqs}");
    let (resched, calls) = (counts("IPI0:"), counts("IPI1:"));
    assert!(
        (0..4).all(|c| resched[c] + calls[c] > 0),
        "a core took no IPIs:\n{irqs}"
    );

    // The whole kernel log, for the scan below.
    m.ok("dmesg", 60);
    // A host shutdown: SIGTERM presses the power key (a PL061 line, an SPI
    // routed by the distributor), /init's acpid powers off, through PSCI.
    let err = m.err.clone();
    let (code, transcript) = m.terminate(60);
    let err = err.text();
    assert_eq!(code, Some(0), "exit code after the power key: {err}");
    assert!(err.contains("pressing the power key"), "{err}");
    assert!(
        !err.contains("did not power off"),
        "the guest ignored the power key: {err}"
    );
    assert!(transcript.contains("reboot: Power down"), "a clean power-off");
    for c in 0..4 {
        let found = format!(
            "GICv3: CPU{c}: found redistributor {c} region 0:0x{:016x}",
            0x080a_0000 + c * 0x2_0000
        );
        assert!(transcript.contains(&found), "no {found:?} in the boot log");
    }
    assert!(
        transcript.contains("smp: Brought up 1 node, 4 CPUs"),
        "the boot log's CPU count"
    );
    // /chosen's kaslr-seed: the kernel chose a random address, as on QEMU.
    assert!(transcript.contains("KASLR enabled"), "no KASLR in the boot log");
    let bad = bad_lines(&transcript);
    assert!(bad.is_empty(), "the boot log has complaints:\n{}", bad.join("\n"));
}

/// The interpreter boots the same guest, slowly: only with
/// `PREBOARD_LINUX_INTERP=1`.
#[test]
fn debian_boots_under_the_interpreter_when_asked() {
    if std::env::var_os("PREBOARD_LINUX_INTERP").is_none() {
        eprintln!("NOTICE: set PREBOARD_LINUX_INTERP=1 to boot Debian under the interpreter");
        return;
    }
    debian_boots_and_works(common::Engine::Interp, 1200);
}

/// What the guest writes to its disk survives `reboot` (the machine
/// restarts from its inputs) and the emulator's exit: the rebooted guest
/// and the host's debugfs both read it back. Started through `preboard
/// qemu` with QEMU's spelling of the same command line (JIT, 1 core).
#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "no JIT backend for this host")]
fn disk_writes_survive_reboot_and_poweroff() {
    let Some(g) = guest() else { return };
    if !common::tool("debugfs") {
        return;
    }
    let tmp = TempDir::new("persist");
    let disk = tmp.path("disk.img");
    std::fs::copy(&g.disk, &disk).expect("copy the disk image");
    let nonce = format!("{:x}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
    let drive = format!("file={},format=raw,if=none,id=d0", disk.display());
    let mut m = Machine::start_qemu(&g, &["-drive", &drive, "-device", "virtio-blk-device,drive=d0"]);
    m.boot(120);
    m.ok("dmesg -n 1", 30);
    m.ok("mount -t ext4 /dev/vda /mnt", 60);
    m.ok(&format!("echo written-{nonce} > /mnt/persist.txt && sync"), 60);
    m.ok("umount /mnt", 30);
    m.send("reboot -f");
    // The same process boots again.
    m.boot(120);
    m.ok("dmesg -n 1", 30);
    m.ok("mount -t ext4 /dev/vda /mnt", 60);
    assert_eq!(m.ok("cat /mnt/persist.txt", 30), format!("written-{nonce}\n"));
    m.ok(
        &format!("echo second-{nonce} >> /mnt/persist.txt && sync && umount /mnt"),
        60,
    );
    let (code, transcript) = m.finish("poweroff -f", 60);
    assert_eq!(code, Some(0), "exit code after poweroff");
    assert_eq!(transcript.matches(MARKER).count(), 2, "two boots");
    let bad = bad_lines(&transcript);
    assert!(bad.is_empty(), "the boot log has complaints:\n{}", bad.join("\n"));

    let out = Command::new("debugfs")
        .args(["-R", "cat /persist.txt"])
        .arg(&disk)
        .output()
        .expect("run debugfs");
    assert_eq!(
        common::text(&out.stdout),
        format!("written-{nonce}\nsecond-{nonce}\n"),
        "the host's view of the disk; debugfs said: {}",
        common::text(&out.stderr)
    );
}
