use super::*;
use crate::arch::PrivilegeLevel;
use crate::ingest::log::read_log;
use crate::ingest::text::quoted_printable as qp;

fn dumps(text: &str) -> Vec<RawDump> {
    read(&qp::decode(text).lines)
}

/// A whole dump built from the printf formats of `nvc_vt_dump_vmcs_guest_state`
/// (vt_exit.c @08dd5ec6096e), not a real paste: a 64-bit Windows kernel's segments,
/// `\t ` between fields and `[NoirVisor] ` before each line as `nv_dprintf` prints.
fn whole(header: &str) -> String {
    let mut t = String::from(
        "[NoirVisor] Error while launching the Guest! VMX Status: 1\n\
         [NoirVisor] Failed at VM-Entry, Code=7\t Reason: VM-Entry failed due to invalid \
         control fields!\n",
    );
    t += &format!("[NoirVisor] {header}\n");
    for (name, sel, ar, limit, base) in [
        ("CS Segment", 0x10, 0x209b, 0_u32, 0),
        ("DS Segment", 0x2b, 0xc0f3, 0xffff_ffff, 0),
        ("ES Segment", 0x2b, 0xc0f3, 0xffff_ffff, 0),
        ("FS Segment", 0x53, 0x40f3, 0x3c00, 0),
        (
            "GS Segment",
            0x2b,
            0xc0f3,
            0xffff_ffff,
            0xffff_f800_1234_0000_u64,
        ),
        ("SS Segment", 0x18, 0x4093, 0, 0),
        ("Task Register", 0x40, 0x8b, 0x67, 0xffff_f800_1235_0000),
        ("LDT Register", 0, 0x1_0000, 0, 0),
    ] {
        t += &format!(
            "[NoirVisor] Guest {name} - Selector: 0x{sel:X}\t Access-Rights: 0x{ar:X}\t Limit: \
             0x{limit:X}\t Base: 0x{base:016X}\n"
        );
    }
    t += "[NoirVisor] Guest GDTR Limit: 0x57\t Base: 0xFFFFF80012351FB0\t Guest IDTR Limit: \
          0xFFF\t Base: 0xFFFFF8001234F000\n";
    t += "[NoirVisor] Guest Control & Debug Registers - CR0: 0x80050033\t CR3: \
          0x00000000001AD000\t CR4: 0x370678\t DR7: 0x400\n";
    t += "[NoirVisor] Guest Special GPRs: Rsp: 0xFFFFF80012345F00\t Rip: 0xFFFFF80012000010\t \
          RFlags:0x2\t Ssp: 0x0000000000000000\n";
    t += "[NoirVisor] Guest Activity State: 0\t Interruptibility State: 0x0\t Pending Debug \
          Exceptions: 0x0\n";
    t += "[NoirVisor] Guest EFER: 0xD01\t PAT: 0x7010600070106\t Debug Control: 0x0\n";
    t += "[NoirVisor] Guest VMCS Link Pointer: 0xFFFFFFFFFFFFFFFF\n";
    t += "[NoirVisor] Guest PDPTE0: 0x0\t PDPTE1: 0x0\t PDPTE2: 0x0\t PDPTE3: 0x0\n";
    t += "[NoirVisor] Pin-Based Controls: 0x16\t Primary Controls: 0xB6A1E1FA\t Secondary \
          Controls: 0x1010AA\t Exception Bitmap: 0x0\n";
    t += "[NoirVisor] VM-Exit Controls: 0x236FFF\t VM-Entry Controls: 0x93FF\n";
    t += "[NoirVisor] EPT Pointer: 0x12345601E\n";
    t += "[NoirVisor] Event Injection: 0x0\n";
    t
}

const HEADER: &str = "Dumping VMCS Guest State Area...";

#[test]
fn a_whole_dump_reads_every_field_the_state_has() {
    let d = dumps(&whole(HEADER));
    assert_eq!(d.len(), 1, "{d:?}");
    let d = &d[0];
    assert_eq!(d.dialect, Dialect::NoirVisor);
    assert_eq!((d.lines.first, d.lines.last), (3, 22));
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    let g = &d.guest;
    assert!(SegReg::ALL.into_iter().all(|r| g.segments[r].is_some()));
    let cs = g.segments[SegReg::Cs].unwrap();
    assert_eq!(cs.selector.0, 0x10);
    assert!(cs.attributes.l && !cs.attributes.db);
    assert!(g.segments[SegReg::Ldtr].unwrap().unusable);
    assert_eq!(g.segments[SegReg::Gs].unwrap().base, 0xffff_f800_1234_0000);
    assert_eq!(g.cpl, Some(PrivilegeLevel::Ring0));
    assert_eq!(
        g.gdtr.map(|t| (t.base, t.limit)),
        Some((0xffff_f800_1235_1fb0, 0x57))
    );
    assert_eq!(
        g.idtr.map(|t| (t.base, t.limit)),
        Some((0xffff_f800_1234_f000, 0xfff))
    );
    assert_eq!(
        (g.cr0, g.cr3, g.cr4, g.dr7),
        (
            Some(0x8005_0033),
            Some(0x1a_d000),
            Some(0x37_0678),
            Some(0x400)
        )
    );
    assert_eq!((g.rip, g.rflags), (Some(0xffff_f800_1200_0010), Some(2)));
    assert_eq!(
        (
            g.activity_state,
            g.interruptibility,
            g.pending_debug_exceptions
        ),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(
        (g.efer, g.pat, g.debugctl),
        (Some(0xd01), Some(0x7_0106_0007_0106), Some(0))
    );
    assert_eq!(g.pdptes, Some([0; 4]));
    let c = &g.controls;
    assert_eq!(
        (c.pin_based, c.cpu_based, c.secondary, c.exit, c.entry),
        (
            Some(0x16),
            Some(0xb6a1_e1fa),
            Some(0x10_10aa),
            Some(0x23_6fff),
            Some(0x93ff)
        )
    );
    assert_eq!(g.entry_interruption_info, Some(0));
}

/// Two spaces for each `\t ` (a paste), a DebugView prefix before `[NoirVisor]`, CRLF:
/// the same state.
#[test]
fn tabs_spaces_and_prefixes_read_alike() {
    let plain = dumps(&whole(HEADER));
    let spaced = whole(HEADER).replace("\t ", "  ");
    assert_eq!(dumps(&spaced)[0].guest, plain[0].guest);
    let prefixed: String = whole(HEADER)
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{i:08}\t12.34567890\t{l}\r\n"))
        .collect();
    assert_eq!(dumps(&prefixed)[0].guest, plain[0].guest);
}

/// The header of 2019 to 2022 (`!`), whose dump has no `Ssp:` and ends at the link
/// pointer.
#[test]
fn the_older_dump_reads_alike() {
    let old: String = whole("Dumping VMCS Guest State Area!")
        .replace("\t Ssp: 0x0000000000000000", "")
        .lines()
        .filter(|l| {
            !["Activity", "EFER", "PDPTE", "Controls", "EPT", "Event"]
                .iter()
                .any(|w| l.contains(w))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let d = dumps(&old);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].lines.first, 3);
    assert!(d[0].notes.is_empty(), "{:?}", d[0].notes);
    assert_eq!(d[0].guest.rip, Some(0xffff_f800_1200_0010));
    assert_eq!(d[0].guest.controls.entry, None);
    let l = read_log(&old);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].dialects, [Dialect::NoirVisor]);
}

/// A paste cut inside the CR line, mid-`%p` (as in issue #24), and one cut inside a
/// segment's line: what is whole is read, the rest named.
#[test]
fn a_cut_dump_keeps_what_it_has() {
    let all = whole(HEADER);
    let at = all.find("CR3: 0x00000000001AD000").unwrap() + "CR3: 0x000000000".len();
    let d = dumps(&all[..at]);
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!(d.guest.cr0, Some(0x8005_0033));
    assert_eq!((d.guest.cr3, d.guest.cr4), (None, None));
    assert!(d.guest.segments[SegReg::Ldtr].is_some());
    assert!(
        d.notes[0].starts_with("line 13: NoirVisor's `CR3` value `0x000000000` is not read"),
        "{:?}",
        d.notes
    );
    let at = all
        .find("Limit: 0x0\t Base: 0x0000000000000000\n[NoirVisor] Guest Task")
        .unwrap();
    let d = dumps(&all[..at]);
    let d = &d[0];
    assert_eq!(d.partial_segments, [SegReg::Ss]);
    // SS's access rights are shown: they give the CPL.
    assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring0));
    assert!(d.guest.segments[SegReg::Gs].is_some());
    assert!(
        d.notes.iter().any(|n| n.contains("SS is not read")),
        "{:?}",
        d.notes
    );
}

/// A line printed again starts the next dump; words alike elsewhere are no dump.
#[test]
fn a_line_again_is_the_next_dump_and_look_alikes_are_none() {
    let two = format!(
        "{}{}",
        whole(HEADER),
        whole(HEADER)
            .replace(HEADER, "")
            .replace("EFER: 0xD01", "EFER: 0x500")
    );
    let d = dumps(&two);
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].guest.efer, d[1].guest.efer),
        (Some(0xd01), Some(0x500))
    );
    for junk in [
        "nv_dprintf(\"Guest CS Segment - Selector: 0x%X\\t Access-Rights: 0x%X\\n\",v1,v2);",
        "Guest EFER: unknown",
        "[NoirVisor] Dumping VMCS Guest State Area...",
    ] {
        assert!(dumps(junk).iter().all(|d| !d.has_fields()), "{junk}");
    }
}

/// The whole dump through `read_log`: one state, NoirVisor's alone (no other reader
/// takes its `CR0:` or `EFER:` words for a dump of its own), the exit line before it
/// read as VM-instruction error 7, the mode decided (EFER.LMA, CS.L): 64-bit.
#[test]
fn a_whole_dump_reads_as_one_state_with_its_exit() {
    use crate::arch::CpuMode;
    use crate::ingest::exit::ExitClass;
    for header in [HEADER, "Dumping VMCS Guest State Area!"] {
        let l = read_log(&whole(header));
        assert_eq!(l.len(), 1, "{l:?}");
        let d = &l[0];
        assert_eq!(d.dialects, [Dialect::NoirVisor]);
        assert_eq!(d.line, 3);
        assert_eq!(
            d.exit().map(|e| e.class()),
            Some(ExitClass::VmInstructionError(7))
        );
        assert_eq!(d.mode().map(|m| m.mode()), Ok(CpuMode::Long64));
    }
}
