//! Disassembly of group `crypto`: the cryptographic extension.

use super::*;
use crate::isa::CryptoVisitor;

impl CryptoVisitor for Disasm {
    fn aes(&mut self, op: u32, rn: u32, rd: u32) -> Self::Out {
        let mn = ["aese", "aesd", "aesmc", "aesimc"][op as usize];
        Some(format!("{mn} v{rd}.16b, v{rn}.16b"))
    }

    fn sha_3reg(&mut self, rm: u32, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        Some(match opcode {
            0..=2 => {
                let mn = ["sha1c", "sha1p", "sha1m"][opcode as usize];
                format!("{mn} q{rd}, s{rn}, v{rm}.4s")
            }
            3 => format!("sha1su0 v{rd}.4s, v{rn}.4s, v{rm}.4s"),
            4 => format!("sha256h q{rd}, q{rn}, v{rm}.4s"),
            5 => format!("sha256h2 q{rd}, q{rn}, v{rm}.4s"),
            6 => format!("sha256su1 v{rd}.4s, v{rn}.4s, v{rm}.4s"),
            _ => return None,
        })
    }

    fn sha_2reg(&mut self, opcode: u32, rn: u32, rd: u32) -> Self::Out {
        Some(match opcode {
            0 => format!("sha1h s{rd}, s{rn}"),
            1 => format!("sha1su1 v{rd}.4s, v{rn}.4s"),
            2 => format!("sha256su0 v{rd}.4s, v{rn}.4s"),
            _ => return None,
        })
    }

    fn pmull64(&mut self, q: u32, rm: u32, rn: u32, rd: u32) -> Self::Out {
        let (mn, t) = if q == 1 { ("pmull2", "2d") } else { ("pmull", "1d") };
        Some(format!("{mn} v{rd}.1q, v{rn}.{t}, v{rm}.{t}"))
    }
}
