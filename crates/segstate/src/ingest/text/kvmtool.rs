//! kvmtool's register dump and its copies: `kvm_cpu__show_registers` with
//! `print_segment` and `print_dtable` in kvmtool's `x86/kvm-cpu.c` (read at commit
//! b48735e5d562; the layout dates from 2010, "Improve KVM register dump output"), which
//! `lkvm` prints on a KVM_EXIT_DEBUG, an unknown exit or a guest panic, and which
//! Solo5's ukvm/hvt, uhyve, ehyve and other small VMMs copied with their own
//! `dump_registers`. A fourth printout
//! of `struct kvm_sregs` (dialect `KvmSregsPrint`, beside [`super::sregs`] and
//! [`super::show_regs`]), one `dprintf` a line:
//!
//! ```text
//!  rip: %016lx   rsp: %016lx flags: %016lx      (then rax … r15, three a line)
//!  cr0: %016lx   cr2: %016lx   cr3: %016lx
//!  cr4: %016lx   cr8: %016lx
//!  Segment registers:
//!  register  selector  base              limit     type  p dpl db s l g avl
//!  cs        %04hx      %016llx  %08x  %02hhx    %x %x   %x  %x %x %x %x
//!  …                                                (ss ds es fs gs tr ldt alike)
//!  gdt                 %016llx  %08hx            (and idt)
//!  efer: %016llx  apic base: %016llx  nmi: %s     (under `APIC:`)
//! ```
//!
//! The copies keep the table's columns and differ around it: Solo5's ukvm prints the
//! control registers and the table only (no `efer:`), uhyve's Rust `Display` prints
//! the same rows without the leading space, its later form `rflags:` and `efer:` as
//! `{:#18x}` (`0x`, no zero padding, `efer:0x…` glued when the value fills the
//! column), and an early uhyve labels the IDT's row `gdt` a second time. Each row's
//! values are read at the widths printed, so a row cut by its poster or a value of
//! another width is named in a note and not read, never guessed; a table that stops
//! before its last row says which rows the paste lacks. A row is recognised only as a
//! lower-case register name, a four-digit selector and a sixteen-digit base (or, inside
//! a dump being read, the selector alone), so no other dialect's line is taken for one.
//!
//! The table prints no `unusable`: it is read as qemu-kvm's is, 0 with `p` as printed
//! (`super::printout::unusable_unprinted` says why that is the state KVM gave and would
//! enter), and the CPL is SS.DPL, as KVM_SET_SREGS takes it.

use alloc::format;
use alloc::vec::Vec;

use super::printout::{Printouts, unusable_unprinted};
use super::{Words, hex, hex_width};
use crate::arch::SegReg;
use crate::ingest::log::RawDump;

/// The table's rows in print order: the eight segments, then the two tables.
const ROWS: [&str; 10] = [
    "cs", "ss", "ds", "es", "fs", "gs", "tr", "ldt", "gdt", "idt",
];

/// The `%x` columns after a segment's type, in print order.
const FLAGS: [&str; 7] = ["p", "dpl", "db", "s", "l", "g", "avl"];

/// The most lines between two fields of one dump: kvmtool puts a blank line and a
/// two-line heading between its blocks (`Segment registers:`, `APIC:`). A field
/// further on starts another dump, so a stray `rip:` elsewhere in a log is not merged
/// into one.
const MAX_GAP: usize = 5;

/// The `name:` words the dump prints before a register's value, as the state names
/// the register (`flags:` and `rflags:` are RFLAGS); the general registers, CR2 and
/// CR8 are read past, not kept ([`super::register_field`] has no field for them).
const SCALARS: [(&str, &str); 25] = [
    ("rip", "rip"),
    ("rsp", "rsp"),
    ("flags", "rflags"),
    ("rflags", "rflags"),
    ("rax", "rax"),
    ("rbx", "rbx"),
    ("rcx", "rcx"),
    ("rdx", "rdx"),
    ("rsi", "rsi"),
    ("rdi", "rdi"),
    ("rbp", "rbp"),
    ("r8", "r8"),
    ("r9", "r9"),
    ("r10", "r10"),
    ("r11", "r11"),
    ("r12", "r12"),
    ("r13", "r13"),
    ("r14", "r14"),
    ("r15", "r15"),
    ("cr0", "cr0"),
    ("cr2", "cr2"),
    ("cr3", "cr3"),
    ("cr4", "cr4"),
    ("cr8", "cr8"),
    ("efer", "efer"),
];

/// A `name:` word of the dump: the register it names, and a value glued to it
/// (`efer:0x…`).
fn scalar(word: &str) -> Option<(&'static str, Option<&str>)> {
    let (key, glued) = word.split_once(':')?;
    let &(_, field) = SCALARS.iter().find(|(k, _)| *k == key)?;
    Some((field, Some(glued).filter(|g| !g.is_empty())))
}

/// A register's value as the copies print it: `%016lx` (sixteen digits), or Rust's
/// `{:#18x}` (`0x` and one to sixteen digits).
fn value(word: &str) -> Option<u64> {
    if word.starts_with("0x") {
        hex(word)
    } else {
        hex_width(word, &[16])
    }
}

/// The reader's state over one log.
struct Reader<'a> {
    p: Printouts<'a>,
    /// The table's rows met in the dump being read (read or named as cut), with the
    /// line of the last.
    rows: Vec<&'a str>,
    last_row: usize,
}

impl<'a> Reader<'a> {
    /// The dump a field named `name` on `line` belongs to: the current one, or a new
    /// one when the name was read already or the field is too far on.
    fn dump(&mut self, name: &'a str, line: usize) -> &mut RawDump {
        if self.p.starts_another(name, line) {
            self.close();
        }
        self.p.open(name, line)
    }

    /// A row of the table met on `line`, read or not.
    fn row(&mut self, name: &'a str, line: usize) {
        self.rows.push(name);
        self.last_row = line;
    }

    /// Ends the dump being read ([`Printouts::close`]); a table that stops before its
    /// last row says which rows the paste lacks.
    fn close(&mut self) {
        let last = ROWS
            .iter()
            .rposition(|r| self.rows.contains(r))
            .map_or(ROWS.len(), |i| i + 1);
        if let (Some(d), Some(missing)) = (
            self.p.cur.as_mut(),
            ROWS.get(last..).filter(|m| !m.is_empty()),
        ) {
            d.note(format!(
                "line {}: the segment table stops after `{}`: {} not in the paste",
                self.last_row,
                ROWS[last - 1],
                missing.join(", ")
            ));
        }
        self.p.close();
        self.rows.clear();
    }

    /// `name: value` (or `efer:0x…` glued): a register, kept when the state has it.
    fn scalar(
        &mut self,
        field: &'a str,
        glued: Option<&'a str>,
        line: usize,
        words: &mut Words<'a>,
    ) {
        let (text, at) = match glued {
            Some(g) => (Some(g), line),
            None => {
                let next = words.peek(0);
                (next.map(|w| w.text), next.map_or(line, |w| w.line))
            }
        };
        let Some(v) = text.and_then(value) else {
            self.p.note(
                line,
                &format!("`{field}:` has no value in the `%016lx` form: not read"),
            );
            return;
        };
        if glued.is_none() {
            words.skip(1);
        }
        let d = self.dump(field, line);
        d.lines.extend_to(at);
        if let Some(f) = super::register_field(&mut d.guest, field) {
            *f = Some(v);
        }
    }

    /// `gdt  %016llx  %08hx`: the cursor is on the base.
    fn table(&mut self, name: &'a str, line: usize, words: &mut Words<'a>) {
        let base = words.peek(0).and_then(|w| hex_width(w.text, &[16]));
        let limit = words
            .peek(1)
            .and_then(|w| hex_width(w.text, &[8]).map(|v| (v, w.line)));
        let again = name == "gdt" && self.rows.last() == Some(&"gdt");
        if again {
            // An early uhyve's `show_registers` labels the IDT's row `gdt` too.
            words.skip(2);
            self.row("idt", line);
            self.p.note(
                line,
                "a second `gdt` row where the table prints `idt` (an early uhyve copy labels \
                 the IDT so): not read",
            );
            return;
        }
        let (Some(base), Some((limit, at))) = (base, limit) else {
            words.skip(1);
            if self.p.within(line) {
                self.row(name, line);
            }
            self.p.note(
                line,
                &format!("the {name} row is cut short (no limit in the `%08hx` form): not read"),
            );
            return;
        };
        words.skip(2);
        let d = self.dump(name, line);
        d.lines.extend_to(at);
        if let Some(field) = super::table_field(&mut d.guest, name) {
            *field = Some(super::dtable(base, limit));
        }
        self.row(name, line);
    }

    /// `cs  %04hx  %016llx  %08x  %02hhx  %x %x %x %x %x %x %x`: the cursor is on the
    /// selector.
    fn segment(&mut self, name: &'a str, reg: SegReg, line: usize, words: &mut Words<'a>) {
        let mut at = line;
        let mut take = |widths: &[usize]| {
            let w = words.peek(0)?;
            let v = hex_width(w.text, widths)?;
            at = w.line;
            words.skip(1);
            Some(v)
        };
        let selector = take(&[4]);
        let base = take(&[16]);
        let limit = take(&[8]);
        let type_ = take(&[2]);
        let mut flags = [0u8; FLAGS.len()];
        let mut lacks = None;
        for (i, slot) in flags.iter_mut().enumerate() {
            match take(&[1, 2]).and_then(|v| u8::try_from(v).ok()) {
                Some(v) => *slot = v,
                None => {
                    lacks = Some(i);
                    break;
                }
            }
        }
        let head = [
            ("selector", selector),
            ("base", base),
            ("limit", limit),
            ("type", type_),
        ];
        let missing: Vec<&str> = match head.iter().position(|(_, v)| v.is_none()) {
            Some(i) => head[i..]
                .iter()
                .map(|(k, _)| *k)
                .chain(FLAGS.iter().copied())
                .collect(),
            None => lacks.map_or_else(Vec::new, |i| FLAGS[i..].to_vec()),
        };
        self.dump(name, line);
        self.row(name, line);
        let (Some(selector), Some(base), Some(limit), Some(type_), true) =
            (selector, base, limit, type_, missing.is_empty())
        else {
            self.p.note(
                line,
                &format!(
                    "the {name} row is cut short or not in kvmtool's widths (no {}): not read",
                    missing.join(", ")
                ),
            );
            return;
        };
        let type_ = u8::try_from(type_).unwrap_or(u8::MAX);
        let raw = unusable_unprinted(base, limit, selector, type_, flags);
        let Some(d) = self.p.cur.as_mut() else {
            return;
        };
        d.lines.extend_to(at);
        super::put_kvm_segment(d, reg, raw, line, name);
    }
}

/// Every kvmtool-style register dump in the words.
#[must_use]
pub fn read<'a>(words: &mut Words<'a>) -> Vec<RawDump> {
    let mut r = Reader {
        p: Printouts::new(MAX_GAP),
        rows: Vec::new(),
        last_row: 0,
    };
    while let Some(w) = words.next_word() {
        if r.p.full() {
            break;
        }
        let (text, line) = (w.text, w.line);
        let same_line = |n: Option<super::words::Word<'_>>| n.is_some_and(|n| n.line == line);
        if let Some(reg) = SegReg::from_kvm_name(text) {
            let selector = words
                .peek(0)
                .filter(|n| n.line == line)
                .is_some_and(|n| hex_width(n.text, &[4]).is_some());
            let base = words
                .peek(1)
                .is_some_and(|n| hex_width(n.text, &[16]).is_some());
            if selector && (base || r.p.within(line)) {
                r.segment(text, reg, line, words);
            }
            continue;
        }
        if matches!(text, "gdt" | "idt") {
            let base = same_line(words.peek(0))
                && words
                    .peek(0)
                    .is_some_and(|n| hex_width(n.text, &[16]).is_some());
            if base {
                r.table(text, line, words);
            }
            continue;
        }
        if let Some((field, glued)) = scalar(text) {
            r.scalar(field, glued, line, words);
        }
    }
    r.close();
    r.p.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{DescriptorTable, PrivilegeLevel};
    use crate::format::kvm::KvmSegment;
    use crate::ingest::log::MAX_DUMPS;
    use crate::ingest::text::normalise;

    fn read_text(t: &str) -> Vec<RawDump> {
        let lines = normalise(t);
        read(&mut Words::new(&lines))
    }

    /// kvmtool's own dump of a 64-bit guest, every block as `kvm_cpu__show_registers`
    /// prints it.
    const LKVM: &str = "
 Registers:
 ----------
 rip: ffffffff81000010   rsp: ffffffff82003f58 flags: 0000000000010046
 rax: 0000000000000000   rbx: 0000000000000000   rcx: 0000000000000000
 rdx: 0000000000000000   rsi: 0000000000000000   rdi: 0000000000000000
 rbp: 0000000000000000    r8: 0000000000000000    r9: 0000000000000000
 r10: 0000000000000000   r11: 0000000000000000   r12: 0000000000000000
 r13: 0000000000000000   r14: 0000000000000000   r15: 0000000000000000
 cr0: 0000000080050033   cr2: 0000000000000000   cr3: 0000000001a0a000
 cr4: 00000000000006b0   cr8: 0000000000000000

 Segment registers:
 ------------------
 register  selector  base              limit     type  p dpl db s l g avl
 cs        0010      0000000000000000  ffffffff  0b    1 0   0  1 1 1 0
 ss        0018      0000000000000000  ffffffff  03    1 0   1  1 0 1 0
 ds        0018      0000000000000000  ffffffff  03    1 0   1  1 0 1 0
 es        0018      0000000000000000  ffffffff  03    1 0   1  1 0 1 0
 fs        0000      0000000000000000  ffffffff  00    0 0   0  0 0 0 0
 gs        0000      ffff888000000000  ffffffff  00    0 0   0  0 0 0 0
 tr        0040      fffffe0000003000  00004087  0b    1 0   0  0 0 0 0
 ldt       0000      0000000000000000  ffffffff  00    0 0   0  0 0 0 0
 gdt                 fffffe0000001000  0000007f
 idt                 fffffe0000000000  00000fff

 APIC:
 -----
 efer: 0000000000000d01  apic base: 00000000fee00900  nmi: enabled

 Interrupt bitmap:
 -----------------
 0000000000000000 0000000000000000 0000000000000000 0000000000000000

 Code:
 -----
 rip: [<ffffffff81000010>] <unknown>
";

    #[test]
    fn every_block_reads_to_its_fields() {
        let d = read_text(LKVM);
        assert_eq!(d.len(), 1, "{d:?}");
        let d = &d[0];
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        assert_eq!((d.lines.first, d.lines.last), (4, 29));
        let g = &d.guest;
        assert_eq!(g.rip, Some(0xffff_ffff_8100_0010));
        assert_eq!(g.rflags, Some(0x10046));
        assert_eq!(
            (g.cr0, g.cr3, g.cr4),
            (Some(0x8005_0033), Some(0x1a0_a000), Some(0x6b0))
        );
        assert_eq!(g.efer, Some(0xd01));
        assert_eq!(
            g.gdtr,
            Some(DescriptorTable {
                base: 0xffff_fe00_0000_1000,
                limit: 0x7f
            })
        );
        assert_eq!(g.idtr.map(|t| t.limit), Some(0xfff));
        assert_eq!(g.cpl, Some(PrivilegeLevel::Ring0));
        for reg in SegReg::ALL {
            assert!(g.segments[reg].is_some(), "{reg}");
        }
        let k = |r: SegReg| KvmSegment::from(g.segments[r].unwrap());
        let cs = k(SegReg::Cs);
        assert_eq!(
            (cs.selector, cs.type_, cs.present, cs.db, cs.s, cs.l, cs.g),
            (0x10, 0xb, 1, 0, 1, 1, 1)
        );
        assert_eq!(k(SegReg::Gs).base, 0xffff_8880_0000_0000);
        // Not present: read as not usable (module doc).
        assert!(!g.segments[SegReg::Fs].unwrap().is_usable());
        let tr = k(SegReg::Tr);
        assert_eq!((tr.limit, tr.s, tr.type_), (0x4087, 0, 0xb));
    }

    #[test]
    fn the_copies_forms_read_alike() {
        // uhyve's Display: no leading space, `rflags:`; its later `{:#18x}` values;
        // Solo5's ukvm: control registers and the table only.
        let uhyve = LKVM
            .lines()
            .map(|l| l.trim_start())
            .collect::<Vec<_>>()
            .join("\n")
            .replace("flags: 0000000000010046", "rflags:            0x10046")
            .replace("efer: 0000000000000d01", "efer:0x0000000000000d01");
        let d = read_text(&uhyve);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].guest, read_text(LKVM)[0].guest);
        let from = LKVM.find(" cr0:").unwrap();
        let to = LKVM.find("\n\n APIC:").unwrap();
        let ukvm = &LKVM[from..to];
        let d = read_text(ukvm);
        assert_eq!(d.len(), 1, "{ukvm}");
        assert_eq!((d[0].guest.efer, d[0].guest.rip), (None, None));
        assert!(d[0].notes.is_empty(), "{:?}", d[0].notes);
    }

    #[test]
    fn a_cut_row_or_table_is_named_and_not_read() {
        // Cut inside the gs row: the rows after it are missing too.
        let at = LKVM
            .find(" gs        0000      ffff888000000000  ffffffff  00    0")
            .unwrap();
        let cut = &LKVM[..at + 58];
        let d = read_text(cut);
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        assert!(g.segments[SegReg::Fs].is_some());
        assert!(g.segments[SegReg::Gs].is_none());
        assert_eq!(
            d[0].notes,
            [
                "line 21: the gs row is cut short or not in kvmtool's widths (no db, s, l, g, \
                 avl): not read",
                "line 21: the segment table stops after `gs`: tr, ldt, gdt, idt not in the paste",
            ]
        );
        // A value of another width (a limit of five digits) is not read.
        let odd = LKVM.replace(
            "0010      0000000000000000  ffffffff",
            "0010      0000000000000000  fffff",
        );
        let d = read_text(&odd);
        assert!(d[0].guest.segments[SegReg::Cs].is_none());
        assert!(
            d[0].notes[0].contains("the cs row is cut short or not in kvmtool's widths (no limit,"),
            "{:?}",
            d[0].notes
        );
        // A descriptor table without its limit, a register without its value.
        let cut = LKVM
            .replace("fffffe0000000000  00000fff", "fffffe0000000000")
            .replace("cr4: 00000000000006b0", "cr4: 6b0");
        let d = read_text(&cut);
        assert_eq!((d[0].guest.idtr, d[0].guest.cr4), (None, None));
        assert!(
            d[0].notes.iter().any(|n| n
                == "line 25: the idt row is cut short (no limit in the `%08hx` form): not read"),
            "{:?}",
            d[0].notes
        );
        assert!(
            d[0].notes
                .iter()
                .any(|n| n == "line 11: `cr4:` has no value in the `%016lx` form: not read"),
            "{:?}",
            d[0].notes
        );
    }

    #[test]
    fn the_idt_labelled_gdt_is_named_not_read() {
        let d = read_text(&LKVM.replace(" idt        ", " gdt        "));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].guest.idtr, None);
        assert!(d[0].guest.gdtr.is_some());
        assert!(
            d[0].notes[0].contains("a second `gdt` row"),
            "{:?}",
            d[0].notes
        );
    }

    #[test]
    fn a_dump_printed_twice_is_two_dumps_and_garbage_is_bounded() {
        let twice = format!("{LKVM}{LKVM}");
        assert_eq!(read_text(&twice).len(), 2);
        let many = LKVM.repeat(MAX_DUMPS + 3);
        assert_eq!(read_text(&many).len(), MAX_DUMPS);
        for junk in [
            "cs 0008",
            "gdt 0000000000000000",
            "efer:",
            "cs 0008 0000000000000000 ffffffff 0b 1 0 0 1 1 1 1ff",
            "flags: 0x",
        ] {
            let _ = read_text(junk);
        }
    }

    #[test]
    fn other_dialects_lines_are_not_taken() {
        let others = "cs 0008 (00000000/ffffffff p 1 dpl 0 db 0 s 1 type b l 1 g 1 avl 0)\n\
                      gdt a25000/1f\n\
                      cs:   s: 0008 a: 029b l: ffffffff b: 0000000000000000\n\
                      cs             0x8                 8\n\
                      CS =0008 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]\n\
                      cr0:            0000000080050033 cr2:            0000000000000000\n\
                      rip:            ffffffff81000000 rsp:            0000000000000000\n";
        assert!(read_text(others).is_empty());
    }
}
