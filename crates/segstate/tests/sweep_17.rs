//! Sweep 17's real pastes (`fixtures/dumps/`, each with its sidecar): what each reads
//! to, beyond its row in `dump_corpus/table.rs`.

use segstate::arch::{Cpl, SegReg, Selector};
use segstate::ingest::exit::{Exit, ExitClass};
use segstate::ingest::judge::Verdict;
use segstate::ingest::log::{Dialect, Target};

mod corpus_common;
use corpus_common::judged;

/// A segment as a Xen VMCB dump's `sel attr  limit   base` row prints it: the
/// selector, the VMCB's 12-bit attribute word unpacked to the descriptor's bits 55:40,
/// the limit and the base.
fn row(d: &segstate::ingest::log::LogDump, r: SegReg) -> (u16, u16, u32, u64) {
    let s = d.guest.segments[r].unwrap_or_else(|| panic!("{r:?} not read"));
    (s.selector.0, s.attributes.to_word(), s.limit, s.base)
}

/// Vaishali Thakkar's post on Xen's ASID allocator (2024-05): `xl debug-keys v` on AMD,
/// `svm_vmcb_dump` of Domain 1's two vCPUs, the second's header `(XEN) \tVCPU 1` after
/// a tab. Not in the corpus before; both vCPUs read, each its own state: 64-bit, CPL 0,
/// the last exit HLT (0x78), ordinary, so not a guest-state failure, and no rule fails.
#[test]
fn xen_s_vmcb_dump_of_two_vcpus_reads_each() {
    let all = judged("vaishalithakkar-2405-xen-asid-vmcb.txt");
    assert_eq!(all.len(), 2);
    // Per vCPU: the dump's first line, its exit line, GS's and TR's bases, GDTR's base.
    let per_vcpu = [
        (
            3,
            10,
            0xffff_8881_03c0_0000,
            0xffff_fe00_0000_3000,
            0xffff_fe00_0000_1000,
        ),
        (
            36,
            43,
            0xffff_8881_03c8_0000,
            0xffff_fe00_0003_e000,
            0xffff_fe00_0003_c000,
        ),
    ];
    for ((d, j), (line, exit_line, gs_base, tr_base, gdt_base)) in all.iter().zip(per_vcpu) {
        assert_eq!(d.line, line);
        assert_eq!(d.dialects, [Dialect::XenVmcb]);
        assert_eq!(d.target, Target::Amd);
        let hlt = Exit::FailEntry {
            reason: 0x78,
            vendor: Some(segstate::arch::Vendor::Amd),
            qualification: None,
        };
        assert_eq!(d.exits, [(exit_line, hlt)]);
        assert!(ExitClass::SvmExit(0x78).is_ordinary());
        assert_eq!(j.verdict, Verdict::NotGuestState(ExitClass::SvmExit(0x78)));
        assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
        assert_eq!(d.guest.cpl, Some(Cpl::Ring0));
        assert_eq!(d.guest.efer, Some(0x1d01));
        assert_eq!(d.guest.cr0, Some(0x8005_003b));
        assert_eq!(d.guest.rip, Some(0xffff_ffff_820e_26ca));
        // CS 029b: L, DPL 0, type b, G clear as the VMCB keeps it; SS 0c93: D/B, G.
        assert_eq!(row(d, SegReg::Cs), (0x0010, 0x209b, 0xffff_ffff, 0));
        assert_eq!(row(d, SegReg::Ss), (0x0018, 0xc093, 0xffff_ffff, 0));
        assert_eq!(row(d, SegReg::Tr), (0x0040, 0x0089, 0x4087, tr_base));
        for r in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs, SegReg::Ldtr] {
            let s = d.guest.segments[r].unwrap();
            assert_eq!(s.selector, Selector::NULL, "{r:?}");
            assert!(s.unusable, "{r:?}");
        }
        assert_eq!(d.guest.segments[SegReg::Gs].unwrap().base, gs_base);
        let gdtr = d.guest.gdtr.expect("GDTR");
        assert_eq!((gdtr.base, gdtr.limit), (gdt_base, 0x7f));
        let idtr = d.guest.idtr.expect("IDTR");
        assert_eq!((idtr.base, idtr.limit), (0xffff_fe00_0000_0000, 0xfff));
    }
}
