//! Preboard SoC: guest memory, the system bus and the devices plugged into
//! it. Knows no execution engine, debugger or screen; the CPU reaches it
//! through [`cpu_aarch64::bus::Bus`], which [`bus::SystemBus`] implements.
#![deny(missing_docs)]

pub mod bus;
pub mod chardev;
pub mod device;
pub mod dt;
pub mod gic;
pub mod irq;
pub mod pflash;
pub mod pl011;
pub mod pl031;
pub mod pl061;
pub mod primecell;
pub mod ram;
pub mod semihosting;
pub mod snapshot;
pub mod usernet;
pub mod virtio;

pub use bus::{SystemBus, SystemBusError};
pub use gic::{Gic, GicConfig, GicCpuConfig, GicMmio, GicVersion};
pub use irq::{InterruptController, IrqLine, SharedInterruptController};
pub use pl011::Pl011;
pub use ram::{GuestRam, RamError, RamRegion};
pub use semihosting::{SemihostMemory, SemihostOutcome, Semihosting};
