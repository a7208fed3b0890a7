use super::*;
use crate::arch::{CpuMode, PrivilegeLevel};
use crate::ingest::log::read_log;

/// Jailhouse v0.12's `dump_guest_regs` on an AMD host, as a jailhouse-dev post
/// (2020-08) shows it: the VMCB's `AR-BYTES: 29b` and EFER with SVME.
const AMD: &str = "\
FATAL: Invalid PIO read, port: 1771 size: 1
RIP: 0xffffffff9d8f5f48 RSP: 0xffffb84900127dd8 FLAGS: 93
RAX: 0x0000000000000000 RBX: 0x0000000000000002 RCX: 0x0000000000000068
RDX: 0x0000000000001771 RSI: 0xffffffff9e568b80 RDI: 0xffff898449e90498
CS: 10 BASE: 0x0000000000000000 AR-BYTES: 29b EFER.LMA 1
CR0: 0x0000000080050033 CR3: 0x00000003d7c1e000 CR4: 0x00000000003406e0
EFER: 0x0000000000001d01
Parking CPU 1 (Cell: \"RootCell\")
";

fn lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, String::from(l)))
        .collect()
}

#[test]
fn an_amd_dump_is_a_vmcbs_and_its_fields_are_read() {
    let d = read(&lines(AMD));
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!(d.dialect, Dialect::JailhouseVmcb);
    assert_eq!((d.lines.first, d.lines.last), (2, 8));
    let g = &d.guest;
    assert_eq!(g.rip, Some(0xffff_ffff_9d8f_5f48));
    assert_eq!(g.rflags, Some(0x93));
    assert_eq!(g.cr0, Some(0x8005_0033));
    assert_eq!(g.cr3, Some(0x3_d7c1_e000));
    assert_eq!(g.cr4, Some(0x0034_06e0));
    assert_eq!(g.efer, Some(0x1d01));
    assert_eq!(g.cpl, Some(PrivilegeLevel::Ring0));
    assert_eq!(d.named_lma, Some(true));
    assert_eq!(d.named_mode, Some(CpuMode::Long64));
    assert_eq!(d.partial_segments, [SegReg::Cs]);
    let notes = d.notes.join("\n");
    assert!(
        notes.contains("`FATAL: Invalid PIO read, port: 1771 size: 1`"),
        "{notes}"
    );
    assert!(
        notes.contains("(code XR accessed), S, P, L, DPL 0"),
        "{notes}"
    );
    assert!(notes.contains("SVME"), "{notes}");
}

#[test]
fn the_vendor_is_told_by_the_attributes_or_efer() {
    let cs = |a: u64| {
        Some(CsLine {
            selector: 0x10,
            base: 0,
            attributes: a,
            lma: true,
        })
    };
    assert_eq!(
        dialect(cs(0xa09b), Some(0xd01), None),
        Dialect::JailhouseVmcs
    );
    assert_eq!(
        dialect(cs(0x29b), Some(0xd01), None),
        Dialect::JailhouseVmcb
    );
    assert_eq!(
        dialect(cs(0x9b), Some(0x1d01), None),
        Dialect::JailhouseVmcb
    );
    assert_eq!(dialect(cs(0x9b), Some(0), None), Dialect::Jailhouse);
    // A real-mode inmate on Intel: CR4.VMXE, forced into every VMCS's guest CR4.
    assert_eq!(
        dialect(cs(0x9b), Some(0), Some(0x2000)),
        Dialect::JailhouseVmcs
    );
    // Intel: L in bit 13 of the access rights.
    assert!(attributes_in_words(Dialect::JailhouseVmcs, 0xa09b).contains("L, G, DPL 0"));
    // AMD: G in bit 11 of the VMCB's attributes, D/B in bit 10.
    assert!(attributes_in_words(Dialect::JailhouseVmcb, 0xc93).contains("D/B, G, DPL 0"));
}

/// The older `svm.c` printed `vmcb->efer & EFER_LMA` with `%d`; a cut dump says what
/// it lacks; lines without the CS line are no dump of Jailhouse's.
#[test]
fn old_lma_cut_dumps_and_lookalikes() {
    let old = AMD.replace("EFER.LMA 1", "EFER.LMA 1024");
    assert_eq!(read(&lines(&old))[0].named_lma, Some(true));
    let cut: String = AMD.lines().take(5).map(|l| format!("{l}\n")).collect();
    let d = &read(&lines(&cut))[0];
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("its CR0, EFER lines are missing"))
    );
    let no_cs: String = AMD
        .lines()
        .filter(|l| !l.starts_with("CS:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(read(&lines(&no_cs)).is_empty());
}

/// A double-spaced paste, and a console that dropped output and repeated the dump's
/// last lines cut (jailhouse-dev, 2019-05): one dump, which the repeat does not open
/// again, and no other reader's dump (`EFER:` opens a dump_vmcs) inside it.
#[test]
fn double_spacing_and_a_cut_repeat_stay_one_dump() {
    let spaced = AMD.replace('\n', "\n\n");
    let d = read(&lines(&spaced));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].guest.efer, Some(0x1d01));
    let repeat = AMD.replace(
        "Parking CPU",
        "<missed 19096 bytes of console log>\n00000000000000 CR4: 0x00000000003406e0\nEFER: 0x0000000000001d01\nParking CPU",
    );
    let logged = read_log(&repeat);
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert_eq!(logged[0].dialects, [Dialect::JailhouseVmcb]);
}
