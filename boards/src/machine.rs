//! A machine: cores, bus and devices built from one [`BoardSpec`], the
//! images loaded into it, the device tree handed to the guest, and the
//! round-robin run loop.

use crate::fdt_out::{device_tree, to_dtb, to_dts, BootInfo, DtbError};
use crate::loader::{self, BootLayout, ImageFormat, LoadTarget, LoadedImage};
use crate::schema::{BoardSpec, DeviceSpec};
use cpu_aarch64::state::CpuConfig;
use cpu_aarch64::{Cpu, StepEvent};
use soc::bus::{SystemBus, SystemBusError};
use soc::device::Device;
use soc::dt::Node;
use soc::pl011::Pl011;
use soc::ram::GuestRam;
use soc::semihosting::{SemihostOutcome, Semihosting};
use std::io::Write;
use std::path::PathBuf;

/// Instructions a core runs before the next core gets its turn.
const QUANTUM: u64 = 10_000;

/// A file given to the machine, already read.
#[derive(Clone, Debug)]
pub struct InputFile {
    /// Where it came from (for error messages).
    pub path: PathBuf,
    /// Its contents.
    pub bytes: Vec<u8>,
}

/// Everything needed to build a machine.
pub struct MachineConfig {
    /// The board (already resized by `-m` / `--smp`).
    pub board: BoardSpec,
    /// The kernel or firmware image.
    pub kernel: InputFile,
    /// How to interpret the kernel.
    pub kernel_format: ImageFormat,
    /// An initial ramdisk.
    pub initrd: Option<InputFile>,
    /// Kernel command line, replacing the board's `chosen.bootargs`.
    pub append: Option<String>,
    /// A device tree blob to pass unchanged instead of the generated one.
    pub dtb: Option<InputFile>,
    /// Where the console UART and semihosting output go.
    pub console: Box<dyn Write + Send>,
    /// A second handle for semihosting output (it may be the same stream).
    pub semihost_console: Box<dyn Write + Send>,
}

/// Why building or running a machine failed.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// RAM layout problem.
    #[error("board {board}")]
    Ram {
        /// Board name.
        board: String,
        /// The RAM error.
        source: soc::ram::RamError,
    },
    /// Device placement problem.
    #[error("board {board}")]
    Bus {
        /// Board name.
        board: String,
        /// The bus error.
        source: SystemBusError,
    },
    /// Image loading problem.
    #[error(transparent)]
    Load(#[from] loader::LoadError),
    /// Device tree rendering problem.
    #[error("device tree")]
    Dtb(#[from] DtbError),
    /// A user-supplied DTB is not a valid flattened device tree.
    #[error("{path}: not a valid device tree blob: {reason}")]
    BadDtb {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The guest cannot continue.
    #[error("guest stopped on core {cpu}: {message}")]
    GuestFatal {
        /// The core.
        cpu: usize,
        /// What happened.
        message: String,
    },
    /// Every powered-on core waits for an interrupt that nothing can raise.
    #[error("all cores are waiting for an interrupt (WFI/WFE) and this board has no interrupt source yet; core 0 PC={pc:#x}")]
    Deadlock {
        /// Core 0's PC.
        pc: u64,
    },
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The guest exited (semihosting) with this code.
    Exited(i32),
    /// The instruction limit given to [`Machine::run`] was reached.
    InstructionLimit,
}

/// A built machine.
pub struct Machine {
    /// The cores, index = core id.
    pub cpus: Vec<Cpu>,
    /// Which cores are running (secondaries wait to be started).
    powered: Vec<bool>,
    /// Which cores are asleep in WFI/WFE.
    waiting: Vec<bool>,
    /// Memory and devices.
    pub bus: SystemBus,
    semihosting: Semihosting,
    semihost_console: Box<dyn Write + Send>,
    dt: Option<Node>,
    dtb: Vec<u8>,
    /// Where the kernel went.
    pub image: LoadedImage,
    /// Where the initrd and the DTB went.
    pub layout: BootLayout,
}

struct RamTarget<'a>(&'a mut GuestRam);

impl LoadTarget for RamTarget<'_> {
    fn ram_regions(&self) -> Vec<(u64, u64)> {
        self.0.regions().iter().map(|r| (r.base(), r.size())).collect()
    }
    fn write_phys(&mut self, addr: u64, data: &[u8]) -> Result<(), String> {
        self.0.write_bytes(addr, data).map_err(|e| e.to_string())
    }
    fn zero_phys(&mut self, addr: u64, len: u64) -> Result<(), String> {
        let len = usize::try_from(len).map_err(|_| format!("length {len:#x} too large"))?;
        let s = self.0.slice_mut(addr, len).map_err(|e| e.to_string())?;
        s.fill(0);
        Ok(())
    }
}

/// Builds the board's devices from their descriptions. The device that is
/// the board's `chosen.stdout` gets `console`.
pub fn build_devices(board: &BoardSpec, console: Box<dyn Write + Send>) -> Vec<Box<dyn Device>> {
    let mut console = Some(console);
    board
        .devices
        .iter()
        .map(|d| -> Box<dyn Device> {
            match d {
                DeviceSpec::Pl011(p) => {
                    let out: Box<dyn Write + Send> = if p.name == board.chosen.stdout {
                        console.take().unwrap_or_else(|| Box::new(std::io::sink()))
                    } else {
                        Box::new(std::io::sink())
                    };
                    Box::new(Pl011::new(&p.name, p.base, p.size, out))
                }
            }
        })
        .collect()
}

/// The device tree a board would hand its guest, without loading anything
/// (for `preboard board dts`).
pub fn board_device_tree(board: &BoardSpec, boot: &BootInfo) -> Node {
    let devices = build_devices(board, Box::new(std::io::sink()));
    device_tree(board, &devices, boot)
}

impl Machine {
    /// Builds the machine, loads the images and prepares core 0 to enter
    /// the kernel with X0 = the DTB's address (Linux arm64 boot protocol).
    pub fn new(cfg: MachineConfig) -> Result<Machine, MachineError> {
        let board = &cfg.board;
        let mut ram = GuestRam::new();
        for m in &board.memory {
            ram.add_region(&m.name, m.base, m.size)
                .map_err(|source| MachineError::Ram {
                    board: board.name.clone(),
                    source,
                })?;
        }
        let main_ram = (board.ram().base, board.ram().size);
        let image = loader::load_kernel(
            &cfg.kernel.path,
            &cfg.kernel.bytes,
            cfg.kernel_format,
            &mut RamTarget(&mut ram),
        )?;

        let devices = build_devices(board, cfg.console);
        // The DTB's size depends on the initrd range written into it, not on
        // where it goes; render once with a provisional range to size it.
        let initrd_len = cfg.initrd.as_ref().map(|f| f.bytes.len() as u64);
        let provisional = BootInfo {
            bootargs: cfg.append.clone(),
            initrd: initrd_len.map(|l| (0, l)),
        };
        let (dt, dtb_len) = match &cfg.dtb {
            Some(f) => {
                validate_dtb(f)?;
                (None, f.bytes.len() as u64)
            }
            None => {
                let dt = device_tree(board, &devices, &provisional);
                let len = to_dtb(&dt)?.len() as u64;
                (Some(dt), len)
            }
        };
        let layout = loader::plan_boot(&image, initrd_len, dtb_len, main_ram)?;
        if let (Some(f), Some(span)) = (&cfg.initrd, layout.initrd) {
            loader::load_initrd(&f.path, &f.bytes, span.start, &mut RamTarget(&mut ram))?;
        }
        let (dt, dtb) = match (&cfg.dtb, dt) {
            (Some(f), _) => (None, f.bytes.clone()),
            (None, _) => {
                let boot = BootInfo {
                    bootargs: cfg.append.clone(),
                    initrd: layout.initrd.map(|s| (s.start, s.end())),
                };
                let dt = device_tree(board, &devices, &boot);
                let blob = to_dtb(&dt)?;
                (Some(dt), blob)
            }
        };
        ram.write_bytes(layout.dtb.start, &dtb)
            .map_err(|source| MachineError::Ram {
                board: board.name.clone(),
                source,
            })?;

        let mut bus = SystemBus::new(ram);
        for d in devices {
            bus.add_device(d).map_err(|source| MachineError::Bus {
                board: board.name.clone(),
                source,
            })?;
        }

        let n = board.cpus.count as usize;
        let cpus: Vec<Cpu> = (0..n)
            .map(|i| {
                let mut c = Cpu::new(
                    i,
                    CpuConfig::cortex_a57(crate::schema::mpidr_affinity(i as u32)),
                    image.entry,
                );
                if i == 0 {
                    c.x[0] = layout.dtb.start;
                }
                c
            })
            .collect();
        // Secondary cores stay powered off until the guest starts them
        // (PSCI CPU_ON, arriving with the system issue), as on QEMU virt.
        let mut powered = vec![false; n];
        powered[0] = true;
        Ok(Machine {
            cpus,
            powered,
            waiting: vec![false; n],
            bus,
            semihosting: Semihosting::new(),
            semihost_console: cfg.semihost_console,
            dt,
            dtb,
            image,
            layout,
        })
    }

    /// The device tree blob handed to the guest.
    pub fn dtb(&self) -> &[u8] {
        &self.dtb
    }

    /// The generated device tree as DTS text (`None` for a user-supplied DTB).
    pub fn dts(&self) -> Option<String> {
        self.dt.as_ref().map(to_dts)
    }

    /// Instructions retired by all cores.
    pub fn instructions(&self) -> u64 {
        self.cpus.iter().map(|c| c.icount).sum()
    }

    /// Runs until the guest exits, a core hits a fatal condition, or (with
    /// `limit`) that many instructions have retired in total.
    pub fn run(&mut self, limit: Option<u64>) -> Result<RunOutcome, MachineError> {
        let start = self.instructions();
        loop {
            let mut progressed = false;
            for i in 0..self.cpus.len() {
                if !self.powered[i] || self.waiting[i] {
                    continue;
                }
                let budget = match limit {
                    Some(l) => {
                        let done = self.instructions() - start;
                        if done >= l {
                            return Ok(RunOutcome::InstructionLimit);
                        }
                        QUANTUM.min(l - done)
                    }
                    None => QUANTUM,
                };
                progressed = true;
                let (_, ev) = self.cpus[i].run(&mut self.bus, budget);
                if self.powered.iter().filter(|&&p| p).count() > 1 {
                    // Another core runs next and may store to this core's
                    // monitored block: clearing the monitor at every switch
                    // makes a later STXR fail, which the architecture allows
                    // (and which cannot miss a conflicting store).
                    self.cpus[i].monitor = None;
                }
                match ev {
                    StepEvent::Budget => {}
                    StepEvent::Semihosting => {
                        if let Some(code) = self.semihost(i) {
                            let _ = self.semihost_console.flush();
                            return Ok(RunOutcome::Exited(code));
                        }
                    }
                    // Nothing can raise an interrupt yet (no GIC or timer),
                    // so a waiting core sleeps for good.
                    StepEvent::WaitForInterrupt => self.waiting[i] = true,
                    StepEvent::Fatal(message) => return Err(MachineError::GuestFatal { cpu: i, message }),
                    StepEvent::FirmwareCall => {
                        return Err(MachineError::GuestFatal {
                            cpu: i,
                            message: "firmware call without emulated firmware".into(),
                        })
                    }
                }
            }
            if !progressed {
                return Err(MachineError::Deadlock { pc: self.cpus[0].pc });
            }
        }
    }

    /// Services a pending semihosting call on core `i`; returns the exit
    /// code if the guest asked to exit.
    fn semihost(&mut self, i: usize) -> Option<i32> {
        let cpu = &mut self.cpus[i];
        let (op, param) = (cpu.x[0], cpu.x[1]);
        match self
            .semihosting
            .handle(op, param, &mut self.bus, &mut *self.semihost_console)
        {
            SemihostOutcome::Return(v) => {
                cpu.finish_semihosting(v);
                None
            }
            SemihostOutcome::Exit(code) => {
                cpu.finish_semihosting(0);
                Some(code)
            }
        }
    }
}

fn validate_dtb(f: &InputFile) -> Result<(), MachineError> {
    fdt::Fdt::new(&f.bytes).map(|_| ()).map_err(|e| MachineError::BadDtb {
        path: f.path.clone(),
        reason: format!("{e:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine on `virt` with `smp` cores whose image is `b .` (spins).
    fn spinning(smp: u32) -> Machine {
        let mut board = crate::resolve_board("virt").unwrap();
        board.set_cpu_count(smp).unwrap();
        Machine::new(MachineConfig {
            board,
            kernel: InputFile {
                path: "spin.bin".into(),
                bytes: 0x1400_0000u32.to_le_bytes().to_vec(),
            },
            kernel_format: ImageFormat::Auto,
            initrd: None,
            append: None,
            dtb: None,
            console: Box::new(std::io::sink()),
            semihost_console: Box::new(std::io::sink()),
        })
        .unwrap()
    }

    /// With more than one core running, a core's exclusive monitor does
    /// not survive another core's turn (a store there could have hit the
    /// block); with one core it does.
    #[test]
    fn exclusive_monitor_is_cleared_when_another_core_runs() {
        let mut m = spinning(1);
        m.cpus[0].monitor = Some((0x4000_1000, 8));
        assert_eq!(m.run(Some(3 * QUANTUM)).unwrap(), RunOutcome::InstructionLimit);
        assert_eq!(
            m.cpus[0].monitor,
            Some((0x4000_1000, 8)),
            "one core: nothing can intervene"
        );

        let mut m = spinning(2);
        m.powered[1] = true;
        m.cpus[1].pc = m.cpus[0].pc;
        m.cpus[0].monitor = Some((0x4000_1000, 8));
        m.cpus[1].monitor = Some((0x4000_2000, 4));
        assert_eq!(m.run(Some(3 * QUANTUM)).unwrap(), RunOutcome::InstructionLimit);
        assert_eq!((m.cpus[0].monitor, m.cpus[1].monitor), (None, None));
        assert!(m.cpus[1].icount > 0, "the second core ran");
    }

    #[test]
    fn secondary_cores_start_powered_off_with_their_own_mpidr() {
        let mut m = spinning(4);
        assert_eq!(m.run(Some(QUANTUM)).unwrap(), RunOutcome::InstructionLimit);
        assert_eq!(m.cpus.iter().map(|c| c.icount).collect::<Vec<_>>(), [QUANTUM, 0, 0, 0]);
        let mpidrs: Vec<u64> = m.cpus.iter().map(|c| c.config.mpidr).collect();
        assert_eq!(mpidrs, [0x8000_0000, 0x8000_0001, 0x8000_0002, 0x8000_0003]);
    }
}
