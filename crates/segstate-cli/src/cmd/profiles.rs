//! `segstate profiles`: the named cooking profiles and their rules.

use std::process::ExitCode;

use serde_json::json;

use super::{Outcome, print_json};
use crate::table::Table;
use segstate::profile::{Profile, Rule};

/// List the cooking profiles: KVM SVM/VMX, QEMU, pass-through VMMs, and the other stacks
/// that move segments (Xen, bhyve, illumos + propolis, VirtualBox, crosvm, MSHV, openvmm,
/// Bochs, nested KVM).
///
/// Each profile is named after the last release that behaved that way: `kvm-svm` is
/// today's KVM on AMD, `kvm-svm@4.11` is Linux 3.16 to 4.11. A profile is a set of
/// named rules; `--rules` lists them with their kind, what they do, and the upstream
/// commit. Switch a rule off in a chain with `profile[-rule]`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  segstate profiles\n  segstate profiles --rules\n  segstate profiles --json | jq '.profiles[].name'"
)]
pub struct Args {
    /// Also list every rule.
    #[arg(long)]
    rules: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Outcome {
    if args.json {
        let profiles: Vec<_> = Profile::ALL
            .iter()
            .map(|p| {
                json!({
                    "name": p.name, "engine": p.engine.model(), "releases": p.releases,
                    "summary": p.summary,
                    "rules": p.rules.iter().map(Rule::id).collect::<Vec<_>>(),
                })
            })
            .collect();
        let rules: Vec<_> = Rule::ALL
            .iter()
            .map(|r| {
                json!({
                    "id": r.id(), "kind": r.kind().to_string(), "summary": r.summary(),
                    "when_off": r.when_off(), "upstream": r.upstream(),
                })
            })
            .collect();
        print_json(&json!({"profiles": profiles, "rules": rules}));
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["profile", "releases", "what it does"]);
    for p in Profile::ALL {
        t.row(vec![p.name.into(), p.releases.into(), p.summary.into()]);
    }
    out!("{}", t.render(0));
    if args.rules {
        outln!();
        for r in Rule::ALL {
            let holders: Vec<&str> = Profile::ALL
                .iter()
                .filter(|p| p.rules.has(*r))
                .map(|p| p.name)
                .collect();
            outln!("{}  [{}]  in: {}", r.id(), r.kind(), holders.join(", "));
            outln!("    {}", r.summary());
            outln!("    off: {}", r.when_off());
            outln!("    upstream: {}", r.upstream());
        }
    } else {
        outln!(
            "\n{} rules; `segstate profiles --rules` lists them.",
            Rule::ALL.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
