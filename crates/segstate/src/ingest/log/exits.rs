//! The exit lines of a log: read in order with what belongs to each (extra data,
//! a qualification, a double fault's vector), attached to the dump they go with, and
//! which one decides the verdict.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use super::{LineSpan, LogDump, MAX_EXITS, RawDump, Target};
use crate::arch::GuestState;
use crate::ingest::code_at_rip::{CodeAtRip, InstructionAtRip};
use crate::ingest::exit::{self, Exit, ExitClass, TripleFaultReport};

impl LogDump {
    /// The instruction a hypervisor's emulator failed on, decoded as
    /// [`LogDump::instruction_at_rip`] decodes QEMU's `Code=` bytes; its line is the
    /// exit line's. KVM's: the bytes an emulation failure's extra data carry (suberror
    /// 1 with its instruction-bytes flag), in the width the dump's mode gives. Xen's:
    /// the bytes of its `… emulation failed` line (none when its fetch failed), in the
    /// width the line's mode names, at the offset it names.
    #[must_use]
    pub fn emulated_instruction(&self) -> Option<InstructionAtRip> {
        self.exits.iter().find_map(|(line, e)| match e {
            Exit::Internal { suberror, extra } => {
                let bytes = exit::emulation_instruction_bytes(*suberror, extra)?;
                let code = CodeAtRip::at_rip(*line, &bytes);
                Some(code.instruction(self.code_bits(), self.guest.rip.unwrap_or(0)))
            }
            Exit::XenEmulationFailed(x) if !x.bytes.is_empty() => {
                let code = CodeAtRip::at_rip(*line, &x.bytes);
                Some(code.instruction(x.code_bits(), x.ip))
            }
            _ => None,
        })
    }

    /// The exit that decides the verdict: the first, except that a
    /// `KVM_EXIT_FAIL_ENTRY` named without its reason gives way to a later line of the
    /// same failure that has it (kontain km prints the name, its register dump, then
    /// `KVM: fail entry 0x…`), and an ordinary exit (a trace's `KVM_EXIT_IO`, an EPT
    /// violation) to a later one that ended the run (a shutdown, a failure; not Xen's
    /// `domain_crash`, which follows whatever exit Xen could not handle, and itself
    /// gives way to that exit when a paste quotes it first). Xen's `… emulation
    /// failed` gives way the same way: Xen goes on after it (a #GP injected), and a
    /// later triple fault is what ended the run; before a `domain_crash` it stays.
    #[must_use]
    pub fn exit(&self) -> Option<&Exit> {
        let first = self.exits.first().map(|(_, e)| e)?;
        let later =
            |keep: &dyn Fn(&Exit) -> bool| self.exits.iter().map(|(_, e)| e).find(|e| keep(e));
        if first.class() == ExitClass::EntryFailedNoReason {
            if let Some(e) =
                later(&|e| matches!(e, Exit::FailEntry { .. } | Exit::VmxExitReason { .. }))
            {
                return Some(e);
            }
        }
        let xen_went_on =
            |e: &Exit| matches!(e, Exit::XenDomainCrash { .. } | Exit::XenEmulationFailed(_));
        if first.class().is_ordinary() || xen_went_on(first) {
            if let Some(e) = later(&|e| !e.class().is_ordinary() && !xen_went_on(e)) {
                return Some(e);
            }
        }
        if matches!(first, Exit::XenDomainCrash { .. }) {
            if let Some(e) = later(&|e| matches!(e, Exit::XenEmulationFailed(_))) {
                return Some(e);
            }
        }
        Some(first)
    }
}

/// Every exit line, with extra data folded into its internal error, HAXM's and
/// bhyve's qualification into the exit reason before it, and the vector of QEMU's `-d
/// int` `check_exception old: 0x8 new 0xN` into the `Triple fault` after it. `raw`
/// holds the lines before their prefixes were stripped, in the same order.
pub(super) fn exits(
    lines: &[(usize, String)],
    raw: &[(usize, Cow<'_, str>)],
) -> Vec<(usize, Exit)> {
    let mut out: Vec<(usize, Exit)> = Vec::new();
    let mut double_fault_then: Option<u8> = None;
    let mut report = exit::Report::default();
    for (k, (no, line)) in lines.iter().enumerate() {
        if let Some(v) = exit::extra_data(line) {
            if let Some((_, Exit::Internal { extra, .. })) = out.last_mut() {
                if extra.len() < 16 {
                    extra.push(v);
                }
            }
            continue;
        }
        let reported = report.line(*no, line);
        if let Some(exit::ReportLine::ExitReason(e)) = reported {
            if out.len() < MAX_EXITS {
                out.push((*no, e));
            }
            continue;
        }
        if reported == Some(exit::ReportLine::FailedInstruction) {
            continue;
        }
        let bhyve_q = match reported {
            Some(exit::ReportLine::Qualification(q)) => Some(q),
            _ => None,
        };
        if let Some(q) = bhyve_q.or_else(|| exit::qualification(line)) {
            if let Some((
                _,
                Exit::VmxExitReason {
                    qualification: slot @ None,
                    ..
                },
            )) = out.last_mut()
            {
                *slot = Some(q);
            }
            continue;
        }
        if let Some(v) = double_fault_vector(line) {
            double_fault_then = v;
        }
        if out.len() >= MAX_EXITS {
            break;
        }
        let raw_line = raw.get(k).map_or(line.as_str(), |(_, l)| l.as_ref());
        if let Some(mut e) = exit::parse_line_in(line, raw_line) {
            if let Exit::TripleFault {
                vector,
                by: TripleFaultReport::QemuTcg,
            } = &mut e
            {
                *vector = double_fault_then;
            }
            out.push((*no, e));
        }
    }
    out
}

/// QEMU TCG's `check_exception old: 0x%x new 0x%x` (target/i386/tcg/excp_helper.c):
/// `Some(Some(new))` when the old exception is a double fault (the next is the third,
/// the triple fault's), `Some(None)` for another pair, `None` for another line.
pub(super) fn double_fault_vector(line: &str) -> Option<Option<u8>> {
    let rest = &line[line.find("check_exception old:")? + "check_exception old:".len()..];
    let mut words = rest.split_whitespace();
    let old = words.next()?;
    let new = words.skip_while(|w| *w != "new").nth(1)?;
    let parse = |w: &str| u8::from_str_radix(w.trim_start_matches("0x"), 16).ok();
    Some((parse(old) == Some(8)).then(|| parse(new)).flatten())
}

/// Each exit goes with the dump it falls inside, else the first dump after it, else
/// the last one before it. Exit lines with no dump at all make a dump of their own.
pub(super) fn attach_exits(
    dumps: &mut Vec<LogDump>,
    raws: &[RawDump],
    groups: &[Vec<usize>],
    exits: Vec<(usize, Exit)>,
) {
    let span = |g: &Vec<usize>| {
        g.iter()
            .map(|&i| raws[i].lines)
            .reduce(LineSpan::join)
            .unwrap_or(LineSpan::at(0))
    };
    let mut orphans: Vec<(usize, Exit)> = Vec::new();
    for (line, e) in exits {
        let inside = groups.iter().position(|g| span(g).contains(line));
        let after = groups.iter().position(|g| span(g).first > line);
        let before = groups.iter().rposition(|g| span(g).last < line);
        let list = match inside.or(after).or(before) {
            Some(k) => &mut dumps[k].exits,
            None => &mut orphans,
        };
        // The same exit printed again (per vCPU, per retry) is one failure.
        if !list.iter().any(|(_, x)| x.same_failure(&e)) {
            list.push((line, e));
        }
    }
    if !orphans.is_empty() {
        dumps.push(LogDump {
            line: orphans[0].0,
            dialects: Vec::new(),
            guest: GuestState::default(),
            printed_cpl: None,
            exits: orphans,
            target: Target::Unknown,
            target_reason: String::new(),
            notes: Vec::new(),
            partial_segments: Vec::new(),
            withheld: false,
            named_mode: None,
            named_lma: None,
            code: None,
            smm: None,
        });
    }
    for d in dumps.iter_mut() {
        d.exits.sort_by_key(|(l, _)| *l);
    }
}
