//! Cloud Hypervisor snapshots: the `state.json` of a snapshot directory, every vCPU,
//! KVM and MSHV.
//!
//! `ch-remote snapshot file:///DIR` writes `DIR/state.json`, `DIR/config.json` and the
//! memory files (`vmm/src/migration/mod.rs`, cloud-hypervisor `ae44c29`). `state.json`
//! is the `vm_migration::Snapshot` tree (`vm-migration/src/lib.rs`):
//! `{"snapshots": {name: Snapshot}, "snapshot_data": {"state": "<JSON text>"} | null}`.
//! The vCPUs are the children of the `"cpu-manager"` node (`CPU_MANAGER_SNAPSHOT_ID`,
//! `vmm/src/cpu.rs` `CpuManager::snapshot`), keyed by vCPU id; each one's
//! `snapshot_data.state` is a second JSON document, serialised into a string, holding
//! the serde form of `hypervisor::CpuState`:
//!
//! - `{"Kvm": VcpuKvmState}` (`hypervisor/src/kvm/x86_64/mod.rs`): `regs` and `sregs`
//!   are the C bytes of `kvm_regs` (144) and `kvm_sregs` (312), as arrays of numbers
//!   (kvm-bindings' serde), `msrs` is `[{"index", "data"}]`, `lapic_state` is
//!   `{"regs": [1024 signed bytes]}`, `vcpu_events` and `mp_state` are byte arrays;
//! - `{"Mshv": VcpuMshvState}` (`hypervisor/src/mshv/x86_64/mod.rs`): `regs` and `sregs`
//!   are mshv-bindings' field-named `StandardRegisters` and `SpecialRegisters`.
//!
//! Only the `cpu-manager` subtree is kept in memory: every other node is skipped as it
//! is parsed, and `state.json` is read up to [`MAX_STATE_JSON`] bytes. Both variants
//! carry the CPL as SS.DPL; raw structs of the wrong size are refused rather than
//! padded or cut the way kvm-bindings' serde would.

use std::collections::BTreeMap;
use std::format;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use super::foreign::{ForeignVcpu, IngestError, Place, Reason, Stack, raw, within_limit};
use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};
use crate::snapshot::{MsrEntry, Regs};

/// The format name errors carry.
pub const FORMAT: &str = "Cloud Hypervisor snapshot";
/// The largest `state.json` read.
pub const MAX_STATE_JSON: u64 = 32 << 20;
/// The node holding the vCPUs (`CPU_MANAGER_SNAPSHOT_ID`).
pub(crate) const CPU_MANAGER: &str = "cpu-manager";

/// True when `text` looks like a Cloud Hypervisor `state.json`: a JSON object with a
/// top-level `snapshots` map that names the `cpu-manager`.
#[must_use]
pub fn recognise(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('{') && t.contains("\"snapshots\"") && t.contains(&format!("\"{CPU_MANAGER}\""))
}

/// Reads every vCPU of a Cloud Hypervisor snapshot: `path` is the snapshot directory
/// or its `state.json`.
///
/// # Errors
///
/// [`IngestError`] naming the file, the line and column or the field, and the reason.
pub fn read_path(path: &Path) -> Result<Vec<ForeignVcpu>, IngestError> {
    let file = if path.is_dir() {
        path.join("state.json")
    } else {
        path.to_path_buf()
    };
    let bytes = super::foreign::read_limited(&file, MAX_STATE_JSON, FORMAT)?;
    let label = file.display().to_string();
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        IngestError::new(
            FORMAT,
            &label,
            Place::Offset(e.valid_up_to()),
            Reason::Layout(String::from("not UTF-8 text")),
        )
    })?;
    read(text, &label)
}

/// Reads every vCPU of the `state.json` text; `file` names it in errors.
///
/// # Errors
///
/// [`IngestError`] naming the line and column or the field, and the reason.
pub fn read(text: &str, file: &str) -> Result<Vec<ForeignVcpu>, IngestError> {
    within_limit(FORMAT, file, text.len(), MAX_STATE_JSON)?;
    let top: TopSnapshot = serde_json::from_str(text)
        .map_err(|e| json_error(&e, file, "state.json (the vm_migration::Snapshot tree)"))?;
    let cpus = top.snapshots.0.ok_or_else(|| {
        IngestError::new(
            FORMAT,
            file,
            Place::Field(String::from("snapshots")),
            Reason::Missing("the \"cpu-manager\" snapshot (the vCPUs)"),
        )
    })?;
    if cpus.snapshots.is_empty() {
        return Err(IngestError::new(
            FORMAT,
            file,
            Place::Field(format!("snapshots.{CPU_MANAGER}.snapshots")),
            Reason::Missing("every vCPU (the cpu-manager snapshot has none)"),
        ));
    }
    let mut ids: Vec<(&String, &VcpuNode)> = cpus.snapshots.iter().collect();
    // vCPU ids are decimal numbers; order them as numbers, not as text.
    ids.sort_by_key(|(id, _)| (id.parse::<u64>().unwrap_or(u64::MAX), (*id).clone()));
    ids.into_iter()
        .map(|(id, node)| vcpu(id, node, file))
        .collect()
}

fn json_error(e: &serde_json::Error, file: &str, what: &str) -> IngestError {
    super::foreign::json_error(FORMAT, e, file, what)
}

/// The top of `state.json`; `snapshot_data` and every other key are skipped.
#[derive(Deserialize)]
struct TopSnapshot {
    snapshots: Children,
}

/// The top-level `snapshots` map: the `cpu-manager` child kept, the others skipped.
struct Children(Option<CpuManagerNode>);

impl<'de> Deserialize<'de> for Children {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Children;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of component snapshots")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Children, A::Error> {
                let mut found = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == CPU_MANAGER {
                        found = Some(map.next_value::<CpuManagerNode>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Children(found))
            }
        }
        d.deserialize_map(V)
    }
}

/// The `cpu-manager` node: one child per vCPU.
#[derive(Deserialize)]
struct CpuManagerNode {
    snapshots: BTreeMap<String, VcpuNode>,
}

/// A vCPU node: its state is JSON text.
#[derive(Deserialize)]
struct VcpuNode {
    snapshot_data: Option<SnapshotData>,
}

#[derive(Deserialize)]
struct SnapshotData {
    state: String,
}

/// `hypervisor::CpuState`, externally tagged.
#[derive(Deserialize)]
enum CpuState {
    Kvm(KvmVcpu),
    Mshv(Box<MshvVcpu>),
}

/// `hypervisor::kvm::VcpuKvmState`, the fields read.
#[derive(Deserialize)]
struct KvmVcpu {
    msrs: Vec<ChMsrEntry>,
    vcpu_events: Vec<u8>,
    regs: Vec<u8>,
    sregs: Vec<u8>,
    lapic_state: LapicState,
    mp_state: Vec<u8>,
}

/// `hypervisor::arch::x86::MsrEntry`.
#[derive(Deserialize)]
struct ChMsrEntry {
    index: u32,
    data: u64,
}

/// `hypervisor::arch::x86::LapicState`: 1024 `c_char`s (signed on x86).
#[derive(Deserialize)]
struct LapicState {
    regs: Vec<i8>,
}

/// `hypervisor::mshv::VcpuMshvState`, the fields read.
#[derive(Deserialize)]
struct MshvVcpu {
    msrs: Vec<ChMsrEntry>,
    regs: MshvStandardRegisters,
    sregs: MshvSpecialRegisters,
}

/// mshv-bindings `StandardRegisters`.
#[derive(Deserialize)]
struct MshvStandardRegisters {
    rax: u64,
    rbx: u64,
    rcx: u64,
    rdx: u64,
    rsi: u64,
    rdi: u64,
    rsp: u64,
    rbp: u64,
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rip: u64,
    rflags: u64,
}

/// mshv-bindings `SegmentRegister`: `kvm_segment`'s fields, by name.
#[derive(Deserialize)]
struct MshvSegmentRegister {
    base: u64,
    limit: u32,
    selector: u16,
    type_: u8,
    present: u8,
    dpl: u8,
    db: u8,
    s: u8,
    l: u8,
    g: u8,
    avl: u8,
    unusable: u8,
    padding: u8,
}

/// mshv-bindings `TableRegister`.
#[derive(Deserialize)]
struct MshvTableRegister {
    base: u64,
    limit: u16,
}

/// mshv-bindings `SpecialRegisters`.
#[derive(Deserialize)]
struct MshvSpecialRegisters {
    cs: MshvSegmentRegister,
    ds: MshvSegmentRegister,
    es: MshvSegmentRegister,
    fs: MshvSegmentRegister,
    gs: MshvSegmentRegister,
    ss: MshvSegmentRegister,
    tr: MshvSegmentRegister,
    ldt: MshvSegmentRegister,
    gdt: MshvTableRegister,
    idt: MshvTableRegister,
    cr0: u64,
    cr2: u64,
    cr3: u64,
    cr4: u64,
    cr8: u64,
    efer: u64,
    apic_base: u64,
    interrupt_bitmap: [u64; 4],
}

impl From<&MshvSegmentRegister> for KvmSegment {
    fn from(s: &MshvSegmentRegister) -> Self {
        KvmSegment {
            base: s.base,
            limit: s.limit,
            selector: s.selector,
            type_: s.type_,
            present: s.present,
            dpl: s.dpl,
            db: s.db,
            s: s.s,
            l: s.l,
            g: s.g,
            avl: s.avl,
            unusable: s.unusable,
            padding: s.padding,
        }
    }
}

impl From<&MshvSpecialRegisters> for KvmSregs {
    fn from(r: &MshvSpecialRegisters) -> Self {
        let table = |t: &MshvTableRegister| KvmDtable {
            base: t.base,
            limit: t.limit,
            padding: [0; 3],
        };
        KvmSregs {
            cs: (&r.cs).into(),
            ds: (&r.ds).into(),
            es: (&r.es).into(),
            fs: (&r.fs).into(),
            gs: (&r.gs).into(),
            ss: (&r.ss).into(),
            tr: (&r.tr).into(),
            ldt: (&r.ldt).into(),
            gdt: table(&r.gdt),
            idt: table(&r.idt),
            cr0: r.cr0,
            cr2: r.cr2,
            cr3: r.cr3,
            cr4: r.cr4,
            cr8: r.cr8,
            efer: r.efer,
            apic_base: r.apic_base,
            interrupt_bitmap: r.interrupt_bitmap,
        }
    }
}

impl From<&MshvStandardRegisters> for Regs {
    fn from(r: &MshvStandardRegisters) -> Self {
        Regs::from_array([
            r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11,
            r.r12, r.r13, r.r14, r.r15, r.rip, r.rflags,
        ])
    }
}

fn msrs(entries: &[ChMsrEntry]) -> Vec<MsrEntry> {
    entries
        .iter()
        .map(|m| MsrEntry {
            index: m.index,
            value: m.data,
        })
        .collect()
}

fn vcpu(id: &str, node: &VcpuNode, file: &str) -> Result<ForeignVcpu, IngestError> {
    let path = format!("snapshots.{CPU_MANAGER}.snapshots.{id}.snapshot_data.state");
    let data = node.snapshot_data.as_ref().ok_or_else(|| {
        IngestError::new(
            FORMAT,
            file,
            Place::Field(format!("snapshots.{CPU_MANAGER}.snapshots.{id}")),
            Reason::Missing("the vCPU's snapshot_data"),
        )
    })?;
    let state: CpuState = serde_json::from_str(&data.state).map_err(|e| {
        json_error(
            &e,
            file,
            &format!("inside the JSON string at {path} (hypervisor::CpuState)"),
        )
    })?;
    let field = |name: &str| Place::Field(format!("{path} → {name}"));
    let at = |name: &'static str| move |r: Reason| IngestError::new(FORMAT, file, field(name), r);
    match state {
        CpuState::Kvm(k) => {
            let lapic: Vec<u8> = k
                .lapic_state
                .regs
                .iter()
                .map(|&b| b.to_le_bytes()[0])
                .collect();
            Ok(ForeignVcpu {
                stack: Stack::CloudHypervisorKvm,
                format: String::from("Cloud Hypervisor state.json (CpuState::Kvm)"),
                id: id.to_string(),
                regs: raw::regs(&k.regs).map_err(at("Kvm.regs"))?,
                sregs: raw::sregs(&k.sregs).map_err(at("Kvm.sregs"))?,
                file_cpl: None,
                mp_state: Some(raw::mp_state(&k.mp_state).map_err(at("Kvm.mp_state"))?),
                lapic: Some(raw::lapic(&lapic).map_err(at("Kvm.lapic_state.regs"))?),
                vcpu_events: Some(raw::vcpu_events(&k.vcpu_events).map_err(at("Kvm.vcpu_events"))?),
                debug_regs: None,
                msrs: msrs(&k.msrs),
            })
        }
        CpuState::Mshv(m) => Ok(ForeignVcpu {
            stack: Stack::CloudHypervisorMshv,
            format: String::from("Cloud Hypervisor state.json (CpuState::Mshv)"),
            id: id.to_string(),
            regs: (&m.regs).into(),
            sregs: (&m.sregs).into(),
            file_cpl: None,
            mp_state: None,
            lapic: None,
            vcpu_events: None,
            debug_regs: None,
            msrs: msrs(&m.msrs),
        }),
    }
}
