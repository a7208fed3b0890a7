//! OpenDCDiag's KVM register dump: `kvm_log_registers` and `kvm_log_segment` in
//! `framework/sysdeps/linux/kvm.c` (opendcdiag/opendcdiag, since PR #465 of December
//! 2023, "FW/kvm: always print the vCPU register state on failure"), logged at info
//! level when a KVM test of the data-centre CPU checker fails, inside its YAML report
//! (`text: |1` then ` I> Register dump:` and the lines below, indented). A fourth
//! printout of `struct kvm_sregs` (dialect `KvmSregsPrint`):
//!
//! ```text
//! Register dump:
//!  rax = 0x%016llx rbx = … rcx = … rdx = …          (rsi rdi rsp rbp; r8 r9 "rcx" r11;
//!  …                                                 r12 r13 r14 r15 alike)
//!  rip = 0x%016llx rflags = 0x%016llx [CF ZF …]
//!  cs  = 0x%04x base = 0x%012llx limit = 0x%08x s=%d type=%s dpl=%d db=%d g=%d l=%d %s
//!  …                                                 (ds es fs gs ss alike)
//!  cr0 = 0x%08llx cr2 = %#llx cr3 = 0x%016llx cr4 = 0x%08llx efer = 0x%03llx xcr0 = 0x%06llx
//!  gdt: base = 0x%016llx limit = 0x%04x
//!  ldt: base = 0x%016llx limit = 0x%04x
//! ```
//!
//! The type is spelled out for a code or data segment (S = 1): code `R-X` or `--X`
//! (readable or not), then `c` when conforming; data `R` then `W` or `-`, then `-`,
//! then `e` when expand-down; `a` last when accessed. A system segment's type is
//! `0x%x`. The last word is `present` or nothing. `avl` and `unusable` are not printed:
//! they are read as 0, with `present` as printed (what KVM_GET_SREGS reports for an
//! unusable segment, [`super::printout::unusable_unprinted`]), and a note says so. TR,
//! the LDT's selector and attributes, and IDTR are not printed: they stay unknown (the
//! `ldt:` line's base and limit alone are no segment).
//!
//! The state is what KVM_GET_SREGS returned, so the CPL is SS.DPL. A segment is
//! recognised only as a lower-case name, `=`, a selector of `0x` and four hex digits
//! and `base`, so no other dialect's `cs` is taken for one; a segment cut before its
//! `l=` is named in a note, not read.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::Words;
use super::printout::{Printouts, unusable_unprinted};
use crate::arch::SegReg;
use crate::ingest::log::RawDump;

/// The most lines between two fields of one dump: it is one block of 14 lines.
const MAX_GAP: usize = 2;

/// The control-register line's names, in print order.
const CONTROL: [&str; 6] = ["cr0", "cr2", "cr3", "cr4", "efer", "xcr0"];

/// `0x` and hex digits (`%#llx` prints a zero as `0`, which is read too).
fn prefixed_hex(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let h = s.strip_prefix("0x")?;
    if h.is_empty() || h.len() > 16 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(h, 16).ok()
}

/// The `kvm_segment` type a `type=` word spells, given S: `R-Xca`, `RWea`, `0xb`.
fn segment_type(spelled: &str, s: bool) -> Option<u8> {
    if !s {
        let t = prefixed_hex(spelled)?;
        return u8::try_from(t).ok().filter(|t| *t <= 0xf);
    }
    let b = spelled.as_bytes();
    let (base, rest) = match b {
        [r, b'-', b'X', rest @ ..] if matches!(r, b'R' | b'-') => {
            (0x8 | if *r == b'R' { 2 } else { 0 }, rest)
        }
        [b'R', w, b'-', rest @ ..] if matches!(w, b'W' | b'-') => {
            (if *w == b'W' { 2 } else { 0 }, rest)
        }
        _ => return None,
    };
    let code = base & 0x8 != 0;
    let (third, rest) = match rest {
        [b'c', rest @ ..] if code => (4, rest),
        [b'e', rest @ ..] if !code => (4, rest),
        rest => (0, rest),
    };
    let accessed = match rest {
        [] => 0,
        [b'a'] => 1,
        _ => return None,
    };
    Some(base | third | accessed)
}

/// `key=value` with a decimal value of at most one digit (`s=1`, `dpl=3`).
fn flag(word: Option<&str>, key: &str) -> Option<u8> {
    let v = word?.strip_prefix(key)?.strip_prefix('=')?;
    match v.as_bytes() {
        [d] if d.is_ascii_digit() => Some(d - b'0'),
        _ => None,
    }
}

/// True when the word `i` ahead is `t`.
fn is(words: &Words<'_>, i: usize, t: &str) -> bool {
    words.peek(i).is_some_and(|x| x.text == t)
}

/// The reader's state over one log.
struct Reader<'a> {
    p: Printouts<'a>,
}

impl<'a> Reader<'a> {
    /// `name = 0x…` for RIP, RFLAGS and the control registers; `name = value` starts at
    /// the cursor on `=`.
    fn register(&mut self, name: &'a str, line: usize, words: &mut Words<'a>) -> bool {
        let value = match (words.peek(0), words.peek(1)) {
            (Some(eq), Some(v)) if eq.text == "=" => prefixed_hex(v.text).map(|x| (x, v.line)),
            _ => None,
        };
        let Some((value, at)) = value else {
            self.p.note(line, &format!("{name} is cut short: not read"));
            return false;
        };
        words.skip(2);
        let d = self.p.dump(name, line);
        d.lines.extend_to(at);
        // CR2 and XCR0 have no field in the state: read past.
        if let Some(field) = super::register_field(&mut d.guest, name) {
            *field = Some(value);
        }
        true
    }

    /// `gdt: base = 0x… limit = 0x…`; `ldt:` is read past (no selector, no attributes).
    fn table(&mut self, name: &'a str, line: usize, words: &mut Words<'a>) {
        let w: Vec<&str> = (0..6)
            .filter_map(|i| words.peek(i).map(|w| w.text))
            .collect();
        let parsed = match w.as_slice() {
            ["base", "=", base, "limit", "=", limit] => prefixed_hex(base).zip(prefixed_hex(limit)),
            _ => None,
        };
        let Some((base, limit)) = parsed else {
            self.p
                .note(line, &format!("the {name} line is cut short: not read"));
            return;
        };
        let at = words.peek(5).map_or(line, |v| v.line);
        words.skip(6);
        let d = self.p.dump(name, line);
        d.lines.extend_to(at);
        if name == "gdt" {
            d.guest.gdtr = Some(super::dtable(base, limit));
        }
    }

    /// `cs  = 0x0008 base = 0x… limit = 0x… s=1 type=R-Xa dpl=0 db=0 g=1 l=1 present`:
    /// the cursor is on `=`.
    fn segment(&mut self, name: &'a str, reg: SegReg, line: usize, words: &mut Words<'a>) {
        let w: Vec<(&str, usize)> = (0..14)
            .filter_map(|i| words.peek(i).map(|w| (w.text, w.line)))
            .collect();
        let text = |i: usize| w.get(i).map(|(t, _)| *t);
        let head = match (
            text(1),
            text(2),
            text(3),
            text(4),
            text(5),
            text(6),
            text(7),
        ) {
            (
                Some(sel),
                Some("base"),
                Some("="),
                Some(base),
                Some("limit"),
                Some("="),
                Some(lim),
            ) => prefixed_hex(sel)
                .zip(prefixed_hex(base))
                .zip(prefixed_hex(lim)),
            _ => None,
        };
        let s = flag(text(8), "s");
        let type_ = s.and_then(|s| {
            let spelled = text(9)?.strip_prefix("type=")?;
            segment_type(spelled, s == 1)
        });
        let rest = [
            flag(text(10), "dpl"),
            flag(text(11), "db"),
            flag(text(12), "g"),
            flag(text(13), "l"),
        ];
        let (
            Some(((selector, base), limit)),
            Some(s),
            Some(type_),
            [Some(dpl), Some(db), Some(g), Some(l)],
        ) = (head, s, type_, rest)
        else {
            let read = w.iter().take_while(|(_, l)| *l == line).count();
            words.skip(read);
            self.p.dump(name, line);
            self.p.note(
                line,
                &format!(
                    "the {name} entry is not `{name} = 0x%04x base = … limit = … s= type= dpl= \
                     db= g= l=` whole: not read"
                ),
            );
            return;
        };
        let mut last = w[13].1;
        words.skip(14);
        // `present`, or nothing: the next word is the next line's.
        let present = words
            .peek(0)
            .is_some_and(|p| p.text == "present" && p.line == last);
        if present {
            last = words.peek(0).map_or(last, |p| p.line);
            words.skip(1);
        }
        let raw = unusable_unprinted(
            base,
            limit,
            selector,
            type_,
            [u8::from(present), dpl, db, s, l, g, 0],
        );
        let d = self.p.dump(name, line);
        d.lines.extend_to(last);
        super::put_kvm_segment(d, reg, raw, line, name);
        if reg == SegReg::Cs {
            d.note(String::from(
                "OpenDCDiag's register dump prints no AVL and no unusable bit (read as 0, an \
                 unusable segment as KVM_GET_SREGS reports it: not present), and no TR, LDTR \
                 attributes or IDTR",
            ));
        }
    }
}

/// Every OpenDCDiag register dump in the words.
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
                .peek(1)
                .is_some_and(|s| s.text.len() == 6 && prefixed_hex(s.text).is_some());
            if is(words, 0, "=") && selector && is(words, 2, "base") {
                r.segment(name, reg, line, words);
            }
            continue;
        }
        match name {
            "gdt:" | "ldt:" if is(words, 0, "base") => r.table(&name[..3], line, words),
            "rip" | "rflags" if is(words, 0, "=") => {
                r.register(name, line, words);
            }
            "cr0" if is(words, 0, "=") => {
                for key in CONTROL {
                    let here = words.peek(0).map_or(line, |w| w.line);
                    if key != "cr0" {
                        if !is(words, 0, key) {
                            r.p.note(
                                line,
                                &format!("the control-register line stops before {key}"),
                            );
                            break;
                        }
                        words.skip(1);
                    }
                    if !r.register(key, here, words) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    r.p.close();
    r.p.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{PrivilegeLevel, SegmentType};
    use crate::ingest::text::read_normalised;

    fn read_text(t: &str) -> Vec<RawDump> {
        read_normalised(t, read)
    }

    /// The shape `kvm_log_registers` prints (framework/sysdeps/linux/kvm.c), whole, a
    /// 64-bit kernel state with a not-present FS and a system-typed type word on GS.
    const WHOLE: &str = "\
I> Register dump:
 rax = 0x0000000000000001 rbx = 0x0000000000000000 rcx = 0x0000000000000000 rdx = 0x0000000000000600
 rsi = 0x0000000000000000 rdi = 0x0000000000000000 rsp = 0x00000000005ff000 rbp = 0x00000000005ff000
 r8  = 0x0000000000000000 r9  = 0x0000000000000000 rcx = 0x0000000000000000 r11 = 0x0000000000000000
 r12 = 0x0000000000000000 r13 = 0x0000000000000000 r14 = 0x0000000000000000 r15 = 0x0000000000000000
 rip = 0x0000000000300006 rflags = 0x0000000000000246 [PF ZF]
 cs  = 0x0008 base = 0x000000000000 limit = 0x000fffff s=1 type=R-Xa dpl=0 db=0 g=1 l=1 present
 ds  = 0x0010 base = 0x000000000000 limit = 0x000fffff s=1 type=RW-a dpl=0 db=1 g=1 l=0 present
 es  = 0x0010 base = 0x000000000000 limit = 0x000fffff s=1 type=RW-a dpl=0 db=1 g=1 l=0 present
 fs  = 0x0000 base = 0x000000000000 limit = 0x0000ffff s=1 type=RW-a dpl=0 db=0 g=0 l=0 
 gs  = 0x0000 base = 0x000000000000 limit = 0x0000ffff s=0 type=0x3 dpl=0 db=0 g=0 l=0 present
 ss  = 0x0010 base = 0x000000000000 limit = 0x000fffff s=1 type=RW-a dpl=0 db=1 g=1 l=0 present
 cr0 = 0x80000011 cr2 = 0 cr3 = 0x0000000000201000 cr4 = 0x00000220 efer = 0x500 xcr0 = 0x000007
 gdt: base = 0x0000000000200000 limit = 0x0017
 ldt: base = 0x0000000000000000 limit = 0xffff
";

    #[test]
    fn a_whole_dump_reads_every_field_it_prints() {
        let d = read_text(WHOLE);
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        let cs = g.segments[SegReg::Cs].unwrap();
        assert_eq!(cs.attributes.segment_type, SegmentType::from_low_bits(0xb));
        assert!(cs.attributes.l && cs.attributes.g && cs.attributes.present);
        assert_eq!(cs.limit, 0x000f_ffff);
        let fs = g.segments[SegReg::Fs].unwrap();
        assert!(!fs.attributes.present && !fs.is_usable());
        assert_eq!(
            g.segments[SegReg::Gs].unwrap().attributes.segment_type,
            SegmentType::from_low_bits(3)
        );
        assert!(!g.segments[SegReg::Gs].unwrap().attributes.s);
        assert_eq!(g.cpl, Some(PrivilegeLevel::Ring0));
        assert_eq!((g.rip, g.rflags), (Some(0x30_0006), Some(0x246)));
        assert_eq!(
            (g.cr0, g.cr3, g.cr4, g.efer),
            (Some(0x8000_0011), Some(0x20_1000), Some(0x220), Some(0x500))
        );
        assert_eq!(g.gdtr.map(|t| (t.base, t.limit)), Some((0x20_0000, 0x17)));
        assert_eq!(
            (g.segments[SegReg::Tr], g.segments[SegReg::Ldtr], g.idtr),
            (None, None, None)
        );
        assert_eq!(
            (d[0].lines.first, d[0].lines.last),
            (6, 15),
            "from rip to ldt:"
        );
    }

    #[test]
    fn every_spelled_type_reads_back() {
        for (spelled, s, t) in [
            ("R-X", true, 0xa),
            ("--X", true, 0x8),
            ("R-Xc", true, 0xe),
            ("--Xca", true, 0xd),
            ("R--", true, 0x0),
            ("RW-", true, 0x2),
            ("R--e", true, 0x4),
            ("RW-ea", true, 0x7),
            ("0xb", false, 0xb),
            ("0x2", false, 0x2),
        ] {
            assert_eq!(segment_type(spelled, s), Some(t), "{spelled}");
        }
        for bad in ["R-Xe", "RW-c", "R-Xaa", "RWX", "0x10", "b"] {
            assert_eq!(
                segment_type(bad, !bad.starts_with('0') && bad != "b"),
                None,
                "{bad}"
            );
        }
    }

    /// A line cut before `l=` is named and not read; another dialect's `cs = …` is no
    /// segment of this one.
    #[test]
    fn cut_segments_are_named_and_other_shapes_ignored() {
        let cut = "\
 rip = 0x0000000000300006 rflags = 0x0000000000000002 []
 cs  = 0x0008 base = 0x000000000000 limit = 0x000fffff s=1 type=R-Xa dpl=0 db=0 g=1 l=1 present
 ds  = 0x0010 base = 0x000000000000 limit = 0x000fffff s=1 type=RW-a dpl=0
";
        let d = read_text(cut);
        assert_eq!(d.len(), 1);
        assert!(d[0].guest.segments[SegReg::Ds].is_none());
        assert!(
            d[0].notes
                .iter()
                .any(|n| n.starts_with("line 3: the ds entry is not")),
            "{:?}",
            d[0].notes
        );
        assert!(read_text("cs = 0x10 base = 0\nrip = 5\n").is_empty());
    }
}
