//! Whether Intel's VM entry accepts what a chain into a VMCS made of a domain state.
//!
//! The verdict depends only on the state (its baseline and register) and on the decoded
//! segment the chain left in that register ([`super::entry_context`]): the baseline run
//! through the chain with that register replaced. Per chain, the checks that do not
//! read the register are asked once per baseline and register, the rest per state
//! ([`EntryJudge`]). Between the chains of one batch whose baselines came out equal, a
//! class's verdicts (its representative's and its consistent members') are kept per
//! decoded output and handed on ([`MemberVerdicts`]): one look-up per class and chain.
//! Across the classes of a pass, a member's refusal is kept per baseline group,
//! register group, baseline and decoded output ([`PartnerRefusals`]): classes that
//! decode alike share their members' verdicts.
//! An earlier memo of the last verdict per state, shared across all chains, cost more
//! to look up than judging one register does.

use alloc::vec::Vec;

use super::{SegmentState, entry_context};
use crate::arch::{PerSegReg, PrivilegeLevel, SegReg, Segment, Selector};
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

    /// A bit per member of `members` (register, baseline, selector, base) that VM entry
    /// refuses, where each member's output is `decoded` with its own selector and base
    /// (a class's consistent members: `verify::reduce`), or the baseline's register
    /// when `decoded` is `None` (as [`accepts`] takes it). The checks that read neither
    /// ([`vmx_entry::register_accepted_uncarried`]) are asked once per register and
    /// baseline among the members, the ones that read them
    /// ([`vmx_entry::register_accepted_carried`]) per member ([`MemberEntry`]).
    /// `member_refusals_equal_each_members_own_verdict` holds it to [`accepts`] over
    /// the whole domain.
    pub(super) fn refusals(
        &self,
        decoded: Option<Segment>,
        members: impl Iterator<Item = (SegReg, PrivilegeLevel, Selector, u64)>,
    ) -> u64 {
        let Some(rep) = decoded else {
            return members
                .enumerate()
                .fold(0, |refused, (m, (reg, baseline, _, _))| {
                    refused | u64::from(!self.accepts(reg, baseline, None)) << m
                });
        };
        let mut split = MemberEntry::new(rep);
        let mut refused = 0;
        for (m, (reg, baseline, selector, base)) in members.enumerate() {
            let at = baseline.bits() as usize;
            let context = (&self.baselines[at], baseline);
            let accepted = self.apart[at][reg] && split.accepts(context, reg, (selector, base));
            refused |= u64::from(!accepted) << m;
        }
        refused
    }
}

/// VM entry's register checks (SDM Vol. 3C §27.3.1.2, "Checks on Guest Segment
/// Registers") on the members of one class: each member's segment is
/// the representative's decoded output with the member's own selector and base
/// ([`put_carried`]), so the checks that read neither
/// ([`vmx_entry::register_accepted_uncarried`]) give every member of one register and
/// baseline the same verdict and are asked once per (baseline, register), the ones that
/// read them ([`vmx_entry::register_accepted_carried`]) per member. The one place VM
/// entry is split so: [`EntryJudge::refusals`] judges a class's members with it after
/// a chain, [`super::domain::Domain::consistent_partners`] its source states when the
/// class is built. `vm_entry_split_is_each_members_whole_check` holds the two parts,
/// and this from a representative whose selector and base are not the member's, to
/// [`vmx_entry::register_accepted`] over every member of the VMCS domain and of
/// `Domain::refusing_carried_fields`', and
/// `member_refusals_equal_each_members_own_verdict` this to [`accepts`].
pub(super) struct MemberEntry {
    /// The representative's decoded output.
    rep: Segment,
    /// The member being judged: `rep` with its selector and base. One segment
    /// rewritten in place per member: a fresh `Segment { selector, base, ..rep }` each
    /// time was stored whole and reloaded by the check across two overlapping stores,
    /// a store-forwarding stall (BENCHMARKS §2 step 30).
    member: Segment,
    /// Per baseline and register (bit `8 * baseline + register`): whether the checks
    /// reading neither selector nor base were asked, and whether they passed.
    asked: u32,
    passed: u32,
}

impl MemberEntry {
    /// The split for members of a class whose representative decoded as `rep`.
    pub(super) fn new(rep: Segment) -> Self {
        MemberEntry {
            rep,
            member: rep,
            asked: 0,
            passed: 0,
        }
    }

    /// Whether VM entry's checks of `reg` accept, in `context.0` (the baseline at CPL
    /// `context.1`), the member whose selector and base are `carried`, under KVM's
    /// controls for the context's EFER: [`MemberEntry::uncarried_accepts`] and
    /// [`MemberEntry::carried_accepts`]. The checks apart from `reg` are the caller's.
    #[inline(always)]
    pub(super) fn accepts(
        &mut self,
        context: (&SegmentState, PrivilegeLevel),
        reg: SegReg,
        carried: (Selector, u64),
    ) -> bool {
        self.uncarried_accepts(context, reg) && self.carried_accepts(context.0, reg, carried)
    }

    /// Whether VM entry's checks of `reg` that read neither its selector nor its base
    /// accept the members of `reg` at baseline `context.1` (one verdict for them all),
    /// asked the first time only.
    #[inline(always)]
    pub(super) fn uncarried_accepts(
        &mut self,
        (context, baseline): (&SegmentState, PrivilegeLevel),
        reg: SegReg,
    ) -> bool {
        let bit = 1u32 << (baseline.bits() as usize * SegReg::ALL.len() + reg.index());
        #[cfg(all(test, feature = "std"))]
        if self.asked & bit != 0 {
            SHARED_UNCARRIED.with(|n| n.set(n.get() + 1));
        }
        if self.asked & bit == 0 {
            self.asked |= bit;
            let controls = VmxEntryControls::kvm_default(context.efer);
            if vmx_entry::register_accepted_uncarried(context, controls, reg, &self.rep) {
                self.passed |= bit;
            }
        }
        self.passed & bit != 0
    }

    /// Whether VM entry's checks of `reg` that read its selector or base accept the
    /// member whose selector and base are `carried`, in `context`.
    #[inline(always)]
    pub(super) fn carried_accepts(
        &mut self,
        context: &SegmentState,
        reg: SegReg,
        carried: (Selector, u64),
    ) -> bool {
        put_carried(&mut self.member, carried);
        let controls = VmxEntryControls::kvm_default(context.efer);
        vmx_entry::register_accepted_carried(context, controls, reg, &self.member)
    }
}

/// Puts a class member's own selector and base, `carried` (what its list carries,
/// [`super::domain::Domain::carried`]), onto `seg`, its representative's decoded
/// output: the member's decoded output, since each op carries both and decoding copies
/// them (`verify::reduce`).
#[inline(always)]
pub(super) fn put_carried(seg: &mut Segment, (selector, base): (Selector, u64)) {
    seg.selector = selector;
    seg.base = base;
}

/// The VM-entry verdicts of one batch's classes, kept for the next chains of the
/// batch: the representative's verdict and each consistent member's are functions of
/// the baselines the chain made ([`EntryJudge`]) and of the representative's decoded
/// output (a member's is that with its own selector and base), so a chain whose
/// baselines and output for a class equal an earlier chain's gets that chain's
/// verdicts without asking again. Nothing about the checks is assumed: only equal
/// inputs share a verdict. `shared_workspaces_give_each_chains_own_report` holds each
/// chain's report equal to its report verified alone, where nothing is shared.
#[derive(Default)]
pub(super) struct MemberVerdicts {
    /// Per class of the batch, what earlier chains found: their baselines' group
    /// ([`baseline_groups`]), the representative's decoded output, and the verdicts.
    seen: Vec<Vec<(u16, Option<Segment>, ClassVerdicts)>>,
}

/// What VM entry said of one class for one (baselines, decoded output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ClassVerdicts {
    /// Whether it accepts the representative's output. Asked, and read, only for a
    /// consistent representative (a state's consistency is the same for every chain);
    /// `true` for the others.
    pub(super) representative: bool,
    /// A bit per consistent member (in domain order) that it refuses.
    pub(super) refused: u64,
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

    /// The verdicts an earlier chain of baseline group `group` found for class `class`
    /// of the batch with the representative's output decoded as `decoded`.
    pub(super) fn get(
        &self,
        class: usize,
        group: u16,
        decoded: Option<Segment>,
    ) -> Option<ClassVerdicts> {
        let found = self.seen[class]
            .iter()
            .find(|(g, d, _)| *g == group && *d == decoded)
            .map(|&(_, _, verdicts)| verdicts);
        #[cfg(all(test, feature = "std"))]
        if found.is_some() {
            SHARED.with(|n| n.set(n.get() + 1));
        }
        found
    }

    /// Whether no earlier chain kept anything for class `class` of the batch, where
    /// [`MemberVerdicts::get`] finds nothing: asked first, inline, so that the caller
    /// neither calls it nor copies the decoded output it has just made with narrow
    /// stores, which a copy's wide loads wait on (`BENCHMARKS.md` §2, step 46).
    #[inline(always)]
    pub(super) fn none_for(&self, class: usize) -> bool {
        self.seen[class].is_empty()
    }

    /// Keeps what a chain found (see [`MemberVerdicts::get`]).
    pub(super) fn keep(
        &mut self,
        class: usize,
        group: u16,
        decoded: Option<Segment>,
        verdicts: ClassVerdicts,
    ) {
        self.seen[class].push((group, decoded, verdicts));
    }
}

/// The VM-entry refusals of a batch's class members, kept across the classes of a
/// pass: a member's output is the representative's decoded output with the member's
/// selector and base, and those come from its list alone ([`super::domain::Domain::carried`]:
/// the list's register and RPL, and the baseline), so its verdict is a function of the
/// chain's baselines (their group), the register group (the lists), the baseline and
/// the decoded output, whatever the class. Chains into a VMCS canonicalise, so many
/// classes of a batch decode alike and the members of each after the first take their
/// verdicts from here. Per key, a bit per list of the group (the group's partners,
/// [`super::reduce`]): whether it is known, and whether VM entry refuses it.
///
/// Direct-mapped: a key that lands in a taken slot replaces what was there, so memory
/// is fixed and a look-up is one comparison. Nothing about the checks is assumed: only
/// equal keys share. `partner_refusals_shared_across_classes_are_each_classes_own`
/// holds every class's refusals from here to those judged for it alone.
pub(super) struct PartnerRefusals {
    slots: Vec<PartnerSlot>,
}

/// What [`PartnerRefusals`] keeps under one key.
#[derive(Clone, Copy)]
struct PartnerSlot {
    key: Option<PartnerKey>,
    /// A bit per list of the group whose verdict is known.
    known: u16,
    /// A bit per known list whose member VM entry refuses.
    refused: u16,
}

/// What a member's VM-entry verdict depends on beside its list ([`PartnerRefusals`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct PartnerKey {
    /// The chain's baselines' group ([`baseline_groups`]).
    pub(super) group: u16,
    /// The register group's leader: whose lists the bits name.
    pub(super) reg: SegReg,
    /// The members' baseline (the representative's).
    pub(super) baseline: PrivilegeLevel,
    /// The representative's decoded output.
    pub(super) decoded: Option<Segment>,
}

impl PartnerKey {
    /// A slot for this key among `1 << bits`: a multiply-shift of its fields packed
    /// into words (spreading keys over the slots is all it needs to do).
    fn slot(&self, bits: u32) -> usize {
        let (mut low, mut base) = (0u64, 0u64);
        if let Some(s) = self.decoded {
            low = u64::from(s.selector.0)
                | u64::from(s.limit) << 16
                | u64::from(s.attributes.to_word()) << 48;
            base = s.base ^ u64::from(s.unusable) << 63;
        }
        let tag = u64::from(self.group)
            | (self.reg as u64) << 16
            | u64::from(self.baseline.bits()) << 20
            | u64::from(self.decoded.is_some()) << 22;
        let mixed =
            (low ^ base.rotate_left(23) ^ tag.rotate_left(41)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed >> (64 - bits)) as usize
    }
}

impl Default for PartnerRefusals {
    fn default() -> Self {
        let empty = PartnerSlot {
            key: None,
            known: 0,
            refused: 0,
        };
        PartnerRefusals {
            slots: alloc::vec![empty; 1 << Self::SLOT_BITS],
        }
    }
}

impl PartnerRefusals {
    /// log2 of the slots (each about 40 bytes).
    const SLOT_BITS: u32 = 9;

    /// The refusals among the lists `wanted` (a bit per list of the group) under
    /// `key`, in the order of `wanted`'s bits (bit `m` for its `m`-th set bit, as
    /// [`EntryJudge::refusals`] gives them): those not yet known under `key` judged by
    /// `judge_missing` (given their bits, it gives their refusals in that order) and
    /// kept.
    pub(super) fn refusals(
        &mut self,
        key: PartnerKey,
        wanted: u16,
        judge_missing: impl FnOnce(u16) -> u64,
    ) -> u64 {
        let slot = &mut self.slots[key.slot(Self::SLOT_BITS)];
        if slot.key != Some(key) {
            *slot = PartnerSlot {
                key: Some(key),
                known: 0,
                refused: 0,
            };
        }
        let missing = wanted & !slot.known;
        #[cfg(all(test, feature = "std"))]
        SHARED_PARTNERS.with(|n| n.set(n.get() + (wanted & slot.known).count_ones() as usize));
        if missing != 0 {
            slot.refused |= spread(judge_missing(missing), missing);
            slot.known |= missing;
        }
        gather(slot.refused, wanted)
    }
}

/// `packed`'s bits, the `m`-th put at the `m`-th set bit of `mask`.
fn spread(packed: u64, mask: u16) -> u16 {
    // Every list of a class consistent, the most common mask: bit `m` is bit `m`.
    if low_run(mask) {
        return packed as u16 & mask;
    }
    spread_bit_by_bit(packed, mask)
}

/// [`spread`], a bit at a time.
fn spread_bit_by_bit(packed: u64, mask: u16) -> u16 {
    let (mut out, mut left, mut m) = (0u16, mask, 0);
    while left != 0 {
        let bit = left & left.wrapping_neg();
        if packed >> m & 1 != 0 {
            out |= bit;
        }
        left &= left - 1;
        m += 1;
    }
    out
}

/// The bits of `bits` at `mask`'s set bits, packed: the inverse of [`spread`].
fn gather(bits: u16, mask: u16) -> u64 {
    if low_run(mask) {
        return u64::from(bits & mask);
    }
    gather_bit_by_bit(bits, mask)
}

/// [`gather`], a bit at a time.
fn gather_bit_by_bit(bits: u16, mask: u16) -> u64 {
    let (mut out, mut left, mut m) = (0u64, mask, 0);
    while left != 0 {
        let bit = left & left.wrapping_neg();
        out |= u64::from(bits & bit != 0) << m;
        left &= left - 1;
        m += 1;
    }
    out
}

/// True when `mask`'s set bits are its lowest (none, or bits `0..k`): then its `m`-th
/// set bit is bit `m`, and [`spread`] and [`gather`] are a mask rather than a walk of
/// the bits (`BENCHMARKS.md` §2, step 47). `spread_and_gather_of_low_runs_are_bit_by_bit`
/// holds both to the walk over every mask.
#[inline(always)]
fn low_run(mask: u16) -> bool {
    let mask = u32::from(mask);
    mask & (mask + 1) == 0
}

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// How many times [`MemberVerdicts::get`] handed a chain an earlier chain's
    /// verdicts: the tests see that the sharing they hold harmless really happens.
    static SHARED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    /// How many of those gave a representative its VM-entry verdict (`verify::reduce`).
    pub(super) static SHARED_REPRESENTATIVE: core::cell::Cell<usize> =
        const { core::cell::Cell::new(0) };
    /// How many times [`MemberEntry::uncarried_accepts`] gave a member the verdict of
    /// the checks that read neither selector nor base from an earlier member.
    static SHARED_UNCARRIED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    /// How many members [`PartnerRefusals::refusals`] gave a verdict found for an
    /// earlier class.
    pub(super) static SHARED_PARTNERS: core::cell::Cell<usize> =
        const { core::cell::Cell::new(0) };
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
mod tests;
