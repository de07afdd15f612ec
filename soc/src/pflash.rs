//! CFI parallel NOR flash with the Intel/Sharp command set (primary
//! vendor command set 0x0001), shaped like the flash of QEMU's `virt` board
//! and usable by the same firmware (EDK2's NorFlashDxe, U-Boot, Linux
//! `cfi_cmdset_0001`).
//!
//! # Geometry
//!
//! A bank is two x16 devices side by side on a 32-bit bus ([`BANK_WIDTH`]
//! 4, [`CHIPS`] 2): each 32-bit word holds one 16-bit word of each device,
//! low half in the first. Commands and status are per device, so status,
//! identifier and query data read back once in each 16-bit half (status
//! 0x80 reads as 0x0080_0080). An erase block is [`SECTOR_SIZE`] (256 KiB)
//! of the bank, 128 KiB of each device. The bank size must be a power of
//! two of at least one block; QEMU's `virt` has two banks of
//! [`VIRT_BANK_SIZE`] (64 MiB) at 0 and 64 MiB.
//!
//! # Commands
//!
//! The command is the low byte of any write (1, 2, 4 or 8 bytes; software
//! writes it to both devices, e.g. 0x00FF_00FF, and the second copy is not
//! checked, as in QEMU). Operations complete instantly, so SR.7 (ready)
//! always reads 1.
//!
//! | First cycle | Then | Effect |
//! |---|---|---|
//! | 0xFF (also 0x00, 0xF0) | | read array |
//! | 0x90 | | read identifier: word 0 manufacturer 0x89 (Intel), word 1 device 0x18, word 2 of each block the lock status (always 0: unlocked) |
//! | 0x98 | | CFI query: word `n` is byte `n` of the query table ("QRY", command set 0x0001, Intel extended table "PRI" 1.0) |
//! | 0x70 | | read status register |
//! | 0x50 | | clear status, read array |
//! | 0x40 or 0x10 | data | word program: the written bytes are ANDed into the array |
//! | 0x20 | 0xD0 | erase the block of the first cycle's address to 0xFF |
//! | 0xE8 (block address) | count, data..., 0xD0 | buffered program: count is the number of 16-bit words per device minus one (low half of the written value), i.e. `(count + 1) * 4` bytes of data written anywhere in the block, then programmed on the confirm |
//! | 0x60 | 0x01, 0xD0 or 0x2F | block lock / unlock / lock-down: accepted, blocks stay unlocked |
//! | 0xB0, 0xD0 | | suspend / resume: nothing to suspend, ignored |
//!
//! Any other first-cycle command returns to read array (as QEMU does). A bad
//! second cycle (erase or lock setup not followed by its confirm, a buffer
//! count above the buffer size, buffer data outside the block or beyond the
//! count, a buffered program not confirmed with 0xD0) sets SR.4 and SR.5
//! (command sequence error) and nothing is written. Programming or erasing a
//! read-only bank sets SR.1 (block locked) with SR.4 (program) or SR.5
//! (erase). Error bits stay set until 0x50. After a program, erase or lock
//! command the device reads status until the next command.
//!
//! # Reads and execute in place
//!
//! In read-array mode a read of 1, 2, 4 or 8 bytes at any offset is a plain
//! little-endian memory read, with no allocation: the CPU fetches
//! instructions from bank 0 through it. In the other modes each 32-bit word
//! returns the mode's data and narrower or wider reads see the
//! corresponding bytes. Debug (inspector) reads always see the array.
//!
//! # Backing file
//!
//! Without a file the bank is erased (all 0xFF) and its content is lost at
//! exit. With a [`FlashImage`] the file is read at start and must be a
//! regular file no larger than the bank (a larger one is refused, naming
//! it). A smaller file is padded with 0xFF in memory: the file always holds
//! a prefix of the bank, and grows only when a change is made beyond its end
//! (filling the gap with the bank's content, 0xFF where untouched); erasing
//! beyond its end writes nothing. So a firmware image need not be padded to
//! 64 MiB, and only real changes are written. Each program writes the
//! changed bytes at their position in the file; an erase writes the block
//! and syncs the file to disk, as do [`Pflash::flush`] and dropping the
//! device. A file that cannot be written (permissions) is an error unless
//! the image is opened read-only ([`FlashImage::read_only`]); then programs
//! and erases fail with status errors. If writing the file fails at run
//! time the operation reports a status error (SR.4 or SR.5) and a warning
//! is logged.
//!
//! # Host memory
//!
//! The bank is kept bitwise inverted in memory, so erased flash is zero
//! bytes: the buffer comes from zero pages the OS maps lazily, and an empty
//! or mostly empty 64 MiB bank costs host memory only for its used part.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::device::{AccessInfo, AccessRejected, Device, MmioRegion};
use crate::dt::Node;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// Bytes per bus word: two x16 devices side by side.
pub const BANK_WIDTH: u64 = 4;
/// Devices in a bank.
pub const CHIPS: u64 = 2;
/// Erase block size of the bank (each device has blocks of half this).
pub const SECTOR_SIZE: u64 = 256 * 1024;
/// Bank size on QEMU's `virt` board.
pub const VIRT_BANK_SIZE: u64 = 64 * 1024 * 1024;
/// Base of the first bank on QEMU's `virt` board (the second follows it).
pub const VIRT_FLASH_BASE: u64 = 0;
/// Manufacturer code (Intel).
pub const MANUFACTURER_ID: u16 = 0x89;
/// Device code.
pub const DEVICE_ID: u16 = 0x18;
/// log2 of each device's write buffer in bytes (CFI byte 0x2A).
const WRITE_BUFFER_LOG2: u32 = 8;
/// Write buffer of the bank in bytes (both devices).
pub const WRITE_BUFFER_BYTES: usize = (CHIPS as usize) << WRITE_BUFFER_LOG2;

/// Status register bits.
pub mod sr {
    /// Write state machine ready.
    pub const READY: u8 = 1 << 7;
    /// Erase error (with [`PROGRAM_ERROR`]: command sequence error).
    pub const ERASE_ERROR: u8 = 1 << 5;
    /// Program error.
    pub const PROGRAM_ERROR: u8 = 1 << 4;
    /// Operation on a locked (here: read-only) block.
    pub const BLOCK_LOCKED: u8 = 1 << 1;
    /// Both error bits: invalid command sequence.
    pub const SEQUENCE_ERROR: u8 = ERASE_ERROR | PROGRAM_ERROR;
}

/// A file backing a flash bank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashImage {
    /// The file.
    pub path: PathBuf,
    /// Open it read-only: the guest cannot change it, and programs and
    /// erases fail with status errors.
    pub read_only: bool,
}

impl FlashImage {
    /// A writable image (a firmware variable store).
    pub fn writable(path: impl Into<PathBuf>) -> Self {
        FlashImage {
            path: path.into(),
            read_only: false,
        }
    }

    /// A read-only image (firmware code).
    pub fn read_only(path: impl Into<PathBuf>) -> Self {
        FlashImage {
            path: path.into(),
            read_only: true,
        }
    }
}

/// Why a flash bank could not be created.
#[derive(Debug, thiserror::Error)]
pub enum PflashError {
    /// The bank size is not a power of two of at least one erase block.
    #[error("{name}: flash bank size {size:#x} is not a power of two of at least {SECTOR_SIZE:#x} bytes")]
    Geometry {
        /// Bank name.
        name: String,
        /// Requested size.
        size: u64,
    },
    /// The image file could not be opened (missing, permissions).
    #[error(
        "{name}: cannot open flash image {} {}: {error}{}",
        .path.display(),
        if *.writable { "for reading and writing" } else { "for reading" },
        if *.writable && .error.kind() == io::ErrorKind::PermissionDenied {
            " (make the file writable, or give the image as read-only)"
        } else {
            ""
        }
    )]
    Open {
        /// Bank name.
        name: String,
        /// The image.
        path: PathBuf,
        /// Whether it was opened for writing.
        writable: bool,
        /// The host's reason.
        error: io::Error,
    },
    /// The image is a directory or another non-regular file.
    #[error("{name}: flash image {} is not a regular file", .path.display())]
    NotAFile {
        /// Bank name.
        name: String,
        /// The image.
        path: PathBuf,
    },
    /// The image is larger than the bank.
    #[error("{name}: flash image {} is {len:#x} bytes, larger than the {size:#x}-byte flash bank", .path.display())]
    TooLarge {
        /// Bank name.
        name: String,
        /// The image.
        path: PathBuf,
        /// The file's length.
        len: u64,
        /// The bank size.
        size: u64,
    },
    /// Reading the image failed.
    #[error("{name}: cannot read flash image {}: {error}", .path.display())]
    Read {
        /// Bank name.
        name: String,
        /// The image.
        path: PathBuf,
        /// The host's reason.
        error: io::Error,
    },
}

/// Command state of a bank (offsets are from the bank's base).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Reads see the array.
    ReadArray,
    /// Reads see the identifier codes (0x90).
    ReadId,
    /// Reads see the CFI query table (0x98).
    Query,
    /// Reads see the status register.
    Status,
    /// 0x40/0x10 seen: the next write is data.
    ProgramSetup,
    /// 0x20 seen for the block at this offset.
    EraseSetup(u64),
    /// 0x60 seen.
    LockSetup,
    /// 0xE8 seen for the block at this offset: the next write is the count.
    BufferCount(u64),
    /// Buffer data for the block, this many bytes still expected.
    BufferData(u64, usize),
    /// All data in: the next write must be 0xD0.
    BufferConfirm,
}

/// Where a bank's programs and erases go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlashStore {
    /// Only to memory: lost at exit (no image, or a restored snapshot).
    Memory,
    /// Also to this file.
    File(PathBuf),
    /// Nowhere: the bank is read-only (this image, if it still has it),
    /// programs and erases fail.
    ReadOnly(Option<PathBuf>),
}

/// What an inspector sees of a flash bank ([`Device::inspect`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashView {
    /// Bank size in bytes.
    pub size: u64,
    /// The command state machine.
    pub mode: Mode,
    /// The status register as each device reports it ([`sr`] bits).
    pub status: u8,
    /// Bytes collected for a buffered program, not yet programmed.
    pub buffered: usize,
    /// Where writes go.
    pub store: FlashStore,
    /// Written to the file since its last sync to disk.
    pub unsynced: bool,
}

/// The open backing file.
struct Backing {
    file: File,
    path: PathBuf,
    /// Current length: the file holds `bank[..len]`.
    len: u64,
    /// Written since the last sync.
    dirty: bool,
}

/// One bank of CFI flash.
pub struct Pflash {
    name: String,
    base: u64,
    size: u64,
    /// The array, bitwise inverted (erased = 0).
    inv: Vec<u8>,
    backing: Option<Backing>,
    read_only: bool,
    mode: Mode,
    /// Error bits of the status register (SR.7 always reads 1).
    errors: u8,
    /// Buffered-program data: (offset, byte).
    buffer: Vec<(u64, u8)>,
    /// Number of banks the device-tree node covers (0: no node).
    dt_banks: u32,
    query: [u8; QUERY_LEN],
}

/// Length of the query table.
const QUERY_LEN: usize = 0x44;

impl Pflash {
    /// A bank called `name` at `[base, base + size)`, backed by `image`
    /// (or erased and in memory only when `None`).
    pub fn new(name: &str, base: u64, size: u64, image: Option<&FlashImage>) -> Result<Self, PflashError> {
        if !size.is_power_of_two() || size < SECTOR_SIZE || usize::try_from(size).is_err() {
            return Err(PflashError::Geometry {
                name: name.into(),
                size,
            });
        }
        let mut inv = vec![0u8; size as usize];
        let mut backing = None;
        let mut read_only = false;
        if let Some(img) = image {
            let b = open_image(name, size, img, &mut inv)?;
            read_only = img.read_only;
            backing = Some(b);
        }
        Ok(Pflash {
            name: name.into(),
            base,
            size,
            inv,
            backing,
            read_only,
            mode: Mode::ReadArray,
            errors: 0,
            buffer: Vec::with_capacity(WRITE_BUFFER_BYTES),
            dt_banks: 1,
            query: query_table(size),
        })
    }

    /// Makes this bank's device-tree node cover `banks` consecutive banks
    /// of the same size starting at its base (as [`cfi_flash_node`]), or
    /// omits the node when `banks` is 0 (another bank's node covers it).
    pub fn with_dt_banks(mut self, banks: u32) -> Self {
        self.dt_banks = banks;
        self
    }

    /// Whether the guest cannot change the bank.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The backing file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.backing.as_ref().map(|b| b.path.as_path())
    }

    /// Bank size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Copies the array at `offset` into `buf` (for loaders and tests).
    /// Returns false if the range is outside the bank.
    pub fn read_array(&self, offset: u64, buf: &mut [u8]) -> bool {
        let Some(src) = self.array_range(offset, buf.len()) else {
            return false;
        };
        for (d, s) in buf.iter_mut().zip(&self.inv[src]) {
            *d = !s;
        }
        true
    }

    /// The status register as one device reports it.
    pub fn status(&self) -> u8 {
        sr::READY | self.errors
    }

    /// Syncs written data to the backing file's disk.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.backing {
            Some(b) if b.dirty => {
                b.file.sync_data()?;
                b.dirty = false;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn array_range(&self, offset: u64, len: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(len)?;
        (end <= self.inv.len()).then_some(start..end)
    }

    /// The 32-bit word the current (non-array) mode shows at word `index`.
    fn mode_word(&self, index: u64) -> u32 {
        let per_chip = match self.mode {
            // Everything else, including the lock status at word 2 of each
            // block, reads 0 (unlocked).
            Mode::ReadId => match index {
                0 => MANUFACTURER_ID,
                1 => DEVICE_ID,
                _ => 0,
            },
            Mode::Query => self.query.get(index as usize).copied().map_or(0, u16::from),
            // Array reads never come here; every other mode shows status.
            _ => u16::from(self.status()),
        };
        u32::from(per_chip) | u32::from(per_chip) << 16
    }

    fn read_mode(&self, offset: u64, size: u8) -> u64 {
        let mut v = 0u64;
        for i in 0..u64::from(size) {
            let a = offset + i;
            let byte = (self.mode_word(a / BANK_WIDTH) >> (8 * (a % BANK_WIDTH))) as u8;
            v |= u64::from(byte) << (8 * i);
        }
        v
    }

    fn block_of(offset: u64) -> u64 {
        offset & !(SECTOR_SIZE - 1)
    }

    /// Handles a command (first cycle) written at `offset`.
    fn command(&mut self, offset: u64, cmd: u8) {
        self.mode = match cmd {
            0xff | 0x00 | 0xf0 => Mode::ReadArray,
            0x90 => Mode::ReadId,
            0x98 => Mode::Query,
            0x70 => Mode::Status,
            0x50 => {
                self.errors = 0;
                Mode::ReadArray
            }
            0x40 | 0x10 => Mode::ProgramSetup,
            0x20 => Mode::EraseSetup(Self::block_of(offset)),
            0xe8 => Mode::BufferCount(Self::block_of(offset)),
            0x60 => Mode::LockSetup,
            // Suspend and resume: nothing runs long enough to suspend.
            0xb0 | 0xd0 => Mode::Status,
            _ => {
                tracing::debug!(flash = %self.name, offset = format_args!("{offset:#x}"), cmd = format_args!("{cmd:#04x}"), "unknown flash command; back to read array");
                Mode::ReadArray
            }
        };
    }

    fn write_cycle(&mut self, offset: u64, size: u8, value: u64) {
        let cmd = value as u8;
        match self.mode {
            Mode::ReadArray | Mode::ReadId | Mode::Query | Mode::Status => self.command(offset, cmd),
            Mode::ProgramSetup => {
                let bytes = value.to_le_bytes();
                self.program(offset, &bytes[..usize::from(size)]);
                self.mode = Mode::Status;
            }
            Mode::EraseSetup(block) => {
                if cmd == 0xd0 {
                    self.erase(block);
                } else {
                    self.errors |= sr::SEQUENCE_ERROR;
                }
                self.mode = Mode::Status;
            }
            Mode::LockSetup => {
                if !matches!(cmd, 0x01 | 0xd0 | 0x2f) {
                    self.errors |= sr::SEQUENCE_ERROR;
                }
                self.mode = Mode::Status;
            }
            Mode::BufferCount(block) => {
                // Words per device minus one, from the first device's half.
                let words = (value & 0xffff) as usize + 1;
                let bytes = words * CHIPS as usize * 2;
                if bytes > WRITE_BUFFER_BYTES {
                    self.errors |= sr::SEQUENCE_ERROR;
                    self.mode = Mode::Status;
                } else {
                    self.buffer.clear();
                    self.mode = Mode::BufferData(block, bytes);
                }
            }
            Mode::BufferData(block, left) => {
                let n = usize::from(size);
                if Self::block_of(offset) != block || Self::block_of(offset + u64::from(size) - 1) != block || n > left
                {
                    self.errors |= sr::SEQUENCE_ERROR;
                    self.buffer.clear();
                    self.mode = Mode::Status;
                    return;
                }
                let bytes = value.to_le_bytes();
                self.buffer.extend((0..n).map(|i| (offset + i as u64, bytes[i])));
                self.mode = if n == left {
                    Mode::BufferConfirm
                } else {
                    Mode::BufferData(block, left - n)
                };
            }
            Mode::BufferConfirm => {
                if cmd == 0xd0 {
                    self.program_buffer();
                } else {
                    self.errors |= sr::SEQUENCE_ERROR;
                    self.buffer.clear();
                }
                self.mode = Mode::Status;
            }
        }
    }

    /// ANDs `bytes` into the array at `offset` and writes them back.
    fn program(&mut self, offset: u64, bytes: &[u8]) {
        if self.read_only {
            self.errors |= sr::PROGRAM_ERROR | sr::BLOCK_LOCKED;
            return;
        }
        let Some(r) = self.array_range(offset, bytes.len()) else {
            self.errors |= sr::PROGRAM_ERROR;
            return;
        };
        for (d, s) in self.inv[r.clone()].iter_mut().zip(bytes) {
            *d |= !s;
        }
        if let Err(e) = self.persist(r, false) {
            self.write_failed("program", &e);
            self.errors |= sr::PROGRAM_ERROR;
        }
    }

    fn program_buffer(&mut self) {
        if self.read_only {
            self.errors |= sr::PROGRAM_ERROR | sr::BLOCK_LOCKED;
            self.buffer.clear();
            return;
        }
        let (mut lo, mut hi) = (usize::MAX, 0);
        for &(off, byte) in &self.buffer {
            let i = off as usize;
            self.inv[i] |= !byte;
            lo = lo.min(i);
            hi = hi.max(i + 1);
        }
        self.buffer.clear();
        if lo < hi {
            if let Err(e) = self.persist(lo..hi, false) {
                self.write_failed("buffered program", &e);
                self.errors |= sr::PROGRAM_ERROR;
            }
        }
    }

    fn erase(&mut self, block: u64) {
        if self.read_only {
            self.errors |= sr::ERASE_ERROR | sr::BLOCK_LOCKED;
            return;
        }
        let r = block as usize..(block + SECTOR_SIZE) as usize;
        self.inv[r.clone()].fill(0);
        if let Err(e) = self.persist(r, true) {
            self.write_failed("erase", &e);
            self.errors |= sr::ERASE_ERROR;
        }
    }

    fn write_failed(&self, what: &str, e: &io::Error) {
        let path = self.path().map(|p| p.display().to_string()).unwrap_or_default();
        tracing::warn!(flash = %self.name, file = %path, error = %e, "flash {what} could not be written to the backing file");
    }

    /// Writes `bank[range]` to the backing file (see the module docs for
    /// files shorter than the bank), then syncs if `sync`.
    fn persist(&mut self, range: std::ops::Range<usize>, sync: bool) -> io::Result<()> {
        let Some(b) = &mut self.backing else {
            return Ok(());
        };
        let len = b.len as usize;
        let mut start = range.start;
        let mut end = range.end.min(len);
        if range.end > len && self.inv[range.start.max(len)..range.end].iter().any(|&x| x != 0) {
            // A change past the end: grow the file up to it.
            start = start.min(len);
            end = range.end;
        }
        if start < end {
            let bytes: Vec<u8> = self.inv[start..end].iter().map(|x| !x).collect();
            b.file.write_all_at(&bytes, start as u64)?;
            b.len = b.len.max(end as u64);
            b.dirty = true;
        }
        if sync && b.dirty {
            b.file.sync_data()?;
            b.dirty = false;
        }
        Ok(())
    }
}

/// Opens `img` for bank `name` of `size` bytes and reads it into `inv`
/// (inverted).
fn open_image(name: &str, size: u64, img: &FlashImage, inv: &mut [u8]) -> Result<Backing, PflashError> {
    let writable = !img.read_only;
    let open_err = |error| PflashError::Open {
        name: name.into(),
        path: img.path.clone(),
        writable,
        error,
    };
    // Look first, so a directory is reported as such rather than as a
    // failure to open it for writing.
    let meta = std::fs::metadata(&img.path).map_err(open_err)?;
    if !meta.is_file() {
        return Err(PflashError::NotAFile {
            name: name.into(),
            path: img.path.clone(),
        });
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(writable)
        .open(&img.path)
        .map_err(open_err)?;
    let read_err = |error| PflashError::Read {
        name: name.into(),
        path: img.path.clone(),
        error,
    };
    let len = file.metadata().map_err(read_err)?.len();
    if len > size {
        return Err(PflashError::TooLarge {
            name: name.into(),
            path: img.path.clone(),
            len,
            size,
        });
    }
    let data = &mut inv[..len as usize];
    file.read_exact(data).map_err(read_err)?;
    for b in data.iter_mut() {
        *b = !*b;
    }
    Ok(Backing {
        file,
        path: img.path.clone(),
        len,
        dirty: false,
    })
}

/// The CFI query table of one device of a bank of `bank_size` bytes.
fn query_table(bank_size: u64) -> [u8; QUERY_LEN] {
    let mut t = [0u8; QUERY_LEN];
    let chip_size = bank_size / CHIPS;
    let blocks = bank_size / SECTOR_SIZE;
    let block_units = (SECTOR_SIZE / CHIPS) / 256;
    let entries: &[(usize, u8)] = &[
        // "QRY"
        (0x10, b'Q'),
        (0x11, b'R'),
        (0x12, b'Y'),
        // Primary command set 0x0001 (Intel/Sharp extended), its extended
        // table at 0x31; no alternate command set.
        (0x13, 0x01),
        (0x14, 0x00),
        (0x15, 0x31),
        (0x16, 0x00),
        // Vcc 2.7-3.6 V (BCD), no Vpp.
        (0x1b, 0x27),
        (0x1c, 0x36),
        // Typical timeouts: word program 2^6 us, buffer 2^8 us, block
        // erase 2^10 ms, no chip erase; maxima 2^2 times those.
        (0x1f, 0x06),
        (0x20, 0x08),
        (0x21, 0x0a),
        (0x23, 0x02),
        (0x24, 0x02),
        (0x25, 0x02),
        // Device size 2^n bytes.
        (0x27, chip_size.trailing_zeros() as u8),
        // x16 asynchronous interface.
        (0x28, 0x01),
        // Write buffer 2^n bytes.
        (0x2a, WRITE_BUFFER_LOG2 as u8),
        // One erase block region: blocks - 1, block size / 256.
        (0x2c, 0x01),
        (0x2d, (blocks - 1) as u8),
        (0x2e, ((blocks - 1) >> 8) as u8),
        (0x2f, block_units as u8),
        (0x30, (block_units >> 8) as u8),
        // Intel extended query "PRI" version 1.0: no optional features,
        // block status register reports the lock bit, Vcc 3.3 V, no
        // protection registers.
        (0x31, b'P'),
        (0x32, b'R'),
        (0x33, b'I'),
        (0x34, b'1'),
        (0x35, b'0'),
        (0x3b, 0x01),
        (0x3d, 0x33),
    ];
    for &(i, v) in entries {
        t[i] = v;
    }
    t
}

/// The single `cfi-flash` node QEMU's `virt` board gives its flash:
/// `banks` banks of `bank_size` bytes from `base`, 4 bytes wide.
pub fn cfi_flash_node(base: u64, bank_size: u64, banks: u32) -> Node {
    let ranges: Vec<(u64, u64)> = (0..u64::from(banks))
        .map(|i| (base + i * bank_size, bank_size))
        .collect();
    Node::with_unit("flash", base)
        .string("compatible", "cfi-flash")
        .reg64(&ranges)
        .cells("bank-width", &[BANK_WIDTH as u32])
}

/// The two flash banks of QEMU's `virt` board: `flash0` at `base` and
/// `flash1` right after it, `bank_size` bytes each, backed by `images`.
/// `flash0` renders the one device-tree node covering both; `flash1` none.
pub fn virt_flash_banks(
    base: u64,
    bank_size: u64,
    images: [Option<&FlashImage>; 2],
) -> Result<[Pflash; 2], PflashError> {
    let bank0 = Pflash::new("flash0", base, bank_size, images[0])?.with_dt_banks(2);
    let bank1 = Pflash::new("flash1", base + bank_size, bank_size, images[1])?.with_dt_banks(0);
    Ok([bank0, bank1])
}

impl Device for Pflash {
    fn name(&self) -> &str {
        &self.name
    }

    fn regions(&self) -> Vec<MmioRegion> {
        vec![MmioRegion {
            base: self.base,
            size: self.size,
        }]
    }

    #[inline]
    fn read(&mut self, info: AccessInfo) -> Result<u64, AccessRejected> {
        let n = usize::from(info.size);
        if !matches!(n, 1 | 2 | 4 | 8) {
            return Err(AccessRejected);
        }
        let r = self.array_range(info.offset, n).ok_or(AccessRejected)?;
        if self.mode == Mode::ReadArray || info.debug {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&self.inv[r]);
            let mask = if n == 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
            return Ok(!u64::from_le_bytes(b) & mask);
        }
        Ok(self.read_mode(info.offset, info.size))
    }

    fn write(&mut self, info: AccessInfo, value: u64) -> Result<(), AccessRejected> {
        if !matches!(info.size, 1 | 2 | 4 | 8) {
            return Err(AccessRejected);
        }
        self.array_range(info.offset, usize::from(info.size))
            .ok_or(AccessRejected)?;
        self.write_cycle(info.offset, info.size, value);
        Ok(())
    }

    fn inspect(&self, _mem: &crate::ram::GuestRam) -> Option<crate::device::DeviceView> {
        let store = match (&self.backing, self.read_only) {
            (b, true) => FlashStore::ReadOnly(b.as_ref().map(|b| b.path.clone())),
            (None, false) => FlashStore::Memory,
            (Some(b), false) => FlashStore::File(b.path.clone()),
        };
        Some(crate::device::DeviceView::Flash(FlashView {
            size: self.size,
            mode: self.mode,
            status: self.status(),
            buffered: self.buffer.len(),
            store,
            unsynced: self.backing.as_ref().is_some_and(|b| b.dirty),
        }))
    }

    /// The array (only its programmed pages), the command state and the
    /// buffered-program data. A restored bank keeps its array in memory
    /// only: the image file on the restoring command line is neither read
    /// (the snapshot holds the contents) nor written, so restoring one
    /// snapshot many times always starts from the same flash.
    fn save_state(&self, w: &mut StateWriter) -> Result<(), StateError> {
        w.sparse(&self.inv, 0);
        let (tag, a, b) = match self.mode {
            Mode::ReadArray => (0, 0, 0),
            Mode::ReadId => (1, 0, 0),
            Mode::Query => (2, 0, 0),
            Mode::Status => (3, 0, 0),
            Mode::ProgramSetup => (4, 0, 0),
            Mode::EraseSetup(o) => (5, o, 0),
            Mode::LockSetup => (6, 0, 0),
            Mode::BufferCount(o) => (7, o, 0),
            Mode::BufferData(o, n) => (8, o, n as u64),
            Mode::BufferConfirm => (9, 0, 0),
        };
        w.u8(tag);
        w.u64(a);
        w.u64(b);
        w.u8(self.errors);
        w.u64(self.buffer.len() as u64);
        for &(o, v) in &self.buffer {
            w.u64(o);
            w.u8(v);
        }
        Ok(())
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let inv = r.sparse("array", self.inv.len(), 0)?;
        let (tag, a, b) = (r.u8("mode")?, r.u64("mode")?, r.u64("mode")?);
        let size = self.size;
        let off = |r: &StateReader<'_>| {
            if a < size {
                Ok(a)
            } else {
                Err(r.invalid("mode offset", format!("{a:#x}")))
            }
        };
        let mode = match tag {
            0 => Mode::ReadArray,
            1 => Mode::ReadId,
            2 => Mode::Query,
            3 => Mode::Status,
            4 => Mode::ProgramSetup,
            5 => Mode::EraseSetup(off(r)?),
            6 => Mode::LockSetup,
            7 => Mode::BufferCount(off(r)?),
            8 if b <= WRITE_BUFFER_BYTES as u64 => Mode::BufferData(off(r)?, b as usize),
            9 => Mode::BufferConfirm,
            t => return Err(r.invalid("mode", t)),
        };
        let errors = r.u8("errors")?;
        let n = r.len("buffer", 9)?;
        if n > WRITE_BUFFER_BYTES {
            return Err(r.invalid("buffer", format!("{n} bytes")));
        }
        let mut buffer = Vec::with_capacity(WRITE_BUFFER_BYTES);
        for _ in 0..n {
            let o = r.u64("buffer")?;
            if o >= size {
                return Err(r.invalid("buffer offset", format!("{o:#x}")));
            }
            buffer.push((o, r.u8("buffer")?));
        }
        if let Err(e) = self.flush() {
            self.write_failed("sync", &e);
        }
        self.backing = None;
        self.inv = inv;
        (self.mode, self.errors, self.buffer) = (mode, errors, buffer);
        Ok(())
    }

    fn dt_node(&self) -> Option<Node> {
        (self.dt_banks > 0).then(|| cfi_flash_node(self.base, self.size, self.dt_banks))
    }
}

impl Drop for Pflash {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            self.write_failed("sync", &e);
        }
    }
}

impl std::fmt::Debug for Pflash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pflash")
            .field("name", &self.name)
            .field("base", &format_args!("{:#x}", self.base))
            .field("size", &format_args!("{:#x}", self.size))
            .field("file", &self.path())
            .field("read_only", &self.read_only)
            .field("mode", &self.mode)
            .field("status", &format_args!("{:#04x}", self.status()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const SIZE: u64 = 1 << 20; // 4 blocks

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "preboard-pflash-{}-{tag}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }

        fn file(&self, name: &str, content: &[u8]) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, content).unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn acc(offset: u64, size: u8) -> AccessInfo {
        AccessInfo {
            cpu: 0,
            region: 0,
            offset,
            size,
            debug: false,
        }
    }

    fn rd(f: &mut Pflash, offset: u64) -> u64 {
        f.read(acc(offset, 4)).unwrap()
    }

    fn wr(f: &mut Pflash, offset: u64, v: u64) {
        f.write(acc(offset, 4), v).unwrap()
    }

    /// A command to both devices, as drivers write it.
    fn cmd(f: &mut Pflash, offset: u64, c: u32) {
        wr(f, offset, u64::from(c) << 16 | u64::from(c));
    }

    fn mem_flash() -> Pflash {
        Pflash::new("flash0", 0, SIZE, None).unwrap()
    }

    /// The status register as read on the bus (both devices).
    fn status_word(f: &mut Pflash) -> u64 {
        cmd(f, 0, 0x70);
        rd(f, 0)
    }

    #[test]
    fn erased_in_memory_and_array_reads_of_all_sizes() {
        let mut f = mem_flash();
        assert_eq!(f.read(acc(0, 8)).unwrap(), u64::MAX);
        assert_eq!(rd(&mut f, SIZE - 4), 0xffff_ffff);
        assert_eq!(f.read(acc(SIZE - 4, 8)), Err(AccessRejected));
        assert_eq!(f.read(acc(0, 3)), Err(AccessRejected));
        assert_eq!(f.write(acc(SIZE, 4), 0xff), Err(AccessRejected));
        cmd(&mut f, 0x100, 0x40);
        f.write(acc(0x100, 8), 0x1122_3344_5566_7788).unwrap();
        cmd(&mut f, 0, 0xff);
        assert_eq!(f.read(acc(0x100, 8)).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(rd(&mut f, 0x104), 0x1122_3344);
        assert_eq!(f.read(acc(0x102, 2)).unwrap(), 0x5566);
        assert_eq!(f.read(acc(0x107, 1)).unwrap(), 0x11);
        // Unaligned: any offset in array mode.
        assert_eq!(f.read(acc(0x103, 4)).unwrap(), 0x2233_4455);
        let mut buf = [0u8; 3];
        assert!(f.read_array(0x100, &mut buf));
        assert_eq!(buf, [0x88, 0x77, 0x66]);
        assert!(!f.read_array(SIZE - 1, &mut buf));
    }

    #[test]
    fn identifier_and_cfi_query() {
        let mut f = Pflash::new("flash0", 0, VIRT_BANK_SIZE, None).unwrap();
        cmd(&mut f, 0, 0x90);
        assert_eq!(rd(&mut f, 0), 0x0089_0089);
        assert_eq!(rd(&mut f, 4), 0x0018_0018);
        // Lock status of block 1: unlocked.
        assert_eq!(rd(&mut f, SECTOR_SIZE + 8), 0);
        // Narrow reads see the corresponding lanes.
        assert_eq!(f.read(acc(0, 2)).unwrap(), 0x89);
        assert_eq!(f.read(acc(2, 2)).unwrap(), 0x89);
        assert_eq!(f.read(acc(0, 8)).unwrap(), 0x0018_0018_0089_0089);
        // Debug reads see the array.
        assert_eq!(
            f.read(AccessInfo {
                debug: true,
                ..acc(0, 4)
            })
            .unwrap(),
            0xffff_ffff
        );

        // Linux probes with the query command at word 0x55.
        cmd(&mut f, 0x55 * 4, 0x98);
        let q = |f: &mut Pflash, i: u64| -> u8 {
            let w = rd(f, i * 4);
            assert_eq!(w >> 16, w & 0xffff, "both devices answer the same");
            w as u8
        };
        assert_eq!([q(&mut f, 0x10), q(&mut f, 0x11), q(&mut f, 0x12)], *b"QRY");
        // Primary command set 0x0001, extended table at 0x31.
        assert_eq!((q(&mut f, 0x13), q(&mut f, 0x14)), (0x01, 0x00));
        assert_eq!((q(&mut f, 0x15), q(&mut f, 0x16)), (0x31, 0x00));
        // Each device: 32 MiB, x16, 256-byte write buffer, 256 blocks of 128 KiB.
        assert_eq!(q(&mut f, 0x27), 25);
        assert_eq!((q(&mut f, 0x28), q(&mut f, 0x29)), (0x01, 0x00));
        assert_eq!((q(&mut f, 0x2a), q(&mut f, 0x2b)), (8, 0));
        assert_eq!(q(&mut f, 0x2c), 1);
        let blocks = u16::from(q(&mut f, 0x2d)) | u16::from(q(&mut f, 0x2e)) << 8;
        let units = u32::from(q(&mut f, 0x2f)) | u32::from(q(&mut f, 0x30)) << 8;
        assert_eq!((u32::from(blocks) + 1, units * 256), (256, 128 * 1024));
        // Together the devices make the bank.
        assert_eq!((1u64 << q(&mut f, 0x27)) * CHIPS, VIRT_BANK_SIZE);
        assert_eq!(u64::from(units) * 256 * CHIPS, SECTOR_SIZE);
        // Timeouts are non-zero for what is supported.
        for i in [0x1f, 0x20, 0x21, 0x23, 0x24, 0x25] {
            assert_ne!(q(&mut f, i), 0, "query byte {i:#x}");
        }
        assert_eq!(q(&mut f, 0x22), 0);
        // Intel extended query "PRI" 1.0.
        assert_eq!(
            [
                q(&mut f, 0x31),
                q(&mut f, 0x32),
                q(&mut f, 0x33),
                q(&mut f, 0x34),
                q(&mut f, 0x35)
            ],
            *b"PRI10"
        );
        assert_eq!(q(&mut f, 0x100), 0);
        // Back to array mode.
        cmd(&mut f, 0, 0xff);
        assert_eq!(rd(&mut f, 0x40), 0xffff_ffff);
    }

    #[test]
    fn program_only_clears_bits_and_reports_status() {
        let mut f = mem_flash();
        cmd(&mut f, 0x40, 0x40);
        wr(&mut f, 0x40, 0xf0f0_1234);
        // The device reads status after a program.
        assert_eq!(rd(&mut f, 0x40), 0x0080_0080);
        cmd(&mut f, 0x40, 0x10);
        wr(&mut f, 0x40, 0x0ff0_ffff);
        cmd(&mut f, 0, 0xff);
        assert_eq!(rd(&mut f, 0x40), 0x00f0_1234);
        // A narrow program changes only its bytes.
        cmd(&mut f, 0x40, 0x40);
        f.write(acc(0x41, 1), 0x00).unwrap();
        cmd(&mut f, 0, 0xff);
        assert_eq!(rd(&mut f, 0x40), 0x00f0_0034);
        assert_eq!(status_word(&mut f), 0x0080_0080);
    }

    #[test]
    fn block_erase() {
        let mut f = mem_flash();
        for off in [SECTOR_SIZE - 4, SECTOR_SIZE, 2 * SECTOR_SIZE - 4, 2 * SECTOR_SIZE] {
            cmd(&mut f, off, 0x40);
            wr(&mut f, off, 0);
        }
        // Erase block 1, confirming at another address in it.
        cmd(&mut f, SECTOR_SIZE + 0x100, 0x20);
        cmd(&mut f, SECTOR_SIZE, 0xd0);
        assert_eq!(rd(&mut f, 0), 0x0080_0080);
        cmd(&mut f, 0, 0xff);
        assert_eq!(rd(&mut f, SECTOR_SIZE - 4), 0);
        assert_eq!(rd(&mut f, SECTOR_SIZE), 0xffff_ffff);
        assert_eq!(rd(&mut f, 2 * SECTOR_SIZE - 4), 0xffff_ffff);
        assert_eq!(rd(&mut f, 2 * SECTOR_SIZE), 0);
        // Erase setup without the confirm: sequence error, nothing erased.
        cmd(&mut f, 0, 0x20);
        cmd(&mut f, 0, 0xff);
        assert_eq!(rd(&mut f, 0), 0x00b0_00b0);
        cmd(&mut f, 0, 0x50);
        assert_eq!(rd(&mut f, SECTOR_SIZE - 4), 0);
        assert_eq!(status_word(&mut f), 0x0080_0080);
    }

    #[test]
    fn buffered_program() {
        let mut f = mem_flash();
        let base = SECTOR_SIZE + 0x200;
        cmd(&mut f, SECTOR_SIZE, 0xe8);
        // Buffer available.
        assert_eq!(rd(&mut f, SECTOR_SIZE) & 0x0080_0080, 0x0080_0080);
        // Count 3: four 16-bit words per device, four bank words.
        cmd(&mut f, base, 3);
        for i in 0..4u64 {
            wr(&mut f, base + 4 * i, 0x1000_0000 + i);
        }
        // Nothing is programmed before the confirm.
        assert_eq!(
            f.read(AccessInfo {
                debug: true,
                ..acc(base, 4)
            })
            .unwrap(),
            0xffff_ffff
        );
        cmd(&mut f, base, 0xd0);
        assert_eq!(rd(&mut f, base), 0x0080_0080);
        cmd(&mut f, 0, 0xff);
        for i in 0..4u64 {
            assert_eq!(rd(&mut f, base + 4 * i), 0x1000_0000 + i);
        }
        assert_eq!(rd(&mut f, base + 16), 0xffff_ffff);

        // The largest buffer, in 8-byte writes.
        let words = WRITE_BUFFER_BYTES as u64 / 4;
        cmd(&mut f, 0, 0xe8);
        cmd(&mut f, 0, (words - 1) as u32);
        for i in 0..words / 2 {
            f.write(acc(8 * i, 8), 0x0101_0101_0101_0101 * (i & 0x7f)).unwrap();
        }
        cmd(&mut f, 0, 0xd0);
        assert_eq!(status_word(&mut f), 0x0080_0080);
        cmd(&mut f, 0, 0xff);
        assert_eq!(f.read(acc(8 * 5, 8)).unwrap(), 0x0505_0505_0505_0505);
    }

    #[test]
    fn buffered_program_sequence_errors() {
        let mut f = mem_flash();
        // Count above the buffer size.
        cmd(&mut f, 0, 0xe8);
        cmd(&mut f, 0, (WRITE_BUFFER_BYTES / 4) as u32);
        assert_eq!(rd(&mut f, 0), 0x00b0_00b0);
        cmd(&mut f, 0, 0x50);
        // Missing confirm: nothing programmed.
        cmd(&mut f, 0, 0xe8);
        cmd(&mut f, 0, 0);
        wr(&mut f, 0x10, 0);
        cmd(&mut f, 0, 0xff);
        assert_eq!(rd(&mut f, 0), 0x00b0_00b0);
        cmd(&mut f, 0, 0x50);
        assert_eq!(rd(&mut f, 0x10), 0xffff_ffff);
        // Data outside the block.
        cmd(&mut f, 0, 0xe8);
        cmd(&mut f, 0, 1);
        wr(&mut f, SECTOR_SIZE, 0);
        assert_eq!(rd(&mut f, 0), 0x00b0_00b0);
        cmd(&mut f, 0, 0x50);
        // More data than the count.
        cmd(&mut f, 0, 0xe8);
        cmd(&mut f, 0, 0);
        f.write(acc(0, 8), 0).unwrap();
        assert_eq!(rd(&mut f, 0), 0x00b0_00b0);
        cmd(&mut f, 0, 0x50);
        cmd(&mut f, 0, 0xff);
        assert_eq!(f.read(acc(0, 8)).unwrap(), u64::MAX);
    }

    #[test]
    fn lock_commands_are_accepted_and_blocks_stay_unlocked() {
        let mut f = mem_flash();
        for confirm in [0x01, 0xd0, 0x2f] {
            cmd(&mut f, SECTOR_SIZE, 0x60);
            cmd(&mut f, SECTOR_SIZE, confirm);
            assert_eq!(rd(&mut f, SECTOR_SIZE), 0x0080_0080);
        }
        cmd(&mut f, SECTOR_SIZE, 0x90);
        assert_eq!(rd(&mut f, SECTOR_SIZE + 8), 0);
        cmd(&mut f, 0, 0x60);
        cmd(&mut f, 0, 0x42);
        assert_eq!(rd(&mut f, 0), 0x00b0_00b0);
        // Programming still works.
        cmd(&mut f, 0, 0x50);
        cmd(&mut f, SECTOR_SIZE, 0x40);
        wr(&mut f, SECTOR_SIZE, 0);
        assert_eq!(status_word(&mut f), 0x0080_0080);
        // Suspend/resume and unknown commands are harmless.
        cmd(&mut f, 0, 0xb0);
        cmd(&mut f, 0, 0xd0);
        cmd(&mut f, 0, 0x77);
        assert_eq!(rd(&mut f, SECTOR_SIZE), 0);
    }

    #[test]
    fn read_only_bank_reports_errors_and_keeps_data() {
        let dir = TempDir::new("ro");
        let path = dir.file("code.fd", &[0x11; 4096]);
        let mut f = Pflash::new("flash0", 0, SIZE, Some(&FlashImage::read_only(&path))).unwrap();
        assert!(f.is_read_only());
        assert_eq!(rd(&mut f, 0), 0x1111_1111);
        assert_eq!(rd(&mut f, 4096), 0xffff_ffff);
        cmd(&mut f, 0, 0x40);
        wr(&mut f, 0, 0);
        // SR.7 | SR.4 | SR.1 in both devices.
        assert_eq!(rd(&mut f, 0), 0x0092_0092);
        cmd(&mut f, 0, 0x50);
        cmd(&mut f, 0, 0x20);
        cmd(&mut f, 0, 0xd0);
        assert_eq!(rd(&mut f, 0), 0x00a2_00a2);
        cmd(&mut f, 0, 0x50);
        cmd(&mut f, 0, 0xe8);
        cmd(&mut f, 0, 0);
        wr(&mut f, 0, 0);
        cmd(&mut f, 0, 0xd0);
        assert_eq!(rd(&mut f, 0), 0x0092_0092);
        cmd(&mut f, 0, 0xff);
        assert_eq!(rd(&mut f, 0), 0x1111_1111);
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), vec![0x11; 4096]);
    }

    #[test]
    fn program_and_erase_persist_across_reopen() {
        let dir = TempDir::new("persist");
        let mut image = vec![0xffu8; SIZE as usize];
        image[..4].copy_from_slice(&[1, 2, 3, 4]);
        image[SECTOR_SIZE as usize..SECTOR_SIZE as usize + 4].fill(0);
        let path = dir.file("vars.fd", &image);
        let img = FlashImage::writable(&path);
        {
            let mut f = Pflash::new("flash1", 0x400_0000, SIZE, Some(&img)).unwrap();
            assert_eq!(f.path(), Some(path.as_path()));
            assert_eq!(rd(&mut f, 0), 0x0403_0201);
            cmd(&mut f, 0x80, 0x40);
            wr(&mut f, 0x80, 0xdead_beef);
            cmd(&mut f, 0, 0xe8);
            cmd(&mut f, 0, 1);
            wr(&mut f, 0x100, 0x0102_0304);
            wr(&mut f, 0x104, 0x0506_0708);
            cmd(&mut f, 0, 0xd0);
            cmd(&mut f, SECTOR_SIZE, 0x20);
            cmd(&mut f, SECTOR_SIZE, 0xd0);
            assert_eq!(status_word(&mut f), 0x0080_0080);
            f.flush().unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), SIZE as usize);
        assert_eq!(&on_disk[0x80..0x84], &0xdead_beefu32.to_le_bytes());
        assert_eq!(&on_disk[SECTOR_SIZE as usize..SECTOR_SIZE as usize + 4], &[0xff; 4]);
        let mut f = Pflash::new("flash1", 0x400_0000, SIZE, Some(&img)).unwrap();
        assert_eq!(rd(&mut f, 0), 0x0403_0201);
        assert_eq!(rd(&mut f, 0x80), 0xdead_beef);
        assert_eq!(f.read(acc(0x100, 8)).unwrap(), 0x0506_0708_0102_0304);
        assert_eq!(rd(&mut f, SECTOR_SIZE), 0xffff_ffff);
    }

    #[test]
    fn short_file_grows_only_for_real_changes() {
        let dir = TempDir::new("short");
        let path = dir.file("small.fd", &[0xaa; 100]);
        let img = FlashImage::writable(&path);
        {
            let mut f = Pflash::new("flash0", 0, SIZE, Some(&img)).unwrap();
            // Padded with erased flash in memory.
            assert_eq!(f.read(acc(96, 8)).unwrap(), 0xffff_ffff_aaaa_aaaa);
            // Erasing beyond the end writes nothing.
            cmd(&mut f, SECTOR_SIZE, 0x20);
            cmd(&mut f, SECTOR_SIZE, 0xd0);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 100);
            // Programming 0xFF (no change) beyond the end writes nothing.
            cmd(&mut f, 0x1000, 0x40);
            wr(&mut f, 0x1000, 0xffff_ffff);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 100);
            // A real change beyond the end grows the file, gap erased.
            cmd(&mut f, 0x200, 0x40);
            wr(&mut f, 0x200, 0x1234_5678);
            // Another change further on fills the gap with erased bytes.
            cmd(&mut f, SECTOR_SIZE + 4, 0x40);
            wr(&mut f, SECTOR_SIZE + 4, 0);
            cmd(&mut f, 0, 0xff);
        }
        let d = std::fs::read(&path).unwrap();
        assert_eq!(d.len(), SECTOR_SIZE as usize + 8);
        assert_eq!(&d[..100], &[0xaa; 100]);
        assert!(d[100..0x200].iter().all(|&b| b == 0xff));
        assert_eq!(&d[0x200..0x204], &0x1234_5678u32.to_le_bytes());
        assert!(d[0x204..SECTOR_SIZE as usize + 4].iter().all(|&b| b == 0xff));
        assert_eq!(&d[SECTOR_SIZE as usize + 4..], &[0; 4]);
        // Erasing block 0 rewrites the file's part of it.
        let mut f = Pflash::new("flash0", 0, SIZE, Some(&img)).unwrap();
        cmd(&mut f, 0, 0x20);
        cmd(&mut f, 0, 0xd0);
        drop(f);
        let d = std::fs::read(&path).unwrap();
        assert_eq!(d.len(), SECTOR_SIZE as usize + 8);
        assert!(d[..SECTOR_SIZE as usize].iter().all(|&b| b == 0xff));
    }

    #[test]
    fn bad_images_are_clear_errors() {
        let dir = TempDir::new("bad");
        let missing = dir.0.join("missing.fd");
        let e = Pflash::new("flash0", 0, SIZE, Some(&FlashImage::writable(&missing))).unwrap_err();
        assert!(matches!(&e, PflashError::Open { error, .. } if error.kind() == io::ErrorKind::NotFound));
        let msg = e.to_string();
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        assert!(msg.starts_with("flash0: cannot open flash image"), "{msg}");
        let e = Pflash::new("flash0", 0, SIZE, Some(&FlashImage::read_only(&missing))).unwrap_err();
        assert!(e.to_string().contains("for reading:"), "{e}");

        let big = dir.file("big.fd", &vec![0; SIZE as usize + 1]);
        let e = Pflash::new("flash0", 0, SIZE, Some(&FlashImage::read_only(&big))).unwrap_err();
        assert!(matches!(e, PflashError::TooLarge { len, size: SIZE, .. } if len == SIZE + 1));
        let msg = e.to_string();
        assert!(
            msg.contains(&big.display().to_string()) && msg.contains("larger than"),
            "{msg}"
        );

        let e = Pflash::new("flash0", 0, SIZE, Some(&FlashImage::writable(&dir.0))).unwrap_err();
        assert!(matches!(e, PflashError::NotAFile { .. }));
        assert!(e.to_string().contains("is not a regular file"), "{e}");
        let e = Pflash::new("flash0", 0, SIZE, Some(&FlashImage::read_only(&dir.0))).unwrap_err();
        assert!(matches!(e, PflashError::NotAFile { .. }));

        // Exactly the bank size is fine.
        let exact = dir.file("exact.fd", &vec![0; SIZE as usize]);
        assert!(Pflash::new("flash0", 0, SIZE, Some(&FlashImage::writable(&exact))).is_ok());

        let e = Pflash::new("flash0", 0, SIZE + SECTOR_SIZE, None).unwrap_err();
        assert!(matches!(e, PflashError::Geometry { .. }), "{e}");
        assert!(Pflash::new("flash0", 0, SECTOR_SIZE / 2, None).is_err());
    }

    #[test]
    fn unwritable_image_needs_read_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("perm");
        let path = dir.file("ro.fd", &[0; 64]);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        // Root ignores file modes; a sysfs attribute without a store method
        // refuses writers even then.
        let path = if OpenOptions::new().write(true).open(&path).is_err() {
            path
        } else if let Some(p) = ["/sys/devices/system/cpu/online", "/sys/kernel/profiling"]
            .iter()
            .map(Path::new)
            .find(|p| p.is_file() && OpenOptions::new().write(true).open(p).is_err())
        {
            p.to_path_buf()
        } else {
            eprintln!("skipping: no file here refuses writers");
            return;
        };
        let e = Pflash::new("flash1", 0, SIZE, Some(&FlashImage::writable(&path))).unwrap_err();
        assert!(
            matches!(&e, PflashError::Open { error, writable: true, .. } if error.kind() == io::ErrorKind::PermissionDenied)
        );
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("for reading and writing"), "{msg}");
        assert!(msg.contains("give the image as read-only"), "{msg}");
        // Read-only works (sysfs attributes are not real files to read).
        if path.starts_with(&dir.0) {
            let mut f = Pflash::new("flash1", 0, SIZE, Some(&FlashImage::read_only(&path))).unwrap();
            assert!(f.is_read_only());
            assert_eq!(rd(&mut f, 0), 0);
        }
    }

    #[test]
    fn virt_banks_and_device_tree() {
        let dir = TempDir::new("virt");
        let vars = dir.file("vars.fd", &[]);
        let [b0, b1] = virt_flash_banks(
            VIRT_FLASH_BASE,
            VIRT_BANK_SIZE,
            [None, Some(&FlashImage::writable(&vars))],
        )
        .unwrap();
        assert_eq!((b0.name(), b1.name()), ("flash0", "flash1"));
        assert_eq!(
            b1.regions(),
            [MmioRegion {
                base: 0x400_0000,
                size: 0x400_0000
            }]
        );
        assert!(b1.dt_node().is_none());
        let n = b0.dt_node().unwrap();
        assert_eq!(n, cfi_flash_node(0, VIRT_BANK_SIZE, 2));
        assert_eq!(n.name, "flash@0");
        assert_eq!(
            n.get("compatible"),
            Some(&crate::dt::PropValue::Strings(vec!["cfi-flash".into()]))
        );
        assert_eq!(
            n.get("reg"),
            Some(&crate::dt::PropValue::Cells(vec![
                0, 0, 0, 0x400_0000, 0, 0x400_0000, 0, 0x400_0000
            ]))
        );
        assert_eq!(n.get("bank-width"), Some(&crate::dt::PropValue::Cells(vec![4])));
        let own = Pflash::new("f", 0x800_0000, SIZE, None).unwrap().dt_node().unwrap();
        assert_eq!(own.name, "flash@8000000");
    }

    #[test]
    fn execute_in_place_on_the_bus() {
        use crate::bus::SystemBus;
        use crate::ram::GuestRam;
        use cpu_aarch64::bus::{AccessKind, Bus, PhysAddr, Requester};

        let dir = TempDir::new("bus");
        // `b .` and `nop`.
        let code = [0x00, 0x00, 0x00, 0x14, 0x1f, 0x20, 0x03, 0xd5];
        let path = dir.file("code.fd", &code);
        let [b0, b1] = virt_flash_banks(0, SIZE, [Some(&FlashImage::read_only(&path)), None]).unwrap();
        let mut bus = SystemBus::new(GuestRam::with_region("dram", 0x4000_0000, 0x1000).unwrap());
        bus.add_device(Box::new(b0)).unwrap();
        bus.add_device(Box::new(b1)).unwrap();
        let fetch = Requester {
            cpu: 0,
            kind: AccessKind::Fetch,
        };
        let data = Requester {
            cpu: 0,
            kind: AccessKind::Data,
        };
        assert_eq!(bus.read(fetch, PhysAddr(0), 4).unwrap(), 0x1400_0000);
        assert_eq!(bus.read(fetch, PhysAddr(4), 4).unwrap(), 0xd503_201f);
        // Bank 1 takes commands through the bus.
        bus.write(data, PhysAddr(SIZE), 4, 0x0090_0090).unwrap();
        assert_eq!(bus.read(data, PhysAddr(SIZE), 4).unwrap(), 0x0089_0089);
    }

    #[test]
    fn state_survives_a_snapshot_round_trip_and_the_image_is_left_alone() {
        let t = TempDir::new("snap");
        let path = t.file("bank.img", &[0x11; 4096]);
        let img = FlashImage {
            path: path.clone(),
            read_only: false,
        };
        let mut a = Pflash::new("flash0", 0, SECTOR_SIZE * 4, Some(&img)).unwrap();
        a.write(acc(0x100, 4), 0x0040_0040).unwrap(); // word program
        a.write(acc(0x100, 4), 0x0000_1234).unwrap();
        a.write(acc(0, 4), 0x0070_0070).unwrap(); // read status
        let mut b = Pflash::new("flash0", 0, SECTOR_SIZE * 4, Some(&img)).unwrap();
        let (first, second) = crate::snapshot::round_trip(&a, &mut b);
        assert_eq!(first, second);
        assert_eq!(
            b.read(acc(0, 4)).unwrap(),
            a.read(acc(0, 4)).unwrap(),
            "status mode kept"
        );
        a.write(acc(0, 4), 0xff).unwrap();
        b.write(acc(0, 4), 0xff).unwrap();
        // Programming ANDs the written word into the image's 0x11 bytes.
        assert_eq!(b.read(acc(0x100, 4)).unwrap(), 0x1111_1111 & 0x1234);
        assert_eq!(b.read(acc(0x100, 4)).unwrap(), a.read(acc(0x100, 4)).unwrap());
        // Programming the restored bank does not reach the file.
        let before = std::fs::read(&path).unwrap();
        b.write(acc(0x200, 4), 0x40).unwrap();
        b.write(acc(0x200, 4), 0).unwrap();
        drop(b);
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    fn view(f: &Pflash) -> FlashView {
        let ram = crate::ram::GuestRam::new();
        match f.inspect(&ram) {
            Some(crate::device::DeviceView::Flash(v)) => v,
            other => panic!("a flash bank describes itself as flash: {other:?}"),
        }
    }

    /// The view follows the command state machine of the module docs
    /// through a buffered program (0xE8, count, data, 0xD0) and a bad
    /// erase confirm (SR.4|SR.5 = 0x30, plus SR.7 ready).
    #[test]
    fn inspector_view_follows_the_command_state() {
        let mut f = mem_flash();
        let v = view(&f);
        assert_eq!(
            v,
            FlashView {
                size: SIZE,
                mode: Mode::ReadArray,
                status: 0x80,
                buffered: 0,
                store: FlashStore::Memory,
                unsynced: false,
            }
        );
        let block = SECTOR_SIZE + 0x40;
        cmd(&mut f, block, 0xe8);
        assert_eq!(view(&f).mode, Mode::BufferCount(SECTOR_SIZE));
        // 4 words per device: 16 bytes of the bank.
        cmd(&mut f, block, 3);
        assert_eq!(view(&f).mode, Mode::BufferData(SECTOR_SIZE, 16));
        f.write(acc(block, 8), 0x0102_0304_0506_0708).unwrap();
        let v = view(&f);
        assert_eq!((v.mode, v.buffered), (Mode::BufferData(SECTOR_SIZE, 8), 8));
        f.write(acc(block + 8, 8), 0).unwrap();
        let v = view(&f);
        assert_eq!((v.mode, v.buffered), (Mode::BufferConfirm, 16));
        cmd(&mut f, block, 0xd0);
        let v = view(&f);
        assert_eq!((v.mode, v.buffered, v.status), (Mode::Status, 0, 0x80));
        // Inspecting read nothing through the bus: the array is programmed.
        cmd(&mut f, 0, 0xff);
        assert_eq!(f.read(acc(block, 8)).unwrap(), 0x0102_0304_0506_0708);

        cmd(&mut f, 0, 0x20);
        assert_eq!(view(&f).mode, Mode::EraseSetup(0));
        cmd(&mut f, 0, 0xff);
        let v = view(&f);
        assert_eq!((v.mode, v.status), (Mode::Status, 0xb0));
        cmd(&mut f, 0, 0x50);
        assert_eq!(view(&f).status, 0x80);
    }

    /// Where writes go: a writable image (unsynced after a program, synced
    /// by an erase, as the module docs say), a read-only one, and a
    /// restored snapshot (memory only).
    #[test]
    fn inspector_view_names_the_backing_file() {
        let dir = TempDir::new("view");
        let path = dir.file("vars.fd", &[0xff; 64]);
        let mut f = Pflash::new("flash1", 0, SIZE, Some(&FlashImage::writable(&path))).unwrap();
        assert_eq!(view(&f).store, FlashStore::File(path.clone()));
        assert!(!view(&f).unsynced);
        cmd(&mut f, 0, 0x40);
        wr(&mut f, 0, 0x1234_5678);
        assert!(view(&f).unsynced, "a program writes without syncing");
        cmd(&mut f, 0, 0x20);
        cmd(&mut f, 0, 0xd0);
        assert!(!view(&f).unsynced, "an erase syncs");

        let ro = Pflash::new("flash0", 0, SIZE, Some(&FlashImage::read_only(&path))).unwrap();
        assert_eq!(view(&ro).store, FlashStore::ReadOnly(Some(path.clone())));

        let mut w = StateWriter::new();
        f.save_state(&mut w).unwrap();
        let bytes = w.into_bytes();
        let mut g = Pflash::new("flash1", 0, SIZE, Some(&FlashImage::writable(&path))).unwrap();
        g.restore_state(&mut StateReader::new("flash1", &bytes)).unwrap();
        assert_eq!(view(&g).store, FlashStore::Memory);
    }
}
