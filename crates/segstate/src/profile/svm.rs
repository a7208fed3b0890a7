//! KVM SVM's cooking: `svm_get_segment` and `svm_set_segment` (arch/x86/kvm/svm/svm.c).

use super::{Rule, RuleSet};
use crate::arch::{PerSegReg, SegReg, Segment};
use crate::format::kvm::KvmSegment;
use crate::format::svm::{SvmAttrib, VmcbSegment};

/// VMCB segment (and VMCB.CPL) → `kvm_segment`, as KVM_GET_SREGS does on AMD.
///
/// Every field is extracted with a mask from the 12-bit attrib, so the result never
/// holds garbage; SS.DPL is a raw copy of the CPL byte.
#[must_use]
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
        k.g = u8::from(v.limit > 0xf_ffff);
    }
    let mut unusable = rules.has(Rule::SvmGetUnusableFromP) && k.present == 0;
    if rules.has(Rule::SvmGetUnusableFromType0) {
        unusable |= k.type_ == 0;
    }
    k.unusable = u8::from(unusable);
    match reg {
        SegReg::Tr if rules.has(Rule::SvmGetTrBusy) => k.type_ |= 2,
        SegReg::Ds | SegReg::Es | SegReg::Fs | SegReg::Gs
            if rules.has(Rule::SvmGetDataAccessed) && !unusable =>
        {
            k.type_ |= 1;
        }
        SegReg::Ss => {
            if rules.has(Rule::SvmGetSsDbUnusable) && unusable {
                k.db = 0;
            }
            if rules.has(Rule::SvmGetSsDplFromCpl) {
                k.dpl = vmcb_cpl;
            }
        }
        _ => {}
    }
    k
}

/// `kvm_segment` → VMCB segment, as KVM_SET_SREGS does on AMD. For SS, also returns
/// the CPL written to VMCB.CPL, or `None` when no rule writes it.
///
/// Every byte is masked (`& 0xf`, `& 1`, `& 3`); `unusable` is a truthiness test.
#[must_use]
pub fn set_segment(rules: RuleSet, reg: SegReg, k: &KvmSegment) -> (VmcbSegment, Option<u8>) {
    let unusable = k.unusable != 0;
    let attrib = if rules.has(Rule::SvmSetZeroUnusableAttrib) && unusable {
        0
    } else {
        let present = if rules.has(Rule::SvmSetPFromUnusable) {
            k.present & 1 != 0 && !unusable
        } else {
            k.present & 1 != 0
        };
        u16::from(k.type_ & 0xf)
            | u16::from(k.s & 1) << SvmAttrib::S_SHIFT
            | u16::from(k.dpl & 3) << SvmAttrib::DPL_SHIFT
            | u16::from(present) << SvmAttrib::P_SHIFT
            | u16::from(k.avl & 1) << SvmAttrib::AVL_SHIFT
            | u16::from(k.l & 1) << SvmAttrib::L_SHIFT
            | u16::from(k.db & 1) << SvmAttrib::DB_SHIFT
            | u16::from(k.g & 1) << SvmAttrib::G_SHIFT
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
