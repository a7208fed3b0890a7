use super::*;

#[test]
fn each_exit_line_reads_to_its_class() {
    let class = |l: &str| parse_line(l).map(|e| e.class());
    assert_eq!(
        class("KVM: entry failed, hardware error 0x80000021"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("KVM: entry failed, hardware error 0x0"),
        Some(ExitClass::VmInstructionError(0))
    );
    assert_eq!(
        class("KVM: entry failed, hardware error 0x7"),
        Some(ExitClass::VmInstructionError(7))
    );
    assert_eq!(
        class("KVM: entry failed, hardware error 0xffffffff"),
        Some(ExitClass::SvmInvalid)
    );
    assert_eq!(
        class("KVM: entry failed, hardware error 0x80000022"),
        Some(ExitClass::MsrLoading)
    );
    assert_eq!(
        class("KVM: entry failed, hardware error 0x80000029"),
        Some(ExitClass::MachineCheck)
    );
    assert_eq!(
        class("ERROR: KVM_EXIT_FAIL_ENTRY: hardware_entry_failure_reason = 0x80000021`"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("not implemented: FailEntry(0, 2)"),
        Some(ExitClass::VmInstructionError(0))
    );
    assert_eq!(
        class("kvm: unhandled exit 80000021"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("d12v0 vmentry failure (reason 0x80000021): Invalid guest state (0)"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("VM-entry failure exit reason: ffffffff00000021"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("KVM internal error. Suberror: 3"),
        Some(ExitClass::Internal(3))
    );
    assert_eq!(
        class("exit_code:          ffffffff"),
        Some(ExitClass::SvmInvalid)
    );
    assert_eq!(
        class("qemu: Failed to put registers after init: Invalid argument"),
        Some(ExitClass::SetRegistersRefused)
    );
    // Each VMM's wording: Firecracker and Cloud Hypervisor (kvm-ioctls' `Debug`)
    // print the reason in decimal, crosvm and km in hex.
    assert_eq!(
        class("Received KVM_EXIT_FAIL_ENTRY signal: 2147483681 on cpu 0"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("Unexpected exit reason on vcpu run: FailEntry(2147483681, 0))"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("vcpu hw run failure: 0x7"),
        Some(ExitClass::VmInstructionError(7))
    );
    assert_eq!(
        class("km: KVM: fail entry 0x80000021 VCPU 0 RIP 0x401000 RSP 0x0 CR2 0x0"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("FailEntry { hardware_entry_failure_reason: 2147483681, cpu: 0 }"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("KVM_EXIT_FAIL_ENTRY: Hardware Failure Reason: 0xFFFFFFFF"),
        Some(ExitClass::SvmInvalid)
    );
    assert_eq!(
        class("fail_entry.hardware_entry_failure_reason = 0x80000022"),
        Some(ExitClass::MsrLoading)
    );
    // The name alone, or with km's vCPU/RIP/RSP/CR2 after it: no reason.
    for line in [
        "km: KVM_EXIT_FAIL_ENTRY",
        "km: KVM_EXIT_FAIL_ENTRY VCPU 0 RIP 0x7fffff5c5f40 RSP 0xfaae CR2 0x0",
        "Received KVM_EXIT_FAIL_ENTRY signal",
    ] {
        assert_eq!(class(line), Some(ExitClass::EntryFailedNoReason), "{line}");
    }
    assert_eq!(class("RAX=0000000000000000"), None);
    // Dune prints the 32-bit reason as `%d`: bit 31 reads negative. The word
    // "reason" is not a number (its letters `ea` once read as error 234).
    for line in [
        "unhandled exit: reason -2147483615, exit qualification 0",
        "unhandled exit: reason 2147483681, exit qualification 0",
        "unhandled exit: reason 0x80000021",
    ] {
        assert_eq!(class(line), Some(ExitClass::InvalidGuestState), "{line}");
        assert_eq!(
            parse_line(line).and_then(|e| e.vendor()),
            Some(Vendor::Intel)
        );
    }
    assert_eq!(
        class("unhandled exit: reason 48, exit qualification 181"),
        Some(ExitClass::VmxExit(48))
    );
    assert_eq!(
        class("unhandled exit: reason -2147483614, exit qualification 0"),
        Some(ExitClass::MsrLoading)
    );
    assert_eq!(
        class("I met error \"KVM: entry failed, hardware error 0x80000021\" during fuzzing"),
        Some(ExitClass::InvalidGuestState)
    );
    for line in [
        "unhandled exit: bad",
        "unhandled exit: foo",
        "unhandled exit",
    ] {
        assert_eq!(class(line), None, "{line}");
    }
    // bhyve and xhyve: the basic reason, in decimal; 33 occurs only as an entry
    // failure. A failed VMLAUNCH prints ~0 there and its number as `inst_error`.
    assert_eq!(class("exit_reason\t33"), Some(ExitClass::InvalidGuestState));
    assert_eq!(
        class("exit_reason\t33 (INVALID_GUEST_STATE)"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(class("exit_reason\t41"), Some(ExitClass::MachineCheck));
    assert_eq!(
        class("exit_reason\t48 (EPT_VIOLATION)"),
        Some(ExitClass::VmxExit(48))
    );
    assert_eq!(class("exit_reason\t4294967295 (Unknown)"), None);
    // A VMCS dump's exit-reason field: a dump of a running vCPU shows an ordinary
    // exit there (Xen's `v` key: a HLT), not a VM-instruction error.
    assert_eq!(
        class("reason=0000000c qualification=0000000000000000"),
        Some(ExitClass::VmxExit(12))
    );
    assert_eq!(
        class("reason=80000021 qualification=0000000000000000"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("4402 VM_EXIT_INFO_REASON: 1e"),
        Some(ExitClass::VmxExit(30))
    );
    assert_eq!(class("inst_error 0"), None);
    // WHP: QEMU's WHPX in either print, and the reason's name as a VMM logs it.
    for line in [
        "qemu-system-x86_64.exe: WHPX: Unexpected VP exit code 5",
        "WHPX: Unexpected VP exit code 0x00000005",
        "WHvRunVirtualProcessor exited with WHvRunVpExitReasonInvalidVpRegisterValue",
    ] {
        assert_eq!(
            class(line),
            Some(ExitClass::WhpInvalidRegisterValue),
            "{line}"
        );
    }
    assert!(ExitClass::WhpInvalidRegisterValue.blames_guest_state());
    assert_eq!(
        class("WHPX: Unexpected VP exit code 4"),
        Some(ExitClass::WhpUnrecoverableException)
    );
    assert!(!ExitClass::WhpUnrecoverableException.blames_guest_state());
    for line in [
        "WHPX: Unexpected VP exit code 6",
        "exited with WHvRunVpExitReasonUnsupportedFeature",
    ] {
        assert_eq!(
            class(line),
            Some(ExitClass::WhpUnsupportedFeature),
            "{line}"
        );
    }
    assert!(!ExitClass::WhpUnsupportedFeature.blames_guest_state());
    // A reason WHPX handles itself (a halt) is no failure; a name WHP does not
    // have is no exit.
    assert_eq!(
        class("WHvRunVpExitReasonX64Halt"),
        Some(ExitClass::NotAFailure)
    );
    assert_eq!(class("WHvRunVpExitReasonBogus"), None);
    // Xen: a domain crashed by a check of its own, or by its failed-entry handler.
    for (line, vendor) in [
        (
            "domain_crash called from arch/x86/hvm/vmx/vmx.c#vmx_update_guest_cr+0x516/0x6a0",
            Some(Vendor::Intel),
        ),
        ("domain_crash called from vmx.c:4304", Some(Vendor::Intel)),
        ("domain_crash called from svm.c:2711", Some(Vendor::Amd)),
        ("domain_crash called from p2m-pod.c:1218", None),
        // `domain_crash_synchronous()`, from C and from a PV guest's bounce frame.
        ("domain_crash_sync called from traps.c:1301", None),
        (
            "domain_crash_sync called from entry.S: fault at ffff82d08020fc3e \
             entry.o#create_bounce_frame+0x67/0x142",
            None,
        ),
    ] {
        assert_eq!(class(line), Some(ExitClass::XenDomainCrash), "{line}");
        assert_eq!(parse_line(line).and_then(|e| e.vendor()), vendor, "{line}");
    }
    assert_eq!(
        class("domain_crash called from vmx.c#vmx_failed_vmentry+0x1a2/0x240"),
        Some(ExitClass::EntryFailedNoReason)
    );
    assert_eq!(
        class("d1v0 Unexpected vmexit: reason 3"),
        Some(ExitClass::VmxExit(3))
    );
    assert_eq!(
        class("d1v0 Unexpected vmexit: reason 33"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("inst_error 7"),
        Some(ExitClass::VmInstructionError(7))
    );
    assert_eq!(extra_data("extra data[1]: 0x0000000000000030"), Some(0x30));
}

/// Xen's report of a failed VMLAUNCH/VMRESUME, in each of its three shapes; the words
/// without Xen's number and comma are no exit.
#[test]
fn xen_vm_instruction_errors_are_read() {
    let class = |l: &str| parse_line(l).map(|e| e.class());
    for (line, error) in [
        ("(XEN) d2v0 VMLAUNCH error: 0x7", 7),
        ("(XEN) d1v3 VMRESUME error: 0x8", 8),
        ("(XEN) <vm_launch_fail> error code 7", 7),
        ("(XEN) <vm_resume_fail> error code c", 12),
        ("(XEN) d1v0   Instruction Error 7, Invalid control state", 7),
    ] {
        assert_eq!(
            class(line),
            Some(ExitClass::VmInstructionError(error)),
            "{line}"
        );
    }
    assert_eq!(class("an Instruction Error 7 somewhere"), None);
}

/// NoirVisor's report of a VMLAUNCH that failed valid: the VM-instruction error, in
/// decimal (`%d`), as printed in its issue #24 and for a number past its table.
#[test]
fn noirvisor_vm_instruction_errors_are_read() {
    let class = |l: &str| parse_line(l).map(|e| e.class());
    for (line, error) in [
        (
            "[NoirVisor] Failed at VM-Entry, Code=7  Reason: VM-Entry failed due to invalid \
             control fields!",
            7,
        ),
        (
            "[NoirVisor] Failed at VM-Entry, Code=8\t Reason: VM-Entry failed due to invalid host-state fields!",
            8,
        ),
        ("[NoirVisor] VM-Entry failed with invalid code 40!", 40),
    ] {
        assert_eq!(
            class(line),
            Some(ExitClass::VmInstructionError(error)),
            "{line}"
        );
    }
    assert_eq!(
        class("[NoirVisor] Error while launching the Guest! VMX Status: 1"),
        None
    );
}

/// Bochs's triple fault, with and without reset; its other error lines are no exit.
#[test]
fn a_bochs_triple_fault_is_an_exit_of_no_vendor() {
    for line in [
        "00000693930e[CPU0  ] exception(): 3rd (13) exception with no resolution, shutdown \
         status is 00h, resetting",
        "exception(): 3rd (13) exception with no resolution",
    ] {
        let e = parse_line(line);
        assert_eq!(
            e,
            Some(Exit::TripleFault {
                vector: Some(13),
                by: TripleFaultReport::Bochs
            }),
            "{line}"
        );
        assert_eq!(e.and_then(|e| e.vendor()), None);
    }
    assert!(
        ExitClass::TripleFault {
            vector: Some(14),
            by: TripleFaultReport::Bochs
        }
        .describe()
        .contains("exception 14")
    );
    for line in [
        "interrupt(): vector must be within IDT table limits, IDT.limit = 0x0",
        "00300648000p[XGUI  ] >>PANIC<< POWER button turned off.",
        "exception(): 3rd (x) exception with no resolution",
    ] {
        assert_eq!(parse_line(line), None, "{line}");
    }
}

#[test]
fn only_guest_state_classes_blame_the_guest_state() {
    assert!(ExitClass::InvalidGuestState.blames_guest_state());
    assert!(ExitClass::SvmInvalid.blames_guest_state());
    assert!(!ExitClass::VmInstructionError(0).blames_guest_state());
    assert!(!ExitClass::VmInstructionError(7).blames_guest_state());
    assert!(!ExitClass::MsrLoading.blames_guest_state());
    assert!(!ExitClass::Internal(1).blames_guest_state());
    assert!(!ExitClass::XenDomainCrash.blames_guest_state());
    assert!(
        !ExitClass::TripleFault {
            vector: Some(13),
            by: TripleFaultReport::Bochs
        }
        .blames_guest_state()
    );
    assert!(
        ExitClass::VmInstructionError(7)
            .describe()
            .contains("control field")
    );
    assert_eq!(
        parse_line("KVM: entry failed, hardware error 0x80000021").and_then(|e| e.vendor()),
        Some(Vendor::Intel)
    );
}

/// QEMU prints `strerror(-run_ret)`: the errno decides what the failure is about.
#[test]
fn kvm_run_failed_reads_its_errno() {
    let class = |l: &str| parse_line(l).map(|e| e.class());
    for (line, errno) in [
        ("error: kvm run failed Invalid argument", Some(22)),
        ("[error: kvm run failed No such file or directory", Some(2)),
        (">   error: kvm run failed Bad address", Some(14)),
        ("error: kvm run failed Device or resource busy", Some(16)),
        ("kvm_run: Cannot allocate memory", Some(12)),
        ("error: kvm run failed -14", Some(14)),
        ("error: kvm run failed EIO", Some(5)),
        ("error: kvm run failed Something else", None),
    ] {
        assert_eq!(class(line), Some(ExitClass::RunFailed(errno)), "{line}");
    }
    assert!(ExitClass::RunFailed(Some(14)).describe().contains("EFAULT"));
    assert!(
        ExitClass::RunFailed(Some(14))
            .describe()
            .contains("host memory")
    );
    assert!(ExitClass::RunFailed(Some(2)).describe().contains("ENOENT"));
    for errno in [Some(2), Some(14), Some(22), None] {
        assert!(!ExitClass::RunFailed(errno).blames_guest_state());
    }
}

/// A VMM's `kvm_run.exit_reason` is a KVM_EXIT_* code, never a VMX reason; only
/// bhyve's tab-separated report is one.
#[test]
fn kvm_run_exit_reasons_are_not_vmx_reasons() {
    let exit = |l: &str| parse_line(l);
    assert_eq!(
        exit("run->exit_reason= 0x2"),
        Some(Exit::KvmRun { code: 2 })
    );
    assert_eq!(
        exit("vcpu->run->exit_reason = 17"),
        Some(Exit::KvmRun { code: 17 })
    );
    assert_eq!(
        exit("exit_reason = 8 (KVM_EXIT_SHUTDOWN)"),
        Some(Exit::KvmRun { code: 8 })
    );
    assert_eq!(
        exit("exit_reason\t8 (KVM_EXIT_SHUTDOWN)"),
        Some(Exit::KvmRun { code: 8 })
    );
    for line in [
        "exit_reason: 33",
        "exit_reason 33",
        "unexpected exit_reason 17",
        "KVM exit_reason = 0x80000021",
    ] {
        assert_eq!(exit(line), None, "{line}");
    }
    // A KVM selftest's assertion: what it got, not what it wanted.
    assert_eq!(
        exit("  Wanted KVM exit reason: 2 (IO), got: 9 (FAIL_ENTRY)"),
        Some(Exit::KvmRun { code: 9 })
    );
    assert_eq!(exit("Wanted KVM exit reason: 2 (IO), got"), None);
    assert_eq!(exit("run->exit_reason= 0x2").and_then(|e| e.vendor()), None);
    assert_eq!(
        exit("exit_reason = 8 (KVM_EXIT_SHUTDOWN)").map(|e| e.class()),
        Some(ExitClass::TripleFault {
            vector: None,
            by: TripleFaultReport::KvmShutdown
        })
    );
    assert_eq!(
        exit("run->exit_reason = 9").map(|e| e.class()),
        Some(ExitClass::EntryFailedNoReason)
    );
    assert_eq!(
        exit("run->exit_reason = 33").map(|e| e.class()),
        Some(ExitClass::KvmExit(33))
    );
    assert!(
        ExitClass::KvmExit(33)
            .describe()
            .contains("KVM_EXIT_X86_BUS_LOCK")
    );
    assert!(ExitClass::KvmExit(17).describe().contains("INTERNAL_ERROR"));
    assert!(!ExitClass::KvmExit(17).is_ordinary());
    assert!(ExitClass::KvmExit(2).is_ordinary());
}

/// Triple faults and shutdowns, each program's report, and KVM's tracepoints.
#[test]
fn triple_faults_and_tracepoints_are_exits() {
    let class = |l: &str| parse_line(l).map(|e| e.class());
    let tf = |by| Some(ExitClass::TripleFault { vector: None, by });
    assert_eq!(class("Triple fault"), tf(TripleFaultReport::QemuTcg));
    assert_eq!(
        class("00:00:02.946420 !!         VCPU0: Guru Meditation 1155 (VINF_EM_TRIPLE_FAULT)"),
        tf(TripleFaultReport::VirtualBox)
    );
    assert_eq!(
        class("!!         VCPU0: Guru Meditation -1158 (VERR_EM_GUEST_CPU_HANG)"),
        Some(ExitClass::VboxGuru(-1158))
    );
    // VirtualBox's own guest-state failures, named whatever their number in the release.
    let guru = |l: &str| parse_line(l).map(|e| (e.class(), e.vendor()));
    assert_eq!(
        guru("00:01:02.345 !!         VCPU0: Guru Meditation -4021 (VERR_VMX_INVALID_GUEST_STATE)"),
        Some((ExitClass::InvalidGuestState, Some(Vendor::Intel)))
    );
    assert_eq!(
        guru("!!                 Guru Meditation -4014 (VERR_VMX_INVALID_GUEST_STATE)"),
        Some((ExitClass::InvalidGuestState, Some(Vendor::Intel)))
    );
    assert_eq!(
        guru("!!         VCPU1: Guru Meditation -4063 (VERR_SVM_INVALID_GUEST_STATE)"),
        Some((ExitClass::SvmInvalid, Some(Vendor::Amd)))
    );
    // Another VT-x status is VirtualBox's, not the guest state's.
    assert_eq!(
        guru("!!         VCPU0: Guru Meditation -4004 (VERR_VMX_UNABLE_TO_START_VM)"),
        Some((ExitClass::VboxGuru(-4004), None))
    );
    assert_eq!(
        class("triple fault at f2d5c (f2d33, f2d5c), cr0 31, qual 0, gpa fec00010, ins len 1"),
        tf(TripleFaultReport::Vdhh)
    );
    // Xen's `hvm_triple_fault`, as 4.7 and later and as older 4.x print it.
    assert_eq!(
        class("d36v0 Triple fault - invoking HVM shutdown action 1"),
        tf(TripleFaultReport::Xen)
    );
    assert_eq!(
        class("(XEN) hvm.c:1123:d1 Triple fault on VCPU0 - invoking HVM shutdown action 1."),
        tf(TripleFaultReport::Xen)
    );
    assert_eq!(class("I get a Triple fault - invoking nothing"), None);
    assert_eq!(
        class(
            " qemu-system-x86-13868 [001] .... 10962.825379: kvm_exit: reason TRIPLE_FAULT rip 0x81dd info 0 0"
        ),
        tf(TripleFaultReport::VmxExit)
    );
    assert_eq!(
        class(
            "[001]   770.850177:  kvm:kvm_exit: vcpu 0 reason EXTERNAL_INTERRUPT rip 0x100107 info1 0x0000"
        ),
        Some(ExitClass::VmxExit(1))
    );
    assert_eq!(
        class("kvm_exit: vcpu 1 reason shutdown rip 0xffff info1 0 info2 0"),
        tf(TripleFaultReport::SvmShutdown)
    );
    assert_eq!(
        parse_line("kvm_exit: vcpu 1 reason npf rip 0xffff").and_then(|e| e.vendor()),
        Some(Vendor::Amd)
    );
    assert_eq!(
        class("15268@1647341556.928341:kvm_run_exit cpu_index 0, reason 8"),
        tf(TripleFaultReport::KvmShutdown)
    );
    assert_eq!(
        class("15268@1647341556.924605:kvm_run_exit cpu_index 0, reason 2"),
        Some(ExitClass::KvmExit(2))
    );
    for line in [
        "I get a Triple fault when booting",
        "the VM hits a triple fault at boot",
        "kvm_entry: vcpu 0, rip 0x1000fe",
        "kvm_exit: reason BOGUS rip 0x0",
        "Guru Meditation happened",
    ] {
        assert_eq!(parse_line(line), None, "{line}");
    }
    assert!(ExitClass::VmxExit(3).describe().contains("INIT signal"));
    assert!(ExitClass::VmxExit(48).describe().contains("EPT violation"));
    assert!(ExitClass::SvmExit(0x400).describe().contains("npf"));
}

/// The exit qualification of a failed VM entry: 2, 3 and 4 name a check beyond the
/// registers (SDM Vol. 3C §27.8); 0 names none.
#[test]
fn an_entry_failure_qualification_names_its_check() {
    let class = |l: &str| parse_line(l).map(|e| e.class());
    assert_eq!(
        class("d3v0 vmentry failure (reason 0x80000021): Invalid guest state (2)"),
        Some(ExitClass::InvalidGuestStateQualified(2))
    );
    assert_eq!(
        class("d3v0 vmentry failure (reason 0x80000021): Invalid guest state (0)"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(
        class("reason=80000021 qualification=0000000000000004"),
        Some(ExitClass::InvalidGuestStateQualified(4))
    );
    assert_eq!(
        class("reason=80000022 qualification=0000000000000002"),
        Some(ExitClass::MsrLoading)
    );
    assert_eq!(qualification("6400 VM_EXIT_INFO_QUALIFICATION: 3"), Some(3));
    assert_eq!(qualification("6402 VM_EXIT_INFO_IO_ECX: 0"), None);
    for q in 2..=4 {
        let c = ExitClass::InvalidGuestStateQualified(q);
        assert!(!c.blames_guest_state());
        assert!(c.describe().contains("no segment or register rule"));
    }
    // HAXM's debug trace of the raw exit reason.
    assert_eq!(
        class("haxm_debug:....exit_reason.raw 80000021, cpu 0 0"),
        Some(ExitClass::InvalidGuestState)
    );
    assert_eq!(parse_line("haxm_debug:....exit_reason.raw zz"), None);
}

/// Suberrors KVM does not define get a note that says so.
#[test]
fn an_undefined_suberror_says_so() {
    assert!(
        ExitClass::Internal(764_064)
            .describe()
            .contains("not a suberror KVM defines")
    );
    assert!(!ExitClass::Internal(3).describe().contains("not a suberror"));
}

/// A VMLAUNCH that failed valid, as hypervisors people write print it: by number after
/// the instruction's name, or by the SDM's name of a VM-entry error.
#[test]
fn vmlaunch_errors_by_number_and_by_name() {
    let class = |l: &str| parse_line(l).map(|e| e.class());
    for (line, n) in [
        ("[hv] VMLAUNCH failed. Instruction error = 7.", 7),
        (
            "00000024\t2.18095708\t[hv] VMLAUNCH failed. Instruction error = 8.\t",
            8,
        ),
        ("VMRESUME failed, VM-instruction error: 0x5", 5),
        (
            "ERROR:     - vm_instruction_error: VM entry with invalid host-state field(s)",
            8,
        ),
        ("vmlaunch: VM entry with invalid control field(s)", 7),
        ("VMfailValid(VM entry with invalid VMX-control field(s))", 7),
    ] {
        assert_eq!(
            parse_line(line),
            Some(Exit::FailEntry {
                reason: n,
                vendor: Some(Vendor::Intel),
                qualification: None,
            }),
            "{line}"
        );
        assert_eq!(
            class(line),
            Some(ExitClass::VmInstructionError(n as u32)),
            "{line}"
        );
    }
    for line in [
        "[hv] VMLAUNCH failed.",
        "VMLAUNCH error handling rewritten",
        "Instruction error = 7",
        "VMLAUNCH failed. Instruction error = seven",
        "VMRESUME failed: error = -22",
        "no VMLAUNCH errors seen",
    ] {
        assert_eq!(parse_line(line), None, "{line}");
    }
}

/// HyperBone's `VmExitStartFailed` line: the basic reason and the qualification in
/// decimal; 33 and 34 are entry failures (bit 31 put back), 41 an exit reason alone.
#[test]
fn hyperbone_s_failed_entry_is_read() {
    let start_failed = |cpu: &str, reason: u32, code: u64| {
        parse_line(&format!(
            "{cpu}: VmExitStartFailed: Failed to enter VM, reason {reason}, code {code}"
        ))
    };
    let igs = start_failed("HyperBone: CPU 0", 33, 0).expect("read");
    assert_eq!(
        igs,
        Exit::FailEntry {
            reason: 0x8000_0021,
            vendor: Some(Vendor::Intel),
            qualification: Some(0),
        }
    );
    for (reason, code, class) in [
        (33, 0, ExitClass::InvalidGuestState),
        (33, 2, ExitClass::InvalidGuestStateQualified(2)),
        (34, 1, ExitClass::MsrLoading),
        (41, 0, ExitClass::MachineCheck),
    ] {
        let e = start_failed("HyperHook: CPU 3", reason, code).expect("read");
        assert_eq!(e.class(), class, "{reason}");
    }
    assert_eq!(
        start_failed("HyperBone: CPU 1", 41, 0),
        Some(Exit::VmxExitReason {
            reason: 41,
            qualification: Some(0),
        })
    );
    assert_eq!(start_failed("HyperBone: CPU 0", 2, 0), None);
    for line in [
        "Failed to enter VM, reason unknown, code 0",
        "Failed to enter VM, reason 33",
    ] {
        assert_eq!(parse_line(line), None, "{line}");
    }
}

/// QEMU's report of `KVM_EXIT_EXCEPTION` (Launchpad #1902394, a nested qemu-kvm 2.12:
/// `KVM: exception 0 exit (error code 0x0)`), and its split-lock #AC message: an
/// Intel host's exit, the guest's exception, no failed VM entry.
#[test]
fn kvm_exception_exits_are_the_guests_exceptions_on_intel() {
    let e = parse_line("KVM: exception 0 exit (error code 0x0)").expect("read");
    assert_eq!(
        e,
        Exit::KvmException {
            vector: 0,
            error_code: Some(0),
        }
    );
    assert_eq!(e.vendor(), Some(Vendor::Intel));
    let class = e.class();
    assert!(!class.blames_guest_state());
    let words = class.describe();
    assert!(words.contains("#DE, vector 0, error code 0x0"), "{words}");
    assert!(words.contains("no VM entry failed"), "{words}");
    assert_eq!(
        parse_line("KVM: exception 14 exit (error code 0x1f)"),
        Some(Exit::KvmException {
            vector: 14,
            error_code: Some(0x1f),
        })
    );
    let split = parse_line(
        "Guest encounters an #AC due to split lock. Because guest doesn't expect this split \
         lock #AC (it doesn't set its IA32_CORE_CAPABILITIES MSR bit 5)",
    )
    .expect("read");
    assert!(split.class().describe().contains("split-lock"));
    // Not QEMU's line: no exit.
    assert_eq!(parse_line("KVM: exception handling is fine"), None);
}
