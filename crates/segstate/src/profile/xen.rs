//! Xen HVM's cooking (xen-project/xen @c447b7308b13): the vendor hooks
//! `svm_get/set_segment_register` (hvm/svm/svm.c) and `vmx_get/set_segment_register`
//! (hvm/vmx/vmx.c), wrapped by the common `hvm_get/set_segment_register` (hvm/hvm.c),
//! and the `hvm_hw_cpu` load (`hvm_load_cpu_ctxt`, `UNFOLD_ARBYTES`).
//!
//! Xen's internal shape is [`XenSegmentRegister`]: the SVM 12-bit attribute layout on
//! both vendors, P = 0 meaning unusable, and the CPL only as SS's DPL. Protected mode
//! only: the VMX real-mode-on-vm86 rewrites are not modelled.

use super::{Rule, RuleSet};
use crate::arch::SegReg;
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::{VmxAccessRights, VmxSegment};
use crate::format::xen::XenSegmentRegister;

const P: u16 = 1 << SvmAttrib::P_SHIFT;
const S: u16 = 1 << SvmAttrib::S_SHIFT;
const DB: u16 = 1 << SvmAttrib::DB_SHIFT;
const G: u16 = 1 << SvmAttrib::G_SHIFT;
const DPL: u16 = 3 << SvmAttrib::DPL_SHIFT;

/// `is_x86_user_segment`: ES, CS, SS, DS, FS, GS.
const fn is_user(reg: SegReg) -> bool {
    !matches!(reg, SegReg::Ldtr | SegReg::Tr)
}

fn set_bit(attr: &mut u16, bit: u16, on: bool) {
    if on {
        *attr |= bit;
    } else {
        *attr &= !bit;
    }
}

/// The cooking `hvm_get_segment_register` applies after the vendor hook.
fn hvm_get(rules: RuleSet, reg: SegReg, x: &mut XenSegmentRegister) {
    let a = &mut x.attr.0;
    match reg {
        SegReg::Ss if rules.has(Rule::XenGetSsDbNotPresent) && *a & P == 0 => *a &= !DB,
        SegReg::Tr => {
            if rules.has(Rule::XenGetTrBusy) {
                *a |= 2;
            }
            if rules.has(Rule::XenGetCsTrPresent) {
                *a |= P;
            }
        }
        SegReg::Cs if rules.has(Rule::XenGetCsTrPresent) => *a |= P,
        _ => {}
    }
    if *a & P != 0 {
        if rules.has(Rule::XenGetSFromRegister) {
            set_bit(a, S, is_user(reg));
        }
        if rules.has(Rule::XenGetGFromLimit) {
            set_bit(a, G, x.limit >> 20 != 0);
        }
        if rules.has(Rule::XenGetUserAccessed) && is_user(reg) {
            *a |= 1;
        }
    }
}

/// The cooking `hvm_set_segment_register` applies before the vendor hook.
fn hvm_set(rules: RuleSet, x: &mut XenSegmentRegister) {
    if rules.has(Rule::XenSetGFromLimit) && x.attr.0 & P != 0 {
        set_bit(&mut x.attr.0, G, x.limit >> 20 != 0);
    }
}

/// VMCB segment (and VMCB.CPL) → `segment_register`: `*reg = vmcb->sreg[seg]`, SS.DPL
/// from the CPL byte (a 2-bit field: `& 3`), then the common cooking.
#[must_use]
pub fn svm_get(rules: RuleSet, reg: SegReg, v: &VmcbSegment, vmcb_cpl: u8) -> XenSegmentRegister {
    let mut x = XenSegmentRegister {
        selector: v.selector,
        attr: v.attrib,
        limit: v.limit,
        base: v.base,
    };
    if reg == SegReg::Ss && rules.has(Rule::XenSvmGetSsDplFromCpl) {
        x.attr.0 = (x.attr.0 & !DPL) | u16::from(vmcb_cpl & 3) << SvmAttrib::DPL_SHIFT;
    }
    hvm_get(rules, reg, &mut x);
    x
}

/// `segment_register` → VMCB segment: stored verbatim; for SS also returns the CPL
/// written to VMCB.CPL (`vmcb_set_cpl(vmcb, reg->dpl)`), or `None`.
#[must_use]
pub fn svm_set(rules: RuleSet, reg: SegReg, x: &XenSegmentRegister) -> (VmcbSegment, Option<u8>) {
    let mut x = *x;
    hvm_set(rules, &mut x);
    let cpl = (reg == SegReg::Ss && rules.has(Rule::XenSvmSetCplFromSsDpl))
        .then_some(((x.attr.0 & DPL) >> SvmAttrib::DPL_SHIFT) as u8);
    let v = VmcbSegment {
        selector: x.selector,
        attrib: x.attr,
        limit: x.limit,
        base: x.base,
    };
    (v, cpl)
}

/// VMCS guest segment → `segment_register`: the access rights folded into the 12-bit
/// layout, P = !unusable, then the common cooking.
#[must_use]
pub fn vmx_get(rules: RuleSet, reg: SegReg, v: &VmxSegment) -> XenSegmentRegister {
    let ar = v.access_rights.0;
    let low = if rules.has(Rule::XenVmxGetPFromUnusable) {
        u32::from(ar & VmxAccessRights::UNUSABLE == 0) << 7 | (ar & 0x7f)
    } else {
        ar & 0xff
    };
    let mut x = XenSegmentRegister {
        selector: v.selector,
        attr: SvmAttrib((low | ((ar >> 4) & 0xf00)) as u16),
        limit: v.limit,
        base: v.base,
    };
    hvm_get(rules, reg, &mut x);
    x
}

/// `segment_register` → VMCS guest segment: the common cooking, then the attribute
/// unfolded into access rights with unusable = !P.
#[must_use]
pub fn vmx_set(rules: RuleSet, x: &XenSegmentRegister) -> VmxSegment {
    let mut x = *x;
    hvm_set(rules, &mut x);
    let attr = u32::from(x.attr.0);
    let unusable = rules.has(Rule::XenVmxSetUnusableFromNotP) && attr & u32::from(P) == 0;
    VmxSegment {
        selector: x.selector,
        base: x.base,
        limit: x.limit,
        access_rights: VmxAccessRights(
            u32::from(unusable) << 16 | ((attr & 0xf00) << 4) | (attr & 0xff),
        ),
    }
}

/// The save record and back: `*_arbytes = seg.attr` on save, `UNFOLD_ARBYTES` and
/// `seg.attr = arbytes` (a u16 assignment) on load.
#[must_use]
pub fn save_load(rules: RuleSet, x: &XenSegmentRegister) -> XenSegmentRegister {
    let mut r = u32::from(x.attr.0);
    if rules.has(Rule::XenLoadUnfoldArbytes) && r & 0xf000 != 0 && r & 0x0f00 == 0 {
        r = (r & 0xff) | ((r >> 4) & 0xf00);
    }
    XenSegmentRegister {
        attr: SvmAttrib(r as u16),
        ..*x
    }
}
