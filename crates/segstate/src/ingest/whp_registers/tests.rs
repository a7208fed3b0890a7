use super::*;
use crate::arch::{PrivilegeLevel, SegReg};
use crate::ingest::text::normalise;

fn read_text(t: &str) -> Vec<RawDump> {
    listings(&normalise(t))
}

/// hyperlight#168's listing (January 2025), the lines as the issue quotes them.
const ISSUE_168: &str = "\
Error: Did not receive a halt from Hypervisor as expected - Received WHV_RUN_VP_EXIT_REASON(8193)!
  WHV_REGISTER_NAME(  30) - 0x0000000000000000 0000000000200000
  WHV_REGISTER_NAME(   2) - 0x0000000000000000 0000000000000000
  WHV_REGISTER_NAME(   4) - 0x0000000000000000 000000000026BCA0
  WHV_REGISTER_NAME(  17) - 0x0000000000000000 0000000000000097
  WHV_REGISTER_NAME(  19) - 0xA09B0008FFFFFFFF 0000000000000000
  WHV_REGISTER_NAME(  28) - 0x0000000000000000 0000000080050033
  WHV_REGISTER_NAME(  31) - 0x0000000000000000 0000000000000620
  WHV_REGISTER_NAME(8193) - 0x0000000000000000 0000000000000500
  WHV_REGISTER_NAME(  16) - 0x0000000000000000 00000000002045AB
  WHV_REGISTER_NAME(   8) - 0x0000000000000000 0000000000000000
  WHV_REGISTER_NAME(   1) - 0x0000000000000000 000000000023399C
";

/// CS from the high half (attributes a09b, selector 8, limit ffffffff), base from the
/// low; no SS, so no CPL.
#[test]
fn the_issue_s_listing_reads() {
    let all = read_text(ISSUE_168);
    assert_eq!(all.len(), 1);
    let d = &all[0];
    assert_eq!(d.dialect, Dialect::WhpRegisters);
    assert_eq!((d.lines.first, d.lines.last), (2, 12));
    let cs = d.guest.segments[SegReg::Cs].expect("CS");
    assert_eq!(cs.selector.0, 8);
    assert_eq!((cs.base, cs.limit), (0, 0xffff_ffff));
    let a = cs.attributes;
    assert_eq!(a.segment_type.bits(), 0xb);
    assert_eq!(
        (a.s, a.present, a.l, a.db, a.g),
        (true, true, true, false, true)
    );
    assert_eq!(a.dpl, PrivilegeLevel::Ring0);
    for r in SegReg::ALL.into_iter().filter(|r| *r != SegReg::Cs) {
        assert!(d.guest.segments[r].is_none(), "{r:?}");
    }
    assert_eq!(d.guest.cpl, None);
    // 8193 (0x2001) is EFER; the other registers are asserted in tests/sweep_14.rs.
    assert_eq!(d.guest.efer, Some(0x500));
    assert!(d.notes.is_empty(), "{:?}", d.notes);
}

/// SS carries the CPL; a table register's limit is bits 63:48 of the low half and its
/// base the high half; Hyper-V's reserved attribute bits 11:8 are refused, named in a
/// note.
#[test]
fn ss_tables_and_reserved_bits() {
    let t = "\
  WHV_REGISTER_NAME(  20) - 0x40F30010FFFFFFFF 0000000000000000
  WHV_REGISTER_NAME(  27) - 0xFFFFF80000001000 007F000000000000
  WHV_REGISTER_NAME(  21) - 0x0F930010FFFFFFFF 0000000000000000
";
    let d = &read_text(t)[0];
    let ss = d.guest.segments[SegReg::Ss].expect("SS");
    assert_eq!(ss.attributes.dpl, PrivilegeLevel::Ring3);
    assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring3));
    let gdtr = d.guest.gdtr.expect("GDTR");
    assert_eq!((gdtr.base, gdtr.limit), (0xffff_f800_0000_1000, 0x7f));
    assert!(d.guest.segments[SegReg::Ds].is_none());
    assert!(
        d.notes.iter().any(|n| n.starts_with("line 3: DS")),
        "{:?}",
        d.notes
    );
}

/// A register listed again starts a second listing; a line farther than the gap
/// starts another; a cut value and a 64-bit register with a high half are named, not
/// read.
#[test]
fn listings_split_and_odd_lines_are_named() {
    let t = "\
  WHV_REGISTER_NAME(  28) - 0x0000000000000000 0000000080050033
  WHV_REGISTER_NAME(  28) - 0x0000000000000000 0000000000000011
  WHV_REGISTER_NAME(  31) - 0x0000000000000001 0000000000000620
  WHV_REGISTER_NAME(  16) - 0x0000000000000000 00000000002045


  WHV_REGISTER_NAME(  28) - 0x0000000000000000 0000000080000031
";
    let all = read_text(t);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].guest.cr0, Some(0x8005_0033));
    assert_eq!(all[1].guest.cr0, Some(0x11));
    assert_eq!(all[1].guest.cr4, None);
    assert_eq!(all[1].guest.rip, None);
    assert_eq!(all[1].notes.len(), 2, "{:?}", all[1].notes);
    assert!(all[1].notes[0].contains("high half"));
    assert!(all[1].notes[1].starts_with("line 4:"));
    assert_eq!(all[2].guest.cr0, Some(0x8000_0031));
    assert_eq!(all[2].lines.first, 7);
}

/// Lines that only look alike are no listing, and nothing panics on garbage.
#[test]
fn garbage_is_no_listing() {
    for t in [
        "WHV_REGISTER_NAME",
        "WHV_REGISTER_NAME(",
        "WHV_REGISTER_NAME(99999999999) - 0x0000000000000000 0000000000000000",
        "WHV_REGISTER_NAME( x) - 0x0000000000000000 0000000000000000",
        "WHV_REGISTER_NAME(  19) 0xA09B0008FFFFFFFF 0000000000000000",
        "WHV_REGISTER_NAME(  19) - 0xA09B0008FFFFFFFFF 0000000000000000",
        "WHV_REGISTER_NAME(  19) - 0xA09B0008FFFFFFFF",
    ] {
        let all = read_text(t);
        assert!(all.iter().all(|d| !d.has_fields()), "{t}");
    }
    assert!(read_text("WHV_REGISTER_NAME(  19) - 0xA09B0008FFFFFFFF 0000000000000000").len() == 1);
}

/// microsandbox#1095's lines (July 2026): `NAME=0x…` words around `ExecState=`, read
/// for CR0, CR3, CR4, EFER, RIP, RFLAGS and the CPL of WHV_X64_VP_EXECUTION_STATE, and
/// blanked so that dump_vmcs's reader does not take `RIP=0x…` for its own.
const ISSUE_1095: &str = "\
WHP vCPU 0 exited with unhandled reason 4
RIP=0xffffffff810196dc  CR0=0x0000000080050033  CR3=0x0000000000000000
CR4=0x00000000000000b0  EFER=0x0000000000000d01  RSP=0xffffffff82203d70
RFLAGS=0x0000000000000046  ExecState=0x005c
";

fn claimed(t: &str) -> (Vec<RawDump>, Vec<(usize, String)>) {
    let mut lines = normalise(t);
    let out = claim(&mut lines);
    (out, lines)
}

#[test]
fn an_exec_state_block_reads_and_is_claimed() {
    let (all, lines) = claimed(ISSUE_1095);
    assert_eq!(all.len(), 1);
    let d = &all[0];
    assert_eq!((d.lines.first, d.lines.last), (2, 4));
    assert_eq!(d.guest.cr4, Some(0xb0));
    assert_eq!(d.guest.cr3, Some(0));
    assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring0));
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    assert!(
        d.notes[0].contains("CR0.PE 1, CR0.AM 1, EFER.LMA 1"),
        "{:?}",
        d.notes
    );
    assert!(
        d.notes[0].contains("InterruptionPending 1"),
        "{:?}",
        d.notes
    );
    assert!(lines[1..].iter().all(|(_, l)| l.is_empty()));
    assert!(!lines[0].1.is_empty());
}

/// A CPL of 3, a flag the registers contradict, reserved bits; words of another kind
/// on a line keep it out of the block; no `ExecState=`, no block.
#[test]
fn exec_state_variants() {
    let (all, _) = claimed("CR0=0x0000000000000011\nExecState=0x000f\n");
    assert_eq!(all[0].guest.cpl, Some(PrivilegeLevel::Ring3));
    assert!(
        all[0]
            .notes
            .iter()
            .any(|n| n.contains("CR0.AM = 1, the printed register 0"))
    );
    let (all, _) = claimed("ExecState=0x0080\n");
    assert_eq!(all[0].guest.cpl, None);
    assert!(
        all[0].notes[0].contains("reserves (0x80)"),
        "{:?}",
        all[0].notes
    );
    let (all, lines) = claimed("RIP=0x1000 junk\nCR0=0x11 ExecState=0x4\n");
    assert_eq!((all[0].lines.first, all[0].guest.rip), (2, None));
    assert!(!lines[0].1.is_empty());
    let (all, _) = claimed("RIP=0x1000 CR0=0x11\nRFLAGS=0x2\n");
    assert!(all.is_empty());
    let (all, _) = claimed("ExecState=0x ExecState=0x12345678901234567\nExecState=\n");
    assert!(all.is_empty());
}
