//! The pipelines' tests: which built-in chains take which pipeline, and what an entry
//! gives back (their results against the interpreter: `compiled.rs`'s
//! `public_api_equals_interpreted`, and verify's trips tests over whole domains).

use super::*;
use crate::profile::builtin_chains;

/// The built-in chains of the other stacks and of a QEMU migration that have a
/// pipeline, each with the variant it runs as (rules as data).
pub(crate) const OTHER_PIPELINES: &[(&str, &str)] = &[
    ("kvm-svm > qemu@2.9 > qemu > kvm-svm", "SvmMigrateSvm"),
    ("kvm-vmx > crosvm > crosvm-haxm", "VmxCrosvmHaxm"),
    ("kvm-svm > crosvm > kvm-svm", "SvmCrosvmSvm"),
    ("kvm-vmx > crosvm > kvm-vmx", "VmxCrosvmVmx"),
    ("kvm-svm > vbox-nem > kvm-svm", "SvmNemSvm"),
    ("kvm-svm > openvmm > kvm-svm", "SvmOpenvmmSvm"),
    ("kvm-vmx > openvmm > kvm-vmx", "VmxOpenvmmVmx"),
    ("bhyve-svm > bhyve-snapshot > bhyve-svm", "BhyveSvm"),
    (
        "illumos-bhyve-svm > propolis > illumos-bhyve-svm",
        "BhyveSvm",
    ),
];

/// The built-in chains without a pipeline: they run interpreted (or through tables).
const INTERPRETED: &[&str] = &[
    "xen-svm > xen-save > xen-svm",
    "xen-vmx > xen-save > xen-vmx",
    "xen-svm > xen-save > xen-vmx",
    "xen-vmx > xen-save > xen-svm",
    "bhyve-vmx > bhyve-snapshot > bhyve-vmx",
    "vbox-svm > vbox-sav > vbox-svm",
    "vbox-vmx > vbox-sav > vbox-vmx",
    "vbox-svm > vbox-sav > vbox-vmx",
    "kvm-svm > crosvm > crosvm-whpx",
    "kvm-svm > verbatim > mshv",
    "kvm-vmx > verbatim > mshv",
    "verbatim > mshv > verbatim",
    "bochs-svm",
    "kvm-nsvm",
    "kvm-nvmx",
];

/// The name of `p`'s variant, as [`OTHER_PIPELINES`] lists it.
fn variant(p: &Pipeline) -> alloc::string::String {
    let name = match p {
        Pipeline::SvmMigrateSvm(_) => "SvmMigrateSvm",
        Pipeline::VmxCrosvmHaxm(_) => "VmxCrosvmHaxm",
        Pipeline::SvmCrosvmSvm(_) => "SvmCrosvmSvm",
        Pipeline::VmxCrosvmVmx(_) => "VmxCrosvmVmx",
        Pipeline::SvmNemSvm(_) => "SvmNemSvm",
        Pipeline::SvmOpenvmmSvm(_) => "SvmOpenvmmSvm",
        Pipeline::VmxOpenvmmVmx(_) => "VmxOpenvmmVmx",
        Pipeline::BhyveSvm(_) => "BhyveSvm",
        _ => "a KVM/QEMU shape",
    };
    name.into()
}

/// Each of the other stacks' shapes with a pipeline is chosen for its chains, and
/// for each of them with any one rule switched off or all: the variant named, so a chain
/// that fell back on the interpreter (or took another shape's pipeline) fails here.
/// (That each runs as the interpreter does: `compiled.rs`'s
/// `public_api_equals_interpreted`, and verify's `pipelines_of_the_other_stacks_equal_the_interpreter`
/// over the whole domain.)
#[test]
fn other_stacks_shapes_take_their_pipelines() {
    for &(spec, expected) in OTHER_PIPELINES {
        let chain: crate::profile::Chain = spec.parse().expect("parses");
        assert!(crate::profile::builtin_about(&chain).is_some(), "{spec}");
        let none = chain
            .rules()
            .iter()
            .fold(chain.clone(), |c, r| c.without(r));
        let chains = chain.rules().iter().map(|rule| chain.without(rule));
        for c in [chain.clone(), none].into_iter().chain(chains) {
            let p = pipeline(c.ops());
            assert_eq!(p.as_ref().map(variant).as_deref(), Some(expected), "{c}");
            assert!(c.has_pipeline(), "{c}");
        }
    }
}

/// What `run_segment`'s entry gives back, put around the input's carrier, is the
/// segment the stages made, every byte of it: garbage attribute bytes, a non-zero
/// padding byte and CPL bytes above 3 included, in each format a chain ends in.
#[test]
fn written_around_its_carrier_is_the_segment() {
    fn check<T: Shape>(x: T, cpl: u8) {
        assert_eq!(
            x.written(cpl).around(x.carrier()),
            InFlight {
                value: x.wrap(),
                vmcb_cpl: cpl
            }
        );
    }
    for i in 0..4096u64 {
        let a = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let b = (i ^ 0x5555).wrapping_mul(0xd1b5_4a32_d192_ed03);
        let (selector, base, limit) = (b as u16, a.rotate_left(17), (b >> 16) as u32);
        let cpl = (b >> 56) as u8;
        check(
            VmcbSegment {
                selector,
                attrib: SvmAttrib(a as u16),
                limit,
                base,
            },
            cpl,
        );
        check(
            VmxSegment {
                selector,
                base,
                limit,
                access_rights: VmxAccessRights((a >> 7) as u32),
            },
            cpl,
        );
        let mut fields = [(b >> 8) as u8; 9];
        fields[..8].copy_from_slice(&a.to_le_bytes());
        let mut kvm = crate::testing::kvm_segment(selector, limit, base, fields);
        kvm.padding = (b >> 24) as u8;
        check(kvm, cpl);
    }
}

/// Every built-in chain, with or without any of its rules, runs as a pipeline (the
/// compiled tests in `compiled.rs` hold its results to the interpreted ops), but
/// for those listed in [`INTERPRETED`].
#[test]
fn every_builtin_shape_is_recognised() {
    for chain in builtin_chains() {
        let spec = alloc::format!("{chain}");
        if INTERPRETED.contains(&spec.as_str()) {
            assert!(recognise(chain.ops()).is_none(), "{chain}");
            continue;
        }
        assert!(recognise(chain.ops()).is_some(), "{chain}");
        for rule in chain.rules().iter() {
            assert!(
                recognise(chain.without(rule).ops()).is_some(),
                "{chain} - {rule}"
            );
        }
    }
    // Today's profiles run with their rules folded in, others with rules as data.
    let ops = |spec: &str| spec.parse::<crate::profile::Chain>().expect("parses");
    let today = ops("kvm-svm > qemu > kvm-svm");
    assert!(matches!(
        pipeline(today.ops()),
        Some(Pipeline::SvmVmmSvmToday(_))
    ));
    let old = ops("kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11");
    assert!(matches!(pipeline(old.ops()), Some(Pipeline::SvmVmmSvm(_))));
    let switched = today.without(crate::profile::Rule::SvmGetTrBusy);
    assert!(matches!(
        pipeline(switched.ops()),
        Some(Pipeline::SvmVmmSvm(_))
    ));
    // `verbatim` alone has no op: no pipeline, its tables are the identity.
    let verbatim: crate::profile::Chain = "verbatim".parse().expect("parses");
    assert!(recognise(verbatim.ops()).is_none());
    assert!(verbatim.compile());
}

/// A chain whose last step is QEMU's set_seg and whose pipeline is QEMU's two steps alone
/// (`qemu`, with today's rules folded and with a rule switched off, as data) writes its
/// batches and vCPUs through the stored form (`qemu::set_seg_stored`), once a register,
/// as `run_segment`'s inlined arm does (today's rules; the entry does not), and gives
/// what the interpreted ops give, on outputs present and not present (so with the rule
/// on, unusable set: the table's unusable lane). (Over the whole `kvm_sregs` domain:
/// `verify::stored_domain`; the form against set_seg over every flags word: `qemu`'s
/// tests.)
#[cfg(feature = "std")]
#[test]
fn qemu_last_step_runs_its_stored_form() {
    use crate::profile::qemu::STORED_RUNS;
    use crate::testing::kvm_segment;
    let runs = || STORED_RUNS.with(core::cell::Cell::get);
    let chain: crate::profile::Chain = "qemu".parse().expect("parses");
    let switched = chain.without(crate::profile::Rule::QemuSetUnusableFromNotPresent);
    assert!(matches!(pipeline(chain.ops()), Some(Pipeline::VmmToday(_))));
    assert!(matches!(pipeline(switched.ops()), Some(Pipeline::Vmm(_))));
    let previous = PerSegReg::from_fn(|_| QemuSegmentCache::default());
    // `run_segment`: the stored form where it is inlined (today's rules), not through
    // the entry (a rule off), whose result the caller rebuilds from `Written`.
    for (c, segment_runs) in [(chain, 1), (switched, 0)] {
        // Garbage attribute bytes in the odd registers (the type byte's spill sets P),
        // clean ones in the even: ES and DS present, SS and LDTR not present and
        // unusable.
        let segments = PerSegReg::from_fn(|reg| {
            let i = reg.index() as u8;
            let fields = if i % 2 == 1 {
                [0x93 ^ i, i & 1, 0x84 >> i, 2 + i, 1, i, 0xff, 9, i % 3]
            } else {
                let present = u8::from(i % 4 == 0);
                [
                    3 ^ (i >> 1),
                    present,
                    (i >> 1) & 3,
                    1,
                    1,
                    0,
                    1,
                    0,
                    1 - present,
                ]
            };
            kvm_segment(0x10 + u16::from(i), 0xfffff, u64::from(i) << 12, fields)
        });
        let vcpu = VcpuSegments::Kvm(segments);
        let interpreted = c.run_interpreted(&vcpu, &previous).expect("kvm_sregs");
        let outputs = |f: fn(&KvmSegment) -> bool| {
            SegReg::ALL
                .iter()
                .any(|&reg| match interpreted.in_flight(reg).value {
                    SegmentValue::Kvm(k) => f(&k),
                    _ => false,
                })
        };
        assert!(
            outputs(|k| k.present == 1) && outputs(|k| k.present == 0),
            "{c}"
        );
        let unusable = c
            .rules()
            .has(crate::profile::Rule::QemuSetUnusableFromNotPresent);
        assert_eq!(outputs(|k| k.unusable == 1), unusable, "{c}");
        let before = runs();
        assert_eq!(c.run(&vcpu, &previous), Ok(interpreted), "{c}");
        assert_eq!(runs(), before + 8, "{c}: run");
        for reg in SegReg::ALL {
            let mut batch = [vcpu.in_flight(reg); 3];
            let before = runs();
            c.run_batch(reg, &mut batch, &previous[reg])
                .expect("kvm_sregs");
            assert_eq!(runs(), before + 3, "{c}: run_batch");
            assert_eq!(batch, [interpreted.in_flight(reg); 3], "{c}");
            let before = runs();
            let one = c.run_segment(reg, vcpu.in_flight(reg), &previous[reg]);
            assert_eq!(runs(), before + segment_runs, "{c}: run_segment");
            assert_eq!(one, Ok(interpreted.in_flight(reg)), "{c}");
        }
    }
}

/// `run_segment` on the chains from a `kvm_segment` into a VMCB or a VMCS (inlined, today's
/// rules) reads the attribute bytes in two halves, once a register, and gives the
/// interpreter's result: with the inlined arms on [`Stage::apply`] (or the halves form
/// never taken) the count fails. The same chain with a rule off runs through its
/// entry, which does not take it. Every state of the domain: `verify::inlined_domain`.
#[cfg(feature = "std")]
#[test]
fn inlined_from_kvm_runs_its_copied_form() {
    use crate::profile::attribute_bytes::HALVES_RUNS;
    use crate::testing::kvm_segment;
    let runs = || HALVES_RUNS.with(core::cell::Cell::get);
    let previous = QemuSegmentCache::default();
    for (name, rule) in [
        (
            "verbatim > kvm-svm",
            crate::profile::Rule::SvmSetPFromUnusable,
        ),
        (
            "verbatim > kvm-vmx",
            crate::profile::Rule::VmxSetUnusableFromNotPresent,
        ),
    ] {
        let chain: crate::profile::Chain = name.parse().expect("parses");
        let switched = chain.without(rule);
        assert!(
            switched.ops() != chain.ops(),
            "{rule:?} is one of today's rules"
        );
        for (c, taken) in [(&chain, 1), (&switched, 0)] {
            for reg in SegReg::ALL {
                let i = reg.index() as u8;
                let fields = [0x93 ^ i, i & 1, 0x84 >> i, 2 + i, 1, i, 0xff, 9, i % 3];
                let k = kvm_segment(0x10 + u16::from(i), 0xfffff, u64::from(i) << 12, fields);
                let input = InFlight {
                    value: SegmentValue::Kvm(k),
                    vmcb_cpl: i,
                };
                let interpreted = c.interpret(reg, input, &previous);
                let before = runs();
                assert_eq!(c.run_segment(reg, input, &previous), Ok(interpreted), "{c}");
                assert_eq!(runs(), before + taken, "{c}, {reg:?}");
            }
        }
    }
}
