//! QEMU's cooking: `get_seg` and `set_seg` (target/i386/kvm/kvm.c), and the two
//! designs the 2017 thread debated.

use super::{Rule, RuleSet};
use crate::arch::SegReg;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::{QemuFlags, QemuSegmentCache};

/// True when [`get_seg`] under `rules` reads `previous`: one of the 2017 thread's two
/// designs decides an unusable segment's flags, and zeroing them (QEMU 2.9's rule,
/// checked first) does not. A live sync refreshes its cache only for chains that read it
/// ([`super::Chain::reads_previous`]).
#[must_use]
pub const fn get_seg_reads_previous(rules: RuleSet) -> bool {
    !rules.has(Rule::QemuGetZeroUnusableFlags)
        && (rules.has(Rule::QemuGetKeepOldFlags) || rules.has(Rule::QemuGetSegtype))
}

/// `kvm_segment` → `SegmentCache`, as kvm_get_sregs does.
///
/// Like upstream, fields are shifted or multiplied into place **without masking**, so
/// garbage spills: `dpl = 4` sets P, `s = 2` sets DPL bit 0, `db = 2` sets G.
/// `previous` is the cache before the call; only the thread's two designs read it.
#[must_use]
#[inline]
pub fn get_seg(
    rules: RuleSet,
    reg: SegReg,
    k: &KvmSegment,
    previous: &QemuSegmentCache,
) -> QemuSegmentCache {
    let unusable = k.unusable != 0;
    let present_term = if rules.has(Rule::QemuGetPFromUnusable) {
        u32::from(k.present != 0 && !unusable) * QemuFlags::P_MASK
    } else {
        u32::from(k.present) * QemuFlags::P_MASK
    };
    let packed = (u32::from(k.type_) << QemuFlags::TYPE_SHIFT)
        | present_term
        | (u32::from(k.dpl) << QemuFlags::DPL_SHIFT)
        | (u32::from(k.db) << 22)
        | (u32::from(k.s) * QemuFlags::S_MASK)
        | (u32::from(k.l) << 21)
        | (u32::from(k.g) * QemuFlags::G_MASK)
        | (u32::from(k.avl) * QemuFlags::AVL_MASK);
    let flags = if !unusable {
        packed
    } else if rules.has(Rule::QemuGetZeroUnusableFlags) {
        0
    } else if rules.has(Rule::QemuGetKeepOldFlags) {
        previous.flags.0 & !QemuFlags::P_MASK
    } else if rules.has(Rule::QemuGetSegtype) {
        let mut f = previous.flags.0 & !(QemuFlags::P_MASK | QemuFlags::DPL_MASK);
        if reg == SegReg::Ss {
            f |= u32::from(k.dpl) << QemuFlags::DPL_SHIFT;
        }
        f
    } else {
        packed
    };
    QemuSegmentCache {
        selector: k.selector.into(),
        base: k.base,
        limit: k.limit,
        flags: QemuFlags(flags),
    }
}

/// `SegmentCache` → `kvm_segment`, as kvm_put_sregs does. Every field is masked or
/// normalised, so QEMU never sends garbage; flag bits outside the attributes are
/// ignored. The selector is truncated to 16 bits as the C assignment does.
#[must_use]
#[inline]
pub fn set_seg(rules: RuleSet, q: &QemuSegmentCache) -> KvmSegment {
    let [type_, present, dpl, db, s, l, g, avl] = set_seg_attribute_bytes(q.flags.0);
    let unusable = if rules.has(Rule::QemuSetUnusableFromNotPresent) {
        unusable_from_not_present(present)
    } else {
        0
    };
    set_seg_around(q, [type_, present], [dpl, db, s, l, g, avl, unusable, 0])
}

/// The `kvm_segment` set_seg writes for `q`: its base, limit and selector (truncated to
/// 16 bits), type and present (`low`), and bytes 16..24 (`high`: dpl, db, s, l, g, avl,
/// unusable, padding).
#[inline(always)]
fn set_seg_around(q: &QemuSegmentCache, low: [u8; 2], high: [u8; 8]) -> KvmSegment {
    let ([type_, present], [dpl, db, s, l, g, avl, unusable, padding]) = (low, high);
    KvmSegment {
        base: q.base,
        limit: q.limit,
        selector: q.selector as u16,
        type_,
        present,
        dpl,
        db,
        s,
        l,
        g,
        avl,
        unusable,
        padding,
    }
}

/// The attribute bytes set_seg writes for `flags`, in `kvm_segment` order (type,
/// present, dpl, db, s, l, g, avl): `(flags >> shift) & mask`, or `!= 0` of one bit.
#[inline(always)]
const fn set_seg_attribute_bytes(f: u32) -> [u8; 8] {
    [
        ((f >> QemuFlags::TYPE_SHIFT) & 15) as u8,
        (f & QemuFlags::P_MASK != 0) as u8,
        ((f >> QemuFlags::DPL_SHIFT) & 3) as u8,
        ((f >> 22) & 1) as u8,
        (f & QemuFlags::S_MASK != 0) as u8,
        ((f >> 21) & 1) as u8,
        (f & QemuFlags::G_MASK != 0) as u8,
        (f & QemuFlags::AVL_MASK != 0) as u8,
    ]
}

/// [`Rule::QemuSetUnusableFromNotPresent`]'s effect (`!present`, kvm_put_sregs' `set_seg`).
#[inline(always)]
const fn unusable_from_not_present(present: u8) -> u8 {
    (present == 0) as u8
}

/// [`set_seg`] for a `kvm_segment` that goes to memory (the last step of a chain, written
/// into a batch or a vCPU): the same result, its bytes 16..24 (dpl, db, s, l, g, avl,
/// unusable, padding) one entry of [`SET_SEG_HIGH_BYTES`], so one 8-byte store where the
/// field form computes and stores each byte (two instructions and a store a byte:
/// `perf annotate` of `Chain::run_batch` on `kvm_sregs` through QEMU, where QEMU's two
/// steps are the whole chain). Where the `kvm_segment` goes on to another step, that
/// step reads the fields and [`set_seg`] folds into it.
#[must_use]
#[inline(always)]
pub(super) fn set_seg_stored(rules: RuleSet, q: &QemuSegmentCache) -> KvmSegment {
    #[cfg(all(test, feature = "std"))]
    STORED_RUNS.with(|n| n.set(n.get() + 1));
    let f = q.flags.0;
    let [type_, present, ..] = set_seg_attribute_bytes(f);
    let mut high = SET_SEG_HIGH_BYTES[high_bytes_index(f)];
    if !rules.has(Rule::QemuSetUnusableFromNotPresent) {
        high &= !(0xff << UNUSABLE_LANE);
    }
    set_seg_around(q, [type_, present], high.to_le_bytes())
}

/// Where the unusable byte sits in a [`SET_SEG_HIGH_BYTES`] entry (byte 22 of the
/// `kvm_segment`, the entry's byte 6).
const UNUSABLE_LANE: u32 = 6 * 8;

/// The flag bits the bytes 16..24 of set_seg's `kvm_segment` read (S 12, DPL 14:13,
/// P 15; AVL 20, L 21, B 22, G 23), as an index of [`SET_SEG_HIGH_BYTES`]: bits 15:12 to
/// 3:0, bits 23:20 to 7:4.
#[inline(always)]
const fn high_bytes_index(f: u32) -> usize {
    (((f >> 12) & 0xf) | ((f >> 16) & 0xf0)) as usize
}

/// For each [`high_bytes_index`], bytes 16..24 of set_seg's `kvm_segment` (dpl, db, s,
/// l, g, avl, unusable under [`Rule::QemuSetUnusableFromNotPresent`], padding 0), byte 16
/// lowest: made from [`set_seg_attribute_bytes`] at compile time.
static SET_SEG_HIGH_BYTES: [u64; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        let f = ((i as u32 & 0xf) << 12) | ((i as u32 >> 4) << 20);
        assert!(high_bytes_index(f) == i);
        let [_, present, dpl, db, s, l, g, avl] = set_seg_attribute_bytes(f);
        let unusable = unusable_from_not_present(present);
        table[i] = u64::from_le_bytes([dpl, db, s, l, g, avl, unusable, 0]);
        i += 1;
    }
    table
};

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// How many times [`set_seg_stored`] ran on this thread: the pipelines' tests hold
    /// that their stored form is taken (`specialised::tests`).
    pub(crate) static STORED_RUNS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    /// The stored form is set_seg for every value of the flag bits 23:0 (each bit set_seg
    /// reads, and the residue below them), under three patterns of bits 31:24, with the
    /// rule on and off: a table entry misplaced, or a lane swapped, fails here.
    #[test]
    fn set_seg_stored_is_set_seg_for_every_flags_word() {
        let on = Profile::QEMU.rules;
        assert!(on.has(Rule::QemuSetUnusableFromNotPresent));
        let off = on.without(Rule::QemuSetUnusableFromNotPresent);
        for top in [0u32, 0xff00_0000, 0x5a00_0000] {
            for low in 0..1u32 << 24 {
                let q = QemuSegmentCache {
                    selector: 0x1_0023 ^ low,
                    base: u64::from(low) << 20,
                    limit: !low,
                    flags: QemuFlags(top | low),
                };
                for rules in [on, off] {
                    assert_eq!(set_seg_stored(rules, &q), set_seg(rules, &q), "{q:?}");
                }
            }
        }
    }
}
