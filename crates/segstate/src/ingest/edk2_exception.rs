//! EDK2's CPU exception dump: what UEFI firmware built from EDK2 (OVMF under QEMU,
//! KVM, Xen or Cloud Hypervisor, and most PC firmware) prints to its serial port when
//! an exception reaches its default handler. `DumpCpuContext` in
//! `UefiCpuPkg/Library/CpuExceptionHandlerLib/X64/ArchExceptionHandler.c` (read in
//! tianocore/edk2 at c5aa7e7d94c0) prints:
//!
//! ```text
//! !!!! X64 Exception Type - 0D(#GP - General Protection)  CPU Apic ID - 00000000 !!!!
//! ExceptionData - 0000000000000000
//! RIP  - 000000007E8D1234, CS  - 0000000000000038, RFLAGS - 0000000000010206
//! RAX  - …, RCX - …, RDX - …            (then RBX RSP RBP, RSI RDI, R8 … R15)
//! DS   - 0000000000000030, ES  - 0000000000000030, FS  - 0000000000000030
//! GS   - 0000000000000030, SS  - 0000000000000030
//! CR0  - 0000000080010033, CR2 - 0000000000000000, CR3 - 000000007FC01000
//! CR4  - 0000000000000668, CR8 - 0000000000000000
//! DR0  - …, DR1 - …, DR2 - …            (then DR3 DR6 DR7)
//! GDTR - 000000007F9DE000 0000000000000047, LDTR - 0000000000000000
//! IDTR - 000000007F418018 0000000000000FFF,   TR - 0000000000000000
//! FXSAVE_STATE - 000000007FF8E8B0
//! ```
//!
//! and `Ia32/ArchExceptionHandler.c` the same with `EIP`, `EFLAGS`, `EAX`…`EDI`, eight
//! hex digits a value, several selectors or control registers a line (`DS - …, ES - …,
//! FS - …, GS - …, SS - …`), `GDTR - base limit, IDTR - base limit` and `LDTR - …, TR -
//! …`. `ExceptionData` is printed only for the vectors that push an error code
//! (`mErrorCodeFlag` in `CpuExceptionCommon.c`), with EDK2's decoding of a #PF's
//! (`I:… R:… U:… W:… P:… PK:… SS:… SGX:…`) after it; `GDTR`/`IDTR` print the base
//! (`Gdtr[0]`) then the limit (`Gdtr[1]`), as `ExceptionHandlerAsm.nasm` stores them
//! after SGDT/SIDT. Older EDK2 printed the same fields in other orders (before 2017,
//! `ExceptionData` after the RIP line; before 2015, the type as 16 hex digits with no
//! name), so the fields are read by name, not by place. After the dump
//! `DumpModuleImageInfo` prints `!!!! Find image based on IP(0x…) … !!!!` or `!!!!
//! Can't find image information. !!!!`.
//!
//! What it holds is what gdb's listing holds (`super::gdb_regs`): CR0, CR3, CR4, RIP,
//! RFLAGS, DR6, DR7, GDTR, IDTR, and the eight selectors without their descriptor
//! caches, so the segments are named, not judged. No EFER is printed; the headline
//! names the handler's width instead, and an X64 handler runs only in IA-32e mode, an
//! IA32 one only outside it (every IA-32e interrupt gate leads to 64-bit code, SDM Vol.
//! 3A §6.14.1), which [`RawDump::named_lma`] carries. The state is the one the CPU
//! took the exception in, whether in a VM or on hardware: no VM entry is in question.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::text::{dtable, hex, hex_width};
use crate::arch::{GuestState, SegReg};

/// The handler that printed a dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handler {
    /// `X64/ArchExceptionHandler.c`: 64-bit values, `RIP`.
    X64,
    /// `Ia32/ArchExceptionHandler.c`: 32-bit values, `EIP`.
    Ia32,
}

impl Handler {
    const fn name(self) -> &'static str {
        match self {
            Handler::X64 => "X64",
            Handler::Ia32 => "IA32",
        }
    }

    /// Hex digits a value (`%016lx`, `%08x`).
    const fn digits(self) -> usize {
        match self {
            Handler::X64 => 16,
            Handler::Ia32 => 8,
        }
    }

    /// The flags register's name.
    const fn flags(self) -> &'static str {
        match self {
            Handler::X64 => "RFLAGS",
            Handler::Ia32 => "EFLAGS",
        }
    }

    /// The instruction pointer's name.
    const fn ip(self) -> &'static str {
        match self {
            Handler::X64 => "RIP",
            Handler::Ia32 => "EIP",
        }
    }
}

/// What a field gives the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holds {
    /// A field by the name [`super::text::register_field`] knows.
    Field(&'static str),
    /// A selector only.
    Selector(SegReg),
    /// A descriptor-table register, base then limit, by [`super::text::table_field`]'s
    /// name.
    Table(&'static str),
    /// DR6 or DR7.
    Debug(u8),
    /// CR2: the faulting address of a #PF.
    Cr2,
    /// The error code.
    Data,
    /// Nothing the state keeps.
    Other,
}

/// The fields, by their printed names; `Some` for the one handler that prints a name,
/// `None` for the names both print.
const FIELDS: &[(&str, Option<Handler>, Holds)] = &[
    ("RIP", Some(Handler::X64), Holds::Field("rip")),
    ("EIP", Some(Handler::Ia32), Holds::Field("rip")),
    ("RFLAGS", Some(Handler::X64), Holds::Field("rflags")),
    ("EFLAGS", Some(Handler::Ia32), Holds::Field("rflags")),
    ("CS", None, Holds::Selector(SegReg::Cs)),
    ("DS", None, Holds::Selector(SegReg::Ds)),
    ("ES", None, Holds::Selector(SegReg::Es)),
    ("FS", None, Holds::Selector(SegReg::Fs)),
    ("GS", None, Holds::Selector(SegReg::Gs)),
    ("SS", None, Holds::Selector(SegReg::Ss)),
    ("LDTR", None, Holds::Selector(SegReg::Ldtr)),
    ("TR", None, Holds::Selector(SegReg::Tr)),
    ("CR0", None, Holds::Field("cr0")),
    ("CR2", None, Holds::Cr2),
    ("CR3", None, Holds::Field("cr3")),
    ("CR4", None, Holds::Field("cr4")),
    ("CR8", Some(Handler::X64), Holds::Other),
    ("DR0", None, Holds::Other),
    ("DR1", None, Holds::Other),
    ("DR2", None, Holds::Other),
    ("DR3", None, Holds::Other),
    ("DR6", None, Holds::Debug(6)),
    ("DR7", None, Holds::Debug(7)),
    ("GDTR", None, Holds::Table("gdt")),
    ("IDTR", None, Holds::Table("idt")),
    ("ExceptionData", None, Holds::Data),
    ("FXSAVE_STATE", None, Holds::Other),
    ("RAX", Some(Handler::X64), Holds::Other),
    ("RBX", Some(Handler::X64), Holds::Other),
    ("RCX", Some(Handler::X64), Holds::Other),
    ("RDX", Some(Handler::X64), Holds::Other),
    ("RSI", Some(Handler::X64), Holds::Other),
    ("RDI", Some(Handler::X64), Holds::Other),
    ("RBP", Some(Handler::X64), Holds::Other),
    ("RSP", Some(Handler::X64), Holds::Other),
    ("R8", Some(Handler::X64), Holds::Other),
    ("R9", Some(Handler::X64), Holds::Other),
    ("R10", Some(Handler::X64), Holds::Other),
    ("R11", Some(Handler::X64), Holds::Other),
    ("R12", Some(Handler::X64), Holds::Other),
    ("R13", Some(Handler::X64), Holds::Other),
    ("R14", Some(Handler::X64), Holds::Other),
    ("R15", Some(Handler::X64), Holds::Other),
    ("EAX", Some(Handler::Ia32), Holds::Other),
    ("EBX", Some(Handler::Ia32), Holds::Other),
    ("ECX", Some(Handler::Ia32), Holds::Other),
    ("EDX", Some(Handler::Ia32), Holds::Other),
    ("ESI", Some(Handler::Ia32), Holds::Other),
    ("EDI", Some(Handler::Ia32), Holds::Other),
    ("EBP", Some(Handler::Ia32), Holds::Other),
    ("ESP", Some(Handler::Ia32), Holds::Other),
];

/// The fields a dump gives the state after the instruction pointer, in print order:
/// what a cut paste is missing.
const KEPT: [&str; 14] = [
    "CS", "FLAGS", "DS", "ES", "FS", "GS", "SS", "CR0", "CR3", "CR4", "GDTR", "IDTR", "LDTR", "TR",
];

/// EDK2's `DEBUG_CLEAR_MEMORY` fill, `PcdDebugClearMemoryValue`'s default in
/// `MdePkg/MdePkg.dec`.
const CLEAR_MEMORY_BYTE: u8 = 0xaf;

/// The most lines between two lines of one dump (a paste's blank or wrapped line).
const MAX_GAP: usize = 2;

/// The headline: `!!!! X64 Exception Type - 0D(#GP - General Protection)  CPU Apic ID
/// - 00000000 !!!!`, or the pre-2015 `- 000000000000000D     CPU Apic ID - …`.
struct Headline {
    handler: Handler,
    vector: Option<u64>,
    /// EDK2's name of the vector, `#GP - General Protection`.
    name: Option<String>,
    apic: Option<u64>,
}

fn headline(line: &str) -> Option<Headline> {
    let (handler, rest) = [Handler::X64, Handler::Ia32].into_iter().find_map(|h| {
        let mark = format!("!!!! {} Exception Type - ", h.name());
        line.find(&mark).map(|at| (h, &line[at + mark.len()..]))
    })?;
    let digits = rest
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(rest.len());
    let vector = hex(&rest[..digits]);
    let name = rest[digits..]
        .strip_prefix('(')
        .and_then(|r| r.split_once(')'))
        .map(|(n, _)| String::from(n));
    let apic = rest
        .split_once("CPU Apic ID - ")
        .and_then(|(_, a)| hex(a.split_whitespace().next()?));
    Some(Headline {
        handler,
        vector,
        name,
        apic,
    })
}

/// One `NAME - value` field of a line: its entry in [`FIELDS`] and its words.
struct Field<'a> {
    index: usize,
    words: Vec<&'a str>,
}

/// The fields of a dump line, `None` when its first is not one of [`FIELDS`].
fn fields(line: &str) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    for piece in line.split(',') {
        let Some((name, rest)) = piece.split_once(" - ").or_else(|| {
            // A line cut right after its name's dash.
            piece.trim_end().strip_suffix(" -").map(|n| (n, ""))
        }) else {
            break;
        };
        let Some(index) = FIELDS.iter().position(|(n, _, _)| *n == name.trim()) else {
            break;
        };
        out.push(Field {
            index,
            words: rest.split_whitespace().collect(),
        });
    }
    (!out.is_empty()).then_some(out)
}

/// A dump being read.
struct Dump {
    raw: RawDump,
    handler: Option<Handler>,
    headline: Option<Headline>,
    /// The fields read ([`FIELDS`] indices).
    read: Vec<usize>,
    selectors: Vec<(SegReg, u64)>,
    data: Option<u64>,
    cr2: Option<u64>,
    last: usize,
    /// `DumpModuleImageInfo`'s line that ended the dump: its number and words.
    image: Option<(usize, String)>,
}

impl Dump {
    fn new(line: usize, headline: Option<Headline>, handler: Option<Handler>) -> Self {
        Dump {
            raw: RawDump::new(Dialect::Edk2Exception, line),
            handler: headline.as_ref().map(|h| h.handler).or(handler),
            headline,
            read: Vec::new(),
            selectors: Vec::new(),
            data: None,
            cr2: None,
            last: line,
            image: None,
        }
    }

    fn take(&mut self, f: &Field<'_>, line: usize) {
        let (name, only, holds) = FIELDS[f.index];
        self.read.push(f.index);
        self.last = line;
        self.raw.lines.extend_to(line);
        let handler = *self.handler.get_or_insert(only.unwrap_or(Handler::X64));
        let width = handler.digits();
        let value = |k: usize| f.words.get(k).and_then(|w| hex_width(w, &[width]));
        let Some(v) = value(0) else {
            let shown = f.words.first().copied().unwrap_or("");
            let why = if shown.len() < width && shown.bytes().all(|b| b.is_ascii_hexdigit()) {
                "cut short by the paste"
            } else {
                "not a value"
            };
            self.raw.note(format!(
                "line {line}: {name} `{shown}` is not the {width} hex digits the {} handler \
                 prints ({why}): not read",
                handler.name()
            ));
            return;
        };
        let g = &mut self.raw.guest;
        match holds {
            Holds::Field(field) => {
                if let Some(slot) = super::text::register_field(g, field) {
                    *slot = Some(v);
                }
            }
            Holds::Selector(reg) if v <= u64::from(u16::MAX) => self.selectors.push((reg, v)),
            Holds::Selector(_) => self.raw.note(format!(
                "line {line}: {name} {v:#x} is wider than a selector: not read"
            )),
            Holds::Table(table) => match value(1) {
                Some(limit) => {
                    if let Some(slot) = super::text::table_field(g, table) {
                        *slot = Some(dtable(v, limit));
                    }
                }
                None => self.raw.note(format!(
                    "line {line}: {name} shows its base {v:#x} without the limit after it: \
                     not read"
                )),
            },
            Holds::Debug(6) => g.dr6 = Some(v),
            Holds::Debug(_) => g.dr7 = Some(v),
            Holds::Cr2 => self.cr2 = Some(v),
            Holds::Data => self.data = Some(v),
            Holds::Other => {}
        }
    }

    /// Names what a cut paste lacks of what the state keeps.
    fn note_cut(&mut self) {
        let Some(&last) = self.read.last() else {
            return;
        };
        if FIELDS[last].0 == "FXSAVE_STATE" || self.image.is_some() {
            return;
        }
        let handler = self.handler.unwrap_or(Handler::X64);
        let missing: Vec<&str> = core::iter::once(handler.ip())
            .chain(KEPT.into_iter().map(|k| match (k, handler) {
                ("FLAGS", Handler::X64) => "RFLAGS",
                ("FLAGS", Handler::Ia32) => "EFLAGS",
                _ => k,
            }))
            .filter(|k| !self.read.iter().any(|&i| FIELDS[i].0 == *k))
            .collect();
        if !missing.is_empty() {
            let line = self.last;
            self.raw.note(format!(
                "line {line}: the dump stops after `{}`: {} not in the paste",
                FIELDS[last].0,
                missing.join(", ")
            ));
        }
    }

    fn finish(mut self) -> RawDump {
        let handler = self.handler.unwrap_or(Handler::X64);
        self.raw.named_lma = Some(handler == Handler::X64);
        // The headline and the mode first, then what reading the lines noted.
        let read_notes = core::mem::take(&mut self.raw.notes);
        if let Some(h) = &self.headline {
            let note = exception_note(h, self.raw.lines.first);
            self.raw.note(note);
        }
        self.raw.note(mode_note(handler));
        for n in read_notes {
            self.raw.note(n);
        }
        let impossible = frame::impossible(handler, &self.raw.guest);
        if !impossible.is_empty() {
            let note = frame::note(self.raw.lines.first, &impossible);
            self.raw.note(note);
            self.raw.guest = GuestState::default();
            self.selectors.clear();
        }
        if let (Some(h), Some(code)) = (&self.headline, self.data) {
            if let Some(vector) = h.vector.and_then(|v| u8::try_from(v).ok()) {
                let note = error_code_note(vector, code, self.cr2);
                self.raw.note(note);
            }
        }
        if let Some(note) = self
            .raw
            .guest
            .rip
            .and_then(|rip| cleared_rip_note(handler, rip))
        {
            self.raw.note(note);
        }
        if handler == Handler::X64 && self.raw.guest.cr4.is_some() {
            self.raw.note(String::from(
                "CR4 as printed has DE (bit 3) and OSFXSR (bit 9) set by the handler itself: \
                 X64/ExceptionHandlerAsm.nasm ORs 0x208 into CR4 before it saves it, so those \
                 two bits do not show the interrupted code's",
            ));
        }
        self.note_cut();
        if !impossible.is_empty() {
            return self.finish_image();
        }
        super::gdb_regs::name_selectors(
            &mut self.raw,
            "EDK2's exception dump",
            &self.selectors,
            "the descriptors are in the GDT at the GDTR the dump shows; under QEMU, `info \
             registers` in the monitor prints the caches",
        );
        self.finish_image()
    }

    /// Names `DumpModuleImageInfo`'s line after the dump, if it ended the dump.
    fn finish_image(mut self) -> RawDump {
        if let Some((line, what)) = self.image.take() {
            self.raw.note(format!(
                "line {line}: EDK2's search for the image holding the instruction pointer: \
                 `{what}`"
            ));
        }
        self.raw
    }
}

/// The headline in words.
fn exception_note(h: &Headline, line: usize) -> String {
    let vector = match h.vector {
        Some(v) => {
            let short = u8::try_from(v)
                .ok()
                .and_then(super::exit::names::exception)
                .map(|n| format!("{n}, "))
                .unwrap_or_default();
            let edk2 = h
                .name
                .as_deref()
                .map(|n| format!(" (`{n}`)"))
                .unwrap_or_default();
            format!("{short}vector {v}{edk2}")
        }
        None => String::from("an exception whose vector the line does not show"),
    };
    let apic = h
        .apic
        .map(|a| format!(", on the CPU whose APIC ID is {a:#x}"))
        .unwrap_or_default();
    format!(
        "line {line}: {vector}{apic}, caught by EDK2's {} exception handler (UefiCpuPkg \
         CpuExceptionHandlerLib, DumpCpuContext), which printed the state the CPU took it in: \
         code running under the firmware faulted; no VM entry failed",
        h.handler.name()
    )
}

/// What the handler's width says of the mode.
fn mode_note(handler: Handler) -> String {
    match handler {
        Handler::X64 => String::from(
            "an X64 handler runs only in IA-32e mode (every IA-32e interrupt gate leads to \
             64-bit code, SDM Vol. 3A §6.14.1), so EFER.LMA = 1 though EFER is not printed; \
             64-bit or compatibility mode is CS's L bit, which the dump does not show",
        ),
        Handler::Ia32 => String::from(
            "an IA32 handler runs only outside IA-32e mode (every IA-32e interrupt gate \
             leads to 64-bit code, SDM Vol. 3A §6.14.1), so EFER.LMA = 0 though EFER is not \
             printed",
        ),
    }
}

/// `ExceptionData` in words: a #PF's error code, a selector error code (#TS, #NP,
/// #SS, #GP: SDM Vol. 3A §6.13), or another vector's raw value.
fn error_code_note(vector: u8, code: u64, cr2: Option<u64>) -> String {
    let name = super::exit::names::exception(vector).unwrap_or("the exception");
    match vector {
        14 => page_fault_note(code, cr2),
        12 | 13 if code == 0 => format!(
            "ExceptionData 0, {name}'s error code: it names no descriptor, 0 being what the \
             processor pushes for a fault not detected while loading a segment descriptor, \
             and the null selector (SDM Vol. 3A §6.13, §6.15)"
        ),
        10..=13 => {
            let index = (code >> 3) & 0x1fff;
            let ext = if code & 1 != 0 {
                "EXT = 1: raised while delivering an event external to the program (an \
                 interrupt or an earlier exception)"
            } else {
                "EXT = 0: raised by the program itself"
            };
            let table = if code & 2 != 0 {
                format!("IDT = 1: index {index} is the IDT gate of vector {index}")
            } else if code & 4 != 0 {
                format!(
                    "IDT = 0, TI = 1: index {index} is the LDT descriptor of selector {:#x}",
                    code & 0xfffc
                )
            } else {
                format!(
                    "IDT = 0, TI = 0: index {index} is the GDT descriptor of selector {:#x}",
                    code & 0xfffc
                )
            };
            format!(
                "ExceptionData {code:#x}, {name}'s selector error code: {table}; {ext} (SDM \
                 Vol. 3A §6.13)"
            )
        }
        _ => format!("ExceptionData {code:#x}, {name}'s error code (not decoded here)"),
    }
}

/// A #PF's error code in words (SDM Vol. 3A §4.7), with CR2.
fn page_fault_note(code: u64, cr2: Option<u64>) -> String {
    let bit = |n: u32| code & (1 << n) != 0;
    let page = if bit(0) {
        "a protection violation on a present page (P = 1)"
    } else {
        "a not-present page (P = 0)"
    };
    let access = if bit(4) {
        "an instruction fetch (I = 1)"
    } else if bit(1) {
        "a write (W = 1)"
    } else {
        "a read, or an instruction fetch with neither NX nor SMEP on (W = 0, I = 0)"
    };
    let mode = if bit(2) {
        "in user mode (U = 1)"
    } else {
        "in supervisor mode (U = 0)"
    };
    let mut also = Vec::new();
    for (n, what) in [
        (3, "a reserved bit set in a paging entry (R = 1)"),
        (5, "a protection-key violation (PK = 1)"),
        (6, "a shadow-stack access (SS = 1)"),
        (15, "an SGX access-control violation (SGX = 1)"),
    ] {
        if bit(n) {
            also.push(what);
        }
    }
    let also = if also.is_empty() {
        String::new()
    } else {
        format!(", with {}", also.join(", "))
    };
    let impossible = if bit(3) && !bit(0) {
        "; R = 1 with P = 0 is a pair the SDM rules out: reserved bits are checked only in \
         present entries, so R can be 1 only with P = 1"
    } else {
        ""
    };
    let address = cr2
        .map(|a| format!("; CR2 {a:#x} is the linear address it faulted on"))
        .unwrap_or_default();
    format!(
        "ExceptionData {code:#x}, #PF's error code: {access} {mode} met {page}{also}\
         {impossible}{address} (SDM Vol. 3A §4.7)"
    )
}

/// The note on an instruction pointer that is EDK2's cleared-memory fill in every byte.
fn cleared_rip_note(handler: Handler, rip: u64) -> Option<String> {
    let fill = match handler {
        Handler::X64 => u64::from_ne_bytes([CLEAR_MEMORY_BYTE; 8]),
        Handler::Ia32 => u64::from(u32::from_ne_bytes([CLEAR_MEMORY_BYTE; 4])),
    };
    (rip == fill).then(|| {
        format!(
            "{} {rip:#x} is EDK2's DEBUG_CLEAR_MEMORY fill, PcdDebugClearMemoryValue (0xAF \
             by default, MdePkg.dec) in every byte: DXE Core writes it over pool it frees \
             (CoreFreePoolI), pool it allocates (CoreAllocatePoolI) and pages it frees \
             (CoreConvertPagesEx) when DebugClearMemoryEnabled() (PcdDebugPropertyMask bit \
             0x08, in the 0x2F OVMF's DSC sets without SOURCE_DEBUG_ENABLE): the code branched through a pointer read from freed \
             memory (a use after free) or from pool never written since its allocation",
            handler.ip()
        )
    })
}

/// True for `DumpModuleImageInfo`'s line after a dump.
fn is_image_line(line: &str) -> bool {
    line.contains("!!!! Find image based on IP(") || line.contains("!!!! Can't find image")
}

/// Every EDK2 exception dump in the (normalised) lines.
#[must_use]
pub(crate) fn read(lines: &[(usize, String)]) -> Vec<RawDump> {
    let mut out = Vec::new();
    let mut cur: Option<Dump> = None;
    for (no, text) in lines {
        if out.len() >= MAX_DUMPS {
            break;
        }
        let open = cur.as_ref().is_some_and(|c| *no <= c.last + MAX_GAP);
        if !open {
            out.extend(cur.take().map(Dump::finish));
        }
        if let Some(h) = headline(text) {
            out.extend(cur.take().map(Dump::finish));
            cur = Some(Dump::new(*no, Some(h), None));
            continue;
        }
        if is_image_line(text) {
            if let Some(mut c) = cur.take().filter(|_| open) {
                c.raw.lines.extend_to(*no);
                let what = text[text.find("!!!!").unwrap_or(0)..]
                    .trim_matches(|c: char| c == '!' || c.is_whitespace());
                c.image = Some((*no, what.chars().take(160).collect()));
                out.push(c.finish());
            }
            continue;
        }
        let Some(fields) = fields(text) else {
            continue;
        };
        let first = FIELDS[fields[0].index];
        let starts = matches!(first.0, "RIP" | "EIP");
        let repeated = cur
            .as_ref()
            .is_some_and(|c| fields.iter().any(|f| c.read.contains(&f.index)));
        if repeated || (cur.is_none() && starts) {
            out.extend(cur.take().map(Dump::finish));
            if starts {
                cur = Some(Dump::new(*no, None, first.1));
            }
        }
        if let Some(c) = cur.as_mut() {
            for f in &fields {
                c.take(f, *no);
            }
        }
    }
    out.extend(cur.map(Dump::finish));
    out.truncate(MAX_DUMPS);
    out
}

mod frame;

#[cfg(test)]
mod tests;
