//! Chains verified together over the classes: the batches are the outer loop, each
//! batch's representatives made once for every chain, and the chains that fold AVL
//! twins in walking the same batches as those that do not.

use alloc::vec::Vec;

use super::{Avl, Batch, Class, ClassRun, DomainState, Workspace, WrongSourceFormat};
use super::{MemberVerdicts, PartnerRefusals, entry, trips};
use super::{garbage, twins};
use crate::profile::{Chain, InFlight};
use crate::verify::normalise_masks::Source;

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// Classes a folded chain judged from the representatives made for a whole batch
    /// ([`Workspace::verify_classes_both`]): the sharing the tests hold to happen.
    pub(super) static FOLDED_FROM_WHOLE: core::cell::Cell<usize> =
        const { core::cell::Cell::new(0) };
    /// Chains that ran a batch in buffers an earlier chain of the pass ran the same
    /// batch in ([`Pass::judge`]): the sharing `chains_of_a_pass_run_in_one_set_of_buffers`
    /// holds to happen.
    static LENT_AGAIN: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    /// Sources of decoded representatives [`Made::make`] made: with the masks'
    /// judgments that read one, the sharing `masks_judge_from_sources_made_once_a_batch`
    /// holds to happen.
    static SOURCES_MADE: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// A batch's representatives and, side by side, their inputs and what the
/// normalisation's masks read of them: made once for every chain of the batch, each
/// chain copying the inputs in one piece and judging its masks from the sources.
#[derive(Default)]
struct Made {
    states: Vec<DomainState>,
    inputs: Vec<InFlight>,
    sources: Vec<Source>,
}

impl Made {
    fn make(&mut self, ws: &Workspace, batch: &[Class]) {
        ws.representatives(batch, &mut self.states);
        self.inputs.clear();
        self.inputs.extend(self.states.iter().map(|s| s.input));
        // A garbage state has no source: no mask judges it.
        let source = |s: &DomainState| {
            s.decoded
                .map_or_else(Source::default, |d| Source::of(&d, s.cpl))
        };
        self.sources.clear();
        self.sources.extend(self.states.iter().map(source));
        #[cfg(test)]
        self.sources.iter_mut().for_each(Source::share);
        #[cfg(all(test, feature = "std"))]
        SOURCES_MADE.with(|n| {
            let decoded = self.states.iter().filter(|s| s.decoded.is_some()).count();
            n.set(n.get() + decoded);
        });
    }

    /// The batch's representatives, their inputs and their sources, from `within`.
    fn within(&self, within: core::ops::Range<usize>) -> Representatives<'_> {
        Representatives {
            states: &self.states[within.clone()],
            inputs: &self.inputs[within.clone()],
            sources: &self.sources[within],
        }
    }
}

/// A batch's representatives (or a run of them) as [`Made`] made them.
#[derive(Clone, Copy)]
pub(super) struct Representatives<'m> {
    pub(super) states: &'m [DomainState],
    pub(super) inputs: &'m [InFlight],
    /// What the masks read of each decoded state ([`Source::of`]).
    pub(super) sources: &'m [Source],
}

/// Chains judging the same batches together: what they share from batch to batch
/// (which baselines each has, which chain starts from another's ops, the VM-entry
/// verdicts kept for one another).
struct Pass<'r, 'c> {
    runs: &'r mut [ClassRun<'c>],
    groups: Vec<u16>,
    prefixes: Vec<Option<(usize, usize)>>,
    members: MemberVerdicts,
    partners: PartnerRefusals,
    /// The buffers each chain runs a batch in, lent to one chain at a time
    /// ([`trips::Buffers`]).
    buffers: trips::Buffers,
}

impl<'r, 'c> Pass<'r, 'c> {
    fn new(ws: &Workspace, runs: &'r mut [ClassRun<'c>], avl: Avl) -> Self {
        let baselines: Vec<_> = runs.iter().map(|r| r.baselines).collect();
        let groups = entry::baseline_groups(&baselines);
        let chains: Vec<&Chain> = runs.iter().map(|r| r.chain).collect();
        let prefixes = trips::shared_prefixes(&chains);
        for run in runs.iter_mut() {
            run.twins = twins::Twins::walking(avl);
            run.garbage = garbage::Fold::new(ws, run.chain);
        }
        for &(j, k) in prefixes.iter().flatten() {
            runs[j].run.keep_after(k);
            // A later chain starts from what this one's ops make of every batch.
            runs[j].garbage = None;
        }
        Pass {
            runs,
            groups,
            prefixes,
            members: MemberVerdicts::default(),
            partners: PartnerRefusals::default(),
            buffers: trips::Buffers::default(),
        }
    }

    /// `batch`, whose representatives are `made`, through every chain.
    fn judge(
        &mut self,
        ws: &Workspace,
        batch: Batch<'_>,
        made: Representatives<'_>,
    ) -> Result<(), WrongSourceFormat> {
        self.members.start(batch.classes.len());
        for (i, &group) in self.groups.iter().enumerate() {
            let (earlier, later) = self.runs.split_at_mut(i);
            let from = match self.prefixes[i] {
                Some((j, k)) => earlier[j].run.kept(k),
                None => trips::Prefix::inputs(made.inputs),
            };
            let from = Some(from);
            let batch = (batch, made, from);
            let kept = (&mut self.members, &mut self.partners, group);
            let run = &mut later[0];
            run.run.swap_buffers(&mut self.buffers);
            let judged = ws.judge_batch(run, batch, kept);
            run.run.swap_buffers(&mut self.buffers);
            #[cfg(all(test, feature = "std"))]
            {
                // Everything the chain ran, it ran in the lent buffers.
                assert!(!run.run.has_own_buffers(), "{}", run.chain);
                if i > 0 {
                    LENT_AGAIN.with(|n| n.set(n.get() + 1));
                }
            }
            judged?;
        }
        Ok(())
    }

    /// Records the AVL twins still pending once every batch is judged.
    fn finish(self, ws: &Workspace) {
        for run in self.runs {
            while let Some(twin) = run.twins.take_before(u32::MAX) {
                let judges = (run.baselines, run.entry.as_ref());
                ws.record_twin(run.chain, judges, twin, &mut run.report);
            }
        }
    }
}

impl Workspace {
    /// Runs each class's representative through each chain of `runs` (in batches of one
    /// register) and records its verdict for the whole class; for chains ending in a
    /// VMCS, also checks VM entry on each consistent member.
    ///
    /// The batches are the outer loop: a batch's representatives are made once
    /// ([`Workspace::representatives`], into one buffer of [`BATCH`](super::super::BATCH) states) and every
    /// chain judges the batch while they are in cache. Each chain still sees the
    /// batches in order, so its report is the one it gets alone
    /// (`shared_workspaces_give_each_chains_own_report`).
    pub(in crate::verify) fn verify_classes(
        &self,
        runs: &mut [ClassRun<'_>],
        avl: Avl,
    ) -> Result<(), WrongSourceFormat> {
        let mut pass = Pass::new(self, runs, avl);
        let mut made = Made::default();
        for batch in self.classes.placed_batches(avl) {
            made.make(self, batch.classes);
            pass.judge(self, batch, made.within(0..batch.classes.len()))?;
        }
        pass.finish(self);
        Ok(())
    }

    /// [`Workspace::verify_classes`] for chains folding AVL twins in (`folded`) and
    /// chains running them apart (`apart`) in one walk of the whole class list, so that
    /// each batch's representatives are made once for both: a folded chain judges the
    /// runs of its classes within each whole batch (its twins' classes left out), from
    /// the same representatives. Each kind keeps its own shared verdicts as in a pass
    /// of its own, and each chain sees its classes in its own list's order; only its
    /// batch bounds may differ, which change nothing but how many classes it runs at
    /// once (`one_pass_gives_each_chains_own_report`).
    pub(in crate::verify) fn verify_classes_both(
        &self,
        folded: &mut [ClassRun<'_>],
        apart: &mut [ClassRun<'_>],
    ) -> Result<(), WrongSourceFormat> {
        if folded.is_empty() || apart.is_empty() {
            self.verify_classes(apart, Avl::Apart)?;
            return self.verify_classes(folded, Avl::Folded);
        }
        let mut apart_pass = Pass::new(self, apart, Avl::Apart);
        let mut folded_pass = Pass::new(self, folded, Avl::Folded);
        let mut left = self.classes.placed_batches(Avl::Folded);
        let mut next = left.next();
        let mut made = Made::default();
        for batch in self.classes.placed_batches(Avl::Apart) {
            made.make(self, batch.classes);
            apart_pass.judge(self, batch, made.within(0..batch.classes.len()))?;
            let (first, end) = (batch.first, batch.first + batch.classes.len() as u32);
            // The folded batches within this one: a folded batch is classes of one
            // register at consecutive places, so those before `end` sit at their
            // place's offset here; what lies beyond waits for the next batch.
            while let Some(f) = next.filter(|f| f.first < end) {
                let within = ((end - f.first) as usize).min(f.classes.len());
                let (here, rest) = f.split_at(within);
                let at = (here.first - first) as usize;
                let within = at..at + here.classes.len();
                folded_pass.judge(self, here, made.within(within))?;
                #[cfg(all(test, feature = "std"))]
                FOLDED_FROM_WHOLE.with(|n| n.set(n.get() + here.classes.len()));
                next = if rest.classes.is_empty() {
                    left.next()
                } else {
                    Some(rest)
                };
            }
        }
        debug_assert!(next.is_none(), "a folded class outside the whole list");
        apart_pass.finish(self);
        folded_pass.finish(self);
        Ok(())
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use alloc::format;
    use alloc::vec::Vec;

    use super::super::super::Workspace;
    use super::super::super::normalise_masks::{MASKED, SOURCES_READ};
    use super::{LENT_AGAIN, SOURCES_MADE};
    use crate::profile::{Chain, Format, builtin_chains};

    /// The chains of a pass run each batch in one set of buffers, lent to each in turn
    /// (`trips::Buffers`), and each still reports what it reports verified alone: every
    /// built-in chain from a VMCB (pipelines, interpreted chains going on from a shared
    /// prefix, chains of one format and of two, AVL-folded and apart), over the whole
    /// domain. Fails if no chain ran in buffers another had run the same batch in, or
    /// if a chain ran anything in buffers of its own (`Pass::judge` asserts that after
    /// each chain's batch).
    #[test]
    fn chains_of_a_pass_run_in_one_set_of_buffers() {
        let ws = Workspace::new(Format::Vmcb);
        let builtin = builtin_chains();
        let from_ws = |c: &&Chain| c.source() == ws.format;
        let chains: Vec<&Chain> = builtin.iter().filter(from_ws).collect();
        assert!(chains.len() > 10, "{} chains from a VMCB", chains.len());
        LENT_AGAIN.with(|n| n.set(0));
        let reports = ws.verify_together(&chains).expect("same source");
        let lent = LENT_AGAIN.with(core::cell::Cell::get);
        assert!(lent > chains.len(), "{lent} batches in buffers lent again");
        for (chain, report) in chains.iter().zip(&reports) {
            // Every field, the counts, violations and counterexamples alike.
            let alone = ws.verify(chain).expect("same source");
            assert_eq!(format!("{report:?}"), format!("{alone:?}"), "{chain}");
        }
    }

    /// The masks judge each representative from what they read of it made once a
    /// batch for every chain of the batch (`Made`'s sources), every built-in chain of
    /// every source format over the whole domain: each source read is held to the one
    /// made from that state alone (`RegisterMasks::keeps_source` asserts it under the
    /// tests, which with the masks' own proof, `masks_judge_as_normalise_expected_over_the_whole_domain`,
    /// makes each verdict `normalise::expected`'s), every masks' judgment of the
    /// verification reads one, and a source serves several chains. Fails if the chains
    /// make their own sources (none read) or a batch's sources are made per chain.
    #[test]
    fn masks_judge_from_sources_made_once_a_batch() {
        let builtin = builtin_chains();
        for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
            let ws = Workspace::new(format);
            let chains: Vec<&Chain> = builtin.iter().filter(|c| c.source() == format).collect();
            assert!(chains.len() > 3, "{} chains from {format:?}", chains.len());
            SOURCES_MADE.with(|n| n.set(0));
            SOURCES_READ.with(|n| n.set(0));
            let masked = MASKED.with(core::cell::Cell::get);
            ws.verify_together(&chains).expect("same source");
            let masked = MASKED.with(core::cell::Cell::get) - masked;
            let (made, read) = (
                SOURCES_MADE.with(|n| n.get()),
                SOURCES_READ.with(|n| n.get()),
            );
            assert!(made > 0, "{format:?}: no source made");
            assert_eq!(
                read, masked,
                "{format:?}: masks' judgments without a made source"
            );
            assert!(
                read > 2 * made,
                "{format:?}: {read} sources read of {made} made"
            );
        }
    }
}
