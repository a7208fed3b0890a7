//! Live figures for BENCHMARKS.md, measured side by side in one run on /dev/kvm:
//!
//! 1. KVM_GET_SREGS + KVM_SET_SREGS: the bare ioctl loop beside the same loop through
//!    the library (kvm_sregs → segstate's KvmSregs → a chain → back), goal within 5%.
//! 2. sync-storm: pause → resume cycles per second with no sync, with a bare
//!    GET+SET, and with a chain sync.
//!
//! `cargo run --release -p segstate-kvm --example live_bench`

use std::time::{Duration, Instant};

use segstate::profile::Chain;
use segstate_kvm::guest::layout::{PARAM_PROBE, PARAM_STORM_COUNT};
use segstate_kvm::guest::{Entry, Probe, UserSs};
use segstate_kvm::machine::{Machine, open_kvm};
use segstate_kvm::{ChainSync, RunOptions, SregsSync, paused_user_machine, sregs_roundtrip_loop};

const ROUNDS: usize = 7;

/// A chain sync, compiled up front as a VMM that syncs every exit would (otherwise the
/// tables come after ~2M segments, within the first seconds of such a VMM).
fn chain(spec: &str) -> ChainSync {
    let chain = spec.parse::<Chain>().expect("chain parses");
    chain.compile();
    ChainSync::new(chain)
}

fn best(samples: &[Duration]) -> Duration {
    samples.iter().copied().min().unwrap_or_default()
}

fn sregs_figures() -> Result<(), Box<dyn std::error::Error>> {
    let m = paused_user_machine(&RunOptions::default())?;
    let n = 20_000u64;
    let syncs: Vec<(&str, Option<ChainSync>)> = vec![
        ("bare ioctls", None),
        ("library: verbatim", Some(chain("verbatim"))),
        ("library: qemu", Some(chain("qemu"))),
        (
            "library: kvm-svm > qemu > kvm-svm",
            Some(chain("kvm-svm > qemu > kvm-svm")),
        ),
        (
            "library: kvm-vmx > qemu > kvm-vmx",
            Some(chain("kvm-vmx > qemu > kvm-vmx")),
        ),
        // The bare loop again, last in each round: the spread between two identical
        // loops is the noise floor the chains' ratios are read against.
        ("bare ioctls, again", None),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); syncs.len()];
    // Interleave the variants so drift in the host hits them alike.
    for _ in 0..ROUNDS {
        for (i, (_, sync)) in syncs.iter().enumerate() {
            let s = sync.as_ref().map(|s| s as &dyn SregsSync);
            samples[i].push(sregs_roundtrip_loop(m.vcpu(), n, s)?);
        }
    }
    let bare = best(&samples[0]);
    println!("KVM_GET_SREGS + KVM_SET_SREGS, {n} per sample, best of {ROUNDS}:");
    for (i, (name, _)) in syncs.iter().enumerate() {
        let t = best(&samples[i]);
        println!(
            "  {name:<36} {:>8.3} µs/iter   {:>6.3}x bare",
            t.as_secs_f64() * 1e6 / n as f64,
            t.as_secs_f64() / bare.as_secs_f64()
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

fn storm_figures() -> Result<(), Box<dyn std::error::Error>> {
    let cycles = 3_000u64;
    let qemu = chain("qemu");
    let mut samples: [Vec<Duration>; 3] = Default::default();
    for _ in 0..ROUNDS {
        samples[0].push(storm(cycles, None, false)?);
        samples[1].push(storm(cycles, None, true)?);
        samples[2].push(storm(cycles, Some(&qemu), false)?);
    }
    println!("\nsync-storm loop, {cycles} user-mode pauses per sample, best of {ROUNDS}:");
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
    if let Err(e) = sregs_figures().and_then(|()| storm_figures()) {
        eprintln!("live_bench: {e}");
        std::process::exit(1);
    }
}
