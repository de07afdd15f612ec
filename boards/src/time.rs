//! How a machine keeps time: the host's clock (the default), or virtual
//! time derived from retired instructions for deterministic runs.
//!
//! In deterministic mode every clock the guest can see runs on one
//! [`VirtualClock`]: [`NS_PER_INSN`] ns per retired instruction (summed over
//! all cores, which take turns on one thread), so the generic timer's
//! counter ticks once every 16 instructions at 62.5 MHz. When every core
//! sleeps, time jumps to the next timer deadline instead of waiting on the
//! host. The PL031 RTC starts at [`Deterministic::rtc_epoch`], semihosting
//! SYS_CLOCK/SYS_TIME count virtual time, and virtio-rng returns a fixed
//! pseudo-random stream. Interrupts from time passing are raised between
//! rounds of turns, which both engines reach at the same instruction
//! counts, so a run is reproducible bit for bit. Host input (stdin,
//! sockets, user networking, the power key) still arrives whenever the
//! host delivers it.

use cpu_aarch64::timer::VirtualClock;
pub use cpu_aarch64::timer::NS_PER_INSN;
use std::sync::Arc;

/// The RTC's value at virtual time zero unless configured:
/// 2024-01-01T00:00:00Z.
pub const DEFAULT_RTC_EPOCH: u64 = 1_704_067_200;

/// The seed of virtio-rng's stream in deterministic runs.
pub const RNG_SEED: u64 = 0x5052_4542_4f41_5244; // "PREBOARD"

/// Which clock the guest sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeMode {
    /// Host real time (the default).
    #[default]
    Host,
    /// Virtual time from retired instructions.
    Deterministic(Deterministic),
}

impl TimeMode {
    /// Deterministic time with the default settings.
    pub fn deterministic() -> Self {
        TimeMode::Deterministic(Deterministic::default())
    }

    /// Whether this is deterministic time.
    pub fn is_deterministic(&self) -> bool {
        matches!(self, TimeMode::Deterministic(_))
    }
}

/// Settings of deterministic time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deterministic {
    /// What the PL031 RTC and semihosting SYS_TIME read at virtual time
    /// zero, in seconds since the Unix epoch.
    pub rtc_epoch: u64,
}

impl Default for Deterministic {
    fn default() -> Self {
        Deterministic {
            rtc_epoch: DEFAULT_RTC_EPOCH,
        }
    }
}

/// The clock devices read in a deterministic machine.
#[derive(Clone, Debug)]
pub(crate) struct DeviceClock {
    pub clock: Arc<VirtualClock>,
    pub rtc_epoch: u64,
}

impl DeviceClock {
    /// Whole seconds of wall-clock time for an RTC.
    pub fn rtc_source(&self) -> Box<dyn soc::pl031::TimeSource> {
        let (clock, epoch) = (self.clock.clone(), self.rtc_epoch);
        Box::new(move || epoch.saturating_add(clock.now_ns() / 1_000_000_000))
    }
}
