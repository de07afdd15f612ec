//! The inspection and control interface of a [`Machine`]: what a debugger
//! (the `gdb` crate), a GUI or a monitor uses to look at and drive the
//! guest. Nothing here knows a wire protocol.
//!
//! - Registers of any core ([`Reg`]): X0-X30, SP, PC, CPSR, V0-V31,
//!   FPSR/FPCR and the system registers the CPU implements, by encoding.
//! - Memory by virtual address through a core's current translation
//!   regime (a debugger walk: no TLB fill, no fault taken, no permission
//!   check) or by physical address; unmapped addresses are errors.
//! - Breakpoints (software and hardware kinds share one mechanism: the
//!   engines check the PC at instruction boundaries, and the JIT ends
//!   blocks before breakpoints), watchpoints (exact byte ranges; the JIT
//!   keeps watched pages out of its fast-path TLB so every access to them
//!   takes the checked slow path), single steps and runs until a [`Stop`].
//! - Devices: the list, the GIC's state and each device's own description
//!   of its live state ([`Machine::device_views`]).
//!
//! Changing breakpoints or watchpoints flushes the JIT's translations and
//! fast-path TLBs, so no block translated before the change runs after it.

use crate::machine::{Engine, Machine, MachineError, Power, RunOutcome};
use cpu_aarch64::bus::{AccessKind, Bus, PhysAddr, Requester};
use cpu_aarch64::debug::{DebugHit, WatchKind, Watchpoint};
pub use cpu_aarch64::mmu::{DebugWalk, WalkStep};
use cpu_aarch64::sem::SysRegId;
use cpu_aarch64::sysreg::{SysReg, SysRegError, SYSREGS};
use cpu_aarch64::{StepEvent, StopReason};
use std::time::Instant;

/// A register of one core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// X0..X30.
    X(u8),
    /// The stack pointer selected by PSTATE.
    Sp,
    /// The program counter.
    Pc,
    /// PSTATE in SPSR layout (NZCV, PAN, SS, IL, DAIF, EL, SPSel), 32 bits.
    Cpsr,
    /// V0..V31, 128 bits.
    V(u8),
    /// FPSR.
    Fpsr,
    /// FPCR.
    Fpcr,
    /// A system register by encoding.
    Sys(SysRegId),
}

/// Which addresses memory accesses use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Space {
    /// Virtual addresses in the core's current translation regime.
    #[default]
    Virtual,
    /// Physical addresses.
    Physical,
}

/// Breakpoint flavours a debugger distinguishes. Both stop the same way;
/// they are kept apart so removing one kind leaves the other in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakKind {
    /// A software breakpoint (no guest memory is patched).
    Software,
    /// A hardware breakpoint.
    Hardware,
}

/// Why a run or a step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Core `core` reached a breakpoint at `pc` (not executed yet).
    Breakpoint {
        /// The core.
        core: usize,
        /// The breakpoint's address.
        pc: u64,
    },
    /// Core `core`'s instruction at `pc` accessed watched memory and has
    /// not completed.
    Watchpoint {
        /// The core.
        core: usize,
        /// The accessing instruction.
        pc: u64,
        /// The first watched byte accessed.
        addr: u64,
        /// The watchpoint's kind.
        kind: WatchKind,
    },
    /// A single step of core `core` completed (one instruction retired or
    /// one exception taken).
    Stepped {
        /// The core.
        core: usize,
    },
    /// The guest exited (semihosting) with this code.
    Exited(i32),
    /// The guest powered the system off.
    PoweredOff,
    /// The guest asked for a system reset.
    Reset,
    /// The user quit from the console.
    Quit,
    /// Core `core` cannot continue (stuck in an exception loop).
    Fatal {
        /// The core.
        core: usize,
        /// Why.
        message: String,
    },
}

/// Why an inspection or control request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such core.
    #[error("no core {0} (the machine has {1})")]
    NoCore(usize, usize),
    /// The register does not exist on this core.
    #[error("core {core}: no register {reg:?}")]
    NoRegister {
        /// The core.
        core: usize,
        /// The register.
        reg: Reg,
    },
    /// The register cannot be written.
    #[error("core {core}: register {reg:?} is read-only")]
    ReadOnly {
        /// The core.
        core: usize,
        /// The register.
        reg: Reg,
    },
    /// A virtual address has no translation in the core's current regime.
    #[error("core {core}: virtual address {va:#x} is not mapped")]
    Unmapped {
        /// The core.
        core: usize,
        /// The address.
        va: u64,
    },
    /// Nothing answers at a physical address.
    #[error("no memory or device at physical address {0:#x}")]
    Bus(u64),
}

/// The machine-wide breakpoints and watchpoints (every core gets the
/// same set).
#[derive(Clone, Debug, Default)]
pub struct DebugPoints {
    breakpoints: Vec<(u64, BreakKind)>,
    watchpoints: Vec<Watchpoint>,
}

/// How to single-step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepOptions {
    /// Pending interrupts are not taken during the step (the default, as
    /// debuggers expect: a step lands on the next instruction).
    pub mask_interrupts: bool,
}

impl Default for StepOptions {
    fn default() -> Self {
        StepOptions { mask_interrupts: true }
    }
}

/// What a core looks like from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreStatus {
    /// MPIDR_EL1.
    pub mpidr: u64,
    /// Powered on (running or asleep in WFI/WFE).
    pub on: bool,
    /// Asleep in WFI/WFE.
    pub sleeping: bool,
    /// Current exception level.
    pub el: u8,
    /// Program counter.
    pub pc: u64,
}

/// A system register a debugger can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysRegDesc {
    /// Architectural name, e.g. `MPIDR_EL1`.
    pub name: &'static str,
    /// Encoding.
    pub id: SysRegId,
}

/// A memory-mapped device as a debugger lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Instance name.
    pub name: String,
    /// Its device-tree `compatible` strings.
    pub compatible: Vec<String>,
    /// Its MMIO windows as (base, size).
    pub regions: Vec<(u64, u64)>,
}

/// Execution counters of a machine (a GUI's statistics, `--stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Instructions retired by each core.
    pub per_core: Vec<u64>,
    /// The JIT's counters, when it is the engine.
    pub jit: Option<jit::Stats>,
}

impl ExecStats {
    /// Instructions retired by all cores.
    pub fn instructions(&self) -> u64 {
        self.per_core.iter().sum()
    }
}

/// PSTATE as the 32-bit CPSR value debuggers show (SPSR layout).
fn cpsr_of(p: &cpu_aarch64::state::PState) -> u64 {
    p.to_spsr() & 0xffff_ffff
}

impl Machine {
    fn check_core(&self, core: usize) -> Result<(), ControlError> {
        match core < self.cpus.len() {
            true => Ok(()),
            false => Err(ControlError::NoCore(core, self.cpus.len())),
        }
    }

    /// The number of cores.
    pub fn core_count(&self) -> usize {
        self.cpus.len()
    }

    /// Core `core`'s state at a glance.
    pub fn core_status(&self, core: usize) -> Result<CoreStatus, ControlError> {
        self.check_core(core)?;
        let c = &self.cpus[core];
        Ok(CoreStatus {
            mpidr: c.config.mpidr,
            on: self.power[core] != Power::Off,
            sleeping: matches!(self.power[core], Power::Wfi | Power::Wfe),
            el: c.pstate.el,
            pc: c.pc,
        })
    }

    /// The engine's name, as `--engine` spells it.
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// Whether time is deterministic (`--deterministic`).
    pub fn is_deterministic(&self) -> bool {
        self.virtual_ns().is_some()
    }

    /// Instruction counts and engine counters.
    pub fn exec_stats(&self) -> ExecStats {
        ExecStats {
            per_core: self.cpus.iter().map(|c| c.icount).collect(),
            jit: self.jit_stats(),
        }
    }

    /// The breakpoints set, in insertion order.
    pub fn breakpoints(&self) -> Vec<(u64, BreakKind)> {
        self.debug.breakpoints.clone()
    }

    /// Core `core`'s stage 1 walk of `va` in its current regime, every
    /// descriptor read shown (debug reads: nothing cached, nothing taken).
    pub fn translation_walk(&mut self, core: usize, va: u64) -> Result<DebugWalk, ControlError> {
        self.check_core(core)?;
        Ok(self.cpus[core].walk_debug(&mut self.bus, va))
    }

    /// The memory-mapped devices, in bus order.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.bus
            .devices()
            .map(|d| DeviceInfo {
                name: d.name().to_string(),
                compatible: match d.dt_node().and_then(|n| n.get("compatible").cloned()) {
                    Some(soc::dt::PropValue::Strings(v)) => v,
                    _ => Vec::new(),
                },
                regions: d.regions().iter().map(|r| (r.base, r.size)).collect(),
            })
            .collect()
    }

    /// Each device's live state as it describes itself
    /// ([`soc::device::Device::inspect`]: virtio queues, flash command
    /// state), by instance name in bus order; devices that do not describe
    /// themselves are left out. Nothing changes: devices are read shared,
    /// guest RAM with plain reads.
    pub fn device_views(&self) -> Vec<(String, soc::device::DeviceView)> {
        let ram = self.bus.ram();
        self.bus
            .devices()
            .filter_map(|d| d.inspect(ram).map(|v| (d.name().to_string(), v)))
            .collect()
    }

    /// The implemented system registers readable on core `core` (what a
    /// debugger lists), in table order.
    pub fn sysreg_list(&mut self, core: usize) -> Result<Vec<SysRegDesc>, ControlError> {
        self.check_core(core)?;
        Ok(SYSREGS
            .iter()
            .filter(|r| self.read_reg(core, Reg::Sys(r.id)).is_ok())
            .map(|r| SysRegDesc { name: r.name, id: r.id })
            .collect())
    }

    /// PSTATE at the core's highest implemented EL: the view a debugger
    /// accesses system registers from (no EL-based refusal or trap).
    fn debugger_pstate(&self, core: usize) -> cpu_aarch64::state::PState {
        let c = &self.cpus[core];
        let mut p = c.pstate;
        p.el = c.sys.highest_el();
        p.sp = true;
        p
    }

    /// Reads register `reg` of core `core` (zero-extended to 128 bits).
    pub fn read_reg(&mut self, core: usize, reg: Reg) -> Result<u128, ControlError> {
        self.check_core(core)?;
        let no = ControlError::NoRegister { core, reg };
        let pstate = self.debugger_pstate(core);
        let c = &mut self.cpus[core];
        Ok(match reg {
            Reg::X(n) if n < 31 => u128::from(c.x[usize::from(n)]),
            Reg::X(_) | Reg::V(32..) => return Err(no),
            Reg::Sp => u128::from(c.sp()),
            Reg::Pc => u128::from(c.pc),
            Reg::Cpsr => u128::from(cpsr_of(&c.pstate)),
            Reg::V(n) => c.v[usize::from(n)],
            Reg::Fpsr => u128::from(c.sys.get(SysReg::FPSR)),
            Reg::Fpcr => u128::from(c.sys.get(SysReg::FPCR)),
            Reg::Sys(id) => {
                if SysReg::from_id(id).is_none() {
                    return Err(no);
                }
                // PSTATE views (NZCV, DAIF, CurrentEL, ...) read the core's
                // real PSTATE; everything else as from the highest EL.
                let view = match SysReg::from_id(id) {
                    Some(SysReg::NZCV | SysReg::DAIF | SysReg::CURRENTEL | SysReg::SPSEL | SysReg::PAN) => c.pstate,
                    _ => pstate,
                };
                match c.sys.read(id, &view, &c.sp_el) {
                    Ok(v) => u128::from(v),
                    Err(_) => return Err(no),
                }
            }
        })
    }

    /// Writes register `reg` of core `core` (truncated to its width).
    pub fn write_reg(&mut self, core: usize, reg: Reg, value: u128) -> Result<(), ControlError> {
        self.check_core(core)?;
        let no = ControlError::NoRegister { core, reg };
        let pstate = self.debugger_pstate(core);
        let c = &mut self.cpus[core];
        let v = value as u64;
        match reg {
            Reg::X(n) if n < 31 => c.x[usize::from(n)] = v,
            Reg::X(_) | Reg::V(32..) => return Err(no),
            Reg::Sp => c.set_sp(v),
            Reg::Pc => c.pc = v,
            Reg::Cpsr => {
                // EL and SPSel as written when they name an implemented
                // EL; the rest as an exception return restores it.
                let el = (v >> 2 & 3) as u8;
                if el <= c.sys.highest_el() {
                    c.pstate.el = el;
                    c.pstate.sp = v & 1 == 1;
                }
                c.pstate.set_from_spsr(v, true);
                c.tlb.flush();
            }
            Reg::V(n) => c.v[usize::from(n)] = value,
            Reg::Fpsr => c.sys.set(SysReg::FPSR, v),
            Reg::Fpcr => c.sys.set(SysReg::FPCR, v),
            Reg::Sys(id) => {
                let Some(r) = SysReg::from_id(id) else {
                    return Err(no);
                };
                let mut view = match r {
                    SysReg::NZCV | SysReg::DAIF | SysReg::SPSEL | SysReg::PAN => c.pstate,
                    _ => pstate,
                };
                match c.sys.write(id, v, &mut view, &mut c.sp_el) {
                    Ok(()) => {}
                    Err(SysRegError::Undefined) if r.info().access == cpu_aarch64::sysreg::Access::RO => {
                        return Err(ControlError::ReadOnly { core, reg })
                    }
                    Err(_) => return Err(no),
                }
                if matches!(r, SysReg::NZCV | SysReg::DAIF | SysReg::SPSEL | SysReg::PAN) {
                    c.pstate = view;
                }
                // A translation register may have changed: drop cached
                // translations (the JIT's fast path follows the epoch).
                c.tlb.flush();
            }
        }
        Ok(())
    }

    /// The physical address of `addr` for core `core` in `space`.
    pub fn debug_translate(&mut self, core: usize, addr: u64, space: Space) -> Result<u64, ControlError> {
        self.check_core(core)?;
        match space {
            Space::Physical => Ok(addr),
            Space::Virtual => self.cpus[core]
                .translate_debug(&mut self.bus, addr)
                .map(|pa| pa.0)
                .map_err(|_| ControlError::Unmapped { core, va: addr }),
        }
    }

    /// Reads `buf.len()` bytes at `addr` as core `core` sees them, with
    /// debug accesses (no device side effects beyond a plain read).
    pub fn read_memory(&mut self, core: usize, addr: u64, space: Space, buf: &mut [u8]) -> Result<(), ControlError> {
        self.memory_chunks(core, addr, space, buf.len(), |bus, req, pa, at, size| {
            let v = bus.read(req, PhysAddr(pa), size).map_err(|_| ControlError::Bus(pa))?;
            buf[at..at + usize::from(size)].copy_from_slice(&v.to_le_bytes()[..usize::from(size)]);
            Ok(())
        })
    }

    /// Writes `data` at `addr` as core `core` sees it; translated code of
    /// the written pages is dropped.
    pub fn write_memory(&mut self, core: usize, addr: u64, space: Space, data: &[u8]) -> Result<(), ControlError> {
        let mut pages = Vec::new();
        let r = self.memory_chunks(core, addr, space, data.len(), |bus, req, pa, at, size| {
            let mut b = [0u8; 8];
            b[..usize::from(size)].copy_from_slice(&data[at..at + usize::from(size)]);
            if pages.last() != Some(&(pa >> 12)) {
                pages.push(pa >> 12);
            }
            bus.write(req, PhysAddr(pa), size, u64::from_le_bytes(b))
                .map_err(|_| ControlError::Bus(pa))
        });
        if let Engine::Jit(j) = &mut self.engine {
            for p in pages {
                j.invalidate_phys(p << 12);
            }
        }
        r
    }

    /// Splits an access of `len` bytes at `addr` into naturally aligned
    /// bus accesses inside single pages, translating each page once.
    fn memory_chunks(
        &mut self,
        core: usize,
        addr: u64,
        space: Space,
        len: usize,
        mut f: impl FnMut(&mut dyn Bus, Requester, u64, usize, u8) -> Result<(), ControlError>,
    ) -> Result<(), ControlError> {
        self.check_core(core)?;
        let req = Requester {
            cpu: core,
            kind: AccessKind::Debug,
        };
        let mut done = 0usize;
        while done < len {
            let va = addr.wrapping_add(done as u64);
            let pa = self.debug_translate(core, va, space)?;
            let in_page = (0x1000 - (va & 0xfff)) as usize;
            let end = done + in_page.min(len - done);
            let mut pa_at = pa;
            while done < end {
                let left = (end - done) as u64;
                let size = [8u64, 4, 2, 1]
                    .into_iter()
                    .find(|&s| s <= left && pa_at % s == 0)
                    .unwrap_or(1);
                f(&mut self.bus, req, pa_at, done, size as u8)?;
                done += size as usize;
                pa_at += size;
            }
        }
        Ok(())
    }

    /// Whether core `core`'s PC has a breakpoint.
    pub fn at_breakpoint(&self, core: usize) -> bool {
        self.cpus.get(core).is_some_and(|c| c.debug.is_breakpoint(c.pc))
    }

    /// Adds a breakpoint at virtual address `pc` (on every core).
    pub fn insert_breakpoint(&mut self, pc: u64, kind: BreakKind) {
        self.debug.breakpoints.push((pc, kind));
        self.apply_debug_points();
    }

    /// Removes one breakpoint of `kind` at `pc`; false if there was none.
    pub fn remove_breakpoint(&mut self, pc: u64, kind: BreakKind) -> bool {
        let Some(i) = self.debug.breakpoints.iter().position(|&b| b == (pc, kind)) else {
            return false;
        };
        self.debug.breakpoints.remove(i);
        self.apply_debug_points();
        true
    }

    /// Adds a watchpoint (on every core).
    pub fn insert_watchpoint(&mut self, w: Watchpoint) {
        self.debug.watchpoints.push(w);
        self.apply_debug_points();
    }

    /// Removes one watchpoint equal to `w`; false if there was none.
    pub fn remove_watchpoint(&mut self, w: Watchpoint) -> bool {
        let Some(i) = self.debug.watchpoints.iter().position(|x| *x == w) else {
            return false;
        };
        self.debug.watchpoints.remove(i);
        self.apply_debug_points();
        true
    }

    /// Puts `next` (the same board built again, after a reset or for a
    /// snapshot restore) in this machine's place. The debugger's
    /// breakpoints and watchpoints carry over: it still believes them set.
    pub fn replace(&mut self, next: Machine) {
        let debug = std::mem::take(&mut self.debug);
        *self = next;
        self.debug = debug;
        self.apply_debug_points();
    }

    /// The interrupt controller's state (distributor, per-core
    /// redistributors and CPU interfaces), if the board has one.
    pub fn gic_view(&self) -> Option<soc::gic::GicView> {
        self.gic
            .as_ref()
            .map(|g| g.lock().unwrap_or_else(|e| e.into_inner()).view())
    }

    /// Removes every breakpoint and watchpoint (a debugger detaching).
    pub fn clear_debug_points(&mut self) {
        self.debug = Default::default();
        self.apply_debug_points();
    }

    fn apply_debug_points(&mut self) {
        let pcs: Vec<u64> = self.debug.breakpoints.iter().map(|b| b.0).collect();
        for c in &mut self.cpus {
            c.debug.set_breakpoints(pcs.clone());
            c.debug.set_watchpoints(self.debug.watchpoints.clone());
        }
        // Blocks may run past a new breakpoint and fast-path entries may
        // cover a newly watched page: start over.
        if let Engine::Jit(j) = &mut self.engine {
            j.flush();
        }
    }

    /// What core `core`'s last debug stop was, as a [`Stop`].
    fn debug_stop(&self, core: usize) -> Stop {
        match self.cpus[core].debug.hit {
            Some(DebugHit::Watchpoint { pc, addr, kind, .. }) => Stop::Watchpoint { core, pc, addr, kind },
            Some(DebugHit::Breakpoint { pc }) => Stop::Breakpoint { core, pc },
            None => Stop::Breakpoint {
                core,
                pc: self.cpus[core].pc,
            },
        }
    }

    fn stop_of(&self, outcome: RunOutcome) -> Option<Stop> {
        match outcome {
            RunOutcome::DebugStop { core } => Some(self.debug_stop(core)),
            RunOutcome::Exited(c) => Some(Stop::Exited(c)),
            RunOutcome::PoweredOff => Some(Stop::PoweredOff),
            RunOutcome::Reset => Some(Stop::Reset),
            RunOutcome::Quit => Some(Stop::Quit),
            RunOutcome::Deadline | RunOutcome::InstructionLimit => None,
        }
    }

    /// Executes one instruction of core `core` (or takes one exception),
    /// other cores staying where they are. A core that is off does not
    /// move; one asleep in WFI/WFE wakes (as it architecturally may).
    pub fn step_core(&mut self, core: usize, opts: StepOptions) -> Result<Stop, ControlError> {
        self.check_core(core)?;
        if self.power[core] == Power::Off {
            return Ok(Stop::Stepped { core });
        }
        self.power[core] = Power::On;
        let cpu = &mut self.cpus[core];
        cpu.debug.mask_interrupts = opts.mask_interrupts;
        cpu.debug.hit = None;
        cpu.resume_past_breakpoint();
        // A step is a turn of its own: deterministic time advances by the
        // instruction it retires, as in a run (and a counter read during
        // the step sees the time of that instruction).
        let before = cpu.icount;
        if let Some(c) = &self.vclock {
            c.begin_turn(before);
        }
        let r = match &mut self.engine {
            Engine::Interp => cpu.step(&mut self.bus),
            Engine::Jit(j) => j.step(cpu, &mut self.bus),
        };
        if let Some(c) = &self.vclock {
            c.end_turn(cpu.icount - before);
        }
        cpu.debug.mask_interrupts = false;
        let ev = match r {
            Ok(()) | Err(StopReason::Exception) => StepEvent::Budget,
            Err(StopReason::Semihosting) => StepEvent::Semihosting,
            Err(StopReason::WaitForInterrupt) => StepEvent::WaitForInterrupt,
            Err(StopReason::WaitForEvent) => StepEvent::WaitForEvent,
            Err(StopReason::FirmwareCall) => StepEvent::FirmwareCall,
            Err(StopReason::Debug) => StepEvent::Debug,
        };
        // No other core runs between steps: the exclusive monitor
        // survives (stepping through LDXR/STXR must be able to succeed).
        let monitor = self.cpus[core].monitor;
        let outcome = self.after_turn(core, ev);
        self.cpus[core].monitor = monitor;
        Ok(match outcome {
            Ok(Some(o)) => self.stop_of(o).unwrap_or(Stop::Stepped { core }),
            Ok(None) => Stop::Stepped { core },
            Err(MachineError::GuestFatal { cpu, message }) => Stop::Fatal { core: cpu, message },
            Err(e) => Stop::Fatal {
                core,
                message: e.to_string(),
            },
        })
    }

    /// Runs every core until a [`Stop`], or `None` once the host clock
    /// passes `deadline` (call again to go on; a debugger polls its
    /// connection in between). A core stopped at a breakpoint executes
    /// that instruction first (when still there). A machine whose cores all wait with nothing
    /// to wake them idles until the deadline instead of failing.
    pub fn resume(&mut self, deadline: Instant) -> Result<Option<Stop>, MachineError> {
        let others_run = self.power.iter().filter(|&&p| p != Power::Off).count() > 1;
        for c in &mut self.cpus {
            // Other cores may run before this one's next instruction (a
            // debug stop left its exclusive monitor armed for steps).
            if others_run {
                c.monitor = None;
            }
            // Only the first slice after a breakpoint stop skips it.
            if c.debug.hit.take() == Some(DebugHit::Breakpoint { pc: c.pc }) {
                c.resume_past_breakpoint();
            }
        }
        match self.run_until(None, Some(deadline)) {
            Ok(o) => Ok(self.stop_of(o)),
            Err(MachineError::Deadlock { .. }) => {
                if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                Ok(None)
            }
            Err(MachineError::GuestFatal { cpu, message }) => Ok(Some(Stop::Fatal { core: cpu, message })),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
