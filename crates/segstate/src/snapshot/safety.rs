//! Restore safety: the checks a snapshot must pass before `KVM_SET_SREGS`, the
//! cooking that makes a state enter the other vendor's hardware, and the comparison
//! of what KVM reads back with what was written.
//!
//! The explicit CPL is authoritative. KVM takes the CPL from SS.DPL, so a
//! disagreement is a privilege change waiting to happen and is refused first.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::{Regs, VcpuSnapshot};
use crate::arch::Vendor;
use crate::arch::{Cpl, SegReg, Segment};
use crate::check::preflight::{self, Target};
use crate::check::vmx_entry::VmxEntryControls;
use crate::check::{Finding, Severity};
use crate::format::FormatError;
use crate::format::kvm::{KvmSegment, KvmSregs};
use crate::profile::Rule;
use crate::profile::repair;

/// Why a state may not be handed to `KVM_SET_SREGS`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreProblem {
    /// SS.DPL, KVM's only carrier of the CPL, disagrees with the explicit CPL.
    CplDisagrees {
        /// The raw SS.DPL byte of the `kvm_sregs`.
        ss_dpl: u8,
        /// The CPL the state claims.
        cpl: Cpl,
    },
    /// A segment that no format can mean.
    Undecodable {
        /// The register.
        reg: SegReg,
        /// What the strict decode refused.
        error: FormatError,
    },
    /// A check rule of the target's entry rules fails.
    Check {
        /// The vendor judged for.
        target: Vendor,
        /// The finding, with its rule.
        finding: Finding,
    },
}

impl RestoreProblem {
    /// Stable id: `snapshot.cpl.ss-dpl`, `snapshot.segment.undecodable`, or the id of
    /// the check rule that failed (`arch.*`, `vmx.entry.*`, `svm.vmrun.*`).
    #[must_use]
    pub fn id(&self) -> &'static str {
        match self {
            RestoreProblem::CplDisagrees { .. } => "snapshot.cpl.ss-dpl",
            RestoreProblem::Undecodable { .. } => "snapshot.segment.undecodable",
            RestoreProblem::Check { finding, .. } => finding.id.id(),
        }
    }
}

impl fmt::Display for RestoreProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreProblem::CplDisagrees { ss_dpl, cpl } => {
                let consequence = if ss_dpl & 3 < cpl.bits() {
                    "privilege escalation"
                } else {
                    "privilege loss"
                };
                write!(
                    f,
                    "SS.DPL {ss_dpl} disagrees with the snapshot's CPL {cpl}: restoring would run {} at CPL {} ({consequence}) [{}]",
                    role(cpl.bits()),
                    ss_dpl & 3,
                    self.id()
                )
            }
            RestoreProblem::Undecodable { reg, error } => {
                write!(f, "{}: {error} [{}]", reg.name(), self.id())
            }
            RestoreProblem::Check { target, finding } => {
                write!(f, "{target} entry rules: {finding}")
            }
        }
    }
}

/// A restore problem is the reason a restore is refused, so it can be returned as an
/// error. Its text already names what the strict decode refused, so it has no source.
impl core::error::Error for RestoreProblem {}

/// One field changed by [`VcpuSnapshot::normalise_for`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The field, e.g. `SS.DPL`.
    pub field: String,
    /// Its value before.
    pub from: u64,
    /// Its value after.
    pub to: u64,
    /// Why: the summary of [`Change::rule`].
    pub reason: &'static str,
    /// The cooking rule whose effect made the change.
    pub rule: Rule,
}

impl_display!(
    Change,
    |c| "{} {} → {}: {}",
    c.field,
    c.from,
    c.to,
    c.reason
);

/// A field that KVM read back differently from what was written, after the
/// documented normalisation ([`canonical_sregs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadbackMismatch {
    /// The field, e.g. `SS.DPL`, `CR4`, `rip`.
    pub field: String,
    /// Written (normalised).
    pub written: u64,
    /// Read back (normalised).
    pub read: u64,
}

impl_display!(
    ReadbackMismatch,
    |m| "{}: wrote {:#x}, KVM reads back {:#x}",
    m.field,
    m.written,
    m.read
);

fn role(cpl: u8) -> &'static str {
    match cpl {
        0 => "kernel code",
        3 => "user code",
        _ => "ring-1/2 code",
    }
}

/// The CPL disagreement, if any.
fn cpl_problem(sregs: &KvmSregs, cpl: Cpl) -> Option<RestoreProblem> {
    let ss_dpl = sregs.ss.dpl;
    (ss_dpl != cpl.bits()).then_some(RestoreProblem::CplDisagrees { ss_dpl, cpl })
}

/// Where a snapshot's state goes on a `target` host: VM entry with KVM's controls,
/// or VMRUN.
fn entry_target(sregs: &KvmSregs, target: Vendor) -> Target {
    match target {
        Vendor::Intel => Target::IntelVmEntry(VmxEntryControls::kvm_default(sregs.efer)),
        Vendor::Amd => Target::AmdVmrun,
    }
}

/// Every finding of the target's entry rules on what KVM's set path makes of the
/// segments (one place: [`preflight::kvm_entered_state`]), judged at the snapshot's
/// explicit CPL.
fn findings(
    sregs: &KvmSregs,
    cpl: Cpl,
    rflags: u64,
    target: Vendor,
) -> Result<Vec<Finding>, RestoreProblem> {
    let to = entry_target(sregs, target);
    let mut state = preflight::kvm_entered_state(sregs, rflags, to).map_err(|error| {
        RestoreProblem::Undecodable {
            reg: undecodable_register(sregs),
            error,
        }
    })?;
    state.cpl = cpl;
    Ok(preflight::state(&state, to))
}

fn problems_for(sregs: &KvmSregs, cpl: Cpl, rflags: u64, target: Vendor) -> Vec<RestoreProblem> {
    let mut out: Vec<RestoreProblem> = cpl_problem(sregs, cpl).into_iter().collect();
    match findings(sregs, cpl, rflags, target) {
        Err(p) => out.push(p),
        Ok(all) => out.extend(
            all.into_iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|finding| RestoreProblem::Check { target, finding }),
        ),
    }
    out
}

/// The first register whose `kvm_segment` does not decode.
fn undecodable_register(sregs: &KvmSregs) -> SegReg {
    SegReg::ALL
        .into_iter()
        .find(|&reg| Segment::try_from(*sregs.segment(reg)).is_err())
        .unwrap_or(SegReg::Ss)
}

impl VcpuSnapshot {
    /// Why this state may not be handed to `KVM_SET_SREGS` on a `target` host: SS.DPL
    /// disagreeing with the explicit CPL (always first), a segment no format can
    /// mean, and every error of [`preflight::kvm_sregs`] for the vendor (VM entry with
    /// [`VmxEntryControls::kvm_default`], or VMRUN), on what KVM's set path makes of the
    /// segments, at the explicit CPL. Empty means safe.
    #[must_use]
    pub fn restore_problems(&self, target: Vendor) -> Vec<RestoreProblem> {
        problems_for(&self.sregs, self.cpl, self.regs.rflags, target)
    }

    /// The warnings of the same rules (legal but notable, e.g. an unusable SS at CPL 3).
    #[must_use]
    pub fn restore_warnings(&self, target: Vendor) -> Vec<Finding> {
        findings(&self.sregs, self.cpl, self.regs.rflags, target)
            .map(|all| {
                all.into_iter()
                    .filter(|f| f.severity != Severity::Error)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// True when SS.DPL disagrees with the explicit CPL.
    #[must_use]
    pub fn cpl_disagrees(&self) -> bool {
        cpl_problem(&self.sregs, self.cpl).is_some()
    }

    /// Cooks the special registers so the state enters `target`'s hardware, keeping
    /// the CPL, and proves it: the result must pass [`Self::restore_problems`] for
    /// `target`. On success the snapshot is changed and every change is returned; on
    /// failure it is left as it was and the remaining problems are returned.
    ///
    /// The cooking is KVM's own fixups, each a named profile rule applied only where
    /// the field differs: [`repair::repair`] lists them in order. What cannot be
    /// cooked without changing meaning (a limit no descriptor can encode, CS with both
    /// L and D, CR/EFER combinations) is left for the checks to refuse.
    pub fn normalise_for(&mut self, target: Vendor) -> Result<Vec<Change>, Vec<RestoreProblem>> {
        let mut sregs = self.sregs;
        let changes = cook(&mut sregs, self.cpl, target);
        let problems = problems_for(&sregs, self.cpl, self.regs.rflags, target);
        if problems.is_empty() {
            self.sregs = sregs;
            Ok(changes)
        } else {
            Err(problems)
        }
    }
}

/// What [`repair::repair`] did, as snapshot changes: `SS.DPL`-style field names, the
/// rule's summary as the reason.
fn cook(s: &mut KvmSregs, cpl: Cpl, target: Vendor) -> Vec<Change> {
    repair::repair(s, cpl, target)
        .into_iter()
        .map(|r| Change {
            field: format!("{}.{}", r.reg.name(), r.field.name()),
            from: r.from.into(),
            to: r.to.into(),
            reason: r.rule.summary(),
            rule: r.rule,
        })
        .collect()
}

pub(crate) use crate::profile::repair::granularity_consistent;

/// `kvm_sregs` as KVM may read back what was written, normalised: one place,
/// [`repair::canonical_readback`].
#[must_use]
pub fn canonical_sregs(s: &KvmSregs) -> KvmSregs {
    repair::canonical_readback(s)
}

/// Compares what was written with what KVM read back, after [`canonical_sregs`].
#[must_use]
pub fn compare_sregs(written: &KvmSregs, read: &KvmSregs) -> Vec<ReadbackMismatch> {
    let (w, r) = (canonical_sregs(written), canonical_sregs(read));
    let mut out = Vec::new();
    let mut cmp = |field: String, a: u64, b: u64| {
        if a != b {
            out.push(ReadbackMismatch {
                field,
                written: a,
                read: b,
            });
        }
    };
    for reg in SegReg::KVM_SREGS_ORDER {
        let (a, b) = (w.segment(reg), r.segment(reg));
        for (field, x, y) in segment_fields(a, b) {
            cmp(format!("{}.{field}", reg.name()), x, y);
        }
    }
    cmp("GDTR.base".into(), w.gdt.base, r.gdt.base);
    cmp("GDTR.limit".into(), w.gdt.limit.into(), r.gdt.limit.into());
    cmp("IDTR.base".into(), w.idt.base, r.idt.base);
    cmp("IDTR.limit".into(), w.idt.limit.into(), r.idt.limit.into());
    for (name, a, b) in [
        ("CR0", w.cr0, r.cr0),
        ("CR2", w.cr2, r.cr2),
        ("CR3", w.cr3, r.cr3),
        ("CR4", w.cr4, r.cr4),
        ("CR8", w.cr8, r.cr8),
        ("EFER", w.efer, r.efer),
        ("APIC_BASE", w.apic_base, r.apic_base),
    ] {
        cmp(name.into(), a, b);
    }
    for i in 0..4 {
        cmp(
            format!("interrupt_bitmap[{i}]"),
            w.interrupt_bitmap[i],
            r.interrupt_bitmap[i],
        );
    }
    out
}

/// Compares general registers exactly (KVM does not cook them).
#[must_use]
pub fn compare_regs(written: &Regs, read: &Regs) -> Vec<ReadbackMismatch> {
    Regs::NAMES
        .iter()
        .zip(written.to_array().into_iter().zip(read.to_array()))
        .filter(|(_, (a, b))| a != b)
        .map(|(name, (a, b))| ReadbackMismatch {
            field: (*name).into(),
            written: a,
            read: b,
        })
        .collect()
}

/// `(name, a, b)` for every field of two segments, in `kvm_segment` order.
pub(crate) fn segment_fields(a: &KvmSegment, b: &KvmSegment) -> [(&'static str, u64, u64); 12] {
    [
        ("base", a.base, b.base),
        ("limit", a.limit.into(), b.limit.into()),
        ("selector", a.selector.into(), b.selector.into()),
        ("type", a.type_.into(), b.type_.into()),
        ("P", a.present.into(), b.present.into()),
        ("DPL", a.dpl.into(), b.dpl.into()),
        ("DB", a.db.into(), b.db.into()),
        ("S", a.s.into(), b.s.into()),
        ("L", a.l.into(), b.l.into()),
        ("G", a.g.into(), b.g.into()),
        ("AVL", a.avl.into(), b.avl.into()),
        ("unusable", a.unusable.into(), b.unusable.into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;
    use crate::check;

    fn snap() -> VcpuSnapshot {
        VcpuSnapshot::example_user_null_ss()
    }

    /// The same state as KVM on AMD reports it: G synthesised from the limit
    /// (Firecracker's note: AMD KVM_GET_SREGS gives g = 0), data segments not yet
    /// accessed, an unusable SS as SYSRET leaves it (P = 0, DB = 1, type 3), TR
    /// available (type 9).
    fn amd_shaped() -> VcpuSnapshot {
        let mut s = snap();
        s.host.vendor = Some(Vendor::Amd);
        for reg in [SegReg::Cs, SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
            let seg = s.sregs.segment_mut(reg);
            seg.g = 0;
            seg.type_ &= !1;
        }
        s.sregs.ss.present = 0;
        s.sregs.ss.unusable = 0; // the VMCB has only P
        s.sregs.ss.db = 1;
        s.sregs.tr.type_ = 9;
        s
    }

    #[test]
    fn cpl_disagreement_is_named() {
        let mut s = snap();
        s.sregs.ss.dpl = 0;
        let p = s.restore_problems(Vendor::Intel);
        assert_eq!(p[0].id(), "snapshot.cpl.ss-dpl");
        let message = p[0].to_string();
        assert!(
            message.starts_with(
                "SS.DPL 0 disagrees with the snapshot's CPL 3: restoring would run user code at CPL 0"
            ),
            "{message}"
        );
        assert_eq!(
            message.matches("snapshot.cpl.ss-dpl").count(),
            1,
            "{message}"
        );
        assert!(s.cpl_disagrees());
        // A refusal is an error a VMM can return with `?`, its text unchanged.
        let refused: alloc::boxed::Box<dyn core::error::Error> = p[0].clone().into();
        assert_eq!(refused.to_string(), message);
        // Also refused for AMD, whose VMRUN checks never look at SS.DPL.
        assert_eq!(
            s.restore_problems(Vendor::Amd)[0].id(),
            "snapshot.cpl.ss-dpl"
        );
    }

    #[test]
    fn repair_sets_ss_dpl_from_cpl_and_says_so() {
        let mut s = snap();
        s.sregs.ss.dpl = 0;
        let changes = s.normalise_for(Vendor::Intel).unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].field, "SS.DPL");
        assert_eq!((changes[0].from, changes[0].to), (0, 3));
        assert_eq!(changes[0].rule, Rule::SvmGetSsDplFromCpl);
        assert_eq!(changes[0].reason, Rule::SvmGetSsDplFromCpl.summary());
        assert_eq!(s.sregs.ss.dpl, 3);
        assert!(s.restore_problems(Vendor::Intel).is_empty());
    }

    #[test]
    fn intel_shaped_state_passes_both_vendors_after_normalising() {
        let s = snap();
        assert!(s.restore_problems(Vendor::Intel).is_empty());
        let mut to_amd = s.clone();
        let changes = to_amd.normalise_for(Vendor::Amd).unwrap();
        assert_eq!(to_amd.cpl, PrivilegeLevel::Ring3);
        assert_eq!(to_amd.sregs.ss.dpl, 3);
        assert_eq!(to_amd.sregs.ss.db, 0, "{changes:?}");
        let state = preflight::kvm_entered_state(&to_amd.sregs, 2, Target::AmdVmrun).unwrap();
        assert!(check::svm_vmrun::check(&state).is_empty());
    }

    #[test]
    fn amd_shaped_state_is_refused_by_vmx_until_normalised() {
        let s = amd_shaped();
        let before = s.restore_problems(Vendor::Intel);
        assert!(
            before.iter().any(|p| p.id() == "vmx.entry.g"),
            "{before:#?}"
        );
        // Not accessed data segments are no problem: KVM's vmx_set_segment marks every
        // usable segment accessed under unrestricted guest, so VM entry never sees them.
        assert!(before.iter().all(|p| p.id() != "vmx.entry.data.accessed"));
        let mut to_intel = s.clone();
        let changes = to_intel.normalise_for(Vendor::Intel).unwrap();
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        for f in ["SS.unusable", "CS.G", "DS.type", "TR.type"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        // The proof, stated again with the rules themselves.
        let state = preflight::kvm_entered_state(
            &to_intel.sregs,
            2,
            entry_target(&to_intel.sregs, Vendor::Intel),
        )
        .unwrap();
        let controls = check::vmx_entry::VmxEntryControls::kvm_default(state.efer);
        assert!(check::vmx_entry::check(&state, controls).is_empty());
        assert!(check::arch::is_consistent(&state));
        assert_eq!(to_intel.cpl, PrivilegeLevel::Ring3);
        assert_eq!(to_intel.sregs.ss.dpl, 3);
    }

    #[test]
    fn normalising_is_idempotent_and_keeps_cpl() {
        for target in [Vendor::Intel, Vendor::Amd] {
            for base in [snap(), amd_shaped()] {
                let mut a = base.clone();
                a.normalise_for(target).unwrap();
                let mut b = a.clone();
                assert!(b.normalise_for(target).unwrap().is_empty());
                assert_eq!(a.cpl, base.cpl);
            }
        }
    }

    #[test]
    fn what_cannot_be_cooked_is_refused_and_left_alone() {
        let mut s = snap();
        s.sregs.cs.db = 1; // L and D both set in IA-32e mode
        let before = s.clone();
        let err = s.normalise_for(Vendor::Intel).unwrap_err();
        assert!(err.iter().any(|p| p.id() == "vmx.entry.cs.db"), "{err:?}");
        assert_eq!(s, before);
    }

    /// Randomised: perturb the cookable bits of many states; normalisation either
    /// succeeds, keeps the CPL and passes the target's checks, or refuses and leaves
    /// the state untouched.
    #[test]
    fn normalise_randomised() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..3000 {
            let mut s = if next() & 1 == 0 {
                snap()
            } else {
                amd_shaped()
            };
            for reg in SegReg::ALL {
                let r = next();
                let seg = s.sregs.segment_mut(reg);
                if r & 1 != 0 {
                    seg.g ^= 1;
                }
                if r & 2 != 0 {
                    seg.type_ ^= 1;
                }
                if r & 4 != 0 && reg != SegReg::Cs {
                    seg.present ^= 1;
                }
                if r & 8 != 0 && reg != SegReg::Cs {
                    seg.unusable ^= 1;
                }
                if r & 16 != 0 {
                    seg.dpl = (r >> 8) as u8 & 3;
                }
            }
            let target = if next() & 1 == 0 {
                Vendor::Intel
            } else {
                Vendor::Amd
            };
            let before = s.clone();
            match s.normalise_for(target) {
                Ok(_) => {
                    assert_eq!(s.cpl, before.cpl);
                    assert_eq!(s.sregs.ss.dpl, s.cpl.bits());
                    assert!(s.restore_problems(target).is_empty());
                }
                Err(p) => {
                    assert!(!p.is_empty());
                    assert_eq!(s, before);
                }
            }
        }
    }

    #[test]
    fn readback_normalisation() {
        let w = snap().sregs;
        // KVM on AMD reading it back: G synthesised, SS.DB cleared, other undefined
        // bits of the unusable SS changed, TR as written.
        let mut r = w;
        r.ss.db = 0;
        r.ss.type_ = 0;
        r.ss.s = 0;
        r.ldt.base = 0x1234;
        assert!(compare_sregs(&w, &r).is_empty());
        // But never the CPL.
        r.ss.dpl = 0;
        let m = compare_sregs(&w, &r);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].field, "SS.DPL");
        // Nor a usable segment's limit.
        let mut r2 = w;
        r2.ds.limit = 0xfffff;
        assert_eq!(compare_sregs(&w, &r2)[0].field, "DS.limit");
    }
}
