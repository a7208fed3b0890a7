//! KVM VMX's cooking: `vmx_get_segment`, `__vmx_set_segment` and
//! `vmx_segment_access_rights` (arch/x86/kvm/vmx/vmx.c), protected mode, with
//! unrestricted guest enabled (the default on every VMX CPU since Westmere).

use super::{Rule, RuleSet};
use crate::arch::{PerSegReg, SegReg, Segment};
use crate::format::kvm::KvmSegment;
use crate::format::vmx::{VmxAccessRights, VmxSegment};

/// VMCS guest segment → `kvm_segment`, as KVM_GET_SREGS does on Intel.
#[must_use]
#[inline]
pub fn get_segment(rules: RuleSet, v: &VmxSegment) -> KvmSegment {
    let ar = v.access_rights.0;
    let bit = |n: u32| ((ar >> n) & 1) as u8;
    let unusable = bit(16);
    KvmSegment {
        base: v.base,
        limit: v.limit,
        selector: v.selector,
        type_: (ar & 15) as u8,
        present: if rules.has(Rule::VmxGetPresentFromUnusable) {
            present_from_unusable(unusable)
        } else {
            bit(7)
        },
        dpl: ((ar >> 5) & 3) as u8,
        db: bit(14),
        s: bit(4),
        l: bit(13),
        g: bit(15),
        avl: bit(12),
        unusable,
        padding: 0,
    }
}

/// [`Rule::VmxGetPresentFromUnusable`]'s effect: P = !unusable.
#[inline]
pub(crate) const fn present_from_unusable(unusable: u8) -> u8 {
    (unusable == 0) as u8
}

/// [`Rule::VmxSetUnusableFromNotPresent`]'s effect: AR bit 16 = unusable || !present,
/// so a not-present segment is unusable (`vmx_segment_access_rights`).
#[inline]
pub(crate) const fn unusable_from_not_present(k: &KvmSegment) -> u8 {
    (k.unusable != 0 || k.present == 0) as u8
}

/// `kvm_segment` → VMCS guest segment, as KVM_SET_SREGS does on Intel.
///
/// The accessed bit is forced before masking (`type |= 1`, then `& 15`), as upstream.
#[must_use]
#[inline]
pub fn set_segment(rules: RuleSet, reg: SegReg, k: &KvmSegment) -> VmxSegment {
    let mut type_ = k.type_;
    if rules.has(Rule::VmxSetAccessedUnrestricted) && reg != SegReg::Ldtr {
        type_ |= 1;
    }
    let unusable_or_absent = unusable_from_not_present(k) != 0;
    let ar = if rules.has(Rule::VmxSetZeroUnusableAr) && unusable_or_absent {
        VmxAccessRights::UNUSABLE
    } else {
        let unusable = if rules.has(Rule::VmxSetUnusableFromNotPresent) {
            unusable_or_absent
        } else {
            k.unusable != 0
        };
        u32::from(type_ & 15)
            | u32::from(k.s & 1) << 4
            | u32::from(k.dpl & 3) << 5
            | u32::from(k.present & 1) << 7
            | u32::from(k.avl & 1) << 12
            | u32::from(k.l & 1) << 13
            | u32::from(k.db & 1) << 14
            | u32::from(k.g & 1) << 15
            | u32::from(unusable) << 16
    };
    VmxSegment {
        selector: k.selector,
        base: k.base,
        limit: k.limit,
        access_rights: VmxAccessRights(ar),
    }
}

/// The eight segments of a state as today's KVM writes them into a VMCS
/// (`vmx_set_segment` under the current `kvm-vmx` rules): a not-present segment becomes
/// unusable, and with unrestricted guest every usable code or data segment is marked
/// accessed. What VM entry sees of a `kvm_sregs` on Intel is this, not the raw bytes.
#[must_use]
pub fn kvm_vmcs_segments(segments: &PerSegReg<Segment>) -> PerSegReg<VmxSegment> {
    let rules = super::Profile::KVM_VMX.rules;
    segments.map(|reg, s| set_segment(rules, reg, &KvmSegment::from(*s)))
}
