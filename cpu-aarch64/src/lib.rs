//! The AArch64 CPU of Preboard.
//!
//! ```text
//!  isa/*.isa ──build.rs──▶ isa::{Op, ROWS, Visitor, decode, dispatch}
//!                                   │ (one visitor per consumer)
//!        ┌──────────────────────────┼──────────────────────────┐
//!        ▼                          ▼                          ▼
//!  sem::Translate<E: Emitter>   disasm::Disasm            (tests, fuzzers)
//!  instruction semantics, written once
//!        │ E = interp::Eval  (evaluates on the spot: the reference engine)
//!        │ E = jit IR builder (later: compiles to host code)
//!        ▼
//!  state::Cpu (registers, PSTATE, system registers) ──▶ bus::Bus (the system)
//! ```
//!
//! This crate depends on no other Preboard crate: memory and devices are
//! reached only through the [`bus::Bus`] trait.
#![deny(missing_docs)]

pub mod bus;
pub mod crypto;
pub mod debug;
pub mod disasm;
pub mod exception;
pub mod fp;
pub mod interp;
pub mod irq;
pub mod isa;
pub mod mmu;
pub mod saved;
pub mod sem;
pub mod simd;
pub mod state;
pub mod sysreg;
#[cfg(feature = "testgen")]
pub mod testgen;
pub mod timer;

pub use bus::{AccessKind, Bus, BusError, PhysAddr, Requester};
pub use interp::{StepEvent, StopReason};
pub use state::Cpu;
