#![no_main]
//! Each decoder of a compressed input on arbitrary bytes: the first byte picks the
//! compression (gzip, zstd, xz, bzip2), the rest is what it decodes. Whatever the bytes,
//! a decoder yields at most the cap and then fails, and never panics.
use libfuzzer_sys::fuzz_target;
use segstate::ingest::compressed::{Compression, decompress};
use std::io::Read;

/// A cap small enough that a "bomb" reaches it in a run.
const CAP: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, compressed)) = data.split_first() else {
        return;
    };
    let compression = [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Xz,
        Compression::Bzip2,
    ][usize::from(pick % 4)];
    let Ok(mut reader) = decompress(compression, compressed, CAP) else {
        panic!("{compression} is read by this build");
    };
    let mut out = Vec::new();
    let read = reader.read_to_end(&mut out);
    assert!(out.len() as u64 <= CAP, "{} bytes past the cap", out.len());
    if let Err(e) = read {
        assert!(!e.to_string().is_empty());
    }
});
