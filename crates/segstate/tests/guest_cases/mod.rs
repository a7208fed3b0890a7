//! The guest-state rules beyond the segments (`check::vmx_guest`,
//! `svm_vmrun::check_guest`): for each, a whole guest state that fires it and a closely
//! related one that does not. `check_rules.rs` runs them with the other cases, so the
//! catalogue-coverage test covers them too.

use segstate::arch::{
    Attributes, CR0_PG, DescriptorTable, EFER_LMA, EFER_LME, GuestState, PrivilegeLevel, SegReg,
    SegmentState, SvmControls, VmxControls,
};
use std::collections::BTreeSet;

use segstate::check::vmx_guest::CrLevel;
use segstate::check::vmx_guest::{self, GuestControls};
use segstate::check::{CheckId, Finding, svm_vmrun};
use segstate::verify::baseline;

/// Which rules judge a guest case.
#[derive(Clone, Copy, Debug)]
pub enum GuestHow {
    /// Intel VM entry, at this CR level, controls from the state.
    Vmx(CrLevel),
    /// AMD VMRUN, at this CR level.
    Svm(CrLevel),
}

/// One guest-state case: the rule, how it is judged, a firing and a quiet state.
pub struct GuestCase {
    pub id: CheckId,
    pub how: GuestHow,
    pub fire: GuestState,
    pub quiet: GuestState,
}

/// A 64-bit kernel state with every field a VMCS dump shows, all valid under KVM's
/// controls, given explicitly.
pub fn vmx_base() -> GuestState {
    let mut s: SegmentState = baseline(PrivilegeLevel::Ring0);
    s.efer = EFER_LME | EFER_LMA | 1 | 1 << 11;
    s.rflags = 0x202;
    let mut g = GuestState::from(&s);
    g.cr0 = Some(s.cr0 | 1 << 5);
    g.cr4 = Some(s.cr4 | 1 << 13);
    g.cr3 = Some(0x1000);
    g.rip = Some(0xffff_ffff_8100_0000);
    g.dr6 = Some(0xffff_0ff0);
    g.dr7 = Some(0x400);
    g.debugctl = Some(0);
    g.pat = Some(0x0007_0406_0007_0406);
    g.sysenter_esp = Some(0xffff_fe00_0000_6000);
    g.sysenter_eip = Some(0xffff_ffff_81a0_1630);
    g.gdtr = Some(DescriptorTable {
        base: 0xffff_8880_1f40_c000,
        limit: 0x7f,
    });
    g.idtr = Some(DescriptorTable {
        base: 0xffff_ffff_ff57_b000,
        limit: 0xfff,
    });
    g.pdptes = Some([0; 4]);
    g.interruptibility = Some(0);
    g.activity_state = Some(0);
    g.pending_debug_exceptions = Some(0);
    g.entry_interruption_info = Some(0);
    g.controls = VmxControls {
        pin_based: Some(1 << 5),
        cpu_based: Some(VmxControls::CPU_BASED_SECONDARY),
        secondary: Some(VmxControls::SECONDARY_UNRESTRICTED_GUEST | 1 << 1),
        entry: Some(VmxControls::ENTRY_IA32E_MODE_GUEST | 1 << 2 | 1 << 14 | 1 << 15),
        exit: Some(0),
    };
    g
}

/// 32-bit PAE paging (not IA-32e mode) with EPT: the PDPTEs come from the VMCS.
fn vmx_pae() -> GuestState {
    let mut g = vmx_base();
    g.efer = Some(0);
    g.cr4 = Some(1 << 5 | 1 << 13);
    g.rip = Some(0xc100_0000);
    if let Some(cs) = &mut g.segments[SegReg::Cs] {
        cs.attributes = Attributes::code32(PrivilegeLevel::Ring0);
    }
    for reg in [SegReg::Fs, SegReg::Gs] {
        if let Some(s) = &mut g.segments[reg] {
            s.base = 0;
        }
    }
    g.controls.entry = Some(1 << 2 | 1 << 14 | 1 << 15);
    g.pdptes = Some([0x1001, 0x2001, 0, 0]);
    g
}

/// A VMCB as KVM sets it up: the VMRUN intercept, ASID 1, maps in low memory,
/// nested paging with a valid nCR3 and G_PAT.
pub fn svm_base() -> GuestState {
    let mut g = vmx_base();
    g.controls = VmxControls::default();
    g.cr4 = Some(1 << 5);
    g.svm = SvmControls {
        vmrun_intercept: Some(true),
        asid: Some(1),
        iopm_base: Some(0x1_0000),
        msrpm_base: Some(0x2_0000),
        nested_paging: Some(true),
        ncr3: Some(0x3000),
        event_inj: Some(0),
    };
    g
}

fn with(mut g: GuestState, f: impl FnOnce(&mut GuestState)) -> GuestState {
    f(&mut g);
    g
}

/// The cases as rows `Id, how, firing state, quiet state;` (ids are [`CheckId`]'s).
macro_rules! guest_cases {
    ($($id:ident, $how:expr, $fire:expr, $quiet:expr;)*) => {
        vec![$(GuestCase { id: CheckId::$id, how: $how, fire: $fire, quiet: $quiet }),*]
    };
}

#[allow(clippy::too_many_lines)]
pub fn cases() -> Vec<GuestCase> {
    let vmx = GuestHow::Vmx(CrLevel::Vmcs);
    let vmx_view = GuestHow::Vmx(CrLevel::GuestView);
    let svm = GuestHow::Svm(CrLevel::Vmcs);
    let b = vmx_base;
    let ss_dpl3 = |g: &mut GuestState| {
        if let Some(ss) = &mut g.segments[SegReg::Ss] {
            ss.attributes.dpl = PrivilegeLevel::Ring3;
        }
    };
    guest_cases! {
        VmxEntryCr0High, vmx_view, with(b(), |g| g.cr0 = g.cr0.map(|c| c | 1 << 32)), b();
        VmxEntryCr0Ne, vmx, with(b(), |g| g.cr0 = g.cr0.map(|c| c & !(1 << 5))), b();
        VmxEntryCr4Reserved, vmx_view,
            with(b(), |g| g.cr4 = g.cr4.map(|c| c | 1 << 15)),
            with(b(), |g| g.cr4 = g.cr4.map(|c| c | 1 << 32));
        VmxEntryCr4Vmxe, vmx, with(b(), |g| g.cr4 = Some(1 << 5)), b();
        VmxEntryCr3Width, vmx,
            with(b(), |g| g.cr3 = Some(0x8000_0000_1a02_f080)),
            with(b(), |g| g.cr3 = Some(0x1a02_f080));
        VmxEntryDebugctlReserved, vmx,
            with(b(), |g| g.debugctl = Some(1 << 16)),
            with(b(), |g| g.debugctl = Some(3));
        VmxEntryDr7High, vmx,
            with(b(), |g| g.dr7 = Some(1 << 32 | 0x400)),
            with(b(), |g| {
                g.dr7 = Some(1 << 32 | 0x400);
                g.controls.entry = g.controls.entry.map(|e| e & !(1 << 2));
            });
        VmxEntryPat, vmx,
            with(b(), |g| g.pat = Some(0x0007_0406_0007_0402)),
            with(b(), |g| g.pat = Some(0x0007_0406_0007_0401));
        VmxEntrySysenterCanonical, vmx,
            with(b(), |g| g.sysenter_eip = Some(0x0000_8000_0000_0000)),
            with(b(), |g| g.sysenter_eip = Some(0xffff_8000_0000_0000));
        VmxEntryBndcfgs, vmx,
            with(b(), |g| {
                g.controls.entry = g.controls.entry.map(|e| e | 1 << 16);
                g.bndcfgs = Some(0xffff_c900_0000_1004);
            }),
            with(b(), |g| {
                g.controls.entry = g.controls.entry.map(|e| e | 1 << 16);
                g.bndcfgs = Some(0xffff_c900_0000_1003);
            });
        VmxEntryEferReserved, vmx,
            with(b(), |g| g.efer = g.efer.map(|e| e | 1 << 12)),
            with(b(), |g| {
                g.efer = g.efer.map(|e| e | 1 << 12);
                g.controls.entry = g.controls.entry.map(|e| e & !(1 << 15));
            });
        VmxEntryDtrBase, vmx,
            with(b(), |g| {
                g.idtr = Some(DescriptorTable {
                    base: 0x0000_8000_0000_0000,
                    limit: 0xfff,
                })
            }),
            b();
        VmxEntryDtrLimit, vmx,
            with(b(), |g| {
                g.gdtr = Some(DescriptorTable {
                    base: 0,
                    limit: 0x1_0000,
                })
            }),
            with(b(), |g| {
                g.gdtr = Some(DescriptorTable {
                    base: 0,
                    limit: 0xffff,
                })
            });
        VmxEntryRipHigh, vmx, vmx_pae().pipe(|g| g.rip = Some(0x1_0000_0000)), vmx_pae();
        VmxEntryRipCanonical, vmx, with(b(), |g| g.rip = Some(0x0000_8000_0000_0000)), b();
        VmxEntryRflagsIf, vmx, b().injecting(0, 0x30).rflags(2), b().injecting(0, 0x30);
        VmxEntryActivityRange, vmx, b().activity(4), b().activity(3);
        VmxEntryActivityHltDpl, vmx, b().activity(1).pipe(ss_dpl3), b().activity(1);
        VmxEntryActivityBlocking, vmx, b().activity(1).interruptibility(1), b().interruptibility(1);
        VmxEntryActivityEvent, vmx,
            b().activity(2).injecting(3, 14),
            b().activity(2).injecting(3, 18);
        VmxEntryIntrReserved, vmx, b().interruptibility(1 << 5), b().interruptibility(1 << 4);
        VmxEntryIntrStiMovSs, vmx, b().interruptibility(3), b().interruptibility(2);
        VmxEntryIntrStiIf, vmx, b().interruptibility(1).rflags(2), b().interruptibility(1);
        VmxEntryIntrExternal, vmx,
            b().interruptibility(2).injecting(0, 0x30),
            b().interruptibility(8).injecting(0, 0x30);
        VmxEntryIntrNmiMovSs, vmx,
            b().interruptibility(2).injecting(2, 2),
            b().interruptibility(2).injecting(3, 6);
        VmxEntryIntrSmi, vmx,
            b().interruptibility(4),
            b().interruptibility(4).pipe(|g| {
                g.controls.entry = g.controls.entry.map(|e| e | 1 << 10);
            });
        VmxEntryIntrVirtualNmi, vmx,
            b().interruptibility(8).injecting(2, 2),
            b().interruptibility(8).injecting(2, 2).pipe(|g| g.controls.pin_based = Some(0));
        VmxEntryPendingDebugReserved, vmx, b().pending_debug(1 << 13), b().pending_debug(1 << 12);
        VmxEntryPendingDebugBs, vmx,
            b().interruptibility(2).rflags(0x302),
            b().interruptibility(2).rflags(0x302).pending_debug(1 << 14);
        VmxControlEntryErrorCode, vmx,
            b().injecting(3, 13),
            b().injecting(3, 13).pipe(|g| g.entry_interruption_info = g.entry_interruption_info.map(|i| i | 1 << 11));
        VmxEntryPdpteReserved, vmx,
            vmx_pae().pipe(|g| g.pdptes = Some([0x1001, 0x2003, 0, 0])),
            vmx_pae().pipe(|g| g.pdptes = Some([0x1001, 0x2002, 0, 0]));
        SvmVmrunCr3Mbz, svm, with(svm_base(), |g| g.cr3 = Some(1 << 63 | 0x1000)), svm_base();
        SvmVmrunCr4Mbz, svm,
            with(svm_base(), |g| g.cr4 = Some(1 << 5 | 1 << 13)),
            with(svm_base(), |g| g.cr4 = Some(1 << 5 | 1 << 12));
        SvmVmrunDr6High, svm, with(svm_base(), |g| g.dr6 = Some(1 << 40)), svm_base();
        SvmVmrunDr7High, svm, with(svm_base(), |g| g.dr7 = Some(1 << 40 | 0x400)), svm_base();
        SvmVmrunIntercept, svm,
            with(svm_base(), |g| g.svm.vmrun_intercept = Some(false)),
            svm_base();
        SvmVmrunAsid, svm, with(svm_base(), |g| g.svm.asid = Some(0)), svm_base();
        SvmVmrunIopmBase, svm,
            with(svm_base(), |g| g.svm.iopm_base = Some((1 << 52) - 0x2000)),
            with(svm_base(), |g| g.svm.iopm_base = Some((1 << 52) - 0x3000));
        SvmVmrunMsrpmBase, svm,
            with(svm_base(), |g| g.svm.msrpm_base = Some(u64::MAX)),
            with(svm_base(), |g| g.svm.msrpm_base = Some((1 << 52) - 0x2000));
        SvmVmrunEventInj, svm,
            with(svm_base(), |g| g.svm.event_inj = Some(1 << 31 | 2 << 8 | 3)),
            with(svm_base(), |g| g.svm.event_inj = Some(1 << 31 | 2 << 8 | 2));
        SvmVmrunNcr3, svm,
            with(svm_base(), |g| g.svm.ncr3 = Some(1 << 60)),
            with(svm_base(), |g| {
                g.svm.ncr3 = Some(1 << 60);
                g.svm.nested_paging = Some(false);
            });
        SvmVmrunGpat, svm,
            with(svm_base(), |g| g.pat = Some(0x0007_0406_0007_0403)),
            with(svm_base(), |g| {
                g.pat = Some(0x0007_0406_0007_0403);
                g.svm.nested_paging = Some(false);
            });
    }
}

/// `with` as a method, for chains on a built state.
trait Pipe: Sized {
    fn pipe(self, f: impl FnOnce(&mut Self)) -> Self;
}

impl Pipe for GuestState {
    fn pipe(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

/// The event-related fields of a guest state, set one by one, so that a case reads as
/// the state it describes.
trait Events: Sized {
    /// The activity state (0 active, 1 HLT, 2 shutdown, 3 wait-for-SIPI).
    fn activity(self, state: u32) -> Self;
    /// The interruptibility-state bits (STI, MOV SS, SMI, NMI blocking).
    fn interruptibility(self, bits: u32) -> Self;
    /// VM-entry interruption information: valid, `kind`, `vector`.
    fn injecting(self, kind: u32, vector: u32) -> Self;
    /// RFLAGS.
    fn rflags(self, rflags: u64) -> Self;
    /// The pending debug exceptions.
    fn pending_debug(self, bits: u64) -> Self;
}

impl Events for GuestState {
    fn activity(self, state: u32) -> Self {
        self.pipe(|g| g.activity_state = Some(state))
    }
    fn interruptibility(self, bits: u32) -> Self {
        self.pipe(|g| g.interruptibility = Some(bits))
    }
    fn injecting(self, kind: u32, vector: u32) -> Self {
        self.pipe(|g| g.entry_interruption_info = Some(1 << 31 | kind << 8 | vector))
    }
    fn rflags(self, rflags: u64) -> Self {
        self.pipe(|g| g.rflags = Some(rflags))
    }
    fn pending_debug(self, bits: u64) -> Self {
        self.pipe(|g| g.pending_debug_exceptions = Some(bits))
    }
}

/// Guest-state rules that must not fire on a state that runs: each base, and a CPU
/// that sits in real mode with paging on, which VMRUN enters.
pub fn quiet_states() -> Vec<(GuestHow, GuestState)> {
    let paged_real = with(svm_base(), |g| {
        g.cr0 = Some(CR0_PG | 1 << 4);
        g.efer = Some(1 << 12);
    });
    vec![
        (GuestHow::Vmx(CrLevel::Vmcs), vmx_base()),
        (GuestHow::Vmx(CrLevel::Vmcs), vmx_pae()),
        (GuestHow::Svm(CrLevel::Vmcs), svm_base()),
        (GuestHow::Svm(CrLevel::Vmcs), paged_real),
    ]
}

/// The guest-state rules beyond the segments on `g`, controls from `g`.
pub fn guest_findings(how: GuestHow, g: &segstate::arch::GuestState) -> Vec<Finding> {
    match how {
        GuestHow::Vmx(level) => {
            let (controls, assumed) = GuestControls::resolve(&g.controls, g.efer.unwrap());
            assert!(
                assumed.is_empty(),
                "a case shows every control: {assumed:?}"
            );
            vmx_guest::check(g, controls, level).findings
        }
        GuestHow::Svm(level) => svm_vmrun::check_guest(g, level).findings,
    }
}

/// The base guest states, a paged real-mode VMCB among them, fire no guest-state rule,
/// and a state that lacks every field fires none and leaves every rule not judged.
#[test]
fn guest_state_bases_are_quiet_and_missing_fields_are_not_judged() {
    for (how, g) in quiet_states() {
        let f = guest_findings(how, &g);
        assert!(f.is_empty(), "{how:?}: {f:#?}");
    }
    let empty = segstate::arch::GuestState::default();
    let controls = segstate::check::vmx_guest::GuestControls::kvm_default(0);
    let vmx = segstate::check::vmx_guest::check(
        &empty,
        controls,
        segstate::check::vmx_guest::CrLevel::Vmcs,
    );
    assert!(vmx.findings.is_empty(), "{:#?}", vmx.findings);
    let svm = svm_vmrun::check_guest(&empty, segstate::check::vmx_guest::CrLevel::Vmcs);
    assert!(svm.findings.is_empty(), "{:#?}", svm.findings);
    let unjudged: BTreeSet<CheckId> = vmx
        .not_judged
        .iter()
        .chain(&svm.not_judged)
        .map(|(id, _)| *id)
        .collect();
    for case in cases() {
        assert!(unjudged.contains(&case.id), "{} judged on nothing", case.id);
        assert!(
            segstate::check::vmx_guest::RULES.contains(&case.id)
                || svm_vmrun::GUEST_RULES.contains(&case.id),
            "{} is not listed as a guest-state rule",
            case.id
        );
    }
    assert_eq!(
        segstate::check::vmx_guest::RULES.len() + svm_vmrun::GUEST_RULES.len(),
        cases().len()
    );
}
