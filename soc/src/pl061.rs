//! Arm PrimeCell GPIO (PL061, ARM DDI 0190) as a pure state machine, with
//! the power button that QEMU's `virt` board wires to it.
//!
//! # Pins
//!
//! Eight lines. The level of a line is the GPIODATA output bit when GPIODIR
//! makes it an output, and the host-driven input ([`Pl061::set_input`],
//! low out of reset) when it is an input. GPIODATA is accessed through
//! 256 addresses (0x000-0x3FC): address bits \[9:2\] mask the access, so a
//! read returns the line levels in the mask (0 elsewhere) and a write
//! changes only the masked bits of the output register (which reach a line
//! only while it is an output). GPIOAFSEL is stored but has no effect:
//! there is no hardware-control source.
//!
//! # Interrupts
//!
//! Per line, GPIOIS selects level (1) or edge (0) detection, GPIOIBE both
//! edges, GPIOIEV rising edge / high level (1) or falling edge / low level
//! (0). Edges are latched in GPIORIS until a 1 is written to GPIOIC; level
//! bits follow the line. Any change of a line level (host input, a data
//! write to an output, a direction change) is examined for edges. The
//! combined output GPIOINTR (GPIOMIS != 0) drives the [`IrqLine`] given with
//! [`Pl061::with_irq`] as a level.
//!
//! # Power button
//!
//! [`Pl061::power_button`] returns a [`PowerButton`]: a cloneable handle
//! (an atomic flag, safe to set from a host signal handler) with which the
//! machine asks the guest to shut down. Like QEMU's `gpio-key` device the
//! press is a pulse: [`Device::poll`] drives line [`POWER_KEY_LINE`] high
//! when it sees a press and low again once [`POWER_BUTTON_HOLD`] (100 ms of
//! host time, configurable with [`Pl061::with_button_hold`]) has passed, so
//! Linux's `gpio-keys` driver (which debounces, then reads the line) sees a
//! press and a release of `KEY_POWER`. [`gpio_keys_node`] is the matching
//! device-tree node.
//!
//! # Access sizes
//!
//! As the PL011: registers are 32 bits wide, reads of 1, 2 or 4 bytes
//! inside one register return the corresponding bytes, writes of 1, 2 or 4
//! bytes must start at the register's offset; 8-byte accesses are rejected.
//! Reserved offsets read as zero and ignore writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::device::{AccessInfo, AccessRejected, Device, MmioRegion};
use crate::dt::{Node, PropValue};
use crate::irq::IrqLine;
use crate::primecell;
use crate::ram::GuestRam;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// Register offsets.
mod reg {
    pub const DATA_END: u64 = 0x400;
    pub const DIR: u64 = 0x400;
    pub const IS: u64 = 0x404;
    pub const IBE: u64 = 0x408;
    pub const IEV: u64 = 0x40c;
    pub const IE: u64 = 0x410;
    pub const RIS: u64 = 0x414;
    pub const MIS: u64 = 0x418;
    pub const IC: u64 = 0x41c;
    pub const AFSEL: u64 = 0x420;
}

/// GPIOPeriphID0-3 (PCellID is the PrimeCell one).
const PERIPH_ID: u32 = 0x0004_1061;

/// Number of GPIO lines.
pub const LINES: u8 = 8;

/// The line QEMU's `virt` board wires its power button to.
pub const POWER_KEY_LINE: u8 = 3;

/// Linux input event code `KEY_POWER`, the `linux,code` of the button.
pub const KEY_POWER: u32 = 116;

/// The flags cell of the button's `gpios` specifier: 0, active high.
pub const POWER_KEY_GPIO_FLAGS: u32 = 0;

/// How long a press holds the line high (QEMU's `gpio-key` uses 100 ms).
pub const POWER_BUTTON_HOLD: Duration = Duration::from_millis(100);

/// The device-tree label of the controller unless [`Pl061::with_label`]
/// changes it; [`gpio_keys_node`] refers to it.
pub const DEFAULT_LABEL: &str = "gpio0";

/// A handle that presses the power button of a [`Pl061`]. Clones press the
/// same button. Pressing only sets an atomic flag, so it may be called from
/// any thread or from a signal handler; the device acts on it in its next
/// [`Device::poll`].
#[derive(Clone, Debug, Default)]
pub struct PowerButton {
    pending: Arc<AtomicBool>,
}

impl PowerButton {
    /// Requests a press (a guest-visible pulse on the button's line).
    pub fn press(&self) {
        self.pending.store(true, Ordering::Release);
    }

    /// Whether a press is waiting for the device to act on it.
    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }
}

/// The power button as the device sees it.
struct Button {
    handle: PowerButton,
    line: u8,
    hold: Duration,
    /// While the line is held high: when to release it.
    release_at: Option<Instant>,
}

/// A PL061 GPIO controller.
pub struct Pl061 {
    name: String,
    label: String,
    base: u64,
    size: u64,
    /// GPIODATA output register.
    data: u8,
    /// Host-driven levels of the lines.
    input: u8,
    dir: u8,
    is: u8,
    ibe: u8,
    iev: u8,
    ie: u8,
    /// Latched edge interrupts.
    edges: u8,
    afsel: u8,
    irq: IrqLine,
    spi: Option<u32>,
    irq_level: bool,
    button: Option<Button>,
    hold: Duration,
}

impl Pl061 {
    /// A GPIO controller called `name` decoding `[base, base + size)`
    /// (normally 0x1000 bytes), labelled [`DEFAULT_LABEL`] in the device
    /// tree.
    pub fn new(name: &str, base: u64, size: u64) -> Self {
        Pl061 {
            name: name.into(),
            label: DEFAULT_LABEL.into(),
            base,
            size,
            data: 0,
            input: 0,
            dir: 0,
            is: 0,
            ibe: 0,
            iev: 0,
            ie: 0,
            edges: 0,
            afsel: 0,
            irq: IrqLine::none(),
            spi: None,
            irq_level: false,
            button: None,
            hold: POWER_BUTTON_HOLD,
        }
    }

    /// Wires GPIOINTR to `line`, which is shared peripheral interrupt `spi`
    /// (the number the device-tree node gives).
    pub fn with_irq(mut self, spi: u32, line: IrqLine) -> Self {
        self.irq = line;
        self.spi = Some(spi);
        self.irq_level = false;
        self.irq.set(false);
        self.sync_irq();
        self
    }

    /// Sets the device-tree label (`gpios = <&label ...>` refers to it).
    pub fn with_label(mut self, label: &str) -> Self {
        self.label = label.into();
        self
    }

    /// Sets how long a power-button press holds the line high.
    pub fn with_button_hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        if let Some(b) = &mut self.button {
            b.hold = hold;
        }
        self
    }

    /// The device-tree label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The power-button handle, wired to line [`POWER_KEY_LINE`] (created on
    /// the first call; later calls return clones of it).
    pub fn power_button(&mut self) -> PowerButton {
        let hold = self.hold;
        let b = self.button.get_or_insert_with(|| Button {
            handle: PowerButton::default(),
            line: POWER_KEY_LINE,
            hold,
            release_at: None,
        });
        b.handle.clone()
    }

    /// Drives input line `line` (0..8) to `level`, as an external signal
    /// would. It reaches GPIODATA and the interrupt logic only while the
    /// line is an input. Out-of-range lines are ignored.
    pub fn set_input(&mut self, line: u8, level: bool) {
        if line >= LINES {
            return;
        }
        let old = self.pins();
        if level {
            self.input |= 1 << line;
        } else {
            self.input &= !(1 << line);
        }
        self.pins_changed(old);
    }

    /// The levels of the eight lines.
    pub fn pins(&self) -> u8 {
        (self.data & self.dir) | (self.input & !self.dir)
    }

    /// Raw interrupt status (GPIORIS).
    pub fn raw_interrupts(&self) -> u8 {
        // Level-sensitive lines are pending while the line is at the
        // active level (high when IEV is set, low otherwise).
        let level = self.is & !(self.pins() ^ self.iev);
        (self.edges & !self.is) | level
    }

    /// Masked interrupt status (GPIOMIS).
    pub fn masked_interrupts(&self) -> u8 {
        self.raw_interrupts() & self.ie
    }

    /// The combined interrupt output GPIOINTR.
    pub fn irq_pending(&self) -> bool {
        self.masked_interrupts() != 0
    }

    /// Latches edge interrupts for a change of line levels from `old`.
    fn pins_changed(&mut self, old: u8) {
        let new = self.pins();
        let changed = old ^ new;
        let rising = changed & new;
        let falling = changed & old;
        let single = (rising & self.iev) | (falling & !self.iev);
        let edge = (changed & self.ibe) | (single & !self.ibe);
        self.edges |= edge & !self.is;
        self.sync_irq();
    }

    fn sync_irq(&mut self) {
        let level = self.irq_pending();
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set(level);
        }
    }

    fn read_reg(&self, offset: u64) -> u32 {
        let v = match offset {
            o if o < reg::DATA_END => self.pins() & ((o >> 2) as u8),
            reg::DIR => self.dir,
            reg::IS => self.is,
            reg::IBE => self.ibe,
            reg::IEV => self.iev,
            reg::IE => self.ie,
            reg::RIS => self.raw_interrupts(),
            reg::MIS => self.masked_interrupts(),
            reg::AFSEL => self.afsel,
            o if o >= primecell::ID_BASE => return primecell::id_register(PERIPH_ID, o).unwrap_or(0),
            // IC is write-only; reserved space reads as zero.
            _ => {
                tracing::debug!(gpio = %self.name, offset = format_args!("{offset:#x}"), "PL061 read of unmodelled offset");
                0
            }
        };
        u32::from(v)
    }

    fn write_reg(&mut self, offset: u64, value: u32) {
        let v = value as u8;
        let old = self.pins();
        match offset {
            o if o < reg::DATA_END => {
                let mask = (o >> 2) as u8;
                self.data = (self.data & !mask) | (v & mask);
            }
            reg::DIR => self.dir = v,
            reg::IS => {
                self.is = v;
                self.edges &= !v;
            }
            reg::IBE => self.ibe = v,
            reg::IEV => self.iev = v,
            reg::IE => self.ie = v,
            reg::IC => self.edges &= !v,
            reg::AFSEL => self.afsel = v,
            // RIS, MIS and the ID registers are read-only.
            _ => {
                tracing::debug!(gpio = %self.name, offset = format_args!("{offset:#x}"), "PL061 write to read-only or unmodelled offset ignored");
            }
        }
        self.pins_changed(old);
    }

    /// Acts on a power-button press and ends a held press, as of `now`.
    fn poll_button(&mut self, now: Instant) {
        let Some(b) = &mut self.button else {
            return;
        };
        let line = b.line;
        if b.handle.pending.swap(false, Ordering::AcqRel) {
            let first = b.release_at.is_none();
            b.release_at = Some(now + b.hold);
            if first {
                tracing::debug!(gpio = %self.name, line, "power button pressed");
                self.set_input(line, true);
            }
        } else if b.release_at.is_some_and(|t| now >= t) {
            b.release_at = None;
            self.set_input(line, false);
        }
    }
}

/// The `gpio-keys` node of QEMU's `virt` board: one `poweroff` key
/// sending `KEY_POWER`, with `gpios` set to `gpios`.
///
/// `gpios` must encode `<&LABEL 3 0>`: the phandle of the controller's node
/// (label [`Pl061::label`]), the line [`POWER_KEY_LINE`] and the flags
/// [`POWER_KEY_GPIO_FLAGS`] (active high). The device-tree model has no
/// value mixing a phandle reference with plain cells yet, so the board
/// builds it with whatever its renderer offers.
pub fn gpio_keys_node(gpios: PropValue) -> Node {
    Node::new("gpio-keys").string("compatible", "gpio-keys").child(
        Node::new("poweroff")
            .string("label", "GPIO Key Poweroff")
            .cells("linux,code", &[KEY_POWER])
            .prop("gpios", gpios),
    )
}

impl Device for Pl061 {
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
        primecell::read(info, |off| self.read_reg(off))
    }

    fn write(&mut self, info: AccessInfo, value: u64) -> Result<(), AccessRejected> {
        let v = primecell::write_value(info, value)?;
        self.write_reg(info.offset, v);
        Ok(())
    }

    fn dt_node(&self) -> Option<Node> {
        let mut n = Node::with_unit("pl061", self.base)
            .labelled(&self.label)
            .strings("compatible", &["arm,pl061", "arm,primecell"])
            .reg64(&[(self.base, self.size)]);
        if let Some(spi) = self.spi {
            // <GIC_SPI spi IRQ_TYPE_LEVEL_HIGH>
            n = n.cells("interrupts", &[0, spi, 4]);
        }
        Some(
            n.flag("gpio-controller")
                .cells("#gpio-cells", &[2])
                .strings("clock-names", &["apb_pclk"])
                .prop("clocks", PropValue::PhandleRefs(vec!["apb_pclk".into()])),
        )
    }

    /// Registers, input levels, latched edges, the interrupt level and
    /// whether the power key is held (a held key is released one hold
    /// time after the restore).
    fn save_state(&self, w: &mut StateWriter) -> Result<(), StateError> {
        for v in [
            self.data, self.input, self.dir, self.is, self.ibe, self.iev, self.ie, self.edges, self.afsel,
        ] {
            w.u8(v);
        }
        w.bool(self.irq_level);
        w.bool(self.button.as_ref().is_some_and(|b| b.release_at.is_some()));
        Ok(())
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let mut regs = [0u8; 9];
        for (v, f) in regs
            .iter_mut()
            .zip(["data", "input", "dir", "is", "ibe", "iev", "ie", "edges", "afsel"])
        {
            *v = r.u8(f)?;
        }
        let irq_level = r.bool("irq_level")?;
        let held = r.bool("power_key_held")?;
        [
            self.data, self.input, self.dir, self.is, self.ibe, self.iev, self.ie, self.edges, self.afsel,
        ] = regs;
        self.irq_level = irq_level;
        if let Some(b) = &mut self.button {
            b.release_at = held.then(|| Instant::now() + b.hold);
        }
        Ok(())
    }

    fn poll(&mut self, _mem: &mut GuestRam) {
        self.poll_button(Instant::now());
    }
}

impl std::fmt::Debug for Pl061 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pl061")
            .field("name", &self.name)
            .field("base", &format_args!("{:#x}", self.base))
            .field("pins", &format_args!("{:#04x}", self.pins()))
            .field("dir", &format_args!("{:#04x}", self.dir))
            .field("ris", &format_args!("{:#04x}", self.raw_interrupts()))
            .field("ie", &format_args!("{:#04x}", self.ie))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irq::{InterruptController, SharedInterruptController};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Level(Vec<(u32, bool)>);

    impl InterruptController for Level {
        fn set_spi(&mut self, spi: u32, level: bool) {
            self.0.push((spi, level));
        }
        fn set_ppi(&mut self, _: usize, _: u32, _: bool) {}
    }

    fn gpio() -> Pl061 {
        Pl061::new("gpio", 0x903_0000, 0x1000)
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

    fn rd(d: &mut Pl061, offset: u64) -> u64 {
        d.read(acc(offset, 4)).unwrap()
    }

    fn wr(d: &mut Pl061, offset: u64, v: u64) {
        d.write(acc(offset, 4), v).unwrap()
    }

    /// GPIODATA address for mask `m`.
    fn data(m: u8) -> u64 {
        u64::from(m) << 2
    }

    fn ram() -> GuestRam {
        GuestRam::with_region("r", 0, 0x1000).unwrap()
    }

    #[test]
    fn reset_values_and_ids() {
        let mut d = gpio();
        for off in [
            data(0xff),
            reg::DIR,
            reg::IS,
            reg::IBE,
            reg::IEV,
            reg::IE,
            reg::RIS,
            reg::MIS,
            reg::AFSEL,
        ] {
            assert_eq!(rd(&mut d, off), 0, "offset {off:#x}");
        }
        let ids: Vec<u64> = (0..8).map(|i| rd(&mut d, 0xfe0 + 4 * i)).collect();
        let periph = ids[..4].iter().enumerate().fold(0, |a, (i, b)| a | b << (8 * i));
        let cell = ids[4..].iter().enumerate().fold(0, |a, (i, b)| a | b << (8 * i));
        assert_eq!((periph, cell), (0x0004_1061, 0xb105_f00d));
        assert_eq!(rd(&mut d, 0x424), 0);
        wr(&mut d, 0xfe0, 0);
        assert_eq!(rd(&mut d, 0xfe0), 0x61);
    }

    #[test]
    fn data_address_masking() {
        let mut d = gpio();
        wr(&mut d, reg::DIR, 0x0f);
        // Write 0xff through mask 0b0000_0101: only lines 0 and 2 change.
        wr(&mut d, data(0b0000_0101), 0xff);
        assert_eq!(rd(&mut d, data(0xff)), 0b0000_0101);
        // Reads return only the masked lines.
        assert_eq!(rd(&mut d, data(0b0000_0001)), 0b0000_0001);
        assert_eq!(rd(&mut d, data(0b0000_0010)), 0);
        assert_eq!(rd(&mut d, data(0)), 0);
        // Mask 0: the write changes nothing.
        wr(&mut d, data(0), 0);
        assert_eq!(rd(&mut d, data(0xff)), 0b0000_0101);
        // Output bits of input lines are stored but do not drive the line
        // until the line becomes an output.
        wr(&mut d, data(0xf0), 0x30);
        assert_eq!(rd(&mut d, data(0xff)), 0b0000_0101);
        wr(&mut d, reg::DIR, 0xff);
        assert_eq!(rd(&mut d, data(0xff)), 0b0011_0101);
        // Byte write to the all-lines address, as drivers do.
        d.write(acc(data(0xff), 1), 0x81).unwrap();
        assert_eq!(d.pins(), 0x81);
    }

    #[test]
    fn inputs_read_through_data_only_as_inputs() {
        let mut d = gpio();
        d.set_input(6, true);
        d.set_input(1, true);
        d.set_input(9, true); // ignored
        assert_eq!(rd(&mut d, data(0xff)), 0b0100_0010);
        assert_eq!(rd(&mut d, data(0x40)), 0x40);
        // As an output, line 6 shows the output register instead.
        wr(&mut d, reg::DIR, 0x40);
        assert_eq!(rd(&mut d, data(0xff)), 0b0000_0010);
        d.set_input(1, false);
        assert_eq!(rd(&mut d, data(0xff)), 0);
    }

    #[test]
    fn edge_interrupts() {
        let rec = Arc::new(Mutex::new(Level::default()));
        let ctrl: SharedInterruptController = rec.clone();
        let mut d = gpio().with_irq(7, IrqLine::spi(ctrl, 7));
        // Line 0 rising, line 1 falling, line 2 both edges; all edge.
        wr(&mut d, reg::IEV, 0b001);
        wr(&mut d, reg::IBE, 0b100);
        wr(&mut d, reg::IE, 0b111);
        d.set_input(1, true); // rising on a falling-edge line: nothing
        assert_eq!(rd(&mut d, reg::RIS), 0);
        d.set_input(0, true);
        assert_eq!(rd(&mut d, reg::RIS), 0b001);
        assert!(d.irq_pending());
        // Latched: going low again keeps it.
        d.set_input(0, false);
        assert_eq!(rd(&mut d, reg::RIS), 0b001);
        d.set_input(1, false);
        assert_eq!(rd(&mut d, reg::RIS), 0b011);
        d.set_input(2, true);
        d.set_input(2, false);
        assert_eq!(rd(&mut d, reg::RIS), 0b111);
        // GPIOIC clears selected edges.
        wr(&mut d, reg::IC, 0b011);
        assert_eq!(rd(&mut d, reg::RIS), 0b100);
        // Masking.
        wr(&mut d, reg::IE, 0b011);
        assert_eq!(rd(&mut d, reg::MIS), 0);
        assert!(!d.irq_pending());
        wr(&mut d, reg::IE, 0b111);
        assert_eq!(rd(&mut d, reg::MIS), 0b100);
        wr(&mut d, reg::IC, 0xff);
        assert_eq!(
            rec.lock().unwrap().0,
            [(7, false), (7, true), (7, false), (7, true), (7, false)]
        );
    }

    #[test]
    fn level_interrupts_follow_the_line() {
        let mut d = gpio();
        // Line 3 high-level, line 4 low-level.
        wr(&mut d, reg::IS, 0b1_1000);
        wr(&mut d, reg::IEV, 0b0_1000);
        wr(&mut d, reg::IE, 0xff);
        // Line 4 is low out of reset: pending at once.
        assert_eq!(rd(&mut d, reg::RIS), 0b1_0000);
        d.set_input(4, true);
        assert_eq!(rd(&mut d, reg::RIS), 0);
        d.set_input(3, true);
        assert_eq!(rd(&mut d, reg::RIS), 0b0_1000);
        // GPIOIC does not clear a level interrupt.
        wr(&mut d, reg::IC, 0xff);
        assert_eq!(rd(&mut d, reg::MIS), 0b0_1000);
        d.set_input(3, false);
        assert_eq!(rd(&mut d, reg::RIS), 0);
        assert!(!d.irq_pending());
    }

    #[test]
    fn outputs_and_direction_changes_make_edges() {
        let mut d = gpio();
        wr(&mut d, reg::IEV, 0xff);
        wr(&mut d, reg::IE, 0xff);
        wr(&mut d, reg::DIR, 0x01);
        wr(&mut d, data(0x01), 1);
        assert_eq!(rd(&mut d, reg::RIS), 0x01);
        wr(&mut d, reg::IC, 0x01);
        // Line 5 is driven high from outside; making it an output (data 0)
        // drops it, turning it back to input raises it.
        d.set_input(5, true);
        wr(&mut d, reg::IC, 0xff);
        wr(&mut d, reg::DIR, 0x21);
        assert_eq!(rd(&mut d, reg::RIS), 0);
        wr(&mut d, reg::DIR, 0x01);
        assert_eq!(rd(&mut d, reg::RIS), 0x20);
        // AFSEL is stored.
        wr(&mut d, reg::AFSEL, 0x1ff);
        assert_eq!(rd(&mut d, reg::AFSEL), 0xff);
    }

    #[test]
    fn power_button_pulses_line_3() {
        let mut d = gpio().with_button_hold(Duration::ZERO);
        let button = d.power_button();
        wr(&mut d, reg::IEV, 0xff);
        wr(&mut d, reg::IBE, 0xff);
        wr(&mut d, reg::IE, 0xff);
        let mut mem = ram();
        d.poll(&mut mem);
        assert_eq!(d.pins(), 0);
        button.clone().press();
        assert!(button.is_pending());
        d.poll(&mut mem);
        assert!(!button.is_pending());
        assert_eq!(rd(&mut d, data(0xff)), 1 << POWER_KEY_LINE);
        assert_eq!(rd(&mut d, reg::RIS), 1 << POWER_KEY_LINE);
        wr(&mut d, reg::IC, 0xff);
        // Released on the next poll once the hold time has passed.
        d.poll(&mut mem);
        assert_eq!(d.pins(), 0);
        assert_eq!(rd(&mut d, reg::RIS), 1 << POWER_KEY_LINE);
    }

    #[test]
    fn power_button_holds_for_the_hold_time() {
        let mut d = gpio();
        let button = d.power_button();
        let t0 = Instant::now();
        button.press();
        d.poll_button(t0);
        assert_eq!(d.pins(), 1 << POWER_KEY_LINE);
        d.poll_button(t0 + POWER_BUTTON_HOLD / 2);
        assert_eq!(d.pins(), 1 << POWER_KEY_LINE);
        // A second press while held extends the hold, without a new edge.
        button.press();
        d.poll_button(t0 + POWER_BUTTON_HOLD / 2);
        d.poll_button(t0 + POWER_BUTTON_HOLD);
        assert_eq!(d.pins(), 1 << POWER_KEY_LINE);
        d.poll_button(t0 + POWER_BUTTON_HOLD * 2);
        assert_eq!(d.pins(), 0);
        // Same handle from a second call.
        d.power_button().press();
        assert!(button.is_pending());
    }

    #[test]
    fn device_tree_nodes() {
        let d = gpio().with_irq(7, IrqLine::none());
        let n = d.dt_node().unwrap();
        assert_eq!(n.name, "pl061@9030000");
        assert_eq!(n.label.as_deref(), Some("gpio0"));
        assert_eq!(
            n.get("compatible"),
            Some(&PropValue::Strings(vec!["arm,pl061".into(), "arm,primecell".into()]))
        );
        assert_eq!(n.get("reg"), Some(&PropValue::Cells(vec![0, 0x903_0000, 0, 0x1000])));
        assert_eq!(n.get("interrupts"), Some(&PropValue::Cells(vec![0, 7, 4])));
        assert_eq!(n.get("gpio-controller"), Some(&PropValue::Empty));
        assert_eq!(n.get("#gpio-cells"), Some(&PropValue::Cells(vec![2])));
        assert_eq!(n.get("clock-names"), Some(&PropValue::Strings(vec!["apb_pclk".into()])));
        assert_eq!(n.get("clocks"), Some(&PropValue::PhandleRefs(vec!["apb_pclk".into()])));
        assert_eq!(gpio().with_label("gpio1").label(), "gpio1");

        let keys = gpio_keys_node(PropValue::Cells(vec![0x8004, 3, 0]));
        assert_eq!(keys.name, "gpio-keys");
        assert_eq!(
            keys.get("compatible"),
            Some(&PropValue::Strings(vec!["gpio-keys".into()]))
        );
        let key = &keys.children[0];
        assert_eq!(key.name, "poweroff");
        assert_eq!(
            key.get("label"),
            Some(&PropValue::Strings(vec!["GPIO Key Poweroff".into()]))
        );
        assert_eq!(key.get("linux,code"), Some(&PropValue::Cells(vec![116])));
        assert_eq!(key.get("gpios"), Some(&PropValue::Cells(vec![0x8004, 3, 0])));
    }

    #[test]
    fn state_survives_a_snapshot_round_trip() {
        let mut a = gpio();
        wr(&mut a, 0x400, 0x0f); // GPIODIR
        wr(&mut a, 0x410, 0x08); // GPIOIE
        wr(&mut a, data(0xff), 0x05);
        let mut b = gpio();
        let (first, second) = crate::snapshot::round_trip(&a, &mut b);
        assert_eq!(first, second);
        for off in [0x400, 0x410, 0x3fc, 0x414] {
            assert_eq!(rd(&mut a, off), rd(&mut b, off), "offset {off:#x}");
        }
    }
}
