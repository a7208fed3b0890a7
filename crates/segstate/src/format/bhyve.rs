//! bhyve (FreeBSD and illumos): `struct seg_desc` (machine/vmm.h), the descriptor half
//! of a segment register in bhyve's kernel API (`vm_get_desc`/`vm_set_desc`,
//! `VM_GET/SET_SEGMENT_DESCRIPTOR`). The selector is a separate register
//! (`VM_REG_GUEST_CS` …).
//!
//! `access` is the VMX access-rights layout on both vendors, unusable in bit 16
//! (`SEG_DESC_UNUSABLE`); on SVM `vmcb_setdesc`/`svm_setdesc` fold it into the 12-bit
//! attrib. It carries no CPL.

use super::vmx::VmxAccessRights;
use super::wire::wire_struct;
use super::{FormatError, LengthError, exact_len, le_u16};
use crate::arch::{Segment, Selector};

wire_struct! {
    /// `struct seg_desc`: base u64 @0, limit u32 @8, access u32 @12; 16 bytes.
    pub struct SegDesc ("struct seg_desc", 16 bytes) {
        /// `base`.
        pub base: u64 = @0,
        /// `limit`, byte-granular.
        pub limit: u32 = @8,
        /// `access`, VMX layout.
        pub access: VmxAccessRights = @12,
    }
}

/// A segment register as bhyve's consumers hold it: the `seg_desc` and the selector
/// register. Oxide propolis's migration record `SegDesc` (schema
/// `bhyve-x86-vcpu-segregs` v1, lib/propolis/src/vcpu.rs @372a57444262) is exactly
/// these four fields: base u64, limit u32, access u32, selector u16.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct BhyveSegment {
    /// The selector register.
    pub selector: u16,
    /// The descriptor.
    pub desc: SegDesc,
}

impl BhyveSegment {
    /// Size of the packed record: the `seg_desc` bytes followed by the selector.
    pub const SIZE: usize = SegDesc::SIZE + 2;

    /// The packed record: `seg_desc` (16 bytes) then the selector (2 bytes), little
    /// endian.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[..SegDesc::SIZE].copy_from_slice(&self.desc.to_bytes());
        out[SegDesc::SIZE..].copy_from_slice(&self.selector.to_le_bytes());
        out
    }

    /// Reads exactly [`Self::SIZE`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LengthError> {
        exact_len("bhyve segment record", bytes, Self::SIZE)?;
        Ok(BhyveSegment {
            desc: SegDesc::from_bytes(&bytes[..SegDesc::SIZE])?,
            selector: le_u16(bytes, SegDesc::SIZE),
        })
    }
}

impl TryFrom<BhyveSegment> for Segment {
    type Error = FormatError;

    /// Strict decode: reserved access bits are refused (the layout is VMX's).
    #[inline]
    fn try_from(b: BhyveSegment) -> Result<Self, FormatError> {
        if b.desc.access.reserved_bits() != 0 {
            return Err(FormatError {
                format: "seg_desc",
                field: "access",
                value: b.desc.access.0.into(),
                reason: "bits 11:8 and 31:17 of access are reserved",
            });
        }
        Ok(Segment {
            selector: Selector(b.selector),
            base: b.desc.base,
            limit: b.desc.limit,
            attributes: b.desc.access.attributes(),
            unusable: b.desc.access.unusable(),
        })
    }
}

impl From<Segment> for BhyveSegment {
    /// Total: `access` has the unusable bit.
    #[inline]
    fn from(s: Segment) -> Self {
        BhyveSegment {
            selector: s.selector.0,
            desc: SegDesc {
                base: s.base,
                limit: s.limit,
                access: VmxAccessRights::from_parts(s.attributes, s.unusable),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::user_null_ss;

    #[test]
    fn seg_desc_layout_and_round_trip() {
        let d = SegDesc {
            base: 0x0102_0304_0506_0708,
            limit: 0xffff_ffff,
            access: VmxAccessRights(0x1_c0f3),
        };
        let b = d.to_bytes();
        assert_eq!(b[0], 0x08);
        assert_eq!(&b[8..12], &[0xff; 4]);
        assert_eq!(&b[12..16], &[0xf3, 0xc0, 0x01, 0x00]);
        assert_eq!(SegDesc::from_bytes(&b), Ok(d));
        assert!(SegDesc::from_bytes(&b[1..]).is_err());
        let rec = BhyveSegment {
            selector: 0x2b,
            desc: d,
        };
        let rb = rec.to_bytes();
        assert_eq!(&rb[16..], &[0x2b, 0]);
        assert_eq!(BhyveSegment::from_bytes(&rb), Ok(rec));
    }

    #[test]
    fn strict_decode_keeps_unusable_and_dpl() {
        let null = user_null_ss();
        let rec = BhyveSegment::from(null);
        assert!(rec.desc.access.unusable());
        assert_eq!(Segment::try_from(rec), Ok(null));
        let bad = BhyveSegment {
            desc: SegDesc {
                access: VmxAccessRights(0x100 | 0x93),
                ..rec.desc
            },
            ..rec
        };
        assert_eq!(Segment::try_from(bad).unwrap_err().field, "access");
    }
}
