//! The numbers exit lines print, named: one table per numbering, each in one place.
//!
//! - [`VMX_EXIT_REASONS`]: Intel's basic exit reasons, SDM Vol. 3C Appendix C (Order
//!   No. 326019, rev. 084), with the names Linux gives them in
//!   `arch/x86/include/uapi/asm/vmx.h` `VMX_EXIT_REASONS` (what the `kvm_exit`
//!   tracepoint prints, v6.8).
//! - [`SVM_EXIT_CODES`]: AMD's #VMEXIT codes the `kvm_exit` tracepoint names on an AMD
//!   host, Linux `arch/x86/include/uapi/asm/svm.h` `SVM_EXIT_REASONS` (v6.8); APM Vol. 2
//!   Appendix C.
//! - [`KVM_EXITS`]: `kvm_run`'s `exit_reason`, `KVM_EXIT_*` of Linux
//!   `include/uapi/linux/kvm.h` (0 to 39, v6.8).
//! - [`KVM_INTERNAL_ERRORS`]: `KVM_INTERNAL_ERROR_*` suberrors, the same header.
//! - [`VM_INSTRUCTION_ERRORS`]: VM-instruction error numbers, SDM Vol. 3C §31.4.
//! - [`ERRNOS`]: the Linux errno values `KVM_RUN` returns and their glibc `strerror`
//!   texts (`asm-generic/errno-base.h`, `errno.h`).
//! - [`VBOX_STATUS_CODES`]: VirtualBox status codes a Guru Meditation names,
//!   `include/VBox/err.h` (VirtualBox 6.0).

/// One VMX basic exit reason: its number, Linux's name (empty where Linux has none),
/// the SDM's words.
pub type VmxExitReason = (u16, &'static str, &'static str);

/// Intel's basic exit reasons, SDM Vol. 3C Appendix C, Table C-1.
pub const VMX_EXIT_REASONS: &[VmxExitReason] = &[
    (0, "EXCEPTION_NMI", "exception or NMI"),
    (1, "EXTERNAL_INTERRUPT", "external interrupt"),
    (2, "TRIPLE_FAULT", "triple fault"),
    (3, "INIT_SIGNAL", "INIT signal"),
    (4, "SIPI_SIGNAL", "start-up IPI"),
    (5, "", "I/O SMI"),
    (6, "", "other SMI"),
    (7, "INTERRUPT_WINDOW", "interrupt window"),
    (8, "NMI_WINDOW", "NMI window"),
    (9, "TASK_SWITCH", "task switch"),
    (10, "CPUID", "CPUID"),
    (11, "", "GETSEC"),
    (12, "HLT", "HLT"),
    (13, "INVD", "INVD"),
    (14, "INVLPG", "INVLPG"),
    (15, "RDPMC", "RDPMC"),
    (16, "RDTSC", "RDTSC"),
    (17, "RSM", "RSM"),
    (18, "VMCALL", "VMCALL"),
    (19, "VMCLEAR", "VMCLEAR"),
    (20, "VMLAUNCH", "VMLAUNCH"),
    (21, "VMPTRLD", "VMPTRLD"),
    (22, "VMPTRST", "VMPTRST"),
    (23, "VMREAD", "VMREAD"),
    (24, "VMRESUME", "VMRESUME"),
    (25, "VMWRITE", "VMWRITE"),
    (26, "VMOFF", "VMXOFF"),
    (27, "VMON", "VMXON"),
    (28, "CR_ACCESS", "control-register access"),
    (29, "DR_ACCESS", "MOV DR"),
    (30, "IO_INSTRUCTION", "I/O instruction"),
    (31, "MSR_READ", "RDMSR"),
    (32, "MSR_WRITE", "WRMSR"),
    (
        33,
        "INVALID_STATE",
        "VM-entry failure due to invalid guest state",
    ),
    (34, "MSR_LOAD_FAIL", "VM-entry failure due to MSR loading"),
    (36, "MWAIT_INSTRUCTION", "MWAIT"),
    (37, "MONITOR_TRAP_FLAG", "monitor trap flag"),
    (39, "MONITOR_INSTRUCTION", "MONITOR"),
    (40, "PAUSE_INSTRUCTION", "PAUSE"),
    (
        41,
        "MCE_DURING_VMENTRY",
        "VM-entry failure due to machine-check event",
    ),
    (43, "TPR_BELOW_THRESHOLD", "TPR below threshold"),
    (44, "APIC_ACCESS", "APIC access"),
    (45, "EOI_INDUCED", "virtualized EOI"),
    (46, "GDTR_IDTR", "access to GDTR or IDTR"),
    (47, "LDTR_TR", "access to LDTR or TR"),
    (48, "EPT_VIOLATION", "EPT violation"),
    (49, "EPT_MISCONFIG", "EPT misconfiguration"),
    (50, "INVEPT", "INVEPT"),
    (51, "RDTSCP", "RDTSCP"),
    (52, "PREEMPTION_TIMER", "VMX-preemption timer expired"),
    (53, "INVVPID", "INVVPID"),
    (54, "WBINVD", "WBINVD or WBNOINVD"),
    (55, "XSETBV", "XSETBV"),
    (56, "APIC_WRITE", "APIC write"),
    (57, "RDRAND", "RDRAND"),
    (58, "INVPCID", "INVPCID"),
    (59, "VMFUNC", "VMFUNC"),
    (60, "ENCLS", "ENCLS"),
    (61, "RDSEED", "RDSEED"),
    (62, "PML_FULL", "page-modification log full"),
    (63, "XSAVES", "XSAVES"),
    (64, "XRSTORS", "XRSTORS"),
    (65, "", "PCONFIG"),
    (66, "", "SPP-related event"),
    (67, "UMWAIT", "UMWAIT"),
    (68, "TPAUSE", "TPAUSE"),
    (69, "", "LOADIWKEY"),
    (70, "", "ENCLV"),
    (72, "", "ENQCMD PASID translation failure"),
    (73, "", "ENQCMDS PASID translation failure"),
    (74, "BUS_LOCK", "bus lock"),
    (75, "NOTIFY", "instruction timeout"),
    (76, "", "SEAMCALL"),
    (77, "TDCALL", "TDCALL"),
];

/// The SDM's words for basic exit reason `basic`.
#[must_use]
pub fn vmx_exit_reason(basic: u16) -> Option<&'static str> {
    VMX_EXIT_REASONS
        .iter()
        .find(|(n, _, _)| *n == basic)
        .map(|(_, _, w)| *w)
}

/// The basic exit reason Linux names `name` (`TRIPLE_FAULT`).
#[must_use]
pub fn vmx_exit_reason_named(name: &str) -> Option<u16> {
    VMX_EXIT_REASONS
        .iter()
        .find(|(_, n, _)| !n.is_empty() && *n == name)
        .map(|(n, _, _)| *n)
}

/// AMD #VMEXIT codes as Linux's `SVM_EXIT_REASONS` names them: the ones a `kvm_exit`
/// line of an AMD host shows most, and the two that end a run (`shutdown`, the triple
/// fault; `invalid_guest_state`, VMEXIT_INVALID).
pub const SVM_EXIT_CODES: &[(u64, &str)] = &[
    (0x000, "read_cr0"),
    (0x003, "read_cr3"),
    (0x004, "read_cr4"),
    (0x010, "write_cr0"),
    (0x013, "write_cr3"),
    (0x014, "write_cr4"),
    (0x040, "excp_de"),
    (0x041, "excp_db"),
    (0x046, "excp_ud"),
    (0x04d, "excp_gp"),
    (0x04e, "excp_pf"),
    (0x052, "excp_mc"),
    (0x060, "interrupt"),
    (0x061, "nmi"),
    (0x062, "smi"),
    (0x063, "init"),
    (0x064, "vintr"),
    (0x065, "cr0_sel_write"),
    (0x072, "cpuid"),
    (0x076, "invd"),
    (0x077, "pause"),
    (0x078, "hlt"),
    (0x079, "invlpg"),
    (0x07a, "invlpga"),
    (0x07b, "io"),
    (0x07c, "msr"),
    (0x07d, "task_switch"),
    (0x07e, "ferr_freeze"),
    (0x07f, "shutdown"),
    (0x080, "vmrun"),
    (0x081, "hypercall"),
    (0x082, "vmload"),
    (0x083, "vmsave"),
    (0x084, "stgi"),
    (0x085, "clgi"),
    (0x086, "skinit"),
    (0x087, "rdtscp"),
    (0x088, "icebp"),
    (0x089, "wbinvd"),
    (0x08a, "monitor"),
    (0x08b, "mwait"),
    (0x08d, "xsetbv"),
    (0x08e, "rdpru"),
    (0x400, "npf"),
    (0x401, "avic_incomplete_ipi"),
    (0x402, "avic_unaccelerated_access"),
    (0x403, "vmgexit"),
    (0xffff_ffff_ffff_ffff, "invalid_guest_state"),
];

/// AMD's #VMEXIT code for a shutdown: a triple fault (APM Vol. 2 §15.10, "SHUTDOWN
/// intercept").
pub const SVM_EXIT_SHUTDOWN: u64 = 0x7f;

/// The name Linux gives #VMEXIT code `code`.
#[must_use]
pub fn svm_exit_code(code: u64) -> Option<&'static str> {
    SVM_EXIT_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

/// The #VMEXIT code Linux names `name` (`npf`).
#[must_use]
pub fn svm_exit_code_named(name: &str) -> Option<u64> {
    SVM_EXIT_CODES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(c, _)| *c)
}

/// `kvm_run.exit_reason`: each `KVM_EXIT_` name after its prefix, by number (the
/// array index).
pub const KVM_EXITS: [&str; 40] = [
    "UNKNOWN",
    "EXCEPTION",
    "IO",
    "HYPERCALL",
    "DEBUG",
    "HLT",
    "MMIO",
    "IRQ_WINDOW_OPEN",
    "SHUTDOWN",
    "FAIL_ENTRY",
    "INTR",
    "SET_TPR",
    "TPR_ACCESS",
    "S390_SIEIC",
    "S390_RESET",
    "DCR",
    "NMI",
    "INTERNAL_ERROR",
    "OSI",
    "PAPR_HCALL",
    "S390_UCONTROL",
    "WATCHDOG",
    "S390_TSCH",
    "EPR",
    "SYSTEM_EVENT",
    "S390_STSI",
    "IOAPIC_EOI",
    "HYPERV",
    "ARM_NISV",
    "X86_RDMSR",
    "X86_WRMSR",
    "DIRTY_RING_FULL",
    "AP_RESET_HOLD",
    "X86_BUS_LOCK",
    "XEN",
    "RISCV_SBI",
    "RISCV_CSR",
    "NOTIFY",
    "LOONGARCH_IOCSR",
    "MEMORY_FAULT",
];

/// `KVM_EXIT_SHUTDOWN`: the vCPU shut down, on x86 a triple fault.
pub const KVM_EXIT_SHUTDOWN: u32 = 8;
/// `KVM_EXIT_FAIL_ENTRY`: VM entry failed; `hardware_entry_failure_reason` says why.
pub const KVM_EXIT_FAIL_ENTRY: u32 = 9;
/// `KVM_EXIT_INTERNAL_ERROR`: KVM could not handle an exit; a suberror says why.
pub const KVM_EXIT_INTERNAL_ERROR: u32 = 17;

/// The `KVM_EXIT_` name of `code`, without the prefix.
#[must_use]
pub fn kvm_exit(code: u32) -> Option<&'static str> {
    KVM_EXITS.get(usize::try_from(code).ok()?).copied()
}

/// The number of `KVM_EXIT_<name>`.
#[must_use]
pub fn kvm_exit_named(name: &str) -> Option<u32> {
    KVM_EXITS
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u32::try_from(i).ok())
}

/// `KVM_INTERNAL_ERROR_*`, what each says, by suberror (1 to 4; no other is defined).
pub const KVM_INTERNAL_ERRORS: [(u32, &str); 4] = [
    (1, "KVM could not emulate an instruction"),
    (2, "an exception while delivering another"),
    (3, "event delivery caused an exit KVM cannot handle"),
    (4, "an exit reason KVM does not handle"),
];

/// VM-instruction error 7, "VM entry with invalid control field(s)": the control
/// checks' failure (SDM Vol. 3C §27.2.1), before any guest-state check.
pub const VM_INSTRUCTION_INVALID_CONTROLS: u32 = 7;

/// VM-instruction error numbers, SDM Vol. 3C §31.4 Table 31-1.
pub const VM_INSTRUCTION_ERRORS: &[(u32, &str)] = &[
    (1, "VMCALL executed in VMX root operation"),
    (2, "VMCLEAR with invalid physical address"),
    (3, "VMCLEAR with VMXON pointer"),
    (4, "VMLAUNCH with non-clear VMCS"),
    (5, "VMRESUME with non-launched VMCS"),
    (6, "VMRESUME after VMXOFF"),
    (
        VM_INSTRUCTION_INVALID_CONTROLS,
        "VM entry with invalid control field(s)",
    ),
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

/// One errno: its number, its name, glibc's `strerror` text.
pub type Errno = (u16, &'static str, &'static str);

/// The errno values `KVM_RUN` is seen to return (x86 Linux numbers).
pub const ERRNOS: &[Errno] = &[
    (1, "EPERM", "Operation not permitted"),
    (2, "ENOENT", "No such file or directory"),
    (4, "EINTR", "Interrupted system call"),
    (5, "EIO", "Input/output error"),
    (6, "ENXIO", "No such device or address"),
    (7, "E2BIG", "Argument list too long"),
    (8, "ENOEXEC", "Exec format error"),
    (9, "EBADF", "Bad file descriptor"),
    (11, "EAGAIN", "Resource temporarily unavailable"),
    (12, "ENOMEM", "Cannot allocate memory"),
    (13, "EACCES", "Permission denied"),
    (14, "EFAULT", "Bad address"),
    (16, "EBUSY", "Device or resource busy"),
    (17, "EEXIST", "File exists"),
    (19, "ENODEV", "No such device"),
    (22, "EINVAL", "Invalid argument"),
    (28, "ENOSPC", "No space left on device"),
    (38, "ENOSYS", "Function not implemented"),
    (95, "EOPNOTSUPP", "Operation not supported"),
    (133, "EHWPOISON", "Memory page has hardware error"),
];

/// `EINVAL`.
pub const EINVAL: u16 = 22;
/// `EFAULT`.
pub const EFAULT: u16 = 14;

/// The errno entry of number `n`.
#[must_use]
pub fn errno(n: u16) -> Option<&'static Errno> {
    ERRNOS.iter().find(|(k, _, _)| *k == n)
}

/// VirtualBox status codes a Guru Meditation names (`include/VBox/err.h`).
pub const VBOX_STATUS_CODES: &[(i32, &str)] = &[
    (1155, "VINF_EM_TRIPLE_FAULT"),
    (-1158, "VERR_EM_GUEST_CPU_HANG"),
    (-1148, "VERR_EM_INTERPRETER"),
    (-1149, "VERR_EM_INTERNAL_ERROR"),
    (1103, "VINF_EM_DBG_HYPER_ASSERTION"),
    (VERR_REM_VIRTUAL_CPU_ERROR, "VERR_REM_VIRTUAL_CPU_ERROR"),
];

/// `VINF_EM_TRIPLE_FAULT`: VirtualBox's guest triple-faulted.
pub const VINF_EM_TRIPLE_FAULT: i32 = 1155;

/// VirtualBox's `VERR_REM_VIRTUAL_CPU_ERROR` (`include/VBox/err.h`, the REM status
/// codes): "Fatal error in the recompiler cpu", the guest running in VirtualBox's
/// recompiler (QEMU's TCG, dropped in VirtualBox 6.1), not under VT-x or AMD-V.
pub const VERR_REM_VIRTUAL_CPU_ERROR: i32 = -2301;

/// The mnemonic of exception `vector` (SDM Vol. 3A Table 6-1), `None` for a vector
/// no exception has.
#[must_use]
pub fn exception(vector: u8) -> Option<&'static str> {
    Some(match vector {
        0 => "#DE",
        1 => "#DB",
        3 => "#BP",
        4 => "#OF",
        5 => "#BR",
        6 => "#UD",
        7 => "#NM",
        8 => "#DF",
        10 => "#TS",
        11 => "#NP",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        18 => "#MC",
        19 => "#XM",
        20 => "#VE",
        21 => "#CP",
        _ => return None,
    })
}
