//! QEMU's migration stream: what `migrate "exec:cat > FILE"` writes, what `savevm`
//! stores, and what a libvirt saved image carries after libvirt's own header.
//!
//! [`walk`] reads the stream once, front to back, from any [`std::io::Read`], with memory
//! bounded independently of guest RAM: RAM page payloads are discarded through one fixed
//! read buffer, and only the `cpu` sections are kept (a few KiB each) until the vmstate
//! description at the end of the stream says how to decode them.
//!
//! The format, as QEMU writes it (`migration/savevm.c`, `migration/vmstate.c`,
//! `migration/ram.c`, `target/i386/machine.c`); every integer is big-endian:
//!
//! - header: `be32 QEMU_VM_FILE_MAGIC` (0x5145564d, `"QEVM"`), `be32` version 3
//!   (version 2, `QEMU_VM_FILE_VERSION_COMPAT`, is refused by QEMU itself);
//! - optional `QEMU_VM_CONFIGURATION` (0x07): vmstate `configuration`: `be32 len`, the
//!   machine type name, then its subsections (`configuration/target-page-bits`,
//!   `configuration/capabilities`: `be32` count and `u8 len, name` each, the
//!   capabilities that change the format, `configuration/uuid`);
//! - sections: `START` 0x01 and `FULL` 0x04 carry `be32 section_id, u8 len, idstr,
//!   be32 instance_id, be32 version_id`; `PART` 0x02 and `END` 0x03 carry only
//!   `be32 section_id`. Each is followed by its data and, unless the machine type
//!   predates QEMU 2.4, a footer `0x7e be32 section_id`. `COMMAND` 0x08 is
//!   `be16 cmd, be16 len, data`. `EOF` 0x00 ends the device state;
//! - `QEMU_VM_VMDESCRIPTION` 0x06 after `EOF`: `be32 len` and a JSON object
//!   `{"page_size": N, "devices": [{"name", "instance_id", "vmsd_name", "version",
//!   "fields": [{"name", "type", "size", "array_len"|"index", "struct"}],
//!   "subsections": [...]}]}` with one entry per `FULL` section in stream order. Each
//!   field's `size` is the number of bytes QEMU wrote for one element (measured, so it is
//!   exact); a compressible array is one entry with `array_len`. A subsection in the data
//!   is `0x05, u8 len, name, be32 version_id` then its fields;
//! - the `ram` section (version 4): a sequence of `be64` words whose bits below the
//!   target page size are `RAM_SAVE_FLAG_*`: `MEM_SIZE` 0x04 (total bytes; then
//!   `u8 len, idstr, be64 used_length` per RAM block until the total is reached), `ZERO`
//!   0x02 (one fill byte), `PAGE` 0x08 (one target page), `COMPRESS_PAGE` 0x100
//!   (`be32 len`, data), `XBZRLE` 0x40 (`u8 flags, be16 len`, data), `MULTIFD_FLUSH`
//!   0x200, `EOS` 0x10 (end of this section's RAM data). Page-carrying words without
//!   `CONTINUE` 0x20 name their block first (`u8 len, idstr`). The capabilities
//!   `x-ignore-shared` and `mapped-ram` add fields to each block of the list, and with
//!   `mapped-ram` the pages follow each block's entry at fixed file offsets instead of
//!   coming as page words (see `ram_blocks`);
//! - `cpu` (target/i386/machine.c `vmstate_x86_cpu`): `env.segs[6]` (ES CS SS DS FS GS),
//!   `env.ldt`, `env.tr` are `vmstate_segment`: `be32 selector, target_ulong base,
//!   be32 limit, be32 flags`; `env.hflags & 3` is QEMU's CPL.
//!
//! Section data other than RAM carries no length, so a non-RAM section is delimited by
//! its footer: the walker reads up to `0x7e be32 section_id` followed by something that
//! parses as the next section header, `EOF` or end of input. Once the description has
//! been read, every `FULL` section's length is checked against the size its description
//! adds up to, and the `cpu` sections are decoded field by field from it.

use core::fmt;
use std::io::{self, Read};

use crate::arch::SegmentState;
use crate::arch::{DescriptorTable, PerSegReg, SegReg};
use crate::format::qemu::{QemuFlags, QemuSegmentCache};

/// `QEMU_VM_FILE_MAGIC`: `"QEVM"`.
pub const QEMU_VM_FILE_MAGIC: u32 = 0x5145_564d;
/// `QEMU_VM_FILE_VERSION`.
pub(crate) const QEMU_VM_FILE_VERSION: u32 = 3;
const QEMU_VM_FILE_VERSION_COMPAT: u32 = 2;

const QEMU_VM_EOF: u8 = 0x00;
const QEMU_VM_SECTION_START: u8 = 0x01;
const QEMU_VM_SECTION_PART: u8 = 0x02;
const QEMU_VM_SECTION_END: u8 = 0x03;
const QEMU_VM_SECTION_FULL: u8 = 0x04;
const QEMU_VM_SUBSECTION: u8 = 0x05;
const QEMU_VM_VMDESCRIPTION: u8 = 0x06;
const QEMU_VM_CONFIGURATION: u8 = 0x07;
const QEMU_VM_COMMAND: u8 = 0x08;
const QEMU_VM_SECTION_FOOTER: u8 = 0x7e;

/// `MIG_CMD_PACKAGED`: a postcopy package, a wrapped stream within the stream.
const MIG_CMD_PACKAGED: u16 = 7;

const RAM_SAVE_FLAG_FULL: u64 = 0x01;
const RAM_SAVE_FLAG_ZERO: u64 = 0x02;
const RAM_SAVE_FLAG_MEM_SIZE: u64 = 0x04;
const RAM_SAVE_FLAG_PAGE: u64 = 0x08;
const RAM_SAVE_FLAG_EOS: u64 = 0x10;
const RAM_SAVE_FLAG_CONTINUE: u64 = 0x20;
const RAM_SAVE_FLAG_XBZRLE: u64 = 0x40;
const RAM_SAVE_FLAG_HOOK: u64 = 0x80;
const RAM_SAVE_FLAG_COMPRESS_PAGE: u64 = 0x100;
const RAM_SAVE_FLAG_MULTIFD_FLUSH: u64 = 0x200;
/// `ENCODING_FLAG_XBZRLE`.
const ENCODING_FLAG_XBZRLE: u8 = 0x01;

/// x86 `TARGET_PAGE_BITS`; a `configuration/target-page-bits` subsection overrides it.
const DEFAULT_PAGE_BITS: u32 = 12;

/// `HF_CPL_MASK`.
const HF_CPL_MASK: u32 = 3;
/// `HF_GUEST_MASK` (target/i386/cpu.h, bit 21): the vCPU runs a nested (L2) guest,
/// under TCG's SVM or, copied from `KVM_STATE_NESTED_GUEST_MODE`, under KVM.
const HF_GUEST_MASK: u32 = 1 << 21;
/// The subsection of KVM's nested state (target/i386/machine.c
/// `vmstate_kvm_nested_state`).
const SUBSECTION_KVM_NESTED_STATE: &str = "cpu/kvm_nested_state";
/// The subsection of the PAE PDPTEs KVM reported (`vmstate_pdptrs`).
const SUBSECTION_PDPTRS: &str = "cpu/pdptrs";

/// The walker's fixed read buffer, in bytes: RAM payloads are discarded through it.
/// It counts in [`MigrationSummary::max_buffered`] whatever the stream's length, so
/// the bound on memory is `READ_BUFFER_BYTES` plus the kept `cpu` sections, which
/// are never longer than the stream.
pub const READ_BUFFER_BYTES: usize = 16 * 1024;
const READ_BUF: usize = READ_BUFFER_BYTES;
/// The longest look-ahead: a section header with a 255-byte idstr.
const PEEK_MAX: usize = 1 + 4 + 1 + 255 + 4 + 4;
/// Longest `cpu` section kept for decoding.
const MAX_KEPT_SECTION: u64 = 1 << 20;
/// Longest machine type name in the configuration section.
const MAX_MACHINE_NAME: u32 = 256;
/// Most sections listed in a summary.
const MAX_SECTIONS: usize = 1 << 20;
/// Most RAM blocks in a `MEM_SIZE` list.
const MAX_RAM_BLOCKS: usize = 4096;
/// Longest vmstate description.
const MAX_DESCRIPTION: u32 = 64 << 20;
/// Deepest JSON nesting in the description.
const MAX_JSON_DEPTH: usize = 48;
/// Longest JSON string in the description.
const MAX_JSON_STRING: usize = 4096;
/// Most JSON values in one device's description.
const MAX_JSON_NODES: usize = 1 << 18;

/// Where and why a stream could not be walked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationError {
    /// Byte offset in the stream of the item that is wrong or cut short.
    pub offset: u64,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {:#x}: {}", self.offset, self.message)
    }
}

impl core::error::Error for MigrationError {}

fn error(offset: u64, message: impl Into<String>) -> MigrationError {
    MigrationError {
        offset,
        message: message.into(),
    }
}

/// A section header's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `QEMU_VM_SECTION_START`: first part of an iterative (live) section such as `ram`.
    Start,
    /// `QEMU_VM_SECTION_PART`.
    Part,
    /// `QEMU_VM_SECTION_END`.
    End,
    /// `QEMU_VM_SECTION_FULL`: one device's whole state.
    Full,
}

/// One section of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// The handler's id string, e.g. `"ram"`, `"cpu"`, `"0000:00:01.0/PIIX3"`.
    pub idstr: String,
    /// The instance id (the CPU index for `cpu`).
    pub instance: u32,
    /// The handler's version id.
    pub version: u32,
    /// The stream's section id (PART/END sections name their START by it).
    pub section_id: u32,
    /// Byte offset of the section's type byte.
    pub offset: u64,
    /// The header type.
    pub kind: SectionKind,
    /// Bytes between the header and the footer.
    pub data_len: u64,
    /// True when the vmstate description was read and adds up to `data_len`
    /// (`FULL` sections only).
    pub described: bool,
}

/// One vCPU's `cpu` section, decoded with the stream's vmstate description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationCpu {
    /// The section's instance id: the CPU index.
    pub instance: u32,
    /// Byte offset of the section in the stream.
    pub offset: u64,
    /// `hflags & HF_CPL_MASK`: the CPL QEMU runs with.
    pub cpl: u8,
    /// `env.hflags`.
    pub hflags: u32,
    /// `env.segs[0..6]` (ES CS SS DS FS GS), `env.ldt`, `env.tr`, raw.
    pub segments: PerSegReg<QemuSegmentCache>,
    /// `env.cr[0]`.
    pub cr0: u64,
    /// `env.cr[3]`.
    pub cr3: u64,
    /// `env.cr[4]`.
    pub cr4: u64,
    /// `env.efer` (0 when the section has none, as on a CPU without long mode).
    pub efer: u64,
    /// `env.eip`.
    pub rip: u64,
    /// `env.eflags`.
    pub rflags: u64,
    /// `env.dr[6]`.
    pub dr6: Option<u64>,
    /// `env.dr[7]`.
    pub dr7: Option<u64>,
    /// `env.pat`: IA32_PAT.
    pub pat: Option<u64>,
    /// `env.sysenter_esp`.
    pub sysenter_esp: Option<u64>,
    /// `env.sysenter_eip`.
    pub sysenter_eip: Option<u64>,
    /// `env.gdt`: GDTR's base and limit.
    pub gdtr: Option<DescriptorTable>,
    /// `env.idt`: IDTR's base and limit.
    pub idtr: Option<DescriptorTable>,
    /// `env.msr_bndcfgs`, from subsection `cpu/mpx`; 0 without it (QEMU writes it only
    /// when the MSR is not zero).
    pub bndcfgs: u64,
    /// `env.pdptrs`, from subsection `cpu/pdptrs` (written when KVM reported them).
    pub pdptes: Option<[u64; 4]>,
    /// `env.vm_hsave`: VM_HSAVE_PA, where SVM keeps the L1 host's state while an L2
    /// guest runs.
    pub vm_hsave: Option<u64>,
    /// `flags` of subsection `cpu/kvm_nested_state`: KVM's nested state, carried when
    /// the vCPU had one (`KVM_STATE_NESTED_GUEST_MODE` is bit 0).
    pub nested_state_flags: Option<u64>,
    /// The section's vmstate subsections, by name in stream order (`cpu/mpx`, ...).
    pub subsections: Vec<String>,
}

impl MigrationCpu {
    /// The segment state the check rules read.
    ///
    /// Decoding is lenient, as KVM's `set_seg` is and as
    /// [`crate::ingest::qemu_dump::QemuDump::segment_state`] is: residue bits of the flags
    /// are ignored, a selector keeps its low 16 bits, a segment is unusable when P is
    /// clear, and the CPL is `hflags & 3`.
    #[must_use]
    pub fn segment_state(&self) -> SegmentState {
        let (segments, cpl) = (&self.segments, self.cpl);
        super::qemu_dump::lenient_state(segments, cpl, self.cr0, self.cr4, self.efer, self.rflags)
    }
}

/// What [`walk`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationSummary {
    /// The stream version (3).
    pub version: u32,
    /// The machine type from the configuration section, if the stream has one.
    pub machine: Option<String>,
    /// The capabilities the configuration section lists (`configuration/capabilities`):
    /// those that change the stream's format, `x-ignore-shared` and `mapped-ram`.
    pub capabilities: Vec<String>,
    /// The target page size used to read RAM flags.
    pub page_size: u64,
    /// Every section, in stream order.
    pub sections: Vec<SectionInfo>,
    /// Guest RAM size: the total of the last `RAM_SAVE_FLAG_MEM_SIZE` block list.
    pub ram_total: u64,
    /// RAM payload bytes read and discarded (page data, zero-page fill bytes,
    /// compressed and XBZRLE data; in a mapped-ram stream, each block's bitmap and page
    /// slots, holes included).
    pub ram_bytes_skipped: u64,
    /// The `cpu` sections, decoded; empty without a description.
    pub cpus: Vec<MigrationCpu>,
    /// True when the stream ends with a `QEMU_VM_VMDESCRIPTION`.
    pub has_description: bool,
    /// The most stream bytes held in memory at once: the fixed read buffer plus the
    /// kept `cpu` sections.
    pub max_buffered: usize,
    /// Total bytes read.
    pub stream_len: u64,
}

/// True if `prefix` (the first bytes of an input) starts a QEMU migration stream:
/// magic `QEVM` and version 3.
#[must_use]
pub fn looks_like_stream(prefix: &[u8]) -> bool {
    prefix.len() >= 8
        && prefix[..4] == QEMU_VM_FILE_MAGIC.to_be_bytes()
        && prefix[4..8] == QEMU_VM_FILE_VERSION.to_be_bytes()
}

mod cpu;
mod guest;
mod input;
mod json;
mod libvirt;
mod ram_blocks;
mod walker;

use cpu::*;
use input::*;
use json::*;
pub use libvirt::*;
use ram_blocks::*;
use walker::*;

/// Walks a migration stream, skipping RAM, and decodes its `cpu` sections.
///
/// Memory use does not depend on RAM size: see [`MigrationSummary::max_buffered`].
/// Nothing the input declares is allocated before it is checked against a limit.
///
/// # Errors
///
/// [`MigrationError`] naming the offset of the first item that is malformed,
/// unsupported, or cut short by the end of the input, or an I/O error of `reader`.
pub fn walk(reader: impl Read) -> Result<MigrationSummary, MigrationError> {
    Walker::new(reader).run()
}

// ---------------------------------------------------------------------------------------
// Input: one fixed buffer, byte offsets, bounded look-ahead.
