//! The JIT engine: code cache, block map, chaining, invalidation, the
//! dispatcher loop and the helpers generated code calls.
//!
//! Blocks are keyed by (virtual PC, physical PC, [`Mode`]), so a block is
//! only reused where it means the same thing. Direct exits are chained by
//! rewriting a data slot the exit jumps through, only between blocks of
//! the same guest page (whose translation cannot differ). Every page that
//! holds translated code is recorded; a guest store to it (through the
//! slow path, since such pages never get a write entry in the fast-path
//! TLB) or a DMA write reported by the bus invalidates its blocks (so IC
//! IVAU/IALLU have nothing left to do). Interrupts are checked by the
//! dispatcher: a block exits after a store that reached a device, after a
//! DAIF write when an interrupt line is asserted, after anything that can
//! change the mode, and when the budget checked at every block entry runs
//! out.

use crate::backend::{exit, x64, Backend, Compiled, Env};
use crate::ir::{Block, Builder, HelperOp, Mode, MMU_INDICES};
use cpu_aarch64::bus::{Bus, BusError, PhysAddr, Requester};
use cpu_aarch64::interp::{StepEvent, StopReason, StuckDetector};
use cpu_aarch64::mmu::tlb::{Change, TlbEntry};
use cpu_aarch64::mmu::MemType;
use cpu_aarch64::sysreg::{sctlr, SysReg};
use cpu_aarch64::Cpu;
use rustc_hash::{FxHashMap, FxHashSet};
use std::mem::offset_of;
use std::ptr::NonNull;

/// Entries per fast-path TLB.
pub const FAST_TLB_ENTRIES: usize = 1024;

/// Tag of an empty fast-path entry: never equal to a masked address (bits
/// 11:3 of those are clear).
const NO_TAG: u64 = u64::MAX;

/// One fast-path TLB entry (layout in [`crate::backend::tlb_entry`]).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct FastEntry {
    read: u64,
    write: u64,
    addend: u64,
    /// Physical page, to drop write entries when a page gets code; bit 0
    /// is `tlb_entry::ZVA_OK`, bit 1 `tlb_entry::UNALIGNED_OK`.
    pa: u64,
}

const EMPTY: FastEntry = FastEntry {
    read: NO_TAG,
    write: NO_TAG,
    addend: 0,
    pa: u64::MAX,
};

/// 128-bit value slots per block.
pub const QSLOTS: usize = 512;

/// Addend guesses per core (`JitCtx::guess`), shared by the memory
/// accesses at guest PCs 16 KiB apart.
pub const GUESS_SLOTS: usize = 4096;

/// Entries in the per-core jump cache. A booting kernel and its user
/// programs jump between thousands of blocks, and every miss is a trip
/// through the dispatcher; flushing costs only the entries filled since the
/// last flush (`Classes::live`).
pub const JUMP_CACHE_ENTRIES: usize = 8192;

/// Words of a bitmap over the jump cache's slots.
const JC_WORDS: usize = JUMP_CACHE_ENTRIES / 64;

/// Slots per 4 KiB page in the jump cache: a page's blocks can only be in
/// the `JC_PAGE_SLOTS` slots from `jc_index(page)`.
const JC_PAGE_SLOTS: usize = 4096 / 4;

/// Fast-path slots per 2 MiB region: an entry filled from a block of up
/// to 2 MiB is in the `REGION_SLOTS` slots of its region.
const REGION_SLOTS: usize = (2 << 20) / 4096;

/// The key of `JitCtx::regions` for MMU index `m` and the 2 MiB region
/// of `va`.
fn region_key(m: usize, va: u64) -> u64 {
    (va >> 21) << 2 | m as u64
}

/// Words of a bitmap over the fast-path entries of every MMU index.
const TLB_WORDS: usize = MMU_INDICES * FAST_TLB_ENTRIES / 64;
/// Words of `JitCtx::write_pages`.
const WRITE_PAGE_WORDS: usize = 64;
/// Instruction words a translation fetches at once.
const FETCH_WINDOW: usize = 16;

/// Instruction words fetched ahead within one page: one bus call for
/// most blocks instead of one per instruction (`Bus::fetch_run`).
struct FetchWindow {
    words: [u32; FETCH_WINDOW],
    /// Physical address of `words[0]`.
    pa: u64,
    len: usize,
}

impl FetchWindow {
    fn new() -> Self {
        FetchWindow {
            words: [0; FETCH_WINDOW],
            pa: 0,
            len: 0,
        }
    }

    /// The word at `pa`, or `None` if it cannot be fetched.
    fn word(&mut self, bus: &mut dyn Bus, cpu: usize, pa: u64) -> Option<u32> {
        let ahead = pa.wrapping_sub(self.pa) / 4;
        if pa >= self.pa && pa % 4 == 0 && ahead < self.len as u64 {
            return Some(self.words[ahead as usize]);
        }
        // Up to the end of the page: the next may not be mapped alike.
        let to_page_end = (0x1000 - (pa & 0xfff)) as usize / 4;
        let want = FETCH_WINDOW.min(to_page_end.max(1));
        self.len = bus.fetch_run(cpu, PhysAddr(pa), &mut self.words[..want]);
        self.pa = pa;
        (self.len > 0).then_some(self.words[0])
    }
}

/// Which slots of a cache of translations (the fast-path TLB over all MMU
/// indices, or the jump cache) are filled, and from what kind of core-TLB
/// entry, as bitmaps: TLB maintenance visits only the slots it may empty.
#[derive(Clone, Copy)]
struct Classes<const W: usize> {
    /// Filled.
    live: [u64; W],
    /// Filled from a block larger than a page, up to 2 MiB: a TLBI by VA
    /// may remove them from the slots of the other pages of that block.
    big: [u64; W],
    /// Filled from a larger block or an unknown translation (the MMU was
    /// off): a TLBI by VA may remove them from any slot.
    huge: [u64; W],
    /// Filled from a non-global or unknown translation: what a TTBR write
    /// removes. Linux writes TTBR0 on every switch to a user process, and
    /// visiting all 4096 fast-path entries each time was ~4% of its boot.
    local: [u64; W],
}

impl<const W: usize> Classes<W> {
    const NONE: Self = Classes {
        live: [0; W],
        big: [0; W],
        huge: [0; W],
        local: [0; W],
    };

    /// Slot `i` is now filled from `meta` (`None`: not known).
    fn set(&mut self, i: usize, meta: Option<&TlbEntry>) {
        self.clear(i);
        let (w, bit) = (i / 64, 1u64 << (i % 64));
        self.live[w] |= bit;
        match meta.map(|t| t.size_bits) {
            Some(0..=12) => {}
            Some(13..=21) => self.big[w] |= bit,
            _ => self.huge[w] |= bit,
        }
        if meta.is_none_or(|t| Change::Context.removes(t)) {
            self.local[w] |= bit;
        }
    }

    /// Slot `i` is empty.
    fn clear(&mut self, i: usize) {
        let (w, bit) = (i / 64, !(1u64 << (i % 64)));
        self.live[w] &= bit;
        self.big[w] &= bit;
        self.huge[w] &= bit;
        self.local[w] &= bit;
    }

    fn is_big(&self, i: usize) -> bool {
        self.big[i / 64] >> (i % 64) & 1 == 1
    }
}

/// Calls `f` with the index of every set bit of `words`, the first word
/// being bit `64 * first`.
fn each_bit(words: &[u64], first: usize, mut f: impl FnMut(usize)) {
    for (w, &word) in words.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            f((first + w) * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
}

/// The most regions `JitCtx::jc_regions` tracks.
const JC_REGIONS: usize = 256;

/// The jump-cache slot of `va`; generated code computes the same (see
/// `Env::ctx_jc`).
fn jc_index(va: u64) -> usize {
    (va >> 2) as usize & (JUMP_CACHE_ENTRIES - 1)
}

/// One jump-cache entry: the block for `(va, mode)`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct JcEntry {
    va: u64,
    /// `Mode::bits` (generated code compares this word).
    mode: u32,
    /// The rest is for the dispatcher, which enters a block it finds
    /// here without probing the block map and the block records (their
    /// cache misses were a third of its time in Linux's boot).
    id: u32,
    entry: u64,
    len: u64,
}

// Generated code reads `va`, `mode` and `entry` at these offsets (see
// `Gen::jump_cache`) and indexes entries by shifting.
const _: () =
    assert!(std::mem::size_of::<JcEntry>() == 32 && offset_of!(JcEntry, mode) == 8 && offset_of!(JcEntry, entry) == 16);

const JC_EMPTY: JcEntry = JcEntry {
    va: u64::MAX,
    mode: u32::MAX,
    id: 0,
    entry: 0,
    len: 0,
};

/// A translated block as the dispatcher enters it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hot {
    id: u32,
    entry: usize,
    /// Guest instructions (the most it can retire).
    len: u64,
}

/// Per-core state generated code works with (offsets in [`Env`]).
#[repr(C)]
pub struct JitCtx {
    budget: i64,
    /// The core's instruction count at which the budget reaches zero.
    /// Generated code never counts instructions in `Cpu::icount` (a
    /// read-modify-write per block whose latency chained every block to
    /// the one before): the count is `limit - budget` at every block
    /// boundary, and the backend makes `Cpu::icount` exact before each
    /// helper it calls. Whatever changes `budget` meanwhile changes
    /// `limit` alike (`request_exit`).
    limit: u64,
    status: u64,
    exit_slot: u64,
    /// Per memory-access instruction, the TLB addend it used last
    /// (`Env::ctx_guess`).
    guess: [u64; GUESS_SLOTS],
    /// The backend's shared routines (`Env::ctx_thunks`).
    thunks: [u64; crate::backend::THUNKS],
    /// `Env::ctx_raw_nzcv`: NZCV >> 28 in the raw form of an add's
    /// flags (entries 0-15) and of a subtraction's (16-31).
    raw_nzcv: [u16; 32],
    args: [u64; 8],
    /// `cpu.sys`'s values while a block runs (FPCR/FPSR tests of the
    /// native FP path, plain MRS/MSR).
    sysregs: *mut u64,
    tlb: [[FastEntry; FAST_TLB_ENTRIES]; MMU_INDICES],
    /// The 128-bit values of the running block.
    qslots: [u128; QSLOTS],
    /// Blocks by virtual address for exits that are not chained
    /// (indirect branches, other pages); valid for the current
    /// translations only: cleared with the fast-path TLB and whenever a
    /// block is dropped (`jc_generation`).
    jump_cache: [JcEntry; JUMP_CACHE_ENTRIES],
    jc_generation: u64,
    // Not touched by generated code:
    /// The jump-cache slots by the translation of their block's fetch.
    jc: Classes<JC_WORDS>,
    /// Per slot, the core-TLB entry its block's fetch went through, so
    /// TLB maintenance drops only the entries whose translation it
    /// removes (Linux's TLBIs by page and address-space switches emptied
    /// the whole cache, about 30 dispatcher trips each).
    jc_meta: Box<[Option<TlbEntry>]>,
    /// The `big` jump-cache slots by 2 MiB region of their address, like
    /// `regions` (bits of slots refilled since may be stale), so a TLBI
    /// by page checks only its own region's: the kernel's text is mapped
    /// with 2 MiB blocks, and scanning all of them for every TLBI cost in
    /// proportion to how full the cache was (111 M host instructions of
    /// Linux's boot in a trial that kept it fuller).
    jc_regions: FxHashMap<u64, [u64; JC_WORDS]>,
    cpu: *mut Cpu,
    bus: Option<NonNull<dyn Bus>>,
    shared: *mut Shared,
    exit_requested: bool,
    stop: Option<StopReason>,
    tlb_epoch: u64,
    /// PSTATE.PAN when the fast-path entries were filled (blocks do not
    /// depend on it; the entries' permissions do).
    tlb_pan: bool,
    /// The core's TLB entry each fast-path entry was filled from (`None`:
    /// not known, e.g. the MMU was off), so TLB maintenance drops only
    /// the fast-path entries it touches (`JitCtx::sync_tlb`).
    meta: [[Option<TlbEntry>; FAST_TLB_ENTRIES]; MMU_INDICES],
    /// The fast-path entries (bits indexed over all MMU indices) by the
    /// translation they were filled from.
    classes: Classes<TLB_WORDS>,
    /// Physical pages that may have a write entry since the last flush, as
    /// a filter (bit `page % 4096`): a page becoming code rarely has one,
    /// and visiting every filled entry for each was 3% of translation.
    write_pages: [u64; WRITE_PAGE_WORDS],
    /// The `big` entries by MMU index and 2 MiB region (`region_key`):
    /// bit `slot % REGION_SLOTS` for each slot filled from a block of that
    /// region (bits of slots refilled since may be stale). A TLBI by VA
    /// checks only its region's: the kernel's linear map fills most of
    /// the fast TLB from 2 MiB blocks, and scanning them all for every
    /// TLBI by page was a tenth of the boot.
    regions: FxHashMap<u64, [u64; REGION_SLOTS / 64]>,
    /// The core and bus the fast-path entries were made for: host
    /// pointers from another bus (a rebuilt machine) must never be used.
    owner: (usize, usize),
}

impl JitCtx {
    // Never inlined: the context is a few hundred KiB built on the stack
    // before it is boxed, and inlined into the run loop it made every
    // `Jit::run` call probe that much stack (~10% of the dispatcher).
    #[inline(never)]
    #[cold]
    fn new() -> Box<Self> {
        Box::new(JitCtx {
            budget: 0,
            limit: 0,
            status: 0,
            exit_slot: 0,
            guess: [0; GUESS_SLOTS],
            thunks: [0; crate::backend::THUNKS],
            raw_nzcv: crate::backend::raw_nzcv_table(),
            args: [0; 8],
            sysregs: std::ptr::null_mut(),
            tlb: [[EMPTY; FAST_TLB_ENTRIES]; MMU_INDICES],
            qslots: [0; QSLOTS],
            jump_cache: [JC_EMPTY; JUMP_CACHE_ENTRIES],
            jc_generation: 0,
            jc: Classes::NONE,
            jc_meta: vec![None; JUMP_CACHE_ENTRIES].into_boxed_slice(),
            jc_regions: FxHashMap::default(),
            cpu: std::ptr::null_mut(),
            bus: None,
            shared: std::ptr::null_mut(),
            exit_requested: false,
            stop: None,
            tlb_epoch: u64::MAX,
            tlb_pan: false,
            meta: [[None; FAST_TLB_ENTRIES]; MMU_INDICES],
            classes: Classes::NONE,
            write_pages: [0; WRITE_PAGE_WORDS],
            regions: FxHashMap::default(),
            owner: (0, 0),
        })
    }

    fn flush_tlb(&mut self) {
        // Only the filled entries (every fill goes through `set_origin`):
        // writing all 4096 was ~1% of Linux's boot, flushed on every
        // PSTATE.PAN change among others.
        let live = std::mem::replace(&mut self.classes, Classes::NONE).live;
        each_bit(&live, 0, |i| {
            self.tlb[i / FAST_TLB_ENTRIES][i % FAST_TLB_ENTRIES] = EMPTY
        });
        self.write_pages = [0; WRITE_PAGE_WORDS];
        self.regions.clear();
        self.flush_jump_cache();
    }

    /// Brings the fast-path TLB and the jump cache up to `tlb`'s epoch:
    /// drops just the entries the journaled changes touch (a jump-cache
    /// entry goes with the translation of its block's address: the block
    /// found by that address may now be another), or everything when the
    /// journal has lost track.
    fn sync_tlb(&mut self, tlb: &cpu_aarch64::mmu::tlb::Tlb) {
        let Some(changes) = tlb.changes_since(self.tlb_epoch) else {
            self.flush_tlb();
            self.tlb_epoch = tlb.epoch;
            return;
        };
        for ch in changes {
            match ch {
                Change::All => {
                    self.flush_tlb();
                    self.tlb_epoch = tlb.epoch;
                    return;
                }
                Change::Op(op) if op.page().is_some() => {
                    // By VA: a 4 KiB entry can only be in the address's
                    // slot, one from a block of up to 2 MiB only in the
                    // slots of that block's pages (`big`), larger or
                    // unknown ones anywhere (`huge`). Linux's TLBIs by
                    // page came to a tenth of the boot when every block
                    // entry was checked for each.
                    let page = op.page().unwrap_or(0);
                    let slot = (page >> 12) as usize & (FAST_TLB_ENTRIES - 1);
                    let first = slot & !(REGION_SLOTS - 1);
                    for m in 0..MMU_INDICES {
                        self.drop_if(m * FAST_TLB_ENTRIES + slot, &ch);
                        let Some(bits) = self.regions.get(&region_key(m, page)).copied() else {
                            continue;
                        };
                        each_bit(&bits, 0, |b| {
                            let i = m * FAST_TLB_ENTRIES + first + b;
                            // Still an entry of this region (the slot may
                            // have been refilled since)?
                            let e = &self.tlb[m][first + b];
                            if self.classes.is_big(i) && (e.read.min(e.write) ^ page) >> 21 == 0 {
                                self.drop_if(i, &ch)
                            }
                        });
                    }
                    let huge = self.classes.huge;
                    each_bit(&huge, 0, |i| self.drop_if(i, &ch));
                    let first = jc_index(page) & !(JC_PAGE_SLOTS - 1);
                    let words = first / 64..(first + JC_PAGE_SLOTS) / 64;
                    let Classes { live, big, huge, .. } = self.jc;
                    each_bit(&live[words.clone()], words.start, |i| self.jc_drop_if(i, &ch));
                    // Blocks of other pages in the same 2 MiB region.
                    if let Some(bits) = self.jc_regions.get(&(page >> 21)).copied() {
                        each_bit(&bits, 0, |i| {
                            if big[i / 64] >> (i % 64) & 1 == 1 && (self.jump_cache[i].va ^ page) >> 21 == 0 {
                                self.jc_drop_if(i, &ch)
                            }
                        });
                    }
                    each_bit(&huge, 0, |i| self.jc_drop_if(i, &ch));
                }
                Change::Context => {
                    let (tlb, jc) = (self.classes.local, self.jc.local);
                    each_bit(&tlb, 0, |i| self.drop_if(i, &ch));
                    each_bit(&jc, 0, |i| self.jc_drop_if(i, &ch));
                }
                Change::Op(_) => {
                    let (tlb, jc) = (self.classes.live, self.jc.live);
                    each_bit(&tlb, 0, |i| self.drop_if(i, &ch));
                    each_bit(&jc, 0, |i| self.jc_drop_if(i, &ch));
                }
            }
        }
        self.tlb_epoch = tlb.epoch;
    }

    /// Empties jump-cache slot `i` if `ch` removes the translation its
    /// block was fetched through.
    fn jc_drop_if(&mut self, i: usize, ch: &Change) {
        if self.jc_meta[i].as_ref().is_none_or(|t| ch.removes(t)) {
            self.jump_cache[i] = JC_EMPTY;
            self.jc_meta[i] = None;
            self.jc.clear(i);
        }
    }

    /// Records that MMU index `m`'s fast-path entry for `vpage` was
    /// filled from the core-TLB entry `meta` (`None`: not known), for
    /// `sync_tlb`: its translation, its size class and, for a block of up
    /// to 2 MiB, its region.
    fn set_origin(&mut self, m: usize, vpage: u64, meta: Option<TlbEntry>) {
        let slot = (vpage >> 12) as usize & (FAST_TLB_ENTRIES - 1);
        let i = m * FAST_TLB_ENTRIES + slot;
        self.meta[m][slot] = meta;
        self.classes.set(i, meta.as_ref());
        if self.classes.is_big(i) {
            let bits = self.regions.entry(region_key(m, vpage)).or_default();
            bits[(slot % REGION_SLOTS) / 64] |= 1 << (slot % 64);
        }
    }

    /// Empties fast-path entry `i` (index over all MMU indices) if `ch`
    /// removes the translation it was filled from.
    fn drop_if(&mut self, i: usize, ch: &Change) {
        let (m, slot) = (i / FAST_TLB_ENTRIES, i % FAST_TLB_ENTRIES);
        let e = &mut self.tlb[m][slot];
        if e.read == NO_TAG && e.write == NO_TAG {
            self.classes.clear(i);
            return;
        }
        if self.meta[m][slot].as_ref().is_none_or(|t| ch.removes(t)) {
            *e = EMPTY;
            self.meta[m][slot] = None;
            self.classes.clear(i);
        }
    }

    fn flush_jump_cache(&mut self) {
        self.jc_regions.clear();
        let live = std::mem::replace(&mut self.jc, Classes::NONE).live;
        each_bit(&live, 0, |i| {
            self.jump_cache[i] = JC_EMPTY;
            self.jc_meta[i] = None;
        });
    }

    /// Empties the cache if blocks were dropped since it was last
    /// emptied.
    fn catch_up(&mut self, shared: &Shared) {
        if self.jc_generation != shared.generation {
            self.flush_jump_cache();
            self.jc_generation = shared.generation;
        }
    }

    /// Caches the block at `entry` for `(va, mode)`, fetched through the
    /// core-TLB entry `meta` (`None`: not known).
    fn remember(&mut self, va: u64, mode: u32, b: Hot, meta: Option<TlbEntry>) {
        let i = jc_index(va);
        self.jc.set(i, meta.as_ref());
        if self.jc.is_big(i) {
            if self.jc_regions.len() >= JC_REGIONS && !self.jc_regions.contains_key(&(va >> 21)) {
                // Stale regions pile up (their bits are only checked):
                // start again.
                self.flush_jump_cache();
                self.jc.set(i, meta.as_ref());
            }
            self.jc_regions.entry(va >> 21).or_insert([0; JC_WORDS])[i / 64] |= 1 << (i % 64);
        }
        self.jc_meta[i] = meta;
        self.jump_cache[i] = JcEntry {
            va,
            mode,
            id: b.id,
            entry: b.entry as u64,
            len: b.len,
        };
    }

    /// The block the jump cache holds for `(va, mode)`: valid under the
    /// current translations, like every entry generated code jumps to.
    fn cached(&self, va: u64, mode: u32) -> Option<Hot> {
        let e = &self.jump_cache[jc_index(va)];
        (e.va == va && e.mode == mode).then_some(Hot {
            id: e.id,
            entry: e.entry as usize,
            len: e.len,
        })
    }

    /// Drops every write entry for physical page `pa_page`.
    fn drop_writes(&mut self, pa_page: u64) {
        if !self.may_write(pa_page) {
            return;
        }
        // Only the filled entries (every fill goes through `set_origin`):
        // all 4096 for each new code page were 4% of translation.
        let live = self.classes.live;
        each_bit(&live, 0, |i| {
            let e = &mut self.tlb[i / FAST_TLB_ENTRIES][i % FAST_TLB_ENTRIES];
            if e.pa & !0xfff == pa_page {
                e.write = NO_TAG;
            }
        });
    }

    /// Bit of physical page `pa_page` (an address) in `write_pages`.
    fn write_page_bit(pa_page: u64) -> (usize, u64) {
        let k = (pa_page >> 12) as usize % (64 * WRITE_PAGE_WORDS);
        (k / 64, 1 << (k % 64))
    }

    /// Whether a write entry for `pa_page` may exist.
    fn may_write(&self, pa_page: u64) -> bool {
        let (w, bit) = Self::write_page_bit(pa_page);
        self.write_pages[w] & bit != 0
    }

    fn request_exit(&mut self) {
        self.exit_requested = true;
        // The count stays `limit - budget` (see `limit`).
        let d = self.budget.wrapping_add(1);
        self.budget = -1;
        self.limit = self.limit.wrapping_sub(d as u64);
    }
}

/// Engine configuration.
#[derive(Clone, Debug)]
pub struct JitConfig {
    /// Size of the code cache in bytes; when full it is flushed whole.
    pub cache_size: usize,
    /// Log every translated block (guest code, IR and host code) to
    /// standard error.
    pub trace_blocks: bool,
    /// Append each translated block to `/tmp/perf-PID.map` (the file
    /// `perf report` reads to name JIT code) as `guest_<va>_el<N>`.
    pub perf_map: bool,
    /// A block is translated on its `hot_threshold + 1`-th entry from the
    /// dispatcher; before that the interpreter runs it. Translating costs
    /// as much as interpreting the same code a hundred-odd times, and most
    /// of a booting kernel's code runs only a few times. 0 translates
    /// every block at once.
    pub hot_threshold: u32,
}

impl Default for JitConfig {
    fn default() -> Self {
        JitConfig {
            cache_size: 128 << 20,
            trace_blocks: false,
            perf_map: false,
            hot_threshold: DEFAULT_HOT_THRESHOLD,
        }
    }
}

/// [`JitConfig::hot_threshold`] by default. On the Debian boot 8, 16 and
/// 32 all cut the blocks translated by 60-75 %; 16 was the fastest over
/// boot and workload together.
pub const DEFAULT_HOT_THRESHOLD: u32 = 16;

/// Counters, for `--stats`, benchmarks and the inspector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Blocks translated.
    pub blocks: u64,
    /// Guest instructions translated (natively or as interpreter calls).
    pub insns: u64,
    /// Instructions translated as interpreter calls.
    pub interp_insns: u64,
    /// Block entries from the dispatcher.
    pub dispatches: u64,
    /// Exit slots patched to jump straight to their target.
    pub chains: u64,
    /// Memory accesses that left the inline fast path.
    pub slow_accesses: u64,
    /// Fast-path TLB fills.
    pub tlb_fills: u64,
    /// Interpreter calls from generated code.
    pub interp_calls: u64,
    /// SIMD&FP helper calls from generated code (operations without an
    /// inline lowering, and inline FP whose shortcut did not apply).
    pub helper_calls: u64,
    /// Blocks invalidated by writes to their code.
    pub invalidated: u64,
    /// Invalidated blocks used again, their code unchanged.
    pub revived: u64,
    /// Whole-cache flushes.
    pub flushes: u64,
    /// Instructions the interpreter ran because their block was not hot
    /// yet ([`JitConfig::hot_threshold`]).
    pub cold_insns: u64,
    /// Host time spent translating (decode, IR, optimisation, code
    /// generation, placing), in nanoseconds.
    pub translate_ns: u64,
    /// Why generated code returned to the dispatcher, indexed by exit
    /// code: an unchained direct exit, a plain exit (after an
    /// instruction that ends its block), the budget or a requested exit,
    /// an exception, a stop, an indirect branch the jump cache missed.
    pub exits: [u64; 6],
}

/// In a [`Shared::map`] value: not a block id but a count of cold entries.
const COLD: u32 = 1 << 31;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    va: u64,
    pa: u64,
    mode: u32,
}

struct BlockRec {
    key: Key,
    entry: usize,
    /// Guest instructions (the most it can retire).
    len: u64,
    /// Their addresses and words (not always consecutive: the block may
    /// follow a branch in its page), to revive the block if its page is
    /// written but they stay the same: entries of [`Shared::words`].
    words: std::ops::Range<usize>,
    /// Its exits: entries of [`Shared::exit_sites`].
    exits: std::ops::Range<usize>,
    /// Slots of other blocks patched to jump here.
    incoming: Vec<(usize, usize)>,
    valid: bool,
}

/// The code cache: one read-write-execute mapping.
struct CodeCache {
    base: NonNull<u8>,
    size: usize,
    used: usize,
    /// End of the trampoline (kept across flushes).
    reserved: usize,
    /// How far the cache has been handed to the [`Prefaulter`].
    populated: usize,
    prefaulter: Option<Prefaulter>,
}

/// Faults the code cache's pages in ahead of use, on another thread.
///
/// The kernel zeroes a page (2 MiB with huge pages) the first time it is
/// written; in the VMs we measure on that ran at about 360 MB/s and was a
/// sixth of all translation time in a Linux boot. Blocks are placed one
/// after another, so the pages needed next are known: this thread has them
/// ready, off the guest's critical path. Started only once a run has
/// placed [`PREFAULT_AFTER`] bytes, so short runs and tests never start it.
struct Prefaulter {
    /// `(address, length)` ranges to populate; dropped to stop the thread.
    tx: Option<std::sync::mpsc::Sender<(usize, usize)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Code placed before the [`Prefaulter`] starts.
const PREFAULT_AFTER: usize = 1 << 20;
/// How far ahead of the last placed block it keeps the cache populated,
/// and in what steps (one huge page).
const PREFAULT_AHEAD: usize = 4 << 20;
const PREFAULT_STEP: usize = 2 << 20;

impl Prefaulter {
    fn start() -> Option<Prefaulter> {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, usize)>();
        let thread = std::thread::Builder::new()
            .name("jit-prefault".into())
            .spawn(move || {
                for (addr, len) in rx {
                    // SAFETY: `addr..addr + len` lies inside the code
                    // cache's mapping, which outlives this thread (its
                    // `Drop` joins it before unmapping). Populating only
                    // makes pages present and writable as a write would,
                    // without writing: bytes the engine is placing
                    // meanwhile are not touched. Failure (a kernel without
                    // the advice) leaves the first write to fault as
                    // before.
                    unsafe {
                        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE);
                    }
                }
            })
            .ok()?;
        Some(Prefaulter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Prefaulter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl CodeCache {
    fn new(size: usize) -> std::io::Result<CodeCache> {
        // SAFETY: an anonymous private mapping with no address hint; the
        // result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // Huge pages if the host has them on request: generated code is
        // spread over tens of MiB, and the host's instruction TLB misses
        // on 4 KiB pages. A hint; failure changes nothing else.
        // SAFETY: advice on the mapping just made, of its size.
        unsafe {
            libc::madvise(p, size, libc::MADV_HUGEPAGE);
        }
        Ok(CodeCache {
            base: NonNull::new(p.cast()).ok_or_else(|| std::io::Error::other("mmap returned null"))?,
            size,
            used: 0,
            reserved: 0,
            populated: 0,
            prefaulter: None,
        })
    }

    /// Asks the [`Prefaulter`] for the pages after `used`, when they are
    /// near.
    fn prefault(&mut self) {
        if self.used < PREFAULT_AFTER || self.populated >= self.size || self.used + PREFAULT_AHEAD <= self.populated {
            return;
        }
        if self.prefaulter.is_none() {
            self.prefaulter = Prefaulter::start();
            // Everything placed so far is present already.
            self.populated = (self.used + PREFAULT_STEP - 1) & !(PREFAULT_STEP - 1);
        }
        let Some(tx) = self.prefaulter.as_ref().and_then(|p| p.tx.as_ref()) else {
            self.populated = self.size;
            return;
        };
        while self.populated < self.size && self.used + PREFAULT_AHEAD > self.populated {
            let len = PREFAULT_STEP.min(self.size - self.populated);
            let _ = tx.send((self.base.as_ptr() as usize + self.populated, len));
            self.populated += len;
        }
    }

    /// Copies `code` in (16-byte aligned); its address, or `None` if full.
    fn place(&mut self, code: &[u8]) -> Option<usize> {
        let start = (self.used + 15) & !15;
        if start + code.len() > self.size {
            return None;
        }
        // SAFETY: `start + code.len() <= size`, inside our mapping, and
        // nothing executes bytes past `used` (fresh space).
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), self.base.as_ptr().add(start), code.len());
        }
        self.used = start + code.len();
        self.prefault();
        Some(self.base.as_ptr() as usize + start)
    }

    fn write_slot(&mut self, slot: usize, value: usize) {
        let base = self.base.as_ptr() as usize;
        assert!(slot >= base && slot + 8 <= base + self.used && slot % 8 == 0);
        // SAFETY: checked above: an aligned 8-byte cell inside placed code
        // (a chaining slot; data, never executed).
        unsafe { (slot as *mut u64).write(value as u64) }
    }
}

impl Drop for CodeCache {
    fn drop(&mut self) {
        // The prefaulter's thread stops before the mapping goes.
        drop(self.prefaulter.take());
        // SAFETY: unmapping exactly the mapping made in `new`; no code
        // runs from it any more (the engine owning it is being dropped).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.size);
        }
    }
}

/// Engine state shared by every core.
struct Shared {
    cache: CodeCache,
    blocks: Vec<BlockRec>,
    /// Per key the id of its block, or with [`COLD`] set how many times
    /// the dispatcher came to it before it had one
    /// ([`JitConfig::hot_threshold`]): one lookup for both, as a booting
    /// kernel reaches most of its code cold (two probes of tables this
    /// size cost 2% of its boot in cache misses). A table of counts by
    /// hash, shared by the keys that collide, made a third more blocks
    /// hot in that boot.
    map: FxHashMap<Key, u32>,
    /// The last block dropped for each key since the last flush: its code
    /// is still in the cache. Most blocks dropped for a store to their page
    /// come back unchanged (Linux patches a few instructions or writes
    /// data next to code; 5000 of the 28000 blocks its boot translated
    /// were such copies).
    dead: FxHashMap<Key, u32>,
    by_page: FxHashMap<u64, Vec<u32>>,
    code_pages: FxHashSet<u64>,
    /// The blocks' guest words ([`BlockRec::words`]) and exits `(slot,
    /// stub, target)` in absolute addresses ([`BlockRec::exits`]), one
    /// table each (a vector per block was two allocations per
    /// translation), emptied with the cache.
    words: Vec<(u64, u32)>,
    exit_sites: Vec<(usize, usize, u64)>,
    stats: Stats,
    /// Helper operations by the index generated code passes (only grows:
    /// there are finitely many).
    ops: Vec<HelperOp>,
    op_index: FxHashMap<HelperOp, u32>,
    /// Bumped whenever blocks are dropped: the cores' jump caches are
    /// cleared before they next dispatch. (Dropping just the dead blocks'
    /// entries saved 1.5% of the dispatcher trips in Linux's boot, and
    /// cost more in TLB maintenance, which then found fuller caches.)
    generation: u64,
}

impl Shared {
    fn invalidate_page(&mut self, page: u64) {
        if !self.code_pages.remove(&page) {
            return;
        }
        for id in self.by_page.remove(&page).unwrap_or_default() {
            self.kill(id);
        }
    }

    fn kill(&mut self, id: u32) {
        let b = &mut self.blocks[id as usize];
        if !b.valid {
            return;
        }
        b.valid = false;
        self.generation += 1;
        let key = b.key;
        let incoming = std::mem::take(&mut b.incoming);
        // Hot once, hot again: translated as soon as it is entered.
        self.map.insert(key, COLD | !COLD);
        self.dead.insert(key, id);
        for (slot, stub) in incoming {
            self.cache.write_slot(slot, stub);
        }
        self.stats.invalidated += 1;
    }

    /// The block whose code holds `addr` (a chaining slot's), if any:
    /// blocks are placed one after another and numbered in that order,
    /// both from the start again after a flush. (A map from slot to block
    /// was 2% of translation.) The caller checks the block does have the
    /// slot.
    fn owner_of(&self, addr: usize) -> Option<u32> {
        let k = self.blocks.partition_point(|b| b.entry <= addr);
        k.checked_sub(1).map(|k| k as u32)
    }

    fn flush(&mut self) {
        self.blocks.clear();
        self.words.clear();
        self.exit_sites.clear();
        self.map.clear();
        self.dead.clear();
        self.by_page.clear();
        self.code_pages.clear();
        self.cache.used = self.cache.reserved;
        self.stats.flushes += 1;
        self.generation += 1;
    }
}

/// A bus wrapper that notices stores to translated code and to devices.
struct Watch<'a> {
    inner: &'a mut dyn Bus,
    code_pages: &'a FxHashSet<u64>,
    smc: Vec<u64>,
    device_write: bool,
    /// Physical address of the only access, if there was exactly one.
    single: Option<PhysAddr>,
    /// Physical address of the last write.
    last_write: Option<PhysAddr>,
    accesses: u32,
}

impl<'a> Watch<'a> {
    fn new(inner: &'a mut dyn Bus, code_pages: &'a FxHashSet<u64>) -> Self {
        Watch {
            inner,
            code_pages,
            smc: Vec::new(),
            device_write: false,
            single: None,
            last_write: None,
            accesses: 0,
        }
    }

    fn note(&mut self, pa: PhysAddr) {
        self.accesses += 1;
        self.single = if self.accesses == 1 { Some(pa) } else { None };
    }
}

impl Bus for Watch<'_> {
    fn read(&mut self, req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
        self.note(pa);
        self.inner.read(req, pa, size)
    }
    fn write(&mut self, req: Requester, pa: PhysAddr, size: u8, value: u64) -> Result<(), BusError> {
        self.note(pa);
        self.last_write = Some(pa);
        let page = pa.0 >> 12;
        if self.code_pages.contains(&page) {
            self.smc.push(page);
        }
        let r = self.inner.write(req, pa, size, value);
        if self.inner.ram_page(PhysAddr(pa.0 & !0xfff)).is_none() {
            self.device_write = true;
        }
        r
    }
    fn fetch(&mut self, cpu: usize, pa: PhysAddr) -> Result<u32, BusError> {
        self.inner.fetch(cpu, pa)
    }
    fn fetch_run(&mut self, cpu: usize, pa: PhysAddr, out: &mut [u32]) -> usize {
        self.inner.fetch_run(cpu, pa, out)
    }
    fn gic_sysreg_read(&mut self, cpu: usize, id: cpu_aarch64::sem::SysRegId, el: u8) -> Option<u64> {
        self.inner.gic_sysreg_read(cpu, id, el)
    }
    fn gic_sysreg_write(&mut self, cpu: usize, id: cpu_aarch64::sem::SysRegId, el: u8, value: u64) -> bool {
        // A GIC write can make an interrupt pending for this core.
        self.device_write = true;
        self.inner.gic_sysreg_write(cpu, id, el, value)
    }
    fn ram_page(&mut self, pa: PhysAddr) -> Option<NonNull<u8>> {
        self.inner.ram_page(pa)
    }
}

/// Everything a helper needs, from its context pointer.
///
/// # Safety
/// `ctx` must be the context the dispatcher passed to the block being
/// run, with `cpu`, `bus` and `shared` set for the duration of the run.
unsafe fn parts<'a>(ctx: *mut JitCtx) -> (&'a mut JitCtx, &'a mut Cpu, &'a mut dyn Bus, &'a mut Shared) {
    // SAFETY: per the function contract these are distinct live objects
    // (the context box, the core, the bus, the engine's shared state)
    // that nothing else touches while generated code runs.
    unsafe {
        let c = &mut *ctx;
        let cpu = &mut *c.cpu;
        let bus = &mut *c.bus.expect("bus set while running").as_ptr();
        let shared = &mut *c.shared;
        (c, cpu, bus, shared)
    }
}

/// After an access through a [`Watch`]: invalidate written code, ask for
/// an exit after device writes or self-modification.
fn after_writes(ctx: &mut JitCtx, shared: &mut Shared, smc: Vec<u64>, device_write: bool) {
    let modified = !smc.is_empty();
    for page in smc {
        shared.invalidate_page(page);
    }
    if modified || device_write {
        ctx.request_exit();
    }
}

/// The physical address to fill a fast-path entry for after a slow
/// access of `size` bytes at `va` succeeded, `single` being the one bus
/// access it made (if it made exactly one): an aligned access's own, or
/// for an unaligned one inside a page (made byte by byte) the address the
/// core's TLB translated it through (none with the MMU off, where data is
/// Device memory and unaligned accesses fault).
fn fill_target(cpu: &Cpu, va: u64, size: u8, single: Option<PhysAddr>) -> Option<PhysAddr> {
    if va & (u64::from(size) - 1) == 0 {
        return single;
    }
    if (va & 0xfff) + u64::from(size) > 0x1000 {
        return None;
    }
    cpu.tlb.peek(va).map(|t| PhysAddr(t.pa_page | (va & 0xfff)))
}

fn fill(ctx: &mut JitCtx, cpu: &Cpu, bus: &mut dyn Bus, va: u64, pa: PhysAddr, write: bool, code: bool) -> bool {
    fill_entry(ctx, cpu, bus, va, pa, write, code, false)
}

/// [`fill`], marking the page as one DC ZVA may zero inline (`zva`).
#[allow(clippy::too_many_arguments)]
fn fill_entry(
    ctx: &mut JitCtx,
    cpu: &Cpu,
    bus: &mut dyn Bus,
    va: u64,
    pa: PhysAddr,
    write: bool,
    code: bool,
    zva: bool,
) -> bool {
    let page = pa.0 & !0xfff;
    let Some(host) = bus.ram_page(PhysAddr(page)) else {
        return false;
    };
    if write && code {
        return false;
    }
    let vpage = va & !0xfff;
    let mode = Mode::mmu_index_at(cpu.pstate.el);
    let slot = (va >> 12) as usize & (FAST_TLB_ENTRIES - 1);
    // The access that led here translated `va` through the core's TLB
    // (when the MMU is on): that entry says which TLBIs remove this one.
    let meta = cpu.tlb.peek(va);
    ctx.set_origin(mode, vpage, meta);
    let e = &mut ctx.tlb[mode][slot];
    if e.read != vpage && e.write != vpage {
        *e = EMPTY;
    }
    e.addend = (host.as_ptr() as u64).wrapping_sub(vpage);
    let ok = if zva && write {
        crate::backend::tlb_entry::ZVA_OK
    } else {
        0
    };
    // Unaligned accesses fault on Device memory (and with the MMU off,
    // where data is Device, `meta` is `None`) or with SCTLR_ELx.A set; a
    // change of either drops the whole fast TLB.
    let normal = meta.is_some_and(|t| MemType::from_attr(t.attr) == MemType::Normal);
    let unaligned = if normal && cpu.sctlr_current() & sctlr::A == 0 {
        crate::backend::tlb_entry::UNALIGNED_OK
    } else {
        0
    };
    e.pa = page | u64::from(ok | unaligned);
    if write {
        e.write = vpage;
        let (w, bit) = JitCtx::write_page_bit(page);
        ctx.write_pages[w] |= bit;
    } else {
        e.read = vpage;
    }
    true
}

extern "sysv64" fn helper_load(ctx: *mut JitCtx) -> u64 {
    // SAFETY: called only by generated code with its context.
    let (ctx, cpu, bus, shared) = unsafe { parts(ctx) };
    let [va, _, pc, info, ..] = ctx.args;
    let (raw, size, acc) = x64::decode_info(info);
    shared.stats.slow_accesses += 1;
    let mut w = Watch::new(bus, &shared.code_pages);
    match cpu.load_for(&mut w, pc, raw, va, size, acc) {
        Ok(v) => {
            ctx.status = 0;
            let single = fill_target(cpu, va, size, w.single);
            if let (Some(pa), false, false) = (single, acc.unprivileged, cpu.debug.watches_page(va)) {
                if fill(ctx, cpu, bus, va, pa, false, false) {
                    shared.stats.tlb_fills += 1;
                }
            }
            v
        }
        Err(r) => {
            debug_stop(ctx, cpu, pc, r);
            ctx.status = 1;
            0
        }
    }
}

extern "sysv64" fn helper_store(ctx: *mut JitCtx) -> u64 {
    // SAFETY: called only by generated code with its context.
    let (ctx, cpu, bus, shared) = unsafe { parts(ctx) };
    let [va, value, pc, info, ..] = ctx.args;
    let (raw, size, acc) = x64::decode_info(info);
    shared.stats.slow_accesses += 1;
    let mut w = Watch::new(bus, &shared.code_pages);
    let r = cpu.store_for(&mut w, pc, raw, va, value, size, acc);
    let (smc, device, single) = (std::mem::take(&mut w.smc), w.device_write, w.single);
    match r {
        Ok(()) => {
            let single = fill_target(cpu, va, size, single);
            if let (Some(pa), false, false) = (single, acc.unprivileged, cpu.debug.watches_page(va)) {
                let code = shared.code_pages.contains(&(pa.0 >> 12));
                if fill(ctx, cpu, bus, va, pa, true, code || !smc.is_empty()) {
                    shared.stats.tlb_fills += 1;
                }
            }
            after_writes(ctx, shared, smc, device);
            0
        }
        Err(r) => {
            debug_stop(ctx, cpu, pc, r);
            after_writes(ctx, shared, smc, device);
            1
        }
    }
}

/// Before a slow path's helper: stores the guest registers its record
/// lists (the state at the instruction's start) into the core.
extern "sysv64" fn helper_sync(ctx: *mut JitCtx, frame: *const u64, record: *const u64) {
    // SAFETY: called only by generated code with its context.
    let (_, cpu, _, _) = unsafe { parts(ctx) };
    // SAFETY: the slow-path thunk passes its stack pointer, below the
    // registers it saved, its return address and the block's stack frame
    // in the trampoline's (`SYNC_FRAME_WORDS` words, all live during this
    // call), and the site's record in the code cache: its head, then as
    // many words as the head's last says.
    let (frame, record) = unsafe {
        let head = std::slice::from_raw_parts(record, x64::RECORD_HEAD);
        let len = x64::RECORD_HEAD + head[x64::RECORD_HEAD - 1] as usize;
        (
            std::slice::from_raw_parts(frame, x64::SYNC_FRAME_WORDS),
            std::slice::from_raw_parts(record, len),
        )
    };
    x64::sync_writes(record, frame, |cell, value| match cell {
        0..=30 => cpu.x[usize::from(cell)] = value,
        31..=34 => cpu.sp_el[usize::from(cell - 31)] = value,
        _ => cpu.pstate.nzcv = value as u32,
    });
}

/// A data access stopped by a watchpoint leaves through the exception
/// exit with the PC at the instruction and the stop noted for the
/// dispatcher.
fn debug_stop(ctx: &mut JitCtx, cpu: &mut Cpu, pc: u64, r: StopReason) {
    if r == StopReason::Debug {
        cpu.pc = pc;
        ctx.stop = Some(r);
    }
}

extern "sysv64" fn helper_check_sp(ctx: *mut JitCtx) -> u64 {
    // SAFETY: called only by generated code with its context.
    let (ctx, cpu, bus, _) = unsafe { parts(ctx) };
    let [sp, _, pc, raw, ..] = ctx.args;
    u64::from(cpu.check_sp_alignment_for(bus, pc, raw as u32, sp).is_err())
}

/// After generated code wrote DAIF: whether an interrupt line (physical
/// or virtual) is asserted, so the block leaves for the dispatcher to
/// take it if it is now unmasked.
extern "sysv64" fn helper_irq(ctx: *mut JitCtx) -> u64 {
    // SAFETY: called only by generated code with its context.
    let (_, cpu, _, _) = unsafe { parts(ctx) };
    u64::from(cpu.interrupt_lines() != 0)
}

extern "sysv64" fn helper_interp(ctx: *mut JitCtx) -> u64 {
    interp_one(ctx, false, false)
}

/// The slow path of an `Inst::Atomic`: the interpreter runs the whole
/// instruction (args: va, -, pc, raw | 1 << 32); when it wrote RAM, the
/// fast-path TLB learns the page for writing, so the next run of the
/// atomic stays native.
extern "sysv64" fn helper_atomic(ctx: *mut JitCtx) -> u64 {
    interp_one(ctx, true, false)
}

/// The slow path of an inline DC ZVA (as [`helper_atomic`]); on success
/// the page is also marked as one generated code may zero.
extern "sysv64" fn helper_zva(ctx: *mut JitCtx) -> u64 {
    interp_one(ctx, true, true)
}

/// One instruction on the interpreter for generated code; `fill_write`:
/// a RAM page it wrote goes into the fast-path TLB for writing (at `va`,
/// arg 0), marked for inline DC ZVA if `zva`.
fn interp_one(ctx: *mut JitCtx, fill_write: bool, zva: bool) -> u64 {
    // SAFETY: called only by generated code (through the helpers above)
    // with its context.
    let (ctx, cpu, bus, shared) = unsafe { parts(ctx) };
    let [va, _, pc, info, ..] = ctx.args;
    let raw = info as u32;
    let ends = info >> 32 & 1 == 1;
    shared.stats.interp_calls += 1;
    cpu.pc = pc;
    let mut w = Watch::new(bus, &shared.code_pages);
    let r = cpu.exec_fetched(&mut w, pc, raw);
    let (smc, device, written) = (std::mem::take(&mut w.smc), w.device_write, w.last_write);
    after_writes(ctx, shared, smc, device);
    if let (Ok(()), true, Some(pa), false) = (&r, fill_write, written, device) {
        if !cpu.debug.watches_page(va) {
            let code = shared.code_pages.contains(&(pa.0 >> 12));
            if fill_entry(ctx, cpu, bus, va, pa, true, code, zva) {
                shared.stats.tlb_fills += 1;
            }
        }
    }
    let code = match r {
        Ok(()) if !ends && cpu.pc == pc.wrapping_add(4) => 0,
        Ok(()) => exit::PLAIN,
        Err(StopReason::Exception) => exit::EXCEPTION,
        Err(other) => {
            ctx.stop = Some(other);
            exit::STOP
        }
    };
    u64::from(code)
}

extern "sysv64" fn helper_qcall(ctx: *mut JitCtx) -> u64 {
    // SAFETY: called only by generated code with its context.
    let (ctx, cpu, _, shared) = unsafe { parts(ctx) };
    shared.stats.helper_calls += 1;
    let a = ctx.args;
    let slot = |p: u64| -> usize {
        // Operand pointers are slots of this context (placed by the
        // backend); turn them back into indices, checked.
        let base = ctx.qslots.as_ptr() as u64;
        let i = (p.wrapping_sub(base) / 16) as usize;
        assert!(p >= base && i < QSLOTS, "128-bit operand outside the slots");
        i
    };
    // An operand or the result may also be a V register of this core,
    // read or written in place.
    let (vregs, nv) = (cpu.v.as_ptr() as u64, cpu.v.len());
    let vreg = |p: u64| -> Option<usize> {
        let j = (p.wrapping_sub(vregs) / 16) as usize;
        (p >= vregs && j < nv && p % 16 == vregs % 16).then_some(j)
    };
    let q = |k: usize| match vreg(a[k]) {
        Some(j) => cpu.v[j],
        None => ctx.qslots[slot(a[k])],
    };
    // args[0] = op index | operand count << 32.
    let r = match shared.ops.get(a[0] as u32 as usize) {
        Some(HelperOp::Q(op)) => cpu_aarch64::simd::eval_q(*op, q(1), q(2)),
        Some(HelperOp::Crypto(op)) => cpu_aarch64::crypto::eval(*op, q(1), q(2), q(3)),
        Some(HelperOp::Table(n)) => {
            // One to four table registers (TBL/TBX); no allocation per call.
            let n = usize::from(*n).min(4);
            let mut table = [0u128; 4];
            for (k, t) in table.iter_mut().enumerate().take(n) {
                *t = q(k + 1);
            }
            cpu_aarch64::interp::eval_q_table(&table[..n], q(n + 1), q(n + 2))
        }
        Some(HelperOp::FpLanes(op, size, lanes)) => {
            // The definition (Emitter::fp_lanes's default) lane by lane;
            // operands 1..=3 as many as the operation reads.
            let esize = u32::from(size.bytes());
            let bits = 8 * esize;
            let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            let n = ((a[0] >> 32) as usize).clamp(1, 3);
            let ops = [q(1), if n > 1 { q(2) } else { 0 }, if n > 2 { q(3) } else { 0 }];
            let mut r = 0u128;
            for i in 0..u32::from(*lanes).min(16 / esize) {
                let lane = |v: u128| (v >> (bits * i)) as u64 & mask;
                let xs = [lane(ops[0]), lane(ops[1]), lane(ops[2])];
                let v = cpu.eval_fp(*op, *size, &xs[..n]) & mask;
                r |= u128::from(v) << (bits * i);
            }
            r
        }
        other => panic!("not a 128-bit helper operation: {other:?}"),
    };
    match vreg(a[7]) {
        Some(j) => cpu.v[j] = r,
        None => ctx.qslots[slot(a[7])] = r,
    }
    0
}

extern "sysv64" fn helper_call(ctx: *mut JitCtx) -> u64 {
    // SAFETY: called only by generated code with its context.
    let (ctx, cpu, _, shared) = unsafe { parts(ctx) };
    shared.stats.helper_calls += 1;
    let a = ctx.args;
    // args[0] = op index | operand count << 32.
    let n = ((a[0] >> 32) as usize).min(3);
    match shared.ops.get(a[0] as u32 as usize) {
        Some(HelperOp::Fp(op, size)) => cpu.eval_fp(*op, *size, &a[1..=n]),
        Some(HelperOp::Sat(op)) => cpu.eval_sat(*op, a[1], a[2]),
        other => panic!("not a scalar helper operation: {other:?}"),
    }
}

extern "sysv64" fn helper_check_align(ctx: *mut JitCtx) -> u64 {
    // SAFETY: called only by generated code with its context.
    let (ctx, cpu, bus, _) = unsafe { parts(ctx) };
    let [addr, _, pc, info, ..] = ctx.args;
    match cpu.check_alignment_for(bus, pc, info as u32, addr, (info >> 32) as u8, info >> 40 & 1 == 1) {
        Ok(()) => 0,
        Err(r) => {
            // The check goes through the data-access path: a watchpoint
            // can stop the access here.
            debug_stop(ctx, cpu, pc, r);
            1
        }
    }
}

extern "sysv64" fn helper_pure(a: u64, b: u64, op: u64) -> u64 {
    crate::backend::pure_op(a, b, op)
}

/// The JIT engine for all cores of one machine.
pub struct Jit {
    backend: Box<dyn Backend>,
    env: Env,
    config: JitConfig,
    shared: Box<Shared>,
    ctxs: Vec<Box<JitCtx>>,
    trampoline: usize,
    /// Where the backend's thunks were placed (`JitCtx::thunks`).
    thunks: [u64; crate::backend::THUNKS],
    /// `JitConfig::perf_map`'s file.
    perf_map: Option<std::io::BufWriter<std::fs::File>>,
    /// The IR builder, its storage kept from one translation to the next.
    builder: Builder,
    /// The last block's code, its storage kept likewise.
    compiled: Compiled,
}

// SAFETY: the raw pointers inside (contexts, code cache) point into
// allocations the `Jit` owns, or are only set while `run` executes on the
// calling thread; moving the engine to another thread moves them all.
unsafe impl Send for Jit {}

/// Why the JIT could not be created.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// This host has no backend.
    #[error("no JIT backend for this host architecture")]
    NoBackend,
    /// The code cache could not be mapped.
    #[error("cannot map the {size}-byte code cache: {source}")]
    Cache {
        /// Requested size.
        size: usize,
        /// The OS error.
        source: std::io::Error,
    },
}

type Trampoline = unsafe extern "sysv64" fn(*mut JitCtx, *mut Cpu, usize) -> u32;

/// The code environment with the real state offsets and placeholder
/// helper addresses, so listings do not change from run to run.
pub(crate) fn listing_env() -> Env {
    let mut env = real_env();
    env.helper_load = 0x1000;
    env.helper_store = 0x2000;
    env.helper_check_sp = 0x3000;
    env.helper_interp = 0x4000;
    env.helper_atomic = 0x9000;
    env.helper_zva = 0xa000;
    env.helper_pure = 0x5000;
    env.helper_qcall = 0x6000;
    env.helper_call = 0x7000;
    env.helper_check_align = 0x8000;
    env.helper_irq = 0xb000;
    // Listings do not depend on the host's features.
    env.host_fma = true;
    env.host_sse41 = true;
    env.host_f16c = true;
    env
}

/// Whether the host can run FMA3 instructions (x86-64 only; other hosts
/// have no x86 backend anyway).
fn host_has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

fn host_has_sse41() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("sse4.1");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

fn host_has_f16c() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("f16c");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

fn real_env() -> Env {
    Env {
        cpu_x: offset_of!(Cpu, x) as i32,
        cpu_sp_el: offset_of!(Cpu, sp_el) as i32,
        cpu_pc: offset_of!(Cpu, pc) as i32,
        cpu_nzcv: (offset_of!(Cpu, pstate) + offset_of!(cpu_aarch64::state::PState, nzcv)) as i32,
        cpu_daif: (offset_of!(Cpu, pstate) + offset_of!(cpu_aarch64::state::PState, daif)) as i32,
        cpu_icount: offset_of!(Cpu, icount) as i32,
        ctx_budget: offset_of!(JitCtx, budget) as i32,
        ctx_limit: offset_of!(JitCtx, limit) as i32,
        ctx_status: offset_of!(JitCtx, status) as i32,
        ctx_exit_slot: offset_of!(JitCtx, exit_slot) as i32,
        ctx_guess: offset_of!(JitCtx, guess) as i32,
        guess_slots: GUESS_SLOTS,
        ctx_thunks: offset_of!(JitCtx, thunks) as i32,
        ctx_raw_nzcv: offset_of!(JitCtx, raw_nzcv) as i32,
        ctx_args: offset_of!(JitCtx, args) as i32,
        ctx_tlb: offset_of!(JitCtx, tlb) as i32,
        tlb_entries: FAST_TLB_ENTRIES,
        ctx_jc: offset_of!(JitCtx, jump_cache) as i32,
        jc_entries: JUMP_CACHE_ENTRIES,
        cpu_v: offset_of!(Cpu, v) as i32,
        ctx_qslots: offset_of!(JitCtx, qslots) as i32,
        qslots: QSLOTS,
        helper_qcall: helper_qcall as *const () as usize,
        helper_call: helper_call as *const () as usize,
        helper_check_align: helper_check_align as *const () as usize,
        helper_irq: helper_irq as *const () as usize,
        helper_load: helper_load as *const () as usize,
        helper_store: helper_store as *const () as usize,
        helper_sync: helper_sync as *const () as usize,
        helper_check_sp: helper_check_sp as *const () as usize,
        helper_interp: helper_interp as *const () as usize,
        helper_atomic: helper_atomic as *const () as usize,
        helper_zva: helper_zva as *const () as usize,
        helper_pure: helper_pure as *const () as usize,
        ctx_sysregs: offset_of!(JitCtx, sysregs) as i32,
        sysreg_fpsr: 8 * SysReg::FPSR as i32,
        sysreg_fpcr: 8 * SysReg::FPCR as i32,
        host_fma: host_has_fma(),
        host_sse41: host_has_sse41(),
        host_f16c: host_has_f16c(),
    }
}

impl Jit {
    /// An engine with the host's backend.
    pub fn new(config: JitConfig) -> Result<Jit, JitError> {
        let backend = crate::backend::host_backend().ok_or(JitError::NoBackend)?;
        let mut cache = CodeCache::new(config.cache_size).map_err(|source| JitError::Cache {
            size: config.cache_size,
            source,
        })?;
        let env = real_env();
        let too_small = || JitError::Cache {
            size: config.cache_size,
            source: std::io::Error::other("too small for the trampoline and thunks"),
        };
        let tramp = backend.trampoline(&env);
        let trampoline = cache.place(&tramp).ok_or_else(too_small)?;
        let mut thunks = [0u64; crate::backend::THUNKS];
        for (i, code) in backend.thunks(&env).iter().enumerate() {
            thunks[i] = cache.place(code).ok_or_else(too_small)? as u64;
        }
        cache.reserved = cache.used;
        let perf_map = if config.perf_map {
            let path = format!("/tmp/perf-{}.map", std::process::id());
            match std::fs::OpenOptions::new().create(true).append(true).open(&path) {
                // Buffered: a write per block skewed the profiles it is for
                // by about 6%; flushed at the end of every run slice.
                Ok(f) => Some(std::io::BufWriter::new(f)),
                Err(e) => {
                    tracing::warn!("cannot write {path}: {e}; JIT code stays unnamed in profiles");
                    None
                }
            }
        } else {
            None
        };
        Ok(Jit {
            perf_map,
            backend,
            env,
            config,
            shared: Box::new(Shared {
                cache,
                blocks: Vec::new(),
                map: FxHashMap::default(),
                dead: FxHashMap::default(),
                by_page: FxHashMap::default(),
                code_pages: FxHashSet::default(),
                // A booting kernel's worth, so they rarely grow (a copy).
                words: Vec::with_capacity(1 << 17),
                exit_sites: Vec::with_capacity(1 << 16),
                stats: Stats::default(),
                ops: Vec::new(),
                op_index: FxHashMap::default(),
                generation: 0,
            }),
            ctxs: Vec::new(),
            trampoline,
            thunks,
            builder: Builder::new(0, Mode::default()),
            compiled: Compiled::default(),
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats
    }

    /// Drops every translation of code in physical page `pa >> 12` (DMA
    /// into guest RAM, IC IVAU).
    pub fn invalidate_phys(&mut self, pa: u64) {
        self.shared.invalidate_page(pa >> 12);
    }

    /// Drops every translation and every cached host pointer (IC IALLU,
    /// a reset).
    pub fn flush(&mut self) {
        self.shared.flush();
        for c in self.ctxs.iter_mut() {
            c.flush_tlb();
        }
    }

    /// Drops translations of code the bus reports as written behind the
    /// CPUs' backs (device DMA, semihosting).
    fn sync_external_writes(&mut self, bus: &mut dyn Bus) {
        let shared = &mut self.shared;
        let mut all = false;
        bus.drain_external_writes(&mut |p| match p {
            Some(page) => shared.invalidate_page(page),
            None => all = true,
        });
        if all {
            shared.flush();
        }
    }

    fn ctx(&mut self, core: usize) -> *mut JitCtx {
        while self.ctxs.len() <= core {
            let mut ctx = JitCtx::new();
            ctx.thunks = self.thunks;
            self.ctxs.push(ctx);
        }
        &mut *self.ctxs[core]
    }

    /// Translates and places the block at `va`/`pa`, or `None` when it
    /// cannot be (its first instruction cannot be fetched, or the backend
    /// refused it): the caller runs one instruction on the interpreter.
    /// [`Jit::translate`], counting its host time in the statistics.
    // Out of line, so profiles (callgrind's `--toggle-collect`) can
    // single out translation by this frame.
    #[inline(never)]
    fn translate_timed(&mut self, cpu: &mut Cpu, bus: &mut dyn Bus, key: Key, mode: Mode) -> Option<u32> {
        let t = std::time::Instant::now();
        let r = self.translate(cpu, bus, key, mode);
        self.shared.stats.translate_ns += t.elapsed().as_nanos() as u64;
        r
    }

    fn translate(&mut self, cpu: &mut Cpu, bus: &mut dyn Bus, key: Key, mode: Mode) -> Option<u32> {
        if let Some(id) = self.shared.dead.remove(&key) {
            if self.unchanged(cpu, bus, id) {
                self.shared.stats.revived += 1;
                self.shared.blocks[id as usize].valid = true;
                self.register(id);
                return Some(id);
            }
        }
        let b = &mut self.builder;
        b.restart(key.va, mode);
        let mut window = FetchWindow::new();
        while !b.finished() {
            // A breakpoint is checked at block entry only: a block ends
            // before one (it starts the next block).
            let va = b.next_pc();
            if !b.is_empty() && cpu.debug.is_breakpoint(va) {
                break;
            }
            // In the block's page (`Builder::branch` follows no further).
            let pa = key.pa.wrapping_add(va.wrapping_sub(key.va));
            match window.word(bus, cpu.id, pa) {
                Some(w) => b.add(w),
                None => break,
            }
        }
        if b.is_empty() {
            return None;
        }
        b.complete();
        let block = self.builder.block();
        let shared = &mut *self.shared;
        let mut intern = |op: HelperOp| {
            *shared.op_index.entry(op).or_insert_with(|| {
                shared.ops.push(op);
                shared.ops.len() as u32 - 1
            })
        };
        match self.backend.compile(block, &self.env, &mut intern, &mut self.compiled) {
            Ok(()) => {}
            Err(e) => {
                tracing::debug!("block at {:#x} not compiled: {e}", key.va);
                return None;
            }
        };
        let compiled = &self.compiled;
        let entry = match self.shared.cache.place(&compiled.code) {
            Some(a) => a,
            None => {
                self.shared.flush();
                self.shared.cache.place(&compiled.code)?
            }
        };
        if self.config.trace_blocks {
            self.trace(block, compiled, entry);
        }
        if let Some(f) = &mut self.perf_map {
            use std::io::Write;
            // Best effort: a profiling aid must not stop the guest.
            let _ = writeln!(
                f,
                "{entry:x} {:x} guest_{:x}_el{}",
                compiled.code.len(),
                key.va,
                mode.el
            );
        }
        let id = self.shared.blocks.len() as u32;
        let shared = &mut *self.shared;
        let exits = shared.exit_sites.len()..shared.exit_sites.len() + compiled.exits.len();
        for e in &compiled.exits {
            let (slot, stub) = (entry + e.slot, entry + e.stub);
            shared.exit_sites.push((slot, stub, e.target));
            shared.cache.write_slot(slot, stub);
        }
        debug_assert!(
            self.shared.blocks.last().is_none_or(|b| b.entry < entry),
            "blocks are numbered in the order of their code (see `Shared::owner_of`)"
        );
        let st = &mut self.shared.stats;
        st.blocks += 1;
        st.insns += block.insns.len() as u64;
        st.interp_insns += block
            .code
            .iter()
            .filter(|i| matches!(i, crate::ir::Inst::Interp { .. }))
            .count() as u64;
        self.shared.blocks.push(BlockRec {
            key,
            entry,
            len: block.insns.len() as u64,
            words: {
                let start = self.shared.words.len();
                self.shared.words.extend_from_slice(&block.insns);
                start..self.shared.words.len()
            },
            exits,
            incoming: Vec::new(),
            valid: true,
        });
        self.register(id);
        Some(id)
    }

    /// Makes valid block `id` the one found for its key and watches its
    /// page for stores.
    fn register(&mut self, id: u32) {
        let key = self.shared.blocks[id as usize].key;
        self.shared.map.insert(key, id);
        let page = key.pa >> 12;
        self.shared.by_page.entry(page).or_default().push(id);
        if self.shared.code_pages.insert(page) {
            for c in self.ctxs.iter_mut() {
                c.drop_writes(page << 12);
            }
        }
    }

    /// Whether dropped block `id` is still what translating its key now
    /// would give: the same words in memory and no breakpoint inside it
    /// (a block ends before one). The code depends on nothing else: the
    /// key holds the mode.
    fn unchanged(&self, cpu: &Cpu, bus: &mut dyn Bus, id: u32) -> bool {
        let b = &self.shared.blocks[id as usize];
        let mut window = FetchWindow::new();
        self.shared.words[b.words.clone()]
            .iter()
            .enumerate()
            .all(|(i, &(va, w))| {
                let pa = b.key.pa.wrapping_add(va.wrapping_sub(b.key.va));
                (i == 0 || !cpu.debug.is_breakpoint(va)) && window.word(bus, cpu.id, pa) == Some(w)
            })
    }

    fn trace(&self, block: &Block, compiled: &Compiled, entry: usize) {
        eprintln!(
            "{}{}",
            block.dump(),
            self.backend.disassemble(&compiled.code, compiled.text, entry as u64)
        );
    }

    /// Runs core `core` (`cpu`) for up to `budget` instructions, like
    /// [`Cpu::run`]: returns the number retired and why it stopped.
    pub fn run(&mut self, core: usize, cpu: &mut Cpu, bus: &mut dyn Bus, budget: u64) -> (u64, StepEvent) {
        let r = self.run_slice(core, cpu, bus, budget);
        if let Some(f) = &mut self.perf_map {
            use std::io::Write;
            // Best effort, like the writes.
            let _ = f.flush();
        }
        r
    }

    fn run_slice(&mut self, core: usize, cpu: &mut Cpu, bus: &mut dyn Bus, budget: u64) -> (u64, StepEvent) {
        let start = cpu.icount;
        let ctx = self.ctx(core);
        self.sync_external_writes(bus);
        let mut stuck = StuckDetector::default();
        // A chaining request: (slot, target pc) from the last exit.
        let mut pending_chain: Option<(usize, u64)> = None;
        loop {
            let done = cpu.icount - start;
            if done >= budget {
                return (done, StepEvent::Budget);
            }
            // SAFETY: `ctx` points into `self.ctxs`, which outlives this
            // call; no other reference to it is live here.
            let c = unsafe { &mut *ctx };
            let owner = (cpu as *const Cpu as usize, bus as *const dyn Bus as *const () as usize);
            if c.owner != owner {
                c.flush_tlb();
                c.owner = owner;
            }
            if c.tlb_epoch != cpu.tlb.epoch {
                c.sync_tlb(&cpu.tlb);
            }
            c.catch_up(&self.shared);
            let pa = match cpu.boundary(bus) {
                Ok(pa) => pa,
                Err(_) => {
                    pending_chain = None;
                    if let Some(e) = stuck.exception_taken(cpu).map(StepEvent::Fatal) {
                        return (cpu.icount - start, e);
                    }
                    continue;
                }
            };
            if cpu.debug_break_here() {
                return (cpu.icount - start, StepEvent::Debug);
            }
            if c.tlb_pan != cpu.pstate.pan {
                // After `boundary` (an interrupt taken there may set PAN).
                // Rare: Linux keeps PAN on once it has turned it on, and
                // every instruction that changes PAN ends its block.
                c.flush_tlb();
                c.tlb_pan = cpu.pstate.pan;
            }
            let mode = Mode::of(cpu);
            let key = Key {
                va: cpu.pc,
                pa: pa.0,
                mode: mode.bits(),
            };
            // The jump cache first: most blocks entered from here ran
            // recently (after a budget exit, or after cold code).
            let (hot, found) = match c.cached(key.va, key.mode) {
                Some(h) => (h, true),
                None => {
                    let v = self.shared.map.entry(key).or_insert(COLD);
                    let id = match *v {
                        id if id & COLD == 0 => id,
                        n if n & !COLD < self.config.hot_threshold.min(!COLD) => {
                            *v += 1;
                            pending_chain = None;
                            let left = budget - (cpu.icount - start);
                            if let Some(e) = self.interp_cold(cpu, bus, &mut stuck, left, pa) {
                                return (cpu.icount - start, e);
                            }
                            continue;
                        }
                        _ => match self.translate_timed(cpu, bus, key, mode) {
                            Some(id) => id,
                            None => {
                                // Let the interpreter run (or fault on) this one.
                                pending_chain = None;
                                if let Some(e) = self.step_interp(cpu, bus, &mut stuck) {
                                    return (cpu.icount - start, e);
                                }
                                continue;
                            }
                        },
                    };
                    let b = &self.shared.blocks[id as usize];
                    let hot = Hot {
                        id,
                        entry: b.entry,
                        len: b.len,
                    };
                    (hot, false)
                }
            };
            debug_assert!({
                let b = &self.shared.blocks[hot.id as usize];
                b.valid && b.key == key && b.entry == hot.entry
            });
            // A block at a breakpoint is only entered from here (never
            // chained to or found in the jump cache by generated code), so
            // the check above sees every entry.
            let at_breakpoint = cpu.debug.is_breakpoint(key.va);
            if let Some((slot, target)) = pending_chain.take() {
                if !at_breakpoint {
                    self.chain(slot, target, hot.id);
                }
            }
            if budget - (cpu.icount - start) < hot.len {
                // Fewer instructions left than the block may retire: the
                // interpreter runs the rest exactly (block entries check
                // the same condition, so chained blocks never overshoot).
                if let Some(e) = self.step_interp(cpu, bus, &mut stuck) {
                    return (cpu.icount - start, e);
                }
                continue;
            }
            let entry = hot.entry;
            self.shared.stats.dispatches += 1;
            let c = unsafe_ctx(ctx);
            // Translating this block may have dropped others.
            c.catch_up(&self.shared);
            if !at_breakpoint && !found {
                // `boundary` translated the PC through the core's TLB (when
                // the MMU is on): that entry says which TLB maintenance
                // drops this one.
                c.remember(key.va, key.mode, hot, cpu.tlb.peek(key.va));
            }
            c.budget = (budget - (cpu.icount - start)) as i64;
            c.limit = cpu.icount.wrapping_add(c.budget as u64);
            c.cpu = cpu;
            c.sysregs = cpu.sys.as_mut_ptr();
            // SAFETY: erasing the borrow's lifetime for the duration of
            // this call only; the pointer is cleared right after.
            c.bus = Some(unsafe { erase(bus) });
            c.shared = &mut *self.shared;
            c.stop = None;
            c.exit_requested = false;
            // SAFETY: `trampoline` is the code placed by `Jit::new` with
            // the signature of `Trampoline`; `entry` is a placed block.
            // The context, core and bus pointers are valid for the call,
            // and generated code only touches guest RAM through
            // fast-path entries the bus handed out for pages it owns.
            let code = unsafe {
                let f: Trampoline = std::mem::transmute::<usize, Trampoline>(self.trampoline);
                f(ctx, cpu, entry)
            };
            let c = unsafe_ctx(ctx);
            cpu.icount = c.limit.wrapping_sub(c.budget as u64);
            c.bus = None;
            c.cpu = std::ptr::null_mut();
            c.sysregs = std::ptr::null_mut();
            if c.exit_requested {
                // A device was written: it may have written guest memory.
                self.sync_external_writes(bus);
            }
            let c = unsafe_ctx(ctx);
            if let Some(n) = self.shared.stats.exits.get_mut(code as usize) {
                *n += 1;
            }
            match code {
                // `chain` checks the slot can go to the block found next
                // (only when there is one: most of these exits go to code
                // that is not hot yet).
                exit::CHAIN => pending_chain = Some((c.exit_slot as usize, cpu.pc)),
                exit::PLAIN | exit::BUDGET => {}
                exit::INDIRECT => cpu.pc = cpu.branch_target(cpu.pc),
                exit::EXCEPTION => {
                    if c.stop.take() == Some(StopReason::Debug) {
                        return (cpu.icount - start, StepEvent::Debug);
                    }
                    if let Some(e) = stuck.exception_taken(cpu).map(StepEvent::Fatal) {
                        return (cpu.icount - start, e);
                    }
                }
                exit::STOP => {
                    let r = c.stop.take().unwrap_or(StopReason::Exception);
                    return (cpu.icount - start, stop_event(r));
                }
                other => {
                    return (
                        cpu.icount - start,
                        StepEvent::Fatal(format!("JIT block returned unknown exit code {other}")),
                    )
                }
            }
        }
    }

    /// Exactly one instruction (or one exception entry) of core `cpu` on
    /// the interpreter, keeping this engine's translations coherent with
    /// what it writes: a debugger's single step.
    pub fn step(&mut self, cpu: &mut Cpu, bus: &mut dyn Bus) -> Result<(), StopReason> {
        self.sync_external_writes(bus);
        let mut w = Watch::new(bus, &self.shared.code_pages);
        let r = cpu.step(&mut w);
        let smc = std::mem::take(&mut w.smc);
        for page in smc {
            self.shared.invalidate_page(page);
        }
        self.sync_external_writes(bus);
        r
    }

    /// Runs code that is not hot yet on the interpreter, up to the end of
    /// its basic block (a taken branch or an exception) and at most `left`
    /// instructions, then back to the dispatcher. The caller has done the
    /// first instruction's [`Cpu::boundary`]: it is at `first`.
    fn interp_cold(
        &mut self,
        cpu: &mut Cpu,
        bus: &mut dyn Bus,
        stuck: &mut StuckDetector,
        left: u64,
        first: PhysAddr,
    ) -> Option<StepEvent> {
        let mut w = Watch::new(bus, &self.shared.code_pages);
        let mut ev = None;
        let mut pa = first;
        let n = left.min(crate::ir::MAX_BLOCK_INSNS as u64);
        for i in 1..=n {
            let (pc, el, epoch) = (cpu.pc, cpu.pstate.el, cpu.tlb.epoch);
            let mut r = cpu.step_at(&mut w, pa);
            if r.is_ok() {
                self.shared.stats.cold_insns += 1;
                if i == n || cpu.pc != pc.wrapping_add(4) || !w.smc.is_empty() {
                    break;
                }
                // Straight on in the same page with the same translations:
                // the next word's address is known.
                r = if cpu.pc & 0xfff != 0 && cpu.pstate.el == el && cpu.tlb.epoch == epoch {
                    cpu.boundary_next(pa)
                } else {
                    cpu.boundary(&mut w)
                }
                .map(|next| pa = next);
            }
            match r {
                Ok(()) => {}
                Err(StopReason::Exception) => {
                    ev = stuck.exception_taken(cpu).map(StepEvent::Fatal);
                    break;
                }
                Err(r) => {
                    ev = Some(stop_event(r));
                    break;
                }
            }
        }
        let smc = std::mem::take(&mut w.smc);
        for page in smc {
            self.shared.invalidate_page(page);
        }
        self.sync_external_writes(bus);
        ev
    }

    /// One instruction on the interpreter (watched like generated code's
    /// stores); `Some` when the run must stop.
    fn step_interp(&mut self, cpu: &mut Cpu, bus: &mut dyn Bus, stuck: &mut StuckDetector) -> Option<StepEvent> {
        let mut w = Watch::new(bus, &self.shared.code_pages);
        let r = cpu.step(&mut w);
        let smc = std::mem::take(&mut w.smc);
        for page in smc {
            self.shared.invalidate_page(page);
        }
        self.sync_external_writes(bus);
        match r {
            Ok(()) => None,
            Err(StopReason::Exception) => stuck.exception_taken(cpu).map(StepEvent::Fatal),
            Err(r) => Some(stop_event(r)),
        }
    }

    /// Patches `slot` to enter block `id` directly, if the slot's block
    /// is still valid and `id` is at `target`.
    fn chain(&mut self, slot: usize, target: u64, id: u32) {
        let Some(src) = self.shared.owner_of(slot) else {
            return;
        };
        let (src_ok, dst_entry) = {
            let s = &self.shared.blocks[src as usize];
            let d = &self.shared.blocks[id as usize];
            (
                s.valid && d.valid && d.key.va == target && s.key.mode == d.key.mode && s.key.va >> 12 == target >> 12,
                d.entry,
            )
        };
        if !src_ok {
            return;
        }
        let stub = self.shared.exit_sites[self.shared.blocks[src as usize].exits.clone()]
            .iter()
            .find(|e| e.0 == slot && e.2 == target)
            .map(|e| e.1);
        if let Some(stub) = stub {
            self.shared.cache.write_slot(slot, dst_entry);
            self.shared.blocks[id as usize].incoming.push((slot, stub));
            self.shared.stats.chains += 1;
        }
    }
}

fn stop_event(r: StopReason) -> StepEvent {
    match r {
        StopReason::Semihosting => StepEvent::Semihosting,
        StopReason::WaitForInterrupt => StepEvent::WaitForInterrupt,
        StopReason::WaitForEvent => StepEvent::WaitForEvent,
        StopReason::FirmwareCall => StepEvent::FirmwareCall,
        StopReason::Debug => StepEvent::Debug,
        StopReason::Exception => StepEvent::Fatal("exception reported as a stop".into()),
    }
}

fn unsafe_ctx<'a>(ctx: *mut JitCtx) -> &'a mut JitCtx {
    // SAFETY: `ctx` is one of the engine's boxed contexts, alive as long
    // as the engine; the dispatcher holds no other reference to it.
    unsafe { &mut *ctx }
}

/// Erases the lifetime of a bus borrow so the context can hold it while a
/// block runs.
///
/// # Safety
/// The caller must clear the pointer before the borrow ends.
unsafe fn erase(bus: &mut dyn Bus) -> NonNull<dyn Bus> {
    let p: NonNull<dyn Bus + '_> = NonNull::from(bus);
    // SAFETY: only the lifetime bound changes; see the function contract.
    unsafe { std::mem::transmute::<NonNull<dyn Bus + '_>, NonNull<dyn Bus + 'static>>(p) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpu_aarch64::mmu::tlb::{ctx, Tlb, Tlbi};
    use cpu_aarch64::mmu::RegimeKind;

    #[test]
    fn the_prefaulter_keeps_ahead_of_placed_code_and_leaves_it_intact() {
        let size = 12 << 20;
        let mut cache = CodeCache::new(size).unwrap();
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 + 3) as u8).collect();
        let mut placed = Vec::new();
        while cache.used + chunk.len() <= size {
            placed.push(cache.place(&chunk).unwrap());
            if cache.used < PREFAULT_AFTER {
                assert!(cache.prefaulter.is_none(), "started before {PREFAULT_AFTER} bytes");
            } else {
                assert!(cache.prefaulter.is_some());
                assert!(
                    cache.populated >= (cache.used + PREFAULT_AHEAD).min(size),
                    "fell behind"
                );
            }
        }
        assert!(cache.place(&chunk).is_none(), "full");
        for &a in &placed {
            // SAFETY: `a` is a placed chunk of `chunk.len()` bytes in the
            // live mapping.
            let got = unsafe { std::slice::from_raw_parts(a as *const u8, chunk.len()) };
            assert!(got == chunk.as_slice(), "code at {a:#x} changed");
        }
        // Dropping joins the thread before unmapping.
        drop(cache);
    }

    /// A core-TLB entry for `va` in ASID 5 (or global), of a page or block
    /// of `1 << size_bits` bytes.
    fn entry(va: u64, global: bool, size_bits: u8) -> TlbEntry {
        let tag = ctx::tag(RegimeKind::El10, 0, 5);
        TlbEntry {
            va_page: va & !0xfff,
            ctx: if global { ctx::global(tag) } else { tag },
            pa_page: 0x4000_0000,
            perms: 0,
            attr: 0xff,
            sh: 3,
            level: 3,
            size_bits,
            ns: true,
        }
    }

    /// Fills the EL1 fast entry of `va` from `meta` as `fill_entry` does.
    fn fill(c: &mut JitCtx, va: u64, meta: Option<TlbEntry>) {
        let slot = (va >> 12) as usize & (FAST_TLB_ENTRIES - 1);
        c.tlb[1][slot] = FastEntry {
            read: va & !0xfff,
            ..EMPTY
        };
        c.set_origin(1, va & !0xfff, meta);
    }

    fn present(c: &JitCtx, va: u64) -> bool {
        c.tlb[1][(va >> 12) as usize & (FAST_TLB_ENTRIES - 1)].read == va & !0xfff
    }

    /// A flush leaves no fast-path entry filled, under any MMU index.
    #[test]
    fn a_flush_empties_every_filled_entry() {
        let mut c = JitCtx::new();
        for (k, va) in [0x1000u64, 0x20_5000, 0x7fff_f000, 0xffff_0000_0040_0000]
            .into_iter()
            .enumerate()
        {
            fill(&mut c, va, Some(entry(va, k % 2 == 0, 12)));
            // The same page under EL0's MMU index too.
            let slot = (va >> 12) as usize & (FAST_TLB_ENTRIES - 1);
            c.set_origin(0, va, None);
            c.tlb[0][slot] = FastEntry { write: va, ..EMPTY };
        }
        c.flush_tlb();
        for (m, t) in c.tlb.iter().enumerate() {
            for (slot, e) in t.iter().enumerate() {
                assert!(
                    e.read == NO_TAG && e.write == NO_TAG,
                    "index {m} slot {slot} still filled"
                );
            }
        }
    }

    /// TLB maintenance drops exactly the fast-path entries whose
    /// translations it removes: by VA (including a block's entries in
    /// other slots, and entries of unknown origin), on a new ASID only the
    /// non-global ones, and everything when the journal overflowed.
    #[test]
    fn tlb_maintenance_drops_only_what_it_removes() {
        let mut c = JitCtx::new();
        let mut tlb = Tlb::default();
        c.tlb_epoch = tlb.epoch;
        let (a, g, blk, unknown) = (0x1000, 0x2000, 0x20_5000, 0x9000);
        fill(&mut c, a, Some(entry(a, false, 12)));
        fill(&mut c, g, Some(entry(g, true, 12)));
        fill(&mut c, blk, Some(entry(blk, false, 21)));
        fill(&mut c, unknown, None);

        // Another page: only the entry of unknown origin goes.
        tlb.invalidate(&vae1(0x7000));
        c.sync_tlb(&tlb);
        assert_eq!([a, g, blk, unknown].map(|v| present(&c, v)), [true, true, true, false]);
        // An address inside the 2 MiB block, in another slot: the block's entry goes.
        tlb.invalidate(&vae1(0x3f_f000));
        c.sync_tlb(&tlb);
        assert_eq!([a, g, blk].map(|v| present(&c, v)), [true, true, false]);
        // A new ASID: the global entry stays; the one of unknown origin goes.
        fill(&mut c, blk, Some(entry(blk, false, 21)));
        fill(&mut c, unknown, None);
        tlb.regime_written(cpu_aarch64::sysreg::SysReg::TTBR0_EL1);
        c.sync_tlb(&tlb);
        assert_eq!(
            [a, g, blk, unknown].map(|v| present(&c, v)),
            [false, true, false, false]
        );
        // By ASID: that ASID's non-global entries, wherever they are.
        fill(&mut c, a, Some(entry(a, false, 12)));
        fill(&mut c, blk, Some(entry(blk, false, 21)));
        let asid = |asid| Tlbi::AsidE1 {
            is: false,
            asid,
            vmid: 0,
        };
        tlb.invalidate(&asid(6));
        c.sync_tlb(&tlb);
        assert_eq!([a, g, blk].map(|v| present(&c, v)), [true, true, true]);
        tlb.invalidate(&asid(5));
        c.sync_tlb(&tlb);
        assert_eq!([a, g, blk].map(|v| present(&c, v)), [false, true, false]);
        // The page itself.
        tlb.invalidate(&vae1(g));
        c.sync_tlb(&tlb);
        assert!(!present(&c, g));
        // More changes than the journal holds: everything goes.
        fill(&mut c, g, Some(entry(g, true, 12)));
        for _ in 0..=cpu_aarch64::mmu::tlb::JOURNAL {
            tlb.invalidate(&vae1(0x7000));
        }
        c.sync_tlb(&tlb);
        assert!(!present(&c, g));
        assert_eq!(c.tlb_epoch, tlb.epoch);
        // A write to TCR (or SCTLR, MAIR...) drops everything too.
        fill(&mut c, g, Some(entry(g, true, 12)));
        tlb.regime_written(cpu_aarch64::sysreg::SysReg::TCR_EL1);
        c.sync_tlb(&tlb);
        assert!(!present(&c, g));
    }

    /// TLBI VAE1 of `va` in ASID 5 (the entries' context).
    fn vae1(va: u64) -> Tlbi {
        Tlbi::VaE1 {
            is: false,
            last: false,
            va,
            asid: 5,
            vmid: 0,
        }
    }

    fn cached(c: &JitCtx, va: u64) -> bool {
        c.cached(va, 1).is_some()
    }

    fn hot(entry: usize) -> Hot {
        Hot {
            id: entry as u32 >> 8,
            entry,
            len: 1,
        }
    }

    /// The jump cache follows the same rule by the translation each
    /// block was fetched through: a TLBI by VA drops the blocks of that
    /// page and of a larger block containing it, a new ASID the
    /// non-global ones, a TCR write everything; others stay.
    #[test]
    fn tlb_maintenance_drops_only_the_jump_cache_entries_it_removes() {
        let mut c = JitCtx::new();
        let mut tlb = Tlb::default();
        c.tlb_epoch = tlb.epoch;
        // Two blocks in a non-global page, one in a global page, one in
        // a 2 MiB block (another page of it and another slot), one in a
        // 1 GiB block and one fetched with the MMU off.
        let (a1, a2, g, blk, gib, unknown) = (0x1040, 0x1ff0, 0x2000, 0x20_5008, 0x4012_3450, 0x9000);
        let all = [a1, a2, g, blk, gib, unknown];
        let fill_all = |c: &mut JitCtx| {
            c.remember(a1, 1, hot(0x100), Some(entry(a1 & !0xfff, false, 12)));
            c.remember(a2, 1, hot(0x200), Some(entry(a2 & !0xfff, false, 12)));
            c.remember(g, 1, hot(0x300), Some(entry(g, true, 12)));
            c.remember(blk, 1, hot(0x400), Some(entry(blk & !0xfff, false, 21)));
            c.remember(gib, 1, hot(0x500), Some(entry(gib & !0xfff, true, 30)));
            c.remember(unknown, 1, hot(0x600), None);
        };
        fill_all(&mut c);
        assert!(all.iter().all(|&v| cached(&c, v)));
        // Another page: only the entry of unknown origin goes.
        tlb.invalidate(&vae1(0x7000));
        c.sync_tlb(&tlb);
        assert_eq!(all.map(|v| cached(&c, v)), [true, true, true, true, true, false]);
        // The page of a1 and a2.
        tlb.invalidate(&vae1(0x1000));
        c.sync_tlb(&tlb);
        assert_eq!(all.map(|v| cached(&c, v)), [false, false, true, true, true, false]);
        // Another page of the 2 MiB block, then of the 1 GiB block.
        tlb.invalidate(&vae1(0x3f_f000));
        c.sync_tlb(&tlb);
        assert_eq!(all.map(|v| cached(&c, v)), [false, false, true, false, true, false]);
        tlb.invalidate(&vae1(0x7fff_f000));
        c.sync_tlb(&tlb);
        assert_eq!(all.map(|v| cached(&c, v)), [false, false, true, false, false, false]);
        // A new ASID: the global entries stay.
        fill_all(&mut c);
        tlb.regime_written(cpu_aarch64::sysreg::SysReg::TTBR0_EL1);
        c.sync_tlb(&tlb);
        assert_eq!(all.map(|v| cached(&c, v)), [false, false, true, false, true, false]);
        // A TCR write: everything.
        tlb.regime_written(cpu_aarch64::sysreg::SysReg::TCR_EL1);
        c.sync_tlb(&tlb);
        assert!(all.iter().all(|&v| !cached(&c, v)));
        assert!(c.jc.live.iter().all(|&w| w == 0));
    }
}
