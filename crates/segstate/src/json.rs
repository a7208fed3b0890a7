//! JSON shapes of the formats, as `segstate convert` reads and writes them.
//!
//! Numbers may be JSON numbers or strings (`"0x2b"`, `"43"`); every value is range
//! checked against its C field, and unknown fields are refused, so a typo is an error
//! rather than a silently ignored field.

use std::format;
use std::string::String;
use std::vec::Vec;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::format::hyperv::{HvSegmentAttributes, HvSegmentRegister};
use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};
use crate::format::qemu::{QemuFlags, QemuSegmentCache};
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::{VmxAccessRights, VmxSegment};

/// A JSON value that does not fit the shape it was read as; the message names the
/// field and, for invalid JSON, the line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError(pub String);

impl core::fmt::Display for JsonError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for JsonError {}

impl From<String> for JsonError {
    fn from(message: String) -> Self {
        JsonError(message)
    }
}

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
pub struct Num(u64);

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

/// An optional field that, when present, must be a number: `"cpl": null` is refused
/// rather than read as absent.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl Num {
    fn value(self) -> u64 {
        self.0
    }

    /// The value, checked to fit the C field `field`.
    pub fn fit<T: TryFrom<u64>>(self, field: &str) -> Result<T, JsonError> {
        let v = self.value();
        T::try_from(v).map_err(|_| {
            JsonError(format!(
                "field `{field}`: {v} does not fit in {} bits",
                std::mem::size_of::<T>() * 8
            ))
        })
    }
}

fn hex<T: Into<u64>>(v: T, width: usize) -> Value {
    Value::String(format!("{:#0w$x}", v.into(), w = width + 2))
}

/// A `struct kvm_segment` as JSON: every field by its C name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvmSegmentJson {
    base: Num,
    limit: Num,
    selector: Num,
    #[serde(rename = "type")]
    type_: Num,
    present: Num,
    dpl: Num,
    db: Num,
    s: Num,
    l: Num,
    g: Num,
    avl: Num,
    unusable: Num,
    #[serde(default, deserialize_with = "present")]
    padding: Option<Num>,
}

impl KvmSegmentJson {
    /// The C value, each field range-checked.
    pub fn decode(self) -> Result<KvmSegment, JsonError> {
        Ok(KvmSegment {
            base: self.base.fit("base")?,
            limit: self.limit.fit("limit")?,
            selector: self.selector.fit("selector")?,
            type_: self.type_.fit("type")?,
            present: self.present.fit("present")?,
            dpl: self.dpl.fit("dpl")?,
            db: self.db.fit("db")?,
            s: self.s.fit("s")?,
            l: self.l.fit("l")?,
            g: self.g.fit("g")?,
            avl: self.avl.fit("avl")?,
            unusable: self.unusable.fit("unusable")?,
            padding: self
                .padding
                .map(|p| p.fit("padding"))
                .transpose()?
                .unwrap_or(0),
        })
    }
}

/// A `kvm_segment` as JSON.
#[must_use]
pub fn kvm_segment(k: &KvmSegment) -> Value {
    json!({
        "base": k.base, "limit": k.limit, "selector": k.selector, "type": k.type_,
        "present": k.present, "dpl": k.dpl, "db": k.db, "s": k.s, "l": k.l, "g": k.g,
        "avl": k.avl, "unusable": k.unusable, "padding": k.padding,
    })
}

/// A VMCB segment (`struct vmcb_seg`) as JSON, with an optional `cpl` for SS.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmcbSegmentJson {
    selector: Num,
    attrib: Num,
    limit: Num,
    base: Num,
    /// VMCB.CPL, for a chain that starts in a VMCB.
    #[serde(default, deserialize_with = "present")]
    pub cpl: Option<Num>,
}

impl VmcbSegmentJson {
    /// The C value, each field range-checked.
    pub fn decode(&self) -> Result<VmcbSegment, JsonError> {
        Ok(VmcbSegment {
            selector: self.selector.fit("selector")?,
            attrib: SvmAttrib(self.attrib.fit("attrib")?),
            limit: self.limit.fit("limit")?,
            base: self.base.fit("base")?,
        })
    }
}

/// A VMCB segment (and the CPL, for SS) as JSON.
#[must_use]
pub fn vmcb_segment(v: &VmcbSegment, cpl: Option<u8>) -> Value {
    let mut out = json!({
        "selector": hex(v.selector, 4), "attrib": hex(v.attrib.0, 4),
        "limit": hex(v.limit, 8), "base": hex(v.base, 16),
    });
    if let Some(cpl) = cpl {
        out["cpl"] = json!(cpl);
    }
    out
}

/// A VMCS segment (selector, access rights, limit, base) as JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmxSegmentJson {
    selector: Num,
    base: Num,
    limit: Num,
    access_rights: Num,
}

impl VmxSegmentJson {
    /// The C value, each field range-checked.
    pub fn decode(self) -> Result<VmxSegment, JsonError> {
        Ok(VmxSegment {
            selector: self.selector.fit("selector")?,
            base: self.base.fit("base")?,
            limit: self.limit.fit("limit")?,
            access_rights: VmxAccessRights(self.access_rights.fit("access_rights")?),
        })
    }
}

/// A VMCS segment as JSON.
#[must_use]
pub fn vmx_segment(v: &VmxSegment) -> Value {
    json!({
        "selector": hex(v.selector, 4), "base": hex(v.base, 16), "limit": hex(v.limit, 8),
        "access_rights": hex(v.access_rights.0, 5),
    })
}

/// A QEMU `SegmentCache` as JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuSegmentJson {
    selector: Num,
    base: Num,
    limit: Num,
    flags: Num,
}

impl QemuSegmentJson {
    /// The C value, each field range-checked.
    pub fn decode(self) -> Result<QemuSegmentCache, JsonError> {
        Ok(QemuSegmentCache {
            selector: self.selector.fit("selector")?,
            base: self.base.fit("base")?,
            limit: self.limit.fit("limit")?,
            flags: QemuFlags(self.flags.fit("flags")?),
        })
    }
}

/// A QEMU segment cache as JSON.
#[must_use]
pub fn qemu_segment(q: &QemuSegmentCache) -> Value {
    json!({
        "selector": hex(q.selector, 4), "base": hex(q.base, 16), "limit": hex(q.limit, 8),
        "flags": hex(q.flags.0, 8),
    })
}

/// A Hyper-V segment register as JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypervSegmentJson {
    base: Num,
    limit: Num,
    selector: Num,
    attributes: Num,
}

impl HypervSegmentJson {
    /// The C value, each field range-checked.
    pub fn decode(self) -> Result<HvSegmentRegister, JsonError> {
        Ok(HvSegmentRegister {
            base: self.base.fit("base")?,
            limit: self.limit.fit("limit")?,
            selector: self.selector.fit("selector")?,
            attributes: HvSegmentAttributes(self.attributes.fit("attributes")?),
        })
    }
}

/// A Hyper-V segment register as JSON.
#[must_use]
pub fn hyperv_segment(h: &HvSegmentRegister) -> Value {
    json!({
        "base": hex(h.base, 16), "limit": hex(h.limit, 8), "selector": hex(h.selector, 4),
        "attributes": hex(h.attributes.0, 4),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DtableJson {
    base: Num,
    limit: Num,
    #[serde(default, deserialize_with = "present")]
    padding: Option<[Num; 3]>,
}

/// A `struct kvm_sregs` as JSON: the eight segments, the descriptor tables and the
/// control registers by their C names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvmSregsJson {
    cs: KvmSegmentJson,
    ds: KvmSegmentJson,
    es: KvmSegmentJson,
    fs: KvmSegmentJson,
    gs: KvmSegmentJson,
    ss: KvmSegmentJson,
    tr: KvmSegmentJson,
    ldt: KvmSegmentJson,
    gdt: DtableJson,
    idt: DtableJson,
    cr0: Num,
    cr2: Num,
    cr3: Num,
    cr4: Num,
    cr8: Num,
    efer: Num,
    apic_base: Num,
    interrupt_bitmap: [Num; 4],
}

fn dtable(d: DtableJson, name: &str) -> Result<KvmDtable, JsonError> {
    let padding = match d.padding {
        Some(p) => [
            p[0].fit(&format!("{name}.padding[0]"))?,
            p[1].fit(&format!("{name}.padding[1]"))?,
            p[2].fit(&format!("{name}.padding[2]"))?,
        ],
        None => [0; 3],
    };
    Ok(KvmDtable {
        base: d.base.fit(&format!("{name}.base"))?,
        limit: d.limit.fit(&format!("{name}.limit"))?,
        padding,
    })
}

impl KvmSregsJson {
    /// The C value, each field range-checked.
    pub fn decode(self) -> Result<KvmSregs, JsonError> {
        let seg = |s: KvmSegmentJson, name: &str| s.decode().map_err(|e| e.within(name));
        let bitmap = self.interrupt_bitmap;
        Ok(KvmSregs {
            cs: seg(self.cs, "cs")?,
            ds: seg(self.ds, "ds")?,
            es: seg(self.es, "es")?,
            fs: seg(self.fs, "fs")?,
            gs: seg(self.gs, "gs")?,
            ss: seg(self.ss, "ss")?,
            tr: seg(self.tr, "tr")?,
            ldt: seg(self.ldt, "ldt")?,
            gdt: dtable(self.gdt, "gdt")?,
            idt: dtable(self.idt, "idt")?,
            cr0: self.cr0.fit("cr0")?,
            cr2: self.cr2.fit("cr2")?,
            cr3: self.cr3.fit("cr3")?,
            cr4: self.cr4.fit("cr4")?,
            cr8: self.cr8.fit("cr8")?,
            efer: self.efer.fit("efer")?,
            apic_base: self.apic_base.fit("apic_base")?,
            interrupt_bitmap: [
                bitmap[0].fit("interrupt_bitmap[0]")?,
                bitmap[1].fit("interrupt_bitmap[1]")?,
                bitmap[2].fit("interrupt_bitmap[2]")?,
                bitmap[3].fit("interrupt_bitmap[3]")?,
            ],
        })
    }
}

/// A `kvm_sregs` as JSON.
#[must_use]
pub fn kvm_sregs(s: &KvmSregs) -> Value {
    let dt = |d: &KvmDtable| json!({"base": d.base, "limit": d.limit, "padding": d.padding});
    json!({
        "cs": kvm_segment(&s.cs), "ds": kvm_segment(&s.ds), "es": kvm_segment(&s.es),
        "fs": kvm_segment(&s.fs), "gs": kvm_segment(&s.gs), "ss": kvm_segment(&s.ss),
        "tr": kvm_segment(&s.tr), "ldt": kvm_segment(&s.ldt),
        "gdt": dt(&s.gdt), "idt": dt(&s.idt),
        "cr0": s.cr0, "cr2": s.cr2, "cr3": s.cr3, "cr4": s.cr4, "cr8": s.cr8,
        "efer": s.efer, "apic_base": s.apic_base, "interrupt_bitmap": s.interrupt_bitmap,
    })
}

/// Parses `text` as JSON into `T`, with the line and column of any error.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, JsonError> {
    serde_json::from_str(text).map_err(|e| JsonError(format!("{what}: invalid JSON: {e}")))
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
