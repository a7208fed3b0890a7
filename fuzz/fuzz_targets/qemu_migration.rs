//! Fuzz the QEMU migration stream walker: arbitrary bytes (and the same bytes after
//! a valid stream header, so the fuzzer reaches the section parser) must give a
//! summary or an error with an offset, never a panic or an unbounded allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use segstate::ingest::qemu_migration::{QEMU_VM_FILE_MAGIC, READ_BUFFER_BYTES, walk};
use segstate::ingest;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = walk(data);
    let mut framed = QEMU_VM_FILE_MAGIC.to_be_bytes().to_vec();
    framed.extend_from_slice(&3u32.to_be_bytes());
    framed.extend_from_slice(data);
    if let Ok(summary) = walk(framed.as_slice()) {
        // The fixed read buffer is held whatever the length; kept sections are
        // copies of stream bytes, so they never exceed the stream.
        assert!(summary.max_buffered <= READ_BUFFER_BYTES + framed.len());
    }
    if let Ok(inputs) = ingest::read_migration(framed.as_slice()) {
        common::check_all(&inputs);
    }
});
