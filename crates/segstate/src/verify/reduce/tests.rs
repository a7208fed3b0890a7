//! The reduction's tests: classes against the domain, ops against their declarations,
//! reduced reports against the whole enumeration.

use super::*;
use crate::profile::Format;
use crate::profile::builtin_chains;

fn selector_of(value: &SegmentValue) -> u16 {
    match value {
        SegmentValue::Vmcb(v) => v.selector,
        SegmentValue::Vmcs(v) => v.selector,
        SegmentValue::Kvm(k) => k.selector,
        SegmentValue::Qemu(q) => q.selector as u16,
        SegmentValue::Stack(s) => match s {
            StackValue::Xen(v) => v.selector,
            StackValue::Bhyve(v) => v.selector,
            StackValue::Cpum(v) => v.selector,
            StackValue::Crosvm(v) => v.selector,
            StackValue::Hv(v) => v.selector,
        },
    }
}

fn base_of(value: &SegmentValue) -> u64 {
    match value {
        SegmentValue::Vmcb(v) => v.base,
        SegmentValue::Vmcs(v) => v.base,
        SegmentValue::Kvm(k) => k.base,
        SegmentValue::Qemu(q) => q.base,
        SegmentValue::Stack(s) => match s {
            StackValue::Xen(v) => v.base,
            StackValue::Bhyve(v) => v.desc.base,
            StackValue::Cpum(v) => v.base,
            StackValue::Crosvm(v) => v.base,
            StackValue::Hv(v) => v.base,
        },
    }
}

/// The value with the selector's RPL and the base cleared: what classes compare.
fn uncarried(value: &SegmentValue) -> SegmentValue {
    with_base(&with_selector(value, selector_of(value) & !3), 0)
}

fn decoded_uncarried(s: Option<Segment>) -> Option<Segment> {
    s.map(|mut s| {
        s.selector.0 &= !3;
        s.base = 0;
        s
    })
}

/// True when `a` and `b` are the same state but for the register within its
/// [`group`], the selector's RPL and the base.
fn alike(a: &DomainState, b: &DomainState) -> bool {
    group(a.reg) == group(b.reg)
        && a.cpl == b.cpl
        && a.baseline == b.baseline
        && a.input.vmcb_cpl == b.input.vmcb_cpl
        && uncarried(&a.input.value) == uncarried(&b.input.value)
        && decoded_uncarried(a.decoded) == decoded_uncarried(b.decoded)
}

/// Every built-in chain and each with one rule switched off, with the workspace of
/// its source format.
pub(in crate::verify) fn chains_and_workspaces() -> (Vec<Chain>, Vec<Workspace>) {
    let mut chains = Vec::new();
    for chain in builtin_chains() {
        for rule in chain.rules().iter() {
            chains.push(chain.without(rule));
        }
        chains.push(chain);
    }
    let mut workspaces: Vec<Workspace> = Vec::new();
    for chain in &chains {
        if !workspaces.iter().any(|w| w.format == chain.source()) {
            workspaces.push(Workspace::new(chain.source()));
        }
    }
    (chains, workspaces)
}

/// The index in domain order of each member after `c`'s representative, from the
/// class's place in the domain: the states at the representative's position of its
/// group's other lists.
fn others(domain: &Domain, c: &Class) -> Vec<usize> {
    if c.len() == 1 {
        return Vec::new();
    }
    let n = position(domain, c);
    let out: Vec<usize> = partners(c.reg)
        .map(|(reg, rpl)| domain.index(reg, rpl, n))
        .collect();
    assert_eq!(out.len() + 1, usize::from(c.len()));
    out
}

/// The representative's position in its list (RPL 0 of its group's leader), found
/// from its index in domain order: the one the class keeps.
fn position(domain: &Domain, c: &Class) -> usize {
    assert_eq!(
        (group_leader(c.reg), c.rpl()),
        (c.reg, PrivilegeLevel::Ring0)
    );
    let n = c.index as usize - domain.index(c.reg, PrivilegeLevel::Ring0, 0);
    assert_eq!(n, c.position as usize);
    n
}

/// The consistent members after `c`'s representative `rep`, by their index in domain
/// order, each with what the classes make of it.
fn consistent_others(
    domain: &Domain,
    classes: &Classes,
    (c, rep): (&Class, &DomainState),
) -> Vec<(usize, Carried)> {
    let members = classes.consistent_members(domain, c, rep);
    members
        .map(|m| {
            let rpl = Selector(m.selector).rpl();
            (domain.index(m.reg, rpl, position(domain, c)), m)
        })
        .collect()
}

/// Adds each built-in chain with half its rules switched off (every other rule, then
/// the rest: a user's chain may switch off several, and the declarations judge an op
/// by the rules it keeps).
pub(in crate::verify) fn with_half_rules_off(chains: &mut Vec<Chain>) {
    for chain in builtin_chains() {
        let rules: Vec<crate::profile::Rule> = chain.rules().iter().collect();
        for half in 0..2 {
            let switched = rules.iter().skip(half).step_by(2);
            chains.push(switched.fold(chain.clone(), |c, &r| c.without(r)));
        }
    }
}

pub(in crate::verify) fn workspace_of<'w>(
    workspaces: &'w [Workspace],
    chain: &Chain,
) -> &'w Workspace {
    workspaces
        .iter()
        .find(|w| w.format == chain.source())
        .expect("a workspace per source format")
}

/// What [`reducible`] states, op by op: over every value that reaches an op from
/// the whole domain, a class member's input gives the representative's output with
/// the member's selector and base, and the same CPL byte.
#[test]
fn ops_carry_selector_and_base() {
    let (chains, workspaces) = chains_and_workspaces();
    let mut checked = 0u64;
    for chain in &chains {
        let ws = workspace_of(&workspaces, chain);
        let mut trace: Vec<(InFlight, InFlight)> = Vec::new();
        for class in &ws.classes.whole {
            let rep = &ws.domain.state_at(class.index as usize);
            trace.clear();
            chain.interpret_each_op(rep.reg, rep.input, &ws.previous[rep.reg], |_, _, a, b| {
                trace.push((*a, *b));
            });
            for m in others(&ws.domain, class) {
                let member = &ws.domain.state_at(m);
                let prev = &ws.previous[member.reg];
                chain.interpret_each_op(member.reg, member.input, prev, |i, op, a, b| {
                    let (rep_in, rep_out) = trace[i];
                    assert!(reducible(op));
                    let carried = |v: &SegmentValue, from: &SegmentValue| {
                        with_base(&with_selector(v, selector_of(from)), base_of(from))
                    };
                    // The member's input is the representative's with its own carried
                    // fields (the previous op carried them), ...
                    assert_eq!(carried(&rep_in.value, &a.value), a.value, "{chain}: {op:?}");
                    // ... and so is its output.
                    assert_eq!(
                        carried(&rep_out.value, &a.value),
                        b.value,
                        "{chain}: {op:?} {:?} vs {:?}: {a:?}",
                        rep.reg,
                        member.reg
                    );
                    assert_eq!(rep_out.vmcb_cpl, b.vmcb_cpl, "{chain}: {op:?}");
                    checked += 1;
                });
            }
        }
    }
    assert!(checked > 1_000_000, "{checked} op applications checked");
}

#[cfg(feature = "std")]
std::thread_local! {
    /// How many refused class members `judge_batch` counted without building or
    /// judging them: the test sees that the shortcut it holds harmless is taken.
    pub(super) static COUNTED_UNBUILT: core::cell::Cell<usize> =
        const { core::cell::Cell::new(0) };
    /// How many classes' member refusals `Classes::member_refusals` held, as it gave
    /// them (partly from other classes: `PartnerRefusals`), to those judged for the
    /// class alone.
    pub(super) static PARTNERS_HELD: core::cell::Cell<usize> =
        const { core::cell::Cell::new(0) };
}

/// The member refusals a class takes from earlier classes decoded alike
/// (`PartnerRefusals`: kept per baseline group, register group, baseline and decoded
/// output) are the ones judged for the class alone: every built-in chain into a VMCS,
/// verified alone and together with the others (where baseline groups differ), has
/// each class's refusals held to its own as they are given (`member_refusals`, under
/// the tests), over the whole domain. The sharing really happens: most members asked
/// about take an earlier class's verdict.
#[cfg(feature = "std")]
#[test]
fn partner_refusals_shared_across_classes_are_each_classes_own() {
    use super::super::entry::SHARED_PARTNERS;
    use super::super::verify_all;
    PARTNERS_HELD.with(|n| n.set(0));
    SHARED_PARTNERS.with(|n| n.set(0));
    let chains: Vec<_> = builtin_chains()
        .into_iter()
        .filter(|c| c.destination() == Format::Vmcs && applies(c))
        .collect();
    assert!(chains.len() > 10, "{} chains into a VMCS", chains.len());
    let mut workspaces: Vec<Workspace> = Vec::new();
    for chain in &chains {
        if !workspaces.iter().any(|w| w.format == chain.source()) {
            workspaces.push(Workspace::new(chain.source()));
        }
        workspace_of(&workspaces, chain)
            .verify(chain)
            .expect("same source");
    }
    let alone = (
        PARTNERS_HELD.with(|n| n.get()),
        SHARED_PARTNERS.with(|n| n.get()),
    );
    let together = verify_all(&chains);
    assert_eq!(together.len(), chains.len());
    let held = PARTNERS_HELD.with(|n| n.get());
    let shared = SHARED_PARTNERS.with(|n| n.get());
    assert!(alone.0 > 100_000, "{} classes held", alone.0);
    assert!(
        alone.1 > 2 * alone.0,
        "{} members shared over {} classes",
        alone.1,
        alone.0
    );
    assert!(
        held > alone.0 && shared > alone.1,
        "{held} {shared} together"
    );
}

/// Refused class members past the kept counterexamples are counted, not built
/// and judged (`judge_batch`): for every built-in chain into a VMCS whose VM entry
/// refuses states, the kept VM-entry counterexamples are the first refused states
/// in class order (each representative, then its members in domain order), each
/// judged alone on the state as the domain holds it, as the unreduced verification
/// judges it. The counts are held to the whole enumeration's by
/// `reduced_reports_equal_the_whole_enumeration`. Members really went unbuilt.
#[cfg(feature = "std")]
#[test]
fn refused_members_are_counted_and_the_first_kept() {
    use super::super::{COUNTEREXAMPLES_PER_PROPERTY, evaluate};
    COUNTED_UNBUILT.with(|n| n.set(0));
    let entry_bit = 1u8 << Property::VmxEntryRejected.index();
    let mut workspaces: Vec<Workspace> = Vec::new();
    let mut refusing = 0;
    for chain in builtin_chains() {
        if chain.destination() != Format::Vmcs {
            continue;
        }
        if !workspaces.iter().any(|w| w.format == chain.source()) {
            workspaces.push(Workspace::new(chain.source()));
        }
        let ws = workspace_of(&workspaces, &chain);
        let report = ws.verify(&chain).expect("same source");
        if report.violations(Property::VmxEntryRejected) == 0 {
            continue;
        }
        refusing += 1;
        let kept: Vec<(SegReg, InFlight)> = report
            .counterexamples
            .iter()
            .filter(|c| c.property == Property::VmxEntryRejected)
            .map(|c| (c.reg, c.before))
            .collect();
        let baselines = ws.baseline_outputs(&chain).expect("same source");
        let mut first = Vec::new();
        'classes: for c in &ws.classes.whole {
            for i in core::iter::once(c.index as usize).chain(others(&ws.domain, c)) {
                let s = ws.domain.state_at(i);
                let failed = evaluate(&chain, &s, &ws.previous, baselines.as_ref());
                if failed & entry_bit != 0 {
                    first.push((s.reg, s.input));
                    if first.len() == COUNTEREXAMPLES_PER_PROPERTY {
                        break 'classes;
                    }
                }
            }
        }
        assert_eq!(kept, first, "{chain}");
    }
    assert!(refusing >= 2, "{refusing} chains refused by VM entry");
    let unbuilt = COUNTED_UNBUILT.with(|n| n.get());
    assert!(
        unbuilt > 100_000,
        "{unbuilt} refused members counted unbuilt"
    );
}

#[test]
fn reduced_reports_equal_the_whole_enumeration() {
    let (chains, workspaces) = chains_and_workspaces();
    let (mut folded, mut garbage_folded, mut described) = (0, 0, 0);
    for chain in &chains {
        assert!(applies(chain), "{chain}");
        let ws = workspace_of(&workspaces, chain);
        let reduced = ws.verify(chain).expect("same source");
        let whole = ws.verify_unreduced(chain).expect("same source");
        assert_eq!(reduced.states, whole.states, "{chain}");
        assert_eq!(reduced.states, ws.domain.state_count() as u64, "{chain}");
        assert_eq!(reduced.garbage_states, whole.garbage_states, "{chain}");
        assert_eq!(reduced.violations, whole.violations, "{chain}");
        assert_eq!(whole.executed, whole.states);
        assert!(reduced.executed < whole.executed, "{chain}");
        // Chains carrying AVL run a class per AVL-clear class and per lone state.
        let list = match avl(chain) {
            Avl::Folded => &ws.classes.avl_folded(),
            Avl::Apart => &ws.classes.whole,
        };
        // Less the garbage states judged with their counterpart (`garbage`), but those
        // run for a counterexample (one per kept counterexample at most).
        let list = list.len() as u64;
        let folded_garbage = super::garbage::tests::folded_states(ws, chain);
        let runs = list - folded_garbage..=list - folded_garbage + 9;
        assert!(
            runs.contains(&reduced.executed),
            "{chain}: {}",
            reduced.executed
        );
        garbage_folded += usize::from(folded_garbage > 0);
        folded += usize::from(avl(chain) == Avl::Folded);
        // Each violated property keeps one to three counterexamples, the others none.
        for report in [&reduced, &whole] {
            for p in Property::ALL {
                let kept = report.counterexamples.iter();
                let kept = kept.filter(|c| c.property == p).count();
                let want = if report.violations(p) == 0 {
                    0..=0
                } else {
                    1..=super::super::COUNTEREXAMPLES_PER_PROPERTY
                };
                assert!(want.contains(&kept), "{chain}: {kept} kept of {p}");
            }
        }
        for report in [&reduced, &whole] {
            described += attribute_losses_described(chain, report);
        }
        for c in &reduced.counterexamples {
            assert!(
                whole
                    .counterexamples
                    .iter()
                    .any(|w| w.property == c.property)
            );
        }
    }
    // Most chains fold AVL twins in, and some do not: both paths are held to it.
    assert!(
        folded * 2 > chains.len() && folded < chains.len(),
        "{folded} fold"
    );
    // Among them chains that fold garbage and chains that run all of it.
    assert!(
        garbage_folded >= 4 && garbage_folded < chains.len(),
        "{garbage_folded}"
    );
    // Attribute losses of many chains, by both paths, their expected segment described.
    assert!(described > 100, "{described} attribute losses described");
}

/// Each attribute-loss counterexample of `report` says what `normalise::expected`
/// makes of its own source (its input decoded, its register, its CPL before, the
/// chain's ops) against its output decoded, and they differ: the description is
/// computed apart from the verdict (masks judge it), so a description from the output,
/// another state, CPL or register, or with no difference to show, fails here. How many
/// had an output that decodes.
fn attribute_losses_described(chain: &Chain, report: &ChainReport) -> usize {
    let mut described = 0;
    for c in &report.counterexamples {
        if c.property != Property::AttributeLoss {
            continue;
        }
        let before = c
            .before
            .value
            .decode()
            .expect("a loss has a decoded source");
        let expected = super::super::normalise::expected(chain.ops(), c.reg, &before, c.cpl_before);
        let Some(after) = c.after.value.decode() else {
            assert_eq!(c.detail, "the result does not decode", "{chain}");
            continue;
        };
        assert_ne!(expected, after, "{chain}: {c:?}");
        let want = format!(
            "expected vs actual: {}",
            super::super::paths::difference(&expected, &after)
        );
        assert_eq!(c.detail, want, "{chain}");
        described += 1;
    }
    described
}

#[test]
fn classes_cover_the_domain_once() {
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        let domain = Domain::new(format);
        let states = domain.states();
        let classes = classes(&domain, Classes::default());
        let ws = Workspace {
            format,
            domain: Domain::new(format),
            classes,
            previous: super::super::domain::previous_caches(),
        };
        let (domain, classes) = (&ws.domain, &ws.classes);
        // Every position fits the class's 16 bits.
        for (reg, rpl) in SegReg::ALL
            .into_iter()
            .flat_map(|r| PrivilegeLevel::ALL.map(|p| (r, p)))
        {
            let len = domain.list_len(reg, rpl);
            assert!(len <= 1 << u16::BITS, "{format} {reg} {rpl}: {len} states");
        }
        let mut seen = alloc::vec![0u8; states.len()];
        for c in &classes.whole {
            // The representative made from the class's position is the state at its
            // index, and sits where the class says.
            let rep = &ws.representative(c);
            assert_eq!(*rep, states[c.index as usize], "{format}");
            assert_eq!(
                domain.index(c.reg, c.rpl(), c.position as usize),
                c.index as usize
            );
            seen[c.index as usize] += 1;
            assert_eq!(c.reg, rep.reg);
            assert_eq!(
                c.consistent >> (c.len() - 1),
                0,
                "{format}: a bit per member"
            );
            let others = others(domain, c);
            // The members' bits are in domain order.
            assert!(
                others.windows(2).all(|w| w[0] < w[1]),
                "{format}: {others:?}"
            );
            for &m in &others {
                assert!(alike(rep, &states[m]), "{format} {m}");
                seen[m] += 1;
            }
            // The consistent members, in domain order, and only those, each made
            // from the representative as the state at its index.
            let consistent: Vec<usize> = others
                .iter()
                .copied()
                .filter(|&m| states[m].consistent)
                .collect();
            let kept = consistent_others(domain, classes, (c, rep));
            assert_eq!(kept.iter().map(|(m, _)| *m).collect::<Vec<_>>(), consistent);
            for (m, carried) in kept {
                assert_eq!(carried.member(rep), states[m], "{format}");
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "{format}");
        // The states that decode of CS, SS, TR and LDTR come four to a class (one
        // per RPL), those of DS, ES, FS and GS sixteen; garbage stands alone.
        let garbage = states.iter().filter(|s| s.decoded.is_none()).count();
        let n = |regs: &[SegReg]| {
            let clean = states.iter().filter(|s| s.decoded.is_some());
            clean.filter(|s| regs.contains(&s.reg)).count()
        };
        let four = n(&[SegReg::Cs, SegReg::Ss, SegReg::Tr, SegReg::Ldtr]);
        let sixteen = n(&[SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs]);
        assert_eq!(
            classes.whole.len(),
            four / 4 + sixteen / 16 + garbage,
            "{format}"
        );
    }
}

/// Classes built in another domain's spent buffers are those built afresh, and the
/// buffers are reused: `kvm_segment`'s classes, the most, leave room for a VMCB's,
/// which are then written in the same memory (and back again, growing into it).
///
/// Built afresh, each list is sized once, to what is pushed into it: its capacity is
/// its length, in each of the three domains. (`Classes::emptied` reserves exactly
/// what it is asked, checked with odd sizes; a reserve short of what is pushed grows a
/// list by doubling, to a capacity past its length, but for one exactly half short.)
#[test]
fn classes_built_in_spent_buffers_are_the_fresh_ones() {
    let fresh = |format| classes(&Domain::new(format), Classes::default());
    let reserved = Classes::default().emptied((1_001, 333));
    assert_eq!(
        (
            reserved.whole.capacity(),
            reserved.garbage_counterparts.capacity()
        ),
        (1_001, 333)
    );
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        let c = fresh(format);
        assert_eq!(c.whole.capacity(), c.whole.len(), "{format}");
        let garbage = &c.garbage_counterparts;
        assert_eq!(garbage.capacity(), garbage.len(), "{format}");
        let first = c.first_garbage as usize;
        assert_eq!(garbage.len(), c.whole.len() - first, "{format}");
        assert_eq!(garbage.is_empty(), format != Format::Kvm, "{format}");
    }
    let same = |a: &Classes, b: &Classes| {
        a.whole == b.whole
            && a.partners == b.partners
            && a.garbage_counterparts == b.garbage_counterparts
            && a.first_garbage == b.first_garbage
    };
    let kvm = fresh(Format::Kvm);
    let at = kvm.whole.as_ptr();
    let vmcb = classes(&Domain::new(Format::Vmcb), kvm);
    assert_eq!(vmcb.whole.as_ptr(), at);
    assert!(same(&vmcb, &fresh(Format::Vmcb)));
    let vmcs = classes(&Domain::new(Format::Vmcs), vmcb);
    assert!(same(&vmcs, &fresh(Format::Vmcs)));
    let kvm = classes(&Domain::new(Format::Kvm), vmcs);
    assert!(same(&kvm, &fresh(Format::Kvm)));
}

/// Members' consistency judged once per kind of check is each member's own: over
/// every class of the three domains, and of a VMCS domain whose carried fields VM
/// entry refuses for some members ([`Domain::refusing_carried_fields`]),
/// [`Domain::consistent_partners`] gives each member's bit as the state at its place
/// holds it ([`DomainState::consistent`], judged alone by [`Domain::state`]); both
/// verdicts occur; most members took a verdict given before rather than judging their
/// own (it fails if nothing is shared); and in the last domain classes hold members of
/// both verdicts, so a member judged with another's selector or base, or without VM
/// entry's checks of its own, or its bit out of place, fails it (in the built-in
/// VMCS domain, VM entry's checks reading a selector or base never refuse a member
/// the others accept: `vm_entry_split_is_each_members_whole_check`).
#[test]
fn shared_verdicts_are_the_unshared_ones() {
    use super::super::domain::SharedVerdicts;
    let domains = [Format::Vmcb, Format::Vmcs, Format::Kvm].map(|f| (f, Domain::new(f), false));
    let refusing = Domain::refusing_carried_fields(Format::Vmcs);
    for (format, domain, refuses) in domains.into_iter().chain([(Format::Vmcs, refusing, true)]) {
        let classes = classes(&domain, Classes::default());
        let mut shared = SharedVerdicts::default();
        let (mut judged, mut both, mut mixed) = (0u64, [0u64; 2], 0u64);
        for c in classes.whole.iter().filter(|c| c.len() > 1) {
            let rep = domain.state(c.reg, c.rpl(), c.position as usize);
            let partners = &classes.partners[c.reg];
            let bits = domain.consistent_partners(&rep, partners, &mut shared);
            let all = (1u16 << partners.len()) - 1;
            mixed += u64::from(bits != 0 && bits != all);
            for (i, &(reg, rpl)) in partners.iter().enumerate() {
                let alone = domain.state(reg, rpl, c.position as usize);
                let verdict = bits >> i & 1 != 0;
                assert_eq!(verdict, alone.consistent, "{format} {reg} {rpl} {c:?}");
                if rep.decoded.is_some() && alone.decoded.is_some() {
                    both[usize::from(verdict)] += 1;
                    judged += 1;
                }
            }
        }
        // Both verdicts occur, and sharing happens: over half the members take a
        // verdict given before (all but one per kind of check and class).
        assert!(both.iter().all(|&n| n > 1000), "{format}: {both:?}");
        assert!(
            shared.reused() * 2 > judged,
            "{format}: {} of {judged} reused",
            shared.reused()
        );
        assert!(
            !refuses || mixed > 100,
            "{format}: {mixed} classes of both verdicts"
        );
    }
}

/// A class of AVL twins, copied from its AVL-clear class rather than judged
/// (`Classes::push_avl_twins`), holds what judging its own representative and members
/// gives: the representative's consistency ([`Class::judged`]) and a bit per consistent
/// member ([`Domain::consistent_partners`] of the representative made afresh), in each
/// of the three domains and the one whose VM entry refuses carried fields. Fails if
/// a twin's class took another class's verdicts (or none), and if no twin's class has a
/// consistent representative, an inconsistent one, or consistent members.
#[test]
fn avl_twins_classes_are_judged_as_their_own() {
    use super::super::domain::SharedVerdicts;
    let domains = [Format::Vmcb, Format::Vmcs, Format::Kvm].map(|f| (f, Domain::new(f)));
    let refusing = (Format::Vmcs, Domain::refusing_carried_fields(Format::Vmcs));
    for (format, domain) in domains.into_iter().chain([refusing]) {
        let classes = classes(&domain, Classes::default());
        let mut shared = SharedVerdicts::default();
        let (mut twins, mut judged, mut with_members) = (0usize, [0usize; 2], 0usize);
        for c in classes.whole.iter().filter(|c| c.is_avl_twin()) {
            let rep = domain.state(c.reg, c.rpl(), c.position as usize);
            assert!(
                rep.decoded.is_some_and(|s| s.attributes.avl),
                "{format} {c:?}"
            );
            assert_eq!(c.judged(), rep.consistent, "{format} {c:?}");
            let partners = &classes.partners[c.reg];
            let bits = domain.consistent_partners(&rep, partners, &mut shared);
            assert_eq!(c.consistent, bits, "{format} {c:?}");
            assert_eq!(usize::from(c.len()), partners.len() + 1, "{format} {c:?}");
            twins += 1;
            judged[usize::from(rep.consistent)] += 1;
            with_members += usize::from(bits != 0);
        }
        assert!(twins > 1000, "{format}: {twins} classes of AVL twins");
        assert!(judged.iter().all(|&n| n > 100), "{format}: {judged:?}");
        assert!(
            with_members > 100,
            "{format}: {with_members} with consistent members"
        );
    }
}

/// Lists the walk by register skips whole leave every other list's bit in place: over
/// every class of the three domains whose baselines' DS is broken
/// ([`Domain::refusing_apart_from_ds`]: every register's checks apart from its own
/// fail but DS's), [`Domain::consistent_partners`] gives each member's bit as the state
/// at its place holds it. A data class's lists of ES (skipped whole where ES is the
/// representative's register) come before DS's, which hold the consistent members, so
/// a skipped run that does not advance the bits, or skips a list too many, or gives
/// its verdict to the next register's lists, fails it.
#[test]
fn partners_skipped_by_register_leave_the_others_in_place() {
    use super::super::domain::SharedVerdicts;
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        let domain = Domain::refusing_apart_from_ds(format);
        let classes = classes(&domain, Classes::default());
        let mut shared = SharedVerdicts::default();
        // Consistent members of DS's lists after a skipped run of ES's, and in all.
        let (mut after_skipped, mut consistent) = (0u64, [0u64; 2]);
        for c in classes.whole.iter().filter(|c| c.len() > 1) {
            let rep = domain.state(c.reg, c.rpl(), c.position as usize);
            let partners = &classes.partners[c.reg];
            let bits = domain.consistent_partners(&rep, partners, &mut shared);
            for (i, &(reg, rpl)) in partners.iter().enumerate() {
                let alone = domain.state(reg, rpl, c.position as usize);
                assert_eq!(
                    bits >> i & 1 != 0,
                    alone.consistent,
                    "{format} {reg} {rpl} {c:?}"
                );
                consistent[usize::from(alone.consistent)] += 1;
                let es_before = partners[..i].iter().any(|p| p.0 == SegReg::Es);
                after_skipped += u64::from(alone.consistent && es_before);
            }
        }
        assert!(
            consistent.iter().all(|&n| n > 1000),
            "{format}: {consistent:?}"
        );
        assert!(after_skipped > 1000, "{format}: {after_skipped}");
    }
}

/// A decoded source whose output does not decode has lost its attributes, judged by
/// walking `normalise::expected` and by masks alike, and is described so. No chain
/// makes such an output from the domain, so no other test reaches `judge_by`'s arm
/// for it: counted as kept, it passed every test. Here the output is a `kvm_segment`
/// of garbage, after a sample of every register's decoded sources through `qemu`.
#[test]
fn an_output_that_does_not_decode_loses_the_attributes() {
    let chain: Chain = "qemu".parse().expect("a chain");
    assert!(
        crate::profile::builtin_about(&chain).is_some(),
        "judged by masks"
    );
    let states = Domain::new(Format::Kvm).states();
    let garbage = states
        .iter()
        .find(|s| s.decoded.is_none())
        .expect("garbage");
    let out = garbage.input;
    let mut masks = RegisterMasks::for_chain(&chain);
    let mut judged = PerSegReg::from_fn(|_| 0u32);
    for state in states.iter().filter(|s| s.decoded.is_some()).step_by(97) {
        let walked = judge(&chain, state, &out, None, None, |_, _| false);
        let masks = &mut masks[state.reg];
        let keeps = |b: &Segment, a: &Segment| masks.keeps(chain.ops(), (b, state.cpl), a);
        let masked = judge_by(state, (&out, None), None, keeps, |_, _| false);
        for verdict in [&walked, &masked] {
            assert!(verdict.has(Property::AttributeLoss), "{state:?}");
            assert_eq!(verdict.decoded_out, None);
            let detail =
                super::super::describe(&chain, state, verdict, Property::AttributeLoss, None);
            assert_eq!(detail, "the result does not decode");
        }
        assert_eq!(walked.failed, masked.failed, "{state:?}");
        judged[state.reg] += 1;
    }
    assert!(SegReg::ALL.iter().all(|&r| judged[r] > 100), "{judged:?}");
}

/// `Workspace::record` counts a verdict's violations itself once none of its
/// properties keeps more counterexamples, and calls `record_violations` otherwise:
/// for every built-in chain, each with one rule and each with half its rules switched
/// off (many violations of every property), the report over the whole domain equals
/// the one where every violation goes through `record_violations`. Fails if the
/// counting path is never taken.
#[test]
fn violations_counted_inline_record_as_record_violations_does() {
    use super::super::{COUNTED_ONLY, RECORD_VIOLATIONS_ALWAYS};
    let (mut chains, workspaces) = chains_and_workspaces();
    with_half_rules_off(&mut chains);
    let mut counted = 0;
    for chain in &chains {
        let ws = workspace_of(&workspaces, chain);
        RECORD_VIOLATIONS_ALWAYS.with(|a| a.set(true));
        let before = COUNTED_ONLY.with(core::cell::Cell::get);
        let always = ws.verify(chain).expect("same source");
        assert_eq!(COUNTED_ONLY.with(core::cell::Cell::get), before, "{chain}");
        RECORD_VIOLATIONS_ALWAYS.with(|a| a.set(false));
        let inline = ws.verify(chain).expect("same source");
        counted += COUNTED_ONLY.with(core::cell::Cell::get) - before;
        let fields = |r: &ChainReport| {
            let counts = (r.states, r.executed, r.garbage_states, r.violations);
            (counts, r.counterexamples.clone(), r.kept)
        };
        assert_eq!(fields(&inline), fields(&always), "{chain}");
    }
    assert!(counted > 0, "no violation counted inline");
}

/// [`ChainReport::keeps_any`] and [`ChainReport::count_failed`] read every property's
/// bit as [`ChainReport::keeps_more`] and [`ChainReport::count_unkept`] do: with one
/// property's counterexamples not yet full and the others full, every set of failed
/// properties keeps one exactly when it holds that property, and counts exactly its
/// properties. The test above cannot see an escalation's bit left out of `keeps_any`
/// (checked: it passes): every escalation is also a CPL change, and over its chains
/// the two properties' counterexamples fill together.
#[test]
fn keeps_any_and_count_failed_read_every_property_bit() {
    let chain: Chain = "kvm-vmx > verbatim > kvm-vmx".parse().expect("parses");
    let full = u8::try_from(super::super::COUNTEREXAMPLES_PER_PROPERTY).expect("fits a kept count");
    let mut report = ChainReport {
        chain,
        states: 0,
        executed: 0,
        garbage_states: 0,
        violations: [0; 5],
        counterexamples: Vec::new(),
        kept: [full; 5],
    };
    let all = (1u8 << Property::ALL.len()) - 1;
    for open in Property::ALL {
        for kept in 0..full {
            report.kept = [full; 5];
            report.kept[open.index()] = kept;
            for failed in 1..=all {
                let holds_open = failed & 1 << open.index() != 0;
                let keeps = Property::ALL
                    .iter()
                    .any(|&p| failed & 1 << p.index() != 0 && report.keeps_more(p));
                assert_eq!(keeps, holds_open, "{open:?} open, failed {failed:#07b}");
                assert_eq!(report.keeps_any(failed), keeps, "{open:?}, {failed:#07b}");
            }
        }
    }
    for failed in 0..=all {
        let mut counted = report.clone();
        let mut unkept = report.clone();
        counted.count_failed(failed, 7);
        for p in Property::ALL
            .into_iter()
            .filter(|p| failed & 1 << p.index() != 0)
        {
            unkept.count_unkept(p, 7);
        }
        assert_eq!(
            counted.violations, unkept.violations,
            "failed {failed:#07b}"
        );
        assert_eq!(
            counted.violations.iter().sum::<u64>(),
            7 * u64::from(failed.count_ones())
        );
    }
}
