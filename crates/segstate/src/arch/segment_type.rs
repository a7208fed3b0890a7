//! The 4-bit type field of a descriptor (SDM Vol. 3A §3.4.5.1 and §3.5, APM Vol. 2 §4.7–4.8).

use core::fmt;

/// The type field (descriptor bits 43:40). Its meaning depends on the S bit: for code
/// and data segments (S = 1) the bits are accessed/writable/expand-down/code or
/// accessed/readable/conforming/code; for system descriptors (S = 0) the value names a
/// TSS, LDT or gate.
///
/// A value of this type is always in `0..=15`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SegmentType(u8);

impl SegmentType {
    /// Bit 0 of a code or data type: the descriptor has been accessed.
    pub const ACCESSED: u8 = 1 << 0;
    /// Bit 1 of a data type: writable. Of a code type: readable.
    pub const WRITE_OR_READ: u8 = 1 << 1;
    /// Bit 2 of a data type: expand-down. Of a code type: conforming.
    pub const EXPAND_DOWN_OR_CONFORMING: u8 = 1 << 2;
    /// Bit 3: code (1) or data (0), for S = 1.
    pub const CODE: u8 = 1 << 3;
    /// Bit 1 of a TSS type: busy.
    pub const TSS_BUSY: u8 = 1 << 1;

    /// System type 2: LDT.
    pub const LDT: SegmentType = SegmentType(2);
    /// System type 3: 16-bit busy TSS.
    pub const TSS16_BUSY: SegmentType = SegmentType(3);
    /// System type 9: available 32-bit (or, in IA-32e mode, 64-bit) TSS.
    pub const TSS_AVAILABLE: SegmentType = SegmentType(9);
    /// System type 11: busy 32-bit (or 64-bit) TSS.
    pub const TSS_BUSY_TYPE: SegmentType = SegmentType(11);
    /// Data type 3: read/write, accessed.
    pub const DATA_RW_ACCESSED: SegmentType = SegmentType(3);
    /// Code type 11: execute/read, accessed.
    pub const CODE_XR_ACCESSED: SegmentType = SegmentType(11);

    /// Takes the low four bits, as `var->type & 0xf` does in KVM.
    #[inline]
    #[must_use]
    pub const fn from_low_bits(raw: u8) -> Self {
        SegmentType(raw & 0xf)
    }

    /// Strict decode: `None` for values above 15.
    #[inline]
    #[must_use]
    pub const fn new(raw: u8) -> Option<Self> {
        if raw > 0xf {
            None
        } else {
            Some(SegmentType(raw))
        }
    }

    /// The four bits.
    #[inline]
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Code segment (S = 1 and bit 3 set).
    #[must_use]
    pub const fn is_code(self) -> bool {
        self.0 & Self::CODE != 0
    }

    /// Accessed bit (bit 0) of a code or data type.
    #[must_use]
    pub const fn is_accessed(self) -> bool {
        self.0 & Self::ACCESSED != 0
    }

    /// A data segment that can be written: bit 1 of a data type.
    /// Code segments are never writable.
    #[must_use]
    pub const fn is_writable_data(self) -> bool {
        !self.is_code() && self.0 & Self::WRITE_OR_READ != 0
    }

    /// A segment that can be read: every data segment, and code with bit 1 (R) set.
    #[must_use]
    pub const fn is_readable(self) -> bool {
        !self.is_code() || self.0 & Self::WRITE_OR_READ != 0
    }

    /// A data segment that can only be read: data types 0, 1, 4 and 5.
    ///
    /// A peer code base tests `t & !2 == 0`, which holds for types 0 and 2 only: it
    /// calls RW type 2 read-only and misses types 1, 4 and 5.
    #[must_use]
    pub const fn is_read_only_data(self) -> bool {
        !self.is_code() && self.0 & Self::WRITE_OR_READ == 0
    }

    /// Expand-down data segment (bit 2 of a data type).
    #[must_use]
    pub const fn is_expand_down(self) -> bool {
        !self.is_code() && self.0 & Self::EXPAND_DOWN_OR_CONFORMING != 0
    }

    /// Conforming code segment (bit 2 of a code type).
    #[must_use]
    pub const fn is_conforming_code(self) -> bool {
        self.is_code() && self.0 & Self::EXPAND_DOWN_OR_CONFORMING != 0
    }

    /// The type with the accessed bit set.
    #[must_use]
    pub const fn with_accessed(self) -> Self {
        SegmentType(self.0 | Self::ACCESSED)
    }

    /// The type with the TSS busy bit set.
    #[must_use]
    pub const fn with_busy(self) -> Self {
        SegmentType(self.0 | Self::TSS_BUSY)
    }

    /// SDM-style name for a code/data type (S = 1).
    #[must_use]
    pub const fn code_data_name(self) -> &'static str {
        const NAMES: [&str; 16] = [
            "data RO",
            "data RO accessed",
            "data RW",
            "data RW accessed",
            "data RO expand-down",
            "data RO expand-down accessed",
            "data RW expand-down",
            "data RW expand-down accessed",
            "code XO",
            "code XO accessed",
            "code XR",
            "code XR accessed",
            "code XO conforming",
            "code XO conforming accessed",
            "code XR conforming",
            "code XR conforming accessed",
        ];
        NAMES[self.0 as usize]
    }

    /// SDM-style name for a system type (S = 0) in IA-32e mode (SDM Vol. 3A Table 3-2).
    #[must_use]
    pub const fn system_name_long_mode(self) -> &'static str {
        SYSTEM_NAMES[self.0 as usize].1
    }

    /// SDM-style name for a system type (S = 0) outside IA-32e mode (SDM Vol. 3A
    /// Table 3-2).
    #[must_use]
    pub const fn system_name_legacy(self) -> &'static str {
        SYSTEM_NAMES[self.0 as usize].0
    }
}

/// SDM Vol. 3A Table 3-2 ("System-Segment and Gate-Descriptor Types"), a row per type:
/// its name in 32-bit mode and in IA-32e mode.
const SYSTEM_NAMES: [(&str, &str); 16] = [
    ("reserved", "reserved"),
    ("16-bit TSS (available)", "reserved"),
    ("LDT", "LDT"),
    ("16-bit TSS (busy)", "reserved"),
    ("16-bit call gate", "reserved"),
    ("task gate", "reserved"),
    ("16-bit interrupt gate", "reserved"),
    ("16-bit trap gate", "reserved"),
    ("reserved", "reserved"),
    ("32-bit TSS (available)", "64-bit TSS (available)"),
    ("reserved", "reserved"),
    ("32-bit TSS (busy)", "64-bit TSS (busy)"),
    ("32-bit call gate", "64-bit call gate"),
    ("reserved", "reserved"),
    ("32-bit interrupt gate", "64-bit interrupt gate"),
    ("32-bit trap gate", "64-bit trap gate"),
];

impl fmt::Debug for SegmentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentType({})", self.0)
    }
}

impl_display!(SegmentType, |t| "{}", t.0);

#[cfg(test)]
mod tests {
    use super::*;

    /// SDM Vol. 3A Table 3-1, row by row.
    #[test]
    fn read_only_and_writable_follow_table_3_1() {
        let read_only: [u8; 4] = [0, 1, 4, 5];
        let writable: [u8; 4] = [2, 3, 6, 7];
        for raw in 0..16u8 {
            let t = SegmentType::new(raw).unwrap();
            assert_eq!(
                t.is_read_only_data(),
                read_only.contains(&raw),
                "type {raw}"
            );
            assert_eq!(t.is_writable_data(), writable.contains(&raw), "type {raw}");
            assert_eq!(t.is_code(), raw >= 8, "type {raw}");
            // Code is readable only with R (bit 1); data always.
            assert_eq!(t.is_readable(), raw < 8 || raw & 2 != 0, "type {raw}");
            assert_eq!(t.is_conforming_code(), matches!(raw, 12..=15), "type {raw}");
            assert_eq!(t.is_expand_down(), matches!(raw, 4..=7), "type {raw}");
        }
    }

    #[test]
    fn strict_decode_and_masking() {
        assert_eq!(SegmentType::new(16), None);
        assert_eq!(SegmentType::from_low_bits(0x1b).bits(), 0xb);
        assert_eq!(
            SegmentType::TSS_AVAILABLE.with_busy(),
            SegmentType::TSS_BUSY_TYPE
        );
    }
}
