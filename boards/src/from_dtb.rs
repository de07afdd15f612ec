//! A board built from a user's device tree (`--board-from-dtb`): the nodes
//! Preboard has a model for become a [`BoardSpec`] (found by `compatible`),
//! and every node it cannot model is listed, so a team with only a DTS of
//! its SoC gets a running machine for what Preboard knows and a clear list
//! of what it does not. The blob itself is handed to the guest unchanged.
//!
//! Understood: `/cpus/cpu@*` (count, `arm,<model>`), `/memory*` regions,
//! `/psci` (its `method` picks the boot EL: `hvc` → EL1, `smc` → EL2),
//! GICv2 (`arm,gic-400`, `arm,cortex-a15-gic`, `arm,cortex-a9-gic`) and
//! GICv3 (`arm,gic-v3`), PL011 UARTs (`arm,pl011`) with their SPIs,
//! PL031 RTCs, PL061 GPIO controllers (with a `gpio-keys` power key),
//! CFI flash (`cfi-flash`, 1 or 2 banks), virtio-mmio transports,
//! `/chosen` (`stdout-path`, `bootargs`). The architectural timer
//! (`arm,armv*-timer`), clocks (`fixed-clock`) and `/aliases` need no model.
//! Devices must be children of the root with `#address-cells` and
//! `#size-cells` of 1 or 2 (no `ranges` translation yet).

use crate::dtb_in::{self, DtNode};
use crate::schema::{
    BoardError, BoardSpec, ChosenSpec, CpuSpec, DeviceSpec, GicSpec, MemoryRegion, PflashSpec, Pl011Spec, Pl031Spec,
    Pl061Spec, VirtioMmioSpec,
};

/// Compatible strings of nodes that need no device model.
const IMPLICIT: &[&str] = &[
    "arm,armv8-timer",
    "arm,armv7-timer",
    "fixed-clock",
    "arm,psci",
    "arm,psci-0.2",
    "arm,psci-1.0",
];
const GIC_V2: &[&str] = &["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic"];
const GIC_V3: &[&str] = &["arm,gic-v3"];

/// The board and the nodes that were not modelled (as `/path (compatible)`).
pub fn board_from_dtb(blob: &[u8], origin: &str) -> Result<(BoardSpec, Vec<String>), BoardError> {
    let bad = |message: String| BoardError::Invalid {
        origin: origin.to_string(),
        message,
    };
    let root = dtb_in::parse(blob).map_err(|e| bad(format!("not a valid device tree blob: {e}")))?;
    let ac = root.u32("#address-cells").unwrap_or(2) as usize;
    let sc = root.u32("#size-cells").unwrap_or(1) as usize;
    if !(1..=2).contains(&ac) || !(1..=2).contains(&sc) {
        return Err(bad(format!(
            "/: #address-cells = {ac} and #size-cells = {sc}; only 1 or 2 are supported"
        )));
    }
    let regs = |n: &DtNode| -> Result<Vec<(u64, u64)>, BoardError> {
        let cells = n
            .cells("reg")
            .ok_or_else(|| bad(format!("/{}: no usable `reg` property", n.name)))?;
        if cells.is_empty() || cells.len() % (ac + sc) != 0 {
            return Err(bad(format!(
                "/{}: `reg` has {} cells, not a multiple of {}",
                n.name,
                cells.len(),
                ac + sc
            )));
        }
        let num = |c: &[u32]| c.iter().fold(0u64, |a, &x| (a << 32) | u64::from(x));
        Ok(cells
            .chunks_exact(ac + sc)
            .map(|c| (num(&c[..ac]), num(&c[ac..])))
            .collect())
    };

    let mut unmodelled = Vec::new();
    let cpus: Vec<&DtNode> = root
        .find("cpus")
        .map(|c| {
            c.children
                .iter()
                .filter(|n| n.name.split('@').next() == Some("cpu"))
                .collect()
        })
        .unwrap_or_default();
    if cpus.is_empty() {
        return Err(bad("/cpus: no cpu nodes".into()));
    }
    let model = cpus[0]
        .string("compatible")
        .and_then(|c| c.strip_prefix("arm,").map(str::to_string))
        .unwrap_or_else(|| "cortex-a57".into());
    let boot_el = match root.find("psci").and_then(|p| p.string("method")).as_deref() {
        Some("smc") => 2,
        _ => 1,
    };

    let mut memory = Vec::new();
    let mut devices = Vec::new();
    let mut node_device: Vec<(String, String)> = Vec::new(); // node name -> device name
    let mut used_spis: Vec<u32> = Vec::new();
    let mut power_keys: Vec<(u32, u32)> = Vec::new(); // (phandle, line)
    let mut phandles: Vec<(u32, String)> = Vec::new(); // phandle -> device
    for n in &root.children {
        let base = n.name.split('@').next().unwrap_or("");
        if base == "cpus" || base == "chosen" || base == "aliases" {
            continue;
        }
        if base == "memory" || n.string("device_type").as_deref() == Some("memory") {
            for (k, (b, s)) in regs(n)?.into_iter().enumerate() {
                let name = if memory.is_empty() {
                    "ram".to_string()
                } else {
                    format!("ram{}", memory.len() + k)
                };
                memory.push(MemoryRegion { name, base: b, size: s });
            }
            continue;
        }
        let compat = n.strings("compatible").unwrap_or_default();
        let is = |list: &[&str]| compat.iter().any(|c| list.contains(&c.as_str()));
        let dev_name = device_name(&n.name, devices.len());
        if is(GIC_V2) || is(GIC_V3) {
            let r = regs(n)?;
            if r.len() < 2 {
                return Err(bad(format!("/{}: a GIC needs two `reg` windows", n.name)));
            }
            let v3 = is(GIC_V3);
            devices.push(DeviceSpec::Gic(GicSpec {
                name: dev_name.clone(),
                version: if v3 { 3 } else { 2 },
                distributor: r[0].0,
                cpu_interface: (!v3).then_some(r[1].0),
                redistributors: v3.then_some(r[1].0),
                spis: 0, // sized below from the SPIs the devices use
            }));
        } else if compat.iter().any(|c| c == "arm,pl011") {
            let r = regs(n)?;
            let spis = spis_of(n);
            used_spis.extend(&spis);
            devices.push(DeviceSpec::Pl011(Pl011Spec {
                name: dev_name.clone(),
                base: r[0].0,
                size: r[0].1,
                interrupts: spis.into_iter().take(1).collect(),
            }));
        } else if compat.iter().any(|c| c == "arm,pl031") {
            let r = regs(n)?;
            let spis = spis_of(n);
            used_spis.extend(&spis);
            devices.push(DeviceSpec::Pl031(Pl031Spec {
                name: dev_name.clone(),
                base: r[0].0,
                size: r[0].1,
                interrupts: spis.into_iter().take(1).collect(),
            }));
        } else if compat.iter().any(|c| c == "arm,pl061") {
            let r = regs(n)?;
            let spis = spis_of(n);
            used_spis.extend(&spis);
            devices.push(DeviceSpec::Pl061(Pl061Spec {
                name: dev_name.clone(),
                base: r[0].0,
                size: r[0].1,
                interrupts: spis.into_iter().take(1).collect(),
                power_key: None, // from a gpio-keys node, below
            }));
        } else if compat.iter().any(|c| c == "cfi-flash") {
            let r = regs(n)?;
            let (b0, size) = r[0];
            let contiguous = r
                .iter()
                .enumerate()
                .all(|(i, &(b, s))| s == size && b == b0 + i as u64 * size);
            if r.len() > 2 || !contiguous {
                unmodelled.push(format!("/{} (cfi-flash: only 1 or 2 equal, adjacent banks)", n.name));
                continue;
            }
            devices.push(DeviceSpec::Pflash(PflashSpec {
                name: dev_name.clone(),
                base: b0,
                size,
                banks: r.len() as u32,
            }));
        } else if compat.iter().any(|c| c == "virtio,mmio") {
            let r = regs(n)?;
            let spis = spis_of(n);
            used_spis.extend(&spis);
            devices.push(DeviceSpec::VirtioMmio(VirtioMmioSpec {
                name: dev_name.clone(),
                base: r[0].0,
                size: r[0].1.max(0x200),
                count: 1,
                interrupts: spis.into_iter().take(1).collect(),
                version: 2,
            }));
        } else if compat.iter().any(|c| c == "gpio-keys") {
            // The power key: a child with linux,code = KEY_POWER whose
            // `gpios` names a PL061 line.
            for key in &n.children {
                let (Some(code), Some(gpios)) = (key.u32("linux,code"), key.cells("gpios")) else {
                    continue;
                };
                if code == soc::pl061::KEY_POWER && gpios.len() >= 2 {
                    power_keys.push((gpios[0], gpios[1]));
                }
            }
            continue;
        } else if is(IMPLICIT) || base == "psci" || base == "timer" {
            continue;
        } else {
            unmodelled.push(format!(
                "/{}{}",
                n.name,
                if compat.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", compat.join(", "))
                }
            ));
            continue;
        }
        if let Some(ph) = n.u32("phandle") {
            phandles.push((ph, dev_name.clone()));
        }
        node_device.push((n.name.clone(), dev_name));
    }
    for (ph, line) in power_keys {
        let target = phandles.iter().find(|(p, _)| *p == ph).map(|(_, d)| d.clone());
        let gpio = devices.iter_mut().find_map(|d| match d {
            DeviceSpec::Pl061(g) if Some(&g.name) == target.as_ref() => Some(g),
            _ => None,
        });
        match (gpio, u8::try_from(line)) {
            (Some(g), Ok(l)) if l < 8 => g.power_key = Some(l),
            _ => unmodelled.push(format!("/gpio-keys (power key on phandle {ph} line {line})")),
        }
    }
    // Enough SPIs for every device (at least QEMU virt's 64), at most the
    // 960 a GIC has: a larger SPI number is then refused naming its device.
    let need: u64 = used_spis.iter().max().map_or(0, |&m| u64::from(m) + 1);
    for d in &mut devices {
        if let DeviceSpec::Gic(g) = d {
            g.spis = (need.div_ceil(32).max(2) * 32).min(960) as u32;
        }
    }
    if memory.is_empty() {
        return Err(bad("no memory node".into()));
    }

    let chosen = root.find("chosen");
    let stdout_node = chosen
        .and_then(|c| c.string("stdout-path"))
        .map(|p| p.split(':').next().unwrap_or("").trim_start_matches('/').to_string());
    let stdout = stdout_node
        .as_deref()
        .and_then(|p| {
            node_device
                .iter()
                .find(|(node, _)| node == p || node.split('@').next() == Some(p))
        })
        .or_else(|| {
            node_device.iter().find(|(_, d)| {
                devices
                    .iter()
                    .any(|x| matches!(x, DeviceSpec::Pl011(p) if &p.name == d))
            })
        })
        .map(|(_, d)| d.clone())
        .ok_or_else(|| bad("no PL011 UART to use as the console".into()))?;
    let bootargs = chosen.and_then(|c| c.string("bootargs")).unwrap_or_default();
    let model_name = root.string("model").unwrap_or_else(|| "board from DTB".into());
    let compatible = root
        .strings("compatible")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| vec!["preboard,from-dtb".into()]);
    let spec = BoardSpec::from_parts(
        origin,
        "from-dtb".into(),
        model_name,
        compatible,
        CpuSpec {
            count: cpus.len() as u32,
            model,
            boot_el,
        },
        memory,
        devices,
        ChosenSpec { stdout, bootargs },
    )?;
    Ok((spec, unmodelled))
}

/// SPI numbers in a node's `interrupts` (3-cell GIC specifiers, type 0).
fn spis_of(n: &DtNode) -> Vec<u32> {
    n.cells("interrupts")
        .map(|c| c.chunks_exact(3).filter(|s| s[0] == 0).map(|s| s[1]).collect())
        .unwrap_or_default()
}

/// A board-file device name for node `node` (`pl011@9000000` →
/// `pl011-9000000`), valid by the schema's rules.
fn device_name(node: &str, index: usize) -> String {
    let mut s: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(31)
        .collect();
    if !s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        s = format!("dev{index}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdt_out::{to_dtb, BootInfo};

    /// Our own virt DTB comes back as the same machine, with nothing
    /// left unmodelled.
    #[test]
    fn virt_round_trips() {
        let mut virt = crate::resolve_board("virt").unwrap();
        virt.set_cpu_count(2).unwrap();
        let dt = crate::machine::board_device_tree(
            &virt,
            &BootInfo {
                bootargs: Some("console=ttyAMA0".into()),
                initrd: None,
                seeds: None,
            },
        )
        .unwrap();
        let (b, missing) = board_from_dtb(&to_dtb(&dt).unwrap(), "virt.dtb").unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        let kinds = |k: &str| b.devices.iter().filter(|d| d.kind() == k).count();
        assert_eq!(
            [kinds("Pl031"), kinds("Pl061"), kinds("Pflash"), kinds("VirtioMmio")],
            [1, 1, 1, 32]
        );
        let gpio = b.devices.iter().find_map(|d| match d {
            DeviceSpec::Pl061(g) => Some(g),
            _ => None,
        });
        assert_eq!(gpio.unwrap().power_key, Some(3));
        assert_eq!(
            (b.cpus.count, b.cpus.model.as_str(), b.cpus.boot_el),
            (2, "cortex-a57", 1)
        );
        assert_eq!((b.ram().base, b.ram().size), (0x4000_0000, 0x0800_0000));
        let gic = b.gic().unwrap();
        assert_eq!(
            (gic.version, gic.distributor, gic.cpu_interface),
            (2, 0x0800_0000, Some(0x0801_0000))
        );
        let uart = b.device(&b.chosen.stdout).unwrap();
        assert_eq!(uart.mmio(2)[0].base, 0x0900_0000);
        assert_eq!(uart.interrupts(), [1]);
        assert_eq!(b.chosen.bootargs, "console=ttyAMA0");
    }

    #[test]
    fn unknown_nodes_are_listed_and_bad_blobs_refused() {
        use soc::dt::Node;
        let root = Node::new("")
            .cells("#address-cells", &[2])
            .cells("#size-cells", &[2])
            .child(Node::new("cpus").child(Node::with_unit("cpu", 0).string("compatible", "arm,cortex-a53")))
            .child(Node::with_unit("memory", 0x8000_0000).reg64(&[(0x8000_0000, 0x1000_0000)]))
            .child(
                Node::with_unit("serial", 0x1c09_0000)
                    .string("compatible", "arm,pl011")
                    .reg64(&[(0x1c09_0000, 0x1000)]),
            )
            .child(
                Node::with_unit("mmc", 0x1c05_0000)
                    .string("compatible", "arm,pl180")
                    .reg64(&[(0x1c05_0000, 0x1000)]),
            );
        let (b, missing) = board_from_dtb(&to_dtb(&root).unwrap(), "soc.dtb").unwrap();
        assert_eq!(missing, ["/mmc@1c050000 (arm,pl180)"]);
        assert_eq!((b.cpus.model.as_str(), b.ram().base), ("cortex-a53", 0x8000_0000));
        assert_eq!(b.chosen.stdout, "serial-1c090000");
        let e = board_from_dtb(b"\xd0\x0d\xfe\xed", "x.dtb").unwrap_err().to_string();
        assert!(e.starts_with("x.dtb: not a valid device tree blob: byte 0x4"), "{e}");
    }

    /// Found by `fuzz/` (target `dtb`): an SPI number near `u32::MAX`
    /// overflowed sizing the GIC; it must be refused, naming the device.
    #[test]
    fn huge_spi_numbers_are_refused_not_overflowed() {
        use soc::dt::Node;
        for spi in [0xffff_fff0, u32::MAX, 960] {
            let root = Node::new("")
                .cells("#address-cells", &[2])
                .cells("#size-cells", &[2])
                .child(Node::new("cpus").child(Node::with_unit("cpu", 0).string("compatible", "arm,cortex-a53")))
                .child(Node::with_unit("memory", 0x4000_0000).reg64(&[(0x4000_0000, 0x1000_0000)]))
                .child(
                    Node::with_unit("intc", 0x0800_0000)
                        .string("compatible", "arm,cortex-a15-gic")
                        .reg64(&[(0x0800_0000, 0x1_0000), (0x0801_0000, 0x1_0000)]),
                )
                .child(
                    Node::with_unit("serial", 0x0900_0000)
                        .string("compatible", "arm,pl011")
                        .reg64(&[(0x0900_0000, 0x1000)])
                        .cells("interrupts", &[0, spi, 4]),
                );
            let e = board_from_dtb(&to_dtb(&root).unwrap(), "spi.dtb")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "device `serial-9000000` uses SPI {spi}, but GIC `intc-8000000` has SPIs 0..960"
                )),
                "{e}"
            );
        }
    }
}
