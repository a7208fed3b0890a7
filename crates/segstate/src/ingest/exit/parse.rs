//! Reading exit lines: which [`Exit`] one line of a log reports.

use alloc::vec;

use super::names;
use super::{Exit, TripleFaultReport};
use crate::arch::Vendor;
use crate::ingest::text::hex;

/// Reads the exit a normalised line reports, if it reports one.
#[must_use]
pub fn parse_line(line: &str) -> Option<Exit> {
    parse_line_in(line, line)
}

/// Reads the exit `line` reports; `raw` is the line as the log has it, before its
/// prefix was stripped (a `run->` or `kvm_run` there says whose `exit_reason` it is).
#[must_use]
pub(crate) fn parse_line_in(line: &str, raw: &str) -> Option<Exit> {
    if let Some(e) = traced(line).or_else(|| shutdown(line)) {
        return Some(e);
    }
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
    let fail = |reason: u64, vendor| {
        Some(Exit::FailEntry {
            reason,
            vendor,
            qualification: None,
        })
    };
    if let Some(e) = kvm_exception(line) {
        return Some(e);
    }
    if let Some(code) = super::vbox_hm::parse(line) {
        return Some(Exit::VboxHmError { code });
    }
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
                qualification: None,
            });
        }
        // KVM's and qemu-kvm's `unhandled exit %x`: the hardware's reason, in hex.
        return fail(first_hex(rest)?, None);
    }
    // `domain_crash()`, and `domain_crash_synchronous()` (`domain_crash_sync called
    // from FILE:LINE`; from assembly, `asm_domain_crash_synchronous`'s `… from entry.S:
    // fault at ADDR SYMBOL`): xen/include/xen/sched.h, xen/common/domain.c.
    if let Some(rest) =
        after("domain_crash called from").or_else(|| after("domain_crash_sync called from"))
    {
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
    if let Some(e) = super::xen_emulation::parse(line) {
        return Some(Exit::XenEmulationFailed(e));
    }
    if let Some(reason) = crate::ingest::whp::parse(line) {
        return Some(Exit::Whp { reason });
    }
    if let Some(rest) = after("Unexpected vmexit: reason") {
        // Xen's `vmx_vmexit_handler`: "Unexpected vmexit: reason %lu", the basic reason.
        return Some(Exit::VmxExitReason {
            reason: signed_reason(rest)?,
            qualification: None,
        });
    }
    if let Some(rest) = after("exit_reason.raw") {
        // HAXM's debug trace (`haxm_debug:....exit_reason.raw 80000021, cpu 0 0`,
        // core/vcpu.c): the 32-bit exit reason, in hex.
        return Some(Exit::VmxExitReason {
            reason: u32::try_from(first_hex(rest)?).ok()?,
            qualification: None,
        });
    }
    if let Some(rest) = line.strip_prefix("exit_reason\t") {
        // bhyve's and xhyve's `vmexit_vmx` report, `\texit_reason\t%u (%s)`
        // (usr.sbin/bhyve/bhyverun.c; hyperkit's xhyve.c): tab-separated, the only
        // shape taken for a VMX reason. ~0 is its mark of a failed VMLAUNCH/VMRESUME,
        // whose number is on the `inst_error` line.
        if let Some(code) = kvm_exit_name(line) {
            return Some(Exit::KvmRun { code });
        }
        let reason = signed_reason(rest)?;
        return (reason != u32::MAX).then_some(Exit::VmxExitReason {
            reason,
            qualification: None,
        });
    }
    if let Some(at) = raw.find("exit_reason") {
        // A VMM's `struct kvm_run` (`run->exit_reason = 2`, `kvm_run.exit_reason`, a
        // `KVM_EXIT_…` name): a KVM_EXIT_* code, never a VMX reason. Any other
        // `exit_reason N` is nobody's in particular, and no exit.
        let rest = &raw[at + "exit_reason".len()..];
        if let Some(code) = kvm_exit_name(raw) {
            return Some(Exit::KvmRun { code });
        }
        let before = &raw[..at];
        let kvm_run =
            before.ends_with("run->") || before.ends_with("run.") || raw.contains("kvm_run");
        if kvm_run {
            return Some(Exit::KvmRun {
                code: signed_reason(rest)?,
            });
        }
        return None;
    }
    if let Some(rest) = line.strip_prefix("inst_error") {
        // The same report's VM-instruction error: 0 unless the VMX instruction failed.
        let error = signed_reason(rest)?;
        return (error != 0).then_some(Exit::FailEntry {
            reason: u64::from(error),
            vendor: Some(Vendor::Intel),
            qualification: None,
        });
    }
    if let Some(error) = xen_vm_instruction_error(line)
        .or_else(|| noirvisor_error(raw))
        .or_else(|| vmlaunch_error(line))
    {
        return Some(Exit::FailEntry {
            reason: error,
            vendor: Some(Vendor::Intel),
            qualification: None,
        });
    }
    if let Some(rest) = after("vmentry failure (reason") {
        // Xen's `vmx_failed_vmentry`: `vmentry failure (reason %#lx): Invalid guest
        // state (%lu)`, the exit qualification in the parentheses.
        return Some(Exit::FailEntry {
            reason: first_hex(rest)?,
            vendor: Some(Vendor::Intel),
            qualification: after("Invalid guest state (")
                .and_then(|q| q.split(')').next())
                .and_then(|q| q.trim().parse().ok()),
        });
    }
    if let Some(e) = start_failed(line) {
        return Some(e);
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
        // dump_vmcs (Linux and Xen) prints `reason=%08x qualification=%016lx`.
        return Some(Exit::VmxExitReason {
            reason: u32::try_from(first_hex(rest)?).ok()?,
            qualification: after("qualification=").and_then(hex),
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
                vector: Some(n.parse().ok()?),
                by: TripleFaultReport::Bochs,
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
    for key in ["kvm run failed", "kvm_run:", "KVM_RUN failed"] {
        if let Some(rest) = after(key) {
            return Some(Exit::RunFailed {
                errno: run_errno(rest),
            });
        }
    }
    None
}

/// The VM-instruction error of a VMLAUNCH or VMRESUME that Xen's `vmx_vmentry_failure`
/// (`xen/arch/x86/hvm/vmx/vmcs.c`) reports: `VMLAUNCH error: 0x7` (`"VM%s error:
/// %#lx"`, Xen 4.2 to 4.20), `Instruction Error 7, Invalid control state` (the line
/// after `VMLAUNCH Failure, VMCS valid` since 2025), and before them `<vm_launch_fail>
/// error code 7` / `<vm_resume_fail> …` (`%lx`, Xen 3 and 4.0-4.1).
fn xen_vm_instruction_error(line: &str) -> Option<u64> {
    let after = |key: &str| line.find(key).map(|i| line[i + key.len()..].trim_start());
    fn word(rest: &str) -> &str {
        rest.split([' ', ',']).next().unwrap_or("")
    }
    for key in ["VMLAUNCH error:", "VMRESUME error:"] {
        if let Some(rest) = after(key) {
            let w = word(rest);
            return w.strip_prefix("0x").map_or_else(|| w.parse().ok(), hex);
        }
    }
    for key in ["<vm_launch_fail> error code", "<vm_resume_fail> error code"] {
        if let Some(rest) = after(key) {
            return hex(word(rest));
        }
    }
    // The number and a comma before its name: the words alone are anyone's.
    let rest = after("Instruction Error")?;
    let w = word(rest);
    rest[w.len()..]
        .starts_with(',')
        .then(|| w.parse().ok())
        .flatten()
}

/// The VM-instruction error NoirVisor's `nvc_vt_subvert_processor_i`
/// (`src/vt_core/vt_main.c`, Zero-Tang/NoirVisor @08dd5ec6096e) prints after a
/// VMLAUNCH that failed valid: `Failed at VM-Entry, Code=%d\t Reason: %s`, or `VM-Entry
/// failed with invalid code %d!` for a number past its message table. Read from the
/// raw line: `Code=` is an anchor of QEMU's dump, where the prefix stripper cuts.
fn noirvisor_error(line: &str) -> Option<u64> {
    let (_, rest) = line
        .split_once("Failed at VM-Entry, Code=")
        .or_else(|| line.split_once("VM-Entry failed with invalid code "))?;
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// The VM-instruction error of a VMLAUNCH or VMRESUME that failed valid, as the
/// hypervisors people write print it: the number after the instruction's name and the
/// word `error` with `=` or `:` (jonomango/hv's `[hv] VMLAUNCH failed. Instruction
/// error = %lli.`; `0x…` is hex, bare digits decimal), or the name of VM-instruction
/// error 7 or 8 in the SDM's words (Bareflank prints `- vm_instruction_error: ` and the
/// name): Table 31-1 (Vol. 3C §31.4) says 7 `VM entry with invalid control field(s)`
/// and 8 `VM entry with invalid host-state field(s)`, and VMLAUNCH/VMRESUME's
/// pseudocode (`VMfailValid(VM entry with invalid VMX-control field(s))`) names 7 so
/// too. The names are the SDM's whole phrases, which no other line says; a number
/// needs the instruction's name before it.
fn vmlaunch_error(line: &str) -> Option<u64> {
    const PSEUDOCODE_7: &str = "VM entry with invalid VMX-control field(s)";
    if line.contains(PSEUDOCODE_7) {
        return Some(7);
    }
    if let Some((n, _)) = names::VM_INSTRUCTION_ERRORS
        .iter()
        .filter(|(n, _)| matches!(n, 7 | 8))
        .find(|(_, name)| line.contains(name))
    {
        return Some(u64::from(*n));
    }
    let at = line.find("VMLAUNCH").or_else(|| line.find("VMRESUME"))?;
    let rest = &line[at..];
    // ASCII lowercasing keeps every byte where it was.
    let e = rest.to_ascii_lowercase().find("error")?;
    let value = rest[e + "error".len()..]
        .trim_start()
        .strip_prefix(['=', ':'])?
        .trim_start();
    let word = value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    word.strip_prefix("0x")
        .map_or_else(|| word.parse().ok(), hex)
}

/// HyperBone's report of a VM entry that failed (`VmExitStartFailed` in
/// `src/Arch/Intel/VmxExitHandlers.c`, DarthTon/HyperBone; its fork HyperHook prints
/// the same words): `HyperBone: CPU %d: %s: Failed to enter VM, reason %d, code %d`,
/// the basic exit reason (`VM_EXIT_REASON & 0xFFFF`, bit 31 cut off) and the exit
/// qualification, both decimal. Its exit table sends reasons 33 (invalid guest state),
/// 34 (MSR loading) and 41 (machine check) there; 33 and 34 are VM-entry failures only
/// (SDM Vol. 3C §27.8), so bit 31 is put back. 41 is also an ordinary exit (a machine
/// check while the guest ran), which the line does not tell from a failed entry: it is
/// read as exit reason 41 without bit 31, a machine check either way.
fn start_failed(line: &str) -> Option<Exit> {
    let (_, rest) = line.split_once("Failed to enter VM, reason ")?;
    let (reason, rest) = rest.split_once(", code ")?;
    let code = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    let qualification = code.parse().ok();
    match reason.trim().parse::<u32>().ok()? {
        r @ (33 | 34) => Some(Exit::FailEntry {
            reason: (1 << 31) | u64::from(r),
            vendor: Some(Vendor::Intel),
            qualification,
        }),
        41 => Some(Exit::VmxExitReason {
            reason: 41,
            qualification,
        }),
        _ => None,
    }
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
            qualification: None,
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

/// The errno after `kvm run failed`: glibc's `strerror` text (`Bad address`), the name
/// (`EFAULT`) or the number, negative or not (`-14`).
fn run_errno(rest: &str) -> Option<u16> {
    let rest = rest.trim_start_matches([':', ' ', '\t']);
    if let Some((n, _, _)) = names::ERRNOS
        .iter()
        .find(|(_, name, text)| rest.starts_with(text) || word_is(rest, name))
    {
        return Some(*n);
    }
    let word = rest
        .trim_start_matches('-')
        .split(|c: char| !c.is_ascii_digit())
        .next()?;
    let n: u16 = word.parse().ok()?;
    names::errno(n).map(|_| n)
}

/// True when `s` starts with the word `w`.
fn word_is(s: &str, w: &str) -> bool {
    s.strip_prefix(w)
        .is_some_and(|t| !t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

/// The `KVM_EXIT_*` code a line names (`KVM_EXIT_SHUTDOWN`), if it names one.
fn kvm_exit_name(line: &str) -> Option<u32> {
    const PREFIX: &str = "KVM_EXIT_";
    let at = line.find(PREFIX)?;
    let name = line[at + PREFIX.len()..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()?;
    names::kvm_exit_named(name)
}

/// QEMU's report of `KVM_EXIT_EXCEPTION` (accel/kvm, target/i386/kvm): `KVM: exception
/// %d exit (error code 0x%x)`, and since QEMU 5.2 for vector 17 `Guest encounters an
/// #AC due to split lock. …`.
fn kvm_exception(line: &str) -> Option<Exit> {
    if line.contains("Guest encounters an #AC due to split lock") {
        return Some(Exit::KvmException {
            vector: 17,
            error_code: None,
        });
    }
    let at = line.find("KVM: exception ")?;
    let rest = &line[at + "KVM: exception ".len()..];
    let (vector, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("exit")?;
    let vector: u32 = vector.parse().ok()?;
    let error_code = rest
        .split_once("error code")
        .and_then(|(_, c)| {
            let word = c
                .trim_start()
                .split(|ch: char| !ch.is_ascii_alphanumeric())
                .next()?;
            hex(word)
        })
        .and_then(|c| u32::try_from(c).ok());
    Some(Exit::KvmException { vector, error_code })
}

/// A tracing line's exit: KVM's `kvm_exit` tracepoint (trace-cmd, perf, ftrace:
/// `kvm_exit: reason TRIPLE_FAULT rip 0x… info 0 0`, `kvm:kvm_exit: vcpu 0 reason
/// EXTERNAL_INTERRUPT rip …`; Linux arch/x86/kvm/trace.h), whose reason is a name of
/// Linux's `VMX_EXIT_REASONS` (upper case) or `SVM_EXIT_REASONS` (lower case), and
/// QEMU's `kvm_run_exit` trace event (`kvm_run_exit cpu_index 0, reason 8`,
/// accel/kvm/trace-events), a `KVM_EXIT_*` number; and a KVM selftest's failed
/// exit-reason assertion, whose `got:` is one too.
fn traced(line: &str) -> Option<Exit> {
    if let Some(at) = line.find("Wanted KVM exit reason:") {
        // KVM's selftests (`TEST_ASSERT_KVM_EXIT_REASON`, tools/testing/selftests/kvm):
        // "Wanted KVM exit reason: %u (%s), got: %u (%s)", the second a KVM_EXIT_* code.
        let (_, got) = line[at..].split_once("got:")?;
        return Some(Exit::KvmRun {
            code: signed_reason(got)?,
        });
    }
    if let Some(at) = line.find("kvm_run_exit ") {
        let rest = &line[at..];
        let (_, reason) = rest.split_once("reason ")?;
        return Some(Exit::KvmRun {
            code: signed_reason(reason)?,
        });
    }
    let at = line.find("kvm_exit: ")?;
    let rest = &line[at..];
    let (_, reason) = rest.split_once("reason ")?;
    let name = reason.split_whitespace().next()?;
    if let Some(basic) = names::vmx_exit_reason_named(name) {
        return Some(Exit::VmxExitReason {
            reason: u32::from(basic),
            qualification: None,
        });
    }
    names::svm_exit_code_named(name).map(|code| Exit::SvmExit { code })
}

/// A triple fault or shutdown as an emulator or hypervisor reports it: QEMU TCG's
/// `Triple fault` line (the whole line), VirtualBox's `Guru Meditation N (NAME)`,
/// VDHH's `triple fault at …` (the start of the line), Xen's `hvm_triple_fault`
/// (`Triple fault - invoking HVM shutdown action N`, `Triple fault on VCPU0 - invoking
/// HVM …`: the words `Triple fault` and then `- invoking HVM`).
fn shutdown(line: &str) -> Option<Exit> {
    let line = line.trim();
    if line == "Triple fault" {
        return Some(Exit::TripleFault {
            vector: None,
            by: TripleFaultReport::QemuTcg,
        });
    }
    if let Some(at) = line.find("Triple fault") {
        if line[at..].contains(" - invoking HVM ") {
            return Some(Exit::TripleFault {
                vector: None,
                by: TripleFaultReport::Xen,
            });
        }
    }
    if line.starts_with("triple fault at ") {
        return Some(Exit::TripleFault {
            vector: None,
            by: TripleFaultReport::Vdhh,
        });
    }
    let at = line.find("Guru Meditation ")?;
    let mut words = line[at + "Guru Meditation ".len()..].split_whitespace();
    let status: i32 = words.next()?.parse().ok()?;
    let name = words.next().unwrap_or("");
    let name = name.trim_start_matches('(').trim_end_matches(')');
    let failed_entry = match name {
        "VERR_VMX_INVALID_GUEST_STATE" => Some(Vendor::Intel),
        "VERR_SVM_INVALID_GUEST_STATE" => Some(Vendor::Amd),
        _ => None,
    };
    Some(if status == names::VINF_EM_TRIPLE_FAULT {
        Exit::TripleFault {
            vector: None,
            by: TripleFaultReport::VirtualBox,
        }
    } else {
        Exit::VboxGuru {
            status,
            failed_entry,
        }
    })
}

/// The exit qualification a line of HAXM's dump prints (`6400
/// VM_EXIT_INFO_QUALIFICATION: 2`), for the exit reason before it.
#[must_use]
pub fn qualification(line: &str) -> Option<u64> {
    let at = line.find("VM_EXIT_INFO_QUALIFICATION:")?;
    hex(line[at + "VM_EXIT_INFO_QUALIFICATION:".len()..].trim())
}
