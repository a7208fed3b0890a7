#![no_main]
use libfuzzer_sys::fuzz_target;
use segstate::format::kvm::KvmSregs;
use segstate::ingest::{self, InputFormat};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // The raw codec: exact length, byte-exact round trip.
    if let Ok(sregs) = KvmSregs::from_bytes(data) {
        assert_eq!(&sregs.to_bytes()[..], data);
    }
    // What `segstate check --format sregs[+regs]` does with the same bytes, padded or
    // cut to the size of each format.
    for (format, size) in [
        (InputFormat::Sregs, KvmSregs::SIZE),
        (
            InputFormat::SregsRegs,
            KvmSregs::SIZE + ingest::KVM_REGS_SIZE,
        ),
    ] {
        let mut bytes = data.to_vec();
        bytes.resize(size, 0);
        if let Ok(inputs) = ingest::read(&bytes, Some(format)) {
            common::check_all(&inputs);
        }
    }
    let _ = ingest::read(data, Some(InputFormat::Sregs));
});
