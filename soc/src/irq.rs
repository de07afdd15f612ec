//! Interrupt wiring between devices and the interrupt controller.
//!
//! Devices never see the controller's type: they hold an [`IrqLine`], one
//! output wired to one controller input, and drive it high or low. The
//! controller sits behind [`SharedInterruptController`] so the machine,
//! the bus (for its MMIO view) and every device can keep a handle on it.
//!
//! The GICv3 system-register CPU interface reaches the controller through
//! [`CpuInterfaceRegs`], which [`crate::bus::SystemBus`] forwards the CPU's
//! `gic_sysreg_read`/`gic_sysreg_write` hooks to.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use cpu_aarch64::sem::SysRegId;

/// An interrupt controller's inputs, numbered as in the device tree.
pub trait InterruptController: Send {
    /// Drives the line of shared peripheral interrupt `spi` (INTID
    /// `32 + spi`, the number a device tree's `<GIC_SPI spi flags>` uses).
    /// Out-of-range numbers are ignored.
    fn set_spi(&mut self, spi: u32, level: bool);
    /// Drives the line of private peripheral interrupt `intid` (16..=31,
    /// the INTID itself, not the device tree's PPI number) of core `cpu`.
    /// Out-of-range numbers are ignored.
    fn set_ppi(&mut self, cpu: usize, intid: u32, level: bool);
}

/// An interrupt controller shared between the machine, the bus and devices.
pub type SharedInterruptController = Arc<Mutex<dyn InterruptController>>;

/// The system-register view of an interrupt controller's CPU interface
/// (GICv3 `ICC_*`), as the CPU's bus hooks see it.
pub trait CpuInterfaceRegs: Send {
    /// MRS by core `cpu` at exception level `el`; `None` makes the access
    /// UNDEFINED.
    fn sysreg_read(&mut self, cpu: usize, id: SysRegId, el: u8) -> Option<u64>;
    /// MSR by core `cpu` at exception level `el`; `false` makes the access
    /// UNDEFINED.
    fn sysreg_write(&mut self, cpu: usize, id: SysRegId, el: u8, value: u64) -> bool;
}

/// A CPU-interface register handler shared with the bus.
pub type SharedCpuInterfaceRegs = Arc<Mutex<dyn CpuInterfaceRegs>>;

/// Which controller input an [`IrqLine`] drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqInput {
    /// Shared peripheral interrupt number `n` (INTID `32 + n`).
    Spi(u32),
    /// Private peripheral interrupt `intid` (16..=31) of core `cpu`.
    Ppi {
        /// The core.
        cpu: usize,
        /// The INTID.
        intid: u32,
    },
}

/// One device output wired to one controller input (board files wire them
/// by number). Clones drive the same input. A disconnected line
/// ([`IrqLine::none`]) ignores everything, for tests and unwired devices.
#[derive(Clone, Default)]
pub struct IrqLine {
    target: Option<(SharedInterruptController, IrqInput)>,
}

impl IrqLine {
    /// The line into SPI `spi` (INTID `32 + spi`) of `ctrl`.
    pub fn spi(ctrl: SharedInterruptController, spi: u32) -> Self {
        IrqLine {
            target: Some((ctrl, IrqInput::Spi(spi))),
        }
    }

    /// The line into PPI `intid` (16..=31) of core `cpu` of `ctrl`.
    pub fn ppi(ctrl: SharedInterruptController, cpu: usize, intid: u32) -> Self {
        IrqLine {
            target: Some((ctrl, IrqInput::Ppi { cpu, intid })),
        }
    }

    /// A line connected to nothing.
    pub fn none() -> Self {
        IrqLine { target: None }
    }

    /// Whether the line reaches a controller.
    pub fn is_connected(&self) -> bool {
        self.target.is_some()
    }

    /// The controller input this line drives, if connected.
    pub fn input(&self) -> Option<IrqInput> {
        self.target.as_ref().map(|(_, i)| *i)
    }

    /// Drives the line to `level`.
    pub fn set(&self, level: bool) {
        let Some((ctrl, input)) = &self.target else {
            return;
        };
        let mut c = ctrl.lock().unwrap_or_else(PoisonError::into_inner);
        match *input {
            IrqInput::Spi(n) => c.set_spi(n, level),
            IrqInput::Ppi { cpu, intid } => c.set_ppi(cpu, intid, level),
        }
    }

    /// Drives the line high.
    pub fn raise(&self) {
        self.set(true);
    }

    /// Drives the line low.
    pub fn lower(&self) {
        self.set(false);
    }

    /// Drives the line high then low: one edge for an edge-triggered input.
    pub fn pulse(&self) {
        self.set(true);
        self.set(false);
    }
}

impl fmt::Debug for IrqLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.input() {
            Some(i) => f.debug_tuple("IrqLine").field(&i).finish(),
            None => f.write_str("IrqLine(none)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Vec<(Option<usize>, u32, bool)>);

    impl InterruptController for Recorder {
        fn set_spi(&mut self, spi: u32, level: bool) {
            self.0.push((None, spi, level));
        }
        fn set_ppi(&mut self, cpu: usize, intid: u32, level: bool) {
            self.0.push((Some(cpu), intid, level));
        }
    }

    #[test]
    fn lines_forward_to_their_input() {
        let rec = Arc::new(Mutex::new(Recorder::default()));
        let ctrl: SharedInterruptController = rec.clone();
        let a = IrqLine::spi(ctrl.clone(), 5);
        let b = IrqLine::ppi(ctrl, 1, 30);
        a.raise();
        b.set(true);
        a.clone().lower();
        b.pulse();
        assert_eq!(
            rec.lock().unwrap().0,
            [
                (None, 5, true),
                (Some(1), 30, true),
                (None, 5, false),
                (Some(1), 30, true),
                (Some(1), 30, false)
            ]
        );
        assert_eq!(a.input(), Some(IrqInput::Spi(5)));
        assert_eq!(format!("{b:?}"), "IrqLine(Ppi { cpu: 1, intid: 30 })");
    }

    #[test]
    fn disconnected_line_ignores_everything() {
        let l = IrqLine::none();
        l.raise();
        l.pulse();
        assert!(!l.is_connected());
        assert_eq!(l.input(), None);
        assert_eq!(format!("{l:?}"), "IrqLine(none)");
    }
}
