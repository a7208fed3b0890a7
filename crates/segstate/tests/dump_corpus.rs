//! The corpus of dumps users pasted into public bug threads (`fixtures/dumps/`, each
//! with a sidecar naming the thread and what it concluded), read verbatim and judged,
//! and the synthetic prefix/wrap/cut/dialect samples (`fixtures/dumps/synthetic/`).

use std::path::PathBuf;

use segstate::arch::{GuestField, GuestState, ModeSoFar, SegReg};
use segstate::check::Severity;
use segstate::check::report::Vendors;
use segstate::check::{CheckId, Family};
use segstate::ingest::exit::{Exit, ExitClass};
use segstate::ingest::judge::{Judgement, NO_SEGMENTS_NOTE, Verdict, judge};
use segstate::ingest::log::{Dialect, LogDump, Target, read_log};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps")
}

fn text(name: &str) -> String {
    let p = dir().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn judged(name: &str) -> Vec<(LogDump, Judgement)> {
    read_log(&text(name))
        .into_iter()
        .map(|d| {
            let j = judge(&d, None);
            (d, j)
        })
        .collect()
}

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

/// Every real dump: the target inferred, the segments read, the verdict of its first
/// state. The reasons are in each sidecar; the comments say why the verdict follows.
#[rustfmt::skip]
const CORPUS: &[(&str, Target, &[SegReg], Expect)] = &[
    // Exit lines only.
    ("aerokube-43", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("docker-osx-1", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("dosemu-1306", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("illumos-kvm-7", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("noah-97", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("proxmox-109410", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("razzer-22", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("haxm-306", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("kubevirt-2318", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmInstructionError(0)))),
    ("uhyve-1150", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmInstructionError(0)))),
    ("illumos-kvm-6", Target::Unknown, &[], Expect::NoState(Some(ExitClass::Internal(2)))),
    ("lxd-10373", Target::Unknown, &[], Expect::NoState(Some(ExitClass::Internal(3)))),
    // HAXM field dumps with no guest segment fields in the paste: the rules beyond
    // the segments judge what they show (the VM-entry interruption information) and
    // pass; the segment rules are not judged.
    ("haxm-415", Target::Intel, &[], Expect::Outside(IGS)),
    ("haxm-205", Target::Intel, &[], Expect::Passes),
    // HAXM pastes holding segments only in part (cut before the limits, or at the
    // selectors): no segment is read, each is named by what it lacks; the CPL comes
    // from SS's access rights where they are shown. haxm-22 is segment fields alone, so
    // no rule can be judged; the others' CR0/CR3/CR4 rules pass (an emulator gap, a
    // multi-vCPU start bug, an open thread: no guest-state failure in any).
    ("haxm-22", Target::Intel, &[], Expect::NoState(None)),
    ("haxm-182", Target::Intel, &[], Expect::Passes),
    ("haxm-304", Target::Intel, &[], Expect::Passes),
    // Several vCPUs' dumps interleaved, every repeated field agreeing: one state.
    ("haxm-171", Target::Intel, &[], Expect::Passes),
    // A Xen VMCS dump's control half: no segments; EFER, PAT and the VM-entry
    // interruption information judged, and they pass.
    ("drakvuf-465", Target::Intel, &[], Expect::Outside(IGS)),
    // The QEMU dump after 0x0 was cut at the EIP line.
    ("systemd-8800", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmInstructionError(0)))),
    // 0x0: VMfailInvalid, the registers are not what was entered.
    ("svsm-1081-qemu", Target::Intel, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs], Expect::NotGuestState(ExitClass::VmInstructionError(0))),
    // Emulation failures and KVM_RUN EINVAL: not VM entry.
    ("oscar-kernel-1", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("edk2-23", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("edk2-6597", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("depenguin-102", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs], Expect::NotGuestState(ExitClass::Internal(1))),
    ("unikraft-916", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds], Expect::NotGuestState(ExitClass::Internal(1))),
    ("amdsev-100", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::RunInvalid)),
    // Internal error 2 (an NMI while delivering an NMI): the guest ran into it, the
    // state it shows (qemu-kvm's kvm_show_regs, a 64-bit kernel: CS.L = 1, CS.D = 0)
    // was entered and is valid.
    ("osv-566", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(2))),
    // The cause named from a field beyond the segments: the VMCS's CR3 holds bit 63,
    // the PCID no-flush bit of a MOV to CR3, which is no part of CR3 (both dumps of
    // the thread show it).
    ("drakvuf-388", Target::Intel, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs, SegReg::Ldtr], Expect::Fails(CheckId::VmxEntryCr3Width)),
    // Guest-state failures whose dump shows no failing check: the cause lies outside
    // what it shows (paged real mode with a stale CR3; SMM under nested Hyper-V).
    ("xqemu-270", Target::Intel, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs], Expect::Outside(IGS)),
    ("lkml-1509-svm", Target::Amd, &[SegReg::Es, SegReg::Cs], Expect::Outside(ExitClass::SvmInvalid)),
    ("systemd-35885", Target::Amd, &SegReg::ALL, Expect::Outside(ExitClass::SvmInvalid)),
    // KVM_SET_SREGS refused it ("Failed to put registers"): CS.L = 1 with EFER.LMA = 0,
    // as the thread concluded; a QEMU dump is judged by KVM_SET_SREGS's checks too.
    ("ghost-46", Target::Unknown, &SegReg::ALL, Expect::Fails(CheckId::KvmSetSregsCsL)),
    // Kernel dumps pasted without their exit line.
    ("gvisor-8317", Target::Intel, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs], Expect::Passes),
    ("svsm-1081-vmcs", Target::Intel, &[SegReg::Cs, SegReg::Ss, SegReg::Ds], Expect::Passes),
    ("dosemu-1274", Target::Intel, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds], Expect::Passes),
    ("multipass-1660", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs], Expect::Passes),
    // TCG logs: states that ran.
    ("qemu-d-int-linux33", Target::Tcg, &SegReg::ALL, Expect::Passes),
    ("qemu-d-int-camplus-joined", Target::Tcg, &SegReg::ALL, Expect::Passes),
    ("blog-os-770", Target::Tcg, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs], Expect::Passes),
    ("blog-os-798", Target::Tcg, &SegReg::ALL, Expect::Passes),
    ("hollowos-4", Target::Tcg, &[], Expect::NoState(None)),
    ("serenity-5254", Target::Tcg, &[SegReg::Gs, SegReg::Ldtr, SegReg::Tr], Expect::Passes),
    // Bochs's CPU dumps (BX_CPU_C::debug): an emulator's state, segments without their
    // attributes, so none is read and no segment rule is judged.
    ("bochs-466", Target::Bochs, &[], Expect::NoState(None)),
    ("bochs-647", Target::Bochs, &[], Expect::NoState(None)),
    ("bochs-614", Target::Bochs, &[], Expect::NoState(None)),
    // Other projects' kvm_sregs printouts. km's JIT guest: a CS base above 4 GiB, which
    // VM entry refuses (bits 63:32 of CS.base must be 0), cut at GS.
    ("kontain-448", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ds, SegReg::Fs], Expect::Fails(CheckId::VmxEntryBaseHigh)),
    // gVisor's stuck vCPU: a valid 64-bit state (the hang was not a VM-entry failure).
    ("gvisor-5591", Target::Unknown, &SegReg::ALL, Expect::Passes),
    // Other hypervisors' exit lines: Dune's signed `%d` reason, bhyve's basic reason.
    ("dune-2", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("xhyve-193", Target::Intel, &[], Expect::NoState(Some(IGS))),
    // Xen's register dump (`show_registers`): control registers and selectors, no
    // descriptor cache. A block cut above its CONTEXT line, no exit before it.
    ("xcp-562", Target::Unknown, &[], Expect::Passes),
    // After `domain_crash` from Xen's VMX code (an MSR write it refused), cut at CR0.
    ("xcp-565", Target::Intel, &[], Expect::NoState(Some(ExitClass::XenDomainCrash))),
    // After `domain_crash` from p2m code: no vendor named; CR0, CR3, CR4 judged.
    ("drakvuf-1314", Target::Unknown, &[], Expect::NotGuestState(ExitClass::XenDomainCrash)),
    // A maintainer's two lines of a dump_vmcs: RFLAGS.IF clear with an external
    // interrupt injected, the thread's own conclusion.
    ("edk2-91-lersek", Target::Intel, &[], Expect::Fails(CheckId::VmxEntryRflagsIf)),
    // The same failure's QEMU dump (in SMM): what it shows passes.
    ("edk2-91-qemu", Target::Intel, &SegReg::ALL, Expect::Outside(IGS)),
    // A journald log of one failed entry printed twice, kernel and QEMU: one state,
    // the host state's CR0= line no dump of its own, the exit inside the kernel's.
    ("lkml-2207-tdpmmu", Target::Intel, &SegReg::ALL, Expect::Fails(CheckId::VmxEntryIntrStiIf)),
    // `CPU Reset` dumps: the state as a reset began, judged on the architecture only.
    ("haxm-267", Target::Tcg, &SegReg::ALL, Expect::Passes),
    // An SEV-SNP guest's dump_vmcb: what it shows passes, the cause is beyond it.
    ("lkml-2503-sevsnp", Target::Amd, &SegReg::ALL, Expect::Outside(ExitClass::SvmInvalid)),
    ("lkml-1907-jailhouse", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::VmInstructionError(7))),
    ("pritamzope-os-28", Target::Tcg, &SegReg::ALL, Expect::Passes),
    ("cloud-hypervisor-5717", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmInstructionError(7)))),
    // WHP's exits, from QEMU's WHPX and from a VMM naming the reason.
    ("serenity-11484", Target::Unknown, &[], Expect::NoState(Some(ExitClass::WhpUnrecoverableException))),
    ("wtf-15", Target::Unknown, &[], Expect::NoState(Some(ExitClass::WhpInvalidRegisterValue))),
    // `qemu: fatal: Trying to execute code outside RAM or ROM`: TCG's translator.
    ("rustboot-6", Target::Tcg, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs, SegReg::Ldtr, SegReg::Tr], Expect::Passes),
    ("netbootme-42", Target::Tcg, &SegReg::ALL, Expect::Passes),
    ("embox-612", Target::Tcg, &SegReg::ALL, Expect::Passes),
    ("gvt-linux-158", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    // Xen's log quoted with `> `, the VMCS dump cut after CR4.
    ("drakvuf-395", Target::Intel, &[], Expect::Outside(IGS)),
    // VirtualBox's `Guest CPUM` dumps (VBox.log): states that ran (a guest triple
    // fault; a 32-bit kernel), no hardware named. The 32-bit one is cut at CR4, before
    // LDTR and TR.
    ("vbox-centuryos-2022", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("serenity-5653", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs], Expect::Passes),
];

#[test]
fn every_corpus_dump_has_a_sidecar_and_an_expectation() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".txt").map(String::from))
        .collect();
    names.sort();
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

/// The kvm_sregs printouts (kontain km, gVisor, qemu-kvm's `kvm_show_regs`) are read
/// field by field: the synthetic samples hold the state of `plain.txt` and read to it,
/// judged after KVM's set path.
#[test]
fn kvm_sregs_printouts_read_to_the_plain_state() {
    let plain = plain();
    for name in ["sregs-km", "sregs-go", "sregs-qemu-kvm"] {
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
        if name == "sregs-qemu-kvm" {
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
                Target::Tcg | Target::Bochs => assert!(
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
            assert!(
                j.report.notes.iter().any(|n| n == NO_SEGMENTS_NOTE),
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

/// Xen's `show_registers` blocks are read for their control registers, RIP and RFLAGS,
/// say why no segment rule is judged (selectors only), and join the VMCS dump Xen
/// printed for the same failed entry.
#[test]
fn xen_register_dumps_are_read_and_joined_to_their_vmcs_dump() {
    let all = judged("xcp-562.txt");
    assert_eq!(all.len(), 2);
    let (first, j) = &all[0];
    assert_eq!(first.dialects, [Dialect::XenRegisters]);
    assert_eq!(first.guest.cr0, Some(0x8005_0033));
    assert_eq!(first.guest.cr4, Some(0x2660));
    assert!(first.guest.has_no_segments());
    // No EFER: the mode is not claimed past what CR0 decides.
    let gap = first.guest.shown_mode().unwrap_err();
    assert_eq!(
        (gap.so_far, gap.lacks),
        (ModeSoFar::Protected, GuestField::Efer)
    );
    assert!(
        first
            .notes
            .iter()
            .any(|n| n.contains("selectors only (DS 0008")),
        "{:?}",
        first.notes
    );
    assert!(
        j.report
            .notes
            .iter()
            .any(|n| n.contains("Xen's `v` debug key"))
    );
    // The hint names the log's own hypervisor's switch, KVM's only in a KVM log.
    for (name, kvm) in [
        ("haxm-304", false),
        ("dune-2", false),
        ("aerokube-43", true),
    ] {
        let (_, j) = &judged(&format!("{name}.txt"))[0];
        let hinted = j
            .report
            .notes
            .iter()
            .any(|n| n.contains("kvm_intel.dump_invalid_vmcs"));
        assert_eq!(hinted, kvm, "{name}: {:?}", j.report.notes);
    }
    let (second, _) = &all[1];
    assert_eq!(second.guest.rip, Some(0xffff_ffff_c08e_ede5));
    assert_eq!(
        second.exit().map(Exit::class),
        Some(ExitClass::XenDomainCrash)
    );
    // drakvuf-465: the VMCS dump's control half, `domain_crash`, the guest's RIP.
    let (d, j) = &judged("drakvuf-465.txt")[0];
    assert_eq!(d.dialects, [Dialect::XenVmcs, Dialect::XenRegisters]);
    assert_eq!(d.guest.efer, Some(0), "the VMCS dump's own EFER");
    assert_eq!(
        d.guest.rip,
        Some(0xffff_f803_b72d_e124),
        "the register dump's RIP"
    );
    assert_eq!(
        d.exit().map(Exit::class),
        Some(IGS),
        "the entry failure, not the crash"
    );
    // RIP is shown: the RIP rule lacks CS (its L bit), not RIP.
    assert!(
        j.rules_not_judged.contains(&(
            CheckId::VmxEntryRipCanonical,
            GuestField::Segment(SegReg::Cs)
        )),
        "{:?}",
        j.rules_not_judged
    );
}

/// What a second sweep of real pastes found misread: a dump_vmcs's host state taken
/// for a QEMU dump (three states where there is one, the exit on the wrong one), a
/// `CPU Reset` dump taken for TCG's, an SEV-SNP guest's VMCB not named.
#[test]
fn a_kernel_dumps_own_lines_and_a_reset_dump_are_read_as_what_they_are() {
    let all = judged("lkml-2207-tdpmmu.txt");
    assert_eq!(all.len(), 1, "one failure printed twice");
    let (d, _) = &all[0];
    assert_eq!(d.dialects, [Dialect::LinuxVmcs, Dialect::Qemu]);
    assert_eq!(
        d.exits.len(),
        1,
        "the same reason printed twice: {:?}",
        d.exits
    );
    assert_eq!(d.exits[0].0, 43, "reason=80000021, a control-state line");
    // The host state's CR0 is not the guest's.
    assert_eq!(d.guest.cr0, Some(0x0005_0032));

    let (d, _) = &judged("haxm-267.txt")[0];
    assert_eq!(d.target, Target::Tcg);
    assert!(d.target_reason.contains("CPU Reset"), "{}", d.target_reason);
    assert!(d.notes.iter().any(|n| n.contains("follows `CPU Reset`")));

    let (d, j) = &judged("lkml-2503-sevsnp.txt")[0];
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("an SEV-SNP guest's VMCB")),
        "{:?}",
        d.notes
    );
    let Verdict::Outside {
        hint: Some(hint), ..
    } = &j.verdict
    else {
        panic!("{}", j.verdict);
    };
    assert!(hint.contains("VMSA") && !hint.contains("VMCS"), "{hint}");
}

/// A Bochs CPU dump is read as Bochs's alone: its `EFER   = 0x…` and `CR3=0x…` lines
/// once opened a Linux dump_vmcs, its `EAX=` line a QEMU dump.
#[test]
fn bochs_dumps_are_read_as_bochs_alone() {
    for (name, partial) in [
        ("bochs-466", &[SegReg::Cs][..]),
        ("bochs-647", &[]),
        ("bochs-614", &[]),
    ] {
        let states = judged(&format!("{name}.txt"));
        assert_eq!(states.len(), 1, "{name}: one state");
        let (d, j) = &states[0];
        assert_eq!(d.dialects, [Dialect::Bochs], "{name}");
        assert_eq!(d.partial_segments, partial, "{name}");
        assert_eq!(d.guest.cpl, None, "{name}");
        assert!(d.guest.efer.is_some(), "{name}");
        assert_eq!(j.vendors, None, "{name}: the architecture only");
    }
}
