//! Semantics of group `crypto`: The cryptographic extension.

use super::*;
use crate::isa::CryptoVisitor;

impl<E: Emitter> CryptoVisitor for Translate<'_, E> {}
