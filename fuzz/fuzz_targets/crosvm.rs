//! Fuzz the crosvm snapshot reader: arbitrary bytes as a `vcpu{N}` fragment, and the
//! same bytes behind the real first bytes of a fragment (a nine-field map starting with
//! `vcpu_id`), so the strict field walk is reached past ciborium's decoding. Whatever is
//! read goes through `segstate check`'s conversion, import and every report. Never a
//! panic; the decoded item is bounded by the fragment size limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::ingest::crosvm;

#[path = "common.rs"]
mod common;

/// A real fragment's first bytes: map(9), "vcpu_id", 0.
const HEADER: &[u8] = b"\xa9\x67vcpu_id\x00";

fn read(bytes: &[u8]) {
    common::foreign_read(crosvm::read(bytes, "fuzz"));
}

fuzz_target!(|data: &[u8]| {
    read(data);
    let mut behind_header = HEADER.to_vec();
    behind_header.extend_from_slice(data);
    read(&behind_header);
});
