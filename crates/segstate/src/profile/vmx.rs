//! KVM VMX's cooking: `vmx_get_segment`, `__vmx_set_segment` and
//! `vmx_segment_access_rights` (arch/x86/kvm/vmx/vmx.c), protected mode, with
//! unrestricted guest enabled (the default on every VMX CPU since Westmere).

use super::attribute_bytes::{AttributePlacement, AttributePositions};
use super::{Rule, RuleSet};
use crate::arch::{Attributes, PerSegReg, SegReg, Segment};
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
    set_segment_packed(rules, reg, k, |k| u32::from(AR.pack_fields(k)))
}

/// [`set_segment`] for a `kvm_segment` read from memory: the same result, its attribute
/// bytes gathered as one word ([`super::attribute_bytes`]; in two loads when `HALVES`,
/// for a `kvm_segment` just copied). Where `k` was just computed by another step,
/// [`set_segment`] folds into that step and is the faster.
#[must_use]
#[inline(always)]
pub(super) fn set_segment_loaded<const HALVES: bool>(
    rules: RuleSet,
    reg: SegReg,
    k: &KvmSegment,
) -> VmxSegment {
    set_segment_packed(rules, reg, k, |k| {
        u32::from(ACCESS_RIGHTS.pack::<HALVES>(k))
    })
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

/// Access-rights bit positions (SDM Vol. 3C §24.4.1, Table 24-2): the descriptor's
/// attribute word, [`crate::arch::Attributes::to_word`]'s layout.
const AR: AttributePositions = AttributePositions {
    present: Attributes::P_SHIFT,
    dpl: Attributes::DPL_SHIFT,
    db: Attributes::DB_SHIFT,
    s: Attributes::S_SHIFT,
    l: Attributes::L_SHIFT,
    g: Attributes::G_SHIFT,
    avl: Attributes::AVL_SHIFT,
};

/// [`AR`] as a packing table. A `const`, not a `static`: code inlined into another
/// crate (`Chain::run_segment`'s arms) then sees its DPL position as a constant and
/// the table at a fixed address (as a `static` it loaded both, the position into a
/// shift by `cl`: `BENCHMARKS.md` §2, step 41).
const ACCESS_RIGHTS: AttributePlacement = AttributePlacement::new(AR);

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

    /// [`AR`] is the attribute word the arch layer packs, field for field.
    #[test]
    fn access_rights_positions_are_the_attribute_word() {
        use crate::arch::{Attributes, PrivilegeLevel};
        let one = |a: Attributes| a.to_word();
        let n = Attributes::from_word(0);
        assert_eq!(one(Attributes { present: true, ..n }), 1 << AR.present);
        let dpl1 = PrivilegeLevel::from_low_bits(1);
        assert_eq!(one(Attributes { dpl: dpl1, ..n }), 1 << AR.dpl);
        assert_eq!(one(Attributes { db: true, ..n }), 1 << AR.db);
        assert_eq!(one(Attributes { s: true, ..n }), 1 << AR.s);
        assert_eq!(one(Attributes { l: true, ..n }), 1 << AR.l);
        assert_eq!(one(Attributes { g: true, ..n }), 1 << AR.g);
        assert_eq!(one(Attributes { avl: true, ..n }), 1 << AR.avl);
    }

    /// The gathered access rights are the field-by-field ones for every combination of
    /// the bits KVM reads, under garbage, under every combination of the set rules:
    /// gathered as one word and in two halves.
    #[test]
    fn set_segment_loaded_is_set_segment() {
        let rules = [
            Rule::VmxSetAccessedUnrestricted,
            Rule::VmxSetZeroUnusableAr,
            Rule::VmxSetUnusableFromNotPresent,
        ];
        let forms: [fn(RuleSet, SegReg, &KvmSegment) -> _; 2] =
            [set_segment_loaded::<false>, set_segment_loaded::<true>];
        for loaded in forms {
            assert_loaded_is_plain(&rules, &[SegReg::Cs, SegReg::Ldtr], loaded, set_segment);
        }
    }
}
