//! The decoders behind the `segstate` command, as a library so that fuzz targets and
//! tests reach exactly what the command runs.
//!
//! - [`json`]: the JSON shapes `segstate convert` and `segstate check` read;
//! - [`input`]: what `segstate check` reads — format detection and decoding of QEMU
//!   dumps, `kvm_sregs` (+ `kvm_regs`) bytes, VMCB pages and save areas, JSON states;
//! - [`foreign`]: Cloud Hypervisor and Firecracker snapshots, every vCPU.

#[path = "json.rs"]
#[allow(missing_debug_implementations)]
pub mod json;

pub mod foreign;
pub mod input;
