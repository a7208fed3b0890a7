//! Rust vs C per conversion in one run: best of N timing loops of ~1M conversions
//! each, a row's implementations timed in interleaved loops, ns per conversion and the
//! ratio Rust/C; then the wall time of `verify_all(builtin_chains())` on this thread,
//! and what each part of it costs: a domain per source format, each chain, and
//! compiling a chain of a new shape and a segment through its tables.
//!
//! `cargo run --release -p segstate-bench --bin ratios [-- ROUNDS
//! [pairs|chains|entries|verify] [ROW]]`: with ROW, only that row, a chain
//! (`'kvm-svm > qemu > kvm-svm'`) or a conversion (`'kvm->vmx strict'`), for `perf
//! record` or callgrind of one row. `ratios --help` says the same; a bad argument, or a
//! ROW that names no row, is refused with the rows there are.

use std::hint::black_box;
use std::time::{Duration, Instant};

use segstate::profile::builtin_chains;
use segstate::profile::{Chain, Format, InFlight, SegmentValue};
use segstate::verify::{Workspace, verify_all};
use segstate_bench::cases::{self, Case, Run};
use segstate_bench::inputs::{self, BATCH};

const CONVERSIONS: usize = 1 << 20;

/// One loop of `CONVERSIONS` conversions through `run`.
fn timed_loop(run: &mut Run) -> Duration {
    let start = Instant::now();
    for _ in 0..CONVERSIONS.div_ceil(BATCH) {
        run();
    }
    start.elapsed()
}

/// Best ns per conversion of each of `runs` over `rounds` loops of `CONVERSIONS`
/// conversions, the loops interleaved: round r times one loop of every run before round
/// r + 1 starts. A shift in the machine's speed during the measurement (on a shared
/// host, another tenant on this core's sibling thread: on the AMD EPYC a whole table
/// sometimes runs at half speed for a while) then reaches every implementation of a
/// row alike, where timing them one after the other put it into their ratio.
fn best_ns(runs: &mut [&mut Run], rounds: usize) -> Vec<f64> {
    let batches = CONVERSIONS.div_ceil(BATCH);
    for run in runs.iter_mut() {
        for _ in 0..batches / 4 {
            run();
        }
    }
    let mut best = vec![Duration::MAX; runs.len()];
    for _ in 0..rounds {
        for (run, best) in runs.iter_mut().zip(&mut best) {
            *best = (*best).min(timed_loop(run));
        }
    }
    best.iter()
        .map(|b| b.as_nanos() as f64 / (batches * BATCH) as f64)
        .collect()
}

fn table(title: &str, list: Vec<Case>, rounds: usize) {
    println!("\n{title}");
    let chain = list.first().is_some_and(|c| c.chain);
    if chain {
        let mut head = format!("| {:<42} |", "chain");
        let mut rule = format!("|{:-<44}|", "");
        for (name, width) in CHAIN_COLUMNS {
            head += &format!(" {name:>width$} |");
            rule += &format!("{:->1$}|", "", width + 2);
        }
        println!("{head}\n{rule}");
    } else {
        println!(
            "| {:<44} | {:>10} | {:>10} | {:>8} |",
            "conversion", "Rust ns", "C ns", "Rust/C"
        );
        println!("|{:-<46}|{:->12}|{:->12}|{:->10}|", "", "", "", "");
    }
    // Issue 13's goal for the chain APIs: each no slower than the plain C of the same
    // sync. Per API and the C it is read against, the rows measured above it (name,
    // ratio), for the summary: each API against the batch C, and `run_segment` also
    // against the C of its own contract (a tagged value in and out, the shape chosen at
    // run time: `segconv_contract_batch`).
    let mut above = [
        "run_segment vs batch C",
        "run vs batch C",
        "run_batch vs batch C",
        "run_segment vs C of its contract",
        "run_segment_into vs batch C",
        "run_segment_into vs C of its contract",
        "run_into vs batch C",
    ]
    .map(Count::new);
    let mut rows = 0;
    for mut case in list {
        let mut runs: Vec<&mut Run> = case.variants.iter_mut().map(|(_, run)| run).collect();
        let best = best_ns(&mut runs, rounds);
        let ns: Vec<(&str, f64)> = case
            .variants
            .iter()
            .map(|(name, _)| *name)
            .zip(best)
            .collect();
        let get = |n: &str| ns.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        let (r, c) = (
            get("rust").unwrap_or(f64::NAN),
            get("c").unwrap_or(f64::NAN),
        );
        if chain {
            let [
                into,
                w,
                w_into,
                b,
                k,
                d,
                f,
                one,
                typed,
                contract,
                c_contract,
            ] = [
                "rust-into",
                "rust-run",
                "rust-run-into",
                "rust-batch",
                "rust-batch-copy",
                "rust-direct",
                "rust-call-floor",
                "c-one",
                "rust-typed-one",
                "rust-contract",
                "c-contract",
            ]
            .map(|n| get(n).unwrap_or(f64::NAN));
            println!(
                "| {:<42} | {r:>7.2} | {w:>7.2} | {b:>7.2} | {k:>7.2} | {d:>7.2} | {f:>7.2} | {c:>7.2} | {one:>7.2} | {:>7.2} | {:>9.2} | {typed:>7.2} | {:>11.2} | {:>7.2} | {:>7.2} | {:>11.2} | {:>8.2} | {contract:>8.2} | {:>10.2} | {c_contract:>10.2} | {:>14.2} | {into:>7.2} | {:>7.2} | {:>15.2} | {w_into:>8.2} | {:>10.2} |",
                case.name,
                r / c,
                r / one,
                typed / one,
                w / c,
                b / c,
                (b - k) / c,
                d / c,
                contract / c,
                r / c_contract,
                into / c,
                into / c_contract,
                w_into / c
            );
            rows += 1;
            // Each API's time and the C it is read against.
            let measured = [
                (r, c),
                (w, c),
                (b, c),
                (r, c_contract),
                (into, c),
                (into, c_contract),
                (w_into, c),
            ];
            for (count, (api, reference)) in above.iter_mut().zip(measured) {
                count.add(&case.name, api, reference, c);
            }
        } else {
            println!(
                "| {:<44} | {r:>10.3} | {c:>10.3} | {:>8.2} |",
                case.name,
                r / c
            );
        }
    }
    if chain && rows > 0 {
        println!("\nat or below C (goal: every row):");
        for Count {
            api,
            counted,
            above: over,
            left_out,
        } in &above
        {
            let list: Vec<String> = over.iter().map(|(n, x)| format!("{n} {x:.2}")).collect();
            let rest = if list.is_empty() {
                String::new()
            } else {
                format!("; above: {}", list.join(", "))
            };
            println!("  {api}: {} of {counted}{rest}", counted - over.len());
            for (name, x) in left_out {
                println!(
                    "    (not counted: {name}, where that C runs {x:.2}x the batch C, a stall of its own)"
                );
            }
        }
    }
}

/// `Chain::run_segment` on each chain shape with today's profiles and with 2017's
/// (`cases::entry_chains`), timed interleaved: what a chain run through its pipeline's
/// entry pays beside one whose arm is inlined.
fn entries(list: Vec<Case>, rounds: usize) {
    println!(
        "\nChain::run_segment through an inlined arm (today's profiles) and through the pipeline's entry (2017's: kvm-svm@4.11, kvm-vmx@6.1, qemu@2.9), ns per segment"
    );
    println!("| {:<42} | {:>7} | {:>7} |", "chain", "today", "entry");
    println!("|{:-<44}|{:->9}|{:->9}|", "", "", "");
    for mut case in list {
        let mut runs: Vec<&mut Run> = case.variants.iter_mut().map(|(_, run)| run).collect();
        let best = best_ns(&mut runs, rounds);
        let ns = |name: &str| {
            case.variants
                .iter()
                .zip(&best)
                .find(|((n, _), _)| *n == name)
                .map_or(f64::NAN, |(_, ns)| *ns)
        };
        println!(
            "| {:<42} | {:>7.2} | {:>7.2} |",
            case.name,
            ns("today"),
            ns("entry")
        );
    }
}

/// The chain table's columns after the chain's name, with their widths (the row's
/// `println!` in `table` writes the values in this order).
const CHAIN_COLUMNS: [(&str, usize); 25] = [
    ("segment", 7),
    ("run", 7),
    ("batch", 7),
    ("copy", 7),
    ("direct", 7),
    ("floor", 7),
    ("C", 7),
    ("C one", 7),
    ("seg/C", 7),
    ("seg/C one", 9),
    ("typed", 7),
    ("typed/C one", 11),
    ("run/C", 7),
    ("batch/C", 7),
    ("(b-copy)/C", 11),
    ("direct/C", 8),
    ("contract", 8),
    ("contract/C", 10),
    ("C contract", 10),
    ("seg/C contract", 14),
    ("into", 7),
    ("into/C", 7),
    ("into/C contract", 15),
    ("run into", 8),
    ("run into/C", 10),
];

/// One API's count against one C reference, for `table`'s summary.
struct Count {
    /// The API and the C it is read against.
    api: &'static str,
    /// Rows counted.
    counted: usize,
    /// Those above the C (name, ratio).
    above: Vec<(String, f64)>,
    /// Rows where the reference runs far slower than the batch C of the same sync
    /// (name, that ratio): a stall of that C's own (gcc's code for the C contract on
    /// `kvm-svm > verbatim > kvm-svm`, `BENCHMARKS.md` §1 step 53), so the API read
    /// against it there is not a comparison. Named, not counted.
    left_out: Vec<(String, f64)>,
}

impl Count {
    fn new(api: &'static str) -> Count {
        Count {
            api,
            counted: 0,
            above: Vec::new(),
            left_out: Vec::new(),
        }
    }

    /// A row: the API's ns, the reference's, and the batch C's. A NaN (a variant
    /// missing) counts as above: not shown to meet the goal.
    fn add(&mut self, row: &str, api: f64, reference: f64, batch_c: f64) {
        if reference / batch_c > REFERENCE_STALL {
            self.left_out.push((row.to_owned(), reference / batch_c));
            return;
        }
        self.counted += 1;
        let ratio = api / reference;
        if ratio.is_nan() || ratio > 1.0 {
            self.above.push((row.to_owned(), ratio));
        }
    }
}

/// How much slower than the batch C a reference may run on a row and still be read
/// against: the C contract adds a format check and a jump to the same sync (0.1-0.5
/// ns a segment on the AMD EPYC), not a multiple of it. The batch C itself is 1.0.
const REFERENCE_STALL: f64 = 1.5;

/// `ratios`' arguments, for `--help` and for the message a bad one gets.
const USAGE: &str = "usage: ratios [ROUNDS [PART [ROW]]]

  ROUNDS  timing loops of ~1M conversions per cell, the best one kept (default 9)
  PART    pairs    each single conversion, Rust beside C
          chains   each built-in chain shape through every API, beside C
          entries  each chain shape with today's profiles and through its entry
          verify   verify_all(builtin_chains()) and what each part of it costs
          (default: all four)
  ROW     one row of PART by its name, for perf or callgrind of one row:
          'kvm-svm > qemu > kvm-svm' (chains, entries), 'kvm->vmx strict' (pairs)

Run pinned to one core, e.g. taskset -c 0 target/release/ratios 9 chains";

/// One part of `ratios`' output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Pairs,
    Chains,
    Entries,
    Verify,
}

impl Part {
    const ALL: [(&'static str, Part); 4] = [
        ("pairs", Part::Pairs),
        ("chains", Part::Chains),
        ("entries", Part::Entries),
        ("verify", Part::Verify),
    ];
}

/// What `ratios` was asked to run.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    rounds: usize,
    /// `None`: every part.
    part: Option<Part>,
    row: Option<String>,
}

impl Args {
    /// The arguments after the program's name: `Ok(None)` for `--help`, `Err` with what
    /// was wrong.
    fn parse(args: &[String]) -> Result<Option<Args>, String> {
        if args.iter().any(|a| a == "-h" || a == "--help") {
            return Ok(None);
        }
        if args.len() > 3 {
            return Err(format!(
                "ratios: {} arguments, at most 3 (ROUNDS PART ROW)",
                args.len()
            ));
        }
        let rounds = match args.first() {
            None => 9,
            Some(a) => match a.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "ratios: ROUNDS `{a}` is not a whole number above 0"
                    ));
                }
            },
        };
        let part = match args.get(1) {
            None => None,
            Some(a) => match Part::ALL.iter().find(|(name, _)| name == a) {
                Some(&(_, part)) => Some(part),
                None => {
                    return Err(format!(
                        "ratios: PART `{a}` is none of pairs, chains, entries, verify"
                    ));
                }
            },
        };
        let row = args.get(2).cloned();
        if row.is_some() && part == Some(Part::Verify) {
            return Err("ratios: verify has no rows to pick".to_owned());
        }
        Ok(Some(Args { rounds, part, row }))
    }

    fn runs(&self, part: Part) -> bool {
        self.part.is_none_or(|p| p == part)
    }

    /// The cases of `list` to run: all of them, or the one named ROW (`Err` naming
    /// the rows there are when none is).
    fn rows(&self, part: &str, list: Vec<Case>) -> Result<Vec<Case>, String> {
        let Some(row) = &self.row else {
            return Ok(list);
        };
        let names: Vec<String> = list.iter().map(|c| format!("'{}'", c.name)).collect();
        let picked: Vec<Case> = list.into_iter().filter(|c| &c.name == row).collect();
        if picked.is_empty() {
            return Err(format!(
                "ratios: no row `{row}` in {part}; its rows: {}",
                names.join(", ")
            ));
        }
        Ok(picked)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match Args::parse(&args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let rows = |part: &str, list: Vec<Case>| -> Vec<Case> {
        args.rows(part, list).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2);
        })
    };
    let rounds = args.rounds;
    println!(
        "best of {rounds} loops of {} conversions (batches of {BATCH}, element i = register i & 7)",
        CONVERSIONS.div_ceil(BATCH) * BATCH
    );
    if cfg!(feature = "second-caller") {
        println!(
            "built with the second-caller feature: Chain::run_segment and Chain::run_segment_into each have two calls in the bench's rust module, so the segment and into columns measure them out of line"
        );
    }
    if args.runs(Part::Pairs) {
        table("Single conversions", rows("pairs", cases::pairs()), rounds);
    }
    if args.runs(Part::Chains) {
        table(
            "Whole chains, ns per segment (segment = Chain::run_segment, into = Chain::run_segment_into, run = Chain::run per vCPU, run into = Chain::run_into per vCPU, batch = Chain::run_batch per register after copying its inputs in, copy = that copy alone, direct = the same profile functions called in sequence, floor = a function of run_segment's type converting nothing, called through a pointer, C one = C's sync of one segment called through a pointer once per segment, typed = a bench-only experiment, not segstate's API: the same profile functions as direct as one typed function per chain shape and register, called through a pointer as C one is; contract = another: run_segment's contract written out by hand, InFlight in and out, the shape chosen at run time, the direct bodies; C contract = the same contract in plain C, a tagged 40-byte value in and out, its one-segment sync inlined into the loop, the shape chosen at run time)",
            rows("chains", cases::chains()),
            rounds,
        );
    }
    if args.runs(Part::Entries) {
        entries(rows("entries", cases::entry_chains()), rounds);
    }
    if !args.runs(Part::Verify) {
        return;
    }

    let chains = builtin_chains();
    let (t, reports) = best_of_3(|| verify_all(&chains));
    let states = reports.iter().map(|r| r.states).sum::<u64>();
    let executed = reports.iter().map(|r| r.executed).sum::<u64>();
    println!(
        "\nverify_all(builtin_chains()): {} chains, {states} states covered, {executed} executed, best of 3 on one thread: {t}",
        chains.len(),
    );
    costs(&chains, rounds);
}

/// Wall time, and the time this thread spent on a CPU (from the kernel's scheduler
/// statistics: on a machine shared with other builds the wall time also counts the
/// time spent waiting for a core, the CPU time does not).
#[derive(Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Option<Duration>,
}

impl std::fmt::Display for Took {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>6.1} ms", self.wall.as_secs_f64() * 1e3)?;
        match self.cpu {
            Some(cpu) => write!(f, " ({:.1} ms on CPU)", cpu.as_secs_f64() * 1e3),
            None => Ok(()),
        }
    }
}

/// This thread's time on a CPU so far: the first field of
/// `/proc/thread-self/schedstat` (Linux), in ns; `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Best of 3 runs of `f`, by wall time and by CPU time, each the least of its three.
fn best_of_3<T>(mut f: impl FnMut() -> T) -> (Took, T) {
    let mut best = Took {
        wall: Duration::MAX,
        cpu: None,
    };
    let mut out = None;
    for _ in 0..3 {
        let (start, cpu) = (Instant::now(), cpu_time());
        out = Some(f());
        best.wall = best.wall.min(start.elapsed());
        if let (Some(before), Some(after)) = (cpu, cpu_time()) {
            let took = after.saturating_sub(before);
            best.cpu = Some(best.cpu.map_or(took, |b| b.min(took)));
        }
    }
    (best, out.expect("ran"))
}

/// The cost of each part of verification, and of compiling a chain of a new shape and
/// running a segment through its tables: what
/// an added chain or profile costs (BENCHMARKS.md).
fn costs(chains: &[Chain], rounds: usize) {
    println!("\nper source format (one domain each), then per chain, best of 3:");
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        let (t, ws) = best_of_3(|| Workspace::new(format));
        println!(
            "  domain {format}: {} states, built in {t}",
            ws.states().len(),
        );
        for chain in chains.iter().filter(|c| c.source() == format) {
            let (t, r) = best_of_3(|| ws.verify(chain).expect("same source"));
            println!(
                "    {:<44} {:>7} executed  {t}",
                chain.to_string(),
                r.executed,
            );
        }
    }
    // A shape no built-in chain has compiles into tables.
    let spec = "verbatim > kvm-svm > qemu > kvm-vmx";
    let (t, compiled) = best_of_3(|| spec.parse::<Chain>().expect("parses").compile());
    println!("compiling `{spec}` (a new shape: tables): {t}, compiled: {compiled}");
    // What a table lookup costs: `Chain::run_segment` on that chain, compiled, over the
    // `kvm_segment` inputs the built-in chains from `kvm_sregs` run on.
    let chain: Chain = spec.parse().expect("parses");
    chain.compile();
    let input: Vec<InFlight> = inputs::kvm(BATCH, 13)
        .into_iter()
        .map(|k| InFlight {
            value: SegmentValue::Kvm(k),
            vmcb_cpl: 0,
        })
        .collect();
    let mut out = input.clone();
    let mut lookup: Run = Box::new(move || {
        segstate_bench::rust::chain_batch(black_box(&chain), black_box(&input), &mut out)
    });
    println!(
        "`{spec}` through its tables: {:.2} ns a segment (Chain::run_segment, best of {rounds})",
        best_ns(&mut [&mut lookup], rounds)[0]
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        Args::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_are_read_or_refused_with_what_was_wrong() {
        assert_eq!(
            parse(&[]),
            Ok(Some(Args {
                rounds: 9,
                part: None,
                row: None
            }))
        );
        assert_eq!(
            parse(&["3", "chains", "qemu"]),
            Ok(Some(Args {
                rounds: 3,
                part: Some(Part::Chains),
                row: Some("qemu".to_owned())
            }))
        );
        assert_eq!(parse(&["5", "--help"]), Ok(None));
        let refused = |args: &[&str], says: &str| {
            let e = parse(args).expect_err("refused");
            assert!(e.contains(says), "{args:?}: {e}");
        };
        refused(&["x"], "ROUNDS `x`");
        refused(&["0"], "ROUNDS `0`");
        refused(&["5", "chain"], "PART `chain`");
        refused(&["5", "verify", "qemu"], "verify has no rows");
        refused(&["5", "chains", "qemu", "more"], "4 arguments");
    }

    #[test]
    fn a_row_that_names_none_is_refused_with_the_rows_there_are() {
        let args = parse(&["1", "pairs", "kvm->nowhere"])
            .expect("parses")
            .expect("no help");
        let e = args.rows("pairs", cases::pairs()).expect_err("no such row");
        assert!(e.contains("no row `kvm->nowhere` in pairs"), "{e}");
        assert!(e.contains("'vmcb->kvm svm_get_segment'"), "{e}");
        let args = parse(&["1", "pairs", "vmcb->kvm svm_get_segment"])
            .expect("parses")
            .expect("no help");
        let picked = args.rows("pairs", cases::pairs()).expect("the row");
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].name, "vmcb->kvm svm_get_segment");
    }
}
