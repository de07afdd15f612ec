//! Disassembly text (capstone) and ELF symbols (goblin) for the
//! Disassembly panel. Both are host-side helpers over bytes the machine
//! thread read; neither touches the machine.

use capstone::arch::arm64::ArchMode;
use capstone::arch::BuildsCapstone as _;
use capstone::Capstone;

/// AArch64 instruction words as text.
pub struct Disassembler {
    cs: Option<Capstone>,
}

impl Default for Disassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Disassembler {
    /// A disassembler; if capstone cannot start, words show as `.word`.
    pub fn new() -> Self {
        let cs = Capstone::new().arm64().mode(ArchMode::Arm).build().ok();
        Disassembler { cs }
    }

    /// The instruction `word` at `addr` (branch targets are absolute).
    pub fn text(&self, addr: u64, word: u32) -> String {
        let Some(cs) = &self.cs else {
            return format!(".word {word:#010x}");
        };
        match cs.disasm_count(&word.to_le_bytes(), addr, 1) {
            Ok(insns) => match insns.iter().next() {
                Some(i) => format!("{} {}", i.mnemonic().unwrap_or("?"), i.op_str().unwrap_or("")),
                None => format!(".word {word:#010x}"),
            },
            Err(_) => format!(".word {word:#010x}"),
        }
    }
}

/// Named addresses from an ELF image's symbol table, sorted.
#[derive(Clone, Debug, Default)]
pub struct Symbols {
    /// (address, size, name), by address.
    syms: Vec<(u64, u64, String)>,
}

impl Symbols {
    /// The function and object symbols of `image` if it is an ELF file
    /// with a symbol table; none otherwise (raw images, stripped ELFs).
    pub fn from_image(image: &[u8]) -> Symbols {
        let Ok(elf) = goblin::elf::Elf::parse(image) else {
            return Symbols::default();
        };
        // (address, preference, size, name): where several symbols share
        // an address, functions win over objects over untyped (linker)
        // symbols such as `__image_start`.
        let mut syms: Vec<(u64, u8, u64, String)> = elf
            .syms
            .iter()
            .filter(|s| {
                matches!(
                    s.st_type(),
                    goblin::elf::sym::STT_FUNC | goblin::elf::sym::STT_NOTYPE | goblin::elf::sym::STT_OBJECT
                ) && s.st_value != 0
                    && s.st_shndx != 0
            })
            .filter_map(|s| {
                let name = elf.strtab.get_at(s.st_name)?;
                // Mapping symbols ($x, $d) and local labels are noise.
                let rank = match s.st_type() {
                    goblin::elf::sym::STT_FUNC => 0,
                    goblin::elf::sym::STT_OBJECT => 1,
                    _ => 2,
                };
                (!name.is_empty() && !name.starts_with('$') && !name.starts_with(".L"))
                    .then(|| (s.st_value, rank, s.st_size, name.to_string()))
            })
            .collect();
        syms.sort();
        syms.dedup_by_key(|s| s.0);
        Symbols {
            syms: syms.into_iter().map(|(a, _, size, name)| (a, size, name)).collect(),
        }
    }

    /// How many symbols there are.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The symbol starting exactly at `addr`.
    pub fn at(&self, addr: u64) -> Option<&str> {
        let i = self.syms.binary_search_by_key(&addr, |s| s.0).ok()?;
        Some(&self.syms[i].2)
    }

    /// `name+offset` for the symbol containing `addr` (the nearest one
    /// below it when sizes are unknown).
    pub fn describe(&self, addr: u64) -> Option<String> {
        let i = self.syms.partition_point(|s| s.0 <= addr).checked_sub(1)?;
        let (base, size, name) = &self.syms[i];
        if *size != 0 && addr >= base + size {
            return None;
        }
        Some(match addr - base {
            0 => name.clone(),
            off => format!("{name}+{off:#x}"),
        })
    }

    /// The address of symbol `name`.
    pub fn lookup(&self, name: &str) -> Option<u64> {
        self.syms.iter().find(|s| s.2 == name).map(|s| s.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodings from the Arm ARM: NOP is 0xd503201f, RET 0xd65f03c0, and
    /// B with imm26 = 2 at 0x1000 branches to 0x1008.
    #[test]
    fn words_disassemble_with_absolute_branch_targets() {
        let d = Disassembler::new();
        assert_eq!(d.text(0, 0xd503_201f).trim(), "nop");
        assert_eq!(d.text(0, 0xd65f_03c0).trim(), "ret");
        assert_eq!(d.text(0x1000, 0x1400_0002).trim(), "b #0x1008");
        // All zeros is UDF #0 (permanently undefined, but allocated).
        assert_eq!(d.text(0, 0).trim(), "udf #0");
        // op0 = 0b0001 (bits 28:25) is unallocated: shown as data.
        assert_eq!(d.text(0, 0x0200_0000), ".word 0x02000000");
    }

    /// The bundled demo firmware is linked with its symbols: its entry
    /// point is `_start` (firmware/common/start.S).
    #[test]
    fn firmware_symbols() {
        let image = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../firmware/prebuilt/hello.elf")).unwrap();
        let elf = goblin::elf::Elf::parse(&image).unwrap();
        let s = Symbols::from_image(&image);
        assert!(!s.is_empty());
        let start = s.lookup("_start").expect("_start");
        assert_eq!(start, elf.entry);
        assert_eq!(s.at(start), Some("_start"));
        let main = s.lookup("fw_main").expect("fw_main");
        assert_eq!(s.describe(main + 8).as_deref(), Some("fw_main+0x8"));
        assert!(Symbols::from_image(b"not an elf").is_empty());
    }
}
