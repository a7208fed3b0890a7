//! AMD VMRUN consistency checks (APM Vol. 2 §15.5.1) that touch segments, EFER and
//! the control registers. An illegal state gives #VMEXIT(VMEXIT_INVALID).
//!
//! None of them compares CPL with SS.DPL or checks segment types: VMRUN takes
//! VMCB.CPL as it is, so the AMD failure mode is silent privilege corruption, not a
//! failed entry.

use alloc::vec::Vec;

use super::{CheckId, Finding, Findings};
use crate::arch::{CR0_PE, CR0_PG, EFER_LME, SegReg};
use crate::arch::{EFER_SVME, SegmentState};

/// CR0.NW.
const CR0_NW: u64 = 1 << 29;
/// CR0.CD.
const CR0_CD: u64 = 1 << 30;
/// CR4.PAE.
const CR4_PAE: u64 = 1 << 5;
/// EFER bits that are reserved (must be zero) on every AMD64 processor: 7:1, 9 and
/// 63:32. Bits 16 and up that later processors define (MCOMMIT, INTWB, AIBRSE, …)
/// are not judged.
pub const EFER_MBZ: u64 = 0xfe | 1 << 9 | 0xffff_ffff_0000_0000;

/// The raw VMCB CPL byte: a value above 3 is reported. VMRUN does not check it, KVM's
/// `svm_get_cpl` returns the byte as stored (and KVM_GET_SREGS copies it into SS.dpl),
/// and nested SVM copies it unchecked from the L1 hypervisor's vmcb12
/// (`nested_vmcb02_prepare_save`), so a value above 3 travels on.
#[must_use]
pub fn cpl_byte(raw: u8) -> Option<Finding> {
    let mut f = Findings::collecting();
    if raw > 3 {
        f.fail(
            CheckId::SvmVmrunCplByte,
            Some(SegReg::Ss),
            "VMCB.CPL",
            "0..=3",
            raw,
        );
    }
    f.list.pop()
}

/// Runs the VMRUN checks on a guest state. `efer` is the guest EFER as the VMCB holds
/// it (KVM keeps SVME set there).
#[must_use]
pub fn check(state: &SegmentState) -> Vec<Finding> {
    let mut f = Findings::collecting();
    if state.efer & EFER_SVME == 0 {
        f.fail(CheckId::SvmVmrunEferSvme, None, "EFER.SVME", "1", "0");
    }
    if state.efer & EFER_MBZ != 0 {
        f.fail(
            CheckId::SvmVmrunEferMbz,
            None,
            "EFER",
            "reserved bits 7:1, 9 and 63:32 clear",
            format_args!("{:#x}", state.efer),
        );
    }
    if state.cr0 & CR0_CD == 0 && state.cr0 & CR0_NW != 0 {
        f.fail(
            CheckId::SvmVmrunCr0CdNw,
            None,
            "CR0.CD/NW",
            "not CD=0 with NW=1",
            "CD=0 NW=1",
        );
    }
    if state.cr0 >> 32 != 0 {
        f.fail(
            CheckId::SvmVmrunCr0High,
            None,
            "CR0[63:32]",
            "0",
            format_args!("{:#x}", state.cr0 >> 32),
        );
    }
    if state.cr4 >> 32 != 0 {
        f.fail(
            CheckId::SvmVmrunCr4High,
            None,
            "CR4[63:32]",
            "0",
            format_args!("{:#x}", state.cr4 >> 32),
        );
    }
    let long = state.efer & EFER_LME != 0 && state.cr0 & CR0_PG != 0;
    if long && state.cr4 & CR4_PAE == 0 {
        f.fail(
            CheckId::SvmVmrunLmePgPae,
            None,
            "CR4.PAE",
            "1 with EFER.LME and CR0.PG",
            "0",
        );
    }
    if long && state.cr0 & CR0_PE == 0 {
        f.fail(
            CheckId::SvmVmrunLmePgPe,
            None,
            "CR0.PE",
            "1 with EFER.LME and CR0.PG",
            "0",
        );
    }
    let cs = state.segments[SegReg::Cs].attributes;
    if long && state.cr4 & CR4_PAE != 0 && cs.l && cs.db {
        f.fail(
            CheckId::SvmVmrunCsLD,
            Some(SegReg::Cs),
            "L, D",
            "not both set in long mode",
            "L=1 D=1",
        );
    }
    f.list
}
