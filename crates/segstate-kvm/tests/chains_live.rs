//! segstate's profile chains as live state syncs: real guest code on /dev/kvm shows the
//! 2017 escalation for the historical chains and privilege kept for the fixed ones.

use segstate::profile::Chain;
use segstate_kvm::{ChainSync, LIVE_CHAINS, RunOptions, ScenarioKind, Verdict, run_scenario};

mod common;
use common::kvm_present;

fn sync(spec: &str) -> ChainSync {
    ChainSync::new(spec.parse::<Chain>().unwrap())
}

fn opts() -> RunOptions {
    RunOptions {
        storm_cycles: 2_000,
        ..RunOptions::default()
    }
}

#[test]
fn fixed_and_verbatim_chains_pass_every_scenario() {
    if !kvm_present("fixed_and_verbatim_chains_pass_every_scenario") {
        return;
    }
    for spec in LIVE_CHAINS {
        let chain: Chain = spec.parse().unwrap();
        if !chain.is_current() {
            continue;
        }
        for kind in ScenarioKind::ALL {
            let outcome = run_scenario(kind, &sync(spec), &opts());
            assert_eq!(
                outcome.verdict,
                Verdict::Pass,
                "{spec} / {kind}: {}",
                outcome.detail
            );
        }
    }
}

#[test]
fn historical_chains_escalate_null_ss_user() {
    if !kvm_present("historical_chains_escalate_null_ss_user") {
        return;
    }
    for spec in [
        "qemu@2.9",
        "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11",
        "kvm-svm > qemu@2.9 > kvm-svm",
        "kvm-svm@4.11 > qemu > kvm-svm@4.11",
    ] {
        for kind in [ScenarioKind::NullSsUser, ScenarioKind::SnapshotRestore] {
            let outcome = run_scenario(kind, &sync(spec), &opts());
            assert_eq!(
                outcome.verdict,
                Verdict::Escalated,
                "{spec} / {kind}: {}",
                outcome.detail
            );
        }
    }
}

#[test]
fn chain_sync_keeps_the_fields_it_does_not_own() {
    if !kvm_present("chain_sync_keeps_the_fields_it_does_not_own") {
        return;
    }
    use segstate_kvm::SregsSync;
    let s = sync("kvm-svm > qemu > kvm-svm");
    let mut sregs = kvm_bindings::kvm_sregs {
        cr0: 0x8000_0011,
        cr3: 0x1000,
        cr4: 0x20,
        efer: 0xd01,
        apic_base: 0xfee0_0900,
        ..Default::default()
    };
    sregs.ss.unusable = 1;
    sregs.ss.dpl = 3;
    s.sync(&mut sregs).unwrap();
    assert_eq!(
        (sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer),
        (0x8000_0011, 0x1000, 0x20, 0xd01)
    );
    assert_eq!(sregs.apic_base, 0xfee0_0900);
    assert_eq!((sregs.ss.dpl, sregs.ss.unusable), (3, 1));
    let old = sync("qemu@2.9");
    old.sync(&mut sregs).unwrap();
    assert_eq!(sregs.ss.dpl, 0, "qemu@2.9 zeroes an unusable SS's flags");
}
