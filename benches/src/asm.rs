//! A tiny A64 assembler for the handful of instruction forms the benchmark
//! loops use. Each method appends one instruction word and the same
//! instruction as GNU assembler text, so a test can assemble the text with
//! `aarch64-linux-gnu-as` and check the words bit for bit.
//!
//! All data-processing forms are the 64-bit (`sf = 1`) ones. Registers are
//! numbers 0..=30; 31 means XZR wherever the architecture reads it so.

/// A condition code (`cond` field of B.cond, CSEL, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum Cond {
    Eq = 0,
    Ne = 1,
    Hs = 2,
    Lo = 3,
    Mi = 4,
    Pl = 5,
    Hi = 8,
    Ls = 9,
    Ge = 10,
    Lt = 11,
    Gt = 12,
    Le = 13,
}

impl Cond {
    fn name(self) -> &'static str {
        match self {
            Cond::Eq => "eq",
            Cond::Ne => "ne",
            Cond::Hs => "hs",
            Cond::Lo => "lo",
            Cond::Mi => "mi",
            Cond::Pl => "pl",
            Cond::Hi => "hi",
            Cond::Ls => "ls",
            Cond::Ge => "ge",
            Cond::Lt => "lt",
            Cond::Gt => "gt",
            Cond::Le => "le",
        }
    }
}

/// The shift applied to the second register of a shifted-register form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum Shift {
    Lsl = 0,
    Lsr = 1,
    Asr = 2,
    /// Logical instructions only.
    Ror = 3,
}

impl Shift {
    fn name(self) -> &'static str {
        match self {
            Shift::Lsl => "lsl",
            Shift::Lsr => "lsr",
            Shift::Asr => "asr",
            Shift::Ror => "ror",
        }
    }
}

/// A branch target, bound to a position with [`Asm::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// How a branch's offset is encoded.
#[derive(Clone, Copy, Debug)]
enum Fixup {
    /// imm26 at bit 0 (B, BL).
    Imm26,
    /// imm19 at bit 5 (B.cond, CBZ, CBNZ).
    Imm19,
    /// imm14 at bit 5 (TBZ, TBNZ).
    Imm14,
}

/// An instruction sequence under construction.
#[derive(Default)]
pub struct Asm {
    words: Vec<u32>,
    text: Vec<String>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label, Fixup)>,
}

fn reg(r: u32) -> u32 {
    assert!(r <= 31, "register {r} out of range");
    r
}

/// `x<n>` (or `xzr`).
fn x(r: u32) -> String {
    if r == 31 {
        "xzr".into()
    } else {
        format!("x{r}")
    }
}

/// `w<n>` (or `wzr`).
fn w(r: u32) -> String {
    if r == 31 {
        "wzr".into()
    } else {
        format!("w{r}")
    }
}

impl Asm {
    /// An empty sequence.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of instructions so far.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether no instruction has been emitted.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    fn emit(&mut self, word: u32, text: String) {
        self.words.push(word);
        self.text.push(format!("\t{text}"));
    }

    /// A new, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `l` to the next instruction.
    pub fn bind(&mut self, l: Label) {
        assert!(self.labels[l.0].is_none(), "label {} bound twice", l.0);
        self.labels[l.0] = Some(self.words.len());
        self.text.push(format!(".L{}:", l.0));
    }

    /// The instruction words, with every branch resolved.
    pub fn finish(&self) -> Vec<u32> {
        let mut words = self.words.clone();
        for &(at, l, kind) in &self.fixups {
            let target = self.labels[l.0].unwrap_or_else(|| panic!("label {} never bound", l.0));
            let delta = target as i64 - at as i64;
            let (bits, shift) = match kind {
                Fixup::Imm26 => (26, 0),
                Fixup::Imm19 => (19, 5),
                Fixup::Imm14 => (14, 5),
            };
            let limit = 1i64 << (bits - 1);
            assert!((-limit..limit).contains(&delta), "branch at {at} out of range");
            words[at] |= ((delta as u32) & ((1u32 << bits) - 1)) << shift;
        }
        words
    }

    /// The instructions as GNU assembler source (labels `.L<n>`).
    pub fn gnu_text(&self) -> String {
        let mut s = String::from("\t.text\n");
        for line in &self.text {
            s.push_str(line);
            s.push('\n');
        }
        s
    }

    /// The words as little-endian bytes, ready to copy into guest memory.
    pub fn bytes(&self) -> Vec<u8> {
        self.finish().iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn branch(&mut self, word: u32, l: Label, kind: Fixup, text: String) {
        self.fixups.push((self.words.len(), l, kind));
        self.emit(word, text);
    }

    // ---- data processing, immediate ----

    /// `add xd, xn, #imm` (imm < 4096).
    pub fn add_imm(&mut self, rd: u32, rn: u32, imm: u32) {
        assert!(imm < 4096);
        self.emit(
            0x9100_0000 | imm << 10 | reg(rn) << 5 | reg(rd),
            format!("add {}, {}, #{imm}", x(rd), x(rn)),
        );
    }

    /// `sub xd, xn, #imm` (imm < 4096).
    pub fn sub_imm(&mut self, rd: u32, rn: u32, imm: u32) {
        assert!(imm < 4096);
        self.emit(
            0xd100_0000 | imm << 10 | reg(rn) << 5 | reg(rd),
            format!("sub {}, {}, #{imm}", x(rd), x(rn)),
        );
    }

    /// `subs xd, xn, #imm` (`cmp xn, #imm` when rd = 31).
    pub fn subs_imm(&mut self, rd: u32, rn: u32, imm: u32) {
        assert!(imm < 4096);
        self.emit(
            0xf100_0000 | imm << 10 | reg(rn) << 5 | reg(rd),
            format!("subs {}, {}, #{imm}", x(rd), x(rn)),
        );
    }

    /// `and xd, xn, #mask` where mask is `ones` consecutive ones starting
    /// at bit `lsb` (a 64-bit bitmask immediate).
    pub fn and_mask(&mut self, rd: u32, rn: u32, ones: u32, lsb: u32) {
        assert!((1..64).contains(&ones) && lsb < 64 && ones + lsb <= 64);
        let immr = (64 - lsb) % 64;
        let mask = ((1u64 << ones) - 1) << lsb;
        self.emit(
            0x9240_0000 | immr << 16 | (ones - 1) << 10 | reg(rn) << 5 | reg(rd),
            format!("and {}, {}, #{mask:#x}", x(rd), x(rn)),
        );
    }

    /// `orr xd, xn, #1`.
    pub fn orr_one(&mut self, rd: u32, rn: u32) {
        self.emit(
            0xb240_0000 | reg(rn) << 5 | reg(rd),
            format!("orr {}, {}, #0x1", x(rd), x(rn)),
        );
    }

    /// `movz xd, #imm16, lsl #(16 * hw)`.
    pub fn movz(&mut self, rd: u32, imm16: u32, hw: u32) {
        assert!(imm16 <= 0xffff && hw < 4);
        self.emit(
            0xd280_0000 | hw << 21 | imm16 << 5 | reg(rd),
            format!("movz {}, #{imm16:#x}, lsl #{}", x(rd), hw * 16),
        );
    }

    /// `movk xd, #imm16, lsl #(16 * hw)`.
    pub fn movk(&mut self, rd: u32, imm16: u32, hw: u32) {
        assert!(imm16 <= 0xffff && hw < 4);
        self.emit(
            0xf280_0000 | hw << 21 | imm16 << 5 | reg(rd),
            format!("movk {}, #{imm16:#x}, lsl #{}", x(rd), hw * 16),
        );
    }

    /// Loads a 64-bit constant with one MOVZ and three MOVKs.
    pub fn mov64(&mut self, rd: u32, v: u64) {
        self.movz(rd, (v & 0xffff) as u32, 0);
        for hw in 1..4 {
            self.movk(rd, ((v >> (16 * hw)) & 0xffff) as u32, hw);
        }
    }

    /// `lsl xd, xn, #sh` (UBFM).
    pub fn lsl_imm(&mut self, rd: u32, rn: u32, sh: u32) {
        assert!((1..64).contains(&sh));
        self.emit(
            0xd340_0000 | (64 - sh) << 16 | (63 - sh) << 10 | reg(rn) << 5 | reg(rd),
            format!("lsl {}, {}, #{sh}", x(rd), x(rn)),
        );
    }

    /// `lsr xd, xn, #sh` (UBFM).
    pub fn lsr_imm(&mut self, rd: u32, rn: u32, sh: u32) {
        assert!((1..64).contains(&sh));
        self.emit(
            0xd340_fc00 | sh << 16 | reg(rn) << 5 | reg(rd),
            format!("lsr {}, {}, #{sh}", x(rd), x(rn)),
        );
    }

    /// `ror xd, xn, #sh` (EXTR with both sources xn).
    pub fn ror_imm(&mut self, rd: u32, rn: u32, sh: u32) {
        assert!(sh < 64);
        self.emit(
            0x93c0_0000 | reg(rn) << 16 | sh << 10 | rn << 5 | reg(rd),
            format!("ror {}, {}, #{sh}", x(rd), x(rn)),
        );
    }

    // ---- data processing, register ----

    /// `form` = (opcode bits, mnemonic).
    fn shifted(&mut self, form: (u32, &str), rd: u32, rn: u32, rm: u32, shift: Shift, amount: u32) {
        let (base, mnemonic) = form;
        assert!(amount < 64);
        self.emit(
            base | (shift as u32) << 22 | reg(rm) << 16 | amount << 10 | reg(rn) << 5 | reg(rd),
            format!("{mnemonic} {}, {}, {}, {} #{amount}", x(rd), x(rn), x(rm), shift.name()),
        );
    }

    /// `add xd, xn, xm, <shift> #amount` (not ROR).
    pub fn add_shifted(&mut self, rd: u32, rn: u32, rm: u32, shift: Shift, amount: u32) {
        assert_ne!(shift, Shift::Ror);
        self.shifted((0x8b00_0000, "add"), rd, rn, rm, shift, amount);
    }

    /// `sub xd, xn, xm, <shift> #amount` (not ROR).
    pub fn sub_shifted(&mut self, rd: u32, rn: u32, rm: u32, shift: Shift, amount: u32) {
        assert_ne!(shift, Shift::Ror);
        self.shifted((0xcb00_0000, "sub"), rd, rn, rm, shift, amount);
    }

    /// `subs xd, xn, xm` (`cmp xn, xm` when rd = 31).
    pub fn subs_reg(&mut self, rd: u32, rn: u32, rm: u32) {
        self.shifted((0xeb00_0000, "subs"), rd, rn, rm, Shift::Lsl, 0);
    }

    /// `eor xd, xn, xm, <shift> #amount`.
    pub fn eor_shifted(&mut self, rd: u32, rn: u32, rm: u32, shift: Shift, amount: u32) {
        self.shifted((0xca00_0000, "eor"), rd, rn, rm, shift, amount);
    }

    /// `and xd, xn, xm, <shift> #amount`.
    pub fn and_shifted(&mut self, rd: u32, rn: u32, rm: u32, shift: Shift, amount: u32) {
        self.shifted((0x8a00_0000, "and"), rd, rn, rm, shift, amount);
    }

    /// `orr xd, xn, xm, <shift> #amount`.
    pub fn orr_shifted(&mut self, rd: u32, rn: u32, rm: u32, shift: Shift, amount: u32) {
        self.shifted((0xaa00_0000, "orr"), rd, rn, rm, shift, amount);
    }

    /// `add xd, xn, wm, uxtw #amount` (extended register, amount <= 4).
    pub fn add_uxtw(&mut self, rd: u32, rn: u32, rm: u32, amount: u32) {
        assert!(amount <= 4);
        self.emit(
            0x8b20_4000 | reg(rm) << 16 | amount << 10 | reg(rn) << 5 | reg(rd),
            format!("add {}, {}, {}, uxtw #{amount}", x(rd), x(rn), w(rm)),
        );
    }

    /// `madd xd, xn, xm, xa`.
    pub fn madd(&mut self, rd: u32, rn: u32, rm: u32, ra: u32) {
        self.emit(
            0x9b00_0000 | reg(rm) << 16 | reg(ra) << 10 | reg(rn) << 5 | reg(rd),
            format!("madd {}, {}, {}, {}", x(rd), x(rn), x(rm), x(ra)),
        );
    }

    /// `msub xd, xn, xm, xa`.
    pub fn msub(&mut self, rd: u32, rn: u32, rm: u32, ra: u32) {
        self.emit(
            0x9b00_8000 | reg(rm) << 16 | reg(ra) << 10 | reg(rn) << 5 | reg(rd),
            format!("msub {}, {}, {}, {}", x(rd), x(rn), x(rm), x(ra)),
        );
    }

    /// `udiv xd, xn, xm`.
    pub fn udiv(&mut self, rd: u32, rn: u32, rm: u32) {
        self.emit(
            0x9ac0_0800 | reg(rm) << 16 | reg(rn) << 5 | reg(rd),
            format!("udiv {}, {}, {}", x(rd), x(rn), x(rm)),
        );
    }

    /// `umulh xd, xn, xm`.
    pub fn umulh(&mut self, rd: u32, rn: u32, rm: u32) {
        self.emit(
            0x9bc0_7c00 | reg(rm) << 16 | reg(rn) << 5 | reg(rd),
            format!("umulh {}, {}, {}", x(rd), x(rn), x(rm)),
        );
    }

    /// `csel xd, xn, xm, <cond>`.
    pub fn csel(&mut self, rd: u32, rn: u32, rm: u32, cond: Cond) {
        self.emit(
            0x9a80_0000 | reg(rm) << 16 | (cond as u32) << 12 | reg(rn) << 5 | reg(rd),
            format!("csel {}, {}, {}, {}", x(rd), x(rn), x(rm), cond.name()),
        );
    }

    /// `csinc xd, xn, xm, <cond>`.
    pub fn csinc(&mut self, rd: u32, rn: u32, rm: u32, cond: Cond) {
        self.emit(
            0x9a80_0400 | reg(rm) << 16 | (cond as u32) << 12 | reg(rn) << 5 | reg(rd),
            format!("csinc {}, {}, {}, {}", x(rd), x(rn), x(rm), cond.name()),
        );
    }

    // ---- loads and stores (base register never SP here) ----

    /// `form` = (opcode bits, log2 of the access size, mnemonic).
    fn uimm(&mut self, form: (u32, u32, &str), rt: String, rt_n: u32, rn: u32, off: u32) {
        let (base, scale, mnemonic) = form;
        assert!(
            off % (1 << scale) == 0 && off >> scale < 4096,
            "offset {off:#x} not encodable"
        );
        self.emit(
            base | (off >> scale) << 10 | reg(rn) << 5 | reg(rt_n),
            format!("{mnemonic} {rt}, [{}, #{off}]", x(rn)),
        );
    }

    /// `ldr xt, [xn, #off]` (off a multiple of 8).
    pub fn ldr(&mut self, rt: u32, rn: u32, off: u32) {
        self.uimm((0xf940_0000, 3, "ldr"), x(rt), rt, rn, off);
    }

    /// `str xt, [xn, #off]` (off a multiple of 8).
    pub fn str(&mut self, rt: u32, rn: u32, off: u32) {
        self.uimm((0xf900_0000, 3, "str"), x(rt), rt, rn, off);
    }

    /// `ldr wt, [xn, #off]` (off a multiple of 4).
    pub fn ldr_w(&mut self, rt: u32, rn: u32, off: u32) {
        self.uimm((0xb940_0000, 2, "ldr"), w(rt), rt, rn, off);
    }

    /// `str wt, [xn, #off]` (off a multiple of 4).
    pub fn str_w(&mut self, rt: u32, rn: u32, off: u32) {
        self.uimm((0xb900_0000, 2, "str"), w(rt), rt, rn, off);
    }

    /// `ldrb wt, [xn, #off]`.
    pub fn ldrb(&mut self, rt: u32, rn: u32, off: u32) {
        self.uimm((0x3940_0000, 0, "ldrb"), w(rt), rt, rn, off);
    }

    /// `strb wt, [xn, #off]`.
    pub fn strb(&mut self, rt: u32, rn: u32, off: u32) {
        self.uimm((0x3900_0000, 0, "strb"), w(rt), rt, rn, off);
    }

    /// `ldr xt, [xn, xm, lsl #3]`.
    pub fn ldr_idx(&mut self, rt: u32, rn: u32, rm: u32) {
        self.emit(
            0xf860_7800 | reg(rm) << 16 | reg(rn) << 5 | reg(rt),
            format!("ldr {}, [{}, {}, lsl #3]", x(rt), x(rn), x(rm)),
        );
    }

    /// `str xt, [xn, xm, lsl #3]`.
    pub fn str_idx(&mut self, rt: u32, rn: u32, rm: u32) {
        self.emit(
            0xf820_7800 | reg(rm) << 16 | reg(rn) << 5 | reg(rt),
            format!("str {}, [{}, {}, lsl #3]", x(rt), x(rn), x(rm)),
        );
    }

    fn pair(&mut self, base: u32, mnemonic: &str, rt: u32, rt2: u32, rn: u32, off: i32) {
        assert!(
            off % 8 == 0 && (-512..512).contains(&off),
            "pair offset {off} not encodable"
        );
        let imm7 = ((off / 8) as u32) & 0x7f;
        self.emit(
            base | imm7 << 15 | reg(rt2) << 10 | reg(rn) << 5 | reg(rt),
            format!("{mnemonic} {}, {}, [{}, #{off}]", x(rt), x(rt2), x(rn)),
        );
    }

    /// `ldp xt, xt2, [xn, #off]`.
    pub fn ldp(&mut self, rt: u32, rt2: u32, rn: u32, off: i32) {
        self.pair(0xa940_0000, "ldp", rt, rt2, rn, off);
    }

    /// `stp xt, xt2, [xn, #off]`.
    pub fn stp(&mut self, rt: u32, rt2: u32, rn: u32, off: i32) {
        self.pair(0xa900_0000, "stp", rt, rt2, rn, off);
    }

    // ---- branches ----

    /// `b <l>`.
    pub fn b(&mut self, l: Label) {
        self.branch(0x1400_0000, l, Fixup::Imm26, format!("b .L{}", l.0));
    }

    /// `bl <l>`.
    pub fn bl(&mut self, l: Label) {
        self.branch(0x9400_0000, l, Fixup::Imm26, format!("bl .L{}", l.0));
    }

    /// `b.<cond> <l>`.
    pub fn b_cond(&mut self, cond: Cond, l: Label) {
        self.branch(
            0x5400_0000 | cond as u32,
            l,
            Fixup::Imm19,
            format!("b.{} .L{}", cond.name(), l.0),
        );
    }

    /// `cbz xt, <l>`.
    pub fn cbz(&mut self, rt: u32, l: Label) {
        self.branch(
            0xb400_0000 | reg(rt),
            l,
            Fixup::Imm19,
            format!("cbz {}, .L{}", x(rt), l.0),
        );
    }

    /// `cbnz xt, <l>`.
    pub fn cbnz(&mut self, rt: u32, l: Label) {
        self.branch(
            0xb500_0000 | reg(rt),
            l,
            Fixup::Imm19,
            format!("cbnz {}, .L{}", x(rt), l.0),
        );
    }

    /// `tbz xt, #bit, <l>`.
    pub fn tbz(&mut self, rt: u32, bit: u32, l: Label) {
        assert!(bit < 64);
        self.branch(
            0x3600_0000 | (bit >> 5) << 31 | (bit & 31) << 19 | reg(rt),
            l,
            Fixup::Imm14,
            format!("tbz {}, #{bit}, .L{}", x(rt), l.0),
        );
    }

    /// `tbnz xt, #bit, <l>`.
    pub fn tbnz(&mut self, rt: u32, bit: u32, l: Label) {
        assert!(bit < 64);
        self.branch(
            0x3700_0000 | (bit >> 5) << 31 | (bit & 31) << 19 | reg(rt),
            l,
            Fixup::Imm14,
            format!("tbnz {}, #{bit}, .L{}", x(rt), l.0),
        );
    }

    /// `ret` (to x30).
    pub fn ret(&mut self) {
        self.emit(0xd65f_03c0, "ret".into());
    }
}
