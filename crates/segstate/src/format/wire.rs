//! Little-endian C structs declared once: [`wire_struct!`] writes a struct, its size,
//! its `to_bytes` and its strict `from_bytes` from one list of fields with their byte
//! offsets, so a field's name, type and offset are never restated in three places.
//!
//! The offsets are checked at compile time to tile the struct exactly (no gap, no
//! overlap, nothing past the end): a layout mistake does not build. A wire struct is a
//! field of another as any integer is, so a C struct that nests others (HyperFuzzer's
//! `REG_FILE` of `REG_SEG64`s) is declared from theirs.

/// A fixed-width little-endian field of a wire struct.
pub(crate) trait LeField: Copy {
    /// Bytes on the wire.
    const WIDTH: usize;
    /// Writes the value into exactly [`Self::WIDTH`] bytes.
    fn put(self, out: &mut [u8]);
    /// Reads the value from exactly [`Self::WIDTH`] bytes.
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! le_int {
    ($($t:ty),*) => {$(
        impl LeField for $t {
            const WIDTH: usize = core::mem::size_of::<$t>();
            fn put(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                let mut b = [0u8; core::mem::size_of::<$t>()];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
        }
    )*};
}

le_int!(u8, u16, u32, u64);

/// A C array of fields (`__u16 pad[3]`): its elements one after another.
impl<T: LeField, const N: usize> LeField for [T; N] {
    const WIDTH: usize = N * T::WIDTH;
    fn put(self, out: &mut [u8]) {
        for (v, o) in self.into_iter().zip(out.chunks_exact_mut(T::WIDTH)) {
            v.put(o);
        }
    }
    fn get(bytes: &[u8]) -> Self {
        core::array::from_fn(|i| T::get(&bytes[i * T::WIDTH..(i + 1) * T::WIDTH]))
    }
}

// Attribute words are stored as their integer: `attribute_word!` gives each its impl.

/// Panics (at compile time, where it is called from a `const`) unless the fields,
/// in declaration order, follow each other without gap or overlap and end at `size`.
pub(crate) const fn check_layout(offsets: &[usize], widths: &[usize], size: usize) {
    let mut next = 0;
    let mut i = 0;
    while i < offsets.len() {
        assert!(
            offsets[i] == next,
            "wire struct field not at the end of the previous one"
        );
        next += widths[i];
        i += 1;
    }
    assert!(next == size, "wire struct fields do not add up to its size");
}

/// Declares a wire struct: the struct with its documented fields (plain data: `Copy`,
/// compared and hashed field by field, zero by default), `SIZE`,
/// `to_bytes` (little endian) and `from_bytes` (exactly `SIZE` bytes, else a
/// [`LengthError`](super::LengthError) naming the C struct).
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident ($c_name:literal, $size:literal bytes) {
            $( $(#[$fmeta:meta])* pub $field:ident: $ty:ty = @$off:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        const _: () = $crate::format::wire::check_layout(
            &[$($off),*],
            &[$(<$ty as $crate::format::wire::LeField>::WIDTH),*],
            $size,
        );

        impl $name {
            /// Size of the C struct.
            pub const SIZE: usize = $size;

            /// Little-endian bytes, as the C struct holds them.
            #[must_use]
            pub fn to_bytes(&self) -> [u8; Self::SIZE] {
                use $crate::format::wire::LeField;
                let mut out = [0u8; Self::SIZE];
                $( self.$field.put(&mut out[$off..$off + <$ty as LeField>::WIDTH]); )*
                out
            }

            /// The byte offset of a field by its C name (Rust's trailing `_` dropped),
            /// as a [`FormatError`](crate::format::FormatError) names it.
            #[allow(dead_code)]
            pub(crate) fn field_offset(name: &str) -> Option<usize> {
                [$((stringify!($field), $off)),*]
                    .into_iter()
                    .find(|(field, _)| field.trim_end_matches('_') == name)
                    .map(|(_, off)| off)
            }

            #[doc = concat!("Reads the struct from exactly ", stringify!($size), " bytes.")]
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, $crate::format::LengthError> {
                $crate::format::exact_len($c_name, bytes, Self::SIZE)?;
                Ok(<Self as $crate::format::wire::LeField>::get(bytes))
            }
        }

        // A wire struct is itself a field: one C struct nests in another
        // (`REG_FILE`'s `REG_SEG64`s) and is declared once.
        impl $crate::format::wire::LeField for $name {
            const WIDTH: usize = $size;
            fn put(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                use $crate::format::wire::LeField;
                $name {
                    $( $field: <$ty as LeField>::get(&bytes[$off..$off + <$ty as LeField>::WIDTH]), )*
                }
            }
        }
    };
}

pub(crate) use wire_struct;

/// Declares a segment record: a [`wire_struct!`] holding the fields every segment
/// shape stores, each written `keyword @offset "C name",` in wire order: `selector`
/// (`u16`), `limit` (`u32`, byte-granular), `base` (`u64`) and, in a shape that packs
/// the attributes into one word, that word (`name: Type @offset "C name"`, a newtype of
/// the shape's own layout). Their types are written here once; each field's doc names
/// its C field. Fields of the shape's own (VirtualBox's `ValidSel`, `kvm_segment`'s
/// attribute bytes) are declared among them as in [`wire_struct!`]. Every item ends
/// with a comma.
macro_rules! segment_record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident ($c_name:literal, $size:literal bytes) { $($fields:tt)* }
    ) => {
        $crate::format::wire::segment_record! {
            @fields [$(#[$meta])* pub struct $name ($c_name, $size bytes)] [] $($fields)*
        }
    };
    (
        @fields $head:tt [$($done:tt)*]
        $(#[$fmeta:meta])* pub $field:ident: $ty:ty = @$off:literal, $($rest:tt)*
    ) => {
        $crate::format::wire::segment_record! {
            @fields $head [$($done)* $(#[$fmeta])* pub $field: $ty = @$off,] $($rest)*
        }
    };
    (
        @fields $head:tt [$($done:tt)*]
        $word:ident: $word_ty:ident @$off:literal $c:literal, $($rest:tt)*
    ) => {
        $crate::format::wire::segment_record! {
            @fields $head [
                $($done)*
                #[doc = concat!("`", $c, "`: the attribute word, [`", stringify!($word_ty), "`].")]
                pub $word: $word_ty = @$off,
            ] $($rest)*
        }
    };
    (@fields $head:tt [$($done:tt)*] $kw:ident @$off:literal $c:literal, $($rest:tt)*) => {
        $crate::format::wire::segment_record! {
            @fields $head [
                $($done)*
                #[doc = $crate::format::wire::segment_record!(@doc $kw $c)]
                pub $kw: $crate::format::wire::segment_record!(@type $kw) = @$off,
            ] $($rest)*
        }
    };
    (@fields [$($head:tt)*] [$($done:tt)*]) => {
        $crate::format::wire::wire_struct! { $($head)* { $($done)* } }
    };
    // Each keyword's type and doc.
    (@type selector) => { u16 };
    (@type limit) => { u32 };
    (@type base) => { u64 };
    (@doc selector $c:literal) => { concat!("`", $c, "`: the selector.") };
    (@doc limit $c:literal) => { concat!("`", $c, "`: the limit, byte-granular.") };
    (@doc base $c:literal) => { concat!("`", $c, "`: the base.") };
}

pub(crate) use segment_record;

#[cfg(test)]
mod tests {
    use crate::format::kvm::KvmSegment;
    use crate::format::svm::VmcbSegment;

    #[test]
    fn field_offsets_follow_the_declaration_by_c_name() {
        assert_eq!(KvmSegment::field_offset("base"), Some(0));
        assert_eq!(KvmSegment::field_offset("type"), Some(14));
        assert_eq!(KvmSegment::field_offset("type_"), None);
        assert_eq!(KvmSegment::field_offset("padding"), Some(23));
        assert_eq!(VmcbSegment::field_offset("attrib"), Some(2));
        assert_eq!(VmcbSegment::field_offset("cpl"), None);
    }

    #[test]
    fn bytes_sit_at_the_declared_offsets() {
        let seg = VmcbSegment::from_bytes(&[
            0x2b, 0x00, 0xf3, 0x0c, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8,
        ])
        .unwrap();
        assert_eq!(
            (seg.selector, seg.attrib.0, seg.limit, seg.base),
            (0x2b, 0xcf3, 0xffff_ffff, 0x0807_0605_0403_0201)
        );
        assert_eq!(seg.to_bytes()[2..4], [0xf3, 0x0c]);
        let short = VmcbSegment::from_bytes(&[0; 15]).unwrap_err();
        assert_eq!(short.to_string(), "struct vmcb_seg is 16 bytes, got 15");
    }
}
