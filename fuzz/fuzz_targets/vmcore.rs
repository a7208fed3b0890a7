//! Fuzz the QEMU guest memory dump reader: arbitrary bytes as a dump; the bytes as the
//! notes of a valid ELF64 core (so the note walk and the QEMUCPUState decode are
//! reached); and the bytes as the records of a flattened kdump file after its header
//! (so the record walk is reached). Whatever is read goes through `segstate check`'s
//! reports. Never a panic, never an allocation beyond the notes the input declares.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::ingest::read_vmcore;

#[path = "common.rs"]
mod common;

fn read(bytes: &[u8]) {
    match read_vmcore(bytes) {
        Ok(inputs) => common::check_all(&inputs),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// An ELF64 x86-64 core header with one PT_NOTE of `notes` bytes right after it.
fn elf_core(notes: usize) -> Vec<u8> {
    let mut h = vec![0u8; 64 + 56];
    h[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\0");
    h[16..18].copy_from_slice(&4u16.to_le_bytes());
    h[18..20].copy_from_slice(&62u16.to_le_bytes());
    h[32..40].copy_from_slice(&64u64.to_le_bytes());
    h[54..56].copy_from_slice(&56u16.to_le_bytes());
    h[56..58].copy_from_slice(&1u16.to_le_bytes());
    h[64..68].copy_from_slice(&4u32.to_le_bytes());
    h[72..80].copy_from_slice(&120u64.to_le_bytes());
    h[96..104].copy_from_slice(&(notes as u64).to_le_bytes());
    h
}

fuzz_target!(|data: &[u8]| {
    read(data);
    let mut elf = elf_core(data.len());
    elf.extend_from_slice(data);
    read(&elf);
    let mut flat = b"makedumpfile\0\0\0\0".to_vec();
    flat.extend_from_slice(&1i64.to_be_bytes());
    flat.extend_from_slice(&1i64.to_be_bytes());
    flat.resize(4096, 0);
    flat.extend_from_slice(data);
    read(&flat);
});
