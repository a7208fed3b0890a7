//! `segstate check` on EDK2's CPU exception dumps (OVMF's serial output): read from a
//! real paste, judged for the architecture alone, the mode from the handler's width,
//! and an architecture rule named when the dump breaks it.

mod common;
use common::{code, json, segstate, stdout, temp};

fn dump_fixture(name: &str) -> String {
    common::fixture(&format!("dumps/{name}"))
}

/// The text report: the dialect and verdict first, the mode as far as the X64
/// handler decides it, the architecture as what is judged, the exception in words.
#[test]
fn an_edk2_dump_is_judged_for_the_architecture() {
    let o = segstate(&["check", &dump_fixture("kubevirt-3756.txt")]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("== EDK2 exception dump at line 4 [dump]: no check fails"),
        "{out}"
    );
    assert!(
        lines.next().unwrap().starts_with(
            "   IA-32e mode, 64-bit or compatibility unknown (only CS's selector is in the dump, not its L and D bits), CPL 0; \
             judged for the architecture only (an EDK2 exception dump"
        ),
        "{out}"
    );
    for part in [
        "note: line 4: #PF, vector 14 (`#PF - Page-Fault`)",
        "note: ExceptionData 0x3, #PF's error code: a write (W = 1)",
        "note: EDK2's exception dump shows selectors only (CS 0x38,",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
}

/// `--json`: judged for the architecture, the IA32 handler's mode in words.
#[test]
fn json_names_the_architecture_and_the_ia32_mode() {
    let j = json(&segstate(&[
        "check",
        "--json",
        &dump_fixture("edk2-pr4568-ia32-secboot.txt"),
    ]));
    let s = &j["states"][0];
    assert_eq!(s["judged_for"], "architecture");
    assert_eq!(s["label"], "EDK2 exception dump at line 3");
    assert_eq!(s["mode"], serde_json::Value::Null);
    assert_eq!(
        s["mode_in_words"],
        "protected mode outside IA-32e, 16- or 32-bit unknown (only CS's selector is in the dump, not its L and D bits)"
    );
    assert_eq!(s["errors"], 0);
}

/// CR0 with PG but not PE, which no CPU runs in: the architecture's rule fails and the
/// exit status says so (an IA32 handler's dump, which may show any CR0 with PE set).
#[test]
fn a_broken_cr0_fails_the_architecture() {
    let text = std::fs::read_to_string(dump_fixture("edk2-pr4568-ia32-secboot.txt")).unwrap();
    let broken = text.replace("CR0  - 8001003B", "CR0  - 8001003A");
    assert_ne!(broken, text);
    let path = temp("edk2-ia32-pg-without-pe.txt", broken.as_bytes());
    let o = segstate(&["check", path.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(
        out.lines().next().unwrap().starts_with(
            "== EDK2 exception dump at line 3 [dump]: the state breaks the architecture"
        ),
        "{out}"
    );
}

/// The same CR0 under the X64 handler, which reads CR0 itself and runs only with PE and
/// PG set: the frame is named as no CPU state and nothing of it is judged (sweep 12,
/// cloud-hypervisor#5475), the mode the handler's.
#[test]
fn an_x64_frame_no_cpu_can_hold_is_not_judged() {
    let text = std::fs::read_to_string(dump_fixture("uefi-lessons-38-afaf.txt")).unwrap();
    let broken = text.replace("CR0  - 0000000080010033", "CR0  - 0000000080010032");
    assert_ne!(broken, text);
    let path = temp("edk2-x64-pg-without-pe.txt", broken.as_bytes());
    let o = segstate(&["check", path.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("== EDK2 exception dump at line 4 [dump]: no segment or control register to judge"),
        "{out}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("   IA-32e mode, 64-bit or compatibility unknown"),
        "{out}"
    );
    assert!(
        out.contains("the frame printed is not a CPU state: CR0 0x80010032 has PE clear"),
        "{out}"
    );
}
