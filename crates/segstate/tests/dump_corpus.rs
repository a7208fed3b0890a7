//! The corpus of dumps users pasted into public bug threads (`fixtures/dumps/`, each
//! with a sidecar naming the thread and what it concluded), read verbatim and judged,
//! and the synthetic prefix/wrap/cut/dialect samples (`fixtures/dumps/synthetic/`).

use segstate::arch::{GuestField, GuestState, ModeSoFar, SegReg};
use segstate::check::Severity;
use segstate::check::report::Vendors;
use segstate::check::{CheckId, Family};
use segstate::ingest::exit::{Exit, ExitClass};
use segstate::ingest::judge::{NO_SEGMENTS_NOTE, Verdict, judge};
use segstate::ingest::log::{Dialect, LogDump, Target, read_log};

mod corpus_common;
use corpus_common::{judged, names, noted, text};

/// What a corpus dump must read to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Exit lines only: no registers; the exit's class.
    NoState(Option<ExitClass>),
    /// The exit says the failure is not the guest state's.
    NotGuestState(ExitClass),
    /// Every check the dump shows passes; the exit is a guest-state failure.
    Outside(ExitClass),
    /// No exit in the paste, nothing fails.
    Passes,
    /// The named rule fails: the cause, shown by a field of the dump.
    Fails(CheckId),
}

fn kind(v: &Verdict) -> Expect {
    match v {
        Verdict::NoState(c) => Expect::NoState(*c),
        Verdict::NotGuestState(c) => Expect::NotGuestState(*c),
        Verdict::Outside { class, .. } => Expect::Outside(*class),
        Verdict::Passes => Expect::Passes,
        Verdict::Fails { finding, .. } => Expect::Fails(finding.id),
    }
}

const IGS: ExitClass = ExitClass::InvalidGuestState;

/// The corpus's expectations, one row a real dump (`dump_corpus/table.rs`).
#[path = "dump_corpus/table.rs"]
mod table;
use table::CORPUS;

/// What each newer reader reads of its real samples (`dump_corpus/readers.rs`).
#[path = "dump_corpus/readers.rs"]
mod readers;

#[test]
fn every_corpus_dump_has_a_sidecar_and_an_expectation() {
    let names = names();
    assert!(names.len() >= 40, "{} dumps", names.len());
    for n in &names {
        let sidecar = text(&format!("{n}.md"));
        assert!(
            sidecar.contains("- source: http"),
            "{n}.md names its source"
        );
        assert!(sidecar.contains("- thread concluded:"), "{n}.md");
        assert!(CORPUS.iter().any(|c| c.0 == n), "{n} has no expectation");
    }
}

#[test]
fn every_corpus_dump_reads_to_its_expected_verdict() {
    for &(name, target, segs, expect) in CORPUS {
        let all = judged(&format!("{name}.txt"));
        assert!(!all.is_empty(), "{name}: nothing read");
        let (d, j) = &all[0];
        assert_eq!(d.target, target, "{name}: {}", d.target_reason);
        let read: Vec<SegReg> = SegReg::ALL
            .into_iter()
            .filter(|r| d.guest.segments[*r].is_some())
            .collect();
        assert_eq!(read, segs, "{name}: segments read");
        assert_eq!(kind(&j.verdict), expect, "{name}: {}", j.verdict);
        // The verdict line is one line.
        assert!(!j.verdict.to_string().contains('\n'), "{name}");
    }
}

/// The kvm_sregs printouts (kontain km, gVisor, qemu-kvm's `kvm_show_regs`, kvmtool's
/// table, Rust's `Debug` of kvm-bindings' struct) are read field by field: the synthetic samples hold the state of `plain.txt`
/// and read to it, judged after KVM's set path.
#[test]
fn kvm_sregs_printouts_read_to_the_plain_state() {
    let plain = plain();
    for name in [
        "sregs-km",
        "sregs-go",
        "sregs-qemu-kvm",
        "sregs-kvmtool",
        "sregs-debug",
    ] {
        let d = synthetic(name);
        assert_eq!(d.len(), 1, "{name}");
        assert_eq!(d[0].dialects, [Dialect::KvmSregsPrint], "{name}");
        let g = &d[0].guest;
        for reg in SegReg::ALL {
            let (mine, theirs) = (g.segments[reg].unwrap(), plain.segments[reg].unwrap());
            assert_eq!(mine.selector, theirs.selector, "{name} {reg}");
            assert_eq!(mine.base, theirs.base, "{name} {reg}");
            assert_eq!(mine.attributes.dpl, theirs.attributes.dpl, "{name} {reg}");
            assert_eq!(mine.is_usable(), theirs.is_usable(), "{name} {reg}");
        }
        assert_eq!(g.cpl, plain.cpl, "{name}");
        assert_eq!(
            (g.cr0, g.cr4, g.efer),
            (plain.cr0, plain.cr4, plain.efer),
            "{name}"
        );
        assert_eq!(g.gdtr, plain.gdtr, "{name}");
        if name != "sregs-go" {
            assert_eq!((g.rip, g.rflags), (plain.rip, plain.rflags), "{name}");
        }
        if matches!(name, "sregs-qemu-kvm" | "sregs-kvmtool" | "sregs-debug") {
            assert_eq!((g.cr3, g.idtr), (plain.cr3, plain.idtr));
            assert!(d[0].notes.is_empty(), "{:?}", d[0].notes);
        }
        let j = judge(&d[0], None);
        assert_eq!(j.report.errors(), 0, "{name}: {:?}", j.report.ids());
    }
}

/// States the threads show running (TCG logs, emulation failures after the guest ran,
/// kernel states that ran until a VMX instruction failed) get no error.
#[test]
fn states_shown_running_get_no_error() {
    for name in [
        "qemu-d-int-linux33",
        "qemu-d-int-camplus-joined",
        "blog-os-770",
        "blog-os-798",
        "hollowos-4",
        "haxm-205",
        "serenity-5254",
        "oscar-kernel-1",
        "edk2-23",
        "edk2-6597",
        "depenguin-102",
        "unikraft-916",
        "svsm-1081-qemu",
        "svsm-1081-vmcs",
        "gvisor-8317",
        "gvisor-5591",
        "systemd-35885",
        "osv-566",
        "vbox-centuryos-2022",
        "serenity-5653",
    ] {
        for (d, j) in judged(&format!("{name}.txt")) {
            assert_eq!(
                j.report.errors(),
                0,
                "{name} line {}: {:?}",
                d.line,
                j.report.ids()
            );
        }
    }
}

/// An AMD dump is never judged by Intel's VM-entry rules, and a TCG log by no
/// hardware's.
#[test]
fn the_inferred_target_decides_which_rules_apply() {
    for &(name, target, ..) in CORPUS {
        for (_, j) in judged(&format!("{name}.txt")) {
            let families: Vec<Family> = j.report.entries.iter().map(|e| e.family).collect();
            match target {
                Target::Amd => assert!(!families.contains(&Family::Vmx), "{name}"),
                Target::Intel => assert!(!families.contains(&Family::Svm), "{name}"),
                Target::Tcg | Target::Bochs | Target::Firmware => assert!(
                    families.iter().all(|f| *f == Family::Arch),
                    "{name}: {families:?}"
                ),
                Target::Unknown => {}
            }
        }
    }
}

/// A VMCB dump at CPL 3 (the VMCB's own byte) whose SS.DPL is 0: AMD runs at the CPL
/// byte and checks no segment DPL at VMRUN; Intel's VM entry requires CS.DPL = SS.DPL
/// for a non-conforming CS. Inferred AMD, no error; with `--vendor intel`, the VMX
/// rule fires.
#[test]
fn an_amd_dump_is_not_failed_by_an_intel_only_rule() {
    let dump = "VMCB State Save Area:\n\
        es:   s: 0010 a: 0c93 l: ffffffff b: 0000000000000000\n\
        cs:   s: 0033 a: 0afb l: ffffffff b: 0000000000000000\n\
        ss:   s: 0010 a: 0c93 l: ffffffff b: 0000000000000000\n\
        ds:   s: 0010 a: 0c93 l: ffffffff b: 0000000000000000\n\
        fs:   s: 0010 a: 0c93 l: ffffffff b: 0000000000000000\n\
        gs:   s: 0010 a: 0c93 l: ffffffff b: 0000000000000000\n\
        ldtr: s: 0000 a: 0000 l: 00000000 b: 0000000000000000\n\
        tr:   s: 0040 a: 008b l: 00000067 b: 0000000000001000\n\
        cpl:            3                efer:         0000000000001d01\n\
        cr0:            0000000080050033 cr2:          0000000000000000\n\
        cr3:            0000000000004000 cr4:          00000000000000a0\n\
        rip:            0000000000401000 rflags:       0000000000000002\n";
    let logs = read_log(dump);
    assert_eq!(logs.len(), 1);
    let d = &logs[0];
    assert_eq!(d.target, Target::Amd);
    let amd = judge(d, None);
    assert_eq!(amd.vendors, Some(Vendors::Amd));
    assert_eq!(amd.report.errors(), 0, "{:?}", amd.report.ids());
    assert!(!amd.report.entries.iter().any(|e| e.family == Family::Vmx));
    let intel = judge(d, Some(Vendors::Intel));
    assert!(intel.report.errors() > 0, "{:?}", intel.report.ids());
    assert!(
        intel
            .report
            .entries
            .iter()
            .any(|e| e.family == Family::Vmx && e.finding.severity == Severity::Error),
        "{:?}",
        intel.report.ids()
    );
}

// ---- synthetic samples -----------------------------------------------------------

fn synthetic(name: &str) -> Vec<LogDump> {
    read_log(&text(&format!("synthetic/{name}.txt")))
}

fn plain() -> GuestState {
    let d = synthetic("plain");
    assert_eq!(d.len(), 1);
    d[0].guest.clone()
}

#[test]
fn every_prefix_wrap_and_join_reads_to_the_plain_state() {
    let want = plain();
    assert!(want.missing_for_segment_checks().is_empty());
    for name in [
        "prefix-journald",
        "prefix-syslog-kernel",
        "prefix-dmesg",
        "prefix-quote-1",
        "prefix-quote-3",
        "prefix-quote-tight",
        "prefix-tab",
        "prefix-indent",
        "prefix-fence",
        "prefix-fence-tilde",
        "prefix-crlf",
        "wrap-register-group",
        "wrap-dr3-alone",
        "wrap-gdt-one-space",
        "wrap-segment-line",
        "join-all-one-line",
        "join-segments-pairs",
        "width-efer-8",
        "width-selector-wide",
    ] {
        let d = synthetic(name);
        assert_eq!(d.len(), 1, "{name}");
        assert_eq!(d[0].guest, want, "{name}");
        assert_eq!(d[0].dialects, [Dialect::Qemu], "{name}");
    }
    let wide = synthetic("width-selector-wide");
    assert!(
        wide[0]
            .notes
            .iter()
            .any(|n| n.contains("wider than 16 bits"))
    );
}

#[test]
fn cut_dumps_name_exactly_what_is_missing() {
    let missing = |name: &str| {
        let d = synthetic(name);
        assert_eq!(d.len(), 1, "{name}");
        d[0].guest.missing_for_segment_checks()
    };
    use segstate::arch::GuestField as F;
    assert_eq!(missing("cut-at-cr"), [F::Efer]);
    assert_eq!(missing("cut-no-efer"), [F::Efer]);
    assert_eq!(missing("cut-start-at-rip"), []);
    assert_eq!(
        missing("cut-elided"),
        [
            F::Segment(SegReg::Es),
            F::Segment(SegReg::Fs),
            F::Segment(SegReg::Gs),
            F::Segment(SegReg::Ldtr),
            F::Segment(SegReg::Tr),
        ]
    );
    // What is there equals the whole dump's.
    let whole = plain();
    let elided = synthetic("cut-elided");
    assert_eq!(
        elided[0].guest.segments[SegReg::Cs],
        whole.segments[SegReg::Cs]
    );
    assert_eq!(elided[0].guest.cr0, whole.cr0);
}

/// HAXM pastes that hold segment fields only in part: read, each segment named by what
/// it lacks and none judged with a guessed limit, the CPL from SS's access rights; the
/// interleaved dumps of haxm-171 are one state with a note, not five.
#[test]
fn haxm_pastes_in_part_name_what_they_lack() {
    use segstate::arch::PrivilegeLevel::Ring0;
    let all = SegReg::ALL.to_vec();
    let user = [SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs];
    for (name, partial, cpl, lacking) in [
        (
            "haxm-22",
            &all[..],
            Some(Ring0),
            "CS, SS, DS, FS, GS, LDTR, TR are not read: the dump has their selector, access rights and base but no limit",
        ),
        (
            "haxm-182",
            &all[..],
            Some(Ring0),
            "ES, CS, SS, DS, FS are not read: the dump has their selector, access rights and base but no limit",
        ),
        (
            "haxm-304",
            &user[..],
            None,
            "ES, CS, SS, DS, FS are not read: the dump has their selector but no access rights, base or limit",
        ),
        (
            "haxm-171",
            &[
                SegReg::Es,
                SegReg::Cs,
                SegReg::Ss,
                SegReg::Ds,
                SegReg::Gs,
                SegReg::Ldtr,
                SegReg::Tr,
            ][..],
            Some(Ring0),
            "ES, CS, SS, DS are not read: the dump has their selector and access rights but no base or limit",
        ),
    ] {
        let states = judged(&format!("{name}.txt"));
        assert_eq!(states.len(), 1, "{name}: one state");
        let (d, j) = &states[0];
        assert!(d.guest.has_no_segments(), "{name}");
        assert_eq!(d.partial_segments, partial, "{name}");
        assert_eq!(d.guest.cpl, cpl, "{name}");
        assert!(
            d.notes.iter().any(|n| n.starts_with(lacking)),
            "{name}: {:?}",
            d.notes
        );
        // Not "no segment register": the partial ones are named instead.
        assert!(
            !j.report.notes.iter().any(|n| n == NO_SEGMENTS_NOTE)
                && j.report
                    .notes
                    .iter()
                    .any(|n| n.starts_with("the dump shows no segment register whole")),
            "{name}: {:?}",
            j.report.notes
        );
        assert!(
            j.not_judged.is_empty() && j.report.entries.is_empty(),
            "{name}"
        );
    }
    let d = &judged("haxm-171.txt")[0].0;
    assert_eq!(
        (d.line, d.guest.cr0, d.guest.rip),
        (2, Some(0x31), Some(0x4000_8700))
    );
    assert!(
        d.notes
            .iter()
            .any(|n| n.starts_with("6 lines repeat an earlier field with the same value")),
        "{:?}",
        d.notes
    );
    let d = &judged("haxm-304.txt")[0].0;
    assert_eq!(
        (d.guest.rip, d.guest.cr4),
        (Some(0xffff_f801_05fd_5590), Some(0x26e0))
    );
}

#[test]
fn several_dumps_keep_their_own_exit() {
    let d = synthetic("several-dumps");
    assert_eq!(d.len(), 2);
    for x in &d {
        assert_eq!(x.exits.len(), 1, "line {}", x.line);
        assert_eq!(x.target, Target::Intel);
    }
    assert!(d[0].exits[0].0 < d[0].line && d[1].exits[0].0 < d[1].line);
    assert!(d[1].exits[0].0 > d[0].line);
}

#[test]
fn a_kernel_dump_and_the_qemu_dump_of_one_failure_merge() {
    let d = synthetic("merge-svsm");
    assert_eq!(d.len(), 1, "{d:#?}");
    let m = &d[0];
    assert_eq!(m.dialects, [Dialect::LinuxVmcs, Dialect::Qemu]);
    // The kernel showed CS, SS, DS (ES cut); QEMU adds ES, FS, GS.
    for reg in SegReg::USER {
        assert!(m.guest.segments[reg].is_some(), "{reg}");
    }
    // The kernel's fields win: its CR4 and PDPTEs, which QEMU's cut dump lacks.
    assert_eq!(m.guest.cr4, Some(0x342af0));
    assert_eq!(m.guest.pdptes.map(|p| p[0]), Some(0x5e0e_5001));
    assert_eq!(m.guest.rip, Some(0xffff_ff80_0004_2837));
    assert!(
        m.notes.iter().any(|n| n.starts_with("RIP differs")),
        "{:?}",
        m.notes
    );
    let j = judge(m, None);
    assert_eq!(
        kind(&j.verdict),
        Expect::NotGuestState(ExitClass::VmInstructionError(0))
    );
}

#[test]
fn kernel_dialects_carry_the_non_register_state() {
    let d = synthetic("linux-vmcs-new");
    assert_eq!(d.len(), 1);
    let g = &d[0].guest;
    assert!(
        g.missing_for_segment_checks().is_empty(),
        "{:?}",
        g.missing_for_segment_checks()
    );
    assert_eq!(g.efer, Some(0xd01));
    assert_eq!(g.pat, Some(0x0407_0506_0007_0106));
    assert_eq!(g.interruptibility, Some(1));
    assert_eq!(g.activity_state, Some(0));
    assert_eq!(g.pending_debug_exceptions, Some(0));
    assert_eq!(g.debugctl, Some(0));
    assert_eq!(g.dr7, Some(0x400));
    assert_eq!(g.cr3, Some(0x1a2b000));
    assert_eq!(g.pdptes, Some([0; 4]));
    assert_eq!(
        g.gdtr.map(|t| (t.base, t.limit)),
        Some((0xffff_fe00_0000_1000, 0x7f))
    );
    assert_eq!(g.controls.entry, Some(0xd3ff));
    assert_eq!(g.controls.unrestricted_guest(), Some(true));
    assert_eq!(g.entry_interruption_info, Some(0));
    assert!(g.segments[SegReg::Ds].is_some_and(|s| s.unusable));
    assert_eq!(d[0].exits.len(), 1);

    let old = synthetic("linux-vmcs-old");
    let g = &old[0].guest;
    assert_eq!(g.efer, Some(0));
    assert_eq!(g.pat, Some(0x0007_0406_0007_0406));
    assert_eq!(g.controls.unrestricted_guest(), Some(true));
    assert_eq!(g.segments[SegReg::Cs].map(|s| s.base), Some(0xffff_0000));

    for (name, cpl) in [("linux-vmcb-new", 3), ("linux-vmcb-old", 0), ("xen-svm", 0)] {
        let d = synthetic(name);
        assert_eq!(d.len(), 1, "{name}");
        assert_eq!(d[0].target, Target::Amd, "{name}");
        assert_eq!(d[0].guest.cpl.map(|c| c.bits()), Some(cpl), "{name}");
        assert!(d[0].guest.missing_for_segment_checks().is_empty(), "{name}");
        assert_eq!(
            d[0].exit().map(|e| e.class()),
            Some(ExitClass::SvmInvalid),
            "{name}"
        );
    }
}

/// Paged real mode is what SVM enters after INIT (LKML 1509.2/03422): on the AMD
/// target the architectural oddity is a warning, not a VMRUN failure.
#[test]
fn paged_real_mode_does_not_fail_the_vmrun_target() {
    let d = synthetic("linux-vmcb-old");
    let j = judge(&d[0], None);
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
    assert!(j.report.has(CheckId::ArchCr0PgPe));
    assert_eq!(kind(&j.verdict), Expect::Outside(ExitClass::SvmInvalid));
}

/// A finding that depends on a field the dump lacks is "not judged", never a result.
#[test]
fn findings_on_missing_fields_are_not_judged() {
    // drakvuf-388: CR4.PCIDE is set and EFER is missing (the excerpt ends before it),
    // so the PCIDE-needs-IA-32e check cannot be judged.
    let (_, j) = judged("drakvuf-388.txt").remove(0);
    assert!(
        j.not_judged
            .iter()
            .any(|n| n.starts_with("vmx.entry.cr4.pcide")),
        "{:?}",
        j.not_judged
    );
    assert!(!j.report.has(CheckId::VmxEntryCr4Pcide));
    assert!(
        j.report.notes[0].contains("the dump lacks TR, EFER"),
        "{:?}",
        j.report.notes
    );
    // No finding is about a segment the dump does not show.
    for (d, j) in judged("xqemu-270.txt") {
        for e in &j.report.entries {
            if let Some(r) = e.finding.reg {
                assert!(d.guest.segments[r].is_some(), "{}", e.finding.id);
            }
        }
    }
}

/// Where the dump shows the failing field, the verdict names the check: a 64-bit user
/// CS with SS.DPL 0 (the AR KVM before 6.2 zeroed for an unusable SS), after
/// 0x80000021 with a journald prefix.
#[test]
fn a_failing_check_is_named_in_the_verdict() {
    let plain = text("synthetic/plain.txt")
        .replace(
            "SS =002b 0000000000000000 ffffffff 00c0f300",
            "SS =002b 0000000000000000 00000000 00000000",
        )
        .replace("CPL=3", "CPL=0");
    let log: String = std::iter::once("KVM: entry failed, hardware error 0x80000021")
        .chain(plain.lines())
        .map(|l| format!("Mar  3 10:12:01 pve QEMU[1234]: {l}\n"))
        .collect();
    let d = read_log(&log);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].target, Target::Intel);
    let j = judge(&d[0], None);
    let Verdict::Fails { family, finding } = &j.verdict else {
        panic!("{}", j.verdict);
    };
    assert_eq!(*family, Family::Vmx);
    assert_eq!(
        finding.id,
        CheckId::VmxEntryCsDplNonconforming,
        "{}",
        j.verdict
    );
    assert!(
        j.verdict
            .to_string()
            .starts_with("VM entry fails: vmx.entry.cs.dpl-nonconforming")
    );
}

/// The synthetic kernel VMCS dump with RFLAGS.IF set, so that blocking by STI is
/// legal and the other rules can be seen.
fn vmcs_new_with_if() -> String {
    text("synthetic/linux-vmcs-new.txt").replace("RFLAGS=0x00000002", "RFLAGS=0x00000202")
}

/// The issue's example of a cause outside the segments: the kernel's dump shows
/// blocking by STI (interruptibility 1) while RFLAGS.IF = 0; the verdict names it.
#[test]
fn blocking_by_sti_with_if_clear_is_named_from_the_kernel_dump() {
    let d = synthetic("linux-vmcs-new");
    let j = judge(&d[0], None);
    let Verdict::Fails { family, finding } = &j.verdict else {
        panic!("{}", j.verdict);
    };
    assert_eq!(*family, Family::Vmx);
    assert_eq!(finding.id, CheckId::VmxEntryIntrStiIf, "{}", j.verdict);
    // With IF set the same dump passes that rule.
    let fixed = vmcs_new_with_if();
    let j = judge(&read_log(&fixed)[0], None);
    assert!(!j.report.has(CheckId::VmxEntryIntrStiIf), "{}", j.verdict);
    // The controls came from the dump: nothing assumed.
    assert!(
        !j.report.notes.iter().any(|n| n.contains("KVM's defaults")),
        "{:?}",
        j.report.notes
    );
}

/// A QEMU dump is what QEMU hands to KVM_SET_SREGS, so VM entry is judged after KVM's
/// set path: a not-present data segment becomes unusable in the VMCS and does not fail
/// "usable segments must be present"; the same segment in the kernel's VMCS dump (P = 0
/// and usable in the VMCS itself) does.
#[test]
fn a_not_present_segment_in_a_qemu_dump_is_judged_after_kvms_set_path() {
    let dump = text("synthetic/plain.txt").replace(
        "DS =0000 0000000000000000 00000000 00000000",
        "DS =002b 0000000000000000 ffffffff 00c07300",
    );
    let d = read_log(&dump);
    for vendors in [Vendors::Intel, Vendors::Amd] {
        let j = judge(&d[0], Some(vendors));
        assert!(
            !j.report.has(CheckId::VmxEntryP),
            "{vendors}: {:?}",
            j.report.ids()
        );
        assert_eq!(j.report.errors(), 0, "{vendors}: {:?}", j.report.ids());
        assert!(
            j.report
                .notes
                .iter()
                .any(|n| n.contains("what KVM_SET_SREGS writes into the")),
            "{vendors}: {:?}",
            j.report.notes
        );
    }
    let vmcs = vmcs_new_with_if().replace(
        "DS:   sel=0x0000, attr=0x1c000",
        "DS:   sel=0x0018, attr=0x0c013",
    );
    let j = judge(&read_log(&vmcs)[0], None);
    assert!(j.report.has(CheckId::VmxEntryP), "{:?}", j.report.ids());
}

/// Without unrestricted guest is judged as its own configuration: a user-mode QEMU
/// state whose SS.RPL differs from SS.DPL enters under KVM's default, and the report
/// says what KVM does without unrestricted guest and which parameter changes it.
#[test]
fn without_unrestricted_guest_the_report_says_what_kvm_does_instead() {
    let dump = text("synthetic/plain.txt").replace(
        "SS =002b 0000000000000000 ffffffff 00c0f300",
        "SS =0028 0000000000000000 ffffffff 00c0f300",
    );
    let j = judge(&read_log(&dump)[0], Some(Vendors::Intel));
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
    let note = j
        .report
        .notes
        .iter()
        .find(|n| n.starts_with(segstate::check::report::CONFIGURATION_NOTE))
        .unwrap_or_else(|| panic!("{:?}", j.report.notes));
    assert!(note.contains("vmx.entry.ss.rpl"), "{note}");
    assert!(note.contains("emulate_invalid_guest_state"), "{note}");
}

/// Controls come from the dump when it shows them: a VMCS dump whose secondary
/// controls have unrestricted guest off is judged without it (a usable DS with DPL
/// below its RPL fails), while the same dump with it on passes that rule.
#[test]
fn the_dumps_own_controls_decide_unrestricted_guest() {
    let base = vmcs_new_with_if().replace(
        "DS:   sel=0x0000, attr=0x1c000",
        "DS:   sel=0x001b, attr=0x0c093",
    );
    let on = judge(&read_log(&base)[0], None);
    assert!(
        !on.report.has(CheckId::VmxEntryDataDplRpl),
        "{:?}",
        on.report.ids()
    );
    let off = base.replace("SecondaryExec=0x021007eb", "SecondaryExec=0x0210076b");
    let d = read_log(&off);
    assert_eq!(d[0].guest.controls.unrestricted_guest(), Some(false));
    let j = judge(&d[0], None);
    let Verdict::Fails { finding, .. } = &j.verdict else {
        panic!("{}", j.verdict);
    };
    assert_eq!(finding.id, CheckId::VmxEntryDataDplRpl, "{}", j.verdict);
    assert!(j.report.configurations.is_empty());
}

/// A dump with no segment register is judged on the fields it has (the rules beyond the
/// segments), and says its segment rules are not judged; a dump of exit lines alone
/// stays "no register state".
#[test]
fn dumps_without_segments_are_judged_on_the_fields_they_have() {
    let exit_only = judge(&read_log(&text("aerokube-43.txt"))[0], None);
    assert_eq!(exit_only.verdict, Verdict::NoState(Some(IGS)));
    for name in ["haxm-415", "haxm-205", "drakvuf-465"] {
        for (d, j) in judged(&format!("{name}.txt")) {
            assert!(d.guest.has_no_segments(), "{name}");
            // drakvuf-465's register dump names its selectors (CS 0010): each is
            // known in part, and the note says so.
            let partly = name == "drakvuf-465";
            assert!(
                j.report.notes.iter().any(|n| match partly {
                    false => n == NO_SEGMENTS_NOTE,
                    true => n.starts_with("the dump shows no segment register whole, only part of"),
                }),
                "{name}: {:?}",
                j.report.notes
            );
            // Fewer rules are left unjudged than for exit lines alone: the dump's
            // fields decided some.
            assert!(
                j.rules_not_judged.len() < exit_only.rules_not_judged.len(),
                "{name}: {:?}",
                j.rules_not_judged
            );
            assert!(
                j.not_judged.is_empty() && j.report.entries.is_empty(),
                "{name}"
            );
        }
    }
    // drakvuf-465 shows EFER and PAT: the PAT rule is judged, the RIP rules are not.
    let (_, j) = &judged("drakvuf-465.txt")[0];
    let unjudged = |id| j.rules_not_judged.iter().any(|(x, _)| *x == id);
    assert!(!unjudged(CheckId::VmxEntryPat), "{:?}", j.rules_not_judged);
    assert!(
        unjudged(CheckId::VmxEntryRipCanonical),
        "{:?}",
        j.rules_not_judged
    );
    // A failing non-segment field is named though no segment is shown: blocking by
    // STI with RFLAGS.IF = 0 in a HAXM dump of the non-segment fields.
    let d = synthetic("haxm-no-segments-sti");
    assert!(d[0].guest.has_no_segments());
    let j = judge(&d[0], None);
    let Verdict::Fails { family, finding } = &j.verdict else {
        panic!("{}", j.verdict);
    };
    assert_eq!(
        (*family, finding.id),
        (Family::Vmx, CheckId::VmxEntryIntrStiIf)
    );
    let fixed =
        text("synthetic/haxm-no-segments-sti.txt").replace("GUEST_RFLAGS: 2", "GUEST_RFLAGS: 202");
    let j = judge(&read_log(&fixed)[0], None);
    assert_eq!(kind(&j.verdict), Expect::Outside(IGS), "{}", j.verdict);
}

/// kontain km names the exit (`km: KVM_EXIT_FAIL_ENTRY`) before its dump; the paste is
/// cut before km's `KVM: fail entry 0x…` line, so the exit is read without a reason,
/// which still blames the guest state: the CS base names the cause.
#[test]
fn kontains_exit_line_is_read_without_a_reason() {
    let (d, j) = &judged("kontain-448.txt")[0];
    assert_eq!(
        d.exit().map(Exit::class),
        Some(ExitClass::EntryFailedNoReason)
    );
    assert_eq!(d.exits.len(), 1, "{:?}", d.exits);
    assert_eq!(kind(&j.verdict), Expect::Fails(CheckId::VmxEntryBaseHigh));
    assert!(ExitClass::EntryFailedNoReason.blames_guest_state());
}

/// Each VMM's wording of a failed entry (sources in `synthetic/README.md`), read to the
/// exit it reports: Firecracker and Cloud Hypervisor print the reason in decimal, the
/// others in hex; km prints the reason after its dump.
#[test]
fn each_vmms_fail_entry_wording_reads_to_its_exit() {
    let reasons = |name: &str| -> Vec<ExitClass> {
        synthetic(name)
            .iter()
            .flat_map(|d| d.exits.iter().map(|(_, e)| e.class()))
            .collect()
    };
    assert_eq!(reasons("exit-firecracker"), [IGS]);
    assert_eq!(
        reasons("exit-firecracker-old"),
        [ExitClass::EntryFailedNoReason]
    );
    assert_eq!(reasons("exit-crosvm"), [IGS]);
    assert_eq!(reasons("exit-cloud-hypervisor"), [IGS]);
    assert_eq!(
        reasons("exit-kvm-run-fields"),
        [IGS, ExitClass::VmInstructionError(7)]
    );
    assert_eq!(reasons("exit-km"), [ExitClass::EntryFailedNoReason, IGS]);
    // km's dump takes the reason from the later line, and is judged under it.
    let d = synthetic("exit-km");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].exit().map(Exit::class), Some(IGS));
    assert_eq!(d[0].target, Target::Intel, "{}", d[0].target_reason);
    // A control-field failure (VM-instruction error 7) is not blamed on the guest.
    let j = judge(
        &read_log("KVM_EXIT_FAIL_ENTRY: hardware_entry_failure_reason = 0x7")[0],
        None,
    );
    assert_eq!(
        j.verdict,
        Verdict::NoState(Some(ExitClass::VmInstructionError(7)))
    );
}

/// Sweep 9's readings, each wrong before: VirtualBox's all-zero flags judged unusable
/// and a triple fault with no IDT gate named; KVM's error 0 beside a VMCS that recorded
/// an exit; a Bochs dump's null FS and GS not called nulled by Bochs.
#[test]
fn sweep_9_notes() {
    let all = judged("prismaos-vbox-nem-triple.txt");
    let (d, j) = &all[0];
    assert!(d.guest.segments[SegReg::Ldtr].is_some_and(|s| s.unusable));
    noted(&d.notes, "LDTR printed with flags=00000000", &[]);
    noted(
        &j.report.notes,
        "IDTR.limit 0x0 holds no gate (16 bytes each in 64-bit mode)",
        &[],
    );
    let mut severities = j.report.entries.iter().map(|e| e.finding.severity);
    assert!(!severities.any(|v| v == Severity::Error));

    let all = judged("kvm-2005-hwerr0-dumpvmcs-ept.txt");
    let j = &all[0].1;
    noted(
        &j.report.notes,
        "error 0 beside a VMCS dump",
        &["exit reason 48 (EPT violation) at line 73"],
    );
    assert!(!j.verdict.to_string().contains("not what was entered"));

    let all = judged("centuryos2-j009-bochs-null-fs.txt");
    let (d, j) = &all[0];
    assert!(
        !d.notes.iter().any(|n| n.contains("nulled")),
        "{:?}",
        d.notes
    );
    assert!(
        !j.verdict
            .to_string()
            .contains("no segment or control register")
    );

    // Big real mode: every segment named that KVM's vm86 path cannot take.
    let all = judged("lp-1866870-seabios-big-real-mode.txt");
    noted(
        &all[0].1.report.notes,
        "in real mode without unrestricted guest",
        &[
            "rmode_segment_valid",
            "CS (limit 0xffffffff, G), SS (limit 0xffffffff, G)",
        ],
    );
}
