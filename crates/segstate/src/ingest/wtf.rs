//! The `regs.json` CPU state of the snapshot fuzzer wtf (github 0vercl0k/wtf): one
//! vCPU, every value a hex string (`"0x2b"`), each segment an object
//! `{"present": bool, "selector", "base", "limit", "attr"}`, plus `gdtr`/`idtr`
//! `{base, limit}`, control and debug registers and MSRs.
//!
//! wtf reads it in `LoadCpuStateFromJSON` (src/wtf/utils.cc, commit a54f0ee2bec1): each
//! value through `strtoull(s, nullptr, 0)`, each segment into `Seg_t` (src/wtf/globals.h),
//! whose `uint16_t Attr` is the VMX access-rights word with a 4-bit `Reserved` field
//! at bits 11:8. Since wtf PR #29 (16ebc8b, 2021-10-28) `SanitizeCpuState` refuses a
//! file whose ES, CS, SS, DS, FS or GS has `Reserved != (Limit >> 16) & 0xf` ("Segment
//! with selector 2b has invalid attributes"). Three producers wrote `attr` three ways
//! ([`AttrEncoding`]); the reader decides which from the file and says so in a note:
//!
//! - **bdump.js before yrp604/bdump 54c7532** ("fix segment attributes (#4)",
//!   2021-10-27; the thread is wtf#28, a user hitting it wtf#34): `attr` is the `Flags`
//!   column of WinDbg's `dg`, the access byte in bits 7:0 and AVL, L, D/B, G in bits
//!   11:8 with the limit's bits 19:16 removed (`0xcf3` for a flat ring-3 data segment,
//!   `0x2fb` for a 64-bit ring-3 code segment). That is the VMCB attribute layout, read
//!   with [`SvmAttrib`]. `__fixup_regs` also ORed 0x2000 into CS ("need to make sure cs
//!   has that magic value set?"), hence `0x22fb`: that bit is dropped and named.
//! - **bdump.js since 54c7532**, and wtf's own linux_mode `qemu_snapshot/gdb_qemu.py`
//!   (a77e84e, 2024-04-01, `update_attr`: QEMU's flags `>> 8`, limit 19:16 ORed into
//!   bits 11:8): `Seg_t`'s word, `(dg & 0xff) | (dg & 0xf00) << 4 | (limit >> 8) &
//!   0xf00` (`0xcff3`, `0x20fb`). Bits 11:8 are the limit's, not attributes; the rest
//!   is VMX access rights, read with [`VmxAccessRights`].
//! - **wtf's 2022 linux_mode `scripts/qemu.py`** (2c031b8 "Add linux_mode" to 98a2aa3,
//!   run in gdb attached to QEMU): `attr` is `CPUX86State.segs[i].flags` verbatim,
//!   QEMU's `SegmentCache.flags` (`0xaffb00`), read with [`QemuFlags`]. wtf itself keeps
//!   only its low 16 bits. The script writes `"present": True` for every segment.
//!
//! **CPL.** The file has no CPL. wtf's KVM backend (`LoadSregs`, kvm_backend.cc
//! b7357d5) hands each segment's fields to `kvm_sregs` (`present` from the key, the
//! rest from `attr`), and KVM takes the CPL from SS.DPL; its bochscpu backend hands
//! `attr`, `present` and the selector to Bochs (`set_segment_ar_data`), whose CPL is
//! CS.RPL. The state is judged at SS.DPL, as KVM runs it, and a note says whether CS.RPL
//! agrees.
//!
//! **present.** A segment is read as unusable when its `"present"` is false (KVM reads
//! `present = 0` so) or its `attr` has P clear (as QEMU, the VMCB and WHV mean it); a
//! disagreement between the two is named in a note.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use serde_json::{Map, Value};

use super::{Input, InputError, InputFormat, err};
use crate::arch::{
    DescriptorTable, GuestState, PerSegReg, PrivilegeLevel, SegReg, Segment, SegmentState,
};
use crate::check::report::Source;
use crate::format::qemu::{QemuFlags, QemuSegmentCache};
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::{VmxAccessRights, VmxSegment};

/// How errors and labels name the format.
const WHAT: &str = "wtf regs.json";

/// The bit old bdump ORed into CS's `attr` (`__fixup_regs`, removed in bdump 54c7532).
const BDUMP_CS_MAGIC: u64 = 0x2000;

/// The largest paste (from its `{` line on) searched for a regs.json: as much as any
/// whole input `check` reads ([`super::source::WHOLE_INPUT_LIMIT`]).
const PASTE_LIMIT: usize = super::source::WHOLE_INPUT_LIMIT;

/// How a file's `attr` words are encoded (module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrEncoding {
    /// wtf's `Seg_t` word: VMX access rights bits 15:0 with the limit's bits 19:16 in
    /// bits 11:8 (bdump.js since yrp604/bdump 54c7532; wtf's `gdb_qemu.py`).
    SegT,
    /// bdump.js before 54c7532: WinDbg's `dg` flags, the VMCB attribute layout; CS with
    /// 0x2000 ORed in.
    BdumpPreFix,
    /// QEMU's `SegmentCache.flags` verbatim (wtf's 2022 linux_mode `scripts/qemu.py`).
    QemuFlags,
}

/// The key wtf's loader reads each segment from (`SEGMENT(ldtr, Ldtr)`, ...).
const fn key(reg: SegReg) -> &'static str {
    match reg {
        SegReg::Ldtr => "ldtr",
        r => r.kvm_name(),
    }
}

/// One segment object as the file holds it.
#[derive(Clone, Copy, Debug)]
struct RawSeg {
    present: bool,
    selector: u16,
    base: u64,
    limit: u32,
    attr: u64,
}

impl RawSeg {
    /// wtf's `SanitizeCpuState` test: bits 11:8 of `attr` are the limit's 19:16.
    fn limit_in_attr(&self) -> bool {
        (self.attr >> 8) & 0xf == u64::from(self.limit >> 16) & 0xf
    }
}

/// True when `prefix` (the start of a JSON text) reads as a wtf regs.json: its `"cs"`
/// is an object with `"attr"` and `"present"` keys, which no other JSON input has.
#[must_use]
pub fn recognise(prefix: &str) -> bool {
    let mut rest = prefix;
    while let Some(at) = rest.find("\"cs\"") {
        rest = &rest[at + 4..];
        let after = rest.trim_start();
        let Some(after) = after.strip_prefix(':') else {
            continue;
        };
        let Some(body) = after.trim_start().strip_prefix('{') else {
            continue;
        };
        let body = body.split('}').next().unwrap_or_default();
        if body.contains("\"attr\"") && body.contains("\"present\"") {
            return true;
        }
    }
    false
}

/// Reads a whole wtf regs.json.
///
/// # Errors
///
/// [`InputError`] naming the line and column where the JSON stops (a cut file says it
/// is cut), or the key path of a value that cannot be read (`cs.attr: "0xzz" is not a
/// hex number`).
pub fn read(text: &str) -> Result<Input, InputError> {
    read_from(text, 1)
}

/// The regs.json pasted in `text` (an issue, a mail) whose first line is line
/// `first_line`: read from its first line that opens a JSON object, when what follows
/// it reads as a regs.json ([`recognise`]); `None` when there is none.
#[must_use]
pub fn read_paste(text: &str, first_line: usize) -> Option<Result<Input, InputError>> {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('{') {
            let json = &text[offset..];
            return recognise(json).then(|| read_from(json, first_line + i));
        }
        offset += line.len();
    }
    None
}

/// The lines of a paste from its first `{` line, kept (up to
/// [`super::source::WHOLE_INPUT_LIMIT`] bytes) while a log is read a part at a time, for
/// [`read_paste`] when no dump is found in it.
#[derive(Debug, Default)]
pub struct PasteCapture {
    first_line: Option<usize>,
    text: String,
    overflow: bool,
}

impl PasteCapture {
    /// Takes line `line_no` of the log.
    pub fn push(&mut self, line_no: usize, line: &str) {
        if self.overflow {
            return;
        }
        if self.first_line.is_none() {
            if !line.trim_start().starts_with('{') {
                return;
            }
            self.first_line = Some(line_no);
        }
        if self.text.len() + line.len() > PASTE_LIMIT {
            self.overflow = true;
            self.text = String::new();
            return;
        }
        self.text.push_str(line);
    }

    /// The regs.json the captured lines hold, if any ([`read_paste`]).
    #[must_use]
    pub fn read(&self) -> Option<Result<Input, InputError>> {
        let first = self.first_line.filter(|_| !self.overflow)?;
        read_paste(&self.text, first)
    }
}

/// Reads the regs.json `text` whose first line is line `first_line` of the input.
fn read_from(text: &str, first_line: usize) -> Result<Input, InputError> {
    let what = if first_line > 1 {
        format!("{WHAT} (from line {first_line})")
    } else {
        String::from(WHAT)
    };
    let doc = first_value(text).map_err(|e| {
        // A paste cut mid-value and ended by a newline fails on that newline (a control
        // character in a string, an unexpected end of a word): without the trailing
        // blanks it is what it is, a cut file.
        let cut = first_value(text.trim_end())
            .err()
            .filter(|t| t.classify() == serde_json::error::Category::Eof);
        json_error(&what, &cut.unwrap_or(e), first_line - 1)
    })?;
    let Value::Object(doc) = doc else {
        return Err(err(format!("{what}: the JSON is not an object")));
    };
    let mut input = decode(&doc).map_err(|e| err(format!("{what}: {}", e.0)))?;
    if first_line > 1 {
        input.notes.insert(
            0,
            format!("read from line {first_line}, where the regs.json starts in the text"),
        );
    }
    Ok(input)
}

/// The JSON value `text` starts with; what follows it is not read (wtf's loader, nlohmann
/// json's `operator>>`, stops there too), so a paste may go on after it.
fn first_value(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde::Deserialize::deserialize(&mut de)
}

/// serde_json's error, its line moved by `shift`: a cut file is called cut.
fn json_error(what: &str, e: &serde_json::Error, shift: usize) -> InputError {
    let full = e.to_string();
    let message = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    let (line, column) = (e.line() + shift, e.column());
    if e.classify() == serde_json::error::Category::Eof {
        err(format!(
            "{what}: the file is cut: it ends at line {line} column {column}, inside the JSON \
             object ({message})"
        ))
    } else {
        err(format!(
            "{what}: invalid JSON at line {line} column {column}: {message}"
        ))
    }
}

/// A value's key path, for errors (`cs.attr`).
fn path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The value at `key`, which wtf's loader reads too.
fn member<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a Value, InputError> {
    obj.get(key).ok_or_else(|| {
        err(format!(
            "no `{}` (wtf's LoadCpuStateFromJSON reads it)",
            path(parent, key)
        ))
    })
}

/// A value shown in an error: JSON text, cut to a few dozen characters.
fn shown(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s,
    }
}

/// A hex string as wtf writes it (`"0x2b"`; a decimal string, which `strtoull(s, 0, 0)`
/// also reads, is taken too).
fn number(v: &Value, at: &str) -> Result<u64, InputError> {
    let Value::String(s) = v else {
        return Err(err(format!(
            "{at}: {} is not a string: wtf writes and reads \"0x…\" strings",
            shown(v)
        )));
    };
    let not_hex = || err(format!("{at}: {} is not a hex number", shown(v)));
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        // strtoull reads a leading 0 as octal: only a plain decimal is taken.
        None if s == "0" || !s.starts_with('0') => (s.as_str(), 10),
        None => return Err(not_hex()),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(not_hex());
    }
    u64::from_str_radix(digits, radix)
        .map_err(|_| err(format!("{at}: {} does not fit in 64 bits", shown(v))))
}

/// [`number`] within `bits` bits (the width of wtf's field).
fn narrow<T: TryFrom<u64>>(v: &Value, at: &str, bits: u32) -> Result<T, InputError> {
    let n = number(v, at)?;
    T::try_from(n).map_err(|_| err(format!("{at}: {n:#x} does not fit in {bits} bits")))
}

/// The number at `key`, `None` when the file has none.
fn optional(doc: &Map<String, Value>, key: &str) -> Result<Option<u64>, InputError> {
    doc.get(key).map(|v| number(v, key)).transpose()
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, InputError> {
    v.as_object()
        .ok_or_else(|| err(format!("{at}: {} is not an object", shown(v))))
}

fn raw_segment(doc: &Map<String, Value>, reg: SegReg) -> Result<RawSeg, InputError> {
    let k = key(reg);
    let seg = object(member(doc, "", k)?, k)?;
    let present = match member(seg, k, "present")? {
        Value::Bool(b) => *b,
        v => {
            return Err(err(format!(
                "{k}.present: {} is not true or false",
                shown(v)
            )));
        }
    };
    let at = |f: &str| path(k, f);
    Ok(RawSeg {
        present,
        selector: narrow(member(seg, k, "selector")?, &at("selector"), 16)?,
        base: number(member(seg, k, "base")?, &at("base"))?,
        limit: narrow(member(seg, k, "limit")?, &at("limit"), 32)?,
        attr: number(member(seg, k, "attr")?, &at("attr"))?,
    })
}

fn table(doc: &Map<String, Value>, key: &str) -> Result<Option<DescriptorTable>, InputError> {
    let Some(v) = doc.get(key) else {
        return Ok(None);
    };
    let t = object(v, key)?;
    Ok(Some(DescriptorTable {
        base: number(member(t, key, "base")?, &path(key, "base"))?,
        limit: u32::from(narrow::<u16>(
            member(t, key, "limit")?,
            &path(key, "limit"),
            16,
        )?),
    }))
}

/// The segments wtf's `SanitizeCpuState` tests.
const SANITIZED: [SegReg; 6] = [
    SegReg::Es,
    SegReg::Fs,
    SegReg::Cs,
    SegReg::Gs,
    SegReg::Ss,
    SegReg::Ds,
];

/// Names of the registers in `regs`, lower case, for notes.
fn names(regs: &[SegReg]) -> String {
    regs.iter().map(|r| key(*r)).collect::<Vec<_>>().join(", ")
}

/// Decides the encoding of the file's `attr` words; the note says why.
fn encoding(raw: &PerSegReg<RawSeg>) -> (AttrEncoding, String) {
    let attrs = || raw.iter().map(|(_, s)| s.attr);
    let wide = raw.iter().find(|(_, s)| s.attr > 0xffff);
    if wide.is_some() || attrs().any(|a| a != 0) && attrs().all(|a| a & 0xff == 0) {
        let why = match wide {
            Some((reg, s)) => format!("{}.attr {:#x} is wider than 16 bits", key(reg), s.attr),
            None => String::from("every attr has a zero low byte (where P and the type would be)"),
        };
        return (
            AttrEncoding::QemuFlags,
            format!(
                "attr is QEMU's SegmentCache.flags verbatim ({why}), as wtf's 2022 linux_mode \
                 scripts/qemu.py wrote it (wtf 2c031b8): read with QEMU's flags decoder; wtf \
                 itself would keep only the low 16 bits (Seg_t.Attr)"
            ),
        );
    }
    let off: Vec<SegReg> = SANITIZED
        .into_iter()
        .filter(|r| !raw[*r].limit_in_attr())
        .collect();
    let pre_fix = raw.iter().all(|(reg, s)| {
        let high = s.attr & 0xf000;
        high == 0 || (reg == SegReg::Cs && high == BDUMP_CS_MAGIC)
    });
    let same = || {
        SegReg::ALL.into_iter().all(|r| {
            let attributes = |enc| decode_attr(enc, r, &raw[r]).ok().map(|s| s.attributes);
            attributes(AttrEncoding::SegT) == attributes(AttrEncoding::BdumpPreFix)
        })
    };
    match (off.first(), pre_fix) {
        (Some(&first), true) => (
            AttrEncoding::BdumpPreFix,
            format!(
                "{}.attr {:#x} is bdump's pre-fix 12-bit encoding (WinDbg dg flags: bits 11:8 \
                 hold AVL, L, D/B, G, not limit 19:16 as wtf's Seg_t wants, for {}; wtf#28, \
                 fixed by yrp604/bdump#4 = 54c7532, 2021-10-27): read in the VMCB attribute \
                 layout, which that word is; wtf since #29 refuses this file (\"Segment with \
                 selector {:x} has invalid attributes\")",
                key(first),
                raw[first].attr,
                names(&off),
                raw[first].selector
            ),
        ),
        (Some(_), false) => (
            AttrEncoding::SegT,
            format!(
                "attr read as wtf's Seg_t word (VMX access rights, bits 11:8 ignored), though \
                 bits 11:8 are not limit 19:16 for {} and bits 15:12 rule out bdump's pre-fix \
                 encoding: wtf's SanitizeCpuState refuses this file",
                names(&off)
            ),
        ),
        (None, true) if !same() => (
            AttrEncoding::SegT,
            String::from(
                "attr fits both bdump encodings (bits 11:8 equal limit 19:16 and bits 15:12 are \
                 clear): read as wtf's Seg_t word (VMX access rights, limit 19:16 in 11:8), the \
                 one wtf accepts since #29 and bdump writes since 54c7532; read as the pre-fix \
                 dg flags, bits 11:8 would be AVL, L, D/B, G instead",
            ),
        ),
        (None, _) => (
            AttrEncoding::SegT,
            String::from(
                "attr is wtf's Seg_t word: VMX access rights with limit 19:16 in bits 11:8, as \
                 bdump.js writes it since yrp604/bdump 54c7532 (and wtf's linux_mode \
                 gdb_qemu.py): bits 11:8 match every limit, as wtf's SanitizeCpuState requires",
            ),
        ),
    }
}

/// One segment through the decoder of `enc`'s layout; `present` not yet applied.
fn decode_attr(enc: AttrEncoding, reg: SegReg, s: &RawSeg) -> Result<Segment, InputError> {
    let at = |e: crate::format::FormatError| err(format!("{}.attr: {e}", key(reg)));
    match enc {
        AttrEncoding::SegT => Segment::try_from(VmxSegment {
            selector: s.selector,
            base: s.base,
            limit: s.limit,
            access_rights: VmxAccessRights((s.attr & !0xf00) as u32),
        })
        .map_err(at),
        AttrEncoding::BdumpPreFix => {
            let attr = if reg == SegReg::Cs {
                s.attr & !BDUMP_CS_MAGIC
            } else {
                s.attr
            };
            Segment::try_from(VmcbSegment {
                selector: s.selector,
                attrib: SvmAttrib(attr as u16),
                limit: s.limit,
                base: s.base,
            })
            .map_err(at)
        }
        AttrEncoding::QemuFlags => {
            let flags = u32::try_from(s.attr).map_err(|_| {
                err(format!(
                    "{}.attr: {:#x} does not fit in 32 bits (QEMU's SegmentCache.flags)",
                    key(reg),
                    s.attr
                ))
            })?;
            Ok(QemuSegmentCache {
                selector: s.selector.into(),
                base: s.base,
                limit: s.limit,
                flags: QemuFlags(flags),
            }
            .lenient_segment())
        }
    }
}

fn decode(doc: &Map<String, Value>) -> Result<Input, InputError> {
    let mut raw = PerSegReg(
        [RawSeg {
            present: false,
            selector: 0,
            base: 0,
            limit: 0,
            attr: 0,
        }; 8],
    );
    for reg in SegReg::ALL {
        raw[reg] = raw_segment(doc, reg)?;
    }
    let (enc, why) = encoding(&raw);
    let mut notes = Vec::from([why]);
    let mut segments = PerSegReg([Segment::default(); 8]);
    for reg in SegReg::ALL {
        let mut seg = decode_attr(enc, reg, &raw[reg])?;
        seg.unusable = !raw[reg].present || !seg.attributes.present;
        segments[reg] = seg;
    }
    notes.extend(attr_notes(enc, &raw, &segments));
    let required = |k: &str| member(doc, "", k).and_then(|v| number(v, k));
    let ss_dpl = segments[SegReg::Ss].attributes.dpl;
    let state = SegmentState {
        segments,
        cpl: ss_dpl,
        cr0: required("cr0")?,
        cr4: required("cr4")?,
        efer: required("efer")?,
        rflags: required("rflags")?,
    };
    notes.push(cpl_note(ss_dpl, segments[SegReg::Cs].selector.rpl()));
    let mut guest = GuestState::from(&state);
    guest.cr3 = optional(doc, "cr3")?;
    guest.rip = optional(doc, "rip")?;
    guest.dr6 = optional(doc, "dr6")?;
    guest.dr7 = optional(doc, "dr7")?;
    guest.pat = optional(doc, "pat")?;
    guest.sysenter_esp = optional(doc, "sysenter_esp")?;
    guest.sysenter_eip = optional(doc, "sysenter_eip")?;
    guest.gdtr = table(doc, "gdtr")?;
    guest.idtr = table(doc, "idtr")?;
    Ok(Input {
        source: Source::GuestView,
        guest: Some(guest),
        ..Input::guest_view(String::from(WHAT), InputFormat::Wtf, state, notes)
    })
}

/// What the decoding dropped or had to choose, segment by segment.
fn attr_notes(
    enc: AttrEncoding,
    raw: &PerSegReg<RawSeg>,
    segs: &PerSegReg<Segment>,
) -> Vec<String> {
    let mut notes = Vec::new();
    let cs = raw[SegReg::Cs].attr;
    if enc == AttrEncoding::BdumpPreFix && cs & BDUMP_CS_MAGIC != 0 {
        notes.push(format!(
            "cs.attr {cs:#x}: bit 13 (0x2000) is the flag old bdump's __fixup_regs forced on \
             CS (\"need to make sure cs has that magic value set?\"), not part of the dg word: \
             dropped; CS.L is the word's bit 9 ({})",
            u8::from(segs[SegReg::Cs].attributes.l)
        ));
    }
    if enc == AttrEncoding::QemuFlags {
        let residue: Vec<String> = raw
            .iter()
            .filter(|(_, s)| QemuFlags(s.attr as u32).residue() != 0)
            .map(|(r, s)| format!("{}.attr {:#x}", key(r), s.attr))
            .collect();
        if !residue.is_empty() {
            notes.push(format!(
                "{}: bits 7:0, 19:16 or 31:24 hold descriptor base/limit bits (QEMU's TCG keeps \
                 the descriptor's high dword), not attributes: ignored",
                residue.join(", ")
            ));
        }
    }
    let disagree = |present: bool| -> Vec<SegReg> {
        SegReg::ALL
            .into_iter()
            .filter(|r| raw[*r].present == present && segs[*r].attributes.present != present)
            .collect()
    };
    let (usable, unusable) = (disagree(true), disagree(false));
    if !usable.is_empty() {
        notes.push(format!(
            "{}: \"present\": true but attr's P bit is clear: read as unusable (P = 0, as QEMU, \
             the VMCB and WHV mean it); wtf's KVM backend would hand KVM present = 1 from the \
             key, its bochscpu backend takes P from attr",
            names(&usable)
        ));
    }
    if !unusable.is_empty() {
        notes.push(format!(
            "{}: \"present\": false though attr's P bit is set: read as unusable (wtf's KVM \
             backend hands KVM present = 0, which KVM reads as unusable)",
            names(&unusable)
        ));
    }
    notes
}

fn cpl_note(ss_dpl: PrivilegeLevel, cs_rpl: PrivilegeLevel) -> String {
    let agree = if ss_dpl == cs_rpl {
        String::from("agrees")
    } else {
        format!("disagrees: under bochscpu the guest runs at CPL {cs_rpl}")
    };
    format!(
        "CPL {ss_dpl} from SS.DPL: regs.json has no CPL; wtf's KVM backend hands the segments \
         to KVM, which takes the CPL from SS.DPL; its bochscpu backend's Bochs takes CS.RPL \
         ({cs_rpl}), which {agree}"
    )
}
