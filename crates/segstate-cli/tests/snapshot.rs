//! `segstate snapshot`, end to end.

use std::path::{Path, PathBuf};

use segstate::snapshot::VcpuSnapshot;

mod common;
use common::{s, scratch, segstate, stderr, stdout};

fn kvm_present(test: &str) -> bool {
    if Path::new("/dev/kvm").exists() {
        return true;
    }
    if std::env::var("SEGSTATE_REQUIRE_KVM").as_deref() == Ok("1") {
        panic!("{test}: /dev/kvm is absent and SEGSTATE_REQUIRE_KVM=1");
    }
    println!("skipping {test}: /dev/kvm not present");
    false
}

fn corpus(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/corpus/snapshots/v1")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn help_has_examples() {
    for args in [
        &["snapshot", "--help"][..],
        &["snapshot", "save", "--help"],
        &["snapshot", "restore", "--help"],
        &["snapshot", "inspect", "--help"],
        &["snapshot", "diff", "--help"],
    ] {
        let o = segstate(args);
        assert!(o.status.success(), "{args:?}");
        assert!(stdout(&o).contains("Examples:"), "{args:?}");
    }
}

#[test]
fn inspect_shows_cpl_segments_and_safety() {
    let o = segstate(&["snapshot", "inspect", &corpus("harness-user-null-ss.snap")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    assert!(t.contains("format 1.0"), "{t}");
    assert!(t.contains("CPL 3 (explicit); SS.DPL 3"), "{t}");
    assert!(t.contains("restore check (intel): safe"), "{t}");
    let o = segstate(&[
        "snapshot",
        "inspect",
        "--json",
        &corpus("harness-kernel.snap"),
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["cpl"], 0);
    assert_eq!(j["restore_check"]["safe"], true);
    assert_eq!(j["segments"]["cs"]["selector"], "0x8");
}

#[test]
fn unreadable_input_exits_2_naming_the_problem() {
    let d = scratch("unreadable");
    let good = std::fs::read(corpus("example-user-null-ss.snap")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "garbage.snap",
            b"hello world, not a snapshot".to_vec(),
            "not a segstate snapshot",
        ),
        ("short.snap", good[..good.len() - 100].to_vec(), "truncated"),
        (
            "flipped.snap",
            {
                let mut b = good.clone();
                b[400] ^= 1;
                b
            },
            "checksum mismatch",
        ),
        ("missing.snap", vec![], "No such file"),
    ];
    for (name, bytes, want) in cases {
        let p = d.join(name);
        if !bytes.is_empty() {
            std::fs::write(&p, bytes).unwrap();
        }
        for sub in ["inspect", "restore"] {
            let o = segstate(&["snapshot", sub, s(&p)]);
            assert_eq!(o.status.code(), Some(2), "{sub} {name}: {}", stderr(&o));
            assert!(stderr(&o).contains(want), "{sub} {name}: {}", stderr(&o));
        }
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn diff_explains_privilege_changes() {
    let d = scratch("diff");
    let a = corpus("harness-user-null-ss.snap");
    let o = segstate(&["snapshot", "diff", &a, &a]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("identical"));
    let mut snap = VcpuSnapshot::read_file(&a).unwrap();
    snap.sregs.ss.dpl = 0;
    let b = d.join("altered.snap");
    snap.write_file(&b).unwrap();
    let o = segstate(&["snapshot", "diff", &a, s(&b)]);
    assert_eq!(o.status.code(), Some(1));
    let t = stdout(&o);
    assert!(
        t.contains("! SS.DPL 3 → 0: CPL changes, privilege escalation"),
        "{t}"
    );
    let o = segstate(&["snapshot", "diff", "--json", &a, s(&b)]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["identical"], false);
    assert_eq!(j["privilege_changes"], 1);
    assert_eq!(j["differences"][0]["field"], "SS.DPL");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn save_restore_refuse_repair_live() {
    if !kvm_present("save_restore_refuse_repair_live") {
        return;
    }
    let d = scratch("live");
    let p = d.join("user.snap");
    let o = segstate(&["snapshot", "save", s(&p), "--at", "user-null-ss"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("CPL 3"));
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");

    let o = segstate(&["snapshot", "restore", s(&p)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("PASS"), "{}", stdout(&o));

    let mut snap = VcpuSnapshot::read_file(&p).unwrap();
    snap.sregs.ss.dpl = 0;
    let bad = d.join("altered.snap");
    snap.write_file(&bad).unwrap();
    let o = segstate(&["snapshot", "restore", s(&bad)]);
    assert_eq!(o.status.code(), Some(1));
    // Each refusal on a line of its own, not an escaped `\n`.
    let err = stderr(&o);
    assert!(
        err.lines().any(|l| l.starts_with(
            "  SS.DPL 0 disagrees with the snapshot's CPL 3: restoring would run user code at CPL 0"
        )),
        "{err}"
    );
    assert!(!err.contains("\\n"), "{err}");
    let o = segstate(&["snapshot", "restore", s(&bad), "--repair", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["verdict"], "PASS");
    assert_eq!(j["changes"][0]["field"], "SS.DPL");

    for at in ["user", "kernel"] {
        let p = d.join(format!("{at}.snap"));
        assert!(
            segstate(&["snapshot", "save", s(&p), "--at", at])
                .status
                .success()
        );
        for vendor in ["intel", "amd"] {
            let o = segstate(&["snapshot", "restore", s(&p), "--target-vendor", vendor]);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{at} {vendor}: {}{}",
                stdout(&o),
                stderr(&o)
            );
        }
    }
    std::fs::remove_dir_all(&d).unwrap();
}
