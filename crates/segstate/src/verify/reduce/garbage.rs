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
//! with that verdict and run on its own only while a property it violates keeps
//! counterexamples, at its own place in class order: counts, counterexamples and
//! their order are those of every garbage state run.

use alloc::vec::Vec;

use super::super::domain::Domain;
use super::super::{
    ChainReport, DomainState, Property, SegmentState, Workspace, judge, trips_alone,
};
use super::twins::Twins;
use super::{Class, EntryJudge, NO_TWIN};
use crate::format::kvm::KvmSegment;
use crate::profile::{Chain, Format, Op, SegmentValue, StackOp};

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

/// The place in `domain`'s lists of `state`'s counterpart, when it is a garbage state:
/// the same position in the lists of every register and RPL (`Domain::state`).
pub(super) fn counterpart_position(domain: &Domain, state: &DomainState) -> Option<usize> {
    match &state.input.value {
        SegmentValue::Kvm(k) if Byte::of(k).is_some() => domain.kvm_clean_position(&counterpart(k)),
        _ => None,
    }
}

/// One chain's folding of garbage states: the bytes it folds and, per class in class
/// order ([`Class::ordinal`]), the properties of [`DECIDED`] its verdict failed.
#[derive(Debug)]
pub(in crate::verify) struct Fold {
    bytes: u16,
    failed: Vec<u8>,
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
            failed: alloc::vec![0; ws.classes.whole.len()],
        })
    }

    /// Keeps `failed`, the verdict of `class`, for it and its AVL twins' class.
    #[inline(always)]
    pub(super) fn keep(&mut self, class: &Class, failed: u8) {
        self.failed[class.ordinal as usize] = failed & DECIDED;
        if class.twin != NO_TWIN {
            self.failed[class.twin as usize] = failed & DECIDED;
        }
    }

    /// The place in class order of the counterpart of `class`, a garbage class whose
    /// representative is `state`, when its byte is folded and the classes hold it.
    fn counterpart_class(&self, ws: &Workspace, class: &Class, state: &DomainState) -> Option<u32> {
        let SegmentValue::Kvm(k) = &state.input.value else {
            return None;
        };
        if self.bytes & Byte::of(k)?.bit() == 0 {
            return None;
        }
        let classes = &ws.classes;
        let at = class.ordinal.checked_sub(classes.first_garbage)?;
        let counterpart = *classes.garbage_counterparts.get(at as usize)?;
        (counterpart != NO_TWIN).then_some(counterpart)
    }
}

impl Workspace {
    /// Judges a batch of garbage classes for a chain folding some of them (`fold`):
    /// each folded one counted with its counterpart's verdict and run only while a
    /// property it violates keeps counterexamples; the others run alone.
    pub(super) fn judge_garbage(
        &self,
        chain: &Chain,
        fold: &Fold,
        (batch, representatives): (&[Class], &[DomainState]),
        judges: (
            Option<&[SegmentState; 4]>,
            &mut Twins,
            Option<&EntryJudge<'_>>,
        ),
        report: &mut ChainReport,
    ) {
        let (baselines, twins, entry_judge) = judges;
        for (class, state) in batch.iter().zip(representatives) {
            while let Some(twin) = twins.take_before(class.ordinal) {
                self.record_twin(chain, (baselines, entry_judge), twin, report);
            }
            debug_assert!(state.decoded.is_none() && class.consistent == 0);
            let n = u64::from(class.len);
            if let Some(at) = fold.counterpart_class(self, class, state) {
                let failed = fold.failed[at as usize];
                let due = Property::ALL
                    .iter()
                    .any(|&p| failed & 1 << p.index() != 0 && report.keeps_more(p));
                if !due {
                    report.states += n;
                    report.garbage_states += n;
                    for p in Property::ALL {
                        if failed & 1 << p.index() != 0 {
                            report.count_unkept(p, n);
                        }
                    }
                    continue;
                }
            }
            let (out, again) = trips_alone(chain, state, &self.previous[state.reg]);
            let accepts = |_: &[SegmentState; 4], out| {
                let entry_judge = entry_judge.expect("baselines for a VMCS");
                entry_judge.accepts(state.reg, state.baseline, out)
            };
            let verdict = judge(chain, state, &out, again.as_ref(), baselines, accepts);
            report.executed += 1;
            self.record(chain, state, &verdict, (n, n), baselines, report);
        }
    }
}

#[cfg(all(test, feature = "std"))]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::super::super::evaluate;
    use super::super::tests::{chains_and_workspaces, with_half_rules_off, workspace_of};
    use super::super::twins::tests::{keeping, sparse, verify_with};
    use super::super::{applies, avl};
    use super::*;
    use crate::profile::InFlight;

    std::thread_local! {
        /// Set: no chain folds garbage ([`Fold::new`]), every garbage state runs.
        pub(in crate::verify) static RUN_EVERY_GARBAGE_STATE: core::cell::Cell<bool> =
            const { core::cell::Cell::new(false) };
    }

    /// How many garbage states of `ws` verifying `chain` judges with their counterpart.
    pub(in crate::verify) fn folded_states(ws: &Workspace, chain: &Chain) -> u64 {
        let Some(fold) = Fold::new(ws, chain) else {
            return 0;
        };
        let garbage = ws.classes.whole.iter().map(|c| (c, ws.representative(c)));
        let folded = garbage.filter(|(c, s)| fold.counterpart_class(ws, c, s).is_some());
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

    /// Folding garbage changes nothing but the states executed: for every test chain
    /// that folds some, the report equals the one with every garbage state run, counts,
    /// counterexamples and their order, over the whole domain and over a sparse part
    /// of it, where garbage states' own counterexamples are kept (so the path that runs
    /// a folded state for its counterexamples is taken); fails if none is folded.
    #[test]
    fn folded_garbage_reports_equal_every_garbage_state_run() {
        let (chains, workspaces) = chains_and_workspaces();
        let kvm = chains.iter().find(|c| c.source() == Format::Kvm);
        let whole = workspace_of(&workspaces, kvm.expect("a chain from kvm_sregs"));
        let sparse = sparse(whole, 61);
        // `ws` with only the garbage classes `pick` picks (by place among them) and
        // their counterparts' (with the AVL-clear class of a twin).
        let keep_garbage = |pick: &dyn Fn(usize, &DomainState) -> bool| {
            let classes = &whole.classes;
            let mut kept = alloc::vec![false; classes.whole.len()];
            let first = classes.first_garbage as usize;
            for (i, &c) in classes.garbage_counterparts.iter().enumerate() {
                if pick(i, &whole.representative(&classes.whole[first + i])) {
                    kept[first + i] = true;
                    kept[c as usize] = true;
                }
            }
            for c in classes.avl_folded.iter().filter(|c| c.twin != NO_TWIN) {
                kept[c.ordinal as usize] |= kept[c.twin as usize];
            }
            keeping(whole, &kept)
        };
        let few = [61, 997].map(|every| keep_garbage(&|i, _| i % every == 0));
        let folding = chains
            .iter()
            .filter(|c| applies(c) && c.source() == Format::Kvm && folded_bytes(c) != 0);
        let (mut chains_folded, mut garbage_kept) = (0, 0);
        for chain in folding {
            // And the first two garbage states the chain fails, with their
            // counterparts: among the first counterexamples, garbage ones.
            let baselines = whole.baseline_outputs(chain).expect("same source");
            let failing = core::cell::Cell::new(0);
            let fails = keep_garbage(&|_, s| {
                let failed = evaluate(chain, s, &whole.previous, baselines.as_ref()) & DECIDED;
                let take = failed != 0 && failing.get() < 2;
                failing.set(failing.get() + usize::from(take));
                take
            });
            for ws in [whole, &sparse, &fails].into_iter().chain(&few) {
                let with = verify_with(ws, chain, avl(chain));
                RUN_EVERY_GARBAGE_STATE.with(|r| r.set(true));
                let every = verify_with(ws, chain, avl(chain));
                RUN_EVERY_GARBAGE_STATE.with(|r| r.set(false));
                assert_eq!(with.states, every.states, "{chain}");
                assert_eq!(with.garbage_states, every.garbage_states, "{chain}");
                assert_eq!(with.violations, every.violations, "{chain}");
                assert_eq!(with.kept, every.kept, "{chain}");
                assert_eq!(with.counterexamples, every.counterexamples, "{chain}");
                match core::ptr::eq(ws, whole) {
                    true => assert!(with.executed < every.executed, "{chain}: nothing folded"),
                    false => assert!(with.executed <= every.executed, "{chain}"),
                }
                chains_folded += 1;
                garbage_kept += with
                .counterexamples
                .iter()
                .filter(
                    |c| matches!(c.before.value, SegmentValue::Kvm(k) if Byte::of(&k).is_some()),
                )
                .count();
            }
        }
        std::eprintln!("{chains_folded} reports, {garbage_kept} garbage counterexamples kept");
        assert!(chains_folded >= 5 * 4, "{chains_folded}");
        assert!(garbage_kept > 0);
    }
}
