//! The architectural truth: selectors, privilege levels, descriptor caches, descriptors.
//!
//! Nothing here knows any hypervisor's layout; the formats in [`crate::format`] convert
//! to and from these types.
//! The decoders and packers those conversions call are `#[inline]`, for the reason
//! [`crate::format`]'s module doc gives.

/// Declares an error that carries one raw value out of its range: the newtype (plain
/// data), its `Display` with `{}` standing for the value, and `core::error::Error`.
macro_rules! out_of_range_error {
    ($(#[$doc:meta])* $name:ident($raw:ty): $message:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(pub $raw);

        impl_display!($name, |e| $message, e.0);

        impl core::error::Error for $name {}
    };
}

mod descriptor;
mod guest_state;
mod mode;
pub mod msr;
pub mod paging;
mod privilege;
mod seg_reg;
mod segment;
mod segment_type;
mod selector;
#[cfg(feature = "serde")]
mod serde_impls;
mod state;

pub use descriptor::{Descriptor, DescriptorError, GateDescriptor, GateKind, SystemDescriptor};
pub use guest_state::{
    DescriptorTable, GuestField, GuestState, ModeGap, ModeSoFar, ShownMode, SvmControls,
    VmxControls,
};
pub use mode::{
    CR0_CD, CR0_ET, CR0_NE, CR0_NW, CR0_PE, CR0_PG, CR4_LA57, CR4_PAE, CR4_PCIDE, CR4_PSE,
    CR4_VMXE, CpuMode, EFER_LMA, EFER_LME, EFER_SVME, RFLAGS_IF, RFLAGS_TF, RFLAGS_VM,
};
pub use privilege::{Cpl, InvalidPrivilegeLevel, PrivilegeLevel};
pub use seg_reg::{PerSegReg, SegReg, UnknownSegReg};
pub use segment::{Attributes, FieldChange, Segment, limit_matches_granularity};
pub use segment_type::SegmentType;
pub use selector::{IndexOutOfRange, Selector, TableIndicator};
pub use state::{SegmentState, Vendor};
