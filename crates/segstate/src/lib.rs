//! segstate: x86 segment state and CPL, bit-exact across every hypervisor boundary.
//!
//! A vCPU's segment registers travel from the CPU's hidden descriptor cache through a
//! hypervisor save area (AMD VMCB, Intel VMCS), KVM's `struct kvm_segment`, a VMM's
//! CPU model and back. KVM's UAPI has no CPL field: SS.DPL carries it. This crate makes
//! every step of that path explicit:
//!
//! - [`arch`]: the architectural model (selectors, privilege levels, descriptor caches);
//! - [`format`](mod@format): each wire shape, raw and bit-exact, never cooked;
//! - [`profile`]: the cooking rules of real implementations, named and versioned;
//! - [`check`]: consistency rules with SDM/APM references;
//! - [`verify`]: exhaustive round trips over chains of profiles;
//! - `ingest` (`std`): the foreign vCPU state files users hold (Cloud Hypervisor,
//!   Firecracker), with the CPL made explicit.
//!
//! ```
//! use segstate::profile::Chain;
//!
//! // AMD host, QEMU 2.9 syncs state, KVM 4.12 takes it back: the 2017 bug.
//! let chain: Chain = "kvm-svm@4.12 > qemu@2.9 > kvm-svm@4.12".parse().unwrap();
//! let report = segstate::verify::verify_chain(&chain);
//! assert!(report.escalations() > 0);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod arch;
pub mod check;
pub mod format;
#[cfg(feature = "std")]
pub mod ingest;
pub mod profile;
pub mod snapshot;
pub mod verify;
