//! Intel VMCS dumps: Linux `dump_vmcs` and Xen `vmcs_dump_vcpu`.
//!
//! Linux `arch/x86/kvm/vmx/vmx.c` `dump_vmcs()` (printed when
//! `kvm_intel.dump_invalid_vmcs=1`), every layout since 4.x:
//!
//! ```text
//! VMCS %p, last attempted VM-entry on CPU %d                   (5.14 on)
//! *** Guest State ***
//! CR0: actual=0x%016lx, shadow=0x%016lx, gh_mask=%016lx        (CR4 likewise)
//! CR3 = 0x%016lx
//! PDPTR0 = 0x%016llx  PDPTR1 = 0x%016llx                       (with EPT)
//! RSP = 0x%016lx  RIP = 0x%016lx
//! RFLAGS=0x%08lx         DR7 = 0x%016lx
//! CS:   sel=0x%04x, attr=0x%05x, limit=0x%08x, base=0x%016lx   (vmx_dump_sel)
//! GDTR:                           limit=0x%08x, base=0x%016lx  (vmx_dump_dtsel)
//! EFER =     0x%016llx  PAT = 0x%016llx                        (4.x to 5.10)
//! EFER= 0x%016llx (effective) / (autoload), PAT = 0x%016llx    (5.11 on)
//! Sysenter RSP=%016lx CS:RIP=%04x:%016lx
//! DebugCtl = 0x%016llx  DebugExceptions = 0x%016lx
//! BndCfgS = 0x%016llx                                          (load IA32_BNDCFGS)
//! Interruptibility = %08x  ActivityState = %08x
//! *** Host State *** …
//! *** Control State ***
//! PinBased=%08x CPUBased=%08x SecondaryExec=%08x               (0x-prefixed from 5.x)
//! EntryControls=%08x ExitControls=%08x
//! VMEntry: intr_info=%08x errcode=%08x ilen=%08x
//! ```
//!
//! Xen `xen/arch/x86/hvm/vmx/vmcs.c` `vmcs_dump_vcpu()` prints the same sections with
//! segment lines `"%s: %04x %05x %08x %016lx"` (selector, access rights, limit, base),
//! descriptor tables `"%s:            %08x %016lx"` (limit, base) and `PDPTEn`.
//!
//! The `VMCS` line (Jim Mattson's "KVM: x86: Print CPU of last attempted VM-entry when
//! dumping VMCS/VMCB", 5.14) opens a dump as `*** Guest State ***` does; before it,
//! `*** Guest State ***` is the first line. A dump ends where the next one opens or a
//! guest field it has read is printed again, never at a line it cannot read, so a
//! paste that elides lines (`...`, `[...]`, `<snip>`) stays one dump.
//!
//! `attr` is the 17-bit VMX access rights with "unusable" in bit 16; the CPL of a VMCS
//! is SS.DPL (SDM Vol. 3C §25.4.1). Host-state fields are skipped.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::collect::Collector;
use super::log::{Dialect, RawDump};
use super::text::{Words, hex, hex_width};
use crate::arch::{DescriptorTable, SegReg, Segment, Selector};
use crate::format::vmx::{VmxAccessRights, VmxSegment};

/// The register a guest-state line opens with, as `dump_vmcs` prints it: `ES:` …
/// `GS:`, `LDTR:`, `TR:` (the SDM's names).
fn segment_label(word: &str) -> Option<SegReg> {
    let name = word.strip_suffix(':')?;
    SegReg::ALL.into_iter().find(|reg| reg.name() == name)
}

/// Guest fields that only a VMCS dump prints: one opens a dump when none is open.
const OPENERS: &[&str] = &[
    "EFER",
    "DebugCtl",
    "Interruptibility",
    "PinBased",
    "CPUBased",
    "EntryControls",
];

/// The part of the dump being read; a dump opens in the guest state.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Section {
    #[default]
    Guest,
    Host,
    Control,
}

/// The value after a field name: `NAME=v`, `NAME= v`, `NAME = v`, `NAME: v`.
pub(crate) fn value_after(name_word: &str, words: &mut Words<'_>) -> Option<String> {
    if let Some((_, v)) = name_word.split_once('=') {
        if !v.is_empty() {
            return Some(String::from(v));
        }
        return words.next_word().map(|w| String::from(w.text));
    }
    if name_word.ends_with(':') {
        return words.next_word().map(|w| String::from(w.text));
    }
    match words.peek(0).map(|w| String::from(w.text)) {
        Some(n) if n == "=" || n == ":" => {
            words.skip(1);
            words.next_word().map(|w| String::from(w.text))
        }
        Some(n) if n.starts_with('=') && n.len() > 1 => {
            words.skip(1);
            Some(String::from(&n[1..]))
        }
        _ => None,
    }
}

/// `key=value` → value, when the word has that key.
fn keyed<'a>(word: &'a str, key: &str) -> Option<&'a str> {
    word.strip_prefix(key)?.strip_prefix('=')
}

/// The first words of `dump_vmcs`'s host-state lines (Linux `vmx.c`; Xen's
/// `vmcs_dump_vcpu` prints the same names).
const HOST_KEYS: &[&str] = &[
    "RIP",
    "RSP",
    "CS=",
    "FSBase=",
    "GDTBase=",
    "CR0=",
    "Sysenter",
    "EFER",
    "PAT",
    "PerfGlobCtl",
];

/// The first words of its control-state lines, through the last one either prints.
const CONTROL_KEYS: &[&str] = &[
    "PinBased=",
    "EntryControls=",
    "ExceptionBitmap=",
    "VMEntry:",
    "VMExit:",
    "reason=",
    "IDTVectoring:",
    "TSC",
    "SVI|RVI",
    "TPR",
    "APIC-access",
    "PostedIntrVec",
    "EPT",
    "PLE",
    "Virtual",
    "VMfunc",
    "InterruptStatus",
];

type Reader = Collector<Section>;

/// A VMCS has no CPL field: SS.DPL is the CPL (SDM Vol. 3C §25.4.1); a dump cut
/// before SS is at CPL 0 when its CR0 field has PE clear
/// ([`super::segment_parts::real_mode_cpl`]).
fn cpl_from_ss(d: &mut RawDump) {
    if let Some(ss) = d.guest.segments[SegReg::Ss] {
        d.guest.cpl = Some(ss.attributes.dpl);
    }
    super::segment_parts::real_mode_cpl(d);
}

/// Every VMCS dump in the words. `xen` names the dialect when the log carries Xen's
/// `(XEN)` prefix.
#[must_use]
pub(crate) fn read(words: &mut Words<'_>, xen: bool) -> Vec<RawDump> {
    Reader::new(Dialect::LinuxVmcs, xen, cpl_from_ss).read(words, |r, words, line, t, next| {
        if is_header(t, next, words) {
            // The `*** Guest State ***` line after it extends this dump.
            r.close();
            r.open(line);
            r.state = Section::Guest;
            return;
        }
        if t == "***" {
            match next {
                "Guest" => {
                    if r.cur.as_ref().is_some_and(|d| d.has_fields()) {
                        r.close();
                    }
                    r.open(line);
                    r.state = Section::Guest;
                }
                "Host" if r.cur.is_some() => r.state = Section::Host,
                "Control" => {
                    r.open(line);
                    r.state = Section::Control;
                }
                _ => {}
            }
            return;
        }
        let opens = |t: &str| {
            OPENERS.iter().any(|o| t.starts_with(o))
                || (segment_label(t).is_some() && next.starts_with("sel="))
                || xen_rflags(t, next)
        };
        if r.cur.is_none() && !opens(t) {
            return;
        }
        // The host state's and control state's lines are the dump's too, read or
        // not: the QEMU reader takes the host state's `CR0=…` for a dump of its own
        // (a reading inside the span is dropped), and `reason=80000021` is a control
        // line (an exit inside the span stays with it). Only their own keys count,
        // so the span ends where the dump does.
        let keys: &[&str] = match r.state {
            Section::Host => HOST_KEYS,
            Section::Control => CONTROL_KEYS,
            Section::Guest => &[],
        };
        if keys.iter().any(|k| t.starts_with(k)) {
            if let Some(d) = r.cur.as_mut() {
                d.lines.extend_to(line);
            }
        }
        match r.state {
            Section::Host => {}
            Section::Control => control(r, words, t, line),
            Section::Guest => guest(r, words, t, next, line),
        }
    })
}

/// `dump_vmcs`'s first line since 5.14, `VMCS %p, last attempted VM-entry on CPU %d`
/// (arch/x86/kvm/vmx/vmx.c): `t` is `VMCS`, `next` the address and its comma, and the
/// cursor is on `next`.
fn is_header(t: &str, next: &str, words: &Words<'_>) -> bool {
    t == "VMCS"
        && next.ends_with(',')
        && hex(next).is_some()
        && ["last", "attempted", "VM-entry", "on", "CPU"]
            .iter()
            .enumerate()
            .all(|(i, w)| words.peek(i + 1).is_some_and(|p| p.text == *w))
}

/// Xen's `vmcs_dump_vcpu` guest RFLAGS line, `RFLAGS=0x%08lx (0x%08lx)  DR7 =
/// 0x%016lx` (xen/arch/x86/hvm/vmx/vmcs.c): the value and its shadow in parentheses, a
/// shape no other dump prints, so it opens a dump without the `*** Guest State ***`
/// header (a paste that elides the rest with `...`).
fn xen_rflags(t: &str, next: &str) -> bool {
    t.starts_with("RFLAGS=0x") && next.starts_with("(0x") && next.ends_with(')')
}

fn control(r: &mut Reader, words: &mut Words<'_>, t: &str, line: usize) {
    let v32 = |v: &str| hex(v).map(|v| v as u32);
    for (key, slot) in [
        ("PinBased", 0),
        ("CPUBased", 1),
        ("SecondaryExec", 2),
        ("EntryControls", 3),
        ("ExitControls", 4),
    ] {
        if let Some(v) = keyed(t, key).and_then(v32) {
            let c = &mut r.open(line).guest.controls;
            *[
                &mut c.pin_based,
                &mut c.cpu_based,
                &mut c.secondary,
                &mut c.entry,
                &mut c.exit,
            ][slot] = Some(v);
            return;
        }
    }
    if t == "VMEntry:" {
        if let Some(v) = words
            .peek(0)
            .and_then(|w| keyed(w.text, "intr_info"))
            .and_then(v32)
        {
            words.skip(1);
            r.open(line).guest.entry_interruption_info = Some(v);
        }
    }
}

fn guest(r: &mut Reader, words: &mut Words<'_>, t: &str, next: &str, line: usize) {
    if let Some(reg) = segment_label(t) {
        return segment(r, words, reg, line);
    }
    if t == "GDTR:" || t == "IDTR:" {
        return table(r, words, t, line);
    }
    if t == "Sysenter" {
        return sysenter(r, words, line);
    }
    if t == "CR0:" || t == "CR4:" {
        let Some(v) = keyed(next, "actual").and_then(hex) else {
            return;
        };
        words.skip(1);
        let d = r.see(t, line);
        if t == "CR0:" {
            d.guest.cr0 = Some(v);
        } else {
            d.guest.cr4 = Some(v);
        }
        return;
    }
    let name = t.split(['=', ':']).next().unwrap_or(t);
    // Xen since 4.12 names where the guest's EFER came from: `EFER(VMCS) = 0x…`, or
    // `EFER(MSR LL) = 0x…` on hardware without the VMCS field, the value its MSR-load
    // list gives the guest (`vmcs_dump_vcpu`).
    let name = if name == "EFER(MSR" && next == "LL)" {
        words.skip(1);
        "EFER"
    } else {
        name.strip_suffix("(VMCS)").unwrap_or(name)
    };
    let known = [
        "CR3",
        "RSP",
        "RIP",
        "RFLAGS",
        "DR7",
        "EFER",
        "PAT",
        "DebugCtl",
        "DebugExceptions",
        "BndCfgS",
        "Interruptibility",
        "ActivityState",
        "PDPTR0",
        "PDPTR1",
        "PDPTR2",
        "PDPTR3",
        "PDPTE0",
        "PDPTE1",
        "PDPTE2",
        "PDPTE3",
    ];
    if !known.contains(&name) {
        return;
    }
    let start = words.pos();
    // dump_vmcs prints every guest value `0x`-prefixed except the two `%08x` of the
    // non-register state; a bare `EFER=…` is QEMU's.
    let bare = matches!(name, "Interruptibility" | "ActivityState");
    let Some(v) = value_after(t, words)
        .filter(|v| bare || v.starts_with("0x"))
        .and_then(|v| hex(&v))
    else {
        words.rewind(start);
        return;
    };
    let d = r.see(name, line);
    if name.starts_with("PDPTE") && d.dialect == Dialect::LinuxVmcs {
        d.dialect = Dialect::XenVmcs;
    }
    let g = &mut d.guest;
    match name {
        "CR3" => g.cr3 = Some(v),
        "RIP" => g.rip = Some(v),
        "RFLAGS" => g.rflags = Some(v),
        "DR7" => g.dr7 = Some(v),
        "EFER" => g.efer = Some(v),
        "PAT" => g.pat = Some(v),
        "BndCfgS" => g.bndcfgs = Some(v),
        "DebugCtl" => g.debugctl = Some(v),
        "DebugExceptions" => g.pending_debug_exceptions = Some(v),
        "Interruptibility" => g.interruptibility = Some(v as u32),
        "ActivityState" => g.activity_state = Some(v as u32),
        p if p.starts_with("PDPT") => {
            let i = usize::from(p.as_bytes()[5] - b'0');
            let mut all = g.pdptes.unwrap_or_default();
            all[i] = v;
            g.pdptes = Some(all);
        }
        _ => {}
    }
}

/// `Sysenter RSP=%016lx CS:RIP=%04x:%016lx` (Linux and Xen alike, without `0x`): the
/// guest's IA32_SYSENTER_ESP and IA32_SYSENTER_EIP (the CS between them is
/// IA32_SYSENTER_CS, which no guest-state check reads).
fn sysenter(r: &mut Reader, words: &mut Words<'_>, line: usize) {
    let esp = words
        .peek(0)
        .and_then(|w| keyed(w.text, "RSP"))
        .and_then(|v| hex_width(v, &[16]));
    let eip = words
        .peek(1)
        .and_then(|w| keyed(w.text, "CS:RIP"))
        .and_then(|v| v.split_once(':'))
        .and_then(|(_, eip)| hex_width(eip, &[16]));
    let (Some(esp), Some(eip)) = (esp, eip) else {
        return;
    };
    words.skip(2);
    let g = &mut r.see("Sysenter", line).guest;
    g.sysenter_esp = Some(esp);
    g.sysenter_eip = Some(eip);
}

/// `CS:   sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x…` (Linux) or
/// `CS: 0010 0a09b ffffffff 0000000000000000` (Xen).
fn segment(r: &mut Reader, words: &mut Words<'_>, reg: SegReg, line: usize) {
    let start = words.pos();
    let mut cols = [None; 4];
    let linux = words.peek(0).is_some_and(|w| w.text.starts_with("sel="));
    for (i, key) in ["sel", "attr", "limit", "base"].into_iter().enumerate() {
        let Some(w) = words.peek(0).map(|w| String::from(w.text)) else {
            break;
        };
        cols[i] = if linux {
            keyed(&w, key).and_then(hex)
        } else {
            let widths: &[usize] = match i {
                0 => &[4],
                1 => &[5],
                2 => &[8],
                _ => &[16],
            };
            hex_width(&w, widths)
        };
        if cols[i].is_none() {
            break;
        }
        words.skip(1);
    }
    let [Some(sel), Some(attr), Some(limit), Some(base)] = cols else {
        // A Xen line whose attr is not 5 digits is a VMCB's (4), not cut.
        if linux || cols[1].is_some() {
            let d = r.see(reg.name(), line);
            d.note(format!("line {line}: the {} line is cut short", reg.name()));
        }
        if !linux && cols[1].is_none() {
            words.rewind(start);
        }
        return;
    };
    if !linux {
        r.dialect = Dialect::XenVmcs;
    }
    let d = r.see(reg.name(), line);
    if !linux {
        d.dialect = Dialect::XenVmcs;
    }
    let ar = VmxAccessRights(attr as u32);
    if ar.reserved_bits() != 0 {
        d.note(format!(
            "line {line}: {} access rights {attr:#07x} have reserved bits {:#x} set (SDM Vol. 3C \
             §27.3.1.2: bits 11:8 and 31:17 must be 0 for a usable segment)",
            reg.name(),
            ar.reserved_bits()
        ));
    }
    let raw = VmxSegment {
        selector: sel as u16,
        base,
        limit: limit as u32,
        access_rights: ar,
    };
    d.guest.segments[reg] = Some(Segment {
        selector: Selector(raw.selector),
        base: raw.base,
        limit: raw.limit,
        attributes: ar.attributes(),
        unusable: ar.unusable(),
    });
}

/// `GDTR:   limit=0x…, base=0x…` (Linux) or `GDTR:   0000007f ffff88001f40c000` (Xen).
fn table(r: &mut Reader, words: &mut Words<'_>, t: &str, line: usize) {
    let a = words
        .peek(0)
        .map(|w| String::from(w.text))
        .unwrap_or_default();
    let b = words
        .peek(1)
        .map(|w| String::from(w.text))
        .unwrap_or_default();
    let parsed = match (keyed(&a, "limit"), keyed(&b, "base")) {
        (Some(l), Some(b)) => hex(l).zip(hex(b)),
        _ => hex_width(&a, &[8]).zip(hex_width(&b, &[16])),
    };
    let Some((limit, base)) = parsed else {
        return;
    };
    words.skip(2);
    let d = r.see(t, line);
    let table = Some(DescriptorTable {
        base,
        limit: limit as u32,
    });
    if t == "GDTR:" {
        d.guest.gdtr = table;
    } else {
        d.guest.idtr = table;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::text::normalise;

    /// The one dump a Linux `dump_vmcs` printout holds.
    fn one_linux_dump(text: &str) -> RawDump {
        let mut d = read(&mut Words::new(&normalise(text)), false);
        assert_eq!(d.len(), 1, "one dump in {text}");
        d.remove(0)
    }

    #[test]
    fn linux_and_xen_segment_lines_read_alike() {
        let linux = "*** Guest State ***\nCS:   sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x0000000000000000\n\
                     DS:   sel=0x0000, attr=0x1c000, limit=0xffffffff, base=0x0000000000000000\n";
        let xen = "(XEN) *** Guest State ***\n(XEN)   CS: 0010 0a09b ffffffff 0000000000000000\n\
                   (XEN)   DS: 0000 1c000 ffffffff 0000000000000000\n";
        let a = one_linux_dump(linux);
        let b = read(&mut Words::new(&normalise(xen)), true);
        assert_eq!(a.guest.segments, b[0].guest.segments);
        assert_eq!(a.dialect, Dialect::LinuxVmcs);
        assert_eq!(b[0].dialect, Dialect::XenVmcs);
        let cs = a.guest.segments[SegReg::Cs].unwrap();
        assert!(cs.attributes.l && !cs.unusable);
        assert!(a.guest.segments[SegReg::Ds].unwrap().unusable);
    }

    #[test]
    fn non_register_state_and_controls_are_kept() {
        let text = "*** Guest State ***\nSS:   sel=0x0018, attr=0x0c0f3, limit=0xffffffff, base=0x0\n\
                    EFER =     0x0000000000000d01  PAT = 0x0007040600070406\n\
                    Interruptibility = 00000001  ActivityState = 00000000\n*** Host State ***\n\
                    CR0=0000000080050033 CR3=0000000001000000\n*** Control State ***\n\
                    PinBased=0000003f CPUBased=b6986dfa SecondaryExec=000000a2\n\
                    EntryControls=0000d3ff ExitControls=0036efff\n\
                    VMEntry: intr_info=80000b0e errcode=00000000 ilen=00000000\n";
        let d = one_linux_dump(text);
        let g = &d.guest;
        assert_eq!(g.efer, Some(0xd01));
        assert!(d.notes.is_empty(), "load IA32_EFER is on: {:?}", d.notes);
        assert_eq!(g.pat, Some(0x0007_0406_0007_0406));
        assert_eq!(g.interruptibility, Some(1));
        assert_eq!(g.cr0, None, "host CR0 is not the guest's");
        assert_eq!(g.controls.entry, Some(0xd3ff));
        assert_eq!(
            g.controls.unrestricted_guest(),
            Some(true),
            "SecondaryExec bit 7"
        );
        assert_eq!(g.entry_interruption_info, Some(0x8000_0b0e));
        assert_eq!(g.cpl, Some(crate::arch::PrivilegeLevel::Ring3));
        // The host and control states are the dump's lines: its span reaches the last
        // of them, not the text after it.
        let d = one_linux_dump(&format!("{text}QEMU: CR0=00000011\n"));
        assert_eq!((d.lines.first, d.lines.last), (1, 10));
        // Xen names the VMCS's EFER apart from the MSR's.
        let xen = "*** Guest State ***\nSS:   sel=0x0018, attr=0x0c0f3, limit=0xffffffff, base=0x0\n\
                   EFER(VMCS) = 0x0000000000000d01  PAT = 0x0007040600070406\n";
        assert_eq!(one_linux_dump(xen).guest.efer, Some(0xd01));
    }

    #[test]
    fn sysenter_and_bndcfgs_are_read_and_host_ones_are_not() {
        let text = "*** Guest State ***\nCS:   sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x0\n\
                    Sysenter RSP=fffffe0000006000 CS:RIP=0010:ffffffff81a01630\n\
                    DebugCtl = 0x0000000000000000  DebugExceptions = 0x0000000000000000\n\
                    BndCfgS = 0x0000000000000000\n\
                    *** Host State ***\nSysenter RSP=fffffe0000123000 CS:RIP=0010:ffffffff81a00000\n";
        let g = &one_linux_dump(text).guest;
        assert_eq!(g.sysenter_esp, Some(0xffff_fe00_0000_6000));
        assert_eq!(g.sysenter_eip, Some(0xffff_ffff_81a0_1630));
        assert_eq!(g.bndcfgs, Some(0));
    }

    /// Xen's guest RFLAGS line opens a dump without its header; Linux's does not.
    #[test]
    fn xen_rflags_line_opens_a_dump() {
        let text = "(XEN) d12v0 vmentry failure (reason 0x80000021): Invalid guest state (0)\n(XEN) ...\n(XEN) RFLAGS=0x00000002 (0x00000002)  DR7 = 0x4000000000000001\n";
        let d = crate::ingest::log::read_log(text);
        assert_eq!(d[0].dialects, [Dialect::XenVmcs]);
        assert_eq!(d[0].guest.dr7, Some(0x4000_0000_0000_0001));
        let linux = "RFLAGS=0x00000002         DR7 = 0x0000000000000400\n";
        assert!(crate::ingest::log::read_log(linux).is_empty());
    }

    /// The `VMCS …, last attempted VM-entry on CPU N` line opens a dump, under any
    /// prefix, and the lines after it are the dump's across elisions; alone it is no
    /// dump, and before `*** Guest State ***` it is the same dump's first line.
    #[test]
    fn header_line_opens_a_dump_across_elisions() {
        use crate::ingest::log::read_log;
        for (prefix, elision) in [
            ("", "..."),
            ("[  165.292990] ", "... ..."),
            ("[ 2311.499051] kvm_intel: ", "[...]"),
            ("kvm: ", "<snip>"),
            ("Jan 27 10:00:01 host kernel: kvm_intel: ", "..."),
        ] {
            let text = format!(
                "{prefix}VMCS 0000000088f567e4, last attempted VM-entry on CPU 14\n{elision}\n\
                 {prefix}RFLAGS=0x00000002         DR7 = 0x0000000000000400\n{elision}\n\
                 {prefix}Interruptibility = 00000009  ActivityState = 00000000\n"
            );
            let d = read_log(&text);
            assert_eq!(d.len(), 1, "{text}");
            assert_eq!(
                (d[0].line, d[0].dialects.clone()),
                (1, vec![Dialect::LinuxVmcs])
            );
            let g = &d[0].guest;
            assert_eq!((g.rflags, g.interruptibility), (Some(2), Some(9)), "{text}");
        }
        let header = "VMCS 0000000088f567e4, last attempted VM-entry on CPU 14\n";
        assert!(read_log(header).is_empty());
        let d = one_linux_dump(&format!(
            "{header}*** Guest State ***\nCR3 = 0x0000000001000000\n"
        ));
        assert_eq!(
            (d.lines.first, d.lines.last, d.guest.cr3),
            (1, 3, Some(0x100_0000))
        );
        // A header starts the next dump: the first one's fields are its own.
        let two = format!("{header}CR3 = 0x0000000000001000\n{header}CR3 = 0x0000000000002000\n");
        let d = read(&mut Words::new(&normalise(&two)), false);
        assert_eq!(d.iter().map(|d| d.lines.first).collect::<Vec<_>>(), [1, 3]);
    }
}
