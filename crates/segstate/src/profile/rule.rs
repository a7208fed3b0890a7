//! Named cooking rules: every place where an implementation changes a segment on its
//! way through, each with an id, a kind, what it does, what the code does without it,
//! and where it came from upstream.

use core::fmt;

/// What a rule is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// How a format without an unusable bit spells "unusable" (P = 0). Part of the
    /// documented normalisation.
    Encoding,
    /// A deliberate fixup (cross-vendor aids, hardware quirks). Part of the documented
    /// normalisation: verify expects its effect.
    Fixup,
    /// How the CPL travels through SS.DPL. Without it the CPL is not carried.
    CplCarrier,
    /// Drops information. The bugs and the rejected designs: verify reports what they lose.
    Loss,
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleKind::Encoding => "encoding",
            RuleKind::Fixup => "fixup",
            RuleKind::CplCarrier => "cpl-carrier",
            RuleKind::Loss => "loss",
        })
    }
}

macro_rules! rules {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $id:literal, $kind:ident,
        summary: $summary:literal,
        off: $off:literal,
        upstream: $upstream:literal;
    )*) => {
        /// A cooking rule of KVM SVM, KVM VMX or QEMU.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Rule {
            $($(#[$doc])* $variant,)*
        }

        impl Rule {
            /// Every rule.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            /// Stable id, e.g. `svm.get.g-from-limit`.
            #[must_use]
            pub const fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id,)* }
            }

            /// What the rule is for.
            #[must_use]
            pub const fn kind(self) -> RuleKind {
                match self { $(Rule::$variant => RuleKind::$kind,)* }
            }

            /// What the rule does, in one line.
            #[must_use]
            pub const fn summary(self) -> &'static str {
                match self { $(Rule::$variant => $summary,)* }
            }

            /// What the cooking code does when the rule is switched off.
            #[must_use]
            pub const fn when_off(self) -> &'static str {
                match self { $(Rule::$variant => $off,)* }
            }

            /// The upstream commit or release that introduced (or removed) it.
            #[must_use]
            pub const fn upstream(self) -> &'static str {
                match self { $(Rule::$variant => $upstream,)* }
            }
        }
    };
}

rules! {
    /// svm_get_segment: `var->g = s->limit > 0xfffff`.
    SvmGetGFromLimit = "svm.get.g-from-limit", Fixup,
        summary: "G is synthesized from the limit (limit > 0xfffff): AMD does not track G for every segment and Intel's VM entry checks it",
        off: "G is read from attrib bit 11",
        upstream: "Linux ~3.16 (2014), \"AMD CPUs circa 2014 track the G bit for all segments except CS\"";
    /// svm_get_segment: `var->unusable = !var->present`.
    SvmGetUnusableFromP = "svm.get.unusable-from-p", Encoding,
        summary: "unusable = !P: the VMCB has no unusable bit",
        off: "unusable is reported as 0 for every segment",
        upstream: "Linux 2.6.x";
    /// svm_get_segment before 4.13: `unusable = !present || type == 0`.
    SvmGetUnusableFromType0 = "svm.get.unusable-from-type0", Loss,
        summary: "a present segment of type 0 is also reported unusable",
        off: "type 0 does not make a segment unusable",
        upstream: "Linux 2.6.x to 4.12; gone with d9c1b5431d5f (4.13)";
    /// svm_get_segment: TR `type |= 2`.
    SvmGetTrBusy = "svm.get.tr-busy", Fixup,
        summary: "TR's type gets the busy bit (type |= 2): hardware may not expose it and Intel requires a busy TSS",
        off: "TR's type is reported as stored",
        upstream: "Linux 2.6.x (\"work around hardware that doesn't set the busy flag\")";
    /// svm_get_segment: DS/ES/FS/GS `type |= 1` when usable.
    SvmGetDataAccessed = "svm.get.data-accessed", Fixup,
        summary: "usable DS/ES/FS/GS get the accessed bit (type |= 1): the descriptor cache always has A=1 and Intel checks it",
        off: "data segment types are reported as stored",
        upstream: "Linux ~3.x cross-vendor migration fixups";
    /// svm_get_segment: SS `db = 0` when unusable.
    SvmGetSsDbUnusable = "svm.get.ss-db-unusable", Fixup,
        summary: "an unusable SS reports D/B=0: AMD can leave DB=1 there and Intel's VM entry rejects it",
        off: "SS.DB is reported as stored",
        upstream: "Linux ~3.x cross-vendor migration fixups";
    /// svm_get_segment: SS `dpl = vmcb->save.cpl`.
    SvmGetSsDplFromCpl = "svm.get.ss-dpl-from-cpl", CplCarrier,
        summary: "SS.DPL is reported from VMCB.CPL, so the UAPI carries the CPL",
        off: "SS.DPL is read from attrib (stale after an AMD SYSRET)",
        upstream: "Linux ae9fedc793c4 (3.16, 2014) \"KVM: x86: get CPL from SS.DPL\"";
    /// svm_set_segment since 4.13: `P = (present & 1) && !unusable`.
    SvmSetPFromUnusable = "svm.set.p-from-unusable", Encoding,
        summary: "every attribute is packed; P = present && !unusable is the only place unusable goes",
        off: "P = present & 1; unusable is ignored",
        upstream: "Linux d9c1b5431d5f (4.13, 2017) \"KVM: SVM: do not zero out segment attributes if segment is unusable or not present\"";
    /// svm_set_segment before 4.13: `if (var->unusable) s->attrib = 0`.
    SvmSetZeroUnusableAttrib = "svm.set.zero-unusable-attrib", Loss,
        summary: "an unusable segment's attrib is zeroed, DPL included",
        off: "attributes are packed as for a usable segment",
        upstream: "Linux 2.6.x to 4.12; removed by d9c1b5431d5f (4.13)";
    /// svm_set_segment since 4.13: `save.cpl = var->dpl & 3` for SS.
    SvmSetCplFromSsDpl = "svm.set.cpl-from-ss-dpl", CplCarrier,
        summary: "VMCB.CPL = SS.dpl & 3, symmetric with the get side",
        off: "VMCB.CPL is not written (a fresh VMCB holds 0)",
        upstream: "Linux d9c1b5431d5f (4.13, 2017)";
    /// svm_set_segment 3.16 to 4.12: `save.cpl = (s->attrib >> 5) & 3` for SS.
    SvmSetCplFromAttrib = "svm.set.cpl-from-attrib", Loss,
        summary: "VMCB.CPL is taken from the freshly packed attrib's DPL: 0 for an unusable SS",
        off: "VMCB.CPL is not written (a fresh VMCB holds 0)",
        upstream: "Linux ae9fedc793c4 (3.16) to 4.12; replaced by d9c1b5431d5f";
    /// vmx_get_segment: `var->present = !var->unusable`.
    VmxGetPresentFromUnusable = "vmx.get.present-from-unusable", Fixup,
        summary: "P is reported as !unusable; the AR P bit is never read (some userspace does not preserve unusable)",
        off: "P is read from AR bit 7",
        upstream: "Linux 25391454e73e (3.10, 2013) era";
    /// vmx_segment_access_rights: bit 16 = `unusable || !present`.
    VmxSetUnusableFromNotPresent = "vmx.set.unusable-from-not-present", Encoding,
        summary: "AR bit 16 = unusable || !present: a not-present segment is unusable",
        off: "AR bit 16 = unusable",
        upstream: "Linux f0495f9b9992 (3.5, 2012) \"KVM: VMX: Relax check on unusable segment\"";
    /// __vmx_set_segment: `type |= 1` on every segment but LDTR under unrestricted guest.
    VmxSetAccessedUnrestricted = "vmx.set.accessed-unrestricted", Fixup,
        summary: "with unrestricted guest, every segment but LDTR gets the accessed bit (a hack for old QEMU reset values)",
        off: "the type is written as given",
        upstream: "Linux 2.6.3x (unrestricted guest support); openvmm #3947 normalizes it on save";
    /// vmx_segment_access_rights before 6.2: `AR = 1 << 16` when unusable or not present.
    VmxSetZeroUnusableAr = "vmx.set.zero-unusable-ar", Loss,
        summary: "an unusable or not-present segment's AR is 0x10000: every attribute, SS.DPL (the CPL) included, is lost",
        off: "attributes are packed for unusable segments too",
        upstream: "Linux to 6.1; removed by a44b331614e6 (6.2, 2022) \"KVM: x86/vmx: Do not skip segment attributes if unusable bit is set\"";
    /// QEMU set_seg: `lhs->unusable = !lhs->present`.
    QemuSetUnusableFromNotPresent = "qemu.set.unusable-from-not-present", Encoding,
        summary: "set_seg sends unusable = !P: QEMU's cache has no unusable bit",
        off: "set_seg sends unusable = 0 (QEMU before 2.6)",
        upstream: "QEMU 4cae9c97967a (2.6, 2015) \"target-i386: kvm: clear unusable segments' flags in migration\"";
    /// QEMU get_seg since 2.10: `P = present && !unusable`.
    QemuGetPFromUnusable = "qemu.get.p-from-unusable", Encoding,
        summary: "get_seg packs every field; P = present && !unusable",
        off: "P = present * DESC_P_MASK, unnormalised (present=2 sets bit 16 and clears P)",
        upstream: "QEMU d45fc087c266 (2.10, 2017) \"i386/kvm: do not zero out segment flags if segment is unusable or not present\"";
    /// QEMU get_seg 2.6 to 2.9: `if (rhs->unusable) flags = 0`.
    QemuGetZeroUnusableFlags = "qemu.get.zero-unusable-flags", Loss,
        summary: "get_seg zeroes the flags of an unusable segment, SS.DPL (the CPL) included",
        off: "flags are packed for unusable segments too",
        upstream: "QEMU 4cae9c97967a (2.6) to 2.9; removed by d45fc087c266 (2.10)";
    /// The thread's first alternative: on unusable, keep the cache's previous flags, clear P.
    QemuGetKeepOldFlags = "qemu.get.keep-old-flags", Loss,
        summary: "on unusable, get_seg keeps the cache's previous flags and clears only P: the old DPL survives, the new one is ignored",
        off: "flags are packed from KVM's fields",
        upstream: "proposed by Paolo Bonzini in the 2017 thread; not merged";
    /// The thread's second alternative: on unusable, clear P and DPL; SS takes DPL from KVM.
    QemuGetSegtype = "qemu.get.segtype", Loss,
        summary: "on unusable, get_seg keeps the previous flags minus P and DPL, and SS takes its DPL from KVM",
        off: "flags are packed from KVM's fields",
        upstream: "proposed by Roman Penyaev in the 2017 thread; not merged";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl core::str::FromStr for Rule {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rule::ALL
            .iter()
            .copied()
            .find(|r| r.id() == s.trim())
            .ok_or(UnknownRule)
    }
}

/// A rule id that is not defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownRule;

impl fmt::Display for UnknownRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown rule id (see `segstate profiles --rules`)")
    }
}

/// A set of rules, as a bit set over [`Rule`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RuleSet(u32);

const _: () = assert!(Rule::ALL.len() <= 32, "RuleSet is a u32");

impl RuleSet {
    /// No rules.
    pub const EMPTY: RuleSet = RuleSet(0);

    /// The set of the given rules.
    #[must_use]
    pub const fn of(rules: &[Rule]) -> Self {
        let mut bits = 0u32;
        let mut i = 0;
        while i < rules.len() {
            bits |= 1 << rules[i] as u8;
            i += 1;
        }
        RuleSet(bits)
    }

    /// True when `rule` is in the set.
    #[must_use]
    pub const fn has(self, rule: Rule) -> bool {
        self.0 & (1 << rule as u8) != 0
    }

    /// The set with `rule` added.
    #[must_use]
    pub const fn with(self, rule: Rule) -> Self {
        RuleSet(self.0 | 1 << rule as u8)
    }

    /// The set with `rule` removed.
    #[must_use]
    pub const fn without(self, rule: Rule) -> Self {
        RuleSet(self.0 & !(1 << rule as u8))
    }

    /// The set as bits (bit n is the rule of discriminant n): a const generic
    /// argument for the chains compiled with constant rules (`specialised.rs`).
    #[must_use]
    pub(crate) const fn bits(self) -> u32 {
        self.0
    }

    /// The set of [`RuleSet::bits`].
    #[must_use]
    pub(crate) const fn from_bits(bits: u32) -> Self {
        RuleSet(bits)
    }

    /// The rules in the set, in [`Rule::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Rule> {
        Rule::ALL.iter().copied().filter(move |r| self.has(*r))
    }
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Rule::id)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_parse_back() {
        for (i, a) in Rule::ALL.iter().enumerate() {
            assert_eq!(a.id().parse::<Rule>(), Ok(*a));
            for b in &Rule::ALL[i + 1..] {
                assert_ne!(a.id(), b.id());
            }
        }
        assert!("svm.get.nonsense".parse::<Rule>().is_err());
    }

    #[test]
    fn set_operations() {
        let s = RuleSet::of(&[Rule::SvmGetTrBusy, Rule::QemuGetSegtype]);
        assert!(s.has(Rule::SvmGetTrBusy) && s.has(Rule::QemuGetSegtype));
        assert!(!s.has(Rule::SvmGetDataAccessed));
        assert!(!s.without(Rule::SvmGetTrBusy).has(Rule::SvmGetTrBusy));
        assert!(
            s.with(Rule::SvmGetDataAccessed)
                .has(Rule::SvmGetDataAccessed)
        );
        assert_eq!(s.iter().count(), 2);
    }
}
