//! HAXM's VMCS field dump: one field a line, `"%04x %s: %llx"` — the VMCS field
//! encoding, HAXM's name for it, the value in bare hex (`haxm_error: 4402
//! VM_EXIT_INFO_REASON: 80000021`, HAXM `core/vmx.c` `dump_vmcs`).
//!
//! The encoding, not HAXM's name, decides the field (SDM Vol. 3C Appendix B), so a
//! renamed field still reads. The exit reason (0x4402) is an exit line and is read by
//! [`super::exit`].

use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::text::{Words, hex, hex_width};
use crate::arch::{DescriptorTable, SegReg, Segment, Selector};
use crate::format::vmx::{VmcsField, VmxAccessRights};

/// One guest segment's four fields as far as read.
#[derive(Clone, Copy, Default)]
struct Parts {
    selector: Option<u64>,
    limit: Option<u64>,
    ar: Option<u64>,
    base: Option<u64>,
}

/// Every HAXM dump in the words (a run of `NNNN NAME: value` triples; a repeated
/// encoding starts the next dump).
#[must_use]
pub(crate) fn read(words: &mut Words<'_>) -> Vec<RawDump> {
    let mut out = Vec::new();
    let mut cur: Option<(RawDump, [Parts; 8], Vec<u64>)> = None;
    while let Some(w) = words.next_word() {
        if out.len() >= MAX_DUMPS {
            break;
        }
        // `haxm_warning:4000` when the logger glued its tag to the encoding.
        let enc_text = w.text.rsplit(':').next().unwrap_or_default();
        let Some(enc) = hex_width(enc_text, &[4]) else {
            continue;
        };
        let name_ok = words.peek(0).is_some_and(|n| {
            n.text.len() > 2
                && n.text.ends_with(':')
                && n.text[..n.text.len() - 1]
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        });
        let Some(value) = words.peek(1).filter(|_| name_ok).and_then(|v| hex(v.text)) else {
            continue;
        };
        words.skip(2);
        if cur.as_ref().is_some_and(|(_, _, seen)| seen.contains(&enc)) {
            if let Some(done) = cur.take() {
                out.push(finish(done));
            }
        }
        let (d, parts, seen) = cur.get_or_insert_with(|| {
            (
                RawDump::new(Dialect::Haxm, w.line),
                [Parts::default(); 8],
                Vec::new(),
            )
        });
        seen.push(enc);
        d.lines.extend_to(w.line);
        field(d, parts, enc as u32, value);
    }
    if let Some(done) = cur {
        out.push(finish(done));
    }
    out.retain(RawDump::has_fields);
    out
}

fn field(d: &mut RawDump, parts: &mut [Parts; 8], enc: u32, v: u64) {
    let g = &mut d.guest;
    for reg in SegReg::ALL {
        let p = &mut parts[reg.index()];
        if enc == VmcsField::selector(reg) {
            p.selector = Some(v);
        } else if enc == VmcsField::limit(reg) {
            p.limit = Some(v);
        } else if enc == VmcsField::access_rights(reg) {
            p.ar = Some(v);
        } else if enc == VmcsField::base(reg) {
            p.base = Some(v);
        } else {
            continue;
        }
        return;
    }
    let table = |t: &mut Option<DescriptorTable>, base: Option<u64>, limit: Option<u64>| {
        let mut cur = t.unwrap_or_default();
        if let Some(b) = base {
            cur.base = b;
        }
        if let Some(l) = limit {
            cur.limit = l as u32;
        }
        *t = Some(cur);
    };
    match enc {
        0x6800 => g.cr0 = Some(v),
        0x6802 => g.cr3 = Some(v),
        0x6804 => g.cr4 = Some(v),
        0x681a => g.dr7 = Some(v),
        0x681e => g.rip = Some(v),
        0x6820 => g.rflags = Some(v),
        0x6822 => g.pending_debug_exceptions = Some(v),
        0x2802 => g.debugctl = Some(v),
        0x2804 => g.pat = Some(v),
        0x2806 => g.efer = Some(v),
        0x280a | 0x280c | 0x280e | 0x2810 => {
            let mut all = g.pdptes.unwrap_or_default();
            all[((enc - 0x280a) / 2) as usize] = v;
            g.pdptes = Some(all);
        }
        0x4810 => table(&mut g.gdtr, None, Some(v)),
        0x4812 => table(&mut g.idtr, None, Some(v)),
        0x6816 => table(&mut g.gdtr, Some(v), None),
        0x6818 => table(&mut g.idtr, Some(v), None),
        0x4824 => g.interruptibility = Some(v as u32),
        0x4826 => g.activity_state = Some(v as u32),
        0x4016 => g.entry_interruption_info = Some(v as u32),
        0x4000 => g.controls.pin_based = Some(v as u32),
        0x4002 => g.controls.cpu_based = Some(v as u32),
        0x401e => g.controls.secondary = Some(v as u32),
        0x400c => g.controls.exit = Some(v as u32),
        0x4012 => g.controls.entry = Some(v as u32),
        _ => {}
    }
}

fn finish((mut d, parts, _): (RawDump, [Parts; 8], Vec<u64>)) -> RawDump {
    for reg in SegReg::ALL {
        let p = parts[reg.index()];
        if let (Some(sel), Some(limit), Some(ar), Some(base)) = (p.selector, p.limit, p.ar, p.base)
        {
            let ar = VmxAccessRights(ar as u32);
            d.guest.segments[reg] = Some(Segment {
                selector: Selector(sel as u16),
                base,
                limit: limit as u32,
                attributes: ar.attributes(),
                unusable: ar.unusable(),
            });
        }
    }
    if let Some(ss) = d.guest.segments[SegReg::Ss] {
        d.guest.cpl = Some(ss.attributes.dpl);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::text::normalise;

    #[test]
    fn fields_are_read_by_encoding() {
        let text = "haxm_error: 4012 VMX_ENTRY_CONTROLS: 51ff\n\
                    haxm_error: 0802 GUEST_CS_SELECTOR: 10\nhaxm_error: 4802 GUEST_CS_LIMIT: ffffffff\n\
                    haxm_error: 4816 GUEST_CS_AR: a09b\nhaxm_error: 6808 GUEST_CS_BASE: 0\n\
                    haxm_error: 4824 GUEST_INTERRUPTIBILITY: 1\n";
        let d = read(&mut Words::new(&normalise(text)));
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        assert_eq!(g.controls.entry, Some(0x51ff));
        assert_eq!(g.interruptibility, Some(1));
        let cs = g.segments[SegReg::Cs].unwrap();
        assert_eq!(cs.selector.0, 0x10);
        assert!(cs.attributes.l);
        assert_eq!(g.segments[SegReg::Ss], None);
    }
}
