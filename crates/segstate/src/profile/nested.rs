//! Nested hardware hops, VMCB to VMCB and VMCS to VMCS: Bochs as the L0 CPU (VMRUN then
//! #VMEXIT, bochs/cpu/svm.cc @783b58fd6d9b) and Linux nested SVM/VMX (L1's vmcb12 /
//! vmcs12 through vmcb02 / vmcs02 and back: arch/x86/kvm/svm/nested.c
//! nested_vmcb02_prepare_save / nested_svm_vmexit, arch/x86/kvm/vmx/nested.c
//! prepare_vmcs02 / sync_vmcs02_to_vmcs12).
//!
//! The VMCB's CPL byte is copied **raw**: a byte above 3 written by an L1 hypervisor
//! reaches vmcb02 (and `svm_get_cpl`) unchanged.

use super::{Rule, RuleSet};
use crate::arch::SegReg;
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::VmxSegment;

/// VMRUN then #VMEXIT on Bochs: the segment goes into the descriptor cache (valid = P;
/// SS.DPL = CPL) and comes back (`valid ? attributes : 0`); the CPL byte is read and
/// written raw. Returns the VMCB segment and CPL byte L1 reads.
#[must_use]
pub fn bochs_round_trip(
    rules: RuleSet,
    reg: SegReg,
    v: &VmcbSegment,
    vmcb_cpl: u8,
) -> (VmcbSegment, u8) {
    let mut attrib = v.attrib.0 & 0x0fff;
    let valid = attrib & (1 << SvmAttrib::P_SHIFT) != 0;
    if reg == SegReg::Ss && rules.has(Rule::BochsVmrunSsDplFromCpl) {
        attrib = (attrib & !(3 << SvmAttrib::DPL_SHIFT)) | u16::from(vmcb_cpl & 3) << 5;
    }
    if rules.has(Rule::BochsVmexitZeroInvalidAttrib) && !valid {
        attrib = 0;
    }
    (
        VmcbSegment {
            attrib: SvmAttrib(attrib),
            ..*v
        },
        vmcb_cpl,
    )
}

/// vmcb12 → vmcb02 → vmcb12 (VMRUN with VMCB_SEG dirty, then #VMEXIT): the segments
/// verbatim, the CPL byte raw through the two copies.
#[must_use]
pub fn svm_l1_l2_round_trip(rules: RuleSet, v: &VmcbSegment, vmcb12_cpl: u8) -> (VmcbSegment, u8) {
    let vmcb02_cpl = if rules.has(Rule::NsvmVmrunCopyCpl) {
        vmcb12_cpl
    } else {
        0
    };
    let back = if rules.has(Rule::NsvmVmexitCopyCpl) {
        vmcb02_cpl
    } else {
        0
    };
    (*v, back)
}

/// vmcs12 → vmcs02 → vmcs12: access rights raw both ways; SS's only when the copy rule
/// is on (otherwise vmcs02 holds a fresh 0).
#[must_use]
pub fn vmx_l1_l2_round_trip(rules: RuleSet, reg: SegReg, v: &VmxSegment) -> VmxSegment {
    if reg == SegReg::Ss && !rules.has(Rule::NvmxEntryCopySsAr) {
        VmxSegment {
            access_rights: crate::format::vmx::VmxAccessRights(0),
            ..*v
        }
    } else {
        *v
    }
}
