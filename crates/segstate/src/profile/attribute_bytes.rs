//! `kvm_segment`'s eight attribute bytes taken as one word, for the conversions that
//! read a `kvm_segment` from memory (a `kvm_sregs` going into a VMCB or a VMCS).
//!
//! KVM masks each byte (`type & 15`, `dpl & 3`, every other byte `& 1`: bit 0 only,
//! not C truthiness; a `present` of 2 packs P = 0) and shifts it into the
//! destination's attribute word (`svm_set_segment`, arch/x86/kvm/svm/svm.c;
//! `vmx_segment_access_rights`, arch/x86/kvm/vmx/vmx.c; the masks are the same in every
//! version of both, what changed is P and unusable, see the `Rule`s). Field by field that is about 30
//! instructions a register, and on the one-step chains from `kvm_sregs` it was what
//! `Chain::run` and `Chain::run_batch` spent their time on (`perf annotate`: samples
//! spread evenly over it). Here the bytes' bit 0s are gathered with one multiply and
//! placed with a 256-entry table ([`AttributePlacement`]); only type bits 3:1 and DPL
//! bit 1 move on their own.
//!
//! The word is built from the field values with `u64::from_le_bytes`, not by
//! reinterpreting memory, so the result does not depend on the target's byte order
//! (and no `unsafe` is involved). That it compiles to one 8-byte load relies on
//! `KvmSegment` being `repr(C)` with the eight bytes at offsets 14..22 and on a
//! little-endian target; elsewhere it is a few more instructions, still exact.
//!
//! Where the `kvm_segment` was just computed (the last step of a longer chain) the
//! field-by-field form folds into the steps before it and is faster: the gather is for
//! values that come from memory only.

use crate::format::kvm::KvmSegment;

/// Bytes 14..22 of a `kvm_segment` (type, present, dpl, db, s, l, g, avl), byte 14
/// lowest. Also how `run_segment`'s entry hands a `kvm_segment`'s attributes back
/// (`specialised::Written`).
#[derive(Clone, Copy)]
pub(super) struct AttributeBytes(pub(super) u64);

impl AttributeBytes {
    /// The bytes of `k`, raw.
    #[inline(always)]
    pub(super) fn of(k: &KvmSegment) -> Self {
        Self(u64::from_le_bytes([
            k.type_, k.present, k.dpl, k.db, k.s, k.l, k.g, k.avl,
        ]))
    }

    /// The same bytes read as two loads, one within each 8-byte half of `k` they lie in:
    /// type and present (bytes 14..16) and the word of bytes 16..24 (dpl to padding),
    /// shifted up so that unusable and padding fall off. For a `kvm_segment` its caller
    /// has just copied, as `Chain::run_segment`'s by-value input is: the compiler
    /// copies it with 16-byte stores, and [`AttributeBytes::of`]'s one word at byte 14
    /// straddles the 8-byte halves of such a store, which the CPU does not forward to
    /// it (the load waits for the store to reach the cache: `BENCHMARKS.md` §1, step
    /// 38's tried notes); each load here lies within one half.
    #[inline(always)]
    pub(super) fn of_halves(k: &KvmSegment) -> Self {
        #[cfg(all(test, feature = "std"))]
        HALVES_RUNS.with(|n| n.set(n.get() + 1));
        let low = u16::from_le_bytes([k.type_, k.present]);
        let high = u64::from_le_bytes([k.dpl, k.db, k.s, k.l, k.g, k.avl, k.unusable, k.padding]);
        Self(u64::from(low) | high << 16)
    }

    /// [`AttributeBytes::of_halves`] when `HALVES`, else [`AttributeBytes::of`].
    #[inline(always)]
    pub(super) fn gathered<const HALVES: bool>(k: &KvmSegment) -> Self {
        if HALVES {
            Self::of_halves(k)
        } else {
            Self::of(k)
        }
    }

    /// These bytes written into `k`, its other fields untouched.
    #[inline(always)]
    pub(super) fn write_into(self, k: &mut KvmSegment) {
        [k.type_, k.present, k.dpl, k.db, k.s, k.l, k.g, k.avl] = self.0.to_le_bytes();
    }

    /// Bit i is bit 0 of byte i: an [`AttributePlacement`] table's index. The multiply
    /// by `Σ 2^(7j+7)` (j < 8) moves byte i's bit 0 (bit 8i) to bit 8i + 7j + 7; these
    /// 64 exponents are distinct (8i + 7j = 8i' + 7j' forces i = i', j = j'), so no
    /// partial product carries, and the ones in bits 63:56 are exactly those with
    /// i + j = 7, at bit 56 + i.
    #[inline(always)]
    fn low_bits(self) -> usize {
        ((self.0 & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56) as usize
    }

    /// `type & 0xe`: the type bits the table does not place, already at bits 3:1.
    #[inline(always)]
    fn type_high_bits(self) -> u16 {
        (self.0 & 0xe) as u16
    }

    /// DPL bit 1 (`dpl & 2`, shifted down to bit 0).
    #[inline(always)]
    fn dpl_high_bit(self) -> u16 {
        ((self.0 >> 17) & 1) as u16
    }
}

/// Where a destination layout puts each attribute: the bit of every one-bit field and
/// DPL's bit 0 (DPL bit 1 goes one above). Type bits 3:0 are bits 3:0 in every layout
/// KVM packs (VMCB attrib, APM Vol. 2 §15.5.1; VMX access rights, SDM Vol. 3C
/// §24.4.1), so they are no field here.
#[derive(Clone, Copy)]
pub(super) struct AttributePositions {
    pub(super) present: u16,
    pub(super) dpl: u16,
    pub(super) db: u16,
    pub(super) s: u16,
    pub(super) l: u16,
    pub(super) g: u16,
    pub(super) avl: u16,
}

impl AttributePositions {
    /// `k`'s attribute bytes masked as KVM masks them and shifted into this layout one
    /// by one, type bits 3:0 at 3:0: KVM's own `(type & 15) | (s & 1) << S | …`, and the
    /// reference [`AttributePlacement::pack`] is held to.
    #[inline(always)]
    pub(super) fn pack_fields(self, k: &KvmSegment) -> u16 {
        u16::from(k.type_ & 0xf)
            | u16::from(k.s & 1) << self.s
            | u16::from(k.dpl & 3) << self.dpl
            | u16::from(k.present & 1) << self.present
            | u16::from(k.avl & 1) << self.avl
            | u16::from(k.l & 1) << self.l
            | u16::from(k.db & 1) << self.db
            | u16::from(k.g & 1) << self.g
    }
}

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// How many times [`AttributeBytes::of_halves`] ran on this thread: the pipelines'
    /// tests hold that `run_segment`'s inlined arms take it (`specialised::tests`).
    pub(crate) static HALVES_RUNS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// A destination layout's packing of the masked attribute bytes: the 256-entry table
/// over the bytes' bit 0s (type, present, dpl, db, s, l, g, avl, in byte order) and
/// where DPL bit 1 goes. Built once per layout, at compile time.
pub(super) struct AttributePlacement {
    low_bits: [u16; 256],
    dpl_high: u16,
}

impl AttributePlacement {
    /// The placement for `to`. Refuses (at compile time, where it builds a `static`)
    /// positions that overlap each other or the type bits, or fall outside 16 bits.
    pub(super) const fn new(to: AttributePositions) -> Self {
        let byte_to = [0, to.present, to.dpl, to.db, to.s, to.l, to.g, to.avl];
        let dpl_high = to.dpl + 1;
        let mut taken: u32 = 0xf;
        let mut b = 1;
        while b < 8 {
            assert!(byte_to[b] < 16 && taken & 1 << byte_to[b] == 0);
            taken |= 1 << byte_to[b];
            b += 1;
        }
        assert!(dpl_high < 16 && taken & 1 << dpl_high == 0);
        let mut low_bits = [0; 256];
        let mut i = 0;
        while i < 256 {
            let mut b = 0;
            while b < 8 {
                if (i >> b) & 1 != 0 {
                    low_bits[i] |= 1 << byte_to[b];
                }
                b += 1;
            }
            i += 1;
        }
        Self { low_bits, dpl_high }
    }

    /// `k`'s attribute bytes masked as KVM masks them and packed into this layout:
    /// what the field-by-field `(type & 15) | (s & 1) << S | (dpl & 3) << DPL | …`
    /// gives, P included. The bytes are read as [`AttributeBytes::gathered`] says.
    #[inline(always)]
    pub(super) fn pack<const HALVES: bool>(&self, k: &KvmSegment) -> u16 {
        let bytes = AttributeBytes::gathered::<HALVES>(k);
        self.low_bits[bytes.low_bits()]
            | bytes.type_high_bits()
            | bytes.dpl_high_bit() << self.dpl_high
    }
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

    /// Every combination of the bits KVM reads, each under no garbage, under every
    /// masked-off bit set, and under six draws of random garbage in the masked-off bits
    /// and in the fields the packing does not read.
    pub(crate) fn kvm_attribute_patterns() -> impl Iterator<Item = KvmSegment> {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        (0..1u32 << 12).flat_map(move |bits| {
            (0..8).map(move |round| {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let noise = match round {
                    0 => 0,
                    1 => u64::MAX,
                    _ => seed,
                };
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
                    unusable: [0, 1, (noise >> 3) as u8][(bits as usize + round) % 3],
                    padding: (noise >> 21) as u8,
                }
            })
        })
    }

    /// What KVM's masks read of `k`, as the eight bytes' bit 0s plus type bits 3:1 and
    /// DPL bit 1: the reference the gather is held to.
    fn masked_bits(k: &KvmSegment) -> (usize, u16, u16) {
        let bytes = [k.type_, k.present, k.dpl, k.db, k.s, k.l, k.g, k.avl];
        let low = bytes
            .iter()
            .enumerate()
            .fold(0, |acc, (i, byte)| acc | usize::from(byte & 1) << i);
        (low, u16::from(k.type_ & 0xe), u16::from(k.dpl >> 1 & 1))
    }

    fn gathered(k: &KvmSegment) -> (usize, u16, u16) {
        let b = AttributeBytes::of(k);
        (b.low_bits(), b.type_high_bits(), b.dpl_high_bit())
    }

    #[test]
    fn gather_reads_the_masked_bits_under_garbage() {
        for k in kvm_attribute_patterns() {
            assert_eq!(gathered(&k), masked_bits(&k), "{k}");
        }
    }

    /// The bytes read in two halves are the bytes read as one word, whatever the other
    /// fields hold (unusable and padding, read with the second half, among them).
    #[test]
    fn halves_are_the_word_under_garbage() {
        for k in kvm_attribute_patterns() {
            assert_eq!(
                AttributeBytes::of_halves(&k).0,
                AttributeBytes::of(&k).0,
                "{k}"
            );
            assert_eq!(
                AttributeBytes::gathered::<true>(&k).0,
                AttributeBytes::of(&k).0
            );
        }
    }

    /// Each byte through all 256 values, the other seven at 0x00, 0xff and 0xfe (bit
    /// 0 clear, garbage above): no value of one byte leaks into another's bit.
    #[test]
    fn gather_reads_each_byte_exactly_over_all_its_values() {
        for fill in [0x00, 0xff, 0xfe] {
            for at in 0..8 {
                for value in 0..=255u8 {
                    let mut bytes = [fill; 8];
                    bytes[at] = value;
                    let [type_, present, dpl, db, s, l, g, avl] = bytes;
                    let k = KvmSegment {
                        type_,
                        present,
                        dpl,
                        db,
                        s,
                        l,
                        g,
                        avl,
                        ..KvmSegment::default()
                    };
                    assert_eq!(gathered(&k), masked_bits(&k), "{k}");
                }
            }
        }
    }

    /// The VMCB attrib's positions, written out: no field sits at its byte index, so
    /// a table that swapped two bytes or dropped one fails the test below.
    const SPREAD: AttributePositions = AttributePositions {
        present: 7,
        dpl: 5,
        db: 10,
        s: 4,
        l: 9,
        g: 11,
        avl: 8,
    };

    #[test]
    fn placement_sets_each_bit_where_told() {
        let placement = AttributePlacement::new(SPREAD);
        let each = [0, 7, 5, 10, 4, 9, 11, 8];
        for i in 0..256 {
            let expected = (0..8)
                .filter(|b| (i >> b) & 1 != 0)
                .fold(0, |acc, b| acc | 1 << each[b]);
            assert_eq!(placement.low_bits[i], expected, "entry {i:#04x}");
        }
        assert_eq!(placement.dpl_high, 6);
    }
}
