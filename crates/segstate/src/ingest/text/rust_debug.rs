//! Rust's `Debug` of `struct kvm_sregs`: how the Rust VMMs built on rust-vmm's
//! kvm-ioctls (Firecracker, Cloud Hypervisor, crosvm, uhyve, hobby VMMs) print what
//! `VcpuFd::get_sregs` returned or what they hand to `set_sregs`. A fifth printout of
//! `kvm_sregs` (dialect `KvmSregsPrint`, beside [`super::sregs`], [`super::show_regs`]
//! and [`super::kvmtool`]).
//!
//! kvm-bindings derives `Debug` on its bindgen output: `#[derive(Debug, Default, Copy,
//! Clone, PartialEq)]` on `kvm_segment`, `kvm_dtable` and `kvm_sregs` in
//! `src/x86_64/bindings.rs` (0.14.2; `src/x86/bindings.rs` in 0.6.0, same fields and
//! same output, byte for byte, on the samples in `tests/fixtures/dumps/kvm-bindings/`).
//! `{:?}` prints
//!
//! ```text
//! kvm_sregs { cs: kvm_segment { base: 0, limit: 4294967295, selector: 16, type_: 11,
//! present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0, padding: 0 }, …,
//! gdt: kvm_dtable { base: 1280, limit: 31, padding: [0, 0, 0] }, idt: …, cr0: …, cr2: …,
//! cr3: …, cr4: …, cr8: …, efer: …, apic_base: …, interrupt_bitmap: [0, 0, 0, 0] }
//! ```
//!
//! on one line, `{:#?}` the same a field a line with trailing commas, `{:x?}` with the
//! numbers in hexadecimal without `0x`, `{:#x?}` pretty with `0x`.
//!
//! A record is recognised by its shape, `name: Type {`, with `name` a segment register
//! (`cs` … `ldt`) or a descriptor table (`gdt`, `idt`, and `gtd`, the GDT's name in
//! uhyve's own struct as reported to us), whatever the type is called (`kvm_segment`,
//! another VMM's own struct); its fields and the registers around it (`cr0`, `cr3`,
//! `cr4`, `efer`, and `rip`/`rflags` of a `kvm_regs` printed beside it) are found by
//! name, in any order. Words that are none of these (a log prefix, a wrapped line's
//! junk) are passed over. A segment lacking a field is named, not guessed. Numbers are
//! decimal, or hexadecimal with `0x`; a dump whose unprefixed numbers hold a hex
//! letter was printed by `{:x?}` and all its unprefixed numbers are read as hex (a
//! `{:x?}` dump whose every number is made of decimal digits alone cannot be told
//! from `{:?}`; a segment's limit, `ffff` or `ffffffff`, rarely leaves it so).
//!
//! openvmm's register trace after a triple fault is read by the same grammar (dialect
//! `OpenvmmTrace`): `trace_fault` in `vmm_core/src/partition_unit/vp_set.rs` logs the
//! registers as `tracing` fields, `name=value`, a segment as `cs=SegmentRegister { base:
//! 0, limit: ffffffff, selector: 38, attributes: a09b }` (`virt::x86::SegmentRegister`,
//! Hyper-V's `HV_X64_SEGMENT_REGISTER` field for field) and a table as `gdtr=TableRegister
//! { base: …, limit: … }`, hexadecimal without `0x` in OpenHCL's kernel log. A segment
//! with `attributes` is decoded as the Hyper-V word (VMX access rights 15:0, unusable
//! where P = 0, reserved bits refused); the CPL is SS.DPL. `rip=` and `rflags=`, printed
//! on the line before the segments, open a dump that is kept only if segments follow.

use alloc::format;
use alloc::vec::Vec;

use super::Words;
use super::printout::{Printouts, kvm_segment_of, segment_key};
use crate::arch::SegReg;
use crate::format::hyperv::{HvSegmentAttributes, HvSegmentRegister};
use crate::ingest::log::{Dialect, RawDump};

/// The most lines between two words of one dump: `{:#?}` prints a word a line, so a
/// larger gap is another dump's.
const MAX_GAP: usize = 8;

/// One piece of a word: Rust's `Debug` glues `,` to values and `[`/`]` to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    /// `name:`
    Key(&'a str),
    /// `{`
    Open,
    /// `}`
    Close,
    /// `[` or `]`
    Bracket,
    /// A number as printed, radix not yet known.
    Num(&'a str),
    /// An identifier (a type name) or anything else.
    Word(&'a str),
}

/// The pieces of one word, `,` dropped; a tracing field `name=value` (openvmm's log) is
/// the key `name` and the pieces of `value`.
fn tokens(word: &str) -> impl Iterator<Item = Tok<'_>> {
    let (key, word) = match word.split_once('=') {
        Some((k, v)) if is_ident(k) => (Some(Tok::Key(k)), v),
        _ => (None, word),
    };
    key.into_iter().chain(pieces(word))
}

/// The pieces of a word without a `name=` head.
fn pieces(word: &str) -> impl Iterator<Item = Tok<'_>> {
    word.split_inclusive(['{', '}', '[', ']', '(', ')', ','])
        .flat_map(|part| {
            let (text, punct) = match part.char_indices().last() {
                Some((at, c)) if "{}[](),".contains(c) => (&part[..at], Some(c)),
                _ => (part, None),
            };
            let head = (!text.is_empty()).then(|| classify(text));
            let tail = match punct {
                Some('{') => Some(Tok::Open),
                Some('}') => Some(Tok::Close),
                Some('[' | ']') => Some(Tok::Bracket),
                _ => None,
            };
            head.into_iter().chain(tail)
        })
}

fn classify(text: &str) -> Tok<'_> {
    if let Some(key) = text.strip_suffix(':') {
        return Tok::Key(key);
    }
    let digits = text
        .strip_prefix("0x")
        .unwrap_or(text)
        .bytes()
        .all(|b| b.is_ascii_hexdigit());
    if digits && !text.is_empty() && text.len() <= 18 {
        Tok::Num(text)
    } else {
        Tok::Word(text)
    }
}

fn seg_reg(name: &str) -> Option<SegReg> {
    Some(match name {
        "cs" => SegReg::Cs,
        "ds" => SegReg::Ds,
        "es" => SegReg::Es,
        "fs" => SegReg::Fs,
        "gs" => SegReg::Gs,
        "ss" => SegReg::Ss,
        "tr" => SegReg::Tr,
        "ldt" | "ldtr" => SegReg::Ldtr,
        _ => return None,
    })
}

/// The descriptor table a record name fills, as [`super::table_field`] names it.
fn table(name: &str) -> Option<&'static str> {
    match name {
        "gdt" | "gtd" | "gdtr" => Some("gdt"),
        "idt" | "idtr" => Some("idt"),
        _ => None,
    }
}

/// A `kvm_segment` or `kvm_dtable` being read: its fields as printed.
struct Record<'a> {
    name: &'a str,
    line: usize,
    fields: [Option<&'a str>; 12],
    /// openvmm's `SegmentRegister.attributes`: the Hyper-V attribute word in place of
    /// the `kvm_segment` flags.
    attributes: Option<&'a str>,
}

/// What a dump holds before its radix is known.
#[derive(Default)]
struct Held<'a> {
    records: Vec<Record<'a>>,
    /// `name: value` outside a record, kept when [`super::register_field`] has it.
    scalars: Vec<(&'a str, &'a str)>,
}

impl Held<'_> {
    /// True when an unprefixed number holds a hex letter: `{:x?}`.
    fn hex_without_prefix(&self) -> bool {
        let letter = |v: &&str| !v.starts_with("0x") && v.bytes().any(|b| b.is_ascii_alphabetic());
        self.records
            .iter()
            .flat_map(|r| r.fields.iter().flatten())
            .chain(self.scalars.iter().map(|(_, v)| v))
            .any(letter)
    }
}

fn number(v: &str, hex: bool) -> Option<u64> {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None if hex => u64::from_str_radix(v, 16).ok(),
        None => v.parse().ok(),
    }
}

/// The reader's state over one log.
struct Reader<'a> {
    p: Printouts<'a>,
    held: Held<'a>,
    /// The record being read.
    record: Option<Record<'a>>,
    /// The key whose value comes next.
    key: Option<&'a str>,
    /// `name: Type` read: a `{` next opens a record (or a nested struct).
    typed: Option<&'a str>,
    /// Open braces of `Debug` structs other than records.
    depth: usize,
    /// The word being read is a tracing field, `name=value`.
    tracing: bool,
}

impl<'a> Reader<'a> {
    /// The dump a top-level field `name` on `line` goes into.
    fn field(&mut self, name: &'a str, line: usize) {
        if self.p.starts_another(name, line) {
            self.close();
        }
        self.p.open(name, line);
    }

    /// A word of the dump being read on `line`: the dump reaches it.
    fn touch(&mut self, line: usize) {
        if self.p.within(line) {
            if let Some(d) = &mut self.p.cur {
                d.lines.extend_to(line);
            }
        }
    }

    /// True for openvmm's `rip=` and `rflags=` (its first line, before the segments):
    /// they open a dump, kept only if segments follow ([`Printouts::close`]).
    fn traced(&self, k: &str) -> bool {
        self.tracing && matches!(k, "rip" | "rflags")
    }

    fn end_record(&mut self) {
        if let Some(r) = self.record.take() {
            self.held.records.push(r);
        }
    }

    /// Ends the dump being read: its numbers read in the radix it was printed in.
    fn close(&mut self) {
        self.end_record();
        let held = core::mem::take(&mut self.held);
        if let Some(d) = &mut self.p.cur {
            fill(d, &held);
        }
        self.p.close();
    }

    fn token(&mut self, t: Tok<'a>, line: usize) {
        match t {
            Tok::Key(k) => {
                self.key = Some(k);
                self.typed = None;
            }
            Tok::Word(w) => {
                self.typed = self.key.take().filter(|_| is_ident(w));
            }
            Tok::Open => {
                let name = self.typed.take();
                self.key = None;
                match name {
                    Some(n) if seg_reg(n).is_some() || table(n).is_some() => {
                        self.end_record();
                        self.field(n, line);
                        self.record = Some(Record {
                            name: n,
                            line,
                            fields: [None; 12],
                            attributes: None,
                        });
                    }
                    _ => {
                        self.end_record();
                        self.depth = self.depth.saturating_add(1).min(64);
                    }
                }
            }
            Tok::Close => {
                self.key = None;
                if self.record.is_some() {
                    self.end_record();
                } else {
                    self.depth = self.depth.saturating_sub(1);
                }
            }
            Tok::Bracket => self.key = None,
            Tok::Num(v) => {
                let Some(k) = self.key.take() else {
                    return;
                };
                if let Some(r) = &mut self.record {
                    if k == "attributes" && table(r.name).is_none() {
                        r.attributes = Some(v);
                        self.touch(line);
                        return;
                    }
                    let i = if table(r.name).is_some() {
                        ["base", "limit"].iter().position(|f| *f == k)
                    } else {
                        segment_key(k)
                    };
                    if let Some(i) = i {
                        r.fields[i] = Some(v);
                    }
                } else if (self.depth > 0 || self.p.within(line) || self.traced(k))
                    && is_register(k)
                {
                    self.field(k, line);
                    self.held.scalars.push((k, v));
                }
            }
        }
        self.touch(line);
    }
}

fn is_ident(w: &str) -> bool {
    w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !w.is_empty()
}

/// The registers beside the records: those the state keeps, and those it reads past.
fn is_register(k: &str) -> bool {
    matches!(
        k,
        "cr0" | "cr2" | "cr3" | "cr4" | "cr8" | "efer" | "apic_base" | "rip" | "rflags"
    )
}

/// Puts what a dump held into it: a record whole, or a note naming what it lacks.
fn fill(d: &mut RawDump, held: &Held<'_>) {
    let hex = held.hex_without_prefix();
    // openvmm's segments carry the Hyper-V attribute word, not the kvm_segment flags.
    let openvmm = held.records.iter().any(|r| r.attributes.is_some());
    if openvmm {
        d.dialect = Dialect::OpenvmmTrace;
    }
    if hex {
        d.note(format!(
            "line {}: numbers without `0x` hold hex letters (`{{:x?}}`{}): read as hexadecimal",
            d.lines.first,
            if openvmm {
                ", as openvmm's trace prints them"
            } else {
                ""
            }
        ));
    }
    for (k, v) in &held.scalars {
        if let (Some(f), Some(v)) = (super::register_field(&mut d.guest, k), number(v, hex)) {
            *f = Some(v);
        }
    }
    for r in &held.records {
        let mut f = [None; 12];
        let mut bad = Vec::new();
        for (slot, v) in f.iter_mut().zip(r.fields) {
            if let Some(v) = v {
                *slot = number(v, hex);
                if slot.is_none() {
                    bad.push(v);
                }
            }
        }
        if !bad.is_empty() {
            d.note(format!(
                "line {}: {}: `{}` is not a number: not read",
                r.line,
                r.name,
                bad.join("`, `")
            ));
            continue;
        }
        if let Some(t) = table(r.name) {
            match (f[0], f[1]) {
                (Some(base), Some(limit)) => {
                    if let Some(field) = super::table_field(&mut d.guest, t) {
                        *field = Some(super::dtable(base, limit));
                    }
                }
                _ => d.note(format!(
                    "line {}: the {} table is cut short (no {}): not read",
                    r.line,
                    r.name,
                    if f[0].is_none() { "base" } else { "limit" }
                )),
            }
            continue;
        }
        let Some(reg) = seg_reg(r.name) else {
            continue;
        };
        if openvmm {
            let word = r.attributes.and_then(|w| number(w, hex));
            put_hv_segment(d, reg, r, &f, word);
            continue;
        }
        match kvm_segment_of(&f, &[]) {
            Ok(raw) => super::put_kvm_segment(d, reg, raw, r.line, r.name),
            Err(missing) => d.note(format!(
                "line {}: the {} segment is cut short (no {}): not read",
                r.line,
                r.name,
                missing.join(", ")
            )),
        }
    }
}

/// openvmm's `SegmentRegister { base, limit, selector, attributes }`: Hyper-V's
/// `HV_X64_SEGMENT_REGISTER` (`virt::x86::SegmentRegister` converts from and to it
/// field for field), decoded strictly (reserved bits refused, unusable where P = 0).
fn put_hv_segment(
    d: &mut RawDump,
    reg: SegReg,
    r: &Record<'_>,
    f: &[Option<u64>; 12],
    word: Option<u64>,
) {
    let (Some(base), Some(limit), Some(selector), Some(word)) = (f[0], f[1], f[2], word) else {
        d.note(format!(
            "line {}: the {} segment is cut short (base, limit, selector and attributes \
             needed): not read",
            r.line, r.name
        ));
        return;
    };
    let (Ok(limit), Ok(selector), Ok(word)) = (
        u32::try_from(limit),
        u16::try_from(selector),
        u16::try_from(word),
    ) else {
        d.note(format!(
            "line {}: {}: a value wider than its field: not read",
            r.line, r.name
        ));
        return;
    };
    let hv = HvSegmentRegister {
        base,
        limit,
        selector,
        attributes: HvSegmentAttributes(word),
    };
    super::put_segment(d, reg, crate::arch::Segment::try_from(hv), r.line, r.name);
}

/// Every `Debug` printout of `kvm_sregs` in the words.
#[must_use]
pub fn read(words: &mut Words<'_>) -> Vec<RawDump> {
    let mut r = Reader {
        p: Printouts::new(MAX_GAP),
        held: Held::default(),
        record: None,
        key: None,
        typed: None,
        depth: 0,
        tracing: false,
    };
    while let Some(w) = words.next_word() {
        if r.p.full() {
            break;
        }
        r.tracing = w.text.split_once('=').is_some_and(|(k, _)| is_ident(k));
        for t in tokens(w.text) {
            r.token(t, w.line);
        }
    }
    r.close();
    r.p.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;

    fn read_text(t: &str) -> Vec<RawDump> {
        crate::ingest::text::read_normalised(t, read)
    }

    fn seg(name: &str, sel: u64, type_: u8, dpl: u8, db: u8, l: u8) -> alloc::string::String {
        format!(
            "{name}: kvm_segment {{ base: 0, limit: 4294967295, selector: {sel}, type_: {type_}, \
             present: 1, dpl: {dpl}, db: {db}, s: 1, l: {l}, g: 1, avl: 0, unusable: 0, padding: 0 }}"
        )
    }

    fn compact() -> alloc::string::String {
        let data = |n| seg(n, 43, 3, 3, 1, 0);
        format!(
            "kvm_sregs {{ {}, {}, {}, {}, {}, {}, tr: kvm_segment {{ base: 4096, limit: 103, \
             selector: 64, type_: 11, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, \
             unusable: 0, padding: 0 }}, ldt: kvm_segment {{ base: 0, limit: 65535, selector: 0, \
             type_: 2, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0, \
             padding: 0 }}, gdt: kvm_dtable {{ base: 8192, limit: 79, padding: [0, 0, 0] }}, \
             idt: kvm_dtable {{ base: 12288, limit: 4095, padding: [0, 0, 0] }}, cr0: 2147811379, \
             cr2: 0, cr3: 16384, cr4: 160, cr8: 0, efer: 3329, apic_base: 4276095232, \
             interrupt_bitmap: [0, 0, 0, 0] }}",
            seg("cs", 51, 11, 3, 0, 1),
            data("ds"),
            data("es"),
            data("fs"),
            data("gs"),
            data("ss"),
        )
    }

    /// `{:#?}` of the same text: a field a line, trailing commas.
    fn pretty(compact: &str) -> alloc::string::String {
        compact
            .replace("{ ", "{\n    ")
            .replace(", ", ",\n    ")
            .replace(" }", ",\n}")
    }

    fn check_state(d: &RawDump) {
        let g = &d.guest;
        assert!(
            SegReg::ALL.iter().all(|r| g.segments[*r].is_some()),
            "{:?}",
            d.notes
        );
        let cs = g.segments[SegReg::Cs].unwrap();
        assert_eq!(cs.selector.0, 0x33);
        assert!(cs.attributes.l);
        assert_eq!(g.cpl, Some(PrivilegeLevel::Ring3));
        assert_eq!(g.segments[SegReg::Tr].unwrap().limit, 103);
        assert_eq!(g.gdtr.unwrap().base, 0x2000);
        assert_eq!(g.idtr.unwrap().limit, 0xfff);
        assert_eq!(
            (g.cr0, g.cr3, g.cr4, g.efer),
            (Some(0x8005_0033), Some(0x4000), Some(0xa0), Some(0xd01))
        );
    }

    #[test]
    fn compact_and_pretty_read_every_field() {
        let c = compact();
        for text in [
            c.clone(),
            pretty(&c),
            format!("Error: VcpuRun(..) sregs: {c}"),
        ] {
            let d = read_text(&text);
            assert_eq!(d.len(), 1, "{text}");
            check_state(&d[0]);
            assert!(d[0].notes.is_empty(), "{:?}", d[0].notes);
        }
    }

    #[test]
    fn hex_with_and_without_prefix_reads_as_hex() {
        let c = compact();
        let hexed = c
            .replace("4294967295", "ffffffff")
            .replace("selector: 51", "selector: 33")
            .replace("selector: 43", "selector: 2b")
            .replace("selector: 64", "selector: 40")
            .replace("type_: 11", "type_: b")
            .replace("limit: 103", "limit: 67")
            .replace("limit: 65535", "limit: ffff")
            .replace("base: 4096", "base: 1000")
            .replace("base: 8192", "base: 2000")
            .replace("base: 12288", "base: 3000")
            .replace("limit: 79", "limit: 4f")
            .replace("limit: 4095", "limit: fff")
            .replace("cr0: 2147811379", "cr0: 80050033")
            .replace("cr3: 16384", "cr3: 4000")
            .replace("cr4: 160", "cr4: a0")
            .replace("efer: 3329", "efer: d01")
            .replace("apic_base: 4276095232", "apic_base: fee00000");
        let d = read_text(&hexed);
        assert_eq!(d.len(), 1);
        check_state(&d[0]);
        assert!(d[0].notes.iter().any(|n| n.contains("`{:x?}`")));
        // `{:#x?}`: the same with `0x`, pretty.
        let prefixed = pretty(&hexed)
            .replace(": ", ": 0x")
            .replace(": 0xkvm", ": kvm");
        let d = read_text(&prefixed.replace("[0, 0, 0]", "[0x0, 0x0, 0x0]"));
        assert_eq!(d.len(), 1);
        check_state(&d[0]);
        assert!(d[0].notes.is_empty(), "{:?}", d[0].notes);
    }

    #[test]
    fn a_cut_paste_names_what_it_lacks() {
        let c = compact();
        let cut = &c[..c
            .find("db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0, padding: 0 }, es")
            .unwrap()];
        let d = read_text(cut);
        assert_eq!(d.len(), 1);
        assert!(d[0].guest.segments[SegReg::Cs].is_some());
        assert!(d[0].guest.segments[SegReg::Ds].is_none());
        assert!(
            d[0].notes
                .iter()
                .any(|n| n.contains("ds segment is cut short (no db, s, l, g, avl, unusable)")),
            "{:?}",
            d[0].notes
        );
    }

    #[test]
    fn two_printouts_are_two_dumps() {
        let c = compact();
        assert_eq!(read_text(&format!("{c}\n{c}\n")).len(), 2);
    }

    #[test]
    fn junk_and_other_dialects_read_nothing() {
        for text in [
            "",
            "{{{{ }}}} [[[ ]]] cs: { base: 0 }",
            "cs: kvm_segment",
            "cs:   s: 0010 a: 029b l: ffffffff b: 0000000000000000\ncr0: 80050033",
            "CS:{base:0 limit:4095 selector:16 typ:9 present:1 DPL:0 DB:0 S:1 L:1 G:1 AVL:0 unusable:0 _:0}",
            "cr0: 1, efer: 2, rip: 3",
            "cs: x { base: 99999999999999999999999, limit: -1 } ((((",
        ] {
            let d = read_text(text);
            assert!(
                d.iter()
                    .all(|d| d.guest.segments.iter().all(|(_, s)| s.is_none())),
                "{text}"
            );
        }
        let deep = "a: b { ".repeat(10_000);
        assert!(read_text(&deep).is_empty());
    }
}
