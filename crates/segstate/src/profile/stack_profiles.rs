//! The profiles of the other stacks that move segments, one per implementation and
//! release, each naming the upstream file, function and commit it was read at.

use super::registry::profiles;
use super::{Engine, Profile, Rule, RuleSet};

const XEN_HVM_GET: [Rule; 7] = [
    Rule::XenGetSsDbNotPresent,
    Rule::XenGetTrBusy,
    Rule::XenGetCsTrPresent,
    Rule::XenGetSFromRegister,
    Rule::XenGetGFromLimit,
    Rule::XenGetUserAccessed,
    Rule::XenSetGFromLimit,
];

const BHYVE_SVM_DESC: [Rule; 3] = [
    Rule::BhyveSvmGetUnusableFromP,
    Rule::BhyveSvmGetSsDplFromAttrib,
    Rule::BhyveSvmSetPFromUnusable,
];

profiles! {
    STACK_PROFILES;

    /// Xen HVM on AMD: xen/arch/x86/hvm/svm/svm.c `svm_get/set_segment_register`
    /// (SS.DPL ↔ VMCB.CPL) wrapped by hvm/hvm.c `hvm_get/set_segment_register`, read at
    /// xen-project/xen c447b7308b13. Symmetric like fixed KVM.
    XEN_SVM: "xen-svm", XenSvm,
        RuleSet::of(&XEN_HVM_GET)
            .with(Rule::XenSvmGetSsDplFromCpl)
            .with(Rule::XenSvmSetCplFromSsDpl),
        "Xen 4.x to 4.22-unstable (c447b7308b13)",
        "Xen on AMD: VMCB.CPL <-> SS.DPL symmetric, Xen's 12-bit attr with P=0 for unusable";

    /// Xen HVM on Intel: xen/arch/x86/hvm/vmx/vmx.c `vmx_get/set_segment_register`
    /// (P ↔ !unusable) wrapped by `hvm_get/set_segment_register`, @c447b7308b13.
    XEN_VMX: "xen-vmx", XenVmx,
        RuleSet::of(&XEN_HVM_GET)
            .with(Rule::XenVmxGetPFromUnusable)
            .with(Rule::XenVmxSetUnusableFromNotP),
        "Xen 4.x to 4.22-unstable (c447b7308b13)",
        "Xen on Intel: access rights folded into the 12-bit attr, unusable <-> !P, CPL = SS.DPL";

    /// Xen's `hvm_hw_cpu` record: hvm/hvm.c `hvm_save_cpu_ctxt` / `hvm_load_cpu_ctxt`
    /// (`*_arbytes = seg.attr`, `UNFOLD_ARBYTES`), @c447b7308b13. No CPL field.
    XEN_SAVE: "xen-save", XenSave,
        RuleSet::of(&[Rule::XenLoadUnfoldArbytes]),
        "Xen 3.x to 4.22-unstable (c447b7308b13)",
        "xl save / migration: segment_register in *_arbytes, CPL only as ss_arbytes' DPL";

    /// FreeBSD bhyve on AMD: sys/amd64/vmm/amd/vmcb.c `vmcb_getdesc`/`vmcb_setdesc`
    /// @be9a57eda106. The descriptor API never touches VMCB.CPL.
    BHYVE_SVM: "bhyve-svm", BhyveSvm,
        RuleSet::of(&BHYVE_SVM_DESC),
        "FreeBSD 11 to 15-CURRENT (vmcb.c be9a57eda106)",
        "FreeBSD bhyve on AMD: seg_desc in VMX layout, VMCB.CPL untouched by get and set";

    /// illumos bhyve on AMD: usr/src/uts/intel/io/vmm/amd/svm.c `svm_getdesc`/
    /// `svm_setdesc` @88f663c9ea41. Set syncs VMCB.CPL from SS.DPL; get does not report it.
    ILLUMOS_BHYVE_SVM: "illumos-bhyve-svm", IllumosSvm,
        RuleSet::of(&BHYVE_SVM_DESC).with(Rule::BhyveSvmSetCplFromSsDpl),
        "illumos-gate (svm.c 88f663c9ea41), OmniOS, Helios",
        "illumos bhyve on AMD: set takes VMCB.CPL from SS.DPL, get reports the stale attrib DPL";

    /// bhyve on Intel: sys/amd64/vmm/intel/vmcs.c `vmcs_getdesc`/`vmcs_setdesc`
    /// @0162500b7d2d, raw access rights (the CPL is SS.DPL).
    BHYVE_VMX: "bhyve-vmx", BhyveVmx,
        RuleSet::EMPTY,
        "FreeBSD 10 to 15-CURRENT (vmcs.c 0162500b7d2d)",
        "bhyve on Intel: seg_desc.access is the VMCS access rights, raw";

    /// FreeBSD bhyve's snapshot (BHYVE_SNAPSHOT): `vmcb_snapshot_desc` per segment and
    /// `VMCB_OFF_CPL` (sys/amd64/vmm/amd/svm.c `svm_snapshot`) @be9a57eda106.
    BHYVE_SNAPSHOT: "bhyve-snapshot", BhyveVmm,
        RuleSet::of(&[Rule::BhyveSnapshotCplByte]),
        "FreeBSD 13 to 15-CURRENT with BHYVE_SNAPSHOT",
        "bhyve suspend/resume: seg_desc records plus the VMCB CPL byte";

    /// Oxide propolis: lib/propolis/src/vcpu.rs migration payload
    /// `("bhyve-x86-vcpu-segregs", 1)` @372a57444262, written with `get_segreg` and
    /// restored with `set_segreg`. No CPL anywhere.
    PROPOLIS: "propolis", Propolis,
        RuleSet::EMPTY,
        "propolis (372a57444262), schema bhyve-x86-vcpu-segregs v1",
        "propolis live migration: base, limit, access, selector per segment; no CPL";

    /// VirtualBox HM on AMD, 5.2.40 (thalium/icebox third_party/virtualbox
    /// @6f78952d58da): VMMR0/HMSVMR0.cpp hmR0SvmSaveGuestState /
    /// hmR0SvmLoadGuestSegmentRegs, include/VBox/vmm/hm_svm.h attribute macros.
    VBOX_SVM: "vbox-svm", VboxSvm,
        RuleSet::of(&[
            Rule::VboxSvmImportUnusableNotSet,
            Rule::VboxSvmImportSsDplFromCpl,
            Rule::VboxSvmImportCsGFromLimit,
            Rule::VboxSvmImportTrBusy,
            Rule::VboxSvmExportCplFromSsDpl,
        ]),
        "VirtualBox 5.2.40 (HMSVMR0.cpp)",
        "VirtualBox on AMD: u8CPL <-> ss.DPL symmetric; imported null segments are usable, not present";

    /// VirtualBox HM on Intel, 5.2.40: VMMR0/HMVMXR0.cpp hmR0VmxReadSegmentReg /
    /// hmR0VmxWriteSegmentReg (protected mode, no real-on-v86).
    VBOX_VMX: "vbox-vmx", VboxVmx,
        RuleSet::of(&[
            Rule::VboxVmxImportStripUnusable,
            Rule::VboxVmxExportZeroAttrUnusable,
        ]),
        "VirtualBox 5.2.40 (HMVMXR0.cpp)",
        "VirtualBox on Intel: access rights raw; only an all-zero Attr is written unusable";

    /// VirtualBox's saved state (SSM unit CPUM: `Sel`, `ValidSel`, `fFlags`,
    /// `u64Base`, `u32Limit`, `Attr` per register): `CPUMSELREG` as it is.
    VBOX_SAV: "vbox-sav", VboxSav,
        RuleSet::EMPTY,
        "VirtualBox 5.x to 7.x .sav (CPUM unit)",
        "VirtualBox saved state: CPUMSELREG stored as it is, no CPL field";

    /// VirtualBox NEM on KVM: VMMR3/NEMR3Native-linux.cpp NEM_LNX_IMPORT_SEG /
    /// NEM_LNX_EXPORT_SEG @4908d8d1a85c.
    VBOX_NEM: "vbox-nem", VboxNem,
        RuleSet::of(&[Rule::VboxNemCopyUnusable]),
        "VirtualBox 7.1 NEM on Linux KVM (4908d8d1a85c)",
        "VirtualBox on KVM: kvm_segment <-> CPUMSELREG field by field, unusable included";

    /// crosvm on KVM: hypervisor/src/kvm/x86_64.rs `From` conversions between
    /// `kvm_segment` and the neutral `Segment` @f1e797a68dad (also what a crosvm
    /// snapshot stores).
    CROSVM: "crosvm", Crosvm,
        RuleSet::of(&[
            Rule::CrosvmFromKvmDropUnusable,
            Rule::CrosvmKvmUnusableFromNotPresent,
        ]),
        "crosvm (f1e797a68dad)",
        "crosvm: neutral Segment without unusable; to KVM unusable = !present";

    /// crosvm's WHPX backend: hypervisor/src/whpx/types.rs `Segment` ↔
    /// `WHV_X64_SEGMENT_REGISTER` @f1e797a68dad.
    CROSVM_WHPX: "crosvm-whpx", CrosvmWhpx,
        RuleSet::EMPTY,
        "crosvm (f1e797a68dad) on Windows Hypervisor Platform",
        "crosvm on WHPX: Segment packed into the Hyper-V attribute word (P says unusable)";

    /// crosvm's HAXM backend: hypervisor/src/haxm/vcpu.rs `Segment` ↔ `segment_desc_t`
    /// @f1e797a68dad, then HAXM's own `vcpu_set_regs`/`_copy_desc` (intel/haxm
    /// core/vcpu.c @4c524a10486d).
    CROSVM_HAXM: "crosvm-haxm", CrosvmHaxm,
        RuleSet::of(&[Rule::CrosvmHaxmNoNullBit, Rule::CrosvmHaxmZeroArNull]),
        "crosvm (f1e797a68dad) on Intel HAXM (4c524a10486d)",
        "crosvm on HAXM: VMCS-layout segment_desc_t without the null (unusable) bit";

    /// rust-vmm mshv-bindings src/x86_64/regs.rs `SegmentRegister` ↔
    /// `hv_x64_segment_register` @1032a5dedff0: Cloud Hypervisor's MSHV path.
    MSHV: "mshv", Mshv,
        RuleSet::of(&[Rule::MshvSetIgnoreUnusable, Rule::MshvGetUnusableZero]),
        "mshv-bindings (1032a5dedff0), Cloud Hypervisor on MSHV",
        "MSHV: kvm_segment-shaped registers to Hyper-V and back, unusable dropped both ways";

    /// openvmm's KVM backend: vmm_core/virt_kvm/src/arch/x86_64/vp_state.rs
    /// `seg_reg_from_kvm` / `seg_reg` @1488a37b7cfe.
    OPENVMM: "openvmm", Openvmm,
        RuleSet::of(&[
            Rule::OpenvmmFromKvmClearAccessedNotPresent,
            Rule::OpenvmmFromKvmDropUnusable,
            Rule::OpenvmmToKvmUnusableZero,
            Rule::OpenvmmDumpCplFromCsRpl,
        ]),
        "openvmm (1488a37b7cfe) virt_kvm",
        "openvmm on KVM: Hyper-V-shaped SegmentRegister, unusable 0 to KVM";

    /// Bochs as the L0 CPU under an L1 hypervisor: bochs/cpu/svm.cc VMRUN
    /// (`svm_segment_read`, SS.DPL = CPL) and #VMEXIT (`svm_segment_write`) @783b58fd6d9b.
    BOCHS_SVM: "bochs-svm", Bochs,
        RuleSet::of(&[
            Rule::BochsVmrunSsDplFromCpl,
            Rule::BochsVmexitZeroInvalidAttrib,
        ]),
        "Bochs 2.x to 3.0 (783b58fd6d9b)",
        "Bochs SVM: #VMEXIT zeroes invalid segments' attrib; CPL byte written apart";

    /// Linux nested SVM: arch/x86/kvm/svm/nested.c `nested_vmcb02_prepare_save` and
    /// `nested_svm_vmexit` (segments and the raw CPL byte, VMCB_SEG dirty).
    KVM_NSVM: "kvm-nsvm", NestedSvm,
        RuleSet::of(&[Rule::NsvmVmrunCopyCpl, Rule::NsvmVmexitCopyCpl]),
        "Linux 4.x and later (svm/nested.c since 5.10)",
        "KVM nested SVM, L1 <-> L2: vmcb12 segments and CPL byte copied raw";

    /// Linux nested VMX: arch/x86/kvm/vmx/nested.c `prepare_vmcs02(_rare)` and
    /// `sync_vmcs02_to_vmcs12` (access rights raw).
    KVM_NVMX: "kvm-nvmx", NestedVmx,
        RuleSet::of(&[Rule::NvmxEntryCopySsAr]),
        "Linux 4.x and later (vmx/nested.c)",
        "KVM nested VMX, L1 <-> L2: vmcs12 access rights copied raw";
}

impl Profile {
    /// What an engine of another stack does today.
    pub(super) const fn current_stack_profile(engine: Engine) -> Profile {
        match engine {
            Engine::XenSvm => Profile::XEN_SVM,
            Engine::XenVmx => Profile::XEN_VMX,
            Engine::XenSave => Profile::XEN_SAVE,
            Engine::BhyveSvm => Profile::BHYVE_SVM,
            Engine::IllumosSvm => Profile::ILLUMOS_BHYVE_SVM,
            Engine::BhyveVmx => Profile::BHYVE_VMX,
            Engine::BhyveVmm => Profile::BHYVE_SNAPSHOT,
            Engine::Propolis => Profile::PROPOLIS,
            Engine::VboxSvm => Profile::VBOX_SVM,
            Engine::VboxVmx => Profile::VBOX_VMX,
            Engine::VboxSav => Profile::VBOX_SAV,
            Engine::VboxNem => Profile::VBOX_NEM,
            Engine::Crosvm => Profile::CROSVM,
            Engine::CrosvmWhpx => Profile::CROSVM_WHPX,
            Engine::CrosvmHaxm => Profile::CROSVM_HAXM,
            Engine::Mshv => Profile::MSHV,
            Engine::Openvmm => Profile::OPENVMM,
            Engine::Bochs => Profile::BOCHS_SVM,
            Engine::NestedSvm => Profile::KVM_NSVM,
            Engine::NestedVmx => Profile::KVM_NVMX,
            Engine::KvmSvm => Profile::KVM_SVM,
            Engine::KvmVmx => Profile::KVM_VMX,
            Engine::Qemu => Profile::QEMU,
            Engine::Verbatim => Profile::VERBATIM,
        }
    }
}
