//! The whole-vCPU state every consumer shares: what check judges, verify enumerates,
//! snapshots carry and the readers produce.

use super::{Cpl, PerSegReg, Segment};

/// The part of a vCPU state the segment rules read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct SegmentState {
    /// The eight segment registers.
    pub segments: PerSegReg<Segment>,
    /// The CPL: VMCB.CPL on AMD, SS.DPL elsewhere.
    pub cpl: Cpl,
    /// CR0.
    pub cr0: u64,
    /// CR4.
    pub cr4: u64,
    /// EFER.
    pub efer: u64,
    /// RFLAGS.
    pub rflags: u64,
}

/// A CPU vendor, as far as the entry checks are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Vendor {
    /// Intel VMX (and the `kvm_intel`-style backends).
    Intel,
    /// AMD SVM (and Hygon).
    Amd,
}

impl Vendor {
    /// From a CPUID vendor string (`GenuineIntel`, `AuthenticAMD`, `HygonGenuine`).
    #[must_use]
    pub fn from_cpuid_vendor(s: &str) -> Option<Self> {
        match s.trim() {
            "GenuineIntel" => Some(Vendor::Intel),
            "AuthenticAMD" | "HygonGenuine" => Some(Vendor::Amd),
            _ => None,
        }
    }

    /// Lower-case name: `intel`, `amd`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Intel => "intel",
            Vendor::Amd => "amd",
        }
    }
}

display_by_name!(Vendor);
