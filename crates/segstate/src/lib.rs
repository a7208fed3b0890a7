//! segstate: x86 segment state and CPL, bit-exact across every hypervisor boundary.
//!
//! A vCPU's segment registers travel from the CPU's hidden descriptor cache through a
//! hypervisor save area (AMD VMCB, Intel VMCS), KVM's `struct kvm_segment`, a VMM's
//! CPU model and back. KVM's UAPI has no CPL field: SS.DPL carries it. In 2017 an
//! unusable SS (the state AMD's SYSRET leaves) lost its DPL on that path and user code
//! ran at CPL 0. This crate makes every step of the path explicit, exact and checked.
//!
//! # Modules, in layers
//!
//! Each layer uses only the layers above it in this list:
//!
//! - [`arch`]: the architectural truth — [`arch::Selector`], [`arch::PrivilegeLevel`]
//!   (no `Default`: a CPL is always said), [`arch::Segment`] (the descriptor cache,
//!   with `unusable` apart from P), descriptors, the CPU mode, the whole-vCPU
//!   [`arch::SegmentState`] every consumer shares, and [`arch::Vendor`];
//! - [`format`](mod@format): each wire shape (`kvm_segment`/`kvm_sregs`, the VMCB
//!   segment and save area, VMX access rights, QEMU's `SegmentCache`, Hyper-V, and
//!   the other stacks': Xen, bhyve, propolis, VirtualBox, crosvm), raw and
//!   bit-exact, never cooked; strict decodes name the field they refuse;
//! - [`profile`]: the cooking rules of real implementations (KVM SVM and VMX, QEMU,
//!   each release, and the other stacks that move segments), named, versioned and
//!   individually switchable; chains of them;
//! - [`check`]: the rule catalogue ([`check::CheckId`]: id, family, severity,
//!   SDM/APM reference) and its targets — architecture, Intel VM entry, AMD VMRUN,
//!   and what `KVM_SET_SREGS` refuses ([`check::kvm_set_sregs`]) — with
//!   [`check::preflight`] for a state about to be handed over;
//! - [`verify`]: exhaustive round trips through chains, and the one search for the
//!   rule responsible for what a chain did ([`verify::paths::trace`]);
//! - [`snapshot`]: segstate's vCPU snapshot format, which carries the CPL explicitly;
//! - `ingest` (feature `std`): detection and readers for what users hold — QEMU
//!   register dumps and the other dumps and exit lines users paste (Linux, Xen, HAXM,
//!   hyperkit, bhyvectl, VirtualBox, Bochs, gdb, EDK2 exception dumps, other VMMs'
//!   `kvm_sregs`), QEMU
//!   migration streams, libvirt saved-VM images, raw `kvm_sregs`, VMCB pages, segstate
//!   snapshots, and (feature `serde`) JSON states, wtf's `regs.json` and the state
//!   files of Firecracker, Cloud Hypervisor, crosvm, Xen and Hyper-V;
//!   `ingest::open_path` takes a file, a snapshot directory or `-` and decides how to
//!   read it.
//!
//! # Features
//!
//! - `std` (default): `ingest`, file readers, parallel verification. Without it the
//!   crate is `no_std` + `alloc`.
//! - `kvm-bindings`: `From` conversions with rust-vmm's `kvm_bindings::kvm_segment`,
//!   `kvm_dtable`, `kvm_sregs` and `kvm_regs`.
//! - `serde`: `Serialize`/`Deserialize` on the core types (selectors, privilege levels,
//!   registers, segments, the vCPU state; findings and check reports serialise, the
//!   latter as `segstate check --json` prints them), the C shapes' JSON in
//!   `json`, and JSON states in `ingest`. Deserializing validates: a privilege level
//!   of 4 is an error naming it.
//! - `disasm` (default, implies `std`): the instruction at RIP of a QEMU dump's `Code=`
//!   line decoded by iced-x86 (`ingest::code_at_rip`); without it the bytes are read
//!   and shown undecoded.
//!
//! # Four things a VMM does with it
//!
//! 1. **Take what `KVM_GET_SREGS` returns** — `SegmentState::from_kvm` (feature
//!    `kvm-bindings`) takes rust-vmm's `kvm_sregs` and `kvm_regs` directly, with the CPL
//!    from SS.DPL, and `SegmentState::write_kvm_sregs` writes it back, refusing a CPL
//!    SS.DPL would not carry; without the feature, [`format::kvm::KvmSregs`] is the
//!    same struct, byte for byte.
//! 2. **Check it before `KVM_SET_SREGS`** — [`check::preflight::kvm_sregs`] judges the
//!    state KVM would really enter for a [`check::preflight::Target`] (Intel VM entry
//!    with given controls, AMD VMRUN, the architecture), returning findings with typed
//!    rule ids, severity and reference.
//! 3. **Convert a whole VMCB save area and back** — [`profile::svm::get_sregs`] and
//!    [`profile::svm::set_sregs`] do what KVM does on AMD: CR0/CR4, EFER with SVME,
//!    the descriptor tables, and the CPL byte.
//! 4. **See what a path does to a state** — [`verify::paths::trace`] runs a state
//!    through a [`profile::Chain`] and names each change and the rule that made it.
//!
//! ```
//! use segstate::profile::Chain;
//!
//! // AMD host, QEMU 2.9 syncs state, KVM 4.11 takes it back: the 2017 bug.
//! let chain: Chain = "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11".parse()?;
//! let report = segstate::verify::verify_chain(&chain);
//! assert!(report.escalations() > 0);
//!
//! // Either half of the fix alone is not enough.
//! let kernel_half_only: Chain = "kvm-svm > qemu@2.9 > kvm-svm".parse()?;
//! assert!(segstate::verify::verify_chain(&kernel_half_only).escalations() > 0);
//! let fixed: Chain = "kvm-svm > qemu > kvm-svm".parse()?;
//! assert!(segstate::verify::verify_chain(&fixed).keeps_cpl());
//! # Ok::<(), segstate::profile::ChainError>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![forbid(unsafe_code)]

extern crate alloc;

/// `Display` for a type whose text is one `write!` over its fields:
/// `impl_display!(LengthError, |e| "{} is {} bytes, got {}", e.format, e.expected, e.found)`
/// writes `impl Display for LengthError` with that format string, `e` being `self`.
macro_rules! impl_display {
    ($ty:ty, |$v:ident| $($format:tt)+) => {
        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let $v = self;
                write!(f, $($format)+)
            }
        }
    };
}

/// `Display` for a type whose text is its name: `display_by_name!(SegReg)` writes
/// `self.name()`, `display_by_name!(Rule, id)` writes `self.id()` (registers, vendors,
/// rule and check ids, input formats, dialects, stacks).
macro_rules! display_by_name {
    ($ty:ty) => {
        display_by_name!($ty, name);
    };
    ($ty:ty, $method:ident) => {
        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.$method())
            }
        }
    };
}

pub mod arch;
pub mod check;
pub mod format;
#[cfg(feature = "std")]
pub mod ingest;
#[cfg(feature = "serde")]
#[allow(missing_debug_implementations)]
pub mod json;
pub mod profile;
pub mod snapshot;
mod table;
#[doc(hidden)]
pub mod testing;
pub mod verify;

/// The README's Rust examples, run as doc tests so that they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;
