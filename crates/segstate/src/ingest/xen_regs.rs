//! Xen's register dump of a crashed or faulting vCPU: `show_registers` in
//! `xen/arch/x86/x86_64/traps.c` (`_show_registers`), printed after `domain_crash
//! called from …` and on a guest's fatal fault:
//!
//! ```text
//! (XEN) RIP:    0010:[<ffffffffc08eede5>]
//! (XEN) RFLAGS: 0000000000000002   CONTEXT: hvm guest (d24v1)
//! (XEN) rax: 0000000000000660   rbx: 00000000756e6547   rcx: 0000000000000000
//! …
//! (XEN) r15: 0000000000000000   cr0: 0000000080050033   cr4: 0000000000002660
//! (XEN) cr3: 00000001130e4004   cr2: 0000000000000000
//! (XEN) fsb: 0000000000000000   gsb: 0000000000000000   gss: 0000000000000000
//! (XEN) ds: 0008   es: 0008   fs: 0008   gs: 0008   ss: 0008   cs: 0010
//! ```
//!
//! Each value is `%016lx`, each selector `%04x`. For an HVM guest (`CONTEXT: hvm
//! guest`) the control registers are the guest's view (`v->arch.hvm.guest_cr[]`) and
//! the selectors come from `hvm_get_segment_register`; Xen prints the selectors
//! only, never a descriptor cache, so no segment rule can be judged from it. What it
//! gives is CR0, CR3, CR4, RIP and RFLAGS, and it is read so that a paste of it is
//! judged on those and says why the segments are not, rather than refused.
//!
//! A block whose `CONTEXT:` is `hypervisor` (Xen's own registers) or `pv guest` (no
//! VM entry) is not a guest state for VMX or SVM and is skipped; a block cut above
//! its `CONTEXT:` line is read as the guest's, and says so. Only a log with Xen's
//! `(XEN)` prefix is read this way: Linux `dump_vmcb` prints `cr0:` and `cr3:` too.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, LineSpan, RawDump};
use super::text::hex_width;
use crate::arch::SegReg;

/// The 64-bit registers `show_registers` prints as `name: %016lx`, and whether the
/// state holds it (the general-purpose ones and the bases are not judged).
const WIDE: &[(&str, bool)] = &[
    ("rax:", false),
    ("rbx:", false),
    ("rcx:", false),
    ("rdx:", false),
    ("rsi:", false),
    ("rdi:", false),
    ("rbp:", false),
    ("rsp:", false),
    ("r8:", false),
    ("r9:", false),
    ("r10:", false),
    ("r11:", false),
    ("r12:", false),
    ("r13:", false),
    ("r14:", false),
    ("r15:", false),
    ("cr0:", true),
    ("cr2:", false),
    ("cr3:", true),
    ("cr4:", true),
    ("fsb:", false),
    ("gsb:", false),
    ("gss:", false),
];

/// The selector line's names, in Xen's order.
const SELECTORS: [(&str, SegReg); 6] = [
    ("ds:", SegReg::Ds),
    ("es:", SegReg::Es),
    ("fs:", SegReg::Fs),
    ("gs:", SegReg::Gs),
    ("ss:", SegReg::Ss),
    ("cs:", SegReg::Cs),
];

/// What one line of the dump is.
enum Line {
    /// `RIP:    cs:[<rip>]`: a block's first line.
    Rip { cs: u64, rip: u64 },
    /// `RFLAGS: … CONTEXT: …`, with the context's words.
    Rflags { rflags: u64, context: String },
    /// `name: value` pairs; `(name, value)` of those the state holds.
    Wide(Vec<(&'static str, u64)>),
    /// The selector line.
    Selectors(Vec<(SegReg, u64)>),
}

/// Reads one normalised line as a line of the dump, if it is one. The whole line must
/// be the dump's: its words from the first known name on are pairs of a name and a
/// value at Xen's width (a prefix the normaliser left is skipped up to that name).
fn parse(line: &str) -> Option<Line> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if let Some(at) = words.iter().position(|w| *w == "RIP:") {
        // `0010:[<ffffffffc08eede5>]`
        let (cs, rest) = words.get(at + 1)?.split_once(":[<")?;
        let rip = rest.strip_suffix(">]")?;
        return Some(Line::Rip {
            cs: hex_width(cs, &[4])?,
            rip: hex_width(rip, &[16])?,
        });
    }
    if let Some(at) = words.iter().position(|w| *w == "RFLAGS:") {
        let rflags = hex_width(words.get(at + 1)?, &[16])?;
        let context = match words.iter().position(|w| *w == "CONTEXT:") {
            Some(c) => words[c + 1..].join(" "),
            None => String::new(),
        };
        return Some(Line::Rflags { rflags, context });
    }
    let start = words
        .iter()
        .position(|w| WIDE.iter().any(|(n, _)| n == w) || SELECTORS.iter().any(|(n, _)| n == w))?;
    let pairs = &words[start..];
    if pairs.len() % 2 != 0 || pairs.is_empty() {
        return None;
    }
    if SELECTORS.iter().any(|(n, _)| *n == pairs[0]) {
        let mut out = Vec::new();
        for pair in pairs.chunks_exact(2) {
            let reg = SELECTORS.iter().find(|(n, _)| *n == pair[0])?.1;
            out.push((reg, hex_width(pair[1], &[4])?));
        }
        return Some(Line::Selectors(out));
    }
    let mut out = Vec::new();
    for pair in pairs.chunks_exact(2) {
        let &(name, kept) = WIDE.iter().find(|(n, _)| *n == pair[0])?;
        let value = hex_width(pair[1], &[16])?;
        if kept {
            out.push((name, value));
        }
    }
    Some(Line::Wide(out))
}

/// A block being read, and whether it is a guest's.
struct Block {
    dump: RawDump,
    context: Option<String>,
    selectors: Vec<(SegReg, u64)>,
}

impl Block {
    fn new(line: usize) -> Self {
        Block {
            dump: RawDump::new(Dialect::XenRegisters, line),
            context: None,
            selectors: Vec::new(),
        }
    }

    /// The block as a dump, when it is an HVM guest's (or its context was cut) and
    /// holds a field the state keeps.
    fn finish(mut self) -> Option<RawDump> {
        match self.context.as_deref() {
            Some(c) if !c.starts_with("hvm guest") => return None,
            Some(_) => {}
            None => self.dump.note(format!(
                "line {}: the register block's CONTEXT line is not in the paste; read as the \
                 HVM guest's",
                self.dump.lines.first
            )),
        }
        if !self.selectors.is_empty() {
            self.dump.note(super::segment_parts::selectors_only(
                "Xen's register dump",
                &self.selectors,
                |s| format!("{s:04x}"),
                "bases, limits and attributes",
                "Xen's `vmcs_dump_vcpu` or `svm_vmcb_dump`, from the `v` debug key, prints them",
            ));
            // Named, not judged: each register is known only in part.
            self.dump.partial_segments = self.selectors.iter().map(|(r, _)| *r).collect();
        }
        self.name_mode_and_cpl();
        self.dump.has_fields().then_some(self.dump)
    }

    /// The mode and the CPL the dump's fields make known without EFER or a descriptor
    /// cache: a RIP above 4 GiB exists only in 64-bit mode (outside it RIP's bits 63:32
    /// are zero, SDM Vol. 3A §2.2.1, Vol. 3C §27.3.1.4), and CS's RPL is the CPL once
    /// the mode rules out real and virtual-8086 mode (`gdb_regs::cpl`).
    fn name_mode_and_cpl(&mut self) {
        let g = &self.dump.guest;
        let paged = g.cr0.is_some_and(|c| c & (1 << 31) != 0 && c & 1 != 0);
        if let (true, Some(rip), None) = (paged, g.rip, g.efer)
            && rip > u64::from(u32::MAX)
        {
            self.dump.named_lma = Some(true);
            self.dump.named_mode = Some(crate::arch::CpuMode::Long64);
            self.dump.note(format!(
                "RIP {rip:#x} is above 4 GiB, which only 64-bit mode allows: read as IA-32e \
                 mode with CS.L = 1 (the dump prints no EFER)"
            ));
        }
        if self.selectors.is_empty() {
            return;
        }
        let g = &self.dump.guest;
        let cs = self
            .selectors
            .iter()
            .find(|(r, _)| *r == SegReg::Cs)
            .map(|(_, s)| *s);
        let lma = self.dump.named_lma.unwrap_or(false);
        let efer = g.efer.or(lma.then_some(crate::arch::EFER_LMA));
        match super::gdb_regs::cpl(g.cr0, efer, g.rflags, cs) {
            Ok((level, why)) => {
                self.dump.guest.cpl = Some(level);
                self.dump.note(format!("CPL {}: {why}", level.bits()));
            }
            Err(why) => self.dump.note(format!("CPL unknown: {why}")),
        }
    }
}

/// Every HVM guest register block of Xen's `show_registers` in the lines, when `xen`
/// (the log carries Xen's `(XEN)` prefix).
#[must_use]
pub(crate) fn read(lines: &[(usize, String)], xen: bool) -> Vec<RawDump> {
    let mut out = Vec::new();
    if !xen {
        return out;
    }
    let mut cur: Option<Block> = None;
    for (no, text) in lines {
        let Some(parsed) = parse(text) else {
            if let Some(done) = cur.take().and_then(Block::finish) {
                out.push(done);
            }
            continue;
        };
        if matches!(parsed, Line::Rip { .. }) {
            if let Some(done) = cur.take().and_then(Block::finish) {
                out.push(done);
            }
        }
        let b = cur.get_or_insert_with(|| Block::new(*no));
        b.dump.lines = LineSpan::join(b.dump.lines, LineSpan::at(*no));
        let g = &mut b.dump.guest;
        match parsed {
            Line::Rip { cs, rip } => {
                g.rip = Some(rip);
                b.selectors.push((SegReg::Cs, cs));
            }
            Line::Rflags { rflags, context } => {
                g.rflags = Some(rflags);
                b.context = Some(context);
            }
            Line::Wide(values) => {
                for (name, value) in values {
                    match name {
                        "cr0:" => g.cr0 = Some(value),
                        "cr3:" => g.cr3 = Some(value),
                        _ => g.cr4 = Some(value),
                    }
                }
            }
            Line::Selectors(sels) => {
                // CS was on the RIP line too; Xen prints the same selector twice.
                b.selectors
                    .retain(|(r, _)| !sels.iter().any(|(s, _)| s == r));
                b.selectors.extend(sels);
            }
        }
    }
    if let Some(done) = cur.and_then(Block::finish) {
        out.push(done);
    }
    out
}

/// The context a `show_registers` block names on its `RFLAGS: … CONTEXT: …` line when
/// it is not an HVM guest's: `hypervisor` (Xen's own registers, as on a crash of Xen)
/// or `pv guest` (a paravirtualised guest, which runs without VM entry).
#[must_use]
pub(crate) fn other_context(line: &str) -> Option<String> {
    match parse(line)? {
        Line::Rflags { context, .. }
            if context.starts_with("hypervisor") || context.starts_with("pv guest") =>
        {
            Some(context)
        }
        _ => None,
    }
}

/// The refusal of a text whose only register dump is Xen's block of `context` (see
/// [`other_context`]), its `RFLAGS:` line at `line`.
#[must_use]
pub(crate) fn other_context_refusal(line: usize, context: &str) -> String {
    let whose = if context.starts_with("hypervisor") {
        "Xen's own registers (a fault or crash in Xen itself)"
    } else {
        "a paravirtualised guest's registers (a PV guest runs without VM entry: no VMCS or VMCB)"
    };
    format!(
        "line {line}: Xen's register dump (`show_registers`) with `CONTEXT: {context}`: \
         {whose}, not an HVM guest's state, so no VM-entry or VMRUN rule applies and \
         segstate has nothing to judge"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::text::normalise;

    /// Xen 4.13's dump of an HVM guest's vCPU after `domain_crash`, as XCP-ng users
    /// paste it (`tests/fixtures/dumps/xcp-562.txt` has a real one).
    const BLOCK: &str = "\
(XEN) [ 3423.961388] domain_crash called from arch/x86/hvm/vmx/vmx.c#vmx_update_guest_cr+0x516/0x6a0
(XEN) [ 3423.961392] RIP:    0010:[<ffffffffc08eede5>]
(XEN) [ 3423.961393] RFLAGS: 0000000000000002   CONTEXT: hvm guest (d24v1)
(XEN) [ 3423.961394] rax: 0000000000000660   rbx: 00000000756e6547   rcx: 0000000000000000
(XEN) [ 3423.961397] r15: 0000000000000000   cr0: 0000000080050033   cr4: 0000000000002660
(XEN) [ 3423.961397] cr3: 00000001130e4004   cr2: 0000000000000000
(XEN) [ 3423.961397] fsb: 0000000000000000   gsb: 0000000000000000   gss: 0000000000000000
(XEN) [ 3423.961397] ds: 0008   es: 0008   fs: 0008   gs: 0008   ss: 0008   cs: 0010
(XEN) [ 3423.961398] Guest stack trace from rsp=ffffb70a81ec7bc0:";

    fn read_text(text: &str) -> Vec<RawDump> {
        read(&normalise(text), text.contains("(XEN)"))
    }

    #[test]
    fn an_hvm_guest_block_reads_its_control_registers_rip_and_rflags() {
        let d = read_text(BLOCK);
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        assert_eq!(g.rip, Some(0xffff_ffff_c08e_ede5));
        assert_eq!(g.rflags, Some(2));
        assert_eq!(g.cr0, Some(0x8005_0033));
        assert_eq!(g.cr3, Some(0x1_130e_4004));
        assert_eq!(g.cr4, Some(0x2660));
        assert!(g.has_no_segments(), "selectors alone are no segment");
        assert_eq!(d[0].lines, LineSpan { first: 2, last: 8 });
        assert!(
            d[0].notes.iter().any(|n| n
                .contains("selectors only (DS 0008, ES 0008, FS 0008, GS 0008, SS 0008, CS 0010)")),
            "{:?}",
            d[0].notes
        );
    }

    #[test]
    fn xens_own_and_pv_registers_are_not_a_guest_state() {
        for context in ["hypervisor", "hypervisor (d0v1)", "pv guest (d3v0)"] {
            let text = BLOCK.replace("hvm guest (d24v1)", context);
            assert!(read_text(&text).is_empty(), "{context}");
            // Named for the refusal of a text holding nothing else.
            let named = text.lines().find_map(other_context);
            assert_eq!(named.as_deref(), Some(context));
        }
        assert!(BLOCK.lines().all(|l| other_context(l).is_none()));
    }

    #[test]
    fn a_block_cut_above_its_context_is_read_and_says_so() {
        let cut: String = BLOCK.lines().skip(3).collect::<Vec<_>>().join("\n");
        let d = read_text(&cut);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].guest.cr0, Some(0x8005_0033));
        assert_eq!(d[0].guest.rip, None);
        assert!(
            d[0].notes
                .iter()
                .any(|n| n.contains("CONTEXT line is not in the paste"))
        );
    }

    #[test]
    fn only_xen_logs_and_only_whole_lines_are_read() {
        // Without `(XEN)` (Linux dump_vmcb prints `cr0:` and `cr3:` pairs too).
        assert!(read_text(&BLOCK.replace("(XEN) ", "")).is_empty());
        // A value cut short or a name it does not print: not a line of the dump.
        for line in [
            "(XEN) cr3: 00000001130e40   cr2: 0000000000000000",
            "(XEN) cr3: 00000001130e4004   cr9: 0000000000000000",
            "(XEN) ds: 0008   es: 0008   fs:",
            "(XEN) RIP:    0010:[<ffffffffc08e>]",
        ] {
            assert!(read_text(line).is_empty(), "{line}");
        }
    }

    #[test]
    fn two_blocks_are_two_dumps() {
        let text = format!("{BLOCK}\n{BLOCK}");
        assert_eq!(read_text(&text).len(), 2);
    }
}
