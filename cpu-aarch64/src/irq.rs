//! The interrupt inputs of a core: level-sensitive lines the interrupt
//! controller drives and the core samples at instruction boundaries.
//!
//! The lines are one atomic word shared between the core and whoever drives
//! them (the GIC), so sampling costs one relaxed load per instruction and a
//! later multi-threaded SMP mode needs no other synchronisation.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Physical IRQ.
pub const IRQ: u32 = 1 << 0;
/// Physical FIQ.
pub const FIQ: u32 = 1 << 1;
/// SError (asynchronous external abort).
pub const SERROR: u32 = 1 << 2;
/// Virtual IRQ (from the GIC's virtual CPU interface; HCR_EL2.VI is
/// separate core state).
pub const VIRQ: u32 = 1 << 3;
/// Virtual FIQ.
pub const VFIQ: u32 = 1 << 4;

/// A handle on one core's interrupt input lines; clones share the lines.
#[derive(Clone, Debug, Default)]
pub struct IrqLines(Arc<AtomicU32>);

impl IrqLines {
    /// All lines low.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drives `line` (one of the constants above) to `level`.
    #[inline]
    pub fn set(&self, line: u32, level: bool) {
        if level {
            self.0.fetch_or(line, Ordering::Relaxed);
        } else {
            self.0.fetch_and(!line, Ordering::Relaxed);
        }
    }

    /// The asserted lines.
    #[inline]
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_lines() {
        let a = IrqLines::new();
        let b = a.clone();
        a.set(IRQ, true);
        b.set(FIQ, true);
        assert_eq!(a.get(), IRQ | FIQ);
        b.set(IRQ, false);
        assert_eq!(a.get(), FIQ);
    }
}
