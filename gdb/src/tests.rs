//! The stub over an in-memory connection: well-formed packets get the
//! answers the protocol defines, and random malformed input never panics
//! nor leaves the machine unusable.

use super::*;
use boards::machine::{InputFile, MachineConfig};
use gdbstub::conn::Connection;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Scripted client bytes in, everything the stub says out. At the end of
/// the script reads fail, which ends the session like a closed socket.
struct Script {
    input: VecDeque<u8>,
    output: Rc<RefCell<Vec<u8>>>,
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
        self.input.front().copied().map(Some).ok_or_else(eof)
    }
}

/// Two cores spinning on `b .` at the image's entry.
fn spinning() -> Machine {
    Machine::new(spinning_config()).unwrap()
}

fn spinning_config() -> MachineConfig {
    let mut board = boards::resolve_board("virt").unwrap();
    board.set_cpu_count(2).unwrap();
    MachineConfig {
        board,
        kernel: Some(InputFile {
            path: "spin.bin".into(),
            bytes: 0x1400_0000u32.to_le_bytes().to_vec(),
        }),
        kernel_format: boards::loader::ImageFormat::Auto,
        initrd: None,
        append: None,
        dtb: None,
        console: Box::new(std::io::sink()),
        serial: Vec::new(),
        semihost_console: Box::new(std::io::sink()),
        attach: Default::default(),
    }
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
    let output = Rc::new(RefCell::new(Vec::new()));
    let script = Script {
        input: input.into(),
        output: output.clone(),
    };
    let end = run_session(machine, script);
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
