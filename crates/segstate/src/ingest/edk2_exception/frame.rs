//! A saved frame no CPU running the handler can hold: values the handler itself or
//! the CPU sets, printed otherwise, show the dump was read from the wrong place of
//! the exception stack (a corrupted or misaligned one), not the interrupted state.
//!
//! What the frame must show, whatever the interrupted code did:
//!
//! - RFLAGS bit 1, which reads 1 on every x86 processor (SDM Vol. 1 §3.4.3, Figure
//!   3-8: "reserved, always 1"); the CPU pushes RFLAGS on the exception.
//! - For the X64 handler, which runs only in IA-32e mode: CR0.PE and CR0.PG and
//!   CR4.PAE set (IA-32e mode needs paging with PAE: SDM Vol. 3A §10.8.5), and CR4's
//!   DE and OSFXSR (0x208), which `X64/ExceptionHandlerAsm.nasm` ORs into CR4 before
//!   it pushes it. The handler reads CR0 and CR4 live (`mov rax, cr0`; `push rax`), so
//!   they are its own, which the exception did not change.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::Handler;
use crate::arch::{CR0_PE, CR0_PG, CR4_PAE, GuestState};

/// RFLAGS bit 1, set in every RFLAGS the processor pushes.
const RFLAGS_ALWAYS_ONE: u64 = 1 << 1;
/// CR4.DE, which the X64 handler sets before it saves CR4.
const CR4_DE: u64 = 1 << 3;
/// CR4.OSFXSR, which the X64 handler sets before it saves CR4.
const CR4_OSFXSR: u64 = 1 << 9;

/// Each printed value the frame cannot hold, in words; empty for a frame that can be
/// the interrupted state.
pub(super) fn impossible(handler: Handler, g: &GuestState) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = g.rflags.filter(|r| r & RFLAGS_ALWAYS_ONE == 0) {
        out.push(format!(
            "{} {r:#x} has bit 1 clear, which reads 1 on every x86 CPU (SDM Vol. 1 §3.4.3)",
            handler.flags()
        ));
    }
    if handler != Handler::X64 {
        return out;
    }
    if let Some(cr0) = g.cr0 {
        let lacks = clear(cr0, &[(CR0_PE, "PE"), (CR0_PG, "PG")]);
        if !lacks.is_empty() {
            out.push(format!(
                "CR0 {cr0:#x} has {} clear, which no X64 handler runs with (IA-32e mode \
                 needs paging, SDM Vol. 3A §10.8.5; the handler reads CR0 itself)",
                lacks.join(" and ")
            ));
        }
    }
    if let Some(cr4) = g.cr4 {
        if cr4 & CR4_PAE == 0 {
            out.push(format!(
                "CR4 {cr4:#x} has PAE clear, which IA-32e mode needs (SDM Vol. 3A §10.8.5)"
            ));
        }
        let lacks = clear(cr4, &[(CR4_DE, "DE"), (CR4_OSFXSR, "OSFXSR")]);
        if !lacks.is_empty() {
            out.push(format!(
                "CR4 {cr4:#x} has {} clear, which the handler sets before it saves CR4 (it \
                 ORs 0x208 into CR4: X64/ExceptionHandlerAsm.nasm)",
                lacks.join(" and ")
            ));
        }
    }
    out
}

/// The names of the bits of `bits` that `value` has clear.
fn clear(value: u64, bits: &[(u64, &'static str)]) -> Vec<&'static str> {
    bits.iter()
        .filter(|(bit, _)| value & bit == 0)
        .map(|(_, name)| *name)
        .collect()
}

/// The note on a frame [`impossible`] found values in: what it cannot hold, and that
/// nothing of it is judged.
pub(super) fn note(line: usize, why: &[String]) -> String {
    format!(
        "line {line}: the frame printed is not a CPU state: {}; values no CPU running \
         the handler can hold mean the handler read its frame from the wrong place (a \
         corrupted or misaligned exception stack), so no register of it is judged, the \
         selectors and CPL included",
        why.join("; ")
    )
}
