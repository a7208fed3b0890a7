//! The expectation of every real dump in `fixtures/dumps/`: the target inferred, the
//! segments read, the verdict of its first state.

use super::{Expect, IGS};
use segstate::arch::SegReg;
use segstate::check::CheckId;
use segstate::ingest::exit::{ExitClass, TripleFaultReport};
use segstate::ingest::log::Target;

/// Every real dump: the target inferred, the segments read, the verdict of its first
/// state. The reasons are in each sidecar; the comments say why the verdict follows.
#[rustfmt::skip]
pub(super) const CORPUS: &[(&str, Target, &[SegReg], Expect)] = &[
    // Sweep 18 (sweep_18.rs): Jailhouse's panic dump (`dump_guest_regs`), CS without its
    // limit and so not read; the save area told by the dump's own fields: an AMD host's
    // VMCB (EFER.SVME, `AR-BYTES: 29b`), an Intel host's VMCS (`a09b`, double-spaced),
    // a real-mode inmate on Intel (CR4.VMXE) whose console dropped output and repeated
    // the last lines cut. Jailhouse's `FATAL:` reason is its own; nothing fails.
    ("jailhouse-dev-amd-rootcell-29b", Target::Amd, &[], Expect::Passes),
    ("jailhouse-dev-ivshmem-unsupported-insn-a09b", Target::Intel, &[], Expect::Passes),
    ("jailhouse-dev-tiny-demo-realmode-pio", Target::Intel, &[], Expect::Passes),
    // QEMU's `KVM: exception 0 exit (error code 0x0)`: KVM_EXIT_EXCEPTION, which only
    // VMX reports; the guest's #DE, no VM entry failed.
    // Xen's register dump after a triple fault (selectors only): the CPL from CS's RPL,
    // and 64-bit mode from a RIP above 4 GiB, though no EFER is printed.
    ("xen-devel-linux-6.6.64-pvh-domU-triple", Target::Unknown, &[], Expect::NotGuestState(ExitClass::TripleFault { vector: None, by: TripleFaultReport::Xen })),
    // VirtualBox 7's `VT-x info` block, `HM error = 0x23a (570)`: its own check names
    // VMX_IGS_V86_GS_LIMIT_INVALID; the one `gs={…}` line pasted shows GS, whose
    // virtual-8086 rules need RFLAGS, which the paste lacks.
    ("vbox-ticket-21332", Target::Intel, &[SegReg::Gs], Expect::Outside(ExitClass::VboxInvalidGuestState(570))),
    // QEMU's `info registers` under WHPX (xqemu#112): protected mode without a single
    // segment suffix, QEMU's hflags stale (sweep 10's rule, met here in a real paste).
    ("xqemu-112", Target::Unknown, &SegReg::ALL, Expect::Passes),
    // Sweep 18's other pastes, read right before it and kept as regressions:
    // 0x80000021 on Linux 3.6 whose LDTR is an unusable one read back with its leftover
    // attributes (a note says how) and written back usable: VM entry refuses its type;
    ("blog-kummerlaender-kvm-vde", Target::Intel, &SegReg::ALL, Expect::Fails(CheckId::VmxEntryLdtrType)),
    // KVM internal errors (suberror 1), quoted, cut, console lines around them;
    ("kvm-list-grolleau-nvme", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("launchpad-1914986", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("patch-babu-moger-sev-pcid", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("patch-peng-hao-fetch-fault", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    // dump_vmcs after a WARN splat, and with dmesg timestamps in a fence: ordinary exits;
    ("kvm-list-seanjc-prove-ve", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::VmxExit(0))),
    ("martins3-notes-vmcs", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::VmxExit(48))),
    // TCG's "outside RAM or ROM", cut inside XMM04;
    ("mkeykernel-2", Target::Tcg, &SegReg::ALL, Expect::Passes),
    // five register lines only;
    ("os-study-memo-worklog", Target::Unknown, &[], Expect::NoState(None)),
    // hardware error 0x7 (VM-instruction error 7, the controls), journald's `kvm run
    // failed Bad address`, XMHF's VMfailInvalid;
    ("patch-changbin-du-vmexit-controls", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::VmInstructionError(7))),
    ("rocm-3414", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::RunFailed(Some(14)))),
    ("uberxmhf-bug090", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmInstructionError(0)))),
    // Xen: an MSR-load failure (0x80000022), and register dumps after a triple fault or
    // a domain crash, selectors only.
    ("xen-devel-lbr-tsx-0x80000022", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::MsrLoading)),
    ("xen-devel-netbsd-pvh-dom0-triple", Target::Unknown, &[], Expect::NotGuestState(ExitClass::TripleFault { vector: None, by: TripleFaultReport::Xen })),
    ("xen-devel-osstest-174809-hap-pool-crash", Target::Intel, &[], Expect::NotGuestState(ExitClass::XenDomainCrash)),
    ("xen-devel-solo5-pvh-start-of-day-triple", Target::Unknown, &[], Expect::NotGuestState(ExitClass::TripleFault { vector: None, by: TripleFaultReport::Xen })),
    ("launchpad-1902394", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::KvmException { vector: 0, error_code: Some(0) })),
    // Sweep 17 (sweep_17.rs): Xen's `v` debug key on AMD (`svm_vmcb_dump`), two vCPUs
    // of an idle 64-bit Linux guest, the second's `VCPU 1` header after a tab: both read,
    // the last exit HLT (0x78), ordinary, not a failure.
    ("vaishalithakkar-2405-xen-asid-vmcb", Target::Amd, &SegReg::ALL, Expect::NotGuestState(ExitClass::SvmExit(0x78))),
    // Xen's emulation failure, its triple-fault report and `*** Dumping Dom11 vcpu#0
    // state: ***` whole (PureDarwin#49's cut before `ss:`/`cs:`): selectors only, none
    // read; the triple fault decides.
    ("xen-devel-2005-rombios-cet-triple", Target::Unknown, &[], Expect::NotGuestState(ExitClass::TripleFault { vector: None, by: TripleFaultReport::Xen })),
    // HyperBone's `Failed to enter VM, reason 33, code 0` in a sentence: the basic reason,
    // bit 31 cut off, read back as a VM-entry failure for invalid guest state; no
    // registers printed.
    ("hyperbone-14-start-failed", Target::Intel, &[], Expect::NoState(Some(IGS))),
    // Sweep 16 (sweep_16.rs): Xen's `MMIO emulation failed (1): d1v0 16bit @ f000:… ->
    // BYTES` read as its emulator's failure, the instruction decoded from the line; the
    // triple fault after it ended the run and decides. No register dump: nothing judged.
    ("nixpkgs-373416-xen-ovmf-mmio", Target::Unknown, &[], Expect::NoState(Some(ExitClass::TripleFault { vector: None, by: TripleFaultReport::Xen }))),
    // A hypervisor's own VMLAUNCH report: jonomango/hv's `[hv] VMLAUNCH failed.
    // Instruction error = 7.` (DebugView's columns around it) and Bareflank's `-
    // vm_instruction_error: VM entry with invalid host-state field(s)`, error 8 by the
    // SDM's name: the control or host-state checks failed, not the guest state's; no
    // registers printed.
    ("jonomango-hv-49-vmlaunch-error", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmInstructionError(7)))),
    ("bareflank-267-vmlaunch-host-state", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmInstructionError(8)))),
    // Sweep 15 (sweep_15.rs): Xen's `Triple fault - invoking HVM shutdown action` before
    // its register dump of the vCPU (selectors only, no segment read): the guest ran
    // into a triple fault, no VM entry failed.
    ("puredarwin-49-xen-triple", Target::Unknown, &[], Expect::NotGuestState(ExitClass::TripleFault { vector: None, by: TripleFaultReport::Xen })),
    // The same report with no register dump after it (Qubes' `xl dmesg`): nothing to judge.
    ("qubes-issues-6029-xen-mmio-triple", Target::Unknown, &[], Expect::NoState(Some(ExitClass::TripleFault { vector: None, by: TripleFaultReport::Xen }))),
    // Xen's `domain_crash_sync called from entry.S: …` before a PV guest's register block
    // (skipped: no VM entry): Xen crashed the domain, nothing to judge.
    ("qubes-mirage-firewall-96-pv-crash-sync", Target::Unknown, &[], Expect::NoState(Some(ExitClass::XenDomainCrash))),
    // (`not-a-dump/twizzler-public-1-vbox-host-cpum`, VirtualBox's `Host CPUM state`, the
    // host's registers in WinDbg's layout, is refused as the host's, and
    // `not-a-dump/dasharo-issues-488-xen-hypervisor`, Xen's `show_registers` of itself,
    // as no HVM guest's: no rows; sweep_15.rs asserts the refusals.)
    // Sweep 14 (sweep_14.rs): hyperlight's WHP register listing, `WHV_REGISTER_NAME(n)`
    // and the value's 128 bits (ingest/whp_registers.rs): CS alone of the segments,
    // decoded as WHV_X64_SEGMENT_REGISTER; WHP's reason 0x2001 (Canceled) is no failure.
    ("hyperlight-168-whp-registers", Target::Unknown, &[SegReg::Cs], Expect::NotGuestState(ExitClass::NotAFailure)),
    // A WHP VMM's `NAME=0x…` words around the exit context's `ExecState=` (CPL 0), once
    // misread as a dump_vmcs of Intel; microsandbox's unhandled reason 4 read as WHP's
    // UnrecoverableException, which the guest ran into.
    ("microsandbox-1095-whp-exec-state", Target::Unknown, &[], Expect::NotGuestState(ExitClass::WhpUnrecoverableException)),
    // hyperkit's `vm exit[0]` report behind macOS syslog prefixes, other threads' lines
    // inside it: the report opens once its prefix is stripped; exit reason 2.
    ("docker-for-mac-1345-hyperkit-syslog", Target::Intel, &[], Expect::NoState(Some(ExitClass::TripleFault { vector: None, by: TripleFaultReport::VmxExit }))),
    // openvmm's triple-fault register trace (ingest/text/rust_debug.rs), cut after CS:
    // the Hyper-V attribute word read, DS named as cut.
    ("openvmm-1308-triple-fault-trace", Target::Unknown, &[SegReg::Cs], Expect::Passes),
    // OpenDCDiag's KVM register dump (ingest/text/opendcdiag.rs), the pull request that
    // added it quoting it cut after GS: five segments read, no SS or CR0.
    ("opendcdiag-465-register-dump", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ds, SegReg::Fs, SegReg::Gs], Expect::Passes),
    // Sweep 13 (sweep_13.rs): xhyve's exit report with spaces for its tabs, its
    // CR-access qualification decoded; a real-mode dump_vmcs cut before SS, CPL 0.
    ("xhyve-pr215-lmsw", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmxExit(28)))),
    ("edk2-91-webczat-real-cut", Target::Intel, &[], Expect::Passes),
    // (`not-a-dump/dosemu2-679-ldebug`, lDebug's register displays, is refused, not
    // read: no row; sweep_13.rs asserts the refusal.)
    // Sweep 12 (sweep_12.rs): QEMU dumps in the 64-bit layout cut before CR0 and EFER,
    // their mode named by the layout; an EDK2 frame no CPU running the handler can
    // hold, nothing of it judged; a Bochs real-mode dump cut before CS, CPL 0; two
    // QEMU lines each in a Markdown code span. Read right before, held as rows: a
    // nested L2's dump_vmcs without paging, a VBox.log register dump without its header.
    ("coreos-assembler-3428-efault-cut", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::RunFailed(Some(14)))),
    ("noname-linux-2-ovmf-vga-cut", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("cloud-hypervisor-5475-edk2-bad-frame", Target::Firmware, &[], Expect::NoState(None)),
    ("littleosbook-82-bochs-real-cut", Target::Bochs, &[], Expect::Passes),
    ("libvmi-344-code-spans", Target::Unknown, &[SegReg::Fs, SegReg::Gs], Expect::Passes),
    // The segment lines alone: CPL SS.DPL, as SS's DPL= suffix shows protected mode.
    ("libvmi-346-segments-only", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("cloud-hypervisor-4131-nested-vmcs", Target::Intel, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs], Expect::Passes),
    ("macos-virtualbox-480-cpum-cut", Target::Unknown, &[SegReg::Ss, SegReg::Fs, SegReg::Gs, SegReg::Ldtr, SegReg::Tr], Expect::Passes),
    // Sweep 10: bhyvectl on an AMD host, vCPU 1's registers after vCPU 0's VMCB lines:
    // an AMD host, the access read as vmcb_getdesc's copy of the VMCB attrib (CS's G
    // and TR's busy bit, which AMD does not keep, rebuilt); the same vCPU's part alone,
    // its vendor unknown: CS's G and TR's type wrong only in the Intel reading, not judged.
    ("propolis-378", Target::Amd, &SegReg::ALL, Expect::Passes),
    ("propolis-378-vcpu1", Target::Unknown, &SegReg::ALL, Expect::Passes),
    // Sweep 9: VirtualBox on Hyper-V (NEM) printing a null LDTR with all-zero flags,
    // judged unusable as VirtualBox enters it, and no IDT; KVM's error 0 beside a
    // dump_vmcs that recorded an EPT violation; a Bochs dump whose null FS and GS are
    // no nulled ones, its CR0 judged.
    ("prismaos-vbox-nem-triple", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::TripleFault { vector: None, by: TripleFaultReport::VirtualBox })),
    ("kvm-2005-hwerr0-dumpvmcs-ept", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::VmInstructionError(0))),
    ("centuryos2-j009-bochs-null-fs", Target::Bochs, &[], Expect::Passes),
    ("lp-1866870-seabios-big-real-mode", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    // The host's `Modules linked in:` line names kvm_amd and not kvm_intel: an AMD host.
    ("kvm-2103-rome-einval-modules", Target::Amd, &SegReg::ALL, Expect::NotGuestState(ExitClass::RunFailed(Some(22)))),
    // Sweep 5's exit lines: KVM_RUN's errno, kvm_run exits, triple faults and
    // shutdowns, qualifications, HAXM's debug trace, an elided Xen VMCS line.
    ("kvm-2020-qcai-kvmrun-enoent", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::RunFailed(Some(2)))),
    ("kvm-2024-ksm-efault-amd", Target::Amd, &SegReg::ALL, Expect::NotGuestState(ExitClass::RunFailed(Some(14)))),
    ("virgl-2025-efault-cpl3", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::RunFailed(Some(14)))),
    ("osstest-2024-nested-qual2", Target::Intel, &[], Expect::NoState(Some(ExitClass::InvalidGuestStateQualified(2)))),
    ("lkml-2023-retbleed-s3-dint", Target::Tcg, &SegReg::ALL, Expect::Passes),
    ("nos-11-ftrace-triple", Target::Intel, &[], Expect::NoState(Some(ExitClass::TripleFault { vector: None, by: TripleFaultReport::VmxExit }))),
    ("cilium-ebpf-598-kvmtrace", Target::Intel, &[], Expect::NoState(Some(ExitClass::TripleFault { vector: None, by: TripleFaultReport::KvmShutdown }))),
    ("vdhh-31-triple", Target::Unknown, &[], Expect::NoState(Some(ExitClass::TripleFault { vector: None, by: TripleFaultReport::Vdhh }))),
    ("haxm-193-sti-step", Target::Intel, &[], Expect::Outside(IGS)),
    ("xen-2023-dr7-upper", Target::Intel, &[], Expect::Fails(CheckId::VmxEntryDr7High)),
    ("qemu-2023-cpuindex-suberr764064", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(764_064))),
    ("xen-2022-s3-cet-init-exit", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmxExit(3)))),
    // Sweep 7's Xen VMCS dumps: a failed VMLAUNCH (error 7, the control checks) that
    // injects #GP without its error code, its control state showing the exit before;
    // a running guest without load IA32_EFER, its EFER field 0; a single-stepped MOV
    // SS-deferred ICEBP.
    ("xen-2019-nested-freebsd-vmlaunch", Target::Intel, &SegReg::ALL, Expect::Fails(CheckId::VmxControlEntryErrorCode)),
    ("xen-2020-pvh-mirage-debugkey-v", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::VmxExit(12))),
    ("xen-2019-win10-movss-icebp", Target::Intel, &SegReg::ALL, Expect::Fails(CheckId::VmxEntryPendingDebugBs)),
    // Sweep 8: internal errors whose extra data name the cause, a 5.11+ dump_vmcs, a
    // PDPTE failure outside the dump, an AMD dump_vmcb merged with QEMU's.
    ("bugzilla-213781-svm-memslot-emulfail", Target::Amd, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("lkml-2006-kmemleak-i386-suberr3", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(3))),
    ("lkml-2206-shadow-me-pae-root", Target::Intel, &SegReg::ALL, Expect::Outside(IGS)),
    ("lkml-2302-cxl-numactl-suberr3-quoted", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(3))),
    ("lkml-2303-cr0wp-esxi-nested-triple", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::TripleFault { vector: None, by: TripleFaultReport::VmxExit })),
    ("lkml-2310-cxl-stressng-two-dumps", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("lkml-2408-vpassist-apicv-suberr3-quoted", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(3))),
    ("lkml-2504-bzimage-crc-emulfail-cut", Target::Unknown, &[], Expect::NoState(Some(ExitClass::Internal(1)))),
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
    // edk2-23 also fetches from the VGA window (0x9f000 + 0x1000, paging off): a note
    // since sweep 10, the verdict unchanged.
    ("edk2-23", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("edk2-6597", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    ("depenguin-102", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs], Expect::NotGuestState(ExitClass::Internal(1))),
    ("unikraft-916", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds], Expect::NotGuestState(ExitClass::Internal(1))),
    // An SEV-SNP guest: CR0 0x80000001 (ET clear, which no CPU holds) and every segment
    // empty, what QEMU prints for registers KVM withholds. No state, the exit kept.
    ("amdsev-100", Target::Unknown, &[], Expect::NoState(Some(ExitClass::RunFailed(Some(22))))),
    // CR0 with ET but EFER.LME and PG without LMA: registers QEMU never read.
    ("amdsev-138", Target::Unknown, &[], Expect::NoState(Some(ExitClass::RunFailed(Some(22))))),
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
    // Its cut dumps show CR0 with no segment: the architecture's control-register rules
    // judge it (they pass).
    ("hollowos-4", Target::Tcg, &[], Expect::Passes),
    ("serenity-5254", Target::Tcg, &[SegReg::Gs, SegReg::Ldtr, SegReg::Tr], Expect::Passes),
    // Bochs's CPU dumps (BX_CPU_C::debug): an emulator's state, segments without their
    // attributes, so none is read and no segment rule is judged.
    ("bochs-466", Target::Bochs, &[], Expect::NoState(None)),
    ("bochs-647", Target::Bochs, &[], Expect::NoState(None)),
    ("bochs-614", Target::Bochs, &[], Expect::NoState(None)),
    // Sweep 7: a hobby OS's journal; the CPL is CS's RPL, 0 and then 3; CR0 is judged
    // by the control-register rules, so the exit decides the verdict.
    ("centuryos-v030-conforming-cs-triple", Target::Bochs, &[], Expect::NotGuestState(ExitClass::TripleFault { vector: Some(13), by: TripleFaultReport::Bochs })),
    ("centuryos-v070-user-tss-triple", Target::Bochs, &[], Expect::NotGuestState(ExitClass::TripleFault { vector: Some(10), by: TripleFaultReport::Bochs })),
    // Other projects' kvm_sregs printouts. km's JIT guest: a CS base above 4 GiB, which
    // VM entry refuses (bits 63:32 of CS.base must be 0), cut at GS.
    ("kontain-448", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ds, SegReg::Fs], Expect::Fails(CheckId::VmxEntryBaseHigh)),
    // gVisor's stuck vCPU: a valid 64-bit state (the hang was not a VM-entry failure).
    ("gvisor-5591", Target::Unknown, &SegReg::ALL, Expect::Passes),
    // Other hypervisors' exit lines: Dune's signed `%d` reason, bhyve's basic reason.
    ("dune-2", Target::Intel, &[], Expect::NoState(Some(IGS))),
    ("xhyve-193", Target::Intel, &[], Expect::NoState(Some(IGS))),
    // hyperkit's VMCS dump (hvdump) after its exit report, cut in the controls: what it
    // shows passes, the exit is reason 33.
    ("hyperkit-226", Target::Intel, &[], Expect::Outside(IGS)),
    // The report and the dump interleaved under minikube's prefix: controls only.
    ("hyperkit-268", Target::Intel, &[], Expect::NoState(Some(IGS))),
    // A staircase paste holding CS without its base: nothing whole to judge.
    ("linuxkit-3289", Target::Intel, &[], Expect::NoState(None)),
    // The dump's middle under minikube's prefix: CS and DS whole, no exit.
    ("minikube-7841", Target::Intel, &[SegReg::Cs, SegReg::Ds], Expect::Passes),
    // bhyvectl --get-all cut in the descriptors, before the selectors: EFER.SVME names
    // an AMD host; the registers pass.
    ("propolis-300", Target::Amd, &[], Expect::Passes),
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
    // A reset CS with the running guest's EIP (QEMU b16c0e20c7's half reset): every
    // shown check passes; arch.rip.cs-limit warns (sweep_10.rs).
    ("qemu-devel-2007-reset-cpu-host", Target::Intel, &SegReg::ALL, Expect::Outside(IGS)),
    // containerd's logfmt around QEMU's lines; VM-instruction error 7, cut before the
    // registers.
    ("kata-11281-logfmt-hwerr7", Target::Intel, &[], Expect::NoState(Some(ExitClass::VmInstructionError(7)))),
    // A journald log of one failed entry printed twice, kernel and QEMU: one state,
    // the host state's CR0= line no dump of its own, the exit inside the kernel's.
    ("lkml-2207-tdpmmu", Target::Intel, &SegReg::ALL, Expect::Fails(CheckId::VmxEntryIntrStiIf)),
    // Three lines of a dump_vmcs kept with `... ...` between them: its `VMCS …, last
    // attempted VM-entry` header opens it, RFLAGS.IF clear with blocking by STI after
    // an SMI in the sti's shadow (Linux fb28875fd7da), the thread's own cause.
    ("lkml-2401-smm-intshadow-elided", Target::Intel, &[], Expect::Fails(CheckId::VmxEntryIntrStiIf)),
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
    // Real mode, EIP 0xfd069 beyond CS's 4 KiB limit: an architectural warning
    // (arch.rip.cs-limit, sweep 10); the exit is still an emulation failure.
    ("gvt-linux-158", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    // A mail body in quoted-printable (`=3D`, soft line breaks) under `>> ` quoting:
    // decoded, the whole dump is read; KVM internal error 3 after a migration that
    // restored the nested state before the SMM flag.
    ("qemu-smm-migration-qp", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(3))),
    // QEMU's dump of a TDX guest, whose registers KVM does not expose: CR0 = 0 and
    // every segment empty, no CPU's state; it carries no registers, nothing is judged.
    ("tdx-mce-sub4", Target::Unknown, &[], Expect::NoState(Some(ExitClass::Internal(4)))),
    // Quoted-printable mail: decoded, a SeaBIOS flat state under an emulation failure.
    ("launchpad-1653419-svm-tcg", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::Internal(1))),
    // Quoted-printable mail: RFLAGS 0 with every segment empty, registers never read.
    ("launchpad-1876678-nested-bhyve", Target::Unknown, &[], Expect::NoState(Some(ExitClass::Internal(1)))),
    // Xen's log quoted with `> `, the VMCS dump cut after CR4.
    ("drakvuf-395", Target::Intel, &[], Expect::Outside(IGS)),
    // VirtualBox's `Guest CPUM` dumps (VBox.log): states that ran (a guest triple
    // fault; a 32-bit kernel), no hardware named. The 32-bit one is cut at CR4, before
    // LDTR and TR.
    ("vbox-centuryos-2022", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("serenity-5653", Target::Unknown, &[SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs], Expect::Passes),
    // kvmtool's register table and Solo5 ukvm's copy of it: a kvm_sregs whole, judged
    // after KVM's set path. States that entered: an AP brought up by SIPI (real mode,
    // KVM_EXIT_UNKNOWN not a guest-state failure); a unikernel that ran to a triple
    // fault, `run->exit_reason` 8 (KVM_EXIT_SHUTDOWN) in the poster's words (no EFER or
    // RFLAGS in the paste, so what needs them is not judged; the rest passes).
    ("lkml-2504-kvmtool-smp", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("solo5-6", Target::Unknown, &SegReg::ALL, Expect::NotGuestState(ExitClass::TripleFault { vector: None, by: TripleFaultReport::KvmShutdown })),
    // gdb's `info registers` over QEMU's gdbstub: control registers and selectors, no
    // descriptor cache, so no segment is read; the CR0/CR4/EFER/RFLAGS rules pass on
    // a running 32-bit kernel and on the firmware's 64-bit handover to Linux.
    ("qemu-devel-2301-rr-gdb", Target::Unknown, &[], Expect::Passes),
    ("notes-tdvf-efistub-gdb", Target::Unknown, &[], Expect::Passes),
    // EDK2's CPU exception dumps (OVMF's and other EDK2 firmware's serial output, in a
    // VM or on hardware): the state the firmware's handler caught an exception in,
    // judged for the architecture alone; selectors only, so no segment is read. CR0 and
    // CR4 pass wherever shown (the exception is the code's, not the state's); a dump
    // cut before CR0 has nothing to judge.
    ("edk2-pr4568-ia32-secboot", Target::Firmware, &[], Expect::Passes),
    ("edk2-10056-quoted", Target::Firmware, &[], Expect::NoState(None)),
    ("kubevirt-3756", Target::Firmware, &[], Expect::Passes),
    ("barevisor-4", Target::Firmware, &[], Expect::Passes),
    // NoirVisor's VMCS dump after VM-instruction error 7 (its `Failed at VM-Entry,
    // Code=7` line), cut inside CR3: the controls are not in the paste.
    ("noirvisor-24", Target::Intel, &SegReg::ALL, Expect::NotGuestState(ExitClass::VmInstructionError(7))),
    ("uefi-lessons-38-afaf", Target::Firmware, &[], Expect::Passes),
    // The same fill, through a mail archive that collapsed EDK2's aligned columns.
    ("lp-1624096-ovmf-collapsed", Target::Firmware, &[], Expect::Passes),
    ("ipxe-883", Target::Firmware, &[], Expect::Passes),
    // Rust's `Debug` of kvm-bindings' `kvm_sregs` (`kvm-bindings/README.md`: produced
    // here with kvm-ioctls on /dev/kvm, not from a thread): the reset state (real
    // mode), 64-bit ring 0, and ring 3 with SS unusable, each as `{:?}`, `{:#?}`,
    // `{:x?}` and `{:#x?}`. No exit; every check they show passes (the ring-3 SS rule
    // needs RFLAGS, which `kvm_sregs` lacks).
    ("kvm-bindings/reset-compact", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/reset-pretty", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/reset-hex", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/reset-prettyhex", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/longmode-compact", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/longmode-pretty", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/longmode-hex", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/longmode-prettyhex", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/ring3-unusable-ss-compact", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/ring3-unusable-ss-pretty", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/ring3-unusable-ss-hex", Target::Unknown, &SegReg::ALL, Expect::Passes),
    ("kvm-bindings/ring3-unusable-ss-prettyhex", Target::Unknown, &SegReg::ALL, Expect::Passes),
];
