//! JIT speed, for tracking regressions (issue 7): how fast it translates
//! and how fast the translated code runs.
//!
//! ```sh
//! cargo bench -p preboard-benches --bench jit                  # both (~30 s)
//! cargo bench -p preboard-benches --bench jit -- --save-baseline jit-v1
//! cargo bench -p preboard-benches --bench jit -- --baseline jit-v1
//! ```
//!
//! - `jit/translate`: the mixed loop's ~1000 instructions translated from
//!   an empty code cache and each run once (the engine is flushed every
//!   iteration): translation throughput in guest instructions per second
//!   (`thrpt`), the cost a booting kernel pays for every new block.
//! - `jit/execute`: the same loop in steady state for 1 M instructions:
//!   blocks chained, nothing translated.
//!
//! `benches/compare.sh` compares whole firmware runs with QEMU.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use preboard_benches::workload::jit_mixed_loop;
use std::hint::black_box;
use std::time::Duration;

/// Body slices of the mixed loop (each ~33 instructions; 30 make ~1000).
const SLICES: u32 = 30;

fn jit_benches(c: &mut Criterion) {
    let (mut cpu, mut bus, mut jit, insns) = jit_mixed_loop(SLICES);
    // One pass over the loop retires each instruction about once.
    let (n, ev) = jit.run(0, &mut cpu, &mut bus, insns);
    assert_eq!(n, insns, "the mixed loop stopped early ({ev:?}) at pc {:#x}", cpu.pc);

    let mut group = c.benchmark_group("jit");
    group.throughput(Throughput::Elements(insns));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("translate", |b| {
        b.iter(|| {
            jit.flush();
            black_box(jit.run(0, &mut cpu, &mut bus, black_box(insns)))
        });
    });
    const STEADY: u64 = 1_000_000;
    group.throughput(Throughput::Elements(STEADY));
    group.bench_function("execute", |b| {
        b.iter(|| black_box(jit.run(0, &mut cpu, &mut bus, black_box(STEADY))));
    });
    group.finish();
}

criterion_group!(benches, jit_benches);
criterion_main!(benches);
