//! The stub over an in-memory connection: well-formed packets get the
//! answers the protocol defines, and random malformed input never panics
//! nor leaves the machine unusable.

use super::*;
use boards::machine::{InputFile, MachineConfig};
use gdbstub::conn::Connection;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;

/// Scripted client bytes in, everything the stub says out. At the end of
/// the script reads fail, which ends the session like a closed socket.
/// With `patient`, the stub sees nothing but Ctrl-C while the machine
/// runs (as with gdb in all-stop mode: the next command comes after the
/// stop reply), up to a bound that ends a run that never stops.
struct Script {
    input: VecDeque<u8>,
    output: Rc<RefCell<Vec<u8>>>,
    patient: Option<u32>,
}

fn eof() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "script ended")
}

impl Connection for Script {
    type Error = std::io::Error;
    fn write(&mut self, byte: u8) -> Result<(), std::io::Error> {
        self.output.borrow_mut().push(byte);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

impl ConnectionExt for Script {
    fn read(&mut self) -> Result<u8, std::io::Error> {
        self.input.pop_front().ok_or_else(eof)
    }
    fn peek(&mut self) -> Result<Option<u8>, std::io::Error> {
        match (self.input.front().copied(), &mut self.patient) {
            (None, _) => Err(eof()),
            (Some(0x03), _) | (Some(_), None) => Ok(self.input.front().copied()),
            (Some(_), Some(0)) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the machine did not stop",
            )),
            (Some(_), Some(n)) => {
                *n -= 1;
                Ok(None)
            }
        }
    }
}

/// Two cores spinning on `b .` at the image's entry.
fn spinning() -> Machine {
    Machine::new(spinning_config()).unwrap()
}

fn spinning_config() -> MachineConfig {
    let mut board = boards::resolve_board("virt").unwrap();
    board.set_cpu_count(2).unwrap();
    // `b .`: both cores spin.
    MachineConfig::headless(board, "spin.bin", 0x1400_0000u32.to_le_bytes().to_vec())
}

fn packet(body: &[u8]) -> Vec<u8> {
    let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    let mut p = vec![b'$'];
    p.extend_from_slice(body);
    p.extend_from_slice(format!("#{sum:02x}").as_bytes());
    p
}

/// The bodies of the stub's replies, run-length encoding expanded.
fn replies(out: &str) -> Vec<String> {
    out.split('$')
        .skip(1)
        .map(|r| {
            let body = r.rsplit_once('#').map_or(r, |(b, _)| b);
            let mut s = String::new();
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                if c == '*' {
                    let n = chars.next().map_or(0, |n| n as usize - 29);
                    let last = s.chars().last().unwrap_or('0');
                    s.extend(std::iter::repeat_n(last, n));
                } else {
                    s.push(c);
                }
            }
            s
        })
        .collect()
}

fn talk(machine: &mut Machine, input: Vec<u8>) -> (SessionEnd, String) {
    converse(machine, input, None, None)
}

/// [`talk`] with a way to rebuild the machine; the script waits for
/// stops (see [`Script`]).
fn talk_with(machine: &mut Machine, input: Vec<u8>, rebuild: Option<&mut dyn Rebuild>) -> (SessionEnd, String) {
    // About 20 s of 20 ms slices.
    converse(machine, input, rebuild, Some(1000))
}

fn converse(
    machine: &mut Machine,
    input: Vec<u8>,
    rebuild: Option<&mut dyn Rebuild>,
    patient: Option<u32>,
) -> (SessionEnd, String) {
    let output = Rc::new(RefCell::new(Vec::new()));
    let script = Script {
        input: input.into(),
        output: output.clone(),
        patient,
    };
    let end = run_session(machine, script, rebuild);
    let out = String::from_utf8_lossy(&output.borrow()).into_owned();
    (end, out)
}

#[test]
fn answers_well_formed_packets() {
    let mut m = spinning();
    let mut input = Vec::new();
    for p in [
        &b"?"[..],
        b"g",
        b"qfThreadInfo",
        b"Hg2",
        b"p44",
        b"m0,4",
        b"qXfer:features:read:target.xml:0,ffff",
        b"qRcmd,68656c70",
        b"D",
    ] {
        input.extend(packet(p));
    }
    let (end, out) = talk(&mut m, input);
    assert!(matches!(end, SessionEnd::Detached));
    let replies = replies(&out);
    // Stopped with a signal and a thread (all stop together at attach).
    assert!(out.contains("$T05thread:"), "{out}");
    // The g reply: 31 X + SP + PC, CPSR, 32 V, FPSR, FPCR in hex.
    let g_len = 2 * (33 * 8 + 4 + 32 * 16 + 8);
    assert_eq!(replies[1].len(), g_len, "{out}");
    // The PC (after 31 X and SP) is the image's entry, little-endian.
    let pc = u64::from_str_radix(&replies[1][32 * 16..33 * 16], 16)
        .unwrap()
        .swap_bytes();
    assert_eq!(pc, m.cpus[0].pc);
    // Both cores are threads.
    assert_eq!(replies[2], "m01,02", "{out}");
    assert_eq!(replies[3], "OK");
    // Register 0x44 = the first system register of the description (64
    // bits); memory at 0 is erased flash.
    assert_eq!(replies[4].len(), 16, "{out}");
    assert_eq!(replies[5], "ffffffff", "{out}");
    // The description (its first part here) is XML; it names the
    // system registers.
    assert!(replies[6].starts_with("m<?xml"), "{out}");
    assert!(GdbTarget::new(&mut m).xml.contains("<reg name=\"MPIDR_EL1\""));
    // `monitor help` comes back as console output (O packets).
    assert!(out.contains("$O"), "{out}");
    assert!(out.ends_with("$OK#9a"), "{out}");
}

/// The text of the stub's console output (`O` packets, hex).
fn console_text(out: &str) -> String {
    replies(out)
        .iter()
        .filter_map(|r| r.strip_prefix('O'))
        .filter(|h| h.len() % 2 == 0)
        .flat_map(|h| {
            (0..h.len())
                .step_by(2)
                .map(move |i| u8::from_str_radix(&h[i..i + 2], 16).unwrap_or(b'?'))
        })
        .map(char::from)
        .collect()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn monitor_reports_time_and_saves_a_snapshot_that_restores() {
    let mut m = spinning();
    m.run(Some(1000)).unwrap();
    let dir = std::env::temp_dir().join(format!("preboard-gdb-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("m.snap");
    let mut input = Vec::new();
    for cmd in ["info time".to_string(), format!("snapshot save {}", file.display())] {
        input.extend(packet(format!("qRcmd,{}", hex(&cmd)).as_bytes()));
    }
    input.extend(packet(b"D"));
    let (end, out) = talk(&mut m, input);
    assert!(matches!(end, SessionEnd::Detached));
    let text = console_text(&out);
    let total = m.instructions();
    assert!(
        text.contains(&format!(
            "instructions retired: {total} (cores: {}, {})",
            m.cpus[0].icount, m.cpus[1].icount
        )),
        "{text}"
    );
    assert!(text.contains("host time"), "{text}");
    assert!(text.contains("machine saved to"), "{text}");
    // The file is a snapshot of this machine: a fresh one restores from it
    // to the same PCs and counts.
    let cfg = MachineConfig {
        kernel: None,
        ..spinning_config()
    };
    let restored = Machine::restore(cfg, &file).unwrap();
    for (a, b) in restored.cpus.iter().zip(&m.cpus) {
        assert_eq!((a.pc, a.icount), (b.pc, b.icount));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A tiny deterministic generator (xorshift64*), seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// Random streams of packets, most of them malformed (bad checksums,
/// wrong arguments, huge numbers, stray framing bytes, interrupts), fed
/// to fresh sessions on one machine: the stub answers or ends the
/// session, never panics, and the machine stays usable.
#[test]
fn malformed_packets_never_crash_the_stub() {
    const PREFIXES: &[&str] = &[
        "g",
        "G",
        "m",
        "M",
        "X",
        "p",
        "P",
        "Z0,",
        "z0,",
        "Z1,",
        "Z2,",
        "Z3,",
        "Z4,",
        "z2,",
        "c",
        "s",
        "C",
        "S",
        "vCont;",
        "vCont;s:",
        "vCont;c:",
        "vCont;r",
        "vCont?",
        "H",
        "Hg",
        "Hc",
        "T",
        "q",
        "qXfer:features:read:",
        "qRcmd,",
        "qSupported:",
        "qfThreadInfo",
        "qThreadExtraInfo,",
        "?",
        "!",
        "vMustReplyEmpty",
        "k",
        "R",
    ];
    const ARGS: &[&str] = &[
        "",
        "0",
        "1",
        "-1",
        "p1.1",
        "p1.-1",
        "p-1.-1",
        "40000000,4",
        "0,ffffffff",
        "ffffffffffffffff,8",
        "44",
        "44=0102",
        "20=ffffffffffffffff",
        "4001,10",
        "1,2,3",
        ":",
        ";",
        ",",
        "target.xml:0,10",
        "foo.xml:0,10",
        "40000000,8:0011223344556677",
        "zz",
        "7069",
        "70687973206f6e",
        "7472616e736c61746520307834",
    ];
    let seed = std::env::var("PREBOARD_GDB_FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng(seed | 1);
    let mut m = spinning();
    for round in 0..400 {
        let mut input = Vec::new();
        for _ in 0..1 + rng.below(12) {
            let mut body = String::new();
            body.push_str(rng.pick(PREFIXES));
            body.push_str(rng.pick(ARGS));
            for _ in 0..rng.below(3) {
                body.push(
                    rng.pick(&[",", ":", ";", "0", "f", "x", "}", "*", "#", "$"])
                        .chars()
                        .next()
                        .unwrap(),
                );
            }
            let mut p = packet(body.as_bytes());
            match rng.below(8) {
                // A wrong checksum.
                0 => {
                    let n = p.len();
                    p[n - 1] ^= 1;
                }
                // Cut short.
                1 => p.truncate(rng.below(p.len()).max(1)),
                // Garbage before it, or a Ctrl-C.
                2 => p.splice(0..0, [rng.next() as u8, 0x03, b'+', b'-']).for_each(drop),
                // Random bytes.
                3 => p = (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
                _ => {}
            }
            input.extend(p);
        }
        let (_end, _out) = talk(&mut m, input);
        // Whatever happened, the machine is intact and no debug state
        // leaks from a session that ended.
        assert!(m.read_reg(0, boards::control::Reg::Pc).is_ok(), "round {round}");
        assert!(!m.at_breakpoint(0));
    }
    // And it still runs.
    assert_eq!(m.resume(Instant::now() + Duration::from_millis(5)).unwrap(), None);
}

/// Builds the test machines again, as `preboard run` would, counting how
/// often it was asked.
struct Rebuilder {
    config: fn() -> MachineConfig,
    resets: usize,
    restores: usize,
}

impl Rebuilder {
    fn new(config: fn() -> MachineConfig) -> Self {
        Rebuilder {
            config,
            resets: 0,
            restores: 0,
        }
    }
}

impl Rebuild for Rebuilder {
    fn reset(&mut self) -> Result<Machine, RebuildError> {
        self.resets += 1;
        Ok(Machine::new((self.config)())?)
    }
    fn restore(&mut self, path: &Path) -> Result<Machine, RebuildError> {
        self.restores += 1;
        Ok(Machine::restore((self.config)(), path)?)
    }
    fn reboot_on_guest_reset(&self) -> bool {
        true
    }
}

fn monitor(cmd: &str) -> Vec<u8> {
    packet(format!("qRcmd,{}", hex(cmd)).as_bytes())
}

/// The value of register `n` in a `p` reply (little-endian hex).
fn reg_value(reply: &str) -> u64 {
    u64::from_str_radix(reply, 16).unwrap().swap_bytes()
}

/// `monitor reset` puts the machine back in its start state (core 0 at
/// the entry with nothing retired, the secondary off again, x5 as at
/// reset) with the stub still answering, and a breakpoint set before the
/// reset still stops the new machine.
#[test]
fn monitor_reset_restarts_the_machine_and_keeps_breakpoints() {
    let mut m = spinning();
    let entry = m.cpus[0].pc;
    m.run(Some(5000)).unwrap();
    // A register the guest never sets.
    m.write_reg(0, boards::control::Reg::X(5), 0x5eed).unwrap();
    let mut rebuild = Rebuilder::new(spinning_config);
    let mut input = Vec::new();
    input.extend(packet(format!("Z0,{entry:x},4").as_bytes()));
    input.extend(monitor("reset"));
    input.extend(packet(b"Hg1"));
    input.extend(packet(b"p5"));
    input.extend(packet(b"p20"));
    input.extend(packet(b"vCont;c"));
    input.extend(monitor("info cores"));
    input.extend(packet(b"D"));
    let (end, out) = talk_with(&mut m, input, Some(&mut rebuild));
    assert!(matches!(end, SessionEnd::Detached), "{out}");
    assert_eq!((rebuild.resets, rebuild.restores), (1, 0));
    let text = console_text(&out);
    assert!(text.contains("machine reset:"), "{text}");
    assert!(
        text.contains(&format!(
            "core 0: MPIDR 0x80000000 on EL1 PC {entry:#x}, 0 instructions"
        )),
        "{text}"
    );
    assert!(text.contains("core 1: MPIDR 0x80000001 off"), "{text}");
    let r = replies(&out);
    let regs: Vec<&String> = r.iter().filter(|r| r.len() == 16).collect();
    assert_eq!(reg_value(regs[0]), 0, "x5 after the reset: {out}");
    assert_eq!(reg_value(regs[1]), entry, "pc after the reset: {out}");
    // The breakpoint at the entry stops the new machine at once.
    assert!(r.iter().any(|r| r.starts_with("T05") && r.contains("swbreak")), "{out}");
}

/// A guest's PSCI SYSTEM_RESET under the stub restarts the machine in
/// place and the session goes on: the breakpoint after the reset call is
/// reached again, in a new machine (x5, set by the debugger, is 0 again).
#[test]
fn a_guest_reset_restarts_the_machine_under_the_stub() {
    fn config() -> MachineConfig {
        // movz x0, #9; movk x0, #0x8400, lsl #16; hvc #0 (PSCI
        // SYSTEM_RESET 0x84000009, HVC conduit at EL1); b .
        let program: [u32; 4] = [0xd280_0120, 0xf2b0_8000, 0xd400_0002, 0x1400_0000];
        MachineConfig {
            kernel: Some(InputFile {
                path: "reset.bin".into(),
                bytes: program.iter().flat_map(|w| w.to_le_bytes()).collect(),
            }),
            ..spinning_config()
        }
    }
    let mut m = Machine::new(config()).unwrap();
    let entry = m.cpus[0].pc;
    let mut rebuild = Rebuilder::new(config);
    let mut input = Vec::new();
    input.extend(packet(format!("Z0,{:x},4", entry + 4).as_bytes()));
    input.extend(packet(b"vCont;c"));
    input.extend(packet(format!("P5={}", hex_u64(0x5eed)).as_bytes()));
    input.extend(packet(b"vCont;c"));
    input.extend(packet(b"p5"));
    input.extend(packet(b"D"));
    let (end, out) = talk_with(&mut m, input, Some(&mut rebuild));
    assert!(matches!(end, SessionEnd::Detached), "{out}");
    assert_eq!(rebuild.resets, 1, "{out}");
    let r = replies(&out);
    assert_eq!(
        r.iter()
            .filter(|r| r.starts_with("T05") && r.contains("swbreak"))
            .count(),
        2,
        "{out}"
    );
    let x5 = r.iter().rev().find(|r| r.len() == 16).unwrap();
    assert_eq!(reg_value(x5), 0, "{out}");
    // One instruction (the movz) retired in the new machine.
    assert_eq!(m.cpus[0].icount, 1);
}

fn hex_u64(v: u64) -> String {
    v.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// `monitor snapshot load` brings back the registers and memory of the
/// save, whatever changed in between, under the same session.
#[test]
fn snapshot_load_restores_the_saved_state() {
    let mut m = spinning();
    m.run(Some(3000)).unwrap();
    let ram = m.cpus[0].pc + 0x10_0000;
    let dir = std::env::temp_dir().join(format!("preboard-gdb-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("m.snap");
    let mut rebuild = Rebuilder::new(|| MachineConfig {
        kernel: None,
        ..spinning_config()
    });
    let mut input = Vec::new();
    // State at the save: x7 and a RAM word set by the debugger.
    input.extend(packet(format!("P7={}", hex_u64(0x1111_2222_3333_4444)).as_bytes()));
    input.extend(packet(format!("M{ram:x},4:a1b2c3d4").as_bytes()));
    input.extend(monitor(&format!("snapshot save {}", file.display())));
    // Changes after it.
    input.extend(packet(format!("P7={}", hex_u64(7)).as_bytes()));
    input.extend(packet(format!("M{ram:x},4:00000000").as_bytes()));
    input.extend(packet(b"vCont;s:1"));
    input.extend(monitor(&format!("snapshot load {}", file.display())));
    input.extend(packet(b"p7"));
    input.extend(packet(format!("m{ram:x},4").as_bytes()));
    input.extend(monitor("snapshot load /nonexistent/preboard.snap"));
    input.extend(packet(b"D"));
    let icount = m.cpus[0].icount;
    let (end, out) = talk_with(&mut m, input, Some(&mut rebuild));
    assert!(matches!(end, SessionEnd::Detached), "{out}");
    assert_eq!(rebuild.restores, 2);
    let text = console_text(&out);
    assert!(text.contains("machine restored from"), "{text}");
    assert!(
        text.contains(&format!(
            "core 0: MPIDR 0x80000000 on EL1 PC {:#x}, {icount} instructions",
            m.cpus[0].pc
        )),
        "{text}"
    );
    assert!(
        text.contains("snapshot load: ") && text.contains("/nonexistent/preboard.snap"),
        "{text}"
    );
    assert!(text.contains("the machine is unchanged"), "{text}");
    let r = replies(&out);
    assert!(r.contains(&hex_u64(0x1111_2222_3333_4444)), "{out}");
    assert!(r.contains(&"a1b2c3d4".to_string()), "{out}");
    // The failed load left the restored machine in place.
    assert_eq!(m.cpus[0].x[7], 0x1111_2222_3333_4444);
    assert_eq!(m.cpus[0].icount, icount);
    std::fs::remove_dir_all(&dir).ok();
}

/// `monitor info gic` on a GICv3 board: the distributor, each core's
/// redistributor and ICC state, from values the test programs (IHI 0069
/// register offsets).
#[test]
fn info_gic_shows_gicv3_redistributors_and_icc_state() {
    fn config() -> MachineConfig {
        let mut board = boards::resolve_board("virt-gicv3").unwrap();
        board.set_cpu_count(2).unwrap();
        MachineConfig {
            board,
            ..spinning_config()
        }
    }
    let mut m = Machine::new(config()).unwrap();
    let w = |m: &mut Machine, pa: u64, v: u32| {
        m.write_memory(0, pa, boards::control::Space::Physical, &v.to_le_bytes())
            .unwrap()
    };
    // GICD_CTLR: ARE, EnableGrp1; core 1's redistributor (second 128 KiB
    // frame from 0x080a0000) awake, PPI 27 group 1, priority 0xa0,
    // enabled; SPI 40 enabled and pending.
    w(&mut m, 0x0800_0000, 0x12);
    w(&mut m, 0x080c_0014, 0);
    w(&mut m, 0x080d_0080, 1 << 27);
    w(&mut m, 0x080d_0418, 0xa0 << 24);
    w(&mut m, 0x080d_0100, 1 << 27);
    w(&mut m, 0x0800_0104, 1 << 8);
    w(&mut m, 0x0800_0204, 1 << 8);
    let (_, out) = talk(&mut m, [monitor("info gic"), packet(b"D")].concat());
    let text = console_text(&out);
    assert!(
        text.contains("GICv3: GICD_CTLR 0x52 (EnableGrp0 0, EnableGrp1 1, ARE 1, DS 1)"),
        "{text}"
    );
    assert!(text.contains("core 0: redistributor (affinity 0x0) asleep"), "{text}");
    assert!(text.contains("core 1: redistributor (affinity 0x1) awake"), "{text}");
    assert!(text.contains("ICC_IGRPEN1_EL1 0"), "{text}");
    assert!(
        text.contains("INTID 27   enabled                  priority 0xa0 group 1 level"),
        "{text}"
    );
    assert!(
        text.contains("INTID 40   enabled pending          priority 0x00 group 0 level route 0x0"),
        "{text}"
    );
    assert!(text.contains("SGIs and PPIs: group 1: 27"), "{text}");
}

/// Range stepping (`vCont;r`): the core steps while its PC stays in the
/// range and stops at the first instruction outside it, or earlier at a
/// breakpoint inside it.
#[test]
fn range_stepping_stops_outside_the_range_or_at_a_breakpoint() {
    fn config() -> MachineConfig {
        // nop; nop; nop; b .
        let program: [u32; 4] = [0xd503_201f, 0xd503_201f, 0xd503_201f, 0x1400_0000];
        MachineConfig {
            kernel: Some(InputFile {
                path: "nops.bin".into(),
                bytes: program.iter().flat_map(|w| w.to_le_bytes()).collect(),
            }),
            ..spinning_config()
        }
    }
    let mut m = Machine::new(config()).unwrap();
    let e = m.cpus[0].pc;
    let mut input = Vec::new();
    input.extend(packet(format!("vCont;r{e:x},{:x}:1", e + 12).as_bytes()));
    input.extend(packet(b"p20"));
    input.extend(packet(format!("P20={}", hex_u64(e)).as_bytes()));
    input.extend(packet(format!("Z1,{:x},4", e + 8).as_bytes()));
    input.extend(packet(format!("vCont;r{e:x},{:x}:1", e + 12).as_bytes()));
    input.extend(packet(b"p20"));
    input.extend(packet(b"D"));
    let (end, out) = talk_with(&mut m, input, None);
    assert!(matches!(end, SessionEnd::Detached), "{out}");
    let r = replies(&out);
    let pcs: Vec<u64> = r.iter().filter(|r| r.len() == 16).map(|r| reg_value(r)).collect();
    assert_eq!(pcs, [e + 12, e + 8], "{out}");
    assert_eq!(r.iter().filter(|r| r.starts_with("T05")).count(), 2, "{out}");
    // 3 + 2 instructions retired in all.
    assert_eq!(m.cpus[0].icount, 5);
}

/// `monitor step-irq`: with an IRQ pending and PSTATE.I clear, a step
/// lands on the next instruction by default and at the IRQ vector
/// (VBAR_EL1 + 0x280, Arm ARM D1.10.2) once interrupts are let in.
#[test]
fn step_irq_chooses_whether_steps_take_interrupts() {
    let mut m = spinning();
    let entry = m.cpus[0].pc;
    let vbar = 0x4000_0800u64;
    let vbar_id = cpu_aarch64::sysreg::SysReg::VBAR_EL1.info().id;
    m.write_reg(0, boards::control::Reg::Sys(vbar_id), u128::from(vbar))
        .unwrap();
    m.write_reg(0, boards::control::Reg::Cpsr, 0x345).unwrap();
    m.cpus[0].irq.set(cpu_aarch64::irq::IRQ, true);
    let mut input = Vec::new();
    input.extend(packet(b"vCont;s:1"));
    input.extend(packet(b"p20"));
    input.extend(monitor("step-irq on"));
    input.extend(packet(b"vCont;s:1"));
    input.extend(packet(b"p20"));
    input.extend(packet(b"D"));
    let (end, out) = talk_with(&mut m, input, None);
    assert!(matches!(end, SessionEnd::Detached), "{out}");
    let pcs: Vec<u64> = replies(&out)
        .iter()
        .filter(|r| r.len() == 16)
        .map(|r| reg_value(r))
        .collect();
    // `b .` steps to itself.
    assert_eq!(pcs, [entry, vbar + 0x280], "{out}");
    assert!(
        console_text(&out).contains("single steps take pending interrupts"),
        "{out}"
    );
}

/// Unmapped memory is an error reply (EFAULT), never a crash; `monitor
/// phys on` switches to physical addresses (with the MMU off the same
/// bytes: the image's first word).
#[test]
fn memory_errors_and_physical_mode() {
    let mut m = spinning();
    let entry = m.cpus[0].pc;
    let mut input = Vec::new();
    input.extend(packet(b"m1000000000000000,4"));
    input.extend(packet(b"M1000000000000000,1:00"));
    input.extend(monitor("phys on"));
    input.extend(packet(format!("m{entry:x},4").as_bytes()));
    input.extend(packet(b"m7f00000000,4"));
    input.extend(packet(b"D"));
    let (end, out) = talk(&mut m, input);
    assert!(matches!(end, SessionEnd::Detached), "{out}");
    let r = replies(&out);
    assert_eq!(r.iter().filter(|r| *r == "E0e").count(), 3, "{out}");
    assert!(r.contains(&"00000014".to_string()), "{out}: b . is 0x14000000");
    assert!(
        console_text(&out).contains("memory accesses use physical addresses"),
        "{out}"
    );
}

#[test]
fn gdb_addresses_default_to_localhost() {
    assert_eq!(parse_spec("tcp::1234").unwrap(), "127.0.0.1:1234");
    assert_eq!(parse_spec("1234").unwrap(), "127.0.0.1:1234");
    assert_eq!(parse_spec(":1234").unwrap(), "127.0.0.1:1234");
    assert_eq!(parse_spec("tcp:0.0.0.0:1234").unwrap(), "0.0.0.0:1234");
    assert_eq!(parse_spec("tcp:::1:1234").unwrap(), "[::1]:1234");
    assert!(parse_spec("tcp:nonsense").is_err());
    assert!(parse_spec("tcp::99999").is_err());
}
