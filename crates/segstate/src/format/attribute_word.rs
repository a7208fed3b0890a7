//! The attribute word of a segment shape, and the two conversions of a shape that has
//! no unusable bit, each written once.
//!
//! Every shape packs a segment's attributes into one word of its own layout and leaves
//! some of its bits undefined. A strict decode refuses a word with any of them set,
//! naming the shape, the field and the whole word ([`AttributeWord`]; each word, its
//! reserved mask and its refusal are declared together with [`attribute_word!`]). A
//! shape whose word has no unusable bit (the VMCB, Hyper-V) says "unusable" only with
//! P = 0; [`without_unusable_bit!`] writes its strict decode and its refusing encode
//! from that one rule.

use super::FormatError;

/// A segment attribute word: what a strict decode refuses in it, and how it says so.
pub(crate) trait AttributeWord: Copy {
    /// The shape the word belongs to, as a [`FormatError`] names it (`"vmcb_seg"`).
    const FORMAT: &'static str;
    /// The field that holds it (`"attrib"`).
    const FIELD: &'static str;
    /// The bits the layout leaves undefined.
    const RESERVED: u64;
    /// Why a word with any of them set is refused.
    const RESERVED_REASON: &'static str;

    /// The whole word, as the refusal reports it.
    fn word(self) -> u64;

    /// Refuses a word with reserved bits set; the error carries the whole word.
    #[inline]
    fn check_reserved(self) -> Result<(), FormatError> {
        if self.word() & Self::RESERVED == 0 {
            Ok(())
        } else {
            Err(FormatError {
                format: Self::FORMAT,
                field: Self::FIELD,
                value: self.word(),
                reason: Self::RESERVED_REASON,
            })
        }
    }
}

/// Declares a newtype attribute word: the newtype itself (plain data over its integer,
/// stored on the wire as that integer), its `RESERVED_MASK`, and its [`AttributeWord`]
/// impl naming the shape and field a refusal reports and the reason.
macro_rules! attribute_word {
    (
        $(#[$meta:meta])*
        pub struct $word:ident(pub $int:ty) in $format:literal . $field:literal;
        $(#[$mask_doc:meta])*
        reserved $mask:expr, $reason:literal
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
        #[repr(transparent)]
        pub struct $word(pub $int);

        impl $word {
            $(#[$mask_doc])*
            pub const RESERVED_MASK: $int = $mask;
        }

        impl $crate::format::attribute_word::AttributeWord for $word {
            const FORMAT: &'static str = $format;
            const FIELD: &'static str = $field;
            const RESERVED: u64 = $word::RESERVED_MASK as u64;
            const RESERVED_REASON: &'static str = $reason;

            #[inline]
            fn word(self) -> u64 {
                self.0.into()
            }
        }

        impl $crate::format::wire::LeField for $word {
            const WIDTH: usize = <$int as $crate::format::wire::LeField>::WIDTH;
            fn put(self, out: &mut [u8]) {
                $crate::format::wire::LeField::put(self.0, out);
            }
            fn get(bytes: &[u8]) -> Self {
                $word(<$int as $crate::format::wire::LeField>::get(bytes))
            }
        }
    };
}

pub(crate) use attribute_word;

/// Writes the two conversions of a shape with `selector: u16`, `base`, `limit` and an
/// attribute word without an unusable bit (one with `attributes()` and
/// `from_attributes()`): the strict decode refuses reserved bits and reads P = 0 as
/// unusable ([`segment_without_unusable_bit`](super::segment_without_unusable_bit));
/// the encode refuses what would come back as its neighbour
/// ([`require_unusable_is_not_present`](super::require_unusable_is_not_present)),
/// naming `$p_field` and the reason `$refusal` gives for the segment's `unusable`.
macro_rules! without_unusable_bit {
    (
        $(#[$decode_doc:meta])*
        decode $shape:ident . $word:ident : $word_ty:ty,
        $(#[$encode_doc:meta])*
        encode refusing $p_field:literal, |$unusable:ident| $refusal:expr
    ) => {
        impl TryFrom<$shape> for Segment {
            type Error = FormatError;

            $(#[$decode_doc])*
            #[inline]
            fn try_from(v: $shape) -> Result<Self, FormatError> {
                use $crate::format::attribute_word::AttributeWord;
                v.$word.check_reserved()?;
                let attributes = v.$word.attributes();
                Ok($crate::format::segment_without_unusable_bit(
                    Selector(v.selector),
                    v.base,
                    v.limit,
                    attributes,
                ))
            }
        }

        impl TryFrom<Segment> for $shape {
            type Error = FormatError;

            $(#[$encode_doc])*
            #[inline]
            fn try_from(s: Segment) -> Result<Self, FormatError> {
                use $crate::format::attribute_word::AttributeWord;
                let $unusable = s.unusable;
                $crate::format::require_unusable_is_not_present(
                    &s,
                    <$word_ty as AttributeWord>::FORMAT,
                    $p_field,
                    $refusal,
                )?;
                Ok($shape {
                    selector: s.selector.0,
                    base: s.base,
                    limit: s.limit,
                    $word: <$word_ty>::from_attributes(s.attributes),
                })
            }
        }
    };
}

pub(crate) use without_unusable_bit;
