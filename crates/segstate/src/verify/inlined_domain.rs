//! `Chain::run_segment`'s inlined pipelines (`profile/specialised/inlined.rs`) held to
//! the interpreter over verify's whole domain of their source format.

use super::Workspace;
use super::domain;
use crate::arch::SegReg;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::profile::{Chain, Format, InFlight, SegmentValue, inlined_segment};

/// The built-in chains of today's profiles that `run_segment` inlines, one per
/// inlined variant.
const INLINED: &[&str] = &[
    "kvm-vmx > qemu > kvm-vmx",
    "kvm-vmx > verbatim > kvm-vmx",
    "kvm-vmx > qemu > kvm-svm",
    "verbatim > kvm-svm",
    "verbatim > kvm-vmx",
    "qemu",
];

/// Every state of the domain through each inlined chain, inlined and through
/// `run_segment`, gives what the interpreted ops give; a value in another format is
/// refused. The chains are the built-in ones and each with one rule switched off.
/// Fails if a listed chain is not inlined (its inlined form never taken), if another
/// built-in chain is, or if one of today's listed chains with a rule switched off is
/// (its rules are then data).
#[test]
fn inlined_segments_equal_the_interpreter_over_the_domain() {
    let previous = domain::previous_caches();
    // Any value tells whether a chain is inlined: `Some` whatever its format.
    let probe = InFlight {
        value: SegmentValue::Kvm(KvmSegment::default()),
        vmcb_cpl: 0,
    };
    let inlines =
        |c: &Chain| inlined_segment(c, SegReg::Ds, &probe, &previous[SegReg::Ds]).is_some();
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
                let out = inlined_segment(chain, reg, &input, &previous[reg]);
                assert_eq!(out, Some(Some(reference)), "{chain}: {reg:?} {input:?}");
                let run = chain.run_segment(reg, input, &previous[reg]);
                assert_eq!(run, Ok(reference), "{chain}: {reg:?} {input:?}");
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

/// A value in a format other than `chain`'s source is refused inlined, and by
/// `run_segment` with the interpreted ops' error.
fn refuses_other_formats(chain: &Chain, previous: &QemuSegmentCache) {
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        if format == chain.source() {
            continue;
        }
        let input = Workspace::new(format).states()[0].input;
        assert_eq!(
            inlined_segment(chain, SegReg::Ds, &input, previous),
            Some(None),
            "{chain}: {format:?}"
        );
        let interpreted = chain.run_segment_observed(SegReg::Ds, input, previous, |_, _| {});
        assert!(interpreted.is_err(), "{chain}: {format:?}");
        assert_eq!(
            chain.run_segment(SegReg::Ds, input, previous),
            interpreted,
            "{chain}: {format:?}"
        );
    }
}
