//! The Cloud Hypervisor reader against the layouts of v15 to v38, with snapshots the real
//! programs wrote on this host's /dev/kvm from the same guest as the v54 fixture
//! (tests/fixtures/cloud-hypervisor/README.md):
//!
//! - `v18-user-null-ss/vm.json`: Cloud Hypervisor v18.0, the v15–v25 layout (a
//!   `vcpu-section` holding the bare `VcpuKvmState`, kvm structs by field name);
//! - `v28-user-null-ss/state.json`: Cloud Hypervisor v28.0 (its kvm-bindings fork
//!   reconstructed), the v26–v28 layout (a `vcpu-section` holding a tagged `CpuState`);
//! - `v38-user-null-ss/state.json`: Cloud Hypervisor v38.0 (its kvm-bindings fork
//!   reconstructed), the v29–v38 layout (`snapshot_data` the bytes of a tagged
//!   `CpuState`).
//!
//! Each vCPU reads exactly as the v39+ layout reads the same state (the v54 fixture's
//! vCPU 0 segments, and a v39 document made from the old one), the v18 file with its
//! states tagged reads as v28's layout, and damaged files are refused at the field.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use std::path::PathBuf;

use segstate::arch::PrivilegeLevel;
use segstate::format::kvm::KvmSegment;
use segstate::ingest::cloud_hypervisor;
use segstate::ingest::foreign::{ForeignVcpu, IngestError, Place, Reason, Stack};
use serde_json::{Value, json};

mod foreign_common;
use foreign_common::{
    assert_cloud_hypervisor_ap, assert_guest_star, cloud_hypervisor_read as read,
    cloud_hypervisor_refused as refused, user_vcpu0,
};

const V18: &str = include_str!("fixtures/cloud-hypervisor/v18-user-null-ss/vm.json");
const V28: &str = include_str!("fixtures/cloud-hypervisor/v28-user-null-ss/state.json");
const V38: &str = include_str!("fixtures/cloud-hypervisor/v38-user-null-ss/state.json");
const V54: &str = include_str!("fixtures/cloud-hypervisor/user-null-ss/state.json");
const USER_LOOP: u64 = 0x10_0099;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cloud-hypervisor")
        .join(name)
}

fn bytes_of(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
        .collect()
}

/// The vCPU node `id` of the snapshot `top`.
fn node<'a>(top: &'a mut Value, id: &str) -> &'a mut Value {
    &mut top["snapshots"]["cpu-manager"]["snapshots"][id]
}

/// Where the inner document of vCPU `id` is in `top`: the section's bytes (v15–v28) or
/// the node's `snapshot_data` bytes (v29–v38).
fn inner_slot<'a>(top: &'a mut Value, id: &str) -> &'a mut Value {
    let data = &mut node(top, id)["snapshot_data"];
    if data.get("vcpu-section").is_some() {
        &mut data["vcpu-section"]["snapshot"]
    } else {
        data
    }
}

/// `text` with vCPU `id`'s inner document (the JSON bytes) changed by `edit`.
fn with_inner(text: &str, id: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut top: Value = serde_json::from_str(text).unwrap();
    let slot = inner_slot(&mut top, id);
    let mut inner: Value = serde_json::from_slice(&bytes_of(slot)).unwrap();
    edit(&mut inner);
    *slot = json!(serde_json::to_vec(&inner).unwrap());
    top.to_string()
}

fn segments(v: &ForeignVcpu) -> Vec<KvmSegment> {
    v.sregs.segments().0.to_vec()
}

/// `v` and `w` are the same vCPU state, whatever layout each came from.
#[track_caller]
fn same_state(v: &ForeignVcpu, w: &ForeignVcpu) {
    let strip = |v: &ForeignVcpu| ForeignVcpu {
        format: String::new(),
        ..v.clone()
    };
    assert_eq!(strip(v), strip(w));
}

#[test]
fn v18_vm_json_every_vcpu_with_its_segments_and_cpl() {
    let vcpus = read(V18);
    let v = user_vcpu0(&vcpus, Stack::CloudHypervisorKvm);
    assert_eq!(
        v.format,
        "Cloud Hypervisor snapshot (v15–v25 layout), bare VcpuKvmState"
    );
    let ss = v.sregs.ss;
    assert_eq!(
        (ss.selector, ss.present, ss.dpl, ss.unusable, ss.limit, ss.g),
        (0x1b, 1, 3, 0, 0xfff, 1)
    );
    assert_eq!(
        (v.sregs.cs.selector, v.sregs.cs.dpl, v.sregs.cs.l),
        (0x23, 3, 1)
    );
    assert_eq!(v.sregs.gdt.padding, [0; 3]);
    assert!((USER_LOOP..USER_LOOP + 4).contains(&v.regs.rip));
    assert_eq!(v.regs.rax, 0x5345_4753_5441_5445, "\"SEGSTATE\"");
    assert_eq!(v.mp_state, Some(0));
    assert_eq!(v.lapic.as_ref().map(Vec::len), Some(1024));
    let events = v.vcpu_events.as_ref().unwrap();
    assert_eq!(events.len(), 64);
    assert_eq!(events[20..24], 13u32.to_le_bytes(), "flags 13");
    assert_eq!(v.msrs.len(), 40, "kvm_msrs.nmsrs");
    assert_guest_star(v);
    assert_cloud_hypervisor_ap(&vcpus);
}

#[test]
fn v38_state_json_every_vcpu_with_its_segments_and_cpl() {
    let vcpus = read(V38);
    let v = user_vcpu0(&vcpus, Stack::CloudHypervisorKvm);
    assert_eq!(
        v.format,
        "Cloud Hypervisor snapshot (v29–v38 layout), CpuState::Kvm"
    );
    assert_eq!(
        (v.sregs.ss.selector, v.sregs.ss.dpl, v.sregs.ss.present),
        (0x1b, 3, 1)
    );
    assert!((USER_LOOP..USER_LOOP + 4).contains(&v.regs.rip));
    assert_eq!(v.mp_state, Some(0));
    assert_eq!(v.vcpu_events.as_ref().unwrap()[20..24], 13u32.to_le_bytes());
    assert_guest_star(v);
    assert_cloud_hypervisor_ap(&vcpus);
}

#[test]
fn v28_state_json_names_its_vcpus_000_and_001() {
    let vcpus = read(V28);
    let ids: Vec<&str> = vcpus.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["000", "001"]);
    let v = &vcpus[0];
    assert_eq!(
        v.format,
        "Cloud Hypervisor snapshot (v26–v28 layout), CpuState::Kvm"
    );
    assert_eq!(
        (v.stack, v.cpl()),
        (Stack::CloudHypervisorKvm, PrivilegeLevel::Ring3)
    );
    assert_eq!((v.sregs.ss.selector, v.sregs.ss.dpl), (0x1b, 3));
    assert!((USER_LOOP..USER_LOOP + 4).contains(&v.regs.rip));
    assert_eq!(v.vcpu_events.as_ref().unwrap()[20..24], 13u32.to_le_bytes());
    assert_guest_star(v);
    assert_eq!(
        (vcpus[1].mp_state, vcpus[1].cpl()),
        (Some(1), PrivilegeLevel::Ring0)
    );
}

#[test]
fn old_layouts_give_the_segments_v54_saved_from_the_same_guest() {
    let v54 = read(V54);
    for (name, text) in [("v18", V18), ("v28", V28), ("v38", V38)] {
        let old = read(text);
        for (o, n) in old.iter().zip(&v54) {
            assert_eq!(segments(o), segments(n), "{name} vCPU {}", o.id);
            assert_eq!(o.cpl(), n.cpl(), "{name} vCPU {}", o.id);
            assert_eq!((o.sregs.cr0, o.sregs.efer), (n.sregs.cr0, n.sregs.efer));
        }
        assert_eq!(old[0].regs.rax, v54[0].regs.rax, "{name}");
        // The same STAR, LSTAR and EFER MSRs as v54 saved (v54 saves more of them).
        for m in &old[0].msrs {
            if let Some(n) = v54[0].msrs.iter().find(|n| n.index == m.index)
                && [0xc000_0080, 0xc000_0081, 0xc000_0082].contains(&m.index)
            {
                assert_eq!(m.value, n.value, "{name} MSR {:#x}", m.index);
            }
        }
    }
}

/// The v39+ `state.json` node holding `v`: `regs`, `sregs`, `vcpu_events` and
/// `mp_state` as the C bytes, as v39 writes them.
fn v39_node(v: &ForeignVcpu) -> Value {
    let regs: Vec<u8> = v
        .regs
        .to_array()
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    let lapic: Vec<i8> = v
        .lapic
        .as_ref()
        .unwrap()
        .iter()
        .map(|&b| i8::from_le_bytes([b]))
        .collect();
    let state = json!({"Kvm": {
        "cpuid": [],
        "msrs": v.msrs.iter().map(|m| json!({"index": m.index, "data": m.value})).collect::<Vec<_>>(),
        "vcpu_events": v.vcpu_events,
        "regs": regs,
        "sregs": v.sregs.to_bytes().to_vec(),
        "fpu": [],
        "lapic_state": {"regs": lapic},
        "xsave": [],
        "xcrs": [],
        "mp_state": v.mp_state.unwrap().to_le_bytes(),
    }});
    json!({"snapshots": {}, "snapshot_data": {"state": state.to_string()}})
}

#[test]
fn each_vcpu_reads_as_the_v39_layout_reads_the_same_state() {
    for text in [V18, V28, V38] {
        let old = read(text);
        let mut cpus = serde_json::Map::new();
        for v in &old {
            cpus.insert(v.id.clone(), v39_node(v));
        }
        let v39 = json!({"snapshots": {"cpu-manager": {"snapshots": cpus, "snapshot_data": null}}});
        let new = read(&v39.to_string());
        assert_eq!(new.len(), old.len());
        for (n, o) in new.iter().zip(&old) {
            assert!(n.format.contains("(v39+ layout)"), "{}", n.format);
            same_state(n, o);
        }
    }
}

/// The v18 file as v26–v28 write it: each section's state inside `{"Kvm": …}`, with
/// Cloud Hypervisor's own `MsrEntry {index, data}` and `LapicState {regs}`.
fn as_v26(text: &str) -> String {
    let mut out = String::from(text);
    for id in ["0", "1"] {
        out = with_inner(&out, id, |s| {
            let entries = s["msrs"][1].as_array().unwrap().clone();
            s["msrs"] = entries
                .iter()
                .map(|e| json!({"index": e["index"], "data": e["data"]}))
                .collect();
            s["lapic_state"] = json!({"regs": s["lapic_state"].take()});
            *s = json!({"Kvm": s.take()});
        });
    }
    out
}

#[test]
fn v26_to_v28_tagged_state_in_a_section_reads_alike() {
    let v18 = read(V18);
    let v26 = read(&as_v26(V18));
    assert_eq!(
        v26[0].format,
        "Cloud Hypervisor snapshot (v26–v28 layout), CpuState::Kvm"
    );
    for (n, o) in v26.iter().zip(&v18) {
        same_state(n, o);
    }
    // v25–v28 name their vCPUs "000", "001": still ordered as numbers.
    let mut top: Value = serde_json::from_str(&as_v26(V18)).unwrap();
    let cpus = top["snapshots"]["cpu-manager"]["snapshots"]
        .as_object_mut()
        .unwrap();
    for (old, new) in [("1", "001"), ("0", "000")] {
        let n = cpus.remove(old).unwrap();
        cpus.insert(String::from(new), n);
    }
    let ids: Vec<String> = read(&top.to_string()).into_iter().map(|v| v.id).collect();
    assert_eq!(ids, ["000", "001"]);
}

#[test]
fn vcpu_events_without_triple_fault_as_before_kvm_bindings_0_7() {
    // v29–v37's fork (on kvm-bindings 0.6) has 27 reserved bytes and no triple_fault.
    let text = with_inner(V38, "0", |s| {
        let e = &mut s["Kvm"]["vcpu_events"];
        e.as_object_mut().unwrap().remove("triple_fault");
        e["reserved"].as_array_mut().unwrap().push(json!(0));
    });
    same_state(&read(&text)[0], &read(V38)[0]);
    // With triple_fault, 26 are expected.
    let text = with_inner(V38, "0", |s| {
        s["Kvm"]["vcpu_events"]["reserved"]
            .as_array_mut()
            .unwrap()
            .push(json!(0));
    });
    let e = refused(&text);
    assert_eq!(
        e.place,
        Place::Field(String::from(
            "snapshots.cpu-manager.snapshots.0.snapshot_data → Kvm.vcpu_events"
        ))
    );
    assert!(
        matches!(
            e.reason,
            Reason::WrongLength {
                expected: 26,
                found: 27,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn directories_with_vm_json_or_state_json_read_alike() {
    let dir = cloud_hypervisor::read_path(&fixture("v18-user-null-ss")).unwrap();
    let file = cloud_hypervisor::read_path(&fixture("v18-user-null-ss/vm.json")).unwrap();
    assert_eq!(dir, file);
    assert_eq!(dir, read(V18));
    for (name, text) in [("v28-user-null-ss", V28), ("v38-user-null-ss", V38)] {
        assert_eq!(
            cloud_hypervisor::read_path(&fixture(name)).unwrap(),
            read(text)
        );
    }
    assert!(
        [V18, V28, V38]
            .iter()
            .all(|t| cloud_hypervisor::recognise(t))
    );
}

/// The text field of a `Place::Text` error.
#[track_caller]
fn text_field(e: &IngestError) -> &str {
    match &e.place {
        Place::Text { field, .. } => field,
        other => panic!("expected a text position, got {other}"),
    }
}

#[test]
fn truncated_files_are_refused_at_their_line_and_column() {
    for text in [V18, V28, V38] {
        let e = refused(&text[..text.len() / 2]);
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(text_field(&e).contains("Snapshot tree"), "{e}");
    }
}

#[test]
fn kvm_segment_missing_dpl_is_refused_naming_the_segment() {
    let text = with_inner(V38, "0", |s| {
        s["Kvm"]["sregs"]["ss"]
            .as_object_mut()
            .unwrap()
            .remove("dpl");
    });
    let e = refused(&text);
    assert_eq!(
        text_field(&e),
        "inside the JSON bytes at snapshots.cpu-manager.snapshots.0.snapshot_data \
         → Kvm.sregs.ss (hypervisor::CpuState, v29–v38 layout)"
    );
    assert!(e.to_string().contains("missing field `dpl`"), "{e}");

    let text = with_inner(V18, "1", |s| {
        s["sregs"]["ss"].as_object_mut().unwrap().remove("dpl");
    });
    let e = refused(&text);
    assert_eq!(
        text_field(&e),
        "inside the JSON bytes at snapshots.cpu-manager.snapshots.1.snapshot_data.\
         vcpu-section.snapshot → sregs.ss (VcpuKvmState, v15–v25 layout)"
    );
    assert!(e.to_string().contains("missing field `dpl`"), "{e}");
}

#[test]
fn extra_fields_and_numbers_too_wide_are_refused() {
    let text = with_inner(V38, "0", |s| s["Kvm"]["sregs"]["cs"]["cpl"] = json!(3));
    let e = refused(&text);
    assert!(text_field(&e).contains("→ Kvm.sregs.cs.cpl"), "{e}");
    assert!(e.to_string().contains("unknown field `cpl`"), "{e}");

    let text = with_inner(V18, "0", |s| s["sregs"]["ss"]["dpl"] = json!(256));
    let e = refused(&text);
    assert!(text_field(&e).contains("→ sregs.ss.dpl"), "{e}");
    assert!(e.to_string().contains("expected u8"), "{e}");

    let text = with_inner(V18, "0", |s| s["sregs"]["gdt"]["padding"] = json!([0, 0]));
    let e = refused(&text);
    assert!(text_field(&e).contains("→ sregs.gdt.padding"), "{e}");
}

#[test]
fn byte_arrays_of_the_wrong_length_are_refused_naming_the_field() {
    // The lapic page of the v29–v38 layout.
    let text = with_inner(V38, "1", |s| {
        s["Kvm"]["lapic_state"]["regs"]
            .as_array_mut()
            .unwrap()
            .pop();
    });
    let e = refused(&text);
    assert_eq!(
        e.place,
        Place::Field(String::from(
            "snapshots.cpu-manager.snapshots.1.snapshot_data → Kvm.lapic_state.regs"
        ))
    );
    assert_eq!(
        e.reason,
        Reason::WrongLength {
            what: "struct kvm_lapic_state",
            expected: 1024,
            found: 1023
        }
    );
    // The snapshot_data bytes themselves, cut short: the inner document ends early.
    let mut top: Value = serde_json::from_str(V38).unwrap();
    node(&mut top, "0")["snapshot_data"]
        .as_array_mut()
        .unwrap()
        .truncate(100);
    let e = refused(&top.to_string());
    assert!(
        text_field(&e).starts_with("inside the JSON bytes at snapshots.cpu-manager.snapshots.0")
    );
    assert!(e.to_string().contains("truncated"), "{e}");
    // A byte that is no byte.
    let mut top: Value = serde_json::from_str(V38).unwrap();
    node(&mut top, "0")["snapshot_data"][5] = json!(300);
    let e = refused(&top.to_string());
    assert!(text_field(&e).contains("Snapshot tree"), "{e}");
}

#[test]
fn fam_msrs_and_sections_are_checked() {
    let text = with_inner(V18, "0", |s| s["msrs"][0]["nmsrs"] = json!(41));
    let e = refused(&text);
    assert_eq!(
        e.place,
        Place::Field(String::from(
            "snapshots.cpu-manager.snapshots.0.snapshot_data.vcpu-section.snapshot → msrs"
        ))
    );
    assert!(
        e.to_string().contains("nmsrs is 41 but 40 entries follow"),
        "{e}"
    );

    // A vCPU whose state was never saved (`Option<CpuState>` None, v15–v24).
    let mut top: Value = serde_json::from_str(V18).unwrap();
    *inner_slot(&mut top, "1") = json!(b"null".to_vec());
    let e = refused(&top.to_string());
    assert!(matches!(e.reason, Reason::Missing(_)), "{e}");
    assert_eq!(
        e.place,
        Place::Field(String::from(
            "snapshots.cpu-manager.snapshots.1.snapshot_data.vcpu-section.snapshot"
        ))
    );

    let mut top: Value = serde_json::from_str(V18).unwrap();
    let data = &mut node(&mut top, "0")["snapshot_data"];
    let section = data["vcpu-section"].take();
    data.as_object_mut().unwrap().remove("vcpu-section");
    data["cpu-section"] = section;
    let e = refused(&top.to_string());
    assert!(matches!(e.reason, Reason::Missing(_)), "{e}");

    let mut top: Value = serde_json::from_str(V18).unwrap();
    node(&mut top, "0")["snapshot_data"]["vcpu-section"]["id"] = json!("vcpu");
    let e = refused(&top.to_string());
    assert!(e.to_string().contains("not its key"), "{e}");
}
