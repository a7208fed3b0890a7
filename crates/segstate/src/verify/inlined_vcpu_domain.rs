//! `Chain::run`'s inlined pipelines (`profile/specialised/inlined_vcpu.rs`) held to the
//! interpreter over verify's whole domain of their source format.

use super::Workspace;
use super::domain;
use crate::arch::{PerSegReg, SegReg};
use crate::format::kvm::KvmSegment;
use crate::profile::{
    Chain, Format, InFlight, VcpuSegments, builtin_chains, collect, inlined_vcpu,
};
use alloc::vec::Vec;

/// The built-in chains of today's profiles whose `run` is inlined, one per inlined
/// variant.
const INLINED: &[&str] = &["kvm-vmx > verbatim > kvm-vmx"];

/// Every state of the domain, in its own register of a vCPU, through each inlined
/// chain, inlined and through `run`, gives what the interpreted ops give; a vCPU in
/// another format is refused with the interpreter's error. The chains are the built-in
/// ones and each with one rule switched off. Fails if a listed chain is not inlined
/// (its inlined form never taken), if another built-in chain is, or if one of today's
/// listed chains with a rule switched off is (its rules are then data).
#[test]
fn inlined_vcpus_equal_the_interpreter_over_the_domain() {
    let previous = domain::previous_caches();
    // Any vCPU tells whether a chain is inlined: `Some` whatever its format.
    let probe = VcpuSegments::Kvm(PerSegReg::from_fn(|_| KvmSegment::default()));
    let inlines = |c: &Chain| inlined_vcpu(c, &probe, &previous).is_some();
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
                let arm = inlined_vcpu(chain, &vcpu, &previous);
                assert_eq!(arm.as_ref(), Some(&reference), "{chain}: {vcpu:?}");
                assert_eq!(chain.run(&vcpu, &previous), reference, "{chain}: {vcpu:?}");
            }
            for other in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
                if other == format {
                    continue;
                }
                let wrong = collect(other, &[Workspace::new(other).states()[0].input; 8]);
                let refused = chain.run_interpreted(&wrong, &previous);
                assert!(refused.is_err(), "{chain}: {other:?}");
                let arm = inlined_vcpu(chain, &wrong, &previous);
                assert_eq!(arm.as_ref(), Some(&refused), "{chain}: {other:?}");
                assert_eq!(chain.run(&wrong, &previous), refused, "{chain}: {other:?}");
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
