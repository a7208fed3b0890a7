//! The seam between the harness and the state-conversion code under test.

use kvm_bindings::kvm_sregs;

/// One state sync as a VMM performs it: what happens to kvm_sregs between
/// KVM_GET_SREGS and KVM_SET_SREGS.
pub trait SregsSync {
    /// Short name for reports.
    fn name(&self) -> String;
    /// Transforms `sregs` in place; an error aborts the run (verdict Corrupted).
    fn sync(&self, sregs: &mut kvm_sregs) -> Result<(), String>;
}

/// The identity sync: writes back exactly what KVM reported. A VMM that keeps
/// every bit. Every scenario must pass with it on a correct host.
#[derive(Clone, Copy, Debug, Default)]
pub struct Verbatim;

impl SregsSync for Verbatim {
    fn name(&self) -> String {
        "verbatim".into()
    }
    fn sync(&self, _sregs: &mut kvm_sregs) -> Result<(), String> {
        Ok(())
    }
}

impl<T: SregsSync + ?Sized> SregsSync for &T {
    fn name(&self) -> String {
        (**self).name()
    }
    fn sync(&self, sregs: &mut kvm_sregs) -> Result<(), String> {
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

    fn sync(&self, sregs: &mut kvm_sregs) -> Result<(), String> {
        use segstate::format::kvm::KvmSregs;
        use segstate::profile::{Profile, qemu};
        let mut ours = KvmSregs::from(*sregs);
        let mut previous = self
            .previous
            .lock()
            .map_err(|_| "the previous-cache lock was poisoned".to_string())?;
        let before = ours.segments();
        self.chain
            .run_sregs(&mut ours, &previous)
            .map_err(|e| e.to_string())?;
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
