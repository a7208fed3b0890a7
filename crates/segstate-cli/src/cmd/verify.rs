//! `segstate verify`: exhaustive round trips through chains of profiles.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::{Value, json};

use super::{Failure, Outcome, print_json};
use crate::table::Table;
use segstate::profile::Chain;
use segstate::verify::{self, ChainReport, Property};

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
/// Exit status: 0 when no chain made only of today's profiles escalates privilege, 1
/// when one does (a finding about current code), 2 for a chain that does not parse.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  segstate verify\n  segstate verify --chain 'kvm-svm@4.12 > qemu@2.9 > kvm-svm@4.12'\n  segstate verify --chain 'kvm-svm[-svm.get.tr-busy] > qemu > kvm-vmx' --counterexamples 3\n  segstate verify --json"
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
        return Ok(verify::builtin_chains());
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

pub fn report_json(r: &ChainReport, counterexamples: usize) -> Value {
    let violations: serde_json::Map<String, Value> = Property::ALL
        .iter()
        .map(|p| (p.name().to_string(), json!(r.violations(*p))))
        .collect();
    let examples: Vec<Value> = Property::ALL
        .iter()
        .flat_map(|p| {
            r.counterexamples
                .iter()
                .filter(move |c| c.property == *p)
                .take(counterexamples)
        })
        .map(|c| {
            json!({
                "property": c.property.name(), "register": c.reg.name(),
                "before": verify::show(&c.before), "after": verify::show(&c.after),
                "cpl_before": c.cpl_before.bits(), "cpl_after": c.cpl_after.bits(),
                "responsible_rule": c.responsible.map(|r| r.id()), "detail": c.detail,
            })
        })
        .collect();
    json!({
        "chain": r.chain.to_string(),
        "about": verify::builtin_about(&r.chain),
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
    let reports = if threads == 1 {
        verify::verify_all(&chains)
    } else {
        verify::verify_all_parallel(&chains, threads)
    };
    let elapsed = start.elapsed();
    let states: u64 = reports.iter().map(|r| r.states).sum();
    let executed: u64 = reports.iter().map(|r| r.executed).sum();
    let current_unsound = reports
        .iter()
        .filter(|r| r.chain.is_current() && r.escalations() > 0)
        .count();
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
                verify::builtin_about(&r.chain)
                    .map(|a| format!("  ({a})"))
                    .unwrap_or_default()
            );
            for p in Property::ALL {
                for c in r
                    .counterexamples
                    .iter()
                    .filter(|c| c.property == p)
                    .take(args.counterexamples)
                {
                    let rule = c
                        .responsible
                        .map(|r| format!("rule {}", r.id()))
                        .unwrap_or_else(|| "no single rule".into());
                    outln!("  {} on {}: {}  [{rule}]", p.name(), c.reg, c.detail);
                    outln!("    before: {}", verify::show(&c.before));
                    outln!("    after:  {}", verify::show(&c.after));
                }
            }
        }
        if current_unsound > 0 {
            outln!("\n{current_unsound} chain(s) of today's profiles escalate privilege.");
        }
    }
    Ok(if current_unsound > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
