//! `segstate check --format hyperfuzzer` on the seeds HyperFuzzer's own scripts write
//! (crates/segstate/tests/fixtures/hyperfuzzer): the state judged and the instruction at
//! CS:RIP named, from a file or standard input; never guessed without `--format`.

mod common;
use common::{assert_contains, code, fixture, json, segstate, segstate_stdin, stderr, stdout};

#[test]
fn a_seed_is_judged_and_its_first_instruction_named() {
    let path = fixture("hyperfuzzer/syscall.bin");
    let o = segstate(&["check", "--format", "hyperfuzzer", &path]);
    let text = stdout(&o);
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    for line in [
        "== HyperFuzzer VM state [hyperfuzzer]: 64-bit mode, CPL 3",
        "CPL 3 from SS.DPL: REG_FILE has no CPL",
        "   instruction at RIP (guest memory: linear 0x20b0, 4-level paging, physical 0x20b0): \
         syscall (0f 05, 64-bit)\n",
        "REG_FILE has no LDTR",
        "summary: 0 errors, 0 warnings",
    ] {
        assert_contains(&text, line);
    }
}

#[test]
fn json_carries_the_format_the_cpl_and_the_instruction() {
    let bytes = std::fs::read(fixture("hyperfuzzer/vmxon.bin")).unwrap();
    let o = segstate_stdin(&["check", "--json", "--format", "hyperfuzzer", "-"], &bytes);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let state = &v["states"][0];
    assert_eq!(state["format"], "hyperfuzzer");
    assert_eq!(state["cpl"], 0);
    assert_eq!(state["mode"], "32-bit protected mode");
    let i = &state["instruction_at_rip"];
    assert_eq!(i["line"], serde_json::Value::Null, "{i}");
    assert_eq!(
        (i["linear"].as_u64(), i["physical"].as_u64()),
        (Some(0x20a0), Some(0x20a0)),
        "{i}"
    );
    assert_eq!(i["bits"], 32, "{i}");
    assert_eq!(i["bytes"], "f3 0f c7 35 98 20 00 00", "{i}");
    assert_eq!(i["text"], "vmxon qword ptr ds:[0x2098]", "{i}");
}

#[test]
fn unnamed_it_is_refused_naming_the_format_and_a_mutation_is_judged() {
    let path = fixture("hyperfuzzer/rdmsr.bin");
    let o = segstate(&["check", &path]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    let err = stderr(&o);
    assert_contains(&err, "rdmsr.bin: 551 bytes of binary input");
    assert_contains(&err, "`--format hyperfuzzer`");

    // SS.DPL 0 under the DPL-3 code segment of the syscall seed: CPL 0, CS faults.
    let mut bytes = std::fs::read(fixture("hyperfuzzer/syscall.bin")).unwrap();
    bytes[172 + 14] &= !0x60;
    let o = segstate_stdin(&["check", "--format", "hyperfuzzer", "-"], &bytes);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_contains(&stdout(&o), "arch.cs.dpl-cpl");

    let o = segstate_stdin(&["check", "--format", "hyperfuzzer", "-"], &bytes[..100]);
    assert_eq!(code(&o), 2);
    assert_contains(
        &stderr(&o),
        "standard input: HyperFuzzer VM state: offset 100: the input ends inside the 396-byte REG_FILE",
    );
}
