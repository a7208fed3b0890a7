//! The compiled chains held to the interpreter over verify's whole domain: the tables
//! `profile` builds for a chain give, for every domain state of its source format,
//! what the interpreted ops give, and they cover every state that decodes.

use super::Workspace;
use super::domain;
use crate::profile::builtin_chains;

#[test]
fn compiled_equals_interpreted_over_every_domain() {
    let mut workspaces: Vec<Workspace> = Vec::new();
    let previous = domain::previous_caches();
    let mut compiled = 0;
    for base in builtin_chains() {
        if !base.ops().iter().all(|op| op.is_kvm_or_qemu()) {
            continue;
        }
        let variants = base.rules().iter().map(|rule| base.without(rule));
        for chain in variants.chain(core::iter::once(base.clone())) {
            let source = chain.source();
            let ws = match workspaces.iter().position(|w| w.format == source) {
                Some(i) => &workspaces[i],
                None => {
                    workspaces.push(Workspace::new(source));
                    workspaces.last().expect("just pushed")
                }
            };
            let mut tabled = 0;
            for state in ws.states() {
                let Some(out) = chain.tabled(state.reg, &state.input) else {
                    // Only garbage kvm_segment bytes fall outside the key space.
                    assert!(
                        state.decoded.is_none() || chain.reads_previous(),
                        "{chain}: {:?} {:?} not tabled",
                        state.reg,
                        state.input
                    );
                    continue;
                };
                let reference = chain.interpret(state.reg, state.input, &previous[state.reg]);
                assert_eq!(out, reference, "{chain}: {:?} {:?}", state.reg, state.input);
                tabled += 1;
            }
            if tabled > 0 {
                compiled += 1;
            } else {
                assert!(chain.reads_previous(), "{chain} did not compile");
            }
        }
    }
    assert!(compiled > 150, "{compiled} chains compiled");
}
