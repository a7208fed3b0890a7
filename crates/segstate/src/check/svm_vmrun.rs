//! AMD VMRUN consistency checks (APM Vol. 2 §15.5.1) that touch segments, EFER and
//! the control registers. An illegal state gives #VMEXIT(VMEXIT_INVALID).
//!
//! None of them compares CPL with SS.DPL or checks segment types: VMRUN takes
//! VMCB.CPL as it is, so the AMD failure mode is silent privilege corruption, not a
//! failed entry.

use alloc::vec::Vec;

use super::vmx_guest::CrLevel;
use super::{CheckId, Finding, Findings, GuestFindings, Run};
use crate::arch::{CR0_CD, CR0_NW, CR0_PE, CR0_PG, CR4_PAE, EFER_LME, SegReg};
use crate::arch::{EFER_SVME, GuestField, GuestState, SegmentState};

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

/// CR3 bits above the architectural physical-address width of 52: MBZ in every mode.
pub const CR3_MBZ: u64 = !((1 << 52) - 1);
/// CR4 bits below 32 that are MBZ on AMD processors: VMXE (13) and SMXE (14), which
/// AMD does not implement, and 15, 19 and 31:24, which no AMD processor defines.
pub const CR4_MBZ_LOW: u64 = 1 << 13 | 1 << 14 | 1 << 15 | 1 << 19 | 0xff00_0000;
/// The architectural physical-address width assumed for the map-placement and nCR3
/// checks when the dump does not say (the most AMD64 allows).
const PHYS_WIDTH: u32 = 52;
/// The IOPM is 12 KiB (three pages), the MSRPM 8 KiB (two pages).
const IOPM_SIZE: u64 = 12 << 10;
const MSRPM_SIZE: u64 = 8 << 10;

/// The rules of [`check_guest`]: they read fields a [`SegmentState`] does not hold.
pub const GUEST_RULES: &[CheckId] = &[
    CheckId::SvmVmrunCr3Mbz,
    CheckId::SvmVmrunCr4Mbz,
    CheckId::SvmVmrunDr6High,
    CheckId::SvmVmrunDr7High,
    CheckId::SvmVmrunIntercept,
    CheckId::SvmVmrunAsid,
    CheckId::SvmVmrunIopmBase,
    CheckId::SvmVmrunMsrpmBase,
    CheckId::SvmVmrunEventInj,
    CheckId::SvmVmrunNcr3,
    CheckId::SvmVmrunGpat,
];

/// The VMRUN consistency checks that read fields beyond [`SegmentState`]: CR3, CR4's
/// low MBZ bits, DR6, DR7, and the VMCB control area (the VMRUN intercept, the ASID,
/// the IOPM and MSRPM placement, event injection, nCR3 and G_PAT with nested paging),
/// each only when the state holds the field ("not judged" otherwise). APM Vol. 2
/// §15.5.1 (the list), §15.20 (EVENTINJ), §15.25.4 (nested paging).
///
/// None of them looks at the CPL byte or at whether CR0.PE is set under CR0.PG: VMRUN
/// enters paged real mode and runs at whatever CPL the VMCB holds.
#[must_use]
pub fn check_guest(g: &GuestState, level: CrLevel) -> GuestFindings {
    let mut r = Run::new(g);
    // A guest's own CR4 (a QEMU dump, kvm_sregs) with VMXE or SMXE never reaches the
    // VMCB: KVM_SET_SREGS refuses them first on a vCPU without VMX/SMX in its CPUID
    // (`kvm_is_valid_cr4`, rule kvm.set-sregs.cr4-reserved), so only a VMCB-level
    // CR4 is judged on them.
    let cr4_mbz = match level {
        CrLevel::Vmcs => CR4_MBZ_LOW,
        CrLevel::GuestView => CR4_MBZ_LOW & !(1 << 13 | 1 << 14),
    };
    r.reserved(
        CheckId::SvmVmrunCr3Mbz,
        GuestField::Cr3,
        g.cr3,
        CR3_MBZ,
        "CR3",
        "no bit above the physical-address width (52 assumed)",
    );
    r.reserved(
        CheckId::SvmVmrunCr4Mbz,
        GuestField::Cr4,
        g.cr4,
        cr4_mbz,
        "CR4",
        "MBZ bits 13, 14, 15, 19 and 31:24 clear",
    );
    r.reserved(
        CheckId::SvmVmrunDr6High,
        GuestField::Dr6,
        g.dr6,
        !0xffff_ffff,
        "DR6",
        "bits 63:32 clear",
    );
    r.reserved(
        CheckId::SvmVmrunDr7High,
        GuestField::Dr7,
        g.dr7,
        !0xffff_ffff,
        "DR7",
        "bits 63:32 clear",
    );
    control_area(&mut r);
    r.finish()
}

fn control_area(r: &mut Run<'_>) {
    let c = r.g.svm;
    let f = GuestField::SvmControls;
    if r.need(CheckId::SvmVmrunIntercept, f, c.vmrun_intercept) == Some(false) {
        r.f.fail(
            CheckId::SvmVmrunIntercept,
            None,
            "VMRUN intercept",
            "1",
            "0",
        );
    }
    if r.need(CheckId::SvmVmrunAsid, f, c.asid) == Some(0) {
        r.f.fail(CheckId::SvmVmrunAsid, None, "ASID", "not 0 (the host's)", 0);
    }
    for (id, name, base, size) in [
        (
            CheckId::SvmVmrunIopmBase,
            "IOPM_BASE_PA",
            c.iopm_base,
            IOPM_SIZE,
        ),
        (
            CheckId::SvmVmrunMsrpmBase,
            "MSRPM_BASE_PA",
            c.msrpm_base,
            MSRPM_SIZE,
        ),
    ] {
        if let Some(b) = r.need(id, f, base) {
            // The low 12 bits are ignored: the map starts at the page.
            let last = (b & !0xfff).checked_add(size - 1);
            if last.is_none_or(|l| l >> PHYS_WIDTH != 0) {
                r.f.fail(
                    id,
                    None,
                    name,
                    "a map that ends below the physical-address limit (2^52 assumed)",
                    format_args!("{b:#x}"),
                );
            }
        }
    }
    if let Some(inj) = r.need(CheckId::SvmVmrunEventInj, f, c.event_inj) {
        if let Some(why) = illegal_event(inj) {
            r.f.fail(
                CheckId::SvmVmrunEventInj,
                None,
                "EVENTINJ",
                "a legal event: type 0 (INTR), 2 (NMI, vector 2), 3 (exception vector \
                 0..=31 but 2) or 4 (software interrupt)",
                format_args!("{inj:#x}: {why}"),
            );
        }
    }
    let np = r.need(CheckId::SvmVmrunNcr3, f, c.nested_paging);
    r.need(CheckId::SvmVmrunGpat, f, c.nested_paging);
    if np == Some(true) {
        if let Some(ncr3) = r.need(CheckId::SvmVmrunNcr3, f, c.ncr3) {
            if ncr3 & CR3_MBZ != 0 {
                r.f.fail(
                    CheckId::SvmVmrunNcr3,
                    None,
                    "N_CR3",
                    "no bit above the physical-address width (52 assumed)",
                    format_args!("{ncr3:#x}"),
                );
            }
        }
        let expected = "every entry 0, 1, 4, 5, 6 or 7 (nested paging)";
        r.pat(CheckId::SvmVmrunGpat, "G_PAT", expected);
    }
}

/// Why an EVENTINJ value cannot be injected (APM Vol. 2 §15.20), if it cannot.
fn illegal_event(inj: u64) -> Option<&'static str> {
    if inj & 1 << 31 == 0 {
        return None;
    }
    let vector = inj & 0xff;
    match (inj >> 8) & 7 {
        0 | 4 => None,
        2 if vector != 2 => Some("an NMI with a vector other than 2"),
        2 => None,
        3 if vector == 2 => Some("vector 2 (NMI) as an exception"),
        3 if vector > 31 => Some("an exception vector above 31"),
        3 => None,
        _ => Some("a reserved event type"),
    }
}
