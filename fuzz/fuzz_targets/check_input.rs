#![no_main]
use libfuzzer_sys::fuzz_target;
use segstate::ingest;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Ok(inputs) = ingest::read(data, None) {
        common::check_all(&inputs);
    }
});
