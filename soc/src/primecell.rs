//! What the ARM PrimeCell (AMBA APB) peripherals share: 32-bit registers
//! behind an APB bridge, and the identification block at 0xFE0-0xFFC.
//!
//! Access rules (the same for the PL011, PL031 and PL061): a read of 1, 2 or
//! 4 bytes at any offset inside one register returns those bytes of the
//! register (the bridge presents a narrow read as a word read and selects
//! the lanes); a write of 1, 2 or 4 bytes must start at the register's
//! offset and writes the value zero-extended. 8-byte accesses and misaligned
//! writes are rejected.

use crate::device::{AccessInfo, AccessRejected};

/// Start of the PeriphID0-3 / PCellID0-3 block.
pub const ID_BASE: u64 = 0xfe0;
/// PCellID0-3 of every PrimeCell.
pub const PCELL_ID: u32 = 0xb105_f00d;

/// The identification register at `offset` (one byte of `periph_id` or of
/// [`PCELL_ID`] per 32-bit register), or `None` outside the block.
pub fn id_register(periph_id: u32, offset: u64) -> Option<u32> {
    let i = offset.checked_sub(ID_BASE).filter(|&d| d < 0x20)? / 4;
    let word = if i < 4 { periph_id } else { PCELL_ID };
    Some((word >> (8 * (i % 4))) & 0xff)
}

/// A read: checks the size and lanes, reads the register containing the
/// access with `read_reg(word_offset)` and returns the selected bytes.
pub fn read(info: AccessInfo, read_reg: impl FnOnce(u64) -> u32) -> Result<u64, AccessRejected> {
    let lane = info.offset & 3;
    if !matches!(info.size, 1 | 2 | 4) || lane + u64::from(info.size) > 4 {
        return Err(AccessRejected);
    }
    let v = u64::from(read_reg(info.offset & !3)) >> (8 * lane);
    Ok(v & ((1u64 << (8 * u32::from(info.size))) - 1))
}

/// A write: checks the size and alignment and returns the value to store
/// in the register at `info.offset`.
pub fn write_value(info: AccessInfo, value: u64) -> Result<u32, AccessRejected> {
    if !matches!(info.size, 1 | 2 | 4) || info.offset & 3 != 0 {
        return Err(AccessRejected);
    }
    Ok((value & ((1u64 << (8 * u32::from(info.size))) - 1)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64, size: u8) -> AccessInfo {
        AccessInfo {
            cpu: 0,
            region: 0,
            offset,
            size,
            debug: false,
        }
    }

    #[test]
    fn id_block() {
        let ids: Vec<u32> = (0..8)
            .map(|i| id_register(0x0004_1031, ID_BASE + 4 * i).unwrap())
            .collect();
        assert_eq!(ids, [0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        assert_eq!(id_register(0x0004_1031, ID_BASE - 4), None);
        assert_eq!(id_register(0x0004_1031, 0x1000), None);
    }

    #[test]
    fn lanes_and_sizes() {
        let reg = |_| 0x1122_3344;
        assert_eq!(read(at(0x10, 4), reg), Ok(0x1122_3344));
        assert_eq!(read(at(0x11, 1), reg), Ok(0x33));
        assert_eq!(read(at(0x12, 2), reg), Ok(0x1122));
        assert_eq!(read(at(0x13, 2), reg), Err(AccessRejected));
        assert_eq!(read(at(0x10, 8), reg), Err(AccessRejected));
        assert_eq!(write_value(at(0x10, 1), 0x1ff), Ok(0xff));
        assert_eq!(write_value(at(0x11, 1), 0), Err(AccessRejected));
        assert_eq!(write_value(at(0x10, 8), 0), Err(AccessRejected));
    }
}
