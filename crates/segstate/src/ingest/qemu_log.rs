//! QEMU's CPU state dump, read tolerantly: `info registers`, `-d cpu`, `-d int`, the
//! dump after "KVM: entry failed" or "KVM internal error" (QEMU 7.x to 10.x, 16-, 32-
//! and 64-bit layouts), however it was pasted.
//!
//! [`super::qemu_dump`] reads a dump exactly as QEMU prints it and refuses anything
//! else; this reader follows the fields' grammar over words instead of lines, so
//! wrapped and joined lines read the same, a field printed with another version's
//! width (EFER with 8 digits, a selector wider than 16 bits) is accepted, and a dump
//! cut short or with `[...]` elisions yields the fields it has, with the missing ones
//! named. A dump starts at `RAX=`/`EAX=` or at the first field after another dump,
//! and ends where a field repeats.

use alloc::format;
use alloc::vec::Vec;

use super::code_at_rip::{CodeAtRip, QEMU_CODE_BYTES_BACKWARD};
use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::text::{Words, hex, hex_width};
use crate::arch::{CpuMode, DescriptorTable, PrivilegeLevel, SegReg};
use crate::format::qemu::{QemuFlags, QemuSegmentCache};

/// Fields the reader keeps or uses to find dump boundaries.
const KEYS: &[&str] = &[
    "RAX", "EAX", "RIP", "EIP", "RFL", "EFL", "CPL", "GDT", "IDT", "CR0", "CR2", "CR3", "CR4",
    "DR6", "DR7", "EFER", "SMM",
];

/// Words that only TCG prints: `-d int` exception headers and `check_exception`, the
/// lazy condition codes (`CCS=`, `-d cpu`), SMM entry/exit, QEMU linux-user's
/// `qemu: uncaught target signal` before its dump, and the translator's `Trying to
/// execute code outside RAM or ROM`.
fn is_tcg_marker(word: &str, next: Option<&str>) -> bool {
    word == "check_exception"
        || (word == "uncaught" && next == Some("target"))
        // `CCS=%016lx CCD=%016lx CCO=…`: an OHCI port's `CCS=0 PES =0` in a VBox.log
        // (Current Connect Status) is not it.
        || (word.starts_with("CCS=") && next.is_some_and(|n| n.starts_with("CCD=")))
        || word == "SMM:"
        // `qemu: fatal: Trying to execute code outside RAM or ROM`: TCG's translator.
        || (word == "outside" && next == Some("RAM"))
        || (word.len() == 4 && word.starts_with("v=") && next.is_some_and(|n| n.starts_with("e=")))
}

/// How many lines after `CPU Reset (CPU n)` its dump runs, to its `CCS=` line: the
/// registers, segments, tables and control and debug registers (19 lines), with room
/// for wrapped ones.
const RESET_DUMP_LINES: usize = 24;

/// A dump being read.
struct Reading {
    dump: RawDump,
    seen: Vec<&'static str>,
    /// SS's DPL and line, when QEMU printed SS's `DPL=` suffix.
    ss_suffix: Option<(PrivilegeLevel, usize)>,
}

impl Reading {
    fn new(line: usize) -> Self {
        Reading {
            dump: RawDump::new(Dialect::Qemu, line),
            seen: Vec::new(),
            ss_suffix: None,
        }
    }

    /// The dump read. One without QEMU's `CPL=` (a paste of the segment lines alone)
    /// whose SS line has its `DPL=` suffix is at CPL SS.DPL: QEMU prints the suffix
    /// only with HF_PE_MASK (`cpu_x86_dump_seg_cache`, target/i386/cpu-dump.c), and in
    /// protected mode its CPL is SS.DPL (`x86_update_hflags`, target/i386/helper.c;
    /// SDM Vol. 3A §5.5), virtual-8086 mode's SS.DPL being 3.
    fn finish(mut self) -> RawDump {
        if let (None, Some((dpl, line))) = (self.dump.guest.cpl, self.ss_suffix) {
            self.dump.guest.cpl = Some(dpl);
            self.dump.note(format!(
                "line {line}: no CPL= in the paste; CPL {} is SS.DPL, QEMU's CPL in \
                 protected mode, which the DPL= suffix shows (QEMU prints it only with \
                 CR0.PE set)",
                dpl.bits()
            ));
        }
        self.dump
    }
}

/// Every QEMU dump in the words, with the lines where TCG-only output appears.
#[must_use]
pub(crate) fn read(words: &mut Words<'_>) -> (Vec<RawDump>, bool) {
    let mut out = Vec::new();
    let mut tcg = false;
    let mut cur: Option<Reading> = None;
    // The line of the last `CPU Reset (CPU n)`: QEMU's `-d cpu_reset` logs the state
    // with `CPU_DUMP_CCOP` whatever the accelerator (`x86_cpu_class_init`'s
    // `reset_dump_flags`), so its `CCS=` is no sign of TCG.
    let mut reset: Option<usize> = None;
    while let Some(w) = words.next_word() {
        if out.len() >= MAX_DUMPS {
            break;
        }
        let next = words.peek(0).map(|n| n.text);
        if w.text == "CPU" && next == Some("Reset") {
            reset = Some(w.line);
        }
        let in_reset_dump = reset.is_some_and(|r| w.line.saturating_sub(r) <= RESET_DUMP_LINES);
        if is_tcg_marker(w.text, next) && !(in_reset_dump && w.text.starts_with("CCS=")) {
            tcg = true;
        }
        // `ES =0010`, `R8 =…`: the name and `=value` are two words.
        let (name, value, glued) = match w.text.split_once('=') {
            Some((n, v)) if !n.is_empty() => (n, v, true),
            _ => match next.and_then(|n| n.strip_prefix('=')) {
                Some(v) if w.text.len() <= 3 && !v.is_empty() => {
                    words.skip(1);
                    (w.text, v, false)
                }
                _ => continue,
            },
        };
        if name == "Code" && glued {
            if let Some(c) = cur.as_mut() {
                code(c, words, value, w.line);
            }
            continue;
        }
        let seg = super::qemu_dump::segment_named(name);
        let key = KEYS.iter().find(|k| **k == name).copied();
        let Some(id) = seg.map(SegReg::name).or(key) else {
            continue;
        };
        // QEMU values are bare hex glued to `NAME=`; `0x` values, `NAME= value` and
        // `CS=0010` (the host selectors of dump_vmcs) are another dialect's.
        let table = matches!(name, "GDT" | "IDT");
        let next_bare = words.peek(0).is_some_and(|n| !n.text.starts_with("0x"));
        if value.starts_with("0x")
            || (value.is_empty() && !(table && next_bare))
            || (seg.is_some() && glued && name != "LDT")
        {
            continue;
        }
        let starts = matches!(name, "RAX" | "EAX");
        let repeat = cur.as_ref().is_some_and(|c| c.seen.contains(&id));
        if repeat || (starts && cur.as_ref().is_some_and(|c| !c.seen.is_empty())) {
            if let Some(done) = cur.take() {
                out.push(done.finish());
            }
        }
        let c = cur.get_or_insert_with(|| {
            let mut r = Reading::new(w.line);
            if reset.is_some_and(|at| w.line > at && w.line - at <= 2) {
                r.dump.at_reset = true;
                r.dump.note(format!(
                    "line {}: the dump follows `CPU Reset`: QEMU's -d cpu_reset logs the \
                     state as the reset begins (a vCPU's first reset shows it all zeros), \
                     not a state that ran or was entered",
                    w.line
                ));
            }
            r
        });
        c.seen.push(id);
        c.dump.lines.extend_to(w.line);
        if name == "RAX" {
            c.dump.named_mode = Some(CpuMode::Long64);
        }
        if let Some(reg) = seg {
            segment(c, words, reg, value, w.line);
        } else {
            field(c, words, name, value, w.line);
        }
    }
    if let Some(done) = cur {
        out.push(done.finish());
    }
    out.retain(|d| d.has_fields());
    for d in &mut out {
        layout_note(d);
    }
    (out, tcg)
}

/// Names what the 64-bit layout says where the fields that decide the mode are cut:
/// `x86_cpu_dump_state()` prints `RAX=…`, and `cpu_x86_dump_seg_cache()` 16-digit
/// bases, only when `env->hflags & HF_CS64_MASK`, which QEMU sets for EFER.LMA with
/// CS.L (target/i386/cpu-dump.c, `x86_update_hflags` in target/i386/helper.c), so a
/// dump in that layout was taken in 64-bit mode though its CR0 or EFER line is not in
/// the paste. [`RawDump::named_mode`] carries it; the fields decide where they can.
fn layout_note(d: &mut RawDump) {
    let g = &d.guest;
    if d.named_mode == Some(CpuMode::Long64) && (g.cr0.is_none() || g.efer.is_none()) {
        let lacks = match (g.cr0, g.efer) {
            (None, None) => "CR0 and EFER",
            (None, Some(_)) => "CR0",
            _ => "EFER",
        };
        d.note(format!(
            "line {}: the 64-bit layout (`RAX=`, 16-digit segment bases): QEMU prints it \
             only with HF_CS64_MASK, \
             EFER.LMA and CS.L both set (target/i386/cpu-dump.c, x86_cpu_dump_state), so \
             the dump names 64-bit mode though its {lacks} {} not in the paste",
            d.lines.first,
            if lacks.contains(" and ") { "are" } else { "is" }
        ));
    }
}

/// `XX =sel base limit flags [suffix]`.
fn segment(c: &mut Reading, words: &mut Words<'_>, reg: SegReg, sel: &str, line: usize) {
    let cut = |c: &mut Reading, what: &str| {
        c.dump.note(format!(
            "line {line}: the {} line is cut short ({what})",
            reg.name()
        ));
    };
    let Some(selector) = hex_width(sel, &[4, 5, 6, 7, 8]) else {
        return cut(c, "no selector");
    };
    let mut cols = [0u64; 3];
    for (i, (what, widths)) in [("base", &[8, 16][..]), ("limit", &[8]), ("flags", &[8])]
        .into_iter()
        .enumerate()
    {
        match words.peek(0).and_then(|w| hex_width(w.text, widths)) {
            Some(v) => {
                // A 16-digit base is the 64-bit layout, as `RAX=` is (`layout_note`).
                if i == 0 && words.peek(0).is_some_and(|w| w.text.len() == 16) {
                    c.dump.named_mode = Some(CpuMode::Long64);
                }
                c.dump
                    .lines
                    .extend_to(words.peek(0).map_or(line, |w| w.line));
                cols[i] = v;
                words.skip(1);
            }
            None => return cut(c, &format!("no {what}")),
        }
    }
    if selector > 0xffff {
        c.dump.note(format!(
            "line {line}: {} selector {selector:#x} is wider than 16 bits; its low 16 bits are used, as KVM's set_seg does",
            reg.name()
        ));
    }
    let q = QemuSegmentCache {
        selector: selector as u32,
        base: cols[0],
        limit: cols[1] as u32,
        flags: QemuFlags(cols[2] as u32),
    };
    if reg == SegReg::Ss && words.peek(0).is_some_and(|w| w.text.starts_with("DPL=")) {
        c.ss_suffix = Some((q.flags.dpl(), line));
    }
    c.dump.guest.segments[reg] = Some(q.lenient_segment());
}

/// `Code=xx xx <xx> xx …` after the dump (QEMU's `CPU_DUMP_CODE`): the bytes at RIP.
/// Only the first line is kept; one whose bracket is not where QEMU puts it for the
/// dump's RIP was cut at its start, which is noted.
fn code(c: &mut Reading, words: &mut Words<'_>, first: &str, line: usize) {
    if c.dump.code.is_some() {
        return;
    }
    let Some(code) = CodeAtRip::read(first, line, words) else {
        return;
    };
    c.dump.lines.extend_to(line);
    if let Some(rip) = c.dump.guest.rip.filter(|rip| !code.fits_rip(*rip)) {
        c.dump.note(format!(
            "line {line}: Code= shows {} bytes before RIP where QEMU prints {} for RIP              {rip:#x}: the line's start was cut (the bytes from RIP on are read)",
            code.before,
            rip.min(QEMU_CODE_BYTES_BACKWARD as u64)
        ));
    }
    c.dump.code = Some(code);
}

fn field(c: &mut Reading, words: &mut Words<'_>, name: &str, value: &str, line: usize) {
    let g = &mut c.dump.guest;
    match name {
        "RIP" | "EIP" => g.rip = hex(value),
        "RFL" | "EFL" => g.rflags = hex(value),
        "CPL" => {
            g.cpl = value
                .parse::<u8>()
                .ok()
                .filter(|v| *v <= 3)
                .map(PrivilegeLevel::from_low_bits);
            c.dump.printed_cpl = g.cpl;
        }
        // `SMM=%d`: whether QEMU's hflags say the vCPU is in system-management mode.
        "SMM" => {
            c.dump.smm = match value {
                "0" => Some(false),
                "1" => Some(true),
                _ => None,
            }
        }
        "CR0" => g.cr0 = hex_width(value, &[8, 16]),
        "CR3" => g.cr3 = hex_width(value, &[8, 16]),
        "CR4" => g.cr4 = hex_width(value, &[8, 16]),
        "DR6" => g.dr6 = hex_width(value, &[8, 16]),
        "DR7" => g.dr7 = hex_width(value, &[8, 16]),
        "EFER" => {
            g.efer = hex_width(value, &[8, 16]);
            if g.efer.is_some() && value.len() == 8 {
                c.dump.note(format!(
                    "line {line}: EFER printed with 8 digits (an older QEMU)"
                ));
            }
        }
        "GDT" | "IDT" => {
            let mut vals = Vec::new();
            if !value.is_empty() {
                vals.push(hex_width(value, &[8, 16]));
            }
            while vals.len() < 2 {
                let widths: &[usize] = if vals.is_empty() { &[8, 16] } else { &[8] };
                let v = words.peek(0).and_then(|w| hex_width(w.text, widths));
                if v.is_some() {
                    words.skip(1);
                }
                vals.push(v);
                if v.is_none() {
                    break;
                }
            }
            let table = match vals.as_slice() {
                [Some(base), Some(limit)] => Some(DescriptorTable {
                    base: *base,
                    limit: *limit as u32,
                }),
                // Named as a segment line's gap is: the first value missing or not
                // printed at its width (a limit cut to `0000`).
                _ => {
                    let what = match vals.first() {
                        Some(Some(_)) => "limit",
                        _ => "base",
                    };
                    c.dump.note(format!(
                        "line {line}: the {name} line is cut short (no {what})"
                    ));
                    None
                }
            };
            if name == "GDT" {
                c.dump.guest.gdtr = table;
            } else {
                c.dump.guest.idtr = table;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::text::normalise;

    fn dumps(text: &str) -> (Vec<RawDump>, bool) {
        read(&mut Words::new(&normalise(text)))
    }

    #[test]
    fn joined_and_wrapped_dumps_read_alike() {
        let lines = "EAX=00000000 EBX=0 ECX=0 EDX=0\nEIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0\n\
                     ES =0000 00000000 0000ffff 00009300\nCS =f000 ffff0000 0000ffff 00009b00\n\
                     GDT=     00000000 0000ffff\nCR0=60000010 CR2=0 CR3=00000000 CR4=00000000\n";
        let (a, tcg) = dumps(lines);
        let (b, _) = dumps(&lines.replace('\n', " "));
        let (c, _) = dumps(&lines.replace("ffff0000 ", "ffff0000\n"));
        assert!(!tcg);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].guest, b[0].guest);
        assert_eq!(a[0].guest, c[0].guest);
        let g = &a[0].guest;
        assert_eq!(g.segments[SegReg::Cs].map(|s| s.base), Some(0xffff_0000));
        assert_eq!(g.cr0, Some(0x6000_0010));
        assert_eq!(g.gdtr.map(|t| t.limit), Some(0xffff));
        assert_eq!(g.segments[SegReg::Ss], None);
    }

    #[test]
    fn a_cut_segment_is_named_not_guessed() {
        let (d, _) = dumps("EAX=0 EBX=0\nGS =0000 00000000 0000ffff 000\nCR0=00000010\n");
        assert_eq!(d[0].guest.segments[SegReg::Gs], None);
        assert!(
            d[0].notes[0].contains("GS line is cut short"),
            "{:?}",
            d[0].notes
        );
    }

    #[test]
    fn a_linux_user_dump_is_tcg() {
        let (d, tcg) = dumps(
            "qemu: uncaught target signal 11 (Segmentation fault) - core dumped\nRAX=0 RBX=0\nCR0=80000011\n",
        );
        assert!(tcg);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn repeated_fields_start_a_new_dump_and_tcg_is_seen() {
        let text = "check_exception old: 0xffffffff new 0xe\nRAX=0 RBX=0\nCR0=80000011 CR2=0\nRAX=1\nCR0=00000011\n";
        let (d, tcg) = dumps(text);
        assert!(tcg);
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].guest.cr0, Some(0x11));
        assert_eq!(d[1].lines.first, 4);
    }

    #[test]
    fn ccs_is_tcg_only_as_qemu_prints_it() {
        let dump = "RAX=0 RBX=0\nCR0=80000011 CR2=0\n";
        let (_, tcg) = dumps(&format!(
            "{dump}CCS=0000000000000044 CCD=0000000000000000 CCO=EFLAGS\n"
        ));
        assert!(tcg);
        // VirtualBox's OHCI dump in a VBox.log: Current Connect Status.
        let (_, tcg) = dumps(&format!(
            "HcRhPortStatus00: CCS=0 PES =0 PSS =0 POCI=0 PRS =0 PPS=1 LSDA=0\n{dump}"
        ));
        assert!(!tcg);
    }
}
