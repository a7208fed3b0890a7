//! Notes on what a VMM's dump shows of a segment KVM read back, beside the verdict:
//! values no instruction loads, which the read path made.

use alloc::format;
use alloc::string::String;

use crate::arch::SegReg;
use crate::ingest::log::{Dialect, LogDump};

/// LDTR in a QEMU dump with a null selector yet present and not an LDT: no LLDT loads
/// that (a null selector leaves LDTR unusable, SDM Vol. 2A LLDT), so the attributes are
/// an unusable LDTR's leftovers read back as usable. Linux's `vmx_get_segment` before
/// 25391454e73e (3.10) passed an unusable segment's access rights through raw when
/// `kvm_intel.emulate_invalid_guest_state=1` (it zeroed them otherwise) and took P
/// from them, and QEMU before 4cae9c97967a (2.6) kept neither the unusable bit nor
/// zero flags: written back by KVM_SET_SREGS the LDTR is usable, and VM entry refuses
/// it (a 2012 report, the `blog-kummerlaender-kvm-vde` fixture, fixed by the author
/// with `emulate_invalid_guest_state=0`).
pub(super) fn null_ldtr_read_back_note(d: &LogDump) -> Option<String> {
    if !d.dialects.contains(&Dialect::Qemu) {
        return None;
    }
    let ldtr = d.guest.segments[SegReg::Ldtr]?;
    let a = &ldtr.attributes;
    let an_ldt = !a.s && a.segment_type.bits() == 2;
    if ldtr.selector.0 & !3 != 0 || ldtr.unusable || !a.present || an_ldt {
        return None;
    }
    Some(format!(
        "LDTR has a null selector ({:04x}) yet is present with type {} and S={}: LLDT with a \
         null selector leaves LDTR unusable (SDM Vol. 2A, LLDT), so these are likely an \
         unusable LDTR's leftover attributes read back as usable. KVM before 25391454e73e \
         (Linux 3.10) passed them through raw under kvm_intel.emulate_invalid_guest_state=1, \
         P bit included, and QEMU before 4cae9c97967a (2.6) kept neither the unusable bit nor \
         zero flags: written back by KVM_SET_SREGS the LDTR is usable and VM entry refuses \
         it; with emulate_invalid_guest_state=0 the read zeroes them",
        ldtr.selector.0,
        a.segment_type.bits(),
        u8::from(a.s),
    ))
}
