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

pub use engine::{Jit, JitConfig, JitError, Stats, DEFAULT_HOT_THRESHOLD};

/// The listing of the block the JIT makes of `words` at `pc` in `mode`:
/// guest instructions, IR after optimisation and host code (addresses
/// from 0), as `--trace-blocks` prints it. For golden tests of the
/// emitted code; `None` if the host has no backend.
pub fn block_listing(words: &[u32], pc: u64, mode: ir::Mode) -> Option<String> {
    let backend = backend::host_backend()?;
    let mut b = ir::Builder::new(pc, mode);
    // By address, as the engine fetches: a block may follow a branch.
    while !b.finished() {
        let i = b.next_pc().wrapping_sub(pc) / 4;
        let Some(&w) = usize::try_from(i).ok().and_then(|i| words.get(i)) else {
            break;
        };
        b.add(w);
    }
    let block = b.finish();
    let env = engine::listing_env();
    let mut ops = Vec::new();
    let mut intern = |op: ir::HelperOp| {
        ops.push(op);
        ops.len() as u32 - 1
    };
    let mut c = backend::Compiled::default();
    let text = match backend.compile(&block, &env, &mut intern, &mut c) {
        Ok(()) => backend.disassemble(&c.code, c.text, 0),
        Err(e) => format!("(not compiled: {e})\n"),
    };
    Some(format!("{}{}", block.dump(), text))
}
