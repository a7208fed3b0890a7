//! How a chain runs, chosen once when it is built and shared by its clones: its
//! [`super::specialised`] pipeline when its shape is a known one (inlined into the
//! caller by [`Arm`] for today's profiles), else its [`super::compiled`] tables, built
//! lazily, else the interpreted ops.

use core::fmt;
use core::hash::{Hash, Hasher};

use super::chain::{Chain, InFlight, Op};
use super::compiled::Tables;
use super::specialised::inlined::{self, Arm};
use super::specialised::{Compiled, recognise};
use crate::arch::SegReg;
use crate::format::qemu::QemuSegmentCache;
#[cfg(feature = "std")]
use alloc::sync::Arc;

/// Segments a chain runs interpreted before its tables are built: building costs
/// about as much as this many interpreted runs (BENCHMARKS.md), so a chain run once, as
/// `segstate check` runs each chain it tries, never pays for tables it would not use.
// Without `std` there is no lazy cell, so nothing counts runs against this.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
pub(crate) const COMPILE_AFTER: u32 = 1 << 21;

/// How a chain runs: its [`super::specialised`] pipeline when its shape is a known
/// one, else its tables, built once it has run [`COMPILE_AFTER`] segments (or on
/// [`Chain::compile`]), else interpreted. Shared by a chain's clones. Without `std`
/// there is no lazy cell: chains of other shapes run interpreted.
#[derive(Clone)]
pub(crate) struct CompiledCell {
    fast: Option<Compiled>,
    /// `run_segment`'s way through `fast`.
    arm: Arm,
    #[cfg(feature = "std")]
    cell: Arc<Lazy>,
}

#[cfg(feature = "std")]
#[derive(Default)]
struct Lazy {
    tables: std::sync::OnceLock<Option<Tables>>,
    /// Segments run so far (a racy count is fine: it only decides when to build).
    runs: core::sync::atomic::AtomicU32,
}

impl CompiledCell {
    /// The cell of a chain of `ops`.
    pub(crate) fn new(ops: &[Op]) -> Self {
        let fast = recognise(ops);
        CompiledCell {
            arm: Arm::of(fast.as_ref()),
            fast,
            #[cfg(feature = "std")]
            cell: Arc::default(),
        }
    }

    /// The monomorphised pipeline, for chains of a known shape.
    #[inline(always)]
    pub(crate) fn fast(&self) -> Option<&Compiled> {
        self.fast.as_ref()
    }

    /// One register through the pipeline: `None` when there is none or `input` is not
    /// in the source format (`run_segment` then takes its other path).
    #[inline(always)]
    pub(crate) fn segment(
        &self,
        reg: SegReg,
        input: &InFlight,
        previous: &QemuSegmentCache,
    ) -> Option<InFlight> {
        inlined::segment(self.arm, self.fast.as_ref(), reg, input, previous)
    }

    /// [`CompiledCell::segment`] written to `out`: false, and `out` untouched, when there
    /// is no pipeline or `input` is not in the source format.
    #[inline(always)]
    pub(crate) fn segment_into(
        &self,
        reg: SegReg,
        input: &InFlight,
        previous: &QemuSegmentCache,
        out: &mut InFlight,
    ) -> bool {
        inlined::segment_into(self.arm, self.fast.as_ref(), reg, input, previous, out)
    }

    /// The tables of `chain` (whose cell this is) for a call about to run `segments`
    /// segments, building them once the chain has run enough. Only for chains without
    /// a pipeline.
    #[inline]
    pub(crate) fn get(&self, chain: &Chain, segments: usize) -> Option<&Tables> {
        #[cfg(feature = "std")]
        {
            use core::sync::atomic::Ordering::Relaxed;
            if let Some(t) = self.cell.tables.get() {
                return t.as_ref();
            }
            let runs = self.cell.runs.load(Relaxed);
            let runs = runs.saturating_add(u32::try_from(segments).unwrap_or(u32::MAX));
            self.cell.runs.store(runs, Relaxed);
            if runs < COMPILE_AFTER {
                return None;
            }
            self.tables(chain)
        }
        #[cfg(not(feature = "std"))]
        {
            let _ = (chain, segments);
            None
        }
    }

    /// The tables of `chain`, building them now if they are not yet.
    pub(crate) fn tables(&self, chain: &Chain) -> Option<&Tables> {
        #[cfg(feature = "std")]
        {
            self.cell
                .tables
                .get_or_init(|| Tables::build(chain))
                .as_ref()
        }
        #[cfg(not(feature = "std"))]
        {
            let _ = chain;
            None
        }
    }
}

/// Derived from the steps: two chains with equal steps are equal whatever their cells hold.
impl PartialEq for CompiledCell {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CompiledCell {}

impl Hash for CompiledCell {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

impl fmt::Debug for CompiledCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompiledCell")
    }
}
