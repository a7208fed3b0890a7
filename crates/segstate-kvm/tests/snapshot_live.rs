//! Live snapshot tests on `/dev/kvm`: save the harness guest, restore it into a
//! fresh VM, and let the guest show its privilege. Without KVM they print a skip
//! line and pass, unless `SEGSTATE_REQUIRE_KVM=1`.

use std::time::Duration;

use segstate::arch::PrivilegeLevel;
use segstate::arch::Vendor;
use segstate::snapshot::VcpuSnapshot;
use segstate_kvm::snapshot::{
    RestoreOptions, SavePoint, SnapshotError, VcpuSnapshotExt, restore_into_fresh_machine,
    run_probe, save_at,
};
use segstate_kvm::{RunOptions, Verdict};

mod common;
use common::kvm_present;

const TIMEOUT: Duration = Duration::from_secs(2);

fn saved(at: SavePoint) -> VcpuSnapshot {
    let s =
        save_at(at, &RunOptions::default()).unwrap_or_else(|e| panic!("save {}: {e}", at.name()));
    // Every live snapshot goes through the file format.
    VcpuSnapshot::decode(&s.encode()).expect("own encoding decodes")
}

fn restore_and_probe(s: &VcpuSnapshot, opts: RestoreOptions) -> Result<Verdict, SnapshotError> {
    let (mut m, report) = restore_into_fresh_machine(s, opts, TIMEOUT)?;
    for c in &report.changes {
        println!("    repaired: {c}");
    }
    if !report.msrs_refused.is_empty() {
        println!("    MSRs refused by KVM: {:x?}", report.msrs_refused);
    }
    for m in &report.msr_mismatches {
        println!("    MSR read back differently: {m}");
    }
    let o = run_probe(&mut m);
    println!("    {}: {}", o.verdict.label(), o.detail);
    Ok(o.verdict)
}

#[test]
fn user_null_ss_snapshot_keeps_privilege_in_a_fresh_vm() {
    if !kvm_present("user_null_ss_snapshot_keeps_privilege_in_a_fresh_vm") {
        return;
    }
    let s = saved(SavePoint::UserNullSs);
    assert_eq!(s.cpl, PrivilegeLevel::Ring3);
    assert_eq!(
        s.sregs.ss.unusable, 1,
        "SS as KVM reports it: {:?}",
        s.sregs.ss
    );
    assert_eq!(s.sregs.ss.dpl, 3);
    assert!(!s.memory.is_empty());
    assert!(!s.msrs.is_empty());
    println!(
        "snapshot: {} bytes, {} MSRs, {} memory regions",
        s.encode().len(),
        s.msrs.len(),
        s.memory.len()
    );
    let v = restore_and_probe(&s, RestoreOptions::default()).expect("restore");
    assert_eq!(v, Verdict::Pass);
}

#[test]
fn every_save_point_restores_and_passes() {
    if !kvm_present("every_save_point_restores_and_passes") {
        return;
    }
    for at in SavePoint::ALL {
        let s = saved(at);
        let want = if at == SavePoint::Kernel { 0 } else { 3 };
        assert_eq!(s.cpl.bits(), want, "{}", at.name());
        println!("{}:", at.name());
        let v = restore_and_probe(&s, RestoreOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", at.name()));
        assert_eq!(v, Verdict::Pass, "{}", at.name());
    }
}

#[test]
fn altered_ss_dpl_is_refused_and_repair_restores_privilege() {
    if !kvm_present("altered_ss_dpl_is_refused_and_repair_restores_privilege") {
        return;
    }
    let mut s = saved(SavePoint::UserNullSs);
    s.sregs.ss.dpl = 0; // the 2017 bug's damage, in a file
    let s = VcpuSnapshot::decode(&s.encode()).unwrap();
    match restore_into_fresh_machine(&s, RestoreOptions::default(), TIMEOUT) {
        Err(SnapshotError::Refused(p)) => {
            let text = p[0].to_string();
            assert!(
                text.contains(
                    "SS.DPL 0 disagrees with the snapshot's CPL 3: restoring would run user code at CPL 0"
                ),
                "{text}"
            );
        }
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, the state was restored"),
    }
    let repaired = RestoreOptions {
        repair: true,
        ..Default::default()
    };
    let v = restore_and_probe(&s, repaired).expect("repaired restore");
    assert_eq!(v, Verdict::Pass);
}

/// What the checks prevent: the same altered state written without them. On a
/// host whose KVM takes the CPL from SS.DPL, the user code runs at CPL 0.
#[test]
fn unchecked_restore_of_altered_ss_dpl_shows_why() {
    if !kvm_present("unchecked_restore_of_altered_ss_dpl_shows_why") {
        return;
    }
    let mut s = saved(SavePoint::UserNullSs);
    s.sregs.ss.dpl = 0;
    let kvm = segstate_kvm::machine::open_kvm().unwrap();
    let mut m = segstate_kvm::machine::Machine::new(&kvm, TIMEOUT).unwrap();
    segstate_kvm::snapshot::load_memory(&mut m, &s).unwrap();
    let mut st = s.to_state().unwrap();
    st.msrs.clear(); // VcpuState::restore stops at an MSR this host refuses
    match st.restore(m.vcpu()) {
        Ok(()) => {
            let o = run_probe(&mut m);
            println!(
                "unchecked restore on this host: {} ({})",
                o.verdict.label(),
                o.detail
            );
            assert_ne!(
                o.verdict,
                Verdict::Pass,
                "SS.DPL 0 with CPL-3 code cannot keep privilege"
            );
        }
        Err(e) => println!("unchecked restore refused by KVM itself: {e}"),
    }
}

#[test]
fn cross_vendor_normalisation_restores_here() {
    if !kvm_present("cross_vendor_normalisation_restores_here") {
        return;
    }
    let Some(here) = segstate_kvm::snapshot::host_vendor() else {
        println!("skipping: host vendor unknown");
        return;
    };
    let mut s = saved(SavePoint::UserNullSs);
    // Pretend it came from the other vendor, shaped as that vendor's KVM reports it.
    let other = if here == Vendor::Intel {
        Vendor::Amd
    } else {
        Vendor::Intel
    };
    s.normalise_for(other)
        .expect("normalise to the other vendor");
    s.host.vendor = Some(other);
    let v = restore_and_probe(&s, RestoreOptions::default()).expect("cross-vendor restore");
    assert_eq!(v, Verdict::Pass);
}
