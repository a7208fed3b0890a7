//! Not API: what the workspace's own tests, fuzz targets and examples reach inside
//! the crate for (checksums to re-seal a mutated file, the verification domain's
//! encoder, a synthetic snapshot). Hidden from the documentation, with no stability
//! promise; a VMM has no use for it.

#[cfg(feature = "serde")]
pub use crate::ingest::crc64::crc64;
pub use crate::snapshot::crc::crc32c;
pub use crate::verify::domain::{encode_state, previous_caches};

/// The size of a segstate snapshot's file header, for tests that damage files past it.
pub const SNAPSHOT_HEADER_SIZE: usize = crate::snapshot::codec::HEADER_SIZE;

/// A synthetic snapshot of the harness guest paused at CPL 3 with an unusable SS of
/// DPL 3 (AMD's post-SYSRET state), as KVM on Intel reports it; no memory.
#[must_use]
pub fn example_user_null_ss() -> crate::snapshot::VcpuSnapshot {
    crate::snapshot::VcpuSnapshot::example_user_null_ss()
}
