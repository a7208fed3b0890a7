//! Privilege levels: CPL, DPL and RPL all live in 0..=3.
//!
//! ```
//! use segstate::arch::PrivilegeLevel;
//!
//! // A raw DPL byte from a kvm_segment: decode strictly, or mask as KVM's set path does.
//! assert_eq!(PrivilegeLevel::try_from(3u8), Ok(PrivilegeLevel::Ring3));
//! assert!(PrivilegeLevel::try_from(7u8).is_err());
//! assert_eq!(PrivilegeLevel::from_low_bits(7), PrivilegeLevel::Ring3);
//! // Lower is more privileged.
//! assert!(PrivilegeLevel::Ring0.is_at_least_as_privileged_as(PrivilegeLevel::Ring3));
//! ```

use core::fmt;

/// A hardware privilege level (SDM Vol. 3A §5.5, APM Vol. 2 §4.9).
///
/// The same two-bit quantity appears as the CPL of the running code, the DPL of a
/// descriptor and the RPL of a selector. A value of this type is always in `0..=3`;
/// raw bytes that may hold anything stay `u8` until they are decoded with
/// [`PrivilegeLevel::try_from`] (strict) or [`PrivilegeLevel::from_low_bits`] (the
/// `& 3` masking every KVM and QEMU set path applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "u8", into = "u8")
)]
pub enum PrivilegeLevel {
    /// Ring 0: the kernel.
    Ring0 = 0,
    /// Ring 1.
    Ring1 = 1,
    /// Ring 2.
    Ring2 = 2,
    /// Ring 3: user code.
    Ring3 = 3,
}

/// The current privilege level of a vCPU.
///
/// KVM's UAPI has no CPL field: by convention SS.DPL carries it (SDM Vol. 3C §24.4.1:
/// "the value of the DPL field for SS is always equal to the logical processor's CPL").
/// AMD keeps it in a byte of its own, VMCB save area offset 0xCB.
pub type Cpl = PrivilegeLevel;

impl PrivilegeLevel {
    /// All four levels, most privileged first.
    pub const ALL: [PrivilegeLevel; 4] = [Self::Ring0, Self::Ring1, Self::Ring2, Self::Ring3];

    /// Takes the low two bits of `raw`, as `var->dpl & 3` does in KVM.
    #[inline]
    #[must_use]
    pub const fn from_low_bits(raw: u8) -> Self {
        match raw & 3 {
            0 => Self::Ring0,
            1 => Self::Ring1,
            2 => Self::Ring2,
            _ => Self::Ring3,
        }
    }

    /// The level as its two-bit number.
    #[inline]
    #[must_use]
    pub const fn bits(self) -> u8 {
        self as u8
    }

    /// True when `self` may do everything `other` may (numerically lower or equal).
    #[must_use]
    pub const fn is_at_least_as_privileged_as(self, other: Self) -> bool {
        self.bits() <= other.bits()
    }
}

out_of_range_error! {
    /// A raw value that does not fit in two bits.
    InvalidPrivilegeLevel(u8): "privilege level {} is out of range 0..=3"
}

impl TryFrom<u8> for PrivilegeLevel {
    type Error = InvalidPrivilegeLevel;

    #[inline]
    fn try_from(raw: u8) -> Result<Self, Self::Error> {
        if raw > 3 {
            Err(InvalidPrivilegeLevel(raw))
        } else {
            Ok(Self::from_low_bits(raw))
        }
    }
}

impl From<PrivilegeLevel> for u8 {
    #[inline]
    fn from(level: PrivilegeLevel) -> u8 {
        level.bits()
    }
}

impl fmt::Display for PrivilegeLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decode_refuses_values_above_three() {
        for raw in 0..=255u8 {
            let strict = PrivilegeLevel::try_from(raw);
            if raw <= 3 {
                assert_eq!(strict.unwrap().bits(), raw);
            } else {
                assert_eq!(strict, Err(InvalidPrivilegeLevel(raw)));
            }
            assert_eq!(PrivilegeLevel::from_low_bits(raw).bits(), raw & 3);
        }
    }

    #[test]
    fn ordering_follows_privilege() {
        assert!(PrivilegeLevel::Ring0.is_at_least_as_privileged_as(PrivilegeLevel::Ring3));
        assert!(!PrivilegeLevel::Ring3.is_at_least_as_privileged_as(PrivilegeLevel::Ring0));
    }
}
