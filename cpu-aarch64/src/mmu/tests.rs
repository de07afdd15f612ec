//! Walks over hand-built tables in a fake physical memory.

use super::*;
use std::collections::HashMap;

#[derive(Default)]
struct Mem(HashMap<u64, u64>);

impl DescReader for Mem {
    fn read_desc(&mut self, pa: u64) -> Result<u64, WalkAbort> {
        assert_eq!(pa % 8, 0, "descriptor reads are 8-byte aligned");
        if pa >= 0x1_0000_0000 {
            return Err(WalkAbort); // nothing there: external abort on the walk
        }
        Ok(self.0.get(&pa).copied().unwrap_or(0))
    }
}

const AF: u64 = 1 << 10;
const TABLE: u64 = 0b11;
const PAGE: u64 = 0b11;
const BLOCK: u64 = 0b01;
/// MAIR: attr0 = Device-nGnRnE, attr1 = Normal write-back.
const MAIR: u64 = 0xff << 8;

/// TCR_EL1.IPS = 0b101: 48-bit output addresses.
const IPS_48: u64 = 5 << 32;

fn regime(tcr: u64, ttbr0: u64) -> Regime {
    Regime::el10(tcr | IPS_48, ttbr0, 0, MAIR, 0)
}

/// 4 KiB granule, T0SZ = 16 (48-bit): VA 0x0000_0040_1234_5678.
#[test]
fn four_level_4k_walk() {
    let va = 0x0000_0040_1234_5678u64;
    let (l0, l1, l2, l3) = (0x1000u64, 0x2000u64, 0x3000u64, 0x4000u64);
    let idx = |lvl: u32| (va >> (12 + 9 * (3 - lvl))) & 0x1ff;
    let mut m = Mem::default();
    m.0.insert(l0 + idx(0) * 8, l1 | TABLE);
    m.0.insert(l1 + idx(1) * 8, l2 | TABLE);
    m.0.insert(l2 + idx(2) * 8, l3 | TABLE);
    m.0.insert(l3 + idx(3) * 8, 0x8000_0000 | AF | (1 << 2) | (1 << 6) | PAGE);
    let t = walk(&regime(16, l0), va, true, &mut m).unwrap();
    assert_eq!(t.pa(va), 0x8000_0678);
    assert_eq!(t.level, 3);
    assert_eq!(t.mem, MemType::Normal);
    assert!(t.perms.el0_read && t.perms.el0_write && t.perms.el0_exec);
    assert!(!t.perms.el1_exec, "EL1 must not execute EL0-writable memory");
}

#[test]
fn blocks_at_level_1_and_2_with_4k_granule() {
    // T0SZ = 25: 39-bit VA, walk starts at level 1.
    let mut m = Mem::default();
    m.0.insert(0x1000, 0x4000_0000 | AF | BLOCK); // L1[0]: 1 GiB block, Device (attr 0)
    m.0.insert(0x1008, 0x2000 | TABLE); // L1[1] -> L2
    m.0.insert(0x2000 + 3 * 8, 0x8060_0000 | AF | (1 << 2) | BLOCK); // L2[3]: 2 MiB block
    let r = regime(25, 0x1000);
    let t = walk(&r, 0x1234_5678, true, &mut m).unwrap();
    assert_eq!(
        (t.pa(0x1234_5678), t.level, t.size_bits, t.mem),
        (0x5234_5678, 1, 30, MemType::Device)
    );
    let va = 0x4000_0000 + 3 * 0x20_0000 + 0x1_2345;
    let t = walk(&r, va, true, &mut m).unwrap();
    assert_eq!((t.pa(va), t.level, t.size_bits), (0x8061_2345, 2, 21));
}

#[test]
fn sixteen_and_sixty_four_k_granules() {
    // 16 KiB (TG0 = 0b10), T0SZ = 17: 47-bit VA, levels 1..3 with 11-bit indexes.
    let va = 0x0000_1234_5678_9abcu64;
    let mut m = Mem::default();
    let i = |lvl: u32| (va >> (14 + 11 * (3 - lvl))) & 0x7ff;
    m.0.insert(0x4000 + i(1) * 8, 0x8000 | TABLE);
    m.0.insert(0x8000 + i(2) * 8, 0xc000 | TABLE);
    m.0.insert(0xc000 + i(3) * 8, 0x9000_0000 | AF | PAGE);
    let t = walk(&regime(17 | (2 << 14), 0x4000), va, true, &mut m).unwrap();
    assert_eq!(t.pa(va), 0x9000_0000 | (va & 0x3fff));
    // 64 KiB (TG0 = 0b01), T0SZ = 22: 42-bit VA, levels 2..3, 13-bit indexes.
    let va = 0x0000_0234_5678_9abcu64;
    let i = |lvl: u32| (va >> (16 + 13 * (3 - lvl))) & 0x1fff;
    let mut m = Mem::default();
    m.0.insert(0x10000 + i(2) * 8, 0x20000 | TABLE);
    m.0.insert(0x20000 + i(3) * 8, 0xa000_0000 | AF | PAGE);
    let r = regime(22 | (1 << 14), 0x10000);
    let t = walk(&r, va, true, &mut m).unwrap();
    assert_eq!((t.pa(va), t.size_bits), (0xa000_0000 | (va & 0xffff), 16));
    // A level-1 block is not allowed with 64 KiB pages (48-bit VA start at L1).
    let mut m = Mem::default();
    m.0.insert(0x10000, 0xb000_0000 | AF | BLOCK);
    let r = regime(16 | (1 << 14), 0x10000);
    assert_eq!(walk(&r, 0x0, true, &mut m), Err(Fault::Translation(1)));
}

#[test]
fn ttbr1_for_the_upper_range() {
    // T1SZ = 25, TG1 = 0b10 (4 KiB): VA 0xffff_ff80_0000_0000 is index 0 at L1.
    let tcr = (25 << 16) | (2 << 30) | 25;
    let r = Regime::el10(tcr, 0, 0x5000, MAIR, 0);
    let mut m = Mem::default();
    m.0.insert(0x5000, 0x4000_0000 | AF | BLOCK | (1 << 2));
    let t = walk(&r, 0xffff_ff80_0000_1234, true, &mut m).unwrap();
    assert_eq!(t.pa(0xffff_ff80_0000_1234), 0x4000_1234);
    // Neither all-zeros nor all-ones above bit 39: translation fault, level 0.
    assert_eq!(
        walk(&r, 0xffff_0080_0000_0000, true, &mut m),
        Err(Fault::Translation(0))
    );
    // EPD1 disables walks through TTBR1.
    let r2 = Regime {
        tcr: tcr | (1 << 23),
        ..r
    };
    assert_eq!(
        walk(&r2, 0xffff_ff80_0000_1234, true, &mut m),
        Err(Fault::Translation(0))
    );
}

#[test]
fn faults_carry_their_level() {
    let r = regime(25, 0x1000);
    let mut m = Mem::default();
    m.0.insert(0x1000, 0x2000 | TABLE);
    // L2 entry 0 invalid.
    assert_eq!(walk(&r, 0, true, &mut m), Err(Fault::Translation(2)));
    m.0.insert(0x2000, 0x3000 | TABLE);
    m.0.insert(0x3000, 0x7000_0000 | PAGE); // AF clear
    assert_eq!(walk(&r, 0, true, &mut m), Err(Fault::AccessFlag(3)));
    m.0.insert(0x3000, 0x7000_0000 | AF | BLOCK); // level 3 with bit 1 clear: reserved
    assert_eq!(walk(&r, 0, true, &mut m), Err(Fault::Translation(3)));
    // Bit 48 is not an address bit (no FEAT_LPA; RES0, ignored like DBM
    // and GP, see dbm_and_gp_bits_are_not_output_address_bits); addresses
    // beyond IPS are address size faults (output_addresses_beyond_ips_...).
    m.0.insert(0x3000, 0x1_0000_0000_0000 | 0x7000_0000 | AF | PAGE);
    assert_eq!(walk(&r, 0, true, &mut m).unwrap().pa(0), 0x7000_0000);
    // A table pointing at nothing: external abort on the walk.
    m.0.insert(0x2000, 0x2_0000_0000 | TABLE);
    assert_eq!(walk(&r, 0, true, &mut m), Err(Fault::WalkExternal(3)));
    // Beyond the 39-bit range of TTBR0.
    assert_eq!(walk(&r, 1 << 40, true, &mut m), Err(Fault::Translation(0)));
}

#[test]
fn permissions_ap_aptable_xn_and_wxn() {
    let r = regime(25, 0x1000);
    let mut m = Mem::default();
    // APTable = 0b11 (no EL0, read-only), PXNTable set on the L1 table entry.
    m.0.insert(0x1000, 0x2000 | TABLE | (0b11 << 61) | (1 << 59));
    m.0.insert(0x2000, 0x3000 | TABLE);
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE | (0b01 << 6)); // AP = EL0 RW
    let t = walk(&r, 0, true, &mut m).unwrap();
    assert!(!t.perms.el0_read && !t.perms.el1_write && !t.perms.el1_exec && t.perms.el1_read);
    assert_eq!(
        check_permission(&t, AccessType::Write, false),
        Err(Fault::Permission(3))
    );
    assert_eq!(check_permission(&t, AccessType::Read, true), Err(Fault::Permission(3)));
    assert_eq!(check_permission(&t, AccessType::Read, false), Ok(()));
    // AP = 0b11 (RO everywhere), UXN.
    m.0.insert(0x1000, 0x2000 | TABLE);
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE | (0b11 << 6) | (1 << 54));
    let t = walk(&r, 0, true, &mut m).unwrap();
    assert!(t.perms.el0_read && !t.perms.el0_write && !t.perms.el0_exec && t.perms.el1_exec);
    // AP = 0b00 (EL1 RW) with SCTLR.WXN: writable means never executable.
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE);
    let wxn = Regime { sctlr: 1 << 19, ..r };
    let t = walk(&wxn, 0, true, &mut m).unwrap();
    assert!(t.perms.el1_write && !t.perms.el1_exec && !t.perms.el0_read);
}

#[test]
fn top_byte_ignore_applies_to_data_only() {
    let r = regime(25 | (1 << 37), 0x1000);
    let mut m = Mem::default();
    m.0.insert(0x1000, 0x4000_0000 | AF | BLOCK | (1 << 2));
    let tagged = 0x5a00_0000_0000_0042;
    assert_eq!(walk(&r, tagged, true, &mut m).unwrap().pa(tagged), 0x4000_0042);
    assert_eq!(walk(&r, tagged, false, &mut m), Err(Fault::Translation(0)));
}

#[test]
fn output_addresses_beyond_ips_are_address_size_faults() {
    // T0SZ = 25 (levels 1..3), IPS = 0b010: 40-bit output addresses.
    let ips40 = 25 | (2 << 32);
    let r = Regime {
        tcr: ips40,
        ..regime(0, 0x1000)
    };
    let mut m = Mem::default();
    m.0.insert(0x1000, 0x2000 | TABLE);
    m.0.insert(0x2000, 0x3000 | TABLE);
    m.0.insert(0x3000, (1 << 41) | AF | PAGE);
    assert_eq!(walk(&r, 0, true, &mut m), Err(Fault::AddressSize(3)));
    m.0.insert(0x3000, ((1 << 40) - 0x1000) | AF | PAGE);
    assert_eq!(walk(&r, 0, true, &mut m).unwrap().pa(0x10), (1 << 40) - 0x1000 + 0x10);
    // A next-level table beyond IPS: fault at the table descriptor's level.
    m.0.insert(0x2000, (1 << 40) | TABLE);
    assert_eq!(walk(&r, 0, true, &mut m), Err(Fault::AddressSize(2)));
    // A TTBR beyond IPS: level 0.
    let r = Regime { ttbr0: 1 << 40, ..r };
    assert_eq!(walk(&r, 0, true, &mut m), Err(Fault::AddressSize(0)));
    // IPS values above the implemented 48 bits act as 48 bits.
    assert_eq!(output_bits(6 << 32), PA_BITS);
    assert_eq!(output_bits(0), 32);
}

/// Bits 51:48 of descriptors are not address bits without FEAT_LPA: bit
/// 51 is DBM and bit 50 GP in pages and blocks (Linux sets both: its
/// PTE_WRITE is DBM, and BTI kernels mark text GP), and bit 51 is ignored
/// in table descriptors. None of them is an address size fault.
#[test]
fn dbm_and_gp_bits_are_not_output_address_bits() {
    let r = regime(25, 0x1000);
    let mut m = Mem::default();
    m.0.insert(0x1000, 0x2000 | TABLE | (1 << 51));
    m.0.insert(0x2000, 0x3000 | TABLE);
    m.0.insert(0x3000, 0x8000_0000 | AF | PAGE | (1 << 51) | (1 << 50));
    assert_eq!(walk(&r, 0x42, true, &mut m).unwrap().pa(0x42), 0x8000_0042);
    m.0.insert(0x2000 + 8, 0x4020_0000 | AF | BLOCK | (1 << 51) | (1 << 50) | (1 << 48));
    assert_eq!(walk(&r, 0x20_0042, true, &mut m).unwrap().pa(0x20_0042), 0x4020_0042);
}

#[test]
fn translations_carry_the_mair_byte_and_shareability() {
    let r = Regime {
        mair: 0x0444_ff00,
        ..regime(25, 0x1000)
    };
    let mut m = Mem::default();
    m.0.insert(0x1000, 0x2000 | TABLE);
    m.0.insert(0x2000, 0x3000 | TABLE);
    for (idx, sh, attr, mem) in [
        (0, 0, 0x00, MemType::Device),
        (1, 3, 0xff, MemType::Normal),
        (2, 2, 0x44, MemType::Normal),
        (3, 0, 0x04, MemType::Device),
    ] {
        m.0.insert(0x3000, 0x7000_0000 | AF | PAGE | (idx << 2) | (sh << 8));
        let t = walk(&r, 0, true, &mut m).unwrap();
        assert_eq!((t.attr, t.sh, t.mem), (attr, sh as u8, mem), "AttrIndx {idx}");
    }
}

// ---- EL2 and EL3 regimes ----

/// A single-range regime (TCR_EL2/TCR_EL3 layout: PS in 18:16).
fn single(kind: RegimeKind, tcr: u64, ttbr0: u64) -> Regime {
    Regime {
        kind,
        tcr: tcr | (5 << 16),
        ttbr0,
        ttbr1: 0,
        mair: MAIR,
        sctlr: 0,
        secure: kind == RegimeKind::El3,
    }
}

/// Builds a page mapping of `va` to `pa` with `leaf` bits for `granule`
/// bits `g` and `in_bits`-bit VAs, tables from 0x10_0000 upwards.
fn map_page(m: &mut Mem, root: u64, g: u32, in_bits: u32, va: u64, pa: u64, leaf: u64) {
    let stride = g - 3;
    let levels = (in_bits - g).div_ceil(stride);
    let mut table = root;
    let mut next = 0x10_0000u64;
    for level in (4 - levels)..=3 {
        let shift = g + (3 - level) * stride;
        let idx = (va >> shift) & ((1u64 << stride) - 1);
        let slot = table + idx * 8;
        if level == 3 {
            m.0.insert(slot, pa | leaf | PAGE);
        } else {
            let t = *m.0.entry(slot).or_insert_with(|| {
                next += 1 << g;
                next | TABLE
            });
            table = t & !0xfff & ((1 << 48) - 1);
        }
    }
}

#[test]
fn el2_and_el3_walks_with_every_granule() {
    // (TG0, granule bits, T0SZ): 4 KiB/39-bit, 16 KiB/47-bit... 42-bit, 64 KiB/48-bit.
    for kind in [RegimeKind::El2, RegimeKind::El3] {
        for (tg0, g, tsz) in [
            (0u64, 12u32, 25u64),
            (0, 12, 16),
            (2, 14, 22),
            (2, 14, 17),
            (1, 16, 22),
            (1, 16, 16),
        ] {
            let in_bits = 64 - tsz as u32;
            let va = 0x0000_0012_3456_789a & ((1u64 << in_bits) - 1);
            let mut m = Mem::default();
            let root = 0x8_0000;
            map_page(&mut m, root, g, in_bits, va, 0x9000_0000, AF | (1 << 2));
            let r = single(kind, tsz | (tg0 << 14), root);
            let t = walk(&r, va, true, &mut m).unwrap_or_else(|f| panic!("{kind:?} TG0 {tg0} T0SZ {tsz}: {f:?}"));
            assert_eq!(
                t.pa(va),
                0x9000_0000 | (va & ((1 << g) - 1)),
                "{kind:?} TG0 {tg0} T0SZ {tsz}"
            );
            assert_eq!((t.size_bits, t.level, t.mem), (g, 3, MemType::Normal));
            assert!(!t.ng, "nG is ignored outside EL1&0");
            // No upper range: a TTBR1-style address is a level 0 translation fault.
            let hi = va | !((1u64 << in_bits) - 1);
            assert_eq!(walk(&r, hi, true, &mut m), Err(Fault::Translation(0)));
        }
    }
}

#[test]
fn el2_tcr_layout_tbi_ps_and_fault_levels() {
    // T0SZ = 25 (levels 1..3), 4 KiB, TBI (bit 20).
    let mut m = Mem::default();
    m.0.insert(0x1000, 0x2000 | TABLE);
    m.0.insert(0x2000, 0x3000 | TABLE);
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE);
    let r = single(RegimeKind::El2, 25 | (1 << 20), 0x1000);
    let tagged = 0xab00_0000_0000_0123;
    assert_eq!(walk(&r, tagged, true, &mut m).unwrap().pa(tagged), 0x7000_0123);
    assert_eq!(
        walk(&r, tagged, false, &mut m),
        Err(Fault::Translation(0)),
        "no TBI for fetches"
    );
    // Bit 37 (TBI0 in TCR_EL1) means nothing in TCR_EL2.
    let r37 = single(RegimeKind::El2, 25 | (1 << 37), 0x1000);
    assert_eq!(walk(&r37, tagged, true, &mut m), Err(Fault::Translation(0)));
    // Bit 7 (EPD0 in TCR_EL1) is RES0 in TCR_EL2: no effect.
    let r7 = single(RegimeKind::El2, 25 | (1 << 7), 0x1000);
    assert!(walk(&r7, 0x123, true, &mut m).is_ok());
    // PS = 0b010 (40 bits) in 18:16; IPS bits 34:32 are not TCR_EL2's.
    let ps40 = Regime {
        tcr: 25 | (2 << 16) | (5 << 32),
        ..r
    };
    m.0.insert(0x3000, (1 << 41) | AF | PAGE);
    assert_eq!(walk(&ps40, 0, true, &mut m), Err(Fault::AddressSize(3)));
    assert!(walk(&r, 0, true, &mut m).is_ok(), "PS = 48 bits");
    // Fault levels in the EL3 regime.
    let r3 = single(RegimeKind::El3, 25, 0x1000);
    m.0.insert(0x3000, 0x7000_0000 | PAGE);
    assert_eq!(walk(&r3, 0, true, &mut m), Err(Fault::AccessFlag(3)));
    m.0.remove(&0x2000);
    assert_eq!(walk(&r3, 0, true, &mut m), Err(Fault::Translation(2)));
    m.0.insert(0x1000, 0x1_0000_0000 | TABLE); // reads beyond Mem: external abort
    assert_eq!(walk(&r3, 0, true, &mut m), Err(Fault::WalkExternal(2)));
}

#[test]
fn el2_permission_model() {
    let r = single(RegimeKind::El2, 25, 0x1000);
    let mut m = Mem::default();
    m.0.insert(0x1000, 0x2000 | TABLE);
    m.0.insert(0x2000, 0x3000 | TABLE);
    let perms = |m: &mut Mem, r: &Regime| walk(r, 0, true, m).unwrap().perms;
    let el2 = |rd, wr, ex| Perms {
        el1_read: rd,
        el1_write: wr,
        el1_exec: ex,
        ..Perms::default()
    };
    // AP[1] is ignored: 0b00 and 0b01 are both read/write, nothing for EL0.
    for ap in [0b00, 0b01] {
        m.0.insert(0x3000, 0x7000_0000 | AF | PAGE | (ap << 6));
        assert_eq!(perms(&mut m, &r), el2(true, true, true), "AP {ap:#b}");
    }
    // AP[2]: read-only.
    for ap in [0b10, 0b11] {
        m.0.insert(0x3000, 0x7000_0000 | AF | PAGE | (ap << 6));
        assert_eq!(perms(&mut m, &r), el2(true, false, true), "AP {ap:#b}");
    }
    // Bit 54 is XN; bit 53 (PXN) is RES0 and ignored.
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE | (1 << 54));
    assert_eq!(perms(&mut m, &r), el2(true, true, false));
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE | (1 << 53));
    assert_eq!(perms(&mut m, &r), el2(true, true, true));
    // Table bits: APTable[1] (62) and XNTable (60) apply; APTable[0] (61)
    // and PXNTable (59) do not.
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE);
    m.0.insert(0x2000, 0x3000 | TABLE | (1 << 61) | (1 << 59));
    assert_eq!(perms(&mut m, &r), el2(true, true, true));
    m.0.insert(0x2000, 0x3000 | TABLE | (1 << 62) | (1 << 60));
    assert_eq!(perms(&mut m, &r), el2(true, false, false));
    // SCTLR_EL2.WXN: writable is never executable.
    m.0.insert(0x2000, 0x3000 | TABLE);
    let wxn = Regime { sctlr: 1 << 19, ..r };
    assert_eq!(perms(&mut m, &wxn), el2(true, true, false));
    let t = walk(&r, 0, true, &mut m).unwrap();
    assert_eq!(
        check_permission(&t, AccessType::Read, true),
        Err(Fault::Permission(3)),
        "no EL0 here"
    );
    assert_eq!(check_permission(&t, AccessType::Fetch, false), Ok(()));
}

#[test]
fn secure_regimes_report_ns() {
    let mut m = Mem::default();
    m.0.insert(0x1000, 0x2000 | TABLE);
    m.0.insert(0x2000, 0x3000 | TABLE);
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE);
    let r3 = single(RegimeKind::El3, 25, 0x1000);
    assert!(!walk(&r3, 0, true, &mut m).unwrap().ns);
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE | (1 << 5));
    assert!(walk(&r3, 0, true, &mut m).unwrap().ns, "descriptor NS");
    m.0.insert(0x3000, 0x7000_0000 | AF | PAGE);
    m.0.insert(0x1000, 0x2000 | TABLE | (1 << 63));
    assert!(walk(&r3, 0, true, &mut m).unwrap().ns, "NSTable");
    // Non-secure regimes: always NS, the bits are ignored.
    m.0.insert(0x1000, 0x2000 | TABLE);
    assert!(walk(&single(RegimeKind::El2, 25, 0x1000), 0, true, &mut m).unwrap().ns);
}

/// A stage 2 hook sees every table address and the output address.
#[test]
fn stage2_hook_sees_table_and_output_addresses() {
    struct S2 {
        mem: Mem,
        seen: Vec<(u64, Stage2Use)>,
    }
    impl DescReader for S2 {
        fn read_desc(&mut self, pa: u64) -> Result<u64, WalkAbort> {
            self.mem.read_desc(pa)
        }
        /// IPA + 0x1000_0000 for tables, 16 KiB stage 2 pages for data.
        fn stage2(&mut self, ipa: u64, use_: Stage2Use) -> Result<(u64, u32), Fault> {
            self.seen.push((ipa, use_));
            Ok(match use_ {
                Stage2Use::TableRead => (ipa + 0x1000_0000, 12),
                Stage2Use::Output => (ipa + 0x2000_0000, 14),
            })
        }
    }
    let mut s = S2 {
        mem: Mem::default(),
        seen: vec![],
    };
    s.mem.0.insert(0x1000_1000, 0x2000 | TABLE);
    s.mem.0.insert(0x1000_2000 + 8, 0x4000_0000 | AF | BLOCK); // L2[1]: 2 MiB block
    let r = regime(25, 0x1000);
    let va = 0x20_5678;
    let t = walk(&r, va, true, &mut s).unwrap();
    assert_eq!(t.pa(va), 0x6000_5678);
    assert_eq!(t.size_bits, 14, "combined size is the smaller stage");
    assert_eq!(
        s.seen,
        vec![
            (0x1000, Stage2Use::TableRead),
            (0x2008, Stage2Use::TableRead),
            (0x4000_5678, Stage2Use::Output)
        ]
    );
    // EL2 regime: no stage 2.
    s.seen.clear();
    let _ = walk(&single(RegimeKind::El2, 25, 0x1000), va, true, &mut s);
    assert!(s.seen.is_empty());
}

// ---- the CPU side: regimes, PAN, TLB tags, TLBI, AT ----

use crate::bus::BusError;
use crate::state::CpuConfig;

impl Bus for Mem {
    fn read(&mut self, _req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
        assert_eq!(size, 8, "only descriptor reads");
        self.read_desc(pa.0).map_err(|_| BusError::Unmapped(pa))
    }
    fn write(&mut self, _req: Requester, pa: PhysAddr, _size: u8, _value: u64) -> Result<(), BusError> {
        Err(BusError::Unmapped(pa))
    }
}

const TCR_39: u64 = 25 | (25 << 16) | (2 << 30) | IPS_48; // 4 KiB, 39-bit, both halves
const M: u64 = 1;

/// Leaf descriptor bits: AF, AttrIndx 1 (Normal), SH = 3.
const NORMAL: u64 = AF | (1 << 2) | (3 << 8);

/// A core with EL2 and EL3 implemented, in Non-secure EL1, and tables
/// for EL1&0 (root 0x1000), EL2 (0x11000) and EL3 (0x21000), all 39-bit
/// 4 KiB. Each root's L1[0] -> L2 -> L3 at +0x1000/+0x2000.
fn machine() -> (Cpu, Mem) {
    let cfg = CpuConfig {
        has_el2: true,
        has_el3: true,
        ..CpuConfig::cortex_a57(0)
    };
    let mut cpu = Cpu::new(0, cfg, 0);
    cpu.pstate.el = 1;
    cpu.pstate.pan = false;
    cpu.sys.set(SysReg::SCR_EL3, 1); // NS
    cpu.sys.set(SysReg::HCR_EL2, 0);
    cpu.sys.set(SysReg::VTTBR_EL2, 0);
    cpu.sys.set(SysReg::TCR_EL1, TCR_39);
    cpu.sys.set(SysReg::TTBR0_EL1, 0x1000);
    cpu.sys.set(SysReg::TTBR1_EL1, 0);
    cpu.sys.set(SysReg::MAIR_EL1, MAIR);
    cpu.sys.set(SysReg::SCTLR_EL1, M);
    for (tcr, ttbr, mair, sctlr) in [
        (SysReg::TCR_EL2, SysReg::TTBR0_EL2, SysReg::MAIR_EL2, SysReg::SCTLR_EL2),
        (SysReg::TCR_EL3, SysReg::TTBR0_EL3, SysReg::MAIR_EL3, SysReg::SCTLR_EL3),
    ] {
        cpu.sys.set(tcr, 25 | (5 << 16));
        cpu.sys.set(mair, MAIR);
        cpu.sys.set(sctlr, M);
        cpu.sys.set(ttbr, 0);
    }
    cpu.sys.set(SysReg::TTBR0_EL2, 0x11000);
    cpu.sys.set(SysReg::TTBR0_EL3, 0x21000);
    let mut m = Mem::default();
    for root in [0x1000u64, 0x11000, 0x21000] {
        m.0.insert(root, (root + 0x1000) | TABLE);
        m.0.insert(root + 0x1000, (root + 0x2000) | TABLE);
    }
    (cpu, m)
}

/// Maps page `n` (VA n * 4 KiB) of the table tree at `root` to `pa`.
fn map(m: &mut Mem, root: u64, n: u64, pa: u64, bits: u64) {
    m.0.insert(root + 0x2000 + n * 8, pa | bits | PAGE);
}

fn pa_of(cpu: &mut Cpu, m: &mut Mem, va: u64, access: AccessType, unpriv: bool) -> Result<u64, Fault> {
    cpu.translate(m, va, access, unpriv).map(|(pa, _)| pa.0)
}

#[test]
fn the_regime_follows_the_exception_level() {
    let (mut cpu, mut m) = machine();
    map(&mut m, 0x1000, 5, 0x5_0000, NORMAL);
    map(&mut m, 0x11000, 5, 0x6_0000, NORMAL);
    map(&mut m, 0x21000, 5, 0x7_0000, NORMAL);
    let va = 0x5123;
    for (el, pa) in [(1, 0x5_0123), (2, 0x6_0123), (3, 0x7_0123), (1, 0x5_0123)] {
        cpu.pstate.el = el;
        assert_eq!(pa_of(&mut cpu, &mut m, va, AccessType::Read, false), Ok(pa), "EL{el}");
    }
    // Every regime's MMU switch is its own: EL2 with SCTLR_EL2.M = 0 is flat.
    cpu.sys.set(SysReg::SCTLR_EL2, 0);
    cpu.pstate.el = 2;
    assert_eq!(pa_of(&mut cpu, &mut m, va, AccessType::Read, false), Ok(va));
    assert_eq!(
        cpu.translate(&mut m, va, AccessType::Read, false).unwrap().1,
        MemType::Device
    );
    // EL0 with HCR_EL2.TGE = 1 (E2H = 0): EL1&0 stage 1 is off.
    cpu.pstate.el = 0;
    assert_eq!(
        pa_of(&mut cpu, &mut m, va, AccessType::Read, false),
        Err(Fault::Permission(3))
    );
    cpu.sys.set(SysReg::HCR_EL2, 1 << 27);
    assert_eq!(pa_of(&mut cpu, &mut m, va, AccessType::Read, false), Ok(va));
    // HCR_EL2.VM without a stage 2 model: IPA = PA (logged once).
    cpu.sys.set(SysReg::HCR_EL2, 1);
    cpu.pstate.el = 1;
    assert_eq!(pa_of(&mut cpu, &mut m, va, AccessType::Read, false), Ok(0x5_0123));
}

#[test]
fn pan_blocks_privileged_data_access_to_el0_pages() {
    let (mut cpu, mut m) = machine();
    map(&mut m, 0x1000, 1, 0x1_0000, NORMAL | (0b01 << 6)); // EL0 RW (so not EL1-executable)
    map(&mut m, 0x1000, 2, 0x2_0000, NORMAL | (0b11 << 6)); // EL0/EL1 RO, executable
    map(&mut m, 0x1000, 3, 0x3_0000, NORMAL); // EL1 only
    let (user_rw, user_ro, kernel) = (0x1008, 0x2010, 0x3018);
    // PAN off: EL1 reads and writes EL0 pages.
    assert_eq!(pa_of(&mut cpu, &mut m, user_rw, AccessType::Write, false), Ok(0x1_0008));
    cpu.pstate.pan = true;
    for (va, access) in [
        (user_rw, AccessType::Read),
        (user_rw, AccessType::Write),
        (user_ro, AccessType::Read),
    ] {
        assert_eq!(
            pa_of(&mut cpu, &mut m, va, access, false),
            Err(Fault::Permission(3)),
            "{va:#x} {access:?}"
        );
    }
    // LDTR/STTR (unprivileged) are checked as EL0: PAN does not apply.
    assert_eq!(pa_of(&mut cpu, &mut m, user_rw, AccessType::Write, true), Ok(0x1_0008));
    assert_eq!(pa_of(&mut cpu, &mut m, user_ro, AccessType::Read, true), Ok(0x2_0010));
    // Instruction fetches are not data accesses.
    assert_eq!(pa_of(&mut cpu, &mut m, user_ro, AccessType::Fetch, false), Ok(0x2_0010));
    // EL1-only pages are unaffected.
    assert_eq!(pa_of(&mut cpu, &mut m, kernel, AccessType::Write, false), Ok(0x3_0018));
    // EL0 itself is unaffected by PAN.
    cpu.pstate.el = 0;
    assert_eq!(pa_of(&mut cpu, &mut m, user_rw, AccessType::Read, false), Ok(0x1_0008));
    // APTable[0] removes EL0 access, so PAN no longer applies.
    cpu.pstate.el = 1;
    m.0.insert(0x2000, 0x3000 | TABLE | (1 << 61));
    cpu.tlb.flush();
    assert_eq!(pa_of(&mut cpu, &mut m, user_rw, AccessType::Read, false), Ok(0x1_0008));
    // PAN does not exist in the EL2 regime (no E2H): nothing EL0-accessible.
    cpu.pstate.el = 2;
    map(&mut m, 0x11000, 1, 0x9_0000, NORMAL | (0b01 << 6));
    assert_eq!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Write, false), Ok(0x9_0000));
}

/// PAR_EL1 fields (Arm ARM, PAR_EL1): F bit 0; on success SH 8:7, NS 9,
/// RES1 11, PA 47:12, ATTR 63:56; on a fault FST 6:1, PTW 8, S 9, RES1 11.
#[test]
fn at_results_with_pan_and_faults() {
    let (mut cpu, mut m) = machine();
    map(&mut m, 0x1000, 1, 0x1_0000, NORMAL | (0b01 << 6));
    let va = 0x1abc;
    let ok = (0xff << 56) | 0x1_0000 | (1 << 9) | (3 << 7) | (1 << 11);
    cpu.pstate.pan = true;
    assert_eq!(cpu.at(&mut m, At::S1E1R, va), ok, "S1E1R ignores PAN");
    assert_eq!(cpu.at(&mut m, At::S1E1W, va), ok, "S1E1W ignores PAN");
    // S1E1RP honours PAN: permission fault at level 3, FST 0b001111.
    let perm3 = 1 | (0b001111 << 1) | (1 << 11);
    assert_eq!(cpu.at(&mut m, At::S1E1RP, va), perm3);
    assert_eq!(cpu.at(&mut m, At::S1E1WP, va), perm3);
    cpu.pstate.pan = false;
    assert_eq!(cpu.at(&mut m, At::S1E1RP, va), ok);
    assert_eq!(cpu.at(&mut m, At::S1E0W, va), ok);
    // A translation fault at level 3: FST 0b000111.
    assert_eq!(cpu.at(&mut m, At::S1E1R, 0x7000), 1 | (0b000111 << 1) | (1 << 11));
    // EL1-only page read as EL0: permission fault.
    map(&mut m, 0x1000, 2, 0x2_0000, NORMAL);
    assert_eq!(cpu.at(&mut m, At::S1E0R, 0x2000), perm3);
    // S12E1R is stage 1 only without stage 2; S1E2W / S1E3R use their regimes.
    assert_eq!(cpu.at(&mut m, At::S12E1R, va), ok);
    map(&mut m, 0x11000, 1, 0x4_0000, AF | (0b10 << 6)); // EL2 RO, Device (attr 0)
    let dev = 0x4_0000 | (1 << 9) | (0b10 << 7) | (1 << 11);
    assert_eq!(cpu.at(&mut m, At::S1E2R, va), dev);
    assert_eq!(cpu.at(&mut m, At::S1E2W, va), perm3);
    map(&mut m, 0x21000, 1, 0x8_0000, NORMAL);
    // EL3 is Secure: NS = 0 unless the descriptor says NS.
    assert_eq!(
        cpu.at(&mut m, At::S1E3R, va),
        (0xff << 56) | 0x8_0000 | (3 << 7) | (1 << 11)
    );
    // Address size fault at level 0 with a TTBR beyond IPS (40 bits):
    // FST 0b000000.
    cpu.sys.set(SysReg::TCR_EL1, (TCR_39 & !(7 << 32)) | (2 << 32));
    cpu.sys.set(SysReg::TTBR0_EL1, 1 << 41);
    cpu.tlb.flush();
    assert_eq!(cpu.at(&mut m, At::S1E1R, va), 1 | (1 << 11));
}

#[test]
fn at_and_tlbi_decoding_and_permissions() {
    assert_eq!(At::decode(0, 9, 0), Some(At::S1E1RP));
    assert_eq!(At::decode(0, 9, 1), Some(At::S1E1WP));
    assert_eq!(At::decode(4, 8, 6), Some(At::S12E0R));
    assert_eq!(At::decode(6, 8, 1), Some(At::S1E3W));
    assert_eq!(At::decode(0, 9, 2), None);
    assert!(At::S1E1R.permitted(1, false) && !At::S1E1R.permitted(0, true));
    assert!(!At::S1E2R.permitted(1, true) && At::S1E2R.permitted(2, true) && !At::S1E2R.permitted(3, false));
    assert!(At::S12E1W.permitted(3, false) && !At::S12E1W.permitted(1, true));
    assert!(At::S1E3R.permitted(3, false) && !At::S1E3R.permitted(2, true));

    let xt = (7u64 << 48) | 0x0000_0fff_ffff_ffff; // ASID 7, VA[55:12] all ones
    let va = 0xffff_ffff_ffff_f000;
    let d = |op1, crm, op2| Tlbi::decode(op1, crm, op2, xt).unwrap();
    assert_eq!(d(0, 7, 0), Tlbi::VmallE1 { is: false, vmid: 0 });
    assert_eq!(d(0, 3, 0), Tlbi::VmallE1 { is: true, vmid: 0 });
    let vae1 = |is, last| Tlbi::VaE1 {
        is,
        last,
        va,
        asid: 7,
        vmid: 0,
    };
    assert_eq!(
        (d(0, 7, 1), d(0, 3, 1), d(0, 7, 5), d(0, 3, 5)),
        (
            vae1(false, false),
            vae1(true, false),
            vae1(false, true),
            vae1(true, true)
        )
    );
    assert_eq!(
        d(0, 3, 2),
        Tlbi::AsidE1 {
            is: true,
            asid: 7,
            vmid: 0
        }
    );
    assert_eq!(
        d(0, 7, 3),
        Tlbi::VaaE1 {
            is: false,
            last: false,
            va,
            vmid: 0
        }
    );
    assert_eq!(
        d(0, 3, 7),
        Tlbi::VaaE1 {
            is: true,
            last: true,
            va,
            vmid: 0
        }
    );
    let ipa = 0x0000_ffff_ffff_f000;
    assert_eq!(
        d(4, 0, 1),
        Tlbi::Ipas2E1 {
            is: true,
            last: false,
            ipa
        }
    );
    assert_eq!(
        d(4, 4, 5),
        Tlbi::Ipas2E1 {
            is: false,
            last: true,
            ipa
        }
    );
    assert_eq!(d(4, 3, 0), Tlbi::AllE2 { is: true });
    assert_eq!(
        d(4, 7, 1),
        Tlbi::VaE2 {
            is: false,
            last: false,
            va
        }
    );
    assert_eq!(
        d(4, 3, 5),
        Tlbi::VaE2 {
            is: true,
            last: true,
            va
        }
    );
    assert_eq!(
        d(4, 7, 4),
        Tlbi::AllE1 {
            is: false,
            secure: false
        }
    );
    assert_eq!(d(4, 3, 6), Tlbi::VmallS12E1 { is: true, vmid: 0 });
    assert_eq!(d(6, 7, 0), Tlbi::AllE3 { is: false });
    assert_eq!(
        d(6, 3, 1),
        Tlbi::VaE3 {
            is: true,
            last: false,
            va
        }
    );
    assert_eq!(
        d(6, 7, 5),
        Tlbi::VaE3 {
            is: false,
            last: true,
            va
        }
    );
    assert_eq!(Tlbi::decode(0, 1, 0, 0), None, "TLBI *OS forms are not implemented");
    assert_eq!(Tlbi::decode(6, 7, 4, 0), None);
    // A low VA: bits 55:12 from Xt[43:0], no sign extension.
    assert_eq!(
        Tlbi::decode(4, 7, 1, 0x1234),
        Some(Tlbi::VaE2 {
            is: false,
            last: false,
            va: 0x123_4000
        })
    );
    // Who may execute what.
    let alle2 = Tlbi::AllE2 { is: false };
    let alle1 = Tlbi::AllE1 {
        is: false,
        secure: false,
    };
    let alle3 = Tlbi::AllE3 { is: false };
    let vmalle1 = Tlbi::VmallE1 { is: false, vmid: 0 };
    assert!(!vmalle1.permitted(0, true) && vmalle1.permitted(1, false) && vmalle1.permitted(3, false));
    assert!(!alle2.permitted(1, true) && alle2.permitted(2, true) && !alle2.permitted(3, false));
    assert!(!alle1.permitted(1, true) && alle1.permitted(2, true) && alle1.permitted(3, false));
    assert!(!alle3.permitted(2, true) && alle3.permitted(3, false));
}

/// A translation of one 4 KiB page for direct TLB tests.
fn page(pa: u64, ng: bool, size_bits: u32) -> Translation {
    Translation {
        pa_base: pa & !((1 << size_bits) - 1),
        size_bits,
        mem: MemType::Normal,
        attr: 0xff,
        sh: 3,
        perms: Perms::default(),
        ng,
        level: 3,
        ns: true,
    }
}

#[test]
fn tlb_tags_asids_globals_regimes_and_vmids() {
    use tlb::ctx;
    let mut tlb = Tlb::default();
    let (el10, el2) = (RegimeKind::El10, RegimeKind::El2);
    let a5 = ctx::tag(el10, 0, 5);
    let a6 = ctx::tag(el10, 0, 6);
    tlb.insert(0x1000, a5, &page(0x8000_0000, true, 12));
    assert_eq!(tlb.lookup(0x1fff, a5).map(|e| e.pa_page), Some(0x8000_0000));
    assert_eq!(tlb.lookup(0x1000, a6), None, "non-global entry of another ASID");
    // The same VA in the other ASID replaces it (direct-mapped) and is told apart.
    tlb.insert(0x1000, a6, &page(0x9000_0000, true, 12));
    assert_eq!(tlb.lookup(0x1000, a6).map(|e| e.pa_page), Some(0x9000_0000));
    assert_eq!(tlb.lookup(0x1000, a5), None);
    // Global entries match any ASID of their regime and VMID only.
    tlb.insert(0x2000, a5, &page(0xa000_0000, false, 12));
    assert!(tlb.lookup(0x2000, ctx::tag(el10, 0, 99)).is_some());
    assert_eq!(tlb.lookup(0x2000, ctx::tag(el10, 1, 5)), None, "another VMID");
    assert_eq!(tlb.lookup(0x2000, ctx::tag(el10, ctx::SECURE, 5)), None, "Secure EL1&0");
    assert_eq!(tlb.lookup(0x2000, ctx::tag(el2, 0, 0)), None, "the EL2 regime");
    // 16-bit ASIDs are distinct tags.
    assert_ne!(ctx::tag(el10, 0, 0x105), a5);
    tlb.flush();
    assert_eq!(tlb.lookup(0x2000, a5), None);
    assert_eq!((tlb.hits, tlb.misses), (3, 6));
}

#[test]
fn asids_through_the_cpu_8_and_16_bit() {
    let (mut cpu, mut m) = machine();
    map(&mut m, 0x1000, 1, 0x1_0000, NORMAL | (1 << 11)); // nG
    cpu.sys.set(SysReg::TTBR0_EL1, 0x1000 | (0x0105 << 48));
    assert_eq!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Read, false), Ok(0x1_0000));
    // Change the tables without TLBI: the cached entry still answers for
    // ASID 0x05 (8-bit ASIDs ignore TTBR bits 63:56)...
    map(&mut m, 0x1000, 1, 0x2_0000, NORMAL | (1 << 11));
    cpu.sys.set(SysReg::TTBR0_EL1, 0x1000 | (0x0205 << 48));
    assert_eq!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Read, false), Ok(0x1_0000));
    // ...but with TCR_EL1.AS = 1 ASID 0x205 is a different context.
    cpu.sys.set(SysReg::TCR_EL1, TCR_39 | (1 << 36));
    assert_eq!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Read, false), Ok(0x2_0000));
    // TCR_EL1.A1 = 1: the ASID comes from TTBR1_EL1.
    cpu.sys.set(SysReg::TCR_EL1, TCR_39 | (1 << 36) | (1 << 22));
    cpu.sys.set(SysReg::TTBR1_EL1, 0x0105 << 48);
    map(&mut m, 0x1000, 1, 0x3_0000, NORMAL | (1 << 11));
    assert_eq!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Read, false), Ok(0x3_0000));
    // VMIDs: another VTTBR_EL2.VMID is another context.
    map(&mut m, 0x1000, 1, 0x4_0000, NORMAL | (1 << 11));
    cpu.sys.set(SysReg::VTTBR_EL2, 3 << 48);
    assert_eq!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Read, false), Ok(0x4_0000));
    assert_eq!(
        cpu.sys.get(SysReg::ID_AA64MMFR0_EL1) >> 4 & 0xf,
        2,
        "16-bit ASIDs advertised"
    );
}

/// Fills a TLB with one entry per (regime, space, ASID, page) kind and
/// reports which survive `op`.
fn survivors(op: Tlbi) -> Vec<&'static str> {
    use tlb::ctx;
    let (el10, el2, el3) = (RegimeKind::El10, RegimeKind::El2, RegimeKind::El3);
    let cases: [(&str, u64, u64, Translation); 11] = [
        ("a5", 0x1000, ctx::tag(el10, 0, 5), page(0x1000, true, 12)),
        ("a6", 0x2000, ctx::tag(el10, 0, 6), page(0x2000, true, 12)),
        ("g", 0x3000, ctx::tag(el10, 0, 5), page(0x3000, false, 12)),
        // A 2 MiB block cached for one 4 KiB page inside it.
        ("blk", 0x20_5000, ctx::tag(el10, 0, 5), page(0x20_0000, true, 21)),
        (
            "a5-hi",
            0xffff_ffff_fff0_7000,
            ctx::tag(el10, 0, 5),
            page(0x4000, true, 12),
        ),
        ("vm1", 0x1000 + 0x4_0000, ctx::tag(el10, 1, 5), page(0x5000, true, 12)),
        (
            "vm1-g",
            0x3000 + 0x4_0000,
            ctx::tag(el10, 1, 5),
            page(0x6000, false, 12),
        ),
        (
            "sec",
            0x1000 + 0x8_0000,
            ctx::tag(el10, ctx::SECURE, 5),
            page(0x7000, true, 12),
        ),
        ("el2", 0x1000 + 0xc_0000, ctx::tag(el2, 0, 0), page(0x8000, false, 12)),
        (
            "el2-b",
            0x20_0000 + 0xa_0000,
            ctx::tag(el2, 0, 0),
            page(0x9000, false, 12),
        ),
        ("el3", 0x10_9000, ctx::tag(el3, 0, 0), page(0xa000, false, 12)),
    ];
    let mut tlb = Tlb::default();
    for (_, va, tag, t) in &cases {
        tlb.insert(*va, *tag, t);
    }
    assert_eq!(tlb.entries().count(), cases.len(), "test entries must not collide");
    tlb.invalidate(&op);
    cases
        .iter()
        .filter(|(_, va, tag, _)| tlb.lookup(*va, *tag).is_some())
        .map(|c| c.0)
        .collect()
}

/// The journal an engine with a TLB of its own reads: each epoch's change
/// in order, `Change::removes` agreeing with what this TLB dropped itself,
/// `None` once more changes happened than it holds; `peek` finds the
/// entry an access just used.
#[test]
fn tlb_journal_describes_each_epoch() {
    use tlb::{ctx, Change, JOURNAL};
    let mut tlb = Tlb::default();
    let a5 = ctx::tag(RegimeKind::El10, 0, 5);
    let ng = tlb.insert(0x1000, a5, &page(0x1000, true, 12));
    let g = tlb.insert(0x2000, a5, &page(0x2000, false, 12));
    let blk = tlb.insert(0x20_5000, a5, &page(0x20_0000, true, 21));
    let e0 = tlb.epoch;
    let op = Tlbi::VaE1 {
        is: false,
        last: true,
        va: 0x3f_f000,
        asid: 5,
        vmid: 0,
    };
    tlb.invalidate(&op);
    assert_eq!(tlb.entries().count(), 2, "the block's entry went");
    tlb.regime_written(SysReg::TTBR1_EL1);
    tlb.regime_written(SysReg::TCR_EL1);
    let ch: Vec<Change> = tlb.changes_since(e0).unwrap().collect();
    assert_eq!(ch, [Change::Op(op), Change::Context, Change::All]);
    assert_eq!([ng, g, blk].map(|e| ch[0].removes(&e)), [false, false, true]);
    assert_eq!([ng, g, blk].map(|e| ch[1].removes(&e)), [true, false, true]);
    assert!(ch[2].removes(&g));
    // Tagged, this TLB keeps its entries across a TTBR write.
    assert_eq!(tlb.entries().count(), 2);
    assert_eq!(tlb.changes_since(tlb.epoch).unwrap().count(), 0);
    for _ in 0..JOURNAL {
        tlb.regime_written(SysReg::TTBR0_EL1);
    }
    assert!(tlb.changes_since(e0).is_none());
    assert_eq!(tlb.changes_since(tlb.epoch - JOURNAL as u64).unwrap().count(), JOURNAL);
    assert!(tlb.changes_since(tlb.epoch + 1).is_none());
    assert_eq!(tlb.peek(0x2abc), Some(g));
    assert_eq!(tlb.peek(0x10_2abc), None, "same slot, another page");
}

#[test]
fn every_tlbi_removes_exactly_its_entries() {
    let all = [
        "a5", "a6", "g", "blk", "a5-hi", "vm1", "vm1-g", "sec", "el2", "el2-b", "el3",
    ];
    let except = |gone: &[&str]| all.iter().copied().filter(|n| !gone.contains(n)).collect::<Vec<_>>();
    let cases: Vec<(Tlbi, Vec<&str>)> = vec![
        (
            Tlbi::VmallE1 { is: false, vmid: 0 },
            except(&["a5", "a6", "g", "blk", "a5-hi"]),
        ),
        (Tlbi::VmallE1 { is: true, vmid: 1 }, except(&["vm1", "vm1-g"])),
        (
            Tlbi::VmallS12E1 { is: false, vmid: 0 },
            except(&["a5", "a6", "g", "blk", "a5-hi"]),
        ),
        (
            Tlbi::AllE1 {
                is: false,
                secure: false,
            },
            except(&["a5", "a6", "g", "blk", "a5-hi", "vm1", "vm1-g"]),
        ),
        (Tlbi::AllE1 { is: true, secure: true }, except(&["sec"])),
        // By VA and ASID: the ASID's entry or a global one, nothing else.
        (
            Tlbi::VaE1 {
                is: false,
                last: false,
                va: 0x1000,
                asid: 5,
                vmid: 0,
            },
            except(&["a5"]),
        ),
        (
            Tlbi::VaE1 {
                is: false,
                last: true,
                va: 0x1000,
                asid: 6,
                vmid: 0,
            },
            all.to_vec(),
        ),
        (
            Tlbi::VaE1 {
                is: true,
                last: false,
                va: 0x3000,
                asid: 9,
                vmid: 0,
            },
            except(&["g"]),
        ),
        // Any address inside a block removes the block's entries.
        (
            Tlbi::VaE1 {
                is: false,
                last: true,
                va: 0x3f_f000,
                asid: 5,
                vmid: 0,
            },
            except(&["blk"]),
        ),
        // Upper-range VAs: bits 55:12 only.
        (
            Tlbi::VaE1 {
                is: false,
                last: false,
                va: 0xffff_ffff_fff0_7000,
                asid: 5,
                vmid: 0,
            },
            except(&["a5-hi"]),
        ),
        (
            Tlbi::VaE1 {
                is: false,
                last: false,
                va: 0x0000_0000_fff0_7000,
                asid: 5,
                vmid: 0,
            },
            all.to_vec(),
        ),
        (
            Tlbi::VaaE1 {
                is: false,
                last: false,
                va: 0x2000,
                vmid: 0,
            },
            except(&["a6"]),
        ),
        (
            Tlbi::VaaE1 {
                is: true,
                last: true,
                va: 0x3000,
                vmid: 0,
            },
            except(&["g"]),
        ),
        (
            Tlbi::VaaE1 {
                is: false,
                last: false,
                va: 0x4_1000,
                vmid: 1,
            },
            except(&["vm1"]),
        ),
        // ASID: non-global entries of that ASID (and VMID) only.
        (
            Tlbi::AsidE1 {
                is: false,
                asid: 5,
                vmid: 0,
            },
            except(&["a5", "blk", "a5-hi"]),
        ),
        (
            Tlbi::AsidE1 {
                is: true,
                asid: 5,
                vmid: 1,
            },
            except(&["vm1"]),
        ),
        // Nothing of stage 2 is cached.
        (
            Tlbi::Ipas2E1 {
                is: false,
                last: false,
                ipa: 0x1000,
            },
            all.to_vec(),
        ),
        (Tlbi::AllE2 { is: false }, except(&["el2", "el2-b"])),
        (
            Tlbi::VaE2 {
                is: false,
                last: false,
                va: 0xc_1000,
            },
            except(&["el2"]),
        ),
        (
            Tlbi::VaE2 {
                is: true,
                last: true,
                va: 0x2a_0000,
            },
            except(&["el2-b"]),
        ),
        (
            Tlbi::VaE2 {
                is: false,
                last: false,
                va: 0x1000,
            },
            all.to_vec(),
        ),
        (Tlbi::AllE3 { is: true }, except(&["el3"])),
        (
            Tlbi::VaE3 {
                is: false,
                last: true,
                va: 0x10_9000,
            },
            except(&["el3"]),
        ),
        (
            Tlbi::VaE3 {
                is: false,
                last: false,
                va: 0xc_1000,
            },
            all.to_vec(),
        ),
    ];
    for (op, expect) in cases {
        assert_eq!(survivors(op), expect, "{op:?}");
    }
}

#[test]
fn cpu_tlbi_fills_in_context_and_queues_broadcasts() {
    let (mut cpu, mut m) = machine();
    map(&mut m, 0x1000, 1, 0x1_0000, NORMAL | (1 << 11));
    cpu.sys.set(SysReg::VTTBR_EL2, 4 << 48);
    cpu.sys.set(SysReg::TTBR0_EL1, 0x1000 | (0x0305 << 48));
    assert!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Read, false).is_ok());
    // Local form: VMID and 8-bit ASID from the context; nothing queued.
    // (Xt ASID 0x7705 masks to 0x05 with TCR_EL1.AS = 0.)
    cpu.tlbi(Tlbi::decode(0, 7, 1, (0x7705 << 48) | 1).unwrap());
    assert_eq!(cpu.tlb.entries().count(), 0);
    assert!(cpu.broadcast_tlbi.is_empty());
    // IS form: applied here and queued, resolved.
    assert!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Read, false).is_ok());
    cpu.tlbi(Tlbi::decode(0, 3, 2, 0x0005 << 48).unwrap());
    assert_eq!(cpu.tlb.entries().count(), 0);
    assert_eq!(
        cpu.broadcast_tlbi,
        vec![Tlbi::AsidE1 {
            is: true,
            asid: 5,
            vmid: 4
        }]
    );
    // HCR_EL2.FB turns EL1 forms into broadcasts.
    cpu.sys.set(SysReg::HCR_EL2, 1 << 9);
    cpu.tlbi(Tlbi::decode(0, 7, 0, 0).unwrap());
    assert_eq!(cpu.broadcast_tlbi[1], Tlbi::VmallE1 { is: true, vmid: 4 });
    cpu.sys.set(SysReg::HCR_EL2, 0);
    // ALLE1 at EL3 in Secure state targets the Secure EL1&0 regime.
    cpu.pstate.el = 3;
    cpu.sys.set(SysReg::SCR_EL3, 0);
    cpu.tlbi(Tlbi::decode(4, 3, 4, 0).unwrap());
    assert_eq!(cpu.broadcast_tlbi[2], Tlbi::AllE1 { is: true, secure: true });
    // Delivery: another core loses its matching entries, the queue empties.
    let (mut other, mut m2) = machine();
    map(&mut m2, 0x1000, 1, 0x1_0000, NORMAL | (1 << 11));
    other.sys.set(SysReg::VTTBR_EL2, 4 << 48);
    other.sys.set(SysReg::TTBR0_EL1, 0x1000 | (0x05 << 48));
    assert!(pa_of(&mut other, &mut m2, 0x1000, AccessType::Read, false).is_ok());
    map(&mut m2, 0x11000, 2, 0x2_0000, NORMAL);
    other.pstate.el = 2;
    assert!(pa_of(&mut other, &mut m2, 0x2000, AccessType::Read, false).is_ok());
    assert_eq!(other.tlb.entries().count(), 2);
    let mut cpus = vec![cpu, other];
    tlb::deliver_broadcasts(&mut cpus, 0);
    assert!(cpus[0].broadcast_tlbi.is_empty());
    let left: Vec<_> = cpus[1].tlb.entries().map(|e| tlb::ctx::regime(e.ctx)).collect();
    assert_eq!(left, vec![RegimeKind::El2 as u64], "only the EL2 entry survives");
    // A long undelivered queue collapses into invalidate-everything.
    for _ in 0..200 {
        cpus[0].tlbi(Tlbi::VaaE1 {
            is: true,
            last: false,
            va: 0,
            vmid: 0,
        });
    }
    assert!(cpus[0].broadcast_tlbi.len() <= 70);
    assert!(cpus[0].broadcast_tlbi.contains(&Tlbi::AllE2 { is: true }));
}

#[test]
fn tlbi_through_the_cpu_is_precise() {
    let (mut cpu, mut m) = machine();
    map(&mut m, 0x1000, 1, 0x1_0000, NORMAL | (1 << 11)); // nG
    map(&mut m, 0x1000, 2, 0x2_0000, NORMAL); // global
    cpu.sys.set(SysReg::TTBR0_EL1, 0x1000 | (5 << 48));
    for va in [0x1000, 0x2000] {
        assert!(pa_of(&mut cpu, &mut m, va, AccessType::Read, false).is_ok());
    }
    // TLBI VALE1 for another ASID: the nG entry survives, the global one goes.
    cpu.tlbi(Tlbi::decode(0, 7, 5, (6 << 48) | 1).unwrap());
    cpu.tlbi(Tlbi::decode(0, 7, 5, (6 << 48) | 2).unwrap());
    let left: Vec<_> = cpu.tlb.entries().map(|e| e.va_page).collect();
    assert_eq!(left, vec![0x1000]);
    // An EL2 TLBI leaves EL1&0 entries alone.
    cpu.pstate.el = 2;
    cpu.tlbi(Tlbi::decode(4, 7, 0, 0).unwrap());
    assert_eq!(cpu.tlb.entries().count(), 1);
    // The cached translation is used until invalidated.
    cpu.pstate.el = 1;
    map(&mut m, 0x1000, 1, 0x3_0000, NORMAL | (1 << 11));
    assert_eq!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Read, false), Ok(0x1_0000));
    cpu.tlbi(Tlbi::decode(0, 7, 2, 5 << 48).unwrap());
    assert_eq!(pa_of(&mut cpu, &mut m, 0x1000, AccessType::Read, false), Ok(0x3_0000));
}

/// A debugger's walk: the current regime's mapping, no TLB entry left
/// behind (a stale entry would change what the guest sees after a TLBI it
/// skipped), no permission check, faults returned rather than taken.
#[test]
fn debug_translation_leaves_no_trace() {
    let (mut cpu, mut m) = machine();
    // EL0-only, non-executable, read-only for EL1 with PAN: still readable
    // by the debugger.
    map(&mut m, 0x1000, 5, 0x5_0000, NORMAL | (1 << 6) | (1 << 7) | (3 << 53));
    cpu.pstate.pan = true;
    let epoch = cpu.tlb.epoch;
    let (sys_before, pc_before) = (cpu.sys.get(SysReg::ESR_EL1), cpu.pc);
    assert_eq!(cpu.translate_debug(&mut m, 0x5123), Ok(PhysAddr(0x5_0123)));
    assert_eq!(cpu.translate_debug(&mut m, 0x9000), Err(Fault::Translation(3)));
    assert_eq!(cpu.tlb.epoch, epoch);
    assert_eq!((cpu.sys.get(SysReg::ESR_EL1), cpu.pc), (sys_before, pc_before));
    // Nothing was cached: after unmapping, the guest's own translation
    // walks again and faults.
    m.0.remove(&(0x1000 + 0x2000 + 5 * 8));
    assert_eq!(
        pa_of(&mut cpu, &mut m, 0x5123, AccessType::Read, false),
        Err(Fault::Translation(3))
    );
    // The regime follows the EL; with its MMU off the mapping is flat.
    cpu.pstate.el = 2;
    map(&mut m, 0x11000, 5, 0x6_0000, NORMAL);
    assert_eq!(cpu.translate_debug(&mut m, 0x5123), Ok(PhysAddr(0x6_0123)));
    cpu.sys.set(SysReg::SCTLR_EL2, 0);
    assert_eq!(cpu.translate_debug(&mut m, 0x5123), Ok(PhysAddr(0x5123)));
}
