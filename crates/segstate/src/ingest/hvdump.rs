//! hyperkit's and xhyve's VMCS dump (Docker for Mac, minikube's hyperkit driver,
//! LinuxKit, multipass on macOS): `hvdump()` in `src/lib/vmm/intel/vmx.c` (moby/hyperkit
//! @d64481a254dd, unchanged since xhyve's first commit 6322d86 but for the two address
//! lines of cda707d), printed on stdout when a vCPU run aborts — after the `vm exit[N]`
//! report of `vmexit_vmx` (`src/hyperkit.c`, on stderr) for an exit hyperkit does not
//! handle, such as exit reason 33, or alone when `hv_vcpu_run` itself fails:
//!
//! ```text
//! VMCS_PIN_BASED_CTLS:           0x000000000000003f
//! VMCS_PRI_PROC_BASED_CTLS:      0x00000000b5186dfa
//! VMCS_SEC_PROC_BASED_CTLS:      0x00000000000000aa
//! VMCS_ENTRY_CTLS:               0x00000000000093ff
//! VMCS_EXCEPTION_BITMAP: …  VMCS_CR0_MASK: …  VMCS_CR0_SHADOW: …  VMCS_CR4_MASK: …
//! VMCS_CR4_SHADOW: …  VMCS_GUEST_PHYSICAL_ADDRESS: …  VMCS_GUEST_LINEAR_ADDRESS: …
//! VMCS_GUEST_CS_SELECTOR: …  VMCS_GUEST_CS_LIMIT: …  VMCS_GUEST_CS_ACCESS_RIGHTS: …
//! VMCS_GUEST_CS_BASE: …  (then DS, ES, FS, GS, SS, LDTR, TR alike)
//! VMCS_GUEST_GDTR_LIMIT: …  VMCS_GUEST_GDTR_BASE: …
//! VMCS_GUEST_IDTR_LIMIT: …  VMCS_GUEST_IDTR_BASE: …
//! VMCS_GUEST_CR0: …  VMCS_GUEST_CR3: …  VMCS_GUEST_CR4: …  VMCS_GUEST_IA32_EFER: …
//!
//! rip: 0x%016llx rfl: 0x%016llx cr2: 0x%016llx
//! rax: … (the general-purpose registers, four a line)
//! ```
//!
//! Every value is `0x%016llx`, one field a line, each named as `src/include/xhyve/vmm/
//! intel/vmcs.h` names its encoding; the name decides the encoding and the encoding
//! the field (`vmcs_field`), as for HAXM's dump. The dump is Hypervisor.
//! framework's VMCS on an Intel Mac, so it speaks for Intel VMX only.
//!
//! What it does not show: hvdump prints `VMCS_GUEST_IDTR_LIMIT` and `_BASE` from the
//! LDTR's fields (`vmcs_read(vcpu, VMCS_GUEST_LDTR_LIMIT)`), so the IDTR is not read
//! and a note says why; it prints no interruptibility or activity state, no DR7,
//! DEBUGCTL or PAT, no VM-entry interruption information, and no exit controls.
//!
//! The words are read, not the lines: hyperkit's console in raw mode prints `\n`
//! without a carriage return, and a terminal pasted from draws the dump as a staircase
//! (each line indented to where the last one ended, several fields on one wrapped
//! line), and minikube's log puts its own prefix before each line.
//!
//! The `vm exit[N]` report before the dump (or interleaved with it, stdout and stderr
//! merged) is the same failure: its lines join the dump's span, so its exit goes with
//! the dump, and its `rip` (the VMCS guest RIP read after the failed entry) is the
//! state's when the paste is cut before the dump's own `rip:` line.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, MAX_EXITS, RawDump};
use super::segment_parts::{AllParts, Cut, assemble};
use super::text::{Words, hex_width};
use super::vmcs_field::{self as field};
use crate::arch::SegReg;
use crate::format::vmx::VmcsField;

/// The fields read by name beyond the segments', as `vmcs.h` names them. hvdump
/// prints the controls, CR0, CR3, CR4, EFER and GDTR of these; the rest are named for
/// a fork that prints more.
const NAMED: &[(&str, u32)] = &[
    ("PIN_BASED_CTLS", field::PIN_BASED_CTLS),
    ("PRI_PROC_BASED_CTLS", field::PRI_PROC_BASED_CTLS),
    ("SEC_PROC_BASED_CTLS", field::SEC_PROC_BASED_CTLS),
    ("EXIT_CTLS", field::EXIT_CTLS),
    ("ENTRY_CTLS", field::ENTRY_CTLS),
    ("ENTRY_INTR_INFO", field::ENTRY_INTR_INFO),
    ("GUEST_CR0", field::GUEST_CR0),
    ("GUEST_CR3", field::GUEST_CR3),
    ("GUEST_CR4", field::GUEST_CR4),
    ("GUEST_DR7", field::GUEST_DR7),
    ("GUEST_RIP", field::GUEST_RIP),
    ("GUEST_RFLAGS", field::GUEST_RFLAGS),
    ("GUEST_PENDING_DBG_EXCEPTIONS", field::GUEST_PENDING_DBG),
    ("GUEST_IA32_DEBUGCTL", field::GUEST_DEBUGCTL),
    ("GUEST_IA32_PAT", field::GUEST_PAT),
    ("GUEST_IA32_EFER", field::GUEST_EFER),
    ("GUEST_PDPTE0", field::GUEST_PDPTE0),
    ("GUEST_PDPTE1", field::GUEST_PDPTE0 + 2),
    ("GUEST_PDPTE2", field::GUEST_PDPTE0 + 4),
    ("GUEST_PDPTE3", field::GUEST_PDPTE0 + 6),
    ("GUEST_GDTR_LIMIT", field::GUEST_GDTR_LIMIT),
    ("GUEST_GDTR_BASE", field::GUEST_GDTR_BASE),
    ("GUEST_INTERRUPTIBILITY", field::GUEST_INTERRUPTIBILITY),
    ("GUEST_ACTIVITY", field::GUEST_ACTIVITY),
];

/// The names hvdump prints the LDTR's limit and base under.
const MISLABELLED_IDTR: [&str; 2] = ["GUEST_IDTR_LIMIT", "GUEST_IDTR_BASE"];

/// A segment's four fields lie together, selector first: a part alone is a paste cut
/// inside them. SS.DPL of the VMCS is the CPL.
const TOGETHER: Cut = Cut {
    why: "hvdump prints a segment's selector, limit, access rights and base together, so \
          the paste ends or begins inside them",
    cpl_from_ss: true,
};

/// How many lines after its `vm exit[N]` line the report's own lines lie (nine
/// printed, with room for lines of the dump interleaved between them).
const EXIT_REPORT_LINES: usize = 16;

/// How many lines after the last field the `rip: … rfl: …` line may follow (a blank
/// line between, a prefix's continuation).
const REGISTERS_AFTER: usize = 4;

/// The encoding a field name (without `VMCS_` and `:`) stands for.
fn encoding(name: &str) -> Option<u32> {
    if let Some(&(_, enc)) = NAMED.iter().find(|(n, _)| *n == name) {
        return Some(enc);
    }
    let rest = name.strip_prefix("GUEST_")?;
    let (reg, part) = rest.split_once('_')?;
    let reg = SegReg::ALL.into_iter().find(|r| r.name() == reg)?;
    Some(match part {
        "SELECTOR" => VmcsField::selector(reg),
        "LIMIT" => VmcsField::limit(reg),
        "ACCESS_RIGHTS" => VmcsField::access_rights(reg),
        "BASE" => VmcsField::base(reg),
        _ => return None,
    })
}

/// A `0x%016llx` value.
fn value(word: &str) -> Option<u64> {
    word.starts_with("0x").then(|| hex_width(word, &[16]))?
}

/// A dump being read.
struct Building<'a> {
    dump: RawDump,
    /// Each name's line and value, by name, in the order first seen.
    fields: BTreeMap<&'a str, (usize, u64)>,
    /// The line of the last field.
    last: usize,
    /// The `rip:`/`rfl:` line's values.
    registers: Option<(u64, u64)>,
}

impl<'a> Building<'a> {
    fn new(line: usize) -> Self {
        Building {
            dump: RawDump::new(Dialect::Hvdump, line),
            fields: BTreeMap::new(),
            last: line,
            registers: None,
        }
    }

    fn finish(self) -> RawDump {
        let mut d = self.dump;
        let mut parts = AllParts::default();
        for (name, &(_, v)) in &self.fields {
            if let Some(enc) = encoding(name) {
                field::read(&mut d, &mut parts, enc, v);
            }
        }
        if MISLABELLED_IDTR.iter().any(|n| self.fields.contains_key(n)) {
            d.note(String::from(
                "VMCS_GUEST_IDTR_LIMIT and VMCS_GUEST_IDTR_BASE are not read: hvdump prints \
                 the LDTR's limit and base under those names (hyperkit's vmx.c reads \
                 VMCS_GUEST_LDTR_LIMIT and VMCS_GUEST_LDTR_BASE for them), so the dump does \
                 not show the IDTR",
            ));
        }
        if let Some((rip, rflags)) = self.registers {
            d.guest.rip = Some(rip);
            d.guest.rflags = Some(rflags);
        }
        assemble(&mut d, &parts, TOGETHER);
        d
    }
}

/// A `vm exit[N]` report: where, the vCPU, its `rip` line.
struct ExitReport {
    line: usize,
    vcpu: u32,
    rip: Option<(usize, u64)>,
}

/// Every hvdump dump in the words, each joined with the `vm exit[N]` report before it.
#[must_use]
pub(crate) fn read(words: &mut Words<'_>) -> Vec<RawDump> {
    let mut out: Vec<RawDump> = Vec::new();
    let mut reports: Vec<ExitReport> = Vec::new();
    let mut cur: Option<Building<'_>> = None;
    while let Some(w) = words.next_word() {
        if out.len() >= MAX_DUMPS {
            break;
        }
        if w.text == "vm" {
            // As many reports as a log keeps exit lines.
            if let Some(r) = exit_report(words, w.line).filter(|_| reports.len() < MAX_EXITS) {
                reports.push(r);
            }
            continue;
        }
        if w.text == "rip:" {
            registers(words, w.line, cur.as_mut());
            continue;
        }
        let Some(name) = w
            .text
            .strip_prefix("VMCS_")
            .and_then(|n| n.strip_suffix(':'))
            .filter(|n| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
        else {
            continue;
        };
        let next = words.peek(0);
        let Some(v) = next.and_then(|n| value(n.text)) else {
            // A name without its value: the paste ends or was cut there.
            let b = cur.get_or_insert_with(|| Building::new(w.line));
            b.dump.lines.extend_to(w.line);
            b.dump.note(format!(
                "line {}: VMCS_{name} is printed without its value (the paste is cut there)",
                w.line
            ));
            continue;
        };
        words.skip(1);
        if cur.as_ref().is_some_and(|b| b.fields.contains_key(name)) {
            // A field printed again: the next dump.
            out.extend(cur.take().map(Building::finish));
        }
        let b = cur.get_or_insert_with(|| Building::new(w.line));
        b.fields.insert(name, (w.line, v));
        b.dump.lines.extend_to(w.line);
        b.last = w.line;
    }
    out.extend(cur.map(Building::finish));
    out.retain(|d| d.has_fields() || !d.partial_segments.is_empty());
    join_reports(&mut out, &reports);
    out
}

/// `vm exit[N]` and the report's `rip 0x…` within the lines after it; `None` when the
/// word after `vm` is not `exit[N]`.
fn exit_report(words: &mut Words<'_>, line: usize) -> Option<ExitReport> {
    let vcpu = words
        .peek(0)?
        .text
        .strip_prefix("exit[")?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    words.skip(1);
    let mut report = ExitReport {
        line,
        vcpu,
        rip: None,
    };
    let start = words.pos();
    let mut ahead = 0;
    while let Some(w) = words.peek(ahead) {
        if w.line > line + EXIT_REPORT_LINES || w.text == "vm" {
            break;
        }
        if w.text == "rip" {
            if let Some(v) = words.peek(ahead + 1).and_then(|n| value(n.text)) {
                report.rip = Some((w.line, v));
                break;
            }
        }
        ahead += 1;
    }
    // The report's lines may hold the dump's fields too (stdout and stderr merged):
    // they are read in their turn.
    words.rewind(start);
    Some(report)
}

/// `rip: 0x… rfl: 0x…` after the last field of the dump being read: its RIP and
/// RFLAGS (`reg_read` of Hypervisor.framework's registers, the same vCPU).
fn registers(words: &mut Words<'_>, line: usize, cur: Option<&mut Building<'_>>) {
    let Some(b) = cur.filter(|b| line <= b.last + REGISTERS_AFTER) else {
        return;
    };
    let rip = words.peek(0).and_then(|w| value(w.text));
    let rfl = (words.peek(1).map(|w| w.text) == Some("rfl:"))
        .then(|| words.peek(2).and_then(|w| value(w.text)))
        .flatten();
    let (Some(rip), Some(rfl)) = (rip, rfl) else {
        return;
    };
    words.skip(3);
    b.registers = Some((rip, rfl));
    b.dump.lines.extend_to(line);
}

/// Each dump takes the `vm exit[N]` report that begins at most
/// [`EXIT_REPORT_LINES`] lines before it (or inside it, the streams interleaved),
/// the nearest one: its span reaches back to the report, and the report's RIP is the
/// state's when the dump shows none.
fn join_reports(dumps: &mut [RawDump], reports: &[ExitReport]) {
    for d in dumps.iter_mut() {
        let Some(r) = reports
            .iter()
            .filter(|r| r.line <= d.lines.last && r.line + EXIT_REPORT_LINES >= d.lines.first)
            .min_by_key(|r| d.lines.first.abs_diff(r.line))
        else {
            continue;
        };
        d.lines.first = d.lines.first.min(r.line);
        let Some((line, rip)) = r.rip else {
            continue;
        };
        d.lines.extend_to(line);
        match d.guest.rip {
            None => {
                d.guest.rip = Some(rip);
                d.note(format!(
                    "RIP {rip:#x} read from the `vm exit[{}]` report at line {}: the VMCS \
                     guest RIP hyperkit read after the exit; the dump's own `rip:` line is \
                     not in the paste",
                    r.vcpu, r.line
                ));
            }
            Some(own) if own != rip => d.note(format!(
                "RIP is {own:#x} in the dump and {rip:#x} in the `vm exit[{}]` report at line \
                 {}; the dump's is judged",
                r.vcpu, r.line
            )),
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;
    use crate::ingest::text::normalise;

    fn dumps(text: &str) -> Vec<RawDump> {
        read(&mut Words::new(&normalise(text)))
    }

    /// The printed line of one field, as hvdump pads it.
    fn line(name: &str, v: u64) -> String {
        format!("{:<31}0x{v:016x}\n", format!("VMCS_{name}:"))
    }

    /// A whole dump: a 64-bit kernel's flat segments, CS.L set.
    fn whole() -> String {
        let mut t = String::new();
        for (n, v) in [
            ("PIN_BASED_CTLS", 0x3f),
            ("PRI_PROC_BASED_CTLS", 0xb518_6dfa),
            ("SEC_PROC_BASED_CTLS", 0xaa),
            ("ENTRY_CTLS", 0x93ff),
            ("EXCEPTION_BITMAP", 0),
        ] {
            t += &line(n, v);
        }
        for (reg, sel, ar) in [
            ("CS", 0x10, 0xa09b),
            ("DS", 0x18, 0xc093),
            ("ES", 0x18, 0xc093),
            ("FS", 0, 0x1_0000),
            ("GS", 0, 0x1_0000),
            ("SS", 0x18, 0xc093),
            ("LDTR", 0, 0x1_0082),
            ("TR", 0x20, 0x8b),
        ] {
            t += &line(&format!("GUEST_{reg}_SELECTOR"), sel);
            t += &line(&format!("GUEST_{reg}_LIMIT"), 0xffff_ffff);
            t += &line(&format!("GUEST_{reg}_ACCESS_RIGHTS"), ar);
            t += &line(&format!("GUEST_{reg}_BASE"), 0);
        }
        t += &line("GUEST_GDTR_LIMIT", 0x7f);
        t += &line("GUEST_GDTR_BASE", 0x1000);
        t += &line("GUEST_IDTR_LIMIT", 0xffff_ffff);
        t += &line("GUEST_IDTR_BASE", 0);
        t += &line("GUEST_CR0", 0x8005_0033);
        t += &line("GUEST_CR3", 0x4000);
        t += &line("GUEST_CR4", 0x2020);
        t += &line("GUEST_IA32_EFER", 0xd01);
        t += "\nrip: 0xffffffff81000000 rfl: 0x0000000000000002 cr2: 0x0000000000000000\n";
        t += "rax: 0x0000000000000000 rbx: 0x0000000000000000 rcx: 0x0000000000000000 rdx: \
              0x0000000000000000\n";
        t
    }

    #[test]
    fn a_whole_dump_reads_every_field_it_prints() {
        let d = dumps(&whole());
        assert_eq!(d.len(), 1, "{d:?}");
        let g = &d[0].guest;
        assert_eq!(g.controls.entry, Some(0x93ff));
        assert_eq!(g.controls.unrestricted_guest(), Some(true));
        assert_eq!(
            (g.cr0, g.cr3, g.cr4, g.efer),
            (Some(0x8005_0033), Some(0x4000), Some(0x2020), Some(0xd01))
        );
        assert_eq!((g.rip, g.rflags), (Some(0xffff_ffff_8100_0000), Some(2)));
        assert_eq!(g.gdtr.map(|t| (t.base, t.limit)), Some((0x1000, 0x7f)));
        assert_eq!(g.idtr, None, "LDTR's fields under IDTR's names");
        assert!(SegReg::ALL.into_iter().all(|r| g.segments[r].is_some()));
        assert!(g.segments[SegReg::Cs].unwrap().attributes.l);
        assert!(g.segments[SegReg::Fs].unwrap().unusable);
        assert_eq!(g.cpl, Some(PrivilegeLevel::Ring0));
        assert_eq!(d[0].notes.len(), 1, "{:?}", d[0].notes);
        assert!(
            d[0].notes[0]
                .starts_with("VMCS_GUEST_IDTR_LIMIT and VMCS_GUEST_IDTR_BASE are not read")
        );
        assert_eq!(d[0].dialect, Dialect::Hvdump);
    }

    /// The staircase a raw-mode console leaves (each line indented to where the last
    /// ended, several on one line) and a logger's prefix read as the plain dump.
    #[test]
    fn staircase_and_prefixed_pastes_read_alike() {
        let plain = dumps(&whole());
        let mut indent = 0;
        let mut stair = String::new();
        for (i, l) in whole().lines().enumerate() {
            stair += &" ".repeat(indent);
            stair += l;
            // Every third line wraps onto the same physical line as the next.
            stair += if i % 3 == 2 { "  " } else { "\n" };
            indent = (indent + l.len()) % 150;
        }
        let d = dumps(&stair);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].guest, plain[0].guest);
        let prefixed: String = whole()
            .lines()
            .map(|l| format!("I0423 11:42:42.632795   77604 main.go:110] libmachine: (minikube) DBG | 2020/04/23 11:42:42 {l}\n"))
            .collect();
        assert_eq!(dumps(&prefixed)[0].guest, plain[0].guest);
    }

    /// The exit report before the dump: its lines join the dump's span, its RIP stands
    /// in for the dump's cut `rip:` line; a segment cut inside its fields is named.
    #[test]
    fn the_exit_report_joins_a_cut_dump() {
        let text = "vm exit[0]\n\treason\t\tVMX\n\trip\t\t0x000000000009e019\n\tinst_length\t3\n\
                    \tstatus\t\t0\n\texit_reason\t33\n\tqualification\t0x0000000000000000\n\
                    \tinst_type\t\t0\n\tinst_error\t\t0\n"
            .to_string()
            + &line("ENTRY_CTLS", 0x93ff)
            + &line("GUEST_CS_SELECTOR", 8)
            + &line("GUEST_CS_LIMIT", 0xffff_ffff)
            + &line("GUEST_CS_ACCESS_RIGHTS", 0xc09b)
            + "VMCS_GUEST_CS_BASE:\n";
        let d = dumps(&text);
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert_eq!((d.lines.first, d.lines.last), (1, 14));
        assert_eq!(d.guest.rip, Some(0x9e019));
        assert_eq!(d.partial_segments, [SegReg::Cs]);
        assert_eq!(d.guest.cpl, None);
        let notes = d.notes.join("\n");
        assert!(
            notes.contains("line 14: VMCS_GUEST_CS_BASE is printed without its value"),
            "{notes}"
        );
        assert!(
            notes.contains(
                "CS is not read: the dump has its selector, access rights and limit but no base"
            ),
            "{notes}"
        );
        assert!(
            notes.contains("RIP 0x9e019 read from the `vm exit[0]` report at line 1"),
            "{notes}"
        );
        // A report far from any dump joins none.
        let far = format!(
            "vm exit[1]\n\trip\t\t0x0000000000001000\n{}{}",
            "x\n".repeat(30),
            line("GUEST_CR0", 0x11)
        );
        let d = dumps(&far);
        assert_eq!((d[0].lines.first, d[0].guest.rip), (33, None));
    }

    #[test]
    fn a_field_printed_again_starts_the_next_dump_and_odd_words_are_skipped() {
        let text = format!(
            "{}{}",
            whole(),
            whole().replace("0x0000000000000d01", "0x0000000000000500")
        );
        let d = dumps(&text);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].guest.efer, d[1].guest.efer),
            (Some(0xd01), Some(0x500))
        );
        for junk in [
            "VMCS_: 0x0000000000000000",
            "VMCS_GUEST_CR0: 0x00000011",
            "printf(\"VMCS_GUEST_CR0:    0x%016llx\\n\",",
            "VMCS_GUEST_cr0: 0x0000000000000011",
            "rip: 0x0000000000001000 rfl: 0x0000000000000002",
            "vm exit[x]",
        ] {
            let d = dumps(junk);
            assert!(d.iter().all(|d| !d.has_fields()), "{junk}: {d:?}");
        }
    }
}
