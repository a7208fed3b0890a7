//! Intel VMX: guest segment fields of the VMCS and their 32-bit access rights
//! (SDM Vol. 3C §25.4.1, Table 25-2, "Format of Access Rights").
//!
//! ```
//! use segstate::arch::{Attributes, PrivilegeLevel, Segment, Selector};
//! use segstate::format::vmx::{VmxAccessRights, VmxSegment};
//!
//! // An unusable SS keeps its DPL in the VMCS: bit 16 says unusable, the rest stays.
//! let ss = Segment::null(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3));
//! let vmcs = VmxSegment::from(ss);
//! assert_ne!(vmcs.access_rights.0 & VmxAccessRights::UNUSABLE, 0);
//! assert_eq!(vmcs.access_rights.dpl(), PrivilegeLevel::Ring3);
//! assert_eq!(Segment::try_from(vmcs)?, ss);
//! # Ok::<(), segstate::format::FormatError>(())
//! ```

use super::FormatError;
use super::attribute_word::{AttributeWord, attribute_word};
use crate::arch::{Attributes, PrivilegeLevel, SegReg, Segment, SegmentType, Selector};

attribute_word! {
    /// VMX segment access rights: type 3:0, S 4, DPL 6:5, P 7, reserved 11:8, AVL 12,
    /// L 13, D/B 14, G 15, unusable 16, reserved 31:17.
    pub struct VmxAccessRights(pub u32) in "vmx_access_rights"."reserved";
    /// Bits that must be zero for a usable segment (11:8 and 31:17).
    reserved 0x0000_0f00 | 0xfffe_0000, "bits 11:8 and 31:17 of the access rights are reserved"
}

impl VmxAccessRights {
    /// The "segment unusable" bit.
    pub const UNUSABLE: u32 = 1 << 16;

    /// Type field.
    #[inline]
    #[must_use]
    pub const fn segment_type(self) -> SegmentType {
        SegmentType::from_low_bits(self.0 as u8)
    }
    /// DPL: for SS, the CPL.
    #[inline]
    #[must_use]
    pub const fn dpl(self) -> PrivilegeLevel {
        PrivilegeLevel::from_low_bits((self.0 >> 5) as u8)
    }
    /// The unusable bit.
    #[inline]
    #[must_use]
    pub const fn unusable(self) -> bool {
        self.0 & Self::UNUSABLE != 0
    }
    /// Reserved bits that are set.
    #[inline]
    #[must_use]
    pub const fn reserved_bits(self) -> u32 {
        self.0 & Self::RESERVED_MASK
    }

    /// All eight attribute fields.
    #[inline]
    #[must_use]
    pub const fn attributes(self) -> Attributes {
        Attributes::from_word(self.0 as u16)
    }

    /// Packs attributes and the unusable bit; reserved bits are zero.
    #[inline]
    #[must_use]
    pub const fn from_parts(a: Attributes, unusable: bool) -> Self {
        VmxAccessRights(a.to_word() as u32 | (unusable as u32) << 16)
    }

    /// The same attributes in VMCB attrib layout, dropping the unusable bit:
    /// `(ar & 0xff) | ((ar >> 4) & 0xf00)`.
    #[inline]
    #[must_use]
    pub const fn to_svm_layout(self) -> u16 {
        ((self.0 & 0xff) | ((self.0 >> 4) & 0xf00)) as u16
    }
}

/// A guest segment as the VMCS holds it: four fields, each its own VMCS component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VmxSegment {
    /// Guest selector (16-bit field).
    pub selector: u16,
    /// Guest base (natural-width field).
    pub base: u64,
    /// Guest limit (32-bit field).
    pub limit: u32,
    /// Guest access rights (32-bit field).
    pub access_rights: VmxAccessRights,
}

/// VMCS field encodings for the guest segment fields (SDM Vol. 3C Appendix B).
#[derive(Clone, Copy, Debug)]
pub struct VmcsField;

impl VmcsField {
    /// `GUEST_<reg>_SELECTOR`: 0x0800 + 2·n in ES, CS, SS, DS, FS, GS, LDTR, TR order.
    #[must_use]
    pub const fn selector(reg: SegReg) -> u32 {
        0x0800 + 2 * reg.index() as u32
    }
    /// `GUEST_<reg>_LIMIT`: 0x4800 + 2·n.
    #[must_use]
    pub const fn limit(reg: SegReg) -> u32 {
        0x4800 + 2 * reg.index() as u32
    }
    /// `GUEST_<reg>_AR_BYTES`: 0x4814 + 2·n.
    #[must_use]
    pub const fn access_rights(reg: SegReg) -> u32 {
        0x4814 + 2 * reg.index() as u32
    }
    /// `GUEST_<reg>_BASE`: 0x6806 + 2·n.
    #[must_use]
    pub const fn base(reg: SegReg) -> u32 {
        0x6806 + 2 * reg.index() as u32
    }
}

impl TryFrom<VmxSegment> for Segment {
    type Error = FormatError;

    /// Strict decode: reserved access-rights bits are refused.
    #[inline]
    fn try_from(v: VmxSegment) -> Result<Self, FormatError> {
        v.access_rights.check_reserved()?;
        Ok(Segment {
            selector: Selector(v.selector),
            base: v.base,
            limit: v.limit,
            attributes: v.access_rights.attributes(),
            unusable: v.access_rights.unusable(),
        })
    }
}

impl From<Segment> for VmxSegment {
    /// Total: the VMCS holds every field, including `unusable`.
    #[inline]
    fn from(s: Segment) -> Self {
        VmxSegment {
            selector: s.selector.0,
            base: s.base,
            limit: s.limit,
            access_rights: VmxAccessRights::from_parts(s.attributes, s.unusable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::user_null_ss;

    #[test]
    fn golden_values_and_field_encodings() {
        // QEMU flags 0x00a09b00 >> 8 & 0xf0ff = 0xa09b: 64-bit kernel CS.
        let cs = VmxAccessRights(0xa09b);
        assert_eq!(cs.attributes(), Attributes::code64(PrivilegeLevel::Ring0));
        assert_eq!(cs.to_svm_layout(), 0xa9b);
        assert_eq!(VmcsField::selector(SegReg::Es), 0x0800);
        assert_eq!(VmcsField::selector(SegReg::Tr), 0x080e);
        assert_eq!(VmcsField::access_rights(SegReg::Cs), 0x4816);
        assert_eq!(VmcsField::access_rights(SegReg::Ss), 0x4818);
        assert_eq!(VmcsField::limit(SegReg::Ldtr), 0x480c);
        assert_eq!(VmcsField::base(SegReg::Tr), 0x6814);
    }

    #[test]
    fn every_defined_access_rights_value_round_trips() {
        for low in 0..=0xffu32 {
            for high in 0..=0x1fu32 {
                let ar = VmxAccessRights(low | high << 12);
                let seg = VmxSegment {
                    selector: 0x10,
                    base: 0,
                    limit: 0xfffff,
                    access_rights: ar,
                };
                let decoded = Segment::try_from(seg).unwrap();
                assert_eq!(VmxSegment::from(decoded), seg);
            }
        }
    }

    /// Peer bug class: dropping `unusable` on conversion. VMX keeps it, and keeps the
    /// DPL of an unusable SS (the CPL) next to it.
    #[test]
    fn unusable_and_dpl_survive() {
        let ss = user_null_ss();
        let v = VmxSegment::from(ss);
        assert!(v.access_rights.unusable());
        assert_eq!(v.access_rights.dpl(), PrivilegeLevel::Ring3);
        assert_eq!(Segment::try_from(v), Ok(ss));
    }

    #[test]
    fn reserved_bits_are_refused() {
        for bit in (8..12).chain(17..32) {
            let seg = VmxSegment {
                access_rights: VmxAccessRights(0x93 | 1 << bit),
                ..Default::default()
            };
            assert_eq!(
                Segment::try_from(seg).unwrap_err().field,
                "reserved",
                "bit {bit}"
            );
        }
    }
}
