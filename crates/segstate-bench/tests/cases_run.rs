//! Every benchmarked comparison runs one batch on each of its implementations, and the
//! Rust and C sides agree on how many inputs they refused: a case wired to the wrong
//! inputs, outputs or function is caught here rather than by a benchmark that measures
//! it quietly.

use segstate_bench::cases::{self, Case};

fn run_all(list: Vec<Case>, chain: bool) -> Vec<String> {
    let mut names = Vec::new();
    for mut case in list {
        assert_eq!(case.chain, chain, "{}", case.name);
        let counts: Vec<(&str, usize)> = case
            .variants
            .iter_mut()
            .map(|(implementation, run)| (*implementation, run()))
            .collect();
        let of = |name: &str| counts.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
        assert_eq!(of("rust"), of("c"), "{}: {counts:?}", case.name);
        names.push(case.name);
    }
    names
}

#[test]
fn every_pair_runs_and_both_sides_refuse_alike() {
    let names = run_all(cases::pairs(), false);
    assert_eq!(names.len(), 13, "{names:?}");
    assert_eq!(names[0], "vmcb->kvm svm_get_segment");
    assert_eq!(names[1], "kvm->vmcb svm_set_segment");
}

#[test]
fn every_chain_runs_each_implementation() {
    let list = cases::chains();
    for case in &list {
        let names: Vec<&str> = case.variants.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "rust",
                "rust-run",
                "rust-batch",
                "rust-batch-copy",
                "rust-direct",
                "c"
            ],
            "{}",
            case.name
        );
    }
    let names = run_all(list, true);
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
}
