//! Tests of the log reader.

use super::*;
use crate::ingest::exit::{ExitClass, TripleFaultReport};
use exits::double_fault_vector;

/// The one dump a text holds, as `read_log` gives it.
fn one(text: &str) -> LogDump {
    let mut d = read_log(text);
    assert_eq!(d.len(), 1, "one dump in {text}");
    d.remove(0)
}

/// Xen 4.9's `EntryControls=000053ff` (drakvuf issue 465, the `v` debug key of a
/// 2020 xen-devel thread): IA-32e mode guest without load IA32_EFER, and the EFER
/// field printed as 0 because it loads IA32_PAT.
#[test]
fn without_load_efer_the_efer_is_what_entry_makes_of_it() {
    let dump = |efer_line: &str, entry: &str| {
        one(&format!(
            "*** Guest State ***\nCR0: actual=0x0000000080050033, shadow=0x0000000080050033, gh_mask=ffffffffffffffff\n\
             SS:   sel=0x0000, attr=0x1c000, limit=0xffffffff, base=0x0\n{efer_line}\n\
             *** Control State ***\nEntryControls={entry} ExitControls=000fefff\n"
        ))
    };
    let d = dump(
        "EFER(VMCS) = 0x0000000000000000  PAT = 0x0007040600070406",
        "000053ff",
    );
    assert_eq!(
        d.guest.efer,
        Some(0x500),
        "LMA and LME from IA-32e mode guest"
    );
    assert!(d.notes[0].starts_with("VM-entry controls 000053ff: load IA32_EFER (bit 15) is clear"));
    assert!(
        d.notes[0].contains("judged with EFER = 0x500"),
        "{}",
        d.notes[0]
    );
    // Leaving IA-32e mode clears both; SCE and NXE are kept as printed.
    let d = dump(
        "EFER = 0x0000000000000d01  PAT = 0x0007040600070406",
        "000051ff",
    );
    assert_eq!(d.guest.efer, Some(0x801));
    // With load IA32_EFER, or a value entry leaves as it is, no change and no note.
    let d = dump(
        "EFER = 0x0000000000000000  PAT = 0x0007040600070406",
        "0000d1ff",
    );
    assert_eq!((d.guest.efer, d.notes.len()), (Some(0), 0));
    let d = dump(
        "EFER(MSR LL) = 0x0000000000000d01  PAT = 0x0007040600070406",
        "000053ff",
    );
    assert_eq!(
        (d.guest.efer, d.notes.len()),
        (Some(0xd01), 0),
        "Xen's MSR-load list"
    );
}

/// A HAXM dump's entry controls lack load IA32_EFER too (`VMX_ENTRY_CONTROLS: 51ff`
/// in intel/haxm's issues): with IA-32e mode guest its EFER field is entered alike.
#[test]
fn a_haxm_dump_without_load_efer_is_entered_alike() {
    let d = one(
        "haxm_error: 4012 VMX_ENTRY_CONTROLS: 53ff\nhaxm_error: 6800 GUEST_CR0: 80050033\n\
         haxm_error: 2806 GUEST_EFER: 0\nhaxm_error: 0802 GUEST_CS_SELECTOR: 10\n",
    );
    assert_eq!(d.guest.efer, Some(0x500), "{:?}", d.notes);
    assert!(
        d.notes
            .iter()
            .any(|n| n.starts_with("VM-entry controls 000053ff"))
    );
}

#[test]
fn a_tcg_triple_fault_takes_the_vector_after_a_double_fault() {
    assert_eq!(
        double_fault_vector("check_exception old: 0x8 new 0xd"),
        Some(Some(13))
    );
    assert_eq!(
        double_fault_vector("check_exception old: 0xe new 0xd"),
        Some(None)
    );
    assert_eq!(double_fault_vector("RAX=0"), None);
    let log = "check_exception old: 0xe new 0xd\ncheck_exception old: 0x8 new 0xd\nTriple fault\n";
    let d = read_log(log);
    assert_eq!(
        d[0].exit(),
        Some(&Exit::TripleFault {
            vector: Some(13),
            by: TripleFaultReport::QemuTcg
        })
    );
}

#[test]
fn kvm_amd_frames_name_an_amd_host() {
    assert_eq!(
        kvm_amd_frame("[  1.0]  npf_interception+0x99/0x180 [kvm_amd]").as_deref(),
        Some("npf_interception+0x99/0x180")
    );
    assert_eq!(
        kvm_amd_frame(" svm_handle_exit+0x1a/0x220").as_deref(),
        Some("svm_handle_exit+0x1a/0x220")
    );
    for line in [
        "svm_handle_exit is where it fails",
        "kvm_amd loaded",
        "vmx_handle_exit+0x1a/0x220 [kvm_intel]",
    ] {
        assert_eq!(kvm_amd_frame(line), None, "{line}");
    }
}

/// An ordinary exit gives way to the one that ended the run; Xen's domain_crash
/// gives way to the failed entry it follows.
#[test]
fn the_deciding_exit_is_the_one_that_ended_the_run() {
    let d = read_log("kvm_run_exit cpu_index 0, reason 2\nkvm_run_exit cpu_index 0, reason 8\n");
    assert_eq!(d[0].exit(), Some(&Exit::KvmRun { code: 8 }));
    let d = read_log(
        "domain_crash called from vvmx.c:2770\nd3v0 vmentry failure (reason 0x80000021): Invalid guest state (2)\n",
    );
    assert_eq!(
        d[0].exit().map(Exit::class),
        Some(ExitClass::InvalidGuestStateQualified(2))
    );
    let d = read_log("d1v0 Unexpected vmexit: reason 3\ndomain_crash called from vmx.c:4304\n");
    assert_eq!(d[0].exit().map(Exit::class), Some(ExitClass::VmxExit(3)));
}

/// HAXM's qualification field joins the exit reason before it.
#[test]
fn haxm_qualification_joins_its_reason() {
    let d = read_log(
        "haxm_warning: 4402 VM_EXIT_INFO_REASON: 80000021\nhaxm_warning: 6400 VM_EXIT_INFO_QUALIFICATION: 4\n",
    );
    assert_eq!(
        d[0].exit().map(Exit::class),
        Some(ExitClass::InvalidGuestStateQualified(4))
    );
}

/// A `Modules linked in:` line names the host's vendor when it lists one KVM vendor
/// module; both, neither, or the name elsewhere in a sentence say nothing.
#[test]
fn the_module_list_names_the_host() {
    let line = "[ 95.8] Modules linked in: tun bridge kvm_amd kvm irqbypass ccp";
    assert_eq!(host_evidence(98, line).map(|(v, _)| v), Some(Vendor::Amd));
    let (vendor, why) = host_evidence(19, "  Modules linked in: kvm_intel kvm vfat").unwrap();
    assert_eq!(vendor, Vendor::Intel);
    assert!(why.contains("line 19 has kvm_intel"), "{why}");
    assert_eq!(
        host_evidence(1, "Modules linked in: kvm_amd kvm_intel kvm"),
        None
    );
    assert_eq!(host_evidence(1, "Modules linked in: kvm irqbypass"), None);
    assert_eq!(
        host_evidence(1, "modprobe kvm_intel emulate_invalid_guest_state=0"),
        None
    );
}

/// Xen's `… emulation failed` gives way to a later exit that ended the run (a triple
/// fault), and stays before the `domain_crash` a real-mode failure is followed by,
/// whichever of the two a paste quotes first.
#[test]
fn xen_s_emulation_failure_decides_unless_the_run_ended_after_it() {
    let mmio = "(XEN) MMIO emulation failed (1): d1v0 32bit @ 0008:fffeedfd -> \n\
                (XEN) d1v0 Triple fault - invoking HVM shutdown action 1\n";
    let d = one(mmio);
    assert_eq!(d.exits.len(), 2);
    assert!(matches!(d.exit(), Some(Exit::TripleFault { .. })));
    let real = "(XEN) realmode.c:160:d2v0 Real-mode emulation failed (1): d2v0 Real @ \
                f000:0000e05b -> 0f 0b\n\
                (XEN) domain_crash called from realmode.c:161\n";
    let d = one(real);
    assert_eq!(
        d.exit().map(Exit::class),
        Some(ExitClass::XenEmulationFailed("Real-mode"))
    );
    let reversed = "(XEN) domain_crash called from realmode.c:161\n\
                    (XEN) Real-mode emulation failed (1): d2v0 Real @ f000:0000e05b -> 0f 0b\n";
    let d = one(reversed);
    assert_eq!(
        d.exit().map(Exit::class),
        Some(ExitClass::XenEmulationFailed("Real-mode"))
    );
}

/// VirtualBox 3.0's recompiler stopping the VM (ubuntuforums.org, "First Boot fails",
/// 2009-12, sweep 18: VirtualBox 3.0.8 OSE without VT-x): `Guru Meditation -2301
/// (VERR_REM_VIRTUAL_CPU_ERROR)` and the guest CPUM dump, lines as posted. The guest ran
/// in the recompiler, so only the architecture applies: no VM-entry error for CS's
/// non-accessed type 10, which the recompiler keeps and VT-x would refuse.
#[test]
fn virtualbox_s_recompiler_is_judged_for_the_architecture_only() {
    let text = "\
00:00:03.612 fatal error in recompiler cpu: Trying to execute code with memory type addr_code=000000010000c020 addend=00007f6f98495000 at 000000010000ca42. (iHandlerMemType=0x38 iMMIOMemType=0x30)
00:00:03.612 !!                 Guru Meditation -2301 (VERR_REM_VIRTUAL_CPU_ERROR)
00:00:03.613 Guest CPUM (VCPU 0) state: se
00:00:03.613 eax=00068000 ebx=0010fa68 ecx=00000023 edx=00000000 esi=0010a4dc edi=0001a354
00:00:03.613 eip=0000ca42 esp=0007fec0 ebp=0007fefc iopl=0         nv up di pl zr na pe nc
00:00:03.613 cs={0008 base=0000000000000000 limit=ffffffff flags=0000c09a} dr0=00000000 dr1=00000000
00:00:03.613 ds={0010 base=0000000000000000 limit=ffffffff flags=0000c093} dr2=00000000 dr3=00000000
00:00:03.613 es={0010 base=0000000000000000 limit=ffffffff flags=0000c093} dr4=00000000 dr5=00000000
00:00:03.613 fs={0010 base=0000000000000000 limit=ffffffff flags=0000c093} dr6=ffff0ff0 dr7=00000400
00:00:03.613 gs={0010 base=0000000000000000 limit=ffffffff flags=0000c093} cr0=60000011 cr2=00000000
00:00:03.613 ss={0010 base=0000000000000000 limit=ffffffff flags=0000c093} cr3=00000000 cr4=00000000
00:00:03.613 gdtr=0000000000008340:0027  idtr=0000000000000000:ffff  eflags=00200002
00:00:03.613 ldtr={0000 base=00000000 limit=0000ffff flags=00000082}
00:00:03.613 tr  ={0000 base=00000000 limit=0000ffff flags=00000083}
";
    let d = one(text);
    assert_eq!(d.target, Target::Tcg, "{}", d.target_reason);
    assert!(d.target_reason.contains("VERR_REM_VIRTUAL_CPU_ERROR"));
    let j = crate::ingest::judge::judge(&d, None);
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
    // Another Guru Meditation leaves the vendors open, and VT-x's rule stands.
    let other = one(&text.replace(
        "-2301 (VERR_REM_VIRTUAL_CPU_ERROR)",
        "-1148 (VERR_EM_INTERPRETER)",
    ));
    assert_eq!(other.target, Target::Unknown);
    let j = crate::ingest::judge::judge(&other, None);
    assert!(
        j.report.has(crate::check::CheckId::VmxEntryCsType),
        "{:?}",
        j.report.ids()
    );
}
