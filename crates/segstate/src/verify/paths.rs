//! What the built-in chains would do to one state: each chain that starts from the
//! vendor's save area (VMCS for Intel, VMCB with `VMCB.CPL = state.cpl` for AMD) is
//! run, and every CPL change, attribute change and VM-entry refusal is reported with
//! the profile rule responsible (verify's `blame`). A change through today's code is an
//! error; through a released old version a warning; through a design that was never
//! merged, information.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{domain, normalise};
use crate::arch::{CpuMode, PerSegReg, PrivilegeLevel, SegReg, Segment, SegmentState};
use crate::check::report::{Context, Entry, Report, Vendors};
use crate::check::{self, CheckId, Family, Finding, Severity, arch, vmx_entry};
use crate::format::vmx::VmxSegment;
use crate::profile::{Chain, Format, Profile, Rule, VcpuSegments, builtin_about, builtin_chains};

/// How far a chain is from what runs today.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    Current,
    Released,
    Proposed,
}

fn tier(chain: &Chain) -> Tier {
    if chain.is_current() {
        Tier::Current
    } else if chain
        .steps()
        .iter()
        .any(|s| s.profile == Profile::QEMU_KEEP_OLD_FLAGS || s.profile == Profile::QEMU_SEGTYPE)
    {
        Tier::Proposed
    } else {
        Tier::Released
    }
}

fn tier_severity(t: Tier) -> Severity {
    match t {
        Tier::Current => Severity::Error,
        Tier::Released => Severity::Warning,
        Tier::Proposed => Severity::Info,
    }
}

/// The state in a chain's source format, with the segments it means and its CPL.
fn encode(format: Format, state: &SegmentState) -> (VcpuSegments, PerSegReg<Segment>) {
    match format {
        Format::Vmcs => (
            VcpuSegments::Vmcs(state.segments.map(|_, s| VmxSegment::from(*s))),
            state.segments,
        ),
        Format::Vmcb => {
            let vmcb = crate::profile::svm::kvm_vmcb_segments(&state.segments);
            // What the VMCB means: P = 0 reads as unusable.
            let segs = state.segments.map(|reg, s| {
                let mut s = *s;
                s.attributes.present = vmcb[reg].attrib.attributes().present;
                s.unusable = !s.attributes.present;
                s
            });
            (
                VcpuSegments::Vmcb {
                    segments: vmcb,
                    cpl: state.cpl.bits(),
                },
                segs,
            )
        }
        // No chain starts from Hyper-V registers (Chain::new refuses them).
        Format::Kvm | Format::HyperV => (
            VcpuSegments::Kvm(state.segments.map(|_, s| (*s).into())),
            state.segments,
        ),
    }
}

/// What one run of a chain did to a state.
struct Outcome {
    cpl_before: PrivilegeLevel,
    cpl_after: PrivilegeLevel,
    expected: PerSegReg<Segment>,
    out: PerSegReg<Option<Segment>>,
    /// For chains ending in a VMCS whose source state is valid: what VM entry refuses.
    entry: Vec<Finding>,
}

impl Outcome {
    fn escalates(&self) -> bool {
        self.cpl_after < self.cpl_before
    }

    fn cpl_changed(&self) -> bool {
        self.cpl_after != self.cpl_before
    }

    fn changed(&self, reg: SegReg) -> bool {
        self.out[reg] != Some(self.expected[reg])
    }
}

fn run_chain(chain: &Chain, state: &SegmentState, source_valid: bool) -> Option<Outcome> {
    let (input, source) = encode(chain.source(), state);
    let cpl_before = input.cpl();
    let previous = domain::previous_caches();
    let output = chain.run(&input, &previous).ok()?;
    let cpl_after = output.cpl();
    let out = PerSegReg::from_fn(|reg| output.in_flight(reg).value.decode());
    let expected =
        PerSegReg::from_fn(|reg| normalise::expected(chain.ops(), reg, &source[reg], cpl_before));
    let mut entry = Vec::new();
    if source_valid && output.format() == Format::Vmcs {
        let mut whole = *state;
        for reg in SegReg::ALL {
            if let Some(s) = out[reg] {
                whole.segments[reg] = s;
            }
        }
        whole.cpl = cpl_after;
        entry = vmx_entry::check(&whole, vmx_entry::VmxEntryControls::kvm_default(whole.efer))
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
    }
    Some(Outcome {
        cpl_before,
        cpl_after,
        expected,
        out,
        entry,
    })
}

/// The rules responsible for `still` holding after a run of `chain` (see
/// [`super::blame::responsible`]).
fn responsible(
    chain: &Chain,
    state: &SegmentState,
    source_valid: bool,
    still: impl Fn(&Outcome) -> bool,
) -> Vec<Rule> {
    super::blame::responsible(chain, |c| {
        run_chain(c, state, source_valid).is_some_and(|o| !still(&o))
    })
}

/// What one chain did to one state: the CPL before and after, and every register whose
/// value changed beyond the chain's documented normalisation (the changes a chain is
/// expected to make, such as KVM SVM reporting G from the limit, are not listed), each
/// with the profile rules responsible (`blame::responsible`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trace {
    /// The CPL the state starts at in the chain's source format.
    pub cpl_before: PrivilegeLevel,
    /// The CPL the chain ends with.
    pub cpl_after: PrivilegeLevel,
    /// The rules responsible for a CPL change; empty when the CPL is kept.
    pub cpl_rules: Vec<Rule>,
    /// The registers that changed.
    pub changes: Vec<RegisterChange>,
}

impl Trace {
    /// True when the chain lowered the CPL: privilege escalation.
    #[must_use]
    pub fn escalates(&self) -> bool {
        self.cpl_after < self.cpl_before
    }
}

/// One register a chain changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisterChange {
    /// The register.
    pub reg: SegReg,
    /// The fields that differ from what the chain should have kept; empty when the
    /// result does not decode at all.
    pub fields: Vec<crate::arch::FieldChange>,
    /// The value after the chain, `None` when it does not decode.
    pub after: Option<Segment>,
    /// The rules responsible.
    pub rules: Vec<Rule>,
}

/// Runs `state` through `chain` (encoded in the chain's source format as
/// [`diagnose`] does) and says what changed and which rule changed it. `None` when the
/// chain cannot run on it (a value its source format cannot hold).
///
/// ```
/// use segstate::profile::Chain;
/// use segstate::verify::{paths::trace, sysret_state};
///
/// // The AMD SYSRET state: user mode, SS unusable with a stale DPL.
/// let state = sysret_state();
/// let fixed: Chain = "kvm-svm > qemu > kvm-svm".parse()?;
/// assert!(!trace(&fixed, &state).unwrap().escalates());
///
/// let bug: Chain = "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11".parse()?;
/// let t = trace(&bug, &state).unwrap();
/// assert!(t.escalates()); // CPL 3 -> 0
/// let ids: Vec<_> = t.cpl_rules.iter().map(|r| r.id()).collect();
/// assert_eq!(ids, ["svm.set.zero-unusable-attrib", "qemu.get.zero-unusable-flags"]);
/// # Ok::<(), segstate::profile::ChainError>(())
/// ```
#[must_use]
pub fn trace(chain: &Chain, state: &SegmentState) -> Option<Trace> {
    let o = run_chain(chain, state, false)?;
    let cpl_rules = if o.cpl_changed() {
        responsible(chain, state, false, |x| x.cpl_changed())
    } else {
        Vec::new()
    };
    let changes = SegReg::ALL
        .into_iter()
        .filter(|&reg| o.changed(reg))
        .map(|reg| RegisterChange {
            reg,
            fields: o.out[reg]
                .map(|after| o.expected[reg].field_changes(&after))
                .unwrap_or_default(),
            after: o.out[reg],
            rules: responsible(chain, state, false, |x| x.changed(reg)),
        })
        .collect();
    Some(Trace {
        cpl_before: o.cpl_before,
        cpl_after: o.cpl_after,
        cpl_rules,
        changes,
    })
}

/// Judges a state the way `segstate check` does: every rule family of
/// [`check::report::report_with`], then the path findings through every built-in
/// chain ([`path_findings`]).
#[must_use]
pub fn diagnose(state: &SegmentState, vendors: Vendors, context: Context) -> Report {
    let mut r = check::report::report_with(state, vendors, context);
    // The KVM/QEMU paths only: which other stack a state will meet is not known here.
    let chains: Vec<Chain> = builtin_chains()
        .into_iter()
        .filter(|c| c.steps().iter().all(|s| s.profile.engine.is_kvm_stack()))
        .collect();
    r.entries.extend(path_findings(state, vendors, &chains));
    r
}

/// The path findings of `state` through `chains` (the report uses the built-in
/// chains): each chain that starts from the vendor's save area is run, and every CPL
/// change, attribute change and VM-entry refusal is reported with the rule responsible.
#[must_use]
pub fn path_findings(state: &SegmentState, vendor: Vendors, chains: &[Chain]) -> Vec<Entry> {
    let mut r = Report {
        vendor,
        mode: CpuMode::Real,
        cpl: state.cpl,
        entries: Vec::new(),
        notes: Vec::new(),
        configurations: Vec::new(),
    };
    let r = &mut r;
    let valid_arch = arch::is_consistent(state);
    for chain in chains {
        let chain = chain.clone();
        let applies = match chain.source() {
            Format::Vmcs => vendor.intel(),
            Format::Vmcb => vendor.amd(),
            Format::Kvm | Format::HyperV => false,
        };
        if !applies {
            continue;
        }
        let source_valid = valid_arch
            && (chain.source() != Format::Vmcs
                || vmx_entry::accepts(state, vmx_entry::VmxEntryControls::kvm_default(state.efer)));
        let Some(o) = run_chain(&chain, state, source_valid) else {
            continue;
        };
        let t = tier(&chain);
        let name = chain.to_string();
        let about = builtin_about(&chain).unwrap_or("");
        let context = format!("{name} ({about})");
        let mut add = |id: CheckId,
                       severity: Severity,
                       reg: SegReg,
                       field: &'static str,
                       expected: String,
                       found: String,
                       rules: Vec<Rule>| {
            r.entries.push(Entry {
                family: Family::Path,
                finding: Finding {
                    id,
                    severity,
                    reg: Some(reg),
                    field,
                    expected,
                    found,
                    reference: match rules.as_slice() {
                        [one] => one.upstream(),
                        [] => "segstate verify: built-in chains",
                        _ => "these loss rules together (segstate profiles --rules)",
                    },
                },
                context: Some(context.clone()),
                chain: Some(name.clone()),
                rules,
            });
        };
        if o.cpl_changed() {
            let escalates = o.escalates();
            let rules = responsible(&chain, state, source_valid, |x| {
                if escalates {
                    x.escalates()
                } else {
                    x.cpl_changed()
                }
            });
            add(
                if escalates {
                    CheckId::PathEscalation
                } else {
                    CheckId::PathCplChanged
                },
                tier_severity(t),
                SegReg::Ss,
                "CPL",
                format!("CPL {} kept", o.cpl_before),
                format!(
                    "CPL {} after the chain{}",
                    o.cpl_after,
                    if escalates {
                        ": privilege escalation"
                    } else {
                        ""
                    }
                ),
                rules,
            );
        }
        for reg in SegReg::ALL {
            if !o.changed(reg) {
                continue;
            }
            let rules = responsible(&chain, state, source_valid, |x| x.changed(reg));
            let usable = o.expected[reg].is_usable();
            let severity = match t {
                Tier::Proposed => Severity::Info,
                _ if usable => Severity::Warning,
                _ => Severity::Info,
            };
            add(
                CheckId::PathAttributesChanged,
                severity,
                reg,
                "attributes",
                String::from("kept, up to the chain's documented normalisation"),
                // Labelled: the left side is the chain's documented normalisation of the
                // state, which may differ from the dump as printed (G from the limit).
                match o.out[reg] {
                    Some(after) => format!(
                        "expected vs actual: {}",
                        difference(&o.expected[reg], &after)
                    ),
                    None => String::from("a value that does not decode"),
                },
                rules,
            );
        }
        if let Some(first) = o.entry.first() {
            let first_id = first.id;
            let rules = responsible(&chain, state, source_valid, |x| {
                x.entry.iter().any(|f| f.id == first_id)
            });
            add(
                CheckId::PathVmxEntryRejected,
                tier_severity(t),
                first.reg.unwrap_or(SegReg::Ss),
                "VM entry",
                String::from("accepted (the source state is valid)"),
                format!("refused: {first}"),
                rules,
            );
        }
    }
    core::mem::take(&mut r.entries)
}

/// The fields that differ, `name before -> after`.
pub(super) fn difference(expected: &Segment, actual: &Segment) -> String {
    let changes: Vec<String> = expected
        .field_changes(actual)
        .iter()
        .map(|c| format!("{c}"))
        .collect();
    changes.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Vendor;
    use crate::verify::domain::{baseline, sysret_state};

    #[test]
    fn a_linux_user_state_is_clean_for_both_vendors() {
        let r = diagnose(
            &baseline(PrivilegeLevel::Ring3),
            Vendors::Both,
            Context::default(),
        );
        assert_eq!(r.errors(), 0, "{:#?}", r.entries);
    }

    #[test]
    fn the_sysret_state_escalates_on_the_2017_chain_only() {
        let r = diagnose(&sysret_state(), Vendor::Amd.into(), Context::default());
        let esc: Vec<&Entry> = r
            .entries
            .iter()
            .filter(|e| e.finding.id == CheckId::PathEscalation)
            .collect();
        assert!(
            esc.iter()
                .any(|e| e.chain.as_deref() == Some("kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11")),
            "{esc:#?}"
        );
        assert!(esc.iter().all(|e| e.finding.severity != Severity::Error));
        assert_eq!(r.errors(), 0, "{:#?}", r.entries);
    }
}
