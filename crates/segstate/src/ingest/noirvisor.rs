//! NoirVisor's VMCS guest-state dump: `nvc_vt_dump_vmcs_guest_state` in
//! `src/vt_core/vt_exit.c` (Zero-Tang/NoirVisor @08dd5ec6096e, unchanged in form since
//! f94baa0 of February 2022), printed when VMLAUNCH fails (`nvc_vt_subvert_processor_i`
//! in `src/vt_core/vt_main.c`) or an entry of a customizable VM's vCPU fails
//! (`vt_cvexit.c`). Each line goes through `nv_dprintf`, which puts `[NoirVisor] `
//! before it; the fields of a line are separated by `\t `, which a paste often turns
//! into two spaces:
//!
//! ```text
//! (the format strings, each line behind `[NoirVisor] `, `\t` a tab)
//! Error while launching the Guest! VMX Status: %d
//! Failed at VM-Entry, Code=%d\t Reason: %s
//! Dumping VMCS Guest State Area...
//! Guest CS Segment - Selector: 0x%X\t Access-Rights: 0x%X\t Limit: 0x%X\t Base: 0x%p
//!   (then DS, ES, FS, GS, SS; `Guest Task Register - …`, `Guest LDT Register - …`)
//! Guest GDTR Limit: 0x%X\t Base: 0x%p\t Guest IDTR Limit: 0x%X\t Base: 0x%p
//! Guest Control & Debug Registers - CR0: 0x%X\t CR3: 0x%p\t CR4: 0x%X\t DR7: 0x%X
//! Guest Special GPRs: Rsp: 0x%p\t Rip: 0x%p\t RFlags:0x%X\t Ssp: 0x%p
//! Guest Activity State: %u\t Interruptibility State: 0x%X\t Pending Debug Exceptions: 0x%X
//! Guest EFER: 0x%llX\t PAT: 0x%llX\t Debug Control: 0x%llX
//! Guest VMCS Link Pointer: 0x%p
//! Guest PDPTE0: 0x%llX\t PDPTE1: …\t PDPTE2: …\t PDPTE3: …
//! Pin-Based Controls: 0x%X\t Primary Controls: 0x%X\t Secondary Controls: 0x%X\t Exception Bitmap: 0x%X
//! VM-Exit Controls: 0x%X\t VM-Entry Controls: 0x%X
//! EPT Pointer: 0x%llX
//! Event Injection: 0x%X
//! ```
//!
//! Older versions (8c7401c, January 2019, to f94baa0) print `Dumping VMCS Guest State
//! Area!`, no `Ssp:`, and end at the link pointer; 3720687 (February 2024) printed the
//! header through `nvd_printf` and 29b1e01 put it back. The `Failed at VM-Entry,
//! Code=%d` line (and `VM-Entry failed with invalid code %d!` for a number past the
//! message table) is the VM-instruction error after VMfailValid (`VMX Status: 1`); it
//! is read as an exit by [`super::exit`]. NoirVisor's AMD core prints no VMCB dump
//! (`nvc_svm_dump_guest_vcpu_state` in `src/svm_core/svm_custom.c` copies the VMCB
//! into a structure), so the dump speaks for Intel VMX only.
//!
//! Every field is named by the encoding it was read from (`vmcs_field`) and the
//! segments put together by `segment_parts`. RSP, SSP, the link pointer, the
//! exception bitmap and the EPT pointer are read by no rule and not kept. A `%p` value
//! is 16 hex digits on x64 (8 on x86): one of another width is cut and not read. The
//! lines are found by their heads anywhere in a line, whatever prefix a logger or
//! DebugView puts before `[NoirVisor]`; a paste cut mid-dump keeps the lines it has.

use alloc::borrow::Cow;
use alloc::format;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::segment_parts::{AllParts, Cut, assemble};
use super::vmcs_field::{self as field};
use crate::arch::SegReg;
use crate::format::vmx::VmcsField;

/// How `nv_dprintf` prints a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Printed {
    /// `0x%X` or `0x%llX`: hex, any width.
    Hex,
    /// `0x%p`: hex, pointer-wide.
    Pointer,
    /// `%u`: decimal.
    Decimal,
}

/// One label of a line: its text, how its value is printed, the VMCS field it is
/// (`None`: a field the state has no place for).
type Label = (&'static str, Printed, Option<u32>);

/// The segment lines' heads, each with its register.
const SEGMENT_HEADS: [(&str, SegReg); 8] = [
    ("Guest CS Segment -", SegReg::Cs),
    ("Guest DS Segment -", SegReg::Ds),
    ("Guest ES Segment -", SegReg::Es),
    ("Guest FS Segment -", SegReg::Fs),
    ("Guest GS Segment -", SegReg::Gs),
    ("Guest SS Segment -", SegReg::Ss),
    ("Guest Task Register -", SegReg::Tr),
    ("Guest LDT Register -", SegReg::Ldtr),
];

/// A segment line's labels, as `vt_exit.c` orders them.
const fn segment_labels(reg: SegReg) -> [Label; 4] {
    [
        ("Selector:", Printed::Hex, Some(VmcsField::selector(reg))),
        (
            "Access-Rights:",
            Printed::Hex,
            Some(VmcsField::access_rights(reg)),
        ),
        ("Limit:", Printed::Hex, Some(VmcsField::limit(reg))),
        ("Base:", Printed::Pointer, Some(VmcsField::base(reg))),
    ]
}

/// The other lines: each head (itself the first label where the line starts with a
/// value) and its labels in order.
const LINES: &[(&str, &[Label])] = &[
    (
        "Guest GDTR Limit:",
        &[
            (
                "Guest GDTR Limit:",
                Printed::Hex,
                Some(field::GUEST_GDTR_LIMIT),
            ),
            ("Base:", Printed::Pointer, Some(field::GUEST_GDTR_BASE)),
            (
                "Guest IDTR Limit:",
                Printed::Hex,
                Some(field::GUEST_IDTR_LIMIT),
            ),
            ("Base:", Printed::Pointer, Some(field::GUEST_IDTR_BASE)),
        ],
    ),
    (
        "Guest Control & Debug Registers -",
        &[
            ("CR0:", Printed::Hex, Some(field::GUEST_CR0)),
            ("CR3:", Printed::Pointer, Some(field::GUEST_CR3)),
            ("CR4:", Printed::Hex, Some(field::GUEST_CR4)),
            ("DR7:", Printed::Hex, Some(field::GUEST_DR7)),
        ],
    ),
    (
        "Guest Special GPRs:",
        &[
            ("Rsp:", Printed::Pointer, None),
            ("Rip:", Printed::Pointer, Some(field::GUEST_RIP)),
            ("RFlags:", Printed::Hex, Some(field::GUEST_RFLAGS)),
            ("Ssp:", Printed::Pointer, None),
        ],
    ),
    (
        "Guest Activity State:",
        &[
            (
                "Guest Activity State:",
                Printed::Decimal,
                Some(field::GUEST_ACTIVITY),
            ),
            (
                "Interruptibility State:",
                Printed::Hex,
                Some(field::GUEST_INTERRUPTIBILITY),
            ),
            (
                "Pending Debug Exceptions:",
                Printed::Hex,
                Some(field::GUEST_PENDING_DBG),
            ),
        ],
    ),
    (
        "Guest EFER:",
        &[
            ("Guest EFER:", Printed::Hex, Some(field::GUEST_EFER)),
            ("PAT:", Printed::Hex, Some(field::GUEST_PAT)),
            ("Debug Control:", Printed::Hex, Some(field::GUEST_DEBUGCTL)),
        ],
    ),
    (
        "Guest VMCS Link Pointer:",
        &[("Guest VMCS Link Pointer:", Printed::Pointer, None)],
    ),
    (
        "Guest PDPTE0:",
        &[
            ("Guest PDPTE0:", Printed::Hex, Some(field::GUEST_PDPTE0)),
            ("PDPTE1:", Printed::Hex, Some(field::GUEST_PDPTE0 + 2)),
            ("PDPTE2:", Printed::Hex, Some(field::GUEST_PDPTE0 + 4)),
            ("PDPTE3:", Printed::Hex, Some(field::GUEST_PDPTE0 + 6)),
        ],
    ),
    (
        "Pin-Based Controls:",
        &[
            (
                "Pin-Based Controls:",
                Printed::Hex,
                Some(field::PIN_BASED_CTLS),
            ),
            (
                "Primary Controls:",
                Printed::Hex,
                Some(field::PRI_PROC_BASED_CTLS),
            ),
            (
                "Secondary Controls:",
                Printed::Hex,
                Some(field::SEC_PROC_BASED_CTLS),
            ),
            ("Exception Bitmap:", Printed::Hex, None),
        ],
    ),
    (
        "VM-Exit Controls:",
        &[
            ("VM-Exit Controls:", Printed::Hex, Some(field::EXIT_CTLS)),
            ("VM-Entry Controls:", Printed::Hex, Some(field::ENTRY_CTLS)),
        ],
    ),
    ("EPT Pointer:", &[("EPT Pointer:", Printed::Hex, None)]),
    (
        "Event Injection:",
        &[(
            "Event Injection:",
            Printed::Hex,
            Some(field::ENTRY_INTR_INFO),
        )],
    ),
];

/// The header before the dump, `...` since f94baa0, `!` before.
const HEADER: &str = "Dumping VMCS Guest State Area";

/// NoirVisor prints a segment's four fields on one line: a part alone is that line
/// cut. SS.DPL of the VMCS is the CPL.
const ONE_LINE: Cut = Cut {
    why: "NoirVisor prints a segment's selector, access rights, limit and base on one \
          line, so the paste ends inside it",
    cpl_from_ss: true,
};

/// The value printed as `how` at the start of `rest`: `Ok(None)` when the line ends
/// there, `Err` with the word when it is not a whole value.
fn value(rest: &str, how: Printed) -> Result<Option<u64>, &str> {
    let Some(word) = rest.split_whitespace().next() else {
        return Ok(None);
    };
    let parsed = match how {
        Printed::Decimal => word.parse().ok(),
        Printed::Hex | Printed::Pointer => word.strip_prefix("0x").and_then(|h| {
            let wide = how == Printed::Hex || h.len() == 8 || h.len() == 16;
            (wide && !h.is_empty() && h.len() <= 16)
                .then(|| u64::from_str_radix(h, 16).ok())
                .flatten()
        }),
    };
    parsed.map(Some).ok_or(word)
}

/// A dump being read: its fields by encoding, in the order printed, and the heads
/// seen (one printed again starts the next dump).
struct Building {
    dump: RawDump,
    fields: Vec<(u32, u64)>,
    heads: Vec<&'static str>,
}

impl Building {
    fn new(line: usize) -> Self {
        Building {
            dump: RawDump::new(Dialect::NoirVisor, line),
            fields: Vec::new(),
            heads: Vec::new(),
        }
    }

    /// Reads `labels` from `rest` (the line from its head on), line `no`.
    fn read_line(&mut self, no: usize, rest: &str, labels: &[Label]) {
        self.dump.lines.extend_to(no);
        let mut at = 0;
        for &(label, how, enc) in labels {
            let Some(i) = rest[at..].find(label) else {
                // The line is cut before this label.
                return;
            };
            at += i + label.len();
            match value(&rest[at..], how) {
                Ok(Some(v)) => {
                    if let Some(enc) = enc {
                        self.fields.push((enc, v));
                    }
                }
                Ok(None) => {
                    self.dump.note(format!(
                        "line {no}: NoirVisor's `{}` is printed without its value (the paste \
                         is cut there)",
                        label.trim_end_matches(':')
                    ));
                    return;
                }
                Err(word) => {
                    self.dump.note(format!(
                        "line {no}: NoirVisor's `{}` value `{word}` is not read: {}",
                        label.trim_end_matches(':'),
                        if how == Printed::Pointer {
                            "`%p` prints 16 hex digits on x64 (8 on x86), so the paste cuts it"
                        } else {
                            "not a number as NoirVisor prints it"
                        }
                    ));
                    return;
                }
            }
        }
    }

    fn finish(self) -> RawDump {
        let mut d = self.dump;
        let mut parts = AllParts::default();
        for &(enc, v) in &self.fields {
            field::read(&mut d, &mut parts, enc, v);
        }
        assemble(&mut d, &parts, ONE_LINE);
        d
    }
}

/// The head a line holds and what follows it, with its labels.
fn head(line: &str) -> Option<(&'static str, &str, Vec<Label>)> {
    for (h, reg) in SEGMENT_HEADS {
        if let Some(i) = line.find(h) {
            return Some((h, &line[i + h.len()..], segment_labels(reg).to_vec()));
        }
    }
    for &(h, labels) in LINES {
        if let Some(i) = line.find(h) {
            return Some((h, &line[i..], labels.to_vec()));
        }
    }
    None
}

/// Every NoirVisor VMCS dump in the lines (as pasted, prefixes kept).
#[must_use]
pub(crate) fn read(lines: &[(usize, Cow<'_, str>)]) -> Vec<RawDump> {
    let mut out: Vec<RawDump> = Vec::new();
    let mut cur: Option<Building> = None;
    for (no, line) in lines {
        if out.len() >= MAX_DUMPS {
            break;
        }
        let no = *no;
        if line.contains(HEADER) {
            out.extend(cur.take().map(Building::finish));
            cur = Some(Building::new(no));
            continue;
        }
        let Some((h, rest, labels)) = head(line) else {
            continue;
        };
        if cur.as_ref().is_some_and(|b| b.heads.contains(&h)) {
            // A line printed again: the next dump, without its header.
            out.extend(cur.take().map(Building::finish));
        }
        let b = cur.get_or_insert_with(|| Building::new(no));
        b.heads.push(h);
        b.read_line(no, rest, &labels);
    }
    out.extend(cur.map(Building::finish));
    out.retain(|d| d.has_fields() || !d.partial_segments.is_empty());
    out
}

#[cfg(test)]
mod tests;
