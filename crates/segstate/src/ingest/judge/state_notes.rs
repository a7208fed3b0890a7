//! Notes on values a dump shows that the rules cannot decide alone, beside the
//! verdict: a segment no instruction loads, which a read-back path made; a CR3 wider
//! than most hosts' physical addresses.

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

/// CR3 bits 51:48 set: legal only on a host whose MAXPHYADDR covers them (the rules
/// assume 52, the architectural most), and many report 46 to 48. KVM refuses a CR3
/// with a bit above the vCPU's MAXPHYADDR (`kvm_set_cr3`, and KVM_SET_SREGS in long
/// mode); under AMD SEV bit 47 or 51 is the memory-encryption C-bit, which KVM once
/// counted among those bits (Babu Moger's 2020 patches, the
/// `patch-babu-moger-sev-pcid` fixture: a suberror-1 emulation failure).
pub(super) fn wide_cr3_note(d: &LogDump) -> Option<String> {
    const BITS_51_48: u64 = 0xf << 48;
    let cr3 = d.guest.cr3?;
    let high = cr3 & BITS_51_48;
    if high == 0 || cr3 >> 52 != 0 {
        return None;
    }
    let top = 63 - high.leading_zeros();
    Some(format!(
        "CR3 {cr3:#018x} sets bit {top}: legal only where MAXPHYADDR is above {top} (the \
         rules assume 52, the architectural most; many hosts report 46 to 48), else KVM \
         refuses it (kvm_set_cr3, KVM_SET_SREGS in long mode); under AMD SEV bit 47 or 51 \
         is the memory-encryption C-bit, which KVM must leave out of that check"
    ))
}
