//! `Chain::run_segment`'s and `Chain::run_segment_into`'s inlined pipelines
//! (`profile/specialised/inlined.rs`) held to the interpreter over verify's whole domain
//! of their source format.

use super::Workspace;
use super::domain;
use crate::arch::SegReg;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::profile::{Chain, Format, INLINED_RUNS, InFlight, SegmentValue};
use crate::testing::counted_with_into;

/// The built-in chains of today's profiles that `run_segment` inlines, one per
/// inlined variant.
const INLINED: &[&str] = &[
    "kvm-vmx > qemu > kvm-vmx",
    "kvm-vmx > verbatim > kvm-vmx",
    "kvm-vmx > qemu > kvm-svm",
    "verbatim > kvm-svm",
    "verbatim > kvm-vmx",
    "qemu",
    "kvm-svm > qemu > kvm-svm",
    "kvm-svm > verbatim > kvm-svm",
    "kvm-svm > qemu > kvm-vmx",
    "kvm-svm > qemu > kvm-vmx > qemu > kvm-svm",
];

/// `chain.run_segment` of `input`, and how many values it ran through an inlined arm
/// (0 or 1). `chain.run_segment_into` is run too, over an output that holds another
/// value: it must write what `run_segment` returns, leave the output as it was where
/// that is an error, and take the inlined arm exactly where `run_segment` does.
fn run_segment_counted(
    chain: &Chain,
    reg: SegReg,
    input: InFlight,
    previous: &QemuSegmentCache,
) -> (Result<InFlight, crate::profile::WrongSourceFormat>, usize) {
    let before = InFlight {
        value: SegmentValue::Kvm(KvmSegment {
            selector: 0x5a5a,
            ..KvmSegment::default()
        }),
        vmcb_cpl: 0xa5,
    };
    counted_with_into(
        &INLINED_RUNS,
        &format_args!("{chain}: {reg:?} {input:?}"),
        || chain.run_segment(reg, input, previous),
        |out| chain.run_segment_into(reg, &input, previous, out),
        before,
    )
}

/// Every state of the domain through each inlined chain's `run_segment` gives what the
/// interpreted ops give, each through the inlined arm (counted: a `run_segment` that
/// stopped taking it fails here); a value in another format is refused with the
/// interpreted ops' error. The chains are the built-in ones and each with one rule
/// switched off. Fails if a listed chain is not inlined, if another built-in chain is,
/// or if one of today's listed chains with a rule switched off is (its rules are then
/// data).
#[test]
fn inlined_segments_equal_the_interpreter_over_the_domain() {
    let previous = domain::previous_caches();
    // Any value tells whether a chain is inlined: its arm is reached whatever the
    // value's format.
    let probe = InFlight {
        value: SegmentValue::Kvm(KvmSegment::default()),
        vmcb_cpl: 0,
    };
    let inlines = |c: &Chain| {
        let (_, ran) = run_segment_counted(c, SegReg::Ds, probe, &previous[SegReg::Ds]);
        assert!(ran <= 1, "{c}: {ran} inlined runs for one segment");
        ran == 1
    };
    let inlined = super::inlined_vcpu_domain::inlined_chains(INLINED, inlines);
    // One domain per source format, each inlined chain over the whole of its own.
    let mut checked = 0;
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        let of_format: Vec<&Chain> = inlined.iter().filter(|c| c.source() == format).collect();
        if of_format.is_empty() {
            continue;
        }
        let states = Workspace::new(format).states();
        assert!(states.len() > 1000, "{format:?}: {} states", states.len());
        for chain in of_format {
            for state in &states {
                let (reg, input) = (state.reg, state.input);
                let reference = chain.interpret(reg, input, &previous[reg]);
                let (run, ran) = run_segment_counted(chain, reg, input, &previous[reg]);
                assert_eq!(run, Ok(reference), "{chain}: {reg:?} {input:?}");
                assert_eq!(ran, 1, "{chain}: {reg:?} {input:?} not run inlined");
            }
            refuses_other_formats(chain, &previous[SegReg::Ds]);
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        inlined.len(),
        "inlined chains of a pipeline's source format"
    );
}

/// A value in a format other than `chain`'s source is refused by `run_segment` with the
/// interpreted ops' error.
fn refuses_other_formats(chain: &Chain, previous: &QemuSegmentCache) {
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        if format == chain.source() {
            continue;
        }
        let input = Workspace::new(format).states()[0].input;
        let interpreted = chain.run_segment_observed(SegReg::Ds, input, previous, |_, _| {});
        assert!(interpreted.is_err(), "{chain}: {format:?}");
        let (run, _) = run_segment_counted(chain, SegReg::Ds, input, previous);
        assert_eq!(run, interpreted, "{chain}: {format:?}");
    }
}
