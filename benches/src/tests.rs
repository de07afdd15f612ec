//! The benchmark workloads must run what they claim: the assembler agrees
//! with GNU as, every word decodes, the loop runs without faulting, and
//! bench-int passes its self-check on QEMU, the JIT and the interpreter.

use crate::asm::Asm;
use crate::workload::{
    bare_machine, mixed_loop, run_bench_int, virt_machine, BENCH_INT_ELF, CODE_BASE, DATA_BASE, DATA_SIZE,
};
use boards::machine::{Engine, RunOutcome};
use cpu_aarch64::StepEvent;
use std::path::PathBuf;
use std::process::Command;

/// An outside tool: a test that needs it skips with a notice when it is
/// missing, unless `PREBOARD_REQUIRE_TOOLS=1` (set by CI) makes that a
/// failure.
fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("PREBOARD_REQUIRE_TOOLS").is_none(),
            "{name} is required (PREBOARD_REQUIRE_TOOLS is set) but not installed"
        );
        eprintln!("NOTICE: {name} not found; skipping this check (CI installs it)");
    }
    found
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("preboard-benches-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Assembles `asm`'s GNU text and returns the `.text` words.
fn gnu_assemble(asm: &Asm) -> Vec<u32> {
    let (src, obj, bin) = (scratch("loop.s"), scratch("loop.o"), scratch("loop.bin"));
    std::fs::write(&src, asm.gnu_text()).unwrap();
    let out = Command::new("aarch64-linux-gnu-as")
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .output()
        .expect("run aarch64-linux-gnu-as");
    assert!(out.status.success(), "as: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("aarch64-linux-gnu-objcopy")
        .args(["-O", "binary", "-j", ".text"])
        .arg(&obj)
        .arg(&bin)
        .output()
        .expect("run aarch64-linux-gnu-objcopy");
    assert!(
        out.status.success(),
        "objcopy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&bin)
        .unwrap()
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn the_assembler_agrees_with_gnu_as() {
    if !tool("aarch64-linux-gnu-as") {
        return;
    }
    let asm = mixed_loop(24);
    let ours = asm.finish();
    let theirs = gnu_assemble(&asm);
    assert_eq!(
        ours.len(),
        theirs.len(),
        "instruction count differs:\n{}",
        asm.gnu_text()
    );
    let source = asm.gnu_text();
    // Instruction lines are indented; the first indented line is `.text`.
    let text: Vec<&str> = source.lines().filter(|l| l.starts_with('\t')).skip(1).collect();
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "word {i} `{}`: ours {a:#010x}, GNU as {b:#010x}", text[i].trim());
    }
}

#[test]
fn every_word_of_the_loop_decodes() {
    for (i, w) in mixed_loop(24).finish().iter().enumerate() {
        assert!(
            cpu_aarch64::isa::decode(*w).is_some(),
            "word {i} ({w:#010x}) does not decode"
        );
    }
}

#[test]
fn the_mixed_loop_runs_without_faulting_and_deterministically() {
    let code = mixed_loop(24);
    let words = code.len() as u64;
    let run = || {
        let (mut cpu, mut bus) = bare_machine(&code.bytes());
        let (n, ev) = cpu.run(&mut bus, 100_000);
        (cpu, bus, n, ev)
    };
    let (cpu, bus, n, ev) = run();
    assert_eq!((n, &ev), (100_000, &StepEvent::Budget));
    assert!(
        (CODE_BASE..CODE_BASE + 4 * words).contains(&cpu.pc),
        "pc {:#x} left the loop",
        cpu.pc
    );
    // The loop really loops (more trips than one pass over its words) and
    // really writes its data area.
    assert!(cpu.x[21] > 100_000 / words / 2, "only {} trips", cpu.x[21]);
    let data = bus.ram().slice(DATA_BASE, DATA_SIZE as usize).unwrap();
    let untouched: Vec<u8> = (0..DATA_SIZE).map(|i| (i * 37 + 11) as u8).collect();
    assert_ne!(data, &untouched[..]);
    let (again, _, _, _) = run();
    assert_eq!(cpu.x, again.x);
}

/// QEMU runs the prebuilt bench-int to exit 0 (its checksums match the
/// table in main.c) and prints the committed transcript, which is also
/// what `compare.sh` requires of every engine.
#[test]
fn bench_int_passes_on_qemu_and_matches_its_transcript() {
    if !tool("qemu-system-aarch64") {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let expected = std::fs::read_to_string(root.join("firmware/bench-int/qemu-virt.expected")).unwrap();
    let out = Command::new("timeout")
        .args(["60", "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57"])
        .args(["-nographic", "-semihosting", "-kernel"])
        .arg(root.join("firmware/prebuilt/bench-int.elf"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run qemu");
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "qemu: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, expected, "QEMU's transcript of bench-int changed");
}

/// The whole firmware, ~113 million instructions: seconds in a release
/// build, minutes in a debug one, hence ignored by default. Run with
/// `cargo test --release -p preboard-benches -- --ignored`.
#[test]
#[ignore]
fn bench_int_passes_its_self_check_on_the_interpreter() {
    let (code, insns) = run_bench_int().expect("bench-int runs");
    assert_eq!(code, 0, "bench-int reported a checksum mismatch");
    assert!(insns > 50_000_000, "only {insns} instructions");
}

/// The same on the JIT (`Machine::set_engine`), where the whole firmware
/// takes well under a second even in a debug build. Hosts without a JIT
/// backend skip it.
#[test]
fn bench_int_passes_its_self_check_on_the_jit() {
    let engine = Engine::host_default();
    if engine.name() != "jit" {
        eprintln!("NOTICE: no JIT backend for this host; skipping");
        return;
    }
    let mut m = virt_machine(BENCH_INT_ELF).expect("bench-int boots");
    m.set_engine(engine);
    let outcome = m.run(Some(1_000_000_000)).expect("bench-int runs");
    assert_eq!(
        outcome,
        RunOutcome::Exited(0),
        "bench-int on the JIT reported a checksum mismatch (or did not exit)"
    );
    let insns = m.instructions();
    assert!(insns > 50_000_000, "only {insns} instructions");
    let stats = m.jit_stats().expect("the JIT's counters");
    assert!(
        stats.insns - stats.interp_insns > stats.interp_insns,
        "most of bench-int should be translated to host code: {stats:?}"
    );
}
