//! Arm PrimeCell UART (PL011, ARM DDI 0183) as a pure state machine.
//!
//! Transmission is instantaneous: a byte written to DR goes straight to the
//! host [`CharBackend`], so the transmit FIFO is always empty (FR.TXFE = 1,
//! FR.TXFF = 0, FR.BUSY = 0). Received bytes come from the host through
//! [`Pl011::push_rx`] into a receive FIFO of 16 entries (1 when LCR_H.FEN
//! is clear, as on hardware). Between CPU turns the machine calls
//! [`Device::poll`], which reads the backend's input into a host-side
//! buffer (at most [`RX_BUFFER`] bytes; the backend keeps the rest) and
//! moves it into the FIFO as room appears, including right after the guest
//! reads DR; so host input is never lost to an overrun.
//!
//! # What the Linux `amba-pl011` driver relies on
//!
//! - UARTPeriphID0-3 / UARTPCellID0-3 at 0xfe0-0xffc read 0x00141011 /
//!   0xb105f00d (ARM, part 0x011, revision 1: the values QEMU gives), which
//!   the AMBA bus matches before probing.
//! - FR: RXFE, RXFF, TXFE, TXFF and BUSY as described above; the modem
//!   status bits (CTS, DSR, DCD, RI) read 0 and UARTRSR's error bits stay
//!   clear except for overrun in loopback.
//! - IBRD, FBRD, LCR_H, CR, IFLS, IMSC and DMACR are stored and read back
//!   (with their reserved bits cleared) but have no effect on timing: there
//!   is no baud rate. DMACR is stored; no DMA request is ever raised, so a
//!   driver without DMA channels in its device tree node (ours has none)
//!   never uses it. Test registers (0x080-0x08c) read as zero.
//! - Interrupts RX, RT and TX behave as described below.
//!
//! # Enable bits
//!
//! The TRM says data is transmitted only when CR.UARTEN and CR.TXE are set
//! (and received only with UARTEN and RXE). CR resets to 0x300, so UARTEN
//! is clear out of reset, yet a lot of bare-metal firmware written for QEMU
//! writes DR without ever touching CR, and QEMU transmits regardless. We do
//! the same: CR is stored and read back faithfully, but the enable bits do
//! not gate data in either direction. Loopback (CR.LBE) is modelled: while
//! it is set, transmitted bytes go to the receive FIFO instead of the host.
//!
//! # Interrupts
//!
//! Interrupt status (RIS/MIS/IMSC/ICR) is modelled; the combined output
//! UARTINTR ([`Pl011::irq_pending`]) drives the [`IrqLine`] given with
//! [`Pl011::with_irq`] (level-sensitive, updated after every access and
//! every poll that delivers input). With instantaneous transmission the TX FIFO always drains through its
//! trigger level right after a DR write, so each DR write sets TXRIS (the
//! PL011 transmit interrupt is level-crossing, hence clear at reset). No
//! time is modelled, so the receive timeout (RTRIS) is raised as soon as a
//! burst of received data arrives and cleared when the FIFO empties or by
//! ICR, which lets drivers that wait for the timeout see short input.
//!
//! # Access sizes
//!
//! Registers are 32 bits wide. Reads of 1, 2 or 4 bytes at any offset that
//! stays inside one register return the corresponding bytes (an APB bridge
//! presents a narrow read as a word read and selects the lanes); writes of
//! 1, 2 or 4 bytes must start at the register's offset and write the value
//! zero-extended (firmware commonly uses `strb` to DR). 8-byte accesses and
//! misaligned writes are rejected. Reserved offsets inside the window read
//! as zero and ignore writes.

use std::collections::VecDeque;
use std::io::Write;

use crate::chardev::{CharBackend, Writer};
use crate::device::{AccessInfo, AccessRejected, Device, MmioRegion};
use crate::dt::{Node, PropValue};
use crate::irq::IrqLine;
use crate::primecell;
use crate::ram::GuestRam;
use crate::snapshot::{StateError, StateReader, StateWriter};

/// Register offsets.
mod reg {
    pub const DR: u64 = 0x000;
    pub const RSR_ECR: u64 = 0x004;
    pub const FR: u64 = 0x018;
    pub const ILPR: u64 = 0x020;
    pub const IBRD: u64 = 0x024;
    pub const FBRD: u64 = 0x028;
    pub const LCR_H: u64 = 0x02c;
    pub const CR: u64 = 0x030;
    pub const IFLS: u64 = 0x034;
    pub const IMSC: u64 = 0x038;
    pub const RIS: u64 = 0x03c;
    pub const MIS: u64 = 0x040;
    pub const ICR: u64 = 0x044;
    pub const DMACR: u64 = 0x048;
}

/// UARTFR bits.
pub mod fr {
    /// Busy transmitting.
    pub const BUSY: u32 = 1 << 3;
    /// Receive FIFO empty.
    pub const RXFE: u32 = 1 << 4;
    /// Transmit FIFO full.
    pub const TXFF: u32 = 1 << 5;
    /// Receive FIFO full.
    pub const RXFF: u32 = 1 << 6;
    /// Transmit FIFO empty.
    pub const TXFE: u32 = 1 << 7;
}

/// UARTCR bits.
pub mod cr {
    /// UART enable.
    pub const UARTEN: u32 = 1 << 0;
    /// Loopback enable.
    pub const LBE: u32 = 1 << 7;
    /// Transmit enable.
    pub const TXE: u32 = 1 << 8;
    /// Receive enable.
    pub const RXE: u32 = 1 << 9;
}

/// Interrupt bits, shared by IMSC, RIS, MIS and ICR.
pub mod int {
    /// Receive.
    pub const RX: u32 = 1 << 4;
    /// Transmit.
    pub const TX: u32 = 1 << 5;
    /// Receive timeout.
    pub const RT: u32 = 1 << 6;
    /// Overrun error.
    pub const OE: u32 = 1 << 10;
    /// All eleven interrupt bits.
    pub const ALL: u32 = 0x7ff;
}

/// UARTLCR_H.FEN: FIFOs enabled.
const LCR_H_FEN: u32 = 1 << 4;
/// UARTRSR.OE: overrun error.
const RSR_OE: u32 = 1 << 3;
/// Receive FIFO depth with FIFOs enabled.
const FIFO_DEPTH: usize = 16;
/// CR reset value: TXE | RXE.
const CR_RESET: u32 = 0x300;
/// IFLS reset value: both triggers at half full.
const IFLS_RESET: u32 = 0x12;
/// UARTPeriphID0-3 (PCellID is the PrimeCell one).
const PERIPH_ID: u32 = 0x0014_1011;
/// Host input a UART holds beyond its receive FIFO, waiting for room; the
/// backend keeps anything more (a socket's or a pipe's own buffering).
pub const RX_BUFFER: usize = 4096;

/// A PL011 UART.
pub struct Pl011 {
    name: String,
    base: u64,
    size: u64,
    backend: Box<dyn CharBackend>,
    /// Host input read from the backend, not yet in the receive FIFO.
    pending: VecDeque<u8>,
    rx: VecDeque<u8>,
    rsr: u32,
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    imsc: u32,
    ris: u32,
    dmacr: u32,
    /// The interrupt output and the SPI it is wired to (for the DT node).
    irq: IrqLine,
    spi: Option<u32>,
    irq_level: bool,
}

impl Pl011 {
    /// A UART called `name` decoding `[base, base + size)` (normally
    /// 0x1000 bytes), connected to the host through `backend`.
    pub fn new(name: &str, base: u64, size: u64, backend: Box<dyn CharBackend>) -> Self {
        Pl011 {
            name: name.into(),
            base,
            size,
            backend,
            pending: VecDeque::new(),
            rx: VecDeque::with_capacity(FIFO_DEPTH),
            rsr: 0,
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            cr: CR_RESET,
            ifls: IFLS_RESET,
            imsc: 0,
            ris: 0,
            dmacr: 0,
            irq: IrqLine::none(),
            spi: None,
            irq_level: false,
        }
    }

    /// A UART transmitting to `out`, with no input (tests, logs).
    pub fn with_writer(name: &str, base: u64, size: u64, out: Box<dyn Write + Send>) -> Self {
        Pl011::new(name, base, size, Box::new(Writer::new(out)))
    }

    /// Wires UARTINTR to `line`, which is shared peripheral interrupt `spi`
    /// (the number the device tree node gives).
    pub fn with_irq(mut self, spi: u32, line: IrqLine) -> Self {
        self.irq = line;
        self.spi = Some(spi);
        self.sync_irq();
        self
    }

    /// Drives the interrupt line from the current status (only on change,
    /// so that printing does not cost an interrupt-controller update).
    fn sync_irq(&mut self) {
        let level = self.irq_pending();
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set(level);
        }
    }

    /// Receive FIFO capacity in the current mode: 16, or 1 with FIFOs off.
    fn rx_depth(&self) -> usize {
        if self.lcr_h & LCR_H_FEN != 0 {
            FIFO_DEPTH
        } else {
            1
        }
    }

    /// FIFO level at which RXRIS asserts, from IFLS.RXIFLSEL.
    fn rx_trigger(&self) -> usize {
        if self.lcr_h & LCR_H_FEN == 0 {
            return 1;
        }
        // 1/8, 1/4, 1/2, 3/4, 7/8 of 16; reserved encodings act as 1/2.
        match (self.ifls >> 3) & 7 {
            0 => 2,
            1 => 4,
            3 => 12,
            4 => 14,
            _ => 8,
        }
    }

    /// Room left in the receive FIFO.
    pub fn rx_space(&self) -> usize {
        self.rx_depth().saturating_sub(self.rx.len())
    }

    /// Number of bytes waiting in the receive FIFO.
    pub fn rx_level(&self) -> usize {
        self.rx.len()
    }

    /// Host input read from the backend and waiting for room in the
    /// receive FIFO.
    pub fn pending_input(&self) -> usize {
        self.pending.len()
    }

    /// Moves buffered host input into the receive FIFO while it has room.
    fn refill_rx(&mut self) {
        let n = self.rx_space().min(self.pending.len()).min(FIFO_DEPTH);
        if n == 0 {
            return;
        }
        let mut buf = [0u8; FIFO_DEPTH];
        for (d, s) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *d = s;
        }
        self.push_rx(&buf[..n]);
    }

    /// Queues host input. Accepts as many bytes as fit in the receive FIFO
    /// and returns how many; the caller keeps the rest and retries when the
    /// guest has read some (so host input is never lost to an overrun).
    pub fn push_rx(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.rx_space());
        self.rx.extend(&bytes[..n]);
        if n > 0 {
            self.update_rx_interrupts();
            self.ris |= int::RT;
            self.sync_irq();
        }
        n
    }

    /// Raw interrupt status (UARTRIS).
    pub fn raw_interrupts(&self) -> u32 {
        self.ris
    }

    /// Masked interrupt status (UARTMIS).
    pub fn masked_interrupts(&self) -> u32 {
        self.ris & self.imsc
    }

    /// The combined interrupt output UARTINTR.
    pub fn irq_pending(&self) -> bool {
        self.masked_interrupts() != 0
    }

    /// The control register (UARTCR).
    pub fn control(&self) -> u32 {
        self.cr
    }

    fn update_rx_interrupts(&mut self) {
        if self.rx.len() >= self.rx_trigger() {
            self.ris |= int::RX;
        } else {
            self.ris &= !int::RX;
        }
        if self.rx.is_empty() {
            self.ris &= !int::RT;
        }
    }

    fn flag_register(&self) -> u32 {
        let mut v = fr::TXFE;
        if self.rx.is_empty() {
            v |= fr::RXFE;
        }
        if self.rx.len() >= self.rx_depth() {
            v |= fr::RXFF;
        }
        v
    }

    fn transmit(&mut self, byte: u8) {
        self.ris |= int::TX;
        if self.cr & cr::LBE != 0 {
            if self.rx.len() < self.rx_depth() {
                self.rx.push_back(byte);
                self.update_rx_interrupts();
                self.ris |= int::RT;
            } else {
                self.rsr |= RSR_OE;
                self.ris |= int::OE;
            }
            return;
        }
        self.backend.write(&[byte]);
    }

    /// Value of the 32-bit register at `offset` (4-aligned). `debug` reads
    /// have no side effects.
    fn read_reg(&mut self, offset: u64, debug: bool) -> u32 {
        match offset {
            reg::DR => {
                if debug {
                    return self.rx.front().copied().map_or(0, u32::from);
                }
                let v = self.rx.pop_front().map_or(0, u32::from);
                self.update_rx_interrupts();
                self.refill_rx();
                v
            }
            reg::RSR_ECR => self.rsr,
            reg::FR => self.flag_register(),
            reg::ILPR => self.ilpr,
            reg::IBRD => self.ibrd,
            reg::FBRD => self.fbrd,
            reg::LCR_H => self.lcr_h,
            reg::CR => self.cr,
            reg::IFLS => self.ifls,
            reg::IMSC => self.imsc,
            reg::RIS => self.ris,
            reg::MIS => self.masked_interrupts(),
            reg::DMACR => self.dmacr,
            o if o >= primecell::ID_BASE => primecell::id_register(PERIPH_ID, o).unwrap_or(0),
            // ICR is write-only; reserved and test registers read as zero.
            _ => {
                tracing::debug!(uart = %self.name, offset = format_args!("{offset:#x}"), "PL011 read of unmodelled offset");
                0
            }
        }
    }

    fn write_reg(&mut self, offset: u64, value: u32) {
        match offset {
            reg::DR => self.transmit(value as u8),
            reg::RSR_ECR => self.rsr = 0,
            reg::ILPR => self.ilpr = value & 0xff,
            reg::IBRD => self.ibrd = value & 0xffff,
            reg::FBRD => self.fbrd = value & 0x3f,
            reg::LCR_H => {
                self.lcr_h = value & 0xff;
                self.update_rx_interrupts();
            }
            reg::CR => self.cr = value & 0xff87,
            reg::IFLS => {
                self.ifls = value & 0x3f;
                self.update_rx_interrupts();
            }
            reg::IMSC => self.imsc = value & int::ALL,
            reg::ICR => self.ris &= !(value & int::ALL),
            reg::DMACR => self.dmacr = value & 0x7,
            // FR, RIS, MIS and the ID registers are read-only.
            _ => {
                tracing::debug!(uart = %self.name, offset = format_args!("{offset:#x}"), "PL011 write to read-only or unmodelled offset ignored");
            }
        }
    }
}

impl Device for Pl011 {
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
        let v = primecell::read(info, |off| self.read_reg(off, info.debug))?;
        self.sync_irq();
        Ok(v)
    }

    fn write(&mut self, info: AccessInfo, value: u64) -> Result<(), AccessRejected> {
        let v = primecell::write_value(info, value)?;
        self.write_reg(info.offset, v);
        self.sync_irq();
        Ok(())
    }

    /// Reads the backend's input (up to [`RX_BUFFER`] bytes held here) and
    /// moves what fits into the receive FIFO, updating RX/RT and the
    /// interrupt line.
    fn poll(&mut self, _mem: &mut GuestRam) {
        let mut buf = [0u8; 256];
        while self.pending.len() < RX_BUFFER {
            let want = buf.len().min(RX_BUFFER - self.pending.len());
            let n = self.backend.read_available(&mut buf[..want]);
            if n == 0 {
                break;
            }
            self.pending.extend(&buf[..n]);
        }
        self.refill_rx();
        self.sync_irq();
    }

    /// Only the backend counts: held input needs the guest to read DR,
    /// which refills the FIFO by itself.
    fn can_produce_input(&self) -> bool {
        self.backend.can_produce_input()
    }

    /// Registers, the receive FIFO and the input held for it, the
    /// interrupt level; the backend is the restoring machine's.
    fn save_state(&self, w: &mut StateWriter) -> Result<(), StateError> {
        w.bytes(&self.pending.iter().copied().collect::<Vec<u8>>());
        w.bytes(&self.rx.iter().copied().collect::<Vec<u8>>());
        for v in [
            self.rsr, self.ilpr, self.ibrd, self.fbrd, self.lcr_h, self.cr, self.ifls, self.imsc, self.ris, self.dmacr,
        ] {
            w.u32(v);
        }
        w.bool(self.irq_level);
        Ok(())
    }

    fn restore_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let pending = r.bytes("pending")?;
        let rx = r.bytes("rx")?;
        if pending.len() > RX_BUFFER || rx.len() > FIFO_DEPTH {
            return Err(r.invalid("rx", format!("{} + {} bytes held", rx.len(), pending.len())));
        }
        let mut regs = [0u32; 10];
        for (v, f) in regs.iter_mut().zip([
            "rsr", "ilpr", "ibrd", "fbrd", "lcr_h", "cr", "ifls", "imsc", "ris", "dmacr",
        ]) {
            *v = r.u32(f)?;
        }
        let irq_level = r.bool("irq_level")?;
        self.pending = pending.into();
        self.rx = rx.into();
        [
            self.rsr, self.ilpr, self.ibrd, self.fbrd, self.lcr_h, self.cr, self.ifls, self.imsc, self.ris, self.dmacr,
        ] = regs;
        self.irq_level = irq_level;
        Ok(())
    }

    fn dt_node(&self) -> Option<Node> {
        let mut n = Node::with_unit("pl011", self.base)
            .strings("compatible", &["arm,pl011", "arm,primecell"])
            .reg64(&[(self.base, self.size)]);
        if let Some(spi) = self.spi {
            // <GIC_SPI spi IRQ_TYPE_LEVEL_HIGH>
            n = n.cells("interrupts", &[0, spi, 4]);
        }
        Some(n.strings("clock-names", &["uartclk", "apb_pclk"]).prop(
            "clocks",
            PropValue::PhandleRefs(vec!["apb_pclk".into(), "apb_pclk".into()]),
        ))
    }
}

impl std::fmt::Debug for Pl011 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pl011")
            .field("name", &self.name)
            .field("base", &format_args!("{:#x}", self.base))
            .field("cr", &format_args!("{:#x}", self.cr))
            .field("lcr_h", &format_args!("{:#x}", self.lcr_h))
            .field("rx_level", &self.rx.len())
            .field("ris", &format_args!("{:#x}", self.ris))
            .field("imsc", &format_args!("{:#x}", self.imsc))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer tests can look into.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn uart() -> (Pl011, Sink) {
        let sink = Sink::default();
        (
            Pl011::with_writer("uart0", 0x900_0000, 0x1000, Box::new(sink.clone())),
            sink,
        )
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

    fn rd(u: &mut Pl011, offset: u64) -> u64 {
        u.read(acc(offset, 4)).unwrap()
    }

    fn wr(u: &mut Pl011, offset: u64, v: u64) {
        u.write(acc(offset, 4), v).unwrap()
    }

    #[test]
    fn reset_values() {
        let (mut u, _) = uart();
        assert_eq!(rd(&mut u, reg::FR), u64::from(fr::TXFE | fr::RXFE));
        assert_eq!(rd(&mut u, reg::CR), 0x300);
        assert_eq!(rd(&mut u, reg::IFLS), 0x12);
        for off in [
            reg::RSR_ECR,
            reg::ILPR,
            reg::IBRD,
            reg::FBRD,
            reg::LCR_H,
            reg::IMSC,
            reg::RIS,
            reg::MIS,
        ] {
            assert_eq!(rd(&mut u, off), 0, "offset {off:#x}");
        }
        assert_eq!(rd(&mut u, reg::DR), 0);
    }

    #[test]
    fn id_registers() {
        let (mut u, _) = uart();
        let ids: Vec<u64> = (0..8).map(|i| rd(&mut u, 0xfe0 + 4 * i)).collect();
        assert_eq!(ids, [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        wr(&mut u, 0xfe0, 0xff);
        assert_eq!(rd(&mut u, 0xfe0), 0x11);
    }

    #[test]
    fn transmit_without_enabling_and_with_strb() {
        let (mut u, sink) = uart();
        // Firmware written for QEMU writes DR straight out of reset.
        for &b in b"hi" {
            u.write(acc(reg::DR, 1), u64::from(b)).unwrap();
        }
        wr(&mut u, reg::DR, 0xffff_ff00 | u64::from(b'!'));
        u.write(acc(reg::DR, 2), u64::from(b'\n')).unwrap();
        assert_eq!(&*sink.0.lock().unwrap(), b"hi!\n");
        assert_eq!(rd(&mut u, reg::FR) & u64::from(fr::TXFF | fr::BUSY), 0);
        assert_eq!(rd(&mut u, reg::RIS), u64::from(int::TX));
    }

    #[test]
    fn registers_read_back_masked() {
        let (mut u, _) = uart();
        wr(&mut u, reg::IBRD, 0x1_0027);
        wr(&mut u, reg::FBRD, 0xff);
        wr(&mut u, reg::LCR_H, 0x170);
        wr(&mut u, reg::CR, 0xffff_ffff);
        wr(&mut u, reg::ILPR, 0x1ff);
        wr(&mut u, reg::DMACR, 0xf);
        wr(&mut u, reg::IMSC, 0xffff);
        assert_eq!(rd(&mut u, reg::IBRD), 0x27);
        assert_eq!(rd(&mut u, reg::FBRD), 0x3f);
        assert_eq!(rd(&mut u, reg::LCR_H), 0x70);
        assert_eq!(rd(&mut u, reg::CR), 0xff87);
        assert_eq!(rd(&mut u, reg::ILPR), 0xff);
        assert_eq!(rd(&mut u, reg::DMACR), 0x7);
        assert_eq!(rd(&mut u, reg::IMSC), 0x7ff);
        // Read-only registers ignore writes.
        wr(&mut u, reg::FR, 0);
        wr(&mut u, reg::RIS, 0x7ff);
        assert_eq!(rd(&mut u, reg::FR), u64::from(fr::TXFE | fr::RXFE));
        assert_eq!(rd(&mut u, reg::RIS), 0);
        // Reserved space reads as zero.
        assert_eq!(rd(&mut u, 0x8), 0);
        assert_eq!(rd(&mut u, 0x800), 0);
    }

    #[test]
    fn access_sizes() {
        let (mut u, _) = uart();
        assert_eq!(u.read(acc(reg::DR, 8)), Err(AccessRejected));
        assert_eq!(u.write(acc(reg::DR, 8), 0), Err(AccessRejected));
        assert_eq!(u.read(acc(reg::CR, 1)).unwrap(), 0x00);
        assert_eq!(u.read(acc(reg::CR + 1, 1)).unwrap(), 0x03);
        assert_eq!(u.read(acc(reg::CR, 2)).unwrap(), 0x300);
        assert_eq!(u.read(acc(0xfe4 + 2, 2)).unwrap(), 0);
        assert_eq!(u.read(acc(reg::CR + 2, 4)), Err(AccessRejected));
        assert_eq!(u.read(acc(reg::CR + 3, 2)), Err(AccessRejected));
        assert_eq!(u.write(acc(reg::CR + 1, 1), 3), Err(AccessRejected));
        u.write(acc(reg::CR, 2), 0x301).unwrap();
        assert_eq!(rd(&mut u, reg::CR), 0x301);
        u.write(acc(reg::CR, 1), 0x01).unwrap();
        assert_eq!(rd(&mut u, reg::CR), 0x001);
    }

    #[test]
    fn rx_fifo_mode_off_holds_one_byte() {
        let (mut u, _) = uart();
        assert_eq!(u.rx_space(), 1);
        assert_eq!(u.push_rx(b"ab"), 1);
        assert_eq!(rd(&mut u, reg::FR), u64::from(fr::TXFE | fr::RXFF));
        assert_eq!(rd(&mut u, reg::RIS), u64::from(int::RX | int::RT));
        assert_eq!(rd(&mut u, reg::DR), u64::from(b'a'));
        assert_eq!(rd(&mut u, reg::FR), u64::from(fr::TXFE | fr::RXFE));
        assert_eq!(rd(&mut u, reg::RIS), 0);
        assert_eq!(u.push_rx(b"b"), 1);
    }

    #[test]
    fn rx_fifo_trigger_levels_and_timeout() {
        let (mut u, _) = uart();
        wr(&mut u, reg::LCR_H, u64::from(LCR_H_FEN));
        wr(&mut u, reg::IMSC, u64::from(int::RX | int::RT));
        assert_eq!(u.rx_space(), 16);
        // Below the 1/2 trigger: only the timeout interrupt.
        assert_eq!(u.push_rx(b"1234567"), 7);
        assert_eq!(rd(&mut u, reg::RIS), u64::from(int::RT));
        assert!(u.irq_pending());
        // Acknowledging the timeout clears it while data stays.
        wr(&mut u, reg::ICR, u64::from(int::RT));
        assert!(!u.irq_pending());
        assert_eq!(u.push_rx(b"8"), 1);
        assert_eq!(rd(&mut u, reg::MIS), u64::from(int::RX | int::RT));
        // Reading below the trigger clears RXRIS; emptying clears RTRIS.
        assert_eq!(rd(&mut u, reg::DR), u64::from(b'1'));
        assert_eq!(rd(&mut u, reg::RIS), u64::from(int::RT));
        for _ in 0..7 {
            rd(&mut u, reg::DR);
        }
        assert_eq!(rd(&mut u, reg::RIS), 0);
        assert_eq!(rd(&mut u, reg::FR), u64::from(fr::TXFE | fr::RXFE));
        // Filling up: 16 accepted, FR.RXFF set, the rest left to the caller.
        assert_eq!(u.push_rx(&[b'x'; 20]), 16);
        assert_eq!(rd(&mut u, reg::FR), u64::from(fr::TXFE | fr::RXFF));
        assert_eq!(u.push_rx(b"y"), 0);
        // 1/8 trigger.
        let (mut u, _) = uart();
        wr(&mut u, reg::LCR_H, u64::from(LCR_H_FEN));
        wr(&mut u, reg::IFLS, 0);
        u.push_rx(b"a");
        assert_eq!(rd(&mut u, reg::RIS) & u64::from(int::RX), 0);
        u.push_rx(b"b");
        assert_eq!(rd(&mut u, reg::RIS) & u64::from(int::RX), u64::from(int::RX));
    }

    /// A backend whose input is scripted by the test and whose output is
    /// recorded.
    #[derive(Clone, Default)]
    struct Fake {
        input: Arc<Mutex<VecDeque<u8>>>,
        output: Arc<Mutex<Vec<u8>>>,
        open: Arc<Mutex<bool>>,
    }

    impl CharBackend for Fake {
        fn write(&mut self, bytes: &[u8]) {
            self.output.lock().unwrap().extend_from_slice(bytes);
        }
        fn read_available(&mut self, buf: &mut [u8]) -> usize {
            let mut i = self.input.lock().unwrap();
            let n = buf.len().min(i.len());
            for (d, s) in buf.iter_mut().zip(i.drain(..n)) {
                *d = s;
            }
            n
        }
        fn can_produce_input(&self) -> bool {
            *self.open.lock().unwrap()
        }
        fn describe(&self) -> String {
            "fake".into()
        }
    }

    /// An interrupt controller that remembers the level of each SPI.
    #[derive(Default)]
    struct Levels(Vec<(u32, bool)>);

    impl crate::irq::InterruptController for Levels {
        fn set_spi(&mut self, spi: u32, level: bool) {
            self.0.push((spi, level));
        }
        fn set_ppi(&mut self, _cpu: usize, _intid: u32, _level: bool) {}
    }

    fn poll(u: &mut Pl011) {
        let mut ram = GuestRam::new();
        u.poll(&mut ram);
    }

    #[test]
    fn input_through_poll_is_never_lost() {
        let fake = Fake::default();
        let levels = Arc::new(Mutex::new(Levels::default()));
        let ctrl: crate::irq::SharedInterruptController = levels.clone();
        let mut u = Pl011::new("uart0", 0x900_0000, 0x1000, Box::new(fake.clone())).with_irq(1, IrqLine::spi(ctrl, 1));
        wr(&mut u, reg::LCR_H, u64::from(LCR_H_FEN));
        wr(&mut u, reg::IMSC, u64::from(int::RX | int::RT));
        assert!(!u.can_produce_input());
        *fake.open.lock().unwrap() = true;
        assert!(u.can_produce_input());

        // Nothing yet: no interrupt.
        poll(&mut u);
        assert_eq!(rd(&mut u, reg::RIS), 0);
        assert!(levels.lock().unwrap().0.is_empty());

        // Three bytes: below the 1/2 trigger, so only the timeout.
        fake.input.lock().unwrap().extend(b"abc");
        poll(&mut u);
        assert_eq!(rd(&mut u, reg::RIS), u64::from(int::RT));
        assert_eq!(levels.lock().unwrap().0, [(1, true)]);
        for &b in b"abc" {
            assert_eq!(rd(&mut u, reg::DR), u64::from(b));
        }
        assert_eq!(rd(&mut u, reg::RIS), 0);
        assert_eq!(levels.lock().unwrap().0, [(1, true), (1, false)]);

        // More than the FIFO holds: 16 in the FIFO, the rest held.
        let data: Vec<u8> = (0..40).collect();
        fake.input.lock().unwrap().extend(&data);
        poll(&mut u);
        assert_eq!((u.rx_level(), u.pending_input()), (16, 24));
        assert_eq!(rd(&mut u, reg::FR), u64::from(fr::TXFE | fr::RXFF));
        assert_eq!(rd(&mut u, reg::RIS), u64::from(int::RX | int::RT));
        assert!(u.irq_pending());
        // Polling again loses nothing and overruns nothing.
        poll(&mut u);
        assert_eq!((u.rx_level(), u.pending_input()), (16, 24));
        assert_eq!(rd(&mut u, reg::RSR_ECR), 0);
        // Reading DR refills the FIFO from what is held, in order.
        let mut got = Vec::new();
        while rd(&mut u, reg::FR) & u64::from(fr::RXFE) == 0 {
            got.push(rd(&mut u, reg::DR) as u8);
        }
        assert_eq!(got, data);
        assert_eq!(rd(&mut u, reg::RIS), 0);
        assert!(!u.irq_pending());

        // The backend closes: nothing more can come.
        *fake.open.lock().unwrap() = false;
        assert!(!u.can_produce_input());
    }

    #[test]
    fn input_with_fifo_disabled_moves_one_byte_at_a_time() {
        let fake = Fake::default();
        let mut u = Pl011::new("uart0", 0x900_0000, 0x1000, Box::new(fake.clone()));
        fake.input.lock().unwrap().extend(b"xyz");
        poll(&mut u);
        assert_eq!((u.rx_level(), u.pending_input()), (1, 2));
        assert_eq!(rd(&mut u, reg::RIS), u64::from(int::RX | int::RT));
        assert_eq!(rd(&mut u, reg::DR), u64::from(b'x'));
        assert_eq!(rd(&mut u, reg::DR), u64::from(b'y'));
        assert_eq!(rd(&mut u, reg::DR), u64::from(b'z'));
        assert_eq!(rd(&mut u, reg::FR) & u64::from(fr::RXFE), u64::from(fr::RXFE));
        // Output reaches the backend.
        wr(&mut u, reg::DR, u64::from(b'!'));
        assert_eq!(&*fake.output.lock().unwrap(), b"!");
    }

    #[test]
    fn held_input_is_bounded() {
        let fake = Fake::default();
        let mut u = Pl011::new("uart0", 0x900_0000, 0x1000, Box::new(fake.clone()));
        fake.input.lock().unwrap().extend(vec![b'.'; 2 * RX_BUFFER]);
        poll(&mut u);
        assert_eq!(u.rx_level() + u.pending_input(), RX_BUFFER);
        assert_eq!(fake.input.lock().unwrap().len(), RX_BUFFER);
    }

    #[test]
    fn debug_reads_do_not_pop() {
        let (mut u, _) = uart();
        u.push_rx(b"z");
        let dbg = AccessInfo {
            debug: true,
            ..acc(reg::DR, 4)
        };
        assert_eq!(u.read(dbg).unwrap(), u64::from(b'z'));
        assert_eq!(u.read(dbg).unwrap(), u64::from(b'z'));
        assert_eq!(u.rx_level(), 1);
        assert_eq!(rd(&mut u, reg::RIS), u64::from(int::RX | int::RT));
        assert_eq!(rd(&mut u, reg::DR), u64::from(b'z'));
        assert_eq!(u.rx_level(), 0);
    }

    #[test]
    fn loopback_and_overrun() {
        let (mut u, sink) = uart();
        wr(&mut u, reg::CR, u64::from(cr::UARTEN | cr::TXE | cr::RXE | cr::LBE));
        wr(&mut u, reg::DR, u64::from(b'q'));
        assert!(sink.0.lock().unwrap().is_empty());
        assert_eq!(rd(&mut u, reg::FR) & u64::from(fr::RXFE), 0);
        // FIFO off: the second byte overruns.
        wr(&mut u, reg::DR, u64::from(b'r'));
        assert_eq!(rd(&mut u, reg::RSR_ECR), u64::from(RSR_OE));
        assert_ne!(rd(&mut u, reg::RIS) & u64::from(int::OE), 0);
        assert_eq!(rd(&mut u, reg::DR), u64::from(b'q'));
        wr(&mut u, reg::RSR_ECR, 0);
        assert_eq!(rd(&mut u, reg::RSR_ECR), 0);
        wr(&mut u, reg::ICR, u64::from(int::ALL));
        assert_eq!(rd(&mut u, reg::RIS), 0);
    }

    #[test]
    fn device_tree_node() {
        let (u, _) = uart();
        let n = u.dt_node().unwrap();
        assert_eq!(n.name, "pl011@9000000");
        assert_eq!(
            n.get("compatible"),
            Some(&PropValue::Strings(vec!["arm,pl011".into(), "arm,primecell".into()]))
        );
        assert_eq!(n.get("reg"), Some(&PropValue::Cells(vec![0, 0x900_0000, 0, 0x1000])));
        assert_eq!(
            n.get("clock-names"),
            Some(&PropValue::Strings(vec!["uartclk".into(), "apb_pclk".into()]))
        );
        assert_eq!(
            n.get("clocks"),
            Some(&PropValue::PhandleRefs(vec!["apb_pclk".into(), "apb_pclk".into()]))
        );
        assert_eq!(n.get("interrupts"), None);
        assert_eq!(
            u.regions(),
            [MmioRegion {
                base: 0x900_0000,
                size: 0x1000
            }]
        );
    }

    #[test]
    fn on_the_bus() {
        use crate::bus::SystemBus;
        use crate::ram::GuestRam;
        use cpu_aarch64::bus::{AccessKind, Bus, PhysAddr, Requester};

        let (u, sink) = uart();
        let mut bus = SystemBus::new(GuestRam::with_region("dram", 0x4000_0000, 0x1000).unwrap());
        bus.add_device(Box::new(u)).unwrap();
        let req = Requester {
            cpu: 0,
            kind: AccessKind::Data,
        };
        bus.write(req, PhysAddr(0x900_0000), 1, u64::from(b'A')).unwrap();
        assert_eq!(
            bus.read(req, PhysAddr(0x900_0018), 4).unwrap(),
            u64::from(fr::TXFE | fr::RXFE)
        );
        assert_eq!(
            bus.read(req, PhysAddr(0x900_0fe0), 8),
            Err(cpu_aarch64::bus::BusError::DeviceError(PhysAddr(0x900_0fe0), 8))
        );
        assert_eq!(&*sink.0.lock().unwrap(), b"A");
        assert_eq!(bus.device("uart0").unwrap().name(), "uart0");
    }

    #[test]
    fn state_survives_a_snapshot_round_trip() {
        let (mut a, _) = uart();
        a.write(acc(0x30, 4), 0x301).unwrap(); // CR: UARTEN, TXE, RXE
        a.write(acc(0x38, 4), 0x50).unwrap(); // IMSC: RX, RT
        a.write(acc(0x24, 4), 13).unwrap();
        a.pending.extend(b"held");
        a.rx.extend(b"ab");
        let (mut b, _) = uart();
        let (first, second) = crate::snapshot::round_trip(&a, &mut b);
        assert_eq!(first, second);
        for off in [0x30, 0x38, 0x24, 0x18] {
            assert_eq!(
                a.read(acc(off, 4)).unwrap(),
                b.read(acc(off, 4)).unwrap(),
                "offset {off:#x}"
            );
        }
        assert_eq!(b.read(acc(0, 4)).unwrap() & 0xff, u64::from(b'a'));
        // Truncated state is refused.
        let mut r = StateReader::new("uart0", &first[..first.len() - 1]);
        assert!(b.restore_state(&mut r).is_err());
    }
}
