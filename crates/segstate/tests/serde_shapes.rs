//! The `serde` feature: every core type round-trips (serialize → deserialize → equal),
//! its JSON has the shape written here by hand, and a value no field can hold is refused
//! with the value named.
#![cfg(feature = "serde")]

use segstate::arch::{
    Attributes, PerSegReg, PrivilegeLevel, SegReg, Segment, SegmentState, SegmentType, Selector,
    Vendor,
};
use segstate::check::{self, Severity};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Serializes, compares with `expected`, deserializes back and compares with `value`.
fn round_trip<T>(value: &T, expected: Value)
where
    T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug,
{
    let written = serde_json::to_value(value).unwrap();
    assert_eq!(written, expected);
    let text = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, value);
}

fn refused<T: DeserializeOwned + core::fmt::Debug>(text: &str) -> String {
    match serde_json::from_str::<T>(text) {
        Ok(v) => panic!("{text} was accepted as {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn user_data() -> Attributes {
    Attributes {
        segment_type: SegmentType::DATA_RW_ACCESSED,
        s: true,
        dpl: PrivilegeLevel::Ring3,
        present: true,
        avl: false,
        l: false,
        db: true,
        g: true,
    }
}

fn attributes_json(type_: u8, dpl: u8, present: bool) -> Value {
    json!({
        "segment_type": type_, "s": true, "dpl": dpl, "present": present,
        "avl": false, "l": false, "db": true, "g": true,
    })
}

fn user_ss() -> Segment {
    Segment::null(Selector(0x2b), user_data())
}

#[test]
fn selector_is_its_number() {
    round_trip(&Selector(0x2b), json!(43));
    assert!(refused::<Selector>("65536").contains("65536"));
}

#[test]
fn privilege_level_is_its_number_and_4_is_refused() {
    for (level, n) in [
        (PrivilegeLevel::Ring0, 0),
        (PrivilegeLevel::Ring1, 1),
        (PrivilegeLevel::Ring2, 2),
        (PrivilegeLevel::Ring3, 3),
    ] {
        round_trip(&level, json!(n));
    }
    let e = refused::<PrivilegeLevel>("4");
    assert!(e.contains("privilege level 4 is out of range 0..=3"), "{e}");
}

#[test]
fn segment_type_is_its_number_and_16_is_refused() {
    round_trip(&SegmentType::TSS_BUSY_TYPE, json!(11));
    let e = refused::<SegmentType>("16");
    assert!(e.contains("segment type 16 is out of range 0..=15"), "{e}");
}

#[test]
fn seg_reg_is_its_name() {
    for reg in SegReg::ALL {
        round_trip(&reg, json!(reg.name()));
    }
    // Any spelling the command line takes.
    assert_eq!(
        serde_json::from_str::<SegReg>("\"ldt\"").unwrap(),
        SegReg::Ldtr
    );
    let e = refused::<SegReg>("\"xs\"");
    assert!(e.contains("xs"), "{e}");
}

#[test]
fn vendor_and_severity_are_lower_case_names() {
    round_trip(&Vendor::Intel, json!("intel"));
    round_trip(&Vendor::Amd, json!("amd"));
    round_trip(&Severity::Error, json!("error"));
    round_trip(&Severity::Warning, json!("warning"));
    round_trip(&Severity::Info, json!("info"));
    assert!(refused::<Vendor>("\"via\"").contains("via"));
}

#[test]
fn attributes_and_segment_have_every_field() {
    round_trip(&user_data(), attributes_json(3, 3, true));
    round_trip(
        &user_ss(),
        json!({
            "selector": 0x2b, "base": 0, "limit": 0,
            "attributes": attributes_json(3, 3, false), "unusable": true,
        }),
    );
    // A typo is an error, not an ignored field.
    let mut typo = serde_json::to_value(user_ss()).unwrap();
    typo["unusuable"] = json!(true);
    let e = refused::<Segment>(&typo.to_string());
    assert!(e.contains("unknown field `unusuable`"), "{e}");
    // The DPL inside is range-checked too.
    let mut bad = serde_json::to_value(user_ss()).unwrap();
    bad["attributes"]["dpl"] = json!(4);
    let e = refused::<Segment>(&bad.to_string());
    assert!(e.contains("privilege level 4"), "{e}");
}

fn state() -> SegmentState {
    let mut segments = PerSegReg([Segment::flat(Selector(0x2b), user_data()); 8]);
    segments[SegReg::Ss] = user_ss();
    segments[SegReg::Cs].selector = Selector(0x33);
    SegmentState {
        segments,
        cpl: PrivilegeLevel::Ring3,
        cr0: 0x8005_0033,
        cr4: 0x0020,
        efer: 0x0d01,
        rflags: 0x202,
    }
}

#[test]
fn segment_state_keys_its_segments_by_register() {
    let s = state();
    let written = serde_json::to_value(s).unwrap();
    let segments = written["segments"].as_object().unwrap();
    let keys: Vec<&str> = segments.keys().map(String::as_str).collect();
    let mut names: Vec<&str> = SegReg::ALL.iter().map(|r| r.name()).collect();
    names.sort_unstable();
    assert_eq!(keys, names);
    assert_eq!(segments["SS"]["unusable"], json!(true));
    assert_eq!(segments["CS"]["selector"], json!(0x33));
    assert_eq!(written["cpl"], json!(3));
    assert_eq!(written["efer"], json!(0x0d01));
    let back: SegmentState = serde_json::from_value(written).unwrap();
    assert_eq!(back, s);
}

#[test]
fn segment_state_refuses_a_missing_or_repeated_register() {
    let mut missing = serde_json::to_value(state()).unwrap();
    missing["segments"].as_object_mut().unwrap().remove("TR");
    let e = refused::<SegmentState>(&missing.to_string());
    assert!(e.contains("register TR is missing"), "{e}");

    let text = serde_json::to_string(&state()).unwrap();
    let repeated = text.replacen("\"ES\":", "\"es\":", 1);
    let repeated = repeated.replacen("\"CS\":", "\"ES\":", 1);
    let e = refused::<SegmentState>(&repeated);
    assert!(e.contains("register ES given twice"), "{e}");

    let mut cpl = serde_json::to_value(state()).unwrap();
    cpl["cpl"] = json!(7);
    let e = refused::<SegmentState>(&cpl.to_string());
    assert!(e.contains("privilege level 7"), "{e}");
}

#[test]
fn a_finding_is_the_cli_shape() {
    let mut s = state();
    s.segments[SegReg::Cs].attributes.dpl = PrivilegeLevel::Ring0;
    let findings = check::arch::check(&s);
    let f = findings
        .iter()
        .find(|f| f.reg.is_some())
        .expect("a CS.DPL at CPL 3 has a per-register finding");
    assert_eq!(
        serde_json::to_value(f).unwrap(),
        json!({
            "severity": f.severity.to_string(),
            "id": f.id.id(),
            "segment": f.reg.map(SegReg::name),
            "field": f.field,
            "expected": f.expected,
            "found": f.found,
            "reference": f.reference,
        })
    );
}
