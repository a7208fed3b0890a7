//! crosvm: the hypervisor-neutral `Segment` (hypervisor/src/x86_64.rs @f1e797a68dad)
//! every crosvm backend converts to and from, and that crosvm snapshots store (CBOR
//! `vcpu{N}` fragments, JSON before 2025-03-11, `Sregs { cs, ds, es, fs, gs, ss, tr,
//! ldt, … }`; its `limit_bytes` was `limit` before 2024-07-26).
//!
//! **It has no `unusable` field**: KVM's `From<&kvm_segment>` drops it, the reverse
//! derives it from `present`. The only way to say "unusable" is P = 0.

use super::kvm::KvmSegment;
use super::{FormatError, require_unusable_is_not_present};
use crate::arch::Segment;

/// `struct Segment`, field for field; every byte kept raw as crosvm keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CrosvmSegment {
    /// `base`.
    pub base: u64,
    /// `limit_bytes`: always in bytes, whatever G says.
    pub limit_bytes: u32,
    /// `selector`.
    pub selector: u16,
    /// `type_`.
    pub type_: u8,
    /// `present`.
    pub present: u8,
    /// `dpl`.
    pub dpl: u8,
    /// `db`.
    pub db: u8,
    /// `s`.
    pub s: u8,
    /// `l`.
    pub l: u8,
    /// `g`.
    pub g: u8,
    /// `avl`.
    pub avl: u8,
}

impl CrosvmSegment {
    /// The same fields as a `kvm_segment` with the given `unusable` byte: crosvm's
    /// field bytes are KVM's, so the strict byte checks live in one place.
    #[must_use]
    #[inline]
    pub const fn to_kvm(self, unusable: u8) -> KvmSegment {
        KvmSegment {
            base: self.base,
            limit: self.limit_bytes,
            selector: self.selector,
            type_: self.type_,
            present: self.present,
            dpl: self.dpl,
            db: self.db,
            s: self.s,
            l: self.l,
            g: self.g,
            avl: self.avl,
            unusable,
            padding: 0,
        }
    }

    /// A `kvm_segment`'s fields; `unusable` and `padding` have no place and go.
    #[must_use]
    #[inline]
    pub const fn from_kvm(k: &KvmSegment) -> Self {
        CrosvmSegment {
            base: k.base,
            limit_bytes: k.limit,
            selector: k.selector,
            type_: k.type_,
            present: k.present,
            dpl: k.dpl,
            db: k.db,
            s: k.s,
            l: k.l,
            g: k.g,
            avl: k.avl,
        }
    }
}

impl TryFrom<CrosvmSegment> for Segment {
    type Error = FormatError;

    /// Strict decode with `kvm_segment`'s byte rules; unusable = !P.
    #[inline]
    fn try_from(c: CrosvmSegment) -> Result<Self, FormatError> {
        Segment::try_from(c.to_kvm(u8::from(c.present == 0))).map_err(|e| FormatError {
            format: "crosvm Segment",
            ..e
        })
    }
}

impl TryFrom<Segment> for CrosvmSegment {
    type Error = FormatError;

    /// Fails where crosvm would lose information: without an unusable field, an
    /// unusable segment must say P = 0 and a usable one P = 1.
    #[inline]
    fn try_from(s: Segment) -> Result<Self, FormatError> {
        require_unusable_is_not_present(
            &s,
            "crosvm Segment",
            "unusable",
            "crosvm's Segment has no unusable field: unusable must equal !present",
        )?;
        Ok(CrosvmSegment::from_kvm(&KvmSegment::from(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::{encodes_and_decodes_back, user_null_ss};

    #[test]
    fn round_trip_and_refusals() {
        let null = user_null_ss();
        let c: CrosvmSegment = encodes_and_decodes_back(null);
        assert_eq!((c.present, c.dpl), (0, 3));
        let mut odd = null;
        odd.attributes.present = true;
        assert_eq!(CrosvmSegment::try_from(odd).unwrap_err().field, "unusable");
        let garbage = CrosvmSegment { dpl: 4, ..c };
        let e = Segment::try_from(garbage).unwrap_err();
        assert_eq!((e.format, e.field), ("crosvm Segment", "dpl"));
    }

    #[test]
    fn kvm_fields_map_one_to_one() {
        let k = KvmSegment {
            base: 1,
            limit: 2,
            selector: 3,
            type_: 4,
            present: 5,
            dpl: 6,
            db: 7,
            s: 8,
            l: 9,
            g: 10,
            avl: 11,
            unusable: 12,
            padding: 13,
        };
        let c = CrosvmSegment::from_kvm(&k);
        let back = c.to_kvm(12);
        assert_eq!(back, KvmSegment { padding: 0, ..k });
    }
}
