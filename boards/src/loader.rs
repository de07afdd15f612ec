//! Image loaders: kernels, firmware and initrds into guest RAM, and the
//! placement of the initrd and device tree around them.
//!
//! The loaders know nothing of the machine: they write through the
//! [`LoadTarget`] trait, which the machine implements over its guest RAM.
//!
//! ```text
//!  bytes ──detect──┬─ ELF ──────────────▶ every PT_LOAD at p_paddr ─────┐
//!                  ├─ gzip ─▶ inflate ─▶ detect again (once)            │
//!                  ├─ EFI zboot ─▶ inflate payload ─▶ detect again      ├─▶ LoadTarget
//!                  ├─ arm64 Image ─────▶ 2 MiB-aligned RAM base         │   write_phys /
//!                  │                      + text_offset                 │   zero_phys
//!                  └─ anything else ───▶ raw, at the start of RAM ──────┘
//!
//!  LoadedImage ──plan_boot──▶ BootLayout { initrd, dtb }
//! ```
//!
//! # Conventions
//!
//! * **ELF.** Only ELF64, little-endian, `EM_AARCH64`. Both `ET_EXEC` and
//!   `ET_DYN` are accepted, and an `ET_DYN` file is loaded at the addresses it
//!   was linked for, without relocation: a static-PIE firmware linked at its
//!   RAM address loads like an executable, one linked at 0 fails the RAM check
//!   with an error naming the segment. Each `PT_LOAD` goes to its **`p_paddr`**
//!   (QEMU's `-kernel` convention: the CPU starts with the MMU off, so physical
//!   addresses are what matter); `p_filesz` bytes come from the file and the
//!   rest up to `p_memsz` is zeroed. The entry point `e_entry` is a virtual
//!   address: it must lie inside an executable (`PF_X`) `PT_LOAD` segment's
//!   `[p_vaddr, p_vaddr + p_memsz)`, and it is translated to that segment's
//!   physical address. Segments with `p_memsz == 0` are ignored. Every segment
//!   is checked before the first byte is written, so a malformed file leaves
//!   the target untouched.
//! * **Linux arm64 `Image`** (`Documentation/arch/arm64/booting.rst`): loaded at
//!   the first RAM region's base rounded up to 2 MiB, plus `text_offset`; it
//!   occupies `image_size` bytes, the part past the file is zeroed; the entry is
//!   the load address. `image_size == 0` marks a pre-3.17 kernel, loaded with
//!   `text_offset` 0x80000 and the file's size. Big-endian kernels are refused.
//! * **Raw**: copied at the given address (default: the start of the first RAM
//!   region), entry = that address.
//! * "The first RAM region" is the RAM region with the lowest base address.
//! * Initrd and DTB placement: see [`plan_boot`].
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use boards::loader::{load_kernel, plan_boot, ImageFormat, LoadTarget};
//!
//! struct Ram { base: u64, mem: Vec<u8> }
//!
//! impl LoadTarget for Ram {
//!     fn ram_regions(&self) -> Vec<(u64, u64)> {
//!         vec![(self.base, self.mem.len() as u64)]
//!     }
//!     fn write_phys(&mut self, addr: u64, data: &[u8]) -> Result<(), String> {
//!         let at = (addr - self.base) as usize;
//!         self.mem[at..at + data.len()].copy_from_slice(data);
//!         Ok(())
//!     }
//!     fn zero_phys(&mut self, addr: u64, len: u64) -> Result<(), String> {
//!         let at = (addr - self.base) as usize;
//!         self.mem[at..at + len as usize].fill(0);
//!         Ok(())
//!     }
//! }
//!
//! let mut ram = Ram { base: 0x4000_0000, mem: vec![0; 0x40_0000] };
//! let firmware = [0x00, 0x00, 0x00, 0x14]; // b .
//! let fmt = ImageFormat::Raw { load_addr: 0x4020_0000 };
//! let image = load_kernel(Path::new("fw.bin"), &firmware, fmt, &mut ram).unwrap();
//! assert_eq!((image.entry, image.end), (0x4020_0000, 0x4020_0004));
//!
//! // Bare metal: the DTB goes at the start of RAM, below the image.
//! let layout = plan_boot(&image, None, 0x1000, (0x4000_0000, 0x40_0000)).unwrap();
//! assert_eq!(layout.dtb.start, 0x4000_0000);
//! ```
//!
//! All errors are [`LoadError`]s naming the file, the field or segment and the
//! address range at fault; no input, however truncated or garbled, panics.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use goblin::container::Endian;
use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_AARCH64, ET_DYN, ET_EXEC, SELFMAG};
use goblin::elf::program_header::{PF_X, PT_LOAD};
use goblin::elf64::header::{Header as Elf64Header, SIZEOF_EHDR};
use goblin::elf64::program_header::{ProgramHeader as Elf64Phdr, SIZEOF_PHDR};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

/// Largest output accepted when inflating a gzip'd kernel (512 MiB).
pub const GZIP_MAX_OUTPUT: u64 = 512 * MIB;

/// `"ARM\x64"` read as a little-endian `u32`, at [`ARM64_IMAGE_MAGIC_OFFSET`].
pub const ARM64_IMAGE_MAGIC: u32 = 0x644d_5241;
/// Offset of the magic in the arm64 `Image` header.
pub const ARM64_IMAGE_MAGIC_OFFSET: usize = 56;
/// Size of the arm64 `Image` header.
const ARM64_IMAGE_HEADER_SIZE: usize = 64;
/// `text_offset` of kernels older than 3.17, whose `image_size` is 0.
const ARM64_LEGACY_TEXT_OFFSET: u64 = 0x8_0000;
/// The arm64 `Image` is placed `text_offset` bytes above a 2 MiB boundary.
const ARM64_IMAGE_ALIGN: u64 = 2 * MIB;

/// Linux on arm64 maps the DTB with 2 MiB blocks: it must not exceed 2 MiB,
/// and we put it on a 2 MiB boundary so it never straddles one.
const LINUX_DTB_MAX: u64 = 2 * MIB;
const LINUX_DTB_ALIGN: u64 = 2 * MIB;
const LINUX_INITRD_ALIGN: u64 = 2 * MIB;
/// QEMU puts the initrd `min(ram_size / 2, 128 MiB)` above the start of RAM
/// (or after the kernel, if that is higher); we do the same so guests see the
/// layout they are used to.
const LINUX_INITRD_MAX_OFFSET: u64 = 128 * MIB;
/// Alignment of what follows a bare-metal image.
const BARE_METAL_ALIGN: u64 = 64 * KIB;

/// The guest memory the loaders write into. The machine implements it over
/// its guest RAM; the loaders check every range against
/// [`ram_regions`](Self::ram_regions) before writing.
pub trait LoadTarget {
    /// The RAM regions as `(base, size)` pairs, in any order.
    fn ram_regions(&self) -> Vec<(u64, u64)>;
    /// Copies `data` to guest physical address `addr`.
    fn write_phys(&mut self, addr: u64, data: &[u8]) -> Result<(), String>;
    /// Zeroes `len` bytes from guest physical address `addr`.
    fn zero_phys(&mut self, addr: u64, len: u64) -> Result<(), String>;
}

/// How to interpret a kernel file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// Look at the bytes: ELF magic, gzip magic (inflated, then detected
    /// again), EFI zboot (gzip payload), arm64 `Image` magic at offset 56, or
    /// else a raw image at the start of the first RAM region.
    Auto,
    /// An ELF64 AArch64 executable (may be gzip'd).
    Elf,
    /// Raw bytes copied to `load_addr`, which is also the entry point.
    Raw {
        /// Guest physical address of the first byte.
        load_addr: u64,
    },
    /// A Linux arm64 `Image` (may be gzip'd).
    LinuxImage,
}

/// What kind of image was loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// An ELF executable.
    Elf,
    /// Raw bytes.
    Raw,
    /// A Linux arm64 `Image`.
    LinuxImage,
}

/// Where a kernel image went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    /// Physical address to start executing at.
    pub entry: u64,
    /// What was loaded.
    pub kind: ImageKind,
    /// Lowest guest physical address the image occupies.
    pub start: u64,
    /// One past the highest guest physical address the image occupies,
    /// including zero-filled parts (ELF bss, the `Image`'s `image_size`).
    pub end: u64,
    /// Whether the image expects the Linux boot protocol (x0 = DTB address).
    pub is_linux: bool,
}

/// A range of guest physical addresses: `len` bytes from `start`.
///
/// Displayed as `[start, end)`, or as `start + len` with a note when the end
/// does not fit in 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First address.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

impl Span {
    /// Creates a span of `len` bytes from `start`.
    pub const fn new(start: u64, len: u64) -> Self {
        Span { start, len }
    }

    /// One past the last address, or `None` if that overflows.
    pub fn checked_end(&self) -> Option<u64> {
        self.start.checked_add(self.len)
    }

    /// One past the last address, saturated at `u64::MAX`.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }

    /// Whether two non-empty spans share a byte.
    fn overlaps(&self, other: &Span) -> bool {
        self.len != 0 && other.len != 0 && self.start < other.end() && other.start < self.end()
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.checked_end() {
            Some(end) => write!(f, "[{:#x}, {:#x})", self.start, end),
            None => write!(
                f,
                "[{:#x}, {:#x} + {:#x}: past the 64-bit address space)",
                self.start, self.start, self.len
            ),
        }
    }
}

/// Where [`plan_boot`] put the initrd and the device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootLayout {
    /// The initrd, if there is one.
    pub initrd: Option<Span>,
    /// The flattened device tree.
    pub dtb: Span,
}

/// Errors from loading images and planning the boot layout.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The target reported no RAM.
    #[error("{}: the machine has no RAM to load into", path.display())]
    NoRam {
        /// The file being loaded.
        path: PathBuf,
    },
    /// The file is empty.
    #[error("{}: {what} file is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What the file was meant to be ("kernel", "initrd").
        what: &'static str,
    },
    /// The file ends before a structure it declares.
    #[error("{}: truncated {what}: needs bytes {needed} of the file but it has {have} bytes", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The structure that is cut short.
        what: &'static str,
        /// The file offsets the structure needs.
        needed: Span,
        /// The file's length.
        have: u64,
    },
    /// A bad field in the ELF header.
    #[error("{}: ELF header field {field}: {detail}", path.display())]
    Elf {
        /// The file.
        path: PathBuf,
        /// The header field at fault.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A bad `PT_LOAD` program header.
    #[error("{}: ELF segment {index} (PT_LOAD, p_paddr {range}): {problem}", path.display())]
    Segment {
        /// The file.
        path: PathBuf,
        /// Index of the program header.
        index: usize,
        /// The physical range it declares (`p_paddr`, `p_memsz`).
        range: Span,
        /// What is wrong with it.
        problem: String,
    },
    /// Two `PT_LOAD` segments claim the same physical bytes.
    #[error("{}: ELF segments {first} (p_paddr {first_range}) and {second} (p_paddr {second_range}) overlap", path.display())]
    SegmentOverlap {
        /// The file.
        path: PathBuf,
        /// Index of the lower segment.
        first: usize,
        /// Its range.
        first_range: Span,
        /// Index of the higher segment.
        second: usize,
        /// Its range.
        second_range: Span,
    },
    /// The ELF file has nothing to load.
    #[error("{}: ELF file has no PT_LOAD segment with a non-zero p_memsz", path.display())]
    NoLoadSegments {
        /// The file.
        path: PathBuf,
    },
    /// `e_entry` is outside every executable segment.
    #[error("{}: ELF entry point e_entry {entry:#x} is not inside an executable (PF_X) PT_LOAD segment's [p_vaddr, p_vaddr + p_memsz)", path.display())]
    Entry {
        /// The file.
        path: PathBuf,
        /// `e_entry`.
        entry: u64,
    },
    /// A bad field in a Linux arm64 `Image` header.
    #[error("{}: arm64 Image header field {field}: {detail}", path.display())]
    LinuxImage {
        /// The file.
        path: PathBuf,
        /// The header field at fault.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A compressed wrapper that cannot be unpacked.
    #[error("{}: {detail}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The gzip stream is corrupt or truncated.
    #[error("{}: gzip stream: {source}", path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The gzip stream inflates to more than the cap.
    #[error("{}: gzip stream inflates to more than {cap:#x} bytes", path.display())]
    GzipTooLarge {
        /// The file.
        path: PathBuf,
        /// The cap ([`GZIP_MAX_OUTPUT`]).
        cap: u64,
    },
    /// Something from a file does not fit in RAM.
    #[error("{}: {what} at {range} is not inside RAM {ram}", path.display())]
    NotInRam {
        /// The file.
        path: PathBuf,
        /// What was being placed.
        what: String,
        /// Where it would go.
        range: Span,
        /// The RAM regions.
        ram: String,
    },
    /// The target refused a write.
    #[error("{}: writing {range}: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The range being written or zeroed.
        range: Span,
        /// The target's error.
        message: String,
    },
    /// `plan_boot` was given an unusable RAM range.
    #[error("boot layout: RAM base {base:#x} size {size:#x} is empty or runs past the 64-bit address space")]
    BadRam {
        /// RAM base.
        base: u64,
        /// RAM size.
        size: u64,
    },
    /// `plan_boot` was given an empty device tree.
    #[error("boot layout: the DTB is empty")]
    EmptyDtb,
    /// The device tree is larger than arm64 Linux accepts.
    #[error("boot layout: the DTB is {len:#x} bytes; arm64 Linux accepts at most {max:#x} (2 MiB)")]
    DtbTooLarge {
        /// DTB size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A Linux kernel is not inside the RAM the layout is planned in.
    #[error("boot layout: the Linux kernel at {image} is not inside RAM {ram}")]
    KernelOutsideRam {
        /// The kernel's range.
        image: Span,
        /// The RAM.
        ram: Span,
    },
    /// The initrd or DTB does not fit in RAM.
    #[error("boot layout: {what} ({len:#x} bytes) does not fit in RAM {ram}: the first free {align:#x}-aligned address after {after} is {at}")]
    NoRoom {
        /// "initrd" or "DTB".
        what: &'static str,
        /// Its size.
        len: u64,
        /// The RAM.
        ram: Span,
        /// What it had to go after ("the kernel at [..)", ...).
        after: String,
        /// The alignment it needed.
        align: u64,
        /// Where it would have started, or "past the 64-bit address space".
        at: String,
    },
}

/// Loads a kernel or firmware image into `target`.
///
/// `path` is only used in error messages; `bytes` is the file's content.
/// See the [module docs](self) for the conventions of each format.
pub fn load_kernel(
    path: &Path,
    bytes: &[u8],
    fmt: ImageFormat,
    target: &mut dyn LoadTarget,
) -> Result<LoadedImage, LoadError> {
    load_kernel_capped(path, bytes, fmt, target, GZIP_MAX_OUTPUT)
}

fn load_kernel_capped(
    path: &Path,
    bytes: &[u8],
    fmt: ImageFormat,
    target: &mut dyn LoadTarget,
    gzip_cap: u64,
) -> Result<LoadedImage, LoadError> {
    let ram = RamMap::new(path, target.ram_regions())?;
    let empty = || LoadError::Empty {
        path: path.to_path_buf(),
        what: "kernel",
    };
    if bytes.is_empty() {
        return Err(empty());
    }
    if let ImageFormat::Raw { load_addr } = fmt {
        return load_raw(path, bytes, load_addr, &ram, target);
    }
    let data = unwrap_compressed(path, bytes, gzip_cap)?;
    if data.is_empty() {
        return Err(empty());
    }
    match fmt {
        ImageFormat::Raw { load_addr } => load_raw(path, bytes, load_addr, &ram, target),
        ImageFormat::Elf => load_elf(path, &data, &ram, target),
        ImageFormat::LinuxImage => load_linux_image(path, &data, &ram, target),
        ImageFormat::Auto => match detect(&data) {
            Detected::Elf => load_elf(path, &data, &ram, target),
            Detected::LinuxImage => load_linux_image(path, &data, &ram, target),
            Detected::Raw => load_raw(path, &data, ram.first().start, &ram, target),
            Detected::Gzip | Detected::ZBoot => Err(LoadError::Format {
                path: path.to_path_buf(),
                detail: "compressed data inside a compressed kernel; unpack it first".into(),
            }),
        },
    }
}

/// Copies an initrd to `addr` (from [`plan_boot`]), checking it lies in RAM.
///
/// The bytes are passed through unchanged: Linux unpacks compressed
/// initramfs archives itself. The DTB, built in memory, is written by the
/// caller with [`LoadTarget::write_phys`] at [`BootLayout::dtb`].
pub fn load_initrd(path: &Path, bytes: &[u8], addr: u64, target: &mut dyn LoadTarget) -> Result<Span, LoadError> {
    let ram = RamMap::new(path, target.ram_regions())?;
    if bytes.is_empty() {
        return Err(LoadError::Empty {
            path: path.to_path_buf(),
            what: "initrd",
        });
    }
    let range = Span::new(addr, bytes.len() as u64);
    ram.check(path, range, || "initrd".to_string())?;
    write(path, target, addr, bytes)?;
    Ok(range)
}

/// Decides where the initrd and the DTB go, around a loaded `image`, in the
/// RAM `ram` = `(base, size)`.
///
/// * **Linux** (`image.is_linux`): the kernel must lie inside `ram`. The
///   initrd starts at the higher of `base + min(size / 2, 128 MiB)` (QEMU's
///   choice) and the kernel's end, rounded up to 2 MiB; if the initrd or the
///   DTB do not fit that way, the initrd goes right after the kernel (2 MiB
///   aligned) instead. The DTB follows the initrd (or takes its place when
///   there is none) on the next 2 MiB boundary, and may be at most 2 MiB
///   (`booting.rst`), so it never crosses a 2 MiB boundary.
/// * **Bare metal** (ELF or raw): the DTB goes at the start of RAM if it fits
///   there without overlapping the image (QEMU's convention, which firmware
///   relies on); otherwise right after the image (or the initrd) on a 64 KiB
///   boundary. An initrd goes after the image (and after a DTB at the start of
///   RAM) on a 64 KiB boundary.
///
/// `initrd_len` of `Some(0)` is treated as no initrd. Everything is checked
/// to fit in `ram`; errors name what did not fit and the sizes.
pub fn plan_boot(
    image: &LoadedImage,
    initrd_len: Option<u64>,
    dtb_len: u64,
    ram: (u64, u64),
) -> Result<BootLayout, LoadError> {
    let (base, size) = ram;
    let ram_span = Span::new(base, size);
    let ram_end = match ram_span.checked_end() {
        Some(end) if size != 0 => end,
        _ => return Err(LoadError::BadRam { base, size }),
    };
    if dtb_len == 0 {
        return Err(LoadError::EmptyDtb);
    }
    let initrd_len = initrd_len.filter(|&len| len != 0);
    let image_span = Span::new(image.start, image.end.saturating_sub(image.start));

    if image.is_linux {
        if dtb_len > LINUX_DTB_MAX {
            return Err(LoadError::DtbTooLarge {
                len: dtb_len,
                max: LINUX_DTB_MAX,
            });
        }
        if image.start < base || image.end > ram_end || image.start > image.end {
            return Err(LoadError::KernelOutsideRam {
                image: image_span,
                ram: ram_span,
            });
        }
        let after_kernel = format!("the kernel at {image_span}");
        let preferred = (base + (size / 2).min(LINUX_INITRD_MAX_OFFSET)).max(image.end);
        let plan_from = |cursor: u64| {
            Planner {
                ram: ram_span,
                cursor,
                after: after_kernel.clone(),
            }
            .place_after(initrd_len, LINUX_INITRD_ALIGN, dtb_len, LINUX_DTB_ALIGN)
        };
        // If QEMU's spot is too high, pack everything right after the kernel;
        // when that fails too, its error is the one to report (the tighter fit).
        return plan_from(preferred).or_else(|_| plan_from(image.end));
    }

    // Bare metal.
    let dtb_at_base = Span::new(base, dtb_len);
    let dtb_fits_at_base =
        dtb_at_base.end() <= ram_end && dtb_at_base.checked_end().is_some() && !dtb_at_base.overlaps(&image_span);
    let image_in_ram = image_span.overlaps(&ram_span);
    let mut cursor = if image_in_ram { image.end.max(base) } else { base };
    let mut after = if image_in_ram {
        format!("the image at {image_span}")
    } else {
        "the start of RAM".to_string()
    };
    if dtb_fits_at_base && dtb_at_base.end() > cursor {
        cursor = dtb_at_base.end();
        after = format!("the DTB at {dtb_at_base}");
    }
    let plan = Planner {
        ram: ram_span,
        cursor,
        after,
    };
    if dtb_fits_at_base {
        let initrd = plan.place("initrd", initrd_len, BARE_METAL_ALIGN)?.map(|(s, _)| s);
        Ok(BootLayout {
            initrd,
            dtb: dtb_at_base,
        })
    } else {
        plan.place_after(initrd_len, BARE_METAL_ALIGN, dtb_len, BARE_METAL_ALIGN)
    }
}

/// Places blobs one after the other from `cursor` inside `ram`.
struct Planner {
    ram: Span,
    cursor: u64,
    /// What `cursor` follows, for error messages.
    after: String,
}

impl Planner {
    /// Places `len` bytes (if any) at the first `align`-aligned address at or
    /// after the cursor; returns the span and a planner positioned after it.
    fn place(&self, what: &'static str, len: Option<u64>, align: u64) -> Result<Option<(Span, Planner)>, LoadError> {
        let Some(len) = len else { return Ok(None) };
        let no_room = |at: String| LoadError::NoRoom {
            what,
            len,
            ram: self.ram,
            after: self.after.clone(),
            align,
            at,
        };
        let start = align_up(self.cursor, align).ok_or_else(|| no_room("past the 64-bit address space".into()))?;
        let span = Span::new(start, len);
        match span.checked_end() {
            Some(end) if start >= self.ram.start && end <= self.ram.end() => Ok(Some((
                span,
                Planner {
                    ram: self.ram,
                    cursor: end,
                    after: format!("the {what} at {span}"),
                },
            ))),
            _ => Err(no_room(format!("{start:#x}"))),
        }
    }

    /// Places an optional initrd, then the DTB after it.
    fn place_after(
        self,
        initrd_len: Option<u64>,
        initrd_align: u64,
        dtb_len: u64,
        dtb_align: u64,
    ) -> Result<BootLayout, LoadError> {
        let (initrd, next) = match self.place("initrd", initrd_len, initrd_align)? {
            Some((span, next)) => (Some(span), next),
            None => (None, self),
        };
        let (dtb, _) = next
            .place("DTB", Some(dtb_len), dtb_align)?
            .ok_or(LoadError::EmptyDtb)?;
        Ok(BootLayout { initrd, dtb })
    }
}

fn align_up(value: u64, align: u64) -> Option<u64> {
    debug_assert!(align.is_power_of_two());
    Some(value.checked_add(align - 1)? & !(align - 1))
}

/// The target's RAM, sorted, with touching regions merged.
struct RamMap {
    /// `(start, end)` pairs, `end` exclusive (saturated at `u64::MAX`).
    regions: Vec<(u64, u64)>,
}

impl RamMap {
    fn new(path: &Path, raw: Vec<(u64, u64)>) -> Result<Self, LoadError> {
        let mut list: Vec<(u64, u64)> = raw
            .into_iter()
            .filter(|&(_, size)| size != 0)
            .map(|(base, size)| (base, base.saturating_add(size)))
            .collect();
        list.sort_unstable();
        let mut regions: Vec<(u64, u64)> = Vec::with_capacity(list.len());
        for (start, end) in list {
            match regions.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => regions.push((start, end)),
            }
        }
        if regions.is_empty() {
            return Err(LoadError::NoRam {
                path: path.to_path_buf(),
            });
        }
        Ok(RamMap { regions })
    }

    /// The region with the lowest base.
    fn first(&self) -> Span {
        let (start, end) = self.regions[0];
        Span::new(start, end - start)
    }

    fn contains(&self, span: Span) -> bool {
        let Some(end) = span.checked_end() else {
            return false;
        };
        self.regions.iter().any(|&(rs, re)| span.start >= rs && end <= re)
    }

    fn check(&self, path: &Path, span: Span, what: impl FnOnce() -> String) -> Result<(), LoadError> {
        if self.contains(span) {
            Ok(())
        } else {
            Err(LoadError::NotInRam {
                path: path.to_path_buf(),
                what: what(),
                range: span,
                ram: self.to_string(),
            })
        }
    }
}

impl fmt::Display for RamMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(start, end)) in self.regions.iter().enumerate() {
            if i != 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Span::new(start, end - start))?;
        }
        Ok(())
    }
}

fn write(path: &Path, target: &mut dyn LoadTarget, addr: u64, data: &[u8]) -> Result<(), LoadError> {
    if data.is_empty() {
        return Ok(());
    }
    target.write_phys(addr, data).map_err(|message| LoadError::Write {
        path: path.to_path_buf(),
        range: Span::new(addr, data.len() as u64),
        message,
    })
}

fn zero(path: &Path, target: &mut dyn LoadTarget, addr: u64, len: u64) -> Result<(), LoadError> {
    if len == 0 {
        return Ok(());
    }
    target.zero_phys(addr, len).map_err(|message| LoadError::Write {
        path: path.to_path_buf(),
        range: Span::new(addr, len),
        message,
    })
}

// ---------------------------------------------------------------------------
// Detection and decompression

#[derive(Debug, PartialEq, Eq)]
enum Detected {
    Elf,
    Gzip,
    ZBoot,
    LinuxImage,
    Raw,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn detect(bytes: &[u8]) -> Detected {
    if bytes.starts_with(ELFMAG) {
        Detected::Elf
    } else if bytes.starts_with(&GZIP_MAGIC) {
        Detected::Gzip
    } else if is_zboot(bytes) {
        Detected::ZBoot
    } else if read_u32(bytes, ARM64_IMAGE_MAGIC_OFFSET) == Some(ARM64_IMAGE_MAGIC) {
        Detected::LinuxImage
    } else {
        Detected::Raw
    }
}

/// EFI zboot (`CONFIG_EFI_ZBOOT`): a PE file whose header holds, after "MZ",
/// the magic "zimg", then the payload's file offset (u32 at 8) and size (u32
/// at 12), and the compression name (NUL-terminated, at 24).
fn is_zboot(bytes: &[u8]) -> bool {
    bytes.starts_with(b"MZ") && bytes.get(4..8) == Some(b"zimg".as_slice())
}

/// Inflates a gzip'd or zboot-wrapped file (one level); other data is
/// returned as it is.
fn unwrap_compressed<'a>(path: &Path, bytes: &'a [u8], cap: u64) -> Result<Cow<'a, [u8]>, LoadError> {
    match detect(bytes) {
        Detected::Gzip => gunzip(path, bytes, cap).map(Cow::Owned),
        Detected::ZBoot => {
            let format_err = |detail: String| LoadError::Format {
                path: path.to_path_buf(),
                detail,
            };
            let (Some(offset), Some(size)) = (read_u32(bytes, 8), read_u32(bytes, 12)) else {
                return Err(LoadError::Truncated {
                    path: path.to_path_buf(),
                    what: "EFI zboot header",
                    needed: Span::new(0, 16),
                    have: bytes.len() as u64,
                });
            };
            let comp_field = bytes.get(24..56).unwrap_or(&[]);
            let comp_len = comp_field.iter().position(|&b| b == 0).unwrap_or(comp_field.len());
            let comp = String::from_utf8_lossy(&comp_field[..comp_len]);
            if comp != "gzip" {
                return Err(format_err(format!(
                    "EFI zboot image with a {comp:?} payload: only gzip is supported; \
                     extract the Image first"
                )));
            }
            let payload = Span::new(u64::from(offset), u64::from(size));
            let payload_bytes = payload
                .checked_end()
                .and_then(|end| bytes.get(usize::try_from(payload.start).ok()?..usize::try_from(end).ok()?))
                .ok_or_else(|| LoadError::Truncated {
                    path: path.to_path_buf(),
                    what: "EFI zboot payload",
                    needed: payload,
                    have: bytes.len() as u64,
                })?;
            gunzip(path, payload_bytes, cap).map(Cow::Owned)
        }
        _ => Ok(Cow::Borrowed(bytes)),
    }
}

fn gunzip(path: &Path, bytes: &[u8], cap: u64) -> Result<Vec<u8>, LoadError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| LoadError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    if out.len() as u64 > cap {
        return Err(LoadError::GzipTooLarge {
            path: path.to_path_buf(),
            cap,
        });
    }
    tracing::debug!(path = %path.display(), from = bytes.len(), to = out.len(), "inflated gzip");
    Ok(out)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

// ---------------------------------------------------------------------------
// Raw

fn load_raw(
    path: &Path,
    bytes: &[u8],
    load_addr: u64,
    ram: &RamMap,
    target: &mut dyn LoadTarget,
) -> Result<LoadedImage, LoadError> {
    let span = Span::new(load_addr, bytes.len() as u64);
    ram.check(path, span, || "raw image".to_string())?;
    write(path, target, load_addr, bytes)?;
    tracing::debug!(path = %path.display(), range = %span, "loaded raw image");
    Ok(LoadedImage {
        entry: load_addr,
        kind: ImageKind::Raw,
        start: load_addr,
        end: span.end(),
        is_linux: false,
    })
}

// ---------------------------------------------------------------------------
// ELF

/// A validated `PT_LOAD` segment.
struct Segment {
    index: usize,
    phys: Span,
    vaddr: u64,
    file_offset: usize,
    file_len: usize,
    exec: bool,
}

fn load_elf(path: &Path, bytes: &[u8], ram: &RamMap, target: &mut dyn LoadTarget) -> Result<LoadedImage, LoadError> {
    let file_len = bytes.len() as u64;
    let elf_err = |field: &'static str, detail: String| LoadError::Elf {
        path: path.to_path_buf(),
        field,
        detail,
    };
    if !bytes.starts_with(ELFMAG) {
        let shown = &bytes[..bytes.len().min(SELFMAG)];
        return Err(elf_err(
            "e_ident",
            format!("not an ELF file: starts with {shown:02x?}, not 7f 45 4c 46 (\"\\x7fELF\")"),
        ));
    }
    if bytes.len() < SIZEOF_EHDR {
        return Err(LoadError::Truncated {
            path: path.to_path_buf(),
            what: "ELF header",
            needed: Span::new(0, SIZEOF_EHDR as u64),
            have: file_len,
        });
    }
    if bytes[EI_CLASS] != ELFCLASS64 {
        return Err(elf_err(
            "e_ident[EI_CLASS]",
            format!(
                "{} is not ELFCLASS64 (2): only 64-bit ELF is supported",
                bytes[EI_CLASS]
            ),
        ));
    }
    if bytes[EI_DATA] != ELFDATA2LSB {
        return Err(elf_err(
            "e_ident[EI_DATA]",
            format!(
                "{} is not ELFDATA2LSB (1): only little-endian ELF is supported",
                bytes[EI_DATA]
            ),
        ));
    }
    let header = Elf64Header::parse(bytes).map_err(|e| elf_err("(header)", format!("cannot parse: {e}")))?;
    if header.e_machine != EM_AARCH64 {
        return Err(elf_err(
            "e_machine",
            format!("{} is not EM_AARCH64 ({EM_AARCH64})", header.e_machine),
        ));
    }
    if header.e_type != ET_EXEC && header.e_type != ET_DYN {
        return Err(elf_err(
            "e_type",
            format!(
                "{} is neither ET_EXEC ({ET_EXEC}) nor ET_DYN ({ET_DYN}): cannot load a relocatable or core file",
                header.e_type
            ),
        ));
    }
    if header.e_phnum == 0 {
        return Err(LoadError::NoLoadSegments {
            path: path.to_path_buf(),
        });
    }
    if header.e_phnum == u16::MAX {
        return Err(elf_err(
            "e_phnum",
            "0xffff (PN_XNUM, extended program header numbering) is not supported".into(),
        ));
    }
    if usize::from(header.e_phentsize) != SIZEOF_PHDR {
        return Err(elf_err(
            "e_phentsize",
            format!(
                "{} is not the ELF64 program header size {SIZEOF_PHDR}",
                header.e_phentsize
            ),
        ));
    }
    let table = Span::new(header.e_phoff, u64::from(header.e_phnum) * SIZEOF_PHDR as u64);
    let table_offset = match table.checked_end() {
        Some(end) if end <= file_len => header.e_phoff as usize,
        _ => {
            return Err(LoadError::Truncated {
                path: path.to_path_buf(),
                what: "ELF program header table (e_phoff, e_phnum)",
                needed: table,
                have: file_len,
            })
        }
    };
    let phdrs = Elf64Phdr::parse(bytes, table_offset, usize::from(header.e_phnum), Endian::Little)
        .map_err(|e| elf_err("e_phoff", format!("cannot read the program headers: {e}")))?;

    let mut segments = Vec::new();
    for (index, ph) in phdrs.iter().enumerate() {
        if ph.p_type != PT_LOAD {
            continue;
        }
        let phys = Span::new(ph.p_paddr, ph.p_memsz);
        let seg_err = |problem: String| LoadError::Segment {
            path: path.to_path_buf(),
            index,
            range: phys,
            problem,
        };
        if ph.p_filesz > ph.p_memsz {
            return Err(seg_err(format!(
                "p_filesz {:#x} is larger than p_memsz {:#x}",
                ph.p_filesz, ph.p_memsz
            )));
        }
        if phys.checked_end().is_none() {
            return Err(seg_err("p_paddr + p_memsz runs past the 64-bit address space".into()));
        }
        if ph.p_vaddr.checked_add(ph.p_memsz).is_none() {
            return Err(seg_err(format!(
                "p_vaddr {:#x} + p_memsz runs past the 64-bit address space",
                ph.p_vaddr
            )));
        }
        let in_file = Span::new(ph.p_offset, ph.p_filesz);
        match in_file.checked_end() {
            Some(end) if end <= file_len => {}
            _ => {
                return Err(seg_err(format!(
                    "file bytes {in_file} (p_offset, p_filesz) run past the end of the file ({file_len:#x} bytes)"
                )))
            }
        }
        if ph.p_memsz == 0 {
            continue;
        }
        if !ram.contains(phys) {
            return Err(seg_err(format!("not inside RAM {ram}")));
        }
        segments.push(Segment {
            index,
            phys,
            vaddr: ph.p_vaddr,
            // Both fit in usize: they were checked against the slice's length.
            file_offset: ph.p_offset as usize,
            file_len: ph.p_filesz as usize,
            exec: ph.p_flags & PF_X != 0,
        });
    }
    if segments.is_empty() {
        return Err(LoadError::NoLoadSegments {
            path: path.to_path_buf(),
        });
    }

    let mut by_addr: Vec<&Segment> = segments.iter().collect();
    by_addr.sort_by_key(|s| s.phys.start);
    for pair in by_addr.windows(2) {
        if pair[0].phys.overlaps(&pair[1].phys) {
            return Err(LoadError::SegmentOverlap {
                path: path.to_path_buf(),
                first: pair[0].index,
                first_range: pair[0].phys,
                second: pair[1].index,
                second_range: pair[1].phys,
            });
        }
    }

    let entry = segments
        .iter()
        .filter(|s| s.exec)
        .find(|s| header.e_entry >= s.vaddr && header.e_entry - s.vaddr < s.phys.len)
        .map(|s| s.phys.start + (header.e_entry - s.vaddr))
        .ok_or_else(|| LoadError::Entry {
            path: path.to_path_buf(),
            entry: header.e_entry,
        })?;

    for seg in &segments {
        let data = &bytes[seg.file_offset..seg.file_offset + seg.file_len];
        write(path, target, seg.phys.start, data)?;
        zero(
            path,
            target,
            seg.phys.start + seg.file_len as u64,
            seg.phys.len - seg.file_len as u64,
        )?;
        tracing::debug!(
            path = %path.display(),
            segment = seg.index,
            range = %seg.phys,
            file_bytes = seg.file_len,
            "loaded ELF segment"
        );
    }
    let start = by_addr[0].phys.start;
    let end = segments.iter().map(|s| s.phys.end()).max().unwrap_or(start);
    Ok(LoadedImage {
        entry,
        kind: ImageKind::Elf,
        start,
        end,
        is_linux: false,
    })
}

// ---------------------------------------------------------------------------
// Linux arm64 Image

fn load_linux_image(
    path: &Path,
    bytes: &[u8],
    ram: &RamMap,
    target: &mut dyn LoadTarget,
) -> Result<LoadedImage, LoadError> {
    let file_len = bytes.len() as u64;
    let image_err = |field: &'static str, detail: String| LoadError::LinuxImage {
        path: path.to_path_buf(),
        field,
        detail,
    };
    if bytes.len() < ARM64_IMAGE_HEADER_SIZE {
        return Err(LoadError::Truncated {
            path: path.to_path_buf(),
            what: "arm64 Image header",
            needed: Span::new(0, ARM64_IMAGE_HEADER_SIZE as u64),
            have: file_len,
        });
    }
    // The header is 64 bytes long, so these reads cannot fail.
    let field = |at: usize| read_u64(bytes, at).unwrap_or_default();
    let magic = read_u32(bytes, ARM64_IMAGE_MAGIC_OFFSET).unwrap_or_default();
    if magic != ARM64_IMAGE_MAGIC {
        return Err(image_err(
            "magic",
            format!(
                "{magic:#010x} at offset {ARM64_IMAGE_MAGIC_OFFSET}, expected {ARM64_IMAGE_MAGIC:#010x} (\"ARM\\x64\"): not an arm64 Image"
            ),
        ));
    }
    let header_text_offset = field(8);
    let header_image_size = field(16);
    let flags = field(24);
    if flags & 1 != 0 {
        return Err(image_err(
            "flags",
            format!("{flags:#x}: bit 0 set, a big-endian kernel; only little-endian kernels are supported"),
        ));
    }
    let (text_offset, image_size) = if header_image_size == 0 {
        (ARM64_LEGACY_TEXT_OFFSET, file_len)
    } else {
        (header_text_offset, header_image_size)
    };
    if file_len > image_size {
        return Err(image_err(
            "image_size",
            format!("{image_size:#x} is smaller than the file ({file_len:#x} bytes)"),
        ));
    }
    let first = ram.first();
    let what = || {
        format!(
            "arm64 Image (text_offset {text_offset:#x}, image_size {image_size:#x}) placed at the first RAM region {first} rounded up to 2 MiB plus text_offset"
        )
    };
    let load = align_up(first.start, ARM64_IMAGE_ALIGN).and_then(|base| base.checked_add(text_offset));
    let Some(load) = load else {
        return Err(LoadError::NotInRam {
            path: path.to_path_buf(),
            what: what(),
            range: Span::new(first.start, text_offset),
            ram: ram.to_string(),
        });
    };
    let span = Span::new(load, image_size);
    ram.check(path, span, what)?;
    write(path, target, load, bytes)?;
    zero(path, target, load + file_len, image_size - file_len)?;
    tracing::debug!(path = %path.display(), range = %span, flags, "loaded arm64 Image");
    Ok(LoadedImage {
        entry: load,
        kind: ImageKind::LinuxImage,
        start: load,
        end: span.end(),
        is_linux: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const RAM_BASE: u64 = 0x4000_0000;
    const RAM_SIZE: u64 = 0x0100_0000; // 16 MiB

    /// In-memory guest RAM with bounds-checked regions.
    struct FakeRam {
        regions: Vec<(u64, Vec<u8>)>,
        writes: usize,
    }

    impl FakeRam {
        fn new(regions: &[(u64, u64)]) -> Self {
            FakeRam {
                regions: regions
                    .iter()
                    .map(|&(base, size)| (base, vec![0xaa; size as usize]))
                    .collect(),
                writes: 0,
            }
        }

        fn slice_mut(&mut self, addr: u64, len: u64) -> Result<&mut [u8], String> {
            for (base, mem) in &mut self.regions {
                let end = *base + mem.len() as u64;
                if addr >= *base && addr.checked_add(len).is_some_and(|e| e <= end) {
                    let off = (addr - *base) as usize;
                    return Ok(&mut mem[off..off + len as usize]);
                }
            }
            Err(format!("{addr:#x}+{len:#x} is not RAM"))
        }

        fn read(&mut self, addr: u64, len: u64) -> Vec<u8> {
            self.slice_mut(addr, len).unwrap().to_vec()
        }
    }

    impl LoadTarget for FakeRam {
        fn ram_regions(&self) -> Vec<(u64, u64)> {
            self.regions.iter().map(|(b, m)| (*b, m.len() as u64)).collect()
        }
        fn write_phys(&mut self, addr: u64, data: &[u8]) -> Result<(), String> {
            self.writes += 1;
            self.slice_mut(addr, data.len() as u64)?.copy_from_slice(data);
            Ok(())
        }
        fn zero_phys(&mut self, addr: u64, len: u64) -> Result<(), String> {
            self.writes += 1;
            self.slice_mut(addr, len)?.fill(0);
            Ok(())
        }
    }

    fn ram() -> FakeRam {
        FakeRam::new(&[(RAM_BASE, RAM_SIZE)])
    }

    fn path() -> &'static Path {
        Path::new("test/kernel.elf")
    }

    // -- ELF builder ---------------------------------------------------------

    #[derive(Clone)]
    struct Seg {
        p_type: u32,
        flags: u32,
        vaddr: u64,
        paddr: u64,
        memsz: u64,
        data: Vec<u8>,
        /// Overrides for malformed files.
        offset: Option<u64>,
        filesz: Option<u64>,
    }

    impl Seg {
        fn load(paddr: u64, flags: u32, data: &[u8], memsz: u64) -> Self {
            Seg {
                p_type: PT_LOAD,
                flags,
                vaddr: paddr,
                paddr,
                memsz,
                data: data.to_vec(),
                offset: None,
                filesz: None,
            }
        }
    }

    const RX: u32 = 5;
    const RW: u32 = 6;

    struct ElfBuilder {
        class: u8,
        data_enc: u8,
        e_type: u16,
        machine: u16,
        entry: u64,
        phentsize: u16,
        phnum: Option<u16>,
        phoff: Option<u64>,
        segs: Vec<Seg>,
    }

    impl ElfBuilder {
        fn new(entry: u64) -> Self {
            ElfBuilder {
                class: 2,
                data_enc: 1,
                e_type: ET_EXEC,
                machine: EM_AARCH64,
                entry,
                phentsize: 56,
                phnum: None,
                phoff: None,
                segs: Vec::new(),
            }
        }

        fn seg(mut self, seg: Seg) -> Self {
            self.segs.push(seg);
            self
        }

        fn build(&self) -> Vec<u8> {
            let phoff = 64u64;
            let mut data_off = phoff + 56 * self.segs.len() as u64;
            let mut out = Vec::new();
            out.extend_from_slice(b"\x7fELF");
            out.extend_from_slice(&[self.class, self.data_enc, 1, 0]);
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&self.e_type.to_le_bytes());
            out.extend_from_slice(&self.machine.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes()); // e_version
            out.extend_from_slice(&self.entry.to_le_bytes());
            out.extend_from_slice(&self.phoff.unwrap_or(phoff).to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
            out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
            out.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
            out.extend_from_slice(&self.phentsize.to_le_bytes());
            let phnum = self.phnum.unwrap_or(self.segs.len() as u16);
            out.extend_from_slice(&phnum.to_le_bytes());
            out.extend_from_slice(&[0; 6]); // shentsize, shnum, shstrndx
            assert_eq!(out.len(), 64);
            let mut payload = Vec::new();
            for s in &self.segs {
                let offset = s.offset.unwrap_or(data_off);
                data_off += s.data.len() as u64;
                payload.extend_from_slice(&s.data);
                out.extend_from_slice(&s.p_type.to_le_bytes());
                out.extend_from_slice(&s.flags.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
                out.extend_from_slice(&s.vaddr.to_le_bytes());
                out.extend_from_slice(&s.paddr.to_le_bytes());
                out.extend_from_slice(&s.filesz.unwrap_or(s.data.len() as u64).to_le_bytes());
                out.extend_from_slice(&s.memsz.to_le_bytes());
                out.extend_from_slice(&0x1000u64.to_le_bytes());
            }
            out.extend_from_slice(&payload);
            out
        }
    }

    const TEXT: &[u8] = &[0x1f, 0x20, 0x03, 0xd5, 0x00, 0x00, 0x00, 0x14]; // nop; b .
    const DATA: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

    fn good_elf() -> ElfBuilder {
        ElfBuilder::new(RAM_BASE + 0x8_0000)
            .seg(Seg::load(RAM_BASE + 0x8_0000, RX, TEXT, TEXT.len() as u64))
            .seg(Seg::load(RAM_BASE + 0x9_0000, RW, DATA, 0x100))
    }

    fn load(bytes: &[u8], fmt: ImageFormat) -> Result<(LoadedImage, FakeRam), LoadError> {
        let mut ram = ram();
        load_kernel(path(), bytes, fmt, &mut ram).map(|img| (img, ram))
    }

    /// Like `load`, with 1 MiB of RAM, cheap enough for thousands of runs.
    fn load_small(bytes: &[u8], fmt: ImageFormat) -> Result<LoadedImage, LoadError> {
        let mut ram = FakeRam::new(&[(RAM_BASE, MIB)]);
        load_kernel(path(), bytes, fmt, &mut ram)
    }

    fn load_err(bytes: &[u8], fmt: ImageFormat) -> String {
        match load(bytes, fmt) {
            Ok((img, _)) => panic!("expected an error, loaded {img:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_contains(msg: &str, parts: &[&str]) {
        for p in parts {
            assert!(msg.contains(p), "{msg:?} does not contain {p:?}");
        }
    }

    // -- ELF -------------------------------------------------------------------

    #[test]
    fn elf_good_image_loads_segments_and_bss() {
        let bytes = good_elf().build();
        for fmt in [ImageFormat::Elf, ImageFormat::Auto] {
            let (img, mut ram) = load(&bytes, fmt).unwrap();
            assert_eq!(
                img,
                LoadedImage {
                    entry: RAM_BASE + 0x8_0000,
                    kind: ImageKind::Elf,
                    start: RAM_BASE + 0x8_0000,
                    end: RAM_BASE + 0x9_0100,
                    is_linux: false,
                }
            );
            assert_eq!(ram.read(RAM_BASE + 0x8_0000, 8), TEXT);
            assert_eq!(ram.read(RAM_BASE + 0x9_0000, 10), DATA);
            assert_eq!(ram.read(RAM_BASE + 0x9_000a, 0xf6), vec![0; 0xf6]);
            // Bytes outside the segments are untouched.
            assert_eq!(ram.read(RAM_BASE + 0x9_0100, 1), [0xaa]);
            assert_eq!(ram.read(RAM_BASE + 0x8_0008, 1), [0xaa]);
        }
    }

    #[test]
    fn elf_entry_is_translated_from_vaddr_to_paddr() {
        let mut text = Seg::load(RAM_BASE, RX, TEXT, 0x1000);
        text.vaddr = 0xffff_0000_0000_0000;
        let bytes = ElfBuilder::new(0xffff_0000_0000_0004).seg(text).build();
        let (img, _) = load(&bytes, ImageFormat::Elf).unwrap();
        assert_eq!(img.entry, RAM_BASE + 4);
        assert_eq!((img.start, img.end), (RAM_BASE, RAM_BASE + 0x1000));
    }

    #[test]
    fn elf_dyn_is_loaded_at_its_link_addresses() {
        let mut b = good_elf();
        b.e_type = ET_DYN;
        let (img, _) = load(&b.build(), ImageFormat::Elf).unwrap();
        assert_eq!(img.start, RAM_BASE + 0x8_0000);
    }

    #[test]
    fn elf_zero_memsz_and_non_load_segments_are_ignored() {
        let mut note = Seg::load(0, 0, &[], 0x10);
        note.p_type = 4; // PT_NOTE, outside RAM: not loaded, not checked
        let b = good_elf().seg(note).seg(Seg::load(0, RW, &[], 0));
        let (img, _) = load(&b.build(), ImageFormat::Elf).unwrap();
        assert_eq!(img.start, RAM_BASE + 0x8_0000);
    }

    #[test]
    fn elf_header_errors_name_the_field() {
        type Mutate = fn(&mut ElfBuilder);
        let cases: Vec<(Mutate, &[&str])> = vec![
            (|b| b.class = 1, &["e_ident[EI_CLASS]", "64-bit"]),
            (|b| b.data_enc = 2, &["e_ident[EI_DATA]", "little-endian"]),
            (|b| b.machine = 62, &["e_machine", "62", "EM_AARCH64"]),
            (|b| b.e_type = 1, &["e_type", "ET_EXEC"]),
            (|b| b.e_type = 4, &["e_type"]),
            (|b| b.phentsize = 32, &["e_phentsize", "32"]),
            (|b| b.phnum = Some(0xffff), &["e_phnum", "PN_XNUM"]),
            (
                |b| b.phnum = Some(100),
                &["program header table", "[0x40, 0x1620)", "194 bytes"],
            ),
            (|b| b.phoff = Some(u64::MAX - 8), &["program header table"]),
        ];
        for (mutate, parts) in cases {
            let mut b = good_elf();
            mutate(&mut b);
            let msg = load_err(&b.build(), ImageFormat::Elf);
            assert_contains(&msg, &["test/kernel.elf"]);
            assert_contains(&msg, parts);
        }
        assert_contains(
            &load_err(b"not an elf at all", ImageFormat::Elf),
            &["test/kernel.elf", "e_ident", "not an ELF file"],
        );
    }

    #[test]
    fn elf_without_load_segments_is_an_error() {
        let none = ElfBuilder::new(RAM_BASE).build();
        assert_contains(&load_err(&none, ImageFormat::Elf), &["test/kernel.elf", "no PT_LOAD"]);
        let mut note = Seg::load(RAM_BASE, RX, TEXT, 8);
        note.p_type = 4;
        let only_note = ElfBuilder::new(RAM_BASE).seg(note).build();
        assert_contains(&load_err(&only_note, ImageFormat::Elf), &["no PT_LOAD"]);
        let empty = ElfBuilder::new(RAM_BASE).seg(Seg::load(RAM_BASE, RX, &[], 0)).build();
        assert_contains(&load_err(&empty, ImageFormat::Elf), &["no PT_LOAD"]);
    }

    #[test]
    fn elf_segment_errors_name_index_and_range() {
        let text_at = RAM_BASE + 0x8_0000;
        let cases: Vec<(Seg, &[&str])> = vec![
            (
                {
                    let mut s = Seg::load(RAM_BASE + 0x10_0000, RW, DATA, 4);
                    s.filesz = Some(10);
                    s
                },
                &["p_filesz 0xa is larger than p_memsz 0x4", "[0x40100000, 0x40100004)"],
            ),
            (
                {
                    let mut s = Seg::load(RAM_BASE + 0x10_0000, RW, DATA, 0x10);
                    s.offset = Some(0x10_0000);
                    s
                },
                &["run past the end of the file", "[0x100000, 0x10000a)"],
            ),
            (
                {
                    let mut s = Seg::load(RAM_BASE + 0x10_0000, RW, DATA, 0x10);
                    s.offset = Some(u64::MAX - 2);
                    s
                },
                &["run past the end of the file", "past the 64-bit address space"],
            ),
            (
                {
                    let mut s = Seg::load(RAM_BASE + 0x10_0000, RW, DATA, 0x2000);
                    s.filesz = Some(0x1000);
                    s
                },
                &["run past the end of the file"],
            ),
            (
                Seg::load(0x1000, RW, DATA, 0x10),
                &["[0x1000, 0x1010)", "not inside RAM [0x40000000, 0x41000000)"],
            ),
            (
                Seg::load(RAM_BASE + RAM_SIZE - 8, RW, DATA, 0x10),
                &["[0x40fffff8, 0x41000008)", "not inside RAM"],
            ),
            (
                Seg::load(u64::MAX - 4, RW, DATA, 0x10),
                &["past the 64-bit address space", "p_paddr + p_memsz"],
            ),
            (
                {
                    let mut s = Seg::load(RAM_BASE + 0x10_0000, RW, DATA, 0x10);
                    s.vaddr = u64::MAX - 4;
                    s
                },
                &["p_vaddr 0xfffffffffffffffb"],
            ),
        ];
        for (seg, parts) in cases {
            let b = ElfBuilder::new(text_at).seg(Seg::load(text_at, RX, TEXT, 8)).seg(seg);
            let msg = load_err(&b.build(), ImageFormat::Elf);
            assert_contains(&msg, &["test/kernel.elf", "ELF segment 1"]);
            assert_contains(&msg, parts);
        }
    }

    #[test]
    fn elf_overlapping_segments_are_an_error() {
        let b = good_elf().seg(Seg::load(RAM_BASE + 0x9_0080, RW, DATA, 0x100));
        let msg = load_err(&b.build(), ImageFormat::Elf);
        assert_contains(
            &msg,
            &[
                "test/kernel.elf",
                "segments 1 (p_paddr [0x40090000, 0x40090100))",
                "2 (p_paddr [0x40090080, 0x40090180)) overlap",
            ],
        );
        // Touching is fine.
        let b = good_elf().seg(Seg::load(RAM_BASE + 0x9_0100, RW, DATA, 0x100));
        assert!(load(&b.build(), ImageFormat::Elf).is_ok());
    }

    #[test]
    fn elf_entry_must_be_in_an_executable_segment() {
        for entry in [RAM_BASE, RAM_BASE + 0x8_0008, RAM_BASE + 0x9_0000] {
            let mut b = good_elf();
            b.entry = entry;
            let msg = load_err(&b.build(), ImageFormat::Elf);
            assert_contains(&msg, &["test/kernel.elf", &format!("e_entry {entry:#x}"), "PF_X"]);
        }
    }

    #[test]
    fn elf_errors_leave_ram_untouched() {
        let mut ram = ram();
        let mut b = good_elf();
        b.entry = 0;
        assert!(load_kernel(path(), &b.build(), ImageFormat::Elf, &mut ram).is_err());
        assert_eq!(ram.writes, 0);
    }

    #[test]
    fn elf_truncated_at_every_offset_is_an_error() {
        let bytes = good_elf().build();
        assert!(load(&bytes, ImageFormat::Elf).is_ok());
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            assert!(load_small(cut, ImageFormat::Elf).is_err(), "ELF cut at {len} loaded");
            // Auto treats a prefix too short for the magic as raw bytes.
            let auto = load_small(cut, ImageFormat::Auto);
            if len >= SELFMAG {
                assert!(auto.is_err(), "Auto, ELF cut at {len} loaded");
            }
        }
    }

    #[test]
    fn elf_garbage_never_panics() {
        let good = good_elf().build();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5000 {
            let mut bytes = good.clone();
            for _ in 0..(next() % 6 + 1) {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            if next() % 4 == 0 {
                bytes.truncate((next() % bytes.len() as u64) as usize);
            }
            let _ = load_small(&bytes, ImageFormat::Auto);
            let _ = load_small(&bytes, ImageFormat::Elf);
        }
        // Pure noise behind a valid-looking header prefix.
        for _ in 0..500 {
            let mut bytes = good[..24].to_vec();
            bytes.extend((0..(next() % 300)).map(|_| next() as u8));
            let _ = load_small(&bytes, ImageFormat::Elf);
        }
    }

    // -- Linux Image -----------------------------------------------------------

    fn linux_image(text_offset: u64, image_size: u64, flags: u64, body: usize) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[0..4].copy_from_slice(&0x1400_0010u32.to_le_bytes()); // code0: b +0x40
        h[8..16].copy_from_slice(&text_offset.to_le_bytes());
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&flags.to_le_bytes());
        h[56..60].copy_from_slice(b"ARM\x64");
        h.extend((0..body).map(|i| (i % 251) as u8 + 1));
        h
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn linux_image_loads_at_text_offset_and_zeroes_image_size() {
        let bytes = linux_image(0, 0x2_0000, 0b1010, 0x1000);
        for fmt in [ImageFormat::LinuxImage, ImageFormat::Auto] {
            let (img, mut ram) = load(&bytes, fmt).unwrap();
            assert_eq!(
                img,
                LoadedImage {
                    entry: RAM_BASE,
                    kind: ImageKind::LinuxImage,
                    start: RAM_BASE,
                    end: RAM_BASE + 0x2_0000,
                    is_linux: true,
                }
            );
            assert_eq!(ram.read(RAM_BASE, bytes.len() as u64), bytes);
            assert_eq!(
                ram.read(RAM_BASE + 0x1040, 0x2_0000 - 0x1040),
                vec![0; 0x2_0000 - 0x1040]
            );
            assert_eq!(ram.read(RAM_BASE + 0x2_0000, 1), [0xaa]);
        }
    }

    #[test]
    fn linux_image_base_is_rounded_up_to_2mib() {
        let bytes = linux_image(0x8_0000, 0x1_0000, 0, 0x100);
        let mut ram = FakeRam::new(&[(0x4010_0000, 0x40_0000)]);
        let img = load_kernel(path(), &bytes, ImageFormat::Auto, &mut ram).unwrap();
        assert_eq!(img.entry, 0x4028_0000);
        assert_eq!(img.end, 0x4029_0000);
    }

    #[test]
    fn linux_image_size_zero_means_legacy_text_offset() {
        let bytes = linux_image(0x1234_5000, 0, 0, 0x100);
        let (img, _) = load(&bytes, ImageFormat::LinuxImage).unwrap();
        assert_eq!(img.entry, RAM_BASE + 0x8_0000);
        assert_eq!(img.end, RAM_BASE + 0x8_0000 + bytes.len() as u64);
    }

    #[test]
    fn linux_image_errors() {
        let be = linux_image(0, 0x2_0000, 1, 0x10);
        assert_contains(
            &load_err(&be, ImageFormat::Auto),
            &["test/kernel.elf", "arm64 Image header field flags", "0x1", "big-endian"],
        );
        let too_big = linux_image(0x8_0000, RAM_SIZE, 0, 0x10);
        assert_contains(
            &load_err(&too_big, ImageFormat::Auto),
            &[
                "test/kernel.elf",
                "image_size 0x1000000",
                "[0x40080000, 0x41080000)",
                "not inside RAM [0x40000000, 0x41000000)",
            ],
        );
        let huge_offset = linux_image(u64::MAX - 0x1000, 0x2000, 0, 0x10);
        assert_contains(
            &load_err(&huge_offset, ImageFormat::Auto),
            &["text_offset", "not inside RAM"],
        );
        let small_size = linux_image(0, 0x20, 0, 0x100);
        assert_contains(
            &load_err(&small_size, ImageFormat::Auto),
            &["image_size", "0x20", "smaller than the file"],
        );
        let mut no_magic = linux_image(0, 0x2_0000, 0, 0x10);
        no_magic[56] = 0;
        assert_contains(
            &load_err(&no_magic, ImageFormat::LinuxImage),
            &["test/kernel.elf", "field magic", "offset 56"],
        );
        let short = &linux_image(0, 0x2_0000, 0, 0)[..40];
        assert_contains(
            &load_err(short, ImageFormat::LinuxImage),
            &["truncated arm64 Image header", "[0x0, 0x40)", "40 bytes"],
        );
        for len in 0..64 {
            let cut = &linux_image(0, 0x2_0000, 0, 0)[..len];
            assert!(load(cut, ImageFormat::LinuxImage).is_err());
        }
    }

    #[test]
    fn gzipped_linux_image_is_inflated() {
        let raw = linux_image(0x8_0000, 0x4_0000, 0, 0x3000);
        let gz = gzip(&raw);
        for fmt in [ImageFormat::Auto, ImageFormat::LinuxImage] {
            let (img, mut ram) = load(&gz, fmt).unwrap();
            assert_eq!(img.kind, ImageKind::LinuxImage);
            assert_eq!(img.entry, RAM_BASE + 0x8_0000);
            assert_eq!(ram.read(img.entry, raw.len() as u64), raw);
        }
        // A gzip'd ELF works too.
        let (img, _) = load(&gzip(&good_elf().build()), ImageFormat::Auto).unwrap();
        assert_eq!(img.kind, ImageKind::Elf);
    }

    #[test]
    fn gzip_errors() {
        let gz = gzip(&linux_image(0, 0x4_0000, 0, 0x3000));
        for len in 2..gz.len() {
            let msg = load_err(&gz[..len], ImageFormat::Auto);
            assert_contains(&msg, &["test/kernel.elf", "gzip"]);
        }
        let mut ram = ram();
        let msg = load_kernel_capped(path(), &gz, ImageFormat::Auto, &mut ram, 0x1000)
            .unwrap_err()
            .to_string();
        assert_contains(&msg, &["test/kernel.elf", "more than 0x1000 bytes"]);
        assert_contains(
            &load_err(&gzip(b""), ImageFormat::Auto),
            &["test/kernel.elf", "kernel file is empty"],
        );
        let nested = gzip(&gz);
        assert_contains(&load_err(&nested, ImageFormat::Auto), &["compressed data inside"]);
    }

    fn zboot(comp: &str, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 0x40];
        h[0..2].copy_from_slice(b"MZ");
        h[4..8].copy_from_slice(b"zimg");
        h[8..12].copy_from_slice(&0x40u32.to_le_bytes());
        h[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        h[24..24 + comp.len()].copy_from_slice(comp.as_bytes());
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn efi_zboot_gzip_payload_is_unpacked() {
        let raw = linux_image(0, 0x4_0000, 0, 0x3000);
        let (img, _) = load(&zboot("gzip", &gzip(&raw)), ImageFormat::Auto).unwrap();
        assert_eq!(img.kind, ImageKind::LinuxImage);
        assert_contains(
            &load_err(&zboot("zstd", b"xx"), ImageFormat::Auto),
            &["\"zstd\"", "only gzip"],
        );
        let mut bad = zboot("gzip", &gzip(&raw));
        bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_contains(&load_err(&bad, ImageFormat::Auto), &["truncated EFI zboot payload"]);
    }

    // -- Raw -------------------------------------------------------------------

    #[test]
    fn raw_images() {
        let bytes = b"raw firmware bytes";
        let (img, mut ram) = load(
            bytes,
            ImageFormat::Raw {
                load_addr: RAM_BASE + 0x1000,
            },
        )
        .unwrap();
        assert_eq!(
            img,
            LoadedImage {
                entry: RAM_BASE + 0x1000,
                kind: ImageKind::Raw,
                start: RAM_BASE + 0x1000,
                end: RAM_BASE + 0x1000 + bytes.len() as u64,
                is_linux: false,
            }
        );
        assert_eq!(ram.read(RAM_BASE + 0x1000, bytes.len() as u64), bytes);

        // Auto falls back to raw at the start of the lowest RAM region.
        let mut ram = FakeRam::new(&[(0x8000_0000, 0x1000), (RAM_BASE, 0x1000)]);
        let img = load_kernel(path(), bytes, ImageFormat::Auto, &mut ram).unwrap();
        assert_eq!((img.entry, img.kind), (RAM_BASE, ImageKind::Raw));

        assert_contains(
            &load_err(
                bytes,
                ImageFormat::Raw {
                    load_addr: RAM_BASE + RAM_SIZE - 4,
                },
            ),
            &[
                "test/kernel.elf",
                "raw image at [0x40fffffc, 0x4100000e)",
                "not inside RAM",
            ],
        );
        assert_contains(
            &load_err(bytes, ImageFormat::Raw { load_addr: u64::MAX }),
            &["past the 64-bit"],
        );
        assert_contains(&load_err(b"", ImageFormat::Auto), &["test/kernel.elf", "empty"]);
    }

    #[test]
    fn no_ram_is_an_error() {
        let mut ram = FakeRam::new(&[]);
        let err = load_kernel(path(), b"x", ImageFormat::Auto, &mut ram).unwrap_err();
        assert_contains(&err.to_string(), &["test/kernel.elf", "no RAM"]);
    }

    #[test]
    fn contiguous_regions_are_merged() {
        let mut ram = FakeRam::new(&[(RAM_BASE + 0x1000, 0x1000), (RAM_BASE, 0x1000)]);
        let bytes = [7u8; 0x1800];
        assert!(load_kernel(
            path(),
            &bytes,
            ImageFormat::Raw {
                load_addr: RAM_BASE + 0x400
            },
            &mut ram
        )
        .is_err());
        // The fake rejects writes that straddle its regions: the merge is in
        // the checks only, the write error still names the range.
        let mut ram = FakeRam::new(&[(RAM_BASE + 0x1000, 0x1000), (RAM_BASE, 0x1000)]);
        let err = load_kernel(path(), &bytes, ImageFormat::Raw { load_addr: RAM_BASE }, &mut ram).unwrap_err();
        assert_contains(&err.to_string(), &["writing [0x40000000, 0x40001800)"]);
    }

    // -- initrd ----------------------------------------------------------------

    #[test]
    fn initrd_is_copied_and_checked() {
        let mut ram = ram();
        let p = Path::new("test/initrd.img");
        let span = load_initrd(p, b"initrd!", RAM_BASE + 0x20_0000, &mut ram).unwrap();
        assert_eq!(span, Span::new(RAM_BASE + 0x20_0000, 7));
        assert_eq!(ram.read(RAM_BASE + 0x20_0000, 7), b"initrd!");
        let err = load_initrd(p, b"initrd!", RAM_BASE + RAM_SIZE - 2, &mut ram).unwrap_err();
        assert_contains(
            &err.to_string(),
            &[
                "test/initrd.img",
                "initrd at [0x40fffffe, 0x41000005)",
                "not inside RAM",
            ],
        );
        let err = load_initrd(p, b"", RAM_BASE, &mut ram).unwrap_err();
        assert_contains(&err.to_string(), &["test/initrd.img", "initrd file is empty"]);
    }

    // -- plan_boot -------------------------------------------------------------

    fn linux_at(start: u64, end: u64) -> LoadedImage {
        LoadedImage {
            entry: start,
            kind: ImageKind::LinuxImage,
            start,
            end,
            is_linux: true,
        }
    }

    fn bare_at(start: u64, end: u64) -> LoadedImage {
        LoadedImage {
            entry: start,
            kind: ImageKind::Elf,
            start,
            end,
            is_linux: false,
        }
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn plan_linux_follows_qemu() {
        let kernel = linux_at(RAM_BASE, RAM_BASE + 30 * MIB + 5);
        // 1 GiB of RAM: initrd at 128 MiB, DTB on the next 2 MiB boundary.
        let l = plan_boot(&kernel, Some(5 * MIB + 1), 0x3000, (RAM_BASE, GIB)).unwrap();
        assert_eq!(l.initrd, Some(Span::new(RAM_BASE + 128 * MIB, 5 * MIB + 1)));
        assert_eq!(l.dtb, Span::new(RAM_BASE + 128 * MIB + 6 * MIB, 0x3000));
        // 64 MiB of RAM: initrd at half of RAM.
        let l = plan_boot(&kernel, Some(MIB), 0x3000, (RAM_BASE, 64 * MIB)).unwrap();
        assert_eq!(l.initrd, Some(Span::new(RAM_BASE + 32 * MIB, MIB)));
        assert_eq!(l.dtb, Span::new(RAM_BASE + 34 * MIB, 0x3000));
        // No initrd: the DTB takes its place.
        let l = plan_boot(&kernel, None, 0x3000, (RAM_BASE, GIB)).unwrap();
        assert_eq!(
            l,
            BootLayout {
                initrd: None,
                dtb: Span::new(RAM_BASE + 128 * MIB, 0x3000)
            }
        );
        assert_eq!(plan_boot(&kernel, Some(0), 0x3000, (RAM_BASE, GIB)).unwrap(), l);
        // A kernel reaching past the preferred spot pushes the initrd up.
        let big = linux_at(RAM_BASE, RAM_BASE + 40 * MIB + 1);
        let l = plan_boot(&big, Some(MIB), 0x3000, (RAM_BASE, 64 * MIB)).unwrap();
        assert_eq!(l.initrd, Some(Span::new(RAM_BASE + 42 * MIB, MIB)));
        assert_eq!(l.dtb, Span::new(RAM_BASE + 44 * MIB, 0x3000));
    }

    #[test]
    fn plan_linux_falls_back_to_right_after_the_kernel() {
        let kernel = linux_at(RAM_BASE, RAM_BASE + 10 * MIB);
        // 40 MiB initrd does not fit at 32 MiB in 64 MiB of RAM, but at 10 MiB.
        let l = plan_boot(&kernel, Some(40 * MIB), 0x3000, (RAM_BASE, 64 * MIB)).unwrap();
        assert_eq!(l.initrd, Some(Span::new(RAM_BASE + 10 * MIB, 40 * MIB)));
        assert_eq!(l.dtb, Span::new(RAM_BASE + 50 * MIB, 0x3000));
    }

    #[test]
    fn plan_linux_errors() {
        let kernel = linux_at(RAM_BASE, RAM_BASE + 10 * MIB);
        let msg = plan_boot(&kernel, Some(60 * MIB), 0x3000, (RAM_BASE, 64 * MIB))
            .unwrap_err()
            .to_string();
        assert_contains(
            &msg,
            &[
                "initrd (0x3c00000 bytes)",
                "RAM [0x40000000, 0x44000000)",
                "kernel at [0x40000000, 0x40a00000)",
                "0x40a00000",
            ],
        );
        // The initrd fits but the DTB does not.
        let msg = plan_boot(&kernel, Some(54 * MIB), 0x3000, (RAM_BASE, 64 * MIB))
            .unwrap_err()
            .to_string();
        assert_contains(
            &msg,
            &[
                "DTB (0x3000 bytes)",
                "after the initrd at [0x40a00000, 0x44000000)",
                "0x44000000",
            ],
        );
        let msg = plan_boot(&kernel, None, 2 * MIB + 1, (RAM_BASE, GIB))
            .unwrap_err()
            .to_string();
        assert_contains(&msg, &["DTB is 0x200001 bytes", "at most 0x200000"]);
        let outside = linux_at(RAM_BASE - 0x1000, RAM_BASE + MIB);
        let msg = plan_boot(&outside, None, 0x3000, (RAM_BASE, GIB))
            .unwrap_err()
            .to_string();
        assert_contains(
            &msg,
            &[
                "Linux kernel at [0x3ffff000, 0x40100000)",
                "not inside RAM [0x40000000, 0x80000000)",
            ],
        );
        let past_end = linux_at(RAM_BASE, RAM_BASE + 65 * MIB);
        assert!(plan_boot(&past_end, None, 0x3000, (RAM_BASE, 64 * MIB)).is_err());
        assert!(matches!(
            plan_boot(&kernel, None, 0, (RAM_BASE, GIB)),
            Err(LoadError::EmptyDtb)
        ));
        assert!(matches!(
            plan_boot(&kernel, None, 8, (RAM_BASE, 0)),
            Err(LoadError::BadRam { .. })
        ));
        assert!(matches!(
            plan_boot(&kernel, None, 8, (u64::MAX, 2)),
            Err(LoadError::BadRam { .. })
        ));
        let top = linux_at(u64::MAX - 2 * MIB, u64::MAX - MIB);
        let msg = plan_boot(&top, None, 8, (u64::MAX - 4 * MIB, 4 * MIB))
            .unwrap_err()
            .to_string();
        assert_contains(&msg, &["DTB", "past the 64-bit address space"]);
    }

    #[test]
    fn plan_bare_metal_dtb_at_start_of_ram_when_free() {
        // Image above the start of RAM: DTB at the base, initrd after the image.
        let img = bare_at(RAM_BASE + 0x8_0000, RAM_BASE + 0x9_0100);
        let l = plan_boot(&img, None, 0x3000, (RAM_BASE, GIB)).unwrap();
        assert_eq!(
            l,
            BootLayout {
                initrd: None,
                dtb: Span::new(RAM_BASE, 0x3000)
            }
        );
        let l = plan_boot(&img, Some(0x500), 0x3000, (RAM_BASE, GIB)).unwrap();
        assert_eq!(l.initrd, Some(Span::new(RAM_BASE + 0xa_0000, 0x500)));
        assert_eq!(l.dtb, Span::new(RAM_BASE, 0x3000));
        // Image outside this RAM (e.g. in flash below it): everything from the base.
        let flash = bare_at(0, 0x1_0000);
        let l = plan_boot(&flash, Some(0x500), 0x3000, (RAM_BASE, GIB)).unwrap();
        assert_eq!(l.dtb, Span::new(RAM_BASE, 0x3000));
        assert_eq!(l.initrd, Some(Span::new(RAM_BASE + 0x1_0000, 0x500)));
    }

    #[test]
    fn plan_bare_metal_dtb_after_an_overlapping_image() {
        // Image at the start of RAM: DTB right after it on 64 KiB.
        let img = bare_at(RAM_BASE, RAM_BASE + 0x1_2345);
        let l = plan_boot(&img, None, 0x3000, (RAM_BASE, GIB)).unwrap();
        assert_eq!(
            l,
            BootLayout {
                initrd: None,
                dtb: Span::new(RAM_BASE + 0x2_0000, 0x3000)
            }
        );
        // DTB too big for the gap below the image.
        let img = bare_at(RAM_BASE + 0x1000, RAM_BASE + 0x2000);
        let l = plan_boot(&img, None, 0x1001, (RAM_BASE, GIB)).unwrap();
        assert_eq!(l.dtb, Span::new(RAM_BASE + 0x1_0000, 0x1001));
        // With an initrd: image, initrd, DTB.
        let img = bare_at(RAM_BASE, RAM_BASE + 0x1_2345);
        let l = plan_boot(&img, Some(0x1_0001), 0x3000, (RAM_BASE, GIB)).unwrap();
        assert_eq!(l.initrd, Some(Span::new(RAM_BASE + 0x2_0000, 0x1_0001)));
        assert_eq!(l.dtb, Span::new(RAM_BASE + 0x4_0000, 0x3000));
        // No size limit on a bare-metal DTB.
        assert!(plan_boot(&img, None, 4 * MIB, (RAM_BASE, GIB)).is_ok());
    }

    #[test]
    fn plan_bare_metal_errors() {
        let img = bare_at(RAM_BASE, RAM_BASE + 0xf_f000);
        let msg = plan_boot(&img, None, 0x3000, (RAM_BASE, MIB)).unwrap_err().to_string();
        assert_contains(
            &msg,
            &[
                "DTB (0x3000 bytes)",
                "RAM [0x40000000, 0x40100000)",
                "image at [0x40000000, 0x400ff000)",
                "0x10000-aligned",
                "0x40100000",
            ],
        );
        let msg = plan_boot(&img, Some(0x1000), 0x10, (RAM_BASE, MIB))
            .unwrap_err()
            .to_string();
        assert_contains(&msg, &["initrd (0x1000 bytes)"]);
        let gap = bare_at(RAM_BASE + 0x1_0000, RAM_BASE + MIB);
        let msg = plan_boot(&gap, Some(0x1000), 0x10, (RAM_BASE, MIB))
            .unwrap_err()
            .to_string();
        assert_contains(&msg, &["initrd (0x1000 bytes)", "image at [0x40010000, 0x40100000)"]);
    }

    /// The firmware the project builds (`firmware/prebuilt/hello.elf`, linked at
    /// 0x40200000 for the `virt` board), checked segment by segment against
    /// goblin's full parse of the same file.
    #[test]
    fn loads_prebuilt_hello_firmware() {
        let file = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../firmware/prebuilt/hello.elf"));
        let bytes =
            std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e} (built by firmware/Makefile)", file.display()));
        let mut ram = ram();
        let img = load_kernel(file, &bytes, ImageFormat::Auto, &mut ram).unwrap();
        assert_eq!(img.kind, ImageKind::Elf);
        assert!(!img.is_linux);
        assert_eq!(img.entry, 0x4020_0000);
        assert_eq!(img.start, 0x4020_0000);

        let elf = goblin::elf::Elf::parse(&bytes).unwrap();
        let mut end = 0;
        for ph in elf.program_headers.iter().filter(|p| p.p_type == PT_LOAD) {
            let file_part = &bytes[ph.p_offset as usize..][..ph.p_filesz as usize];
            assert_eq!(ram.read(ph.p_paddr, ph.p_filesz), file_part);
            let bss = ph.p_memsz - ph.p_filesz;
            assert_eq!(ram.read(ph.p_paddr + ph.p_filesz, bss), vec![0; bss as usize]);
            end = end.max(ph.p_paddr + ph.p_memsz);
        }
        assert_eq!(img.end, end);

        // The DTB goes at the start of RAM, below the firmware, as it expects.
        let l = plan_boot(&img, None, 0x1_0000, (RAM_BASE, RAM_SIZE)).unwrap();
        assert_eq!(l.dtb, Span::new(RAM_BASE, 0x1_0000));
    }

    #[test]
    fn plan_after_real_loads() {
        let bytes = linux_image(0, 0x2_0000, 0, 0x1000);
        let (img, _) = load(&bytes, ImageFormat::Auto).unwrap();
        let l = plan_boot(&img, Some(0x1000), 0x2000, (RAM_BASE, RAM_SIZE)).unwrap();
        assert_eq!(l.initrd, Some(Span::new(RAM_BASE + 8 * MIB, 0x1000)));
        assert_eq!(l.dtb, Span::new(RAM_BASE + 10 * MIB, 0x2000));
        let (img, _) = load(&good_elf().build(), ImageFormat::Auto).unwrap();
        let l = plan_boot(&img, None, 0x2000, (RAM_BASE, RAM_SIZE)).unwrap();
        assert_eq!(l.dtb, Span::new(RAM_BASE, 0x2000));
    }
}
