//! Fuzz the HyperFuzzer VM-state reader: arbitrary bytes as a VM state, and the bytes as
//! the memory behind a register file with paging on in each of the four paging modes,
//! its CR3 and RIP taken from the input (so the page walk runs every time). Whatever is
//! read goes through `segstate check`'s reports, the guest-state rules included. Never
//! a panic; memory is the input's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::format::hyperfuzzer::RegFile;
use segstate::ingest::{InputFormat, read};

#[path = "common.rs"]
mod common;

fn check(bytes: &[u8]) {
    match read(bytes, Some(InputFormat::HyperFuzzer)) {
        Ok(inputs) => {
            // `report` is what `check` runs: the segment rules and those beyond them.
            for input in &inputs {
                for vendor in common::VENDORS {
                    common::consume(&input.report(vendor));
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let Some((head, memory)) = data.split_first_chunk::<11>() else {
        return;
    };
    // CR0.PE|PG; per mode CR4 and EFER: 4-level, 5-level, 32-bit with PSE, PAE.
    let (cr4, efer, cs_attributes) = match head[0] & 3 {
        0 => (0x20, 0x500, 0xa09b),
        1 => (0x1020, 0x500, 0xa09b),
        2 => (0x10, 0, 0xc09b),
        _ => (0x20, 0, 0xc09b),
    };
    let mut regs = RegFile {
        cr0: 0x8000_0011,
        cr4,
        efer,
        cr3: u64::from(u16::from_le_bytes([head[1], head[2]])) << 4,
        rip: u64::from_le_bytes([
            head[3], head[4], head[5], head[6], head[7], head[8], head[9], head[10],
        ]),
        eflags: 2,
        ..RegFile::default()
    };
    regs.cs.attributes.0 = cs_attributes;
    regs.cs.limit = 0xffff_ffff;
    regs.ss.attributes.0 = 0xc093;
    let mut state = regs.to_bytes().to_vec();
    state.extend_from_slice(memory);
    check(&state);
});
