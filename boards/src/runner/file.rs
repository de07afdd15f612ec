//! Test files: a board, images and steps in RON (the format is documented
//! in `boards/README.md`, "Test files"). [`load_test_file`] parses,
//! validates and resolves one; every problem is reported at the
//! `file:line:col` of the value at fault.

use super::harness::{EngineKind, RegName, SEMIHOSTING};
use crate::schema::locate::{self, SourceMap};
use crate::schema::{ron_options, BoardError, BoardSpec, DeviceSpec};
use regex::Regex;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole-test timeout when the file gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest test file accepted.
const MAX_TEST_FILE: u64 = 1 << 20;

// ---------------------------------------------------------------------------
// The RON schema, as written.

#[derive(Deserialize)]
#[serde(rename = "Test", deny_unknown_fields)]
struct RawTest {
    #[serde(default)]
    name: Option<String>,
    board: String,
    #[serde(default)]
    memory: Option<String>,
    #[serde(default)]
    smp: Option<u32>,
    #[serde(default)]
    boot_el: Option<u8>,
    #[serde(default)]
    append: Option<String>,
    #[serde(default)]
    engine: Option<EngineKind>,
    #[serde(default)]
    deterministic: bool,
    #[serde(default)]
    rtc_epoch: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    host_timeout_ms: Option<u64>,
    #[serde(default)]
    images: RawImages,
    steps: Vec<RawStep>,
}

#[derive(Default, Deserialize)]
#[serde(rename = "Images", deny_unknown_fields)]
struct RawImages {
    #[serde(default)]
    kernel: Option<String>,
    #[serde(default)]
    load_addr: Option<u64>,
    #[serde(default)]
    initrd: Option<String>,
    #[serde(default)]
    dtb: Option<String>,
    #[serde(default)]
    drives: Vec<RawDrive>,
    #[serde(default)]
    pflash: Vec<RawFlash>,
    #[serde(default)]
    rng: bool,
}

#[derive(Deserialize)]
#[serde(rename = "Drive", deny_unknown_fields)]
struct RawDrive {
    path: String,
    #[serde(default)]
    readonly: bool,
    #[serde(default)]
    serial: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename = "Flash", deny_unknown_fields)]
struct RawFlash {
    path: String,
    #[serde(default)]
    readonly: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
enum RawStep {
    WaitUart {
        #[serde(default)]
        uart: Option<String>,
        regex: String,
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    SendUart {
        #[serde(default)]
        uart: Option<String>,
        text: String,
    },
    ExpectExit {
        code: i32,
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    AssertReg {
        #[serde(default)]
        core: usize,
        reg: String,
        value: u64,
    },
    AssertMem {
        addr: u64,
        value: u64,
        #[serde(default = "default_mem_size")]
        size: u8,
    },
    Snapshot {
        name: String,
    },
    Restore {
        name: String,
    },
}

fn default_mem_size() -> u8 {
    4
}

// ---------------------------------------------------------------------------
// The resolved form.

/// One step of a test.
#[derive(Clone, Debug)]
pub enum Step {
    /// Run until a line of `uart` matches `regex` (see
    /// [`Harness::run_until_uart`](super::Harness::run_until_uart)).
    WaitUart {
        /// The UART (a PL011's name, or `semihosting`).
        uart: String,
        /// The pattern.
        regex: Regex,
        /// Time limit of this step (host time, guest time when
        /// deterministic; the test's limit still applies).
        timeout: Option<Duration>,
    },
    /// Queue `text` as input on `uart`.
    SendUart {
        /// The UART.
        uart: String,
        /// The bytes (UTF-8; RON escapes such as `\n` and `\u{3}` work).
        text: String,
    },
    /// Run until the guest exits with `code` (semihosting) or powers off
    /// (PSCI SYSTEM_OFF counts as 0).
    ExpectExit {
        /// The expected code.
        code: i32,
        /// Time limit of this step (guest time when deterministic).
        timeout: Option<Duration>,
    },
    /// A register of a core must hold `value` now.
    AssertReg {
        /// The core.
        core: usize,
        /// The register's name (see [`Harness::reg`](super::Harness::reg)).
        reg: String,
        /// The expected value.
        value: u64,
    },
    /// `size` bytes at physical address `addr` must read `value` now.
    AssertMem {
        /// Physical address.
        addr: u64,
        /// Expected value (little-endian, zero-extended).
        value: u64,
        /// 1, 2, 4 or 8.
        size: u8,
    },
    /// Save the machine under `name` (see
    /// [`Harness::snapshot_named`](super::Harness::snapshot_named)).
    Snapshot {
        /// The snapshot's name within the test.
        name: String,
    },
    /// Go back to the state saved under `name` by an earlier step.
    Restore {
        /// The snapshot's name within the test.
        name: String,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::WaitUart { uart, regex, .. } => write!(f, "WaitUart({uart}, /{}/)", regex.as_str()),
            Step::SendUart { uart, text } => write!(f, "SendUart({uart}, {text:?})"),
            Step::ExpectExit { code, .. } => write!(f, "ExpectExit({code})"),
            Step::AssertReg { core, reg, value } => write!(f, "AssertReg(core {core}, {reg} == {value:#x})"),
            Step::AssertMem { addr, value, size } => write!(f, "AssertMem({size} bytes at {addr:#x} == {value:#x})"),
            Step::Snapshot { name } => write!(f, "Snapshot({name:?})"),
            Step::Restore { name } => write!(f, "Restore({name:?})"),
        }
    }
}

/// Images for the machine, with paths resolved against the test file's
/// directory.
#[derive(Clone, Debug, Default)]
pub struct Images {
    /// Kernel or firmware; `None` boots flash bank 0.
    pub kernel: Option<PathBuf>,
    /// Load address of a raw kernel.
    pub load_addr: Option<u64>,
    /// Initial ramdisk.
    pub initrd: Option<PathBuf>,
    /// A DTB passed unchanged.
    pub dtb: Option<PathBuf>,
    /// virtio-blk disks.
    pub drives: Vec<soc::virtio::BlkConfig>,
    /// Flash bank images.
    pub pflash: Vec<soc::pflash::FlashImage>,
    /// A virtio-rng.
    pub rng: bool,
}

/// A parsed, validated test file.
#[derive(Clone, Debug)]
pub struct TestFile {
    /// The file.
    pub path: PathBuf,
    /// The test's name (`name`, or the file's stem).
    pub name: String,
    /// The board, with `memory`/`smp`/`boot_el` applied.
    pub board: BoardSpec,
    /// Kernel command line.
    pub append: Option<String>,
    /// The engine the file asks for.
    pub engine: Option<EngineKind>,
    /// Host real time, or deterministic virtual time (`deterministic:
    /// true`, with `rtc_epoch`).
    pub time: crate::time::TimeMode,
    /// The whole test's time limit (guest time when deterministic).
    pub timeout: Duration,
    /// Deterministic mode: the whole test's host-time safety net.
    pub host_timeout: Duration,
    /// Images.
    pub images: Images,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Where each step is written (`file:line:col`).
    pub step_at: Vec<String>,
}

/// Why a test file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TestFileError {
    /// A problem located in the file.
    #[error("{origin}:{line}:{col}: {message}")]
    At {
        /// The file.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// The file cannot be read.
    #[error("cannot read test file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl TestFileError {
    /// `(line, col)` of a located problem.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            TestFileError::At { line, col, .. } => Some((*line, *col)),
            TestFileError::Io { .. } => None,
        }
    }
}

/// Reads, parses and validates the test file at `path`.
pub fn load_test_file(path: &Path) -> Result<TestFile, TestFileError> {
    use std::io::Read as _;
    let io = |source| TestFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut src = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_TEST_FILE + 1)
        .read_to_string(&mut src)
        .map_err(io)?;
    if src.len() as u64 > MAX_TEST_FILE {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} KiB: not a test file", MAX_TEST_FILE >> 10),
        )));
    }
    parse_test_file(&src, path)
}

/// Parses and validates test file text; `path` names it in messages and
/// relative paths in it are resolved against its directory.
pub fn parse_test_file(src: &str, path: &Path) -> Result<TestFile, TestFileError> {
    let origin = path.display().to_string();
    let raw: RawTest = ron_options().from_str(src).map_err(|e| {
        let (at, message) = crate::schema::ron_error_at(src, &e);
        TestFileError::At {
            origin: origin.clone(),
            line: at.line,
            col: at.col,
            message,
        }
    })?;
    let locs = locate::scan(src);
    let at = |field: &str, message: String| {
        let p = locs.find(field);
        TestFileError::At {
            origin: origin.clone(),
            line: p.line,
            col: p.col,
            message,
        }
    };
    resolve(raw, path, &locs, &at)
}

fn resolve(
    raw: RawTest,
    path: &Path,
    locs: &SourceMap,
    at: &dyn Fn(&str, String) -> TestFileError,
) -> Result<TestFile, TestFileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let rel = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };
    let time = if raw.deterministic {
        crate::time::TimeMode::Deterministic(crate::time::Deterministic {
            rtc_epoch: raw.rtc_epoch.unwrap_or(crate::time::DEFAULT_RTC_EPOCH),
        })
    } else {
        let given = [
            ("rtc_epoch", raw.rtc_epoch.is_some()),
            ("host_timeout_ms", raw.host_timeout_ms.is_some()),
        ];
        if let Some((field, _)) = given.into_iter().find(|g| g.1) {
            return Err(at(
                field,
                format!("`{field}` only applies to deterministic tests: add `deterministic: true` or remove it"),
            ));
        }
        crate::time::TimeMode::Host
    };
    // The board: a builtin name, else a file next to the test.
    let board_err = |e: BoardError| match e {
        e @ BoardError::At { .. } => at("board", format!("board file: {e}")),
        e => at("board", e.to_string()),
    };
    let mut board = if crate::builtin_board(&raw.board).is_some() {
        crate::resolve_board(&raw.board).map_err(board_err)?
    } else {
        let p = rel(&raw.board);
        if !p.exists() {
            return Err(at(
                "board",
                format!(
                    "`{}` is neither a builtin board ({}) nor a board file ({} does not exist)",
                    raw.board,
                    crate::builtin_boards().join(", "),
                    p.display()
                ),
            ));
        }
        crate::load_board_file(&p).map_err(board_err)?
    };
    if let Some(m) = &raw.memory {
        let bytes = parse_size(m).map_err(|e| at("memory", e))?;
        board.set_ram_size(bytes).map_err(|e| at("memory", e.to_string()))?;
    }
    if let Some(n) = raw.smp {
        board.set_cpu_count(n).map_err(|e| at("smp", e.to_string()))?;
    }
    if let Some(el) = raw.boot_el {
        board.set_boot_el(el).map_err(|e| at("boot_el", e.to_string()))?;
    }
    let uarts: Vec<String> = board
        .devices
        .iter()
        .filter_map(|d| match d {
            DeviceSpec::Pl011(p) => Some(p.name.clone()),
            _ => None,
        })
        .collect();
    let console = board.chosen.stdout.clone();

    let existing = |field: &str, p: &str| -> Result<PathBuf, TestFileError> {
        let full = rel(p);
        if full.is_file() {
            Ok(full)
        } else {
            Err(at(field, format!("{} does not exist or is not a file", full.display())))
        }
    };
    let ri = raw.images;
    let images = Images {
        kernel: ri.kernel.as_deref().map(|p| existing("images.kernel", p)).transpose()?,
        load_addr: ri.load_addr,
        initrd: ri.initrd.as_deref().map(|p| existing("images.initrd", p)).transpose()?,
        dtb: ri.dtb.as_deref().map(|p| existing("images.dtb", p)).transpose()?,
        drives: ri
            .drives
            .iter()
            .enumerate()
            .map(|(i, d)| {
                Ok(soc::virtio::BlkConfig {
                    path: existing(&format!("images.drives[{i}].path"), &d.path)?,
                    read_only: d.readonly,
                    serial: d.serial.clone(),
                    ..Default::default()
                })
            })
            .collect::<Result<_, TestFileError>>()?,
        pflash: ri
            .pflash
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Ok(soc::pflash::FlashImage {
                    path: existing(&format!("images.pflash[{i}].path"), &f.path)?,
                    read_only: f.readonly,
                })
            })
            .collect::<Result<_, TestFileError>>()?,
        rng: ri.rng,
    };
    if images.kernel.is_none() && images.pflash.is_empty() {
        return Err(at(
            "images",
            "nothing to run: give `images: (kernel: \"FILE\")` or a flash image for bank 0 (`pflash`)".into(),
        ));
    }

    if raw.steps.is_empty() {
        return Err(at("steps", "no steps: a test needs at least one".into()));
    }
    let uart_name = |i: usize, u: Option<String>| -> Result<String, TestFileError> {
        let name = u.unwrap_or_else(|| console.clone());
        if name == SEMIHOSTING || uarts.contains(&name) {
            Ok(name)
        } else {
            Err(at(
                &format!("steps[{i}].uart"),
                format!(
                    "board {} has no UART `{name}` (it has: {}, and `{SEMIHOSTING}` for semihosting output)",
                    board.name,
                    uarts.join(", ")
                ),
            ))
        }
    };
    let cores = board.cpus.count as usize;
    let mut steps = Vec::new();
    let mut step_at = Vec::new();
    // Snapshot names taken by the steps so far.
    let mut taken: Vec<String> = Vec::new();
    let origin = path.display().to_string();
    for (i, s) in raw.steps.into_iter().enumerate() {
        let p = locs.find(&format!("steps[{i}]"));
        step_at.push(format!("{origin}:{}:{}", p.line, p.col));
        steps.push(match s {
            RawStep::WaitUart {
                uart,
                regex,
                timeout_ms,
            } => Step::WaitUart {
                uart: uart_name(i, uart)?,
                regex: Regex::new(&regex).map_err(|e| {
                    // The last line of regex's message says what is wrong.
                    let text = e.to_string();
                    let last = text.lines().last().unwrap_or_default();
                    let msg = last.strip_prefix("error: ").unwrap_or(last);
                    at(&format!("steps[{i}].regex"), format!("invalid regex {regex:?}: {msg}"))
                })?,
                timeout: timeout_ms.map(Duration::from_millis),
            },
            RawStep::SendUart { uart, text } => Step::SendUart {
                uart: uart_name(i, uart)?,
                text,
            },
            RawStep::ExpectExit { code, timeout_ms } => Step::ExpectExit {
                code,
                timeout: timeout_ms.map(Duration::from_millis),
            },
            RawStep::AssertReg { core, reg, value } => {
                if core >= cores {
                    return Err(at(
                        &format!("steps[{i}].core"),
                        format!("no core {core}: the board has {cores}"),
                    ));
                }
                if RegName::parse(&reg).is_none() {
                    return Err(at(
                        &format!("steps[{i}].reg"),
                        super::harness::Failure::NoSuchRegister(reg).to_string(),
                    ));
                }
                Step::AssertReg { core, reg, value }
            }
            RawStep::AssertMem { addr, value, size } => {
                if !matches!(size, 1 | 2 | 4 | 8) {
                    return Err(at(
                        &format!("steps[{i}].size"),
                        format!("size {size}: must be 1, 2, 4 or 8"),
                    ));
                }
                if addr % u64::from(size) != 0 {
                    return Err(at(
                        &format!("steps[{i}].addr"),
                        format!("{addr:#x} is not aligned to the access size ({size})"),
                    ));
                }
                if size < 8 && value >> (8 * size) != 0 {
                    return Err(at(
                        &format!("steps[{i}].value"),
                        format!("{value:#x} does not fit in {size} byte(s)"),
                    ));
                }
                Step::AssertMem { addr, value, size }
            }
            RawStep::Snapshot { name } => {
                taken.push(name.clone());
                Step::Snapshot { name }
            }
            RawStep::Restore { name } => {
                if !taken.contains(&name) {
                    return Err(at(
                        &format!("steps[{i}].name"),
                        format!("no earlier Snapshot(name: {name:?}) step to restore"),
                    ));
                }
                Step::Restore { name }
            }
        });
    }
    let name = raw.name.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| origin.clone())
    });
    Ok(TestFile {
        path: path.to_path_buf(),
        name,
        board,
        append: raw.append,
        engine: raw.engine,
        time,
        timeout: raw.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_TIMEOUT),
        host_timeout: raw
            .host_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(super::harness::DEFAULT_HOST_SAFETY_NET),
        images,
        steps,
        step_at,
    })
}

/// QEMU-style sizes: `512M`, `2G`, `65536K`, `1048576B`; a bare number is
/// MiB (as `-m`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() && !t.starts_with("0x") => {
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
        _ => (t.as_str(), 1 << 20),
    };
    let n = match num.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => num.parse(),
    }
    .map_err(|_| format!("`{s}` is not a size (e.g. 512M, 2G)"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("`{s}` is not a usable memory size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse_test_file(src, Path::new("t.ron")).unwrap_err().to_string()
    }

    #[test]
    fn deterministic_tests_take_an_epoch_and_a_safety_net() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let src = format!(
            "Test(board: \"virt\", deterministic: true, rtc_epoch: 42, host_timeout_ms: 900, timeout_ms: 7,
              images: (kernel: \"{dir}/../firmware/prebuilt/hello.elf\"), steps: [ExpectExit(code: 0)])"
        );
        let t = parse_test_file(&src, Path::new("t.ron")).unwrap();
        assert_eq!(
            t.time,
            crate::time::TimeMode::Deterministic(crate::time::Deterministic { rtc_epoch: 42 })
        );
        assert_eq!(
            (t.timeout, t.host_timeout),
            (Duration::from_millis(7), Duration::from_millis(900))
        );
        let t = parse_test_file(
            &src.replace("rtc_epoch: 42, host_timeout_ms: 900, ", ""),
            Path::new("t.ron"),
        )
        .unwrap();
        assert_eq!(t.time, crate::time::TimeMode::deterministic());
        assert_eq!(t.host_timeout, super::super::DEFAULT_HOST_SAFETY_NET);
        assert_eq!(
            err("Test(board: \"virt\", host_timeout_ms: 5, steps: [])"),
            "t.ron:1:38: `host_timeout_ms` only applies to deterministic tests: add `deterministic: true` or remove it"
        );
    }

    #[test]
    fn sizes_use_qemu_spelling() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("64"), Ok(64 << 20));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn problems_are_located() {
        assert_eq!(
            err("Test(\n  board: \"virt\",\n  images: (kernel: \"x\"),\n)\n"),
            "t.ron:1:1: missing field `steps` in `Test`"
        );
        assert_eq!(
            err("Test(board: \"virt\", steps: [ExpectExit(code: 0)])"),
            "t.ron:1:1: nothing to run: give `images: (kernel: \"FILE\")` or a flash image for bank 0 (`pflash`)"
        );
        assert_eq!(
            err("Test(\n  board: \"nope\",\n  steps: [],\n)"),
            "t.ron:2:10: `nope` is neither a builtin board (virt, virt-gicv3, soc4) nor a board file (nope does not exist)"
        );
        assert_eq!(
            err("Test(board: \"virt\", memory: \"1Q\", steps: [])"),
            "t.ron:1:29: `1Q`: unknown size suffix `Q` (use K, M, G or T)"
        );
        assert!(err("Test(board: \"virt\", steps: [Snap()])").starts_with("t.ron:1:29: unknown variant `Snap`"));
    }

    #[test]
    fn a_restore_needs_an_earlier_snapshot_of_that_name() {
        // (Any existing file serves as the kernel: nothing runs.)
        let head = "Test(board: \"virt\", images: (kernel: \"Cargo.toml\"),\n  steps: [\n";
        assert_eq!(
            err(&format!(
                "{head}    Restore(name: \"a\"),\n    Snapshot(name: \"a\"),\n  ])"
            )),
            "t.ron:3:19: no earlier Snapshot(name: \"a\") step to restore"
        );
        let t = parse_test_file(
            &format!("{head}    Snapshot(name: \"a\"),\n    Restore(name: \"a\"),\n  ])"),
            Path::new("t.ron"),
        )
        .unwrap();
        assert_eq!(
            t.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ["Snapshot(\"a\")", "Restore(\"a\")"]
        );
    }
}
