//! Segment selectors (SDM Vol. 3A §3.4.2, APM Vol. 2 §4.5.1).
//!
//! ```
//! use segstate::arch::{PrivilegeLevel, Selector, TableIndicator};
//!
//! // Linux's __USER_DS: GDT index 5, RPL 3.
//! let user_ds = Selector::new(5, TableIndicator::Gdt, PrivilegeLevel::Ring3)?;
//! assert_eq!(user_ds, Selector(0x2b));
//! assert_eq!(user_ds.rpl(), PrivilegeLevel::Ring3);
//! assert_eq!(user_ds.table_offset(), 40);
//! // An index needs 13 bits: 8192 is refused, never wrapped.
//! assert!(Selector::new(8192, TableIndicator::Gdt, PrivilegeLevel::Ring0).is_err());
//! # Ok::<(), segstate::arch::IndexOutOfRange>(())
//! ```

use core::fmt;

use super::PrivilegeLevel;

/// Which descriptor table a selector indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableIndicator {
    /// The global descriptor table (TI = 0).
    Gdt,
    /// The local descriptor table (TI = 1).
    Ldt,
}

/// A 16-bit segment selector: index (bits 15:3), table indicator (bit 2), RPL (bits 1:0).
///
/// Every 16-bit value is a valid selector, so this wraps the raw word. The index is
/// 13 bits wide: building a selector from an index never goes through `u8` (a peer
/// code base computes `index * 8` in `u8`, which overflows from index 32 on).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Selector(pub u16);

out_of_range_error! {
    /// A descriptor-table index above 8191 cannot be put in a selector.
    IndexOutOfRange(u16): "descriptor index {} does not fit in 13 bits (max 8191)"
}

impl Selector {
    /// The null selector with RPL 0.
    pub const NULL: Selector = Selector(0);

    /// Builds a selector from its parts.
    pub const fn new(
        index: u16,
        table: TableIndicator,
        rpl: PrivilegeLevel,
    ) -> Result<Self, IndexOutOfRange> {
        if index > 0x1fff {
            return Err(IndexOutOfRange(index));
        }
        let ti = match table {
            TableIndicator::Gdt => 0,
            TableIndicator::Ldt => 1 << 2,
        };
        Ok(Selector((index << 3) | ti | rpl.bits() as u16))
    }

    /// The descriptor index (bits 15:3).
    #[must_use]
    pub const fn index(self) -> u16 {
        self.0 >> 3
    }

    /// The table indicator (bit 2).
    #[must_use]
    pub const fn table(self) -> TableIndicator {
        if self.0 & 4 == 0 {
            TableIndicator::Gdt
        } else {
            TableIndicator::Ldt
        }
    }

    /// The requested privilege level (bits 1:0).
    #[must_use]
    pub const fn rpl(self) -> PrivilegeLevel {
        PrivilegeLevel::from_low_bits(self.0 as u8)
    }

    /// The same selector with another RPL.
    #[must_use]
    pub const fn with_rpl(self, rpl: PrivilegeLevel) -> Self {
        Selector((self.0 & !3) | rpl.bits() as u16)
    }

    /// A null selector: index 0 in the GDT, any RPL (SDM Vol. 3A §3.4.2).
    #[must_use]
    pub const fn is_null(self) -> bool {
        self.0 & !3 == 0
    }

    /// Byte offset of the descriptor within its table.
    #[must_use]
    pub const fn table_offset(self) -> u32 {
        (self.0 as u32) & !7
    }
}

impl From<u16> for Selector {
    fn from(raw: u16) -> Self {
        Selector(raw)
    }
}

impl From<Selector> for u16 {
    fn from(sel: Selector) -> u16 {
        sel.0
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Selector({:#06x}: index {}, {:?}, RPL {})",
            self.0,
            self.index(),
            self.table(),
            self.rpl()
        )
    }
}

impl_display!(Selector, |s| "{:#06x}", s.0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_for_every_selector() {
        for raw in 0..=u16::MAX {
            let sel = Selector(raw);
            let rebuilt = Selector::new(sel.index(), sel.table(), sel.rpl()).unwrap();
            assert_eq!(rebuilt, sel);
        }
    }

    /// Peer bug: `(table_index * 8) as u16` computed in `u8` wraps from index 32 on.
    #[test]
    fn index_above_31_does_not_overflow() {
        let sel = Selector::new(40, TableIndicator::Gdt, PrivilegeLevel::Ring3).unwrap();
        assert_eq!(sel.0, 40 * 8 + 3);
        assert_eq!(sel.index(), 40);
        let top = Selector::new(8191, TableIndicator::Ldt, PrivilegeLevel::Ring0).unwrap();
        assert_eq!(top.0, 0xfffc);
        assert_eq!(
            Selector::new(8192, TableIndicator::Gdt, PrivilegeLevel::Ring0),
            Err(IndexOutOfRange(8192))
        );
        assert_eq!(
            alloc::string::ToString::to_string(&IndexOutOfRange(8192)),
            "descriptor index 8192 does not fit in 13 bits (max 8191)"
        );
    }

    #[test]
    fn null_ignores_rpl_but_not_table() {
        assert!(Selector(0).is_null());
        assert!(Selector(3).is_null());
        assert!(!Selector(4).is_null());
        assert!(!Selector(8).is_null());
    }
}
