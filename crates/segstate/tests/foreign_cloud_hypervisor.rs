//! The Cloud Hypervisor snapshot reader against a snapshot written by the real
//! cloud-hypervisor v54 (tests/fixtures/cloud-hypervisor/user-null-ss, this host's
//! /dev/kvm): every vCPU's segments and CPL, the same segments Firecracker saved from
//! the same guest, the MSHV variant, and bad files refused with the place named.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use std::path::PathBuf;

use segstate::arch::PrivilegeLevel;
use segstate::format::kvm::KvmSegment;
use segstate::ingest::cloud_hypervisor::{self, MAX_STATE_JSON};
use segstate::ingest::foreign::{ForeignVcpu, Place, Reason, Stack};
use serde_json::{Value, json};

mod foreign_common;
use foreign_common::{
    assert_cloud_hypervisor_ap, assert_guest_star, cloud_hypervisor_read as read,
    cloud_hypervisor_refused as refused, firecracker_user, user_vcpu0,
};
const STATE: &str = include_str!("fixtures/cloud-hypervisor/user-null-ss/state.json");
const USER_LOOP: u64 = 0x10_0099;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cloud-hypervisor/user-null-ss")
}

/// The fixture with vCPU `id`'s inner `CpuState` document changed by `edit`.
fn with_cpu_state(id: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut top: Value = serde_json::from_str(STATE).unwrap();
    let slot = &mut top["snapshots"]["cpu-manager"]["snapshots"][id]["snapshot_data"]["state"];
    let mut inner: Value = serde_json::from_str(slot.as_str().unwrap()).unwrap();
    edit(&mut inner);
    *slot = Value::String(inner.to_string());
    top.to_string()
}

#[test]
fn every_vcpu_with_its_segments_and_cpl() {
    let vcpus = read(STATE);
    let v = user_vcpu0(&vcpus, Stack::CloudHypervisorKvm);
    assert_eq!(v.sregs.cs.selector, 0x23);
    assert_eq!((v.sregs.cs.dpl, v.sregs.cs.l), (3, 1));
    let ss = v.sregs.ss;
    assert_eq!(
        (ss.selector, ss.present, ss.dpl, ss.unusable, ss.limit),
        (0x1b, 1, 3, 0, 0xfff)
    );
    assert!((USER_LOOP..USER_LOOP + 4).contains(&v.regs.rip));
    assert_eq!(v.mp_state, Some(0));
    assert_eq!(v.lapic.as_ref().map(Vec::len), Some(1024));
    assert_guest_star(v);
    assert_cloud_hypervisor_ap(&vcpus);
}

#[test]
fn same_segments_as_firecracker_saved_from_the_same_guest() {
    let ch = read(STATE);
    let fc = firecracker_user();
    let segments = |v: &ForeignVcpu| -> Vec<KvmSegment> { v.sregs.segments().0.to_vec() };
    assert_eq!(segments(&ch[0]), segments(&fc[0]));
    assert_eq!(ch[0].cpl(), fc[0].cpl());
    assert_eq!(ch[0].regs.rax, fc[0].regs.rax);
}

#[test]
fn directory_and_state_json_read_alike() {
    let from_dir = cloud_hypervisor::read_path(&fixture_dir()).unwrap();
    let from_file = cloud_hypervisor::read_path(&fixture_dir().join("state.json")).unwrap();
    assert_eq!(from_dir, from_file);
    assert_eq!(from_dir, read(STATE));
}

/// What Cloud Hypervisor on MSHV writes for a vCPU: mshv-bindings' field-named
/// registers (serde derive), built here from the KVM state of the real fixture, with
/// `unusable` 0 as mshv-bindings reports it.
fn mshv_state(v: &ForeignVcpu) -> Value {
    let seg = |s: &KvmSegment| {
        json!({"base": s.base, "limit": s.limit, "selector": s.selector, "type_": s.type_,
               "present": s.present, "dpl": s.dpl, "db": s.db, "s": s.s, "l": s.l, "g": s.g,
               "avl": s.avl, "unusable": 0, "padding": 0})
    };
    let r = &v.regs;
    let s = &v.sregs;
    json!({"Mshv": {
        "msrs": v.msrs.iter().map(|m| json!({"index": m.index, "data": m.value})).collect::<Vec<_>>(),
        "vcpu_events": {},
        "regs": {"rax": r.rax, "rbx": r.rbx, "rcx": r.rcx, "rdx": r.rdx, "rsi": r.rsi,
                 "rdi": r.rdi, "rsp": r.rsp, "rbp": r.rbp, "r8": r.r8, "r9": r.r9,
                 "r10": r.r10, "r11": r.r11, "r12": r.r12, "r13": r.r13, "r14": r.r14,
                 "r15": r.r15, "rip": r.rip, "rflags": r.rflags},
        "sregs": {"cs": seg(&s.cs), "ds": seg(&s.ds), "es": seg(&s.es), "fs": seg(&s.fs),
                  "gs": seg(&s.gs), "ss": seg(&s.ss), "tr": seg(&s.tr), "ldt": seg(&s.ldt),
                  "gdt": {"base": s.gdt.base, "limit": s.gdt.limit},
                  "idt": {"base": s.idt.base, "limit": s.idt.limit},
                  "cr0": s.cr0, "cr2": s.cr2, "cr3": s.cr3, "cr4": s.cr4, "cr8": s.cr8,
                  "efer": s.efer, "apic_base": s.apic_base,
                  "interrupt_bitmap": s.interrupt_bitmap},
        "fpu": {}, "xcrs": {}, "dbg": {}, "misc": {}, "vp_states": {}
    }})
}

#[test]
fn mshv_variant_is_read_field_by_field() {
    let kvm = read(STATE);
    let mut text = String::from(STATE);
    for v in &kvm {
        text = {
            let state = mshv_state(v);
            let mut top: Value = serde_json::from_str(&text).unwrap();
            top["snapshots"]["cpu-manager"]["snapshots"][v.id.as_str()]["snapshot_data"]["state"] =
                Value::String(state.to_string());
            top.to_string()
        };
    }
    let mshv = read(&text);
    assert_eq!(mshv.len(), 2);
    for (m, k) in mshv.iter().zip(&kvm) {
        assert_eq!(m.stack, Stack::CloudHypervisorMshv);
        assert_eq!(m.sregs, k.sregs, "vCPU {}", k.id);
        assert_eq!(m.regs, k.regs);
        assert_eq!(m.msrs, k.msrs);
        assert_eq!(m.cpl(), k.cpl());
        assert_eq!(m.mp_state, None);
    }
    assert_eq!(mshv[0].cpl(), PrivilegeLevel::Ring3);
}

#[test]
fn recognised_by_its_keys() {
    assert!(cloud_hypervisor::recognise(STATE));
    assert!(!cloud_hypervisor::recognise(r#"{"cs": {"selector": 8}}"#));
    assert!(!cloud_hypervisor::recognise("RAX=0000000000000000"));
}

#[test]
fn truncated_state_json_is_refused_at_its_line_and_column() {
    let e = refused(&STATE[..STATE.len() * 3 / 5]);
    let Place::Text { line, column, .. } = e.place else {
        panic!("expected a text position, got {}", e.place)
    };
    assert!(line >= 1 && column >= 1);
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn wrong_sized_sregs_is_refused_naming_the_field() {
    let text = with_cpu_state("1", |s| {
        s["Kvm"]["sregs"].as_array_mut().unwrap().pop();
    });
    let e = refused(&text);
    assert_eq!(
        e.place,
        Place::Field(String::from(
            "snapshots.cpu-manager.snapshots.1.snapshot_data.state → Kvm.sregs"
        ))
    );
    assert_eq!(
        e.reason,
        Reason::WrongLength {
            what: "struct kvm_sregs",
            expected: 312,
            found: 311
        }
    );
}

#[test]
fn bad_inner_document_is_refused_inside_its_string() {
    let text = with_cpu_state("0", |s| {
        s["Kvm"]["regs"][3] = json!(256);
    });
    let e = refused(&text);
    let Place::Text { field, .. } = &e.place else {
        panic!("expected a text position, got {}", e.place)
    };
    assert!(
        field.contains("inside the JSON string at snapshots.cpu-manager.snapshots.0"),
        "{field}"
    );
}

#[test]
fn missing_vcpus_are_refused() {
    let e =
        refused(r#"{"snapshots": {"device-manager": {"snapshots": {}}}, "snapshot_data": null}"#);
    assert!(matches!(e.reason, Reason::Missing(_)), "{e}");
    let e = refused(r#"{"snapshots": {"cpu-manager": {"snapshots": {}}}}"#);
    assert_eq!(
        e.place,
        Place::Field(String::from("snapshots.cpu-manager.snapshots"))
    );
    let e = refused(r#"{"snapshot_data": null}"#);
    assert!(e.to_string().contains("snapshots"), "{e}");
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = " ".repeat(usize::try_from(MAX_STATE_JSON).unwrap() + 1);
    let e = refused(&big);
    assert!(matches!(e.reason, Reason::TooLarge { .. }), "{e}");
}
