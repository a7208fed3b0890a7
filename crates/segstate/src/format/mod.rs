//! Each wire shape of a segment register, raw and bit-exact.
//!
//! Types here mirror their C layouts field for field and keep raw values as they came:
//! a byte that may hold garbage stays a `u8` until it is decoded. Decoding to the
//! architectural [`crate::arch::Segment`] is strict: a value the format cannot hold
//! or a value the architecture cannot mean is a [`FormatError`], never dropped.
//! Nothing here cooks: the hypervisors' and VMMs' fixups live in [`crate::profile`].
//!
//! Every conversion between a shape and [`Segment`], and every word decoder or packer
//! one calls (here and in [`crate::arch`]), is `#[inline]`: their callers are mostly in
//! other crates, where a non-generic function without it stays an out-of-line call, and
//! one such call per segment made the strict conversions 1.3-5x slower than C until it
//! was found (BENCHMARKS.md section 1).

use crate::arch::{Attributes, Segment, Selector};

mod attribute_word;
pub mod bhyve;
pub mod crosvm;
pub mod hyperfuzzer;
pub mod hyperv;
pub mod kvm;
#[cfg(feature = "kvm-bindings")]
pub mod kvm_bindings;
pub mod propolis;
pub mod qemu;
pub mod svm;
pub mod vbox;
pub mod vmx;
mod wire;
pub mod xen;

/// A value that a format cannot hold, or that a strict decode refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// The format, e.g. `"kvm_segment"`.
    pub format: &'static str,
    /// The field, e.g. `"dpl"`.
    pub field: &'static str,
    /// The offending value.
    pub value: u64,
    /// Why it was refused.
    pub reason: &'static str,
}

impl_display!(
    FormatError,
    |e| "{}.{} = {:#x}: {}",
    e.format,
    e.field,
    e.value,
    e.reason
);

impl core::error::Error for FormatError {}

/// The segment a shape without an unusable bit means (the VMCB, Hyper-V, Xen's
/// `segment_register`, QEMU's `SegmentCache`): P = 0 is its only way to say
/// "unusable", so `unusable = !P`.
#[inline]
pub(crate) const fn segment_without_unusable_bit(
    selector: Selector,
    base: u64,
    limit: u32,
    attributes: Attributes,
) -> Segment {
    Segment {
        selector,
        base,
        limit,
        attributes,
        unusable: !attributes.present,
    }
}

/// Refuses a segment that a shape without an unusable bit cannot hold exactly: one
/// that is unusable yet present, or usable yet not present, would come back as its
/// neighbour. The error's value is the segment's `unusable` (in a refused segment,
/// P has the same value).
#[inline]
pub(crate) fn require_unusable_is_not_present(
    s: &Segment,
    format: &'static str,
    field: &'static str,
    reason: &'static str,
) -> Result<(), FormatError> {
    if s.unusable == s.attributes.present {
        Err(FormatError {
            format,
            field,
            value: s.unusable.into(),
            reason,
        })
    } else {
        Ok(())
    }
}

/// Reads a little-endian integer at `offset`. The caller has checked the length.
pub(crate) fn le_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(b)
}

pub(crate) fn le_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(b)
}

pub(crate) fn le_u16(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes([bytes[offset], bytes[offset + 1]])
}

/// Reads a big-endian integer at `offset` (the headers of Xen streams, qcow2 images and
/// makedumpfile's flattened format, all read with `serde`). The caller has checked the
/// length.
#[cfg(feature = "serde")]
pub(crate) fn be_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_be_bytes(b)
}

#[cfg(feature = "serde")]
pub(crate) fn be_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_be_bytes(b)
}

#[cfg(feature = "serde")]
pub(crate) fn be_u16(bytes: &[u8], offset: usize) -> u16 {
    u16::from_be_bytes([bytes[offset], bytes[offset + 1]])
}

/// A byte slice whose length does not match the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthError {
    /// The format, e.g. `"struct kvm_sregs"`.
    pub format: &'static str,
    /// The length the format has.
    pub expected: usize,
    /// The length that was given.
    pub found: usize,
}

impl_display!(
    LengthError,
    |e| "{} is {} bytes, got {}",
    e.format,
    e.expected,
    e.found
);

impl core::error::Error for LengthError {}

pub(crate) fn exact_len(
    format: &'static str,
    bytes: &[u8],
    expected: usize,
) -> Result<(), LengthError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(LengthError {
            format,
            expected,
            found: bytes.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::crosvm::CrosvmSegment;
    use super::hyperv::HvSegmentRegister;
    use super::qemu::QemuSegmentCache;
    use super::svm::VmcbSegment;
    use crate::arch::{Attributes, PrivilegeLevel, Segment, Selector};

    /// A shape without an unusable bit: a segment through its strict encode and decode,
    /// and the format and field its refusals name.
    type Shape = (
        fn(Segment) -> Result<Segment, super::FormatError>,
        &'static str,
        &'static str,
    );

    /// The SS a null-selector load at CPL 3 leaves: selector 0x2b, unusable, P = 0,
    /// DPL 3 (the CPL) kept.
    pub(super) fn user_null_ss() -> Segment {
        Segment::null(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3))
    }

    /// Encodes `s` as shape `T`, asserts that the strict decode gives `s` back, and
    /// returns the encoding for the caller's assertions on its raw fields.
    pub(super) fn encodes_and_decodes_back<T, E>(s: Segment) -> T
    where
        T: TryFrom<Segment, Error = E> + Copy,
        E: core::fmt::Debug,
        Segment: TryFrom<T, Error = super::FormatError>,
    {
        let encoded = T::try_from(s).expect("the segment has an exact encoding");
        assert_eq!(Segment::try_from(encoded), Ok(s));
        encoded
    }

    fn through<T>(s: Segment) -> Result<Segment, super::FormatError>
    where
        T: TryFrom<Segment, Error = super::FormatError>,
        Segment: TryFrom<T, Error = super::FormatError>,
    {
        Segment::try_from(T::try_from(s)?)
    }

    /// The one rule of every shape without an unusable bit: an unusable SS with P = 0
    /// keeps its DPL both ways; unusable yet present, and usable yet not present, are
    /// refused naming the shape's own field, with the unusable flag as the value.
    #[test]
    fn shapes_without_an_unusable_bit_share_one_rule() {
        let shapes: [Shape; 4] = [
            (through::<VmcbSegment>, "vmcb_seg", "attrib.P"),
            (
                through::<HvSegmentRegister>,
                "hv_x64_segment_register",
                "unusable",
            ),
            (through::<QemuSegmentCache>, "SegmentCache", "flags.P"),
            (through::<CrosvmSegment>, "crosvm Segment", "unusable"),
        ];
        let null_ss = user_null_ss();
        let mut unusable_present = null_ss;
        unusable_present.attributes.present = true;
        let mut usable_absent = null_ss;
        usable_absent.unusable = false;
        for (round_trip, format, field) in shapes {
            assert_eq!(round_trip(null_ss), Ok(null_ss), "{format}");
            for (refused, value) in [(unusable_present, 1), (usable_absent, 0)] {
                let e = round_trip(refused).unwrap_err();
                assert_eq!((e.format, e.field, e.value), (format, field, value));
            }
        }
    }
}
