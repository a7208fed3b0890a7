//! Guest state the hypervisor does not expose: what the dumps of a protected guest (AMD
//! SEV-ES and SEV-SNP, Intel TDX) show in place of its registers. Whether a dump holds
//! such a guest's registers, and what a report says of it, is decided here and nowhere
//! else.
//!
//! - **A Linux `dump_vmcb` of an SEV-ES or SEV-SNP guest.** The kernel names the guest
//!   before the VMCB (`kvm_amd: SEV-SNP vCPU1 VMCB …`, Linux `arch/x86/kvm/svm/svm.c`
//!   `dump_vmcb`). Its registers are kept in the VMSA, encrypted; the kernel prints them
//!   only when the guest's policy allows debugging (it decrypts the VMSA then), so the
//!   dump is judged on what it shows and the note says what is beyond it
//!   ([`sev_vmcb_note`]).
//! - **A QEMU dump of a vCPU whose registers KVM withholds.** For a protected vCPU
//!   (`guest_state_protected`: SEV-ES/SNP, and TDX without the DEBUG attribute)
//!   `__get_sregs_common` (Linux `arch/x86/kvm/x86.c`, since 5265713a0737, 5.11) skips the
//!   segments, descriptor tables, CR2 and CR3, which `KVM_GET_SREGS` returns zeroed, and
//!   reports only the CR0, CR4 and EFER KVM tracks: for TDX, `tdx_vcpu_create`
//!   (`arch/x86/kvm/vmx/tdx.c`) sets EFER to SCE | LME | LMA | NX (0xd01) and leaves all of
//!   CR0 to the guest, so KVM reads it as 0. QEMU prints that as it prints a state it read.
//!   It is no CPU's state: CR0.ET is hardwired to 1 on every P6 and later processor (SDM
//!   Vol. 3A §2.5) and forced to 1 on AMD's (APM Vol. 2 §3.1.1), KVM's `kvm_set_cr0` sets
//!   it, and QEMU's reset (0x60000010) and its emulator keep it; an SEV-SNP guest's dump
//!   shows CR0 = 0x80000001, PG and PE without ET (AMDSEV issue 100). Nor is RFLAGS = 0, whose
//!   bit 1 is 1 on every x86 processor (SDM Vol. 1 §3.4.3): QEMU prints it for a vCPU
//!   whose `KVM_GET_REGS` it never got (Launchpad #1876678, a nested guest's emulation
//!   failure: CR0 0x80050033, EFER 0xd01, everything else zero). Nor is paging with
//!   EFER.LME set and LMA clear, LMA being the processor's own (AMDSEV issue 138: CR0
//!   0x80010033, EFER 0x900, an SEV-SNP guest past its first CR0 write). So a QEMU dump
//!   with CR0 = 0, CR0.ET clear, RFLAGS = 0 or that EFER, and all eight segment
//!   registers empty
//!   ([`shows_no_registers`]),
//!   carries no registers: its values are dropped, its note says why
//!   ([`withheld_note`]), and nothing is judged.
//!
//! A `-d cpu_reset` dump before a vCPU's first reset shows such zeros too; it is already
//! named for what it is (`qemu_log`, the state as a reset begins) and judged on the
//! architecture alone, so it is left out here, as are an emulator's logs (TCG, Bochs),
//! which have no protected guests. Another VMM's `kvm_sregs` printout is not read so
//! either: `KVM_SET_SREGS` does not force CR0.ET, so a VMM can hand KVM an all-zero state
//! and read it back, a state that was really asked to run.

use alloc::format;
use alloc::string::String;

use super::log::{Dialect, LogDump, Target};
use crate::arch::{Attributes, CR0_ET, CR0_PG, EFER_LMA, EFER_LME, GuestState, SegReg};

/// The note on the VMCB dump of an SEV-ES or SEV-SNP guest (`kind`, as the kernel names
/// it), named at `line`.
#[must_use]
pub(crate) fn sev_vmcb_note(kind: &str, line: usize) -> String {
    format!(
        "line {line}: an {kind} guest's VMCB: its register state is kept in the VMSA, \
         encrypted, which the kernel prints only when the guest's policy allows debugging; \
         VMRUN's checks of the VMSA and the SEV features are not judged"
    )
}

/// True when `d` is a QEMU dump of registers QEMU never read (see the module doc): CR0 =
/// 0, CR0.ET clear or RFLAGS = 0, and every segment register shown and empty (selector, base and limit 0, no
/// attribute but P), in a log of a hardware accelerator, not a `-d cpu_reset` dump.
#[must_use]
pub(crate) fn shows_no_registers(d: &LogDump, at_reset: bool) -> bool {
    let g = &d.guest;
    d.dialects == [Dialect::Qemu]
        && !at_reset
        && !matches!(d.target, Target::Tcg | Target::Bochs | Target::Firmware)
        && impossible(g).is_some()
        && SegReg::ALL.into_iter().all(|r| {
            g.segments[r].is_some_and(|s| {
                s.selector.0 == 0
                    && s.base == 0
                    && s.limit == 0
                    && Attributes {
                        present: false,
                        ..s.attributes
                    } == Attributes::default()
            })
        })
}

/// Drops the registers of a dump that [`shows_no_registers`] (they were never read) and
/// says why in its first note; `d` is then a state without registers
/// ([`LogDump::withheld`]). Returns whether it did.
pub(crate) fn withhold(d: &mut LogDump, at_reset: bool) -> bool {
    if !shows_no_registers(d, at_reset) {
        return false;
    }
    let Some(why) = impossible(&d.guest) else {
        return false;
    };
    d.guest = GuestState::default();
    d.printed_cpl = None;
    d.partial_segments.clear();
    d.withheld = true;
    d.notes.insert(0, withheld_note(d.line, why));
    true
}

/// What in `g` no processor can hold, as the note says it: CR0 = 0 or CR0.ET clear,
/// RFLAGS = 0, or paging with EFER.LME set and EFER.LMA clear.
fn impossible(g: &GuestState) -> Option<&'static str> {
    if g.cr0 == Some(0) {
        Some("CR0 = 0 (CR0.ET is 1 on every P6 and later processor, SDM Vol. 3A §2.5)")
    } else if g.cr0.is_some_and(|cr0| cr0 & CR0_ET == 0) {
        // An SEV-SNP guest's dump (AMDSEV issue 100): CR0 = 0x80000001, the PG and PE
        // KVM tracks without the ET no processor clears.
        Some("CR0 with ET clear (CR0.ET is 1 on every P6 and later processor, SDM Vol. 3A §2.5)")
    } else if g.rflags == Some(0) {
        Some("RFLAGS = 0 (bit 1 is 1 on every x86 processor, SDM Vol. 1 §3.4.3)")
    } else if g.cr0.is_some_and(|cr0| cr0 & CR0_PG != 0)
        && g.efer
            .is_some_and(|e| e & EFER_LME != 0 && e & EFER_LMA == 0)
    {
        // An SEV-SNP guest's dump (AMDSEV issue 138): CR0 0x80010033 with ET, EFER 0x900,
        // the LME the guest wrote without the LMA the processor would have set.
        Some(
            "EFER.LME = 1 with CR0.PG = 1 and EFER.LMA = 0 (the processor sets LMA whenever \
             it pages with LME set, SDM Vol. 3A §10.8.5, APM Vol. 2 §14.6.1; KVM_SET_SREGS \
             refuses the pair)",
        )
    } else {
        None
    }
}

/// The note on a QEMU dump of registers QEMU never read, at `line`, `why` naming the value
/// no processor holds.
#[must_use]
pub(crate) fn withheld_note(line: usize, why: &str) -> String {
    format!(
        "line {line}: QEMU printed registers it never read: {why} and every segment \
         register empty. KVM does not give QEMU a protected guest's registers (a TDX guest, \
         or an SEV-ES or SEV-SNP one: guest_state_protected), and a vCPU whose registers \
         were never fetched prints as zeros too, so the dump carries none and nothing in it \
         is judged (`-d cpu_reset` prints such zeros, before a vCPU's first reset)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::log::read_log;

    /// QEMU's dump of a TDX guest as KVM leaves it (EFER 0xd01, CR0 0, flags 00008000).
    const TDX: &str = "\
KVM internal error. Suberror: 4
extra data[0]: 0xe000060400000000
EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000
ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000
EIP=00000000 EFL=00000000 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
ES =0000 00000000 00000000 00008000
CS =0000 00000000 00000000 00008000
SS =0000 00000000 00000000 00008000
DS =0000 00000000 00000000 00008000
FS =0000 00000000 00000000 00008000
GS =0000 00000000 00000000 00008000
LDT=0000 00000000 00000000 00008000
TR =0000 00000000 00000000 00008000
GDT=     0000000000000000 00000000
IDT=     0000000000000000 00000000
CR0=00000000 CR2=0000000000000000 CR3=0000000000000000 CR4=00000000
DR6=00000000fffe07f0 DR7=0000000000000400
EFER=0000000000000d01
";

    #[test]
    fn a_dump_of_registers_never_read_carries_none() {
        let d = read_log(TDX);
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert!(d.withheld);
        assert_eq!(d.guest, GuestState::default());
        assert_eq!(d.printed_cpl, None);
        assert!(d.notes[0].starts_with("line 3: QEMU printed registers it never read"));
        // The exit is kept: it is what the log does say.
        assert_eq!(d.exits.len(), 1);
        // Flags 0 (a zeroed kvm_segment through QEMU's get_seg) read alike.
        let zero = TDX.replace("00008000", "00000000");
        assert!(read_log(&zero)[0].withheld);
        // A vCPU whose registers QEMU never got, CR0 read (Launchpad #1876678): RFLAGS 0.
        let nested = TDX.replace("CR0=00000000", "CR0=80050033");
        let d = &read_log(&nested)[0];
        assert!(d.withheld);
        assert!(d.notes[0].contains("RFLAGS = 0 (bit 1"), "{}", d.notes[0]);
        // With RFLAGS read too, it is a state, judged.
        let read = nested.replace("EFL=00000000", "EFL=00000002");
        assert!(!read_log(&read)[0].withheld);
        // An SEV-SNP guest (AMDSEV issue 100): RFLAGS 2, CR0 PG | PE without ET.
        let snp = read.replace("CR0=80050033", "CR0=80000001");
        let d = &read_log(&snp)[0];
        assert!(d.withheld);
        assert!(d.notes[0].contains("CR0 with ET clear"), "{}", d.notes[0]);
        // An SEV-SNP guest past its CR0 write (AMDSEV issue 138): LME and PG, no LMA.
        let lme = read
            .replace("CR0=80050033", "CR0=80010033")
            .replace("EFER=0000000000000d01", "EFER=0000000000000900");
        let d = &read_log(&lme)[0];
        assert!(d.withheld);
        assert!(
            d.notes[0].contains("EFER.LME = 1 with CR0.PG = 1"),
            "{}",
            d.notes[0]
        );
        // The same with LMA, as a processor holds it, is a state.
        let lma = lme.replace("EFER=0000000000000900", "EFER=0000000000000d00");
        assert!(!read_log(&lma)[0].withheld);
    }

    /// Real states are never taken for one: a reset state (CR0 = 0x60000010), a state
    /// with one segment loaded or typed, a dump with a segment cut away, a `CPU Reset`
    /// dump, a TCG log.
    #[test]
    fn a_real_state_is_never_withheld() {
        let reset = TDX
            .replace("CR0=00000000", "CR0=60000010")
            .replace("EFL=00000000", "EFL=00000002");
        let loaded = TDX.replace(
            "CS =0000 00000000 00000000 00008000",
            "CS =f000 ffff0000 0000ffff 00009b00",
        );
        let typed = TDX.replace(
            "TR =0000 00000000 00000000 00008000",
            "TR =0000 00000000 00000000 00008b00",
        );
        let cut: String = TDX
            .lines()
            .filter(|l| !l.starts_with("GS "))
            .map(|l| format!("{l}\n"))
            .collect();
        let at_reset = format!(
            "CPU Reset (CPU 0)\n{}",
            &TDX[TDX.find("EAX").unwrap_or(0)..]
        );
        let tcg = format!(
            "check_exception old: 0xffffffff new 0xd\n{}",
            &TDX[TDX.find("EAX").unwrap_or(0)..]
        );
        for (what, text) in [
            ("reset", reset),
            ("loaded", loaded),
            ("typed", typed),
            ("cut", cut),
            ("at_reset", at_reset),
            ("tcg", tcg),
        ] {
            let d = read_log(&text);
            assert!(!d.is_empty(), "{what}");
            assert!(!d[0].withheld, "{what}");
            assert!(d[0].guest.cr0.is_some(), "{what}");
        }
    }

    #[test]
    fn the_sev_note_names_the_guest_and_its_line() {
        let n = sev_vmcb_note("SEV-SNP", 4);
        assert!(n.starts_with("line 4: an SEV-SNP guest's VMCB"), "{n}");
    }
}
