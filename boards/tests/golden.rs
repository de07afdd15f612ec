//! Golden device trees for the builtin boards, an outside check with `dtc`,
//! and a read-back with the `fdt` crate.
//!
//! The DTB is pinned byte for byte in `golden/*.dtb.hex`, an annotated hex
//! dump (hex before `#`, comments after); the DTS next to it. After an
//! intended change, regenerate both and review the diff:
//!
//! ```text
//! PREBOARD_BLESS=1 cargo test -p boards --test golden
//! ```

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use boards::{device_tree, resolve_board, to_dtb, to_dts, BoardSpec, BootInfo};
use soc::dt::Node;

/// The tree the machine hands its guest (devices built by the machine).
fn tree(spec: &BoardSpec, boot: &BootInfo) -> Node {
    boards::machine::board_device_tree(spec, boot).unwrap()
}

fn virt() -> BoardSpec {
    resolve_board("virt").unwrap()
}

/// The second builtin board, shaped unlike virt (boards/soc4.ron).
fn soc4() -> BoardSpec {
    resolve_board("soc4").unwrap()
}

/// `virt -m 1G --smp 4 --append ... --initrd ...`: every override at once.
fn virt_loaded() -> (BoardSpec, BootInfo) {
    let mut spec = virt();
    spec.set_ram_size(1 << 30).unwrap();
    spec.set_cpu_count(4).unwrap();
    let boot = BootInfo {
        bootargs: Some("console=ttyAMA0 earlycon root=/dev/ram \"quoted\"".into()),
        initrd: Some((0x4800_0000, 0x4812_3456)),
        seeds: None,
    };
    (spec, boot)
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn blessing() -> bool {
    std::env::var_os("PREBOARD_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with golden file `name`, or rewrites it when blessing.
fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if blessing() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with PREBOARD_BLESS=1 to create it)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{} differs from the output, first at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             --- full output ---\n{actual}\n(if the change is intended: PREBOARD_BLESS=1 cargo test -p boards --test golden)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

/// The bytes of an annotated hex dump: hex digits before `#` on each line.
fn parse_hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(b[off..off + 4].try_into().unwrap())
}

fn words(b: &[u8]) -> String {
    b.chunks(4)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A property value as a comment: strings if it reads as strings, else cells
/// or bytes.
fn describe(v: &[u8]) -> String {
    let printable = |s: &[u8]| !s.is_empty() && s.iter().all(|&b| (0x20..0x7f).contains(&b));
    if v.is_empty() {
        return String::new();
    }
    if v.last() == Some(&0) && v[..v.len() - 1].split(|&b| b == 0).all(printable) {
        let parts: Vec<String> = v[..v.len() - 1]
            .split(|&b| b == 0)
            .map(|s| format!("{:?}", String::from_utf8_lossy(s)))
            .collect();
        return format!(" = {}", parts.join(", "));
    }
    if v.len() % 4 == 0 {
        let cells: Vec<String> = v.chunks(4).map(|c| format!("{:#04x}", be32(c, 0))).collect();
        return format!(" = <{}>", cells.join(" "));
    }
    format!(
        " = [{}]",
        v.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    )
}

/// Annotated hex dump of a DTB: one line per header field, reservation
/// entry, structure token and string.
fn annotate(dtb: &[u8], title: &str) -> String {
    fn line(out: &mut String, bytes: &[u8], comment: &str) {
        out.push_str(&format!("{:<48} # {comment}\n", words(bytes)));
    }
    fn pad(out: &mut String, dtb: &[u8], pos: &mut usize, to: usize) {
        if *pos < to {
            line(out, &dtb[*pos..to], "padding");
            *pos = to;
        }
    }
    let fields = [
        "magic",
        "totalsize",
        "off_dt_struct",
        "off_dt_strings",
        "off_mem_rsvmap",
        "version",
        "last_comp_version",
        "boot_cpuid_phys",
        "size_dt_strings",
        "size_dt_struct",
    ];
    let h: Vec<u32> = (0..fields.len()).map(|i| be32(dtb, i * 4)).collect();
    let (off_struct, off_strings, off_rsv) = (h[2] as usize, h[3] as usize, h[4] as usize);
    let strings = &dtb[off_strings..off_strings + h[8] as usize];
    let name_at = |off: usize| {
        let s = &strings[off..];
        String::from_utf8_lossy(&s[..s.iter().position(|&b| b == 0).unwrap()]).into_owned()
    };

    let mut out = format!(
        "# Golden DTB: {title}\n# Hex bytes before '#', comments after. Regenerate: PREBOARD_BLESS=1 cargo test -p boards --test golden\n"
    );
    out.push_str("# --- header ---\n");
    for (i, f) in fields.iter().enumerate() {
        line(&mut out, &dtb[i * 4..i * 4 + 4], &format!("{f} = {:#x}", h[i]));
    }
    let mut pos = fields.len() * 4;
    pad(&mut out, dtb, &mut pos, off_rsv);
    out.push_str("# --- memory reservation block ---\n");
    loop {
        let entry = &dtb[pos..pos + 16];
        let end = entry.iter().all(|&b| b == 0);
        let what = if end {
            "end".to_string()
        } else {
            format!("reserve {} size {}", words(&entry[..8]), words(&entry[8..]))
        };
        line(&mut out, entry, &what);
        pos += 16;
        if end {
            break;
        }
    }
    pad(&mut out, dtb, &mut pos, off_struct);
    out.push_str("# --- structure block ---\n");
    let mut depth = 0usize;
    loop {
        let tok = be32(dtb, pos);
        let indent = "  ".repeat(depth);
        match tok {
            1 => {
                let name_len = dtb[pos + 4..].iter().position(|&b| b == 0).unwrap();
                let name = String::from_utf8_lossy(&dtb[pos + 4..pos + 4 + name_len]).into_owned();
                let next = (pos + 4 + name_len + 1).next_multiple_of(4);
                let shown = if name.is_empty() { "/" } else { &name };
                line(&mut out, &dtb[pos..next], &format!("{indent}BEGIN_NODE {shown}"));
                pos = next;
                depth += 1;
            }
            2 => {
                depth -= 1;
                line(&mut out, &dtb[pos..pos + 4], &format!("{}END_NODE", "  ".repeat(depth)));
                pos += 4;
            }
            3 => {
                let len = be32(dtb, pos + 4) as usize;
                let name = name_at(be32(dtb, pos + 8) as usize);
                let next = (pos + 12 + len).next_multiple_of(4);
                let value = describe(&dtb[pos + 12..pos + 12 + len]);
                line(&mut out, &dtb[pos..next], &format!("{indent}PROP {name}{value}"));
                pos = next;
            }
            4 => {
                line(&mut out, &dtb[pos..pos + 4], &format!("{indent}NOP"));
                pos += 4;
            }
            9 => {
                line(&mut out, &dtb[pos..pos + 4], "END");
                pos += 4;
                break;
            }
            t => panic!("bad structure token {t:#x} at {pos:#x}"),
        }
    }
    pad(&mut out, dtb, &mut pos, off_strings);
    out.push_str("# --- strings block ---\n");
    let mut off = 0;
    while off < strings.len() {
        let len = strings[off..].iter().position(|&b| b == 0).unwrap() + 1;
        line(
            &mut out,
            &strings[off..off + len],
            &format!("{off:#06x} {:?}", name_at(off)),
        );
        off += len;
    }
    pos = off_strings + strings.len();
    pad(&mut out, dtb, &mut pos, h[1] as usize);
    out
}

fn check_golden_dtb(name: &str, title: &str, dtb: &[u8]) {
    let annotated = annotate(dtb, title);
    assert_eq!(parse_hex(&annotated), dtb, "the annotator must reproduce every byte");
    if !blessing() {
        let path = golden_dir().join(name);
        if let Ok(golden) = std::fs::read_to_string(&path) {
            assert!(
                parse_hex(&golden) == dtb,
                "{} does not match the DTB byte for byte",
                path.display()
            );
        }
    }
    check_golden(name, &annotated);
}

#[test]
fn virt_golden() {
    let root = tree(&virt(), &BootInfo::default());
    check_golden("virt.dts", &to_dts(&root));
    check_golden_dtb("virt.dtb.hex", "builtin virt, defaults", &to_dtb(&root).unwrap());
}

#[test]
fn virt_loaded_golden() {
    let (spec, boot) = virt_loaded();
    let root = tree(&spec, &boot);
    check_golden("virt-m1g-smp4-initrd.dts", &to_dts(&root));
    check_golden_dtb(
        "virt-m1g-smp4-initrd.dtb.hex",
        "builtin virt, -m 1G --smp 4 --append ... --initrd at 0x48000000",
        &to_dtb(&root).unwrap(),
    );
}

#[test]
fn soc4_golden() {
    let root = tree(&soc4(), &BootInfo::default());
    check_golden("soc4.dts", &to_dts(&root));
    check_golden_dtb("soc4.dtb.hex", "builtin soc4, defaults", &to_dtb(&root).unwrap());
}

/// `dtc` as the outside oracle: our DTS compiles to a blob that decompiles
/// to the same text as our own DTB.
#[test]
fn dtc_agrees_with_our_dtb() {
    if Command::new("dtc").arg("--version").output().is_err() {
        println!("NOTICE: dtc not found; skipping the dtc cross-check (CI installs device-tree-compiler)");
        return;
    }
    fn dtc(args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("dtc")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "dtc {args:?} failed:\n{stderr}");
        assert!(stderr.trim().is_empty(), "dtc {args:?} warned:\n{stderr}");
        out.stdout
    }
    let (spec, boot) = virt_loaded();
    for root in [
        tree(&virt(), &BootInfo::default()),
        tree(&spec, &boot),
        tree(&soc4(), &BootInfo::default()),
    ] {
        let ours = to_dtb(&root).unwrap();
        let compiled = dtc(&["-I", "dts", "-O", "dtb", "-o", "-", "-"], to_dts(&root).as_bytes());
        let back = |b: &[u8]| String::from_utf8(dtc(&["-I", "dtb", "-O", "dts", "-o", "-", "-"], b)).unwrap();
        assert_eq!(back(&ours), back(&compiled));
    }
}

#[test]
fn fdt_crate_reads_virt() {
    let dtb = to_dtb(&tree(&virt(), &BootInfo::default())).unwrap();
    let fdt = fdt::Fdt::new(&dtb).unwrap();
    assert_eq!(fdt.root().model(), "Preboard virt");
    assert_eq!(fdt.root().compatible().first(), "linux,dummy-virt");
    let regions: Vec<_> = fdt
        .memory()
        .regions()
        .map(|r| (r.starting_address as usize, r.size))
        .collect();
    assert_eq!(regions, [(0x4000_0000, Some(128 << 20))]);
    let chosen = fdt.chosen();
    assert_eq!(chosen.bootargs(), None);
    assert_eq!(chosen.stdout().unwrap().name, "pl011@9000000");
    assert_eq!(fdt.cpus().count(), 1);
    let clk = fdt.find_node("/apb-pclk").unwrap();
    assert_eq!(clk.property("phandle").unwrap().as_usize(), Some(1));
    let uart = fdt.find_node("/pl011@9000000").unwrap();
    assert_eq!(uart.property("clocks").unwrap().value, [0, 0, 0, 1, 0, 0, 0, 1]);
}

#[test]
fn fdt_crate_reads_soc4() {
    let dtb = to_dtb(&tree(&soc4(), &BootInfo::default())).unwrap();
    let fdt = fdt::Fdt::new(&dtb).unwrap();
    assert_eq!(fdt.root().model(), "Preboard SoC4");
    assert_eq!(fdt.root().compatible().first(), "preboard,soc4");
    let regions: Vec<_> = fdt
        .memory()
        .regions()
        .map(|r| (r.starting_address as usize, r.size))
        .collect();
    assert_eq!(regions, [(0x8000_0000, Some(512 << 20))]);
    let sram = fdt.find_node("/memory@4000000").unwrap();
    let sram: Vec<_> = sram
        .reg()
        .unwrap()
        .map(|r| (r.starting_address as usize, r.size))
        .collect();
    assert_eq!(sram, [(0x0400_0000, Some(1 << 20))]);
    let cpus: Vec<_> = fdt.cpus().map(|c| c.ids().first()).collect();
    assert_eq!(cpus, [0, 1, 2, 3]);
    assert_eq!(fdt.chosen().stdout().unwrap().name, "pl011@1c090000");
    let gic = fdt.find_node("/interrupt-controller@2f000000").unwrap();
    assert_eq!(gic.compatible().unwrap().first(), "arm,gic-v3");
    let gic_reg: Vec<_> = gic
        .reg()
        .unwrap()
        .map(|r| (r.starting_address as usize, r.size))
        .collect();
    assert_eq!(
        gic_reg,
        [(0x2f00_0000, Some(0x1_0000)), (0x2f10_0000, Some(4 * 0x2_0000))]
    );
    let uarts: Vec<_> = fdt.find_all_nodes("/pl011").map(|n| n.name).collect();
    assert_eq!(uarts, ["pl011@1c090000", "pl011@1c0a0000"]);
    assert_eq!(fdt.find_all_nodes("/virtio_mmio").count(), 4);
    assert_eq!(fdt.find_all_nodes("/flash").count(), 0, "soc4 has no flash");
}

#[test]
fn overrides_reach_the_device_tree() {
    let (spec, boot) = virt_loaded();
    let dtb = to_dtb(&tree(&spec, &boot)).unwrap();
    let fdt = fdt::Fdt::new(&dtb).unwrap();
    let regions: Vec<_> = fdt
        .memory()
        .regions()
        .map(|r| (r.starting_address as usize, r.size))
        .collect();
    assert_eq!(regions, [(0x4000_0000, Some(1 << 30))]);
    let cpus: Vec<_> = fdt.cpus().map(|c| c.ids().first()).collect();
    assert_eq!(cpus, [0, 1, 2, 3]);
    assert!(fdt
        .cpus()
        .all(|c| c.property("compatible").unwrap().as_str() == Some("arm,cortex-a57")));
    let chosen = fdt.chosen();
    assert_eq!(
        chosen.bootargs(),
        Some("console=ttyAMA0 earlycon root=/dev/ram \"quoted\"")
    );
    let chosen_node = fdt.find_node("/chosen").unwrap();
    assert_eq!(
        chosen_node.property("linux,initrd-start").unwrap().as_usize(),
        Some(0x4800_0000)
    );
    assert_eq!(
        chosen_node.property("linux,initrd-end").unwrap().as_usize(),
        Some(0x4812_3456)
    );
}

#[test]
fn cpus_past_one_cluster_use_aff1() {
    // More than 8 cores need a GICv3.
    let mut spec = boards::resolve_board("virt-gicv3").unwrap();
    spec.set_cpu_count(10).unwrap();
    let dtb = to_dtb(&tree(&spec, &BootInfo::default())).unwrap();
    let fdt = fdt::Fdt::new(&dtb).unwrap();
    let names: Vec<_> = fdt
        .find_node("/cpus")
        .unwrap()
        .children()
        .map(|c| c.name.to_string())
        .collect();
    assert_eq!(names[7..], ["cpu@7", "cpu@100", "cpu@101"]);
    let ids: Vec<_> = fdt.cpus().map(|c| c.ids().first()).collect();
    assert_eq!(ids[8..], [0x100, 0x101]);
}

#[test]
fn no_clock_node_without_a_reference() {
    let spec = virt();
    let root = device_tree(&spec, &[], &BootInfo::default());
    assert!(root.children.iter().all(|c| c.name != "apb-pclk"));
    let chosen = root.children.iter().find(|c| c.name == "chosen").unwrap();
    assert!(chosen.get("stdout-path").is_none());
}
