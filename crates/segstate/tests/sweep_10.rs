//! Sweep 10's misreadings of real pastes (`fixtures/dumps/`, each with its sidecar):
//! what each reads to now, beyond its row in `dump_corpus/table.rs`.

use segstate::arch::SegReg;
use segstate::check::report::Vendors;
use segstate::check::{CheckId, Family};
use segstate::ingest::judge::{Verdict, judge};
use segstate::ingest::log::Dialect;

mod corpus_common;
use corpus_common::{judged, noted};

/// oxidecomputer/propolis#378: vCPU 1's registers after vCPU 0's VMCB lines are an
/// AMD host's, its CS (G clear, limit 0xffffffff) and TR (type 9) read as bhyve's
/// vmcb_getdesc copies them; no rule fails, and no Intel rule is judged.
#[test]
fn bhyvectl_vcpu_takes_the_host_another_vcpus_vmcb_lines_name() {
    let all = judged("propolis-378.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::BhyvectlVmcb]);
    noted(
        &d.notes,
        "an AMD host: this vCPU's part of the paste shows no VMCS or VMCB line",
        &["vCPU 0's VMCB lines", "line 13"],
    );
    let cs = d.guest.segments[SegReg::Cs].unwrap();
    assert!(!cs.attributes.g && cs.limit == 0xffff_ffff);
    assert_eq!(j.verdict, Verdict::Passes, "{}", j.verdict);
    assert!(j.report.entries.iter().all(|e| e.family != Family::Vmx));
    // No EFER line: VMRUN's EFER.SVME check is not judged, not failed.
    assert!(j.not_judged.iter().any(|n| n == "svm.vmrun.efer-svme"));
}

/// The same vCPU's part alone: no vendor can be told, and CS's G and TR's type, wrong
/// only in the Intel reading, are named in a note and not judged.
#[test]
fn bhyvectl_of_an_unknown_host_gives_no_intel_only_verdict() {
    let all = judged("propolis-378-vcpu1.txt");
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::Bhyvectl]);
    assert_eq!(j.verdict, Verdict::Passes, "{}", j.verdict);
    for id in [CheckId::VmxEntryG, CheckId::VmxEntryTrType] {
        assert!(j.report.entries.iter().all(|e| e.finding.id != id), "{id}");
    }
    noted(
        &j.report.notes,
        "vmx.entry.g (CS), vmx.entry.tr.type (TR) fail only if an Intel host printed the paste",
        &["vmcb_getdesc", "not judged"],
    );
    // Read for Intel (`--vendor intel`), the same rights fail VM entry.
    let intel = judge(d, Some(Vendors::Intel));
    assert!(
        matches!(&intel.verdict, Verdict::Fails { finding, .. } if finding.id == CheckId::VmxEntryG),
        "{}",
        intel.verdict
    );
}

/// QEMU prints a segment's `DPL=… CS32 […]` suffix only when its hflags have
/// HF_PE_MASK (target/i386/cpu-dump.c `cpu_x86_dump_seg_cache`). An accelerator that
/// writes CR0 without `x86_update_hflags` (WHPX, HAXM) leaves a protected-mode dump
/// with no suffix at all. No such paste was found in the index, so this is a real
/// paste (embox-612, a QEMU dump with CR0=00000011) with only that fact made true:
/// every suffix cut. Said once as stale hflags, not per segment as an edited dump.
#[test]
fn a_protected_mode_dump_without_any_suffix_has_stale_hflags() {
    let real = corpus_common::text("embox-612.txt");
    let stale: String = real
        .lines()
        .map(|l| format!("{}\n", l.split(" DPL=").next().unwrap_or(l)))
        .collect();
    let ids = |text: &str| -> Vec<CheckId> {
        corpus_common::judged_whole_dump(text)
            .report
            .entries
            .iter()
            .filter(|e| e.family == Family::Qemu)
            .map(|e| e.finding.id)
            .collect()
    };
    assert_eq!(ids(&real), []);
    assert_eq!(ids(&stale), [CheckId::QemuHflagsStale]);
}

/// intel/gvt-linux#158: real mode, EIP 0xfd069 beyond CS's limit 0xfff (G=1): outside
/// 64-bit mode the next instruction fetch faults (SDM Vol. 3A §5.3), an architectural
/// warning naming RIP and the limit. A 64-bit dump whose CS limit is 0 (blog-os-770,
/// blog-os-798) is not limit-checked and gets none.
#[test]
fn rip_beyond_cs_limit_outside_64_bit_mode_is_named() {
    let all = judged("gvt-linux-158.txt");
    let j = &all[0].1;
    let e = j
        .report
        .entries
        .iter()
        .find(|e| e.finding.id == CheckId::ArchRipCsLimit)
        .expect("arch.rip.cs-limit");
    assert_eq!(e.finding.reg, Some(SegReg::Cs));
    assert!(e.finding.expected.contains("CS.limit 0xfff (G=1)"));
    assert!(e.finding.found.starts_with("RIP 0xfd069"));
    // A reset CS (limit 0xffff) with the running guest's EIP, after QEMU's half reset
    // (qemu-devel 2020-07-23, sweep 11).
    let all = judged("qemu-devel-2007-reset-cpu-host.txt");
    let e = all[0]
        .1
        .report
        .entries
        .iter()
        .find(|e| e.finding.id == CheckId::ArchRipCsLimit)
        .expect("arch.rip.cs-limit on the half reset");
    assert!(
        e.finding.found.starts_with("RIP 0x906428e6"),
        "{}",
        e.finding.found
    );
    for name in ["blog-os-770.txt", "blog-os-798.txt"] {
        for (_, j) in judged(name) {
            let ids: Vec<CheckId> = j.report.entries.iter().map(|e| e.finding.id).collect();
            assert!(!ids.contains(&CheckId::ArchRipCsLimit), "{name}");
        }
    }
}

/// tianocore/edk2#23: CS.base 0x9f000 + EIP 0x1000 = 0xa0000 with CR0.PG=0, so the CPU
/// fetches from the legacy VGA window: a note says so. edk2-6597's EIP 0xa0000 is cut
/// before its CR0 line, so paging cannot be ruled out and nothing is said; neither is
/// anything said with paging on (the same state with CR0.PG set).
#[test]
fn fetching_from_the_vga_window_with_paging_off_is_noted() {
    const START: &str = "the CPU is executing from video memory";
    let all = judged("edk2-23.txt");
    let (d, j) = &all[0];
    noted(
        &j.report.notes,
        START,
        &["CS.base 0x9f000 + RIP 0x1000 = 0xa0000", "CR0.PG=0"],
    );
    let mut paged = d.clone();
    paged.guest.cr0 = paged.guest.cr0.map(|c| c | 1 << 31);
    let j = judge(&paged, None);
    assert!(!j.report.notes.iter().any(|n| n.starts_with(START)));
    for (_, j) in judged("edk2-6597.txt") {
        assert!(!j.report.notes.iter().any(|n| n.starts_with(START)));
    }
}
