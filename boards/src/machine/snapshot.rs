//! Machine snapshots: the whole machine in one file, restored by building
//! the same board again and loading every part's state into it.
//!
//! # File format (version 1)
//!
//! ```text
//!  0   "PREBOARDSNAPSHOT"          magic, 16 bytes
//!  16  u32 format version          (1)
//!  20  u32 number of sections
//!  24  u64 table offset, u64 table length
//!  40  u32 CRC-32 of the table
//!  44  u32 CRC-32 of bytes 0..44
//!  48  16 bytes reserved (zero)
//!  64  sections, each at an 8-byte boundary; RAM images at 64 KiB
//!      boundaries, so restore maps them copy-on-write
//!  ..  table: per section a name (u16 length + UTF-8), offset u64,
//!      length u64, CRC-32 u32
//! ```
//!
//! All integers are little-endian. Sections:
//!
//! | name | contents |
//! |---|---|
//! | `identity` | board name, core count, boot EL, GIC version, RAM regions (name, base, size): a snapshot is refused by a machine that differs in any of them |
//! | `machine` | the system counter's value, the semihosting clock, each core's power state, where the image/initrd/DTB went, the DTB |
//! | `cpu/N` | core N: X, V, SP_ELx, PC, PSTATE, every system register by encoding (timers, MMU, FP control ...), exclusive monitor, event register, interrupt lines, instruction count |
//! | `dev/NAME` | a device's own state ([`soc::device::Device::save_state`]) |
//! | `ram/NAME` | a RAM region's image, byte for byte; all-zero 4 KiB pages are holes in the file. Its CRC covers the pages listed in `ramx/NAME` |
//! | `ramx/NAME` | the region's non-zero page runs (first page, count) |
//!
//! Every section's CRC is checked before anything is restored, except the
//! RAM images' unless [`RestoreOptions::verify_ram`] asks: by default RAM
//! is only mapped (copy-on-write) and pages are read from the file when
//! the guest touches them, so a restore costs about a millisecond whatever
//! the RAM size. A RAM image's length is always checked against the file.
//!
//! # What is not in a snapshot
//!
//! Host-side backends: serial/console backends, the user-mode network
//! stack (a restored NIC's open connections are gone), disk and flash
//! image files. A restored machine uses the ones of its own configuration:
//! virtio-blk checks that the image has the contents it had at save time
//! and from then on writes to an in-memory overlay (saved in the next
//! snapshot); flash banks keep their contents in memory. Neither ever
//! writes the user's image after a restore. The JIT's code cache is not
//! saved: a restored machine starts with an empty one.

use super::{Machine, MachineConfig, MachineError, Power};
use crate::loader::{BootLayout, ImageFormat, ImageKind, LoadedImage, Span};
use crate::time::TimeMode;
use cpu_aarch64::saved::CoreState;
use cpu_aarch64::sem::SysRegId;
use cpu_aarch64::state::PState;
use soc::snapshot::{StateError, StateReader, StateWriter};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's first 16 bytes.
pub const MAGIC: &[u8; 16] = b"PREBOARDSNAPSHOT";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: u64 = 64;
/// Alignment of RAM images in the file: a multiple of every host page size
/// (4, 16 or 64 KiB).
const RAM_ALIGN: u64 = 64 * 1024;
/// Granule of the zero-page holes and the page-run lists.
const PAGE: u64 = 4096;

/// Why saving or restoring a snapshot failed. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The host refused to read or write the file.
    #[error("snapshot {}: {what}: {source}", path.display())]
    Io {
        /// The snapshot file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The host's error.
        source: std::io::Error,
    },
    /// The file is not a snapshot this build can read, or it is damaged.
    #[error("snapshot {}: {reason}", path.display())]
    Corrupt {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The snapshot was taken on a different machine.
    #[error("snapshot {}: taken on a machine with {field} {saved}, but this one has {here}", path.display())]
    Mismatch {
        /// The snapshot file.
        path: PathBuf,
        /// What differs.
        field: &'static str,
        /// The snapshot's value.
        saved: String,
        /// This machine's value.
        here: String,
    },
    /// A device's or core's state could not be saved or restored.
    #[error("snapshot {}: {source}", path.display())]
    State {
        /// The snapshot file.
        path: PathBuf,
        /// The part's error.
        source: StateError,
    },
    /// The machine the snapshot is restored into could not be built.
    #[error("snapshot {}: building the machine", path.display())]
    Machine {
        /// The snapshot file.
        path: PathBuf,
        /// Why.
        source: Box<MachineError>,
    },
}

/// How [`Machine::restore_with`] restores.
#[derive(Clone, Copy, Debug, Default)]
pub struct RestoreOptions {
    /// The restored machine's clock ([`Machine::with_time`]). A snapshot
    /// of a deterministic machine restored in deterministic time goes on
    /// exactly where it stopped (the virtual clock is saved).
    pub time: TimeMode,
    /// Check the RAM images' CRCs too, which reads every non-zero page of
    /// RAM from the file now (about 150 ms for 512 MiB of written RAM).
    /// Off (the default), RAM is mapped and read lazily as the guest
    /// touches it (a restore takes about a millisecond whatever the RAM
    /// size), and only the rest of the snapshot is checked.
    pub verify_ram: bool,
}

/// One entry of the section table.
#[derive(Clone, Debug)]
struct Section {
    name: String,
    offset: u64,
    len: u64,
    crc: u32,
}

fn save_core(w: &mut StateWriter, s: &CoreState) {
    for &x in &s.x {
        w.u64(x);
    }
    for &v in &s.v {
        w.u128(v);
    }
    for &sp in &s.sp_el {
        w.u64(sp);
    }
    w.u64(s.pc);
    let p = &s.pstate;
    w.u32(p.nzcv);
    w.u32(p.daif);
    w.u8(p.el);
    for b in [p.sp, p.il, p.ss, p.pan] {
        w.bool(b);
    }
    w.u64(s.sysregs.len() as u64);
    for &(id, v) in &s.sysregs {
        w.u16(id.0);
        w.u64(v);
    }
    w.bool(s.monitor.is_some());
    let (addr, size) = s.monitor.unwrap_or_default();
    w.u64(addr);
    w.u8(size);
    w.bool(s.event);
    w.u32(s.irq_lines);
    w.u64(s.icount);
}

fn restore_core(r: &mut StateReader<'_>) -> Result<CoreState, StateError> {
    let mut x = [0u64; 31];
    for v in &mut x {
        *v = r.u64("X")?;
    }
    let mut v = [0u128; 32];
    for q in &mut v {
        *q = r.u128("V")?;
    }
    let mut sp_el = [0u64; 4];
    for sp in &mut sp_el {
        *sp = r.u64("SP_ELx")?;
    }
    let pc = r.u64("PC")?;
    let nzcv = r.u32("NZCV")?;
    let daif = r.u32("DAIF")?;
    if nzcv & !0xf000_0000 != 0 || daif > 0xf {
        return Err(r.invalid("PSTATE", format!("NZCV {nzcv:#x} DAIF {daif:#x}")));
    }
    let pstate = PState {
        nzcv,
        daif,
        el: r.u8("PSTATE.EL")?,
        sp: r.bool("PSTATE.SP")?,
        il: r.bool("PSTATE.IL")?,
        ss: r.bool("PSTATE.SS")?,
        pan: r.bool("PSTATE.PAN")?,
    };
    let n = r.len("system registers", 10)?;
    let mut sysregs = Vec::with_capacity(n);
    for _ in 0..n {
        sysregs.push((SysRegId(r.u16("system register")?), r.u64("system register")?));
    }
    let armed = r.bool("monitor")?;
    let (addr, size) = (r.u64("monitor")?, r.u8("monitor")?);
    Ok(CoreState {
        x,
        v,
        sp_el,
        pc,
        pstate,
        sysregs,
        monitor: armed.then_some((addr, size)),
        event: r.bool("event")?,
        irq_lines: r.u32("interrupt lines")?,
        icount: r.u64("instruction count")?,
    })
}

fn power_code(p: Power) -> u8 {
    match p {
        Power::Off => 0,
        Power::On => 1,
        Power::Wfi => 2,
        Power::Wfe => 3,
    }
}

fn kind_code(k: ImageKind) -> u8 {
    match k {
        ImageKind::Elf => 0,
        ImageKind::Raw => 1,
        ImageKind::LinuxImage => 2,
    }
}

/// The machine properties a snapshot must agree with.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    board: String,
    cpus: u32,
    boot_el: u8,
    gic: u8,
    ram: Vec<(String, u64, u64)>,
}

impl Identity {
    fn of(m: &Machine, board: &str) -> Identity {
        Identity {
            board: board.to_string(),
            cpus: m.cpus.len() as u32,
            boot_el: m.boot_el,
            gic: if m.cpus.first().is_some_and(|c| c.config.gic_sysregs) {
                3
            } else {
                2
            },
            ram: m
                .bus
                .ram()
                .regions()
                .iter()
                .map(|r| (r.name().to_string(), r.base(), r.size()))
                .collect(),
        }
    }

    fn save(&self, w: &mut StateWriter) {
        w.str(&self.board);
        w.u32(self.cpus);
        w.u8(self.boot_el);
        w.u8(self.gic);
        w.u64(self.ram.len() as u64);
        for (name, base, size) in &self.ram {
            w.str(name);
            w.u64(*base);
            w.u64(*size);
        }
    }

    fn restore(r: &mut StateReader<'_>) -> Result<Identity, StateError> {
        let board = r.string("board")?;
        let cpus = r.u32("cores")?;
        let boot_el = r.u8("boot EL")?;
        let gic = r.u8("GIC version")?;
        let n = r.len("RAM regions", 24)?;
        let mut ram = Vec::with_capacity(n);
        for _ in 0..n {
            ram.push((r.string("RAM region")?, r.u64("RAM base")?, r.u64("RAM size")?));
        }
        Ok(Identity {
            board,
            cpus,
            boot_el,
            gic,
            ram,
        })
    }

    /// The first difference, as (field, saved, here).
    fn difference(&self, here: &Identity) -> Option<(&'static str, String, String)> {
        if self.board != here.board {
            return Some(("board", self.board.clone(), here.board.clone()));
        }
        if self.cpus != here.cpus {
            return Some(("core count", self.cpus.to_string(), here.cpus.to_string()));
        }
        if self.gic != here.gic {
            return Some(("GIC version", self.gic.to_string(), here.gic.to_string()));
        }
        if self.boot_el != here.boot_el {
            return Some(("boot EL", self.boot_el.to_string(), here.boot_el.to_string()));
        }
        if self.ram != here.ram {
            let show = |v: &[(String, u64, u64)]| {
                v.iter()
                    .map(|(n, b, s)| format!("{n} {s:#x} bytes at {b:#x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Some(("RAM", show(&self.ram), show(&here.ram)));
        }
        None
    }
}

/// Writes sections into the snapshot file.
struct Out<'a> {
    file: File,
    path: &'a Path,
    pos: u64,
    table: Vec<Section>,
}

impl Out<'_> {
    fn io(&self, what: &str, source: std::io::Error) -> SnapshotError {
        SnapshotError::Io {
            path: self.path.to_path_buf(),
            what: what.into(),
            source,
        }
    }

    fn align(&mut self, a: u64) {
        self.pos = self.pos.div_ceil(a) * a;
    }

    fn section(&mut self, name: String, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.align(8);
        self.file
            .write_all_at(bytes, self.pos)
            .map_err(|e| self.io("writing", e))?;
        self.table.push(Section {
            name,
            offset: self.pos,
            len: bytes.len() as u64,
            crc: crc32fast::hash(bytes),
        });
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// A RAM image: non-zero pages written, zero pages left as holes.
    fn ram(&mut self, name: &str, data: &[u8]) -> Result<(), SnapshotError> {
        self.align(RAM_ALIGN);
        let start = self.pos;
        let mut crc = crc32fast::Hasher::new();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (i, page) in data.chunks(PAGE as usize).enumerate() {
            if soc::snapshot::all_equal(page, 0) {
                continue;
            }
            let i = i as u64;
            match runs.last_mut() {
                Some((first, n)) if *first + *n == i => *n += 1,
                _ => runs.push((i, 1)),
            }
            crc.update(page);
        }
        // One write per run: few system calls for a densely used RAM.
        for &(first, n) in &runs {
            let from = (first * PAGE) as usize;
            let to = ((first + n) * PAGE).min(data.len() as u64) as usize;
            self.file
                .write_all_at(&data[from..to], start + first * PAGE)
                .map_err(|e| self.io("writing RAM", e))?;
        }
        self.table.push(Section {
            name: format!("ram/{name}"),
            offset: start,
            len: data.len() as u64,
            crc: crc.finalize(),
        });
        self.pos = start + data.len() as u64;
        let mut w = StateWriter::new();
        w.u64(runs.len() as u64);
        for (first, n) in runs {
            w.u64(first);
            w.u64(n);
        }
        self.section(format!("ramx/{name}"), &w.into_bytes())
    }
}

/// A snapshot file opened and checked (all but the RAM images).
struct Snapshot {
    path: PathBuf,
    file: File,
    sections: Vec<(Section, Vec<u8>)>,
    ram: Vec<Section>,
}

impl Snapshot {
    fn corrupt(path: &Path, reason: impl Into<String>) -> SnapshotError {
        SnapshotError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn open(path: &Path) -> Result<Snapshot, SnapshotError> {
        let io = |what: &str, source| SnapshotError::Io {
            path: path.to_path_buf(),
            what: what.into(),
            source,
        };
        let file = File::open(path).map_err(|e| io("opening", e))?;
        let file_len = file.metadata().map_err(|e| io("reading metadata", e))?.len();
        if file_len < HEADER_LEN {
            return Err(Self::corrupt(
                path,
                format!("the file is {file_len} bytes long, shorter than the {HEADER_LEN}-byte header"),
            ));
        }
        let mut h = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut h, 0).map_err(|e| io("reading the header", e))?;
        if &h[..16] != MAGIC {
            return Err(Self::corrupt(path, "not a Preboard snapshot (bad magic)"));
        }
        let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().unwrap_or_default());
        if crc32fast::hash(&h[..44]) != u32_at(44) {
            return Err(Self::corrupt(path, "header checksum mismatch (the file is damaged)"));
        }
        let version = u32_at(16);
        if version != FORMAT_VERSION {
            return Err(Self::corrupt(
                path,
                format!("format version {version}; this build reads version {FORMAT_VERSION}"),
            ));
        }
        let count = u32_at(20);
        let (toff, tlen) = (u64_at(24), u64_at(32));
        if toff.checked_add(tlen).is_none_or(|end| end > file_len) {
            return Err(Self::corrupt(
                path,
                format!(
                    "the section table ({tlen} bytes at {toff:#x}) runs past the end of the file ({file_len} bytes): truncated?"
                ),
            ));
        }
        let mut table = vec![0u8; tlen as usize];
        file.read_exact_at(&mut table, toff)
            .map_err(|e| io("reading the section table", e))?;
        if crc32fast::hash(&table) != u32_at(40) {
            return Err(Self::corrupt(
                path,
                "section table checksum mismatch (the file is damaged)",
            ));
        }
        let mut r = StateReader::new("section table", &table);
        let bad_table = |e: StateError| Self::corrupt(path, e.to_string());
        let mut entries = Vec::new();
        for _ in 0..count {
            let name_len = r.u16("name").map_err(bad_table)?;
            let mut name = vec![0u8; usize::from(name_len)];
            r.raw_into("name", &mut name).map_err(bad_table)?;
            let name = String::from_utf8(name).map_err(|_| Self::corrupt(path, "a section name is not UTF-8"))?;
            let offset = r.u64("offset").map_err(bad_table)?;
            let len = r.u64("length").map_err(bad_table)?;
            let crc = r.u32("checksum").map_err(bad_table)?;
            if offset < HEADER_LEN || offset.checked_add(len).is_none_or(|end| end > toff) {
                return Err(Self::corrupt(
                    path,
                    format!(
                        "section {name} ({len} bytes at {offset:#x}) lies outside the data area (the file is {file_len} bytes): truncated?"
                    ),
                ));
            }
            entries.push(Section { name, offset, len, crc });
        }
        r.finish().map_err(bad_table)?;
        let mut sections = Vec::new();
        let mut ram = Vec::new();
        for s in entries {
            if s.name.starts_with("ram/") {
                ram.push(s);
                continue;
            }
            let mut bytes = vec![0u8; s.len as usize];
            file.read_exact_at(&mut bytes, s.offset)
                .map_err(|e| io(&format!("reading section {}", s.name), e))?;
            if crc32fast::hash(&bytes) != s.crc {
                return Err(Self::corrupt(
                    path,
                    format!("section {} checksum mismatch (the file is damaged)", s.name),
                ));
            }
            sections.push((s, bytes));
        }
        Ok(Snapshot {
            path: path.to_path_buf(),
            file,
            sections,
            ram,
        })
    }

    fn get(&self, name: &str) -> Result<&[u8], SnapshotError> {
        self.sections
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(_, b)| b.as_slice())
            .ok_or_else(|| Self::corrupt(&self.path, format!("section {name} is missing")))
    }

    fn state(&self, e: StateError) -> SnapshotError {
        SnapshotError::State {
            path: self.path.clone(),
            source: e,
        }
    }

    /// Reads the non-zero pages of RAM image `s` (listed in `runs`) and
    /// checks their CRC.
    fn verify_ram(&self, s: &Section, runs: &[(u64, u64)]) -> Result<(), SnapshotError> {
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        for &(first, n) in runs {
            let (mut at, end) = (first * PAGE, ((first + n) * PAGE).min(s.len));
            while at < end {
                let k = (end - at).min(buf.len() as u64) as usize;
                self.file
                    .read_exact_at(&mut buf[..k], s.offset + at)
                    .map_err(|e| SnapshotError::Io {
                        path: self.path.clone(),
                        what: format!("reading {}", s.name),
                        source: e,
                    })?;
                crc.update(&buf[..k]);
                at += k as u64;
            }
        }
        if crc.finalize() != s.crc {
            return Err(Self::corrupt(
                &self.path,
                format!("section {} checksum mismatch (the file is damaged)", s.name),
            ));
        }
        Ok(())
    }
}

fn ram_runs(r: &mut StateReader<'_>, len: u64) -> Result<Vec<(u64, u64)>, StateError> {
    let n = r.len("page runs", 16)?;
    let pages = len.div_ceil(PAGE);
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        let (first, count) = (r.u64("first page")?, r.u64("page count")?);
        if first.checked_add(count).is_none_or(|end| end > pages) {
            return Err(r.invalid("page run", format!("{count} pages from {first}")));
        }
        runs.push((first, count));
    }
    Ok(runs)
}

impl Machine {
    /// Saves the whole machine to `path` (see the module docs for the
    /// format and what is in it). The file is written next to `path` and
    /// renamed into place, so a failed save leaves an older file intact.
    /// Call it between runs (after [`Machine::run`] or
    /// [`Machine::run_until`] returned).
    pub fn snapshot(&self, path: &Path) -> Result<(), SnapshotError> {
        let tmp = {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".partial");
            path.with_file_name(name)
        };
        let file = File::create(&tmp).map_err(|e| SnapshotError::Io {
            path: path.to_path_buf(),
            what: format!("creating {}", tmp.display()),
            source: e,
        })?;
        let result = self.write_snapshot(file, path);
        match result {
            Ok(()) => std::fs::rename(&tmp, path).map_err(|e| SnapshotError::Io {
                path: path.to_path_buf(),
                what: format!("renaming {} into place", tmp.display()),
                source: e,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn write_snapshot(&self, file: File, path: &Path) -> Result<(), SnapshotError> {
        let state_err = |source| SnapshotError::State {
            path: path.to_path_buf(),
            source,
        };
        let mut out = Out {
            file,
            path,
            pos: HEADER_LEN,
            table: Vec::new(),
        };
        let mut w = StateWriter::new();
        Identity::of(self, &self.board_name).save(&mut w);
        out.section("identity".into(), &w.into_bytes())?;

        let mut w = StateWriter::new();
        w.u64(self.time.now());
        w.bool(self.vclock.is_some());
        w.u64(self.vclock.as_ref().map_or(0, |c| c.now_ns()));
        w.u64(self.semihosting.clock_elapsed().as_nanos() as u64);
        for &p in &self.power {
            w.u8(power_code(p));
        }
        let im = &self.image;
        w.u64(im.entry);
        w.u8(kind_code(im.kind));
        w.u64(im.start);
        w.u64(im.end);
        w.bool(im.is_linux);
        let l = &self.layout;
        w.bool(l.initrd.is_some());
        let initrd = l.initrd.unwrap_or(Span::new(0, 0));
        w.u64(initrd.start);
        w.u64(initrd.len);
        w.u64(l.dtb.start);
        w.u64(l.dtb.len);
        w.bytes(&self.dtb);
        out.section("machine".into(), &w.into_bytes())?;

        for (i, c) in self.cpus.iter().enumerate() {
            let mut w = StateWriter::new();
            save_core(&mut w, &c.save_state());
            out.section(format!("cpu/{i}"), &w.into_bytes())?;
        }
        for d in self.bus.devices() {
            let mut w = StateWriter::new();
            d.save_state(&mut w).map_err(state_err)?;
            out.section(format!("dev/{}", d.name()), &w.into_bytes())?;
        }
        for r in self.bus.ram().regions() {
            out.ram(r.name(), r.as_slice())?;
        }

        let mut t = StateWriter::new();
        for s in &out.table {
            t.u16(s.name.len() as u16);
            t.raw(s.name.as_bytes());
            t.u64(s.offset);
            t.u64(s.len);
            t.u32(s.crc);
        }
        let table = t.into_bytes();
        out.align(8);
        let toff = out.pos;
        out.file
            .write_all_at(&table, toff)
            .map_err(|e| out.io("writing the section table", e))?;
        let mut h = [0u8; HEADER_LEN as usize];
        h[..16].copy_from_slice(MAGIC);
        h[16..20].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[20..24].copy_from_slice(&(out.table.len() as u32).to_le_bytes());
        h[24..32].copy_from_slice(&toff.to_le_bytes());
        h[32..40].copy_from_slice(&(table.len() as u64).to_le_bytes());
        h[40..44].copy_from_slice(&crc32fast::hash(&table).to_le_bytes());
        let hcrc = crc32fast::hash(&h[..44]);
        h[44..48].copy_from_slice(&hcrc.to_le_bytes());
        // The table comes last, so the file's length covers the RAM holes.
        out.file
            .write_all_at(&h, 0)
            .map_err(|e| out.io("writing the header", e))?;
        Ok(())
    }

    /// Builds the machine `cfg` describes (its board, devices and host
    /// backends; its kernel, initrd and DTB are not loaded) and restores
    /// the snapshot at `path` into it, checking everything but the RAM
    /// images' checksums ([`RestoreOptions::default`]). The engine is the interpreter until
    /// [`Machine::set_engine`]; a JIT starts with an empty code cache.
    pub fn restore(cfg: MachineConfig, path: &Path) -> Result<Machine, SnapshotError> {
        Machine::restore_with(cfg, path, RestoreOptions::default())
    }

    /// [`Machine::restore`] with options.
    pub fn restore_with(mut cfg: MachineConfig, path: &Path, opts: RestoreOptions) -> Result<Machine, SnapshotError> {
        let snap = Snapshot::open(path)?;
        // The images are in the snapshot's RAM: build the machine around a
        // placeholder (one `b .`) instead of loading the configured ones.
        cfg.kernel = Some(super::InputFile {
            path: path.to_path_buf(),
            bytes: 0x1400_0000u32.to_le_bytes().to_vec(),
        });
        cfg.kernel_format = ImageFormat::Raw {
            load_addr: cfg.board.ram().base,
        };
        cfg.initrd = None;
        cfg.dtb = None;
        let mut m = Machine::with_time(cfg, opts.time).map_err(|e| SnapshotError::Machine {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;

        let saved =
            Identity::restore(&mut StateReader::new("identity", snap.get("identity")?)).map_err(|e| snap.state(e))?;
        let here = Identity::of(&m, &m.board_name);
        if let Some((field, saved, here)) = saved.difference(&here) {
            return Err(SnapshotError::Mismatch {
                path: path.to_path_buf(),
                field,
                saved,
                here,
            });
        }

        // Every section must belong to a part of this machine.
        let names: Vec<String> = m.bus.devices().map(|d| d.name().to_string()).collect();
        for (s, _) in &snap.sections {
            let known = match s.name.split_once('/') {
                None => s.name == "identity" || s.name == "machine",
                Some(("cpu", i)) => i.parse::<usize>().is_ok_and(|i| i < m.cpus.len()),
                Some(("dev", d)) => names.iter().any(|n| n == d),
                Some(("ramx", r)) => here.ram.iter().any(|(n, _, _)| n == r),
                _ => false,
            };
            if !known {
                return Err(Snapshot::corrupt(
                    path,
                    format!("section {} belongs to nothing in this machine", s.name),
                ));
            }
        }

        // Machine-wide state.
        let mut r = StateReader::new("machine", snap.get("machine")?);
        let mr = &mut r;
        let parse = |r: &mut StateReader<'_>, n: usize| -> Result<_, StateError> {
            let count = r.u64("counter")?;
            let has_virtual = r.bool("virtual time")?;
            let ns = r.u64("virtual time")?;
            let virtual_ns = has_virtual.then_some(ns);
            let semi = r.u64("semihosting clock")?;
            let mut power = Vec::with_capacity(n);
            for _ in 0..n {
                power.push(match r.u8("power")? {
                    0 => Power::Off,
                    1 => Power::On,
                    2 => Power::Wfi,
                    3 => Power::Wfe,
                    p => return Err(r.invalid("power", p)),
                });
            }
            let entry = r.u64("image entry")?;
            let kind = match r.u8("image kind")? {
                0 => ImageKind::Elf,
                1 => ImageKind::Raw,
                2 => ImageKind::LinuxImage,
                k => return Err(r.invalid("image kind", k)),
            };
            let image = LoadedImage {
                entry,
                kind,
                start: r.u64("image start")?,
                end: r.u64("image end")?,
                is_linux: r.bool("image is_linux")?,
            };
            let has_initrd = r.bool("initrd")?;
            let initrd = Span::new(r.u64("initrd")?, r.u64("initrd")?);
            let dtb = Span::new(r.u64("dtb")?, r.u64("dtb")?);
            let blob = r.bytes("dtb blob")?;
            Ok((
                (count, virtual_ns),
                semi,
                power,
                image,
                BootLayout {
                    initrd: has_initrd.then_some(initrd),
                    dtb,
                },
                blob,
            ))
        };
        let ((count, virtual_ns), semi, power, image, layout, dtb) =
            parse(mr, m.cpus.len()).map_err(|e| snap.state(e))?;
        r.finish().map_err(|e| snap.state(e))?;

        // Cores: all parsed and checked before any changes.
        let mut cores = Vec::with_capacity(m.cpus.len());
        for i in 0..m.cpus.len() {
            let name = format!("cpu/{i}");
            let mut r = StateReader::new(&name, snap.get(&name)?);
            let core = restore_core(&mut r).map_err(|e| snap.state(e))?;
            r.finish().map_err(|e| snap.state(e))?;
            cores.push(core);
        }

        // RAM: mapped copy-on-write from the file.
        for (index, (name, _, size)) in here.ram.iter().enumerate() {
            let Some(s) = snap.ram.iter().find(|s| s.name == format!("ram/{name}")) else {
                return Err(Snapshot::corrupt(path, format!("section ram/{name} is missing")));
            };
            if s.len != *size || s.offset % RAM_ALIGN != 0 {
                return Err(Snapshot::corrupt(
                    path,
                    format!(
                        "section ram/{name} is {} bytes at {:#x}, not {size:#x} bytes at a 64 KiB boundary",
                        s.len, s.offset
                    ),
                ));
            }
            let xname = format!("ramx/{name}");
            let mut r = StateReader::new(&xname, snap.get(&xname)?);
            let runs = ram_runs(&mut r, s.len).map_err(|e| snap.state(e))?;
            r.finish().map_err(|e| snap.state(e))?;
            if opts.verify_ram {
                snap.verify_ram(s, &runs)?;
            }
            m.bus
                .ram_mut()
                .map_region_from_file(index, &snap.file, s.offset)
                .map_err(|e| Snapshot::corrupt(path, format!("mapping section {}: {e}", s.name)))?;
        }

        // Devices (the interrupt controller drives the cores' lines again).
        for name in &names {
            let sec = format!("dev/{name}");
            let bytes = snap.get(&sec)?;
            let Some(d) = m.bus.device_mut(name) else {
                continue;
            };
            let mut r = StateReader::new(name, bytes);
            d.restore_state(&mut r).map_err(|e| snap.state(e))?;
            r.finish().map_err(|e| snap.state(e))?;
        }

        // The counter goes on from the saved value: virtual time is moved
        // forward to it, a host (or manual) clock gets an offset.
        match &m.vclock {
            Some(c) => c.advance_to(virtual_ns.unwrap_or_else(|| m.time.count_to_ns(count))),
            None => {
                let time = m.time.continuing_from(count);
                m.time = time.clone();
                for c in &mut m.cpus {
                    c.config.time = time.clone();
                    c.sys.time = time.clone();
                }
            }
        }
        for (c, s) in m.cpus.iter_mut().zip(&cores) {
            c.restore_state(s).map_err(|e| SnapshotError::State {
                path: path.to_path_buf(),
                source: StateError::Invalid {
                    device: format!("core {}", c.id),
                    field: "state",
                    value: e.to_string(),
                },
            })?;
        }
        for (i, c) in m.cpus.iter().enumerate() {
            if power[i] != Power::Off {
                c.sys.publish_timers();
            }
        }
        m.power = power;
        m.semihosting.resume_clock(Duration::from_nanos(semi));
        m.image = image;
        m.layout = layout;
        m.dtb = dtb;
        m.dt = None;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::RunOutcome;
    use soc::chardev::{Capture, CharBackend};

    const HELLO: &[u8] = include_bytes!("../../../firmware/prebuilt/hello.elf");

    /// `virt` (resized) running the hello firmware, its UART captured.
    /// RAM is 32 MiB unless `mem` says otherwise: saving scans all of it.
    fn config(mem: Option<u64>, smp: Option<u32>, uart: &Capture) -> MachineConfig {
        let mut board = crate::resolve_board("virt").unwrap();
        board.set_ram_size(mem.unwrap_or(32 << 20)).unwrap();
        if let Some(n) = smp {
            board.set_cpu_count(n).unwrap();
        }
        MachineConfig {
            serial: vec![Box::new(uart.clone()) as Box<dyn CharBackend>],
            ..MachineConfig::headless(board, "hello.elf", HELLO.to_vec())
        }
    }

    fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        (d, p)
    }

    /// The sections whose bytes do not depend on when they were saved.
    fn stable_sections(path: &Path) -> Vec<(String, Vec<u8>)> {
        let s = Snapshot::open(path).unwrap();
        let mut v: Vec<(String, Vec<u8>)> = s
            .sections
            .into_iter()
            .filter(|(s, _)| s.name != "machine")
            .map(|(s, b)| (s.name, b))
            .collect();
        for r in &s.ram {
            let mut b = vec![0u8; r.len as usize];
            s.file.read_exact_at(&mut b, r.offset).unwrap();
            v.push((r.name.clone(), b));
        }
        v
    }

    /// Save part-way, restore into a machine built without the image, and
    /// both the saved state and the rest of the run are the same as the
    /// uninterrupted machine's.
    #[test]
    fn a_restored_machine_continues_like_the_original() {
        let whole = Capture::new();
        let mut m = Machine::new(config(None, None, &whole)).unwrap();
        assert!(matches!(
            m.run(Some(1_000_000)).unwrap(),
            RunOutcome::PoweredOff | RunOutcome::Exited(0)
        ));
        let expected = whole.output();

        let first = Capture::new();
        let mut a = Machine::new(config(None, None, &first)).unwrap();
        assert_eq!(a.run(Some(30_000)).unwrap(), RunOutcome::InstructionLimit);
        let printed = first.output();
        assert!(!printed.is_empty() && printed.len() < expected.len(), "saved mid-way");
        let (_d, path) = tmp("a.snap");
        a.snapshot(&path).unwrap();

        let second = Capture::new();
        let mut cfg = config(None, None, &second);
        cfg.kernel = None; // the snapshot brings the image
        let mut b = Machine::restore(cfg, &path).unwrap();
        assert_eq!(b.instructions(), a.instructions());
        assert_eq!(b.dtb(), a.dtb());
        for (x, y) in a.cpus.iter().zip(&b.cpus) {
            assert_eq!(x.save_state(), y.save_state());
        }
        let (_d2, again) = tmp("b.snap");
        b.snapshot(&again).unwrap();
        assert_eq!(stable_sections(&path), stable_sections(&again));

        assert!(matches!(
            b.run(Some(1_000_000)).unwrap(),
            RunOutcome::PoweredOff | RunOutcome::Exited(0)
        ));
        let mut all = printed;
        all.extend(second.output());
        assert_eq!(String::from_utf8_lossy(&all), String::from_utf8_lossy(&expected));
    }

    /// The counter goes on from the saved value, not from zero.
    #[test]
    fn the_counter_continues_from_the_saved_value() {
        let c = Capture::new();
        let mut a = Machine::new(config(None, None, &c)).unwrap();
        a.run(Some(10_000)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let before = a.time().now();
        let (_d, path) = tmp("t.snap");
        a.snapshot(&path).unwrap();
        let b = Machine::restore(config(None, None, &c), &path).unwrap();
        let after = b.time().now();
        // 20 ms at 62.5 MHz is 1.25 M ticks: a counter restarted at zero
        // could not be past `before`.
        assert!(after >= before, "{after} < {before}");
        assert!(after - before < 62_500_000, "no jump: {after} - {before}");
    }

    /// RAM of the machines whose files the tests damage (small: each
    /// damaged copy is written out in full).
    const SMALL: Option<u64> = Some(4 << 20);

    fn saved() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let c = Capture::new();
        let mut a = Machine::new(config(SMALL, None, &c)).unwrap();
        a.run(Some(30_000)).unwrap();
        let (d, path) = tmp("good.snap");
        a.snapshot(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        (d, path, bytes)
    }

    fn restore_bytes(dir: &Path, bytes: &[u8], opts: RestoreOptions) -> Result<Machine, SnapshotError> {
        let path = dir.join("bad.snap");
        std::fs::write(&path, bytes).unwrap();
        Machine::restore_with(config(SMALL, None, &Capture::new()), &path, opts)
    }

    fn message(r: Result<Machine, SnapshotError>) -> String {
        match r {
            Ok(_) => panic!("a damaged snapshot was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn damaged_files_are_refused_with_the_file_and_the_reason() {
        let (dir, _, good) = saved();
        let snap = Snapshot::open(&dir.path().join("good.snap")).unwrap();
        let bad = dir.path().join("bad.snap").display().to_string();
        let strict = RestoreOptions {
            verify_ram: true,
            ..Default::default()
        };

        // A bit flipped in the header, the table, each metadata section,
        // and in RAM (caught with verify_ram).
        let toff = u64::from_le_bytes(good[24..32].try_into().unwrap()) as usize;
        let mut spots: Vec<(usize, &str)> = vec![
            (3, "bad magic"),
            (17, "header checksum"),
            (toff + 2, "section table checksum"),
        ];
        for (s, _) in &snap.sections {
            spots.push((s.offset as usize + s.len as usize / 2, "checksum mismatch"));
        }
        let ram = &snap.ram[0];
        let xname = ram.name.replacen("ram/", "ramx/", 1);
        let mut r = StateReader::new("ramx", snap.get(&xname).unwrap());
        let runs = ram_runs(&mut r, ram.len).unwrap();
        let (first, _) = runs[0];
        let ram_why = format!("section {} checksum", ram.name);
        spots.push((ram.offset as usize + (first * PAGE) as usize + 5, &ram_why));
        for (at, why) in spots {
            let mut b = good.clone();
            b[at] ^= 0x10;
            let m = message(restore_bytes(dir.path(), &b, strict));
            assert!(m.starts_with(&format!("snapshot {bad}: ")), "{m}");
            assert!(m.contains(why), "byte {at:#x}: {m}");
        }

        // Truncated anywhere.
        for len in [0, 10, 63, 64, 200, toff, toff + 5, good.len() - 1] {
            let m = message(restore_bytes(dir.path(), &good[..len], strict));
            assert!(m.starts_with(&format!("snapshot {bad}: ")), "{len}: {m}");
        }

        // Another format version (with a valid header checksum).
        let mut b = good.clone();
        b[16..20].copy_from_slice(&7u32.to_le_bytes());
        let crc = crc32fast::hash(&b[..44]);
        b[44..48].copy_from_slice(&crc.to_le_bytes());
        let m = message(restore_bytes(dir.path(), &b, strict));
        assert!(m.contains("format version 7; this build reads version 1"), "{m}");

        // Not a snapshot at all.
        let m = message(restore_bytes(dir.path(), &HELLO[..4096], strict));
        assert!(m.contains("not a Preboard snapshot"), "{m}");
        let missing = dir.path().join("missing.snap");
        let e = Machine::restore(config(SMALL, None, &Capture::new()), &missing)
            .err()
            .unwrap();
        assert!(matches!(e, SnapshotError::Io { .. }), "{e}");
        assert!(e.to_string().contains("missing.snap"), "{e}");
    }

    #[test]
    fn a_snapshot_of_another_machine_is_refused() {
        let (_dir, path, _) = saved();
        let e = Machine::restore(config(SMALL, Some(2), &Capture::new()), &path)
            .err()
            .unwrap();
        assert!(
            matches!(
                e,
                SnapshotError::Mismatch {
                    field: "core count",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("core count 1, but this one has 2"), "{e}");
        let e = Machine::restore(config(Some(256 << 20), None, &Capture::new()), &path)
            .err()
            .unwrap();
        assert!(matches!(e, SnapshotError::Mismatch { field: "RAM", .. }), "{e}");
        let mut cfg = config(SMALL, None, &Capture::new());
        cfg.board = crate::resolve_board("soc4").unwrap();
        let e = Machine::restore(cfg, &path).err().unwrap();
        assert!(matches!(e, SnapshotError::Mismatch { field: "board", .. }), "{e}");
    }
}
