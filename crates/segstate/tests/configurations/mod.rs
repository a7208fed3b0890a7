//! Configurations judged besides KVM's defaults: Intel VM entry without unrestricted
//! guest, with its own findings and what KVM does instead of entering.

use segstate::arch::{CR0_PE, SegReg, Selector};
use segstate::check::CheckId;
use segstate::check::report::{self, Vendors};
use segstate::check::vmx_entry::VmxEntryControls;

use super::{full_report, k0, pm32, seg, with};

/// Without unrestricted guest is a configuration of its own: a check only it fails
/// keeps the catalogue's severity there, does not count in the report's verdict (KVM's
/// default enters the state), and the report says what KVM does instead.
#[test]
fn a_check_only_without_unrestricted_guest_is_its_own_configuration() {
    let s = with(k0(), |s| seg(s, SegReg::Ss).selector = Selector(0x1b));
    let r = full_report(&s, Vendors::Intel);
    assert!(!r.has(CheckId::VmxEntrySsDplRpl), "{:#?}", r.entries);
    assert_eq!(r.errors(), 0, "{:#?}", r.entries);
    let c = &r.configurations[0];
    assert_eq!(
        c.target,
        segstate::check::preflight::Target::IntelVmEntry(VmxEntryControls {
            unrestricted_guest: false,
            ia32e_mode_guest: true,
        })
    );
    let f = c
        .findings
        .iter()
        .find(|f| f.id == CheckId::VmxEntrySsDplRpl)
        .expect("judged without unrestricted guest");
    assert_eq!(f.severity, CheckId::VmxEntrySsDplRpl.severity());
    let note = r
        .notes
        .iter()
        .find(|n| n.starts_with(report::CONFIGURATION_NOTE))
        .expect("the configuration is described");
    assert!(note.contains("vmx.entry.ss.dpl-rpl"), "{note}");
    assert!(note.contains("emulate_invalid_guest_state"), "{note}");
    assert!(note.contains("kvm_intel.unrestricted_guest=1"), "{note}");
    // A state every configuration enters has no such note.
    let ok = full_report(&k0(), Vendors::Intel);
    assert!(ok.configurations[0].findings.is_empty());
    assert!(
        !ok.notes
            .iter()
            .any(|n| n.starts_with(report::CONFIGURATION_NOTE))
    );
    // Real mode: KVM runs it in virtual-8086 mode, and says so.
    let real = with(pm32(), |s| s.cr0 &= !CR0_PE);
    let r = full_report(&real, Vendors::Intel);
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with(report::CONFIGURATION_NOTE) && n.contains("virtual-8086")),
        "{:#?}",
        r.notes
    );
}
