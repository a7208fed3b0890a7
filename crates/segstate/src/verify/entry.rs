//! Whether Intel's VM entry accepts what a chain into a VMCS made of a domain state.
//!
//! The verdict depends only on the state (its baseline and register) and on the decoded
//! segment the chain left in that register ([`super::entry_context`]): the baseline run
//! through the chain with that register replaced. Per chain, the checks that do not
//! read the register are asked once per baseline and register, the rest per state
//! ([`EntryJudge`]). This replaced a memo of the last verdict per state shared across
//! chains: judging one register costs less than looking the verdict up.

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

#[cfg(test)]
mod tests {
    use super::super::{Workspace, verify_all};
    use crate::profile::{Format, builtin_chains};

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
