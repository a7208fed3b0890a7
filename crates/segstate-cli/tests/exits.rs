//! Exit statuses and flag checks that say what happened: `snapshot diff` apart from
//! the TSC, `snapshot save` refusing an unwritable destination before the guest runs,
//! and flag ranges with messages that match them.

use std::process::Command;

use segstate::snapshot::MsrEntry;

mod common;
use common::{assert_contains, scratch, segstate, stderr, stdout};

#[test]
fn diff_exits_0_for_the_tsc_alone_and_1_for_a_real_difference() {
    let d = scratch("diff");
    let mut a = segstate::testing::example_user_null_ss();
    a.msrs.retain(|m| m.index != segstate::arch::msr::TSC);
    a.msrs.push(MsrEntry {
        index: segstate::arch::msr::TSC,
        value: 0x1_0000,
    });
    let mut b = a.clone();
    b.msrs.last_mut().unwrap().value = 0x2_0000;
    let (pa, pb) = (d.join("a.snap"), d.join("b.snap"));
    a.write_file(&pa).unwrap();
    b.write_file(&pb).unwrap();
    let o = segstate(&[
        "snapshot",
        "diff",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_contains(&stdout(&o), "(expected) MSR 0x10 (TSC)");
    assert!(stdout(&o).contains("the same state"), "{}", stdout(&o));
    b.regs.rip += 2;
    b.write_file(&pb).unwrap();
    let o = segstate(&[
        "snapshot",
        "diff",
        "--json",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["real_differences"], 1);
    assert_eq!(v["expected_differences"], 1);
    assert_eq!(v["same_state"], false);
}

#[test]
fn save_refuses_an_unwritable_destination_before_running_the_guest() {
    let d = scratch("save");
    for (dest, why) in [
        (d.join("missing/x.snap"), "cannot be written"),
        (d.clone(), "is a directory"),
    ] {
        let o = segstate(&["snapshot", "save", dest.to_str().unwrap()]);
        // 2: found before the guest ran (a guest or KVM failure is 1).
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(why), "{}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    assert_eq!(
        std::fs::read_dir(&d).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn flags_are_refused_with_the_range_they_take() {
    for (args, why) in [
        (
            &["audit", "--no-live", "--timeout", "0"][..],
            "more than 0 and at most 3600",
        ),
        (
            &["audit", "--no-live", "--timeout", "-1"][..],
            "more than 0 and at most 3600",
        ),
        (
            &["audit", "--no-live", "--timeout", "3601"][..],
            "more than 0 and at most 3600",
        ),
        (&["audit", "--no-live", "--jobs", "0"][..], "at least 1"),
        (
            &["audit", "--no-live", "--storm-cycles", "0"][..],
            "at least 1",
        ),
        (&["audit", "--no-live", "--jobs", "-2"][..], "at least 1"),
        (
            &["snapshot", "save", "x.snap", "--timeout", "-1"][..],
            "more than 0",
        ),
        (
            &["snapshot", "restore", "x.snap", "--timeout", "0"][..],
            "more than 0",
        ),
    ] {
        let o = segstate(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains(why), "{args:?}: {e}");
        assert!(!e.contains("unexpected argument"), "{args:?}: {e}");
    }
}

/// Progress goes to stderr on a terminal only: `script` gives the command one, and a
/// pipe (CI logs) gets nothing.
#[test]
fn progress_shows_on_a_terminal_and_nowhere_else() {
    let bin = env!("CARGO_BIN_EXE_segstate");
    let piped = segstate(&["verify", "--chain", "verbatim > kvm-vmx"]);
    assert!(piped.status.success());
    assert!(stderr(&piped).is_empty(), "{}", stderr(&piped));
    let Ok(o) = Command::new("script")
        .args([
            "-qec",
            &format!("{bin} verify --chain verbatim >/dev/null"),
            "/dev/null",
        ])
        .env("SEGSTATE_PROGRESS_AFTER_MS", "0")
        .output()
    else {
        println!("skipping the terminal half: no `script` (util-linux)");
        return;
    };
    assert!(o.status.success(), "{}", stderr(&o));
    assert_contains(&stdout(&o), "verifying 1 chain(s)");
}

/// `check` and `convert` waiting on a terminal say what they wait for; from a pipe
/// they do not.
#[test]
fn a_terminal_on_stdin_gets_a_hint() {
    let bin = env!("CARGO_BIN_EXE_segstate");
    for (args, what) in [
        ("check", "a vCPU state"),
        ("convert", "a segment or kvm_sregs"),
    ] {
        let piped = Command::new(bin)
            .arg(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(piped.status.code(), Some(2));
        assert!(!stderr(&piped).contains("Ctrl-D"), "{}", stderr(&piped));
        // `script` runs the command on a terminal; its own stdin at EOF ends the input.
        let Ok(o) = Command::new("script")
            .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
        else {
            println!("skipping the terminal half: no `script` (util-linux)");
            continue;
        };
        let shown = stdout(&o);
        assert!(
            shown.contains(&format!("segstate: reading {what}")) && shown.contains("Ctrl-D"),
            "{shown:?}"
        );
    }
}
