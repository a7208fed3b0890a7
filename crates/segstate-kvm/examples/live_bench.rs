//! Live figures for BENCHMARKS.md, measured side by side in one run on /dev/kvm:
//!
//! 1. KVM_GET_SREGS + KVM_SET_SREGS: the bare ioctl loop, the same loop through the
//!    library (`ChainSync::sync`: the segments of `kvm_sregs` through a chain, in place)
//!    for every chain `segstate audit` runs live (`LIVE_CHAINS`), and the bare loop
//!    again, interleaved over rounds (the chains rotated one place a round between the
//!    two bare loops). Each row gives its best round against the best bare loop, and
//!    paired: the median over rounds of its sample against the mean of that round's two
//!    bare loops (drift between rounds cancels). The slowest chain is named by the
//!    paired ratio, goal within 5%.
//! 2. `ChainSync::sync` alone, no ioctl: a fixed `kvm_sregs` (what the paused vCPU
//!    reports) synced N times for every live chain, beside its parts timed apart for
//!    four of them (`CHAINS`: the `kvm_sregs` copies both ways or the segments alone in
//!    place, the lock, the refresh of the previous QEMU caches, the chain on the whole
//!    struct or on the segments), so each part's cost is known in ns.
//! 3. sync-storm: pause → resume cycles per second with no sync, with a bare
//!    GET+SET, and with a chain sync.
//!
//! `cargo run --release -p segstate-kvm --example live_bench [-- ROUNDS [round-trip|sync|storm]]`
//!
//! ROUNDS (default 7) is how many rounds every figure is the best or median of; more
//! rounds steady the round trip's paired ratios (the host's noise is the size of the
//! 5% goal: `BENCHMARKS.md` §3). A second argument runs one part alone.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kvm_bindings::kvm_sregs;
use segstate::arch::PerSegReg;
use segstate::format::kvm::KvmSregs;
use segstate::format::qemu::QemuSegmentCache;
use segstate::profile::{Chain, Profile, qemu};
use segstate_kvm::guest::layout::{PARAM_PROBE, PARAM_STORM_COUNT};
use segstate_kvm::guest::{Entry, Probe, UserSs};
use segstate_kvm::machine::{Machine, open_kvm};
use segstate_kvm::{
    ChainSync, LIVE_CHAINS, RunOptions, SregsSync, paused_user_machine, sregs_roundtrip_loop,
};

/// Rounds when none are given.
const DEFAULT_ROUNDS: usize = 7;

/// What the command line asks for: how many rounds (at least one: every figure is a
/// best or a median over them), and which parts.
#[derive(Debug, PartialEq)]
struct Args {
    rounds: usize,
    part: Option<Part>,
}

/// One of the three parts the module doc lists.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Part {
    RoundTrip,
    Sync,
    Storm,
}

impl Part {
    /// Each part with its name on the command line.
    const NAMED: [(&'static str, Part); 3] = [
        ("round-trip", Part::RoundTrip),
        ("sync", Part::Sync),
        ("storm", Part::Storm),
    ];
}

const USAGE: &str = concat!(
    "usage: live_bench [ROUNDS [round-trip|sync|storm]]\n",
    "  ROUNDS  rounds every figure is the best or median of (default 7, at least 1)\n",
    "  part    one part alone: the GET+SET round trip per chain, ChainSync::sync alone,\n",
    "          or the sync-storm loop (default: all three)",
);

impl Args {
    /// Parses the arguments after the program name: `None` when help is asked for; the
    /// error names the bad argument.
    fn parse(args: &[String]) -> Result<Option<Args>, String> {
        if args.iter().any(|a| a == "-h" || a == "--help") {
            return Ok(None);
        }
        let rounds = match args.first() {
            None => DEFAULT_ROUNDS,
            Some(a) => match a.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "live_bench: ROUNDS must be a whole number of at least 1, not {a:?}\n{USAGE}"
                    ));
                }
            },
        };
        let part = match args.get(1) {
            None => None,
            Some(name) => match Part::NAMED.iter().find(|(n, _)| n == name) {
                Some(&(_, part)) => Some(part),
                None => {
                    let names = Part::NAMED.map(|(n, _)| n).join(", ");
                    return Err(format!(
                        "live_bench: no part {name:?} (one of {names})\n{USAGE}"
                    ));
                }
            },
        };
        if let Some(extra) = args.get(2) {
            return Err(format!(
                "live_bench: unexpected argument {extra:?}\n{USAGE}"
            ));
        }
        Ok(Some(Args { rounds, part }))
    }

    /// Whether `part` runs.
    fn runs(&self, part: Part) -> bool {
        self.part.is_none_or(|p| p == part)
    }
}

/// A chain sync, compiled up front as a VMM that syncs every exit would (otherwise the
/// tables come after ~2M segments, within the first seconds of such a VMM).
fn chain(spec: &str) -> ChainSync {
    let chain = spec.parse::<Chain>().expect("chain parses");
    chain.compile();
    ChainSync::new(chain)
}

/// The median of `values` (the mean of the middle two for an even count), none for
/// no values.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 0 => Some((values[mid - 1] + values[mid]) / 2.0),
        _ => Some(values[mid]),
    }
}

fn best(samples: &[Duration]) -> Duration {
    samples.iter().copied().min().unwrap_or_default()
}

fn sregs_figures(rounds: usize) -> Result<(), Box<dyn std::error::Error>> {
    let m = paused_user_machine(&RunOptions::default())?;
    let n = 20_000u64;
    // Every chain `segstate audit` runs live (the goal is every chain), between
    // the bare loop and the bare loop again, last in each round: the spread between two
    // identical loops is the noise floor the chains' ratios are read against.
    let mut syncs: Vec<(String, Option<ChainSync>)> = vec![("bare ioctls".into(), None)];
    syncs.extend(
        LIVE_CHAINS
            .iter()
            .map(|spec| (format!("library: {spec}"), Some(chain(spec)))),
    );
    syncs.push(("bare ioctls, again".into(), None));
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); syncs.len()];
    // Interleave the variants so drift in the host hits them alike: the two bare loops
    // open and close each round, and the chains between them start one place later each
    // round, so that no chain always runs late in a round (a run with drift inside its
    // rounds read rising ratios down the table, §3).
    let chains = syncs.len() - 2;
    for round in 0..rounds {
        let order = core::iter::once(0)
            .chain((0..chains).map(|k| 1 + (k + round) % chains))
            .chain(core::iter::once(syncs.len() - 1));
        for i in order {
            let s = syncs[i].1.as_ref().map(|s| s as &dyn SregsSync);
            samples[i].push(sregs_roundtrip_loop(m.vcpu(), n, s)?);
        }
    }
    let bare = best(&samples[0]);
    let last = syncs.len() - 1;
    println!(
        "KVM_GET_SREGS + KVM_SET_SREGS, {n} per sample, {rounds} rounds: best of the rounds \
         against the best bare loop, and the median of each round's sample against that \
         round's two bare loops (paired: drift between rounds cancels):"
    );
    let mut worst: Option<(&str, f64)> = None;
    for (i, (name, sync)) in syncs.iter().enumerate() {
        let t = best(&samples[i]);
        let ratio = t.as_secs_f64() / bare.as_secs_f64();
        let paired = median(
            (0..rounds)
                .map(|r| {
                    let bare_r = (samples[0][r] + samples[last][r]).as_secs_f64() / 2.0;
                    samples[i][r].as_secs_f64() / bare_r
                })
                .collect(),
        )
        .expect("at least one round");
        println!(
            "  {name:<48} {:>8.3} µs/iter   {ratio:>6.3}x bare   paired {paired:>6.3}x",
            t.as_secs_f64() * 1e6 / n as f64,
        );
        if sync.is_some() && worst.is_none_or(|(_, w)| paired > w) {
            worst = Some((name, paired));
        }
    }
    if let Some((name, ratio)) = worst {
        println!("  slowest chain, paired: {name}, {ratio:.3}x bare (goal: at most 1.05x)");
    }
    Ok(())
}

/// The chains whose parts `sync_figures` times apart (`run_sregs`, `run_kvm_segments`),
/// in print order: the fixed pass-through paths, a subset of `LIVE_CHAINS`.
const CHAINS: [&str; 4] = [
    "verbatim",
    "qemu",
    "kvm-svm > qemu > kvm-svm",
    "kvm-vmx > qemu > kvm-vmx",
];

/// `n` times `f` on a fresh copy of `sregs` (the copy is part of every row alike).
fn timed(n: u64, sregs: &kvm_sregs, mut f: impl FnMut(&mut kvm_sregs)) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let mut s = black_box(*sregs);
        f(&mut s);
        black_box(&s);
    }
    start.elapsed()
}

/// `ChainSync::sync` alone on the state the paused vCPU reports, beside its parts: each
/// row is `n` calls on a fresh copy of that `kvm_sregs`, so the copy row is the floor.
fn sync_figures(rounds: usize) -> Result<(), Box<dyn std::error::Error>> {
    let m = paused_user_machine(&RunOptions::default())?;
    let sregs = m
        .vcpu()
        .get_sregs()
        .map_err(|e| segstate_kvm::IoctlError::new("KVM_GET_SREGS", e))?;
    let n = 200_000u64;
    // The whole sync for every chain the round trip times; its parts for four of them.
    let syncs: Vec<ChainSync> = LIVE_CHAINS.iter().map(|c| chain(c)).collect();
    let chains: Vec<Chain> = CHAINS.iter().map(|c| c.parse().expect("parses")).collect();
    for c in &chains {
        c.compile();
    }
    let lock = Mutex::new(PerSegReg::<QemuSegmentCache>::default());
    let previous = PerSegReg::<QemuSegmentCache>::default();
    let ours = KvmSregs::from(sregs);
    let mut rows: Vec<(String, Vec<Duration>)> = Vec::new();
    let mut row = |i: usize, name: String, t: Duration| {
        if rows.len() <= i {
            rows.push((name, Vec::new()));
        }
        rows[i].1.push(t);
    };
    for _ in 0..rounds {
        let mut i = 0;
        let mut next = |name: &str, t: Duration| {
            row(i, name.to_string(), t);
            i += 1;
        };
        next("a fresh kvm_sregs copy (floor)", timed(n, &sregs, |_| {}));
        next(
            "kvm_sregs -> KvmSregs -> kvm_sregs",
            timed(n, &sregs, |s| *s = KvmSregs::from(*s).into()),
        );
        next(
            "segments_of + set_segments_of (in place)",
            timed(n, &sregs, |s| {
                let segments = KvmSregs::segments_of(black_box(&*s));
                KvmSregs::set_segments_of(s, black_box(&segments));
            }),
        );
        next(
            "Mutex lock + unlock",
            timed(n, &sregs, |_| {
                drop(black_box(lock.lock().expect("not poisoned")));
            }),
        );
        next(
            "segments() + 8 qemu::get_seg (refresh)",
            timed(n, &sregs, |_| {
                black_box(
                    black_box(&ours)
                        .segments()
                        .map(|reg, k| qemu::get_seg(Profile::QEMU.rules, reg, k, &previous[reg])),
                );
            }),
        );
        for (c, spec) in chains.iter().zip(CHAINS) {
            next(
                &format!("run_sregs: {spec}"),
                timed(n, &sregs, |_| {
                    let mut k = black_box(ours);
                    c.run_sregs(&mut k, &previous).expect("kvm_sregs source");
                    black_box(k);
                }),
            );
        }
        for (c, spec) in chains.iter().zip(CHAINS) {
            next(
                &format!("run_kvm_segments: {spec}"),
                timed(n, &sregs, |_| {
                    let mut k = black_box(ours.segments());
                    c.run_kvm_segments(&mut k, &previous)
                        .expect("kvm_sregs source");
                    black_box(k);
                }),
            );
        }
        for (sync, spec) in syncs.iter().zip(LIVE_CHAINS) {
            next(
                &format!("ChainSync::sync: {spec}"),
                timed(n, &sregs, |s| sync.sync(s).expect("syncs")),
            );
        }
    }
    println!("\nChainSync::sync alone (no ioctl), {n} per sample, best of {rounds}:");
    for (name, samples) in &rows {
        println!(
            "  {name:<60} {:>8.1} ns/sync",
            best(samples).as_secs_f64() * 1e9 / n as f64
        );
    }
    Ok(())
}

/// Time for `cycles` pauses of the user-mode storm loop: resume only, or with a bare
/// GET+SET (`bare`), or with GET, the chain sync, SET (`sync`).
fn storm(
    cycles: u64,
    sync: Option<&ChainSync>,
    bare: bool,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let kvm = open_kvm()?;
    let mut m = Machine::new(&kvm, Duration::from_secs(2))?;
    let r = m.routines();
    m.set_param(PARAM_PROBE, r.probe(Probe::Hlt))?;
    m.set_param(PARAM_STORM_COUNT, cycles + 1)?;
    m.enter(Entry::User {
        rip: r.u_storm,
        ss: UserSs::Unusable,
    })?;
    let start = Instant::now();
    for _ in 0..cycles {
        m.run_to_user_pause()?;
        if bare || sync.is_some() {
            let mut s = m.sregs()?;
            if let Some(sync) = sync {
                sync.sync(&mut s)?;
            }
            m.vcpu()
                .set_sregs(&s)
                .map_err(|e| segstate_kvm::IoctlError::new("KVM_SET_SREGS", e))?;
        }
    }
    Ok(start.elapsed())
}

fn storm_figures(rounds: usize) -> Result<(), Box<dyn std::error::Error>> {
    let cycles = 3_000u64;
    let qemu = chain("qemu");
    let mut samples: [Vec<Duration>; 3] = Default::default();
    for _ in 0..rounds {
        samples[0].push(storm(cycles, None, false)?);
        samples[1].push(storm(cycles, None, true)?);
        samples[2].push(storm(cycles, Some(&qemu), false)?);
    }
    println!("\nsync-storm loop, {cycles} user-mode pauses per sample, best of {rounds}:");
    let base = best(&samples[0]);
    for (i, name) in [
        "pause/resume, no sync",
        "pause/GET+SET/resume (bare)",
        "pause/GET+chain qemu+SET/resume",
    ]
    .iter()
    .enumerate()
    {
        let t = best(&samples[i]);
        println!(
            "  {name:<36} {:>9.0} cycles/s   {:>6.3}x the no-sync time",
            cycles as f64 / t.as_secs_f64(),
            t.as_secs_f64() / base.as_secs_f64()
        );
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match Args::parse(&args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let rounds = args.rounds;
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        if args.runs(Part::RoundTrip) {
            sregs_figures(rounds)?;
        }
        if args.runs(Part::Sync) {
            sync_figures(rounds)?;
        }
        if args.runs(Part::Storm) {
            storm_figures(rounds)?;
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("live_bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::{Args, DEFAULT_ROUNDS, Part, median};

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        Args::parse(&args.iter().map(|a| (*a).to_string()).collect::<Vec<_>>())
    }

    /// Rounds and a part as given, the defaults when not; each part named runs alone
    /// and none named runs all three (fails if a name maps to another part, or a part
    /// runs beside the one asked for); every bad argument refused with its text named.
    #[test]
    fn arguments_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse(&[]),
            Ok(Some(Args {
                rounds: DEFAULT_ROUNDS,
                part: None
            }))
        );
        assert_eq!(
            parse(&["21", "round-trip"]),
            Ok(Some(Args {
                rounds: 21,
                part: Some(Part::RoundTrip)
            }))
        );
        assert_eq!(parse(&["3", "--help"]), Ok(None));
        assert_eq!(parse(&["-h"]), Ok(None));
        // Each part named runs alone; none named, all three run.
        let parts = [
            ("round-trip", Part::RoundTrip),
            ("sync", Part::Sync),
            ("storm", Part::Storm),
        ];
        for (name, part) in parts {
            let args = parse(&["3", name]).unwrap().unwrap();
            assert_eq!(args.part, Some(part), "{name}");
            for (_, other) in parts {
                assert_eq!(args.runs(other), other == part, "{name} runs {other:?}");
            }
            assert!(
                parse(&["3"]).unwrap().unwrap().runs(part),
                "{part:?} by default"
            );
        }
        for (bad, named) in [
            (&["0"][..], "\"0\""),
            (&["-1"][..], "\"-1\""),
            (&["many"][..], "\"many\""),
            (&["3", "ioctl"][..], "\"ioctl\""),
            (&["3", "sync", "more"][..], "\"more\""),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(named) && e.contains("usage:"), "{bad:?}: {e}");
        }
    }

    /// The middle value of an odd count, the mean of the middle two of an even one,
    /// whatever the order given; none of nothing.
    #[test]
    fn median_of_odd_even_and_no_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![5.0]), Some(5.0));
        assert_eq!(median(Vec::new()), None);
    }
}
