//! Consistency rules, each with a stable id, a severity and a reference.
//!
//! - [`arch`]: architectural invariants of a protected-mode segment state;
//! - [`vmx_entry`]: Intel's VM-entry checks on guest segment registers
//!   (SDM Vol. 3C §27.3.1.2, numbered §26.3.1.2 in 2013–2021 editions);
//! - [`svm_vmrun`]: the AMD VMRUN consistency checks that touch segments
//!   (APM Vol. 2 §15.5.1);
//! - [`kvm_set_sregs`]: what upstream KVM's KVM_SET_SREGS refuses with EINVAL.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::arch::{GuestField, GuestState, SegReg};
pub use catalogue::{CheckId, Family, UnknownCheck};

pub mod arch;
pub mod catalogue;
pub mod kvm_rmode;
pub mod kvm_set_sregs;
pub mod preflight;
pub mod report;
#[cfg(feature = "serde")]
pub mod report_json;
pub(crate) mod segment_fields;
pub mod svm_vmrun;
pub mod vmx_entry;
pub mod vmx_guest;

crate::table::table_enum! {
    /// How bad a finding is.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    #[cfg_attr(
        feature = "serde",
        derive(serde::Serialize, serde::Deserialize),
        serde(rename_all = "lowercase")
    )]
    pub enum Severity;
    /// Every severity, the least first.
    ALL;
    columns {
        /// Lower-case name, as reports print it and JSON spells it.
        name: &'static str,
    }
    /// Worth knowing; not wrong.
    Info = "info";
    /// Legal but suspicious, or legal on one vendor only.
    Warning = "warning";
    /// The state is invalid, or hardware refuses it.
    Error = "error";
}

display_by_name!(Severity);

/// One rule that fired.
///
/// With feature `serde` it serialises as the CLI's JSON finding (`severity`, `id`,
/// `segment`, `field`, `expected`, `found`, `reference`). It does not deserialise: its
/// field and reference are the catalogue's own `'static` strings, not data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Finding {
    /// The rule, e.g. [`CheckId::VmxEntryCsDplNonconforming`].
    pub id: CheckId,
    /// Severity.
    pub severity: Severity,
    /// The register concerned, if one is.
    #[cfg_attr(feature = "serde", serde(rename = "segment"))]
    pub reg: Option<SegReg>,
    /// The field, e.g. `DPL`.
    pub field: &'static str,
    /// What the rule requires.
    pub expected: String,
    /// What the state holds.
    pub found: String,
    /// SDM/APM section or profile rule: the rule's [`CheckId::reference`], or for a
    /// path finding the upstream commit of the profile rule responsible.
    pub reference: &'static str,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] ", self.severity, self.id)?;
        if let Some(reg) = self.reg {
            write!(f, "{reg}.")?;
        }
        write!(
            f,
            "{}: expected {}, found {} ({})",
            self.field, self.expected, self.found, self.reference
        )
    }
}

/// Where rules report: a list of findings, or just a count of errors (the fast path
/// verify uses, which formats nothing).
#[derive(Debug, Default)]
pub(crate) struct Findings {
    collect: bool,
    pub(crate) list: Vec<Finding>,
    pub(crate) errors: usize,
}

impl Findings {
    /// A sink that keeps every finding.
    pub(crate) fn collecting() -> Self {
        Findings {
            collect: true,
            ..Findings::default()
        }
    }

    /// A sink that only counts errors.
    pub(crate) fn counting() -> Self {
        Findings::default()
    }

    /// Every finding `run` reports: a target's `check`.
    #[inline]
    pub(crate) fn listed(run: impl FnOnce(&mut Findings)) -> Vec<Finding> {
        let mut f = Findings::collecting();
        run(&mut f);
        f.list
    }

    /// True when `run` reports no error (warnings allowed), formatting nothing: a
    /// target's `accepts`.
    #[inline]
    pub(crate) fn no_error(run: impl FnOnce(&mut Findings)) -> bool {
        let mut f = Findings::counting();
        run(&mut f);
        f.errors == 0
    }

    /// Reports `id` with the severity and reference the catalogue gives it.
    ///
    /// Inlined, with the listing out of line: a counting sink (verify's, asked millions
    /// of times per run) then costs a constant severity test and an add per failed
    /// check, where the out-of-line call cost ~5% of `segstate verify`.
    #[inline(always)]
    pub(crate) fn fail(
        &mut self,
        id: CheckId,
        reg: Option<SegReg>,
        field: &'static str,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) {
        let severity = id.severity();
        if severity == Severity::Error {
            self.errors += 1;
        }
        if self.collect {
            self.push(id, severity, reg, field, expected, found);
        }
    }

    /// Lists one finding (a collecting sink's part of [`Findings::fail`]).
    #[cold]
    #[inline(never)]
    fn push(
        &mut self,
        id: CheckId,
        severity: Severity,
        reg: Option<SegReg>,
        field: &'static str,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) {
        self.list.push(Finding {
            id,
            severity,
            reg,
            field,
            expected: alloc::format!("{expected}"),
            found: alloc::format!("{found}"),
            reference: id.reference(),
        });
    }
}

/// What the guest-state checks found, and which they could not judge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestFindings {
    /// The rules that fired.
    pub findings: Vec<Finding>,
    /// The rules that need a field the state lacks, with the first such field.
    pub not_judged: Vec<(CheckId, GuestField)>,
}

/// One run of the checks: the findings, and the rules left unjudged.
pub(crate) struct Run<'a> {
    pub(crate) g: &'a GuestState,
    pub(crate) f: Findings,
    pub(crate) not_judged: Vec<(CheckId, GuestField)>,
}

impl<'a> Run<'a> {
    /// A run over `g` that collects findings.
    pub(crate) fn new(g: &'a GuestState) -> Self {
        Run {
            g,
            f: Findings::collecting(),
            not_judged: Vec::new(),
        }
    }

    /// The findings and the rules not judged.
    pub(crate) fn finish(self) -> GuestFindings {
        GuestFindings {
            findings: self.f.list,
            not_judged: self.not_judged,
        }
    }

    /// Fails `id` when `value` is known and sets a bit of `mask` (reserved or
    /// must-be-zero bits); records it not judged when `value` is unknown.
    pub(crate) fn reserved(
        &mut self,
        id: CheckId,
        field: GuestField,
        value: Option<u64>,
        mask: u64,
        name: &'static str,
        expected: &'static str,
    ) {
        if let Some(v) = self.need(id, field, value) {
            if v & mask != 0 {
                self.f.fail(
                    id,
                    None,
                    name,
                    expected,
                    format_args!("{v:#x} ({:#x} set)", v & mask),
                );
            }
        }
    }

    /// Fails `id` when the guest's PAT is known and has an entry no memory type encodes
    /// ([`arch::pat_valid`]): VM entry's "load IA32_PAT" check and VMRUN's G_PAT check.
    pub(crate) fn pat(&mut self, id: CheckId, name: &'static str, expected: &'static str) {
        if let Some(pat) = self.need(id, GuestField::Pat, self.g.pat) {
            if !arch::pat_valid(pat) {
                self.f
                    .fail(id, None, name, expected, format_args!("{pat:#018x}"));
            }
        }
    }

    /// Records every rule of `ids` as not judged for want of `field`.
    pub(crate) fn unjudged(&mut self, field: GuestField, ids: &[CheckId]) {
        for &id in ids {
            self.need::<()>(id, field, None);
        }
    }

    /// `value` when known; otherwise `id` is recorded as not judged for `field`.
    pub(crate) fn need<T>(
        &mut self,
        id: CheckId,
        field: GuestField,
        value: Option<T>,
    ) -> Option<T> {
        if value.is_none() && !self.not_judged.iter().any(|(i, _)| *i == id) {
            self.not_judged.push((id, field));
        }
        value
    }
}
