//! `bochs-oracle [--target vmx|svm] [--count N] [--seed S] [--batch B] [--doc PATH]`
//!
//! Runs generated guest states through Bochs and segstate, prints progress and each
//! unexplained disagreement (minimised) on stderr, and ends with one line:
//! `bochs-oracle: N compared, A agree, D disagree (E explained, U unexplained)`.
//! Exit status 1 on any unexplained disagreement, 2 when the run itself fails.

use std::path::PathBuf;
use std::process::ExitCode;

use bochs_oracle::bochs::Machine;
use bochs_oracle::case::{Oracle, Target};
use bochs_oracle::compare::{self, Summary};
use bochs_oracle::conformance;
use bochs_oracle::error::OracleError;
use bochs_oracle::kvm::SregsProbe;
use bochs_oracle::verdict;

const USAGE: &str = "bochs-oracle [--target vmx|svm] [--count N] [--seed S] [--batch B] [--doc PATH] [--minimise K]";

/// The most states one Bochs boot (or one round of ioctls) takes.
const MAX_BATCH: u64 = 200_000;

#[derive(Debug)]
struct Args {
    target: Target,
    count: u64,
    seed: u64,
    batch: u64,
    doc: PathBuf,
    minimise: usize,
}

fn number(flag: &str, value: Option<String>) -> Result<u64, OracleError> {
    let v = value.ok_or_else(|| OracleError::Usage(format!("{flag} needs a value; {USAGE}")))?;
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.replace('_', "").parse(),
    };
    parsed.map_err(|e| OracleError::Usage(format!("{flag} {v:?}: {e}")))
}

fn parse_args() -> Result<Args, OracleError> {
    let mut a = Args {
        target: Target::Vmx,
        count: 2000,
        seed: 1,
        batch: 20_000,
        doc: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/conformance/bochs.md"),
        minimise: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--target" => {
                a.target = it
                    .next()
                    .ok_or_else(|| OracleError::Usage(USAGE.into()))?
                    .parse()?;
            }
            "--count" => a.count = number("--count", it.next())?,
            "--seed" => a.seed = number("--seed", it.next())?,
            "--batch" => {
                a.batch = number("--batch", it.next())?;
                // A batch is one disk image (256 bytes a state) and one Bochs output
                // held in memory: keep both to tens of MiB.
                if !(1..=MAX_BATCH).contains(&a.batch) {
                    return Err(OracleError::Usage(format!(
                        "--batch {}: between 1 and {MAX_BATCH}",
                        a.batch
                    )));
                }
            }
            "--minimise" => a.minimise = number("--minimise", it.next())? as usize,
            "--doc" => {
                a.doc = it
                    .next()
                    .ok_or_else(|| OracleError::Usage(USAGE.into()))?
                    .into();
            }
            "-h" | "--help" => return Err(OracleError::Usage(USAGE.into())),
            other => {
                return Err(OracleError::Usage(format!(
                    "unknown argument {other:?}; {USAGE}"
                )));
            }
        }
    }
    Ok(a)
}

fn report(args: &Args, machine: &dyn Oracle, s: &Summary) -> Result<(), OracleError> {
    let catalogue = verdict::catalogue(args.target);
    let reached: Vec<&str> = catalogue
        .iter()
        .copied()
        .filter(|r| s.reached.contains(r))
        .collect();
    let secs = s.bochs_time.as_secs_f64();
    eprintln!(
        "{} states through {} in {} runs, {secs:.1} s in it: {:.0} states/s",
        s.compared,
        if matches!(args.target, Target::KvmSetSregs(_)) {
            "KVM_SET_SREGS"
        } else {
            "Bochs"
        },
        s.boots,
        s.compared as f64 / secs.max(1e-9)
    );
    let family = verdict::family(args.target);
    let alone = family
        .iter()
        .filter(|r| s.reached_alone.contains(*r))
        .count();
    eprintln!(
        "rules reached: {alone} of {} {} rules failed alone in the oracle (their failing \
         vector); {} of {} catalogue rules (with arch) fired on a refused state",
        family.len(),
        args.target,
        reached.len(),
        catalogue.len()
    );
    let missing: Vec<&str> = family
        .iter()
        .copied()
        .filter(|r| !s.reached_alone.contains(r))
        .chain(catalogue.iter().copied().filter(|r| !s.reached.contains(r)))
        .collect();
    if !missing.is_empty() {
        eprintln!("  not reached: {}", missing.join(", "));
    }
    for (sig, n) in &s.signatures {
        eprintln!("  {n:>8}  {sig}");
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &s.unexplained {
        if !seen.insert(d.signature()) || seen.len() > args.minimise {
            continue;
        }
        eprintln!(
            "\nunexplained: {} (case {} of seed {})",
            d.signature(),
            d.index,
            args.seed
        );
        let (min, base, outcome) = compare::minimise(machine, args.target, d)?;
        let v = verdict::verdict(args.target, &min);
        eprintln!(
            "  minimal: {} {} ({}), segstate {}",
            if matches!(args.target, Target::KvmSetSregs(_)) {
                "host"
            } else {
                "Bochs"
            },
            if outcome.accepted {
                "accepts"
            } else {
                "rejects"
            },
            outcome.log.first().map_or("no log line", String::as_str),
            if v.accepted {
                "accepts".to_string()
            } else {
                v.fired.iter().map(|f| f.id).collect::<Vec<_>>().join(", ")
            }
        );
        eprintln!(
            "    from the valid {} state (bochs-oracle::generate):",
            bochs_oracle::generate::valid_state_name(args.target, &base)
        );
        for line in compare::describe(&min, &base) {
            eprintln!("    {line}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bochs-oracle: {e}");
            return ExitCode::from(2);
        }
    };
    let result = (|| {
        let table = conformance::load(&args.doc)?;
        let (machine, target): (Box<dyn Oracle>, Target) = match args.target {
            Target::KvmSetSregs(_) => {
                let probe = SregsProbe::new()?;
                eprintln!(
                    "bochs-oracle: {}; the vCPU's CPUID allows CR4 bits {:#x}",
                    probe.host, probe.cr4.0
                );
                let target = Target::KvmSetSregs(probe.cr4);
                (Box::new(probe), target)
            }
            t => (Box::new(Machine::new(t, &std::env::temp_dir())?), t),
        };
        let args = Args { target, ..args };
        let count = args.count;
        let summary = compare::run(
            machine.as_ref(),
            args.target,
            args.seed,
            count,
            args.batch,
            &table,
            |s| {
                eprintln!(
                    "bochs-oracle: {}: {}/{count} states, {} disagree ({} unexplained)",
                    args.target,
                    s.compared,
                    s.disagree(),
                    s.unexplained_count
                );
            },
        )?;
        report(&args, machine.as_ref(), &summary)?;
        Ok::<Summary, OracleError>(summary)
    })();
    match result {
        Ok(s) => {
            println!(
                "bochs-oracle: {} compared, {} agree, {} disagree ({} explained, {} unexplained)",
                s.compared,
                s.agree,
                s.disagree(),
                s.explained,
                s.unexplained_count
            );
            if s.unexplained_count == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("bochs-oracle: {e}");
            ExitCode::from(2)
        }
    }
}
