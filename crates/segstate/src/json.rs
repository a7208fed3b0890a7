//! JSON shapes of the formats, as `segstate convert` reads and writes them: the
//! `Serialize`/`Deserialize` impls of [`KvmSegment`], [`KvmSregs`], [`KvmDtable`],
//! [`VmcbSegment`] (and [`VmcbSegmentWithCpl`]), [`VmxSegment`], [`QemuSegmentCache`]
//! and [`HvSegmentRegister`], each shape stated once. The architectural types
//! (`arch::Segment`, `arch::SegmentState`, ...) derive theirs where they are defined.
//!
//! Numbers may be JSON numbers or strings (`"0x2b"`, `"43"`); every value is range
//! checked against its C field, and unknown fields are refused, so a typo is an error
//! rather than a silently ignored field.
//!
//! ```
//! use segstate::format::kvm::KvmSegment;
//!
//! let ss: KvmSegment = serde_json::from_str(r#"{"base": 0, "limit": "0xffffffff",
//!     "selector": "0x2b", "type": 3, "present": 0, "dpl": 3, "db": 1, "s": 1, "l": 0,
//!     "g": 1, "avl": 0, "unusable": 1}"#)?;
//! assert_eq!((ss.selector, ss.dpl, ss.unusable), (0x2b, 3, 1));
//! assert_eq!(serde_json::to_value(ss)?["limit"], 0xffff_ffffu32);
//!
//! let e = serde_json::from_str::<KvmSegment>(&serde_json::to_string(&ss)?.replace("\"dpl\":3", "\"dpl\":300"));
//! assert!(e.unwrap_err().to_string().contains("field `dpl`: 300 does not fit in 8 bits"));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::format;
use std::string::String;
use std::vec::Vec;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arch::SegReg;
use crate::format::hyperv::{HvSegmentAttributes, HvSegmentRegister};
use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};
use crate::format::qemu::{QemuFlags, QemuSegmentCache};
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::{VmxAccessRights, VmxSegment};

/// A JSON value that does not fit the shape it was read as; the message names the
/// field and, for invalid JSON, the line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError(pub String);

impl_display!(JsonError, |e| "{}", e.0);

impl core::error::Error for JsonError {}

/// The message alone, for callers that carry errors as text (the CLI's input failures).
impl From<JsonError> for String {
    fn from(e: JsonError) -> Self {
        e.0
    }
}

impl JsonError {
    /// The same error, with `what` (a field path) in front.
    #[must_use]
    pub fn within(self, what: &str) -> Self {
        JsonError(format!("{what}: {}", self.0))
    }
}

/// A number given as a JSON number or a decimal/hex string.
#[derive(Debug, Clone, Copy)]
struct Num(u64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Num;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative integer, or a string such as \"0x2b\" or \"43\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Num, E> {
                u64::try_from(v)
                    .map(Num)
                    .map_err(|_| E::custom(format!("{v} is negative")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Num, E> {
                Err(E::custom(format!("{v} is not an integer")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Num, E> {
                parse_u64(v).map(Num).map_err(|e| E::custom(e.0))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Parses "0x…" (hex) or decimal, strictly: digits only after an optional `0x`, no
/// sign, no blank, no separator, so `" 12"` or `"+12"` is refused rather than guessed at.
pub fn parse_u64(s: &str) -> Result<u64, JsonError> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    let strict = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    strict
        .then(|| u64::from_str_radix(digits, radix).ok())
        .flatten()
        .ok_or_else(|| {
            JsonError(format!(
                "`{}` is not a number (decimal or 0x-prefixed hex digits, at most 64 bits)",
                s.escape_debug()
            ))
        })
}

impl Num {
    fn value(self) -> u64 {
        self.0
    }
}

/// A field's value as `segstate convert` writes it: a JSON number, or a `0x` string
/// zero-padded to `width` hex digits (the C field's width).
#[derive(Clone, Copy)]
enum Written {
    Number,
    Hex(usize),
}

impl Written {
    fn value(self, v: u64) -> Value {
        match self {
            Written::Number => Value::from(v),
            Written::Hex(width) => Value::String(format!("{v:#0w$x}", w = width + 2)),
        }
    }
}

/// A C field's value type: an unsigned integer, or a newtype over one (`attrib`,
/// `access_rights`, `flags`, `attributes`).
trait CField: Sized + Copy {
    /// Width in bits, for the range error.
    const BITS: u32;
    fn from_u64(v: u64) -> Option<Self>;
    fn to_u64(self) -> u64;
}

macro_rules! c_field {
    ($($t:ty => $inner:ty, $wrap:expr, $unwrap:expr;)*) => {$(
        impl CField for $t {
            const BITS: u32 = <$inner>::BITS;
            fn from_u64(v: u64) -> Option<Self> {
                <$inner>::try_from(v).ok().map($wrap)
            }
            fn to_u64(self) -> u64 {
                #[allow(clippy::redundant_closure_call)]
                u64::from(($unwrap)(self))
            }
        }
    )*};
}

c_field! {
    u8 => u8, |v| v, |v: u8| v;
    u16 => u16, |v| v, |v: u16| v;
    u32 => u32, |v| v, |v: u32| v;
    u64 => u64, |v| v, |v: u64| v;
    SvmAttrib => u16, SvmAttrib, |v: SvmAttrib| v.0;
    VmxAccessRights => u32, VmxAccessRights, |v: VmxAccessRights| v.0;
    QemuFlags => u32, QemuFlags, |v: QemuFlags| v.0;
    HvSegmentAttributes => u16, HvSegmentAttributes, |v: HvSegmentAttributes| v.0;
}

/// How a range error reads, and how [`parse`] tells it from malformed input.
const DOES_NOT_FIT: &str = " does not fit in ";

/// The fields of one JSON object, taken one by one by name and range-checked; what is
/// left at the end is an unknown field, refused so that a typo is an error.
struct Fields {
    map: serde_json::Map<String, Value>,
    /// The path in front of a field's name (`gdt.` for the descriptor tables).
    prefix: &'static str,
}

impl Fields {
    fn new(map: serde_json::Map<String, Value>) -> Self {
        Fields { map, prefix: "" }
    }

    fn raw(&mut self, key: &str) -> Result<Value, JsonError> {
        self.map
            .remove(key)
            .ok_or_else(|| JsonError(format!("missing field `{}{key}`", self.prefix)))
    }

    fn fit<T: CField>(&self, key: &str, v: Value) -> Result<T, JsonError> {
        let field = format!("{}{key}", self.prefix);
        let n = Num::deserialize(v)
            .map_err(|e| JsonError(format!("field `{field}`: {e}")))?
            .value();
        T::from_u64(n).ok_or_else(|| {
            JsonError(format!(
                "field `{field}`: {n} does not fit in {} bits",
                T::BITS
            ))
        })
    }

    /// A required number.
    fn num<T: CField>(&mut self, key: &str) -> Result<T, JsonError> {
        let v = self.raw(key)?;
        self.fit(key, v)
    }

    /// An optional number: absent is `None`, `null` is refused.
    fn optional<T: CField>(&mut self, key: &str) -> Result<Option<T>, JsonError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(v) => self.fit(key, v).map(Some),
        }
    }

    /// A required array of `N` numbers, each checked as `key[i]`.
    fn array<T: CField + Default, const N: usize>(
        &mut self,
        key: &str,
    ) -> Result<[T; N], JsonError> {
        let v = self.raw(key)?;
        self.array_of(key, v)
    }

    fn array_of<T: CField + Default, const N: usize>(
        &self,
        key: &str,
        v: Value,
    ) -> Result<[T; N], JsonError> {
        let Value::Array(items) = v else {
            return Err(JsonError(format!(
                "field `{}{key}`: expected an array of {N} numbers",
                self.prefix
            )));
        };
        if items.len() != N {
            return Err(JsonError(format!(
                "field `{}{key}`: {} numbers, expected {N}",
                self.prefix,
                items.len()
            )));
        }
        let mut out = [T::default(); N];
        for (i, (slot, item)) in out.iter_mut().zip(items).enumerate() {
            *slot = self.fit(&format!("{key}[{i}]"), item)?;
        }
        Ok(out)
    }

    /// Every field was taken: anything left is unknown.
    fn finish(self) -> Result<(), JsonError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(JsonError(format!(
                "unknown field `{}{}`",
                self.prefix,
                key.escape_debug()
            ))),
        }
    }
}

/// `T` from a JSON object, each field range-checked, an unknown one refused. The
/// object is decoded inside the map visitor, so a JSON reader puts its position (the
/// object's end) on every error.
fn from_object<'de, D, T, F>(d: D, decode: F) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    F: FnOnce(&mut Fields) -> Result<T, JsonError>,
{
    struct Object<F>(F);

    impl<'de, T, F> serde::de::Visitor<'de> for Object<F>
    where
        F: FnOnce(&mut Fields) -> Result<T, JsonError>,
    {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<T, A::Error> {
            let mut map = serde_json::Map::new();
            while let Some((key, value)) = access.next_entry::<String, Value>()? {
                if map.insert(key.clone(), value).is_some() {
                    return Err(serde::de::Error::custom(format!(
                        "field `{}` given twice",
                        key.escape_debug()
                    )));
                }
            }
            let mut fields = Fields::new(map);
            let out = (self.0)(&mut fields).map_err(serde::de::Error::custom)?;
            fields.finish().map_err(serde::de::Error::custom)?;
            Ok(out)
        }
    }

    d.deserialize_map(Object(decode))
}

/// The JSON shape of a flat C struct, stated once: each field's JSON name, its Rust
/// field, and how it is written; fields after `optional` may be left out (0). Reading
/// takes numbers or strings (`"0x2b"`, `"43"`), range-checks each against its C field
/// and refuses unknown fields; writing gives every field.
macro_rules! json_shape {
    (
        $(#[$doc:meta])* $t:ident {
            $($key:literal => $field:ident: $written:expr,)*
        }
        $(optional { $($okey:literal => $ofield:ident: $owritten:expr,)* })?
    ) => {
        $(#[$doc])*
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = serde_json::Map::new();
                $(map.insert($key.into(), ($written).value(CField::to_u64(self.$field)));)*
                $($(map.insert($okey.into(), ($owritten).value(CField::to_u64(self.$ofield)));)*)?
                map.serialize(s)
            }
        }

        $(#[$doc])*
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                from_object(d, |f| {
                    Ok($t {
                        $($field: f.num($key)?,)*
                        $($($ofield: f.optional($okey)?.unwrap_or_default(),)*)?
                    })
                })
            }
        }
    };
}

json_shape! {
    /// `struct kvm_segment`: every field by its C name, as numbers; `padding` may be
    /// left out (0).
    KvmSegment {
        "base" => base: Written::Number,
        "limit" => limit: Written::Number,
        "selector" => selector: Written::Number,
        "type" => type_: Written::Number,
        "present" => present: Written::Number,
        "dpl" => dpl: Written::Number,
        "db" => db: Written::Number,
        "s" => s: Written::Number,
        "l" => l: Written::Number,
        "g" => g: Written::Number,
        "avl" => avl: Written::Number,
        "unusable" => unusable: Written::Number,
    }
    optional {
        "padding" => padding: Written::Number,
    }
}

json_shape! {
    /// A VMCB segment (`struct vmcb_seg`), hex strings of the fields' widths.
    VmcbSegment {
        "selector" => selector: Written::Hex(4),
        "attrib" => attrib: Written::Hex(4),
        "limit" => limit: Written::Hex(8),
        "base" => base: Written::Hex(16),
    }
}

json_shape! {
    /// A VMCS guest segment: selector, base, limit and access rights, hex strings.
    VmxSegment {
        "selector" => selector: Written::Hex(4),
        "base" => base: Written::Hex(16),
        "limit" => limit: Written::Hex(8),
        "access_rights" => access_rights: Written::Hex(5),
    }
}

json_shape! {
    /// A QEMU `SegmentCache`, hex strings.
    QemuSegmentCache {
        "selector" => selector: Written::Hex(4),
        "base" => base: Written::Hex(16),
        "limit" => limit: Written::Hex(8),
        "flags" => flags: Written::Hex(8),
    }
}

json_shape! {
    /// A Hyper-V segment register, hex strings.
    HvSegmentRegister {
        "base" => base: Written::Hex(16),
        "limit" => limit: Written::Hex(8),
        "selector" => selector: Written::Hex(4),
        "attributes" => attributes: Written::Hex(4),
    }
}

/// A VMCB segment with VMCB.CPL beside it, for SS: `{..., "cpl": 3}`. The CPL byte is
/// the save area's, not the segment's, so it is optional here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmcbSegmentWithCpl {
    /// The segment.
    pub segment: VmcbSegment,
    /// VMCB.CPL, for a chain that starts in a VMCB.
    pub cpl: Option<u8>,
}

impl<'de> Deserialize<'de> for VmcbSegmentWithCpl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::deserialize(d)?;
        let cpl = match map.remove("cpl") {
            None => None,
            Some(v) => Some(
                Fields::new(serde_json::Map::new())
                    .fit::<u8>("cpl", v)
                    .map_err(serde::de::Error::custom)?,
            ),
        };
        let segment =
            VmcbSegment::deserialize(Value::Object(map)).map_err(serde::de::Error::custom)?;
        Ok(VmcbSegmentWithCpl { segment, cpl })
    }
}

impl Serialize for VmcbSegmentWithCpl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = serde_json::to_value(self.segment).map_err(serde::ser::Error::custom)?;
        if let (Some(cpl), Value::Object(map)) = (self.cpl, &mut out) {
            map.insert("cpl".into(), Value::from(cpl));
        }
        out.serialize(s)
    }
}

/// `struct kvm_dtable` as JSON: base and limit; `padding` may be left out.
impl Serialize for KvmDtable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({"base": self.base, "limit": self.limit, "padding": self.padding})
            .serialize(s)
    }
}

fn dtable(f: &mut Fields, name: &'static str) -> Result<KvmDtable, JsonError> {
    let Value::Object(map) = f.raw(name)? else {
        return Err(JsonError(format!("field `{name}`: expected an object")));
    };
    let prefix = match name {
        "gdt" => "gdt.",
        _ => "idt.",
    };
    let mut d = Fields { map, prefix };
    let out = KvmDtable {
        base: d.num("base")?,
        limit: d.num("limit")?,
        padding: match d.map.remove("padding") {
            None => [0; 3],
            Some(v) => d.array_of("padding", v)?,
        },
    };
    d.finish()?;
    Ok(out)
}

/// `struct kvm_sregs` as JSON: the eight segments, the descriptor tables and the
/// control registers by their C names.
impl Serialize for KvmSregs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = serde_json::Map::new();
        for reg in SegReg::KVM_SREGS_ORDER {
            let seg = serde_json::to_value(self.segment(reg)).map_err(serde::ser::Error::custom)?;
            map.insert(reg.kvm_name().into(), seg);
        }
        for (name, table) in [("gdt", &self.gdt), ("idt", &self.idt)] {
            let t = serde_json::to_value(table).map_err(serde::ser::Error::custom)?;
            map.insert(name.into(), t);
        }
        for (name, v) in [
            ("cr0", self.cr0),
            ("cr2", self.cr2),
            ("cr3", self.cr3),
            ("cr4", self.cr4),
            ("cr8", self.cr8),
            ("efer", self.efer),
            ("apic_base", self.apic_base),
        ] {
            map.insert(name.into(), Value::from(v));
        }
        map.insert(
            "interrupt_bitmap".into(),
            serde_json::json!(self.interrupt_bitmap),
        );
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for KvmSregs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_object(d, |f| {
            let mut sregs = KvmSregs {
                gdt: dtable(f, "gdt")?,
                idt: dtable(f, "idt")?,
                cr0: f.num("cr0")?,
                cr2: f.num("cr2")?,
                cr3: f.num("cr3")?,
                cr4: f.num("cr4")?,
                cr8: f.num("cr8")?,
                efer: f.num("efer")?,
                apic_base: f.num("apic_base")?,
                interrupt_bitmap: f.array("interrupt_bitmap")?,
                ..KvmSregs::default()
            };
            for reg in SegReg::KVM_SREGS_ORDER {
                let name = reg.kvm_name();
                let seg = KvmSegment::deserialize(f.raw(name)?)
                    .map_err(|e| JsonError(format!("{name}: {e}")))?;
                *sregs.segment_mut(reg) = seg;
            }
            Ok(sregs)
        })
    }
}

/// Parses `text` as JSON into `T`, with the line and column of any error.
///
/// Malformed input (a syntax error, a wrong type, a string that is no number, an
/// unknown or missing field) reads "`what`: invalid JSON: ..."; a number too wide for
/// its C field reads as the field's own message ("field `dpl`: 300 does not fit in 8
/// bits").
pub fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, JsonError> {
    parse_as(text, what, false)
}

/// [`parse`], with `what` in front of a range error too: for a reader whose messages
/// all name the input kind.
pub fn parse_named<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, JsonError> {
    parse_as(text, what, true)
}

fn parse_as<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
    name_range_errors: bool,
) -> Result<T, JsonError> {
    serde_json::from_str(text).map_err(|e| {
        let range = e.classify() == serde_json::error::Category::Data
            && e.to_string().contains(DOES_NOT_FIT);
        match (range, name_range_errors) {
            (true, false) => JsonError(e.to_string()),
            (true, true) => JsonError(format!("{what}: {e}")),
            (false, _) => JsonError(format!("{what}: invalid JSON: {e}")),
        }
    })
}

/// Decodes a hex string (spaces, newlines and an optional 0x allowed) into bytes.
pub fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, JsonError> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let digits: Vec<(usize, char)> = t
        .char_indices()
        .filter(|(_, c)| !c.is_whitespace() && *c != ':' && *c != '_')
        .collect();
    if let Some((pos, c)) = digits.iter().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(JsonError(format!(
            "hex input: `{}` at offset {pos} is not a hex digit",
            c.escape_debug()
        )));
    }
    if digits.len() % 2 != 0 {
        return Err(JsonError(format!(
            "hex input: {} hex digits is an odd count (two per byte)",
            digits.len()
        )));
    }
    Ok(digits
        .chunks(2)
        .map(|p| {
            let hi = p[0].1.to_digit(16).unwrap_or(0) as u8;
            let lo = p[1].1.to_digit(16).unwrap_or(0) as u8;
            hi << 4 | lo
        })
        .collect())
}

/// Bytes as lower-case hex.
pub fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
