//! The other stacks' rules, pinned like tests/profile_rules.rs pins KVM's and QEMU's:
//! for each rule one input where it matters, the exact output of the profile that has
//! it and the exact output with it switched off. Expected values are literals derived
//! by hand from the upstream code each profile names, never by calling the code again.
//! The stacks' chains (their compiled paths, refusals, and what verify finds on each)
//! are in tests/chains.rs.

use segstate::arch::{PerSegReg, SegReg};
use segstate::format::bhyve::{BhyveSegment, SegDesc};
use segstate::format::crosvm::CrosvmSegment;
use segstate::format::hyperv::{HvSegmentAttributes, HvSegmentRegister};
use segstate::format::svm::SvmAttrib;
use segstate::format::vbox::{CpumSelReg, X86DescAttr};
use segstate::format::vmx::VmxAccessRights;
use segstate::format::xen::XenSegmentRegister;
use segstate::profile::{Profile, Rule};
use segstate::testing::stacks::{bhyve, nested, rustvmm, vbox, xen};

mod common;
use common::{kseg, on_off, rules_with, vmcb, vmcs};

/// The rule ids this file tests, one per `rule_*` test below.
const TESTED: &[&str] = &[
    "xen.get.ss-db-not-present",
    "xen.get.tr-busy",
    "xen.get.cs-tr-present",
    "xen.get.s-from-register",
    "xen.get.g-from-limit",
    "xen.get.user-accessed",
    "xen.set.g-from-limit",
    "xen.svm.get.ss-dpl-from-cpl",
    "xen.svm.set.cpl-from-ss-dpl",
    "xen.vmx.get.p-from-unusable",
    "xen.vmx.set.unusable-from-not-p",
    "xen.load.unfold-arbytes",
    "bhyve.svm.get.unusable-from-p",
    "bhyve.svm.get.ss-dpl-from-attrib",
    "bhyve.svm.set.p-from-unusable",
    "bhyve.svm.set.cpl-from-ss-dpl",
    "bhyve.snapshot.cpl-byte",
    "vbox.svm.import.unusable-not-set",
    "vbox.svm.import.ss-dpl-from-cpl",
    "vbox.svm.import.cs-g-from-limit",
    "vbox.svm.import.tr-busy",
    "vbox.svm.export.cpl-from-ss-dpl",
    "vbox.vmx.import.strip-unusable",
    "vbox.vmx.export.zero-attr-unusable",
    "vbox.nem.copy-unusable",
    "crosvm.from-kvm.drop-unusable",
    "crosvm.kvm.unusable-from-not-present",
    "crosvm.haxm.no-null-bit",
    "crosvm.haxm.zero-ar-null",
    "mshv.set.ignore-unusable",
    "mshv.get.unusable-zero",
    "openvmm.from-kvm.clear-accessed-not-present",
    "openvmm.from-kvm.drop-unusable",
    "openvmm.to-kvm.unusable-zero",
    "openvmm.dump.cpl-from-cs-rpl",
    "bochs.vmrun.ss-dpl-from-cpl",
    "bochs.vmexit.zero-invalid-attrib",
    "nsvm.vmrun.copy-cpl",
    "nsvm.vmexit.copy-cpl",
    "nvmx.entry.copy-ss-ar",
];

/// The rules tests/profile_rules.rs pins.
const KVM_QEMU: [&str; 3] = ["svm.", "vmx.", "qemu."];

#[test]
fn every_rule_has_a_test() {
    for rule in Rule::ALL {
        let here = TESTED.contains(&rule.id());
        let there = KVM_QEMU.iter().any(|p| rule.id().starts_with(p));
        assert!(
            here != there,
            "rule {} must be pinned in exactly one of tests/profile_rules.rs and tests/stack_rules.rs",
            rule.id()
        );
    }
    for (i, id) in TESTED.iter().enumerate() {
        assert!(id.parse::<Rule>().is_ok(), "{id} is not a rule id");
        assert!(!TESTED[i + 1..].contains(id), "{id} listed twice");
    }
}

fn xseg(selector: u16, attr: u16, limit: u32) -> XenSegmentRegister {
    XenSegmentRegister {
        selector,
        attr: SvmAttrib(attr),
        limit,
        base: 0,
    }
}

fn xen_attr_svm(rule: Rule, reg: SegReg, attrib: u16, limit: u32, cpl: u8) -> (u16, u16) {
    let rules = rules_with(Profile::XEN_SVM, rule);
    let v = vmcb(0x18, attrib, limit, 0);
    (
        xen::svm_get(rules, reg, &v, cpl).attr.0,
        xen::svm_get(rules.without(rule), reg, &v, cpl).attr.0,
    )
}

// ---------------------------------------------------------------------------------------
// Xen: hvm_get/set_segment_register and the vendor hooks.

/// `if ( !reg->p ) reg->db = 0` for SS: a null-loaded SS with DB=1, DPL 3.
#[test]
fn rule_xen_get_ss_db_not_present() {
    let got = xen_attr_svm(Rule::XenGetSsDbNotPresent, SegReg::Ss, 0x473, 0xffff, 3);
    assert_eq!(got, (0x073, 0x473));
}

/// TR `type |= 2`: an available 64-bit TSS (type 9) read back busy (type 11).
#[test]
fn rule_xen_get_tr_busy() {
    assert_eq!(
        xen_attr_svm(Rule::XenGetTrBusy, SegReg::Tr, 0x089, 0x67, 3),
        (0x08b, 0x089)
    );
}

/// CS `p = 1`: a 64-bit CS whose P bit SVM left clear; once present, G is recomputed
/// from the 4 GiB limit. Off: not present, so none of the present-only cooking runs.
#[test]
fn rule_xen_get_cs_tr_present() {
    assert_eq!(
        xen_attr_svm(Rule::XenGetCsTrPresent, SegReg::Cs, 0x21b, 0xffff_ffff, 0),
        (0xa9b, 0x21b)
    );
}

/// `s = is_x86_user_segment(seg)` for a present segment: a DS with S clear.
#[test]
fn rule_xen_get_s_from_register() {
    assert_eq!(
        xen_attr_svm(Rule::XenGetSFromRegister, SegReg::Ds, 0x083, 0xf_ffff, 3),
        (0x093, 0x083)
    );
}

/// `g = !!(limit >> 20)` for a present segment: a 4 GiB DS with G clear.
#[test]
fn rule_xen_get_g_from_limit() {
    assert_eq!(
        xen_attr_svm(Rule::XenGetGFromLimit, SegReg::Ds, 0x093, 0xffff_ffff, 3),
        (0x893, 0x093)
    );
}

/// `type |= 1` for present user segments: a DS of type 2.
#[test]
fn rule_xen_get_user_accessed() {
    assert_eq!(
        xen_attr_svm(Rule::XenGetUserAccessed, SegReg::Ds, 0x092, 0xf_ffff, 3),
        (0x093, 0x092)
    );
}

/// hvm_set_segment_register: `g = !!(limit >> 20)`: a DS claiming G with a 1 MiB limit.
#[test]
fn rule_xen_set_g_from_limit() {
    let rule = Rule::XenSetGFromLimit;
    let rules = rules_with(Profile::XEN_SVM, rule);
    let x = xseg(0x2b, 0x893, 0xf_ffff);
    on_off(
        rules,
        rule,
        |r| xen::svm_set(r, SegReg::Ds, &x).0.attrib,
        SvmAttrib(0x093),
        SvmAttrib(0x893),
    );
}

/// svm_get_segment_register: SS.DPL from the CPL byte: a DPL-0 SS at CPL 3.
#[test]
fn rule_xen_svm_get_ss_dpl_from_cpl() {
    assert_eq!(
        xen_attr_svm(
            Rule::XenSvmGetSsDplFromCpl,
            SegReg::Ss,
            0xc93,
            0xffff_ffff,
            3
        ),
        (0xcf3, 0xc93)
    );
}

/// svm_set_segment_register: `vmcb_set_cpl(vmcb, reg->dpl)` for SS.
#[test]
fn rule_xen_svm_set_cpl_from_ss_dpl() {
    let rule = Rule::XenSvmSetCplFromSsDpl;
    let rules = rules_with(Profile::XEN_SVM, rule);
    let ss = xseg(0x2b, 0xcf3, 0xffff_ffff);
    on_off(
        rules,
        rule,
        |r| xen::svm_set(r, SegReg::Ss, &ss).1,
        Some(3),
        None,
    );
    assert_eq!(
        xen::svm_set(rules, SegReg::Ds, &ss).1,
        None,
        "only SS writes it"
    );
}

/// vmx_get_segment_register: P = !unusable and AR bit 7 dropped: an unusable DS whose
/// AR still says P (as VM exits can leave it).
#[test]
fn rule_xen_vmx_get_p_from_unusable() {
    let rule = Rule::XenVmxGetPFromUnusable;
    let rules = rules_with(Profile::XEN_VMX, rule);
    let ds = vmcs(0, 0x1_0093, 0xf_ffff, 0);
    on_off(
        rules,
        rule,
        |r| xen::vmx_get(r, SegReg::Ds, &ds).attr,
        SvmAttrib(0x013),
        SvmAttrib(0x093),
    );
}

/// vmx_set_segment_register: AR bit 16 = !P.
#[test]
fn rule_xen_vmx_set_unusable_from_not_p() {
    let rule = Rule::XenVmxSetUnusableFromNotP;
    let rules = rules_with(Profile::XEN_VMX, rule);
    let ds = xseg(0, 0x013, 0xf_ffff);
    on_off(
        rules,
        rule,
        |r| xen::vmx_set(r, &ds).access_rights,
        VmxAccessRights(0x1_0013),
        VmxAccessRights(0x0_0013),
    );
}

/// UNFOLD_ARBYTES: an old record's VMX-layout flat data segment (0xc093).
#[test]
fn rule_xen_load_unfold_arbytes() {
    let rule = Rule::XenLoadUnfoldArbytes;
    let rules = rules_with(Profile::XEN_SAVE, rule);
    let old = xseg(0x2b, 0xc093, 0xffff_ffff);
    on_off(
        rules,
        rule,
        |r| xen::save_load(r, &old).attr,
        SvmAttrib(0xc93),
        SvmAttrib(0xc093),
    );
    // A value already in Xen's layout is left alone.
    let new = xseg(0x2b, 0xc93, 0xffff_ffff);
    assert_eq!(xen::save_load(rules, &new), new);
}

// ---------------------------------------------------------------------------------------
// bhyve: vmcb_getdesc/setdesc (FreeBSD), svm_getdesc/setdesc (illumos), the snapshot.

fn desc(selector: u16, access: u32) -> BhyveSegment {
    BhyveSegment {
        selector,
        desc: SegDesc {
            base: 0,
            limit: 0xffff_ffff,
            access: VmxAccessRights(access),
        },
    }
}

/// `if ((access & 0x80) == 0) access |= 0x10000` for DS..GS, SS, LDTR but not CS/TR.
#[test]
fn rule_bhyve_svm_get_unusable_from_p() {
    let rule = Rule::BhyveSvmGetUnusableFromP;
    let rules = rules_with(Profile::BHYVE_SVM, rule);
    let null = vmcb(0, 0x013, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| bhyve::svm_get(r, SegReg::Ds, &null, 3),
        desc(0, 0x1_0013),
        desc(0, 0x0013),
    );
    assert_eq!(bhyve::svm_get(rules, SegReg::Cs, &null, 3), desc(0, 0x0013));
}

/// The CPL is not reported: a DPL-0 SS at CPL 3 (AMD's SYSRET case) reads back DPL 0.
#[test]
fn rule_bhyve_svm_get_ss_dpl_from_attrib() {
    let rule = Rule::BhyveSvmGetSsDplFromAttrib;
    let rules = rules_with(Profile::ILLUMOS_BHYVE_SVM, rule);
    let ss = vmcb(0x2b, 0xc93, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| bhyve::svm_get(r, SegReg::Ss, &ss, 3),
        desc(0x2b, 0xc093),
        desc(0x2b, 0xc0f3),
    );
}

/// `if (SEG_DESC_UNUSABLE(access)) attrib &= ~0x80`: an unusable DS that says P.
#[test]
fn rule_bhyve_svm_set_p_from_unusable() {
    let rule = Rule::BhyveSvmSetPFromUnusable;
    let rules = rules_with(Profile::BHYVE_SVM, rule);
    let ds = desc(0x2b, 0x1_c0f3);
    on_off(
        rules,
        rule,
        |r| bhyve::svm_set(r, SegReg::Ds, &ds),
        (vmcb(0x2b, 0xc73, 0xffff_ffff, 0), None),
        (vmcb(0x2b, 0xcf3, 0xffff_ffff, 0), None),
    );
}

/// illumos: `vmcb->state.cpl = SEG_DESC_DPL(access)` when SS is set.
#[test]
fn rule_bhyve_svm_set_cpl_from_ss_dpl() {
    let rule = Rule::BhyveSvmSetCplFromSsDpl;
    let rules = rules_with(Profile::ILLUMOS_BHYVE_SVM, rule);
    let ss = desc(0x2b, 0xc0f3);
    on_off(
        rules,
        rule,
        |r| bhyve::svm_set(r, SegReg::Ss, &ss).1,
        Some(3),
        None,
    );
    assert!(
        !Profile::BHYVE_SVM.rules.has(rule),
        "FreeBSD leaves VMCB.CPL alone"
    );
}

/// The snapshot carries VMCB_OFF_CPL; propolis carries nothing.
#[test]
fn rule_bhyve_snapshot_cpl_byte() {
    let rule = Rule::BhyveSnapshotCplByte;
    let rules = rules_with(Profile::BHYVE_SNAPSHOT, rule);
    on_off(rules, rule, |r| bhyve::carried_cpl(r, 3), 3, 0);
    assert_eq!(bhyve::carried_cpl(Profile::PROPOLIS.rules, 3), 0);
}

// ---------------------------------------------------------------------------------------
// VirtualBox 5.2.40 HM and NEM.

fn cpum(selector: u16, attr: u32, limit: u32) -> CpumSelReg {
    CpumSelReg {
        selector,
        padding: 0,
        valid_selector: selector,
        flags: CpumSelReg::FLAGS_VALID,
        base: 0,
        limit,
        attr: X86DescAttr(attr),
    }
}

fn vbox_import(rule: Rule, reg: SegReg, attrib: u16, limit: u32, cpl: u8) -> (u32, u32) {
    let rules = rules_with(Profile::VBOX_SVM, rule);
    let v = vmcb(0x10, attrib, limit, 0);
    (
        vbox::svm_import(rules, reg, &v, cpl).attr.0,
        vbox::svm_import(rules.without(rule), reg, &v, cpl).attr.0,
    )
}

/// HMSVM_VMCB_2_CPU_SEG_ATTR never sets u1Unusable: a null-loaded DS.
#[test]
fn rule_vbox_svm_import_unusable_not_set() {
    assert_eq!(
        vbox_import(
            Rule::VboxSvmImportUnusableNotSet,
            SegReg::Ds,
            0x013,
            0xf_ffff,
            3
        ),
        (0x0_0013, 0x1_0013)
    );
}

/// `ss.Attr.n.u2Dpl = u8CPL & 3`: a DPL-0 SS at CPL 3.
#[test]
fn rule_vbox_svm_import_ss_dpl_from_cpl() {
    assert_eq!(
        vbox_import(
            Rule::VboxSvmImportSsDplFromCpl,
            SegReg::Ss,
            0xc93,
            0xffff_ffff,
            3
        ),
        (0xc0f3, 0xc093)
    );
}

/// CS.G set when present, clear and the limit is above 1 MiB: a 64-bit CS without G.
#[test]
fn rule_vbox_svm_import_cs_g_from_limit() {
    assert_eq!(
        vbox_import(
            Rule::VboxSvmImportCsGFromLimit,
            SegReg::Cs,
            0x29b,
            0xffff_ffff,
            0
        ),
        (0xa09b, 0x209b)
    );
}

/// TR made busy: an available 64-bit TSS.
#[test]
fn rule_vbox_svm_import_tr_busy() {
    assert_eq!(
        vbox_import(Rule::VboxSvmImportTrBusy, SegReg::Tr, 0x089, 0x67, 0),
        (0x8b, 0x89)
    );
}

/// `u8CPL = ss.Attr.n.u2Dpl` on export.
#[test]
fn rule_vbox_svm_export_cpl_from_ss_dpl() {
    let rule = Rule::VboxSvmExportCplFromSsDpl;
    let rules = rules_with(Profile::VBOX_SVM, rule);
    let ss = cpum(0x2b, 0xc0f3, 0xffff_ffff);
    assert_eq!(
        vbox::svm_export(rules, SegReg::Ss, &ss),
        (vmcb(0x2b, 0xcf3, 0xffff_ffff, 0), Some(3))
    );
    assert_eq!(
        vbox::svm_export(rules.without(rule), SegReg::Ss, &ss).1,
        None
    );
}

/// hmR0VmxReadSegmentReg: an unusable DS keeps unusable, L, D, G, DPL, type, S only.
#[test]
fn rule_vbox_vmx_import_strip_unusable() {
    let rule = Rule::VboxVmxImportStripUnusable;
    let rules = rules_with(Profile::VBOX_VMX, rule);
    let ds = vmcs(0, 0x1_d0f3, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| vbox::vmx_import(r, &ds).attr,
        X86DescAttr(0x1_c073),
        X86DescAttr(0x1_d0f3),
    );
}

/// hmR0VmxWriteSegmentReg: only an all-zero Attr becomes unusable.
#[test]
fn rule_vbox_vmx_export_zero_attr_unusable() {
    let rule = Rule::VboxVmxExportZeroAttrUnusable;
    let rules = rules_with(Profile::VBOX_VMX, rule);
    let zero = cpum(0, 0, 0);
    on_off(
        rules,
        rule,
        |r| vbox::vmx_export(r, &zero).access_rights,
        VmxAccessRights(0x1_0000),
        VmxAccessRights(0),
    );
    // A null-loaded DS imported from AMD (0x13, P clear) goes to the VMCS usable.
    assert_eq!(
        vbox::vmx_export(rules, &cpum(0, 0x13, 0)).access_rights,
        VmxAccessRights(0x13)
    );
}

/// NEM copies `unusable` both ways.
#[test]
fn rule_vbox_nem_copy_unusable() {
    let rule = Rule::VboxNemCopyUnusable;
    let rules = rules_with(Profile::VBOX_NEM, rule);
    let k = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
    let c = vbox::nem_import(rules, &k);
    assert_eq!(c.attr, X86DescAttr(0x1_c073));
    assert_eq!(vbox::nem_export(rules, &c), k);
    let off = rules.without(rule);
    assert_eq!(vbox::nem_import(off, &k).attr, X86DescAttr(0xc073));
    assert_eq!(vbox::nem_export(off, &c).unusable, 0);
}

// ---------------------------------------------------------------------------------------
// crosvm, mshv-bindings, openvmm.

fn cseg(type_: u8, present: u8, dpl: u8) -> CrosvmSegment {
    CrosvmSegment {
        base: 0,
        limit_bytes: 0xffff_ffff,
        selector: 0x2b,
        type_,
        present,
        dpl,
        db: 1,
        s: 1,
        l: 0,
        g: 1,
        avl: 0,
    }
}

/// From<&kvm_segment>: unusable dropped, present copied: an unusable DS that says P.
#[test]
fn rule_crosvm_from_kvm_drop_unusable() {
    let rule = Rule::CrosvmFromKvmDropUnusable;
    let rules = rules_with(Profile::CROSVM, rule);
    let k = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 1]);
    on_off(
        rules,
        rule,
        |r| rustvmm::crosvm_from_kvm(r, &k),
        cseg(3, 1, 3),
        cseg(3, 0, 3),
    );
}

/// From<&Segment> for kvm_segment: `unusable = present == 0`.
#[test]
fn rule_crosvm_kvm_unusable_from_not_present() {
    let rule = Rule::CrosvmKvmUnusableFromNotPresent;
    let rules = rules_with(Profile::CROSVM, rule);
    let c = cseg(3, 0, 3);
    assert_eq!(
        rustvmm::crosvm_to_kvm(rules, &c),
        kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1])
    );
    assert_eq!(rustvmm::crosvm_to_kvm(rules.without(rule), &c).unusable, 0);
}

/// HAXM: the null bit is never set: a not-present DS goes to the VMCS usable.
#[test]
fn rule_crosvm_haxm_no_null_bit() {
    let rule = Rule::CrosvmHaxmNoNullBit;
    let rules = rules_with(Profile::CROSVM_HAXM, rule);
    let c = cseg(3, 0, 3);
    on_off(
        rules,
        rule,
        |r| rustvmm::crosvm_to_haxm(r, &c),
        vmcs(0x2b, 0xc073, 0xffff_ffff, 0),
        vmcs(0x2b, 0x1_c073, 0xffff_ffff, 0),
    );
}

/// HAXM's `_copy_desc`: an all-zero access-rights word becomes null: a null LDTR as
/// KVM reports it (every attribute 0) reaches the VMCS unusable.
#[test]
fn rule_crosvm_haxm_zero_ar_null() {
    let rule = Rule::CrosvmHaxmZeroArNull;
    let rules = rules_with(Profile::CROSVM_HAXM, rule);
    let ldtr = CrosvmSegment {
        type_: 0,
        present: 0,
        dpl: 0,
        db: 0,
        s: 0,
        g: 0,
        ..cseg(0, 0, 0)
    };
    on_off(
        rules,
        rule,
        |r| rustvmm::crosvm_to_haxm(r, &ldtr).access_rights,
        VmxAccessRights(0x1_0000),
        VmxAccessRights(0),
    );
}

fn hv(attributes: u16) -> HvSegmentRegister {
    HvSegmentRegister {
        base: 0,
        limit: 0xffff_ffff,
        selector: 0x2b,
        attributes: HvSegmentAttributes(attributes),
    }
}

/// To Hyper-V, P is `present` alone: an unusable DS that says P stays present.
#[test]
fn rule_mshv_set_ignore_unusable() {
    let rule = Rule::MshvSetIgnoreUnusable;
    let rules = rules_with(Profile::MSHV, rule);
    let k = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 1]);
    on_off(
        rules,
        rule,
        |r| rustvmm::mshv_set(r, &k),
        hv(0xc0f3),
        hv(0xc073),
    );
}

/// From Hyper-V, unusable is 0 even for a not-present segment.
#[test]
fn rule_mshv_get_unusable_zero() {
    let rule = Rule::MshvGetUnusableZero;
    let rules = rules_with(Profile::MSHV, rule);
    let h = hv(0xc073);
    assert_eq!(
        rustvmm::mshv_get(rules, &h),
        kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 0])
    );
    assert_eq!(rustvmm::mshv_get(rules.without(rule), &h).unusable, 1);
}

/// seg_reg_from_kvm masks A of a not-present segment.
#[test]
fn rule_openvmm_from_kvm_clear_accessed_not_present() {
    let rule = Rule::OpenvmmFromKvmClearAccessedNotPresent;
    let rules = rules_with(Profile::OPENVMM, rule);
    let k = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
    on_off(
        rules,
        rule,
        |r| rustvmm::openvmm_from_kvm(r, &k),
        hv(0xc072),
        hv(0xc073),
    );
}

/// seg_reg_from_kvm: unusable has no place; P comes from present.
#[test]
fn rule_openvmm_from_kvm_drop_unusable() {
    let rule = Rule::OpenvmmFromKvmDropUnusable;
    let rules = rules_with(Profile::OPENVMM, rule);
    let k = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 1]);
    // Off: P = present && !unusable = 0, and then A is masked for the absent segment.
    on_off(
        rules,
        rule,
        |r| rustvmm::openvmm_from_kvm(r, &k),
        hv(0xc0f3),
        hv(0xc072),
    );
}

/// seg_reg: `unusable: 0`.
#[test]
fn rule_openvmm_to_kvm_unusable_zero() {
    let rule = Rule::OpenvmmToKvmUnusableZero;
    let rules = rules_with(Profile::OPENVMM, rule);
    let h = hv(0xc072);
    assert_eq!(rustvmm::openvmm_to_kvm(rules, &h).unusable, 0);
    assert_eq!(
        rustvmm::openvmm_to_kvm(rules.without(rule), &h),
        kseg(0x2b, 0xffff_ffff, 0, [2, 0, 3, 1, 1, 0, 1, 0, 1])
    );
}

/// The `.vmrs` writer's CPL: a virtual-8086 guest (CS selector 0x1000, RPL 0 as a
/// paragraph number; SS.DPL 3, CPL 3) is recorded at CPL 0.
#[test]
fn rule_openvmm_dump_cpl_from_cs_rpl() {
    let rule = Rule::OpenvmmDumpCplFromCsRpl;
    let rules = rules_with(Profile::OPENVMM, rule);
    let v86 = PerSegReg::from_fn(|reg| match reg {
        SegReg::Tr => hv(0x008b),
        SegReg::Ldtr => hv(0x0082),
        _ => HvSegmentRegister {
            selector: 0x1000,
            limit: 0xffff,
            base: 0x10000,
            attributes: HvSegmentAttributes(0x00f3),
        },
    });
    on_off(
        rules,
        rule,
        |r| rustvmm::openvmm_dump_chunk(r, &v86).cpl,
        0,
        3,
    );
    // The chunk carries the eight registers as given.
    assert_eq!(rustvmm::openvmm_dump_chunk(rules, &v86).segments, v86);
}

// ---------------------------------------------------------------------------------------
// Bochs and nested KVM.

/// VMRUN: `ss.cache.dpl = guest.cpl`: a DPL-0 SS at CPL 3 comes back DPL 3.
#[test]
fn rule_bochs_vmrun_ss_dpl_from_cpl() {
    let rule = Rule::BochsVmrunSsDplFromCpl;
    let rules = rules_with(Profile::BOCHS_SVM, rule);
    let ss = vmcb(0x2b, 0xc93, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| nested::bochs_round_trip(r, SegReg::Ss, &ss, 3),
        (vmcb(0x2b, 0xcf3, 0xffff_ffff, 0), 3),
        (ss, 3),
    );
}

/// #VMEXIT: an invalid (P=0) segment's attrib is written as 0.
#[test]
fn rule_bochs_vmexit_zero_invalid_attrib() {
    let rule = Rule::BochsVmexitZeroInvalidAttrib;
    let rules = rules_with(Profile::BOCHS_SVM, rule);
    let ds = vmcb(0, 0x073, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| nested::bochs_round_trip(r, SegReg::Ds, &ds, 3),
        (vmcb(0, 0x000, 0xffff_ffff, 0), 3),
        (ds, 3),
    );
}

/// vmcb02.cpl = vmcb12.cpl, raw: a byte above 3 reaches vmcb02 and comes back.
#[test]
fn rule_nsvm_vmrun_copy_cpl() {
    let rule = Rule::NsvmVmrunCopyCpl;
    let rules = rules_with(Profile::KVM_NSVM, rule);
    let ss = vmcb(0x2b, 0xcf3, 0xffff_ffff, 0);
    assert_eq!(nested::svm_l1_l2_round_trip(rules, &ss, 3), (ss, 3));
    assert_eq!(nested::svm_l1_l2_round_trip(rules, &ss, 7), (ss, 7));
    assert_eq!(
        nested::svm_l1_l2_round_trip(rules.without(rule), &ss, 3),
        (ss, 0)
    );
}

/// vmcb12.cpl = vmcb02.cpl on #VMEXIT.
#[test]
fn rule_nsvm_vmexit_copy_cpl() {
    let rule = Rule::NsvmVmexitCopyCpl;
    let rules = rules_with(Profile::KVM_NSVM, rule);
    let ss = vmcb(0x2b, 0xcf3, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| nested::svm_l1_l2_round_trip(r, &ss, 2),
        (ss, 2),
        (ss, 0),
    );
}

/// vmcs02 SS AR = vmcs12 SS AR.
#[test]
fn rule_nvmx_entry_copy_ss_ar() {
    let rule = Rule::NvmxEntryCopySsAr;
    let rules = rules_with(Profile::KVM_NVMX, rule);
    let ss = vmcs(0x2b, 0xc0f3, 0xffff_ffff, 0);
    on_off(
        rules,
        rule,
        |r| nested::vmx_l1_l2_round_trip(r, SegReg::Ss, &ss),
        ss,
        vmcs(0x2b, 0, 0xffff_ffff, 0),
    );
    assert_eq!(
        nested::vmx_l1_l2_round_trip(rules.without(rule), SegReg::Ds, &ss),
        ss
    );
}
