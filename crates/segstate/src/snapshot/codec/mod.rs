//! The snapshot file format, version 1 (docs/snapshot-format.md is the full
//! description; this module is its reference implementation).
//!
//! ```text
//! offset  size  field
//! 0       8     magic "SEGSNAP\0"
//! 8       2     format major version (1)
//! 10      2     format minor version (0)
//! 12      2     header size (32)
//! 14      2     reserved, 0
//! 16      8     total file size in bytes, checksum included
//! 24      4     number of sections
//! 28      4     reserved, 0
//! 32      …     sections: id u16, flags u16, payload length u32, payload
//! size-4  4     CRC-32C of bytes [0, size-4)
//! ```
//!
//! All integers are little-endian. Section flag bit 0 means "skippable": a reader
//! that does not know the id may ignore it; an unknown section without it is refused.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::crc::crc32c;
use super::{HostDescription, MemoryRegion, MsrEntry, Regs, VcpuSnapshot, Xcr, raw_size};
use crate::arch::Vendor;
use crate::arch::{PrivilegeLevel, SegReg, Segment};
use crate::format::kvm::KvmSregs;

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"SEGSNAP\0";
/// The format major version this code writes and the only one it reads.
pub const FORMAT_MAJOR: u16 = 1;
/// The format minor version this code writes (it reads every minor of its major).
pub const FORMAT_MINOR: u16 = 0;
/// Size of the file header.
pub(crate) const HEADER_SIZE: usize = 32;
/// Size of a section header.
pub(crate) const SECTION_HEADER_SIZE: usize = 8;
/// Size of the checksum trailer.
pub(crate) const TRAILER_SIZE: usize = 4;
/// Largest input [`VcpuSnapshot::decode`] accepts (64 MiB).
pub const DEFAULT_DECODE_LIMIT: usize = 64 << 20;

/// Section flag: a reader that does not know this section may skip it.
pub(crate) const FLAG_SKIPPABLE: u16 = 1;

/// Declares the section ids with their names: each id and the name `inspect` prints
/// for it are one row, so [`section::name`] cannot miss an id.
macro_rules! section_ids {
    ($($(#[$doc:meta])* $name:ident = $id:literal,)*) => {
        /// Section ids of format version 1.
        pub(crate) mod section {
            $( $(#[$doc])* pub(crate) const $name: u16 = $id; )*

            /// Name of a known section id.
            #[must_use]
            pub(crate) fn name(id: u16) -> Option<&'static str> {
                match id {
                    $( $name => Some(stringify!($name)), )*
                    _ => None,
                }
            }
        }
    };
}

section_ids! {
    /// Host description (skippable).
    HOST = 0x0001,
    /// vCPU id and the explicit CPL.
    VCPU = 0x0002,
    /// `struct kvm_regs`.
    REGS = 0x0003,
    /// `struct kvm_sregs`.
    SREGS = 0x0004,
    /// `struct kvm_debugregs`, raw.
    DEBUGREGS = 0x0005,
    /// MSR list.
    MSRS = 0x0006,
    /// `struct kvm_fpu`, raw.
    FPU = 0x0007,
    /// XSAVE image, raw.
    XSAVE = 0x0008,
    /// XCR list.
    XCRS = 0x0009,
    /// `struct kvm_vcpu_events`, raw.
    VCPU_EVENTS = 0x000a,
    /// `struct kvm_lapic_state`, raw.
    LAPIC = 0x000b,
    /// `kvm_mp_state.mp_state`.
    MP_STATE = 0x000c,
    /// `struct kvm_cpuid_entry2` list, raw.
    CPUID = 0x000d,
    /// One guest memory region (may repeat).
    MEMORY = 0x0010,
}

/// Highest `kvm_mp_state` value KVM defines (KVM_MP_STATE_SUSPENDED).
pub(crate) const MAX_MP_STATE: u32 = 10;

/// Why bytes are not a snapshot this code can read. Every variant names the field or
/// the offset.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is larger than the decode limit.
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input ends before `what` does.
    Truncated {
        /// Offset where more bytes were needed.
        offset: usize,
        /// Bytes needed there.
        needed: usize,
        /// The structure being read.
        what: &'static str,
    },
    /// The first eight bytes are not [`MAGIC`].
    BadMagic {
        /// What was found.
        found: [u8; 8],
    },
    /// The header's total size disagrees with the input size.
    SizeMismatch {
        /// `header.total_size` (offset 16).
        header: u64,
        /// The input's size.
        actual: usize,
    },
    /// The CRC-32C trailer does not match the contents.
    Checksum {
        /// Stored in the trailer.
        stored: u32,
        /// Computed over the file.
        computed: u32,
        /// Offset of the trailer.
        offset: usize,
    },
    /// A format version this code cannot read.
    UnknownVersion {
        /// Major.
        major: u16,
        /// Minor.
        minor: u16,
    },
    /// A section this code does not know and may not skip.
    UnknownMandatorySection {
        /// Its id.
        id: u16,
        /// Offset of its header.
        offset: usize,
    },
    /// A section that may appear once appears again.
    DuplicateSection {
        /// Its name.
        name: &'static str,
        /// Offset of the second header.
        offset: usize,
    },
    /// A required section is absent.
    MissingSection {
        /// Its name.
        name: &'static str,
    },
    /// A field holds a value that cannot be.
    Invalid {
        /// Offset of the field.
        offset: usize,
        /// The field, e.g. `VCPU.cpl`.
        field: String,
        /// Its value.
        value: u64,
        /// Why it cannot be.
        reason: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { size, limit } => write!(
                f,
                "snapshot is {size} bytes, more than the decode limit of {limit}"
            ),
            DecodeError::Truncated {
                offset,
                needed,
                what,
            } => write!(
                f,
                "truncated: {what} needs {needed} bytes at offset {offset}, past the end of the input"
            ),
            DecodeError::BadMagic { found } => write!(
                f,
                "not a segstate snapshot: magic at offset 0 is {found:02x?}, expected \"SEGSNAP\\0\""
            ),
            DecodeError::SizeMismatch { header, actual } => {
                if (*actual as u64) < *header {
                    write!(
                        f,
                        "truncated: header.total_size (offset 16) says {header} bytes, the input has {actual}"
                    )
                } else {
                    write!(
                        f,
                        "trailing bytes: header.total_size (offset 16) says {header} bytes, the input has {actual}"
                    )
                }
            }
            DecodeError::Checksum {
                stored,
                computed,
                offset,
            } => write!(
                f,
                "checksum mismatch: CRC-32C at offset {offset} is {stored:#010x}, the contents give {computed:#010x} (corrupt file)"
            ),
            DecodeError::UnknownVersion { major, minor } => write!(
                f,
                "unknown format version {major}.{minor} (offset 8): this reader knows major version {FORMAT_MAJOR}"
            ),
            DecodeError::UnknownMandatorySection { id, offset } => write!(
                f,
                "unknown mandatory section {id:#06x} at offset {offset} (written by a newer segstate?)"
            ),
            DecodeError::DuplicateSection { name, offset } => {
                write!(
                    f,
                    "section {name} appears twice (second at offset {offset})"
                )
            }
            DecodeError::MissingSection { name } => write!(f, "required section {name} is missing"),
            DecodeError::Invalid {
                offset,
                field,
                value,
                reason,
            } => write!(f, "{field} = {value:#x} at offset {offset}: {reason}"),
        }
    }
}

impl core::error::Error for DecodeError {}

// ---------------------------------------------------------------------------------
// Encoding

mod decode;
mod encode;

use crate::format::{le_u16, le_u32};

/// One section as found in a file (for `inspect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// Offset of the section header.
    pub offset: usize,
    /// Section id.
    pub id: u16,
    /// Flags.
    pub flags: u16,
    /// Payload length.
    pub len: usize,
}

impl SectionInfo {
    /// The section's name (`"SREGS"`, `"MEMORY"`, …), or `None` for an id format
    /// version 1 does not define.
    #[must_use]
    pub fn name(&self) -> Option<&'static str> {
        section::name(self.id)
    }
}

/// The sections of a file that [`VcpuSnapshot::decode`] accepted, in order.
#[must_use]
pub fn sections(bytes: &[u8]) -> Vec<SectionInfo> {
    let mut out = Vec::new();
    if bytes.len() < HEADER_SIZE + TRAILER_SIZE {
        return out;
    }
    let end = bytes.len() - TRAILER_SIZE;
    let mut pos = HEADER_SIZE;
    while end.saturating_sub(pos) >= SECTION_HEADER_SIZE {
        let len = le_u32(bytes, pos + 4) as usize;
        out.push(SectionInfo {
            offset: pos,
            id: le_u16(bytes, pos),
            flags: le_u16(bytes, pos + 2),
            len,
        });
        match (pos + SECTION_HEADER_SIZE).checked_add(len) {
            Some(p) if p <= end => pos = p,
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::section;

    #[test]
    fn section_names_are_the_ids_names_and_unknown_ids_have_none() {
        assert_eq!(section::name(0x0001), Some("HOST"));
        assert_eq!(section::name(0x000a), Some("VCPU_EVENTS"));
        assert_eq!(section::name(0x0010), Some("MEMORY"));
        assert_eq!(section::name(0x000e), None);
        assert_eq!(section::name(0), None);
    }
}
