//! Fuzz the Xen save image reader: arbitrary bytes as an image; the bytes as the
//! records of a valid libxc v3 stream (so the record walk, skipping and checkpoints are
//! reached); and the bytes as the body of an HVM_CONTEXT record behind a valid HEADER
//! entry (so the descriptor walk and the hvm_hw_cpu decode are reached); and the bytes,
//! when they are text, as `xen-hvmctx` output (its seeds are the two layouts). Whatever is
//! read goes through `segstate check`'s conversion, import and every report. Never a
//! panic, never an allocation beyond the context the input declares.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::ingest::xen;

#[path = "common.rs"]
mod common;

/// `xc_sr_ihdr` (v3, little-endian) and `xc_sr_dhdr` (HVM, Xen 4.20).
fn libxc_headers() -> Vec<u8> {
    let mut h = vec![0xff; 8];
    h.extend_from_slice(b"XENF");
    h.extend_from_slice(&3u32.to_be_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&2u32.to_le_bytes());
    h.extend_from_slice(&12u16.to_le_bytes());
    h.extend_from_slice(&[0; 2]);
    h.extend_from_slice(&4u32.to_le_bytes());
    h.extend_from_slice(&20u32.to_le_bytes());
    h
}

fn read(bytes: &[u8]) {
    common::foreign_read(xen::read(bytes, "fuzz"));
}

fuzz_target!(|data: &[u8]| {
    read(data);
    if let Ok(text) = std::str::from_utf8(data) {
        common::foreign_read(xen::hvmctx::read(text, "fuzz"));
    }
    let mut records = libxc_headers();
    records.extend_from_slice(data);
    read(&records);
    // HVM_CONTEXT = HEADER entry (magic, version 1) + the data as further entries.
    let mut context = Vec::new();
    context.extend_from_slice(&1u16.to_le_bytes());
    context.extend_from_slice(&0u16.to_le_bytes());
    context.extend_from_slice(&24u32.to_le_bytes());
    context.extend_from_slice(&0x5438_1286u32.to_le_bytes());
    context.extend_from_slice(&1u32.to_le_bytes());
    context.extend_from_slice(&[0; 16]);
    context.extend_from_slice(data);
    let mut stream = libxc_headers();
    stream.extend_from_slice(&9u32.to_le_bytes());
    stream.extend_from_slice(&(context.len() as u32).to_le_bytes());
    stream.extend_from_slice(&context);
    read(&stream);
});
