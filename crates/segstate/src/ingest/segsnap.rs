//! A segstate snapshot as a state to check: its `kvm_sregs`, its RFLAGS, and the CPL
//! it carries explicitly (docs/snapshot-format.md).

use std::format;
use std::string::String;
use std::vec::Vec;

use super::{Input, InputError, InputFormat, err, sregs_state};
use crate::arch::SegReg;
use crate::snapshot::VcpuSnapshot;

/// Decodes a snapshot file's bytes (the decoder's messages name the offset) into the
/// state `check` judges. The CPL is the snapshot's own field, not SS.DPL: a snapshot
/// whose two disagree is what `snapshot restore` refuses, and the check shows why.
pub(super) fn read(bytes: &[u8]) -> Result<Input, InputError> {
    let snap = VcpuSnapshot::decode(bytes).map_err(|e| err(format!("segstate snapshot: {e}")))?;
    let mut state = sregs_state(&snap.sregs, snap.regs.rflags, |reg, e| {
        format!(
            "segstate snapshot: kvm_sregs {}.{}",
            reg.kvm_name(),
            e.field
        )
    })?;
    state.cpl = snap.cpl;
    let mut notes = Vec::new();
    if snap.cpl != snap.kvm_cpl() {
        notes.push(format!(
            "the snapshot's CPL is {} but SS.DPL is {}: KVM would run the guest at CPL {}",
            snap.cpl,
            snap.sregs.segment(SegReg::Ss).dpl,
            snap.kvm_cpl()
        ));
    }
    Ok(Input::guest_view(
        String::from(if snap.memory.is_empty() {
            "segstate snapshot"
        } else {
            "segstate snapshot (guest memory not checked)"
        }),
        InputFormat::Snapshot,
        state,
        notes,
    ))
}
