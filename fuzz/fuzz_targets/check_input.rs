#![no_main]
use libfuzzer_sys::fuzz_target;
use segstate::ingest::{self, source};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // Whole bytes, as a test or a library user hands them over...
    if let Ok(inputs) = ingest::read(data, None) {
        common::check_all(&inputs);
    }
    // ...and the bounded, streaming reader `check` uses on files and standard input:
    // the same detection, a QEMU log a dump at a time.
    let _ = source::read_all(data, &source::InputName::Stdin, None);
});
