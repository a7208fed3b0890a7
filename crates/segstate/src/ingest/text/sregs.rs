//! Other projects' printouts of `struct kvm_sregs` (and of the `kvm_regs` fields
//! around it): every `kvm_segment` field spelled out as `name: value`.
//!
//! Two forms are known from public threads:
//!
//! - kontain `km`'s KVM_EXIT_FAIL_ENTRY printout (`km_vcpu_print`):
//!   `== KVM_GET_REGS ==`, `RIP: 0x…     RFLAGS: 0x46`, `== KVM_GET_SREGS ==`, then
//!   per segment `CS  base: 0x…  limit:0x… selector: 0x8 type: 0xb present: 0x1`
//!   continued on the next line by `dpl:0x0 db:0x0 s:0x1 l:0x1 g:0x1 avl:0x0
//!   unusable:0x0`;
//! - gVisor's Go `%+v` of its `systemRegs` in a stuck-vCPU panic:
//!   `CS:{base:0 limit:4095 selector:16 typ:9 present:1 DPL:0 DB:0 S:1 L:1 G:1 AVL:0
//!   unusable:0 _:0}`, `GDT:{base:0x… limit:71 _:[0 0 0]}`, `CR0:2147745809`.
//!
//! (qemu-kvm's own register dump, a third printout of `kvm_sregs` in a grammar of its
//! own, is read by [`super::show_regs`].)
//!
//! Values are hexadecimal with `0x`, decimal without. A segment is read only when
//! every field a `kvm_segment` has is there (a cut line is named, not guessed), and
//! a segment is recognised only when its name is followed by `base:`, so no other
//! dialect's `CS:` is taken for one. The state is a `kvm_sregs`: what a VMM hands to
//! KVM_SET_SREGS, with the CPL in SS.DPL.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::Words;
use super::printout::{kvm_segment_of, segment_key};
use crate::arch::SegReg;
use crate::ingest::log::{Dialect, MAX_DUMPS, RawDump};

/// A segment or descriptor table being read.
struct Record {
    name: String,
    line: usize,
    fields: [Option<u64>; 12],
}

impl Record {
    fn set(&mut self, key: &str, value: u64) -> bool {
        match segment_key(key) {
            Some(i) => {
                self.fields[i] = Some(value);
                true
            }
            None => false,
        }
    }
}

fn seg_reg(name: &str) -> Option<SegReg> {
    Some(match name {
        "CS" => SegReg::Cs,
        "DS" => SegReg::Ds,
        "ES" => SegReg::Es,
        "FS" => SegReg::Fs,
        "GS" => SegReg::Gs,
        "SS" => SegReg::Ss,
        "TR" => SegReg::Tr,
        "LDT" | "LDTR" => SegReg::Ldtr,
        _ => return None,
    })
}

/// A value as the printouts write it: `0x…` hexadecimal, else decimal.
fn number(s: &str) -> Option<u64> {
    let s = s.trim_end_matches(',');
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The tokens of one word: `{` and `}` split it (`CS:{base:0` → `CS:`, `base:0`).
fn tokens(word: &str) -> impl Iterator<Item = (&str, bool)> {
    let closes = word.ends_with('}');
    let parts: Vec<&str> = word.split(['{', '}']).filter(|t| !t.is_empty()).collect();
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(move |(i, t)| (t, closes && i + 1 == n))
}

/// The reader's state over one log.
#[derive(Default)]
struct Reader {
    out: Vec<RawDump>,
    cur: Option<RawDump>,
    record: Option<Record>,
    seen: Vec<String>,
}

impl Reader {
    fn dump(&mut self, line: usize) -> &mut RawDump {
        let d = self
            .cur
            .get_or_insert_with(|| RawDump::new(Dialect::KvmSregsPrint, line));
        d.lines.extend_to(line);
        d
    }

    /// Ends the record being read: a whole segment or table goes into the dump; a cut
    /// one is named.
    fn end_record(&mut self) {
        let Some(r) = self.record.take() else {
            return;
        };
        let d = self.dump(r.line);
        if matches!(r.name.as_str(), "GDT" | "IDT") {
            let (Some(base), Some(limit)) = (r.fields[0], r.fields[1]) else {
                d.note(format!(
                    "line {}: the {} entry is cut short",
                    r.line, r.name
                ));
                return;
            };
            if let Some(field) = super::table_field(&mut d.guest, &r.name.to_ascii_lowercase()) {
                *field = Some(super::dtable(base, limit));
            }
            return;
        }
        let Some(reg) = seg_reg(&r.name) else {
            return;
        };
        // AVL is optional: some printouts leave it out.
        let raw = match kvm_segment_of(&r.fields, &["avl"]) {
            Ok(raw) => raw,
            Err(missing) => {
                d.note(format!(
                    "line {}: the {} entry is cut short (no {}): not read",
                    r.line,
                    r.name,
                    missing.join(", ")
                ));
                return;
            }
        };
        super::put_kvm_segment(d, reg, raw, r.line, &r.name);
    }

    fn close(&mut self) {
        self.end_record();
        if let Some(d) = self.cur.take() {
            if d.guest.segments.iter().any(|(_, s)| s.is_some()) {
                self.out.push(d);
            }
        }
        self.seen.clear();
    }

    fn scalar(&mut self, key: &str, value: u64, line: usize) -> bool {
        let Some(field) = super::register_field(&mut self.dump(line).guest, key) else {
            return false;
        };
        *field = Some(value);
        true
    }
}

/// Every `kvm_sregs` printout in the words.
#[must_use]
pub fn read(words: &mut Words<'_>) -> Vec<RawDump> {
    let mut r = Reader::default();
    // A key whose value is the next word (`base: 0x…`).
    let mut pending: Option<(String, usize)> = None;
    while let Some(w) = words.next_word() {
        if r.out.len() >= MAX_DUMPS {
            break;
        }
        let line = w.line;
        if matches!(w.text, "KVM_GET_REGS" | "KVM_GET_SREGS") && r.cur.is_none() {
            r.dump(line);
            continue;
        }
        let next_is_base = words
            .peek(0)
            .is_some_and(|n| n.text.trim_start_matches('{').starts_with("base:"));
        for (t, closes) in tokens(w.text) {
            if let Some((key, at)) = pending.take() {
                if let Some(v) = number(t) {
                    take(&mut r, &key, v, at);
                    continue;
                }
            }
            let name = t.trim_end_matches(':');
            let is_record = (seg_reg(name).is_some() || matches!(name, "GDT" | "IDT"))
                && (next_is_base || w.text.contains("{base:"));
            if is_record {
                if r.seen.iter().any(|s| s == name) {
                    r.close();
                }
                r.end_record();
                r.seen.push(String::from(name));
                r.dump(line);
                r.record = Some(Record {
                    name: String::from(name),
                    line,
                    fields: [None; 12],
                });
                continue;
            }
            if let Some((key, value)) = t.split_once(':') {
                let key = key.to_ascii_lowercase();
                match number(value) {
                    Some(v) if !value.is_empty() => take(&mut r, &key, v, line),
                    _ if value.is_empty() => pending = Some((key, line)),
                    _ => {}
                }
            }
            if closes {
                r.end_record();
            }
        }
    }
    r.close();
    r.out
}

/// One `key: value`: a field of the record being read, or a register of the dump.
fn take(r: &mut Reader, key: &str, value: u64, line: usize) {
    if let Some(rec) = &mut r.record {
        if rec.set(key, value) {
            return;
        }
    }
    if r.cur.is_some() {
        r.end_record();
        r.scalar(key, value, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;
    use crate::ingest::text::normalise;

    fn read_text(t: &str) -> Vec<RawDump> {
        let lines = normalise(t);
        read(&mut Words::new(&lines))
    }

    #[test]
    fn both_forms_read_every_field_and_name_a_cut_segment() {
        let km = "== KVM_GET_REGS ==\n\
                  RIP: 0x401000     RFLAGS: 0x202\n\
                  == KVM_GET_SREGS ==\n\
                  CS  base: 0x0     limit:0xffffffff selector: 0x33 type: 0xb present: 0x1\n\
                  \x20   dpl:0x3 db:0x0 s:0x1 l:0x1 g:0x1 avl:0x0 unusable:0x0\n\
                  SS  base: 0x0     limit:0xffffffff selector: 0x2b type: 0x3 present: 0x1\n\
                  \x20   dpl:0x3 db:0x1 s:0x1 l:0x0 g:0x1 avl:0x0 unusable:0x0\n\
                  GS  base:\n";
        let d = read_text(km);
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        assert_eq!(g.rip, Some(0x401000));
        assert_eq!(g.rflags, Some(0x202));
        assert_eq!(g.cpl, Some(PrivilegeLevel::Ring3));
        let cs = g.segments[SegReg::Cs].unwrap();
        assert_eq!(cs.selector.0, 0x33);
        assert!(cs.attributes.l);
        assert!(g.segments[SegReg::Gs].is_none());
        assert!(
            d[0].notes
                .iter()
                .any(|n| n.contains("GS entry is cut short"))
        );

        let go = "CS:{base:0 limit:4095 selector:16 typ:9 present:1 DPL:0 DB:0 S:1 L:1 G:1 AVL:0 unusable:0 _:0}\n\
                  GDT:{base:0xffff80c000301a70 limit:71 _:[0 0 0]}\n\
                  CR0:2147745809\n";
        let d = read_text(go);
        assert_eq!(d.len(), 1);
        let g = &d[0].guest;
        assert_eq!(g.segments[SegReg::Cs].unwrap().limit, 4095);
        assert_eq!(g.gdtr.unwrap().limit, 71);
        assert_eq!(g.cr0, Some(2_147_745_809));
    }

    #[test]
    fn other_dialects_segment_lines_are_not_taken() {
        let vmcs = "CS:   sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x0\n\
                    cs:   s: 0010 a: 029b l: ffffffff b: 0000000000000000\n\
                    CS =0033 0000000000000000 ffffffff 00a0fb00 DPL=3 CS64 [-RA]\n";
        assert!(read_text(vmcs).is_empty());
    }
}
