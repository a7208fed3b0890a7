//! The seam between the harness and the state-conversion code under test.

use std::fmt;
use std::sync::Mutex;

use kvm_bindings::kvm_sregs;
use segstate::arch::{PerSegReg, SegmentState};
use segstate::format::kvm::KvmSregs;
use segstate::format::kvm_bindings::KvmStateError;
use segstate::format::qemu::{QemuFlags, QemuSegmentCache};
use segstate::profile::WrongSourceFormat;
use segstate::profile::{Chain, Profile, qemu};

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
/// through [`segstate::profile::Chain::run_kvm_segments`] in place, every other field is
/// kept.
///
/// QEMU's cache before a sync (read by the thread's rejected designs) is what the
/// previous sync read, converted by today's QEMU get_seg; before the first sync it
/// is empty, as in a VMM that never synced. Only a chain that reads it
/// ([`segstate::profile::Chain::reads_previous`]) keeps it: any other gives the same
/// outputs whatever the cache, and syncs without the lock.
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
    chain: Chain,
    /// The caches the chain reads, kept across syncs: `None` for a chain that reads none.
    previous: Option<Mutex<QemuCaches>>,
}

/// QEMU's eight segment caches.
type QemuCaches = PerSegReg<QemuSegmentCache>;

/// The caches handed to a chain that does not read them (any would do): empty.
static UNREAD: QemuCaches = PerSegReg(
    [QemuSegmentCache {
        selector: 0,
        base: 0,
        limit: 0,
        flags: QemuFlags(0),
    }; 8],
);

impl ChainSync {
    /// Wraps a chain.
    pub fn new(chain: Chain) -> Self {
        let previous = chain.reads_previous().then(Mutex::default);
        ChainSync { chain, previous }
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }
}

impl SregsSync for ChainSync {
    fn name(&self) -> String {
        self.chain.to_string()
    }

    fn sync(&self, sregs: &mut kvm_sregs) -> Result<(), SyncError> {
        let mut segments = KvmSregs::segments_of(sregs);
        match &self.previous {
            None => self.chain.run_kvm_segments(&mut segments, &UNREAD)?,
            Some(lock) => {
                let mut previous = lock.lock().map_err(|_| SyncError::Poisoned)?;
                let before = segments;
                self.chain.run_kvm_segments(&mut segments, &previous)?;
                *previous =
                    before.map(|reg, k| qemu::get_seg(Profile::QEMU.rules, reg, k, &previous[reg]));
            }
        }
        KvmSregs::set_segments_of(sregs, &segments);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A user-mode state, every segment usable: flat code and data at DPL 3.
    fn user_usable() -> kvm_sregs {
        use segstate::testing::kvm_segment;
        // [type, present, dpl, db, s, l, g, avl, unusable]
        let flat = |type_, s, dpl, selector| {
            kvm_segment(selector, 0xffff_ffff, 0, [type_, 1, dpl, 1, s, 0, 1, 0, 0]).into()
        };
        let mut s = kvm_sregs {
            cs: flat(0xb, 1, 3, 0x33),
            tr: flat(0xb, 0, 0, 0x40),
            ..Default::default()
        };
        for seg in [&mut s.ds, &mut s.es, &mut s.fs, &mut s.gs, &mut s.ss] {
            *seg = flat(0x3, 1, 3, 0x2b);
        }
        s.ldt.unusable = 1;
        s
    }

    /// The same state after AMD's SYSRET left SS unusable, and DS made unusable too:
    /// their flags gone but SS.DPL (the CPL).
    fn user_unusable() -> kvm_sregs {
        let mut s = user_usable();
        for seg in [&mut s.ss, &mut s.ds] {
            *seg = kvm_bindings::kvm_segment {
                selector: seg.selector,
                dpl: seg.dpl,
                unusable: 1,
                ..Default::default()
            };
        }
        s.ds.dpl = 0;
        s
    }

    /// A chain that reads QEMU's previous caches syncs from what the sync before read
    /// (what the live audit's verdicts for the thread's designs rely on); any other
    /// syncs alike with or without a sync before. Were a design said not to read them,
    /// its caches would stay empty and the two runs agree.
    #[test]
    fn designs_sync_from_what_the_previous_sync_read() {
        let mut reading = 0;
        for spec in LIVE_CHAINS {
            let chain: Chain = spec.parse().expect("parses");
            let after_usable = {
                let sync = ChainSync::new(chain.clone());
                sync.sync(&mut user_usable()).expect("syncs");
                let mut s = user_unusable();
                sync.sync(&mut s).expect("syncs");
                s
            };
            let mut fresh = user_unusable();
            ChainSync::new(chain.clone())
                .sync(&mut fresh)
                .expect("syncs");
            assert_eq!(after_usable != fresh, chain.reads_previous(), "{spec}");
            reading += usize::from(chain.reads_previous());
        }
        assert_eq!(reading, 2, "qemu-keep-old-flags and qemu-segtype");
    }

    /// The sync writes the chain's segments and keeps every other field: the same as
    /// the library's own `run_sregs` on the whole struct.
    #[test]
    fn chain_sync_equals_run_sregs() {
        for spec in LIVE_CHAINS {
            let chain: Chain = spec.parse().expect("parses");
            for state in [user_usable(), user_unusable()] {
                let mut state = state;
                state.cr3 = 0x1000;
                state.apic_base = 0xfee0_0900;
                let mut ours = KvmSregs::from(state);
                chain
                    .run_sregs(&mut ours, &QemuCaches::default())
                    .expect("kvm_sregs source");
                ChainSync::new(chain.clone())
                    .sync(&mut state)
                    .expect("syncs");
                assert_eq!(KvmSregs::from(state), ours, "{spec}");
            }
        }
    }

    /// A chain that reads QEMU's caches syncs under their lock, and a lock poisoned by
    /// a thread that panicked holding it is reported (the caches may be half written),
    /// the state left as it was. A chain that reads no caches holds no lock at all (nor
    /// caches to refresh).
    #[test]
    fn a_poisoned_cache_lock_is_reported() {
        let reading = ChainSync::new("qemu-keep-old-flags".parse().expect("parses"));
        let lock = reading
            .previous
            .as_ref()
            .expect("a design keeps its caches");
        std::thread::scope(|s| {
            let held = s.spawn(|| {
                let _held = lock.lock();
                panic!("poisons the caches' lock");
            });
            assert!(held.join().is_err(), "the thread panicked");
        });
        let mut state = user_unusable();
        let err = reading.sync(&mut state).expect_err("poisoned");
        assert!(matches!(err, SyncError::Poisoned), "{err}");
        assert_eq!(KvmSregs::from(state), KvmSregs::from(user_unusable()));
        for spec in LIVE_CHAINS {
            let chain: Chain = spec.parse().expect("parses");
            let reads = chain.reads_previous();
            assert_eq!(ChainSync::new(chain).previous.is_some(), reads, "{spec}");
        }
    }
}
