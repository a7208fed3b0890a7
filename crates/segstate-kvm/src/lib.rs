//! Live harness for segstate on `/dev/kvm`: real guest code shows whether
//! privilege (CPL) survives a state sync (KVM_GET_SREGS → transform →
//! KVM_SET_SREGS), a snapshot and a restore.
//!
//! Entry points: [`kvm_available`], [`run_scenario`] with a [`SregsSync`],
//! [`observe_host`]. Every KVM_RUN is bounded by a watchdog; KVM failures
//! become verdicts or typed errors ([`IoctlError`]: which ioctl, which errno;
//! [`HarnessError`] around it), never panics.

pub mod bench;
pub mod error;
pub mod guest;
pub mod host;
pub mod machine;
pub mod scenario;
pub mod snapshot;
pub mod sync;
pub mod vcpu_state;
pub mod watchdog;

pub use bench::{paused_user_machine, sregs_roundtrip_loop};
pub use error::{HarnessError, IoctlError, MemoryError};
pub use host::{HostInfo, Observation, kvm_available, observe_host};
pub use scenario::{
    PausePoint, RunOptions, ScenarioKind, ScenarioOutcome, UnknownScenario, Verdict, run_scenario,
};
pub use sync::{ChainSync, LIVE_CHAINS, SregsSync, SyncError, ThroughSegmentState, Verbatim};
pub use vcpu_state::{NotCaptured, RestoreError, VcpuState};
