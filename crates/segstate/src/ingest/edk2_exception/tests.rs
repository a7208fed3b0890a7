use super::*;
use crate::arch::{DescriptorTable, GuestField, ModeSoFar, PrivilegeLevel};
use crate::ingest::log::{Target, read_log};
use crate::ingest::text::normalise;

fn read_text(t: &str) -> Vec<RawDump> {
    read(&normalise(t))
}

/// An X64 dump as `DumpCpuContext` prints it (edk2 c5aa7e7d94c0), then the image line.
const X64: &str = "\
!!!! X64 Exception Type - 0D(#GP - General Protection)  CPU Apic ID - 00000000 !!!!
ExceptionData - 0000000000000000
RIP  - 000000007E8D1234, CS  - 0000000000000038, RFLAGS - 0000000000010206
RAX  - 0000000000000000, RCX - 0000000000000001, RDX - 0000000000000002
RBX  - 0000000000000003, RSP - 000000007FF8E9F8, RBP - 0000000000000005
RSI  - 0000000000000006, RDI - 0000000000000007
R8   - 0000000000000008, R9  - 0000000000000009, R10 - 000000000000000A
R11  - 000000000000000B, R12 - 000000000000000C, R13 - 000000000000000D
R14  - 000000000000000E, R15 - 000000000000000F
DS   - 0000000000000030, ES  - 0000000000000030, FS  - 0000000000000030
GS   - 0000000000000030, SS  - 0000000000000030
CR0  - 0000000080010033, CR2 - 0000000000000000, CR3 - 000000007FC01000
CR4  - 0000000000000668, CR8 - 0000000000000000
DR0  - 0000000000000000, DR1 - 0000000000000000, DR2 - 0000000000000000
DR3  - 0000000000000000, DR6 - 00000000FFFF0FF0, DR7 - 0000000000000400
GDTR - 000000007F9DE000 0000000000000047, LDTR - 0000000000000000
IDTR - 000000007F418018 0000000000000FFF,   TR - 0000000000000000
FXSAVE_STATE - 000000007FF8E8B0
!!!! Find image based on IP(0x7E8D1234) /build/Foo/DEBUG/Foo.dll (ImageBase=000000007E8D0000, EntryPoint=000000007E8D1000) !!!!
";

/// An IA32 dump, `Ia32/ArchExceptionHandler.c`'s lines.
const IA32: &str = "\
!!!! IA32 Exception Type - 0E(#PF - Page-Fault)  CPU Apic ID - 00000001 !!!!
ExceptionData - 00000002  I:0 R:0 U:0 W:1 P:0 PK:0 SS:0 SGX:0
EIP  - 0082F3A1, CS  - 00000010, EFLAGS - 00010086
EAX  - 00000000, ECX - 00000001, EDX - 00000002, EBX - 00000003
ESP  - 0081FF00, EBP - 0081FF20, ESI - 00000004, EDI - 00000005
DS   - 00000008, ES  - 00000008, FS  - 00000008, GS  - 00000008, SS - 00000008
CR0  - 80000033, CR2 - DEADB000, CR3 - 00800000, CR4 - 00000010
DR0  - 00000000, DR1 - 00000000, DR2 - 00000000, DR3 - 00000000
DR6  - FFFF0FF0, DR7 - 00000400
GDTR - 0081FE00 00000047, IDTR - 0081FC00 0000010F
LDTR - 00000000, TR - 00000000
FXSAVE_STATE - 0081FD00
";

fn noted(d: &RawDump, start: &str) -> bool {
    d.notes.iter().any(|n| n.starts_with(start))
}

#[test]
fn an_x64_dump_reads_its_registers_and_names_its_selectors() {
    let d = read_text(X64);
    assert_eq!(d.len(), 1, "{d:?}");
    let d = &d[0];
    assert_eq!((d.lines.first, d.lines.last), (1, 19));
    let g = &d.guest;
    assert_eq!(g.rip, Some(0x7e8d_1234));
    assert_eq!(g.rflags, Some(0x1_0206));
    assert_eq!(
        (g.cr0, g.cr3, g.cr4),
        (Some(0x8001_0033), Some(0x7fc0_1000), Some(0x668))
    );
    assert_eq!((g.dr6, g.dr7), (Some(0xffff_0ff0), Some(0x400)));
    assert_eq!(
        (g.gdtr, g.idtr),
        (
            Some(DescriptorTable {
                base: 0x7f9d_e000,
                limit: 0x47
            }),
            Some(DescriptorTable {
                base: 0x7f41_8018,
                limit: 0xfff
            })
        )
    );
    assert_eq!(g.efer, None, "EFER is not printed, and not made up");
    assert!(g.has_no_segments());
    assert_eq!(d.partial_segments.len(), 8);
    assert_eq!(d.named_lma, Some(true));
    assert_eq!(g.cpl, Some(PrivilegeLevel::Ring0));
    for start in [
        "line 1: #GP, vector 13 (`#GP - General Protection`), on the CPU whose APIC ID is \
         0x0, caught by EDK2's X64 exception handler (UefiCpuPkg CpuExceptionHandlerLib, \
         DumpCpuContext), which printed the state the CPU took it in",
        "an X64 handler runs only in IA-32e mode",
        "ExceptionData 0, #GP's error code: it names no descriptor",
        "CR4 as printed has DE (bit 3) and OSFXSR (bit 9) set by the handler itself",
        "EDK2's exception dump shows selectors only (CS 0x38, DS 0x30, ES 0x30, FS 0x30, GS \
         0x30, SS 0x30, LDTR 0x0, TR 0x0)",
        "CPL 0: CS's RPL (CS 0x38)",
        "line 19: EDK2's search for the image holding the instruction pointer: `Find image \
         based on IP(0x7E8D1234) /build/Foo/DEBUG/Foo.dll",
    ] {
        assert!(noted(d, start), "{start}: {:?}", d.notes);
    }
    assert!(!d.notes.iter().any(|n| n.contains("not in the paste")));
}

#[test]
fn in_the_log_the_dump_is_judged_for_the_architecture_alone() {
    let logs = read_log(&format!("some firmware output\n{X64}BdsDxe: more\n"));
    assert_eq!(logs.len(), 1, "{logs:?}");
    let l = &logs[0];
    assert_eq!(l.dialects, [Dialect::Edk2Exception]);
    assert_eq!(l.target, Target::Firmware);
    // No EFER, but the X64 handler names IA-32e mode: 64-bit or compatibility is CS.L's.
    assert_eq!(
        l.guest.shown_mode().map_err(|g| g.so_far),
        Err(ModeSoFar::Protected)
    );
    let gap = l.mode().unwrap_err();
    assert_eq!(
        (gap.so_far, gap.lacks),
        (ModeSoFar::Ia32e, GuestField::Segment(SegReg::Cs))
    );
    let j = crate::ingest::judge::judge(l, None);
    assert_eq!(j.vendors, None);
    assert_eq!(j.verdict, crate::ingest::judge::Verdict::Passes);
    // Paging without protected mode breaks the architecture, and is named; under the
    // X64 handler, which reads CR0 itself and runs only with PE and PG set, it says the
    // frame is no CPU state (`frame`), and nothing of it is judged.
    let broken = read_log(&IA32.replace("CR0  - 80000033", "CR0  - 80000032"));
    let j = crate::ingest::judge::judge(&broken[0], None);
    assert!(
        matches!(&j.verdict, crate::ingest::judge::Verdict::Fails { finding, .. }
            if finding.id == crate::check::CheckId::ArchCr0PgPe),
        "{}",
        j.verdict
    );
    let broken = read_log(&X64.replace("0000000080010033", "0000000080010032"));
    assert!(
        broken[0]
            .notes
            .iter()
            .any(|n| n.contains("CR0 0x80010032 has PE clear"))
    );
    let j = crate::ingest::judge::judge(&broken[0], None);
    assert_eq!(j.verdict, crate::ingest::judge::Verdict::NoState(None));
}

#[test]
fn an_ia32_dump_reads_and_decodes_its_page_fault() {
    let d = read_text(IA32);
    assert_eq!(d.len(), 1, "{d:?}");
    let d = &d[0];
    let g = &d.guest;
    assert_eq!((g.rip, g.rflags), (Some(0x82_f3a1), Some(0x1_0086)));
    assert_eq!((g.cr0, g.cr4), (Some(0x8000_0033), Some(0x10)));
    assert_eq!(g.idtr.map(|t| (t.base, t.limit)), Some((0x81_fc00, 0x10f)));
    assert_eq!(d.named_lma, Some(false));
    assert_eq!(d.partial_segments.len(), 8);
    assert!(
        noted(
            d,
            "line 1: #PF, vector 14 (`#PF - Page-Fault`), on the CPU whose APIC ID is \
             0x1, caught by EDK2's IA32 exception handler"
        ),
        "{:?}",
        d.notes
    );
    assert!(
        d.notes.iter().any(|n| n
            == "ExceptionData 0x2, #PF's error code: a write (W = 1) in supervisor mode (U = \
                0) met a not-present page (P = 0); CR2 0xdeadb000 is the linear address it \
                faulted on (SDM Vol. 3A §4.7)"),
        "{:?}",
        d.notes
    );
    // The IA32 handler saves CR4 before it changes it: no note on DE and OSFXSR.
    assert!(!d.notes.iter().any(|n| n.starts_with("CR4 as printed")));
    // Outside IA-32e mode, with RFLAGS.VM clear: 16- or 32-bit is CS.D's.
    let logs = read_log(IA32);
    let gap = logs[0].mode().unwrap_err();
    assert_eq!(
        (gap.so_far, gap.lacks),
        (ModeSoFar::Legacy, GuestField::Segment(SegReg::Cs))
    );
}

#[test]
fn selector_error_codes_are_decoded() {
    for (vector, code, want) in [
        (
            13,
            0x3a,
            "ExceptionData 0x3a, #GP's selector error code: IDT = 1: index 7 is the IDT gate \
             of vector 7; EXT = 0: raised by the program itself (SDM Vol. 3A §6.13)",
        ),
        (
            11,
            0x2c,
            "ExceptionData 0x2c, #NP's selector error code: IDT = 0, TI = 1: index 5 is the \
             LDT descriptor of selector 0x2c; EXT = 0: raised by the program itself (SDM Vol. \
             3A §6.13)",
        ),
        (
            10,
            0x41,
            "ExceptionData 0x41, #TS's selector error code: IDT = 0, TI = 0: index 8 is the \
             GDT descriptor of selector 0x40; EXT = 1: raised while delivering an event \
             external to the program (an interrupt or an earlier exception) (SDM Vol. 3A \
             §6.13)",
        ),
        (
            12,
            0,
            "ExceptionData 0, #SS's error code: it names no descriptor, 0 being what the \
             processor pushes for a fault not detected while loading a segment descriptor, \
             and the null selector (SDM Vol. 3A §6.13, §6.15)",
        ),
        (
            17,
            0,
            "ExceptionData 0x0, #AC's error code (not decoded here)",
        ),
    ] {
        assert_eq!(error_code_note(vector, code, None), want);
    }
    // An instruction fetch from a present page, user mode, a reserved bit set.
    let note = error_code_note(14, 0x1d, None);
    assert!(
        note.starts_with(
            "ExceptionData 0x1d, #PF's error code: an instruction fetch (I = 1) in user mode \
             (U = 1) met a protection violation on a present page (P = 1), with a reserved bit \
             set in a paging entry (R = 1) (SDM"
        ),
        "{note}"
    );
}

#[test]
fn a_cleared_memory_rip_is_named() {
    let afaf = X64.replace("000000007E8D1234,", "AFAFAFAFAFAFAFAF,");
    let d = &read_text(&afaf)[0];
    assert!(
        noted(
            d,
            "RIP 0xafafafafafafafaf is EDK2's DEBUG_CLEAR_MEMORY fill"
        ),
        "{:?}",
        d.notes
    );
    let afaf = IA32.replace("0082F3A1,", "AFAFAFAF,");
    assert!(noted(&read_text(&afaf)[0], "EIP 0xafafafaf is EDK2's"));
    // Another repeated byte is not EDK2's fill.
    let other = X64.replace("000000007E8D1234,", "AEAEAEAEAEAEAEAE,");
    assert!(
        !read_text(&other)[0]
            .notes
            .iter()
            .any(|n| n.contains("DEBUG_CLEAR"))
    );
}

#[test]
fn a_cut_or_prefixed_dump_says_what_it_lacks() {
    // Cut inside CR3's value, each line behind a compose service's prefix.
    let at = X64.find("CR3 - 000000007FC0").unwrap() + 18;
    let cut: String = X64[..at]
        .lines()
        .map(|l| format!("qemu    | {l}\n"))
        .collect();
    let d = read_text(&cut);
    assert_eq!(d.len(), 1, "{d:?}");
    let d = &d[0];
    assert_eq!(
        (d.guest.cr0, d.guest.cr3, d.guest.cr4),
        (Some(0x8001_0033), None, None)
    );
    assert!(
        d.notes.iter().any(|n| n
            == "line 12: CR3 `000000007FC0` is not the 16 hex digits the X64 handler prints \
                (cut short by the paste): not read"),
        "{:?}",
        d.notes
    );
    assert!(
        d.notes.iter().any(|n| n
            == "line 12: the dump stops after `CR3`: CR4, GDTR, IDTR, LDTR, TR not in the paste"),
        "{:?}",
        d.notes
    );
    // A word that is no value is not called cut.
    let junk = read_text(&X64.replace("CR0  - 0000000080010033", "CR0  - <unavailable>"));
    assert!(
        junk[0].notes.iter().any(|n| n
            == "line 12: CR0 `<unavailable>` is not the 16 hex digits the X64 handler prints \
                (not a value): not read"),
        "{:?}",
        junk[0].notes
    );
    // Pasted from the RIP line on: read without the headline.
    let from_rip = &X64[X64.find("RIP").unwrap()..];
    let d = read_text(from_rip);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].named_lma, Some(true));
    assert_eq!(d[0].guest.rip, Some(0x7e8d_1234));
    // Two dumps back to back (two CPUs), and the pre-2015 headline.
    let old = X64.replace("0D(#GP - General Protection)", "000000000000000D    ");
    let two = read_text(&format!("{X64}{old}"));
    assert_eq!(two.len(), 2);
    assert!(
        noted(
            &two[1],
            "line 20: #GP, vector 13, on the CPU whose APIC ID is 0x0, caught"
        ),
        "{:?}",
        two[1].notes
    );
}

#[test]
fn other_dialects_and_junk_are_not_taken() {
    for other in [
        "RIP=0000000000000000 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n",
        "rip            0x1003f9c           0x1003f9c\ncr0            0x80050033\n",
        "CR0  - 0000000080010033, CR2 - 0000000000000000\n",
        "RAX  - 0000000000000000, RCX - 0000000000000001\n",
    ] {
        assert!(read_text(other).is_empty(), "{other}");
    }
    for junk in [
        "!!!! X64 Exception Type - ",
        "!!!! IA32 Exception Type - ZZ(",
        "RIP  - ",
        "RIP  -",
        "RIP  - 1, CS - 2, GDTR - 3",
        "EIP  - 0000000000000000000000",
        "!!!! Find image based on IP(",
    ] {
        let _ = read_text(junk);
    }
    let many = "RIP  - 0000000000000000, CS  - 0000000000000008\n".repeat(MAX_DUMPS + 4);
    assert_eq!(read_text(&many).len(), MAX_DUMPS);
}
