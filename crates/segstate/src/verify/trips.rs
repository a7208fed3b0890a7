//! One batch of states of one register through a chain, and, for a chain that ends in
//! the format it starts from, its outputs through the chain again (what
//! idempotence is judged on).
//!
//! The second trip runs once per distinct output of the batch, not once per state. A
//! chain is a function of the register, the value (with the VMCB CPL byte) and the
//! previous QEMU cache, all fixed within a batch but the value, so:
//!
//! - an output equal to its own input is a fixed point: its second trip is itself
//!   (`f(x) = x` gives `f(f(x)) = f(x)`), and nothing runs;
//! - outputs equal to each other have equal second trips, run once.
//!
//! Chains verified together also share the ops they start with: where a chain's first
//! `k` ops are an earlier chain's, that chain keeps what its first `k` ops made of the
//! batch and the later one goes on from there ([`shared_prefixes`]): the same ops on
//! the same values give the same values. Only chains without a pipeline share: a
//! chain with one runs whole through it, which costs less than going on op by op
//! interpreted from a shared get (and keeping for others would take its first trip
//! off its pipeline too); `BENCHMARKS.md` §2, step 27. The other stacks' chains from
//! a VMCB share `kvm-svm`'s get, for example.
//!
//! A trip of the whole chain (every first trip that keeps nothing for a later chain,
//! every second trip) runs through the chain's monomorphised pipeline where its shape
//! has one (`profile/specialised.rs`: the KVM/QEMU shapes and the other stacks'
//! heaviest), else op by op interpreted;
//! `every_state_gets_its_own_trips` holds both to the chain interpreted state by state
//! and checks that the pipelines were taken.
//!
//! Most chains normalise: a sixth to two thirds of a batch's outputs are distinct
//! (`BENCHMARKS.md` §2, step 10), and the bhyve and nested chains, which change
//! nothing, are all fixed points. No property of any op is assumed beyond it being a
//! function; `every_state_gets_its_own_trips` holds each state's outputs equal to the
//! chain run on that state alone, for every built-in chain and each with a rule
//! switched off, and `chains_going_on_from_a_shared_prefix_get_their_own_outputs` the
//! same for those chains run together.

use alloc::vec::Vec;
use core::hash::{Hash, Hasher};

use super::DomainState;
use crate::arch::SegReg;
use crate::format::qemu::QemuSegmentCache;
use crate::profile::{Chain, InFlight, SegmentValue, WrongSourceFormat};

/// Slots of the table that finds equal outputs: four per state of a full batch, so
/// few distinct outputs share one (a shared slot only costs a second trip run twice).
const SLOTS: usize = 4 * super::BATCH;
/// An empty slot.
const EMPTY: u16 = u16::MAX;
/// The second trip of an output that equals its input: the output itself.
const FIXED_POINT: u16 = u16::MAX;
// Indices into a batch fit below both markers.
const _: () = assert!(super::BATCH < EMPTY as usize && SLOTS.is_power_of_two());

/// The value of an output of variant `$shape` ([`find_distinct`]'s `shape`).
macro_rules! shape {
    ($shape:ident) => {
        |v: &SegmentValue| match v {
            SegmentValue::$shape(s) => Some(s),
            _ => None,
        }
    };
}

/// The outputs of one batch, and their second trips when the chain is of one format.
/// The buffers are kept across batches: the run's own, or lent by the chains' pass
/// for the time of one chain's batch ([`BatchRun::swap_buffers`]).
pub(super) struct BatchRun {
    buffers: Buffers,
    same_format: bool,
    /// After how many ops the batch is kept for later chains, ascending, each with what
    /// was kept.
    kept: Vec<(usize, Vec<InFlight>)>,
    /// How many trips ran through a pipeline.
    #[cfg(test)]
    piped: usize,
    /// How many batches searched their distinct outputs by one shape's value.
    #[cfg(test)]
    shaped: usize,
}

/// What a [`BatchRun`] runs one batch in, used by nothing once its batch is judged: so
/// the chains verified together share one, lent to each chain in turn
/// (`verify/reduce/pass.rs`), and its pages are written once, where a buffer per chain
/// wrote ~45 KB of fresh pages per chain (`BENCHMARKS.md` §2, step 36). Each buffer is
/// sized when first used, so a run that is lent one allocates nothing of its own.
#[derive(Default)]
pub(super) struct Buffers {
    outs: Vec<InFlight>,
    /// The distinct outputs that are not fixed points, each run through the chain again.
    agains: Vec<InFlight>,
    /// Per output, its second trip's index in `agains`, or [`FIXED_POINT`].
    again_of: Vec<u16>,
    /// Output hash → index in `agains` of the last distinct output with that hash.
    slots: Vec<u16>,
}

impl BatchRun {
    pub(super) fn new(chain: &Chain) -> Self {
        Self {
            buffers: Buffers::default(),
            same_format: chain.source() == chain.destination(),
            kept: Vec::new(),
            #[cfg(test)]
            piped: 0,
            #[cfg(test)]
            shaped: 0,
        }
    }

    /// Swaps the run's buffers with `lent`: a pass lends its chains one set in turn,
    /// before a chain judges a batch, and takes it back after. Only what the run keeps
    /// for later chains ([`BatchRun::keep_after`]) stays its own.
    pub(super) fn swap_buffers(&mut self, lent: &mut Buffers) {
        core::mem::swap(&mut self.buffers, lent);
    }

    /// Whether the run has buffers of its own (none while it was only ever lent
    /// them).
    #[cfg(test)]
    pub(super) fn has_own_buffers(&self) -> bool {
        self.buffers.outs.capacity() > 0
    }

    /// Keeps what the chain's first `ops` ops make of each batch, for a later chain that
    /// starts with the same ops ([`BatchRun::kept`]).
    pub(super) fn keep_after(&mut self, ops: usize) {
        if let Err(at) = self.kept.binary_search_by_key(&ops, |(n, _)| *n) {
            self.kept
                .insert(at, (ops, Vec::with_capacity(super::BATCH)));
        }
    }

    /// What the chain's first `ops` ops made of the last batch ([`BatchRun::keep_after`]).
    pub(super) fn kept(&self, ops: usize) -> Prefix<'_> {
        let at = self.kept.binary_search_by_key(&ops, |(n, _)| *n);
        Prefix {
            values: &self.kept[at.expect("asked to keep it")].1,
            ops,
        }
    }

    /// Runs the inputs of `states`, all of register `reg`, through `chain`, and the
    /// distinct outputs that are not fixed points through it again when it is of one
    /// format. With `from`, what the chain's first ops made of those inputs (another
    /// chain's [`BatchRun::kept`]), only the ops after those run.
    pub(super) fn run(
        &mut self,
        chain: &Chain,
        (reg, previous): (SegReg, &QemuSegmentCache),
        states: &[DomainState],
        from: Option<Prefix<'_>>,
    ) -> Result<(), WrongSourceFormat> {
        // Room for a whole batch once (a buffer lent by the pass already has it).
        self.buffers.outs.clear();
        self.buffers.outs.reserve(super::BATCH);
        let outs = &mut self.buffers.outs;
        let mut done = match from {
            Some(Prefix { values, ops }) => {
                outs.extend_from_slice(values);
                ops
            }
            None => {
                outs.extend(states.iter().map(|s| s.input));
                0
            }
        };
        for (k, kept) in &mut self.kept {
            chain.run_batch_interpreted(reg, outs, previous, done..*k)?;
            kept.clear();
            kept.extend_from_slice(outs);
            done = *k;
        }
        let ops = chain.ops().len();
        // The whole chain from its input, nothing kept on the way: its pipeline, if its
        // shape has one.
        let whole = done == 0;
        if whole && chain.run_batch_pipeline(reg, outs, previous) {
            #[cfg(test)]
            {
                self.piped += 1;
            }
        } else {
            chain.run_batch_interpreted(reg, outs, previous, done..ops)?;
        }
        self.again(chain, (reg, previous), states)
    }

    /// The second trips of the batch's outputs, when the chain is of one format: the
    /// distinct outputs that are not fixed points through the chain again.
    fn again(
        &mut self,
        chain: &Chain,
        (reg, previous): (SegReg, &QemuSegmentCache),
        states: &[DomainState],
    ) -> Result<(), WrongSourceFormat> {
        if !self.same_format {
            return Ok(());
        }
        let Buffers {
            outs,
            agains,
            again_of,
            slots,
        } = &mut self.buffers;
        agains.clear();
        again_of.clear();
        agains.reserve(super::BATCH);
        again_of.reserve(super::BATCH);
        // Sized on the first batch (a buffer lent is already), emptied on every one.
        slots.clear();
        slots.resize(SLOTS, EMPTY);
        // The shape of the first output picks the search's comparison and key, so the
        // loop does not jump on each value's shape; an output of another shape still
        // compares and hashes whole (`same_by`, `slot_by`).
        let found = (
            outs.as_slice(),
            states,
            &mut *agains,
            &mut *again_of,
            &mut **slots,
        );
        let shaped = match outs.first().map(|o| &o.value) {
            Some(SegmentValue::Vmcb(_)) => find_distinct(found, shape!(Vmcb)),
            Some(SegmentValue::Vmcs(_)) => find_distinct(found, shape!(Vmcs)),
            Some(SegmentValue::Kvm(_)) => find_distinct(found, shape!(Kvm)),
            Some(SegmentValue::Stack(_)) => find_distinct(found, shape!(Stack)),
            _ => {
                find_distinct(found, shape_any);
                false
            }
        };
        #[cfg(test)]
        {
            self.shaped += usize::from(shaped);
        }
        #[cfg(not(test))]
        let _ = shaped;
        if chain.run_batch_pipeline(reg, agains, previous) {
            #[cfg(test)]
            {
                self.piped += 1;
            }
            return Ok(());
        }
        chain.run_batch_interpreted(reg, agains, previous, 0..chain.ops().len())
    }

    /// State `i`'s output, and that output run again when the chain is of one format.
    /// (Borrowed: copying the 40-byte values out and back cost a store-forwarding stall
    /// per state.)
    pub(super) fn output(&self, i: usize) -> (&InFlight, Option<&InFlight>) {
        let Buffers {
            outs,
            agains,
            again_of,
            ..
        } = &self.buffers;
        let out = &outs[i];
        let again = self.same_format.then(|| match again_of[i] {
            FIXED_POINT => out,
            at => &agains[usize::from(at)],
        });
        (out, again)
    }

    /// How many second trips the last batch ran (the distinct outputs that are not
    /// fixed points).
    #[cfg(test)]
    pub(super) fn second_trips(&self) -> usize {
        self.buffers.agains.len()
    }
}

/// What a chain's first `ops` ops made of a batch, kept by an earlier chain that starts
/// with the same ops ([`shared_prefixes`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Prefix<'a> {
    values: &'a [InFlight],
    ops: usize,
}

impl<'a> Prefix<'a> {
    /// The batch's inputs themselves (no op run yet), gathered once for every chain of
    /// the batch beside its representatives: each chain copies them in one piece rather
    /// than picking each from its state.
    pub(super) fn inputs(values: &'a [InFlight]) -> Self {
        Prefix { values, ops: 0 }
    }
}

/// For each of `chains` (verified together, batch by batch in this order), the earlier
/// chain it starts from and after how many ops: the earliest of those sharing the
/// longest run of first ops with it, if any, among the chains without a pipeline
/// ([`Chain::has_pipeline`]; one with a pipeline runs whole). The earliest, so the chain it starts from
/// started before that point itself (a chain sharing more with that one came earlier
/// still and would share as much).
pub(super) fn shared_prefixes(chains: &[&Chain]) -> Vec<Option<(usize, usize)>> {
    let mut plan: Vec<Option<(usize, usize)>> = Vec::with_capacity(chains.len());
    for (i, chain) in chains.iter().enumerate() {
        // A chain with a pipeline runs whole: it neither goes on from another's ops nor
        // keeps its own for a later chain.
        if chain.has_pipeline() {
            plan.push(None);
            continue;
        }
        let shared = |other: &Chain| {
            let same = other.ops().iter().zip(chain.ops());
            same.take_while(|(a, b)| a == b).count()
        };
        let mut best: Option<(usize, usize)> = None;
        for (j, other) in chains[..i].iter().enumerate() {
            if other.has_pipeline() {
                continue;
            }
            let k = shared(other);
            if k > best.map_or(0, |(_, k)| k) {
                best = Some((j, k));
            }
        }
        // What the earlier chain keeps is made before its own last op at the latest.
        debug_assert!(best.is_none_or(|(j, k)| plan[j].is_none_or(|(_, from)| from < k)));
        plan.push(best);
    }
    plan
}

/// The distinct outputs of a batch that are not fixed points, into `agains`, and
/// each output's second trip's index (or [`FIXED_POINT`]) into `again_of`. `shape`
/// picks the value of one shape out of an output: two outputs of that shape compare
/// and hash by that value alone (no jump on the shape per comparison); any other
/// output compares whole ([`same`]) and hashes whole. Always true (a batch's shape
/// was searched for), for the test's count of shaped batches.
#[inline(always)]
fn find_distinct<T: PartialEq + Hash>(
    (outs, states, agains, again_of, slots): Found<'_>,
    shape: impl Fn(&SegmentValue) -> Option<&T> + Copy,
) -> bool {
    for (i, (out, state)) in outs.iter().zip(states).enumerate() {
        if same_by(shape, out, &state.input) {
            again_of.push(FIXED_POINT);
            continue;
        }
        // Neighbours in domain order often normalise alike: no hash for a repeat.
        if let Some(&at) = again_of.last().filter(|&&at| at != FIXED_POINT)
            && same_by(shape, &outs[i - 1], out)
        {
            again_of.push(at);
            continue;
        }
        let slot = &mut slots[slot_by(shape, out)];
        let at = match *slot {
            seen if seen != EMPTY && same_by(shape, &agains[usize::from(seen)], out) => seen,
            _ => {
                let at = agains.len() as u16;
                agains.push(*out);
                *slot = at;
                at
            }
        };
        again_of.push(at);
    }
    true
}

/// `a == b` ([`same`]), by `shape`'s value when both are of its shape.
#[inline(always)]
fn same_by<T: PartialEq>(
    shape: impl Fn(&SegmentValue) -> Option<&T>,
    a: &InFlight,
    b: &InFlight,
) -> bool {
    match (shape(&a.value), shape(&b.value)) {
        (Some(x), Some(y)) => x == y && a.vmcb_cpl == b.vmcb_cpl,
        _ => same(a, b),
    }
}

/// `out`'s slot, hashed by `shape`'s value when it is of its shape, else whole.
#[inline(always)]
fn slot_by<T: Hash>(shape: impl Fn(&SegmentValue) -> Option<&T>, out: &InFlight) -> usize {
    match shape(&out.value) {
        Some(x) => slot_of_parts(x, out.vmcb_cpl),
        None => slot_of_parts(&out.value, out.vmcb_cpl),
    }
}

/// What [`find_distinct`] reads (a batch's outputs and states) and fills (the distinct
/// outputs, each output's index among them, the hash slots).
type Found<'a> = (
    &'a [InFlight],
    &'a [DomainState],
    &'a mut Vec<InFlight>,
    &'a mut Vec<u16>,
    &'a mut [u16],
);

/// Any output whole: compared as [`same`] does, hashed as `InFlight` is.
#[inline(always)]
fn shape_any(v: &SegmentValue) -> Option<&SegmentValue> {
    Some(v)
}

/// `a == b`, always inlined: the derived `InFlight::eq` is left to the compiler's
/// choice, which put it out of line once the pipelines grew (a call per comparison,
/// three per output; `SegmentValue`'s own comparison is written to inline).
#[inline(always)]
fn same(a: &InFlight, b: &InFlight) -> bool {
    a.value == b.value && a.vmcb_cpl == b.vmcb_cpl
}

/// The slot of an output's `value` and `cpl` in [`BatchRun`]'s table.
#[inline(always)]
fn slot_of_parts<T: Hash + ?Sized>(value: &T, cpl: u8) -> usize {
    let mut h = WordHasher(0);
    value.hash(&mut h);
    cpl.hash(&mut h);
    // One multiply: the high bits of the product mix every bit of the folded words.
    (h.0.wrapping_mul(0x517c_c1b7_2722_0a95) >> (64 - SLOTS.trailing_zeros())) as usize
}

/// A rotate-xor fold of the words `Hash` writes, multiplied once in [`slot_of_parts`] (the
/// values are small and fixed-size; only spreading them over the slots matters, not
/// resisting collisions, and a multiply per word made a serial chain per output).
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(19) ^ n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::reduce::tests::{chains_and_workspaces, workspace_of};

    /// Each state of `batch`'s output and second trip in `run` equal `chain` run on
    /// that state alone.
    fn assert_own_trips(
        chain: &Chain,
        run: &BatchRun,
        (reg, previous): (SegReg, &QemuSegmentCache),
        batch: &[DomainState],
    ) {
        for (i, state) in batch.iter().enumerate() {
            let out = chain.interpret(reg, state.input, previous);
            let (got, again) = run.output(i);
            assert_eq!(*got, out, "{chain}: {state:?}");
            let second = run.same_format.then(|| chain.interpret(reg, out, previous));
            assert_eq!(again.copied(), second, "{chain}: {state:?}");
        }
    }

    /// Runs every state of `ws`'s domain through `chain`, batch by batch as verify
    /// does, and hands each batch's run to `judged`.
    fn each_batch(
        chain: &Chain,
        ws: &crate::verify::Workspace,
        mut judged: impl FnMut(&BatchRun, (SegReg, &QemuSegmentCache), &[DomainState]),
    ) {
        let states = ws.states();
        let mut run = BatchRun::new(chain);
        let batches = states
            .chunk_by(|a, b| a.reg == b.reg)
            .flat_map(|same_reg| same_reg.chunks(super::super::BATCH));
        for batch in batches {
            let reg = batch[0].reg;
            run.run(chain, (reg, &ws.previous[reg]), batch, None)
                .expect("same source");
            judged(&run, (reg, &ws.previous[reg]), batch);
        }
    }

    /// Each state's output and second trip out of a batch equal the chain run on that
    /// state alone, for every built-in chain and each with one rule switched off, over
    /// every state of the domain; and the second trips really were shared (fewer run
    /// than states), so the test would see a wrong sharing; and more than half the
    /// chains ran their whole trips through their pipelines, held here to the
    /// interpreter (`Chain::interpret`) state by state, a rule switched off among them
    /// (their pipelines take the rules as data, today's fold them in: both are held).
    #[test]
    fn every_state_gets_its_own_trips() {
        let (chains, workspaces) = chains_and_workspaces();
        let (mut states_seen, mut trips_run) = (0usize, 0usize);
        let (mut piped_chains, mut piped_switched) = (0usize, 0usize);
        for chain in &chains {
            let mut piped = 0;
            each_batch(chain, workspace_of(&workspaces, chain), |run, at, batch| {
                assert_own_trips(chain, run, at, batch);
                if run.same_format {
                    states_seen += batch.len();
                    trips_run += run.second_trips();
                }
                piped = run.piped;
            });
            piped_chains += usize::from(piped > 0);
            let switched = chain.steps().iter().any(|s| s.rules != s.profile.rules);
            piped_switched += usize::from(piped > 0 && switched);
        }
        assert!(
            trips_run * 2 < states_seen,
            "{trips_run} trips for {states_seen} states"
        );
        // The pipelines were taken (310 of the 416 chains run alone), so their outputs
        // were held to the interpreter's.
        assert!(
            piped_chains * 2 > chains.len(),
            "{piped_chains} of {} chains ran through a pipeline",
            chains.len()
        );
        assert!(
            piped_switched * 2 > piped_chains,
            "{piped_switched} of {piped_chains} piped chains have a rule switched off"
        );
    }

    /// The other stacks' chains with a pipeline (and the QEMU migration's) run through
    /// it, whole, and every state's output and second trip equal the chain interpreted
    /// on that state alone, over every state of the domain: each such built-in chain
    /// and each with one rule switched off. Fails if one of them fell back on the
    /// interpreter (`piped` counts the trips its pipeline ran).
    #[test]
    fn pipelines_of_the_other_stacks_equal_the_interpreter() {
        use crate::profile::OTHER_PIPELINES;
        let (chains, workspaces) = chains_and_workspaces();
        let listed: Vec<Chain> = OTHER_PIPELINES
            .iter()
            .map(|(spec, _)| spec.parse().expect("parses"))
            .collect();
        let shaped = |chain: &Chain| {
            listed.iter().any(|built| {
                built.steps().len() == chain.steps().len()
                    && built
                        .steps()
                        .iter()
                        .zip(chain.steps())
                        .all(|(a, b)| a.profile == b.profile)
            })
        };
        // Each listed chain is built in, and comes with each of its rules switched off.
        let builtin = crate::profile::builtin_chains();
        assert!(listed.iter().all(|l| builtin.contains(l)));
        let due: usize = builtin
            .iter()
            .filter(|b| shaped(b))
            .map(|b| b.rules().iter().count() + 1)
            .sum();
        let mut checked = 0;
        for chain in &chains {
            if !shaped(chain) {
                continue;
            }
            assert!(chain.has_pipeline(), "{chain}");
            let mut piped = 0;
            each_batch(chain, workspace_of(&workspaces, chain), |run, at, batch| {
                assert_own_trips(chain, run, at, batch);
                piped = run.piped;
            });
            assert!(piped > 0, "{chain} never ran through its pipeline");
            checked += 1;
        }
        // The listed chains' shapes, each also with every one of its rules switched off.
        assert!(due > 2 * OTHER_PIPELINES.len(), "{due} chains due");
        assert_eq!(checked, due, "chains checked");
    }

    /// The search for a batch's distinct outputs by the shape of its first output
    /// (`find_distinct` with a shape's value compared and hashed alone) marks exactly
    /// the outputs equal to their inputs as fixed points and maps every other output
    /// to the second trip of an entry equal to it (the chain run on the output, by the
    /// derived comparison of the whole value), as the search comparing whole values
    /// maps it to an entry equal to it: every state of the
    /// domain of every built-in chain of one format and each with one rule switched
    /// off. Fails if a chain of one format never searched by shape.
    #[test]
    fn outputs_searched_by_shape_map_as_whole_values_do() {
        let (chains, workspaces) = chains_and_workspaces();
        let (mut of_one_format, mut searched_by_shape) = (0usize, 0usize);
        for chain in chains.iter().filter(|c| c.source() == c.destination()) {
            let mut shaped = 0;
            each_batch(
                chain,
                workspace_of(&workspaces, chain),
                |run, (reg, previous), batch| {
                    let Buffers {
                        outs,
                        agains,
                        again_of,
                        ..
                    } = &run.buffers;
                    let (mut whole, mut whole_of, mut slots) =
                        (Vec::new(), Vec::new(), alloc::vec![EMPTY; SLOTS]);
                    find_distinct(
                        (outs, batch, &mut whole, &mut whole_of, &mut slots),
                        shape_any,
                    );
                    for (i, (out, state)) in outs.iter().zip(batch).enumerate() {
                        let fixed = *out == state.input;
                        // The run's entries went through the chain again; the whole
                        // search's are the outputs themselves.
                        let again = chain.interpret(reg, *out, previous);
                        for (entries, of, want) in
                            [(agains, again_of, again), (&whole, &whole_of, *out)]
                        {
                            assert_eq!(of[i] == FIXED_POINT, fixed, "{chain}: {state:?}");
                            if !fixed {
                                assert_eq!(entries[usize::from(of[i])], want, "{chain}: {state:?}");
                            }
                        }
                    }
                    shaped = run.shaped;
                },
            );
            of_one_format += 1;
            searched_by_shape += usize::from(shaped > 0);
        }
        assert!(of_one_format > 0);
        assert_eq!(searched_by_shape, of_one_format, "chains searched by shape");
    }

    /// A fixed point is judged from the domain's decoding of its input, not from a
    /// decode of its output (`judge`): its verdict equals the one judged from a copy
    /// of its trips (which decodes the output and compares the second trip), for every
    /// state of the domain of every built-in chain of one format and each with one rule
    /// switched off; and fixed points did occur, so the shortcut was taken.
    #[test]
    fn fixed_points_judge_as_their_copies_do() {
        let (chains, workspaces) = chains_and_workspaces();
        let (mut states_seen, mut fixed_points) = (0usize, 0usize);
        for chain in chains.iter().filter(|c| c.source() == c.destination()) {
            each_batch(chain, workspace_of(&workspaces, chain), |run, _, batch| {
                for (i, state) in batch.iter().enumerate() {
                    let (out, again) = run.output(i);
                    let again = again.expect("a chain of one format");
                    states_seen += 1;
                    if !core::ptr::eq(again, out) {
                        continue;
                    }
                    fixed_points += 1;
                    let entry = |_: &[_; 4], _| true;
                    let shared = super::super::judge(chain, state, out, Some(again), None, entry);
                    let (out, again) = (*out, *again);
                    let copied = super::super::judge(chain, state, &out, Some(&again), None, entry);
                    assert_eq!(
                        (shared.failed, shared.decoded_out),
                        (copied.failed, copied.decoded_out),
                        "{chain}: {state:?}"
                    );
                }
            });
        }
        assert!(
            fixed_points * 8 > states_seen,
            "{fixed_points} fixed points of {states_seen} states"
        );
    }

    /// Chains run together, each going on from what an earlier one's first ops made
    /// ([`shared_prefixes`]), give each class representative the output and second
    /// trip the chain gives it alone: every built-in chain and each with one rule
    /// switched off (which share long runs of ops), per source format in that order.
    /// Chains with a pipeline take no part in the sharing and run whole through it.
    #[test]
    fn chains_going_on_from_a_shared_prefix_get_their_own_outputs() {
        let (chains, workspaces) = chains_and_workspaces();
        let (mut shared_ops, mut piped_together) = (0, 0);
        for ws in &workspaces {
            let of_format: Vec<&Chain> =
                chains.iter().filter(|c| c.source() == ws.format).collect();
            let plan = shared_prefixes(&of_format);
            let mut runs: Vec<BatchRun> = of_format.iter().map(|c| BatchRun::new(c)).collect();
            for (i, &(j, k)) in plan
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Some((i, p.as_ref()?)))
            {
                assert!(j < i && k > 0);
                assert!(!of_format[i].has_pipeline() && !of_format[j].has_pipeline());
                runs[j].keep_after(k);
                shared_ops += k;
            }
            let mut batch = Vec::new();
            for classes in ws.classes.batches(super::super::reduce::Avl::Apart) {
                ws.representatives(classes, &mut batch);
                let batch = batch.as_slice();
                let reg = batch[0].reg;
                for (i, chain) in of_format.iter().enumerate() {
                    let (earlier, later) = runs.split_at_mut(i);
                    let from = plan[i].map(|(j, k)| earlier[j].kept(k));
                    let run = &mut later[0];
                    run.run(chain, (reg, &ws.previous[reg]), batch, from)
                        .expect("same source");
                    assert_own_trips(chain, run, (reg, &ws.previous[reg]), batch);
                }
            }
            piped_together += runs.iter().filter(|r| r.piped > 0).count();
        }
        // The chains without a pipeline (106 of the 416 since step 33 gave the other
        // stacks' heaviest shapes theirs) shared 78 ops between them; the others ran
        // through their pipelines.
        assert!(shared_ops * 8 > chains.len(), "{shared_ops} ops shared");
        assert!(
            piped_together * 2 > chains.len(),
            "{piped_together} of {} chains ran through a pipeline together",
            chains.len()
        );
    }
}
