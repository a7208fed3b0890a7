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
    // ALL is in ring order: ring n is the number n.
    for (n, level) in PrivilegeLevel::ALL.into_iter().enumerate() {
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

// ---------------------------------------------------------------------------------------
// The C shapes of `json`: numbers (kvm_segment, kvm_sregs) or hex strings of the
// field's width (the VMCB, VMCS, QEMU and Hyper-V segments).

use segstate::format::hyperv::{HvSegmentAttributes, HvSegmentRegister};
use segstate::format::kvm::{KvmSegment, KvmSregs};
use segstate::format::qemu::{QemuFlags, QemuSegmentCache};
use segstate::format::svm::{SvmAttrib, VmcbSegment};
use segstate::format::vmx::{VmxAccessRights, VmxSegment};
use segstate::json::VmcbSegmentWithCpl;

fn kvm_ss() -> KvmSegment {
    KvmSegment {
        base: 0,
        limit: 0xffff_ffff,
        selector: 0x2b,
        type_: 3,
        present: 0,
        dpl: 3,
        db: 1,
        s: 1,
        l: 0,
        g: 1,
        avl: 0,
        unusable: 1,
        padding: 0,
    }
}

fn kvm_ss_json() -> Value {
    json!({
        "base": 0, "limit": 4294967295u32, "selector": 43, "type": 3, "present": 0,
        "dpl": 3, "db": 1, "s": 1, "l": 0, "g": 1, "avl": 0, "unusable": 1, "padding": 0,
    })
}

#[test]
fn kvm_segment_is_numbers_by_c_name() {
    round_trip(&kvm_ss(), kvm_ss_json());
    // Strings are numbers too; padding may be left out.
    let mut given = kvm_ss_json();
    given["selector"] = json!("0x2b");
    given["limit"] = json!("4294967295");
    given.as_object_mut().unwrap().remove("padding");
    assert_eq!(
        serde_json::from_value::<KvmSegment>(given).unwrap(),
        kvm_ss()
    );
}

#[test]
fn kvm_segment_refuses_with_the_field_named() {
    let mut wide = kvm_ss_json();
    wide["dpl"] = json!(300);
    let e = refused::<KvmSegment>(&wide.to_string());
    assert!(e.contains("field `dpl`: 300 does not fit in 8 bits"), "{e}");
    let mut typo = kvm_ss_json();
    typo["cpl"] = json!(3);
    assert!(refused::<KvmSegment>(&typo.to_string()).contains("unknown field `cpl`"));
    let mut missing = kvm_ss_json();
    missing.as_object_mut().unwrap().remove("avl");
    assert!(refused::<KvmSegment>(&missing.to_string()).contains("missing field `avl`"));
    let mut null = kvm_ss_json();
    null["padding"] = Value::Null;
    assert!(refused::<KvmSegment>(&null.to_string()).contains("field `padding`"));
    let mut negative = kvm_ss_json();
    negative["base"] = json!(-1);
    assert!(refused::<KvmSegment>(&negative.to_string()).contains("-1 is negative"));
}

#[test]
fn kvm_sregs_nests_segments_and_tables() {
    let mut s = KvmSregs {
        cr0: 0x8005_0033,
        efer: 0xd01,
        interrupt_bitmap: [1, 2, 3, 4],
        ..KvmSregs::default()
    };
    s.ss = kvm_ss();
    s.gdt.limit = 63;
    let written = serde_json::to_value(s).unwrap();
    assert_eq!(written["ss"], kvm_ss_json());
    assert_eq!(written["ldt"]["unusable"], json!(0));
    assert_eq!(
        written["gdt"],
        json!({"base": 0, "limit": 63, "padding": [0, 0, 0]})
    );
    assert_eq!(written["interrupt_bitmap"], json!([1, 2, 3, 4]));
    assert_eq!(written["cr0"], json!(0x8005_0033u64));
    assert_eq!(written.as_object().unwrap().len(), 18);
    let back: KvmSregs = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(back, s);

    let mut bad = written.clone();
    bad["ss"]["dpl"] = json!(256);
    let e = refused::<KvmSregs>(&bad.to_string());
    assert!(
        e.contains("ss: field `dpl`: 256 does not fit in 8 bits"),
        "{e}"
    );
    let mut bad = written;
    bad["idt"]["padding"] = json!([0, 0]);
    let e = refused::<KvmSregs>(&bad.to_string());
    assert!(
        e.contains("field `idt.padding`: 2 numbers, expected 3"),
        "{e}"
    );
}

#[test]
fn hex_shapes_are_strings_of_the_field_width() {
    let vmcb = VmcbSegment {
        selector: 0x2b,
        attrib: SvmAttrib(0x0c73),
        limit: 0xffff_ffff,
        base: 0,
    };
    round_trip(
        &vmcb,
        json!({"selector": "0x002b", "attrib": "0x0c73", "limit": "0xffffffff",
               "base": "0x0000000000000000"}),
    );
    let with_cpl = VmcbSegmentWithCpl {
        segment: vmcb,
        cpl: Some(3),
    };
    let written = serde_json::to_value(with_cpl).unwrap();
    assert_eq!(written["cpl"], json!(3));
    assert_eq!(
        serde_json::from_value::<VmcbSegmentWithCpl>(written).unwrap(),
        with_cpl
    );
    let e = refused::<VmcbSegment>(r#"{"selector": 0, "attrib": 65536, "limit": 0, "base": 0}"#);
    assert!(
        e.contains("field `attrib`: 65536 does not fit in 16 bits"),
        "{e}"
    );

    round_trip(
        &VmxSegment {
            selector: 0x2b,
            base: 0,
            limit: 0xffff_ffff,
            access_rights: VmxAccessRights(0x1c0f3),
        },
        json!({"selector": "0x002b", "base": "0x0000000000000000", "limit": "0xffffffff",
               "access_rights": "0x1c0f3"}),
    );
    round_trip(
        &QemuSegmentCache {
            selector: 0x2b,
            base: 0,
            limit: 0xffff_ffff,
            flags: QemuFlags(0x00cf_f300),
        },
        json!({"selector": "0x002b", "base": "0x0000000000000000", "limit": "0xffffffff",
               "flags": "0x00cff300"}),
    );
    round_trip(
        &HvSegmentRegister {
            base: 0,
            limit: 0xffff_ffff,
            selector: 0x2b,
            attributes: HvSegmentAttributes(0xc0f3),
        },
        json!({"base": "0x0000000000000000", "limit": "0xffffffff", "selector": "0x002b",
               "attributes": "0xc0f3"}),
    );
}
