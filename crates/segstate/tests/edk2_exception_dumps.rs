//! EDK2's CPU exception dumps as users pasted them (`fixtures/dumps/`: OVMF under QEMU,
//! KubeVirt and VMware, a tutorial's run, an IA32 build), each with its sidecar: read
//! through the pasters' prefixes, judged for the architecture alone, the exception and
//! its error code in words.

use segstate::arch::{GuestField, ModeSoFar, PrivilegeLevel, SegReg};
use segstate::ingest::judge::{Verdict, judge};
use segstate::ingest::log::{Dialect, LogDump, Target};

mod corpus_common;

fn dump(name: &str) -> LogDump {
    let mut all = corpus_common::states(&format!("{name}.txt"));
    assert_eq!(all.len(), 1, "{name}: {all:?}");
    all.remove(0)
}

fn noted(d: &LogDump, part: &str) -> bool {
    d.notes.iter().any(|n| n.contains(part))
}

/// The samples: name, X64 (or IA32), RIP, CR0, the headline's exception.
const SAMPLES: [(&str, bool, u64, Option<u64>, &str); 6] = [
    (
        "edk2-pr4568-ia32-secboot",
        false,
        0x7ff_97a6,
        Some(0x8001_003b),
        "#PF, vector 14",
    ),
    (
        "edk2-10056-quoted",
        true,
        0x7eec_74be,
        None,
        "#PF, vector 14",
    ),
    (
        "kubevirt-3756",
        true,
        0x3ffc_8b50,
        Some(0x8001_0033),
        "#PF, vector 14",
    ),
    (
        "barevisor-4",
        true,
        0x1_4000_6384,
        Some(0x8001_0033),
        "#GP, vector 13",
    ),
    (
        "uefi-lessons-38-afaf",
        true,
        0xafaf_afaf_afaf_afaf,
        Some(0x8001_0033),
        "#GP, vector 13",
    ),
    (
        "ipxe-883",
        true,
        0x60d_298e,
        Some(0x8001_0033),
        "#GP, vector 13",
    ),
];

/// Each paste is one EDK2 dump, whatever its prefix (`  12: `, `Idx:0 Output:`, a
/// bug tracker's `&gt;| `), judged for the architecture alone: the firmware's own
/// handler printed a state the CPU ran in, so no VM entry rule applies.
#[test]
fn every_sample_reads_as_one_firmware_dump() {
    for (name, x64, rip, cr0, exception) in SAMPLES {
        let d = dump(name);
        assert_eq!(d.dialects, [Dialect::Edk2Exception], "{name}");
        assert_eq!(d.target, Target::Firmware, "{name}");
        assert_eq!(d.guest.rip, Some(rip), "{name}");
        assert_eq!(d.guest.cr0, cr0, "{name}");
        assert_eq!(d.guest.efer, None, "{name}: EFER is not printed");
        assert!(d.guest.has_no_segments(), "{name}");
        assert!(d.partial_segments.contains(&SegReg::Cs), "{name}");
        assert!(
            d.notes[0].contains(&format!("{exception} (`")),
            "{name}: {:?}",
            d.notes
        );
        let width = if x64 {
            "an X64 handler runs only in IA-32e"
        } else {
            "an IA32 handler"
        };
        assert!(d.notes[1].starts_with(width), "{name}: {:?}", d.notes);
        let j = judge(&d, None);
        assert_eq!(j.vendors, None, "{name}: architecture only");
        let expected = if cr0.is_some() {
            Verdict::Passes
        } else {
            Verdict::NoState(None)
        };
        assert_eq!(j.verdict, expected, "{name}: {}", j.verdict);
        assert!(
            j.report.entries.iter().all(|e| e.finding.reg.is_none()),
            "{name}: a segment finding from selectors alone"
        );
    }
}

/// The handler's width names EFER.LMA where EFER is not printed: an X64 dump is in
/// IA-32e mode, 64-bit or compatibility left to CS.L; an IA32 dump is outside it.
#[test]
fn the_handler_names_the_mode_efer_does_not_show() {
    for (name, so_far) in [
        ("kubevirt-3756", ModeSoFar::Ia32e),
        ("ipxe-883", ModeSoFar::Ia32e),
        ("edk2-pr4568-ia32-secboot", ModeSoFar::Legacy),
    ] {
        let d = dump(name);
        // The fields alone stop at EFER; the handler takes the mode further.
        let fields = d.guest.shown_mode().unwrap_err();
        assert_eq!(fields.lacks, GuestField::Efer, "{name}");
        let gap = d.mode().unwrap_err();
        assert_eq!(
            (gap.so_far, gap.lacks),
            (so_far, GuestField::Segment(SegReg::Cs)),
            "{name}"
        );
        assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring0), "{name}");
    }
}

/// The error code in words: #PF's bits with CR2, #GP's 0 as naming no selector; and the
/// X64 handler's own CR4 bits.
#[test]
fn the_error_code_and_cr4_are_said_in_words() {
    let d = dump("kubevirt-3756");
    assert!(
        noted(
            &d,
            "ExceptionData 0x3, #PF's error code: a write (W = 1) in supervisor mode (U = 0) \
             met a protection violation on a present page (P = 1); CR2 0x3ec03fc0 is the \
             linear address it faulted on"
        ),
        "{:?}",
        d.notes
    );
    assert!(noted(
        &d,
        "CR4 as printed has DE (bit 3) and OSFXSR (bit 9) set by the handler"
    ));
    // IA32's handler saves CR4 before changing it; its #PF code 8 has R = 1 without P.
    let d = dump("edk2-pr4568-ia32-secboot");
    assert!(!noted(&d, "CR4 as printed"));
    assert!(
        noted(
            &d,
            "met a not-present page (P = 0), with a reserved bit set in a paging entry (R = 1); R = 1 with P = 0 is a pair the SDM rules out"
        ),
        "{:?}",
        d.notes
    );
    assert!(noted(&d, "CR2 0x6ad713c is the linear address"));
    for name in ["barevisor-4", "ipxe-883", "uefi-lessons-38-afaf"] {
        assert!(
            noted(
                &dump(name),
                "ExceptionData 0, #GP's error code: it names no descriptor"
            ),
            "{name}"
        );
    }
}

/// RIP full of EDK2's cleared-memory byte is named as such, in the tutorial's
/// use-after-free run only.
#[test]
fn a_cleared_memory_rip_is_named_in_its_sample_only() {
    for (name, _, _, _, _) in SAMPLES {
        let named = noted(&dump(name), "is EDK2's DEBUG_CLEAR_MEMORY fill");
        assert_eq!(named, name == "uefi-lessons-38-afaf", "{name}");
    }
    assert!(noted(
        &dump("uefi-lessons-38-afaf"),
        "a pointer read from freed memory (a use after free)"
    ));
}

/// Cut pastes say what is cut and what is missing; the image line is kept.
#[test]
fn cut_samples_name_what_they_lack() {
    let d = dump("barevisor-4");
    assert_eq!(d.guest.cr3, None);
    assert!(
        noted(
            &d,
            "line 18: CR3 `000000000FC0100` is not the 16 hex digits"
        ),
        "{:?}",
        d.notes
    );
    assert!(noted(
        &d,
        "line 18: the dump stops after `CR3`: CR4, GDTR, IDTR, LDTR, TR not in the paste"
    ));
    let d = dump("edk2-10056-quoted");
    assert!(noted(&d, "line 14: GS `000000` is not the 16 hex digits"));
    assert!(noted(
        &d,
        "SS, CR0, CR3, CR4, GDTR, IDTR, LDTR, TR not in the paste"
    ));
    assert!(noted(&d, "CPL unknown"));
    let d = dump("ipxe-883");
    assert!(noted(
        &d,
        "line 22: EDK2's search for the image holding the instruction pointer: `Can't find image information.`"
    ));
    assert!(!noted(&d, "not in the paste"));
}

/// A mail archive's copy with every aligned column collapsed to one space
/// (`RIP - …, CS - …`) reads as EDK2 printed it.
#[test]
fn collapsed_columns_read_alike() {
    let d = dump("lp-1624096-ovmf-collapsed");
    assert_eq!(d.guest.rip, Some(0xafaf_afaf_afaf_afaf));
    assert_eq!(d.guest.rflags, Some(0x206));
    assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring0));
    assert!(
        noted(&d, "is EDK2's DEBUG_CLEAR_MEMORY fill"),
        "{:?}",
        d.notes
    );
    assert!(!noted(&d, "RIP, CS not in the paste"), "{:?}", d.notes);
}
