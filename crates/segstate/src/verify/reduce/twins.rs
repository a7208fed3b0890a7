//! AVL twins judged with their AVL-clear class ([`Avl::Folded`]), for chains whose ops
//! all carry AVL ([`carries_avl`]): a twin class's
//! verdict is its AVL-clear class's (`super`'s module doc says why), so it is counted
//! when that class is judged, and run only for the counterexamples it may add, at its
//! own place in class order, so that the counterexamples kept and their order are
//! those of every class judged on its own.

use alloc::collections::VecDeque;

use super::super::{ChainReport, Property, SegmentState, Workspace, judge, trips_alone};
use super::{Class, EntryJudge, NO_TWIN};
use crate::profile::{Chain, Op, Rule, StackOp};

/// True when `op` carries AVL: whatever the rest of its input, the input with AVL set
/// gives the output of the input with AVL clear with AVL set (in the output's format),
/// and its normalisation ([`super::super::normalise::expected`]) neither reads AVL nor
/// changes it. KVM's and QEMU's get and set copy AVL field to field
/// (`svm_get_segment`/`svm_set_segment`, `vmx_get_segment`/`vmx_segment_access_rights`,
/// QEMU `get_seg`/`set_seg` through `DESC_AVL_MASK`), and so do the other stacks'
/// conversions, but for the rules listed here, which drop it or read it:
///
/// - [`Rule::SvmSetZeroUnusableAttrib`], [`Rule::VmxSetZeroUnusableAr`],
///   [`Rule::QemuGetZeroUnusableFlags`]: an unusable segment's attributes are zeroed,
///   AVL with them, while the normalisation keeps them (loss rules);
/// - [`Rule::QemuGetKeepOldFlags`], [`Rule::QemuGetSegtype`]: an unusable segment takes
///   the previous cache's flags, AVL included;
/// - [`Rule::QemuSetV8086Seg`]: AVL is cleared (the normalisation clears it too, but
///   the output no longer carries it);
/// - [`Rule::VboxVmxImportStripUnusable`]: an unusable segment loses AVL;
/// - [`Rule::BochsVmexitZeroInvalidAttrib`]: a not-present segment's attrib is zeroed
///   (a loss rule);
/// - nested VMX without [`Rule::NvmxEntryCopySsAr`]: SS's access rights are a stale
///   constant, AVL not among them;
/// - [`Rule::VboxVmxExportZeroAttrUnusable`], [`Rule::CrosvmHaxmZeroArNull`]: an
///   all-zero attribute word (AVL clear) is written unusable, so AVL decides
///   usability.
///
/// Not taken on trust: `ops_carry_avl` runs every op of every built-in chain (and of
/// each with a rule switched off, and with half its rules off) over the values that
/// reach it from the whole domain, on the first trip and the second, and holds each
/// declared op to it; `normalisation_and_decoding_carry_avl` does the same for the
/// normalisation, the decoding and VM entry. A new op must be named here: none carries
/// AVL by default.
const fn carries_avl(op: Op) -> bool {
    match op {
        Op::SvmGet(_) | Op::VmxGet(_) | Op::QemuMigrate(..) => true,
        Op::SvmSet(r) => !r.has(Rule::SvmSetZeroUnusableAttrib),
        Op::VmxSet(r) => !r.has(Rule::VmxSetZeroUnusableAr),
        Op::QemuGet(r) => {
            !r.has(Rule::QemuGetZeroUnusableFlags)
                && !r.has(Rule::QemuGetKeepOldFlags)
                && !r.has(Rule::QemuGetSegtype)
        }
        Op::QemuSet(r) => !r.has(Rule::QemuSetV8086Seg),
        Op::Stack(op) => match op {
            StackOp::VboxVmxImport(r) => !r.has(Rule::VboxVmxImportStripUnusable),
            StackOp::VboxVmxExport(r) => !r.has(Rule::VboxVmxExportZeroAttrUnusable),
            StackOp::CrosvmToHaxm(r) => !r.has(Rule::CrosvmHaxmZeroArNull),
            StackOp::BochsRoundTrip(r) => !r.has(Rule::BochsVmexitZeroInvalidAttrib),
            StackOp::NestedVmxRoundTrip(r) => r.has(Rule::NvmxEntryCopySsAr),
            // Named one by one, not `_`: a new op is not taken to carry AVL by default.
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
            | StackOp::VboxNemImport(_)
            | StackOp::VboxNemExport(_)
            | StackOp::CrosvmFromKvm(_)
            | StackOp::CrosvmToKvm(_)
            | StackOp::CrosvmToWhpx(_)
            | StackOp::CrosvmFromWhpx(_)
            | StackOp::CrosvmFromHaxm(_)
            | StackOp::MshvSet(_)
            | StackOp::MshvGet(_)
            | StackOp::OpenvmmFromKvm(_)
            | StackOp::OpenvmmToKvm(_)
            | StackOp::NestedSvmRoundTrip(_) => true,
        },
    }
}

/// How a chain's classes treat AVL ([`super::Classes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::verify) enum Avl {
    /// States differing only in AVL are classes of their own, each run.
    Apart,
    /// A clean state with AVL set is judged with the class of its AVL-clear twin
    /// ([`super::super::Domain::avl_twin`]), which runs for both (module doc).
    Folded,
}

/// How the classes treat AVL in verifying `chain` (one the classes apply to): folded
/// when every op carries it ([`carries_avl`]).
pub(in crate::verify) fn avl(chain: &Chain) -> Avl {
    match chain.ops().iter().all(|&op| carries_avl(op)) {
        true => Avl::Folded,
        false => Avl::Apart,
    }
}

/// The bit of `p` in a verdict's `failed`.
const fn bit(p: Property) -> u8 {
    1 << p.index()
}

/// One chain's AVL twin classes counted but not yet run: those that violate a property
/// of which the report kept more counterexamples when they were counted
/// ([`ChainReport::keeps_more`]), by place in class order (rising).
#[derive(Debug, Default)]
pub(in crate::verify) struct Twins {
    pending: VecDeque<Pending>,
    /// Whether the chain folds AVL twins in ([`Avl::Folded`]): running them apart, it
    /// counts none ([`Class::twin`] is then not its to read).
    folded: bool,
}

/// A twin class whose counterexamples may be due: its place in class order and the
/// properties it was counted as violating.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending {
    ordinal: u32,
    violated: u8,
}

impl Twins {
    /// A chain's twins, counted if it walks the classes as `avl` says.
    pub(super) fn walking(avl: Avl) -> Self {
        Twins {
            pending: VecDeque::new(),
            folded: avl == Avl::Folded,
        }
    }

    /// Whether the chain folds AVL twins in.
    #[inline(always)]
    pub(super) fn folded(&self) -> bool {
        self.folded
    }

    /// Counts the AVL twins of `class` (if it has them) as its verdict says: `failed`,
    /// the properties the representative violates but VM entry, and whether VM entry
    /// refused it; `refused`, a bit per consistent member VM entry refused. Keeps the
    /// twin class for its counterexamples if one may be due.
    #[inline(always)]
    pub(super) fn count(
        &mut self,
        ws: &Workspace,
        (class, ordinal): (&Class, u32),
        ((failed, entry), refused): ((u8, bool), u64),
        report: &mut ChainReport,
    ) {
        if !self.folded || class.twin(ordinal) == NO_TWIN {
            return;
        }
        // AVL decides no consistency (`check::arch::reads`, `check::vmx_entry::reads`):
        // the twin class has as many members, as many of them consistent.
        debug_assert_eq!(
            {
                let twin = &ws.classes.whole[class.twin(ordinal) as usize];
                (twin.len(), twin.consistent)
            },
            (class.len(), class.consistent)
        );
        report.states += u64::from(class.len());
        if failed == 0 && !entry && refused == 0 {
            return;
        }
        self.count_violations((class, ordinal), ((failed, entry), refused), report);
    }

    /// [`Twins::count`]'s violations.
    #[inline(never)]
    fn count_violations(
        &mut self,
        (class, ordinal): (&Class, u32),
        ((failed, entry), refused): ((u8, bool), u64),
        report: &mut ChainReport,
    ) {
        let len = u64::from(class.len());
        for p in Property::ALL {
            if failed & bit(p) != 0 {
                report.violations[p.index()] += len;
            }
        }
        let rejected = u64::from(entry) + u64::from(refused.count_ones());
        let entry = Property::VmxEntryRejected;
        report.violations[entry.index()] += rejected;
        let violated = failed | if rejected > 0 { bit(entry) } else { 0 };
        let due = Property::ALL
            .iter()
            .any(|&p| violated & bit(p) != 0 && report.keeps_more(p));
        if due {
            self.pending.push_back(Pending {
                ordinal: class.twin(ordinal),
                violated,
            });
        }
    }

    /// The first twin class kept whose place in class order is before `ordinal`.
    pub(super) fn take_before(&mut self, ordinal: u32) -> Option<Pending> {
        match self.pending.front() {
            Some(p) if p.ordinal < ordinal => self.pending.pop_front(),
            _ => None,
        }
    }
}

impl Workspace {
    /// Runs the twin class `twin` through `chain` and records its counterexamples, as
    /// judging it on its own does, weighing nothing: its counts were taken with its
    /// AVL-clear class ([`Twins::count`]). `judges` are the chain's baselines and
    /// VM-entry judge (chains into a VMCS).
    pub(super) fn record_twin(
        &self,
        chain: &Chain,
        judges: (Option<&[SegmentState; 4]>, Option<&EntryJudge<'_>>),
        twin: Pending,
        report: &mut ChainReport,
    ) {
        let (baselines, entry_judge) = judges;
        let at = twin.ordinal as usize;
        let class = &self.classes.whole[at];
        let state = &self.representative(class);
        let (out, again) = trips_alone(chain, state, &self.previous[state.reg]);
        let accepts = |_: &[SegmentState; 4], out| {
            let entry_judge = entry_judge.expect("baselines for a VMCS");
            entry_judge.accepts(state.reg, state.baseline, out)
        };
        let verdict = judge(chain, state, &out, again.as_ref(), baselines, accepts);
        let entry_bit = bit(Property::VmxEntryRejected);
        let weights = ((0, 0), (0, 0));
        let (rest, entry) =
            self.record_entry_apart(chain, state, &verdict, weights, baselines, report);
        let mut violated = rest | entry;
        if let (Some(b), Some(entry_judge)) = (baselines, entry_judge) {
            let consistent = self.classes.consistent_members(&self.domain, class, state);
            let members = (class, state);
            let refused = self.classes.member_refusals(
                &self.domain,
                members,
                entry_judge,
                verdict.decoded_out,
            );
            if refused != 0 {
                violated |= entry_bit;
            }
            self.record_refused(chain, (state, &out), (consistent, refused), (b, 0), report);
        }
        debug_assert_eq!(violated, twin.violated, "{chain}: twin {at}");
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::AVL_TWIN;
    use super::super::tests::{chains_and_workspaces, with_half_rules_off, workspace_of};
    use super::*;
    use crate::arch::{Attributes, Segment};
    use crate::format::qemu::QemuFlags;
    use crate::format::svm::SvmAttrib;
    use crate::profile::{InFlight, SegmentValue, StackValue};

    /// `value` with AVL set to `on`, in its format's place.
    fn with_avl(value: &SegmentValue, on: bool) -> SegmentValue {
        let put16 =
            |word: &mut u16, shift: u16| *word = *word & !(1 << shift) | u16::from(on) << shift;
        let put32 =
            |word: &mut u32, mask: u32| *word = if on { *word | mask } else { *word & !mask };
        let word = 1u32 << Attributes::AVL_SHIFT;
        let mut v = *value;
        match &mut v {
            SegmentValue::Vmcb(s) => put16(&mut s.attrib.0, SvmAttrib::AVL_SHIFT),
            SegmentValue::Vmcs(s) => put32(&mut s.access_rights.0, word),
            SegmentValue::Kvm(k) => k.avl = u8::from(on),
            SegmentValue::Qemu(q) => put32(&mut q.flags.0, QemuFlags::AVL_MASK),
            SegmentValue::Stack(s) => match s {
                StackValue::Xen(x) => put16(&mut x.attr.0, SvmAttrib::AVL_SHIFT),
                StackValue::Bhyve(b) => put32(&mut b.desc.access.0, word),
                StackValue::Cpum(c) => put32(&mut c.attr.0, word),
                StackValue::Crosvm(c) => c.avl = u8::from(on),
                StackValue::Hv(h) => put16(&mut h.attributes.0, Attributes::AVL_SHIFT),
            },
        }
        v
    }

    /// The AVL-clear representatives with twins and their twins' representatives.
    fn pairs(ws: &Workspace) -> impl Iterator<Item = (DomainState, DomainState)> + '_ {
        let whole = &ws.classes.whole;
        let folded = whole.iter().filter(|c| c.twin_place() != AVL_TWIN);
        folded.filter(|c| c.twin_place() != NO_TWIN).map(|c| {
            let twin = &whole[c.twin_place() as usize];
            (ws.representative(c), ws.representative(twin))
        })
    }

    use super::super::super::DomainState;

    /// What [`carries_avl`] states, op by op: over every value that reaches an op from
    /// an AVL-clear representative and the same through its AVL twin, on the first trip
    /// and, for a chain of one format, on the second (from the first trip's outputs,
    /// values the domain does not hold), every built-in chain and each with a rule
    /// switched off, and each with half its rules switched off (every other rule, then
    /// the rest: a user's chain may switch off several, and [`carries_avl`] judges an
    /// op by the rules it keeps), an op declared carrying AVL gives the twin the
    /// representative's output with AVL set, and the same CPL byte, while the inputs
    /// are so related (up to the first op that does not carry it). Every op of a chain
    /// that folds AVL is held to it over the whole domain and both trips.
    #[test]
    fn ops_carry_avl() {
        let (mut chains, workspaces) = chains_and_workspaces();
        with_half_rules_off(&mut chains);
        let (mut checked, mut second, mut folded) = (0u64, 0u64, 0);
        let mut wrong = std::collections::BTreeMap::new();
        let mut trace: Vec<(InFlight, InFlight)> = Vec::new();
        for chain in &chains {
            let ws = workspace_of(&workspaces, chain);
            folded += usize::from(avl(chain) == Avl::Folded);
            // Holds each op on the twin's trip from `twin_in` to the representative's
            // from `rep_in`; the two trips' outputs.
            let mut hold = |reg, (rep_in, twin_in), previous| {
                trace.clear();
                let rep_out = chain.interpret(reg, rep_in, previous);
                chain.interpret_each_op(reg, rep_in, previous, |_, _, a, b| {
                    trace.push((*a, *b));
                });
                let mut related = true;
                chain.interpret_each_op(reg, twin_in, previous, |i, op, a, b| {
                    let (rep_in, rep_out) = trace[i];
                    related &=
                        a.value == with_avl(&rep_in.value, true) && a.vmcb_cpl == rep_in.vmcb_cpl;
                    if !related {
                        assert!(avl(chain) == Avl::Apart, "{chain}: {op:?}");
                        return;
                    }
                    if carries_avl(op) {
                        let clear = rep_out.value == with_avl(&rep_out.value, false);
                        let want = with_avl(&rep_out.value, true);
                        if !clear || b.value != want || b.vmcb_cpl != rep_out.vmcb_cpl {
                            wrong.insert(format!("{op:?}"), format!("{chain}: on {a:?}"));
                        }
                        checked += 1;
                    }
                });
                (rep_out, chain.interpret(reg, twin_in, previous))
            };
            for (rep, twin) in pairs(ws) {
                let previous = &ws.previous[rep.reg];
                let (rep_out, twin_out) = hold(rep.reg, (rep.input, twin.input), previous);
                let one_format = chain.source() == chain.destination();
                // Related outputs (AVL clear and set), or a dropping op said so above.
                let related = twin_out.value == with_avl(&rep_out.value, true)
                    && rep_out.value == with_avl(&rep_out.value, false)
                    && twin_out.vmcb_cpl == rep_out.vmcb_cpl;
                if one_format && related {
                    hold(rep.reg, (rep_out, twin_out), previous);
                    second += 1;
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "ops declared to carry AVL that do not: {wrong:#?}"
        );
        assert!(
            folded > chains.len() / 2,
            "{folded} of {} chains fold AVL",
            chains.len()
        );
        assert!(checked > 1_000_000, "{checked} op applications checked");
        assert!(second > 100_000, "{second} second trips checked");
    }

    /// The other sides of a twin's verdict move with AVL: for every chain that folds
    /// AVL and every AVL-clear representative with a twin, the normalisation of the
    /// twin is the representative's with AVL set, and so is the decoding of the twin's
    /// output (both refused alike); and VM entry, whose checks read no AVL, judges the
    /// twin's output as the representative's.
    #[test]
    fn normalisation_and_decoding_carry_avl() {
        let (chains, workspaces) = chains_and_workspaces();
        let set = |s: Option<Segment>| {
            s.map(|mut s| {
                assert!(!s.attributes.avl);
                s.attributes.avl = true;
                s
            })
        };
        let mut checked = 0u64;
        for chain in chains.iter().filter(|c| avl(c) == Avl::Folded) {
            let ws = workspace_of(&workspaces, chain);
            let baselines = ws.baseline_outputs(chain).expect("same source");
            for (rep, twin) in pairs(ws) {
                let (Some(r), Some(t)) = (rep.decoded, twin.decoded) else {
                    panic!("{chain}: a representative with a twin decodes");
                };
                let ops = chain.ops();
                let expected = crate::verify::normalise::expected(ops, rep.reg, &r, rep.cpl);
                let twin_expected = crate::verify::normalise::expected(ops, twin.reg, &t, twin.cpl);
                assert_eq!(set(Some(expected)), Some(twin_expected), "{chain}");
                let previous = &ws.previous[rep.reg];
                let out = chain.interpret(rep.reg, rep.input, previous);
                let twin_out = chain.interpret(twin.reg, twin.input, previous);
                let decoded = out.value.decode();
                assert_eq!(set(decoded), twin_out.value.decode(), "{chain}: {out:?}");
                if let Some(b) = &baselines {
                    let at = |d| crate::verify::entry::accepts(b, rep.reg, rep.baseline, d);
                    assert_eq!(at(decoded), at(set(decoded)), "{chain}: {out:?}");
                }
                checked += 1;
            }
        }
        assert!(checked > 1_000_000, "{checked} pairs checked");
    }

    /// `chain` verified over `ws`'s classes with AVL twins `avl`.
    pub(in crate::verify) fn verify_with(ws: &Workspace, chain: &Chain, avl: Avl) -> ChainReport {
        let baselines = ws.baseline_outputs(chain).expect("same source");
        let report = ws.empty_report(chain).expect("same source");
        let mut runs = [super::super::ClassRun::new(
            chain,
            baselines.as_ref(),
            report,
        )];
        ws.verify_classes(&mut runs, avl).expect("same source");
        let [run] = runs;
        run.into_report()
    }

    /// `ws` with only every `every`-th class of the folded list, and the twins of
    /// those: a domain whose violations are sparse, so that a twin's counterexample is
    /// among the first kept (over the whole domain, violations come in runs and the
    /// first counterexamples are all AVL-clear representatives).
    pub(in crate::verify) fn sparse(ws: &Workspace, every: usize) -> Workspace {
        let (folded, whole) = (&ws.classes.avl_folded(), &ws.classes.whole);
        let mut kept = alloc::vec![false; whole.len()];
        for c in folded.iter().step_by(every) {
            kept[c.ordinal as usize] = true;
            if c.twin_place() != NO_TWIN {
                kept[c.twin_place() as usize] = true;
            }
        }
        keeping(ws, &kept)
    }

    /// `ws` with only the classes `kept` has a bit for (in [`Classes::whole`] order),
    /// which holds each kept AVL twin's AVL-clear class.
    pub(in crate::verify) fn keeping(ws: &Workspace, kept: &[bool]) -> Workspace {
        let whole = &ws.classes.whole;
        let mut at = alloc::vec![NO_TWIN; whole.len()];
        let mut classes = super::super::Classes::default();
        let kept_at = at.iter_mut().zip(kept).filter(|&(_, &k)| k);
        for (n, (at, _)) in kept_at.enumerate() {
            *at = n as u32;
        }
        for (i, c) in whole.iter().enumerate().filter(|&(i, _)| kept[i]) {
            // A kept class's twins' class, if kept too.
            let twin = match c.twin_place() {
                NO_TWIN | AVL_TWIN => c.twin_place(),
                twin => at[twin as usize],
            };
            let ordinal = at[i];
            classes.whole.push(Class {
                ordinal,
                twin: Class::twin_field(ordinal, twin),
                ..*c
            });
        }
        classes.partners.clone_from(&ws.classes.partners);
        // A garbage class's counterpart, where both are kept (`garbage`).
        let first = ws.classes.first_garbage as usize;
        classes.first_garbage = kept[..first].iter().filter(|&&k| k).count() as u32;
        let counterparts = ws.classes.garbage_counterparts.iter().enumerate();
        for (_, &c) in counterparts.filter(|&(i, _)| kept[first + i]) {
            let counterpart = c.map_class(|class| at[class as usize]);
            classes.garbage_counterparts.push(counterpart);
        }
        Workspace {
            format: ws.format,
            domain: super::super::Domain::new(ws.format),
            classes,
            previous: ws.previous,
        }
    }

    /// Folding AVL twins in changes nothing but the states executed: for every chain
    /// that folds them (every built-in chain and each with a rule switched off), the
    /// report is the one with every AVL twin run as a class of its own, counts,
    /// counterexamples and their order, over the whole domain and over a sparse part
    /// of it; and there twins' own counterexamples are among them, so the path that
    /// runs a twin for its counterexamples is taken.
    #[test]
    fn folded_reports_equal_the_twins_run_apart() {
        let (chains, whole) = chains_and_workspaces();
        let sparse: Vec<Workspace> = whole.iter().map(|ws| sparse(ws, 61)).collect();
        let (mut folded, mut twin_counterexamples) = (0, 0);
        let folding = chains.iter().filter(|c| avl(c) == Avl::Folded);
        for (chain, workspaces) in folding.flat_map(|c| [(c, &whole), (c, &sparse)]) {
            let ws = workspace_of(workspaces, chain);
            let with = verify_with(ws, chain, Avl::Folded);
            let apart = verify_with(ws, chain, Avl::Apart);
            assert_eq!(with.states, apart.states, "{chain}");
            assert_eq!(with.garbage_states, apart.garbage_states, "{chain}");
            assert_eq!(with.violations, apart.violations, "{chain}");
            assert_eq!(with.kept, apart.kept, "{chain}");
            assert_eq!(with.counterexamples, apart.counterexamples, "{chain}");
            assert!(with.executed < apart.executed, "{chain}");
            let avl_set = |c: &&super::super::super::Counterexample| {
                c.before.value != with_avl(&c.before.value, false)
            };
            twin_counterexamples += with.counterexamples.iter().filter(avl_set).count();
            folded += 1;
        }
        assert!(
            folded > chains.len(),
            "{folded} of {} chains fold",
            chains.len()
        );
        assert!(
            twin_counterexamples > 10,
            "{twin_counterexamples} from twins"
        );
    }

    /// The folded list is the whole list but the AVL twins' classes, each named by the
    /// class of its AVL-clear twin, and every class of the whole list is in it once
    /// either way, in class order, in each of the three domains. A class without a twin
    /// is one of `kvm_sregs`' garbage states (which no format decodes); every clean
    /// class has one.
    #[test]
    fn folded_classes_name_each_twin_once() {
        use crate::profile::Format;
        for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
            let ws = Workspace::new(format);
            let (folded, whole) = (&ws.classes.avl_folded(), &ws.classes.whole);
            let mut seen = alloc::vec![0u8; whole.len()];
            let mut last = None;
            for c in folded {
                assert!(last < Some(c.ordinal));
                last = Some(c.ordinal);
                assert_eq!(*c, whole[c.ordinal as usize]);
                let rep = &ws.representative(c);
                seen[c.ordinal as usize] += 1;
                if c.twin_place() != NO_TWIN {
                    // Its twins' class sits 256 places after it (1,024 for a VMCB's SS,
                    // four CPL bytes an attribute word): far within the 65,534 its
                    // 16-bit distance holds (`Class::twin_field`).
                    let ahead = match (format, c.reg) {
                        (Format::Vmcb, crate::arch::SegReg::Ss) => 1024,
                        _ => 256,
                    };
                    assert_eq!(c.twin_place() - c.ordinal, ahead, "{format} {:?}", c.reg);
                    assert_eq!(u32::from(c.twin), ahead);
                    assert_eq!(rep.decoded.map(|s| s.attributes.avl), Some(false));
                    seen[c.twin_place() as usize] += 1;
                    let twin = &ws.representative(&whole[c.twin_place() as usize]);
                    assert_eq!(twin.decoded.map(|s| s.attributes.avl), Some(true));
                } else {
                    assert_eq!((format, rep.decoded), (Format::Kvm, None), "{rep:?}");
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{format}");
            let lone = folded.iter().filter(|c| c.twin_place() == NO_TWIN).count();
            assert_eq!(folded.len() * 2 - lone, whole.len(), "{format}");
            assert_eq!(
                lone > 0,
                format == Format::Kvm,
                "{format}: {lone} without twins"
            );
        }
    }

    /// The batches are the class lists in order, a batch of one register and at most
    /// [`BATCH`](super::super::BATCH) classes, each class with its own representative,
    /// made from its position ([`Workspace::representatives`]): folded or not, the
    /// state at the class's index in domain order. The folded batches are runs of the
    /// whole list itself, not of a copy of it (what the folded classes would cost to
    /// write: about a third of the fresh pages `verify` touched), and each class's place
    /// read from its batch's ([`Batch::first`](super::super::Batch)) is the one it was
    /// given.
    #[test]
    fn batches_make_each_representative_in_place() {
        for format in [crate::profile::Format::Vmcb, crate::profile::Format::Kvm] {
            let ws = Workspace::new(format);
            let mut reps = Vec::new();
            for (avl, list) in [
                (Avl::Apart, &ws.classes.whole),
                (Avl::Folded, &ws.classes.avl_folded()),
            ] {
                let mut walked = Vec::with_capacity(list.len());
                for placed in ws.classes.placed_batches(avl) {
                    let batch = placed.classes;
                    let within = ws.classes.whole.as_ptr_range();
                    assert!(within.contains(&batch.as_ptr()), "{format} {avl:?}");
                    ws.representatives(batch, &mut reps);
                    assert_eq!(batch.len(), reps.len());
                    assert!(batch.len() <= super::super::BATCH);
                    for (i, (c, rep)) in batch.iter().zip(&reps).enumerate() {
                        let ordinal = placed.first + i as u32;
                        assert_eq!(c.reg, batch[0].reg);
                        assert_eq!(*rep, ws.domain.state_at(c.index as usize));
                        assert_eq!(ordinal, c.ordinal, "{format} {avl:?}");
                        walked.push(ordinal);
                    }
                }
                let ordinals: Vec<u32> = list.iter().map(|c| c.ordinal).collect();
                assert_eq!(walked, ordinals, "{format} {avl:?}");
            }
        }
    }

    /// One pass for both kinds of chain ([`Workspace::verify_classes_both`]) gives each
    /// reduced built-in chain the report it gets alone over its own class list, over the
    /// whole domain of each source format and over a sparse one (whose batches end where
    /// the folded list's need not); and the folded chains did judge classes from the
    /// representatives made for the whole list's batches, or the equality would prove
    /// nothing about it.
    #[test]
    fn one_pass_gives_each_chains_own_report() {
        let (_, whole) = chains_and_workspaces();
        let sparse: Vec<Workspace> = whole.iter().map(|ws| sparse(ws, 61)).collect();
        let builtin = crate::profile::builtin_chains();
        super::super::pass::FOLDED_FROM_WHOLE.with(|n| n.set(0));
        let mut both = 0;
        for ws in whole.iter().chain(&sparse) {
            let of_ws = |kind: Avl| {
                let chains = builtin.iter().filter(move |c| c.source() == ws.format);
                chains.filter(move |c| super::super::applies(c) && avl(c) == kind)
            };
            let baselines = |kind| {
                of_ws(kind)
                    .map(|c| (c, ws.baseline_outputs(c).expect("same source")))
                    .collect::<Vec<_>>()
            };
            let (folded, apart) = (baselines(Avl::Folded), baselines(Avl::Apart));
            let (mut folded_runs, mut apart_runs) = (Vec::new(), Vec::new());
            for (chains, runs) in [(&folded, &mut folded_runs), (&apart, &mut apart_runs)] {
                for (c, b) in chains {
                    let report = ws.empty_report(c).expect("same source");
                    runs.push(super::super::ClassRun::new(c, b.as_ref(), report));
                }
            }
            ws.verify_classes_both(&mut folded_runs, &mut apart_runs)
                .expect("same source");
            both += usize::from(!folded.is_empty() && !apart.is_empty());
            let kinds = [
                (Avl::Folded, &folded, folded_runs),
                (Avl::Apart, &apart, apart_runs),
            ];
            for (kind, chains, runs) in kinds {
                for ((chain, _), run) in chains.iter().zip(runs) {
                    let (together, alone) = (run.into_report(), verify_with(ws, chain, kind));
                    assert_eq!(together.violations, alone.violations, "{chain}");
                    assert_eq!(together.kept, alone.kept, "{chain}");
                    assert_eq!(together.counterexamples, alone.counterexamples, "{chain}");
                    let counts = |r: &ChainReport| (r.states, r.executed, r.garbage_states);
                    assert_eq!(counts(&together), counts(&alone), "{chain}");
                }
            }
        }
        assert!(both > 0, "no source format has chains of both kinds");
        assert!(
            super::super::pass::FOLDED_FROM_WHOLE.with(|n| n.get()) > 0,
            "no folded chain judged the whole list's representatives"
        );
    }
}
