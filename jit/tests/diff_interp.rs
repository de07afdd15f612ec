//! The JIT against the interpreter on the random instruction sequences of
//! the QEMU differential tests (`cpu_aarch64::testgen`): registers, flags,
//! SIMD&FP state, the end (completion or the exception and where), and the
//! data window must be identical.
//!
//! `PREBOARD_JIT_DIFF_CASES=N` sets the number of cases (default 10000),
//! `PREBOARD_JIT_DIFF_SEED=S` the run's seed (default: fresh), and
//! `PREBOARD_JIT_DIFF_CASE=S` replays one case by its seed
//! (`PREBOARD_JIT_TRACE=1` prints each translated block).

use cpu_aarch64::testgen::{case_seed, Generator, Runner};
use jit::{Jit, JitConfig};

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

#[test]
fn jit_matches_interpreter_on_random_sequences() {
    let cases = env_u64("PREBOARD_JIT_DIFF_CASES").unwrap_or(10_000);
    let seed = env_u64("PREBOARD_JIT_DIFF_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let seeds: Vec<u64> = match env_u64("PREBOARD_JIT_DIFF_CASE") {
        Some(s) => vec![s],
        None => (0..cases).map(|i| case_seed(seed, i)).collect(),
    };
    let mut gen = Generator::new(None, &[]);
    let mut interp = Runner::new();
    let mut native = Runner::new();
    let mut jit = Jit::new(JitConfig {
        trace_blocks: std::env::var_os("PREBOARD_JIT_TRACE").is_some(),
        // Every sequence runs once: translated at once, or nothing would
        // be compared with the interpreter.
        hot_threshold: 0,
        ..JitConfig::default()
    })
    .expect("JIT available on this host");
    let mut failures = Vec::new();
    for &s in &seeds {
        let case = gen.case(s);
        let want = interp.run(&case);
        jit.flush();
        // A panic in the engine names its case too (it is rare enough
        // that only the seed makes it reproducible).
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            native.run_engine(&case, &mut |cpu, bus, budget| jit.run(0, cpu, bus, budget))
        }));
        let got = match run {
            Ok(got) => got,
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|m| m.to_string()))
                    .unwrap_or_default();
                panic!("case seed {s:#x} panicked the JIT ({msg}):\n{}", case.listing());
            }
        };
        if want != got {
            failures.push(format!(
                "case seed {s:#x}:\n{}interpreter: {want:?}\njit:         {got:?}\n",
                case.listing()
            ));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    let st = jit.stats();
    eprintln!("{} cases (run seed {seed:#x}); JIT stats: {st:?}", seeds.len());
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        st.blocks > 0 && st.insns > st.interp_insns,
        "the JIT translated nothing natively: {st:?}"
    );
}
