//! Preboard boards: a board is described in RON ([`schema`]), validated with
//! errors that point at `file:line:col`, composed into a machine, and handed
//! to the guest as a device tree ([`fdt_out`]).
//!
//! ```text
//!   virt.ron ──parse_board──▶ BoardSpec ──(-m, --smp overrides)──▶ BoardSpec
//!                                 │
//!                                 ├──▶ machine: cores + soc devices (Box<dyn Device>)
//!                                 │                         │ dt_node()
//!                                 ▼                         ▼
//!                        fdt_out::device_tree(spec, devices, boot) ──▶ dt::Node
//!                                                              ├─▶ to_dtb  (guest)
//!                                                              └─▶ to_dts  (people, dtc)
//! ```
#![deny(missing_docs)]

pub mod control;
pub mod dtb_in;
pub mod fdt_out;
pub mod from_dtb;
pub mod loader;
pub mod machine;
pub mod psci;
pub mod runner;
pub mod schema;
pub mod time;

pub use fdt_out::{device_tree, to_dtb, to_dts, BootInfo, BootSeeds, DtbError};
pub use schema::{
    builtin_board, builtin_boards, load_board_file, mpidr_affinity, parse_board, resolve_board, BoardError, BoardSpec,
    ChosenSpec, CpuSpec, DeviceSpec, MemoryRegion, Pl011Spec, MAX_CPUS,
};
