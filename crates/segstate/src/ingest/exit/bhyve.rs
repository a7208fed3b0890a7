//! bhyve's and xhyve's report of a VMX exit they do not handle, read line by line
//! within the report, whatever became of its tabs.
//!
//! `vmexit_vmx` (FreeBSD usr.sbin/bhyve/bhyverun.c, later amd64/vmexit.c; xhyve's and
//! hyperkit's src/xhyve.c) prints, to stderr, before it aborts the VM:
//!
//! ```text
//! vm exit[%d]
//! \treason\t\tVMX
//! \trip\t\t0x%016lx
//! \tinst_length\t%d
//! \tstatus\t\t%d
//! \texit_reason\t%u (%s)        (xhyve and hyperkit: `\texit_reason\t%u`)
//! \tqualification\t0x%016lx
//! \tinst_type\t\t%d
//! \tinst_error\t\t%d
//! ```
//!
//! `%s` is bhyve's `vmexit_vmx_desc()`, the SDM's name of the basic reason from its
//! `vmx_exit_reason_desc` table (`Triple fault`, `Exception or non-maskable interrupt
//! (NMI)`, `Unknown` past its end): words, spaces and parentheses of their own, which
//! say nothing the number does not. A pasted report often has its tabs turned into
//! spaces (a terminal, a Markdown code block, a syslog relay); the words `exit_reason`
//! and `qualification` are no one's in particular outside the report, so they are read
//! only in the lines after a `vm exit[N]` line. The qualification is the exit
//! reason's, printed on the next line, and only an exit reason read has one.

use super::Exit;

/// How many lines after `vm exit[N]` its report may run: its eight field lines, with
/// room for the lines another process interleaves (Docker for Mac's log holds
/// `virtio-net-vpnkit` lines inside hyperkit's report).
const REPORT_LINES: usize = 16;

/// One line of a report, as far as the exit goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReportLine {
    /// `exit_reason N [(name)]`: the exit, its qualification not yet read.
    ExitReason(Exit),
    /// `exit_reason 4294967295`: bhyve's mark of a failed VMLAUNCH or VMRESUME, whose
    /// VM-instruction error the `inst_error` line gives; no exit of its own.
    FailedInstruction,
    /// `qualification 0x…`: the exit qualification of the exit reason before it.
    Qualification(u64),
}

/// The report being read, if one is open.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Report {
    /// The line of its `vm exit[N]`.
    opened: Option<usize>,
    /// Whether its exit reason was read: only then is a qualification its.
    reason: bool,
}

impl Report {
    /// Reads line `no` (its prefix stripped): what it says of the exit when it is a
    /// line of an open report, `None` for any other line. A `vm exit[N]` line opens a
    /// report; its `inst_error` line, a `reason` other than `VMX` or
    /// [`REPORT_LINES`] lines close it.
    pub(crate) fn line(&mut self, no: usize, line: &str) -> Option<ReportLine> {
        let line = line.trim();
        if opens(line) {
            *self = Report {
                opened: Some(no),
                reason: false,
            };
            return None;
        }
        let at = self.opened?;
        if no.saturating_sub(at) > REPORT_LINES {
            self.opened = None;
            return None;
        }
        let (key, rest) = line.split_once(char::is_whitespace)?;
        let rest = rest.trim_start();
        match key {
            "reason" => {
                if rest != "VMX" {
                    self.opened = None;
                }
                None
            }
            "inst_error" => {
                self.opened = None;
                None
            }
            "exit_reason" => {
                // The whole line: the number, then nothing or one parenthesised name.
                let number = match rest.split_once(char::is_whitespace) {
                    Some((n, tail)) if named(tail.trim()) => n,
                    Some(_) => return None,
                    None => rest,
                };
                let reason: u32 = number.parse().ok()?;
                if reason == u32::MAX {
                    return Some(ReportLine::FailedInstruction);
                }
                self.reason = true;
                Some(ReportLine::ExitReason(Exit::VmxExitReason {
                    reason,
                    qualification: None,
                }))
            }
            "qualification" if self.reason => {
                let hex = rest.strip_prefix("0x")?;
                u64::from_str_radix(hex, 16)
                    .ok()
                    .map(ReportLine::Qualification)
            }
            _ => None,
        }
    }
}

/// True for the report's first line, `vm exit[N]`.
fn opens(line: &str) -> bool {
    line.strip_prefix("vm exit[")
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// True when the text after the number is bhyve's name of the reason, `(Triple
/// fault)`: one name in parentheses, which may hold parentheses of its own and which
/// the number already says.
fn named(tail: &str) -> bool {
    tail.strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .is_some_and(|inner| !inner.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::exit::{ExitClass, TripleFaultReport};
    use alloc::format;

    fn read(text: &str) -> alloc::vec::Vec<ReportLine> {
        let mut r = Report::default();
        text.lines()
            .enumerate()
            .filter_map(|(k, l)| r.line(k + 1, l))
            .collect()
    }

    #[test]
    fn the_reason_is_read_whole_with_tabs_or_spaces() {
        // FreeBSD's `exit_reason\t%u (%s)`, a name with parentheses of its own.
        let tabs = "vm exit[0]\n\treason\t\tVMX\n\texit_reason\t0 (Exception or non-maskable interrupt (NMI))\n\tqualification\t0x0000000000000000\n";
        let spaces = tabs.replace('\t', "    ");
        for text in [tabs, spaces.as_str()] {
            let got = read(text);
            assert_eq!(got.len(), 2, "{got:?}");
            let ReportLine::ExitReason(exit) = &got[0] else {
                panic!("{got:?}");
            };
            assert_eq!(exit.class(), ExitClass::VmxExit(0));
            assert_eq!(got[1], ReportLine::Qualification(0));
        }
        let got = read("vm exit[1]\n  exit_reason     2 (Triple fault)\n");
        let ReportLine::ExitReason(exit) = &got[0] else {
            panic!("{got:?}");
        };
        assert_eq!(
            exit.class(),
            ExitClass::TripleFault {
                vector: None,
                by: TripleFaultReport::VmxExit
            }
        );
    }

    #[test]
    fn outside_a_report_the_words_are_nobodys() {
        assert!(read("exit_reason     28\nqualification   0x10030\n").is_empty());
        // A report ends at its inst_error line, and after REPORT_LINES lines.
        assert!(read("vm exit[0]\ninst_error 0\nexit_reason 28\n").is_empty());
        let far = format!("vm exit[0]\n{}exit_reason 28\n", "x\n".repeat(REPORT_LINES));
        assert!(read(&far).is_empty());
        // A line that only starts like the report's is not it.
        assert!(read("vm exit[0]\nexit_reason 28 was seen\n").is_empty());
        // Another kind of report (`reason PAGING`) has no exit reason.
        assert!(read("vm exit[0]\nreason PAGING\nexit_reason 28\n").is_empty());
        // bhyve's ~0: a failed VMLAUNCH or VMRESUME, told by its inst_error line; the
        // qualification after it belongs to no exit.
        assert_eq!(
            read("vm exit[0]\n\texit_reason\t4294967295 (Unknown)\n\tqualification\t0x0\n"),
            [ReportLine::FailedInstruction]
        );
    }
}
