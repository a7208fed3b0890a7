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
//! AVL is folded in the same way for a chain whose every op carries it
//! (`twins::carries_avl`: KVM's and QEMU's get and set, and the other stacks' conversions,
//! but for the rules that zero it or read it): a clean state with AVL set gets the
//! verdict of its AVL-clear twin ([`Domain::avl_twin`]: the same state but for AVL) on
//! every property, because
//!
//! - the twin's output is the representative's with AVL set, and so is its second trip
//!   (each op carries AVL and computes nothing from it): the CPL byte and SS.DPL are the
//!   representative's, and one output equals its second trip iff the other does;
//! - decoding copies AVL and refuses nothing for it, and the normalisation neither reads
//!   nor changes it, so the twin's decoded output and expected segment are the
//!   representative's with AVL set, AVL clear on both sides of the representative's:
//!   they are equal iff the representative's are (had one side dropped AVL and the
//!   other kept it, the twin would lose an attribute the representative does not);
//! - no architectural or VM-entry check reads AVL ([`crate::check::arch::reads`],
//!   [`crate::check::vmx_entry::reads`]): the twin and its class members are consistent
//!   iff the representative and its members are, and VM entry refuses the same ones.
//!
//! A twin class is counted with its AVL-clear class and run only for the
//! counterexamples it may add, at its own place in class order (`twins`), so reports
//! are those of every class run. A chain with an op that does not carry AVL runs every
//! class ([`Avl::Apart`]).
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
//! anew (once per kind of check: [`Domain::consistent_partners`]). A class keeps no
//! state, only that position and a bit per consistent member: the representative is
//! made again where it is read, once per batch. That this is what the domain holds is
//! checked, not assumed:
//! `classes_cover_the_domain_once` makes every state of the three domains and holds each
//! member `alike` its representative (equal but for the carried fields and the data
//! register) and each consistent member equal to the state at its index, so a change
//! to the domain that breaks the structure fails it. The tests hold the reduced
//! reports equal to [`super::Workspace::verify_unreduced`]'s for every built-in chain
//! and every chain with a rule switched off, AVL folded in or not; `ops_carry_avl`,
//! `normalisation_and_decoding_carry_avl` and `folded_reports_equal_the_twins_run_apart`
//! hold the AVL folding to the points above.

use alloc::vec::Vec;

mod class;
mod garbage;
mod pass;
mod twins;

use class::{AVL_TWIN, NO_TWIN, Shape};
pub(super) use class::{Batch, Class};
pub(super) use twins::{Avl, avl};

use super::domain::{Domain, SharedVerdicts};
use super::entry::{
    self, ClassVerdicts, EntryJudge, MemberVerdicts, PartnerKey, PartnerRefusals, put_carried,
};
use super::normalise_masks::RegisterMasks;
use super::trips;
use super::{
    BATCH, BatchRun, ChainReport, DomainState, Property, SegmentState, Verdict, Workspace,
    WrongSourceFormat, judge, judge_by,
};
use crate::arch::{PerSegReg, PrivilegeLevel, SegReg, Segment, Selector};
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

/// The domain's classes.
#[derive(Debug, Default)]
pub(super) struct Classes {
    /// Every class: what chains that do not carry AVL run ([`Avl::Apart`]); but the
    /// classes of AVL-set twins ([`AVL_TWIN`]), what chains carrying AVL run
    /// ([`Avl::Folded`]), each AVL-clear class naming its twins' ([`Class::twin`]). One
    /// list for both, so that the folded classes are not a second copy to write (most of
    /// the fresh pages `verify` touches are these lists').
    whole: Vec<Class>,
    /// Per group leader, the (register, RPL) lists at whose position its classes'
    /// members sit, in domain order ([`partners`]; empty for the other registers): what
    /// a bit of [`Class::consistent`] names.
    partners: PerSegReg<Vec<(SegReg, PrivilegeLevel)>>,
    /// Per garbage class (from [`Classes::first_garbage`] on, in class order), its byte
    /// and the place in [`Classes::whole`] of its clean counterpart's class (`garbage`):
    /// what a chain folding garbage reads.
    garbage_counterparts: Vec<garbage::Counterpart>,
    /// The place of the first garbage class: the classes after the groups'.
    first_garbage: u32,
}

/// What sets a class member apart from its representative, and where its register
/// sits: its selector and base, its register and its baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Carried {
    base: u64,
    selector: u16,
    reg: SegReg,
    baseline: PrivilegeLevel,
}

impl Carried {
    /// The member of a class whose representative has baseline `baseline`, from the
    /// list of `reg` and `rpl`: what it takes from the list ([`Domain::carried`]).
    fn of(domain: &Domain, baseline: PrivilegeLevel, (reg, rpl): (SegReg, PrivilegeLevel)) -> Self {
        let (selector, base) = domain.carried(baseline, reg, rpl);
        Carried {
            base,
            selector: selector.0,
            reg,
            baseline,
        }
    }

    /// `decoded`, a decoding of the representative's output, with this member's
    /// selector and base: the decoding of the member's output, since each op carries
    /// both and decoding copies them (module doc).
    fn onto(self, decoded: Option<Segment>) -> Option<Segment> {
        decoded.map(|mut s| {
            put_carried(&mut s, (Selector(self.selector), self.base));
            s
        })
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

/// Most members a class can have: one per (register, RPL) pair of the largest group,
/// the data registers' ([`group`]; the others are one register each).
const MAX_CLASS: usize = {
    let (mut data, mut i) = (0, 0);
    while i < SegReg::ALL.len() {
        data += SegReg::ALL[i].is_data() as usize;
        i += 1;
    }
    data * PrivilegeLevel::ALL.len()
};
// Every member but the representative gets a bit in `MemberVerdicts` and in
// `Class.consistent`, and a class's length is five bits of its `Shape`.
const _: () = assert!(
    MAX_CLASS - 1 <= MemberVerdicts::MAX_MEMBERS
        && MAX_CLASS - 1 <= u16::BITS as usize
        && MAX_CLASS < 1 << 5
);

impl Classes {
    /// Emptied, with room for `classes` classes, `garbage` of them garbage classes
    /// (reserved, not touched: only what is pushed is written). The buffers are kept: the
    /// pages an earlier domain's classes touched are written again rather than faulted in
    /// and zeroed afresh. Each is sized once: grown by doubling, the garbage
    /// counterparts' list wrote each of its earlier copies to fresh pages too.
    fn emptied(mut self, (classes, garbage): (usize, usize)) -> Self {
        self.whole.clear();
        self.whole.reserve(classes);
        self.garbage_counterparts.clear();
        self.garbage_counterparts.reserve(garbage);
        for lists in &mut self.partners.0 {
            lists.clear();
        }
        self
    }

    /// Adds the class of `rep`, at position `at.2` of the list of its register and RPL
    /// `at.1` (index `at.0` in domain order), and of the states at the same position of
    /// the lists `partners` (each a register of `rep`'s group and a selector RPL): `rep`
    /// with each list's carried fields, judged for consistency. `twin` says where its
    /// AVL twins' class goes in [`Classes::whole`] (`Some`), or that it is that class
    /// (`None`), if it has one.
    fn push(
        &mut self,
        domain: &Domain,
        (at, rep): ((usize, PrivilegeLevel, usize), &DomainState),
        partners: &[(SegReg, PrivilegeLevel)],
        twin: Option<Option<usize>>,
        shared: &mut SharedVerdicts,
    ) {
        let (index, rpl, position) = at;
        #[cfg(not(test))]
        let _ = index;
        // A bit per consistent member in `Class.consistent` and in what `MemberVerdicts`
        // keeps: a class's members are distinct (register, RPL) pairs of one group
        // ([`classes`]), so it fits (`MAX_CLASS`, checked at compile time).
        debug_assert!(partners.len() < MAX_CLASS, "{} partners", partners.len());
        let ordinal = u32::try_from(self.whole.len()).expect("fewer than 2^32 classes");
        let twin = match twin {
            Some(None) => AVL_TWIN,
            Some(Some(twin)) => twin as u32,
            None => NO_TWIN,
        };
        let class = Class {
            #[cfg(test)]
            index: index as u32,
            #[cfg(test)]
            ordinal,
            twin: Class::twin_field(ordinal, twin),
            position: u16::try_from(position).expect("a list of at most 65,536 states"),
            consistent: domain.consistent_partners(rep, partners, shared),
            reg: rep.reg,
            shape: Shape::new(rpl, rep.consistent, partners.len() + 1),
        };
        self.whole.push(class);
    }

    /// Adds the class of the AVL twins at `at` (as [`Classes::push`]'s) whose AVL-clear
    /// class is [`Classes::whole`]'s `clear`, from that class: no state is made and
    /// nothing judged. Its representative and members are the AVL-clear class's with
    /// AVL set, and no architectural or VM-entry check reads AVL (module doc), so each
    /// is consistent iff its AVL-clear counterpart is: the same bits, the same
    /// representative's verdict, the same members. Half the clean classes are twins;
    /// making and judging them was about 7% of `verify --threads 1`'s instructions
    /// (callgrind: 1,702 million before, 1,589 after) and of its CPU time
    /// (`BENCHMARKS.md` §2, step 47).
    /// `avl_twins_classes_are_judged_as_their_own` holds each to its own judging.
    fn push_avl_twins(
        &mut self,
        (index, rpl, position): (usize, PrivilegeLevel, usize),
        clear: usize,
    ) {
        #[cfg(not(test))]
        let _ = index;
        let ordinal = u32::try_from(self.whole.len()).expect("fewer than 2^32 classes");
        let of = self.whole[clear];
        debug_assert_eq!(
            of.twin(clear as u32),
            ordinal,
            "the AVL-clear class's twins"
        );
        self.whole.push(Class {
            #[cfg(test)]
            index: index as u32,
            #[cfg(test)]
            ordinal,
            twin: Class::twin_field(ordinal, AVL_TWIN),
            position: u16::try_from(position).expect("a list of at most 65,536 states"),
            ..of
        });
        debug_assert_eq!(rpl, of.rpl());
    }

    /// The classes chains folding AVL twins in run ([`Avl::Folded`]), in class order.
    #[cfg(test)]
    fn avl_folded(&self) -> Vec<Class> {
        let folded = self.whole.iter().filter(|c| !c.is_avl_twin());
        folded.copied().collect()
    }

    /// The classes in batches of one register (at most [`BATCH`]), each batch with the
    /// place of its first class in [`Classes::whole`], AVL twins apart or folded: runs
    /// of classes adjacent in the whole list (always with AVL twins apart; folded, a run
    /// of AVL-clear classes between two of twins, 256 classes of a 12- or 13-bit
    /// attribute word with AVL at bit 8, 1,024 for a VMCB's SS, whose four CPL bytes sit
    /// below, or lone states). Batch bounds change nothing but how many classes a chain
    /// runs at once: each chain sees the classes in class order.
    pub(super) fn placed_batches(&self, avl: Avl) -> impl Iterator<Item = Batch<'_>> + '_ {
        // Folded, the runs between the twins' classes.
        let runs = move |c: &Class| avl == Avl::Apart || !c.is_avl_twin();
        let whole = self
            .whole
            .chunk_by(move |a, b| a.reg == b.reg && runs(a) == runs(b));
        // Each run's place: the runs cover the whole list, in order.
        let mut next = 0u32;
        let placed = whole.map(move |run| {
            let first = next;
            next += run.len() as u32;
            (first, run)
        });
        placed
            .filter(move |(_, run)| runs(&run[0]))
            .flat_map(|(first, run)| {
                let chunks = (first..).step_by(BATCH).zip(run.chunks(BATCH));
                chunks.map(|(first, classes)| Batch { first, classes })
            })
    }

    /// [`Classes::placed_batches`]' classes, without their places.
    #[cfg(test)]
    pub(super) fn batches(&self, avl: Avl) -> impl Iterator<Item = &[Class]> + '_ {
        self.placed_batches(avl).map(|b| b.classes)
    }

    /// The members after the representative `rep` of class `c` whose source state is
    /// consistent, in domain order: what sets each apart, made from the group's lists.
    fn consistent_members<'a>(
        &'a self,
        domain: &'a Domain,
        c: &Class,
        rep: &DomainState,
    ) -> impl Iterator<Item = Carried> + Clone + 'a {
        self.listed_members(domain, (c.reg, rep.baseline), c.consistent)
    }

    /// The members at baseline `at.1` of the lists of `at.0`'s group that `lists` has a
    /// bit for (bit `i` for the `i`-th list), in domain order.
    fn listed_members<'a>(
        &'a self,
        domain: &'a Domain,
        (reg, baseline): (SegReg, PrivilegeLevel),
        lists: u16,
    ) -> impl Iterator<Item = Carried> + Clone + 'a {
        let mut left = lists;
        let lists = &self.partners[reg];
        core::iter::from_fn(move || {
            let i = left.trailing_zeros() as usize;
            left &= left.wrapping_sub(1);
            lists
                .get(i)
                .map(|&list| Carried::of(domain, baseline, list))
        })
    }

    /// Which of class `c`'s consistent members (a bit each, in
    /// [`Classes::consistent_members`]' order) VM entry refuses, each member's output
    /// being `decoded`, the representative's (`rep`'s output's), with its own selector
    /// and base: judged for the class alone.
    fn member_refusals(
        &self,
        domain: &Domain,
        (c, rep): (&Class, &DomainState),
        judge: &EntryJudge<'_>,
        decoded: Option<Segment>,
    ) -> u64 {
        let at = (c.reg, rep.baseline);
        self.listed_refusals(domain, at, c.consistent, (judge, decoded))
    }

    /// Which of the members [`Classes::listed_members`] gives for `lists` VM entry
    /// refuses (a bit each, in that order), each member's output being `decoded` with
    /// its own selector and base.
    fn listed_refusals(
        &self,
        domain: &Domain,
        at: (SegReg, PrivilegeLevel),
        lists: u16,
        (judge, decoded): (&EntryJudge<'_>, Option<Segment>),
    ) -> u64 {
        let members = self.listed_members(domain, at, lists);
        let carried = members.map(|m| (m.reg, m.baseline, Selector(m.selector), m.base));
        judge.refusals(decoded, carried)
    }

    /// [`Classes::member_refusals`], from what earlier classes of the chain's baseline
    /// group `group` found for the same lists, baseline and decoded output (`known`),
    /// the rest judged and kept there. Under the tests, each class's are held to those
    /// judged for it alone
    /// (`partner_refusals_shared_across_classes_are_each_classes_own`).
    fn shared_member_refusals(
        &self,
        domain: &Domain,
        (c, rep): (&Class, &DomainState),
        (judge, group): (&EntryJudge<'_>, u16),
        decoded: Option<Segment>,
        known: &mut PartnerRefusals,
    ) -> u64 {
        let key = PartnerKey {
            group,
            reg: c.reg,
            baseline: rep.baseline,
            decoded,
        };
        let shared = known.refusals(key, c.consistent, |missing| {
            self.listed_refusals(domain, (c.reg, rep.baseline), missing, (judge, decoded))
        });
        #[cfg(all(test, feature = "std"))]
        {
            let alone = self.member_refusals(domain, (c, rep), judge, decoded);
            assert_eq!(shared, alone, "{c:?} {decoded:?}");
            tests::PARTNERS_HELD.with(|n| n.set(n.get() + 1));
        }
        shared
    }
}

impl Workspace {
    /// The representative of class `c`, made from its position ([`Domain::state`], the
    /// one place a state is made), with the verdict on its consistency it was given
    /// when the class was built.
    pub(super) fn representative(&self, c: &Class) -> DomainState {
        let at = (c.reg, c.rpl(), c.position as usize);
        self.domain.state_judged(at, c.judged())
    }

    /// The representatives of `batch`, in its order, made into `into`: what the batch's
    /// chains run. `into` is cut or grown to the batch's length and every slot made
    /// again, so nothing from an earlier batch, nor the filler it is grown with, is left.
    pub(super) fn representatives(&self, batch: &[Class], into: &mut Vec<DomainState>) {
        // Each made straight into its slot: pushed, it was made on the stack and copied,
        // and the copy's wide loads of the narrow stores that made it stalled.
        if let Some(first) = batch.first()
            && into.len() < batch.len()
        {
            into.resize(batch.len(), self.representative(first));
        }
        into.truncate(batch.len());
        for (slot, c) in into.iter_mut().zip(batch) {
            let at = (c.reg, c.rpl(), c.position as usize);
            self.domain.state_judged_into(at, c.judged(), slot);
        }
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
/// representatives are made, and kept by their position; a member is its
/// representative with its list's carried fields, judged for consistency (module doc),
/// and kept as a bit. Built in the buffers of `spare` (another domain's classes, no
/// longer needed, or empty ones).
pub(super) fn classes(domain: &Domain, spare: Classes) -> Classes {
    let leaders = SegReg::ALL.into_iter().filter(|&r| group_leader(r) == r);
    let reps = |leader: SegReg| domain.list_len(leader, PrivilegeLevel::Ring0);
    let n_classes: usize = leaders.clone().map(reps).sum();
    let alone = |reg: SegReg, rpl| reps(group_leader(reg))..domain.list_len(reg, rpl);
    let lists = SegReg::ALL
        .into_iter()
        .flat_map(|reg| PrivilegeLevel::ALL.map(|rpl| (reg, rpl)));
    let n_alone: usize = lists.clone().map(|(reg, rpl)| alone(reg, rpl).len()).sum();
    let reserved = (n_classes + n_alone, n_alone);
    let mut out = spare.emptied(reserved);
    let mut shared = SharedVerdicts::default();
    let mut first_of = PerSegReg::from_fn(|_| 0u32);
    for leader in leaders {
        let mut with = core::mem::take(&mut out.partners[leader]);
        with.extend(partners(leader));
        let zero = PrivilegeLevel::Ring0;
        let first = domain.index(leader, zero, 0);
        let first_class = out.whole.len();
        first_of[leader] = first_class as u32;
        for n in 0..reps(leader) {
            // The leader's RPL-0 list is all clean states: each with AVL clear has its
            // twin there, the others are twins.
            let at = (first + n, zero, n);
            // A class of AVL twins judges as its AVL-clear class, made before it.
            if let Some(clear) = domain.avl_clear(leader, n) {
                out.push_avl_twins(at, first_class + clear);
                continue;
            }
            let twin = domain.avl_twin(leader, n).map(|t| first_class + t);
            let rep = &domain.state(leader, zero, n);
            out.push(domain, (at, rep), &with, Some(twin), &mut shared);
        }
        out.partners[leader] = with;
    }
    out.first_garbage = out.whole.len() as u32;
    let mut counterparts = garbage::ListCounterparts::default();
    for (reg, rpl) in lists {
        let first = domain.index(reg, rpl, 0);
        for n in alone(reg, rpl) {
            let leader = first_of[group_leader(reg)];
            let counterpart = counterparts.at(domain, reg, n, leader);
            out.garbage_counterparts
                .push(counterpart.expect("a garbage position"));
            let state = &domain.state(reg, rpl, n);
            out.push(domain, ((first + n, rpl, n), state), &[], None, &mut shared);
        }
    }
    // What was reserved is exactly what was pushed: a reserve short by any amount
    // (even half, which one doubling would hide from a capacity check) grows the
    // list and writes it again to fresh pages (BENCHMARKS §2 step 34).
    let pushed = (out.whole.len(), out.garbage_counterparts.len());
    debug_assert_eq!(pushed, reserved, "classes and counterparts reserved");
    out
}

/// One chain's reduced verification under way: what it keeps from batch to batch.
pub(super) struct ClassRun<'c> {
    chain: &'c Chain,
    baselines: Option<&'c [SegmentState; 4]>,
    entry: Option<EntryJudge<'c>>,
    run: BatchRun,
    report: ChainReport,
    /// AVL twins counted but whose counterexamples may be due ([`Avl::Folded`]).
    twins: twins::Twins,
    /// The garbage states judged with their clean counterpart, if the chain folds any
    /// (`garbage`).
    garbage: Option<garbage::Fold>,
    /// The chain's normalisation of each register as masks, for the representatives.
    masks: PerSegReg<RegisterMasks>,
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
            twins: twins::Twins::default(),
            garbage: None,
            masks: RegisterMasks::for_chain(chain),
        }
    }

    /// The report, once every batch is judged.
    pub(super) fn into_report(self) -> ChainReport {
        self.report
    }
}

impl Workspace {
    /// One batch of classes (one register) through one chain, judged and recorded
    /// (starting from what an earlier chain's first ops made of it when `from` says so:
    /// [`trips::shared_prefixes`]); each class's VM-entry verdicts (its consistent
    /// representative's and consistent members') are taken from, or kept for, the
    /// batch's other chains of the chain's baseline group (`members`, `group`), and its
    /// members' from, or for, the pass's other classes decoded alike (`partners`).
    fn judge_batch(
        &self,
        at: &mut ClassRun<'_>,
        (batch, made, from): (
            Batch<'_>,
            pass::Representatives<'_>,
            Option<trips::Prefix<'_>>,
        ),
        (members, partners, group): (&mut MemberVerdicts, &mut PartnerRefusals, u16),
    ) -> Result<(), WrongSourceFormat> {
        let ClassRun {
            chain,
            baselines,
            entry: judge_entry,
            run,
            report,
            twins,
            garbage,
            masks,
        } = at;
        let (chain, baselines) = (*chain, *baselines);
        let representatives = made.states;
        if let Some(fold) = garbage.as_mut()
            && garbage::Fold::takes(self, batch)
        {
            let judges = (baselines, twins, judge_entry.as_ref());
            let batch = (batch, representatives);
            return self.judge_garbage((chain, run), fold, batch, judges, report);
        }
        let reg = batch.classes[0].reg;
        let masks = &mut masks[reg];
        run.run(chain, (reg, &self.previous[reg]), representatives, from)?;
        let sources = &made.sources[..representatives.len()];
        for (i, (class, state)) in batch.classes.iter().zip(representatives).enumerate() {
            // Its place: counted here (a range zipped with the classes made judging
            // slower, about 2 ms of `verify --threads 1`).
            let ordinal = batch.first + i as u32;
            #[cfg(test)]
            debug_assert_eq!(ordinal, class.ordinal, "a class's place, from its batch's");
            while let Some(twin) = twins.take_before(ordinal) {
                self.record_twin(chain, (baselines, judge_entry.as_ref()), twin, report);
            }
            let (rep_out, again) = run.output(i);
            // What an earlier chain of the batch found for this class, looked up when VM
            // entry is asked about the representative (a consistent one).
            let mut earlier: Option<Option<ClassVerdicts>> = None;
            let entry = |_: &[SegmentState; 4], out: Option<Segment>| {
                // Nothing kept for the class (every class on a batch's first chain):
                // no call, no copy of `out` (`MemberVerdicts::none_for`).
                let found = if members.none_for(i) {
                    // What `get` finds then: nothing, held wherever tests judge.
                    #[cfg(test)]
                    assert_eq!(members.get(i, group, out), None, "class {i} kept");
                    None
                } else {
                    members.get(i, group, out)
                };
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
            // What the masks read of the representative, made once for every chain of
            // the batch.
            let source = sources[i];
            let keeps = |before: &Segment, after: &Segment| {
                masks.keeps_source(chain.ops(), (before, state.cpl, source), after)
            };
            let verdict = judge_by(state, (rep_out, again), baselines, keeps, entry);
            report.executed += 1;
            if let Some(fold) = garbage.as_mut() {
                fold.keep(((class, ordinal), twins.folded()), verdict.failed);
            }
            // VM entry is the representative's own; the rest holds for the class.
            let n = u64::from(class.len());
            let weights = ((n, n), (0, 1));
            let (rest, entry) =
                self.record_entry_apart(chain, state, &verdict, weights, baselines, report);
            // The AVL twins' verdict, if they are folded in (`twins`).
            let failed = (rest, entry != 0);
            // Most classes have no consistent member: nothing more to ask VM entry,
            // and, unless the representative was asked, nothing to keep.
            let (Some(b), Some(entry_judge)) = (baselines, judge_entry.as_ref()) else {
                twins.count(self, (class, ordinal), (failed, 0), report);
                continue;
            };
            if class.consistent == 0 && earlier.is_none() {
                twins.count(self, (class, ordinal), (failed, 0), report);
                continue;
            }
            let consistent = self.classes.consistent_members(&self.domain, class, state);
            let earlier = earlier.unwrap_or_else(|| members.get(i, group, verdict.decoded_out));
            let refused = match earlier {
                Some(v) => v.refused,
                None => {
                    let refused = self.classes.shared_member_refusals(
                        &self.domain,
                        (class, state),
                        (entry_judge, group),
                        verdict.decoded_out,
                        partners,
                    );
                    let representative = entry == 0;
                    let found = ClassVerdicts {
                        representative,
                        refused,
                    };
                    members.keep(i, group, verdict.decoded_out, found);
                    refused
                }
            };
            let refusals = (consistent, refused);
            self.record_refused(chain, (state, rep_out), refusals, (b, 1), report);
            twins.count(self, (class, ordinal), (failed, refused), report);
        }
        Ok(())
    }

    /// Records `verdict` with VM entry apart from the other properties, which are
    /// counted `weights.0` (covered, weight: [`Workspace::record`]), VM entry `weights.1`
    /// (a class's representative's own verdict, not its class's). Gives back the other
    /// properties' bits and VM entry's.
    ///
    /// A verdict that fails nothing is only counted, here where it is judged; one that
    /// fails a property is recorded out of line ([`Workspace::record_failing_apart`]).
    #[inline(always)]
    fn record_entry_apart(
        &self,
        chain: &Chain,
        state: &DomainState,
        verdict: &Verdict<'_>,
        weights: ((u64, u64), (u64, u64)),
        baselines: Option<&[SegmentState; 4]>,
        report: &mut ChainReport,
    ) -> (u8, u8) {
        if verdict.failed == 0 {
            report.count_covered(state, weights.0.0);
            return (0, 0);
        }
        let judged = (chain, state, baselines);
        // A copy, made only here: `verdict` need not live in memory on the clean path.
        self.record_failing_apart(judged, *verdict, weights, report)
    }

    /// [`Workspace::record_entry_apart`] of a verdict that fails a property, on `state`
    /// through `chain` (into a VMCS: its `baselines`). The verdict is a copy: the caller's
    /// need not be kept in memory for a verdict that fails nothing, most of them.
    #[inline(never)]
    fn record_failing_apart(
        &self,
        (chain, state, baselines): (&Chain, &DomainState, Option<&[SegmentState; 4]>),
        mut verdict: Verdict<'_>,
        weights: ((u64, u64), (u64, u64)),
        report: &mut ChainReport,
    ) -> (u8, u8) {
        let entry_bit = 1u8 << Property::VmxEntryRejected.index();
        let entry = verdict.failed & entry_bit;
        verdict.failed &= !entry_bit;
        let rest = verdict.failed;
        self.record(chain, state, &verdict, weights.0, baselines, report);
        if entry != 0 {
            verdict.failed = entry;
            self.record(chain, state, &verdict, weights.1, baselines, report);
        }
        (rest, entry)
    }

    /// Records VM entry's refusal of each consistent member of `state`'s class that
    /// `refused` has a bit for (one per member of `consistent`, in order), each violation
    /// counting `weight` times: each member's output is `rep_out` with its own selector
    /// and base.
    ///
    /// Each refused member is exactly one violation of VM entry, whatever the chain: a
    /// member is consistent (`Carried::member`), `judge` fails VM entry on a consistent
    /// state exactly when the entry verdict says no, and only that bit is kept. A member
    /// is built and judged only while its counterexample is kept (the class's members in
    /// domain order, as judging each in turn did); the rest only count.
    fn record_refused(
        &self,
        chain: &Chain,
        (state, rep_out): (&DomainState, &InFlight),
        (consistent, refused): (impl Iterator<Item = Carried> + Clone, u64),
        (b, weight): (&[SegmentState; 4], u64),
        report: &mut ChainReport,
    ) {
        let entry_bit = 1u8 << Property::VmxEntryRejected.index();
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
            self.record(chain, member, &verdict, (0, weight), Some(b), report);
        }
        if left != 0 {
            let unkept = u64::from(left.count_ones());
            report.count_unkept(Property::VmxEntryRejected, unkept * weight);
            #[cfg(all(test, feature = "std"))]
            tests::COUNTED_UNBUILT.with(|n| n.set(n.get() + left.count_ones() as usize));
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod made_in_place;
#[cfg(test)]
pub(super) mod tests;
