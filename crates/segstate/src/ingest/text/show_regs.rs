//! qemu-kvm's register dump: `kvm_show_regs` with `print_seg` and `print_dt`, in
//! qemu-kvm's `qemu-kvm-x86.c` (qemu-kvm 0.10 to 1.x, among them RHEL/CentOS 6's
//! `/usr/libexec/qemu-kvm`, qemu-kvm-0.12.1.2) and before it kvm-userspace's
//! `libkvm/libkvm-x86.c`. qemu-kvm's `kvm_handle_internal_error` (`qemu-kvm.c`) prints
//! it after "KVM internal error. Suberror: N" and the `extra data[i]` lines, and
//! `kvm_run` after "exception N (E)" and "unhandled vm exit: 0x…". A third printout of
//! `struct kvm_sregs` (dialect `KvmSregsPrint`, next to [`super::sregs`]'s two), one
//! line per `fprintf`:
//!
//! ```text
//! rax %016llx rbx %016llx rcx %016llx rdx %016llx     (rsi rdi rsp rbp, r8  r9  r10
//! …                                                    r11, r12 r13 r14 r15 alike)
//! rip %016llx rflags %08llx
//! cs %04x (%08llx/%08x p %d dpl %d db %d s %d type %x l %d g %d avl %d)
//! …                                                    (ds es ss fs gs tr ldt alike)
//! gdt %llx/%x                                          (and idt)
//! cr0 %llx cr2 %llx cr3 %llx cr4 %llx cr8 %llx efer %llx
//! ```
//!
//! Selector, base, limit and type are hexadecimal without `0x`; p, dpl, db, s, l, g
//! and avl decimal. The words are read by that grammar, so a value wrapped onto the
//! next line by the paste (`rdx` ending one line, its value starting the next) reads
//! like any other. A segment is recognised only as a lower-case name, a selector of
//! exactly four hex digits and a word opening with `(`, so no other dialect's segment
//! line (QEMU's `CS =0008`, `dump_vmcs`'s `CS:`, `dump_vmcb`'s `cs:`) is taken for one;
//! a segment cut before its `)` is named in a note, not read.
//!
//! `print_seg` prints no `unusable`. It is read as 0, with `p` as printed: that is the
//! `kvm_segment` this qemu-kvm handed back to KVM_SET_SREGS (its `set_seg` sets
//! `unusable = 0` for every segment; its `get_seg` keeps no such field), so the state
//! is the one KVM was given. An unusable segment is not lost by this: the KVM of that
//! era (`vmx_get_segment` in Linux up to 3.x: `if ((ar & AR_UNUSABLE_MASK) &&
//! !emulate_invalid_guest_state) ar = 0;`) reported it with every attribute zero, so
//! it prints, and went back, as `p 0`, which is read as not usable.
//!
//! The state model holds RIP, RFLAGS, CR0, CR3, CR4, EFER, GDTR, IDTR and the
//! segments (CPL from SS.DPL, as KVM_SET_SREGS takes it); the other registers are read
//! past by their grammar (a cut one is named) and not kept.

use alloc::format;
use alloc::vec::Vec;

use super::Words;
use super::printout::{Printouts, unusable_unprinted};
use crate::arch::SegReg;
use crate::ingest::log::RawDump;

/// The `kvm_regs` names `kvm_show_regs` prints before a `%016llx` value.
const WIDE: [&str; 17] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15", "rip",
];

/// The `print_seg` keys after `(base/limit`, in print order: `type` is `%x`, the others
/// `%d`.
const SEGMENT_KEYS: [&str; 8] = ["p", "dpl", "db", "s", "type", "l", "g", "avl"];

/// The last line's registers, in print order, each `%llx`.
const CONTROL: [&str; 6] = ["cr0", "cr2", "cr3", "cr4", "cr8", "efer"];

/// The most lines between two fields of one printout: it is one block of 15 lines,
/// a wrapped value adds one; a field further on starts another printout, so a stray
/// `rip …` elsewhere in a log is not merged into a dump.
const MAX_GAP: usize = 3;

/// Hex digits only (no `0x`, as `%x` prints them), `min..=max` of them.
fn bare_hex(s: &str, min: usize, max: usize) -> Option<u64> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// A `%d` of a `kvm_segment` byte.
fn decimal(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The reader's state over one log.
struct Reader<'a> {
    p: Printouts<'a>,
}

impl<'a> Reader<'a> {
    /// `name %016llx` (and `rflags %08llx`): RIP and RFLAGS are kept.
    fn register(&mut self, name: &'a str, line: usize, words: &mut Words<'a>) {
        let min = if name == "rflags" { 8 } else { 16 };
        let Some(value) = words.peek(0).and_then(|v| bare_hex(v.text, min, 16)) else {
            self.p.note(line, &format!("{name} is cut short: not read"));
            return;
        };
        let at = words.peek(0).map_or(line, |v| v.line);
        words.skip(1);
        let d = self.p.dump(name, line);
        d.lines.extend_to(at);
        match name {
            "rip" => d.guest.rip = Some(value),
            "rflags" => d.guest.rflags = Some(value),
            _ => {}
        }
    }

    /// `gdt %llx/%x`, `idt %llx/%x`.
    fn table(&mut self, name: &'a str, line: usize, words: &mut Words<'a>) {
        let parsed = words.peek(0).and_then(|v| {
            let (base, limit) = v.text.split_once('/')?;
            Some((bare_hex(base, 1, 16)?, bare_hex(limit, 1, 4)?, v.line))
        });
        let Some((base, limit, at)) = parsed else {
            self.p
                .note(line, &format!("the {name} entry is cut short: not read"));
            return;
        };
        words.skip(1);
        let d = self.p.dump(name, line);
        d.lines.extend_to(at);
        if let Some(field) = super::table_field(&mut d.guest, name) {
            *field = Some(super::dtable(base, limit));
        }
    }

    /// `cr0 … efer …`: the registers in print order up to the first one missing; the
    /// printout ends with it.
    fn control(&mut self, line: usize, words: &mut Words<'a>) {
        let mut read = 0;
        for key in CONTROL {
            let (Some(k), Some(v)) = (words.peek(0), words.peek(1)) else {
                break;
            };
            let Some(value) = bare_hex(v.text, 1, 16).filter(|_| k.text == key) else {
                break;
            };
            words.skip(2);
            read += 1;
            let d = self.p.dump(key, line);
            d.lines.extend_to(v.line);
            if let Some(field) = super::register_field(&mut d.guest, key) {
                *field = Some(value);
            }
        }
        if read < CONTROL.len() {
            let missing = CONTROL.get(read..).unwrap_or_default().join(", ");
            self.p.note(
                line,
                &format!("the control-register line is cut short (no {missing})"),
            );
        }
        self.p.close();
    }

    /// `cs 0008 (00000000/ffffffff p 1 dpl 0 db 0 s 1 type b l 1 g 1 avl 0)`: the
    /// cursor is on the selector, the word after it opens with `(`.
    fn segment(&mut self, name: &'a str, reg: SegReg, line: usize, words: &mut Words<'a>) {
        let selector = words.peek(0).and_then(|w| bare_hex(w.text, 4, 4));
        let span = words.peek(1).and_then(|w| {
            let (base, limit) = w.text.strip_prefix('(')?.split_once('/')?;
            Some((bare_hex(base, 8, 16)?, bare_hex(limit, 8, 8)?))
        });
        words.skip(2);
        let (Some(selector), Some((base, limit))) = (selector, span) else {
            self.p.dump(name, line);
            self.p.note(
                line,
                &format!("the {name} entry's (base/limit) is not `(%08llx/%08x`: not read"),
            );
            return;
        };
        let mut values = [0u8; SEGMENT_KEYS.len()];
        let mut last = line;
        for (i, key) in SEGMENT_KEYS.into_iter().enumerate() {
            let closes = i + 1 == SEGMENT_KEYS.len();
            let value = match (words.peek(0), words.peek(1)) {
                (Some(k), Some(v)) if k.text == key => {
                    last = v.line;
                    let text = if closes {
                        v.text.strip_suffix(')')
                    } else {
                        Some(v.text)
                    };
                    text.and_then(|t| {
                        if key == "type" {
                            bare_hex(t, 1, 2).and_then(|x| u8::try_from(x).ok())
                        } else {
                            decimal(t)
                        }
                    })
                }
                _ => None,
            };
            let Some(value) = value else {
                let missing = SEGMENT_KEYS.get(i..).unwrap_or_default().join(", ");
                self.p.dump(name, line);
                self.p.note(
                    line,
                    &format!("the {name} entry is cut short (no {missing}): not read"),
                );
                return;
            };
            values[i] = value;
            words.skip(2);
        }
        let [present, dpl, db, s, type_, l, g, avl] = values;
        let raw = unusable_unprinted(
            base,
            limit,
            selector,
            type_,
            [present, dpl, db, s, l, g, avl],
        );
        let d = self.p.dump(name, line);
        d.lines.extend_to(last);
        super::put_kvm_segment(d, reg, raw, line, name);
    }
}

/// Every `kvm_show_regs` printout in the words.
#[must_use]
pub fn read<'a>(words: &mut Words<'a>) -> Vec<RawDump> {
    let mut r = Reader {
        p: Printouts::new(MAX_GAP),
    };
    while let Some(w) = words.next_word() {
        if r.p.full() {
            break;
        }
        let (name, line) = (w.text, w.line);
        if let Some(reg) = SegReg::from_kvm_name(name) {
            let selector = words
                .peek(0)
                .is_some_and(|n| bare_hex(n.text, 4, 4).is_some());
            let opens = words.peek(1).is_some_and(|n| n.text.starts_with('('));
            if selector && opens {
                r.segment(name, reg, line, words);
            }
            continue;
        }
        match name {
            "gdt" | "idt" => r.table(name, line, words),
            // Only with a value: a word `cr0` alone is not this dialect's.
            "cr0"
                if words
                    .peek(0)
                    .is_some_and(|v| bare_hex(v.text, 1, 16).is_some()) =>
            {
                words.rewind(words.pos().saturating_sub(1));
                r.control(line, words);
            }
            "rflags" => r.register(name, line, words),
            _ if WIDE.contains(&name) => r.register(name, line, words),
            _ => {}
        }
    }
    r.p.close();
    r.p.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{DescriptorTable, PrivilegeLevel};
    use crate::format::kvm::KvmSegment;
    use crate::ingest::text::normalise;

    fn read_text(t: &str) -> Vec<RawDump> {
        let lines = normalise(t);
        read(&mut Words::new(&lines))
    }

    /// The OSv #566 printout (qemu-kvm-0.12.1.2 on CentOS 6), its GPR lines wrapped by
    /// the paste as the thread shows them.
    const OSV: &str = "\
KVM internal error.Suberror: 2
extra data[0]: 80000202
rax 0000000000000000 rbx 0000000000000048 rcx 00000000000001a6 rdx
00000000006a3c8a
rsi 0000000000000001 rdi 0000000000001000 rsp 0000000000dedba0 rbp
0000000000dedba0
r8  fffffffffffff8d8 r9  ffff900000f1c000 r10 0000000000000000 r11
0000000000000001
r12 0000000000000010 r13 00000000006a3c8a r14 00000000000001a6 r15
0000000000000040
rip 00000000003d721c rflags 00000006
cs 0008 (00000000/ffffffff p 1 dpl 0 db 0 s 1 type b l 1 g 1 avl 0)
ds 0010 (00000000/ffffffff p 1 dpl 0 db 1 s 1 type 3 l 0 g 1 avl 0)
es 0010 (00000000/ffffffff p 1 dpl 0 db 1 s 1 type 3 l 0 g 1 avl 0)
ss 0010 (00000000/ffffffff p 1 dpl 0 db 1 s 1 type 3 l 0 g 1 avl 0)
fs 0010 (00ea5e40/ffffffff p 1 dpl 0 db 1 s 1 type 3 l 0 g 1 avl 0)
gs 0010 (00000000/ffffffff p 1 dpl 0 db 1 s 1 type 3 l 0 g 1 avl 0)
tr 0000 (00000000/0000ffff p 1 dpl 0 db 0 s 0 type b l 0 g 0 avl 0)
ldt 0000 (00000000/0000ffff p 1 dpl 0 db 0 s 0 type 2 l 0 g 0 avl 0)
gdt a25000/1f
idt 0/3ff
cr0 80010011 cr2 0 cr3 eae000 cr4 7b8 cr8 0 efer d00
";

    #[test]
    fn every_field_reads_to_its_value_across_wrapped_registers() {
        let d = read_text(OSV);
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        assert_eq!((d.lines.first, d.lines.last), (3, 22));
        let g = &d.guest;
        assert_eq!(g.rip, Some(0x3d_721c));
        assert_eq!(g.rflags, Some(6));
        assert_eq!(g.cr0, Some(0x8001_0011));
        assert_eq!(g.cr3, Some(0xea_e000));
        assert_eq!(g.cr4, Some(0x7b8));
        assert_eq!(g.efer, Some(0xd00));
        assert_eq!(
            g.gdtr,
            Some(DescriptorTable {
                base: 0xa2_5000,
                limit: 0x1f
            })
        );
        assert_eq!(
            g.idtr,
            Some(DescriptorTable {
                base: 0,
                limit: 0x3ff
            })
        );
        assert_eq!(g.cpl, Some(PrivilegeLevel::Ring0));
        for reg in SegReg::ALL {
            assert!(g.segments[reg].is_some(), "{reg}");
        }
        let k = |r: SegReg| KvmSegment::from(g.segments[r].unwrap());
        let cs = k(SegReg::Cs);
        assert_eq!((cs.selector, cs.base, cs.limit), (8, 0, 0xffff_ffff));
        assert_eq!(
            (
                cs.present,
                cs.dpl,
                cs.db,
                cs.s,
                cs.type_,
                cs.l,
                cs.g,
                cs.avl,
                cs.unusable
            ),
            (1, 0, 0, 1, 0xb, 1, 1, 0, 0)
        );
        let fs = k(SegReg::Fs);
        assert_eq!(
            (fs.selector, fs.base, fs.db, fs.type_, fs.l),
            (0x10, 0xea_5e40, 1, 3, 0)
        );
        let tr = k(SegReg::Tr);
        assert_eq!((tr.limit, tr.s, tr.type_, tr.g), (0xffff, 0, 0xb, 0));
        let ldt = k(SegReg::Ldtr);
        assert_eq!((ldt.selector, ldt.type_, ldt.present), (0, 2, 1));
    }

    #[test]
    fn a_not_present_segment_reads_as_not_usable() {
        let d = read_text("ss 0000 (00000000/00000000 p 0 dpl 3 db 0 s 0 type 0 l 0 g 0 avl 0)\n");
        let ss = d[0].guest.segments[SegReg::Ss].unwrap();
        assert!(!ss.is_usable());
        assert_eq!(d[0].guest.cpl, Some(PrivilegeLevel::Ring3));
    }

    #[test]
    fn a_cut_segment_or_line_is_named_and_not_read() {
        let cut = OSV.replace(
            "gs 0010 (00000000/ffffffff p 1 dpl 0 db 1 s 1 type 3 l 0 g 1 avl 0)",
            "gs 0010 (00000000/ffffffff p 1 dpl 0 db 1 s",
        );
        let d = read_text(&cut);
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        assert!(g.segments[SegReg::Gs].is_none());
        // The segment after the cut one still reads.
        assert!(g.segments[SegReg::Tr].is_some());
        assert!(
            d[0].notes.iter().any(
                |n| n == "line 17: the gs entry is cut short (no s, type, l, g, avl): not read"
            ),
            "{:?}",
            d[0].notes
        );
        // No closing parenthesis: cut at the last value.
        let d = read_text("cs 0008 (00000000/ffffffff p 1 dpl 0 db 0 s 1 type b l 1 g 1 avl 0\n");
        assert!(d.is_empty());
        // The control-register line cut after cr4: CR0..CR4 read, EFER named.
        let cut = OSV.replace("cr8 0 efer d00", "");
        let d = read_text(&cut);
        assert_eq!((d[0].guest.cr4, d[0].guest.efer), (Some(0x7b8), None));
        assert!(
            d[0].notes
                .iter()
                .any(|n| n.contains("control-register line is cut short (no cr8, efer)")),
            "{:?}",
            d[0].notes
        );
        // A register whose wrapped value was lost.
        let cut = OSV.replace("rip 00000000003d721c", "rip 0000003d721c");
        let d = read_text(&cut);
        assert_eq!(d[0].guest.rip, None);
        assert!(
            d[0].notes
                .iter()
                .any(|n| n == "line 11: rip is cut short: not read")
        );
    }

    #[test]
    fn a_printout_printed_twice_is_two_dumps() {
        let twice = format!("{OSV}{OSV}");
        let d = read_text(&twice);
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].lines.first, 25);
    }

    #[test]
    fn other_dialects_segment_lines_are_not_taken() {
        let others = "CS =0008 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]\n\
                      CS:   sel=0x0008, attr=0x0a09b, limit=0xffffffff, base=0x0\n\
                      cs:   s: 0008 a: 029b l: ffffffff b: 0000000000000000\n\
                      (XEN)   CS: 0008 0a09b ffffffff 0000000000000000\n\
                      cs             0x8                 8\n\
                      rip            0x3d721c            0x3d721c\n\
                      cs 0008 00000000/ffffffff p 1\n\
                      gdt: a25000/1f cr0: 80010011\n";
        assert!(read_text(others).is_empty());
    }
}
