//! The fields of a segment register a check may read: what the architectural checks
//! ([`super::arch::reads`]) and the VM-entry checks ([`super::vmx_entry::reads`])
//! declare, one set for both.

/// A set type `$name` over a byte whose members are its associated constants (one bit
/// each, in order), with `EACH` (every member), `NONE`, `ALL`, `and` (the union) and `meets`
/// (whether two sets intersect).
macro_rules! bit_set {
    ($(#[$doc:meta])* $name:ident { $($(#[$mdoc:meta])* $member:ident,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(u8);

        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum Bit { $($member,)* }

        impl $name {
            $($(#[$mdoc])* pub const $member: $name = $name(1 << Bit::$member as u8);)*
            /// Every member, each alone.
            pub const EACH: &'static [$name] = &[$($name::$member,)*];
            /// The empty set.
            pub const NONE: $name = $name(0);
            /// The set of every member.
            pub const ALL: $name = $name(0 $(| $name::$member.0)*);

            /// Both sets.
            #[must_use]
            pub const fn and(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }

            /// True when the sets share a member.
            #[must_use]
            pub const fn meets(self, other: $name) -> bool {
                self.0 & other.0 != 0
            }
        }
    };
}
pub(crate) use bit_set;

mod fields {
    bit_set!(
        /// Fields of a segment register.
        Fields {
            /// Selector bits 1:0.
            RPL,
            /// Selector bits 15:2: the table indicator and the index.
            INDEX,
            /// The base address.
            BASE,
            /// The limit.
            LIMIT,
            /// The attributes but AVL: type, S, DPL, P, L, D/B, G.
            ATTRIBUTES,
            /// Intel's unusable bit.
            UNUSABLE,
            /// AVL (access-rights bit 12), which no check reads: the guest-segment
            /// checks test the type, S, DPL, P, bits 11:8 and 31:17 (reserved), D/B,
            /// G and the unusable bit (SDM Vol. 3C §27.3.1.2), never bit 12.
            AVL,
        }
    );
}

pub use fields::Fields;

impl Fields {
    /// The whole selector: RPL, TI and index.
    pub const SELECTOR: Fields = Fields::RPL.and(Fields::INDEX);
    /// What a verify class member carries apart from its representative: the whole
    /// selector and the base.
    pub const CARRIED: Fields = Fields::SELECTOR.and(Fields::BASE);
}
