//! How the VMCB and VMCS log readers ([`super::linux_vmcb`], [`super::linux_vmcs`])
//! gather dumps: one dump open at a time, the field keys it has seen (a key printed
//! again starts the next dump), and the finished dumps that have fields.

use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::text::Words;

/// The dumps of one log as a reader finds them. `S` is the reader's own state for
/// the open dump (the VMCS reader's section), reset when a dump opens.
pub(crate) struct Collector<S> {
    /// The finished dumps, in log order.
    pub out: Vec<RawDump>,
    /// The open dump.
    pub cur: Option<RawDump>,
    /// The reader's state for the open dump.
    pub state: S,
    seen: Vec<String>,
    /// The dialect a new dump opens with; a reader that learns the log is Xen's
    /// changes it.
    pub dialect: Dialect,
    /// Applied to a dump as it closes (the VMCS reader takes the CPL from SS.DPL).
    finish: fn(&mut RawDump),
}

impl<S: Default> Collector<S> {
    /// A collector for a log in `linux`, the dialect of a Linux dump, or in its Xen
    /// counterpart when `xen` (the log carries Xen's `(XEN)` prefix).
    pub fn new(linux: Dialect, xen: bool, finish: fn(&mut RawDump)) -> Self {
        let dialect = match linux {
            Dialect::LinuxVmcs if xen => Dialect::XenVmcs,
            Dialect::LinuxVmcb if xen => Dialect::XenVmcb,
            other => other,
        };
        Collector {
            out: Vec::new(),
            cur: None,
            state: S::default(),
            seen: Vec::new(),
            dialect,
            finish,
        }
    }

    /// Runs a reader over `words`: `step` is given each word's line and text and the
    /// next word's text (empty at the end), until the words end or as many dumps as a
    /// reader keeps are read; returns every dump.
    pub fn read<'a>(
        mut self,
        words: &mut Words<'a>,
        mut step: impl FnMut(&mut Self, &mut Words<'a>, usize, &'a str, &'a str),
    ) -> Vec<RawDump> {
        while let Some(w) = words.next_word() {
            if self.full() {
                break;
            }
            let next = words.peek(0).map(|n| n.text).unwrap_or_default();
            step(&mut self, words, w.line, w.text, next);
        }
        self.finish()
    }

    /// True once the log has given as many dumps as a reader keeps.
    pub fn full(&self) -> bool {
        self.out.len() >= MAX_DUMPS
    }

    /// The open dump, opening one at `line` if none is; it now reaches `line`.
    pub fn open(&mut self, line: usize) -> &mut RawDump {
        if self.cur.is_none() {
            self.seen.clear();
            self.state = S::default();
        }
        let dialect = self.dialect;
        let d = self.cur.get_or_insert_with(|| RawDump::new(dialect, line));
        d.lines.extend_to(line);
        d
    }

    /// Finishes the open dump, keeping it if it has fields.
    pub fn close(&mut self) {
        if let Some(mut d) = self.cur.take() {
            (self.finish)(&mut d);
            if d.has_fields() {
                self.out.push(d);
            }
        }
    }

    /// Marks `key` seen in the open dump; a repeat closes it and opens the next.
    pub fn see(&mut self, key: &str, line: usize) -> &mut RawDump {
        if self.seen.iter().any(|k| k == key) {
            self.close();
        }
        self.open(line);
        self.seen.push(String::from(key));
        self.open(line)
    }

    /// Closes the last dump and returns them all.
    pub fn finish(mut self) -> Vec<RawDump> {
        self.close();
        self.out
    }
}
