//! `segstate check` on NoirVisor's VMCS guest-state dump (the real paste of NoirVisor
//! issue #24): the dialect named, the `Failed at VM-Entry, Code=7` line read as
//! VM-instruction error 7, and the guest state not blamed for it.

mod common;
use common::{code, json, segstate, stdout};

fn paste() -> String {
    common::fixture("dumps/noirvisor-24.txt")
}

/// The text report: the dialect, the dump's line and the verdict first, the exit in
/// words, the cut CR3 named.
#[test]
fn the_dialect_and_the_cut_are_named() {
    let o = segstate(&["check", &paste()]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}");
    assert!(
        out.lines().next().unwrap().starts_with(
            "== NoirVisor VMCS dump at line 5 [dump]: not a guest-state failure: the VMX \
             instruction failed with VM-instruction error 7: VM entry with invalid control \
             field(s)"
        ),
        "{out}"
    );
    for part in [
        "CPL 0; judged for intel",
        "   exit at line 3: the VMX instruction failed with VM-instruction error 7",
        "the guest state is not to blame",
        "note: line 15: NoirVisor's `CR3` value `0x00000004154F00` is not read",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
}

/// `--json`: the exit, read from line 3, is VM-instruction error 7; nothing fails.
#[test]
fn json_names_the_vm_instruction_error() {
    let j = json(&segstate(&["check", "--json", &paste()]));
    let s = &j["states"][0];
    assert_eq!(s["label"], "NoirVisor VMCS dump at line 5");
    assert_eq!(s["judged_for"], "intel");
    assert_eq!(s["cpl"], 0);
    assert_eq!(s["errors"], 0);
    let e = &s["exits"][0];
    assert_eq!(e["line"], 3);
    assert_eq!(e["blames_guest_state"], false);
    let class = e["class"].as_str().unwrap();
    assert!(class.contains("VM-instruction error 7"), "{class}");
}
