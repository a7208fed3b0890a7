//! The crosvm snapshot reader against the JSON fragments crosvm wrote before its
//! snapshots became CBOR (2025-03-11), taken on this host's /dev/kvm by crosvm
//! `35bd2439e` (tests/fixtures/crosvm/json-user-null-ss, json-kernel-cpl0) and by crosvm
//! `c3ecf1a77` of April 2024, the first JSON layout (json-2024-04-user-null-ss); see the
//! fixtures' README. Every vCPU's segments and CPL, the same as today's CBOR fragment
//! holds for the same guest, each layout of the era, and damaged fragments refused with
//! the file and the line or field named.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use segstate::ingest::crosvm;
use segstate::ingest::foreign::{ForeignVcpu, IngestError, Place, Reason};

mod foreign_common;
use foreign_common::{
    assert_crosvm_check_and_import, assert_crosvm_kernel, assert_crosvm_read_alike,
    assert_crosvm_reset_ap, crosvm_fixture, crosvm_read, crosvm_refused, crosvm_user_vcpu0, field,
    user_segments,
};

/// vCPU 0 of crosvm `35bd2439e`'s snapshot: the last JSON layout.
const VCPU0: &str = include_str!("fixtures/crosvm/json-user-null-ss/vcpu/vcpu0");
/// vCPU 0 of crosvm `c3ecf1a77`'s snapshot: the first JSON layout.
const VCPU0_2024: &str = include_str!("fixtures/crosvm/json-2024-04-user-null-ss/vcpu/vcpu0");
/// vCPU 0 of today's crosvm (CBOR), the same guest.
const CBOR_VCPU0: &[u8] = include_bytes!("fixtures/crosvm/user-null-ss/vcpu/vcpu0");

fn read(text: &str) -> ForeignVcpu {
    crosvm_read(text.as_bytes())
}

fn refused(text: &[u8]) -> IngestError {
    crosvm_refused(text)
}

/// `text` with the one occurrence of `old` after the first `after` replaced by `new`.
#[track_caller]
fn edited(text: &str, after: &str, old: &str, new: &str) -> String {
    let start = text.find(after).expect("anchor") + after.len();
    let at = start + text[start..].find(old).expect("text to replace");
    format!("{}{new}{}", &text[..at], &text[at + old.len()..])
}

#[test]
fn every_vcpu_with_its_segments_and_cpl() {
    let vcpus = crosvm::read_path(&crosvm_fixture("json-user-null-ss")).unwrap();
    let v = crosvm_user_vcpu0(&vcpus);
    assert!(
        v.format.contains("JSON hypervisor::VcpuSnapshot"),
        "{}",
        v.format
    );
    // The SS SYSRET left: P = 1 and the attributes the fixtures' README lists.
    let ss = v.sregs.ss;
    assert_eq!((ss.present, ss.unusable, ss.type_), (1, 0, 3));
    assert_eq!((ss.db, ss.g, ss.limit), (1, 1, 0xfff));
    assert_eq!((v.regs.rip, v.sregs.efer), (0x20_00a5, 0x501));
    assert_crosvm_reset_ap(&vcpus[1]);
}

#[test]
fn the_segments_todays_crosvm_saved_from_the_same_guest() {
    let json = read(VCPU0);
    let cbor = crosvm_read(CBOR_VCPU0);
    assert_eq!(user_segments(&json), user_segments(&cbor));
    assert_eq!(json.cpl(), cbor.cpl());
    assert_eq!(
        (json.regs.rax, json.regs.r11),
        (cbor.regs.rax, cbor.regs.r11)
    );
    assert!(cbor.format.contains("CBOR"), "{}", cbor.format);
}

#[test]
fn kernel_fixture_at_cpl0() {
    let vcpus = crosvm::read_path(&crosvm_fixture("json-kernel-cpl0")).unwrap();
    assert_crosvm_kernel(&vcpus);
    assert!(vcpus[0].format.contains("JSON"), "{}", vcpus[0].format);
}

#[test]
fn the_first_json_layout_register_lists_and_segment_limit() {
    // crosvm of April 2024: `Segment.limit`, `xcrs` and `msrs` as lists of {id, value}.
    assert!(VCPU0_2024.contains(r#""limit":4095"#));
    assert!(VCPU0_2024.contains(r#""xcrs":[{"id":0,"value":1}]"#));
    let vcpus = crosvm::read_path(&crosvm_fixture("json-2024-04-user-null-ss")).unwrap();
    let old = crosvm_user_vcpu0(&vcpus);
    let era = "crosvm 2024-01 to 2024-04";
    assert!(old.format.contains(era), "{}", old.format);
    assert_eq!(user_segments(old), user_segments(&read(VCPU0)));
    assert_eq!(old.msrs.len(), 40);
    assert_crosvm_reset_ap(&vcpus[1]);
}

#[test]
fn the_middle_json_layout_limit_with_register_maps() {
    // crosvm from 2024-04-09 to 2024-07-26 wrote the maps with `Segment.limit`.
    let middle = VCPU0.replace(r#""limit_bytes":"#, r#""limit":"#);
    let v = read(&middle);
    assert!(
        v.format.contains("crosvm 2024-04 to 2024-07"),
        "{}",
        v.format
    );
    let new = read(VCPU0);
    assert_eq!((v.sregs, v.msrs.len()), (new.sregs, new.msrs.len()));
}

#[test]
fn layouts_crosvm_never_wrote_are_refused() {
    // One segment with the other name: every segment has its layout's field.
    let mixed = edited(VCPU0, r#""ss":"#, r#""limit_bytes":"#, r#""limit":"#);
    let e = refused(mixed.as_bytes());
    assert_eq!(field(&e), "sregs.ss.limit");
    assert!(e.to_string().contains("unknown field"), "{e}");
    // Register lists never went with `limit_bytes`.
    let mixed = edited(VCPU0_2024, r#""cs":"#, r#""limit":"#, r#""limit_bytes":"#);
    assert_eq!(field(&refused(mixed.as_bytes())), "sregs.cs.limit_bytes");
    // Nor `xcrs` a map with `msrs` a list.
    let mixed = VCPU0_2024.replace(r#""xcrs":[{"id":0,"value":1}]"#, r#""xcrs":{"0":1}"#);
    let e = refused(mixed.as_bytes());
    assert_eq!(field(&e), "xcrs");
    assert!(
        e.to_string().contains("a map where an array belongs"),
        "{e}"
    );
    // HypervisorState {interrupts, nested_state} came in the CBOR era.
    let start = VCPU0.find(r#""hypervisor_data":"#).unwrap() + r#""hypervisor_data":"#.len();
    let end = VCPU0.find(r#","tsc_offset""#).unwrap();
    let events = &VCPU0[start..end];
    let state = format!(
        "{}{{\"interrupts\":{events},\"nested_state\":[]}}{}",
        &VCPU0[..start],
        &VCPU0[end..]
    );
    let e = refused(state.as_bytes());
    assert_eq!(field(&e), "hypervisor_data");
    assert!(e.to_string().contains("bare VcpuEvents"), "{e}");
}

#[test]
fn directory_namespace_and_fragment_read_alike() {
    let whole = assert_crosvm_read_alike(&crosvm_fixture("json-user-null-ss"), VCPU0.as_bytes());
    // A pretty-printed copy (whitespace between the tokens) is the same fragment.
    let pretty = VCPU0.replace(',', ",\n  ").replace('{', "{\n  ");
    assert!(crosvm::recognise(pretty.as_bytes()));
    assert_eq!(read(&pretty), whole[0]);
}

#[test]
fn check_and_import_see_every_vcpu_with_the_stack_named() {
    let vcpus = crosvm::read_path(&crosvm_fixture("json-user-null-ss")).unwrap();
    assert_crosvm_check_and_import(&vcpus, VCPU0.as_bytes());
}

#[test]
fn a_cut_fragment_is_refused_at_its_line_and_column() {
    let bytes = VCPU0.as_bytes();
    for cut in [1, bytes.len() / 3, bytes.len() - 1] {
        let e = refused(&bytes[..cut]);
        let Place::Text { line, column, .. } = e.place else {
            panic!("expected a line and column: {e}")
        };
        // serde_json writes one line; the error is where the text stops.
        assert_eq!((line, column), (1, cut), "{e}");
        assert!(e.to_string().contains("truncated"), "{e}");
        assert_eq!((e.format, e.file.as_str()), (crosvm::FORMAT, "vcpu0"));
    }
}

#[test]
fn what_follows_the_document_is_refused_but_whitespace() {
    let e = refused(format!("{VCPU0}{{}}").as_bytes());
    assert!(
        matches!(e.place, Place::Text { line: 1, column, .. } if column == VCPU0.len() + 1),
        "{e}"
    );
    assert!(e.to_string().contains("trailing characters"), "{e}");
    assert_eq!(read(&format!("{VCPU0}\n")), read(VCPU0));
}

#[test]
fn wrong_fields_are_named_by_their_path() {
    let cases: [(String, &str, &str); 8] = [
        (
            edited(VCPU0, r#""ss":"#, r#""dpl":3"#, r#""dpl":"3""#),
            "sregs.ss.dpl",
            "a text string where a u8 belongs",
        ),
        (
            edited(VCPU0, r#""cs":"#, r#""selector":35"#, r#""selector":65536"#),
            "sregs.cs.selector",
            "65536 does not fit a u16",
        ),
        (
            edited(VCPU0, r#""regs":"#, r#""rip":2097317"#, r#""rip":-1"#),
            "regs.rip",
            "-1 does not fit a u64",
        ),
        (
            edited(
                VCPU0,
                r#""regs":"#,
                r#""rip":2097317"#,
                r#""rip":2097317.0"#,
            ),
            "regs.rip",
            "a float where a u64 belongs",
        ),
        (
            edited(
                VCPU0,
                r#""regs":"#,
                r#""rip":2097317"#,
                r#""rip":18446744073709551616"#,
            ),
            "regs.rip",
            "a float where a u64 belongs",
        ),
        (
            VCPU0.replacen(r#""vcpu_id":0"#, r#""vcpu_ie":0"#, 1),
            "vcpu_ie",
            "unknown field",
        ),
        (
            edited(VCPU0, r#""regs":"#, r#""rax":"#, r#""rbx":0,"rax":"#),
            "regs.rbx",
            "appears twice",
        ),
        (
            edited(VCPU0, r#""msrs":"#, r#""16":"#, r#""016":"#),
            "msrs.016",
            "not a u32 in decimal",
        ),
    ];
    for (text, path, said) in cases {
        let e = refused(text.as_bytes());
        assert_eq!(field(&e), path, "{e}");
        assert!(e.to_string().contains(said), "{e}");
        assert!(e.to_string().starts_with("vcpu0: crosvm snapshot: "), "{e}");
    }
    // A missing field.
    let missing = VCPU0.replace(r#","efer":1281"#, "");
    let e = refused(missing.as_bytes());
    assert_eq!(field(&e), "sregs.efer");
    assert!(e.to_string().contains("missing"), "{e}");
}

#[test]
fn bad_fragments_in_a_directory_name_the_file() {
    let dir = std::env::temp_dir().join(format!("segstate-crosvm-json-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("vcpu")).unwrap();
    std::fs::write(dir.join("vcpu/vcpu0"), VCPU0).unwrap();
    let cut = &VCPU0[..VCPU0.len() / 2];
    std::fs::write(dir.join("vcpu/vcpu1"), cut).unwrap();
    let e = crosvm::read_path(&dir).unwrap_err();
    assert!(e.file.ends_with("vcpu/vcpu1"), "{e}");
    assert!(matches!(e.place, Place::Text { line: 1, .. }), "{e}");
    assert!(matches!(e.reason, Reason::Layout(_)), "{e}");
    // Named vcpu1, it holds vCPU 0.
    std::fs::write(dir.join("vcpu/vcpu1"), VCPU0).unwrap();
    let e = crosvm::read_path(&dir).unwrap_err();
    assert_eq!(field(&e), "vcpu_id");
    let _ = std::fs::remove_dir_all(&dir);
}
