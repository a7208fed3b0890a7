#![no_main]
//! Pasted logs: prefix stripping, the word readers of every dialect (QEMU, Linux
//! dump_vmcs/dump_vmcb, Xen, HAXM, hyperkit's hvdump, bhyvectl, kvm_sregs printouts),
//! exit lines, merging, the instruction at RIP (QEMU's `Code=` bytes and an emulation
//! failure's, decoded), and the judgement of every state for every target. Besides "no
//! panic": nothing is reported about a segment the dump does not show, the verdict is one
//! line, an instruction is never longer than 15 bytes, and the dump count stays bounded.
use libfuzzer_sys::fuzz_target;
use segstate::check::report::Vendors;
use segstate::ingest::judge::judge;
use segstate::ingest::log::{MAX_DUMPS, read_log};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let logs = read_log(text);
    // Kernel and QEMU dumps are read apart, so a log holds at most twice the cap
    // before merging, plus one state of exit lines.
    assert!(logs.len() <= MAX_DUMPS + 1, "{} states", logs.len());
    for d in &logs {
        for i in [d.instruction_at_rip(), d.emulated_instruction()].into_iter().flatten() {
            assert!(i.bytes.len() <= 15, "{} bytes", i.bytes.len());
            std::hint::black_box(i.to_string());
        }
        for chosen in [None, Some(Vendors::Intel), Some(Vendors::Amd), Some(Vendors::Both)] {
            let j = judge(d, chosen);
            let verdict = j.verdict.to_string();
            assert!(!verdict.contains('\n'), "{verdict}");
            for e in &j.report.entries {
                if let Some(r) = e.finding.reg {
                    assert!(d.guest.segments[r].is_some(), "{} on {r}", e.finding.id);
                }
                std::hint::black_box(e.finding.to_string());
            }
        }
    }
});
