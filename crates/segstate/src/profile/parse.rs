//! Chains written as text: `kvm-svm > qemu@2.9 > kvm-svm[-svm.get.tr-busy]`.

use alloc::string::String;
use alloc::vec::Vec;
use core::str::FromStr;

use super::chain::{Chain, ChainError, Step};
use super::{Profile, Rule};

impl FromStr for Chain {
    type Err = ChainError;

    /// Parses `profile [> profile …]`, each optionally followed by rule switches in
    /// brackets: `kvm-svm[-svm.get.tr-busy,+svm.get.unusable-from-type0]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut steps = Vec::new();
        for part in s.split('>') {
            let part = part.trim();
            if part.is_empty() {
                return Err(ChainError::Empty);
            }
            steps.push(parse_step(part)?);
        }
        Chain::new(steps)
    }
}

fn parse_step(text: &str) -> Result<Step, ChainError> {
    let (name, switches) = match text.find('[') {
        Some(open) => {
            let close = text
                .rfind(']')
                .filter(|&c| c == text.len() - 1)
                .ok_or_else(|| ChainError::BadRuleSwitch {
                    step: text.into(),
                    reason: "rule switches must end with ']'".into(),
                })?;
            (&text[..open], Some(&text[open + 1..close]))
        }
        None => (text, None),
    };
    let profile = Profile::by_name(name).map_err(ChainError::UnknownProfile)?;
    let mut step = Step::new(profile);
    for switch in switches.into_iter().flat_map(|s| s.split(',')) {
        let switch = switch.trim();
        let bad = |reason: String| ChainError::BadRuleSwitch {
            step: text.into(),
            reason,
        };
        let (on, id) = match switch.split_at_checked(1) {
            Some(("+", id)) => (true, id),
            Some(("-", id)) => (false, id),
            _ => {
                return Err(bad(alloc::format!(
                    "`{switch}`: a switch is +rule or -rule"
                )));
            }
        };
        let rule: Rule = id
            .parse()
            .map_err(|_| bad(alloc::format!("`{id}` is not a rule id")))?;
        if !rule.id().starts_with(profile.engine.rule_prefix()) {
            return Err(bad(alloc::format!(
                "rule `{id}` belongs to another engine than {} ({})",
                profile.name,
                profile.engine.model()
            )));
        }
        step.rules = if on {
            step.rules.with(rule)
        } else {
            step.rules.without(rule)
        };
    }
    Ok(step)
}
