//! Semantics of group `fp`: Scalar floating point.

use super::*;
use crate::isa::FpVisitor;

impl<E: Emitter> FpVisitor for Translate<'_, E> {}
