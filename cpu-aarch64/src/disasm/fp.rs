//! Disassembly of group `fp`: Scalar floating point.

use super::*;
use crate::isa::FpVisitor;

impl FpVisitor for Disasm {}
