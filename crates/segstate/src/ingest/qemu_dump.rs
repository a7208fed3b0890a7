//! QEMU's CPU state dump text (`info registers`, `-d cpu`, `-d int`, "KVM: entry failed"):
//! parsing and printing.
//!
//! The text comes from `x86_cpu_dump_state()` and `cpu_x86_dump_seg_cache()` in QEMU's
//! `target/i386/cpu-dump.c` (`helper.c` before QEMU 4.0). It is the one view of a vCPU that
//! every QEMU user can paste into a bug report, so `segstate check` reads it. Two layouts
//! exist, chosen per line by QEMU:
//!
//! - the register block and the segment lines follow `HF_CS64_MASK` (the *current* CS is
//!   64-bit): `RAX=%016lx …`, `RIP=%016lx RFL=%08x …` and `ES =%04x %016lx %08x %08x`,
//!   otherwise `EAX=%08x …`, `EIP=%08x EFL=%08x …` and `ES =%04x %08x %08x %08x`;
//! - the GDT/IDT/CR/DR lines follow `HF_LMA_MASK`, so in compatibility mode (LMA = 1,
//!   CS.L = 0) a dump mixes 32-bit segment lines with 64-bit table lines.
//!
//! The parser therefore accepts either width for every 64-bit quantity, on every line.
//! The segment flags column is `SegmentCache.flags & 0x00ffff00` (QEMU commit
//! 4058fd98fd7e), so residue bits 19:16 may show; [`QemuDump::segment_state`] ignores
//! them, as KVM's `set_seg` does.
//!
//! Only what segment checking needs is kept: general-purpose and debug registers are
//! validated but dropped, and [`QemuDump::to_text`] prints their reset values.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use crate::arch::SegmentState;
use crate::arch::{CR0_PE, EFER_LMA, PerSegReg, PrivilegeLevel, SegReg};
use crate::check::report::{Context, Report, Source, Vendors};
use crate::check::{CheckId, Family, Finding, Findings};
use crate::format::qemu::{QemuFlags, QemuSegmentCache};

/// The letters of the RFLAGS summary `[DOSZAPC]`, with their bits.
const FLAG_LETTERS: [(u8, u64); 7] = [
    (b'D', 1 << 10),
    (b'O', 1 << 11),
    (b'S', 1 << 7),
    (b'Z', 1 << 6),
    (b'A', 1 << 4),
    (b'P', 1 << 2),
    (b'C', 1 << 0),
];

/// The names QEMU prints for the eight segment lines (`"%-3s"`), in its order.
const SEG_LINES: [(SegReg, &str); 8] = [
    (SegReg::Es, "ES ="),
    (SegReg::Cs, "CS ="),
    (SegReg::Ss, "SS ="),
    (SegReg::Ds, "DS ="),
    (SegReg::Fs, "FS ="),
    (SegReg::Gs, "GS ="),
    (SegReg::Ldtr, "LDT="),
    (SegReg::Tr, "TR ="),
];

/// The segment state of QEMU's CPU state (`env->segs`, `hflags & HF_CPL_MASK`, the
/// control registers), decoded as leniently as KVM's `set_seg` takes it: residue bits
/// of the flags are ignored, a selector keeps its low 16 bits, and a segment is
/// unusable when P is clear (QEMU has no unusable bit). A dump and a migration stream
/// hold the same fields.
pub(crate) fn lenient_state(
    segments: &PerSegReg<QemuSegmentCache>,
    cpl: u8,
    cr0: u64,
    cr4: u64,
    efer: u64,
    rflags: u64,
) -> SegmentState {
    SegmentState {
        segments: segments.map(|_, q| q.lenient_segment()),
        cpl: PrivilegeLevel::from_low_bits(cpl),
        cr0,
        cr4,
        efer,
        rflags,
    }
}

/// The register QEMU names `name` in a dump (`ES` … `GS`, `LDT`, `TR`: its segment
/// lines without their padding and `=`).
pub(crate) fn segment_named(name: &str) -> Option<SegReg> {
    SEG_LINES
        .iter()
        .find(|(_, line)| line.trim_end_matches('=').trim_end() == name)
        .map(|(reg, _)| *reg)
}

/// One CPU state dump, as QEMU printed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuDump {
    /// 1-based line where this dump starts (its `RAX=`/`EAX=` line) in the input.
    pub line: usize,
    /// True for the 64-bit layout (`RAX=…`, 16-hex-digit segment bases): QEMU's
    /// `HF_CS64_MASK`, i.e. the vCPU was running 64-bit code.
    pub long_mode_layout: bool,
    /// The `CPL=` field of the RIP/EIP line: `hflags & HF_CPL_MASK`, QEMU's own CPL.
    pub cpl: u8,
    /// RIP (EIP in the 32-bit layout).
    pub rip: u64,
    /// RFLAGS (`RFL=`/`EFL=`).
    pub rflags: u64,
    /// ES CS SS DS FS GS, then `LDT` as [`SegReg::Ldtr`] and `TR` as [`SegReg::Tr`].
    /// The flags are the column as printed: QEMU masks them with `0x00ffff00`.
    pub segments: PerSegReg<QemuSegmentCache>,
    /// GDTR base and limit.
    pub gdt: (u64, u32),
    /// IDTR base and limit.
    pub idt: (u64, u32),
    /// CR0 (QEMU prints the low 32 bits).
    pub cr0: u64,
    /// CR2.
    pub cr2: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4 (QEMU prints the low 32 bits).
    pub cr4: u64,
    /// The `EFER=` line, when the dump has one (every QEMU since 0.10 prints it).
    pub efer: Option<u64>,
    /// The text after a segment's flags column, e.g. `" DPL=3 CS64 [-RA]"`, if QEMU
    /// printed one (it does only in protected mode, for present segments).
    pub suffixes: PerSegReg<Option<String>>,
}

/// Where and why a dump could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in bytes).
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl core::error::Error for DumpError {}

/// Reads every CPU state dump in `text`.
///
/// A dump starts at a line beginning with `RAX=` or `EAX=`. Lines outside dumps (log
/// noise, `KVM: entry failed, hardware error 0x80000021`, `-d int` exception lines, the
/// FPU/XMM/`Code=` lines after a dump, blank lines) are skipped. A dump runs from its
/// register block to its `EFER=` line; one that starts but is malformed or truncated is
/// an error naming the line and column and what was expected there.
///
/// # Errors
///
/// [`DumpError`] for the first malformed dump.
pub fn parse(text: &str) -> Result<Vec<QemuDump>, DumpError> {
    let mut lines = Lines::new(text);
    let mut dumps = Vec::new();
    while let Some((no, line)) = lines.peek() {
        if starts_dump(line) {
            dumps.push(parse_one(&mut lines, no)?);
        } else {
            lines.next();
        }
    }
    Ok(dumps)
}

/// True when `line` is the first line of a dump (`RAX=` in 64-bit mode, `EAX=` else).
#[must_use]
pub fn starts_dump(line: &str) -> bool {
    line.starts_with("RAX=") || line.starts_with("EAX=")
}

impl QemuDump {
    /// The segment state the check rules read.
    ///
    /// Decoding is lenient, as KVM's `set_seg` is: residue bits of the flags are ignored,
    /// a selector keeps its low 16 bits, and a segment is unusable when P is clear
    /// (QEMU has no unusable bit). The CPL is the dump's `CPL=` field, which is what
    /// QEMU itself runs with; EFER is 0 when the dump has none.
    #[must_use]
    pub fn segment_state(&self) -> SegmentState {
        let (segments, efer) = (&self.segments, self.efer.unwrap_or(0));
        lenient_state(segments, self.cpl, self.cr0, self.cr4, efer, self.rflags)
    }

    /// The suffix QEMU's `cpu_x86_dump_seg_cache()` prints for `reg` given this dump's
    /// flags, CR0.PE and EFER.LMA: `" DPL=0 CS64 [-RA]"`, `" DPL=0 TSS64-busy"`, or
    /// `None` in real mode or for a segment without P. Comparing it with
    /// [`QemuDump::suffixes`] finds a dump that was edited by hand.
    #[must_use]
    pub fn expected_suffix(&self, reg: SegReg) -> Option<String> {
        let flags = self.segments[reg].flags.0;
        if self.cr0 & CR0_PE == 0 || flags & QemuFlags::P_MASK == 0 {
            return None;
        }
        let lma = self.efer.unwrap_or(0) & EFER_LMA != 0 || self.long_mode_layout;
        let mut s = format!(
            " DPL={} ",
            (flags & QemuFlags::DPL_MASK) >> QemuFlags::DPL_SHIFT
        );
        let bit = |b: u32| flags & (1 << b) != 0;
        if flags & QemuFlags::S_MASK != 0 {
            // Code: C(onforming), R(eadable); data: E(xpand-down), W(ritable).
            let (name, [b10, b9]) = if bit(11) {
                let name = if flags & QemuFlags::L_MASK != 0 {
                    "CS64"
                } else if flags & QemuFlags::B_MASK != 0 {
                    "CS32"
                } else {
                    "CS16"
                };
                (name, ['C', 'R'])
            } else if flags & QemuFlags::B_MASK != 0 || lma {
                ("DS  ", ['E', 'W'])
            } else {
                ("DS16", ['E', 'W'])
            };
            s.push_str(name);
            s.push_str(" [");
            s.push(if bit(10) { b10 } else { '-' });
            s.push(if bit(9) { b9 } else { '-' });
            s.push(if bit(8) { 'A' } else { '-' });
            s.push(']');
        } else {
            const LEGACY: [&str; 16] = [
                "Reserved",
                "TSS16-avl",
                "LDT",
                "TSS16-busy",
                "CallGate16",
                "TaskGate",
                "IntGate16",
                "TrapGate16",
                "Reserved",
                "TSS32-avl",
                "Reserved",
                "TSS32-busy",
                "CallGate32",
                "Reserved",
                "IntGate32",
                "TrapGate32",
            ];
            const LONG: [&str; 16] = [
                "<hiword>",
                "Reserved",
                "LDT",
                "Reserved",
                "Reserved",
                "Reserved",
                "Reserved",
                "Reserved",
                "Reserved",
                "TSS64-avl",
                "Reserved",
                "TSS64-busy",
                "CallGate64",
                "Reserved",
                "IntGate64",
                "TrapGate64",
            ];
            let index = ((flags >> QemuFlags::TYPE_SHIFT) & 15) as usize;
            s.push_str(if lma { LONG[index] } else { LEGACY[index] });
        }
        Some(s)
    }

    /// Prints the dump in QEMU's format: the 64-bit or 32-bit layout by
    /// [`QemuDump::long_mode_layout`], the table lines 64-bit when EFER.LMA is set (or the
    /// layout is 64-bit), as `x86_cpu_dump_state()` does. What the dump does not keep
    /// prints as after reset: general-purpose registers and DR0-DR3 zero, DR6 ffff0ff0,
    /// DR7 400, `II=0 A20=1 SMM=0 HLT=0`; no `CCS=` or FPU lines. A value too wide
    /// for an 8-digit column is printed with 16 digits, so that
    /// `parse(&d.to_text())` gives back `d` (with `line` 1) for every dump.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        // fmt::Write into a String cannot fail.
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> fmt::Result {
        let tables64 = self.long_mode_layout || self.efer.unwrap_or(0) & EFER_LMA != 0;
        let mut letters = String::new();
        for (letter, bit) in FLAG_LETTERS {
            letters.push(if self.rflags & bit != 0 {
                letter as char
            } else {
                '-'
            });
        }
        let tail = format!("[{letters}] CPL={} II=0 A20=1 SMM=0 HLT=0", self.cpl);
        // QEMU's two layouts: the general registers (printed as zeros: a dump keeps
        // none), the instruction pointer and flags, and the width of a base.
        let (rows, [ip, flags], base_width): (&[[&str; 4]], _, _) = if self.long_mode_layout {
            (
                &[
                    ["RAX", "RBX", "RCX", "RDX"],
                    ["RSI", "RDI", "RBP", "RSP"],
                    ["R8 ", "R9 ", "R10", "R11"],
                    ["R12", "R13", "R14", "R15"],
                ],
                ["RIP", "RFL"],
                16,
            )
        } else {
            (
                &[["EAX", "EBX", "ECX", "EDX"], ["ESI", "EDI", "EBP", "ESP"]],
                ["EIP", "EFL"],
                8,
            )
        };
        let z = Hex(0, base_width);
        for [a, b, c, d] in rows {
            writeln!(out, "{a}={z} {b}={z} {c}={z} {d}={z}")?;
        }
        writeln!(
            out,
            "{ip}={} {flags}={} {tail}",
            Hex(self.rip, base_width),
            Hex(self.rflags, 8)
        )?;
        for (reg, name) in SEG_LINES {
            let s = &self.segments[reg];
            write!(
                out,
                "{name}{:04x} {} {:08x} {:08x}",
                s.selector,
                Hex(s.base, base_width),
                s.limit,
                s.flags.0
            )?;
            if let Some(suffix) = &self.suffixes[reg] {
                out.push_str(suffix);
            }
            out.push('\n');
        }
        let w = if tables64 { 16 } else { 8 };
        writeln!(out, "GDT=     {} {:08x}", Hex(self.gdt.0, w), self.gdt.1)?;
        writeln!(out, "IDT=     {} {:08x}", Hex(self.idt.0, w), self.idt.1)?;
        writeln!(
            out,
            "CR0={} CR2={} CR3={} CR4={}",
            Hex(self.cr0, 8),
            Hex(self.cr2, w),
            Hex(self.cr3, w),
            Hex(self.cr4, 8)
        )?;
        // qemu-system-x86_64 prints the debug registers as target_ulong: 16 digits.
        let z = Hex(0, 16);
        writeln!(out, "DR0={z} DR1={z} DR2={z} DR3={z} ")?;
        writeln!(out, "DR6={} DR7={}", Hex(0xffff_0ff0, 16), Hex(0x400, 16))?;
        if let Some(efer) = self.efer {
            writeln!(out, "EFER={}", Hex(efer, 16))?;
        }
        Ok(())
    }
}

/// A hex column of `.1` digits, widened to 16 when the value does not fit.
struct Hex(u64, usize);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = if self.0 > u64::from(u32::MAX) {
            16
        } else {
            self.1
        };
        write!(f, "{:0width$x}", self.0)
    }
}

/// The input's lines, numbered from 1, without line terminators or trailing blanks.
struct Lines<'a> {
    rest: core::str::Lines<'a>,
    peeked: Option<(usize, &'a str)>,
    next_no: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            rest: text.lines(),
            peeked: None,
            next_no: 1,
        }
    }

    fn peek(&mut self) -> Option<(usize, &'a str)> {
        if self.peeked.is_none() {
            let line = self.rest.next()?;
            self.peeked = Some((self.next_no, line.trim_end()));
            self.next_no += 1;
        }
        self.peeked
    }

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let line = self.peek();
        self.peeked = None;
        line
    }

    /// The next line, which must exist and start with `prefix`.
    fn expect(&mut self, prefix: &str, what: &str) -> Result<Cursor<'a>, DumpError> {
        let Some((no, line)) = self.next() else {
            return Err(DumpError {
                line: self.next_no,
                column: 1,
                message: format!("unexpected end of input: expected {what} (\"{prefix}\")"),
            });
        };
        let mut cursor = Cursor {
            line: no,
            text: line,
            pos: 0,
        };
        cursor.literal(prefix, what)?;
        Ok(cursor)
    }
}

/// A position in one line.
struct Cursor<'a> {
    line: usize,
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    fn error_at(&self, pos: usize, message: String) -> DumpError {
        DumpError {
            line: self.line,
            column: pos + 1,
            message,
        }
    }

    /// `expected` is not what the line holds at the cursor: an error there naming both.
    fn expected(&self, expected: fmt::Arguments<'_>) -> DumpError {
        let message = format!("expected {expected}, found {}", self.found(self.pos));
        self.error_at(self.pos, message)
    }

    /// What the line holds from `pos`, for messages (at most 20 characters).
    fn found(&self, pos: usize) -> String {
        let rest = self.bytes().get(pos..).unwrap_or_default();
        if rest.is_empty() {
            return "end of line".to_string();
        }
        let shown: String = String::from_utf8_lossy(rest).chars().take(20).collect();
        format!("{shown:?}")
    }

    fn literal(&mut self, lit: &str, what: &str) -> Result<(), DumpError> {
        let rest = self.bytes().get(self.pos..).unwrap_or_default();
        if rest.starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.expected(format_args!("{lit:?} ({what})")))
        }
    }

    /// A hex number of one of the `widths` digit counts (at most 16).
    fn hex(&mut self, widths: &[usize], field: &str) -> Result<u64, DumpError> {
        let start = self.pos;
        let digits = self
            .bytes()
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let expected = widths
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ");
        if !widths.contains(&digits) {
            // Point at the offending character, or at the field when it is too short
            // or too long.
            let at = start + digits;
            if digits == 0 || self.bytes().get(at).is_some_and(|b| *b != b' ') {
                let message = format!(
                    "expected {expected} hex digits for {field}, found {}",
                    self.found(at)
                );
                return Err(self.error_at(at, message));
            }
            let message = format!("expected {expected} hex digits for {field}, found {digits}");
            return Err(self.error_at(start, message));
        }
        let mut value = 0u64;
        for &b in &self.bytes()[start..start + digits] {
            // is_ascii_hexdigit held, so to_digit succeeds; 16 digits fit in u64.
            value = value << 4 | u64::from((b as char).to_digit(16).unwrap_or(0));
        }
        self.pos += digits;
        Ok(value)
    }

    /// A hex number that QEMU prints with 8 digits and that fits in 32 bits.
    fn hex32(&mut self, field: &str) -> Result<u32, DumpError> {
        // An 8-digit value always fits.
        Ok(self.hex(&[8], field)? as u32)
    }

    /// A 64-bit quantity, printed with 8 or 16 digits depending on the mode.
    fn hex64(&mut self, field: &str) -> Result<u64, DumpError> {
        self.hex(&[8, 16], field)
    }

    /// One decimal digit.
    fn digit(&mut self, field: &str) -> Result<u8, DumpError> {
        match self.bytes().get(self.pos).copied() {
            Some(b) if b.is_ascii_digit() => {
                self.pos += 1;
                Ok(b - b'0')
            }
            _ => Err(self.expected(format_args!("a decimal digit for {field}"))),
        }
    }

    fn end(&self, what: &str) -> Result<(), DumpError> {
        if self.pos >= self.bytes().len() {
            Ok(())
        } else {
            Err(self.expected(format_args!("end of line after {what}")))
        }
    }

    /// The rest of the line, which must be empty or start with `" DPL="`.
    fn suffix(&mut self, what: &str) -> Result<Option<String>, DumpError> {
        let rest = self.text.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            Ok(None)
        } else if rest.starts_with(" DPL=") {
            self.pos = self.text.len();
            Ok(Some(rest.to_string()))
        } else {
            Err(self.expected(format_args!("end of line or \" DPL=\" after {what}")))
        }
    }
}

/// A line of four named registers (`"RAX=%016lx RBX=…"`), validated and dropped.
fn register_line(
    lines: &mut Lines<'_>,
    names: [&str; 4],
    width: usize,
    what: &str,
) -> Result<(), DumpError> {
    let mut c = lines.expect(names[0], what)?;
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            c.literal(" ", what)?;
            c.literal(name, what)?;
        }
        c.hex(&[width], name.trim_end_matches([' ', '=']))?;
    }
    c.end(what)
}

fn parse_one(lines: &mut Lines<'_>, start: usize) -> Result<QemuDump, DumpError> {
    let long = lines
        .peek()
        .is_some_and(|(_, l)| l.as_bytes().starts_with(b"RAX="));
    let (rip, rflags, cpl) = if long {
        register_line(lines, ["RAX=", "RBX=", "RCX=", "RDX="], 16, "the RAX line")?;
        register_line(lines, ["RSI=", "RDI=", "RBP=", "RSP="], 16, "the RSI line")?;
        register_line(lines, ["R8 =", "R9 =", "R10=", "R11="], 16, "the R8 line")?;
        register_line(lines, ["R12=", "R13=", "R14=", "R15="], 16, "the R12 line")?;
        // QEMU with APX (R16..R31) prints four more lines.
        if lines
            .peek()
            .is_some_and(|(_, l)| l.as_bytes().starts_with(b"R16="))
        {
            register_line(lines, ["R16=", "R17=", "R18=", "R19="], 16, "the R16 line")?;
            register_line(lines, ["R20=", "R21=", "R22=", "R23="], 16, "the R20 line")?;
            register_line(lines, ["R24=", "R25=", "R26=", "R27="], 16, "the R24 line")?;
            register_line(lines, ["R28=", "R29=", "R30=", "R31="], 16, "the R28 line")?;
        }
        ip_line(lines, "RIP=", " RFL=", "the RIP line")?
    } else {
        register_line(lines, ["EAX=", "EBX=", "ECX=", "EDX="], 8, "the EAX line")?;
        register_line(lines, ["ESI=", "EDI=", "EBP=", "ESP="], 8, "the ESI line")?;
        ip_line(lines, "EIP=", " EFL=", "the EIP line")?
    };

    let mut segments = PerSegReg([QemuSegmentCache::default(); 8]);
    let mut suffixes: PerSegReg<Option<String>> = PerSegReg::default();
    for (reg, name) in SEG_LINES {
        let what = format!("the {} segment line", reg.name());
        let mut c = lines.expect(name, &what)?;
        let selector = c.hex(&[4, 5, 6, 7, 8], "the selector")? as u32;
        c.literal(" ", &what)?;
        let base = c.hex64("the base")?;
        c.literal(" ", &what)?;
        let limit = c.hex32("the limit")?;
        c.literal(" ", &what)?;
        let flags = c.hex32("the flags")?;
        suffixes[reg] = c.suffix("the flags")?;
        segments[reg] = QemuSegmentCache {
            selector,
            base,
            limit,
            flags: QemuFlags(flags),
        };
    }

    let mut table = |prefix: &str, what: &str| -> Result<(u64, u32), DumpError> {
        let mut c = lines.expect(prefix, what)?;
        let base = c.hex64("the base")?;
        c.literal(" ", what)?;
        let limit = c.hex32("the limit")?;
        c.end(what)?;
        Ok((base, limit))
    };
    let gdt = table("GDT=     ", "the GDT line")?;
    let idt = table("IDT=     ", "the IDT line")?;

    let what = "the CR line";
    let mut c = lines.expect("CR0=", what)?;
    let cr0 = c.hex64("CR0")?;
    c.literal(" CR2=", what)?;
    let cr2 = c.hex64("CR2")?;
    c.literal(" CR3=", what)?;
    let cr3 = c.hex64("CR3")?;
    c.literal(" CR4=", what)?;
    let cr4 = c.hex64("CR4")?;
    c.end(what)?;

    let what = "the DR0 line";
    let mut c = lines.expect("DR0=", what)?;
    for (i, name) in ["DR0", "DR1", "DR2", "DR3"].into_iter().enumerate() {
        if i > 0 {
            c.literal(" ", what)?;
            c.literal(name, what)?;
            c.literal("=", what)?;
        }
        c.hex64(name)?;
    }
    c.end(what)?;
    let what = "the DR6 line";
    let mut c = lines.expect("DR6=", what)?;
    c.hex64("DR6")?;
    c.literal(" DR7=", what)?;
    c.hex64("DR7")?;
    c.end(what)?;

    // `-d cpu`/`-d int` add the lazy-flags line (CPU_DUMP_CCOP).
    if lines
        .peek()
        .is_some_and(|(_, l)| l.as_bytes().starts_with(b"CCS="))
    {
        lines.next();
    }
    let efer = if lines
        .peek()
        .is_some_and(|(_, l)| l.as_bytes().starts_with(b"EFER="))
    {
        let mut c = lines.expect("EFER=", "the EFER line")?;
        let efer = c.hex(&[16], "EFER")?;
        c.end("the EFER line")?;
        Some(efer)
    } else {
        None
    };

    Ok(QemuDump {
        line: start,
        long_mode_layout: long,
        cpl,
        rip,
        rflags,
        segments,
        gdt,
        idt,
        cr0,
        cr2,
        cr3,
        cr4,
        efer,
        suffixes,
    })
}

/// `"RIP=%016lx RFL=%08x [DOSZAPC] CPL=%d II=%d A20=%d SMM=%d HLT=%d"` (or EIP/EFL).
fn ip_line(
    lines: &mut Lines<'_>,
    ip: &str,
    fl: &str,
    what: &str,
) -> Result<(u64, u64, u8), DumpError> {
    let mut c = lines.expect(ip, what)?;
    let rip = c.hex64(ip.trim_end_matches('='))?;
    c.literal(fl, what)?;
    let rflags = c.hex64(fl.trim().trim_end_matches('='))?;
    c.literal(" [", what)?;
    for (letter, bit) in FLAG_LETTERS {
        let want = if rflags & bit != 0 { letter } else { b'-' };
        if c.bytes().get(c.pos) != Some(&want) {
            return Err(c.error_at(
                c.pos,
                format!(
                    "expected {:?} (flag {} of {rflags:#x}), found {}",
                    want as char,
                    letter as char,
                    c.found(c.pos)
                ),
            ));
        }
        c.pos += 1;
    }
    c.literal("] CPL=", what)?;
    let cpl = c.digit("CPL")?;
    if cpl > 3 {
        return Err(c.error_at(c.pos - 1, format!("CPL {cpl} is out of range 0..=3")));
    }
    for field in [" II=", " A20=", " SMM=", " HLT="] {
        c.literal(field, what)?;
        c.digit(field.trim().trim_end_matches('='))?;
    }
    c.end(what)?;
    Ok((rip, rflags, cpl))
}

/// Judges a QEMU dump: [`crate::verify::paths::diagnose`] on its state (source
/// [`Source::GuestView`]), plus the checks only a dump allows (`qemu.cpl-ss-dpl`,
/// `qemu.suffix`).
#[must_use]
pub fn report(dump: &QemuDump, vendor: Vendors) -> Report {
    let state = dump.segment_state();
    let mut r = crate::verify::paths::diagnose(
        &state,
        vendor,
        Context {
            source: Source::GuestView,
            vmcb_cpl_byte: None,
        },
    );
    for f in findings(dump) {
        r.push(Family::Qemu, f, None);
    }
    r
}

/// The QEMU-only checks of a dump.
///
/// QEMU prints a segment's suffix only when its hflags have HF_PE_MASK
/// (`cpu_x86_dump_seg_cache`, target/i386/cpu-dump.c). With CR0.PE set and no suffix on
/// any segment, the hflags were stale: the accelerator (WHPX, HAXM) wrote CR0 without
/// `x86_update_hflags` (target/i386/helper.c), so QEMU still thought it was in real
/// mode. That is said once (`qemu.hflags-stale`), and neither the suffixes nor the
/// printed CPL, which comes from the same hflags, are held against the dump.
#[must_use]
pub fn findings(dump: &QemuDump) -> Vec<Finding> {
    let mut f = Findings::collecting();
    let stale = dump.cr0 & CR0_PE != 0
        && SegReg::ALL.into_iter().all(|r| dump.suffixes[r].is_none())
        && SegReg::ALL
            .into_iter()
            .any(|r| dump.expected_suffix(r).is_some());
    if stale {
        f.fail(
            CheckId::QemuHflagsStale,
            None,
            "hflags",
            format_args!(
                "each present segment's suffix (`DPL=… CS32 […]`), which QEMU prints when its \
                 hflags have HF_PE_MASK, as CR0.PE={:#x} says",
                dump.cr0 & CR0_PE
            ),
            "no segment line has one: QEMU's hflags were stale (the accelerator, WHPX or \
             HAXM, did not sync them, so QEMU still thought it was in real mode; its CPL= \
             comes from them too), not an edited dump",
        );
        return f.list;
    }
    let ss_dpl = dump.segments[SegReg::Ss].flags.dpl();
    if dump.cpl != ss_dpl.bits() {
        f.fail(
            CheckId::QemuCplSsDpl,
            Some(SegReg::Ss),
            "DPL",
            format_args!(
                "the printed CPL={} (QEMU derives CPL from SS.DPL)",
                dump.cpl
            ),
            format_args!(
                "{ss_dpl}: KVM_SET_SREGS would run the vCPU at CPL {ss_dpl}, or the dump \
                 comes from QEMU before 2.1 (CPL from CS) or was edited"
            ),
        );
    }
    for reg in SegReg::ALL {
        let expected = dump.expected_suffix(reg);
        let found = dump.suffixes[reg].as_deref();
        let norm = |s: Option<&str>| -> String {
            s.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        if norm(expected.as_deref()) != norm(found) {
            f.fail(
                CheckId::QemuSuffix,
                Some(reg),
                "suffix",
                format_args!(
                    "`{}` (what QEMU prints for flags {:#010x})",
                    norm(expected.as_deref()),
                    dump.segments[reg].flags.0 & QemuFlags::DUMP_MASK
                ),
                format_args!("`{}`: the line was edited, or is not QEMU's", norm(found)),
            );
        }
    }
    f.list
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "\
RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000401000 RDX=0000000000000000
RSI=0000000000000000 RDI=0000000000000000 RBP=0000000000000000 RSP=0000000000007000
R8 =0000000000000000 R9 =0000000000000000 R10=0000000000000000 R11=0000000000000202
R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000
RIP=0000000000401000 RFL=00000202 [-------] CPL=3 II=0 A20=1 SMM=0 HLT=0
ES =0000 0000000000000000 00000000 00000000
CS =0033 0000000000000000 ffffffff 00a0fb00 DPL=3 CS64 [-RA]
SS =002b 0000000000000000 ffffffff 00c0f300 DPL=3 DS   [-WA]
DS =0000 0000000000000000 00000000 00000000
FS =0000 0000000000000000 00000000 00000000
GS =0000 0000000000000000 00000000 00000000
LDT=0000 0000000000000000 00000000 00008200 DPL=0 LDT
TR =0040 0000000000001000 00000067 00008b00 DPL=0 TSS64-busy
GDT=     0000000000002000 0000004f
IDT=     0000000000003000 00000fff
CR0=80050033 CR2=0000000000000000 CR3=0000000000004000 CR4=000000a0
DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 
DR6=00000000ffff0ff0 DR7=0000000000000400
EFER=0000000000000d01
";

    #[test]
    fn reads_a_user_mode_dump() {
        let dumps = parse(LONG).unwrap();
        assert_eq!(dumps.len(), 1);
        let d = &dumps[0];
        assert!(d.long_mode_layout);
        assert_eq!(d.cpl, 3);
        assert_eq!(d.segments[SegReg::Cs].selector, 0x33);
        assert_eq!(d.segments[SegReg::Ss].flags, QemuFlags(0x00c0_f300));
        assert_eq!(d.suffixes[SegReg::Cs].as_deref(), Some(" DPL=3 CS64 [-RA]"));
        for reg in SegReg::ALL {
            assert_eq!(d.expected_suffix(reg), d.suffixes[reg], "{reg}");
        }
        assert_eq!(parse(&d.to_text()).unwrap(), dumps);
        let state = d.segment_state();
        assert_eq!(state.cpl, PrivilegeLevel::Ring3);
        assert!(state.segments[SegReg::Ds].unusable);
        assert_eq!(state.efer, 0xd01);
    }

    #[test]
    fn errors_name_line_and_column() {
        let bad = LONG.replace("CS =0033", "CS =00x3");
        let e = parse(&bad).unwrap_err();
        assert_eq!((e.line, e.column), (7, 7), "{e}");
        let truncated: String = LONG.lines().take(10).map(|l| format!("{l}\n")).collect();
        let e = parse(&truncated).unwrap_err();
        assert_eq!((e.line, e.column), (11, 1), "{e}");
        assert!(e.message.contains("GS segment line"), "{e}");
    }
}
