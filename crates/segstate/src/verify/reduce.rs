//! A smaller domain with the same proof: states a chain cannot tell apart are run and
//! judged once, for the whole class.
//!
//! The domain tries every attribute combination with every selector RPL (0-3). Two
//! states that differ only in the RPL of the varied register's selector get the same
//! verdict on every property but VM entry, for every chain whose ops are all
//! [`selector_blind`]:
//!
//! - the chain copies the selector and computes nothing from it, so the two outputs
//!   differ in the selector's RPL only, and so do the second trips (idempotence);
//! - the CPL the output means comes from VMCB.CPL or SS.DPL, not from a selector;
//! - decoding ([`crate::arch::Segment`]'s `TryFrom` of each format) copies the selector
//!   and never refuses one, and the documented normalisation
//!   ([`super::normalise::expected`]) keeps the source's selector: the attribute
//!   comparison sees the same selector on both sides;
//! - the CPL a state means, its baseline and its decoded attributes are those of the
//!   varied register's attributes, not of its RPL ([`super::domain`]).
//!
//! VM entry does read the RPLs (SS.RPL = CS.RPL, RPL ≤ DPL, ...), and whether a source
//! state is consistent does too: for chains ending in a VMCS, VM entry is checked on
//! every consistent member of a class, with the representative's output carrying the
//! member's selector (what the chain makes of it, by the first point).
//!
//! Classes are found, not assumed: the states of each register are split by RPL and
//! paired in domain order; a pair joins a class only if the two states are equal but
//! for the selector's RPL (value, CPL byte, CPL, baseline, decoded attributes), so a
//! change to the domain can only make the reduction smaller, never wrong. The tests
//! hold the reduced reports equal to [`super::Workspace::verify_unreduced`]'s for every
//! built-in chain and every chain with a rule switched off.

use alloc::vec::Vec;

use super::{
    BATCH, ChainReport, DomainState, Property, SegmentState, Workspace, WrongSourceFormat, decode,
    entry_context, judge,
};
use crate::arch::Segment;
use crate::check::vmx_entry::{self, VmxEntryControls};
use crate::profile::{Chain, InFlight, Op, SegmentValue};

/// True when `op` copies the selector and computes nothing from it. Every get and set
/// of `profile/svm.rs`, `vmx.rs` and `qemu.rs` does (`selector: v.selector`, and
/// QEMU's u16 → u32 → u16). An op not listed here is not reduced over until checked.
const fn selector_blind(op: Op) -> bool {
    matches!(
        op,
        Op::SvmGet(_)
            | Op::SvmSet(_)
            | Op::VmxGet(_)
            | Op::VmxSet(_)
            | Op::QemuGet(_)
            | Op::QemuSet(_)
    )
}

/// True when the classes may stand for their members in verifying `chain`.
pub(super) fn applies(chain: &Chain) -> bool {
    chain.ops().iter().all(|&op| selector_blind(op))
}

/// States (indices into the domain) that differ only in the selector's RPL; the first
/// is the one that runs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Class {
    members: [u32; 4],
    len: u8,
}

impl Class {
    const fn one(i: u32) -> Self {
        Class {
            members: [i, 0, 0, 0],
            len: 1,
        }
    }

    fn representative(&self) -> usize {
        self.members[0] as usize
    }

    fn others(&self) -> impl Iterator<Item = usize> + '_ {
        self.members[1..usize::from(self.len)]
            .iter()
            .map(|&i| i as usize)
    }
}

fn selector_of(value: &SegmentValue) -> u16 {
    match value {
        SegmentValue::Vmcb(v) => v.selector,
        SegmentValue::Vmcs(v) => v.selector,
        SegmentValue::Kvm(k) => k.selector,
        SegmentValue::Qemu(q) => q.selector as u16,
    }
}

fn with_selector(value: &SegmentValue, selector: u16) -> SegmentValue {
    let mut v = *value;
    match &mut v {
        SegmentValue::Vmcb(s) => s.selector = selector,
        SegmentValue::Vmcs(s) => s.selector = selector,
        SegmentValue::Kvm(s) => s.selector = selector,
        SegmentValue::Qemu(s) => s.selector = selector.into(),
    }
    v
}

fn without_rpl(value: &SegmentValue) -> SegmentValue {
    with_selector(value, selector_of(value) & !3)
}

fn decoded_without_rpl(s: Option<Segment>) -> Option<Segment> {
    s.map(|mut s| {
        s.selector.0 &= !3;
        s
    })
}

/// True when `a` and `b` are the same state but for the selector's RPL.
fn alike(a: &DomainState, b: &DomainState) -> bool {
    a.reg == b.reg
        && a.cpl == b.cpl
        && a.baseline == b.baseline
        && a.input.vmcb_cpl == b.input.vmcb_cpl
        && without_rpl(&a.input.value) == without_rpl(&b.input.value)
        && decoded_without_rpl(a.decoded) == decoded_without_rpl(b.decoded)
}

/// The domain's classes: per register, the RPL-0 states in domain order, each with the
/// states of RPL 1-3 at the same position when [`alike`]; then what did not pair.
pub(super) fn classes(states: &[DomainState]) -> Vec<Class> {
    let mut out = Vec::with_capacity(states.len() / 4 + 1);
    let mut start = 0;
    for same_reg in states.chunk_by(|a, b| a.reg == b.reg) {
        let mut by_rpl: [Vec<u32>; 4] = Default::default();
        for (i, s) in same_reg.iter().enumerate() {
            let rpl = usize::from(selector_of(&s.input.value) & 3);
            by_rpl[rpl].push((start + i) as u32);
        }
        let mut joined = alloc::vec![false; same_reg.len()];
        let [zero, rest @ ..] = &by_rpl;
        for (n, &rep) in zero.iter().enumerate() {
            let mut class = Class::one(rep);
            for list in rest {
                if let Some(&m) = list.get(n)
                    && alike(&states[rep as usize], &states[m as usize])
                {
                    class.members[usize::from(class.len)] = m;
                    class.len += 1;
                    joined[m as usize - start] = true;
                }
            }
            out.push(class);
        }
        // Whatever did not pair (the garbage bytes, tried with RPL 3 only) stands alone.
        for &m in rest.iter().flatten() {
            if !joined[m as usize - start] {
                out.push(Class::one(m));
            }
        }
        start += same_reg.len();
    }
    out
}

impl Workspace {
    /// Runs each class's representative through `chain` (in batches of one register)
    /// and records its verdict for the whole class; for chains ending in a VMCS, also
    /// checks VM entry on each consistent member.
    pub(super) fn verify_classes(
        &self,
        chain: &Chain,
        baselines: Option<&[SegmentState; 4]>,
        report: &mut ChainReport,
    ) -> Result<(), WrongSourceFormat> {
        let same_format = chain.source() == chain.destination();
        let entry_bit = 1u8 << Property::VmxEntryRejected.index();
        let mut outs: Vec<InFlight> = Vec::with_capacity(BATCH);
        let mut agains: Vec<InFlight> = Vec::with_capacity(BATCH);
        let reg_of = |c: &Class| self.states[c.representative()].reg;
        let batches = self
            .classes
            .chunk_by(|a, b| reg_of(a) == reg_of(b))
            .flat_map(|same_reg| same_reg.chunks(BATCH));
        for batch in batches {
            let reg = reg_of(&batch[0]);
            outs.clear();
            outs.extend(batch.iter().map(|c| self.states[c.representative()].input));
            chain.run_batch_interpreted(reg, &mut outs, &self.previous[reg])?;
            if same_format {
                agains.clear();
                agains.extend_from_slice(&outs);
                chain.run_batch_interpreted(reg, &mut agains, &self.previous[reg])?;
            }
            for (i, class) in batch.iter().enumerate() {
                let state = &self.states[class.representative()];
                let again = same_format.then(|| agains[i]);
                let mut verdict = judge(chain, state, outs[i], again, baselines);
                report.executed += 1;
                // VM entry is the representative's own; the rest holds for the class.
                let entry = verdict.failed & entry_bit;
                verdict.failed &= !entry_bit;
                let n = u64::from(class.len);
                self.record(chain, state, &verdict, (n, n), baselines, report);
                if entry != 0 {
                    verdict.failed = entry;
                    self.record(chain, state, &verdict, (0, 1), baselines, report);
                }
                let Some(b) = baselines else { continue };
                for m in class.others() {
                    let member = &self.states[m];
                    if !member.consistent {
                        continue;
                    }
                    // The member's output is the representative's with its own selector.
                    let selector = selector_of(&member.input.value);
                    let out = InFlight {
                        value: with_selector(&outs[i].value, selector),
                        ..outs[i]
                    };
                    let whole = entry_context(b, member, decode(&out.value));
                    if !vmx_entry::accepts(&whole, VmxEntryControls::kvm_default(whole.efer)) {
                        let mut verdict = judge(chain, member, out, None, Some(b));
                        verdict.failed &= entry_bit;
                        self.record(chain, member, &verdict, (0, 1), baselines, report);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Format;
    use crate::verify::builtin_chains;

    #[test]
    fn reduced_reports_equal_the_whole_enumeration() {
        let mut workspaces: Vec<Workspace> = Vec::new();
        let mut chains = Vec::new();
        for chain in builtin_chains() {
            for rule in chain.rules().iter() {
                chains.push(chain.without(rule));
            }
            chains.push(chain);
        }
        for chain in &chains {
            assert!(applies(chain), "{chain}");
            let ws = match workspaces.iter().position(|w| w.format == chain.source()) {
                Some(i) => &workspaces[i],
                None => {
                    workspaces.push(Workspace::new(chain.source()));
                    workspaces.last().expect("just pushed")
                }
            };
            let reduced = ws.verify(chain).expect("same source");
            let whole = ws.verify_unreduced(chain).expect("same source");
            assert_eq!(reduced.states, whole.states, "{chain}");
            assert_eq!(reduced.states, ws.states.len() as u64, "{chain}");
            assert_eq!(reduced.garbage_states, whole.garbage_states, "{chain}");
            assert_eq!(reduced.violations, whole.violations, "{chain}");
            assert_eq!(whole.executed, whole.states);
            assert!(reduced.executed < whole.executed, "{chain}");
            for c in &reduced.counterexamples {
                assert!(
                    whole
                        .counterexamples
                        .iter()
                        .any(|w| w.property == c.property)
                );
            }
        }
    }

    #[test]
    fn classes_cover_the_domain_once() {
        for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
            let states = crate::verify::domain::build(format);
            let classes = classes(&states);
            let mut seen = alloc::vec![0u8; states.len()];
            for c in &classes {
                let rep = &states[c.representative()];
                seen[c.representative()] += 1;
                for m in c.others() {
                    assert!(alike(rep, &states[m]));
                    seen[m] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{format}");
            // Every clean state has its three other RPLs; garbage stands alone.
            let garbage = states.iter().filter(|s| s.decoded.is_none()).count();
            assert!(classes.len() <= states.len() / 4 + garbage, "{format}");
        }
    }
}
