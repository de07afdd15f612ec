//! Test support for the JIT's directed tests: a small machine (RAM with
//! host pages for the inline fast path, an MMIO window that logs every
//! access, a fault handler), and the comparison of a JIT run with an
//! interpreter run from the same state.
#![allow(dead_code)]

pub mod asm;

use asm::Asm;
use cpu_aarch64::bus::{Bus, BusError, PhysAddr, Requester};
use cpu_aarch64::state::{Conduit, CpuConfig};
use cpu_aarch64::sysreg::SysReg;
use cpu_aarch64::{Cpu, StepEvent};
use jit::{Jit, JitConfig, Stats};
use std::ptr::NonNull;

/// Guest RAM: `RAM_SIZE` bytes at `RAM_BASE`.
pub const RAM_BASE: u64 = 0x4000_0000;
pub const RAM_SIZE: u64 = 0x2_0000;
/// Where programs start.
pub const CODE: u64 = RAM_BASE;
/// End of the program area.
pub const CODE_END: u64 = RAM_BASE + 0x1_0000;
/// VBAR_EL1: the handler for synchronous exceptions from the current EL
/// (SP_ELx) is at `VECTORS + 0x200`.
pub const VECTORS: u64 = RAM_BASE + 0x1_0000;
/// Data area (tables, results).
pub const DATA: u64 = RAM_BASE + 0x1_1000;
/// Initial SP_EL1 (top of RAM).
pub const STACK_TOP: u64 = RAM_BASE + RAM_SIZE;
/// The MMIO window.
pub const MMIO: u64 = 0x0900_0000;
pub const MMIO_SIZE: u64 = 0x1000;
/// Nothing is mapped here.
pub const UNMAPPED: u64 = 0x2000_0000;
/// HVC immediate the fault handler ends with (programs end with HVC #0).
pub const FAULT_HVC: u32 = 0xfff;
/// Exception class of SVC from AArch64: the handler counts these in X26
/// and returns instead of ending.
const EC_SVC: u32 = 0x15;

/// One access seen by the MMIO window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    pub write: bool,
    pub offset: u64,
    pub size: u8,
    pub value: u64,
}

/// RAM plus one MMIO device. Reads of the device return a value derived
/// from the number of reads so far (order-sensitive); 1-byte device reads
/// are rejected (an external abort).
#[derive(Clone)]
pub struct TestBus {
    pub ram: Box<[u8]>,
    pub mmio: Vec<MmioAccess>,
    pub hand_out_pages: bool,
}

impl TestBus {
    fn new() -> Self {
        TestBus {
            ram: vec![0; RAM_SIZE as usize].into_boxed_slice(),
            mmio: Vec::new(),
            hand_out_pages: true,
        }
    }

    fn ram_slice(&mut self, pa: u64, size: u8) -> Option<&mut [u8]> {
        let off = pa.checked_sub(RAM_BASE)?;
        let end = off.checked_add(u64::from(size))?;
        (end <= RAM_SIZE).then(|| &mut self.ram[off as usize..end as usize])
    }
}

impl Bus for TestBus {
    fn read(&mut self, _req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
        if let Some(b) = self.ram_slice(pa.0, size) {
            return Ok(b.iter().rev().fold(0, |acc, &x| (acc << 8) | u64::from(x)));
        }
        if (MMIO..MMIO + MMIO_SIZE).contains(&pa.0) {
            if size == 1 {
                return Err(BusError::DeviceError(pa, size));
            }
            let n = self.mmio.iter().filter(|a| !a.write).count() as u64;
            let value =
                (0x1234_5678_9abc_def0u64.rotate_left(n as u32) ^ pa.0) & (u64::MAX >> (64 - 8 * u32::from(size)));
            self.mmio.push(MmioAccess {
                write: false,
                offset: pa.0 - MMIO,
                size,
                value,
            });
            return Ok(value);
        }
        Err(BusError::Unmapped(pa))
    }

    fn write(&mut self, _req: Requester, pa: PhysAddr, size: u8, value: u64) -> Result<(), BusError> {
        if let Some(b) = self.ram_slice(pa.0, size) {
            for (i, x) in b.iter_mut().enumerate() {
                *x = (value >> (8 * i)) as u8;
            }
            return Ok(());
        }
        if (MMIO..MMIO + MMIO_SIZE).contains(&pa.0) {
            self.mmio.push(MmioAccess {
                write: true,
                offset: pa.0 - MMIO,
                size,
                value,
            });
            return Ok(());
        }
        Err(BusError::Unmapped(pa))
    }

    // As the machine's bus: RAM copied at once (here as much of the run as
    // RAM holds, so a translation also meets runs cut short).
    fn fetch_run(&mut self, _cpu: usize, pa: PhysAddr, out: &mut [u32]) -> usize {
        let Some(off) = pa.0.checked_sub(RAM_BASE).filter(|&o| o < RAM_SIZE) else {
            return 0;
        };
        let n = out.len().min(((RAM_SIZE - off) / 4) as usize);
        for (k, w) in out[..n].iter_mut().enumerate() {
            let at = off as usize + 4 * k;
            *w = u32::from_le_bytes(self.ram[at..at + 4].try_into().expect("4 bytes"));
        }
        n
    }

    fn ram_page(&mut self, pa: PhysAddr) -> Option<NonNull<u8>> {
        if !self.hand_out_pages || pa.0 & 0xfff != 0 {
            return None;
        }
        let off = pa.0.checked_sub(RAM_BASE)?;
        if off + 0x1000 > RAM_SIZE {
            return None;
        }
        NonNull::new(self.ram[off as usize..].as_mut_ptr())
    }
}

/// A core and its bus.
#[derive(Clone)]
pub struct Machine {
    pub cpu: Cpu,
    pub bus: TestBus,
    /// Program words at `CODE` (for listings).
    pub program: Vec<u32>,
}

/// The fault handler at `VECTORS + 0x200`: SVCs are counted in X26 and
/// returned from; anything else records ESR/ELR/FAR in X27/X28/X29 and
/// ends with `HVC #FAULT_HVC`.
pub fn handler() -> Vec<u32> {
    use asm::*;
    let mut a = Asm::new(VECTORS + 0x200);
    a.i(mrs(27, sysreg::ESR_EL1))
        .i(lsr_imm(X, 28, 27, 26))
        .i(cmp_imm(X, 28, EC_SVC))
        .b_cond(cond::NE, "record")
        .i(add_imm(X, 26, 26, 1))
        .i(ERET)
        .label("record")
        .i(mrs(28, sysreg::ELR_EL1))
        .i(mrs(29, sysreg::FAR_EL1))
        .i(hvc(FAULT_HVC));
    a.finish()
}

impl Machine {
    /// EL1, MMU off, SP_EL1 at `STACK_TOP`, FP enabled, VBAR_EL1 at
    /// `VECTORS`, HVC answered by the "firmware" (a stop), `program` at
    /// `CODE`.
    pub fn new(program: &[u32]) -> Self {
        let mut config = CpuConfig::cortex_a57(0);
        config.semihosting = false;
        config.firmware_conduit = Some(Conduit::Hvc);
        let mut cpu = Cpu::new(0, config, CODE);
        cpu.sp_el[1] = STACK_TOP;
        cpu.sys.set(SysReg::CPACR_EL1, 3 << 20);
        cpu.sys.set(SysReg::VBAR_EL1, VECTORS);
        let mut m = Machine {
            cpu,
            bus: TestBus::new(),
            program: program.to_vec(),
        };
        assert!(CODE + 4 * program.len() as u64 <= CODE_END, "program too long");
        m.load(CODE, program);
        m.load(VECTORS + 0x200, &handler());
        m
    }

    /// Builds a machine from an assembler at `CODE`.
    pub fn from_asm(a: &Asm) -> Self {
        assert_eq!(a.base, CODE);
        Machine::new(&a.finish())
    }

    pub fn load(&mut self, addr: u64, words: &[u32]) {
        for (i, w) in words.iter().enumerate() {
            self.write(addr + 4 * i as u64, &w.to_le_bytes());
        }
    }

    pub fn write(&mut self, addr: u64, bytes: &[u8]) {
        let off = (addr - RAM_BASE) as usize;
        self.bus.ram[off..off + bytes.len()].copy_from_slice(bytes);
    }

    pub fn write_u64s(&mut self, addr: u64, vs: &[u64]) {
        for (i, v) in vs.iter().enumerate() {
            self.write(addr + 8 * i as u64, &v.to_le_bytes());
        }
    }

    pub fn read_u64(&self, addr: u64) -> u64 {
        let off = (addr - RAM_BASE) as usize;
        u64::from_le_bytes(self.bus.ram[off..off + 8].try_into().expect("8 bytes"))
    }

    pub fn read_u32(&self, addr: u64) -> u32 {
        let off = (addr - RAM_BASE) as usize;
        u32::from_le_bytes(self.bus.ram[off..off + 4].try_into().expect("4 bytes"))
    }

    /// Fills the data area with bytes from a seeded generator.
    pub fn random_data(&mut self, seed: u64) {
        let mut rng = cpu_aarch64::testgen::Rng::new(seed);
        let start = (DATA - RAM_BASE) as usize;
        let end = (STACK_TOP - RAM_BASE) as usize - 0x1000;
        for chunk in self.bus.ram[start..end].chunks_mut(8) {
            chunk.copy_from_slice(&rng.edge().to_le_bytes());
        }
    }

    /// The program's disassembly (for failure messages).
    pub fn listing(&self) -> String {
        let mut s = String::new();
        for (i, &w) in self.program.iter().enumerate() {
            let pc = CODE + 4 * i as u64;
            s += &format!("  {pc:#x}: {w:08x}  {}\n", cpu_aarch64::disasm::disassemble(w, pc));
        }
        s
    }

    /// The fault the handler recorded, if the run ended in it: (ESR, ELR,
    /// FAR).
    pub fn fault(&self) -> Option<(u64, u64, u64)> {
        let ended_in_handler = self.cpu.pc == VECTORS + 0x200 + 4 * handler().len() as u64;
        ended_in_handler.then(|| (self.cpu.x[27], self.cpu.x[28], self.cpu.x[29]))
    }

    /// Everything that must be equal after two engines ran, as a list of
    /// differences (empty: equal).
    pub fn diff(&self, other: &Machine) -> Vec<String> {
        let (a, b) = (&self.cpu, &other.cpu);
        let mut d = Vec::new();
        let mut field = |name: String, x: String, y: String| {
            if x != y {
                d.push(format!("{name}: interpreter {x}, jit {y}"));
            }
        };
        for i in 0..31 {
            field(format!("x{i}"), format!("{:#x}", a.x[i]), format!("{:#x}", b.x[i]));
        }
        for i in 0..4 {
            field(
                format!("sp_el{i}"),
                format!("{:#x}", a.sp_el[i]),
                format!("{:#x}", b.sp_el[i]),
            );
        }
        field("pc".into(), format!("{:#x}", a.pc), format!("{:#x}", b.pc));
        field(
            "nzcv".into(),
            format!("{:#x}", a.pstate.nzcv),
            format!("{:#x}", b.pstate.nzcv),
        );
        field("pstate".into(), format!("{:?}", a.pstate), format!("{:?}", b.pstate));
        field("icount".into(), a.icount.to_string(), b.icount.to_string());
        for i in 0..32 {
            field(format!("v{i}"), format!("{:#x}", a.v[i]), format!("{:#x}", b.v[i]));
        }
        for r in [
            SysReg::FPSR,
            SysReg::FPCR,
            SysReg::ESR_EL1,
            SysReg::ELR_EL1,
            SysReg::FAR_EL1,
            SysReg::SPSR_EL1,
            SysReg::VBAR_EL1,
            SysReg::SCTLR_EL1,
            SysReg::TPIDR_EL0,
            SysReg::TPIDRRO_EL0,
            SysReg::TPIDR_EL1,
        ] {
            field(
                format!("{r:?}"),
                format!("{:#x}", a.sys.get(r)),
                format!("{:#x}", b.sys.get(r)),
            );
        }
        field("monitor".into(), format!("{:?}", a.monitor), format!("{:?}", b.monitor));
        field("event".into(), a.event.to_string(), b.event.to_string());
        let mut ram_diffs = 0;
        for (i, (x, y)) in self.bus.ram.chunks(8).zip(other.bus.ram.chunks(8)).enumerate() {
            if x != y {
                ram_diffs += 1;
                if ram_diffs <= 8 {
                    let q = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("8 bytes"));
                    d.push(format!(
                        "ram[{:#x}]: interpreter {:#018x}, jit {:#018x}",
                        RAM_BASE + 8 * i as u64,
                        q(x),
                        q(y)
                    ));
                }
            }
        }
        if ram_diffs > 8 {
            d.push(format!("... {} more differing RAM quads", ram_diffs - 8));
        }
        if self.bus.mmio != other.bus.mmio {
            d.push(format!(
                "mmio log: interpreter {:x?}\n          jit {:x?}",
                self.bus.mmio, other.bus.mmio
            ));
        }
        d
    }
}

/// A fresh engine that translates every block at once (these tests are
/// about generated code; `cold_blocks_run_on_the_interpreter_first` covers
/// the hotness threshold).
pub fn new_jit() -> Jit {
    jit_translating_after(0)
}

/// An engine that translates a block on its `n + 1`-th entry (the
/// interpreter runs it before, as for code that is not hot yet).
pub fn jit_translating_after(n: u32) -> Jit {
    Jit::new(JitConfig {
        hot_threshold: n,
        ..JitConfig::default()
    })
    .expect("JIT available on this host")
}

/// The outcome of running one machine on both engines.
pub struct Both {
    pub interp: Machine,
    pub jit: Machine,
    /// (retired, event) of the interpreter.
    pub result: (u64, StepEvent),
    pub stats: Stats,
}

/// Default budget: every program here ends long before.
pub const BUDGET: u64 = 5_000_000;

/// Runs `m` to its end on the interpreter and on the JIT (one `run` call
/// each with `budget`) and asserts the results and final states are equal.
pub fn run_both(m: &Machine, budget: u64) -> Both {
    let mut jit = new_jit();
    run_both_with(&mut jit, m, budget)
}

/// [`run_both`] to the end, naming the case in a failure message.
pub fn run_named(m: &Machine, name: &str) -> Both {
    let mut jit = new_jit();
    let mut i = m.clone();
    let want = i.cpu.run(&mut i.bus, BUDGET);
    let mut j = m.clone();
    let got = jit.run(0, &mut j.cpu, &mut j.bus, BUDGET);
    compare(name, m, &i, &j, &want, &got);
    Both {
        interp: i,
        jit: j,
        result: want,
        stats: jit.stats(),
    }
}

/// [`run_both`] with a given engine.
pub fn run_both_with(jit: &mut Jit, m: &Machine, budget: u64) -> Both {
    let mut i = m.clone();
    let want = i.cpu.run(&mut i.bus, budget);
    let mut j = m.clone();
    let got = jit.run(0, &mut j.cpu, &mut j.bus, budget);
    compare("", m, &i, &j, &want, &got);
    Both {
        interp: i,
        jit: j,
        result: want,
        stats: jit.stats(),
    }
}

/// Panics with a readable report if the two runs differ.
pub fn compare(name: &str, start: &Machine, i: &Machine, j: &Machine, want: &(u64, StepEvent), got: &(u64, StepEvent)) {
    let mut d = i.diff(j);
    if want != got {
        d.insert(0, format!("run result: interpreter {want:?}, jit {got:?}"));
    }
    assert!(
        d.is_empty(),
        "{name}: JIT differs from the interpreter:\n  {}\nprogram:\n{}",
        d.join("\n  "),
        start.listing()
    );
}

/// Asserts the interpreter run ended with the program's own `HVC #0`.
pub fn assert_completed(b: &Both) {
    assert_eq!(b.result.1, StepEvent::FirmwareCall, "program did not end in HVC");
    assert!(
        b.interp.fault().is_none(),
        "program faulted: ESR/ELR/FAR {:x?}\n{}",
        b.interp.fault(),
        b.interp.listing()
    );
}

/// Asserts the interpreter run ended in the fault handler and returns
/// (ESR, ELR, FAR).
pub fn assert_faulted(b: &Both) -> (u64, u64, u64) {
    assert_eq!(b.result.1, StepEvent::FirmwareCall);
    b.interp
        .fault()
        .unwrap_or_else(|| panic!("program did not fault\n{}", b.interp.listing()))
}

/// A helper for building programs: the standard prologue sets X19 to
/// `DATA` and X20 to `MMIO`.
pub fn prologue(a: &mut Asm) {
    a.mov64(19, DATA).mov64(20, MMIO);
}

/// The standard epilogue: `HVC #0`.
pub fn epilogue(a: &mut Asm) {
    a.i(asm::hvc(0));
}
