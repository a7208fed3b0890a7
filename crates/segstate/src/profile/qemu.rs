//! QEMU's cooking: `get_seg` and `set_seg` (target/i386/kvm/kvm.c), and the two
//! designs the 2017 thread debated.

use super::{Rule, RuleSet};
use crate::arch::SegReg;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::{QemuFlags, QemuSegmentCache};

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
    let f = q.flags.0;
    let present = u8::from(f & QemuFlags::P_MASK != 0);
    KvmSegment {
        base: q.base,
        limit: q.limit,
        selector: q.selector as u16,
        type_: ((f >> QemuFlags::TYPE_SHIFT) & 15) as u8,
        present,
        dpl: ((f >> QemuFlags::DPL_SHIFT) & 3) as u8,
        db: ((f >> 22) & 1) as u8,
        s: u8::from(f & QemuFlags::S_MASK != 0),
        l: ((f >> 21) & 1) as u8,
        g: u8::from(f & QemuFlags::G_MASK != 0),
        avl: u8::from(f & QemuFlags::AVL_MASK != 0),
        unusable: if rules.has(Rule::QemuSetUnusableFromNotPresent) {
            u8::from(present == 0)
        } else {
            0
        },
        padding: 0,
    }
}
