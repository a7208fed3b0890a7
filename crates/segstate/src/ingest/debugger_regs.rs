//! Program debuggers' register displays, told apart so that one pasted alone is refused
//! as not a VM's state instead of being read as a QEMU dump.
//!
//! MS-DOS DEBUG's `R` command prints the registers as `AX=0000 BX=0000 … IP=0100`
//! followed by the flags as eight two-letter mnemonics, `NV UP EI PL NZ NA PO NC`: OF
//! (`OV`/`NV`), DF (`DN`/`UP`), IF (`EI`/`DI`), SF (`NG`/`PL`), ZF (`ZR`/`NZ`), AF
//! (`AC`/`NA`), PF (`PE`/`PO`), CF (`CY`/`NC`). Its descendants keep the mnemonics:
//! FreeDOS DEBUG and Debug/X, and lDebug, whose 386 display (`RX`) prints `EAX=…`,
//! `EIP=…` words that QEMU's dump prints too; Microsoft's WinDbg and ntsd print them in
//! lower case after `iopl=` (`iopl=0  nv up ei pl zr na pe nc`, then `cs=0023 …
//! efl=00000246`). QEMU prints its flags as `[D O S Z A P C]` letters or dashes after
//! `EFL=` (target/i386/cpu-dump.c), never as these words.
//!
//! Such a display holds a program's registers and selectors only: no descriptor
//! cache, no control register, no CPL, nothing a VM-entry or architecture rule of
//! segstate can judge.

use core::fmt;

use super::log::LineSpan;

/// The debugger whose register display a line is part of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Debugger {
    /// MS-DOS DEBUG and its descendants (FreeDOS DEBUG, Debug/X, lDebug): the flags in
    /// upper case.
    Dos,
    /// WinDbg, ntsd, cdb: the flags in lower case (VirtualBox's debugger prints them so
    /// too, in a dump `vbox_log` reads).
    WinDbg,
}

impl Debugger {
    /// The lines that gave it away, as the report quotes them.
    #[must_use]
    pub const fn evidence(self) -> &'static str {
        match self {
            Debugger::Dos => {
                "`AX=`…`IP=` or `EAX=`…`EIP=` lines, the flags as `NV UP EI PL NZ NA PO NC`"
            }
            Debugger::WinDbg => "`eax=`…`eip=` lines, `iopl=0 nv up ei pl nz na po nc`, `efl=`",
        }
    }
}

impl fmt::Display for Debugger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Debugger::Dos => "DOS debugger's (MS-DOS or FreeDOS DEBUG, lDebug)",
            Debugger::WinDbg => "Windows debugger's (WinDbg, ntsd, cdb)",
        })
    }
}

/// The flags' mnemonics in DEBUG's order, each as (set, clear).
const FLAGS: [(&str, &str); 8] = [
    ("OV", "NV"),
    ("DN", "UP"),
    ("EI", "DI"),
    ("NG", "PL"),
    ("ZR", "NZ"),
    ("AC", "NA"),
    ("PE", "PO"),
    ("CY", "NC"),
];

/// The fewest mnemonics, in order, that tell a flags display after an `EFL=` or `FL=`
/// word, where a paste cut the rest of the line.
const AFTER_EFL: usize = 4;

/// How far a display reaches around its flags: DEBUG prints one register line before
/// them (lDebug's 386 display two) and the segment line after.
const BEFORE: usize = 2;
const AFTER: usize = 1;

/// The debugger whose flags display `line` holds: all eight mnemonics in DEBUG's
/// order, or at least four of them right after an `EFL=` or `FL=` word.
#[must_use]
pub fn flags_line(line: &str) -> Option<Debugger> {
    let words: alloc::vec::Vec<&str> = line.split_whitespace().collect();
    (0..words.len()).find_map(|at| {
        let run = words[at..]
            .iter()
            .zip(FLAGS)
            .take_while(|(w, (set, clear))| {
                w.eq_ignore_ascii_case(set) || w.eq_ignore_ascii_case(clear)
            })
            .count();
        let after_efl = at > 0 && {
            let before = words[at - 1].to_ascii_uppercase();
            before.starts_with("EFL=") || before.starts_with("FL=")
        };
        let whole = run == FLAGS.len() || (after_efl && run >= AFTER_EFL);
        whole.then(|| {
            if words[at].bytes().all(|b| b.is_ascii_lowercase()) {
                Debugger::WinDbg
            } else {
                Debugger::Dos
            }
        })
    })
}

/// Blanks every DOS debugger's register display in the lines (the lines around each
/// flags display), so that no dump reader takes its `EAX=` or `CS=` words for another
/// dialect's; the lines keep their numbers. The lower-case displays are left to the
/// readers: VirtualBox prints its flags as WinDbg does in its `Guest CPUM` dump
/// (`iopl=0 rf nv up di pl zr na pe nc`), which `vbox_log` reads, and nothing reads
/// WinDbg's lower-case `eax=` as a dump.
pub(crate) fn blank(lines: &mut [(usize, alloc::string::String)]) {
    let spans: alloc::vec::Vec<LineSpan> = lines
        .iter()
        .filter(|(_, l)| flags_line(l) == Some(Debugger::Dos))
        .map(|(no, _)| LineSpan {
            first: no.saturating_sub(BEFORE),
            last: no + AFTER,
        })
        .collect();
    for (no, l) in lines.iter_mut() {
        if spans.iter().any(|s| s.contains(*no)) {
            l.clear();
        }
    }
}

/// The refusal of a text whose only register display is a debugger's, its flags at
/// line `line`.
#[must_use]
pub fn refusal(line: usize, debugger: Debugger) -> alloc::string::String {
    alloc::format!(
        "line {line}: a {debugger} register display ({}), not a QEMU dump or any VM's \
         saved state: it shows a program's registers and selectors, no descriptor cache, \
         control register or CPL, so segstate has nothing to judge",
        debugger.evidence()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_windbg_flags_are_told() {
        // MS-DOS DEBUG's `R` (its manual's example), lDebug's 386 display, WinDbg's.
        assert_eq!(
            flags_line("DS=04BA ES=04BA SS=04BA CS=04BA IP=011A NV UP DI NG NZ AC PE NC"),
            Some(Debugger::Dos)
        );
        assert_eq!(
            flags_line("ESI=00000000 EDI=00000000 NV UP EI PL NZ NA PE NC"),
            Some(Debugger::Dos)
        );
        assert_eq!(
            flags_line("eip=645046b1 esp=0119f0b8 ebp=0119f0d0 iopl=0 nv up ei pl nz na po nc"),
            Some(Debugger::WinDbg)
        );
        // A cut line after EFL=, and the whole run after it.
        assert_eq!(
            flags_line("GS=0000 EFL=00000202 NV UP EI PL"),
            Some(Debugger::Dos)
        );
        assert_eq!(flags_line("FS=0000 NV UP EI PL"), None);
    }

    #[test]
    fn qemu_flags_and_prose_are_not() {
        assert_eq!(
            flags_line("RIP=000000000010000c RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0"),
            None
        );
        assert_eq!(
            flags_line("EIP=0000fff0 EFL=00000002 [-------] CPL=0"),
            None
        );
        // The words out of order, or too few without EFL=.
        assert_eq!(flags_line("UP NV EI PL NZ NA PO NC"), None);
        assert_eq!(flags_line("we are NV UP here"), None);
    }

    #[test]
    fn the_display_spans_its_register_lines() {
        let text = "-r\nEAX=00007102 EBX=0000070A\nESI=00000000 EDI=00000000 NV UP EI PL NZ NA PE NC\nDS=11CB EIP=0000C895\n";
        let flags = text
            .lines()
            .enumerate()
            .find_map(|(k, l)| flags_line(l).map(|d| (k, d)));
        assert_eq!(flags, Some((2, Debugger::Dos)));
        let mut lines: alloc::vec::Vec<(usize, alloc::string::String)> = text
            .lines()
            .chain(["after"])
            .enumerate()
            .map(|(k, l)| (k + 1, alloc::string::String::from(l)))
            .collect();
        blank(&mut lines);
        let kept: alloc::vec::Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(kept, ["", "", "", "", "after"]);
        // A lower-case display (VirtualBox's CPUM dump prints one) is left to the readers.
        let vbox = "iopl=0      rf nv up di pl zr na pe nc";
        let mut lines = alloc::vec![(1, alloc::string::String::from(vbox))];
        blank(&mut lines);
        assert_eq!(lines[0].1, vbox);
    }
}
