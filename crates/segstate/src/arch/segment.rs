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
use core::fmt;

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
        Attributes {
            segment_type: SegmentType::default(),
            s: false,
            dpl: PrivilegeLevel::Ring0,
            present: false,
            avl: false,
            l: false,
            db: false,
            g: false,
        }
    }
}

impl Attributes {
    /// A 64-bit code segment (type 11, S, P, L) at `dpl`: Linux's `__KERNEL_CS`/`__USER_CS`.
    #[must_use]
    pub const fn code64(dpl: PrivilegeLevel) -> Self {
        Attributes {
            segment_type: SegmentType::CODE_XR_ACCESSED,
            s: true,
            dpl,
            present: true,
            avl: false,
            l: true,
            db: false,
            g: true,
        }
    }

    /// A flat 32-bit read/write data segment (type 3, S, P, B, G) at `dpl`.
    #[must_use]
    pub const fn flat_data(dpl: PrivilegeLevel) -> Self {
        Attributes {
            segment_type: SegmentType::DATA_RW_ACCESSED,
            s: true,
            dpl,
            present: true,
            avl: false,
            l: false,
            db: true,
            g: true,
        }
    }

    /// A flat 32-bit code segment (type 11, S, P, D, G) at `dpl`.
    #[must_use]
    pub const fn code32(dpl: PrivilegeLevel) -> Self {
        Attributes {
            segment_type: SegmentType::CODE_XR_ACCESSED,
            s: true,
            dpl,
            present: true,
            avl: false,
            l: false,
            db: true,
            g: true,
        }
    }

    /// A busy 64-bit TSS (system type 11, P).
    #[must_use]
    pub const fn busy_tss() -> Self {
        Attributes {
            segment_type: SegmentType::TSS_BUSY_TYPE,
            s: false,
            dpl: PrivilegeLevel::Ring0,
            present: true,
            avl: false,
            l: false,
            db: false,
            g: false,
        }
    }

    /// An LDT descriptor (system type 2, P).
    #[must_use]
    pub const fn ldt() -> Self {
        Attributes {
            segment_type: SegmentType::LDT,
            s: false,
            dpl: PrivilegeLevel::Ring0,
            present: true,
            avl: false,
            l: false,
            db: false,
            g: false,
        }
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

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.field, self.before, self.after)
    }
}

impl Segment {
    /// Every field where `after` differs from `self`, in a fixed order.
    #[must_use]
    pub fn field_changes(&self, after: &Segment) -> Vec<FieldChange> {
        use alloc::format;
        let (a, b) = (self.attributes, after.attributes);
        let bit = |v: bool| format!("{}", u8::from(v));
        let pairs: [(&'static str, String, String); 12] = [
            (
                "selector",
                format!("{}", self.selector),
                format!("{}", after.selector),
            ),
            (
                "base",
                format!("{:#x}", self.base),
                format!("{:#x}", after.base),
            ),
            (
                "limit",
                format!("{:#x}", self.limit),
                format!("{:#x}", after.limit),
            ),
            (
                "type",
                format!("{}", a.segment_type),
                format!("{}", b.segment_type),
            ),
            ("S", bit(a.s), bit(b.s)),
            ("DPL", format!("{}", a.dpl), format!("{}", b.dpl)),
            ("P", bit(a.present), bit(b.present)),
            ("AVL", bit(a.avl), bit(b.avl)),
            ("L", bit(a.l), bit(b.l)),
            ("D/B", bit(a.db), bit(b.db)),
            ("G", bit(a.g), bit(b.g)),
            ("unusable", bit(self.unusable), bit(after.unusable)),
        ];
        pairs
            .into_iter()
            .filter(|(_, x, y)| x != y)
            .map(|(field, before, after)| FieldChange {
                field,
                before,
                after,
            })
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
