#![no_main]
use libfuzzer_sys::fuzz_target;
use segstate::ingest::{self, InputFormat};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // segstate's JSON kvm_sregs, and wtf's regs.json (its own reader: hex strings,
    // the attr encoding decided per file).
    for format in [InputFormat::Json, InputFormat::Wtf] {
        if let Ok(inputs) = ingest::read(data, Some(format)) {
            common::check_all(&inputs);
        }
    }
});
