//! Arm PrimeCell real-time clock (PL031, ARM DDI 0224) as a pure state
//! machine.
//!
//! The counter is not ticked by the emulator: it is computed on demand as
//! `clock() + offset` (mod 2^32), where `clock` is a [`TimeSource`] giving
//! whole seconds (host time since the Unix epoch by default, [`HostClock`])
//! and `offset` is chosen by each RTCLR write so that the counter reads the
//! loaded value at that instant. So the guest sees wall-clock time, and a
//! guest that sets the clock keeps its own notion of time without touching
//! the host's.
//!
//! # Start bit
//!
//! The TRM resets RTCCR.RTCStart to 0, and the counter only counts once it
//! is set; once set, writes to it have no effect until reset. Like QEMU's
//! model (and because the value comes from host time), the counter is
//! running out of reset: RTCCR reads 1 and writing it is ignored. Linux sets
//! the bit anyway on probe.
//!
//! # Match interrupt
//!
//! The raw interrupt RTCRIS is set when the counter reaches the value in
//! RTCMR, and stays set until a 1 is written to RTCICR. The output RTCINTR
//! (RTCRIS & RTCIMSC) drives the [`IrqLine`] given with [`Pl031::with_irq`]
//! as a level. Since time is not ticked, the comparison is made whenever the
//! device is accessed and on every [`Device::poll`]: the match fires if the
//! counter passed the match value since the last comparison (so a match is
//! not lost when the guest sleeps across it). Writing RTCMR or RTCLR makes
//! the comparison include the current counter value, so matching "now"
//! fires at once. A jump of the host clock backwards, or forwards by more
//! than 2^31 seconds, is not treated as passing the match value.
//!
//! # Access sizes
//!
//! Registers are 32 bits wide. Reads of 1, 2 or 4 bytes inside one register
//! return the corresponding bytes; writes of 1, 2 or 4 bytes must start at
//! the register's offset (the value is zero-extended). 8-byte and
//! misaligned writes are rejected. Reserved offsets read as zero and ignore
//! writes. Debug reads do not run the match comparison.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::device::{AccessInfo, AccessRejected, Device, MmioRegion};
use crate::dt::{Node, PropValue};
use crate::irq::IrqLine;
use crate::primecell;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// Register offsets.
mod reg {
    pub const DR: u64 = 0x000;
    pub const MR: u64 = 0x004;
    pub const LR: u64 = 0x008;
    pub const CR: u64 = 0x00c;
    pub const IMSC: u64 = 0x010;
    pub const RIS: u64 = 0x014;
    pub const MIS: u64 = 0x018;
    pub const ICR: u64 = 0x01c;
}

/// RTCPeriphID0-3 (PCellID is the PrimeCell one).
const PERIPH_ID: u32 = 0x0004_1031;

/// A source of wall-clock time in whole seconds. The RTC reads it on every
/// access, so it should be cheap.
pub trait TimeSource: Send {
    /// The current time in seconds (since the Unix epoch for [`HostClock`]).
    fn now_secs(&mut self) -> u64;
}

impl<F: FnMut() -> u64 + Send> TimeSource for F {
    fn now_secs(&mut self) -> u64 {
        self()
    }
}

/// The host's real-time clock: seconds since 1970-01-01T00:00:00Z (0 if
/// the host clock is set before the epoch).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostClock;

impl TimeSource for HostClock {
    fn now_secs(&mut self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// A PL031 RTC.
pub struct Pl031 {
    name: String,
    base: u64,
    size: u64,
    clock: Box<dyn TimeSource>,
    /// Added (mod 2^32) to the clock to give the counter.
    offset: u32,
    mr: u32,
    lr: u32,
    imsc: bool,
    ris: bool,
    /// Counter value up to which the match comparison has been made.
    checked: u32,
    irq: IrqLine,
    spi: Option<u32>,
    irq_level: bool,
}

impl Pl031 {
    /// An RTC called `name` decoding `[base, base + size)` (normally 0x1000
    /// bytes), counting host time ([`HostClock`]).
    pub fn new(name: &str, base: u64, size: u64) -> Self {
        Self::with_time_source(name, base, size, Box::new(HostClock))
    }

    /// Like [`Pl031::new`] with another time source (tests, or a guest clock
    /// that should not follow the host).
    pub fn with_time_source(name: &str, base: u64, size: u64, mut clock: Box<dyn TimeSource>) -> Self {
        let now = clock.now_secs() as u32;
        Pl031 {
            name: name.into(),
            base,
            size,
            clock,
            offset: 0,
            mr: 0,
            lr: 0,
            imsc: false,
            ris: false,
            checked: now,
            irq: IrqLine::none(),
            spi: None,
            irq_level: false,
        }
    }

    /// Wires RTCINTR to `line`, which is shared peripheral interrupt `spi`
    /// (the number the device-tree node gives).
    pub fn with_irq(mut self, spi: u32, line: IrqLine) -> Self {
        self.irq = line;
        self.spi = Some(spi);
        self.irq_level = false;
        self.irq.set(false);
        self.sync_irq();
        self
    }

    /// The current counter value (RTCDR), without side effects.
    pub fn counter(&mut self) -> u32 {
        (self.clock.now_secs() as u32).wrapping_add(self.offset)
    }

    /// The combined interrupt output RTCINTR.
    pub fn irq_pending(&self) -> bool {
        self.ris && self.imsc
    }

    /// Compares the counter with the match register: sets RTCRIS if the
    /// counter reached RTCMR since the last comparison, then updates the
    /// interrupt line.
    fn evaluate(&mut self) {
        let now = self.counter();
        let elapsed = now.wrapping_sub(self.checked);
        // Forward by less than 2^31 seconds: a real advance.
        // (Otherwise the host clock went backwards or leapt: restart here.)
        if elapsed < 1 << 31 && (1..=elapsed).contains(&self.mr.wrapping_sub(self.checked)) {
            self.ris = true;
        }
        self.checked = now;
        self.sync_irq();
    }

    /// Makes the next comparison include the current counter value.
    fn rearm(&mut self) {
        self.checked = self.counter().wrapping_sub(1);
    }

    fn sync_irq(&mut self) {
        let level = self.irq_pending();
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set(level);
        }
    }

    fn read_reg(&mut self, offset: u64) -> u32 {
        match offset {
            reg::DR => self.counter(),
            reg::MR => self.mr,
            reg::LR => self.lr,
            reg::CR => 1,
            reg::IMSC => u32::from(self.imsc),
            reg::RIS => u32::from(self.ris),
            reg::MIS => u32::from(self.irq_pending()),
            o if o >= primecell::ID_BASE => primecell::id_register(PERIPH_ID, o).unwrap_or(0),
            // ICR is write-only; reserved space reads as zero.
            _ => {
                tracing::debug!(rtc = %self.name, offset = format_args!("{offset:#x}"), "PL031 read of unmodelled offset");
                0
            }
        }
    }

    fn write_reg(&mut self, offset: u64, value: u32) {
        match offset {
            reg::MR => {
                self.mr = value;
                self.rearm();
            }
            reg::LR => {
                self.lr = value;
                self.offset = value.wrapping_sub(self.clock.now_secs() as u32);
                self.rearm();
            }
            // Running from reset; writes have no effect (see module docs).
            reg::CR => {}
            reg::IMSC => self.imsc = value & 1 != 0,
            reg::ICR => {
                if value & 1 != 0 {
                    self.ris = false;
                }
            }
            // DR, RIS, MIS and the ID registers are read-only.
            _ => {
                tracing::debug!(rtc = %self.name, offset = format_args!("{offset:#x}"), "PL031 write to read-only or unmodelled offset ignored");
            }
        }
    }
}

impl Device for Pl031 {
    fn name(&self) -> &str {
        &self.name
    }

    fn regions(&self) -> Vec<MmioRegion> {
        vec![MmioRegion {
            base: self.base,
            size: self.size,
        }]
    }

    fn read(&mut self, info: AccessInfo) -> Result<u64, AccessRejected> {
        primecell::read(info, |off| {
            if !info.debug {
                self.evaluate();
            }
            self.read_reg(off)
        })
    }

    fn write(&mut self, info: AccessInfo, value: u64) -> Result<(), AccessRejected> {
        let v = primecell::write_value(info, value)?;
        self.evaluate();
        self.write_reg(info.offset, v);
        self.evaluate();
        Ok(())
    }

    /// The load offset (so the counter keeps following the host's wall
    /// clock with the guest's setting), match, load and interrupt state.
    fn save_state(&self, w: &mut StateWriter) -> Result<(), StateError> {
        for v in [self.offset, self.mr, self.lr, self.checked] {
            w.u32(v);
        }
        w.bool(self.imsc);
        w.bool(self.ris);
        w.bool(self.irq_level);
        Ok(())
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let (offset, mr, lr, checked) = (r.u32("offset")?, r.u32("mr")?, r.u32("lr")?, r.u32("checked")?);
        let (imsc, ris, irq_level) = (r.bool("imsc")?, r.bool("ris")?, r.bool("irq_level")?);
        (self.offset, self.mr, self.lr, self.checked) = (offset, mr, lr, checked);
        (self.imsc, self.ris, self.irq_level) = (imsc, ris, irq_level);
        Ok(())
    }

    fn dt_node(&self) -> Option<Node> {
        let mut n = Node::with_unit("pl031", self.base)
            .strings("compatible", &["arm,pl031", "arm,primecell"])
            .reg64(&[(self.base, self.size)]);
        if let Some(spi) = self.spi {
            // <GIC_SPI spi IRQ_TYPE_LEVEL_HIGH>
            n = n.cells("interrupts", &[0, spi, 4]);
        }
        Some(
            n.strings("clock-names", &["apb_pclk"])
                .prop("clocks", PropValue::PhandleRefs(vec!["apb_pclk".into()])),
        )
    }

    fn poll(&mut self, _mem: &mut crate::ram::GuestRam) {
        self.evaluate();
    }
}

impl std::fmt::Debug for Pl031 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pl031")
            .field("name", &self.name)
            .field("base", &format_args!("{:#x}", self.base))
            .field("offset", &self.offset)
            .field("mr", &self.mr)
            .field("imsc", &self.imsc)
            .field("ris", &self.ris)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irq::{InterruptController, SharedInterruptController};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    /// A clock tests can set.
    #[derive(Clone, Default)]
    struct FakeClock(Arc<AtomicU64>);

    impl FakeClock {
        fn set(&self, secs: u64) {
            self.0.store(secs, Ordering::Relaxed);
        }
    }

    #[derive(Default)]
    struct Level(Vec<(u32, bool)>);

    impl InterruptController for Level {
        fn set_spi(&mut self, spi: u32, level: bool) {
            self.0.push((spi, level));
        }
        fn set_ppi(&mut self, _: usize, _: u32, _: bool) {}
    }

    fn rtc(start: u64) -> (Pl031, FakeClock) {
        let clock = FakeClock::default();
        clock.set(start);
        let c = clock.clone();
        let dev = Pl031::with_time_source("rtc", 0x901_0000, 0x1000, Box::new(move || c.0.load(Ordering::Relaxed)));
        (dev, clock)
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

    fn rd(d: &mut Pl031, offset: u64) -> u64 {
        d.read(acc(offset, 4)).unwrap()
    }

    fn wr(d: &mut Pl031, offset: u64, v: u64) {
        d.write(acc(offset, 4), v).unwrap()
    }

    #[test]
    fn counter_follows_the_clock() {
        let (mut d, clock) = rtc(1_700_000_000);
        assert_eq!(rd(&mut d, reg::DR), 1_700_000_000);
        clock.set(1_700_000_005);
        assert_eq!(rd(&mut d, reg::DR), 1_700_000_005);
        assert_eq!(rd(&mut d, reg::CR), 1);
        // The start bit cannot be cleared.
        wr(&mut d, reg::CR, 0);
        assert_eq!(rd(&mut d, reg::CR), 1);
        // DR is read-only.
        wr(&mut d, reg::DR, 7);
        assert_eq!(rd(&mut d, reg::DR), 1_700_000_005);
    }

    #[test]
    fn load_sets_the_counter_and_it_keeps_counting() {
        let (mut d, clock) = rtc(1000);
        wr(&mut d, reg::LR, 50);
        assert_eq!(rd(&mut d, reg::LR), 50);
        assert_eq!(rd(&mut d, reg::DR), 50);
        clock.set(1010);
        assert_eq!(rd(&mut d, reg::DR), 60);
        // Loading below the clock value wraps the offset, not the counter.
        wr(&mut d, reg::LR, 0xffff_fffe);
        clock.set(1013);
        assert_eq!(rd(&mut d, reg::DR), 1);
    }

    #[test]
    fn host_clock_is_plausible() {
        let mut d = Pl031::new("rtc", 0x901_0000, 0x1000);
        // After 2020-01-01 and before 2106 (when the 32-bit counter wraps).
        assert!(rd(&mut d, reg::DR) > 1_577_836_800);
    }

    #[test]
    fn reset_values_and_ids() {
        let (mut d, _) = rtc(5);
        for off in [reg::MR, reg::LR, reg::IMSC, reg::RIS, reg::MIS] {
            assert_eq!(rd(&mut d, off), 0, "offset {off:#x}");
        }
        let ids: Vec<u64> = (0..8).map(|i| rd(&mut d, 0xfe0 + 4 * i)).collect();
        assert_eq!(ids, [0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        let periph = ids[..4].iter().enumerate().fold(0, |a, (i, b)| a | b << (8 * i));
        let cell = ids[4..].iter().enumerate().fold(0, |a, (i, b)| a | b << (8 * i));
        assert_eq!((periph, cell), (0x0004_1031, 0xb105_f00d));
        assert_eq!(rd(&mut d, 0x20), 0);
        assert_eq!(rd(&mut d, 0x800), 0);
    }

    #[test]
    fn match_interrupt_latches_until_cleared() {
        let rec = Arc::new(Mutex::new(Level::default()));
        let ctrl: SharedInterruptController = rec.clone();
        let (d, clock) = rtc(100);
        let mut d = d.with_irq(2, IrqLine::spi(ctrl, 2));
        wr(&mut d, reg::MR, 103);
        wr(&mut d, reg::IMSC, 1);
        clock.set(102);
        assert_eq!(rd(&mut d, reg::RIS), 0);
        // Skipping past the match value between two looks still matches.
        clock.set(110);
        let mut ram = crate::ram::GuestRam::with_region("r", 0, 0x1000).unwrap();
        d.poll(&mut ram);
        assert!(d.irq_pending());
        assert_eq!(rd(&mut d, reg::RIS), 1);
        assert_eq!(rd(&mut d, reg::MIS), 1);
        // Masking drops the output but not the raw status.
        wr(&mut d, reg::IMSC, 0);
        assert_eq!(rd(&mut d, reg::MIS), 0);
        assert_eq!(rd(&mut d, reg::RIS), 1);
        wr(&mut d, reg::IMSC, 1);
        wr(&mut d, reg::ICR, 1);
        assert_eq!(rd(&mut d, reg::RIS), 0);
        // No second match until the counter comes round again.
        clock.set(200);
        assert_eq!(rd(&mut d, reg::RIS), 0);
        assert_eq!(
            rec.lock().unwrap().0,
            [(2, false), (2, true), (2, false), (2, true), (2, false)]
        );
    }

    #[test]
    fn match_now_fires_at_once_and_load_can_reach_it() {
        let (mut d, clock) = rtc(100);
        wr(&mut d, reg::MR, 100);
        assert_eq!(rd(&mut d, reg::RIS), 1);
        wr(&mut d, reg::ICR, 1);
        // Loading the match value fires too.
        wr(&mut d, reg::MR, 5000);
        assert_eq!(rd(&mut d, reg::RIS), 0);
        wr(&mut d, reg::LR, 4998);
        clock.set(101);
        assert_eq!(rd(&mut d, reg::RIS), 0);
        clock.set(102);
        assert_eq!(rd(&mut d, reg::RIS), 1);
        wr(&mut d, reg::ICR, 1);
        // The clock going backwards is not a match.
        wr(&mut d, reg::MR, 4990);
        wr(&mut d, reg::ICR, 1);
        clock.set(50);
        assert_eq!(rd(&mut d, reg::RIS), 0);
    }

    #[test]
    fn access_sizes() {
        let (mut d, _) = rtc(0x1234_5678);
        assert_eq!(d.read(acc(reg::DR, 1)).unwrap(), 0x78);
        assert_eq!(d.read(acc(reg::DR + 2, 2)).unwrap(), 0x1234);
        assert_eq!(d.read(acc(reg::DR, 8)), Err(AccessRejected));
        assert_eq!(d.read(acc(reg::DR + 2, 4)), Err(AccessRejected));
        assert_eq!(d.write(acc(reg::MR + 1, 1), 1), Err(AccessRejected));
        assert_eq!(d.write(acc(reg::MR, 8), 1), Err(AccessRejected));
        d.write(acc(reg::MR, 2), 0xffff_abcd).unwrap();
        assert_eq!(rd(&mut d, reg::MR), 0xabcd);
    }

    #[test]
    fn device_tree_node() {
        let (d, _) = rtc(0);
        let d = d.with_irq(2, IrqLine::none());
        let n = d.dt_node().unwrap();
        assert_eq!(n.name, "pl031@9010000");
        assert_eq!(
            n.get("compatible"),
            Some(&PropValue::Strings(vec!["arm,pl031".into(), "arm,primecell".into()]))
        );
        assert_eq!(n.get("reg"), Some(&PropValue::Cells(vec![0, 0x901_0000, 0, 0x1000])));
        assert_eq!(n.get("interrupts"), Some(&PropValue::Cells(vec![0, 2, 4])));
        assert_eq!(n.get("clock-names"), Some(&PropValue::Strings(vec!["apb_pclk".into()])));
        assert_eq!(n.get("clocks"), Some(&PropValue::PhandleRefs(vec!["apb_pclk".into()])));
    }

    #[test]
    fn state_survives_a_snapshot_round_trip() {
        let (mut a, _) = rtc(1000);
        wr(&mut a, reg::LR, 50);
        wr(&mut a, reg::MR, 60);
        wr(&mut a, reg::IMSC, 1);
        let (mut b, _) = rtc(1000);
        let (first, second) = crate::snapshot::round_trip(&a, &mut b);
        assert_eq!(first, second);
        for off in [reg::DR, reg::MR, reg::LR, reg::IMSC, reg::RIS] {
            assert_eq!(rd(&mut a, off), rd(&mut b, off), "offset {off:#x}");
        }
    }
}
