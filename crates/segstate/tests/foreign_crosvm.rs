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
use segstate::format::kvm::KvmSegment;
use segstate::ingest::crosvm::{self, MAX_FRAGMENT};
use segstate::ingest::foreign::{ForeignVcpu, IngestError, Place, Reason, Stack};
use segstate::ingest::{InputFormat, foreign_inputs, foreign_vcpus_at};

mod foreign_common;
use foreign_common::{assert_guest_star, firecracker_user, user_vcpu0};
const VCPU0: &[u8] = include_bytes!("fixtures/crosvm/user-null-ss/vcpu/vcpu0");
/// `user_loop` in the crosvm build of tools/foreign-fixtures/guest.S (linked at 2 MiB).
const USER_LOOP: u64 = 0x20_00a3;
/// "SEGSTATE", the guest's marker in RAX.
const MARKER: u64 = 0x5345_4753_5441_5445;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crosvm/user-null-ss")
}

fn read(bytes: &[u8]) -> ForeignVcpu {
    let mut v = crosvm::read(bytes, "vcpu0").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn refused(bytes: &[u8]) -> IngestError {
    match crosvm::read(bytes, "vcpu0") {
        Ok(v) => panic!("expected a refusal, read {v:?}"),
        Err(e) => e,
    }
}

fn field(e: &IngestError) -> &str {
    match &e.place {
        Place::Field(f) => f,
        other => panic!("expected a field, got {other:?}: {e}"),
    }
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
    let v = user_vcpu0(&vcpus, Stack::Crosvm);
    assert_eq!(v.sregs.cs.selector, 0x23);
    assert_eq!(
        (v.sregs.cs.dpl, v.sregs.cs.l, v.sregs.cs.present),
        (3, 1, 1)
    );
    let ss = v.sregs.ss;
    assert_eq!((ss.selector, ss.dpl), (0x1b, 3));
    assert_eq!(v.regs.rax, MARKER);
    assert!(
        (USER_LOOP..USER_LOOP + 4).contains(&v.regs.rip),
        "{:#x}",
        v.regs.rip
    );
    assert_eq!(v.sregs.efer & 0x501, 0x501, "LME, LMA and SCE");
    assert_guest_star(v);
    assert_eq!(v.debug_regs.as_ref().map(Vec::len), Some(128));

    let ap = &vcpus[1];
    assert_eq!(ap.id, "1");
    assert_eq!(ap.stack, Stack::Crosvm);
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
    let dir = fixture_dir().with_file_name("kernel-cpl0");
    let vcpus = crosvm::read_path(&dir).unwrap();
    let k = &vcpus[0];
    assert_eq!(k.cpl(), PrivilegeLevel::Ring0);
    assert_eq!((k.sregs.cs.selector, k.sregs.ss.selector), (0x08, 0x10));
    assert_eq!(k.regs.rax, MARKER);
    // `kernel_loop` of the KERNEL_ONLY build: `pause`, `jmp`.
    assert!(
        (0x20_008e..0x20_0092).contains(&k.regs.rip),
        "{:#x}",
        k.regs.rip
    );
    // vCPU 1 was never sent INIT/SIPI: the reset state crosvm's AP keeps, real mode.
    let ap = &vcpus[1];
    assert_eq!(ap.cpl(), PrivilegeLevel::Ring0);
    assert_eq!(
        (ap.sregs.cs.selector, ap.sregs.cs.base),
        (0xf000, 0xffff_0000)
    );
    assert_eq!(ap.regs.rip, 0xfff0);
    assert_eq!(ap.sregs.cr0 & 1, 0, "real mode");
}

#[test]
fn same_user_segments_as_firecracker_saved_from_the_same_guest() {
    let cv = read(VCPU0);
    let fc = firecracker_user();
    // CS, SS (SYSRET) and DS, ES, FS, GS (the guest's own loads); TR and LDT are what
    // each VMM set up before the guest ran.
    let user = |v: &ForeignVcpu| -> Vec<KvmSegment> {
        let s = &v.sregs;
        [s.cs, s.ss, s.ds, s.es, s.fs, s.gs]
            .into_iter()
            .map(|seg| KvmSegment { unusable: 0, ..seg })
            .collect()
    };
    assert_eq!(user(&cv), user(&fc[0]));
    assert_eq!(cv.cpl(), fc[0].cpl());
    assert_eq!(cv.regs.rax, fc[0].regs.rax);
}

#[test]
fn directory_namespace_and_fragment_read_alike() {
    let dir = fixture_dir();
    let whole = crosvm::read_path(&dir).unwrap();
    assert_eq!(crosvm::read_path(&dir.join("vcpu")).unwrap(), whole);
    assert_eq!(
        crosvm::read_path(&dir.join("vcpu/vcpu0")).unwrap(),
        whole[..1]
    );
    assert_eq!(read(VCPU0), whole[0]);
    // Detected as crosvm's without being told.
    assert_eq!(foreign_vcpus_at(&dir).unwrap(), whole);
    assert_eq!(
        foreign_vcpus_at(&dir.join("vcpu/vcpu1")).unwrap(),
        whole[1..]
    );
    assert_eq!(
        segstate::ingest::foreign_dir_format(&dir),
        Some(InputFormat::Crosvm)
    );
    assert_eq!(
        segstate::ingest::detect(VCPU0).unwrap(),
        InputFormat::Crosvm
    );
}

#[test]
fn check_sees_every_vcpu_with_the_stack_named() {
    let vcpus = crosvm::read_path(&fixture_dir()).unwrap();
    let inputs = foreign_inputs(&vcpus).unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0].label, "crosvm (KVM) vCPU 0");
    assert_eq!(inputs[0].state.cpl, PrivilegeLevel::Ring3);
    assert!(inputs[0].notes.iter().any(|n| n.contains("CPL = SS.DPL")));
    // Through the bytes path `check` uses for a single fragment.
    let read = segstate::ingest::read(VCPU0, None).unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].state, inputs[0].state);
}

#[test]
fn import_makes_the_cpl_explicit() {
    let v = read(VCPU0);
    let snap = v.to_snapshot(0);
    assert_eq!(snap.cpl, PrivilegeLevel::Ring3);
    assert_eq!(snap.sregs, v.sregs);
    assert!(!snap.cpl_disagrees());
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
