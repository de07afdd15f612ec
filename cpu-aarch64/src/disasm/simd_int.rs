//! Disassembly of group `simd_int`: AdvSIMD integer arithmetic, shifts, modified immediate.

use super::*;
use crate::isa::SimdIntVisitor;

impl SimdIntVisitor for Disasm {}
