//! The named profiles: each real implementation's get and set rules, named after the
//! last release that behaved that way.

use core::fmt;

use super::{Rule, RuleSet};

/// Which cooking code a profile runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// KVM on AMD: VMCB ↔ `kvm_segment` (svm_get_segment / svm_set_segment).
    KvmSvm,
    /// KVM on Intel: VMCS ↔ `kvm_segment` (vmx_get_segment / vmx_set_segment).
    KvmVmx,
    /// QEMU: `kvm_segment` ↔ `SegmentCache` (get_seg / set_seg).
    Qemu,
    /// A VMM that stores `kvm_sregs` as it came (Firecracker, Cloud Hypervisor).
    Verbatim,
}

impl Engine {
    /// True for the two hypervisor engines (they sit between hardware and the UAPI).
    #[must_use]
    pub const fn is_hypervisor(self) -> bool {
        matches!(self, Engine::KvmSvm | Engine::KvmVmx)
    }

    /// The prefix of the rule ids this engine reads.
    #[must_use]
    pub const fn rule_prefix(self) -> &'static str {
        match self {
            Engine::KvmSvm => "svm.",
            Engine::KvmVmx => "vmx.",
            Engine::Qemu => "qemu.",
            Engine::Verbatim => "verbatim.",
        }
    }

    /// The save area or model the engine produces.
    #[must_use]
    pub const fn model(self) -> &'static str {
        match self {
            Engine::KvmSvm => "VMCB",
            Engine::KvmVmx => "VMCS",
            Engine::Qemu => "QEMU SegmentCache",
            Engine::Verbatim => "kvm_sregs",
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
        write!(f, "unknown profile `{}`; known: ", self.0)?;
        for (i, p) in Profile::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(p.name)?;
        }
        Ok(())
    }
}

const SVM_GET_COMMON: [Rule; 6] = [
    Rule::SvmGetGFromLimit,
    Rule::SvmGetUnusableFromP,
    Rule::SvmGetTrBusy,
    Rule::SvmGetDataAccessed,
    Rule::SvmGetSsDbUnusable,
    Rule::SvmGetSsDplFromCpl,
];

impl Profile {
    /// KVM on AMD since Linux 4.12: attributes kept, P = present && !unusable, CPL from
    /// SS.DPL, SS.DPL reported from CPL. Get and set are symmetric.
    pub const KVM_SVM: Profile = Profile {
        name: "kvm-svm",
        engine: Engine::KvmSvm,
        rules: RuleSet::of(&SVM_GET_COMMON)
            .with(Rule::SvmSetPFromUnusable)
            .with(Rule::SvmSetCplFromSsDpl),
        releases: "Linux 4.12 and later (d9c1b5431d5f)",
        summary: "KVM on AMD, fixed: every attribute kept, VMCB.CPL <-> SS.DPL symmetric",
    };

    /// KVM on AMD, Linux 3.16 to 4.11: unusable segments' attrib zeroed, CPL taken
    /// from the zeroed DPL, type 0 read as unusable.
    pub const KVM_SVM_4_11: Profile = Profile {
        name: "kvm-svm@4.11",
        engine: Engine::KvmSvm,
        rules: RuleSet::of(&SVM_GET_COMMON)
            .with(Rule::SvmGetUnusableFromType0)
            .with(Rule::SvmSetZeroUnusableAttrib)
            .with(Rule::SvmSetCplFromAttrib),
        releases: "Linux 3.16 (ae9fedc793c4) to 4.11",
        summary: "KVM on AMD before the 2017 fix: unusable attrib zeroed, CPL from the zeroed DPL",
    };

    /// KVM on Intel since Linux 6.2: every attribute kept, AR bit 16 = unusable ||
    /// !present, accessed forced under unrestricted guest.
    pub const KVM_VMX: Profile = Profile {
        name: "kvm-vmx",
        engine: Engine::KvmVmx,
        rules: RuleSet::of(&[
            Rule::VmxGetPresentFromUnusable,
            Rule::VmxSetUnusableFromNotPresent,
            Rule::VmxSetAccessedUnrestricted,
        ]),
        releases: "Linux 6.2 and later (a44b331614e6)",
        summary: "KVM on Intel, fixed: attributes of unusable segments kept (SS.DPL = CPL survives)",
    };

    /// KVM on Intel before Linux 6.2: AR = 0x10000 for unusable segments.
    pub const KVM_VMX_6_1: Profile = Profile {
        name: "kvm-vmx@6.1",
        engine: Engine::KvmVmx,
        rules: RuleSet::of(&[
            Rule::VmxGetPresentFromUnusable,
            Rule::VmxSetUnusableFromNotPresent,
            Rule::VmxSetAccessedUnrestricted,
            Rule::VmxSetZeroUnusableAr,
        ]),
        releases: "Linux 3.10 to 6.1",
        summary: "KVM on Intel before 6.2: AR=0x10000 for unusable segments, SS.DPL and CPL lost",
    };

    /// QEMU since 2.10: flags packed from every field, P = present && !unusable.
    pub const QEMU: Profile = Profile {
        name: "qemu",
        engine: Engine::Qemu,
        rules: RuleSet::of(&[
            Rule::QemuSetUnusableFromNotPresent,
            Rule::QemuGetPFromUnusable,
        ]),
        releases: "QEMU 2.10 and later (d45fc087c266)",
        summary: "QEMU, fixed: flags packed from every field, only P cleared for unusable",
    };

    /// QEMU 2.6 to 2.9: flags zeroed for unusable segments.
    pub const QEMU_2_9: Profile = Profile {
        name: "qemu@2.9",
        engine: Engine::Qemu,
        rules: RuleSet::of(&[
            Rule::QemuSetUnusableFromNotPresent,
            Rule::QemuGetZeroUnusableFlags,
        ]),
        releases: "QEMU 2.6 (4cae9c97967a) to 2.9",
        summary: "QEMU before the 2017 fix: flags of unusable segments zeroed, SS.DPL lost",
    };

    /// The thread's first alternative: keep the previous flags, clear only P.
    pub const QEMU_KEEP_OLD_FLAGS: Profile = Profile {
        name: "qemu-keep-old-flags",
        engine: Engine::Qemu,
        rules: RuleSet::of(&[
            Rule::QemuSetUnusableFromNotPresent,
            Rule::QemuGetPFromUnusable,
            Rule::QemuGetKeepOldFlags,
        ]),
        releases: "never merged (2017 thread, first alternative)",
        summary: "rejected design: unusable keeps the cache's previous flags minus P (old DPL survives)",
    };

    /// The thread's second alternative: clear P and DPL, SS takes DPL from KVM.
    pub const QEMU_SEGTYPE: Profile = Profile {
        name: "qemu-segtype",
        engine: Engine::Qemu,
        rules: RuleSet::of(&[
            Rule::QemuSetUnusableFromNotPresent,
            Rule::QemuGetPFromUnusable,
            Rule::QemuGetSegtype,
        ]),
        releases: "never merged (2017 thread, second alternative)",
        summary: "rejected design: unusable clears P and DPL of the previous flags, SS takes DPL from KVM",
    };

    /// Pass-through: `kvm_sregs` stored and restored as it came.
    pub const VERBATIM: Profile = Profile {
        name: "verbatim",
        engine: Engine::Verbatim,
        rules: RuleSet::EMPTY,
        releases: "Firecracker, Cloud Hypervisor (raw kvm_sregs in snapshots)",
        summary: "pass-through: kvm_sregs kept byte for byte",
    };

    /// Every built-in profile.
    pub const ALL: [Profile; 9] = [
        Profile::KVM_SVM,
        Profile::KVM_SVM_4_11,
        Profile::KVM_VMX,
        Profile::KVM_VMX_6_1,
        Profile::QEMU,
        Profile::QEMU_2_9,
        Profile::QEMU_KEEP_OLD_FLAGS,
        Profile::QEMU_SEGTYPE,
        Profile::VERBATIM,
    ];

    /// Looks a profile up by name.
    pub fn by_name(name: &str) -> Result<Profile, UnknownProfile> {
        Profile::ALL
            .iter()
            .copied()
            .find(|p| p.name == name.trim())
            .ok_or_else(|| UnknownProfile(name.trim().into()))
    }

    /// The fixed profile of the same engine: what KVM or QEMU does today.
    #[must_use]
    pub const fn current_of(engine: Engine) -> Profile {
        match engine {
            Engine::KvmSvm => Profile::KVM_SVM,
            Engine::KvmVmx => Profile::KVM_VMX,
            Engine::Qemu => Profile::QEMU,
            Engine::Verbatim => Profile::VERBATIM,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
