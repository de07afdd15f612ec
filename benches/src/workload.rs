//! The guest workloads the benchmarks run.
//!
//! - [`mixed_loop`]: an endless loop of a few hundred integer instructions
//!   with the mix compiled C shows (ALU with shifted operands, multiply and
//!   divide, loads and stores of several sizes and addressing modes, pairs,
//!   conditional select, conditional and compare-and-branch, calls). It runs
//!   for a fixed instruction budget with `Cpu::run` on a bare
//!   [`soc::bus::SystemBus`]: the interpreter's steady-state speed.
//! - [`BENCH_INT_ELF`]: the bench-int firmware (`firmware/bench-int`),
//!   booted on the `virt` board through [`boards::machine::Machine`] and
//!   run to its semihosting exit: the whole-system figure.

use crate::asm::{Asm, Cond, Label, Shift};
use boards::machine::{Machine, MachineConfig, MachineError, RunOutcome};
use cpu_aarch64::state::CpuConfig;
use cpu_aarch64::Cpu;
use soc::bus::SystemBus;
use soc::ram::GuestRam;

/// The prebuilt bench-int firmware (rebuild with `make -C firmware prebuilt`).
pub const BENCH_INT_ELF: &[u8] = include_bytes!("../../firmware/prebuilt/bench-int.elf");

/// Guest RAM of the mixed-loop setup.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Its size.
pub const RAM_SIZE: u64 = 1 << 20;
/// Where the loop's code is placed.
pub const CODE_BASE: u64 = RAM_BASE + 0x1000;
/// The data area the loop loads from and stores to (x20 points here).
pub const DATA_BASE: u64 = RAM_BASE + 0x8_0000;
/// Bytes of the data area the loop touches.
pub const DATA_SIZE: u64 = 0x1000;

/// Base register of every load and store in the mixed loop.
const BASE: u32 = 20;
/// Loop-trip counter (for the inner branch pattern).
const TRIP: u32 = 21;
/// Scratch registers T0..T3 = x9..x12.
const T0: u32 = 9;
const T1: u32 = 10;
const T2: u32 = 11;
const T3: u32 = 12;

/// One slice of the loop body over the working registers `a`, `b`, `c`,
/// `d` (taken from x0..x7), with data offsets starting at `slot`.
fn body_slice(asm: &mut Asm, leaf: Label, a: u32, b: u32, c: u32, d: u32, slot: u32) {
    // Hash-like mixing: shifted-operand ALU, multiply-add, rotate.
    asm.eor_shifted(a, a, b, Shift::Lsl, 13);
    asm.add_shifted(b, b, a, Shift::Lsr, 7);
    asm.madd(c, a, b, c);
    asm.ror_imm(d, c, 17);
    asm.eor_shifted(a, a, d, Shift::Lsr, 3);

    // Memory: a computed index, register-offset and immediate-offset
    // accesses of 8, 4 and 1 bytes, and a pair.
    asm.and_mask(T0, a, 6, 0); // index 0..63 -> bytes 0..0x1f8
    asm.ldr_idx(T1, BASE, T0);
    asm.add_shifted(T1, T1, c, Shift::Lsl, 1);
    asm.str_idx(T1, BASE, T0);
    asm.ldp(T2, T3, BASE, (0x100 + (slot % 16) * 16) as i32);
    asm.add_shifted(d, d, T2, Shift::Lsl, 0);
    asm.sub_shifted(T3, T3, b, Shift::Asr, 2);
    asm.stp(T3, d, BASE, (0x100 + ((slot + 5) % 16) * 16) as i32);
    asm.ldr_w(T2, BASE, 0x300 + (slot % 32) * 4);
    asm.add_uxtw(c, c, T2, 2);
    asm.str_w(c, BASE, 0x300 + ((slot + 7) % 32) * 4);
    asm.ldrb(T3, BASE, 0x380 + (slot % 64));
    asm.add_shifted(a, a, T3, Shift::Lsl, 0);
    asm.strb(a, BASE, 0x380 + ((slot + 3) % 64));
    asm.ldr(T0, BASE, 0x400 + (slot % 32) * 8);
    asm.eor_shifted(b, b, T0, Shift::Ror, 11);
    asm.str(b, BASE, 0x400 + ((slot + 1) % 32) * 8);

    // Control: compare and select, a data-dependent forward branch, a
    // bit test, and a call to a leaf function.
    asm.subs_reg(31, a, b);
    asm.csel(T0, a, b, Cond::Lo);
    asm.csinc(d, d, T0, Cond::Hs);
    let skip = asm.label();
    asm.b_cond(Cond::Eq, skip);
    asm.add_imm(c, c, 1 + slot % 7);
    asm.bind(skip);
    let odd = asm.label();
    asm.tbnz(a, slot % 64, odd);
    asm.sub_imm(d, d, 3);
    asm.bind(odd);
    asm.bl(leaf);

    // Now and then a division and a 128-bit multiply.
    if slot % 3 == 0 {
        asm.orr_one(T0, b);
        asm.udiv(T1, a, T0);
        asm.msub(T2, T1, T0, a);
        asm.add_shifted(c, c, T2, Shift::Lsl, 0);
    } else {
        asm.umulh(T1, a, b);
        asm.eor_shifted(c, c, T1, Shift::Lsl, 0);
    }
}

/// The mixed integer loop: a prologue that sets up registers, then an
/// endless loop (`b` back to its top) of `slices` body slices, then a leaf
/// function the loop calls. Runs from [`CODE_BASE`] with x20 =
/// [`DATA_BASE`].
pub fn mixed_loop(slices: u32) -> Asm {
    let mut asm = Asm::new();
    let leaf = asm.label();
    asm.mov64(BASE, DATA_BASE);
    for r in 0..8 {
        asm.mov64(r, 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(u64::from(r) + 1));
    }
    asm.movz(TRIP, 0, 0);
    let top = asm.label();
    asm.bind(top);
    for s in 0..slices {
        let r = s % 8;
        body_slice(&mut asm, leaf, r, (r + 1) % 8, (r + 3) % 8, (r + 5) % 8, s);
    }
    // Every fourth trip takes a different path at the bottom.
    asm.add_imm(TRIP, TRIP, 1);
    let rare = asm.label();
    asm.and_mask(T0, TRIP, 2, 0);
    asm.cbz(T0, rare);
    asm.b(top);
    asm.bind(rare);
    asm.lsr_imm(T1, 0, 9);
    asm.orr_shifted(7, 7, T1, Shift::Lsl, 0);
    asm.b(top);

    // leaf: mixes x8 with x0 and returns.
    asm.bind(leaf);
    asm.eor_shifted(8, 8, 0, Shift::Lsr, 5);
    asm.add_imm(8, 8, 77);
    asm.ret();
    asm
}

/// A core and a bus ready to run `code` at [`CODE_BASE`] (MMU off, EL1).
pub fn bare_machine(code: &[u8]) -> (Cpu, SystemBus) {
    let mut ram = GuestRam::with_region("ram", RAM_BASE, RAM_SIZE).expect("mixed-loop RAM");
    ram.write_bytes(CODE_BASE, code).expect("mixed-loop code fits");
    let pattern: Vec<u8> = (0..DATA_SIZE).map(|i| (i * 37 + 11) as u8).collect();
    ram.write_bytes(DATA_BASE, &pattern).expect("mixed-loop data fits");
    let cpu = Cpu::new(0, CpuConfig::cortex_a57(0), CODE_BASE);
    (cpu, SystemBus::new(ram))
}

/// The JIT benchmarks' setup: [`mixed_loop`] of `slices` on a
/// [`bare_machine`], its length in instructions, and an engine that
/// translates every block at once (they measure translation and
/// translated code, not the interpreter's warm-up).
pub fn jit_mixed_loop(slices: u32) -> (Cpu, SystemBus, jit::Jit, u64) {
    let asm = mixed_loop(slices);
    let insns = asm.bytes().len() as u64 / 4;
    let (cpu, bus) = bare_machine(&asm.bytes());
    let jit = jit::Jit::new(jit::JitConfig {
        hot_threshold: 0,
        ..jit::JitConfig::default()
    })
    .expect("this host has a JIT backend");
    (cpu, bus, jit, insns)
}

/// The `virt` board with `elf` as its kernel and the console discarded.
pub fn virt_machine(elf: &[u8]) -> Result<Machine, MachineError> {
    let board = boards::resolve_board("virt").expect("the built-in virt board parses");
    Machine::new(MachineConfig::headless(
        board,
        "firmware/prebuilt/bench-int.elf",
        elf.to_vec(),
    ))
}

/// Boots bench-int on `virt` and runs it to the end; returns the guest's
/// exit code and the instructions it retired.
pub fn run_bench_int() -> Result<(i32, u64), MachineError> {
    let mut m = virt_machine(BENCH_INT_ELF)?;
    match m.run(None)? {
        RunOutcome::Exited(code) => Ok((code, m.instructions())),
        RunOutcome::PoweredOff | RunOutcome::Reset | RunOutcome::Quit => Ok((0, m.instructions())),
        RunOutcome::InstructionLimit | RunOutcome::Deadline | RunOutcome::DebugStop { .. } => {
            unreachable!("no limit, deadline or debugger was given")
        }
    }
}
