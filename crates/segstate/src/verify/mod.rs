//! Exhaustive verification of chains: every attribute combination of every register
//! through every conversion of a chain, checked for what must survive.
//!
//! Properties, per state of the domain ([`Workspace::states`]):
//! - **CPL preserved** (SS states): the CPL the destination means equals the source's;
//!   an **escalation** is a change to a more privileged level;
//! - **attributes preserved** up to the chain's documented normalisation
//!   (`normalise::expected`);
//! - **idempotent**: a second trip through the chain changes nothing (chains that end in
//!   the format they start from);
//! - **VM entry accepts** (chains ending in a VMCS): a source state with no
//!   architectural error yields segments that pass the VMX guest-segment checks.
//!
//! Each violation's first counterexamples name the rule responsible: the first rule
//! whose removal from the chain makes the violation go away.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::SegmentState;
use crate::arch::{PerSegReg, PrivilegeLevel, SegReg, Segment};
use crate::check::vmx_entry;
use crate::format::qemu::QemuSegmentCache;
use crate::profile::{
    Chain, Format, InFlight, Rule, SegmentValue, VcpuSegments, WrongSourceFormat,
};

pub(crate) mod blame;
#[cfg(test)]
mod compiled_domain;
pub(crate) mod domain;
mod entry;
#[cfg(all(test, feature = "std"))]
mod inlined_domain;
#[cfg(all(test, feature = "std"))]
mod inlined_vcpu_domain;
pub(crate) mod normalise;
mod normalise_masks;
mod normalise_stacks;
pub mod paths;
mod reduce;
#[cfg(test)]
mod stack_rules;
#[cfg(all(test, feature = "std"))]
mod stored_domain;
mod trips;

use domain::Domain;
pub use domain::{DomainState, baseline, sysret_state};
use trips::BatchRun;

/// States run through a chain together (see [`Chain::run_batch`]).
const BATCH: usize = 512;

/// How many counterexamples a report keeps per property.
pub const COUNTEREXAMPLES_PER_PROPERTY: usize = 3;

/// A property verify checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Property {
    /// The CPL changed (either way).
    CplChanged,
    /// The CPL became more privileged.
    Escalation,
    /// An attribute changed beyond the documented normalisation.
    AttributeLoss,
    /// A second trip through the chain changed the state again.
    NotIdempotent,
    /// Intel's VM entry would refuse the result of a consistent source state.
    VmxEntryRejected,
}

impl Property {
    /// Every property, in report order.
    pub const ALL: [Property; 5] = [
        Property::Escalation,
        Property::CplChanged,
        Property::AttributeLoss,
        Property::NotIdempotent,
        Property::VmxEntryRejected,
    ];

    /// Short stable name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Property::CplChanged => "cpl-changed",
            Property::Escalation => "escalation",
            Property::AttributeLoss => "attribute-loss",
            Property::NotIdempotent => "not-idempotent",
            Property::VmxEntryRejected => "vmx-entry-rejected",
        }
    }

    const fn index(self) -> usize {
        match self {
            Property::Escalation => 0,
            Property::CplChanged => 1,
            Property::AttributeLoss => 2,
            Property::NotIdempotent => 3,
            Property::VmxEntryRejected => 4,
        }
    }
}

display_by_name!(Property);

/// One state that violates a property.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counterexample {
    /// The property violated.
    pub property: Property,
    /// The register.
    pub reg: SegReg,
    /// The register at the source.
    pub before: InFlight,
    /// The register at the destination.
    pub after: InFlight,
    /// CPL at the source.
    pub cpl_before: PrivilegeLevel,
    /// CPL at the destination.
    pub cpl_after: PrivilegeLevel,
    /// The rules whose removal fixes it (`blame::responsible`): one rule, or the
    /// loss rules that must all go; empty when none does.
    pub responsible: Vec<Rule>,
    /// What was found wrong, in a line.
    pub detail: String,
}

/// Verification results for one chain.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChainReport {
    /// The chain.
    pub chain: Chain,
    /// States checked (covered): every state of the domain.
    pub states: u64,
    /// States run through the chain and judged: one per class of states the chain
    /// cannot tell apart (see `reduce`); all of them when the chain is not reduced.
    pub executed: u64,
    /// States that were garbage bytes (no strict decode).
    pub garbage_states: u64,
    /// Violations per property, in [`Property::ALL`] order.
    violations: [u64; 5],
    /// The first counterexamples of each property.
    pub counterexamples: Vec<Counterexample>,
    /// How many of `counterexamples` each property has, in [`Property::ALL`] order
    /// (what recording a violation asks, without walking them).
    kept: [u8; 5],
}

impl ChainReport {
    /// Violations of `property`.
    #[must_use]
    pub fn violations(&self, property: Property) -> u64 {
        self.violations[property.index()]
    }

    /// States where the CPL became more privileged.
    #[must_use]
    pub fn escalations(&self) -> u64 {
        self.violations(Property::Escalation)
    }

    /// True when no property is violated.
    #[must_use]
    pub fn is_sound(&self) -> bool {
        self.violations.iter().all(|&v| v == 0)
    }

    /// True when the CPL never changes.
    #[must_use]
    pub fn keeps_cpl(&self) -> bool {
        self.violations(Property::CplChanged) == 0
    }

    /// True while a violation of `property` would still be kept as a counterexample.
    fn keeps_more(&self, property: Property) -> bool {
        usize::from(self.kept[property.index()]) < COUNTEREXAMPLES_PER_PROPERTY
    }

    /// True while a violation of one of the properties whose bits `failed` has
    /// ([`Verdict::failed`]) would still be kept as a counterexample.
    #[inline(always)]
    fn keeps_any(&self, failed: u8) -> bool {
        (0..self.kept.len()).any(|i| {
            failed & 1 << i != 0 && usize::from(self.kept[i]) < COUNTEREXAMPLES_PER_PROPERTY
        })
    }

    /// Counts `n` more violations of each property whose bit `failed` has, keeping
    /// none: what recording them does once [`ChainReport::keeps_any`] is false.
    #[inline(always)]
    fn count_failed(&mut self, failed: u8, n: u64) {
        for (i, v) in self.violations.iter_mut().enumerate() {
            if failed & 1 << i != 0 {
                *v += n;
            }
        }
    }

    /// Counts `covers` more states of the domain, `state` among them (a class's
    /// representative stands for `covers`): garbage ones also as such.
    #[inline(always)]
    fn count_covered(&mut self, state: &DomainState, covers: u64) {
        self.states += covers;
        if state.decoded.is_none() {
            self.garbage_states += covers;
        }
    }

    /// Counts `n` more violations of `property` without keeping any: what recording
    /// each would do once [`ChainReport::keeps_more`] is false.
    fn count_unkept(&mut self, property: Property, n: u64) {
        self.violations[property.index()] += n;
    }
}

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// How many verdicts [`Workspace::record`] counted without calling
    /// [`Workspace::record_violations`]: the tests see that the counting path is taken.
    static COUNTED_ONLY: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    /// Set by a test: every violation goes through [`Workspace::record_violations`],
    /// the report the counting path is held to.
    static RECORD_VIOLATIONS_ALWAYS: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Everything chains with one source format share: the domain and the context.
#[derive(Debug)]
pub struct Workspace {
    format: Format,
    domain: Domain,
    classes: reduce::Classes,
    previous: PerSegReg<QemuSegmentCache>,
}

impl Workspace {
    /// Builds the domain for chains starting from `format`.
    #[must_use]
    pub fn new(format: Format) -> Self {
        Self::reusing(format, None)
    }

    /// [`Workspace::new`], built in the memory of `spent` (a workspace no longer
    /// needed) when there is one: its pages are written again instead of fresh ones
    /// being faulted in and zeroed.
    fn reusing(format: Format, spent: Option<Workspace>) -> Self {
        let domain = Domain::new(format);
        let spare = spent.map(|w| w.classes).unwrap_or_default();
        Workspace {
            format,
            classes: reduce::classes(&domain, spare),
            domain,
            previous: domain::previous_caches(),
        }
    }

    /// The domain, every state in domain order (made anew: the workspace keeps only
    /// what verification reads).
    #[must_use]
    pub fn states(&self) -> Vec<DomainState> {
        self.domain.states()
    }

    /// Verifies one chain over the domain, each class of states the chain cannot tell
    /// apart once (see `reduce`). Fails only if the chain starts elsewhere.
    pub fn verify(&self, chain: &Chain) -> Result<ChainReport, WrongSourceFormat> {
        if !reduce::applies(chain) {
            return self.verify_unreduced(chain);
        }
        let baselines = self.baseline_outputs(chain)?;
        let mut runs = [reduce::ClassRun::new(
            chain,
            baselines.as_ref(),
            self.empty_report(chain)?,
        )];
        self.verify_classes(&mut runs, reduce::avl(chain))?;
        let [run] = runs;
        Ok(run.into_report())
    }

    /// [`Workspace::verify`] for each of `chains`, the reports in their order: the
    /// reduced chains judge the classes batch by batch together (`verify_classes`), so
    /// a batch's representatives are made once for all of them, not once per chain.
    /// The chains whose classes fold AVL twins in and those whose do not keep their own
    /// lists of classes ([`reduce::Avl`]) but walk them in one pass, each batch's
    /// representatives made once for both (`verify_classes_both`).
    fn verify_together(&self, chains: &[&Chain]) -> Result<Vec<ChainReport>, WrongSourceFormat> {
        let reduced = |avl| {
            chains
                .iter()
                .copied()
                .enumerate()
                .filter(move |(_, c)| reduce::applies(c) && reduce::avl(c) == avl)
        };
        let baselines = chains
            .iter()
            .map(|c| match reduce::applies(c) {
                true => self.baseline_outputs(c),
                false => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let runs = |avl| {
            reduced(avl)
                .map(|(i, c)| {
                    let report = self.empty_report(c)?;
                    Ok((i, reduce::ClassRun::new(c, baselines[i].as_ref(), report)))
                })
                .collect::<Result<Vec<_>, WrongSourceFormat>>()
        };
        let (folded_at, mut folded): (Vec<usize>, Vec<_>) =
            runs(reduce::Avl::Folded)?.into_iter().unzip();
        let (apart_at, mut apart): (Vec<usize>, Vec<_>) =
            runs(reduce::Avl::Apart)?.into_iter().unzip();
        self.verify_classes_both(&mut folded, &mut apart)?;
        let mut reports: Vec<Option<ChainReport>> = chains.iter().map(|_| None).collect();
        let done = folded_at
            .into_iter()
            .zip(folded)
            .chain(apart_at.into_iter().zip(apart));
        for (i, run) in done {
            reports[i] = Some(run.into_report());
        }
        chains
            .iter()
            .zip(reports)
            .map(|(c, report)| match report {
                Some(report) => Ok(report),
                None => self.verify_unreduced(c),
            })
            .collect()
    }

    fn empty_report(&self, chain: &Chain) -> Result<ChainReport, WrongSourceFormat> {
        if chain.source() != self.format {
            return Err(WrongSourceFormat {
                expected: chain.source(),
                found: self.format,
            });
        }
        Ok(ChainReport {
            chain: chain.clone(),
            states: 0,
            executed: 0,
            garbage_states: 0,
            violations: [0; 5],
            counterexamples: Vec::new(),
            kept: [0; 5],
        })
    }

    /// Verifies one chain by running every state of the domain: what the reduced
    /// [`Workspace::verify`] is tested against, and what runs for a chain with an op
    /// the reduction does not know.
    pub fn verify_unreduced(&self, chain: &Chain) -> Result<ChainReport, WrongSourceFormat> {
        let mut report = self.empty_report(chain)?;
        let baselines = self.baseline_outputs(chain)?;
        let mut run = BatchRun::new(chain);
        let states = self.domain.states();
        let batches = states
            .chunk_by(|a, b| a.reg == b.reg)
            .flat_map(|same_reg| same_reg.chunks(BATCH));
        for batch in batches {
            let reg = batch[0].reg;
            run.run(chain, (reg, &self.previous[reg]), batch, None)?;
            for (i, state) in batch.iter().enumerate() {
                let (out, again) = run.output(i);
                let verdict = judge(chain, state, out, again, baselines.as_ref(), |b, o| {
                    entry::accepts(b, state.reg, state.baseline, o)
                });
                report.executed += 1;
                self.record(
                    chain,
                    state,
                    &verdict,
                    (1, 1),
                    baselines.as_ref(),
                    &mut report,
                );
            }
        }
        Ok(report)
    }

    /// Records `state`'s verdict: it covers `covers` states (its class when it stands
    /// for one, 0 when it only adds a class member's VM-entry result) and each of its
    /// violations counts `weight` times. Inlined: most verdicts find nothing, and most
    /// violations come once their properties keep no more counterexamples
    /// ([`ChainReport::keeps_any`]), counted here; only a violation that may be kept
    /// goes through [`Workspace::record_violations`].
    #[inline(always)]
    fn record(
        &self,
        chain: &Chain,
        state: &DomainState,
        verdict: &Verdict<'_>,
        (covers, weight): (u64, u64),
        baselines: Option<&[SegmentState; 4]>,
        report: &mut ChainReport,
    ) {
        report.count_covered(state, covers);
        if verdict.failed == 0 {
            return;
        }
        #[cfg(all(test, feature = "std"))]
        let counted_only = !RECORD_VIOLATIONS_ALWAYS.with(core::cell::Cell::get);
        #[cfg(not(all(test, feature = "std")))]
        let counted_only = true;
        if counted_only && !report.keeps_any(verdict.failed) {
            // No counterexample to keep: what `record_violations` would do, inlined
            // (most violations come after their properties' counterexamples are kept).
            #[cfg(all(test, feature = "std"))]
            COUNTED_ONLY.with(|n| n.set(n.get() + 1));
            report.count_failed(verdict.failed, weight);
        } else {
            self.record_violations(chain, state, verdict, weight, baselines, report);
        }
    }

    /// Counts each violation of `verdict` `weight` times and keeps it as a
    /// counterexample while its property has fewer than
    /// [`COUNTEREXAMPLES_PER_PROPERTY`].
    #[inline(never)]
    fn record_violations(
        &self,
        chain: &Chain,
        state: &DomainState,
        verdict: &Verdict<'_>,
        weight: u64,
        baselines: Option<&[SegmentState; 4]>,
        report: &mut ChainReport,
    ) {
        {
            for property in Property::ALL {
                if !verdict.has(property) {
                    continue;
                }
                report.violations[property.index()] += weight;
                if report.keeps_more(property) {
                    report.kept[property.index()] += 1;
                    report.counterexamples.push(Counterexample {
                        property,
                        reg: state.reg,
                        before: state.input,
                        after: *verdict.output,
                        cpl_before: state.cpl,
                        cpl_after: verdict.cpl_after,
                        responsible: responsible_rule(
                            chain,
                            state,
                            &self.previous,
                            baselines,
                            property,
                        ),
                        detail: describe(chain, state, verdict, property, baselines),
                    });
                }
            }
        }
    }

    /// For chains ending in a VMCS: each baseline run through the chain and decoded,
    /// the context the VM-entry check puts a varied register into.
    fn baseline_outputs(
        &self,
        chain: &Chain,
    ) -> Result<Option<[SegmentState; 4]>, WrongSourceFormat> {
        if chain.destination() != Format::Vmcs {
            return Ok(None);
        }
        let mut outs = [domain::baseline(PrivilegeLevel::Ring0); 4];
        for cpl in PrivilegeLevel::ALL {
            let base = domain::baseline(cpl);
            let encoded = domain::encode_state(self.format, &base);
            let VcpuSegments::Vmcs(segs) = chain.run_interpreted(&encoded, &self.previous)? else {
                unreachable!("the chain ends in a VMCS");
            };
            let mut state = base;
            for (reg, v) in segs.iter() {
                state.segments[reg] = Segment::try_from(*v).unwrap_or(base.segments[reg]);
            }
            state.cpl = segs[SegReg::Ss].access_rights.dpl();
            outs[cpl.bits() as usize] = state;
        }
        Ok(Some(outs))
    }
}

/// Verifies one chain over its whole domain (builds the domain; to verify many chains,
/// share a [`Workspace`] per source format, as [`verify_all`] does).
#[must_use]
pub fn verify_chain(chain: &Chain) -> ChainReport {
    Workspace::new(chain.source())
        .verify(chain)
        .expect("a workspace built for the chain's own source format")
}

/// Verifies every chain, building each source format's domain once (in the memory of
/// the one before, which is done with); the chains of one source format are verified
/// together (`Workspace::verify_together`).
#[must_use]
pub fn verify_all(chains: &[Chain]) -> Vec<ChainReport> {
    let mut reports: Vec<Option<ChainReport>> = chains.iter().map(|_| None).collect();
    let mut spent = None;
    for format in source_formats(chains) {
        let (at, of_format): (Vec<usize>, Vec<&Chain>) = chains
            .iter()
            .enumerate()
            .filter(|(_, c)| c.source() == format)
            .unzip();
        let ws = Workspace::reusing(format, spent.take());
        let together = ws
            .verify_together(&of_format)
            .expect("workspace matches the chains' source");
        spent = Some(ws);
        for (i, report) in at.into_iter().zip(together) {
            reports[i] = Some(report);
        }
    }
    reports
        .into_iter()
        .map(|r| r.expect("every chain was verified"))
        .collect()
}

/// The source formats of `chains`, each once, in the order they first appear.
fn source_formats(chains: &[Chain]) -> Vec<Format> {
    let mut formats: Vec<Format> = Vec::new();
    for c in chains {
        if !formats.contains(&c.source()) {
            formats.push(c.source());
        }
    }
    formats
}

/// [`verify_all`] on `threads` threads: the domains are built once, then the chains
/// are shared out; the reports come back in the order of `chains`. Chains are
/// independent, so the result is the same as [`verify_all`]'s.
#[cfg(feature = "std")]
#[must_use]
pub fn verify_all_parallel(chains: &[Chain], threads: usize) -> Vec<ChainReport> {
    use std::sync::Mutex;
    let workspaces: Vec<Workspace> = std::thread::scope(|scope| {
        let handles: Vec<_> = source_formats(chains)
            .iter()
            .map(|&f| scope.spawn(move || Workspace::new(f)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("building a domain does not panic"))
            .collect()
    });
    let next = Mutex::new(0usize);
    let slots: Mutex<Vec<Option<ChainReport>>> = Mutex::new(chains.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(chain) = chains.get(i) else { break };
                    let at = workspaces
                        .iter()
                        .position(|w| w.format == chain.source())
                        .expect("a workspace per source format");
                    let report = workspaces[at]
                        .verify(chain)
                        .expect("workspace matches the chain's source");
                    slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(report);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every chain was verified"))
        .collect()
}

/// The outcome of one state: which properties failed, as bits of [`Property::index`].
/// It borrows the trips it judged: a verdict is made per state and read past `failed`
/// only for a counterexample, and copying the two 40-byte values into each verdict was
/// a tenth of the judging loop (`perf annotate`, `BENCHMARKS.md` §2, step 13).
#[derive(Clone, Copy)]
struct Verdict<'t> {
    output: &'t InFlight,
    cpl_after: PrivilegeLevel,
    decoded_out: Option<Segment>,
    again: Option<&'t InFlight>,
    failed: u8,
}

impl Verdict<'_> {
    fn has(&self, p: Property) -> bool {
        self.failed & (1 << p.index()) != 0
    }
}

/// The CPL a destination register means (only SS carries it); `fallback` for a QEMU
/// value, which has no CPL of its own.
#[must_use]
pub fn cpl_of(at: &InFlight, fallback: PrivilegeLevel) -> PrivilegeLevel {
    match at.value {
        SegmentValue::Vmcb(_) => PrivilegeLevel::from_low_bits(at.vmcb_cpl),
        SegmentValue::Vmcs(v) => v.access_rights.dpl(),
        SegmentValue::Kvm(k) => PrivilegeLevel::from_low_bits(k.dpl),
        SegmentValue::Qemu(_) => fallback,
        SegmentValue::Stack(v) => v.dpl(),
    }
}

/// The whole destination state a varied register lands in, for the VM-entry check.
fn entry_context(
    baselines: &[SegmentState; 4],
    reg: SegReg,
    baseline: PrivilegeLevel,
    decoded_out: Option<Segment>,
) -> SegmentState {
    let mut whole = baselines[baseline.bits() as usize];
    if let Some(seg) = decoded_out {
        whole.segments[reg] = seg;
    }
    whole
}

/// Runs one state through the chain (and again, for idempotence) and judges it: the
/// failed properties, as bits of [`Property::index`].
fn evaluate(
    chain: &Chain,
    state: &DomainState,
    previous: &PerSegReg<QemuSegmentCache>,
    baselines: Option<&[SegmentState; 4]>,
) -> u8 {
    let (out, again) = trips_alone(chain, state, &previous[state.reg]);
    let verdict = judge(chain, state, &out, again.as_ref(), baselines, |b, o| {
        entry::accepts(b, state.reg, state.baseline, o)
    });
    verdict.failed
}

/// `state`'s trip through `chain` run alone (interpreted, nothing shared), and its
/// second trip when the chain ends in the format it starts from (idempotence): what the
/// unreduced path judges, and what an AVL twin runs when it may add a counterexample.
fn trips_alone(
    chain: &Chain,
    state: &DomainState,
    previous: &QemuSegmentCache,
) -> (InFlight, Option<InFlight>) {
    let out = chain.interpret(state.reg, state.input, previous);
    let again =
        (chain.source() == chain.destination()).then(|| chain.interpret(state.reg, out, previous));
    (out, again)
}

/// Judges one state given its trip (and second trip) through the chain; `entry_accepts`
/// is asked whether VM entry takes the result (chains into a VMCS, consistent states).
fn judge<'t>(
    chain: &Chain,
    state: &DomainState,
    out: &'t InFlight,
    again: Option<&'t InFlight>,
    baselines: Option<&[SegmentState; 4]>,
    entry_accepts: impl FnOnce(&[SegmentState; 4], Option<Segment>) -> bool,
) -> Verdict<'t> {
    let walked = |before: &Segment, after: &Segment| {
        *after == normalise::expected(chain.ops(), state.reg, before, state.cpl)
    };
    judge_by(state, (out, again), baselines, walked, entry_accepts)
}

/// [`judge`], with `keeps` saying whether the decoded output is what the chain's
/// normalisation may make of the decoded input (`normalise::expected`, walked or as
/// [`normalise_masks::RegisterMasks`]).
#[inline(always)]
fn judge_by<'t>(
    state: &DomainState,
    (out, again): (&'t InFlight, Option<&'t InFlight>),
    baselines: Option<&[SegmentState; 4]>,
    keeps: impl FnOnce(&Segment, &Segment) -> bool,
    entry_accepts: impl FnOnce(&[SegmentState; 4], Option<Segment>) -> bool,
) -> Verdict<'t> {
    let reg = state.reg;
    let mut failed = 0u8;
    let mut fail = |p: Property| failed |= 1 << p.index();
    let cpl_after = if reg == SegReg::Ss {
        cpl_of(out, state.cpl)
    } else {
        state.cpl
    };
    if cpl_after != state.cpl {
        fail(Property::CplChanged);
        if cpl_after < state.cpl {
            fail(Property::Escalation);
        }
    }
    // A fixed point's second trip is the output itself (`trips`), and that output is
    // the input, which the domain decoded already (`DomainState::decoded`): no decode.
    let fixed_point = again.is_some_and(|second| core::ptr::eq(second, out));
    // One call of `keeps`, so that it inlines here: a fixed point's input stands for
    // its output.
    let decoded_out = match fixed_point {
        true => state.decoded,
        false => out.value.decode(),
    };
    let kept = match (&state.decoded, &decoded_out) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(before), Some(after)) => keeps(before, after),
    };
    if !kept {
        fail(Property::AttributeLoss);
    }
    // Nor anything to compare it with.
    if let Some(second) = again.filter(|_| !fixed_point) {
        let cpl_moved = reg == SegReg::Ss && second.vmcb_cpl != out.vmcb_cpl;
        if second.value != out.value || cpl_moved {
            fail(Property::NotIdempotent);
        }
    }
    if let (Some(baselines), true) = (baselines, state.consistent)
        && !entry_accepts(baselines, decoded_out)
    {
        fail(Property::VmxEntryRejected);
    }
    Verdict {
        output: out,
        cpl_after,
        decoded_out,
        again,
        failed,
    }
}

/// The one-line detail of a kept counterexample (formatted only for those).
fn describe(
    chain: &Chain,
    state: &DomainState,
    verdict: &Verdict<'_>,
    property: Property,
    baselines: Option<&[SegmentState; 4]>,
) -> String {
    match property {
        Property::CplChanged => format!("CPL {} -> {}", state.cpl, verdict.cpl_after),
        Property::Escalation => format!(
            "CPL {} -> {}: privilege escalation",
            state.cpl, verdict.cpl_after
        ),
        Property::AttributeLoss => match (state.decoded, verdict.decoded_out) {
            (Some(before), Some(a)) => {
                let e = normalise::expected(chain.ops(), state.reg, &before, state.cpl);
                difference(&e, &a)
            }
            _ => String::from("the result does not decode"),
        },
        Property::NotIdempotent => match verdict.again {
            Some(again) => format!("second trip: {} -> {}", show(verdict.output), show(again)),
            None => String::new(),
        },
        Property::VmxEntryRejected => baselines
            .map(|b| {
                let whole = entry_context(b, state.reg, state.baseline, verdict.decoded_out);
                let findings =
                    vmx_entry::check(&whole, vmx_entry::VmxEntryControls::kvm_default(whole.efer));
                findings.first().map(|f| format!("{f}")).unwrap_or_default()
            })
            .unwrap_or_default(),
    }
}

/// The rules whose removal makes `property` hold for `state` (`blame::responsible`).
fn responsible_rule(
    chain: &Chain,
    state: &DomainState,
    previous: &PerSegReg<QemuSegmentCache>,
    baselines: Option<&[SegmentState; 4]>,
    property: Property,
) -> Vec<Rule> {
    blame::responsible(chain, |c| {
        evaluate(c, state, previous, baselines) & 1 << property.index() == 0
    })
}

fn difference(expected: &Segment, actual: &Segment) -> String {
    format!(
        "expected vs actual: {}",
        paths::difference(expected, actual)
    )
}

/// A register value in one line, in its own format's terms.
#[must_use]
pub fn show(at: &InFlight) -> String {
    match at.value {
        SegmentValue::Vmcb(v) => format!(
            "VMCB sel={:#06x} attrib={:#05x} limit={:#x} base={:#x} cpl={}",
            v.selector, v.attrib.0, v.limit, v.base, at.vmcb_cpl
        ),
        SegmentValue::Vmcs(v) => format!(
            "VMCS sel={:#06x} ar={:#07x} limit={:#x} base={:#x}",
            v.selector, v.access_rights.0, v.limit, v.base
        ),
        SegmentValue::Kvm(k) => format!("kvm {k}"),
        SegmentValue::Qemu(q) => format!(
            "QEMU sel={:#06x} flags={:#010x} limit={:#x} base={:#x}",
            q.selector, q.flags.0, q.limit, q.base
        ),
        SegmentValue::Stack(v) => format!("{v}"),
    }
}
