//! Chains: parsing, compiled shapes and ops, whole-state runs (`run_sregs`, QEMU
//! migrations with their hooks), and the other stacks' paths through verify.

use segstate::arch::{PerSegReg, PrivilegeLevel, SegReg};
use segstate::format::kvm::{KvmSegment, KvmSregs};
use segstate::format::qemu::QemuSegmentCache;
use segstate::format::vmx::VmxAccessRights;
use segstate::profile::{
    Chain, ChainError, Format, InFlight, Profile, Rule, SegmentValue, VcpuSegments,
};
use segstate::testing::encode_state;
use segstate::verify::{Property, sysret_state, verify_chain};

mod common;
use common::{dtable, kseg, vmcb, vmcs};

// ---------------------------------------------------------------------------------------
// KVM and QEMU chains.

fn parse(s: &str) -> Result<Chain, ChainError> {
    s.parse()
}

#[test]
fn chain_display_round_trips() {
    for text in [
        "kvm-svm[-svm.get.tr-busy] > qemu > kvm-vmx",
        "kvm-svm[+svm.get.unusable-from-type0] > qemu@2.9 > kvm-svm@4.11",
        "qemu",
    ] {
        let chain = parse(text).unwrap();
        assert_eq!(chain.to_string(), text);
        assert_eq!(parse(&chain.to_string()).unwrap(), chain);
    }
    let chain = parse("kvm-svm[-svm.get.tr-busy] > qemu > kvm-vmx").unwrap();
    assert_eq!(
        chain.steps()[0].rules,
        Profile::KVM_SVM.rules.without(Rule::SvmGetTrBusy)
    );
}

#[test]
fn chain_unknown_profile() {
    let err = parse("kvm-svm > kvm-arm").unwrap_err();
    assert!(
        matches!(&err, ChainError::UnknownProfile(p) if p.0 == "kvm-arm"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`kvm-arm`"), "{err}");
}

/// Parses `text`, which must be refused at one step: the error, that step's text and
/// why.
#[track_caller]
fn refused_step(text: &str) -> (ChainError, String, String) {
    let err = parse(text).unwrap_err();
    let (step, reason) = match &err {
        ChainError::BadRuleSwitch { step, reason } => (step.clone(), reason.clone()),
        ChainError::BadVmmSequence { step, reason } => (step.clone(), (*reason).to_owned()),
        other => panic!("{text}: expected a refused step, got {other:?}"),
    };
    (err, step, reason)
}

/// A rule switch that names no rule, or another engine's; three VMM steps in a row.
/// Each is refused at the step, saying why, in the error's text too.
#[test]
fn chain_refused_steps() {
    for (text, rule_switch, at, why) in [
        (
            "kvm-svm[-svm.get.nonsense] > qemu",
            true,
            "kvm-svm[-svm.get.nonsense]",
            &["svm.get.nonsense"][..],
        ),
        (
            "qemu[-svm.get.tr-busy]",
            true,
            "qemu[-svm.get.tr-busy]",
            &["svm.get.tr-busy", "another engine"],
        ),
        (
            "kvm-svm > qemu > qemu > qemu > kvm-svm",
            false,
            "qemu",
            &["at most two VMM steps"],
        ),
    ] {
        let (err, step, reason) = refused_step(text);
        let kind_ok = if rule_switch {
            matches!(err, ChainError::BadRuleSwitch { .. })
        } else {
            matches!(err, ChainError::BadVmmSequence { .. })
        };
        assert!(kind_ok, "{text}: {err:?}");
        assert_eq!(step, at, "{text}");
        for part in why {
            assert!(reason.contains(part), "{text}: {reason}");
            assert!(err.to_string().contains(part), "{text}: {err}");
        }
    }
    // Two VMM steps in a row is a migration, and fine.
    assert!(parse("kvm-svm > qemu@2.9 > qemu > kvm-svm").is_ok());
}

/// `qemu > verbatim` is two VMM steps in a row, i.e. a migration (module docs of
/// `chain.rs`): a QEMU `SegmentCache` cannot be handed to a VMM that stores raw
/// `kvm_sregs`, and `ChainError::BadVmmSequence` documents exactly this case.
#[test]
fn chain_qemu_to_verbatim_migration() {
    for text in ["qemu > verbatim", "verbatim > qemu"] {
        let (err, _, reason) = refused_step(text);
        assert!(
            matches!(err, ChainError::BadVmmSequence { .. }),
            "{text}: {err:?}"
        );
        assert!(reason.contains("same CPU model"), "{reason}");
    }
}

#[test]
fn chain_empty() {
    for text in ["", "   ", "kvm-svm >", "> qemu", "qemu >  > qemu"] {
        let err = parse(text).unwrap_err();
        assert_eq!(err, ChainError::Empty, "{text:?}");
        assert!(err.to_string().contains("empty chain"), "{err}");
    }
    assert_eq!(Chain::new(Vec::new()).unwrap_err(), ChainError::Empty);
}

#[test]
fn chain_source_and_destination() {
    let c = parse("kvm-svm > qemu > kvm-vmx").unwrap();
    assert_eq!((c.source(), c.destination()), (Format::Vmcb, Format::Vmcs));
    let c = parse("qemu").unwrap();
    assert_eq!((c.source(), c.destination()), (Format::Kvm, Format::Kvm));
}

fn user_mode_sregs() -> KvmSregs {
    let data = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 0]);
    KvmSregs {
        cs: kseg(0x33, 0xffff_ffff, 0, [0xb, 1, 3, 0, 1, 1, 1, 0, 0]),
        ds: data,
        es: data,
        fs: KvmSegment {
            base: 0x7f12_3456_7000,
            ..data
        },
        gs: data,
        // CPL 3 with an unusable SS (AMD, after SYSRET with a null SS).
        ss: kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]),
        tr: kseg(
            0x40,
            0x67,
            0xffff_fe00_0000_3000,
            [0xb, 1, 0, 0, 0, 0, 0, 0, 0],
        ),
        ldt: kseg(0, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0, 1]),
        gdt: dtable(0xffff_fe00_0000_1000, 0x7f),
        idt: dtable(0xffff_fe00_0000_0000, 0xfff),
        cr0: 0x8005_0033,
        cr2: 0x7f00_dead_b000,
        cr3: 0x1_2345_6000,
        cr4: 0x0035_06f0,
        cr8: 0,
        efer: 0xd01,
        apic_base: 0xfee0_0900,
        interrupt_bitmap: [0, 1 << 3, 0, 0],
    }
}

/// The user-mode sregs after one `run_sregs` through `chain`, QEMU's caches empty.
fn user_mode_sregs_through(chain: &str) -> KvmSregs {
    let previous = PerSegReg([QemuSegmentCache::default(); 8]);
    let mut sregs = user_mode_sregs();
    parse(chain)
        .unwrap()
        .run_sregs(&mut sregs, &previous)
        .unwrap();
    sregs
}

#[test]
fn run_sregs_qemu_2_9_drops_unusable_ss_dpl() {
    let original = user_mode_sregs();
    let sregs = user_mode_sregs_through("qemu@2.9");
    // flags = 0, then set_seg: every attribute 0, unusable = !present = 1.
    let expected = KvmSregs {
        ss: kseg(0x2b, 0xffff_ffff, 0, [0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ..original
    };
    assert_eq!(sregs, expected);
    assert_eq!(sregs.ss.dpl, 0);
}

#[test]
fn run_sregs_qemu_keeps_unusable_ss_dpl() {
    let original = user_mode_sregs();
    let sregs = user_mode_sregs_through("qemu");
    assert_eq!(sregs.ss.dpl, 3);
    // Every field, segments and the rest (cr0, efer, gdt, ...), comes back unchanged.
    assert_eq!(sregs, original);
}

/// QEMU syncing a guest in virtual-8086 mode hands KVM CPL 3 (kvm_put_sregs' intent
/// for EFLAGS.VM).
#[test]
fn qemu_v8086_sync_hands_kvm_cpl_3() {
    let c: Chain = "kvm-svm > qemu-v8086 > kvm-svm".parse().unwrap();
    let ss = vmcb(0x1234, 0x093, 0xffff, 0x12340);
    let out = c
        .run_segment(
            SegReg::Ss,
            InFlight {
                value: SegmentValue::Vmcb(ss),
                vmcb_cpl: 0,
            },
            &QemuSegmentCache::default(),
        )
        .unwrap();
    assert_eq!(
        out.value,
        SegmentValue::Vmcb(vmcb(0x1234, 0x0f3, 0xffff, 0x12340))
    );
    assert_eq!(out.vmcb_cpl, 3);
}

/// Through a migration stream the hooks act on the whole vCPU: a real-mode state whose
/// segments carry DPL 3 (old KVM) arrives with DPL 0 and QEMU's CPL 0, where the
/// per-register run (no CR0, no CS) keeps DPL 3.
#[test]
fn migration_hooks_act_in_chains_through_a_stream() {
    let c: Chain = "kvm-vmx > qemu > qemu > kvm-vmx".parse().unwrap();
    let real = PerSegReg::from_fn(|reg| match reg {
        SegReg::Tr => vmcs(0, 0x8b, 0xffff, 0),
        SegReg::Ldtr => vmcs(0, 0x82, 0xffff, 0),
        _ => vmcs(0x1000, 0xf3, 0xffff, 0x10000),
    });
    let input = VcpuSegments::Vmcs(real);
    let prev = PerSegReg::from_fn(|_| QemuSegmentCache::default());
    let (out, cpl) = c
        .run_migration(&input, &prev, 0x10, PrivilegeLevel::Ring3)
        .unwrap();
    let VcpuSegments::Vmcs(segs) = out else {
        panic!("ends in a VMCS")
    };
    assert_eq!(segs[SegReg::Ss].access_rights, VmxAccessRights(0x93));
    assert_eq!(segs[SegReg::Cs].access_rights, VmxAccessRights(0x93));
    assert_eq!(segs[SegReg::Tr].access_rights, VmxAccessRights(0x8b));
    assert_eq!(cpl, PrivilegeLevel::Ring0);
    // Protected mode (CR0.PE = 1): nothing changes; the CPL is SS.DPL.
    let (out, cpl) = c
        .run_migration(&input, &prev, 0x11, PrivilegeLevel::Ring0)
        .unwrap();
    assert_eq!(out, c.run(&input, &prev).unwrap());
    assert_eq!(cpl, PrivilegeLevel::Ring3);
}

// ---------------------------------------------------------------------------------------
// Chains of the other stacks.

#[test]
fn stack_chains_compile_to_their_paths() {
    // The ops themselves are pinned in profile/chain_ops.rs (the IR is crate-internal).
    let c = parse("illumos-bhyve-svm > propolis > illumos-bhyve-svm").unwrap();
    assert_eq!((c.source(), c.destination()), (Format::Vmcb, Format::Vmcb));
    let c = parse("kvm-svm > verbatim > mshv").unwrap();
    assert_eq!(
        (c.source(), c.destination()),
        (Format::Vmcb, Format::HyperV)
    );
    let c = parse("kvm-vmx > crosvm > crosvm-haxm").unwrap();
    assert_eq!(c.destination(), Format::Vmcs);
    let c = parse("xen-svm > xen-save > xen-vmx").unwrap();
    assert_eq!((c.source(), c.destination()), (Format::Vmcb, Format::Vmcs));
    assert_eq!(parse("kvm-nsvm").unwrap().destination(), Format::Vmcb);
}

#[test]
fn impossible_stack_chains_are_refused() {
    for bad in [
        "xen-svm > xen-save",
        "mshv > verbatim",
        "kvm-svm > xen-save > kvm-svm",
        "xen-svm > qemu > xen-svm",
        "xen-svm > xen-save > bhyve-svm",
        "kvm-svm > crosvm-haxm",
        "bochs-svm > qemu",
    ] {
        assert!(
            matches!(parse(bad), Err(ChainError::BadVmmSequence { .. })),
            "{bad} should be refused: {:?}",
            parse(bad)
        );
    }
    assert!(matches!(
        parse("xen-svm[-svm.get.tr-busy]"),
        Err(ChainError::BadRuleSwitch { .. })
    ));
}

fn sysret(chain: &Chain) -> VcpuSegments {
    let state = sysret_state();
    let input = encode_state(chain.source(), &state);
    chain
        .run(&input, &PerSegReg::from_fn(|_| QemuSegmentCache::default()))
        .unwrap()
}

/// AMD's SYSRET state (CPL 3, stale SS.DPL 0) through each stack's own migration:
/// every stack brings it back at CPL 3 but illumos bhyve through propolis, which
/// carries no CPL, so the restore takes SS's stale DPL 0 for the CPL.
#[test]
fn sysret_state_through_each_stack() {
    for spec in [
        "bhyve-svm > bhyve-snapshot > bhyve-svm",
        "xen-svm > xen-save > xen-svm",
        "xen-svm > xen-save > xen-vmx",
        "vbox-svm > vbox-sav > vbox-svm",
        "kvm-svm > crosvm > kvm-svm",
        "kvm-svm > verbatim > mshv",
        "kvm-svm > openvmm > kvm-svm",
        "bochs-svm",
        "kvm-nsvm",
    ] {
        let cpl = sysret(&parse(spec).unwrap()).cpl();
        assert_eq!(cpl, PrivilegeLevel::Ring3, "{spec}");
    }
    let propolis = "illumos-bhyve-svm > propolis > illumos-bhyve-svm";
    let cpl = sysret(&parse(propolis).unwrap()).cpl();
    assert_eq!(cpl, PrivilegeLevel::Ring0, "{propolis}");
}

fn responsible(spec: &str, property: Property) -> Option<Rule> {
    let r = verify_chain(&parse(spec).unwrap());
    assert!(r.violations(property) > 0, "{spec}: no {property}");
    r.counterexamples
        .iter()
        .find(|c| c.property == property)
        .and_then(|c| match c.responsible.as_slice() {
            [one] => Some(*one),
            _ => None,
        })
}

#[test]
fn verify_names_the_defects_of_the_peers() {
    use Property::{AttributeLoss, Escalation, VmxEntryRejected};
    for (spec, property, rule) in [
        (
            "illumos-bhyve-svm > propolis > illumos-bhyve-svm",
            Escalation,
            Rule::BhyveSvmGetSsDplFromAttrib,
        ),
        (
            "kvm-vmx > crosvm > crosvm-haxm",
            AttributeLoss,
            Rule::CrosvmHaxmNoNullBit,
        ),
        (
            "vbox-svm > vbox-sav > vbox-vmx",
            VmxEntryRejected,
            Rule::VboxSvmImportUnusableNotSet,
        ),
        (
            "verbatim > mshv > verbatim",
            AttributeLoss,
            Rule::MshvGetUnusableZero,
        ),
        (
            "bochs-svm",
            AttributeLoss,
            Rule::BochsVmexitZeroInvalidAttrib,
        ),
    ] {
        assert_eq!(responsible(spec, property), Some(rule), "{spec}");
    }
}

#[test]
fn the_symmetric_stacks_are_sound() {
    for spec in [
        "xen-svm > xen-save > xen-svm",
        "xen-vmx > xen-save > xen-vmx",
        "xen-svm > xen-save > xen-vmx",
        "xen-vmx > xen-save > xen-svm",
        "bhyve-svm > bhyve-snapshot > bhyve-svm",
        "bhyve-vmx > bhyve-snapshot > bhyve-vmx",
        "vbox-svm > vbox-sav > vbox-svm",
        "kvm-svm > crosvm > kvm-svm",
        "kvm-svm > crosvm > crosvm-whpx",
        "kvm-svm > verbatim > mshv",
        "kvm-vmx > openvmm > kvm-vmx",
        "kvm-nsvm",
        "kvm-nvmx",
    ] {
        let r = verify_chain(&parse(spec).unwrap());
        assert!(r.is_sound(), "{spec}: {:#?}", r.counterexamples);
    }
}

/// Switching the illumos defect off (reporting SS.DPL from VMCB.CPL, as KVM and Xen
/// do) makes the propolis migration keep the CPL.
#[test]
fn the_proposed_illumos_fix_keeps_the_cpl() {
    let fixed =
        parse("illumos-bhyve-svm[-bhyve.svm.get.ss-dpl-from-attrib] > propolis > illumos-bhyve-svm[-bhyve.svm.get.ss-dpl-from-attrib]")
            .unwrap();
    assert!(verify_chain(&fixed).keeps_cpl());
    assert_eq!(sysret(&fixed).cpl(), PrivilegeLevel::Ring3);
}
