//! The AArch64 register layout gdb sees: the `g` packet holds the core
//! and FP/SIMD registers (gdb's `org.gnu.gdb.aarch64.core` and `.fpu`
//! features), system registers follow with their own numbers and are
//! fetched one by one (`p`/`P`). The target description is generated
//! from the machine's list of implemented system registers, so gdb only
//! offers registers the CPU has.

use gdbstub::arch::{Arch, RegId, Registers};
use std::fmt::Write as _;
use std::num::NonZeroUsize;

/// gdb register numbers of the fixed part (the order of the features).
pub mod regnum {
    /// X0; X1..X30 follow.
    pub const X0: usize = 0;
    /// SP.
    pub const SP: usize = 31;
    /// PC.
    pub const PC: usize = 32;
    /// CPSR (32 bits).
    pub const CPSR: usize = 33;
    /// V0; V1..V31 follow.
    pub const V0: usize = 34;
    /// FPSR (32 bits).
    pub const FPSR: usize = 66;
    /// FPCR (32 bits).
    pub const FPCR: usize = 67;
    /// The first system register; the Nth of the target's list is
    /// `SYS0 + N`.
    pub const SYS0: usize = 68;
}

/// The architecture marker for gdbstub.
pub enum PreboardAArch64 {}

impl Arch for PreboardAArch64 {
    type Usize = u64;
    type Registers = CoreRegs;
    type BreakpointKind = usize;
    type RegId = AArch64Reg;
}

/// One register as gdb numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AArch64Reg {
    /// X0..X30.
    X(u8),
    /// SP.
    Sp,
    /// PC.
    Pc,
    /// CPSR.
    Cpsr,
    /// V0..V31.
    V(u8),
    /// FPSR.
    Fpsr,
    /// FPCR.
    Fpcr,
    /// The Nth system register of the target description.
    Sys(usize),
}

impl AArch64Reg {
    /// Size in bytes on the wire.
    pub fn size(self) -> usize {
        match self {
            AArch64Reg::Cpsr | AArch64Reg::Fpsr | AArch64Reg::Fpcr => 4,
            AArch64Reg::V(_) => 16,
            _ => 8,
        }
    }
}

impl RegId for AArch64Reg {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        use regnum::*;
        let r = match id {
            X0..=30 => AArch64Reg::X(id as u8),
            SP => AArch64Reg::Sp,
            PC => AArch64Reg::Pc,
            CPSR => AArch64Reg::Cpsr,
            V0..=65 => AArch64Reg::V((id - V0) as u8),
            FPSR => AArch64Reg::Fpsr,
            FPCR => AArch64Reg::Fpcr,
            // Bounded so a wild number in a packet is refused early.
            n if (SYS0..SYS0 + 4096).contains(&n) => AArch64Reg::Sys(n - SYS0),
            _ => return None,
        };
        Some((r, NonZeroUsize::new(r.size())))
    }
}

/// The registers of the `g` packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreRegs {
    /// X0..X30.
    pub x: [u64; 31],
    /// SP.
    pub sp: u64,
    /// PC.
    pub pc: u64,
    /// CPSR.
    pub cpsr: u32,
    /// V0..V31.
    pub v: [u128; 32],
    /// FPSR.
    pub fpsr: u32,
    /// FPCR.
    pub fpcr: u32,
}

impl Registers for CoreRegs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.pc
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        let mut put = |b: &[u8]| b.iter().for_each(|&b| write_byte(Some(b)));
        for x in &self.x {
            put(&x.to_le_bytes());
        }
        put(&self.sp.to_le_bytes());
        put(&self.pc.to_le_bytes());
        put(&self.cpsr.to_le_bytes());
        for v in &self.v {
            put(&v.to_le_bytes());
        }
        put(&self.fpsr.to_le_bytes());
        put(&self.fpcr.to_le_bytes());
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        const LEN: usize = 31 * 8 + 8 + 8 + 4 + 32 * 16 + 4 + 4;
        if bytes.len() != LEN {
            return Err(());
        }
        let mut at = 0usize;
        let mut take = |n: usize| {
            let s = &bytes[at..at + n];
            at += n;
            let mut b = [0u8; 16];
            b[..n].copy_from_slice(s);
            u128::from_le_bytes(b)
        };
        for x in self.x.iter_mut() {
            *x = take(8) as u64;
        }
        self.sp = take(8) as u64;
        self.pc = take(8) as u64;
        self.cpsr = take(4) as u32;
        for v in self.v.iter_mut() {
            *v = take(16);
        }
        self.fpsr = take(4) as u32;
        self.fpcr = take(4) as u32;
        Ok(())
    }
}

/// The target description: gdb's AArch64 core and FP features (register
/// names and sizes as gdb requires them) and a system-register feature
/// listing `sysregs` (names as the Arm ARM spells them) from
/// [`regnum::SYS0`] on.
pub fn target_xml(sysregs: &[&str]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?>\n<target version=\"1.0\">\n\
         <architecture>aarch64</architecture>\n<feature name=\"org.gnu.gdb.aarch64.core\">\n",
    );
    for i in 0..31 {
        let _ = writeln!(s, "<reg name=\"x{i}\" bitsize=\"64\" regnum=\"{i}\"/>");
    }
    s.push_str(
        "<reg name=\"sp\" bitsize=\"64\" type=\"data_ptr\" regnum=\"31\"/>\n\
         <reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"32\"/>\n\
         <reg name=\"cpsr\" bitsize=\"32\" regnum=\"33\"/>\n</feature>\n\
         <feature name=\"org.gnu.gdb.aarch64.fpu\">\n\
         <vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n\
         <vector id=\"v2u\" type=\"uint64\" count=\"2\"/>\n\
         <vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n\
         <vector id=\"v4u\" type=\"uint32\" count=\"4\"/>\n\
         <vector id=\"v8u\" type=\"uint16\" count=\"8\"/>\n\
         <vector id=\"v16u\" type=\"uint8\" count=\"16\"/>\n\
         <union id=\"vregs\">\n\
         <field name=\"d\" type=\"v2d\"/><field name=\"s\" type=\"v4f\"/>\n\
         <field name=\"ud\" type=\"v2u\"/><field name=\"us\" type=\"v4u\"/>\n\
         <field name=\"uh\" type=\"v8u\"/><field name=\"ub\" type=\"v16u\"/>\n\
         <field name=\"q\" type=\"uint128\"/>\n</union>\n",
    );
    for i in 0..32 {
        let _ = writeln!(
            s,
            "<reg name=\"v{i}\" bitsize=\"128\" type=\"vregs\" regnum=\"{}\"/>",
            regnum::V0 + i
        );
    }
    s.push_str(
        "<reg name=\"fpsr\" bitsize=\"32\" regnum=\"66\"/>\n<reg name=\"fpcr\" bitsize=\"32\" regnum=\"67\"/>\n</feature>\n",
    );
    s.push_str("<feature name=\"org.preboard.aarch64.sysregs\">\n");
    for (i, name) in sysregs.iter().enumerate() {
        let _ = writeln!(
            s,
            "<reg name=\"{name}\" bitsize=\"64\" type=\"uint64\" regnum=\"{}\" group=\"system\"/>",
            regnum::SYS0 + i
        );
    }
    s.push_str("</feature>\n</target>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_packet_round_trips_and_rejects_wrong_lengths() {
        let mut r = CoreRegs {
            sp: 0x1122,
            pc: 0x4020_0000,
            cpsr: 0x3c5,
            fpsr: 0x10,
            fpcr: 0x0300_0000,
            ..Default::default()
        };
        r.x[30] = 0xdead_beef;
        r.v[31] = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
        let mut bytes = Vec::new();
        r.gdb_serialize(|b| bytes.push(b.unwrap()));
        // 31 X + SP + PC (8 bytes), CPSR (4), 32 V (16), FPSR + FPCR (4).
        assert_eq!(bytes.len(), 33 * 8 + 4 + 32 * 16 + 8);
        // X30 sits right before SP, little-endian.
        assert_eq!(&bytes[30 * 8..30 * 8 + 4], &[0xef, 0xbe, 0xad, 0xde]);
        let mut back = CoreRegs::default();
        back.gdb_deserialize(&bytes).unwrap();
        assert_eq!(back, r);
        assert!(back.gdb_deserialize(&bytes[1..]).is_err());
        assert!(back.gdb_deserialize(&[]).is_err());
    }

    #[test]
    fn register_numbers_follow_the_description() {
        assert_eq!(AArch64Reg::from_raw_id(31).unwrap().0, AArch64Reg::Sp);
        assert_eq!(AArch64Reg::from_raw_id(65).unwrap().0, AArch64Reg::V(31));
        let (r, size) = AArch64Reg::from_raw_id(regnum::SYS0 + 2).unwrap();
        assert_eq!((r, size.map(|s| s.get())), (AArch64Reg::Sys(2), Some(8)));
        assert!(AArch64Reg::from_raw_id(usize::MAX).is_none());
        let xml = target_xml(&["MIDR_EL1", "MPIDR_EL1"]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let regs: Vec<(&str, &str)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("reg"))
            .map(|n| (n.attribute("name").unwrap(), n.attribute("regnum").unwrap()))
            .collect();
        assert_eq!(regs.len(), 68 + 2);
        assert_eq!(regs[33], ("cpsr", "33"));
        assert_eq!(regs[67], ("fpcr", "67"));
        assert_eq!(regs[69], ("MPIDR_EL1", "69"));
    }
}
