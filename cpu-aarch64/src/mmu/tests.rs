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
    Regime {
        tcr: tcr | IPS_48,
        ttbr0,
        ttbr1: 0,
        mair: MAIR,
        sctlr: 0,
    }
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
    let r = Regime {
        tcr,
        ttbr0: 0,
        ttbr1: 0x5000,
        mair: MAIR,
        sctlr: 0,
    };
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
    m.0.insert(0x3000, 0x1_0000_0000_0000 | AF | PAGE); // output address above 48 bits
    assert_eq!(walk(&r, 0, true, &mut m), Err(Fault::AddressSize(3)));
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
fn tlb_asids_and_global_entries() {
    let mut tlb = Tlb::default();
    let t = Translation {
        pa_base: 0x8000_0000,
        size_bits: 12,
        mem: MemType::Normal,
        attr: 0xff,
        sh: 3,
        perms: Perms::default(),
        ng: true,
        level: 3,
    };
    tlb.insert(0x1000, 5, t);
    assert_eq!(tlb.lookup(0x1fff, 5), Some(t));
    assert_eq!(tlb.lookup(0x1000, 6), None, "non-global entry of another ASID");
    let g = Translation { ng: false, ..t };
    tlb.insert(0x2000, 5, g);
    assert_eq!(tlb.lookup(0x2000, 9), Some(g), "global entries match any ASID");
    tlb.flush();
    assert_eq!(tlb.lookup(0x2000, 5), None);
    assert_eq!((tlb.hits, tlb.misses), (2, 2));
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
