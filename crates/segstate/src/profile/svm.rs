//! KVM SVM's cooking: `svm_get_segment` and `svm_set_segment` (arch/x86/kvm/svm/svm.c),
//! one register at a time and for a whole save area (`get_sregs`, `set_sregs`).

use super::attribute_bytes::{AttributePlacement, AttributePositions};
use super::{Rule, RuleSet};
use crate::arch::{EFER_SVME, PerSegReg, SegReg, Segment};
use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};
use crate::format::svm::{SvmAttrib, VmcbDtable, VmcbSaveArea, VmcbSegment};

/// VMCB segment (and VMCB.CPL) → `kvm_segment`, as KVM_GET_SREGS does on AMD.
///
/// Every field is extracted with a mask from the 12-bit attrib, so the result never
/// holds garbage; SS.DPL is a raw copy of the CPL byte.
#[must_use]
#[inline]
pub fn get_segment(rules: RuleSet, reg: SegReg, v: &VmcbSegment, vmcb_cpl: u8) -> KvmSegment {
    let a = v.attrib;
    let bit = |shift: u16| ((a.0 >> shift) & 1) as u8;
    let mut k = KvmSegment {
        base: v.base,
        limit: v.limit,
        selector: v.selector,
        type_: (a.0 & SvmAttrib::TYPE_MASK) as u8,
        present: bit(SvmAttrib::P_SHIFT),
        dpl: ((a.0 >> SvmAttrib::DPL_SHIFT) & 3) as u8,
        db: bit(SvmAttrib::DB_SHIFT),
        s: bit(SvmAttrib::S_SHIFT),
        l: bit(SvmAttrib::L_SHIFT),
        g: bit(SvmAttrib::G_SHIFT),
        avl: bit(SvmAttrib::AVL_SHIFT),
        unusable: 0,
        padding: 0,
    };
    if rules.has(Rule::SvmGetGFromLimit) {
        g_from_limit(&mut k);
    }
    let mut unusable = rules.has(Rule::SvmGetUnusableFromP) && k.present == 0;
    if rules.has(Rule::SvmGetUnusableFromType0) {
        unusable |= k.type_ == 0;
    }
    k.unusable = u8::from(unusable);
    match reg {
        SegReg::Tr if rules.has(Rule::SvmGetTrBusy) => tr_busy(&mut k),
        SegReg::Ds | SegReg::Es | SegReg::Fs | SegReg::Gs
            if rules.has(Rule::SvmGetDataAccessed) && !unusable =>
        {
            accessed(&mut k);
        }
        SegReg::Ss => {
            if rules.has(Rule::SvmGetSsDbUnusable) {
                ss_db_unusable(&mut k);
            }
            if rules.has(Rule::SvmGetSsDplFromCpl) {
                k.dpl = vmcb_cpl;
            }
        }
        _ => {}
    }
    k
}

/// [`Rule::SvmGetGFromLimit`]'s effect: G is the encoding of the byte-granular
/// limit, `g = limit > 0xfffff` (`svm_get_segment`). Snapshot repair and read-back
/// canonicalisation (`profile::repair`) apply the same function.
#[inline]
pub(crate) fn g_from_limit(k: &mut KvmSegment) {
    k.g = u8::from(k.limit > 0xf_ffff);
}

/// [`Rule::SvmGetTrBusy`]'s effect: TR's type gets the busy bit (`type |= 2`).
#[inline]
pub(crate) fn tr_busy(k: &mut KvmSegment) {
    k.type_ |= 2;
}

/// The accessed bit (`type |= 1`): the effect of [`Rule::SvmGetDataAccessed`] (usable
/// DS..GS) and of [`Rule::VmxSetAccessedUnrestricted`] (every segment but LDTR).
#[inline]
pub(crate) fn accessed(k: &mut KvmSegment) {
    k.type_ |= 1;
}

/// [`Rule::SvmGetSsDbUnusable`]'s effect: an unusable SS reports D/B = 0.
#[inline]
pub(crate) fn ss_db_unusable(k: &mut KvmSegment) {
    if k.unusable != 0 {
        k.db = 0;
    }
}

/// `kvm_segment` → VMCB segment, as KVM_SET_SREGS does on AMD. For SS, also returns
/// the CPL written to VMCB.CPL, or `None` when no rule writes it.
///
/// Every byte is masked (`& 0xf`, `& 1`, `& 3`); `unusable` is a truthiness test.
#[must_use]
#[inline]
pub fn set_segment(rules: RuleSet, reg: SegReg, k: &KvmSegment) -> (VmcbSegment, Option<u8>) {
    set_segment_packed(rules, reg, k, |k| VMCB.pack_fields(k))
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
) -> (VmcbSegment, Option<u8>) {
    set_segment_packed(rules, reg, k, |k| VMCB_ATTRIB.pack::<HALVES>(k))
}

/// [`set_segment`] with `attrib` packing the masked bytes (P = `present & 1`, cleared
/// here when a rule says so).
#[inline(always)]
fn set_segment_packed(
    rules: RuleSet,
    reg: SegReg,
    k: &KvmSegment,
    attrib: impl Fn(&KvmSegment) -> u16,
) -> (VmcbSegment, Option<u8>) {
    let unusable = k.unusable != 0;
    let attrib = if rules.has(Rule::SvmSetZeroUnusableAttrib) && unusable {
        0
    } else {
        let clear_p = rules.has(Rule::SvmSetPFromUnusable) && unusable;
        attrib(k) & !(u16::from(clear_p) << SvmAttrib::P_SHIFT)
    };
    let cpl = if reg != SegReg::Ss {
        None
    } else if rules.has(Rule::SvmSetCplFromSsDpl) {
        Some(k.dpl & 3)
    } else if rules.has(Rule::SvmSetCplFromAttrib) {
        Some(((attrib >> SvmAttrib::DPL_SHIFT) & 3) as u8)
    } else {
        None
    };
    let v = VmcbSegment {
        selector: k.selector,
        attrib: SvmAttrib(attrib),
        limit: k.limit,
        base: k.base,
    };
    (v, cpl)
}

/// The VMCB attrib's positions (`SVM_SELECTOR_*_SHIFT`, APM Vol. 2 §15.5.1).
const VMCB: AttributePositions = AttributePositions {
    present: SvmAttrib::P_SHIFT,
    dpl: SvmAttrib::DPL_SHIFT,
    db: SvmAttrib::DB_SHIFT,
    s: SvmAttrib::S_SHIFT,
    l: SvmAttrib::L_SHIFT,
    g: SvmAttrib::G_SHIFT,
    avl: SvmAttrib::AVL_SHIFT,
};

/// [`VMCB`] as a packing table. A `const`, not a `static`: code inlined into another
/// crate (`Chain::run_segment`'s arms) then sees its DPL position as a constant and
/// the table at a fixed address (as a `static` it loaded both, the position into a
/// shift by `cl`: `BENCHMARKS.md` §2, step 41).
const VMCB_ATTRIB: AttributePlacement = AttributePlacement::new(VMCB);

/// The eight segments of a state as today's KVM writes them into a VMCB
/// (`svm_set_segment` under the current `kvm-svm` rules): every attribute bit kept and
/// P = present && !unusable, since the VMCB says "unusable" only through P.
///
/// Every consumer that puts a state into a VMCB (check's path analysis, verify's
/// domain) calls this one function, so they cannot disagree about a usable segment
/// that is not present (it becomes P = 0, unusable).
#[must_use]
pub fn kvm_vmcb_segments(segments: &PerSegReg<Segment>) -> PerSegReg<VmcbSegment> {
    let rules = super::Profile::KVM_SVM.rules;
    segments.map(|reg, s| set_segment(rules, reg, &KvmSegment::from(*s)).0)
}

/// A whole VMCB save area → `kvm_sregs`, as KVM_GET_SREGS reports it on AMD
/// (`svm_get_segment` for each register under `rules`, `svm_get_idt`/`svm_get_gdt`,
/// the control registers and the guest's EFER).
///
/// EFER loses SVME: KVM sets it in every VMCB it runs (`svm_set_efer`) and the guest's
/// view hides it. The descriptor-table limits are cut to 16 bits, as KVM's
/// `struct desc_ptr` cuts them. The save area holds neither CR8 (the VMCB control area's V_TPR) nor
/// the APIC base (an MSR), so both are 0 and the interrupt bitmap is empty.
///
/// ```
/// use segstate::arch::{PerSegReg, PrivilegeLevel, SegReg};
/// use segstate::format::kvm::KvmSregs;
/// use segstate::format::svm::{SvmAttrib, VmcbSaveArea, VmcbSegment};
/// use segstate::profile::{Profile, svm};
///
/// // A VMCB of a guest in user mode after SYSRET: SS unusable (P = 0), VMCB.CPL 3.
/// let flat = |selector, attrib| VmcbSegment { selector, attrib: SvmAttrib(attrib), limit: 0xffff_ffff, base: 0 };
/// let mut segments = PerSegReg([flat(0x2b, 0x0cf3); 8]);
/// segments[SegReg::Cs] = flat(0x33, 0x0afb);
/// segments[SegReg::Ss] = flat(0x2b, 0x0c73);
/// let mut vmcb = VmcbSaveArea::new(segments, 3);
/// vmcb.efer = 0x1d01; // LME, LMA, SCE, SVME
///
/// // KVM_GET_SREGS: the CPL travels as SS.DPL, SVME is hidden.
/// let sregs: KvmSregs = svm::get_sregs(Profile::KVM_SVM.rules, &vmcb);
/// assert_eq!((sregs.ss.dpl, sregs.ss.unusable), (3, 1));
/// assert_eq!(sregs.efer, 0x0d01);
///
/// // KVM_SET_SREGS into a fresh VMCB: the CPL byte comes back from SS.DPL.
/// let mut fresh = VmcbSaveArea::new(PerSegReg([VmcbSegment::default(); 8]), 0);
/// svm::set_sregs(Profile::KVM_SVM.rules, &sregs, &mut fresh);
/// assert_eq!(fresh.cpl(), PrivilegeLevel::Ring3);
/// assert_eq!(fresh.efer, vmcb.efer);
/// ```
#[must_use]
pub fn get_sregs(rules: RuleSet, area: &VmcbSaveArea) -> KvmSregs {
    let mut sregs = KvmSregs {
        gdt: KvmDtable {
            base: area.gdtr.base,
            limit: area.gdtr.limit as u16,
            padding: [0; 3],
        },
        idt: KvmDtable {
            base: area.idtr.base,
            limit: area.idtr.limit as u16,
            padding: [0; 3],
        },
        cr0: area.cr0,
        cr2: area.cr2,
        cr3: area.cr3,
        cr4: area.cr4,
        efer: area.efer & !EFER_SVME,
        ..KvmSregs::default()
    };
    for reg in SegReg::ALL {
        *sregs.segment_mut(reg) = get_segment(rules, reg, &area.segments[reg], area.cpl);
    }
    sregs
}

/// `kvm_sregs` → a VMCB save area, as KVM_SET_SREGS writes it on AMD
/// (`svm_set_segment` for each register under `rules`, VMCB.CPL from whatever the
/// rules take it from, the descriptor tables, the control registers, EFER with SVME).
///
/// Fields `kvm_sregs` does not carry (RIP, RSP, RAX, RFLAGS, the MSR fields, the
/// debug registers) keep their values in `area`; CR8 and the APIC base live outside
/// the save area and are not written.
pub fn set_sregs(rules: RuleSet, sregs: &KvmSregs, area: &mut VmcbSaveArea) {
    for reg in SegReg::ALL {
        let (segment, cpl) = set_segment(rules, reg, sregs.segment(reg));
        area.segments[reg] = segment;
        if let Some(cpl) = cpl {
            area.cpl = cpl;
        }
    }
    area.gdtr = VmcbDtable {
        base: sregs.gdt.base,
        limit: sregs.gdt.limit.into(),
    };
    area.idtr = VmcbDtable {
        base: sregs.idt.base,
        limit: sregs.idt.limit.into(),
    };
    area.cr0 = sregs.cr0;
    area.cr2 = sregs.cr2;
    area.cr3 = sregs.cr3;
    area.cr4 = sregs.cr4;
    area.efer = sregs.efer | EFER_SVME;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::attribute_bytes::tests::assert_loaded_is_plain;

    /// The gathered attrib is the field-by-field one for every combination of the bits
    /// KVM reads, under garbage, under every combination of the set rules: gathered as
    /// one word and in two halves.
    #[test]
    fn set_segment_loaded_is_set_segment() {
        let rules = [
            Rule::SvmSetPFromUnusable,
            Rule::SvmSetZeroUnusableAttrib,
            Rule::SvmSetCplFromSsDpl,
            Rule::SvmSetCplFromAttrib,
        ];
        let forms: [fn(RuleSet, SegReg, &KvmSegment) -> _; 2] =
            [set_segment_loaded::<false>, set_segment_loaded::<true>];
        for loaded in forms {
            assert_loaded_is_plain(&rules, &[SegReg::Cs, SegReg::Ss], loaded, set_segment);
        }
    }
}
