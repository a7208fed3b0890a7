//! Fuzz the Hyper-V partition state reader: arbitrary bytes as a blob, and the bytes as
//! the chunks after a valid PROLOG (so the chunk walk, the per-VP registers and the
//! `VP_SEGMENT_REGISTERS` decode are reached). Whatever is read goes through `segstate
//! check`'s conversion, import and every report. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::ingest::hyperv::{self, PROLOG_SIZE, PROLOG_TAG};
use segstate::ingest::InputFormat;

#[path = "common.rs"]
mod common;

fn read(bytes: &[u8]) {
    common::check_foreign(hyperv::read(bytes, "fuzz"), InputFormat::HyperV);
}

fuzz_target!(|data: &[u8]| {
    read(data);
    let mut blob = vec![0u8; PROLOG_SIZE];
    blob[4..8].copy_from_slice(&((PROLOG_SIZE - 16) as u32).to_le_bytes());
    blob[16..20].copy_from_slice(&PROLOG_TAG.to_le_bytes());
    blob[24] = 1; // Intel
    blob.extend_from_slice(data);
    read(&blob);
});
