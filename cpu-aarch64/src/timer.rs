//! The Arm generic timer: the system counter a core reads (CNTPCT/CNTVCT)
//! and its per-core timers (EL1 physical, virtual, EL2 physical, secure
//! physical), each a compare value plus a control register.
//!
//! The counter's time base is shared by all cores of a machine
//! ([`TimeBase`] clones share it): host time by default, a counter the
//! owner sets (tests), or virtual time derived from retired instructions
//! ([`VirtualClock`], deterministic runs). The timers' outputs
//! are level signals the machine forwards to the interrupt controller as
//! PPIs; the core itself never takes a timer interrupt directly.

use crate::sysreg::{SysReg, SysRegs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The counter frequency QEMU's `virt` reports (CNTFRQ_EL0), 62.5 MHz.
pub const DEFAULT_FREQ: u64 = 62_500_000;

#[derive(Clone, Debug)]
enum Clock {
    /// Host monotonic time since `epoch`.
    Host(Instant),
    /// Host monotonic time since `.0`, counting from `.1` ticks: a
    /// restored machine's counter goes on from its saved value. (Behind
    /// an `Arc` so the time base, which every core holds, keeps its size.)
    HostFrom(Arc<(Instant, u64)>),
    /// A count the owner advances (see [`TimeBase::manual`]).
    Manual(Arc<AtomicU64>),
    /// Virtual time from retired instructions (see [`VirtualClock`]).
    Virtual(Arc<VirtualClock>),
}

/// Virtual nanoseconds each retired instruction is worth in deterministic
/// runs (QEMU's `-icount shift=0`): with the default 62.5 MHz counter, one
/// counter tick every 16 instructions.
pub const NS_PER_INSN: u64 = 1;

/// Virtual time for deterministic runs: nanoseconds that advance only with
/// the instructions the machine's cores retire (summed over all cores, as
/// they take turns on one thread) and with the idle skips the machine
/// makes, never with the host clock.
///
/// The machine brackets each core's turn with [`VirtualClock::begin_turn`]
/// and [`VirtualClock::end_turn`]; within a turn, a core reading the
/// counter first reports its instruction count ([`TimeBase::observe`], done
/// by every system-register access), so a read sees the time of that very
/// instruction whichever engine runs it. Other readers (devices, between
/// turns) see the time of the last observation. Atomics only so that the
/// handle can be shared; one thread drives it.
#[derive(Debug, Default)]
pub struct VirtualClock {
    /// Virtual ns when the current turn began (the time between turns).
    base: AtomicU64,
    /// The running core's instruction count when its turn began.
    turn_start: AtomicU64,
    /// Its count as last observed (at least `turn_start`).
    seen: AtomicU64,
}

impl VirtualClock {
    /// A clock at zero.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Virtual nanoseconds now.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        let run = self
            .seen
            .load(Ordering::Relaxed)
            .saturating_sub(self.turn_start.load(Ordering::Relaxed));
        self.base
            .load(Ordering::Relaxed)
            .saturating_add(run.saturating_mul(NS_PER_INSN))
    }

    /// A core whose instruction count is `icount` starts its turn.
    pub fn begin_turn(&self, icount: u64) {
        self.turn_start.store(icount, Ordering::Relaxed);
        self.seen.store(icount, Ordering::Relaxed);
    }

    /// The running core has retired `icount` instructions in all (called
    /// before it reads the time).
    #[inline]
    pub fn observe(&self, icount: u64) {
        self.seen.store(icount, Ordering::Relaxed);
    }

    /// The running core's turn ended having retired `retired` instructions.
    pub fn end_turn(&self, retired: u64) {
        let base = self.base.load(Ordering::Relaxed);
        self.base.store(
            base.saturating_add(retired.saturating_mul(NS_PER_INSN)),
            Ordering::Relaxed,
        );
        let start = self.turn_start.load(Ordering::Relaxed);
        self.seen.store(start, Ordering::Relaxed);
    }

    /// Moves time forward to `ns` (never back): every core sleeps, so
    /// nothing happens until then.
    pub fn advance_to(&self, ns: u64) {
        self.base.fetch_max(ns, Ordering::Relaxed);
    }
}

/// The system counter's source, shared by the cores of one machine.
#[derive(Clone, Debug)]
pub struct TimeBase {
    clock: Clock,
    freq: u64,
}

impl Default for TimeBase {
    fn default() -> Self {
        TimeBase::host(DEFAULT_FREQ)
    }
}

impl TimeBase {
    /// A counter running at `freq` Hz in host time, zero now.
    pub fn host(freq: u64) -> Self {
        TimeBase {
            clock: Clock::Host(Instant::now()),
            freq: freq.max(1),
        }
    }

    /// A counter that only moves when the returned handle is advanced.
    pub fn manual(freq: u64) -> (Self, Arc<AtomicU64>) {
        let c = Arc::new(AtomicU64::new(0));
        (
            TimeBase {
                clock: Clock::Manual(c.clone()),
                freq: freq.max(1),
            },
            c,
        )
    }

    /// A counter at `freq` Hz running on `clock`'s virtual time.
    pub fn virtual_time(freq: u64, clock: Arc<VirtualClock>) -> Self {
        TimeBase {
            clock: Clock::Virtual(clock),
            freq: freq.max(1),
        }
    }

    /// The virtual clock, for a counter on virtual time.
    pub fn virtual_clock(&self) -> Option<&Arc<VirtualClock>> {
        match &self.clock {
            Clock::Virtual(c) => Some(c),
            _ => None,
        }
    }

    /// Tells a virtual clock how many instructions the reading core has
    /// retired (nothing for other clocks).
    #[inline]
    pub fn observe(&self, icount: u64) {
        if let Clock::Virtual(c) = &self.clock {
            c.observe(icount);
        }
    }

    /// The count at virtual time `ns`.
    pub fn ns_to_count(&self, ns: u64) -> u64 {
        (u128::from(ns) * u128::from(self.freq) / 1_000_000_000) as u64
    }

    /// The earliest virtual time (ns) at which the count reaches `count`.
    pub fn count_to_ns(&self, count: u64) -> u64 {
        let ns = (u128::from(count) * 1_000_000_000).div_ceil(u128::from(self.freq));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Counter frequency in Hz (CNTFRQ_EL0's reset value).
    pub fn freq(&self) -> u64 {
        self.freq
    }

    /// A time base whose count reads `count` now and then runs as this
    /// one does: a restored machine's counter goes on from where the saved
    /// one stopped instead of jumping to the new process's time. A host
    /// clock becomes one counting from `count`; a manual or virtual clock
    /// (shared with its owner) is moved forward to `count`.
    pub fn continuing_from(&self, count: u64) -> TimeBase {
        let clock = match &self.clock {
            Clock::Host(_) | Clock::HostFrom(_) => Clock::HostFrom(Arc::new((Instant::now(), count))),
            Clock::Manual(c) => {
                c.fetch_max(count, Ordering::Relaxed);
                self.clock.clone()
            }
            Clock::Virtual(c) => {
                c.advance_to(self.count_to_ns(count));
                self.clock.clone()
            }
        };
        TimeBase { clock, freq: self.freq }
    }

    /// The physical count now.
    #[inline]
    pub fn now(&self) -> u64 {
        match &self.clock {
            Clock::Host(epoch) => {
                let ns = epoch.elapsed().as_nanos();
                (ns * u128::from(self.freq) / 1_000_000_000) as u64
            }
            Clock::HostFrom(from) => {
                let ns = from.0.elapsed().as_nanos();
                from.1.wrapping_add((ns * u128::from(self.freq) / 1_000_000_000) as u64)
            }
            Clock::Manual(c) => c.load(Ordering::Relaxed),
            Clock::Virtual(c) => self.ns_to_count(c.now_ns()),
        }
    }

    /// How long until the count reaches `count` (zero if it has), in host
    /// time; `None` for a manual or virtual counter, which only its owner
    /// moves.
    pub fn until(&self, count: u64) -> Option<Duration> {
        match self.clock {
            Clock::Host(_) | Clock::HostFrom(_) => {
                let ticks = count.saturating_sub(self.now());
                let ns = u128::from(ticks) * 1_000_000_000 / u128::from(self.freq);
                Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
            }
            Clock::Manual(_) | Clock::Virtual(_) => None,
        }
    }
}

/// Where a core's timer outputs go: called with the output bits (see
/// [`SysRegs::timer_outputs`]) whenever a register write may have changed
/// them, so that a guest lowering its timer's output (disable, mask, new
/// compare value) is seen by the interrupt controller at once. Outputs that
/// rise because time passed are polled by the machine between turns.
#[derive(Clone)]
pub struct TimerSink(pub Arc<dyn Fn(u32) + Send + Sync>);

impl std::fmt::Debug for TimerSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TimerSink")
    }
}

/// The timers of one core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// EL1 physical timer (CNTP_*_EL0), non-secure PPI 30 on `virt`.
    Phys = 0,
    /// Virtual timer (CNTV_*_EL0), PPI 27.
    Virt = 1,
    /// EL2 physical timer (CNTHP_*_EL2), PPI 26.
    HypPhys = 2,
    /// Secure EL1 physical timer (CNTPS_*_EL1), PPI 29.
    SecPhys = 3,
}

impl Timer {
    /// All timers, in output-bit order.
    pub const ALL: [Timer; 4] = [Timer::Phys, Timer::Virt, Timer::HypPhys, Timer::SecPhys];

    /// The control and compare-value registers.
    pub fn regs(self) -> (SysReg, SysReg) {
        match self {
            Timer::Phys => (SysReg::CNTP_CTL_EL0, SysReg::CNTP_CVAL_EL0),
            Timer::Virt => (SysReg::CNTV_CTL_EL0, SysReg::CNTV_CVAL_EL0),
            Timer::HypPhys => (SysReg::CNTHP_CTL_EL2, SysReg::CNTHP_CVAL_EL2),
            Timer::SecPhys => (SysReg::CNTPS_CTL_EL1, SysReg::CNTPS_CVAL_EL1),
        }
    }

    /// The timer a TVAL register belongs to.
    pub fn of_tval(r: SysReg) -> Option<Timer> {
        match r {
            SysReg::CNTP_TVAL_EL0 => Some(Timer::Phys),
            SysReg::CNTV_TVAL_EL0 => Some(Timer::Virt),
            SysReg::CNTHP_TVAL_EL2 => Some(Timer::HypPhys),
            SysReg::CNTPS_TVAL_EL1 => Some(Timer::SecPhys),
            _ => None,
        }
    }

    /// The timer a CTL register belongs to.
    pub fn of_ctl(r: SysReg) -> Option<Timer> {
        Timer::ALL.into_iter().find(|t| t.regs().0 == r)
    }
}

/// CNTx_CTL bits.
pub mod ctl {
    /// Timer enabled.
    pub const ENABLE: u64 = 1 << 0;
    /// Output masked.
    pub const IMASK: u64 = 1 << 1;
    /// Condition met (read only).
    pub const ISTATUS: u64 = 1 << 2;
}

impl SysRegs {
    /// The physical count.
    #[inline]
    pub fn physical_count(&self) -> u64 {
        self.time.now()
    }

    /// The virtual count: physical minus CNTVOFF_EL2.
    #[inline]
    pub fn virtual_count(&self) -> u64 {
        self.physical_count().wrapping_sub(self.get(SysReg::CNTVOFF_EL2))
    }

    /// The count timer `t` compares against.
    fn count_for(&self, t: Timer) -> u64 {
        match t {
            Timer::Virt => self.virtual_count(),
            _ => self.physical_count(),
        }
    }

    /// CTL as read: the stored ENABLE/IMASK plus the live ISTATUS.
    pub fn timer_ctl(&self, t: Timer) -> u64 {
        let (c, v) = t.regs();
        let ctl = self.get(c) & (ctl::ENABLE | ctl::IMASK);
        let met = ctl & ctl::ENABLE != 0 && self.count_for(t) >= self.get(v);
        ctl | if met { ctl::ISTATUS } else { 0 }
    }

    /// TVAL as read: (CVAL - count) in 32 bits, sign-extended (TimerValue
    /// is a signed 32-bit down-counter).
    pub fn timer_tval(&self, t: Timer) -> u64 {
        let (_, v) = t.regs();
        i64::from(self.get(v).wrapping_sub(self.count_for(t)) as i32) as u64
    }

    /// TVAL write: CVAL = count + sign-extended TimerValue.
    pub fn set_timer_tval(&mut self, t: Timer, tval: u64) {
        let (_, v) = t.regs();
        let cval = self.count_for(t).wrapping_add(i64::from(tval as i32) as u64);
        self.set(v, cval);
    }

    /// Which timer outputs are asserted now: bit `t as u32` for timer `t`
    /// (enabled, condition met, not masked).
    pub fn timer_outputs(&self) -> u32 {
        Timer::ALL
            .iter()
            .filter(|&&t| self.timer_ctl(t) & (ctl::ISTATUS | ctl::IMASK) == ctl::ISTATUS)
            .fold(0, |acc, &t| acc | 1 << t as u32)
    }

    /// Sends the current outputs to the timer sink, if there is one.
    pub fn publish_timers(&self) {
        if let Some(sink) = &self.timer_sink {
            (sink.0)(self.timer_outputs());
        }
    }

    /// The earliest physical count at which an enabled, unmasked timer
    /// whose condition is not yet met will assert its output.
    pub fn next_timer_deadline(&self) -> Option<u64> {
        Timer::ALL
            .iter()
            .filter(|&&t| {
                let c = self.timer_ctl(t);
                c & (ctl::ENABLE | ctl::IMASK | ctl::ISTATUS) == ctl::ENABLE
            })
            .map(|&t| {
                let cval = self.get(t.regs().1);
                match t {
                    // virtual count = physical - offset
                    Timer::Virt => cval.saturating_add(self.get(SysReg::CNTVOFF_EL2)),
                    _ => cval,
                }
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::CpuConfig;

    fn regs() -> (SysRegs, Arc<AtomicU64>) {
        let (tb, h) = TimeBase::manual(DEFAULT_FREQ);
        let mut cfg = CpuConfig::cortex_a57(0);
        cfg.time = tb;
        (SysRegs::new(&cfg), h)
    }

    #[test]
    fn compare_value_and_status() {
        let (mut s, now) = regs();
        now.store(1000, Ordering::Relaxed);
        s.set(SysReg::CNTP_CVAL_EL0, 1500);
        assert_eq!(s.timer_ctl(Timer::Phys), 0, "disabled: no ISTATUS");
        s.set(SysReg::CNTP_CTL_EL0, ctl::ENABLE);
        assert_eq!(s.timer_ctl(Timer::Phys), ctl::ENABLE);
        assert_eq!(s.timer_tval(Timer::Phys), 500);
        assert_eq!(s.next_timer_deadline(), Some(1500));
        assert_eq!(s.timer_outputs(), 0);
        now.store(1500, Ordering::Relaxed);
        assert_eq!(s.timer_ctl(Timer::Phys), ctl::ENABLE | ctl::ISTATUS);
        assert_eq!(s.timer_outputs(), 1 << Timer::Phys as u32);
        assert_eq!(s.next_timer_deadline(), None);
        // Masked: status still reads as met, the output drops.
        s.set(SysReg::CNTP_CTL_EL0, ctl::ENABLE | ctl::IMASK);
        assert_eq!(s.timer_ctl(Timer::Phys), ctl::ENABLE | ctl::IMASK | ctl::ISTATUS);
        assert_eq!(s.timer_outputs(), 0);
        // TVAL counts down through zero as a signed 32-bit value.
        now.store(1600, Ordering::Relaxed);
        assert_eq!(s.timer_tval(Timer::Phys), (-100i64) as u64);
    }

    #[test]
    fn tval_write_is_relative_and_signed() {
        let (mut s, now) = regs();
        now.store(10_000, Ordering::Relaxed);
        s.set_timer_tval(Timer::Phys, 0xffff_ff00); // -256
        assert_eq!(s.get(SysReg::CNTP_CVAL_EL0), 10_000 - 256);
        s.set_timer_tval(Timer::Phys, 0x1_0000_0010); // bits 63:32 ignored
        assert_eq!(s.get(SysReg::CNTP_CVAL_EL0), 10_016);
    }

    #[test]
    fn virtual_timer_uses_the_offset() {
        let (mut s, now) = regs();
        now.store(5000, Ordering::Relaxed);
        s.set(SysReg::CNTVOFF_EL2, 1000);
        assert_eq!(s.virtual_count(), 4000);
        s.set(SysReg::CNTV_CVAL_EL0, 4500);
        s.set(SysReg::CNTV_CTL_EL0, ctl::ENABLE);
        assert_eq!(s.next_timer_deadline(), Some(5500), "in physical ticks");
        now.store(5500, Ordering::Relaxed);
        assert_eq!(s.timer_outputs(), 1 << Timer::Virt as u32);
    }

    /// Virtual time: 1 ns per instruction, 16 instructions per tick at
    /// 62.5 MHz; a read mid-turn sees the reading instruction's count.
    #[test]
    fn virtual_time_follows_retired_instructions() {
        let vc = VirtualClock::new();
        let tb = TimeBase::virtual_time(DEFAULT_FREQ, vc.clone());
        assert_eq!(tb.now(), 0);
        // Core with 1000 instructions already retired starts a turn.
        vc.begin_turn(1000);
        assert_eq!(vc.now_ns(), 0);
        tb.observe(1000 + 320);
        assert_eq!((vc.now_ns(), tb.now()), (320, 20));
        tb.observe(1000 + 335);
        assert_eq!(tb.now(), 20, "tick 21 starts at instruction 336");
        vc.end_turn(500);
        assert_eq!(vc.now_ns(), 500);
        // Another core (icount 7) runs; time continues from 500 ns.
        vc.begin_turn(7);
        tb.observe(7 + 12);
        assert_eq!(vc.now_ns(), 512);
        vc.end_turn(12);
        assert_eq!(vc.now_ns(), 512);
        // Idle skips only move forward.
        vc.advance_to(tb.count_to_ns(100));
        assert_eq!((vc.now_ns(), tb.now()), (1600, 100));
        vc.advance_to(10);
        assert_eq!(vc.now_ns(), 1600);
        assert_eq!(tb.until(200), None, "no host time to wait for");
        // The host clock is not involved.
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(tb.now(), 100);
    }

    #[test]
    fn count_and_ns_convert_both_ways() {
        let tb = TimeBase::virtual_time(DEFAULT_FREQ, VirtualClock::new());
        assert_eq!(tb.count_to_ns(1), 16);
        assert_eq!(tb.ns_to_count(15), 0);
        assert_eq!(tb.ns_to_count(16), 1);
        // A frequency that does not divide 1 GHz rounds the deadline up.
        let tb = TimeBase::virtual_time(24_000_000, VirtualClock::new());
        let ns = tb.count_to_ns(1000);
        assert!(tb.ns_to_count(ns) >= 1000 && tb.ns_to_count(ns - 1) < 1000);
    }

    /// A timer's deadline, turned into virtual ns, is when it fires.
    #[test]
    fn virtual_deadline_fires_at_its_count() {
        let vc = VirtualClock::new();
        let mut cfg = CpuConfig::cortex_a57(0);
        cfg.time = TimeBase::virtual_time(DEFAULT_FREQ, vc.clone());
        let mut s = SysRegs::new(&cfg);
        s.set(SysReg::CNTV_CVAL_EL0, 625);
        s.set(SysReg::CNTV_CTL_EL0, ctl::ENABLE);
        let d = s.next_timer_deadline().unwrap();
        vc.advance_to(s.time.count_to_ns(d) - 1);
        assert_eq!(s.timer_outputs(), 0);
        vc.advance_to(s.time.count_to_ns(d));
        assert_eq!(s.timer_outputs(), 1 << Timer::Virt as u32);
        assert_eq!(vc.now_ns(), 10_000);
    }

    #[test]
    fn host_time_base_moves_forward() {
        let tb = TimeBase::host(DEFAULT_FREQ);
        let a = tb.now();
        std::thread::sleep(Duration::from_millis(2));
        let b = tb.now();
        assert!(b > a, "{a} -> {b}");
        assert!(tb.until(b + DEFAULT_FREQ).unwrap() <= Duration::from_secs(1));
        assert_eq!(tb.until(0), Some(Duration::ZERO));
    }

    #[test]
    fn continuing_time_base_reads_the_saved_count_and_moves_with_its_clock() {
        let (tb, h) = TimeBase::manual(DEFAULT_FREQ);
        h.store(50, Ordering::Relaxed);
        let resumed = tb.continuing_from(1_000_000);
        assert_eq!(resumed.now(), 1_000_000);
        h.fetch_add(30, Ordering::Relaxed);
        assert_eq!(resumed.now(), 1_000_030, "still the owner's counter");
        let host = TimeBase::host(DEFAULT_FREQ).continuing_from(u64::MAX / 2);
        assert!(host.now() >= u64::MAX / 2);
        assert!(host.until(u64::MAX / 2 + DEFAULT_FREQ).unwrap() <= Duration::from_secs(1));
    }
}
