//! Hyper-V saved state: the partition state blob (the value of
//! `/savedstate/savedVM/partition_state` in a `.vmrs`/`.vsv`), every VP, with the CPL
//! the blob records.
//!
//! Layout, read at microsoft/openvmm `1488a37b7cfe` (`vm/hv1/hvdef/src/save_restore.rs`
//! and the writer `vmm_core/hyperv_dump/src/partition_state.rs`, which writes the
//! stream `VmSavedStateDumpProvider.dll` parses):
//!
//! - an envelope, `VidSavedStateDescriptor {u64 descriptor_size, u64 header_size, u64
//!   total_size}` (`vmm_core/hyperv_dump/src/defs.rs`), the chunks starting at
//!   `header_size + 16`; a bare chunk stream (starting with the prolog) is read too;
//! - chunks `VmSaveChunkHeader {u32 id, u32 data_length, 8 bytes padding}` followed by
//!   `data_length` bytes, back to back: `PROLOG` (id 0, 4080 bytes in all, tag "duTP",
//!   the processor vendor), partition chunks, then per VP a `VP` marker (its index), a
//!   `VP_VTL` marker, and the register chunks (GP, control, segment, table, debug, …),
//!   and finally `EPILOG` (`0xF000_0000`).
//!
//! Of each VP, VTL 0 is read: `VP_GP_REGISTERS`, `VP_VTL_CONTROL_REGISTERS`,
//! [`VpSegmentRegisters`] (with its `cpl` byte) and `VP_TABLE_REGISTERS` are required,
//! `VP_DEBUG_REGISTERS` is read when present; other chunks are skipped by length.
//!
//! A whole `.vmrs`/`.vsv` (the HyperVStorage container, format 4.0) is opened by
//! [`super::hyperv_storage`] down to that blob, seeking past guest RAM.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use super::foreign::{
    ForeignVcpu, IngestError, Place, Reason, Stack, raw, record_body, within_limit,
};
use super::hyperv_storage;
use crate::arch::{PerSegReg, PrivilegeLevel, SegReg, Segment};
use crate::format::hyperv::{HvTableRegister, VmSaveChunkHeader, VpSegmentRegisters};
use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};
use crate::format::{le_u32, le_u64};
use crate::snapshot::Regs;

/// The format name errors carry.
pub const FORMAT: &str = "Hyper-V partition state";
/// The largest blob read: a few KiB per VP.
pub(crate) const MAX_BLOB: u64 = 16 << 20;
/// The HyperVStorage file header signature (`.vmrs`, `.vsv`, `.vmcx`).
pub const HVS_SIGNATURE: u32 = 0x0128_2014;
/// Size of `VidSavedStateDescriptor`.
pub(crate) const DESCRIPTOR_SIZE: usize = 24;
/// The chunks start this far after `header_size`.
pub(crate) const ENVELOPE_GAP: usize = 16;
/// `OB_SAVE_CHUNK_PROLOG_SIZE`.
pub const PROLOG_SIZE: usize = 4080;
/// `VM_SAVE_CHUNK_TAG_UNDEFINED`, the prolog's tag ("duTP").
pub const PROLOG_TAG: u32 = 0x5054_6475;

/// `VmSaveChunkId` values read.
pub(crate) mod chunk {
    /// `PROLOG`.
    pub const PROLOG: u32 = 0x0000_0000;
    /// `EPILOG`.
    pub const EPILOG: u32 = 0xF000_0000;
    /// `VP`: starts a VP (its index).
    pub const VP: u32 = 0x3000_1000;
    /// `VP_GP_REGISTERS`.
    pub const GP_REGISTERS: u32 = 0x3000_5000;
    /// `VP_VTL_CONTROL_REGISTERS`.
    pub const CONTROL_REGISTERS: u32 = 0x3000_7000;
    /// `VP_DEBUG_REGISTERS`.
    pub const DEBUG_REGISTERS: u32 = 0x3000_8000;
    /// `VP_TABLE_REGISTERS`.
    pub const TABLE_REGISTERS: u32 = 0x3000_A000;
    /// `VP_VTL`: the VTL the following register chunks belong to.
    pub const VP_VTL: u32 = 0x3001_A000;
}

/// How a blob is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `VidSavedStateDescriptor`, then the chunks.
    Envelope,
    /// The chunks alone, from the prolog.
    Bare,
    /// A HyperVStorage container (`.vmrs`/`.vsv`), the blob one of its keys.
    HyperVStorage,
}

fn is_prolog(b: &[u8]) -> bool {
    b.len() >= 20
        && le_u32(b, 0) == chunk::PROLOG
        && le_u32(b, 4) as usize == PROLOG_SIZE - VmSaveChunkHeader::SIZE
        && le_u32(b, 16) == PROLOG_TAG
}

/// Recognises a partition state blob (by its prolog, after the envelope or at 0) or a
/// HyperVStorage file (by its signature).
#[must_use]
pub fn recognise(prefix: &[u8]) -> Option<Framing> {
    if prefix.len() >= 4 && le_u32(prefix, 0) == HVS_SIGNATURE {
        return Some(Framing::HyperVStorage);
    }
    if is_prolog(prefix) {
        return Some(Framing::Bare);
    }
    let header = prefix.get(8..16).map(|b| le_u64(b, 0))?;
    let start = usize::try_from(header).ok()?.checked_add(ENVELOPE_GAP)?;
    prefix
        .get(start..)
        .filter(|b| is_prolog(b))
        .map(|_| Framing::Envelope)
}

/// Reads every VP of the partition state blob at `path`.
///
/// # Errors
///
/// As [`read`]; a file that cannot be read or is over 16 MiB (`MAX_BLOB`).
pub fn read_path(path: &std::path::Path) -> Result<Vec<ForeignVcpu>, IngestError> {
    use std::io::Read;
    let label = path.display().to_string();
    let io = |e: std::io::Error| {
        IngestError::new(FORMAT, &label, Place::File, Reason::Io(e.to_string()))
    };
    let mut prefix = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(io)?;
    let got = file.read(&mut prefix).map_err(io)?;
    if got == 4 && le_u32(&prefix, 0) == HVS_SIGNATURE {
        let (blob, key) = hyperv_storage::partition_state(file, &label, MAX_BLOB)?;
        return read_blob(&blob, &label, Some(key));
    }
    let bytes = super::foreign::read_limited(path, MAX_BLOB, FORMAT)?;
    read_blob(&bytes, &label, None)
}

/// Reads every VP of a partition state blob; `file` names it in errors.
///
/// # Errors
///
/// [`IngestError`] naming the offset and the reason: no prolog, a HyperVStorage
/// container without a readable blob, a chunk running past the end, a chunk of the
/// wrong length, a VP without its registers, no epilog, a CPL byte above 3.
pub fn read(bytes: &[u8], file: &str) -> Result<Vec<ForeignVcpu>, IngestError> {
    if recognise(bytes) == Some(Framing::HyperVStorage) {
        let (blob, key) =
            hyperv_storage::partition_state(std::io::Cursor::new(bytes), file, MAX_BLOB)?;
        return read_blob(&blob, file, Some(key));
    }
    read_blob(bytes, file, None)
}

/// A blob, standing alone or found under `key` in a container: places inside it are
/// then named by the key.
fn read_blob(bytes: &[u8], file: &str, key: Option<&str>) -> Result<Vec<ForeignVcpu>, IngestError> {
    let mut v = walk_blob(bytes, file).map_err(|mut e| {
        if let Some(key) = key {
            e.place = Place::Field(match e.place {
                Place::Offset(o) => format!("{key}, blob offset {o} ({o:#x})"),
                Place::Field(f) => format!("{key}, {f}"),
                other => format!("{key}, {other}"),
            });
        }
        e
    })?;
    if let Some(key) = key {
        for vp in &mut v {
            vp.format = format!("HyperVStorage 4.0 file, {key}: {}", vp.format);
        }
    }
    Ok(v)
}

fn walk_blob(bytes: &[u8], file: &str) -> Result<Vec<ForeignVcpu>, IngestError> {
    let fail =
        |at: usize, reason: Reason| IngestError::new(FORMAT, file, Place::Offset(at), reason);
    within_limit(FORMAT, file, bytes.len(), MAX_BLOB)?;
    let (start, framing) = match recognise(bytes) {
        Some(Framing::HyperVStorage) => {
            return Err(fail(
                0,
                Reason::Layout(String::from(
                    "a HyperVStorage container inside the partition state blob",
                )),
            ));
        }
        Some(Framing::Bare) => (0, Framing::Bare),
        Some(Framing::Envelope) => (le_u64(bytes, 8) as usize + ENVELOPE_GAP, Framing::Envelope),
        None if bytes.len() < DESCRIPTOR_SIZE => {
            return Err(fail(
                0,
                Reason::Truncated {
                    needed: DESCRIPTOR_SIZE,
                    found: bytes.len(),
                },
            ));
        }
        None => {
            return Err(fail(
                0,
                Reason::Missing(
                    "the PROLOG chunk (id 0, 4080 bytes, tag \"duTP\") at offset 0 or after \
                     the VidSavedStateDescriptor",
                ),
            ));
        }
    };
    if framing == Framing::Envelope {
        let total = le_u64(bytes, 16);
        if total != bytes.len() as u64 {
            return Err(fail(
                16,
                Reason::WrongLength {
                    what: "the blob (VidSavedStateDescriptor.total_size)",
                    expected: usize::try_from(total).unwrap_or(usize::MAX),
                    found: bytes.len(),
                },
            ));
        }
    }
    let vendor = match le_u32(bytes, start + 24) {
        0 => "AMD",
        1 => "Intel",
        2 => "Hygon",
        0x10 => "ARM",
        _ => "unknown vendor",
    };
    if vendor == "ARM" {
        return Err(fail(
            start + 24,
            Reason::UnsupportedVersion {
                found: String::from("an ARM64 partition"),
                supported: "x64 partitions",
            },
        ));
    }
    let framed = if framing == Framing::Envelope {
        "VidSavedStateDescriptor envelope"
    } else {
        "bare chunk stream"
    };
    let described = format!("Hyper-V partition state ({framed}, {vendor})");
    let mut walk = Walk {
        bytes,
        file,
        vps: Vec::new(),
        vtl: 0,
    };
    let mut o = start;
    loop {
        let Some(h) = bytes.get(o..o + VmSaveChunkHeader::SIZE) else {
            return Err(fail(
                o,
                Reason::Missing("the EPILOG chunk (the blob ends first: truncated)"),
            ));
        };
        let (id, length) = (le_u32(h, 0), le_u32(h, 4) as usize);
        let end = o + VmSaveChunkHeader::SIZE;
        let data = record_body(bytes, end, length).map_err(|r| fail(o + 4, r))?;
        if id == chunk::EPILOG {
            break;
        }
        walk.chunk(id, o, data)?;
        o = end + length;
    }
    if walk.vps.is_empty() {
        return Err(fail(
            o,
            Reason::Missing("every VP chunk (the blob has none)"),
        ));
    }
    walk.vps
        .into_iter()
        .map(|vp| vp.finish(&described, file))
        .collect()
}

/// The registers of one VP as its chunks arrive.
#[derive(Default)]
struct VpChunks {
    index: u32,
    at: usize,
    gp: Option<Regs>,
    control: Option<[u64; 6]>,
    segments: Option<(PerSegReg<KvmSegment>, PrivilegeLevel)>,
    tables: Option<(KvmDtable, KvmDtable)>,
    debug: Option<Vec<u8>>,
    other_vtls: bool,
}

struct Walk<'a> {
    bytes: &'a [u8],
    file: &'a str,
    vps: Vec<VpChunks>,
    vtl: u8,
}

impl Walk<'_> {
    fn chunk(&mut self, id: u32, at: usize, data: &[u8]) -> Result<(), IngestError> {
        let file = self.file;
        let sized = |n: usize, what: &'static str| {
            if data.len() == n {
                Ok(())
            } else {
                Err(IngestError::new(
                    FORMAT,
                    file,
                    Place::Offset(at + 4),
                    Reason::WrongLength {
                        what,
                        expected: n,
                        found: data.len(),
                    },
                ))
            }
        };
        let u64s = |n: usize| -> Vec<u64> { (0..n).map(|i| le_u64(data, 8 * i)).collect() };
        if id == chunk::VP {
            sized(16, "the VP chunk's data")?;
            self.vtl = 0;
            self.vps.push(VpChunks {
                index: le_u32(data, 0),
                at,
                ..VpChunks::default()
            });
            return Ok(());
        }
        if id == chunk::VP_VTL {
            sized(16, "the VP_VTL chunk's data")?;
            self.vtl = data[0];
            return Ok(());
        }
        let Some(vp) = self.vps.last_mut() else {
            return Ok(()); // a partition-wide chunk
        };
        if self.vtl != 0 {
            vp.other_vtls = true;
            return Ok(());
        }
        match id {
            chunk::GP_REGISTERS => {
                sized(144, "VP_GP_REGISTERS data")?;
                // rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8 … r15, rip, rflags.
                let g = u64s(18);
                vp.gp = Some(Regs::from_array([
                    g[0], g[3], g[1], g[2], g[6], g[7], g[4], g[5], g[8], g[9], g[10], g[11],
                    g[12], g[13], g[14], g[15], g[16], g[17],
                ]));
            }
            chunk::CONTROL_REGISTERS => {
                sized(
                    48,
                    "VP_VTL_CONTROL_REGISTERS data (cr0, cr2, cr3, cr4, cr8, efer)",
                )?;
                let c = u64s(6);
                vp.control = Some([c[0], c[1], c[2], c[3], c[4], c[5]]);
            }
            VpSegmentRegisters::CHUNK_ID => {
                let whole = &self.bytes[at..at + VmSaveChunkHeader::SIZE + data.len()];
                vp.segments = Some(segments(whole, at, vp.index, file)?);
            }
            chunk::TABLE_REGISTERS => {
                sized(32, "VP_TABLE_REGISTERS data (idtr, gdtr)")?;
                let table = |o: usize| {
                    let t = HvTableRegister::from_bytes(&data[o..o + HvTableRegister::SIZE])
                        .expect("32 bytes were checked");
                    KvmDtable {
                        base: t.base,
                        limit: t.limit,
                        padding: [0; 3],
                    }
                };
                vp.tables = Some((table(0), table(16)));
            }
            chunk::DEBUG_REGISTERS => {
                sized(48, "VP_DEBUG_REGISTERS data (dr0-dr3, dr6, dr7)")?;
                let d = u64s(6);
                vp.debug = Some(raw::debug_regs_from([d[0], d[1], d[2], d[3]], d[4], d[5]));
            }
            _ => {}
        }
        Ok(())
    }
}

/// The `VP_SEGMENT_REGISTERS` chunk (header included) at `at`: the eight segments
/// decoded strictly (reserved attribute bits refused, unusable = !P) and the CPL byte.
fn segments(
    whole: &[u8],
    at: usize,
    vp: u32,
    file: &str,
) -> Result<(PerSegReg<KvmSegment>, PrivilegeLevel), IngestError> {
    let chunk = VpSegmentRegisters::from_bytes(whole).map_err(|e| {
        IngestError::new(
            FORMAT,
            file,
            Place::Offset(at),
            Reason::Layout(format!("VP {vp} VP_SEGMENT_REGISTERS: {e}")),
        )
    })?;
    let mut out = PerSegReg::from_fn(|_| KvmSegment::default());
    for reg in SegReg::ALL {
        let segment = Segment::try_from(chunk.segments[reg]).map_err(|e| {
            let field = at + VmSaveChunkHeader::SIZE + reg.index() * 16 + 14;
            IngestError::new(
                FORMAT,
                file,
                Place::Field(format!(
                    "VP {vp} {}.attributes at offset {field} ({field:#x})",
                    reg.kvm_name()
                )),
                Reason::Layout(format!("{:#06x}: {}", e.value, e.reason)),
            )
        })?;
        out[reg] = KvmSegment::from(segment);
    }
    let cpl = chunk.cpl().map_err(|e| {
        let field = at + VpSegmentRegisters::CPL_OFFSET;
        IngestError::new(
            FORMAT,
            file,
            Place::Field(format!("VP {vp} cpl at offset {field} ({field:#x})")),
            Reason::Layout(format!("{}: {}", e.value, e.reason)),
        )
    })?;
    Ok((out, cpl))
}

impl VpChunks {
    fn finish(self, described: &str, file: &str) -> Result<ForeignVcpu, IngestError> {
        let missing = |what: &'static str| {
            IngestError::new(
                FORMAT,
                file,
                Place::Field(format!(
                    "VP {} (its VP chunk at offset {})",
                    self.index, self.at
                )),
                Reason::Missing(what),
            )
        };
        let regs = self
            .gp
            .ok_or_else(|| missing("the VP_GP_REGISTERS chunk"))?;
        let c = self
            .control
            .ok_or_else(|| missing("the VP_VTL_CONTROL_REGISTERS chunk"))?;
        let (segs, cpl) = self
            .segments
            .ok_or_else(|| missing("the VP_SEGMENT_REGISTERS chunk"))?;
        let (idt, gdt) = self
            .tables
            .ok_or_else(|| missing("the VP_TABLE_REGISTERS chunk"))?;
        let mut format = format!("{described}, VP {}", self.index);
        if self.other_vtls {
            format.push_str("; VTL 0 read, higher VTLs skipped");
        }
        let mut sregs = KvmSregs {
            gdt,
            idt,
            cr0: c[0],
            cr2: c[1],
            cr3: c[2],
            cr4: c[3],
            cr8: c[4],
            efer: c[5],
            // The APIC base is in VP_SYNIC_APIC_STATE, not read.
            apic_base: 0,
            ..KvmSregs::default()
        };
        sregs.set_segments(&segs);
        Ok(ForeignVcpu {
            stack: Stack::HyperV,
            format,
            id: self.index.to_string(),
            regs,
            sregs,
            file_cpl: Some(cpl),
            mp_state: None,
            lapic: None,
            vcpu_events: None,
            debug_regs: self.debug,
            msrs: Vec::new(),
        })
    }
}
