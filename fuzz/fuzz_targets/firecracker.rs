//! Fuzz the Firecracker snapshot reader: arbitrary bytes, and the same bytes re-sealed
//! with a valid CRC-64 (random bytes almost never carry one) behind the real header of
//! a format-11 file, so the bitcode layout decoder itself is reached, and behind the
//! bincode headers of formats 1, 5, 6 and 8 and the Versionize headers of data versions
//! 1 to 10, so each of the layouts before bitcode is too. Whatever is read
//! goes through `segstate check`'s conversion and every report. Never a panic, never
//! an allocation the input does not pay for (libFuzzer's -rss_limit_mb).
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::ingest::firecracker;
use segstate::testing::crc64;

#[path = "common.rs"]
mod common;

/// The first bytes of a real format-11.0.0 file (packing byte, magic, version string).
const HEADER: &[u8] = &[
    0x00, 0x00, 0x00, 0x64, 0x86, 0x84, 0x19, 0x10, 0x07, 0x06, b'1', b'1', b'.', b'0', b'.', b'0',
];

/// A bincode header (formats 1 to 8): the magic, then the version as a `u64` length
/// and its text.
fn bincode_header(version: &str) -> Vec<u8> {
    let mut h = 0x0710_1984_8664_0000u64.to_le_bytes().to_vec();
    h.extend_from_slice(&(version.len() as u64).to_le_bytes());
    h.extend_from_slice(version.as_bytes());
    h
}

fn sealed(body: &[u8]) -> Vec<u8> {
    let mut f = body.to_vec();
    f.extend_from_slice(&crc64(0, body).to_le_bytes());
    f
}

fn read(bytes: &[u8]) {
    common::foreign_read(firecracker::read(bytes, "fuzz"));
}

fuzz_target!(|data: &[u8]| {
    read(data);
    read(&sealed(data));
    let mut behind_header = HEADER.to_vec();
    behind_header.extend_from_slice(data);
    read(&sealed(&behind_header));
    // The first byte picks the bincode format and the Versionize data version; the rest
    // follows each header.
    if let Some((&pick, rest)) = data.split_first() {
        let version = ["1.0.0", "5.0.0", "6.0.0", "8.0.0"][usize::from(pick & 3)];
        let mut file = bincode_header(version);
        file.extend_from_slice(rest);
        read(&sealed(&file));
        let mut file = (0x0710_1984_8664_0000u64 | 1).to_le_bytes().to_vec();
        file.extend_from_slice(&u16::from(pick % 10 + 1).to_le_bytes());
        file.extend_from_slice(rest);
        read(&sealed(&file));
    }
});
