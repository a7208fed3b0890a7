//! What each op does to one value: the interpreter a chain falls back on (and the
//! reference the compiled forms are tested against).

use super::chain::{InFlight, Op, SegmentValue};
use super::stack;
use super::{RuleSet, qemu, qemu_modes, svm, vmx};
use crate::arch::SegReg;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;

/// [`apply`] over a batch, with the match on the op hoisted out of the loop.
pub(super) fn apply_batch(
    op: Op,
    reg: SegReg,
    values: &mut [InFlight],
    previous: &QemuSegmentCache,
) {
    macro_rules! each {
        ($pat:pat => $body:expr) => {
            for v in values.iter_mut() {
                match v.value {
                    $pat => $body(v),
                    _ => unreachable!(
                        "Chain::new orders ops so each one receives its own input shape"
                    ),
                }
            }
        };
    }
    match op {
        Op::SvmGet(r) => each!(SegmentValue::Vmcb(s) => |v: &mut InFlight| {
            v.value = SegmentValue::Kvm(svm::get_segment(r, reg, &s, v.vmcb_cpl));
        }),
        Op::SvmSet(r) => each!(SegmentValue::Kvm(k) => |v: &mut InFlight| {
            let (s, written) = svm::set_segment(r, reg, &k);
            v.value = SegmentValue::Vmcb(s);
            v.vmcb_cpl = written.unwrap_or(0);
        }),
        Op::VmxGet(r) => each!(SegmentValue::Vmcs(s) => |v: &mut InFlight| {
            v.value = SegmentValue::Kvm(vmx::get_segment(r, &s));
        }),
        Op::VmxSet(r) => each!(SegmentValue::Kvm(k) => |v: &mut InFlight| {
            v.value = SegmentValue::Vmcs(vmx::set_segment(r, reg, &k));
        }),
        Op::QemuGet(r) => each!(SegmentValue::Kvm(k) => |v: &mut InFlight| {
            v.value = SegmentValue::Qemu(qemu::get_seg(r, reg, &k, previous));
        }),
        Op::QemuSet(r) => each!(SegmentValue::Qemu(q) => |v: &mut InFlight| {
            v.value = SegmentValue::Kvm(put_seg(r, reg, &q));
        }),
        // Whole-state hooks: nothing to do one register at a time (module doc of
        // qemu_modes).
        Op::QemuMigrate(..) => {}
        Op::Stack(op) => stack::apply_batch(op, reg, values),
    }
}

/// One conversion on one value. The same dispatch as [`apply_batch`], written apart on
/// purpose: calling the batch version on a batch of one made `run_segment` 4x slower
/// (ratios binary, 18 -> 72 ns for kvm-svm > qemu > kvm-svm).
#[inline]
pub(super) fn apply(op: Op, reg: SegReg, at: InFlight, previous: &QemuSegmentCache) -> InFlight {
    let cpl = at.vmcb_cpl;
    let value = match (op, at.value) {
        (Op::SvmGet(r), SegmentValue::Vmcb(v)) => {
            SegmentValue::Kvm(svm::get_segment(r, reg, &v, cpl))
        }
        (Op::SvmSet(r), SegmentValue::Kvm(k)) => {
            let (v, written) = svm::set_segment(r, reg, &k);
            // A VMCB this chain writes into is fresh: an unwritten CPL byte reads 0.
            return InFlight {
                value: SegmentValue::Vmcb(v),
                vmcb_cpl: written.unwrap_or(0),
            };
        }
        (Op::VmxGet(r), SegmentValue::Vmcs(v)) => SegmentValue::Kvm(vmx::get_segment(r, &v)),
        (Op::VmxSet(r), SegmentValue::Kvm(k)) => SegmentValue::Vmcs(vmx::set_segment(r, reg, &k)),
        (Op::QemuGet(r), SegmentValue::Kvm(k)) => {
            SegmentValue::Qemu(qemu::get_seg(r, reg, &k, previous))
        }
        (Op::QemuSet(r), SegmentValue::Qemu(q)) => SegmentValue::Kvm(put_seg(r, reg, &q)),
        (Op::QemuMigrate(..), value @ SegmentValue::Qemu(_)) => value,
        (Op::Stack(op), _) => return stack::apply(op, reg, at),
        _ => unreachable!("Chain::new orders ops so each one receives its own input shape"),
    };
    InFlight {
        value,
        vmcb_cpl: cpl,
    }
}

/// kvm_put_sregs for one register: `set_v8086_seg` where its rule applies, else
/// `set_seg`.
#[inline]
pub(super) fn put_seg(rules: RuleSet, reg: SegReg, q: &QemuSegmentCache) -> KvmSegment {
    qemu_modes::set_v8086_seg(rules, reg, q).unwrap_or_else(|| qemu::set_seg(rules, q))
}

/// [`put_seg`] for a `kvm_segment` that goes to memory: the same result, set_seg's
/// bytes written as one word ([`qemu::set_seg_stored`]).
#[inline(always)]
pub(super) fn put_seg_stored(rules: RuleSet, reg: SegReg, q: &QemuSegmentCache) -> KvmSegment {
    qemu_modes::set_v8086_seg(rules, reg, q).unwrap_or_else(|| qemu::set_seg_stored(rules, q))
}

impl Op {
    /// This op alone on one value ([`apply`]): how verify's tests hold an op with a
    /// rule switched off against the op it replaces, on the same value.
    #[cfg(test)]
    pub(crate) fn apply_to(
        self,
        reg: SegReg,
        at: InFlight,
        previous: &QemuSegmentCache,
    ) -> InFlight {
        apply(self, reg, at, previous)
    }
}
