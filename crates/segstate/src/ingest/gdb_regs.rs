//! gdb's `info registers` (`info reg`, `i r`) of an x86 system target, most often
//! QEMU's gdbstub: `default_print_one_register_info` in gdb's `gdb/infcmd.c` (read
//! in bminor/binutils-gdb at 000439d52897) prints one register a line, its name padded
//! to column 15, its raw value in hex (`0x…`, no zero padding), then from column 35
//! its "natural" form:
//!
//! ```text
//! rax            0x1003c00           16792576
//! rip            0xc1f38400          0xc1f38400 <__list_del_entry_valid>
//! eflags         0x6                 [ IOPL=0 PF ]
//! cs             0x60                96
//! cr0            0x80050033          [ PG AM WP NE ET MP PE ]
//! cr3            0x534e000           [ PDBR=0 PCID=0 ]
//! efer           0xd01               [ NXE LMA LME SCE ]
//! ```
//!
//! (gdb before 8.3 put a tab between the two columns.) The registers and their order
//! are the target description's: over QEMU's gdbstub, `gdb-xml/i386-64bit.xml` or
//! `i386-32bit.xml` (`x86_cpu_gdb_read_register` in `target/i386/gdbstub.c`), whose
//! general group is `rax`…`r15` (`eax`…`edi` on a 32-bit target), `rip`/`eip`,
//! `eflags`, `cs` `ss` `ds` `es` `fs` `gs`, `fs_base` `gs_base` `k_gs_base`, `cr0`
//! `cr2` `cr3` `cr4` `cr8`, `efer`. Only the raw column is read: the natural one is a
//! decoding of it (flag names in brackets, `PDBR=`, a symbol), never a value.
//!
//! A listing is read as a guest's state only when it shows a register a user process
//! does not have (`k_gs_base` or a control register): gdb on a process prints the same
//! lines up to `gs_base`, and older QEMU stubs stop at `gs`, so without one nothing
//! tells a guest's listing from a program's.
//!
//! What it holds is what Bochs's and Xen's register dumps hold (`super::bochs`,
//! `super::xen_regs`): CR0, CR3, CR4, EFER, RIP and RFLAGS, and the selectors without
//! their descriptor caches. So the segments are named, not judged; the mode comes from
//! CR0, EFER and RFLAGS; and the CPL is CS.RPL where the mode makes that the CPL
//! (protected and IA-32e mode, SDM Vol. 3A §5.5), 0 in real mode and 3 in
//! virtual-8086 mode, each said in a note. A listing cut by its poster or by gdb's
//! pager (`--Type <RET> for more`) says which registers the paste lacks.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::text::hex;
use crate::arch::{CR0_PE, EFER_LMA, PrivilegeLevel, RFLAGS_VM, SegReg};

/// What a register line gives the state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// A field of the state, by the name [`super::text::register_field`] knows.
    Field(&'static str),
    /// A selector only.
    Selector(SegReg),
    /// Nothing the state keeps; a system register when `true` (it marks a guest).
    Other(bool),
}

/// gdb's x86 register names in print order, both widths: the general registers, the
/// instruction pointer, then the part both targets share.
const REGISTERS: [(&str, Holds); 42] = [
    ("rax", Holds::Other(false)),
    ("rbx", Holds::Other(false)),
    ("rcx", Holds::Other(false)),
    ("rdx", Holds::Other(false)),
    ("rsi", Holds::Other(false)),
    ("rdi", Holds::Other(false)),
    ("rbp", Holds::Other(false)),
    ("rsp", Holds::Other(false)),
    ("r8", Holds::Other(false)),
    ("r9", Holds::Other(false)),
    ("r10", Holds::Other(false)),
    ("r11", Holds::Other(false)),
    ("r12", Holds::Other(false)),
    ("r13", Holds::Other(false)),
    ("r14", Holds::Other(false)),
    ("r15", Holds::Other(false)),
    ("eax", Holds::Other(false)),
    ("ecx", Holds::Other(false)),
    ("edx", Holds::Other(false)),
    ("ebx", Holds::Other(false)),
    ("esp", Holds::Other(false)),
    ("ebp", Holds::Other(false)),
    ("esi", Holds::Other(false)),
    ("edi", Holds::Other(false)),
    ("rip", Holds::Field("rip")),
    ("eip", Holds::Field("rip")),
    ("eflags", Holds::Field("rflags")),
    ("cs", Holds::Selector(SegReg::Cs)),
    ("ss", Holds::Selector(SegReg::Ss)),
    ("ds", Holds::Selector(SegReg::Ds)),
    ("es", Holds::Selector(SegReg::Es)),
    ("fs", Holds::Selector(SegReg::Fs)),
    ("gs", Holds::Selector(SegReg::Gs)),
    ("fs_base", Holds::Other(false)),
    ("gs_base", Holds::Other(false)),
    ("k_gs_base", Holds::Other(true)),
    ("cr0", Holds::Field("cr0")),
    ("cr2", Holds::Other(true)),
    ("cr3", Holds::Field("cr3")),
    ("cr4", Holds::Field("cr4")),
    ("cr8", Holds::Other(true)),
    ("efer", Holds::Field("efer")),
];

/// Where in [`REGISTERS`] the 32-bit target's general registers stand, and the two
/// instruction pointers.
const I386_GPRS: core::ops::Range<usize> = 16..24;
const RIP: usize = 24;
const EIP: usize = 25;

/// Where `REGISTERS[i]` stands in print order: the general registers 0, the
/// instruction pointer 1, the shared part after it.
fn rank(i: usize) -> usize {
    match i {
        RIP | EIP => 1,
        _ if i < RIP => 0,
        _ => i - RIP,
    }
}

/// True for a register only a system target shows.
fn is_system(h: Holds) -> bool {
    match h {
        Holds::Field(f) => !matches!(f, "rip" | "rflags"),
        Holds::Other(system) => system,
        Holds::Selector(_) => false,
    }
}

/// The most lines between two register lines of one listing: a natural column
/// wrapped by the paste, or gdb's pager prompt, stand between them.
const MAX_GAP: usize = 2;

/// One register line: its name's index in [`REGISTERS`] and its raw value, or the
/// word where the value should be.
struct Entry<'a> {
    index: usize,
    value: Result<u64, &'a str>,
}

/// Reads a line as a register line: a known name, then `0x…` or gdb's
/// `<unavailable>`; inside a listing (`open`), anything or nothing after the name (a
/// line cut by the paste).
fn parse(line: &str, open: bool) -> Option<Entry<'_>> {
    let mut words = line.split_whitespace();
    let name = words.next()?;
    let index = REGISTERS.iter().position(|(n, _)| *n == name)?;
    let raw = words.next();
    let value = match raw {
        Some(w) if w.starts_with("0x") => hex(w).filter(|_| !w.contains([',', ';'])).ok_or(w),
        Some(w) if w.starts_with('<') || open => Err(w),
        None if open => Err(""),
        _ => return None,
    };
    Some(Entry { index, value })
}

/// gdb's pager prompt, in its newer and older wording.
fn is_pager(line: &str) -> bool {
    line.contains("Type <RET> for more") || line.contains("Type <return> to continue")
}

/// A listing being read.
struct Listing {
    dump: RawDump,
    /// The registers read (indices into [`REGISTERS`]), in order.
    read: Vec<usize>,
    selectors: Vec<(SegReg, u64)>,
    /// The last register line, and the pager prompt after it.
    last: usize,
    pager: Option<usize>,
    /// A register only a system target shows was read with its value.
    system: bool,
}

impl Listing {
    fn new(line: usize) -> Self {
        Listing {
            dump: RawDump::new(Dialect::GdbRegisters, line),
            read: Vec::new(),
            selectors: Vec::new(),
            last: line,
            pager: None,
            system: false,
        }
    }

    fn take(&mut self, e: &Entry<'_>, line: usize) {
        self.read.push(e.index);
        self.last = line;
        self.pager = None;
        self.dump.lines.extend_to(line);
        let (name, holds) = REGISTERS[e.index];
        let v = match e.value {
            Ok(v) => v,
            Err(w) => {
                let what = if w.is_empty() {
                    String::from("no value")
                } else {
                    format!("`{w}`, not a value")
                };
                self.dump.note(format!(
                    "line {line}: gdb shows {what} for {name}: not read"
                ));
                return;
            }
        };
        self.system |= is_system(holds);
        match holds {
            Holds::Field(f) => {
                if let Some(field) = super::text::register_field(&mut self.dump.guest, f) {
                    *field = Some(v);
                }
            }
            Holds::Selector(reg) if v <= u64::from(u16::MAX) => self.selectors.push((reg, v)),
            Holds::Selector(_) => self.dump.note(format!(
                "line {line}: {name} {v:#x} is wider than a selector: not read"
            )),
            Holds::Other(_) => {}
        }
    }

    /// The listing as a dump, when it shows a system register.
    fn finish(mut self) -> Option<RawDump> {
        if !self.system {
            return None;
        }
        self.note_cut();
        name_selectors(
            &mut self.dump,
            "gdb's `info registers`",
            &self.selectors,
            "over QEMU's gdbstub, `monitor info registers` prints them",
        );
        Some(self.dump)
    }

    /// Names the registers the state keeps that gdb prints after the last one read,
    /// when the paste stops before them.
    fn note_cut(&mut self) {
        let Some(&last) = self.read.last() else {
            return;
        };
        let wide = !self
            .read
            .iter()
            .any(|&i| I386_GPRS.contains(&i) || i == EIP);
        let missing: Vec<&str> = REGISTERS
            .iter()
            .enumerate()
            .filter(|&(i, (_, h))| {
                rank(i) > rank(last)
                    && !matches!(h, Holds::Other(_))
                    && (rank(i) != 1 || (i == RIP) == wide)
                    && !self.read.contains(&i)
            })
            .map(|(_, (n, _))| *n)
            .collect();
        if missing.is_empty() {
            return;
        }
        let pager = self.pager.map_or_else(String::new, |p| {
            format!(" (gdb's pager stopped it at line {p}: `--Type <RET> for more`)")
        });
        let line = self.last;
        self.dump.note(format!(
            "line {line}: the listing stops after `{}`{pager}: {} not in the paste",
            REGISTERS[last].0,
            missing.join(", ")
        ));
    }
}

/// Puts the selectors of a dump that shows them alone (`what`: gdb's listing, EDK2's
/// exception dump) into `d`: named in a note (`hint` says what prints the rest) and
/// listed as shown in part, never read as segments; and the CPL from CS's RPL where
/// the mode makes that the CPL ([`cpl`]), said in a note either way.
pub(crate) fn name_selectors(d: &mut RawDump, what: &str, selectors: &[(SegReg, u64)], hint: &str) {
    if !selectors.is_empty() {
        d.note(super::segment_parts::selectors_only(
            what,
            selectors,
            |s| format!("{s:#x}"),
            "bases, limits and attributes",
            hint,
        ));
        d.partial_segments = selectors.iter().map(|(r, _)| *r).collect();
    }
    let cs = selectors
        .iter()
        .find(|(r, _)| *r == SegReg::Cs)
        .map(|(_, s)| *s);
    match cpl(d.guest.cr0, d.guest.efer, d.guest.rflags, cs) {
        Ok((level, why)) => {
            d.guest.cpl = Some(level);
            d.note(format!("CPL {}: {why}", level.bits()));
        }
        Err(why) => d.note(format!("CPL unknown: {why}")),
    }
}

/// The CPL a listing's mode makes known, and why; or why it is not known.
///
/// IA-32e mode has no virtual-8086 mode (SDM Vol. 3A §2.2: "IA-32e mode … does not
/// support virtual-8086 mode"), so with EFER.LMA = 1 RFLAGS.VM is not needed to rule it
/// out.
pub(crate) fn cpl(
    cr0: Option<u64>,
    efer: Option<u64>,
    rflags: Option<u64>,
    cs: Option<u64>,
) -> Result<(PrivilegeLevel, String), &'static str> {
    let Some(cr0) = cr0 else {
        return Err("no cr0 line, so the mode that decides it is not known");
    };
    if cr0 & CR0_PE == 0 {
        return Ok((
            PrivilegeLevel::Ring0,
            String::from("real mode (CR0.PE = 0) runs at CPL 0 whatever CS holds"),
        ));
    }
    let ia32e = efer.is_some_and(|e| e & EFER_LMA != 0);
    let Some(rflags) = rflags.or(ia32e.then_some(0)) else {
        return Err("no eflags line, so virtual-8086 mode (CPL 3) is not ruled out");
    };
    if rflags & RFLAGS_VM != 0 && !ia32e {
        return Ok((
            PrivilegeLevel::Ring3,
            String::from("virtual-8086 mode (RFLAGS.VM = 1) runs at CPL 3"),
        ));
    }
    let Some(cs) = cs else {
        return Err("no cs line, whose RPL is the CPL in protected mode");
    };
    let level = PrivilegeLevel::from_low_bits(u8::try_from(cs & 3).unwrap_or(0));
    Ok((
        level,
        format!(
            "CS's RPL (CS {cs:#x}): in protected and IA-32e mode CS.RPL is the CPL (SDM Vol. \
             3A §5.5), save between a MOV to CR0 that sets PE and the far jump that reloads CS"
        ),
    ))
}

/// Every gdb register listing of an x86 system target in the (normalised) lines.
#[must_use]
pub(crate) fn read(lines: &[(usize, String)]) -> Vec<RawDump> {
    let mut out = Vec::new();
    let mut cur: Option<Listing> = None;
    for (no, text) in lines {
        if out.len() >= MAX_DUMPS {
            break;
        }
        let open = cur.as_ref().is_some_and(|c| *no <= c.last + MAX_GAP);
        if !open {
            out.extend(cur.take().and_then(Listing::finish));
        }
        let Some(entry) = parse(text, open) else {
            if is_pager(text) {
                if let Some(c) = cur.as_mut().filter(|_| open) {
                    c.pager = Some(*no);
                }
            }
            continue;
        };
        if cur.as_ref().is_some_and(|c| c.read.contains(&entry.index)) {
            out.extend(cur.take().and_then(Listing::finish));
        }
        cur.get_or_insert_with(|| Listing::new(*no))
            .take(&entry, *no);
    }
    out.extend(cur.and_then(Listing::finish));
    out.truncate(MAX_DUMPS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::log::read_log;
    use crate::ingest::text::normalise;

    fn read_text(t: &str) -> Vec<RawDump> {
        read(&normalise(t))
    }

    /// A 64-bit listing over QEMU's gdbstub, as gdb 12 prints it.
    const LONG: &str = "\
(gdb) info registers
rax            0x1003c00           16792576
rbx            0x7c415000          2084655104
rcx            0x7c4154b0          2084656304
rdx            0x2                 2
rsi            0x7c41549c          2084656284
rdi            0x38                56
rbp            0x7c415000          0x7c415000
rsp            0x7e7398f0          0x7e7398f0
r8             0x0                 0
r9             0x1e962e0           32072416
r10            0x80000000          2147483648
r11            0x0                 0
r12            0x7e308018          2117107736
r13            0x1000000           16777216
r14            0x7c4d9618          2085459480
r15            0x1                 1
rip            0x1003f9c           0x1003f9c
eflags         0x246               [ IOPL=0 IF ZF PF ]
cs             0x10                16
ss             0x18                24
ds             0x18                24
es             0x18                24
fs             0x0                 0
gs             0x0                 0
fs_base        0x0                 0
gs_base        0xffff888007a00000  -131391238144000
k_gs_base      0x0                 0
cr0            0x80050033          [ PG AM WP NE ET MP PE ]
cr2            0x0                 0
cr3            0x1a0a000           [ PDBR=6666 PCID=0 ]
cr4            0x6b0               [ OSXMMEXCPT OSFXSR PGE PAE PSE ]
cr8            0x0                 0
efer           0xd01               [ NXE LMA LME SCE ]
(gdb) x/i $pc
";

    #[test]
    fn the_table_s_landmarks_are_where_the_code_says() {
        assert_eq!(REGISTERS[I386_GPRS.start].0, "eax");
        assert_eq!(REGISTERS[I386_GPRS.end - 1].0, "edi");
        assert_eq!((REGISTERS[RIP].0, REGISTERS[EIP].0), ("rip", "eip"));
        assert_eq!(REGISTERS[EIP + 1].0, "eflags");
    }

    #[test]
    fn a_listing_reads_its_registers_and_names_the_selectors() {
        let d = read_text(LONG);
        assert_eq!(d.len(), 1, "{d:?}");
        let d = &d[0];
        assert_eq!((d.lines.first, d.lines.last), (2, 34));
        let g = &d.guest;
        assert_eq!(g.rip, Some(0x100_3f9c));
        assert_eq!(g.rflags, Some(0x246));
        assert_eq!(
            (g.cr0, g.cr3, g.cr4),
            (Some(0x8005_0033), Some(0x1a0_a000), Some(0x6b0))
        );
        assert_eq!(g.efer, Some(0xd01));
        assert!(g.has_no_segments());
        assert_eq!(
            d.partial_segments,
            [
                SegReg::Cs,
                SegReg::Ss,
                SegReg::Ds,
                SegReg::Es,
                SegReg::Fs,
                SegReg::Gs
            ]
        );
        assert_eq!(g.cpl, Some(PrivilegeLevel::Ring0));
        assert!(
            d.notes.iter().any(|n| n.starts_with(
                "gdb's `info registers` shows selectors only (CS 0x10, SS 0x18, DS 0x18, ES 0x18, \
                 FS 0x0, GS 0x0)"
            )),
            "{:?}",
            d.notes
        );
        assert!(
            d.notes
                .iter()
                .any(|n| n.starts_with("CPL 0: CS's RPL (CS 0x10)"))
        );
        assert_eq!(d.notes.len(), 2, "{:?}", d.notes);
        // In the log: gdb's dialect alone, no other reader takes its lines.
        let logs = read_log(LONG);
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert_eq!(logs[0].dialects, [Dialect::GdbRegisters]);
    }

    #[test]
    fn the_cpl_follows_the_mode() {
        let user = LONG.replace("0x10                16", "0x33                51");
        assert_eq!(read_text(&user)[0].guest.cpl, Some(PrivilegeLevel::Ring3));
        let real = LONG
            .replace("0x80050033", "0x10")
            .replace("0x10                16", "0xf003              61443");
        let d = &read_text(&real)[0];
        assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring0));
        assert!(d.notes.iter().any(|n| n.starts_with("CPL 0: real mode")));
        let vm86 = LONG.replace("0x246 ", "0x20246").replace("0xd01", "0x0");
        let d = &read_text(&vm86)[0];
        assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring3));
        let no_flags: String = LONG
            .lines()
            .filter(|l| !l.starts_with("eflags"))
            .map(|l| format!("{l}\n"))
            .collect();
        // IA-32e mode (EFER.LMA) has no virtual-8086 mode: CS.RPL is the CPL.
        let d = &read_text(&no_flags)[0];
        assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring0));
        // Outside it, a missing eflags leaves virtual-8086 mode open.
        let d = &read_text(&no_flags.replace("0xd01", "0x0"))[0];
        assert_eq!(d.guest.cpl, None);
        assert!(
            d.notes
                .iter()
                .any(|n| n.starts_with("CPL unknown: no eflags line"))
        );
    }

    #[test]
    fn a_cut_listing_names_what_it_lacks() {
        // Cut by gdb's pager after cr3.
        let at = LONG.find("cr4 ").unwrap();
        let paged = format!(
            "{}--Type <RET> for more, q to quit, c to continue without paging--\n",
            &LONG[..at]
        );
        let d = read_text(&paged);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].guest.cr3, d[0].guest.cr4, d[0].guest.efer),
            (Some(0x1a0_a000), None, None)
        );
        assert!(
            d[0].notes.contains(&String::from(
                "line 31: the listing stops after `cr3` (gdb's pager stopped it at line 32: \
                 `--Type <RET> for more`): cr4, efer not in the paste"
            )),
            "{:?}",
            d[0].notes
        );
        // Cut in the middle of a value's line, and after a bare name.
        let cut = &LONG[..LONG.find("efer           0xd01").unwrap() + 17];
        let d = read_text(cut);
        assert!(
            d[0].notes
                .iter()
                .any(|n| n == "line 34: gdb shows `0x`, not a value for efer: not read"),
            "{:?}",
            d[0].notes
        );
        let cut = &LONG[..LONG.find("efer           0xd01").unwrap() + 4];
        let d = read_text(cut);
        assert!(
            d[0].notes
                .iter()
                .any(|n| n == "line 34: gdb shows no value for efer: not read"),
            "{:?}",
            d[0].notes
        );
        assert_eq!(d[0].guest.efer, None);
        // gdb's own word for a register it could not read.
        let d = read_text(&LONG.replace(
            "0x6b0               [ OSXMMEXCPT OSFXSR PGE PAE PSE ]",
            "<unavailable>",
        ));
        assert!(
            d[0].notes
                .iter()
                .any(|n| n == "line 32: gdb shows `<unavailable>`, not a value for cr4: not read")
        );
    }

    #[test]
    fn a_32_bit_listing_and_one_printed_twice() {
        let short = "eax            0xefe19f74          -270426252\n\
                     eip            0xc1f38400          0xc1f38400 <__list_del_entry_valid>\n\
                     eflags         0x6                 [ IOPL=0 PF ]\n\
                     cs             0x60                96\n\
                     k_gs_base      0x0                 0\n\
                     cr0            0x80050033          [ PG AM WP NE ET MP PE ]\n";
        let d = read_text(short);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].guest.rip, Some(0xc1f3_8400));
        assert!(
            d[0].notes
                .iter()
                .any(|n| n
                    == "line 6: the listing stops after `cr0`: cr3, cr4, efer not in the paste"),
            "{:?}",
            d[0].notes
        );
        assert_eq!(read_text(&format!("{LONG}{LONG}")).len(), 2);
        let many = "cr0            0x11                [ ET PE ]\n".repeat(MAX_DUMPS + 4);
        assert_eq!(read_text(&many).len(), MAX_DUMPS);
    }

    #[test]
    fn ia32e_mode_rules_out_virtual_8086_without_eflags() {
        let pe = Some(0x8000_0011);
        let lma = Some(0xd00);
        let (level, why) = cpl(pe, lma, None, Some(0x33)).unwrap();
        assert_eq!(level, PrivilegeLevel::Ring3);
        assert!(why.starts_with("CS's RPL"), "{why}");
        // RFLAGS.VM does nothing in IA-32e mode.
        let (level, _) = cpl(pe, lma, Some(RFLAGS_VM), Some(0x10)).unwrap();
        assert_eq!(level, PrivilegeLevel::Ring0);
        // Without LMA an absent eflags still leaves virtual-8086 mode open.
        assert!(cpl(pe, Some(0), None, Some(0x10)).is_err());
        assert!(cpl(pe, None, None, Some(0x10)).is_err());
        let (level, _) = cpl(pe, Some(0), Some(RFLAGS_VM), Some(0x10)).unwrap();
        assert_eq!(level, PrivilegeLevel::Ring3);
    }

    #[test]
    fn a_process_listing_and_other_dialects_are_not_taken() {
        // gdb on a user process: no system register.
        let process: String = LONG.lines().take(27).map(|l| format!("{l}\n")).collect();
        assert!(read_text(&process).is_empty());
        for other in [
            "cs 0008 (00000000/ffffffff p 1 dpl 0 db 0 s 1 type b l 1 g 1 avl 0)\ncr0 80010011 cr2 0 cr3 eae000 cr4 7b8 cr8 0 efer d00\n",
            " cs        0008      0000000000000000  000fffff  0b    1 0   0  1 1 1 0\n cr0: 00000000e0000011   cr2: 0000000000000000\n",
            "CR0=80050033 CR2=00000000 CR3=00000000 CR4=00000000\nEFER=0000000000000000\n",
            "cr0 0x80050033, cr4 0x6b0\n",
        ] {
            assert!(read_text(other).is_empty(), "{other}");
        }
        for junk in [
            "cr0",
            "cr0 0x",
            "cs 0xfffffffff",
            "efer 0x1ffffffffffffffff",
            "--Type <RET> for more",
        ] {
            let _ = read_text(junk);
        }
    }
}
