//! segstate's side of the comparison: the one place this tool calls the rule
//! catalogue (`segstate::check`). When the catalogue moves, re-point this file.

use segstate::arch::SegReg;
use segstate::check::{
    CheckId, Family, Severity, arch, kvm_set_sregs, svm_vmrun, vmx_entry, vmx_guest,
};

use crate::case::{Case, Target};

/// One error finding: rule id and the register it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fired {
    /// Rule id.
    pub id: &'static str,
    /// Register, if the rule names one.
    pub reg: Option<SegReg>,
}

/// segstate's verdict on a case for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// No error finding: entry accepts the state.
    pub accepted: bool,
    /// The error findings of the target's rule family.
    pub fired: Vec<Fired>,
}

/// Runs the target's rule family (VM entry, VMRUN or KVM_SET_SREGS) on a case.
#[must_use]
pub fn verdict(target: Target, case: &Case) -> Verdict {
    let findings = match target {
        Target::Vmx => vmx_entry::check(&case.state, case.controls),
        Target::Svm => svm_vmrun::check(&case.state),
        Target::KvmSetSregs(cr4) => kvm_set_sregs::check(&case.state, cr4),
    };
    let fired: Vec<Fired> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| Fired {
            id: f.id.id(),
            reg: f.reg,
        })
        .collect();
    Verdict {
        accepted: fired.is_empty(),
        fired,
    }
}

/// The target's own rule family: VM entry, VMRUN or KVM_SET_SREGS.
#[must_use]
pub fn family(target: Target) -> Vec<&'static str> {
    let family = match target {
        Target::Vmx => Family::Vmx,
        Target::Svm => Family::Svm,
        Target::KvmSetSregs(_) => Family::KvmSetSregs,
    };
    CheckId::of(family)
        // Only errors decide a verdict: warnings (the raw VMCB CPL byte, which VMRUN
        // never checks; the CVE-2017-2583 erratum, which Bochs does not model as it
        // follows the SDM) cannot be reached.
        .filter(|c| c.severity() == Severity::Error)
        // Rules on fields beyond the segments (CR3, interruptibility, the VMCB control
        // area, ...): a case is a segment state and sets none of them.
        .filter(|c| !vmx_guest::RULES.contains(c) && !svm_vmrun::GUEST_RULES.contains(c))
        .map(CheckId::id)
        .collect()
}

/// The catalogue a target's run can reach: its family and the architectural
/// invariants.
#[must_use]
pub fn catalogue(target: Target) -> Vec<&'static str> {
    let mut all = family(target);
    all.extend(CheckId::of(Family::Arch).map(CheckId::id));
    all
}

/// The one family rule that fires on a case, when exactly one does (on one or more
/// registers): the case is that rule's failing vector.
#[must_use]
pub fn sole_rule(target: Target, case: &Case) -> Option<&'static str> {
    let v = verdict(target, case);
    let first = v.fired.first()?.id;
    v.fired.iter().all(|f| f.id == first).then_some(first)
}

/// Every catalogue rule (error or not) that fires on a case: the target family's
/// errors and the architectural findings.
#[must_use]
pub fn catalogue_fired(target: Target, case: &Case) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = verdict(target, case).fired.iter().map(|f| f.id).collect();
    ids.extend(arch::check(&case.state).iter().map(|f| f.id.id()));
    ids.sort_unstable();
    ids.dedup();
    ids
}
