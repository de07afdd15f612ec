//! Disassembly of group `simd_perm`: AdvSIMD structure loads/stores, permutes, table lookups, copies.

use super::*;
use crate::isa::SimdPermVisitor;

impl SimdPermVisitor for Disasm {}
