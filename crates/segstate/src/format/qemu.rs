//! QEMU's x86 CPU model: `SegmentCache` (target/i386/cpu.h) and the CPL QEMU derives.

use super::attribute_word::{AttributeWord, attribute_word};
use super::{FormatError, require_unusable_is_not_present, segment_without_unusable_bit};
use crate::arch::{Attributes, PerSegReg, PrivilegeLevel, SegReg, Segment, Selector};

attribute_word! {
    /// `SegmentCache.flags`: the high dword of a descriptor, at descriptor positions
    /// (QEMU `DESC_*` macros): type 11:8, S 12, DPL 14:13, P 15, AVL 20, L 21, B 22, G 23.
    ///
    /// TCG stores the whole high dword, so bits 7:0, 19:16 and 31:24 may hold base and
    /// limit bits of the descriptor it was loaded from; the KVM path leaves them zero.
    /// They are kept raw here and called the *residue*.
    pub struct QemuFlags(pub u32) in "SegmentCache"."flags";
    /// The residue: bits outside [`QemuFlags::ATTRIBUTE_MASK`].
    reserved !QemuFlags::ATTRIBUTE_MASK, "bits 7:0, 19:16 and 31:24 hold descriptor base/limit bits, not attributes"
}

impl QemuFlags {
    /// DESC_TYPE_SHIFT.
    pub const TYPE_SHIFT: u32 = 8;
    /// DESC_S_MASK.
    pub const S_MASK: u32 = 1 << 12;
    /// DESC_DPL_SHIFT.
    pub const DPL_SHIFT: u32 = 13;
    /// DESC_DPL_MASK.
    pub const DPL_MASK: u32 = 3 << 13;
    /// DESC_P_MASK.
    pub const P_MASK: u32 = 1 << 15;
    /// DESC_AVL_MASK.
    pub const AVL_MASK: u32 = 1 << 20;
    /// DESC_L_MASK.
    pub const L_MASK: u32 = 1 << 21;
    /// DESC_B_MASK.
    pub const B_MASK: u32 = 1 << 22;
    /// DESC_G_MASK.
    pub const G_MASK: u32 = 1 << 23;
    /// The bits that carry attributes.
    pub const ATTRIBUTE_MASK: u32 = 0x00f0_ff00;
    /// The mask QEMU's register dump applies (commit 4058fd98fd7e): attributes plus the
    /// limit's top nibble.
    pub const DUMP_MASK: u32 = 0x00ff_ff00;

    /// All eight attribute fields.
    #[inline]
    #[must_use]
    pub const fn attributes(self) -> Attributes {
        Attributes::from_word((self.0 >> Self::TYPE_SHIFT) as u16)
    }

    /// Packs attributes; residue bits are zero.
    #[inline]
    #[must_use]
    pub const fn from_attributes(a: Attributes) -> Self {
        QemuFlags((a.to_word() as u32) << Self::TYPE_SHIFT)
    }

    /// The residue: bits outside [`QemuFlags::ATTRIBUTE_MASK`].
    #[inline]
    #[must_use]
    pub const fn residue(self) -> u32 {
        self.0 & Self::RESERVED_MASK
    }

    /// DPL field.
    #[inline]
    #[must_use]
    pub const fn dpl(self) -> PrivilegeLevel {
        PrivilegeLevel::from_low_bits((self.0 >> Self::DPL_SHIFT) as u8)
    }
}

/// `SegmentCache`: selector (uint32_t), base (target_ulong), limit (uint32_t), flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct QemuSegmentCache {
    /// Selector (QEMU keeps 32 bits; the upper 16 are always zero from KVM).
    pub selector: u32,
    /// Base.
    pub base: u64,
    /// Byte-granular limit.
    pub limit: u32,
    /// Descriptor flags.
    pub flags: QemuFlags,
}

impl QemuSegmentCache {
    /// The segment as KVM receives it through QEMU's `set_seg`: residue bits of the
    /// flags ignored, the selector's low 16 bits, unusable when P is clear. Lenient where
    /// [`Segment::try_from`] is strict, for states QEMU itself printed or migrated.
    #[inline]
    #[must_use]
    pub fn lenient_segment(&self) -> Segment {
        segment_without_unusable_bit(
            Selector(self.selector as u16),
            self.base,
            self.limit,
            self.flags.attributes(),
        )
    }
}

impl TryFrom<QemuSegmentCache> for Segment {
    type Error = FormatError;

    /// Strict decode. QEMU has no unusable bit; KVM's set_seg path reads P = 0 as
    /// unusable, so `unusable = !P`. Residue bits and a selector above 16 bits are
    /// refused because a [`Segment`] does not carry them.
    #[inline]
    fn try_from(q: QemuSegmentCache) -> Result<Self, FormatError> {
        q.flags.check_reserved()?;
        if u16::try_from(q.selector).is_err() {
            return Err(FormatError {
                format: "SegmentCache",
                field: "selector",
                value: q.selector.into(),
                reason: "a selector has 16 bits",
            });
        }
        // With no residue and a 16-bit selector, the lenient reading drops nothing.
        Ok(q.lenient_segment())
    }
}

impl TryFrom<Segment> for QemuSegmentCache {
    type Error = FormatError;

    /// Fails where QEMU would lose information: without an unusable bit, an unusable
    /// segment must say P = 0 and a usable one P = 1.
    #[inline]
    fn try_from(s: Segment) -> Result<Self, FormatError> {
        require_unusable_is_not_present(
            &s,
            "SegmentCache",
            "flags.P",
            "QEMU has no unusable bit: unusable must equal !present",
        )?;
        Ok(QemuSegmentCache {
            selector: s.selector.0.into(),
            base: s.base,
            limit: s.limit,
            flags: QemuFlags::from_attributes(s.attributes),
        })
    }
}

/// The CPL QEMU derives: `x86_update_hflags()` and `cpu_x86_load_seg_cache()` set
/// `hflags & HF_CPL_MASK` from SS.DPL (QEMU 7125c937c97d, 2014; earlier QEMU used CS).
#[must_use]
pub fn hflags_cpl(segments: &PerSegReg<QemuSegmentCache>) -> PrivilegeLevel {
    segments[SegReg::Ss].flags.dpl()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_flags() {
        // From QEMU register dumps: 64-bit kernel CS, flat kernel data, user data.
        assert_eq!(
            QemuFlags(0x00a0_9b00).attributes(),
            Attributes::code64(PrivilegeLevel::Ring0)
        );
        assert_eq!(
            QemuFlags(0x00c0_9300).attributes(),
            Attributes::flat_data(PrivilegeLevel::Ring0)
        );
        assert_eq!(
            QemuFlags::from_attributes(Attributes::flat_data(PrivilegeLevel::Ring3)),
            QemuFlags(0x00c0_f300)
        );
    }

    #[test]
    fn flags_round_trip_and_residue_is_refused() {
        for high in 0..16u32 {
            for low in 0..=0xffu32 {
                let flags = QemuFlags(low << 8 | high << 20);
                assert_eq!(QemuFlags::from_attributes(flags.attributes()), flags);
            }
        }
        // A TCG-loaded flat segment keeps the limit nibble 0xf in bits 19:16.
        let tcg = QemuSegmentCache {
            selector: 0x18,
            base: 0,
            limit: 0xffff_ffff,
            flags: QemuFlags(0x00cf_9300),
        };
        assert_eq!(Segment::try_from(tcg).unwrap_err().field, "flags");
        let wide = QemuSegmentCache {
            selector: 0x1_0018,
            ..Default::default()
        };
        assert_eq!(Segment::try_from(wide).unwrap_err().field, "selector");
    }

    #[test]
    fn cpl_is_ss_dpl() {
        let mut segs = PerSegReg([QemuSegmentCache::default(); 8]);
        segs[SegReg::Cs].flags = QemuFlags(0x00a0_fb00);
        segs[SegReg::Ss].flags = QemuFlags(0x00c0_f300);
        assert_eq!(hflags_cpl(&segs), PrivilegeLevel::Ring3);
        segs[SegReg::Ss].flags = QemuFlags(0);
        assert_eq!(
            hflags_cpl(&segs),
            PrivilegeLevel::Ring0,
            "a zeroed SS says CPL 0"
        );
    }
}
