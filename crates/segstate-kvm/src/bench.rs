//! Hooks for benchmarks: a paused vCPU and a bare sregs round-trip loop.

use std::time::{Duration, Instant};

use kvm_ioctls::VcpuFd;

use crate::error::{HarnessError, errno_text};
use crate::guest::layout::{MMIO_USER_PAUSE, PARAM_PROBE};
use crate::guest::{Entry, Probe, UserSs};
use crate::machine::{Exit, Machine, open_kvm};
use crate::scenario::RunOptions;
use crate::sync::SregsSync;

/// A machine paused in user mode (CPL 3, unusable SS of DPL 3) at its MMIO
/// pause, ready for [`sregs_roundtrip_loop`].
pub fn paused_user_machine(opts: &RunOptions) -> Result<Machine, HarnessError> {
    let kvm = open_kvm()?;
    let mut m = Machine::new(&kvm, opts.timeout)?;
    let r = m.routines();
    m.set_param(PARAM_PROBE, r.probe(Probe::Hlt))
        .map_err(HarnessError::Setup)?;
    m.enter(Entry::User {
        rip: r.u_pause_probe,
        ss: UserSs::Unusable,
    })
    .map_err(HarnessError::Setup)?;
    match m.run() {
        Ok(Exit::MmioWrite {
            addr: MMIO_USER_PAUSE,
            ..
        }) => Ok(m),
        other => Err(HarnessError::Setup(format!(
            "guest did not reach its pause: {other:?}"
        ))),
    }
}

/// `n` times: KVM_GET_SREGS, then `sync` (if any), then KVM_SET_SREGS, on a
/// vCPU that is not running. Returns the total time. Stops at the first error.
pub fn sregs_roundtrip_loop(
    vcpu: &VcpuFd,
    n: u64,
    sync: Option<&dyn SregsSync>,
) -> Result<Duration, String> {
    let start = Instant::now();
    for _ in 0..n {
        let mut s = vcpu
            .get_sregs()
            .map_err(|e| format!("KVM_GET_SREGS: {}", errno_text(e.errno())))?;
        if let Some(sync) = sync {
            sync.sync(&mut s)?;
        }
        vcpu.set_sregs(&s)
            .map_err(|e| format!("KVM_SET_SREGS: {}", errno_text(e.errno())))?;
    }
    Ok(start.elapsed())
}
