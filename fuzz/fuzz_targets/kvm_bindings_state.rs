#![no_main]
//! kvm-bindings' `kvm_sregs` → `SegmentState` → `kvm_sregs`
//! (`segstate::format::kvm_bindings`): any 312 bytes as the struct, strict decode, and
//! what decodes must write back bit for bit onto the struct it came from.
use libfuzzer_sys::fuzz_target;
use segstate::arch::SegmentState;
use segstate::format::kvm::KvmSregs;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    bytes.resize(KvmSregs::SIZE + 8, 0);
    let Ok(ours) = KvmSregs::from_bytes(&bytes[..KvmSregs::SIZE]) else {
        return;
    };
    let rflags = u64::from_le_bytes(bytes[KvmSregs::SIZE..].try_into().unwrap());
    let theirs = ours.into();
    match SegmentState::from_kvm_sregs(&theirs, rflags) {
        Ok(state) => {
            assert_eq!(state.cpl, ours.cpl());
            assert_eq!(state.rflags, rflags);
            let mut back = theirs;
            state
                .write_kvm_sregs(&mut back)
                .expect("a decoded state's CPL is its SS.DPL");
            assert_eq!(KvmSregs::from(back), ours);
        }
        Err(e) => {
            std::hint::black_box(e.to_string());
        }
    }
});
