//! VM-entry verdicts shared by the chains of one domain.
//!
//! Whether Intel's VM entry accepts a domain state's result depends only on the state
//! (its baseline and register) and on the decoded segment the chain left in that
//! register ([`super::entry_context`]). Chains into a VMCS mostly leave the same segment
//! for the same state (each normalises a little differently, but most states pass
//! through unchanged), so the last verdict reached for each state is kept with the
//! segment it was reached for and reused, exactly, when the next chain leaves the same
//! segment there. A different segment is checked and replaces it.

use alloc::vec::Vec;

use super::{SegmentState, entry_context};
use crate::arch::{PrivilegeLevel, SegReg, Segment};
use crate::check::vmx_entry::{self, VmxEntryControls};

/// True when VM entry accepts the baseline at CPL `baseline` with `reg` replaced by
/// `out` (left as the baseline's when the result does not decode).
pub(super) fn accepts(
    baselines: &[SegmentState; 4],
    reg: SegReg,
    baseline: PrivilegeLevel,
    out: Option<Segment>,
) -> bool {
    let whole = entry_context(baselines, reg, baseline, out);
    vmx_entry::accepts(&whole, VmxEntryControls::kvm_default(whole.efer))
}

/// The last VM-entry verdict per place in the domain's class member list (each place
/// one state: [`super::reduce`]), with the segment it was reached for.
#[derive(Debug)]
pub(super) struct EntryMemo {
    last: Vec<Option<(Option<Segment>, bool)>>,
}

impl EntryMemo {
    /// An empty memo for `places` places.
    pub(super) fn new(places: usize) -> Self {
        EntryMemo {
            last: alloc::vec![None; places],
        }
    }

    /// The verdict for the state at `place` with `out` in its register: the one
    /// reached for the same segment there, else `check`'s.
    pub(super) fn accepts(
        &mut self,
        place: usize,
        out: Option<Segment>,
        check: impl FnOnce() -> bool,
    ) -> bool {
        if let Some((seen, verdict)) = self.last[place]
            && seen == out
        {
            return verdict;
        }
        let verdict = check();
        self.last[place] = Some((out, verdict));
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Workspace, verify_all};
    use crate::profile::{Format, builtin_chains};

    /// Verdicts reused across chains are the verdicts each chain reaches alone: every
    /// built-in chain into a VMCS, verified one after another over shared memos, reports
    /// what it reports verified over a workspace of its own.
    #[test]
    fn shared_verdicts_equal_fresh_ones() {
        let chains: Vec<_> = builtin_chains()
            .into_iter()
            .filter(|c| c.destination() == Format::Vmcs)
            .collect();
        assert!(chains.len() > 10, "{} chains into a VMCS", chains.len());
        let shared = verify_all(&chains);
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
