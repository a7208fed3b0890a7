//! The exits of the Windows Hypervisor Platform (WHP) as logs print them: which
//! `WHV_RUN_VP_EXIT_REASON` a line names, by number or by name.
//!
//! - QEMU's WHPX accelerator (`target/i386/whpx/whpx-all.c`, `whpx_vcpu_run`) prints
//!   `WHPX: Unexpected VP exit code %d` for the reasons it does not handle (None,
//!   UnrecoverableException, InvalidVpRegisterValue, UnsupportedFeature and any other),
//!   `0x%08x` in later releases, then stops the guest as panicked; it prints no
//!   registers.
//! - Other VMMs on WHP (wtf's `whv` backend, …) name the reason:
//!   `WHvRunVirtualProcessor exited with WHvRunVpExitReasonInvalidVpRegisterValue`.
//! - hyperlight prints the `windows` crate's `Debug` of the reason, the number in
//!   decimal inside the type's name: `Did not receive a halt from Hypervisor as
//!   expected - Received WHV_RUN_VP_EXIT_REASON(8193)!`, then its register listing
//!   (`whp_registers`).
//! - microsandbox's WHP backend (`Error::UnhandledExit` in its Windows `vstate.rs`)
//!   prints the reason's number in decimal: `WHP vCPU 0 exited with unhandled reason 4`.
//!
//! The numbers are those of `WHV_RUN_VP_EXIT_REASON` in the Windows SDK's
//! `WinHvPlatformDefs.h`: 0 to 8, 0x1000 to 0x1002 and 0x2001 since its first release
//! (10.0.17134); 9, 10 and 0x1003 to 0x1007 added since, as Microsoft's Win32 metadata
//! (the `windows-sys` crate's `Win32::System::Hypervisor`) has them.

/// `WHV_RUN_VP_EXIT_REASON`: each name after its `WHvRunVpExitReason` prefix, and its
/// value.
pub const EXIT_REASONS: [(&str, u32); 19] = [
    ("None", 0),
    ("MemoryAccess", 1),
    ("X64IoPortAccess", 2),
    ("UnrecoverableException", 4),
    ("InvalidVpRegisterValue", 5),
    ("UnsupportedFeature", 6),
    ("X64InterruptWindow", 7),
    ("X64Halt", 8),
    ("X64ApicEoi", 9),
    ("SynicSintDeliverable", 10),
    ("X64MsrAccess", 0x1000),
    ("X64Cpuid", 0x1001),
    ("Exception", 0x1002),
    ("X64Rdtsc", 0x1003),
    ("X64ApicSmiTrap", 0x1004),
    ("Hypercall", 0x1005),
    ("X64ApicInitSipiTrap", 0x1006),
    ("X64ApicWriteTrap", 0x1007),
    ("Canceled", 0x2001),
];

/// The prefix of every reason's name.
const PREFIX: &str = "WHvRunVpExitReason";
/// QEMU's WHPX line, before the number.
const QEMU_WHPX: &str = "Unexpected VP exit code";
/// The `windows` crate's `Debug` of the reason (hyperlight's line), before the number.
const DEBUG_NEWTYPE: &str = "WHV_RUN_VP_EXIT_REASON(";
/// microsandbox's line, around the vCPU's number, before the reason's.
const MICROSANDBOX: (&str, &str) = ("WHP vCPU ", " exited with unhandled reason ");

/// The exit reason a normalised line reports: QEMU's `Unexpected VP exit code N`
/// (decimal, or hex after `0x`), `WHV_RUN_VP_EXIT_REASON(N)` (decimal), or a reason
/// named whole (`WHvRunVpExitReason…`, a name of [`EXIT_REASONS`]; a name it does not
/// hold is no exit).
#[must_use]
pub fn parse(line: &str) -> Option<u32> {
    if let Some(at) = line.find(MICROSANDBOX.0) {
        let (vcpu, reason) = line[at + MICROSANDBOX.0.len()..].split_once(MICROSANDBOX.1)?;
        if vcpu.is_empty() || !vcpu.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let reason = reason.split_whitespace().next()?;
        return reason.parse().ok();
    }
    if let Some(at) = line.find(DEBUG_NEWTYPE) {
        let (number, _) = line[at + DEBUG_NEWTYPE.len()..].split_once(')')?;
        let number = number.trim();
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return number.parse().ok();
    }
    if let Some(at) = line.find(QEMU_WHPX) {
        let number = super::exit::reason_number(&line[at + QEMU_WHPX.len()..])?;
        return u32::try_from(number).ok();
    }
    let at = line.find(PREFIX)?;
    let name = line[at + PREFIX.len()..]
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()?;
    EXIT_REASONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn qemu_s_line_reads_in_either_print() {
        for (line, reason) in [
            ("qemu-system-x86_64.exe: WHPX: Unexpected VP exit code 4", 4),
            ("WHPX: Unexpected VP exit code 0x00000005", 5),
            ("WHPX: Unexpected VP exit code 6", 6),
            ("WHPX: Unexpected VP exit code 0x00002001", 0x2001),
        ] {
            assert_eq!(parse(line), Some(reason), "{line}");
        }
        assert_eq!(parse("WHPX: Unexpected VP exit code"), None);
        assert_eq!(parse("WHPX: Unexpected VP exit code x"), None);
    }

    /// hyperlight's line (hyperlight#168): the `windows` crate's `Debug` of the reason.
    #[test]
    fn hyperlight_s_debug_of_the_reason_reads() {
        let line = "Error: Did not receive a halt from Hypervisor as expected - Received \
                    WHV_RUN_VP_EXIT_REASON(8193)!";
        assert_eq!(parse(line), Some(0x2001));
        assert_eq!(parse("Received WHV_RUN_VP_EXIT_REASON(4)!"), Some(4));
        assert_eq!(parse("WHV_RUN_VP_EXIT_REASON()"), None);
        assert_eq!(parse("WHV_RUN_VP_EXIT_REASON(-1)"), None);
        assert_eq!(parse("WHV_RUN_VP_EXIT_REASON(81"), None);
    }

    /// microsandbox's line (microsandbox#1095): the reason in decimal.
    #[test]
    fn microsandbox_s_unhandled_exit_reads() {
        assert_eq!(parse("WHP vCPU 0 exited with unhandled reason 4"), Some(4));
        assert_eq!(
            parse("WHP vCPU 12 exited with unhandled reason 8193"),
            Some(0x2001)
        );
        assert_eq!(parse("WHP vCPU x exited with unhandled reason 4"), None);
        assert_eq!(parse("WHP vCPU 0 exited with unhandled reason"), None);
        assert_eq!(parse("WHP vCPU 0 exited with unhandled reason -1"), None);
    }

    /// Every name reads to its value; a name is read whole, so
    /// `Exception` is not `UnrecoverableException`'s tail, and an unknown name is none.
    #[test]
    fn each_name_reads_to_its_value() {
        for (n, v) in EXIT_REASONS {
            let line = format!("WHvRunVirtualProcessor exited with {PREFIX}{n}");
            assert_eq!(parse(&line), Some(v), "{n}");
        }
        assert_eq!(parse("exit: WHvRunVpExitReasonException."), Some(0x1002));
        assert_eq!(parse("WHvRunVpExitReasonUnrecoverableException"), Some(4));
        assert_eq!(parse("WHvRunVpExitReasonSomethingNew"), None);
        assert_eq!(parse("WHvRunVpExitReason"), None);
    }
}
