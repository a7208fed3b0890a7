//! A whole-state report: every rule family, grouped by segment.
//!
//! [`report`] judges one [`SegmentState`]:
//!
//! - **arch**: the architectural invariants ([`super::arch`]);
//! - **vmx** (Intel): the VM-entry checks ([`super::vmx_entry`]) with the controls KVM
//!   uses (unrestricted guest on); without unrestricted guest (nested hosts,
//!   `kvm_intel.unrestricted_guest=0`) is judged as a [`Configuration`] of its own,
//!   with the catalogue's severities, apart from the verdict, and the report says what
//!   KVM does instead of entering (emulation, virtual-8086 real mode). A guest's view
//!   ([`Source::GuestView`]: a QEMU dump, `kvm_sregs`) is judged after KVM's set path
//!   ([`super::preflight::kvm_set_path`]), since that is what reaches VM entry;
//! - **svm** (AMD): the VMRUN consistency checks ([`super::svm_vmrun`]).
//!
//! What the built-in chains would do to the state (the `path` family) is verify's
//! job: its `paths::diagnose` adds it to this report, and the QEMU dump
//! reader adds what only a dump can show.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::{CheckId, Family, Finding, Severity, arch, preflight, svm_vmrun, vmx_entry, vmx_guest};
use alloc::format;

use crate::arch::{CpuMode, PrivilegeLevel, SegReg, Vendor};
use crate::arch::{GuestField, GuestState, SegmentState};
use crate::profile::Rule;

/// Which vendors' hardware rules to judge a state by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vendors {
    /// Intel VMX: VM-entry checks and the chains that start from a VMCS.
    Intel,
    /// AMD SVM: VMRUN checks and the chains that start from a VMCB.
    Amd,
    /// Both.
    Both,
}

impl Vendors {
    /// Intel checks apply.
    #[must_use]
    pub const fn intel(self) -> bool {
        matches!(self, Vendors::Intel | Vendors::Both)
    }

    /// AMD checks apply.
    #[must_use]
    pub const fn amd(self) -> bool {
        matches!(self, Vendors::Amd | Vendors::Both)
    }
}

/// A single vendor by [`Vendor`]'s own name; both as `both`.
impl fmt::Display for Vendors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vendors::Intel => Vendor::Intel.fmt(f),
            Vendors::Amd => Vendor::Amd.fmt(f),
            Vendors::Both => f.write_str("both"),
        }
    }
}

impl From<Vendor> for Vendors {
    fn from(v: Vendor) -> Self {
        match v {
            Vendor::Intel => Vendors::Intel,
            Vendor::Amd => Vendors::Amd,
        }
    }
}

/// One finding of a report, with where it applies.
///
/// With feature `serde` it serialises as the finding's own fields plus `family` (its
/// name), `context`, `chain` and `rules` (the rule ids): see `check::report_json`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Entry {
    /// The family.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "super::report_json::by_name")
    )]
    pub family: Family,
    /// The finding.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub finding: Finding,
    /// Under which configuration it holds, e.g. `VM entry without unrestricted guest`.
    pub context: Option<String>,
    /// For path findings: the chain.
    pub chain: Option<String>,
    /// For path findings: the profile rule responsible (the first whose removal makes
    /// the finding go away, loss rules first), or, when no single rule does, the loss
    /// rules that must all go (the 2017 bug needed both halves fixed). Empty when none.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "super::report_json::rule_ids")
    )]
    pub rules: Vec<Rule>,
}

/// Where the state was read from; it decides how some bits are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Source {
    /// `kvm_sregs`, JSON, or a state built by hand: judged as given.
    #[default]
    Generic,
    /// An AMD VMCB: hardware does not track G for every segment, may leave TR
    /// "available" and code/data segments "not accessed" (KVM's get path restores all
    /// three), so the architectural and VMX rules judge the cache with those bits
    /// canonicalised. EFER is the VMCB's own, SVME included.
    Vmcb,
    /// A QEMU dump or `kvm_sregs`: EFER is the guest's view, and KVM sets EFER.SVME in
    /// the VMCB itself, so VMRUN is judged with SVME set.
    GuestView,
}

/// Options of a report beyond the state itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Context {
    /// Where the state was read from.
    pub source: Source,
    /// The VMCB's CPL byte as stored, when the state came from a VMCB: the state's
    /// CPL is its low two bits, and a value above 3 is a finding of its own.
    pub vmcb_cpl_byte: Option<u8>,
}

/// Every finding about one state.
///
/// With feature `serde` it serialises as `segstate check --json` prints each state's
/// report: see `check::report_json`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The vendor judged for.
    pub vendor: Vendors,
    /// The CPU mode the state is in.
    pub mode: CpuMode,
    /// The CPL the state claims.
    pub cpl: PrivilegeLevel,
    /// Every finding, in rule order.
    pub entries: Vec<Entry>,
    /// Remarks about how the state was judged.
    pub notes: Vec<String>,
    /// Configurations judged besides KVM's defaults (Intel VM entry without
    /// unrestricted guest), each with its own findings; not counted in the verdict.
    pub configurations: Vec<Configuration>,
}

impl Report {
    /// Findings of `severity`.
    #[must_use]
    pub fn count(&self, severity: Severity) -> usize {
        self.entries
            .iter()
            .filter(|e| e.finding.severity == severity)
            .count()
    }

    /// Errors.
    #[must_use]
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// True when a finding with `id` is present.
    #[must_use]
    pub fn has(&self, id: CheckId) -> bool {
        self.entries.iter().any(|e| e.finding.id == id)
    }

    /// The ids present, each once, in report order.
    #[must_use]
    pub fn ids(&self) -> Vec<CheckId> {
        let mut out: Vec<CheckId> = Vec::new();
        for e in &self.entries {
            if !out.contains(&e.finding.id) {
                out.push(e.finding.id);
            }
        }
        out
    }

    /// The findings grouped by segment: CPU-wide findings (`None`) first, then the
    /// registers in `ES, CS, SS, DS, FS, GS, LDTR, TR` order; within a group, the most
    /// severe first. Groups without findings are left out.
    #[must_use]
    pub fn by_segment(&self) -> Vec<(Option<SegReg>, Vec<&Entry>)> {
        let groups = core::iter::once(None).chain(SegReg::ALL.into_iter().map(Some));
        groups
            .filter_map(|reg| {
                let mut list: Vec<&Entry> = self
                    .entries
                    .iter()
                    .filter(|e| e.finding.reg == reg)
                    .collect();
                list.sort_by(|a, b| {
                    b.finding
                        .severity
                        .cmp(&a.finding.severity)
                        .then(a.family.cmp(&b.family))
                });
                (!list.is_empty()).then_some((reg, list))
            })
            .collect()
    }

    /// Appends a finding of `family`.
    pub(crate) fn push(&mut self, family: Family, finding: Finding, context: Option<String>) {
        self.entries.push(Entry {
            family,
            finding,
            context,
            chain: None,
            rules: Vec::new(),
        });
    }
}

/// Judges a state for `vendor` (see the module documentation).
#[must_use]
pub fn report(state: &SegmentState, vendor: Vendors) -> Report {
    report_with(state, vendor, Context::default())
}

/// Judges a state read from `context.source`.
#[must_use]
pub fn report_with(state: &SegmentState, vendor: Vendors, context: Context) -> Report {
    let judged = match context.source {
        Source::Vmcb => canonical_vmcb_cache(state),
        _ => *state,
    };
    let mut r = Report {
        vendor,
        mode: CpuMode::from_state(
            state.cr0,
            state.efer,
            state.rflags,
            state.segments[SegReg::Cs].attributes,
        ),
        cpl: state.cpl,
        entries: Vec::new(),
        notes: Vec::new(),
        configurations: Vec::new(),
    };
    if context.source == Source::Vmcb {
        r.notes.push(String::from(
            "VMCB: architectural and VM-entry rules judge the cache with G from the limit, \
             TR busy and usable code/data accessed, as KVM's svm_get_segment reports it",
        ));
    }
    for f in arch::check(&judged) {
        let context = (f.id == CheckId::ArchTrAvailable).then(|| {
            String::from(
                "an available TSS in TR: QEMU TCG's ltr and AMD VMCBs leave it so; KVM SVM \
                 reports it busy, Intel VM entry refuses it",
            )
        });
        r.push(Family::Arch, f, context);
    }
    if vendor.intel() {
        vmx(&mut r, &judged, context.source);
    }
    if vendor.amd() {
        let mut svm_state = judged;
        if context.source == Source::GuestView {
            if let Ok(s) = preflight::kvm_set_path(&judged, preflight::Target::AmdVmrun) {
                svm_state = s;
            }
            r.notes.push(String::from(
                "VMRUN judged on what KVM_SET_SREGS writes into the VMCB (svm_set_segment: P = \
                 present && !unusable; svm_set_efer sets EFER.SVME)",
            ));
        } else if context.source != Source::Vmcb {
            svm_state.efer |= crate::arch::EFER_SVME;
            r.notes.push(String::from(
                "VMRUN judged with EFER.SVME set: VMRUN requires it, and the hypervisor sets it \
                 in the VMCB itself (KVM's svm_set_efer; Xen, VirtualBox and bhyve alike)",
            ));
        }
        for f in svm_vmrun::check(&svm_state) {
            r.push(
                Family::Svm,
                f,
                Some(String::from("VMRUN consistency checks")),
            );
        }
        if let Some(f) = context.vmcb_cpl_byte.and_then(svm_vmrun::cpl_byte) {
            r.push(Family::Svm, f, Some(String::from("the VMCB CPL byte")));
        }
    }
    r
}

/// A VMCB cache with the bits AMD does not keep canonicalised as KVM reports them.
fn canonical_vmcb_cache(state: &SegmentState) -> SegmentState {
    let mut out = *state;
    out.segments = state
        .segments
        .map(|reg, s| arch::canonical_vmcb_cache(reg, *s));
    out
}

/// The note that opens every [`Configuration`] line of [`Report::notes`].
pub const CONFIGURATION_NOTE: &str = "without unrestricted guest";

/// What KVM does with a state VM entry without unrestricted guest would refuse
/// (Linux `arch/x86/kvm/vmx/vmx.c`: `vmx_guest_state_valid`, `emulation_required`,
/// `handle_invalid_guest_state`, `enter_rmode`).
pub const WITHOUT_UG_INSTEAD: &str = "KVM does not enter it: it emulates the guest \
     instruction by instruction until the state is valid (kvm_intel.emulate_invalid_guest_state=1, \
     the default; an instruction the emulator cannot do ends in KVM_EXIT_INTERNAL_ERROR \
     suberror 1), and with emulate_invalid_guest_state=0 it patches the segments and \
     enters; kvm_intel.unrestricted_guest=1 (the default since Westmere) enters the state as it is";

/// What KVM does with real mode without unrestricted guest.
pub const WITHOUT_UG_REAL_MODE: &str = "KVM runs real mode in virtual-8086 mode \
     (enter_rmode: RFLAGS.VM and IOPL 3 set, segments rewritten as vm86 ones), or emulates it \
     when the segments are not vm86-compatible (kvm_intel.emulate_invalid_guest_state=1); \
     kvm_intel.unrestricted_guest=1 (the default since Westmere) enters real mode as it is";

/// A configuration judged besides the report's own (KVM's defaults): its target,
/// its findings with the catalogue's severities, and what KVM does instead when the
/// configuration's hardware would refuse the state. A configuration's findings never
/// count in [`Report::errors`]: the report's verdict is for KVM's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configuration {
    /// The target judged, e.g. Intel VM entry with unrestricted guest off.
    pub target: preflight::Target,
    /// The findings this configuration adds to the report's (those the report holds
    /// already are not repeated).
    pub findings: Vec<Finding>,
    /// What KVM does instead of entering, and which parameter changes it.
    pub instead: &'static str,
}

impl Report {
    /// Rewrites the notes that describe [`Report::configurations`] (lines starting
    /// with [`CONFIGURATION_NOTE`]) from the configurations as they stand: call after
    /// filtering a configuration's findings.
    pub fn note_configurations(&mut self) {
        self.notes.retain(|n| !n.starts_with(CONFIGURATION_NOTE));
        for c in &self.configurations {
            let errors: Vec<String> = c
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| {
                    let reg = f.reg.map(|r| format!("{r}.")).unwrap_or_default();
                    format!(
                        "{} ({reg}{}: expected {}, found {})",
                        f.id, f.field, f.expected, f.found
                    )
                })
                .collect();
            if c.instead == WITHOUT_UG_REAL_MODE {
                self.notes.push(format!(
                    "{CONFIGURATION_NOTE} (kvm_intel.unrestricted_guest=0, nested VMX without \
                     it, pre-Westmere CPUs): {}",
                    c.instead
                ));
            } else if !errors.is_empty() {
                self.notes.push(format!(
                    "{CONFIGURATION_NOTE} (kvm_intel.unrestricted_guest=0, nested VMX without \
                     it, pre-Westmere CPUs) VM entry would refuse this: {}; {}",
                    errors.join(", "),
                    c.instead
                ));
            }
        }
    }
}

fn vmx(r: &mut Report, given: &SegmentState, source: Source) {
    let kvm = vmx_entry::VmxEntryControls::kvm_default(given.efer);
    let strict = vmx_entry::VmxEntryControls {
        unrestricted_guest: false,
        ..kvm
    };
    // A guest's view (a QEMU dump, kvm_sregs) reaches VM entry only through
    // KVM_SET_SREGS: judge what vmx_set_segment writes into the VMCS.
    let state = if source == Source::GuestView {
        match preflight::kvm_set_path(given, preflight::Target::IntelVmEntry(kvm)) {
            Ok(s) => {
                r.notes.push(String::from(
                    "VM entry judged on what KVM_SET_SREGS writes into the VMCS (vmx_set_segment: \
                     a not-present segment becomes unusable, and with unrestricted guest a usable \
                     one is marked accessed): a QEMU dump or a kvm_sregs is what a VMM hands to \
                     KVM_SET_SREGS",
                ));
                s
            }
            Err(e) => {
                r.notes.push(format!(
                    "VM entry judged on the state as given: KVM's set path cannot take it ({e})"
                ));
                *given
            }
        }
    } else {
        *given
    };
    let with_ug = vmx_entry::check(&state, kvm);
    let real_mode = state.cr0 & crate::arch::CR0_PE == 0;
    if real_mode && source == Source::GuestView {
        let emulated: Vec<String> = super::kvm_rmode::VM86_REGISTERS
            .iter()
            .filter_map(|&reg| super::kvm_rmode::vm86_incompatibility(reg, &given.segments[reg]))
            .collect();
        if !emulated.is_empty() {
            r.notes.push(format!(
                "in real mode without unrestricted guest, KVM's virtual-8086 path takes only \
                 vm86 segments (rmode_segment_valid: base = selector << 4, limit 0xffff, S, \
                 P and type 3, no G, D/B, L or AVL): {} {} not, so KVM emulates this state \
                 instruction by instruction (big real mode), and an instruction its emulator \
                 lacks ends in KVM_EXIT_INTERNAL_ERROR suberror 1",
                emulated.join(", "),
                if emulated.len() == 1 { "is" } else { "are" }
            ));
        }
    }
    let without_ug = if real_mode {
        Vec::new()
    } else {
        let mut all = vmx_entry::check(&state, strict);
        if source == Source::GuestView {
            // A guest's own CR0 never reaches VM entry as it is without unrestricted
            // guest: KVM runs it with PE and PG forced on in the VMCS
            // (KVM_VM_CR0_ALWAYS_ON) and shadows the rest.
            all.retain(|f| f.id != CheckId::VmxEntryCr0Fixed);
        }
        all
    };
    for f in &with_ug {
        let both = without_ug.iter().any(|g| g.id == f.id && g.reg == f.reg);
        let context = if both {
            "VM entry (any configuration)"
        } else {
            "VM entry with unrestricted guest"
        };
        r.push(Family::Vmx, f.clone(), Some(String::from(context)));
    }
    let findings: Vec<Finding> = without_ug
        .into_iter()
        .filter(|f| !with_ug.iter().any(|g| g.id == f.id && g.reg == f.reg))
        .collect();
    r.configurations.push(Configuration {
        target: preflight::Target::IntelVmEntry(strict),
        findings,
        instead: if real_mode {
            WITHOUT_UG_REAL_MODE
        } else {
            WITHOUT_UG_INSTEAD
        },
    });
    r.note_configurations();
}

/// Runs the guest-state rules beyond the segments ([`vmx_guest`], and
/// [`svm_vmrun::check_guest`]) on a partial state for `vendor`, adds what fires to
/// `r` with the controls it was judged under, and returns the rules the state lacks a
/// field for. VMX controls the state does not show are KVM's defaults, and a note
/// names each one assumed. `level` says whether CR0/CR4 are the VMCS's own or the
/// guest's view; `holder` names what the state was read from in the notes ("dump",
/// "stream").
pub fn guest_state(
    r: &mut Report,
    g: &GuestState,
    vendor: Vendors,
    level: vmx_guest::CrLevel,
    holder: &str,
) -> Vec<(CheckId, GuestField)> {
    let mut not_judged = Vec::new();
    if vendor.intel() {
        let (controls, assumed) =
            vmx_guest::GuestControls::resolve(&g.controls, g.efer.unwrap_or(0));
        let mut out = vmx_guest::check(g, controls, level);
        if g.controls.entry.is_none() && g.efer.is_none() {
            // IA-32e mode guest is unknown: the rules that read it are not judged.
            let depends = [
                CheckId::VmxEntryRipHigh,
                CheckId::VmxEntryRipCanonical,
                CheckId::VmxEntryPdpteReserved,
            ];
            out.findings.retain(|f| !depends.contains(&f.id));
            for id in depends {
                if !out.not_judged.iter().any(|(i, _)| *i == id) {
                    out.not_judged.push((id, GuestField::Efer));
                }
            }
        }
        let context = if assumed.is_empty() {
            format!("VM entry, with the controls the {holder} shows")
        } else {
            format!(
                "VM entry; controls not in the {holder} taken as KVM sets them ({})",
                assumed.join(", ")
            )
        };
        if !assumed.is_empty() {
            r.notes.push(format!(
                "VMX controls the {holder} does not show are taken as KVM's defaults (another \
                 hypervisor's may differ): {}",
                assumed.join(", ")
            ));
        }
        for f in out.findings {
            r.push(Family::Vmx, f, Some(context.clone()));
        }
        not_judged.extend(out.not_judged);
    }
    if vendor.amd() {
        let out = svm_vmrun::check_guest(g, level);
        for f in out.findings {
            r.push(
                Family::Svm,
                f,
                Some(String::from("VMRUN consistency checks")),
            );
        }
        not_judged.extend(out.not_judged);
    }
    not_judged
}

/// The note on the rules [`guest_state`] could not judge: how many, and the fields the
/// `holder` ("dump", "stream") lacks, each once, in the order the rules needed them,
/// then `hint`. `None` when every rule was judged.
#[must_use]
pub fn rules_not_judged_note(
    not_judged: &[(CheckId, GuestField)],
    holder: &str,
    hint: &str,
) -> Option<String> {
    if not_judged.is_empty() {
        return None;
    }
    let mut fields: Vec<String> = Vec::new();
    for (_, f) in not_judged {
        let name = format!("{f}");
        if !fields.contains(&name) {
            fields.push(name);
        }
    }
    Some(format!(
        "{} guest-state rules beyond the segments are not judged: the {holder} lacks {}{hint}",
        not_judged.len(),
        fields.join(", "),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn vendors_are_written_by_their_names() {
        let names = [Vendors::Intel, Vendors::Amd, Vendors::Both].map(|v| v.to_string());
        assert_eq!(names, ["intel", "amd", "both"]);
    }
}
