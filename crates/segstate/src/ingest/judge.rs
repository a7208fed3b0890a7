//! Judging a state read from a log: the one place where the readers call the rule
//! catalogue ([`crate::verify::paths::diagnose`], [`crate::check::report`]), so the
//! library's restructuring has one call to re-point.
//!
//! A dump is judged on what it has. Fields it lacks are filled twice, differently
//! (`Variant`); a finding that is not the same under both fillings, or that is about
//! a register the dump does not show, depends on a missing field and is reported
//! "not judged", never as a result. The verdict comes first: which check fails, or
//! that every check the dump can show passes and the failure lies outside it (with
//! what to turn on to see more), or that the exit is not about the guest state at all.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::exit::names::VM_INSTRUCTION_INVALID_CONTROLS;
use super::exit::{Exit, ExitClass, TripleFaultReport};
use super::log::{Dialect, LogDump, Target};
use super::{Input, qemu_dump};
use crate::arch::{
    Attributes, CR0_ET, CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME, EFER_SVME, GuestField,
    GuestState, PerSegReg, PrivilegeLevel, RFLAGS_VM, SegReg, Segment, SegmentState, SegmentType,
    Selector, Vendor,
};
use crate::check::kvm_set_sregs::{self, Cr4Allowed};
use crate::check::report::{Context, Entry, Report, Source, Vendors};
use crate::check::vmx_guest::{self, CrLevel};
use crate::check::{CheckId, Family};
use crate::check::{Finding, Severity};

mod exit_notes;
use exit_notes::exit_notes;
mod state_notes;

/// The verdict on one dump, in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A rule of the judged target fails.
    Fails {
        /// The family of the first failing rule.
        family: Family,
        /// The failing finding.
        finding: Finding,
    },
    /// The exit is about something the register state does not decide (control
    /// fields, the VMCS pointer, MSR loading, an emulation failure).
    NotGuestState(ExitClass),
    /// Every check the dump can show passes; the exit says VM entry failed anyway.
    Outside {
        /// The exit's class.
        class: ExitClass,
        /// What to turn on to see more.
        hint: Option<&'static str>,
    },
    /// Nothing fails and the log reports no failure.
    Passes,
    /// The log has no register state (only exit lines, or a fragment).
    NoState(Option<ExitClass>),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Fails { family, finding } => {
                let what = match family {
                    Family::Vmx => "VM entry fails",
                    Family::Svm => "VMRUN fails",
                    Family::KvmSetSregs => "KVM_SET_SREGS refuses this",
                    Family::Arch => "the state breaks the architecture",
                    Family::Path => "a hypervisor path changes it",
                    Family::Qemu => "QEMU's dump disagrees with itself",
                };
                let reg = finding.reg.map(|r| format!("{r}.")).unwrap_or_default();
                write!(
                    f,
                    "{what}: {} — {reg}{} expected {}, found {} ({})",
                    finding.id, finding.field, finding.expected, finding.found, finding.reference
                )
            }
            Verdict::NotGuestState(c @ ExitClass::InvalidGuestStateQualified(_)) => {
                write!(f, "not a segment or register failure: {}", c.describe())
            }
            Verdict::NotGuestState(c) => write!(f, "not a guest-state failure: {}", c.describe()),
            Verdict::Outside { class, hint } => {
                write!(
                    f,
                    "every check this dump can show passes; the failure is outside it: {}",
                    class.describe()
                )?;
                if let Some(h) = hint {
                    write!(f, "; {h}")?;
                }
                Ok(())
            }
            Verdict::Passes => f.write_str("no check fails"),
            Verdict::NoState(Some(c)) => {
                write!(
                    f,
                    "no segment or control register to judge; the exit says: {}",
                    c.describe()
                )
            }
            Verdict::NoState(None) => f.write_str("no segment or control register to judge"),
        }
    }
}

/// The judgement of one [`LogDump`].
#[derive(Clone, Debug)]
pub struct Judgement {
    /// The findings that could be judged.
    pub report: Report,
    /// The verdict.
    pub verdict: Verdict,
    /// The vendors judged for; `None` for TCG (architecture only).
    pub vendors: Option<Vendors>,
    /// Why: `--vendor`, or what the log showed.
    pub target_reason: String,
    /// Findings that depend on fields the dump lacks, as `id (SEG)`.
    pub not_judged: Vec<String>,
    /// Guest-state rules beyond the segments that could not be judged, each with the
    /// first field it needs that the dump lacks (see [`crate::check::vmx_guest`]).
    pub rules_not_judged: Vec<(CheckId, GuestField)>,
}

/// How missing fields are filled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Fillers consistent with what the dump shows.
    Consistent,
    /// Fillers that differ from the first in every field that could matter.
    Contrary,
}

fn data(sel: u16, dpl: PrivilegeLevel) -> Segment {
    Segment {
        selector: Selector(sel | u16::from(dpl.bits())),
        base: 0,
        limit: 0xffff_ffff,
        attributes: Attributes::flat_data(dpl),
        unusable: false,
    }
}

fn null() -> Segment {
    Segment {
        unusable: true,
        ..Segment::default()
    }
}

/// The dump's state with the missing fields filled as `v` says.
fn filled(g: &GuestState, v: Variant) -> SegmentState {
    let cs_l = g.segments[SegReg::Cs].is_some_and(|s| s.attributes.l);
    // Without a CPL or SS, the first filling takes CS's DPL and the second the other
    // end of the ring scale, so a rule comparing CS with the missing SS is not judged.
    let cs_dpl = g.segments[SegReg::Cs].map(|s| s.attributes.dpl);
    let cpl = g
        .cpl
        .or(g.segments[SegReg::Ss].map(|s| s.attributes.dpl))
        .unwrap_or(match (v, cs_dpl) {
            (Variant::Consistent, Some(dpl)) => dpl,
            (Variant::Contrary, Some(PrivilegeLevel::Ring0)) => PrivilegeLevel::Ring3,
            _ => PrivilegeLevel::Ring0,
        });
    let long = cs_l == (v == Variant::Consistent);
    // The second filling sets EFER.SVME, so VMRUN's own check of it is not judged on a
    // VMCB dump without EFER (a bhyvectl paste cut before its `efer[N]` line).
    let svme = if v == Variant::Contrary { EFER_SVME } else { 0 };
    let efer = g
        .efer
        .unwrap_or(svme | if long { EFER_LME | EFER_LMA } else { 0 });
    let cr0 = g.cr0.unwrap_or(match v {
        Variant::Consistent if efer & EFER_LMA != 0 => CR0_PE | CR0_PG | CR0_ET,
        Variant::Consistent => CR0_PE | CR0_ET,
        Variant::Contrary => CR0_ET,
    });
    let cr4 = g
        .cr4
        .unwrap_or(if efer & EFER_LMA != 0 { CR4_PAE } else { 0 });
    let rflags = g.rflags.unwrap_or(match v {
        Variant::Consistent => 0x2,
        Variant::Contrary => 0x2 | RFLAGS_VM,
    });
    let segments = PerSegReg::from_fn(|reg| {
        g.segments[reg].unwrap_or(match (v, reg) {
            (Variant::Consistent, SegReg::Cs) => Segment {
                selector: Selector(0x08 | u16::from(cpl.bits())),
                attributes: if efer & EFER_LMA != 0 {
                    Attributes::code64(cpl)
                } else {
                    Attributes::code32(cpl)
                },
                ..data(0, cpl)
            },
            (Variant::Consistent, SegReg::Tr) => Segment {
                selector: Selector(0x40),
                base: 0,
                limit: 0x67,
                attributes: Attributes::busy_tss(),
                unusable: false,
            },
            (Variant::Consistent, SegReg::Ldtr) | (Variant::Contrary, _) => null(),
            (Variant::Consistent, _) => data(0x10, cpl),
        })
    });
    let segments = if v == Variant::Contrary {
        // An available TSS where the dump shows no TR (the first filling has a busy one).
        let mut s = segments;
        if g.segments[SegReg::Tr].is_none() {
            s[SegReg::Tr] = Segment {
                selector: Selector(0x28),
                limit: 0x2067,
                attributes: Attributes {
                    segment_type: SegmentType::from_low_bits(9),
                    ..Attributes::busy_tss()
                },
                ..Segment::default()
            };
        }
        s
    } else {
        segments
    };
    SegmentState {
        segments,
        cpl,
        cr0,
        cr4,
        efer,
        rflags,
    }
}

/// The whole state a partial one stands for when a caller needs one: the missing
/// fields filled consistently with what the dump shows. Only for callers that cannot
/// take a [`GuestState`]; [`judge`] never reports a finding that depends on the fill.
#[must_use]
pub fn assumed_state(g: &GuestState) -> SegmentState {
    filled(g, Variant::Consistent)
}

/// Where the state was read from, for the rules that care (VMCB canonicalisation,
/// EFER.SVME).
fn source(d: &LogDump) -> Source {
    if d.dialects.iter().any(|x| {
        matches!(
            x,
            Dialect::LinuxVmcb | Dialect::XenVmcb | Dialect::BhyvectlVmcb
        )
    }) {
        Source::Vmcb
    } else if matches!(
        d.dialects.first(),
        Some(Dialect::Qemu | Dialect::KvmSregsPrint)
    ) {
        Source::GuestView
    } else {
        Source::Generic
    }
}

/// The report of a whole state for `vendors` (`None`: architecture only).
fn report_of(state: &SegmentState, vendors: Option<Vendors>, source: Source) -> Report {
    let context = Context {
        source,
        vmcb_cpl_byte: None,
    };
    match vendors {
        Some(v) => {
            let mut r = crate::verify::paths::diagnose(state, v, context);
            if source == Source::GuestView {
                kvm_set_sregs_refusals(&mut r, state);
            }
            r
        }
        None => {
            let mut r = crate::check::report::report_with(state, Vendors::Both, context);
            r.entries.retain(|e| e.family == Family::Arch);
            r.configurations.clear();
            r.notes
                .retain(|n| !n.contains("VMRUN") && !n.contains("VM entry"));
            r.note_configurations();
            r
        }
    }
}

/// A guest's view reaches the hardware only through KVM_SET_SREGS, which refuses some
/// states outright (EINVAL, "Failed to put registers"): those refusals, into `r`.
fn kvm_set_sregs_refusals(r: &mut Report, state: &SegmentState) {
    for f in kvm_set_sregs::check(state, Cr4Allowed::all_known()) {
        r.push(
            Family::KvmSetSregs,
            f,
            Some(String::from(
                "KVM_SET_SREGS (kvm_is_valid_sregs; CR4 judged for a vCPU with every feature)",
            )),
        );
    }
}

/// What a whole state read from a file that is not a log (a migration stream's CPU)
/// adds to its report ([`Input::report`]), so that it is judged by every rule its dump
/// would be: the guest-state rules beyond the segments on `guest` for `vendors`, with
/// a note naming what the `holder` ("stream") lacks, and for a guest's view
/// ([`Source::GuestView`]) the states KVM_SET_SREGS refuses.
pub(crate) fn whole_state(
    report: &mut Report,
    guest: &GuestState,
    vendors: Vendors,
    source: Source,
    holder: &str,
) {
    if source == Source::GuestView {
        if let Some(state) = guest.segment_state() {
            kvm_set_sregs_refusals(report, &state);
        }
    }
    let not_judged =
        crate::check::report::guest_state(report, guest, vendors, CrLevel::GuestView, holder);
    report
        .notes
        .extend(crate::check::report::rules_not_judged_note(
            &not_judged,
            holder,
            "",
        ));
}

fn key(e: &Entry) -> (Family, CheckId, Option<SegReg>, Option<String>) {
    (e.family, e.finding.id, e.finding.reg, e.chain.clone())
}

/// Judges an [`Input`] that came from a text log (`None` for other inputs): its
/// [`LogDump`] through [`judge`], plus the checks only a whole QEMU dump allows
/// ([`qemu_dump::findings`]) when QEMU printed it exactly.
#[must_use]
pub fn judge_input(input: &Input, chosen: Option<Vendors>) -> Option<Judgement> {
    let log = input.log.as_ref()?;
    let mut j = judge(log, chosen);
    if let Some(whole) = &input.dump {
        for f in qemu_dump::findings(whole) {
            j.report.push(Family::Qemu, f, None);
        }
        // Judged for a vendor, a QEMU dump (a guest's view) carries the notes on
        // KVM_SET_SREGS's path and KVM's VMX defaults (`check::report`).
        if j.report.has(CheckId::QemuHflagsStale) && j.vendors.is_some() {
            j.report.notes.push(String::from(
                "QEMU's hflags were stale (qemu.hflags-stale), as under WHPX or HAXM, which \
                 write CR0 without updating them: the state did not come from KVM, and the \
                 notes on KVM_SET_SREGS and KVM's VMX defaults say what KVM would make of it \
                 if a VMM handed it over, not what WHPX or HAXM did",
            ));
        }
        if matches!(j.verdict, Verdict::Passes | Verdict::Outside { .. }) {
            j.verdict = verdict(log, &j.report, log.exit().map(super::exit::Exit::class));
        }
    }
    Some(j)
}

/// Judges one state read from a log, for `chosen` vendors or the inferred target.
#[must_use]
pub fn judge(d: &LogDump, chosen: Option<Vendors>) -> Judgement {
    let (vendors, target_reason) = match (chosen, d.target) {
        (Some(v), _) => (Some(v), format!("--vendor {v}")),
        (None, Target::Intel) => (Some(Vendors::Intel), d.target_reason.clone()),
        (None, Target::Amd) => (Some(Vendors::Amd), d.target_reason.clone()),
        (None, Target::Tcg | Target::Bochs | Target::Firmware) => (None, d.target_reason.clone()),
        (None, Target::Unknown) => (Some(Vendors::Both), d.target_reason.clone()),
    };
    let class = d.exit().map(super::exit::Exit::class);
    let g = &d.guest;
    if d.withheld {
        // QEMU printed registers it never read: no rule has anything to judge, and the
        // dump's note says why (`ingest::protected`).
        return Judgement {
            report: empty_report(d, vendors),
            verdict: Verdict::NoState(class),
            vendors,
            target_reason,
            not_judged: Vec::new(),
            rules_not_judged: Vec::new(),
        };
    }
    if g.has_no_segments() {
        return without_segments(d, vendors, target_reason, class);
    }
    let src = source(d);
    let mut report = report_of(&filled(g, Variant::Consistent), vendors, src);
    let other = report_of(&filled(g, Variant::Contrary), vendors, src);
    let other_keys: BTreeSet<_> = other.entries.iter().map(key).collect();
    let mut not_judged = BTreeSet::new();
    report.entries.retain(|e| {
        let reg_known = e.finding.reg.is_none_or(|r| g.segments[r].is_some());
        let stable = other_keys.contains(&key(e));
        if !(reg_known && stable) {
            let at = e.finding.reg.map(|r| format!(" ({r})")).unwrap_or_default();
            not_judged.insert(format!("{}{at}", e.finding.id));
        }
        reg_known && stable
    });
    for e in &other.entries {
        if e.finding.reg.is_none_or(|r| g.segments[r].is_some())
            && !report.entries.iter().any(|x| key(x) == key(e))
        {
            let at = e.finding.reg.map(|r| format!(" ({r})")).unwrap_or_default();
            not_judged.insert(format!("{}{at}", e.finding.id));
        }
    }
    // A configuration's finding is judged as the report's are: stable under both
    // fillings, about a register the dump shows.
    for (i, c) in report.configurations.iter_mut().enumerate() {
        let theirs = other.configurations.get(i);
        c.findings.retain(|f| {
            let known = f.reg.is_none_or(|r| g.segments[r].is_some());
            let stable =
                theirs.is_some_and(|t| t.findings.iter().any(|x| x.id == f.id && x.reg == f.reg));
            if !(known && stable) {
                let at = f.reg.map(|r| format!(" ({r})")).unwrap_or_default();
                not_judged.insert(format!("{}{at}", f.id));
            }
            known && stable
        });
    }
    report.note_configurations();
    if vendors == Some(Vendors::Both) && d.dialects.contains(&Dialect::Bhyvectl) {
        let amd = report_of(&filled(g, Variant::Consistent), vendors, Source::Vmcb);
        let note = super::bhyvectl::intel_only_reading(&mut report, &amd);
        report.notes.extend(note);
    }
    if vendors.is_some() {
        // With a hardware target, VM entry or VMRUN decides whether the state runs:
        // SVM enters paged real mode, a CPL byte that disagrees with SS.DPL, ... An
        // architectural rule the hardware does not check is a warning here.
        for e in &mut report.entries {
            if e.family == Family::Arch && e.finding.severity == Severity::Error {
                e.finding.severity = Severity::Warning;
                e.context = Some(String::from(
                    "architectural rule; the hardware target's own checks decide whether it runs",
                ));
            }
        }
    }
    for f in crate::check::arch::check_rip(g) {
        report.push(Family::Arch, f, None);
    }
    report
        .notes
        .extend(crate::check::arch::video_memory_fetch(g));
    if d.target == Target::Tcg {
        // QEMU TCG's `ltr` caches the descriptor before it marks it busy: in a TCG log
        // an available TSS in TR is what QEMU left, not something to warn of.
        for e in &mut report.entries {
            if e.finding.id == CheckId::ArchTrAvailable {
                e.finding.severity = Severity::Info;
                e.context = Some(String::from(
                    "a TCG log: QEMU's ltr (helper_ltr) caches the TSS before marking it busy",
                ));
            }
        }
    }
    if vendors.is_some_and(Vendors::intel) && g.controls.unrestricted_guest() == Some(false) {
        enter_without_unrestricted_guest(&mut report);
    }
    let rules_not_judged = vendors.map_or_else(Vec::new, |v| beyond_segments(&mut report, d, v));
    let missing = g.missing_for_segment_checks();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|f| format!("{f}")).collect();
        report.notes.insert(
            0,
            format!(
                "the dump lacks {}: checks that read them are not judged",
                names.join(", ")
            ),
        );
    }
    report.notes.extend(exit_notes(d, vendors, class));
    report
        .notes
        .extend(state_notes::null_ldtr_read_back_note(d));
    report.notes.extend(state_notes::wide_cr3_note(d));
    let verdict = verdict(d, &report, class);
    Judgement {
        report,
        verdict,
        vendors,
        target_reason,
        not_judged: not_judged.into_iter().collect(),
        rules_not_judged,
    }
}

/// Judges a dump that shows no segment register (exit lines only, a HAXM or Xen dump
/// of the controls): every segment rule is "not judged", and the rules beyond the
/// segments judge the fields it has. The verdict is [`Verdict::NoState`] only when none
/// of those rules could be judged either.
fn without_segments(
    d: &LogDump,
    vendors: Option<Vendors>,
    target_reason: String,
    class: Option<ExitClass>,
) -> Judgement {
    let mut report = empty_report(d, vendors);
    let mut rules_not_judged = Vec::new();
    let mut judged_any = false;
    report.notes.push(if d.partial_segments.is_empty() {
        String::from(NO_SEGMENTS_NOTE)
    } else {
        partial_segments_note(&d.partial_segments)
    });
    // The architecture's control-register rules read no segment.
    let g = &d.guest;
    if g.cr0.is_some() {
        for finding in crate::check::arch::check_control_registers(g.cr0, g.cr4, g.efer) {
            report.push(Family::Arch, finding, None);
        }
        judged_any = true;
    }
    if let Some(v) = vendors {
        rules_not_judged = beyond_segments(&mut report, d, v);
        // The rules an empty dump cannot judge, less those this one cannot: the ones
        // its fields decided.
        let mut scratch = report.clone();
        judged_any |= crate::check::report::guest_state(
            &mut scratch,
            &GuestState::default(),
            v,
            CrLevel::GuestView,
            "dump",
        )
        .iter()
        .any(|(id, _)| !rules_not_judged.iter().any(|(x, _)| x == id));
    }
    report.notes.extend(exit_notes(d, vendors, class));
    let verdict = match verdict(d, &report, class) {
        _ if !judged_any => Verdict::NoState(class),
        Verdict::Outside { class, .. } => Verdict::Outside {
            class,
            hint: Some(NO_SEGMENTS_HINT),
        },
        v => v,
    };
    Judgement {
        report,
        verdict,
        vendors,
        target_reason,
        not_judged: Vec::new(),
        rules_not_judged,
    }
}

/// A report on `d` for `vendors` with no finding and no note yet: its mode and CPL as
/// the consistent filling of the missing fields has them.
fn empty_report(d: &LogDump, vendors: Option<Vendors>) -> Report {
    let mut report = report_of(&filled(&d.guest, Variant::Consistent), vendors, source(d));
    report.entries.clear();
    report.notes.clear();
    report.configurations.clear();
    report
}

/// The note on a dump with no segment register.
pub const NO_SEGMENTS_NOTE: &str =
    "the dump shows no segment register: the segment rules are not judged";

/// The note on a dump that shows segment registers only in part (a HAXM paste cut
/// before the limits): what it lacks is named in the reader's notes above it.
fn partial_segments_note(regs: &[SegReg]) -> String {
    let names: Vec<&str> = regs.iter().map(|r| r.name()).collect();
    format!(
        "the dump shows no segment register whole, only part of {} (what each lacks is \
         named above): the segment rules are not judged",
        names.join(", ")
    )
}

/// What to look at when every rule a segment-less dump can show passes.
const NO_SEGMENTS_HINT: &str = "the paste shows no whole segment register, so no segment check is \
     judged: the whole dump (QEMU's register dump, or the VMCS dump's guest segment lines) \
     would show them";

/// Runs the guest-state rules beyond the segments ([`crate::check::report::guest_state`])
/// for `v` on what `d` shows, noting which fields the rules it could not judge need.
/// Returns those rules, each with the first field it lacks.
fn beyond_segments(report: &mut Report, d: &LogDump, v: Vendors) -> Vec<(CheckId, GuestField)> {
    let level = if matches!(
        d.dialects.first(),
        Some(
            Dialect::LinuxVmcs
                | Dialect::XenVmcs
                | Dialect::Haxm
                | Dialect::Hvdump
                | Dialect::NoirVisor
                | Dialect::LinuxVmcb
                | Dialect::XenVmcb
                | Dialect::JailhouseVmcs
                | Dialect::JailhouseVmcb
                | Dialect::Jailhouse
        )
    ) {
        CrLevel::Vmcs
    } else {
        CrLevel::GuestView
    };
    let rules_not_judged = crate::check::report::guest_state(report, &d.guest, v, level, "dump");
    if d.exit().is_some_and(|e| e.class().blames_guest_state()) {
        // The guest-state checks ran, so the control checks before them passed: a
        // control rule that fires here meets a processor that allows more (an error
        // code either way with IA32_VMX_BASIC[56] = 1), or fields changed since.
        let before = report.entries.len();
        report
            .entries
            .retain(|e| !vmx_guest::CONTROL_RULES.contains(&e.finding.id));
        if report.entries.len() < before {
            report.notes.push(String::from(
                "a VM-entry control rule fails on the dump's fields, but the exit is a \
                 guest-state failure, which the processor reports only after its control \
                 checks passed: not counted (a processor with IA32_VMX_BASIC[56] = 1 \
                 delivers a hardware exception with or without an error code)",
            ));
        }
    }
    report
        .notes
        .extend(crate::check::report::rules_not_judged_note(
            &rules_not_judged,
            "dump",
            &whole_dump_hint(d, v),
        ));
    rules_not_judged
}

/// What prints the whole save area (the VMCS or VMCB) for a log's hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SaveAreaSwitch {
    /// KVM's `kvm_intel.dump_invalid_vmcs=1` / `kvm_amd.dump_invalid_vmcb=1`.
    Kvm,
    /// Xen's `v` debug key.
    Xen,
}

impl SaveAreaSwitch {
    /// The switch of `d`'s hypervisor; `None` for one that has no such switch (HAXM
    /// and hyperkit print their dumps whole or not at all; Dune, bhyve, WHP). The one place both the
    /// note on rules not judged and the verdict's hint take it from.
    fn of(d: &LogDump) -> Option<Self> {
        let xen = d.dialects.iter().any(|x| {
            matches!(
                x,
                Dialect::XenVmcs | Dialect::XenVmcb | Dialect::XenRegisters
            )
        }) || d.exits.iter().any(|(_, e)| {
            matches!(
                e,
                Exit::XenDomainCrash { .. }
                    | Exit::XenEmulationFailed(_)
                    | Exit::TripleFault {
                        by: TripleFaultReport::Xen,
                        ..
                    }
            )
        });
        let other = d.dialects.iter().any(|x| {
            matches!(
                x,
                Dialect::Haxm
                    | Dialect::Hvdump
                    | Dialect::NoirVisor
                    | Dialect::OpenvmmTrace
                    | Dialect::WhpRegisters
                    | Dialect::BhyvectlVmcs
                    | Dialect::BhyvectlVmcb
                    | Dialect::Bhyvectl
                    | Dialect::JailhouseVmcs
                    | Dialect::JailhouseVmcb
                    | Dialect::Jailhouse
            )
        }) || d
            .exits
            .iter()
            .any(|(_, e)| matches!(e, Exit::VmxExitReason { .. } | Exit::Whp { .. }));
        if xen {
            Some(SaveAreaSwitch::Xen)
        } else if other {
            None
        } else {
            Some(SaveAreaSwitch::Kvm)
        }
    }

    /// The switch, named for `vendor`'s save area.
    const fn name(self, vendor: Vendor) -> &'static str {
        match (self, vendor) {
            (SaveAreaSwitch::Xen, _) => "Xen's `v` debug key, `xl debug-keys v`,",
            (SaveAreaSwitch::Kvm, Vendor::Intel) => "kvm_intel.dump_invalid_vmcs=1",
            (SaveAreaSwitch::Kvm, Vendor::Amd) => "kvm_amd.dump_invalid_vmcb=1",
        }
    }

    /// The verdict's hint when a guest-state failure's dump is not the save area.
    const fn hint(self, vendor: Vendor) -> &'static str {
        match (self, vendor) {
            (SaveAreaSwitch::Kvm, Vendor::Intel) => {
                "set kvm_intel.dump_invalid_vmcs=1 to have the kernel print the VMCS \
                 (interruptibility, activity state, controls, PDPTEs)"
            }
            (SaveAreaSwitch::Kvm, Vendor::Amd) => {
                "set kvm_amd.dump_invalid_vmcb=1 to have the kernel print the VMCB (an SEV-ES \
                 or SEV-SNP guest's registers are in its VMSA, encrypted, which the kernel \
                 prints only when the guest's policy allows debugging)"
            }
            (SaveAreaSwitch::Xen, Vendor::Intel) => {
                "Xen's `v` debug key (`xl debug-keys v`) prints the VMCS (interruptibility, \
                 activity state, controls, PDPTEs)"
            }
            (SaveAreaSwitch::Xen, Vendor::Amd) => {
                "Xen's `v` debug key (`xl debug-keys v`) prints the VMCB"
            }
        }
    }
}

/// The note's pointer to the whole save area, for the vendors judged.
fn whole_dump_hint(d: &LogDump, v: Vendors) -> String {
    let (vendor, area) = match v {
        Vendors::Intel => (Vendor::Intel, "VMCS"),
        Vendors::Amd => (Vendor::Amd, "VMCB"),
        Vendors::Both => (Vendor::Intel, "VMCS or VMCB"),
    };
    match SaveAreaSwitch::of(d) {
        Some(SaveAreaSwitch::Kvm) if v == Vendors::Both => String::new(),
        Some(s) => format!(" ({} prints the {area})", s.name(vendor)),
        None => String::new(),
    }
}

/// The dump's own controls have unrestricted guest off (a VMCS dump of a nested or
/// `kvm_intel.unrestricted_guest=0` host): that configuration is the one the CPU was
/// asked to enter, so its findings are the report's and KVM's default is not judged.
fn enter_without_unrestricted_guest(report: &mut Report) {
    let without = CONFIGURATION_CONTEXT_WITHOUT_UG;
    report.entries.retain(|e| {
        e.family != Family::Vmx || e.context.as_deref() != Some("VM entry with unrestricted guest")
    });
    let configurations = core::mem::take(&mut report.configurations);
    for c in configurations {
        if let crate::check::preflight::Target::IntelVmEntry(controls) = c.target {
            if !controls.unrestricted_guest {
                for f in c.findings {
                    report.push(Family::Vmx, f, Some(String::from(without)));
                }
                continue;
            }
        }
        report.configurations.push(c);
    }
    report.note_configurations();
    report.notes.push(String::from(
        "the dump's controls have unrestricted guest off: VM entry is judged without it",
    ));
}

/// The context of a VM-entry finding judged under the dump's own controls with
/// unrestricted guest off.
const CONFIGURATION_CONTEXT_WITHOUT_UG: &str =
    "VM entry without unrestricted guest (the dump's controls)";

fn verdict(d: &LogDump, report: &Report, class: Option<ExitClass>) -> Verdict {
    // VM-instruction error 7 is the control checks' failure: a control rule that fails
    // on the dump's fields names it.
    if class
        == Some(ExitClass::VmInstructionError(
            VM_INSTRUCTION_INVALID_CONTROLS,
        ))
    {
        if let Some(e) = report.entries.iter().find(|e| {
            e.finding.severity == Severity::Error
                && vmx_guest::CONTROL_RULES.contains(&e.finding.id)
        }) {
            return Verdict::Fails {
                family: e.family,
                finding: e.finding.clone(),
            };
        }
    }
    if let Some(c) = class.filter(|c| !c.blames_guest_state()) {
        return Verdict::NotGuestState(c);
    }
    let first_error = report
        .entries
        .iter()
        .filter(|e| e.finding.severity == Severity::Error)
        .min_by_key(|e| match e.family {
            Family::KvmSetSregs => 0,
            Family::Vmx | Family::Svm => 0,
            Family::Arch => 1,
            Family::Qemu => 2,
            Family::Path => 3,
        });
    if let Some(e) = first_error {
        return Verdict::Fails {
            family: e.family,
            finding: e.finding.clone(),
        };
    }
    match class {
        Some(c) => {
            let kernel = |v: &[Dialect]| d.dialects.iter().any(|x| v.contains(x));
            let hint = match c {
                ExitClass::InvalidGuestState
                    if !kernel(&[Dialect::LinuxVmcs, Dialect::XenVmcs, Dialect::Haxm]) =>
                {
                    SaveAreaSwitch::of(d).map(|s| s.hint(Vendor::Intel))
                }
                ExitClass::SvmInvalid if !kernel(&[Dialect::LinuxVmcb, Dialect::XenVmcb]) => {
                    SaveAreaSwitch::of(d).map(|s| s.hint(Vendor::Amd))
                }
                ExitClass::InvalidGuestState => Some(
                    "every guest-state check on the fields the kernel printed passes; the cause \
                     is in what it does not print (the VMCS link pointer, the MSR-load areas, \
                     SYSENTER/PERF_GLOBAL_CTRL/BNDCFGS), a field cut from the paste, or a \
                     processor-specific limit (MAXPHYADDR below 52, fixed bits)",
                ),
                ExitClass::SvmInvalid => Some(
                    "every consistency check on the fields the kernel printed passes; the \
                     cause is in what it does not print or VMRUN checks beyond it (the MSR and \
                     I/O permission maps, nested paging's nCR3, AVIC, and for an SEV-ES or \
                     SEV-SNP guest its VMSA and SEV features), a field cut from the paste, or \
                     a processor-specific limit (MAXPHYADDR, reserved bits)",
                ),
                ExitClass::SetRegistersRefused => Some(
                    "KVM_SET_SREGS's checks the dump can show pass; it also refuses a CR4 bit \
                     the vCPU's CPUID lacks, an illegal CR3 in long mode or APIC base, and \
                     KVM_SET_REGS/MSRS/XCRS can fail the same way",
                ),
                _ => None,
            };
            Verdict::Outside { class: c, hint }
        }
        None => Verdict::Passes,
    }
}
