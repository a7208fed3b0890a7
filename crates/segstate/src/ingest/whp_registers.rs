//! hyperlight's register listing after an unexpected exit on the Windows Hypervisor
//! Platform (WHP): `throw_exit_exception` / `get_exit_details` in
//! `src/hyperlight_host/src/hypervisor/hyperv_windows.rs` (hyperlight-dev/hyperlight,
//! releases up to 0.2, before the listing became `Registers: {:#?}`), quoted in
//! hyperlight#168 (January 2025):
//!
//! ```text
//! Did not receive a halt from Hypervisor as expected - Received {exit_reason:?}!
//!   {:>4?} - 0x{:0>16X} {:0>16X}        (key.0, value.Reg128 High64, Low64; a line per register)
//! ```
//!
//! `key.0` is a `WHV_REGISTER_NAME` of the `windows` crate, whose `Debug` prints the
//! number in decimal inside the type's name, padded by `{:>4?}`:
//! `WHV_REGISTER_NAME(  19) - 0xA09B0008FFFFFFFF 0000000000000000`. The numbers are
//! those of the Windows SDK's `WinHvPlatformDefs.h`: RIP 0x10, RFLAGS 0x11, ES CS SS
//! DS FS GS LDTR TR 0x12 to 0x19, IDTR 0x1A, GDTR 0x1B, CR0 0x1C, CR3 0x1E, CR4 0x1F,
//! DR6 0x25, DR7 0x26, EFER 0x2001, PAT 0x2004, SYSENTER_EIP/ESP 0x2006/0x2007; the
//! others (general registers, CR2, CR8, …) are passed over. The value is the
//! `WHV_REGISTER_VALUE` union as its 128-bit view, high half first:
//!
//! - a segment (`WHV_X64_SEGMENT_REGISTER`: Base u64, Limit u32, Selector u16,
//!   Attributes u16) is Base in the low half and Attributes:Selector:Limit in the high
//!   half, the attributes being Hyper-V's word (VMX access rights 15:0, no unusable
//!   bit: decoded as [`HvSegmentRegister`], unusable where P = 0, reserved bits
//!   refused);
//! - a table register (`WHV_X64_TABLE_REGISTER`: Pad u16\[3\], Limit u16, Base u64) is
//!   the limit in bits 63:48 of the low half and the base in the high half;
//! - any other register is the low half; one whose high half is not zero is named in a
//!   note and not read.
//!
//! hyperlight lists the registers it set up when it created the vCPU (its `registers`
//! map, in hash order), so a listing may hold CS and no SS: the CPL is SS.DPL, as WHP's
//! state holds it, and stays unknown without SS. Lines closer than [`MAX_GAP`] form one
//! listing; a register listed again starts another.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use crate::arch::{DescriptorTable, SegReg, Segment};
use crate::format::hyperv::{HvSegmentRegister, HvTableRegister};

/// What the register number is printed inside.
const NAME: &str = "WHV_REGISTER_NAME(";

/// The most lines from one register's line to the next of one listing.
const MAX_GAP: usize = 2;

/// One listed register: its number and the two halves of its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    number: u32,
    high: u64,
    low: u64,
}

/// Why a line that names a register was not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unread {
    /// The number or the value is cut or not as hyperlight prints it.
    Malformed,
}

/// Exactly sixteen hex digits, as `{:0>16X}` prints a `u64`.
fn half(s: &str) -> Option<u64> {
    if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// The register a line lists: `None` when the line names none, `Some(Err)` when it
/// names one in a form not read.
fn parse(line: &str) -> Option<Result<Entry, Unread>> {
    let at = line.find(NAME)?;
    let rest = &line[at + NAME.len()..];
    Some(entry(rest).ok_or(Unread::Malformed))
}

/// `  19) - 0xA09B0008FFFFFFFF 0000000000000000`, after the name's `(`.
fn entry(rest: &str) -> Option<Entry> {
    let (number, rest) = rest.split_once(')')?;
    let number = number.trim_start();
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = number.parse::<u32>().ok()?;
    let rest = rest.trim_start().strip_prefix('-')?.trim_start();
    let rest = rest.strip_prefix("0x")?;
    let mut words = rest.split_whitespace();
    let high = half(words.next()?)?;
    let low = half(words.next()?)?;
    Some(Entry { number, high, low })
}

/// The segment register a `WHV_REGISTER_NAME` number names (0x12 to 0x19, in
/// [`SegReg::ALL`]'s order).
fn segment(number: u32) -> Option<SegReg> {
    let i = usize::try_from(number.checked_sub(0x12)?).ok()?;
    SegReg::ALL.get(i).copied()
}

/// A listing being read.
struct Listing {
    dump: RawDump,
    read: Vec<u32>,
}

impl Listing {
    fn new(line: usize) -> Self {
        Listing {
            dump: RawDump::new(Dialect::WhpRegisters, line),
            read: Vec::new(),
        }
    }

    fn take(&mut self, e: Entry, line: usize) {
        self.dump.lines.extend_to(line);
        self.read.push(e.number);
        let d = &mut self.dump;
        // The 128-bit value's bytes, low half first, as the union holds them.
        let bytes = (u128::from(e.high) << 64 | u128::from(e.low)).to_le_bytes();
        if let Some(reg) = segment(e.number) {
            let hv = HvSegmentRegister::from_bytes(&bytes).expect("16 bytes");
            super::text::put_segment(d, reg, Segment::try_from(hv), line, reg.name());
            return;
        }
        let table = match e.number {
            0x1a => Some(&mut d.guest.idtr),
            0x1b => Some(&mut d.guest.gdtr),
            _ => None,
        };
        if let Some(t) = table {
            let hv = HvTableRegister::from_bytes(&bytes).expect("16 bytes");
            *t = Some(DescriptorTable::from(hv));
            return;
        }
        let g = &mut d.guest;
        let field = match e.number {
            0x10 => &mut g.rip,
            0x11 => &mut g.rflags,
            0x1c => &mut g.cr0,
            0x1e => &mut g.cr3,
            0x1f => &mut g.cr4,
            0x25 => &mut g.dr6,
            0x26 => &mut g.dr7,
            0x2001 => &mut g.efer,
            0x2004 => &mut g.pat,
            0x2006 => &mut g.sysenter_eip,
            0x2007 => &mut g.sysenter_esp,
            _ => return,
        };
        if e.high == 0 {
            *field = Some(e.low);
        } else {
            d.note(format!(
                "line {line}: WHP register {} has {:#x} in the high half of its 128-bit \
                 value, which a 64-bit register leaves 0: not read",
                e.number, e.high
            ));
        }
    }

    fn finish(self) -> Option<RawDump> {
        (self.dump.has_fields() || !self.dump.notes.is_empty()).then_some(self.dump)
    }
}

/// Every WHP register printout in the (normalised) lines: hyperlight's listings and
/// the `ExecState=` blocks ([`exec_state`]), in line order. Their lines are blanked, so
/// that no other dialect's reader takes their `RIP=` or `EFER=` words for its own.
#[must_use]
pub(crate) fn claim(lines: &mut [(usize, String)]) -> Vec<RawDump> {
    let mut out = listings(lines);
    for (no, text) in lines.iter_mut() {
        if text.contains(NAME) && out.iter().any(|d| d.lines.contains(*no)) {
            text.clear();
        }
    }
    out.extend(exec_state::claim(lines));
    out.sort_by_key(|d| d.lines.first);
    out.truncate(MAX_DUMPS);
    out
}

/// Every hyperlight WHP register listing in the (normalised) lines.
#[must_use]
fn listings(lines: &[(usize, String)]) -> Vec<RawDump> {
    let mut out = Vec::new();
    let mut cur: Option<Listing> = None;
    let mut last = 0;
    for (no, text) in lines {
        if out.len() >= MAX_DUMPS {
            break;
        }
        let Some(parsed) = parse(text) else {
            continue;
        };
        let open = cur.is_some() && *no <= last + MAX_GAP;
        if !open {
            out.extend(cur.take().and_then(Listing::finish));
        }
        last = *no;
        let listing = match parsed {
            Ok(e) if cur.as_ref().is_some_and(|c| c.read.contains(&e.number)) => {
                // A register listed again: the next listing.
                out.extend(cur.take().and_then(Listing::finish));
                cur.insert(Listing::new(*no))
            }
            _ => cur.get_or_insert_with(|| Listing::new(*no)),
        };
        match parsed {
            Ok(e) => listing.take(e, *no),
            Err(Unread::Malformed) => {
                listing.dump.lines.extend_to(*no);
                listing.dump.note(format!(
                    "line {no}: a `WHV_REGISTER_NAME(n) - 0x<high> <low>` line cut or \
                     garbled (16 hex digits each half): not read"
                ));
            }
        }
    }
    out.extend(cur.and_then(Listing::finish));
    out.truncate(MAX_DUMPS);
    out
}

mod exec_state;

#[cfg(test)]
mod tests;
