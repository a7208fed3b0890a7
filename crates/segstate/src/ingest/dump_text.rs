//! The states of a pasted text: every dump and exit line [`log::read_log`] finds, as
//! [`Input`]s labelled by dialect and line, a whole QEMU dump's strict reading beside
//! its tolerant one, and the refusals of a text with none (or with another
//! architecture's registers only, or a program debugger's register display, or
//! VirtualBox's host registers, or Xen's own or a PV guest's, or `xenctx`'s).

use alloc::format;
use alloc::vec::Vec;

use super::{
    Input, InputError, InputFormat, debugger_regs, err, judge, log, other_arch, qemu_dump, text,
    vbox_log, xen_regs, xenctx,
};
use crate::check::report::Source;

/// The error of a text input without a single dump.
pub(super) const NO_DUMP: &str = "line 1: no CPU state dump found: no QEMU CPU state dump (`RAX=`/`EAX=` \
                       lines), no kernel dump_vmcs/dump_vmcb, Xen, HAXM, hyperkit or Bochs \
                       dump, no bhyvectl --get-all output, no kvm_sregs printout (kvmtool's \
                       `register  selector  base` table, OpenDCDiag's `Register dump:`, \
                       openvmm's `cs=SegmentRegister {` trace and a Rust VMM's `kvm_sregs { cs: \
                       kvm_segment {` Debug among them), no VirtualBox `Guest \
                       CPUM` dump, no hyperlight `WHV_REGISTER_NAME(n) - 0x…` listing, no gdb \
                       `info registers` with control registers, no EDK2 \
                       exception dump (`!!!! X64 Exception Type`), and no VM exit line; JSON must start with `{`";

pub(super) fn read(text: &str) -> Result<Vec<Input>, InputError> {
    if text.len() > text::MAX_TEXT {
        return Err(err(format!(
            "{} bytes of text: more than the {} MiB a log of dumps can need; cut out the dumps",
            text.len(),
            text::MAX_TEXT >> 20
        )));
    }
    let dumps = read_dumps_from(text, 1)?;
    if dumps.is_empty() {
        // A wtf regs.json pasted in an issue, with nothing else to read.
        #[cfg(feature = "serde")]
        if let Some(wtf) = super::wtf::read_paste(text, 1) {
            return wtf.map(|i| vec![i]);
        }
        let mut why = NotADump::default();
        text.lines()
            .enumerate()
            .for_each(|(k, l)| why.push(k + 1, l));
        if let Some(refusal) = why.refusal() {
            return Err(err(refusal));
        }
        return Err(match qemu_dump::parse(text) {
            Err(e) => err(format!("QEMU dump: {e}")),
            Ok(_) => err(NO_DUMP),
        });
    }
    Ok(dumps)
}

/// What a text with no dump shows instead, noted line by line (a whole text here, a
/// log read a part at a time in [`super::source`]): the first line of each kind of
/// register listing that is no guest state, for the refusal that names it.
#[derive(Debug, Default)]
pub(super) struct NotADump {
    /// VirtualBox's `Host CPUM state:` header: the host's registers.
    vbox_host: Option<usize>,
    /// Xen's register dump of itself or of a PV guest: no HVM guest's.
    xen_other: Option<(usize, String)>,
    /// A program debugger's register display, by its flags line.
    display: Option<(usize, debugger_regs::Debugger)>,
    /// Xen's `xenctx` output: a vCPU's selectors and registers, no descriptor cache.
    xenctx: Option<usize>,
}

impl NotADump {
    /// Notes line `line_no`, `line`.
    pub(super) fn push(&mut self, line_no: usize, line: &str) {
        if self.vbox_host.is_none() && vbox_log::host_state_header(line) {
            self.vbox_host = Some(line_no);
        }
        if self.xen_other.is_none() {
            self.xen_other = xen_regs::other_context(line).map(|c| (line_no, c));
        }
        if self.display.is_none() {
            self.display = debugger_regs::flags_line(line).map(|d| (line_no, d));
        }
        if self.xenctx.is_none() && xenctx::line(line) {
            self.xenctx = Some(line_no);
        }
    }

    /// The refusal of the text, the most specific first: VirtualBox's host state
    /// (printed in WinDbg's layout, so also a "display"), Xen's own or a PV guest's
    /// registers, `xenctx`'s output, a debugger's display; `None` when it shows none of
    /// them.
    pub(super) fn refusal(self) -> Option<alloc::string::String> {
        if let Some(line) = self.vbox_host {
            return Some(vbox_log::host_state_refusal(line));
        }
        if let Some((line, context)) = self.xen_other {
            return Some(xen_regs::other_context_refusal(line, &context));
        }
        if let Some(line) = self.xenctx {
            return Some(xenctx::refusal(line));
        }
        self.display
            .map(|(line, debugger)| debugger_regs::refusal(line, debugger))
    }
}

/// The dumps of `text`, a part of a log whose first line is line `first_line`, read by
/// the tolerant readers ([`log::read_log`]); none is not an error here (a part may hold
/// only log noise).
pub(super) fn read_dumps_from(text: &str, first_line: usize) -> Result<Vec<Input>, InputError> {
    let shift = first_line - 1;
    // Dumps QEMU printed exactly as it prints them also get the checks only a whole
    // dump allows (its printed CPL and suffixes against its flags). A quoted-printable
    // text is not that: only the log readers see it decoded.
    let encoded = text::quoted_printable::decode(text).evidence.is_some();
    let strict = if encoded {
        Vec::new()
    } else {
        qemu_dump::parse(text).unwrap_or_default()
    };
    let dumps: Vec<Input> = log::read_log_from(text, first_line)
        .into_iter()
        .map(|d| {
            let whole = (d.dialects == [log::Dialect::Qemu])
                .then(|| strict.iter().find(|s| s.line + shift == d.line).cloned())
                .flatten()
                .map(|mut q| {
                    q.line += shift;
                    q
                });
            let label = match d.dialects.as_slice() {
                [] => format!("exit lines at line {}", d.line),
                [log::Dialect::Qemu] => format!("dump at line {}", d.line),
                many => format!(
                    "{} at line {}",
                    many.iter()
                        .map(|x| x.name())
                        .collect::<Vec<_>>()
                        .join(" + "),
                    d.line
                ),
            };
            Input {
                label,
                format: InputFormat::Dump,
                state: judge::assumed_state(&d.guest),
                source: Source::GuestView,
                notes: d.notes.clone(),
                dump: whole,
                log: Some(d),
                vmcb_cpl_byte: None,
                guest: None,
                instruction_in_memory: None,
            }
        })
        .collect();
    not_another_architecture(text, shift, &dumps)?;
    Ok(dumps)
}

/// Refuses a part whose only x86 reading is exit lines (or nothing) beside another
/// architecture's register dump ([`other_arch`]): QEMU prints `kvm run failed` on every
/// KVM host, and judging that line as an x86 exit would be judging the wrong machine.
fn not_another_architecture(text: &str, shift: usize, dumps: &[Input]) -> Result<(), InputError> {
    let x86 = dumps
        .iter()
        .any(|d| d.log.as_ref().is_some_and(|l| !l.dialects.is_empty()));
    let Some((line, arch)) = other_arch::find(text).filter(|_| !x86) else {
        return Ok(());
    };
    let exit = dumps
        .iter()
        .filter_map(|d| d.log.as_ref()?.exits.first())
        .next()
        .map(|(l, _)| format!("; the exit at line {l} is that host's KVM's"))
        .unwrap_or_default();
    Err(err(format!(
        "line {}: a QEMU {arch} register dump ({}), not x86: segstate judges x86 segment \
         and guest state only{exit}",
        line + shift,
        arch.evidence()
    )))
}
