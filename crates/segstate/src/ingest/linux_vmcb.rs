//! AMD VMCB dumps: Linux `dump_vmcb` and Xen `svm_vmcb_dump`.
//!
//! Linux `arch/x86/kvm/svm/svm.c` `dump_vmcb()` (printed on VMEXIT_INVALID when
//! `kvm_amd.dump_invalid_vmcb=1`; "KVM: FAILED VMRUN WITH VMCB:" before 4.x):
//!
//! ```text
//! VMCB Control Area:            then "%-20s%04x" / "%08x" / "%016llx" lines (exit_code: …)
//! VMCB State Save Area:
//! %-5s s: %04x a: %04x l: %08x b: %016llx      es: cs: ss: ds: fs: gs: gdtr: ldtr: idtr: tr:
//! cpl:            %d                efer:         %016llx           (older)
//! vmpl: %d   cpl:  %d               efer:          %016llx          (newer)
//! %-15s %016llx %-13s %016llx   cr0:/cr2:, cr3:/cr4:, dr6:/dr7:, rip:/rflags:, gpat:/dbgctl: …
//! ```
//!
//! Xen `xen/arch/x86/hvm/svm/vmcb.c` `svm_vmcb_dump()`: `cpl = %d efer = %#x …`,
//! `CR0 = 0x%016x CR2 = …`, `RSP = 0x…  RIP = 0x…`, `RAX = 0x…  RFLAGS=0x…`,
//! `DR6 = 0x…, DR7 = 0x…`, `KernGSBase = 0x… PAT = 0x…`, then `svm_dump_sel`:
//! `"%s: %04x %04x %08x %016lx"` for CS DS SS ES FS GS GDTR LDTR IDTR TR.
//!
//! `a:`/attr is the 12-bit VMCB attribute word; the CPL is the VMCB's own byte.

use alloc::format;
use alloc::vec::Vec;

use super::collect::Collector;
use super::linux_vmcs::value_after;
use super::log::{Dialect, RawDump};
use super::text::{Words, hex, hex_width, register_field};
use crate::arch::{DescriptorTable, PrivilegeLevel, SegReg, Segment};
use crate::format::svm::{SvmAttrib, VmcbSegment};

/// Segment names: Linux lower case, Xen upper case; `None` for GDTR/IDTR.
fn seg_name(word: &str) -> Option<(Option<SegReg>, bool)> {
    let name = word.strip_suffix(':')?;
    let reg = match name.to_ascii_lowercase().as_str() {
        "es" => Some(SegReg::Es),
        "cs" => Some(SegReg::Cs),
        "ss" => Some(SegReg::Ss),
        "ds" => Some(SegReg::Ds),
        "fs" => Some(SegReg::Fs),
        "gs" => Some(SegReg::Gs),
        "ldtr" => Some(SegReg::Ldtr),
        "tr" => Some(SegReg::Tr),
        "gdtr" | "idtr" => None,
        _ => return None,
    };
    Some((reg, name.starts_with(|c: char| c.is_ascii_lowercase())))
}

/// The VMCB reader keeps no state of its own; the CPL is the VMCB's byte.
type Reader = Collector<()>;

/// Every VMCB dump in the words. `xen` names the dialect when the log carries Xen's
/// `(XEN)` prefix.
#[must_use]
pub(crate) fn read(words: &mut Words<'_>, xen: bool) -> Vec<RawDump> {
    // Linux names an SEV-ES or SEV-SNP guest before its VMCB ("kvm_amd: SEV-SNP vCPU1
    // VMCB …"): the line of that name, until the VMCB opens.
    let mut sev: Option<(&str, usize)> = None;
    Reader::new(Dialect::LinuxVmcb, xen, |_| {}).read(words, |r, words, line, t, next| {
        if t.starts_with("SEV") && next.starts_with("vCPU") {
            sev = Some((t, line));
        }
        // Openers: Linux's "VMCB …" headers, Xen's "Dumping guest's current state".
        if t.trim_end_matches(':') == "VMCB" || (t == "Dumping" && next == "guest's") {
            let saved = r.cur.as_ref().is_some_and(|d| {
                d.guest.cpl.is_some() || d.guest.segments.iter().any(|(_, s)| s.is_some())
            });
            if saved {
                r.close();
            }
            let d = r.open(line);
            if let Some((kind, _)) = sev.take().filter(|(_, at)| *at == line) {
                d.note(super::protected::sev_vmcb_note(kind, line));
            }
        } else if let Some((reg, lower)) = seg_name(t) {
            let linux_form = lower && next == "s:";
            if linux_form || r.cur.is_some() {
                segment(r, words, t, reg, linux_form, line);
            }
        } else if r.cur.is_some() {
            scalar(r, words, t, line);
        }
    })
}

fn segment(
    r: &mut Reader,
    words: &mut Words<'_>,
    name: &str,
    reg: Option<SegReg>,
    linux: bool,
    line: usize,
) {
    let start = words.pos();
    let mut cols = [0u64; 4];
    let widths: [&[usize]; 4] = [&[4], &[4], &[8], &[16]];
    for (i, col) in cols.iter_mut().enumerate() {
        if linux {
            // "s:" "0010" "a:" "029b" "l:" "ffffffff" "b:" "…"
            words.skip(1);
        }
        match words.peek(0).and_then(|w| hex_width(w.text, widths[i])) {
            Some(v) => {
                *col = v;
                words.skip(1);
            }
            None => {
                if linux || i > 1 {
                    let d = r.see(name, line);
                    d.note(format!("line {line}: the {name} line is cut short"));
                } else {
                    words.rewind(start);
                }
                return;
            }
        }
    }
    let d = r.see(name, line);
    let [sel, attr, limit, base] = cols;
    let Some(reg) = reg else {
        let table = Some(DescriptorTable {
            base,
            limit: limit as u32,
        });
        if name.eq_ignore_ascii_case("gdtr:") {
            d.guest.gdtr = table;
        } else {
            d.guest.idtr = table;
        }
        return;
    };
    let raw = VmcbSegment {
        selector: sel as u16,
        attrib: SvmAttrib(attr as u16),
        limit: limit as u32,
        base,
    };
    let seg = Segment::try_from(raw).unwrap_or_else(|e| {
        d.note(format!(
            "line {line}: {} attrib {attr:#06x}: {e}; read without them",
            reg.name()
        ));
        let attributes = SvmAttrib(attr as u16 & !SvmAttrib::RESERVED_MASK).attributes();
        Segment {
            selector: crate::arch::Selector(raw.selector),
            base,
            limit: raw.limit,
            attributes,
            unusable: !attributes.present,
        }
    });
    d.guest.segments[reg] = Some(seg);
}

fn scalar(r: &mut Reader, words: &mut Words<'_>, t: &str, line: usize) {
    let name = t
        .trim_end_matches([':', '='])
        .split('=')
        .next()
        .unwrap_or(t);
    let key = name.to_ascii_lowercase();
    let wanted = [
        "cpl",
        "efer",
        "cr0",
        "cr3",
        "cr4",
        "dr6",
        "dr7",
        "rip",
        "rflags",
        "gpat",
        "pat",
        "dbgctl",
        "intercepts",
        "iopm_base_pa",
        "msrpm_base_pa",
        "asid",
        "nested_ctl",
        "nested_cr3",
        "event_inj",
    ];
    if !wanted.contains(&key.as_str()) || (key == "pat" && name != "PAT") {
        return;
    }
    let start = words.pos();
    let Some(v) = value_after(t, words) else {
        words.rewind(start);
        return;
    };
    let value = match key.as_str() {
        // "%d" and "%lld" in dump_vmcb.
        "cpl" | "asid" | "nested_ctl" => v.parse::<u64>().ok(),
        // "%016llx" before Linux 5.10 (VMRUN is bit 32 of the one intercept word);
        // "%08x %08x" since (words 3 and 4; VMRUN is bit 0 of word 4).
        "intercepts" if v.len() == 8 => {
            let word4 = words.peek(0).and_then(|w| hex_width(w.text, &[8]));
            words.skip(usize::from(word4.is_some()));
            word4.map(|w4| w4 << 32 | hex(&v).unwrap_or(0))
        }
        _ => hex(&v),
    };
    let Some(value) = value else {
        words.rewind(start);
        return;
    };
    let d = r.see(&key, line);
    if let Some(field) = register_field(&mut d.guest, &key) {
        *field = Some(value);
        return;
    }
    let g = &mut d.guest;
    match key.as_str() {
        "cpl" => {
            if value > 3 {
                d.note(format!(
                    "line {line}: VMCB.CPL byte is {value}; the CPU keeps the byte, its low two \
                     bits are judged"
                ));
            }
            d.guest.cpl = Some(PrivilegeLevel::from_low_bits(value as u8));
        }
        "dr6" => g.dr6 = Some(value),
        "dr7" => g.dr7 = Some(value),
        "intercepts" => g.svm.vmrun_intercept = Some(value & 1 << 32 != 0),
        "iopm_base_pa" => g.svm.iopm_base = Some(value),
        "msrpm_base_pa" => g.svm.msrpm_base = Some(value),
        "asid" => g.svm.asid = u32::try_from(value).ok(),
        "nested_ctl" => g.svm.nested_paging = Some(value & 1 != 0),
        "nested_cr3" => g.svm.ncr3 = Some(value),
        "event_inj" => g.svm.event_inj = Some(value),
        "gpat" | "pat" => g.pat = Some(value),
        "dbgctl" => g.debugctl = Some(value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::text::normalise;

    #[test]
    fn the_save_area_and_the_cpl_line_are_read() {
        let text = "VMCB State Save Area:\n\
                    cs:   s: 0033 a: 02fb l: ffffffff b: 0000000000000000\n\
                    ss:   s: 002b a: 0000 l: ffffffff b: 0000000000000000\n\
                    vmpl: 0   cpl:  3               efer:          0000000000001d01\n\
                    cr0:            0000000080050033 cr2:          0000000000000000\n";
        let d = read(&mut Words::new(&normalise(text)), false);
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        assert_eq!(g.cpl, Some(PrivilegeLevel::Ring3));
        assert_eq!(g.efer, Some(0x1d01));
        assert_eq!(g.cr0, Some(0x8005_0033));
        let cs = g.segments[SegReg::Cs].unwrap();
        assert!(cs.attributes.l && cs.attributes.present);
        let ss = g.segments[SegReg::Ss].unwrap();
        assert!(ss.unusable, "P=0 in a VMCB is unusable");
        assert_eq!(g.segments[SegReg::Ds], None);
    }

    #[test]
    fn xen_segments_need_an_open_dump() {
        let xen = "Dumping guest's current state at vmexit...\ncpl = 0 efer = 0x1d01 star = 0\n\
                   CR0 = 0x0000000080050033 CR2 = 0x0\n  CS: 0010 0a9b ffffffff 0000000000000000\n";
        let d = read(&mut Words::new(&normalise(xen)), true);
        assert_eq!(d[0].dialect, Dialect::XenVmcb);
        assert_eq!(d[0].guest.efer, Some(0x1d01));
        assert!(d[0].guest.segments[SegReg::Cs].unwrap().attributes.l);
        // The same segment line alone is not a VMCB dump.
        let alone = read(
            &mut Words::new(&normalise("  CS: 0010 0a9b ffffffff 0\n")),
            true,
        );
        assert!(alone.is_empty());
    }
}
