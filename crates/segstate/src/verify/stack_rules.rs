//! Tests: every rule of the other stacks' ops is read by its op over verify's domain
//! (the stack ops live in `profile/stack.rs` and `profile/stack_stages.rs`; this walks
//! verify's states, so it sits here, above them).

use alloc::vec::Vec;

use super::Workspace;
use crate::format::qemu::QemuSegmentCache;
use crate::profile::{Op, Rule, builtin_chains};

/// The stack ops' rules that no built-in chain's op reads: switched off, their op
/// gives the same output on every value the domain brings to it through the chain
/// (their case does not arise there: a `kvm_segment` from KVM's getters is
/// unusable exactly when not present, for one), or (the dump's CPL) no op reads
/// it. Their effects are pinned on the functions themselves (`tests/stack_rules.rs`).
const NOT_READ_BY_OPS: &[Rule] = &[
    Rule::XenSetGFromLimit,
    Rule::XenLoadUnfoldArbytes,
    Rule::BhyveSvmSetPFromUnusable,
    Rule::CrosvmFromKvmDropUnusable,
    Rule::OpenvmmFromKvmDropUnusable,
    Rule::OpenvmmDumpCplFromCsRpl,
];

/// Every rule of the built-in chains' stack ops is read by the op it belongs to:
/// switched off, that op gives another output, on what reaches it in one of those
/// chains, for some state of the domain; but those listed in [`NOT_READ_BY_OPS`],
/// exactly. A conversion in `stack_stages.rs` that dropped or forced a rule fails
/// here (the interpreter and the pipelines run that same function, so comparing
/// them cannot tell). It lives in verify, not beside the stack ops, because it
/// walks verify's domain: profile sits below verify.
#[test]
fn every_rule_of_the_other_stacks_is_read_by_its_op() {
    let previous = QemuSegmentCache::default();
    let (mut seen, mut read) = (Vec::new(), Vec::new());
    for chain in builtin_chains() {
        if chain.ops().iter().all(|op| op.is_kvm_or_qemu()) {
            continue;
        }
        let states = Workspace::new(chain.source()).states();
        for rule in chain.rules().iter() {
            let off = chain.without(rule);
            assert_eq!(off.ops().len(), chain.ops().len(), "{chain}");
            // KVM's and QEMU's rules have their own tests (profile_rules.rs).
            let stack = |(a, b): (&Op, &Op)| a != b && matches!(a, Op::Stack(_));
            if !chain.ops().iter().zip(off.ops()).any(stack) || read.contains(&rule) {
                continue;
            }
            seen.push(rule);
            let shows = states.iter().any(|s| {
                let mut differs = false;
                chain.interpret_each_op(s.reg, s.input, &previous, |i, op, at, out| {
                    let other = off.ops()[i];
                    differs |= other != op && other.apply_to(s.reg, *at, &previous) != *out;
                });
                differs
            });
            if shows {
                read.push(rule);
            }
        }
    }
    let mut unread: Vec<Rule> = seen.into_iter().filter(|r| !read.contains(r)).collect();
    unread.sort_by_key(|r| alloc::format!("{r:?}"));
    unread.dedup();
    let mut listed = NOT_READ_BY_OPS.to_vec();
    listed.sort_by_key(|r| alloc::format!("{r:?}"));
    assert_eq!(unread, listed);
}
