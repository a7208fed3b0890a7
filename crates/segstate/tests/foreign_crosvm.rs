//! The crosvm snapshot reader against a snapshot written by crosvm itself
//! (tests/fixtures/crosvm/user-null-ss, this host's /dev/kvm; see its README): every
//! vCPU's segments and CPL, what crosvm's KVM backend makes of a null segment, the same
//! user segments Firecracker saved from the same guest, and bad fragments refused with
//! the file, the field or offset and the reason named.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use std::path::{Path, PathBuf};

use ciborium::value::Value;
use segstate::arch::PrivilegeLevel;
use segstate::ingest::crosvm::{self, MAX_FRAGMENT};
use segstate::ingest::foreign::{Place, Reason};
use segstate::ingest::foreign_inputs;

mod foreign_common;
use foreign_common::{
    assert_crosvm_check_and_import, assert_crosvm_kernel, assert_crosvm_read_alike, crosvm_fixture,
    crosvm_read as read, crosvm_refused as refused, crosvm_user_vcpu0, field, firecracker_user,
    user_segments,
};
const VCPU0: &[u8] = include_bytes!("fixtures/crosvm/user-null-ss/vcpu/vcpu0");

fn fixture_dir() -> PathBuf {
    crosvm_fixture("user-null-ss")
}

/// vCPU 0's fragment as a CBOR value, changed by `edit`, encoded again.
fn edited(edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let mut value: Value = ciborium::from_reader(VCPU0).unwrap();
    let Value::Map(top) = &mut value else {
        panic!("a fragment is a map")
    };
    edit(top);
    let mut out = Vec::new();
    ciborium::into_writer(&value, &mut out).unwrap();
    out
}

fn entry<'a>(map: &'a mut [(Value, Value)], key: &str) -> &'a mut Value {
    map.iter_mut()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {key}"))
}

fn map(v: &mut Value) -> &mut Vec<(Value, Value)> {
    match v {
        Value::Map(m) => m,
        other => panic!("not a map: {other:?}"),
    }
}

#[test]
fn every_vcpu_with_its_segments_and_cpl() {
    let vcpus = crosvm::read_path(&fixture_dir()).unwrap_or_else(|e| panic!("{e}"));
    let v = crosvm_user_vcpu0(&vcpus);
    assert!(v.format.contains("CBOR"), "{}", v.format);
    assert_eq!(vcpus[1].id, "1");
}

#[test]
fn null_segments_become_unusable_as_crosvm_hands_them_to_kvm() {
    // This backend reported every segment present, so none is unusable.
    for v in crosvm::read_path(&fixture_dir()).unwrap() {
        assert!(
            v.sregs.segments().0.iter().all(|s| s.unusable == 0),
            "vCPU {}",
            v.id
        );
    }
    // crosvm's Segment has no unusable field: P = 0 is its only null, and its KVM
    // backend restores it with unusable = 1. The DPL (the CPL) is kept.
    let null_ss = edited(|top| {
        *entry(map(entry(map(entry(top, "sregs")), "ss")), "present") = Value::from(0);
    });
    let v = read(&null_ss);
    assert_eq!((v.sregs.ss.present, v.sregs.ss.unusable), (0, 1));
    assert_eq!(v.sregs.cs.unusable, 0);
    assert_eq!(v.cpl(), PrivilegeLevel::Ring3);
}

#[test]
fn kernel_fixture_and_the_never_started_vcpu() {
    let vcpus = crosvm::read_path(&crosvm_fixture("kernel-cpl0")).unwrap();
    assert_crosvm_kernel(&vcpus);
}

#[test]
fn same_user_segments_as_firecracker_saved_from_the_same_guest() {
    let cv = read(VCPU0);
    let fc = firecracker_user();
    // TR and LDT are what each VMM set up before the guest ran.
    assert_eq!(user_segments(&cv), user_segments(&fc[0]));
    assert_eq!(cv.cpl(), fc[0].cpl());
    assert_eq!(cv.regs.rax, fc[0].regs.rax);
}

#[test]
fn directory_namespace_and_fragment_read_alike() {
    let whole = assert_crosvm_read_alike(&fixture_dir(), VCPU0);
    assert_eq!(whole.len(), 2);
}

#[test]
fn check_and_import_see_every_vcpu_with_the_stack_named() {
    let vcpus = crosvm::read_path(&fixture_dir()).unwrap();
    assert_crosvm_check_and_import(&vcpus, VCPU0);
}

#[test]
fn truncated_fragments_are_refused_at_their_end() {
    for cut in [1, VCPU0.len() / 3, VCPU0.len() - 1] {
        let e = refused(&VCPU0[..cut]);
        assert_eq!(e.place, Place::Offset(cut), "{e}");
        assert!(e.to_string().contains("truncated"), "{e}");
        assert_eq!(e.format, crosvm::FORMAT);
    }
}

#[test]
fn bytes_after_the_item_are_refused() {
    let mut longer = VCPU0.to_vec();
    longer.push(0);
    let e = refused(&longer);
    assert_eq!(e.place, Place::Offset(VCPU0.len()));
    assert!(e.to_string().contains("1 bytes follow"), "{e}");
}

#[test]
fn a_corrupt_key_names_the_field() {
    // "vcpu_id" → "vcpu_ie": an unknown field of VcpuSnapshot.
    let mut bytes = VCPU0.to_vec();
    bytes[8] = b'e';
    let e = refused(&bytes);
    assert_eq!(field(&e), "vcpu_ie");
    assert!(e.to_string().contains("unknown field"), "{e}");
    // A reserved initial byte (0x1c) is not CBOR: the offset is named.
    let mut bytes = VCPU0.to_vec();
    bytes[0] = 0x1c;
    let e = refused(&bytes);
    assert_eq!(e.place, Place::Offset(0), "{e}");
}

#[test]
fn wrong_types_and_ranges_name_the_field() {
    let text = edited(|top| {
        let ss = entry(map(entry(map(entry(top, "sregs")), "ss")), "dpl");
        *ss = Value::Text(String::from("3"));
    });
    let e = refused(&text);
    assert_eq!(field(&e), "sregs.ss.dpl");
    assert!(
        e.to_string().contains("a text string where a u8 belongs"),
        "{e}"
    );

    let wide = edited(|top| {
        *entry(map(entry(map(entry(top, "sregs")), "cs")), "selector") = Value::from(0x1_0000);
    });
    let e = refused(&wide);
    assert_eq!(field(&e), "sregs.cs.selector");
    assert!(e.to_string().contains("65536 does not fit a u16"), "{e}");

    let negative = edited(|top| *entry(map(entry(top, "regs")), "rip") = Value::from(-1));
    assert_eq!(field(&refused(&negative)), "regs.rip");

    let missing =
        edited(|top| map(entry(top, "sregs")).retain(|(k, _)| k.as_text() != Some("efer")));
    let e = refused(&missing);
    assert_eq!(field(&e), "sregs.efer");
    assert!(e.to_string().contains("missing"), "{e}");

    let not_a_map = edited(|top| *entry(top, "sregs") = Value::Array(vec![]));
    assert_eq!(field(&refused(&not_a_map)), "sregs");

    let other_backend = edited(|top| *entry(top, "hypervisor_data") = Value::Null);
    let e = refused(&other_backend);
    assert_eq!(field(&e), "hypervisor_data");
    assert!(e.to_string().contains("KVM HypervisorState"), "{e}");
}

#[test]
fn crosvm_before_july_2025_saved_the_bare_vcpu_events() {
    // From March to July 2025 (crosvm 72d733e7e to 25fd04b43) `hypervisor_data` was
    // `AnySnapshot::to_any(VcpuEvents)`: what `interrupts` holds today.
    let before = edited(|top| {
        let events = entry(map(entry(top, "hypervisor_data")), "interrupts").clone();
        *entry(top, "hypervisor_data") = events;
    });
    let then = read(&before);
    let now = read(VCPU0);
    assert_eq!(then.sregs, now.sregs);
    assert_eq!(then.cpl(), now.cpl());

    // Neither shape: named, with both shapes in the message.
    let neither = edited(|top| {
        let events = map(entry(map(entry(top, "hypervisor_data")), "interrupts"));
        events.retain(|(k, _)| k.as_text() != Some("smi"));
        let events = Value::Map(events.clone());
        *entry(top, "hypervisor_data") = events;
    });
    let e = refused(&neither);
    assert_eq!(field(&e), "hypervisor_data");
    assert!(e.to_string().contains("nor the bare VcpuEvents"), "{e}");
}

#[test]
fn a_flag_byte_crosvm_stores_but_kvm_would_refuse_is_named_by_check() {
    // Any u8 decodes (crosvm's field is a u8); check's strict decode names it.
    let odd = edited(|top| {
        *entry(map(entry(map(entry(top, "sregs")), "ss")), "dpl") = Value::from(7);
    });
    let v = read(&odd);
    let e = foreign_inputs(&[v]).unwrap_err();
    assert!(e.0.contains("crosvm (KVM) vCPU 0: sregs.ss.dpl"), "{e}");
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("segstate-crosvm-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("vcpu")).unwrap();
    d
}

fn copy_vcpus(to: &Path) {
    for n in ["vcpu0", "vcpu1"] {
        std::fs::copy(fixture_dir().join("vcpu").join(n), to.join("vcpu").join(n)).unwrap();
    }
}

#[test]
fn directories_that_are_not_plain_crosvm_snapshots_are_refused() {
    let enc = scratch("enc");
    copy_vcpus(&enc);
    std::fs::write(enc.join("enc_metadata"), [0u8; 32]).unwrap();
    for path in [enc.clone(), enc.join("vcpu"), enc.join("vcpu/vcpu0")] {
        let e = crosvm::read_path(&path).unwrap_err();
        assert!(matches!(e.reason, Reason::Encrypted(_)), "{e}");
        assert!(e.to_string().contains("enc_metadata"), "{e}");
    }

    let stray = scratch("stray");
    copy_vcpus(&stray);
    std::fs::write(stray.join("vcpu/notes.txt"), "x").unwrap();
    let e = crosvm::read_path(&stray).unwrap_err();
    assert_eq!(field(&e), "vcpu/notes.txt");
    assert!(e.to_string().contains("unknown fragment"), "{e}");

    let renamed = scratch("renamed");
    std::fs::copy(fixture_dir().join("vcpu/vcpu0"), renamed.join("vcpu/vcpu5")).unwrap();
    let e = crosvm::read_path(&renamed).unwrap_err();
    assert_eq!(field(&e), "vcpu_id");
    assert!(
        e.to_string().contains("named vcpu5 but holds vCPU 0"),
        "{e}"
    );

    let empty = scratch("empty");
    let e = crosvm::read_path(&empty).unwrap_err();
    assert!(matches!(e.reason, Reason::Missing(_)), "{e}");

    let big = scratch("big");
    let f = std::fs::File::create(big.join("vcpu/vcpu0")).unwrap();
    f.set_len(MAX_FRAGMENT + 1).unwrap();
    let e = crosvm::read_path(&big).unwrap_err();
    assert!(matches!(e.reason, Reason::TooLarge { .. }), "{e}");
    assert!(e.file.ends_with("vcpu0"), "{e}");

    for d in [enc, stray, renamed, empty, big] {
        let _ = std::fs::remove_dir_all(d);
    }
}
