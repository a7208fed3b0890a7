//! `segstate check` on qcow2 images with internal snapshots written by QEMU 10.0.2's
//! `savevm` (crates/segstate/tests/fixtures/qcow2): read by path, every snapshot's CPUs
//! labelled with its tag; the same image on standard input is sent back to its path.

mod common;
use common::{assert_contains, code, fixture, json, segstate, segstate_stdin, stderr, stdout};

#[test]
fn check_reads_every_internal_snapshot_of_an_image() {
    let o = segstate(&["check", &fixture("qcow2/kvm-v3-two.qcow2")]);
    let text = stdout(&o);
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    for line in [
        "== qcow2 internal snapshot \"user-a\" (id 1) migration stream CPU 0",
        "== qcow2 internal snapshot \"user-b\" (id 2) migration stream CPU 0",
        "[qcow2]: 64-bit mode, CPL 3",
        "(qcow2 version 3), taken 2026-12-02 ",
        "2 states checked",
    ] {
        assert_contains(&text, line);
    }
    let o = segstate(&["check", "--json", &fixture("qcow2/tcg-v2-sysret.qcow2")]);
    let v = json(&o);
    assert_eq!(v["states"][0]["format"], "qcow2");
    assert_eq!(v["states"][0]["cpl"], 3);
}

#[test]
fn an_image_on_standard_input_is_refused_naming_the_way_to_read_it() {
    let bytes = std::fs::read(fixture("qcow2/kvm-extl2.qcow2")).unwrap();
    let o = segstate_stdin(&["check", "-"], &bytes);
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), "read by path");
}
