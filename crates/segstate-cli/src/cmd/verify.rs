//! `segstate verify`: exhaustive round trips through chains of profiles.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::{Value, json};

use super::{Failure, Outcome, print_json};
use crate::table::Table;
use segstate::profile::Chain;
use segstate::verify::{self, ChainReport, Counterexample, Property};

/// Verify chains of profiles over the whole attribute space.
///
/// A chain is the path a vCPU state takes, written as profiles separated by `>`:
/// `kvm-svm > qemu > kvm-svm` starts in an AMD VMCB, goes through KVM_GET_SREGS,
/// QEMU's get_seg and set_seg, and KVM_SET_SREGS back into a VMCB. Every attribute
/// combination of every segment register, every RPL, every CPL a VMCB can pair with
/// SS, and garbage kvm_segment bytes are pushed through it, and each state is checked:
/// CPL preserved (an escalation is a more privileged CPL), attributes preserved up to
/// the chain's documented normalisation, a second trip changes nothing, and for chains
/// into a VMCS, Intel's VM-entry checks accept what a consistent source produced.
///
/// Rules can be switched per step to see what a fixup is for:
/// `kvm-svm[-svm.get.data-accessed] > qemu > kvm-vmx`.
///
/// Counterexamples are shown worst first: the largest privilege gained (CPL 3 -> 0
/// before CPL 1 -> 0).
///
/// Exit status: 0 when every chain keeps the CPL; 1 when a chain made only of today's
/// profiles escalates privilege (a finding about current code: the default run of the
/// built-in chains ends so, because `illumos-bhyve-svm > propolis > illumos-bhyve-svm`
/// loses the CPL of an unusable SS); 3 when only chains with historical or never-merged
/// profiles change the CPL (the documented bugs, reproduced); 2 for a chain that does
/// not parse.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  segstate verify\n  segstate verify --chain 'kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11'\n  segstate verify --chain 'kvm-svm[-svm.get.tr-busy] > qemu > kvm-vmx' --counterexamples 3\n  segstate verify --json"
)]
pub struct Args {
    /// A chain to verify (repeatable). Default: every built-in chain.
    #[arg(long = "chain", value_name = "SPEC")]
    chains: Vec<String>,
    /// Counterexamples to print per violated property.
    #[arg(long, default_value_t = 1, value_name = "N")]
    counterexamples: usize,
    /// Threads to verify on (0: one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Parses chain texts, or returns the built-ins.
pub fn chains_or_builtin(specs: &[String]) -> Result<Vec<Chain>, Failure> {
    if specs.is_empty() {
        return Ok(segstate::profile::builtin_chains());
    }
    specs
        .iter()
        .map(|s| {
            s.parse::<Chain>()
                .map_err(|e| Failure::input(format!("--chain '{s}': {e}")))
        })
        .collect()
}

/// A one-phrase verdict for a chain.
pub fn verdict(r: &ChainReport) -> &'static str {
    if r.is_sound() {
        "sound"
    } else if r.escalations() > 0 {
        "ESCALATES"
    } else if !r.keeps_cpl() {
        "changes CPL"
    } else if r.violations(Property::VmxEntryRejected) > 0 {
        "VM entry fails"
    } else if r.violations(Property::AttributeLoss) > 0 {
        "keeps CPL, loses attributes"
    } else {
        "not idempotent"
    }
}

/// The exit status of a run whose only CPL changes are through historical chains.
pub const HISTORICAL_CPL_CHANGE: u8 = 3;

/// The counterexamples of `p`, worst first (most privilege gained, then the higher
/// CPL before), at most `n`.
pub fn worst_first(r: &ChainReport, p: Property, n: usize) -> Vec<&Counterexample> {
    let mut list: Vec<&Counterexample> = r
        .counterexamples
        .iter()
        .filter(|c| c.property == p)
        .collect();
    list.sort_by_key(|c| {
        let gain = i16::from(c.cpl_before.bits()) - i16::from(c.cpl_after.bits());
        (
            std::cmp::Reverse(gain),
            std::cmp::Reverse(c.cpl_before.bits()),
        )
    });
    list.truncate(n);
    list
}

pub fn report_json(r: &ChainReport, counterexamples: usize) -> Value {
    let violations: serde_json::Map<String, Value> = Property::ALL
        .iter()
        .map(|p| (p.name().to_string(), json!(r.violations(*p))))
        .collect();
    let examples: Vec<Value> = Property::ALL
        .iter()
        .flat_map(|p| worst_first(r, *p, counterexamples))
        .map(|c| {
            json!({
                "property": c.property.name(), "register": c.reg.name(),
                "before": verify::show(&c.before), "after": verify::show(&c.after),
                "cpl_before": c.cpl_before.bits(), "cpl_after": c.cpl_after.bits(),
                "responsible_rules": c.responsible.iter().map(|r| r.id()).collect::<Vec<_>>(), "detail": c.detail,
            })
        })
        .collect();
    json!({
        "chain": r.chain.to_string(),
        "about": segstate::profile::builtin_about(&r.chain),
        "current": r.chain.is_current(),
        "source": r.chain.source().to_string(),
        "destination": r.chain.destination().to_string(),
        "states": r.states,
        "states_executed": r.executed,
        "garbage_states": r.garbage_states,
        "violations": violations,
        "verdict": verdict(r),
        "counterexamples": examples,
    })
}

/// The summary table both `verify` and `audit` print.
pub fn summary_table(reports: &[ChainReport]) -> String {
    let mut t = Table::new(&[
        "chain",
        "states",
        "executed",
        "escalations",
        "cpl changed",
        "attr loss",
        "not idempotent",
        "vmx entry",
        "verdict",
    ]);
    for r in reports {
        t.row(vec![
            r.chain.to_string(),
            r.states.to_string(),
            r.executed.to_string(),
            r.violations(Property::Escalation).to_string(),
            r.violations(Property::CplChanged).to_string(),
            r.violations(Property::AttributeLoss).to_string(),
            r.violations(Property::NotIdempotent).to_string(),
            r.violations(Property::VmxEntryRejected).to_string(),
            verdict(r).to_string(),
        ]);
    }
    t.render(2)
}

pub fn run(args: &Args) -> Outcome {
    let chains = chains_or_builtin(&args.chains)?;
    let start = Instant::now();
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let what = format!("verifying {} chain(s) on {threads} thread(s)", chains.len());
    let reports = crate::progress::while_running(!args.json, &what, || {
        if threads == 1 {
            verify::verify_all(&chains)
        } else {
            verify::verify_all_parallel(&chains, threads)
        }
    });
    let elapsed = start.elapsed();
    let states: u64 = reports.iter().map(|r| r.states).sum();
    let executed: u64 = reports.iter().map(|r| r.executed).sum();
    let current_unsound = reports
        .iter()
        .filter(|r| r.chain.is_current() && r.escalations() > 0)
        .count();
    let cpl_changing = reports.iter().filter(|r| !r.keeps_cpl()).count();
    if args.json {
        print_json(&json!({
            "states": states,
            "states_executed": executed,
            "seconds": elapsed.as_secs_f64(),
            "threads": threads,
            "chains": reports.iter().map(|r| report_json(r, args.counterexamples)).collect::<Vec<_>>(),
        }));
    } else {
        outln!(
            "Verified {} chain(s), {states} states ({executed} executed: states a chain cannot tell apart run once), in {:.0} ms on {threads} thread(s).\n",
            reports.len(),
            elapsed.as_secs_f64() * 1000.0
        );
        out!("{}", summary_table(&reports));
        for r in reports.iter().filter(|r| !r.is_sound()) {
            outln!(
                "\n{}{}",
                r.chain,
                segstate::profile::builtin_about(&r.chain)
                    .map(|a| format!("  ({a})"))
                    .unwrap_or_default()
            );
            for p in Property::ALL {
                for c in worst_first(r, p, args.counterexamples) {
                    let rule = match c.responsible.as_slice() {
                        [] => String::from("no rule set found responsible"),
                        [one] => format!("rule {}", one.id()),
                        many => format!(
                            "rules {}, removed together",
                            many.iter().map(|r| r.id()).collect::<Vec<_>>().join(" + ")
                        ),
                    };
                    outln!("  {} on {}: {}  [{rule}]", p.name(), c.reg, c.detail);
                    outln!("    before: {}", verify::show(&c.before));
                    outln!("    after:  {}", verify::show(&c.after));
                }
            }
        }
        if current_unsound > 0 {
            outln!("\n{current_unsound} chain(s) of today's profiles escalate privilege.");
        } else if cpl_changing > 0 {
            outln!(
                "\n{cpl_changing} chain(s) change the CPL, none made only of today's profiles (exit {HISTORICAL_CPL_CHANGE})."
            );
        }
    }
    Ok(if current_unsound > 0 {
        ExitCode::from(1)
    } else if cpl_changing > 0 {
        ExitCode::from(HISTORICAL_CPL_CHANGE)
    } else {
        ExitCode::SUCCESS
    })
}
