//! `segstate audit`: the main job. Model verification of every built-in chain, then
//! every scenario × chain live on this host's /dev/kvm.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Failure, Outcome, flags, print_json};
use crate::outln_each;
use crate::table::Table;
use segstate::profile::Chain;
use segstate::verify;
use segstate_kvm::{
    ChainSync, LIVE_CHAINS, RunOptions, ScenarioKind, ScenarioOutcome, Verdict, kvm_available,
    observe_host, run_scenario,
};

/// Audit this host: does privilege survive a state sync, a snapshot and a restore?
///
/// First the model: every built-in chain (of KVM and QEMU profiles, and of the other
/// stacks') is verified over the whole attribute space (see `segstate verify`). Then
/// the live part: a tiny 64-bit guest runs on /dev/kvm, pauses in user mode with an
/// unusable SS (the state AMD's SYSRET leaves), and its special registers go through
/// each chain as a VMM would sync them; the guest then runs a privileged instruction.
/// PASS means it raised #GP (CPL 3 kept); ESCALATED means it ran (CPL 0); CORRUPTED
/// means another fault or a refused state; HUNG means the watchdog stopped it.
///
/// Exit status: 0 when this host keeps privilege through the verbatim and fixed chains
/// and the model finds no escalation through today's KVM, QEMU and pass-through profiles
/// (another stack's escalation is listed apart as its defect and does not count); 1
/// otherwise; 2 for bad arguments.
/// Without /dev/kvm the live part is skipped with a line saying so (exit 1 instead when
/// SEGSTATE_REQUIRE_KVM=1).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  segstate audit\n  segstate audit --no-live\n  segstate audit --scenario null-ss-user --chain 'qemu@2.9' --chain qemu\n  segstate audit --json > audit.json"
)]
pub struct Args {
    /// Model verification only; do not touch /dev/kvm.
    #[arg(long)]
    no_live: bool,
    /// A live scenario to run (repeatable; default all): null-ss-user, sysret,
    /// interrupt-return, snapshot-restore, sync-storm.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// A chain to run live (repeatable; default the audit set).
    #[arg(long = "chain", value_name = "SPEC")]
    chains: Vec<String>,
    /// Watchdog bound on each KVM_RUN, in seconds (more than 0, at most 3600).
    #[arg(long, default_value = "2", value_name = "SECONDS", allow_negative_numbers = true, value_parser = flags::timeout)]
    timeout: Duration,
    /// Pause/sync/resume cycles in sync-storm (at least 1).
    #[arg(long, default_value_t = 10_000, value_name = "N", allow_negative_numbers = true, value_parser = flags::at_least_one::<u32>)]
    storm_cycles: u32,
    /// Live runs at once, each in its own VM (at least 1).
    #[arg(long, default_value_t = 2, value_name = "N", allow_negative_numbers = true, value_parser = flags::at_least_one::<usize>)]
    jobs: usize,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

struct LiveRun {
    chain: Chain,
    outcome: ScenarioOutcome,
}

/// One line of progress on a terminal, rewritten in place; nothing when stderr is a
/// file or a pipe (CI logs) or when the output is JSON.
fn progress(json: bool, msg: &str) {
    use std::io::IsTerminal;
    let stderr = std::io::stderr();
    if !json && stderr.is_terminal() {
        eprint!("\r\x1b[2K{msg}");
        let _ = stderr.lock().flush();
    }
}

fn run_live(
    chains: &[Chain],
    scenarios: &[ScenarioKind],
    opts: &RunOptions,
    jobs: usize,
    quiet: bool,
) -> Vec<LiveRun> {
    // Longest first, so the two workers finish together: the storms take ~100 times
    // longer than the single-sync scenarios.
    let mut work: Vec<(usize, ScenarioKind)> = (0..chains.len())
        .flat_map(|c| scenarios.iter().map(move |s| (c, *s)))
        .collect();
    work.sort_by_key(|&(c, kind)| (kind != ScenarioKind::SyncStorm, c));
    // The next work item to take: each worker claims one index at a time.
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<LiveRun>>> = Mutex::new((0..work.len()).map(|_| None).collect());
    let total = work.len();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(c, kind)) = work.get(i) else { break };
                    progress(
                        quiet,
                        &format!("live {}/{total}: {} / {kind}", i + 1, chains[c]),
                    );
                    // Each run gets its own sync, so a VMM's memory never leaks across runs.
                    let sync = ChainSync::new(chains[c].clone());
                    let outcome = run_scenario(kind, &sync, opts);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(LiveRun {
                        chain: chains[c].clone(),
                        outcome,
                    });
                }
            });
        }
    });
    progress(quiet, "");
    // Back to chain-major order for the report.
    let mut done: Vec<((usize, usize), LiveRun)> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(&work)
        .filter_map(|(run, &(c, kind))| {
            let s = scenarios.iter().position(|k| *k == kind).unwrap_or(0);
            run.map(|r| ((c, s), r))
        })
        .collect();
    done.sort_by_key(|(key, _)| *key);
    done.into_iter().map(|(_, r)| r).collect()
}

/// A chain of KVM and the VMMs on its UAPI: the stack this host runs.
fn on_kvm_stack(chain: &Chain) -> bool {
    chain
        .steps()
        .iter()
        .all(|s| s.profile.engine.is_kvm_stack())
}

/// A chain this host must keep privilege through: today's profiles or pass-through.
fn must_keep(chain: &Chain) -> bool {
    chain.is_current()
}

pub fn run(args: &Args) -> Outcome {
    let start = Instant::now();
    let scenarios: Vec<ScenarioKind> = if args.scenarios.is_empty() {
        ScenarioKind::ALL.to_vec()
    } else {
        args.scenarios
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| Failure::input(format!("--scenario: {e}")))
            })
            .collect::<Result<_, _>>()?
    };
    let live_specs: Vec<String> = if args.chains.is_empty() {
        LIVE_CHAINS.iter().map(|s| (*s).to_string()).collect()
    } else {
        args.chains.clone()
    };
    let live_chains: Vec<Chain> = live_specs
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|e| Failure::input(format!("--chain '{s}': {e}")))
        })
        .collect::<Result<_, _>>()?;

    // 1. The model, on its own thread while the live part runs.
    progress(args.json, "verifying the built-in chains…");
    let model = std::thread::spawn(|| {
        let model_start = Instant::now();
        let reports = verify::verify_all(&segstate::profile::builtin_chains());
        (reports, model_start.elapsed())
    });

    // 2. Live.
    let require_kvm = std::env::var("SEGSTATE_REQUIRE_KVM").as_deref() == Ok("1");
    let opts = RunOptions {
        timeout: args.timeout,
        storm_cycles: args.storm_cycles,
        ..RunOptions::default()
    };
    let mut live_note = String::new();
    let mut host = None;
    let mut observations = Vec::new();
    let mut runs = Vec::new();
    let live_start = Instant::now();
    if args.no_live {
        live_note = "live part skipped (--no-live)".into();
    } else {
        match kvm_available() {
            Err(e) => live_note = format!("no usable /dev/kvm ({e}): live part skipped"),
            Ok(info) => {
                progress(args.json, "measuring host behaviour…");
                observations = observe_host(&opts);
                host = Some(info);
                runs = run_live(&live_chains, &scenarios, &opts, args.jobs, args.json);
            }
        }
    }
    let live_time = live_start.elapsed();
    let (reports, model_time) = model
        .join()
        .map_err(|_| Failure::failed("model verification panicked"))?;
    let model_states: u64 = reports.iter().map(|r| r.states).sum();
    let model_executed: u64 = reports.iter().map(|r| r.executed).sum();
    // Today's KVM and QEMU profiles must never make the CPL more privileged anywhere in
    // the domain; today's other stacks that do are their defects, listed apart.
    let escalating = |host_stack: bool| -> Vec<String> {
        reports
            .iter()
            .filter(|r| r.chain.is_current() && r.escalations() > 0)
            .filter(|r| on_kvm_stack(&r.chain) == host_stack)
            .map(|r| r.chain.to_string())
            .collect()
    };
    let model_unsound = escalating(true);
    let peer_unsound = escalating(false);

    let live_failures: Vec<String> = runs
        .iter()
        .filter(|r| must_keep(&r.chain) && r.outcome.verdict != Verdict::Pass)
        .map(|r| format!("{} / {}: {}", r.chain, r.outcome.kind, r.outcome.verdict))
        .collect();
    let kvm_missing_but_required = host.is_none() && !args.no_live && require_kvm;
    let ok = model_unsound.is_empty() && live_failures.is_empty() && !kvm_missing_but_required;

    if args.json {
        let live_runs: Vec<Value> = runs
            .iter()
            .map(|r| {
                json!({
                    "chain": r.chain.to_string(), "scenario": r.outcome.kind.name(),
                    "verdict": r.outcome.verdict.label(), "detail": r.outcome.detail,
                    "must_keep_privilege": must_keep(&r.chain), "syncs": r.outcome.syncs,
                    "seconds": (r.outcome.setup + r.outcome.run).as_secs_f64(),
                    "pauses": r.outcome.pauses.iter().map(|p| json!({
                        "at": p.at, "cs": p.cs.to_string(),
                        "ss_reported": p.ss_reported.to_string(), "ss_synced": p.ss_synced.to_string(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        print_json(&json!({
            "ok": ok,
            "peer_stacks_escalating": peer_unsound,
            "model": {
                "states": model_states, "states_executed": model_executed,
                "seconds": model_time.as_secs_f64(),
                "unsound_current_chains": model_unsound,
                "chains": reports.iter().map(|r| super::verify::report_json(r, 1)).collect::<Vec<_>>(),
            },
            "live": {
                "ran": host.is_some(), "note": live_note,
                "host": host.as_ref().map(|h| json!({
                    "api_version": h.api_version, "backend": h.backend(), "cpu_vendor": h.cpu_vendor,
                    "immediate_exit": h.immediate_exit,
                })),
                "observations": observations.iter().map(|o| json!({
                    "name": o.name, "value": o.value, "explanation": o.explanation,
                })).collect::<Vec<_>>(),
                "seconds": live_time.as_secs_f64(),
                "runs": live_runs,
                "failures": live_failures,
            },
            "seconds": start.elapsed().as_secs_f64(),
        }));
    } else {
        outln!("segstate audit\n");
        outln!(
            "Model: {} built-in chains, {model_states} states verified ({model_executed} executed) in {:.0} ms",
            reports.len(),
            model_time.as_secs_f64() * 1000.0
        );
        let mut t = Table::new(&["chain", "escalations", "verdict", "models"]);
        for r in &reports {
            t.row(vec![
                r.chain.to_string(),
                r.escalations().to_string(),
                super::verify::verdict(r).to_string(),
                segstate::profile::builtin_about(&r.chain)
                    .unwrap_or("")
                    .to_string(),
            ]);
        }
        out!("{}", t.render(2));
        for c in &peer_unsound {
            outln!(
                "  another stack's defect (not this host's): {c} escalates privilege; see docs/findings/"
            );
        }
        outln!();
        match &host {
            None => outln!("Live: {live_note}"),
            Some(info) => {
                outln!(
                    "Live on this host: {info}; watchdog {:.1} s per KVM_RUN; {:.1} s",
                    args.timeout.as_secs_f64(),
                    live_time.as_secs_f64()
                );
                let mut header = vec!["chain"];
                header.extend(scenarios.iter().map(|s| s.name()));
                let mut t = Table::new(&header);
                for chain in &live_chains {
                    let mut row = vec![format!(
                        "{}{}",
                        chain,
                        if must_keep(chain) {
                            ""
                        } else {
                            "  (historical)"
                        }
                    )];
                    for kind in &scenarios {
                        let cell = runs
                            .iter()
                            .find(|r| &r.chain == chain && r.outcome.kind == *kind)
                            .map(|r| r.outcome.verdict.label().to_string())
                            .unwrap_or_else(|| "-".into());
                        row.push(cell);
                    }
                    t.row(row);
                }
                out!("{}", t.render(2));
                let odd: Vec<&LiveRun> = runs
                    .iter()
                    .filter(|r| {
                        matches!(
                            r.outcome.verdict,
                            Verdict::Corrupted { .. } | Verdict::Hung { .. }
                        )
                    })
                    .collect();
                for r in odd {
                    outln!("  {} / {}: {}", r.chain, r.outcome.kind, r.outcome.verdict);
                }
                outln!("\nHost observations:");
                for o in &observations {
                    outln!("  {:<22} {}", o.name, o.value);
                    outln!("  {:<22} {}", "", o.explanation);
                }
            }
        }
        outln!();
        if ok {
            outln!(
                "Verdict: privilege is kept by today's profiles in the model{}.",
                if host.is_some() {
                    " and by the verbatim and fixed chains on this host"
                } else {
                    ""
                }
            );
        } else {
            outln!("Verdict: privilege is NOT kept:");
            outln_each(
                "model: ",
                model_unsound
                    .iter()
                    .map(|c| format!("{c} escalates privilege")),
            );
            outln_each("live: ", &live_failures);
            if kvm_missing_but_required {
                outln!("  live: SEGSTATE_REQUIRE_KVM=1 but {live_note}");
            }
        }
        outln!("({:.1} s)", start.elapsed().as_secs_f64());
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
