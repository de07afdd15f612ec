//! The guest's device tree: built from the board spec and the device objects
//! as one [`Node`] tree, then rendered as a DTB ([`to_dtb`], for the guest)
//! or as DTS text ([`to_dts`], for people and `dtc`). Both renderings walk
//! the same tree and number phandles the same way, so they cannot disagree.
//!
//! Phandles: every labelled node gets a `phandle` property, appended after
//! its other properties, numbered from 1 in tree (pre-)order. The DTS spells
//! that property out too, so `dtc` compiles it to the same blob.

use std::collections::HashMap;
use std::fmt::Write as _;

use soc::device::Device;
use soc::dt::{Node, PropValue};

use crate::schema::{mpidr_affinity, BoardSpec, PsciConduit};

/// Label of the fixed 24 MHz APB clock that PrimeCell devices reference
/// (`clocks = <&apb_pclk>`).
pub const APB_PCLK_LABEL: &str = "apb_pclk";

/// Label of the interrupt controller node (`interrupt-parent = <&gic>`).
pub const GIC_LABEL: &str = "gic";

/// Interrupt specifier flag: level-sensitive, active high.
pub const IRQ_LEVEL_HIGH: u32 = 4;

/// The device-tree label for device `name` (labels cannot contain `-`).
pub fn dt_label(name: &str) -> String {
    name.replace('-', "_")
}

/// What the loader knows at boot time that the board file does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootInfo {
    /// Replaces the board's `chosen.bootargs` (the `--append` option).
    pub bootargs: Option<String>,
    /// Initial ramdisk as guest physical `(start, end)`, end exclusive.
    pub initrd: Option<(u64, u64)>,
    /// Randomness for the kernel in `/chosen` (a machine that boots one;
    /// not a board's static description).
    pub seeds: Option<BootSeeds>,
}

/// The randomness QEMU's `virt` puts in `/chosen` for every boot: Linux
/// places its image at a random address with `kaslr-seed` (KASLR; without
/// it, "KASLR disabled due to lack of seed") and seeds its random pool
/// from `rng-seed` early in boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootSeeds {
    /// `kaslr-seed`: one 64-bit value (two cells).
    pub kaslr: u64,
    /// `rng-seed`: bytes (QEMU gives 32).
    pub rng: [u8; 32],
}

/// Builds the device tree the guest receives.
///
/// Root properties, then `cpus`, one `memory@BASE` per RAM region, the
/// `apb-pclk` clock if any device references it, each device's
/// [`Device::dt_node`] in the order given, and `chosen`.
pub fn device_tree(spec: &BoardSpec, devices: &[Box<dyn Device>], boot: &BootInfo) -> Node {
    let mut root = Node::new("");
    if spec.gic().is_some() {
        root = root.prop("interrupt-parent", PropValue::PhandleRefs(vec![GIC_LABEL.into()]));
    }
    root = root
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .string("model", &spec.model)
        .prop("compatible", PropValue::Strings(spec.compatible.clone()));
    let psci = spec.cpus.psci_conduit();

    let mut cpus = Node::new("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0]);
    let compatible = format!("arm,{}", spec.cpus.model);
    for i in 0..spec.cpus.count {
        let aff = mpidr_affinity(i);
        let mut cpu = Node::with_unit("cpu", aff)
            .string("device_type", "cpu")
            .string("compatible", &compatible)
            // Aff3 is always 0 here, so the affinity fits one cell.
            .cells("reg", &[aff as u32]);
        if psci.is_some() && spec.cpus.count > 1 {
            cpu = cpu.string("enable-method", "psci");
        }
        cpus = cpus.child(cpu);
    }
    root = root.child(cpus);
    if let Some(conduit) = psci {
        let method = match conduit {
            PsciConduit::Hvc => "hvc",
            PsciConduit::Smc => "smc",
        };
        root = root.child(
            Node::new("psci")
                .strings("compatible", &["arm,psci-1.0", "arm,psci-0.2"])
                .string("method", method),
        );
    }
    if let Some(gic) = spec.gic() {
        // Secure physical, non-secure physical, virtual and hypervisor
        // timer PPIs (INTIDs 29, 30, 27, 26), level high. GICv2 bindings
        // also carry the mask of cores the PPI is wired to.
        let mut flags = IRQ_LEVEL_HIGH;
        if gic.version == 2 {
            flags |= ((1u32 << spec.cpus.count) - 1) << 8;
        }
        let irqs: Vec<u32> = [13, 14, 11, 10].iter().flat_map(|&ppi| [1, ppi, flags]).collect();
        root = root.child(
            Node::new("timer")
                .string("compatible", "arm,armv8-timer")
                .cells("interrupts", &irqs)
                .flag("always-on"),
        );
    }

    for r in &spec.memory {
        root = root.child(
            Node::with_unit("memory", r.base)
                .string("device_type", "memory")
                .reg64(&[(r.base, r.size)]),
        );
    }

    let device_nodes: Vec<(String, Node)> = devices
        .iter()
        .filter_map(|d| d.dt_node().map(|n| (d.name().to_string(), n)))
        .collect();
    if device_nodes.iter().any(|(_, n)| references(n, APB_PCLK_LABEL)) {
        root = root.child(
            Node::new("apb-pclk")
                .labelled(APB_PCLK_LABEL)
                .string("compatible", "fixed-clock")
                .cells("#clock-cells", &[0])
                .cells("clock-frequency", &[24_000_000])
                .string("clock-output-names", "clk24mhz"),
        );
    }

    let mut stdout_path = None;
    for (name, node) in device_nodes {
        if name == spec.chosen.stdout {
            stdout_path = Some(format!("/{}", node.name));
        }
        root = root.child(node);
    }

    // Power keys: QEMU virt's `gpio-keys` node with KEY_POWER on a line
    // of the GPIO controller.
    for d in &spec.devices {
        if let crate::schema::DeviceSpec::Pl061(g) = d {
            if let Some(line) = g.power_key {
                root = root.child(soc::pl061::gpio_keys_node(PropValue::PhandleArgs(
                    dt_label(&g.name),
                    vec![u32::from(line), 0],
                )));
            }
        }
    }

    let mut chosen = Node::new("chosen");
    let bootargs = boot.bootargs.as_deref().unwrap_or(&spec.chosen.bootargs);
    if !bootargs.is_empty() {
        chosen = chosen.string("bootargs", bootargs);
    }
    match stdout_path {
        Some(path) => chosen = chosen.string("stdout-path", &path),
        None => {
            tracing::warn!(stdout = %spec.chosen.stdout, "no device node for the stdout device; /chosen has no stdout-path")
        }
    }
    if let Some((start, end)) = boot.initrd {
        chosen = chosen
            .cells("linux,initrd-start", &[(start >> 32) as u32, start as u32])
            .cells("linux,initrd-end", &[(end >> 32) as u32, end as u32]);
    }
    if let Some(s) = &boot.seeds {
        chosen = chosen
            .cells("kaslr-seed", &[(s.kaslr >> 32) as u32, s.kaslr as u32])
            .prop("rng-seed", PropValue::Bytes(s.rng.to_vec()));
    }
    root.child(chosen)
}

/// Whether `node` or a descendant refers to `label`.
fn references(node: &Node, label: &str) -> bool {
    node.props.iter().any(|(_, v)| match v {
        PropValue::PhandleRefs(l) => l.iter().any(|l| l == label),
        PropValue::PhandleArgs(l, _) => l == label,
        _ => false,
    }) || node.children.iter().any(|c| references(c, label))
}

/// Why a tree could not be turned into a DTB. Each names the node (by path)
/// and, where it applies, the property.
#[derive(Debug, thiserror::Error)]
pub enum DtbError {
    /// A `PhandleRefs` value names a label no node carries.
    #[error("{node}: property `{prop}` refers to unknown label `&{label}`")]
    UnknownLabel {
        /// Path of the referring node.
        node: String,
        /// The property.
        prop: String,
        /// The missing label.
        label: String,
    },
    /// Two nodes carry the same label.
    #[error("label `{label}` is on both {first} and {second}")]
    DuplicateLabel {
        /// The label.
        label: String,
        /// Path of the first node carrying it.
        first: String,
        /// Path of the second.
        second: String,
    },
    /// A node sets `phandle` itself although phandles come from labels.
    #[error("{node}: sets `phandle` directly; give the node a label instead")]
    ExplicitPhandle {
        /// Path of the node.
        node: String,
    },
    /// The FDT writer refused a node or property (bad name, NUL in a
    /// string, too deep, too large).
    #[error("{node}{}: {source}", prop.as_ref().map(|p| format!(": property `{p}`")).unwrap_or_default())]
    Writer {
        /// Path of the node.
        node: String,
        /// The property, if the error was about one.
        prop: Option<String>,
        /// What the writer said.
        #[source]
        source: vm_fdt::Error,
    },
}

fn child_path(parent: &str, name: &str) -> String {
    match parent {
        "" | "/" => format!("/{name}"),
        p => format!("{p}/{name}"),
    }
}

/// Label → phandle, numbered from 1 in tree pre-order.
fn phandles(root: &Node) -> Result<HashMap<String, (u32, String)>, DtbError> {
    fn walk(n: &Node, path: String, out: &mut HashMap<String, (u32, String)>) -> Result<(), DtbError> {
        if n.get("phandle").is_some() {
            return Err(DtbError::ExplicitPhandle { node: path });
        }
        if let Some(label) = &n.label {
            if let Some((_, first)) = out.get(label) {
                return Err(DtbError::DuplicateLabel {
                    label: label.clone(),
                    first: first.clone(),
                    second: path,
                });
            }
            let next = out.len() as u32 + 1;
            out.insert(label.clone(), (next, path.clone()));
        }
        for c in &n.children {
            walk(c, child_path(&path, &c.name), out)?;
        }
        Ok(())
    }
    let mut out = HashMap::new();
    walk(root, "/".to_string(), &mut out)?;
    Ok(out)
}

/// Renders `root` as a flattened device tree blob (version 17).
pub fn to_dtb(root: &Node) -> Result<Vec<u8>, DtbError> {
    let phandles = phandles(root)?;
    let mut w = vm_fdt::FdtWriter::new().map_err(|source| DtbError::Writer {
        node: "/".into(),
        prop: None,
        source,
    })?;
    write_node(&mut w, root, "", "/", &phandles)?;
    w.finish().map_err(|source| DtbError::Writer {
        node: "/".into(),
        prop: None,
        source,
    })
}

fn write_node(
    w: &mut vm_fdt::FdtWriter,
    n: &Node,
    name: &str,
    path: &str,
    phandles: &HashMap<String, (u32, String)>,
) -> Result<(), DtbError> {
    let node_err = |source| DtbError::Writer {
        node: path.to_string(),
        prop: None,
        source,
    };
    let handle = w.begin_node(name).map_err(node_err)?;
    for (prop, value) in &n.props {
        let bytes = match value {
            PropValue::PhandleRefs(labels) => {
                let mut b = Vec::with_capacity(labels.len() * 4);
                for label in labels {
                    let (ph, _) = phandles.get(label).ok_or_else(|| DtbError::UnknownLabel {
                        node: path.to_string(),
                        prop: prop.clone(),
                        label: label.clone(),
                    })?;
                    b.extend(ph.to_be_bytes());
                }
                b
            }
            PropValue::PhandleArgs(label, args) => {
                let (ph, _) = phandles.get(label).ok_or_else(|| DtbError::UnknownLabel {
                    node: path.to_string(),
                    prop: prop.clone(),
                    label: label.clone(),
                })?;
                std::iter::once(*ph)
                    .chain(args.iter().copied())
                    .flat_map(u32::to_be_bytes)
                    .collect()
            }
            PropValue::Strings(v) if v.iter().any(|s| s.contains('\0')) => {
                return Err(DtbError::Writer {
                    node: path.to_string(),
                    prop: Some(prop.clone()),
                    source: vm_fdt::Error::InvalidString,
                })
            }
            other => value_bytes(other),
        };
        w.property(prop, &bytes).map_err(|source| DtbError::Writer {
            node: path.to_string(),
            prop: Some(prop.clone()),
            source,
        })?;
    }
    if let Some(label) = &n.label {
        // `phandles` holds every label in the tree.
        let ph = phandles.get(label).map_or(0, |(ph, _)| *ph);
        w.property_phandle(ph).map_err(|source| DtbError::Writer {
            node: path.to_string(),
            prop: Some("phandle".into()),
            source,
        })?;
    }
    for c in &n.children {
        write_node(w, c, &c.name, &child_path(path, &c.name), phandles)?;
    }
    w.end_node(handle).map_err(node_err)
}

/// The encoded value of a property that needs no phandle resolution.
fn value_bytes(v: &PropValue) -> Vec<u8> {
    match v {
        PropValue::Empty | PropValue::PhandleRefs(_) | PropValue::PhandleArgs(..) => Vec::new(),
        PropValue::Cells(c) => c.iter().flat_map(|c| c.to_be_bytes()).collect(),
        PropValue::Strings(s) => s.iter().flat_map(|s| s.bytes().chain([0])).collect(),
        PropValue::Bytes(b) => b.clone(),
    }
}

/// Renders `root` as DTS source that `dtc -I dts -O dtb` compiles to the
/// same tree as [`to_dtb`]: labels as `label:`, references as `&label`,
/// cells in hex, and each labelled node's `phandle` spelled out.
///
/// Unknown or duplicate labels are printed as they are (dtc reports them);
/// [`to_dtb`] is where they are errors.
pub fn to_dts(root: &Node) -> String {
    let phandles: HashMap<&str, u32> = {
        let mut m = HashMap::new();
        let mut stack = vec![root];
        let mut order = Vec::new();
        // Pre-order, matching `phandles()`.
        while let Some(n) = stack.pop() {
            order.push(n);
            stack.extend(n.children.iter().rev());
        }
        for n in order {
            if let Some(l) = &n.label {
                let next = m.len() as u32 + 1;
                m.entry(l.as_str()).or_insert(next);
            }
        }
        m
    };
    let mut out = String::from("/dts-v1/;\n\n");
    dts_node(&mut out, root, 0, &phandles);
    out
}

fn dts_node(out: &mut String, n: &Node, depth: usize, phandles: &HashMap<&str, u32>) {
    let indent = "\t".repeat(depth);
    let name = if depth == 0 && (n.name.is_empty() || n.name == "/") {
        "/"
    } else {
        n.name.as_str()
    };
    let label = n.label.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
    let _ = writeln!(out, "{indent}{label}{name} {{");
    for (prop, value) in &n.props {
        let _ = writeln!(out, "{indent}\t{}", dts_prop(prop, value));
    }
    if let Some(ph) = n.label.as_deref().and_then(|l| phandles.get(l)) {
        let _ = writeln!(out, "{indent}\tphandle = <{ph:#04x}>;");
    }
    for c in &n.children {
        out.push('\n');
        dts_node(out, c, depth + 1, phandles);
    }
    let _ = writeln!(out, "{indent}}};");
}

fn dts_prop(name: &str, v: &PropValue) -> String {
    let refs = matches!(v, PropValue::PhandleRefs(l) if !l.is_empty()) || matches!(v, PropValue::PhandleArgs(..));
    if value_bytes(v).is_empty() && !refs {
        return format!("{name};");
    }
    let value = match v {
        PropValue::Empty => return format!("{name};"),
        PropValue::Cells(c) => {
            format!(
                "<{}>",
                c.iter().map(|c| format!("{c:#04x}")).collect::<Vec<_>>().join(" ")
            )
        }
        PropValue::Strings(s) => s.iter().map(|s| dts_string(s)).collect::<Vec<_>>().join(", "),
        PropValue::Bytes(b) => {
            format!(
                "[{}]",
                b.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
            )
        }
        PropValue::PhandleRefs(l) => {
            format!("<{}>", l.iter().map(|l| format!("&{l}")).collect::<Vec<_>>().join(" "))
        }
        PropValue::PhandleArgs(l, args) => {
            let args: Vec<String> = args.iter().map(|c| format!("{c:#04x}")).collect();
            format!("<&{l} {}>", args.join(" "))
        }
    };
    format!("{name} = {value};")
}

/// A DTS string literal: printable ASCII as is, `"` and `\` escaped, the rest
/// as C escapes (`\n`, `\t`, `\xNN` per byte).
fn dts_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clocked() -> Node {
        Node::new("")
            .cells("#address-cells", &[2])
            .child(Node::new("clk").labelled("c").cells("#clock-cells", &[0]))
            .child(
                Node::with_unit("dev", 0x1000)
                    .prop("clocks", PropValue::PhandleRefs(vec!["c".into(), "c".into()]))
                    .flag("dma-coherent")
                    .prop("b", PropValue::Bytes(vec![1, 0xab]))
                    .strings("s", &["a\"b\\", "x\ny\u{7f}"]),
            )
    }

    #[test]
    fn dts_renders_every_value_form() {
        let dts = to_dts(&clocked());
        assert_eq!(
            dts,
            "/dts-v1/;\n\n/ {\n\t#address-cells = <0x02>;\n\n\tc: clk {\n\t\t#clock-cells = <0x00>;\n\t\tphandle = <0x01>;\n\t};\n\n\tdev@1000 {\n\t\tclocks = <&c &c>;\n\t\tdma-coherent;\n\t\tb = [01 ab];\n\t\ts = \"a\\\"b\\\\\", \"x\\ny\\x7f\";\n\t};\n};\n"
        );
    }

    #[test]
    fn dtb_resolves_phandles() {
        let dtb = to_dtb(&clocked()).unwrap();
        let fdt = fdt::Fdt::new(&dtb).unwrap();
        let clk = fdt.find_node("/clk").unwrap();
        assert_eq!(clk.property("phandle").unwrap().as_usize(), Some(1));
        let dev = fdt.find_node("/dev@1000").unwrap();
        assert_eq!(dev.property("clocks").unwrap().value, &[0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn unknown_label_is_an_error() {
        let root = Node::new("").child(Node::new("a").prop("clocks", PropValue::PhandleRefs(vec!["nope".into()])));
        let e = to_dtb(&root).unwrap_err().to_string();
        assert_eq!(e, "/a: property `clocks` refers to unknown label `&nope`");
    }

    #[test]
    fn duplicate_label_is_an_error() {
        let root = Node::new("")
            .child(Node::new("a").labelled("x"))
            .child(Node::new("b").labelled("x"));
        let e = to_dtb(&root).unwrap_err().to_string();
        assert_eq!(e, "label `x` is on both /a and /b");
    }

    #[test]
    fn writer_errors_name_node_and_property() {
        let root = Node::new("").child(Node::new("a").string("bad", "x\0y"));
        assert_eq!(
            to_dtb(&root).unwrap_err().to_string(),
            format!("/a: property `bad`: {}", vm_fdt::Error::InvalidString)
        );
        let root = Node::new("").child(Node::new("9bad"));
        assert_eq!(
            to_dtb(&root).unwrap_err().to_string(),
            format!("/9bad: {}", vm_fdt::Error::InvalidNodeName)
        );
    }
}
