//! Cooking profiles: what real implementations do to a segment on get and on set,
//! named and versioned, every rule individually switchable.
//!
//! Raw codecs in [`crate::format`] never cook; everything that changes a value on its
//! way through KVM or QEMU happens here, as a named [`Rule`]. A [`Profile`] is an
//! engine plus the rules one release applied; a [`Chain`] strings profiles together
//! into the path a state takes.
//!
//! ```
//! use segstate::arch::SegReg;
//! use segstate::format::qemu::QemuSegmentCache;
//! use segstate::format::svm::{SvmAttrib, VmcbSegment};
//! use segstate::profile::{Chain, InFlight, SegmentValue};
//!
//! // The SS AMD's SYSRET leaves: selector 0x2b, the stale attributes of a flat DPL-3
//! // data segment with P = 0 (unusable), while the CPU runs user code at VMCB.CPL 3.
//! let ss = VmcbSegment { selector: 0x2b, attrib: SvmAttrib(0x0c73), limit: 0xffff_ffff, base: 0 };
//! let input = InFlight { value: SegmentValue::Vmcb(ss), vmcb_cpl: 3 };
//! let previous = QemuSegmentCache::default();
//!
//! // Today's KVM and QEMU: the CPL survives a state sync.
//! let fixed: Chain = "kvm-svm > qemu > kvm-svm".parse()?;
//! assert_eq!(fixed.run_segment(SegReg::Ss, input, &previous)?.vmcb_cpl, 3);
//!
//! // Linux 4.11 and QEMU 2.9: user code comes back at CPL 0.
//! let bug: Chain = "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11".parse()?;
//! assert_eq!(bug.run_segment(SegReg::Ss, input, &previous)?.vmcb_cpl, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod attribute_bytes;
pub(crate) mod bhyve;
mod builtin;
mod chain;
#[cfg(test)]
mod chain_ops;
mod compiled;
mod compiled_cell;
pub(crate) mod nested;
mod parse;
pub mod qemu;
pub mod qemu_modes;
mod registry;
pub mod repair;
mod rule;
pub(crate) mod rustvmm;
mod specialised;
mod stack;
mod stack_profiles;
mod stack_stages;
pub mod svm;
pub(crate) mod vbox;
pub mod vmx;
pub(crate) mod xen;

pub use builtin::{BUILTIN_CHAINS, builtin_about, builtin_chains};
pub(crate) use chain::Op;
#[cfg(test)]
pub(crate) use chain::collect;
pub use chain::{
    Chain, ChainError, Format, InFlight, SegmentValue, Step, VcpuSegments, WrongSourceFormat,
};
pub use registry::{Engine, Profile, UnknownProfile};
pub use rule::{Rule, RuleKind, RuleSet, UnknownRule};
#[cfg(all(test, feature = "std"))]
pub(crate) use specialised::inlined::INLINED_RUNS;
#[cfg(all(test, feature = "std"))]
pub(crate) use specialised::inlined_vcpu::INLINED_VCPU_RUNS;
#[cfg(test)]
pub(crate) use specialised::tests::OTHER_PIPELINES;
pub(crate) use stack::StackOp;
pub use stack::StackValue;
