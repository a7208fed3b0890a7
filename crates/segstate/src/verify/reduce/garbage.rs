//! `kvm_sregs`' garbage states judged with their clean counterpart ([`Fold`]), for
//! chains whose first op masks the garbage byte ([`masks`]).
//!
//! A garbage state (`domain::formats::kvm_garbage`: one byte of a `kvm_segment` out of
//! its range) decodes to nothing, is never consistent, and so is judged on the CPL and
//! idempotence only (`judge`). Its *counterpart* is the same state with the byte
//! masked ([`counterpart`]: `type & 0xf`, `dpl & 3`, `unusable != 0`, every other
//! boolean `& 1`): a clean state of the same register, selector RPL 3 and limit, the
//! same CPL (the domain takes it from the DPL's low bits), whose class comes before
//! every garbage class in class order. When the chain's first op gives the garbage
//! state the output it gives the counterpart (CPL byte included), the two trips are
//! equal, so the garbage state's verdict on those properties is the counterpart's,
//! which its class's verdict is (`super`'s module doc). Such a garbage state is counted
//! with that verdict, in bulk per batch, and judged on its own only while a property it
//! violates keeps counterexamples, at its own place in class order: counts,
//! counterexamples and their order are those of every garbage state run. A batch is
//! told apart from its classes and the counterparts' table ([`Counterpart`]), so its
//! states are read only for those judged.

use alloc::vec::Vec;

use super::super::domain::Domain;
use super::super::trips::BatchRun;
use super::super::{
    ChainReport, DomainState, Property, SegmentState, Workspace, WrongSourceFormat, judge,
};
use super::twins::Twins;
use super::{Batch, Class, EntryJudge, NO_TWIN};
use crate::arch::SegReg;
use crate::format::kvm::KvmSegment;
use crate::profile::{Chain, Format, Op, StackOp};

/// The byte of a garbage state that is out of its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::verify) enum Byte {
    Type,
    Dpl,
    Present,
    Unusable,
    S,
    Db,
    L,
    G,
    Avl,
}

impl Byte {
    /// Every byte, in the order of their bits.
    const ALL: [Byte; 9] = [
        Byte::Type,
        Byte::Dpl,
        Byte::Present,
        Byte::Unusable,
        Byte::S,
        Byte::Db,
        Byte::L,
        Byte::G,
        Byte::Avl,
    ];

    /// Its bit in a set of bytes.
    pub(in crate::verify) const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// The byte of `k` out of its range (the first, in this order), if one is.
    pub(in crate::verify) fn of(k: &KvmSegment) -> Option<Byte> {
        let booleans = [
            (k.present, Byte::Present),
            (k.unusable, Byte::Unusable),
            (k.s, Byte::S),
            (k.db, Byte::Db),
            (k.l, Byte::L),
            (k.g, Byte::G),
            (k.avl, Byte::Avl),
        ];
        if k.type_ > 0xf {
            Some(Byte::Type)
        } else if k.dpl > 3 {
            Some(Byte::Dpl)
        } else {
            booleans.iter().find(|(b, _)| *b > 1).map(|&(_, byte)| byte)
        }
    }
}

// `Byte::ALL` is in the order of the bytes' bits: a byte's place in it is `as usize`.
const _: () = {
    let mut i = 0;
    while i < Byte::ALL.len() {
        assert!(Byte::ALL[i] as usize == i);
        i += 1;
    }
};

/// Every byte but those listed.
const fn all_but(bytes: &[Byte]) -> u16 {
    let mut set = (1 << 9) - 1;
    let mut i = 0;
    while i < bytes.len() {
        set &= !bytes[i].bit();
        i += 1;
    }
    set
}

/// `k` with each byte masked as the ops that mask it do: the clean state a garbage
/// state stands beside.
pub(in crate::verify) fn counterpart(k: &KvmSegment) -> KvmSegment {
    KvmSegment {
        type_: k.type_ & 0xf,
        dpl: k.dpl & 3,
        present: k.present & 1,
        unusable: u8::from(k.unusable != 0),
        s: k.s & 1,
        db: k.db & 1,
        l: k.l & 1,
        g: k.g & 1,
        avl: k.avl & 1,
        ..*k
    }
}

/// The garbage bytes `op`, given a `kvm_segment` holding one, turns into the output
/// (CPL byte included) it gives that state's [`counterpart`]: each byte it reads only
/// through the mask [`counterpart`] applies. KVM's `svm_set_segment` (4.11 and today)
/// takes `type & 0xf`, `dpl & 3`, each boolean `& 1` into the attrib word and tests
/// `unusable != 0`; `vmx_set_segment`'s `vmx_segment_access_rights` does the same but
/// tests `present` as a whole byte (`unusable || !present` writes AR 1 << 16), so a
/// `present` of 2 is a usable not-present segment, not its counterpart (not present,
/// unusable); `mshv_set` masks as the SVM set does. QEMU's `get_seg` shifts every byte
/// unmasked into its flags but `unusable`, which it tests `!= 0` (not declared: its
/// 8,192 such states saved cost less than running the rest of its garbage one state at
/// a time rather than in batches, measured); the other conversions from a
/// `kvm_segment` are not claimed.
///
/// Read only for a chain's first op ([`folded_bytes`]), and not taken on trust there:
/// `ops_mask_garbage_to_its_counterpart` holds every op that is the first of a test
/// chain from `kvm_sregs` to it over every garbage value reaching it, both trips. A new
/// op must be named here: none masks garbage by default.
const fn masks(op: Op) -> u16 {
    match op {
        Op::SvmSet(_) => all_but(&[]),
        Op::VmxSet(_) => all_but(&[Byte::Present]),
        Op::SvmGet(_) | Op::QemuGet(_) | Op::VmxGet(_) | Op::QemuSet(_) | Op::QemuMigrate(..) => 0,
        Op::Stack(op) => match op {
            StackOp::MshvSet(_) => all_but(&[]),
            StackOp::XenSvmGet(_)
            | StackOp::XenSvmSet(_)
            | StackOp::XenVmxGet(_)
            | StackOp::XenVmxSet(_)
            | StackOp::XenSaveLoad(_)
            | StackOp::BhyveSvmGet(_)
            | StackOp::BhyveSvmSet(_)
            | StackOp::BhyveVmxGet(_)
            | StackOp::BhyveVmxSet(_)
            | StackOp::BhyveCarry(_)
            | StackOp::VboxSvmImport(_)
            | StackOp::VboxSvmExport(_)
            | StackOp::VboxVmxImport(_)
            | StackOp::VboxVmxExport(_)
            | StackOp::VboxNemImport(_)
            | StackOp::VboxNemExport(_)
            | StackOp::CrosvmFromKvm(_)
            | StackOp::CrosvmToKvm(_)
            | StackOp::CrosvmToWhpx(_)
            | StackOp::CrosvmFromWhpx(_)
            | StackOp::CrosvmToHaxm(_)
            | StackOp::CrosvmFromHaxm(_)
            | StackOp::MshvGet(_)
            | StackOp::OpenvmmFromKvm(_)
            | StackOp::OpenvmmToKvm(_)
            | StackOp::NestedSvmRoundTrip(_)
            | StackOp::NestedVmxRoundTrip(_)
            | StackOp::BochsRoundTrip(_) => 0,
        },
    }
}

/// The garbage bytes whose states `chain` (one from `kvm_sregs`) judges with their
/// counterpart: those its first op masks ([`masks`]); none for a chain of no ops.
pub(in crate::verify) fn folded_bytes(chain: &Chain) -> u16 {
    match (chain.source(), chain.ops().first()) {
        (Format::Kvm, Some(&op)) => masks(op),
        _ => 0,
    }
}

/// The properties a garbage state is judged on that its counterpart decides.
const DECIDED: u8 = 1 << Property::CplChanged.index()
    | 1 << Property::Escalation.index()
    | 1 << Property::NotIdempotent.index();

/// A garbage class's byte and the place in class order of its clean counterpart's class
/// ([`NO_TWIN`] when the classes do not hold it): what a chain folding garbage reads of
/// it, without its state. Four bytes, the byte in the top four bits (a table of 86,016
/// per `kvm_sregs` domain: twice the pages as a pair).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::verify) struct Counterpart(u32);

/// The bits of [`Counterpart`] holding the class; all set: none.
const CLASS_BITS: u32 = (1 << 28) - 1;

impl Counterpart {
    /// `class` (or [`NO_TWIN`]) and `byte`.
    fn new(class: u32, byte: Byte) -> Counterpart {
        let class = if class == NO_TWIN {
            CLASS_BITS
        } else {
            assert!(
                class < CLASS_BITS,
                "class {class} beyond a counterpart's bits"
            );
            class
        };
        Counterpart(class | (byte as u32) << CLASS_BITS.count_ones())
    }

    /// The place in class order of the counterpart's class, or [`NO_TWIN`].
    #[inline(always)]
    pub(super) fn class(self) -> u32 {
        match self.0 & CLASS_BITS {
            CLASS_BITS => NO_TWIN,
            class => class,
        }
    }

    /// The byte out of its range.
    #[inline(always)]
    pub(super) fn byte(self) -> Byte {
        Byte::ALL[(self.0 >> CLASS_BITS.count_ones()) as usize]
    }

    /// The same with its class (if it has one) put at `f` of it.
    pub(super) fn map_class(self, f: impl FnOnce(u32) -> u32) -> Counterpart {
        match self.class() {
            NO_TWIN => self,
            class => Counterpart::new(f(class), self.byte()),
        }
    }

    /// That of the garbage state at position `n` of `reg`'s `kvm_segment` list, whose
    /// group's classes start at 0 in class order: worked out from the position
    /// (`Domain::kvm_garbage_at`), the counterpart at the same position in the lists of
    /// every register and RPL of the group (`Domain::state`). `None` for a clean
    /// position.
    fn at(domain: &Domain, reg: SegReg, n: usize) -> Option<Counterpart> {
        let k = domain.kvm_garbage_at(reg, n)?;
        let byte = Byte::of(&k)?;
        let class = domain
            .kvm_clean_position(&counterpart(&k))
            .map_or(NO_TWIN, |at| at as u32);
        Some(Counterpart::new(class, byte))
    }
}

/// The counterparts of a `kvm_segment` list's garbage, per position, with its group's
/// classes starting at 0: worked out once per domain ([`Counterpart::at`]), since every
/// register's list holds the same garbage values at the same positions, their
/// counterparts at the same positions of their group's lists (`Domain::state`; checked
/// class by class by `garbage_counterparts_are_their_states`).
#[derive(Debug, Default)]
pub(super) struct ListCounterparts {
    /// From the list's first garbage position on.
    garbage: Vec<Counterpart>,
    /// That first position.
    start: usize,
}

impl ListCounterparts {
    /// The counterpart of the garbage state at position `n` of `reg`'s list, whose
    /// group's classes start at `first`; `None` for a clean position.
    pub(super) fn at(
        &mut self,
        domain: &Domain,
        reg: SegReg,
        n: usize,
        first: u32,
    ) -> Option<Counterpart> {
        if self.garbage.is_empty() {
            self.start = n;
        }
        let at = n.checked_sub(self.start)?;
        if at == self.garbage.len() {
            self.garbage.push(Counterpart::at(domain, reg, n)?);
        }
        let c = *self.garbage.get(at)?;
        Some(c.map_class(|class| first + class))
    }
}

/// One chain's folding of garbage states: the bytes it folds and, per clean class in
/// class order (its place in `Classes::whole`: the classes before the garbage, which holds no
/// counterpart), the properties of [`DECIDED`] its verdict failed. A byte per clean
/// class (82 KB for `kvm_sregs`) rather than per class: small enough for the heap to
/// hand each chain the pages the last one freed, not fresh ones to fault in.
#[derive(Debug)]
pub(in crate::verify) struct Fold {
    bytes: u16,
    failed: Vec<u8>,
    /// A batch's garbage states that may be judged, run as one batch, and their places
    /// in it (kept from batch to batch: only their room).
    picked: Vec<DomainState>,
    picked_at: Vec<usize>,
}

impl Fold {
    /// The folding of garbage for `chain` over `ws`, if it folds any.
    pub(super) fn new(ws: &Workspace, chain: &Chain) -> Option<Fold> {
        #[cfg(all(test, feature = "std"))]
        if tests::RUN_EVERY_GARBAGE_STATE.with(core::cell::Cell::get) {
            return None;
        }
        let bytes = folded_bytes(chain);
        let garbage = ws.classes.garbage_counterparts.len();
        (bytes != 0 && garbage != 0).then(|| Fold {
            bytes,
            failed: alloc::vec![0; ws.classes.first_garbage as usize],
            picked: Vec::new(),
            picked_at: Vec::new(),
        })
    }

    /// Keeps `failed`, the verdict of `class` (at place `ordinal` of the class list), for
    /// it and, if the chain folds AVL twins in (`folded`), its AVL twins' class, if it is
    /// a clean one (a garbage class, or [`NO_TWIN`], has no place here).
    #[inline(always)]
    pub(super) fn keep(&mut self, ((class, ordinal), folded): ((&Class, u32), bool), failed: u8) {
        let twin = if folded { class.twin(ordinal) } else { NO_TWIN };
        for at in [ordinal, twin] {
            if let Some(kept) = self.failed.get_mut(at as usize) {
                *kept = failed & DECIDED;
            }
        }
    }

    /// The place in class order of the counterpart of a garbage class (`c`), when its
    /// byte is folded and the classes hold it.
    #[inline(always)]
    fn counterpart_class(&self, c: &Counterpart) -> Option<u32> {
        (self.bytes & c.byte().bit() != 0 && c.class() != NO_TWIN).then_some(c.class())
    }

    /// True when `batch` is all garbage classes (the classes after the groups'), told
    /// from its classes alone.
    pub(super) fn takes(ws: &Workspace, batch: Batch<'_>) -> bool {
        !batch.classes.is_empty() && batch.first >= ws.classes.first_garbage
    }
}

/// The properties of [`DECIDED`] that still keep counterexamples in `report`: a folded
/// state whose counterpart failed none of them adds nothing but counts.
fn due_properties(report: &ChainReport) -> u8 {
    let mut due = 0;
    for p in Property::ALL {
        if DECIDED & 1 << p.index() != 0 && report.keeps_more(p) {
            due |= 1 << p.index();
        }
    }
    due
}

/// Folded garbage states counted in bulk: how many stand on a counterpart that failed
/// each set of [`DECIDED`] properties.
struct Tally([u64; 16]);

// A kept verdict (`Fold::keep`) is a set of DECIDED's properties: it indexes the tally.
const _: () = assert!((DECIDED as usize) < 16);

impl Tally {
    /// Adds it to `report`: `n` states covered, garbage, and for each property `n`
    /// violations per state whose counterpart failed it, as recording each state's
    /// verdict with nothing more to keep does.
    fn count(&self, report: &mut ChainReport) {
        let n: u64 = self.0.iter().sum();
        report.states += n;
        report.garbage_states += n;
        for p in Property::ALL {
            let failing = self
                .0
                .iter()
                .enumerate()
                .filter(|&(f, _)| f & 1 << p.index() != 0);
            let violations: u64 = failing.map(|(_, &n)| n).sum();
            if violations != 0 {
                report.count_unkept(p, violations);
            }
        }
    }
}

impl Workspace {
    /// Judges a batch of garbage classes for a chain folding some of them (`fold`),
    /// from the classes and their counterparts (`Classes::garbage_counterparts`): each
    /// folded one whose counterpart failed no property still keeping counterexamples is
    /// counted with its counterpart's verdict, in bulk; the others (a byte the chain
    /// does not fold, or a counterexample due) are judged on their own, in class order,
    /// run together as one batch (`run`), and a representative is read only for them.
    /// The classes of AVL twins (clean ones, all before the garbage) still due are run
    /// first.
    pub(super) fn judge_garbage(
        &self,
        (chain, run): (&Chain, &mut BatchRun),
        fold: &mut Fold,
        (batch, representatives): (Batch<'_>, &[DomainState]),
        judges: (
            Option<&[SegmentState; 4]>,
            &mut Twins,
            Option<&EntryJudge<'_>>,
        ),
        report: &mut ChainReport,
    ) -> Result<(), WrongSourceFormat> {
        let (baselines, twins, entry_judge) = judges;
        let classes = &self.classes;
        while let Some(twin) = twins.take_before(batch.first) {
            self.record_twin(chain, (baselines, entry_judge), twin, report);
        }
        let (first, batch) = (
            (batch.first - classes.first_garbage) as usize,
            batch.classes,
        );
        let counterparts = &classes.garbage_counterparts[first..first + batch.len()];
        let mut tally = Tally([0; 16]);
        // Falls only as the states judged keep counterexamples: a state counted in bulk
        // at the batch's start would have been counted at its own place too.
        let mut due = due_properties(report);
        let counted = |fold: &Fold, c: &Counterpart, due: u8| {
            let at = fold.counterpart_class(c)?;
            let failed = fold.failed[at as usize];
            (failed & due == 0).then_some(failed)
        };
        fold.picked.clear();
        fold.picked_at.clear();
        for (i, (class, c)) in batch.iter().zip(counterparts).enumerate() {
            match counted(fold, c, due) {
                Some(failed) => tally.0[usize::from(failed)] += u64::from(class.len()),
                None => {
                    fold.picked.push(representatives[i]);
                    fold.picked_at.push(i);
                }
            }
        }
        if !fold.picked.is_empty() {
            let reg = batch[0].reg;
            run.run(chain, (reg, &self.previous[reg]), &fold.picked, None)?;
        }
        for (j, &i) in fold.picked_at.iter().enumerate() {
            let (class, state) = (&batch[i], &fold.picked[j]);
            let n = u64::from(class.len());
            // Due at the batch's start, perhaps no longer.
            if let Some(failed) = counted(fold, &counterparts[i], due) {
                tally.0[usize::from(failed)] += n;
                #[cfg(all(test, feature = "std"))]
                tests::NO_LONGER_DUE.with(|n| n.set(n.get() + 1));
                continue;
            }
            debug_assert!(state.decoded.is_none() && class.consistent == 0);
            #[cfg(all(test, feature = "std"))]
            if fold.counterpart_class(&counterparts[i]).is_some() {
                tests::RUN_DUE.with(|n| n.set(n.get() + 1));
            }
            let (out, again) = run.output(j);
            let accepts = |_: &[SegmentState; 4], out| {
                let entry_judge = entry_judge.expect("baselines for a VMCS");
                entry_judge.accepts(state.reg, state.baseline, out)
            };
            let verdict = judge(chain, state, out, again, baselines, accepts);
            report.executed += 1;
            self.record(chain, state, &verdict, (n, n), baselines, report);
            due = due_properties(report);
        }
        tally.count(report);
        #[cfg(all(test, feature = "std"))]
        if fold.picked.is_empty() {
            tests::SKIPPED_BATCHES.with(|n| n.set(n.get() + 1));
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "std"))]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::super::super::evaluate;
    use super::super::tests::{chains_and_workspaces, with_half_rules_off, workspace_of};
    use super::super::twins::tests::{keeping, sparse};
    use super::super::{applies, avl};
    use super::*;
    use crate::profile::{InFlight, SegmentValue};

    std::thread_local! {
        /// Set: no chain folds garbage ([`Fold::new`]), every garbage state runs.
        pub(in crate::verify) static RUN_EVERY_GARBAGE_STATE: core::cell::Cell<bool> =
            const { core::cell::Cell::new(false) };
        /// Folded garbage states judged on their own for a counterexample due.
        pub(in crate::verify) static RUN_DUE: core::cell::Cell<usize> =
            const { core::cell::Cell::new(0) };
        /// Folded garbage states picked for a counterexample due at their batch's start,
        /// counted in bulk since an earlier state of the batch kept the last one.
        pub(in crate::verify) static NO_LONGER_DUE: core::cell::Cell<usize> =
            const { core::cell::Cell::new(0) };
        /// Garbage batches of a folding chain in which no state ran: counted whole.
        pub(in crate::verify) static SKIPPED_BATCHES: core::cell::Cell<usize> =
            const { core::cell::Cell::new(0) };
    }

    /// How many garbage states of `ws` verifying `chain` judges with their counterpart.
    pub(in crate::verify) fn folded_states(ws: &Workspace, chain: &Chain) -> u64 {
        let Some(fold) = Fold::new(ws, chain) else {
            return 0;
        };
        let garbage = ws.classes.garbage_counterparts.iter();
        let folded = garbage.filter(|c| fold.counterpart_class(c).is_some());
        folded.count() as u64
    }

    /// What the first op of `chain` makes of `input`.
    fn first_op(chain: &Chain, reg: SegReg, input: InFlight, ws: &Workspace) -> InFlight {
        let mut first = None;
        chain.interpret_each_op(reg, input, &ws.previous[reg], |i, _, _, out| {
            if i == 0 {
                first = Some(*out);
            }
        });
        first.expect("a chain of ops")
    }

    use crate::arch::SegReg;

    /// What [`masks`] states, op by op: every op that is the first of one of the test
    /// chains from `kvm_sregs` (every built-in chain, each with a rule switched off,
    /// and each with half its rules off), given every garbage state of the domain (the
    /// first trip) and every first trip's output that holds a garbage byte (the second),
    /// gives the output, CPL byte included, it gives the value's counterpart when it is
    /// declared masking that byte; and a garbage state of a byte the chain folds gets
    /// its counterpart's trips. Fails if no chain folds.
    #[test]
    fn ops_mask_garbage_to_its_counterpart() {
        let (mut chains, workspaces) = chains_and_workspaces();
        with_half_rules_off(&mut chains);
        let ws = workspaces
            .iter()
            .find(|w| w.format == Format::Kvm)
            .expect("kvm_sregs");
        let garbage: Vec<DomainState> = ws
            .classes
            .whole
            .iter()
            .map(|c| ws.representative(c))
            .filter(|s| s.decoded.is_none())
            .collect();
        assert_eq!(garbage.len(), 86_016);
        let (mut held, mut second, mut folding) = (0u64, 0u64, 0);
        // Per first op and byte: garbage values it masks, and those it does not.
        let mut seen: BTreeMap<(&str, u16), (u64, u64)> = BTreeMap::new();
        for chain in chains.iter().filter(|c| c.source() == Format::Kvm) {
            let bytes = folded_bytes(chain);
            folding += usize::from(bytes != 0);
            let op = chain.ops()[0];
            let mut hold = |reg, input: InFlight, trip: &str| {
                let SegmentValue::Kvm(k) = input.value else {
                    return false;
                };
                let Some(byte) = Byte::of(&k) else {
                    return false;
                };
                let masked = InFlight {
                    value: SegmentValue::Kvm(counterpart(&k)),
                    ..input
                };
                let same = first_op(chain, reg, input, ws) == first_op(chain, reg, masked, ws);
                let tally = seen.entry((op.function(), byte.bit())).or_default();
                *if same { &mut tally.0 } else { &mut tally.1 } += 1;
                assert!(
                    same || masks(op) & byte.bit() == 0,
                    "{chain}: {op:?} ({trip} trip) gives {k:?} an output its counterpart does not get"
                );
                true
            };
            for state in &garbage {
                let reg = state.reg;
                assert!(hold(reg, state.input, "first"), "{chain}: a garbage state");
                held += 1;
                let previous = &ws.previous[reg];
                let out = chain.interpret(reg, state.input, previous);
                if chain.source() == chain.destination() && hold(reg, out, "second") {
                    second += 1;
                }
                let SegmentValue::Kvm(k) = state.input.value else {
                    unreachable!("a kvm_sregs state")
                };
                if bytes & Byte::of(&k).expect("garbage").bit() != 0 {
                    let masked = InFlight {
                        value: SegmentValue::Kvm(counterpart(&k)),
                        ..state.input
                    };
                    assert_eq!(
                        out,
                        chain.interpret(reg, masked, previous),
                        "{chain}: {k:?}"
                    );
                }
            }
        }
        for ((function, byte), (same, apart)) in &seen {
            std::eprintln!("{function} byte {byte:#x}: {same} masked, {apart} not");
        }
        std::eprintln!("{held} first trips, {second} second, {folding} chains fold");
        assert!(folding > 0 && held > 0);
    }

    /// `chain` verified over `ws` ([`verify_with`]'s run) with room left for only
    /// `left[p]` counterexamples of each property `p` (in [`Property::ALL`] order), and
    /// how many garbage batches were counted whole.
    fn verify_leaving(ws: &Workspace, chain: &Chain, left: [usize; 5]) -> (ChainReport, usize) {
        let baselines = ws.baseline_outputs(chain).expect("same source");
        let mut report = ws.empty_report(chain).expect("same source");
        report.kept = left.map(|n| (super::super::super::COUNTEREXAMPLES_PER_PROPERTY - n) as u8);
        let mut runs = [super::super::ClassRun::new(
            chain,
            baselines.as_ref(),
            report,
        )];
        SKIPPED_BATCHES.with(|n| n.set(0));
        ws.verify_classes(&mut runs, avl(chain))
            .expect("same source");
        let [run] = runs;
        (
            run.into_report(),
            SKIPPED_BATCHES.with(core::cell::Cell::get),
        )
    }

    /// Folding garbage changes nothing but the states executed: for every test chain
    /// that folds some (every built-in chain, each with a rule switched off, and each
    /// with half its rules off), the report equals the one with every garbage state run, counts,
    /// counterexamples and their order, over the whole domain and over sparse parts of
    /// it, where garbage states' own counterexamples are kept (so the path that runs a
    /// folded state for its counterexamples is taken), each with room for 3 (the
    /// default), 2, 1 and no counterexample per property, and for 3 of one property of
    /// [`DECIDED`] alone (a state failing it and another kept for it only while the
    /// other's room is full). Over the whole domain with room
    /// for none, every folded state is counted in bulk: exactly those run fewer, and
    /// garbage batches are counted whole where the chain folds every byte. Fails if none
    /// is folded, no folded state is judged for a counterexample due (in a batch of
    /// garbage alone), none picked as due is counted once an earlier one of its batch
    /// kept the last counterexample, no batch is counted whole, or a property of
    /// [`DECIDED`] some folded garbage state fails never keeps one of theirs.
    #[test]
    fn folded_garbage_reports_equal_every_garbage_state_run() {
        let (mut chains, workspaces) = chains_and_workspaces();
        with_half_rules_off(&mut chains);
        let kvm = chains.iter().find(|c| c.source() == Format::Kvm);
        let whole = workspace_of(&workspaces, kvm.expect("a chain from kvm_sregs"));
        let sparse = sparse(whole, 61);
        // `ws` with only the garbage classes `pick` picks (by place among them) and
        // their counterparts' (with the AVL-clear class of a twin).
        let keep_garbage = |pick: &dyn Fn(usize, &DomainState) -> bool| {
            let classes = &whole.classes;
            let mut kept = alloc::vec![false; classes.whole.len()];
            let first = classes.first_garbage as usize;
            for (i, c) in classes.garbage_counterparts.iter().enumerate() {
                if pick(i, &whole.representative(&classes.whole[first + i])) {
                    kept[first + i] = true;
                    if c.class() != NO_TWIN {
                        kept[c.class() as usize] = true;
                    }
                }
            }
            for c in classes
                .avl_folded()
                .iter()
                .filter(|c| c.twin_place() != NO_TWIN)
            {
                kept[c.ordinal as usize] |= kept[c.twin_place() as usize];
            }
            keeping(whole, &kept)
        };
        let few = [61, 997].map(|every| keep_garbage(&|i, _| i % every == 0));
        let folding = chains
            .iter()
            .filter(|c| applies(c) && c.source() == Format::Kvm && folded_bytes(c) != 0);
        let (mut chains_folded, mut skipped) = (0, 0);
        // Properties of DECIDED some folded garbage state fails, and those a folded
        // garbage state kept a counterexample of.
        let (mut failing_folded, mut kept_folded) = (0u8, 0u8);
        for chain in folding {
            let folds =
                |k: &KvmSegment| Byte::of(k).is_some_and(|b| folded_bytes(chain) & b.bit() != 0);
            let folded_input =
                |s: &DomainState| matches!(s.input.value, SegmentValue::Kvm(k) if folds(&k));
            // Per property of DECIDED a folded garbage state fails: the first two such
            // states, with their counterparts (and those ones' AVL-clear classes), so
            // that a folded garbage state's own counterexample is due at its place and,
            // with room for one beyond the counterparts', a second one picked as due
            // is counted once the first kept it. With the first garbage class (of the
            // first register), whose batch parts the failing ones' from the clean
            // classes before (else one batch, judged as clean ones are).
            let baselines = whole.baseline_outputs(chain).expect("same source");
            let failed =
                |s: &DomainState| evaluate(chain, s, &whole.previous, baselines.as_ref()) & DECIDED;
            let mut fails = Vec::new();
            for p in Property::ALL
                .iter()
                .filter(|p| DECIDED & 1 << p.index() != 0)
            {
                let taken = core::cell::Cell::new(0);
                let ws = keep_garbage(&|i, s| {
                    let take =
                        taken.get() < 2 && folded_input(s) && failed(s) & 1 << p.index() != 0;
                    taken.set(taken.get() + usize::from(take));
                    take || i == 0
                });
                if taken.get() > 0 {
                    failing_folded |= 1 << p.index();
                    fails.push(ws);
                }
            }
            let mut rooms: Vec<[usize; 5]> = [3, 2, 1, 0].map(|n| [n; 5]).to_vec();
            for p in Property::ALL
                .iter()
                .filter(|p| DECIDED & 1 << p.index() != 0)
            {
                let mut room = [0; 5];
                room[p.index()] = 3;
                rooms.push(room);
            }
            let workspaces = [whole, &sparse].into_iter().chain(&fails).chain(&few);
            for (ws, left) in workspaces.flat_map(|ws| rooms.iter().map(move |&left| (ws, left))) {
                let (with, batches) = verify_leaving(ws, chain, left);
                RUN_EVERY_GARBAGE_STATE.with(|r| r.set(true));
                let (every, none) = verify_leaving(ws, chain, left);
                RUN_EVERY_GARBAGE_STATE.with(|r| r.set(false));
                let at = format!("{chain}, {left:?} left");
                assert_eq!(none, 0, "{at}: counted whole without folding");
                assert_eq!(with.states, every.states, "{at}");
                assert_eq!(with.garbage_states, every.garbage_states, "{at}");
                assert_eq!(with.violations, every.violations, "{at}");
                assert_eq!(with.kept, every.kept, "{at}");
                assert_eq!(with.counterexamples, every.counterexamples, "{at}");
                let whole_domain = core::ptr::eq(ws, whole);
                match (whole_domain, left) {
                    (true, [0, 0, 0, 0, 0]) => {
                        let folded = folded_states(ws, chain);
                        assert_eq!(with.executed + folded, every.executed, "{at}");
                        // Where the chain folds every byte (not `kvm-vmx`'s present).
                        let all = ws.classes.garbage_counterparts.len() as u64;
                        assert!(folded < all || batches > 0, "{at}: no batch counted whole");
                    }
                    (true, _) => assert!(with.executed < every.executed, "{at}: none folded"),
                    (false, _) => assert!(with.executed <= every.executed, "{at}"),
                }
                chains_folded += 1;
                skipped += batches;
                // Counterexamples of garbage states of a byte the chain folds: run
                // only because they were due.
                for c in &with.counterexamples {
                    if matches!(c.before.value, SegmentValue::Kvm(k) if folds(&k)) {
                        kept_folded |= 1 << c.property.index();
                    }
                }
            }
        }
        let due = RUN_DUE.with(core::cell::Cell::get);
        let late = NO_LONGER_DUE.with(core::cell::Cell::get);
        std::eprintln!(
            "{chains_folded} reports, properties {kept_folded:#b} of {failing_folded:#b} kept \
             a folded garbage counterexample, {due} folded states judged for one, {late} \
             counted once no longer due, {skipped} garbage batches counted whole"
        );
        assert!(chains_folded >= 5 * 4 * 7, "{chains_folded}");
        assert!(due > 0 && late > 0 && skipped > 0);
        assert!(failing_folded != 0 && kept_folded == failing_folded);
    }

    /// A tally adds what recording each of its states does: each state covered and
    /// garbage, and per property one violation per state whose counterpart failed it,
    /// whichever other properties that counterpart failed (verdicts the test chains'
    /// folded garbage never gives, a CPL changed but not raised among them, included).
    #[test]
    fn tallied_states_count_each_property_of_their_verdict() {
        let (chains, workspaces) = chains_and_workspaces();
        let kvm = chains.iter().find(|c| c.source() == Format::Kvm);
        let chain = kvm.expect("a chain from kvm_sregs");
        let mut report = workspace_of(&workspaces, chain)
            .empty_report(chain)
            .expect("same source");
        let bit = |p: Property| 1u8 << p.index();
        let (cpl, up, again) = (
            bit(Property::CplChanged),
            bit(Property::Escalation),
            bit(Property::NotIdempotent),
        );
        let mut tally = Tally([0; 16]);
        for (failed, n) in [
            (0, 13),
            (cpl, 5),
            (cpl | up, 7),
            (again, 11),
            (cpl | again, 2),
        ] {
            tally.0[usize::from(failed)] += n;
        }
        tally.count(&mut report);
        assert_eq!((report.states, report.garbage_states), (38, 38));
        assert_eq!(report.violations(Property::CplChanged), 5 + 7 + 2);
        assert_eq!(report.violations(Property::Escalation), 7);
        assert_eq!(report.violations(Property::NotIdempotent), 11 + 2);
        assert_eq!(report.violations(Property::AttributeLoss), 0);
        assert_eq!(report.violations(Property::VmxEntryRejected), 0);
        assert!(report.counterexamples.is_empty() && report.executed == 0);
    }

    /// Every garbage class's entry in `Classes::garbage_counterparts`, worked out from
    /// its position once per domain ([`ListCounterparts`]), is its state's: the byte out
    /// of range is the state's, and the class it names is a clean one of the state's
    /// register group whose representative is the state's [`counterpart`] but for the
    /// carried fields (selector and base), with the same CPL. Fails if none is checked.
    #[test]
    fn garbage_counterparts_are_their_states() {
        let (_, workspaces) = chains_and_workspaces();
        let ws = workspaces
            .iter()
            .find(|w| w.format == Format::Kvm)
            .expect("kvm_sregs");
        let classes = &ws.classes;
        let garbage = &classes.whole[classes.first_garbage as usize..];
        assert_eq!(garbage.len(), classes.garbage_counterparts.len());
        let mut held = 0;
        for (class, c) in garbage.iter().zip(&classes.garbage_counterparts) {
            let state = &ws.representative(class);
            let SegmentValue::Kvm(k) = state.input.value else {
                panic!("{state:?}: not a kvm_sregs state");
            };
            assert_eq!(Some(c.byte()), Byte::of(&k), "{k:?}");
            assert!(c.class() < classes.first_garbage, "{k:?}");
            let rep = &ws.representative(&classes.whole[c.class() as usize]);
            let SegmentValue::Kvm(r) = rep.input.value else {
                panic!("{rep:?}: not a kvm_sregs state");
            };
            let group = super::super::group_leader;
            assert_eq!(group(rep.reg), group(state.reg), "{k:?}");
            assert_eq!(
                (rep.cpl, rep.baseline),
                (state.cpl, state.baseline),
                "{k:?}"
            );
            let carried = KvmSegment {
                selector: k.selector,
                base: k.base,
                ..r
            };
            assert_eq!(carried, counterpart(&k), "{k:?}");
            held += 1;
        }
        assert_eq!(held, 86_016);
    }
}
