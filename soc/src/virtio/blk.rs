//! virtio-blk (VIRTIO 1.2 section 5.2) on a raw image file.
//!
//! * Capacity is the image size in 512-byte sectors. An image whose size is
//!   not a multiple of 512 is used rounded down (a warning names the file
//!   and the ignored tail), as QEMU does; an image smaller than 512 bytes
//!   is refused.
//! * The image is opened read-write unless `read_only`; if that fails
//!   (permissions, read-only file system) the error names the file and
//!   suggests the read-only option. Missing files and directories are
//!   refused with the file's name.
//! * Features: VIRTIO_BLK_F_SEG_MAX (queue size - 2), F_BLK_SIZE (512),
//!   F_FLUSH, F_RO when read-only, and with `discard` (and not read-only)
//!   F_DISCARD and F_WRITE_ZEROES.
//! * Requests: IN, OUT, FLUSH (`File::sync_data`), GET_ID (the serial, up
//!   to 20 bytes, zero-padded), DISCARD and WRITE_ZEROES (both write
//!   zeros: portable, and reads after a discard return zeros). Anything
//!   else completes with UNSUPP.
//! * A data length that is not a multiple of 512, a range beyond the
//!   capacity, a write to a read-only device and host I/O errors complete
//!   with IOERR (host errors are logged). Nothing is written to the image
//!   for a failed request (a host error may leave a partial write).
//! * Without F_FLUSH negotiated the device is write-through: each OUT is
//!   followed by `sync_data`, so completed writes are durable either way.
//! * A chain too short for the 16-byte header or without a writable byte
//!   for the status cannot be answered and is a device error
//!   ([`QueueError::Malformed`]): the device needs a reset.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::queue::{DescChain, Queue, QueueError};
use super::{device_id, VirtioDevice, VirtioError};
use crate::ram::GuestRam;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// Feature bits.
pub mod feature {
    /// `size_max` is valid.
    pub const SIZE_MAX: u64 = 1 << 1;
    /// `seg_max` is valid.
    pub const SEG_MAX: u64 = 1 << 2;
    /// The device is read-only.
    pub const RO: u64 = 1 << 5;
    /// `blk_size` is valid.
    pub const BLK_SIZE: u64 = 1 << 6;
    /// FLUSH is supported.
    pub const FLUSH: u64 = 1 << 9;
    /// DISCARD is supported.
    pub const DISCARD: u64 = 1 << 13;
    /// WRITE_ZEROES is supported.
    pub const WRITE_ZEROES: u64 = 1 << 14;
}

/// Request types.
pub mod req {
    /// Read.
    pub const IN: u32 = 0;
    /// Write.
    pub const OUT: u32 = 1;
    /// Flush the write cache.
    pub const FLUSH: u32 = 4;
    /// Read the device ID (serial).
    pub const GET_ID: u32 = 8;
    /// Discard sectors.
    pub const DISCARD: u32 = 11;
    /// Write zeroes.
    pub const WRITE_ZEROES: u32 = 13;
}

/// Status byte values.
pub mod blk_status {
    /// Success.
    pub const OK: u8 = 0;
    /// Device or driver error.
    pub const IOERR: u8 = 1;
    /// Unsupported request.
    pub const UNSUPP: u8 = 2;
}

/// Sector size in bytes.
pub const SECTOR_SIZE: u64 = 512;
/// Queue size.
pub const QUEUE_SIZE: u16 = 256;
/// Length of GET_ID's answer.
pub const ID_LEN: usize = 20;
/// Most sectors one DISCARD / WRITE_ZEROES segment may cover (16 MiB).
pub const MAX_DISCARD_SECTORS: u32 = 32768;
/// Most segments in one DISCARD / WRITE_ZEROES request.
pub const MAX_DISCARD_SEG: u32 = 16;
/// Size of the configuration space we expose.
const CONFIG_LEN: usize = 60;

/// How a board configures a virtio-blk device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlkConfig {
    /// The raw image file.
    pub path: PathBuf,
    /// Offer VIRTIO_BLK_F_RO and refuse writes; the file is opened
    /// read-only.
    pub read_only: bool,
    /// The ID GET_ID returns (at most 20 bytes); none returns zeros.
    pub serial: Option<String>,
    /// Offer DISCARD and WRITE_ZEROES (ignored when read-only).
    pub discard: bool,
}

/// A virtio-blk device backed by a raw image file.
#[derive(Debug)]
pub struct VirtioBlk {
    file: File,
    path: PathBuf,
    capacity: u64,
    read_only: bool,
    discard: bool,
    serial: [u8; ID_LEN],
    negotiated: u64,
    /// Sectors written since a snapshot restore: a restored disk reads the
    /// image underneath but never writes it (see [`VirtioBlk::restore`]).
    overlay: Option<BTreeMap<u64, Box<[u8]>>>,
}

fn image_err(path: &Path, reason: impl Into<String>) -> VirtioError {
    VirtioError::Image {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The image cannot be reached at all (missing, no permission).
fn access_err(path: &Path, reason: String) -> VirtioError {
    VirtioError::ImageAccess {
        path: path.to_path_buf(),
        reason,
    }
}

impl VirtioBlk {
    /// Opens the image. Errors name the file: missing, a directory,
    /// unreadable, not writable when not read-only, smaller than one
    /// sector; or a serial longer than 20 bytes.
    pub fn open(config: &BlkConfig) -> Result<Self, VirtioError> {
        let path = &config.path;
        let mut serial = [0u8; ID_LEN];
        if let Some(s) = &config.serial {
            if s.len() > ID_LEN {
                return Err(VirtioError::SerialTooLong {
                    serial: s.clone(),
                    len: s.len(),
                });
            }
            serial[..s.len()].copy_from_slice(s.as_bytes());
        }
        let meta = std::fs::metadata(path).map_err(|e| access_err(path, format!("cannot access: {e}")))?;
        if meta.is_dir() {
            return Err(image_err(path, "is a directory, not a disk image"));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(!config.read_only)
            .open(path)
            .map_err(|e| {
                if config.read_only {
                    access_err(path, format!("cannot open for reading: {e}"))
                } else {
                    access_err(
                        path,
                        format!(
                            "cannot open for reading and writing: {e} (use the read-only option for a read-only image)"
                        ),
                    )
                }
            })?;
        // Seeking works for block devices too, whose metadata length is 0.
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|e| image_err(path, format!("cannot determine the size: {e}")))?;
        if size < SECTOR_SIZE {
            return Err(image_err(
                path,
                format!("is {size} bytes long, smaller than one {SECTOR_SIZE}-byte sector"),
            ));
        }
        if size % SECTOR_SIZE != 0 {
            tracing::warn!(
                image = %path.display(),
                size,
                ignored = size % SECTOR_SIZE,
                "disk image size is not a multiple of 512 bytes; the last partial sector is not accessible"
            );
        }
        Ok(VirtioBlk {
            file,
            path: path.clone(),
            capacity: size / SECTOR_SIZE,
            read_only: config.read_only,
            discard: config.discard && !config.read_only,
            serial,
            negotiated: 0,
            overlay: None,
        })
    }

    /// Reads image bytes at `off`, through the overlay when there is one.
    fn read_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<()> {
        self.file.read_exact_at(buf, off)?;
        if let Some(ov) = &self.overlay {
            let end = off + buf.len() as u64;
            for (&sector, data) in ov.range(off / SECTOR_SIZE..end.div_ceil(SECTOR_SIZE)) {
                let s = sector * SECTOR_SIZE;
                let (from, to) = (s.max(off), (s + SECTOR_SIZE).min(end));
                buf[(from - off) as usize..(to - off) as usize]
                    .copy_from_slice(&data[(from - s) as usize..(to - s) as usize]);
            }
        }
        Ok(())
    }

    /// Writes image bytes at `off`: to the file, or to the overlay after a
    /// restore (sectors written in part are first filled from below).
    fn write_at(&mut self, buf: &[u8], off: u64) -> std::io::Result<()> {
        if self.overlay.is_none() {
            return self.file.write_all_at(buf, off);
        }
        let end = off + buf.len() as u64;
        for sector in off / SECTOR_SIZE..end.div_ceil(SECTOR_SIZE) {
            let s = sector * SECTOR_SIZE;
            let (from, to) = (s.max(off), (s + SECTOR_SIZE).min(end));
            let have = self.overlay.as_ref().is_some_and(|ov| ov.contains_key(&sector));
            if !have {
                let mut fresh = vec![0u8; SECTOR_SIZE as usize].into_boxed_slice();
                if to - from < SECTOR_SIZE {
                    self.file.read_exact_at(&mut fresh, s)?;
                }
                self.overlay.get_or_insert_with(BTreeMap::new).insert(sector, fresh);
            }
            if let Some(data) = self.overlay.as_mut().and_then(|ov| ov.get_mut(&sector)) {
                data[(from - s) as usize..(to - s) as usize]
                    .copy_from_slice(&buf[(from - off) as usize..(to - off) as usize]);
            }
        }
        Ok(())
    }

    /// CRC-32 of the whole image file (not the overlay): what a snapshot
    /// records so a restore can tell it is given the same disk.
    fn image_crc(&self) -> std::io::Result<u32> {
        let mut h = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0;
        let len = self.capacity * SECTOR_SIZE;
        while off < len {
            let n = (len - off).min(buf.len() as u64) as usize;
            self.file.read_exact_at(&mut buf[..n], off)?;
            h.update(&buf[..n]);
            off += n as u64;
        }
        Ok(h.finalize())
    }

    /// Saves the negotiated features, the capacity, the image's CRC-32 and
    /// the overlay's sectors.
    fn save(&self, device: &str, w: &mut StateWriter) -> Result<(), StateError> {
        let crc = self.image_crc().map_err(|e| StateError::Unsupported {
            device: device.into(),
            reason: format!("cannot read disk image {}: {e}", self.path.display()),
        })?;
        w.u64(self.negotiated);
        w.u64(self.capacity);
        w.u32(crc);
        let ov = self.overlay.as_ref();
        w.u64(ov.map_or(0, |o| o.len() as u64));
        for (&sector, data) in ov.into_iter().flatten() {
            w.u64(sector);
            w.raw(data);
        }
        Ok(())
    }

    /// Restores onto this device's image (the restoring command line's),
    /// which must have the saved size and contents (CRC-32); from now on
    /// the image is only read, and writes stay in memory, so the user's
    /// image is never changed by a restored guest and restoring the same
    /// snapshot again starts from the same disk.
    fn restore(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let negotiated = r.u64("negotiated")?;
        let capacity = r.u64("capacity")?;
        if capacity != self.capacity {
            return Err(r.invalid(
                "capacity",
                format!(
                    "{capacity} sectors, but disk image {} has {}",
                    self.path.display(),
                    self.capacity
                ),
            ));
        }
        let crc = r.u32("image crc")?;
        let n = r.len("overlay", 8 + SECTOR_SIZE as usize)?;
        let mut ov = BTreeMap::new();
        for _ in 0..n {
            let sector = r.u64("overlay sector")?;
            if sector >= capacity {
                return Err(r.invalid("overlay sector", sector));
            }
            let mut data = vec![0u8; SECTOR_SIZE as usize].into_boxed_slice();
            r.raw_into("overlay data", &mut data)?;
            ov.insert(sector, data);
        }
        let have = self.image_crc().map_err(|e| StateError::Unsupported {
            device: r.device().into(),
            reason: format!("cannot read disk image {}: {e}", self.path.display()),
        })?;
        if have != crc {
            return Err(r.invalid(
                "image crc",
                format!(
                    "{crc:#010x} at save time, but disk image {} now has {have:#010x}: it is not the disk the snapshot was taken with, or it changed since",
                    self.path.display()
                ),
            ));
        }
        self.negotiated = negotiated;
        self.overlay = Some(ov);
        Ok(())
    }

    /// Capacity in 512-byte sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether the device is read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The image path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, what: &str, e: &std::io::Error) -> u8 {
        tracing::warn!(image = %self.path.display(), error = %e, "virtio-blk {what} failed");
        blk_status::IOERR
    }

    /// Byte offset of `len` bytes at `sector`, if inside the capacity.
    fn range(&self, sector: u64, len: u64) -> Option<u64> {
        if len % SECTOR_SIZE != 0 {
            return None;
        }
        let end = sector.checked_add(len / SECTOR_SIZE)?;
        if end > self.capacity {
            return None;
        }
        // capacity * 512 is the image size, so this cannot overflow.
        Some(sector * SECTOR_SIZE)
    }

    fn sync(&self) -> u8 {
        if self.overlay.is_some() {
            return blk_status::OK;
        }
        match self.file.sync_data() {
            Ok(()) => blk_status::OK,
            Err(e) => self.io_error("flush", &e),
        }
    }

    /// Serves one request; returns the used length.
    fn handle(&mut self, chain: &DescChain, mem: &mut GuestRam) -> Result<u32, QueueError> {
        let head = chain.head();
        let malformed = |reason: &str| QueueError::Malformed {
            head,
            reason: reason.into(),
        };
        if chain.writable_len() == 0 {
            return Err(malformed("virtio-blk request has no writable status byte"));
        }
        let mut hdr = [0u8; 16];
        if chain.read(mem, 0, &mut hdr)? < hdr.len() {
            return Err(malformed("virtio-blk request header is shorter than 16 bytes"));
        }
        let ty = u32::from_le_bytes(hdr[0..4].try_into().unwrap_or_default());
        let sector = u64::from_le_bytes(hdr[8..16].try_into().unwrap_or_default());
        let status_at = chain.writable_len() - 1;
        let (status, written) = match ty {
            req::IN => self.read_sectors(chain, mem, sector, status_at)?,
            req::OUT => (self.write_sectors(chain, mem, sector)?, 0),
            req::FLUSH => (self.sync(), 0),
            req::GET_ID => {
                let n = chain.write(mem, 0, &self.serial[..(status_at as usize).min(ID_LEN)])?;
                (blk_status::OK, n as u32)
            }
            req::DISCARD | req::WRITE_ZEROES if self.discard => (self.zero_segments(chain, mem, ty)?, 0),
            req::DISCARD | req::WRITE_ZEROES if self.read_only => (blk_status::IOERR, 0),
            _ => (blk_status::UNSUPP, 0),
        };
        chain.write(mem, status_at, &[status])?;
        Ok(written + 1)
    }

    /// IN: file → the writable bytes before the status byte.
    fn read_sectors(
        &mut self,
        chain: &DescChain,
        mem: &mut GuestRam,
        sector: u64,
        len: u32,
    ) -> Result<(u8, u32), QueueError> {
        let Some(mut off) = self.range(sector, u64::from(len)) else {
            return Ok((blk_status::IOERR, 0));
        };
        for (addr, n) in chain.segments(true, 0, len) {
            let buf = mem.slice_mut(addr, n as usize).map_err(|_| QueueError::Malformed {
                head: chain.head(),
                reason: format!("buffer at {addr:#x} vanished"),
            })?;
            if let Err(e) = self.read_at(buf, off) {
                return Ok((self.io_error("read", &e), 0));
            }
            off += u64::from(n);
        }
        Ok((blk_status::OK, len))
    }

    /// OUT: the readable bytes after the header → file.
    fn write_sectors(&mut self, chain: &DescChain, mem: &GuestRam, sector: u64) -> Result<u8, QueueError> {
        if self.read_only {
            return Ok(blk_status::IOERR);
        }
        let len = chain.readable_len() - 16;
        let Some(mut off) = self.range(sector, u64::from(len)) else {
            return Ok(blk_status::IOERR);
        };
        for (addr, n) in chain.segments(false, 16, len) {
            let buf = mem.slice(addr, n as usize).map_err(|_| QueueError::Malformed {
                head: chain.head(),
                reason: format!("buffer at {addr:#x} vanished"),
            })?;
            if let Err(e) = self.write_at(buf, off) {
                return Ok(self.io_error("write", &e));
            }
            off += u64::from(n);
        }
        if self.negotiated & feature::FLUSH == 0 {
            return Ok(self.sync());
        }
        Ok(blk_status::OK)
    }

    /// DISCARD / WRITE_ZEROES: zeroes every segment, after checking them
    /// all.
    fn zero_segments(&mut self, chain: &DescChain, mem: &GuestRam, ty: u32) -> Result<u8, QueueError> {
        let payload = chain.readable_len() - 16;
        if payload == 0 || payload % 16 != 0 || payload / 16 > MAX_DISCARD_SEG {
            return Ok(blk_status::IOERR);
        }
        let mut ranges = Vec::new();
        for k in 0..payload / 16 {
            let mut seg = [0u8; 16];
            chain.read(mem, 16 + 16 * k, &mut seg)?;
            let sector = u64::from_le_bytes(seg[0..8].try_into().unwrap_or_default());
            let count = u32::from_le_bytes(seg[8..12].try_into().unwrap_or_default());
            let flags = u32::from_le_bytes(seg[12..16].try_into().unwrap_or_default());
            // Bit 0 is "unmap": allowed for WRITE_ZEROES only.
            let allowed = if ty == req::WRITE_ZEROES { 1 } else { 0 };
            if flags & !allowed != 0 {
                return Ok(blk_status::UNSUPP);
            }
            if count > MAX_DISCARD_SECTORS {
                return Ok(blk_status::IOERR);
            }
            let Some(off) = self.range(sector, u64::from(count) * SECTOR_SIZE) else {
                return Ok(blk_status::IOERR);
            };
            ranges.push((off, u64::from(count) * SECTOR_SIZE));
        }
        let zeros = vec![0u8; 64 * 1024];
        for (mut off, mut len) in ranges {
            while len > 0 {
                let n = len.min(zeros.len() as u64);
                if let Err(e) = self.write_at(&zeros[..n as usize], off) {
                    return Ok(self.io_error("discard", &e));
                }
                off += n;
                len -= n;
            }
        }
        if self.negotiated & feature::FLUSH == 0 {
            return Ok(self.sync());
        }
        Ok(blk_status::OK)
    }
}

impl VirtioDevice for VirtioBlk {
    fn device_id(&self) -> u32 {
        device_id::BLOCK
    }

    fn device_features(&self) -> u64 {
        let mut f = feature::SEG_MAX | feature::BLK_SIZE | feature::FLUSH;
        if self.read_only {
            f |= feature::RO;
        }
        if self.discard {
            f |= feature::DISCARD | feature::WRITE_ZEROES;
        }
        f
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE]
    }

    fn config_space(&self) -> Vec<u8> {
        let mut c = vec![0u8; CONFIG_LEN];
        c[0..8].copy_from_slice(&self.capacity.to_le_bytes());
        // size_max (8) unused: F_SIZE_MAX not offered.
        c[12..16].copy_from_slice(&u32::from(QUEUE_SIZE - 2).to_le_bytes()); // seg_max
                                                                             // geometry (16..20) unused.
        c[20..24].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes()); // blk_size
                                                                        // topology (24..32) and writeback (32) left 0.
        if self.discard {
            c[36..40].copy_from_slice(&MAX_DISCARD_SECTORS.to_le_bytes());
            c[40..44].copy_from_slice(&MAX_DISCARD_SEG.to_le_bytes());
            c[44..48].copy_from_slice(&1u32.to_le_bytes()); // discard_sector_alignment
            c[48..52].copy_from_slice(&MAX_DISCARD_SECTORS.to_le_bytes());
            c[52..56].copy_from_slice(&MAX_DISCARD_SEG.to_le_bytes());
            // write_zeroes_may_unmap (56) = 0.
        }
        c
    }

    fn activate(&mut self, negotiated: u64) {
        self.negotiated = negotiated;
    }

    fn save_state(&self, name: &str, w: &mut StateWriter) -> Result<(), StateError> {
        self.save(name, w)
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        self.restore(r)
    }

    fn reset(&mut self) {
        self.negotiated = 0;
    }

    fn notify(&mut self, index: usize, queues: &mut [Queue], mem: &mut GuestRam) -> Result<(), QueueError> {
        let Some(q) = queues.get_mut(index) else {
            return Ok(());
        };
        while let Some(chain) = q.pop(mem)? {
            let used = self.handle(&chain, mem)?;
            q.add_used(mem, chain.head(), used)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::testing::*;
    use crate::virtio::{features, status};
    use std::io::Write;

    const HDR: u64 = DATA;
    const STATUS: u64 = DATA + 0x100;
    const BUF: u64 = DATA + 0x1000;

    /// An image of `sectors` sectors where byte i of sector s is s + i.
    fn image(sectors: u64) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut data = Vec::new();
        for s in 0..sectors {
            data.extend((0..SECTOR_SIZE).map(|i| (s + i) as u8));
        }
        f.write_all(&data).unwrap();
        f.flush().unwrap();
        f
    }

    fn config(f: &tempfile::NamedTempFile) -> BlkConfig {
        BlkConfig {
            path: f.path().to_path_buf(),
            ..Default::default()
        }
    }

    fn driver(cfg: &BlkConfig, version: u32, wanted: u64) -> Driver<VirtioBlk> {
        let mut d = Driver::new(VirtioBlk::open(cfg).unwrap(), version);
        d.init(wanted, 16);
        d
    }

    fn header(d: &mut Driver<VirtioBlk>, ty: u32, sector: u64) {
        d.mem.write_u32(HDR, ty).unwrap();
        d.mem.write_u32(HDR + 4, 0).unwrap();
        d.mem.write_u64(HDR + 8, sector).unwrap();
        d.mem.write_u8(STATUS, 0xff).unwrap();
    }

    /// Sends header + `data` buffers + status; returns (status, used len).
    fn request(d: &mut Driver<VirtioBlk>, ty: u32, sector: u64, data: &[(u64, u32, bool)]) -> (u8, u32) {
        header(d, ty, sector);
        let mut chain = vec![(HDR, 16, false)];
        chain.extend_from_slice(data);
        chain.push((STATUS, 1, true));
        let head = d.add_chain(0, &chain);
        d.notify(0);
        let used = d.take_used(0);
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].0, u32::from(head));
        assert!(!d.dev.needs_reset());
        (d.mem.read_u8(STATUS).unwrap(), used[0].1)
    }

    fn file_bytes(f: &tempfile::NamedTempFile) -> Vec<u8> {
        std::fs::read(f.path()).unwrap()
    }

    #[test]
    fn open_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.img");
        let e = VirtioBlk::open(&BlkConfig {
            path: missing.clone(),
            ..Default::default()
        })
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("virtio-blk image {}: cannot access", missing.display())),
            "{msg}"
        );

        let e = VirtioBlk::open(&BlkConfig {
            path: dir.path().to_path_buf(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().ends_with("is a directory, not a disk image"), "{e}");

        let small = dir.path().join("small.img");
        std::fs::write(&small, [0u8; 100]).unwrap();
        let e = VirtioBlk::open(&BlkConfig {
            path: small.clone(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "virtio-blk image {}: is 100 bytes long, smaller than one 512-byte sector",
                small.display()
            )
        );

        let f = image(1);
        let e = VirtioBlk::open(&BlkConfig {
            serial: Some("x".repeat(21)),
            ..config(&f)
        })
        .unwrap_err();
        assert!(matches!(e, VirtioError::SerialTooLong { len: 21, .. }));
    }

    #[test]
    fn unwritable_image_needs_read_only() {
        use std::os::unix::fs::PermissionsExt;
        let f = image(2);
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o444)).unwrap();
        let cfg = config(&f);
        if OpenOptions::new().write(true).open(f.path()).is_ok() {
            // Running as root: permissions do not stop us; nothing to test.
            return;
        }
        let e = VirtioBlk::open(&cfg).unwrap_err();
        assert!(e.to_string().contains("cannot open for reading and writing"), "{e}");
        assert!(e.to_string().contains("read-only option"), "{e}");
        let blk = VirtioBlk::open(&BlkConfig { read_only: true, ..cfg }).unwrap();
        assert_eq!(blk.capacity(), 2);
    }

    #[test]
    fn odd_size_rounds_down() {
        let mut f = image(2);
        f.write_all(&[1u8; 100]).unwrap();
        let blk = VirtioBlk::open(&config(&f)).unwrap();
        assert_eq!(blk.capacity(), 2);
    }

    #[test]
    fn config_space_and_features() {
        let f = image(8);
        let mut d = Driver::new(VirtioBlk::open(&config(&f)).unwrap(), 2);
        assert_eq!(d.read(crate::virtio::transport::reg::DEVICE_ID), 2);
        assert_eq!(d.config(0, 8), 8, "capacity");
        assert_eq!(d.config(0, 4), 8);
        assert_eq!(d.config(4, 4), 0);
        assert_eq!(d.config(12, 4), u64::from(QUEUE_SIZE - 2), "seg_max");
        assert_eq!(d.config(20, 4), 512, "blk_size");
        assert_eq!(d.config(36, 4), 0, "no discard");
        assert_eq!(d.config(0x80, 4), 0, "past the config space");
        let offered = d.offered();
        assert_eq!(
            offered & 0xffff_ffff & !(features::RING_EVENT_IDX | features::RING_INDIRECT_DESC),
            feature::SEG_MAX | feature::BLK_SIZE | feature::FLUSH
        );
        let ro = VirtioBlk::open(&BlkConfig {
            read_only: true,
            discard: true,
            ..config(&f)
        })
        .unwrap();
        assert_eq!(ro.device_features() & (feature::RO | feature::DISCARD), feature::RO);
        let disc = VirtioBlk::open(&BlkConfig {
            discard: true,
            ..config(&f)
        })
        .unwrap();
        assert_ne!(disc.device_features() & feature::WRITE_ZEROES, 0);
        assert_eq!(disc.config_space()[36..40], MAX_DISCARD_SECTORS.to_le_bytes());
    }

    fn read_write_flush(version: u32, wanted: u64) {
        let f = image(8);
        let mut d = driver(&config(&f), version, wanted);
        let before = d.snapshot();
        // Read sectors 1-2 into two buffers (700 + 324 bytes).
        let (st, len) = request(&mut d, req::IN, 1, &[(BUF, 700, true), (BUF + 0x1000, 324, true)]);
        assert_eq!((st, len), (blk_status::OK, 1025));
        let mut got = d.bytes(BUF, 700);
        got.extend(d.bytes(BUF + 0x1000, 324));
        assert_eq!(got, file_bytes(&f)[512..1536]);
        let q = d.queues[0];
        assert_only_changed(
            &before,
            &d.snapshot(),
            &[
                (HDR, 16),
                (STATUS, 1),
                (BUF, 700),
                (BUF + 0x1000, 324),
                (q.desc, 16 * 16),
                (q.avail, 6 + 2 * 16),
                (q.used, 6 + 8 * 16),
            ],
        );
        // Write sector 5 from guest memory.
        d.mem.write_bytes(BUF, &[0x5a; 512]).unwrap();
        let (st, len) = request(&mut d, req::OUT, 5, &[(BUF, 512, false)]);
        assert_eq!((st, len), (blk_status::OK, 1));
        let host = file_bytes(&f);
        assert_eq!(host[5 * 512..6 * 512], [0x5a; 512]);
        assert_eq!(host[4 * 512..5 * 512], image_sector(4));
        assert_eq!(host[6 * 512..7 * 512], image_sector(6));
        // Flush.
        assert_eq!(request(&mut d, req::FLUSH, 0, &[]), (blk_status::OK, 1));
        // Read it back through the device.
        d.mem.write_bytes(BUF, &[0; 512]).unwrap();
        assert_eq!(request(&mut d, req::IN, 5, &[(BUF, 512, true)]).0, blk_status::OK);
        assert_eq!(d.bytes(BUF, 512), [0x5a; 512]);
        // Last sector is reachable.
        assert_eq!(request(&mut d, req::IN, 7, &[(BUF, 512, true)]).0, blk_status::OK);
    }

    fn image_sector(s: u64) -> Vec<u8> {
        (0..SECTOR_SIZE).map(|i| (s + i) as u8).collect()
    }

    #[test]
    fn read_write_flush_modern() {
        read_write_flush(2, 0);
        read_write_flush(
            2,
            feature::FLUSH | features::RING_EVENT_IDX | features::RING_INDIRECT_DESC,
        );
    }

    #[test]
    fn read_write_flush_legacy() {
        read_write_flush(1, 0);
        read_write_flush(1, feature::FLUSH | features::RING_EVENT_IDX);
    }

    #[test]
    fn header_and_data_in_one_buffer() {
        // VERSION_1 / ANY_LAYOUT: the header, data and status may share
        // descriptors.
        let f = image(4);
        let mut d = driver(&config(&f), 2, 0);
        header(&mut d, req::OUT, 3);
        d.mem.write_bytes(HDR + 16, &[0x77; 512]).unwrap();
        d.add_chain(0, &[(HDR, 16 + 512, false), (STATUS, 1, true)]);
        d.notify(0);
        assert_eq!(d.take_used(0), [(0, 1)]);
        assert_eq!(d.mem.read_u8(STATUS).unwrap(), blk_status::OK);
        assert_eq!(file_bytes(&f)[3 * 512..], [0x77; 512]);
        // IN with data and status in one writable buffer.
        header(&mut d, req::IN, 3);
        d.add_chain(0, &[(HDR, 16, false), (BUF, 513, true)]);
        d.notify(0);
        assert_eq!(d.take_used(0), [(2, 513)]);
        assert_eq!(d.bytes(BUF, 512), [0x77; 512]);
        assert_eq!(d.mem.read_u8(BUF + 512).unwrap(), blk_status::OK);
    }

    #[test]
    fn read_only_refuses_writes() {
        let f = image(4);
        let cfg = BlkConfig {
            read_only: true,
            discard: true,
            ..config(&f)
        };
        let mut d = driver(&cfg, 2, 0);
        let original = file_bytes(&f);
        d.mem.write_bytes(BUF, &[0x11; 512]).unwrap();
        assert_eq!(request(&mut d, req::OUT, 0, &[(BUF, 512, false)]).0, blk_status::IOERR);
        assert_eq!(
            request(&mut d, req::WRITE_ZEROES, 0, &[(BUF, 16, false)]).0,
            blk_status::IOERR
        );
        assert_eq!(
            request(&mut d, req::DISCARD, 0, &[(BUF, 16, false)]).0,
            blk_status::IOERR
        );
        assert_eq!(file_bytes(&f), original);
        // Reads still work.
        assert_eq!(request(&mut d, req::IN, 0, &[(BUF, 512, true)]).0, blk_status::OK);
        assert_eq!(d.bytes(BUF, 512), image_sector(0));
    }

    #[test]
    fn out_of_range_and_bad_lengths() {
        let f = image(4);
        let mut d = driver(&config(&f), 2, 0);
        let original = file_bytes(&f);
        let pattern = [0xeeu8; 1024];
        d.mem.write_bytes(BUF, &pattern).unwrap();
        for (sector, len) in [
            (4u64, 512u32),
            (3, 1024),
            (u64::MAX, 512),
            (u64::MAX / 512 + 1, 512),
            (0, 100),
            (0, 513),
        ] {
            assert_eq!(
                request(&mut d, req::IN, sector, &[(BUF, len, true)]).0,
                blk_status::IOERR,
                "IN sector {sector} len {len}"
            );
            assert_eq!(d.bytes(BUF, 1024), pattern, "IN error wrote data");
            assert_eq!(
                request(&mut d, req::OUT, sector, &[(BUF, len, false)]).0,
                blk_status::IOERR,
                "OUT sector {sector} len {len}"
            );
        }
        assert_eq!(file_bytes(&f), original);
        // A zero-length read at the end is fine.
        assert_eq!(request(&mut d, req::IN, 4, &[]).0, blk_status::OK);
    }

    #[test]
    fn get_id() {
        let f = image(1);
        let cfg = BlkConfig {
            serial: Some("preboard-disk0".into()),
            ..config(&f)
        };
        let mut d = driver(&cfg, 2, 0);
        let (st, len) = request(&mut d, req::GET_ID, 0, &[(BUF, 20, true)]);
        assert_eq!((st, len), (blk_status::OK, 21));
        let mut want = b"preboard-disk0".to_vec();
        want.resize(20, 0);
        assert_eq!(d.bytes(BUF, 20), want);
        // A short buffer gets what fits.
        d.mem.write_bytes(BUF, &[0xff; 20]).unwrap();
        assert_eq!(request(&mut d, req::GET_ID, 0, &[(BUF, 8, true)]), (blk_status::OK, 9));
        assert_eq!(d.bytes(BUF, 9), b"preboard\xff");
        // No serial: zeros.
        let mut d = driver(&config(&f), 2, 0);
        d.mem.write_bytes(BUF, &[0xff; 20]).unwrap();
        assert_eq!(request(&mut d, req::GET_ID, 0, &[(BUF, 20, true)]).0, blk_status::OK);
        assert_eq!(d.bytes(BUF, 20), [0; 20]);
    }

    #[test]
    fn unsupported_requests() {
        let f = image(1);
        let mut d = driver(&config(&f), 2, 0);
        assert_eq!(request(&mut d, 99, 0, &[]).0, blk_status::UNSUPP);
        // DISCARD when not offered.
        assert_eq!(
            request(&mut d, req::DISCARD, 0, &[(BUF, 16, false)]).0,
            blk_status::UNSUPP
        );
    }

    fn segment(d: &mut Driver<VirtioBlk>, at: u64, sector: u64, count: u32, flags: u32) {
        d.mem.write_u64(at, sector).unwrap();
        d.mem.write_u32(at + 8, count).unwrap();
        d.mem.write_u32(at + 12, flags).unwrap();
    }

    #[test]
    fn discard_and_write_zeroes() {
        let f = image(8);
        let cfg = BlkConfig {
            discard: true,
            ..config(&f)
        };
        let mut d = driver(&cfg, 2, feature::DISCARD | feature::WRITE_ZEROES);
        segment(&mut d, BUF, 1, 2, 0);
        segment(&mut d, BUF + 16, 6, 1, 0);
        assert_eq!(
            request(&mut d, req::WRITE_ZEROES, 0, &[(BUF, 32, false)]).0,
            blk_status::OK
        );
        let host = file_bytes(&f);
        assert_eq!(host[..512], image_sector(0));
        assert!(host[512..3 * 512].iter().all(|&b| b == 0));
        assert_eq!(host[3 * 512..4 * 512], image_sector(3));
        assert!(host[6 * 512..7 * 512].iter().all(|&b| b == 0));
        assert_eq!(host[7 * 512..], image_sector(7));
        // DISCARD zeroes too; its unmap flag is UNSUPP, WRITE_ZEROES' is fine.
        segment(&mut d, BUF, 4, 1, 0);
        assert_eq!(request(&mut d, req::DISCARD, 0, &[(BUF, 16, false)]).0, blk_status::OK);
        assert!(file_bytes(&f)[4 * 512..5 * 512].iter().all(|&b| b == 0));
        segment(&mut d, BUF, 5, 1, 1);
        assert_eq!(
            request(&mut d, req::DISCARD, 0, &[(BUF, 16, false)]).0,
            blk_status::UNSUPP
        );
        assert_eq!(
            request(&mut d, req::WRITE_ZEROES, 0, &[(BUF, 16, false)]).0,
            blk_status::OK
        );
        // Out of range, and a malformed segment list: nothing written.
        let before = file_bytes(&f);
        segment(&mut d, BUF, 7, 2, 0);
        assert_eq!(
            request(&mut d, req::WRITE_ZEROES, 0, &[(BUF, 16, false)]).0,
            blk_status::IOERR
        );
        assert_eq!(
            request(&mut d, req::WRITE_ZEROES, 0, &[(BUF, 8, false)]).0,
            blk_status::IOERR
        );
        assert_eq!(request(&mut d, req::WRITE_ZEROES, 0, &[]).0, blk_status::IOERR);
        assert_eq!(file_bytes(&f), before);
    }

    #[test]
    fn malformed_requests_break_the_device() {
        let f = image(1);
        // No writable status byte.
        let mut d = driver(&config(&f), 2, 0);
        header(&mut d, req::IN, 0);
        d.add_chain(0, &[(HDR, 16, false)]);
        let before = d.snapshot();
        d.notify(0);
        d.assert_broken(&before);
        assert_eq!(d.dev.interrupt_status() & crate::virtio::interrupt::USED_BUFFER, 0);
        assert_ne!(d.status() & status::DEVICE_NEEDS_RESET, 0);
        // A short header.
        let mut d = driver(&config(&f), 2, 0);
        header(&mut d, req::IN, 0);
        d.add_chain(0, &[(HDR, 8, false), (STATUS, 1, true)]);
        let before = d.snapshot();
        d.notify(0);
        d.assert_broken(&before);
    }

    /// A restored disk sees what the saved one saw, writes to an overlay
    /// (never the image), and refuses an image whose contents differ.
    #[test]
    fn snapshot_restores_onto_an_overlay_and_checks_the_image() {
        use crate::device::Device;
        use crate::snapshot::{StateReader, StateWriter};
        let f = image(8);
        let cfg = config(&f);
        let mut a = driver(&cfg, 2, feature::FLUSH);
        a.mem.write_bytes(BUF, &[0xab; 512]).unwrap();
        assert_eq!(request(&mut a, req::OUT, 2, &[(BUF, 512, false)]).0, blk_status::OK);
        let mut w = StateWriter::new();
        a.dev.save_state(&mut w).unwrap();
        let state = w.into_bytes();
        let image_at_save = file_bytes(&f);

        let mut b = Driver::new(VirtioBlk::open(&cfg).unwrap(), 2);
        b.mem.write_bytes(RAM_BASE, &a.snapshot()).unwrap();
        b.queues = a.queues.clone();
        let mut r = StateReader::new("virtio0", &state);
        b.dev.restore_state(&mut r).unwrap();
        r.finish().unwrap();
        let mut w = StateWriter::new();
        b.dev.save_state(&mut w).unwrap();
        assert_eq!(w.into_bytes(), state, "same state after the round trip");
        // Writes (partial sectors too) land in the overlay and read back.
        b.mem.write_bytes(BUF, &[0xcd; 700]).unwrap();
        b.mem.write_bytes(BUF + 700, &[0xee; 324]).unwrap();
        assert_eq!(
            request(&mut b, req::OUT, 3, &[(BUF, 700, false), (BUF + 700, 324, false)]).0,
            blk_status::OK
        );
        assert_eq!(request(&mut b, req::FLUSH, 0, &[]).0, blk_status::OK);
        assert_eq!(request(&mut b, req::IN, 2, &[(BUF, 1536, true)]).0, blk_status::OK);
        let got = b.bytes(BUF, 1536);
        assert_eq!(&got[..512], &[0xab; 512][..], "sector 2 as saved");
        assert_eq!(&got[512..1212], &[0xcd; 700][..]);
        assert_eq!(&got[1212..], &[0xee; 324][..]);
        assert_eq!(file_bytes(&f), image_at_save, "the image is untouched");
        // The overlay is part of the next snapshot.
        let mut w = StateWriter::new();
        b.dev.save_state(&mut w).unwrap();
        assert!(w.into_bytes().len() > state.len() + 2 * 512);

        // An image that changed since the save is refused by name.
        std::fs::OpenOptions::new()
            .write(true)
            .open(f.path())
            .unwrap()
            .write_all_at(&[1], 0)
            .unwrap();
        let mut c = Driver::new(VirtioBlk::open(&cfg).unwrap(), 2);
        let e = c
            .dev
            .restore_state(&mut StateReader::new("virtio0", &state))
            .unwrap_err();
        assert!(e.to_string().contains(&f.path().display().to_string()), "{e}");
        assert!(e.to_string().contains("image crc"), "{e}");
    }
}
