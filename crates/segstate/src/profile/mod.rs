//! Cooking profiles: what real implementations do to a segment on get and on set,
//! named and versioned, every rule individually switchable.
//!
//! Raw codecs in [`crate::format`] never cook; everything that changes a value on its
//! way through KVM or QEMU happens here, as a named [`Rule`]. A [`Profile`] is an
//! engine plus the rules one release applied; a [`Chain`] strings profiles together
//! into the path a state takes.

mod chain;
mod compiled;
pub mod qemu;
mod registry;
mod rule;
mod specialised;
pub mod svm;
pub mod vmx;

pub use chain::{
    Chain, ChainError, Format, InFlight, Op, SegmentValue, Step, VcpuSegments, WrongSourceFormat,
};
pub use registry::{Engine, Profile, UnknownProfile};
pub use rule::{Rule, RuleKind, RuleSet, UnknownRule};
