//! Debugger hooks of one core: breakpoints, watchpoints and the
//! interrupt mask used while single-stepping. Every engine consults the
//! same state in the same places: breakpoints at the instruction boundary
//! ([`Cpu::debug_break_here`]), watchpoints in the interpreter's data
//! access path, which is also the JIT's slow path (the JIT keeps watched
//! pages out of its fast-path TLB). A hit stops the core with
//! [`crate::StopReason::Debug`] before the instruction has any effect that
//! a fault would not also have, and records what was hit in
//! [`DebugState::hit`].

use crate::state::Cpu;

/// Which accesses a watchpoint catches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// Loads.
    Read,
    /// Stores.
    Write,
    /// Loads and stores.
    Access,
}

impl WatchKind {
    fn catches(self, write: bool) -> bool {
        match self {
            WatchKind::Read => !write,
            WatchKind::Write => write,
            WatchKind::Access => true,
        }
    }
}

/// A watched range of virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Watchpoint {
    /// First byte.
    pub addr: u64,
    /// Length in bytes (at least 1).
    pub len: u64,
    /// Which accesses it catches.
    pub kind: WatchKind,
}

impl Watchpoint {
    /// The first watched byte of a `size`-byte access at `va`, if they
    /// overlap.
    fn overlap(&self, va: u64, size: u64) -> Option<u64> {
        let end = self.addr.saturating_add(self.len.max(1));
        let a_end = va.saturating_add(size);
        (va < end && self.addr < a_end).then(|| va.max(self.addr))
    }
}

/// What stopped the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugHit {
    /// The instruction at `pc` has a breakpoint (it has not executed).
    Breakpoint {
        /// Its address.
        pc: u64,
    },
    /// The instruction at `pc` accessed watched memory; it has not
    /// completed (PC still points at it), like a synchronous watchpoint
    /// exception on hardware.
    Watchpoint {
        /// The accessing instruction.
        pc: u64,
        /// The first watched byte the access touched.
        addr: u64,
        /// The watchpoint's kind.
        kind: WatchKind,
        /// Whether the access was a store.
        write: bool,
    },
}

/// A core's debugger state (empty: no cost beyond one flag test per
/// instruction).
#[derive(Clone, Debug, Default)]
pub struct DebugState {
    /// Anything set: engines test this one flag before looking further.
    armed: bool,
    breakpoints: Vec<u64>,
    watchpoints: Vec<Watchpoint>,
    /// (PC, instruction count): a breakpoint at PC is ignored until an
    /// instruction retires, so resuming from a breakpoint executes the
    /// instruction it stopped at.
    skip_breakpoint: Option<(u64, u64)>,
    /// Pending interrupts are not taken (single-stepping).
    pub mask_interrupts: bool,
    /// The last hit, set when a core stops with `StopReason::Debug`.
    pub hit: Option<DebugHit>,
}

impl DebugState {
    /// Whether any breakpoint or watchpoint is set.
    #[inline]
    pub fn armed(&self) -> bool {
        self.armed
    }

    /// Replaces the breakpoints.
    pub fn set_breakpoints(&mut self, mut pcs: Vec<u64>) {
        pcs.sort_unstable();
        pcs.dedup();
        self.breakpoints = pcs;
        self.rearm();
    }

    /// Replaces the watchpoints.
    pub fn set_watchpoints(&mut self, wps: Vec<Watchpoint>) {
        self.watchpoints = wps;
        self.rearm();
    }

    fn rearm(&mut self) {
        self.armed = !self.breakpoints.is_empty() || !self.watchpoints.is_empty();
    }

    /// Whether `pc` has a breakpoint.
    pub fn is_breakpoint(&self, pc: u64) -> bool {
        self.armed && self.breakpoints.binary_search(&pc).is_ok()
    }

    /// Whether any watchpoint covers part of the 4 KiB page of `va` (such
    /// pages must not be reached by fast paths that skip the check).
    pub fn watches_page(&self, va: u64) -> bool {
        let page = va & !0xfff;
        self.watchpoints.iter().any(|w| w.overlap(page, 0x1000).is_some())
    }

    /// The watchpoint a `size`-byte access at `va` triggers, as
    /// (first watched byte, kind).
    pub fn watch_hit(&self, va: u64, size: u64, write: bool) -> Option<(u64, WatchKind)> {
        self.watchpoints
            .iter()
            .filter(|w| w.kind.catches(write))
            .find_map(|w| w.overlap(va, size).map(|a| (a, w.kind)))
    }
}

impl Cpu {
    /// Resuming: a breakpoint at the current PC does not stop the core
    /// again before the instruction there has executed.
    pub fn resume_past_breakpoint(&mut self) {
        self.debug.skip_breakpoint = Some((self.pc, self.icount));
    }

    /// At an instruction boundary (after interrupts were taken): whether
    /// a breakpoint stops the core before the instruction at PC. Records
    /// the hit.
    #[inline]
    pub fn debug_break_here(&mut self) -> bool {
        if !self.debug.armed {
            return false;
        }
        let pc = self.pc;
        if self.debug.skip_breakpoint == Some((pc, self.icount)) {
            return false;
        }
        if self.debug.is_breakpoint(pc) {
            self.debug.hit = Some(DebugHit::Breakpoint { pc });
            return true;
        }
        false
    }

    /// A data access of `size` bytes at `va` by the instruction at `pc`:
    /// whether a watchpoint stops it (recording the hit).
    #[inline]
    pub(crate) fn debug_watch(&mut self, pc: u64, va: u64, size: u64, write: bool) -> bool {
        if !self.debug.armed {
            return false;
        }
        match self.debug.watch_hit(va, size, write) {
            Some((addr, kind)) => {
                self.debug.hit = Some(DebugHit::Watchpoint { pc, addr, kind, write });
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_ranges_are_exact() {
        let mut d = DebugState::default();
        d.set_watchpoints(vec![Watchpoint {
            addr: 0x1003,
            len: 2,
            kind: WatchKind::Write,
        }]);
        assert!(d.armed());
        // An 8-byte store at 0x1000 covers 0x1003..0x1005: the first
        // watched byte is reported.
        assert_eq!(d.watch_hit(0x1000, 8, true), Some((0x1003, WatchKind::Write)));
        assert_eq!(d.watch_hit(0x1004, 1, true), Some((0x1004, WatchKind::Write)));
        // Just outside on either side, and reads, do not hit.
        assert_eq!(d.watch_hit(0x1002, 1, true), None);
        assert_eq!(d.watch_hit(0x1005, 4, true), None);
        assert_eq!(d.watch_hit(0x1003, 1, false), None);
        assert!(d.watches_page(0x1ff8));
        assert!(!d.watches_page(0x2000));
        assert!(!d.watches_page(0x0fff));
    }

    #[test]
    fn resuming_skips_the_breakpoint_until_an_instruction_retires() {
        let mut cpu = Cpu::new(0, crate::state::CpuConfig::cortex_a57(0), 0x4000);
        cpu.debug.set_breakpoints(vec![0x4000]);
        cpu.resume_past_breakpoint();
        assert!(!cpu.debug_break_here(), "resuming there");
        assert!(!cpu.debug_break_here(), "still before the instruction ran");
        cpu.icount += 1;
        assert!(cpu.debug_break_here(), "back there after an instruction");
        assert_eq!(cpu.debug.hit, Some(DebugHit::Breakpoint { pc: 0x4000 }));
        cpu.debug.set_breakpoints(Vec::new());
        assert!(!cpu.debug_break_here());
    }
}
