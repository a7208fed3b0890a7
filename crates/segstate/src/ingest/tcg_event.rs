//! The event a QEMU TCG `-d int` dump was printed for, and whether the dump's IDTR
//! reaches that event's gate.
//!
//! `do_interrupt_all` (QEMU `target/i386/tcg/seg_helper.c`) logs `%6d: v=%02x e=%04x
//! i=%d cpl=%d IP=%04x:… pc=… SP=%04x:…` and then the CPU state, before it reads the
//! gate: the dump after that line is the state the event is delivered from. The gate
//! must lie inside the IDT: bytes `8v .. 8v+7` in protected mode, `16v .. 16v+15` in
//! IA-32e mode, `4v .. 4v+3` in real mode; otherwise delivery raises #GP with error
//! code `8v + 2` (SDM Vol. 3A §6.10 and §6.14.1; the same limits in QEMU's
//! `do_interrupt_protected`, `do_interrupt64`, `do_interrupt_real`). A #GP that cannot be
//! delivered either becomes #DF, then a triple fault: the path of a guest whose IDT is
//! too short, which no register rule names. The same gate sizes tell, for a triple
//! fault in any dialect, an IDTR that holds no gate at all ([`no_gate_note`]).

use alloc::format;
use alloc::string::String;

use crate::arch::{CpuMode, GuestState};

/// An event as the `-d int` line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcgEvent {
    /// `v=`: the vector.
    pub vector: u8,
    /// `i=1`: a software interrupt (INT n).
    pub software: bool,
}

/// The event of one `-d int` line (`v=0d e=0000 i=0 cpl=3 …`), when it is one.
pub(crate) fn parse(line: &str) -> Option<TcgEvent> {
    let mut words = line.split_whitespace().skip_while(|w| !w.starts_with("v="));
    let vector = u8::from_str_radix(words.next()?.strip_prefix("v=")?, 16).ok()?;
    words.next()?.strip_prefix("e=")?;
    let software = match words.next()?.strip_prefix("i=")? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    words.next()?.strip_prefix("cpl=")?;
    Some(TcgEvent { vector, software })
}

/// The size of a gate in `mode`'s IDT.
fn gate_size(mode: CpuMode) -> u32 {
    match mode {
        CpuMode::Real => 4,
        CpuMode::Long64 | CpuMode::Compatibility => 16,
        _ => 8,
    }
}

/// The note on a dump printed for `event` whose IDTR does not reach the event's gate;
/// `None` when it does, or when the dump does not show the IDTR or the mode.
pub(crate) fn idt_note(event: TcgEvent, guest: &GuestState) -> Option<String> {
    let idtr = guest.idtr?;
    let mode = guest.shown_mode().ok()?;
    let start = u32::from(event.vector) * gate_size(mode);
    let end = start + gate_size(mode) - 1;
    if end <= idtr.limit {
        return None;
    }
    let kind = match super::exit::names::exception(event.vector) {
        Some(name) if !event.software => format!("{name}, "),
        _ if event.software => String::from("software interrupt "),
        _ => String::new(),
    };
    let then = if event.vector == 8 {
        "a fault while delivering #DF is a triple fault"
    } else {
        "a #GP the IDT cannot hold either becomes #DF, then a triple fault"
    };
    Some(format!(
        "QEMU printed this state to deliver {kind}vector {v:#04x} (its `v={v:02x}` line), \
         but IDTR.limit {limit:#x} ends before that vector's gate (bytes {start:#x}..={end:#x} \
         in {mode}): delivery raises #GP({code:#x}), and {then} (SDM Vol. 3A §6.10, \
         §6.14.1)",
        v = event.vector,
        limit = idtr.limit,
        code = u32::from(event.vector) * 8 + 2,
    ))
}

/// The note on a triple fault whose dump shows an IDTR too short for any gate (vector
/// 0's): whatever came first, delivering it raised #GP, which could not be delivered
/// either, then #DF and the triple fault. `None` when a gate fits, or when the dump
/// does not show the IDTR or the mode.
pub(crate) fn no_gate_note(guest: &GuestState) -> Option<String> {
    let idtr = guest.idtr?;
    let mode = guest.shown_mode().ok()?;
    let gate = gate_size(mode);
    if idtr.limit >= gate - 1 {
        return None;
    }
    Some(format!(
        "IDTR.limit {limit:#x} holds no gate ({gate} bytes each in {mode}): any exception or \
         interrupt raised #GP on delivery, that #GP #DF, and #DF the triple fault (SDM Vol. \
         3A §6.10, §6.15); the first exception is not in the dump",
        limit = idtr.limit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{DescriptorTable, PerSegReg, PrivilegeLevel, SegmentState};

    #[test]
    fn the_int_line_is_read() {
        let e = parse(
            "     1: v=0d e=0000 i=0 cpl=3 IP=000f:00000000 pc=00000000 SP=0017:0001fff4 \
             env->regs[R_EAX]=00000000",
        );
        assert_eq!(
            e,
            Some(TcgEvent {
                vector: 13,
                software: false
            })
        );
        assert_eq!(
            parse(" 0: v=80 e=0000 i=1 cpl=3 IP=…").map(|e| e.software),
            Some(true)
        );
        assert_eq!(parse("v=0d alone"), None);
        assert_eq!(parse("RAX=0 v=zz e=0000 i=0 cpl=0"), None);
    }

    #[test]
    fn an_idt_too_short_for_the_vector_is_named() {
        // A 32-bit task with an IDT of one gate (limit 7) delivering #GP.
        let mut s: SegmentState = crate::verify::baseline(PrivilegeLevel::Ring3);
        s.cr0 = 0x11;
        s.efer = 0;
        s.rflags = 2;
        s.segments = PerSegReg(s.segments.0.map(|mut g| {
            g.attributes.l = false;
            g.attributes.db = true;
            g
        }));
        let mut g = GuestState::from(&s);
        g.idtr = Some(DescriptorTable { base: 0, limit: 7 });
        let gp = TcgEvent {
            vector: 13,
            software: false,
        };
        let note = idt_note(gp, &g).unwrap();
        assert!(note.contains("vector 0x0d"), "{note}");
        assert!(note.contains("bytes 0x68..=0x6f"), "{note}");
        assert!(note.contains("#GP(0x6a)"), "{note}");
        // Vector 0 fits; an IDT that holds vector 13 is quiet; no IDTR, nothing said.
        assert_eq!(idt_note(TcgEvent { vector: 0, ..gp }, &g), None);
        g.idtr = Some(DescriptorTable {
            base: 0,
            limit: 0x6f,
        });
        assert_eq!(idt_note(gp, &g), None);
        g.idtr = None;
        assert_eq!(idt_note(gp, &g), None);
    }
}
