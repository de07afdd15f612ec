//! Our side of the comparison: a core at EL0 set up like a Linux user
//! process, the probe that tries one word on it, and [`Runner`], which runs
//! whole cases.

use super::{background, mix, Case, End, Outcome, State, CODE_BASE, CODE_SIZE, DATA_BASE, DATA_SIZE, TEST_PC};
use crate::bus::{Bus, BusError, PhysAddr, Requester};
use crate::interp::StopReason;
use crate::state::{Cpu, CpuConfig, PState};
use crate::sysreg::{fpcr, fpsr, sctlr, SysReg};

/// SCTLR_EL1 as Linux runs user space, as far as our core reads it: SP
/// alignment checks (SA, SA0), EL0 access to CTR_EL0 (UCT), DC ZVA (DZE)
/// and cache maintenance (UCI, bit 26); no EL0 DAIF access (UMA clear), no
/// strict alignment (A clear). The MMU bit stays clear: our MMU-off memory
/// is Device memory, hence the aligned-accesses-only rule of the generator.
pub(crate) const LINUX_SCTLR: u64 = 0x00c5_0838 | sctlr::SA | sctlr::SA0 | sctlr::UCT | sctlr::DZE | (1 << 26);

/// A core prepared for EL0 runs.
pub(crate) struct Core {
    pub(crate) cpu: Cpu,
    reset_pstate: PState,
}

impl Core {
    pub(crate) fn new() -> Self {
        let mut config = CpuConfig::cortex_a57(0);
        config.semihosting = false; // Linux user space has none
        let cpu = Cpu::new(0, config, TEST_PC);
        let reset_pstate = cpu.pstate;
        Core { cpu, reset_pstate }
    }

    /// Loads `st` and sets up EL0 (SP_EL0 selected, interrupts unmasked,
    /// FP/SIMD enabled as Linux enables it) at `pc`.
    pub(crate) fn prepare(&mut self, st: &State, pc: u64) {
        let cpu = &mut self.cpu;
        cpu.x = st.x;
        cpu.v = st.v;
        cpu.sys.set(SysReg::CPACR_EL1, 3 << 20);
        cpu.sys.set(SysReg::FPCR, st.fpcr & fpcr::WRITABLE);
        cpu.sys.set(SysReg::FPSR, st.fpsr & fpsr::WRITABLE);
        cpu.sp_el = [st.sp, 0, 0, 0];
        cpu.pc = pc;
        cpu.pstate = self.reset_pstate;
        cpu.pstate.el = 0;
        cpu.pstate.sp = false;
        cpu.pstate.daif = 0;
        cpu.pstate.nzcv = (st.nzcv as u32) & 0xf000_0000;
        cpu.monitor = Default::default();
        cpu.sys.set(SysReg::SCTLR_EL1, LINUX_SCTLR);
        cpu.sys.set(SysReg::TPIDR_EL0, st.tpidr);
        cpu.sys.set(SysReg::TPIDRRO_EL0, 0); // what Linux gives a native task
    }

    /// Executes one instruction: `None` if it completed, else how it ended
    /// and whether an exception was taken.
    pub(crate) fn step<B: Bus>(&mut self, bus: &mut B) -> Option<(End, bool)> {
        match self.cpu.step(bus) {
            Ok(()) => None,
            Err(StopReason::Exception) => Some((self.exception_end(), true)),
            Err(other) => Some((End::Other(format!("interpreter stopped: {other:?}")), false)),
        }
    }

    /// The signal Linux would deliver for the exception just taken, from
    /// ESR_EL1's exception class.
    fn exception_end(&self) -> End {
        let esr = self.cpu.sys.get(SysReg::ESR_EL1);
        let ec = (esr >> 26) & 0x3f;
        match ec {
            0x00 | 0x0e => End::Undefined,                 // unknown reason, illegal state
            0x18 => End::Undefined,                        // trapped MSR/MRS (DAIF with UMA clear)
            0x20 | 0x21 => End::Segv,                      // instruction abort
            0x22 | 0x26 => End::Bus,                       // PC or SP alignment
            0x24 | 0x25 if esr & 0x3f == 0x21 => End::Bus, // data abort: alignment
            0x24 | 0x25 => End::Segv,                      // data abort: anything else
            0x3c => End::Trap,                             // BRK
            _ => End::Other(format!("exception ESR_EL1={esr:#x}")),
        }
    }

    /// Registers and PC as a Linux signal frame would show them: after an
    /// exception, the EL0 values (SP_EL0, NZCV from SPSR_EL1, PC from
    /// ELR_EL1).
    pub(crate) fn snapshot(&self, faulted: bool) -> (u64, State) {
        let cpu = &self.cpu;
        let (pc, nzcv) = if faulted {
            (
                cpu.sys.get(SysReg::ELR_EL1),
                cpu.sys.get(SysReg::SPSR_EL1) & 0xf000_0000,
            )
        } else {
            (cpu.pc, u64::from(cpu.pstate.nzcv))
        };
        let st = State {
            x: cpu.x,
            sp: cpu.sp_el[0],
            nzcv,
            tpidr: cpu.sys.get(SysReg::TPIDR_EL0),
            v: cpu.v,
            fpcr: cpu.sys.get(SysReg::FPCR),
            fpsr: cpu.sys.get(SysReg::FPSR),
        };
        (pc, st)
    }
}

/// One data access seen by the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Access {
    pub(crate) addr: u64,
    pub(crate) size: u8,
}

/// A bus that answers every data access with zero and records it, and
/// fetches one given word.
struct ProbeBus {
    pc: u64,
    word: u32,
    accesses: Vec<Access>,
}

impl Bus for ProbeBus {
    fn read(&mut self, _req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
        self.accesses.push(Access { addr: pa.0, size });
        Ok(0)
    }
    fn write(&mut self, _req: Requester, pa: PhysAddr, size: u8, _value: u64) -> Result<(), BusError> {
        self.accesses.push(Access { addr: pa.0, size });
        Ok(())
    }
    fn fetch(&mut self, _cpu: usize, pa: PhysAddr) -> Result<u32, BusError> {
        if pa.0 == self.pc {
            Ok(self.word)
        } else {
            Err(BusError::Unmapped(pa))
        }
    }
}

/// What one word did on the probe core.
#[derive(Clone, Debug)]
pub(crate) struct ProbeResult {
    /// `None`: completed.
    pub(crate) end: Option<End>,
    pub(crate) next_pc: u64,
    pub(crate) accesses: Vec<Access>,
    pub(crate) after: State,
    /// FAR_EL1 after a data abort.
    pub(crate) fault_addr: Option<u64>,
}

/// Runs single words on a scratch core to see what they do.
pub(crate) struct Probe {
    core: Core,
    bus: ProbeBus,
}

impl Probe {
    pub(crate) fn new() -> Self {
        Probe {
            core: Core::new(),
            bus: ProbeBus {
                pc: 0,
                word: 0,
                accesses: Vec::new(),
            },
        }
    }

    pub(crate) fn run(&mut self, word: u32, pc: u64, st: &State) -> ProbeResult {
        self.core.prepare(st, pc);
        self.bus.pc = pc;
        self.bus.word = word;
        self.bus.accesses.clear();
        let stop = self.core.step(&mut self.bus);
        let (_, after) = self.core.snapshot(matches!(stop, Some((_, true))));
        let fault_addr =
            matches!(stop, Some((End::Bus | End::Segv, true))).then(|| self.core.cpu.sys.get(SysReg::FAR_EL1));
        ProbeResult {
            fault_addr,
            end: stop.map(|(e, _)| e),
            next_pc: self.core.cpu.pc,
            accesses: self.bus.accesses.clone(),
            after,
        }
    }
}

/// The code pages and the data window, as the harness maps them.
struct DiffBus {
    code: Vec<u8>,
    window: Vec<u8>,
    /// Indices of the window's 8-byte words written (or patched) since the
    /// window was last equal to the background.
    dirty: Vec<usize>,
}

impl DiffBus {
    fn slot(&mut self, pa: u64, size: u8) -> Option<&mut [u8]> {
        let n = u64::from(size);
        let (mem, off) = if pa >= CODE_BASE && pa + n <= CODE_BASE + CODE_SIZE {
            (&mut self.code, pa - CODE_BASE)
        } else if pa >= DATA_BASE && pa + n <= DATA_BASE + DATA_SIZE {
            (&mut self.window, pa - DATA_BASE)
        } else {
            return None;
        };
        mem.get_mut(off as usize..(off + n) as usize)
    }
}

impl Bus for DiffBus {
    fn ram_page(&mut self, pa: PhysAddr) -> Option<std::ptr::NonNull<u8>> {
        // Only the data window: code pages are written directly by the
        // runner, and stores to them must stay visible to an engine.
        let off = pa.0.checked_sub(DATA_BASE)?;
        if pa.0 & 0xfff != 0 || off + 0x1000 > DATA_SIZE {
            return None;
        }
        std::ptr::NonNull::new(self.window[off as usize..off as usize + 0x1000].as_mut_ptr())
    }
    fn read(&mut self, _req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
        let b = self.slot(pa.0, size).ok_or(BusError::Unmapped(pa))?;
        Ok(b.iter().rev().fold(0, |acc, &x| (acc << 8) | u64::from(x)))
    }
    fn write(&mut self, _req: Requester, pa: PhysAddr, size: u8, value: u64) -> Result<(), BusError> {
        if pa.0 >= DATA_BASE && pa.0 < DATA_BASE + DATA_SIZE {
            // Accesses never cross an 8-byte boundary (the Bus contract).
            self.dirty.push(((pa.0 - DATA_BASE) / 8) as usize);
        }
        let b = self.slot(pa.0, size).ok_or(BusError::Unmapped(pa))?;
        for (i, x) in b.iter_mut().enumerate() {
            *x = (value >> (8 * i)) as u8;
        }
        Ok(())
    }
}

/// Another engine for [`Runner::run_engine`]: runs a core like
/// [`Cpu::run`] (`budget` instructions at most).
pub type Engine<'a> = dyn FnMut(&mut Cpu, &mut dyn Bus, u64) -> (u64, crate::interp::StepEvent) + 'a;

/// Runs cases on our interpreter.
pub struct Runner {
    core: Core,
    bus: DiffBus,
    background: Vec<u8>,
}

impl Default for Runner {
    fn default() -> Self {
        Self::new()
    }
}

impl Runner {
    /// A runner with the standard [`background`].
    pub fn new() -> Self {
        let background = background();
        Runner {
            core: Core::new(),
            bus: DiffBus {
                code: vec![0; CODE_SIZE as usize],
                window: background.clone(),
                dirty: Vec::new(),
            },
            background,
        }
    }

    /// Runs `case` from its initial state to the marker or the first
    /// fault.
    pub fn run(&mut self, case: &Case) -> Outcome {
        // The trampoline's page stays zero here (the harness has its
        // trampoline there); cases never read or branch to it.
        let test = (TEST_PC - CODE_BASE) as usize;
        self.bus.code[test..].copy_from_slice(&case.test_page());
        // Back to the background (only the words the last case touched
        // differ from it), then the patches.
        for i in std::mem::take(&mut self.bus.dirty) {
            self.bus.window[8 * i..8 * i + 8].copy_from_slice(&self.background[8 * i..8 * i + 8]);
        }
        for &(off, v) in &case.patches {
            let off = off as usize;
            self.bus.window[off..off + 8].copy_from_slice(&v.to_le_bytes());
            self.bus.dirty.push(off / 8);
        }

        // Start at the first word: the entry branch at TEST_PC (if any)
        // changes nothing architectural.
        self.core.prepare(&case.init, case.first_pc());
        let end_pc = case.end_pc();
        // Branches only go forward, so this many steps always suffice.
        let limit = case.words.len() + 8;
        let mut end = None;
        let mut faulted = false;
        for _ in 0..limit {
            if self.core.cpu.pc == end_pc {
                end = Some(End::Completed);
                break;
            }
            if let Some((e, exception)) = self.core.step(&mut self.bus) {
                faulted = exception;
                end = Some(e);
                break;
            }
        }
        let end = end.unwrap_or_else(|| End::Other(format!("did not reach the marker in {limit} steps")));
        let (pc, state) = self.core.snapshot(faulted);
        // The window hash over the words that may differ from the
        // background (the same sum the harness takes over all of them).
        self.bus.dirty.sort_unstable();
        self.bus.dirty.dedup();
        let window_hash = self.bus.dirty.iter().fold(0u64, |h, &i| {
            let w = &self.bus.window[8 * i..8 * i + 8];
            if w == &self.background[8 * i..8 * i + 8] {
                h
            } else {
                h.wrapping_add(mix(i as u64, u64::from_le_bytes(w.try_into().expect("8 bytes"))))
            }
        });
        Outcome {
            end,
            pc,
            state,
            window_hash,
        }
    }

    /// Runs `case` on another engine (the JIT): `engine(cpu, bus, budget)`
    /// runs the core like [`Cpu::run`]. The case ends at its marker or at
    /// its first exception: VBAR_EL1 points at a vector page whose
    /// lower-EL synchronous entry is `HVC #0`, answered by the firmware
    /// conduit, which stops the engine. The outcome is computed exactly as
    /// [`Runner::run`] computes it, so the two can be compared field by
    /// field. Code is rewritten between cases, so the engine must forget
    /// its translations before each call.
    pub fn run_engine(&mut self, case: &Case, engine: &mut Engine<'_>) -> Outcome {
        let test = (TEST_PC - CODE_BASE) as usize;
        self.bus.code[test..].copy_from_slice(&case.test_page());
        self.bus.code[..test].fill(0);
        // VBAR_EL1 = CODE_BASE: the lower-EL AArch64 synchronous vector.
        self.bus.code[0x400..0x404].copy_from_slice(&0xd400_0002u32.to_le_bytes());
        self.bus.window.copy_from_slice(&self.background);
        self.bus.dirty.clear();
        for &(off, v) in &case.patches {
            let off = off as usize;
            self.bus.window[off..off + 8].copy_from_slice(&v.to_le_bytes());
        }
        self.core.prepare(&case.init, case.first_pc());
        let cpu = &mut self.core.cpu;
        cpu.sys.set(SysReg::VBAR_EL1, CODE_BASE);
        cpu.config.firmware_conduit = Some(crate::state::Conduit::Hvc);
        let end_pc = case.end_pc();
        let limit = case.words.len() as u64 + 8;
        let (_, ev) = engine(cpu, &mut self.bus, limit + 4);
        self.core.cpu.config.firmware_conduit = None;
        let cpu = &self.core.cpu;
        let esr = cpu.sys.get(SysReg::ESR_EL1);
        let stopped = ev == crate::interp::StepEvent::FirmwareCall && cpu.pc == CODE_BASE + 0x404;
        let (end, faulted) = if !stopped {
            (
                End::Other(format!("engine stopped with {ev:?} at {:#x}", cpu.pc)),
                false,
            )
        } else if esr >> 26 == 0 && cpu.sys.get(SysReg::ELR_EL1) == end_pc {
            (End::Completed, true)
        } else {
            (self.core.exception_end(), true)
        };
        let (pc, state) = self.core.snapshot(faulted);
        let window_hash = self
            .bus
            .window
            .chunks_exact(8)
            .zip(self.background.chunks_exact(8))
            .enumerate()
            .filter(|(_, (w, b))| w != b)
            .fold(0u64, |h, (i, (w, _))| {
                h.wrapping_add(mix(i as u64, u64::from_le_bytes(w.try_into().expect("8 bytes"))))
            });
        Outcome {
            end,
            pc,
            state,
            window_hash,
        }
    }

    /// The data window as the last [`Runner::run`] left it.
    pub fn window(&self) -> &[u8] {
        &self.bus.window
    }

    /// The window's contents before each case's patches.
    pub fn background(&self) -> &[u8] {
        &self.background
    }
}
