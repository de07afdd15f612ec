//! A machine: cores, bus and devices built from one [`BoardSpec`], the
//! images loaded into it, the device tree handed to the guest, and the
//! round-robin run loop.

use crate::fdt_out::{device_tree, to_dtb, to_dts, BootInfo, BootSeeds, DtbError, GIC_LABEL};
use crate::loader::{self, BootLayout, ImageFormat, LoadTarget, LoadedImage};
use crate::psci;
use crate::schema::{BoardSpec, DeviceSpec};
use crate::schema::{PsciConduit, GIC_WINDOW};
use crate::time::{DeviceClock, TimeMode, RNG_SEED};
use cpu_aarch64::irq::IrqLines;
use cpu_aarch64::state::{Conduit, CpuConfig};
use cpu_aarch64::timer::{TimeBase, Timer, TimerSink, VirtualClock};
use cpu_aarch64::{Cpu, StepEvent};
use soc::bus::{SystemBus, SystemBusError};
use soc::chardev::{self, CharBackend};
use soc::device::Device;
use soc::dt::Node;
use soc::gic::{Gic, GicConfig, GicCpuConfig, GicMmio, GicVersion};
use soc::irq::InterruptController as _;
use soc::irq::IrqLine;
use soc::pflash::{FlashImage, Pflash, PflashError};
use soc::pl011::Pl011;
use soc::pl031::Pl031;
use soc::pl061::{Pl061, PowerButton};
use soc::ram::GuestRam;
use soc::semihosting::{SemihostOutcome, Semihosting};
use soc::usernet::UserNet;
use soc::virtio::net::NicBackendKind;
use soc::virtio::{self, BlkConfig, MacAddr, MmioParams, NetBackend, NicConfig, VirtioError};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod snapshot;
pub use snapshot::{RestoreOptions, SnapshotError, FORMAT_VERSION as SNAPSHOT_FORMAT_VERSION};

/// Instructions a core runs before the next core gets its turn.
pub const QUANTUM: u64 = 10_000;

/// A turn's length while only one core is powered on (and no pause can be
/// requested, [`Machine::set_pause_request`]): nobody waits for the
/// thread, and the turn's end (timers forwarded, devices polled) only
/// bounds how late an interrupt is seen, by about a quarter of a
/// millisecond at JIT speed. Linux's one-core boot reached userspace
/// about 10% sooner than with [`QUANTUM`]: every turn's end cost a trip
/// through the engine's dispatcher and, falling mid-block, made the next
/// turn start (and later translate) a block there.
pub const SOLO_QUANTUM: u64 = 100_000;

/// How long an idle machine sleeps between device polls while host input
/// may arrive (the latency a key press can see).
const INPUT_POLL: Duration = Duration::from_millis(10);

/// The interrupt ID each generic timer raises (the PPIs QEMU `virt` and
/// the device tree's timer node use).
pub fn timer_ppi(t: Timer) -> u32 {
    match t {
        Timer::Phys => 30,
        Timer::Virt => 27,
        Timer::HypPhys => 26,
        Timer::SecPhys => 29,
    }
}

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
    /// The kernel or firmware image, loaded into RAM. `None` boots the
    /// board's flash in place, as QEMU `virt` does with only `-bios` or
    /// pflash: core 0 starts at the base of the first flash bank with
    /// X0 = 0, and the DTB is at the start of the main RAM (where firmware
    /// built for QEMU looks for it).
    pub kernel: Option<InputFile>,
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
    /// Host backends of the board's PL011 UARTs, in board order (the Nth
    /// for the Nth PL011). A UART without one gets `console` if it is the
    /// board's `chosen.stdout`, and a null backend otherwise.
    pub serial: Vec<Box<dyn CharBackend>>,
    /// A second handle for semihosting output (it may be the same stream).
    pub semihost_console: Box<dyn Write + Send>,
    /// Devices plugged into the board's slots and the images behind them.
    pub attach: Attachments,
}

impl MachineConfig {
    /// `board` booting the image `bytes` (named `path` in messages) as its
    /// kernel, with nothing plugged in and every output discarded: the
    /// starting point of tests and benchmarks, which set what they need.
    pub fn headless(board: BoardSpec, path: &str, bytes: Vec<u8>) -> MachineConfig {
        MachineConfig {
            board,
            kernel: Some(InputFile {
                path: path.into(),
                bytes,
            }),
            kernel_format: ImageFormat::Auto,
            initrd: None,
            append: None,
            dtb: None,
            console: Box::new(std::io::sink()),
            serial: Vec::new(),
            semihost_console: Box::new(std::io::sink()),
            attach: Attachments::default(),
        }
    }
}

/// What is plugged into a board beyond its fixed devices.
#[derive(Clone, Debug, Default)]
pub struct Attachments {
    /// virtio-blk disks, in the first free virtio-mmio slots in order.
    pub drives: Vec<BlkConfig>,
    /// A virtio-rng in the next free slot.
    pub rng: bool,
    /// A virtio-console in the next free slot (after the disks and the
    /// rng), connected to this host backend.
    pub console: Option<chardev::Shared>,
    /// Images for the flash banks, in bank order over the board's `Pflash`
    /// devices; banks without one (`None`, or past the end) are erased
    /// flash in memory.
    pub flash: Vec<Option<FlashImage>>,
    /// virtio-net NICs, in the next free slots (after the console); the
    /// Nth without a MAC gets QEMU's 52:54:00:12:34:56 + N.
    pub nics: Vec<NicConfig>,
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
    /// A device could not be built (a missing or unusable image, no free
    /// slot).
    #[error("board {board}: {device}: {message}")]
    Device {
        /// Board name.
        board: String,
        /// Device (instance) name.
        device: String,
        /// What went wrong.
        message: String,
    },
    /// A device's image file cannot be reached (missing, no permission):
    /// a missing input, where [`MachineError::Device`] is an unusable one.
    #[error("board {board}: {device}: {message}")]
    Input {
        /// Board name.
        board: String,
        /// Device (instance) name.
        device: String,
        /// What went wrong.
        message: String,
    },
    /// The interrupt controller's configuration was refused.
    #[error("board {board}: interrupt controller")]
    Gic {
        /// Board name.
        board: String,
        /// Why.
        source: soc::gic::GicConfigError,
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
    /// Every powered-on core waits for an interrupt that nothing can raise
    /// (no timer armed, no device able to interrupt), or every core is off.
    #[error("{}", deadlock_message(waiting))]
    Deadlock {
        /// Each sleeping core with its PC.
        waiting: Vec<(usize, u64)>,
    },
}

fn deadlock_message(waiting: &[(usize, u64)]) -> String {
    if waiting.is_empty() {
        return "every core is powered off (PSCI CPU_OFF) and nothing can turn one back on".into();
    }
    let cores: Vec<String> = waiting
        .iter()
        .map(|(i, pc)| format!("core {i} at PC={pc:#x}"))
        .collect();
    format!(
        "every running core waits for an interrupt (WFI/WFE) and no timer is armed to raise one: {}",
        cores.join(", ")
    )
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The guest exited (semihosting) with this code.
    Exited(i32),
    /// The guest turned the system off (PSCI SYSTEM_OFF).
    PoweredOff,
    /// The guest asked for a system reset (PSCI SYSTEM_RESET); build the
    /// machine again to restart it.
    Reset,
    /// The instruction limit given to [`Machine::run`] was reached.
    InstructionLimit,
    /// The host-time deadline given to [`Machine::run_until`] passed (the
    /// machine can be run on from where it stopped).
    Deadline,
    /// The user asked to quit from the console (`Ctrl-a x`,
    /// [`chardev::quit_requested`]).
    Quit,
    /// A debugger's breakpoint or watchpoint stopped core `core` (see
    /// [`crate::control`]); only when one is set.
    DebugStop {
        /// The core.
        core: usize,
    },
}

/// A sink that drives core `cpu`'s timer PPIs on `gic`, touching the
/// controller only for outputs that changed.
fn timer_sink(gic: Arc<Mutex<Gic>>, cpu: usize) -> TimerSink {
    let last = AtomicU32::new(0);
    TimerSink(Arc::new(move |levels: u32| {
        let changed = levels ^ last.swap(levels, Ordering::Relaxed);
        if changed == 0 {
            return;
        }
        let mut gic = gic.lock().unwrap_or_else(|e| e.into_inner());
        for t in Timer::ALL {
            let bit = 1 << t as u32;
            if changed & bit != 0 {
                gic.set_ppi(cpu, timer_ppi(t), levels & bit != 0);
            }
        }
    }))
}

/// Where a core is in its power and sleep cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Power {
    /// Not started (secondaries at reset) or turned off (PSCI CPU_OFF).
    Off,
    /// Running.
    On,
    /// Asleep in WFI (or PSCI CPU_SUSPEND): wakes on an interrupt.
    Wfi,
    /// Asleep in WFE: wakes on an event, an interrupt, or when another core
    /// has run (which may have released what it waits for).
    Wfe,
}

/// A built machine.
pub struct Machine {
    /// The cores, index = core id.
    pub cpus: Vec<Cpu>,
    /// Power/sleep state of each core.
    pub(crate) power: Vec<Power>,
    /// The exception level cores start in (also for PSCI CPU_ON).
    boot_el: u8,
    /// The system counter shared by all cores.
    time: TimeBase,
    /// The board's power key, if it has one (see [`Machine::power_button`]).
    power_button: Option<PowerButton>,
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
    /// What executes guest code.
    pub(crate) engine: Engine,
    /// Deterministic runs: the virtual time every clock follows.
    pub(crate) vclock: Option<Arc<VirtualClock>>,
    /// Deterministic runs: [`Machine::run_until_guest`]'s virtual deadline (ns).
    guest_deadline: Option<u64>,
    /// Breakpoints and watchpoints of a debugger ([`crate::control`]).
    pub(crate) debug: crate::control::DebugPoints,
    /// The board's name (a snapshot records it).
    board_name: String,
    /// The interrupt controller, for inspection ([`Machine::gic_view`]).
    pub(crate) gic: Option<Arc<Mutex<Gic>>>,
    /// Host time spent asleep because every running core waited
    /// ([`Machine::idle_time`]).
    idle_slept: Duration,
    /// Set from outside to end [`Machine::run_until`] after the current
    /// round ([`Machine::set_pause_request`]).
    pause_request: Option<Arc<AtomicBool>>,
}

/// What executes guest code (`--engine`).
pub enum Engine {
    /// The reference interpreter.
    Interp,
    /// The JIT (one code cache for all cores).
    Jit(Box<jit::Jit>),
}

impl Engine {
    /// The default for this host: the JIT where there is a backend.
    pub fn host_default() -> Engine {
        match jit::Jit::new(jit::JitConfig::default()) {
            Ok(j) => Engine::Jit(Box::new(j)),
            Err(_) => Engine::Interp,
        }
    }

    /// The engine's name, as `--engine` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::Jit(_) => "jit",
        }
    }
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

/// A board's devices, built from their descriptions.
pub struct Devices {
    /// Every memory-mapped device, in board order.
    pub list: Vec<Box<dyn Device>>,
    /// The interrupt controller (also in `list` through its MMIO view).
    pub gic: Option<Arc<Mutex<Gic>>>,
    /// The power key of the board's GPIO controller, if it has one.
    pub power_button: Option<PowerButton>,
}

/// A virtio-net for `--nic` number `index` with its host backend.
fn attach_nic(params: MmioParams, irq: IrqLine, index: usize, nic: &NicConfig) -> Result<Box<dyn Device>, VirtioError> {
    let mac = nic.mac.unwrap_or_else(|| MacAddr::default_for(index));
    let backend: Box<dyn NetBackend> = match nic.backend {
        NicBackendKind::User => Box::new(UserNet::new().map_err(|e| VirtioError::NetBackend {
            name: params.name.clone(),
            reason: e.to_string(),
        })?),
    };
    Ok(Box::new(virtio::virtio_net(params, irq, mac, backend)?))
}

/// Builds the board's devices from their descriptions. The device that is
/// the board's `chosen.stdout` gets `console` unless `serial` (the PL011s'
/// backends in board order) provides one; `lines` are the cores'
/// interrupt inputs, which the interrupt controller drives.
pub fn build_devices(
    board: &BoardSpec,
    console: Box<dyn Write + Send>,
    serial: Vec<Box<dyn CharBackend>>,
    attach: &Attachments,
    lines: &[IrqLines],
) -> Result<Devices, MachineError> {
    build_devices_on(board, console, serial, attach, lines, None)
}

/// [`build_devices`]; with `clock`, the RTC and the rng follow
/// deterministic time instead of the host.
fn build_devices_on(
    board: &BoardSpec,
    console: Box<dyn Write + Send>,
    serial: Vec<Box<dyn CharBackend>>,
    attach: &Attachments,
    lines: &[IrqLines],
    clock: Option<&DeviceClock>,
) -> Result<Devices, MachineError> {
    // Device errors from soc start with the device's name already.
    let unprefixed = |device: &str, message: String| match message.strip_prefix(&format!("{device}: ")) {
        Some(rest) => rest.to_string(),
        None => message,
    };
    let device_err = |device: &str, message: String| MachineError::Device {
        board: board.name.clone(),
        device: device.to_string(),
        message: unprefixed(device, message),
    };
    let input_err = |device: &str, message: String| MachineError::Input {
        board: board.name.clone(),
        device: device.to_string(),
        message: unprefixed(device, message),
    };
    let mut drives = attach.drives.iter();
    let mut rng = attach.rng;
    let mut vconsole = attach.console.clone();
    let mut nics = attach.nics.iter().enumerate();
    let mut flash_images = attach.flash.iter();
    let mut power_button = None;
    let mut console = Some(console);
    let mut serial = serial.into_iter();
    // The controller first: other devices' interrupt lines lead into it.
    let gic = match board.gic() {
        Some(g) => {
            let cpus = lines
                .iter()
                .enumerate()
                .map(|(i, l)| GicCpuConfig {
                    affinity: crate::schema::mpidr_affinity(i as u32),
                    lines: l.clone(),
                })
                .collect();
            let cfg = GicConfig {
                name: g.name.clone(),
                label: GIC_LABEL.into(),
                version: if g.version == 3 { GicVersion::V3 } else { GicVersion::V2 },
                cpus,
                num_spis: g.spis,
                dist_base: g.distributor,
                cpu_base: g.cpu_interface.or(g.redistributors).unwrap_or_default(),
                cpu_size: GIC_WINDOW,
            };
            Some(Gic::shared(cfg).map_err(|source| MachineError::Gic {
                board: board.name.clone(),
                source,
            })?)
        }
        None => None,
    };
    let irq = |spi: u32| match &gic {
        Some(g) => IrqLine::spi(g.clone(), spi),
        None => IrqLine::none(),
    };
    let mut list: Vec<Box<dyn Device>> = Vec::new();
    for d in &board.devices {
        match d {
            DeviceSpec::Pl011(p) => {
                let backend: Box<dyn CharBackend> = match serial.next() {
                    Some(b) => b,
                    None if p.name == board.chosen.stdout => match console.take() {
                        Some(w) => Box::new(chardev::Writer::new(w)),
                        None => Box::new(chardev::Null),
                    },
                    None => Box::new(chardev::Null),
                };
                let mut uart = Pl011::new(&p.name, p.base, p.size, backend);
                if let Some(&spi) = p.interrupts.first() {
                    uart = uart.with_irq(spi, irq(spi));
                }
                list.push(Box::new(uart));
            }
            DeviceSpec::Gic(_) => {
                if let Some(g) = &gic {
                    list.push(Box::new(GicMmio::new(g.clone())));
                }
            }
            DeviceSpec::VirtioMmio(v) => {
                for i in 0..v.count {
                    let (name, base, spi) = v.slot(i);
                    let params = MmioParams {
                        name: name.clone(),
                        base,
                        size: v.size,
                        spi,
                        version: v.version,
                    };
                    let dev: Result<Box<dyn Device>, VirtioError> = if let Some(d) = drives.next() {
                        virtio::virtio_blk(params, irq(spi), d).map(|d| Box::new(d) as Box<dyn Device>)
                    } else if std::mem::take(&mut rng) {
                        let source = match clock {
                            Some(_) => virtio::VirtioRng::seeded(RNG_SEED),
                            None => virtio::VirtioRng::new(),
                        };
                        virtio::virtio_rng_from(params, irq(spi), source).map(|d| Box::new(d) as Box<dyn Device>)
                    } else if let Some(backend) = vconsole.take() {
                        virtio::virtio_console(params, irq(spi), Box::new(backend))
                            .map(|(d, _)| Box::new(d) as Box<dyn Device>)
                    } else if let Some((i, nic)) = nics.next() {
                        attach_nic(params, irq(spi), i, nic)
                    } else {
                        virtio::virtio_empty(params, irq(spi)).map(|d| Box::new(d) as Box<dyn Device>)
                    };
                    list.push(dev.map_err(|e| match e {
                        VirtioError::ImageAccess { .. } => input_err(&name, e.to_string()),
                        _ => device_err(&name, e.to_string()),
                    })?);
                }
            }
            DeviceSpec::Pl031(p) => {
                let mut rtc = match clock {
                    Some(c) => Pl031::with_time_source(&p.name, p.base, p.size, c.rtc_source()),
                    None => Pl031::new(&p.name, p.base, p.size),
                };
                if let Some(&spi) = p.interrupts.first() {
                    rtc = rtc.with_irq(spi, irq(spi));
                }
                list.push(Box::new(rtc));
            }
            DeviceSpec::Pl061(p) => {
                let mut gpio = Pl061::new(&p.name, p.base, p.size).with_label(&crate::fdt_out::dt_label(&p.name));
                if let Some(&spi) = p.interrupts.first() {
                    gpio = gpio.with_irq(spi, irq(spi));
                }
                if p.power_key.is_some() {
                    power_button = Some(gpio.power_button());
                }
                list.push(Box::new(gpio));
            }
            DeviceSpec::Pflash(f) => {
                for bank in 0..f.banks {
                    let name = format!("{}{bank}", f.name);
                    let base = f.base + u64::from(bank) * f.size;
                    let flash = Pflash::new(&name, base, f.size, flash_images.next().and_then(Option::as_ref))
                        .map_err(|e| match e {
                            PflashError::Open { .. } => input_err(&name, e.to_string()),
                            _ => device_err(&name, e.to_string()),
                        })?
                        .with_dt_banks(if bank == 0 { f.banks } else { 0 });
                    list.push(Box::new(flash));
                }
            }
        }
    }
    if let Some(d) = drives.next() {
        return Err(device_err(
            "virtio",
            format!(
                "no free virtio-mmio slot for drive {} (the board has {} slot(s))",
                d.path.display(),
                board
                    .devices
                    .iter()
                    .map(|d| match d {
                        DeviceSpec::VirtioMmio(v) => v.count,
                        _ => 0,
                    })
                    .sum::<u32>()
            ),
        ));
    }
    if rng {
        return Err(device_err(
            "virtio",
            "no free virtio-mmio slot for the virtio-rng".into(),
        ));
    }
    if let Some(backend) = vconsole {
        return Err(device_err(
            "virtio",
            format!(
                "no free virtio-mmio slot for the virtio-console ({})",
                backend.describe()
            ),
        ));
    }
    if let Some((i, _)) = nics.next() {
        return Err(device_err(
            "virtio",
            format!("no free virtio-mmio slot for network card {i} (--nic)"),
        ));
    }
    if let Some(img) = flash_images.flatten().next() {
        return Err(device_err(
            "pflash",
            format!("no flash bank left for image {}", img.path.display()),
        ));
    }
    Ok(Devices {
        list,
        gic,
        power_button,
    })
}

/// `/chosen`'s seeds for one boot: host randomness, or in deterministic
/// time the same values on every run (from [`RNG_SEED`], like the
/// deterministic virtio-rng, though not its stream). `None` if the host
/// has no randomness to give (Linux then boots without KASLR), with a
/// warning.
fn boot_seeds(deterministic: bool) -> Option<BootSeeds> {
    let mut source = if deterministic {
        virtio::VirtioRng::seeded(!RNG_SEED)
    } else {
        virtio::VirtioRng::new()
    };
    let mut bytes = [0u8; 40];
    if let Err(e) = source.fill(&mut bytes) {
        tracing::warn!("no host randomness for /chosen's kaslr-seed and rng-seed: {e}");
        return None;
    }
    let (kaslr, rng) = bytes.split_at(8);
    Some(BootSeeds {
        kaslr: u64::from_le_bytes(kaslr.try_into().ok()?),
        rng: rng.try_into().ok()?,
    })
}

/// The device tree a board would hand its guest, without loading anything
/// (for `preboard board dts`).
pub fn board_device_tree(board: &BoardSpec, boot: &BootInfo) -> Result<Node, MachineError> {
    let lines: Vec<IrqLines> = (0..board.cpus.count).map(|_| IrqLines::new()).collect();
    let devices = build_devices(
        board,
        Box::new(std::io::sink()),
        Vec::new(),
        &Attachments::default(),
        &lines,
    )?;
    Ok(device_tree(board, &devices.list, boot))
}

impl Machine {
    /// Builds the machine, loads the images and prepares core 0 to enter
    /// the kernel with X0 = the DTB's address (Linux arm64 boot protocol).
    pub fn new(cfg: MachineConfig) -> Result<Machine, MachineError> {
        Self::with_time(cfg, TimeMode::Host)
    }

    /// [`Machine::new`] with the guest's clocks on `time` (host real time,
    /// or deterministic virtual time: see [`crate::time`]).
    pub fn with_time(cfg: MachineConfig, time: TimeMode) -> Result<Machine, MachineError> {
        let vclock = time.is_deterministic().then(VirtualClock::new);
        let device_clock = match (time, &vclock) {
            (TimeMode::Deterministic(d), Some(c)) => Some(DeviceClock {
                clock: c.clone(),
                rtc_epoch: d.rtc_epoch,
            }),
            _ => None,
        };
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
        let image = match &cfg.kernel {
            Some(k) => loader::load_kernel(&k.path, &k.bytes, cfg.kernel_format, &mut RamTarget(&mut ram))?,
            None => boot_flash(board)?,
        };

        let n = board.cpus.count as usize;
        let lines: Vec<IrqLines> = (0..n).map(|_| IrqLines::new()).collect();
        let Devices {
            list: devices,
            gic,
            power_button,
        } = build_devices_on(
            board,
            cfg.console,
            cfg.serial,
            &cfg.attach,
            &lines,
            device_clock.as_ref(),
        )?;
        // The DTB's size depends on the initrd range written into it, not on
        // where it goes; render once with a provisional range to size it.
        let initrd_len = cfg.initrd.as_ref().map(|f| f.bytes.len() as u64);
        // Fresh randomness for this boot (a fixed stream in deterministic
        // time, so that runs repeat).
        let seeds = boot_seeds(time.is_deterministic());
        let provisional = BootInfo {
            bootargs: cfg.append.clone(),
            initrd: initrd_len.map(|l| (0, l)),
            seeds,
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
                    seeds,
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
        if let Some(g) = &gic {
            bus.set_gic_sysregs(g.clone());
        }
        for d in devices {
            bus.add_device(d).map_err(|source| MachineError::Bus {
                board: board.name.clone(),
                source,
            })?;
        }

        let time = match &vclock {
            Some(c) => TimeBase::virtual_time(cpu_aarch64::timer::DEFAULT_FREQ, c.clone()),
            None => TimeBase::default(),
        };
        let semihosting = match &device_clock {
            Some(c) => Semihosting::new().with_virtual_time(c.clock.clone(), c.rtc_epoch),
            None => Semihosting::new(),
        };
        let boot_el = board.cpus.boot_el;
        let cpus: Vec<Cpu> = (0..n)
            .map(|i| {
                let mut config = CpuConfig::cortex_a57(crate::schema::mpidr_affinity(i as u32));
                if let Some(midr) = board.cpus.midr() {
                    config.midr = midr;
                }
                config.has_el2 = boot_el >= 2;
                config.has_el3 = boot_el >= 3;
                config.reset_el = boot_el;
                config.gic_sysregs = board.gic().is_some_and(|g| g.version == 3);
                config.firmware_conduit = board.cpus.psci_conduit().map(|c| match c {
                    PsciConduit::Hvc => Conduit::Hvc,
                    PsciConduit::Smc => Conduit::Smc,
                });
                config.time = time.clone();
                let mut c = Cpu::new(i, config, image.entry);
                c.irq = lines[i].clone();
                if let Some(g) = &gic {
                    c.sys.timer_sink = Some(timer_sink(g.clone(), i));
                }
                // Flash boot is a reset: X0 = 0 (the firmware finds the DTB
                // at the start of RAM, as on QEMU).
                if i == 0 && cfg.kernel.is_some() {
                    c.x[0] = layout.dtb.start;
                }
                c
            })
            .collect();
        // Secondary cores stay powered off until the guest starts them
        // (PSCI CPU_ON), as on QEMU virt.
        let mut power = vec![Power::Off; n];
        power[0] = Power::On;
        Ok(Machine {
            cpus,
            power,
            boot_el,
            time,
            power_button,
            bus,
            semihosting,
            semihost_console: cfg.semihost_console,
            dt,
            dtb,
            image,
            layout,
            engine: Engine::Interp,
            vclock,
            guest_deadline: None,
            debug: Default::default(),
            board_name: board.name.clone(),
            gic,
            pause_request: None,
            idle_slept: Duration::ZERO,
        })
    }

    /// Chooses what executes guest code from now on.
    pub fn set_engine(&mut self, engine: Engine) {
        self.engine = engine;
    }

    /// A flag that, once set (by a device backend or another thread), ends
    /// [`Machine::run_until`] with [`RunOutcome::Deadline`] at the end of
    /// the current round of turns, and is cleared. A test harness hands it
    /// to its UART captures so a run stops within a turn of a new line,
    /// not a whole slice later.
    pub fn set_pause_request(&mut self, flag: Option<Arc<AtomicBool>>) {
        self.pause_request = flag;
    }

    /// The JIT's counters, when it is the engine.
    pub fn jit_stats(&self) -> Option<jit::Stats> {
        match &self.engine {
            Engine::Jit(j) => Some(j.stats()),
            Engine::Interp => None,
        }
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

    /// A handle that presses the board's power key (a GPIO line the guest
    /// sees as KEY_POWER: Linux shuts down cleanly), if the board has one.
    /// It can be pressed from another thread or a signal handler.
    pub fn power_button(&self) -> Option<PowerButton> {
        self.power_button.clone()
    }

    /// The system counter all cores read.
    pub fn time(&self) -> &TimeBase {
        &self.time
    }

    /// Virtual time in ns, in a deterministic machine ([`Machine::with_time`]).
    pub fn virtual_ns(&self) -> Option<u64> {
        self.vclock.as_ref().map(|c| c.now_ns())
    }

    /// [`Machine::run_until`] with no instruction limit in a deterministic
    /// machine, also stopping with [`RunOutcome::Deadline`] once virtual
    /// time reaches `guest_ns` (checked where the host deadline is, after
    /// each round of turns, so the stop falls at the same instruction
    /// counts on every run and engine).
    pub fn run_until_guest(&mut self, guest_ns: u64, host: Option<Instant>) -> Result<RunOutcome, MachineError> {
        self.guest_deadline = Some(guest_ns);
        let r = self.run_until(None, host);
        self.guest_deadline = None;
        r
    }

    /// Whether core `i` is powered on (running or asleep).
    pub fn is_on(&self, i: usize) -> bool {
        self.power.get(i).is_some_and(|&p| p != Power::Off)
    }

    /// Runs until the guest exits or powers off, a core hits a fatal
    /// condition, the user quits from the console, or (with `limit`) that
    /// many instructions have retired in total.
    ///
    /// Cores take turns of [`QUANTUM`] instructions on this thread
    /// ([`SOLO_QUANTUM`] while only one core is powered on and no pause
    /// can be requested). Between turns the machine forwards each core's
    /// timer outputs to the interrupt controller, so an interrupt is seen
    /// at most one turn late;
    /// a turn also ends early at WFI/WFE, firmware calls and semihosting.
    /// When every running core sleeps, the host thread sleeps until the
    /// earliest armed timer deadline instead of spinning (in deterministic
    /// time, [`Machine::with_time`], virtual time jumps there instead).
    pub fn run(&mut self, limit: Option<u64>) -> Result<RunOutcome, MachineError> {
        self.run_until(limit, None)
    }

    /// [`Machine::run`], also stopping with [`RunOutcome::Deadline`] once
    /// the host clock passes `deadline` (checked after each round of turns
    /// and while every core sleeps, so at most a round late): a test
    /// runner runs the guest in slices of host time and looks at its
    /// output in between.
    pub fn run_until(&mut self, limit: Option<u64>, deadline: Option<Instant>) -> Result<RunOutcome, MachineError> {
        let start = self.instructions();
        loop {
            // Which cores had a turn in this round.
            let mut ran = 0u64;
            // A run that may be asked to pause at the end of a round (the
            // test harness, at each UART line) keeps short turns, to stop
            // close to where it was asked.
            let alone = self.power.iter().filter(|&&p| p != Power::Off).count() == 1;
            let quantum = if alone && self.pause_request.is_none() {
                SOLO_QUANTUM
            } else {
                QUANTUM
            };
            for i in 0..self.cpus.len() {
                if !self.runnable(i) {
                    continue;
                }
                let budget = match limit {
                    Some(l) => {
                        let done = self.instructions() - start;
                        if done >= l {
                            return Ok(RunOutcome::InstructionLimit);
                        }
                        quantum.min(l - done)
                    }
                    None => quantum,
                };
                ran |= 1 << (i % 64);
                if let Some(c) = &self.vclock {
                    c.begin_turn(self.cpus[i].icount);
                }
                let (retired, ev) = match &mut self.engine {
                    Engine::Interp => self.cpus[i].run(&mut self.bus, budget),
                    Engine::Jit(j) => j.run(i, &mut self.cpus[i], &mut self.bus, budget),
                };
                if let Some(c) = &self.vclock {
                    c.end_turn(retired);
                }
                if let Some(outcome) = self.after_turn(i, ev)? {
                    return Ok(outcome);
                }
            }
            self.update_timers();
            self.bus.poll_devices();
            if chardev::quit_requested() {
                return Ok(RunOutcome::Quit);
            }
            if ran != 0 {
                // A core in WFE may wait for something another core did.
                for (j, p) in self.power.iter_mut().enumerate() {
                    if *p == Power::Wfe && ran & !(1 << (j % 64)) != 0 {
                        *p = Power::On;
                    }
                }
            }
            let guest_due = match (self.guest_deadline, &self.vclock) {
                (Some(g), Some(c)) => c.now_ns() >= g,
                _ => false,
            };
            let paused = self
                .pause_request
                .as_ref()
                .is_some_and(|f| f.swap(false, Ordering::Relaxed));
            if paused || guest_due || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(RunOutcome::Deadline);
            }
            if ran != 0 {
                continue;
            }
            if (0..self.cpus.len()).any(|i| self.runnable(i)) {
                continue;
            }
            self.idle()?;
        }
    }

    /// Whether core `i` should get a turn now (waking it if it sleeps and
    /// has a reason to wake).
    fn runnable(&mut self, i: usize) -> bool {
        let wake = match self.power[i] {
            Power::Off => false,
            Power::On => true,
            Power::Wfi => self.cpus[i].interrupt_pending_for_wake(),
            Power::Wfe => self.cpus[i].event || self.cpus[i].interrupt_pending_for_wake(),
        };
        if wake {
            self.power[i] = Power::On;
        }
        wake
    }

    /// Bookkeeping after core `i`'s turn ended with `ev`; `Some` ends the run.
    pub(crate) fn after_turn(&mut self, i: usize, ev: StepEvent) -> Result<Option<RunOutcome>, MachineError> {
        let n = self.cpus.len();
        // (A debug stop keeps it: the debugger decides what runs next, see
        // `control::Machine::resume`.)
        if ev != StepEvent::Debug && self.power.iter().filter(|&&p| p != Power::Off).count() > 1 {
            // Another core runs next and may store to this core's
            // monitored block: clearing the monitor at every switch
            // makes a later STXR fail, which the architecture allows
            // (and which cannot miss a conflicting store).
            self.cpus[i].monitor = None;
        }
        // Inner-shareable TLB maintenance reaches every core. Cores run one
        // at a time, so applying it before anyone else runs is exact.
        cpu_aarch64::mmu::tlb::deliver_broadcasts(&mut self.cpus, i);
        if std::mem::take(&mut self.cpus[i].sent_event) {
            for j in (0..n).filter(|&j| j != i) {
                self.cpus[j].event = true;
            }
        }
        match ev {
            StepEvent::Budget => {}
            StepEvent::Semihosting => {
                if let Some(code) = self.semihost(i) {
                    let _ = self.semihost_console.flush();
                    return Ok(Some(RunOutcome::Exited(code)));
                }
            }
            StepEvent::WaitForInterrupt => self.power[i] = Power::Wfi,
            StepEvent::WaitForEvent => self.power[i] = Power::Wfe,
            StepEvent::FirmwareCall => return Ok(self.firmware_call(i)),
            StepEvent::Debug => return Ok(Some(RunOutcome::DebugStop { core: i })),
            StepEvent::Fatal(message) => return Err(MachineError::GuestFatal { cpu: i, message }),
        }
        Ok(None)
    }

    /// Answers a PSCI/SMCCC call from core `i`.
    fn firmware_call(&mut self, i: usize) -> Option<RunOutcome> {
        let cores: Vec<psci::CoreInfo> = self
            .cpus
            .iter()
            .enumerate()
            .map(|(j, c)| psci::CoreInfo {
                affinity: psci::affinity_bits(c.config.mpidr),
                on: self.power[j] != Power::Off,
            })
            .collect();
        let ram: Vec<(u64, u64)> = self.bus.ram().regions().iter().map(|r| (r.base(), r.size())).collect();
        let x = [
            self.cpus[i].x[0],
            self.cpus[i].x[1],
            self.cpus[i].x[2],
            self.cpus[i].x[3],
        ];
        match psci::call(x, &cores, &ram) {
            psci::Action::Return(v) => self.cpus[i].x[0] = v,
            psci::Action::CpuOn {
                index,
                entry,
                context_id,
            } => {
                self.cpus[index].power_on(entry, context_id, self.boot_el);
                self.power[index] = Power::On;
                self.cpus[i].x[0] = psci::ret::SUCCESS as u64;
            }
            psci::Action::CpuOff => {
                // A core that is off drives no timer interrupts.
                if let Some(sink) = &self.cpus[i].sys.timer_sink {
                    (sink.0)(0);
                }
                self.power[i] = Power::Off;
            }
            psci::Action::Suspend => {
                self.cpus[i].x[0] = psci::ret::SUCCESS as u64;
                self.power[i] = Power::Wfi;
            }
            psci::Action::SystemOff => {
                let _ = self.semihost_console.flush();
                return Some(RunOutcome::PoweredOff);
            }
            psci::Action::SystemReset => {
                let _ = self.semihost_console.flush();
                return Some(RunOutcome::Reset);
            }
        }
        None
    }

    /// Forwards every running core's timer outputs to the interrupt
    /// controller (their rises come from time passing, which nothing
    /// signals; register writes publish by themselves).
    fn update_timers(&mut self) {
        for i in 0..self.cpus.len() {
            if self.power[i] != Power::Off {
                self.cpus[i].sys.publish_timers();
            }
        }
    }

    /// Host time the machine has spent asleep because every running core
    /// waited for an interrupt or event (WFI/WFE, PSCI CPU_SUSPEND): the
    /// part of a run's wall time that the guest spent idle, as opposed to
    /// executing (`--stats` reports it; deterministic time never sleeps).
    pub fn idle_time(&self) -> Duration {
        self.idle_slept
    }

    /// Sleeps `d` of host time on behalf of idle cores, counting it.
    fn sleep_idle(&mut self, d: Duration) {
        let t = Instant::now();
        std::thread::sleep(d);
        self.idle_slept += t.elapsed();
    }

    /// Every running core sleeps: wait (in host time) for the earliest
    /// armed timer or for host input (deterministic time: jump to the
    /// timer, or to the end of a harness slice while input may come), or
    /// report that nothing can wake them.
    fn idle(&mut self) -> Result<(), MachineError> {
        let deadline = (0..self.cpus.len())
            .filter(|&i| self.power[i] != Power::Off)
            .filter_map(|i| self.cpus[i].sys.next_timer_deadline())
            .min();
        // Host input (a console, a socket) can still wake a core: wait for
        // it in short steps, polling devices, instead of giving up.
        // (Not when every core is off: no interrupt can reach one.)
        let input = self.power.iter().any(|&p| p != Power::Off) && self.bus.devices().any(|d| d.can_produce_input());
        let step = if input { INPUT_POLL } else { Duration::from_millis(50) };
        if let Some(c) = &self.vclock {
            // Deterministic: nothing happens until the next deadline, so
            // time jumps there. Input from a test harness arrives between
            // its slices, so while input may come, a slice's end is one.
            let timer = deadline.map(|d| self.time.count_to_ns(d));
            let slice = self.guest_deadline.filter(|_| input);
            let wake = match (timer, slice) {
                (Some(t), Some(s)) => Some(t.min(s)),
                (t, s) => t.or(s),
            };
            if let Some(ns) = wake {
                c.advance_to(ns);
                self.update_timers();
                return Ok(());
            }
        }
        let Some(deadline) = deadline else {
            if input {
                self.sleep_idle(step);
                self.bus.poll_devices();
                return Ok(());
            }
            let waiting = (0..self.cpus.len())
                .filter(|&i| self.power[i] != Power::Off)
                .map(|i| (i, self.cpus[i].pc))
                .collect();
            return Err(MachineError::Deadlock { waiting });
        };
        // Sleep in bounded steps so that a later interrupt source (host
        // input) is not starved; the loop re-evaluates after each.
        if let Some(wait) = self.time.until(deadline) {
            self.sleep_idle(wait.min(step));
        }
        self.update_timers();
        Ok(())
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

/// Executing in place from the board's first flash bank (no kernel given):
/// the whole bank counts as the image, so nothing else is placed there.
fn boot_flash(board: &BoardSpec) -> Result<LoadedImage, MachineError> {
    let bank = board.devices.iter().find_map(|d| match d {
        DeviceSpec::Pflash(f) => Some(f),
        _ => None,
    });
    let Some(f) = bank else {
        return Err(MachineError::Device {
            board: board.name.clone(),
            device: "pflash".into(),
            message: "no kernel given and the board has no flash to boot from".into(),
        });
    };
    Ok(LoadedImage {
        entry: f.base,
        kind: loader::ImageKind::Raw,
        start: f.base,
        end: f.base.saturating_add(f.size),
        is_linux: false,
    })
}

/// A user's blob is passed on unchanged, but only if it parses completely
/// (a guest should not be the first to find it damaged).
fn validate_dtb(f: &InputFile) -> Result<(), MachineError> {
    crate::dtb_in::parse(&f.bytes)
        .map(|_| ())
        .map_err(|e| MachineError::BadDtb {
            path: f.path.clone(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `b .`: an image that spins.
    const SPIN: u32 = 0x1400_0000;

    /// A machine on `virt` with `smp` cores whose image is `b .` (spins).
    fn spinning(smp: u32) -> Machine {
        let mut board = crate::resolve_board("virt").unwrap();
        board.set_cpu_count(smp).unwrap();
        Machine::new(MachineConfig::headless(board, "spin.bin", SPIN.to_le_bytes().to_vec())).unwrap()
    }

    /// The `virt` board running `words` from the start of RAM.
    fn running(words: &[u32], time: TimeMode) -> Machine {
        let board = crate::resolve_board("virt").unwrap();
        let bytes = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        Machine::with_time(MachineConfig::headless(board, "timer.bin", bytes), time).unwrap()
    }

    /// Deterministic time: a core that arms its virtual timer for 1000
    /// ticks and sleeps makes time jump to the deadline (16 ns per tick at
    /// 62.5 MHz, the timer armed after one instruction, 1 ns each); with
    /// the interrupt not enabled at the GIC nothing can wake it after that,
    /// which is reported.
    #[test]
    fn deterministic_idle_jumps_to_the_timer_deadline() {
        let words: [u32; 6] = [
            0xd280_7d00, // mov x0, #1000
            0xd51b_e300, // msr cntv_tval_el0, x0
            0xd280_0020, // mov x0, #1
            0xd51b_e320, // msr cntv_ctl_el0, x0
            0xd503_207f, // wfi
            0x1400_0000, // b .
        ];
        let mut m = running(&words, TimeMode::deterministic());
        assert!(matches!(m.run(None), Err(MachineError::Deadlock { .. })));
        assert_eq!(m.instructions(), 5);
        assert_eq!(m.virtual_ns(), Some(1000 * 16));
        assert_eq!(m.time().now(), 1000);
        assert_eq!(m.idle_time(), Duration::ZERO, "virtual time never sleeps");
    }

    /// Host time: a core that arms its virtual timer 50 ms ahead (3,125,000
    /// ticks at 62.5 MHz) and waits makes the machine sleep until then,
    /// which `idle_time` counts; a core that spins never sleeps.
    #[test]
    fn idle_time_counts_the_host_sleep_while_every_core_waits() {
        let words: [u32; 7] = [
            0xd295_e100, // mov x0, #0xaf08
            0xf2a0_05e0, // movk x0, #0x2f, lsl #16 (x0 = 3_125_000)
            0xd51b_e300, // msr cntv_tval_el0, x0
            0xd280_0020, // mov x0, #1
            0xd51b_e320, // msr cntv_ctl_el0, x0
            0xd503_207f, // wfi
            0x1400_0000, // b .
        ];
        let mut m = running(&words, TimeMode::Host);
        // The interrupt is not enabled at the GIC, so nothing wakes the
        // core after the deadline either; the host deadline ends the run.
        let _ = m.run_until(None, Some(Instant::now() + Duration::from_millis(500)));
        assert_eq!(m.instructions(), 6, "waiting at the WFI");
        assert!(
            m.idle_time() >= Duration::from_millis(45),
            "slept {:?} of a 50 ms wait",
            m.idle_time()
        );

        let mut busy = spinning(1);
        busy.run(Some(100_000)).unwrap();
        assert_eq!(busy.idle_time(), Duration::ZERO);
    }

    /// `/chosen`'s `kaslr-seed` (8 bytes) and `rng-seed` (32 bytes), as
    /// QEMU's virt gives Linux: fresh host randomness for each machine
    /// (two equal 40-byte draws would be a broken source), the same on
    /// every deterministic run; a board's static description has none.
    #[test]
    fn chosen_has_fresh_seeds_for_each_boot_and_fixed_ones_in_deterministic_time() {
        let cfg = || {
            MachineConfig::headless(
                crate::resolve_board("virt").unwrap(),
                "spin.bin",
                SPIN.to_le_bytes().to_vec(),
            )
        };
        let seeds = |m: &Machine| -> (Vec<u8>, Vec<u8>) {
            let fdt = fdt::Fdt::new(m.dtb()).unwrap();
            let chosen = fdt.find_node("/chosen").unwrap();
            let kaslr = chosen.property("kaslr-seed").expect("kaslr-seed").value.to_vec();
            let rng = chosen.property("rng-seed").expect("rng-seed").value.to_vec();
            assert_eq!((kaslr.len(), rng.len()), (8, 32));
            (kaslr, rng)
        };
        let (a, b) = (Machine::new(cfg()).unwrap(), Machine::new(cfg()).unwrap());
        assert_ne!(seeds(&a), seeds(&b), "host randomness for each boot");
        let det = || Machine::with_time(cfg(), TimeMode::deterministic()).unwrap();
        assert_eq!(seeds(&det()), seeds(&det()), "deterministic runs repeat");

        let dt = board_device_tree(
            &crate::resolve_board("virt").unwrap(),
            &BootInfo {
                bootargs: None,
                initrd: None,
                seeds: None,
            },
        )
        .unwrap();
        let chosen = dt.children.iter().find(|n| n.name == "chosen").unwrap();
        assert!(chosen.get("kaslr-seed").is_none() && chosen.get("rng-seed").is_none());
    }

    /// A lone powered core takes turns of `SOLO_QUANTUM`; once another
    /// core is on, both take turns of `QUANTUM`.
    #[test]
    fn a_lone_core_takes_longer_turns() {
        let mut m = spinning(2);
        // A deadline already passed: one round.
        assert_eq!(m.run_until(None, Some(Instant::now())).unwrap(), RunOutcome::Deadline);
        assert_eq!([m.cpus[0].icount, m.cpus[1].icount], [SOLO_QUANTUM, 0]);
        m.power[1] = Power::On;
        m.cpus[1].pc = m.cpus[0].pc;
        assert_eq!(m.run_until(None, Some(Instant::now())).unwrap(), RunOutcome::Deadline);
        assert_eq!([m.cpus[0].icount, m.cpus[1].icount], [SOLO_QUANTUM + QUANTUM, QUANTUM]);
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
        m.power[1] = Power::On;
        m.cpus[1].pc = m.cpus[0].pc;
        m.cpus[0].monitor = Some((0x4000_1000, 8));
        m.cpus[1].monitor = Some((0x4000_2000, 4));
        assert_eq!(m.run(Some(3 * QUANTUM)).unwrap(), RunOutcome::InstructionLimit);
        assert_eq!((m.cpus[0].monitor, m.cpus[1].monitor), (None, None));
        assert!(m.cpus[1].icount > 0, "the second core ran");
    }

    /// `--nic user` twice: two virtio-nets in the first free slots, the
    /// first with QEMU's default MAC, each described by its slot's node.
    #[test]
    fn nics_take_the_next_free_virtio_slots() {
        use soc::device::AccessInfo;
        let board = crate::resolve_board("virt").unwrap();
        let lines = [IrqLines::new()];
        let attach = Attachments {
            rng: true,
            nics: vec!["user".parse().unwrap(), "user,mac=02:00:00:00:00:07".parse().unwrap()],
            ..Default::default()
        };
        let mut devices = build_devices(&board, Box::new(std::io::sink()), Vec::new(), &attach, &lines).unwrap();
        let slots: Vec<&mut Box<dyn Device>> = devices
            .list
            .iter_mut()
            .filter(|d| d.dt_node().is_some_and(|n| n.name.starts_with("virtio_mmio@")))
            .collect();
        let mut ids = Vec::new();
        let mut macs = Vec::new();
        for d in slots.into_iter().take(4) {
            let rd = |d: &mut Box<dyn Device>, offset: u64, size: u8| {
                d.read(AccessInfo {
                    cpu: 0,
                    region: 0,
                    offset,
                    size,
                    debug: true,
                })
                .unwrap()
            };
            let id = rd(d, 8, 4);
            if id == 1 {
                macs.push((0..6).map(|i| rd(d, 0x100 + i, 1) as u8).collect::<Vec<u8>>());
                let node = d.dt_node().unwrap();
                assert_eq!(
                    node.get("compatible"),
                    Some(&soc::dt::PropValue::Strings(vec!["virtio,mmio".into()]))
                );
                assert!(node.get("interrupts").is_some());
            }
            ids.push(id);
        }
        // The rng first (fixed order: disks, rng, console, NICs), then the NICs.
        assert_eq!(ids, [4, 1, 1, 0]);
        assert_eq!(macs, [vec![0x52, 0x54, 0, 0x12, 0x34, 0x56], vec![2, 0, 0, 0, 0, 7]]);
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
