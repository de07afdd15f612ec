//! Disassembly of group `crypto`: The cryptographic extension.

use super::*;
use crate::isa::CryptoVisitor;

impl CryptoVisitor for Disasm {}
