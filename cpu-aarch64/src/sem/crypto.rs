//! Semantics of group `crypto`: the cryptographic extension (AES, SHA-1,
//! SHA-256, 64-bit PMULL). Each instruction reads its registers whole, hands
//! them to one [`Emitter::crypto`] operation and writes the destination
//! whole; `crate::crypto` evaluates the operations.

use super::*;
use crate::isa::CryptoVisitor;

impl<E: Emitter> Translate<'_, E> {
    /// `Vd = op(a, b, c)` after the FP/SIMD access check.
    fn crypto_op(&mut self, op: CryptoOp, rd: u32, a: E::Q, b: E::Q, c: E::Q) -> SemResult<E> {
        let r = self.e.crypto(op, a, b, c);
        self.e.set_q(rd, r);
        Ok(())
    }
}

impl<E: Emitter> CryptoVisitor for Translate<'_, E> {
    fn aes(&mut self, op: u32, rn: u32, rd: u32) -> SemResult<E> {
        self.e.check_fp_enabled()?;
        let n = self.e.get_q(rn);
        let zero = self.e.q_imm(0);
        match op {
            0 | 1 => {
                let d = self.e.get_q(rd);
                let op = if op == 0 { CryptoOp::Aese } else { CryptoOp::Aesd };
                self.crypto_op(op, rd, d, n, zero)
            }
            2 => self.crypto_op(CryptoOp::Aesmc, rd, n, zero, zero),
            _ => self.crypto_op(CryptoOp::Aesimc, rd, n, zero, zero),
        }
    }

    fn sha_3reg(&mut self, rm: u32, opcode: u32, rn: u32, rd: u32) -> SemResult<E> {
        let op = match opcode {
            0 => CryptoOp::Sha1C,
            1 => CryptoOp::Sha1P,
            2 => CryptoOp::Sha1M,
            3 => CryptoOp::Sha1Su0,
            4 => CryptoOp::Sha256H,
            5 => CryptoOp::Sha256H2,
            6 => CryptoOp::Sha256Su1,
            _ => return self.undef(),
        };
        self.e.check_fp_enabled()?;
        let d = self.e.get_q(rd);
        let n = self.e.get_q(rn);
        let m = self.e.get_q(rm);
        self.crypto_op(op, rd, d, n, m)
    }

    fn sha_2reg(&mut self, opcode: u32, rn: u32, rd: u32) -> SemResult<E> {
        if opcode == 3 {
            return self.undef();
        }
        self.e.check_fp_enabled()?;
        let n = self.e.get_q(rn);
        let zero = self.e.q_imm(0);
        match opcode {
            // SHA1H Sd, Sn: the result is zero-extended to the whole register.
            0 => self.crypto_op(CryptoOp::Sha1H, rd, n, zero, zero),
            1 => {
                let d = self.e.get_q(rd);
                self.crypto_op(CryptoOp::Sha1Su1, rd, d, n, zero)
            }
            _ => {
                let d = self.e.get_q(rd);
                self.crypto_op(CryptoOp::Sha256Su0, rd, d, n, zero)
            }
        }
    }

    fn pmull64(&mut self, q: u32, rm: u32, rn: u32, rd: u32) -> SemResult<E> {
        self.e.check_fp_enabled()?;
        let n = self.e.get_q(rn);
        let m = self.e.get_q(rm);
        let zero = self.e.q_imm(0);
        self.crypto_op(CryptoOp::Pmull64 { upper: q == 1 }, rd, n, m, zero)
    }
}

#[cfg(test)]
mod tests {
    //! The instructions on the interpreter: which register is which operand,
    //! what is written back, and the traps.

    use crate::bus::{Bus, BusError, PhysAddr, Requester};
    use crate::crypto::eval;
    use crate::sem::CryptoOp;
    use crate::state::CpuConfig;
    use crate::sysreg::SysReg;
    use crate::Cpu;

    const BASE: u64 = 0x4000_0000;

    /// One instruction word at `BASE`; nothing else is mapped.
    struct One(u32);

    impl Bus for One {
        fn read(&mut self, _: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
            match (pa.0, size) {
                (BASE, 4) => Ok(u64::from(self.0)),
                _ => Err(BusError::Unmapped(pa)),
            }
        }
        fn write(&mut self, _: Requester, pa: PhysAddr, _: u8, _: u64) -> Result<(), BusError> {
            Err(BusError::Unmapped(pa))
        }
    }

    /// Distinct, irregular register contents.
    fn v(i: u32) -> u128 {
        let x = u128::from(i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        x ^ (x >> 61) ^ (x << 17)
    }

    /// Executes `raw` with V[i] = v(i) and FP enabled (CPACR_EL1.FPEN = 11).
    fn exec(raw: u32, cpacr: u64) -> Cpu {
        let mut cpu = Cpu::new(0, CpuConfig::cortex_a57(0), BASE);
        cpu.sys.set(SysReg::CPACR_EL1, cpacr);
        cpu.sys.set(SysReg::VBAR_EL1, 0x1000);
        cpu.v = std::array::from_fn(|i| v(i as u32));
        let _ = cpu.step(&mut One(raw));
        cpu
    }

    const FPEN: u64 = 3 << 20;

    /// Every form with Vd = 1, Vn = 2, Vm = 3 (assembled by
    /// `aarch64-linux-gnu-as`) and the operands `CryptoOp` documents.
    #[test]
    fn operands_and_destination() {
        let (d, n, m) = (v(1), v(2), v(3));
        let cases: [(u32, CryptoOp, [u128; 3]); 16] = [
            (0x4e284841, CryptoOp::Aese, [d, n, 0]),      // aese v1.16b, v2.16b
            (0x4e285841, CryptoOp::Aesd, [d, n, 0]),      // aesd v1.16b, v2.16b
            (0x4e286841, CryptoOp::Aesmc, [n, 0, 0]),     // aesmc v1.16b, v2.16b
            (0x4e287841, CryptoOp::Aesimc, [n, 0, 0]),    // aesimc v1.16b, v2.16b
            (0x5e030041, CryptoOp::Sha1C, [d, n, m]),     // sha1c q1, s2, v3.4s
            (0x5e031041, CryptoOp::Sha1P, [d, n, m]),     // sha1p q1, s2, v3.4s
            (0x5e032041, CryptoOp::Sha1M, [d, n, m]),     // sha1m q1, s2, v3.4s
            (0x5e033041, CryptoOp::Sha1Su0, [d, n, m]),   // sha1su0 v1.4s, v2.4s, v3.4s
            (0x5e034041, CryptoOp::Sha256H, [d, n, m]),   // sha256h q1, q2, v3.4s
            (0x5e035041, CryptoOp::Sha256H2, [d, n, m]),  // sha256h2 q1, q2, v3.4s
            (0x5e036041, CryptoOp::Sha256Su1, [d, n, m]), // sha256su1 v1.4s, v2.4s, v3.4s
            (0x5e280841, CryptoOp::Sha1H, [n, 0, 0]),     // sha1h s1, s2
            (0x5e281841, CryptoOp::Sha1Su1, [d, n, 0]),   // sha1su1 v1.4s, v2.4s
            (0x5e282841, CryptoOp::Sha256Su0, [d, n, 0]), // sha256su0 v1.4s, v2.4s
            (0x0ee3e041, CryptoOp::Pmull64 { upper: false }, [n, m, 0]), // pmull v1.1q, v2.1d, v3.1d
            (0x4ee3e041, CryptoOp::Pmull64 { upper: true }, [n, m, 0]), // pmull2 v1.1q, v2.2d, v3.2d
        ];
        for (raw, op, [a, b, c]) in cases {
            let cpu = exec(raw, FPEN);
            assert_eq!(cpu.pc, BASE + 4, "{raw:08x} did not retire");
            assert_eq!(cpu.v[1], eval(op, a, b, c), "{raw:08x} {op:?}");
            for r in (0..32).filter(|&r| r != 1) {
                assert_eq!(cpu.v[r], v(r as u32), "{raw:08x} wrote V{r}");
            }
        }
        // SHA1H writes S1 and zeroes the rest of V1.
        let cpu = exec(0x5e280841, FPEN);
        assert_eq!(cpu.v[1], u128::from((v(2) as u32).rotate_left(30)));
    }

    #[test]
    fn traps_when_fp_is_disabled() {
        for raw in [0x4e284841, 0x5e030041, 0x5e280841, 0x4ee3e041] {
            for cpacr in [0, 2 << 20] {
                let cpu = exec(raw, cpacr);
                let esr = cpu.sys.get(SysReg::ESR_EL1);
                assert_eq!(esr >> 26, 0x07, "{raw:08x}: ESR_EL1 {esr:#x}");
                assert_eq!(cpu.pc, 0x1200, "{raw:08x}");
                assert_eq!(cpu.v[1], v(1), "{raw:08x} wrote V1");
            }
        }
    }

    #[test]
    fn unadvertised_and_reserved_encodings_are_undefined() {
        let words = [
            0x5e037041, // SHA three-register, opcode 111 (reserved)
            0x5e283841, // SHA two-register, opcode 00011 (reserved)
            0xce638041, // sha512h q1, q2, v3.2d (SHA512 not advertised)
            0xce030041, // eor3 v1.16b, v2.16b, v3.16b, v0.16b (SHA3)
            0xcec08441, // sm4e v1.4s, v2.4s (SM4)
            0x4e684841, // AESE with size = 01
        ];
        for raw in words {
            // With FP disabled too: UNDEFINED comes before the FP trap.
            for cpacr in [FPEN, 0] {
                let cpu = exec(raw, cpacr);
                let esr = cpu.sys.get(SysReg::ESR_EL1);
                assert_eq!(esr >> 26, 0, "{raw:08x}: ESR_EL1 {esr:#x}");
                assert_eq!(cpu.v[1], v(1));
            }
        }
    }
}
