//! KVM's fixups applied to a whole `kvm_sregs` outside a chain: snapshot repair (cook a
//! state so it enters the other vendor's hardware), the canonical form of what KVM
//! reads back, and the canonical VMCB cache check judges AMD state through.
//!
//! Each step is a named [`Rule`] of the `kvm-svm`/`kvm-vmx` profiles and runs that
//! rule's own effect function (`svm::g_from_limit`, `vmx::unusable_from_not_present`,
//! ...), the one `svm::get_segment`/`vmx::set_segment` run, so a fixup is stated once.
//! What the steps add is only where a repair applies it: to the fields a check would
//! refuse, never to a field that already means what the target needs.

use alloc::vec::Vec;

use super::Rule;
use super::{svm, vmx};
use crate::arch::{PrivilegeLevel, SegReg, Segment, SegmentType, Vendor};
use crate::format::kvm::{KvmSegment, KvmSregs};

/// A `kvm_segment` field a repair changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RepairedField {
    /// `dpl` (of SS: the CPL).
    Dpl,
    /// `unusable`.
    Unusable,
    /// `present` (P).
    Present,
    /// `db` (D/B).
    Db,
    /// `type` (accessed or busy bit).
    Type,
    /// `g` (granularity).
    G,
}

impl RepairedField {
    /// The field's name as snapshot diffs print it (`DPL`, `unusable`, `P`, `DB`,
    /// `type`, `G`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            RepairedField::Dpl => "DPL",
            RepairedField::Unusable => "unusable",
            RepairedField::Present => "P",
            RepairedField::Db => "DB",
            RepairedField::Type => "type",
            RepairedField::G => "G",
        }
    }

    fn slot(self, k: &mut KvmSegment) -> &mut u8 {
        match self {
            RepairedField::Dpl => &mut k.dpl,
            RepairedField::Unusable => &mut k.unusable,
            RepairedField::Present => &mut k.present,
            RepairedField::Db => &mut k.db,
            RepairedField::Type => &mut k.type_,
            RepairedField::G => &mut k.g,
        }
    }
}

/// One field [`repair`] changed, and the rule whose effect changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Repaired {
    /// The register.
    pub reg: SegReg,
    /// The field.
    pub field: RepairedField,
    /// Its value before.
    pub from: u8,
    /// Its value after.
    pub to: u8,
    /// The rule applied; [`Rule::summary`] says why.
    pub rule: Rule,
}

/// Registers that may hold a null selector, hence be unusable.
fn may_be_null(reg: SegReg) -> bool {
    reg.is_data() || matches!(reg, SegReg::Ss | SegReg::Ldtr)
}

/// [`crate::arch::limit_matches_granularity`] on a `kvm_segment`'s raw G byte.
#[must_use]
pub(crate) fn granularity_consistent(limit: u32, g: u8) -> bool {
    crate::arch::limit_matches_granularity(limit, g != 0)
}

/// One repair step: the rule, the field its effect writes, whether it applies to this
/// register of this state for `target`, and the effect itself.
struct Step {
    rule: Rule,
    field: RepairedField,
    applies: fn(SegReg, &KvmSegment, Vendor) -> bool,
    effect: fn(&mut KvmSegment),
}

/// The steps after SS.DPL := CPL, in order (each only where the field differs).
const STEPS: [Step; 6] = [
    // A not-present DS/ES/FS/GS/SS/LDTR is unusable: the VMCB and QEMU say
    // "unusable" only through P.
    Step {
        rule: Rule::VmxSetUnusableFromNotPresent,
        field: RepairedField::Unusable,
        applies: |reg, k, _| may_be_null(reg) && k.present == 0,
        effect: |k| k.unusable = vmx::unusable_from_not_present(k),
    },
    // An unusable segment is not present (KVM SVM clears P, VMX reads back P = !unusable).
    Step {
        rule: Rule::VmxGetPresentFromUnusable,
        field: RepairedField::Present,
        applies: |reg, k, _| may_be_null(reg) && k.unusable != 0,
        effect: |k| k.present = vmx::present_from_unusable(k.unusable),
    },
    // AMD: an unusable SS reports D/B = 0.
    Step {
        rule: Rule::SvmGetSsDbUnusable,
        field: RepairedField::Db,
        applies: |reg, _, target| target == Vendor::Amd && reg == SegReg::Ss,
        effect: svm::ss_db_unusable,
    },
    // A loaded code/data descriptor is accessed (VMX entry requires it).
    Step {
        rule: Rule::VmxSetAccessedUnrestricted,
        field: RepairedField::Type,
        applies: |_, k, _| k.unusable == 0 && k.s != 0,
        effect: svm::accessed,
    },
    // TR holds a busy TSS (VMX entry requires type 11 in IA-32e mode).
    Step {
        rule: Rule::SvmGetTrBusy,
        field: RepairedField::Type,
        applies: |reg, k, _| {
            reg == SegReg::Tr && k.unusable == 0 && k.s == 0 && matches!(k.type_, 1 | 9)
        },
        effect: svm::tr_busy,
    },
    // G agrees with the byte-granular limit, synthesised as KVM SVM reports it, where
    // that makes the encoding consistent.
    Step {
        rule: Rule::SvmGetGFromLimit,
        field: RepairedField::G,
        applies: |_, k, _| {
            k.unusable == 0
                && !granularity_consistent(k.limit, k.g)
                && (k.limit <= 0xf_ffff || k.limit & 0xfff == 0xfff)
        },
        effect: svm::g_from_limit,
    },
];

/// Cooks `sregs` so the state enters `target`'s hardware at `cpl`, by KVM's own
/// fixups, each only where the field differs; returns every change in order:
///
/// 1. SS.DPL := CPL ([`Rule::SvmGetSsDplFromCpl`]: KVM carries the CPL in SS.DPL);
/// 2. a not-present DS/ES/FS/GS/SS/LDTR is unusable ([`Rule::VmxSetUnusableFromNotPresent`]);
/// 3. an unusable one is not present ([`Rule::VmxGetPresentFromUnusable`]);
/// 4. AMD: an unusable SS has D/B = 0 ([`Rule::SvmGetSsDbUnusable`]);
/// 5. usable code/data segments are accessed ([`Rule::VmxSetAccessedUnrestricted`]);
/// 6. TR holds a busy TSS ([`Rule::SvmGetTrBusy`]);
/// 7. G agrees with the byte-granular limit ([`Rule::SvmGetGFromLimit`]).
///
/// What cannot be cooked without changing meaning (a limit no descriptor can encode,
/// CS with both L and D, CR/EFER combinations) is left for the checks to refuse.
///
/// ```
/// use segstate::arch::{PrivilegeLevel, SegReg, Vendor};
/// use segstate::format::kvm::KvmSregs;
/// use segstate::profile::{Rule, repair};
///
/// let mut sregs = KvmSregs::default();
/// sregs.tr.type_ = 9; // an available TSS, as an AMD VMCB may hold it
/// let changes = repair::repair(&mut sregs, PrivilegeLevel::Ring3, Vendor::Intel);
/// assert_eq!(sregs.ss.dpl, 3);
/// assert_eq!(sregs.tr.type_, 11);
/// assert_eq!(changes[0].rule, Rule::SvmGetSsDplFromCpl);
/// assert!(changes.iter().any(|c| c.reg == SegReg::Tr && c.rule == Rule::SvmGetTrBusy));
/// ```
pub fn repair(sregs: &mut KvmSregs, cpl: PrivilegeLevel, target: Vendor) -> Vec<Repaired> {
    let mut out = Vec::new();
    let mut record = |reg, field: RepairedField, rule, k: &mut KvmSegment, to: u8| {
        let slot = field.slot(k);
        if *slot != to {
            out.push(Repaired {
                reg,
                field,
                from: *slot,
                to,
                rule,
            });
            *slot = to;
        }
    };
    let ss_dpl = cpl.bits();
    record(
        SegReg::Ss,
        RepairedField::Dpl,
        Rule::SvmGetSsDplFromCpl,
        &mut sregs.ss,
        ss_dpl,
    );
    for reg in SegReg::ALL {
        let seg = sregs.segment_mut(reg);
        for step in &STEPS {
            if (step.applies)(reg, seg, target) {
                let mut after = *seg;
                (step.effect)(&mut after);
                let to = *step.field.slot(&mut after);
                record(reg, step.field, step.rule, seg, to);
            }
        }
    }
    out
}

/// `kvm_sregs` as KVM may read back what was written, normalised. Each step is a
/// documented liberty of KVM's read side (docs/snapshot-format.md, "Read-back"):
///
/// - an unusable segment keeps only its selector, `unusable`, SS.DPL (the CPL) and
///   the FS/GS base (used in 64-bit mode); the rest of its cache is undefined
///   (SDM Vol. 3C §24.4.1) and KVM SVM/VMX report it differently;
/// - usable code/data segments read back accessed ([`Rule::VmxSetAccessedUnrestricted`],
///   and [`Rule::SvmGetDataAccessed`] for data segments);
/// - TR reads back busy ([`Rule::SvmGetTrBusy`]);
/// - G is the byte-granular limit's encoding ([`Rule::SvmGetGFromLimit`]);
/// - padding bytes are ignored.
#[must_use]
pub fn canonical_readback(s: &KvmSregs) -> KvmSregs {
    let mut c = *s;
    for reg in SegReg::ALL {
        let seg = c.segment_mut(reg);
        seg.padding = 0;
        if seg.unusable != 0 {
            *seg = KvmSegment {
                selector: seg.selector,
                unusable: 1,
                dpl: if reg == SegReg::Ss { seg.dpl } else { 0 },
                base: if matches!(reg, SegReg::Fs | SegReg::Gs) {
                    seg.base
                } else {
                    0
                },
                ..KvmSegment::default()
            };
            continue;
        }
        if seg.s != 0 {
            svm::accessed(seg);
        } else if reg == SegReg::Tr && matches!(seg.type_, 1 | 9) {
            svm::tr_busy(seg);
        }
        svm::g_from_limit(seg);
    }
    c.gdt.padding = [0; 3];
    c.idt.padding = [0; 3];
    c
}

/// A VMCB segment as KVM reports it, with the bits AMD hardware does not keep made
/// canonical: G from the limit ([`Rule::SvmGetGFromLimit`]), TR busy
/// ([`Rule::SvmGetTrBusy`]) and usable code/data accessed
/// ([`Rule::VmxSetAccessedUnrestricted`]). Judge AMD state through this, or its
/// untracked bits raise false alarms.
#[must_use]
pub fn canonical_vmcb_cache(reg: SegReg, segment: Segment) -> Segment {
    let mut k = KvmSegment::from(segment);
    svm::g_from_limit(&mut k);
    if reg == SegReg::Tr {
        svm::tr_busy(&mut k);
    } else if k.s != 0 && segment.is_usable() {
        svm::accessed(&mut k);
    }
    let mut s = segment;
    s.attributes.g = k.g != 0;
    s.attributes.segment_type = SegmentType::from_low_bits(k.type_);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(type_: u8) -> KvmSegment {
        KvmSegment {
            limit: 0xffff_ffff,
            type_,
            present: 1,
            dpl: 3,
            db: 1,
            s: 1,
            g: 1,
            ..KvmSegment::default()
        }
    }

    #[test]
    fn a_repair_changes_only_what_differs_and_names_the_rule() {
        let mut s = KvmSregs::default();
        for reg in SegReg::ALL {
            *s.segment_mut(reg) = flat(3);
        }
        s.ss.dpl = 3;
        s.tr = KvmSegment {
            type_: 11,
            s: 0,
            db: 0,
            g: 0,
            limit: 0x67,
            ..flat(11)
        };
        s.ldt = KvmSegment {
            unusable: 1,
            present: 0,
            ..KvmSegment::default()
        };
        assert_eq!(
            repair(&mut s.clone(), PrivilegeLevel::Ring3, Vendor::Intel),
            []
        );
        s.ds.g = 0; // limit 4 GiB with byte granularity: no encoding
        s.es.type_ = 2; // not accessed
        s.ss.unusable = 1; // unusable but present, with D/B
        let changes = repair(&mut s, PrivilegeLevel::Ring3, Vendor::Amd);
        let seen: Vec<(SegReg, RepairedField, u8, u8, Rule)> = changes
            .iter()
            .map(|c| (c.reg, c.field, c.from, c.to, c.rule))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    SegReg::Es,
                    RepairedField::Type,
                    2,
                    3,
                    Rule::VmxSetAccessedUnrestricted
                ),
                (
                    SegReg::Ss,
                    RepairedField::Present,
                    1,
                    0,
                    Rule::VmxGetPresentFromUnusable
                ),
                (
                    SegReg::Ss,
                    RepairedField::Db,
                    1,
                    0,
                    Rule::SvmGetSsDbUnusable
                ),
                (SegReg::Ds, RepairedField::G, 0, 1, Rule::SvmGetGFromLimit),
            ]
        );
    }

    #[test]
    fn an_inexpressible_limit_keeps_its_g() {
        let mut s = KvmSregs {
            ds: KvmSegment {
                limit: 0x0012_3456, // > 1 MiB, low bits not all ones: no G makes it encodable
                g: 0,
                ..flat(3)
            },
            ..KvmSregs::default()
        };
        let changes = repair(&mut s, PrivilegeLevel::Ring0, Vendor::Intel);
        assert!(
            changes.iter().all(|c| c.field != RepairedField::G),
            "{changes:?}"
        );
        assert_eq!(s.ds.g, 0);
    }

    #[test]
    fn canonical_vmcb_cache_is_what_kvm_svm_reports() {
        let rules = super::super::Profile::KVM_SVM.rules;
        for (reg, type_, g) in [
            (SegReg::Tr, 9u8, 0u8),
            (SegReg::Ds, 2, 0),
            (SegReg::Fs, 3, 1),
        ] {
            let k = KvmSegment {
                type_,
                g,
                s: u8::from(reg != SegReg::Tr),
                ..flat(type_)
            };
            let segment = Segment::try_from(k).unwrap();
            let (vmcb, _) = svm::set_segment(rules, reg, &k);
            let reported = Segment::try_from(svm::get_segment(rules, reg, &vmcb, 3)).unwrap();
            assert_eq!(canonical_vmcb_cache(reg, segment), reported, "{reg:?}");
        }
    }
}
