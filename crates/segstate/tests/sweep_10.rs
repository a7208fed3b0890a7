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
