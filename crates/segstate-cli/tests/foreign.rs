//! `segstate check` and `segstate snapshot import` on the Firecracker and Cloud
//! Hypervisor snapshots written by the real programs (crates/segstate/tests/fixtures).

use segstate::arch::PrivilegeLevel;
use segstate::snapshot::VcpuSnapshot;
use serde_json::Value;

mod common;
use common::{assert_contains, fixture, s, scratch, segstate, stderr, stdout};

/// Runs the command: exit code, standard output, standard error.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = segstate(args);
    (o.status.code(), stdout(&o), stderr(&o))
}

/// `segstate snapshot import FIXTURE -o OUT EXTRA…`.
fn import(fixture_path: &str, out: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let fixture = fixture(fixture_path);
    let mut args = vec!["snapshot", "import", &fixture, "-o", out];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn check_reads_every_firecracker_vcpu_and_names_the_stack() {
    let (code, text, stderr) = run(&["check", &fixture("firecracker/user-null-ss.vmstate")]);
    assert_eq!(code, Some(0), "{text}{stderr}");
    assert!(
        text.contains("== firecracker vCPU 0 [firecracker]: 64-bit mode, CPL 3"),
        "{text}"
    );
    assert!(
        text.contains("== firecracker vCPU 1 [firecracker]: 32-bit protected mode, CPL 0"),
        "{text}"
    );
    assert!(text.contains("Firecracker snapshot 11.0.0"), "{text}");
    assert!(text.contains("2 states checked"), "{text}");
}

#[test]
fn check_reads_a_cloud_hypervisor_directory_and_its_state_json() {
    for input in [
        fixture("cloud-hypervisor/user-null-ss"),
        fixture("cloud-hypervisor/user-null-ss/state.json"),
    ] {
        let (code, stdout, stderr) = run(&["check", "--json", &input]);
        assert_eq!(code, Some(0), "{input}: {stderr}");
        let v: Value = serde_json::from_str(&stdout).unwrap();
        let states = v["states"].as_array().unwrap();
        assert_eq!(states.len(), 2, "{input}");
        assert_eq!(states[0]["label"], "cloud-hypervisor (KVM) vCPU 0");
        assert_eq!(states[0]["format"], "cloud-hypervisor");
        assert_eq!(states[0]["cpl"], 3);
        assert_eq!(states[1]["cpl"], 0);
    }
}

#[test]
fn format_can_be_forced_and_other_inputs_keep_their_formats() {
    let (code, stdout, stderr) = run(&[
        "check",
        "--format",
        "firecracker",
        &fixture("firecracker/kernel-cpl0.vmstate"),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("firecracker vCPU 0 [firecracker]: 64-bit mode, CPL 0"));
    // A QEMU dump is still a dump.
    let (_, stdout, _) = run(&["check", &fixture("qemu/user-cpl3.txt")]);
    assert!(stdout.contains("[dump]"), "{stdout}");
}

#[test]
fn damaged_files_exit_2_naming_the_place() {
    let dir = scratch("damaged");
    let mut bytes = std::fs::read(fixture("firecracker/user-null-ss.vmstate")).unwrap();
    let n = bytes.len();
    bytes[n / 3] ^= 1;
    let bad = dir.join("vmstate");
    std::fs::write(&bad, &bytes).unwrap();
    let (code, _, stderr) = run(&["check", s(&bad)]);
    assert_eq!(code, Some(2));
    let e = &stderr;
    assert!(e.contains(&format!("offset {}", n - 8)), "{e}");
    assert!(e.contains("checksum mismatch"), "{e}");

    let state =
        std::fs::read_to_string(fixture("cloud-hypervisor/user-null-ss/state.json")).unwrap();
    let cut = dir.join("state.json");
    std::fs::write(&cut, &state[..state.len() / 2]).unwrap();
    let (code, _, stderr) = run(&["check", s(&cut)]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("line 1 column"), "{stderr}");
}

#[test]
fn import_carries_the_cpl_into_a_segstate_snapshot() {
    let dir = scratch("import");
    let user = dir.join("vcpu0.snap");
    let (code, stdout, stderr) = import("firecracker/user-null-ss.vmstate", s(&user), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_contains(&stdout, "imported firecracker vCPU 0 of 2");
    let snap = VcpuSnapshot::read_file(&user).unwrap();
    assert_eq!(snap.cpl, PrivilegeLevel::Ring3);
    assert_eq!(snap.sregs.ss.selector, 0x1b);
    assert!(!snap.cpl_disagrees());

    let ap = dir.join("vcpu1.snap");
    let (code, _, stderr) = import("cloud-hypervisor/user-null-ss", s(&ap), &["--vcpu", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    let snap = VcpuSnapshot::read_file(&ap).unwrap();
    assert_eq!(snap.cpl, PrivilegeLevel::Ring0);
    assert_eq!(snap.vcpu_id, 1);
    assert_eq!(snap.mp_state, Some(1));

    // The imported file is a segstate snapshot like any other.
    let (_, stdout, _) = run(&["snapshot", "inspect", s(&user)]);
    assert!(stdout.contains("CPL 3 (explicit); SS.DPL 3"), "{stdout}");

    let (code, _, stderr) = import(
        "firecracker/user-null-ss.vmstate",
        s(&dir.join("x.snap")),
        &["--vcpu", "7"],
    );
    assert_eq!(code, Some(2));
    assert_contains(&stderr, "no vCPU 7; the file has 0, 1");
    assert!(!dir.join("x.snap").exists());
}
