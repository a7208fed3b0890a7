//! The documented normalisation of the other stacks' conversions, on the architectural
//! model: what each encoding, fixup and CPL-carrier rule of Xen, bhyve, VirtualBox,
//! crosvm, mshv-bindings, openvmm, Bochs and nested KVM may change. Loss rules have no
//! normalisation here, so what they change is reported.

use crate::arch::{PrivilegeLevel, SegReg, Segment, SegmentType};
use crate::profile::{Rule, RuleSet, StackOp};

/// A shape that says "unusable" only through P.
#[inline(always)]
fn via_p(s: &mut Segment) {
    s.unusable = !s.attributes.present;
}

/// A conversion that folds `unusable` into P (P = present && !unusable).
#[inline(always)]
fn fold_into_p(s: &mut Segment) {
    s.attributes.present = s.attributes.present && !s.unusable;
    via_p(s);
}

/// ES..GS: `is_x86_user_segment`.
const fn is_user(reg: SegReg) -> bool {
    !matches!(reg, SegReg::Ldtr | SegReg::Tr)
}

/// hvm_get_segment_register's cooking.
#[inline(always)]
fn xen_hvm_get(r: RuleSet, reg: SegReg, s: &mut Segment) {
    let a = &mut s.attributes;
    match reg {
        SegReg::Ss if r.has(Rule::XenGetSsDbNotPresent) && !a.present => a.db = false,
        SegReg::Tr => {
            if r.has(Rule::XenGetTrBusy) {
                a.segment_type = a.segment_type.with_busy();
            }
            if r.has(Rule::XenGetCsTrPresent) {
                a.present = true;
            }
        }
        SegReg::Cs if r.has(Rule::XenGetCsTrPresent) => a.present = true,
        _ => {}
    }
    if a.present {
        if r.has(Rule::XenGetSFromRegister) {
            a.s = is_user(reg);
        }
        if r.has(Rule::XenGetGFromLimit) {
            a.g = s.limit > 0xf_ffff;
        }
        if r.has(Rule::XenGetUserAccessed) && is_user(reg) {
            a.segment_type = a.segment_type.with_accessed();
        }
    }
    via_p(s);
}

/// hvm_set_segment_register's cooking: G from the limit ([`Rule::XenSetGFromLimit`]).
#[inline(always)]
fn xen_hvm_set(r: RuleSet, s: &mut Segment) {
    if r.has(Rule::XenSetGFromLimit) && s.attributes.present {
        s.attributes.g = s.limit > 0xf_ffff;
    }
}

/// What `op` may change in `s` (register `reg`, source CPL `cpl`).
///
/// Always inlined into [`super::normalise::expected`]: called out of line (as
/// `#[inline]` left it in the release build) it took `&mut` the segment, so the whole
/// segment lived in memory and was written a byte at a time ahead of the wide load
/// that compares it (`BENCHMARKS.md` §2, step 25's note; step 26 measured the change).
/// Its helpers are always inlined too, so that none of the rule walk is left out of
/// line.
#[allow(clippy::too_many_lines)]
#[inline(always)]
pub(super) fn apply(op: StackOp, reg: SegReg, s: &mut Segment, cpl: PrivilegeLevel) {
    match op {
        StackOp::XenSvmGet(r) => {
            if reg == SegReg::Ss && r.has(Rule::XenSvmGetSsDplFromCpl) {
                s.attributes.dpl = cpl;
            }
            xen_hvm_get(r, reg, s);
        }
        StackOp::XenSvmSet(r) => {
            xen_hvm_set(r, s);
            via_p(s);
        }
        StackOp::XenVmxGet(r) => {
            if r.has(Rule::XenVmxGetPFromUnusable) {
                s.attributes.present = !s.unusable;
            }
            xen_hvm_get(r, reg, s);
        }
        StackOp::XenVmxSet(r) => {
            xen_hvm_set(r, s);
            s.unusable = r.has(Rule::XenVmxSetUnusableFromNotP) && !s.attributes.present;
        }
        StackOp::XenSaveLoad(_)
        | StackOp::BhyveVmxGet(_)
        | StackOp::BhyveVmxSet(_)
        | StackOp::BhyveCarry(_)
        | StackOp::NestedSvmRoundTrip(_)
        | StackOp::NestedVmxRoundTrip(_) => {}
        StackOp::BhyveSvmGet(r) => {
            if reg == SegReg::Ss && !r.has(Rule::BhyveSvmGetSsDplFromAttrib) {
                s.attributes.dpl = cpl;
            }
            s.unusable = r.has(Rule::BhyveSvmGetUnusableFromP)
                && !matches!(reg, SegReg::Cs | SegReg::Tr)
                && !s.attributes.present;
        }
        StackOp::BhyveSvmSet(r) => {
            if r.has(Rule::BhyveSvmSetPFromUnusable) {
                s.attributes.present = s.attributes.present && !s.unusable;
            }
            via_p(s);
        }
        StackOp::VboxSvmImport(r) => {
            let a = &mut s.attributes;
            match reg {
                SegReg::Cs if r.has(Rule::VboxSvmImportCsGFromLimit) && a.present => {
                    a.g = a.g || s.limit > 0xf_ffff;
                }
                SegReg::Ss if r.has(Rule::VboxSvmImportSsDplFromCpl) => a.dpl = cpl,
                SegReg::Tr if r.has(Rule::VboxSvmImportTrBusy) => {
                    a.segment_type = SegmentType::from_low_bits(11);
                }
                _ => {}
            }
            if !r.has(Rule::VboxSvmImportUnusableNotSet) {
                via_p(s);
            }
        }
        StackOp::VboxSvmExport(_) => via_p(s),
        StackOp::BochsRoundTrip(r) => {
            if reg == SegReg::Ss && r.has(Rule::BochsVmrunSsDplFromCpl) {
                s.attributes.dpl = cpl;
            }
            via_p(s);
        }
        StackOp::VboxVmxImport(r) => {
            if r.has(Rule::VboxVmxImportStripUnusable) && s.unusable {
                s.attributes.present = false;
                s.attributes.avl = false;
            }
        }
        StackOp::VboxVmxExport(r) => {
            if r.has(Rule::VboxVmxExportZeroAttrUnusable)
                && !s.unusable
                && s.attributes == crate::arch::Attributes::default()
            {
                s.unusable = true;
            }
        }
        StackOp::VboxNemImport(r) | StackOp::VboxNemExport(r) => {
            if !r.has(Rule::VboxNemCopyUnusable) {
                s.unusable = false;
            }
        }
        StackOp::CrosvmFromKvm(r) => {
            if !r.has(Rule::CrosvmFromKvmDropUnusable) {
                fold_into_p(s);
            }
        }
        StackOp::CrosvmToKvm(r) => {
            s.unusable = r.has(Rule::CrosvmKvmUnusableFromNotPresent) && !s.attributes.present;
        }
        StackOp::CrosvmToWhpx(_) | StackOp::CrosvmFromWhpx(_) | StackOp::CrosvmFromHaxm(_) => {
            via_p(s);
        }
        StackOp::CrosvmToHaxm(r) => {
            if !r.has(Rule::CrosvmHaxmNoNullBit) {
                via_p(s);
            } else if r.has(Rule::CrosvmHaxmZeroArNull)
                && s.attributes == crate::arch::Attributes::default()
            {
                s.unusable = true;
            }
        }
        StackOp::MshvSet(r) => {
            if !r.has(Rule::MshvSetIgnoreUnusable) {
                fold_into_p(s);
            }
        }
        StackOp::MshvGet(r) => {
            if !r.has(Rule::MshvGetUnusableZero) {
                via_p(s);
            }
        }
        StackOp::OpenvmmFromKvm(r) => {
            if !r.has(Rule::OpenvmmFromKvmDropUnusable) {
                fold_into_p(s);
            }
            if r.has(Rule::OpenvmmFromKvmClearAccessedNotPresent) && !s.attributes.present {
                let t = s.attributes.segment_type.bits() & !1;
                s.attributes.segment_type = SegmentType::from_low_bits(t);
            }
        }
        StackOp::OpenvmmToKvm(r) => {
            if !r.has(Rule::OpenvmmToKvmUnusableZero) {
                via_p(s);
            }
        }
    }
}
