//! The verify results the 2017 thread and its follow-ups predict, asserted over the
//! whole domain of each chain, and rule ablations that show what each fixup is for.

use segstate::arch::{PrivilegeLevel, SegReg};
use segstate::profile::{Chain, Rule, VcpuSegments};
use segstate::testing::{encode_state, previous_caches};
use segstate::verify::{self, ChainReport, Property, sysret_state, verify_chain};

fn report(spec: &str) -> ChainReport {
    let chain: Chain = spec.parse().unwrap();
    verify_chain(&chain)
}

/// The AMD state after SYSRET with a null SS, through `spec`, as a whole state.
fn sysret_through(spec: &str) -> VcpuSegments {
    let chain: Chain = spec.parse().unwrap();
    let input = encode_state(chain.source(), &sysret_state());
    assert_eq!(input.cpl(), PrivilegeLevel::Ring3);
    chain.run(&input, &previous_caches()).unwrap()
}

/// The CPL the SYSRET state comes out of `spec` with.
#[track_caller]
fn assert_sysret_cpl(spec: &str, cpl: PrivilegeLevel) {
    assert_eq!(sysret_through(spec).cpl(), cpl, "{spec}");
}

fn assert_escalates_unusable_ss(r: &ChainReport, responsible: Rule) {
    assert!(r.escalations() > 0, "{}: expected escalations", r.chain);
    let c = r
        .counterexamples
        .iter()
        .find(|c| c.property == Property::Escalation && c.cpl_before == PrivilegeLevel::Ring3)
        .unwrap_or_else(|| {
            r.counterexamples
                .iter()
                .find(|c| c.property == Property::Escalation)
                .expect("an escalation counterexample")
        });
    assert_eq!(c.reg, SegReg::Ss);
    assert_eq!(c.cpl_after, PrivilegeLevel::Ring0);
    assert_eq!(c.responsible, [responsible], "{}", r.chain);
}

#[test]
fn the_2017_bug_drops_cpl_3_to_0() {
    let out = sysret_through("kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11");
    assert_eq!(out.cpl(), PrivilegeLevel::Ring0);
    let r = report("kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11");
    assert!(r.escalations() > 0);
}

#[test]
fn kernel_half_alone_still_escalates() {
    assert_sysret_cpl("kvm-svm > qemu@2.9 > kvm-svm", PrivilegeLevel::Ring0);
    let r = report("kvm-svm > qemu@2.9 > kvm-svm");
    assert_escalates_unusable_ss(&r, Rule::QemuGetZeroUnusableFlags);
}

#[test]
fn qemu_half_alone_still_escalates() {
    assert_sysret_cpl("kvm-svm@4.11 > qemu > kvm-svm@4.11", PrivilegeLevel::Ring0);
    let r = report("kvm-svm@4.11 > qemu > kvm-svm@4.11");
    assert_escalates_unusable_ss(&r, Rule::SvmSetZeroUnusableAttrib);
}

#[test]
fn both_halves_fixed_never_change_cpl_anywhere() {
    assert_sysret_cpl("kvm-svm > qemu > kvm-svm", PrivilegeLevel::Ring3);
    let r = report("kvm-svm > qemu > kvm-svm");
    assert!(
        r.states > 300_000,
        "the domain is exhaustive: {} states",
        r.states
    );
    assert!(r.is_sound(), "{:#?}", r.counterexamples);
}

#[test]
fn amd_state_into_intel_keeps_cpl_only_after_6_2() {
    assert_sysret_cpl("kvm-svm > qemu > kvm-vmx", PrivilegeLevel::Ring3);
    assert_sysret_cpl("kvm-svm > qemu > kvm-vmx@6.1", PrivilegeLevel::Ring0);
    let fixed = report("kvm-svm > qemu > kvm-vmx");
    assert!(fixed.is_sound(), "{:#?}", fixed.counterexamples);
    let old = report("kvm-svm > qemu > kvm-vmx@6.1");
    assert_escalates_unusable_ss(&old, Rule::VmxSetZeroUnusableAr);
    // The lost SS.DPL also makes VM entry fail: CS.DPL 3 != SS.DPL 0.
    assert!(old.violations(Property::VmxEntryRejected) > 0);
}

#[test]
fn pass_through_vmms_are_sound_on_fixed_kernels_only() {
    assert!(report("kvm-svm > verbatim > kvm-svm").is_sound());
    assert!(report("kvm-vmx > verbatim > kvm-vmx").is_sound());
    let old = report("kvm-svm@4.11 > verbatim > kvm-svm@4.11");
    assert_escalates_unusable_ss(&old, Rule::SvmSetZeroUnusableAttrib);
}

#[test]
fn thread_designs_first_escalates_second_keeps_cpl_but_not_attributes() {
    let keep = report("kvm-svm > qemu-keep-old-flags > kvm-svm");
    assert_escalates_unusable_ss(&keep, Rule::QemuGetKeepOldFlags);
    let segtype = report("kvm-svm > qemu-segtype > kvm-svm");
    assert!(segtype.keeps_cpl());
    assert!(segtype.violations(Property::AttributeLoss) > 0);
    let on_old_kernel = report("kvm-svm@4.11 > qemu-segtype > kvm-svm@4.11");
    assert!(on_old_kernel.escalations() > 0);
}

#[test]
fn garbage_bytes_are_masked_by_kvm_and_spill_in_qemu_get_seg() {
    let svm = report("verbatim > kvm-svm");
    assert!(svm.garbage_states > 0);
    assert!(svm.keeps_cpl());
    // QEMU get_seg shifts unmasked: garbage in `s` or `type` sets DPL bits, so the CPL
    // QEMU derives changes; OR-ing bits in can only raise it, never escalate.
    let qemu = report("qemu");
    assert!(qemu.violations(Property::CplChanged) > 0);
    assert_eq!(qemu.escalations(), 0);
    assert!(
        qemu.counterexamples
            .iter()
            .all(|c| c.property != Property::CplChanged || c.cpl_after > c.cpl_before)
    );
}

#[test]
fn intel_round_trips_are_sound_today_and_lose_cpl_before_6_2() {
    assert!(report("kvm-vmx > qemu > kvm-vmx").is_sound());
    let old = report("kvm-vmx@6.1 > qemu > kvm-vmx@6.1");
    assert_escalates_unusable_ss(&old, Rule::VmxSetZeroUnusableAr);
}

#[test]
fn cross_vendor_round_trip_is_sound() {
    assert!(report("kvm-svm > qemu > kvm-vmx > qemu > kvm-svm").is_sound());
    assert!(report("kvm-vmx > qemu > kvm-svm").is_sound());
}

/// Each cross-vendor fixup, switched off, shows the state it exists for.
#[test]
fn ablating_cross_vendor_fixups_breaks_intel_vm_entry() {
    for (spec, check) in [
        (
            "kvm-svm[-svm.get.data-accessed] > qemu > kvm-vmx[-vmx.set.accessed-unrestricted]",
            "vmx.entry.data.accessed",
        ),
        (
            "kvm-svm[-svm.get.g-from-limit] > qemu > kvm-vmx",
            "vmx.entry.g",
        ),
        (
            "kvm-svm[-svm.get.tr-busy] > qemu > kvm-vmx",
            "vmx.entry.tr.type",
        ),
        (
            "kvm-svm > qemu > kvm-vmx[-vmx.set.accessed-unrestricted]",
            "vmx.entry.cs.type",
        ),
    ] {
        let r = report(spec);
        assert!(r.violations(Property::VmxEntryRejected) > 0, "{spec}");
        assert!(
            r.counterexamples
                .iter()
                .any(|c| c.property == Property::VmxEntryRejected && c.detail.contains(check)),
            "{spec}: {:#?}",
            r.counterexamples
        );
    }
}

/// Each CPL carrier, switched off, loses the CPL.
#[test]
fn ablating_cpl_carriers_loses_cpl() {
    let no_set =
        report("kvm-svm[-svm.set.cpl-from-ss-dpl] > qemu > kvm-svm[-svm.set.cpl-from-ss-dpl]");
    assert!(no_set.escalations() > 0, "an unwritten VMCB.CPL reads 0");
    let no_get =
        report("kvm-svm[-svm.get.ss-dpl-from-cpl] > qemu > kvm-svm[-svm.get.ss-dpl-from-cpl]");
    assert!(
        no_get.violations(Property::CplChanged) > 0,
        "the stale SS.DPL becomes the CPL"
    );
}

#[test]
fn every_builtin_chain_verifies() {
    let chains = segstate::profile::builtin_chains();
    let reports = verify::verify_all(&chains);
    assert_eq!(reports.len(), segstate::profile::BUILTIN_CHAINS.len());
    for r in &reports {
        assert!(r.states > 0);
        assert!(segstate::profile::builtin_about(&r.chain).is_some());
        for c in &r.counterexamples {
            assert!(!c.detail.is_empty(), "{}: {c:?}", r.chain);
        }
    }
}

/// Verifying on several threads gives the same reports, in the same order.
#[test]
fn parallel_verification_equals_sequential() {
    let chains = segstate::profile::builtin_chains();
    let one = verify::verify_all(&chains);
    let two = verify::verify_all_parallel(&chains, 2);
    assert_eq!(one.len(), two.len());
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a.chain, b.chain);
        assert_eq!(a.states, b.states);
        for p in Property::ALL {
            assert_eq!(a.violations(p), b.violations(p), "{} {p}", a.chain);
        }
        assert_eq!(a.counterexamples, b.counterexamples, "{}", a.chain);
    }
}
