//! `entry`'s tests: VM entry judged per class member, the kept verdicts, the
//! partner-refusal table and its masks, held to judging each state alone.

use std::collections::HashSet;

use super::super::domain::Domain;
use super::super::{Workspace, entry_context, source_formats, verify_all};
use super::{ClassVerdicts, EntryJudge, MemberVerdicts, accepts, baseline_groups};
use crate::arch::{
    CR0_PE, CR0_PG, CR4_PAE, CR4_PCIDE, EFER_LMA, EFER_LME, PrivilegeLevel, RFLAGS_VM, SegReg,
    Segment, SegmentState, SegmentType, Selector,
};
use crate::check::CheckId;
use crate::check::vmx_entry::{self, Context, Fields, VmxEntryControls, reads};
use crate::profile::{Format, builtin_chains};

/// Every distinct (register, baseline, decoded output) of the domains of every
/// built-in chain's source format: what VM entry is asked about.
fn domain_outputs() -> Vec<(SegReg, PrivilegeLevel, Option<Segment>)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for format in source_formats(&builtin_chains()) {
        for state in Domain::new(format).states() {
            let key = (state.reg, state.baseline, state.decoded);
            if seen.insert(format!("{key:?}")) {
                out.push(key);
            }
        }
    }
    out
}

/// The VM-entry findings of `state` under `controls`, as (check, register).
fn verdicts(
    state: &SegmentState,
    controls: VmxEntryControls,
) -> HashSet<(CheckId, Option<SegReg>)> {
    vmx_entry::check(state, controls)
        .iter()
        .map(|f| (f.id, f.reg))
        .collect()
}

/// `s` changed in `field` in every way the test tries.
fn changed(s: &Segment, field: Fields) -> Vec<Segment> {
    let with = |f: &dyn Fn(&mut Segment)| {
        let mut t = *s;
        f(&mut t);
        t
    };
    match field {
        Fields::RPL => PrivilegeLevel::ALL
            .map(|rpl| with(&|t| t.selector = t.selector.with_rpl(rpl)))
            .to_vec(),
        Fields::INDEX => [0x4, 0x8, 0xfff8]
            .map(|bits| with(&|t| t.selector.0 ^= bits))
            .to_vec(),
        Fields::BASE => [0, 1 << 32, 0x8000_0000_0000, u64::from(s.selector.0) << 4]
            .map(|base| with(&|t| t.base = base))
            .to_vec(),
        Fields::LIMIT => [0xfff, 0xffff, 0xf_ffff, 0xffff_ffff]
            .map(|limit| with(&|t| t.limit = limit))
            .to_vec(),
        Fields::AVL => vec![with(&|t| t.attributes.avl ^= true)],
        Fields::UNUSABLE => vec![with(&|t| t.unusable ^= true)],
        _ => {
            let mut out: Vec<Segment> = (0..16)
                .map(|ty| with(&|t| t.attributes.segment_type = SegmentType::from_low_bits(ty)))
                .collect();
            out.extend(PrivilegeLevel::ALL.map(|dpl| with(&|t| t.attributes.dpl = dpl)));
            out.extend([
                with(&|t| t.attributes.s ^= true),
                with(&|t| t.attributes.present ^= true),
                with(&|t| t.attributes.l ^= true),
                with(&|t| t.attributes.db ^= true),
                with(&|t| t.attributes.g ^= true),
            ]);
            out
        }
    }
}

/// `state` and `controls` changed in `part` in every way the test tries.
fn changed_context(
    state: &SegmentState,
    controls: VmxEntryControls,
    part: Context,
) -> Vec<(SegmentState, VmxEntryControls)> {
    let with = |f: &dyn Fn(&mut SegmentState, &mut VmxEntryControls)| {
        let (mut s, mut c) = (*state, controls);
        f(&mut s, &mut c);
        (s, c)
    };
    match part {
        Context::CR0 => vec![with(&|s, _| s.cr0 ^= CR0_PE), with(&|s, _| s.cr0 ^= CR0_PG)],
        Context::CR4 => vec![
            with(&|s, _| s.cr4 ^= CR4_PAE),
            with(&|s, _| s.cr4 ^= CR4_PCIDE),
        ],
        Context::EFER => vec![
            with(&|s, _| s.efer ^= EFER_LMA),
            with(&|s, _| s.efer ^= EFER_LME),
        ],
        Context::RFLAGS => vec![
            with(&|s, _| s.rflags ^= RFLAGS_VM),
            with(&|s, _| s.rflags ^= 1 << 3),
            with(&|s, _| s.rflags ^= 1 << 1),
        ],
        Context::UNRESTRICTED_GUEST => vec![with(&|_, c| c.unrestricted_guest ^= true)],
        _ => vec![with(&|_, c| c.ia32e_mode_guest ^= true)],
    }
}

/// What [`reads`] declares, held to what the checks do: for every (register,
/// baseline, decoded output) of the domain, changing one field of the register, or
/// one part of the rest of the state or the controls, changes the verdict only of
/// checks that declare they read it. The selector and the base are changed under
/// KVM's controls and also with unrestricted guest off and in a virtual-8086 guest:
/// KVM's controls skip the checks those run (`VmxEntrySsRpl`, `VmxEntryDataDplRpl`,
/// `VmxEntryV8086Base`), whose declarations would otherwise go untried. The split of
/// [`EntryJudge::refusals`] rests on this for the selector and the base.
#[test]
fn reads_cover_what_each_check_reads() {
    let baselines = PrivilegeLevel::ALL.map(super::super::baseline);
    let (mut changes, mut tried) = (0u64, 0u64);
    let mut hold = |(state, controls): (&SegmentState, VmxEntryControls),
                    (before, after): (&HashSet<_>, HashSet<_>),
                    (declared, what): (&dyn Fn(CheckId) -> bool, &str)| {
        tried += 1;
        for &(id, on) in before.symmetric_difference(&after) {
            changes += 1;
            assert!(
                declared(id),
                "{id:?} on {on:?} changed with {what} ({controls:?}): {state:?}"
            );
        }
    };
    for (reg, baseline, decoded) in domain_outputs() {
        let whole = entry_context(&baselines, reg, baseline, decoded);
        let controls = VmxEntryControls::kvm_default(whole.efer);
        let restricted = VmxEntryControls {
            unrestricted_guest: false,
            ..controls
        };
        let mut v8086 = whole;
        v8086.rflags |= RFLAGS_VM;
        // Its base as virtual-8086 mode makes it, so a selector change is seen.
        let put = &mut v8086.segments[reg];
        put.base = u64::from(put.selector.0) << 4;
        let settings = [(whole, controls), (whole, restricted), (v8086, controls)];
        for (n, (context, controls)) in settings.into_iter().enumerate() {
            let before = verdicts(&context, controls);
            // Past KVM's own controls, only the fields the split rests on: the
            // attribute changes would make the test several times slower.
            let fields = Fields::EACH
                .iter()
                .filter(|f| n == 0 || f.meets(Fields::CARRIED));
            for &field in fields {
                for seg in changed(&context.segments[reg], field) {
                    let mut after = context;
                    after.segments[reg] = seg;
                    let what = format!("{reg:?} {field:?}");
                    let declared = |id| reads(id).segment.meets(field);
                    let after = verdicts(&after, controls);
                    hold((&context, controls), (&before, after), (&declared, &what));
                }
            }
        }
        let before = verdicts(&whole, controls);
        for &part in Context::EACH {
            for (after, after_controls) in changed_context(&whole, controls, part) {
                let what = format!("{part:?}");
                let declared = |id| reads(id).context.meets(part);
                let after = verdicts(&after, after_controls);
                hold((&whole, controls), (&before, after), (&declared, &what));
            }
        }
    }
    // The changes really changed verdicts, or the assertions above checked nothing.
    assert!(
        changes > tried / 10,
        "{changes} verdicts changed in {tried} tries"
    );
}

/// [`EntryJudge::refusals`], which asks the checks that read neither selector nor
/// base once per register and baseline, gives every member the verdict [`accepts`]
/// gives it alone: over every (register, baseline, decoded output) of the domain,
/// with members in each register of its class's group, each RPL, two bases and two
/// baselines. The sharing really happens.
#[test]
fn member_refusals_equal_each_members_own_verdict() {
    let baselines = PrivilegeLevel::ALL.map(super::super::baseline);
    let judge = EntryJudge::new(&baselines);
    super::SHARED_UNCARRIED.with(|n| n.set(0));
    let mut members_judged = 0usize;
    for (reg, baseline, decoded) in domain_outputs() {
        let data = [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs];
        let regs: &[SegReg] = if data.contains(&reg) {
            &data
        } else {
            core::slice::from_ref(&reg)
        };
        let other = PrivilegeLevel::from_low_bits(baseline.bits() ^ 3);
        let mut members = Vec::new();
        for &r in regs {
            for rpl in PrivilegeLevel::ALL {
                let selector = decoded.map_or(Selector(0x2b), |d| d.selector.with_rpl(rpl));
                for base in [decoded.map_or(0, |d| d.base), 0x8000_0000_0000] {
                    for b in [baseline, other] {
                        members.push((r, b, selector, base));
                    }
                }
            }
        }
        assert!(members.len() <= MemberVerdicts::MAX_MEMBERS);
        let refused = judge.refusals(decoded, members.iter().copied());
        for (m, &(r, b, selector, base)) in members.iter().enumerate() {
            let out = decoded.map(|s| Segment {
                selector,
                base,
                ..s
            });
            let alone = accepts(&baselines, r, b, out);
            assert_eq!(refused & 1 << m == 0, alone, "{r:?} at {b:?}: {out:?}");
        }
        members_judged += members.len();
    }
    let shared = super::SHARED_UNCARRIED.with(|n| n.get());
    assert!(
        shared > members_judged / 2,
        "{shared} of {members_judged} members shared a verdict"
    );
}

/// A kept verdict is given back only for the same class, baseline group and
/// decoded output, and a new batch forgets them all; equal baselines share a group.
#[test]
fn member_verdicts_are_shared_only_between_equal_inputs() {
    let base = super::super::baseline(PrivilegeLevel::Ring0);
    let (a, mut b) = ([base; 4], [base; 4]);
    b[1].cpl = PrivilegeLevel::Ring3;
    assert_eq!(
        baseline_groups(&[Some(&a), Some(&b), Some(&a), None]),
        [0, 1, 0, 3]
    );
    let out = Some(base.segments[SegReg::Cs]);
    let mut other = out;
    if let Some(s) = &mut other {
        s.limit ^= 1;
    }
    let mut kept = MemberVerdicts::default();
    kept.start(2);
    // `none_for` says "nothing" for a class exactly when nothing is kept for it, so
    // `get` finds nothing whatever the group and output (`judge_batch` skips it).
    let none_for = |kept: &MemberVerdicts| [kept.none_for(0), kept.none_for(1)];
    assert_eq!(none_for(&kept), [true, true]);
    let found = ClassVerdicts {
        representative: false,
        refused: 0b101,
    };
    kept.keep(1, 0, out, found);
    assert_eq!(none_for(&kept), [true, false]);
    assert_eq!(kept.get(1, 0, out), Some(found));
    assert_eq!(kept.get(0, 0, out), None);
    assert_eq!(kept.get(1, 1, out), None);
    assert_eq!(kept.get(1, 0, other), None);
    assert_eq!(kept.get(1, 0, None), None);
    kept.start(2);
    assert_eq!(none_for(&kept), [true, true]);
    assert_eq!(kept.get(1, 0, out), None);
}

/// A kept refusal is given back only under an equal key (baseline group, register
/// group, baseline, decoded output), each list's bit where it was put and in the
/// order of the lists asked for; lists not yet known under the key are judged, the
/// known ones are not.
#[test]
fn partner_refusals_are_shared_only_under_equal_keys() {
    use super::{PartnerKey, PartnerRefusals, gather, spread};
    let seg = super::super::baseline(PrivilegeLevel::Ring0).segments[SegReg::Ds];
    let key = PartnerKey {
        group: 0,
        reg: SegReg::Es,
        baseline: PrivilegeLevel::Ring0,
        decoded: Some(seg),
    };
    let mut known = PartnerRefusals::default();
    // Lists 1, 4 and 9 asked; 4 refused (the second asked).
    let asked = |mask: u16| {
        move |missing: u16| {
            assert_eq!(missing, mask, "judged again");
            0b010
        }
    };
    assert_eq!(
        known.refusals(key, 0b10_0001_0010, asked(0b10_0001_0010)),
        0b010
    );
    // Known now: only list 6 is judged (refused), in the order of the lists asked.
    let again = known.refusals(key, 0b101_0000, |missing| {
        assert_eq!(missing, 0b100_0000);
        1
    });
    assert_eq!(again, 0b11);
    let mut limit = seg;
    limit.limit ^= 1;
    let others = [
        PartnerKey { group: 1, ..key },
        PartnerKey {
            reg: SegReg::Ss,
            ..key
        },
        PartnerKey {
            baseline: PrivilegeLevel::Ring3,
            ..key
        },
        PartnerKey {
            decoded: Some(limit),
            ..key
        },
        PartnerKey {
            decoded: None,
            ..key
        },
    ];
    for other in others {
        let mut judged = false;
        known.refusals(other, 0b1_0000, |_| {
            judged = true;
            0
        });
        assert!(judged, "shared with a different key");
    }
    assert_eq!(spread(0b101, 0b1011_0000), 0b1001_0000);
    for mask in [0u16, 1, 0b1010, 0x7fff] {
        for packed in [0u64, 0b1, 0b110, 0x7fff] {
            let bits = spread(packed, mask);
            assert_eq!(bits & !mask, 0);
            assert_eq!(gather(bits, mask), packed & ((1 << mask.count_ones()) - 1));
        }
    }
}

/// [`spread`] and [`gather`], a mask where `mask` is a run of its lowest bits, give
/// what the walk a bit at a time gives, for every 16-bit mask and packed or
/// scattered bits of every kind (none, all, alternating, bits past the mask's):
/// fails if the shortcut is taken for a mask it does not fit or masks wrongly.
#[test]
fn spread_and_gather_of_low_runs_are_bit_by_bit() {
    use super::{gather, gather_bit_by_bit, low_run, spread, spread_bit_by_bit};
    let mut runs = 0;
    for mask in 0..=u16::MAX {
        runs += usize::from(low_run(mask));
        for packed in [0u64, u64::MAX, 0x5555, 0xaaaa, 0x1_0000, 0x7fff, 0xffff] {
            let want = spread_bit_by_bit(packed, mask);
            assert_eq!(spread(packed, mask), want, "{mask:#x} {packed:#x}");
            let bits = packed as u16;
            let want = gather_bit_by_bit(bits, mask);
            assert_eq!(gather(bits, mask), want, "{mask:#x} {bits:#x}");
        }
    }
    // The 17 runs 0..k, k = 0..=16, and no other mask.
    assert_eq!(runs, 17);
}

/// What [`verify_all`] shares between chains (the workspaces, and each batch of
/// classes judged by every chain of its source format in turn) changes no report:
/// every built-in chain into a VMCS, verified together with the others, reports
/// what it reports verified alone.
#[test]
fn shared_workspaces_give_each_chains_own_report() {
    let chains: Vec<_> = builtin_chains()
        .into_iter()
        .filter(|c| c.destination() == Format::Vmcs)
        .collect();
    assert!(chains.len() > 10, "{} chains into a VMCS", chains.len());
    super::SHARED.with(|n| n.set(0));
    super::SHARED_REPRESENTATIVE.with(|n| n.set(0));
    let shared = verify_all(&chains);
    // Verdicts were really shared, members' and representatives', or equality
    // below would prove nothing about it.
    assert!(
        super::SHARED.with(|n| n.get()) > 0,
        "no chain reused a verdict"
    );
    assert!(
        super::SHARED_REPRESENTATIVE.with(|n| n.get()) > 0,
        "no chain reused a representative's verdict"
    );
    let mut workspaces: Vec<Workspace> = Vec::new();
    for (chain, report) in chains.iter().zip(&shared) {
        if !workspaces.iter().any(|w| w.format == chain.source()) {
            workspaces.push(Workspace::new(chain.source()));
        }
        let ws = workspaces
            .iter()
            .find(|w| w.format == chain.source())
            .expect("just made");
        let alone = ws.verify(chain).expect("same source");
        assert_eq!(report.violations, alone.violations, "{chain}");
        assert_eq!(report.counterexamples, alone.counterexamples, "{chain}");
        assert_eq!(
            (report.states, report.executed),
            (alone.states, alone.executed)
        );
    }
}

/// A shared VM-entry verdict is kept under the chain's baselines and handed only to
/// a chain with equal ones, representatives' and members' alike: one chain judged
/// four times in one batch run, with the baselines it makes, with them in reverse
/// CPL order (the same outputs into contexts VM entry judges differently), then
/// both again (everything shared from the first two), reports in each run what it
/// reports alone. The built-in chains do not hold this on their own: a key without
/// the baselines, a representative's refusal kept as an acceptance, or members'
/// refusals kept with bits dropped, each passes
/// `shared_workspaces_give_each_chains_own_report`.
#[test]
fn verdicts_are_shared_only_between_equal_baselines() {
    use super::super::reduce::{ClassRun, applies, avl};
    use super::super::{ChainReport, Property};
    let chain = builtin_chains()
        .into_iter()
        .find(|c| c.destination() == Format::Vmcs && applies(c))
        .expect("a reduced chain into a VMCS");
    let ws = Workspace::new(chain.source());
    let made = ws
        .baseline_outputs(&chain)
        .expect("same source")
        .expect("baselines for a VMCS");
    let mut reversed = made;
    reversed.reverse();
    let verify = |baselines: &[&[SegmentState; 4]]| -> Vec<ChainReport> {
        let mut runs: Vec<_> = baselines
            .iter()
            .map(|&b| ClassRun::new(&chain, Some(b), ws.empty_report(&chain).expect("same")))
            .collect();
        ws.verify_classes(&mut runs, avl(&chain))
            .expect("same source");
        runs.into_iter().map(ClassRun::into_report).collect()
    };
    super::SHARED_REPRESENTATIVE.with(|n| n.set(0));
    let together = verify(&[&made, &reversed, &made, &reversed]);
    assert!(
        super::SHARED_REPRESENTATIVE.with(|n| n.get()) > 0,
        "no run reused a representative's verdict"
    );
    let alone = [verify(&[&made]), verify(&[&reversed])].map(|mut r| r.remove(0));
    // The two contexts really judge differently, or sharing would be harmless.
    assert_ne!(
        alone[0].violations(Property::VmxEntryRejected),
        alone[1].violations(Property::VmxEntryRejected),
        "{chain}"
    );
    for (report, alone) in together.iter().zip(alone.iter().cycle()) {
        assert_eq!(report.violations, alone.violations, "{chain}");
        assert_eq!(report.counterexamples, alone.counterexamples, "{chain}");
    }
}
