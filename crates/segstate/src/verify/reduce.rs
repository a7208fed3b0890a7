//! A smaller domain with the same proof: states a chain cannot tell apart are run and
//! judged once, for the whole class.
//!
//! The domain tries every attribute combination of every register with every selector
//! RPL (0-3). For a chain whose ops are all [`reducible`], the states that differ only
//! in the RPL of the varied register's selector, in its base, and in which of DS, ES,
//! FS and GS it is, get the same verdict on every property but VM entry:
//!
//! - the chain copies the selector and the base and computes nothing from them, and
//!   treats the four data registers alike: the outputs differ in the carried fields
//!   only, and so do the second trips (idempotence);
//! - the previous QEMU cache the 2017 designs read ([`super::domain::previous_caches`])
//!   holds the same flags for the four data registers (all the user data segment), and
//!   no op reads its selector or base;
//! - the CPL the output means comes from VMCB.CPL or SS.DPL, never a data register;
//! - decoding ([`crate::arch::Segment`]'s `TryFrom` of each format) copies selector and
//!   base and refuses neither, and the documented normalisation
//!   ([`super::normalise::expected`]) keeps both and names the four data registers
//!   together: the attribute comparison sees the same carried fields on both sides;
//! - the CPL a state means, its baseline and its decoded attributes are compared
//!   (they come from the attributes, not from the carried fields: [`super::domain`]).
//!
//! VM entry does read RPLs (SS.RPL = CS.RPL, RPL ≤ DPL, ...) and bases (canonical FS
//! and GS, DS and ES below 4 GiB), and whether a source state is consistent does too:
//! for chains ending in a VMCS, VM entry is checked on every consistent member of a
//! class, with the representative's output carrying the member's selector and base
//! (what the chain makes of the member, by the first point).
//!
//! Classes follow from how the domain is made ([`Domain`]): the lists of one register
//! group's (register, RPL) pairs hold the same attribute combinations and limits at the
//! same positions, each state taking only its selector and base from the list
//! ([`Domain::carried`]). So a class is one position across the group's lists, built
//! from its representative without making the other states: each member is the
//! representative with its own carried fields, and only its consistency is judged
//! anew. That this is what the domain holds is checked, not assumed:
//! `classes_cover_the_domain_once` makes every state of the three domains and holds each
//! member `alike` its representative (equal but for the carried fields and the data
//! register) and each consistent member equal to the state at its index, so a change
//! to the domain that breaks the structure fails it. The tests hold the reduced
//! reports equal to [`super::Workspace::verify_unreduced`]'s for every built-in chain
//! and every chain with a rule switched off.

use alloc::vec::Vec;

use super::domain::{Domain, SharedVerdicts};
use super::entry::{self, ClassVerdicts, EntryJudge, MemberVerdicts};
use super::trips;
use super::{
    BATCH, BatchRun, ChainReport, DomainState, Property, SegmentState, Workspace,
    WrongSourceFormat, judge,
};
use crate::arch::{PrivilegeLevel, SegReg, Segment, Selector};
use crate::profile::{Chain, InFlight, Op, SegmentValue, StackValue};

/// True when `op` copies the selector and the base, computes nothing from them, and
/// treats DS, ES, FS and GS alike: a per-register function of the attributes, the
/// limit, the register's group and the CPL byte.
///
/// Every op is: KVM's and QEMU's get and set copy both fields (QEMU's selector
/// u16 → u32 → u16) and name only SS, TR, LDTR and the four data registers together;
/// QEMU's migration hooks leave a register alone when run per register; the other
/// stacks' conversions (`profile/{xen,bhyve,vbox,rustvmm,nested}.rs`) copy selector
/// and base field to field and name only CS, SS, TR and LDTR. This is not taken on
/// trust: `ops_carry_selector_and_base` runs every op of every built-in chain (and of
/// each with a rule switched off) over the values that reach it from the whole domain
/// and checks that alike inputs give alike outputs with the member's carried fields;
/// an op that fails it must be excluded here. A kind of op added later is not reduced
/// over until it is listed here.
const fn reducible(op: Op) -> bool {
    op.is_kvm_or_qemu() || matches!(op, Op::QemuMigrate(..) | Op::Stack(_))
}

/// True when the classes may stand for their members in verifying `chain`.
pub(super) fn applies(chain: &Chain) -> bool {
    chain.ops().iter().all(|&op| reducible(op))
}

/// States a chain cannot tell apart: one position across the lists of a register
/// group's (register, RPL) pairs, or a state alone; the representative (RPL 0 of the
/// group's first register) is the one that runs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Class {
    /// The representative's index in domain order (the tests find the members by it).
    #[cfg(test)]
    index: u32,
    /// How many states it covers, the representative included.
    len: u8,
    /// How many of the members after the representative are consistent.
    consistent: u8,
    /// Where the consistent members' entries start in [`Classes::carried`].
    first_carried: u32,
    /// The representative's register (what a batch shares), kept here so walking the
    /// classes does not touch the states.
    reg: SegReg,
}

/// The domain's classes.
#[derive(Debug, Default)]
pub(super) struct Classes {
    classes: Vec<Class>,
    /// Each class's representative, in class order: what every chain runs, read in
    /// order (a chain touches nothing else of the domain unless a member fails).
    representatives: Vec<DomainState>,
    /// Per consistent member after a representative, in domain order, what the
    /// VM-entry pass needs of it (the other members need nothing but their count).
    carried: Vec<Carried>,
}

/// What sets a class member apart from its representative, and where its register
/// sits: its selector and base, its register and its baseline.
#[derive(Clone, Copy, Debug)]
struct Carried {
    base: u64,
    selector: u16,
    reg: SegReg,
    baseline: PrivilegeLevel,
}

impl Carried {
    /// `decoded`, a decoding of the representative's output, with this member's
    /// selector and base: the decoding of the member's output, since each op carries
    /// both and decoding copies them (module doc).
    fn onto(self, decoded: Option<Segment>) -> Option<Segment> {
        decoded.map(|s| self.put(s))
    }

    /// `s` with this member's selector and base.
    fn put(self, mut s: Segment) -> Segment {
        s.selector = Selector(self.selector);
        s.base = self.base;
        s
    }

    /// The consistent member this stands for, made from its representative `rep`: the
    /// same state but for the carried fields and the register within its group
    /// (`alike`; `classes_cover_the_domain_once` checks it member by member).
    fn member(self, rep: &DomainState) -> DomainState {
        let value = with_base(&with_selector(&rep.input.value, self.selector), self.base);
        DomainState {
            reg: self.reg,
            input: InFlight { value, ..rep.input },
            decoded: self.onto(rep.decoded),
            baseline: self.baseline,
            consistent: true,
            ..*rep
        }
    }
}

/// Most members a class can have: one per (register, RPL) pair, all of one group.
const MAX_CLASS: usize = SegReg::ALL.len() * PrivilegeLevel::ALL.len();
// Every member but the representative gets a bit in `MemberVerdicts`, and `Class.len`
// is a u8.
const _: () = assert!(MAX_CLASS - 1 <= MemberVerdicts::MAX_MEMBERS && MAX_CLASS <= 255);

impl Classes {
    /// Room for `classes` classes and `members` members after their representatives
    /// (reserved, not touched: only what is pushed is written).
    fn with_capacity(classes: usize, members: usize) -> Self {
        Classes {
            classes: Vec::with_capacity(classes),
            representatives: Vec::with_capacity(classes),
            carried: Vec::with_capacity(members),
        }
    }

    /// Adds the class of `rep`, at `index` in domain order, and of the states at the
    /// same position of the lists `partners` (each a register of `rep`'s group and a
    /// selector RPL): `rep` with each list's carried fields, judged for consistency.
    fn push(
        &mut self,
        domain: &Domain,
        (index, rep): (usize, DomainState),
        partners: &[(SegReg, PrivilegeLevel)],
        shared: &mut SharedVerdicts,
    ) {
        #[cfg(not(test))]
        let _ = index;
        // A bit per consistent member in what `MemberVerdicts` keeps: a class's members
        // are distinct (register, RPL) pairs of one group ([`classes`]), so it fits
        // (`MAX_CLASS`, checked at compile time).
        debug_assert!(partners.len() < MAX_CLASS, "{} partners", partners.len());
        let first_carried = self.carried.len();
        if let Some(decoded) = rep.decoded {
            shared.clear();
            domain.share_verdict(&rep, shared);
            for &(reg, rpl) in partners {
                let (selector, base) = domain.carried(rep.baseline, reg, rpl);
                let carried = Carried {
                    base,
                    selector: selector.0,
                    reg,
                    baseline: rep.baseline,
                };
                if domain.is_consistent_sharing(reg, carried.put(decoded), rep.cpl, shared) {
                    self.carried.push(carried);
                }
            }
        }
        self.classes.push(Class {
            #[cfg(test)]
            index: index as u32,
            len: (partners.len() + 1) as u8,
            consistent: (self.carried.len() - first_carried) as u8,
            first_carried: first_carried as u32,
            reg: rep.reg,
        });
        self.representatives.push(rep);
    }

    /// The classes in batches of one register (at most [`BATCH`]), each with its
    /// representatives.
    pub(super) fn batches(&self) -> impl Iterator<Item = (&[Class], &[DomainState])> + '_ {
        let mut at = 0;
        self.classes
            .chunk_by(|a, b| a.reg == b.reg)
            .flat_map(|same_reg| same_reg.chunks(BATCH))
            .map(move |batch| {
                let representatives = &self.representatives[at..at + batch.len()];
                at += batch.len();
                (batch, representatives)
            })
    }

    /// The members after the representative whose source state is consistent, in
    /// domain order: what sets each apart.
    fn consistent_members(&self, c: &Class) -> impl Iterator<Item = Carried> + Clone + '_ {
        let n = usize::from(c.consistent);
        self.carried[c.first_carried as usize..][..n]
            .iter()
            .copied()
    }
}

/// The registers whose states are classed together: each alone, but the four data
/// registers as one.
fn group(reg: SegReg) -> Option<SegReg> {
    if reg.is_data() { None } else { Some(reg) }
}

/// The first register of `reg`'s group in domain order: the one whose RPL-0 list holds
/// the group's representatives (keeping the order counterexamples are found in).
fn group_leader(reg: SegReg) -> SegReg {
    let leader = SegReg::ALL.iter().find(|&&r| group(r) == group(reg));
    *leader.expect("a register is in its own group")
}

/// The (register, RPL) lists whose states at a position join the representative there
/// of `leader`'s list with RPL 0, in domain order: the leader's other RPLs, then every
/// RPL of each other register of the group.
fn partners(leader: SegReg) -> impl Iterator<Item = (SegReg, PrivilegeLevel)> {
    SegReg::ALL
        .into_iter()
        .filter(move |&r| group(r) == group(leader))
        .flat_map(|r| PrivilegeLevel::ALL.map(|rpl| (r, rpl)))
        .filter(move |&pair| pair != (leader, PrivilegeLevel::Ring0))
}

fn with_selector(value: &SegmentValue, selector: u16) -> SegmentValue {
    let mut v = *value;
    match &mut v {
        SegmentValue::Vmcb(s) => s.selector = selector,
        SegmentValue::Vmcs(s) => s.selector = selector,
        SegmentValue::Kvm(s) => s.selector = selector,
        SegmentValue::Qemu(s) => s.selector = selector.into(),
        SegmentValue::Stack(s) => match s {
            StackValue::Xen(v) => v.selector = selector,
            StackValue::Bhyve(v) => v.selector = selector,
            // VirtualBox keeps the selector the hidden parts were loaded for beside it.
            StackValue::Cpum(v) => {
                v.selector = selector;
                v.valid_selector = selector;
            }
            StackValue::Crosvm(v) => v.selector = selector,
            StackValue::Hv(v) => v.selector = selector,
        },
    }
    v
}

fn with_base(value: &SegmentValue, base: u64) -> SegmentValue {
    let mut v = *value;
    match &mut v {
        SegmentValue::Vmcb(s) => s.base = base,
        SegmentValue::Vmcs(s) => s.base = base,
        SegmentValue::Kvm(s) => s.base = base,
        SegmentValue::Qemu(s) => s.base = base,
        SegmentValue::Stack(s) => match s {
            StackValue::Xen(v) => v.base = base,
            StackValue::Bhyve(v) => v.desc.base = base,
            StackValue::Cpum(v) => v.base = base,
            StackValue::Crosvm(v) => v.base = base,
            StackValue::Hv(v) => v.base = base,
        },
    }
    v
}

/// The domain's classes: per register group, its leader's RPL-0 states in domain
/// order, each with the states at the same position of every other (register, RPL)
/// list of the group; then what lies beyond the leader's RPL-0 list (`kvm_segment`'s
/// garbage bytes, tried with RPL 3 only), alone, in domain order. Only the
/// representatives are made; a member is its representative with its list's carried
/// fields, judged for consistency (module doc), and only what verification reads is
/// kept (the representatives, and what sets consistent members apart).
pub(super) fn classes(domain: &Domain) -> Classes {
    let leaders = SegReg::ALL.into_iter().filter(|&r| group_leader(r) == r);
    let reps = |leader: SegReg| domain.list_len(leader, PrivilegeLevel::Ring0);
    let n_classes: usize = leaders.clone().map(reps).sum();
    let alone = |reg: SegReg, rpl| reps(group_leader(reg))..domain.list_len(reg, rpl);
    let lists = SegReg::ALL
        .into_iter()
        .flat_map(|reg| PrivilegeLevel::ALL.map(|rpl| (reg, rpl)));
    let n_alone: usize = lists.clone().map(|(reg, rpl)| alone(reg, rpl).len()).sum();
    let mut out = Classes::with_capacity(
        n_classes + n_alone,
        domain.state_count() - n_classes - n_alone,
    );
    let mut with: Vec<(SegReg, PrivilegeLevel)> = Vec::with_capacity(MAX_CLASS);
    let mut shared = SharedVerdicts::default();
    for leader in leaders {
        with.clear();
        with.extend(partners(leader));
        let zero = PrivilegeLevel::Ring0;
        let first = domain.index(leader, zero, 0);
        for n in 0..reps(leader) {
            out.push(
                domain,
                (first + n, domain.state(leader, zero, n)),
                &with,
                &mut shared,
            );
        }
    }
    for (reg, rpl) in lists {
        let first = domain.index(reg, rpl, 0);
        for n in alone(reg, rpl) {
            out.push(
                domain,
                (first + n, domain.state(reg, rpl, n)),
                &[],
                &mut shared,
            );
        }
    }
    out
}

/// One chain's reduced verification under way: what it keeps from batch to batch.
pub(super) struct ClassRun<'c> {
    chain: &'c Chain,
    baselines: Option<&'c [SegmentState; 4]>,
    entry: Option<EntryJudge<'c>>,
    run: BatchRun,
    report: ChainReport,
}

impl<'c> ClassRun<'c> {
    /// The run of `chain`, whose baselines came out of it as `baselines` (chains into a
    /// VMCS), starting from `report` (empty).
    pub(super) fn new(
        chain: &'c Chain,
        baselines: Option<&'c [SegmentState; 4]>,
        report: ChainReport,
    ) -> Self {
        ClassRun {
            chain,
            baselines,
            entry: baselines.map(EntryJudge::new),
            run: BatchRun::new(chain),
            report,
        }
    }

    /// The report, once every batch is judged.
    pub(super) fn into_report(self) -> ChainReport {
        self.report
    }
}

impl Workspace {
    /// Runs each class's representative through each chain of `runs` (in batches of one
    /// register) and records its verdict for the whole class; for chains ending in a
    /// VMCS, also checks VM entry on each consistent member.
    ///
    /// The batches are the outer loop: every chain judges a batch while its
    /// representatives are in cache, instead of each chain streaming the ~82,000
    /// 72-byte representatives (more than L2) from memory again. Each chain still
    /// sees the batches in order, so its report is the one it gets alone
    /// (`shared_workspaces_give_each_chains_own_report`).
    pub(super) fn verify_classes(
        &self,
        runs: &mut [ClassRun<'_>],
    ) -> Result<(), WrongSourceFormat> {
        let baselines: Vec<_> = runs.iter().map(|r| r.baselines).collect();
        let groups = entry::baseline_groups(&baselines);
        let chains: Vec<&Chain> = runs.iter().map(|r| r.chain).collect();
        let prefixes = trips::shared_prefixes(&chains);
        for &(j, k) in prefixes.iter().flatten() {
            runs[j].run.keep_after(k);
        }
        let mut members = MemberVerdicts::default();
        for (batch, representatives) in self.classes.batches() {
            members.start(batch.len());
            for (i, &group) in groups.iter().enumerate() {
                let (earlier, later) = runs.split_at_mut(i);
                let from = prefixes[i].map(|(j, k)| earlier[j].run.kept(k));
                let batch = (batch, representatives, from);
                self.judge_batch(&mut later[0], batch, (&mut members, group))?;
            }
        }
        Ok(())
    }

    /// One batch of classes (one register) through one chain, judged and recorded
    /// (starting from what an earlier chain's first ops made of it when `from` says so:
    /// [`trips::shared_prefixes`]); each class's VM-entry verdicts (its consistent
    /// representative's and consistent members') are taken from, or kept for, the
    /// batch's other chains of the chain's baseline group (`members`, `group`).
    fn judge_batch(
        &self,
        at: &mut ClassRun<'_>,
        (batch, representatives, from): (&[Class], &[DomainState], Option<trips::Prefix<'_>>),
        (members, group): (&mut MemberVerdicts, u16),
    ) -> Result<(), WrongSourceFormat> {
        let entry_bit = 1u8 << Property::VmxEntryRejected.index();
        let ClassRun {
            chain,
            baselines,
            entry: judge_entry,
            run,
            report,
        } = at;
        let (chain, baselines) = (*chain, *baselines);
        let reg = batch[0].reg;
        run.run(chain, (reg, &self.previous[reg]), representatives, from)?;
        for (i, (class, state)) in batch.iter().zip(representatives).enumerate() {
            let (rep_out, again) = run.output(i);
            // What an earlier chain of the batch found for this class, looked up when VM
            // entry is asked about the representative (a consistent one).
            let mut earlier: Option<Option<ClassVerdicts>> = None;
            let entry = |_: &[SegmentState; 4], out: Option<Segment>| {
                let found = members.get(i, group, out);
                earlier = Some(found);
                found.map_or_else(
                    || {
                        let entry_judge = judge_entry.as_ref().expect("baselines for a VMCS");
                        entry_judge.accepts(state.reg, state.baseline, out)
                    },
                    |v| {
                        #[cfg(all(test, feature = "std"))]
                        entry::SHARED_REPRESENTATIVE.with(|n| n.set(n.get() + 1));
                        v.representative
                    },
                )
            };
            let mut verdict = judge(chain, state, rep_out, again, baselines, entry);
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
            // Most classes have no consistent member: nothing more to ask VM entry,
            // and, unless the representative was asked, nothing to keep.
            let (Some(b), Some(entry_judge)) = (baselines, judge_entry.as_ref()) else {
                continue;
            };
            if class.consistent == 0 && earlier.is_none() {
                continue;
            }
            let consistent = self.classes.consistent_members(class);
            let earlier = earlier.unwrap_or_else(|| members.get(i, group, verdict.decoded_out));
            let refused = match earlier {
                Some(v) => v.refused,
                None => {
                    // The member's output is the representative's with its own
                    // selector and base.
                    let carried = consistent
                        .clone()
                        .map(|c| (c.reg, c.baseline, Selector(c.selector), c.base));
                    let refused = entry_judge.refusals(verdict.decoded_out, carried);
                    let representative = entry == 0;
                    let found = ClassVerdicts {
                        representative,
                        refused,
                    };
                    members.keep(i, group, verdict.decoded_out, found);
                    refused
                }
            };
            // Each refused member is exactly one violation of VM entry, whatever the
            // chain: a member is consistent (`Carried::member`), `judge` fails VM entry
            // on a consistent state exactly when the entry verdict says no, and only
            // that bit is kept. A member is built and judged only while its
            // counterexample is kept (the class's members in domain order, as judging
            // each in turn did); the rest only count.
            let mut left = refused;
            while left != 0 && report.keeps_more(Property::VmxEntryRejected) {
                let m = left.trailing_zeros() as usize;
                left &= left - 1;
                let carried = consistent
                    .clone()
                    .nth(m)
                    .expect("a bit per consistent member");
                let member = &carried.member(state);
                let value = with_base(
                    &with_selector(&rep_out.value, carried.selector),
                    carried.base,
                );
                let out = InFlight { value, ..*rep_out };
                let mut verdict = judge(chain, member, &out, None, Some(b), |_, _| false);
                verdict.failed &= entry_bit;
                debug_assert_eq!(verdict.failed, entry_bit, "a consistent member refused");
                self.record(chain, member, &verdict, (0, 1), baselines, report);
            }
            if left != 0 {
                report.count_unkept(Property::VmxEntryRejected, u64::from(left.count_ones()));
                #[cfg(all(test, feature = "std"))]
                tests::COUNTED_UNBUILT.with(|n| n.set(n.get() + left.count_ones() as usize));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::profile::Format;
    use crate::profile::builtin_chains;

    fn selector_of(value: &SegmentValue) -> u16 {
        match value {
            SegmentValue::Vmcb(v) => v.selector,
            SegmentValue::Vmcs(v) => v.selector,
            SegmentValue::Kvm(k) => k.selector,
            SegmentValue::Qemu(q) => q.selector as u16,
            SegmentValue::Stack(s) => match s {
                StackValue::Xen(v) => v.selector,
                StackValue::Bhyve(v) => v.selector,
                StackValue::Cpum(v) => v.selector,
                StackValue::Crosvm(v) => v.selector,
                StackValue::Hv(v) => v.selector,
            },
        }
    }

    fn base_of(value: &SegmentValue) -> u64 {
        match value {
            SegmentValue::Vmcb(v) => v.base,
            SegmentValue::Vmcs(v) => v.base,
            SegmentValue::Kvm(k) => k.base,
            SegmentValue::Qemu(q) => q.base,
            SegmentValue::Stack(s) => match s {
                StackValue::Xen(v) => v.base,
                StackValue::Bhyve(v) => v.desc.base,
                StackValue::Cpum(v) => v.base,
                StackValue::Crosvm(v) => v.base,
                StackValue::Hv(v) => v.base,
            },
        }
    }

    /// The value with the selector's RPL and the base cleared: what classes compare.
    fn uncarried(value: &SegmentValue) -> SegmentValue {
        with_base(&with_selector(value, selector_of(value) & !3), 0)
    }

    fn decoded_uncarried(s: Option<Segment>) -> Option<Segment> {
        s.map(|mut s| {
            s.selector.0 &= !3;
            s.base = 0;
            s
        })
    }

    /// True when `a` and `b` are the same state but for the register within its
    /// [`group`], the selector's RPL and the base.
    fn alike(a: &DomainState, b: &DomainState) -> bool {
        group(a.reg) == group(b.reg)
            && a.cpl == b.cpl
            && a.baseline == b.baseline
            && a.input.vmcb_cpl == b.input.vmcb_cpl
            && uncarried(&a.input.value) == uncarried(&b.input.value)
            && decoded_uncarried(a.decoded) == decoded_uncarried(b.decoded)
    }

    /// Every built-in chain and each with one rule switched off, with the workspace of
    /// its source format.
    pub(in crate::verify) fn chains_and_workspaces() -> (Vec<Chain>, Vec<Workspace>) {
        let mut chains = Vec::new();
        for chain in builtin_chains() {
            for rule in chain.rules().iter() {
                chains.push(chain.without(rule));
            }
            chains.push(chain);
        }
        let mut workspaces: Vec<Workspace> = Vec::new();
        for chain in &chains {
            if !workspaces.iter().any(|w| w.format == chain.source()) {
                workspaces.push(Workspace::new(chain.source()));
            }
        }
        (chains, workspaces)
    }

    /// The index in domain order of each member after `c`'s representative, from the
    /// class's place in the domain: the states at the representative's position of its
    /// group's other lists.
    fn others(domain: &Domain, c: &Class) -> Vec<usize> {
        if c.len == 1 {
            return Vec::new();
        }
        let n = position(domain, c);
        let out: Vec<usize> = partners(c.reg)
            .map(|(reg, rpl)| domain.index(reg, rpl, n))
            .collect();
        assert_eq!(out.len() + 1, usize::from(c.len));
        out
    }

    /// The representative's position in its list (RPL 0 of its group's leader).
    fn position(domain: &Domain, c: &Class) -> usize {
        assert_eq!(group_leader(c.reg), c.reg);
        c.index as usize - domain.index(c.reg, PrivilegeLevel::Ring0, 0)
    }

    /// The consistent members after `c`'s representative, by their index in domain
    /// order, each with what the classes keep of it.
    fn consistent_others(domain: &Domain, classes: &Classes, c: &Class) -> Vec<(usize, Carried)> {
        let members = classes.consistent_members(c);
        members
            .map(|m| {
                let rpl = Selector(m.selector).rpl();
                (domain.index(m.reg, rpl, position(domain, c)), m)
            })
            .collect()
    }

    pub(in crate::verify) fn workspace_of<'w>(
        workspaces: &'w [Workspace],
        chain: &Chain,
    ) -> &'w Workspace {
        workspaces
            .iter()
            .find(|w| w.format == chain.source())
            .expect("a workspace per source format")
    }

    /// What [`reducible`] states, op by op: over every value that reaches an op from
    /// the whole domain, a class member's input gives the representative's output with
    /// the member's selector and base, and the same CPL byte.
    #[test]
    fn ops_carry_selector_and_base() {
        let (chains, workspaces) = chains_and_workspaces();
        let mut checked = 0u64;
        for chain in &chains {
            let ws = workspace_of(&workspaces, chain);
            let mut trace: Vec<(InFlight, InFlight)> = Vec::new();
            for class in &ws.classes.classes {
                let rep = &ws.domain.state_at(class.index as usize);
                trace.clear();
                chain.interpret_each_op(rep.reg, rep.input, &ws.previous[rep.reg], |_, _, a, b| {
                    trace.push((*a, *b));
                });
                for m in others(&ws.domain, class) {
                    let member = &ws.domain.state_at(m);
                    let prev = &ws.previous[member.reg];
                    chain.interpret_each_op(member.reg, member.input, prev, |i, op, a, b| {
                        let (rep_in, rep_out) = trace[i];
                        assert!(reducible(op));
                        let carried = |v: &SegmentValue, from: &SegmentValue| {
                            with_base(&with_selector(v, selector_of(from)), base_of(from))
                        };
                        // The member's input is the representative's with its own carried
                        // fields (the previous op carried them), ...
                        assert_eq!(carried(&rep_in.value, &a.value), a.value, "{chain}: {op:?}");
                        // ... and so is its output.
                        assert_eq!(
                            carried(&rep_out.value, &a.value),
                            b.value,
                            "{chain}: {op:?} {:?} vs {:?}: {a:?}",
                            rep.reg,
                            member.reg
                        );
                        assert_eq!(rep_out.vmcb_cpl, b.vmcb_cpl, "{chain}: {op:?}");
                        checked += 1;
                    });
                }
            }
        }
        assert!(checked > 1_000_000, "{checked} op applications checked");
    }

    #[cfg(feature = "std")]
    std::thread_local! {
        /// How many refused class members `judge_batch` counted without building or
        /// judging them: the test sees that the shortcut it holds harmless is taken.
        pub(super) static COUNTED_UNBUILT: core::cell::Cell<usize> =
            const { core::cell::Cell::new(0) };
    }

    /// Refused class members past the kept counterexamples are counted, not built
    /// and judged (`judge_batch`): for every built-in chain into a VMCS whose VM entry
    /// refuses states, the kept VM-entry counterexamples are the first refused states
    /// in class order (each representative, then its members in domain order), each
    /// judged alone on the state as the domain holds it, as the unreduced verification
    /// judges it. The counts are held to the whole enumeration's by
    /// `reduced_reports_equal_the_whole_enumeration`. Members really went unbuilt.
    #[cfg(feature = "std")]
    #[test]
    fn refused_members_are_counted_and_the_first_kept() {
        use super::super::{COUNTEREXAMPLES_PER_PROPERTY, evaluate};
        COUNTED_UNBUILT.with(|n| n.set(0));
        let entry_bit = 1u8 << Property::VmxEntryRejected.index();
        let mut workspaces: Vec<Workspace> = Vec::new();
        let mut refusing = 0;
        for chain in builtin_chains() {
            if chain.destination() != Format::Vmcs {
                continue;
            }
            if !workspaces.iter().any(|w| w.format == chain.source()) {
                workspaces.push(Workspace::new(chain.source()));
            }
            let ws = workspace_of(&workspaces, &chain);
            let report = ws.verify(&chain).expect("same source");
            if report.violations(Property::VmxEntryRejected) == 0 {
                continue;
            }
            refusing += 1;
            let kept: Vec<(SegReg, InFlight)> = report
                .counterexamples
                .iter()
                .filter(|c| c.property == Property::VmxEntryRejected)
                .map(|c| (c.reg, c.before))
                .collect();
            let baselines = ws.baseline_outputs(&chain).expect("same source");
            let mut first = Vec::new();
            'classes: for c in &ws.classes.classes {
                for i in core::iter::once(c.index as usize).chain(others(&ws.domain, c)) {
                    let s = ws.domain.state_at(i);
                    let failed = evaluate(&chain, &s, &ws.previous, baselines.as_ref());
                    if failed & entry_bit != 0 {
                        first.push((s.reg, s.input));
                        if first.len() == COUNTEREXAMPLES_PER_PROPERTY {
                            break 'classes;
                        }
                    }
                }
            }
            assert_eq!(kept, first, "{chain}");
        }
        assert!(refusing >= 2, "{refusing} chains refused by VM entry");
        let unbuilt = COUNTED_UNBUILT.with(|n| n.get());
        assert!(
            unbuilt > 100_000,
            "{unbuilt} refused members counted unbuilt"
        );
    }

    #[test]
    fn reduced_reports_equal_the_whole_enumeration() {
        let (chains, workspaces) = chains_and_workspaces();
        for chain in &chains {
            assert!(applies(chain), "{chain}");
            let ws = workspace_of(&workspaces, chain);
            let reduced = ws.verify(chain).expect("same source");
            let whole = ws.verify_unreduced(chain).expect("same source");
            assert_eq!(reduced.states, whole.states, "{chain}");
            assert_eq!(reduced.states, ws.domain.state_count() as u64, "{chain}");
            assert_eq!(reduced.garbage_states, whole.garbage_states, "{chain}");
            assert_eq!(reduced.violations, whole.violations, "{chain}");
            assert_eq!(whole.executed, whole.states);
            assert!(reduced.executed < whole.executed, "{chain}");
            // Each violated property keeps one to three counterexamples, the others none.
            for report in [&reduced, &whole] {
                for p in Property::ALL {
                    let kept = report.counterexamples.iter();
                    let kept = kept.filter(|c| c.property == p).count();
                    let want = if report.violations(p) == 0 {
                        0..=0
                    } else {
                        1..=super::super::COUNTEREXAMPLES_PER_PROPERTY
                    };
                    assert!(want.contains(&kept), "{chain}: {kept} kept of {p}");
                }
            }
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
            let domain = Domain::new(format);
            let states = domain.states();
            let classes = classes(&domain);
            let mut seen = alloc::vec![0u8; states.len()];
            assert_eq!(classes.representatives.len(), classes.classes.len());
            for (c, rep) in classes.classes.iter().zip(&classes.representatives) {
                assert_eq!(*rep, states[c.index as usize], "{format}");
                seen[c.index as usize] += 1;
                assert_eq!(c.reg, rep.reg);
                let others = others(&domain, c);
                for &m in &others {
                    assert!(alike(rep, &states[m]), "{format} {m}");
                    seen[m] += 1;
                }
                // The consistent members, in domain order, and only those, each made
                // from the representative as the state at its index.
                let consistent: Vec<usize> = others
                    .iter()
                    .copied()
                    .filter(|&m| states[m].consistent)
                    .collect();
                let kept = consistent_others(&domain, &classes, c);
                assert_eq!(kept.iter().map(|(m, _)| *m).collect::<Vec<_>>(), consistent);
                for (m, carried) in kept {
                    assert_eq!(carried.member(rep), states[m], "{format}");
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{format}");
            // The states that decode of CS, SS, TR and LDTR come four to a class (one
            // per RPL), those of DS, ES, FS and GS sixteen; garbage stands alone.
            let garbage = states.iter().filter(|s| s.decoded.is_none()).count();
            let n = |regs: &[SegReg]| {
                let clean = states.iter().filter(|s| s.decoded.is_some());
                clean.filter(|s| regs.contains(&s.reg)).count()
            };
            let four = n(&[SegReg::Cs, SegReg::Ss, SegReg::Tr, SegReg::Ldtr]);
            let sixteen = n(&[SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs]);
            assert_eq!(
                classes.classes.len(),
                four / 4 + sixteen / 16 + garbage,
                "{format}"
            );
        }
    }
}
