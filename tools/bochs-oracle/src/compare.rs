//! The comparison: segstate's verdict beside Bochs's for the same cases, the rules
//! reached, and each unexplained disagreement minimised to the fewest fields that
//! still differ from a valid state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use segstate::arch::{SegReg, Segment};

use crate::case::{Case, Oracle, Outcome, Target};
use crate::conformance::{self, Explained};
use crate::error::OracleError;
use crate::generate;
use crate::verdict::{self, Verdict};

/// One case on which segstate and Bochs disagree.
#[derive(Clone, Debug)]
pub struct Disagreement {
    /// The target.
    pub target: Target,
    /// Index in the generated stream.
    pub index: u64,
    /// The case.
    pub case: Case,
    /// segstate's verdict.
    pub segstate: Verdict,
    /// Bochs's outcome.
    pub bochs: Outcome,
    /// The conformance rows that explain it.
    pub explained_by: Option<Vec<String>>,
}

impl Disagreement {
    /// What groups like disagreements: direction, segstate's rule ids, the oracle's log.
    #[must_use]
    pub fn signature(&self) -> String {
        let ids: BTreeSet<&str> = self.segstate.fired.iter().map(|f| f.id).collect();
        format!(
            "{} {} | segstate {} | {}",
            match self.target {
                Target::KvmSetSregs(_) => "host",
                _ => "bochs",
            },
            if self.bochs.accepted {
                "accepts"
            } else {
                "rejects"
            },
            ids.into_iter().collect::<Vec<_>>().join(","),
            self.bochs.log.first().map_or("-", String::as_str)
        )
    }
}

/// A whole run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Cases compared.
    pub compared: u64,
    /// Cases on which both agree.
    pub agree: u64,
    /// Explained disagreements.
    pub explained: u64,
    /// Unexplained disagreements, the first few of each signature kept.
    pub unexplained: Vec<Disagreement>,
    /// Number of unexplained disagreements.
    pub unexplained_count: u64,
    /// Disagreements per signature (explained or not).
    pub signatures: BTreeMap<String, u64>,
    /// Catalogue rules seen firing on a case the oracle refused.
    pub reached: BTreeSet<&'static str>,
    /// Family rules seen firing alone on a case the oracle refused: the rule's failing
    /// vector failed there too.
    pub reached_alone: BTreeSet<&'static str>,
    /// Time spent inside the oracle (Bochs, or the ioctls).
    pub bochs_time: Duration,
    /// Oracle runs (Bochs boots).
    pub boots: u64,
}

impl Summary {
    /// Disagreements.
    #[must_use]
    pub fn disagree(&self) -> u64 {
        self.compared - self.agree
    }
}

/// Compares one batch of outcomes with segstate's verdicts, folding into `summary`.
pub fn fold(
    target: Target,
    first_index: u64,
    cases: &[Case],
    outcomes: &[Outcome],
    table: &[Explained],
    summary: &mut Summary,
) {
    for (k, (case, bochs)) in cases.iter().zip(outcomes).enumerate() {
        summary.compared += 1;
        let segstate = verdict::verdict(target, case);
        if !bochs.accepted {
            summary
                .reached
                .extend(verdict::catalogue_fired(target, case));
            if let Some(id) = verdict::sole_rule(target, case) {
                summary.reached_alone.insert(id);
            }
        }
        if segstate.accepted == bochs.accepted {
            summary.agree += 1;
            continue;
        }
        let explained_by = conformance::explain(table, target, case, &segstate, bochs);
        let d = Disagreement {
            target,
            index: first_index + k as u64,
            case: *case,
            segstate,
            bochs: bochs.clone(),
            explained_by,
        };
        let sig = d.signature();
        let n = summary.signatures.entry(sig).or_insert(0);
        *n += 1;
        if d.explained_by.is_some() {
            summary.explained += 1;
        } else {
            summary.unexplained_count += 1;
            if *n <= 3 {
                summary.unexplained.push(d);
            }
        }
    }
}

/// Runs `count` generated cases from `seed` through the oracle in batches of `batch`.
///
/// # Errors
/// Bochs fails to run or its output cannot be parsed.
pub fn run(
    machine: &dyn Oracle,
    target: Target,
    seed: u64,
    count: u64,
    batch: u64,
    table: &[Explained],
    mut progress: impl FnMut(&Summary),
) -> Result<Summary, OracleError> {
    let mut summary = Summary::default();
    let stream = generate::Stream::new(target, seed);
    let mut next = 0;
    while next < count {
        let n = batch.min(count - next);
        let cases: Vec<Case> = (next..next + n).map(|i| stream.case(i)).collect();
        let start = Instant::now();
        let outcomes = machine.run(&cases)?;
        summary.bochs_time += start.elapsed();
        summary.boots += 1;
        fold(target, next, &cases, &outcomes, table, &mut summary);
        next += n;
        progress(&summary);
    }
    Ok(summary)
}

/// A part of a case that minimisation can put back to a valid state's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Selector(SegReg),
    Base(SegReg),
    Limit(SegReg),
    Attributes(SegReg),
    Unusable(SegReg),
    Cr0,
    Cr4,
    Efer,
    Rflags,
    Cpl,
    Unrestricted,
    Ia32e,
}

fn slots() -> Vec<Slot> {
    let mut v = Vec::new();
    for reg in SegReg::ALL {
        v.extend([
            Slot::Selector(reg),
            Slot::Base(reg),
            Slot::Limit(reg),
            Slot::Attributes(reg),
            Slot::Unusable(reg),
        ]);
    }
    v.extend([
        Slot::Cr0,
        Slot::Cr4,
        Slot::Efer,
        Slot::Rflags,
        Slot::Cpl,
        Slot::Unrestricted,
        Slot::Ia32e,
    ]);
    v
}

fn take(slot: Slot, to: &mut Case, from: &Case) {
    let (t, f) = (&mut to.state, &from.state);
    match slot {
        Slot::Selector(r) => t.segments[r].selector = f.segments[r].selector,
        Slot::Base(r) => t.segments[r].base = f.segments[r].base,
        Slot::Limit(r) => t.segments[r].limit = f.segments[r].limit,
        Slot::Attributes(r) => t.segments[r].attributes = f.segments[r].attributes,
        Slot::Unusable(r) => t.segments[r].unusable = f.segments[r].unusable,
        Slot::Cr0 => t.cr0 = f.cr0,
        Slot::Cr4 => t.cr4 = f.cr4,
        Slot::Efer => t.efer = f.efer,
        Slot::Rflags => t.rflags = f.rflags,
        Slot::Cpl => t.cpl = f.cpl,
        Slot::Unrestricted => to.controls.unrestricted_guest = from.controls.unrestricted_guest,
        Slot::Ia32e => to.controls.ia32e_mode_guest = from.controls.ia32e_mode_guest,
    }
}

fn differing(a: &Case, b: &Case) -> Vec<Slot> {
    slots()
        .into_iter()
        .filter(|&s| {
            let mut c = *a;
            take(s, &mut c, b);
            c != *a
        })
        .collect()
}

fn show_segment(s: &Segment) -> String {
    let v = segstate::format::vmx::VmxSegment::from(*s);
    format!(
        "sel={:#x} base={:#x} limit={:#x} ar={:#x}",
        v.selector, v.base, v.limit, v.access_rights.0
    )
}

/// The fields of `case` that differ from `base`, one line each.
#[must_use]
pub fn describe(case: &Case, base: &Case) -> Vec<String> {
    let (c, b) = (&case.state, &base.state);
    let mut out = Vec::new();
    for reg in SegReg::ALL {
        if c.segments[reg] != b.segments[reg] {
            out.push(format!(
                "{reg}: {}  (valid: {})",
                show_segment(&c.segments[reg]),
                show_segment(&b.segments[reg])
            ));
        }
    }
    let regs = [
        ("CR0", c.cr0, b.cr0),
        ("CR4", c.cr4, b.cr4),
        ("EFER", c.efer, b.efer),
        ("RFLAGS", c.rflags, b.rflags),
    ];
    for (name, x, y) in regs {
        if x != y {
            out.push(format!("{name}: {x:#x}  (valid: {y:#x})"));
        }
    }
    if c.cpl != b.cpl {
        out.push(format!("CPL: {}  (valid: {})", c.cpl, b.cpl));
    }
    if case.controls != base.controls {
        out.push(format!(
            "controls: unrestricted guest {}, IA-32e mode guest {}  (valid: {}, {})",
            u8::from(case.controls.unrestricted_guest),
            u8::from(case.controls.ia32e_mode_guest),
            u8::from(base.controls.unrestricted_guest),
            u8::from(base.controls.ia32e_mode_guest)
        ));
    }
    out
}

/// Minimises a disagreement: starting from the valid state closest to it, repeatedly
/// puts one field back to the valid value while Bochs still decides the same way and
/// segstate still fires the same rules. Returns the minimal case, the valid state it differs from, and Bochs's
/// outcome on it.
///
/// # Errors
/// Bochs fails to run.
pub fn minimise(
    machine: &dyn Oracle,
    target: Target,
    d: &Disagreement,
) -> Result<(Case, Case, Outcome), OracleError> {
    let bases = generate::valid_states(target);
    let base = *bases
        .iter()
        .min_by_key(|b| differing(&d.case, b).len())
        .expect("every target has valid states");
    // Same disagreement: Bochs decides the same way, segstate fires the same rules.
    let ids = |v: &Verdict| v.fired.iter().map(|f| f.id).collect::<BTreeSet<_>>();
    let want = ids(&d.segstate);
    let same_way = |v: &Verdict, o: &Outcome| {
        v.accepted != o.accepted && o.accepted == d.bochs.accepted && ids(v) == want
    };
    let mut current = d.case;
    let mut outcome = d.bochs.clone();
    loop {
        let candidates: Vec<Case> = differing(&current, &base)
            .into_iter()
            .map(|s| {
                let mut c = current;
                take(s, &mut c, &base);
                c
            })
            .collect();
        if candidates.is_empty() {
            break;
        }
        let outcomes = machine.run(&candidates)?;
        let found = candidates
            .iter()
            .zip(&outcomes)
            .find(|(c, o)| same_way(&verdict::verdict(target, c), o));
        match found {
            Some((c, o)) => {
                current = *c;
                outcome = o.clone();
            }
            None => break,
        }
    }
    Ok((current, base, outcome))
}
