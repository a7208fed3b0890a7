//! Sweep 17's real pastes (`fixtures/dumps/`, each with its sidecar): what each reads
//! to, beyond its row in `dump_corpus/table.rs`.

use segstate::arch::{Cpl, SegReg, Selector};
use segstate::ingest::exit::{Exit, ExitClass, TripleFaultReport};
use segstate::ingest::judge::Verdict;
use segstate::ingest::log::{Dialect, Target};

mod corpus_common;
use corpus_common::{judged, noted};

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

/// xen-devel, 2020-05 ("rombios triple fault with -fcf-protection"): Xen's `MMIO
/// emulation failed (1): d11v0 32bit @ 0008:ffffffff ->`, its triple-fault report, and
/// `*** Dumping Dom11 vcpu#0 state: ***` whole, down to `ss: 0018   cs: 0008`. The triple
/// fault decides; the registers Xen prints are read, the six selectors noted, and no
/// segment read: Xen prints no descriptor cache.
#[test]
fn xen_s_dump_after_a_triple_fault_reads_its_registers_and_notes_every_selector() {
    let all = judged("xen-devel-2005-rombios-cet-triple.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::XenRegisters]);
    assert_eq!(d.exits.len(), 2);
    corpus_common::xen_mmio_failure_without_bytes(d, 0, 10, "32bit", 8, 0xffff_ffff);
    let (11, tf) = &d.exits[1] else {
        panic!("{:?}", d.exits);
    };
    let xen_triple = ExitClass::TripleFault {
        vector: None,
        by: TripleFaultReport::Xen,
    };
    assert_eq!(tf.class(), xen_triple);
    assert_eq!(j.verdict, Verdict::NotGuestState(xen_triple));
    assert_eq!(d.target, Target::Unknown);
    // CR0 0x11: PE and ET, no paging; RFLAGS.VM clear, so CS 0008's RPL is the CPL.
    corpus_common::xen_registers_only(
        d,
        [0xffff_ffff, 0x10086, 0x11, 0x40_0000, 0],
        Some(Cpl::Ring0),
    );
    noted(
        &d.notes,
        "Xen's register dump shows selectors only",
        &[
            "DS 0018", "ES 0018", "FS 0000", "GS c900", "SS 0018", "CS 0008",
        ],
    );
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
}

/// xen-devel, 2020-10: five runs of Xen's `xenctx` on an HVM guest stuck in real mode
/// (`cs:eip: ca80:00000256`). It was refused as "no CPU state dump found"; it is
/// refused as `xenctx`'s output at its first line only xenctx prints, whole or
/// streamed, saying what it lacks and what prints the segments whole.
#[test]
fn xenctx_output_is_refused_as_xenctx_s() {
    for e in corpus_common::refusals("not-a-dump/xen-devel-2010-xenctx-real-mode.txt") {
        assert!(e.contains("line 4: Xen's `xenctx` output"), "{e}");
        assert!(
            e.contains("no descriptor cache (base, limit, attributes), EFER or CPL"),
            "{e}"
        );
        assert!(e.contains("`xl debug-keys v`"), "{e}");
        assert!(!e.contains("no CPU state dump found"), "{e}");
    }
}

/// DarthTon/HyperBone#14: `HyperBone: CPU 0: VmExitStartFailed: Failed to enter VM,
/// reason 33, code 0` inside a sentence. Nothing was read; line 2 is now a VM-entry
/// failure for invalid guest state on Intel, its qualification 0, and no registers are
/// printed to judge.
#[test]
fn hyperbone_s_start_failed_is_an_invalid_guest_state_entry_failure() {
    let [(d, j)] = <[_; 1]>::try_from(judged("hyperbone-14-start-failed.txt")).expect("one");
    assert_eq!(
        d.exits,
        [(
            2,
            Exit::FailEntry {
                reason: 0x8000_0021,
                vendor: Some(segstate::arch::Vendor::Intel),
                qualification: Some(0),
            }
        )]
    );
    assert_eq!(d.exits[0].1.class(), ExitClass::InvalidGuestState);
    assert!(ExitClass::InvalidGuestState.blames_guest_state());
    assert_eq!(
        j.verdict,
        Verdict::NoState(Some(ExitClass::InvalidGuestState))
    );
    assert_eq!(d.target, Target::Intel);
}
