//! A reusable assembling buffer for `dynasm!`.
//!
//! dynasmrt's `VecAssembler` hands its byte vector out on `take` and has
//! no way to get one back, so every block allocated (and later freed) a
//! fresh code buffer, and its relocation registry decodes and resolves
//! each reference through several layers. Blocks only use dynamic labels,
//! so this buffer keeps just those, resolves them in one loop, and lends
//! its bytes out by swapping vectors: nothing is allocated per block once
//! the buffers have grown.

use dynasmrt::components::{LabelRegistry, PatchLoc};
use dynasmrt::relocations::{Relocation, RelocationKind};
use dynasmrt::{AssemblyOffset, DynamicLabel, DynasmApi, DynasmError, DynasmLabelApi, LabelKind, TargetKind};

/// Assembles into a byte vector kept across uses; dynamic labels only
/// (a local or global label is an error at [`CodeBuf::commit`]).
#[derive(Debug)]
pub struct CodeBuf<R: Relocation + Copy> {
    ops: Vec<u8>,
    labels: LabelRegistry,
    refs: Vec<Ref<R>>,
    error: Option<DynasmError>,
}

/// A reference to a dynamic label, emitted when the code was `at` bytes
/// long: the field starting `field` bytes before `at` gets the label's
/// offset plus `add`, relative to `at - rel` for a relative kind
/// (dynasmrt's `PatchLoc`, packed).
#[derive(Clone, Copy, Debug)]
struct Ref<R> {
    at: u32,
    label: DynamicLabel,
    add: i32,
    field: u8,
    rel: u8,
    kind: R,
}

impl<R: Relocation + Copy> Default for CodeBuf<R> {
    fn default() -> Self {
        CodeBuf {
            ops: Vec::new(),
            labels: LabelRegistry::new(),
            refs: Vec::new(),
            error: None,
        }
    }
}

impl<R: Relocation + Copy> CodeBuf<R> {
    /// Empties the buffer, its labels and references, keeping their
    /// storage.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.labels.clear();
        self.refs.clear();
        self.error = None;
    }

    /// A new dynamic label, not yet placed.
    pub fn new_dynamic_label(&mut self) -> DynamicLabel {
        self.labels.new_dynamic_label()
    }

    /// Where `label` was placed.
    pub fn resolve(&self, label: DynamicLabel) -> Result<usize, DynasmError> {
        self.labels.resolve_dynamic(label).map(|o| o.0)
    }

    /// Patches every reference emitted so far with its label's offset (the
    /// code is position independent: references are relative), or the
    /// first error met while assembling.
    pub fn commit(&mut self) -> Result<(), DynasmError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let result = self.refs.iter().try_for_each(|r| {
            let target = self.labels.resolve_dynamic(r.label)?.0;
            let impossible = || DynasmError::ImpossibleRelocation(TargetKind::Dynamic(r.label));
            let (at, size) = (r.at as usize, r.kind.size());
            let start = at.checked_sub(usize::from(r.field)).ok_or_else(impossible)?;
            let field = self.ops.get_mut(start..start + size).ok_or_else(impossible)?;
            let value = match r.kind.kind() {
                // Every jump and RIP-relative operand: no base address
                // involved, the field is the distance.
                RelocationKind::Relative => {
                    (target as isize).wrapping_sub(at as isize - isize::from(r.rel)) + r.add as isize
                }
                _ => PatchLoc::new(AssemblyOffset(at), r.add as isize, r.field, r.rel, r.kind).value(target, 0),
            };
            // The common rel32 and rel8 fields inline; others by dynasmrt.
            match (size, field) {
                (4, f) => f.copy_from_slice(&i32::try_from(value).map_err(|_| impossible())?.to_le_bytes()),
                (1, [b]) => *b = i8::try_from(value).map_err(|_| impossible())? as u8,
                (_, f) => r.kind.write_value(f, value).map_err(|_| impossible())?,
            }
            Ok(())
        });
        self.refs.clear();
        result
    }

    /// Commits, then exchanges the code for `out`'s contents (cleared):
    /// the caller gets the bytes and this buffer keeps `out`'s storage.
    pub fn swap_out(&mut self, out: &mut Vec<u8>) -> Result<(), DynasmError> {
        self.commit()?;
        out.clear();
        std::mem::swap(&mut self.ops, out);
        self.labels.clear();
        Ok(())
    }

    /// Commits and returns the code, for one-off routines.
    pub fn finalize(mut self) -> Result<Vec<u8>, DynasmError> {
        self.commit()?;
        Ok(self.ops)
    }

    fn unsupported(&mut self, label: LabelKind) {
        self.error.get_or_insert(DynasmError::UnknownLabel(label));
    }
}

impl<R: Relocation + Copy> Extend<u8> for CodeBuf<R> {
    fn extend<T: IntoIterator<Item = u8>>(&mut self, iter: T) {
        self.ops.extend(iter)
    }
}

impl<'a, R: Relocation + Copy> Extend<&'a u8> for CodeBuf<R> {
    fn extend<T: IntoIterator<Item = &'a u8>>(&mut self, iter: T) {
        self.ops.extend(iter)
    }
}

impl<R: Relocation + Copy> DynasmApi for CodeBuf<R> {
    fn offset(&self) -> AssemblyOffset {
        AssemblyOffset(self.ops.len())
    }
    fn push(&mut self, byte: u8) {
        self.ops.push(byte);
    }
    fn align(&mut self, alignment: usize, with: u8) {
        let pad = (alignment - self.ops.len() % alignment) % alignment;
        self.ops.resize(self.ops.len() + pad, with);
    }
}

impl<R: Relocation + Copy> DynasmLabelApi for CodeBuf<R> {
    type Relocation = R;

    fn local_label(&mut self, name: &'static str) {
        self.unsupported(LabelKind::Local(name));
    }
    fn global_label(&mut self, name: &'static str) {
        self.unsupported(LabelKind::Global(name));
    }
    fn dynamic_label(&mut self, id: DynamicLabel) {
        let at = self.offset();
        if let Err(e) = self.labels.define_dynamic(id, at) {
            self.error.get_or_insert(e);
        }
    }
    fn forward_relocation(&mut self, name: &'static str, _: isize, _: u8, _: u8, _: R) {
        self.unsupported(LabelKind::Local(name));
    }
    fn backward_relocation(&mut self, name: &'static str, _: isize, _: u8, _: u8, _: R) {
        self.unsupported(LabelKind::Local(name));
    }
    fn global_relocation(&mut self, name: &'static str, _: isize, _: u8, _: u8, _: R) {
        self.unsupported(LabelKind::Global(name));
    }
    fn dynamic_relocation(
        &mut self,
        id: DynamicLabel,
        target_offset: isize,
        field_offset: u8,
        ref_offset: u8,
        kind: R,
    ) {
        // Offsets past 4 GiB or addends past 2 GiB do not occur in a
        // block; reported rather than truncated.
        match (u32::try_from(self.ops.len()), i32::try_from(target_offset)) {
            (Ok(at), Ok(add)) => self.refs.push(Ref {
                at,
                label: id,
                add,
                field: field_offset,
                rel: ref_offset,
                kind,
            }),
            _ => {
                self.error
                    .get_or_insert(DynasmError::ImpossibleRelocation(TargetKind::Dynamic(id)));
            }
        }
    }
    fn value_relocation(&mut self, value: usize, field_offset: u8, ref_offset: u8, kind: R) {
        let loc = PatchLoc::new(self.offset(), 0, field_offset, ref_offset, kind);
        let ok = match self.ops.get_mut(loc.range(0)) {
            Some(field) => loc.patch(field, 0, value).is_ok(),
            None => false,
        };
        if !ok {
            self.error
                .get_or_insert(DynasmError::ImpossibleRelocation(TargetKind::Value(value)));
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use dynasmrt::{dynasm, x64::X64Relocation};

    type Buf = CodeBuf<X64Relocation>;

    #[test]
    fn forward_and_backward_references_resolve_and_the_buffer_is_reused() {
        let mut a = Buf::default();
        let mut out = Vec::new();
        for round in 0..2 {
            a.clear();
            let (top, end) = (a.new_dynamic_label(), a.new_dynamic_label());
            dynasm!(a
                ; .arch x64
                ; =>top
                ; jmp BYTE =>end   // rel8 forward: eb 02
                ; jmp BYTE =>top   // rel8 backward: eb fc
                ; =>end
                ; jmp DWORD =>top  // rel32 backward: e9 f7 ff ff ff
            );
            a.swap_out(&mut out).unwrap();
            assert_eq!(
                out,
                [0xeb, 0x02, 0xeb, 0xfc, 0xe9, 0xf7, 0xff, 0xff, 0xff],
                "round {round}"
            );
            assert_eq!(
                a.resolve(end).unwrap_or(usize::MAX),
                usize::MAX,
                "labels cleared by swap_out"
            );
        }
    }

    /// The same code through dynasmrt's own `VecAssembler`, the
    /// reference for every kind of reference a block uses.
    #[test]
    fn references_are_patched_as_dynasmrts_own_assembler_patches_them() {
        macro_rules! code {
            ($a:expr) => {{
                let a = &mut $a;
                let (l0, l1, l2) = (a.new_dynamic_label(), a.new_dynamic_label(), a.new_dynamic_label());
                dynasm!(a
                    ; .arch x64
                    ; =>l0
                    ; jne =>l1
                    ; jmp BYTE =>l1
                    ; lea rcx, [=>l2]
                    ; cmp DWORD [=>l2], 7          // field followed by an immediate
                    ; call =>l0
                    ; =>l1
                    ; jb =>l0
                    ; ret
                    ; .align 8
                    ; =>l2
                    ; .u64 0
                    ; .u64 0
                );
            }};
        }
        let mut ours = Buf::default();
        code!(ours);
        let mut out = Vec::new();
        ours.swap_out(&mut out).unwrap();
        let mut theirs = dynasmrt::VecAssembler::<X64Relocation>::new(0);
        code!(theirs);
        assert_eq!(out, theirs.finalize().unwrap());
    }

    #[test]
    fn an_unplaced_label_or_a_far_short_jump_is_an_error_not_a_panic() {
        let mut a = Buf::default();
        let nowhere = a.new_dynamic_label();
        dynasm!(a ; .arch x64 ; jmp =>nowhere);
        assert!(matches!(a.commit(), Err(DynasmError::UnknownLabel(_))));

        let mut a = Buf::default();
        let far = a.new_dynamic_label();
        dynasm!(a ; .arch x64 ; jmp BYTE =>far);
        a.extend(std::iter::repeat_n(0x90u8, 300));
        dynasm!(a ; .arch x64 ; =>far);
        assert!(matches!(a.commit(), Err(DynasmError::ImpossibleRelocation(_))));
    }

    #[test]
    fn a_label_placed_twice_is_reported() {
        let mut a = Buf::default();
        let l = a.new_dynamic_label();
        dynasm!(a ; .arch x64 ; =>l ; nop ; =>l);
        assert!(matches!(a.commit(), Err(DynasmError::DuplicateLabel(_))));
    }
}
