//! Line prefixes: found from the dump grammar, not from a list of loggers.
//!
//! Whatever a logger, mail client or forum puts in front of a dump line —
//! `Mar  3 10:12:01 pve QEMU[1234]: `, `[ 6761.380072] kvm_intel: `, `(XEN) `,
//! `> > `, a tab, a Markdown fence — ends where the dump's own grammar begins. A line
//! that holds a field of any dialect (an *anchor*, e.g. `RAX=`, `CS:`, `sel=`,
//! `*** Guest State`) loses everything before its first anchor. A line without one
//! (a value wrapped onto the next line, a journald continuation indented to the
//! message column) loses a prefix of the same *shape* as the last anchored line's
//! prefix (digits, letters and punctuation in the same places), or its indentation.
//! E-mail quoting (`>` at any depth) and fence markers are peeled first.

use alloc::string::String;

/// The dump grammar's field starts, every dialect. A token must start at a word
/// boundary to count.
const ANCHORS: &[&str] = &[
    // QEMU x86_cpu_dump_state
    "RAX=",
    "RBX=",
    "RCX=",
    "RDX=",
    "RSI=",
    "RDI=",
    "RBP=",
    "RSP=",
    "R8 =",
    "R9 =",
    "R10=",
    "R12=",
    "R16=",
    "RIP=",
    "EAX=",
    "EBX=",
    "ESI=",
    "EIP=",
    "ES =",
    "CS =",
    "SS =",
    "DS =",
    "FS =",
    "GS =",
    "LDT=",
    "TR =",
    "GDT=",
    "IDT=",
    "CR0=",
    // `CR4=` opens a line of a WHP VMM's `NAME=0x…` words (`whp_registers`), where a
    // line starting with it would otherwise lose it to the `EFER=` after it.
    "CR4=",
    "DR0=",
    "DR3=",
    "DR6=",
    "CCS=",
    "EFER=",
    "FCW=",
    "FPR",
    "XMM",
    "YMM",
    "Code=",
    "CPU Reset",
    "SMM:",
    // Linux dump_vmcs, Xen vmcs_dump_vcpu
    "VMCS ",
    "*** ",
    "***************",
    "CR0:",
    "CR4:",
    "CR3 =",
    "PDPTR",
    "PDPTE",
    "RSP =",
    "RIP =",
    "RFLAGS",
    "Sysenter",
    "CS:",
    "DS:",
    "SS:",
    "ES:",
    "FS:",
    "GS:",
    "GDTR:",
    "LDTR:",
    "IDTR:",
    "TR:",
    "EFER",
    "PAT",
    "DebugCtl",
    "PerfGlobCtl",
    "BndCfgS",
    "Interruptibility",
    "InterruptStatus",
    "PinBased",
    "CPUBased",
    "EntryControls",
    "ExceptionBitmap",
    "VMEntry:",
    "VMExit:",
    "reason=",
    "IDTVectoring",
    "sel ",
    // Linux dump_vmcb, Xen svm_vmcb_dump (Linux names an SEV guest before its VMCB)
    "SEV-ES vCPU",
    "SEV-SNP vCPU",
    "VMCB",
    "es:",
    "cs:",
    "ss:",
    "ds:",
    "fs:",
    "gs:",
    "gdtr:",
    "ldtr:",
    "idtr:",
    "tr:",
    "vmpl:",
    "cpl:",
    "cpl =",
    "cr0:",
    "cr3:",
    "dr6:",
    "rip:",
    "rsp:",
    "star:",
    "gpat:",
    "exit_code:",
    "exitcode",
    "CR0 =",
    "CR3 =",
    "DR6 =",
    "RAX =",
    // kvm_sregs printouts (kontain km, gVisor: text::sregs)
    "== KVM_GET",
    "RAX:",
    "RIP:",
    "CS  base",
    "DS  base",
    "ES  base",
    "FS  base",
    "GS  base",
    "SS  base",
    "TR  base",
    "LDT base",
    "GDT base",
    "IDT base",
    "LDT:",
    "GDT:",
    "IDT:",
    "CR2:",
    "CR3:",
    "CR8:",
    "system registers",
    // Rust's `Debug` of kvm-bindings' structs (text::rust_debug)
    "kvm_sregs {",
    "kvm_regs {",
    // exit lines
    "KVM: entry failed",
    "KVM internal error",
    "KVM_EXIT_FAIL_ENTRY",
    "extra data[",
    "emulation failure",
    "kvm: unhandled exit",
    "vmentry failure",
    "VM-entry failure",
    "FailEntry(",
    "Failed to put registers",
    "kvm run failed",
    "KVM_SET_SREGS",
    "check_exception",
    "unhandled exit",
    // bhyve's, xhyve's and hyperkit's exit report opens with `vm exit[N]`: a syslog
    // prefix before it goes, and the report's lines after it lose one of its shape.
    "vm exit[",
    "exit_reason",
    "inst_error",
    "domain_crash called",
    "Unexpected vmexit",
    "WHPX:",
    // Xen's show_registers (ingest::xen_regs; its `RIP:`, `RFLAGS`, `cr0:`, `cr3:`,
    // `ds:` lines are anchored above)
    "rax:",
    "rdx:",
    "rbp:",
    "r9:",
    "r12:",
    "r15:",
    "fsb:",
    // EDK2's exception dump (ingest::edk2_exception): each line's first field, so that
    // a later one (`RFLAGS`) is not taken for where the line starts
    "!!!! X64 Exception",
    "!!!! IA32 Exception",
    "!!!! Find image",
    "!!!! Can't find image",
    "ExceptionData -",
    "RIP  -",
    "EIP  -",
    "RAX  -",
    "RBX  -",
    "RSI  -",
    "R8   -",
    "R11  -",
    "R14  -",
    "EAX  -",
    "ESP  -",
    "DS   -",
    "GS   -",
    "CR0  -",
    "CR4  -",
    "DR0  -",
    "DR3  -",
    "DR6  -",
    "GDTR -",
    "IDTR -",
    "LDTR -",
    "FXSAVE_STATE -",
];

/// Byte offset of the first anchor in `line` that starts a word, if any.
#[must_use]
pub fn anchor(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    (0..bytes.len()).find(|&at| {
        let boundary = at == 0
            || matches!(
                bytes[at - 1],
                b' ' | b'\t' | b']' | b':' | b'>' | b')' | b'"' | b'`'
            );
        boundary
            && ANCHORS
                .iter()
                .any(|a| starts_with_spaced(&bytes[at..], a.as_bytes()))
    })
}

/// Whether `hay` starts with `anchor`, a run of spaces in the anchor matching any run of
/// one or more spaces: web archives and forums collapse the aligned columns of a dump
/// (EDK2's `RIP  - …` pasted as `RIP - …`).
fn starts_with_spaced(hay: &[u8], anchor: &[u8]) -> bool {
    let (mut h, mut a) = (0, 0);
    while a < anchor.len() {
        if anchor[a] == b' ' {
            if hay.get(h) != Some(&b' ') {
                return false;
            }
            while anchor.get(a) == Some(&b' ') {
                a += 1;
            }
            while hay.get(h) == Some(&b' ') {
                h += 1;
            }
        } else if hay.get(h) == Some(&anchor[a]) {
            h += 1;
            a += 1;
        } else {
            return false;
        }
    }
    true
}

/// The shape of a prefix: ASCII digits as `9`, letters as `a`, everything else as is.
fn shape(prefix: &str) -> String {
    prefix
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                '9'
            } else if c.is_alphabetic() {
                'a'
            } else {
                c
            }
        })
        .collect()
}

/// Peels e-mail quoting (`>`, `> >`, `>>`, and `&gt;` as a bug tracker's HTML export
/// leaves it), a leading Markdown fence, and a Markdown code span around the whole
/// line (a poster quoting dump lines one by one in backticks, libvmi/libvmi#344).
pub(crate) fn peel(line: &str) -> &str {
    let mut s = line.trim_end_matches('\r');
    loop {
        let t = s.trim_start_matches([' ', '\t']);
        let span = t
            .trim_end()
            .strip_prefix('`')
            .and_then(|r| r.strip_suffix('`'))
            .filter(|inner| !inner.is_empty() && !inner.contains('`'));
        if let Some(rest) = t.strip_prefix('>').or_else(|| t.strip_prefix("&gt;")) {
            s = rest;
        } else if let Some(inner) = span {
            s = inner;
        } else if let Some(rest) = t.strip_prefix("```").or_else(|| t.strip_prefix("~~~")) {
            // A fence, possibly glued to the first line of the dump ("```(XEN) ...").
            s = rest.trim_start_matches('`').trim_start_matches('~');
            if !s.contains(['=', ':']) {
                return "";
            }
        } else {
            return s;
        }
    }
}

/// Strips prefixes line by line; remembers the last prefix seen.
#[derive(Debug, Default)]
pub struct PrefixStripper {
    last: Option<(usize, String)>,
}

impl PrefixStripper {
    /// The dump text of one input line.
    pub fn strip<'a>(&mut self, raw: &'a str) -> &'a str {
        let line = peel(raw);
        if let Some(at) = anchor(line) {
            let prefix = &line[..at];
            if prefix.trim().is_empty() {
                self.last = None;
            } else {
                self.last = Some((prefix.chars().count(), shape(prefix)));
            }
            return line[at..].trim_end();
        }
        if let Some((n, want)) = &self.last {
            let head: String = line.chars().take(*n).collect();
            if head.chars().count() == *n && shape(&head) == *want {
                let cut = line.char_indices().nth(*n).map_or(line.len(), |(i, _)| i);
                return line[cut..].trim();
            }
        }
        line.trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip_all(text: &str) -> alloc::vec::Vec<String> {
        let mut p = PrefixStripper::default();
        text.lines().map(|l| String::from(p.strip(l))).collect()
    }

    #[test]
    fn prefixes_of_every_logger_go() {
        for line in [
            "Mar  3 10:12:01 pve QEMU[1234]: RAX=0000000000000000 RBX=0",
            "[ 6761.380072] kvm_intel: RAX=0000000000000000 RBX=0",
            "(XEN) RAX=0000000000000000 RBX=0",
            "> > > RAX=0000000000000000 RBX=0",
            ">>RAX=0000000000000000 RBX=0",
            "\t  RAX=0000000000000000 RBX=0",
            "```RAX=0000000000000000 RBX=0",
            "&gt; RAX=0000000000000000 RBX=0",
            "&gt; &gt; RAX=0000000000000000 RBX=0",
        ] {
            assert_eq!(strip_all(line), ["RAX=0000000000000000 RBX=0"], "{line}");
        }
    }

    #[test]
    fn an_edk2_exception_line_keeps_its_first_field() {
        // `RFLAGS` is an anchor of dump_vmcs; the line starts at `RIP`.
        for line in [
            "RIP  - 000000007E8D1234, CS  - 0000000000000038, RFLAGS - 0000000000010206",
            "  12: RIP  - 000000007E8D1234, CS  - 0000000000000038, RFLAGS - 0000000000010206",
            "qemu    | RIP  - 000000007E8D1234, CS  - 0000000000000038, RFLAGS - 0000000000010206",
        ] {
            assert!(strip_all(line)[0].starts_with("RIP  - 0"), "{line}");
        }
        // Its columns collapsed to one space by a web archive or a forum.
        for line in [
            "RIP - AFAFAFAFAFAFAFAF, CS - 0000000000000038, RFLAGS - 0000000000000206",
            "qemu    | RIP - AFAFAFAFAFAFAFAF, CS - 0000000000000038, RFLAGS - 0000000000000206",
        ] {
            assert!(strip_all(line)[0].starts_with("RIP - A"), "{line}");
        }
        assert_eq!(
            strip_all("&gt;| !!!! X64 Exception Type - 0D(#GP - General Protection)"),
            ["!!!! X64 Exception Type - 0D(#GP - General Protection)"]
        );
        assert_eq!(
            strip_all("Idx:0 Output:!!!! X64 Exception Type - 0E")[0],
            "!!!! X64 Exception Type - 0E"
        );
    }

    #[test]
    fn a_continuation_loses_a_prefix_of_the_same_shape() {
        let text = "[ 12.000001] CS =0033 0000000000000000\n[ 12.000002] ffffffff 00a0fb00\n";
        assert_eq!(
            strip_all(text),
            ["CS =0033 0000000000000000", "ffffffff 00a0fb00"]
        );
        // A line of another shape keeps its text.
        assert_eq!(
            strip_all("[ 1.5] RAX=0\nhello world"),
            ["RAX=0", "hello world"]
        );
    }

    #[test]
    fn an_anchor_must_start_a_word() {
        assert_eq!(anchor("XRAX=1"), None);
        assert_eq!(anchor("foo: CS:   sel=0x10"), Some(5));
        assert_eq!(peel("```"), "");
        assert_eq!(peel("~~~text"), "");
    }

    /// docker/for-mac#1345: hyperkit's report in the macOS log, `vm exit[0]` behind a
    /// syslog prefix, which goes, and so does the same prefix on the report's lines.
    #[test]
    fn a_bhyve_report_loses_its_syslog_prefix() {
        let text = "Feb 27 10:22:15 MacBook-Pro-2 Docker[92529]: vm exit[0]\n\
                    Feb 27 10:22:15 MacBook-Pro-2 Docker[92529]:    reason          VMX\n";
        assert_eq!(strip_all(text), ["vm exit[0]", "reason          VMX"]);
    }

    /// microsandbox#1095's second line of words: `CR4=` is kept, not taken for a
    /// prefix before the `EFER=` anchor.
    #[test]
    fn a_line_opening_with_cr4_keeps_it() {
        let line = "CR4=0x00000000000000b0  EFER=0x0000000000000d01  RSP=0xffffffff82203d70";
        assert_eq!(strip_all(line), [line]);
    }

    #[test]
    fn a_code_span_around_the_whole_line_is_peeled() {
        let line = "`FS =0053 000000007fea9000 00003c00 0040f300`";
        assert_eq!(peel(line), "FS =0053 000000007fea9000 00003c00 0040f300");
        assert_eq!(
            peel("> `CS =0010 0 ffffffff 00c09b00` "),
            "CS =0010 0 ffffffff 00c09b00"
        );
        // A span inside prose, or an empty one, is not a line's whole.
        assert_eq!(peel("see `CS =0010` above"), "see `CS =0010` above");
        assert_eq!(peel("``"), "``");
    }
}
