//! The one search for the profile rule responsible for what a chain did: `check`'s
//! path findings and `verify`'s counterexamples both ask it, so they cannot blame
//! different rules for one state.

use alloc::vec::Vec;

use crate::profile::{Chain, Rule, RuleKind};

/// The rules whose removal from `chain` makes `fixed` true.
///
/// Tried in order: each single rule (loss rules first, then the others); then each
/// pair of loss rules (the 2017 bug needed both halves fixed); then every loss rule of
/// the chain together. Empty when none of these does.
pub fn responsible(chain: &Chain, fixed: impl Fn(&Chain) -> bool) -> Vec<Rule> {
    let rules = chain.rules();
    let loss: Vec<Rule> = rules
        .iter()
        .filter(|r| r.kind() == RuleKind::Loss)
        .collect();
    let others = rules.iter().filter(|r| r.kind() != RuleKind::Loss);
    if let Some(rule) = loss
        .iter()
        .copied()
        .chain(others)
        .find(|&r| fixed(&chain.without(r)))
    {
        return alloc::vec![rule];
    }
    for (i, &a) in loss.iter().enumerate() {
        for &b in &loss[i + 1..] {
            if fixed(&chain.without(a).without(b)) {
                return alloc::vec![a, b];
            }
        }
    }
    let without_all = loss.iter().fold(chain.clone(), |c, &r| c.without(r));
    if loss.len() > 2 && fixed(&without_all) {
        loss
    } else {
        Vec::new()
    }
}
