//! The RON board description: types, parsing and validation.
//!
//! A board file is one `Board(...)` struct (the name is optional):
//!
//! ```ron
//! (
//!     name: "virt",
//!     model: "Preboard virt",
//!     compatible: ["linux,dummy-virt"],
//!     cpus: (count: 1, model: "cortex-a57"),
//!     memory: [(name: "ram", base: 0x4000_0000, size: 0x0800_0000)],
//!     devices: [Pl011(name: "uart0", base: 0x0900_0000, size: 0x1000)],
//!     chosen: (stdout: "uart0", bootargs: ""),
//! )
//! ```
//!
//! Every error, syntactic or semantic, is one [`BoardError`] whose message
//! starts with `file:line:col`. Syntax and type errors carry the position
//! `ron` reports; semantic errors (overlaps, alignment, ...) are located by a
//! small scanner ([`locate`]) that records where each field and list entry
//! starts in the source, so they point at the offending entry too.
//!
//! See `boards/README.md` for the full schema and the validation rules.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use soc::device::MmioRegion;

/// Largest CPU count a board (or `--smp`) may ask for.
pub const MAX_CPUS: u32 = 64;

/// RAM regions must start and end on this boundary (64 KiB, the largest
/// AArch64 translation granule, so any guest page size can map them).
pub const RAM_ALIGN: u64 = 0x1_0000;

/// Device windows must start on this boundary (4 KiB, the smallest page), or,
/// for windows smaller than that, on their size rounded up to a power of two
/// (QEMU's virt packs 0x200-byte virtio-mmio transports this way).
pub const DEVICE_ALIGN: u64 = 0x1000;

/// Affinity CPUs are grouped by: core `i` has Aff0 = `i % 8`, Aff1 = `i / 8`
/// (as QEMU's virt does with a GICv2, whose target lists hold 8 CPUs).
pub const CPUS_PER_CLUSTER: u32 = 8;

/// The MPIDR_EL1 affinity fields (Aff3..Aff0, without the RES1/U/MT bits) of
/// core `index`. The machine programs each core's MPIDR with this and the
/// device tree uses it as the `reg` of `cpu@N`, so the two cannot disagree.
pub fn mpidr_affinity(index: u32) -> u64 {
    u64::from(index / CPUS_PER_CLUSTER) << 8 | u64::from(index % CPUS_PER_CLUSTER)
}

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/// A parsed and validated board description. Equality compares the board,
/// not where it was read from.
#[derive(Clone, Debug, Eq, Deserialize)]
#[serde(rename = "Board", deny_unknown_fields)]
pub struct BoardSpec {
    /// Short board name, e.g. `virt`.
    pub name: String,
    /// The device tree root's `model` string.
    pub model: String,
    /// The device tree root's `compatible` list, most specific first.
    pub compatible: Vec<String>,
    /// Cores.
    pub cpus: CpuSpec,
    /// RAM regions; the first is the main RAM that `-m` resizes.
    pub memory: Vec<MemoryRegion>,
    /// Memory-mapped devices, in device-tree order.
    pub devices: Vec<DeviceSpec>,
    /// What goes into `/chosen`.
    pub chosen: ChosenSpec,
    /// Where the description came from (a path or `<builtin>/virt.ron`).
    #[serde(skip)]
    origin: String,
    /// Where each field and entry starts in the source.
    #[serde(skip)]
    locs: locate::SourceMap,
    /// For a board that includes another: for each device, its index in
    /// this file's `devices` list, or `None` if it came from the included
    /// board (errors about it then point at `include`). Empty otherwise.
    #[serde(skip)]
    device_src: Vec<Option<usize>>,
}

/// A board written as changes to another (`include`), as Renode's `using`:
/// every field is optional, `devices` entries replace the included board's
/// device of the same name or are appended, `remove_devices` drops devices
/// by name, `memory` (when given) replaces the whole list.
#[derive(Debug, Deserialize)]
#[serde(rename = "Board", deny_unknown_fields)]
struct Overlay {
    include: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    compatible: Option<Vec<String>>,
    #[serde(default)]
    cpus: Option<CpuOverlay>,
    #[serde(default)]
    memory: Option<Vec<MemoryRegion>>,
    #[serde(default)]
    devices: Vec<DeviceSpec>,
    #[serde(default)]
    remove_devices: Vec<String>,
    #[serde(default)]
    chosen: Option<ChosenOverlay>,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "Cpus", deny_unknown_fields)]
struct CpuOverlay {
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    boot_el: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "Chosen", deny_unknown_fields)]
struct ChosenOverlay {
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    bootargs: Option<String>,
}

/// How deep `include` may nest (a deeper chain is taken to be a cycle).
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// Core models whose MIDR_EL1 Preboard reports (QEMU's values for them).
/// Every core runs the same emulated feature set; a model not listed
/// reports the Cortex-A57's MIDR.
pub const CPU_MODELS: &[(&str, u64)] = &[
    ("cortex-a53", 0x410f_d034),
    ("cortex-a57", 0x411f_d070),
    ("cortex-a72", 0x410f_d083),
];

impl CpuSpec {
    /// MIDR_EL1 for this model, if it is one of [`CPU_MODELS`].
    pub fn midr(&self) -> Option<u64> {
        CPU_MODELS
            .iter()
            .find(|&&(m, _)| m == self.model)
            .map(|&(_, midr)| midr)
    }
}

/// The cores of a board.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "Cpus", deny_unknown_fields)]
pub struct CpuSpec {
    /// Number of cores, `1..=MAX_CPUS`.
    pub count: u32,
    /// Core model, e.g. `cortex-a57`; the device tree says `arm,<model>`,
    /// and MIDR_EL1 is the model's when it is one of [`CPU_MODELS`].
    pub model: String,
    /// The exception level the cores reset into: 1 (default, like QEMU
    /// `virt`), 2 (EL2 implemented: the guest owns the hypervisor level)
    /// or 3 (EL2 and EL3 implemented: the guest brings its own secure
    /// firmware). It also picks how PSCI is reached: at 1 the machine
    /// answers HVC, at 2 it answers SMC, at 3 the guest's firmware does.
    #[serde(default = "default_boot_el")]
    pub boot_el: u8,
}

fn default_boot_el() -> u8 {
    1
}

/// How the guest reaches PSCI firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// The machine answers HVC #0 (no EL2 in the guest).
    Hvc,
    /// The machine answers SMC #0 (no EL3 in the guest).
    Smc,
}

impl CpuSpec {
    /// The PSCI conduit the machine emulates, if any (see `boot_el`).
    pub fn psci_conduit(&self) -> Option<PsciConduit> {
        match self.boot_el {
            1 => Some(PsciConduit::Hvc),
            2 => Some(PsciConduit::Smc),
            _ => None,
        }
    }
}

/// One RAM region.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "Memory", deny_unknown_fields)]
pub struct MemoryRegion {
    /// Name used in errors, e.g. `ram`.
    pub name: String,
    /// Guest physical base address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
}

/// `/chosen` settings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "Chosen", deny_unknown_fields)]
pub struct ChosenSpec {
    /// Name of the device the guest's console goes to (`stdout-path`).
    pub stdout: String,
    /// Default kernel command line; `--append` replaces it.
    #[serde(default)]
    pub bootargs: String,
}

/// One device, externally tagged by kind so it reads naturally in RON:
/// `Pl011(name: "uart0", base: 0x0900_0000, size: 0x1000)`.
///
/// Each kind has its own field struct, so a kind can grow fields of its own
/// and errors name the kind (`unknown field `foo` in `Pl011``).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "Device")]
#[non_exhaustive]
pub enum DeviceSpec {
    /// ARM PrimeCell PL011 UART.
    Pl011(Pl011Spec),
    /// Arm Generic Interrupt Controller, v2 or v3.
    Gic(GicSpec),
    /// virtio-mmio transports (slots the machine plugs virtio devices into).
    VirtioMmio(VirtioMmioSpec),
    /// ARM PrimeCell PL031 real-time clock (host time).
    Pl031(Pl031Spec),
    /// ARM PrimeCell PL061 GPIO controller, optionally with a power key.
    Pl061(Pl061Spec),
    /// CFI parallel NOR flash banks (Intel command set), backed by files.
    Pflash(PflashSpec),
}

/// Fields of a [`DeviceSpec::Pl031`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "Pl031", deny_unknown_fields)]
pub struct Pl031Spec {
    /// Instance name.
    pub name: String,
    /// Base of the register window.
    pub base: u64,
    /// Size of the window (0x1000).
    pub size: u64,
    /// The SPI it raises (at most one).
    #[serde(default)]
    pub interrupts: Vec<u32>,
}

/// Fields of a [`DeviceSpec::Pl061`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "Pl061", deny_unknown_fields)]
pub struct Pl061Spec {
    /// Instance name.
    pub name: String,
    /// Base of the register window.
    pub base: u64,
    /// Size of the window (0x1000).
    pub size: u64,
    /// The SPI it raises (at most one).
    #[serde(default)]
    pub interrupts: Vec<u32>,
    /// The GPIO line wired to a power key (a `gpio-keys` node with
    /// KEY_POWER): the host can ask the guest to shut down through it.
    #[serde(default)]
    pub power_key: Option<u8>,
}

/// Fields of a [`DeviceSpec::Pflash`]: `banks` banks of `size` bytes from
/// `base`, named `<name><i>`; images come from the command line.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "Pflash", deny_unknown_fields)]
pub struct PflashSpec {
    /// Instance name (prefix).
    pub name: String,
    /// Base of bank 0.
    pub base: u64,
    /// Size of one bank (a multiple of the 256 KiB sector).
    pub size: u64,
    /// Number of banks (1 or 2).
    #[serde(default = "one")]
    pub banks: u32,
}

/// Fields of a [`DeviceSpec::VirtioMmio`]: `count` transports of `size`
/// bytes each from `base`, transport `i` raising SPI `interrupts[0] + i`
/// and named `<name><i>` (`<name>` alone when `count` is 1).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "VirtioMmio", deny_unknown_fields)]
pub struct VirtioMmioSpec {
    /// Instance name (prefix).
    pub name: String,
    /// Base of the first transport.
    pub base: u64,
    /// Size of one transport's window (QEMU: 0x200).
    #[serde(default = "default_virtio_size")]
    pub size: u64,
    /// Number of transports.
    #[serde(default = "one")]
    pub count: u32,
    /// The first transport's SPI.
    pub interrupts: Vec<u32>,
    /// virtio-mmio version: 2 (modern, default) or 1 (legacy).
    #[serde(default = "two")]
    pub version: u32,
}

fn default_virtio_size() -> u64 {
    0x200
}

fn one() -> u32 {
    1
}

fn two() -> u32 {
    2
}

impl VirtioMmioSpec {
    /// Name, base and SPI of transport `i`.
    pub fn slot(&self, i: u32) -> (String, u64, u32) {
        let name = if self.count == 1 {
            self.name.clone()
        } else {
            format!("{}{i}", self.name)
        };
        let spi = self.interrupts.first().copied().unwrap_or(0) + i;
        (name, self.base + u64::from(i) * self.size, spi)
    }
}

/// Fields of a [`DeviceSpec::Gic`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "Gic", deny_unknown_fields)]
pub struct GicSpec {
    /// Instance name, e.g. `gic`.
    pub name: String,
    /// Architecture version: 2 (distributor + memory-mapped CPU interface,
    /// at most 8 cores) or 3 (distributor + one redistributor per core +
    /// system-register CPU interface).
    pub version: u8,
    /// Distributor base (a 64 KiB window).
    pub distributor: u64,
    /// GICv2: the CPU interface base (a 64 KiB window).
    #[serde(default)]
    pub cpu_interface: Option<u64>,
    /// GICv3: base of the redistributors, 128 KiB per core.
    #[serde(default)]
    pub redistributors: Option<u64>,
    /// Number of shared peripheral interrupts (a multiple of 32, 32..=960).
    #[serde(default = "default_spis")]
    pub spis: u32,
}

fn default_spis() -> u32 {
    64
}

/// Largest flash bank (NOR parts top out far below this; it bounds the
/// host memory a board file can ask for).
pub const MAX_FLASH_BANK: u64 = 1 << 30;

/// Size of the GIC distributor window and of a GICv2 CPU interface window.
pub const GIC_WINDOW: u64 = 0x1_0000;
/// Size of one GICv3 redistributor (RD_base and SGI_base frames).
pub const GICR_STRIDE: u64 = 0x2_0000;

/// Fields of a [`DeviceSpec::Pl011`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename = "Pl011", deny_unknown_fields)]
pub struct Pl011Spec {
    /// Instance name, e.g. `uart0`.
    pub name: String,
    /// Base of the register window.
    pub base: u64,
    /// Size of the register window (0x1000 on real parts).
    pub size: u64,
    /// Interrupt numbers (SPIs). Must be empty until the board has an
    /// interrupt controller.
    #[serde(default)]
    pub interrupts: Vec<u32>,
}

impl DeviceSpec {
    /// The kind as written in RON, e.g. `Pl011`.
    pub fn kind(&self) -> &'static str {
        match self {
            DeviceSpec::Pl011(_) => "Pl011",
            DeviceSpec::Gic(_) => "Gic",
            DeviceSpec::VirtioMmio(_) => "VirtioMmio",
            DeviceSpec::Pl031(_) => "Pl031",
            DeviceSpec::Pl061(_) => "Pl061",
            DeviceSpec::Pflash(_) => "Pflash",
        }
    }

    /// Instance name.
    pub fn name(&self) -> &str {
        match self {
            DeviceSpec::Pl011(d) => &d.name,
            DeviceSpec::Gic(d) => &d.name,
            DeviceSpec::VirtioMmio(d) => &d.name,
            DeviceSpec::Pl031(d) => &d.name,
            DeviceSpec::Pl061(d) => &d.name,
            DeviceSpec::Pflash(d) => &d.name,
        }
    }

    /// The MMIO windows the device occupies, with the field (relative to the
    /// entry) each one's base was given in, for error positions.
    fn windows(&self, cpus: u32) -> Vec<(&'static str, MmioRegion)> {
        let w = |field, base, size| (field, MmioRegion { base, size });
        match self {
            DeviceSpec::Pl011(d) => vec![w("base", d.base, d.size)],
            DeviceSpec::Gic(g) => {
                let mut v = vec![w("distributor", g.distributor, GIC_WINDOW)];
                if let Some(c) = g.cpu_interface {
                    v.push(w("cpu_interface", c, GIC_WINDOW));
                }
                if let Some(r) = g.redistributors {
                    v.push(w("redistributors", r, GICR_STRIDE * u64::from(cpus)));
                }
                v
            }
            // One window covering every transport (they are contiguous).
            DeviceSpec::VirtioMmio(v) => vec![w("base", v.base, v.size.saturating_mul(u64::from(v.count)))],
            DeviceSpec::Pl031(d) => vec![w("base", d.base, d.size)],
            DeviceSpec::Pl061(d) => vec![w("base", d.base, d.size)],
            DeviceSpec::Pflash(d) => vec![w("base", d.base, d.size.saturating_mul(u64::from(d.banks)))],
        }
    }

    /// The MMIO windows the device occupies on a board with `cpus` cores.
    pub fn mmio(&self, cpus: u32) -> Vec<MmioRegion> {
        self.windows(cpus).into_iter().map(|(_, r)| r).collect()
    }

    /// The interrupts (SPI numbers) the device raises.
    pub fn interrupts(&self) -> &[u32] {
        match self {
            DeviceSpec::Pl011(d) => &d.interrupts,
            DeviceSpec::Gic(_) => &[],
            DeviceSpec::VirtioMmio(d) => &d.interrupts,
            DeviceSpec::Pl031(d) => &d.interrupts,
            DeviceSpec::Pl061(d) => &d.interrupts,
            DeviceSpec::Pflash(_) => &[],
        }
    }
}

impl PartialEq for BoardSpec {
    fn eq(&self, o: &Self) -> bool {
        let BoardSpec {
            name,
            model,
            compatible,
            cpus,
            memory,
            devices,
            chosen,
            origin: _,
            locs: _,
            device_src: _,
        } = self;
        (name, model, compatible, cpus, memory, devices, chosen)
            == (
                &o.name,
                &o.model,
                &o.compatible,
                &o.cpus,
                &o.memory,
                &o.devices,
                &o.chosen,
            )
    }
}

impl BoardSpec {
    /// A board from its parts (for descriptions that are not RON text,
    /// such as a device tree blob), validated like a board file.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        origin: &str,
        name: String,
        model: String,
        compatible: Vec<String>,
        cpus: CpuSpec,
        memory: Vec<MemoryRegion>,
        devices: Vec<DeviceSpec>,
        chosen: ChosenSpec,
    ) -> Result<BoardSpec, BoardError> {
        let spec = BoardSpec {
            name,
            model,
            compatible,
            cpus,
            memory,
            devices,
            chosen,
            origin: origin.to_string(),
            locs: locate::SourceMap::default(),
            device_src: Vec::new(),
        };
        spec.validate().map_err(|p| BoardError::Invalid {
            origin: origin.to_string(),
            message: format!("{}: {}", p.at, p.message),
        })?;
        Ok(spec)
    }

    /// Where the description came from: a file path or `<builtin>/NAME.ron`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The main RAM region (the first one), which `-m` resizes.
    ///
    /// # Panics
    ///
    /// If `memory` was emptied after parsing; a parsed board always has RAM.
    pub fn ram(&self) -> &MemoryRegion {
        &self.memory[0]
    }

    /// The board's interrupt controller, if it has one.
    pub fn gic(&self) -> Option<&GicSpec> {
        self.devices.iter().find_map(|d| match d {
            DeviceSpec::Gic(g) => Some(g),
            _ => None,
        })
    }

    /// The device called `name`, if any.
    pub fn device(&self, name: &str) -> Option<&DeviceSpec> {
        self.devices.iter().find(|d| d.name() == name)
    }

    /// Resizes the main RAM (the `-m` option). On error the board is left
    /// unchanged and the message names `-m`.
    pub fn set_ram_size(&mut self, size: u64) -> Result<(), BoardError> {
        let mut next = self.clone();
        let Some(ram) = next.memory.first_mut() else {
            return Err(BoardError::Override {
                option: "-m",
                value: format!("{size:#x}"),
                message: "the board has no RAM region to resize".into(),
            });
        };
        ram.size = size;
        match next.validate() {
            Ok(()) => {
                *self = next;
                Ok(())
            }
            Err(p) => Err(BoardError::Override {
                option: "-m",
                value: format!("{size:#x}"),
                message: p.message,
            }),
        }
    }

    /// Sets the exception level the cores reset into (the `--boot-el`
    /// option). On error the board is left unchanged.
    pub fn set_boot_el(&mut self, el: u8) -> Result<(), BoardError> {
        let mut next = self.clone();
        next.cpus.boot_el = el;
        match next.validate() {
            Ok(()) => {
                *self = next;
                Ok(())
            }
            Err(p) => Err(BoardError::Override {
                option: "--boot-el",
                value: el.to_string(),
                message: p.message,
            }),
        }
    }

    /// Sets the core model (the `--cpu` option): one of [`CPU_MODELS`]. On
    /// error the board is left unchanged and the message names `--cpu`.
    pub fn set_cpu_model(&mut self, model: &str) -> Result<(), BoardError> {
        let bad = |message: String| BoardError::Override {
            option: "--cpu",
            value: model.to_string(),
            message,
        };
        if !CPU_MODELS.iter().any(|&(m, _)| m == model) {
            let known: Vec<&str> = CPU_MODELS.iter().map(|&(m, _)| m).collect();
            return Err(bad(format!("unknown CPU model (known: {})", known.join(", "))));
        }
        let mut next = self.clone();
        next.cpus.model = model.to_string();
        next.validate().map_err(|p| bad(p.message))?;
        *self = next;
        Ok(())
    }

    /// Sets the number of cores (the `--smp` option). On error the board is
    /// left unchanged and the message names `--smp`.
    pub fn set_cpu_count(&mut self, count: u32) -> Result<(), BoardError> {
        let mut next = self.clone();
        next.cpus.count = count;
        match next.validate() {
            Ok(()) => {
                *self = next;
                Ok(())
            }
            Err(p) => Err(BoardError::Override {
                option: "--smp",
                value: count.to_string(),
                message: p.message,
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a board could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// A problem in a board description, located in its source text.
    #[error("{origin}:{line}:{col}: {message}")]
    At {
        /// File path or `<builtin>/NAME.ron`.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// The board file could not be read.
    #[error("cannot read board file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A command-line override (`-m`, `--smp`) does not fit the board.
    #[error("{option} {value}: {message}")]
    Override {
        /// The option, e.g. `--smp`.
        option: &'static str,
        /// The value given, as shown to the user.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A board built from something other than RON text (a device tree
    /// blob) does not validate.
    #[error("{origin}: {message}")]
    Invalid {
        /// Where the description came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// `--board` named neither a builtin board nor a `.ron` file.
    #[error("unknown board `{name}`: not a builtin board (builtin: {}) and not a path to a .ron file", builtin_boards().join(", "))]
    UnknownBoard {
        /// What was asked for.
        name: String,
    },
}

impl BoardError {
    /// `(line, col)` for errors located in a board file.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            BoardError::At { line, col, .. } => Some((*line, *col)),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

const BUILTIN: &[(&str, &str)] = &[
    ("virt", include_str!("../virt.ron")),
    ("virt-gicv3", include_str!("../virt-gicv3.ron")),
    ("soc4", include_str!("../soc4.ron")),
];

/// Names of the builtin boards.
pub fn builtin_boards() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// The RON source of builtin board `name`.
pub fn builtin_board(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Largest board file accepted (a board is a few KiB; this keeps
/// `--board /dev/zero` or an `include` of a device file from reading
/// forever).
pub const MAX_BOARD_FILE: u64 = 1 << 20;

fn read_board_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_BOARD_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BOARD_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} KiB: not a board description", MAX_BOARD_FILE >> 10),
        ));
    }
    Ok(text)
}

/// Reads and parses a board file.
pub fn load_board_file(path: &Path) -> Result<BoardSpec, BoardError> {
    let src = read_board_text(path).map_err(|source| BoardError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_board(&src, &path.display().to_string())
}

/// Resolves a `--board` argument: a builtin board name, or else a path to a
/// `.ron` file.
pub fn resolve_board(arg: &str) -> Result<BoardSpec, BoardError> {
    if let Some(src) = builtin_board(arg) {
        return parse_board(src, &format!("<builtin>/{arg}.ron"));
    }
    let path = Path::new(arg);
    if path.extension().is_some_and(|e| e == "ron") || path.exists() {
        return load_board_file(path);
    }
    Err(BoardError::UnknownBoard { name: arg.to_string() })
}

/// Parses and validates a board description. `origin` names the source in
/// error messages (usually the file path).
pub fn parse_board(src: &str, origin: &str) -> Result<BoardSpec, BoardError> {
    parse_nested(src, origin, 0)
}

pub(crate) fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(
        ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES | ron::extensions::Extensions::IMPLICIT_SOME,
    )
}

/// Where in `src` a RON error is best reported, and its message.
pub(crate) fn ron_error_at(src: &str, e: &ron::error::SpannedError) -> (locate::Pos, String) {
    let mut at = locate::Pos {
        line: e.span.start.line,
        col: e.span.start.col,
    };
    if let ron::Error::MissingStructField { .. } = e.code {
        // ron points at the closing paren; the entry's start reads better.
        at = locate::scan(src).struct_closed_at(at).unwrap_or(at);
    }
    (at, ron_message(&e.code))
}

/// Deserializes `src` as a `T`, with errors located in `origin`.
fn from_ron<T: serde::de::DeserializeOwned>(src: &str, origin: &str) -> Result<T, BoardError> {
    ron_options().from_str(src).map_err(|e| {
        let (at, message) = ron_error_at(src, &e);
        BoardError::At {
            origin: origin.to_string(),
            line: at.line,
            col: at.col,
            message,
        }
    })
}

fn parse_nested(src: &str, origin: &str, depth: usize) -> Result<BoardSpec, BoardError> {
    let locs = locate::scan(src);
    let mut spec = if locs.has("include") {
        let overlay: Overlay = from_ron(src, origin)?;
        let at = |path: &str, message: String| {
            let pos = locs.find(path);
            BoardError::At {
                origin: origin.to_string(),
                line: pos.line,
                col: pos.col,
                message,
            }
        };
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(at(
                "include",
                format!("`include` nests more than {MAX_INCLUDE_DEPTH} deep (does a board include itself?)"),
            ));
        }
        let base = include_base(&overlay.include, origin, depth).map_err(|e| match e {
            BoardError::Io { path, source } => at(
                "include",
                format!("cannot read included board {}: {source}", path.display()),
            ),
            BoardError::UnknownBoard { name } => at(
                "include",
                format!(
                    "`include: {name:?}` names neither a builtin board ({}) nor a .ron file",
                    builtin_boards().join(", ")
                ),
            ),
            other => other,
        })?;
        apply_overlay(base, overlay).map_err(|p| at(&p.at, p.message))?
    } else {
        let mut spec: BoardSpec = from_ron(src, origin)?;
        spec.device_src.clear();
        spec
    };
    spec.origin = origin.to_string();
    spec.locs = locs;
    spec.validate().map_err(|p| {
        let pos = spec.locs.find(&spec.source_path(&p.at));
        BoardError::At {
            origin: origin.to_string(),
            line: pos.line,
            col: pos.col,
            message: p.message,
        }
    })?;
    Ok(spec)
}

/// The board an `include` names: a builtin board, or a file relative to
/// the including file's directory.
fn include_base(name: &str, origin: &str, depth: usize) -> Result<BoardSpec, BoardError> {
    if let Some(src) = builtin_board(name) {
        return parse_nested(src, &format!("<builtin>/{name}.ron"), depth + 1);
    }
    let dir = if origin.starts_with("<builtin>") {
        Path::new(".")
    } else {
        Path::new(origin).parent().unwrap_or(Path::new("."))
    };
    let path = dir.join(name);
    if !path.exists() && Path::new(name).extension().is_none_or(|e| e != "ron") {
        return Err(BoardError::UnknownBoard { name: name.to_string() });
    }
    let src = read_board_text(&path).map_err(|source| BoardError::Io {
        path: path.clone(),
        source,
    })?;
    parse_nested(&src, &path.display().to_string(), depth + 1)
}

/// `base` with `o`'s changes; the problem paths are `o`'s.
fn apply_overlay(mut base: BoardSpec, o: Overlay) -> Result<BoardSpec, Problem> {
    let mut src: Vec<Option<usize>> = vec![None; base.devices.len()];
    for (k, name) in o.remove_devices.iter().enumerate() {
        let Some(i) = base.devices.iter().position(|d| d.name() == name) else {
            let known: Vec<&str> = base.devices.iter().map(|d| d.name()).collect();
            return Err(Problem {
                at: format!("remove_devices[{k}]"),
                message: format!(
                    "the included board has no device `{name}` to remove (devices: {})",
                    known.join(", ")
                ),
            });
        };
        base.devices.remove(i);
        src.remove(i);
    }
    for (j, d) in o.devices.into_iter().enumerate() {
        match base.devices.iter().position(|b| b.name() == d.name()) {
            Some(i) => {
                base.devices[i] = d;
                src[i] = Some(j);
            }
            None => {
                base.devices.push(d);
                src.push(Some(j));
            }
        }
    }
    base.device_src = src;
    if let Some(v) = o.name {
        base.name = v;
    }
    if let Some(v) = o.model {
        base.model = v;
    }
    if let Some(v) = o.compatible {
        base.compatible = v;
    }
    if let Some(c) = o.cpus {
        if let Some(v) = c.count {
            base.cpus.count = v;
        }
        if let Some(v) = c.model {
            base.cpus.model = v;
        }
        if let Some(v) = c.boot_el {
            base.cpus.boot_el = v;
        }
    }
    if let Some(m) = o.memory {
        base.memory = m;
    }
    if let Some(c) = o.chosen {
        if let Some(v) = c.stdout {
            base.chosen.stdout = v;
        }
        if let Some(v) = c.bootargs {
            base.chosen.bootargs = v;
        }
    }
    Ok(base)
}

/// Rephrases a ron error in this crate's voice, keeping the facts.
pub(crate) fn ron_message(code: &ron::Error) -> String {
    fn list(names: &[&str]) -> String {
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    }
    fn within(outer: &Option<String>) -> String {
        outer.as_ref().map(|o| format!(" in `{o}`")).unwrap_or_default()
    }
    match code {
        ron::Error::NoSuchEnumVariant { expected, found, outer } if outer.as_deref() == Some("Device") => {
            format!("unknown device kind `{found}` (known kinds: {})", list(expected))
        }
        ron::Error::NoSuchEnumVariant { expected, found, outer } => {
            format!(
                "unknown variant `{found}`{} (expected one of {})",
                within(outer),
                list(expected)
            )
        }
        ron::Error::NoSuchStructField { expected, found, outer } => {
            format!(
                "unknown field `{found}`{} (expected one of {})",
                within(outer),
                list(expected)
            )
        }
        ron::Error::MissingStructField { field, outer } => {
            format!("missing field `{field}`{}", within(outer))
        }
        ron::Error::DuplicateStructField { field, outer } => {
            format!("field `{field}` given twice{}", within(outer))
        }
        ron::Error::ExpectedDifferentStructName { expected, found } => {
            format!("expected `{expected}(...)`, found `{found}(...)`")
        }
        ron::Error::Eof => "unexpected end of file".to_string(),
        ron::Error::ExpectedComma => "expected `,`".to_string(),
        ron::Error::ExpectedArrayEnd => "expected `]`".to_string(),
        ron::Error::IntegerOutOfBounds => "integer out of range for this field".to_string(),
        other => {
            let s = other.to_string();
            let mut chars = s.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => "invalid board description".to_string(),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// A semantic problem: the source path of the offending value (e.g.
/// `devices[1].base`, located with [`locate::SourceMap::find`]) and a message.
struct Problem {
    at: String,
    message: String,
}

fn problem(at: impl Into<String>, message: impl Into<String>) -> Result<(), Problem> {
    Err(Problem {
        at: at.into(),
        message: message.into(),
    })
}

/// One address window with what it belongs to, for overlap checks.
struct Window {
    what: String,
    name: String,
    entry: String,
    base_at: String,
    base: u64,
    size: u64,
}

impl Window {
    fn end(&self) -> u64 {
        // Sizes are checked for overflow before windows are compared.
        self.base.saturating_add(self.size)
    }
}

fn range(base: u64, size: u64) -> String {
    match base.checked_add(size) {
        Some(end) => format!("[{base:#x}, {end:#x})"),
        None => format!("[{base:#x}, {base:#x} + {size:#x})"),
    }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && s.len() <= 31
}

impl BoardSpec {
    fn here(&self, path: &str) -> String {
        let p = self.locs.find(&self.source_path(path));
        format!("{}:{}:{}", self.origin, p.line, p.col)
    }

    /// `path` (e.g. `devices[3].base`, indexing the merged board) as a path
    /// in this board's own source: a device from an included board is
    /// located at `include`.
    fn source_path(&self, path: &str) -> String {
        // A field an including board does not set is the included board's.
        let top = path.split(['.', '[']).next().unwrap_or("");
        if self.locs.has("include") && !self.locs.has(top) {
            return "include".to_string();
        }
        let Some(rest) = path.strip_prefix("devices[") else {
            return path.to_string();
        };
        let Some((idx, tail)) = rest.split_once(']') else {
            return path.to_string();
        };
        match (idx.parse::<usize>(), self.device_src.is_empty()) {
            (_, true) => path.to_string(),
            (Ok(i), false) => match self.device_src.get(i).copied().flatten() {
                Some(j) => format!("devices[{j}]{tail}"),
                None => "include".to_string(),
            },
            (Err(_), false) => path.to_string(),
        }
    }

    fn validate(&self) -> Result<(), Problem> {
        if !valid_name(&self.name) {
            return problem(
                "name",
                format!(
                    "board name {:?} must be 1-31 ASCII letters, digits, `_` or `-`, starting with a letter",
                    self.name
                ),
            );
        }
        if self.model.is_empty() || self.model.contains('\0') {
            return problem("model", "`model` must be a non-empty string without NUL characters");
        }
        if self.compatible.is_empty() {
            return problem("compatible", "`compatible` must list at least one string");
        }
        for (i, c) in self.compatible.iter().enumerate() {
            if c.is_empty() || c.contains('\0') {
                return problem(
                    format!("compatible[{i}]"),
                    "compatible strings must be non-empty and contain no NUL characters",
                );
            }
        }
        if !(1..=MAX_CPUS).contains(&self.cpus.count) {
            return problem(
                "cpus.count",
                format!(
                    "the CPU count must be between 1 and {MAX_CPUS}, not {}",
                    self.cpus.count
                ),
            );
        }
        let m = &self.cpus.model;
        if m.is_empty()
            || !m
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return problem(
                "cpus.model",
                format!("CPU model {m:?} must be lower-case letters, digits and `-`, e.g. \"cortex-a57\""),
            );
        }
        if !(1..=3).contains(&self.cpus.boot_el) {
            return problem(
                "cpus.boot_el",
                format!("boot_el must be 1, 2 or 3, not {}", self.cpus.boot_el),
            );
        }
        if self.memory.is_empty() {
            return problem(
                "memory",
                "`memory` must list at least one RAM region (the first is the main RAM)",
            );
        }

        let mut windows = Vec::new();
        for (i, r) in self.memory.iter().enumerate() {
            let entry = format!("memory[{i}]");
            self.check_name(&entry, &r.name)?;
            if r.size == 0 {
                return problem(
                    format!("{entry}.size"),
                    format!("memory region `{}` has size 0", r.name),
                );
            }
            if r.base.checked_add(r.size).is_none() {
                return problem(
                    format!("{entry}.size"),
                    format!(
                        "memory region `{}` {} runs past the end of the address space",
                        r.name,
                        range(r.base, r.size)
                    ),
                );
            }
            if r.base % RAM_ALIGN != 0 {
                return problem(
                    format!("{entry}.base"),
                    format!("memory region `{}` base {:#x} is not 64 KiB aligned", r.name, r.base),
                );
            }
            if r.size % RAM_ALIGN != 0 {
                return problem(
                    format!("{entry}.size"),
                    format!(
                        "memory region `{}` size {:#x} is not a multiple of 64 KiB",
                        r.name, r.size
                    ),
                );
            }
            windows.push(Window {
                what: "memory region".into(),
                name: r.name.clone(),
                base_at: format!("{entry}.base"),
                entry,
                base: r.base,
                size: r.size,
            });
        }

        for (i, d) in self.devices.iter().enumerate() {
            let entry = format!("devices[{i}]");
            self.check_name(&entry, d.name())?;
            for (field, w) in d.windows(self.cpus.count) {
                let size_field = if field == "base" { "size" } else { field };
                if w.size == 0 {
                    return problem(
                        format!("{entry}.{size_field}"),
                        format!("device `{}` has size 0", d.name()),
                    );
                }
                if w.base.checked_add(w.size).is_none() {
                    return problem(
                        format!("{entry}.{size_field}"),
                        format!(
                            "device `{}` {} runs past the end of the address space",
                            d.name(),
                            range(w.base, w.size)
                        ),
                    );
                }
                let align = w
                    .size
                    .checked_next_power_of_two()
                    .unwrap_or(DEVICE_ALIGN)
                    .min(DEVICE_ALIGN);
                if w.base % align != 0 {
                    return problem(
                        format!("{entry}.{field}"),
                        format!("device `{}` base {:#x} is not aligned to {align:#x}", d.name(), w.base),
                    );
                }
                windows.push(Window {
                    what: "device".into(),
                    name: d.name().to_string(),
                    entry: entry.clone(),
                    base_at: format!("{entry}.{field}"),
                    base: w.base,
                    size: w.size,
                });
            }
            match (self.gic(), d.interrupts()) {
                (_, []) => {}
                (None, _) => {
                    return problem(
                        format!("{entry}.interrupts"),
                        format!(
                            "device `{}` lists interrupts, but this board has no interrupt controller (`Gic`) to deliver them",
                            d.name()
                        ),
                    )
                }
                (Some(g), irqs) => {
                    for (k, &n) in irqs.iter().enumerate() {
                        if n >= g.spis {
                            return problem(
                                format!("{entry}.interrupts[{k}]"),
                                format!(
                                    "device `{}` uses SPI {n}, but GIC `{}` has SPIs 0..{}",
                                    d.name(),
                                    g.name,
                                    g.spis
                                ),
                            );
                        }
                    }
                }
            }
            if let DeviceSpec::Gic(g) = d {
                self.check_gic(&entry, g)?;
            }
            if let DeviceSpec::VirtioMmio(v) = d {
                Self::check_virtio(&entry, v, self.gic())?;
            }
            if let DeviceSpec::Pflash(f) = d {
                if !(1..=2).contains(&f.banks) {
                    return problem(
                        format!("{entry}.banks"),
                        format!("`banks` must be 1 or 2, not {}", f.banks),
                    );
                }
                if f.size == 0 || f.size % soc::pflash::SECTOR_SIZE != 0 || f.size > MAX_FLASH_BANK {
                    return problem(
                        format!("{entry}.size"),
                        format!(
                            "a flash bank is a non-zero multiple of the {:#x}-byte sector, at most {:#x}, not {:#x}",
                            soc::pflash::SECTOR_SIZE,
                            MAX_FLASH_BANK,
                            f.size
                        ),
                    );
                }
            }
            if let DeviceSpec::Pl061(g) = d {
                if g.power_key.is_some_and(|l| l >= 8) {
                    return problem(format!("{entry}.power_key"), "a PL061 has GPIO lines 0..=7");
                }
            }
            if matches!(d, DeviceSpec::Pl031(_) | DeviceSpec::Pl061(_)) && d.interrupts().len() > 1 {
                return problem(format!("{entry}.interrupts"), "this device raises one interrupt");
            }
        }
        let gics = self.devices.iter().filter(|d| matches!(d, DeviceSpec::Gic(_))).count();
        if gics > 1 {
            let second = self
                .devices
                .iter()
                .enumerate()
                .filter(|(_, d)| matches!(d, DeviceSpec::Gic(_)))
                .nth(1)
                .map(|(i, _)| i)
                .unwrap_or(0);
            return problem(
                format!("devices[{second}]"),
                "a board has at most one interrupt controller (`Gic`)",
            );
        }

        // Duplicate names: memory regions and devices share one namespace.
        let mut names: Vec<(&str, String)> = Vec::new();
        for (i, r) in self.memory.iter().enumerate() {
            names.push((&r.name, format!("memory[{i}]")));
        }
        for (i, d) in self.devices.iter().enumerate() {
            names.push((d.name(), format!("devices[{i}]")));
        }
        for (j, (name, entry)) in names.iter().enumerate() {
            if let Some((_, first)) = names[..j].iter().find(|(n, _)| n == name) {
                return problem(
                    format!("{entry}.name"),
                    format!("name `{name}` is already used at {}", self.here(first)),
                );
            }
        }

        for (j, b) in windows.iter().enumerate() {
            for a in &windows[..j] {
                if a.base < b.end() && b.base < a.end() {
                    return problem(
                        b.base_at.clone(),
                        format!(
                            "{} `{}` {} overlaps {} `{}` {} (defined at {})",
                            b.what,
                            b.name,
                            range(b.base, b.size),
                            a.what,
                            a.name,
                            range(a.base, a.size),
                            self.here(&a.entry)
                        ),
                    );
                }
            }
        }

        let stdout = &self.chosen.stdout;
        if self.device(stdout).is_none() {
            let known: Vec<&str> = self.devices.iter().map(|d| d.name()).collect();
            let hint = if self.memory.iter().any(|r| &r.name == stdout) {
                format!("`{stdout}` is a memory region, not a device")
            } else if known.is_empty() {
                "the board has no devices".to_string()
            } else {
                format!("devices: {}", known.join(", "))
            };
            return problem("chosen.stdout", format!("stdout names no device `{stdout}` ({hint})"));
        }
        if self.chosen.bootargs.contains('\0') {
            return problem("chosen.bootargs", "bootargs must not contain NUL characters");
        }
        Ok(())
    }

    fn check_virtio(entry: &str, v: &VirtioMmioSpec, gic: Option<&GicSpec>) -> Result<(), Problem> {
        if !(1..=64).contains(&v.count) {
            return problem(
                format!("{entry}.count"),
                format!("`count` must be 1..=64, not {}", v.count),
            );
        }
        if v.size < 0x200 || !v.size.is_power_of_two() {
            return problem(
                format!("{entry}.size"),
                format!(
                    "a virtio-mmio window is a power of two of at least 0x200 bytes, not {:#x}",
                    v.size
                ),
            );
        }
        if !matches!(v.version, 1 | 2) {
            return problem(
                format!("{entry}.version"),
                format!(
                    "virtio-mmio version must be 1 (legacy) or 2 (modern), not {}",
                    v.version
                ),
            );
        }
        let [first] = v.interrupts.as_slice() else {
            return problem(
                format!("{entry}.interrupts"),
                "virtio-mmio needs exactly one SPI: the first transport's (the others follow it)",
            );
        };
        if let Some(g) = gic {
            let last = first + v.count - 1;
            if last >= g.spis {
                return problem(
                    format!("{entry}.interrupts"),
                    format!(
                        "transports use SPIs {first}..={last}, but GIC `{}` has SPIs 0..{}",
                        g.name, g.spis
                    ),
                );
            }
        }
        Ok(())
    }

    fn check_gic(&self, entry: &str, g: &GicSpec) -> Result<(), Problem> {
        match (g.version, g.cpu_interface, g.redistributors) {
            (2, Some(_), None) => {
                if self.cpus.count > 8 {
                    return problem(
                        format!("{entry}.version"),
                        format!(
                            "a GICv2 serves at most 8 cores, but the board has {} (use version: 3)",
                            self.cpus.count
                        ),
                    );
                }
            }
            (3, None, Some(_)) => {}
            (2, _, _) => {
                return problem(
                    format!("{entry}.version"),
                    "a GICv2 needs `cpu_interface` and has no `redistributors`",
                )
            }
            (3, _, _) => {
                return problem(
                    format!("{entry}.version"),
                    "a GICv3 needs `redistributors` and has no `cpu_interface` (its CPU interface is system registers)",
                )
            }
            (v, _, _) => {
                return problem(
                    format!("{entry}.version"),
                    format!("GIC version must be 2 or 3, not {v}"),
                )
            }
        }
        if g.spis == 0 || g.spis % 32 != 0 || g.spis > 960 {
            return problem(
                format!("{entry}.spis"),
                format!("`spis` must be a multiple of 32 between 32 and 960, not {}", g.spis),
            );
        }
        Ok(())
    }

    fn check_name(&self, entry: &str, name: &str) -> Result<(), Problem> {
        if valid_name(name) {
            Ok(())
        } else {
            problem(
                format!("{entry}.name"),
                format!("name {name:?} must be 1-31 ASCII letters, digits, `_` or `-`, starting with a letter"),
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Source positions
// ---------------------------------------------------------------------------

/// Finds where each value starts in RON text, keyed by path: `cpus.count`,
/// `devices[1]` (the entry, e.g. where `Pl011` is written), `devices[1].base`.
///
/// It runs only on text `ron` has already accepted, so it can be a plain
/// scanner; on anything else it stops early and never panics.
pub(crate) mod locate {
    use std::collections::HashMap;

    /// A 1-based position; columns count characters, as ron's do.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Pos {
        pub line: usize,
        pub col: usize,
    }

    /// Path → start of the value, plus the extent of every `(...)`.
    #[derive(Clone, Default, PartialEq, Eq)]
    pub struct SourceMap {
        map: HashMap<String, Pos>,
        /// `(start, closing paren)` of each struct or tuple; `start` is where
        /// its name (`Pl011`) or `(` is.
        parens: Vec<(Pos, Pos)>,
    }

    impl std::fmt::Debug for SourceMap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SourceMap({} positions)", self.map.len())
        }
    }

    impl SourceMap {
        /// Whether the source gives a value at `path`.
        pub fn has(&self, path: &str) -> bool {
            self.map.contains_key(path)
        }

        /// The position of `path`, or of its nearest recorded ancestor (a
        /// field left at its default is reported at its entry).
        pub fn find(&self, path: &str) -> Pos {
            let mut p = path;
            loop {
                if let Some(pos) = self.map.get(p) {
                    return *pos;
                }
                match p.rfind(['.', '[']) {
                    Some(i) => p = &p[..i],
                    None => return self.map.get("").copied().unwrap_or(Pos { line: 1, col: 1 }),
                }
            }
        }

        /// The start of the struct whose closing paren is at `close` (ron
        /// reports a missing field there).
        pub fn struct_closed_at(&self, close: Pos) -> Option<Pos> {
            self.parens.iter().find(|(_, c)| *c == close).map(|(start, _)| *start)
        }
    }

    const MAX_DEPTH: usize = 64;

    struct Scanner {
        chars: Vec<char>,
        i: usize,
        line: usize,
        col: usize,
        map: HashMap<String, Pos>,
        parens: Vec<(Pos, Pos)>,
    }

    /// Scans `src`.
    pub fn scan(src: &str) -> SourceMap {
        let mut s = Scanner {
            chars: src.chars().collect(),
            i: 0,
            line: 1,
            col: 1,
            map: HashMap::new(),
            parens: Vec::new(),
        };
        s.value(String::new(), 0);
        SourceMap {
            map: s.map,
            parens: s.parens,
        }
    }

    fn is_ident_char(c: char) -> bool {
        c.is_alphanumeric() || c == '_'
    }

    fn join(path: &str, field: &str) -> String {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    }

    impl Scanner {
        fn peek(&self) -> Option<char> {
            self.chars.get(self.i).copied()
        }

        fn peek_at(&self, k: usize) -> Option<char> {
            self.chars.get(self.i + k).copied()
        }

        fn bump(&mut self) -> Option<char> {
            let c = self.peek()?;
            self.i += 1;
            if c == '\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
            Some(c)
        }

        fn pos(&self) -> Pos {
            Pos {
                line: self.line,
                col: self.col,
            }
        }

        fn skip_trivia(&mut self) {
            loop {
                match (self.peek(), self.peek_at(1)) {
                    (Some(c), _) if c.is_whitespace() => {
                        self.bump();
                    }
                    (Some('/'), Some('/')) => {
                        while self.peek().is_some_and(|c| c != '\n') {
                            self.bump();
                        }
                    }
                    (Some('/'), Some('*')) => {
                        self.bump();
                        self.bump();
                        let mut depth = 1usize;
                        while depth > 0 {
                            match (self.peek(), self.peek_at(1)) {
                                (None, _) => return,
                                (Some('*'), Some('/')) => {
                                    self.bump();
                                    self.bump();
                                    depth -= 1;
                                }
                                (Some('/'), Some('*')) => {
                                    self.bump();
                                    self.bump();
                                    depth += 1;
                                }
                                _ => {
                                    self.bump();
                                }
                            }
                        }
                    }
                    _ => return,
                }
            }
        }

        fn ident(&mut self) -> String {
            let mut s = String::new();
            if self.peek() == Some('r') && self.peek_at(1) == Some('#') {
                self.bump();
                self.bump();
            }
            while let Some(c) = self.peek().filter(|&c| is_ident_char(c)) {
                s.push(c);
                self.bump();
            }
            s
        }

        /// A quoted string or char body, after the opening quote.
        fn quoted(&mut self, quote: char) {
            while let Some(c) = self.bump() {
                if c == '\\' {
                    self.bump();
                } else if c == quote {
                    return;
                }
            }
        }

        /// A raw string `r#"..."#`, at the `r`.
        fn raw_string(&mut self) {
            self.bump();
            let mut hashes = 0;
            while self.peek() == Some('#') {
                hashes += 1;
                self.bump();
            }
            if self.bump() != Some('"') {
                return;
            }
            while let Some(c) = self.bump() {
                if c == '"' {
                    let mut n = 0;
                    while n < hashes && self.peek() == Some('#') {
                        n += 1;
                        self.bump();
                    }
                    if n == hashes {
                        return;
                    }
                }
            }
        }

        fn is_raw_string_start(&self, k: usize) -> bool {
            let mut j = k + 1;
            while self.peek_at(j) == Some('#') {
                j += 1;
            }
            self.peek_at(j) == Some('"')
        }

        fn value(&mut self, path: String, depth: usize) {
            if depth > MAX_DEPTH {
                return;
            }
            self.skip_trivia();
            let start = self.pos();
            let Some(c) = self.peek() else { return };
            self.map.entry(path.clone()).or_insert(start);
            match c {
                '(' => self.parens(&path, depth, start),
                '[' => {
                    self.bump();
                    let _ = self.seq(&path, ']', depth);
                }
                '{' => {
                    self.bump();
                    let _ = self.seq(&path, '}', depth);
                }
                '"' => {
                    self.bump();
                    self.quoted('"');
                }
                '\'' => {
                    self.bump();
                    self.quoted('\'');
                }
                'b' if self.peek_at(1) == Some('"') => {
                    self.bump();
                    self.bump();
                    self.quoted('"');
                }
                'b' if self.peek_at(1) == Some('r') && self.is_raw_string_start(1) => {
                    self.bump();
                    self.raw_string();
                }
                'r' if self.is_raw_string_start(0) => self.raw_string(),
                c if c.is_alphabetic() || c == '_' => {
                    self.ident();
                    self.skip_trivia();
                    if self.peek() == Some('(') {
                        self.parens(&path, depth, start);
                    }
                }
                _ => {
                    let from = self.i;
                    while self.peek().is_some_and(|c| c.is_alphanumeric() || "_.+-".contains(c)) {
                        self.bump();
                    }
                    if self.i == from {
                        self.bump();
                    }
                }
            }
        }

        /// `( ... )`: named fields (`a: 1, b: 2`) or a tuple (`1, 2`).
        fn parens(&mut self, path: &str, depth: usize, start: Pos) {
            self.bump(); // '('
            self.skip_trivia();
            let is_struct = {
                let save = (self.i, self.line, self.col);
                let named = !self.ident().is_empty() && {
                    self.skip_trivia();
                    self.peek() == Some(':')
                };
                (self.i, self.line, self.col) = save;
                named
            };
            if !is_struct {
                if let Some(close) = self.seq(path, ')', depth) {
                    self.parens.push((start, close));
                }
                return;
            }
            loop {
                self.skip_trivia();
                if self.peek() == Some(')') {
                    self.parens.push((start, self.pos()));
                    self.bump();
                    return;
                }
                let key = self.ident();
                self.skip_trivia();
                if key.is_empty() || self.peek() != Some(':') {
                    return;
                }
                self.bump();
                self.value(join(path, &key), depth + 1);
                self.skip_trivia();
                if self.peek() == Some(',') {
                    self.bump();
                }
            }
        }

        /// A comma-separated sequence up to `close`, after the opener;
        /// returns where `close` is.
        fn seq(&mut self, path: &str, close: char, depth: usize) -> Option<Pos> {
            let mut index = 0;
            loop {
                self.skip_trivia();
                match self.peek() {
                    None => return None,
                    Some(c) if c == close => {
                        let at = self.pos();
                        self.bump();
                        return Some(at);
                    }
                    _ => {}
                }
                let before = self.i;
                self.value(format!("{path}[{index}]"), depth + 1);
                index += 1;
                self.skip_trivia();
                match self.peek() {
                    Some(',') => {
                        self.bump();
                    }
                    Some(':') => {
                        // Map entry `k: v`.
                        self.bump();
                        self.value(format!("{path}[{}]", index - 1), depth + 1);
                        self.skip_trivia();
                        if self.peek() == Some(',') {
                            self.bump();
                        }
                    }
                    _ => {}
                }
                if self.i == before {
                    return None;
                }
            }
        }
    }

    impl std::fmt::Display for Pos {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}:{}", self.line, self.col)
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind(), self.name())
    }
}
