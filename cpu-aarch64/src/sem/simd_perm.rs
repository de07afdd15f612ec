//! Semantics of group `simd_perm`: AdvSIMD structure loads/stores, permutes, table lookups, copies.

use super::*;
use crate::isa::SimdPermVisitor;

impl<E: Emitter> SimdPermVisitor for Translate<'_, E> {}
