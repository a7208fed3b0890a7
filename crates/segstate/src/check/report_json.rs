//! The JSON shape of a [`Report`] (feature `serde`), as `segstate check --json` prints
//! each state: stated once here, so a program reading the library's JSON and one
//! reading the CLI's see the same fields.
//!
//! A report is a map: `vendor` (`intel`, `amd`, `both`), `mode` (the
//! [`CpuMode`] as it prints), `cpl` (a number), the counts
//! `errors`, `warnings` and `infos`, `ids` (each check id present, once), `notes`, and
//! `segments`: the findings grouped as [`Report::by_segment`] groups them, each group
//! `{"segment": "CPU" | register name, "findings": [...]}`. A finding is
//! [`Finding`](super::Finding)'s own shape plus what the report adds around it:
//! `family`, `context`, `chain` and `rules` (the profile rule ids responsible).
//!
//! [`Report::configurations`] are not part of it: the notes describe them
//! ([`Report::note_configurations`]).
//!
//! ```
//! use segstate::arch::{PrivilegeLevel, SegReg};
//! use segstate::check::Severity;
//! use segstate::check::report::{Vendors, report};
//!
//! // A user-mode state whose SS has DPL 0.
//! let mut state = segstate::verify::baseline(PrivilegeLevel::Ring3);
//! state.segments[SegReg::Ss].attributes.dpl = PrivilegeLevel::Ring0;
//! let r = report(&state, Vendors::Intel);
//! let all = serde_json::to_value(&r)?;
//! assert_eq!((all["vendor"].as_str(), all["cpl"].as_u64()), (Some("intel"), Some(3)));
//! assert!(r.errors() > 0);
//! assert_eq!(all["errors"], r.errors());
//! assert!(all["ids"].as_array().unwrap().contains(&"arch.ss.dpl-cpl".into()));
//! // Leaving info findings out of `segments` keeps them in the counts.
//! let shown = serde_json::to_value(r.json().least(Severity::Warning))?;
//! assert_eq!(shown["infos"], all["infos"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::vec::Vec;
use core::fmt::Display;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::Severity;
use super::report::{Entry, Report};
use crate::arch::{CpuMode, SegReg};
use crate::profile::Rule;

/// A value by its `Display` text: a family, a vendor, a CPU mode.
pub(crate) fn by_name<T: Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Profile rules by their ids.
pub(crate) fn rule_ids<S: Serializer>(rules: &[Rule], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(rules.iter().map(|r| r.id()))
}

/// How a report is written as JSON: which findings `segments` lists, and whether the
/// mode and CPL are known. [`Report`]'s own `Serialize` is [`Report::json`] as it
/// comes: every finding, mode and CPL given.
#[derive(Clone, Copy, Debug)]
pub struct ReportJson<'a> {
    report: &'a Report,
    least: Severity,
    /// The mode written: the report's, the one the source shows (a VMCS's IA-32e mode
    /// guest control over its EFER field), or `None` (null) where the source does not
    /// decide it.
    mode: Option<CpuMode>,
    cpl_known: bool,
}

impl Report {
    /// The report's JSON, to be narrowed by [`ReportJson::least`],
    /// [`ReportJson::mode_known`] and [`ReportJson::cpl_known`].
    #[must_use]
    pub fn json(&self) -> ReportJson<'_> {
        ReportJson {
            report: self,
            least: Severity::Info,
            mode: Some(self.mode),
            cpl_known: true,
        }
    }
}

impl ReportJson<'_> {
    /// Lists in `segments` only the findings of `least` severity or worse; the counts
    /// and `ids` still count every finding (`segstate check` without `--verbose`
    /// leaves info findings out).
    #[must_use]
    pub fn least(self, least: Severity) -> Self {
        ReportJson { least, ..self }
    }

    /// Whether the state's source showed CR0; when it did not (a pasted dump cut
    /// short), the mode was judged from a default and `mode` is written as null.
    #[must_use]
    pub fn mode_known(self, known: bool) -> Self {
        ReportJson {
            mode: self.mode.filter(|_| known),
            ..self
        }
    }

    /// The mode as the state's source shows it (`GuestState::shown_mode`): written as
    /// `mode`, null when the source does not decide it. `segstate check` prints the same
    /// in its text.
    #[must_use]
    pub fn mode(self, shown: Option<CpuMode>) -> Self {
        ReportJson {
            mode: shown,
            ..self
        }
    }

    /// Whether the state's source showed the CPL; when it did not, `cpl` is null.
    #[must_use]
    pub fn cpl_known(self, known: bool) -> Self {
        ReportJson {
            cpl_known: known,
            ..self
        }
    }
}

/// One group of [`Report::by_segment`], the findings below the least severity left out.
#[derive(serde::Serialize)]
struct SegmentFindings<'a> {
    #[serde(serialize_with = "segment_name")]
    segment: Option<SegReg>,
    findings: Vec<&'a Entry>,
}

/// A register by its name; the CPU-wide group as `CPU`.
fn segment_name<S: Serializer>(reg: &Option<SegReg>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(reg.map_or("CPU", SegReg::name))
}

impl Serialize for ReportJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.report;
        let segments: Vec<SegmentFindings<'_>> = r
            .by_segment()
            .into_iter()
            .filter_map(|(segment, list)| {
                let findings: Vec<&Entry> = list
                    .into_iter()
                    .filter(|e| e.finding.severity >= self.least)
                    .collect();
                (!findings.is_empty()).then_some(SegmentFindings { segment, findings })
            })
            .collect();
        let mut map = serializer.serialize_map(Some(9))?;
        map.serialize_entry("vendor", &Named(&r.vendor))?;
        map.serialize_entry("mode", &self.mode.as_ref().map(Named))?;
        map.serialize_entry("cpl", &self.cpl_known.then_some(r.cpl))?;
        map.serialize_entry("errors", &r.errors())?;
        map.serialize_entry("warnings", &r.count(Severity::Warning))?;
        map.serialize_entry("infos", &r.count(Severity::Info))?;
        map.serialize_entry("ids", &r.ids())?;
        map.serialize_entry("notes", &r.notes)?;
        map.serialize_entry("segments", &segments)?;
        map.end()
    }
}

/// Every finding, mode and CPL given: [`Report::json`] as it comes.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(serializer)
    }
}

/// A value written by its `Display` text, where a field attribute cannot say it.
struct Named<'a, T>(&'a T);

impl<T: Display> Serialize for Named<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        by_name(self.0, serializer)
    }
}
