//! KVM VMX's cooking: `vmx_get_segment`, `__vmx_set_segment` and
//! `vmx_segment_access_rights` (arch/x86/kvm/vmx/vmx.c), protected mode, with
//! unrestricted guest enabled (the default on every VMX CPU since Westmere).

use super::attribute_bytes::{AttributeBytes, placement};
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
    set_segment_packed(rules, reg, k, ar_of_fields)
}

/// [`set_segment`] for a `kvm_segment` read from memory: the same result, its attribute
/// bytes gathered as one word ([`super::attribute_bytes`]). Where `k` was just computed
/// by another step, [`set_segment`] folds into that step and is the faster.
#[must_use]
#[inline(always)]
pub(crate) fn set_segment_loaded(rules: RuleSet, reg: SegReg, k: &KvmSegment) -> VmxSegment {
    set_segment_packed(rules, reg, k, ar_of_bytes)
}

/// [`set_segment`] with `ar` packing the masked bytes (bits 15:0).
#[inline(always)]
fn set_segment_packed(
    rules: RuleSet,
    reg: SegReg,
    k: &KvmSegment,
    ar: impl Fn(&KvmSegment) -> u32,
) -> VmxSegment {
    let accessed = rules.has(Rule::VmxSetAccessedUnrestricted) && reg != SegReg::Ldtr;
    let unusable_or_absent = unusable_from_not_present(k) != 0;
    let ar = if rules.has(Rule::VmxSetZeroUnusableAr) && unusable_or_absent {
        VmxAccessRights::UNUSABLE
    } else {
        let unusable = if rules.has(Rule::VmxSetUnusableFromNotPresent) {
            unusable_or_absent
        } else {
            k.unusable != 0
        };
        ar(k) | u32::from(accessed) | u32::from(unusable) << 16
    };
    VmxSegment {
        selector: k.selector,
        base: k.base,
        limit: k.limit,
        access_rights: VmxAccessRights(ar),
    }
}

/// Access-rights bit positions (SDM Vol. 3C 24.4.1, Table 24-2).
const S: u16 = 4;
const DPL: u16 = 5;
const P: u16 = 7;
const AVL: u16 = 12;
const L: u16 = 13;
const DB: u16 = 14;
const G: u16 = 15;
/// Where bit 0 of `kvm_segment`'s type, present, dpl, db, s, l, g and avl go.
const AR_SHIFTS: [u16; 8] = [0, P, DPL, DB, S, L, G, AVL];

/// `vmx_segment_access_rights`' bits 15:0, field by field: every byte masked.
#[inline(always)]
fn ar_of_fields(k: &KvmSegment) -> u32 {
    u32::from(k.type_ & 15)
        | u32::from(k.s & 1) << S
        | u32::from(k.dpl & 3) << DPL
        | u32::from(k.present & 1) << P
        | u32::from(k.avl & 1) << AVL
        | u32::from(k.l & 1) << L
        | u32::from(k.db & 1) << DB
        | u32::from(k.g & 1) << G
}

/// [`ar_of_fields`] from the bytes as one word.
#[inline(always)]
fn ar_of_bytes(k: &KvmSegment) -> u32 {
    let bytes = AttributeBytes::of(k);
    u32::from(
        AR_OF_LOW_BITS[bytes.low_bits()]
            | bytes.type_high_bits()
            | bytes.dpl_high_bit() << (DPL + 1),
    )
}

/// [`AR_SHIFTS`] as a table over the eight low bits.
static AR_OF_LOW_BITS: [u16; 256] = placement(AR_SHIFTS);

/// The eight segments of a state as today's KVM writes them into a VMCS
/// (`vmx_set_segment` under the current `kvm-vmx` rules): a not-present segment becomes
/// unusable, and with unrestricted guest every usable code or data segment is marked
/// accessed. What VM entry sees of a `kvm_sregs` on Intel is this, not the raw bytes.
#[must_use]
pub fn kvm_vmcs_segments(segments: &PerSegReg<Segment>) -> PerSegReg<VmxSegment> {
    let rules = super::Profile::KVM_VMX.rules;
    segments.map(|reg, s| set_segment(rules, reg, &KvmSegment::from(*s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::attribute_bytes::tests::assert_loaded_is_plain;

    /// The gathered access rights are the field-by-field ones for every combination of
    /// the bits KVM reads, under garbage, under every combination of the set rules.
    #[test]
    fn set_segment_loaded_is_set_segment() {
        let rules = [
            Rule::VmxSetAccessedUnrestricted,
            Rule::VmxSetZeroUnusableAr,
            Rule::VmxSetUnusableFromNotPresent,
        ];
        assert_loaded_is_plain(
            &rules,
            &[SegReg::Cs, SegReg::Ldtr],
            set_segment_loaded,
            set_segment,
        );
    }
}
