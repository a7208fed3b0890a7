//! A WHP VMM's `NAME=0x…` register words around the exit context's execution state,
//! `ExecState=0x…`: microsandbox#1095 (July 2026), a build of microsandbox patched to
//! log the state on `WHvRunVpExitReasonUnrecoverableException`, after the VMM's own
//! `WHP vCPU 0 exited with unhandled reason 4` (read by [`crate::ingest::whp`]):
//!
//! ```text
//! RIP=0xffffffff810196dc  CR0=0x0000000080050033  CR3=0x0000000000000000
//! CR4=0x00000000000000b0  EFER=0x0000000000000d01  RSP=0xffffffff82203d70
//! RFLAGS=0x0000000000000046  ExecState=0x005c
//! ```
//!
//! `ExecState` is `WHV_X64_VP_EXECUTION_STATE` (`WinHvPlatformDefs.h`, the exit
//! context's first field): CPL bits 1:0, CR0.PE 2, CR0.AM 3, EFER.LMA 4, DebugActive 5,
//! InterruptionPending 6, reserved 11:7, InterruptShadow 12, reserved 15:13. Its CPL is
//! the processor's at the exit, so it is the dump's CPL (there is no SS to carry it);
//! a word with reserved bits set is no execution state and is named, not read. The
//! block is the line holding `ExecState=` and the lines right above it made of such
//! words alone; RIP, RFLAGS, CR0, CR3, CR4 and EFER are kept, RSP and CR2 passed over.
//! Neither QEMU (`CR0=%08x`, no `0x`) nor dump_vmcs (`CR0: actual=…`, `RIP = 0x…`)
//! prints these words so, and their readers are kept off the block's lines.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::PrivilegeLevel;
use crate::ingest::log::{Dialect, LineSpan, RawDump};
use crate::ingest::text::register_field;

/// The word that makes a block.
const EXEC_STATE: &str = "ExecState";

/// The most lines of words above the `ExecState=` line that belong to its block.
const MAX_ABOVE: usize = 4;

/// The names a block's words may carry.
const NAMES: [&str; 9] = [
    "RIP", "RSP", "RFLAGS", "CR0", "CR2", "CR3", "CR4", "EFER", EXEC_STATE,
];

/// `WHV_X64_VP_EXECUTION_STATE`'s reserved bits, 11:7 and 15:13.
const RESERVED: u64 = 0xef80;

/// A `NAME=0x<hex>` word with a name of [`NAMES`].
fn word(w: &str) -> Option<(&'static str, u64)> {
    let (name, value) = w.split_once('=')?;
    let name = NAMES.iter().find(|n| **n == name)?;
    let digits = value.strip_prefix("0x")?;
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((name, u64::from_str_radix(digits, 16).ok()?))
}

/// Every word of `line` when all of them are block words; `None` for any other line.
fn block_line(line: &str) -> Option<Vec<(&'static str, u64)>> {
    let words: Option<Vec<_>> = line.split_whitespace().map(word).collect();
    words.filter(|w| !w.is_empty())
}

/// Reads the execution state word into `d`: the CPL, and notes on its flags.
fn exec_state(d: &mut RawDump, v: u64, line: usize) {
    if v & RESERVED != 0 || v > 0xffff {
        d.note(format!(
            "line {line}: ExecState={v:#x} sets bits WHV_X64_VP_EXECUTION_STATE reserves \
             ({:#x}): not an execution state, its CPL not read",
            v & (RESERVED | !0xffff)
        ));
        return;
    }
    let bit = |n: u32| u8::from(v >> n & 1 == 1);
    let cpl = PrivilegeLevel::from_low_bits((v & 3) as u8);
    d.guest.cpl = Some(cpl);
    d.note(format!(
        "line {line}: ExecState={v:#06x} is the exit context's WHV_X64_VP_EXECUTION_STATE \
         (WinHvPlatformDefs.h): CPL {}, CR0.PE {}, CR0.AM {}, EFER.LMA {}, DebugActive {}, \
         InterruptionPending {}, InterruptShadow {}; the CPL is the processor's at the exit",
        cpl.bits(),
        bit(2),
        bit(3),
        bit(4),
        bit(5),
        bit(6),
        bit(12)
    ));
    for (name, shown, field, mask) in [
        ("CR0.PE", bit(2), d.guest.cr0, 1u64),
        ("CR0.AM", bit(3), d.guest.cr0, 1 << 18),
        ("EFER.LMA", bit(4), d.guest.efer, 1 << 10),
    ] {
        if let Some(f) = field {
            let printed = u8::from(f & mask != 0);
            if printed != shown {
                d.note(format!(
                    "line {line}: ExecState says {name} = {shown}, the printed register \
                     {printed}: the words were not taken at one exit"
                ));
            }
        }
    }
}

/// Every block in the lines; each block's lines are blanked.
pub(super) fn claim(lines: &mut [(usize, String)]) -> Vec<RawDump> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let has_state =
            block_line(&lines[i].1).is_some_and(|ws| ws.iter().any(|(n, _)| *n == EXEC_STATE));
        if !has_state {
            i += 1;
            continue;
        }
        let mut first = i;
        while first > 0
            && i - (first - 1) <= MAX_ABOVE
            && lines[first - 1].0 + 1 == lines[first].0
            && block_line(&lines[first - 1].1)
                .is_some_and(|ws| ws.iter().all(|(n, _)| *n != EXEC_STATE))
        {
            first -= 1;
        }
        let mut d = RawDump::new(Dialect::WhpRegisters, lines[first].0);
        d.lines = LineSpan {
            first: lines[first].0,
            last: lines[i].0,
        };
        let mut state = None;
        for (no, text) in &lines[first..=i] {
            for (name, v) in block_line(text).unwrap_or_default() {
                if name == EXEC_STATE {
                    state = Some((v, *no));
                } else if let Some(f) = register_field(&mut d.guest, &name.to_ascii_lowercase()) {
                    // RSP and CR2 have no field: passed over.
                    *f = Some(v);
                }
            }
        }
        if let Some((v, no)) = state {
            exec_state(&mut d, v, no);
        }
        for (_, text) in &mut lines[first..=i] {
            text.clear();
        }
        out.push(d);
        i += 1;
    }
    out
}
