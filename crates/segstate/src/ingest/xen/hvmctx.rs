//! The text `xen-hvmctx DOMID` prints (`tools/misc/xen-hvmctx.c`): a domain's HVM
//! context, entry by entry, as users paste it into Xen bug reports. Each CPU entry is
//! rebuilt into a `struct hvm_hw_cpu` and loaded exactly as the binary save image's
//! (the same `hvm_load_cpu_ctxt` loading as [`super::read`]): the CPL is `ss_arbytes`' DPL, old VMX-layout arbytes are
//! unfolded, every segment decoded strictly.
//!
//! The output is `HVM save record for domain N`, then per entry `Entry I: type T
//! instance K, length L` and its dump. Type 2 (`CPU`) prints `name value` pairs, two or
//! three to a line, eight segment lines `NAME SEL (BASE + LIMIT / ARBYTES)`, `idtr` and
//! `gdtr` as `NAME (BASE + LIMIT)`, then the MSRs, `tsc`, `event … error …` and, when
//! set, an `FPU:` block; type 5 (`LAPIC`) prints `base_msr`. Two layouts:
//!
//! - **Xen 4.0 to 4.11** (`b5eb2dabf5`, 2009): `0x%8.8x (0x%16.16llx + 0x%8.8x /
//!   0x%5.5x)`, every number with `0x`, the MSRs as `shadow gs`, `MSR flags … lstar`,
//!   `star … cstar`, `sfmask … efer`; 4.0 labels the IDTR's line `itdr`;
//! - **Xen 4.12 and later** (`47fccb664d`, 2018-10-04): `%#6.4x (%#18.8x + %#10.8x /
//!   %#7.4x)`, where C's `#` flag leaves `0x` off a zero (`  0000`), the MSRs as
//!   `shadow gs … efer`, `lstar … cstar`, `star … sfmask`. Its format string names the
//!   segments `cs, es, ds` while its arguments pass `cs, ds, es`: **the line labelled
//!   `es` holds DS and the line labelled `ds` holds ES**, and they are read so
//!   (`ad9f564a5d`, 2026-07-02, changed only a width, not the order).
//!
//! The layout is told by the `cs` line's selector: `0x` and eight digits is the old one.
//! The text lacks `msr_tsc_aux` and the FPU area, which the CPU checks do not need; no
//! TSC_AUX is reported rather than an invented one. A paste is read as pasted: e-mail
//! quoting and Markdown fences are peeled as the dump reader peels them, and a CPU
//! entry pasted without its `Entry` line (from its `CPU:    rax` line) is read too,
//! numbered by its place among the entries and given no LAPIC's APIC base.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use super::context::{CpuEntry, cpu};
use crate::arch::{PerSegReg, SegReg};
use crate::format::xen::{HvmHwCpuOffset, HvmHwCpuSegments, XenArbytes};
use crate::ingest::foreign::{
    ForeignVcpu, IngestError, Place, Reason, read_limited_text, within_limit,
};
use crate::ingest::text::prefix::peel;

/// The format name errors carry.
pub const FORMAT: &str = "xen-hvmctx output";

/// The longest text read: about 2.5 KiB per vCPU with its FPU block, so 16 MiB is
/// thousands of vCPUs.
pub const MAX_TEXT: u64 = 16 << 20;

/// The line `xen-hvmctx` starts with.
const TITLE: &str = "HVM save record for domain ";

/// `HVM_SAVE_CODE(CPU)` and `HVM_SAVE_CODE(LAPIC)`.
const TYPE_CPU: u32 = 2;
const TYPE_LAPIC: u32 = 5;

/// The record's `u64` fields `xen-hvmctx` prints as `name value` pairs, by its names,
/// with their offsets in `struct hvm_hw_cpu` and whether a CPU entry must have them.
/// `tsc`, `event` and `error` are not needed to check a state; `MSR flags` is printed
/// only by Xen 4.0–4.11.
const PAIRS: [(&str, Field); 41] = {
    const fn gpr(i: usize) -> Field {
        Field::u64(HvmHwCpuOffset::GPRS + 8 * i)
    }
    const fn at(base: usize, i: usize) -> Field {
        Field::u64(base + 8 * i)
    }
    const S: usize = HvmHwCpuOffset::SYSENTER_CS;
    [
        ("rax", gpr(0)),
        ("rbx", gpr(1)),
        ("rcx", gpr(2)),
        ("rdx", gpr(3)),
        ("rbp", gpr(4)),
        ("rsi", gpr(5)),
        ("rdi", gpr(6)),
        ("rsp", gpr(7)),
        ("r8", gpr(8)),
        ("r9", gpr(9)),
        ("r10", gpr(10)),
        ("r11", gpr(11)),
        ("r12", gpr(12)),
        ("r13", gpr(13)),
        ("r14", gpr(14)),
        ("r15", gpr(15)),
        ("rip", Field::u64(HvmHwCpuOffset::RIP)),
        ("rflags", Field::u64(HvmHwCpuOffset::RFLAGS)),
        ("cr0", at(HvmHwCpuOffset::CR0, 0)),
        ("cr2", at(HvmHwCpuOffset::CR0, 1)),
        ("cr3", at(HvmHwCpuOffset::CR0, 2)),
        ("cr4", at(HvmHwCpuOffset::CR0, 3)),
        ("dr0", at(HvmHwCpuOffset::DR0, 0)),
        ("dr1", at(HvmHwCpuOffset::DR0, 1)),
        ("dr2", at(HvmHwCpuOffset::DR0, 2)),
        ("dr3", at(HvmHwCpuOffset::DR0, 3)),
        ("dr6", at(HvmHwCpuOffset::DR0, 4)),
        ("dr7", at(HvmHwCpuOffset::DR0, 5)),
        ("sysenter cs", at(S, 0)),
        ("esp", at(S, 1)),
        ("eip", at(S, 2)),
        ("shadow gs", at(S, 3)),
        ("MSR flags", at(S, 4).optional()),
        ("lstar", at(S, 5)),
        ("star", at(S, 6)),
        ("cstar", at(S, 7)),
        ("sfmask", at(S, 8)),
        ("efer", Field::u64(HvmHwCpuOffset::MSR_EFER)),
        ("tsc", Field::u64(HvmHwCpuOffset::TSC).optional()),
        (
            "event",
            Field::u32(HvmHwCpuOffset::PENDING_EVENT).optional(),
        ),
        ("error", Field::u32(HvmHwCpuOffset::ERROR_CODE).optional()),
    ]
};

/// Names two words long in `xen-hvmctx`'s pairs.
const TWO_WORD_NAMES: [(&str, &str); 3] = [("sysenter", "cs"), ("shadow", "gs"), ("MSR", "flags")];

/// Where a printed value goes in the record.
#[derive(Clone, Copy, Debug)]
struct Field {
    offset: usize,
    width: usize,
    required: bool,
}

impl Field {
    const fn u64(offset: usize) -> Self {
        Field {
            offset,
            width: 8,
            required: true,
        }
    }
    const fn u32(offset: usize) -> Self {
        Field {
            offset,
            width: 4,
            required: true,
        }
    }
    const fn optional(self) -> Self {
        Field {
            required: false,
            ..self
        }
    }
}

/// Which `xen-hvmctx` printed the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Xen 4.0 to 4.11: `0x%8.8x` selectors, `cs, ds, es` in order.
    Xen4_0,
    /// Xen 4.12 and later: `%#6.4x` selectors, `es` and `ds` labels swapped.
    Xen4_12,
}

impl Layout {
    /// The register a segment line's label stands for.
    fn register(self, label: SegReg) -> SegReg {
        match (self, label) {
            (Layout::Xen4_12, SegReg::Es) => SegReg::Ds,
            (Layout::Xen4_12, SegReg::Ds) => SegReg::Es,
            (_, reg) => reg,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Layout::Xen4_0 => "Xen 4.0 to 4.11's layout",
            Layout::Xen4_12 => {
                "Xen 4.12 and later's layout, whose `es` line holds DS and whose `ds` line \
                 holds ES (format and arguments differ in order): read by what they hold"
            }
        }
    }
}

/// True when `text` holds `xen-hvmctx` output: its title line, or a CPU entry's header
/// followed by its `CPU:` line (a paste that lost the title).
#[must_use]
pub fn recognise(text: &str) -> bool {
    let mut lines = text.lines().map(|l| peel(l).trim());
    while let Some(line) = lines.next() {
        if line.starts_with(TITLE) {
            return true;
        }
        if entry_header(line).is_some_and(|e| e.kind == TYPE_CPU)
            && lines.next().is_some_and(|l| l.starts_with("CPU:"))
        {
            return true;
        }
        if starts_cpu_block(line) {
            return true;
        }
    }
    false
}

/// True for the first line of a CPU entry's dump: `CPU:`, then `rax` and its value.
fn starts_cpu_block(line: &str) -> bool {
    let mut words = line.split_whitespace();
    words.next() == Some("CPU:") && words.next() == Some("rax")
}

/// `Entry I: type T instance K, length L`.
#[derive(Clone, Copy, Debug)]
struct EntryHeader {
    kind: u32,
    instance: u16,
}

fn entry_header(line: &str) -> Option<EntryHeader> {
    let rest = line.strip_prefix("Entry ")?;
    let (_, rest) = rest.split_once(": type ")?;
    let (kind, rest) = rest.split_once(" instance ")?;
    let (instance, _) = rest.split_once(", length ")?;
    Some(EntryHeader {
        kind: kind.trim().parse().ok()?,
        instance: instance.trim().parse().ok()?,
    })
}

/// A token of a line and its 1-based column.
#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    text: &'a str,
    column: usize,
}

/// A line of the input as pasted with its e-mail quoting and Markdown fence peeled
/// ([`peel`]), and the column its text starts at in the line as pasted.
#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    text: &'a str,
    column: usize,
}

impl<'a> Line<'a> {
    fn peeled(raw: &'a str) -> Self {
        let text = peel(raw);
        // `peel` returns a part of `raw`, where it starts being its column, or a static
        // "" for a bare fence line, whose column nothing reads.
        let column = (text.as_ptr() as usize)
            .checked_sub(raw.as_ptr() as usize)
            .filter(|&at| at <= raw.len())
            .map_or(1, |at| at + 1);
        Line { text, column }
    }
}

/// The whitespace-separated tokens of `line`, with their columns in the line as pasted.
fn tokens(line: Line<'_>) -> Vec<Token<'_>> {
    tokens_by(line.text, line.column, char::is_whitespace)
}

/// The runs of `text` between characters `sep` accepts, `text` starting at `column`.
fn tokens_by(text: &str, column: usize, sep: impl Fn(char) -> bool) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    // A separator after the end closes the last run.
    for (i, c) in text
        .char_indices()
        .map(|(i, c)| (i, sep(c)))
        .chain([(text.len(), true)])
    {
        match (c, start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push(Token {
                    text: &text[s..i],
                    column: column + s,
                });
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A CPU entry being read: the record, and the line and column of each field set.
struct CpuBlock {
    instance: u16,
    /// The line of the entry's header.
    line: usize,
    record: Vec<u8>,
    segments: HvmHwCpuSegments,
    layout: Option<Layout>,
    /// Field name (the record's: `rax`, `cs_sel`, `gdtr_limit`) → line, column, and
    /// the label of the line it was on when that differs from the field's register.
    seen: Vec<(String, usize, usize, Option<&'static str>)>,
    /// Inside its `FPU:` block: nothing more of the record is printed.
    in_fpu: bool,
    /// Pasted without its `Entry` header: `instance` is its place among the CPU entries,
    /// and no LAPIC entry is taken to be its.
    headerless: bool,
}

/// The state the reader carries between lines.
struct Reader<'f> {
    file: &'f str,
    domain: Option<u32>,
    domains: usize,
    cpus: Vec<(Option<u32>, CpuBlock)>,
    apic_bases: Vec<(Option<u32>, u16, u64)>,
    /// The entry being read: CPU (index into `cpus`), LAPIC (its instance), or other.
    current: Current,
}

#[derive(Clone, Copy, Debug)]
enum Current {
    None,
    Cpu(usize),
    Lapic(u16),
}

fn error(file: &str, line: usize, column: usize, field: &str, reason: Reason) -> IngestError {
    IngestError::new(
        FORMAT,
        file,
        Place::Text {
            line,
            column,
            field: field.to_string(),
        },
        reason,
    )
}

/// A hexadecimal number as `xen-hvmctx` prints it: `0x` and digits, or bare digits
/// (C's `%#x` prints a zero without `0x`). A trailing comma (`base_msr 0x…,`) is
/// allowed.
fn hex(token: &Token<'_>, file: &str, line: usize, field: &str) -> Result<u64, IngestError> {
    let t = token.text.trim_end_matches(',');
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(error(
            file,
            line,
            token.column,
            field,
            Reason::Layout(format!(
                "`{}` is not a hexadecimal number of at most 64 bits",
                token.text
            )),
        ));
    }
    u64::from_str_radix(digits, 16).map_err(|e| {
        error(
            file,
            line,
            token.column,
            field,
            Reason::Layout(e.to_string()),
        )
    })
}

/// A [`hex`] number that must fit the record's 32-bit `field`.
fn hex32(token: &Token<'_>, file: &str, line: usize, field: &str) -> Result<u32, IngestError> {
    let v = hex(token, file, line, field)?;
    u32::try_from(v).map_err(|_| {
        error(
            file,
            line,
            token.column,
            field,
            Reason::Layout(format!("{v:#x} does not fit {field} (32 bits)")),
        )
    })
}

impl CpuBlock {
    fn new(instance: u16, line: usize) -> Self {
        CpuBlock {
            instance,
            line,
            record: std::vec![0u8; HvmHwCpuOffset::SIZE],
            segments: HvmHwCpuSegments {
                selectors: PerSegReg::from_fn(|_| 0),
                limits: PerSegReg::from_fn(|_| 0),
                bases: PerSegReg::from_fn(|_| 0),
                arbytes: PerSegReg::from_fn(|_| XenArbytes(0)),
            },
            layout: None,
            seen: Vec::new(),
            in_fpu: false,
            headerless: false,
        }
    }

    /// Records that `field` was read at `line`, `column`; a second time is an error.
    fn mark(
        &mut self,
        field: String,
        line: usize,
        column: usize,
        label: Option<&'static str>,
        file: &str,
    ) -> Result<(), IngestError> {
        if let Some((_, first, ..)) = self.seen.iter().find(|(f, ..)| *f == field) {
            return Err(error(
                file,
                line,
                column,
                &field,
                Reason::Layout(format!(
                    "`{field}` is printed a second time (first at line {first}): two CPU \
                     entries run together?"
                )),
            ));
        }
        self.seen.push((field, line, column, label));
        Ok(())
    }

    fn pairs(&mut self, toks: &[Token<'_>], line: usize, file: &str) -> Result<(), IngestError> {
        let mut i = 0;
        while i < toks.len() {
            let mut name = String::from(toks[i].text);
            let column = toks[i].column;
            if let Some(next) = toks.get(i + 1) {
                if TWO_WORD_NAMES.contains(&(toks[i].text, next.text)) {
                    name = format!("{} {}", toks[i].text, next.text);
                    i += 1;
                }
            }
            let Some(value) = toks.get(i + 1) else {
                break;
            };
            i += 2;
            let Some(&(_, field)) = PAIRS.iter().find(|(n, _)| *n == name) else {
                // A name this reader does not know (a later Xen's): skip it and its value.
                continue;
            };
            if field.width == 4 {
                let v = hex32(value, file, line, &name)?;
                self.record[field.offset..field.offset + 4].copy_from_slice(&v.to_le_bytes());
            } else {
                let v = hex(value, file, line, &name)?;
                self.record[field.offset..field.offset + 8].copy_from_slice(&v.to_le_bytes());
            }
            self.mark(name, line, column, None, file)?;
        }
        Ok(())
    }

    /// `NAME SEL (BASE + LIMIT / ARBYTES)` or `NAME (BASE + LIMIT)`.
    fn segment_line(
        &mut self,
        label: &'static str,
        pasted: Line<'_>,
        line: usize,
        file: &str,
    ) -> Result<(), IngestError> {
        let text = pasted.text;
        let toks = tokens(pasted);
        let is_table = label == "idtr" || label == "gdtr";
        // The tokens between the label and `(`, and inside the parentheses.
        let open = toks.iter().position(|t| t.text.starts_with('('));
        let shape = || {
            error(
                file,
                line,
                toks[0].column,
                label,
                Reason::Layout(format!(
                    "expected `{label} {}`, found `{}`",
                    if is_table {
                        "(BASE + LIMIT)"
                    } else {
                        "SELECTOR (BASE + LIMIT / ARBYTES)"
                    },
                    text.trim()
                )),
            )
        };
        let open = open.ok_or_else(shape)?;
        // Split the inside into numbers on `(`, `+`, `/`, `)`.
        let inner: Vec<Token<'_>> = toks[open..]
            .iter()
            .flat_map(|t| tokens_by(t.text, t.column, |c| matches!(c, '(' | ')' | '+' | '/')))
            .collect();
        let expected = if is_table { 2 } else { 3 };
        if inner.len() != expected || open != if is_table { 1 } else { 2 } {
            return Err(shape());
        }
        if is_table {
            let (limit_at, base_at, name) = if label == "idtr" {
                (
                    HvmHwCpuOffset::IDTR_LIMIT,
                    HvmHwCpuOffset::IDTR_BASE,
                    "idtr",
                )
            } else {
                (
                    HvmHwCpuOffset::GDTR_LIMIT,
                    HvmHwCpuOffset::GDTR_BASE,
                    "gdtr",
                )
            };
            let base = hex(&inner[0], file, line, &format!("{name}_base"))?;
            let limit: u32 = hex32(&inner[1], file, line, &format!("{name}_limit"))?;
            self.record[base_at..base_at + 8].copy_from_slice(&base.to_le_bytes());
            self.record[limit_at..limit_at + 4].copy_from_slice(&limit.to_le_bytes());
            self.mark(format!("{name}_base"), line, inner[0].column, None, file)?;
            self.mark(format!("{name}_limit"), line, inner[1].column, None, file)?;
            return Ok(());
        }
        let labelled = SegReg::ALL
            .into_iter()
            .find(|r| xen_label(*r) == label)
            .ok_or_else(shape)?;
        let sel = toks[1];
        let layout = match self.layout {
            Some(l) => l,
            None => {
                let l = if sel.text.len() == 10 && sel.text.starts_with("0x") {
                    Layout::Xen4_0
                } else {
                    Layout::Xen4_12
                };
                self.layout = Some(l);
                l
            }
        };
        let reg = layout.register(labelled);
        let name = xen_label(reg);
        let moved = (reg != labelled).then_some(label);
        let field = |what: &str| format!("{name}_{what}");
        let selector: u32 = hex32(&sel, file, line, &field("sel"))?;
        let base = hex(&inner[0], file, line, &field("base"))?;
        let limit: u32 = hex32(&inner[1], file, line, &field("limit"))?;
        let arbytes: u32 = hex32(&inner[2], file, line, &field("arbytes"))?;
        self.segments.selectors[reg] = selector;
        self.segments.bases[reg] = base;
        self.segments.limits[reg] = limit;
        self.segments.arbytes[reg] = XenArbytes(arbytes);
        self.mark(field("sel"), line, sel.column, moved, file)?;
        self.mark(field("base"), line, inner[0].column, moved, file)?;
        self.mark(field("limit"), line, inner[1].column, moved, file)?;
        self.mark(field("arbytes"), line, inner[2].column, moved, file)?;
        Ok(())
    }

    /// Every field the CPU checks need was printed.
    fn complete(&self, file: &str) -> Result<(), IngestError> {
        let missing = |what: String| {
            error(
                file,
                self.line,
                1,
                &format!("CPU entry of instance {}", self.instance),
                Reason::Layout(format!(
                    "`{what}` is not printed in this entry (a cut paste?): every register \
                     is needed"
                )),
            )
        };
        for (name, field) in PAIRS {
            if field.required && !self.seen.iter().any(|(f, ..)| f == name) {
                return Err(missing(name.to_string()));
            }
        }
        for reg in SegReg::ALL {
            let sel = format!("{}_sel", xen_label(reg));
            if !self.seen.iter().any(|(f, ..)| *f == sel) {
                return Err(missing(format!("the {} line", xen_label(reg))));
            }
        }
        for table in ["idtr_base", "gdtr_base"] {
            if !self.seen.iter().any(|(f, ..)| f == table) {
                return Err(missing(format!("the {} line", &table[..4])));
            }
        }
        Ok(())
    }

    /// The place of the record's field `field`, for an error about it.
    fn place(&self, field: &str) -> Place {
        let found = self.seen.iter().find(|(f, ..)| f == field);
        match found {
            Some((_, line, column, label)) => Place::Text {
                line: *line,
                column: *column,
                field: match label {
                    Some(l) => format!("{field}, on the line labelled `{l}`"),
                    None => field.to_string(),
                },
            },
            None => Place::Text {
                line: self.line,
                column: 1,
                field: format!("CPU entry of instance {}: {field}", self.instance),
            },
        }
    }
}

/// The record's name of a segment, and `xen-hvmctx`'s label for it.
const fn xen_label(reg: SegReg) -> &'static str {
    match reg {
        SegReg::Ldtr => "ldtr",
        other => other.kvm_name(),
    }
}

/// The label of a segment or table line, if `first` is one. Xen 4.0's tool printed
/// the IDTR's line as `itdr` (fixed by `1ea482edf8`, 2010-07-19, first in 4.1.0).
fn segment_label(first: &str) -> Option<&'static str> {
    if first == "itdr" {
        return Some("idtr");
    }
    SegReg::ALL
        .into_iter()
        .map(xen_label)
        .chain(["idtr", "gdtr"])
        .find(|l| *l == first)
}

impl Reader<'_> {
    fn line(&mut self, n: usize, raw: &str) -> Result<(), IngestError> {
        let pasted = Line::peeled(raw);
        let text = pasted.text.trim();
        if let Some(d) = text.strip_prefix(TITLE) {
            self.domain = d.trim().parse().ok();
            self.domains += 1;
            self.current = Current::None;
            return Ok(());
        }
        if let Some(h) = entry_header(text) {
            self.current = match h.kind {
                TYPE_CPU => {
                    self.cpus.push((self.domain, CpuBlock::new(h.instance, n)));
                    Current::Cpu(self.cpus.len() - 1)
                }
                TYPE_LAPIC => Current::Lapic(h.instance),
                _ => Current::None,
            };
            return Ok(());
        }
        // A CPU block pasted without its `Entry` header: numbered by order.
        let in_fresh_entry =
            matches!(self.current, Current::Cpu(i) if self.cpus[i].1.seen.is_empty());
        if starts_cpu_block(text) && !in_fresh_entry {
            let k = self.cpus.len();
            let mut block = CpuBlock::new(u16::try_from(k).unwrap_or(u16::MAX), n);
            block.headerless = true;
            self.cpus.push((self.domain, block));
            self.current = Current::Cpu(self.cpus.len() - 1);
        }
        match self.current {
            Current::None => Ok(()),
            Current::Lapic(instance) => {
                let toks = tokens(pasted);
                let value = toks
                    .iter()
                    .position(|t| t.text == "base_msr")
                    .and_then(|i| toks.get(i + 1));
                if let Some(v) = value {
                    let base = hex(v, self.file, n, "LAPIC base_msr")?;
                    self.apic_bases.push((self.domain, instance, base));
                    self.current = Current::None;
                }
                Ok(())
            }
            Current::Cpu(i) => {
                let file = self.file;
                let block = &mut self.cpus[i].1;
                if block.in_fpu {
                    return Ok(());
                }
                let mut toks = tokens(pasted);
                if toks.first().is_some_and(|t| t.text == "FPU:") {
                    block.in_fpu = true;
                    return Ok(());
                }
                if toks.first().is_some_and(|t| t.text == "CPU:") {
                    toks.remove(0);
                }
                let Some(first) = toks.first() else {
                    return Ok(());
                };
                match segment_label(first.text) {
                    Some(label) if text.contains('(') => block.segment_line(label, pasted, n, file),
                    _ => block.pairs(&toks, n, file),
                }
            }
        }
    }
}

/// Reads every CPU entry of the `xen-hvmctx` output in the file at `path`.
///
/// # Errors
///
/// As [`read`]; a file that cannot be read, is larger than [`MAX_TEXT`] or is not
/// UTF-8.
pub fn read_path(path: &std::path::Path) -> Result<Vec<ForeignVcpu>, IngestError> {
    let text = read_limited_text(path, MAX_TEXT, FORMAT)?;
    let label = path.display().to_string();
    read(&text, &label)
}

/// Reads every CPU entry of `xen-hvmctx`'s output as a vCPU. `file` names the input in
/// errors.
///
/// # Errors
///
/// [`IngestError`] naming the line and column: no CPU entry, a value that is not a
/// number or does not fit its field, a register missing from an entry (a cut paste),
/// a field printed twice, or a segment the strict decode refuses; a text longer than
/// [`MAX_TEXT`].
pub fn read(text: &str, file: &str) -> Result<Vec<ForeignVcpu>, IngestError> {
    within_limit(FORMAT, file, text.len(), MAX_TEXT)?;
    let mut r = Reader {
        file,
        domain: None,
        domains: 0,
        cpus: Vec::new(),
        apic_bases: Vec::new(),
        current: Current::None,
    };
    for (i, line) in text.lines().enumerate() {
        r.line(i + 1, line)?;
    }
    if r.cpus.is_empty() {
        return Err(IngestError::new(
            FORMAT,
            file,
            Place::File,
            Reason::Missing("a CPU entry (`Entry N: type 2 instance K, length L`)"),
        ));
    }
    let several = r.domains > 1;
    let mut out = Vec::with_capacity(r.cpus.len());
    for (domain, mut block) in r.cpus {
        block.complete(file)?;
        block.segments.write_into(&mut block.record).map_err(|e| {
            error(
                file,
                block.line,
                1,
                "hvm_hw_cpu",
                Reason::Layout(e.to_string()),
            )
        })?;
        let apic = r
            .apic_bases
            .iter()
            .filter(|_| !block.headerless)
            .find(|(d, i, _)| *d == domain && *i == block.instance)
            .map(|&(.., b)| b);
        let layout = block.layout.unwrap_or(Layout::Xen4_12);
        let described = match domain {
            Some(d) => format!("{FORMAT} for domain {d} ({})", layout.describe()),
            None => format!("{FORMAT} ({})", layout.describe()),
        };
        let locate = |field: &str, _offset: usize| block.place(field);
        let entry = CpuEntry {
            instance: block.instance,
            payload: &block.record,
            origin: if block.headerless {
                format!(
                    "CPU entry at line {} without its `Entry` header (vCPU {} by order)",
                    block.line, block.instance
                )
            } else {
                format!("CPU instance {} at line {}", block.instance, block.line)
            },
            locate: &locate,
            format: FORMAT,
            tsc_aux: false,
        };
        let mut vcpu = cpu(&entry, apic, &described, file)?;
        if let (true, Some(d)) = (several, domain) {
            vcpu.id = format!("d{d}v{}", block.instance);
        }
        out.push(vcpu);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
