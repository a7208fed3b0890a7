//! Xen's report of an instruction of an HVM guest its x86 emulator could not carry
//! out: `hvm_dump_emulation_state` (xen/arch/x86/hvm/emulate.c), as Xen 4.10 and later
//! print it,
//!
//! ```text
//! MMIO emulation failed (1): d1v0 16bit @ f000:0000fea7 -> 66 ea af fe ff ff 10 00
//! ```
//!
//! `"%s emulation failed (%d): %pv %s @ %04x:%08lx -> %*ph"`: the caller's word (the
//! `descr` of `hvm_emulate_one_insn`, xen/arch/x86/hvm/io.c: `MMIO`, `port I/O`, `CR
//! access`, `invlpg`, `sysdesc access`; `Real-mode` from vmx/realmode.c, `SVM Insn
//! len` from svm/emulate.c, `Mem event` from emulate.c), the emulator's return code
//! (`X86EMUL_*`, xen/arch/x86/x86_emulate/x86_emulate.h: 1 `UNHANDLEABLE`, 5
//! `UNIMPLEMENTED` = `UNRECOGNIZED`), the vCPU (`%pv`, `d1v0`), the guest's mode
//! (`guest_x86_mode_to_str`: `Real`, `vm86`, `16bit`, `32bit`, `64bit`; `v86` before
//! Xen 4.9), CS's selector, the instruction's offset (`insn_buf_eip`), then the bytes
//! the emulator fetched (up to 16, none when the fetch itself failed). Xen 4.5 to 4.9
//! print the same without ` (%d)` (commit 1c1c39e2 added it); before 4.5 (commit
//! 96720ccf) the line was `MMIO emulation failed @ %04x:%lx: ` and ten bytes, with no
//! vCPU or mode (`Real-mode emulation failed @ …`, six bytes; `Emulation failed @ …`
//! for a memory event).
//!
//! What follows in Xen: `hvm_emulate_one_insn`'s callers inject #GP(0) into the guest
//! on `UNHANDLEABLE` (hvm.c `hvm_hap_nested_page_fault`, vmx.c's APIC-access and
//! port-I/O exits) and it injects #UD itself on `UNRECOGNIZED`; a failure in VMX's
//! real-mode emulation crashes the domain (`realmode_emulate_one`, then
//! `domain_crash`). The guest ran into it; no VM entry failed.

use alloc::vec::Vec;

use crate::ingest::text::hex;

/// The callers' words, as `hvm_dump_emulation_state`'s `prefix`.
const CALLERS: [&str; 8] = [
    "MMIO",
    "port I/O",
    "CR access",
    "invlpg",
    "sysdesc access",
    "Real-mode",
    "SVM Insn len",
    "Mem event",
];

/// The most instruction bytes the line carries (`insn_buf`, 16 bytes).
const MAX_BYTES: usize = 16;

/// One `… emulation failed …` line of Xen's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XenEmulationFailure {
    /// What asked for the emulation: `MMIO`, `port I/O`, `Real-mode`, …;
    /// `Mem event` for Xen 4.4's `Emulation failed @` with no word before it.
    pub caller: &'static str,
    /// The emulator's `X86EMUL_*` return code (Xen 4.10 on): 1 unhandleable, 5
    /// unimplemented or unrecognised.
    pub rc: Option<u8>,
    /// The guest's mode as the line names it (Xen 4.5 on), canonical: `Real`, `vm86`,
    /// `16bit`, `32bit`, `64bit`, `Unknown`.
    pub mode: Option<&'static str>,
    /// CS's selector.
    pub cs: u16,
    /// The instruction's offset in CS.
    pub ip: u64,
    /// The bytes the emulator fetched from there (none when the fetch failed).
    pub bytes: Vec<u8>,
}

impl XenEmulationFailure {
    /// The width the line's mode decodes instructions in: real, virtual-8086 and 16-bit
    /// protected mode 16, then 32 and 64; `None` when the line names no mode.
    #[must_use]
    pub fn code_bits(&self) -> Option<u32> {
        match self.mode? {
            "Real" | "vm86" | "16bit" => Some(16),
            "32bit" => Some(32),
            "64bit" => Some(64),
            _ => None,
        }
    }

    /// What Xen does next, in words, by the caller and return code.
    #[must_use]
    pub fn consequence(&self) -> &'static str {
        match (self.caller, self.rc) {
            ("Real-mode", _) => "Xen crashes the domain (realmode_emulate_one)",
            (_, Some(5)) => "Xen injects #UD into the guest (X86EMUL_UNRECOGNIZED)",
            ("MMIO" | "port I/O", _) => "Xen injects #GP(0) into the guest (X86EMUL_UNHANDLEABLE)",
            _ => "Xen goes on as its caller decides",
        }
    }
}

/// Reads Xen's emulation-failure line, in any of its three shapes; `None` for any other
/// line (another program's `emulation failed` has no caller word of Xen's, or not
/// Xen's `@ SSSS:OFFSET`).
#[must_use]
pub fn parse(line: &str) -> Option<XenEmulationFailure> {
    let (caller, rest) = if let Some(at) = line.find(" emulation failed") {
        let before = &line[..at];
        let caller = CALLERS.into_iter().find(|c| {
            before.ends_with(c)
                && before[..before.len() - c.len()]
                    .chars()
                    .next_back()
                    .is_none_or(|ch| !ch.is_ascii_alphanumeric())
        })?;
        (caller, &line[at + " emulation failed".len()..])
    } else {
        // Xen 4.4's memory-event line, `Emulation failed @ SSSS:OFFSET: …`.
        let at = line.find("Emulation failed @")?;
        ("Mem event", &line[at + "Emulation failed".len()..])
    };
    let mut rc = None;
    let mut rest = rest;
    if let Some(r) = rest.strip_prefix(" (") {
        let (n, tail) = r.split_once("):")?;
        rc = Some(n.trim().parse().ok()?);
        rest = tail;
    } else if let Some(r) = rest.strip_prefix(':') {
        rest = r;
    }
    let mut words = rest.split_whitespace();
    let mut mode = None;
    let mut first = words.next()?;
    if first != "@" {
        // `%pv %s @`: the vCPU, then the mode.
        let vcpu = first.strip_prefix('d')?;
        if !vcpu.contains('v') {
            return None;
        }
        let word = words.next()?;
        mode = Some(
            ["Real", "vm86", "16bit", "32bit", "64bit", "Unknown"]
                .into_iter()
                .find(|m| *m == word)
                .or_else(|| (word == "v86").then_some("vm86"))?,
        );
        first = words.next()?;
    }
    if first != "@" {
        return None;
    }
    let place = words.next()?;
    let (cs, ip) = place.trim_end_matches(':').split_once(':')?;
    if cs.len() != 4 {
        return None;
    }
    let cs = u16::try_from(hex(cs)?).ok()?;
    let ip = hex(ip)?;
    let mut words = words.peekable();
    if words.peek() == Some(&"->") {
        words.next();
    }
    let bytes = words
        .map_while(|w| {
            (w.len() == 2)
                .then(|| u8::from_str_radix(w, 16).ok())
                .flatten()
        })
        .take(MAX_BYTES)
        .collect();
    Some(XenEmulationFailure {
        caller,
        rc,
        mode,
        cs,
        ip,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_reads_to_its_fields() {
        let e = parse(
            "MMIO emulation failed (1): d1v0 16bit @ f000:0000fea7 -> 66 ea af fe ff ff 10 00",
        )
        .expect("4.10 shape");
        assert_eq!(
            (e.caller, e.rc, e.mode, e.cs, e.ip),
            ("MMIO", Some(1), Some("16bit"), 0xf000, 0xfea7)
        );
        assert_eq!(e.bytes, [0x66, 0xea, 0xaf, 0xfe, 0xff, 0xff, 0x10, 0x00]);
        assert_eq!(e.code_bits(), Some(16));
        // No bytes: the fetch itself failed (a trailing space kept).
        let e = parse("MMIO emulation failed (1): d29v0 32bit @ 0008:fffeedfd -> ").unwrap();
        assert_eq!((e.cs, e.ip, e.code_bits()), (8, 0xfffe_edfd, Some(32)));
        assert!(e.bytes.is_empty());
        // Xen 4.5 to 4.9: no return code; `v86` named `vm86` since.
        let e = parse("port I/O emulation failed: d3v1 v86 @ 0000:00007c00 -> 6c").unwrap();
        assert_eq!((e.caller, e.rc, e.mode), ("port I/O", None, Some("vm86")));
        assert_eq!(e.bytes, [0x6c]);
        // Before 4.5: no vCPU or mode, a colon after the place.
        let e =
            parse("io.c:204:d1 MMIO emulation failed @ 0010:ffffffff8103a4e3: 0f 09 00").unwrap();
        assert_eq!((e.mode, e.cs, e.ip), (None, 0x10, 0xffff_ffff_8103_a4e3));
        assert_eq!(e.bytes, [0x0f, 0x09, 0x00]);
        let e = parse("Emulation failed @ 0008:c0101000: 0f 01 f8").unwrap();
        assert_eq!(e.caller, "Mem event");
        let e =
            parse("Real-mode emulation failed (5): d2v0 Real @ f000:0000e05b -> 0f 0b").unwrap();
        assert!(e.consequence().contains("crashes the domain"));
    }

    #[test]
    fn other_programs_lines_are_not_xen_s() {
        for line in [
            "WHPX: Failed to emulate MMIO access with EmulatorReturnStatus: 2",
            "KVM: emulation failed, rip 0x1234",
            "XMMIO emulation failed (1): d1v0 16bit @ f000:0000fea7 -> 66",
            "MMIO emulation failed (x): d1v0 16bit @ f000:0000fea7 -> 66",
            "MMIO emulation failed (1): 16bit @ f000:0000fea7 -> 66",
            "MMIO emulation failed (1): d1v0 8bit @ f000:0000fea7 -> 66",
            "MMIO emulation failed: somewhere",
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }
}
