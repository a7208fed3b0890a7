//! `Chain::run_segment` for a few of today's pipelines, inlined into the caller: no
//! call, no return slot, the output built in registers and stored by the caller.
//!
//! Through its entry a segment costs a call through a pointer (the `floor` column of
//! `ratios 9 chains`: 2.2-2.7 ns of nothing on the Intel Xeon, 2.8-3.1 on the AMD
//! EPYC) and comes back as [`super::Written`];
//! on the shapes whose conversion is short that is most of the time, and plain C of
//! the same sync, looping over its inputs, takes 1.4-3.8 ns. The variants here are
//! the built-in shapes with today's profiles (their rules constants, the stages
//! zero-sized, made from their type); the variants with
//! rules as data stay behind their entries.
//!
//! The shapes from a VMCB (svm_get_segment's CPL and per-register rules) were left
//! out on the Intel Xeon, where they measured 0.3-0.9 ns a segment slower inlined
//! (the caller's loop holding every body spilled its registers: `BENCHMARKS.md` §1
//! and §2, step 38). On the AMD EPYC (Zen 4) that replaced it they are in: through
//! their entries (eight of them, one per register, so the call's target changes with
//! every segment of a caller that cycles through the registers) they ran 8.7-13.0 ns
//! a segment against C's 3.8-11.5, inlined 5.4-8.1 running no fewer instructions
//! (callgrind): the time went on the call, not the conversion. The rows inlined before
//! run the same instructions in a longer loop and lost 0.15-0.85 ns, 0.05-0.6 in a
//! build that put that loop at another address (`BENCHMARKS.md` §1, step 48).
//!
//! "In the caller" holds where the compiler inlines `Chain::run_segment`, which it does
//! where that is its only call in the codegen unit. With two calls in one module (in
//! one crate, under `codegen-units = 1`) it stays out of line, and its result, built
//! in registers here, is stored to the return slot field by field and copied by the
//! caller in wider words: a failed store forward, 7.9-10.6 ns a segment on the AMD
//! EPYC (`BENCHMARKS.md` §1, steps 50 and 53). Marking it `#[inline(always)]` keeps it
//! inlined at every call, but LLVM then optimises the arms inside the caller's function
//! rather than alone first, and stops fusing QEMU's pack and unpack: the rows through
//! QEMU lost 0.6-2.5 ns a segment there, and it was left as it is.
//!
//! The register stays a variable, as in C's loop (matched into constants it is eight
//! copies of each body in every caller). The input is read with
//! [`Stage::apply_copied`], not the loaded form of [`Stage::apply_memory`]: the
//! caller's copy of the value is stored in 16-byte halves, and the loaded form's
//! gathered word straddles an 8-byte boundary of one, a failed store forward
//! (`verbatim > kvm-vmx` 3.6 → 8.2 ns a segment); the copied form reads the same bytes
//! in two loads, each within one half (`verbatim > kvm-vmx` and `verbatim > kvm-svm`
//! 0.5-0.6 ns a segment less than field by field: `BENCHMARKS.md` §2, step 41).
//! `run_segment_into`'s input is no copy but the caller's value where it keeps it, so
//! its arms run the loaded form ([`InPlace`]): 48 and 51 instructions a segment on
//! `verbatim > kvm-svm` and `verbatim > kvm-vmx` against 52 and 53 with the copied
//! form, 0.2-0.3 ns less (`BENCHMARKS.md` §1, step 54).
//!
//! Which arm a chain takes is chosen when it is built ([`Arm`], kept in its cell): one
//! `match` on a one-byte enum whose every value is an arm, so the jump needs no range
//! check and a caller's loop computes its target once (one `jmp *` a segment). The
//! two-level test it replaced (is there a pipeline, then its variant, a range check and
//! the table's load) ran every segment: `kvm-vmx > verbatim > kvm-vmx` runs 49
//! instructions a segment against 60, and seven rows of `ratios 9 chains` take 0.5-0.85
//! ns a segment less on the AMD EPYC; the two rows from a VMCB through QEMU and back
//! take 0.55-0.65 more, their arms compiled with their registers allocated otherwise
//! (`BENCHMARKS.md` §1, step 53). An arm reads nothing of the pipeline: its stages run
//! today's profiles, rules constant, and are made from their type ([`Constant`]).
//!
//! [`segment_into`] (`Chain::run_segment_into`) runs the same arms and stores each
//! arm's output in the arm, through the caller's reference: only the fields that arm
//! writes, where `run_segment`'s returned value is stored after the arms meet, every
//! field any arm writes, seven stores a segment (`BENCHMARKS.md` §1, step 54).
//!
//! An arm gives the stages' output whole, selector, base and limit included, as the
//! batch and vCPU entries do; so it needs no check that the output carries the input's
//! carrier, which `super::segment` makes only because its [`super::Written`] leaves the
//! carrier out and `Compiled::entry_segment` puts the input's back around it.

use super::stage::Constant;
use super::{
    Compiled, Copied, InFlight, InPlace, Pipeline, QemuSegmentCache, Reading, SegReg, Shape, Stage,
};

/// [`Arm`] and [`segment`] for `run_segment`'s inlined variants.
macro_rules! inlined {
    ($($variant:ident),* $(,)?) => {
        /// Which way `Chain::run_segment` goes for a chain, chosen when the chain is
        /// built: one of the inlined variants' arms, its pipeline's entry, or neither
        /// (tables or the interpreter). One `match` on it covers every value, so the
        /// compiler's jump on it needs no range check, and a caller's loop computes its
        /// target once.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum Arm {
            $($variant,)*
            /// A pipeline run through its entry.
            Entry,
            /// No pipeline.
            Otherwise,
        }

        impl Arm {
            /// The arm of a chain whose pipeline is `fast`.
            pub(crate) fn of(fast: Option<&Compiled>) -> Arm {
                match fast.map(|c| &c.pipeline) {
                    $(Some(Pipeline::$variant(_)) => Arm::$variant,)*
                    Some(_) => Arm::Entry,
                    None => Arm::Otherwise,
                }
            }
        }

        /// One register through `fast` by `arm` (`Arm::of(fast)`), its output handed
        /// to `then` inside the arm that made it: `None`, and `then` not called, when
        /// `input` is not in the source format or there is no pipeline.
        ///
        /// `then` runs in each arm, not after them: a `then` that stores the output
        /// ([`segment_into`]) stores only the fields its arm wrote, where a store after
        /// the arms meet stores every field any arm writes.
        #[inline(always)]
        fn segment_then<R: Reading, T>(
            arm: Arm,
            fast: Option<&Compiled>,
            reg: SegReg,
            input: &InFlight,
            previous: &QemuSegmentCache,
            then: impl FnOnce(InFlight) -> T,
        ) -> Option<T> {
            match arm {
                $(Arm::$variant => through::<_, R>(constant(Pipeline::$variant), reg, input, previous).map(then),)*
                Arm::Entry => fast?.entry_segment(reg, input, previous).map(then),
                Arm::Otherwise => None,
            }
        }
    };
}

inlined!(
    // From a VMCB: inlined since step 48 (AMD), see the module doc.
    SvmVmmSvmToday,
    SvmSvmToday,
    SvmVmmVmxToday,
    SvmVmmVmxVmmSvmToday,
    VmxVmmVmxToday,
    VmxVmxToday,
    VmxVmmSvmToday,
    IntoSvmToday,
    IntoVmxToday,
    VmmToday,
);

/// One register through `fast` by `arm` (`Arm::of(fast)`): the output, or `None` when
/// `input` is not in the source format or there is no pipeline.
#[inline(always)]
pub(crate) fn segment(
    arm: Arm,
    fast: Option<&Compiled>,
    reg: SegReg,
    input: &InFlight,
    previous: &QemuSegmentCache,
) -> Option<InFlight> {
    segment_then::<Copied, _>(arm, fast, reg, input, previous, |out| out)
}

/// [`segment`] written to `out` by the arm that made it: false, and `out` untouched,
/// when `input` is not in the source format or there is no pipeline.
#[inline(always)]
pub(crate) fn segment_into(
    arm: Arm,
    fast: Option<&Compiled>,
    reg: SegReg,
    input: &InFlight,
    previous: &QemuSegmentCache,
    out: &mut InFlight,
) -> bool {
    segment_then::<InPlace, _>(arm, fast, reg, input, previous, |v| *out = v).is_some()
}

/// The stage of the variant made by `variant` (its constructor): today's profiles,
/// their rules constants, so the stage is its type's alone and nothing is read.
#[inline(always)]
fn constant<S: Constant>(_variant: fn(S) -> Pipeline) -> S {
    S::STAGE
}

/// One register through `s`: the output with the CPL byte after it, or `None` when
/// `input` is not in the source format (`run_segment` then runs the interpreter, which
/// refuses it).
#[inline(always)]
fn through<S, R: Reading>(
    s: S,
    reg: SegReg,
    input: &InFlight,
    previous: &QemuSegmentCache,
) -> Option<InFlight>
where
    S: Stage,
    S::In: Shape,
    S::Out: Shape,
{
    #[cfg(all(test, feature = "std"))]
    INLINED_RUNS.with(|n| n.set(n.get() + 1));
    let (_, out, cpl) = super::converted::<S, R>(s, reg, input, previous)?;
    Some(InFlight {
        value: out.wrap(),
        vmcb_cpl: cpl,
    })
}

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// How many values reached an inlined arm on this thread, in the source format or
    /// not: `verify::inlined_domain` holds that `run_segment` takes this path for the
    /// listed chains, for every value, and for no other chain.
    pub(crate) static INLINED_RUNS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}
