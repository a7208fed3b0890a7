//! Bochs's CPU dump: `BX_CPU_C::debug` in bochs `cpu/debugstuff.cc`, which Bochs
//! writes to its log (`bochsout.txt`) after a triple fault (`exception()` in
//! `cpu/exception.cc`), with a panic, or when the simulation ends. One `BX_INFO` a
//! line, each behind the log's `%011llu%c[%-6s] ` prefix (`00000693930i[CPU0  ] `):
//!
//! ```text
//! CPU is in %s (%s[, vmx guest])     real/v8086/protected/compatibility/long mode
//! CS.mode = %u bit                   16, 32 or 64 (SS.mode likewise)
//! EFER   = 0x%08x                    up to 2.7; from 2.8: EFER = 0x%08x: <flags>
//! XCR0=0x%08x: <flags>               (2.8 on, with XSAVE)
//! | EAX=%08x  EBX=%08x  ECX=%08x  EDX=%08x     (long mode: | RAX=%016llx  RBX=…,
//! | ESP=%08x  EBP=%08x  ESI=%08x  EDI=%08x      eight lines to R14/R15)
//! | IOPL=%1u id vip vif ac vm rf nt of df if tf sf zf af pf cf          (up to 2.7)
//! | EFLAGS=%08x: id vip vif ac vm rf nt IOPL=%1u of df if tf sf zf af pf cf   (2.8)
//! | SEG sltr(index|ti|rpl)     base    limit G D
//! |  CS:%04x( %04x| %01u|  %1u) %08x %08x %1u %1u     (CS DS SS ES FS GS)
//! |  MSR_FS_BASE:%016llx           (long mode; MSR_GS_BASE likewise)
//! | EIP=%08x (%08x)                 (long mode: | RIP=%016llx (%016llx))
//! | CR0=0x%08x CR2=0x%08x           (up to 2.7; CPU level < 5: CR0, CR2, CR3)
//! | CR3=0x%08x CR4=0x%08x           (long mode: CR3 with 16 digits)
//! | CR0=0x%08x: <flags>             (2.8 on: CR0, CR2, CR3, CR4 a line each,
//! | CR4_HI=0x%08x: <flags>           and CR4's high half with FRED)
//! ```
//!
//! A flag word in upper case is a set flag (`stringify_EFLAGS`, and the `get_*() ? "ID"
//! : "id"` list of 2.7); EFLAGS bit 1 is always 1 (SDM Vol. 1 §3.4.3) and is not
//! printed. Bochs prints of a segment only its selector, base (the low 32 bits),
//! limit, G and D: no type, DPL, S, P or L. So no segment is read whole: each shown is
//! named in a note and left out (`partial_segments`). Bochs's CPL is CS's RPL by
//! definition (`#define CPL (BX_CPU_THIS_PTR sregs[BX_SEG_REG_CS].selector.rpl)`,
//! `cpu/cpu.h`; real-mode loads set it to 0, virtual-8086 ones to 3), so the RPL of the
//! CS line is the CPL. The mode Bochs names (with CS's width) is kept in a note and as
//! the dump's named mode, which stands where CR0, EFER and RFLAGS do not decide it.
//!
//! A dump opens at a line only Bochs prints (the mode lines, the flag or segment
//! lines, `EIP=… (…)`, `CR0=0x…`) and runs while its lines follow; a line of another
//! kind, or a field printed again, ends it.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::text::hex_width;
use crate::arch::{CR0_PE, Cpl, CpuMode, SegReg};

/// The flag words of the 2.7 `IOPL=` line and of 2.8's `EFLAGS=` text, in Bochs's
/// order, with their bits (`stringify_EFLAGS`).
const FLAGS: [(&str, u32); 16] = [
    ("id", 21),
    ("vip", 20),
    ("vif", 19),
    ("ac", 18),
    ("vm", 17),
    ("rf", 16),
    ("nt", 14),
    ("of", 11),
    ("df", 10),
    ("if", 9),
    ("tf", 8),
    ("sf", 7),
    ("zf", 6),
    ("af", 4),
    ("pf", 2),
    ("cf", 0),
];

/// The segment lines, in the order Bochs prints them.
const SEGMENTS: [SegReg; 6] = [
    SegReg::Cs,
    SegReg::Ds,
    SegReg::Ss,
    SegReg::Es,
    SegReg::Fs,
    SegReg::Gs,
];

/// The text after a Bochs log prefix (`00000693930i[CPU0  ] `, found anywhere in the
/// line, so a line number or another prefix before it does not matter), without the
/// `|` that opens the register lines; the line itself when it has no such prefix (the
/// prefix stripper took it).
fn body(line: &str) -> &str {
    let b = line.as_bytes();
    let mut rest = line;
    for (i, _) in line.match_indices('[') {
        let stamp = i >= 12
            && b[i - 12..i - 1].iter().all(u8::is_ascii_digit)
            && b[i - 1].is_ascii_lowercase();
        if let Some(end) = line[i..].find("] ").filter(|_| stamp) {
            rest = &line[i + end + 2..];
            break;
        }
    }
    rest.trim().trim_start_matches('|').trim_start()
}

/// `NAME=0x…` or `NAME=…` (with a trailing `:`) → the value, read at one of `widths`.
fn value(word: &str, name: &str, widths: &[usize]) -> Option<u64> {
    let v = word.strip_prefix(name)?.strip_prefix('=')?;
    hex_width(v.trim_end_matches(':'), widths)
}

/// A dump being read.
struct Reading {
    dump: RawDump,
    /// The fields seen, to end the dump where one is printed again.
    seen: Vec<&'static str>,
    /// The mode line's words (`protected mode`), and CS's and SS's widths.
    mode: Option<String>,
    widths: [Option<u32>; 2],
    /// Segment lines read, and those cut short with what they lack.
    shown: Vec<SegReg>,
}

impl Reading {
    fn new(line: usize) -> Self {
        Reading {
            dump: RawDump::new(Dialect::Bochs, line),
            seen: Vec::new(),
            mode: None,
            widths: [None; 2],
            shown: Vec::new(),
        }
    }

    fn long(&self) -> bool {
        self.mode
            .as_deref()
            .is_some_and(|m| m == "long mode" || m == "compatibility mode")
    }

    /// The mode Bochs names (`get_bx_cpu_mode_name`), with CS's width where it
    /// decides 16- from 32-bit protected mode.
    fn named_mode(&self) -> Option<CpuMode> {
        Some(match self.mode.as_deref()? {
            "real mode" => CpuMode::Real,
            "v8086 mode" => CpuMode::Virtual8086,
            "protected mode" => match self.widths[0]? {
                16 => CpuMode::Protected16,
                32 => CpuMode::Protected32,
                _ => return None,
            },
            "compatibility mode" => CpuMode::Compatibility,
            "long mode" => CpuMode::Long64,
            _ => return None,
        })
    }

    fn finish(mut self) -> RawDump {
        self.dump.named_mode = self.named_mode();
        let d = &mut self.dump;
        if let Some(mode) = &self.mode {
            let width = |w: Option<u32>| w.map_or_else(|| String::from("?"), |w| format!("{w}"));
            d.note(format!(
                "Bochs names the mode: {mode}, CS {}-bit, SS {}-bit (its CS.mode/SS.mode \
                 lines); where the fields read decide the mode, the mode above is theirs",
                width(self.widths[0]),
                width(self.widths[1])
            ));
        }
        if !self.shown.is_empty() {
            let names: Vec<&str> = self.shown.iter().map(|r| r.name()).collect();
            d.note(format!(
                "{} {} not read: Bochs prints a segment's selector, base, limit, G and D but \
                 no type, DPL, S, P or L (BX_CPU_C::debug), so no segment rule is judged on {}",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                if names.len() == 1 { "it" } else { "them" },
            ));
            d.partial_segments = self.shown;
        }
        // Real mode: every segment load sets the RPL, and so Bochs's CPL, to 0
        // (`load_seg_reg` in cpu/segment_ctrl_pro.cc: `selector.rpl = real_mode() ? 0 :
        // 3`; a reset loads CS with RPL 0), whatever CS's line shows or lacks.
        let real = match d.guest.cr0 {
            Some(cr0) => cr0 & CR0_PE == 0,
            None => d.named_mode == Some(CpuMode::Real),
        };
        if real {
            d.guest.cpl = Some(Cpl::Ring0);
            d.note(String::from(
                "CPL 0: real mode, where Bochs's CPL, CS's RPL, is 0 whatever CS holds \
                 (load_seg_reg sets every segment's RPL to 0 in real mode, \
                 cpu/segment_ctrl_pro.cc)",
            ));
            return self.dump;
        }
        d.note(String::from(match d.guest.cpl {
            Some(_) => {
                "CPL from CS's RPL: Bochs's CPL is CS.RPL (cpu/cpu.h), though it prints no \
                 segment's DPL"
            }
            None => "CPL unknown: Bochs's CPL is CS's RPL, and the dump has no whole CS selector",
        }));
        self.dump
    }
}

/// What one line of a Bochs dump is.
enum Line<'a> {
    /// A line only Bochs prints: it may open a dump.
    Opens(&'a str),
    /// A line of a dump that does not open one alone (`EFER`, the general registers).
    Continues(&'a str),
}

/// Classifies a line's body; `None` for a line that is no part of a Bochs dump.
fn classify(b: &str) -> Option<Line<'_>> {
    let first = b.split_whitespace().next()?;
    let opens = b.starts_with("CPU is in ")
        || b.starts_with("CS.mode = ")
        || b.starts_with("SS.mode = ")
        || b.starts_with("SEG sltr(index|ti|rpl)")
        || first.starts_with("IOPL=")
        || first.starts_with("EFLAGS=")
        || (segment_name(first).is_some() && first.ends_with('('))
        || ((first.starts_with("EIP=") || first.starts_with("RIP="))
            && b.split_whitespace()
                .nth(1)
                .is_some_and(|w| w.starts_with('(')))
        || ["CR0=0x", "CR2=0x", "CR3=0x", "CR4=0x", "CR4_HI=0x"]
            .iter()
            .any(|k| first.starts_with(k));
    if opens {
        return Some(Line::Opens(b));
    }
    let continues = first.starts_with("EFER")
        || first.starts_with("XCR0=")
        || first.starts_with("MSR_FS_BASE:")
        || first.starts_with("MSR_GS_BASE:")
        || [
            "EAX=", "ESP=", "RAX=", "RCX=", "RSP=", "RSI=", "R8=", "R10=", "R12=", "R14=",
        ]
        .iter()
        .any(|k| first.starts_with(k));
    continues.then_some(Line::Continues(b))
}

/// `CS:0010(` → CS.
fn segment_name(word: &str) -> Option<SegReg> {
    let (name, _) = word.split_once(':')?;
    SEGMENTS.into_iter().find(|r| r.name() == name)
}

/// Every Bochs dump in a log's lines, numbered as in the log (a quoted-printable body
/// decoded, `text::quoted_printable`). The lines are read as pasted, not normalised:
/// the prefix stripper cuts a line at its first field anchor of any dialect, which in
/// `| ESP=…  EBP=…  ESI=…` is `ESI=`; [`body`] finds Bochs's own prefix instead.
#[must_use]
pub(crate) fn read(lines: &[(usize, Cow<'_, str>)]) -> Vec<RawDump> {
    let mut out = Vec::new();
    let mut cur: Option<Reading> = None;
    for (no, line) in lines {
        if out.len() >= MAX_DUMPS {
            break;
        }
        let b = body(line);
        if b.is_empty() {
            continue;
        }
        let (text, opens) = match classify(b) {
            Some(Line::Opens(t)) => (t, true),
            Some(Line::Continues(t)) if cur.is_some() => (t, false),
            _ => {
                out.extend(cur.take().map(Reading::finish));
                continue;
            }
        };
        let key = key(text);
        if cur.as_ref().is_some_and(|c| c.seen.contains(&key)) {
            out.extend(cur.take().map(Reading::finish));
            if !opens {
                continue;
            }
        }
        let c = cur.get_or_insert_with(|| Reading::new(*no));
        c.seen.push(key);
        c.dump.lines.extend_to(*no);
        field(c, text, *no);
    }
    out.extend(cur.map(Reading::finish));
    out.retain(|d| d.has_fields() || !d.partial_segments.is_empty());
    // The dump open when the bound stopped the loop is one more.
    out.truncate(MAX_DUMPS);
    out
}

/// The field a line holds, for finding a dump printed again.
fn key(text: &str) -> &'static str {
    const KEYS: &[&str] = &[
        "CPU is in",
        "CS.mode",
        "SS.mode",
        "EFER",
        "XCR0",
        "EAX",
        "ESP",
        "RAX",
        "RCX",
        "RSP",
        "RSI",
        "R8",
        "R10",
        "R12",
        "R14",
        "IOPL",
        "EFLAGS",
        "SEG",
        "MSR_FS_BASE",
        "MSR_GS_BASE",
        "EIP",
        "RIP",
        "CR0",
        "CR2",
        "CR3",
        "CR4_HI",
        "CR4",
    ];
    if let Some(reg) = text.split_whitespace().next().and_then(segment_name) {
        return reg.name();
    }
    KEYS.iter()
        .find(|k| text.starts_with(*k))
        .copied()
        .unwrap_or("?")
}

fn field(c: &mut Reading, text: &str, line: usize) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let first = words.first().copied().unwrap_or_default();
    if let Some(rest) = text.strip_prefix("CPU is in ") {
        c.mode = rest.split_once(" (").map(|(m, _)| String::from(m));
    } else if let Some(rest) = text
        .strip_prefix("CS.mode = ")
        .or(text.strip_prefix("SS.mode = "))
    {
        let bits = rest.split_whitespace().next().and_then(|w| w.parse().ok());
        c.widths[usize::from(text.starts_with("SS"))] = bits.filter(|b| [16, 32, 64].contains(b));
    } else if first.starts_with("EFER") {
        // `EFER   = 0x00000000` (2.7) or `EFER = 0x00001d00: …` (2.8).
        let v = text
            .split_once('=')
            .and_then(|(_, v)| v.split_whitespace().next())
            .and_then(|v| hex_width(v.trim_end_matches(':'), &[8]));
        match v {
            Some(v) => c.dump.guest.efer = Some(v),
            None => cut(c, line, "EFER", "no value"),
        }
    } else if first.starts_with("IOPL=") || first.starts_with("EFLAGS=") {
        flags(c, &words, line);
    } else if let Some(reg) = segment_name(first).filter(|_| first.ends_with('(')) {
        segment(c, reg, &words, line);
    } else if first.starts_with("EIP=") || first.starts_with("RIP=") {
        let widths: &[usize] = if first.starts_with('E') { &[8] } else { &[16] };
        match value(first, &first[..3], widths) {
            Some(v) => c.dump.guest.rip = Some(v),
            None => cut(c, line, &first[..3], "no value"),
        }
    } else if first.starts_with("CR") {
        for w in &words {
            control(c, w, line);
        }
    }
}

/// One `CRn=0x…` word. CR2 has no field to go to; CR4_HI is CR4's high half.
fn control(c: &mut Reading, w: &str, line: usize) {
    let Some((name, _)) = w.split_once('=') else {
        return;
    };
    // A long-mode CR3 is 16 digits; Bochs before 2.6.2 printed its low 32 bits.
    let widths: &[usize] = match name {
        "CR3" if c.long() => &[16],
        "CR3" | "CR2" => &[8, 16],
        _ => &[8],
    };
    let Some(v) = value(w, name, widths) else {
        if name == "CR3" && c.long() && value(w, name, &[8]).is_some() {
            c.dump.note(format!(
                "line {line}: CR3 is printed with 8 digits in long mode (its low half, as \
                 Bochs before 2.6.2 printed it): not read"
            ));
        } else if ["CR0", "CR3", "CR4", "CR4_HI"].contains(&name) {
            cut(c, line, name, "no value");
        }
        return;
    };
    let g = &mut c.dump.guest;
    match name {
        "CR0" => g.cr0 = Some(v),
        "CR3" => g.cr3 = Some(v),
        "CR4" => g.cr4 = Some(g.cr4.unwrap_or(0) & !0xffff_ffff | v),
        "CR4_HI" => g.cr4 = Some(g.cr4.unwrap_or(0) & 0xffff_ffff | v << 32),
        _ => {}
    }
}

fn cut(c: &mut Reading, line: usize, what: &str, lacks: &str) {
    c.dump.note(format!(
        "line {line}: the {what} line is cut short ({lacks}): not read"
    ));
}

/// RFLAGS from `EFLAGS=%08x: …` (2.8) or from the 2.7 line's `IOPL=%1u` and flag
/// words, upper case set; bit 1, always set, is not printed.
fn flags(c: &mut Reading, words: &[&str], line: usize) {
    if let Some(v) = words.first().and_then(|w| value(w, "EFLAGS", &[8])) {
        c.dump.guest.rflags = Some(v);
        return;
    }
    if words.first().is_some_and(|w| w.starts_with("EFLAGS=")) {
        return cut(c, line, "EFLAGS", "no value");
    }
    let iopl = words
        .first()
        .and_then(|w| w.strip_prefix("IOPL="))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v <= 3);
    let mut v = 2u64;
    for (i, (name, bit)) in FLAGS.iter().enumerate() {
        match words.get(i + 1) {
            Some(w) if w == name => {}
            Some(w) if w.eq_ignore_ascii_case(name) && *w == w.to_ascii_uppercase() => {
                v |= 1 << bit;
            }
            _ => return cut(c, line, "flags", &format!("no {name}")),
        }
    }
    match iopl {
        Some(iopl) => c.dump.guest.rflags = Some(v | iopl << 12),
        None => cut(c, line, "flags", "no IOPL"),
    }
}

/// `CS:0010( 0002| 0|  0) 00000000 ffffffff 1 1`: selector (its index, TI and RPL
/// again), base, limit, G, D. Read to check the line is Bochs's; a whole line or a
/// cut one, the register is named, never judged.
fn segment(c: &mut Reading, reg: SegReg, words: &[&str], line: usize) {
    let sel = words
        .first()
        .and_then(|w| w.split_once(':'))
        .and_then(|(_, s)| hex_width(s.trim_end_matches('('), &[4]));
    let index = words
        .get(1)
        .and_then(|w| w.strip_suffix('|'))
        .and_then(|w| hex_width(w, &[4]));
    let ti = words.get(2).and_then(|w| w.strip_suffix('|'));
    let rpl = words.get(3).and_then(|w| w.strip_suffix(')'));
    let agrees = match (sel, index, ti, rpl) {
        (Some(s), Some(i), Some(t), Some(r)) => {
            format!("{}", (s >> 2) & 1) == t && format!("{}", s & 3) == r && s >> 3 == i
        }
        _ => false,
    };
    // A selector of 0 whose index, TI and RPL remain is one Bochs nulled on a return to
    // an outer privilege level: `validate_seg_reg` (cpu/segment_ctrl_pro.cc) clears
    // only the value and the cache's valid bit (SDM Vol. 3A §6.12.3, RET and IRET).
    // A null selector Bochs did not touch (`0000( 0000| 0|  0)`) agrees with its parts.
    let nulled = sel == Some(0) && !agrees && index.is_some() && ti.is_some() && rpl.is_some();
    if nulled {
        c.dump.note(format!(
            "line {line}: {}'s selector is 0 beside index {}: Bochs nulled it on a return \
             to an outer privilege level (validate_seg_reg clears the value, not the index)",
            reg.name(),
            index.unwrap_or_default()
        ));
    } else if !agrees {
        return cut(c, line, reg.name(), "no whole selector");
    }
    if reg == SegReg::Cs {
        c.dump.guest.cpl = sel.map(|s| Cpl::from_low_bits(s as u8));
    }
    let lacks = [
        ("base", &[8][..]),
        ("limit", &[8]),
        ("G", &[1]),
        ("D", &[1]),
    ]
    .iter()
    .enumerate()
    .find(|(i, (_, w))| words.get(4 + i).and_then(|x| hex_width(x, w)).is_none())
    .map(|(_, (name, _))| *name);
    if let Some(lacks) = lacks {
        c.dump.note(format!(
            "line {line}: the {} line is cut short (no {lacks})",
            reg.name()
        ));
    }
    if !c.shown.contains(&reg) {
        c.shown.push(reg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::log::read_log;
    use crate::ingest::text::{Words, normalise, quoted_printable};

    /// The dumps of a whole text, its lines as `read_log` hands them over.
    fn read(text: &str) -> Vec<RawDump> {
        super::read(&quoted_printable::decode(text).lines)
    }

    /// Bochs 2.7's 32-bit dump, as `BX_CPU_C::debug` prints it.
    const DUMP_32: &str = "\
00300648000i[CPU0  ] CPU is in protected mode (active)
00300648000i[CPU0  ] CS.mode = 32 bit
00300648000i[CPU0  ] SS.mode = 32 bit
00300648000i[CPU0  ] EFER   = 0x00000000
00300648000i[CPU0  ] | EAX=60000a4b  EBX=00000600  ECX=00090002  EDX=0000000a
00300648000i[CPU0  ] | ESP=0000ffce  EBP=00000000  ESI=000e007c  EDI=0000007a
00300648000i[CPU0  ] | IOPL=0 id vip vif ac vm rf nt of df IF tf sf zf af PF cf
00300648000i[CPU0  ] | SEG sltr(index|ti|rpl)     base    limit G D
00300648000i[CPU0  ] |  CS:0008( 0001| 0|  0) 00000000 ffffffff 1 1
00300648000i[CPU0  ] |  DS:0010( 0002| 0|  0) 00000000 ffffffff 1 1
00300648000i[CPU0  ] |  SS:0010( 0002| 0|  0) 00000000 ffffffff 1 1
00300648000i[CPU0  ] |  ES:0010( 0002| 0|  0) 00000000 ffffffff 1 1
00300648000i[CPU0  ] |  FS:0010( 0002| 0|  0) 00000000 ffffffff 1 1
00300648000i[CPU0  ] |  GS:001b( 0003| 0|  3) 000b8000 0000ffff 0 0
00300648000i[CPU0  ] | EIP=0009037f (0009037f)
00300648000i[CPU0  ] | CR0=0x60000011 CR2=0x00000000
00300648000i[CPU0  ] | CR3=0x00000000 CR4=0x00000000
00300648000i[CMOS  ] Last time is 1614186688 (Wed Feb 24 09:11:28 2021)
";

    /// Bochs 2.8's 64-bit dump (`stringify_*` after each value, a line per CR).
    const DUMP_64: &str = "\
00271001846i[CPU0  ] CPU is in long mode (active)
00271001846i[CPU0  ] CS.mode = 64 bit
00271001846i[CPU0  ] SS.mode = 64 bit
00271001846i[CPU0  ] EFER = 0x00000d01: ffxsr NXE LMA LME SCE
00271001846i[CPU0  ] XCR0=0x00000001: tiledata tilecfg hwp lbr uintr hdc cet_s cet_u pasid pkru pt hi_zmm zmm_hi256 opmask bndcfg bndregs ymm sse FPU
00271001846i[CPU0  ] | RAX=000000000009ec00  RBX=0000000002002820
00271001846i[CPU0  ] | RCX=0000000000000038  RDX=0000000000000000
00271001846i[CPU0  ] | RSP=0000000000009000  RBP=0000000000000000
00271001846i[CPU0  ] | RSI=0000000002000c71  RDI=0000000002001f98
00271001846i[CPU0  ] |  R8=0000000000000000   R9=0000000000000000
00271001846i[CPU0  ] | R10=0000000000000000  R11=0000000000000000
00271001846i[CPU0  ] | R12=0000000000000000  R13=0000000000000000
00271001846i[CPU0  ] | R14=0000000000000000  R15=0000000000000000
00271001846i[CPU0  ] | EFLAGS=00010246: id vip vif ac vm RF nt IOPL=0 of df if tf sf ZF af PF cf
00271001846i[CPU0  ] | SEG sltr(index|ti|rpl)     base    limit G D
00271001846i[CPU0  ] |  CS:0008( 0001| 0|  0) 00000000 ffffffff 1 0
00271001846i[CPU0  ] |  DS:0010( 0002| 0|  0) 00000000 ffffffff 1 1
00271001846i[CPU0  ] |  SS:0010( 0002| 0|  0) 00000000 ffffffff 1 1
00271001846i[CPU0  ] |  ES:0010( 0002| 0|  0) 00000000 ffffffff 1 1
00271001846i[CPU0  ] |  FS:0000( 0000| 0|  0) 00000000 00000000 0 0
00271001846i[CPU0  ] |  GS:0000( 0000| 0|  0) 00000000 00000000 0 0
00271001846i[CPU0  ] |  MSR_FS_BASE:0000000000000000
00271001846i[CPU0  ] |  MSR_GS_BASE:ffff888000000000
00271001846i[CPU0  ] | RIP=ffffffff81000010 (ffffffff8100000d)
00271001846i[CPU0  ] | CR0=0x80050033: PG cd nw ac WP ne ET ts em MP PE
00271001846i[CPU0  ] | CR2=0x0000000000000000
00271001846i[CPU0  ] | CR3=0x0000000001a0a000
00271001846i[CPU0  ] | CR4=0x000006b0: lass uintr pks cet pke smap smep keylock osxsave pcid fsgsbase smx vmx la57 umip OSXMMEXCPT OSFXSR pce PGE mce PAE pse de tsd pvi vme
00271001846i[CPU0  ] | CR4_HI=0x00000001: FRED
00271001846e[CPU0  ] exception(): 3rd (13) exception with no resolution, shutdown status is 00h, resetting
";

    /// Bochs's CPL is CS's RPL: a user-mode CS line says CPL 3; a cut one says nothing.
    /// The named mode needs CS's width only to tell 16- from 32-bit protected mode.
    #[test]
    fn the_cpl_is_cs_rpl_and_the_mode_is_named() {
        let user = DUMP_32.replace("CS:0008( 0001| 0|  0)", "CS:001b( 0003| 0|  3)");
        let d = &read(&user)[0];
        assert_eq!(d.guest.cpl, Some(Cpl::Ring3));
        // century-os's journal (2020): DS left as Bochs nulls it on the IRET to ring 3.
        let nulled = user.replace("DS:0010( 0002| 0|  0)", "DS:0000( 0005| 0|  0)");
        let d = &read(&nulled)[0];
        assert!(d.partial_segments.contains(&SegReg::Ds), "{:?}", d.notes);
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("DS's selector is 0 beside index 5"))
        );
        assert!(d.notes.iter().any(|n| n.starts_with("CPL from CS's RPL")));
        // An ordinary null selector (DUMP_64's FS and GS) is no nulled one.
        let d = &read(DUMP_64)[0];
        assert!(
            !d.notes.iter().any(|n| n.contains("nulled")),
            "{:?}",
            d.notes
        );
        // A null selector with RPL 3 is one Bochs nulled too: its parts disagree.
        let rpl3 = user.replace("DS:0010( 0002| 0|  0)", "DS:0000( 0000| 0|  3)");
        let d = &read(&rpl3)[0];
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("DS's selector is 0 beside index 0"))
        );
        let cut = DUMP_32.replace("CS:0008( 0001| 0|  0)", "CS:0008( 0001|");
        let d = &read(&cut)[0];
        assert_eq!(d.guest.cpl, None);
        assert!(d.notes.iter().any(|n| n.starts_with("CPL unknown")));
        assert_eq!(read(DUMP_64)[0].named_mode, Some(CpuMode::Long64));
        let sixteen = DUMP_32.replace("CS.mode = 32 bit", "CS.mode = 16 bit");
        assert_eq!(read(&sixteen)[0].named_mode, Some(CpuMode::Protected16));
        let no_width = DUMP_32.replace("CS.mode = 32 bit", "");
        assert_eq!(read(&no_width)[0].named_mode, None);
        let v86 = DUMP_32.replace("protected mode", "v8086 mode");
        assert_eq!(read(&v86)[0].named_mode, Some(CpuMode::Virtual8086));
    }

    #[test]
    fn a_32_bit_dump_reads_every_field_and_names_the_segments() {
        let d = read(DUMP_32);
        assert_eq!(d.len(), 1, "{d:?}");
        let d = &d[0];
        assert_eq!((d.lines.first, d.lines.last), (1, 17));
        let g = &d.guest;
        assert_eq!(g.cr0, Some(0x6000_0011));
        assert_eq!((g.cr3, g.cr4, g.efer), (Some(0), Some(0), Some(0)));
        assert_eq!(g.rip, Some(0x9037f));
        // IF and PF set, bit 1 always.
        assert_eq!(g.rflags, Some(0x206));
        assert_eq!(g.cpl, Some(Cpl::Ring0), "CS's RPL");
        assert_eq!(d.named_mode, Some(CpuMode::Protected32));
        assert!(g.has_no_segments(), "no segment without its attributes");
        assert_eq!(d.partial_segments, SEGMENTS);
        assert!(d.notes.iter().any(|n| n.starts_with(
            "CS, DS, SS, ES, FS, GS are not read: Bochs prints a segment's selector, base, \
             limit, G and D but no type, DPL, S, P or L"
        )));
        assert!(
            d.notes
                .iter()
                .any(|n| n.starts_with("Bochs names the mode: protected mode, CS 32-bit")),
            "{:?}",
            d.notes
        );
    }

    #[test]
    fn a_64_bit_dump_reads_rip_the_wide_cr3_eflags_and_cr4_high() {
        let d = read(DUMP_64);
        assert_eq!(d.len(), 1, "{d:?}");
        let g = &d[0].guest;
        assert_eq!(g.efer, Some(0xd01));
        assert_eq!(g.rflags, Some(0x10246));
        assert_eq!(g.rip, Some(0xffff_ffff_8100_0010));
        assert_eq!(g.cr0, Some(0x8005_0033));
        assert_eq!(g.cr3, Some(0x1a0_a000));
        assert_eq!(g.cr4, Some(0x1_0000_06b0));
        assert_eq!(d[0].partial_segments.len(), 6);
        // The triple fault is the log's exit, and the target Bochs's own.
        let logs = read_log(DUMP_64);
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert_eq!(logs[0].dialects, [Dialect::Bochs]);
        assert_eq!(logs[0].target, crate::ingest::log::Target::Bochs);
        assert_eq!(
            logs[0].exit(),
            Some(&crate::ingest::exit::Exit::TripleFault {
                vector: Some(13),
                by: crate::ingest::exit::TripleFaultReport::Bochs,
            })
        );
    }

    /// Older 64-bit dumps printed CR3 with 8 digits (its low half): named, not read.
    #[test]
    fn a_long_mode_cr3_of_8_digits_is_not_read() {
        let text = "CPU is in long mode (active)\n| CR0=0x80000011 CR2=0x0000000000000000\n\
                    | CR3=0x00001000 CR4=0x00000020\n";
        let d = &read(text)[0];
        assert_eq!(
            (d.guest.cr0, d.guest.cr3, d.guest.cr4),
            (Some(0x8000_0011), None, Some(0x20))
        );
        assert!(
            d.notes
                .iter()
                .any(|n| n.starts_with("line 3: CR3 is printed with 8 digits"))
        );
    }

    /// A paste cut in a segment line, or in the flags: the cut line is named, nothing
    /// guessed.
    #[test]
    fn cut_lines_are_named_not_guessed() {
        let text = "00000693930i[CPU0  ] | IOPL=0 id vip vif ac vm RF nt of df if\n\
                    00000693930i[CPU0  ] |  CS:0010( 0002| 0|  0) 00000000 ffffffff\n";
        let d = read(text);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].guest.rflags, None);
        assert_eq!(d[0].partial_segments, [SegReg::Cs]);
        assert!(
            d[0].notes
                .iter()
                .any(|n| n == "line 1: the flags line is cut short (no tf): not read"),
            "{:?}",
            d[0].notes
        );
        assert!(
            d[0].notes
                .iter()
                .any(|n| n == "line 2: the CS line is cut short (no G)"),
            "{:?}",
            d[0].notes
        );
        // A selector whose index disagrees with it is not Bochs's line.
        let d = read("|  CS:0010( 0003| 0|  0) 00000000 ffffffff 1 1\n| EIP=00001000 (00001000)\n");
        assert!(d[0].partial_segments.is_empty());
        assert_eq!(d[0].guest.rip, Some(0x1000));
    }

    /// Line numbers or a quote before Bochs's own prefix, and lines pasted without it.
    #[test]
    fn prefixes_before_or_instead_of_bochs_s_are_read() {
        let numbered: String = DUMP_32
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{} > {l}\n", 268 + i))
            .collect();
        let bare: String = DUMP_32
            .lines()
            .map(|l| format!("{}\n", l.split_once("] ").map_or(l, |(_, b)| b)))
            .collect();
        for text in [numbered, bare] {
            let d = read(&text);
            assert_eq!(d.len(), 1, "{text}");
            assert_eq!(d[0].guest, read(DUMP_32)[0].guest);
        }
    }

    /// No other dialect's dump is read as Bochs's, and a Bochs dump as no other's.
    #[test]
    fn other_dialects_are_not_taken_and_bochs_is_taken_by_no_other() {
        for other in [
            "RAX=0000000000000000 RBX=0000000000000000\nRIP=000000000000fff0 RFL=00000002 [-------] CPL=0\n\
             CS =f000 ffffffffffff0000 0000ffff 00009b00\nCR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000\n\
             EFER=0000000000000000\n",
            "*** Guest State ***\nCR0: actual=0x0000000000000030, shadow=0x0000000060000010, gh_mask=fffffffffffffff7\n\
             CR3 = 0x0000000000000000\nRSP = 0x0000000000000000  RIP = 0x000000000000fff0\n\
             CS:   sel=0xf000, attr=0x0009b, limit=0x0000ffff, base=0x00000000ffff0000\n\
             EFER =     0x0000000000000000  PAT = 0x0007040600070406\n",
            "VMCB State Save Area:\ncs: s: 0xf000 a: 0x009b l: 0x0000ffff b: 0x00000000ffff0000\n\
             cr0: 0x0000000060000010 cr3: 0x0000000000000000\n",
        ] {
            assert!(read(other).is_empty(), "{other}");
        }
        let all = read_log(DUMP_32);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].dialects, [Dialect::Bochs]);
        // The readers that took its lines before the fence.
        let lines = normalise(DUMP_32);
        let mut words = Words::new(&lines);
        let taken = crate::ingest::linux_vmcs::read(&mut words, false);
        assert!(!taken.is_empty(), "EFER = 0x… opens a dump_vmcs");
    }

    /// Bounded on any input: a log of repeated dumps stops at MAX_DUMPS, and garbage
    /// after a mode line does not panic.
    #[test]
    fn many_dumps_and_garbage_stay_bounded() {
        let text = "CPU is in real mode (active)\nCR0=0x00000010\n".repeat(MAX_DUMPS + 5);
        assert_eq!(read(&text).len(), MAX_DUMPS);
        for junk in [
            "CPU is in ",
            "|  CS:(",
            "| IOPL=9 ID",
            "| EIP= (",
            "CR4_HI=0x:",
            "0123456789ab[x] ",
        ] {
            let _ = read(junk);
        }
    }
}
