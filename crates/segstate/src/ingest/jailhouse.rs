//! Jailhouse's panic dump: what the Jailhouse partitioning hypervisor prints on its
//! serial console when it stops a cell's CPU (`dump_guest_regs` in
//! `hypervisor/arch/x86/vmx.c` and `svm.c`, read in siemens/jailhouse v0.12):
//!
//! ```text
//! FATAL: Invalid PIO read, port: 1771 size: 1             (the reason, one or more lines)
//! RIP: 0x%016lx RSP: 0x%016lx FLAGS: %lx
//! RAX: 0x%016lx RBX: 0x%016lx RCX: 0x%016lx
//! RDX: 0x%016lx RSI: 0x%016lx RDI: 0x%016lx
//! CS: %lx BASE: 0x%016lx AR-BYTES: %x EFER.LMA %d
//! CR0: 0x%016lx CR3: 0x%016lx CR4: 0x%016lx
//! EFER: 0x%016lx
//! Parking CPU 5 (Cell: "RootCell")
//! ```
//!
//! Both vendors print the same lines from their save area. On Intel `AR-BYTES` is the
//! VMCS's `GUEST_CS_AR_BYTES` (the 17-bit access rights: L in bit 13, G in bit 15) and
//! `EFER.LMA` the "IA-32e mode guest" entry control; on AMD it is the VMCB's 12-bit
//! `cs.attributes` (L in bit 9, G in bit 11) and `EFER.LMA` the VMCB's EFER.LMA (older
//! `svm.c` printed `vmcb->efer & EFER_LMA` with `%d`: 1024). Which it is shows in the
//! dump itself: a VMCB's EFER has SVME (bit 12), which VMRUN requires (APM Vol. 2
//! §15.5.1) and an Intel guest's EFER cannot have (it is reserved there); attributes
//! above 0xfff exist only in a VMCS, and attributes with bits 8-11 set only in a VMCB
//! (bits 11:8 of VMX access rights are reserved). Attributes of 0xff or below with no
//! SVME are alike in both layouts, and the vendor stays unknown.
//!
//! CS is printed without its limit, so it is named, not judged; the CPL follows from
//! CS's selector and the mode, as for a listing of selectors (`gdb_regs::cpl`). The control registers and EFER are the save area's.
//! The `FATAL:` lines before the dump are Jailhouse's own reason for stopping the CPU
//! (an access outside the cell's configuration, an instruction it does not emulate):
//! the guest ran, no VM entry is in question unless the line says `VM-Entry failure`.
//! A console that dropped output prints `<missed N bytes of console log>` and goes on
//! mid-line: what follows up to the `Parking CPU` line belongs to the same dump and
//! opens no other.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::text::hex;
use crate::arch::{Attributes, CpuMode, SegReg, SegmentType};
use crate::format::svm::SvmAttrib;

/// EFER.SVME (bit 12).
const EFER_SVME: u64 = 1 << 12;
/// CR4.VMXE (bit 13): set in every VMCS's guest CR4 (IA32_VMX_CR4_FIXED0, SDM Vol. 3D
/// Appendix A.8), must be zero in a VMCB's (APM Vol. 2 §15.5.1, CR4's MBZ bits).
const CR4_VMXE: u64 = 1 << 13;
/// EFER.LMA (bit 10).
const EFER_LMA: u64 = 1 << 10;
/// How many lines before a dump's `RIP:` line its `FATAL:` reason may be (a paste that
/// double-spaces the console has a blank line between each).
const REASON_BEFORE: usize = 6;
/// How many lines after the `EFER:` line the `Parking CPU` line may be.
const PARKING_AFTER: usize = 12;

/// The CS line's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CsLine {
    selector: u64,
    base: u64,
    attributes: u64,
    lma: bool,
}

/// A dump being read.
struct Dump {
    raw: RawDump,
    cs: Option<CsLine>,
    reasons: Vec<(usize, String)>,
    /// The fields read, by the word that opened each line.
    read: Vec<&'static str>,
}

/// The value after `key` in `line`: the next word, read as hex.
fn hex_after(line: &str, key: &str) -> Option<u64> {
    let at = line.find(key)?;
    hex(line[at + key.len()..].split_whitespace().next()?)
}

/// `CS: %lx BASE: 0x%016lx AR-BYTES: %x EFER.LMA %d`.
fn cs_line(line: &str) -> Option<CsLine> {
    let rest = line.strip_prefix("CS: ")?;
    let selector = hex(rest.split_whitespace().next()?)?;
    let base = hex_after(rest, "BASE: ")?;
    let attributes = hex_after(rest, "AR-BYTES: ")?;
    let lma = rest
        .split_once("EFER.LMA ")
        .and_then(|(_, v)| v.split_whitespace().next()?.parse::<u64>().ok())?;
    Some(CsLine {
        selector,
        base,
        attributes,
        lma: lma != 0,
    })
}

/// The dialect the dump's own fields tell (module doc).
fn dialect(cs: Option<CsLine>, efer: Option<u64>, cr4: Option<u64>) -> Dialect {
    let attributes = cs.map(|c| c.attributes);
    if efer.is_some_and(|e| e & EFER_SVME != 0)
        || attributes.is_some_and(|a| (0x100..=0xfff).contains(&a))
    {
        Dialect::JailhouseVmcb
    } else if attributes.is_some_and(|a| a > 0xfff) || cr4.is_some_and(|c| c & CR4_VMXE != 0) {
        Dialect::JailhouseVmcs
    } else {
        Dialect::Jailhouse
    }
}

/// The CS attributes as descriptor bits 55:40 (the VMX layout's low 16 bits).
fn vmx_layout(dialect: Dialect, a: u64) -> u16 {
    match dialect {
        // The VMCB keeps descriptor bits 55:52 in bits 11:8.
        Dialect::JailhouseVmcb => SvmAttrib((a & 0xfff) as u16).to_vmx_layout() as u16,
        _ => (a & 0xffff) as u16,
    }
}

/// The CS attributes in words, in the layout of `dialect`.
fn attributes_in_words(dialect: Dialect, a: u64) -> String {
    let word = vmx_layout(dialect, a);
    let bit = |n: u32| word & (1 << n) != 0;
    let mut parts: Vec<String> = Vec::new();
    let ty = SegmentType::from_low_bits((word & 0xf) as u8);
    let name = if bit(4) {
        ty.code_data_name()
    } else {
        ty.system_name_legacy()
    };
    parts.push(format!("type {} ({name})", word & 0xf));
    for (n, name) in [
        (4, "S"),
        (7, "P"),
        (12, "AVL"),
        (13, "L"),
        (14, "D/B"),
        (15, "G"),
    ] {
        if bit(n) {
            parts.push(String::from(name));
        }
    }
    parts.push(format!("DPL {}", (word >> 5) & 3));
    if dialect == Dialect::JailhouseVmcs && a & (1 << 16) != 0 {
        parts.push(String::from("unusable"));
    }
    parts.join(", ")
}

impl Dump {
    fn new(line: usize, reasons: Vec<(usize, String)>) -> Self {
        Dump {
            raw: RawDump::new(Dialect::Jailhouse, line),
            cs: None,
            reasons,
            read: Vec::new(),
        }
    }

    /// Takes one line of the dump; false when it is none of the dump's.
    fn take(&mut self, no: usize, line: &str) -> bool {
        let g = &mut self.raw.guest;
        let key = if line.starts_with("RIP: ") {
            g.rip = hex_after(line, "RIP: ");
            g.rflags = hex_after(line, "FLAGS: ");
            "RIP"
        } else if line.starts_with("RAX: ") {
            "RAX"
        } else if line.starts_with("RDX: ") {
            "RDX"
        } else if let Some(cs) = cs_line(line) {
            self.cs = Some(cs);
            "CS"
        } else if line.starts_with("CR0: ") {
            g.cr0 = hex_after(line, "CR0: ");
            g.cr3 = hex_after(line, "CR3: ");
            g.cr4 = hex_after(line, "CR4: ");
            "CR0"
        } else if line.starts_with("EFER: ") {
            g.efer = hex_after(line, "EFER: ");
            "EFER"
        } else {
            return false;
        };
        // A repeated line (a console's cut repeat) is read again, not counted again.
        if !self.read.contains(&key) {
            self.read.push(key);
        }
        self.raw.lines.extend_to(no);
        true
    }

    fn finish(mut self) -> Option<RawDump> {
        // The CS line is Jailhouse's alone: without it, the lines are another's.
        let cs = self.cs?;
        let dialect = dialect(Some(cs), self.raw.guest.efer, self.raw.guest.cr4);
        self.raw.dialect = dialect;
        let first = self.raw.lines.first;
        for (no, text) in &self.reasons {
            self.raw.note(format!(
                "line {no}: Jailhouse stopped the CPU: `{text}` (its own check of the cell's \
                 configuration or of what it emulates, not the hardware's)"
            ));
        }
        let (layout, evidence) = match dialect {
            Dialect::JailhouseVmcb => (
                "the VMCB's 12-bit attributes",
                if self.raw.guest.efer.is_some_and(|e| e & EFER_SVME != 0) {
                    "EFER has SVME (bit 12), which only a VMCB's EFER has"
                } else {
                    "attributes with bits 8-11 set are a VMCB's (they are reserved in VMX \
                     access rights)"
                },
            ),
            Dialect::JailhouseVmcs => (
                "the VMCS's access rights",
                if cs.attributes > 0xfff {
                    "attributes above 0xfff are a VMCS's"
                } else {
                    "CR4 has VMXE (bit 13), which every VMCS's guest CR4 has and a VMCB's cannot"
                },
            ),
            _ => (
                "alike in the VMCB's and the VMCS's layouts",
                "nothing in the dump tells Jailhouse's svm.c from its vmx.c",
            ),
        };
        self.raw.note(format!(
            "Jailhouse's panic dump (line {first}): CS {:#06x}, base {:#x}, attributes {:#x} \
             ({layout}: {}); {evidence}. CS's limit is not printed, so CS is named, not \
             judged",
            cs.selector,
            cs.base,
            cs.attributes,
            attributes_in_words(dialect, cs.attributes),
        ));
        // Intel's `EFER.LMA` is the IA-32e mode guest control; AMD's the VMCB's EFER bit.
        self.raw.named_lma = Some(cs.lma);
        // The mode, from CS's L and D bits, which the dump shows though CS is not read.
        let g = &self.raw.guest;
        if let (Some(cr0), Some(rflags)) = (g.cr0, g.rflags) {
            let efer = g.efer.unwrap_or(0) & !EFER_LMA | if cs.lma { EFER_LMA } else { 0 };
            let word = vmx_layout(dialect, cs.attributes);
            let mode = CpuMode::from_state(cr0, efer, rflags, Attributes::from_word(word));
            self.raw.named_mode = Some(mode);
        }
        let missing: Vec<&str> = ["RIP", "CR0", "EFER"]
            .into_iter()
            .filter(|k| !self.read.contains(k))
            .collect();
        if !missing.is_empty() {
            self.raw.note(format!(
                "the dump is cut: its {} line{} missing",
                missing.join(", "),
                if missing.len() == 1 { " is" } else { "s are" }
            ));
        }
        self.raw.partial_segments = alloc::vec![SegReg::Cs];
        let g = &self.raw.guest;
        match super::gdb_regs::cpl(g.cr0, g.efer, g.rflags, Some(cs.selector)) {
            Ok((level, why)) => {
                self.raw.guest.cpl = Some(level);
                self.raw.note(format!("CPL {}: {why}", level.bits()));
            }
            Err(why) => self.raw.note(format!("CPL unknown: {why}")),
        }
        Some(self.raw)
    }
}

/// A `FATAL:` line: Jailhouse's reason.
fn reason(line: &str) -> Option<&str> {
    let at = line.find("FATAL: ")?;
    Some(line[at..].trim_end())
}

/// Reads every Jailhouse panic dump of a log; each dump's span runs to its `Parking
/// CPU` line, so that a console's cut repeat of its last lines opens no other dump.
pub(crate) fn read(lines: &[(usize, String)]) -> Vec<RawDump> {
    let mut out = Vec::new();
    let mut recent: Vec<(usize, String)> = Vec::new();
    let mut cur: Option<Dump> = None;
    for (no, text) in lines {
        if out.len() >= MAX_DUMPS {
            break;
        }
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(r) = reason(line) {
            if let Some(d) = cur.take() {
                out.extend(d.finish());
            }
            recent.retain(|(n, _)| no.saturating_sub(*n) <= REASON_BEFORE);
            recent.push((*no, String::from(r)));
            continue;
        }
        if line.starts_with("RIP: ") && line.contains(" RSP: ") && line.contains(" FLAGS: ") {
            if let Some(d) = cur.take() {
                out.extend(d.finish());
            }
            recent.retain(|(n, _)| no.saturating_sub(*n) <= REASON_BEFORE);
            cur = Some(Dump::new(*no, core::mem::take(&mut recent)));
        }
        if let Some(d) = cur.as_mut() {
            if d.take(*no, line) {
                continue;
            }
            if line.starts_with("Parking CPU") && *no <= d.raw.lines.last + PARKING_AFTER {
                d.raw.lines.extend_to(*no);
                out.extend(cur.take().and_then(Dump::finish));
            }
        }
    }
    out.extend(cur.and_then(Dump::finish));
    out.truncate(MAX_DUMPS);
    out
}

#[cfg(test)]
mod tests;
