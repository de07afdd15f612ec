//! Board descriptions: parsing, validation errors (message and position),
//! CLI overrides, and robustness against garbage.

use boards::{builtin_board, load_board_file, parse_board, resolve_board, BoardError, DeviceSpec};

/// A valid two-UART board; cases below edit one spot of it.
const BASE: &str = r#"Board(
    name: "test",
    model: "Test board",
    compatible: ["test,board"],
    cpus: (count: 2, model: "cortex-a57"),
    memory: [
        (name: "ram", base: 0x4000_0000, size: 0x0800_0000),
    ],
    devices: [
        Pl011(name: "uart0", base: 0x0900_0000, size: 0x1000),
        Pl011(name: "uart1", base: 0x0904_0000, size: 0x1000),
    ],
    chosen: (stdout: "uart0", bootargs: "console=ttyAMA0"),
)
"#;

fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} is not in BASE");
    BASE.replacen(from, to, 1)
}

fn err(src: &str) -> String {
    match parse_board(src, "test.ron") {
        Ok(b) => panic!("expected an error, parsed {b:?}"),
        Err(e) => e.to_string(),
    }
}

/// `(name, source, expected error)`; every message starts with
/// `test.ron:LINE:COL`.
fn cases() -> Vec<(&'static str, String, &'static str)> {
    vec![
        // --- syntax and shape, positions from ron ---
        (
            "missing comma",
            edit("size: 0x1000),\n        Pl011(name: \"uart1\"", "size: 0x1000)\n        Pl011(name: \"uart1\""),
            "test.ron:11:9: expected `,`",
        ),
        ("empty file", String::new(), "test.ron:1:1: expected opening `(` for struct `Board`"),
        (
            "truncated",
            BASE[..BASE.find("devices").unwrap()].to_string(),
            "test.ron:8:7: unexpected end of file",
        ),
        ("trailing text", format!("{BASE}x"), "test.ron:14:2: non-whitespace trailing characters"),
        (
            "unclosed string",
            edit("\"console=ttyAMA0\"),", "\"console=ttyAMA0),"),
            "test.ron:13:41: expected end of string",
        ),
        ("wrong struct name", edit("Board(", "Bored("), "test.ron:1:1: expected `Board(...)`, found `Bored(...)`"),
        // --- missing / unknown / duplicate fields, unknown kinds ---
        (
            "missing device field",
            edit("(name: \"uart1\", base: 0x0904_0000, size: 0x1000)", "(name: \"uart1\", base: 0x0904_0000)"),
            "test.ron:11:9: missing field `size` in `Pl011`",
        ),
        (
            "missing board field",
            edit("    chosen: (stdout: \"uart0\", bootargs: \"console=ttyAMA0\"),\n", ""),
            "test.ron:1:1: missing field `chosen` in `Board`",
        ),
        (
            "missing chosen field",
            edit("(stdout: \"uart0\", bootargs: \"console=ttyAMA0\")", "()"),
            "test.ron:13:13: missing field `stdout` in `Chosen`",
        ),
        (
            "unknown device field",
            edit("base: 0x0904_0000, size: 0x1000)", "base: 0x0904_0000, size: 0x1000, colour: 3)"),
            "test.ron:11:63: unknown field `colour` in `Pl011` (expected one of `name`, `base`, `size`, `interrupts`)",
        ),
        (
            "unknown board field",
            edit("    chosen:", "    colour: 1,\n    chosen:"),
            "test.ron:13:5: unknown field `colour` in `Board` (expected one of `name`, `model`, `compatible`, `cpus`, `memory`, `devices`, `chosen`)",
        ),
        (
            "unknown device kind",
            edit("Pl011(name: \"uart1\"", "Pl012(name: \"uart1\""),
            "test.ron:11:9: unknown device kind `Pl012` (known kinds: `Pl011`, `Gic`, `VirtioMmio`, `Pl031`, `Pl061`, `Pflash`)",
        ),
        ("duplicate field", edit("count: 2,", "count: 2, count: 3,"), "test.ron:5:22: field `count` given twice in `Cpus`"),
        // --- types and ranges ---
        ("string for integer", edit("count: 2", "count: \"two\""), "test.ron:5:18: expected integer"),
        ("negative count", edit("count: 2", "count: -2"), "test.ron:5:20: integer out of range for this field"),
        (
            "integer too large",
            edit("size: 0x0800_0000", "size: 0x1_0000_0000_0000_0000"),
            "test.ron:7:50: integer out of range for this field",
        ),
        // --- alignment, sizes, overflow ---
        (
            "misaligned device",
            edit("base: 0x0904_0000", "base: 0x0904_0800"),
            "test.ron:11:36: device `uart1` base 0x9040800 is not aligned to 0x1000",
        ),
        (
            "misaligned small device",
            edit("base: 0x0904_0000, size: 0x1000", "base: 0x0904_0100, size: 0x200"),
            "test.ron:11:36: device `uart1` base 0x9040100 is not aligned to 0x200",
        ),
        (
            "misaligned RAM",
            edit("base: 0x4000_0000", "base: 0x4000_8000"),
            "test.ron:7:29: memory region `ram` base 0x40008000 is not 64 KiB aligned",
        ),
        (
            "RAM size not 64K",
            edit("size: 0x0800_0000", "size: 0x0800_1000"),
            "test.ron:7:48: memory region `ram` size 0x8001000 is not a multiple of 64 KiB",
        ),
        (
            "zero device size",
            edit("base: 0x0904_0000, size: 0x1000", "base: 0x0904_0000, size: 0"),
            "test.ron:11:55: device `uart1` has size 0",
        ),
        ("zero RAM size", edit("size: 0x0800_0000", "size: 0"), "test.ron:7:48: memory region `ram` has size 0"),
        (
            "device past 2^64",
            edit("base: 0x0904_0000, size: 0x1000", "base: 0xffff_ffff_ffff_f000, size: 0x2000"),
            "test.ron:11:65: device `uart1` [0xfffffffffffff000, 0xfffffffffffff000 + 0x2000) runs past the end of the address space",
        ),
        (
            "RAM past 2^64",
            edit("base: 0x4000_0000, size: 0x0800_0000", "base: 0xffff_ffff_ffff_0000, size: 0x2_0000"),
            "test.ron:7:58: memory region `ram` [0xffffffffffff0000, 0xffffffffffff0000 + 0x20000) runs past the end of the address space",
        ),
        // --- overlaps, naming both ---
        (
            "RAM overlaps RAM",
            edit("size: 0x0800_0000),\n", "size: 0x0800_0000),\n        (name: \"ram2\", base: 0x4700_0000, size: 0x0100_0000),\n"),
            "test.ron:8:30: memory region `ram2` [0x47000000, 0x48000000) overlaps memory region `ram` [0x40000000, 0x48000000) (defined at test.ron:7:9)",
        ),
        (
            "device overlaps RAM",
            edit("base: 0x0904_0000", "base: 0x4000_0000"),
            "test.ron:11:36: device `uart1` [0x40000000, 0x40001000) overlaps memory region `ram` [0x40000000, 0x48000000) (defined at test.ron:7:9)",
        ),
        (
            "device overlaps device",
            edit("base: 0x0904_0000, size: 0x1000", "base: 0x08ff_f000, size: 0x2000"),
            "test.ron:11:36: device `uart1` [0x8fff000, 0x9001000) overlaps device `uart0` [0x9000000, 0x9001000) (defined at test.ron:10:9)",
        ),
        // --- names ---
        (
            "duplicate device name",
            edit("name: \"uart1\"", "name: \"uart0\""),
            "test.ron:11:21: name `uart0` is already used at test.ron:10:9",
        ),
        (
            "device named like RAM",
            edit("name: \"uart1\"", "name: \"ram\""),
            "test.ron:11:21: name `ram` is already used at test.ron:7:9",
        ),
        (
            "bad device name",
            edit("name: \"uart1\"", "name: \"uart 1\""),
            "test.ron:11:21: name \"uart 1\" must be 1-31 ASCII letters, digits, `_` or `-`, starting with a letter",
        ),
        (
            "empty board name",
            edit("name: \"test\"", "name: \"\""),
            "test.ron:2:11: board name \"\" must be 1-31 ASCII letters, digits, `_` or `-`, starting with a letter",
        ),
        // --- cpus ---
        ("zero CPUs", edit("count: 2", "count: 0"), "test.ron:5:19: the CPU count must be between 1 and 64, not 0"),
        ("65 CPUs", edit("count: 2", "count: 65"), "test.ron:5:19: the CPU count must be between 1 and 64, not 65"),
        (
            "bad CPU model",
            edit("\"cortex-a57\"", "\"Cortex A57\""),
            "test.ron:5:29: CPU model \"Cortex A57\" must be lower-case letters, digits and `-`, e.g. \"cortex-a57\"",
        ),
        // --- chosen ---
        (
            "stdout names nothing",
            edit("stdout: \"uart0\"", "stdout: \"uart7\""),
            "test.ron:13:22: stdout names no device `uart7` (devices: uart0, uart1)",
        ),
        (
            "stdout names RAM",
            edit("stdout: \"uart0\"", "stdout: \"ram\""),
            "test.ron:13:22: stdout names no device `ram` (`ram` is a memory region, not a device)",
        ),
        (
            "NUL in bootargs",
            edit("console=ttyAMA0", "console=\\u{0}"),
            "test.ron:13:41: bootargs must not contain NUL characters",
        ),
        // --- everything else ---
        (
            "interrupts without a controller",
            edit("base: 0x0904_0000, size: 0x1000)", "base: 0x0904_0000, size: 0x1000, interrupts: [2])"),
            "test.ron:11:75: device `uart1` lists interrupts, but this board has no interrupt controller (`Gic`) to deliver them",
        ),
        ("empty compatible", edit("[\"test,board\"]", "[]"), "test.ron:4:17: `compatible` must list at least one string"),
        (
            "no RAM",
            edit("(name: \"ram\", base: 0x4000_0000, size: 0x0800_0000),", ""),
            "test.ron:6:13: `memory` must list at least one RAM region (the first is the main RAM)",
        ),
        ("empty model", edit("\"Test board\"", "\"\""), "test.ron:3:12: `model` must be a non-empty string without NUL characters"),
    ]
}

#[test]
fn every_error_names_file_line_and_column() {
    let mut failures = Vec::new();
    for (name, src, want) in cases() {
        let got = err(&src);
        if got != want {
            failures.push(format!("{name}:\n   want {want}\n    got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_expose_their_position() {
    let e = parse_board(&edit("count: 2", "count: 0"), "x.ron").unwrap_err();
    assert_eq!(e.position(), Some((5, 19)));
    assert!(matches!(&e, BoardError::At { origin, .. } if origin == "x.ron"));
}

#[test]
fn base_is_valid() {
    let b = parse_board(BASE, "test.ron").unwrap();
    assert_eq!(b.name, "test");
    assert_eq!(b.cpus.count, 2);
    assert_eq!(b.ram().base, 0x4000_0000);
    assert_eq!(b.devices.len(), 2);
    assert_eq!(b.device("uart1").map(|d| d.kind()), Some("Pl011"));
    assert_eq!(b.chosen.bootargs, "console=ttyAMA0");
    assert_eq!(b.origin(), "test.ron");
}

#[test]
fn optional_fields_and_small_devices() {
    // No struct name, no bootargs, an explicit empty interrupt list, and a
    // 0x200-byte window at 0x200 alignment (like QEMU's virtio-mmio slots).
    let src = BASE
        .replacen("Board(", "(", 1)
        .replacen(", bootargs: \"console=ttyAMA0\"", "", 1)
        .replacen(
            "base: 0x0904_0000, size: 0x1000)",
            "base: 0x0a00_0200, size: 0x200, interrupts: [])",
            1,
        );
    let b = parse_board(&src, "test.ron").unwrap();
    assert_eq!(b.chosen.bootargs, "");
    assert_eq!(
        b.devices[1].mmio(b.cpus.count),
        [soc::device::MmioRegion {
            base: 0x0a00_0200,
            size: 0x200
        }]
    );
    assert!(b.devices[1].interrupts().is_empty());
}

/// Comments, raw strings and brackets inside strings must not throw the
/// positions of later entries off.
#[test]
fn positions_survive_comments_and_strings() {
    let src = r##"// header ( [ {
/* block /* nested ) */ still comment ] */
(
    name: "test", model: r#"a "raw" ( model"#,
    compatible: ["x,(y)", "z]"],
    cpus: ( /* ( */ count: 1, model: "cortex-a57" ),
    memory: [(name: "ram", base: 0x4000_0000, size: 0x10000)], // ) ]
    devices: [
        Pl011(name: "u0", base: 0x0900_0000, size: 0x1000), Pl011(
            name: "u1",
            size: 0x1000,
            base: 0x0900_0800,
        ),
    ],
    chosen: (stdout: "u0", bootargs: "a\"), b: ("),
)
"##;
    assert_eq!(
        err(src),
        "test.ron:12:19: device `u1` base 0x9000800 is not aligned to 0x1000"
    );
    let missing = src.replacen("            size: 0x1000,\n", "", 1);
    assert_eq!(err(&missing), "test.ron:9:61: missing field `size` in `Pl011`");
}

#[test]
fn builtin_virt() {
    let b = resolve_board("virt").unwrap();
    assert_eq!(b.origin(), "<builtin>/virt.ron");
    assert_eq!(b.model, "Preboard virt");
    assert_eq!(b.compatible, ["linux,dummy-virt"]);
    assert_eq!((b.cpus.count, b.cpus.model.as_str()), (1, "cortex-a57"));
    assert_eq!(
        (b.ram().name.as_str(), b.ram().base, b.ram().size),
        ("ram", 0x4000_0000, 128 << 20)
    );
    let DeviceSpec::Gic(gic) = &b.devices[0] else {
        panic!("virt's first device is not the GIC")
    };
    assert_eq!(
        (gic.version, gic.distributor, gic.cpu_interface, gic.redistributors),
        (2, 0x0800_0000, Some(0x0801_0000), None),
        "QEMU virt's default GICv2 map"
    );
    let DeviceSpec::Pl011(uart) = &b.devices[1] else {
        panic!("virt's second device is not a PL011")
    };
    assert_eq!(
        (uart.name.as_str(), uart.base, uart.size, uart.interrupts.as_slice()),
        ("uart0", 0x0900_0000, 0x1000, &[1][..])
    );
    let kinds: Vec<&str> = b.devices.iter().map(|d| d.kind()).collect();
    assert_eq!(kinds, ["Gic", "Pl011", "Pl031", "Pl061", "Pflash", "VirtioMmio"]);
    let windows: Vec<(u64, u64)> = b.devices[2..]
        .iter()
        .map(|d| {
            let w = d.mmio(1)[0];
            (w.base, w.size)
        })
        .collect();
    assert_eq!(
        windows,
        [
            (0x0901_0000, 0x1000),
            (0x0903_0000, 0x1000),
            (0, 0x0800_0000),
            (0x0a00_0000, 0x4000)
        ],
        "QEMU virt's RTC, GPIO, two 64 MiB flash banks, 32 virtio-mmio slots"
    );
    assert_eq!(b.devices[5].interrupts(), [16]);
    assert_eq!(b.cpus.boot_el, 1);
    assert_eq!(b.chosen.stdout, "uart0");
    assert!(builtin_board("nope").is_none());
}

/// The second builtin board: RAM elsewhere plus an SRAM, a GICv3 and two
/// UARTs, so the format and the overrides are not virt-shaped.
#[test]
fn builtin_soc4() {
    let mut b = resolve_board("soc4").unwrap();
    assert_eq!((b.name.as_str(), b.model.as_str()), ("soc4", "Preboard SoC4"));
    assert_eq!((b.cpus.count, b.cpus.boot_el), (4, 1));
    let memory: Vec<_> = b.memory.iter().map(|m| (m.name.as_str(), m.base, m.size)).collect();
    assert_eq!(
        memory,
        [("ram", 0x8000_0000, 512 << 20), ("sram", 0x0400_0000, 1 << 20)]
    );
    assert_eq!(b.ram().base, 0x8000_0000, "the main RAM is the first region");
    let names: Vec<_> = b.devices.iter().map(DeviceSpec::name).collect();
    assert_eq!(names, ["gic", "uart0", "uart1", "rtc", "virtio"]);
    let gic = b.gic().unwrap();
    assert_eq!(
        (gic.version, gic.distributor, gic.redistributors),
        (3, 0x2f00_0000, Some(0x2f10_0000))
    );
    assert_eq!(b.chosen.stdout, "uart0");
    // The overrides work on it too: 64 cores' redistributors still fit, and
    // `-m` resizes the main RAM, not the SRAM.
    b.set_cpu_count(64).unwrap();
    b.set_ram_size(2 << 30).unwrap();
    assert_eq!((b.memory[0].size, b.memory[1].size), (2 << 30, 1 << 20));
    // And a board can derive from it.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("soc2.ron");
    std::fs::write(
        &p,
        "(include: \"soc4\", name: \"soc2\", cpus: (count: 2), remove_devices: [\"uart1\"])",
    )
    .unwrap();
    let d = load_board_file(&p).unwrap();
    assert_eq!((d.name.as_str(), d.cpus.count, d.devices.len()), ("soc2", 2, 4));
    assert_eq!(d.memory, resolve_board("soc4").unwrap().memory);
}

#[test]
fn resolve_board_paths_and_unknown_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.ron");
    std::fs::write(&path, BASE).unwrap();
    let b = resolve_board(path.to_str().unwrap()).unwrap();
    assert_eq!(b.name, "test");
    assert_eq!(b.origin(), path.display().to_string());

    std::fs::write(&path, edit("count: 2", "count: 0")).unwrap();
    let e = resolve_board(path.to_str().unwrap()).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}:5:19: the CPU count must be between 1 and 64, not 0", path.display())
    );

    let missing = dir.path().join("absent.ron");
    let e = resolve_board(missing.to_str().unwrap()).unwrap_err();
    assert!(matches!(e, BoardError::Io { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read board file {}: ", missing.display())),
        "{e}"
    );

    let e = resolve_board("virtt").unwrap_err().to_string();
    assert_eq!(
        e,
        "unknown board `virtt`: not a builtin board (builtin: virt, virt-gicv3, soc4) and not a path to a .ron file"
    );
}

#[test]
fn ram_override() {
    let mut b = resolve_board("virt").unwrap();
    b.set_ram_size(2 << 30).unwrap();
    assert_eq!(b.ram().size, 2 << 30);

    for (size, want) in [
        (0, "-m 0x0: memory region `ram` has size 0"),
        (0x1234_5000, "-m 0x12345000: memory region `ram` size 0x12345000 is not a multiple of 64 KiB"),
        (
            u64::MAX - 0xffff,
            "-m 0xffffffffffff0000: memory region `ram` [0x40000000, 0x40000000 + 0xffffffffffff0000) runs past the end of the address space",
        ),
    ] {
        assert_eq!(b.set_ram_size(size).unwrap_err().to_string(), want);
    }
    assert_eq!(b.ram().size, 2 << 30, "a failed override leaves the board unchanged");

    // RAM below a device: growing it runs into the device.
    let src = BASE.replacen(
        "base: 0x4000_0000, size: 0x0800_0000",
        "base: 0x0, size: 0x0800_0000",
        1,
    );
    let mut low = parse_board(&src, "low.ron").unwrap();
    let e = low.set_ram_size(1 << 30).unwrap_err().to_string();
    assert_eq!(
        e,
        "-m 0x40000000: device `uart0` [0x9000000, 0x9001000) overlaps memory region `ram` [0x0, 0x40000000) (defined at low.ron:7:9)"
    );
}

#[test]
fn cpu_override() {
    let mut b = resolve_board("virt").unwrap();
    b.set_cpu_count(8).unwrap();
    assert_eq!(b.cpus.count, 8);
    assert_eq!(
        b.set_cpu_count(9).unwrap_err().to_string(),
        "--smp 9: a GICv2 serves at most 8 cores, but the board has 9 (use version: 3)"
    );
    let mut b = resolve_board("virt-gicv3").unwrap();
    b.set_cpu_count(64).unwrap();
    assert_eq!(
        b.set_cpu_count(0).unwrap_err().to_string(),
        "--smp 0: the CPU count must be between 1 and 64, not 0"
    );
    assert_eq!(
        b.set_cpu_count(65).unwrap_err().to_string(),
        "--smp 65: the CPU count must be between 1 and 64, not 65"
    );
    assert_eq!(b.cpus.count, 64);
}

/// `--cpu` picks one of the models with their own MIDR_EL1 (QEMU's values;
/// checked against QEMU in tests/qemu_cli.rs); other names are refused and
/// leave the board alone; a board file's unknown model keeps the A57's.
#[test]
fn cpu_model_override() {
    let mut b = resolve_board("virt").unwrap();
    assert_eq!(b.cpus.midr(), Some(0x411f_d070));
    b.set_cpu_model("cortex-a53").unwrap();
    assert_eq!(
        (b.cpus.model.as_str(), b.cpus.midr()),
        ("cortex-a53", Some(0x410f_d034))
    );
    assert_eq!(
        b.set_cpu_model("cortex-a76").unwrap_err().to_string(),
        "--cpu cortex-a76: unknown CPU model (known: cortex-a53, cortex-a57, cortex-a72)"
    );
    assert_eq!(b.cpus.model, "cortex-a53");
    let other = parse_board(&BASE.replace("cortex-a57", "neoverse-n1"), "n1.ron").unwrap();
    assert_eq!(other.cpus.midr(), None);
}

#[test]
fn mpidr_affinity_groups_eight_per_cluster() {
    assert_eq!(boards::mpidr_affinity(0), 0);
    assert_eq!(boards::mpidr_affinity(7), 7);
    assert_eq!(boards::mpidr_affinity(8), 0x100);
    assert_eq!(boards::mpidr_affinity(63), 0x707);
}

/// Every error is an `Err` with a position, never a panic: truncations at
/// every character, and single-character damage everywhere.
#[test]
fn garbage_never_panics() {
    let virt = builtin_board("virt").unwrap();
    let check = |src: &str| {
        let r = std::panic::catch_unwind(|| parse_board(src, "fuzz.ron"));
        match r {
            Ok(Ok(_)) => {}
            Ok(Err(BoardError::At { line, col, .. })) => assert!(line >= 1 && col >= 1),
            Ok(Err(e)) => panic!("unexpected error kind for {src:?}: {e}"),
            Err(_) => panic!("parse_board panicked on {src:?}"),
        }
    };
    let chars: Vec<char> = virt.chars().collect();
    let body_start = virt.find("Board(").unwrap();
    let body_chars = virt[..body_start].chars().count();
    for n in 0..=chars.len() {
        check(&chars[..n].iter().collect::<String>());
    }
    let junk = [
        '(', ')', '[', '}', ',', ':', '"', '\'', '/', '*', '#', 'r', '0', '-', '\n', 'é', '\0',
    ];
    for i in body_chars..chars.len() {
        let mut deleted = chars.clone();
        deleted.remove(i);
        check(&deleted.iter().collect::<String>());
        for &j in &junk {
            let mut replaced = chars.clone();
            replaced[i] = j;
            check(&replaced.iter().collect::<String>());
            let mut inserted = chars.clone();
            inserted.insert(i, j);
            check(&inserted.iter().collect::<String>());
        }
    }
    for deep in [
        "[".repeat(10_000),
        "(".repeat(10_000),
        format!("(name: {})", "Some(".repeat(5_000)),
    ] {
        check(&deep);
    }
    for odd in [
        "\u{feff}",
        "\"",
        "r#\"",
        "/*",
        "Board(name: r##\"x\"#)",
        "(devices: [Pl011(interrupts: [1])])",
    ] {
        check(odd);
    }
}

/// The annotated example in README.md is a valid board, equal to virt.
#[test]
fn readme_example_parses() {
    let readme = include_str!("../README.md");
    let start = readme.find("```ron\n").expect("README has a ```ron block") + "```ron\n".len();
    let len = readme[start..].find("```").unwrap();
    let example = parse_board(&readme[start..start + len], "README.md").unwrap();
    assert_eq!(example, resolve_board("virt").unwrap());
}

/// A board written as changes to another: fields it sets win, devices
/// replace by name or are appended, `remove_devices` drops them.
#[test]
fn include_merges_changes_onto_the_included_board() {
    let dir = tempfile::tempdir().unwrap();
    let derived = dir.path().join("derived.ron");
    std::fs::write(
        &derived,
        r#"Board(
    include: "virt",
    name: "virt-two-uarts",
    cpus: (count: 4),
    devices: [
        Pl011(name: "uart0", base: 0x0900_0000, size: 0x1000, interrupts: [3]),
        Pl011(name: "uart1", base: 0x0904_0000, size: 0x1000, interrupts: [8]),
    ],
    chosen: (bootargs: "console=ttyAMA1"),
)
"#,
    )
    .unwrap();
    let b = load_board_file(&derived).unwrap();
    let virt = resolve_board("virt").unwrap();
    assert_eq!(b.name, "virt-two-uarts");
    assert_eq!(
        (b.model.as_str(), b.cpus.count, b.cpus.boot_el),
        ("Preboard virt", 4, 1)
    );
    assert_eq!(b.memory, virt.memory);
    let names: Vec<&str> = b.devices.iter().map(|d| d.name()).collect();
    assert_eq!(
        names,
        ["gic", "uart0", "rtc", "gpio0", "flash", "virtio", "uart1"],
        "replaced in place, new ones appended"
    );
    assert_eq!(b.devices[1].interrupts(), [3]);
    assert_eq!(
        (b.chosen.stdout.as_str(), b.chosen.bootargs.as_str()),
        ("uart0", "console=ttyAMA1")
    );

    // A file including a file, relative to the including file.
    let more = dir.path().join("more.ron");
    std::fs::write(
        &more,
        "(include: \"derived.ron\", name: \"more\", remove_devices: [\"uart1\"], cpus: (boot_el: 2))",
    )
    .unwrap();
    let m = load_board_file(&more).unwrap();
    assert_eq!((m.name.as_str(), m.cpus.count, m.cpus.boot_el), ("more", 4, 2));
    assert_eq!(m.devices.len(), 6);
}

#[test]
fn include_errors_point_into_the_including_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let err = |p: &std::path::Path| load_board_file(p).unwrap_err().to_string();
    let p = write("a.ron", "(\n    include: \"nope\",\n)\n");
    let e = err(&p);
    assert!(
        e.ends_with(
            "a.ron:2:14: `include: \"nope\"` names neither a builtin board (virt, virt-gicv3, soc4) nor a .ron file"
        ),
        "{e}"
    );
    let p = write("b.ron", "(include: \"missing.ron\")");
    assert!(
        err(&p).contains("b.ron:1:11: cannot read included board"),
        "{}",
        err(&p)
    );
    let p = write("c.ron", "(include: \"virt\",\n remove_devices: [\"uart9\"])");
    assert!(
        err(&p).ends_with("c.ron:2:19: the included board has no device `uart9` to remove (devices: gic, uart0, rtc, gpio0, flash, virtio)"),
        "{}",
        err(&p)
    );
    // An added device overlapping an included one: the added entry is blamed.
    let p = write(
        "d.ron",
        "(include: \"virt\",\n devices: [\n  Pl011(name: \"uart1\", base: 0x0900_0000, size: 0x1000),\n ])",
    );
    let e = err(&p);
    assert!(e.contains("d.ron:3:30: device `uart1`"), "{e}");
    assert!(e.contains("overlaps device `uart0`"), "{e}");
    // An included device that no longer validates is blamed on `include`.
    let p = write("e.ron", "(include: \"virt\",\n cpus: (count: 9))");
    let e = err(&p);
    assert!(e.contains("e.ron:1:11: a GICv2 serves at most 8 cores"), "{e}");
    let p = write("f.ron", "(include: \"virt\", colour: 1)");
    assert!(err(&p).contains("f.ron:1:19: unknown field `colour`"), "{}", err(&p));
    // Cycles end at the depth limit instead of recursing forever.
    write("g.ron", "(include: \"h.ron\")");
    let h = write("h.ron", "(include: \"g.ron\")");
    assert!(err(&h).contains("nests more than 8 deep"), "{}", err(&h));
}

/// A "board file" that never ends (a device file, or a huge file) is
/// refused after 1 MiB instead of being read forever.
#[test]
fn oversized_board_files_are_refused() {
    let e = load_board_file(std::path::Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read board file /dev/zero") && e.contains("not a board description"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("inc.ron");
    std::fs::write(&p, "(include: \"/dev/zero\")").unwrap();
    let e = load_board_file(&p).unwrap_err().to_string();
    assert!(e.contains("inc.ron:1:11: cannot read included board /dev/zero"), "{e}");
}
