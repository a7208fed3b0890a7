//! Text as users paste it, made readable: a quoted-printable mail body decoded
//! ([`quoted_printable`]), prefixes stripped ([`prefix`]), then cut into words ([`words`]) so that the dialect readers follow the fields' grammar across
//! wrapped lines (a register group split over two lines, `DR3=` alone on a line) and
//! within joined ones (a whole dump on one line), not the line breaks.

pub mod kvmtool;
pub mod opendcdiag;
pub mod prefix;
mod printout;
pub mod quoted_printable;
pub mod rust_debug;
pub mod show_regs;
pub mod sregs;
pub mod words;

pub use words::{Words, hex, hex_width};

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::{DescriptorTable, GuestState, SegReg, Segment};
use crate::format::kvm::KvmSegment;
use crate::ingest::log::RawDump;

/// The most input text read (bytes). A dump is a few KiB and a whole kernel log with
/// several dumps far below this; anything above is refused rather than held. With
/// the words (12 bytes each) and at most [`super::log::MAX_DUMPS`] dumps, a log stays
/// within a few tens of MiB on any input.
pub const MAX_TEXT: usize = 4 << 20;

/// Every line of `text`, decoded when it is quoted-printable, with its prefix stripped,
/// numbered as in `text` from 1: what `log::read_log` hands the readers, for their tests.
#[cfg(test)]
#[must_use]
pub fn normalise(text: &str) -> Vec<(usize, String)> {
    strip_prefixes(&quoted_printable::decode(text).lines)
}

/// What the word reader `read` reads of `text` once [`normalise`]d, for the readers'
/// tests.
#[cfg(test)]
pub fn read_normalised(text: &str, read: fn(&mut Words<'_>) -> Vec<RawDump>) -> Vec<RawDump> {
    let lines = normalise(text);
    read(&mut Words::new(&lines))
}

/// Every numbered line (from [`quoted_printable::decode`]) with its prefix stripped.
#[must_use]
pub fn strip_prefixes(lines: &[(usize, Cow<'_, str>)]) -> Vec<(usize, String)> {
    let mut stripper = prefix::PrefixStripper::default();
    lines
        .iter()
        .map(|(no, l)| (*no, String::from(stripper.strip(l))))
        .collect()
}

/// The field of `g` that the lower-case register `name` fills, for the six that both a
/// VMCB dump and a `kvm_sregs` printout print under their own names: CR0, CR3, CR4,
/// EFER, RIP, RFLAGS.
pub(crate) fn register_field<'g>(g: &'g mut GuestState, name: &str) -> Option<&'g mut Option<u64>> {
    Some(match name {
        "cr0" => &mut g.cr0,
        "cr3" => &mut g.cr3,
        "cr4" => &mut g.cr4,
        "efer" => &mut g.efer,
        "rip" => &mut g.rip,
        "rflags" => &mut g.rflags,
        _ => return None,
    })
}

/// The descriptor-table register of `g` that the lower-case `name` fills: `gdt` GDTR,
/// `idt` IDTR, as the printouts of `kvm_sregs` name its two `kvm_dtable`s.
pub(crate) fn table_field<'g>(
    g: &'g mut GuestState,
    name: &str,
) -> Option<&'g mut Option<DescriptorTable>> {
    match name {
        "gdt" => Some(&mut g.gdtr),
        "idt" => Some(&mut g.idtr),
        _ => None,
    }
}

/// A `kvm_dtable` as printed: its limit is a `__u16`, a wider value is kept at the
/// most the field can hold rather than wrapped.
pub(crate) fn dtable(base: u64, limit: u64) -> DescriptorTable {
    DescriptorTable {
        base,
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
    }
}

/// Puts a `kvm_segment` that a printout of `kvm_sregs` showed whole (register `reg`,
/// printed as `name` on `line`) into `d`: the segment when its bytes decode, with the
/// CPL taken from SS.DPL as KVM_SET_SREGS takes it; else a note naming what does not
/// decode, and the register is not read.
pub(crate) fn put_kvm_segment(
    d: &mut RawDump,
    reg: SegReg,
    raw: KvmSegment,
    line: usize,
    name: &str,
) {
    put_segment(d, reg, Segment::try_from(raw), line, name);
}

/// Puts a decoded segment (register `reg`, printed as `name` on `line`) into `d`, the
/// CPL taken from SS.DPL as KVM_SET_SREGS takes it (and as a VMCS holds it); a segment
/// that did not decode is named in a note and not read.
pub(crate) fn put_segment(
    d: &mut RawDump,
    reg: SegReg,
    decoded: Result<Segment, crate::format::FormatError>,
    line: usize,
    name: &str,
) {
    match decoded {
        Ok(seg) => {
            if reg == SegReg::Ss {
                d.guest.cpl = Some(seg.attributes.dpl);
            }
            d.guest.segments[reg] = Some(seg);
        }
        Err(e) => d.note(alloc::format!("line {line}: {name}: {e}; not read")),
    }
}
