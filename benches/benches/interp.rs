//! Interpreter speed: the baseline the JIT (issue 7) is measured against.
//!
//! ```sh
//! cargo bench -p preboard-benches                       # both groups
//! cargo bench -p preboard-benches -- interp/            # only the mixed loop (~15 s)
//! cargo bench -p preboard-benches -- firmware/          # only bench-int (~1 min)
//! cargo bench -p preboard-benches -- --save-baseline interp-v1   # keep a baseline
//! cargo bench -p preboard-benches -- --baseline interp-v1        # compare with it
//! ```
//!
//! - `interp/mixed_loop`: guest instructions per second of `Cpu::run` on a
//!   hot loop of ~1000 integer instructions (`workload::mixed_loop`; ALU
//!   with shifted operands, multiply/divide, loads/stores of 1/4/8 bytes
//!   and pairs, conditional select and branches, calls) in RAM on a bare
//!   `SystemBus`. Criterion reports the rate as `thrpt: … Melem/s`, i.e.
//!   millions of guest instructions per second.
//! - `firmware/bench_int`: the whole bench-int firmware
//!   (`firmware/prebuilt/bench-int.elf`, ~113 M instructions) booted on the
//!   `virt` board through `Machine` and run to its semihosting exit: wall
//!   time per run, and instructions per second over the whole run.
//!
//! `benches/compare.sh` runs the same firmware on Preboard and QEMU side by
//! side.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use preboard_benches::workload::{bare_machine, mixed_loop, run_bench_int};
use std::hint::black_box;
use std::time::Duration;

/// Instructions per measured iteration of the mixed loop.
const BUDGET: u64 = 1_000_000;

/// Body slices of the mixed loop (each ~33 instructions; 30 make ~1000).
const SLICES: u32 = 30;

fn mixed_loop_bench(c: &mut Criterion) {
    let code = mixed_loop(SLICES).bytes();
    let (mut cpu, mut bus) = bare_machine(&code);
    // Warm the decode cache and prove the loop runs without faulting.
    let (n, ev) = cpu.run(&mut bus, BUDGET);
    assert_eq!(
        (n, ev),
        (BUDGET, cpu_aarch64::StepEvent::Budget),
        "the mixed loop stopped early at pc {:#x}",
        cpu.pc
    );

    let mut group = c.benchmark_group("interp");
    group.throughput(Throughput::Elements(BUDGET));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("mixed_loop", |b| {
        b.iter(|| black_box(cpu.run(&mut bus, black_box(BUDGET))));
    });
    group.finish();
}

fn bench_int_bench(c: &mut Criterion) {
    // One untimed run: the firmware must pass its self-check, and its
    // instruction count becomes the throughput.
    let (code, insns) = run_bench_int().expect("bench-int runs on the virt board");
    assert_eq!(code, 0, "bench-int failed its self-check (exit code {code})");

    let mut group = c.benchmark_group("firmware");
    group.throughput(Throughput::Elements(insns));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(40));
    group.bench_function("bench_int", |b| {
        b.iter(|| black_box(run_bench_int().expect("bench-int runs")));
    });
    group.finish();
}

criterion_group!(benches, mixed_loop_bench, bench_int_bench);
criterion_main!(benches);
