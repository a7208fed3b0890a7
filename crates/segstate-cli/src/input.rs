//! What `segstate check` reads: format detection and decoding into [`SegmentState`]s.
//!
//! Detection, unless a format is forced:
//!
//! - **foreign snapshots** first ([`crate::foreign`]): a Firecracker state file by its
//!   magic, a Cloud Hypervisor `state.json` by its `snapshots` / `cpu-manager` keys;
//! - **text** (valid UTF-8 without NUL bytes): JSON when the first non-blank character
//!   is `{`, a QEMU CPU state dump otherwise;
//! - **binary**, by exact size: 312 bytes `struct kvm_sregs`; 456 bytes `kvm_sregs`
//!   followed by `struct kvm_regs` (RFLAGS at regs offset 136); 4096 bytes a whole
//!   VMCB page; 664 to 3072 bytes a VMCB save area (what follows the control area).
//!
//! Every error names the line (text) or the byte offset (binary) it is about.

use std::fmt;

use segstate::arch::{PrivilegeLevel, SegReg, Segment};
use segstate::check::SegmentState;
use segstate::check::report::Source;
use segstate::format::FormatError;
use segstate::format::kvm::{KvmSegment, KvmSregs};
use segstate::format::qemu_dump::{self, QemuDump};
use segstate::format::svm::{SaveAreaOffset, VmcbSaveArea};

use crate::json::{self, KvmSregsJson};

/// Size of `struct kvm_regs`: rax..r15, rip, rflags.
pub const KVM_REGS_SIZE: usize = 144;
/// Offset of `rflags` in `struct kvm_regs`.
pub const KVM_REGS_RFLAGS: usize = 136;
/// The smallest VMCB save area read (the 2017 layout, through G_PAT and DBGCTL).
pub const SAVE_AREA_MIN: usize = SaveAreaOffset::END;
/// The largest: a page minus the control area.
pub const SAVE_AREA_MAX: usize = VmcbSaveArea::PAGE_SIZE - SaveAreaOffset::IN_PAGE;
/// RFLAGS assumed when the input has none: only the fixed bit 1.
pub const RFLAGS_UNKNOWN: u64 = 0x2;

/// The input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum InputFormat {
    /// QEMU CPU state dump text (`info registers`, `-d cpu`, "KVM: entry failed").
    Dump,
    /// Raw `struct kvm_sregs`, 312 bytes.
    Sregs,
    /// Raw `struct kvm_sregs` followed by `struct kvm_regs`, 456 bytes.
    #[value(name = "sregs+regs")]
    SregsRegs,
    /// A whole 4 KiB VMCB page.
    Vmcb,
    /// A VMCB save area, 664 to 3072 bytes.
    VmcbSave,
    /// segstate's JSON state: a `kvm_sregs` as `segstate convert --to sregs` writes it.
    Json,
    /// A QEMU migration stream (`migrate "exec:cat > FILE"`), read as a stream: guest
    /// RAM is skipped, never held in memory.
    Migration,
    /// A Cloud Hypervisor snapshot's `state.json` (or its directory): every vCPU.
    #[value(name = "cloud-hypervisor")]
    CloudHypervisor,
    /// A Firecracker snapshot state file (formats 9.x to 11.x): every vCPU.
    Firecracker,
}

impl InputFormat {
    /// Every format.
    pub const ALL: [InputFormat; 9] = [
        InputFormat::Dump,
        InputFormat::Sregs,
        InputFormat::SregsRegs,
        InputFormat::Vmcb,
        InputFormat::VmcbSave,
        InputFormat::Json,
        InputFormat::Migration,
        InputFormat::CloudHypervisor,
        InputFormat::Firecracker,
    ];

    /// The name `--format` takes.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            InputFormat::Dump => "dump",
            InputFormat::Sregs => "sregs",
            InputFormat::SregsRegs => "sregs+regs",
            InputFormat::Vmcb => "vmcb",
            InputFormat::VmcbSave => "vmcb-save",
            InputFormat::Json => "json",
            InputFormat::Migration => "migration",
            InputFormat::CloudHypervisor => "cloud-hypervisor",
            InputFormat::Firecracker => "firecracker",
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Input that cannot be read; the message names the line or offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

fn err(message: impl Into<String>) -> InputError {
    InputError(message.into())
}

/// One state to check.
#[derive(Clone, Debug)]
pub struct Input {
    /// Where it came from, e.g. `dump at line 12`.
    pub label: String,
    /// The format it was read as.
    pub format: InputFormat,
    /// The state.
    pub state: SegmentState,
    /// How the report should judge it.
    pub source: Source,
    /// The dump, for dump inputs (its own checks need it).
    pub dump: Option<QemuDump>,
    /// Remarks about the decoding (assumed values).
    pub notes: Vec<String>,
}

/// True when `bytes` read as text: valid UTF-8 without NUL bytes.
#[must_use]
pub fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// Decides the format of `bytes`.
///
/// # Errors
///
/// Empty input, or binary input of no known size.
pub fn detect(bytes: &[u8]) -> Result<InputFormat, InputError> {
    if let Some(foreign) = crate::foreign::detect(bytes) {
        return Ok(foreign);
    }
    if is_text(bytes) {
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        let t = text.trim_start();
        if t.is_empty() {
            return Err(err("empty input: nothing to check"));
        }
        return Ok(if t.starts_with('{') {
            InputFormat::Json
        } else {
            InputFormat::Dump
        });
    }
    match bytes.len() {
        KvmSregs::SIZE => Ok(InputFormat::Sregs),
        n if n == KvmSregs::SIZE + KVM_REGS_SIZE => Ok(InputFormat::SregsRegs),
        VmcbSaveArea::PAGE_SIZE => Ok(InputFormat::Vmcb),
        SAVE_AREA_MIN..=SAVE_AREA_MAX => Ok(InputFormat::VmcbSave),
        n => Err(err(format!(
            "{n} bytes of binary input: expected struct kvm_sregs (312 bytes), kvm_sregs + \
             kvm_regs (456), a VMCB page (4096) or a VMCB save area ({SAVE_AREA_MIN} to \
             {SAVE_AREA_MAX}); text must be UTF-8 without NUL bytes"
        ))),
    }
}

/// Reads every state in `bytes`, detecting the format unless `format` is given.
///
/// # Errors
///
/// [`InputError`] naming the line or offset of the first thing that cannot be read.
pub fn read(bytes: &[u8], format: Option<InputFormat>) -> Result<Vec<Input>, InputError> {
    let format = match format {
        Some(f) => f,
        None => detect(bytes)?,
    };
    match format {
        InputFormat::Dump => read_dump(text(bytes)?),
        InputFormat::Json => read_json(text(bytes)?).map(|i| vec![i]),
        InputFormat::Sregs => read_sregs(bytes, false).map(|i| vec![i]),
        InputFormat::SregsRegs => read_sregs(bytes, true).map(|i| vec![i]),
        InputFormat::Vmcb => read_vmcb(bytes, true).map(|i| vec![i]),
        InputFormat::VmcbSave => read_vmcb(bytes, false).map(|i| vec![i]),
        InputFormat::Migration => read_migration(bytes),
        InputFormat::CloudHypervisor | InputFormat::Firecracker => {
            crate::foreign::read_inputs(bytes, format)
        }
    }
}

/// Reads every CPU of a QEMU migration stream from `reader`, streaming: RAM pages are
/// skipped as they pass, so a multi-GiB stream needs a few KiB of memory.
///
/// # Errors
///
/// [`InputError`] naming the byte offset where the stream stops making sense, or a
/// stream without the JSON description QEMU appends (it names each CPU field).
pub fn read_migration(reader: impl std::io::Read) -> Result<Vec<Input>, InputError> {
    use segstate::format::qemu_migration;
    let summary =
        qemu_migration::walk(reader).map_err(|e| err(format!("QEMU migration stream: {e}")))?;
    if !summary.has_description {
        return Err(err(
            "QEMU migration stream: no vmstate description at the end (suppress-vmdesc, or a              cut stream), so the CPU sections cannot be decoded",
        ));
    }
    if summary.cpus.is_empty() {
        return Err(err("QEMU migration stream: no `cpu` section found"));
    }
    Ok(summary
        .cpus
        .iter()
        .map(|cpu| Input {
            label: format!(
                "migration stream CPU {} (section at offset {:#x})",
                cpu.instance, cpu.offset
            ),
            format: InputFormat::Migration,
            state: cpu.segment_state(),
            source: Source::GuestView,
            dump: None,
            notes: vec![format!(
                "QEMU's hflags CPL is {}; {} bytes of guest RAM skipped",
                cpu.cpl, summary.ram_bytes_skipped
            )],
        })
        .collect())
}

/// True when `prefix` (the first bytes of an input) starts a QEMU migration stream.
#[must_use]
pub fn is_migration_stream(prefix: &[u8]) -> bool {
    segstate::format::qemu_migration::looks_like_stream(prefix)
}

fn text(bytes: &[u8]) -> Result<&str, InputError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        err(format!(
            "line {line} (byte offset {at}): not UTF-8 text; binary inputs are detected by size"
        ))
    })
}

fn read_dump(text: &str) -> Result<Vec<Input>, InputError> {
    let dumps = qemu_dump::parse(text).map_err(|e| err(format!("QEMU dump: {e}")))?;
    if dumps.is_empty() {
        return Err(err(
            "line 1: no QEMU CPU state dump found (a dump starts at a line beginning with \
             `RAX=` or `EAX=`); JSON must start with `{`",
        ));
    }
    Ok(dumps
        .into_iter()
        .map(|d| Input {
            label: format!("dump at line {}", d.line),
            format: InputFormat::Dump,
            state: d.segment_state(),
            source: Source::GuestView,
            notes: if d.efer.is_none() {
                vec![String::from("the dump has no EFER line: EFER taken as 0")]
            } else {
                Vec::new()
            },
            dump: Some(d),
        })
        .collect())
}

/// Byte offset of a `kvm_segment` field, from the name a [`FormatError`] gives.
fn kvm_field_offset(field: &str) -> usize {
    match field {
        "limit" => 8,
        "selector" => 12,
        "type" => 14,
        "present" => 15,
        "dpl" => 16,
        "db" => 17,
        "s" => 18,
        "l" => 19,
        "g" => 20,
        "avl" => 21,
        "unusable" => 22,
        "padding" => 23,
        _ => 0,
    }
}

/// Strictly decodes the eight segments of a `kvm_sregs`; `at` locates an error.
pub(crate) fn decode_kvm_segments(
    sregs: &KvmSregs,
    at: impl Fn(SegReg, &FormatError) -> String,
) -> Result<segstate::arch::PerSegReg<Segment>, InputError> {
    let mut out = segstate::arch::PerSegReg([Segment::default(); 8]);
    for reg in SegReg::ALL {
        let k: KvmSegment = *sregs.segment(reg);
        out[reg] = Segment::try_from(k).map_err(|e| err(format!("{}: {e}", at(reg, &e))))?;
    }
    Ok(out)
}

pub(crate) fn sregs_state(
    sregs: &KvmSregs,
    segments: segstate::arch::PerSegReg<Segment>,
    rflags: u64,
) -> SegmentState {
    SegmentState {
        segments,
        cpl: sregs.cpl(),
        cr0: sregs.cr0,
        cr4: sregs.cr4,
        efer: sregs.efer,
        rflags,
    }
}

fn read_sregs(bytes: &[u8], with_regs: bool) -> Result<Input, InputError> {
    let want = KvmSregs::SIZE + if with_regs { KVM_REGS_SIZE } else { 0 };
    if bytes.len() != want {
        return Err(err(format!(
            "offset {}: struct kvm_sregs{} is {want} bytes, the input has {}",
            bytes.len().min(want),
            if with_regs { " + struct kvm_regs" } else { "" },
            bytes.len()
        )));
    }
    let sregs = KvmSregs::from_bytes(&bytes[..KvmSregs::SIZE]).map_err(|e| err(e.to_string()))?;
    let segments = decode_kvm_segments(&sregs, |reg, e| {
        let index = SegReg::KVM_SREGS_ORDER
            .iter()
            .position(|&r| r == reg)
            .unwrap_or(0);
        let off = KvmSregs::SEGMENT_OFFSETS[index] + kvm_field_offset(e.field);
        format!("offset {off} ({}.{})", reg.kvm_name(), e.field)
    })?;
    let mut notes = Vec::new();
    let rflags = if with_regs {
        let off = KvmSregs::SIZE + KVM_REGS_RFLAGS;
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[off..off + 8]);
        u64::from_le_bytes(b)
    } else {
        notes.push(String::from(
            "no struct kvm_regs: RFLAGS taken as 0x2 (append the 144-byte kvm_regs to check it)",
        ));
        RFLAGS_UNKNOWN
    };
    Ok(Input {
        label: String::from(if with_regs {
            "kvm_sregs + kvm_regs"
        } else {
            "kvm_sregs"
        }),
        format: if with_regs {
            InputFormat::SregsRegs
        } else {
            InputFormat::Sregs
        },
        state: sregs_state(&sregs, segments, rflags),
        source: Source::GuestView,
        dump: None,
        notes,
    })
}

fn read_json(text: &str) -> Result<Input, InputError> {
    let parsed: KvmSregsJson = json::parse(text, "kvm_sregs JSON").map_err(err)?;
    let sregs = parsed
        .decode()
        .map_err(|e| err(format!("kvm_sregs JSON: {e}")))?;
    let segments = decode_kvm_segments(&sregs, |reg, e| {
        format!("kvm_sregs JSON: field `{}.{}`", reg.kvm_name(), e.field)
    })?;
    Ok(Input {
        label: String::from("JSON kvm_sregs"),
        format: InputFormat::Json,
        state: sregs_state(&sregs, segments, RFLAGS_UNKNOWN),
        source: Source::GuestView,
        dump: None,
        notes: vec![String::from("a kvm_sregs has no RFLAGS: taken as 0x2")],
    })
}

fn read_vmcb(bytes: &[u8], page: bool) -> Result<Input, InputError> {
    let (area, base) = if page {
        (
            VmcbSaveArea::from_page(bytes).map_err(|e| err(format!("offset 0: {e}")))?,
            SaveAreaOffset::IN_PAGE,
        )
    } else {
        (
            VmcbSaveArea::from_save_area_bytes(bytes)
                .map_err(|e| err(format!("offset {}: {e}", bytes.len().min(e.expected))))?,
            0,
        )
    };
    let mut segments = segstate::arch::PerSegReg([Segment::default(); 8]);
    for reg in SegReg::ALL {
        segments[reg] = Segment::try_from(area.segments[reg]).map_err(|e| {
            err(format!(
                "offset {:#x} ({} attrib): {e}",
                base + SaveAreaOffset::segment(reg) + 2,
                reg.name()
            ))
        })?;
    }
    let cpl = PrivilegeLevel::try_from(area.cpl).map_err(|_| {
        err(format!(
            "offset {:#x} (VMCB.CPL): {} is not a privilege level (0..=3)",
            base + SaveAreaOffset::CPL,
            area.cpl
        ))
    })?;
    Ok(Input {
        label: String::from(if page { "VMCB page" } else { "VMCB save area" }),
        format: if page {
            InputFormat::Vmcb
        } else {
            InputFormat::VmcbSave
        },
        state: SegmentState {
            segments,
            cpl,
            cr0: area.cr0,
            cr4: area.cr4,
            efer: area.efer,
            rflags: area.rflags,
        },
        source: Source::Vmcb,
        dump: None,
        notes: Vec::new(),
    })
}
