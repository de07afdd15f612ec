//! Guest RAM: one or more regions of zero-initialised host memory, addressed
//! by guest physical address.
//!
//! Every access is bounds-checked and must lie entirely inside one region;
//! anything else is an [`RamError`], never a panic. The address arithmetic
//! is written so that `addr + len` cannot overflow.
//!
//! Backing buffers are anonymous mappings the OS fills lazily with zero
//! pages, so a large RAM costs host memory only for the pages the guest
//! touches (in 2 MiB steps where the host gives transparent huge pages).
//!
//! ```
//! use soc::ram::GuestRam;
//!
//! let mut ram = GuestRam::with_region("dram", 0x4000_0000, 0x1000).unwrap();
//! ram.write_u64(0x4000_0008, 0x1122_3344_5566_7788).unwrap();
//! assert_eq!(ram.read_u32(0x4000_000c).unwrap(), 0x1122_3344);
//! assert!(ram.read_u64(0x4000_0ffc).is_err()); // runs off the end
//! ```

/// Errors from creating or accessing guest RAM.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RamError {
    /// A region was declared with size 0.
    #[error("RAM region {name:?} at {base:#x} has size 0")]
    ZeroSize {
        /// Region name.
        name: String,
        /// Region base.
        base: u64,
    },
    /// `base + size` does not fit in the 64-bit physical address space.
    #[error("RAM region {name:?}: base {base:#x} + size {size:#x} overflows the 64-bit address space")]
    Overflow {
        /// Region name.
        name: String,
        /// Region base.
        base: u64,
        /// Region size.
        size: u64,
    },
    /// The host refused to back the region with memory.
    #[error("RAM region {name:?}: cannot allocate {size:#x} bytes of host memory: {reason}")]
    HostAlloc {
        /// Region name.
        name: String,
        /// Region size.
        size: u64,
        /// The host's reason.
        reason: String,
    },
    /// The region is larger than the host can index.
    #[error("RAM region {name:?}: size {size:#x} does not fit in host memory")]
    TooLarge {
        /// Region name.
        name: String,
        /// Region size.
        size: u64,
    },
    /// A new region overlaps an existing one.
    #[error(
        "RAM region {name:?} [{base:#x}, {end:#x}) overlaps RAM region {other:?} [{other_base:#x}, {other_end:#x})"
    )]
    Overlap {
        /// Name of the region being added.
        name: String,
        /// Its base.
        base: u64,
        /// Its end (exclusive).
        end: u64,
        /// Name of the existing region.
        other: String,
        /// Existing region's base.
        other_base: u64,
        /// Existing region's end (exclusive).
        other_end: u64,
    },
    /// An access is not entirely inside one RAM region.
    #[error("guest RAM access of {len} bytes at {addr:#x} is not inside one RAM region")]
    OutOfRange {
        /// Guest physical address of the access.
        addr: u64,
        /// Length of the access in bytes.
        len: u64,
    },
    /// A scalar access whose size is not 1, 2, 4 or 8.
    #[error("unsupported RAM access size {size} at {addr:#x} (must be 1, 2, 4 or 8)")]
    BadSize {
        /// Guest physical address of the access.
        addr: u64,
        /// The size requested.
        size: u8,
    },
}

/// One contiguous region of guest RAM.
pub struct RamRegion {
    name: String,
    base: u64,
    /// Anonymous mapping: zero pages are materialised only when touched,
    /// and a size the host cannot back is an error rather than an abort.
    data: memmap2::MmapMut,
}

impl RamRegion {
    /// Region name, e.g. `dram`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Guest physical base address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// One past the last address (`base + size`; creation guarantees it
    /// does not overflow).
    pub fn end(&self) -> u64 {
        self.base + self.size()
    }

    /// The region's contents.
    pub fn as_slice(&self) -> &[u8] {
        &self.data
    }

    /// The region's contents, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Offset of `[addr, addr + len)` inside this region, if it lies
    /// entirely inside. Overflow-free: never computes `addr + len`.
    #[inline(always)]
    fn offset_of(&self, addr: u64, len: u64) -> Option<usize> {
        let off = addr.wrapping_sub(self.base);
        let size = self.data.len() as u64;
        // `off < size` rejects addr < base (wraps to a huge value) and
        // addr >= end; then `len <= size - off` cannot underflow.
        if off < size && len <= size - off {
            Some(off as usize)
        } else {
            None
        }
    }
}

impl std::fmt::Debug for RamRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RamRegion")
            .field("name", &self.name)
            .field("base", &format_args!("{:#x}", self.base))
            .field("size", &format_args!("{:#x}", self.data.len()))
            .finish()
    }
}

/// All of the guest's RAM: non-overlapping regions, kept in the order they
/// were added (the first one, normally main memory, is checked first).
#[derive(Debug, Default)]
pub struct GuestRam {
    regions: Vec<RamRegion>,
    /// Pages written other than by CPU stores (device DMA, loaders,
    /// semihosting), for engines that cache translated code.
    written: Vec<u64>,
    /// More pages were written than `written` keeps.
    written_overflow: bool,
}

/// Pages [`GuestRam`] remembers as written before it only says "many".
const WRITTEN_PAGES: usize = 4096;

impl GuestRam {
    /// An empty RAM map.
    pub fn new() -> Self {
        GuestRam::default()
    }

    /// A RAM map with a single region.
    pub fn with_region(name: &str, base: u64, size: u64) -> Result<Self, RamError> {
        let mut ram = GuestRam::new();
        ram.add_region(name, base, size)?;
        Ok(ram)
    }

    /// Adds a zero-filled region `[base, base + size)`.
    ///
    /// Fails if `size` is 0, if `base + size` exceeds the 64-bit address
    /// space (a region may not end exactly at 2^64 either), or if the region
    /// overlaps an existing one.
    pub fn add_region(&mut self, name: &str, base: u64, size: u64) -> Result<(), RamError> {
        if size == 0 {
            return Err(RamError::ZeroSize {
                name: name.into(),
                base,
            });
        }
        let end = base.checked_add(size).ok_or_else(|| RamError::Overflow {
            name: name.into(),
            base,
            size,
        })?;
        let len = usize::try_from(size).map_err(|_| RamError::TooLarge {
            name: name.into(),
            size,
        })?;
        if let Some(other) = self.regions.iter().find(|r| base < r.end() && r.base < end) {
            return Err(RamError::Overlap {
                name: name.into(),
                base,
                end,
                other: other.name.clone(),
                other_base: other.base,
                other_end: other.end(),
            });
        }
        let data = memmap2::MmapOptions::new()
            .len(len)
            .map_anon()
            .map_err(|e| RamError::HostAlloc {
                name: name.into(),
                size,
                reason: e.to_string(),
            })?;
        // Transparent huge pages where the host offers them on request (as
        // QEMU asks for its RAM): guests touch memory all over, and with
        // 4 KiB pages the host's TLB misses on guest loads and stores. A
        // hint only; without it the RAM works the same.
        #[cfg(target_os = "linux")]
        let _ = data.advise(memmap2::Advice::HugePage);
        self.regions.push(RamRegion {
            name: name.into(),
            base,
            data,
        });
        Ok(())
    }

    /// Replaces the contents of region `index` with a private
    /// copy-on-write mapping of `file` at byte `offset` (which must be a
    /// multiple of the host page size): pages are read from the file when
    /// the guest first touches them and guest writes never reach the file.
    /// A machine restored from a snapshot gets its RAM this way instead of
    /// copying it. Fails, leaving the region as it was, if the index is
    /// wrong, the file is too short or the host refuses the mapping.
    pub fn map_region_from_file(&mut self, index: usize, file: &std::fs::File, offset: u64) -> Result<(), RamError> {
        let Some(r) = self.regions.get(index) else {
            return Err(RamError::OutOfRange { addr: 0, len: 0 });
        };
        let size = r.size();
        let host_err = |reason: String| RamError::HostAlloc {
            name: r.name.clone(),
            size,
            reason,
        };
        let file_len = file.metadata().map_err(|e| host_err(e.to_string()))?.len();
        if offset.checked_add(size).is_none_or(|end| end > file_len) {
            return Err(host_err(format!(
                "the file holds {file_len:#x} bytes, not {size:#x} at offset {offset:#x}"
            )));
        }
        // SAFETY: the mapping is private (MAP_PRIVATE): guest writes go to
        // anonymous copies, never to the file. The file stays mapped for
        // the life of the region; if another process truncated it, touching
        // a vanished page would raise SIGBUS, so callers map files they
        // own (a snapshot file is written once and only read afterwards).
        let data = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(size as usize)
                .map_copy(file)
        }
        .map_err(|e| host_err(e.to_string()))?;
        self.regions[index].data = data;
        self.written_overflow = true;
        Ok(())
    }

    /// The regions, in the order they were added.
    pub fn regions(&self) -> &[RamRegion] {
        &self.regions
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&RamRegion> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// True if `[addr, addr + len)` lies entirely inside one region. A
    /// zero-length range is contained if `addr` itself is inside a region.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        self.locate(addr, len).is_some()
    }

    /// Region index and offset for `[addr, addr + len)`.
    #[inline(always)]
    fn locate(&self, addr: u64, len: u64) -> Option<(usize, usize)> {
        // Fast path: the first region, without iterator set-up.
        if let Some(first) = self.regions.first() {
            if let Some(off) = first.offset_of(addr, len) {
                return Some((0, off));
            }
        }
        self.regions
            .iter()
            .enumerate()
            .skip(1)
            .find_map(|(i, r)| r.offset_of(addr, len).map(|off| (i, off)))
    }

    /// The host bytes backing `[addr, addr + len)`.
    pub fn slice(&self, addr: u64, len: usize) -> Result<&[u8], RamError> {
        let (i, off) = self
            .locate(addr, len as u64)
            .ok_or(RamError::OutOfRange { addr, len: len as u64 })?;
        Ok(&self.regions[i].data[off..off + len])
    }

    /// The host bytes backing `[addr, addr + len)`, mutable. The pages
    /// count as written (see [`GuestRam::take_written`]).
    pub fn slice_mut(&mut self, addr: u64, len: usize) -> Result<&mut [u8], RamError> {
        let (i, off) = self
            .locate(addr, len as u64)
            .ok_or(RamError::OutOfRange { addr, len: len as u64 })?;
        self.note_written(addr, len as u64);
        Ok(&mut self.regions[i].data[off..off + len])
    }

    fn note_written(&mut self, addr: u64, len: u64) {
        if len == 0 || self.written_overflow {
            return;
        }
        let (first, last) = (addr >> 12, (addr + (len - 1)) >> 12);
        if self.written.len() as u64 + (last - first) >= WRITTEN_PAGES as u64 {
            self.written_overflow = true;
            self.written.clear();
            return;
        }
        if self.written.last() != Some(&last) || first != last {
            self.written.extend(first..=last);
        }
    }

    /// The pages (physical address >> 12) written since the last call by
    /// anything but a CPU store through the bus fast path, or `None` when
    /// too many were to list (treat everything as written). A JIT drops
    /// its translations of code in them.
    pub fn take_written(&mut self) -> Option<Vec<u64>> {
        if std::mem::take(&mut self.written_overflow) {
            return None;
        }
        Some(std::mem::take(&mut self.written))
    }

    /// Copies guest memory at `addr` into `buf`.
    pub fn read_bytes(&self, addr: u64, buf: &mut [u8]) -> Result<(), RamError> {
        buf.copy_from_slice(self.slice(addr, buf.len())?);
        Ok(())
    }

    /// Copies `data` into guest memory at `addr`.
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<(), RamError> {
        self.slice_mut(addr, data.len())?.copy_from_slice(data);
        Ok(())
    }

    /// Reads a little-endian value of `size` (1, 2, 4 or 8) bytes,
    /// zero-extended.
    #[inline]
    pub fn read(&self, addr: u64, size: u8) -> Result<u64, RamError> {
        match size {
            1 => self.read_u8(addr).map(u64::from),
            2 => self.read_u16(addr).map(u64::from),
            4 => self.read_u32(addr).map(u64::from),
            8 => self.read_u64(addr),
            _ => Err(RamError::BadSize { addr, size }),
        }
    }

    /// Writes the low `size` (1, 2, 4 or 8) bytes of `value`, little-endian.
    #[inline]
    pub fn write(&mut self, addr: u64, size: u8, value: u64) -> Result<(), RamError> {
        match size {
            1 => self.write_u8(addr, value as u8),
            2 => self.write_u16(addr, value as u16),
            4 => self.write_u32(addr, value as u32),
            8 => self.write_u64(addr, value),
            _ => Err(RamError::BadSize { addr, size }),
        }
    }

    /// A host pointer to the 4 KiB page at `addr` (page aligned) when the
    /// whole page is RAM: what a JIT's inline TLB uses to reach guest
    /// memory without a call. The mapping lives, unmoved, as long as this
    /// `GuestRam` does, and regions are never removed.
    pub fn page_ptr(&mut self, addr: u64) -> Option<std::ptr::NonNull<u8>> {
        if addr & 0xfff != 0 {
            return None;
        }
        let (i, off) = self.locate(addr, 0x1000)?;
        std::ptr::NonNull::new(self.regions[i].data[off..off + 0x1000].as_mut_ptr())
    }

    /// Scalar read for the bus hot path: `None` instead of an error value.
    #[inline(always)]
    pub(crate) fn read_fast(&self, addr: u64, size: u8) -> Option<u64> {
        let (i, off) = self.locate(addr, u64::from(size))?;
        let d = &self.regions[i].data;
        Some(match size {
            1 => u64::from(d[off]),
            2 => u64::from(u16::from_le_bytes(d[off..off + 2].try_into().ok()?)),
            4 => u64::from(u32::from_le_bytes(d[off..off + 4].try_into().ok()?)),
            8 => u64::from_le_bytes(d[off..off + 8].try_into().ok()?),
            _ => return None,
        })
    }

    /// Scalar write for the bus hot path: `false` if not entirely in RAM
    /// or `size` is not 1, 2, 4 or 8.
    #[inline(always)]
    pub(crate) fn write_fast(&mut self, addr: u64, size: u8, value: u64) -> bool {
        let Some((i, off)) = self.locate(addr, u64::from(size)) else {
            return false;
        };
        let d = &mut self.regions[i].data;
        match size {
            1 => d[off] = value as u8,
            2 => d[off..off + 2].copy_from_slice(&(value as u16).to_le_bytes()),
            4 => d[off..off + 4].copy_from_slice(&(value as u32).to_le_bytes()),
            8 => d[off..off + 8].copy_from_slice(&value.to_le_bytes()),
            _ => return false,
        }
        true
    }

    #[inline(always)]
    fn read_array<const N: usize>(&self, addr: u64) -> Result<[u8; N], RamError> {
        let (i, off) = self
            .locate(addr, N as u64)
            .ok_or(RamError::OutOfRange { addr, len: N as u64 })?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.regions[i].data[off..off + N]);
        Ok(out)
    }

    #[inline(always)]
    fn write_array<const N: usize>(&mut self, addr: u64, bytes: [u8; N]) -> Result<(), RamError> {
        let (i, off) = self
            .locate(addr, N as u64)
            .ok_or(RamError::OutOfRange { addr, len: N as u64 })?;
        self.note_written(addr, N as u64);
        self.regions[i].data[off..off + N].copy_from_slice(&bytes);
        Ok(())
    }

    /// Reads one byte.
    #[inline]
    pub fn read_u8(&self, addr: u64) -> Result<u8, RamError> {
        self.read_array::<1>(addr).map(|b| b[0])
    }

    /// Reads a little-endian u16.
    #[inline]
    pub fn read_u16(&self, addr: u64) -> Result<u16, RamError> {
        self.read_array(addr).map(u16::from_le_bytes)
    }

    /// Reads a little-endian u32.
    #[inline]
    pub fn read_u32(&self, addr: u64) -> Result<u32, RamError> {
        self.read_array(addr).map(u32::from_le_bytes)
    }

    /// Reads a little-endian u64.
    #[inline]
    pub fn read_u64(&self, addr: u64) -> Result<u64, RamError> {
        self.read_array(addr).map(u64::from_le_bytes)
    }

    /// Writes one byte.
    #[inline]
    pub fn write_u8(&mut self, addr: u64, value: u8) -> Result<(), RamError> {
        self.write_array(addr, [value])
    }

    /// Writes a little-endian u16.
    #[inline]
    pub fn write_u16(&mut self, addr: u64, value: u16) -> Result<(), RamError> {
        self.write_array(addr, value.to_le_bytes())
    }

    /// Writes a little-endian u32.
    #[inline]
    pub fn write_u32(&mut self, addr: u64, value: u32) -> Result<(), RamError> {
        self.write_array(addr, value.to_le_bytes())
    }

    /// Writes a little-endian u64.
    #[inline]
    pub fn write_u64(&mut self, addr: u64, value: u64) -> Result<(), RamError> {
        self.write_array(addr, value.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_other_than_cpu_stores_are_reported_by_page() {
        let mut ram = GuestRam::with_region("dram", 0x4000_0000, 0x10_0000).unwrap();
        assert_eq!(ram.take_written(), Some(vec![]));
        ram.write_bytes(0x4000_0ff8, &[1; 16]).unwrap(); // crosses a page
        ram.write_u32(0x4000_5000, 7).unwrap();
        assert!(ram.write_fast(0x4000_6000, 4, 1), "CPU fast path");
        assert_eq!(ram.take_written(), Some(vec![0x40000, 0x40001, 0x40005]));
        assert_eq!(ram.take_written(), Some(vec![]));
        // Too many to list: reported as "everything".
        ram.slice_mut(0x4000_0000, 0x10_0000).unwrap().fill(0);
        assert_eq!(ram.take_written(), Some((0x40000..0x40100).collect()));
        for p in 0..WRITTEN_PAGES as u64 + 1 {
            ram.write_u8(0x4000_0000 + (p % 0x100) * 0x1000, 0).unwrap();
        }
        assert_eq!(ram.take_written(), None);
        assert_eq!(ram.take_written(), Some(vec![]));
    }

    fn two_regions() -> GuestRam {
        let mut ram = GuestRam::with_region("dram", 0x4000_0000, 0x1000).unwrap();
        ram.add_region("sram", 0x1000, 0x100).unwrap();
        ram
    }

    #[test]
    fn scalar_round_trip_little_endian() {
        let mut ram = two_regions();
        ram.write_u64(0x4000_0000, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(ram.read_u8(0x4000_0000).unwrap(), 0x08);
        assert_eq!(ram.read_u16(0x4000_0000).unwrap(), 0x0708);
        assert_eq!(ram.read_u32(0x4000_0004).unwrap(), 0x0102_0304);
        assert_eq!(ram.read(0x4000_0000, 8).unwrap(), 0x0102_0304_0506_0708);
        ram.write(0x10f8, 8, u64::MAX).unwrap();
        ram.write(0x10f8, 2, 0x1234_5678).unwrap();
        assert_eq!(ram.read(0x10f8, 8).unwrap(), 0xffff_ffff_ffff_5678);
        ram.write_u8(0x10ff, 0xab).unwrap();
        assert_eq!(ram.read_u8(0x10ff).unwrap(), 0xab);
        ram.write_u16(0x4000_0ffe, 0xbeef).unwrap();
        ram.write_u32(0x4000_0ffc, 0xdead_beef).unwrap();
        assert_eq!(ram.read_u32(0x4000_0ffc).unwrap(), 0xdead_beef);
    }

    #[test]
    fn starts_zeroed() {
        let ram = GuestRam::with_region("dram", 0, 1 << 20).unwrap();
        assert_eq!(ram.read_u64(0x8_0000).unwrap(), 0);
    }

    #[test]
    fn out_of_range_accesses_are_errors() {
        let mut ram = two_regions();
        let oor = |addr, len| RamError::OutOfRange { addr, len };
        // Straddles the end.
        assert_eq!(ram.read_u64(0x4000_0ffc), Err(oor(0x4000_0ffc, 8)));
        assert_eq!(ram.write_u32(0x4000_0ffe, 0), Err(oor(0x4000_0ffe, 4)));
        // Straddles the start.
        assert_eq!(ram.read_u16(0x3fff_ffff), Err(oor(0x3fff_ffff, 2)));
        // Unmapped, and between regions.
        assert!(ram.read_u8(0).is_err());
        assert!(ram.read_u8(0x1100).is_err());
        // Near the top of the address space: addr + len would overflow.
        assert_eq!(ram.read_u64(u64::MAX - 3), Err(oor(u64::MAX - 3, 8)));
        assert!(ram.write_u64(u64::MAX, 0).is_err());
        let mut buf = [0u8; 16];
        assert!(ram.read_bytes(u64::MAX - 7, &mut buf).is_err());
        assert!(ram.write_bytes(0x4000_0ff8, &buf).is_err());
        // Bad scalar size.
        assert_eq!(
            ram.read(0x4000_0000, 3),
            Err(RamError::BadSize {
                addr: 0x4000_0000,
                size: 3
            })
        );
        assert!(ram.write(0x4000_0000, 0, 0).is_err());
    }

    #[test]
    fn access_spanning_two_adjacent_regions_is_rejected() {
        let mut ram = GuestRam::with_region("a", 0x1000, 0x1000).unwrap();
        ram.add_region("b", 0x2000, 0x1000).unwrap();
        assert!(ram.contains(0x1ff8, 8));
        assert!(ram.contains(0x2000, 8));
        assert!(!ram.contains(0x1ffc, 8));
        assert!(ram.read_u64(0x1ffc).is_err());
        assert!(ram.write_bytes(0x1fff, &[1, 2]).is_err());
    }

    #[test]
    fn bytes_round_trip() {
        let mut ram = two_regions();
        ram.write_bytes(0x4000_0100, b"hello").unwrap();
        let mut buf = [0u8; 5];
        ram.read_bytes(0x4000_0100, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(ram.slice(0x4000_0101, 3).unwrap(), b"ell");
        // A whole region in one go, and an empty slice at its last byte.
        ram.write_bytes(0x1000, &[7u8; 0x100]).unwrap();
        assert!(ram.slice(0x10ff, 0).is_ok());
        assert!(ram.slice(0x1100, 0).is_err());
    }

    #[test]
    fn contains() {
        let ram = two_regions();
        assert!(ram.contains(0x4000_0000, 0x1000));
        assert!(!ram.contains(0x4000_0000, 0x1001));
        assert!(!ram.contains(0x4000_1000, 1));
        assert!(ram.contains(0x1080, 0x80));
        assert!(!ram.contains(u64::MAX, u64::MAX));
    }

    #[test]
    fn bad_regions_are_rejected() {
        let mut ram = two_regions();
        assert_eq!(
            ram.add_region("z", 0x10, 0),
            Err(RamError::ZeroSize {
                name: "z".into(),
                base: 0x10
            })
        );
        assert!(matches!(
            ram.add_region("o", u64::MAX - 0xf, 0x10),
            Err(RamError::Overflow { .. })
        ));
        assert!(matches!(
            ram.add_region("o", u64::MAX, 2),
            Err(RamError::Overflow { .. })
        ));
        let err = ram.add_region("x", 0x4000_0800, 0x1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "RAM region \"x\" [0x40000800, 0x40001800) overlaps RAM region \"dram\" [0x40000000, 0x40001000)"
        );
        // Fully containing an existing region is an overlap too.
        assert!(matches!(
            ram.add_region("y", 0, 0x10_0000),
            Err(RamError::Overlap { .. })
        ));
        // Touching is fine.
        ram.add_region("after", 0x4000_1000, 0x1000).unwrap();
        ram.add_region("before", 0xf00, 0x100).unwrap();
        assert_eq!(ram.regions().len(), 4);
        assert_eq!(ram.regions()[0].name(), "dram");
        assert_eq!(ram.region("after").unwrap().end(), 0x4000_2000);
    }

    #[test]
    fn error_messages_name_the_address() {
        let ram = two_regions();
        assert_eq!(
            ram.read_u32(0x5000_0000).unwrap_err().to_string(),
            "guest RAM access of 4 bytes at 0x50000000 is not inside one RAM region"
        );
    }

    #[test]
    fn a_region_maps_a_file_copy_on_write() {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        let mut data = vec![0u8; 0x3000];
        data[0x1000..0x1004].copy_from_slice(&[1, 2, 3, 4]);
        data[0x2fff] = 9;
        f.write_all(&data).unwrap();
        let mut ram = GuestRam::with_region("dram", 0x4000_0000, 0x2000).unwrap();
        ram.map_region_from_file(0, &f, 0x1000).unwrap();
        assert_eq!(ram.read_u32(0x4000_0000).unwrap(), 0x0403_0201);
        assert_eq!(ram.read_u8(0x4000_1fff).unwrap(), 9);
        ram.write_u8(0x4000_0000, 0xff).unwrap();
        assert_eq!(ram.read_u8(0x4000_0000).unwrap(), 0xff);
        let mut back = vec![0u8; 0x3000];
        use std::os::unix::fs::FileExt;
        f.read_exact_at(&mut back, 0).unwrap();
        assert_eq!(back, data, "the file is not written");
        // Too short a file: refused, region unchanged.
        let e = ram.map_region_from_file(0, &f, 0x2000).unwrap_err();
        assert!(e.to_string().contains("dram"), "{e}");
        assert_eq!(ram.read_u8(0x4000_0000).unwrap(), 0xff);
    }
}
