//! Fuzz the crosvm snapshot reader: arbitrary bytes as a `vcpu{N}` fragment, and the
//! same bytes behind the real first bytes of a fragment, CBOR (a nine-field map starting
//! with `vcpu_id`, crosvm since 2025-03-11) and JSON (`{"vcpu_id":0,`, the serde_json
//! crosvm wrote before), so the strict field walk is reached past ciborium's and
//! serde_json's decoding, and the JSON layouts are told apart. Whatever is read goes
//! through `segstate check`'s conversion, import and every report. Never a panic; the
//! decoded item is bounded by the fragment size limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::ingest::crosvm;

#[path = "common.rs"]
mod common;

/// A real CBOR fragment's first bytes: map(9), "vcpu_id", 0.
const HEADER: &[u8] = b"\xa9\x67vcpu_id\x00";
/// A real JSON fragment's first bytes (crosvm before 2025-03-11).
const JSON_HEADER: &[u8] = b"{\"vcpu_id\":0,";

fn read(bytes: &[u8]) {
    common::foreign_read(crosvm::read(bytes, "fuzz"));
}

fuzz_target!(|data: &[u8]| {
    read(data);
    for header in [HEADER, JSON_HEADER] {
        let mut behind_header = header.to_vec();
        behind_header.extend_from_slice(data);
        read(&behind_header);
    }
});
