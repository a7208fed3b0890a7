//! Cloud Hypervisor snapshots: every vCPU, KVM and MSHV, in each layout Cloud
//! Hypervisor v15 on wrote.
//!
//! `ch-remote snapshot file:///DIR` writes the `vm_migration::Snapshot` tree
//! (`vm-migration/src/lib.rs`) as JSON: `DIR/state.json` from v22 on (with
//! `config.json` and the memory files; `vmm/src/migration/mod.rs`, cloud-hypervisor
//! `ae44c29`), `DIR/vm.json` up to v21 (`VM_SNAPSHOT_FILE`, `vmm/src/migration.rs`,
//! tag `v21.0`). Each node is `{"snapshots": {name: node}, "snapshot_data": …}`; the
//! vCPUs are the children of the `"cpu-manager"` node (`CPU_MANAGER_SNAPSHOT_ID`,
//! `vmm/src/cpu.rs` `CpuManager::snapshot`), keyed by vCPU id (`"0"`; `"000"` in
//! v25–v28). How a vCPU node holds its state is the layout ([`Layout`]):
//!
//! | versions | `snapshot_data` of a vCPU | the state in it |
//! | --- | --- | --- |
//! | v15–v25 | `{"vcpu-section": {"id", "snapshot": [bytes]}}`: `HashMap<String, SnapshotDataSection>`, and every node has an `id` (`vm-migration/src/lib.rs`, tags `v15.0` to `v28.0`) | the bare `VcpuKvmState` (`CpuState` is an alias of it, `hypervisor/src/kvm/mod.rs`, tag `v25.0`), the fork's derived kvm structs (`cloud_hypervisor/fork.rs`) |
//! | v26–v28 | the same sections | the enum `CpuState` (`hypervisor/src/lib.rs`, tag `v26.0`): `{"Kvm": VcpuKvmState}` / `{"Mshv": …}`, derived kvm structs |
//! | v29–v38 | `[bytes]` or `null`: `Option<SnapshotData(pub Vec<u8>)>`, no `id` (`vm-migration/src/lib.rs`, tag `v29.0`) | the same `CpuState` |
//! | v39 on | `{"state": "<JSON text>"}` (`vm-migration/src/lib.rs`, tag `v39.0`) | `CpuState`, `regs`/`sregs` as C bytes |
//!
//! The bytes are the JSON text of the state (`serde_json::to_vec`). From v39
//! (crates.io kvm-bindings 0.8 `serde`, `hypervisor/src/kvm/x86_64/mod.rs`) the KVM
//! state is:
//!
//! - `{"Kvm": VcpuKvmState}`: `regs` and `sregs` are the C bytes of `kvm_regs` (144) and
//!   `kvm_sregs` (312), as arrays of numbers, `msrs` is `[{"index", "data"}]`,
//!   `lapic_state` is `{"regs": [1024 signed bytes]}`, `vcpu_events` and `mp_state` are
//!   byte arrays;
//! - `{"Mshv": VcpuMshvState}` (`hypervisor/src/mshv/x86_64/mod.rs`, v26 on): `regs` and
//!   `sregs` are mshv-bindings' field-named `StandardRegisters` and `SpecialRegisters`
//!   (`cloud_hypervisor/named.rs`).
//!
//! Every layout gives the same [`ForeignVcpu`] for the same vCPU state: the field-named
//! structs become the same `KvmSregs`, `Regs` and raw `kvm_vcpu_events` bytes the v39
//! byte arrays decode to, and the format names the layout ("Cloud Hypervisor snapshot
//! (v29–v38 layout)"). Only the `cpu-manager` subtree is kept in memory: every other
//! node is skipped as it is parsed, and the file is read up to [`MAX_STATE_JSON`]
//! bytes. Every layout carries the CPL as SS.DPL; raw structs of the wrong size, and
//! derived structs with a missing or unknown field or a number too wide for its field,
//! are refused rather than padded, cut or defaulted.

mod fork;
mod json_path;
mod named;

use std::collections::BTreeMap;
use std::format;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::foreign::{ForeignVcpu, IngestError, Place, Reason, Stack, raw, within_limit};
use crate::format::kvm::KvmSregs;
use crate::snapshot::{MsrEntry, Regs};
use fork::{BareKvmVcpu, ForkCpuState, SectionStart};
use named::{MshvTable, NamedRegs, NamedSregs};

/// The format name errors carry.
pub const FORMAT: &str = "Cloud Hypervisor snapshot";
/// The largest `state.json` (or `vm.json`) read.
pub const MAX_STATE_JSON: u64 = 32 << 20;
/// The node holding the vCPUs (`CPU_MANAGER_SNAPSHOT_ID`).
pub(crate) const CPU_MANAGER: &str = "cpu-manager";
/// The snapshot file of v22 on (`SNAPSHOT_STATE_FILE`).
pub const STATE_FILE: &str = "state.json";
/// The snapshot file of v15–v21 (`VM_SNAPSHOT_FILE`).
pub const VM_FILE: &str = "vm.json";
/// The data section of a vCPU node in v15–v28: `"{VCPU_SNAPSHOT_ID}-section"`.
const VCPU_SECTION: &str = "vcpu-section";
/// The variant named for a v15–v25 state, which has no `CpuState` around it.
const BARE: &str = "bare VcpuKvmState";

/// How a snapshot holds a vCPU's state: which Cloud Hypervisor versions wrote it (see
/// the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// v15–v25: a `vcpu-section` holding the bare `VcpuKvmState` (`vm.json` up to v21).
    V15ToV25,
    /// v26–v28: a `vcpu-section` holding a tagged `CpuState`.
    V26ToV28,
    /// v29–v38: `snapshot_data` the bytes of a tagged `CpuState`, kvm structs by field.
    V29ToV38,
    /// v39 on: `snapshot_data.state` the text of a `CpuState`, kvm structs as C bytes.
    V39On,
}

impl Layout {
    /// The versions, as the format string names them.
    #[must_use]
    pub const fn versions(self) -> &'static str {
        match self {
            Layout::V15ToV25 => "v15–v25",
            Layout::V26ToV28 => "v26–v28",
            Layout::V29ToV38 => "v29–v38",
            Layout::V39On => "v39+",
        }
    }
}

/// True when `text` looks like a Cloud Hypervisor `state.json` or `vm.json`: a JSON
/// object with a `snapshots` map that names the `cpu-manager`.
#[must_use]
pub fn recognise(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('{') && t.contains("\"snapshots\"") && t.contains(&format!("\"{CPU_MANAGER}\""))
}

/// The snapshot file of the snapshot directory `dir`: its `state.json` (v22 on), else
/// its `vm.json` (v15–v21); `None` when it has neither.
#[must_use]
pub fn snapshot_file(dir: &Path) -> Option<std::path::PathBuf> {
    [STATE_FILE, VM_FILE]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|f| f.is_file())
}

/// Reads every vCPU of a Cloud Hypervisor snapshot: `path` is the snapshot directory
/// (its [`snapshot_file`]) or the `state.json` / `vm.json` itself.
///
/// # Errors
///
/// [`IngestError`] naming the file, the line and column or the field, and the reason.
pub fn read_path(path: &Path) -> Result<Vec<ForeignVcpu>, IngestError> {
    let file = if path.is_dir() {
        snapshot_file(path).unwrap_or_else(|| path.join(STATE_FILE))
    } else {
        path.to_path_buf()
    };
    let text = super::foreign::read_limited_text(&file, MAX_STATE_JSON, FORMAT)?;
    let label = file.display().to_string();
    read(&text, &label)
}

/// Reads every vCPU of the `state.json` or `vm.json` text; `file` names it in errors.
///
/// # Errors
///
/// [`IngestError`] naming the line and column or the field, and the reason.
pub fn read(text: &str, file: &str) -> Result<Vec<ForeignVcpu>, IngestError> {
    within_limit(FORMAT, file, text.len(), MAX_STATE_JSON)?;
    let top: TopSnapshot = serde_json::from_str(text)
        .map_err(|e| json_error(&e, file, "the vm_migration::Snapshot tree"))?;
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

/// The top of the snapshot; `id`, `snapshot_data` and every other key are skipped.
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

/// A vCPU node: its state, in the shape of its layout.
#[derive(Deserialize)]
struct VcpuNode {
    snapshot_data: Option<NodeData>,
}

/// A node's `snapshot_data`, in any layout.
enum NodeData {
    /// v39 on: `{"state": "<JSON text>"}`.
    State(String),
    /// v29–v38: `SnapshotData(Vec<u8>)`.
    Bytes(Vec<u8>),
    /// v15–v28: `HashMap<String, SnapshotDataSection>`.
    Sections(BTreeMap<String, Section>),
}

/// `SnapshotDataSection` (v15–v28).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    id: String,
    snapshot: Vec<u8>,
}

impl<'de> Deserialize<'de> for NodeData {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeData;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "snapshot_data: {\"state\": text} (v39+), an array of bytes (v29–v38) \
                     or a map of data sections (v15–v28)",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeData, A::Error> {
                let mut bytes = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                Ok(NodeData::Bytes(bytes))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeData, A::Error> {
                let mut sections = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "state" && sections.is_empty() {
                        let state = map.next_value::<String>()?;
                        if let Some(more) = map.next_key::<String>()? {
                            return Err(de::Error::custom(format!(
                                "unexpected key `{more}` after `state` (v39+ SnapshotData \
                                 has only `state`)"
                            )));
                        }
                        return Ok(NodeData::State(state));
                    }
                    let section = map.next_value::<Section>()?;
                    sections.insert(key, section);
                }
                Ok(NodeData::Sections(sections))
            }
        }
        d.deserialize_any(V)
    }
}

/// `hypervisor::CpuState` of v39 on, externally tagged.
#[derive(Deserialize)]
enum CpuState {
    Kvm(KvmVcpu),
    Mshv(Box<MshvVcpu>),
}

/// `hypervisor::kvm::VcpuKvmState` of v39 on, the fields read.
#[derive(Deserialize)]
struct KvmVcpu {
    msrs: Vec<ChMsrEntry>,
    vcpu_events: Vec<u8>,
    regs: Vec<u8>,
    sregs: Vec<u8>,
    lapic_state: LapicState,
    mp_state: Vec<u8>,
}

/// `hypervisor::arch::x86::MsrEntry` (v26 on).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChMsrEntry {
    index: u32,
    data: u64,
}

/// `hypervisor::arch::x86::LapicState` (v26 on): 1024 `c_char`s (signed on x86).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LapicState {
    regs: Vec<i8>,
}

/// `hypervisor::mshv::VcpuMshvState` (v26 on), the fields read.
#[derive(Deserialize)]
struct MshvVcpu {
    msrs: Vec<ChMsrEntry>,
    regs: NamedRegs,
    sregs: NamedSregs<MshvTable>,
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

/// `kvm_lapic_state.regs` as the raw page: `c_char`s as bytes.
fn lapic_bytes(regs: &[i8]) -> Vec<u8> {
    regs.iter().map(|&b| b.to_le_bytes()[0]).collect()
}

/// What a KVM vCPU state gives in every layout, before the raw parts' sizes are
/// checked: the one place a [`ForeignVcpu`] of `Stack::CloudHypervisorKvm` is made.
struct KvmParts {
    regs: Result<Regs, Reason>,
    sregs: Result<KvmSregs, Reason>,
    msrs: Result<Vec<MsrEntry>, Reason>,
    vcpu_events: Result<Vec<u8>, Reason>,
    lapic: Vec<u8>,
    mp_state: Result<u32, Reason>,
}

/// Where a vCPU's state is and which layout holds it, for the errors and the format.
struct At<'a> {
    file: &'a str,
    id: &'a str,
    /// The path of the state inside the file.
    path: String,
    layout: Layout,
}

impl At<'_> {
    fn error(&self, field: &str, reason: Reason) -> IngestError {
        IngestError::new(
            FORMAT,
            self.file,
            Place::Field(format!("{} → {field}", self.path)),
            reason,
        )
    }

    fn format(&self, variant: &str) -> String {
        format!("{FORMAT} ({} layout), {variant}", self.layout.versions())
    }

    /// A serde_json error inside the inner document `doc` (`what` it holds), at its
    /// line and column, naming the field there.
    fn inner_error(
        &self,
        e: &serde_json::Error,
        doc: &[u8],
        kind: &str,
        what: &str,
    ) -> IngestError {
        let field = json_path::at(doc, e.line(), e.column());
        let field = if field.is_empty() {
            String::new()
        } else {
            format!(" → {field}")
        };
        json_error(
            e,
            self.file,
            &format!("inside the JSON {kind} at {}{field} ({what})", self.path),
        )
    }

    fn kvm(&self, variant: &str, p: KvmParts) -> Result<ForeignVcpu, IngestError> {
        // The bare state of v15–v25 is not inside a `Kvm` tag.
        let bare = variant == BARE;
        let at = |name: &str| {
            let field = if bare {
                name.to_string()
            } else {
                format!("Kvm.{name}")
            };
            move |r: Reason| self.error(&field, r)
        };
        let lapic_field = if bare {
            "lapic_state"
        } else {
            "lapic_state.regs"
        };
        Ok(ForeignVcpu {
            stack: Stack::CloudHypervisorKvm,
            format: self.format(variant),
            id: self.id.to_string(),
            regs: p.regs.map_err(at("regs"))?,
            sregs: p.sregs.map_err(at("sregs"))?,
            file_cpl: None,
            mp_state: Some(p.mp_state.map_err(at("mp_state"))?),
            lapic: Some(raw::lapic(&p.lapic).map_err(at(lapic_field))?),
            vcpu_events: Some(
                p.vcpu_events
                    .and_then(|e| raw::vcpu_events(&e))
                    .map_err(at("vcpu_events"))?,
            ),
            debug_regs: None,
            msrs: p.msrs.map_err(at("msrs"))?,
        })
    }

    fn mshv(&self, m: &MshvVcpu) -> ForeignVcpu {
        ForeignVcpu {
            stack: Stack::CloudHypervisorMshv,
            format: self.format("CpuState::Mshv"),
            id: self.id.to_string(),
            regs: (&m.regs).into(),
            sregs: (&m.sregs).into(),
            file_cpl: None,
            mp_state: None,
            lapic: None,
            vcpu_events: None,
            debug_regs: None,
            msrs: msrs(&m.msrs),
        }
    }

    /// A v26–v38 `CpuState` (the fork's derived kvm structs).
    fn fork_state(&self, state: &ForkCpuState) -> Result<ForeignVcpu, IngestError> {
        match state {
            ForkCpuState::Kvm(k) => self.kvm(
                "CpuState::Kvm",
                KvmParts {
                    regs: Ok((&k.regs).into()),
                    sregs: Ok((&k.sregs).into()),
                    msrs: Ok(msrs(&k.msrs)),
                    vcpu_events: k.vcpu_events.to_bytes(),
                    lapic: lapic_bytes(&k.lapic_state.regs),
                    mp_state: Ok(k.mp_state.mp_state),
                },
            ),
            ForkCpuState::Mshv(m) => Ok(self.mshv(m)),
        }
    }
}

fn vcpu(id: &str, node: &VcpuNode, file: &str) -> Result<ForeignVcpu, IngestError> {
    let node_path = format!("snapshots.{CPU_MANAGER}.snapshots.{id}");
    let data = node.snapshot_data.as_ref().ok_or_else(|| {
        IngestError::new(
            FORMAT,
            file,
            Place::Field(node_path.clone()),
            Reason::Missing("the vCPU's snapshot_data"),
        )
    })?;
    let mut at = At {
        file,
        id,
        path: format!("{node_path}.snapshot_data"),
        layout: Layout::V39On,
    };
    match data {
        NodeData::State(text) => {
            at.path.push_str(".state");
            let state: CpuState = serde_json::from_str(text).map_err(|e| {
                at.inner_error(&e, text.as_bytes(), "string", "hypervisor::CpuState")
            })?;
            match state {
                CpuState::Kvm(k) => at.kvm(
                    "CpuState::Kvm",
                    KvmParts {
                        regs: raw::regs(&k.regs),
                        sregs: raw::sregs(&k.sregs),
                        msrs: Ok(msrs(&k.msrs)),
                        vcpu_events: Ok(k.vcpu_events),
                        lapic: lapic_bytes(&k.lapic_state.regs),
                        mp_state: raw::mp_state(&k.mp_state),
                    },
                ),
                CpuState::Mshv(m) => Ok(at.mshv(&m)),
            }
        }
        NodeData::Bytes(bytes) => {
            at.layout = Layout::V29ToV38;
            let state: ForkCpuState = serde_json::from_slice(bytes).map_err(|e| {
                at.inner_error(&e, bytes, "bytes", "hypervisor::CpuState, v29–v38 layout")
            })?;
            at.fork_state(&state)
        }
        NodeData::Sections(sections) => {
            at.path.push('.');
            at.path.push_str(VCPU_SECTION);
            let section = sections.get(VCPU_SECTION).ok_or_else(|| {
                IngestError::new(
                    FORMAT,
                    file,
                    Place::Field(format!("{node_path}.snapshot_data")),
                    Reason::Missing("the \"vcpu-section\" data section (the vCPU's state)"),
                )
            })?;
            if let Some(other) = sections.keys().find(|k| *k != VCPU_SECTION) {
                return Err(IngestError::new(
                    FORMAT,
                    file,
                    Place::Field(format!("{node_path}.snapshot_data.{other}")),
                    Reason::Layout(String::from(
                        "a vCPU node holds only the \"vcpu-section\" data section",
                    )),
                ));
            }
            if section.id != VCPU_SECTION {
                return Err(at.error(
                    "id",
                    Reason::Layout(format!(
                        "the section's id is {:?}, not its key {VCPU_SECTION:?}",
                        section.id
                    )),
                ));
            }
            at.path.push_str(".snapshot");
            let bytes = &section.snapshot;
            match fork::section_start(bytes) {
                SectionStart::Null => Err(IngestError::new(
                    FORMAT,
                    file,
                    Place::Field(at.path.clone()),
                    Reason::Missing("the vCPU's saved state (null: none was saved)"),
                )),
                SectionStart::Tagged => {
                    at.layout = Layout::V26ToV28;
                    let state: ForkCpuState = serde_json::from_slice(bytes).map_err(|e| {
                        at.inner_error(&e, bytes, "bytes", "hypervisor::CpuState, v26–v28 layout")
                    })?;
                    at.fork_state(&state)
                }
                SectionStart::Bare => {
                    at.layout = Layout::V15ToV25;
                    let k: BareKvmVcpu = serde_json::from_slice(bytes).map_err(|e| {
                        at.inner_error(&e, bytes, "bytes", "VcpuKvmState, v15–v25 layout")
                    })?;
                    at.kvm(
                        BARE,
                        KvmParts {
                            regs: Ok((&k.regs).into()),
                            sregs: Ok((&k.sregs).into()),
                            msrs: k.msrs.entries(),
                            vcpu_events: k.vcpu_events.to_bytes(),
                            lapic: lapic_bytes(&k.lapic_state),
                            mp_state: Ok(k.mp_state.mp_state),
                        },
                    )
                }
            }
        }
    }
}
