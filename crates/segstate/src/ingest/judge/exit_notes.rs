//! The notes an exit and its dump give together, beside the verdict: what a KVM
//! internal error's extra data say, an error 0 beside a current VMCS, a triple fault
//! with no IDT gate, an SMM entry with IF clear.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::{RFLAGS_IF, Vendor};
use crate::check::report::Vendors;
use crate::ingest::exit::{Exit, ExitClass};
use crate::ingest::log::LogDump;

/// What the exit's words and the dump say together: an internal error's extra data, an
/// error 0 beside a VMCS that recorded an exit, a triple fault with no IDT gate.
pub(super) fn exit_notes(
    d: &LogDump,
    vendors: Option<Vendors>,
    class: Option<ExitClass>,
) -> Vec<String> {
    let triple = matches!(
        class,
        Some(ExitClass::TripleFault { .. } | ExitClass::WhpUnrecoverableException)
    );
    let no_gate = triple
        .then(|| crate::ingest::tcg_event::no_gate_note(&d.guest))
        .flatten();
    let smm = smm_entry_note(d, vendors, class);
    [
        internal_error_note(d, vendors),
        error_zero_note(d),
        no_gate,
        smm,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A failed Intel entry of a vCPU QEMU printed in SMM with RFLAGS.IF = 0 whose VMCS
/// event fields the dump lacks. Entering SMM clears IF (SDM Vol. 3C, "Initial SMM
/// Execution Environment": EFLAGS 0x2), and VM entry with IF = 0 fails when an
/// external interrupt is being injected (`vmx.entry.rflags.if`; tianocore/edk2 issue
/// 91, Windows' clock interrupt injected into OVMF's SMI handler) or blocking by STI
/// is set (`vmx.entry.intr.sti-if`; an interrupt shadow carried into SMM, the 2022
/// Proxmox reports in this corpus). Neither field is in QEMU's dump, so the note names
/// both and what prints them.
fn smm_entry_note(
    d: &LogDump,
    vendors: Option<Vendors>,
    class: Option<ExitClass>,
) -> Option<String> {
    let g = &d.guest;
    let entry_failed = matches!(
        class,
        Some(ExitClass::InvalidGuestState | ExitClass::InvalidGuestStateQualified(_))
    );
    let if_clear = g.rflags.is_some_and(|f| f & RFLAGS_IF == 0);
    let fields_lacking = g.entry_interruption_info.is_none() || g.interruptibility.is_none();
    let smm_with_if_clear = d.smm == Some(true) && if_clear;
    if !(entry_failed && vendors.is_some_and(Vendors::intel) && smm_with_if_clear && fields_lacking)
    {
        return None;
    }
    let at = match g.rip {
        Some(0x8000) => ", at the SMI handler's entry point (EIP 0x8000)",
        _ => "",
    };
    Some(format!(
        "QEMU printed the vCPU in SMM (SMM=1) with RFLAGS.IF = 0{at}: entering SMM clears \
         IF (SDM Vol. 3C, \"Initial SMM Execution Environment\"), and VM entry with IF = 0 \
         fails when an external interrupt is being injected (vmx.entry.rflags.if, \
         §27.3.1.4; tianocore/edk2 issue 91) or blocking by STI is set \
         (vmx.entry.intr.sti-if, §27.3.1.5: an interrupt shadow carried into SMM); both \
         are VMCS fields QEMU does not print: kvm_intel.dump_invalid_vmcs=1 prints them"
    ))
}

/// What a KVM internal error's extra data words say (`exit::explain_internal`), read
/// as Intel's unless the target is AMD.
fn internal_error_note(d: &LogDump, vendors: Option<Vendors>) -> Option<String> {
    let Some(Exit::Internal { suberror, extra }) = d.exit() else {
        return None;
    };
    if vendors == Some(Vendors::Amd) {
        return None;
    }
    crate::ingest::exit::explain_internal(*suberror, extra, vendors == Some(Vendors::Intel))
}

/// VM-instruction error 0 beside a VMCS dump whose exit reason is an ordinary exit:
/// the dump's VMREADs read that VMCS, so it was current and the failure was no
/// VMfailInvalid; the reason (bit 31 clear) is an exit of an entry that ran.
fn error_zero_note(d: &LogDump) -> Option<String> {
    let vmcs = d.dialects.iter().any(|x| x.vendor() == Some(Vendor::Intel));
    if !vmcs || d.exit().map(Exit::class) != Some(ExitClass::VmInstructionError(0)) {
        return None;
    }
    let (line, reason) = d.exits.iter().find_map(|(line, e)| match e.class() {
        ExitClass::VmxExit(n) if e.vendor() == Some(Vendor::Intel) => Some((line, n)),
        _ => None,
    })?;
    let name = crate::ingest::exit::names::vmx_exit_reason(reason)
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    Some(format!(
        "error 0 beside a VMCS dump: the dump read the VMCS, so it was current and the VMX \
         instruction did not fail with VMfailInvalid; its exit reason {reason}{name} at line \
         {line} has bit 31 clear, an exit of an entry that ran (unless left from an earlier \
         exit): the hypervisor reported a failed entry the processor did not"
    ))
}
