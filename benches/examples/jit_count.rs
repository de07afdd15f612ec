//! Fixed work for instruction counting under valgrind, where the
//! machine's timing noise does not reach (see benches/README.md):
//!
//! ```sh
//! cargo build --release -p preboard-benches --example jit_count
//! valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
//!     target/release/examples/jit_count translate 200
//! ```
//!
//! `translate N`: the mixed loop translated from an empty cache and run
//! once, N times; `execute N`: N million instructions of it in steady state.

use preboard_benches::workload::jit_mixed_loop;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("translate");
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let (mut cpu, mut bus, mut jit, insns) = jit_mixed_loop(30);
    let mut total = 0;
    for _ in 0..n {
        match what {
            "translate" => {
                jit.flush();
                total += jit.run(0, &mut cpu, &mut bus, insns).0;
            }
            _ => total += jit.run(0, &mut cpu, &mut bus, 1_000_000).0,
        }
    }
    let s = jit.stats();
    println!(
        "{what} x{n}: {total} guest instructions, {} blocks translated",
        s.blocks
    );
}
