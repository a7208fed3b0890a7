//! Fuzz the snapshot decoder: arbitrary bytes must give a snapshot or a
//! `DecodeError`, never a panic, and whatever decodes must re-encode to a file that
//! decodes to the same snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::arch::Vendor;
use segstate::snapshot::VcpuSnapshot;

fuzz_target!(|data: &[u8]| {
    // Random bytes almost never carry a valid CRC-32C, so also try them re-sealed:
    // the header patched to the input's size and a correct checksum appended, which
    // lets the fuzzer reach the section parser.
    let sealed = reseal(data);
    for bytes in [data, sealed.as_slice()] {
        if let Ok(snap) = VcpuSnapshot::decode(bytes) {
            let again = VcpuSnapshot::decode(&snap.encode()).expect("own encoding decodes");
            assert_eq!(again, snap);
            // The restore-safety checks and normalisation must not panic either.
            let _ = snap.restore_problems(Vendor::Intel);
            let _ = snap.restore_problems(Vendor::Amd);
            let _ = snap.clone().normalise_for(Vendor::Amd);
        }
    }
});

fn reseal(data: &[u8]) -> Vec<u8> {
    let mut b = b"SEGSNAP\0".to_vec();
    b.extend_from_slice(data);
    if b.len() < 32 {
        b.resize(32, 0);
    }
    let total = (b.len() + 4) as u64;
    b[16..24].copy_from_slice(&total.to_le_bytes());
    let crc = segstate::testing::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}
