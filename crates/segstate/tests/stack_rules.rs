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
use segstate::profile::{Profile, Rule, RuleSet};
use segstate::testing::stacks::{bhyve, nested, rustvmm, vbox, xen};

mod common;
use common::{kseg, on_off, rule_tests, rules_with, vmcb, vmcs};

/// The rule ids this file tests, one per `rule_*` test in the table below.
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

/// The attr Xen on AMD reads back for a VMCB segment (selector 0x18, base 0).
fn xen_get_attr(rules: RuleSet, reg: SegReg, attrib: u16, limit: u32, cpl: u8) -> u16 {
    xen::svm_get(rules, reg, &vmcb(0x18, attrib, limit, 0), cpl)
        .attr
        .0
}

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

/// The Attr VirtualBox on AMD imports for a VMCB segment (selector 0x10, base 0).
fn vbox_import_attr(rules: RuleSet, reg: SegReg, attrib: u16, limit: u32, cpl: u8) -> u32 {
    vbox::svm_import(rules, reg, &vmcb(0x10, attrib, limit, 0), cpl)
        .attr
        .0
}

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

fn hv(attributes: u16) -> HvSegmentRegister {
    HvSegmentRegister {
        base: 0,
        limit: 0xffff_ffff,
        selector: 0x2b,
        attributes: HvSegmentAttributes(attributes),
    }
}

rule_tests! {
    // -----------------------------------------------------------------------------------
    // Xen: hvm_get/set_segment_register and the vendor hooks.

    /// `if ( !reg->p ) reg->db = 0` for SS: a null-loaded SS with DB=1, DPL 3.
    rule_xen_get_ss_db_not_present: XEN_SVM has XenGetSsDbNotPresent {
        |r| xen_get_attr(r, SegReg::Ss, 0x473, 0xffff, 3) => 0x073, off 0x473;
    }

    /// TR `type |= 2`: an available 64-bit TSS (type 9) read back busy (type 11).
    rule_xen_get_tr_busy: XEN_SVM has XenGetTrBusy {
        |r| xen_get_attr(r, SegReg::Tr, 0x089, 0x67, 3) => 0x08b, off 0x089;
    }

    /// CS `p = 1`: a 64-bit CS whose P bit SVM left clear; once present, G is recomputed
    /// from the 4 GiB limit. Off: not present, so none of the present-only cooking runs.
    rule_xen_get_cs_tr_present: XEN_SVM has XenGetCsTrPresent {
        |r| xen_get_attr(r, SegReg::Cs, 0x21b, 0xffff_ffff, 0) => 0xa9b, off 0x21b;
    }

    /// `s = is_x86_user_segment(seg)` for a present segment: a DS with S clear.
    rule_xen_get_s_from_register: XEN_SVM has XenGetSFromRegister {
        |r| xen_get_attr(r, SegReg::Ds, 0x083, 0xf_ffff, 3) => 0x093, off 0x083;
    }

    /// `g = !!(limit >> 20)` for a present segment: a 4 GiB DS with G clear.
    rule_xen_get_g_from_limit: XEN_SVM has XenGetGFromLimit {
        |r| xen_get_attr(r, SegReg::Ds, 0x093, 0xffff_ffff, 3) => 0x893, off 0x093;
    }

    /// `type |= 1` for present user segments: a DS of type 2.
    rule_xen_get_user_accessed: XEN_SVM has XenGetUserAccessed {
        |r| xen_get_attr(r, SegReg::Ds, 0x092, 0xf_ffff, 3) => 0x093, off 0x092;
    }

    /// hvm_set_segment_register: `g = !!(limit >> 20)`: a DS claiming G with a 1 MiB
    /// limit.
    rule_xen_set_g_from_limit: XEN_SVM has XenSetGFromLimit {
        let x = xseg(0x2b, 0x893, 0xf_ffff);
        |r| xen::svm_set(r, SegReg::Ds, &x).0.attrib => SvmAttrib(0x093), off SvmAttrib(0x893);
    }

    /// svm_get_segment_register: SS.DPL from the CPL byte: a DPL-0 SS at CPL 3.
    rule_xen_svm_get_ss_dpl_from_cpl: XEN_SVM has XenSvmGetSsDplFromCpl {
        |r| xen_get_attr(r, SegReg::Ss, 0xc93, 0xffff_ffff, 3) => 0xcf3, off 0xc93;
    }

    /// svm_set_segment_register: `vmcb_set_cpl(vmcb, reg->dpl)` for SS.
    rule_xen_svm_set_cpl_from_ss_dpl: XEN_SVM has XenSvmSetCplFromSsDpl {
        let ss = xseg(0x2b, 0xcf3, 0xffff_ffff);
        |r| xen::svm_set(r, SegReg::Ss, &ss).1 => Some(3), off None;
        then |rules| {
            assert_eq!(xen::svm_set(rules, SegReg::Ds, &ss).1, None, "only SS writes it");
        }
    }

    /// vmx_get_segment_register: P = !unusable and AR bit 7 dropped: an unusable DS
    /// whose AR still says P (as VM exits can leave it).
    rule_xen_vmx_get_p_from_unusable: XEN_VMX has XenVmxGetPFromUnusable {
        let ds = vmcs(0, 0x1_0093, 0xf_ffff, 0);
        |r| xen::vmx_get(r, SegReg::Ds, &ds).attr => SvmAttrib(0x013), off SvmAttrib(0x093);
    }

    /// vmx_set_segment_register: AR bit 16 = !P.
    rule_xen_vmx_set_unusable_from_not_p: XEN_VMX has XenVmxSetUnusableFromNotP {
        let ds = xseg(0, 0x013, 0xf_ffff);
        |r| xen::vmx_set(r, &ds).access_rights
            => VmxAccessRights(0x1_0013),
            off VmxAccessRights(0x0_0013);
    }

    /// UNFOLD_ARBYTES: an old record's VMX-layout flat data segment (0xc093).
    rule_xen_load_unfold_arbytes: XEN_SAVE has XenLoadUnfoldArbytes {
        let old = xseg(0x2b, 0xc093, 0xffff_ffff);
        |r| xen::save_load(r, &old).attr => SvmAttrib(0xc93), off SvmAttrib(0xc093);
        then |rules| {
            // A value already in Xen's layout is left alone.
            let new = xseg(0x2b, 0xc93, 0xffff_ffff);
            assert_eq!(xen::save_load(rules, &new), new);
        }
    }

    // -----------------------------------------------------------------------------------
    // bhyve: vmcb_getdesc/setdesc (FreeBSD), svm_getdesc/setdesc (illumos), the snapshot.

    /// `if ((access & 0x80) == 0) access |= 0x10000` for DS..GS, SS, LDTR but not CS/TR.
    rule_bhyve_svm_get_unusable_from_p: BHYVE_SVM has BhyveSvmGetUnusableFromP {
        let null = vmcb(0, 0x013, 0xffff_ffff, 0);
        |r| bhyve::svm_get(r, SegReg::Ds, &null, 3) => desc(0, 0x1_0013), off desc(0, 0x0013);
        then |rules| {
            assert_eq!(bhyve::svm_get(rules, SegReg::Cs, &null, 3), desc(0, 0x0013));
        }
    }

    /// The CPL is not reported: a DPL-0 SS at CPL 3 (AMD's SYSRET case) reads back DPL 0.
    rule_bhyve_svm_get_ss_dpl_from_attrib: ILLUMOS_BHYVE_SVM has BhyveSvmGetSsDplFromAttrib {
        let ss = vmcb(0x2b, 0xc93, 0xffff_ffff, 0);
        |r| bhyve::svm_get(r, SegReg::Ss, &ss, 3) => desc(0x2b, 0xc093), off desc(0x2b, 0xc0f3);
    }

    /// `if (SEG_DESC_UNUSABLE(access)) attrib &= ~0x80`: an unusable DS that says P.
    rule_bhyve_svm_set_p_from_unusable: BHYVE_SVM has BhyveSvmSetPFromUnusable {
        let ds = desc(0x2b, 0x1_c0f3);
        |r| bhyve::svm_set(r, SegReg::Ds, &ds)
            => (vmcb(0x2b, 0xc73, 0xffff_ffff, 0), None),
            off (vmcb(0x2b, 0xcf3, 0xffff_ffff, 0), None);
    }

    /// illumos: `vmcb->state.cpl = SEG_DESC_DPL(access)` when SS is set.
    rule_bhyve_svm_set_cpl_from_ss_dpl: ILLUMOS_BHYVE_SVM has BhyveSvmSetCplFromSsDpl {
        let ss = desc(0x2b, 0xc0f3);
        |r| bhyve::svm_set(r, SegReg::Ss, &ss).1 => Some(3), off None;
        then |_rules| {
            assert!(
                !Profile::BHYVE_SVM.rules.has(Rule::BhyveSvmSetCplFromSsDpl),
                "FreeBSD leaves VMCB.CPL alone"
            );
        }
    }

    /// The snapshot carries VMCB_OFF_CPL; propolis carries nothing.
    rule_bhyve_snapshot_cpl_byte: BHYVE_SNAPSHOT has BhyveSnapshotCplByte {
        |r| bhyve::carried_cpl(r, 3) => 3, off 0;
        then |_rules| {
            assert_eq!(bhyve::carried_cpl(Profile::PROPOLIS.rules, 3), 0);
        }
    }

    // -----------------------------------------------------------------------------------
    // VirtualBox 5.2.40 HM and NEM.

    /// HMSVM_VMCB_2_CPU_SEG_ATTR never sets u1Unusable: a null-loaded DS.
    rule_vbox_svm_import_unusable_not_set: VBOX_SVM has VboxSvmImportUnusableNotSet {
        |r| vbox_import_attr(r, SegReg::Ds, 0x013, 0xf_ffff, 3) => 0x0_0013, off 0x1_0013;
    }

    /// `ss.Attr.n.u2Dpl = u8CPL & 3`: a DPL-0 SS at CPL 3.
    rule_vbox_svm_import_ss_dpl_from_cpl: VBOX_SVM has VboxSvmImportSsDplFromCpl {
        |r| vbox_import_attr(r, SegReg::Ss, 0xc93, 0xffff_ffff, 3) => 0xc0f3, off 0xc093;
    }

    /// CS.G set when present, clear and the limit is above 1 MiB: a 64-bit CS without G.
    rule_vbox_svm_import_cs_g_from_limit: VBOX_SVM has VboxSvmImportCsGFromLimit {
        |r| vbox_import_attr(r, SegReg::Cs, 0x29b, 0xffff_ffff, 0) => 0xa09b, off 0x209b;
    }

    /// TR made busy: an available 64-bit TSS.
    rule_vbox_svm_import_tr_busy: VBOX_SVM has VboxSvmImportTrBusy {
        |r| vbox_import_attr(r, SegReg::Tr, 0x089, 0x67, 0) => 0x8b, off 0x89;
    }

    /// `u8CPL = ss.Attr.n.u2Dpl` on export.
    rule_vbox_svm_export_cpl_from_ss_dpl: VBOX_SVM has VboxSvmExportCplFromSsDpl {
        let ss = cpum(0x2b, 0xc0f3, 0xffff_ffff);
        |r| vbox::svm_export(r, SegReg::Ss, &ss).1 => Some(3), off None;
        then |rules| {
            assert_eq!(
                vbox::svm_export(rules, SegReg::Ss, &ss).0,
                vmcb(0x2b, 0xcf3, 0xffff_ffff, 0)
            );
        }
    }

    /// hmR0VmxReadSegmentReg: an unusable DS keeps unusable, L, D, G, DPL, type, S only.
    rule_vbox_vmx_import_strip_unusable: VBOX_VMX has VboxVmxImportStripUnusable {
        let ds = vmcs(0, 0x1_d0f3, 0xffff_ffff, 0);
        |r| vbox::vmx_import(r, &ds).attr => X86DescAttr(0x1_c073), off X86DescAttr(0x1_d0f3);
    }

    /// hmR0VmxWriteSegmentReg: only an all-zero Attr becomes unusable.
    rule_vbox_vmx_export_zero_attr_unusable: VBOX_VMX has VboxVmxExportZeroAttrUnusable {
        let zero = cpum(0, 0, 0);
        |r| vbox::vmx_export(r, &zero).access_rights
            => VmxAccessRights(0x1_0000),
            off VmxAccessRights(0);
        then |rules| {
            // A null-loaded DS imported from AMD (0x13, P clear) goes to the VMCS usable.
            assert_eq!(
                vbox::vmx_export(rules, &cpum(0, 0x13, 0)).access_rights,
                VmxAccessRights(0x13)
            );
        }
    }

    /// NEM copies `unusable` both ways.
    rule_vbox_nem_copy_unusable: VBOX_NEM has VboxNemCopyUnusable {
        let k = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
        |r| vbox::nem_import(r, &k).attr => X86DescAttr(0x1_c073), off X86DescAttr(0xc073);
        then |rules| {
            let c = vbox::nem_import(rules, &k);
            assert_eq!(vbox::nem_export(rules, &c), k);
            let off = rules.without(Rule::VboxNemCopyUnusable);
            assert_eq!(vbox::nem_export(off, &c).unusable, 0);
        }
    }

    // -----------------------------------------------------------------------------------
    // crosvm, mshv-bindings, openvmm.

    /// From<&kvm_segment>: unusable dropped, present copied: an unusable DS that says P.
    rule_crosvm_from_kvm_drop_unusable: CROSVM has CrosvmFromKvmDropUnusable {
        let k = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 1]);
        |r| rustvmm::crosvm_from_kvm(r, &k) => cseg(3, 1, 3), off cseg(3, 0, 3);
    }

    /// From<&Segment> for kvm_segment: `unusable = present == 0`.
    rule_crosvm_kvm_unusable_from_not_present: CROSVM has CrosvmKvmUnusableFromNotPresent {
        let c = cseg(3, 0, 3);
        |r| rustvmm::crosvm_to_kvm(r, &c).unusable => 1, off 0;
        then |rules| {
            assert_eq!(
                rustvmm::crosvm_to_kvm(rules, &c),
                kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1])
            );
        }
    }

    /// HAXM: the null bit is never set: a not-present DS goes to the VMCS usable.
    rule_crosvm_haxm_no_null_bit: CROSVM_HAXM has CrosvmHaxmNoNullBit {
        let c = cseg(3, 0, 3);
        |r| rustvmm::crosvm_to_haxm(r, &c)
            => vmcs(0x2b, 0xc073, 0xffff_ffff, 0),
            off vmcs(0x2b, 0x1_c073, 0xffff_ffff, 0);
    }

    /// HAXM's `_copy_desc`: an all-zero access-rights word becomes null: a null LDTR as
    /// KVM reports it (every attribute 0) reaches the VMCS unusable.
    rule_crosvm_haxm_zero_ar_null: CROSVM_HAXM has CrosvmHaxmZeroArNull {
        let ldtr = CrosvmSegment { db: 0, s: 0, g: 0, ..cseg(0, 0, 0) };
        |r| rustvmm::crosvm_to_haxm(r, &ldtr).access_rights
            => VmxAccessRights(0x1_0000),
            off VmxAccessRights(0);
    }

    /// To Hyper-V, P is `present` alone: an unusable DS that says P stays present.
    rule_mshv_set_ignore_unusable: MSHV has MshvSetIgnoreUnusable {
        let k = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 1]);
        |r| rustvmm::mshv_set(r, &k) => hv(0xc0f3), off hv(0xc073);
    }

    /// From Hyper-V, unusable is 0 even for a not-present segment.
    rule_mshv_get_unusable_zero: MSHV has MshvGetUnusableZero {
        let h = hv(0xc073);
        |r| rustvmm::mshv_get(r, &h).unusable => 0, off 1;
        then |rules| {
            assert_eq!(
                rustvmm::mshv_get(rules, &h),
                kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 0])
            );
        }
    }

    /// seg_reg_from_kvm masks A of a not-present segment.
    rule_openvmm_from_kvm_clear_accessed_not_present:
        OPENVMM has OpenvmmFromKvmClearAccessedNotPresent {
        let k = kseg(0x2b, 0xffff_ffff, 0, [3, 0, 3, 1, 1, 0, 1, 0, 1]);
        |r| rustvmm::openvmm_from_kvm(r, &k) => hv(0xc072), off hv(0xc073);
    }

    /// seg_reg_from_kvm: unusable has no place; P comes from present. Off: P = present
    /// && !unusable = 0, and then A is masked for the absent segment.
    rule_openvmm_from_kvm_drop_unusable: OPENVMM has OpenvmmFromKvmDropUnusable {
        let k = kseg(0x2b, 0xffff_ffff, 0, [3, 1, 3, 1, 1, 0, 1, 0, 1]);
        |r| rustvmm::openvmm_from_kvm(r, &k) => hv(0xc0f3), off hv(0xc072);
    }

    /// seg_reg: `unusable: 0`.
    rule_openvmm_to_kvm_unusable_zero: OPENVMM has OpenvmmToKvmUnusableZero {
        let h = hv(0xc072);
        |r| rustvmm::openvmm_to_kvm(r, &h).unusable => 0, off 1;
        then |rules| {
            assert_eq!(
                rustvmm::openvmm_to_kvm(rules.without(Rule::OpenvmmToKvmUnusableZero), &h),
                kseg(0x2b, 0xffff_ffff, 0, [2, 0, 3, 1, 1, 0, 1, 0, 1])
            );
        }
    }

    /// The `.vmrs` writer's CPL: a virtual-8086 guest (CS selector 0x1000, RPL 0 as a
    /// paragraph number; SS.DPL 3, CPL 3) is recorded at CPL 0.
    rule_openvmm_dump_cpl_from_cs_rpl: OPENVMM has OpenvmmDumpCplFromCsRpl {
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
        |r| rustvmm::openvmm_dump_chunk(r, &v86).cpl => 0, off 3;
        then |rules| {
            // The chunk carries the eight registers as given.
            assert_eq!(rustvmm::openvmm_dump_chunk(rules, &v86).segments, v86);
        }
    }

    // -----------------------------------------------------------------------------------
    // Bochs and nested KVM.

    /// VMRUN: `ss.cache.dpl = guest.cpl`: a DPL-0 SS at CPL 3 comes back DPL 3.
    rule_bochs_vmrun_ss_dpl_from_cpl: BOCHS_SVM has BochsVmrunSsDplFromCpl {
        let ss = vmcb(0x2b, 0xc93, 0xffff_ffff, 0);
        |r| nested::bochs_round_trip(r, SegReg::Ss, &ss, 3)
            => (vmcb(0x2b, 0xcf3, 0xffff_ffff, 0), 3),
            off (ss, 3);
    }

    /// #VMEXIT: an invalid (P=0) segment's attrib is written as 0.
    rule_bochs_vmexit_zero_invalid_attrib: BOCHS_SVM has BochsVmexitZeroInvalidAttrib {
        let ds = vmcb(0, 0x073, 0xffff_ffff, 0);
        |r| nested::bochs_round_trip(r, SegReg::Ds, &ds, 3)
            => (vmcb(0, 0x000, 0xffff_ffff, 0), 3),
            off (ds, 3);
    }

    /// vmcb02.cpl = vmcb12.cpl, raw: a byte above 3 reaches vmcb02 and comes back.
    rule_nsvm_vmrun_copy_cpl: KVM_NSVM has NsvmVmrunCopyCpl {
        let ss = vmcb(0x2b, 0xcf3, 0xffff_ffff, 0);
        |r| nested::svm_l1_l2_round_trip(r, &ss, 3) => (ss, 3), off (ss, 0);
        then |rules| {
            assert_eq!(nested::svm_l1_l2_round_trip(rules, &ss, 7), (ss, 7));
        }
    }

    /// vmcb12.cpl = vmcb02.cpl on #VMEXIT.
    rule_nsvm_vmexit_copy_cpl: KVM_NSVM has NsvmVmexitCopyCpl {
        let ss = vmcb(0x2b, 0xcf3, 0xffff_ffff, 0);
        |r| nested::svm_l1_l2_round_trip(r, &ss, 2) => (ss, 2), off (ss, 0);
    }

    /// vmcs02 SS AR = vmcs12 SS AR.
    rule_nvmx_entry_copy_ss_ar: KVM_NVMX has NvmxEntryCopySsAr {
        let ss = vmcs(0x2b, 0xc0f3, 0xffff_ffff, 0);
        |r| nested::vmx_l1_l2_round_trip(r, SegReg::Ss, &ss)
            => ss,
            off vmcs(0x2b, 0, 0xffff_ffff, 0);
        then |rules| {
            let off = rules.without(Rule::NvmxEntryCopySsAr);
            assert_eq!(nested::vmx_l1_l2_round_trip(off, SegReg::Ds, &ss), ss);
        }
    }
}
