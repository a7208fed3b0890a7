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
use segstate::profile::{Profile, Rule, RuleSet, qemu, qemu_modes, svm, vmx};

mod common;
use common::{cache, kseg, on_off, real_mode_caches, rule_tests, rules_with, vmcb, vmcs};

/// The rule ids this file tests, one per `rule_*` test in the table below.
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

rule_tests! {
    // -----------------------------------------------------------------------------------
    // KVM SVM, get: svm_get_segment.

    /// `var->g = s->limit > 0xfffff`. Flat DS whose attrib has G = 0 (AMD does not track
    /// it); off, G is read from attrib bit 11.
    rule_svm_get_g_from_limit: KVM_SVM has SvmGetGFromLimit {
        // attrib 0x093: type 3, S, DPL 0, P; G (bit 11) = 0.
        let ds = vmcb(0x18, 0x093, 0xffff_ffff, 0);
        |r| svm::get_segment(r, SegReg::Ds, &ds, 0)
            => kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 0, 1, 0, 1, 0, 0]),
            off kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 0, 1, 0, 0, 0, 0]);
        then |rules| {
            // And the other way: G = 1 in attrib, small limit → g = 0 with the rule.
            let small = vmcb(0x18, 0x893, 0xfffff, 0);
            on_off(
                rules,
                Rule::SvmGetGFromLimit,
                |r| svm::get_segment(r, SegReg::Ds, &small, 0).g,
                0,
                1,
            );
        }
    }

    /// `var->unusable = !var->present`. A not-present CS (no register special case);
    /// off, unusable is reported as 0.
    rule_svm_get_unusable_from_p: KVM_SVM has SvmGetUnusableFromP {
        // attrib 0x01b: type 0xb, S, DPL 0, P = 0.
        let cs = vmcb(0x10, 0x01b, 0xffff, 0);
        |r| svm::get_segment(r, SegReg::Cs, &cs, 0)
            => kseg(0x10, 0xffff, 0, [0xb, 0, 0, 0, 1, 0, 0, 0, 1]),
            off kseg(0x10, 0xffff, 0, [0xb, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    /// Before 4.12: `var->unusable = !var->present || (var->type == 0)`. A present GS of
    /// type 0 (read-only data, not accessed): unusable, so no accessed bit either; off,
    /// usable, and then `type |= 1` (accessed) applies.
    rule_svm_get_unusable_from_type0: KVM_SVM_4_11 has SvmGetUnusableFromType0 {
        // attrib 0x090: type 0, S, DPL 0, P.
        let gs = vmcb(0, 0x090, 0xffff, 0x7f00_0000_0000);
        let on = kseg(0, 0xffff, 0x7f00_0000_0000, [0, 1, 0, 0, 1, 0, 0, 0, 1]);
        let off = kseg(0, 0xffff, 0x7f00_0000_0000, [1, 1, 0, 0, 1, 0, 0, 0, 0]);
        |r| svm::get_segment(r, SegReg::Gs, &gs, 0) => on, off off;
        then |_rules| {
            // The 4.12 profile is exactly 4.11's get without it; adding it back restores it.
            let today = Profile::KVM_SVM.rules;
            assert!(!today.has(Rule::SvmGetUnusableFromType0));
            assert_eq!(svm::get_segment(today, SegReg::Gs, &gs, 0), off);
            let with = today.with(Rule::SvmGetUnusableFromType0);
            assert_eq!(svm::get_segment(with, SegReg::Gs, &gs, 0), on);
        }
    }

    /// TR: `var->type |= 0x2`. An available 64-bit TSS (type 9) reads back busy (0xb).
    rule_svm_get_tr_busy: KVM_SVM has SvmGetTrBusy {
        // attrib 0x089: type 9, S = 0, DPL 0, P.
        let tr = vmcb(0x40, 0x089, 0x67, 0xffff_fe00_0000_3000);
        |r| svm::get_segment(r, SegReg::Tr, &tr, 0)
            => kseg(0x40, 0x67, 0xffff_fe00_0000_3000, [0xb, 1, 0, 0, 0, 0, 0, 0, 0]),
            off kseg(0x40, 0x67, 0xffff_fe00_0000_3000, [9, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    /// DS/ES/FS/GS: `if (!var->unusable) var->type |= 0x1`. A flat ES of type 2.
    rule_svm_get_data_accessed: KVM_SVM has SvmGetDataAccessed {
        // attrib 0xc92: type 2, S, DPL 0, P, DB, G.
        let es = vmcb(0x18, 0xc92, 0xffff_ffff, 0);
        |r| svm::get_segment(r, SegReg::Es, &es, 0)
            => kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 0]),
            off kseg(0x18, 0xffff_ffff, 0, [2, 1, 0, 1, 1, 0, 1, 0, 0]);
        then |rules| {
            // Not for an unusable data segment, and not for CS.
            let unusable_es = vmcb(0, 0xc12, 0xffff_ffff, 0);
            assert_eq!(svm::get_segment(rules, SegReg::Es, &unusable_es, 0).type_, 2);
            assert_eq!(svm::get_segment(rules, SegReg::Cs, &es, 0).type_, 2);
        }
    }

    /// SS: `if (var->unusable) var->db = 0`. An unusable SS that kept DB = 1.
    rule_svm_get_ss_db_unusable: KVM_SVM has SvmGetSsDbUnusable {
        // attrib 0xc73: type 3, S, DPL 3, P = 0, DB, G. VMCB.CPL = 3.
        let ss = vmcb(0x2b, 0xc73, 0xffff_ffff, 0);
        |r| svm::get_segment(r, SegReg::Ss, &ss, 3)
            => kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 0, 1, 0, 1, 0, 1]),
            off kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
    }

    /// SS: `var->dpl = vmcb->save.cpl`. After an AMD SYSRET: CPL 3, SS attrib still DPL
    /// 0; off, the DPL comes from attrib, the stale 0.
    rule_svm_get_ss_dpl_from_cpl: KVM_SVM has SvmGetSsDplFromCpl {
        // attrib 0xc93: flat data, DPL 0, P.
        let ss = vmcb(0x2b, 0xc93, 0xffff_ffff, 0);
        |r| svm::get_segment(r, SegReg::Ss, &ss, 3)
            => kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 0]),
            off kseg(0x2b, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 0]);
    }

    // -----------------------------------------------------------------------------------
    // KVM SVM, set: svm_set_segment.

    /// Since 4.12: `P = ((var->present & 1) && !var->unusable)`. A DS that says present
    /// and unusable at once; off, P = present & 1 = 1.
    rule_svm_set_p_from_unusable: KVM_SVM has SvmSetPFromUnusable {
        let ds = kseg(0, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 1]);
        // type 3 | S 0x10 | DB 0x400 | G 0x800, P = 0.
        |r| svm::set_segment(r, SegReg::Ds, &ds)
            => (vmcb(0, 0xc13, 0xffff_ffff, 0), None),
            off (vmcb(0, 0xc93, 0xffff_ffff, 0), None);
    }

    /// Before 4.12: `if (var->unusable) s->attrib = 0`. An unusable DS with DPL 3; off,
    /// packed, and 4.11 has no P-from-unusable, so P = present & 1 = 0.
    rule_svm_set_zero_unusable_attrib: KVM_SVM_4_11 has SvmSetZeroUnusableAttrib {
        let ds = kseg(0, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
        // type 3 | S 0x10 | DPL 0x60 | DB 0x400 | G 0x800.
        |r| svm::set_segment(r, SegReg::Ds, &ds)
            => (vmcb(0, 0, 0xffff_ffff, 0), None),
            off (vmcb(0, 0xc73, 0xffff_ffff, 0), None);
        then |rules| {
            // Truthiness: unusable = 2 zeroes too.
            let ds2 = kseg(0, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 2]);
            assert_eq!(svm::set_segment(rules, SegReg::Ds, &ds2).0.attrib, SvmAttrib(0));
        }
    }

    /// Since 4.12: `save.cpl = var->dpl & 3` for SS. A CPL-3 unusable SS; off, VMCB.CPL
    /// is not written.
    rule_svm_set_cpl_from_ss_dpl: KVM_SVM has SvmSetCplFromSsDpl {
        let ss = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
        |r| svm::set_segment(r, SegReg::Ss, &ss)
            => (vmcb(0x2b, 0xc73, 0xffff_ffff, 0), Some(3)),
            off (vmcb(0x2b, 0xc73, 0xffff_ffff, 0), None);
        then |rules| {
            // `& 3`: dpl 7 → CPL 3, dpl 4 → CPL 0.
            let mut garbage = ss;
            garbage.dpl = 7;
            assert_eq!(svm::set_segment(rules, SegReg::Ss, &garbage).1, Some(3));
            garbage.dpl = 4;
            assert_eq!(svm::set_segment(rules, SegReg::Ss, &garbage).1, Some(0));
            // Only SS writes the CPL.
            assert_eq!(svm::set_segment(rules, SegReg::Cs, &ss).1, None);
        }
    }

    /// 3.16 to 4.11: `save.cpl = (s->attrib >> SVM_SELECTOR_DPL_SHIFT) & 3` for SS. A
    /// usable CPL-3 SS: attrib 0xcf3, CPL 3 from it.
    rule_svm_set_cpl_from_attrib: KVM_SVM_4_11 has SvmSetCplFromAttrib {
        let ss = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 0]);
        |r| svm::set_segment(r, SegReg::Ss, &ss)
            => (vmcb(0x2b, 0xcf3, 0xffff_ffff, 0), Some(3)),
            off (vmcb(0x2b, 0xcf3, 0xffff_ffff, 0), None);
        then |rules| {
            // The 2017 bug: an unusable CPL-3 SS has its attrib zeroed, so CPL 0.
            let unusable = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
            on_off(
                rules,
                Rule::SvmSetCplFromAttrib,
                |r| svm::set_segment(r, SegReg::Ss, &unusable),
                (vmcb(0x2b, 0, 0xffff_ffff, 0), Some(0)),
                (vmcb(0x2b, 0, 0xffff_ffff, 0), None),
            );
        }
    }

    // -----------------------------------------------------------------------------------
    // KVM VMX: vmx_get_segment, __vmx_set_segment, vmx_segment_access_rights.

    /// `var->present = !var->unusable`. A usable AR with P (bit 7) clear; off, P comes
    /// from AR bit 7.
    rule_vmx_get_present_from_unusable: KVM_VMX has VmxGetPresentFromUnusable {
        // AR 0xc013: type 3, S, DPL 0, P = 0, DB, G, usable.
        let ds = vmcs(0x18, 0xc013, 0xffff_ffff, 0);
        |r| vmx::get_segment(r, &ds)
            => kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 0]),
            off kseg(0x18, 0xffff_ffff, 0, [3, 0, 0, 1, 1, 0, 1, 0, 0]);
    }

    /// AR bit 16 = `var->unusable || !var->present`. A not-present DS with unusable = 0.
    rule_vmx_set_unusable_from_not_present: KVM_VMX has VmxSetUnusableFromNotPresent {
        let ds = kseg(0, 0xffff_ffff, 0, [3, 0, 0, 1, 1, 0, 1, 0, 0]);
        // type 3 | S 0x10 | DB 0x4000 | G 0x8000 | unusable 0x10000.
        |r| vmx::set_segment(r, SegReg::Ds, &ds)
            => vmcs(0, 0x1_c013, 0xffff_ffff, 0),
            off vmcs(0, 0xc013, 0xffff_ffff, 0);
    }

    /// Unrestricted guest: `var->type |= 0x1` for every segment but LDTR. A 64-bit
    /// kernel CS of type 0xa (not accessed).
    rule_vmx_set_accessed_unrestricted: KVM_VMX has VmxSetAccessedUnrestricted {
        let cs = kseg(0x10, 0xffff_ffff, 0, [0xa, 1, 0, 0, 1, 1, 1, 0, 0]);
        // type 0xb | S 0x10 | P 0x80 | L 0x2000 | G 0x8000.
        |r| vmx::set_segment(r, SegReg::Cs, &cs)
            => vmcs(0x10, 0xa09b, 0xffff_ffff, 0),
            off vmcs(0x10, 0xa09a, 0xffff_ffff, 0);
        then |rules| {
            // LDTR is excluded: type 2 stays 2 (AR 0x82).
            let ldt = kseg(0x50, 0xffff, 0x1000, [2, 1, 0, 0, 0, 0, 0, 0, 0]);
            assert_eq!(
                vmx::set_segment(rules, SegReg::Ldtr, &ldt),
                vmcs(0x50, 0x82, 0xffff, 0x1000)
            );
            // TR and SS are not excluded; unusable segments are not either.
            let tr = kseg(0x40, 0x67, 0, [0xa, 1, 0, 0, 0, 0, 0, 0, 0]);
            assert_eq!(vmx::set_segment(rules, SegReg::Tr, &tr).access_rights.0, 0x8b);
        }
    }

    /// Before 6.2: `if (var->unusable || !var->present) ar = 1 << 16`. A CPL-3 unusable
    /// SS; off, packed with DPL 3 kept: type 3 | S | DPL 0x60 | DB | G | unusable.
    rule_vmx_set_zero_unusable_ar: KVM_VMX_6_1 has VmxSetZeroUnusableAr {
        let ss = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
        let kept = vmcs(0x2b, 0x1_c073, 0xffff_ffff, 0);
        |r| vmx::set_segment(r, SegReg::Ss, &ss)
            => vmcs(0x2b, 0x1_0000, 0xffff_ffff, 0),
            off kept;
        then |rules| {
            // Today's profile is 6.1's without it.
            assert!(!Profile::KVM_VMX.rules.has(Rule::VmxSetZeroUnusableAr));
            assert_eq!(vmx::set_segment(Profile::KVM_VMX.rules, SegReg::Ss, &ss), kept);
            // Not present alone (unusable = 0) is enough to zero it.
            let absent = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 0]);
            assert_eq!(
                vmx::set_segment(rules, SegReg::Ss, &absent).access_rights,
                VmxAccessRights(0x1_0000)
            );
        }
    }

    // -----------------------------------------------------------------------------------
    // QEMU: set_seg, get_seg, and the 2017 thread's two designs.

    /// set_seg: `lhs->unusable = !lhs->present`. An SS cache with P = 0 and DPL 3.
    rule_qemu_set_unusable_from_not_present: QEMU has QemuSetUnusableFromNotPresent {
        // flags: G | B | DPL 3 | S | type 3, P = 0.
        let ss = cache(0x2b, 0x00c0_7300, 0xffff_ffff, 0);
        |r| qemu::set_seg(r, &ss)
            => kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]),
            off kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 0]);
    }

    /// get_seg since 2.10: `(rhs->present && !rhs->unusable) * DESC_P_MASK`. An SS that
    /// says present and unusable; off, P = present * DESC_P_MASK.
    rule_qemu_get_p_from_unusable: QEMU has QemuGetPFromUnusable {
        let ss = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 1]);
        let prev = QemuSegmentCache::default();
        |r| qemu::get_seg(r, SegReg::Ss, &ss, &prev)
            => cache(0x2b, 0x00c0_7300, 0xffff_ffff, 0),
            off cache(0x2b, 0x00c0_f300, 0xffff_ffff, 0);
        then |rules| {
            // Off, unnormalised: present = 2 sets bit 16 and leaves P clear.
            let two = KvmSegment { present: 2, unusable: 0, ..ss };
            on_off(
                rules,
                Rule::QemuGetPFromUnusable,
                |r| qemu::get_seg(r, SegReg::Ss, &two, &prev).flags,
                QemuFlags(0x00c0_f300),
                QemuFlags(0x00c1_7300),
            );
        }
    }

    /// get_seg 2.6 to 2.9: `if (rhs->unusable) lhs->flags = 0`. A CPL-3 unusable SS:
    /// only the flags are zeroed, selector, base and limit are copied; off, packed, P =
    /// present * DESC_P_MASK = 0.
    rule_qemu_get_zero_unusable_flags: QEMU_2_9 has QemuGetZeroUnusableFlags {
        let ss = kseg(0x2b, 0xffff_ffff, 0x1000, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
        let prev = cache(0x2b, 0x00c0_f300, 0xffff_ffff, 0);
        |r| qemu::get_seg(r, SegReg::Ss, &ss, &prev)
            => cache(0x2b, 0, 0xffff_ffff, 0x1000),
            off cache(0x2b, 0x00c0_7300, 0xffff_ffff, 0x1000);
    }

    /// Rejected design 1: on unusable, `flags = previous & ~DESC_P_MASK`. KVM reports an
    /// unusable CPL-3 SS of type 1, S, no DB/G; the cache held a flat ring-0 SS. Off,
    /// packed from KVM: type 1 << 8 | DPL 3 << 13 | S, P = 0.
    rule_qemu_get_keep_old_flags: QEMU_KEEP_OLD_FLAGS has QemuGetKeepOldFlags {
        let ss = kseg(0x2b, 0xffff, 0, [1, 0, 3, 0, 1, 0, 0, 0, 1]);
        let prev = cache(0x18, 0x00c0_9300, 0xffff_ffff, 0);
        |r| qemu::get_seg(r, SegReg::Ss, &ss, &prev)
            => cache(0x2b, 0x00c0_1300, 0xffff, 0),
            off cache(0x2b, 0x0000_7100, 0xffff, 0);
        then |rules| {
            // A usable segment is packed either way.
            let usable = KvmSegment { present: 1, unusable: 0, ..ss };
            assert_eq!(
                qemu::get_seg(rules, SegReg::Ss, &usable, &prev).flags,
                QemuFlags(0x0000_f100)
            );
        }
    }

    /// Rejected design 2: on unusable, `flags = previous & ~(P | DPL)`, SS ORs in KVM's
    /// DPL.
    rule_qemu_get_segtype: QEMU_SEGTYPE has QemuGetSegtype {
        let ss = kseg(0x2b, 0xffff, 0, [1, 0, 3, 0, 1, 0, 0, 0, 1]);
        let prev = cache(0x18, 0x00c0_9300, 0xffff_ffff, 0);
        |r| qemu::get_seg(r, SegReg::Ss, &ss, &prev)
            => cache(0x2b, 0x00c0_7300, 0xffff, 0),
            off cache(0x2b, 0x0000_7100, 0xffff, 0);
        then |rules| {
            // Any other register loses its DPL instead of taking KVM's.
            let prev_ds = cache(0x2b, 0x00c0_f300, 0xffff_ffff, 0);
            assert_eq!(
                qemu::get_seg(rules, SegReg::Ds, &ss, &prev_ds),
                cache(0x2b, 0x00c0_1300, 0xffff, 0)
            );
        }
    }

    /// kvm_put_sregs with EFLAGS.VM: `set_v8086_seg`: type 3, P, DPL 3, S, the rest 0,
    /// for CS/DS/ES/FS/GS/SS only. A real-mode-style cache with DPL 0 goes to KVM at
    /// DPL 3.
    rule_qemu_set_v8086_seg: QEMU_V8086 has QemuSetV8086Seg {
        let q = cache(0x1234, 0x00c0_9300, 0xffff, 0x12340);
        |r| qemu_modes::set_v8086_seg(r, SegReg::Ss, &q)
            => Some(kseg(0x1234, 0xffff, 0x12340, [3, 1, 3, 0, 1, 0, 0, 0, 0])),
            off None;
        then |rules| {
            assert_eq!(qemu_modes::set_v8086_seg(rules, SegReg::Tr, &q), None);
        }
    }

    /// cpu_pre_save: CR0.PE = 0 and CS.DPL = 3: the six code/data DPLs go to 0; TR and
    /// LDTR (no DPL in these caches) are not touched either way.
    rule_qemu_pre_save_real_mode_dpl_zero: QEMU has QemuPreSaveRealModeDplZero {
        let pre_save = |r, cr0| {
            let mut caches = real_mode_caches(3);
            qemu_modes::pre_save(r, cr0, &mut caches);
            caches
        };
        |r| pre_save(r, 0x10) => real_mode_caches(0), off real_mode_caches(3);
        then |rules| {
            // In protected mode (CR0.PE = 1) nothing changes.
            assert_eq!(pre_save(rules, 0x11), real_mode_caches(3), "cr0 0x11");
        }
    }

    /// cpu_post_load: the CPL is SS.DPL of the loaded caches, not the stream's hflags.
    rule_qemu_post_load_cpl_from_ss_dpl: QEMU has QemuPostLoadCplFromSsDpl {
        let caches = real_mode_caches(3);
        |r| qemu_modes::post_load_cpl(r, &caches, PrivilegeLevel::Ring0)
            => PrivilegeLevel::Ring3,
            off PrivilegeLevel::Ring0;
    }
}

// ---------------------------------------------------------------------------------------
// Garbage bytes (research report, "Garbage semantics").

/// Asserts `apply` gives `expected` with each profile's rules: garbage that two
/// releases of one engine treat alike.
#[track_caller]
fn same_in<T: PartialEq + core::fmt::Debug>(
    profiles: [Profile; 2],
    apply: impl Fn(RuleSet) -> T,
    expected: T,
) {
    for p in profiles {
        assert_eq!(apply(p.rules), expected, "{p}");
    }
}

const SVM_ERAS: [Profile; 2] = [Profile::KVM_SVM, Profile::KVM_SVM_4_11];
const VMX_ERAS: [Profile; 2] = [Profile::KVM_VMX, Profile::KVM_VMX_6_1];

#[test]
fn garbage_svm_set_masks_every_field() {
    // type 0x1f → 0xf; present = 2 → P = present & 1 = 0; dpl 7 → 3; s 3 → 1.
    let ds = kseg(0x18, 0xffff_ffff, 0, [0x1f, 2, 7, 1, 3, 0, 1, 0, 0]);
    // 0xf | S 0x10 | DPL 0x60 | DB 0x400 | G 0x800.
    let packed = (vmcb(0x18, 0xc7f, 0xffff_ffff, 0), None);
    same_in(SVM_ERAS, |r| svm::set_segment(r, SegReg::Ds, &ds), packed);
}

#[test]
fn garbage_vmx_set_forces_accessed_then_masks() {
    // type 0x1e: `type |= 1` gives 0x1f, then `& 15` gives 0xf.
    let cs = kseg(0x10, 0xffff_ffff, 0, [0x1e, 1, 0, 0, 1, 1, 1, 0, 0]);
    let forced = vmcs(0x10, 0xa09f, 0xffff_ffff, 0);
    same_in(VMX_ERAS, |r| vmx::set_segment(r, SegReg::Cs, &cs), forced);
    // LDTR is not forced: 0x1e & 15 = 0xe.
    let ldtr = |r| vmx::set_segment(r, SegReg::Ldtr, &cs).access_rights;
    same_in(VMX_ERAS, ldtr, VmxAccessRights(0xa09e));
}

#[test]
fn garbage_vmx_present_2_is_usable_and_not_present() {
    // P = 2 & 1 = 0, bit 16 = (0 || !2) = 0: a usable, not-present AR, in both eras.
    let ds = kseg(0x18, 0xffff_ffff, 0, [3, 2, 0, 1, 1, 0, 1, 0, 0]);
    let usable_absent = vmcs(0x18, 0xc013, 0xffff_ffff, 0);
    same_in(
        VMX_ERAS,
        |r| vmx::set_segment(r, SegReg::Ds, &ds),
        usable_absent,
    );
    // Read back: present = !unusable = 1.
    assert_eq!(
        vmx::get_segment(Profile::KVM_VMX.rules, &usable_absent),
        kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 1, 1, 0, 1, 0, 0])
    );
}

#[test]
fn garbage_qemu_get_spills_unmasked_fields() {
    let prev = QemuSegmentCache::default();
    // The clean baseline: type 3, P, S → 0x9300.
    let base = kseg(0x18, 0xffff_ffff, 0, [3, 1, 0, 0, 1, 0, 0, 0, 0]);
    let get = |k: KvmSegment| move |r| qemu::get_seg(r, SegReg::Ds, &k, &prev).flags.0;
    let qemu_eras = [Profile::QEMU, Profile::QEMU_2_9];
    same_in(qemu_eras, get(base), 0x9300);
    // dpl = 4: 4 << 13 = bit 15 = P (with present = 0), DPL 0.
    same_in(
        qemu_eras,
        get(KvmSegment {
            dpl: 4,
            present: 0,
            ..base
        }),
        0x9300,
    );
    // s = 2: 2 * 0x1000 = bit 13 = DPL bit 0, S clear.
    same_in(qemu_eras, get(KvmSegment { s: 2, ..base }), 0xa300);
    // db = 2: 2 << 22 = bit 23 = G.
    same_in(qemu_eras, get(KvmSegment { db: 2, ..base }), 0x80_9300);
    // avl = 2: 2 * 0x100000 = bit 21 = L.
    same_in(qemu_eras, get(KvmSegment { avl: 2, ..base }), 0x20_9300);
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
