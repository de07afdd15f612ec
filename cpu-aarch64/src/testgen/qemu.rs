//! The outside reference: `firmware/difftest` (a static aarch64 Linux
//! program of ours) under `qemu-aarch64`, fed cases over a pipe. The
//! protocol is documented at the top of `firmware/difftest/harness.c`.

use super::{background, Case, End, Outcome, State, DATA_SIZE};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The QEMU CPU model of integer cases (`CaseKind::Int.qemu_cpu()`): it has
/// what our core implements beyond v8.0 (CRC32, LSE atomics, LDAPR from
/// FEAT_LRCPC) and no pointer authentication or BTI, so the hint-space
/// PAC/BTI encodings are NOPs as on our core (`-cpu max` would sign X30 on
/// PACIASP). FP/SIMD cases run on `cortex-a57` (see
/// [`super::CaseKind::qemu_cpu`]).
pub const QEMU_CPU: &str = "cortex-a76";

const VERSION: u32 = 3;
const CMD_BACKGROUND: u32 = 0x42;
const CMD_CASE: u32 = 0x43;
const CMD_QUIT: u32 = 0x51;
const FLAG_DUMP: u32 = 1;
/// Size of one result record.
pub const RESULT_BYTES: usize = 840;

/// The stream header.
pub fn header() -> Vec<u8> {
    let mut v = b"PBDT".to_vec();
    v.extend_from_slice(&VERSION.to_le_bytes());
    v
}

/// The 'B' command carrying `window` (the background image).
pub fn encode_background(window: &[u8], out: &mut Vec<u8>) {
    assert_eq!(window.len() as u64, DATA_SIZE);
    out.extend_from_slice(&CMD_BACKGROUND.to_le_bytes());
    out.extend_from_slice(window);
}

/// The 'C' command for `case`; with `dump`, the harness sends the window
/// after the result.
pub fn encode_case(case: &Case, dump: bool, out: &mut Vec<u8>) {
    let u32s = [
        CMD_CASE,
        if dump { FLAG_DUMP } else { 0 },
        case.start,
        case.words.len() as u32,
        case.patches.len() as u32,
    ];
    for v in u32s {
        out.extend_from_slice(&v.to_le_bytes());
    }
    // The state block: X0-X30, SP, NZCV, TPIDR_EL0, FPCR, FPSR, V0-V31.
    let st = &case.init;
    for v in st.x.iter().chain([st.sp, st.nzcv, st.tpidr, st.fpcr, st.fpsr].iter()) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in &st.v {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for w in &case.words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for &(off, v) in &case.patches {
        out.extend_from_slice(&u64::from(off).to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// The 'Q' command.
pub fn encode_quit(out: &mut Vec<u8>) {
    out.extend_from_slice(&CMD_QUIT.to_le_bytes());
}

/// One result as the harness reports it.
#[derive(Clone, Debug)]
pub struct QemuResult {
    /// Registers, end and window hash, comparable with ours.
    pub outcome: Outcome,
    /// Signal number (the marker's SIGILL for a completed case).
    pub signo: u32,
    /// `si_code`.
    pub code: u32,
    /// `si_addr`.
    pub fault_address: u64,
    /// The window after the case, if a dump was asked for.
    pub window: Option<Vec<u8>>,
}

/// Decodes one result record.
pub fn decode_result(r: &[u8; RESULT_BYTES]) -> io::Result<QemuResult> {
    let u32_at = |i: usize| u32::from_le_bytes(r[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().expect("8 bytes"));
    if u32_at(0) != 0x52 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad result record magic"));
    }
    let signo = u32_at(8);
    let end = match u32_at(4) {
        0 => End::Completed,
        1 => End::Undefined,
        2 => End::Segv,
        3 => End::Bus,
        4 => End::Trap,
        6 => End::Other("timed out in QEMU (5 s of CPU time)".into()),
        _ => End::Other(format!("signal {signo}")),
    };
    let state = State {
        x: std::array::from_fn(|i| u64_at(32 + 8 * i)),
        sp: u64_at(280),
        nzcv: u64_at(288),
        tpidr: u64_at(296),
        fpcr: u64_at(312),
        fpsr: u64_at(320),
        v: std::array::from_fn(|i| u128::from_le_bytes(r[328 + 16 * i..344 + 16 * i].try_into().expect("16 bytes"))),
    };
    Ok(QemuResult {
        outcome: Outcome {
            end,
            pc: u64_at(16),
            state,
            window_hash: u64_at(304),
        },
        signo,
        code: u32_at(12),
        fault_address: u64_at(24),
        window: None,
    })
}

/// A running harness.
pub struct Harness {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
}

impl Harness {
    /// Starts `qemu` (e.g. `qemu-aarch64`) on the harness ELF with
    /// [`QEMU_CPU`], and sends the header and the background.
    pub fn spawn(qemu: &Path, elf: &Path) -> io::Result<Self> {
        Self::spawn_with_cpu(qemu, elf, QEMU_CPU)
    }

    /// [`Harness::spawn`] with another QEMU CPU model (`-cpu cpu`), for
    /// tests that compare against a core with a different feature set.
    pub fn spawn_with_cpu(qemu: &Path, elf: &Path, cpu: &str) -> io::Result<Self> {
        let mut child = Command::new(qemu)
            .arg("-cpu")
            .arg(cpu)
            .arg(elf)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut h = Harness {
            child,
            stdin: Some(BufWriter::with_capacity(1 << 16, stdin)),
            stdout: BufReader::with_capacity(1 << 16, stdout),
        };
        let mut start = header();
        encode_background(&background(), &mut start);
        h.input().write_all(&start)?;
        Ok(h)
    }

    /// The harness's input, for a writer thread ([`Harness::take_input`])
    /// or direct use.
    pub fn input(&mut self) -> &mut BufWriter<ChildStdin> {
        self.stdin.as_mut().expect("input already taken")
    }

    /// Hands the input to another thread (so that writing cases and reading
    /// results cannot deadlock on full pipes).
    pub fn take_input(&mut self) -> BufWriter<ChildStdin> {
        self.stdin.take().expect("input already taken")
    }

    /// Reads the next result (and the window, if the case asked for a
    /// dump).
    pub fn read_result(&mut self, dump: bool) -> io::Result<QemuResult> {
        let mut rec = [0u8; RESULT_BYTES];
        self.stdout.read_exact(&mut rec)?;
        let mut r = decode_result(&rec)?;
        if dump {
            let mut w = vec![0u8; DATA_SIZE as usize];
            self.stdout.read_exact(&mut w)?;
            r.window = Some(w);
        }
        Ok(r)
    }

    /// Closes the input and waits for the harness to exit.
    pub fn finish(mut self) -> io::Result<std::process::ExitStatus> {
        if let Some(mut i) = self.stdin.take() {
            let mut q = Vec::new();
            encode_quit(&mut q);
            i.write_all(&q)?;
            i.flush()?;
        }
        self.child.wait()
    }

    /// Runs one case on its own (on its kind's CPU model) and returns the
    /// result with the window.
    pub fn run_one(qemu: &Path, elf: &Path, case: &Case) -> io::Result<QemuResult> {
        let mut h = Harness::spawn_with_cpu(qemu, elf, case.kind.qemu_cpu())?;
        let mut buf = Vec::new();
        encode_case(case, true, &mut buf);
        encode_quit(&mut buf);
        {
            let i = h.input();
            i.write_all(&buf)?;
            i.flush()?;
        }
        drop(h.stdin.take());
        let r = h.read_result(true);
        h.child.wait()?;
        r
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
