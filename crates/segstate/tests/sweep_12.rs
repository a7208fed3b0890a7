//! Sweep 12's misreadings of real pastes (`fixtures/dumps/`, each with its sidecar):
//! what each reads to now, beyond its row in `dump_corpus/table.rs`.

use segstate::arch::{Cpl, CpuMode, GuestField, ModeSoFar, SegReg, ShownMode};
use segstate::ingest::judge::Verdict;
use segstate::ingest::log::Dialect;

mod corpus_common;
use corpus_common::{judged, noted, states};

/// QEMU prints `RAX=…` and 16-digit segment bases only with HF_CS64_MASK (EFER.LMA and
/// CS.L): a dump in that layout cut before CR0 and EFER names 64-bit mode, where it was
/// "mode unknown". The fields still decide where they can, and the rules that read
/// CR0 or EFER stay not judged.
#[test]
fn the_64_bit_layout_names_the_mode_of_a_dump_cut_before_cr0() {
    for name in [
        "coreos-assembler-3428-efault-cut.txt",
        "noname-linux-2-ovmf-vga-cut.txt",
    ] {
        let all = judged(name);
        let (d, j) = &all[0];
        assert_eq!(d.dialects, [Dialect::Qemu], "{name}");
        assert!(d.guest.cr0.is_none() && d.guest.efer.is_none(), "{name}");
        match d.mode() {
            Ok(ShownMode::Named(CpuMode::Long64, gap)) => assert_eq!(gap.lacks, GuestField::Cr0),
            other => panic!("{name}: {other:?}"),
        }
        noted(
            &d.notes,
            &format!("line {}: the 64-bit layout", d.line),
            &["HF_CS64_MASK", "its CR0 and EFER are not in the paste"],
        );
        assert!(matches!(j.verdict, Verdict::NotGuestState(_)), "{name}");
        assert!(
            j.not_judged
                .iter()
                .any(|n| n.starts_with("kvm.set-sregs.cs-l"))
        );
    }
    // The 16-digit bases alone, two segment lines: 64-bit too.
    let d = &states("libvmi-344-code-spans.txt")[0];
    assert!(matches!(d.mode(), Ok(ShownMode::Named(CpuMode::Long64, _))));
}

/// A dump in the 32-bit layout names nothing: protected or compatibility mode alike
/// print `EAX=` (HF_CS64_MASK clear).
#[test]
fn the_32_bit_layout_names_no_mode() {
    let text = corpus_common::text("noname-linux-2-ovmf-vga-cut.txt");
    let cut32 = "EIP=000b0000 EFL=00010217 [----APC] CPL=0 II=0 A20=1 SMM=0 HLT=0\n\
                 ES =0030 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]\n";
    assert!(text.contains("RIP=00000000000b0000"));
    let d = &segstate::ingest::log::read_log(&format!("EAX=00000016 EBX=0\n{cut32}"))[0];
    let gap = d.mode().unwrap_err();
    assert_eq!(gap.lacks, GuestField::Cr0);
    assert_eq!(gap.so_far, ModeSoFar::Nothing);
}

/// cloud-hypervisor#5475: the X64 handler's #UD frame shows RFLAGS bit 1 clear, CR0.PG
/// and CR4.PAE clear and CR4 without the OSFXSR the handler sets: no CPU running the
/// handler holds that, so the frame is named and nothing of it judged, the mode the
/// handler's own (IA-32e). Before, the printed CR0 decided "protected mode outside
/// IA-32e" beside the note that EFER.LMA = 1, and the state passed.
#[test]
fn an_edk2_frame_no_cpu_can_hold_is_named_and_not_judged() {
    let all = judged("cloud-hypervisor-5475-edk2-bad-frame.txt");
    assert_eq!(all.len(), 2);
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::Edk2Exception]);
    noted(
        &d.notes,
        "line 1: the frame printed is not a CPU state",
        &[
            "RFLAGS 0x18 has bit 1 clear",
            "CR0 0x21f has PG clear",
            "CR4 0x8 has PAE clear",
            "CR4 0x8 has OSFXSR clear",
            "no register of it is judged",
        ],
    );
    assert_eq!(d.guest, segstate::arch::GuestState::default());
    assert!(d.partial_segments.is_empty());
    let gap = d.mode().unwrap_err();
    assert_eq!(
        (gap.so_far, gap.lacks),
        (ModeSoFar::Ia32e, GuestField::Segment(SegReg::Cs))
    );
    assert_eq!(j.verdict, Verdict::NoState(None), "{}", j.verdict);
    // The image line still belongs to it; the #GP after it is its own, cut dump.
    noted(
        &d.notes,
        "line 18: EDK2's search for the image",
        &["0xF8BFBFF"],
    );
    assert_eq!(all[1].0.line, 19);
}

/// A frame that can be the CPU's is read as before (cloud-hypervisor#6787's #GP under
/// the same VMM: CR0 0x80010033, CR4 0x668, RFLAGS 0x10246).
#[test]
fn an_edk2_frame_a_cpu_can_hold_is_read() {
    let text = "!!!! X64 Exception Type - 0D(#GP - General Protection)  CPU Apic ID - 00000000 !!!!\n\
        ExceptionData - 0000000000000000\n\
        RIP  - 000000006EF454CD, CS  - 0000000000000038, RFLAGS - 0000000000010246\n\
        CR0  - 0000000080010033, CR2 - 0000000000000000, CR3 - 000000006FA01000\n\
        CR4  - 0000000000000668, CR8 - 0000000000000000\n";
    let d = &segstate::ingest::log::read_log(text)[0];
    assert_eq!(d.guest.cr0, Some(0x8001_0033));
    assert_eq!(d.guest.cpl, Some(Cpl::Ring0));
    assert!(!d.notes.iter().any(|n| n.contains("not a CPU state")));
    // The same frame with RFLAGS bit 1 clear is not.
    let bad = text.replace("0000000000010246", "0000000000010244");
    let d = &segstate::ingest::log::read_log(&bad)[0];
    assert_eq!(d.guest.cr0, None);
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("RFLAGS 0x10244 has bit 1 clear"))
    );
}

/// littleosbook#82: a Bochs dump cut before CS, CR0.PE clear: real mode, where every
/// segment load sets Bochs's RPL (its CPL) to 0. It was "CPL unknown".
#[test]
fn a_bochs_real_mode_dump_is_at_cpl_0_without_its_cs_line() {
    let all = judged("littleosbook-82-bochs-real-cut.txt");
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::Bochs]);
    assert_eq!(d.guest.cpl, Some(Cpl::Ring0));
    assert!(matches!(d.mode(), Ok(ShownMode::Decided(CpuMode::Real))));
    noted(&d.notes, "CPL 0: real mode", &["segment_ctrl_pro.cc"]);
    assert!(!d.notes.iter().any(|n| n.starts_with("CPL unknown")));
    assert_eq!(j.verdict, Verdict::Passes);
}

/// libvmi#344: two `info registers` lines each quoted in a Markdown code span. The
/// closing backtick stuck to the flags column, so nothing was read.
#[test]
fn dump_lines_in_code_spans_are_read() {
    let d = &states("libvmi-344-code-spans.txt")[0];
    assert_eq!(d.line, 3);
    let gs = d.guest.segments[SegReg::Gs].expect("GS");
    assert_eq!((gs.selector.0, gs.base), (0x2b, 0xffff_f803_2bf6_7000));
    let fs = d.guest.segments[SegReg::Fs].expect("FS");
    assert_eq!(
        (fs.selector.0, fs.base, fs.limit),
        (0x53, 0x7fea_9000, 0x3c00)
    );
}

/// libvmi#346: QEMU's segment lines alone, no `CPL=` and no CR0. SS's `DPL=0` suffix,
/// which QEMU prints only with CR0.PE set, makes the CPL SS.DPL; it was "CPL unknown".
/// A printed `CPL=` still wins, and a segment without its suffix says nothing.
#[test]
fn the_ss_suffix_gives_the_cpl_of_segment_lines_alone() {
    let all = judged("libvmi-346-segments-only.txt");
    let (d, j) = &all[0];
    assert_eq!(d.guest.cpl, Some(Cpl::Ring0));
    assert_eq!(d.printed_cpl, None);
    noted(
        &d.notes,
        "line 3: no CPL= in the paste; CPL 0 is SS.DPL",
        &["DPL= suffix"],
    );
    assert_eq!(j.verdict, Verdict::Passes);
    let user = "SS =002b 00000000 ffffffff 00cff300 DPL=3 DS   [-WA]\n";
    assert_eq!(
        segstate::ingest::log::read_log(user)[0].guest.cpl,
        Some(Cpl::Ring3)
    );
    let bare = "SS =002b 00000000 ffffffff 00cff300\n";
    assert_eq!(segstate::ingest::log::read_log(bare)[0].guest.cpl, None);
    let printed = format!("EIP=00001000 EFL=00000002 [-------] CPL=0 II=0\n{user}");
    let d = &segstate::ingest::log::read_log(&printed)[0];
    assert_eq!(
        d.guest.cpl,
        Some(Cpl::Ring0),
        "QEMU's own CPL= is read as printed"
    );
}
