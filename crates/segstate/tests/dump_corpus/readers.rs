//! The readers added for real pastes (Xen's register dump, the kernel's own lines, a
//! reset dump, an SEV guest's VMCB, Bochs, hyperkit's VMCS dump, bhyvectl, kvmtool's
//! table, gdb's listing), held to what they read of their samples.

use super::*;

/// Xen's `show_registers` blocks are read for their control registers, RIP and RFLAGS,
/// say why no segment rule is judged (selectors only), and join the VMCS dump Xen
/// printed for the same failed entry.
#[test]
fn xen_register_dumps_are_read_and_joined_to_their_vmcs_dump() {
    let all = judged("xcp-562.txt");
    assert_eq!(all.len(), 2);
    let (first, j) = &all[0];
    assert_eq!(first.dialects, [Dialect::XenRegisters]);
    assert_eq!(first.guest.cr0, Some(0x8005_0033));
    assert_eq!(first.guest.cr4, Some(0x2660));
    assert!(first.guest.has_no_segments());
    // No EFER: the mode is not claimed past what CR0 decides.
    let gap = first.guest.shown_mode().unwrap_err();
    assert_eq!(
        (gap.so_far, gap.lacks),
        (ModeSoFar::Protected, GuestField::Efer)
    );
    assert!(
        first
            .notes
            .iter()
            .any(|n| n.contains("selectors only (DS 0008")),
        "{:?}",
        first.notes
    );
    assert!(
        j.report
            .notes
            .iter()
            .any(|n| n.contains("Xen's `v` debug key"))
    );
    // The hint names the log's own hypervisor's switch, KVM's only in a KVM log.
    for (name, kvm) in [
        ("haxm-304", false),
        ("dune-2", false),
        ("aerokube-43", true),
    ] {
        let (_, j) = &judged(&format!("{name}.txt"))[0];
        let hinted = j
            .report
            .notes
            .iter()
            .any(|n| n.contains("kvm_intel.dump_invalid_vmcs"));
        assert_eq!(hinted, kvm, "{name}: {:?}", j.report.notes);
    }
    let (second, _) = &all[1];
    assert_eq!(second.guest.rip, Some(0xffff_ffff_c08e_ede5));
    assert_eq!(
        second.exit().map(Exit::class),
        Some(ExitClass::XenDomainCrash)
    );
    // drakvuf-465: the VMCS dump's control half, `domain_crash`, the guest's RIP.
    let (d, j) = &judged("drakvuf-465.txt")[0];
    assert_eq!(d.dialects, [Dialect::XenVmcs, Dialect::XenRegisters]);
    // The VMCS dump's own EFER, 0, as VM entry leaves it: EntryControls=000053ff has
    // IA-32e mode guest without load IA32_EFER, so LMA and LME are set (0x500).
    assert_eq!(
        d.guest.efer,
        Some(0x500),
        "the VMCS dump's own EFER, entered"
    );
    assert!(
        d.notes
            .iter()
            .any(|n| n.starts_with("VM-entry controls 000053ff: load IA32_EFER (bit 15) is clear")),
        "{:?}",
        d.notes
    );
    assert_eq!(
        d.guest.rip,
        Some(0xffff_f803_b72d_e124),
        "the register dump's RIP"
    );
    assert_eq!(
        d.exit().map(Exit::class),
        Some(IGS),
        "the entry failure, not the crash"
    );
    // RIP is shown: the RIP rule lacks CS (its L bit), not RIP.
    assert!(
        j.rules_not_judged.contains(&(
            CheckId::VmxEntryRipCanonical,
            GuestField::Segment(SegReg::Cs)
        )),
        "{:?}",
        j.rules_not_judged
    );
}

/// What a second sweep of real pastes found misread: a dump_vmcs's host state taken
/// for a QEMU dump (three states where there is one, the exit on the wrong one), a
/// `CPU Reset` dump taken for TCG's, an SEV-SNP guest's VMCB not named.
#[test]
fn a_kernel_dumps_own_lines_and_a_reset_dump_are_read_as_what_they_are() {
    let all = judged("lkml-2207-tdpmmu.txt");
    assert_eq!(all.len(), 1, "one failure printed twice");
    let (d, _) = &all[0];
    assert_eq!(d.dialects, [Dialect::LinuxVmcs, Dialect::Qemu]);
    assert_eq!(
        d.exits.len(),
        1,
        "the same reason printed twice: {:?}",
        d.exits
    );
    assert_eq!(d.exits[0].0, 43, "reason=80000021, a control-state line");
    // The host state's CR0 is not the guest's.
    assert_eq!(d.guest.cr0, Some(0x0005_0032));

    let (d, _) = &judged("haxm-267.txt")[0];
    assert_eq!(d.target, Target::Tcg);
    assert!(d.target_reason.contains("CPU Reset"), "{}", d.target_reason);
    assert!(d.notes.iter().any(|n| n.contains("follows `CPU Reset`")));

    let (d, j) = &judged("lkml-2503-sevsnp.txt")[0];
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("an SEV-SNP guest's VMCB")),
        "{:?}",
        d.notes
    );
    let Verdict::Outside {
        hint: Some(hint), ..
    } = &j.verdict
    else {
        panic!("{}", j.verdict);
    };
    assert!(hint.contains("VMSA") && !hint.contains("VMCS"), "{hint}");
    // A QEMU dump of an AMD entry failure points at the VMCB dump, and says that an
    // SEV-ES or SEV-SNP guest's registers are not in it.
    let (_, j) = &judged("systemd-35885.txt")[0];
    let Verdict::Outside {
        hint: Some(hint), ..
    } = &j.verdict
    else {
        panic!("{}", j.verdict);
    };
    assert!(
        hint.starts_with("set kvm_amd.dump_invalid_vmcb=1"),
        "{hint}"
    );
    assert!(hint.contains("VMSA, encrypted"), "{hint}");
}

/// A Bochs CPU dump is read as Bochs's alone: its `EFER   = 0x…` and `CR3=0x…` lines
/// once opened a Linux dump_vmcs, its `EAX=` line a QEMU dump.
#[test]
fn bochs_dumps_are_read_as_bochs_alone() {
    use segstate::arch::{CpuMode, PrivilegeLevel, ShownMode};
    // The CPL is CS's RPL where the CS line's selector is whole; the mode is the one
    // Bochs names where CR0 and the rest do not decide it.
    let named = |m| Ok(m);
    for (name, partial, cpl, mode) in [
        (
            "bochs-466",
            &[SegReg::Cs][..],
            Some(PrivilegeLevel::Ring0),
            named(CpuMode::Protected32),
        ),
        ("bochs-647", &[], None, named(CpuMode::Virtual8086)),
        ("bochs-614", &[], None, named(CpuMode::Protected32)),
        (
            "centuryos-v070-user-tss-triple",
            &[
                SegReg::Cs,
                SegReg::Ds,
                SegReg::Ss,
                SegReg::Es,
                SegReg::Fs,
                SegReg::Gs,
            ][..],
            Some(PrivilegeLevel::Ring3),
            named(CpuMode::Protected32),
        ),
    ] {
        let states = judged(&format!("{name}.txt"));
        assert_eq!(states.len(), 1, "{name}: one state");
        let (d, j) = &states[0];
        assert_eq!(d.dialects, [Dialect::Bochs], "{name}");
        assert_eq!(d.partial_segments, partial, "{name}");
        assert_eq!(d.guest.cpl, cpl, "{name}");
        assert_eq!(d.mode().map(ShownMode::mode), mode, "{name}");
        assert!(d.guest.efer.is_some(), "{name}");
        assert_eq!(j.vendors, None, "{name}: the architecture only");
    }
}

/// hyperkit's VMCS dump is read under a staircase and under minikube's prefix, joined
/// with its `vm exit[N]` report (interleaved or before it); bhyvectl's names the host
/// by EFER.SVME and what the cut paste lacks.
#[test]
fn hyperkit_and_bhyvectl_dumps_are_read() {
    let (d, _) = &judged("hyperkit-226.txt")[0];
    assert_eq!(d.dialects, [Dialect::Hvdump]);
    assert_eq!(d.guest.controls.entry, Some(0x93ff));
    assert_eq!(d.guest.controls.unrestricted_guest(), Some(true));
    assert_eq!(d.guest.rip, Some(0x9e019), "the exit report's RIP");
    assert_eq!(d.exit().map(Exit::class), Some(IGS));
    let (d, _) = &judged("hyperkit-268.txt")[0];
    assert_eq!(d.guest.controls.secondary, Some(0xaa));
    assert_eq!(d.exits.len(), 1, "the interleaved exit goes with the dump");
    let (d, _) = &judged("linuxkit-3289.txt")[0];
    assert_eq!(d.partial_segments, [SegReg::Cs]);
    let (d, _) = &judged("minikube-7841.txt")[0];
    let cs = d.guest.segments[SegReg::Cs].unwrap();
    assert_eq!((cs.selector.0, cs.limit), (0x10, 0xffff_ffff));
    assert_eq!(d.partial_segments, [SegReg::Es]);
    let (d, j) = &judged("propolis-300.txt")[0];
    assert_eq!(d.dialects, [Dialect::BhyvectlVmcb]);
    assert_eq!((d.guest.cr0, d.guest.efer), (Some(0x10033), Some(0x1800)));
    assert_eq!((d.guest.rip, d.guest.rflags), (Some(0xe01a), Some(0x92)));
    assert_eq!(d.partial_segments, [SegReg::Es, SegReg::Ds, SegReg::Fs]);
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("the GS desc line is cut short"))
    );
    assert!(
        d.target_reason.contains("bhyvectl dump of a VMCB"),
        "{}",
        d.target_reason
    );
    assert!(
        !j.report.notes.iter().any(|n| n.contains("kvm_amd")),
        "bhyve has no KVM switch: {:?}",
        j.report.notes
    );
}

/// A dump mailed in quoted-printable (lore.kernel.org's raw message) under `>> `
/// quoting: decoded, every field reads as QEMU printed it (no selector 0x3d0020, no
/// RFLAGS 0x3d00010002, no line split at a soft break), and the lines are the encoded
/// text's.
#[test]
fn a_quoted_printable_mail_body_is_read_decoded() {
    let all = judged("qemu-smm-migration-qp.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::Qemu]);
    assert_eq!((d.line, d.exits[0].0), (15, 9));
    let g = &d.guest;
    let selectors: Vec<u16> = SegReg::ALL
        .into_iter()
        .map(|r| g.segments[r].map_or(0xffff, |s| s.selector.0))
        .collect();
    assert_eq!(selectors, [0x20, 0x38, 0x20, 0x20, 0x20, 0x20, 0, 0x40]);
    assert_eq!(
        (g.gdtr.map(|t| t.base), g.idtr.map(|t| t.limit)),
        (Some(0x7f7d_f000), Some(0x1ff))
    );
    assert_eq!(
        (g.cr0, g.cr3, g.cr4, g.efer),
        (
            Some(0x8001_0033),
            Some(0x7f80_9000),
            Some(0x668),
            Some(0xd00)
        )
    );
    assert_eq!((g.rip, g.rflags), (Some(0xfff0), Some(0x10002)));
    assert_eq!(d.printed_cpl.map(|c| c.bits()), Some(0));
    assert!(
        d.notes[0].starts_with("line 15: the text is quoted-printable"),
        "{:?}",
        d.notes
    );
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
}

/// QEMU's dump of a TDX guest (KVM withholds a protected guest's registers): CR0 = 0
/// and every segment empty, which no CPU holds. It carries no registers: no finding,
/// a note that says why, the exits kept.
#[test]
fn a_protected_guests_placeholder_dump_carries_no_registers() {
    let all = judged("tdx-mce-sub4.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert!(d.withheld);
    assert_eq!(d.guest, GuestState::default());
    assert_eq!(d.printed_cpl, None);
    assert!(
        d.notes[0].starts_with("line 6: QEMU printed registers it never read")
            && d.notes[0].contains("TDX"),
        "{:?}",
        d.notes
    );
    assert_eq!(d.exits[0].0, 3);
    assert!(j.report.entries.is_empty(), "{:?}", j.report.ids());
    assert!(j.report.notes.is_empty(), "{:?}", j.report.notes);
    assert!(j.not_judged.is_empty() && j.rules_not_judged.is_empty());
}

/// kvmtool's table (its own, and Solo5 ukvm's copy) is a kvm_sregs read whole, row by
/// row, with the CPL from SS.DPL; what the paste leaves out is not made up.
#[test]
fn kvmtool_tables_are_read_row_by_row() {
    let (d, j) = &judged("lkml-2504-kvmtool-smp.txt")[0];
    assert_eq!(d.dialects, [Dialect::KvmSregsPrint]);
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    let g = &d.guest;
    let cs = g.segments[SegReg::Cs].unwrap();
    assert_eq!(
        (cs.selector.0, cs.base, cs.limit),
        (0x9900, 0x9_9000, 0xffff)
    );
    assert_eq!(
        (g.cr0, g.efer, g.rip, g.rflags),
        (Some(0x6000_0010), Some(0), Some(0), Some(2))
    );
    assert_eq!(g.gdtr.map(|t| t.limit), Some(0xffff));
    assert_eq!(g.shown_mode().ok(), Some(segstate::arch::CpuMode::Real));
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
    // The `KVM exit reason: 0` line is lkvm's, not an exit this reads.
    assert!(d.exits.is_empty(), "{:?}", d.exits);

    let (d, _) = &judged("solo5-6.txt")[0];
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    let g = &d.guest;
    assert_eq!(
        (g.cr0, g.cr3, g.cr4),
        (Some(0xe000_0011), Some(0x9000), Some(0x20))
    );
    assert_eq!((g.efer, g.rip, g.rflags), (None, None, None));
    let cs = g.segments[SegReg::Cs].unwrap();
    assert!(cs.attributes.l && cs.attributes.g);
    assert_eq!(g.segments[SegReg::Tr].unwrap().limit, 0x67);
    assert_eq!(g.cpl, Some(segstate::arch::PrivilegeLevel::Ring0));
}

/// gdb's listing gives the control registers, RIP and RFLAGS, names the selectors
/// without judging them as segments, and takes the CPL from CS's RPL where the mode
/// makes that the CPL, saying so.
#[test]
fn gdb_listings_are_read_for_their_control_registers() {
    for (name, cr0, efer, cs) in [
        ("qemu-devel-2301-rr-gdb", 0x8005_0033, 0, "CS 0x60"),
        ("notes-tdvf-efistub-gdb", 0x8001_0031, 0xd01, "CS 0x38"),
    ] {
        let states = judged(&format!("{name}.txt"));
        assert_eq!(states.len(), 1, "{name}");
        let (d, j) = &states[0];
        assert_eq!(d.dialects, [Dialect::GdbRegisters], "{name}");
        assert_eq!(
            (d.guest.cr0, d.guest.efer),
            (Some(cr0), Some(efer)),
            "{name}"
        );
        assert!(d.guest.has_no_segments(), "{name}");
        assert_eq!(d.partial_segments.len(), 6, "{name}");
        assert_eq!(
            d.guest.cpl,
            Some(segstate::arch::PrivilegeLevel::Ring0),
            "{name}"
        );
        assert!(
            d.notes
                .iter()
                .any(|n| n.starts_with(&format!("CPL 0: CS's RPL ({cs})"))),
            "{name}: {:?}",
            d.notes
        );
        // The bracketed flag lists are not values: RFLAGS is the raw column.
        assert_eq!(d.guest.rflags, Some(6), "{name}");
        // The control-register rules are judged, the segment rules are not.
        assert_eq!(j.report.errors(), 0, "{name}: {:?}", j.report.ids());
        assert!(
            !j.rules_not_judged
                .iter()
                .any(|(_, f)| *f == GuestField::Cr0),
            "{name}"
        );
    }
    let (d, _) = &judged("notes-tdvf-efistub-gdb.txt")[0];
    assert!(
        d.guest
            .shown_mode()
            .is_err_and(|gap| gap.so_far == ModeSoFar::Ia32e)
    );
}

/// Another architecture's QEMU register dump (`fixtures/dumps/other-arch/`: arm64 and
/// POWER pastes) is refused as not x86, naming the architecture and the line, not
/// judged by its `kvm run failed` line as an x86 exit.
#[test]
fn other_architectures_dumps_are_refused_as_not_x86() {
    for (name, line, arch, exit) in [
        ("osv-1106-arm64", 5, "AArch64 (arm64)", Some(4)),
        ("qemu-2021-ppc-hashmmu-einval", 6, "POWER (ppc64)", Some(5)),
        ("kvm-ppc-2024-nestedv2-archcompat", 9, "POWER (ppc64)", None),
    ] {
        let bytes = text(&format!("other-arch/{name}.txt")).into_bytes();
        let e = segstate::ingest::read(&bytes, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("line {line}: a QEMU {arch} register dump")),
            "{name}: {e}"
        );
        assert!(e.contains("not x86"), "{name}: {e}");
        assert_eq!(
            exit.map(|l| format!("the exit at line {l} is that host's KVM's")),
            e.split("; ").nth(1).map(String::from),
            "{name}: {e}"
        );
        // Streamed a part at a time, the same refusal.
        let streamed = segstate::ingest::source::read_all(
            &bytes,
            &segstate::ingest::source::InputName::Stdin,
            None,
        );
        assert!(
            streamed.unwrap_err().to_string().contains("not x86"),
            "{name}"
        );
    }
}

/// The injected event's error-code rule is a control check: it names a VM-instruction
/// error 7, and is not counted against an exit reason 33, which the processor reports
/// only after its control checks passed.
#[test]
fn the_error_code_rule_counts_only_where_the_control_checks_failed() {
    let dump = |exit: &str| {
        format!(
            "{exit}\n*** Guest State ***\n\
             CR0: actual=0x0000000080050033, shadow=0x0000000080050033, gh_mask=fffffffffffffff7\n\
             *** Control State ***\nPinBased=0000003f CPUBased=b6a1edfa SecondaryExec=000214eb\n\
             EntryControls=0000d3ff ExitControls=002fefff\n\
             VMEntry: intr_info=8000030d errcode=00000000 ilen=00000000\n"
        )
    };
    let j = |text: &str| judge(&read_log(text)[0], None);
    let refused = j(&dump("(XEN) d2v0 VMLAUNCH error: 0x7"));
    assert_eq!(
        kind(&refused.verdict),
        Expect::Fails(CheckId::VmxControlEntryErrorCode),
        "{}",
        refused.verdict
    );
    let entered = j(&dump("KVM: entry failed, hardware error 0x80000021"));
    assert!(
        entered
            .report
            .entries
            .iter()
            .all(|e| e.finding.id != CheckId::VmxControlEntryErrorCode),
        "{:?}",
        entered.report.entries
    );
    assert!(
        entered
            .report
            .notes
            .iter()
            .any(|n| n.starts_with("a VM-entry control rule fails")),
        "{:?}",
        entered.report.notes
    );
    // With the error code delivered, nothing fires and error 7 is left unexplained.
    let delivered = j(&dump("(XEN) d2v0 VMLAUNCH error: 0x7").replace("8000030d", "80000b0d"));
    assert_eq!(
        kind(&delivered.verdict),
        Expect::NotGuestState(ExitClass::VmInstructionError(7))
    );
}

/// A KVM internal error's extra data name what KVM could not handle: the event being
/// delivered and the exit that interrupted it (real reports from lkml and kvm@).
#[test]
fn internal_errors_extra_data_name_the_exit() {
    for (name, says) in [
        (
            "lkml-2006-kmemleak-i386-suberr3",
            &["#PF (vector 14)", "EPT misconfiguration", "0xbfff0"][..],
        ),
        (
            "lkml-2302-cxl-numactl-suberr3-quoted",
            &["EPT misconfiguration", "0x390074ac0"],
        ),
        (
            "lkml-2408-vpassist-apicv-suberr3-quoted",
            &["external interrupt 0x2f", "WRMSR"],
        ),
        (
            "lkml-2504-bzimage-crc-emulfail-cut",
            &["emulation-failure report", "EPT violation"],
        ),
    ] {
        let (_, j) = &judged(&format!("{name}.txt"))[0];
        let note = j
            .report
            .notes
            .iter()
            .find(|n| n.starts_with("the internal error's extra data"))
            .unwrap_or_else(|| panic!("{name}: {:?}", j.report.notes));
        for s in says {
            assert!(note.contains(s), "{name}: {note}");
        }
    }
    // An AMD report's words are another layout: not read as Intel's.
    let (_, j) = &judged("bugzilla-213781-svm-memslot-emulfail.txt")[0];
    assert!(
        j.report
            .notes
            .iter()
            .all(|n| !n.contains("extra data, read as"))
    );
}

/// In a QEMU TCG log an available TSS in TR is what QEMU's `ltr` left: information,
/// not a warning (netbootme issue 42's `-d int` log).
#[test]
fn a_tcg_logs_available_tss_is_information() {
    let (d, j) = &judged("netbootme-42.txt")[0];
    assert_eq!(d.target, Target::Tcg);
    let tr: Vec<_> = j
        .report
        .entries
        .iter()
        .filter(|e| e.finding.id == CheckId::ArchTrAvailable)
        .collect();
    assert!(!tr.is_empty(), "TR's type 9 is named");
    assert!(
        tr.iter().all(|e| e.finding.severity == Severity::Info),
        "{tr:?}"
    );
}

/// A VMCB dump and QEMU's dump of one failure differ in EFER.SVME, which KVM sets in
/// the VMCB only: the merge note says that is all (kernel bugzilla 213781).
#[test]
fn an_efer_that_differs_only_in_svme_is_named_so() {
    let (d, _) = &judged("bugzilla-213781-svm-memslot-emulfail.txt")[0];
    assert!(
        d.notes
            .iter()
            .any(|n| n.starts_with("EFER differs") && n.contains("only in SVME, bit 12")),
        "{:?}",
        d.notes
    );
}

/// A TCG `-d int` dump printed to deliver a vector its IDT cannot hold is named: the
/// retbleed S3 report's 64-bit IDT (limit 0x1ff) holds #PF's gate; cut to 0xdf it ends
/// before #PF's (bytes 0xe0..=0xef), though it still holds #DF's.
#[test]
fn a_tcg_dump_whose_idt_misses_the_vector_is_named() {
    let idt_note = |d: &LogDump| {
        d.notes
            .iter()
            .find(|n| n.starts_with("QEMU printed this state to deliver"))
            .cloned()
    };
    let real = read_log(&text("lkml-2023-retbleed-s3-dint.txt"));
    assert!(real.iter().all(|d| idt_note(d).is_none()));
    let short = read_log(&text("lkml-2023-retbleed-s3-dint.txt").replace("000001ff", "000000df"));
    // The first dump has no `v=` line before it; the second is #PF's, the third #DF's.
    assert_eq!(idt_note(&short[0]), None);
    let pf = idt_note(&short[1]).unwrap_or_else(|| panic!("{:?}", short[1].notes));
    assert!(
        pf.contains("#PF, vector 0x0e") && pf.contains("bytes 0xe0..=0xef"),
        "{pf}"
    );
    assert!(
        pf.contains("#GP(0x72)") && pf.contains("64-bit mode"),
        "{pf}"
    );
    assert_eq!(
        idt_note(&short[2]),
        None,
        "#DF's gate fits: {:?}",
        short[2].notes
    );
}
