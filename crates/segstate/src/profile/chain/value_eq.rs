//! [`SegmentValue`]'s equality and hash, written out: what `#[derive(PartialEq, Hash)]`
//! gives (the same shape and equal fields; the shape's discriminant, then its fields),
//! but with the comparison always inlined. Verify compares outputs for every executed
//! state (fixed points, equal neighbours, second trips, `verify::trips`); the derived
//! comparison stayed a call that loaded both tags and jumped on them, 3.9% of `verify
//! --threads 1`'s samples; inlined, the run took ~2% less CPU (`BENCHMARKS.md` §2,
//! step 25). The other stacks' shapes compare through
//! [`StackValue`]'s derived comparison.

use core::hash::{Hash, Hasher};

use super::SegmentValue;
#[cfg(doc)]
use super::StackValue;

impl PartialEq for SegmentValue {
    #[inline(always)]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SegmentValue::Vmcb(a), SegmentValue::Vmcb(b)) => a == b,
            (SegmentValue::Vmcs(a), SegmentValue::Vmcs(b)) => a == b,
            (SegmentValue::Kvm(a), SegmentValue::Kvm(b)) => a == b,
            (SegmentValue::Qemu(a), SegmentValue::Qemu(b)) => a == b,
            (SegmentValue::Stack(a), SegmentValue::Stack(b)) => a == b,
            _ => false,
        }
    }
}

impl Hash for SegmentValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        core::mem::discriminant(self).hash(state);
        match self {
            SegmentValue::Vmcb(v) => v.hash(state),
            SegmentValue::Vmcs(v) => v.hash(state),
            SegmentValue::Kvm(v) => v.hash(state),
            SegmentValue::Qemu(v) => v.hash(state),
            SegmentValue::Stack(v) => v.hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use core::hash::{Hash, Hasher};

    use super::SegmentValue;
    use crate::format::hyperv::HvSegmentRegister;
    use crate::format::kvm::KvmSegment;
    use crate::format::qemu::QemuSegmentCache;
    use crate::format::svm::VmcbSegment;
    use crate::format::vmx::VmxSegment;
    use crate::profile::StackValue;

    /// A hash of `v` through `Hash`.
    fn hashed(v: &SegmentValue) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    /// Each shape, zeroed and with one field changed.
    fn values() -> Vec<SegmentValue> {
        let kvm = KvmSegment::default();
        let hv = HvSegmentRegister::default();
        vec![
            SegmentValue::Vmcb(VmcbSegment::default()),
            SegmentValue::Vmcb(VmcbSegment {
                limit: 1,
                ..VmcbSegment::default()
            }),
            SegmentValue::Vmcs(VmxSegment::default()),
            SegmentValue::Vmcs(VmxSegment {
                base: 1,
                ..VmxSegment::default()
            }),
            SegmentValue::Kvm(kvm),
            SegmentValue::Kvm(KvmSegment { avl: 1, ..kvm }),
            SegmentValue::Qemu(QemuSegmentCache::default()),
            SegmentValue::Qemu(QemuSegmentCache {
                selector: 8,
                ..QemuSegmentCache::default()
            }),
            SegmentValue::Stack(StackValue::Hv(hv)),
            SegmentValue::Stack(StackValue::Hv(HvSegmentRegister { limit: 1, ..hv })),
        ]
    }

    /// The written-out comparison is the derived one: a value equals its copy and
    /// nothing else of the list (other shapes, each zeroed, and the same shape with one
    /// field changed), and equal values hash alike.
    #[test]
    fn segment_values_compare_by_shape_and_fields() {
        let all = values();
        for (i, a) in all.iter().enumerate() {
            let copy = *a;
            assert_eq!(*a, copy);
            assert_eq!(hashed(a), hashed(&copy));
            for (j, b) in all.iter().enumerate() {
                assert_eq!(a == b, i == j, "{a:?} against {b:?}");
            }
        }
    }

    /// Every byte of the shapes read from their C bytes is compared, padding and
    /// garbage bytes included (`kvm_segment`'s `padding`, a `type` over 15): a value
    /// with one byte set differs from the zeroed one, and equals and hashes as its copy.
    /// Fails if a shape is given no byte.
    #[test]
    fn segment_values_compare_every_byte() {
        /// The values of one byte set, at each offset of a `size`-byte record.
        fn each_byte<T>(size: usize, read: impl Fn(&[u8]) -> T) -> Vec<T> {
            (0..size)
                .map(|at| {
                    let mut bytes = alloc::vec![0u8; size];
                    bytes[at] = 0x81;
                    read(&bytes)
                })
                .collect()
        }
        let shapes: [Vec<SegmentValue>; 3] = [
            each_byte(VmcbSegment::SIZE, |b| {
                SegmentValue::Vmcb(VmcbSegment::from_bytes(b).expect("a vmcb_seg's size"))
            }),
            each_byte(KvmSegment::SIZE, |b| {
                SegmentValue::Kvm(KvmSegment::from_bytes(b).expect("a kvm_segment's size"))
            }),
            each_byte(HvSegmentRegister::SIZE, |b| {
                let hv = HvSegmentRegister::from_bytes(b).expect("a segment register's size");
                SegmentValue::Stack(StackValue::Hv(hv))
            }),
        ];
        for values in shapes {
            let zeroed = values.first().map(|v| match v {
                SegmentValue::Vmcb(_) => SegmentValue::Vmcb(VmcbSegment::default()),
                SegmentValue::Kvm(_) => SegmentValue::Kvm(KvmSegment::default()),
                _ => SegmentValue::Stack(StackValue::Hv(HvSegmentRegister::default())),
            });
            let zeroed = zeroed.expect("a byte per shape");
            for v in &values {
                let copy = *v;
                assert_ne!(*v, zeroed);
                assert_eq!(*v, copy);
                assert_eq!(hashed(v), hashed(&copy));
            }
        }
    }
}
