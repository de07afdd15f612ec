//! Hand-written cases the random differential tests rarely hit: bitmask
//! immediates, extended-register forms, base/destination overlaps, the
//! exclusive monitor, every condition code, LSE atomics and CAS.
//! Encodings were produced with `aarch64-linux-gnu-as` (the comments are
//! its disassembly).

use cpu_aarch64::bus::{Bus, BusError, PhysAddr, Requester};
use cpu_aarch64::isa::{condition_holds, decode_bit_masks};
use cpu_aarch64::state::CpuConfig;
use cpu_aarch64::{Cpu, StepEvent};

const BASE: u64 = 0x4000_0000;
const DATA: u64 = BASE + 0x8000;
const HLT: u32 = 0xd45e_0000;

struct Ram(Vec<u8>);

impl Bus for Ram {
    fn read(&mut self, _req: Requester, pa: PhysAddr, size: u8) -> Result<u64, BusError> {
        let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
        let bytes = self.0.get(off..off + size as usize).ok_or(BusError::Unmapped(pa))?;
        Ok(bytes.iter().rev().fold(0, |acc, &b| (acc << 8) | u64::from(b)))
    }
    fn write(&mut self, _req: Requester, pa: PhysAddr, size: u8, value: u64) -> Result<(), BusError> {
        let off = pa.0.checked_sub(BASE).ok_or(BusError::Unmapped(pa))? as usize;
        let bytes = self.0.get_mut(off..off + size as usize).ok_or(BusError::Unmapped(pa))?;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (value >> (8 * i)) as u8;
        }
        Ok(())
    }
}

impl Ram {
    fn u64_at(&self, addr: u64) -> u64 {
        let o = (addr - BASE) as usize;
        u64::from_le_bytes(self.0[o..o + 8].try_into().unwrap())
    }
    fn set_u64(&mut self, addr: u64, v: u64) {
        let o = (addr - BASE) as usize;
        self.0[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }
}

fn setup(words: &[u32]) -> (Cpu, Ram) {
    let mut ram = Ram(vec![0; 0x10000]);
    for (i, w) in words.iter().enumerate() {
        ram.0[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    let mut cpu = Cpu::new(0, CpuConfig::cortex_a57(0), BASE);
    cpu.sp_el[1] = BASE + 0x4000;
    (cpu, ram)
}

fn run(cpu: &mut Cpu, ram: &mut Ram) {
    let (_, ev) = cpu.run(ram, 1000);
    assert_eq!(ev, StepEvent::Semihosting, "did not reach HLT: pc={:#x}", cpu.pc);
}

#[test]
fn bitmask_immediates() {
    // N=1, imms=7, immr=0: eight ones.
    assert_eq!(decode_bit_masks(1, 0b000111, 0, true, 64).unwrap().0, 0xff);
    // esize 2: 0b01 repeated.
    assert_eq!(
        decode_bit_masks(0, 0b111100, 0, true, 64).unwrap().0,
        0x5555_5555_5555_5555
    );
    // esize 2, rotated by one: 0b10 repeated.
    assert_eq!(
        decode_bit_masks(0, 0b111100, 1, true, 64).unwrap().0,
        0xaaaa_aaaa_aaaa_aaaa
    );
    // esize 8, four ones rotated right by 2: 0b1100_0011.
    assert_eq!(decode_bit_masks(0, 0b110011, 2, true, 32).unwrap().0, 0xc3c3_c3c3);
    // esize 32 in a 64-bit op: 0x0000ffff repeated.
    assert_eq!(
        decode_bit_masks(0, 0b001111, 0, true, 64).unwrap().0,
        0x0000_ffff_0000_ffff
    );
    // Reserved: all-ones element, and N=1 in a 32-bit operation.
    assert_eq!(decode_bit_masks(0, 0b111111, 0, true, 64), None);
    assert_eq!(decode_bit_masks(1, 0b111111, 0, true, 64), None);
    assert_eq!(decode_bit_masks(1, 0b000000, 0, true, 32), None);
    // Bitfield (immediate = false) allows the all-ones element (UBFM x, #0, #63).
    assert_eq!(decode_bit_masks(1, 0b111111, 0, false, 64), Some((u64::MAX, u64::MAX)));
}

#[test]
fn extended_register_forms() {
    let (mut cpu, mut ram) = setup(&[
        0x8b22_c820, // add x0, x1, w2, sxtw #2
        0x8b22_03e3, // add x3, sp, w2, uxtb
        0x6b22_203f, // cmp w1, w2, uxth
        0xcb22_73ff, // sub sp, sp, x2, lsl #4
        0xab22_8424, // adds x4, x1, w2, sxtb #1
        HLT,
    ]);
    cpu.x[1] = 0x1000;
    cpu.x[2] = 0xffff_ffff_8000_01ff; // w2 = 0x800001ff
    let sp0 = cpu.sp();
    run(&mut cpu, &mut ram);
    assert_eq!(
        cpu.x[0],
        0x1000u64.wrapping_add((0x8000_01ffu32 as i32 as i64 as u64) << 2)
    );
    assert_eq!(cpu.x[3], sp0 + 0xff);
    assert_eq!(cpu.sp(), sp0.wrapping_sub(0xffff_ffff_8000_01ffu64 << 4));
    // sxtb #1 of 0xff is -1 << 1 = -2: 0x1000 - 2.
    assert_eq!(cpu.x[4], 0xffe);
    // adds of 0x1000 + (-2): carry out set, result positive, not zero.
    assert_eq!(cpu.pstate.nzcv, 0x2000_0000);
}

#[test]
fn base_register_overlaps_without_writeback() {
    let (mut cpu, mut ram) = setup(&[
        0xf900_0021, // str x1, [x1]        stores its own address
        0xa940_0422, // ldp x2, x1, [x1]    both loads use the old base
        0xf940_0463, // ldr x3, [x3, #8]
        HLT,
    ]);
    cpu.x[1] = DATA;
    cpu.x[3] = DATA;
    ram.set_u64(DATA + 8, 0x1122_3344_5566_7788);
    run(&mut cpu, &mut ram);
    assert_eq!(ram.u64_at(DATA), DATA);
    assert_eq!(cpu.x[2], DATA);
    assert_eq!(cpu.x[1], 0x1122_3344_5566_7788);
    assert_eq!(cpu.x[3], 0x1122_3344_5566_7788);
}

#[test]
fn exclusive_monitor() {
    let (mut cpu, mut ram) = setup(&[
        0xc85f_7c22, // ldxr x2, [x1]
        0x9100_0442, // add x2, x2, #1
        0xc803_7c22, // stxr w3, x2, [x1]    succeeds
        0xc804_7c22, // stxr w4, x2, [x1]    fails: the monitor was consumed
        0xc85f_7c22, // ldxr x2, [x1]
        0xd503_3f5f, // clrex
        0xc805_7c22, // stxr w5, x2, [x1]    fails: cleared
        0xc85f_7c22, // ldxr x2, [x1]
        0xc806_7ce2, // stxr w6, x2, [x7]    fails: another address
        0xc87f_a428, // ldaxp x8, x9, [x1]
        0xc82a_a029, // stlxp w10, x9, x8, [x1]  succeeds, swapping the halves
        HLT,
    ]);
    cpu.x[1] = DATA;
    cpu.x[7] = DATA + 64;
    ram.set_u64(DATA, 41);
    ram.set_u64(DATA + 8, 7);
    for r in [3, 4, 5, 6, 10] {
        cpu.x[r] = 0xdead;
    }
    run(&mut cpu, &mut ram);
    assert_eq!([cpu.x[3], cpu.x[4], cpu.x[5], cpu.x[6], cpu.x[10]], [0, 1, 1, 1, 0]);
    assert_eq!(ram.u64_at(DATA), 7);
    assert_eq!(ram.u64_at(DATA + 8), 42);
    assert_eq!(ram.u64_at(DATA + 64), 0, "a failed STXR must not write");
}

#[test]
fn exception_entry_clears_the_monitor() {
    // ldxr x2,[x1]; svc #0 -> vector (VBAR=BASE+0x800, +0x200): stxr w3,x2,[x1]; hlt
    let mut words = vec![0xc85f_7c22, 0xd400_0001];
    words.resize(0xa00 / 4, 0);
    words.extend([0xc803_7c22, HLT]);
    let (mut cpu, mut ram) = setup(&words);
    cpu.sys.set(cpu_aarch64::sysreg::SysReg::VBAR_EL1, BASE + 0x800);
    cpu.x[1] = DATA;
    run(&mut cpu, &mut ram);
    assert_eq!(cpu.x[3], 1, "STXR after an exception must fail");
}

#[test]
fn every_condition_code() {
    // Definitions from the Arm ARM, written independently of the decoder's.
    for nzcv in 0u64..16 {
        let (n, z, c, v) = (nzcv & 8 != 0, nzcv & 4 != 0, nzcv & 2 != 0, nzcv & 1 != 0);
        let want = [
            z,
            !z,
            c,
            !c,
            n,
            !n,
            v,
            !v,
            c && !z,
            !c || z,
            n == v,
            n != v,
            !z && n == v,
            z || n != v,
            true,
            true,
        ];
        for (cond, &w) in want.iter().enumerate() {
            assert_eq!(
                condition_holds(cond as u32, nzcv << 28),
                w,
                "cond {cond} nzcv {nzcv:04b}"
            );
        }
    }
}

#[test]
fn lse_atomics_and_compare_and_swap() {
    let (mut cpu, mut ram) = setup(&[
        0xf8e2_0023, // ldaddal x2, x3, [x1]   [x1] = 100 + 5, x3 = 100
        0x3824_4025, // ldsmaxb w4, w5, [x1]   (x1 retargeted: signed byte max(-2, 3) = 3)
        0xf826_8027, // swp x6, x7, [x1]       x7 = 105, [x1] = x6
        0xc8a8_7c29, // cas x8, x9, [x1]       x8 == [x1]: store x9
        0xc8ea_fc2b, // casal x10, x11, [x1]   mismatch: x10 = old
        0x482c_7c2e, // casp x12, x13, x14, x15, [x1]
        0xf8bf_c030, // ldapr x16, [x1]
        0xb824_703f, // stumin w4, [x1]
        HLT,
    ]);
    // One base for everything except ldsmaxb, which we point at a byte.
    cpu.x[1] = DATA;
    ram.set_u64(DATA, 100);
    cpu.x[2] = 5;
    cpu.x[4] = 3;
    cpu.x[6] = 0x6666;
    cpu.x[8] = 0x6666;
    cpu.x[9] = 0x9999;
    cpu.x[10] = 1;
    cpu.x[11] = 0xbad;
    ram.0[(DATA - BASE) as usize] = 100;
    // Run the first instruction, then retarget x1 for the byte max.
    cpu.step(&mut ram).unwrap();
    assert_eq!((cpu.x[3], ram.u64_at(DATA)), (100, 105));
    let saved = cpu.x[1];
    cpu.x[1] = DATA + 0x100;
    ram.0[0x8100] = 0xfe; // -2
    cpu.step(&mut ram).unwrap();
    assert_eq!((cpu.x[5], ram.0[0x8100]), (0xfe, 3));
    cpu.x[1] = saved;
    cpu.step(&mut ram).unwrap(); // swp
    assert_eq!((cpu.x[7], ram.u64_at(DATA)), (105, 0x6666));
    cpu.step(&mut ram).unwrap(); // cas succeeds
    assert_eq!((cpu.x[8], ram.u64_at(DATA)), (0x6666, 0x9999));
    cpu.step(&mut ram).unwrap(); // casal fails
    assert_eq!((cpu.x[10], ram.u64_at(DATA)), (0x9999, 0x9999));
    // casp: compare x12:x13 with [x1]:[x1+8], store x14:x15.
    cpu.x[12] = 0x9999;
    cpu.x[13] = 0;
    cpu.x[14] = 0xaaaa;
    cpu.x[15] = 0xbbbb;
    cpu.step(&mut ram).unwrap();
    assert_eq!((ram.u64_at(DATA), ram.u64_at(DATA + 8)), (0xaaaa, 0xbbbb));
    assert_eq!((cpu.x[12], cpu.x[13]), (0x9999, 0));
    cpu.step(&mut ram).unwrap(); // ldapr
    assert_eq!(cpu.x[16], 0xaaaa);
    cpu.step(&mut ram).unwrap(); // stumin w4 (=3): min(0xaaaa, 3) in the low word
    assert_eq!(ram.u64_at(DATA), 3);
}

#[test]
fn misaligned_exclusive_and_atomic_accesses_fault() {
    // ldxr x2,[x1] with x1 = DATA+4; ldadd at DATA+2: both alignment faults
    // (EC 0x25, DFSC 0x21) even though ldxr's 4-byte alignment would hold.
    for (word, addr) in [(0xc85f_7c22u32, DATA + 4), (0xf8e2_0023, DATA + 2)] {
        let (mut cpu, mut ram) = setup(&[word, HLT]);
        cpu.x[1] = addr;
        cpu.sys.set(cpu_aarch64::sysreg::SysReg::VBAR_EL1, BASE + 0x800);
        let _ = cpu.step(&mut ram);
        let esr = cpu.sys.get(cpu_aarch64::sysreg::SysReg::ESR_EL1);
        assert_eq!(esr >> 26, 0x25, "{word:#x}: ESR {esr:#x}");
        assert_eq!(esr & 0x3f, 0x21, "{word:#x}: ESR {esr:#x}");
        assert_eq!(cpu.sys.get(cpu_aarch64::sysreg::SysReg::FAR_EL1), addr);
    }
}

/// BFM, SBFM and UBFM at every valid (immr, imms) of both widths, against
/// the Arm ARM's pseudocode written out here: the aliases (SXTB/H/W,
/// UXTB/H, ASR, LSR, LSL) have their own shorter semantics, which must
/// agree with the general form.
#[test]
fn bitfield_moves_match_the_pseudocode() {
    fn reference(sf: u32, opc: u32, immr: u32, imms: u32, src: u64, dst: u64) -> u64 {
        let bits = if sf == 1 { 64 } else { 32 };
        let mask = if sf == 1 { u64::MAX } else { 0xffff_ffff };
        let (wmask, tmask) = decode_bit_masks(sf, imms, immr, false, bits).unwrap();
        let (src, dst) = (src & mask, dst & mask);
        let ror = if immr == 0 {
            src
        } else {
            (src >> immr | src << (bits - immr)) & mask
        };
        let bot = if opc == 1 { dst & !wmask } else { 0 } | ror & wmask;
        let top = match opc {
            0 if src >> imms & 1 == 1 => mask,
            1 => dst,
            _ => 0,
        };
        (top & !tmask | bot & tmask) & mask
    }
    let (mut cpu, mut ram) = setup(&[0, HLT]);
    let values = [0x8000_0000_8000_8081u64, 0x7f7f_7fff_7fff_ff7e, 0x0123_4567_89ab_cdef];
    for sf in 0..2u32 {
        let bits = 32 << sf;
        for opc in 0..3u32 {
            for immr in 0..bits {
                for imms in 0..bits {
                    let word = sf << 31 | opc << 29 | 0b100110 << 23 | sf << 22 | immr << 16 | imms << 10 | 1 << 5;
                    ram.0[..4].copy_from_slice(&word.to_le_bytes());
                    for (k, &src) in values.iter().enumerate() {
                        let dst = values[(k + 1) % values.len()];
                        cpu.pc = BASE;
                        cpu.x[0] = dst;
                        cpu.x[1] = src;
                        run(&mut cpu, &mut ram);
                        assert_eq!(
                            cpu.x[0],
                            reference(sf, opc, immr, imms, src, dst),
                            "{word:#010x} ({}) on {src:#x}, {dst:#x}",
                            cpu_aarch64::disasm::disassemble(word, BASE)
                        );
                    }
                }
            }
        }
    }
}
