//! A whole-state report: every rule family, grouped by segment.
//!
//! [`report`] judges one [`SegmentState`]:
//!
//! - **arch**: the architectural invariants ([`super::arch`]);
//! - **vmx** (Intel): the VM-entry checks ([`super::vmx_entry`]) with the controls KVM
//!   uses (unrestricted guest on) and without unrestricted guest (nested hosts,
//!   `kvm_intel unrestricted_guest=0`); a check that fails only in the second
//!   configuration is a warning;
//! - **svm** (AMD): the VMRUN consistency checks ([`super::svm_vmrun`]);
//! - **path**: the state run through every built-in chain that starts from the vendor's
//!   save area (VMCS for Intel, VMCB with `VMCB.CPL = state.cpl` for AMD), reporting where
//!   the CPL or the attributes would change, with the profile rule responsible (the
//!   first rule whose removal makes the change go away, loss rules first, as verify
//!   finds it). A change through today's code is an error; through a released old
//!   version a warning; through a design that was never merged, information.
//!
//! [`report_dump`] adds what only a QEMU dump can show: a printed `CPL=` that disagrees
//! with SS.DPL, and a decoded suffix that disagrees with the flags column.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::{Finding, Findings, SegmentState, Severity, arch, svm_vmrun, vmx_entry};
use crate::arch::{CpuMode, PerSegReg, PrivilegeLevel, SegReg, Segment};
use crate::format::qemu::QemuFlags;
use crate::format::qemu_dump::QemuDump;
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::VmxSegment;
use crate::profile::{Chain, Format, Profile, Rule, RuleKind, SegmentValue, VcpuSegments};
use crate::verify::{builtin_about, builtin_chains, domain, normalise};

/// Every rule id this module emits (the path checks and the QEMU dump checks).
pub const RULE_IDS: &[&str] = &[
    "path.escalation",
    "path.cpl-changed",
    "path.attributes-changed",
    "path.vmx-entry-rejected",
    "qemu.cpl-ss-dpl",
    "qemu.suffix",
];

/// Every rule id of every family: [`arch::RULE_IDS`], [`vmx_entry::RULE_IDS`],
/// [`svm_vmrun::RULE_IDS`] and [`RULE_IDS`].
#[must_use]
pub fn all_rule_ids() -> Vec<&'static str> {
    arch::RULE_IDS
        .iter()
        .chain(vmx_entry::RULE_IDS)
        .chain(svm_vmrun::RULE_IDS)
        .chain(RULE_IDS)
        .copied()
        .collect()
}

/// Which hardware to judge the state for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// Intel VMX: VM-entry checks and the chains that start from a VMCS.
    Intel,
    /// AMD SVM: VMRUN checks and the chains that start from a VMCB.
    Amd,
    /// Both.
    Both,
}

impl Vendor {
    /// Intel checks apply.
    #[must_use]
    pub const fn intel(self) -> bool {
        matches!(self, Vendor::Intel | Vendor::Both)
    }

    /// AMD checks apply.
    #[must_use]
    pub const fn amd(self) -> bool {
        matches!(self, Vendor::Amd | Vendor::Both)
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Vendor::Intel => "intel",
            Vendor::Amd => "amd",
            Vendor::Both => "both",
        })
    }
}

/// The rule family a finding comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Architectural invariants.
    Arch,
    /// Intel VM entry.
    Vmx,
    /// AMD VMRUN.
    Svm,
    /// Built-in chains (KVM and VMM cooking).
    Path,
    /// What a QEMU dump shows about QEMU's own state.
    Qemu,
}

impl Family {
    /// Short name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Family::Arch => "arch",
            Family::Vmx => "vmx",
            Family::Svm => "svm",
            Family::Path => "path",
            Family::Qemu => "qemu",
        }
    }
}

/// One finding of a report, with where it applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The family.
    pub family: Family,
    /// The finding.
    pub finding: Finding,
    /// Under which configuration it holds, e.g. `VM entry without unrestricted guest`.
    pub context: Option<String>,
    /// For path findings: the chain.
    pub chain: Option<String>,
    /// For path findings: the profile rule responsible (the first whose removal makes
    /// the finding go away, loss rules first), or, when no single rule does, the loss
    /// rules that must all go (the 2017 bug needed both halves fixed). Empty when none.
    pub rules: Vec<Rule>,
}

/// Where the state was read from; it decides how some bits are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The vendor judged for.
    pub vendor: Vendor,
    /// The CPU mode the state is in.
    pub mode: CpuMode,
    /// The CPL the state claims.
    pub cpl: PrivilegeLevel,
    /// Every finding, in rule order.
    pub entries: Vec<Entry>,
    /// Remarks about how the state was judged.
    pub notes: Vec<String>,
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
    pub fn has(&self, id: &str) -> bool {
        self.entries.iter().any(|e| e.finding.id == id)
    }

    /// The ids present, each once, in report order.
    #[must_use]
    pub fn ids(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
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

    fn push(&mut self, family: Family, finding: Finding, context: Option<String>) {
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
pub fn report(state: &SegmentState, vendor: Vendor) -> Report {
    report_with(state, vendor, Context::default())
}

/// Judges a state read from `context.source`.
#[must_use]
pub fn report_with(state: &SegmentState, vendor: Vendor, context: Context) -> Report {
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
    };
    if context.source == Source::Vmcb {
        r.notes.push(String::from(
            "VMCB: architectural and VM-entry rules judge the cache with G from the limit, \
             TR busy and usable code/data accessed, as KVM's svm_get_segment reports it",
        ));
    }
    let tr = judged.segments[SegReg::Tr];
    let tr_available =
        tr.is_usable() && !tr.attributes.s && matches!(tr.attributes.segment_type.bits(), 1 | 9);
    for mut f in arch::check(&judged) {
        let mut context = None;
        if f.id == "arch.tr.type" && tr_available {
            // QEMU's TCG `ltr` caches the descriptor before it sets the busy bit, and AMD
            // may not expose busy: not a state to refuse, but Intel's VM entry does.
            f.severity = Severity::Warning;
            context = Some(String::from(
                "an available TSS in TR: QEMU TCG's ltr and AMD VMCBs leave it so; KVM SVM reports it busy, Intel VM entry refuses it",
            ));
        }
        r.push(Family::Arch, f, context);
    }
    if vendor.intel() {
        vmx(&mut r, &judged);
    }
    if vendor.amd() {
        let mut svm_state = judged;
        if context.source != Source::Vmcb {
            svm_state.efer |= 1 << 12;
            r.notes.push(String::from(
                "VMRUN judged with EFER.SVME set: KVM sets it in the VMCB (svm_set_efer)",
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
    paths(&mut r, state, vendor);
    r
}

/// Judges a QEMU dump: [`report_with`] on its state (source [`Source::GuestView`]),
/// plus the checks only a dump allows (`qemu.cpl-ss-dpl`, `qemu.suffix`).
#[must_use]
pub fn report_dump(dump: &QemuDump, vendor: Vendor) -> Report {
    let state = dump.segment_state();
    let mut r = report_with(
        &state,
        vendor,
        Context {
            source: Source::GuestView,
            vmcb_cpl_byte: None,
        },
    );
    for f in dump_findings(dump) {
        r.push(Family::Qemu, f, None);
    }
    r
}

/// The QEMU-only checks of a dump.
#[must_use]
pub fn dump_findings(dump: &QemuDump) -> Vec<Finding> {
    let mut f = Findings::collecting();
    let ss_dpl = dump.segments[SegReg::Ss].flags.dpl();
    if dump.cpl != ss_dpl.bits() {
        f.fail(
            "qemu.cpl-ss-dpl",
            Severity::Error,
            Some(SegReg::Ss),
            "DPL",
            format_args!(
                "the printed CPL={} (QEMU derives CPL from SS.DPL)",
                dump.cpl
            ),
            format_args!(
                "{ss_dpl}: KVM_SET_SREGS would run the vCPU at CPL {ss_dpl}, or the dump \
                 comes from QEMU before 2.1 (CPL from CS) or was edited"
            ),
            "QEMU x86_update_hflags / cpu_x86_load_seg_cache (7125c937c97d, 2.1)",
        );
    }
    for reg in SegReg::ALL {
        let expected = dump.expected_suffix(reg);
        let found = dump.suffixes[reg].as_deref();
        let norm = |s: Option<&str>| -> String {
            s.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        if norm(expected.as_deref()) != norm(found) {
            f.fail(
                "qemu.suffix",
                Severity::Warning,
                Some(reg),
                "suffix",
                format_args!(
                    "`{}` (what QEMU prints for flags {:#010x})",
                    norm(expected.as_deref()),
                    dump.segments[reg].flags.0 & QemuFlags::DUMP_MASK
                ),
                format_args!("`{}`: the line was edited, or is not QEMU's", norm(found)),
                "QEMU target/i386/cpu-dump.c cpu_x86_dump_seg_cache",
            );
        }
    }
    f.list
}

/// A VMCB cache with the bits AMD does not keep canonicalised as KVM reports them.
fn canonical_vmcb_cache(state: &SegmentState) -> SegmentState {
    let mut out = *state;
    out.segments = state
        .segments
        .map(|reg, s| arch::canonical_vmcb_cache(reg, *s));
    out
}

fn vmx(r: &mut Report, state: &SegmentState) {
    let kvm = vmx_entry::VmxEntryControls::kvm_default(state.efer);
    let strict = vmx_entry::VmxEntryControls {
        unrestricted_guest: false,
        ..kvm
    };
    let with_ug = vmx_entry::check(state, kvm);
    let real_mode = state.cr0 & crate::arch::CR0_PE == 0;
    let without_ug = if real_mode {
        r.notes.push(String::from(
            "real mode: without unrestricted guest KVM emulates it through virtual-8086 \
             mode, so only KVM's default (unrestricted guest) is judged",
        ));
        Vec::new()
    } else {
        vmx_entry::check(state, strict)
    };
    for f in &with_ug {
        let both = real_mode || without_ug.iter().any(|g| g.id == f.id && g.reg == f.reg);
        let context = if both {
            "VM entry (any configuration)"
        } else {
            "VM entry with unrestricted guest"
        };
        r.push(Family::Vmx, f.clone(), Some(String::from(context)));
    }
    for mut f in without_ug {
        if with_ug.iter().any(|g| g.id == f.id && g.reg == f.reg) {
            continue;
        }
        if f.severity == Severity::Error {
            f.severity = Severity::Warning;
        }
        r.push(
            Family::Vmx,
            f,
            Some(String::from(
                "VM entry without unrestricted guest only (nested VMX, \
                 kvm_intel unrestricted_guest=0, pre-Westmere CPUs); KVM's default accepts it",
            )),
        );
    }
}

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
            // The VMCB says "unusable" only through P, as svm_set_segment writes it.
            let segs = state.segments.map(|_, s| {
                let mut s = *s;
                s.attributes.present = s.attributes.present && !s.unusable;
                s.unusable = !s.attributes.present;
                s
            });
            let vmcb = segs.map(|_, s| VmcbSegment {
                selector: s.selector.0,
                attrib: SvmAttrib::from_attributes(s.attributes),
                limit: s.limit,
                base: s.base,
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

fn decode(v: &SegmentValue) -> Option<Segment> {
    match *v {
        SegmentValue::Vmcb(v) => Segment::try_from(v).ok(),
        SegmentValue::Vmcs(v) => Segment::try_from(v).ok(),
        SegmentValue::Kvm(k) => Segment::try_from(k).ok(),
        SegmentValue::Qemu(q) => Segment::try_from(q).ok(),
        SegmentValue::Stack(s) => s.decode(),
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
    let out = PerSegReg::from_fn(|reg| decode(&output.in_flight(reg).value));
    let expected =
        PerSegReg::from_fn(|reg| normalise::expected(chain.ops(), reg, source[reg], cpl_before));
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

/// The first rule (loss rules first) whose removal makes `still` false; failing that,
/// the first pair of loss rules, then every loss rule of the chain, whose removal
/// together does.
fn responsible(
    chain: &Chain,
    state: &SegmentState,
    source_valid: bool,
    still: impl Fn(&Outcome) -> bool,
) -> Vec<Rule> {
    let rules = chain.rules();
    let all: Vec<Rule> = rules
        .iter()
        .filter(|r| r.kind() == RuleKind::Loss)
        .collect();
    let others = rules.iter().filter(|r| r.kind() != RuleKind::Loss);
    let fixed = |c: &Chain| run_chain(c, state, source_valid).is_some_and(|o| !still(&o));
    if let Some(rule) = all
        .iter()
        .copied()
        .chain(others)
        .find(|&r| fixed(&chain.without(r)))
    {
        return alloc::vec![rule];
    }
    for (i, &a) in all.iter().enumerate() {
        for &b in &all[i + 1..] {
            if fixed(&chain.without(a).without(b)) {
                return alloc::vec![a, b];
            }
        }
    }
    let without_all = all.iter().fold(chain.clone(), |c, &r| c.without(r));
    if all.len() > 1 && fixed(&without_all) {
        all
    } else {
        Vec::new()
    }
}

fn paths(r: &mut Report, state: &SegmentState, vendor: Vendor) {
    // The KVM/QEMU paths only: which other stack a state will meet is not known here.
    let chains: Vec<Chain> = builtin_chains()
        .into_iter()
        .filter(|c| c.steps().iter().all(|s| s.profile.engine.is_kvm_stack()))
        .collect();
    r.entries.extend(path_findings(state, vendor, &chains));
}

/// The path findings of `state` through `chains` (the report uses the built-in
/// chains): each chain that starts from the vendor's save area is run, and every CPL
/// change, attribute change and VM-entry refusal is reported with the rule responsible.
#[must_use]
pub fn path_findings(state: &SegmentState, vendor: Vendor, chains: &[Chain]) -> Vec<Entry> {
    let mut r = Report {
        vendor,
        mode: CpuMode::Real,
        cpl: state.cpl,
        entries: Vec::new(),
        notes: Vec::new(),
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
        let mut add = |id: &'static str,
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
                    "path.escalation"
                } else {
                    "path.cpl-changed"
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
                "path.attributes-changed",
                severity,
                reg,
                "attributes",
                String::from("kept, up to the chain's documented normalisation"),
                match o.out[reg] {
                    Some(after) => difference(&o.expected[reg], &after),
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
                "path.vmx-entry-rejected",
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
fn difference(expected: &Segment, actual: &Segment) -> String {
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
    use crate::verify::domain::{baseline, sysret_state};

    #[test]
    fn a_linux_user_state_is_clean_for_both_vendors() {
        let r = report(&baseline(PrivilegeLevel::Ring3), Vendor::Both);
        assert_eq!(r.errors(), 0, "{:#?}", r.entries);
    }

    #[test]
    fn the_sysret_state_escalates_on_the_2017_chain_only() {
        let r = report(&sysret_state(), Vendor::Amd);
        let esc: Vec<&Entry> = r
            .entries
            .iter()
            .filter(|e| e.finding.id == "path.escalation")
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
