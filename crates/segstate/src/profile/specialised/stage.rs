//! The stages a pipeline is made of: one conversion each, typed by its input and
//! output segment, with its rules as data or as constants, and the forms a stage takes
//! where its input comes from memory or its result goes there.

use crate::arch::SegReg;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::format::svm::VmcbSegment;
use crate::format::vmx::VmxSegment;
use crate::profile::{Profile, RuleSet, apply, qemu, svm, vmx};

/// Where a stage's rules come from: data ([`Dynamic`]), or a constant the compiler
/// folds into the code ([`Fixed`], for today's profiles: a chain of current profiles
/// is then the same code as the conversions written by hand).
pub(crate) trait Rules: Copy {
    fn rules(self) -> RuleSet;
}

/// Rules as data.
#[derive(Clone, Copy)]
pub(crate) struct Dynamic(pub(super) RuleSet);

impl Rules for Dynamic {
    #[inline(always)]
    fn rules(self) -> RuleSet {
        self.0
    }
}

/// Rules as a constant ([`RuleSet::bits`]).
#[derive(Clone, Copy)]
pub(crate) struct Fixed<const R: u128>;

impl<const R: u128> Rules for Fixed<R> {
    #[inline(always)]
    fn rules(self) -> RuleSet {
        RuleSet::from_bits(R)
    }
}

/// Today's profiles as constants.
pub(super) type Svm = Fixed<{ Profile::KVM_SVM.rules.bits() }>;
pub(super) type Vmx = Fixed<{ Profile::KVM_VMX.rules.bits() }>;
pub(super) type Qemu = Fixed<{ Profile::QEMU.rules.bits() }>;

/// One conversion with its input and output types. `cpl` is VMCB.CPL on the way.
pub(crate) trait Stage: Copy {
    type In: Copy;
    type Out: Copy;
    fn apply(
        self,
        reg: SegReg,
        x: Self::In,
        cpl: &mut u8,
        previous: &QemuSegmentCache,
    ) -> Self::Out;
    /// [`Stage::apply`] to an input `LOADED` from memory, its result `STORED` to memory:
    /// the same result, for stages with a form faster there. Loaded: the attribute bytes
    /// as one word ([`crate::profile::attribute_bytes`]); not for a value just stored
    /// (`run_segment`'s input, copied in by its caller), whose word load waits on the
    /// narrower stores (`perf annotate`: 5.5 → 23 ns a segment). Stored: set_seg's bytes
    /// from one table entry (`qemu::set_seg_stored`); not where the result goes on to
    /// another step, which reads its fields and into which the plain form folds. A
    /// pipeline's batch and vCPU entries run it with both. A stage has at most one of
    /// the two forms (`stage!` takes one), so neither hides the other where a one-stage
    /// pipeline runs with both flags.
    #[inline(always)]
    fn apply_memory<const LOADED: bool, const STORED: bool>(
        self,
        reg: SegReg,
        x: Self::In,
        cpl: &mut u8,
        previous: &QemuSegmentCache,
    ) -> Self::Out {
        self.apply(reg, x, cpl, previous)
    }
    /// [`Stage::apply`] to an input its caller has just copied (`run_segment`'s
    /// by-value input, in 16-byte stores), its result `STORED` to memory as in
    /// [`Stage::apply_memory`]: the same result, for stages with a form faster there.
    /// Copied: the loaded form's bytes read in two loads, each within one 8-byte half
    /// of those stores ([`crate::profile::attribute_bytes`]'s `of_halves`). A stage
    /// with a copied form has no stored one: `stage!` takes a copied form only beside a
    /// loaded one, since the copied form ignores `STORED`.
    #[inline(always)]
    fn apply_copied<const STORED: bool>(
        self,
        reg: SegReg,
        x: Self::In,
        cpl: &mut u8,
        previous: &QemuSegmentCache,
    ) -> Self::Out {
        self.apply_memory::<false, STORED>(reg, x, cpl, previous)
    }
}

macro_rules! stage {
    // Whether a stage's memory form applies: `loaded` to a `LOADED` input, `stored` to a
    // `STORED` result.
    (@applies loaded) => { LOADED };
    (@applies stored) => { STORED };
    // A copied form goes with a loaded one only: `apply_copied` ignores `STORED`.
    (@copied_with loaded) => {};
    ($name:ident, $in:ty => $out:ty, |$r:ident, $reg:ident, $x:ident, $cpl:ident, $prev:ident| $body:expr
        $(, $form:ident: $memory:expr $(, copied: $copied:expr)?)?) => {
        #[derive(Clone, Copy)]
        pub(crate) struct $name<R>(pub(super) R);

        impl<const R: u128> Constant for $name<Fixed<R>> {
            const STAGE: Self = $name(Fixed);
        }

        impl<R: Rules> Stage for $name<R> {
            type In = $in;
            type Out = $out;
            #[inline(always)]
            fn apply(self, $reg: SegReg, $x: $in, $cpl: &mut u8, $prev: &QemuSegmentCache) -> $out {
                let $r = self.0.rules();
                $body
            }
            #[inline(always)]
            fn apply_memory<const LOADED: bool, const STORED: bool>(
                self,
                $reg: SegReg,
                $x: $in,
                $cpl: &mut u8,
                $prev: &QemuSegmentCache,
            ) -> $out {
                let $r = self.0.rules();
                $(if stage!(@applies $form) {
                    return $memory;
                })?
                $body
            }
            $($(
            #[inline(always)]
            fn apply_copied<const STORED: bool>(self, $reg: SegReg, $x: $in, $cpl: &mut u8, _: &QemuSegmentCache) -> $out {
                stage!(@copied_with $form);
                let $r = self.0.rules();
                $copied
            }
            )?)?
        }
    };
}

stage!(SvmGet, VmcbSegment => KvmSegment, |r, reg, x, cpl, _p| {
    svm::get_segment(r, reg, &x, *cpl)
});
stage!(SvmSet, KvmSegment => VmcbSegment,
    |r, reg, x, cpl, _p| into_vmcb(svm::set_segment(r, reg, &x), cpl),
    loaded: into_vmcb(svm::set_segment_loaded::<false>(r, reg, &x), cpl),
    copied: into_vmcb(svm::set_segment_loaded::<true>(r, reg, &x), cpl));
stage!(VmxGet, VmxSegment => KvmSegment, |r, _reg, x, _c, _p| vmx::get_segment(r, &x));
stage!(VmxSet, KvmSegment => VmxSegment,
    |r, reg, x, _c, _p| vmx::set_segment(r, reg, &x),
    loaded: vmx::set_segment_loaded::<false>(r, reg, &x),
    copied: vmx::set_segment_loaded::<true>(r, reg, &x));
stage!(QemuGet, KvmSegment => QemuSegmentCache, |r, reg, x, _c, prev| {
    qemu::get_seg(r, reg, &x, prev)
});
stage!(QemuSet, QemuSegmentCache => KvmSegment,
    |r, reg, x, _c, _p| apply::put_seg(r, reg, &x),
    stored: apply::put_seg_stored(r, reg, &x));

/// A QEMU migration stream between two QEMU steps, one register at a time: the cache
/// goes through as it is, as the interpreted op leaves it (`apply::apply_batch`); the
/// stream's hooks act on the whole vCPU, in [`crate::profile::Chain::run_migration`], which no
/// pipeline runs.
#[derive(Clone, Copy)]
pub(crate) struct Migrate;

impl Stage for Migrate {
    type In = QemuSegmentCache;
    type Out = QemuSegmentCache;
    #[inline(always)]
    fn apply(
        self,
        _reg: SegReg,
        x: QemuSegmentCache,
        _cpl: &mut u8,
        _previous: &QemuSegmentCache,
    ) -> QemuSegmentCache {
        x
    }
}

/// A VMCB segment written by `svm_set_segment`, and the CPL byte after it: a VMCB the
/// chain writes into is fresh, so an unwritten CPL byte reads 0.
#[inline(always)]
fn into_vmcb((v, written): (VmcbSegment, Option<u8>), cpl: &mut u8) -> VmcbSegment {
    *cpl = written.unwrap_or(0);
    v
}

/// Two stages in sequence.
#[derive(Clone, Copy)]
pub(crate) struct Then<A, B>(pub(super) A, pub(super) B);

/// A stage whose rules are constants (today's profiles): it holds nothing, so it is
/// made from its type alone, where a stage with rules as data is read from its
/// pipeline.
pub(crate) trait Constant: Stage {
    /// The stage.
    const STAGE: Self;
}

impl<A: Constant, B: Constant> Constant for Then<A, B>
where
    Then<A, B>: Stage,
{
    const STAGE: Self = Then(A::STAGE, B::STAGE);
}

impl<A: Stage, B: Stage<In = A::Out>> Stage for Then<A, B> {
    type In = A::In;
    type Out = B::Out;
    #[inline(always)]
    fn apply(self, reg: SegReg, x: A::In, cpl: &mut u8, previous: &QemuSegmentCache) -> B::Out {
        let mid = self.0.apply(reg, x, cpl, previous);
        self.1.apply(reg, mid, cpl, previous)
    }
    /// The first stage's input is this one's, its result goes on to the second; the
    /// second's result is this one's.
    #[inline(always)]
    fn apply_memory<const LOADED: bool, const STORED: bool>(
        self,
        reg: SegReg,
        x: A::In,
        cpl: &mut u8,
        previous: &QemuSegmentCache,
    ) -> B::Out {
        let mid = self.0.apply_memory::<LOADED, false>(reg, x, cpl, previous);
        self.1
            .apply_memory::<false, STORED>(reg, mid, cpl, previous)
    }
    /// The first stage's input is this one's, the second's result this one's.
    #[inline(always)]
    fn apply_copied<const STORED: bool>(
        self,
        reg: SegReg,
        x: A::In,
        cpl: &mut u8,
        previous: &QemuSegmentCache,
    ) -> B::Out {
        let mid = self.0.apply_copied::<false>(reg, x, cpl, previous);
        self.1
            .apply_memory::<false, STORED>(reg, mid, cpl, previous)
    }
}
