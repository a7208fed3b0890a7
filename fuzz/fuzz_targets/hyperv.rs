//! Fuzz the Hyper-V saved state readers: arbitrary bytes as a blob; the bytes as the
//! chunks after a valid PROLOG (so the chunk walk, the per-VP registers and the
//! `VP_SEGMENT_REGISTERS` decode are reached); and the bytes as a HyperVStorage file
//! whose first header copy is made valid (signature, CRC-32), so the object and key
//! tables are walked. Whatever is read goes through `segstate
//! check`'s conversion, import and every report. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::ingest::hyperv::{self, HVS_SIGNATURE, PROLOG_SIZE, PROLOG_TAG};
use segstate::ingest::hyperv_storage::{FILE_HEADER_SIZE, FORMAT_VERSION, crc32};

#[path = "common.rs"]
mod common;

fn read(bytes: &[u8]) {
    common::foreign_read(hyperv::read(bytes, "fuzz"));
}

fuzz_target!(|data: &[u8]| {
    read(data);
    let mut blob = vec![0u8; PROLOG_SIZE];
    blob[4..8].copy_from_slice(&((PROLOG_SIZE - 16) as u32).to_le_bytes());
    blob[16..20].copy_from_slice(&PROLOG_TAG.to_le_bytes());
    blob[24] = 1; // Intel
    blob.extend_from_slice(data);
    read(&blob);
    let mut container = data.to_vec();
    if container.len() < 8192 + 8 {
        container.resize(8192 + 8, 0);
    }
    container[0..4].copy_from_slice(&HVS_SIGNATURE.to_le_bytes());
    container[10..14].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    container[4..8].fill(0);
    let crc = crc32(&container[..FILE_HEADER_SIZE]);
    container[4..8].copy_from_slice(&crc.to_le_bytes());
    read(&container);
});
