//! `Chain::run` for one of today's pipelines, inlined into the caller: no call through
//! the entry's pointer, the eight registers converted in the caller's loop.
//!
//! `kvm-vmx > verbatim > kvm-vmx` is the one row of `ratios 9 chains` whose `run` stays
//! above plain C (1.22-1.29x on the Intel Xeon before this, 1.01-1.03 on the AMD EPYC
//! after): its C sync is the shortest (1.4-1.8 ns a segment), so the call and the copy
//! around the entry weigh most. Inlined, that row's `run` is 0.1-0.2 ns a segment
//! faster (`BENCHMARKS.md` §2, step 40), still above C: the caller's copy of the
//! ~200-byte result (`Ok(v) => *o = v`, a `memcpy` call whose wide loads wait for the
//! narrow stores that built it; on the AMD EPYC 19 instructions a segment against C's
//! 35, callgrind, and still the slower) stays, because the result's slot is shared with
//! the entries of the variants not inlined, which write it through a pointer.
//!
//! `Chain::run_into` ([`run_into`]) has no such copy: its result is written through the
//! caller's reference, by the inlined arm in the caller and by the other variants in
//! their own entry (`vcpu_into`), so no path's result is a value the caller copies.
//! Every row of `ratios 9 chains` then runs below C, 0.23-0.72 of it, 0.2-0.8 ns a
//! segment less than `run` (`BENCHMARKS.md` §1, step 54).
//!
//! Not inlined, measured (step 40): the five other variants `run_segment` inlines
//! (`super::inlined`): their rows no faster, the rows from a VMCB 0.1 ns slower; the
//! entries given a slot of their own, so that the compiler could build the inlined
//! result in registers and store it straight into the caller's destination: the
//! `memmove` is gone, but the results of every path meet in 35 values spilled to the
//! stack, the row 1.69-1.73 ns a segment and the others 1-3.5 ns slower.

use super::{Compiled, Pipeline, QemuSegmentCache, VcpuSegments, WrongSourceFormat, vcpu};
use crate::arch::PerSegReg;

/// [`Compiled::vcpu`]'s body: the inlined variants' stages here, the others' entries.
macro_rules! inlined {
    ($($variant:ident),* $(,)?) => {
        /// A whole vCPU through `c`, or the error when it is in another format.
        #[inline(always)]
        pub(super) fn run(
            c: &Compiled,
            input: &VcpuSegments,
            previous: &PerSegReg<QemuSegmentCache>,
        ) -> Result<VcpuSegments, WrongSourceFormat> {
            match c.pipeline {
                $(Pipeline::$variant(s) => {
                    #[cfg(all(test, feature = "std"))]
                    INLINED_VCPU_RUNS.with(|n| n.set(n.get() + 1));
                    vcpu(s, input, previous)
                })*
                _ => (c.vcpu)(&c.pipeline, input, previous),
            }
        }

        /// [`run`] written to `out`, each path storing its own result: the inlined
        /// variants' in the caller, the others' in their entry (`vcpu_into`). `out` is
        /// untouched when the vCPU is in another format.
        #[inline(always)]
        pub(super) fn run_into(
            c: &Compiled,
            input: &VcpuSegments,
            previous: &PerSegReg<QemuSegmentCache>,
            out: &mut VcpuSegments,
        ) -> Result<(), WrongSourceFormat> {
            match c.pipeline {
                $(Pipeline::$variant(s) => {
                    #[cfg(all(test, feature = "std"))]
                    INLINED_VCPU_RUNS.with(|n| n.set(n.get() + 1));
                    vcpu(s, input, previous).map(|v| *out = v)
                })*
                _ => (c.vcpu_into)(&c.pipeline, input, previous, out),
            }
        }

    };
}

inlined!(VmxVmxToday);

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// How many vCPUs reached an inlined arm on this thread, in the source format or
    /// not: `verify::inlined_vcpu_domain` holds that `Chain::run` takes this path for
    /// the listed chains, for every vCPU, and for no other chain.
    pub(crate) static INLINED_VCPU_RUNS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}
