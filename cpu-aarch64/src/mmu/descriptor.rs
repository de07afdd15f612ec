//! Translation table descriptors read for people (a debugger's page-table
//! view): what each field of a VMSAv8-64 stage 1 table, block or page
//! descriptor means, and the MAIR_ELx attribute byte it selects. Pure
//! functions of the descriptor and the regime's registers; the walker
//! ([`super::walk`]) does not use them, so a mistake here can only
//! mislead a reader, never change a translation.
//!
//! Bit positions (Arm ARM D8.3, stage 1, 48-bit output addresses):
//! tables: NSTable 63, APTable 62:61, UXNTable/XNTable 60, PXNTable 59,
//! next-level table address 47:granule; blocks and pages: UXN/XN 54,
//! PXN 53, Contiguous 52, DBM 51, output address 47:size, nG 11, AF 10,
//! SH 9:8, AP[2:1] 7:6, NS 5, AttrIndx 4:2.

use super::{DebugWalk, Granule, RegimeKind, OA_MASK};
use std::fmt;

/// One descriptor, decoded for its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Descriptor {
    /// Bit 0 clear: a translation fault.
    Invalid,
    /// Bits 1:0 = 0b01 where no block is allowed (level 3, level 0, or
    /// level 1 with a 16 or 64 KiB granule): a translation fault.
    Reserved,
    /// Points to the next level's table.
    Table(TableAttrs),
    /// A block (levels 1 and 2).
    Block(LeafAttrs),
    /// A page (level 3).
    Page(LeafAttrs),
}

/// The fields of a table descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableAttrs {
    /// The next-level table's address.
    pub next: u64,
    /// NSTable (meaningful in Secure regimes).
    pub ns_table: bool,
    /// APTable: bit 0 no EL0 access below (EL1&0 only), bit 1 no writes.
    pub ap_table: u8,
    /// UXNTable (EL1&0) / XNTable (EL2, EL3).
    pub xn_table: bool,
    /// PXNTable (EL1&0 only; RES0 elsewhere).
    pub pxn_table: bool,
}

/// Data access a descriptor's AP bits grant one privilege level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No data access.
    None,
    /// Read only.
    ReadOnly,
    /// Read and write.
    ReadWrite,
}

/// The SH field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shareability {
    /// 0b00.
    NonShareable,
    /// 0b01 (reserved).
    Reserved,
    /// 0b10.
    OuterShareable,
    /// 0b11.
    InnerShareable,
}

/// Caching of one level (inner or outer) of Normal memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// Non-cacheable.
    NonCacheable,
    /// Write-back or write-through.
    Cacheable {
        /// Write-back (else write-through).
        write_back: bool,
        /// Transient.
        transient: bool,
        /// Read-allocate.
        read_alloc: bool,
        /// Write-allocate.
        write_alloc: bool,
    },
}

/// Device memory types (Gathering, Reordering, Early write acknowledgement).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceType {
    /// Device-nGnRnE.
    NGnRnE,
    /// Device-nGnRE.
    NGnRE,
    /// Device-nGRE.
    NGRE,
    /// Device-GRE.
    GRE,
}

/// What a MAIR_ELx attribute byte describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemAttr {
    /// Device memory.
    Device(DeviceType),
    /// Normal memory.
    Normal {
        /// Inner caching (Attr[3:0]).
        inner: Cache,
        /// Outer caching (Attr[7:4]).
        outer: Cache,
    },
    /// An encoding that is UNPREDICTABLE in Armv8.0 (some are given a
    /// meaning by FEAT_XS or FEAT_MTE2, which Preboard does not have).
    Reserved(u8),
}

/// The fields of a block or page descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafAttrs {
    /// Output address of the block or page.
    pub output: u64,
    /// log2 of its size.
    pub size_bits: u32,
    /// AP[2:1].
    pub ap: u8,
    /// The privileged level's data access (EL1, or the EL of an EL2/EL3
    /// regime) by AP alone.
    pub privileged: Access,
    /// EL0's data access by AP alone (`None` in EL2/EL3 regimes, which
    /// have one privilege level).
    pub el0: Option<Access>,
    /// UXN (EL1&0) / XN (EL2, EL3).
    pub xn: bool,
    /// PXN (EL1&0 only).
    pub pxn: bool,
    /// Access flag.
    pub af: bool,
    /// Shareability.
    pub sh: Shareability,
    /// Not global (EL1&0 only: tagged with the ASID).
    pub ng: bool,
    /// NS (meaningful in Secure regimes).
    pub ns: bool,
    /// AttrIndx.
    pub attr_index: u8,
    /// The MAIR attribute byte AttrIndx selects.
    pub attr: u8,
    /// What that byte means.
    pub mem: MemAttr,
    /// Contiguous hint.
    pub contiguous: bool,
    /// DBM (dirty bit modifier; hardware dirty state is not modelled).
    pub dbm: bool,
}

/// One level (inner or outer) of a Normal attribute: 0b0100 is
/// Non-cacheable, otherwise 0bTWRA-like: bits 3:2 = 00 WT transient,
/// 01 WB transient, 10 WT, 11 WB; bit 1 read-allocate, bit 0
/// write-allocate. `bits` is never 0 here.
fn cache(bits: u8) -> Cache {
    if bits == 0b0100 {
        return Cache::NonCacheable;
    }
    Cache::Cacheable {
        write_back: bits & 0b0100 != 0,
        transient: bits & 0b1000 == 0,
        read_alloc: bits & 0b10 != 0,
        write_alloc: bits & 0b01 != 0,
    }
}

impl MemAttr {
    /// Decodes a MAIR_ELx attribute byte.
    pub fn from_mair(attr: u8) -> MemAttr {
        let (outer, inner) = (attr >> 4, attr & 0xf);
        match (outer, inner) {
            (0, 0b0000) => MemAttr::Device(DeviceType::NGnRnE),
            (0, 0b0100) => MemAttr::Device(DeviceType::NGnRE),
            (0, 0b1000) => MemAttr::Device(DeviceType::NGRE),
            (0, 0b1100) => MemAttr::Device(DeviceType::GRE),
            (0, _) | (_, 0) => MemAttr::Reserved(attr),
            _ => MemAttr::Normal {
                inner: cache(inner),
                outer: cache(outer),
            },
        }
    }
}

impl fmt::Display for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cache::NonCacheable => write!(f, "NC"),
            Cache::Cacheable {
                write_back,
                transient,
                read_alloc,
                write_alloc,
            } => {
                write!(f, "{}", if write_back { "WB" } else { "WT" })?;
                if transient {
                    write!(f, " transient")?;
                }
                if read_alloc {
                    write!(f, " RA")?;
                }
                if write_alloc {
                    write!(f, " WA")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for MemAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemAttr::Device(d) => write!(
                f,
                "Device-{}",
                match d {
                    DeviceType::NGnRnE => "nGnRnE",
                    DeviceType::NGnRE => "nGnRE",
                    DeviceType::NGRE => "nGRE",
                    DeviceType::GRE => "GRE",
                }
            ),
            MemAttr::Normal { inner, outer } if inner == outer => write!(f, "Normal {inner}"),
            MemAttr::Normal { inner, outer } => write!(f, "Normal inner {inner}, outer {outer}"),
            MemAttr::Reserved(a) => write!(f, "reserved encoding {a:#04x}"),
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::None => "none",
            Access::ReadOnly => "RO",
            Access::ReadWrite => "RW",
        })
    }
}

/// Decodes `desc`, read at `level` of a walk with `granule` in regime
/// `kind` whose MAIR_ELx is `mair`. Stage 1 only; output addresses are
/// bits 47:12 (no FEAT_LPA), as the walker reads them.
pub fn decode_descriptor(desc: u64, level: u32, granule: Granule, kind: RegimeKind, mair: u64) -> Descriptor {
    if desc & 1 == 0 {
        return Descriptor::Invalid;
    }
    let g = granule.bits();
    let two_levels = kind == RegimeKind::El10;
    let bit = |n: u32| desc >> n & 1 == 1;
    let is_table_or_page = bit(1);
    if level < 3 && is_table_or_page {
        return Descriptor::Table(TableAttrs {
            next: desc & OA_MASK & !((1u64 << g) - 1),
            ns_table: bit(63),
            ap_table: (desc >> 61 & 3) as u8,
            xn_table: bit(60),
            pxn_table: bit(59),
        });
    }
    if level > 3 || (level == 3 && !is_table_or_page) || (level < 3 && !granule.block_allowed(level)) {
        return Descriptor::Reserved;
    }
    let size_bits = granule.level_shift(level);
    let ap = (desc >> 6 & 3) as u8;
    let read_only = ap & 2 != 0;
    let rw = |ro: bool| if ro { Access::ReadOnly } else { Access::ReadWrite };
    let attr_index = (desc >> 2 & 7) as u8;
    let attr = (mair >> (8 * attr_index)) as u8;
    let leaf = LeafAttrs {
        output: desc & OA_MASK & !((1u64 << size_bits) - 1),
        size_bits,
        ap,
        privileged: rw(read_only),
        // AP[1] gives EL0 the same access as EL1; it is ignored with one
        // privilege level.
        el0: two_levels.then(|| if ap & 1 == 1 { rw(read_only) } else { Access::None }),
        xn: bit(54),
        pxn: two_levels && bit(53),
        af: bit(10),
        sh: match desc >> 8 & 3 {
            0 => Shareability::NonShareable,
            1 => Shareability::Reserved,
            2 => Shareability::OuterShareable,
            _ => Shareability::InnerShareable,
        },
        ng: two_levels && bit(11),
        ns: bit(5),
        attr_index,
        attr,
        mem: MemAttr::from_mair(attr),
        contiguous: bit(52),
        dbm: bit(51),
    };
    if level == 3 {
        Descriptor::Page(leaf)
    } else {
        Descriptor::Block(leaf)
    }
}

impl Descriptor {
    /// The descriptor's type in a word: `invalid`, `reserved`, `table`,
    /// `block` or `page`.
    pub fn kind(&self) -> &'static str {
        match self {
            Descriptor::Invalid => "invalid",
            Descriptor::Reserved => "reserved",
            Descriptor::Table(_) => "table",
            Descriptor::Block(_) => "block",
            Descriptor::Page(_) => "page",
        }
    }

    /// Its fields as short phrases for a reader, in descriptor-bit order
    /// from the top; `kind` names the regime (field names and meanings
    /// differ between EL1&0 and the one-privilege-level regimes).
    pub fn attributes(&self, kind: RegimeKind) -> Vec<String> {
        let two_levels = kind == RegimeKind::El10;
        let mut out = Vec::new();
        match self {
            Descriptor::Invalid | Descriptor::Reserved => {}
            Descriptor::Table(t) => {
                out.push(format!("next table {:#x}", t.next));
                if t.ns_table {
                    out.push("NSTable".into());
                }
                // APTable[0] is RES0 with one privilege level.
                let ap = match t.ap_table {
                    1 if two_levels => Some("no EL0 access"),
                    3 if two_levels => Some("no writes, no EL0 access"),
                    2 | 3 => Some("no writes"),
                    _ => None,
                };
                if let Some(a) = ap {
                    out.push(format!("APTable={:02b} ({a})", t.ap_table));
                }
                if t.xn_table {
                    out.push(if two_levels { "UXNTable" } else { "XNTable" }.into());
                }
                if t.pxn_table && two_levels {
                    out.push("PXNTable".into());
                }
            }
            Descriptor::Block(l) | Descriptor::Page(l) => {
                out.push(format!("OA {:#x}", l.output));
                if l.xn {
                    out.push(if two_levels { "UXN" } else { "XN" }.into());
                }
                if l.pxn {
                    out.push("PXN".into());
                }
                if l.contiguous {
                    out.push("contiguous".into());
                }
                if l.dbm {
                    out.push("DBM".into());
                }
                if l.ng {
                    out.push("nG".into());
                }
                out.push(if l.af { "AF" } else { "AF=0 (access flag fault)" }.into());
                out.push(
                    match l.sh {
                        Shareability::NonShareable => "non-shareable",
                        Shareability::Reserved => "SH=01 (reserved)",
                        Shareability::OuterShareable => "outer shareable",
                        Shareability::InnerShareable => "inner shareable",
                    }
                    .into(),
                );
                let el = if two_levels { "EL1" } else { "EL" };
                match l.el0 {
                    Some(el0) => out.push(format!("AP={:02b}: {el} {}, EL0 {el0}", l.ap, l.privileged)),
                    None => out.push(format!("AP={:02b}: {el} {}", l.ap, l.privileged)),
                }
                if l.ns {
                    out.push("NS".into());
                }
                out.push(format!("AttrIndx {}: {:#04x} {}", l.attr_index, l.attr, l.mem));
            }
        }
        out
    }
}

impl DebugWalk {
    /// Each step's level and decoded descriptor, in walk order (empty
    /// when stage 1 is off).
    pub fn decoded(&self) -> Vec<(u32, Descriptor)> {
        let Some((r, start)) = &self.regime else {
            return Vec::new();
        };
        self.steps
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let level = start.start_level + k as u32;
                (level, decode_descriptor(s.desc, level, start.granule, r.kind, r.mair))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(d: Descriptor) -> LeafAttrs {
        match d {
            Descriptor::Block(l) | Descriptor::Page(l) => l,
            other => panic!("not a leaf: {other:?}"),
        }
    }

    /// A level 3 page built bit by bit: OA 0x8123_4000, AttrIndx 4,
    /// AP[2:1] = 01 (EL1 and EL0 read/write), SH 11, AF, nG, Contiguous,
    /// PXN: 0x0030_0000_8123_4000 | 0xf53 (0x800 nG + 0x400 AF + 0x300 SH
    /// + 0x40 AP + 0x10 AttrIndx + 0b11 page).
    #[test]
    fn a_page_descriptor_field_by_field() {
        let desc = 0x0030_0000_8123_4f53;
        let mair = 0xffu64 << 32;
        let d = decode_descriptor(desc, 3, Granule::K4, RegimeKind::El10, mair);
        assert_eq!(d.kind(), "page");
        let l = leaf(d);
        assert_eq!(l.output, 0x8123_4000);
        assert_eq!(l.size_bits, 12);
        assert_eq!((l.privileged, l.el0), (Access::ReadWrite, Some(Access::ReadWrite)));
        assert!(l.pxn && !l.xn && l.af && l.ng && l.contiguous && !l.dbm && !l.ns);
        assert_eq!(l.sh, Shareability::InnerShareable);
        assert_eq!((l.attr_index, l.attr), (4, 0xff));
        assert_eq!(
            d.attributes(RegimeKind::El10),
            [
                "OA 0x81234000",
                "PXN",
                "contiguous",
                "nG",
                "AF",
                "inner shareable",
                "AP=01: EL1 RW, EL0 RW",
                "AttrIndx 4: 0xff Normal WB RA WA",
            ]
        );
    }

    /// A 1 GiB level 1 block (4 KiB granule) of device memory: OA
    /// 0x4000_0000, AttrIndx 0 (MAIR byte 0x04: Device-nGnRE), AP = 10
    /// (EL1 read-only, no EL0), UXN and PXN, AF, non-shareable.
    #[test]
    fn a_device_block() {
        let desc = (1u64 << 54) | (1 << 53) | 0x4000_0000 | 0x400 | 0x80 | 0b01;
        assert_eq!(desc, 0x0060_0000_4000_0481);
        let d = decode_descriptor(desc, 1, Granule::K4, RegimeKind::El10, 0x04);
        assert_eq!(d.kind(), "block");
        let l = leaf(d);
        assert_eq!((l.output, l.size_bits), (0x4000_0000, 30));
        assert_eq!((l.privileged, l.el0), (Access::ReadOnly, Some(Access::None)));
        assert!(l.xn && l.pxn && !l.ng);
        assert_eq!(l.sh, Shareability::NonShareable);
        assert_eq!(l.mem, MemAttr::Device(DeviceType::NGnRE));
        // The same bits at level 1 of a 64 KiB walk: no level 1 blocks.
        assert_eq!(
            decode_descriptor(desc, 1, Granule::K64, RegimeKind::El10, 0),
            Descriptor::Reserved
        );
        // A 2 MiB block at level 2: the OA keeps bits 47:21 only.
        let l = leaf(decode_descriptor(
            0x4020_0401 | 0x1f_f000,
            2,
            Granule::K4,
            RegimeKind::El10,
            0,
        ));
        assert_eq!((l.output, l.size_bits), (0x4020_0000, 21));
    }

    /// A level 0 table with every hierarchical bit: NSTable (63),
    /// APTable = 10 (62), UXNTable (60), PXNTable (59).
    #[test]
    fn a_table_descriptor() {
        let desc = 0xd800_0000_4400_1003u64;
        let d = decode_descriptor(desc, 0, Granule::K4, RegimeKind::El10, 0);
        assert_eq!(
            d,
            Descriptor::Table(TableAttrs {
                next: 0x4400_1000,
                ns_table: true,
                ap_table: 0b10,
                xn_table: true,
                pxn_table: true,
            })
        );
        assert_eq!(
            d.attributes(RegimeKind::El10),
            [
                "next table 0x44001000",
                "NSTable",
                "APTable=10 (no writes)",
                "UXNTable",
                "PXNTable"
            ]
        );
        // APTable = 01 only takes EL0 access away.
        let d = decode_descriptor(0x2000_0000_4400_1003, 1, Granule::K4, RegimeKind::El10, 0);
        assert_eq!(d.attributes(RegimeKind::El10)[1], "APTable=01 (no EL0 access)");
        // With a 64 KiB granule the table address is bits 47:16.
        let d = decode_descriptor(0x4401_2003, 2, Granule::K64, RegimeKind::El10, 0);
        assert!(matches!(d, Descriptor::Table(t) if t.next == 0x4401_0000));
    }

    #[test]
    fn invalid_and_reserved() {
        assert_eq!(
            decode_descriptor(0x4000_0000, 2, Granule::K4, RegimeKind::El10, 0),
            Descriptor::Invalid
        );
        // 0b01 at level 3 and at level 0 (no blocks there).
        assert_eq!(
            decode_descriptor(0x4000_0401, 3, Granule::K4, RegimeKind::El10, 0),
            Descriptor::Reserved
        );
        assert_eq!(
            decode_descriptor(0x4000_0401, 0, Granule::K4, RegimeKind::El10, 0),
            Descriptor::Reserved
        );
    }

    /// One privilege level (EL2 without E2H): AP[2] alone decides, bit 54
    /// is XN, PXN and nG do not exist.
    #[test]
    fn one_privilege_level_regimes() {
        let desc = (1u64 << 54) | (1 << 53) | 0x8000_0000 | 0x800 | 0x400 | 0xc0 | 0b11;
        let d = decode_descriptor(desc, 3, Granule::K4, RegimeKind::El2, 0);
        let l = leaf(d);
        assert_eq!((l.privileged, l.el0), (Access::ReadOnly, None));
        assert!(l.xn && !l.pxn && !l.ng);
        let attrs = d.attributes(RegimeKind::El2);
        assert!(attrs.contains(&"XN".to_string()), "{attrs:?}");
        assert!(attrs.contains(&"AP=11: EL RO".to_string()), "{attrs:?}");
        let l = leaf(decode_descriptor(0x8000_0443, 3, Granule::K4, RegimeKind::El3, 0));
        assert_eq!(l.privileged, Access::ReadWrite, "AP = 01: AP[1] is ignored");
    }

    /// MAIR attribute bytes (Arm ARM, MAIR_ELx.Attr<n>): high nibble 0 is
    /// Device with dd in bits 3:2; otherwise outer (7:4) and inner (3:0)
    /// each 0b0100 NC, 0b00RW WT transient, 0b01RW WB transient, 0b10RW
    /// WT, 0b11RW WB.
    #[test]
    fn mair_attributes() {
        let text = |a: u8| MemAttr::from_mair(a).to_string();
        assert_eq!(text(0x00), "Device-nGnRnE");
        assert_eq!(text(0x04), "Device-nGnRE");
        assert_eq!(text(0x08), "Device-nGRE");
        assert_eq!(text(0x0c), "Device-GRE");
        assert_eq!(text(0x44), "Normal NC");
        assert_eq!(text(0xff), "Normal WB RA WA");
        assert_eq!(text(0xbb), "Normal WT RA WA");
        assert_eq!(text(0xaa), "Normal WT RA");
        assert_eq!(text(0x4f), "Normal inner WB RA WA, outer NC");
        assert_eq!(text(0x22), "Normal WT transient RA");
        assert_eq!(text(0x55), "Normal WB transient WA");
        assert_eq!(text(0xf0), "reserved encoding 0xf0");
        assert_eq!(text(0x01), "reserved encoding 0x01");
    }
}
