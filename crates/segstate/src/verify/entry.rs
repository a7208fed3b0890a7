//! Whether Intel's VM entry accepts what a chain into a VMCS made of a domain state.
//!
//! The verdict depends only on the state (its baseline and register) and on the decoded
//! segment the chain left in that register ([`super::entry_context`]): the baseline run
//! through the chain with that register replaced. Per chain, the checks that do not
//! read the register are asked once per baseline and register, the rest per state
//! ([`EntryJudge`]). This replaced a memo of the last verdict per state shared across
//! chains: judging one register costs less than looking the verdict up.

use alloc::vec::Vec;

use super::{SegmentState, entry_context};
use crate::arch::{PerSegReg, PrivilegeLevel, SegReg, Segment};
use crate::check::vmx_entry::{self, VmxEntryControls};

/// True when VM entry accepts the baseline at CPL `baseline` with `reg` replaced by
/// `out` (left as the baseline's when the result does not decode): the whole-state
/// check, what [`EntryJudge`] is held to.
pub(super) fn accepts(
    baselines: &[SegmentState; 4],
    reg: SegReg,
    baseline: PrivilegeLevel,
    out: Option<Segment>,
) -> bool {
    let whole = entry_context(baselines, reg, baseline, out);
    vmx_entry::accepts(&whole, VmxEntryControls::kvm_default(whole.efer))
}

/// [`accepts`] judged per register: for one chain, the checks that do not read a
/// register ([`vmx_entry::accepts_apart_from`]) are asked once per baseline output and
/// register, and only those that read it ([`vmx_entry::register_accepted`]) per state.
/// The reduced verification judges through this and the unreduced one through
/// [`accepts`], so the test that holds their reports equal covers the split.
pub(super) struct EntryJudge<'b> {
    baselines: &'b [SegmentState; 4],
    apart: [PerSegReg<bool>; 4],
}

impl<'b> EntryJudge<'b> {
    /// The judge for a chain whose baselines came out as `baselines`.
    pub(super) fn new(baselines: &'b [SegmentState; 4]) -> Self {
        let apart = baselines.each_ref().map(|b| {
            PerSegReg::from_fn(|reg| {
                vmx_entry::accepts_apart_from(b, VmxEntryControls::kvm_default(b.efer), reg)
            })
        });
        EntryJudge { baselines, apart }
    }

    /// [`accepts`]'s verdict, copying no state.
    pub(super) fn accepts(
        &self,
        reg: SegReg,
        baseline: PrivilegeLevel,
        out: Option<Segment>,
    ) -> bool {
        let at = baseline.bits() as usize;
        if !self.apart[at][reg] {
            return false;
        }
        let context = &self.baselines[at];
        let seg = out.as_ref().unwrap_or(&context.segments[reg]);
        let controls = VmxEntryControls::kvm_default(context.efer);
        vmx_entry::register_accepted(context, controls, reg, seg)
    }
}

/// The VM-entry verdicts of one batch's consistent class members, kept for the next
/// chains of the batch: a member's verdict is a function of the baselines the chain
/// made ([`EntryJudge`]) and of the representative's decoded output (the member's is
/// that with its own selector and base), so a chain whose baselines and output for a
/// class equal an earlier chain's gets that chain's verdicts without asking again.
/// Nothing about the checks is assumed: only equal inputs share a verdict.
/// `shared_workspaces_give_each_chains_own_report` holds each chain's report equal to
/// its report verified alone, where nothing is shared.
#[derive(Default)]
pub(super) struct MemberVerdicts {
    /// Per class of the batch, what earlier chains found: their baselines' group
    /// ([`baseline_groups`]), the representative's decoded output, and a bit per
    /// consistent member that VM entry refuses.
    seen: Vec<Vec<(u16, Option<Segment>, u64)>>,
}

impl MemberVerdicts {
    /// Most consistent members a class may have for its verdicts to be kept (one bit each).
    pub(super) const MAX_MEMBERS: usize = 64;

    /// Forgets the previous batch and makes room for `classes` classes.
    pub(super) fn start(&mut self, classes: usize) {
        self.seen.iter_mut().for_each(Vec::clear);
        if self.seen.len() < classes {
            self.seen.resize_with(classes, Vec::new);
        }
    }

    /// The refusals an earlier chain of baseline group `group` found for class `class`
    /// of the batch with the representative's output decoded as `decoded`.
    pub(super) fn get(&self, class: usize, group: u16, decoded: Option<Segment>) -> Option<u64> {
        let found = self.seen[class]
            .iter()
            .find(|(g, d, _)| *g == group && *d == decoded)
            .map(|&(_, _, refused)| refused);
        #[cfg(all(test, feature = "std"))]
        if found.is_some() {
            SHARED.with(|n| n.set(n.get() + 1));
        }
        found
    }

    /// Keeps what a chain found (see [`MemberVerdicts::get`]).
    pub(super) fn keep(
        &mut self,
        class: usize,
        group: u16,
        decoded: Option<Segment>,
        refused: u64,
    ) {
        self.seen[class].push((group, decoded, refused));
    }
}

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// How many times [`MemberVerdicts::get`] handed a chain an earlier chain's
    /// verdicts: the tests see that the sharing they hold harmless really happens.
    static SHARED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// For each of `baselines`, the index of the first with equal contents: chains whose
/// baselines came out the same judge VM entry alike ([`MemberVerdicts`]).
pub(super) fn baseline_groups(baselines: &[Option<&[SegmentState; 4]>]) -> Vec<u16> {
    baselines
        .iter()
        .map(|b| baselines.iter().position(|o| o == b).unwrap_or(0) as u16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Workspace, verify_all};
    use super::{MemberVerdicts, baseline_groups};
    use crate::arch::{PrivilegeLevel, SegReg};
    use crate::profile::{Format, builtin_chains};

    /// A kept verdict is given back only for the same class, baseline group and
    /// decoded output, and a new batch forgets them all; equal baselines share a group.
    #[test]
    fn member_verdicts_are_shared_only_between_equal_inputs() {
        let base = super::super::baseline(PrivilegeLevel::Ring0);
        let (a, mut b) = ([base; 4], [base; 4]);
        b[1].cpl = PrivilegeLevel::Ring3;
        assert_eq!(
            baseline_groups(&[Some(&a), Some(&b), Some(&a), None]),
            [0, 1, 0, 3]
        );
        let out = Some(base.segments[SegReg::Cs]);
        let mut other = out;
        if let Some(s) = &mut other {
            s.limit ^= 1;
        }
        let mut kept = MemberVerdicts::default();
        kept.start(2);
        kept.keep(1, 0, out, 0b101);
        assert_eq!(kept.get(1, 0, out), Some(0b101));
        assert_eq!(kept.get(0, 0, out), None);
        assert_eq!(kept.get(1, 1, out), None);
        assert_eq!(kept.get(1, 0, other), None);
        assert_eq!(kept.get(1, 0, None), None);
        kept.start(2);
        assert_eq!(kept.get(1, 0, out), None);
    }

    /// What [`verify_all`] shares between chains (the workspaces, and each batch of
    /// classes judged by every chain of its source format in turn) changes no report:
    /// every built-in chain into a VMCS, verified together with the others, reports
    /// what it reports verified alone.
    #[test]
    fn shared_workspaces_give_each_chains_own_report() {
        let chains: Vec<_> = builtin_chains()
            .into_iter()
            .filter(|c| c.destination() == Format::Vmcs)
            .collect();
        assert!(chains.len() > 10, "{} chains into a VMCS", chains.len());
        super::SHARED.with(|n| n.set(0));
        let shared = verify_all(&chains);
        // Verdicts were really shared, or equality below would prove nothing about it.
        assert!(
            super::SHARED.with(|n| n.get()) > 0,
            "no chain reused a verdict"
        );
        let mut workspaces: Vec<Workspace> = Vec::new();
        for (chain, report) in chains.iter().zip(&shared) {
            if !workspaces.iter().any(|w| w.format == chain.source()) {
                workspaces.push(Workspace::new(chain.source()));
            }
            let ws = workspaces
                .iter()
                .find(|w| w.format == chain.source())
                .expect("just made");
            let alone = ws.verify(chain).expect("same source");
            assert_eq!(report.violations, alone.violations, "{chain}");
            assert_eq!(report.counterexamples, alone.counterexamples, "{chain}");
            assert_eq!(
                (report.states, report.executed),
                (alone.states, alone.executed)
            );
        }
    }
}
