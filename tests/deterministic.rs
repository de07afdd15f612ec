//! Deterministic time (`--deterministic`, `deterministic: true`,
//! `MachineBuilder::deterministic`): a timer-interrupt-heavy firmware
//! (firmware/ticks, two cores) gives the same full trace on every run and
//! under both engines, through the Rust API and the CLI; UART input sent
//! by a test arrives at the same instruction; and default mode still
//! follows the host clock.

mod common;

use boards::machine::RunOutcome;
use boards::runner::{EngineKind, Harness, MachineBuilder, Regex, Stopped};
use boards::time::{Deterministic, TimeMode, DEFAULT_RTC_EPOCH, NS_PER_INSN};
use common::{repo, run_with_timeout};
use std::time::{Duration, Instant};

fn engines() -> Vec<EngineKind> {
    if cfg!(target_arch = "x86_64") {
        vec![EngineKind::Interp, EngineKind::Jit]
    } else {
        vec![EngineKind::Interp]
    }
}

fn ticks(engine: EngineKind, smp: u32) -> MachineBuilder {
    MachineBuilder::board("virt")
        .smp(smp)
        .kernel_file(repo("firmware/prebuilt/ticks.elf"))
        .engine(engine)
}

/// Everything observable at the end of a run: the UART bytes, how the
/// guest stopped, virtual time, and each core's retired instructions, PC,
/// registers and timer state.
#[derive(Debug, PartialEq, Eq)]
struct Trace {
    uart: Vec<u8>,
    stopped: Option<Stopped>,
    virtual_ns: Option<u64>,
    cores: Vec<(u64, u64, [u64; 31], u64, u64)>,
}

fn trace(h: &Harness) -> Trace {
    let m = h.machine();
    Trace {
        uart: h.uart_output("uart0").unwrap(),
        stopped: h.stopped().cloned(),
        virtual_ns: m.virtual_ns(),
        cores: m
            .cpus
            .iter()
            .map(|c| {
                use cpu_aarch64::sysreg::SysReg;
                (
                    c.icount,
                    c.pc,
                    c.x,
                    c.sys.get(SysReg::CNTV_CVAL_EL0),
                    c.sys.get(SysReg::ELR_EL1),
                )
            })
            .collect(),
    }
}

fn run_ticks(engine: EngineKind, slice: Option<Duration>) -> Trace {
    let mut b = ticks(engine, 2).deterministic(true);
    if let Some(s) = slice {
        b = b.slice(s);
    }
    let mut h = b.build().unwrap();
    // Guest time: the firmware ends at about 1 s of virtual time.
    let stopped = h.run_until_exit(Duration::from_secs(5)).unwrap();
    assert_eq!(
        stopped,
        Stopped::PoweredOff,
        "{}",
        common::lossy(&h.uart_output("uart0").unwrap())
    );
    trace(&h)
}

/// The ticks firmware twice on each engine: identical traces. Each
/// printed line carries the counter, the interrupted PC and the loop
/// iteration at that interrupt, so equal output means every interrupt was
/// taken at the same instruction.
#[test]
fn ticks_trace_is_identical_on_every_run_and_engine() {
    let mut traces = Vec::new();
    for engine in engines() {
        for _ in 0..2 {
            traces.push((engine, run_ticks(engine, None)));
        }
    }
    let (_, first) = &traces[0];
    let text = common::lossy(&first.uart);
    // What the firmware's source says must happen: 120 + 4 ticks per core;
    // the RTC starts at the default epoch and the four quarter-second idle
    // ticks move it on by one second.
    for core in 0..2 {
        let want = format!(
            "core {core}: ticks 124 rtc {} -> {} hash 0x",
            DEFAULT_RTC_EPOCH,
            DEFAULT_RTC_EPOCH + 1
        );
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    assert_eq!(text.matches(" n=").count(), 2 * 124, "{text}");
    // Time never runs slower than the instructions: the idle ticks add to it.
    let insns: u64 = first.cores.iter().map(|c| c.0).sum();
    assert!(first.virtual_ns.unwrap() >= insns * NS_PER_INSN, "{first:?}");
    assert!(first.virtual_ns.unwrap() >= 1_000_000_000, "four 0.25 s idle ticks");
    for (engine, t) in &traces[1..] {
        if t != first {
            let (a, b) = (common::lossy(&first.uart), common::lossy(&t.uart));
            let line = a.lines().zip(b.lines()).position(|(x, y)| x != y);
            panic!(
                "{engine} run differs from the first (interp) run; first differing line {line:?}:\n{:?}\n{:?}\ncores: {:?}\n   vs: {:?}",
                line.and_then(|l| a.lines().nth(l)),
                line.and_then(|l| b.lines().nth(l)),
                first.cores.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
                t.cores.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
            );
        }
    }
}

/// Where the harness pauses to look at the output (its slices) does not
/// change what the guest does.
#[test]
fn harness_slices_do_not_change_the_run() {
    let engine = EngineKind::Interp;
    let a = run_ticks(engine, Some(Duration::from_micros(300)));
    let b = run_ticks(engine, Some(Duration::from_millis(7)));
    assert!(a == b, "slices of 0.3 ms and 7 ms of guest time gave different runs");
}

/// `preboard run --deterministic` prints the same bytes each time, on
/// both engines, with the RTC epoch given on the command line.
#[test]
fn cli_runs_print_the_same_bytes() {
    let mut outs = Vec::new();
    for engine in engines() {
        for _ in 0..2 {
            let mut cmd = common::preboard_command();
            cmd.args([
                "run",
                "--smp",
                "2",
                "--deterministic",
                "--rtc-epoch",
                "86400",
                "--engine",
            ])
            .arg(engine.name())
            .arg("--kernel")
            .arg(repo("firmware/prebuilt/ticks.elf"));
            let run = run_with_timeout(&mut cmd, None, 120);
            assert_eq!(run.code, Some(0), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
            assert!(
                run.stdout.contains("core 1: ticks 124 rtc 86400 -> 86401 hash"),
                "{}",
                run.stdout
            );
            outs.push((engine, run.stdout));
        }
    }
    for (engine, o) in &outs[1..] {
        assert!(*o == outs[0].1, "{engine}: output differs from the first run");
    }
}

/// Input sent by a test step arrives at the same guest instruction: the
/// devices firmware takes a UART line through the receive interrupt, and
/// every run (both engines) ends in the same state.
#[test]
fn uart_input_arrives_at_the_same_instruction() {
    let (ready, received) = (
        Regex::new("^GIC: v2$").unwrap(),
        Regex::new("^ok uart-rx-irq$").unwrap(),
    );
    let mut ends = Vec::new();
    for engine in engines() {
        for _ in 0..2 {
            let mut h = MachineBuilder::board("virt")
                .kernel_file(repo("firmware/prebuilt/devices.elf"))
                .engine(engine)
                .deterministic(true)
                .build()
                .unwrap();
            h.run_until_uart("uart0", &ready, Duration::from_secs(5)).unwrap();
            h.send_uart("uart0", b"Preboard devices: UART RX through the GIC\n")
                .unwrap();
            h.close_uart_input("uart0").unwrap();
            h.run_until_uart("uart0", &received, Duration::from_secs(5)).unwrap();
            // Stop at a fixed guest time after that and compare everything.
            h.run_for(Duration::from_millis(2));
            ends.push((engine, trace(&h)));
        }
    }
    for (engine, t) in &ends[1..] {
        assert!(
            *t == ends[0].1,
            "{engine}: the run after the input differs:\n{t:?}\nvs\n{:?}",
            ends[0].1
        );
    }
}

/// Virtual time moves only with instructions: the counter reads the same
/// across a host sleep, and a fixed instruction budget gives a fixed time.
#[test]
fn deterministic_counter_ignores_the_host_clock() {
    let mut h = ticks(EngineKind::Interp, 1)
        .time(TimeMode::Deterministic(Deterministic { rtc_epoch: 5 }))
        .build()
        .unwrap();
    let m = h.machine_mut();
    assert_eq!(m.run(Some(160_000)).unwrap(), RunOutcome::InstructionLimit);
    let (ns, count) = (m.virtual_ns().unwrap(), m.time().now());
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(m.time().now(), count, "the host sleep moved the counter");
    // No core slept yet (the firmware computes): time is instructions.
    assert_eq!(ns, 160_000 * NS_PER_INSN);
    assert_eq!(count, ns * m.time().freq() / 1_000_000_000);
}

/// Default mode keeps host real time: the counter moves while the host
/// sleeps, and the firmware's counter-time (about 1 s, its idle ticks) is
/// never more than the host time the run took.
#[test]
fn default_mode_follows_the_host_clock() {
    let start = Instant::now();
    let mut h = ticks(EngineKind::Interp, 1).build().unwrap();
    assert!(!h.is_deterministic());
    let t0 = h.machine().time().now();
    std::thread::sleep(Duration::from_millis(30));
    let freq = h.machine().time().freq();
    let moved = h.machine().time().now() - t0;
    assert!(
        moved >= freq * 30 / 1000,
        "counter moved {moved} ticks in 30 ms of host time"
    );
    let m = h
        .run_until_uart(
            "uart0",
            &Regex::new(r"^done at t=(\d+) freq=(\d+)$").unwrap(),
            Duration::from_secs(60),
        )
        .unwrap();
    let host = start.elapsed();
    let (t, f): (u64, u64) = (
        m.group(1).unwrap().parse().unwrap(),
        m.group(2).unwrap().parse().unwrap(),
    );
    let counter = Duration::from_secs_f64(t as f64 / f as f64);
    assert!(
        counter >= Duration::from_secs(1),
        "four 0.25 s ticks took {counter:?} of counter time"
    );
    // The counter started when the machine was built, after `start`.
    assert!(counter <= host, "counter {counter:?} ran ahead of the host ({host:?})");
}

/// A guest that spins (`b .`): a wait times out in guest time, having run
/// that many instructions; the host-time safety net stops a wait whose
/// guest-time timeout is too long for the host.
#[test]
fn timeouts_are_guest_time_with_a_host_safety_net() {
    use boards::runner::Failure;
    let spin = |net: Duration| {
        MachineBuilder::board("virt")
            .kernel_bytes("spin.bin", 0x1400_0000u32.to_le_bytes().to_vec())
            .engine(EngineKind::Interp)
            .deterministic(true)
            .host_safety_net(net)
            .build()
            .unwrap()
    };
    let never = Regex::new("^never$").unwrap();
    let mut h = spin(Duration::from_secs(60));
    match h.run_until_uart("uart0", &never, Duration::from_millis(3)) {
        Err(Failure::Timeout {
            waited, guest: true, ..
        }) => assert!(waited >= Duration::from_millis(3), "{waited:?}"),
        other => panic!("{other:?}"),
    }
    let ns = h.machine().virtual_ns().unwrap();
    assert!(ns >= 3_000_000);
    assert_eq!(
        h.machine().instructions() * NS_PER_INSN,
        ns,
        "a spinning core never idles"
    );
    let mut h = spin(Duration::from_millis(50));
    match h.run_until_uart("uart0", &never, Duration::from_secs(100_000)) {
        Err(e @ Failure::HostSafetyNet { .. }) => assert!(e.to_string().contains("host-time safety net"), "{e}"),
        other => panic!("{other:?}"),
    }
}

/// `preboard test --deterministic` runs a host-time test file in guest
/// time: its step timeout is reported as guest time (the devices firmware
/// waits for UART input that never comes).
#[test]
fn preboard_test_deterministic_forces_guest_time() {
    let dir = common::TempDir::new("det-force");
    let file = dir.path("step.ron");
    std::fs::write(
        &file,
        format!(
            "Test(board: \"virt\", images: (kernel: \"{}\"), steps: [\n  WaitUart(regex: \"^GIC: v2$\"),\n  WaitUart(regex: \"^ok uart-rx-irq$\", timeout_ms: 400),\n])\n",
            repo("firmware/prebuilt/devices.elf").display()
        ),
    )
    .unwrap();
    let mut cmd = common::preboard_command();
    cmd.args(["test", "--deterministic"]).arg(&file);
    let run = run_with_timeout(&mut cmd, None, 120);
    assert_eq!(run.code, Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let re = Regex::new(r"timed out after (\d+) ms of guest time waiting for /\^ok uart-rx-irq\$/").unwrap();
    let waited: u64 = re.captures(&run.stdout).unwrap_or_else(|| panic!("{}", run.stdout))[1]
        .parse()
        .unwrap();
    assert!(waited >= 400, "{}", run.stdout);
}
