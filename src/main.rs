//! `preboard`: the command-line front end. Parses arguments, builds a
//! machine from a board description and runs it; everything else lives in
//! the library crates.

use anyhow::Context as _;
use boards::fdt_out::BootInfo;
use boards::loader::ImageFormat;
use boards::machine::{board_device_tree, InputFile, Machine, MachineConfig, MachineError, RunOutcome};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// Writing an output file failed.
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
    Run(RunArgs),
    /// Inspect board descriptions.
    #[command(subcommand)]
    Board(BoardCommand),
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

fn run(args: RunArgs) -> Result<u8, Failure> {
    let board = load_board(&args.board.board, args.board.memory, args.board.smp, args.board.boot_el)?;
    let kernel = match &args.kernel {
        Some(p) => read_input(p, "kernel")?,
        None => InputFile {
            path: PathBuf::from("<bundled demo firmware>"),
            bytes: DEMO_FIRMWARE.to_vec(),
        },
    };
    let initrd = args.initrd.as_deref().map(|p| read_input(p, "initrd")).transpose()?;
    let dtb = args
        .dtb
        .as_deref()
        .map(|p| read_input(p, "device tree blob"))
        .transpose()?;
    let kernel_format = match args.load_addr {
        Some(load_addr) => ImageFormat::Raw { load_addr },
        None => ImageFormat::Auto,
    };
    let mut left = args.max_insns;
    // A system reset builds the machine again from the same inputs: every
    // device, core and RAM byte starts over, as after a power cycle.
    loop {
        let cfg = MachineConfig {
            board: board.clone(),
            kernel: kernel.clone(),
            kernel_format,
            initrd: initrd.clone(),
            append: args.board.append.clone(),
            dtb: dtb.clone(),
            console: Box::new(std::io::stdout()),
            semihost_console: Box::new(std::io::stdout()),
        };
        let mut machine = Machine::new(cfg).map_err(|e| Failure::new(exit::BAD_INPUT, e))?;
        if let Some(p) = &args.dump_dtb {
            write_file(p, machine.dtb())?;
        }
        tracing::info!(
            entry = format_args!("{:#x}", machine.image.entry),
            dtb = format_args!("{:#x}", machine.layout.dtb.start),
            "starting core 0"
        );
        let started = std::time::Instant::now();
        let outcome = machine.run(left);
        let secs = started.elapsed().as_secs_f64();
        let n = machine.instructions();
        tracing::info!(
            "{n} instructions in {secs:.3} s ({:.1} MIPS)",
            n as f64 / secs.max(1e-9) / 1e6
        );
        if let (Ok(RunOutcome::Reset), false) = (&outcome, args.no_reboot) {
            tracing::info!("guest requested a system reset: restarting");
            left = left.map(|l| l.saturating_sub(n));
            continue;
        }
        return finish(outcome, n);
    }
}

fn finish(outcome: Result<RunOutcome, MachineError>, n: u64) -> Result<u8, Failure> {
    match outcome {
        Ok(RunOutcome::Exited(code)) => Ok(code as u8),
        Ok(RunOutcome::PoweredOff | RunOutcome::Reset) => Ok(0),
        Ok(RunOutcome::InstructionLimit) => Err(Failure::new(
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
        Command::Run(a) => run(a),
        Command::Board(BoardCommand::Dts(a)) => board_dts(a),
        Command::Board(BoardCommand::List) => {
            for b in boards::builtin_boards() {
                println!("{b}");
            }
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("preboard: error: {}", describe(&f.error));
            ExitCode::from(if f.code == 0 { exit::USAGE } else { f.code })
        }
    }
}
