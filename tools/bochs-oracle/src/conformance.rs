//! The explained disagreements: the table in `docs/conformance/bochs.md`, parsed so
//! the document and the tool cannot drift.
//!
//! The table follows the line `<!-- bochs-oracle: explained disagreements -->`:
//!
//! ```text
//! | id | target | Bochs | segstate findings | Bochs log |
//! | --- | --- | --- | --- | --- |
//! | vmx-data-dpl-type11 | vmx | accepts | vmx.entry.data.dpl-rpl | - |
//! ```
//!
//! - `Bochs`: `accepts` (Bochs enters a state segstate rejects) or `rejects` (the
//!   reverse);
//! - `segstate findings`: for `accepts`, every error segstate reports must match one
//!   of these comma-separated patterns, `rule` or `rule@REG`; `rule[b,c]` also requires
//!   that the CR4 bits the target does not allow are all among bits b, c (for
//!   `kvm.set-sregs.cr4-reserved`, where a host differs bit by bit); for `rejects`,
//!   optionally `cr4[b,c]`: the state sets one of those CR4 bits;
//! - `Bochs log`: for `rejects`, a substring of the error line Bochs logged (or of the
//!   ioctl's error).

use std::path::{Path, PathBuf};

use crate::case::{Case, Outcome, Target};
use crate::error::{OracleError, io};
use crate::verdict::{Fired, Verdict};

/// The line that introduces the table.
pub const MARKER: &str = "<!-- bochs-oracle: explained disagreements -->";

/// Which way Bochs and segstate disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Bochs enters a state segstate rejects.
    BochsAccepts,
    /// Bochs refuses a state segstate accepts.
    BochsRejects,
}

/// One row: a known, settled disagreement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    /// Stable id (the section of the document that settles it).
    pub id: String,
    /// Target.
    pub target: Target,
    /// Direction.
    pub direction: Direction,
    /// For [`Direction::BochsAccepts`]: patterns `rule` or `rule@REG`.
    pub findings: Vec<String>,
    /// For [`Direction::BochsRejects`]: a substring of Bochs's log line.
    pub log: Option<String>,
}

/// Splits a cell at the commas outside brackets.
fn split_top_level(cell: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in cell.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&cell[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&cell[start..]);
    out
}

/// Splits `name[b,c]` into the name and the bit mask (0 without brackets).
fn bits_suffix(p: &str) -> Option<(&str, u64)> {
    let Some((name, rest)) = p.split_once('[') else {
        return Some((p, 0));
    };
    let mut mask = 0u64;
    for b in rest.strip_suffix(']')?.split(',') {
        let bit: u32 = b.trim().parse().ok()?;
        mask |= 1u64.checked_shl(bit)?;
    }
    Some((name, mask))
}

/// The CR4 bits of a case its target does not allow (KVM_SET_SREGS only).
fn disallowed_cr4(target: Target, case: &Case) -> u64 {
    match target {
        Target::KvmSetSregs(allowed) => case.state.cr4 & !allowed.0,
        _ => 0,
    }
}

impl Explained {
    /// True when this `accepts` row covers one of segstate's findings on `case`.
    fn covers(&self, target: Target, case: &Case, f: &Fired) -> bool {
        self.direction == Direction::BochsAccepts
            && self.findings.iter().any(|p| {
                let Some((p, bits)) = bits_suffix(p) else {
                    return false;
                };
                let rule_matches = match p.split_once('@') {
                    Some((id, reg)) => {
                        f.id == id && f.reg.is_some_and(|r| r.name().eq_ignore_ascii_case(reg))
                    }
                    None => f.id == p,
                };
                rule_matches && (bits == 0 || disallowed_cr4(target, case) & !bits == 0)
            })
    }

    /// True when this `rejects` row names the check Bochs logged (and the state sets
    /// one of the row's CR4 bits, if it names any).
    fn names(&self, case: &Case, bochs: &Outcome) -> bool {
        let condition = self.findings.iter().all(|p| match bits_suffix(p) {
            Some(("cr4", bits)) => case.state.cr4 & bits != 0,
            _ => false,
        });
        self.direction == Direction::BochsRejects
            && condition
            && self
                .log
                .as_ref()
                .is_some_and(|needle| bochs.log.iter().any(|l| l.contains(needle.as_str())))
    }
}

/// The rows that explain a disagreement, or `None` when it is unexplained. Bochs
/// accepting what segstate rejects is explained when every error segstate reports is
/// covered by some `accepts` row (a state can trip two known deviations at once);
/// Bochs rejecting what segstate accepts, when a `rejects` row names Bochs's log line.
#[must_use]
pub fn explain(
    table: &[Explained],
    target: Target,
    case: &Case,
    segstate: &Verdict,
    bochs: &Outcome,
) -> Option<Vec<String>> {
    if segstate.accepted == bochs.accepted {
        return None;
    }
    let rows = table.iter().filter(|r| r.target.name() == target.name());
    if bochs.accepted {
        let mut ids: Vec<String> = Vec::new();
        for f in &segstate.fired {
            let row = rows.clone().find(|r| r.covers(target, case, f))?;
            if !ids.contains(&row.id) {
                ids.push(row.id.clone());
            }
        }
        Some(ids)
    } else {
        rows.clone()
            .find(|r| r.names(case, bochs))
            .map(|r| vec![r.id.clone()])
    }
}

/// Parses the table out of the document text.
///
/// # Errors
/// No marker, or a row with the wrong number of cells or an unknown value; the error
/// names the line.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Explained>, OracleError> {
    let err = |line: usize, detail: String| OracleError::Table {
        path: PathBuf::from(path),
        line,
        detail,
    };
    let Some(start) = text.lines().position(|l| l.trim() == MARKER) else {
        return Err(err(0, format!("no line {MARKER}")));
    };
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(start + 1) {
        let line_no = n + 1;
        let line = line.trim();
        if line.is_empty() && rows.is_empty() {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 5 {
            return Err(err(line_no, format!("{} cells, expected 5", cells.len())));
        }
        if cells[0] == "id" || cells[0].starts_with("---") {
            continue;
        }
        let target = match cells[1].parse::<Target>() {
            Ok(t) => t,
            Err(_) => {
                return Err(err(
                    line_no,
                    format!("target {:?}: expected vmx, svm or kvm-set-sregs", cells[1]),
                ));
            }
        };
        let direction = match cells[2] {
            "accepts" => Direction::BochsAccepts,
            "rejects" => Direction::BochsRejects,
            other => {
                return Err(err(
                    line_no,
                    format!("Bochs {other:?}: expected accepts or rejects"),
                ));
            }
        };
        let strip = |s: &str| s.trim().trim_matches('`').to_string();
        let findings: Vec<String> = if cells[3] == "-" {
            Vec::new()
        } else {
            split_top_level(cells[3]).into_iter().map(strip).collect()
        };
        let log = (cells[4] != "-").then(|| strip(cells[4]));
        if let Some(bad) = findings.iter().find(|p| bits_suffix(p).is_none()) {
            return Err(err(
                line_no,
                format!("pattern {bad:?}: bits must be `name[b,c]`"),
            ));
        }
        match direction {
            Direction::BochsAccepts if findings.is_empty() => {
                return Err(err(
                    line_no,
                    "an `accepts` row needs segstate findings".into(),
                ));
            }
            Direction::BochsRejects if log.is_none() => {
                return Err(err(
                    line_no,
                    "a `rejects` row needs a Bochs log substring".into(),
                ));
            }
            _ => {}
        }
        rows.push(Explained {
            id: strip(cells[0]),
            target,
            direction,
            findings,
            log,
        });
    }
    Ok(rows)
}

/// Reads and parses the document.
///
/// # Errors
/// See [`parse`]; or the file cannot be read.
pub fn load(path: &Path) -> Result<Vec<Explained>, OracleError> {
    let text = std::fs::read_to_string(path).map_err(io("read", path))?;
    parse(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstate::arch::SegReg;

    const DOC: &str = "# x\n\n<!-- bochs-oracle: explained disagreements -->\n\n\
        | id | target | Bochs | segstate findings | Bochs log |\n| --- | --- | --- | --- | --- |\n\
        | a | vmx | accepts | `vmx.entry.p@SS`, vmx.entry.g | - |\n\
        | b | svm | rejects | - | `CS.D_B/L mismatch` |\n\nprose\n";

    fn outcome(accepted: bool, log: &str) -> Outcome {
        Outcome {
            accepted,
            code: String::new(),
            log: vec![log.to_string()],
        }
    }

    #[test]
    fn rows_parse_and_match_their_direction_only() {
        let rows = parse(Path::new("d.md"), DOC).unwrap();
        assert_eq!(rows.len(), 2);
        let fired = |v: Vec<(&'static str, SegReg)>| Verdict {
            accepted: v.is_empty(),
            fired: v
                .into_iter()
                .map(|(id, r)| Fired { id, reg: Some(r) })
                .collect(),
        };
        let ss_p = fired(vec![("vmx.entry.p", SegReg::Ss)]);
        let ds_p = fired(vec![("vmx.entry.p", SegReg::Ds)]);
        let ss_p_and_g = fired(vec![
            ("vmx.entry.p", SegReg::Ss),
            ("vmx.entry.g", SegReg::Ds),
        ]);
        let case = crate::generate::valid_vmx_states()[0];
        let explained = |t, v: &Verdict, o: &Outcome| explain(&rows, t, &case, v, o);
        assert_eq!(
            explained(Target::Vmx, &ss_p, &outcome(true, "")),
            Some(vec!["a".to_string()])
        );
        assert_eq!(
            explained(Target::Vmx, &ss_p_and_g, &outcome(true, "")),
            Some(vec!["a".to_string()])
        );
        assert_eq!(explained(Target::Vmx, &ds_p, &outcome(true, "")), None);
        assert_eq!(explained(Target::Svm, &ss_p, &outcome(true, "")), None);
        // Agreement is never "explained".
        assert_eq!(explained(Target::Vmx, &ss_p, &outcome(false, "")), None);
        let ok = fired(vec![]);
        let mismatch = outcome(false, "VMRUN: VMCB CS.D_B/L mismatch");
        assert_eq!(
            explained(Target::Svm, &ok, &mismatch),
            Some(vec!["b".to_string()])
        );
        assert_eq!(
            explained(
                Target::Svm,
                &ok,
                &outcome(false, "VMRUN: Guest EFER.SVME = 0")
            ),
            None
        );
    }

    #[test]
    fn cr4_bit_conditions_narrow_a_row_to_those_bits() {
        use segstate::check::kvm_set_sregs::Cr4Allowed;
        let doc = "<!-- bochs-oracle: explained disagreements -->\n\
            | id | target | Bochs | segstate findings | Bochs log |\n\
            | k1 | kvm-set-sregs | accepts | kvm.set-sregs.cr4-reserved[16,22] | - |\n\
            | k2 | kvm-set-sregs | rejects | cr4[12] | `EINVAL` |\n";
        let rows = parse(Path::new("d.md"), doc).unwrap();
        let target = Target::KvmSetSregs(Cr4Allowed(0x1fff));
        let mut case = crate::generate::valid_kvm_states()[0];
        let reserved = Verdict {
            accepted: false,
            fired: vec![Fired {
                id: "kvm.set-sregs.cr4-reserved",
                reg: None,
            }],
        };
        case.state.cr4 |= 1 << 22;
        assert_eq!(
            explain(&rows, target, &case, &reserved, &outcome(true, "")),
            Some(vec!["k1".into()])
        );
        case.state.cr4 |= 1 << 14;
        assert_eq!(
            explain(&rows, target, &case, &reserved, &outcome(true, "")),
            None
        );
        let ok = Verdict {
            accepted: true,
            fired: vec![],
        };
        let einval = outcome(false, "KVM_SET_SREGS: EINVAL");
        assert_eq!(explain(&rows, target, &case, &ok, &einval), None);
        case.state.cr4 |= 1 << 12;
        assert_eq!(
            explain(&rows, target, &case, &ok, &einval),
            Some(vec!["k2".into()])
        );
        assert!(parse(Path::new("d.md"), &doc.replace("[16,22]", "[16,x]")).is_err());
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let bad = DOC.replace("| b | svm | rejects", "| b | arm | rejects");
        match parse(Path::new("d.md"), &bad) {
            Err(OracleError::Table { line, .. }) => assert_eq!(line, 8),
            other => panic!("{other:?}"),
        }
        assert!(parse(Path::new("d.md"), "no table").is_err());
    }
}
