//! Which dump a field of a word-by-word printout belongs to, for the printouts of
//! `kvm_sregs` whose fields stand a few lines apart (qemu-kvm's [`super::show_regs`],
//! kvmtool's [`super::kvmtool`]): a field goes with the dump being read unless it is
//! too far on or its name was read already, which starts another dump. So a log holding
//! a printout twice reads as two dumps, and a stray field elsewhere in a log is not
//! merged into one.

use alloc::format;
use alloc::vec::Vec;

use crate::format::kvm::KvmSegment;
use crate::ingest::log::{Dialect, MAX_DUMPS, RawDump};

/// The dumps of one printout dialect over a log, and the one being read.
pub(crate) struct Printouts<'a> {
    /// The dumps read whole.
    pub out: Vec<RawDump>,
    /// The dump being read.
    pub cur: Option<RawDump>,
    /// The names read into `cur`: one printed again starts another dump.
    seen: Vec<&'a str>,
    /// The most lines between two fields of one dump.
    max_gap: usize,
}

impl<'a> Printouts<'a> {
    /// No dump yet; fields up to `max_gap` lines apart are one dump's.
    pub fn new(max_gap: usize) -> Self {
        Printouts {
            out: Vec::new(),
            cur: None,
            seen: Vec::new(),
            max_gap,
        }
    }

    /// True when the log holds as many dumps as are read ([`MAX_DUMPS`]).
    pub fn full(&self) -> bool {
        self.out.len() >= MAX_DUMPS
    }

    /// True when a field on `line` belongs to the dump being read.
    pub fn within(&self, line: usize) -> bool {
        self.cur
            .as_ref()
            .is_some_and(|d| line <= d.lines.last.saturating_add(self.max_gap))
    }

    /// True when a field named `name` on `line` starts another dump: the one being
    /// read (if any) ends first, with [`Printouts::close`] or the reader's own ending.
    pub fn starts_another(&self, name: &str, line: usize) -> bool {
        self.cur.is_some() && (!self.within(line) || self.seen.contains(&name))
    }

    /// The dump a field named `name` on `line` goes into, opened when none is being
    /// read; the caller has ended the last one where [`Printouts::starts_another`].
    pub fn open(&mut self, name: &'a str, line: usize) -> &mut RawDump {
        self.seen.push(name);
        let d = self
            .cur
            .get_or_insert_with(|| RawDump::new(Dialect::KvmSregsPrint, line));
        d.lines.extend_to(line);
        d
    }

    /// The dump a field named `name` on `line` goes into, the one being read ending
    /// (and kept when it holds a segment) where the field starts another.
    pub fn dump(&mut self, name: &'a str, line: usize) -> &mut RawDump {
        if self.starts_another(name, line) {
            self.close();
        }
        self.open(name, line)
    }

    /// A remark about a field on `line` that could not be read, when a dump is being
    /// read there (outside one, the word is not this dialect's).
    pub fn note(&mut self, line: usize, text: &str) {
        if self.within(line) {
            if let Some(d) = &mut self.cur {
                d.lines.extend_to(line);
                d.note(format!("line {line}: {text}"));
            }
        }
    }

    /// Ends the dump being read; it counts as a dump when it holds a segment.
    pub fn close(&mut self) {
        if let Some(d) = self.cur.take() {
            if !self.full() && d.guest.segments.iter().any(|(_, s)| s.is_some()) {
                self.out.push(d);
            }
        }
        self.seen.clear();
    }
}

/// A `kvm_segment` from a printout that shows every field but `unusable`: read as 0,
/// with `present` as printed. That is the segment KVM_GET_SREGS gave (KVM reports an
/// unusable segment as not present: `vmx_get_segment`'s `var->present =
/// !var->unusable`, `svm_get_segment` alike; the KVM of qemu-kvm's era zeroed every
/// attribute of one) and the one KVM_SET_SREGS takes back (`vmx_segment_access_rights`
/// makes a segment that is not present unusable), so the state is what KVM would enter.
/// `flags` are p, dpl, db, s, l, g, avl.
pub(crate) fn unusable_unprinted(
    base: u64,
    limit: u64,
    selector: u64,
    type_: u8,
    flags: [u8; 7],
) -> KvmSegment {
    let [present, dpl, db, s, l, g, avl] = flags;
    KvmSegment {
        base,
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
        selector: u16::try_from(selector).unwrap_or(u16::MAX),
        type_,
        present,
        dpl,
        db,
        s,
        l,
        g,
        avl,
        unusable: 0,
        padding: 0,
    }
}

/// The `kvm_segment` fields in declaration order (`struct kvm_segment` in Linux's
/// `arch/x86/include/uapi/asm/kvm.h`), as the field-by-field printouts name them;
/// `padding` is not read.
pub(crate) const SEGMENT_KEYS: [&str; 12] = [
    "base", "limit", "selector", "type", "present", "dpl", "db", "s", "l", "g", "avl", "unusable",
];

/// The index in [`SEGMENT_KEYS`] of a printed field name: `type` is also spelled
/// `type_` (bindgen's name, kvm-bindings), `_type` (hand-written Rust bindings) and
/// `typ` (gVisor).
pub(crate) fn segment_key(key: &str) -> Option<usize> {
    let key = match key {
        "type_" | "_type" | "typ" => "type",
        k => k,
    };
    SEGMENT_KEYS.iter().position(|k| *k == key)
}

/// The `kvm_segment` a printout showed as its twelve fields (indexed as
/// [`SEGMENT_KEYS`]); `Err` names the fields it lacks, those in `optional` aside
/// (read as 0). A value wider than its field is kept at the most the field holds.
pub(crate) fn kvm_segment_of(
    f: &[Option<u64>; 12],
    optional: &[&str],
) -> Result<KvmSegment, Vec<&'static str>> {
    let missing: Vec<&'static str> = SEGMENT_KEYS
        .iter()
        .zip(f)
        .filter(|(k, v)| v.is_none() && !optional.contains(k))
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let byte = |i: usize| u8::try_from(f[i].unwrap_or(0)).unwrap_or(u8::MAX);
    Ok(KvmSegment {
        base: f[0].unwrap_or(0),
        limit: u32::try_from(f[1].unwrap_or(0)).unwrap_or(u32::MAX),
        selector: u16::try_from(f[2].unwrap_or(0)).unwrap_or(u16::MAX),
        type_: byte(3),
        present: byte(4),
        dpl: byte(5),
        db: byte(6),
        s: byte(7),
        l: byte(8),
        g: byte(9),
        avl: byte(10),
        unusable: byte(11),
        padding: 0,
    })
}
