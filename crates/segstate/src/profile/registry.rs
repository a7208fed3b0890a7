//! The named profiles: each real implementation's get and set rules, named after the
//! last release that behaved that way.

use core::fmt;

use super::{Format, Rule, RuleSet};
use crate::table::table_enum;

table_enum! {
    /// Which cooking code a profile runs: one row per engine, with the prefix of its
    /// rule ids and the save area or model it produces.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum Engine;
    /// Every engine.
    ALL;
    columns {
        /// The prefix of the rule ids this engine reads.
        rule_prefix: &'static str,
        /// The save area or model the engine produces.
        model: &'static str,
    }
    /// KVM on AMD: VMCB ↔ `kvm_segment` (svm_get_segment / svm_set_segment).
    KvmSvm = rule_prefix: "svm.", model: "VMCB";
    /// KVM on Intel: VMCS ↔ `kvm_segment` (vmx_get_segment / vmx_set_segment).
    KvmVmx = rule_prefix: "vmx.", model: "VMCS";
    /// QEMU: `kvm_segment` ↔ `SegmentCache` (get_seg / set_seg).
    Qemu = rule_prefix: "qemu.", model: "QEMU SegmentCache";
    /// A VMM that stores `kvm_sregs` as it came (Firecracker, Cloud Hypervisor).
    Verbatim = rule_prefix: "verbatim.", model: "kvm_sregs";
    /// Xen HVM on AMD: VMCB ↔ `segment_register`.
    XenSvm = rule_prefix: "xen.", model: "Xen segment_register";
    /// Xen HVM on Intel: VMCS ↔ `segment_register`.
    XenVmx = rule_prefix: "xen.", model: "Xen segment_register";
    /// Xen's save record (`hvm_hw_cpu`): save then load.
    XenSave = rule_prefix: "xen.", model: "Xen hvm_hw_cpu";
    /// bhyve on AMD: VMCB ↔ `seg_desc` (FreeBSD vmcb.c, illumos svm.c).
    BhyveSvm = rule_prefix: "bhyve.", model: "bhyve seg_desc";
    /// illumos bhyve on AMD: VMCB ↔ `seg_desc` (svm.c svm_getdesc / svm_setdesc).
    IllumosSvm = rule_prefix: "bhyve.", model: "bhyve seg_desc";
    /// bhyve on Intel: VMCS ↔ `seg_desc` (vmcs.c).
    BhyveVmx = rule_prefix: "bhyve.", model: "bhyve seg_desc";
    /// FreeBSD bhyve's snapshot (`seg_desc`s and the CPL byte).
    BhyveVmm = rule_prefix: "bhyve.", model: "bhyve snapshot";
    /// Oxide propolis's migration payload (`seg_desc`s and selectors, no CPL).
    Propolis = rule_prefix: "bhyve.", model: "propolis bhyve-x86-vcpu-segregs";
    /// VirtualBox HM on AMD: VMCB ↔ `CPUMSELREG`.
    VboxSvm = rule_prefix: "vbox.", model: "VirtualBox CPUMSELREG";
    /// VirtualBox HM on Intel: VMCS ↔ `CPUMSELREG`.
    VboxVmx = rule_prefix: "vbox.", model: "VirtualBox CPUMSELREG";
    /// VirtualBox's saved state: `CPUMSELREG` as it is.
    VboxSav = rule_prefix: "vbox.", model: "VirtualBox saved state";
    /// VirtualBox NEM on KVM: `kvm_segment` ↔ `CPUMSELREG`.
    VboxNem = rule_prefix: "vbox.", model: "VirtualBox CPUMSELREG";
    /// crosvm on KVM: `kvm_segment` ↔ crosvm `Segment` (also its snapshot).
    Crosvm = rule_prefix: "crosvm.", model: "crosvm Segment";
    /// crosvm's WHPX backend: `Segment` ↔ `WHV_X64_SEGMENT_REGISTER`.
    CrosvmWhpx = rule_prefix: "crosvm.", model: "WHV_X64_SEGMENT_REGISTER";
    /// crosvm's HAXM backend: `Segment` ↔ `segment_desc_t` (the VMCS layout).
    CrosvmHaxm = rule_prefix: "crosvm.", model: "HAXM segment_desc_t";
    /// rust-vmm mshv-bindings: `SegmentRegister` ↔ `hv_x64_segment_register`.
    Mshv = rule_prefix: "mshv.", model: "hv_x64_segment_register";
    /// openvmm's KVM backend: `kvm_segment` ↔ openvmm `SegmentRegister`.
    Openvmm = rule_prefix: "openvmm.", model: "openvmm SegmentRegister";
    /// Bochs as the L0 CPU: VMRUN then #VMEXIT, VMCB to VMCB.
    Bochs = rule_prefix: "bochs.", model: "VMCB (Bochs as L0)";
    /// Linux nested SVM: vmcb12 → vmcb02 → vmcb12.
    NestedSvm = rule_prefix: "nsvm.", model: "vmcb12/vmcb02";
    /// Linux nested VMX: vmcs12 → vmcs02 → vmcs12.
    NestedVmx = rule_prefix: "nvmx.", model: "vmcs12/vmcs02";
}

impl Engine {
    /// True for the two hypervisor engines (they sit between hardware and the UAPI).
    #[must_use]
    pub const fn is_hypervisor(self) -> bool {
        self.hardware().is_some()
    }

    /// True for KVM and the VMMs on its UAPI that segstate modelled first (QEMU,
    /// pass-through): the paths `segstate check` runs a user's state through.
    #[must_use]
    pub const fn is_kvm_stack(self) -> bool {
        matches!(
            self,
            Engine::KvmSvm | Engine::KvmVmx | Engine::Qemu | Engine::Verbatim
        )
    }

    /// The save area a hypervisor engine reads and writes; `None` for a VMM.
    #[must_use]
    pub const fn hardware(self) -> Option<Format> {
        match self {
            Engine::KvmSvm
            | Engine::XenSvm
            | Engine::BhyveSvm
            | Engine::IllumosSvm
            | Engine::VboxSvm
            | Engine::Bochs
            | Engine::NestedSvm => Some(Format::Vmcb),
            Engine::KvmVmx
            | Engine::XenVmx
            | Engine::BhyveVmx
            | Engine::VboxVmx
            | Engine::CrosvmHaxm
            | Engine::NestedVmx => Some(Format::Vmcs),
            Engine::Mshv | Engine::CrosvmWhpx => Some(Format::HyperV),
            Engine::Qemu
            | Engine::Verbatim
            | Engine::XenSave
            | Engine::BhyveVmm
            | Engine::Propolis
            | Engine::VboxSav
            | Engine::VboxNem
            | Engine::Crosvm
            | Engine::Openvmm => None,
        }
    }
}

/// A named profile: an engine and the rules it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Profile {
    /// Name, e.g. `kvm-svm@4.11`.
    pub name: &'static str,
    /// The cooking code.
    pub engine: Engine,
    /// The rules applied.
    pub rules: RuleSet,
    /// The releases that behaved this way.
    pub releases: &'static str,
    /// One line on what the profile is.
    pub summary: &'static str,
}

/// A profile name that is not defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProfile(pub alloc::string::String);

impl fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown profile `{}`; known: ", self.0.escape_debug())?;
        for (i, p) in Profile::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(p.name)?;
        }
        Ok(())
    }
}

impl core::error::Error for UnknownProfile {}

/// Declares profiles once each: every entry becomes an associated constant of
/// [`Profile`] (its doc comment kept) and a member of the list `$list`, in order.
/// An entry is `CONST: "name", Engine, rules, "releases", "summary";`.
macro_rules! profiles {
    ($list:ident; $(
        $(#[$meta:meta])*
        $konst:ident: $name:literal, $engine:ident, $rules:expr, $releases:literal, $summary:literal;
    )*) => {
        impl Profile {
            $(
                $(#[$meta])*
                pub const $konst: Profile = Profile {
                    name: $name,
                    engine: Engine::$engine,
                    rules: $rules,
                    releases: $releases,
                    summary: $summary,
                };
            )*
        }

        /// The profiles this module declares, in order.
        pub(super) const $list: &[Profile] = &[$(Profile::$konst),*];
    };
}
pub(super) use profiles;

/// `a` then `b` as one array; a length that does not add up fails to compile.
const fn concat<const N: usize>(a: &[Profile], b: &[Profile]) -> [Profile; N] {
    assert!(a.len() + b.len() == N, "Profile::ALL's length");
    let mut all = [Profile::VERBATIM; N];
    let mut i = 0;
    while i < N {
        all[i] = if i < a.len() { a[i] } else { b[i - a.len()] };
        i += 1;
    }
    all
}

const SVM_GET_COMMON: [Rule; 6] = [
    Rule::SvmGetGFromLimit,
    Rule::SvmGetUnusableFromP,
    Rule::SvmGetTrBusy,
    Rule::SvmGetDataAccessed,
    Rule::SvmGetSsDbUnusable,
    Rule::SvmGetSsDplFromCpl,
];

/// What every QEMU profile does: set_seg's unusable = !present and the migration hooks.
const QEMU_COMMON: [Rule; 3] = [
    Rule::QemuSetUnusableFromNotPresent,
    Rule::QemuPreSaveRealModeDplZero,
    Rule::QemuPostLoadCplFromSsDpl,
];

profiles! {
    KVM_QEMU_PROFILES;

    /// KVM on AMD since Linux 4.12: attributes kept, P = present && !unusable, CPL from
    /// SS.DPL, SS.DPL reported from CPL. Get and set are symmetric.
    KVM_SVM: "kvm-svm", KvmSvm,
        RuleSet::of(&SVM_GET_COMMON)
            .with(Rule::SvmSetPFromUnusable)
            .with(Rule::SvmSetCplFromSsDpl),
        "Linux 4.12 and later (d9c1b5431d5f)",
        "KVM on AMD, fixed: every attribute kept, VMCB.CPL <-> SS.DPL symmetric";

    /// KVM on AMD, Linux 3.16 to 4.11: unusable segments' attrib zeroed, CPL taken
    /// from the zeroed DPL, type 0 read as unusable.
    KVM_SVM_4_11: "kvm-svm@4.11", KvmSvm,
        RuleSet::of(&SVM_GET_COMMON)
            .with(Rule::SvmGetUnusableFromType0)
            .with(Rule::SvmSetZeroUnusableAttrib)
            .with(Rule::SvmSetCplFromAttrib),
        "Linux 3.16 (ae9fedc793c4) to 4.11",
        "KVM on AMD before the 2017 fix: unusable attrib zeroed, CPL from the zeroed DPL";

    /// KVM on Intel since Linux 6.2: every attribute kept, AR bit 16 = unusable ||
    /// !present, accessed forced under unrestricted guest.
    KVM_VMX: "kvm-vmx", KvmVmx,
        RuleSet::of(&[
            Rule::VmxGetPresentFromUnusable,
            Rule::VmxSetUnusableFromNotPresent,
            Rule::VmxSetAccessedUnrestricted,
        ]),
        "Linux 6.2 and later (a44b331614e6)",
        "KVM on Intel, fixed: attributes of unusable segments kept (SS.DPL = CPL survives)";

    /// KVM on Intel before Linux 6.2: AR = 0x10000 for unusable segments.
    KVM_VMX_6_1: "kvm-vmx@6.1", KvmVmx,
        Profile::KVM_VMX.rules.with(Rule::VmxSetZeroUnusableAr),
        "Linux 3.10 to 6.1",
        "KVM on Intel before 6.2: AR=0x10000 for unusable segments, SS.DPL and CPL lost";

    /// QEMU since 2.10: flags packed from every field, P = present && !unusable.
    QEMU: "qemu", Qemu,
        RuleSet::of(&QEMU_COMMON).with(Rule::QemuGetPFromUnusable),
        "QEMU 2.10 and later (d45fc087c266)",
        "QEMU, fixed: flags packed from every field, only P cleared for unusable";

    /// QEMU 2.6 to 2.9: flags zeroed for unusable segments.
    QEMU_2_9: "qemu@2.9", Qemu,
        RuleSet::of(&QEMU_COMMON).with(Rule::QemuGetZeroUnusableFlags),
        "QEMU 2.6 (4cae9c97967a) to 2.9",
        "QEMU before the 2017 fix: flags of unusable segments zeroed, SS.DPL lost";

    /// The thread's first alternative: keep the previous flags, clear only P.
    QEMU_KEEP_OLD_FLAGS: "qemu-keep-old-flags", Qemu,
        RuleSet::of(&QEMU_COMMON).with(Rule::QemuGetPFromUnusable).with(Rule::QemuGetKeepOldFlags),
        "never merged (2017 thread, first alternative)",
        "rejected design: unusable keeps the cache's previous flags minus P (old DPL survives)";

    /// The thread's second alternative: clear P and DPL, SS takes DPL from KVM.
    QEMU_SEGTYPE: "qemu-segtype", Qemu,
        RuleSet::of(&QEMU_COMMON).with(Rule::QemuGetPFromUnusable).with(Rule::QemuGetSegtype),
        "never merged (2017 thread, second alternative)",
        "rejected design: unusable clears P and DPL of the previous flags, SS takes DPL from KVM";

    /// QEMU syncing a guest in virtual-8086 mode (EFLAGS.VM set): kvm_put_sregs sends
    /// CS/DS/ES/FS/GS/SS through `set_v8086_seg` (target/i386/kvm/kvm.c @00001a22d183).
    QEMU_V8086: "qemu-v8086", Qemu,
        Profile::QEMU.rules.with(Rule::QemuSetV8086Seg),
        "QEMU 1.x and later, guest in virtual-8086 mode",
        "QEMU with EFLAGS.VM set: the six code/data segments go to KVM as DPL-3 data (CPL 3)";

    /// Pass-through: `kvm_sregs` stored and restored as it came.
    VERBATIM: "verbatim", Verbatim,
        RuleSet::EMPTY,
        "Firecracker, Cloud Hypervisor (raw kvm_sregs in snapshots)",
        "pass-through: kvm_sregs kept byte for byte";
}

impl Profile {
    /// Every built-in profile: KVM's and QEMU's, then the other stacks'.
    pub const ALL: [Profile; 30] = concat(KVM_QEMU_PROFILES, super::stack_profiles::STACK_PROFILES);

    /// Looks a profile up by name.
    pub fn by_name(name: &str) -> Result<Profile, UnknownProfile> {
        Profile::ALL
            .iter()
            .copied()
            .find(|p| p.name == name.trim())
            .ok_or_else(|| UnknownProfile(name.trim().into()))
    }

    /// The current profile of the same engine: what KVM, QEMU or the stack does today.
    #[must_use]
    pub const fn current_of(engine: Engine) -> Profile {
        match engine {
            Engine::KvmSvm => Profile::KVM_SVM,
            Engine::KvmVmx => Profile::KVM_VMX,
            other => Profile::current_stack_profile(other),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
