#![no_main]
use libfuzzer_sys::fuzz_target;
use segstate::ingest::{self, InputFormat};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Ok(inputs) = ingest::read(data, Some(InputFormat::Json)) {
        common::check_all(&inputs);
    }
});
