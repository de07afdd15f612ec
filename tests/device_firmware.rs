//! The SoC devices from the guest's side: `firmware/prebuilt/devices.elf`
//! (firmware/devices/README.md) takes the PL011's receive interrupt through
//! the GICv2 (`virt`) or GICv3 (`virt-gicv3`) for input piped into
//! `preboard run`, drives a virtio-blk disk (read, write, flush, read back,
//! GET_ID), writes to a virtio-console (`--virtio-console file:PATH`),
//! programs and erases CFI flash bank 1 and reads the PL031.
//!
//! Each test runs under both engines (`<name>::interp`, `<name>::jit`), and
//! runs the firmware twice on the same image files and checks:
//! - the transcript is QEMU's (`devices/qemu-<config>.transcript`, recorded
//!   by `devices/qemu-run.sh` with the same input and images), with each
//!   known QEMU deviation turned into `ok`; the second run says
//!   `ok flash-persisted` where the first says it skipped that case;
//! - on the host, after each run: the disk image holds the firmware's
//!   pattern in sectors 1..8 and is otherwise untouched; the console's file
//!   holds what the guest sent (transmitq, then emergency writes); the
//!   flash image of bank 1 holds exactly the programmed words (growing from
//!   empty only as far as the data), and bank 0's image is untouched.

mod common;

use common::{read, repo, run_with_timeout, Engine, Run, TempDir};
use std::io::{Read, Write};
use std::process::{ChildStdin, Stdio};
use std::time::Duration;

/// What the firmware expects on the UART (`rx_expect` in main.c).
const INPUT: &[u8] = b"Preboard devices: UART RX through the GIC\n";
/// The disk's serial (`blk_serial`).
const SERIAL: &str = "pb-devices-0001";
/// Disk image size: 1 MiB (`BLK_SECTORS`).
const DISK_SIZE: usize = 1 << 20;
/// What the guest writes to the virtio-console: `con_text` through
/// transmitq, then `!` and a newline through `emerg_wr`.
const CONSOLE_OUTPUT: &str = "Preboard devices: virtio-console transmitq\n!\n";

/// Known differences of QEMU 7.2 from the hardware (and Preboard): the
/// firmware prints `deviation <case>: ...` there; Preboard must say `ok`.
const KNOWN_QEMU_DEVIATIONS: &[(&str, &str)] = &[(
    "flash-program-clears-bits",
    "pflash_cfi01 stores a programmed word instead of ANDing it into the array",
)];

/// The disk's bytes before the run (`image_byte`).
fn image_byte(o: usize) -> u8 {
    (o.wrapping_mul(13) + (o >> 9)) as u8
}

/// What the firmware writes to sectors 1..8 (`written_byte`).
fn written_byte(o: usize) -> u8 {
    (o.wrapping_mul(7) + 0x5a) as u8 ^ (o >> 9) as u8
}

/// Block 0 of flash bank 1 after a run: 4 words programmed one by one (the
/// last programmed twice: 0x0f0f0f0f then 0xff00ff00, which only clears
/// bits), 0xFF up to 0x100, then 16 words from one buffered program.
fn flash_after_run() -> Vec<u8> {
    let mut words = vec![0x4245_5250u32, 0x4452_4f41, 0x1234_5678, 0x0f00_0f00];
    words.resize(0x40, 0xffff_ffff);
    words.extend((0..16u32).map(|i| 0xa500_0000 | (i << 16) | ((i * 0x1111) & 0xffff)));
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Runs the firmware under `engine` with `args`, feeding [`INPUT`] on
/// stdin in two parts (one at once, the rest later, so it also arrives
/// while the core sleeps in WFI); killed after `secs` seconds.
fn run_preboard(engine: Engine, args: &[&str], secs: u64) -> Run {
    let mut cmd = common::preboard_command();
    cmd.args(["run", "--max-insns", "2000000000", "--kernel"])
        .arg(repo("firmware/prebuilt/devices.elf"))
        .args(engine.args())
        .args(args);
    let feed = |mut stdin: ChildStdin| {
        let (a, b) = INPUT.split_at(9);
        let _ = stdin.write_all(a);
        let _ = stdin.flush();
        std::thread::sleep(Duration::from_millis(300));
        let _ = stdin.write_all(b);
        // Dropping stdin closes the pipe: end of input.
    };
    run_with_timeout(&mut cmd, Some(Box::new(feed)), secs)
}

/// QEMU's first-run transcript for `config`, as Preboard must print it.
fn reference(config: &str) -> Vec<String> {
    let path = format!("firmware/devices/qemu-{config}.transcript");
    let qemu = read(&path);
    qemu.lines()
        .map(|line| match line.strip_prefix("deviation ") {
            Some(rest) => {
                let case = rest.split(':').next().unwrap();
                assert!(
                    KNOWN_QEMU_DEVIATIONS.iter().any(|&(c, _)| c == case),
                    "{path} has a deviation not in KNOWN_QEMU_DEVIATIONS: {line}"
                );
                format!("ok {case}")
            }
            None => line.to_string(),
        })
        .collect()
}

fn assert_transcript(what: &str, want: &[String], run: &Run) {
    let Run {
        code,
        stdout: got,
        stderr,
    } = run;
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let got: Vec<&str> = got.lines().collect();
    let diff: Vec<String> = (0..want.len().max(got.len()))
        .filter(|&i| want.get(i).map(String::as_str) != got.get(i).copied())
        .map(|i| format!("  want: {:?}\n  got:  {:?}", want.get(i), got.get(i)))
        .collect();
    assert!(
        diff.is_empty() && *code == Some(0),
        "{what}: exit code {code:?}, transcript differs from QEMU's:\n{}\nfull transcript:\n{}\nstderr:\n{stderr}",
        diff.join("\n"),
        got.join("\n")
    );
}

/// The host's view of the images after a run.
fn check_images(what: &str, dir: &TempDir) {
    let disk = std::fs::read(dir.path("disk.img")).unwrap();
    assert_eq!(disk.len(), DISK_SIZE, "{what}: disk image size");
    for (o, &b) in disk.iter().enumerate() {
        let want = if (512..9 * 512).contains(&o) {
            written_byte(o)
        } else {
            image_byte(o)
        };
        assert_eq!(b, want, "{what}: disk image byte at offset {o:#x} (sector {})", o / 512);
    }
    let flash1 = std::fs::read(dir.path("flash1.img")).unwrap();
    let want = flash_after_run();
    assert!(
        flash1.len() >= want.len(),
        "{what}: flash bank 1 image is {} bytes, want at least {}",
        flash1.len(),
        want.len()
    );
    for (o, (&g, &w)) in flash1.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{what}: flash bank 1 image byte at offset {o:#x}");
    }
    assert!(
        flash1[want.len()..].iter().all(|&b| b == 0xff),
        "{what}: flash bank 1 image has data past offset {:#x}",
        want.len()
    );
    let console = std::fs::read_to_string(dir.path("console.txt")).unwrap();
    assert_eq!(console, CONSOLE_OUTPUT, "{what}: the virtio-console's file");
    let flash0 = std::fs::read(dir.path("flash0.img")).unwrap();
    assert!(
        flash0.is_empty(),
        "{what}: flash bank 0 image changed ({} bytes)",
        flash0.len()
    );
}

/// Two runs of the firmware under `engine` on `board` with the same images.
fn devices_firmware(engine: Engine, board: &str, config: &str) {
    let dir = TempDir::new(&format!("{board}-{engine}"));
    let disk: Vec<u8> = (0..DISK_SIZE).map(image_byte).collect();
    std::fs::write(dir.path("disk.img"), disk).unwrap();
    // Both banks start empty: an empty file reads as erased flash.
    std::fs::write(dir.path("flash0.img"), b"").unwrap();
    std::fs::write(dir.path("flash1.img"), b"").unwrap();
    let drive = format!("{},serial={SERIAL}", dir.path("disk.img").display());
    let flash0 = dir.path("flash0.img").display().to_string();
    let flash1 = dir.path("flash1.img").display().to_string();
    let console = format!("file:{}", dir.path("console.txt").display());
    let args = [
        "--board",
        board,
        "--drive",
        &drive,
        "--pflash",
        &flash0,
        "--pflash",
        &flash1,
        "--virtio-console",
        &console,
    ];

    let first = reference(config);
    let skip = "skip flash-persisted (first run)";
    assert!(
        first.iter().any(|l| l == skip),
        "the reference transcript has no `{skip}` line"
    );
    let run = run_preboard(engine, &args, 120);
    assert_transcript(&format!("{board} (--engine {engine}), first run"), &first, &run);
    check_images(&format!("{board} (--engine {engine}), after the first run"), &dir);

    // The second run finds the first one's data in the flash file.
    let second: Vec<String> = first
        .iter()
        .map(|l| {
            if l == skip {
                "ok flash-persisted".to_string()
            } else {
                l.clone()
            }
        })
        .collect();
    let run = run_preboard(engine, &args, 120);
    assert_transcript(&format!("{board} (--engine {engine}), second run"), &second, &run);
    check_images(&format!("{board} (--engine {engine}), after the second run"), &dir);
}

fn devices_firmware_gicv2(engine: Engine) {
    devices_firmware(engine, "virt", "virt");
}
per_engine!(devices_firmware_gicv2);

fn devices_firmware_gicv3(engine: Engine) {
    devices_firmware(engine, "virt-gicv3", "virt-gicv3");
}
per_engine!(devices_firmware_gicv3);

/// Without input the UART case fails after its 10 s wait (instead of
/// hanging) and the rest still runs: the exit code counts the failure.
fn devices_firmware_reports_missing_uart_input(engine: Engine) {
    let dir = TempDir::new(&format!("no-input-{engine}"));
    std::fs::write(dir.path("disk.img"), vec![0u8; DISK_SIZE]).unwrap();
    let drive = format!("{},serial={SERIAL}", dir.path("disk.img").display());
    let mut child = common::preboard_command()
        .args(["run", "--max-insns", "2000000000", "--kernel"])
        .arg(repo("firmware/prebuilt/devices.elf"))
        .args(engine.args())
        .args(["--drive", &drive])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run preboard");
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let code = child.wait().unwrap().code();
    assert!(out.contains("FAIL uart-rx-irq: want bytes received"), "{out}");
    // sector 0 is zeros, not the pattern: that case fails too.
    assert!(out.contains("FAIL blk-read-sector0"), "{out}");
    assert!(out.contains("ok blk-get-id\n"), "{out}");
    assert!(out.contains("ok flash-buffered-write\n"), "{out}");
    let failed = out
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .map(|l| l.split(':').next().unwrap());
    let mut cases: Vec<&str> = failed.collect();
    cases.dedup();
    assert_eq!(code, Some(cases.len() as i32), "{out}");
}
per_engine!(devices_firmware_reports_missing_uart_input);
