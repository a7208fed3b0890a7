//! AMD VMRUN consistency checks (APM Vol. 2 §15.5.1) that touch segments, EFER and
//! the control registers. An illegal state gives #VMEXIT(VMEXIT_INVALID).
//!
//! None of them compares CPL with SS.DPL or checks segment types: VMRUN takes
//! VMCB.CPL as it is, so the AMD failure mode is silent privilege corruption, not a
//! failed entry.

use alloc::vec::Vec;

use super::{Finding, Findings, SegmentState, Severity};
use crate::arch::{CR0_PE, CR0_PG, EFER_LME, SegReg};

const REF: &str = "APM Vol. 2 §15.5.1";
/// CR0.NW.
const CR0_NW: u64 = 1 << 29;
/// CR0.CD.
const CR0_CD: u64 = 1 << 30;
/// CR4.PAE.
const CR4_PAE: u64 = 1 << 5;
/// EFER.SVME.
const EFER_SVME: u64 = 1 << 12;
/// EFER bits that are reserved (must be zero) on every AMD64 processor: 7:1, 9 and
/// 63:32. Bits 16 and up that later processors define (MCOMMIT, INTWB, AIBRSE, …)
/// are not judged.
pub const EFER_MBZ: u64 = 0xfe | 1 << 9 | 0xffff_ffff_0000_0000;

/// Every rule id this module emits.
pub const RULE_IDS: &[&str] = &[
    "svm.vmrun.efer-svme",
    "svm.vmrun.efer-mbz",
    "svm.vmrun.cr0-cd-nw",
    "svm.vmrun.cr0-high",
    "svm.vmrun.cr4-high",
    "svm.vmrun.lme-pg-pae",
    "svm.vmrun.lme-pg-pe",
    "svm.vmrun.cs-l-d",
    "svm.vmrun.cpl-byte",
];

/// The raw VMCB CPL byte: a value above 3 is reported. VMRUN does not check it, KVM's
/// `svm_get_cpl` returns the byte as stored (and KVM_GET_SREGS copies it into SS.dpl),
/// and nested SVM copies it unchecked from the L1 hypervisor's vmcb12
/// (`nested_vmcb02_prepare_save`), so a value above 3 travels on.
#[must_use]
pub fn cpl_byte(raw: u8) -> Option<Finding> {
    let mut f = Findings::collecting();
    if raw > 3 {
        f.fail(
            "svm.vmrun.cpl-byte",
            Severity::Error,
            Some(SegReg::Ss),
            "VMCB.CPL",
            "0..=3",
            raw,
            "APM Vol. 2 §15.5 (CPL field); KVM svm_get_cpl, nested_vmcb02_prepare_save",
        );
    }
    f.list.pop()
}

/// Runs the VMRUN checks on a guest state. `efer` is the guest EFER as the VMCB holds
/// it (KVM keeps SVME set there).
#[must_use]
pub fn check(state: &SegmentState) -> Vec<Finding> {
    let mut f = Findings::collecting();
    let e = Severity::Error;
    if state.efer & EFER_SVME == 0 {
        f.fail("svm.vmrun.efer-svme", e, None, "EFER.SVME", "1", "0", REF);
    }
    if state.efer & EFER_MBZ != 0 {
        f.fail(
            "svm.vmrun.efer-mbz",
            e,
            None,
            "EFER",
            "reserved bits 7:1, 9 and 63:32 clear",
            format_args!("{:#x}", state.efer),
            REF,
        );
    }
    if state.cr0 & CR0_CD == 0 && state.cr0 & CR0_NW != 0 {
        f.fail(
            "svm.vmrun.cr0-cd-nw",
            e,
            None,
            "CR0.CD/NW",
            "not CD=0 with NW=1",
            "CD=0 NW=1",
            REF,
        );
    }
    if state.cr0 >> 32 != 0 {
        f.fail(
            "svm.vmrun.cr0-high",
            e,
            None,
            "CR0[63:32]",
            "0",
            format_args!("{:#x}", state.cr0 >> 32),
            REF,
        );
    }
    if state.cr4 >> 32 != 0 {
        f.fail(
            "svm.vmrun.cr4-high",
            e,
            None,
            "CR4[63:32]",
            "0",
            format_args!("{:#x}", state.cr4 >> 32),
            REF,
        );
    }
    let long = state.efer & EFER_LME != 0 && state.cr0 & CR0_PG != 0;
    if long && state.cr4 & CR4_PAE == 0 {
        f.fail(
            "svm.vmrun.lme-pg-pae",
            e,
            None,
            "CR4.PAE",
            "1 with EFER.LME and CR0.PG",
            "0",
            REF,
        );
    }
    if long && state.cr0 & CR0_PE == 0 {
        f.fail(
            "svm.vmrun.lme-pg-pe",
            e,
            None,
            "CR0.PE",
            "1 with EFER.LME and CR0.PG",
            "0",
            REF,
        );
    }
    let cs = state.segments[SegReg::Cs].attributes;
    if long && state.cr4 & CR4_PAE != 0 && cs.l && cs.db {
        f.fail(
            "svm.vmrun.cs-l-d",
            e,
            Some(SegReg::Cs),
            "L, D",
            "not both set in long mode",
            "L=1 D=1",
            REF,
        );
    }
    f.list
}
