//! Arm semihosting ("Semihosting for AArch32 and AArch64", v2/v3), the
//! AArch64 flavour: the machine calls [`Semihosting::handle`] when a core
//! executes `HLT #0xF000`, passing `w0` (operation) and `x1` (parameter),
//! and writes the returned value to `x0` or stops the machine.
//!
//! Pointers in the parameter are guest *virtual* addresses as the calling
//! core sees them. [`SemihostMemory`] is how they are reached; the
//! implementations here for [`GuestRam`] and [`SystemBus`] treat them as
//! physical addresses, which is right while the MMU is off or the mapping
//! is the identity. A machine with the MMU on wraps the core's translation
//! in its own implementation.
//!
//! Supported operations: SYS_OPEN (only the console `":tt"`), SYS_CLOSE,
//! SYS_WRITEC, SYS_WRITE0, SYS_WRITE, SYS_ISTTY, SYS_CLOCK, SYS_TIME,
//! SYS_ERRNO, SYS_HEAPINFO, SYS_EXIT and SYS_EXIT_EXTENDED. Handles 1
//! (stdout) and 2 (stderr) both write to the one console writer. Anything
//! else returns -1 and is logged once per operation number.

use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::bus::SystemBus;
use crate::ram::GuestRam;

/// Operation numbers (`w0`).
pub mod op {
    /// Open a file; only `":tt"` (the console) is supported.
    pub const SYS_OPEN: u64 = 0x01;
    /// Close a handle.
    pub const SYS_CLOSE: u64 = 0x02;
    /// Write the byte at `[x1]` to the console.
    pub const SYS_WRITEC: u64 = 0x03;
    /// Write the NUL-terminated string at `x1` to the console.
    pub const SYS_WRITE0: u64 = 0x04;
    /// Write `{handle, buf, len}` (block at `x1`).
    pub const SYS_WRITE: u64 = 0x05;
    /// Is `{handle}` an interactive device?
    pub const SYS_ISTTY: u64 = 0x09;
    /// Centiseconds since execution started.
    pub const SYS_CLOCK: u64 = 0x10;
    /// Seconds since the Unix epoch.
    pub const SYS_TIME: u64 = 0x11;
    /// errno of the last failed call.
    pub const SYS_ERRNO: u64 = 0x13;
    /// Heap and stack placement.
    pub const SYS_HEAPINFO: u64 = 0x16;
    /// Stop: `{reason, subcode}` block at `x1` (AArch64).
    pub const SYS_EXIT: u64 = 0x18;
    /// Stop with a status: `{reason, subcode}` block at `x1`.
    pub const SYS_EXIT_EXTENDED: u64 = 0x20;
}

/// ADP_Stopped_ApplicationExit: the normal-exit reason code.
pub const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// Longest string SYS_WRITE0 will print before giving up on finding a NUL.
pub const WRITE0_MAX: usize = 1 << 20;

/// Granule for reading guest strings and buffers.
const CHUNK: u64 = 256;

/// `-1` as the guest sees it in `x0`.
const MINUS_ONE: u64 = u64::MAX;

/// Guest memory could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("semihosting: {len} bytes at guest address {addr:#x} are not accessible")]
pub struct BadGuestAddress {
    /// Guest address of the access.
    pub addr: u64,
    /// Its length in bytes.
    pub len: usize,
}

/// Guest memory as semihosting sees it: the addresses are those the
/// calling core uses (see the module documentation).
pub trait SemihostMemory {
    /// Fills `buf` from guest memory at `addr`; all or nothing.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), BadGuestAddress>;
    /// Writes `data` to guest memory at `addr`; all or nothing.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), BadGuestAddress>;
}

impl SemihostMemory for GuestRam {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), BadGuestAddress> {
        self.read_bytes(addr, buf)
            .map_err(|_| BadGuestAddress { addr, len: buf.len() })
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), BadGuestAddress> {
        self.write_bytes(addr, data)
            .map_err(|_| BadGuestAddress { addr, len: data.len() })
    }
}

/// RAM only: semihosting buffers never live in device memory.
impl SemihostMemory for SystemBus {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), BadGuestAddress> {
        SemihostMemory::read(self.ram_mut(), addr, buf)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), BadGuestAddress> {
        SemihostMemory::write(self.ram_mut(), addr, data)
    }
}

/// What the core should do after a semihosting call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SemihostOutcome {
    /// Write this to `x0` and continue after the `HLT`.
    Return(u64),
    /// Stop the machine; the emulator exits with this status.
    Exit(i32),
}

/// Semihosting state that lives across calls.
#[derive(Debug)]
pub struct Semihosting {
    start: Instant,
    /// Virtual time and the SYS_TIME value at its zero, instead of the
    /// host's clocks (deterministic runs).
    virtual_time: Option<(std::sync::Arc<cpu_aarch64::timer::VirtualClock>, u64)>,
    warned: Vec<u64>,
}

impl Default for Semihosting {
    fn default() -> Self {
        Semihosting::new()
    }
}

impl Semihosting {
    /// Fresh state; SYS_CLOCK counts from now.
    pub fn new() -> Self {
        Semihosting {
            start: Instant::now(),
            virtual_time: None,
            warned: Vec::new(),
        }
    }

    /// SYS_CLOCK and SYS_TIME on virtual time: SYS_CLOCK counts from its
    /// zero, SYS_TIME reads `epoch` (seconds since the Unix epoch) then.
    pub fn with_virtual_time(mut self, clock: std::sync::Arc<cpu_aarch64::timer::VirtualClock>, epoch: u64) -> Self {
        self.virtual_time = Some((clock, epoch));
        self
    }

    /// Centiseconds since the start (SYS_CLOCK).
    fn centiseconds(&self) -> u64 {
        match &self.virtual_time {
            Some((c, _)) => c.now_ns() / 10_000_000,
            None => (self.start.elapsed().as_millis() / 10) as u64,
        }
    }

    /// Seconds since the Unix epoch (SYS_TIME).
    fn unix_seconds(&self) -> u64 {
        match &self.virtual_time {
            Some((c, epoch)) => epoch.saturating_add(c.now_ns() / 1_000_000_000),
            None => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        }
    }

    /// Time SYS_CLOCK has counted (saved in a machine snapshot).
    pub fn clock_elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    /// Makes SYS_CLOCK go on from `elapsed` (a restored machine's clock
    /// does not restart at zero).
    pub fn resume_clock(&mut self, elapsed: std::time::Duration) {
        let now = Instant::now();
        self.start = now.checked_sub(elapsed).unwrap_or(now);
    }

    /// Performs operation `op` (`w0`) with parameter `param` (`x1`).
    pub fn handle(
        &mut self,
        op: u64,
        param: u64,
        mem: &mut dyn SemihostMemory,
        console: &mut dyn Write,
    ) -> SemihostOutcome {
        use SemihostOutcome::Return;
        // The operation number is w0.
        let op = op & 0xffff_ffff;
        match op {
            op::SYS_OPEN => Return(sys_open(param, mem)),
            op::SYS_CLOSE => Return(match read_words::<1>(mem, param) {
                Ok([1 | 2]) => 0,
                _ => MINUS_ONE,
            }),
            op::SYS_WRITEC => {
                let mut b = [0u8; 1];
                Return(match mem.read(param, &mut b) {
                    Ok(()) => {
                        emit(console, &b);
                        0
                    }
                    Err(e) => self.fault(op, e),
                })
            }
            op::SYS_WRITE0 => Return(match write0(param, mem, console) {
                Ok(()) => 0,
                Err(e) => self.fault(op, e),
            }),
            op::SYS_WRITE => Return(match read_words::<3>(mem, param) {
                Ok([handle, buf, len]) => sys_write(handle, buf, len, mem, console),
                Err(e) => self.fault(op, e),
            }),
            op::SYS_ISTTY => Return(match read_words::<1>(mem, param) {
                Ok([1 | 2]) => 1,
                _ => 0,
            }),
            op::SYS_CLOCK => Return(self.centiseconds()),
            op::SYS_TIME => Return(self.unix_seconds()),
            op::SYS_ERRNO => Return(0),
            op::SYS_HEAPINFO => Return(match heapinfo(param, mem) {
                Ok(()) => 0,
                Err(e) => self.fault(op, e),
            }),
            op::SYS_EXIT | op::SYS_EXIT_EXTENDED => match read_words::<2>(mem, param) {
                // QEMU's convention (arm-compat-semi): only
                // ADP_Stopped_ApplicationExit is a normal exit, with the
                // subcode as the status; any other reason exits with 1.
                Ok([ADP_STOPPED_APPLICATION_EXIT, subcode]) => SemihostOutcome::Exit(subcode as i32),
                Ok([reason, subcode]) => {
                    tracing::info!(
                        reason = format_args!("{reason:#x}"),
                        subcode,
                        "semihosting exit with a reason other than ADP_Stopped_ApplicationExit"
                    );
                    SemihostOutcome::Exit(1)
                }
                // QEMU returns -1 to the guest here; stopping serves a guest
                // that asked to stop better than carrying on.
                Err(e) => {
                    tracing::warn!(op = format_args!("{op:#x}"), "{e}; exiting with status 1");
                    SemihostOutcome::Exit(1)
                }
            },
            _ => {
                if !self.warned.contains(&op) {
                    self.warned.push(op);
                    tracing::warn!(
                        op = format_args!("{op:#x}"),
                        param = format_args!("{param:#x}"),
                        "unsupported semihosting operation; returning -1"
                    );
                }
                Return(MINUS_ONE)
            }
        }
    }

    /// Logs a bad guest pointer (at debug level: it is the guest's error)
    /// and returns -1.
    fn fault(&self, op: u64, e: BadGuestAddress) -> u64 {
        tracing::debug!(op = format_args!("{op:#x}"), "{e}");
        MINUS_ONE
    }
}

/// Reads `N` consecutive little-endian u64s at `addr`.
fn read_words<const N: usize>(mem: &mut dyn SemihostMemory, addr: u64) -> Result<[u64; N], BadGuestAddress> {
    let mut out = [0u64; N];
    let mut b = [0u8; 8];
    for (i, w) in out.iter_mut().enumerate() {
        let a = addr
            .checked_add(8 * i as u64)
            .ok_or(BadGuestAddress { addr, len: 8 * N })?;
        mem.read(a, &mut b)?;
        *w = u64::from_le_bytes(b);
    }
    Ok(out)
}

/// Writes to the console; console errors are not the guest's business.
fn emit(console: &mut dyn Write, bytes: &[u8]) -> bool {
    let res = console.write_all(bytes).and_then(|()| console.flush());
    if let Err(e) = &res {
        tracing::warn!(error = %e, "semihosting console write failed");
    }
    res.is_ok()
}

/// Reads up to `buf.len()` bytes at `addr`, stopping short only at
/// inaccessible memory. Chunks are aligned to `CHUNK` so that a string
/// ending just before a hole is still read; inside a chunk that fails as a
/// whole, falls back to single bytes. Returns the count read.
fn read_prefix(mem: &mut dyn SemihostMemory, addr: u64, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        let Some(a) = addr.checked_add(done as u64) else {
            break;
        };
        let room = (CHUNK - a % CHUNK) as usize;
        let n = room.min(buf.len() - done);
        if mem.read(a, &mut buf[done..done + n]).is_ok() {
            done += n;
            continue;
        }
        for i in 0..n {
            let Some(bi) = a.checked_add(i as u64) else {
                return done;
            };
            if mem.read(bi, &mut buf[done..done + 1]).is_err() {
                return done;
            }
            done += 1;
        }
    }
    done
}

fn write0(addr: u64, mem: &mut dyn SemihostMemory, console: &mut dyn Write) -> Result<(), BadGuestAddress> {
    let mut buf = [0u8; CHUNK as usize];
    let mut total = 0usize;
    while total < WRITE0_MAX {
        let a = addr
            .checked_add(total as u64)
            .ok_or(BadGuestAddress { addr, len: total + 1 })?;
        let want = ((CHUNK - a % CHUNK) as usize).min(WRITE0_MAX - total);
        let got = read_prefix(mem, a, &mut buf[..want]);
        if let Some(nul) = buf[..got].iter().position(|&b| b == 0) {
            emit(console, &buf[..nul]);
            return Ok(());
        }
        emit(console, &buf[..got]);
        total += got;
        if got < want {
            return Err(BadGuestAddress {
                addr: a + got as u64,
                len: 1,
            });
        }
    }
    tracing::warn!(
        addr = format_args!("{addr:#x}"),
        "SYS_WRITE0 string longer than {WRITE0_MAX} bytes; truncated"
    );
    Ok(())
}

/// SYS_WRITE: returns the number of bytes *not* written (0 on success), or
/// -1 for a handle other than stdout/stderr.
fn sys_write(handle: u64, buf: u64, len: u64, mem: &mut dyn SemihostMemory, console: &mut dyn Write) -> u64 {
    if !matches!(handle, 1 | 2) {
        return MINUS_ONE;
    }
    let mut chunk = [0u8; 4096];
    let mut done = 0u64;
    while done < len {
        let Some(a) = buf.checked_add(done) else {
            break;
        };
        let want = (len - done).min(chunk.len() as u64) as usize;
        let got = read_prefix(mem, a, &mut chunk[..want]);
        if !emit(console, &chunk[..got]) {
            break;
        }
        done += got as u64;
        if got < want {
            break;
        }
    }
    len - done
}

/// SYS_OPEN `{name, mode, name_len}`: the console `":tt"` opens as stdout
/// for write modes (4..=7) and stderr for append modes (8..=11); reading
/// and real files are not supported.
fn sys_open(param: u64, mem: &mut dyn SemihostMemory) -> u64 {
    let Ok([name, mode, len]) = read_words::<3>(mem, param) else {
        return MINUS_ONE;
    };
    let mut buf = [0u8; 3];
    if len != 3 || mem.read(name, &mut buf).is_err() || &buf != b":tt" {
        return MINUS_ONE;
    }
    match mode {
        4..=7 => 1,
        8..=11 => 2,
        _ => MINUS_ONE,
    }
}

/// SYS_HEAPINFO: `x1` points to a pointer to a 4-word block {heap base,
/// heap limit, stack base, stack limit}; zeros mean "unknown", which the C
/// runtimes take as "use your link-time defaults".
fn heapinfo(param: u64, mem: &mut dyn SemihostMemory) -> Result<(), BadGuestAddress> {
    let [block] = read_words::<1>(mem, param)?;
    mem.write(block, &[0u8; 32])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x4000_0000;
    const SIZE: u64 = 0x10000;

    fn ram() -> GuestRam {
        GuestRam::with_region("dram", BASE, SIZE).unwrap()
    }

    fn call(sh: &mut Semihosting, ram: &mut GuestRam, op: u64, param: u64) -> (SemihostOutcome, Vec<u8>) {
        let mut out = Vec::new();
        let r = sh.handle(op, param, ram, &mut out);
        (r, out)
    }

    fn put_words(ram: &mut GuestRam, addr: u64, words: &[u64]) {
        for (i, w) in words.iter().enumerate() {
            ram.write_u64(addr + 8 * i as u64, *w).unwrap();
        }
    }

    #[test]
    fn writec() {
        let (mut sh, mut ram) = (Semihosting::new(), ram());
        ram.write_u8(BASE + 5, b'k').unwrap();
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITEC, BASE + 5),
            (SemihostOutcome::Return(0), b"k".to_vec())
        );
        // w0 only: upper bits of x0 are ignored.
        assert_eq!(call(&mut sh, &mut ram, 0xdead_0000_0000_0003, BASE + 5).1, b"k");
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITEC, 0),
            (SemihostOutcome::Return(MINUS_ONE), vec![])
        );
    }

    #[test]
    fn write0() {
        let (mut sh, mut ram) = (Semihosting::new(), ram());
        ram.write_bytes(BASE + 0x100, b"hello, world\n\0junk").unwrap();
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITE0, BASE + 0x100),
            (SemihostOutcome::Return(0), b"hello, world\n".to_vec())
        );
        // A long string crossing several chunks.
        let long: Vec<u8> = (0..1000).map(|i| b'a' + (i % 26) as u8).collect();
        ram.write_bytes(BASE + 0x1003, &long).unwrap();
        assert_eq!(call(&mut sh, &mut ram, op::SYS_WRITE0, BASE + 0x1003).1, long);
        // Empty string.
        assert_eq!(call(&mut sh, &mut ram, op::SYS_WRITE0, BASE + 0x2000).1, b"");
        // Unmapped pointer.
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITE0, 0x10),
            (SemihostOutcome::Return(MINUS_ONE), vec![])
        );
        // A string ending exactly at the last byte of RAM, and one running off it.
        ram.write_bytes(BASE + SIZE - 4, b"end\0").unwrap();
        assert_eq!(call(&mut sh, &mut ram, op::SYS_WRITE0, BASE + SIZE - 4).1, b"end");
        ram.write_bytes(BASE + SIZE - 4, b"over").unwrap();
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITE0, BASE + SIZE - 4),
            (SemihostOutcome::Return(MINUS_ONE), b"over".to_vec())
        );
        // Top of the address space: no overflow panic.
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITE0, u64::MAX).0,
            SemihostOutcome::Return(MINUS_ONE)
        );
    }

    #[test]
    fn write0_is_bounded() {
        let mut big = GuestRam::with_region("dram", 0, 2 << 20).unwrap();
        big.write_bytes(0, &vec![b'x'; 2 << 20]).unwrap();
        let mut out = Vec::new();
        let r = Semihosting::new().handle(op::SYS_WRITE0, 0, &mut big, &mut out);
        assert_eq!(r, SemihostOutcome::Return(0));
        assert_eq!(out.len(), WRITE0_MAX);
    }

    #[test]
    fn write() {
        let (mut sh, mut ram) = (Semihosting::new(), ram());
        ram.write_bytes(BASE + 0x200, b"abcdef").unwrap();
        for handle in [1, 2] {
            put_words(&mut ram, BASE, &[handle, BASE + 0x200, 4]);
            assert_eq!(
                call(&mut sh, &mut ram, op::SYS_WRITE, BASE),
                (SemihostOutcome::Return(0), b"abcd".to_vec())
            );
        }
        // Bad handle.
        put_words(&mut ram, BASE, &[7, BASE + 0x200, 4]);
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITE, BASE),
            (SemihostOutcome::Return(MINUS_ONE), vec![])
        );
        // Buffer running off the end of RAM: the readable part is written,
        // the rest reported as not written.
        ram.write_bytes(BASE + SIZE - 3, b"xyz").unwrap();
        put_words(&mut ram, BASE, &[1, BASE + SIZE - 3, 10]);
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITE, BASE),
            (SemihostOutcome::Return(7), b"xyz".to_vec())
        );
        // Unmapped buffer, huge length.
        put_words(&mut ram, BASE, &[1, 0x10, u64::MAX]);
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITE, BASE),
            (SemihostOutcome::Return(u64::MAX), vec![])
        );
        // Bad parameter block.
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITE, BASE + SIZE - 16).0,
            SemihostOutcome::Return(MINUS_ONE)
        );
        // Zero length.
        put_words(&mut ram, BASE, &[1, 0, 0]);
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_WRITE, BASE),
            (SemihostOutcome::Return(0), vec![])
        );
    }

    #[test]
    fn write_to_a_failing_console_reports_bytes_not_written() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("closed"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut ram = ram();
        put_words(&mut ram, BASE, &[1, BASE + 0x100, 5]);
        let r = Semihosting::new().handle(op::SYS_WRITE, BASE, &mut ram, &mut Broken);
        assert_eq!(r, SemihostOutcome::Return(5));
    }

    #[test]
    fn exit() {
        let (mut sh, mut ram) = (Semihosting::new(), ram());
        for o in [op::SYS_EXIT, op::SYS_EXIT_EXTENDED] {
            put_words(&mut ram, BASE, &[ADP_STOPPED_APPLICATION_EXIT, 0]);
            assert_eq!(call(&mut sh, &mut ram, o, BASE).0, SemihostOutcome::Exit(0));
            put_words(&mut ram, BASE, &[ADP_STOPPED_APPLICATION_EXIT, 42]);
            assert_eq!(call(&mut sh, &mut ram, o, BASE).0, SemihostOutcome::Exit(42));
            // Truncated to 32 bits.
            put_words(&mut ram, BASE, &[ADP_STOPPED_APPLICATION_EXIT, 0x1_ffff_ffff]);
            assert_eq!(call(&mut sh, &mut ram, o, BASE).0, SemihostOutcome::Exit(-1));
            // ADP_Stopped_RunTimeErrorUnknown and friends: status 1.
            put_words(&mut ram, BASE, &[0x20023, 0]);
            assert_eq!(call(&mut sh, &mut ram, o, BASE).0, SemihostOutcome::Exit(1));
            // Unreadable block.
            assert_eq!(call(&mut sh, &mut ram, o, 0).0, SemihostOutcome::Exit(1));
            assert_eq!(call(&mut sh, &mut ram, o, BASE + SIZE - 8).0, SemihostOutcome::Exit(1));
        }
    }

    #[test]
    fn clock_time_errno() {
        let (mut sh, mut ram) = (Semihosting::new(), ram());
        assert_eq!(call(&mut sh, &mut ram, op::SYS_ERRNO, 0).0, SemihostOutcome::Return(0));
        let SemihostOutcome::Return(t) = call(&mut sh, &mut ram, op::SYS_TIME, 0).0 else {
            panic!()
        };
        assert!(t > 1_600_000_000, "SYS_TIME returned {t}");
        let SemihostOutcome::Return(c0) = call(&mut sh, &mut ram, op::SYS_CLOCK, 0).0 else {
            panic!()
        };
        assert!(c0 < 100, "SYS_CLOCK returned {c0} right after start");
        sh.start -= std::time::Duration::from_millis(1234);
        let SemihostOutcome::Return(c1) = call(&mut sh, &mut ram, op::SYS_CLOCK, 0).0 else {
            panic!()
        };
        assert!((123..200).contains(&c1), "SYS_CLOCK returned {c1}");
    }

    #[test]
    fn clock_and_time_on_virtual_time() {
        let vc = cpu_aarch64::timer::VirtualClock::new();
        let (mut sh, mut ram) = (Semihosting::new().with_virtual_time(vc.clone(), 1_000_000), ram());
        let mut ask = |sh: &mut Semihosting, op| match call(sh, &mut ram, op, 0).0 {
            SemihostOutcome::Return(v) => v,
            o => panic!("{o:?}"),
        };
        assert_eq!(
            (ask(&mut sh, op::SYS_CLOCK), ask(&mut sh, op::SYS_TIME)),
            (0, 1_000_000)
        );
        sh.start -= std::time::Duration::from_secs(5);
        assert_eq!(ask(&mut sh, op::SYS_CLOCK), 0, "host time does not count");
        vc.advance_to(2_345_000_000);
        assert_eq!(
            (ask(&mut sh, op::SYS_CLOCK), ask(&mut sh, op::SYS_TIME)),
            (234, 1_000_002)
        );
    }

    #[test]
    fn heapinfo() {
        let (mut sh, mut ram) = (Semihosting::new(), ram());
        put_words(&mut ram, BASE + 0x40, &[1, 2, 3, 4]);
        put_words(&mut ram, BASE, &[BASE + 0x40]);
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_HEAPINFO, BASE).0,
            SemihostOutcome::Return(0)
        );
        for i in 0..4 {
            assert_eq!(ram.read_u64(BASE + 0x40 + 8 * i).unwrap(), 0);
        }
        put_words(&mut ram, BASE, &[BASE + SIZE - 8]);
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_HEAPINFO, BASE).0,
            SemihostOutcome::Return(MINUS_ONE)
        );
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_HEAPINFO, 8).0,
            SemihostOutcome::Return(MINUS_ONE)
        );
    }

    #[test]
    fn open_istty_close_console() {
        let (mut sh, mut ram) = (Semihosting::new(), ram());
        ram.write_bytes(BASE + 0x100, b":tt\0").unwrap();
        let mut open = |ram: &mut GuestRam, mode: u64, len: u64| {
            put_words(ram, BASE, &[BASE + 0x100, mode, len]);
            call(&mut sh, ram, op::SYS_OPEN, BASE).0
        };
        assert_eq!(open(&mut ram, 4, 3), SemihostOutcome::Return(1));
        assert_eq!(open(&mut ram, 8, 3), SemihostOutcome::Return(2));
        assert_eq!(open(&mut ram, 0, 3), SemihostOutcome::Return(MINUS_ONE));
        assert_eq!(open(&mut ram, 4, 2), SemihostOutcome::Return(MINUS_ONE));
        ram.write_bytes(BASE + 0x100, b"foo").unwrap();
        assert_eq!(open(&mut ram, 4, 3), SemihostOutcome::Return(MINUS_ONE));
        put_words(&mut ram, BASE, &[2]);
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_ISTTY, BASE).0,
            SemihostOutcome::Return(1)
        );
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_CLOSE, BASE).0,
            SemihostOutcome::Return(0)
        );
        put_words(&mut ram, BASE, &[9]);
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_ISTTY, BASE).0,
            SemihostOutcome::Return(0)
        );
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_CLOSE, BASE).0,
            SemihostOutcome::Return(MINUS_ONE)
        );
        assert_eq!(
            call(&mut sh, &mut ram, op::SYS_OPEN, 0).0,
            SemihostOutcome::Return(MINUS_ONE)
        );
    }

    #[test]
    fn unknown_op_returns_minus_one_and_warns_once() {
        let (mut sh, mut ram) = (Semihosting::new(), ram());
        for _ in 0..3 {
            assert_eq!(call(&mut sh, &mut ram, 0x0e, 0).0, SemihostOutcome::Return(MINUS_ONE));
        }
        assert_eq!(sh.warned, [0x0e]);
    }

    #[test]
    fn through_the_system_bus() {
        let mut bus = SystemBus::new(ram());
        bus.ram_mut().write_bytes(BASE, b"bus\0").unwrap();
        let mut out = Vec::new();
        let r = Semihosting::new().handle(op::SYS_WRITE0, BASE, &mut bus, &mut out);
        assert_eq!((r, out.as_slice()), (SemihostOutcome::Return(0), &b"bus"[..]));
    }
}
