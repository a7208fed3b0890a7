use super::*;
use crate::profile::SegmentValue;

/// The domain made on demand is one list: every position of every (register, RPL)
/// list is the state at its index in domain order, and the sizes are those the
/// reports state.
#[test]
fn states_on_demand_are_the_domain_in_order() {
    for (format, size) in [
        (Format::Vmcb, 360_448),
        (Format::Vmcs, 524_288),
        (Format::Kvm, 610_304),
    ] {
        let domain = Domain::new(format);
        let states = domain.states();
        assert_eq!(
            (states.len(), domain.state_count()),
            (size, size),
            "{format}"
        );
        for reg in SegReg::ALL {
            for rpl in PrivilegeLevel::ALL {
                for n in (0..domain.list_len(reg, rpl)).step_by(97) {
                    let i = domain.index(reg, rpl, n);
                    let state = domain.state(reg, rpl, n);
                    assert_eq!(states[i], state, "{format} {reg} {rpl} {n}");
                    assert_eq!(domain.state_at(i), state);
                    assert_eq!(state.reg, reg);
                    assert_eq!(selector_rpl(&state), rpl);
                }
            }
        }
    }
}

/// [`Domain::avl_twin`] names, for every clean state with AVL clear and no other,
/// the state equal to it but for AVL: the input with its format's AVL bit set, the
/// decoding with AVL set, the same CPL, baseline and consistency.
#[test]
fn avl_twins_differ_only_in_avl() {
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        let domain = Domain::new(format);
        let mut twins = 0;
        for reg in SegReg::ALL {
            for rpl in PrivilegeLevel::ALL {
                for n in 0..domain.list_len(reg, rpl) {
                    let state = domain.state(reg, rpl, n);
                    let Some(t) = domain.avl_twin(reg, n) else {
                        let avl = state.decoded.is_some_and(|s| s.attributes.avl);
                        assert!(state.decoded.is_none() || avl, "{format} {reg} {n}");
                        continue;
                    };
                    let twin = domain.state(reg, rpl, t);
                    let mut value = state.input.value;
                    match &mut value {
                        SegmentValue::Vmcb(v) => v.attrib.0 |= 1 << SvmAttrib::AVL_SHIFT,
                        SegmentValue::Vmcs(v) => {
                            v.access_rights.0 |= 1 << Attributes::AVL_SHIFT;
                        }
                        SegmentValue::Kvm(k) => k.avl = 1,
                        _ => unreachable!("domains are of VMCB, VMCS or kvm_segment values"),
                    }
                    let decoded = state.decoded.map(|mut s| {
                        assert!(!s.attributes.avl);
                        s.attributes.avl = true;
                        s
                    });
                    let want = DomainState {
                        input: InFlight {
                            value,
                            ..state.input
                        },
                        decoded,
                        ..state
                    };
                    assert_eq!(twin, want, "{format} {reg} {rpl} {n}");
                    twins += 1;
                }
            }
        }
        let clean: usize = SegReg::ALL
            .iter()
            .map(|&reg| domain.per_limit(reg) * LIMITS.len() * PrivilegeLevel::ALL.len())
            .sum();
        assert_eq!(twins * 2, clean, "{format}");
    }
}

fn selector_rpl(state: &DomainState) -> PrivilegeLevel {
    let selector = match state.input.value {
        SegmentValue::Vmcb(v) => v.selector,
        SegmentValue::Vmcs(v) => v.selector,
        SegmentValue::Kvm(k) => k.selector,
        _ => unreachable!("domains are of VMCB, VMCS or kvm_segment values"),
    };
    Selector(selector).rpl()
}

/// The fields [`arch::reads`] declares are all a register's error checks read: over
/// every decoded state of the three domains, in its baseline, setting any undeclared
/// field of the varied register to other values (null and other selectors of each
/// RPL, canonical and non-canonical bases, limits, attributes, AVL flipped, unusable
/// or not)
/// never changes [`arch::register_is_consistent`]'s verdict, and every register
/// whose checks see the segment alike (equal [`arch::ReadKey`]) gets the same
/// verdict.
#[test]
fn undeclared_fields_never_change_a_verdict() {
    use crate::check::segment_fields::Fields;
    let mut varied = 0u64;
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        for state in Domain::new(format).states() {
            let Some(seg) = state.decoded else { continue };
            let (reg, base) = (state.reg, baseline(state.baseline));
            let verdict = arch::register_is_consistent(&base, reg, &seg);
            let reads = arch::reads(reg);
            let undeclared = Fields::EACH
                .iter()
                .copied()
                .filter(|&f| !reads.fields.meets(f));
            for field in undeclared {
                for other in variations(field, &seg) {
                    assert_eq!(
                        arch::register_is_consistent(&base, reg, &other),
                        verdict,
                        "{format} {reg}: {field:?} changed {seg:?} to {other:?}"
                    );
                    varied += 1;
                }
            }
            for alike in SegReg::ALL {
                if arch::reads(alike).key(&seg) == reads.key(&seg) {
                    let other = arch::register_is_consistent(&base, alike, &seg);
                    assert_eq!(other, verdict, "{format} {reg} and {alike}: {seg:?}");
                }
            }
        }
    }
    assert!(varied > 1_000_000, "{varied} variations");
}

/// `seg` with `field` set to other values.
fn variations(field: crate::check::segment_fields::Fields, seg: &Segment) -> Vec<Segment> {
    use crate::check::segment_fields::Fields;
    let with = |f: &dyn Fn(&mut Segment)| {
        let mut s = *seg;
        f(&mut s);
        s
    };
    match field {
        Fields::RPL => PrivilegeLevel::ALL
            .map(|rpl| with(&|s| s.selector = s.selector.with_rpl(rpl)))
            .to_vec(),
        // Null, GDT and LDT (TI) selectors, the RPL kept.
        Fields::INDEX => [0, 0x10, 0x28, 0x2c, 0x40, 0xfff8]
            .map(|v| with(&|s| s.selector = Selector(v).with_rpl(s.selector.rpl())))
            .to_vec(),
        Fields::BASE => [0, 0x1234_5000, 0xffff_8000_0000_0000, 1 << 63]
            .map(|b| with(&|s| s.base = b))
            .to_vec(),
        Fields::LIMIT => [0, 0xfff, 0xf_ffff, 0xffff_ffff, 0x1234_5678]
            .map(|l| with(&|s| s.limit = l))
            .to_vec(),
        Fields::ATTRIBUTES => [
            Attributes::default(),
            Attributes::flat_data(PrivilegeLevel::Ring3),
            Attributes::code64(PrivilegeLevel::Ring0),
            Attributes::busy_tss(),
        ]
        .map(|a| with(&|s| s.attributes = a))
        .to_vec(),
        Fields::AVL => vec![with(&|s| s.attributes.avl = !s.attributes.avl)],
        Fields::UNUSABLE => vec![with(&|s| s.unusable = !s.unusable)],
        _ => unreachable!("a field of a segment register: {field:?}"),
    }
}

/// The per-register consistency verdicts are the whole-state checks': over every
/// state of every domain, the baseline with the state's register put in passes
/// [`arch::is_consistent`] (and, for a VMCS, [`vmx_entry::accepts`]) iff it passes
/// the checks apart from that register and those reading it; the checks apart from
/// it give the same verdict whatever the register holds; and the domain's stored
/// verdict is the whole state's.
#[test]
fn per_register_consistency_is_the_whole_state_check() {
    let controls = entry_controls();
    let mut judged = 0u64;
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        let mut verdicts = [0u64; 2];
        for state in Domain::new(format).states() {
            let Some(seg) = state.decoded else {
                assert!(!state.consistent);
                continue;
            };
            let (reg, base) = (state.reg, baseline(state.baseline));
            assert_eq!(
                state.cpl, base.cpl,
                "{format}: a state's CPL is its baseline's"
            );
            let seg = if format == Format::Vmcb {
                arch::canonical_vmcb_cache(reg, seg)
            } else {
                seg
            };
            let mut whole = base;
            whole.segments[reg] = seg;
            let arch_whole = arch::is_consistent(&whole);
            let arch_apart = arch::is_consistent_apart_from(&base, reg);
            assert_eq!(arch_apart, arch::is_consistent_apart_from(&whole, reg));
            let arch_split = arch_apart && arch::register_is_consistent(&base, reg, &seg);
            assert_eq!(arch_whole, arch_split, "{format} {reg}: {seg:?}");
            let entry_whole = vmx_entry::accepts(&whole, controls);
            let entry_apart = vmx_entry::accepts_apart_from(&base, controls, reg);
            assert_eq!(
                entry_apart,
                vmx_entry::accepts_apart_from(&whole, controls, reg)
            );
            let entry_split =
                entry_apart && vmx_entry::register_accepted(&base, controls, reg, &seg);
            assert_eq!(entry_whole, entry_split, "{format} {reg}: {seg:?}");
            let expected = arch_whole && (format != Format::Vmcs || entry_whole);
            assert_eq!(state.consistent, expected, "{format} {reg}: {seg:?}");
            verdicts[usize::from(entry_whole)] += 1;
            judged += 1;
        }
        // Both verdicts occur: the test compares something.
        assert!(verdicts.iter().all(|&n| n > 1000), "{format}: {verdicts:?}");
    }
    assert!(judged > 1_000_000, "{judged} states judged");
}

/// What [`Domain::consistent_partners`] takes from VM entry for a VMCS is each
/// member's own [`vmx_entry::register_accepted`]: over every state (every class
/// member) of the VMCS domain and of [`Domain::refusing_carried_fields`]', the
/// checks reading neither selector nor base and those reading one pass together iff
/// the whole register check does, in the domain's baselines; the former
/// give one verdict at each position of a register's lists, whatever the RPL (the
/// selector and base the lists carry), so asking them once per register of a class
/// loses nothing. The first part refuses states the second accepts; the second
/// refuses states the first accepts only in the refusing domain: in the built-in
/// one the carried fields never decide VM entry (under KVM's unrestricted guest no
/// check reads an RPL, and the baselines' selectors and bases pass), which is why
/// `shared_verdicts_are_the_unshared_ones` judges the refusing one too. [`MemberEntry`]
/// gives each member its whole check too, from a representative whose selector and
/// base are not the member's, and again with a base of its own VM entry may refuse.
#[test]
fn vm_entry_split_is_each_members_whole_check() {
    let controls = entry_controls();
    // Per domain, the members refused by the first part alone, by the second alone.
    let (mut members, mut refused_by, mut base_decides) = (0u64, [[0u64; 2]; 2], 0);
    let refusing = Domain::refusing_carried_fields(Format::Vmcs);
    let domains = [Domain::new(Format::Vmcs), refusing];
    let lists = (0..2).flat_map(|d| SegReg::ALL.map(|reg| (d, reg)));
    for (d, reg) in lists {
        let domain = &domains[d];
        for n in 0..domain.list_len(reg, PrivilegeLevel::Ring0) {
            let (mut first_uncarried, mut split) = (None, None);
            for rpl in PrivilegeLevel::ALL {
                assert!(n < domain.list_len(reg, rpl), "{reg} {rpl}: lists align");
                let state = domain.state(reg, rpl, n);
                let Some(seg) = state.decoded else { continue };
                let base = domain.judge.baseline(state.baseline);
                let whole = vmx_entry::register_accepted(base, controls, reg, &seg);
                let uncarried = vmx_entry::register_accepted_uncarried(base, controls, reg, &seg);
                let carried = vmx_entry::register_accepted_carried(base, controls, reg, &seg);
                assert_eq!(whole, uncarried && carried, "{reg} {rpl} {n}: {seg:?}");
                let first = *first_uncarried.get_or_insert(uncarried);
                assert_eq!(
                    uncarried, first,
                    "{reg} {rpl} {n}: one verdict per position"
                );
                let rep = Segment {
                    selector: Selector(!seg.selector.0),
                    base: !seg.base,
                    ..seg
                };
                let split = split.get_or_insert_with(|| MemberEntry::new(rep));
                for b in [seg.base, 1 << 63] {
                    let alone = vmx_entry::register_accepted(
                        base,
                        controls,
                        reg,
                        &Segment { base: b, ..seg },
                    );
                    let ok = split.accepts((base, state.baseline), reg, (seg.selector, b));
                    assert_eq!(ok, alone, "{reg} {rpl} {n} base {b:#x}: {seg:?}");
                    base_decides += u64::from(alone != whole);
                }
                refused_by[d][0] += u64::from(!uncarried && carried);
                refused_by[d][1] += u64::from(uncarried && !carried);
                members += 1;
            }
        }
    }
    assert!(members > 100_000, "{members} members");
    assert!(base_decides > 1000, "{base_decides}");
    let [built_in, refusing] = refused_by;
    assert!(built_in[0] > 100 && built_in[1] == 0, "{built_in:?}");
    assert!(refusing.iter().all(|&n| n > 100), "{refusing:?}");
}
