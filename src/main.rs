//! `preboard`: the command-line front end. Parses arguments, builds a
//! machine from a board description and runs it; everything else lives in
//! the library crates.

use anyhow::Context as _;
use boards::fdt_out::BootInfo;
use boards::loader::ImageFormat;
use boards::machine::{
    board_device_tree, Attachments, Engine, InputFile, Machine, MachineConfig, MachineError, RestoreOptions,
    RunOutcome, SnapshotError,
};
use boards::time::TimeMode;
use clap::{Args, Parser, Subcommand};
use soc::chardev::{self, CharBackend, ChardevSpec};
use soc::pflash::FlashImage;
use soc::pl061::PowerButton;
use soc::virtio::{BlkConfig, NicConfig};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

mod gdb_cmd;
mod gui_cmd;
mod monitor;
mod qemu_cmd;
mod test_cmd;

/// The bundled demo firmware (source: firmware/hello), run when no
/// `--kernel` is given.
const DEMO_FIRMWARE: &[u8] = include_bytes!("../firmware/prebuilt/hello.elf");

/// Exit codes for emulator-side failures (the guest's own exit code is
/// passed through otherwise). Documented in README.md.
mod exit {
    /// Bad command line (clap's own code).
    pub const USAGE: u8 = 2;
    /// A board, image or DTB file is malformed or does not fit.
    pub const BAD_INPUT: u8 = 65;
    /// An input file could not be read.
    pub const NO_INPUT: u8 = 66;
    /// The guest cannot continue (exception loop, unsupported feature,
    /// every core waiting forever).
    pub const GUEST_FATAL: u8 = 70;
    /// Writing an output file failed, or a `--serial` or
    /// `--virtio-console` backend could not be opened.
    pub const IO: u8 = 74;
    /// `--max-insns` was reached before the guest exited.
    pub const LIMIT: u8 = 124;
}

#[derive(Parser)]
#[command(name = "preboard", version, about = "AArch64 board emulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a kernel or firmware on a board (the bundled demo by default).
    Run(Box<RunArgs>),
    /// Run as `run` does, in the inspector window (README, "Inspector
    /// GUI"): the same arguments.
    Gui(Box<RunArgs>),
    /// Inspect board descriptions.
    #[command(subcommand)]
    Board(BoardCommand),
    /// Run test files (RON: board, images, steps) in parallel; exit code 0
    /// if all pass, 1 otherwise (see boards/README.md, "Test files").
    Test(Box<test_cmd::TestArgs>),
    /// Run with qemu-system-aarch64's command line (the subset embedded
    /// scripts use; README, "preboard qemu"), as the equivalent `preboard
    /// run` (`--print-run` prints it instead of running).
    #[command(disable_help_flag = true)]
    Qemu(qemu_cmd::QemuArgs),
}

#[derive(Subcommand)]
enum BoardCommand {
    /// Print the device tree a board hands its guest, as DTS.
    Dts(DtsArgs),
    /// List the built-in boards.
    List,
}

#[derive(Args)]
struct BoardArgs {
    /// A built-in board name or a board description file (.ron).
    #[arg(long, default_value = "virt")]
    board: String,
    /// Main RAM size: bytes, or with a K/M/G suffix; a bare number means MiB.
    #[arg(short = 'm', long = "memory", value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Number of cores.
    #[arg(long, value_name = "N")]
    smp: Option<u32>,
    /// Kernel command line (replaces the board's chosen bootargs).
    #[arg(long, value_name = "STR")]
    append: Option<String>,
    /// Exception level the cores start in: 1 (default), 2 (the guest owns
    /// EL2; PSCI via SMC) or 3 (the guest brings its own EL3 firmware).
    #[arg(long, value_name = "EL")]
    boot_el: Option<u8>,
    /// Core model: cortex-a53, cortex-a57 or cortex-a72 (the MIDR_EL1 and
    /// device-tree name; every model runs Preboard's one feature set).
    #[arg(long, value_name = "MODEL")]
    cpu: Option<String>,
}

#[derive(Args)]
struct DtsArgs {
    /// A built-in board name or a board description file (.ron).
    #[arg(value_name = "BOARD", default_value = "virt")]
    board: String,
    /// Main RAM size: bytes, or with a K/M/G suffix; a bare number means MiB.
    #[arg(short = 'm', long = "memory", value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Number of cores.
    #[arg(long, value_name = "N")]
    smp: Option<u32>,
    /// Kernel command line to put in /chosen.
    #[arg(long, value_name = "STR")]
    append: Option<String>,
    /// Also write the blob to FILE.
    #[arg(long, value_name = "FILE")]
    dump_dtb: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    board: BoardArgs,
    /// Kernel or firmware: ELF, Linux arm64 Image (optionally gzip'd), or raw.
    /// Without it, the board boots from flash bank 0 if --pflash gives it
    /// an image (executing in place, as QEMU virt with only -bios/pflash),
    /// and runs the bundled demo otherwise.
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// Load a raw kernel at this address instead of detecting its format.
    #[arg(long, value_name = "ADDR", value_parser = parse_u64)]
    load_addr: Option<u64>,
    /// Initial ramdisk.
    #[arg(long, value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// Pass this device tree blob to the guest unchanged.
    #[arg(long, value_name = "FILE")]
    dtb: Option<PathBuf>,
    /// Write the device tree blob handed to the guest to FILE.
    #[arg(long, value_name = "FILE")]
    dump_dtb: Option<PathBuf>,
    /// Stop after this many instructions (exit code 124).
    #[arg(long, value_name = "N")]
    max_insns: Option<u64>,
    /// Exit (code 0) when the guest asks for a system reset, instead of
    /// restarting it.
    #[arg(long)]
    no_reboot: bool,
    /// Save the whole machine to FILE when the run ends (the guest exits
    /// or powers off, --max-insns is reached, Ctrl-a x, SIGTERM), for
    /// --snapshot-load.
    #[arg(long, value_name = "FILE")]
    snapshot_save: Option<PathBuf>,
    /// Start from a snapshot instead of booting images: the board options
    /// (--board, -m, --smp, --boot-el) must match the saved machine's;
    /// disks, flash, serial and network backends are this command line's
    /// (a disk must have the contents it had when the snapshot was taken).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kernel", "initrd", "dtb", "load_addr", "board_from_dtb"])]
    snapshot_load: Option<PathBuf>,
    /// With --snapshot-load: also check the RAM images' checksums, reading
    /// all the saved RAM now instead of as the guest touches it.
    #[arg(long, requires = "snapshot_load")]
    snapshot_verify: bool,
    /// Connect the board's next PL011 UART (in board order, as QEMU's
    /// -serial) to stdio, null, file:PATH, pty, tcp:PORT (127.0.0.1) or
    /// tcp:HOST:PORT. Without any, the board's console UART uses stdio and
    /// the others null; with some, UARTs left over use null.
    #[arg(long, value_name = "SPEC", value_parser = parse_serial)]
    serial: Vec<ChardevSpec>,
    /// A virtio-blk disk: `PATH[,readonly=on][,serial=ID][,discard=on]`
    /// (raw image; repeatable, plugged into free virtio-mmio slots in order).
    #[arg(long, value_name = "SPEC", value_parser = parse_drive)]
    drive: Vec<BlkConfig>,
    /// Plug a virtio-rng (host randomness) into the next free slot.
    #[arg(long)]
    rng: bool,
    /// Plug a virtio-net into the next free slot (repeatable), like QEMU's
    /// `-nic user`: `user[,mac=52:54:00:12:34:56]`. User-mode networking
    /// needs no root: DHCP gives the guest 10.0.2.15, and 10.0.2.2 is the
    /// host's 127.0.0.1 (the only place the guest can reach).
    #[arg(long, value_name = "SPEC", value_parser = parse_nic)]
    nic: Vec<NicConfig>,
    /// Plug a virtio-console (Linux: /dev/hvc0) into the next free slot,
    /// connected to stdio, null, file:PATH, pty, tcp:PORT or tcp:HOST:PORT
    /// (as --serial). With stdio it owns stdin: the UART that would get
    /// stdio by default prints to stdout but takes no input, and an
    /// explicit --serial stdio is refused.
    #[arg(long, value_name = "SPEC", value_parser = parse_serial)]
    virtio_console: Option<ChardevSpec>,
    /// An image for a flash bank (in board order; on virt bank 0 is the
    /// boot ROM at 0x0, bank 1 the variable store):
    /// `PATH[,readonly=on][,unit=N]`, in bank N or the first bank without
    /// an image. Writes by the guest persist in the file.
    #[arg(long, value_name = "SPEC", value_parser = parse_pflash)]
    pflash: Vec<PflashSpec>,
    /// Build the machine from this device tree blob instead of a board file
    /// (what Preboard can model of it; the rest is listed) and hand the
    /// blob to the guest unchanged.
    #[arg(long, value_name = "FILE", conflicts_with = "dtb")]
    board_from_dtb: Option<PathBuf>,
    /// Deterministic time: every clock the guest sees (generic timer, RTC,
    /// semihosting) follows retired instructions, 1 ns each, never the host
    /// clock, and idle time is skipped; the output is the same on every run
    /// and engine, host input excepted (README, "Deterministic time").
    #[arg(long)]
    deterministic: bool,
    /// With --deterministic: what the PL031 RTC reads at start, in seconds
    /// since the Unix epoch (default 1704067200, 2024-01-01T00:00:00Z).
    #[arg(long, value_name = "SECS", requires = "deterministic")]
    rtc_epoch: Option<u64>,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    gdb: gdb_cmd::GdbArgs,
    /// A machine monitor on SPEC: `tcp::PORT` (127.0.0.1) or
    /// `tcp:HOST:PORT`; one command per line (`help`, `info registers`,
    /// `stop`, `cont`, `snapshot save FILE`, `quit`).
    #[arg(long, value_name = "SPEC", conflicts_with = "gdb")]
    monitor: Option<String>,
    #[command(flatten)]
    gui: gui_cmd::GuiArgs,
}

/// How guest code is executed.
#[derive(Args, Clone, Debug)]
struct EngineArgs {
    /// The execution engine: `jit` (translate to host code; the default
    /// where the host has a backend, x86-64) or `interp` (the reference
    /// interpreter).
    #[arg(long, value_enum)]
    engine: Option<EngineKind>,
    /// JIT code cache size in MiB (flushed whole when full).
    #[arg(long, value_name = "MIB", default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=4096))]
    jit_cache_mb: u64,
    /// The JIT translates a block on its N+1-th entry; until then the
    /// interpreter runs it (0: translate every block at once).
    #[arg(long, value_name = "N", default_value_t = jit::DEFAULT_HOT_THRESHOLD)]
    jit_threshold: u32,
    /// Log every block the JIT translates: guest code, IR and host code.
    #[arg(long)]
    trace_blocks: bool,
    /// Write /tmp/perf-PID.map naming each translated block by its guest
    /// address, so `perf record`/`perf report` attribute JIT time to guest
    /// code.
    #[arg(long)]
    perf_map: bool,
    /// Print execution counters (instructions, JIT blocks, chaining, TLB
    /// fills) to stderr at exit.
    #[arg(long)]
    stats: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum EngineKind {
    Jit,
    Interp,
}

impl EngineArgs {
    fn build(&self) -> Result<Engine, Failure> {
        let want_jit = self.engine.unwrap_or(if cfg!(target_arch = "x86_64") {
            EngineKind::Jit
        } else {
            EngineKind::Interp
        });
        if want_jit == EngineKind::Interp {
            return Ok(Engine::Interp);
        }
        let config = jit::JitConfig {
            cache_size: (self.jit_cache_mb as usize) << 20,
            trace_blocks: self.trace_blocks,
            perf_map: self.perf_map,
            hot_threshold: self.jit_threshold,
        };
        match jit::Jit::new(config) {
            Ok(j) => Ok(Engine::Jit(Box::new(j))),
            Err(jit::JitError::NoBackend) if self.engine.is_none() => Ok(Engine::Interp),
            Err(e) => Err(Failure::new(exit::BAD_INPUT, anyhow::anyhow!("--engine jit: {e}"))),
        }
    }
}

/// `PATH[,key=value...]` with `readonly=on|off`, `serial=ID`, `discard=on|off`.
fn drive_options(s: &str) -> Result<(PathBuf, Vec<(String, String)>), String> {
    let mut parts = s.split(',');
    let first = parts.next().unwrap_or("");
    let path = first.strip_prefix("file=").unwrap_or(first);
    if path.is_empty() {
        return Err(format!("`{s}`: no image path"));
    }
    let opts = parts
        .map(|p| match p.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("`{s}`: option `{p}` is not key=value")),
        })
        .collect::<Result<_, _>>()?;
    Ok((PathBuf::from(path), opts))
}

fn on_off(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("`{key}={v}`: expected on or off")),
    }
}

fn parse_nic(s: &str) -> Result<NicConfig, String> {
    s.parse()
}

fn parse_drive(s: &str) -> Result<BlkConfig, String> {
    let (path, opts) = drive_options(s)?;
    let mut cfg = BlkConfig {
        path,
        ..BlkConfig::default()
    };
    for (k, v) in opts {
        match k.as_str() {
            "readonly" => cfg.read_only = on_off(&k, &v)?,
            "discard" => cfg.discard = on_off(&k, &v)?,
            "serial" => cfg.serial = Some(v),
            _ => return Err(format!("`{s}`: unknown option `{k}` (readonly, serial, discard)")),
        }
    }
    Ok(cfg)
}

/// A `--pflash` image and the bank it asks for.
#[derive(Clone, Debug)]
struct PflashSpec {
    image: FlashImage,
    unit: Option<usize>,
}

fn parse_pflash(s: &str) -> Result<PflashSpec, String> {
    let (path, opts) = drive_options(s)?;
    let mut read_only = false;
    let mut unit = None;
    for (k, v) in opts {
        match k.as_str() {
            "readonly" => read_only = on_off(&k, &v)?,
            "unit" => {
                unit = Some(
                    v.parse()
                        .map_err(|_| format!("`{s}`: `unit={v}` is not a bank number"))?,
                )
            }
            _ => return Err(format!("`{s}`: unknown option `{k}` (readonly, unit)")),
        }
    }
    Ok(PflashSpec {
        image: FlashImage { path, read_only },
        unit,
    })
}

/// The `--pflash` images by bank: `unit=N` first, then the others in the
/// banks still free, in order (as QEMU places `-drive if=pflash`).
fn flash_banks(specs: &[PflashSpec]) -> Result<Vec<Option<FlashImage>>, Failure> {
    let mut banks: Vec<Option<FlashImage>> = Vec::new();
    for spec in specs {
        let Some(unit) = spec.unit else { continue };
        if banks.len() <= unit {
            banks.resize(unit + 1, None);
        }
        if let Some(other) = &banks[unit] {
            return Err(Failure::new(
                exit::USAGE,
                anyhow::anyhow!(
                    "--pflash: flash bank {unit} given twice ({} and {})",
                    other.path.display(),
                    spec.image.path.display()
                ),
            ));
        }
        banks[unit] = Some(spec.image.clone());
    }
    for spec in specs.iter().filter(|s| s.unit.is_none()) {
        match banks.iter().position(Option::is_none) {
            Some(free) => banks[free] = Some(spec.image.clone()),
            None => banks.push(Some(spec.image.clone())),
        }
    }
    Ok(banks)
}

/// A failure with the exit code it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code,
            error: error.into(),
        }
    }
}

fn parse_serial(s: &str) -> Result<ChardevSpec, String> {
    s.parse().map_err(|e: chardev::ChardevError| e.to_string())
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let t = s.replace('_', "");
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    };
    r.map_err(|e| format!("`{s}` is not a number: {e}"))
}

/// QEMU-style sizes: `512M`, `2G`, `65536K`, `1048576B`; a bare number is MiB.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'B' => 1,
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("`{s}`: unknown size suffix `{c}` (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1 << 20),
    };
    let n = parse_u64(num)?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("`{s}` is not a usable memory size"))
}

fn read_input(path: &Path, what: &str) -> Result<InputFile, Failure> {
    std::fs::read(path)
        .map(|bytes| InputFile {
            path: path.to_path_buf(),
            bytes,
        })
        .with_context(|| format!("cannot read {what} {}", path.display()))
        .map_err(|e| Failure::new(exit::NO_INPUT, e))
}

fn load_board(
    arg: &str,
    memory: Option<u64>,
    smp: Option<u32>,
    boot_el: Option<u8>,
) -> Result<boards::BoardSpec, Failure> {
    let bad = |e: boards::BoardError| {
        let code = if matches!(e, boards::BoardError::Io { .. }) {
            exit::NO_INPUT
        } else {
            exit::BAD_INPUT
        };
        Failure::new(code, e)
    };
    let mut spec = boards::resolve_board(arg).map_err(bad)?;
    if let Some(m) = memory {
        spec.set_ram_size(m).map_err(bad)?;
    }
    if let Some(n) = smp {
        spec.set_cpu_count(n).map_err(bad)?;
    }
    if let Some(el) = boot_el {
        spec.set_boot_el(el).map_err(bad)?;
    }
    Ok(spec)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
        .map_err(|e| Failure::new(exit::IO, e))
}

/// The console when no `--serial` is given, like QEMU's `-nographic`:
/// stdio, interactive (raw mode, Ctrl-a x) when stdin is a terminal. When
/// stdout is not a terminal but stdin is (output redirected from an
/// interactive shell), stdin is left alone, so nothing changes for scripts;
/// piped stdin is guest input.
fn default_console() -> Box<dyn CharBackend> {
    if std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        Box::new(chardev::Stdio::new())
    } else {
        Box::new(chardev::Stdio::output_only())
    }
}

/// Opens the host backends of the board's PL011 UARTs, in board order.
/// With `stdin_taken` (another device owns stdio), the default console
/// writes to stdout but reads no input.
fn serial_backends(
    board: &boards::BoardSpec,
    specs: &[ChardevSpec],
    stdin_taken: bool,
) -> Result<Vec<chardev::Shared>, Failure> {
    let uarts: Vec<&str> = board
        .devices
        .iter()
        .filter_map(|d| match d {
            boards::schema::DeviceSpec::Pl011(p) => Some(p.name.as_str()),
            _ => None,
        })
        .collect();
    if specs.len() > uarts.len() {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!(
                "{} --serial options given but board {} has {} PL011 UART(s) ({})",
                specs.len(),
                board.name,
                uarts.len(),
                uarts.join(", ")
            ),
        ));
    }
    if specs.iter().filter(|s| **s == ChardevSpec::Stdio).count() > 1 {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!("--serial stdio can be given only once"),
        ));
    }
    let mut out = Vec::new();
    for (i, name) in uarts.iter().enumerate() {
        let backend: Box<dyn CharBackend> = match specs.get(i) {
            Some(spec) => spec
                .open()
                .with_context(|| name.to_string())
                .map_err(|e| Failure::new(exit::IO, e))?,
            None if specs.is_empty() && *name == board.chosen.stdout && stdin_taken => {
                Box::new(chardev::Stdio::output_only())
            }
            None if specs.is_empty() && *name == board.chosen.stdout => default_console(),
            None => Box::new(chardev::Null),
        };
        announce(name, &*backend);
        out.push(chardev::Shared::new(backend));
    }
    Ok(out)
}

/// Where to connect, as QEMU's "char device redirected to …".
fn announce(name: &str, backend: &dyn CharBackend) {
    let what = backend.describe();
    if let Some(path) = what.strip_prefix("pty:") {
        eprintln!("preboard: {name} redirected to {path}");
    } else if what.starts_with("tcp:") {
        eprintln!("preboard: {name} redirected to {what}");
    }
}

/// Opens the `--virtio-console` backend. Only one device may read stdin:
/// an explicit `--serial stdio` with `--virtio-console stdio` is refused.
fn virtio_console_backend(
    spec: Option<&ChardevSpec>,
    serial: &[ChardevSpec],
) -> Result<Option<chardev::Shared>, Failure> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    if *spec == ChardevSpec::Stdio && serial.contains(&ChardevSpec::Stdio) {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!(
                "--serial stdio and --virtio-console stdio both want stdin; give one of them another backend (e.g. null, pty or file:PATH)"
            ),
        ));
    }
    let backend = spec
        .open()
        .context("virtio-console")
        .map_err(|e| Failure::new(exit::IO, e))?;
    announce("virtio-console", &*backend);
    Ok(Some(chardev::Shared::new(backend)))
}

/// SIGTERM and SIGHUP ask the guest to power off, as a host shutdown
/// would: the first presses the board's power key (Linux then shuts down
/// cleanly and powers off through PSCI); a second one, or the first on a
/// board without a power key, stops the machine at once (exit code 0, as
/// Ctrl-a x), and so does the end of a grace period after the key press
/// (a guest that ignores the key must not outlive a single SIGTERM).
fn handle_termination_signals(power_key: Arc<Mutex<Option<PowerButton>>>) {
    /// How long a guest has to power off after the key is pressed.
    const POWER_KEY_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot watch for SIGTERM/SIGHUP: {e}");
            return;
        }
    };
    std::thread::spawn(move || {
        let mut pressed = false;
        for _ in signals.forever() {
            let key = power_key.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match key {
                Some(k) if !pressed => {
                    eprintln!(
                        "preboard: termination signal: pressing the power key (again to stop at once; \
                         stopping anyway in {} s)",
                        POWER_KEY_GRACE.as_secs()
                    );
                    k.press();
                    pressed = true;
                    // A guest that ignores the key (hung, or no driver) must
                    // not outlive a supervisor's single SIGTERM (`timeout`,
                    // CI runners) for ever.
                    std::thread::spawn(|| {
                        std::thread::sleep(POWER_KEY_GRACE);
                        eprintln!(
                            "preboard: the guest did not power off within {} s of the power key: stopping the machine",
                            POWER_KEY_GRACE.as_secs()
                        );
                        chardev::request_quit();
                    });
                }
                _ => {
                    eprintln!("preboard: termination signal: stopping the machine");
                    chardev::request_quit();
                }
            }
        }
    });
}

fn run(args: RunArgs) -> Result<u8, Failure> {
    let power_key: Arc<Mutex<Option<PowerButton>>> = Arc::default();
    handle_termination_signals(power_key.clone());
    let mut dtb = args
        .dtb
        .as_deref()
        .map(|p| read_input(p, "device tree blob"))
        .transpose()?;
    let mut board = match &args.board_from_dtb {
        Some(path) => {
            let file = read_input(path, "device tree blob")?;
            let (mut spec, unmodelled) = boards::from_dtb::board_from_dtb(&file.bytes, &path.display().to_string())
                .map_err(|e| Failure::new(exit::BAD_INPUT, e))?;
            for node in &unmodelled {
                eprintln!(
                    "preboard: {}: no model for {node}; the guest will not find it",
                    path.display()
                );
            }
            if let Some(m) = args.board.memory {
                spec.set_ram_size(m).map_err(|e| Failure::new(exit::BAD_INPUT, e))?;
            }
            dtb = Some(file);
            spec
        }
        None => load_board(&args.board.board, args.board.memory, args.board.smp, args.board.boot_el)?,
    };
    if let Some(model) = &args.board.cpu {
        board.set_cpu_model(model).map_err(|e| Failure::new(exit::USAGE, e))?;
    }
    let kernel = match &args.kernel {
        Some(p) => Some(read_input(p, "kernel")?),
        // Boot from flash bank 0 (executing in place).
        None if !args.pflash.is_empty() => None,
        None => Some(InputFile {
            path: PathBuf::from("<bundled demo firmware>"),
            bytes: DEMO_FIRMWARE.to_vec(),
        }),
    };
    let initrd = args.initrd.as_deref().map(|p| read_input(p, "initrd")).transpose()?;
    let kernel_format = match args.load_addr {
        Some(load_addr) => ImageFormat::Raw { load_addr },
        None => ImageFormat::Auto,
    };
    if args.gui.gui {
        gui_cmd::check(&args)?;
    }
    let mut left = args.max_insns;
    let gdb = gdb_cmd::listen(&args.gdb)?;
    let monitor = monitor::listen(args.monitor.as_deref())?;
    // Opened once: a guest reset keeps the same file, pty and socket.
    let vconsole = virtio_console_backend(args.virtio_console.as_ref(), &args.serial)?;
    let inputs = Inputs {
        board: board.clone(),
        kernel,
        kernel_format,
        initrd,
        append: args.board.append.clone(),
        dtb,
        drives: args.drive.clone(),
        rng: args.rng,
        nics: args.nic.clone(),
        vconsole,
        flash: flash_banks(&args.pflash)?,
        time: match (args.deterministic, args.rtc_epoch) {
            (false, _) => TimeMode::Host,
            (true, None) => TimeMode::deterministic(),
            (true, Some(rtc_epoch)) => TimeMode::Deterministic(boards::time::Deterministic { rtc_epoch }),
        },
        snapshot_load: args.snapshot_load.clone(),
        snapshot_verify: args.snapshot_verify,
        engine: args.engine.clone(),
    };
    if args.gui.gui {
        // The window's machine thread builds (and rebuilds) the machine
        // itself, every UART on a console of the window.
        return gui_cmd::run(&args.gui, inputs, &args.kernel);
    }
    let stdin_taken = args.virtio_console == Some(ChardevSpec::Stdio);
    let serial = serial_backends(&board, &args.serial, stdin_taken)?;
    // A system reset builds the machine again from the same inputs: every
    // device, core and RAM byte starts over, as after a power cycle. (The
    // gdb stub builds with this too, for resets and snapshot restores.)
    let build_machine = |snapshot: Option<&Path>| -> Result<Machine, Failure> {
        let serial = serial
            .iter()
            .map(|b| Box::new(b.clone()) as Box<dyn CharBackend>)
            .collect();
        let machine = inputs.machine(snapshot, serial, Box::new(std::io::stdout()))?;
        *power_key.lock().unwrap_or_else(|e| e.into_inner()) = machine.power_button();
        Ok(machine)
    };
    loop {
        // A guest reset after a restore restores again: there are no
        // images to boot.
        let mut machine = build_machine(args.snapshot_load.as_deref())?;
        if let Some(p) = &args.dump_dtb {
            write_file(p, machine.dtb())?;
        }
        tracing::info!(
            entry = format_args!("{:#x}", machine.image.entry),
            dtb = format_args!("{:#x}", machine.layout.dtb.start),
            "starting core 0"
        );
        let started = std::time::Instant::now();
        let outcome = match (&gdb, &monitor) {
            (Some(g), _) => {
                // A reset starts the machine as this loop does.
                let start = args.snapshot_load.as_deref();
                g.serve(&mut machine, &|p| build_machine(p.or(start)), args.no_reboot)
            }
            (None, Some(m)) => m.run(&mut machine, left),
            (None, None) => machine.run(left),
        };
        let secs = started.elapsed().as_secs_f64();
        let n = machine.instructions();
        tracing::info!(
            "{n} instructions in {secs:.3} s ({:.1} MIPS)",
            n as f64 / secs.max(1e-9) / 1e6
        );
        if args.engine.stats {
            print_stats(&machine, n, secs);
        }
        if let (Ok(RunOutcome::Reset), false) = (&outcome, args.no_reboot) {
            tracing::info!("guest requested a system reset: restarting");
            left = left.map(|l| l.saturating_sub(n));
            continue;
        }
        if let (Ok(_), Some(path)) = (&outcome, &args.snapshot_save) {
            let started = std::time::Instant::now();
            machine.snapshot(path).map_err(|e| Failure::new(exit::IO, e))?;
            tracing::info!("snapshot saved to {} in {:?}", path.display(), started.elapsed());
        }
        return finish(outcome, n);
    }
}

/// Everything the inspector window's machine is built from, kept to
/// build it again after a reset (`preboard gui`; the terminal run builds
/// through `run`'s own closure, which the gdb stub shares).
#[derive(Clone)]
struct Inputs {
    board: boards::BoardSpec,
    kernel: Option<InputFile>,
    kernel_format: ImageFormat,
    initrd: Option<InputFile>,
    append: Option<String>,
    dtb: Option<InputFile>,
    drives: Vec<BlkConfig>,
    rng: bool,
    nics: Vec<NicConfig>,
    vconsole: Option<chardev::Shared>,
    flash: Vec<Option<FlashImage>>,
    time: TimeMode,
    snapshot_load: Option<PathBuf>,
    snapshot_verify: bool,
    engine: EngineArgs,
}

impl Inputs {
    /// Builds the machine, or restores `snapshot` into it, with these UART
    /// backends (board order) and semihosting console: `run`'s machine
    /// and its rebuilds after a reset, the gdb stub's and the GUI's.
    fn machine(
        &self,
        snapshot: Option<&Path>,
        serial: Vec<Box<dyn CharBackend>>,
        semihost_console: Box<dyn std::io::Write + Send>,
    ) -> Result<Machine, Failure> {
        let cfg = MachineConfig {
            board: self.board.clone(),
            kernel: self.kernel.clone(),
            kernel_format: self.kernel_format,
            initrd: self.initrd.clone(),
            append: self.append.clone(),
            dtb: self.dtb.clone(),
            console: Box::new(std::io::sink()),
            serial,
            semihost_console,
            attach: Attachments {
                drives: self.drives.clone(),
                rng: self.rng,
                nics: self.nics.clone(),
                console: self.vconsole.clone(),
                flash: self.flash.clone(),
            },
        };
        let mut machine = match snapshot {
            Some(path) => restore_snapshot(cfg, path, self.time, self.snapshot_verify)?,
            None => Machine::with_time(cfg, self.time).map_err(|e| {
                let code = match e {
                    MachineError::Input { .. } => exit::NO_INPUT,
                    _ => exit::BAD_INPUT,
                };
                Failure::new(code, e)
            })?,
        };
        machine.set_engine(self.engine.build()?);
        Ok(machine)
    }
}

/// `--snapshot-load`: the machine `cfg` describes, in the snapshot's state.
fn restore_snapshot(cfg: MachineConfig, path: &Path, time: TimeMode, verify_ram: bool) -> Result<Machine, Failure> {
    let started = std::time::Instant::now();
    let m = Machine::restore_with(cfg, path, RestoreOptions { time, verify_ram }).map_err(|e| {
        let code = match &e {
            SnapshotError::Io { .. } => exit::NO_INPUT,
            SnapshotError::Machine { source, .. } if matches!(**source, MachineError::Input { .. }) => exit::NO_INPUT,
            _ => exit::BAD_INPUT,
        };
        Failure::new(code, e)
    })?;
    tracing::info!("restored {} in {:?}", path.display(), started.elapsed());
    Ok(m)
}

/// `--stats`: counters on stderr.
fn print_stats(machine: &Machine, n: u64, secs: f64) {
    eprintln!(
        "preboard: {n} instructions in {secs:.3} s ({:.1} MIPS)",
        n as f64 / secs.max(1e-9) / 1e6
    );
    for cpu in &machine.cpus {
        eprintln!(
            "preboard: core {}: pc {:#x} lr {:#x} EL{} DAIF {:#x} {} instructions; \
             ESR_EL1 {:#x} ELR_EL1 {:#x} FAR_EL1 {:#x}",
            cpu.id,
            cpu.pc,
            cpu.x[30],
            cpu.pstate.el,
            cpu.pstate.daif,
            cpu.icount,
            cpu.sys.get(cpu_aarch64::sysreg::SysReg::ESR_EL1),
            cpu.sys.get(cpu_aarch64::sysreg::SysReg::ELR_EL1),
            cpu.sys.get(cpu_aarch64::sysreg::SysReg::FAR_EL1)
        );
    }
    eprintln!(
        "preboard: idle: {:.3} s asleep with every running core waiting (WFI/WFE), {:.3} s running",
        machine.idle_time().as_secs_f64(),
        (secs - machine.idle_time().as_secs_f64()).max(0.0)
    );
    match machine.jit_stats() {
        Some(s) => {
            let native = s.insns - s.interp_insns;
            eprintln!(
                "preboard: jit: {} blocks ({} instructions, {} native, {} via the interpreter), \
                 {} dispatches, {} chained exits, {} slow memory accesses, {} TLB fills, {} interpreter calls, \
                 {} SIMD&FP helper calls, {} blocks invalidated ({} used again unchanged), {} cache flushes, \
                 {} instructions of cold blocks interpreted; translation {:.3} s ({:.1}% of the run)",
                s.blocks,
                s.insns,
                native,
                s.interp_insns,
                s.dispatches,
                s.chains,
                s.slow_accesses,
                s.tlb_fills,
                s.interp_calls,
                s.helper_calls,
                s.invalidated,
                s.revived,
                s.flushes,
                s.cold_insns,
                s.translate_ns as f64 / 1e9,
                s.translate_ns as f64 / 1e7 / secs.max(1e-9)
            );
            let [chain, plain, budget, exception, stop, indirect] = s.exits;
            eprintln!(
                "preboard: jit: returns to the dispatcher: {chain} unchained exits, {plain} after block-ending \
                 instructions, {budget} budget or requested, {exception} exceptions, {stop} stops, \
                 {indirect} jump-cache misses"
            );
        }
        None => eprintln!("preboard: engine: interpreter"),
    }
}

fn finish(outcome: Result<RunOutcome, MachineError>, n: u64) -> Result<u8, Failure> {
    match outcome {
        Ok(RunOutcome::Exited(code)) => Ok(code as u8),
        Ok(RunOutcome::PoweredOff | RunOutcome::Reset) => Ok(0),
        Ok(RunOutcome::Quit) => {
            chardev::restore_terminal();
            eprintln!("preboard: quit (console Ctrl-a x or monitor)");
            Ok(0)
        }
        Ok(RunOutcome::InstructionLimit | RunOutcome::Deadline | RunOutcome::DebugStop { .. }) => Err(Failure::new(
            exit::LIMIT,
            anyhow::anyhow!("stopped after --max-insns {} instructions", n),
        )),
        Err(e @ (MachineError::GuestFatal { .. } | MachineError::Deadlock { .. })) => {
            Err(Failure::new(exit::GUEST_FATAL, e))
        }
        Err(e) => Err(Failure::new(exit::BAD_INPUT, e)),
    }
}

fn board_dts(args: DtsArgs) -> Result<u8, Failure> {
    let board = load_board(&args.board, args.memory, args.smp, None)?;
    let dt = board_device_tree(
        &board,
        &BootInfo {
            bootargs: args.append,
            initrd: None,
            seeds: None,
        },
    )
    .map_err(|e| Failure::new(exit::BAD_INPUT, e))?;
    if let Some(p) = &args.dump_dtb {
        let blob = boards::to_dtb(&dt).map_err(|e| Failure::new(exit::BAD_INPUT, e))?;
        write_file(p, &blob)?;
    }
    print!("{}", boards::to_dts(&dt));
    Ok(0)
}

/// `preboard qemu`: the QEMU command line translated into `preboard run`'s,
/// parsed and run as that.
fn qemu(args: qemu_cmd::QemuArgs) -> Result<u8, Failure> {
    let t = qemu_cmd::translate(&args.args).map_err(|e| Failure::new(exit::USAGE, e))?;
    if t.help {
        print!("{}", qemu_cmd::HELP);
        return Ok(0);
    }
    if t.print_only {
        println!("{}", t.command_line());
        return Ok(0);
    }
    tracing::info!("preboard qemu: running {}", t.command_line());
    match Cli::try_parse_from(std::iter::once("preboard".to_string()).chain(t.argv.iter().cloned())) {
        Ok(Cli {
            command: Command::Run(a),
        }) => run(*a),
        Ok(_) => unreachable!("the translation starts with `run`"),
        Err(e) => {
            let msg = e.render().to_string();
            let first = msg.lines().next().unwrap_or_default().trim_start_matches("error: ");
            Err(Failure::new(
                exit::USAGE,
                anyhow::anyhow!("{first} (in the equivalent `{}`)", t.command_line()),
            ))
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text an
/// outer message already includes.
fn describe(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if msg.is_empty() {
            msg = c;
        } else if !msg.contains(&c) {
            msg = format!("{msg}: {c}");
        }
    }
    msg
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("PREBOARD_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run(*a),
        Command::Gui(mut a) => {
            a.gui.gui = true;
            run(*a)
        }
        Command::Board(BoardCommand::Dts(a)) => board_dts(a),
        Command::Test(a) => Ok(test_cmd::test(*a)),
        Command::Qemu(a) => qemu(a),
        Command::Board(BoardCommand::List) => {
            for b in boards::builtin_boards() {
                println!("{b}");
            }
            Ok(0)
        }
    };
    // Normally done when the console backend is dropped; again here so no
    // path leaves the terminal in raw mode.
    chardev::restore_terminal();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("preboard: error: {}", describe(&f.error));
            ExitCode::from(if f.code == 0 { exit::USAGE } else { f.code })
        }
    }
}
