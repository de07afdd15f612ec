//! Workloads for Preboard's criterion benchmarks (`benches/benches/`) and
//! the peer comparison script (`benches/compare.sh`).
//!
//! ```text
//!  asm::Asm ──▶ workload::mixed_loop ──▶ bare Cpu + SystemBus ──▶ benches/interp.rs  "interp/mixed_loop"
//!  firmware/prebuilt/bench-int.elf ──▶ Machine on virt        ──▶ benches/interp.rs  "firmware/bench_int"
//!                                  └─▶ preboard run vs qemu-system-aarch64 ──▶ compare.sh
//! ```
#![deny(missing_docs)]

pub mod asm;
pub mod workload;

#[cfg(test)]
mod tests;
