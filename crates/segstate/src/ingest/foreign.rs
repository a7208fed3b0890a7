//! What every foreign vCPU state reader returns: the vCPUs of one file, the stack that
//! wrote them, and the errors that name the file, the place and the reason.
//!
//! The readers ([`super::cloud_hypervisor`], [`super::firecracker`], [`super::crosvm`],
//! [`super::xen`], [`super::hyperv`]) decode a file with the layout of the program and
//! version that wrote it; this module
//! is the one place that turns such a vCPU into segstate's own terms: the CPL made
//! explicit ([`ForeignVcpu::cpl`]) and a segstate snapshot ([`ForeignVcpu::to_snapshot`]).

use std::fmt;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::arch::Cpl;
use crate::format::kvm::KvmSregs;
use crate::snapshot::{MsrEntry, Regs, VcpuSnapshot};

/// The program (and the hypervisor interface it used) that wrote a vCPU state.
///
/// Each stack has a profile: what `unusable`, P and DPL mean in its segments and
/// where its CPL lives ([`Stack::cpl_convention`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stack {
    /// Cloud Hypervisor on KVM: `VcpuKvmState.sregs` is KVM_GET_SREGS verbatim
    /// (`hypervisor/src/kvm/x86_64/mod.rs`, cloud-hypervisor `ae44c29`).
    CloudHypervisorKvm,
    /// Cloud Hypervisor on MSHV: `VcpuMshvState.sregs` went through rust-vmm/mshv's
    /// `From<hv_x64_segment_register>`, which writes `unusable: 0`
    /// (`mshv-bindings/src/x86_64/regs.rs`, mshv `1032a5d`): unusable is only `!present`.
    CloudHypervisorMshv,
    /// Firecracker: `VcpuState.sregs` is KVM_GET_SREGS verbatim
    /// (`src/vmm/src/arch/x86_64/vcpu.rs` `save_state`, firecracker `81b38b9`).
    Firecracker,
    /// crosvm on KVM: `VcpuSnapshot.sregs` holds crosvm's neutral `Segment`, which
    /// `From<&kvm_segment>` filled without `unusable`; `set_sregs` hands KVM
    /// `unusable = !present` (`hypervisor/src/kvm/x86_64.rs`, crosvm `f1e797a68dad`).
    Crosvm,
    /// Xen HVM: `struct hvm_hw_cpu` from an `xl save` image or a libxc stream, loaded as
    /// `hvm_load_cpu_ctxt` loads it (xen `xen/arch/x86/hvm/hvm.c`, `c447b7308b13`).
    XenHvm,
    /// Hyper-V: the `VP_SEGMENT_REGISTERS` chunk of a partition state blob, with its own
    /// `cpl` byte (openvmm `vm/hv1/hvdef/src/save_restore.rs`, `1488a37b7cfe`).
    HyperV,
}

impl Stack {
    /// The input format of the files this stack writes (what `--format` names).
    #[must_use]
    pub const fn input_format(self) -> super::InputFormat {
        use super::InputFormat;
        match self {
            Stack::CloudHypervisorKvm | Stack::CloudHypervisorMshv => InputFormat::CloudHypervisor,
            Stack::Firecracker => InputFormat::Firecracker,
            Stack::Crosvm => InputFormat::Crosvm,
            Stack::XenHvm => InputFormat::Xen,
            Stack::HyperV => InputFormat::HyperV,
        }
    }

    /// Short name, as reports print it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Stack::CloudHypervisorKvm => "cloud-hypervisor (KVM)",
            Stack::CloudHypervisorMshv => "cloud-hypervisor (MSHV)",
            Stack::Firecracker => "firecracker",
            Stack::Crosvm => "crosvm (KVM)",
            Stack::XenHvm => "xen (HVM)",
            Stack::HyperV => "hyper-v",
        }
    }

    /// How this stack carries the CPL and what its segment flags mean.
    #[must_use]
    pub const fn cpl_convention(self) -> &'static str {
        match self {
            Stack::CloudHypervisorKvm | Stack::Firecracker => {
                "kvm_sregs verbatim: no CPL field, CPL = SS.DPL (KVM_SET_SREGS takes it from there)"
            }
            Stack::CloudHypervisorMshv => {
                "mshv SpecialRegisters: no CPL field, CPL = SS.DPL; `unusable` is always 0 \
                 (mshv-bindings drops it), a null segment is only P = 0"
            }
            Stack::Crosvm => {
                "crosvm Segment: no CPL field, CPL = SS.DPL; no `unusable` field either \
                 (dropped when read from KVM): a null segment is only P = 0, and crosvm \
                 restores it to KVM as unusable = !P"
            }
            Stack::XenHvm => {
                "hvm_hw_cpu: no CPL field, CPL = ss_arbytes' DPL (on AMD svm_get_segment_register \
                 puts VMCB.CPL there); arbytes in Xen's 12-bit SVM layout, P = 0 means unusable"
            }
            Stack::HyperV => {
                "VP_SEGMENT_REGISTERS: an explicit cpl byte next to the segments; no unusable \
                 bit (P = 0 means unusable); KVM would take SS.DPL instead"
            }
        }
    }
}

display_by_name!(Stack);

/// One vCPU read from a foreign state file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignVcpu {
    /// The stack that wrote it.
    pub stack: Stack,
    /// The format and version the file declared, e.g. `Firecracker snapshot 11.0.0`.
    pub format: String,
    /// The vCPU's id as the file names it (Cloud Hypervisor's snapshot key; Firecracker's
    /// index in `vcpu_states`).
    pub id: String,
    /// `kvm_regs`.
    pub regs: Regs,
    /// `kvm_sregs`, exactly as the file holds it.
    pub sregs: KvmSregs,
    /// The CPL the file records in a field of its own, for formats that have one
    /// (Hyper-V's saved state, bhyve's AMD snapshot); `None` for Cloud Hypervisor and
    /// Firecracker, whose CPL is SS.DPL.
    pub file_cpl: Option<Cpl>,
    /// `kvm_mp_state.mp_state`, when the file has it.
    pub mp_state: Option<u32>,
    /// `kvm_lapic_state`, raw (1024 bytes), when the file has it.
    pub lapic: Option<Vec<u8>>,
    /// `kvm_vcpu_events`, raw (64 bytes), when the file has it.
    pub vcpu_events: Option<Vec<u8>>,
    /// `kvm_debugregs`, raw (128 bytes), when the file has it.
    pub debug_regs: Option<Vec<u8>>,
    /// The MSRs the file saved.
    pub msrs: Vec<MsrEntry>,
}

/// The CPL a file records explicitly and the one its SS.DPL implies, when they differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CplDisagreement {
    /// The file's own CPL field.
    pub file: Cpl,
    /// SS.DPL, what KVM_SET_SREGS would take as the CPL.
    pub ss_dpl: Cpl,
}

impl fmt::Display for CplDisagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the file's CPL field is {} but SS.DPL is {}: restored through KVM the vCPU \
             would run at CPL {}",
            self.file.bits(),
            self.ss_dpl.bits(),
            self.ss_dpl.bits()
        )
    }
}

impl ForeignVcpu {
    /// The CPL under the stack's convention: the file's own CPL field where the format
    /// has one, SS.DPL otherwise.
    #[must_use]
    pub fn cpl(&self) -> Cpl {
        self.file_cpl.unwrap_or_else(|| self.sregs.cpl())
    }

    /// Set when the file's own CPL field and SS.DPL disagree.
    #[must_use]
    pub fn cpl_disagreement(&self) -> Option<CplDisagreement> {
        let file = self.file_cpl?;
        let ss_dpl = self.sregs.cpl();
        (file != ss_dpl).then_some(CplDisagreement { file, ss_dpl })
    }

    /// A segstate snapshot of this vCPU with the CPL explicit ([`Self::cpl`]). The
    /// special registers are kept exactly as the file has them, so a disagreement
    /// stays visible to [`VcpuSnapshot::restore_problems`].
    #[must_use]
    pub fn to_snapshot(&self, vcpu_id: u32) -> VcpuSnapshot {
        let mut snap = VcpuSnapshot::new(self.cpl(), self.regs, self.sregs);
        snap.vcpu_id = vcpu_id;
        snap.debug_regs.clone_from(&self.debug_regs);
        snap.msrs.clone_from(&self.msrs);
        snap.vcpu_events.clone_from(&self.vcpu_events);
        snap.lapic.clone_from(&self.lapic);
        snap.mp_state = self.mp_state;
        snap
    }
}

/// Where in a file an error is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Place {
    /// The file as a whole (its size, its kind).
    File,
    /// A byte offset.
    Offset(usize),
    /// A field, by its path in the format (e.g. `vcpu_states[1].sregs`).
    Field(String),
    /// A line and column of a text file, and the field being read there.
    Text {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field or document being read.
        field: String,
    },
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File => f.write_str("whole file"),
            Place::Offset(o) => write!(f, "offset {o} ({o:#x})"),
            Place::Field(name) => write!(f, "field `{name}`"),
            Place::Text {
                line,
                column,
                field,
            } => write!(f, "line {line} column {column} ({field})"),
        }
    }
}

/// Why a foreign state file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Larger than the reader accepts (bounded memory).
    TooLarge {
        /// The file's size in bytes.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file ends before the structure it declares.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// The checksum does not match the contents.
    BadChecksum {
        /// The checksum stored in the file.
        stored: u64,
        /// The checksum of the contents.
        computed: u64,
    },
    /// A magic number that is not this format's (or another architecture's).
    BadMagic {
        /// The value found.
        found: u64,
        /// The value expected.
        expected: u64,
    },
    /// A format version this reader has no layout for.
    UnsupportedVersion {
        /// The version the file declares.
        found: String,
        /// The versions this reader decodes.
        supported: &'static str,
    },
    /// A raw C struct of the wrong size.
    WrongLength {
        /// The struct, e.g. `struct kvm_sregs`.
        what: &'static str,
        /// Its size.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// Something the format requires is absent.
    Missing(&'static str),
    /// The bytes do not decode with the declared layout (the message is the decoder's).
    Layout(String),
    /// The file could not be read.
    Io(String),
    /// The file is encrypted (the message says how the format marks it).
    Encrypted(String),
    /// The file is of a format segstate reads, but not a snapshot this reader imports
    /// (the message says what it is and what reads it).
    NotImported(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::TooLarge { size, limit } => {
                write!(f, "{size} bytes, more than the {limit} this reader accepts")
            }
            Reason::Truncated { needed, found } => {
                write!(f, "truncated: {needed} bytes needed, {found} present")
            }
            Reason::BadChecksum { stored, computed } => write!(
                f,
                "checksum mismatch: the file stores {stored:#018x}, its contents give \
                 {computed:#018x} (corrupted or cut)"
            ),
            Reason::BadMagic { found, expected } => {
                write!(f, "magic {found:#018x}, expected {expected:#018x}")
            }
            Reason::UnsupportedVersion { found, supported } => write!(
                f,
                "format version {found} has no known layout here (this reader decodes \
                 {supported})"
            ),
            Reason::WrongLength {
                what,
                expected,
                found,
            } => write!(f, "{what} is {expected} bytes, the file has {found}"),
            Reason::Missing(what) => write!(f, "{what} is missing"),
            Reason::Layout(msg) => write!(f, "does not decode: {msg}"),
            Reason::Io(msg) => write!(f, "cannot read: {msg}"),
            Reason::Encrypted(msg) => write!(f, "encrypted: {msg}"),
            Reason::NotImported(msg) => write!(f, "not imported: {msg}"),
        }
    }
}

/// A foreign state file refused: which file, where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestError {
    /// The format being read, e.g. `Firecracker snapshot`.
    pub format: &'static str,
    /// The file (its path, or a label for bytes given directly).
    pub file: String,
    /// Where in the file.
    pub place: Place,
    /// Why.
    pub reason: Reason,
}

impl IngestError {
    /// An error about `file` at `place`.
    #[must_use]
    pub fn new(format: &'static str, file: &str, place: Place, reason: Reason) -> Self {
        Self {
            format,
            file: file.to_string(),
            place,
            reason,
        }
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}: {}",
            self.file, self.format, self.place, self.reason
        )
    }
}

impl core::error::Error for IngestError {}

/// The `length` bytes of a record's body starting at `start` of `bytes` (`start` within
/// them), or [`Reason::Truncated`] with what is there when the input ends first.
pub(crate) fn record_body(bytes: &[u8], start: usize, length: usize) -> Result<&[u8], Reason> {
    bytes
        .get(start..start.saturating_add(length))
        .ok_or_else(|| Reason::Truncated {
            needed: length,
            found: bytes.len().saturating_sub(start),
        })
}

/// Refuses a whole input of `size` bytes over `limit`, naming the file: each
/// reader's first check, so that an oversized input is never walked.
pub(crate) fn within_limit(
    format: &'static str,
    file: &str,
    size: usize,
    limit: u64,
) -> Result<(), IngestError> {
    let size = size as u64;
    if size > limit {
        return Err(IngestError::new(
            format,
            file,
            Place::File,
            Reason::TooLarge { size, limit },
        ));
    }
    Ok(())
}

/// serde_json's error about `file` (a JSON document holding `what`), at its line and
/// column; a document that ends early is called truncated.
pub(crate) fn json_error(
    format: &'static str,
    e: &serde_json::Error,
    file: &str,
    what: &str,
) -> IngestError {
    let reason = if e.is_eof() {
        Reason::Layout(format!("the JSON ends early (truncated): {e}"))
    } else {
        Reason::Layout(e.to_string())
    };
    IngestError::new(
        format,
        file,
        Place::Text {
            line: e.line(),
            column: e.column(),
            field: what.to_string(),
        },
        reason,
    )
}

/// Reads at most `limit` bytes of `path`, refusing a larger file without reading it.
pub(crate) fn read_limited(
    path: &std::path::Path,
    limit: u64,
    format: &'static str,
) -> Result<Vec<u8>, IngestError> {
    use std::io::Read;
    let label = path.display().to_string();
    let io = |e: std::io::Error| {
        IngestError::new(format, &label, Place::File, Reason::Io(e.to_string()))
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(IngestError::new(
            format,
            &label,
            Place::File,
            Reason::TooLarge { size, limit },
        ));
    }
    Ok(bytes)
}

/// Reads at most `limit` bytes of the text file at `path` ([`read_limited`]), refusing
/// bytes that are not UTF-8 at the offset where they stop being so.
pub(crate) fn read_limited_text(
    path: &std::path::Path,
    limit: u64,
    format: &'static str,
) -> Result<String, IngestError> {
    let bytes = read_limited(path, limit, format)?;
    String::from_utf8(bytes).map_err(|e| {
        IngestError::new(
            format,
            &path.display().to_string(),
            Place::Offset(e.utf8_error().valid_up_to()),
            Reason::Layout(String::from("not UTF-8 text")),
        )
    })
}

/// The raw KVM structs both Cloud Hypervisor and Firecracker store as byte arrays
/// (kvm-bindings' serde: the C struct's bytes), decoded or size-checked in one place.
pub(crate) mod raw {
    use std::vec::Vec;

    use super::Reason;
    use crate::format::kvm::KvmSregs;
    use crate::snapshot::{MsrEntry, Regs, raw_size};

    fn exact(what: &'static str, bytes: &[u8], expected: usize) -> Result<(), Reason> {
        if bytes.len() == expected {
            Ok(())
        } else {
            Err(Reason::WrongLength {
                what,
                expected,
                found: bytes.len(),
            })
        }
    }

    fn u64_at(bytes: &[u8], at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    }

    /// `struct kvm_regs`: 18 little-endian u64, rax .. rflags.
    pub(crate) fn regs(bytes: &[u8]) -> Result<Regs, Reason> {
        exact("struct kvm_regs", bytes, Regs::SIZE)?;
        let mut a = [0u64; 18];
        for (i, v) in a.iter_mut().enumerate() {
            *v = u64_at(bytes, i * 8);
        }
        Ok(Regs::from_array(a))
    }

    /// `struct kvm_sregs`, 312 bytes.
    pub(crate) fn sregs(bytes: &[u8]) -> Result<KvmSregs, Reason> {
        exact("struct kvm_sregs", bytes, KvmSregs::SIZE)?;
        KvmSregs::from_bytes(bytes).map_err(|e| Reason::WrongLength {
            what: "struct kvm_sregs",
            expected: e.expected,
            found: e.found,
        })
    }

    /// `struct kvm_msr_entry`: index u32, reserved u32, data u64.
    pub(crate) fn msr(bytes: &[u8]) -> Result<MsrEntry, Reason> {
        exact("struct kvm_msr_entry", bytes, 16)?;
        let mut index = [0u8; 4];
        index.copy_from_slice(&bytes[..4]);
        Ok(MsrEntry {
            index: u32::from_le_bytes(index),
            value: u64_at(bytes, 8),
        })
    }

    /// `struct kvm_mp_state`: one u32.
    pub(crate) fn mp_state(bytes: &[u8]) -> Result<u32, Reason> {
        exact("struct kvm_mp_state", bytes, 4)?;
        let mut b = [0u8; 4];
        b.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(b))
    }

    /// `struct kvm_lapic_state`, kept raw.
    pub(crate) fn lapic(bytes: &[u8]) -> Result<Vec<u8>, Reason> {
        exact("struct kvm_lapic_state", bytes, raw_size::LAPIC)?;
        Ok(bytes.to_vec())
    }

    /// `struct kvm_vcpu_events`, kept raw.
    pub(crate) fn vcpu_events(bytes: &[u8]) -> Result<Vec<u8>, Reason> {
        exact("struct kvm_vcpu_events", bytes, raw_size::VCPU_EVENTS)?;
        Ok(bytes.to_vec())
    }

    /// `struct kvm_debugregs` built from the registers a format holds by name: db[4],
    /// dr6, dr7, flags 0, reserved zero.
    pub(crate) fn debug_regs_from(db: [u64; 4], dr6: u64, dr7: u64) -> Vec<u8> {
        let mut out = std::vec![0u8; raw_size::DEBUGREGS];
        for (i, v) in db.into_iter().chain([dr6, dr7]).enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// `struct kvm_debugregs`, kept raw.
    pub(crate) fn debug_regs(bytes: &[u8]) -> Result<Vec<u8>, Reason> {
        exact("struct kvm_debugregs", bytes, raw_size::DEBUGREGS)?;
        Ok(bytes.to_vec())
    }
}
