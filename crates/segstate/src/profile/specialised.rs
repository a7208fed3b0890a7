//! Chains of a known shape run as one monomorphised function: the op sequence is chosen
//! once, when the chain is built, and its rule sets stay data (each `rules.has` is a
//! test of a loop-invariant word, predicted every time).
//!
//! A shape is an op sequence: `[SvmGet, QemuGet, QemuSet, SvmSet]` is every AMD round
//! trip through a VMM, whatever the profiles' versions. [`recognise`] lists the shapes
//! of the built-in chains; a chain of another shape (a new op, a longer chain) runs
//! through its tables ([`super::compiled`]) or interpreted, with the same results. A new
//! op plugs in with a [`Stage`] and a line in [`recognise`].

use alloc::sync::Arc;

use super::chain::{InFlight, Op, SegmentValue, VcpuSegments};
use super::{RuleSet, qemu, svm, vmx};
use crate::arch::{PerSegReg, SegReg};
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::format::svm::VmcbSegment;
use crate::format::vmx::VmxSegment;

/// One conversion with its input and output types. `cpl` is VMCB.CPL on the way.
pub(crate) trait Stage: Copy + Send + Sync + 'static {
    type In: Copy;
    type Out: Copy;
    fn apply(
        self,
        reg: SegReg,
        x: Self::In,
        cpl: &mut u8,
        previous: &QemuSegmentCache,
    ) -> Self::Out;
}

macro_rules! stage {
    ($name:ident, $in:ty => $out:ty, |$r:ident, $reg:ident, $x:ident, $cpl:ident, $prev:ident| $body:expr) => {
        #[derive(Clone, Copy)]
        pub(crate) struct $name(RuleSet);

        impl Stage for $name {
            type In = $in;
            type Out = $out;
            #[inline(always)]
            fn apply(self, $reg: SegReg, $x: $in, $cpl: &mut u8, $prev: &QemuSegmentCache) -> $out {
                let $r = self.0;
                $body
            }
        }
    };
}

stage!(SvmGet, VmcbSegment => KvmSegment, |r, reg, x, cpl, _p| {
    svm::get_segment(r, reg, &x, *cpl)
});
stage!(SvmSet, KvmSegment => VmcbSegment, |r, reg, x, cpl, _p| {
    let (v, written) = svm::set_segment(r, reg, &x);
    // A VMCB the chain writes into is fresh: an unwritten CPL byte reads 0.
    *cpl = written.unwrap_or(0);
    v
});
stage!(VmxGet, VmxSegment => KvmSegment, |r, _reg, x, _c, _p| vmx::get_segment(r, &x));
stage!(VmxSet, KvmSegment => VmxSegment, |r, reg, x, _c, _p| vmx::set_segment(r, reg, &x));
stage!(QemuGet, KvmSegment => QemuSegmentCache, |r, reg, x, _c, prev| {
    qemu::get_seg(r, reg, &x, prev)
});
stage!(QemuSet, QemuSegmentCache => KvmSegment, |r, _reg, x, _c, _p| qemu::set_seg(r, &x));

/// Two stages in sequence.
#[derive(Clone, Copy)]
pub(crate) struct Then<A, B>(A, B);

impl<A: Stage, B: Stage<In = A::Out>> Stage for Then<A, B> {
    type In = A::In;
    type Out = B::Out;
    #[inline(always)]
    fn apply(self, reg: SegReg, x: A::In, cpl: &mut u8, previous: &QemuSegmentCache) -> B::Out {
        let mid = self.0.apply(reg, x, cpl, previous);
        self.1.apply(reg, mid, cpl, previous)
    }
}

/// A segment type a chain starts or ends in.
pub(crate) trait Shape: Copy {
    fn take(value: &SegmentValue) -> Option<Self>;
    fn wrap(self) -> SegmentValue;
    /// The eight registers and the CPL byte they start with (VMCB.CPL, else 0).
    fn take_vcpu(v: &VcpuSegments) -> Option<(PerSegReg<Self>, u8)>;
    /// The eight registers, with SS's outgoing CPL byte for a VMCB.
    fn vcpu(segments: PerSegReg<Self>, ss_cpl: u8) -> VcpuSegments;
}

macro_rules! shape {
    ($ty:ty, $variant:ident, |$s:ident| $take:pat => $cpl:expr, |$o:ident, $c:ident| $make:expr) => {
        impl Shape for $ty {
            #[inline(always)]
            fn take(value: &SegmentValue) -> Option<Self> {
                match value {
                    SegmentValue::$variant(v) => Some(*v),
                    _ => None,
                }
            }
            #[inline(always)]
            fn wrap(self) -> SegmentValue {
                SegmentValue::$variant(self)
            }
            #[inline(always)]
            fn take_vcpu($s: &VcpuSegments) -> Option<(PerSegReg<Self>, u8)> {
                match $s {
                    $take => Some($cpl),
                    _ => None,
                }
            }
            #[inline(always)]
            fn vcpu($o: PerSegReg<Self>, $c: u8) -> VcpuSegments {
                $make
            }
        }
    };
}

shape!(VmcbSegment, Vmcb,
    |v| VcpuSegments::Vmcb { segments, cpl } => (*segments, *cpl),
    |o, c| VcpuSegments::Vmcb { segments: o, cpl: c });
shape!(VmxSegment, Vmcs,
    |v| VcpuSegments::Vmcs(segments) => (*segments, 0),
    |o, _c| VcpuSegments::Vmcs(o));
shape!(KvmSegment, Kvm,
    |v| VcpuSegments::Kvm(segments) => (*segments, 0),
    |o, _c| VcpuSegments::Kvm(o));

/// A chain's runs, behind one virtual call per API call.
pub(crate) trait Runner: Send + Sync {
    /// One register, or `None` when `input` is not in the chain's source format.
    fn segment(
        &self,
        reg: SegReg,
        input: &InFlight,
        previous: &QemuSegmentCache,
    ) -> Option<InFlight>;
    /// A batch of one register in place; false (nothing changed past the first
    /// mismatch) when a value is not in the source format.
    fn batch(&self, reg: SegReg, values: &mut [InFlight], previous: &QemuSegmentCache) -> bool;
    /// A whole vCPU, or `None` when it is in another format.
    fn vcpu(
        &self,
        input: &VcpuSegments,
        previous: &PerSegReg<QemuSegmentCache>,
    ) -> Option<VcpuSegments>;
}

/// A stage sequence as a [`Runner`].
struct Pipeline<S>(S);

impl<S> Runner for Pipeline<S>
where
    S: Stage,
    S::In: Shape,
    S::Out: Shape,
{
    #[inline]
    fn segment(
        &self,
        reg: SegReg,
        input: &InFlight,
        previous: &QemuSegmentCache,
    ) -> Option<InFlight> {
        let x = S::In::take(&input.value)?;
        let mut cpl = input.vmcb_cpl;
        let out = self.0.apply(reg, x, &mut cpl, previous);
        Some(InFlight {
            value: out.wrap(),
            vmcb_cpl: cpl,
        })
    }

    fn batch(&self, reg: SegReg, values: &mut [InFlight], previous: &QemuSegmentCache) -> bool {
        for v in values.iter_mut() {
            let Some(x) = S::In::take(&v.value) else {
                return false;
            };
            let out = self.0.apply(reg, x, &mut v.vmcb_cpl, previous);
            v.value = out.wrap();
        }
        true
    }

    fn vcpu(
        &self,
        input: &VcpuSegments,
        previous: &PerSegReg<QemuSegmentCache>,
    ) -> Option<VcpuSegments> {
        let (segments, start) = S::In::take_vcpu(input)?;
        let mut ss_cpl = 0;
        let outs = PerSegReg::from_fn(|reg| {
            let mut cpl = start;
            let out = self.0.apply(reg, segments[reg], &mut cpl, &previous[reg]);
            if reg == SegReg::Ss {
                ss_cpl = cpl;
            }
            out
        });
        Some(S::Out::vcpu(outs, ss_cpl))
    }
}

fn boxed<S>(stages: S) -> Arc<dyn Runner>
where
    S: Stage,
    S::In: Shape,
    S::Out: Shape,
{
    Arc::new(Pipeline(stages))
}

/// The runner for `ops` when they have one of the built-in chains' shapes.
pub(crate) fn recognise(ops: &[Op]) -> Option<Arc<dyn Runner>> {
    use Op as O;
    let qemu = |g, s| Then(QemuGet(g), QemuSet(s));
    Some(match *ops {
        [O::SvmGet(a), O::QemuGet(b), O::QemuSet(c), O::SvmSet(d)] => {
            boxed(Then(Then(SvmGet(a), qemu(b, c)), SvmSet(d)))
        }
        [O::SvmGet(a), O::SvmSet(b)] => boxed(Then(SvmGet(a), SvmSet(b))),
        [O::SvmGet(a), O::QemuGet(b), O::QemuSet(c), O::VmxSet(d)] => {
            boxed(Then(Then(SvmGet(a), qemu(b, c)), VmxSet(d)))
        }
        [O::VmxGet(a), O::QemuGet(b), O::QemuSet(c), O::VmxSet(d)] => {
            boxed(Then(Then(VmxGet(a), qemu(b, c)), VmxSet(d)))
        }
        [O::VmxGet(a), O::VmxSet(b)] => boxed(Then(VmxGet(a), VmxSet(b))),
        [O::VmxGet(a), O::QemuGet(b), O::QemuSet(c), O::SvmSet(d)] => {
            boxed(Then(Then(VmxGet(a), qemu(b, c)), SvmSet(d)))
        }
        [
            O::SvmGet(a),
            O::QemuGet(b),
            O::QemuSet(c),
            O::VmxSet(d),
            O::VmxGet(e),
            O::QemuGet(f),
            O::QemuSet(g),
            O::SvmSet(h),
        ] => boxed(Then(
            Then(Then(SvmGet(a), qemu(b, c)), Then(VmxSet(d), VmxGet(e))),
            Then(qemu(f, g), SvmSet(h)),
        )),
        [O::SvmSet(a)] => boxed(SvmSet(a)),
        [O::VmxSet(a)] => boxed(VmxSet(a)),
        [O::QemuGet(a), O::QemuSet(b)] => boxed(qemu(a, b)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::builtin_chains;

    /// Every built-in chain, with or without any of its rules, runs as a pipeline (the
    /// compiled tests in `compiled.rs` hold its results to the interpreted ops).
    #[test]
    fn every_builtin_shape_is_recognised() {
        for chain in builtin_chains() {
            assert!(recognise(chain.ops()).is_some(), "{chain}");
            for rule in chain.rules().iter() {
                assert!(
                    recognise(chain.without(rule).ops()).is_some(),
                    "{chain} - {rule}"
                );
            }
        }
        // `verbatim` alone has no op: no pipeline, its tables are the identity.
        let verbatim: crate::profile::Chain = "verbatim".parse().expect("parses");
        assert!(recognise(verbatim.ops()).is_none());
        assert!(verbatim.compile());
    }
}
