//! Disassembly of group `simd_fp`: AdvSIMD floating point.

use super::*;
use crate::isa::SimdFpVisitor;

impl SimdFpVisitor for Disasm {}
