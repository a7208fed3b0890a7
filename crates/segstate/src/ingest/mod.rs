//! (`std`) Reading the vCPU state files users hold.
//!
//! - [`foreign`]: what every foreign-state reader returns ([`ForeignVcpu`], with its
//!   [`Stack`] and explicit CPL) and how it refuses a file ([`IngestError`]);
//! - [`cloud_hypervisor`]: a Cloud Hypervisor snapshot (`state.json`, KVM and MSHV);
//! - [`firecracker`]: a Firecracker snapshot state file (`vmstate`, formats 9.x to 11.x);
//! - [`crc64`]: the checksum Firecracker appends.

pub mod cloud_hypervisor;
pub mod crc64;
pub mod firecracker;
pub mod foreign;

pub use foreign::{CplDisagreement, ForeignVcpu, IngestError, Place, Reason, Stack};
