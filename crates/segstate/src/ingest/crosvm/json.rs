//! crosvm's `vcpu{N}` fragments from before CBOR: JSON, as serde_json wrote them.
//!
//! From `b48886364` (2024-01-16, when the snapshot became a directory of fragments) to
//! `72d733e7e` (2025-03-11, "snapshot: serialize snapshots using CBOR"), crosvm's
//! `SnapshotWriter::write_fragment` was `serde_json::to_writer`: each fragment one
//! compact JSON document, no newline after it. A `vcpu{N}` fragment holds the same
//! `hypervisor::VcpuSnapshot` a CBOR one does, with what JSON changes: the keys of the
//! `BTreeMap<u32, u64>` fields `xcrs` and `msrs` are decimal strings (`{"16": 2953…}`),
//! and `hypervisor_data` (a `serde_json::Value`, an `AnySnapshot` from `a67d3b61c`) has
//! its keys sorted, and is always the bare `VcpuEvents` on KVM. Within the era the
//! fragment changed twice (`hypervisor/src/x86_64.rs`):
//!
//! | crosvm | `Segment`'s limit | `xcrs`, `msrs` |
//! | --- | --- | --- |
//! | `b48886364` (2024-01-16) to `309accd0e` (2024-04-09) | `limit` | `[{"id", "value"}]` (`Vec<Register>`) |
//! | `309accd0e` to `2fc3047b9` (2024-07-26) | `limit` | `{"index": value}` |
//! | `2fc3047b9` to `72d733e7e` (2025-03-11) | `limit_bytes` | `{"index": value}` |
//!
//! [`layout`] tells them apart by the fragment's own fields, and every segment and
//! register must then have that layout's fields exactly. The renamed limit is the same
//! value, `kvm_segment.limit`, which crosvm's KVM backend copies both ways.
//!
//! The document is parsed into the value tree the CBOR item is parsed into (ciborium's
//! `Value`: members in file order, a repeated member kept, so that the struct walk
//! refuses it; integers as integers, any other number a float) and decoded by the same
//! walk. A document that does not parse is named by its line and column. Before
//! `b48886364` crosvm wrote one file next to the snapshot, `SNAP.vcpu`, a JSON array of
//! every vCPU's snapshot; this reader does not read it.

use std::format;
use std::string::{String, ToString};

use ciborium::value::Value;

use super::{Decoded, FORMAT, FieldError, Layout, decimal_u32, kind};
use crate::ingest::foreign::{IngestError, json_error};

/// crosvm `2fc3047b9` (2024-07-26) to `72d733e7e` (2025-03-11): the last JSON layout.
const LIMIT_BYTES: Layout = Layout {
    name: "crosvm snapshot vcpu fragment (JSON hypervisor::VcpuSnapshot, crosvm 2024-07 to \
           2025-03)",
    limit: "limit_bytes",
    register_lists: false,
    text_keys: true,
    hypervisor_state: false,
};
/// crosvm `309accd0e` (2024-04-09) to `2fc3047b9`: `Segment.limit`.
const REGISTER_MAPS: Layout = Layout {
    name: "crosvm snapshot vcpu fragment (JSON hypervisor::VcpuSnapshot, crosvm 2024-04 to \
           2024-07)",
    limit: "limit",
    ..LIMIT_BYTES
};
/// crosvm `b48886364` (2024-01-16) to `309accd0e`: `Segment.limit`, and `xcrs` and
/// `msrs` as lists of `Register`.
const REGISTER_LISTS: Layout = Layout {
    name: "crosvm snapshot vcpu fragment (JSON hypervisor::VcpuSnapshot, crosvm 2024-01 to \
           2024-04)",
    limit: "limit",
    register_lists: true,
    ..LIMIT_BYTES
};

/// `bytes` after the JSON whitespace that starts them.
fn after_whitespace(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count();
    &bytes[n..]
}

/// True when a fragment is JSON: it opens with `{` (after whitespace). A CBOR
/// `VcpuSnapshot` opens with a map header, `0xa9`.
pub(super) fn is_json(bytes: &[u8]) -> bool {
    after_whitespace(bytes).starts_with(b"{")
}

/// True when `prefix` starts like a JSON `vcpu{N}` fragment: an object whose first key
/// is `"vcpu_id"` (`{"vcpu_id":` as serde_json writes it; whitespace allowed, so a
/// pretty-printed copy is recognised too).
pub(super) fn recognise(prefix: &[u8]) -> bool {
    after_whitespace(prefix)
        .strip_prefix(b"{")
        .and_then(|rest| after_whitespace(rest).strip_prefix(b"\"vcpu_id\""))
        .is_some_and(|rest| after_whitespace(rest).starts_with(b":"))
}

/// The one JSON document `bytes` hold (only whitespace may follow it, as for crosvm's
/// `serde_json::from_reader`), as a value tree; `file` names it in errors.
pub(super) fn document(bytes: &[u8], file: &str) -> Result<Value, IngestError> {
    serde_json::from_slice(bytes).map_err(|e| {
        json_error(
            FORMAT,
            &e,
            file,
            "the vcpu fragment (JSON hypervisor::VcpuSnapshot)",
        )
    })
}

/// The member `name` of the object `v`, when `v` is an object that has it.
fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Which crosvm's layout the fragment `v` has: `msrs` a list is the first
/// (`Vec<Register>`), a `limit` in `sregs.cs` the second, anything else the last, which
/// [`super::VcpuSnapshot::decode`] then holds every field to.
pub(super) fn layout(v: &Value) -> Layout {
    if matches!(member(v, "msrs"), Some(Value::Array(_))) {
        return REGISTER_LISTS;
    }
    let cs = member(v, "sregs").and_then(|sregs| member(sregs, "cs"));
    if cs.and_then(|cs| member(cs, "limit")).is_some() {
        REGISTER_MAPS
    } else {
        LIMIT_BYTES
    }
}

/// A `BTreeMap<u32, _>` key as serde_json writes it: the decimal text of the u32, no
/// sign, no leading zero.
pub(super) fn key(k: &Value) -> Decoded<u32> {
    let Value::Text(t) = k else {
        return Err(FieldError::new(
            "",
            format!(
                "a key that is {}, where serde_json writes a u32 as its decimal text",
                kind(k)
            ),
        ));
    };
    decimal_u32(t).ok_or_else(|| {
        FieldError::new(
            &t.escape_debug().to_string(),
            String::from("a key that is not a u32 in decimal, as serde_json writes one"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_object_that_opens_with_vcpu_id() {
        assert!(recognise(b"{\"vcpu_id\":0,\"regs\""));
        assert!(recognise(b" {\n  \"vcpu_id\" : 0"));
        assert!(!recognise(b"{\"regs\":{},\"vcpu_id\":0"));
        assert!(!recognise(b"{\"vcpu_id\""));
        assert!(!recognise(b"\xa9\x67vcpu_id"));
        assert!(is_json(b"\n{"));
        assert!(!is_json(b"\xa9"));
    }

    #[test]
    fn keys_are_canonical_decimal_u32() {
        let text = |s: &str| Value::Text(String::from(s));
        assert_eq!(key(&text("0")).ok(), Some(0));
        assert_eq!(key(&text("3221225600")).ok(), Some(0xc000_0080));
        for bad in ["", "016", "+16", "-1", " 16", "4294967296", "0x10"] {
            assert!(key(&text(bad)).is_err(), "{bad:?}");
        }
        assert!(key(&Value::from(16)).is_err());
    }

    #[test]
    fn numbers_parse_as_integers_or_floats() {
        let v = document(
            b"[1, -1, 18446744073709551615, 18446744073709551616, 1.0]",
            "t",
        )
        .unwrap();
        let Value::Array(items) = v else {
            panic!("{v:?}")
        };
        assert!(matches!(items[0], Value::Integer(_)));
        assert!(matches!(items[1], Value::Integer(_)));
        assert!(matches!(items[2], Value::Integer(_)));
        assert!(matches!(items[3], Value::Float(_)));
        assert!(matches!(items[4], Value::Float(_)));
        // A repeated member is kept, for the struct walk to refuse.
        let Value::Map(m) = document(b"{\"a\":1,\"a\":2}", "t").unwrap() else {
            panic!()
        };
        assert_eq!(m.len(), 2);
    }
}
