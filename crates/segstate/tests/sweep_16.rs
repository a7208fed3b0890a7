//! Sweep 16's misreadings of real pastes (`fixtures/dumps/`, each with its sidecar):
//! what each reads to now, beyond its row in `dump_corpus/table.rs`.

use segstate::arch::Vendor;
use segstate::ingest::code_at_rip::Decoding;
use segstate::ingest::exit::{Exit, ExitClass, TripleFaultReport, XenEmulationFailure};
use segstate::ingest::judge::Verdict;
use segstate::ingest::log::Target;

mod corpus_common;
use corpus_common::judged;

const XEN_TRIPLE: ExitClass = ExitClass::TripleFault {
    vector: None,
    by: TripleFaultReport::Xen,
};

/// NixOS/nixpkgs#373416: Xen's `MMIO emulation failed (1): d1v0 16bit @ f000:0000fea7
/// -> 66 ea af fe ff ff 10 00 …`, then its triple-fault report. Only the triple fault
/// was read; the first line is now Xen's emulation failure with each field
/// `hvm_dump_emulation_state` prints, and the instruction it failed on is decoded in
/// the width the line names. The triple fault, which ended the run, still decides.
#[test]
fn xen_s_mmio_emulation_failure_is_read_with_its_instruction() {
    let all = judged("nixpkgs-373416-xen-ovmf-mmio.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert_eq!(d.exits.len(), 2);
    assert_eq!(
        d.exits[0],
        (
            1,
            Exit::XenEmulationFailed(XenEmulationFailure {
                caller: "MMIO",
                rc: Some(1),
                mode: Some("16bit"),
                cs: 0xf000,
                ip: 0xfea7,
                bytes: vec![
                    0x66, 0xea, 0xaf, 0xfe, 0xff, 0xff, 0x10, 0x00, 0xb8, 0x40, 0x06, 0x00, 0x00,
                    0x0f, 0x22, 0xe0,
                ],
            })
        )
    );
    assert_eq!(d.exits[0].1.class(), ExitClass::XenEmulationFailed("MMIO"));
    assert!(!ExitClass::XenEmulationFailed("MMIO").blames_guest_state());
    assert!(!ExitClass::XenEmulationFailed("MMIO").is_ordinary());
    assert_eq!(d.exits[1].0, 2);
    assert_eq!(d.exit().map(Exit::class), Some(XEN_TRIPLE));
    assert_eq!(j.verdict, Verdict::NoState(Some(XEN_TRIPLE)));
    assert_eq!(d.target, Target::Unknown);
    // OVMF's reset-vector far jump to 32-bit protected mode, a 16:32 pointer.
    let i = d.emulated_instruction().expect("the line's bytes");
    assert_eq!(i.line, 1);
    assert_eq!(i.bits, Some(16));
    assert_eq!(i.bytes, [0x66, 0xea, 0xaf, 0xfe, 0xff, 0xff, 0x10, 0x00]);
    assert!(
        matches!(i.decoding, Decoding::Decoded { len: 8, .. }),
        "{i}"
    );
    assert!(
        i.to_string().starts_with("jmp far ptr 0x10:0xfffffeaf"),
        "{i}"
    );
    // The hint on rules not judged names Xen's switch, not KVM's.
    let hint = j
        .report
        .notes
        .iter()
        .find(|n| n.contains("rules beyond the segments are not judged"))
        .expect("the note");
    assert!(hint.contains("Xen's `v` debug key"), "{hint}");
    assert!(!hint.contains("kvm_intel"), "{hint}");
}

/// QubesOS/qubes-issues#6029 (sweep 15's fixture): the same line with no bytes, Xen's
/// fetch of the instruction failed (`-> ` and nothing after). It was not read; it is
/// Xen's emulation failure in 32-bit mode at 0008:fffeedfd, and no instruction is
/// named.
#[test]
fn xen_s_emulation_failure_without_bytes_names_no_instruction() {
    let all = judged("qubes-issues-6029-xen-mmio-triple.txt");
    let (d, j) = &all[0];
    corpus_common::xen_mmio_failure_without_bytes(d, 0, 2, "32bit", 8, 0xfffe_edfd);
    assert_eq!(j.verdict, Verdict::NoState(Some(XEN_TRIPLE)));
}

/// The failure a VMLAUNCH report names, read alone (no registers in the paste): the
/// exit, the line it is on, its class, the verdict.
fn vmlaunch_failure(name: &str, line: usize, error: u64) {
    let all = judged(name);
    assert_eq!(all.len(), 1, "{name}");
    let (d, j) = &all[0];
    let fail = Exit::FailEntry {
        reason: error,
        vendor: Some(Vendor::Intel),
        qualification: None,
    };
    assert_eq!(d.exits, [(line, fail.clone())], "{name}");
    let class = ExitClass::VmInstructionError(error as u32);
    assert_eq!(fail.class(), class, "{name}");
    assert!(!class.blames_guest_state(), "{name}");
    assert_eq!(j.verdict, Verdict::NoState(Some(class)), "{name}");
    assert_eq!(d.target, Target::Intel, "{name}");
}

/// jonomango/hv#49: DebugView's capture of hv loading on a Xeon E5-2686 v4, ending in
/// `[hv] VMLAUNCH failed. Instruction error = 7.` Nothing was read; line 15 is now
/// VM-instruction error 7 (invalid control fields) on Intel, so the guest state is not
/// to blame, and no registers are printed to judge.
#[test]
fn jonomango_hv_s_vmlaunch_error_is_the_vm_instruction_error() {
    vmlaunch_failure("jonomango-hv-49-vmlaunch-error.txt", 15, 7);
}

/// Bareflank/hypervisor#267: `vmlaunch failed:` then `- vm_instruction_error: VM entry
/// with invalid host-state field(s)`, the error by the SDM's name, not its number.
/// Nothing was read; line 2 is now VM-instruction error 8 (invalid host-state fields)
/// on Intel, and line 1, which names no error, is no exit.
#[test]
fn bareflank_s_vm_instruction_error_by_name_is_read() {
    vmlaunch_failure("bareflank-267-vmlaunch-host-state.txt", 2, 8);
}
