//! Cooking profiles: what real implementations do to a segment on get and on set,
//! named and versioned, every rule individually switchable.
//!
//! Raw codecs in [`crate::format`] never cook; everything that changes a value on its
//! way through KVM or QEMU happens here, as a named [`Rule`]. A [`Profile`] is an
//! engine plus the rules one release applied; a [`Chain`] strings profiles together
//! into the path a state takes.

pub mod bhyve;
mod chain;
pub mod nested;
pub mod qemu;
pub mod qemu_modes;
mod registry;
mod rule;
pub mod rustvmm;
mod stack;
mod stack_profiles;
pub mod svm;
pub mod vbox;
pub mod vmx;
pub mod xen;

pub use chain::{
    Chain, ChainError, Format, InFlight, Op, SegmentValue, Step, VcpuSegments, WrongSourceFormat,
};
pub use registry::{Engine, Profile, UnknownProfile};
pub use rule::{Rule, RuleKind, RuleSet, UnknownRule};
pub use stack::{StackOp, StackValue};
