//! `check` names the instruction at RIP from QEMU's `Code=` line, in text and JSON.

mod common;
use common::{assert_contains, code, fixture, json, segstate, stdout};

#[test]
fn the_instruction_at_rip_is_named_in_text_and_json() {
    let dump = fixture("dumps/kvm-2020-qcai-kvmrun-enoent.txt");
    let o = segstate(&["check", &dump]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert_contains(
        &stdout(&o),
        "   instruction at RIP (Code= at line 37): wrmsr (0f 30, 64-bit)\n",
    );
    let v = json(&segstate(&["check", "--json", &dump]));
    let i = &v["states"][0]["instruction_at_rip"];
    assert_eq!(i["line"], 37, "{i}");
    assert_eq!(i["status"], "decoded", "{i}");
    assert_eq!(i["bits"], 64, "{i}");
    assert_eq!(i["bytes"], "0f 30", "{i}");
    assert_eq!(i["text"], "wrmsr", "{i}");

    // Encrypted SEV memory: every byte `??`, said so, with no text.
    let v = json(&segstate(&[
        "check",
        "--json",
        &fixture("dumps/amdsev-100.txt"),
    ]));
    let i = &v["states"][0]["instruction_at_rip"];
    assert_eq!(i["status"], "unreadable", "{i}");
    assert!(i["text"].is_null(), "{i}");
    // A dump without a `Code=` line has none.
    let v = json(&segstate(&["check", "--json", &fixture("qemu/reset.txt")]));
    assert!(v["states"][0]["format"].is_string(), "one state: {v}");
    assert!(v["states"][0]["instruction_at_rip"].is_null(), "{v}");

    // KVM's emulation failure with its instruction bytes (extra data, flag 1).
    let dump = fixture("dumps/lkml-2310-cxl-stressng-two-dumps.txt");
    let o = segstate(&["check", &dump]);
    assert_contains(
        &stdout(&o),
        "   instruction KVM could not emulate (the extra data at line 9): xsave64 [rdi] \
         (48 0f ae 27, 64-bit)\n",
    );
    let v = json(&segstate(&["check", "--json", &dump]));
    let i = &v["states"][0]["emulated_instruction"];
    assert_eq!(i["text"], "xsave64 [rdi]", "{i}");
    assert_eq!(i["line"], 9, "{i}");
    assert!(v["states"][1]["emulated_instruction"].is_null(), "{v}");
}
