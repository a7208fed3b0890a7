//! Sweep 13's misreadings of real pastes (`fixtures/dumps/`, each with its sidecar):
//! what each reads to now, beyond its row in `dump_corpus/table.rs`.

use segstate::arch::{Cpl, CpuMode, SegReg, ShownMode};
use segstate::ingest::exit::{Exit, ExitClass};
use segstate::ingest::judge::Verdict;
use segstate::ingest::log::Dialect;

mod corpus_common;
use corpus_common::{judged, noted};

/// xhyve#215: xhyve's `vm exit[1]` report pasted with its tabs turned into spaces. It
/// read to nothing ("no CPU state dump found"); its exit reason is read whole within
/// the report, the exit named as the class of reason 28, and the qualification printed
/// on the next line joined to it.
#[test]
fn a_bhyve_report_with_spaces_for_tabs_is_read() {
    let all = judged("xhyve-pr215-lmsw.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert!(d.dialects.is_empty());
    assert_eq!(
        d.exits,
        [(
            7,
            Exit::VmxExitReason {
                reason: 28,
                qualification: Some(0x1_0030),
            }
        )]
    );
    assert_eq!(j.verdict, Verdict::NoState(Some(ExitClass::VmxExit(28))));
    assert!(j.verdict.to_string().contains("control-register access"));
}

/// The same report's qualification, decoded per SDM Vol. 3C Table 28-3 in check's
/// notes: LMSW (access type 3) from a register (bit 6 clear) with source data 0x0001
/// (bits 31:16), the instruction the thread is about.
#[test]
fn a_cr_access_qualification_is_decoded_in_the_notes() {
    let (d, _) = &judged("xhyve-pr215-lmsw.txt")[0];
    noted(
        &d.notes,
        "line 7: exit qualification 0x10030 of a control-register access (exit reason 28)",
        &[
            "LMSW from a register with source data 0x0001",
            "PE=1 MP=0 EM=0 TS=0",
            "Table 28-3",
        ],
    );
    assert!(
        !d.notes.iter().any(|n| n.contains("bits 0x")),
        "{:?}",
        d.notes
    );
    // Through `segstate::ingest::read`, as `check` reads it: the note is the input's.
    let bytes = corpus_common::text("xhyve-pr215-lmsw.txt").into_bytes();
    let inputs = segstate::ingest::read(&bytes, None).expect("read");
    assert!(inputs[0].notes.iter().any(|n| n.contains("LMSW")));
}

/// edk2#91: a Linux dump_vmcs of a vCPU entering SMM, CR0.PE clear, the paste cut
/// inside the CS line, before SS. A VMCS's CPL is SS.DPL; with SS cut it read "CPL
/// unknown", but in real mode the CPL is 0 and VM entry holds SS.DPL to 0 when the CR0
/// field's PE is 0 (SDM Vol. 3C §27.3.1.2).
#[test]
fn a_real_mode_dump_vmcs_cut_before_ss_is_at_cpl_0() {
    let all = judged("edk2-91-webczat-real-cut.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::LinuxVmcs]);
    assert_eq!(d.guest.cr0, Some(0x5_0032));
    assert!(d.guest.segments[SegReg::Ss].is_none());
    assert!(matches!(d.mode(), Ok(ShownMode::Decided(CpuMode::Real))));
    assert_eq!(d.guest.cpl, Some(Cpl::Ring0));
    noted(&d.notes, "CPL 0: real mode", &["SS.DPL", "§27.3.1.2"]);
    assert_eq!(j.verdict, Verdict::Passes);
    // With PE set and SS cut, the CPL stays unknown: SS.DPL alone would say it.
    let text = corpus_common::text("edk2-91-webczat-real-cut.txt")
        .replace("actual=0x0000000000050032", "actual=0x0000000000050033");
    let d = &segstate::ingest::log::read_log(&text)[0];
    assert_eq!(d.guest.cpl, None);
    assert!(!d.notes.iter().any(|n| n.starts_with("CPL 0")));
}

/// dosemu2#679: lDebug's register displays, 16-bit and 386 (`EAX=…`, `EIP=…`, the
/// flags as `NV UP EI PL NZ NA PE NC`). Its `EAX=` lines read as five QEMU dumps with
/// nothing in them, judged "ok"; the text is refused, naming the debugger's display
/// and its line, whole or streamed.
#[test]
fn a_dos_debugger_register_display_is_refused_not_read_as_qemu() {
    let [e, streamed] = corpus_common::refusals("not-a-dump/dosemu2-679-ldebug.txt");
    assert!(
        e.starts_with(
            "line 5: a DOS debugger's (MS-DOS or FreeDOS DEBUG, lDebug) register display"
        ),
        "{e}"
    );
    assert!(e.contains("`NV UP EI PL NZ NA PO NC`"), "{e}");
    assert!(e.contains("not a QEMU dump"), "{e}");
    assert!(streamed.contains("line 5: a DOS debugger's"), "{streamed}");
}

/// WinDbg's `r` display of a 64-bit program at an access violation (a bug report's
/// paste): refused the same way, the Windows debugger named, its flags line given.
#[test]
fn a_windbg_register_display_is_refused_naming_the_debugger() {
    let text = corpus_common::text("not-a-dump/windbg-libdwarf-oob.txt");
    assert!(segstate::ingest::log::read_log(&text).is_empty());
    let e = segstate::ingest::read(text.as_bytes(), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("line 12: a Windows debugger's (WinDbg, ntsd, cdb) register display"),
        "{e}"
    );
    assert!(e.contains("nothing to judge"), "{e}");
}

/// A display beside a real dump takes nothing from it: the QEMU dump of
/// `libvmi-346-segments-only` read as before, the debugger's lines not a dump.
#[test]
fn a_debugger_display_beside_a_dump_is_only_left_out() {
    let dump = corpus_common::text("libvmi-346-segments-only.txt");
    let display = corpus_common::text("not-a-dump/dosemu2-679-ldebug.txt");
    let alone = segstate::ingest::log::read_log(&dump);
    let both = segstate::ingest::log::read_log(&format!("{display}\n{dump}"));
    assert_eq!(both.len(), alone.len());
    assert_eq!(both[0].guest, alone[0].guest);
    assert_eq!(both[0].dialects, [Dialect::Qemu]);
}
