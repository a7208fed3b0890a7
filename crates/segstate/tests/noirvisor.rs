//! NoirVisor's VMCS guest-state dump (`ingest::noirvisor`) on the real paste of
//! NoirVisor issue #24 (`fixtures/dumps/noirvisor-24.txt`, with its sidecar): what it
//! reads to, beyond its row in `dump_corpus/table.rs`.

use segstate::arch::{Cpl, GuestField, ModeSoFar, SegReg};
use segstate::ingest::exit::ExitClass;
use segstate::ingest::judge::Verdict;
use segstate::ingest::log::{Dialect, Target};

mod corpus_common;
use corpus_common::{judged, noted};

const PASTE: &str = "noirvisor-24.txt";

/// The eight segments of the paste, each read whole from its line: CS 0x10 with access
/// rights 0x209B (64-bit ring-0 code: L set, D clear), SS 0x18, the LDTR unusable
/// (access rights 0x10000), TR a busy 64-bit TSS; the descriptor tables and CR0.
#[test]
fn the_segments_and_tables_are_read() {
    let all = judged(PASTE);
    assert_eq!(all.len(), 1);
    let (d, _) = &all[0];
    assert_eq!(d.dialects, [Dialect::NoirVisor]);
    assert_eq!(d.line, 5);
    let g = &d.guest;
    let cs = g.segments[SegReg::Cs].unwrap();
    assert_eq!((cs.selector.0, cs.base, cs.limit), (0x10, 0, 0));
    assert!(cs.attributes.l && !cs.attributes.db && cs.attributes.dpl == Cpl::Ring0);
    assert!(cs.attributes.s && cs.attributes.present);
    assert_eq!(cs.attributes.segment_type.bits(), 0xb);
    let ss = g.segments[SegReg::Ss].unwrap();
    assert_eq!(ss.selector.0, 0x18);
    assert!(!ss.unusable && ss.attributes.dpl == Cpl::Ring0);
    assert!(g.segments[SegReg::Ldtr].unwrap().unusable);
    let gs = g.segments[SegReg::Gs].unwrap();
    assert_eq!((gs.selector.0, gs.base), (0x2b, 0xffff_9400_1cc4_0000));
    let fs = g.segments[SegReg::Fs].unwrap();
    assert_eq!(
        (fs.selector.0, fs.limit, fs.attributes.dpl),
        (0x53, 0xbc00, Cpl::Ring3)
    );
    let tr = g.segments[SegReg::Tr].unwrap();
    assert_eq!(
        (tr.selector.0, tr.limit, tr.attributes.segment_type.bits()),
        (0x40, 0x67, 0xb)
    );
    assert_eq!(
        g.gdtr.map(|t| (t.base, t.limit)),
        Some((0xffff_9400_1cc5_1fb0, 0x57))
    );
    assert_eq!(
        g.idtr.map(|t| (t.base, t.limit)),
        Some((0xffff_9400_1cc4_f000, 0xfff))
    );
    assert_eq!(g.cr0, Some(0x8005_0033));
    assert_eq!(g.cpl, Some(Cpl::Ring0));
}

/// The paste ends inside CR3's value (14 of `%p`'s 16 digits): CR3 is named as cut,
/// not read, and nothing after it is in the paste.
#[test]
fn the_cut_cr3_is_named_not_read() {
    let (d, _) = &judged(PASTE)[0];
    let g = &d.guest;
    assert_eq!((g.cr3, g.cr4, g.efer, g.rip), (None, None, None, None));
    assert_eq!(g.controls.entry, None);
    noted(
        &d.notes,
        "line 15: NoirVisor's `CR3` value `0x00000004154F00` is not read",
        &["16 hex digits"],
    );
}

/// The exit is `Failed at VM-Entry, Code=7`: VM-instruction error 7, the control
/// checks', so the guest state is not blamed though the dump is cut; the target is
/// Intel VMX; the mode is protected, IA-32e or not unknown (EFER is past the cut).
#[test]
fn error_7_is_the_controls_not_the_guest_state() {
    let (d, j) = &judged(PASTE)[0];
    assert_eq!(d.target, Target::Intel);
    let e = d.exit().expect("the exit line");
    assert_eq!(e.class(), ExitClass::VmInstructionError(7));
    assert!(!e.class().blames_guest_state());
    assert_eq!(
        j.verdict,
        Verdict::NotGuestState(ExitClass::VmInstructionError(7))
    );
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
    // CS.L is set, but EFER and the entry controls are past the cut: IA-32e mode is
    // not decided.
    let gap = d.mode().unwrap_err();
    assert_eq!(
        (gap.so_far, gap.lacks),
        (ModeSoFar::Protected, GuestField::Efer)
    );
}
