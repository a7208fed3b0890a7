//! The seam between the harness and the state-conversion code under test.

use std::fmt;

use kvm_bindings::kvm_sregs;
use segstate::arch::SegmentState;
use segstate::format::kvm_bindings::KvmStateError;
use segstate::profile::WrongSourceFormat;

use crate::error::transparent_error;

/// Why a sync could not convert a state (the run's verdict is then Corrupted).
#[derive(Debug)]
#[non_exhaustive]
pub enum SyncError {
    /// The chain cannot start from a `kvm_sregs` the way it was written.
    Chain(WrongSourceFormat),
    /// The state does not go through [`SegmentState`] (see [`ThroughSegmentState`]).
    State(KvmStateError),
    /// A thread panicked while holding [`ChainSync`]'s QEMU-cache lock.
    Poisoned,
    /// A sync written elsewhere refused, with its own error.
    Other(Box<dyn core::error::Error + Send + Sync>),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Chain(e) => e.fmt(f),
            SyncError::State(e) => e.fmt(f),
            SyncError::Poisoned => f.write_str("the previous-cache lock was poisoned"),
            SyncError::Other(e) => e.fmt(f),
        }
    }
}

transparent_error!(
    SyncError: Chain(WrongSourceFormat),
    State(KvmStateError),
    Other(Box<dyn core::error::Error + Send + Sync>),
);

/// One state sync as a VMM performs it: what happens to kvm_sregs between
/// KVM_GET_SREGS and KVM_SET_SREGS.
pub trait SregsSync {
    /// Short name for reports.
    fn name(&self) -> String;
    /// Transforms `sregs` in place; an error aborts the run (verdict Corrupted).
    fn sync(&self, sregs: &mut kvm_sregs) -> Result<(), SyncError>;
}

/// The identity sync: writes back exactly what KVM reported. A VMM that keeps
/// every bit. Every scenario must pass with it on a correct host.
#[derive(Clone, Copy, Debug, Default)]
pub struct Verbatim;

impl SregsSync for Verbatim {
    fn name(&self) -> String {
        "verbatim".into()
    }
    fn sync(&self, _sregs: &mut kvm_sregs) -> Result<(), SyncError> {
        Ok(())
    }
}

/// A VMM that holds the vCPU as segstate's [`SegmentState`]: each sync decodes the
/// `kvm_sregs` strictly into one (CPL from SS.DPL, KVM's convention) and writes it
/// back with [`SegmentState::write_kvm_sregs`], the library's own path. Every
/// scenario must pass with it, as with [`Verbatim`]: the round trip loses nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThroughSegmentState;

impl SregsSync for ThroughSegmentState {
    fn name(&self) -> String {
        "segment-state".into()
    }
    fn sync(&self, sregs: &mut kvm_sregs) -> Result<(), SyncError> {
        // RFLAGS is not part of kvm_sregs and write_kvm_sregs does not write it.
        let state = SegmentState::from_kvm_sregs(sregs, 0)?;
        Ok(state.write_kvm_sregs(sregs)?)
    }
}

impl<T: SregsSync + ?Sized> SregsSync for &T {
    fn name(&self) -> String {
        (**self).name()
    }
    fn sync(&self, sregs: &mut kvm_sregs) -> Result<(), SyncError> {
        (**self).sync(sregs)
    }
}

/// A chain of segstate profiles as a live state sync: the segments of `kvm_sregs` go
/// through [`segstate::profile::Chain::run_sregs`], every other field is kept.
///
/// QEMU's cache before a sync (read by the thread's rejected designs) is what the
/// previous sync read, converted by today's QEMU get_seg; before the first sync it
/// is empty, as in a VMM that never synced.
///
/// The 2017 bug as a sync, without a VM: QEMU 2.9 drops the DPL of an unusable SS,
/// which is the CPL KVM's next KVM_SET_SREGS takes.
///
/// ```
/// use segstate_kvm::{ChainSync, SregsSync};
///
/// let mut sregs = kvm_bindings::kvm_sregs::default();
/// sregs.ss.selector = 0x2b;
/// sregs.ss.dpl = 3;
/// sregs.ss.unusable = 1;
/// ChainSync::new("qemu".parse()?).sync(&mut sregs)?;
/// assert_eq!(sregs.ss.dpl, 3, "today's QEMU keeps it");
/// ChainSync::new("qemu@2.9".parse()?).sync(&mut sregs)?;
/// assert_eq!(sregs.ss.dpl, 0, "QEMU 2.9 zeroes it: CPL 0 at the next KVM_SET_SREGS");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ChainSync {
    chain: segstate::profile::Chain,
    previous: std::sync::Mutex<segstate::arch::PerSegReg<segstate::format::qemu::QemuSegmentCache>>,
}

impl ChainSync {
    /// Wraps a chain.
    pub fn new(chain: segstate::profile::Chain) -> Self {
        ChainSync {
            chain,
            previous: std::sync::Mutex::new(segstate::arch::PerSegReg::default()),
        }
    }

    /// The chain.
    pub fn chain(&self) -> &segstate::profile::Chain {
        &self.chain
    }
}

impl SregsSync for ChainSync {
    fn name(&self) -> String {
        self.chain.to_string()
    }

    fn sync(&self, sregs: &mut kvm_sregs) -> Result<(), SyncError> {
        use segstate::format::kvm::KvmSregs;
        use segstate::profile::{Profile, qemu};
        let mut ours = KvmSregs::from(*sregs);
        let mut previous = self.previous.lock().map_err(|_| SyncError::Poisoned)?;
        let before = ours.segments();
        self.chain.run_sregs(&mut ours, &previous)?;
        *previous = before.map(|reg, k| qemu::get_seg(Profile::QEMU.rules, reg, k, &previous[reg]));
        *sregs = ours.into();
        Ok(())
    }
}

/// The chains `segstate audit` runs live: the pass-through and fixed paths a host must
/// keep privilege through, and the historical and rejected ones that show the bug.
pub const LIVE_CHAINS: &[&str] = &[
    "verbatim",
    "qemu",
    "kvm-svm > qemu > kvm-svm",
    "kvm-vmx > qemu > kvm-vmx",
    "qemu@2.9",
    "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11",
    "kvm-svm > qemu@2.9 > kvm-svm",
    "kvm-svm@4.11 > qemu > kvm-svm@4.11",
    "kvm-vmx@6.1 > qemu > kvm-vmx@6.1",
    "qemu-keep-old-flags",
    "qemu-segtype",
];
