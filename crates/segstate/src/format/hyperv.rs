//! Hyper-V (MSHV, WHP) segment registers: `HV_X64_SEGMENT_REGISTER` /
//! `WHV_X64_SEGMENT_REGISTER`, the layout of the second hypervisor family Rust VMMs
//! target (Hyper-V TLFS, "Virtual Processor Register Names and Values").

use super::vmx::VmxAccessRights;
use super::{FormatError, LengthError, exact_len, le_u16, le_u32, le_u64};
use crate::arch::{Attributes, Segment, Selector};

/// The 16-bit attribute word: VMX access-rights bits 15:0 (type 3:0, S 4, DPL 6:5,
/// P 7, reserved 11:8, AVL 12, L 13, D/B 14, G 15) and **no unusable bit**.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct HvSegmentAttributes(pub u16);

impl HvSegmentAttributes {
    /// Bits 11:8, reserved.
    pub const RESERVED_MASK: u16 = 0x0f00;

    /// All eight attribute fields: the layout is VMX access rights bits 15:0.
    #[must_use]
    pub const fn attributes(self) -> Attributes {
        VmxAccessRights(self.0 as u32).attributes()
    }

    /// Packs attributes; reserved bits are zero.
    #[must_use]
    pub const fn from_attributes(a: Attributes) -> Self {
        // Bits 15:0 of VMX access rights; without the unusable bit the value fits.
        HvSegmentAttributes(VmxAccessRights::from_parts(a, false).0 as u16)
    }
}

/// `HV_X64_SEGMENT_REGISTER`: base u64 @0, limit u32 @8, selector u16 @12,
/// attributes u16 @14; 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct HvSegmentRegister {
    /// Base.
    pub base: u64,
    /// Byte-granular limit.
    pub limit: u32,
    /// Selector.
    pub selector: u16,
    /// Attribute word.
    pub attributes: HvSegmentAttributes,
}

impl HvSegmentRegister {
    /// Size of the C struct.
    pub const SIZE: usize = 16;

    /// Little-endian bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..8].copy_from_slice(&self.base.to_le_bytes());
        out[8..12].copy_from_slice(&self.limit.to_le_bytes());
        out[12..14].copy_from_slice(&self.selector.to_le_bytes());
        out[14..16].copy_from_slice(&self.attributes.0.to_le_bytes());
        out
    }

    /// Reads exactly 16 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LengthError> {
        exact_len("HV_X64_SEGMENT_REGISTER", bytes, Self::SIZE)?;
        Ok(HvSegmentRegister {
            base: le_u64(bytes, 0),
            limit: le_u32(bytes, 8),
            selector: le_u16(bytes, 12),
            attributes: HvSegmentAttributes(le_u16(bytes, 14)),
        })
    }
}

impl TryFrom<HvSegmentRegister> for Segment {
    type Error = FormatError;

    /// Strict decode. Without an unusable bit, P = 0 is the only way to say it, so
    /// `unusable = !P`. Reserved bits are refused.
    #[inline]
    fn try_from(h: HvSegmentRegister) -> Result<Self, FormatError> {
        if h.attributes.0 & HvSegmentAttributes::RESERVED_MASK != 0 {
            return Err(FormatError {
                format: "hv_x64_segment_register",
                field: "attributes",
                value: h.attributes.0.into(),
                reason: "bits 11:8 of the attribute word are reserved",
            });
        }
        let attributes = h.attributes.attributes();
        Ok(Segment {
            selector: Selector(h.selector),
            base: h.base,
            limit: h.limit,
            attributes,
            unusable: !attributes.present,
        })
    }
}

impl TryFrom<Segment> for HvSegmentRegister {
    type Error = FormatError;

    /// Fails where Hyper-V would lose information: an unusable segment that still
    /// says P = 1 (as KVM VMX reports some) or a usable one with P = 0 cannot be
    /// told apart from their neighbours once the unusable bit is gone.
    #[inline]
    fn try_from(s: Segment) -> Result<Self, FormatError> {
        if s.unusable == s.attributes.present {
            return Err(FormatError {
                format: "hv_x64_segment_register",
                field: "unusable",
                value: s.unusable.into(),
                reason: "Hyper-V has no unusable bit: unusable must equal !present",
            });
        }
        Ok(HvSegmentRegister {
            base: s.base,
            limit: s.limit,
            selector: s.selector.0,
            attributes: HvSegmentAttributes::from_attributes(s.attributes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;

    #[test]
    fn bytes_and_attributes_round_trip() {
        let cs = Segment::flat(Selector(0x10), Attributes::code64(PrivilegeLevel::Ring0));
        let hv = HvSegmentRegister::try_from(cs).unwrap();
        assert_eq!(hv.attributes.0, 0xa09b);
        assert_eq!(HvSegmentRegister::from_bytes(&hv.to_bytes()), Ok(hv));
        assert_eq!(Segment::try_from(hv), Ok(cs));
        for raw in 0..=u16::MAX {
            if raw & HvSegmentAttributes::RESERVED_MASK == 0 {
                let a = HvSegmentAttributes(raw);
                assert_eq!(HvSegmentAttributes::from_attributes(a.attributes()), a);
            }
        }
    }

    /// Converting into Hyper-V says so when the unusable flag would be lost.
    #[test]
    fn unusable_present_segment_is_refused_not_dropped() {
        let mut ss = Segment::flat(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3));
        ss.unusable = true;
        let err = HvSegmentRegister::try_from(ss).unwrap_err();
        assert_eq!(err.field, "unusable");
        let null = Segment::null(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3));
        let hv = HvSegmentRegister::try_from(null).unwrap();
        assert_eq!(Segment::try_from(hv), Ok(null));
        assert_eq!(hv.attributes.attributes().dpl, PrivilegeLevel::Ring3);
    }
}
