//! The failure a log reports, interpreted: which class of check failed, and whether
//! the register state in the log is what the CPU was asked to enter.
//!
//! Sources of the numbers (their names are in [`names`]):
//!
//! - Intel VM-exit reasons with bit 31 set ("VM-entry failure"), SDM Vol. 3C §27.8 and
//!   Appendix C: 33 invalid guest state, 34 MSR loading, 41 machine-check event. For
//!   33 the exit qualification says more (§27.8): 2 the PDPTEs failed to load, 3 an
//!   NMI was injected under blocking by STI, 4 the VMCS link pointer is invalid.
//! - A value without bit 31 on KVM is `VM_INSTRUCTION_ERROR`: Linux vmx.c
//!   `__vmx_handle_exit` sets `hardware_entry_failure_reason` to it when VMLAUNCH or
//!   VMRESUME itself failed (`vmx->fail`); SDM Vol. 3C §31.4, "VM Instruction Error
//!   Numbers". 0 means no error number was stored (VMfailInvalid: no valid current
//!   VMCS).
//! - AMD: `hardware_entry_failure_reason` is the VMCB exit code; `0xffffffff` is
//!   `VMEXIT_INVALID`, the VMRUN consistency checks (APM Vol. 2 §15.5.1); `0x7f` is
//!   `SHUTDOWN`, a triple fault.
//! - `kvm_run.exit_reason`, `KVM_EXIT_*` (Linux `include/uapi/linux/kvm.h`): a VMM's
//!   own exit, not the hardware's (8 `SHUTDOWN` a triple fault, 9 `FAIL_ENTRY`, 17
//!   `INTERNAL_ERROR`, the rest exits to the VMM).
//! - `KVM_RUN`'s errno, as QEMU prints it (`error: kvm run failed %s`,
//!   `strerror(-run_ret)`, accel/kvm/kvm-all.c `kvm_cpu_exec`; qemu-kvm's `kvm_run:
//!   %s`): only EINVAL is a state KVM refuses; EFAULT is host memory.
//! - Triple faults and shutdowns, each program's report: Bochs's `exception(): 3rd (N)
//!   exception with no resolution` (bochs `cpu/exception.cc`), QEMU TCG's `Triple
//!   fault` (target/i386/tcg `raise_interrupt2`'s `check_exception`, `-d int`),
//!   VirtualBox's `Guru Meditation 1155 (VINF_EM_TRIPLE_FAULT)`, VDHH's `triple fault
//!   at …`, Xen's `Triple fault - invoking HVM shutdown action N` (`hvm_triple_fault`,
//!   xen/arch/x86/hvm/hvm.c), KVM's `kvm_exit: reason TRIPLE_FAULT` tracepoint (VMX reason 2, AMD
//!   `shutdown`) and `KVM_EXIT_SHUTDOWN`.
//! - `KVM internal error. Suberror: N`: `KVM_INTERNAL_ERROR_*` in Linux
//!   `include/uapi/linux/kvm.h` (1 emulation, 2 simultaneous exceptions, 3 event
//!   delivery, 4 unexpected exit reason; no other is defined).
//! - Xen's `MMIO emulation failed (N): d1v0 MODE @ CS:IP -> BYTES`
//!   (`hvm_dump_emulation_state`, xen/arch/x86/hvm/emulate.c): its emulator gave up on
//!   an instruction of the guest's; see [`xen_emulation`].

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::Vendor;

mod bhyve;
pub(crate) mod cr_access;
mod internal;
pub mod names;
mod parse;
pub mod vbox_hm;
pub mod xen_emulation;

pub(crate) use bhyve::{Report, ReportLine};
pub use internal::emulation_instruction_bytes;
pub use internal::explain as explain_internal;
pub use parse::{extra_data, parse_line, qualification};
pub(crate) use parse::{parse_line_in, reason_number};
pub use xen_emulation::XenEmulationFailure;

/// Who reported a triple fault (a shutdown): the words of its report differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TripleFaultReport {
    /// Bochs's `exception(): 3rd (N) exception with no resolution`.
    Bochs,
    /// QEMU TCG's `Triple fault` (`-d int`).
    QemuTcg,
    /// VirtualBox's `Guru Meditation 1155 (VINF_EM_TRIPLE_FAULT)`.
    VirtualBox,
    /// VDHH's `triple fault at RIP (…), cr0 …`.
    Vdhh,
    /// Xen's `hvm_triple_fault` (xen/arch/x86/hvm/hvm.c): `d1v0 Triple fault - invoking
    /// HVM shutdown action 1` (`gprintk`, as Xen 4.7 and later print it), `Triple fault
    /// on VCPU0 - invoking HVM shutdown action 1.` in older 4.x (`system reset.` in Xen
    /// 3); the newer ones print the vCPU's registers after it
    /// (`vcpu_show_execution_state`).
    Xen,
    /// `KVM_EXIT_SHUTDOWN` in a VMM's `kvm_run` (or QEMU's `kvm_run_exit` trace).
    KvmShutdown,
    /// Intel basic exit reason 2 (a `kvm_exit: reason TRIPLE_FAULT` tracepoint).
    VmxExit,
    /// AMD #VMEXIT `SHUTDOWN` (0x7f).
    SvmShutdown,
}

/// What one exit line said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `KVM_EXIT_FAIL_ENTRY` with this `hardware_entry_failure_reason` (also a Xen
    /// `vmentry failure (reason …)`, a VMCB `exit_code`). `vendor` is set when the
    /// line itself says which (a VMCB dump, Xen's VMX handler).
    FailEntry {
        /// The reason.
        reason: u64,
        /// The vendor the line comes from, when known.
        vendor: Option<Vendor>,
        /// The exit qualification, when the line prints it (Xen's `Invalid guest
        /// state (N)`).
        qualification: Option<u64>,
    },
    /// `KVM internal error. Suberror: N`, with its `extra data[i]` words.
    Internal {
        /// The suberror.
        suberror: u32,
        /// The extra data words.
        extra: Vec<u64>,
    },
    /// KVM_SET_SREGS (or QEMU's "Failed to put registers") refused the state.
    SetRegistersRefused,
    /// `KVM_RUN` itself returned an error: `kvm run failed Invalid argument`.
    RunFailed {
        /// The errno, when the line names it (by `strerror` text, name or number).
        errno: Option<u16>,
    },
    /// `KVM_EXIT_FAIL_ENTRY` named without its `hardware_entry_failure_reason` (kontain
    /// km prints the name, then its register dump, then the reason on a later line
    /// that pastes often cut).
    FailEntryNoReason,
    /// A VMX exit reason, the VMCS field as printed: Dune's `unhandled exit: reason N`
    /// (the 32-bit reason, bit 31 included, as a signed `%d`), bhyve's and xhyve's `vm
    /// exit[N]` report (`\texit_reason\t%u`, the basic reason: bhyve's
    /// `vmcs_exit_reason()` masks it to 16 bits), Xen's `Unexpected vmexit: reason N`,
    /// the exit-reason field of a dump_vmcs (`reason=…`) or a HAXM dump
    /// (`VM_EXIT_INFO_REASON`, `exit_reason.raw`), which a dump of a running vCPU shows
    /// too, and a `kvm_exit` tracepoint's reason name. A VM-entry failure when bit 31
    /// is set or the basic reason is 33, 34 or 41, which occur only as entry failures
    /// (SDM Vol. 3C Appendix C); reason 2 is a triple fault; any other exit is not a
    /// failure (`reason=0000000c` is a HLT, not VM-instruction error 12).
    VmxExitReason {
        /// The exit reason as printed.
        reason: u32,
        /// The exit qualification, when the line (or HAXM's next field) prints it.
        qualification: Option<u64>,
    },
    /// An AMD #VMEXIT code a `kvm_exit` tracepoint names (`reason npf`).
    SvmExit {
        /// The exit code.
        code: u64,
    },
    /// `kvm_run.exit_reason`, a `KVM_EXIT_*` code: a VMM's `run->exit_reason = N`, a
    /// line naming `KVM_EXIT_…` with `exit_reason`, QEMU's `kvm_run_exit` trace event.
    KvmRun {
        /// The `KVM_EXIT_*` number.
        code: u32,
    },
    /// Xen crashed the domain: `domain_crash called from FILE:LINE` (or `FILE#FUNCTION
    /// +off/len`, `FUNCTION+off/len`), the `domain_crash()` macro of
    /// `xen/include/xen/sched.h`, or `domain_crash_sync called from …` (its
    /// `domain_crash_synchronous()`, and from assembly `entry.S: fault at …`). `vendor` when the place is in `hvm/vmx` or
    /// `hvm/svm`; `entry` when it is `vmx_failed_vmentry`, Xen's handler of a failed
    /// VM entry (whose reason line a paste may have cut).
    XenDomainCrash {
        /// The vendor the crashing code belongs to, when its place says.
        vendor: Option<Vendor>,
        /// Crashed by Xen's handler of a failed VM entry.
        entry: bool,
    },
    /// Xen's x86 emulator could not carry out an instruction of an HVM guest's (`MMIO
    /// emulation failed (1): d1v0 16bit @ f000:0000fea7 -> 66 ea …`, see
    /// [`xen_emulation`]): Xen then injects #GP or #UD into the guest, or crashes the
    /// domain from real mode; no VM entry failed.
    XenEmulationFailed(XenEmulationFailure),
    /// Windows' hypervisor platform (WHP) stopped the virtual processor:
    /// `WHV_RUN_VP_EXIT_REASON` (`WinHvPlatformDefs.h`), as QEMU's WHPX prints it
    /// (`WHPX: Unexpected VP exit code N`, decimal in older QEMU, `0x%08x` since) or as
    /// a VMM names it (`WHvRunVpExitReasonInvalidVpRegisterValue`); see
    /// [`super::whp`].
    Whp {
        /// The exit reason: 4 unrecoverable exception, 5 invalid VP register value, 6
        /// unsupported feature ([`super::whp::EXIT_REASONS`]).
        reason: u32,
    },
    /// The guest triple-faulted (the CPU shut down), as `by` reports it; `vector` is
    /// the third exception's when the report names it.
    TripleFault {
        /// The vector of the exception that could not be delivered.
        vector: Option<u8>,
        /// The report.
        by: TripleFaultReport,
    },
    /// VirtualBox's VT-x VM entry failed the guest-state checks, and VirtualBox's own
    /// copy of them named the rule: the `HM error` of VBox.log's `VT-x info` block, a
    /// `VMX_IGS_*` code ([`vbox_hm`]).
    VboxHmError {
        /// The `VMX_IGS_*` code.
        code: u32,
    },
    /// KVM stopped the vCPU on an exception it intercepted and does not handle itself
    /// (`KVM_EXIT_EXCEPTION`): QEMU's `KVM: exception N exit (error code 0x…)`, or its
    /// `Guest encounters an #AC due to split lock` for vector 17 (QEMU 5.2 on). Only
    /// VMX's `handle_exception_nmi` (and TDX's) sets this exit on x86 (Linux
    /// arch/x86/kvm/vmx/vmx.c, its `default:` case): an Intel host's. The guest ran into
    /// the exception; no VM entry failed.
    KvmException {
        /// The vector, as printed (`run->ex.exception`).
        vector: u32,
        /// The error code (`run->ex.error_code`), when the line prints it.
        error_code: Option<u32>,
    },
    /// VirtualBox stopped the VM: `Guru Meditation N (NAME)`, a VBox status code
    /// (`include/VBox/err.h`); 1155, `VINF_EM_TRIPLE_FAULT`, reads as a
    /// [`Exit::TripleFault`].
    VboxGuru {
        /// The status code.
        status: i32,
        /// The vendor whose entry failed the guest-state checks, when the status's name
        /// says so: `VERR_VMX_INVALID_GUEST_STATE` (VT-x's VM entry) or
        /// `VERR_SVM_INVALID_GUEST_STATE` (AMD-V's VMRUN). Read by name, since
        /// VirtualBox renumbered its HM codes between releases.
        failed_entry: Option<Vendor>,
    },
}

/// The class of check an exit points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExitClass {
    /// VM entry failed the guest-state checks (Intel 0x80000021).
    InvalidGuestState,
    /// VM entry failed the guest-state checks, and the exit qualification names the
    /// check (SDM Vol. 3C §27.8): 2 PDPTE loading, 3 NMI injection under blocking by
    /// STI, 4 the VMCS link pointer. No segment or register rule is the cause.
    InvalidGuestStateQualified(u8),
    /// VM entry failed loading MSRs from the VM-entry MSR-load area (0x80000022).
    MsrLoading,
    /// A machine-check event during VM entry (0x80000029).
    MachineCheck,
    /// Another VM-exit reason with bit 31 set.
    OtherEntryFailure,
    /// The VMX instruction failed with this VM-instruction error number; 0 = no number
    /// stored (VMfailInvalid).
    VmInstructionError(u32),
    /// AMD VMEXIT_INVALID: a VMRUN consistency check failed.
    SvmInvalid,
    /// A KVM internal error with this suberror.
    Internal(u32),
    /// KVM_SET_SREGS refused the state (EINVAL).
    SetRegistersRefused,
    /// KVM_RUN returned this errno (`None`: the line does not say which).
    RunFailed(Option<u16>),
    /// `KVM_EXIT_FAIL_ENTRY` without the reason: VM entry (Intel) or VMRUN (AMD)
    /// failed, and the log does not say which class of check.
    EntryFailedNoReason,
    /// An exit reason that is not a failure at all.
    NotAFailure,
    /// An ordinary Intel exit, this basic reason: not a failure.
    VmxExit(u16),
    /// An ordinary AMD #VMEXIT, this code: not a failure.
    SvmExit(u64),
    /// A `kvm_run` exit to the VMM, this `KVM_EXIT_*` code: not a VM-entry failure.
    KvmExit(u32),
    /// Xen crashed the domain for a reason of its own (`domain_crash`), not a failed
    /// VM entry.
    XenDomainCrash,
    /// Xen's emulator could not carry out the guest's instruction (`… emulation
    /// failed`); the caller's word (`MMIO`, `port I/O`, `Real-mode`, …).
    XenEmulationFailed(&'static str),
    /// The guest triple-faulted: it ran and faulted; no VM entry failed.
    TripleFault {
        /// The vector of the third exception, when the report names it.
        vector: Option<u8>,
        /// Who reported it.
        by: TripleFaultReport,
    },
    /// VirtualBox stopped the VM with a Guru Meditation of this status.
    VboxGuru(i32),
    /// VirtualBox's VT-x VM entry failed the guest-state checks, the rule named by
    /// VirtualBox's own check (`VMX_IGS_*`, [`vbox_hm`]).
    VboxInvalidGuestState(u32),
    /// KVM stopped the vCPU on an exception it intercepted and does not handle
    /// (`KVM_EXIT_EXCEPTION`, Intel only): the guest ran into it.
    KvmException {
        /// The vector.
        vector: u32,
        /// The error code, when printed.
        error_code: Option<u32>,
    },
    /// WHP refused a register value the VMM set (`InvalidVpRegisterValue`): Hyper-V's
    /// own check of the state, the counterpart of KVM_SET_SREGS's EINVAL.
    WhpInvalidRegisterValue,
    /// WHP stopped the processor on an exception it could not deliver
    /// (`UnrecoverableException`: a triple fault): the guest ran into it.
    WhpUnrecoverableException,
    /// WHP stopped the processor on something it does not emulate
    /// (`UnsupportedFeature`: an intercept it cannot deliver, a task switch through a
    /// TSS, `WHV_X64_UNSUPPORTED_FEATURE_CODE`): the guest ran into it.
    WhpUnsupportedFeature,
}

/// The class of an Intel exit reason (the 32-bit field, bit 31 the entry-failure bit)
/// with its exit qualification, if printed.
fn vmx_class(reason: u32, qualification: Option<u64>) -> ExitClass {
    let basic = (reason & 0xffff) as u16;
    match basic {
        33 => match qualification {
            Some(q @ 2..=4) => ExitClass::InvalidGuestStateQualified(q as u8),
            _ => ExitClass::InvalidGuestState,
        },
        34 => ExitClass::MsrLoading,
        41 => ExitClass::MachineCheck,
        _ if reason & (1 << 31) != 0 => ExitClass::OtherEntryFailure,
        2 => ExitClass::TripleFault {
            vector: None,
            by: TripleFaultReport::VmxExit,
        },
        _ => ExitClass::VmxExit(basic),
    }
}

/// The class of an AMD #VMEXIT code.
fn svm_class(code: u64) -> ExitClass {
    match code {
        0xffff_ffff | u64::MAX => ExitClass::SvmInvalid,
        names::SVM_EXIT_SHUTDOWN => ExitClass::TripleFault {
            vector: None,
            by: TripleFaultReport::SvmShutdown,
        },
        c => ExitClass::SvmExit(c),
    }
}

impl Exit {
    /// The class of check this exit points at.
    #[must_use]
    pub fn class(&self) -> ExitClass {
        match self {
            Exit::FailEntry {
                reason,
                vendor,
                qualification,
            } => {
                let r = *reason;
                if r == 0xffff_ffff || r == u64::MAX || *vendor == Some(Vendor::Amd) {
                    svm_class(if r & 0xffff_ffff == 0xffff_ffff {
                        u64::MAX
                    } else {
                        r
                    })
                } else if r & (1 << 31) != 0 {
                    vmx_class((r & 0xffff) as u32 | (1 << 31), *qualification)
                } else if r <= 0xff {
                    ExitClass::VmInstructionError(r as u32)
                } else {
                    ExitClass::NotAFailure
                }
            }
            Exit::VmxExitReason {
                reason,
                qualification,
            } => vmx_class(*reason, *qualification),
            Exit::SvmExit { code } => svm_class(*code),
            Exit::KvmRun {
                code: names::KVM_EXIT_SHUTDOWN,
            } => ExitClass::TripleFault {
                vector: None,
                by: TripleFaultReport::KvmShutdown,
            },
            Exit::KvmRun {
                code: names::KVM_EXIT_FAIL_ENTRY,
            } => ExitClass::EntryFailedNoReason,
            Exit::KvmRun { code } => ExitClass::KvmExit(*code),
            Exit::XenDomainCrash { entry: true, .. } => ExitClass::EntryFailedNoReason,
            Exit::XenDomainCrash { .. } => ExitClass::XenDomainCrash,
            Exit::XenEmulationFailed(e) => ExitClass::XenEmulationFailed(e.caller),
            Exit::TripleFault { vector, by } => ExitClass::TripleFault {
                vector: *vector,
                by: *by,
            },
            Exit::VboxGuru {
                failed_entry: Some(Vendor::Intel),
                ..
            } => ExitClass::InvalidGuestState,
            Exit::VboxGuru {
                failed_entry: Some(Vendor::Amd),
                ..
            } => ExitClass::SvmInvalid,
            Exit::VboxGuru { status, .. } => ExitClass::VboxGuru(*status),
            Exit::VboxHmError { code } => ExitClass::VboxInvalidGuestState(*code),
            Exit::KvmException { vector, error_code } => ExitClass::KvmException {
                vector: *vector,
                error_code: *error_code,
            },
            Exit::Whp { reason: 4 } => ExitClass::WhpUnrecoverableException,
            Exit::Whp { reason: 5 } => ExitClass::WhpInvalidRegisterValue,
            Exit::Whp { reason: 6 } => ExitClass::WhpUnsupportedFeature,
            Exit::Whp { .. } => ExitClass::NotAFailure,
            Exit::Internal { suberror, .. } => ExitClass::Internal(*suberror),
            Exit::SetRegistersRefused => ExitClass::SetRegistersRefused,
            Exit::RunFailed { errno } => ExitClass::RunFailed(*errno),
            Exit::FailEntryNoReason => ExitClass::EntryFailedNoReason,
        }
    }

    /// True when `other` reports the same failure: equal, or the same
    /// `hardware_entry_failure_reason` printed by two lines of which one also names the
    /// vendor (a dump_vmcs's `reason=80000021` and QEMU's `hardware error 0x80000021`),
    /// with or without its qualification.
    #[must_use]
    pub fn same_failure(&self, other: &Exit) -> bool {
        match (self, other) {
            (Exit::FailEntry { reason: a, .. }, Exit::FailEntry { reason: b, .. }) => a == b,
            (Exit::VmxExitReason { reason: a, .. }, Exit::VmxExitReason { reason: b, .. }) => {
                a == b
            }
            (Exit::VmxExitReason { reason: a, .. }, Exit::FailEntry { reason: b, .. })
            | (Exit::FailEntry { reason: b, .. }, Exit::VmxExitReason { reason: a, .. }) => {
                u64::from(*a) == *b
            }
            _ => self == other,
        }
    }

    /// True when an emulator reported it (Bochs, QEMU's TCG): no VM entry is involved,
    /// so it says nothing against a log's emulator target.
    #[must_use]
    pub fn from_emulator(&self) -> bool {
        matches!(
            self,
            Exit::TripleFault {
                by: TripleFaultReport::Bochs | TripleFaultReport::QemuTcg,
                ..
            }
        )
    }

    /// True when VirtualBox's recompiler stopped the VM (`Guru Meditation -2301
    /// (VERR_REM_VIRTUAL_CPU_ERROR)`): the guest ran in the recompiler, not under
    /// VT-x or AMD-V, so no VM entry is in question.
    #[must_use]
    pub fn from_vbox_recompiler(&self) -> bool {
        matches!(
            self,
            Exit::VboxGuru {
                status: names::VERR_REM_VIRTUAL_CPU_ERROR,
                ..
            }
        )
    }

    /// Why this exit implies its [`Exit::vendor`], in words for a report.
    #[must_use]
    pub fn vendor_evidence(&self) -> &'static str {
        match (self, self.vendor()) {
            (Exit::XenDomainCrash { .. }, Some(Vendor::Amd)) => {
                "AMD's (Xen's SVM code crashed the domain)"
            }
            (Exit::XenDomainCrash { .. }, _) => "Intel's (Xen's VMX code crashed the domain)",
            (Exit::SvmExit { .. }, _) => "AMD's (an SVM #VMEXIT code)",
            (Exit::VboxGuru { .. }, Some(Vendor::Amd)) => {
                "AMD's (VirtualBox's VERR_SVM_INVALID_GUEST_STATE: AMD-V's VMRUN)"
            }
            (Exit::VboxGuru { .. }, _) => {
                "Intel's (VirtualBox's VERR_VMX_INVALID_GUEST_STATE: VT-x's VM entry)"
            }
            (Exit::VboxHmError { .. }, _) => {
                "Intel's (VirtualBox's VT-x info: a VMX_IGS_* code of its VT-x checks)"
            }
            (Exit::KvmException { .. }, _) => {
                "Intel's (KVM_EXIT_EXCEPTION, which only KVM's VMX code reports)"
            }
            (_, Some(Vendor::Amd)) => "AMD's (VMEXIT_INVALID)",
            _ => "Intel's (a VMX exit reason or VM-instruction error)",
        }
    }

    /// The vendor this exit implies, if any: a VMX exit reason or VM-instruction error
    /// is Intel, an SVM exit code or VMEXIT_INVALID is AMD. A `kvm_run` exit is the
    /// VMM's, of either.
    #[must_use]
    pub fn vendor(&self) -> Option<Vendor> {
        match self {
            Exit::FailEntry {
                vendor: Some(v), ..
            } => return Some(*v),
            Exit::VmxExitReason { .. } => return Some(Vendor::Intel),
            Exit::SvmExit { .. } => return Some(Vendor::Amd),
            Exit::XenDomainCrash { vendor, .. } => return *vendor,
            Exit::KvmRun { .. } => return None,
            Exit::KvmException { .. } | Exit::VboxHmError { .. } => return Some(Vendor::Intel),
            _ => {}
        }
        match self.class() {
            ExitClass::InvalidGuestState
            | ExitClass::InvalidGuestStateQualified(_)
            | ExitClass::MsrLoading
            | ExitClass::MachineCheck
            | ExitClass::OtherEntryFailure
            | ExitClass::VmInstructionError(_) => Some(Vendor::Intel),
            ExitClass::SvmInvalid => Some(Vendor::Amd),
            _ => None,
        }
    }
}

impl ExitClass {
    /// True when the failure is about the guest state a dump shows: the guest-state
    /// checks (Intel), the VMRUN consistency checks (AMD, which also cover the
    /// control area), or KVM_SET_SREGS's checks. False for control-field, host-state,
    /// VMCS-pointer and MSR-load failures, whose register dump is not what failed, and
    /// for a guest-state failure whose qualification names a check beyond the
    /// registers.
    #[must_use]
    pub fn blames_guest_state(self) -> bool {
        matches!(
            self,
            ExitClass::InvalidGuestState
                | ExitClass::VboxInvalidGuestState(_)
                | ExitClass::SvmInvalid
                | ExitClass::SetRegistersRefused
                | ExitClass::WhpInvalidRegisterValue
                | ExitClass::OtherEntryFailure
                | ExitClass::EntryFailedNoReason
        )
    }

    /// True for an ordinary exit, one a trace of exits holds many of before the one
    /// that ended the run.
    #[must_use]
    pub fn is_ordinary(self) -> bool {
        matches!(
            self,
            ExitClass::NotAFailure
                | ExitClass::VmxExit(_)
                | ExitClass::SvmExit(_)
                | ExitClass::KvmExit(_)
        ) && self != ExitClass::KvmExit(names::KVM_EXIT_INTERNAL_ERROR)
    }

    /// In words: what failed and which class of check applies.
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            ExitClass::InvalidGuestState => String::from(
                "VM entry failed the guest-state checks (exit reason 33, SDM Vol. 3C §27.3.1)",
            ),
            ExitClass::InvalidGuestStateQualified(q) => {
                let what = match q {
                    2 => "a problem loading the PDPTEs (a PAE paging entry with reserved bits set)",
                    3 => "an NMI injected while the interruptibility state has blocking by STI",
                    _ => "an invalid VMCS link pointer",
                };
                format!(
                    "VM entry failed the guest-state checks on {what} (exit reason 33, exit \
                     qualification {q}, SDM Vol. 3C §27.8): no segment or register rule is the \
                     cause"
                )
            }
            ExitClass::MsrLoading => String::from(
                "VM entry failed loading the VM-entry MSR-load area (exit reason 34, SDM \
                 Vol. 3C §27.4): an MSR value, not the register state",
            ),
            ExitClass::MachineCheck => String::from(
                "a machine-check event during VM entry (exit reason 41): hardware, not the guest state",
            ),
            ExitClass::OtherEntryFailure => {
                String::from("VM entry failed (an exit reason with bit 31 set)")
            }
            ExitClass::VmInstructionError(0) => String::from(
                "a failed VMX instruction with no error number (VM-instruction error 0): \
                 VMfailInvalid, no valid current VMCS (SDM Vol. 3C §31.2), or a failure the \
                 hypervisor reported that the processor did not; the guest-state checks did \
                 not fail this state, so the guest state is not to blame",
            ),
            ExitClass::VmInstructionError(n) => {
                let what = names::VM_INSTRUCTION_ERRORS
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map_or("an unknown VM-instruction error", |(_, w)| w);
                format!(
                    "the VMX instruction failed with VM-instruction error {n}: {what} (SDM Vol. \
                     3C §31.4); the guest-state checks did not run, so the guest state is not to blame"
                )
            }
            ExitClass::SvmInvalid => String::from(
                "VMRUN failed its consistency checks (VMEXIT_INVALID, APM Vol. 2 §15.5.1)",
            ),
            ExitClass::Internal(n) => {
                match names::KVM_INTERNAL_ERRORS.iter().find(|(k, _)| *k == n) {
                    Some((_, what)) => {
                        format!("KVM internal error {n}: {what} (not a VM entry failure)")
                    }
                    None => format!(
                        "KVM internal error {n}: not a suberror KVM defines (KVM_INTERNAL_ERROR_* \
                     are 1 to 4, include/uapi/linux/kvm.h): a value the VMM printed for an exit \
                     it did not recognise"
                    ),
                }
            }
            ExitClass::SetRegistersRefused => String::from(
                "KVM_SET_SREGS (QEMU: \"Failed to put registers\") refused the state with EINVAL",
            ),
            ExitClass::RunFailed(errno) => run_failed(errno),
            ExitClass::EntryFailedNoReason => String::from(
                "KVM_EXIT_FAIL_ENTRY: VM entry (or VMRUN) failed; the log does not show its \
                 hardware_entry_failure_reason, so which class of check failed is not known",
            ),
            ExitClass::NotAFailure => String::from("an exit reason that is not a failure"),
            ExitClass::VmxExit(n) => match names::vmx_exit_reason(n) {
                Some(w) => format!("VMX exit reason {n} ({w}): an ordinary exit, not a failure"),
                None => format!("VMX exit reason {n}: an exit reason that is not a failure"),
            },
            ExitClass::SvmExit(c) => match names::svm_exit_code(c) {
                Some(w) => format!("#VMEXIT {w} (0x{c:x}): an ordinary exit, not a failure"),
                None => format!("#VMEXIT 0x{c:x}: an exit code that is not a failure"),
            },
            ExitClass::KvmExit(names::KVM_EXIT_INTERNAL_ERROR) => String::from(
                "KVM_EXIT_INTERNAL_ERROR (kvm_run exit 17): KVM could not handle an exit; its \
                 suberror says why (not a VM entry failure)",
            ),
            ExitClass::KvmExit(n) => match names::kvm_exit(n) {
                Some(name) => format!(
                    "KVM_EXIT_{name} (kvm_run exit {n}): an exit to the VMM, not a VM entry failure"
                ),
                None => format!(
                    "kvm_run exit {n}: not an exit KVM defines (KVM_EXIT_* in \
                     include/uapi/linux/kvm.h)"
                ),
            },
            ExitClass::TripleFault { vector, by } => triple_fault(vector, by),
            ExitClass::VboxInvalidGuestState(code) => {
                let (name, what) = vbox_hm::vmx_igs(code).unwrap_or(("an unknown code", ""));
                format!(
                    "VirtualBox's VT-x VM entry failed the guest-state checks, and its own copy \
                     of them names the rule: HM error {code}, {name} ({what}; \
                     include/VBox/vmm/hm_vmx.h)"
                )
            }
            ExitClass::KvmException { vector, error_code } => kvm_exception(vector, error_code),
            ExitClass::VboxGuru(status) => {
                let name = names::VBOX_STATUS_CODES
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or("", |(_, n)| n);
                format!(
                    "VirtualBox stopped the VM with Guru Meditation {status}{}{name}: a status of \
                     VirtualBox's own (include/VBox/err.h), not a VM entry failure",
                    if name.is_empty() { "" } else { " " }
                )
            }
            ExitClass::WhpInvalidRegisterValue => String::from(
                "WHP refused a register value (WHvRunVpExitReasonInvalidVpRegisterValue): \
                 Hyper-V's check of the state the VMM set, as KVM_SET_SREGS's EINVAL is KVM's",
            ),
            ExitClass::WhpUnrecoverableException => String::from(
                "WHP stopped the processor on an exception it could not deliver \
                 (WHvRunVpExitReasonUnrecoverableException, a triple fault): the guest ran \
                 into it, not a refused state",
            ),
            ExitClass::WhpUnsupportedFeature => String::from(
                "WHP stopped the processor on something it does not support \
                 (WHvRunVpExitReasonUnsupportedFeature: an intercept it cannot deliver, a task \
                 switch through a TSS): the guest ran into it, not a refused state",
            ),
            ExitClass::XenEmulationFailed(caller) => format!(
                "Xen's instruction emulator could not carry out the guest's instruction \
                 (`{caller} emulation failed`, hvm_dump_emulation_state): Xen then injects \
                 #GP or #UD into the guest, or crashes the domain from real mode; the guest \
                 ran into it, not a VM entry failure, and no guest-state check is named"
            ),
            ExitClass::XenDomainCrash => String::from(
                "Xen crashed the domain (domain_crash, called from the place the line names): \
                 Xen's answer to something it could not handle, a failed VM entry when the \
                 log shows one before it; on its own it names no guest-state check",
            ),
        }
    }
}

/// `KVM_RUN`'s errno in words: only EINVAL is about a state KVM refuses.
fn run_failed(errno: Option<u16>) -> String {
    let Some(n) = errno else {
        return String::from(
            "KVM_RUN failed with an error the line does not name: not a VM entry failure",
        );
    };
    let (name, text) = names::errno(n).map_or(("an errno", ""), |(_, name, text)| (*name, *text));
    let why = match n {
        names::EINVAL => "state KVM refuses to run, or a VM setup problem",
        names::EFAULT => {
            "KVM could not get a host page for guest memory (a memslot, KSM, memfd, VFIO or \
             blob mapping problem): host memory, not the register state"
        }
        4 | 11 => "a signal interrupted the run: not the register state",
        12 | 133 => "the host's memory (out of memory, or a poisoned page): not the register state",
        _ => "an error KVM or one of its exit handlers passed on: not the register state",
    };
    if text.is_empty() {
        format!("KVM_RUN returned errno {n} ({why})")
    } else {
        format!("KVM_RUN returned {name}, \"{text}\" ({why})")
    }
}

/// A triple fault in words, as `by` reports it.
/// [`ExitClass::KvmException`] in words.
fn kvm_exception(vector: u32, error_code: Option<u32>) -> String {
    let name = u8::try_from(vector)
        .ok()
        .and_then(names::exception)
        .map(|n| format!("{n}, "))
        .unwrap_or_default();
    let code = error_code
        .map(|c| format!(", error code {c:#x}"))
        .unwrap_or_default();
    let split_lock = if vector == 17 {
        " (a split-lock #AC: the host's split-lock detection caught a locked access across \
         two cache lines while the guest had not enabled alignment checking)"
    } else {
        ""
    };
    format!(
        "KVM_EXIT_EXCEPTION ({name}vector {vector}{code}){split_lock}: KVM intercepted an \
         exception it does not handle itself and stopped the vCPU (vmx.c \
         handle_exception_nmi); the guest ran into it, no VM entry failed"
    )
}

fn triple_fault(vector: Option<u8>, by: TripleFaultReport) -> String {
    let report = match by {
        TripleFaultReport::Bochs => "the emulated CPU shut down (Bochs cpu/exception.cc)",
        TripleFaultReport::QemuTcg => "QEMU's emulator (TCG) shut the CPU down (`Triple fault`)",
        TripleFaultReport::VirtualBox => {
            "VirtualBox stopped the VM (Guru Meditation 1155, VINF_EM_TRIPLE_FAULT)"
        }
        TripleFaultReport::Vdhh => "VDHH stopped the VM (`triple fault at …`)",
        TripleFaultReport::Xen => {
            "Xen shut the HVM domain down (`Triple fault - invoking HVM shutdown action`)"
        }
        TripleFaultReport::KvmShutdown => {
            "the vCPU shut down (KVM_EXIT_SHUTDOWN, kvm_run exit 8: a triple fault on x86)"
        }
        TripleFaultReport::VmxExit => "VMX exit reason 2 (triple fault)",
        TripleFaultReport::SvmShutdown => "#VMEXIT SHUTDOWN (0x7f)",
    };
    let third = vector.map_or_else(String::new, |v| {
        format!(" the CPU met exception {v} while delivering a double fault;")
    });
    format!(
        "a triple fault:{third} {report}; the guest ran into it, not a VM entry failure: the \
         state printed is the one before the last fault, or after reset"
    )
}

#[cfg(test)]
mod tests;
