//! The JIT: translates AArch64 blocks to host code.
//!
//! The instruction semantics are `cpu_aarch64::sem`, written once against
//! `Emitter`; [`ir::Builder`] implements that trait by recording IR, which
//! a [`backend::Backend`] compiles (x86-64 through dynasmrt today). The
//! [`Jit`] engine owns the code cache and runs cores with the same
//! contract as the interpreter's `Cpu::run`.
#![deny(missing_docs)]

pub mod backend;
pub mod engine;
pub mod ir;

pub use engine::{Jit, JitConfig, JitError, Stats};
