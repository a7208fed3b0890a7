//! crosvm snapshots: the `vcpu` namespace of a snapshot directory, every vCPU.
//!
//! `crosvm snapshot take DIR SOCKET` writes a directory (`snapshot/src/lib.rs`
//! `SnapshotWriter`, google/crosvm `f1e797a68dad`): each fragment a file, each namespace
//! a subdirectory. `vm_control/src/lib.rs` `do_snapshot` adds the namespace `vcpu`, and
//! every vCPU thread writes its fragment `vcpu{N}` there
//! (`src/crosvm/sys/linux/vcpu.rs`, `VcpuControl::Snapshot`), next to `pvclock`,
//! `irqchip`, `mem` and `mem_metadata` at the top. A fragment is one CBOR item
//! (`write_fragment`: ciborium 0.2.2's `into_writer`) since crosvm `72d733e7e`
//! (2025-03-11), one JSON document (serde_json) before it, back to `b48886364`
//! (2024-01-16), when the directory came; this reader takes both, the JSON ones in
//! each of the three layouts of that era (`crosvm/json.rs`: `Segment.limit` before
//! 2024-07-26, `xcrs` and `msrs` as lists before 2024-04-09). Either way a fragment is
//! the serde form of `hypervisor::VcpuSnapshot` (`hypervisor/src/x86_64.rs`):
//!
//! `{vcpu_id, regs: Regs, sregs: Sregs, debug_regs: DebugRegs, xcrs: {u32: u64},
//! msrs: {u32: u64}, xsave: {data: [u32], len}, hypervisor_data, tsc_offset}`, structs
//! as maps keyed by field name. `Sregs` holds the eight segments as crosvm's neutral
//! `Segment` ([`CrosvmSegment`]: no `unusable`), `gdt`/`idt` and the control registers;
//! it has no `apic_base` and no `interrupt_bitmap` (crosvm's `set_sregs` keeps the live
//! vCPU's). On KVM `hypervisor_data` is `HypervisorState {interrupts: VcpuEvents,
//! nested_state: [u8]}` (`hypervisor/src/kvm/x86_64.rs`), or the bare `VcpuEvents` that
//! crosvm wrote before July 2025 (in every JSON fragment too).
//!
//! Decoding is strict: the whole file is one CBOR item (or one JSON document), every
//! map has exactly the fields of its struct (of the layout the fragment's crosvm
//! wrote), every number fits its field's type. Each segment is turned into the
//! `kvm_segment` crosvm's KVM backend would hand to `KVM_SET_SREGS`, through the
//! crosvm profile ([`Profile::CROSVM`]: unusable = !P). A snapshot written with
//! encryption (an `enc_metadata` key file at its top) is refused: its fragments are
//! ciphertext.

use std::collections::BTreeSet;
use std::format;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use ciborium::value::Value;

use super::foreign::{ForeignVcpu, IngestError, Place, Reason, Stack, within_limit};
use crate::format::crosvm::CrosvmSegment;
use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};
use crate::profile::Profile;
use crate::profile::rustvmm::crosvm_to_kvm;
use crate::snapshot::{MsrEntry, Regs, raw_size};

mod json;

/// The format name errors carry.
pub const FORMAT: &str = "crosvm snapshot";
/// The namespace (subdirectory) holding the vCPU fragments.
pub(crate) const NAMESPACE: &str = "vcpu";
/// The key file an encrypted snapshot has at its top (`SnapshotWriter::new`).
pub(crate) const ENC_METADATA: &str = "enc_metadata";
/// The largest `vcpu{N}` fragment read. A real one is about 10 KiB: the XSAVE area
/// (4 KiB as CBOR integers, or about 4 to 11 KiB as JSON numbers) and KVM's nested state
/// (up to 16 KiB, each byte an integer; CBOR only) dominate.
pub const MAX_FRAGMENT: u64 = 1 << 20;
/// The most vCPU fragments read from one namespace (KVM's `KVM_MAX_VCPUS` is 1024 on
/// x86 since Linux 5.15).
pub(crate) const MAX_VCPUS: usize = 1024;
/// The fields of `hypervisor::VcpuSnapshot`, in the order crosvm writes them.
const TOP_FIELDS: [&str; 9] = [
    "vcpu_id",
    "regs",
    "sregs",
    "debug_regs",
    "xcrs",
    "msrs",
    "xsave",
    "hypervisor_data",
    "tsc_offset",
];

/// True when `prefix` starts like a `vcpu{N}` fragment: a CBOR map of nine entries
/// whose first key is `"vcpu_id"`, as ciborium writes `VcpuSnapshot`, or a JSON object
/// whose first key is `"vcpu_id"`, as serde_json wrote it before 2025-03-11
/// (`{"vcpu_id":`, whitespace allowed).
#[must_use]
pub fn recognise(prefix: &[u8]) -> bool {
    prefix.starts_with(b"\xa9\x67vcpu_id") || json::recognise(prefix)
}

/// True when `dir` is a crosvm snapshot directory (it has the `vcpu` namespace) or that
/// namespace itself (a directory of `vcpu{N}` files).
#[must_use]
pub fn is_snapshot_dir(dir: &Path) -> bool {
    dir.join(NAMESPACE).is_dir() || (dir.is_dir() && fragment_dir_has_vcpus(dir))
}

fn fragment_dir_has_vcpus(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| vcpu_index(&e.file_name().to_string_lossy()).is_some())
    })
}

/// True when `path` names a fragment of a crosvm `vcpu` namespace: `.../vcpu/vcpu{N}`.
#[must_use]
pub fn is_fragment_path(path: &Path) -> bool {
    let in_namespace = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == NAMESPACE);
    in_namespace
        && path
            .file_name()
            .is_some_and(|n| vcpu_index(&n.to_string_lossy()).is_some())
}

/// `N` of a fragment named `vcpu{N}` (decimal, no sign, no leading zeros but `vcpu0`).
fn vcpu_index(name: &str) -> Option<u32> {
    decimal_u32(name.strip_prefix(NAMESPACE)?)
}

/// A u32 written as Rust and serde_json write one: decimal digits, no sign, no leading
/// zero but in `0`.
fn decimal_u32(digits: &str) -> Option<u32> {
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

/// Reads every vCPU of a crosvm snapshot: `path` is the snapshot directory, its `vcpu`
/// namespace, or one `vcpu{N}` fragment.
///
/// # Errors
///
/// [`IngestError`] naming the file, the field or offset, and the reason: an encrypted
/// snapshot, a fragment of another name in the namespace, a fragment that is not
/// crosvm's `VcpuSnapshot`.
pub fn read_path(path: &Path) -> Result<Vec<ForeignVcpu>, IngestError> {
    if !path.is_dir() {
        refuse_encrypted(path.parent().and_then(Path::parent), path)?;
        let index = path
            .file_name()
            .and_then(|n| vcpu_index(&n.to_string_lossy()));
        return read_fragment_file(path, index).map(|v| std::vec![v]);
    }
    let (top, namespace) = if path.join(NAMESPACE).is_dir() {
        (Some(path), path.join(NAMESPACE))
    } else {
        (path.parent(), path.to_path_buf())
    };
    refuse_encrypted(top, &namespace)?;
    fragments(&namespace)?
        .into_iter()
        .map(|(index, file)| read_fragment_file(&file, Some(index)))
        .collect()
}

/// Refuses a snapshot whose top directory `top` holds `enc_metadata`.
fn refuse_encrypted(top: Option<&Path>, file: &Path) -> Result<(), IngestError> {
    let Some(key) = top.map(|t| t.join(ENC_METADATA)).filter(|k| k.exists()) else {
        return Ok(());
    };
    Err(IngestError::new(
        FORMAT,
        &file.display().to_string(),
        Place::File,
        Reason::Encrypted(format!(
            "the snapshot has the key file {}, so its fragments are ciphertext; segstate \
             reads only snapshots taken without encryption",
            key.display()
        )),
    ))
}

/// The `vcpu{N}` fragments of the namespace `dir`, by N; any other entry is refused.
fn fragments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, IngestError> {
    let label = dir.display().to_string();
    let io = |e: std::io::Error| {
        IngestError::new(FORMAT, &label, Place::File, Reason::Io(e.to_string()))
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let index = vcpu_index(&name)
            .filter(|_| entry.file_type().is_ok_and(|t| t.is_file()))
            .ok_or_else(|| {
                IngestError::new(
                    FORMAT,
                    &label,
                    Place::Field(format!("{NAMESPACE}/{}", name.escape_debug())),
                    Reason::Layout(String::from(
                        "an unknown fragment: crosvm's vcpu namespace holds only files \
                         named vcpu0, vcpu1, ...",
                    )),
                )
            })?;
        if found.len() == MAX_VCPUS {
            return Err(IngestError::new(
                FORMAT,
                &label,
                Place::File,
                Reason::Layout(format!("more than {MAX_VCPUS} vCPU fragments")),
            ));
        }
        found.push((index, entry.path()));
    }
    if found.is_empty() {
        return Err(IngestError::new(
            FORMAT,
            &label,
            Place::File,
            Reason::Missing("every vCPU fragment (the vcpu namespace is empty)"),
        ));
    }
    found.sort_unstable_by_key(|(index, _)| *index);
    Ok(found)
}

fn read_fragment_file(file: &Path, index: Option<u32>) -> Result<ForeignVcpu, IngestError> {
    let bytes = super::foreign::read_limited(file, MAX_FRAGMENT, FORMAT)?;
    read_fragment(&bytes, &file.display().to_string(), index)
}

/// Reads one `vcpu{N}` fragment; `file` names it in errors.
///
/// # Errors
///
/// [`IngestError`] naming the offset or the field and the reason.
pub fn read(bytes: &[u8], file: &str) -> Result<Vec<ForeignVcpu>, IngestError> {
    read_fragment(bytes, file, None).map(|v| std::vec![v])
}

/// Decodes a fragment, JSON when it opens with `{`, CBOR otherwise; `index` is the N of
/// its name `vcpu{N}`, when it has one, and must equal the `vcpu_id` inside (crosvm's
/// restore asserts it).
fn read_fragment(bytes: &[u8], file: &str, index: Option<u32>) -> Result<ForeignVcpu, IngestError> {
    within_limit(FORMAT, file, bytes.len(), MAX_FRAGMENT)?;
    let (value, layout) = if json::is_json(bytes) {
        let value = json::document(bytes, file)?;
        let layout = json::layout(&value);
        (value, layout)
    } else {
        (cbor_item(bytes, file)?, Layout::CBOR)
    };
    let fail = |e: FieldError| IngestError::new(FORMAT, file, Place::Field(e.path), e.reason);
    let snapshot = VcpuSnapshot::decode(&value, layout).map_err(fail)?;
    if let Some(n) = index.filter(|&n| u64::from(n) != snapshot.vcpu_id) {
        return Err(fail(FieldError::new(
            "vcpu_id",
            format!(
                "the fragment is named vcpu{n} but holds vCPU {} (crosvm's restore asserts \
                 they are equal)",
                snapshot.vcpu_id
            ),
        )));
    }
    Ok(snapshot.into_foreign(layout.name))
}

/// What changed in `VcpuSnapshot`'s serde form from one crosvm to another, and how the
/// encoding writes it: which fields [`VcpuSnapshot::decode`] requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// What the fragment is, for [`ForeignVcpu::format`].
    name: &'static str,
    /// The name of `Segment`'s limit field: `limit_bytes` since crosvm `2fc3047b9`
    /// (2024-07-26), `limit` before (the same value, `kvm_segment.limit`).
    limit: &'static str,
    /// `xcrs` and `msrs` as lists of `Register {id, value}` (crosvm before `309accd0e`,
    /// 2024-04-09), not maps.
    register_lists: bool,
    /// The keys of a `BTreeMap<u32, u64>` as decimal text, as serde_json writes them;
    /// CBOR keeps them integers.
    text_keys: bool,
    /// `hypervisor_data` may be `HypervisorState {interrupts, nested_state}` (crosvm
    /// since July 2025, CBOR only), not just the bare `VcpuEvents`.
    hypervisor_state: bool,
}

impl Layout {
    /// Every CBOR fragment (crosvm since `72d733e7e`, 2025-03-11).
    const CBOR: Self = Self {
        name: "crosvm snapshot vcpu fragment (CBOR hypervisor::VcpuSnapshot)",
        limit: "limit_bytes",
        register_lists: false,
        text_keys: false,
        hypervisor_state: true,
    };
}

/// The one CBOR item `bytes` hold, whole: nothing may follow it.
fn cbor_item(bytes: &[u8], file: &str) -> Result<Value, IngestError> {
    use ciborium::de::Error;
    let at = |place, reason| IngestError::new(FORMAT, file, place, reason);
    let mut rest = bytes;
    let value: Value = ciborium::from_reader(&mut rest).map_err(|e| match e {
        Error::Io(_) => at(
            Place::Offset(bytes.len()),
            Reason::Layout(String::from(
                "the CBOR item ends early (truncated fragment)",
            )),
        ),
        Error::Syntax(offset) => at(
            Place::Offset(offset),
            Reason::Layout(String::from("not well-formed CBOR")),
        ),
        Error::Semantic(offset, msg) => at(
            offset.map_or(Place::File, Place::Offset),
            Reason::Layout(msg),
        ),
        Error::RecursionLimitExceeded => at(
            Place::File,
            Reason::Layout(String::from("CBOR nested deeper than ciborium's limit")),
        ),
    })?;
    if !rest.is_empty() {
        return Err(at(
            Place::Offset(bytes.len() - rest.len()),
            Reason::Layout(format!(
                "{} bytes follow the fragment's CBOR item (crosvm writes exactly one)",
                rest.len()
            )),
        ));
    }
    Ok(value)
}

/// A field that does not decode: its path in `VcpuSnapshot` and why.
struct FieldError {
    path: String,
    reason: Reason,
}

impl FieldError {
    fn new(path: &str, why: String) -> Self {
        Self {
            path: path.to_string(),
            reason: Reason::Layout(why),
        }
    }

    /// The same error, one level deeper: `outer.path`.
    fn under(mut self, outer: &str) -> Self {
        self.path = if self.path.is_empty() {
            outer.to_string()
        } else if self.path.starts_with('[') {
            format!("{outer}{}", self.path)
        } else {
            format!("{outer}.{}", self.path)
        };
        self
    }
}

type Decoded<T> = Result<T, FieldError>;

/// What a CBOR value is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a float",
        Value::Text(_) => "a text string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Tag(..) => "a tagged item",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "a simple value",
    }
}

/// An unsigned integer no larger than `max` (the field's Rust type).
fn unsigned(v: &Value, max: u64, ty: &str) -> Decoded<u64> {
    let Value::Integer(i) = v else {
        return Err(FieldError::new(
            "",
            format!("{} where a {ty} belongs", kind(v)),
        ));
    };
    u64::try_from(*i)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| FieldError::new("", format!("{} does not fit a {ty}", i128::from(*i))))
}

fn u64_of(v: &Value) -> Decoded<u64> {
    unsigned(v, u64::MAX, "u64")
}

fn u32_of(v: &Value) -> Decoded<u32> {
    unsigned(v, u32::MAX.into(), "u32").map(|n| n as u32)
}

fn u16_of(v: &Value) -> Decoded<u16> {
    unsigned(v, u16::MAX.into(), "u16").map(|n| n as u16)
}

fn u8_of(v: &Value) -> Decoded<u8> {
    unsigned(v, u8::MAX.into(), "u8").map(|n| n as u8)
}

fn array(v: &Value) -> Decoded<&[Value]> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(FieldError::new(
            "",
            format!("{} where an array belongs", kind(other)),
        )),
    }
}

/// A serde struct as ciborium writes it: a map keyed by field name, every field once,
/// no other key.
struct Struct<'a> {
    entries: &'a [(Value, Value)],
}

impl<'a> Struct<'a> {
    fn of(v: &'a Value, fields: &[&str]) -> Decoded<Self> {
        let Value::Map(entries) = v else {
            return Err(FieldError::new(
                "",
                format!("{} where a struct (a map of fields) belongs", kind(v)),
            ));
        };
        let mut seen = BTreeSet::new();
        for (key, _) in entries {
            let name = match key {
                Value::Text(t) if fields.contains(&t.as_str()) => t.as_str(),
                Value::Text(t) => {
                    return Err(FieldError::new(
                        &t.escape_debug().to_string(),
                        format!("an unknown field (the struct has {})", fields.join(", ")),
                    ));
                }
                other => {
                    return Err(FieldError::new(
                        "",
                        format!("a key that is {}, not a field name", kind(other)),
                    ));
                }
            };
            if !seen.insert(name) {
                return Err(FieldError::new(
                    name,
                    String::from("the field appears twice"),
                ));
            }
        }
        if let Some(missing) = fields.iter().find(|f| !seen.contains(*f)) {
            return Err(FieldError::new(
                missing,
                String::from("the field is missing"),
            ));
        }
        Ok(Self { entries })
    }

    /// The field `name` (present: [`Struct::of`] checked), decoded by `decode`.
    fn get<T>(&self, name: &str, decode: impl FnOnce(&'a Value) -> Decoded<T>) -> Decoded<T> {
        let value = self
            .entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == name))
            .map(|(_, v)| v)
            .ok_or_else(|| FieldError::new(name, String::from("the field is missing")))?;
        decode(value).map_err(|e| e.under(name))
    }
}

/// `xcrs` or `msrs`: a `BTreeMap<u32, u64>`, a map of integers (in JSON, of their
/// decimal text) to integers, or in crosvm before April 2024 a `Vec<Register>`, a list
/// of `{id, value}`.
fn registers(v: &Value, layout: Layout) -> Decoded<Vec<(u32, u64)>> {
    if layout.register_lists {
        let register = |item: &Value| -> Decoded<(u32, u64)> {
            let r = Struct::of(item, &["id", "value"])?;
            Ok((r.get("id", u32_of)?, r.get("value", u64_of)?))
        };
        return array(v)?
            .iter()
            .enumerate()
            .map(|(i, item)| register(item).map_err(|e| e.under(&format!("[{i}]"))))
            .collect();
    }
    let Value::Map(entries) = v else {
        return Err(FieldError::new(
            "",
            format!("{} where a map of u32 to u64 belongs", kind(v)),
        ));
    };
    entries
        .iter()
        .map(|(k, val)| {
            let key = if layout.text_keys {
                json::key(k)?
            } else {
                u32_of(k)?
            };
            let value = u64_of(val).map_err(|e| e.under(&format!("{key:#x}")))?;
            Ok((key, value))
        })
        .collect()
}

/// `hypervisor::Segment` → the `kvm_segment` crosvm's KVM backend hands to
/// `KVM_SET_SREGS` (the crosvm profile's rules); `limit` names its limit field.
fn segment(v: &Value, limit: &str) -> Decoded<KvmSegment> {
    let s = Struct::of(
        v,
        &[
            "base", limit, "selector", "type_", "present", "dpl", "db", "s", "l", "g", "avl",
        ],
    )?;
    let seg = CrosvmSegment {
        base: s.get("base", u64_of)?,
        limit_bytes: s.get(limit, u32_of)?,
        selector: s.get("selector", u16_of)?,
        type_: s.get("type_", u8_of)?,
        present: s.get("present", u8_of)?,
        dpl: s.get("dpl", u8_of)?,
        db: s.get("db", u8_of)?,
        s: s.get("s", u8_of)?,
        l: s.get("l", u8_of)?,
        g: s.get("g", u8_of)?,
        avl: s.get("avl", u8_of)?,
    };
    Ok(crosvm_to_kvm(Profile::CROSVM.rules, &seg))
}

/// `hypervisor::DescriptorTable`.
fn table(v: &Value) -> Decoded<KvmDtable> {
    let t = Struct::of(v, &["base", "limit"])?;
    Ok(KvmDtable {
        base: t.get("base", u64_of)?,
        limit: t.get("limit", u16_of)?,
        padding: [0; 3],
    })
}

/// `hypervisor::Sregs`; `apic_base` (not in `Sregs`) comes from the MSRs.
fn sregs(v: &Value, apic_base: u64, limit: &str) -> Decoded<KvmSregs> {
    let r = Struct::of(
        v,
        &[
            "cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt", "gdt", "idt", "cr0", "cr2", "cr3",
            "cr4", "cr8", "efer",
        ],
    )?;
    Ok(KvmSregs {
        cs: r.get("cs", |v| segment(v, limit))?,
        ds: r.get("ds", |v| segment(v, limit))?,
        es: r.get("es", |v| segment(v, limit))?,
        fs: r.get("fs", |v| segment(v, limit))?,
        gs: r.get("gs", |v| segment(v, limit))?,
        ss: r.get("ss", |v| segment(v, limit))?,
        tr: r.get("tr", |v| segment(v, limit))?,
        ldt: r.get("ldt", |v| segment(v, limit))?,
        gdt: r.get("gdt", table)?,
        idt: r.get("idt", table)?,
        cr0: r.get("cr0", u64_of)?,
        cr2: r.get("cr2", u64_of)?,
        cr3: r.get("cr3", u64_of)?,
        cr4: r.get("cr4", u64_of)?,
        cr8: r.get("cr8", u64_of)?,
        efer: r.get("efer", u64_of)?,
        apic_base,
        interrupt_bitmap: [0; 4],
    })
}

/// `hypervisor::Regs`: the 18 registers of `kvm_regs`, by name, in its order.
fn regs(v: &Value) -> Decoded<Regs> {
    const NAMES: [&str; 18] = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15", "rip", "rflags",
    ];
    let r = Struct::of(v, &NAMES)?;
    let mut values = [0u64; 18];
    for (slot, name) in values.iter_mut().zip(NAMES) {
        *slot = r.get(name, u64_of)?;
    }
    Ok(Regs::from_array(values))
}

/// `hypervisor::DebugRegs` as the C bytes of `struct kvm_debugregs` (db[4], dr6, dr7,
/// flags 0, reserved 0): what crosvm's `set_debugregs` would pass.
fn debug_regs(v: &Value) -> Decoded<Vec<u8>> {
    let d = Struct::of(v, &["db", "dr6", "dr7"])?;
    let db = d.get("db", |v| {
        let items = array(v)?;
        if items.len() != 4 {
            return Err(FieldError::new(
                "",
                format!("{} entries, [u64; 4] has 4", items.len()),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| u64_of(item).map_err(|e| e.under(&format!("[{i}]"))))
            .collect::<Decoded<Vec<u64>>>()
    })?;
    let mut raw = Vec::with_capacity(raw_size::DEBUGREGS);
    for value in db
        .into_iter()
        .chain([d.get("dr6", u64_of)?, d.get("dr7", u64_of)?])
    {
        raw.extend_from_slice(&value.to_le_bytes());
    }
    raw.resize(raw_size::DEBUGREGS, 0);
    Ok(raw)
}

/// `hypervisor::Xsave { data: Vec<u32>, len: usize }`: checked, not kept.
fn xsave(v: &Value) -> Decoded<()> {
    let x = Struct::of(v, &["data", "len"])?;
    let words = x.get("data", |v| {
        let items = array(v)?;
        for (i, item) in items.iter().enumerate() {
            u32_of(item).map_err(|e| e.under(&format!("[{i}]")))?;
        }
        Ok(items.len())
    })?;
    let len = x.get("len", u64_of)?;
    if len.div_ceil(4) != words as u64 {
        return Err(FieldError::new(
            "len",
            format!(
                "{len} bytes, but data holds {words} u32 words (Xsave::new makes len.div_ceil(4))"
            ),
        ));
    }
    Ok(())
}

/// The fields of crosvm's `VcpuEvents` (`hypervisor/src/kvm/x86_64.rs`), its serde
/// form of `kvm_vcpu_events`.
const VCPU_EVENTS_FIELDS: [&str; 7] = [
    "exception",
    "interrupt",
    "nmi",
    "sipi_vector",
    "smi",
    "triple_fault",
    "exception_payload",
];

/// On KVM, `hypervisor_data` is `HypervisorState { interrupts, nested_state }` since
/// crosvm `25fd04b43` (2025-07-29, "add nested_state to snapshots"), and a bare
/// `VcpuEvents` before it, in CBOR (from `72d733e7e`, 2025-03-11) as in JSON; a JSON
/// fragment is always the bare `VcpuEvents` (`hypervisor_state` false). Other backends
/// (WHPX, HAXM) write other shapes, which this reader does not vouch for.
fn kvm_hypervisor_data(v: &Value, hypervisor_state: bool) -> Decoded<()> {
    // `e`, the first field that does not match the shape `tried` (of the shapes `what`).
    let other = |what: &str, tried: &str, e: FieldError| {
        let at = if e.path.is_empty() {
            String::new()
        } else {
            format!("field `{}`: ", e.path)
        };
        let why = format!(
            "not {what} (a snapshot of another backend?): as {tried}, {at}{}",
            e.reason
        );
        FieldError::new("", why)
    };
    let events = Struct::of(v, &VCPU_EVENTS_FIELDS);
    if !hypervisor_state {
        let what = "the bare VcpuEvents crosvm's KVM backend wrote before CBOR";
        return events.map(|_| ()).map_err(|e| other(what, "VcpuEvents", e));
    }
    let what = "crosvm's KVM HypervisorState {interrupts, nested_state}, nor the bare \
                VcpuEvents of crosvm before July 2025";
    match Struct::of(v, &["interrupts", "nested_state"]) {
        Ok(_) => Ok(()),
        Err(e) if events.is_err() => Err(other(what, "HypervisorState", e)),
        Err(_) => Ok(()),
    }
}

/// The parts of `hypervisor::VcpuSnapshot` kept.
struct VcpuSnapshot {
    vcpu_id: u64,
    regs: Regs,
    sregs: KvmSregs,
    debug_regs: Vec<u8>,
    msrs: Vec<MsrEntry>,
}

impl VcpuSnapshot {
    fn decode(v: &Value, layout: Layout) -> Decoded<Self> {
        let top = Struct::of(v, &TOP_FIELDS)?;
        let vcpu_id = top.get("vcpu_id", u64_of)?;
        let regs = top.get("regs", regs)?;
        top.get("xcrs", |v| registers(v, layout))?;
        let msrs: Vec<MsrEntry> = top
            .get("msrs", |v| registers(v, layout))?
            .into_iter()
            .map(|(index, value)| MsrEntry { index, value })
            .collect();
        let apic_base = msrs
            .iter()
            .find(|m| m.index == crate::arch::msr::APIC_BASE)
            .map_or(0, |m| m.value);
        let sregs = top.get("sregs", |v| sregs(v, apic_base, layout.limit))?;
        let debug_regs = top.get("debug_regs", debug_regs)?;
        top.get("xsave", xsave)?;
        top.get("hypervisor_data", |v| {
            kvm_hypervisor_data(v, layout.hypervisor_state)
        })?;
        top.get("tsc_offset", u64_of)?;
        Ok(Self {
            vcpu_id,
            regs,
            sregs,
            debug_regs,
            msrs,
        })
    }

    fn into_foreign(self, format: &str) -> ForeignVcpu {
        ForeignVcpu {
            stack: Stack::Crosvm,
            format: String::from(format),
            id: self.vcpu_id.to_string(),
            regs: self.regs,
            sregs: self.sregs,
            file_cpl: None,
            mp_state: None,
            lapic: None,
            vcpu_events: None,
            debug_regs: Some(self.debug_regs),
            msrs: self.msrs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciborium::value::Integer;

    #[test]
    fn fragment_names() {
        assert_eq!(vcpu_index("vcpu0"), Some(0));
        assert_eq!(vcpu_index("vcpu17"), Some(17));
        for bad in [
            "vcpu",
            "vcpu01",
            "vcpu-1",
            "vcpu1a",
            "cpu1",
            "vcpu99999999999",
        ] {
            assert_eq!(vcpu_index(bad), None, "{bad}");
        }
    }

    #[test]
    fn recognises_only_the_vcpu_snapshot_map() {
        assert!(recognise(b"\xa9\x67vcpu_id\x00\x64regs"));
        assert!(!recognise(b"\xa8\x67vcpu_id"));
        // The JSON crosvm wrote before 2025-03-11.
        assert!(recognise(b"{\"vcpu_id\":0,\"regs\""));
        assert!(!recognise(b"{\"cs\": {}, \"vcpu_id\": 0}"));
    }

    #[test]
    fn integers_are_range_checked() {
        let v = Value::Integer(Integer::from(256));
        assert!(u8_of(&v).is_err());
        assert_eq!(u16_of(&v).ok(), Some(256));
        let neg = Value::Integer(Integer::from(-1));
        assert!(u64_of(&neg).is_err());
        assert!(u64_of(&Value::Text(String::from("1"))).is_err());
    }
}
