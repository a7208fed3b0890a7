//! The failure a log reports, interpreted: which class of check failed, and whether
//! the register state in the log is what the CPU was asked to enter.
//!
//! Sources of the numbers:
//!
//! - Intel VM-exit reasons with bit 31 set ("VM-entry failure"), SDM Vol. 3C §27.8 and
//!   Appendix C: 33 invalid guest state, 34 MSR loading, 41 machine-check event.
//! - A value without bit 31 on KVM is `VM_INSTRUCTION_ERROR`: Linux vmx.c
//!   `__vmx_handle_exit` sets `hardware_entry_failure_reason` to it when VMLAUNCH or
//!   VMRESUME itself failed (`vmx->fail`); SDM Vol. 3C §31.4, "VM Instruction Error
//!   Numbers". 0 means no error number was stored (VMfailInvalid: no valid current
//!   VMCS).
//! - AMD: `hardware_entry_failure_reason` is the VMCB exit code; `0xffffffff` is
//!   `VMEXIT_INVALID`, the VMRUN consistency checks (APM Vol. 2 §15.5.1).
//! - Bochs's `exception(): 3rd (N) exception with no resolution[, shutdown status is
//!   NNh, resetting]` (bochs `cpu/exception.cc`, `BX_CPU_C::exception`): a third
//!   exception while delivering a double fault, a triple fault; Bochs then resets or
//!   shuts the emulated CPU down. Its other lines (`interrupt(): vector must be within
//!   IDT table limits`, `>>PANIC<<` messages) name no outcome of certain meaning and are
//!   not exits.
//! - `KVM internal error. Suberror: N`: `KVM_INTERNAL_ERROR_*` in Linux
//!   `include/uapi/linux/kvm.h` (1 emulation, 2 simultaneous exceptions, 3 event
//!   delivery, 4 unexpected exit reason).

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use crate::arch::Vendor;

use super::text::hex;

/// What one exit line said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `KVM_EXIT_FAIL_ENTRY` with this `hardware_entry_failure_reason` (also a Xen
    /// `vmentry failure (reason …)`, a VMCS `reason=` line, HAXM's
    /// `VM_EXIT_INFO_REASON`, a VMCB `exit_code`). `vendor` is set when the line itself
    /// says which (a VMCB dump, a VMCS dump).
    FailEntry {
        /// The reason.
        reason: u64,
        /// The vendor the line comes from, when known.
        vendor: Option<Vendor>,
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
    /// `kvm run failed Invalid argument`: KVM_RUN returned EINVAL.
    RunInvalid,
    /// `KVM_EXIT_FAIL_ENTRY` named without its `hardware_entry_failure_reason` (kontain
    /// km prints the name, then its register dump, then the reason on a later line
    /// that pastes often cut).
    FailEntryNoReason,
    /// A VMX exit reason, the VMCS field as printed: Dune's `unhandled exit: reason N`
    /// (the 32-bit reason, bit 31 included, as a signed `%d`), bhyve's and xhyve's `vm
    /// exit[N]` report (`exit_reason N`, the basic reason: bhyve's `vmcs_exit_reason()`
    /// masks it to 16 bits), Xen's `Unexpected vmexit: reason N`, and the exit-reason
    /// field of a dump_vmcs (`reason=…`) or a HAXM dump (`VM_EXIT_INFO_REASON`), which
    /// a dump of a running vCPU shows too. A VM-entry failure when bit 31 is set or the
    /// basic reason is 33, 34 or 41, which occur only as entry failures (SDM Vol. 3C
    /// Appendix C); any other exit is not one (`reason=0000000c` is a HLT, not
    /// VM-instruction error 12).
    VmxExitReason {
        /// The exit reason as printed.
        reason: u32,
    },
    /// Xen crashed the domain: `domain_crash called from FILE:LINE` (or `FILE#FUNCTION
    /// +off/len`, `FUNCTION+off/len`), the `domain_crash()` macro of
    /// `xen/include/xen/sched.h`. `vendor` when the place is in `hvm/vmx` or
    /// `hvm/svm`; `entry` when it is `vmx_failed_vmentry`, Xen's handler of a failed
    /// VM entry (whose reason line a paste may have cut).
    XenDomainCrash {
        /// The vendor the crashing code belongs to, when its place says.
        vendor: Option<Vendor>,
        /// Crashed by Xen's handler of a failed VM entry.
        entry: bool,
    },
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
    /// Bochs's emulated CPU triple-faulted: `exception(): 3rd (N) exception with no
    /// resolution`, N the vector of the third exception (in decimal, `%d`).
    TripleFault {
        /// The vector of the exception that could not be delivered.
        vector: u8,
    },
}

/// The class of check an exit points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExitClass {
    /// VM entry failed the guest-state checks (Intel 0x80000021).
    InvalidGuestState,
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
    /// KVM_RUN returned EINVAL.
    RunInvalid,
    /// `KVM_EXIT_FAIL_ENTRY` without the reason: VM entry (Intel) or VMRUN (AMD)
    /// failed, and the log does not say which class of check.
    EntryFailedNoReason,
    /// An exit reason that is not a failure at all.
    NotAFailure,
    /// Xen crashed the domain for a reason of its own (`domain_crash`), not a failed
    /// VM entry.
    XenDomainCrash,
    /// An emulator's CPU triple-faulted (Bochs): the guest ran and faulted; no VM entry
    /// is involved.
    TripleFault(u8),
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

/// VM-instruction error numbers, SDM Vol. 3C §31.4 Table 31-1.
const VM_INSTRUCTION_ERRORS: &[(u32, &str)] = &[
    (1, "VMCALL executed in VMX root operation"),
    (2, "VMCLEAR with invalid physical address"),
    (3, "VMCLEAR with VMXON pointer"),
    (4, "VMLAUNCH with non-clear VMCS"),
    (5, "VMRESUME with non-launched VMCS"),
    (6, "VMRESUME after VMXOFF"),
    (7, "VM entry with invalid control field(s)"),
    (8, "VM entry with invalid host-state field(s)"),
    (9, "VMPTRLD with invalid physical address"),
    (10, "VMPTRLD with VMXON pointer"),
    (11, "VMPTRLD with incorrect VMCS revision identifier"),
    (12, "VMREAD/VMWRITE from/to unsupported VMCS component"),
    (13, "VMWRITE to read-only VMCS component"),
    (15, "VMXON executed in VMX root operation"),
    (16, "VM entry with invalid executive-VMCS pointer"),
    (17, "VM entry with non-launched executive VMCS"),
    (18, "VM entry with executive-VMCS pointer not VMXON pointer"),
    (19, "VMCALL with non-clear VMCS"),
    (20, "VMCALL with invalid VM-exit control fields"),
    (22, "VMCALL with incorrect MSEG revision identifier"),
    (23, "VMXOFF under dual-monitor treatment of SMIs and SMM"),
    (24, "VMCALL with invalid SMM-monitor features"),
    (
        25,
        "VM entry with invalid VM-execution control fields in executive VMCS",
    ),
    (26, "VM entry with events blocked by MOV SS"),
    (28, "invalid operand to INVEPT/INVVPID"),
];

impl Exit {
    /// The class of check this exit points at.
    #[must_use]
    pub fn class(&self) -> ExitClass {
        match self {
            Exit::FailEntry { reason, vendor } => {
                let r = *reason;
                if r == 0xffff_ffff || r == u64::MAX || *vendor == Some(Vendor::Amd) {
                    if r & 0xffff_ffff == 0xffff_ffff {
                        ExitClass::SvmInvalid
                    } else {
                        ExitClass::NotAFailure
                    }
                } else if r & (1 << 31) != 0 {
                    match r & 0xffff {
                        33 => ExitClass::InvalidGuestState,
                        34 => ExitClass::MsrLoading,
                        41 => ExitClass::MachineCheck,
                        _ => ExitClass::OtherEntryFailure,
                    }
                } else if r <= 0xff {
                    ExitClass::VmInstructionError(r as u32)
                } else {
                    ExitClass::NotAFailure
                }
            }
            Exit::VmxExitReason { reason } => {
                let basic = reason & 0xffff;
                match basic {
                    33 => ExitClass::InvalidGuestState,
                    34 => ExitClass::MsrLoading,
                    41 => ExitClass::MachineCheck,
                    _ if reason & (1 << 31) != 0 => ExitClass::OtherEntryFailure,
                    _ => ExitClass::NotAFailure,
                }
            }
            Exit::XenDomainCrash { entry: true, .. } => ExitClass::EntryFailedNoReason,
            Exit::XenDomainCrash { .. } => ExitClass::XenDomainCrash,
            Exit::TripleFault { vector } => ExitClass::TripleFault(*vector),
            Exit::Whp { reason: 4 } => ExitClass::WhpUnrecoverableException,
            Exit::Whp { reason: 5 } => ExitClass::WhpInvalidRegisterValue,
            Exit::Whp { reason: 6 } => ExitClass::WhpUnsupportedFeature,
            Exit::Whp { .. } => ExitClass::NotAFailure,
            Exit::Internal { suberror, .. } => ExitClass::Internal(*suberror),
            Exit::SetRegistersRefused => ExitClass::SetRegistersRefused,
            Exit::RunInvalid => ExitClass::RunInvalid,
            Exit::FailEntryNoReason => ExitClass::EntryFailedNoReason,
        }
    }

    /// True when `other` reports the same failure: equal, or the same
    /// `hardware_entry_failure_reason` printed by two lines of which one also names the
    /// vendor (a dump_vmcs's `reason=80000021` and QEMU's `hardware error 0x80000021`).
    #[must_use]
    pub fn same_failure(&self, other: &Exit) -> bool {
        match (self, other) {
            (Exit::FailEntry { reason: a, .. }, Exit::FailEntry { reason: b, .. }) => a == b,
            (Exit::VmxExitReason { reason: a }, Exit::FailEntry { reason: b, .. })
            | (Exit::FailEntry { reason: b, .. }, Exit::VmxExitReason { reason: a }) => {
                u64::from(*a) == *b
            }
            _ => self == other,
        }
    }

    /// Why this exit implies its [`Exit::vendor`], in words for a report.
    #[must_use]
    pub fn vendor_evidence(&self) -> &'static str {
        match (self, self.vendor()) {
            (Exit::XenDomainCrash { .. }, Some(Vendor::Amd)) => {
                "AMD's (Xen's SVM code crashed the domain)"
            }
            (Exit::XenDomainCrash { .. }, _) => "Intel's (Xen's VMX code crashed the domain)",
            (_, Some(Vendor::Amd)) => "AMD's (VMEXIT_INVALID)",
            _ => "Intel's (a VMX exit reason or VM-instruction error)",
        }
    }

    /// The vendor this exit implies, if any: a VMX exit reason or VM-instruction error
    /// is Intel, VMEXIT_INVALID is AMD.
    #[must_use]
    pub fn vendor(&self) -> Option<Vendor> {
        match self {
            Exit::FailEntry {
                vendor: Some(v), ..
            } => return Some(*v),
            Exit::VmxExitReason { .. } => return Some(Vendor::Intel),
            Exit::XenDomainCrash { vendor, .. } => return *vendor,
            _ => {}
        }
        match self.class() {
            ExitClass::InvalidGuestState
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
    /// VMCS-pointer and MSR-load failures, whose register dump is not what failed.
    #[must_use]
    pub fn blames_guest_state(self) -> bool {
        matches!(
            self,
            ExitClass::InvalidGuestState
                | ExitClass::SvmInvalid
                | ExitClass::SetRegistersRefused
                | ExitClass::WhpInvalidRegisterValue
                | ExitClass::OtherEntryFailure
                | ExitClass::EntryFailedNoReason
        )
    }

    /// In words: what failed and which class of check applies.
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            ExitClass::InvalidGuestState => String::from(
                "VM entry failed the guest-state checks (exit reason 33, SDM Vol. 3C §27.3.1)",
            ),
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
                "the VMX instruction itself failed without an error number (VMfailInvalid: \
                 no valid current VMCS, SDM Vol. 3C §31.2): the register dump is not what was \
                 entered; the guest state is not to blame",
            ),
            ExitClass::VmInstructionError(n) => {
                let what = VM_INSTRUCTION_ERRORS
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
            ExitClass::Internal(1) => String::from(
                "KVM internal error 1: KVM could not emulate an instruction (not a VM entry failure)",
            ),
            ExitClass::Internal(2) => String::from(
                "KVM internal error 2: an exception while delivering another (not a VM entry failure)",
            ),
            ExitClass::Internal(3) => String::from(
                "KVM internal error 3: event delivery caused an exit KVM cannot handle (not a VM entry failure)",
            ),
            ExitClass::Internal(4) => String::from(
                "KVM internal error 4: an exit reason KVM does not handle (not a VM entry failure)",
            ),
            ExitClass::Internal(n) => format!("KVM internal error {n}"),
            ExitClass::SetRegistersRefused => String::from(
                "KVM_SET_SREGS (QEMU: \"Failed to put registers\") refused the state with EINVAL",
            ),
            ExitClass::RunInvalid => String::from(
                "KVM_RUN returned EINVAL (state KVM refuses to run, or a VM setup problem)",
            ),
            ExitClass::EntryFailedNoReason => String::from(
                "KVM_EXIT_FAIL_ENTRY: VM entry (or VMRUN) failed; the log does not show its \
                 hardware_entry_failure_reason, so which class of check failed is not known",
            ),
            ExitClass::NotAFailure => String::from("an exit reason that is not a failure"),
            ExitClass::TripleFault(v) => format!(
                "a triple fault: the emulated CPU met exception {v} while delivering a double \
                 fault, and shut down (Bochs cpu/exception.cc); the guest ran into it, not a \
                 VM entry failure: the state is the one that faulted"
            ),
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
            ExitClass::XenDomainCrash => String::from(
                "Xen crashed the domain (domain_crash, called from the place the line names): \
                 Xen's answer to something it could not handle, a failed VM entry when the \
                 log shows one before it; on its own it names no guest-state check",
            ),
        }
    }
}

/// Reads the exit a normalised line reports, if it reports one.
#[must_use]
pub fn parse_line(line: &str) -> Option<Exit> {
    let after = |key: &str| line.find(key).map(|i| line[i + key.len()..].trim_start());
    // The number right after a key: its first word, read whole. Hex digits are not
    // picked out of a word ("reason" holds `ea`: Dune's line once read as error 234),
    // and a short word of hex letters alone is a word (`bad`), not a number; printed
    // at full width (`ffffffff`) or after `0x` it is one.
    let first_hex = |s: &str| {
        let word = s
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| !w.is_empty())?;
        let numeric = word.starts_with("0x")
            || word.starts_with("0X")
            || word.len() >= 8
            || word.bytes().any(|b| b.is_ascii_digit());
        numeric.then(|| hex(word)).flatten()
    };
    let fail = |reason: u64, vendor| Some(Exit::FailEntry { reason, vendor });
    if let Some(rest) = after("hardware error") {
        return fail(first_hex(rest)?, None);
    }
    if let Some(rest) = after("hardware_entry_failure_reason") {
        return fail(reason_number(rest)?, None);
    }
    if let Some(rest) = after("FailEntry(") {
        return fail(reason_number(rest)?, None);
    }
    if let Some(rest) = after("KVM_EXIT_FAIL_ENTRY") {
        return Some(fail_entry_words(rest));
    }
    for key in ["vcpu hw run failure:", "KVM: fail entry"] {
        if let Some(rest) = after(key) {
            return fail(reason_number(rest)?, None);
        }
    }
    if let Some(rest) = after("unhandled exit") {
        let rest = rest.trim_start_matches([':', ' ', '\t']);
        if let Some(reason) = rest.strip_prefix("reason") {
            // Dune's `vmx.c`: "unhandled exit: reason %d, exit qualification %x".
            return Some(Exit::VmxExitReason {
                reason: signed_reason(reason)?,
            });
        }
        // KVM's and qemu-kvm's `unhandled exit %x`: the hardware's reason, in hex.
        return fail(first_hex(rest)?, None);
    }
    if let Some(rest) = after("domain_crash called from") {
        let place = rest.split_whitespace().next().unwrap_or("");
        let vendor = if place.contains("vmx") {
            Some(Vendor::Intel)
        } else if place.contains("svm") {
            Some(Vendor::Amd)
        } else {
            None
        };
        return Some(Exit::XenDomainCrash {
            vendor,
            entry: place.contains("failed_vmentry"),
        });
    }
    if let Some(reason) = super::whp::parse(line) {
        return Some(Exit::Whp { reason });
    }
    if let Some(rest) = after("Unexpected vmexit: reason") {
        // Xen's `vmx_vmexit_handler`: "Unexpected vmexit: reason %lu", the basic reason.
        return Some(Exit::VmxExitReason {
            reason: signed_reason(rest)?,
        });
    }
    if let Some(rest) = line.strip_prefix("exit_reason") {
        // bhyve's and xhyve's `vmexit_vmx` report, `\texit_reason\t%u (%s)`. ~0 is its
        // mark of a failed VMLAUNCH/VMRESUME, whose number is on the `inst_error` line.
        let reason = signed_reason(rest)?;
        return (reason != u32::MAX).then_some(Exit::VmxExitReason { reason });
    }
    if let Some(rest) = line.strip_prefix("inst_error") {
        // The same report's VM-instruction error: 0 unless the VMX instruction failed.
        let error = signed_reason(rest)?;
        return (error != 0).then_some(Exit::FailEntry {
            reason: u64::from(error),
            vendor: Some(Vendor::Intel),
        });
    }
    if let Some(rest) = after("vmentry failure (reason") {
        return fail(first_hex(rest)?, Some(Vendor::Intel));
    }
    if let Some(rest) = after("VM-entry failure exit reason:") {
        // macOS Hypervisor.framework prints a 64-bit value; the VMX reason is its
        // low 16 bits and the line itself says it is an entry failure.
        let r = first_hex(rest)?;
        return fail((1 << 31) | (r & 0xffff), Some(Vendor::Intel));
    }
    if line.contains("exit_invalid_guest_state") {
        // HAXM's handler for exit reason 33.
        return fail((1 << 31) | 33, Some(Vendor::Intel));
    }
    if let Some(rest) = after("VM_EXIT_INFO_REASON:").or_else(|| line.strip_prefix("reason=")) {
        return Some(Exit::VmxExitReason {
            reason: u32::try_from(first_hex(rest)?).ok()?,
        });
    }
    if let Some(rest) = after("exit_code:") {
        return fail(first_hex(rest)?, Some(Vendor::Amd));
    }
    if let Some(rest) = line.strip_prefix("exitcode =") {
        return fail(first_hex(rest)?, Some(Vendor::Amd));
    }
    if let Some(rest) = after("exception(): 3rd (") {
        let (n, tail) = rest.split_once(')')?;
        if tail
            .trim_start()
            .starts_with("exception with no resolution")
        {
            return Some(Exit::TripleFault {
                vector: n.parse().ok()?,
            });
        }
        return None;
    }
    if let Some(rest) = after("Suberror:") {
        let n = rest.split_whitespace().next()?.parse().ok()?;
        return Some(Exit::Internal {
            suberror: n,
            extra: vec![],
        });
    }
    if line.contains("Failed to put registers") || line.contains("KVM_SET_SREGS") {
        return Some(Exit::SetRegistersRefused);
    }
    if line.contains("kvm run failed") {
        return Some(Exit::RunInvalid);
    }
    None
}

/// The reason a VMM prints after a `hardware_entry_failure_reason` key or in a Rust
/// `Debug` of kvm-ioctls' `VcpuExit::FailEntry(reason, cpu)`: `0x…` is hex (C's
/// `%llx` with `0x`, Rust's `{:#x}`), bare digits are decimal (Rust's `{}` and `{:?}`
/// of a `u64`), bare digits with hex letters are hex.
pub(crate) fn reason_number(s: &str) -> Option<u64> {
    let word = s
        .trim_start_matches(['=', ':', ' ', '\t'])
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()?;
    if let Some(h) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if word.bytes().all(|b| b.is_ascii_digit()) {
        word.parse().ok()
    } else {
        u64::from_str_radix(word, 16).ok()
    }
}

/// A 32-bit exit reason printed in decimal, signed (`%d`: bit 31 set reads negative) or
/// not, or in hex after `0x`: the first word of `s`.
fn signed_reason(s: &str) -> Option<u32> {
    let word = s
        .trim_start_matches(['=', ':', ' ', '\t'])
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .next()?;
    if let Some(h) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).ok();
    }
    let n: i64 = word.parse().ok()?;
    if let Ok(r) = u32::try_from(n) {
        Some(r)
    } else {
        // As `%d` printed it: the two's complement of a reason with bit 31 set.
        i32::try_from(n).ok().map(|r| r as u32)
    }
}

/// What follows the name `KVM_EXIT_FAIL_ENTRY` when no `hardware_entry_failure_reason`
/// key does: Firecracker's `signal: N on cpu C` (decimal), a `Hardware Failure
/// Reason: 0x…` or `reason=0x…`, or nothing that is a reason (kontain km appends the
/// vCPU, RIP, RSP and CR2, none of them the reason).
fn fail_entry_words(rest: &str) -> Exit {
    let lower = rest.to_ascii_lowercase();
    let value = ["signal:", "reason:", "reason=", "reason "]
        .iter()
        .find_map(|k| lower.find(k).map(|i| &rest[i + k.len()..]))
        .and_then(reason_number);
    match value {
        Some(reason) => Exit::FailEntry {
            reason,
            vendor: None,
        },
        None => Exit::FailEntryNoReason,
    }
}

/// The value of an `extra data[i]: 0x…` line.
#[must_use]
pub fn extra_data(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("extra data[")?;
    let (_, value) = rest.split_once(':')?;
    hex(value.trim())
}

#[cfg(test)]
mod tests {
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
            Some(ExitClass::NotAFailure)
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
        assert_eq!(class("exit_reason 33"), Some(ExitClass::InvalidGuestState));
        assert_eq!(
            class("exit_reason 33 (INVALID_GUEST_STATE)"),
            Some(ExitClass::InvalidGuestState)
        );
        assert_eq!(class("exit_reason 41"), Some(ExitClass::MachineCheck));
        assert_eq!(
            class("exit_reason 48 (EPT_VIOLATION)"),
            Some(ExitClass::NotAFailure)
        );
        assert_eq!(class("exit_reason 4294967295 (Unknown)"), None);
        // A VMCS dump's exit-reason field: a dump of a running vCPU shows an ordinary
        // exit there (Xen's `v` key: a HLT), not a VM-instruction error.
        assert_eq!(
            class("reason=0000000c qualification=0000000000000000"),
            Some(ExitClass::NotAFailure)
        );
        assert_eq!(
            class("reason=80000021 qualification=0000000000000000"),
            Some(ExitClass::InvalidGuestState)
        );
        assert_eq!(
            class("4402 VM_EXIT_INFO_REASON: 1e"),
            Some(ExitClass::NotAFailure)
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
            Some(ExitClass::NotAFailure)
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

    /// Bochs's triple fault, with and without reset; its other error lines are no exit.
    #[test]
    fn a_bochs_triple_fault_is_an_exit_of_no_vendor() {
        for line in [
            "00000693930e[CPU0  ] exception(): 3rd (13) exception with no resolution, shutdown \
             status is 00h, resetting",
            "exception(): 3rd (13) exception with no resolution",
        ] {
            let e = parse_line(line);
            assert_eq!(e, Some(Exit::TripleFault { vector: 13 }), "{line}");
            assert_eq!(e.and_then(|e| e.vendor()), None);
        }
        assert!(
            ExitClass::TripleFault(14)
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
        assert!(!ExitClass::TripleFault(13).blames_guest_state());
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
}
