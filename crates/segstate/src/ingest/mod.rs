//! Readers for everything users hold (std): format detection and decoding into
//! [`SegmentState`]s — QEMU register dumps ([`qemu_dump`]) and the other dumps a log
//! holds ([`log`]), QEMU migration streams and libvirt saved-VM images
//! ([`qemu_migration`]), raw `kvm_sregs` (+ `kvm_regs`), VMCB pages and save areas,
//! segstate snapshots, and (feature `serde`) segstate's JSON state, wtf's `regs.json`
//! and the state files of Firecracker, Cloud Hypervisor, crosvm, Xen and Hyper-V.
//!
//! Detection, unless a format is forced:
//!
//! - **by magic** ([`detect_magic`]): a libvirt saved-VM image, a QEMU migration
//!   stream, a segstate snapshot, and (feature `serde`) a Firecracker state file, a
//!   Xen save image, Hyper-V saved state, a crosvm `vcpu{N}` fragment, a Cloud
//!   Hypervisor `state.json` by its keys;
//! - **text** (valid UTF-8 without NUL bytes): JSON when the first non-blank character
//!   is `{` (wtf's `regs.json` by its `cs` object, `wtf::recognise` with `serde`; a regs.json pasted
//!   in a text with no dump is read too), otherwise a log as users paste it, read by
//!   [`log::read_log`]: QEMU dumps,
//!   Linux `dump_vmcs`/`dump_vmcb`, Xen, HAXM and hyperkit dumps, `bhyvectl --get-all`,
//!   other VMMs' `kvm_sregs`
//!   printouts (kontain km, gVisor, qemu-kvm's `kvm_show_regs`, kvmtool's table,
//!   OpenDCDiag's KVM register dump, the
//!   Rust VMMs' `Debug`), VirtualBox's `Guest CPUM` dumps, Bochs's CPU dumps, gdb's
//!   `info registers`, EDK2's CPU exception dumps (OVMF's `!!!! X64 Exception Type`)
//!   and exit lines under
//!   any line prefix, each state judged by [`judge::judge`]; a program debugger's
//!   register display (MS-DOS DEBUG and its descendants, WinDbg) is no dump, and a
//!   text holding only that is refused naming it ([`debugger_regs`]);
//! - **binary**, by exact size: 312 bytes `struct kvm_sregs`; 456 bytes `kvm_sregs`
//!   followed by `struct kvm_regs` (RFLAGS at regs offset 136); 4096 bytes a whole
//!   VMCB page; 664 to 3072 bytes a VMCB save area (what follows the control area).
//!
//! A gzip-, zstd-, xz- or bzip2-compressed input (features `gzip`, `zstd`, `xz` and
//! `bzip2`, on by default) is read as the bytes it holds, known by its magic, by
//! [`source::read_each`] and so by `segstate check` ([`compressed`]).
//!
//! Every error names the line (text) or the byte offset (binary) it is about.
//!
//! A path is opened by [`open_path`], the one place that looks at the file system: a
//! snapshot directory and a few files are read by path, anything else as a stream
//! ([`source::read_each`]).
//!
//! ```
//! use segstate::arch::PrivilegeLevel;
//!
//! // What a user pastes after "KVM: entry failed, hardware error 0x80000021".
//! let dump = "\
//! RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000
//! RSI=0000000000000000 RDI=0000000000000000 RBP=0000000000000000 RSP=0000000000070000
//! R8 =0000000000000000 R9 =0000000000000000 R10=0000000000000000 R11=0000000000000000
//! R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000
//! RIP=0000000000020006 RFL=00000202 [-------] CPL=3 II=0 A20=1 SMM=0 HLT=0
//! ES =002b 0000000000000000 ffffffff 00cff300 DPL=3 DS   [-WA]
//! CS =0033 0000000000000000 ffffffff 00affb00 DPL=3 CS64 [-RA]
//! SS =002b 0000000000000000 ffffffff 00cff300 DPL=3 DS   [-WA]
//! DS =002b 0000000000000000 ffffffff 00cff300 DPL=3 DS   [-WA]
//! FS =0000 0000000000000000 00000000 00000000
//! GS =0000 0000000000000000 00000000 00000000
//! LDT=0000 0000000000000000 00000000 00008200 DPL=0 LDT
//! TR =0040 0000000000003000 00000067 00008b00 DPL=0 TSS64-busy
//! GDT=     0000000000001000 0000007f
//! IDT=     0000000000002000 00000fff
//! CR0=80050033 CR2=0000000000000000 CR3=0000000000004000 CR4=00000620
//! DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000
//! DR6=00000000ffff0ff0 DR7=0000000000000400
//! EFER=0000000000000d01
//! ";
//! let inputs = segstate::ingest::read(dump.as_bytes(), None)?;
//! assert_eq!(inputs.len(), 1);
//! assert_eq!(inputs[0].state.cpl, PrivilegeLevel::Ring3);
//! # Ok::<(), segstate::ingest::InputError>(())
//! ```

use std::fmt;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

pub mod bhyvectl;
pub mod bochs;
#[cfg(feature = "serde")]
mod byte_stream;
#[cfg(feature = "serde")]
pub mod cloud_hypervisor;
pub mod code_at_rip;
mod collect;
pub mod compressed;
#[cfg(feature = "serde")]
pub(crate) mod crc64;
#[cfg(feature = "serde")]
pub mod crosvm;
pub mod debugger_regs;
mod dump_text;
pub(crate) mod edk2_exception;
pub mod exit;
#[cfg(feature = "serde")]
pub mod firecracker;
#[cfg(feature = "serde")]
pub mod foreign;
pub(crate) mod gdb_regs;
pub mod haxm;
pub mod hvdump;
pub mod hyperfuzzer;
#[cfg(feature = "serde")]
pub mod hyperv;
#[cfg(feature = "serde")]
pub mod hyperv_storage;
mod input_format;
pub mod jailhouse;
pub mod judge;
pub mod linux_vmcb;
pub mod linux_vmcs;
pub mod log;
pub mod noirvisor;
pub mod other_arch;
mod path;
pub(crate) mod protected;
#[cfg(feature = "serde")]
pub mod qcow2;
pub mod qemu_dump;
pub mod qemu_log;
pub mod qemu_migration;
pub use qemu_migration::read_libvirt;
#[cfg(feature = "serde")]
pub mod qemu_vmcore;
mod segment_parts;
mod segsnap;
pub mod source;
pub(crate) mod tcg_event;
pub(crate) mod text;
pub(crate) mod vbox_log;
mod vmcs_field;
pub mod whp;
pub(crate) mod whp_registers;
#[cfg(feature = "serde")]
pub mod wtf;
#[cfg(feature = "serde")]
pub mod xen;
pub(crate) mod xen_regs;
pub(crate) mod xenctx;

pub use input_format::{InputFormat, UnknownInputFormat};
pub use path::{OpenError, OpenedInput, open_path};
#[cfg(feature = "serde")]
pub use path::{foreign_dir_format, foreign_vcpus_at};
use qemu_dump::QemuDump;

use crate::arch::SegmentState;
use crate::arch::{PrivilegeLevel, SegReg, Segment};
use crate::check::report::{Context, Report, Source, Vendors};
use crate::format::FormatError;
use crate::format::kvm::{KvmSegment, KvmSregs};

use crate::format::svm::{SaveAreaOffset, VmcbSaveArea};

#[cfg(feature = "serde")]
use crate::json;

/// Size of `struct kvm_regs`: rax..r15, rip, rflags.
pub const KVM_REGS_SIZE: usize = 144;
/// Offset of `rflags` in `struct kvm_regs`.
pub(crate) const KVM_REGS_RFLAGS: usize = 136;
/// The smallest VMCB save area read (the 2017 layout, through G_PAT and DBGCTL).
pub const SAVE_AREA_MIN: usize = SaveAreaOffset::END;
/// The largest: a page minus the control area.
pub const SAVE_AREA_MAX: usize = VmcbSaveArea::PAGE_SIZE - SaveAreaOffset::IN_PAGE;
/// RFLAGS assumed when the input has none: only the fixed bit 1.
pub(crate) const RFLAGS_UNKNOWN: u64 = 0x2;

/// Input that cannot be read; the message names the line or offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for InputError {}

/// A foreign reader's error as an input error: its format, place and reason. The file is
/// left out: the [`source::SourceError`] around it names the input.
#[cfg(feature = "serde")]
impl From<foreign::IngestError> for InputError {
    fn from(e: foreign::IngestError) -> Self {
        err(format!("{}: {}: {}", e.format, e.place, e.reason))
    }
}

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
    /// For text logs: the state as the tolerant readers found it (every field known
    /// or not), its exit lines and inferred target; judged by [`judge::judge`].
    pub log: Option<log::LogDump>,
    /// Remarks about the decoding (assumed values).
    pub notes: Vec<String>,
    /// The VMCB's CPL byte as stored, for VMCB inputs.
    pub vmcb_cpl_byte: Option<u8>,
    /// For a whole state that holds more than [`Input::state`] and is not a log (a
    /// migration stream's CPU): all it holds, for the guest-state rules beyond the
    /// segments ([`crate::check::report::guest_state`]) and the KVM_SET_SREGS refusals.
    pub guest: Option<crate::arch::GuestState>,
    /// The instruction at CS:RIP, for an input that carries guest memory (a
    /// HyperFuzzer VM state) where the page walk reached it.
    pub instruction_in_memory: Option<code_at_rip::InstructionInMemory>,
}

impl Input {
    /// A state read as the guest sees it, with nothing else behind it (no dump, log or
    /// VMCB CPL byte): what most readers give.
    pub(crate) fn guest_view(
        label: String,
        format: InputFormat,
        state: SegmentState,
        notes: Vec<String>,
    ) -> Self {
        Input {
            label,
            format,
            state,
            source: Source::GuestView,
            dump: None,
            log: None,
            notes,
            vmcb_cpl_byte: None,
            guest: None,
            instruction_in_memory: None,
        }
    }

    /// The report on this input for `vendor`: a QEMU dump gets its own checks on top
    /// of the catalogue ([`qemu_dump::report`]); any other state goes through
    /// [`crate::verify::paths::diagnose`] with the input's source and VMCB CPL byte,
    /// and a state with more than its segments ([`Input::guest`]) through the rules
    /// beyond them too ([`crate::check::report::guest_state`]) with a note naming what
    /// the stream lacks, as a dump's judgement has them. Text logs can instead be judged
    /// leniently by [`judge::judge_input`].
    #[must_use]
    pub fn report(&self, vendor: Vendors) -> Report {
        if let Some(d) = &self.dump {
            return qemu_dump::report(d, vendor);
        }
        let context = Context {
            source: self.source,
            vmcb_cpl_byte: self.vmcb_cpl_byte,
        };
        let mut r = crate::verify::paths::diagnose(&self.state, vendor, context);
        let holder = match self.format {
            InputFormat::Wtf => "regs.json",
            InputFormat::Vmcore => "dump's CPU note",
            InputFormat::HyperFuzzer => "REG_FILE",
            _ => "stream",
        };
        if let Some(g) = &self.guest {
            judge::whole_state(&mut r, g, vendor, self.source, holder);
        }
        r
    }
}

/// True when `bytes` read as text: valid UTF-8 without NUL bytes.
#[must_use]
pub fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// The format of an input that starts with a magic number: the streams and snapshots.
/// They are looked for first, so a snapshot is never taken for a VMCB save area of the
/// same size.
#[must_use]
pub fn detect_magic(prefix: &[u8]) -> Option<InputFormat> {
    if qemu_migration::LibvirtSaveHeader::looks_like(prefix) {
        Some(InputFormat::Libvirt)
    } else if is_migration_stream(prefix) {
        Some(InputFormat::Migration)
    } else if prefix.starts_with(&crate::snapshot::MAGIC) {
        Some(InputFormat::Snapshot)
    } else {
        detect_foreign(prefix)
    }
}

/// A Firecracker state file, a Xen save image, Hyper-V saved state or a crosvm
/// fragment by its magic; a Cloud Hypervisor `state.json` by its `snapshots` /
/// `cpu-manager` keys near the start.
#[cfg(feature = "serde")]
fn detect_foreign(prefix: &[u8]) -> Option<InputFormat> {
    if firecracker::recognise(prefix).is_some() {
        return Some(InputFormat::Firecracker);
    }
    if xen::recognise(prefix).is_some() {
        return Some(InputFormat::Xen);
    }
    if hyperv::recognise(prefix).is_some() {
        return Some(InputFormat::HyperV);
    }
    if qemu_vmcore::recognise(prefix) {
        return Some(InputFormat::Vmcore);
    }
    if qcow2::recognise(prefix) {
        return Some(InputFormat::Qcow2);
    }
    if crosvm::recognise(prefix) {
        return Some(InputFormat::Crosvm);
    }
    let text = match std::str::from_utf8(prefix) {
        Ok(t) => t,
        // A prefix may end inside a character.
        Err(e) => std::str::from_utf8(&prefix[..e.valid_up_to()]).unwrap_or_default(),
    };
    cloud_hypervisor::recognise(text).then_some(InputFormat::CloudHypervisor)
}

#[cfg(not(feature = "serde"))]
fn detect_foreign(_prefix: &[u8]) -> Option<InputFormat> {
    None
}

/// The format of a text that starts with `{`: a wtf regs.json by its `cs` object
/// ([`wtf::recognise`]), else segstate's JSON `kvm_sregs`.
pub(crate) fn json_format(prefix: &str) -> InputFormat {
    #[cfg(feature = "serde")]
    if wtf::recognise(prefix) {
        return InputFormat::Wtf;
    }
    let _ = prefix;
    InputFormat::Json
}

/// The format of a text (or the start of one) that has no magic: JSON when it starts
/// with `{` ([`json_format`]), `xen-hvmctx` output by its title or CPU entry
/// ([`xen::hvmctx::recognise`]), else a dump or log.
pub(crate) fn text_format(prefix: &str) -> InputFormat {
    let t = prefix.trim_start();
    if t.starts_with('{') {
        return json_format(t);
    }
    #[cfg(feature = "serde")]
    if xen::hvmctx::recognise(t) {
        return InputFormat::XenHvmctx;
    }
    InputFormat::Dump
}

/// What a binary input of no known size or magic may still be: the format without magic.
pub(crate) const NAMED_ONLY: &str = "a HyperFuzzer VM state has no magic and is read \
     when named (`--format hyperfuzzer`)";

/// Decides the format of `bytes`: a magic number ([`detect_magic`]), else text (JSON
/// or a dump), else the size of a binary format.
///
/// # Errors
///
/// Empty input, or binary input of no known size.
pub fn detect(bytes: &[u8]) -> Result<InputFormat, InputError> {
    if let Some(format) = detect_magic(bytes) {
        return Ok(format);
    }
    if is_text(bytes) {
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        let t = text.trim_start();
        if t.is_empty() {
            return Err(err("empty input: nothing to check"));
        }
        return Ok(text_format(t));
    }
    match bytes.len() {
        KvmSregs::SIZE => Ok(InputFormat::Sregs),
        n if n == KvmSregs::SIZE + KVM_REGS_SIZE => Ok(InputFormat::SregsRegs),
        VmcbSaveArea::PAGE_SIZE => Ok(InputFormat::Vmcb),
        SAVE_AREA_MIN..=SAVE_AREA_MAX => Ok(InputFormat::VmcbSave),
        n => Err(err(format!(
            "{n} bytes of binary input: expected struct kvm_sregs (312 bytes), kvm_sregs + \
             kvm_regs (456), a VMCB page (4096) or a VMCB save area ({SAVE_AREA_MIN} to \
             {SAVE_AREA_MAX}); text must be UTF-8 without NUL bytes; {NAMED_ONLY}"
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
        InputFormat::Dump => dump_text::read(text(bytes)?),
        InputFormat::Json => read_json(text(bytes)?).map(|i| vec![i]),
        InputFormat::Wtf => read_wtf(text(bytes)?).map(|i| vec![i]),
        InputFormat::Sregs => read_sregs(bytes, false).map(|i| vec![i]),
        InputFormat::SregsRegs => read_sregs(bytes, true).map(|i| vec![i]),
        InputFormat::Vmcb => read_vmcb(bytes, true).map(|i| vec![i]),
        InputFormat::VmcbSave => read_vmcb(bytes, false).map(|i| vec![i]),
        InputFormat::Migration => read_migration(bytes),
        InputFormat::Libvirt => read_libvirt(bytes),
        InputFormat::Snapshot => segsnap::read(bytes).map(|i| vec![i]),
        InputFormat::CloudHypervisor
        | InputFormat::Firecracker
        | InputFormat::Crosvm
        | InputFormat::Xen
        | InputFormat::XenHvmctx
        | InputFormat::HyperV => read_foreign(bytes, format),
        InputFormat::Vmcore => read_vmcore(bytes),
        InputFormat::Qcow2 => Err(err(QCOW2_BY_PATH)),
        InputFormat::HyperFuzzer => hyperfuzzer::read(bytes).map(|i| vec![i]),
    }
}

/// Every vCPU of a foreign state file (Cloud Hypervisor, Firecracker) as states to
/// check, each labelled with the stack that wrote it and its CPL convention.
///
/// # Errors
///
/// [`InputError`] naming the field, line or offset and the reason.
#[cfg(feature = "serde")]
pub fn read_foreign(bytes: &[u8], format: InputFormat) -> Result<Vec<Input>, InputError> {
    let located = InputError::from;
    let utf8 = |what: &str| {
        std::str::from_utf8(bytes).map_err(|e| {
            err(format!(
                "{what}: offset {}: not UTF-8 text",
                e.valid_up_to()
            ))
        })
    };
    let vcpus = match format {
        InputFormat::Firecracker => firecracker::read(bytes, "").map_err(located)?,
        InputFormat::Crosvm => crosvm::read(bytes, "").map_err(located)?,
        InputFormat::Xen => xen::read(bytes, "").map_err(located)?,
        InputFormat::HyperV => hyperv::read(bytes, "").map_err(located)?,
        InputFormat::XenHvmctx => {
            let text = utf8(xen::hvmctx::FORMAT)?;
            let vcpus = xen::hvmctx::read(text, "").map_err(located)?;
            // The stack's own format is the save image; this text is read as one.
            let mut inputs = foreign_inputs(&vcpus)?;
            for i in &mut inputs {
                i.format = InputFormat::XenHvmctx;
            }
            return Ok(inputs);
        }
        _ => cloud_hypervisor::read(utf8("Cloud Hypervisor snapshot")?, "").map_err(located)?,
    };
    foreign_inputs(&vcpus)
}

/// Every vCPU of a Xen save image read from `reader` as a stream (page data skipped as
/// it passes), as states to check.
///
/// # Errors
///
/// [`InputError`] naming the offset and the reason.
#[cfg(feature = "serde")]
pub fn read_xen(reader: impl std::io::Read) -> Result<Vec<Input>, InputError> {
    let vcpus = xen::read(reader, "").map_err(InputError::from)?;
    foreign_inputs(&vcpus)
}

/// Why a qcow2 image given as bytes or a stream is not read: its snapshots' VM state is
/// reached through its cluster tables, which needs the file.
pub(crate) const QCOW2_BY_PATH: &str = "qcow2 image: its internal snapshots' VM state is \
     reached by seeking through the image's cluster tables, so it is read by path: give \
     the image's path, not standard input";

/// Every vCPU of a QEMU guest memory dump ([`qemu_vmcore`]), read as a stream down to
/// its notes.
///
/// # Errors
///
/// [`InputError`] naming the offset and the reason.
#[cfg(feature = "serde")]
pub fn read_vmcore(reader: impl std::io::Read) -> Result<Vec<Input>, InputError> {
    qemu_vmcore::inputs(reader)
}

#[cfg(not(feature = "serde"))]
fn read_vmcore(_reader: impl std::io::Read) -> Result<Vec<Input>, InputError> {
    read_foreign(&[], InputFormat::Vmcore)
}

#[cfg(not(feature = "serde"))]
fn read_xen(_reader: impl std::io::Read) -> Result<Vec<Input>, InputError> {
    read_foreign(&[], InputFormat::Xen)
}

#[cfg(not(feature = "serde"))]
fn read_foreign(_bytes: &[u8], format: InputFormat) -> Result<Vec<Input>, InputError> {
    Err(err(format!(
        "{format}: this build of segstate has no `serde` feature, so it reads no foreign state files"
    )))
}

/// The vCPUs a foreign reader returned, as states to check: the CPL from the stack's
/// convention ([`foreign::ForeignVcpu::cpl`]), a disagreement with the file's own CPL
/// field in the notes; each labelled with its stack's format
/// ([`foreign::Stack::input_format`]).
///
/// # Errors
///
/// A segment that is not a valid `kvm_segment` (e.g. a flag other than 0 or 1).
#[cfg(feature = "serde")]
pub fn foreign_inputs(vcpus: &[foreign::ForeignVcpu]) -> Result<Vec<Input>, InputError> {
    vcpus
        .iter()
        .map(|v| {
            let mut state = sregs_state(&v.sregs, v.regs.rflags, |reg, e| {
                format!(
                    "{} vCPU {}: sregs.{}.{}",
                    v.stack,
                    v.id,
                    reg.kvm_name(),
                    e.field
                )
            })?;
            state.cpl = v.cpl();
            let mut notes = vec![
                format!("read from {}", v.format),
                format!("{}: {}", v.stack, v.stack.cpl_convention()),
            ];
            if let Some(d) = v.cpl_disagreement() {
                notes.push(d.to_string());
            }
            Ok(Input::guest_view(
                format!("{} vCPU {}", v.stack, v.id),
                v.stack.input_format(),
                state,
                notes,
            ))
        })
        .collect()
}

/// Reads every CPU of a QEMU migration stream from `reader`, streaming: RAM pages are
/// skipped as they pass, so a multi-GiB stream needs a few KiB of memory.
///
/// # Errors
///
/// [`InputError`] naming the byte offset where the stream stops making sense, or a
/// stream without the JSON description QEMU appends (it names each CPU field).
pub fn read_migration(reader: impl std::io::Read) -> Result<Vec<Input>, InputError> {
    use crate::ingest::qemu_migration;
    let summary =
        qemu_migration::walk(reader).map_err(|e| err(format!("QEMU migration stream: {e}")))?;
    if !summary.has_description {
        return Err(err(
            "QEMU migration stream: no vmstate description at the end (suppress-vmdesc, or a \
             cut stream), so the CPU sections cannot be decoded",
        ));
    }
    if summary.cpus.is_empty() {
        return Err(err("QEMU migration stream: no `cpu` section found"));
    }
    Ok(summary
        .cpus
        .iter()
        .map(|cpu| {
            let mut notes = vec![format!(
                "QEMU's hflags CPL is {}; {} bytes of guest RAM skipped",
                cpu.cpl, summary.ram_bytes_skipped
            )];
            notes.extend(cpu.nested_guest_note());
            Input {
                guest: Some(cpu.guest_state()),
                ..Input::guest_view(
                    format!(
                        "migration stream CPU {} (section at offset {:#x})",
                        cpu.instance, cpu.offset
                    ),
                    InputFormat::Migration,
                    cpu.segment_state(),
                    notes,
                )
            }
        })
        .collect())
}

/// True when `prefix` (the first bytes of an input) starts a QEMU migration stream.
#[must_use]
pub fn is_migration_stream(prefix: &[u8]) -> bool {
    qemu_migration::looks_like_stream(prefix)
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

/// The state of a `kvm_sregs` with `rflags` ([`KvmSregs::state`]); `at` says where an
/// undecodable segment is in the input.
fn sregs_state(
    sregs: &KvmSregs,
    rflags: u64,
    at: impl Fn(SegReg, &FormatError) -> String,
) -> Result<SegmentState, InputError> {
    sregs
        .state(rflags)
        .map_err(|e| err(format!("{}: {}", at(e.reg, &e.error), e.error)))
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
    let state = sregs_state(&sregs, rflags, |reg, e| {
        let off = KvmSregs::SEGMENT_OFFSETS[reg.position_in(&SegReg::KVM_SREGS_ORDER)]
            + KvmSegment::field_offset(e.field).unwrap_or(0);
        format!("offset {off} ({}.{})", reg.kvm_name(), e.field)
    })?;
    Ok(Input::guest_view(
        String::from(if with_regs {
            "kvm_sregs + kvm_regs"
        } else {
            "kvm_sregs"
        }),
        if with_regs {
            InputFormat::SregsRegs
        } else {
            InputFormat::Sregs
        },
        state,
        notes,
    ))
}

#[cfg(feature = "serde")]
fn read_json(text: &str) -> Result<Input, InputError> {
    let sregs: KvmSregs = json::parse_named(text, "kvm_sregs JSON").map_err(|e| {
        // Forced with `--format json`, a wtf regs.json is named for what it is.
        if wtf::recognise(text) {
            err(format!(
                "{}; this is wtf's regs.json: `--format wtf` reads it",
                e.0
            ))
        } else {
            err(e.0)
        }
    })?;
    let state = sregs_state(&sregs, RFLAGS_UNKNOWN, |reg, e| {
        format!("kvm_sregs JSON: field `{}.{}`", reg.kvm_name(), e.field)
    })?;
    Ok(Input::guest_view(
        String::from("JSON kvm_sregs"),
        InputFormat::Json,
        state,
        vec![String::from("a kvm_sregs has no RFLAGS: taken as 0x2")],
    ))
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
    let mut segments = crate::arch::PerSegReg([Segment::default(); 8]);
    for reg in SegReg::ALL {
        segments[reg] = Segment::try_from(area.segments[reg]).map_err(|e| {
            err(format!(
                "offset {:#x} ({} attrib): {e}",
                base + SaveAreaOffset::segment(reg) + 2,
                reg.name()
            ))
        })?;
    }
    // The byte is kept raw: a value above 3 is reported by the check, not refused.
    let cpl = PrivilegeLevel::from_low_bits(area.cpl);
    let mut notes = Vec::new();
    if area.cpl > 3 {
        notes.push(format!(
            "offset {:#x} (VMCB.CPL) holds {}: judged as CPL {} (its low two bits)",
            base + SaveAreaOffset::CPL,
            area.cpl,
            cpl.bits()
        ));
    }
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
        notes,
        vmcb_cpl_byte: Some(area.cpl),
        log: None,
        guest: None,
        instruction_in_memory: None,
    })
}

#[cfg(feature = "serde")]
fn read_wtf(text: &str) -> Result<Input, InputError> {
    wtf::read(text)
}

#[cfg(not(feature = "serde"))]
fn read_wtf(_text: &str) -> Result<Input, InputError> {
    Err(err(
        "wtf regs.json: this build of segstate has no `serde` feature, so it reads no JSON",
    ))
}

#[cfg(not(feature = "serde"))]
fn read_json(_text: &str) -> Result<Input, InputError> {
    Err(err(
        "JSON state: this build of segstate has no `serde` feature, so it reads no JSON",
    ))
}
