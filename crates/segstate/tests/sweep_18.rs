//! Sweep 18's real pastes (`fixtures/dumps/`, each with its sidecar): what each reads
//! to, beyond its row in `dump_corpus/table.rs`.

use segstate::arch::{Cpl, CpuMode, SegReg};
use segstate::ingest::exit::{Exit, ExitClass};
use segstate::ingest::judge::Verdict;
use segstate::ingest::log::{Dialect, Target};

mod corpus_common;
use corpus_common::{judged, noted};

/// jailhouse-dev, 2020-08: two panic dumps of an AMD host's root cell. Before sweep 18
/// the `EFER:` line alone was read, as a Linux dump_vmcs, and EFER.SVME failed as a
/// reserved Intel bit. Now each is a VMCB's, its fields read, nothing fails, and the
/// reason Jailhouse printed is quoted.
#[test]
fn jailhouse_on_amd_is_a_vmcb_and_no_false_error() {
    let all = judged("jailhouse-dev-amd-rootcell-29b.txt");
    assert_eq!(all.len(), 2);
    let reasons = [
        "FATAL: Invalid MMIO/RAM write, addr: 0x00000000feb82008 size: 4",
        "FATAL: Invalid PIO read, port: 1771 size: 1",
    ];
    for ((d, j), reason) in all.iter().zip(reasons) {
        assert_eq!(d.dialects, [Dialect::JailhouseVmcb]);
        assert_eq!(d.target, Target::Amd);
        assert_eq!(j.verdict, Verdict::Passes);
        assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
        assert_eq!(d.guest.efer, Some(0x1d01));
        assert_eq!(d.guest.cr0, Some(0x8005_0033));
        assert_eq!(d.guest.cpl, Some(Cpl::Ring0));
        assert!(d.guest.segments[SegReg::Cs].is_none());
        noted(&d.notes, "line ", &[reason, "Jailhouse stopped the CPU"]);
        noted(
            &d.notes,
            "Jailhouse's panic dump",
            &["attributes 0x29b (the VMCB's 12-bit"],
        );
    }
}

/// jailhouse-dev, 2019-05: a real-mode inmate on Intel (`CR0: 0x30`, `CR4: 0x2000`),
/// and the console's `<missed N bytes>` followed by a cut repeat of the dump's last
/// lines: one state (the repeat was a second one before), an Intel VMCS's by CR4.VMXE,
/// in real mode at CPL 0.
#[test]
fn jailhouse_real_mode_inmate_with_a_cut_repeat_is_one_state() {
    let all = judged("jailhouse-dev-tiny-demo-realmode-pio.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::JailhouseVmcs]);
    assert_eq!(d.guest.cpl, Some(Cpl::Ring0));
    assert_eq!(d.named_mode, Some(CpuMode::Real));
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
    noted(&d.notes, "Jailhouse's panic dump", &["CR4 has VMXE"]);
}

/// Launchpad #1902394: QEMU's `KVM: exception 0 exit (error code 0x0)` after a libvirt
/// log line, once dropped (no exit, judged for both vendors).
#[test]
fn kvm_exception_exit_is_read_and_names_intel() {
    let all = judged("launchpad-1902394.txt");
    let (d, j) = &all[0];
    assert_eq!(
        d.exits,
        [(
            2,
            Exit::KvmException {
                vector: 0,
                error_code: Some(0),
            }
        )]
    );
    assert_eq!(d.target, Target::Intel);
    let class = ExitClass::KvmException {
        vector: 0,
        error_code: Some(0),
    };
    assert_eq!(j.verdict, Verdict::NotGuestState(class));
}

/// xen-devel, 2025-01 (Linux 6.6.64 as a PVH domU): Xen's register dump after a triple
/// fault. It named its selectors and then said it showed no segment register, and left
/// the CPL and IA-32e mode unknown; now the selectors are each known in part, CS 0008
/// gives CPL 0 (RFLAGS.VM clear), and RIP 0xffffffff82b64050 gives 64-bit mode.
#[test]
fn xen_register_dump_names_cpl_and_64_bit_mode_from_what_it_shows() {
    let all = judged("xen-devel-linux-6.6.64-pvh-domU-triple.txt");
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::XenRegisters]);
    assert_eq!(d.guest.cpl, Some(Cpl::Ring0));
    assert_eq!(d.named_mode, Some(CpuMode::Long64));
    assert_eq!(d.named_lma, Some(true));
    noted(
        &d.notes,
        "RIP 0xffffffff82b64050 is above 4 GiB",
        &["64-bit mode"],
    );
    noted(
        &j.report.notes,
        "the dump shows no segment register whole, only part of",
        &["CS"],
    );
    assert!(
        !j.report
            .notes
            .iter()
            .any(|n| n == segstate::ingest::judge::NO_SEGMENTS_NOTE)
    );
}

/// VirtualBox ticket #21332: the `VT-x info` block's `HM error = 0x23a (570)`, once
/// not read (no exit, judged for both vendors): VirtualBox's own name for the failed
/// check, VMX_IGS_V86_GS_LIMIT_INVALID, as the thread found by hand; an Intel host's.
#[test]
fn virtualbox_hm_error_names_its_own_failed_check() {
    let all = judged("vbox-ticket-21332.txt");
    let (d, j) = &all[0];
    assert_eq!(d.exits, [(10, Exit::VboxHmError { code: 570 })]);
    assert_eq!(d.target, Target::Intel);
    let class = ExitClass::VboxInvalidGuestState(570);
    assert!(class.blames_guest_state());
    assert!(class.describe().contains("VMX_IGS_V86_GS_LIMIT_INVALID"));
    let Verdict::Outside { class: c, .. } = j.verdict else {
        panic!("{}", j.verdict);
    };
    assert_eq!(c, class);
    let gs = d.guest.segments[SegReg::Gs].expect("the gs={…} line");
    assert_eq!(gs.limit, 0xffff_ffff);
}

/// xqemu#112: `info registers` under WHPX, CR0.PE set and no segment suffix: QEMU's
/// hflags were stale, the rule sweep 10 could test only on an edited paste. The KVM
/// notes the judgement carries are said to be KVM's reading, not WHPX's doing.
#[test]
fn whpx_info_registers_has_stale_hflags_and_says_the_kvm_notes_are_kvms() {
    let j = corpus_common::judged_whole_dump(&corpus_common::text("xqemu-112.txt"));
    assert!(j.report.has(segstate::check::CheckId::QemuHflagsStale));
    noted(
        &j.report.notes,
        "QEMU's hflags were stale",
        &["not what WHPX or HAXM did"],
    );
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
}

/// A 2012 blog post (Linux 3.6.6, QEMU 1.x): `LDT=0000 ffff0000 f0000fff 00f0ff00`, a
/// null LDTR present with type 15. VM entry refuses that type, as segstate says; a
/// note now says how such an LDTR arises (an unusable one read back raw under
/// `emulate_invalid_guest_state=1` and written back usable), which the author's fix,
/// `emulate_invalid_guest_state=0`, bears out. A reset-state LDTR (type 2) gets none.
#[test]
fn a_null_ldtr_with_leftover_attributes_is_explained() {
    let all = judged("blog-kummerlaender-kvm-vde.txt");
    let (_, j) = &all[0];
    noted(
        &j.report.notes,
        "LDTR has a null selector (0000) yet is present with type 15 and S=1",
        &[
            "25391454e73e",
            "emulate_invalid_guest_state=1",
            "4cae9c97967a",
        ],
    );
    let reset = judged("launchpad-1902394.txt");
    assert!(
        !reset[0]
            .1
            .report
            .notes
            .iter()
            .any(|n| n.starts_with("LDTR has a null selector"))
    );
}

/// A path finding's attribute change is labelled: the left side is the chain's
/// documented normalisation, not the dump's value (Peng Hao's LDT, limit ffffffff and
/// G clear as printed, normalised to G set).
#[test]
fn path_attribute_changes_say_which_side_is_expected() {
    let all = judged("patch-peng-hao-fetch-fault.txt");
    let (_, j) = &all[0];
    let e = j
        .report
        .entries
        .iter()
        .find(|e| e.finding.id == segstate::check::CheckId::PathAttributesChanged)
        .expect("a path attribute change");
    assert!(
        e.finding.found.starts_with("expected vs actual: "),
        "{}",
        e.finding.found
    );
}

/// Babu Moger's 2020 report: an SEV guest's `CR3=0008000107e12000`, bit 51 the C-bit,
/// which KVM's CR3 check counted as above MAXPHYADDR (the thread's cause). segstate's
/// rules assume MAXPHYADDR 52 and pass it; a note now names the bit and the check.
#[test]
fn a_cr3_wider_than_most_hosts_is_named() {
    let all = judged("patch-babu-moger-sev-pcid.txt");
    let (_, j) = &all[0];
    noted(
        &j.report.notes,
        "CR3 0x0008000107e12000 sets bit 51",
        &["MAXPHYADDR", "kvm_set_cr3", "C-bit"],
    );
    let narrow = judged("launchpad-1902394.txt");
    assert!(
        !narrow[0]
            .1
            .report
            .notes
            .iter()
            .any(|n| n.starts_with("CR3 "))
    );
}
