//! HAXM's VMCS field dump: one field a line, `"%04x %s: %llx"` — the VMCS field
//! encoding, HAXM's name for it, the value in bare hex (`haxm_error: 4402
//! VM_EXIT_INFO_REASON: 80000021`; HAXM `core/dump.c` `dump_vmcs`, each line printed by
//! `core/vmx.c` `vmread_dump`).
//!
//! The encoding, not HAXM's name, decides the field (SDM Vol. 3C Appendix B), so a
//! renamed field still reads. The exit reason (0x4402) is an exit line and is read by
//! [`super::exit`].
//!
//! HAXM prints a guest segment as four fields far apart: the eight selectors, then the
//! eight access rights, the eight bases (and GDTR/IDTR's), then the eight limits. A
//! paste cut before the limits (or started after the selectors) holds segments only in
//! part: those are named, field by field, and not read, since a segment rule on a
//! guessed limit would be a guess. The CPL needs only SS's access rights (SS.DPL is the
//! CPL, SDM Vol. 3C §25.4.1), so it is read whenever they are.
//!
//! Several vCPUs that fail at once print their dumps at the same time, and the lines
//! interleave (a field twice, a tag doubled or missing). A field printed again starts
//! the next dump only when the field after it was printed before too (a dump printed
//! again replays its order); otherwise the lines are interleaved: a repeat with the same
//! value is named and read once, one with a different value is named and not read.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::segment_parts::{AllParts, Cut, assemble};
use super::text::{Words, hex, hex_width};
use super::vmcs_field;

/// One `NNNN NAME: value` line: where, the encoding, HAXM's name, the value.
#[derive(Clone, Copy)]
struct FieldLine<'a> {
    line: usize,
    enc: u32,
    name: &'a str,
    value: u64,
}

/// Every `NNNN NAME: value` triple in the words, in order (at most one per three
/// words, so bounded by the text).
fn field_lines<'a>(words: &mut Words<'a>) -> Vec<FieldLine<'a>> {
    let mut out = Vec::new();
    while let Some(w) = words.next_word() {
        // `haxm_warning:4000` when the logger glued its tag to the encoding.
        let enc_text = w.text.rsplit(':').next().unwrap_or_default();
        let Some(enc) = hex_width(enc_text, &[4]) else {
            continue;
        };
        let Some(name) = words
            .peek(0)
            .and_then(|n| n.text.strip_suffix(':'))
            .filter(|n| {
                n.len() > 1
                    && n.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
        else {
            continue;
        };
        let Some(value) = words.peek(1).and_then(|v| hex(v.text)) else {
            continue;
        };
        words.skip(2);
        out.push(FieldLine {
            line: w.line,
            enc: enc as u32,
            name,
            value,
        });
    }
    out
}

/// HAXM prints a segment's four fields far apart, the limits last; SS.DPL of its VMCS
/// is the CPL.
const SEGMENTS_APART: Cut = Cut {
    why: "HAXM prints the four fields of a segment apart, the limits last",
    cpl_from_ss: true,
};

/// The most repeated lines a dump's note names by example.
const REPEAT_EXAMPLES: usize = 3;

/// A dump being read.
struct Building<'a> {
    dump: RawDump,
    /// Each encoding's first line, by encoding.
    fields: BTreeMap<u32, FieldLine<'a>>,
    /// Encodings printed again with another value: not read.
    conflicting: BTreeSet<u32>,
    /// How many lines repeat an earlier field with its value.
    repeats: usize,
    /// The first few of them: HAXM's name, the first line, the repeat's line.
    examples: Vec<(&'a str, usize, usize)>,
}

impl<'a> Building<'a> {
    fn new(line: usize) -> Self {
        Building {
            dump: RawDump::new(Dialect::Haxm, line),
            fields: BTreeMap::new(),
            conflicting: BTreeSet::new(),
            repeats: 0,
            examples: Vec::new(),
        }
    }

    /// A field line the dump has not seen.
    fn add(&mut self, f: FieldLine<'a>) {
        self.dump.lines.extend_to(f.line);
        self.fields.insert(f.enc, f);
    }

    /// A field line repeating one the dump has, inside interleaved lines: read once
    /// when the values agree, named and not read when they differ.
    fn repeat(&mut self, first: FieldLine<'a>, f: FieldLine<'a>) {
        self.dump.lines.extend_to(f.line);
        if first.value == f.value {
            self.repeats += 1;
            if self.examples.len() < REPEAT_EXAMPLES {
                self.examples.push((f.name, first.line, f.line));
            }
        } else if self.conflicting.insert(f.enc) {
            self.dump.note(format!(
                "line {}: {} is {:#x} here and {:#x} at line {}: the lines of dumps printed at \
                 the same time are interleaved, and which value is this state's cannot be told; \
                 {} is not read",
                f.line, f.name, f.value, first.value, first.line, f.name
            ));
        }
    }

    fn finish(self) -> RawDump {
        let mut d = self.dump;
        let mut parts = AllParts::default();
        for f in self.fields.values() {
            if !self.conflicting.contains(&f.enc) {
                vmcs_field::read(&mut d, &mut parts, f.enc, f.value);
            }
        }
        if self.repeats > 0 {
            let mut seen: Vec<String> = self
                .examples
                .iter()
                .map(|(name, a, b)| format!("{name} at lines {a} and {b}"))
                .collect();
            if self.repeats > seen.len() {
                seen.push(String::from("…"));
            }
            d.note(format!(
                "{} {} an earlier field with the same value ({}) between fields printed once: \
                 the lines of dumps printed at the same time (several vCPUs) are interleaved; a \
                 repeat that agrees is read once",
                self.repeats,
                if self.repeats == 1 {
                    "line repeats"
                } else {
                    "lines repeat"
                },
                seen.join(", ")
            ));
        }
        assemble(&mut d, &parts, SEGMENTS_APART);
        d
    }
}

/// Every HAXM dump in the words. A field printed again starts the next dump when the
/// field printed after it is one the dump has too (a dump printed again replays HAXM's
/// order); otherwise the lines are interleaved ([`Building::repeat`]).
#[must_use]
pub(crate) fn read(words: &mut Words<'_>) -> Vec<RawDump> {
    let all = field_lines(words);
    let mut out = Vec::new();
    let mut cur: Option<Building<'_>> = None;
    for (i, &f) in all.iter().enumerate() {
        if out.len() >= MAX_DUMPS {
            break;
        }
        if let Some(b) = cur.as_mut() {
            if let Some(&first) = b.fields.get(&f.enc) {
                let replayed = all
                    .get(i + 1)
                    .is_some_and(|next| b.fields.contains_key(&next.enc));
                if !replayed {
                    b.repeat(first, f);
                    continue;
                }
                if let Some(done) = cur.take() {
                    out.push(done.finish());
                }
            }
        }
        cur.get_or_insert_with(|| Building::new(f.line)).add(f);
    }
    if let Some(done) = cur {
        out.push(done.finish());
    }
    out.retain(|d| d.has_fields() || !d.partial_segments.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::SegReg;
    use crate::format::vmx::VmcsField;
    use crate::ingest::text::normalise;

    #[test]
    fn fields_are_read_by_encoding() {
        let text = "haxm_error: 4012 VMX_ENTRY_CONTROLS: 51ff\n\
                    haxm_error: 0802 GUEST_CS_SELECTOR: 10\nhaxm_error: 4802 GUEST_CS_LIMIT: ffffffff\n\
                    haxm_error: 4816 GUEST_CS_AR: a09b\nhaxm_error: 6808 GUEST_CS_BASE: 0\n\
                    haxm_error: 4824 GUEST_INTERRUPTIBILITY: 1\n";
        let d = read(&mut Words::new(&normalise(text)));
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        assert_eq!(g.controls.entry, Some(0x51ff));
        assert_eq!(g.interruptibility, Some(1));
        let cs = g.segments[SegReg::Cs].unwrap();
        assert_eq!(cs.selector.0, 0x10);
        assert!(cs.attributes.l);
        assert_eq!(g.segments[SegReg::Ss], None);
    }

    fn dumps(text: &str) -> Vec<RawDump> {
        read(&mut Words::new(&normalise(text)))
    }

    /// A paste of segment fields only, cut before the limits (intel/haxm#22, DebugView's
    /// prefix glued to the tag): read as a dump, each segment named by what it lacks and
    /// none made up with a limit of 0; the CPL from SS's access rights.
    #[test]
    fn segment_fields_alone_are_a_dump_named_not_guessed() {
        let mut text = String::new();
        for (reg, sel) in [("CS", 0x10), ("SS", 0x2b), ("DS", 0x2b)] {
            let r = SegReg::ALL.into_iter().find(|r| r.name() == reg).unwrap();
            text += &format!(
                "0000013715.19327641haxm_warning:{:04x} GUEST_{reg}_SELECTOR: {sel:x}\n",
                VmcsField::selector(r)
            );
        }
        text += "0000014415.19328594haxm_warning:4816 GUEST_CS_AR: a0fb\n\
                 0000014515.19328690haxm_warning:4818 GUEST_SS_AR: c0f3\n\
                 0000014615.19329739haxm_warning:6808 GUEST_CS_BASE: 0\n\
                 0000014715.19329834haxm_warning:680a GUEST_SS_BASE: 0\n";
        let d = dumps(&text);
        assert_eq!(d.len(), 1, "{d:?}");
        let d = &d[0];
        assert!(d.guest.has_no_segments(), "no segment without its limit");
        assert_eq!(d.guest.cpl, Some(crate::arch::PrivilegeLevel::Ring3));
        assert_eq!(d.partial_segments, [SegReg::Cs, SegReg::Ss, SegReg::Ds]);
        assert!(
            d.notes.iter().any(|n| n.starts_with(
                "CS, SS are not read: the dump has their selector, access rights and base but \
                 no limit"
            )),
            "{:?}",
            d.notes
        );
        assert!(
            d.notes.iter().any(|n| n.starts_with(
                "DS is not read: the dump has its selector but no access rights, base or limit"
            )),
            "{:?}",
            d.notes
        );
        assert!(
            d.notes
                .iter()
                .any(|n| n.starts_with("CPL 3 read from SS's access rights"))
        );
        // With the limits the same fields read whole, and no note remains.
        let whole = format!(
            "{text}haxm_warning: 4802 GUEST_CS_LIMIT: ffffffff\nhaxm_warning: 4804 GUEST_SS_LIMIT: \
             ffffffff\n"
        );
        let d = &dumps(&whole)[0];
        assert_eq!(d.guest.segments[SegReg::Cs].unwrap().limit, 0xffff_ffff);
        assert!(d.guest.segments[SegReg::Ss].is_some());
        assert_eq!(d.partial_segments, [SegReg::Ds]);
        assert!(
            !d.notes.iter().any(|n| n.starts_with("CPL")),
            "{:?}",
            d.notes
        );
    }

    /// Two dumps printed at once (intel/haxm#171): repeats that agree make one dump
    /// with a note; a field repeated with another value is named and not read; a dump
    /// printed again in HAXM's order is a second dump.
    #[test]
    fn interleaved_lines_are_one_dump_and_conflicts_are_not_read() {
        let interleaved = "haxm_warning: 6800 GUEST_CR0: 31\n\
                           haxm_warning: 4814 GUEST_ES_AR: c093\n\
                           haxm_warning: 6800 GUEST_CR0: 31\n\
                           haxm_warning: haxm_warning: 6802 GUEST_CR3: 0\n\
                           haxm_warning: 681e GUEST_RIP: 40008700\n\
                           6802 GUEST_CR3: 0\n\
                           haxm_warning: 0800 GUEST_ES_SELECTOR: 10\n";
        let d = dumps(interleaved);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].guest.cr0, d[0].guest.cr3), (Some(0x31), Some(0)));
        assert_eq!(d[0].lines.last, 7);
        assert!(
            d[0].notes.iter().any(|n| n.starts_with(
                "2 lines repeat an earlier field with the same value (GUEST_CR0 at lines 1 and \
                 3, GUEST_CR3 at lines 4 and 6)"
            )),
            "{:?}",
            d[0].notes
        );
        let differ = interleaved.replacen("6800 GUEST_CR0: 31", "6800 GUEST_CR0: 80000031", 1);
        let d = dumps(&differ);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].guest.cr0, None, "neither value is chosen");
        assert_eq!(d[0].guest.cr3, Some(0));
        assert!(
            d[0].notes
                .iter()
                .any(|n| n.starts_with("line 3: GUEST_CR0 is 0x31 here and 0x80000031 at line 1")),
            "{:?}",
            d[0].notes
        );
        // The same fields printed again in order: two dumps, each its own value.
        let twice = "haxm_warning: 6800 GUEST_CR0: 31\nhaxm_warning: 6802 GUEST_CR3: 0\n\
                     haxm_warning: 681e GUEST_RIP: 1000\n\
                     haxm_warning: 6800 GUEST_CR0: 31\nhaxm_warning: 6802 GUEST_CR3: 0\n\
                     haxm_warning: 681e GUEST_RIP: 2000\n";
        let d = dumps(twice);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(
            (d[0].guest.rip, d[1].guest.rip),
            (Some(0x1000), Some(0x2000))
        );
        assert!(d.iter().all(|x| x.notes.is_empty()), "{d:?}");
        assert_eq!((d[0].lines.first, d[1].lines.first), (1, 4));
    }

    /// A dump cut in the selectors after the registers (intel/haxm#304, syslog and
    /// dmesg prefixes): RIP, CR0 and CR4 are read; CS is named, not read.
    #[test]
    fn registers_before_the_segments_are_read() {
        let text = "Jun 16 15:07:09 localhost /netbsd: [ 1776.3439261] haxm_warning: 681e \
                    GUEST_RIP: fffff80105fd5590\n\
                    Jun 16 15:07:09 localhost /netbsd: [ 1776.3439261] haxm_warning: 6800 \
                    GUEST_CR0: 80050031\n\
                    Jun 16 15:07:09 localhost /netbsd: [ 1776.3439261] haxm_warning: 0802 \
                    GUEST_CS_SELECTOR: 10\n\
                    Jun 16 15:07:09 localhost /netbsd: [ 1776.3439261] haxm_warning: 080a GUEST_GS_SELECT\n";
        let d = dumps(text);
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        assert_eq!(g.rip, Some(0xffff_f801_05fd_5590));
        assert_eq!(g.cr0, Some(0x8005_0031));
        assert_eq!((g.segments[SegReg::Cs], g.cpl), (None, None));
        assert_eq!(d[0].partial_segments, [SegReg::Cs]);
    }
}
