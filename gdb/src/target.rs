//! gdbstub's target traits over the machine's control interface
//! ([`boards::control`]): each core is a thread (tid = core + 1), all
//! stop together, and only the stepped core moves during a step.

use crate::arch::{AArch64Reg, CoreRegs, PreboardAArch64};
use crate::{Rebuild, RebuildError};
use boards::control::{BreakKind, Reg, Space, StepOptions, Stop, SysRegDesc};
use boards::machine::Machine;
use cpu_aarch64::debug::{WatchKind as CpuWatch, Watchpoint};
use gdbstub::common::{Signal, Tid};
use gdbstub::outputln;
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadRangeStepping, MultiThreadRangeSteppingOps, MultiThreadResume, MultiThreadResumeOps,
    MultiThreadSchedulerLocking, MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::single_register_access::{SingleRegisterAccess, SingleRegisterAccessOps};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint,
    SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::ext::target_description_xml_override::{
    TargetDescriptionXmlOverride, TargetDescriptionXmlOverrideOps,
};
use gdbstub::target::ext::thread_extra_info::{ThreadExtraInfo, ThreadExtraInfoOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use soc::gic::{GicVersion, IrqView};

/// What the cores do when resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Every core runs.
    Continue,
    /// One core executes one instruction.
    Step(usize),
    /// One core steps while its PC is in `start..end`.
    Range(usize, u64, u64),
}

/// The debugged machine as gdbstub sees it.
pub struct GdbTarget<'m> {
    pub(crate) machine: &'m mut Machine,
    sysregs: Vec<SysRegDesc>,
    pub(crate) xml: String,
    pub(crate) resume: Resume,
    /// Memory accesses use physical addresses (`monitor phys on`).
    space: Space,
    /// Steps take pending interrupts (`monitor step-irq on`).
    step_irqs: bool,
    /// The core of the last stop (Ctrl-C reports it).
    pub(crate) focus: usize,
    /// How the guest ended, when it did during the session.
    pub(crate) last_outcome: Option<boards::machine::RunOutcome>,
    /// Builds the machine again (resets, snapshot restores).
    rebuild: Option<&'m mut dyn Rebuild>,
}

pub(crate) fn tid_of(core: usize) -> Tid {
    Tid::new(core + 1).expect("core + 1 is non-zero")
}

fn core_of(tid: Tid) -> usize {
    tid.get() - 1
}

fn nonfatal<T>(_: boards::control::ControlError) -> TargetError<T> {
    TargetError::NonFatal
}

impl<'m> GdbTarget<'m> {
    /// A target over `machine`; the system registers offered are those
    /// core 0 implements.
    pub fn new(machine: &'m mut Machine) -> Self {
        Self::with_rebuild(machine, None)
    }

    /// [`GdbTarget::new`] with a way to build the machine again (`monitor
    /// reset`, `monitor snapshot load`, guest resets).
    pub fn with_rebuild(machine: &'m mut Machine, rebuild: Option<&'m mut dyn Rebuild>) -> Self {
        let sysregs = machine.sysreg_list(0).unwrap_or_default();
        let names: Vec<&str> = sysregs.iter().map(|r| r.name).collect();
        let xml = crate::arch::target_xml(&names);
        GdbTarget {
            machine,
            sysregs,
            xml,
            resume: Resume::Continue,
            space: Space::Virtual,
            step_irqs: false,
            focus: 0,
            last_outcome: None,
            rebuild,
        }
    }

    /// The guest asked for a system reset: restarts the machine in place
    /// if the program allows it (false: the run ends).
    pub(crate) fn guest_reset(&mut self) -> bool {
        let Some(r) = self.rebuild.as_deref_mut() else {
            return false;
        };
        let restarted = crate::guest_reset(self.machine, r);
        if restarted {
            self.focus = 0;
        }
        restarted
    }

    /// `monitor reset` and `monitor snapshot load`: a new machine in place
    /// of this one (same board, so the same threads and registers).
    fn rebuild_with(
        &mut self,
        build: impl FnOnce(&mut dyn Rebuild) -> Result<Machine, RebuildError>,
    ) -> Result<(), String> {
        let Some(r) = self.rebuild.as_deref_mut() else {
            return Err("this stub cannot rebuild the machine".into());
        };
        let m = build(r).map_err(|e| crate::chain(&*e))?;
        if m.core_count() != self.machine.core_count() {
            return Err(format!(
                "the new machine has {} cores, this one {}",
                m.core_count(),
                self.machine.core_count()
            ));
        }
        self.machine.replace(m);
        self.focus = 0;
        Ok(())
    }

    /// One line per core: power state, EL, PC and instructions retired.
    fn cores_info(&mut self, out: &mut ConsoleOutput<'_>) {
        for c in 0..self.machine.core_count() {
            if let Ok(s) = self.machine.core_status(c) {
                let state = match (s.on, s.sleeping) {
                    (false, _) => "off",
                    (true, true) => "asleep (WFI/WFE)",
                    (true, false) => "on",
                };
                let icount = self.machine.cpus[c].icount;
                outputln!(
                    out,
                    "core {c}: MPIDR {:#x} {state} EL{} PC {:#x}, {icount} instructions",
                    s.mpidr,
                    s.el,
                    s.pc
                );
            }
        }
    }

    fn reg_of(&self, r: AArch64Reg) -> Option<Reg> {
        Some(match r {
            AArch64Reg::X(n) => Reg::X(n),
            AArch64Reg::Sp => Reg::Sp,
            AArch64Reg::Pc => Reg::Pc,
            AArch64Reg::Cpsr => Reg::Cpsr,
            AArch64Reg::V(n) => Reg::V(n),
            AArch64Reg::Fpsr => Reg::Fpsr,
            AArch64Reg::Fpcr => Reg::Fpcr,
            AArch64Reg::Sys(i) => Reg::Sys(self.sysregs.get(i)?.id),
        })
    }

    pub(crate) fn step_options(&self) -> StepOptions {
        StepOptions {
            mask_interrupts: !self.step_irqs,
        }
    }

    /// One step of `core` (the `Step` resume), as a stop to report.
    pub(crate) fn step(&mut self, core: usize) -> Stop {
        let opts = self.step_options();
        self.machine.step_core(core, opts).unwrap_or(Stop::Stepped { core })
    }
}

impl Target for GdbTarget<'_> {
    type Arch = PreboardAArch64;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    fn support_target_description_xml_override(&mut self) -> Option<TargetDescriptionXmlOverrideOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadBase for GdbTarget<'_> {
    fn read_registers(&mut self, regs: &mut CoreRegs, tid: Tid) -> TargetResult<(), Self> {
        let c = core_of(tid);
        let m = &mut *self.machine;
        let mut rd = |r: Reg| m.read_reg(c, r).map_err(nonfatal);
        for i in 0..31 {
            regs.x[i] = rd(Reg::X(i as u8))? as u64;
        }
        regs.sp = rd(Reg::Sp)? as u64;
        regs.pc = rd(Reg::Pc)? as u64;
        regs.cpsr = rd(Reg::Cpsr)? as u32;
        for i in 0..32 {
            regs.v[i] = rd(Reg::V(i as u8))?;
        }
        regs.fpsr = rd(Reg::Fpsr)? as u32;
        regs.fpcr = rd(Reg::Fpcr)? as u32;
        Ok(())
    }

    fn write_registers(&mut self, regs: &CoreRegs, tid: Tid) -> TargetResult<(), Self> {
        let c = core_of(tid);
        let m = &mut *self.machine;
        let mut wr = |r: Reg, v: u128| m.write_reg(c, r, v).map_err(nonfatal);
        for (i, x) in regs.x.iter().enumerate() {
            wr(Reg::X(i as u8), u128::from(*x))?;
        }
        wr(Reg::Sp, u128::from(regs.sp))?;
        wr(Reg::Pc, u128::from(regs.pc))?;
        wr(Reg::Cpsr, u128::from(regs.cpsr))?;
        for (i, v) in regs.v.iter().enumerate() {
            wr(Reg::V(i as u8), *v)?;
        }
        wr(Reg::Fpsr, u128::from(regs.fpsr))?;
        wr(Reg::Fpcr, u128::from(regs.fpcr))
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, Tid, Self>> {
        Some(self)
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let c = core_of(tid);
        // As much as is readable from the start: gdb shows the rest as
        // inaccessible.
        match self.machine.read_memory(c, start, self.space, data) {
            Ok(()) => Ok(data.len()),
            Err(_) => {
                let mut n = 0;
                while n < data.len() {
                    let addr = start.wrapping_add(n as u64);
                    if self
                        .machine
                        .read_memory(c, addr, self.space, &mut data[n..n + 1])
                        .is_err()
                    {
                        break;
                    }
                    n += 1;
                }
                if n == 0 {
                    Err(TargetError::Errno(14))
                } else {
                    Ok(n)
                }
            }
        }
    }

    fn write_addrs(&mut self, start: u64, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        self.machine
            .write_memory(core_of(tid), start, self.space, data)
            .map_err(|_| TargetError::Errno(14))
    }

    fn list_active_threads(&mut self, thread_is_active: &mut dyn FnMut(Tid)) -> Result<(), Self::Error> {
        for c in 0..self.machine.core_count() {
            thread_is_active(tid_of(c));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}

impl SingleRegisterAccess<Tid> for GdbTarget<'_> {
    fn read_register(&mut self, tid: Tid, reg: AArch64Reg, buf: &mut [u8]) -> TargetResult<usize, Self> {
        let r = self.reg_of(reg).ok_or(TargetError::NonFatal)?;
        let v = self.machine.read_reg(core_of(tid), r).map_err(nonfatal)?;
        let n = reg.size().min(buf.len());
        buf[..n].copy_from_slice(&v.to_le_bytes()[..n]);
        Ok(n)
    }

    fn write_register(&mut self, tid: Tid, reg: AArch64Reg, val: &[u8]) -> TargetResult<(), Self> {
        let r = self.reg_of(reg).ok_or(TargetError::NonFatal)?;
        if val.len() > 16 {
            return Err(TargetError::NonFatal);
        }
        let mut b = [0u8; 16];
        b[..val.len()].copy_from_slice(val);
        self.machine
            .write_reg(core_of(tid), r, u128::from_le_bytes(b))
            .map_err(nonfatal)
    }
}

impl ThreadExtraInfo for GdbTarget<'_> {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let Ok(s) = self.machine.core_status(core_of(tid)) else {
            return Ok(0);
        };
        let state = match (s.on, s.sleeping) {
            (false, _) => "off",
            (true, true) => "asleep (WFI/WFE)",
            (true, false) => "on",
        };
        let text = format!("core {}, MPIDR {:#x}, EL{}, {state}", core_of(tid), s.mpidr, s.el);
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        Ok(n)
    }
}

impl MultiThreadResume for GdbTarget<'_> {
    fn resume(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        self.resume = Resume::Continue;
        Ok(())
    }

    fn set_resume_action_continue(&mut self, _tid: Tid, _signal: Option<Signal>) -> Result<(), Self::Error> {
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_range_step(&mut self) -> Option<MultiThreadRangeSteppingOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSchedulerLocking for GdbTarget<'_> {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        // Steps already move only the stepped core.
        Ok(())
    }
}

impl MultiThreadSingleStep for GdbTarget<'_> {
    fn set_resume_action_step(&mut self, tid: Tid, _signal: Option<Signal>) -> Result<(), Self::Error> {
        // All stop together: a step moves only this core.
        self.resume = Resume::Step(core_of(tid));
        Ok(())
    }
}

impl MultiThreadRangeStepping for GdbTarget<'_> {
    fn set_resume_action_range_step(&mut self, tid: Tid, start: u64, end: u64) -> Result<(), Self::Error> {
        self.resume = Resume::Range(core_of(tid), start, end);
        Ok(())
    }
}

impl Breakpoints for GdbTarget<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for GdbTarget<'_> {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.machine.insert_breakpoint(addr, BreakKind::Software);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.machine.remove_breakpoint(addr, BreakKind::Software))
    }
}

impl HwBreakpoint for GdbTarget<'_> {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.machine.insert_breakpoint(addr, BreakKind::Hardware);
        Ok(true)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.machine.remove_breakpoint(addr, BreakKind::Hardware))
    }
}

fn watchpoint(addr: u64, len: u64, kind: WatchKind) -> Watchpoint {
    Watchpoint {
        addr,
        len: len.max(1),
        kind: match kind {
            WatchKind::Write => CpuWatch::Write,
            WatchKind::Read => CpuWatch::Read,
            WatchKind::ReadWrite => CpuWatch::Access,
        },
    }
}

impl HwWatchpoint for GdbTarget<'_> {
    fn add_hw_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> TargetResult<bool, Self> {
        self.machine.insert_watchpoint(watchpoint(addr, len, kind));
        Ok(true)
    }

    fn remove_hw_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> TargetResult<bool, Self> {
        Ok(self.machine.remove_watchpoint(watchpoint(addr, len, kind)))
    }
}

impl TargetDescriptionXmlOverride for GdbTarget<'_> {
    fn target_description_xml(
        &self,
        annex: &[u8],
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        if annex != b"target.xml" {
            return Err(TargetError::NonFatal);
        }
        let xml = self.xml.as_bytes();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(xml.len());
        let n = length.min(buf.len()).min(xml.len() - start);
        buf[..n].copy_from_slice(&xml[start..start + n]);
        Ok(n)
    }
}

const MONITOR_HELP: &str = "\
Preboard monitor commands:
  help                 this text
  info cores           power state, EL, PC and instruction count of every core
  info jit             the JIT's counters (when the JIT runs the guest)
  info devices         MMIO devices with their windows
  info gic             the interrupt controller: distributor, and per core the
                       redistributor (GICv3) and CPU interface (ICC_* or GICC_*);
                       every enabled, pending or active interrupt with its
                       priority, group, trigger and routing
  info time            instructions retired per core and in all, the system
                       counter and, in deterministic mode, the virtual time
  phys on|off          memory accesses use physical (on) or virtual (off) addresses
  translate ADDR       the physical address of virtual ADDR on core 0
  step-irq on|off      single steps take pending interrupts (default off)
  reset                reset the machine as the guest's PSCI SYSTEM_RESET does
                       (cores, devices, RAM and images as at start); breakpoints
                       stay. gdb caches registers: `maint flush register-cache`
  snapshot save FILE   save the whole machine as it stands
  snapshot load FILE   restore a saved machine in place of this one (same board;
                       then `maint flush register-cache` in gdb)";

impl GdbTarget<'_> {
    /// `monitor info gic`: the distributor, then per core the
    /// redistributor (v3) and CPU interface, each with the interrupts
    /// that are enabled, pending or active (side-effect free: nothing is
    /// acknowledged).
    fn gic_info(&mut self, out: &mut ConsoleOutput<'_>) {
        let Some(v) = self.machine.gic_view() else {
            outputln!(out, "this board has no GIC");
            return;
        };
        let v3 = v.version == GicVersion::V3;
        let c = v.dist_ctlr;
        outputln!(
            out,
            "GICv{}: GICD_CTLR {c:#x} (EnableGrp0 {}, EnableGrp1 {}{}), GICD_TYPER {:#x}, {} SPIs",
            if v3 { 3 } else { 2 },
            c & 1,
            c >> 1 & 1,
            if v3 {
                format!(", ARE {}, DS {}", c >> 4 & 1, c >> 6 & 1)
            } else {
                String::new()
            },
            v.dist_typer,
            v.spis.len()
        );
        irq_lines(
            out,
            "  ",
            if v3 {
                "SPIs (route = GICD_IROUTER)"
            } else {
                "SPIs (route = GICD_ITARGETSR)"
            },
            &v.spis,
        );
        for (i, cpu) in v.cpus.iter().enumerate() {
            let hppi = match cpu.hppi {
                Some((id, prio, g)) => format!("{id} (priority {prio:#x}, group {g})"),
                None => "none".into(),
            };
            if v3 {
                outputln!(
                    out,
                    "core {i}: redistributor (affinity {:#x}) {}; ICC_CTLR_EL1 {:#x}, ICC_IGRPEN0_EL1 {}, ICC_IGRPEN1_EL1 {}, \
                     ICC_PMR_EL1 {:#x}, ICC_BPR0_EL1 {}, ICC_BPR1_EL1 {}, ICC_AP0R0_EL1 {:#x}, ICC_AP1R0_EL1 {:#x}, \
                     ICC_RPR_EL1 {:#x}; highest pending {hppi}; IRQ {} FIQ {}",
                    cpu.affinity,
                    if cpu.asleep { "asleep (GICR_WAKER.ProcessorSleep)" } else { "awake" },
                    cpu.ctlr,
                    u8::from(cpu.group_enable[0]),
                    u8::from(cpu.group_enable[1]),
                    cpu.pmr,
                    cpu.bpr[0],
                    cpu.bpr[1],
                    cpu.apr[0],
                    cpu.apr[1],
                    cpu.running_priority,
                    u8::from(cpu.irq),
                    u8::from(cpu.fiq)
                );
            } else {
                outputln!(
                    out,
                    "core {i}: GICC_CTLR {:#x} (EnableGrp0 {}, EnableGrp1 {}), GICC_PMR {:#x}, GICC_BPR {}, GICC_ABPR {}, \
                     GICC_APR {:#x}, GICC_NSAPR {:#x}, GICC_RPR {:#x}; highest pending {hppi}; IRQ {} FIQ {}",
                    cpu.ctlr,
                    u8::from(cpu.group_enable[0]),
                    u8::from(cpu.group_enable[1]),
                    cpu.pmr,
                    cpu.bpr[0],
                    cpu.bpr[1],
                    cpu.apr[0],
                    cpu.apr[1],
                    cpu.running_priority,
                    u8::from(cpu.irq),
                    u8::from(cpu.fiq)
                );
            }
            irq_lines(out, "  ", "SGIs and PPIs", &cpu.private);
        }
    }
}

/// The interrupts of `irqs` that are enabled, pending or active, one line
/// each, and which are in group 1.
fn irq_lines(out: &mut ConsoleOutput<'_>, indent: &str, title: &str, irqs: &[IrqView]) {
    let group1: Vec<u32> = irqs.iter().filter(|i| i.group == 1).map(|i| i.intid).collect();
    outputln!(out, "{indent}{title}: group 1: {}", ranges(&group1));
    let mut any = false;
    for i in irqs.iter().filter(|i| i.enabled || i.pending || i.active) {
        any = true;
        let states: Vec<&str> = [(i.enabled, "enabled"), (i.pending, "pending"), (i.active, "active")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        outputln!(
            out,
            "{indent}  INTID {:<4} {:<24} priority {:#04x} group {} {}{}{}",
            i.intid,
            states.join(" "),
            i.priority,
            i.group,
            if i.edge { "edge" } else { "level" },
            if i.level { " (input high)" } else { "" },
            i.route.map(|r| format!(" route {r:#x}")).unwrap_or_default()
        );
    }
    if !any {
        outputln!(out, "{indent}  none enabled, pending or active");
    }
}

/// `0-31 40 42-45`, or `none`.
fn ranges(ids: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            ids[i].to_string()
        } else {
            format!("{}-{}", ids[i], ids[j])
        });
        i = j + 1;
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}

impl MonitorCmd for GdbTarget<'_> {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), Self::Error> {
        let cmd = String::from_utf8_lossy(cmd);
        let words: Vec<&str> = cmd.split_whitespace().collect();
        match words.as_slice() {
            [] | ["help"] => outputln!(out, "{MONITOR_HELP}"),
            ["info", "cores"] => self.cores_info(&mut out),
            ["info", "devices"] => {
                for d in self.machine.devices() {
                    let windows: Vec<String> = d.regions.iter().map(|(b, s)| format!("{b:#x}..{:#x}", b + s)).collect();
                    outputln!(
                        out,
                        "{:<16} {} [{}]",
                        d.name,
                        windows.join(" "),
                        d.compatible.join(", ")
                    );
                }
            }
            ["info", "gic"] => self.gic_info(&mut out),
            ["info", "time"] => {
                let per_core: Vec<String> = self.machine.cpus.iter().map(|c| c.icount.to_string()).collect();
                let total = self.machine.instructions();
                outputln!(out, "instructions retired: {total} (cores: {})", per_core.join(", "));
                let t = self.machine.time();
                outputln!(out, "system counter: {} ticks at {} Hz", t.now(), t.freq());
                match self.machine.virtual_ns() {
                    Some(ns) => outputln!(out, "deterministic time: {ns} ns of virtual time"),
                    None => outputln!(out, "host time (not deterministic)"),
                }
            }
            ["snapshot", "save", ..] | ["snapshot", "load", ..] if words.len() > 2 => {
                // The file name is the rest of the line (spaces included).
                let rest = cmd.trim_start()["snapshot".len()..].trim_start()[4..].trim();
                let path = std::path::Path::new(rest);
                if words[1] == "save" {
                    match self.machine.snapshot(path) {
                        Ok(()) => outputln!(out, "machine saved to {rest}"),
                        Err(e) => outputln!(out, "snapshot save: {}", crate::chain(&e)),
                    }
                } else {
                    match self.rebuild_with(|r| r.restore(path)) {
                        Ok(()) => {
                            outputln!(out, "machine restored from {rest}:");
                            self.cores_info(&mut out);
                        }
                        Err(e) => outputln!(out, "snapshot load: {e}; the machine is unchanged"),
                    }
                }
            }
            ["reset"] => match self.rebuild_with(|r| r.reset()) {
                Ok(()) => {
                    outputln!(out, "machine reset:");
                    self.cores_info(&mut out);
                }
                Err(e) => outputln!(out, "reset: {e}; the machine is unchanged"),
            },
            ["info", "jit"] => match self.machine.jit_stats() {
                Some(s) => outputln!(out, "{s:?}"),
                None => outputln!(out, "the interpreter runs the guest"),
            },
            ["phys", v @ ("on" | "off")] => {
                self.space = if *v == "on" { Space::Physical } else { Space::Virtual };
                outputln!(
                    out,
                    "memory accesses use {} addresses",
                    if *v == "on" { "physical" } else { "virtual" }
                );
            }
            ["step-irq", v @ ("on" | "off")] => {
                self.step_irqs = *v == "on";
                outputln!(
                    out,
                    "single steps {} pending interrupts",
                    if self.step_irqs { "take" } else { "mask" }
                );
            }
            ["translate", a] => {
                let parsed = a
                    .strip_prefix("0x")
                    .map_or_else(|| a.parse::<u64>().ok(), |h| u64::from_str_radix(h, 16).ok());
                match parsed {
                    Some(va) => match self.machine.debug_translate(0, va, Space::Virtual) {
                        Ok(pa) => outputln!(out, "{va:#x} -> {pa:#x}"),
                        Err(e) => outputln!(out, "{e}"),
                    },
                    None => outputln!(out, "translate: {a:?} is not an address"),
                }
            }
            _ => outputln!(out, "unknown monitor command {cmd:?}; try `monitor help`"),
        }
        Ok(())
    }
}
