//! `preboard qemu`: the bundled firmware run with qemu-system-aarch64's own
//! argument lists (the ones the QEMU-comparison tests and
//! `firmware/devices/qemu-run.sh` give QEMU), printing QEMU's transcripts
//! and exiting with QEMU's exit codes; where it is cheap, real QEMU runs
//! the same arguments in the test (skipped without it unless
//! PREBOARD_REQUIRE_TOOLS=1). Unsupported arguments are usage errors
//! naming the argument.

mod common;

use common::{read, repo, run_with_timeout, text, tool, Run, TempDir};
use std::io::Write as _;
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

/// The flags every QEMU comparison passes (`common::qemu`).
const QEMU_COMMON: [&str; 2] = ["-nographic", "-semihosting"];

/// `preboard qemu <args>` with stdin fed by `feed` (or closed), killed
/// after `secs` seconds.
fn preboard_qemu(args: &[&str], feed: Option<Box<dyn FnOnce(ChildStdin) + Send>>, secs: u64) -> Run {
    let mut cmd = common::preboard_command();
    cmd.arg("qemu").args(args);
    run_with_timeout(&mut cmd, feed, secs)
}

/// Real `qemu-system-aarch64 <args>` (stdin closed), killed after `secs`.
fn real_qemu(args: &[&str], secs: u64) -> Run {
    let mut cmd = Command::new("qemu-system-aarch64");
    cmd.args(args);
    run_with_timeout(&mut cmd, None, secs)
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A transcript as Preboard prints it: QEMU's `deviation <case>: ...` lines
/// (known QEMU 7.2 deviations, each pinned by the firmware's own test) are
/// `ok <case>` on Preboard.
fn as_preboard(transcript: &str) -> Vec<String> {
    transcript
        .lines()
        .map(|l| match l.strip_prefix("deviation ") {
            Some(rest) => format!("ok {}", rest.split(':').next().unwrap()),
            None => l.to_string(),
        })
        .collect()
}

/// The lines that depend on the board's model string and on how the
/// firmware found its DTB (QEMU hands an ELF x0 = 0; Preboard passes the
/// DTB's address) are left out.
fn without_model_and_dtb(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.starts_with("model:") && !l.starts_with("dtb:"))
        .map(str::to_string)
        .collect()
}

/// hello.elf with the arguments `demo_transcript_is_qemus` gives QEMU:
/// QEMU's transcript and exit code 0, also from real QEMU here.
#[test]
fn hello_runs_with_qemus_own_arguments() {
    let elf = repo("firmware/prebuilt/hello.elf");
    let args = [
        &["-M", "virt", "-cpu", "cortex-a57"][..],
        &QEMU_COMMON,
        &["-kernel", path(&elf)],
    ]
    .concat();
    let ours = preboard_qemu(&args, None, 60);
    assert_eq!(ours.code, Some(0), "{}", ours.stderr);
    let expected = read("firmware/hello/qemu-virt.expected");
    assert_eq!(without_model_and_dtb(&ours.stdout), without_model_and_dtb(&expected));
    if tool("qemu-system-aarch64") {
        let qemu = real_qemu(&args, 30);
        assert_eq!(qemu.code, ours.code, "QEMU: {}", qemu.stderr);
        assert_eq!(without_model_and_dtb(&qemu.stdout), without_model_and_dtb(&ours.stdout));
    }
}

/// Small raw guests (headerless: QEMU loads them at RAM + 512 KiB and boots
/// them as Linux, x0 = the DTB) ending in different ways.
const WHERE_AM_I: [u32; 16] = [
    0x1000_0003, // adr  x3, .
    0xd350_5c63, // ubfx x3, x3, #16, #8     (0x08 at 0x4008_0000)
    0xb400_0040, // cbz  x0, 1f
    0xb279_0063, // orr  x3, x3, #0x80       (x0 holds a DTB address)
    0x1000_0101, // 1: adr x1, block
    0xd280_04c4, // movz x4, #0x26
    0xf2a0_0044, // movk x4, #2, lsl #16     (ADP_Stopped_ApplicationExit)
    0xf900_0024, // str  x4, [x1]
    0xf900_0423, // str  x3, [x1, #8]        (the exit code)
    0xd280_0300, // mov  x0, #0x18           (SYS_EXIT)
    0xd45e_0000, // hlt  #0xf000
    0x1400_0000, // b .
    0,
    0,
    0,
    0, // block
];
/// SYS_EXIT with ADP_Stopped_RunTimeErrorUnknown: exit code 1.
const RUNTIME_ERROR: [u32; 12] = [
    0x1000_0101, // adr  x1, block
    0xd280_0464, // movz x4, #0x23
    0xf2a0_0044, // movk x4, #2, lsl #16     (ADP_Stopped_RunTimeErrorUnknown)
    0xf900_0024, // str  x4, [x1]
    0xf900_043f, // str  xzr, [x1, #8]
    0xd280_0300, // mov  x0, #0x18           (SYS_EXIT)
    0xd45e_0000, // hlt  #0xf000
    0x1400_0000, // b .
    0,
    0,
    0,
    0, // block
];
/// PSCI SYSTEM_RESET (through HVC, the conduit at EL1).
const SYSTEM_RESET: [u32; 4] = [
    0xd2b0_8000, // movz x0, #0x8400, lsl #16
    0xf280_0120, // movk x0, #0x0009
    0xd400_0002, // hvc  #0
    0x1400_0000, // b .
];
/// PSCI SYSTEM_OFF.
const SYSTEM_OFF: [u32; 4] = [
    0xd2b0_8000, // movz x0, #0x8400, lsl #16
    0xf280_0100, // movk x0, #0x0008
    0xd400_0002, // hvc  #0
    0x1400_0000, // b .
];

/// Exit codes as QEMU's: the semihosting exit code (8 bits), 1 for an exit
/// reason other than ApplicationExit, 0 on PSCI SYSTEM_OFF and on
/// SYSTEM_RESET with -no-reboot. The code of WHERE_AM_I says where QEMU
/// loads a raw image (0x4008_0000: 0x08) and that x0 held the DTB (0x80).
#[test]
fn exit_codes_are_qemus() {
    let dir = TempDir::new("exit-codes");
    let cases: [(&str, &[u32], &[&str], i32); 5] = [
        ("where", &WHERE_AM_I, &[], 0x88),
        ("runtime-error", &RUNTIME_ERROR, &[], 1),
        ("reset", &SYSTEM_RESET, &["-no-reboot"], 0),
        ("off", &SYSTEM_OFF, &[], 0),
        ("off-no-reboot", &SYSTEM_OFF, &["-no-reboot"], 0),
    ];
    let have_qemu = tool("qemu-system-aarch64");
    for (name, words, extra, code) in cases {
        let file = dir.path(&format!("{name}.bin"));
        std::fs::write(&file, words.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let args = [
            &["-M", "virt", "-cpu", "cortex-a57"][..],
            &QEMU_COMMON,
            extra,
            &["-kernel", path(&file)],
        ]
        .concat();
        let ours = preboard_qemu(&args, None, 60);
        assert_eq!(ours.code, Some(code), "{name}: {}", ours.stderr);
        if have_qemu {
            let qemu = real_qemu(&args, 30);
            assert_eq!(qemu.code, Some(code), "{name} on QEMU: {}", qemu.stderr);
        }
    }
}

/// Without -no-reboot a reset restarts the guest, as on QEMU: the reset
/// guest above is still running (resetting) after a while.
#[test]
fn without_no_reboot_a_reset_restarts() {
    let dir = TempDir::new("reboot");
    let file = dir.path("reset.bin");
    std::fs::write(
        &file,
        SYSTEM_RESET.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .unwrap();
    let args = [
        &["-M", "virt", "-cpu", "max"][..],
        &QEMU_COMMON,
        &["-kernel", path(&file)],
    ]
    .concat();
    let run = preboard_qemu(&args, None, 3);
    assert_eq!(run.code, None, "it exited: {}", run.stderr);
}

/// Reads MIDR_EL1 and exits with bits `[shift + 7:shift]` of it (the
/// `lsr` is patched per run).
fn midr_byte_guest(shift: u32) -> Vec<u8> {
    let words: [u32; 14] = [
        0xd538_0003,                 // mrs  x3, midr_el1
        0xd340_fc63 | (shift << 16), // lsr  x3, x3, #shift
        0x1000_0101,                 // adr  x1, block
        0xd280_04c4,                 // movz x4, #0x26
        0xf2a0_0044,                 // movk x4, #2, lsl #16  (ADP_Stopped_ApplicationExit)
        0xf900_0024,                 // str  x4, [x1]
        0xf900_0423,                 // str  x3, [x1, #8]     (exit code: its low byte)
        0xd280_0300,                 // mov  x0, #0x18        (SYS_EXIT)
        0xd45e_0000,                 // hlt  #0xf000
        0x1400_0000,                 // b .
        0,
        0,
        0,
        0, // block
    ];
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// `-cpu` picks the MIDR_EL1 QEMU reports for that core (read back a
/// byte per run through the exit code), on Preboard and on QEMU.
#[test]
fn cpu_models_report_qemus_midr() {
    let dir = TempDir::new("midr");
    let have_qemu = tool("qemu-system-aarch64");
    // QEMU 7.2's values (target/arm/cpu64.c), also checked live below.
    for (cpu, want) in [
        ("cortex-a53", 0x410f_d034u32),
        ("cortex-a57", 0x411f_d070),
        ("cortex-a72", 0x410f_d083),
    ] {
        let mut ours = 0u32;
        let mut qemu = 0u32;
        for shift in [0, 8, 16, 24] {
            let file = dir.path(&format!("midr-{shift}.bin"));
            std::fs::write(&file, midr_byte_guest(shift)).unwrap();
            let args = [
                &["-M", "virt", "-cpu", cpu][..],
                &QEMU_COMMON,
                &["-kernel", path(&file)],
            ]
            .concat();
            let run = preboard_qemu(&args, None, 60);
            let byte = run.code.unwrap_or_else(|| panic!("{cpu}: {}", run.stderr));
            ours |= (byte as u32) << shift;
            if have_qemu {
                let run = real_qemu(&args, 30);
                qemu |= (run.code.expect("QEMU exits") as u32) << shift;
            }
        }
        assert_eq!(ours, want, "{cpu}: MIDR_EL1 {ours:#x}");
        if have_qemu {
            assert_eq!(qemu, want, "{cpu}: QEMU's MIDR_EL1 {qemu:#x}");
        }
    }
}

/// The system firmware with the QEMU flags of tests/system_firmware.rs's
/// QEMU_RUNS (and firmware/Makefile): els booted at EL3 by
/// `secure=on,virtualization=on`, timer through a GICv3, smp on 4 cores
/// ending in PSCI SYSTEM_OFF. Each prints its committed QEMU transcript.
#[test]
fn system_firmware_with_qemus_flags() {
    let runs: [(&str, &str, &[&str]); 4] = [
        (
            "els",
            "virt",
            &["-M", "virt,secure=on,virtualization=on", "-cpu", "cortex-a57"],
        ),
        ("timer", "virt", &["-M", "virt", "-cpu", "cortex-a57"]),
        (
            "timer",
            "virt-gicv3",
            &["-M", "virt,gic-version=3", "-cpu", "cortex-a57"],
        ),
        ("smp", "virt", &["-M", "virt", "-cpu", "cortex-a57", "-smp", "4"]),
    ];
    for (fw, config, flags) in runs {
        let elf = repo(&format!("firmware/prebuilt/{fw}.elf"));
        let args = [flags, &QEMU_COMMON, &["-kernel", path(&elf)]].concat();
        let run = preboard_qemu(&args, None, 120);
        let want = as_preboard(&read(&format!("firmware/{fw}/qemu-{config}.expected")));
        assert_eq!(run.code, Some(0), "{fw} {args:?}:\n{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.stdout.lines().collect::<Vec<_>>(), want, "{fw} {args:?}");
    }
}

/// `-bios` puts an image in flash bank 0, booted in place: hello linked at
/// 0x0 prints QEMU's transcript, on Preboard and on QEMU.
#[test]
fn bios_boots_from_flash_bank_0() {
    let elf = std::fs::read(repo("firmware/prebuilt/hello-flash.elf")).unwrap();
    let dir = TempDir::new("bios");
    let bios = dir.path("hello-flash.bin");
    // The ELF's segments in flash (from 0x0), as objcopy -O binary would.
    let image = flash_image(&elf);
    std::fs::write(&bios, &image).unwrap();
    let args = [
        &["-M", "virt", "-cpu", "cortex-a57"][..],
        &QEMU_COMMON,
        &["-bios", path(&bios)],
    ]
    .concat();
    let ours = preboard_qemu(&args, None, 60);
    assert_eq!(ours.code, Some(0), "{}", ours.stderr);
    let expected = read("firmware/hello/qemu-virt.expected");
    let without_model = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("model:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(without_model(&ours.stdout), without_model(&expected));
    assert_eq!(std::fs::read(&bios).unwrap(), image, "-bios does not write the file");
    if tool("qemu-system-aarch64") {
        let qemu = real_qemu(&args, 30);
        assert_eq!(qemu.code, Some(0), "QEMU: {}", qemu.stderr);
        assert_eq!(without_model(&qemu.stdout), without_model(&ours.stdout));
    }
}

/// The loadable segments of `elf` below 64 MiB (flash bank 0), as a raw
/// image from address 0.
fn flash_image(elf: &[u8]) -> Vec<u8> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36) as usize, u16_at(0x38) as usize);
    let mut image = Vec::new();
    for ph in (0..phnum).map(|i| phoff + i * phentsize) {
        let (kind, offset, paddr, filesz) = (u32_at(ph), u64_at(ph + 8), u64_at(ph + 0x18), u64_at(ph + 0x20));
        if kind != 1 || filesz == 0 || paddr >= 64 << 20 {
            continue;
        }
        let (at, len) = (paddr as usize, filesz as usize);
        if image.len() < at + len {
            image.resize(at + len, 0);
        }
        image[at..at + len].copy_from_slice(&elf[offset as usize..offset as usize + len]);
    }
    assert!(image.len() > 0x1000, "hello-flash has code at 0x0");
    image
}

/// What devices.elf expects on the UART (tests/device_firmware.rs).
const DEVICES_INPUT: &[u8] = b"Preboard devices: UART RX through the GIC\n";

/// devices.elf with firmware/devices/qemu-run.sh's own QEMU arguments: a
/// virtio-blk disk from `-drive if=none` + `-device virtio-blk-device`, a
/// virtconsole on a file chardev, flash bank 1 only (`unit=1`), input on
/// stdin. The transcript is QEMU's recorded one (qemu-<config>.transcript),
/// the console file holds what the guest sent, and the disk the pattern it
/// wrote (tests/device_firmware.rs checks the images in detail).
#[test]
fn devices_firmware_with_qemu_run_sh_arguments() {
    for (config, machine) in [("virt", "virt"), ("virt-gicv3", "virt,gic-version=3")] {
        let dir = TempDir::new(&format!("devices-{config}"));
        let disk: Vec<u8> = (0..1usize << 20)
            .map(|o| (o.wrapping_mul(13) + (o >> 9)) as u8)
            .collect();
        std::fs::write(dir.path("disk.img"), &disk).unwrap();
        std::fs::write(dir.path("flash1.img"), b"").unwrap();
        let drive = format!("if=none,file={},format=raw,id=d0", dir.path("disk.img").display());
        let chardev = format!("file,id=vc0,path={}", dir.path("console.txt").display());
        let flash = format!("if=pflash,unit=1,file={},format=raw", dir.path("flash1.img").display());
        let elf = repo("firmware/prebuilt/devices.elf");
        #[rustfmt::skip]
        let args = [
            "-M", machine, "-cpu", "cortex-a57", "-nographic", "-semihosting",
            "-global", "virtio-mmio.force-legacy=false",
            "-drive", &drive,
            "-device", "virtio-blk-device,drive=d0,serial=pb-devices-0001",
            "-chardev", &chardev,
            "-device", "virtio-serial-device", "-device", "virtconsole,chardev=vc0",
            "-drive", &flash,
            "-kernel", path(&elf),
        ];
        let feed = |mut stdin: ChildStdin| {
            let _ = stdin.write_all(DEVICES_INPUT);
            let _ = stdin.flush();
            // Keep stdin open a moment: end of input is not a reason to stop.
            std::thread::sleep(Duration::from_millis(300));
        };
        let run = preboard_qemu(&args, Some(Box::new(feed)), 120);
        let want = as_preboard(&read(&format!("firmware/devices/qemu-{config}.transcript")));
        assert_eq!(run.code, Some(0), "{config}:\n{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.stdout.lines().collect::<Vec<_>>(), want, "{config}");
        let console = std::fs::read_to_string(dir.path("console.txt")).unwrap();
        assert_eq!(console, "Preboard devices: virtio-console transmitq\n!\n", "{config}");
        let disk_after = std::fs::read(dir.path("disk.img")).unwrap();
        assert_ne!(disk_after, disk, "{config}: the guest wrote to the disk");
        assert!(
            !std::fs::read(dir.path("flash1.img")).unwrap().is_empty(),
            "{config}: the guest programmed flash bank 1"
        );
    }
}

/// `--print-run` shows the `preboard run` command a QEMU line stands for
/// (gdb's -s/-S included) without running it.
#[test]
fn print_run_shows_the_equivalent_command() {
    let out = common::preboard_command()
        .args([
            "qemu",
            "-M",
            "virt,gic-version=3",
            "-cpu",
            "max",
            "-smp",
            "2",
            "-m",
            "1.5G",
        ])
        .args([
            "-kernel",
            "/nonexistent/Image",
            "-append",
            "console=ttyAMA0 root=/dev/vda",
        ])
        .args(["-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"])
        .args(["-device", "virtio-rng-device", "-serial", "mon:stdio", "-nographic"])
        .args(["-s", "-S", "-no-reboot", "--print-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "preboard run --board virt-gicv3 -m 1536M --smp 2 --kernel /nonexistent/Image \
         --append 'console=ttyAMA0 root=/dev/vda' --no-reboot --rng --nic user --serial stdio \
         --gdb tcp::1234 --wait-gdb\n"
    );
}

/// An argument outside the supported subset is a usage error (exit 2, one
/// line) naming it; nothing runs. (QEMU itself exits 1 for its usage
/// errors; `preboard` uses 2 for every bad command line.)
#[test]
fn unsupported_arguments_are_usage_errors_naming_them() {
    let elf = repo("firmware/prebuilt/hello.elf");
    let base = ["-M", "virt", "-cpu", "cortex-a57", "-nographic", "-kernel", path(&elf)];
    for (extra, needle) in [
        (&["-vga", "std"][..], "`-vga`"),
        (&["-m=512"], "`-m=512`: invalid option"),
        (&["-device", "virtio-blk-pci,drive=d0"], "`virtio-blk-pci`"),
        (&["-netdev", "tap,id=n0"], "`-netdev tap,id=n0`"),
        (&["-drive", "if=none,file=x.qcow2,format=qcow2,id=d"], "format=qcow2"),
        (&["-serial", "tcp::4444,server=on"], "wait=off"),
        (&["-M", "virt,iommu=smmuv3"], "`iommu=smmuv3`"),
        (&["-enable-kvm"], "`-enable-kvm`"),
    ] {
        let out = common::preboard_command()
            .arg("qemu")
            .args(base)
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(needle), "{extra:?}: `{needle}` not in {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(out.stdout.is_empty(), "{extra:?}: the guest ran");
    }
}

/// `preboard run --pflash PATH,unit=N`, which `-drive if=pflash,unit=N`
/// becomes: a bank given twice is refused.
#[test]
fn a_flash_bank_given_twice_is_refused() {
    let dir = TempDir::new("pflash-twice");
    let (a, b) = (dir.path("a.img"), dir.path("b.img"));
    std::fs::write(&a, b"").unwrap();
    std::fs::write(&b, b"").unwrap();
    let out = common::preboard_command()
        .args(["run", "--pflash", &format!("{},unit=1", a.display())])
        .args(["--pflash", &format!("{},unit=1", b.display())])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("flash bank 1 given twice"), "{stderr}");
}
