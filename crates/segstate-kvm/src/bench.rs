//! Hooks for benchmarks: a paused vCPU and a bare sregs round-trip loop.

use std::fmt;
use std::time::{Duration, Instant};

use kvm_ioctls::VcpuFd;

use crate::error::{HarnessError, IoctlError, transparent_error};
use crate::guest::layout::PARAM_PROBE;
use crate::guest::{Entry, Probe, UserSs};
use crate::machine::{Machine, open_kvm};
use crate::scenario::RunOptions;
use crate::sync::{SregsSync, SyncError};

/// A machine paused in user mode (CPL 3, unusable SS of DPL 3) at its MMIO
/// pause, ready for [`sregs_roundtrip_loop`].
pub fn paused_user_machine(opts: &RunOptions) -> Result<Machine, HarnessError> {
    let kvm = open_kvm()?;
    let mut m = Machine::new(&kvm, opts.timeout)?;
    let r = m.routines();
    m.set_param(PARAM_PROBE, r.probe(Probe::Hlt))?;
    m.enter(Entry::User {
        rip: r.u_pause_probe,
        ss: UserSs::Unusable,
    })?;
    m.run_to_user_pause()?;
    Ok(m)
}

/// `n` times: KVM_GET_SREGS, then `sync` (if any), then KVM_SET_SREGS, on a
/// vCPU that is not running. Returns the total time. Stops at the first error.
pub fn sregs_roundtrip_loop(
    vcpu: &VcpuFd,
    n: u64,
    sync: Option<&dyn SregsSync>,
) -> Result<Duration, RoundtripError> {
    let start = Instant::now();
    for _ in 0..n {
        let mut s = vcpu.get_sregs().map_err(IoctlError::of("KVM_GET_SREGS"))?;
        if let Some(sync) = sync {
            sync.sync(&mut s).map_err(RoundtripError::Sync)?;
        }
        vcpu.set_sregs(&s)
            .map_err(IoctlError::of("KVM_SET_SREGS"))?;
    }
    Ok(start.elapsed())
}

/// Why [`sregs_roundtrip_loop`] stopped.
#[derive(Debug)]
pub enum RoundtripError {
    /// KVM_GET_SREGS or KVM_SET_SREGS failed.
    Ioctl(IoctlError),
    /// The sync refused the state.
    Sync(SyncError),
}

impl fmt::Display for RoundtripError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoundtripError::Ioctl(e) => e.fmt(f),
            RoundtripError::Sync(e) => write!(f, "sync: {e}"),
        }
    }
}

transparent_error!(RoundtripError: Ioctl(IoctlError), Sync(SyncError));
