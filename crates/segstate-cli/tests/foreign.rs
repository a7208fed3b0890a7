//! `segstate check` and `segstate snapshot import` on the Firecracker, Cloud
//! Hypervisor and crosvm snapshots written by the real programs
//! (crates/segstate/tests/fixtures).

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

#[test]
fn check_reads_a_crosvm_snapshot_directory_and_one_fragment() {
    let (code, stdout, stderr) = run(&["check", "--json", &fixture("crosvm/user-null-ss")]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let states = v["states"].as_array().unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0]["label"], "crosvm (KVM) vCPU 0");
    assert_eq!(states[0]["format"], "crosvm");
    assert_eq!(states[0]["cpl"], 3);
    assert_eq!(states[1]["label"], "crosvm (KVM) vCPU 1");

    // One fragment, detected by its first bytes.
    let (code, text, stderr) = run(&["check", &fixture("crosvm/user-null-ss/vcpu/vcpu0")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        text.contains("== crosvm (KVM) vCPU 0 [crosvm]: 64-bit mode, CPL 3"),
        "{text}"
    );
    assert!(text.contains("CPL = SS.DPL"), "{text}");

    // Outside its namespace, a fragment is still recognised by its first bytes.
    let loose = scratch("crosvm-loose").join("fragment.bin");
    std::fs::copy(fixture("crosvm/user-null-ss/vcpu/vcpu0"), &loose).unwrap();
    let (code, text, stderr) = run(&["check", s(&loose)]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(text.contains("crosvm (KVM) vCPU 0 [crosvm]"), "{text}");
}

#[test]
fn damaged_crosvm_fragments_exit_2_naming_the_place() {
    let dir = scratch("crosvm-damaged");
    std::fs::create_dir_all(dir.join("vcpu")).unwrap();
    let bytes = std::fs::read(fixture("crosvm/user-null-ss/vcpu/vcpu0")).unwrap();
    let cut = bytes.len() / 2;
    std::fs::write(dir.join("vcpu/vcpu0"), &bytes[..cut]).unwrap();
    for input in [dir.clone(), dir.join("vcpu/vcpu0")] {
        let (code, _, stderr) = run(&["check", s(&input)]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(&format!("offset {cut}")), "{stderr}");
        assert!(stderr.contains("truncated"), "{stderr}");
    }
    std::fs::write(dir.join("enc_metadata"), [0u8; 16]).unwrap();
    for input in [dir.clone(), dir.join("vcpu/vcpu0")] {
        let (code, _, stderr) = run(&["check", s(&input)]);
        assert_eq!(code, Some(2));
        assert!(stderr.contains("encrypted"), "{stderr}");
    }
    let (code, _, stderr) = run(&["check", s(&scratch("neither"))]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("nor a crosvm snapshot"), "{stderr}");
}

#[test]
fn import_carries_the_cpl_of_a_crosvm_vcpu() {
    let dir = scratch("crosvm-import");
    let out = dir.join("vcpu0.snap");
    let (code, stdout, stderr) = run(&[
        "snapshot",
        "import",
        &fixture("crosvm/user-null-ss"),
        "-o",
        s(&out),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("imported crosvm (KVM) vCPU 0 of 2"),
        "{stdout}"
    );
    assert!(stdout.contains("CPL: crosvm Segment"), "{stdout}");
    let snap = VcpuSnapshot::read_file(&out).unwrap();
    assert_eq!(snap.cpl, PrivilegeLevel::Ring3);
    assert_eq!(snap.sregs.ss.selector, 0x1b);
    assert_eq!(snap.sregs.cs.selector, 0x23);
    assert!(!snap.cpl_disagrees());

    // An encrypted snapshot's fragment is ciphertext: named as such, not as bad CBOR.
    let enc = scratch("crosvm-enc");
    std::fs::create_dir_all(enc.join("vcpu")).unwrap();
    std::fs::write(enc.join("vcpu/vcpu0"), [0x5a_u8; 64]).unwrap();
    std::fs::write(enc.join("enc_metadata"), [0u8; 16]).unwrap();
    let refused = dir.join("enc.snap");
    let (code, _, stderr) = run(&[
        "snapshot",
        "import",
        s(&enc.join("vcpu/vcpu0")),
        "-o",
        s(&refused),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("encrypted"), "{stderr}");
    assert!(!refused.exists());
}

#[test]
fn check_streams_a_xen_save_image_and_names_the_stack() {
    let (code, text, stderr) = run(&["check", &fixture("xen/xl-save-hvm-2vcpu.img")]);
    assert_eq!(code, Some(0), "{text}{stderr}");
    assert!(
        text.contains("== xen (HVM) vCPU 0 [xen]: 64-bit mode, CPL 3"),
        "{text}"
    );
    assert!(
        text.contains("== xen (HVM) vCPU 1 [xen]: 64-bit mode, CPL 0"),
        "{text}"
    );
    // The AMD SYSRET leftover: SS unusable (P = 0) at CPL 3.
    assert!(text.contains("arch.ss.null-cpl3"), "{text}");
    assert!(text.contains("libxc v3 (Xen 4.20)"), "{text}");
    assert!(text.contains("2 states checked"), "{text}");

    let (code, stdout, stderr) = run(&[
        "check",
        "--json",
        "--format",
        "xen",
        &fixture("xen/libxc-v2-legacy-compat.stream"),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let state = &v["states"][0];
    assert_eq!(state["format"], "xen");
    assert_eq!(state["cpl"], 0);
    assert!(
        state["notes"][0]
            .as_str()
            .unwrap()
            .contains("UNFOLD_ARBYTES")
    );
}

#[test]
fn check_reads_a_hyperv_blob_and_reports_its_cpl_disagreement() {
    let (code, stdout, stderr) = run(&[
        "check",
        "--json",
        &fixture("hyperv/partition-state-2vp.bin"),
    ]);
    // VP 1 is judged at the file's CPL 0 in virtual-8086 mode: an error.
    assert_eq!(code, Some(1), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let states = v["states"].as_array().unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0]["label"], "hyper-v vCPU 0");
    assert_eq!(states[0]["format"], "hyperv");
    assert_eq!(states[0]["cpl"], 3);
    assert_eq!(states[1]["cpl"], 0);
    let notes: Vec<&str> = states[1]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.contains(
            &"the file's CPL field is 0 but SS.DPL is 3: restored through KVM the vCPU would run at CPL 3"
        ),
        "{notes:?}"
    );
}

#[test]
fn damaged_xen_and_hyperv_files_exit_2_naming_the_place() {
    let dir = scratch("damaged-xen-hyperv");
    let xl = std::fs::read(fixture("xen/xl-save-hvm-2vcpu.img")).unwrap();
    let cut = dir.join("cut.img");
    std::fs::write(&cut, &xl[..0x51b3 + 600]).unwrap();
    let (code, _, stderr) = run(&["check", s(&cut)]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("the HVM_CONTEXT record at offset 20923 (0x51bb)")
            && stderr.contains("truncated"),
        "{stderr}"
    );
    let mut blob = std::fs::read(fixture("hyperv/partition-state-2vp.bin")).unwrap();
    blob[4500 + 144] = 9;
    let bad = dir.join("bad.bin");
    std::fs::write(&bad, &blob).unwrap();
    let (code, _, stderr) = run(&["snapshot", "import", s(&bad), "-o", s(&dir.join("x"))]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("VP 0 cpl at offset 4644"), "{stderr}");
}

#[test]
fn import_takes_xen_and_hyperv_vcpus_with_their_cpl() {
    let dir = scratch("import-xen-hyperv");
    let user = dir.join("xen0.snap");
    let (code, stdout, stderr) = run(&[
        "snapshot",
        "import",
        &fixture("xen/xl-save-hvm-2vcpu.img"),
        "-o",
        s(&user),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("imported xen (HVM) vCPU 0 of 2"),
        "{stdout}"
    );
    assert!(stdout.contains("CPL = ss_arbytes' DPL"), "{stdout}");
    let snap = VcpuSnapshot::read_file(&user).unwrap();
    assert_eq!(snap.cpl, PrivilegeLevel::Ring3);
    assert_eq!(snap.sregs.ss.selector, 0x2b);
    assert_eq!(snap.sregs.apic_base, 0xfee0_0900);
    assert!(!snap.cpl_disagrees());

    let v86 = dir.join("hv1.snap");
    let (code, stdout, stderr) = run(&[
        "snapshot",
        "import",
        &fixture("hyperv/partition-state-2vp.bin"),
        "-o",
        s(&v86),
        "--vcpu",
        "1",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("warning: the file's CPL field is 0 but SS.DPL is 3"),
        "{stdout}"
    );
    let snap = VcpuSnapshot::read_file(&v86).unwrap();
    assert_eq!(snap.cpl, PrivilegeLevel::Ring0);
    assert!(snap.cpl_disagrees());
    assert_eq!(snap.regs.rflags, 0x2_0202);
}

#[test]
fn a_large_vmrs_is_read_by_seeking_past_its_ram() {
    let dir = scratch("vmrs");
    // The fixture followed by 40 MiB standing for guest RAM blocks: more than any
    // whole-file limit, never read.
    let mut big = std::fs::read(fixture("hyperv/partition-state-2vp.vmrs")).unwrap();
    big.resize(big.len() + (40 << 20), 0x90);
    let vmrs = dir.join("vm.vmrs");
    std::fs::write(&vmrs, &big).unwrap();
    let (code, text, stderr) = run(&["check", s(&vmrs)]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        text.contains("== hyper-v vCPU 1 [hyperv]: virtual-8086 mode, CPL 0"),
        "{text}"
    );
    assert!(text.contains("HyperVStorage 4.0 file"), "{text}");
    let (code, stdout, stderr) = run(&["snapshot", "import", s(&vmrs), "-o", s(&dir.join("a"))]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("imported hyper-v vCPU 0 of 2"), "{stdout}");
}
