//! `segstate check` on the QEMU guest memory dumps QEMU 10.0.2 wrote of the fixture guest
//! (crates/segstate/tests/fixtures/vmcore): detected by magic, read from a file or from
//! standard input, every vCPU judged; cut dumps refused naming the input and the place.

mod common;
use common::{
    assert_contains, code, fixture, json, segstate, segstate_stdin, stderr, stdout, temp,
};

#[test]
fn check_reads_every_vcpu_of_an_elf_dump() {
    let o = segstate(&["check", &fixture("vmcore/kvm-user-smp2.elf")]);
    let text = stdout(&o);
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    for line in [
        "== QEMU guest memory dump CPU 0 (QEMU note at offset 0x",
        "[vmcore]: 64-bit mode, CPL 3",
        "== QEMU guest memory dump CPU 1 (QEMU note at offset 0x",
        "[vmcore]: real mode, CPL 0",
        "ELF64 core, EM_X86_64",
        "EFER is not in a QEMU dump's CPU note: CS.L = 1 is 64-bit mode",
        "2 states checked",
    ] {
        assert_contains(&text, line);
    }
}

#[test]
fn check_streams_a_flattened_kdump_from_standard_input() {
    let bytes = std::fs::read(fixture("vmcore/kvm-user.kdump-zlib")).unwrap();
    let o = segstate_stdin(&["check", "--json", "-"], &bytes);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let state = &v["states"][0];
    assert_eq!(state["format"], "vmcore");
    assert_eq!(state["cpl"], 3);
    let notes: Vec<&str> = state["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("kdump-compressed (zlib, flattened)")),
        "{notes:?}"
    );
}

#[test]
fn a_cut_dump_exits_2_naming_the_input_and_the_place() {
    let bytes = std::fs::read(fixture("vmcore/tcg-sysret-null-ss.elf")).unwrap();
    let cut = temp("cut.vmcore", &bytes[..700]);
    let o = segstate(&["check", cut.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    let e = stderr(&o);
    for part in [
        "cut.vmcore",
        "QEMU guest memory dump",
        "the notes at offset",
        "truncated",
    ] {
        assert_contains(&e, part);
    }
    // Forced on text, the format says what it expected.
    let o = segstate(&[
        "check",
        "--format",
        "vmcore",
        &fixture("vmcore/tcg-pm32.elf.txt"),
    ]);
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), "magic");
}
