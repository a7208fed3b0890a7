//! Fuzz the qcow2 internal snapshot reader: arbitrary bytes as an image, and the bytes
//! behind a real image's header (so the snapshot table and the cluster walk are
//! reached). Every snapshot's VM state goes through the migration stream reader and
//! `segstate check`'s reports. Never a panic, never an allocation beyond the tables the
//! image declares within QEMU's limits.
#![no_main]

use std::io::{Cursor, Read};

use libfuzzer_sys::fuzz_target;
use segstate::ingest::qcow2::Image;
use segstate::ingest::read_migration;

#[path = "common.rs"]
mod common;

/// At most this much of a VM state is read: a fuzzed size may declare terabytes of
/// zero clusters.
const MAX_STATE: u64 = 1 << 20;

fn read(bytes: &[u8]) {
    let Ok(mut image) = Image::open(Cursor::new(bytes), "fuzz") else {
        return;
    };
    for i in 0..image.snapshots.len().min(8) {
        let _ = image.snapshots[i].date();
        match image.vm_state(i) {
            Ok(Some(state)) => {
                if let Ok(inputs) = read_migration(state.take(MAX_STATE)) {
                    common::check_all(&inputs);
                }
            }
            Ok(None) => {}
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

/// The first 104 bytes of a version 3 image of 4 KiB clusters whose snapshot table is
/// at offset 104, the fuzzed bytes (`nb_snapshots` 1).
fn header() -> Vec<u8> {
    let mut h = vec![0u8; 104];
    h[..4].copy_from_slice(b"QFI\xfb");
    h[4..8].copy_from_slice(&3u32.to_be_bytes());
    h[20..24].copy_from_slice(&12u32.to_be_bytes());
    h[24..32].copy_from_slice(&(1u64 << 20).to_be_bytes());
    h[60..64].copy_from_slice(&1u32.to_be_bytes());
    h[64..72].copy_from_slice(&104u64.to_be_bytes());
    h[100..104].copy_from_slice(&104u32.to_be_bytes());
    h
}

fuzz_target!(|data: &[u8]| {
    read(data);
    let mut image = header();
    image.extend_from_slice(data);
    read(&image);
});
