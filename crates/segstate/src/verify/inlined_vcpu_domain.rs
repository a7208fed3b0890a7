//! `Chain::run`'s and `Chain::run_into`'s inlined pipelines
//! (`profile/specialised/inlined_vcpu.rs`) held to the interpreter over verify's whole
//! domain of their source format.

use super::Workspace;
use super::domain;
use crate::arch::{PerSegReg, SegReg};
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::profile::{
    Chain, Format, INLINED_VCPU_RUNS, InFlight, VcpuSegments, WrongSourceFormat, builtin_chains,
    collect,
};
use crate::testing::counted_with_into;
use alloc::vec::Vec;

/// The built-in chains of today's profiles whose `run` is inlined, one per inlined
/// variant.
const INLINED: &[&str] = &["kvm-vmx > verbatim > kvm-vmx"];

/// `chain.run` of `input`, and how many vCPUs it ran through an inlined arm (0 or 1).
/// `chain.run_into` is run too, over an output of another vCPU: it must write what `run`
/// returns, leave the output as it was where that is an error, and take the inlined
/// arm exactly where `run` does.
fn run_counted(
    chain: &Chain,
    input: &VcpuSegments,
    previous: &PerSegReg<QemuSegmentCache>,
) -> (Result<VcpuSegments, WrongSourceFormat>, usize) {
    let before = VcpuSegments::Kvm(PerSegReg::from_fn(|reg| KvmSegment {
        selector: 0x5a5a,
        dpl: reg.index() as u8 & 3,
        ..KvmSegment::default()
    }));
    counted_with_into(
        &INLINED_VCPU_RUNS,
        &format_args!("{chain}: {input:?}"),
        || chain.run(input, previous),
        |out| chain.run_into(input, previous, out),
        before,
    )
}

/// Every state of the domain, in its own register of a vCPU, through each inlined
/// chain's `run` gives what the interpreted ops give, each through the inlined arm
/// (counted: a `run` that stopped taking it fails here); a vCPU in another format is
/// refused with the interpreter's error. The chains are the built-in
/// ones and each with one rule switched off. Fails if a listed chain is not inlined
/// (its inlined form never taken), if another built-in chain is, or if one of today's
/// listed chains with a rule switched off is (its rules are then data).
#[test]
fn inlined_vcpus_equal_the_interpreter_over_the_domain() {
    let previous = domain::previous_caches();
    // Any vCPU tells whether a chain is inlined: its arm is reached whatever the
    // vCPU's format.
    let probe = VcpuSegments::Kvm(PerSegReg::from_fn(|_| KvmSegment::default()));
    let inlines = |c: &Chain| run_counted(c, &probe, &previous).1 == 1;
    let inlined = inlined_chains(INLINED, inlines);
    // A VMCB's CPL byte is one per vCPU, not per register: a VMCB source would need
    // its states' CPL bytes placed by hand (none is inlined: step 38's findings).
    assert!(inlined.iter().all(|c| c.source() != Format::Vmcb));
    let mut checked = 0;
    for format in [Format::Vmcs, Format::Kvm] {
        let of_format: Vec<&Chain> = inlined.iter().filter(|c| c.source() == format).collect();
        if of_format.is_empty() {
            continue;
        }
        let states = Workspace::new(format).states();
        let by_reg: PerSegReg<Vec<InFlight>> = PerSegReg::from_fn(|reg| {
            let of_reg = states.iter().filter(|s| s.reg == reg);
            of_reg.map(|s| s.input).collect()
        });
        let vcpus = SegReg::ALL.iter().map(|&r| by_reg[r].len()).max();
        let vcpus = vcpus.expect("eight registers");
        assert!(vcpus > 1000, "{format:?}: {vcpus} vCPUs");
        for chain in of_format {
            // vCPU `n` holds each register's state `n`, wrapping round the shorter lists.
            for n in 0..vcpus {
                let at = |r: SegReg| by_reg[r][n % by_reg[r].len()];
                let vcpu = collect(format, &core::array::from_fn(|i| at(SegReg::ALL[i])));
                let reference = chain.run_interpreted(&vcpu, &previous);
                assert!(reference.is_ok(), "{chain}: {vcpu:?}");
                let run = run_counted(chain, &vcpu, &previous);
                assert_eq!(run, (reference, 1), "{chain}: {vcpu:?}");
            }
            for other in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
                if other == format {
                    continue;
                }
                let wrong = collect(other, &[Workspace::new(other).states()[0].input; 8]);
                let refused = chain.run_interpreted(&wrong, &previous);
                assert!(refused.is_err(), "{chain}: {other:?}");
                let run = run_counted(chain, &wrong, &previous);
                assert_eq!(run, (refused, 1), "{chain}: {other:?}");
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        inlined.len(),
        "inlined chains of a pipeline's source format"
    );
}

/// The built-in chains and each with one rule switched off that `inlines`, after
/// checking that of the built-in chains exactly those `listed` (today's profiles) are
/// inlined, and none of them with one of today's rules switched off (its rules are then
/// data).
pub(super) fn inlined_chains(listed: &[&str], inlines: impl Fn(&Chain) -> bool) -> Vec<Chain> {
    let mut found = 0;
    let mut inlined: Vec<Chain> = Vec::new();
    for base in builtin_chains() {
        let spec = alloc::format!("{base}");
        let today = listed.contains(&spec.as_str());
        assert_eq!(inlines(&base), today, "{spec}");
        found += usize::from(today);
        let switched = base.rules().iter().map(|rule| base.without(rule));
        for chain in core::iter::once(base.clone()).chain(switched) {
            assert!(!today || chain == base || !inlines(&chain), "{chain}");
            if inlines(&chain) {
                inlined.push(chain);
            }
        }
    }
    assert_eq!(found, listed.len(), "listed chains built in");
    inlined
}
