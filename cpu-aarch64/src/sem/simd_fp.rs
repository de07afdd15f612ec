//! Semantics of group `simd_fp`: AdvSIMD floating point.

use super::*;
use crate::isa::SimdFpVisitor;

impl<E: Emitter> SimdFpVisitor for Translate<'_, E> {}
