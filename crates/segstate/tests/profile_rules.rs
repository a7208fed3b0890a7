//! Every cooking rule, pinned: for each [`Rule`] one input where the rule matters, the
//! exact output of the profile that has it, and the exact output with the rule switched
//! off (what [`Rule::when_off`] describes). Expected values are literals derived by hand
//! from the upstream C (svm_get_segment / svm_set_segment, vmx_get_segment /
//! vmx_segment_access_rights, QEMU get_seg / set_seg), never by calling the code again.
//!
//! Also: garbage bytes in `kvm_segment` and the golden kernel-CS example. Chain parsing,
//! shapes, `run_sregs` and QEMU migrations are in tests/chains.rs.

use segstate::arch::{PrivilegeLevel, SegReg};
use segstate::format::kvm::KvmSegment;
use segstate::format::qemu::{QemuFlags, QemuSegmentCache};
use segstate::format::svm::SvmAttrib;
use segstate::format::vmx::VmxAccessRights;
use segstate::profile::{Profile, Rule, qemu, qemu_modes, svm, vmx};

mod common;
use common::{cache, kseg, on_off, real_mode_caches, rules_with, vmcb, vmcs};

/// The rule ids this file tests, one per `rule_*` test below.
const TESTED: &[&str] = &[
    "svm.get.g-from-limit",
    "svm.get.unusable-from-p",
    "svm.get.unusable-from-type0",
    "svm.get.tr-busy",
    "svm.get.data-accessed",
    "svm.get.ss-db-unusable",
    "svm.get.ss-dpl-from-cpl",
    "svm.set.p-from-unusable",
    "svm.set.zero-unusable-attrib",
    "svm.set.cpl-from-ss-dpl",
    "svm.set.cpl-from-attrib",
    "vmx.get.present-from-unusable",
    "vmx.set.unusable-from-not-present",
    "vmx.set.accessed-unrestricted",
    "vmx.set.zero-unusable-ar",
    "qemu.set.unusable-from-not-present",
    "qemu.get.p-from-unusable",
    "qemu.get.zero-unusable-flags",
    "qemu.get.keep-old-flags",
    "qemu.get.segtype",
    "qemu.set.v8086-seg",
    "qemu.pre-save.real-mode-dpl-zero",
    "qemu.post-load.cpl-from-ss-dpl",
];

/// The engines whose rules this file pins; tests/stack_rules.rs pins every other rule
/// and checks the two lists cover [`Rule::ALL`] together.
const PREFIXES: [&str; 3] = ["svm.", "vmx.", "qemu."];

#[test]
fn every_rule_has_a_test() {
    let mine = Rule::ALL
        .iter()
        .filter(|r| PREFIXES.iter().any(|p| r.id().starts_with(p)));
    for rule in mine.clone() {
        assert!(
            TESTED.contains(&rule.id()),
            "rule {} has no test in tests/profile_rules.rs",
            rule.id()
        );
    }
    for (i, id) in TESTED.iter().enumerate() {
        assert!(id.parse::<Rule>().is_ok(), "{id} is not a rule id");
        assert!(!TESTED[i + 1..].contains(id), "{id} listed twice");
    }
    assert_eq!(TESTED.len(), mine.count());
}

// ---------------------------------------------------------------------------------------
// KVM SVM, get: svm_get_segment.

/// `var->g = s->limit > 0xfffff`. Flat DS whose attrib has G = 0 (AMD does not track it).
#[test]
fn rule_svm_get_g_from_limit() {
    let rule = Rule::SvmGetGFromLimit;
    let rules = rules_with(Profile::KVM_SVM, rule);
    // attrib 0x093: type 3, S, DPL 0, P; G (bit 11) = 0.
    let ds = vmcb(0x18, 0x093, 0xffff_ffff, 0);
    // Off: G read from attrib bit 11.
    on_off(
        rules,
        rule,
        |r| svm::get_segment(r, SegReg::Ds, &ds, 0),
        kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 0, 1, 0, 1, 0, 0]),
        kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 0, 1, 0, 0, 0, 0]),
    );
    // And the other way: G = 1 in attrib, small limit → g = 0 with the rule.
    let small = vmcb(0x18, 0x893, 0xfffff, 0);
    on_off(
        rules,
        rule,
        |r| svm::get_segment(r, SegReg::Ds, &small, 0).g,
        0,
        1,
    );
}

/// `var->unusable = !var->present`. A not-present CS (no register special case).
#[test]
fn rule_svm_get_unusable_from_p() {
    let rule = Rule::SvmGetUnusableFromP;
    let rules = rules_with(Profile::KVM_SVM, rule);
    // attrib 0x01b: type 0xb, S, DPL 0, P = 0.
    let cs = vmcb(0x10, 0x01b, 0xffff, 0);
    // Off: unusable reported as 0.
    on_off(
        rules,
        rule,
        |r| svm::get_segment(r, SegReg::Cs, &cs, 0),
        kseg(0x10, 0xffff, 0, [0xb, 0, 0, 0, 1, 0, 0, 0, 1]),
        kseg(0x10, 0xffff, 0, [0xb, 0, 0, 0, 1, 0, 0, 0, 0]),
    );
}

/// Before 4.12: `var->unusable = !var->present || (var->type == 0)`. A present GS of
/// type 0 (read-only data, not accessed).
#[test]
fn rule_svm_get_unusable_from_type0() {
    let rule = Rule::SvmGetUnusableFromType0;
    let rules = rules_with(Profile::KVM_SVM_4_11, rule);
    assert!(!Profile::KVM_SVM.rules.has(rule));
    // attrib 0x090: type 0, S, DPL 0, P.
    let gs = vmcb(0, 0x090, 0xffff, 0x7f00_0000_0000);
    // Unusable, so no accessed bit either.
    let on = kseg(0, 0xffff, 0x7f00_0000_0000, [0, 1, 0, 0, 1, 0, 0, 0, 1]);
    assert_eq!(svm::get_segment(rules, SegReg::Gs, &gs, 0), on);
    // Off: usable, and then `type |= 1` (accessed) applies.
    let off = kseg(0, 0xffff, 0x7f00_0000_0000, [1, 1, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(
        svm::get_segment(rules.without(rule), SegReg::Gs, &gs, 0),
        off
    );
    // The 4.12 profile is exactly 4.11's get without it; adding it back restores it.
    assert_eq!(
        svm::get_segment(Profile::KVM_SVM.rules, SegReg::Gs, &gs, 0),
        off
    );
    assert_eq!(
        svm::get_segment(Profile::KVM_SVM.rules.with(rule), SegReg::Gs, &gs, 0),
        on
    );
}

/// TR: `var->type |= 0x2`. An available 64-bit TSS (type 9) reads back busy (0xb).
#[test]
fn rule_svm_get_tr_busy() {
    let rule = Rule::SvmGetTrBusy;
    let rules = rules_with(Profile::KVM_SVM, rule);
    // attrib 0x089: type 9, S = 0, DPL 0, P.
    let tr = vmcb(0x40, 0x089, 0x67, 0xffff_fe00_0000_3000);
    on_off(
        rules,
        rule,
        |r| svm::get_segment(r, SegReg::Tr, &tr, 0),
        kseg(
            0x40,
            0x67,
            0xffff_fe00_0000_3000,
            [0xb, 1, 0, 0, 0, 0, 0, 0, 0],
        ),
        kseg(
            0x40,
            0x67,
            0xffff_fe00_0000_3000,
            [9, 1, 0, 0, 0, 0, 0, 0, 0],
        ),
    );
}

/// DS/ES/FS/GS: `if (!var->unusable) var->type |= 0x1`. A flat ES of type 2.
#[test]
fn rule_svm_get_data_accessed() {
    let rule = Rule::SvmGetDataAccessed;
    let rules = rules_with(Profile::KVM_SVM, rule);
    // attrib 0xc92: type 2, S, DPL 0, P, DB, G.
    let es = vmcb(0x18, 0xc92, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| svm::get_segment(r, SegReg::Es, &es, 0),
        kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 0]),
        kseg(0x18, 0xffff_ffff, 0, [2, 1, 0, 1, 1, 0, 1, 0, 0]),
    );
    // Not for an unusable data segment, and not for CS.
    let unusable_es = vmcb(0, 0xc12, 0xffff_ffff, 0);
    assert_eq!(
        svm::get_segment(rules, SegReg::Es, &unusable_es, 0).type_,
        2
    );
    assert_eq!(svm::get_segment(rules, SegReg::Cs, &es, 0).type_, 2);
}

/// SS: `if (var->unusable) var->db = 0`. An unusable SS that kept DB = 1.
#[test]
fn rule_svm_get_ss_db_unusable() {
    let rule = Rule::SvmGetSsDbUnusable;
    let rules = rules_with(Profile::KVM_SVM, rule);
    // attrib 0xc73: type 3, S, DPL 3, P = 0, DB, G. VMCB.CPL = 3.
    let ss = vmcb(0x2b, 0xc73, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| svm::get_segment(r, SegReg::Ss, &ss, 3),
        kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 0, 1, 0, 1, 0, 1]),
        kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]),
    );
}

/// SS: `var->dpl = vmcb->save.cpl`. After an AMD SYSRET: CPL 3, SS attrib still DPL 0.
#[test]
fn rule_svm_get_ss_dpl_from_cpl() {
    let rule = Rule::SvmGetSsDplFromCpl;
    let rules = rules_with(Profile::KVM_SVM, rule);
    // attrib 0xc93: flat data, DPL 0, P.
    let ss = vmcb(0x2b, 0xc93, 0xffff_ffff, 0);
    // Off: DPL from attrib, the stale 0.
    on_off(
        rules,
        rule,
        |r| svm::get_segment(r, SegReg::Ss, &ss, 3),
        kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 0]),
        kseg(0x2b, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 0]),
    );
}

// ---------------------------------------------------------------------------------------
// KVM SVM, set: svm_set_segment.

/// Since 4.12: `P = ((var->present & 1) && !var->unusable)`. A DS that says present
/// and unusable at once.
#[test]
fn rule_svm_set_p_from_unusable() {
    let rule = Rule::SvmSetPFromUnusable;
    let rules = rules_with(Profile::KVM_SVM, rule);
    let ds = kseg(0, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 1]);
    // type 3 | S 0x10 | DB 0x400 | G 0x800, P = 0.
    // Off: P = present & 1 = 1.
    on_off(
        rules,
        rule,
        |r| svm::set_segment(r, SegReg::Ds, &ds),
        (vmcb(0, 0xc13, 0xffff_ffff, 0), None),
        (vmcb(0, 0xc93, 0xffff_ffff, 0), None),
    );
}

/// Before 4.12: `if (var->unusable) s->attrib = 0`. An unusable DS with DPL 3.
#[test]
fn rule_svm_set_zero_unusable_attrib() {
    let rule = Rule::SvmSetZeroUnusableAttrib;
    let rules = rules_with(Profile::KVM_SVM_4_11, rule);
    let ds = kseg(0, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
    // Off: packed; 4.11 has no P-from-unusable, so P = present & 1 = 0.
    // type 3 | S 0x10 | DPL 0x60 | DB 0x400 | G 0x800.
    on_off(
        rules,
        rule,
        |r| svm::set_segment(r, SegReg::Ds, &ds),
        (vmcb(0, 0, 0xffff_ffff, 0), None),
        (vmcb(0, 0xc73, 0xffff_ffff, 0), None),
    );
    // Truthiness: unusable = 2 zeroes too.
    let ds2 = kseg(0, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 2]);
    assert_eq!(
        svm::set_segment(rules, SegReg::Ds, &ds2).0.attrib,
        SvmAttrib(0)
    );
}

/// Since 4.12: `save.cpl = var->dpl & 3` for SS. A CPL-3 unusable SS.
#[test]
fn rule_svm_set_cpl_from_ss_dpl() {
    let rule = Rule::SvmSetCplFromSsDpl;
    let rules = rules_with(Profile::KVM_SVM, rule);
    let ss = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
    // Off: VMCB.CPL not written.
    on_off(
        rules,
        rule,
        |r| svm::set_segment(r, SegReg::Ss, &ss),
        (vmcb(0x2b, 0xc73, 0xffff_ffff, 0), Some(3)),
        (vmcb(0x2b, 0xc73, 0xffff_ffff, 0), None),
    );
    // `& 3`: dpl 7 → CPL 3, dpl 4 → CPL 0.
    let mut garbage = ss;
    garbage.dpl = 7;
    assert_eq!(svm::set_segment(rules, SegReg::Ss, &garbage).1, Some(3));
    garbage.dpl = 4;
    assert_eq!(svm::set_segment(rules, SegReg::Ss, &garbage).1, Some(0));
    // Only SS writes the CPL.
    assert_eq!(svm::set_segment(rules, SegReg::Cs, &ss).1, None);
}

/// 3.16 to 4.11: `save.cpl = (s->attrib >> SVM_SELECTOR_DPL_SHIFT) & 3` for SS.
#[test]
fn rule_svm_set_cpl_from_attrib() {
    let rule = Rule::SvmSetCplFromAttrib;
    let rules = rules_with(Profile::KVM_SVM_4_11, rule);
    // Usable CPL-3 SS: attrib 0xcf3, CPL 3 from it.
    let ss = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 0]);
    on_off(
        rules,
        rule,
        |r| svm::set_segment(r, SegReg::Ss, &ss),
        (vmcb(0x2b, 0xcf3, 0xffff_ffff, 0), Some(3)),
        (vmcb(0x2b, 0xcf3, 0xffff_ffff, 0), None),
    );
    // The 2017 bug: an unusable CPL-3 SS has its attrib zeroed, so CPL 0.
    let unusable = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
    on_off(
        rules,
        rule,
        |r| svm::set_segment(r, SegReg::Ss, &unusable),
        (vmcb(0x2b, 0, 0xffff_ffff, 0), Some(0)),
        (vmcb(0x2b, 0, 0xffff_ffff, 0), None),
    );
}

// ---------------------------------------------------------------------------------------
// KVM VMX: vmx_get_segment, __vmx_set_segment, vmx_segment_access_rights.

/// `var->present = !var->unusable`. A usable AR with P (bit 7) clear.
#[test]
fn rule_vmx_get_present_from_unusable() {
    let rule = Rule::VmxGetPresentFromUnusable;
    let rules = rules_with(Profile::KVM_VMX, rule);
    // AR 0xc013: type 3, S, DPL 0, P = 0, DB, G, usable.
    let ds = vmcs(0x18, 0xc013, 0xffff_ffff, 0);
    // Off: P from AR bit 7.
    on_off(
        rules,
        rule,
        |r| vmx::get_segment(r, &ds),
        kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 0]),
        kseg(0x18, 0xffff_ffff, 0, [3, 0, 0, 1, 1, 0, 1, 0, 0]),
    );
}

/// AR bit 16 = `var->unusable || !var->present`. A not-present DS with unusable = 0.
#[test]
fn rule_vmx_set_unusable_from_not_present() {
    let rule = Rule::VmxSetUnusableFromNotPresent;
    let rules = rules_with(Profile::KVM_VMX, rule);
    let ds = kseg(0, 0xffff_ffff, 0, [3, 0, 0, 1, 1, 0, 1, 0, 0]);
    // type 3 | S 0x10 | DB 0x4000 | G 0x8000 | unusable 0x10000.
    on_off(
        rules,
        rule,
        |r| vmx::set_segment(r, SegReg::Ds, &ds),
        vmcs(0, 0x1_c013, 0xffff_ffff, 0),
        vmcs(0, 0xc013, 0xffff_ffff, 0),
    );
}

/// Unrestricted guest: `var->type |= 0x1` for every segment but LDTR.
#[test]
fn rule_vmx_set_accessed_unrestricted() {
    let rule = Rule::VmxSetAccessedUnrestricted;
    let rules = rules_with(Profile::KVM_VMX, rule);
    // 64-bit kernel CS of type 0xa (not accessed).
    let cs = kseg(0x10, 0xffff_ffff, 0, [0xa, 1, 0, 0, 1, 1, 1, 0, 0]);
    // type 0xb | S 0x10 | P 0x80 | L 0x2000 | G 0x8000.
    on_off(
        rules,
        rule,
        |r| vmx::set_segment(r, SegReg::Cs, &cs),
        vmcs(0x10, 0xa09b, 0xffff_ffff, 0),
        vmcs(0x10, 0xa09a, 0xffff_ffff, 0),
    );
    // LDTR is excluded: type 2 stays 2 (AR 0x82).
    let ldt = kseg(0x50, 0xffff, 0x1000, [2, 1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        vmx::set_segment(rules, SegReg::Ldtr, &ldt),
        vmcs(0x50, 0x82, 0xffff, 0x1000)
    );
    // TR and SS are not excluded; unusable segments are not either.
    let tr = kseg(0x40, 0x67, 0, [0xa, 1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        vmx::set_segment(rules, SegReg::Tr, &tr).access_rights.0,
        0x8b
    );
}

/// Before 6.2: `if (var->unusable || !var->present) ar = 1 << 16`. A CPL-3 unusable SS.
#[test]
fn rule_vmx_set_zero_unusable_ar() {
    let rule = Rule::VmxSetZeroUnusableAr;
    let rules = rules_with(Profile::KVM_VMX_6_1, rule);
    assert!(!Profile::KVM_VMX.rules.has(rule));
    let ss = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
    assert_eq!(
        vmx::set_segment(rules, SegReg::Ss, &ss),
        vmcs(0x2b, 0x1_0000, 0xffff_ffff, 0)
    );
    // Off: packed, DPL 3 kept. type 3 | S | DPL 0x60 | DB | G | unusable.
    let kept = vmcs(0x2b, 0x1_c073, 0xffff_ffff, 0);
    assert_eq!(vmx::set_segment(rules.without(rule), SegReg::Ss, &ss), kept);
    assert_eq!(
        vmx::set_segment(Profile::KVM_VMX.rules, SegReg::Ss, &ss),
        kept
    );
    // Not present alone (unusable = 0) is enough to zero it.
    let absent = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 0]);
    assert_eq!(
        vmx::set_segment(rules, SegReg::Ss, &absent).access_rights,
        VmxAccessRights(0x1_0000)
    );
}

// ---------------------------------------------------------------------------------------
// QEMU: set_seg, get_seg, and the 2017 thread's two designs.

/// set_seg: `lhs->unusable = !lhs->present`. An SS cache with P = 0 and DPL 3.
#[test]
fn rule_qemu_set_unusable_from_not_present() {
    let rule = Rule::QemuSetUnusableFromNotPresent;
    let rules = rules_with(Profile::QEMU, rule);
    // flags: G | B | DPL 3 | S | type 3, P = 0.
    let ss = cache(0x2b, 0x00c0_7300, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| qemu::set_seg(r, &ss),
        kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]),
        kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 0]),
    );
}

/// get_seg since 2.10: `(rhs->present && !rhs->unusable) * DESC_P_MASK`. An SS that
/// says present and unusable.
#[test]
fn rule_qemu_get_p_from_unusable() {
    let rule = Rule::QemuGetPFromUnusable;
    let rules = rules_with(Profile::QEMU, rule);
    let ss = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 1]);
    let prev = QemuSegmentCache::default();
    // Off: P = present * DESC_P_MASK.
    on_off(
        rules,
        rule,
        |r| qemu::get_seg(r, SegReg::Ss, &ss, &prev),
        cache(0x2b, 0x00c0_7300, 0xffff_ffff, 0),
        cache(0x2b, 0x00c0_f300, 0xffff_ffff, 0),
    );
    // Off, unnormalised: present = 2 sets bit 16 and leaves P clear.
    let mut two = ss;
    two.present = 2;
    two.unusable = 0;
    assert_eq!(
        qemu::get_seg(rules.without(rule), SegReg::Ss, &two, &prev).flags,
        QemuFlags(0x00c1_7300)
    );
    assert_eq!(
        qemu::get_seg(rules, SegReg::Ss, &two, &prev).flags,
        QemuFlags(0x00c0_f300)
    );
}

/// get_seg 2.6 to 2.9: `if (rhs->unusable) lhs->flags = 0`. A CPL-3 unusable SS.
#[test]
fn rule_qemu_get_zero_unusable_flags() {
    let rule = Rule::QemuGetZeroUnusableFlags;
    let rules = rules_with(Profile::QEMU_2_9, rule);
    let ss = kseg(0x2b, 0xffff_ffff, 0x1000, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
    let prev = cache(0x2b, 0x00c0_f300, 0xffff_ffff, 0);
    // Only the flags are zeroed; selector, base and limit are copied.
    // Off: packed, P = present * DESC_P_MASK = 0.
    on_off(
        rules,
        rule,
        |r| qemu::get_seg(r, SegReg::Ss, &ss, &prev),
        cache(0x2b, 0, 0xffff_ffff, 0x1000),
        cache(0x2b, 0x00c0_7300, 0xffff_ffff, 0x1000),
    );
}

/// Rejected design 1: on unusable, `flags = previous & ~DESC_P_MASK`.
#[test]
fn rule_qemu_get_keep_old_flags() {
    let rule = Rule::QemuGetKeepOldFlags;
    let rules = rules_with(Profile::QEMU_KEEP_OLD_FLAGS, rule);
    // KVM reports an unusable CPL-3 SS of type 1, S, no DB/G.
    let ss = kseg(0x2b, 0xffff, 0, [1, 0, 3, 0, 1, 0, 0, 0, 1]);
    // The cache held a flat ring-0 SS.
    let prev = cache(0x18, 0x00c0_9300, 0xffff_ffff, 0);
    // Off: packed from KVM: type 1 << 8 | DPL 3 << 13 | S, P = 0.
    on_off(
        rules,
        rule,
        |r| qemu::get_seg(r, SegReg::Ss, &ss, &prev),
        cache(0x2b, 0x00c0_1300, 0xffff, 0),
        cache(0x2b, 0x0000_7100, 0xffff, 0),
    );
    // A usable segment is packed either way.
    let mut usable = ss;
    usable.present = 1;
    usable.unusable = 0;
    assert_eq!(
        qemu::get_seg(rules, SegReg::Ss, &usable, &prev).flags,
        QemuFlags(0x0000_f100)
    );
}

/// Rejected design 2: on unusable, `flags = previous & ~(P | DPL)`, SS ORs in KVM's DPL.
#[test]
fn rule_qemu_get_segtype() {
    let rule = Rule::QemuGetSegtype;
    let rules = rules_with(Profile::QEMU_SEGTYPE, rule);
    let ss = kseg(0x2b, 0xffff, 0, [1, 0, 3, 0, 1, 0, 0, 0, 1]);
    let prev = cache(0x18, 0x00c0_9300, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| qemu::get_seg(r, SegReg::Ss, &ss, &prev),
        cache(0x2b, 0x00c0_7300, 0xffff, 0),
        cache(0x2b, 0x0000_7100, 0xffff, 0),
    );
    // Any other register loses its DPL instead of taking KVM's.
    let prev_ds = cache(0x2b, 0x00c0_f300, 0xffff_ffff, 0);
    assert_eq!(
        qemu::get_seg(rules, SegReg::Ds, &ss, &prev_ds),
        cache(0x2b, 0x00c0_1300, 0xffff, 0)
    );
}

/// kvm_put_sregs with EFLAGS.VM: `set_v8086_seg`: type 3, P, DPL 3, S, the rest 0,
/// for CS/DS/ES/FS/GS/SS only. A real-mode-style cache with DPL 0 goes to KVM at DPL 3.
#[test]
fn rule_qemu_set_v8086_seg() {
    let rule = Rule::QemuSetV8086Seg;
    let rules = rules_with(Profile::QEMU_V8086, rule);
    let q = cache(0x1234, 0x00c0_9300, 0xffff, 0x12340);
    on_off(
        rules,
        rule,
        |r| qemu_modes::set_v8086_seg(r, SegReg::Ss, &q),
        Some(kseg(0x1234, 0xffff, 0x12340, [3, 1, 3, 0, 1, 0, 0, 0, 0])),
        None,
    );
    assert_eq!(qemu_modes::set_v8086_seg(rules, SegReg::Tr, &q), None);
}

/// cpu_pre_save: CR0.PE = 0 and CS.DPL = 3: the six code/data DPLs go to 0.
#[test]
fn rule_qemu_pre_save_real_mode_dpl_zero() {
    let rule = Rule::QemuPreSaveRealModeDplZero;
    let rules = rules_with(Profile::QEMU, rule);
    let mut caches = real_mode_caches(3);
    qemu_modes::pre_save(rules, 0x10, &mut caches);
    // TR and LDTR (no DPL in these caches) are not touched either way.
    assert_eq!(caches, real_mode_caches(0));
    for (cr0, r) in [(0x10, rules.without(rule)), (0x11, rules)] {
        let mut caches = real_mode_caches(3);
        qemu_modes::pre_save(r, cr0, &mut caches);
        assert_eq!(caches, real_mode_caches(3), "cr0 {cr0:#x}");
    }
}

/// cpu_post_load: the CPL is SS.DPL of the loaded caches, not the stream's hflags.
#[test]
fn rule_qemu_post_load_cpl_from_ss_dpl() {
    let rule = Rule::QemuPostLoadCplFromSsDpl;
    let rules = rules_with(Profile::QEMU, rule);
    let caches = real_mode_caches(3);
    on_off(
        rules,
        rule,
        |r| qemu_modes::post_load_cpl(r, &caches, PrivilegeLevel::Ring0),
        PrivilegeLevel::Ring3,
        PrivilegeLevel::Ring0,
    );
}

// ---------------------------------------------------------------------------------------
// Garbage bytes (research report, "Garbage semantics").

#[test]
fn garbage_svm_set_masks_every_field() {
    // type 0x1f → 0xf; present = 2 → P = present & 1 = 0; dpl 7 → 3; s 3 → 1.
    let ds = kseg(0x18, 0xffff_ffff, 0, [0x1f, 2, 7, 1, 3, 0, 1, 0, 0]);
    for p in [Profile::KVM_SVM, Profile::KVM_SVM_4_11] {
        // 0xf | S 0x10 | DPL 0x60 | DB 0x400 | G 0x800.
        assert_eq!(
            svm::set_segment(p.rules, SegReg::Ds, &ds),
            (vmcb(0x18, 0xc7f, 0xffff_ffff, 0), None),
            "{p}"
        );
    }
}

#[test]
fn garbage_vmx_set_forces_accessed_then_masks() {
    // type 0x1e: `type |= 1` gives 0x1f, then `& 15` gives 0xf.
    let cs = kseg(0x10, 0xffff_ffff, 0, [0x1e, 1, 0, 0, 1, 1, 1, 0, 0]);
    for p in [Profile::KVM_VMX, Profile::KVM_VMX_6_1] {
        assert_eq!(
            vmx::set_segment(p.rules, SegReg::Cs, &cs),
            vmcs(0x10, 0xa09f, 0xffff_ffff, 0),
            "{p}"
        );
        // LDTR is not forced: 0x1e & 15 = 0xe.
        assert_eq!(
            vmx::set_segment(p.rules, SegReg::Ldtr, &cs).access_rights,
            VmxAccessRights(0xa09e),
            "{p}"
        );
    }
}

#[test]
fn garbage_vmx_present_2_is_usable_and_not_present() {
    // P = 2 & 1 = 0, bit 16 = (0 || !2) = 0: a usable, not-present AR, in both eras.
    let ds = kseg(0x18, 0xffff_ffff, 0, [3, 2, 0, 1, 1, 0, 1, 0, 0]);
    for p in [Profile::KVM_VMX, Profile::KVM_VMX_6_1] {
        assert_eq!(
            vmx::set_segment(p.rules, SegReg::Ds, &ds),
            vmcs(0x18, 0xc013, 0xffff_ffff, 0),
            "{p}"
        );
    }
    // Read back: present = !unusable = 1.
    assert_eq!(
        vmx::get_segment(Profile::KVM_VMX.rules, &vmcs(0x18, 0xc013, 0xffff_ffff, 0)),
        kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 0])
    );
}

#[test]
fn garbage_qemu_get_spills_unmasked_fields() {
    let prev = QemuSegmentCache::default();
    // The clean baseline: type 3, P, S → 0x9300.
    let base = kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 0, 1, 0, 0, 0, 0]);
    for p in [Profile::QEMU, Profile::QEMU_2_9] {
        let get = |k: KvmSegment| qemu::get_seg(p.rules, SegReg::Ds, &k, &prev).flags.0;
        assert_eq!(get(base), 0x9300, "{p}");
        // dpl = 4: 4 << 13 = bit 15 = P (with present = 0), DPL 0.
        assert_eq!(
            get(KvmSegment {
                dpl: 4,
                present: 0,
                ..base
            }),
            0x9300,
            "{p}"
        );
        // s = 2: 2 * 0x1000 = bit 13 = DPL bit 0, S clear.
        assert_eq!(get(KvmSegment { s: 2, ..base }), 0xa300, "{p}");
        // db = 2: 2 << 22 = bit 23 = G.
        assert_eq!(get(KvmSegment { db: 2, ..base }), 0x80_9300, "{p}");
        // avl = 2: 2 * 0x100000 = bit 21 = L.
        assert_eq!(get(KvmSegment { avl: 2, ..base }), 0x20_9300, "{p}");
    }
}

#[test]
fn garbage_qemu_2_9_present_2_clears_p_and_sets_bit_16() {
    let prev = QemuSegmentCache::default();
    let ds = kseg(0x18, 0xffff_ffff, 0, [3, 2, 0, 0, 1, 0, 0, 0, 0]);
    // 2.9: present * DESC_P_MASK = 0x10000.
    assert_eq!(
        qemu::get_seg(Profile::QEMU_2_9.rules, SegReg::Ds, &ds, &prev),
        cache(0x18, 0x1_1300, 0xffff_ffff, 0)
    );
    // 2.10+: (present && !unusable) normalises to P.
    assert_eq!(
        qemu::get_seg(Profile::QEMU.rules, SegReg::Ds, &ds, &prev),
        cache(0x18, 0x9300, 0xffff_ffff, 0)
    );
}

// ---------------------------------------------------------------------------------------
// Golden values.

#[test]
fn golden_kernel_cs_through_kvm_svm_get() {
    // 64-bit kernel CS: attrib 0xa9b = type 0xb, S, DPL 0, P, L, G.
    let cs = vmcb(0x10, 0xa9b, 0xffff_ffff, 0);
    assert_eq!(
        svm::get_segment(Profile::KVM_SVM.rules, SegReg::Cs, &cs, 0),
        KvmSegment {
            base: 0,
            limit: 0xffff_ffff,
            selector: 0x10,
            type_: 11,
            present: 1,
            dpl: 0,
            db: 0,
            s: 1,
            l: 1,
            g: 1,
            avl: 0,
            unusable: 0,
            padding: 0,
        }
    );
}
