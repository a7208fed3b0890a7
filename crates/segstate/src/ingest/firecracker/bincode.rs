//! A serde reader of bincode with fixed-width integers, the encoding of Firecracker's
//! snapshot formats 1 to 8 (Firecracker 1.7 to 1.14).
//!
//! Firecracker 1.7 to 1.11 wrote them with bincode 1
//! (`DefaultOptions::new().with_fixint_encoding()`, `src/vmm/src/snapshot/mod.rs`), 1.12
//! to 1.14 with bincode 2's serde mode and `config::standard().with_fixed_int_encoding()`
//! (little-endian). Both write the same bytes for the types Firecracker saves: integers
//! little-endian at their width, `usize` as a `u64`, a `bool` as one byte (0 or 1), a
//! sequence, string or byte string as its `u64` length then its elements, an `Option` as a
//! `u8` tag then the value, an enum variant as its `u32` index then its fields, a struct or
//! tuple as its fields in order with nothing between them.
//!
//! The format is not self-describing, so the reader follows the types it is asked for.
//! It keeps the path of fields being read (from the field names serde passes with each
//! struct), so that an error names where it happened: the field path and the byte offset.
//! Every length is checked against the bytes left before anything is allocated for it.

use std::fmt;
use std::string::{String, ToString};
use std::vec::Vec;

use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

/// A decoding error: what was wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    /// What was wrong.
    pub message: String,
    /// The path of the field being read (`data.vcpu_states[0].sregs`), once known.
    pub path: Option<String>,
    /// The byte offset the reader had reached, once known.
    pub offset: Option<usize>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(o) = self.offset {
            write!(f, " at offset {o} ({o:#x})")?;
        }
        Ok(())
    }
}

impl core::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            message: msg.to_string(),
            path: None,
            offset: None,
        }
    }
}

/// One step of the path: a struct field or a sequence index.
#[derive(Debug, Clone, Copy)]
enum Step {
    Field(&'static str),
    Index(u64),
}

/// The reader: the bytes, the offset reached, the path being read.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: Vec<Step>,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes` from offset `at`, the values read below the path `root`
    /// (e.g. `"data"`).
    pub(crate) fn new(bytes: &'a [u8], at: usize, root: &'static str) -> Self {
        Reader {
            bytes,
            at,
            path: std::vec![Step::Field(root)],
        }
    }

    /// The offset reached.
    #[cfg(test)]
    pub(crate) fn offset(&self) -> usize {
        self.at
    }

    /// Reads one `T` and places any error at the path and offset where it happened.
    pub(crate) fn read<T: de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        T::deserialize(&mut *self).map_err(|e| self.locate(e))
    }

    fn path_text(&self) -> String {
        let mut s = String::new();
        for step in &self.path {
            match step {
                Step::Field(name) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(name);
                }
                Step::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        s
    }

    /// Fills in the path and offset of an error that has none yet (serde's own errors
    /// and those of a `Deserialize` impl are made without them). The path is still the
    /// failing value's: a step is removed only after its value was read.
    fn locate(&self, mut e: Error) -> Error {
        if e.path.is_none() {
            e.path = Some(self.path_text());
        }
        if e.offset.is_none() {
            e.offset = Some(self.at);
        }
        e
    }

    fn fail(&self, message: String) -> Error {
        self.locate(Error {
            message,
            path: None,
            offset: None,
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(self.fail(format!(
                "the file ends: {n} bytes needed, {} left",
                self.bytes.len() - self.at
            ))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A length prefix, refused when it claims more elements than bytes are left (every
    /// element of the types read takes at least one byte): no allocation the file does
    /// not pay for.
    fn len(&mut self) -> Result<usize, Error> {
        let at = self.at;
        let n = self.u64()?;
        let left = self.bytes.len() - self.at;
        match usize::try_from(n) {
            Ok(n) if n <= left => Ok(n),
            _ => {
                self.at = at;
                Err(self.fail(format!(
                    "a length of {n}, more than the {left} bytes left in the file"
                )))
            }
        }
    }

    fn text(&mut self) -> Result<&'a str, Error> {
        let n = self.len()?;
        let at = self.at;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|e| {
            let mut err = self.fail(format!("a string that is not UTF-8 ({e})"));
            err.offset = Some(at);
            err
        })
    }

    fn within<T>(
        &mut self,
        step: Step,
        read: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.path.push(step);
        let value = read(self).map_err(|e| self.locate(e))?;
        self.path.pop();
        Ok(value)
    }
}

/// The elements of a sequence, tuple or struct: `count` values, each under its step.
struct Elements<'r, 'a> {
    reader: &'r mut Reader<'a>,
    count: usize,
    read: usize,
    fields: &'static [&'static str],
}

impl<'de> SeqAccess<'de> for Elements<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.read == self.count {
            return Ok(None);
        }
        let step = match self.fields.get(self.read) {
            Some(name) => Step::Field(name),
            None => Step::Index(self.read as u64),
        };
        self.read += 1;
        self.reader
            .within(step, |r| seed.deserialize(&mut *r))
            .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.count - self.read)
    }
}

impl<'de> MapAccess<'de> for Elements<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.read == self.count {
            return Ok(None);
        }
        let step = Step::Index(self.read as u64);
        self.reader
            .within(step, |r| seed.deserialize(&mut *r))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let step = Step::Index(self.read as u64);
        self.read += 1;
        self.reader.within(step, |r| seed.deserialize(&mut *r))
    }
}

impl<'de> EnumAccess<'de> for &mut Reader<'_> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let index = self.u32()?;
        let value = seed.deserialize(index.into_deserializer())?;
        Ok((value, self))
    }
}

impl<'de> VariantAccess<'de> for &mut Reader<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

macro_rules! fixed {
    ($($method:ident $visit:ident $t:ty;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit(<$t>::from_le_bytes(self.array()?))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Reader<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(self.fail(String::from(
            "a value of no declared type (bincode is not self-describing)",
        )))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.u8()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            b => {
                self.at -= 1;
                Err(self.fail(format!("a bool byte of {b}, not 0 or 1")))
            }
        }
    }

    fixed! {
        deserialize_i8 visit_i8 i8;
        deserialize_i16 visit_i16 i16;
        deserialize_i32 visit_i32 i32;
        deserialize_i64 visit_i64 i64;
        deserialize_u8 visit_u8 u8;
        deserialize_u16 visit_u16 u16;
        deserialize_u32 visit_u32 u32;
        deserialize_u64 visit_u64 u64;
        deserialize_f32 visit_f32 f32;
        deserialize_f64 visit_f64 f64;
    }

    fn deserialize_char<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(self.fail(String::from("a char (no Firecracker state type has one)")))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.text()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.text()?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = self.len()?;
        visitor.visit_bytes(self.take(n)?)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.u8()? {
            0 => visitor.visit_none(),
            1 => visitor.visit_some(self),
            t => {
                self.at -= 1;
                Err(self.fail(format!("an Option tag of {t}, not 0 or 1")))
            }
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let count = self.len()?;
        visitor.visit_seq(Elements {
            reader: self,
            count,
            read: 0,
            fields: &[],
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Elements {
            reader: self,
            count: len,
            read: 0,
            fields: &[],
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let count = self.len()?;
        visitor.visit_map(Elements {
            reader: self,
            count,
            read: 0,
            fields: &[],
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_seq(Elements {
            reader: self,
            count: fields.len(),
            read: 0,
            fields,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_u32(self.u32()?)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(self.fail(String::from(
            "a value to skip (bincode is not self-describing)",
        )))
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        A,
        B(u16),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        flag: bool,
        kind: Kind,
        name: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        size: u64,
        items: Vec<Inner>,
        pair: (u8, u32),
    }

    /// `Outer { size: 7, items: [Inner { true, B(0x1234), Some("fc") }, Inner { false, A,
    /// None }], pair: (9, 0xa0b0c0d) }` as bincode 1's fixint encoding writes it.
    fn encoded() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&7u64.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes());
        b.push(1);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0x1234u16.to_le_bytes());
        b.push(1);
        b.extend_from_slice(&2u64.to_le_bytes());
        b.extend_from_slice(b"fc");
        b.push(0);
        b.extend_from_slice(&0u32.to_le_bytes());
        b.push(0);
        b.push(9);
        b.extend_from_slice(&0x0a0b_0c0du32.to_le_bytes());
        b
    }

    #[test]
    fn reads_the_fixint_encoding_field_by_field() {
        let bytes = encoded();
        let mut r = Reader::new(&bytes, 0, "data");
        let v: Outer = r.read().unwrap();
        assert_eq!(
            v,
            Outer {
                size: 7,
                items: std::vec![
                    Inner {
                        flag: true,
                        kind: Kind::B(0x1234),
                        name: Some(String::from("fc")),
                    },
                    Inner {
                        flag: false,
                        kind: Kind::A,
                        name: None,
                    },
                ],
                pair: (9, 0x0a0b_0c0d),
            }
        );
        assert_eq!(r.offset(), bytes.len());
    }

    #[test]
    fn an_error_names_the_field_path_and_the_offset() {
        let mut bytes = encoded();
        // The second item's `flag` byte (offset 8 + 8 + 1 + 4 + 2 + 1 + 8 + 2 = 34).
        bytes[34] = 2;
        let e = Reader::new(&bytes, 0, "data").read::<Outer>().unwrap_err();
        assert_eq!(e.path.as_deref(), Some("data.items[1].flag"));
        assert_eq!(e.offset, Some(34));
        assert!(e.message.contains("bool byte of 2"), "{e}");

        // A variant index past the enum's: serde's own error, placed by the reader.
        let mut bytes = encoded();
        bytes[17..21].copy_from_slice(&5u32.to_le_bytes());
        let e = Reader::new(&bytes, 0, "data").read::<Outer>().unwrap_err();
        assert_eq!(e.path.as_deref(), Some("data.items[0].kind"));
        assert_eq!(e.offset, Some(21));
    }

    #[test]
    fn lengths_beyond_the_file_are_refused_before_allocating() {
        let mut bytes = encoded();
        bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = Reader::new(&bytes, 0, "data").read::<Outer>().unwrap_err();
        assert_eq!(e.path.as_deref(), Some("data.items"));
        assert_eq!(e.offset, Some(8));
        assert!(
            e.message
                .contains("length of 18446744073709551615, more than the"),
            "{e}"
        );

        for cut in 0..bytes.len() {
            let e = Reader::new(&encoded()[..cut], 0, "data")
                .read::<Outer>()
                .unwrap_err();
            assert!(e.offset.is_some_and(|o| o <= cut), "cut at {cut}: {e:?}");
        }
    }
}
