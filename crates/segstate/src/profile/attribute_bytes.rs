//! `kvm_segment`'s eight attribute bytes taken as one word, for the conversions that
//! read a `kvm_segment` from memory (a `kvm_sregs` going into a VMCB or a VMCS).
//!
//! KVM masks each byte (`type & 15`, `dpl & 3`, every other byte `& 1`) and shifts it
//! into the destination's attribute word (`svm_set_segment`, arch/x86/kvm/svm/svm.c;
//! `vmx_segment_access_rights`, arch/x86/kvm/vmx/vmx.c): field by field that is about 30
//! instructions a register, and on the one-step chains from `kvm_sregs` it was what
//! `Chain::run` and `Chain::run_batch` spent their time on (`perf annotate`: samples
//! spread evenly over it). Here the bytes' bit 0s are gathered with one multiply and
//! placed with a 256-entry table; only type bits 3:1 and DPL bit 1 move on their own.
//!
//! Where the `kvm_segment` was just computed (the last step of a longer chain) the
//! field-by-field form folds into the steps before it and is faster: the gather is for
//! values that come from memory only.

use crate::format::kvm::KvmSegment;

/// Bytes 14..22 of a `kvm_segment` (type, present, dpl, db, s, l, g, avl), byte 14
/// lowest.
#[derive(Clone, Copy)]
pub(crate) struct AttributeBytes(u64);

impl AttributeBytes {
    /// The bytes of `k`, raw.
    #[inline(always)]
    pub(crate) fn of(k: &KvmSegment) -> Self {
        Self(u64::from_le_bytes([
            k.type_, k.present, k.dpl, k.db, k.s, k.l, k.g, k.avl,
        ]))
    }

    /// Bit i is bit 0 of byte i: a [`placement`] table's index. The multiply moves
    /// byte i's bit 0 (bit 8i) to bit 56 + i; its 64 partial products land on distinct
    /// bits (8i - 7j differs for every pair i, j < 8), so nothing carries into the top
    /// byte.
    #[inline(always)]
    pub(crate) fn low_bits(self) -> usize {
        ((self.0 & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56) as usize
    }

    /// `type & 0xe`: the type bits the table does not place.
    #[inline(always)]
    pub(crate) fn type_high_bits(self) -> u16 {
        (self.0 & 0xe) as u16
    }

    /// DPL bit 1 (`dpl & 2`, shifted down to bit 0).
    #[inline(always)]
    pub(crate) fn dpl_high_bit(self) -> u16 {
        ((self.0 >> 17) & 1) as u16
    }
}

/// The table for a destination layout: entry i has bit `to[b]` set for each bit b set
/// in i, `to` listing where bit 0 of type, present, dpl, db, s, l, g and avl go.
pub(crate) const fn placement(to: [u16; 8]) -> [u16; 256] {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        let mut b = 0;
        while b < 8 {
            if (i >> b) & 1 != 0 {
                table[i] |= 1 << to[b];
            }
            b += 1;
        }
        i += 1;
    }
    table
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::arch::SegReg;
    use crate::profile::{Rule, RuleSet};

    /// Asserts that a conversion's `loaded` form gives what its field-by-field form
    /// gives, for every [`kvm_attribute_patterns`] value, every subset of its set `rules`
    /// and each of `regs`.
    pub(crate) fn assert_loaded_is_plain<T: PartialEq + core::fmt::Debug>(
        rules: &[Rule],
        regs: &[SegReg],
        loaded: impl Fn(RuleSet, SegReg, &KvmSegment) -> T,
        plain: impl Fn(RuleSet, SegReg, &KvmSegment) -> T,
    ) {
        let subsets = (0..1u32 << rules.len()).map(|mask| {
            rules
                .iter()
                .enumerate()
                .filter(|(i, _)| (mask >> i) & 1 != 0)
                .fold(RuleSet::EMPTY, |set, (_, rule)| set.with(*rule))
        });
        let subsets: Vec<RuleSet> = subsets.collect();
        for k in kvm_attribute_patterns() {
            for (n, &set) in subsets.iter().enumerate() {
                for &reg in regs {
                    assert_eq!(
                        loaded(set, reg, &k),
                        plain(set, reg, &k),
                        "{k}, {reg:?}, subset {n}"
                    );
                }
            }
        }
    }

    /// Every combination of the bits KVM reads, under garbage in the bits it masks off.
    pub(crate) fn kvm_attribute_patterns() -> impl Iterator<Item = KvmSegment> {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        (0..1u32 << 12).flat_map(move |bits| {
            (0..8).map(move |round| {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let noise = if round == 0 { 0 } else { seed };
                let byte = |shift: u32, keep: u8, at: u32| {
                    (((bits >> at) as u8) & keep) | ((noise >> shift) as u8 & !keep)
                };
                KvmSegment {
                    base: noise,
                    limit: (noise >> 7) as u32,
                    selector: (noise >> 13) as u16,
                    type_: byte(0, 0xf, 0),
                    present: byte(8, 1, 4),
                    dpl: byte(16, 3, 5),
                    db: byte(24, 1, 7),
                    s: byte(32, 1, 8),
                    l: byte(40, 1, 9),
                    g: byte(48, 1, 10),
                    avl: byte(56, 1, 11),
                    unusable: [0, 1, (noise >> 3) as u8][round % 3],
                    padding: (noise >> 21) as u8,
                }
            })
        })
    }

    #[test]
    fn low_bits_are_each_bytes_bit_0() {
        for k in kvm_attribute_patterns() {
            let b = AttributeBytes::of(&k);
            let bytes = [k.type_, k.present, k.dpl, k.db, k.s, k.l, k.g, k.avl];
            let expected = bytes
                .iter()
                .enumerate()
                .fold(0, |acc, (i, byte)| acc | usize::from(byte & 1) << i);
            assert_eq!(b.low_bits(), expected, "{k}");
            assert_eq!(b.type_high_bits(), u16::from(k.type_ & 0xe), "{k}");
            assert_eq!(b.dpl_high_bit(), u16::from(k.dpl >> 1 & 1), "{k}");
        }
    }

    #[test]
    fn placement_sets_each_bit_where_told() {
        let table = placement([0, 7, 5, 10, 4, 9, 11, 8]);
        assert_eq!(table[0], 0);
        assert_eq!(table[0b10], 1 << 7);
        assert_eq!(table[0b1000_0000], 1 << 8);
        assert_eq!(table[0xff], 0xfb1);
    }
}
