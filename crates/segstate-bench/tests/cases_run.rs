//! Every benchmarked comparison runs one batch on each of its implementations, and the
//! Rust and C sides agree on how many inputs they refused: a case wired to the wrong
//! inputs, outputs or function is caught here rather than by a benchmark that measures
//! it quietly.

use segstate_bench::cases::{self, Case};
use segstate_bench::inputs::BATCH;

/// Each case's name and what each implementation's batch returned.
fn run_all(list: Vec<Case>, chain: bool) -> Vec<(String, Vec<(&'static str, usize)>)> {
    list.into_iter()
        .map(|mut case| {
            assert_eq!(case.chain, chain, "{}", case.name);
            let counts: Vec<(&str, usize)> = case
                .variants
                .iter_mut()
                .map(|(implementation, run)| (*implementation, run()))
                .collect();
            let of = |name: &str| counts.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
            assert_eq!(of("rust"), of("c"), "{}: {counts:?}", case.name);
            (case.name, counts)
        })
        .collect()
}

#[test]
fn every_pair_runs_and_both_sides_refuse_alike() {
    let ran = run_all(cases::pairs(), false);
    assert_eq!(ran.len(), 13);
    assert_eq!(ran[0].0, "vmcb->kvm svm_get_segment");
    assert_eq!(ran[1].0, "kvm->vmcb svm_set_segment");
    // The strict conversions that refuse part of the inputs: the equal counts above
    // compare something.
    for (name, counts) in &ran {
        let refuses = name == "kvm->qemu strict" || name == "kvm->hyperv strict";
        assert_eq!(counts[0].1 > 0, refuses, "{name}: {counts:?}");
    }
}

#[test]
fn every_chain_runs_each_implementation_without_a_failure() {
    let ran = run_all(cases::chains(), true);
    let names: Vec<&str> = ran.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kvm-svm > qemu > kvm-svm",
            "kvm-svm > verbatim > kvm-svm",
            "kvm-svm > qemu > kvm-vmx > qemu > kvm-svm",
            "kvm-svm > qemu > kvm-vmx",
            "kvm-vmx > qemu > kvm-svm",
            "verbatim > kvm-svm",
            "kvm-vmx > qemu > kvm-vmx",
            "kvm-vmx > verbatim > kvm-vmx",
            "verbatim > kvm-vmx",
            "qemu",
        ]
    );
    for (name, counts) in &ran {
        // Every run converts (0 failures); the copy alone returns what it copied, the
        // call floor converts nothing and refuses nothing; the one-segment syncs (C's and
        // the typed Rust's, through their pointers) come last.
        assert_eq!(
            counts,
            &[
                ("rust", 0),
                ("rust-into", 0),
                ("rust-run", 0),
                ("rust-run-into", 0),
                ("rust-batch", 0),
                ("rust-batch-copy", BATCH),
                ("rust-call-floor", 0),
                ("rust-contract", 0),
                ("c-contract", 0),
                ("rust-direct", 0),
                ("c", 0),
                ("c-one", 0),
                ("rust-typed-one", 0),
            ],
            "{name}"
        );
    }
}

#[test]
fn every_entry_chain_runs_both_profiles_without_a_failure() {
    let ran: Vec<(String, Vec<(&str, usize)>)> = cases::entry_chains()
        .into_iter()
        .map(|mut case| {
            let counts = case
                .variants
                .iter_mut()
                .map(|(implementation, run)| (*implementation, run()))
                .collect();
            (case.name, counts)
        })
        .collect();
    let names: Vec<&str> = ran.iter().map(|(name, _)| name.as_str()).collect();
    let specs: Vec<&str> = segstate_bench::rust::contract::Shape::ALL
        .iter()
        .map(|s| s.spec())
        .collect();
    assert_eq!(names, specs);
    for (name, counts) in &ran {
        assert_eq!(counts, &[("today", 0), ("entry", 0)], "{name}");
    }
}
