//! VirtualBox: `X86DESCATTR` (include/iprt/x86.h) and `CPUMSELREG`
//! (include/VBox/vmm/cpumctx.h), the segment register of VirtualBox's CPU context,
//! used by HM, NEM, IEM and the saved state (SSM unit "cpum": `Sel`, `ValidSel`,
//! `fFlags`, `u64Base`, `u32Limit`, `Attr` per register). No CPL field: CPUM takes the
//! CPL from SS.Attr.DPL (`CPUMGetGuestCPL`).

use super::FormatError;
use super::attribute_word::{AttributeWord, attribute_word};
use super::vmx::VmxAccessRights;
use super::wire::segment_record;
use crate::arch::{Segment, Selector};

attribute_word! {
    /// `X86DESCATTR`, a u32: type 3:0, S 4, DPL 6:5, P 7, `u4LimitHigh` 11:8, AVL 12, L 13,
    /// D/B 14, G 15, `u1Unusable` 16, reserved 31:17. Bits 15:0 and 16 are the VMX
    /// access-rights layout; bits 11:8 hold a copy of the descriptor's limit 19:16, which
    /// VMX calls reserved.
    pub struct X86DescAttr(pub u32) in "CPUMSELREG"."Attr";
    /// Bits 31:17, reserved.
    reserved 0xfffe_0000, "bits 31:17 of X86DESCATTR are reserved"
}

impl X86DescAttr {
    /// `u4LimitHigh`, bits 11:8.
    pub const LIMIT_HIGH_MASK: u32 = 0x0f00;
    /// `u1Unusable`.
    pub const UNUSABLE: u32 = VmxAccessRights::UNUSABLE;

    /// The same word read as VMX access rights with `u4LimitHigh` cleared.
    #[must_use]
    #[inline]
    pub const fn access_rights(self) -> VmxAccessRights {
        VmxAccessRights(self.0 & !Self::LIMIT_HIGH_MASK)
    }
}

segment_record! {
    /// `CPUMSELREG`: Sel u16 @0, PaddingSel u16 @2, ValidSel u16 @4, fFlags u16 @6,
    /// u64Base @8, u32Limit @16, Attr @20; 24 bytes.
    pub struct CpumSelReg ("CPUMSELREG", 24 bytes) {
        selector @0 "Sel",
        /// `PaddingSel`.
        pub padding: u16 = @2,
        /// `ValidSel`: the selector the hidden parts were loaded for.
        pub valid_selector: u16 = @4,
        /// `fFlags` (`CPUMSELREG_FLAGS_VALID` = 1, `CPUMSELREG_FLAGS_STALE` = 2).
        pub flags: u16 = @6,
        base @8 "u64Base",
        limit @16 "u32Limit",
        attr: X86DescAttr @20 "Attr",
    }
}

impl CpumSelReg {
    /// `CPUMSELREG_FLAGS_VALID`: the hidden parts are valid.
    pub const FLAGS_VALID: u16 = 1;
}

impl TryFrom<CpumSelReg> for Segment {
    type Error = FormatError;

    /// Strict decode: reserved bits 31:17 are refused, and so is a `u4LimitHigh`
    /// that disagrees with the limit (segstate does not carry it apart).
    #[inline]
    fn try_from(c: CpumSelReg) -> Result<Self, FormatError> {
        c.attr.check_reserved()?;
        let ar = c.attr.access_rights();
        let attributes = ar.attributes();
        let raw_limit_high = (c.attr.0 & X86DescAttr::LIMIT_HIGH_MASK) >> 8;
        let descriptor_limit = if attributes.g { c.limit >> 12 } else { c.limit };
        if raw_limit_high != 0 && raw_limit_high != (descriptor_limit >> 16) & 0xf {
            return Err(FormatError {
                format: <X86DescAttr as AttributeWord>::FORMAT,
                field: "Attr.u4LimitHigh",
                value: raw_limit_high.into(),
                reason: "u4LimitHigh disagrees with u32Limit",
            });
        }
        Ok(Segment {
            selector: Selector(c.selector),
            base: c.base,
            limit: c.limit,
            attributes,
            unusable: ar.unusable(),
        })
    }
}

impl From<Segment> for CpumSelReg {
    /// Writes a valid hidden part (`ValidSel = Sel`, `fFlags = VALID`) with
    /// `u4LimitHigh` zero, as HM's import does.
    #[inline]
    fn from(s: Segment) -> Self {
        CpumSelReg {
            selector: s.selector.0,
            padding: 0,
            valid_selector: s.selector.0,
            flags: Self::FLAGS_VALID,
            base: s.base,
            limit: s.limit,
            attr: X86DescAttr(VmxAccessRights::from_parts(s.attributes, s.unusable).0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Attributes, PrivilegeLevel};
    use crate::format::tests::user_null_ss;

    #[test]
    fn layout_and_round_trip() {
        let ss = user_null_ss();
        let c = CpumSelReg::from(ss);
        let b = c.to_bytes();
        assert_eq!(&b[0..2], &[0x2b, 0]);
        assert_eq!(&b[4..8], &[0x2b, 0, 1, 0]);
        assert_eq!(&b[16..20], &ss.limit.to_le_bytes());
        assert_eq!(b[22], 1, "u1Unusable is bit 16 of Attr at offset 20");
        assert_eq!(CpumSelReg::from_bytes(&b), Ok(c));
        assert!(CpumSelReg::from_bytes(&b[..23]).is_err());
        assert_eq!(Segment::try_from(c), Ok(ss));
    }

    #[test]
    fn limit_high_must_agree_and_reserved_bits_are_refused() {
        let cs = Segment::flat(Selector(0x10), Attributes::code64(PrivilegeLevel::Ring0));
        let mut c = CpumSelReg::from(cs);
        c.attr.0 |= 0xf00;
        assert_eq!(
            Segment::try_from(c),
            Ok(cs),
            "limit 19:16 of a flat segment is 0xf"
        );
        c.attr.0 = (c.attr.0 & !0xf00) | 0x300;
        assert_eq!(Segment::try_from(c).unwrap_err().field, "Attr.u4LimitHigh");
        c.attr.0 = 0x2_a09b;
        assert_eq!(Segment::try_from(c).unwrap_err().field, "Attr");
    }
}
