//! The instruction at RIP, read from QEMU's `Code=` line in real pasted dumps
//! (`fixtures/dumps/`, each with a sidecar naming its thread) and decoded in the
//! width the dump's mode and CS give.
#![cfg(feature = "disasm")]

use segstate::ingest::code_at_rip::{Decoding, InstructionAtRip};

mod corpus_common;

fn instructions(name: &str) -> Vec<Option<InstructionAtRip>> {
    corpus_common::states(name)
        .iter()
        .map(|d| d.instruction_at_rip())
        .collect()
}

/// The one dump's instruction at RIP, as (text, bits, bytes).
fn decoded(name: &str) -> (String, u32, String) {
    let all = instructions(name);
    let Some(Some(i)) = all.iter().find(|i| i.is_some()) else {
        panic!("{name}: no Code= read: {all:?}");
    };
    match &i.decoding {
        Decoding::Decoded { text, .. } => (text.clone(), i.bits.unwrap(), i.hex()),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn the_instruction_at_rip_decodes_in_each_mode_the_corpus_holds() {
    for (name, text, bits, bytes) in [
        // A WRMSR KVM could not complete (Qian Cai, 2020).
        ("kvm-2020-qcai-kvmrun-enoent.txt", "wrmsr", 64, "0f 30"),
        // A byte store to MMIO KVM could not emulate (a `> `-quoted paste).
        (
            "kvm-2103-rome-einval-modules.txt",
            "mov [rbp], r12b",
            64,
            "44 88 65 00",
        ),
        // An SSE store to the virgl blob mapping, at CPL 3.
        (
            "virgl-2025-efault-cpl3.txt",
            "movss dword ptr [rax+0x64], xmm7",
            64,
            "f3 0f 11 78 64",
        ),
        // The reset vector's far jump, in 16-bit real mode.
        (
            "lkml-1907-jailhouse.txt",
            "jmp far ptr 0xf000:0xe05b",
            16,
            "ea 5b e0 00 f0",
        ),
        // `hlt; jmp $-1` in 32-bit protected mode: the target is the HLT before it.
        (
            "bugzilla-213781-svm-memslot-emulfail.txt",
            "jmp short 0xfc959",
            32,
            "eb fd",
        ),
        // RSM in 16-bit code (SMM's entry state), which KVM's emulator failed.
        ("gvt-linux-158.txt", "rsm", 16, "0f aa"),
        // SeaBIOS's ENDBR32 in big real mode, on KVM's emulator path.
        (
            "lp-1866870-seabios-big-real-mode.txt",
            "endbr32",
            16,
            "f3 0f 1e fb",
        ),
    ] {
        assert_eq!(
            decoded(name),
            (text.to_string(), bits, bytes.to_string()),
            "{name}"
        );
    }
}

#[test]
fn every_dump_of_a_log_gets_its_own_code_line() {
    let all = instructions("lkml-2310-cxl-stressng-two-dumps.txt");
    let texts: Vec<Option<String>> = all
        .iter()
        .map(|i| match i.as_ref().map(|i| &i.decoding) {
            Some(Decoding::Decoded { text, .. }) => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        [
            Some("xsave64 [rdi]".to_string()),
            Some("push r13".to_string())
        ]
    );
}

#[test]
fn bytes_qemu_could_not_read_are_named_not_decoded() {
    // An SEV guest's memory is encrypted: QEMU prints `??` for all 50 bytes. The
    // second sample is a mail's quoted-printable `Code=3D??`.
    for name in ["amdsev-100.txt", "qemu-smm-migration-qp.txt"] {
        let all = instructions(name);
        let i = all
            .iter()
            .flatten()
            .next()
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(i.decoding, Decoding::Unreadable, "{name}");
        assert!(i.bytes.is_empty(), "{name}");
        assert!(i.to_string().contains("??"), "{name}: {i}");
    }
}

#[test]
fn a_code_line_without_its_bytes_gives_no_instruction() {
    // `Code=0f 1f ... ...` (elided by its poster) and `Code=` followed by QEMU's
    // assertion, printed before the bytes.
    for name in ["qemu-2023-cpuindex-suberr764064.txt", "systemd-35885.txt"] {
        assert!(
            instructions(name).iter().all(Option::is_none),
            "{name}: {:?}",
            instructions(name)
        );
    }
}

#[test]
fn an_emulation_failures_own_bytes_name_the_instruction_kvm_failed_on() {
    // Linux 5.15's emulation-failure report carries the 15 bytes KVM fetched: they
    // decode to what QEMU's `Code=` line shows at RIP.
    let states = corpus_common::states("lkml-2310-cxl-stressng-two-dumps.txt");
    let emulated = states[0].emulated_instruction().expect("instruction bytes");
    assert_eq!(emulated.line, 9, "the exit line");
    assert_eq!(emulated.hex(), "48 0f ae 27");
    let at_rip = states[0].instruction_at_rip().unwrap();
    assert_eq!(emulated.decoding, at_rip.decoding);
    // The second dump's exit is an event-delivery error, which carries no bytes; an
    // emulation failure without the flag (gvt-linux#158, flags 0) carries none either.
    assert_eq!(states[1].emulated_instruction(), None);
    let gvt = corpus_common::states("gvt-linux-158.txt");
    assert!(gvt.iter().all(|d| d.emulated_instruction().is_none()));
}
