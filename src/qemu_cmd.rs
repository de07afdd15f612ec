//! `preboard qemu ARGS...`: the part of `qemu-system-aarch64`'s command line
//! that embedded scripts use, translated into the one `preboard run`
//! command that means the same, which then runs through `run`'s own
//! parser and code (`--print-run` prints it instead). An argument outside
//! the subset is an error naming it, never ignored.
//!
//! QEMU's syntax as scripts write it: `-opt` or `--opt`, the value in the
//! next argument (`-opt=value` is refused, as QEMU refuses it); option
//! lists `[implied,]key=value,...` where `,,` is a literal comma and a bare
//! `key` means `key=on` (`nokey`: `key=off`); a later `-M`/`-m`/`-smp`/
//! `-kernel`... overrides an earlier one, `-drive`/`-device`/`-serial`...
//! accumulate.

use anyhow::{anyhow, bail, Result};
use std::collections::HashMap;

/// Arguments of `preboard qemu`.
#[derive(clap::Args, Debug)]
pub struct QemuArgs {
    /// qemu-system-aarch64 arguments (README, "preboard qemu"). With
    /// `--print-run` among them, print the equivalent `preboard run`
    /// command instead of running it.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "QEMU_ARGS")]
    pub args: Vec<String>,
}

/// The `preboard run` command a QEMU command line stands for.
#[derive(Debug, PartialEq, Eq)]
pub struct Translation {
    /// The arguments after `preboard`, starting with `run`.
    pub argv: Vec<String>,
    /// `--print-run` was given: print the command, do not run it.
    pub print_only: bool,
    /// `-h`: print [`HELP`], do not run.
    pub help: bool,
}

impl Translation {
    /// The command as a shell would take it.
    pub fn command_line(&self) -> String {
        std::iter::once("preboard")
            .chain(self.argv.iter().map(String::as_str))
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=,@%+".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Where `virt` puts RAM; QEMU loads a raw (headerless) kernel 512 KiB in.
const VIRT_RAM_BASE: u64 = 0x4000_0000;
const RAW_KERNEL_OFFSET: u64 = 0x8_0000;

/// `preboard qemu -h`.
pub const HELP: &str = "\
usage: preboard qemu [QEMU OPTIONS...]   (qemu-system-aarch64's syntax; --print-run prints
                                         the equivalent `preboard run` instead of running)
supported:
  -M|-machine virt[,gic-version=2|3|max][,secure=on][,virtualization=on][,accel=tcg]
  -cpu cortex-a53|cortex-a57|cortex-a72|max   (their MIDR; one feature set for all; max: A57's)
  -smp N|cpus=N   -m SIZE|size=SIZE   -kernel FILE   -initrd FILE   -append STR   -dtb FILE
  -bios FILE   -drive if=pflash|none,file=FILE[,format=raw][,id=ID][,unit=N][,readonly=on]
  -device virtio-blk-device,drive=ID[,serial=S] | virtio-net-device,netdev=ID[,mac=M]
        | virtio-rng-device | virtio-serial-device | virtconsole,chardev=ID
  -netdev user,id=ID   -nic user,model=virtio-net-device[,mac=M]   -nic none   -net none
  -chardev stdio|null|pty|file,path=P|socket,port=N[,host=H],server=on,wait=off ,id=ID
  -serial stdio|mon:stdio|null|none|pty|file:PATH|tcp:[HOST]:PORT,server=on,wait=off|chardev:ID
  -nographic  -display none  -monitor none  -nodefaults  -semihosting
  -semihosting-config enable=on[,target=native]  -s  -S  -gdb tcp::PORT  -no-reboot
  -accel tcg  -global virtio-mmio.force-legacy=false
";

/// QEMU options this front end knows: name (without dashes), takes a value.
const OPTIONS: &[(&str, bool)] = &[
    ("M", true),
    ("machine", true),
    ("cpu", true),
    ("smp", true),
    ("m", true),
    ("kernel", true),
    ("initrd", true),
    ("append", true),
    ("dtb", true),
    ("bios", true),
    ("drive", true),
    ("device", true),
    ("netdev", true),
    ("nic", true),
    ("net", true),
    ("chardev", true),
    ("serial", true),
    ("global", true),
    ("nographic", false),
    ("display", true),
    ("monitor", true),
    ("nodefaults", false),
    ("semihosting", false),
    ("semihosting-config", true),
    ("s", false),
    ("S", false),
    ("gdb", true),
    ("no-reboot", false),
    ("accel", true),
    ("print-run", false),
    ("h", false),
    ("help", false),
];

/// One `key=value` option list (`-drive`, `-device`, ...), consumed key by
/// key; what is left over is an error naming the argument.
struct Opts {
    /// The argument as given, e.g. `-drive if=none,file=x`, for messages.
    arg: String,
    items: Vec<(String, String)>,
}

impl Opts {
    /// Splits `value` (of option `opt`) at commas not doubled; the first
    /// item without `=` is the value of `implied` when there is one.
    fn parse(opt: &str, value: &str, implied: Option<&str>) -> Result<Opts> {
        let arg = format!("{opt} {value}");
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            if c == ',' {
                if chars.peek() == Some(&',') {
                    chars.next();
                    cur.push(',');
                } else {
                    parts.push(std::mem::take(&mut cur));
                }
            } else {
                cur.push(c);
            }
        }
        parts.push(cur);
        let mut items = Vec::new();
        for (i, part) in parts.into_iter().enumerate() {
            match (part.split_once('='), implied) {
                (None, Some(key)) if i == 0 => items.push((key.to_string(), part)),
                (Some((k, v)), _) if !k.is_empty() => items.push((k.to_string(), v.to_string())),
                (None, _) if !part.is_empty() => match part.strip_prefix("no") {
                    Some(k) if !k.is_empty() => items.push((k.to_string(), "off".into())),
                    _ => items.push((part, "on".into())),
                },
                _ => bail!("`{arg}`: empty option `{part}`"),
            }
        }
        Ok(Opts { arg, items })
    }

    /// The value of `key` (the last one if repeated), removed.
    fn take(&mut self, key: &str) -> Option<String> {
        let mut last = None;
        self.items.retain(|(k, v)| {
            if k == key {
                last = Some(v.clone());
                false
            } else {
                true
            }
        });
        last
    }

    fn take_bool(&mut self, key: &str) -> Result<Option<bool>> {
        self.take(key).map(|v| on_off(&self.arg, key, &v)).transpose()
    }

    /// Errors unless every key was consumed.
    fn done(self) -> Result<()> {
        match self.items.first() {
            None => Ok(()),
            Some((k, v)) => bail!("`{}`: `{k}={v}` is not supported by preboard qemu", self.arg),
        }
    }
}

fn on_off(arg: &str, key: &str, v: &str) -> Result<bool> {
    match v {
        "on" | "yes" | "true" | "y" => Ok(true),
        "off" | "no" | "false" | "n" => Ok(false),
        _ => bail!("`{arg}`: `{key}={v}`: expected on or off"),
    }
}

/// QEMU's size syntax (`-m`): a decimal number, possibly with a fraction,
/// and an optional suffix B, K, M, G, T (any case); no suffix means MiB.
pub fn parse_size(s: &str) -> Result<u64> {
    let bad = || anyhow!("`{s}` is not a size (e.g. 512M, 1.5G, 65536K; a bare number is MiB)");
    let t = s.trim();
    let (num, shift) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'B' => 0,
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(bad()),
            };
            (&t[..t.len() - 1], shift)
        }
        _ => (t, 20),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: u64 = int.parse().map_err(|_| bad())?;
    let mut bytes = whole.checked_mul(1 << shift).ok_or_else(bad)?;
    if !frac.is_empty() {
        // Exact while the fraction has few digits: frac / 10^n of the unit.
        let digits = u32::try_from(frac.len()).map_err(|_| bad())?;
        let denom = 10u128.checked_pow(digits).ok_or_else(bad)?;
        let part = frac.parse::<u128>().map_err(|_| bad())? * (1u128 << shift);
        if part % denom != 0 {
            bail!("`{s}` is not a whole number of bytes");
        }
        bytes = bytes
            .checked_add(u64::try_from(part / denom).map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    if bytes == 0 {
        bail!("`{s}`: the memory size must not be 0");
    }
    Ok(bytes)
}

/// A size as `preboard run -m` takes it.
fn size_arg(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}K", b >> 10),
        b => format!("{b}B"),
    }
}

/// A `-drive`.
struct Drive {
    arg: String,
    interface: String,
    file: String,
    id: Option<String>,
    unit: Option<usize>,
    read_only: bool,
}

/// A `-device`.
struct Device {
    arg: String,
    driver: String,
    /// `drive=`, `netdev=` or `chardev=`: the backend it connects to.
    backend: Option<String>,
    serial: Option<String>,
    mac: Option<String>,
}

/// Everything the command line said, before translation.
#[derive(Default)]
struct Parsed {
    gic_v3: bool,
    secure: bool,
    virtualization: bool,
    cpu: Option<String>,
    smp: Option<u32>,
    memory: Option<u64>,
    kernel: Option<String>,
    initrd: Option<String>,
    append: Option<String>,
    dtb: Option<String>,
    bios: Option<String>,
    drives: Vec<Drive>,
    devices: Vec<Device>,
    /// `-netdev user,id=ID` (and `-nic`'s own) ids.
    netdevs: Vec<String>,
    /// `-nic user,model=virtio-net-device`: the MAC, if given.
    nics: Vec<Option<String>>,
    /// `-chardev` by id: the backend as `preboard run` spells it.
    chardevs: HashMap<String, String>,
    /// `-serial`: the backend as `preboard run` spells it, and the argument.
    serial: Vec<(String, String)>,
    nographic: bool,
    display_none: bool,
    monitor_none: bool,
    nodefaults: bool,
    gdb: Option<String>,
    wait_gdb: bool,
    no_reboot: bool,
    print_only: bool,
    help: bool,
}

/// Translates a qemu-system-aarch64 command line into `preboard run`'s.
pub fn translate(args: &[String]) -> Result<Translation> {
    let p = parse(args)?;
    if p.help {
        return Ok(Translation {
            argv: Vec::new(),
            print_only: false,
            help: true,
        });
    }
    build(p)
}

fn parse(args: &[String]) -> Result<Parsed> {
    let mut p = Parsed::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(name) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            bail!(
                "`{arg}`: a bare argument (QEMU's disk image shorthand) is not supported by preboard qemu; use -drive"
            );
        };
        let Some(&(_, takes_value)) = OPTIONS.iter().find(|(n, _)| *n == name) else {
            if let Some((opt, _)) = name.split_once('=') {
                if OPTIONS.iter().any(|(n, _)| *n == opt) {
                    bail!("`{arg}`: invalid option (QEMU takes the value as the next argument: `-{opt} VALUE`)");
                }
            }
            bail!("`{arg}`: option not supported by preboard qemu (`preboard qemu -h` lists the supported ones)");
        };
        let value = if takes_value {
            match it.next() {
                Some(v) => v.as_str(),
                None => bail!("`{arg}` requires an argument"),
            }
        } else {
            ""
        };
        let opt = format!("-{name}");
        match name {
            "M" | "machine" => machine(&mut p, &opt, value)?,
            "cpu" => {
                match value {
                    "cortex-a53" | "cortex-a57" | "cortex-a72" | "max" => {}
                    _ => bail!(
                        "`{opt} {value}`: CPU not supported by preboard qemu (cortex-a53, cortex-a57, cortex-a72, max)"
                    ),
                }
                p.cpu = Some(value.to_string());
            }
            "smp" => {
                let mut o = Opts::parse(&opt, value, Some("cpus"))?;
                let n = o.take("cpus").ok_or_else(|| anyhow!("`{opt} {value}`: no CPU count"))?;
                let n: u32 = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| anyhow!("`{opt} {value}`: `{n}` is not a CPU count"))?;
                if let Some(max) = o.take("maxcpus") {
                    if max.parse::<u32>().ok() != Some(n) {
                        bail!("`{opt} {value}`: maxcpus other than cpus (CPU hotplug) is not supported by preboard qemu");
                    }
                }
                o.done()?;
                p.smp = Some(n);
            }
            "m" => {
                let mut o = Opts::parse(&opt, value, Some("size"))?;
                let size = o.take("size").ok_or_else(|| anyhow!("`{opt} {value}`: no size"))?;
                o.done()?;
                p.memory = Some(parse_size(&size).map_err(|e| anyhow!("`{opt} {value}`: {e}"))?);
            }
            "kernel" => p.kernel = Some(value.to_string()),
            "initrd" => p.initrd = Some(value.to_string()),
            "append" => p.append = Some(value.to_string()),
            "dtb" => p.dtb = Some(value.to_string()),
            "bios" => p.bios = Some(value.to_string()),
            "drive" => p.drives.push(drive(&opt, value)?),
            "device" => p.devices.push(device(&opt, value)?),
            "netdev" => {
                let mut o = Opts::parse(&opt, value, Some("type"))?;
                let kind = o.take("type").unwrap_or_default();
                if kind != "user" {
                    bail!("`{opt} {value}`: network backend `{kind}` is not supported by preboard qemu (user)");
                }
                let id = o
                    .take("id")
                    .ok_or_else(|| anyhow!("`{opt} {value}`: Parameter 'id' is missing"))?;
                o.done()?;
                p.netdevs.push(id);
            }
            // No default NIC: Preboard has none to remove (QEMU's is PCI).
            "nic" | "net" if value == "none" => {}
            "net" => bail!("`{opt} {value}`: only -net none is supported by preboard qemu (use -netdev user,id=ID + -device virtio-net-device,netdev=ID)"),
            "nic" => {
                let mut o = Opts::parse(&opt, value, Some("type"))?;
                let kind = o.take("type").unwrap_or_default();
                if kind != "user" {
                    bail!("`{opt} {value}`: network backend `{kind}` is not supported by preboard qemu (user)");
                }
                match o.take("model").as_deref() {
                    Some("virtio-net-device") => {}
                    Some(m) => bail!("`{opt} {value}`: NIC model `{m}` is not supported by preboard qemu (virtio-net-device)"),
                    None => bail!(
                        "`{opt} {value}`: QEMU's default NIC on virt is virtio-net-pci, which Preboard does not model; add model=virtio-net-device"
                    ),
                }
                let mac = o.take("mac");
                o.done()?;
                p.nics.push(mac);
            }
            "chardev" => {
                let (id, spec) = chardev(&opt, value)?;
                if p.chardevs.insert(id.clone(), spec).is_some() {
                    bail!("`{opt} {value}`: duplicate chardev id `{id}`");
                }
            }
            "serial" => {
                let spec = serial(&opt, value)?;
                p.serial.push((spec, format!("{opt} {value}")));
            }
            "global" => match value {
                // What Preboard's virtio-mmio is anyway (modern, version 2).
                "virtio-mmio.force-legacy=false" | "virtio-mmio.force-legacy=off" => {}
                _ => bail!(
                    "`{opt} {value}`: not supported by preboard qemu (only virtio-mmio.force-legacy=false: Preboard's virtio-mmio is modern)"
                ),
            },
            "nographic" => p.nographic = true,
            "display" => match value {
                "none" => p.display_none = true,
                _ => bail!("`{opt} {value}`: Preboard has no display (only -display none)"),
            },
            "monitor" => match value {
                "none" => p.monitor_none = true,
                _ => bail!("`{opt} {value}`: Preboard has no QEMU monitor (only -monitor none; Ctrl-a x quits)"),
            },
            "nodefaults" => p.nodefaults = true,
            // Preboard always answers semihosting calls.
            "semihosting" => {}
            "semihosting-config" => {
                let mut o = Opts::parse(&opt, value, Some("enable"))?;
                if o.take_bool("enable")? == Some(false) {
                    bail!("`{opt} {value}`: Preboard always answers semihosting calls (enable=off is not supported)");
                }
                match o.take("target").as_deref() {
                    None | Some("native" | "auto") => {}
                    Some(t) => bail!("`{opt} {value}`: target={t} is not supported by preboard qemu (native)"),
                }
                o.done()?;
            }
            "s" => p.gdb = Some("tcp::1234".into()),
            "S" => p.wait_gdb = true,
            "gdb" => p.gdb = Some(value.to_string()),
            "no-reboot" => p.no_reboot = true,
            "accel" => {
                let mut o = Opts::parse(&opt, value, Some("accel"))?;
                accel(&opt, value, o.take("accel"))?;
                o.done()?;
            }
            "print-run" => p.print_only = true,
            "h" | "help" => p.help = true,
            _ => unreachable!("option -{name} is in OPTIONS"),
        }
    }
    Ok(p)
}

fn accel(opt: &str, value: &str, accel: Option<String>) -> Result<()> {
    match accel.as_deref() {
        None | Some("tcg") => Ok(()),
        Some(a) => bail!("`{opt} {value}`: accelerator `{a}` is not supported (Preboard is its own engine: tcg only)"),
    }
}

fn machine(p: &mut Parsed, opt: &str, value: &str) -> Result<()> {
    let mut o = Opts::parse(opt, value, Some("type"))?;
    if let Some(kind) = o.take("type") {
        // `virt` and its versioned aliases (virt-7.2, ...).
        let versioned = kind
            .strip_prefix("virt-")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
        if kind != "virt" && !versioned {
            bail!("`{opt} {value}`: machine `{kind}` is not supported by preboard qemu (virt)");
        }
    }
    if let Some(v) = o.take("gic-version") {
        p.gic_v3 = match v.as_str() {
            "2" => false,
            // TCG's highest is 3.
            "3" | "max" => true,
            _ => bail!("`{opt} {value}`: gic-version={v} is not supported by preboard qemu (2, 3, max)"),
        };
    }
    if let Some(s) = o.take_bool("secure")? {
        p.secure = s;
    }
    if let Some(v) = o.take_bool("virtualization")? {
        p.virtualization = v;
    }
    accel(opt, value, o.take("accel"))?;
    o.done()
}

fn drive(opt: &str, value: &str) -> Result<Drive> {
    let mut o = Opts::parse(opt, value, None)?;
    let arg = o.arg.clone();
    // QEMU's default interface on virt is virtio (PCI).
    let interface = o.take("if").unwrap_or_else(|| "virtio".into());
    if interface != "pflash" && interface != "none" {
        bail!(
            "`{arg}`: if={interface} is not supported by preboard qemu (if=pflash, or if=none with -device virtio-blk-device,drive=ID)"
        );
    }
    let file = o
        .take("file")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| anyhow!("`{arg}`: no file= (Preboard needs an image file)"))?;
    match o.take("format").as_deref() {
        None | Some("raw") => {}
        Some(f) => bail!("`{arg}`: format={f} is not supported by preboard qemu (raw)"),
    }
    let unit = match (o.take("unit"), o.take("index")) {
        (Some(u), None) | (None, Some(u)) => {
            Some(u.parse().map_err(|_| anyhow!("`{arg}`: `{u}` is not a unit number"))?)
        }
        (None, None) => None,
        (Some(_), Some(_)) => bail!("`{arg}`: give unit= or index=, not both"),
    };
    if unit.is_some() && interface != "pflash" {
        bail!("`{arg}`: unit=/index= only apply to if=pflash here");
    }
    if o.take_bool("snapshot")? == Some(true) {
        bail!("`{arg}`: snapshot=on (a throw-away overlay) is not supported by preboard qemu");
    }
    let read_only = o.take_bool("readonly")?.unwrap_or(false);
    let id = o.take("id");
    o.done()?;
    Ok(Drive {
        arg,
        interface,
        file,
        id,
        unit,
        read_only,
    })
}

fn device(opt: &str, value: &str) -> Result<Device> {
    let mut o = Opts::parse(opt, value, Some("driver"))?;
    let arg = o.arg.clone();
    let driver = o.take("driver").unwrap_or_default();
    let backend_key = match driver.as_str() {
        "virtio-blk-device" => Some("drive"),
        "virtio-net-device" => Some("netdev"),
        "virtconsole" => Some("chardev"),
        "virtio-rng-device" | "virtio-serial-device" => None,
        _ => bail!(
            "`{arg}`: device `{driver}` is not supported by preboard qemu (virtio-blk-device, virtio-net-device, virtio-rng-device, virtio-serial-device, virtconsole)"
        ),
    };
    let backend = match backend_key {
        Some(key) => Some(o.take(key).ok_or_else(|| anyhow!("`{arg}`: {driver} needs {key}=ID"))?),
        None => None,
    };
    let serial = if driver == "virtio-blk-device" {
        o.take("serial")
    } else {
        None
    };
    let mac = if driver == "virtio-net-device" {
        o.take("mac")
    } else {
        None
    };
    // An id names the device for QEMU's monitor only.
    o.take("id");
    o.done()?;
    Ok(Device {
        arg,
        driver,
        backend,
        serial,
        mac,
    })
}

/// A TCP server's `preboard run` spelling from QEMU's host, port and
/// options. QEMU's empty host listens on every interface.
fn tcp_server(arg: &str, host: &str, port: &str, o: &mut Opts) -> Result<String> {
    let server = o.take_bool("server")?.unwrap_or(false);
    let wait = o.take_bool("wait")?.unwrap_or(true);
    if o.take_bool("telnet")? == Some(true) {
        bail!("`{arg}`: telnet is not supported by preboard qemu (raw TCP only)");
    }
    if !server {
        bail!(
            "`{arg}`: connecting out (no server=on) is not supported by preboard qemu; listen with server=on,wait=off"
        );
    }
    if wait {
        bail!("`{arg}`: waiting for a client before starting (wait=on, QEMU's default) is not supported by preboard qemu; add wait=off");
    }
    let port: u16 = port
        .parse()
        .map_err(|_| anyhow!("`{arg}`: `{port}` is not a port number"))?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Ok(if host.is_empty() {
        format!("tcp:0.0.0.0:{port}")
    } else if host.contains(':') {
        format!("tcp:[{host}]:{port}")
    } else {
        format!("tcp:{host}:{port}")
    })
}

/// `-chardev BACKEND,id=ID,...`: the id and the backend as `preboard run`
/// spells it.
fn chardev(opt: &str, value: &str) -> Result<(String, String)> {
    let mut o = Opts::parse(opt, value, Some("backend"))?;
    let arg = o.arg.clone();
    let backend = o.take("backend").unwrap_or_default();
    let id = o
        .take("id")
        .ok_or_else(|| anyhow!("`{arg}`: Parameter 'id' is missing"))?;
    let spec = match backend.as_str() {
        "stdio" => {
            if o.take_bool("signal")? == Some(true) {
                bail!("`{arg}`: signal=on is not supported (Ctrl-c goes to the guest; Ctrl-a x quits)");
            }
            "stdio".to_string()
        }
        "null" => "null".into(),
        "pty" => "pty".into(),
        "file" => {
            let path = o.take("path").ok_or_else(|| anyhow!("`{arg}`: file needs path="))?;
            format!("file:{path}")
        }
        "socket" => {
            let port = o
                .take("port")
                .ok_or_else(|| anyhow!("`{arg}`: socket needs port= (unix sockets are not supported)"))?;
            let host = o.take("host").unwrap_or_default();
            tcp_server(&arg, &host, &port, &mut o)?
        }
        _ => bail!(
            "`{arg}`: chardev backend `{backend}` is not supported by preboard qemu (stdio, null, pty, file, socket)"
        ),
    };
    if o.take_bool("mux")? == Some(true) {
        bail!("`{arg}`: mux=on is not supported by preboard qemu");
    }
    o.done()?;
    Ok((id, spec))
}

/// `-serial SPEC`: the backend as `preboard run` spells it (`chardev:ID`
/// is resolved later, as `chardev:ID`).
fn serial(opt: &str, value: &str) -> Result<String> {
    let arg = format!("{opt} {value}");
    let (kind, rest) = value.split_once(':').unwrap_or((value, ""));
    Ok(match (kind, rest) {
        ("stdio", "") | ("mon", "stdio") => "stdio".into(),
        // QEMU's -serial none leaves the UART unconnected.
        ("null" | "none", "") => "null".into(),
        ("pty", "") => "pty".into(),
        ("file", p) if !p.is_empty() => format!("file:{p}"),
        ("chardev", id) if !id.is_empty() => format!("chardev:{id}"),
        ("tcp", r) if !r.is_empty() => {
            let (addr, opts) = r.split_once(',').unwrap_or((r, ""));
            let (host, port) = addr
                .rsplit_once(':')
                .ok_or_else(|| anyhow!("`{arg}`: tcp needs HOST:PORT (HOST may be empty)"))?;
            let mut o = if opts.is_empty() {
                Opts {
                    arg: arg.clone(),
                    items: Vec::new(),
                }
            } else {
                Opts::parse(opt, opts, None)?
            };
            o.arg = arg.clone();
            let spec = tcp_server(&arg, host, port, &mut o)?;
            o.done()?;
            spec
        }
        _ => bail!("`{arg}`: serial backend not supported by preboard qemu (stdio, mon:stdio, null, none, pty, file:PATH, tcp:[HOST]:PORT,server=on,wait=off, chardev:ID)"),
    })
}

/// What kind of image `-kernel` names, as QEMU tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KernelKind {
    /// An ELF: QEMU starts it at the highest implemented EL.
    Elf,
    /// A Linux arm64 Image (or gzip'd): at EL2 with virtualization=on, else EL1.
    Linux,
    /// Anything else: loaded as a headerless Image at RAM + 512 KiB, booted as Linux.
    Raw,
}

fn kernel_kind(path: &str) -> Result<KernelKind> {
    use std::io::Read as _;
    let mut head = [0u8; 64];
    let n = match std::fs::File::open(path).and_then(|mut f| f.read(&mut head)) {
        Ok(n) => n,
        // `preboard run` reports an unreadable kernel (exit code 66).
        Err(_) => return Ok(KernelKind::Elf),
    };
    let head = &head[..n];
    Ok(if head.starts_with(b"\x7fELF") {
        KernelKind::Elf
    } else if head.starts_with(&[0x1f, 0x8b]) || head.get(0x38..0x3c) == Some(b"ARM\x64") {
        KernelKind::Linux
    } else if head.starts_with(&[0x27, 0x05, 0x19, 0x56]) {
        bail!("`-kernel {path}`: U-Boot uImages are not supported by preboard qemu");
    } else {
        KernelKind::Raw
    })
}

fn build(p: Parsed) -> Result<Translation> {
    let mut a: Vec<String> = vec!["run".into()];
    let mut push = |v: &[&str]| a.extend(v.iter().map(|s| s.to_string()));
    if p.cpu.is_none() {
        bail!(
            "no -cpu: QEMU's default CPU for virt is the 32-bit cortex-a15, which Preboard does not model; give -cpu cortex-a57 (or cortex-a53, cortex-a72, max)"
        );
    }
    push(&["--board", if p.gic_v3 { "virt-gicv3" } else { "virt" }]);
    // virt's cores are Cortex-A57s; `max` is Preboard's whole feature set
    // on them (QEMU's max also says cortex-a57 in the device tree).
    if let Some(m @ ("cortex-a53" | "cortex-a72")) = p.cpu.as_deref() {
        push(&["--cpu", m]);
    }
    if let Some(m) = p.memory {
        push(&["-m", &size_arg(m)]);
    }
    if let Some(n) = p.smp {
        push(&["--smp", &n.to_string()]);
    }
    // QEMU starts an ELF or firmware at the highest implemented EL and a
    // Linux or raw image at EL2 or EL1.
    let highest = if p.secure {
        3
    } else if p.virtualization {
        2
    } else {
        1
    };
    let kind = p.kernel.as_deref().map(kernel_kind).transpose()?;
    let boot_el = match kind {
        Some(KernelKind::Linux | KernelKind::Raw) if p.virtualization => 2,
        Some(KernelKind::Linux | KernelKind::Raw) => 1,
        _ => highest,
    };
    if boot_el != 1 {
        push(&["--boot-el", &boot_el.to_string()]);
    }
    if p.kernel.is_none() {
        // (-dtb is allowed: QEMU puts it in RAM for the firmware.)
        for (opt, v) in [("-append", &p.append), ("-initrd", &p.initrd)] {
            if v.is_some() {
                bail!("`{opt}` only allowed with -kernel option");
            }
        }
    }
    if let Some(k) = &p.kernel {
        if p.bios.is_some() {
            bail!("`-bios` with `-kernel`: QEMU hands the kernel to the firmware through fw_cfg, which Preboard does not model");
        }
        push(&["--kernel", k]);
        if kind == Some(KernelKind::Raw) {
            push(&["--load-addr", &format!("{:#x}", VIRT_RAM_BASE + RAW_KERNEL_OFFSET)]);
        }
    }
    for (opt, v) in [("--initrd", &p.initrd), ("--append", &p.append), ("--dtb", &p.dtb)] {
        if let Some(v) = v {
            push(&[opt, v]);
        }
    }
    if p.no_reboot {
        push(&["--no-reboot"]);
    }

    // Flash: -bios is bank 0's contents (not written back); -drive
    // if=pflash takes its unit or the next free one.
    let mut flash: Vec<(usize, String)> = Vec::new();
    if let Some(b) = &p.bios {
        flash.push((0, format!("{b},readonly=on")));
    }
    let mut next_unit = 0;
    for d in p.drives.iter().filter(|d| d.interface == "pflash") {
        let unit = match d.unit {
            Some(u) => u,
            None => {
                // The first unit no earlier drive took (-bios is not a
                // drive: QEMU then refuses unit 0 twice).
                while flash
                    .iter()
                    .skip(usize::from(p.bios.is_some()))
                    .any(|&(u, _)| u == next_unit)
                {
                    next_unit += 1;
                }
                next_unit
            }
        };
        if flash.iter().any(|&(u, _)| u == unit) {
            if p.bios.is_some() && unit == 0 {
                bail!("`{}`: flash bank 0 is given by both -bios and -drive if=pflash", d.arg);
            }
            bail!("`{}`: flash unit {unit} is given twice", d.arg);
        }
        let ro = if d.read_only { ",readonly=on" } else { "" };
        flash.push((unit, format!("{}{ro}", d.file)));
    }
    flash.sort_by_key(|&(u, _)| u);
    for (i, (unit, spec)) in flash.iter().enumerate() {
        let spec = check_path_commas(spec)?;
        let spec = if *unit == i {
            spec
        } else {
            format!("{spec},unit={unit}")
        };
        push(&["--pflash", &spec]);
    }
    if p.kernel.is_none() && flash.is_empty() {
        bail!("nothing to run: give -kernel, -bios or -drive if=pflash");
    }
    if p.kernel.is_some() && flash.first().is_some_and(|&(u, _)| u == 0) {
        bail!(
            "`-kernel` with flash bank 0 (-drive if=pflash,unit=0): QEMU boots that firmware and hands it the kernel through fw_cfg, which Preboard does not model"
        );
    }

    // Devices, resolved against their backends.
    let mut used = std::collections::HashSet::new();
    let mut serial_bus = false;
    let mut console: Option<String> = None;
    let mut rng = false;
    let mut nics: Vec<Option<String>> = Vec::new();
    for d in &p.devices {
        match d.driver.as_str() {
            "virtio-blk-device" => {
                let id = d.backend.as_deref().unwrap_or_default();
                let drive = p
                    .drives
                    .iter()
                    .find(|x| x.id.as_deref() == Some(id))
                    .ok_or_else(|| anyhow!("`{}`: no -drive with id={id}", d.arg))?;
                if drive.interface != "none" {
                    bail!("`{}`: drive {id} is if={}, not if=none", d.arg, drive.interface);
                }
                if !used.insert(format!("drive:{id}")) {
                    bail!("`{}`: drive {id} is already attached to a device", d.arg);
                }
                let mut spec = check_path_commas(&drive.file)?;
                if drive.read_only {
                    spec.push_str(",readonly=on");
                }
                if let Some(s) = &d.serial {
                    if s.contains(',') {
                        bail!("`{}`: a serial with a comma is not supported", d.arg);
                    }
                    spec.push_str(&format!(",serial={s}"));
                }
                push(&["--drive", &spec]);
            }
            "virtio-net-device" => {
                let id = d.backend.as_deref().unwrap_or_default();
                if !p.netdevs.iter().any(|n| n == id) {
                    bail!("`{}`: no -netdev with id={id}", d.arg);
                }
                if !used.insert(format!("netdev:{id}")) {
                    bail!("`{}`: netdev {id} is already attached to a device", d.arg);
                }
                nics.push(d.mac.clone());
            }
            "virtio-rng-device" => {
                if std::mem::replace(&mut rng, true) {
                    bail!("`{}`: Preboard models one virtio-rng", d.arg);
                }
            }
            "virtio-serial-device" => {
                if std::mem::replace(&mut serial_bus, true) {
                    bail!("`{}`: Preboard models one virtio-serial-device", d.arg);
                }
            }
            "virtconsole" => {
                if !serial_bus {
                    bail!(
                        "`{}`: no virtio-serial-device before it (QEMU: No 'virtio-serial-bus' bus found)",
                        d.arg
                    );
                }
                if console.is_some() {
                    bail!("`{}`: Preboard's virtio-serial-device has one port, the console", d.arg);
                }
                let id = d.backend.as_deref().unwrap_or_default();
                let spec = p
                    .chardevs
                    .get(id)
                    .ok_or_else(|| anyhow!("`{}`: no -chardev with id={id}", d.arg))?;
                console = Some(spec.clone());
            }
            _ => unreachable!("device() accepts only the drivers above"),
        }
    }
    nics.extend(p.nics.iter().cloned());
    if rng {
        push(&["--rng"]);
    }
    if serial_bus {
        // A virtio-serial-device without a virtconsole has no port to
        // connect; Preboard's always has its console port.
        let spec = console.as_deref().unwrap_or("null");
        push(&["--virtio-console", spec]);
    }
    for mac in &nics {
        match mac {
            Some(m) => push(&["--nic", &format!("user,mac={m}")]),
            None => push(&["--nic", "user"]),
        }
    }

    // The UART: -serial as given; otherwise -nographic's mon:stdio (also
    // without any display option: Preboard has no window), and nothing with
    // -display none or -nodefaults.
    let mut serial: Vec<String> = Vec::new();
    for (spec, arg) in &p.serial {
        let spec = match spec.strip_prefix("chardev:") {
            Some(id) => p
                .chardevs
                .get(id)
                .cloned()
                .ok_or_else(|| anyhow!("`{arg}`: no -chardev with id={id}"))?,
            None => spec.clone(),
        };
        if spec == "stdio" && p.nographic && !p.monitor_none && arg != "-serial mon:stdio" {
            bail!("`{arg}`: cannot use stdio by multiple character devices (-nographic puts the monitor there; use -serial mon:stdio)");
        }
        serial.push(spec);
    }
    if serial.is_empty() && (p.nodefaults || (p.display_none && !p.nographic)) {
        serial.push("null".into());
    }
    for s in &serial {
        push(&["--serial", s]);
    }
    if let Some(g) = &p.gdb {
        push(&["--gdb", g]);
    }
    if p.wait_gdb {
        push(&["--wait-gdb"]);
    }
    Ok(Translation {
        argv: a,
        print_only: p.print_only,
        help: false,
    })
}

/// `preboard run` splits its device specs at every comma: a path with one
/// cannot be passed on.
fn check_path_commas(spec_or_path: &str) -> Result<String> {
    let path = spec_or_path.split(",readonly=on").next().unwrap_or_default();
    if path.contains(',') {
        bail!("`{path}`: a file name with a comma is not supported by preboard qemu");
    }
    Ok(spec_or_path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn run_args(s: &[&str]) -> Vec<String> {
        translate(&args(s)).unwrap_or_else(|e| panic!("{s:?}: {e}")).argv
    }

    fn error(s: &[&str]) -> String {
        match translate(&args(s)) {
            Ok(t) => panic!("{s:?} was accepted: {:?}", t.argv),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn sizes_follow_qemu() {
        assert_eq!(parse_size("512").unwrap(), 512 << 20);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("300000K").unwrap(), 300_000 << 10);
        assert_eq!(parse_size("1048576B").unwrap(), 1 << 20);
        assert_eq!(parse_size("0.5").unwrap(), 1 << 19);
        for bad in ["", "M", "12X", "1.5.5G", "-1", "0", "0x10", "0.3B"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(size_arg(3 << 29), "1536M");
        assert_eq!(size_arg(300_000 << 10), "300000K");
        assert_eq!(size_arg(1000), "1000B");
    }

    #[test]
    fn option_lists_split_at_single_commas() {
        let mut o = Opts::parse("-drive", "file=a,,b.img,if=none,readonly,nosnapshot", None).unwrap();
        assert_eq!(o.take("file").as_deref(), Some("a,b.img"));
        assert_eq!(o.take("if").as_deref(), Some("none"));
        assert_eq!(o.take_bool("readonly").unwrap(), Some(true));
        assert_eq!(o.take_bool("snapshot").unwrap(), Some(false));
        o.done().unwrap();
        // The implied key takes the first item without `=`; later keys win.
        let mut o = Opts::parse("-M", "virt,gic-version=2,gic-version=3", Some("type")).unwrap();
        assert_eq!(o.take("type").as_deref(), Some("virt"));
        assert_eq!(o.take("gic-version").as_deref(), Some("3"));
        o.done().unwrap();
        let mut o = Opts::parse("-device", "virtio-rng-device,bus=x", Some("driver")).unwrap();
        assert_eq!(o.take("driver").as_deref(), Some("virtio-rng-device"));
        assert_eq!(
            o.done().unwrap_err().to_string(),
            "`-device virtio-rng-device,bus=x`: `bus=x` is not supported by preboard qemu"
        );
        assert!(Opts::parse("-drive", "file=x,,,", None).is_err());
    }

    const BASE: &[&str] = &["-M", "virt", "-cpu", "cortex-a57", "-nographic", "-semihosting"];

    fn with_base(extra: &[&str]) -> Vec<String> {
        run_args(&[BASE, extra].concat())
    }

    #[test]
    fn the_usual_embedded_command_line() {
        // Not a file: classified as an ELF (run reports it missing).
        assert_eq!(
            with_base(&[
                "-kernel",
                "/no/fw.elf",
                "-m",
                "1G",
                "-smp",
                "4",
                "-append",
                "console=ttyAMA0 quiet"
            ]),
            args(&[
                "run",
                "--board",
                "virt",
                "-m",
                "1024M",
                "--smp",
                "4",
                "--kernel",
                "/no/fw.elf",
                "--append",
                "console=ttyAMA0 quiet"
            ])
        );
    }

    #[test]
    fn repeated_options_override_or_accumulate_as_in_qemu() {
        assert_eq!(
            run_args(&[
                "-M",
                "virt,gic-version=3",
                "-machine",
                "gic-version=2",
                "-cpu",
                "max",
                "-m",
                "256",
                "-m",
                "size=2G",
                "-smp",
                "2",
                "-smp",
                "cpus=3",
                "-kernel",
                "/a",
                "-kernel",
                "/b",
                "-serial",
                "null",
                "-serial",
                "file:/log"
            ]),
            args(&[
                "run",
                "--board",
                "virt",
                "-m",
                "2048M",
                "--smp",
                "3",
                "--kernel",
                "/b",
                "--serial",
                "null",
                "--serial",
                "file:/log"
            ])
        );
    }

    #[test]
    fn double_dashes_and_exception_levels() {
        let elf = concat!(env!("CARGO_MANIFEST_DIR"), "/firmware/prebuilt/hello.elf");
        assert_eq!(
            run_args(&[
                "--M",
                "virt,secure=on,virtualization=on",
                "--cpu",
                "cortex-a72",
                "--kernel",
                elf
            ]),
            args(&[
                "run",
                "--board",
                "virt",
                "--cpu",
                "cortex-a72",
                "--boot-el",
                "3",
                "--kernel",
                elf
            ])
        );
        assert_eq!(
            run_args(&["-M", "virt,virtualization=on", "-cpu", "cortex-a53", "-kernel", elf]),
            args(&[
                "run",
                "--board",
                "virt",
                "--cpu",
                "cortex-a53",
                "--boot-el",
                "2",
                "--kernel",
                elf
            ])
        );
    }

    #[test]
    fn devices_with_their_backends() {
        let got = with_base(&[
            "-global",
            "virtio-mmio.force-legacy=false",
            "-drive",
            "if=none,file=/d.img,format=raw,id=d0,readonly=on",
            "-device",
            "virtio-blk-device,drive=d0,serial=pb-0001,id=blk0",
            "-chardev",
            "file,id=vc0,path=/console.txt",
            "-device",
            "virtio-serial-device",
            "-device",
            "virtconsole,chardev=vc0",
            "-drive",
            "if=pflash,unit=1,file=/flash1.img,format=raw",
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-device,netdev=n0,mac=52:54:00:00:00:01",
            "-device",
            "virtio-rng-device",
            "-serial",
            "mon:stdio",
            "-kernel",
            "/k.elf",
        ]);
        assert_eq!(
            got,
            args(&[
                "run",
                "--board",
                "virt",
                "--kernel",
                "/k.elf",
                "--pflash",
                "/flash1.img,unit=1",
                "--drive",
                "/d.img,readonly=on,serial=pb-0001",
                "--rng",
                "--virtio-console",
                "file:/console.txt",
                "--nic",
                "user,mac=52:54:00:00:00:01",
                "--serial",
                "stdio",
            ])
        );
    }

    #[test]
    fn bios_and_flash_units() {
        assert_eq!(
            run_args(&["-M", "virt", "-cpu", "max", "-bios", "/fw.bin"]),
            args(&["run", "--board", "virt", "--pflash", "/fw.bin,readonly=on"])
        );
        assert_eq!(
            run_args(&[
                "-M",
                "virt",
                "-cpu",
                "max",
                "-drive",
                "if=pflash,file=/vars.img,unit=1",
                "-drive",
                "if=pflash,format=raw,file=/code.img,readonly=on"
            ]),
            args(&[
                "run",
                "--board",
                "virt",
                "--pflash",
                "/code.img,readonly=on",
                "--pflash",
                "/vars.img"
            ])
        );
        assert!(error(&[
            "-M",
            "virt",
            "-cpu",
            "max",
            "-bios",
            "/a",
            "-drive",
            "if=pflash,file=/b"
        ])
        .contains("both -bios and -drive"));
        assert!(error(&["-M", "virt", "-cpu", "max", "-bios", "/a", "-kernel", "/k"]).contains("fw_cfg"));
    }

    #[test]
    fn serial_and_display_defaults() {
        let k = ["-M", "virt", "-cpu", "max", "-kernel", "/k"];
        let tail = |extra: &[&str]| run_args(&[&k[..], extra].concat())[5..].to_vec();
        assert_eq!(tail(&["-nographic"]), Vec::<String>::new());
        assert_eq!(tail(&[]), Vec::<String>::new());
        assert_eq!(tail(&["-display", "none"]), args(&["--serial", "null"]));
        assert_eq!(tail(&["-nographic", "-nodefaults"]), args(&["--serial", "null"]));
        assert_eq!(
            tail(&["-display", "none", "-serial", "stdio"]),
            args(&["--serial", "stdio"])
        );
        assert_eq!(
            tail(&["-nographic", "-monitor", "none", "-serial", "stdio"]),
            args(&["--serial", "stdio"])
        );
        assert_eq!(
            tail(&["-serial", "tcp::4444,server=on,wait=off"]),
            args(&["--serial", "tcp:0.0.0.0:4444"])
        );
        assert_eq!(
            tail(&["-serial", "tcp:127.0.0.1:4444,server,nowait"]),
            args(&["--serial", "tcp:127.0.0.1:4444"])
        );
        assert_eq!(
            tail(&[
                "-chardev",
                "socket,id=s0,port=5555,host=localhost,server=on,wait=off",
                "-serial",
                "chardev:s0"
            ]),
            args(&["--serial", "tcp:localhost:5555"])
        );
        assert!(error(&[&k[..], &["-nographic", "-serial", "stdio"]].concat()).contains("multiple character devices"));
        assert!(error(&[&k[..], &["-serial", "tcp::4444,server=on"]].concat()).contains("wait=off"));
        assert!(error(&[&k[..], &["-serial", "tcp:host:4444"]].concat()).contains("server=on"));
    }

    #[test]
    fn gdb_reboot_and_print() {
        let k = ["-M", "virt", "-cpu", "max", "-kernel", "/k"];
        let t = translate(&args(&[&k[..], &["-s", "-S", "-no-reboot", "--print-run"]].concat())).unwrap();
        assert!(t.print_only);
        assert_eq!(
            t.command_line(),
            "preboard run --board virt --kernel /k --no-reboot --gdb tcp::1234 --wait-gdb"
        );
        let t = translate(&args(&[&k[..], &["-gdb", "tcp::3333", "-append", "a b'c"]].concat())).unwrap();
        assert!(!t.print_only);
        assert_eq!(
            t.command_line(),
            r"preboard run --board virt --kernel /k --append 'a b'\''c' --gdb tcp::3333"
        );
    }

    #[test]
    fn unsupported_arguments_are_named() {
        let k = ["-M", "virt", "-cpu", "max", "-kernel", "/k"];
        for (extra, needle) in [
            (&["-vga", "std"][..], "`-vga`: option not supported"),
            (&["-m=512"], "`-m=512`: invalid option"),
            (&["disk.img"], "`disk.img`: a bare argument"),
            (&["-M", "sbsa-ref"], "machine `sbsa-ref`"),
            (&["-M", "virt,iommu=smmuv3"], "`iommu=smmuv3` is not supported"),
            (&["-cpu", "cortex-a76"], "`-cpu cortex-a76`"),
            (&["-cpu", "max,sve=off"], "`-cpu max,sve=off`"),
            (&["-drive", "file=x.img"], "if=virtio is not supported"),
            (&["-drive", "if=none,file=x.img,format=qcow2"], "format=qcow2"),
            (
                &["-drive", "if=none,file=x.img,cache=none"],
                "`cache=none` is not supported",
            ),
            (&["-drive", "if=none,file=x.img,snapshot=on"], "snapshot=on"),
            (&["-device", "virtio-blk-pci,drive=d0"], "device `virtio-blk-pci`"),
            (&["-device", "virtio-blk-device,drive=d9"], "no -drive with id=d9"),
            (
                &["-device", "virtconsole,chardev=c"],
                "No 'virtio-serial-bus' bus found",
            ),
            (&["-netdev", "tap,id=n0"], "`tap`"),
            (
                &["-netdev", "user,id=n0,hostfwd=tcp::2222-:22"],
                "`hostfwd=tcp::2222-:22`",
            ),
            (&["-nic", "user"], "virtio-net-pci"),
            (&["-serial", "telnet::4444,server"], "`-serial telnet::4444,server`"),
            (&["-monitor", "stdio"], "`-monitor stdio`"),
            (&["-display", "gtk"], "`-display gtk`"),
            (&["-accel", "kvm"], "`kvm`"),
            (&["-semihosting-config", "enable=on,target=gdb"], "target=gdb"),
            (
                &["-global", "virtio-mmio.force-legacy=true"],
                "`-global virtio-mmio.force-legacy=true`",
            ),
            (&["-append"], "`-append` requires an argument"),
        ] {
            let e = error(&[&k[..], extra].concat());
            assert!(e.contains(needle), "{extra:?}: `{needle}` not in: {e}");
        }
        assert!(error(&["-M", "virt", "-kernel", "/k"]).contains("no -cpu"));
        assert!(error(&["-M", "virt", "-cpu", "max", "-bios", "/b", "-append", "x"])
            .contains("`-append` only allowed with -kernel"));
        assert!(error(&[
            "-M",
            "virt",
            "-cpu",
            "max",
            "-kernel",
            "/k",
            "-drive",
            "if=pflash,file=/f"
        ])
        .contains("fw_cfg"));
        assert!(error(&["-M", "virt", "-cpu", "max", "-kernel", "/k", "-net", "nic"]).contains("only -net none"));
        assert_eq!(
            run_args(&["-M", "virt", "-cpu", "max", "-kernel", "/k", "-nic", "none", "-net", "none"]),
            args(&["run", "--board", "virt", "--kernel", "/k"])
        );
        assert!(error(&["-M", "virt", "-cpu", "max"]).contains("nothing to run"));
    }

    #[test]
    fn raw_and_linux_kernels_load_where_qemu_puts_them() {
        let dir = std::env::temp_dir().join(format!("preboard-qemu-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let raw = dir.join("raw.bin");
        std::fs::write(&raw, [0u8; 64]).unwrap();
        let mut image = vec![0u8; 64];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        let linux = dir.join("Image");
        std::fs::write(&linux, &image).unwrap();
        let (raw, linux) = (raw.to_str().unwrap(), linux.to_str().unwrap());
        assert_eq!(
            run_args(&["-M", "virt,virtualization=on", "-cpu", "max", "-kernel", raw]),
            args(&[
                "run",
                "--board",
                "virt",
                "--boot-el",
                "2",
                "--kernel",
                raw,
                "--load-addr",
                "0x40080000"
            ])
        );
        // A Linux image is not started at EL3 (QEMU drops to EL2/EL1).
        assert_eq!(
            run_args(&["-M", "virt,secure=on", "-cpu", "max", "-kernel", linux]),
            args(&["run", "--board", "virt", "--kernel", linux])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
