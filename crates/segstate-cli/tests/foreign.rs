//! `segstate check` and `segstate snapshot import` on the Firecracker, Cloud
//! Hypervisor and crosvm snapshots written by the real programs
//! (crates/segstate/tests/fixtures); and wtf's `regs.json` (tests/fixtures/wtf).

use std::path::Path;

use segstate::arch::PrivilegeLevel;
use segstate::snapshot::VcpuSnapshot;
use serde_json::Value;

mod common;
use common::{assert_contains, fixture, s, scratch, segstate, segstate_stdin, stderr, stdout};

/// Runs the command: exit code, standard output, standard error.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = segstate(args);
    (o.status.code(), stdout(&o), stderr(&o))
}

/// `segstate check ARGS…`, which must exit with `code`: its standard output, which
/// says each of `said`.
#[track_caller]
fn check_says(args: &[&str], code: i32, said: &[&str]) -> String {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let (got, text, stderr) = run(&all);
    assert_eq!(got, Some(code), "{text}{stderr}");
    for line in said {
        assert_contains(&text, line);
    }
    text
}

/// `segstate check INPUT`, which must refuse the input (exit 2) with an error that
/// says each of `said`.
#[track_caller]
fn check_refuses(input: &str, said: &[&str]) {
    let (code, _, stderr) = run(&["check", input]);
    assert_eq!(code, Some(2), "{input}: {stderr}");
    for part in said {
        assert_contains(&stderr, part);
    }
}

/// `segstate check --json ARGS…`, which must exit with `code`: the report.
#[track_caller]
fn check_json(args: &[&str], code: i32) -> Value {
    let mut all = vec!["check", "--json"];
    all.extend_from_slice(args);
    let (got, stdout, stderr) = run(&all);
    assert_eq!(got, Some(code), "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// [`check_json`] of `input`, a snapshot of two vCPUs taken with vCPU 0 in user mode
/// and vCPU 1 in the kernel: two states, the first labelled `label0` and read as
/// `format` at CPL 3, the second at CPL 0. The states, for what else they say.
#[track_caller]
fn check_json_user_and_kernel(input: &str, code: i32, label0: &str, format: &str) -> Vec<Value> {
    let v = check_json(&[input], code);
    let states = v["states"].as_array().unwrap().clone();
    assert_eq!(states.len(), 2, "{input}");
    assert_eq!(states[0]["label"], label0, "{input}");
    assert_eq!(states[0]["format"], format, "{input}");
    assert_eq!(states[0]["cpl"], 3, "{input}");
    assert_eq!(states[1]["cpl"], 0, "{input}");
    states
}

/// `segstate snapshot import INPUT -o OUT EXTRA…`.
fn import(input: &str, out: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["snapshot", "import", input, "-o", s(out)];
    args.extend_from_slice(extra);
    run(&args)
}

/// [`import`] that must succeed: its standard output and the snapshot it wrote.
#[track_caller]
fn import_ok(input: &str, out: &Path, extra: &[&str]) -> (String, VcpuSnapshot) {
    let (code, stdout, stderr) = import(input, out, extra);
    assert_eq!(code, Some(0), "{stderr}");
    (stdout, VcpuSnapshot::read_file(out).unwrap())
}

/// [`import_ok`] of vCPU 0 of `input`, a user-mode vCPU: standard output says each
/// of `said`, and the snapshot carries CPL 3 with SS `ss_selector`, SS.DPL agreeing.
#[track_caller]
fn import_user_vcpu(input: &str, out: &Path, said: &[&str], ss_selector: u16) -> VcpuSnapshot {
    let (stdout, snap) = import_ok(input, out, &[]);
    for line in said {
        assert_contains(&stdout, line);
    }
    assert_eq!(snap.cpl, PrivilegeLevel::Ring3);
    assert_eq!(snap.sregs.ss.selector, ss_selector);
    assert!(!snap.cpl_disagrees());
    snap
}

#[test]
fn check_reads_every_firecracker_vcpu_and_names_the_stack() {
    check_says(
        &[&fixture("firecracker/user-null-ss.vmstate")],
        0,
        &[
            "== firecracker vCPU 0 [firecracker]: 64-bit mode, CPL 3",
            "== firecracker vCPU 1 [firecracker]: 32-bit protected mode, CPL 0",
            "Firecracker snapshot 11.0.0",
            "2 states checked",
        ],
    );
}

#[test]
fn check_reads_a_cloud_hypervisor_directory_and_its_state_json() {
    for input in [
        fixture("cloud-hypervisor/user-null-ss"),
        fixture("cloud-hypervisor/user-null-ss/state.json"),
    ] {
        let label0 = "cloud-hypervisor (KVM) vCPU 0";
        check_json_user_and_kernel(&input, 0, label0, "cloud-hypervisor");
    }
}

/// Cloud Hypervisor v18's `vm.json`, v28's and v38's `state.json`, the layouts before
/// v39: checked from the directory and from the file, the note naming the layout's
/// versions, and vCPU 0 imported at the CPL its SS.DPL carries.
#[test]
fn check_and_import_read_the_cloud_hypervisor_layouts_before_v39() {
    let dir = scratch("import-ch-layouts");
    for (name, file, layout, vcpu0) in [
        (
            "cloud-hypervisor/v18-user-null-ss",
            "vm.json",
            "v15–v25",
            "0",
        ),
        (
            "cloud-hypervisor/v28-user-null-ss",
            "state.json",
            "v26–v28",
            "000",
        ),
        (
            "cloud-hypervisor/v38-user-null-ss",
            "state.json",
            "v29–v38",
            "0",
        ),
    ] {
        let label0 = format!("cloud-hypervisor (KVM) vCPU {vcpu0}");
        for input in [fixture(name), fixture(&format!("{name}/{file}"))] {
            check_json_user_and_kernel(&input, 0, &label0, "cloud-hypervisor");
        }
        check_says(
            &[&fixture(name)],
            0,
            &[
                &format!("== {label0} [cloud-hypervisor]: 64-bit mode, CPL 3"),
                &format!("note: read from Cloud Hypervisor snapshot ({layout} layout)"),
                "2 states checked",
            ],
        );
        let out = dir.join(name.replace('/', "-") + ".snap");
        import_user_vcpu(
            &fixture(name),
            &out,
            &[&format!("imported {label0} of 2")],
            0x1b,
        );
    }
}

#[test]
fn format_can_be_forced_and_other_inputs_keep_their_formats() {
    check_says(
        &[
            "--format",
            "firecracker",
            &fixture("firecracker/kernel-cpl0.vmstate"),
        ],
        0,
        &["firecracker vCPU 0 [firecracker]: 64-bit mode, CPL 0"],
    );
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
    check_refuses(
        s(&bad),
        &[&format!("offset {}", n - 8), "checksum mismatch"],
    );

    let state =
        std::fs::read_to_string(fixture("cloud-hypervisor/user-null-ss/state.json")).unwrap();
    let cut = dir.join("state.json");
    std::fs::write(&cut, &state[..state.len() / 2]).unwrap();
    check_refuses(s(&cut), &["line 1 column"]);
}

/// Firecracker 1.7 to 1.14's bincode files and 1.6's Versionize files: checked and
/// imported like the newer ones, the note naming the format, the encoding and (for 8.x)
/// the release's layout.
#[test]
fn check_and_import_read_the_bincode_formats() {
    let file = fixture("firecracker/legacy/v1.14.4-user-null-ss.vmstate");
    check_says(
        &[&file],
        0,
        &[
            "== firecracker vCPU 0 [firecracker]: 64-bit mode, CPL 3",
            "== firecracker vCPU 1 [firecracker]: 32-bit protected mode, CPL 0",
            "Firecracker snapshot 8.0.0 (bincode, Firecracker 1.14's layout)",
        ],
    );
    let dir = scratch("import-bincode");
    import_user_vcpu(
        &file,
        &dir.join("v1.14.4.snap"),
        &["imported firecracker vCPU 0 of 2"],
        0x1b,
    );
    // Firecracker 1.6's Versionize file: recognised by its magic (ORed with 1) and read.
    check_says(
        &[&fixture("firecracker/legacy/v1.6.0-user-null-ss.vmstate")],
        0,
        &[
            "== firecracker vCPU 0 [firecracker]: 64-bit mode, CPL 3",
            "Firecracker snapshot, Versionize data version 10 (Firecracker 1.6)",
        ],
    );
    // Cut inside its vCPUs and re-sealed, the file is refused at the field.
    let bytes = std::fs::read(&file).unwrap();
    let body = &bytes[..bytes.len() / 2];
    let mut cut = body.to_vec();
    cut.extend_from_slice(&segstate::testing::crc64(0, body).to_le_bytes());
    let damaged = dir.join("cut.vmstate");
    std::fs::write(&damaged, cut).unwrap();
    check_refuses(
        s(&damaged),
        &[
            "cut.vmstate",
            "field `data.vcpu_states[0].",
            "8.x type layout",
        ],
    );
}

/// vCPU 0 of each stack's user-mode fixture imports at CPL 3 with SS.DPL agreeing, the
/// import saying where the CPL came from; each file written is a segstate snapshot like
/// any other.
#[test]
fn import_carries_the_cpl_of_each_stacks_user_vcpu() {
    let dir = scratch("import-user");
    let [_, crosvm, xen] = [
        (
            "firecracker/user-null-ss.vmstate",
            &["imported firecracker vCPU 0 of 2"][..],
            0x1b,
        ),
        (
            "crosvm/user-null-ss",
            &["imported crosvm (KVM) vCPU 0 of 2", "CPL: crosvm Segment"],
            0x1b,
        ),
        (
            "xen/xl-save-hvm-2vcpu.img",
            &["imported xen (HVM) vCPU 0 of 2", "CPL = ss_arbytes' DPL"],
            0x2b,
        ),
    ]
    .map(|(name, said, ss_selector)| {
        let out = dir.join(name.replace('/', "-") + ".snap");
        let snap = import_user_vcpu(&fixture(name), &out, said, ss_selector);
        let (_, stdout, _) = run(&["snapshot", "inspect", s(&out)]);
        assert!(
            stdout.contains("CPL 3 (explicit); SS.DPL 3"),
            "{name}: {stdout}"
        );
        snap
    });
    assert_eq!(crosvm.sregs.cs.selector, 0x23);
    assert_eq!(xen.sregs.apic_base, 0xfee0_0900);
}

/// vCPU 1 of the two-vCPU fixtures was in the kernel: it imports at CPL 0. Hyper-V's
/// file says CPL 0 where SS.DPL is 3 (virtual-8086 mode): the file's CPL is taken,
/// with a warning.
#[test]
fn import_carries_the_cpl_of_each_stacks_kernel_vcpu() {
    let dir = scratch("import-kernel");
    let [(_, cloud_hypervisor), (hyperv_said, hyperv)] = [
        "cloud-hypervisor/user-null-ss",
        "hyperv/partition-state-2vp.bin",
    ]
    .map(|name| {
        let out = dir.join(name.replace('/', "-") + ".snap");
        let (stdout, snap) = import_ok(&fixture(name), &out, &["--vcpu", "1"]);
        assert_eq!(snap.cpl, PrivilegeLevel::Ring0, "{name}");
        (stdout, snap)
    });
    assert_eq!(cloud_hypervisor.vcpu_id, 1);
    assert_eq!(cloud_hypervisor.mp_state, Some(1));
    assert!(
        hyperv_said.contains("warning: the file's CPL field is 0 but SS.DPL is 3"),
        "{hyperv_said}"
    );
    assert!(hyperv.cpl_disagrees());
    assert_eq!(hyperv.regs.rflags, 0x2_0202);
}

#[test]
fn import_refuses_a_vcpu_the_file_has_not() {
    let dir = scratch("import");
    let (code, _, stderr) = import(
        &fixture("firecracker/user-null-ss.vmstate"),
        &dir.join("x.snap"),
        &["--vcpu", "7"],
    );
    assert_eq!(code, Some(2));
    assert_contains(&stderr, "no vCPU 7; the file has 0, 1");
    assert!(!dir.join("x.snap").exists());
}

#[test]
fn check_reads_a_crosvm_snapshot_directory_and_one_fragment() {
    let dir = fixture("crosvm/user-null-ss");
    let states = check_json_user_and_kernel(&dir, 0, "crosvm (KVM) vCPU 0", "crosvm");
    assert_eq!(states[1]["label"], "crosvm (KVM) vCPU 1");

    // One fragment, detected by its first bytes.
    check_says(
        &[&fixture("crosvm/user-null-ss/vcpu/vcpu0")],
        0,
        &[
            "== crosvm (KVM) vCPU 0 [crosvm]: 64-bit mode, CPL 3",
            "CPL = SS.DPL",
        ],
    );

    // Outside its namespace, a fragment is still recognised by its first bytes.
    let loose = scratch("crosvm-loose").join("fragment.bin");
    std::fs::copy(fixture("crosvm/user-null-ss/vcpu/vcpu0"), &loose).unwrap();
    check_says(&[s(&loose)], 0, &["crosvm (KVM) vCPU 0 [crosvm]"]);
}

/// A scratch crosvm snapshot `name` whose `vcpu/vcpu0` is the first half of the
/// fixture `snapshot`'s: the directory, the whole fragment and where it was cut.
fn cut_crosvm_fragment(name: &str, snapshot: &str) -> (std::path::PathBuf, Vec<u8>, usize) {
    let dir = scratch(name);
    std::fs::create_dir_all(dir.join("vcpu")).unwrap();
    let bytes = std::fs::read(fixture(&format!("{snapshot}/vcpu/vcpu0"))).unwrap();
    let cut = bytes.len() / 2;
    std::fs::write(dir.join("vcpu/vcpu0"), &bytes[..cut]).unwrap();
    (dir, bytes, cut)
}

#[test]
fn damaged_crosvm_fragments_exit_2_naming_the_place() {
    let (dir, _, cut) = cut_crosvm_fragment("crosvm-damaged", "crosvm/user-null-ss");
    for input in [dir.clone(), dir.join("vcpu/vcpu0")] {
        check_refuses(s(&input), &[&format!("offset {cut}"), "truncated"]);
    }
    std::fs::write(dir.join("enc_metadata"), [0u8; 16]).unwrap();
    for input in [dir.clone(), dir.join("vcpu/vcpu0")] {
        check_refuses(s(&input), &["encrypted"]);
    }
    check_refuses(s(&scratch("neither")), &["nor a crosvm snapshot"]);
}

/// The JSON fragments crosvm wrote before 2025-03-11 (the last layout and the first)
/// read as the CBOR ones: `check` on the directory and on one fragment, `snapshot
/// import` at CPL 3 from the user guest and at CPL 0 from the kernel one.
#[test]
fn check_and_import_read_crosvm_json_fragments() {
    for name in [
        "crosvm/json-user-null-ss",
        "crosvm/json-2024-04-user-null-ss",
    ] {
        let label0 = "crosvm (KVM) vCPU 0";
        let states = check_json_user_and_kernel(&fixture(name), 0, label0, "crosvm");
        assert_eq!(states[1]["label"], "crosvm (KVM) vCPU 1");
    }
    check_says(
        &[&fixture("crosvm/json-kernel-cpl0/vcpu/vcpu0")],
        0,
        &[
            "== crosvm (KVM) vCPU 0 [crosvm]: 64-bit mode, CPL 0",
            "JSON hypervisor::VcpuSnapshot, crosvm 2024-07 to 2025-03",
        ],
    );
    let dir = scratch("crosvm-json-import");
    let said = [
        "imported crosvm (KVM) vCPU 0 of 2",
        "JSON hypervisor::VcpuSnapshot",
        "CPL: crosvm Segment",
    ];
    let user = fixture("crosvm/json-user-null-ss");
    let snap = import_user_vcpu(&user, &dir.join("user.snap"), &said, 0x1b);
    assert_eq!(snap.sregs.cs.selector, 0x23);
    let kernel = fixture("crosvm/json-kernel-cpl0");
    let (_, snap) = import_ok(&kernel, &dir.join("kernel.snap"), &[]);
    assert_eq!(snap.cpl, PrivilegeLevel::Ring0);
    assert_eq!(
        (snap.sregs.cs.selector, snap.sregs.ss.selector),
        (0x08, 0x10)
    );
}

#[test]
fn damaged_crosvm_json_fragments_exit_2_naming_the_line_or_field() {
    let (dir, bytes, cut) = cut_crosvm_fragment("crosvm-json-damaged", "crosvm/json-user-null-ss");
    let text = String::from_utf8(bytes).unwrap();
    let place = format!("line 1 column {cut}");
    for input in [dir.clone(), dir.join("vcpu/vcpu0")] {
        check_refuses(
            s(&input),
            &["vcpu/vcpu0: crosvm snapshot", &place, "truncated"],
        );
    }
    let wrong = text.replacen(r#""dpl":3"#, r#""dpl":"3""#, 1);
    std::fs::write(dir.join("vcpu/vcpu0"), wrong).unwrap();
    let said = ["field `sregs.cs.dpl`", "a text string where a u8 belongs"];
    check_refuses(s(&dir), &said);
    let refused = dir.join("refused.snap");
    let (code, _, stderr) = import(s(&dir), &refused, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_contains(&stderr, said[0]);
    assert!(!refused.exists());
}

/// A QEMU migration stream, a libvirt save image, a guest memory dump, a qcow2 image, a
/// segstate snapshot and binary bytes of no importable format are not another VMM's
/// snapshot: import says what each is and what reads it (it said "Cloud Hypervisor
/// snapshot: … not UTF-8 text"), and writes nothing.
#[test]
fn import_names_the_inputs_other_commands_read() {
    let dir = scratch("import-other");
    let stream = fixture("qemu/null-ss-cpl0.migstream");
    let mut libvirt = b"LibvirtQemudSave".to_vec();
    for w in [2u32, 0, 1, 0].iter().chain([0u32; 15].iter()) {
        libvirt.extend_from_slice(&w.to_le_bytes());
    }
    libvirt.extend(std::fs::read(&stream).unwrap());
    let libvirt_image = dir.join("domain.save");
    std::fs::write(&libvirt_image, libvirt).unwrap();
    let snap = dir.join("user.snap");
    import_ok(&fixture("firecracker/user-null-ss.vmstate"), &snap, &[]);
    let vmcore = fixture("vmcore/kvm-user-smp2.elf");
    let qcow2 = fixture("qcow2/kvm-v3-two.qcow2");
    let seed = fixture("hyperfuzzer/rdmsr.bin");
    let cases: [(&str, &[&str]); 6] = [
        (
            &qcow2,
            &["qcow2 image", "magic QFI\\xfb", "`segstate check FILE`"],
        ),
        (
            &seed,
            &[
                "rdmsr.bin: binary file",
                "no importable format",
                "`--format hyperfuzzer`",
            ],
        ),
        (
            &stream,
            &[
                "QEMU migration stream",
                "magic QEVM",
                "`segstate check FILE`",
            ],
        ),
        (
            s(&libvirt_image),
            &["libvirt save image", "`segstate check FILE`"],
        ),
        (s(&snap), &["already a segstate snapshot", "inspect"]),
        (
            &vmcore,
            &[
                "QEMU guest memory dump",
                "segment caches",
                "`segstate check FILE`",
            ],
        ),
    ];
    for (input, said) in cases {
        let refused = dir.join("refused.snap");
        let (code, _, stderr) = import(input, &refused, &[]);
        assert_eq!(code, Some(2), "{stderr}");
        for part in said {
            assert_contains(&stderr, part);
        }
        assert!(!stderr.contains("Cloud Hypervisor"), "{stderr}");
        assert!(!refused.exists());
    }
}

/// An encrypted crosvm snapshot's fragment is ciphertext: named as such, not as bad
/// CBOR, and nothing written.
#[test]
fn import_refuses_an_encrypted_crosvm_fragment() {
    let dir = scratch("crosvm-import");
    let enc = scratch("crosvm-enc");
    std::fs::create_dir_all(enc.join("vcpu")).unwrap();
    std::fs::write(enc.join("vcpu/vcpu0"), [0x5a_u8; 64]).unwrap();
    std::fs::write(enc.join("enc_metadata"), [0u8; 16]).unwrap();
    let refused = dir.join("enc.snap");
    let (code, _, stderr) = import(s(&enc.join("vcpu/vcpu0")), &refused, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("encrypted"), "{stderr}");
    assert!(!refused.exists());
}

#[test]
fn check_streams_a_xen_save_image_and_names_the_stack() {
    check_says(
        &[&fixture("xen/xl-save-hvm-2vcpu.img")],
        0,
        &[
            "== xen (HVM) vCPU 0 [xen]: 64-bit mode, CPL 3",
            "== xen (HVM) vCPU 1 [xen]: 64-bit mode, CPL 0",
            // The AMD SYSRET leftover: SS unusable (P = 0) at CPL 3.
            "arch.ss.null-cpl3",
            "libxc v3 (Xen 4.20)",
            "2 states checked",
        ],
    );

    let v = check_json(
        &[
            "--format",
            "xen",
            &fixture("xen/libxc-v2-legacy-compat.stream"),
        ],
        0,
    );
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
    // VP 1 is judged at the file's CPL 0 in virtual-8086 mode: an error.
    let blob = fixture("hyperv/partition-state-2vp.bin");
    let states = check_json_user_and_kernel(&blob, 1, "hyper-v vCPU 0", "hyperv");
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
    check_refuses(
        s(&cut),
        &[
            "the HVM_CONTEXT record at offset 20923 (0x51bb)",
            "truncated",
        ],
    );
    let mut blob = std::fs::read(fixture("hyperv/partition-state-2vp.bin")).unwrap();
    blob[4500 + 144] = 9;
    let bad = dir.join("bad.bin");
    std::fs::write(&bad, &blob).unwrap();
    let (code, _, stderr) = import(s(&bad), &dir.join("x"), &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("VP 0 cpl at offset 4644"), "{stderr}");
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
    check_says(
        &[s(&vmrs)],
        1,
        &[
            "== hyper-v vCPU 1 [hyperv]: virtual-8086 mode, CPL 0",
            "HyperVStorage 4.0 file",
        ],
    );
    let (code, stdout, stderr) = import(s(&vmrs), &dir.join("a"), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("imported hyper-v vCPU 0 of 2"), "{stdout}");
}

/// wtf's `regs.json`, detected and read with the producer's `attr` encoding named; a
/// cut paste and a bad `attr` exit 2 naming where.
#[test]
fn check_reads_wtf_regs_json_naming_the_attr_encoding() {
    check_says(
        &[&fixture("wtf/hevd-regs.json")],
        0,
        &[
            "== wtf regs.json [wtf]: 64-bit mode, CPL 3",
            "note: es.attr 0xcf3 is bdump's pre-fix 12-bit encoding",
            "note: CPL 3 from SS.DPL",
            "the regs.json lacks DEBUGCTL",
        ],
    );
    check_says(
        &[&fixture("wtf/linuxmode-stackoverflow-regs.json")],
        1,
        &[
            "== wtf regs.json [wtf]: 64-bit mode, CPL 3",
            "note: attr is QEMU's SegmentCache.flags verbatim",
            "vmx.entry.tr.type",
        ],
    );
    let v = check_json(&["--format", "wtf", &fixture("wtf/hevd-regs.json")], 0);
    assert_eq!(v["states"][0]["format"], "wtf");
    assert_eq!(v["states"][0]["cpl"], 3);
    check_refuses(
        &fixture("wtf/issue-34.txt"),
        &["wtf regs.json (from line 13): the file is cut: it ends at line 61 column 6"],
    );
    let dir = scratch("wtf");
    let bad = dir.join("regs.json");
    let text = std::fs::read_to_string(fixture("wtf/hevd-regs.json")).unwrap();
    std::fs::write(&bad, text.replace("\"0x22fb\"", "\"0xzz\"")).unwrap();
    check_refuses(s(&bad), &["cs.attr: \"0xzz\" is not a hex number"]);
    let (_, help, _) = run(&["check", "--help"]);
    assert_contains(&help, "xen, hyperv, xen-hvmctx, wtf");
    // Every format `--format` takes is listed.
    for format in segstate::ingest::InputFormat::ALL {
        let n = format.name();
        assert!(
            help.contains(&format!(" {n},")) || help.contains(&format!(" {n} (")),
            "{n} not in --help"
        );
    }
}

/// `xen-hvmctx` text: `check` reads every vCPU from a file, from standard input and
/// named; `import` takes vCPU 0 with its CPL 3 and its DS from the line labelled `es`;
/// a cut paste exits 2 naming the entry's line and the register missing.
#[test]
fn check_and_import_read_xen_hvmctx_text() {
    let new = fixture("xen/xen-hvmctx-4.22.txt");
    let states = check_json_user_and_kernel(&new, 0, "xen (HVM) vCPU 0", "xen-hvmctx");
    assert!(
        states[0]["notes"][0]
            .as_str()
            .unwrap()
            .contains("`es` line holds DS")
    );
    check_says(
        &[&fixture("xen/xen-hvmctx-4.11.txt")],
        0,
        &[
            "== xen (HVM) vCPU 0 [xen-hvmctx]: 64-bit mode, CPL 3",
            "== xen (HVM) vCPU 1 [xen-hvmctx]: 64-bit mode, CPL 0",
            "arch.ss.null-cpl3",
            "Xen 4.0 to 4.11's layout",
            "2 states checked",
        ],
    );
    let o = segstate_stdin(
        &["check", "--format", "xen-hvmctx", "-"],
        &std::fs::read(&new).unwrap(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_contains(&stdout(&o), "2 states checked");

    let dir = scratch("xen-hvmctx");
    let snap = import_user_vcpu(
        &new,
        &dir.join("v0.snap"),
        &["imported xen (HVM) vCPU 0 of 2"],
        0x2b,
    );
    assert_eq!(snap.sregs.ds.selector, 0x2b);
    assert_eq!(snap.sregs.es.selector, 0);

    let text = std::fs::read_to_string(&new).unwrap();
    let cut = dir.join("cut.txt");
    std::fs::write(&cut, &text[..text.find("             tr 0x0040").unwrap()]).unwrap();
    check_refuses(
        s(&cut),
        &[
            "xen-hvmctx output",
            "line 7",
            "`sysenter cs` is not printed",
        ],
    );
}
