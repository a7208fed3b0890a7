//! The hidden part of a segment register: the descriptor cache (SDM Vol. 3A §3.4.3).
//!
//! ```
//! use segstate::arch::{Attributes, PrivilegeLevel, Segment, Selector};
//!
//! let user = Segment::flat(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3));
//! assert!(user.is_usable());
//! // What the 2017 bug did to an unusable SS: every attribute zeroed.
//! let zeroed = Segment::null(Selector(0x2b), Attributes::default());
//! let fields: Vec<_> = user.field_changes(&zeroed).iter().map(|c| c.field).collect();
//! assert!(fields.contains(&"DPL") && fields.contains(&"unusable"));
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use super::{PrivilegeLevel, SegmentType, Selector};

/// The attribute bits of a descriptor as the CPU caches them, decoded.
///
/// Every format on the path stores these same eight fields at its own bit positions
/// (see [`crate::format`]); this type has no positions at all, so it cannot be read
/// at the wrong one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct Attributes {
    /// Type (descriptor bits 43:40); meaning depends on `s`.
    pub segment_type: SegmentType,
    /// S: code/data (true) or system (false) descriptor (bit 44).
    pub s: bool,
    /// DPL (bits 46:45).
    pub dpl: PrivilegeLevel,
    /// P: present (bit 47).
    pub present: bool,
    /// AVL: available to software (bit 52).
    pub avl: bool,
    /// L: 64-bit code segment (bit 53).
    pub l: bool,
    /// D/B: default operand size / big (bit 54).
    pub db: bool,
    /// G: limit granularity is 4 KiB (bit 55).
    pub g: bool,
}

/// Every attribute bit clear: the attributes of a null descriptor (type 0, S = 0,
/// DPL field 0, not present). The DPL here is a bit field of a descriptor, not a claim
/// about any CPL.
impl Default for Attributes {
    fn default() -> Self {
        Attributes::NULL
    }
}

impl Attributes {
    /// A present, flat (G = 1) code or data segment: the presets below differ only in
    /// type, L and D/B.
    const fn flat(segment_type: SegmentType, dpl: PrivilegeLevel, l: bool, db: bool) -> Self {
        Attributes {
            segment_type,
            s: true,
            dpl,
            present: true,
            avl: false,
            l,
            db,
            g: true,
        }
    }

    /// A present system segment of `segment_type` (S = 0, DPL 0, byte granular).
    const fn system(segment_type: SegmentType) -> Self {
        Attributes {
            segment_type,
            present: true,
            ..Attributes::NULL
        }
    }

    /// Every attribute bit clear: what [`Default`] gives.
    const NULL: Attributes = Attributes {
        segment_type: SegmentType::from_low_bits(0),
        s: false,
        dpl: PrivilegeLevel::Ring0,
        present: false,
        avl: false,
        l: false,
        db: false,
        g: false,
    };

    /// S in the attribute word: descriptor bit 44 less 40 (SDM Vol. 3A §3.4.5; the VMX
    /// access-rights layout, Vol. 3C §24.4.1, is the same word).
    pub(crate) const S_SHIFT: u16 = 4;
    /// DPL (two bits) in the attribute word: descriptor bits 46:45.
    pub(crate) const DPL_SHIFT: u16 = 5;
    /// P in the attribute word: descriptor bit 47.
    pub(crate) const P_SHIFT: u16 = 7;
    /// AVL in the attribute word: descriptor bit 52.
    pub(crate) const AVL_SHIFT: u16 = 12;
    /// L in the attribute word: descriptor bit 53.
    pub(crate) const L_SHIFT: u16 = 13;
    /// D/B in the attribute word: descriptor bit 54.
    pub(crate) const DB_SHIFT: u16 = 14;
    /// G in the attribute word: descriptor bit 55.
    pub(crate) const G_SHIFT: u16 = 15;

    /// Decodes the attribute word: a descriptor's bits 55:40 as 16 bits (SDM Vol. 3A
    /// §3.4.5): type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15. Bits 11:8 (the
    /// descriptor's limit 19:16) are ignored. VMX access rights bits 15:0 (SDM Vol. 3C
    /// §24.4.1) and QEMU's `flags` bits 23:8 are this word.
    #[inline]
    #[must_use]
    pub const fn from_word(w: u16) -> Self {
        Attributes {
            segment_type: SegmentType::from_low_bits(w as u8),
            s: w & (1 << Self::S_SHIFT) != 0,
            dpl: PrivilegeLevel::from_low_bits((w >> Self::DPL_SHIFT) as u8),
            present: w & (1 << Self::P_SHIFT) != 0,
            avl: w & (1 << Self::AVL_SHIFT) != 0,
            l: w & (1 << Self::L_SHIFT) != 0,
            db: w & (1 << Self::DB_SHIFT) != 0,
            g: w & (1 << Self::G_SHIFT) != 0,
        }
    }

    /// Packs the attribute word ([`Attributes::from_word`]); bits 11:8 are zero.
    #[inline]
    #[must_use]
    pub const fn to_word(self) -> u16 {
        self.segment_type.bits() as u16
            | (self.s as u16) << Self::S_SHIFT
            | (self.dpl.bits() as u16) << Self::DPL_SHIFT
            | (self.present as u16) << Self::P_SHIFT
            | (self.avl as u16) << Self::AVL_SHIFT
            | (self.l as u16) << Self::L_SHIFT
            | (self.db as u16) << Self::DB_SHIFT
            | (self.g as u16) << Self::G_SHIFT
    }

    /// A 64-bit code segment (type 11, S, P, L) at `dpl`: Linux's `__KERNEL_CS`/`__USER_CS`.
    #[must_use]
    pub const fn code64(dpl: PrivilegeLevel) -> Self {
        Self::flat(SegmentType::CODE_XR_ACCESSED, dpl, true, false)
    }

    /// A flat 32-bit read/write data segment (type 3, S, P, B, G) at `dpl`.
    #[must_use]
    pub const fn flat_data(dpl: PrivilegeLevel) -> Self {
        Self::flat(SegmentType::DATA_RW_ACCESSED, dpl, false, true)
    }

    /// A flat 32-bit code segment (type 11, S, P, D, G) at `dpl`.
    #[must_use]
    pub const fn code32(dpl: PrivilegeLevel) -> Self {
        Self::flat(SegmentType::CODE_XR_ACCESSED, dpl, false, true)
    }

    /// A busy 64-bit TSS (system type 11, P).
    #[must_use]
    pub const fn busy_tss() -> Self {
        Self::system(SegmentType::TSS_BUSY_TYPE)
    }

    /// An LDT descriptor (system type 2, P).
    #[must_use]
    pub const fn ldt() -> Self {
        Self::system(SegmentType::LDT)
    }
}

/// One segment register: the visible selector and the hidden descriptor cache.
///
/// `limit` is byte-granular, as the CPU caches it and as KVM, the VMCS and the VMCB
/// store it: a descriptor with G = 1 and raw limit 0xfffff is cached as 0xffff_ffff.
/// The 20-bit raw limit exists only at the descriptor boundary
/// ([`super::Descriptor`]).
///
/// `unusable` is Intel's "segment unusable" (VMCS access-rights bit 16, KVM's
/// `unusable` byte): the register was loaded with a null selector or is otherwise
/// invalid. It is kept apart from `attributes.present`, because formats disagree on
/// how the two relate: the VMCB, QEMU's cache and Hyper-V have only P.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct Segment {
    /// The visible part.
    pub selector: Selector,
    /// Linear base address.
    pub base: u64,
    /// Byte-granular limit.
    pub limit: u32,
    /// Cached descriptor attributes.
    pub attributes: Attributes,
    /// The register is unusable (Intel) / not present (AMD).
    pub unusable: bool,
}

impl Segment {
    /// A flat segment (base 0, limit 4 GiB - 1) with the given attributes.
    #[must_use]
    pub const fn flat(selector: Selector, attributes: Attributes) -> Self {
        Segment {
            selector,
            base: 0,
            limit: 0xffff_ffff,
            attributes,
            unusable: false,
        }
    }

    /// What a null-selector load leaves in a data or stack segment register: unusable,
    /// not present, the rest of the cache as given.
    #[must_use]
    pub const fn null(selector: Selector, attributes: Attributes) -> Self {
        let mut attributes = attributes;
        attributes.present = false;
        Segment {
            selector,
            base: 0,
            limit: 0,
            attributes,
            unusable: true,
        }
    }

    /// True when the register can be used for memory access: not unusable and present.
    #[must_use]
    pub const fn is_usable(&self) -> bool {
        !self.unusable && self.attributes.present
    }

    /// True when the byte-granular limit has an encoding under this segment's G bit
    /// (see [`limit_matches_granularity`]).
    #[must_use]
    pub const fn limit_matches_granularity(&self) -> bool {
        limit_matches_granularity(self.limit, self.attributes.g)
    }
}

/// True when a byte-granular limit agrees with G, as a descriptor can encode it and as
/// VM entry requires (SDM Vol. 3C §27.3.1.2, "Checks on Guest Segment Registers"): with
/// G = 1 limit bits 11:0 are all ones, with G = 0 bits 31:20 are all zeros. Architectural
/// checks, VM-entry checks and KVM's repair of G all ask this one question.
#[must_use]
pub const fn limit_matches_granularity(limit: u32, g: bool) -> bool {
    if g {
        limit & 0xfff == 0xfff
    } else {
        limit & 0xfff0_0000 == 0
    }
}

/// One field that differs between two segments, as `name before -> after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// The field: `selector`, `base`, `limit`, `type`, `S`, `DPL`, `P`, `AVL`, `L`,
    /// `D/B`, `G` or `unusable`.
    pub field: &'static str,
    /// The value before, formatted.
    pub before: String,
    /// The value after, formatted.
    pub after: String,
}

impl_display!(FieldChange, |c| "{} {} -> {}", c.field, c.before, c.after);

impl Segment {
    /// Every field where `after` differs from `self`, in a fixed order.
    #[must_use]
    pub fn field_changes(&self, after: &Segment) -> Vec<FieldChange> {
        use alloc::format;
        fn bit(v: bool) -> String {
            format!("{}", u8::from(v))
        }
        /// How a field's value is written.
        type Show = fn(&Segment) -> String;
        /// Each field's name and how its value is written.
        const FIELDS: [(&str, Show); 12] = [
            ("selector", |s| format!("{}", s.selector)),
            ("base", |s| format!("{:#x}", s.base)),
            ("limit", |s| format!("{:#x}", s.limit)),
            ("type", |s| format!("{}", s.attributes.segment_type)),
            ("S", |s| bit(s.attributes.s)),
            ("DPL", |s| format!("{}", s.attributes.dpl)),
            ("P", |s| bit(s.attributes.present)),
            ("AVL", |s| bit(s.attributes.avl)),
            ("L", |s| bit(s.attributes.l)),
            ("D/B", |s| bit(s.attributes.db)),
            ("G", |s| bit(s.attributes.g)),
            ("unusable", |s| bit(s.unusable)),
        ];
        FIELDS
            .into_iter()
            .map(|(field, show)| FieldChange {
                field,
                before: show(self),
                after: show(after),
            })
            .filter(|c| c.before != c.after)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_changes_name_each_differing_field_once() {
        let user = Segment::flat(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3));
        assert!(user.field_changes(&user).is_empty());
        let zeroed = Segment::null(Selector(0x2b), Attributes::default());
        let changes: Vec<String> = user
            .field_changes(&zeroed)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            changes,
            [
                "limit 0xffffffff -> 0x0",
                "type 3 -> 0",
                "S 1 -> 0",
                "DPL 3 -> 0",
                "P 1 -> 0",
                "D/B 1 -> 0",
                "G 1 -> 0",
                "unusable 0 -> 1",
            ]
        );
    }
}
