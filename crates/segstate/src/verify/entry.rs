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
mod tests {
    use std::collections::HashSet;

    use super::super::domain::Domain;
    use super::super::{Workspace, entry_context, source_formats, verify_all};
    use super::{ClassVerdicts, EntryJudge, MemberVerdicts, accepts, baseline_groups};
    use crate::arch::{
        CR0_PE, CR0_PG, CR4_PAE, CR4_PCIDE, EFER_LMA, EFER_LME, PrivilegeLevel, RFLAGS_VM, SegReg,
        Segment, SegmentState, SegmentType, Selector,
    };
    use crate::check::CheckId;
    use crate::check::vmx_entry::{self, Context, Fields, VmxEntryControls, reads};
    use crate::profile::{Format, builtin_chains};

    /// Every distinct (register, baseline, decoded output) of the domains of every
    /// built-in chain's source format: what VM entry is asked about.
    fn domain_outputs() -> Vec<(SegReg, PrivilegeLevel, Option<Segment>)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for format in source_formats(&builtin_chains()) {
            for state in Domain::new(format).states() {
                let key = (state.reg, state.baseline, state.decoded);
                if seen.insert(format!("{key:?}")) {
                    out.push(key);
                }
            }
        }
        out
    }

    /// The VM-entry findings of `state` under `controls`, as (check, register).
    fn verdicts(
        state: &SegmentState,
        controls: VmxEntryControls,
    ) -> HashSet<(CheckId, Option<SegReg>)> {
        vmx_entry::check(state, controls)
            .iter()
            .map(|f| (f.id, f.reg))
            .collect()
    }

    /// `s` changed in `field` in every way the test tries.
    fn changed(s: &Segment, field: Fields) -> Vec<Segment> {
        let with = |f: &dyn Fn(&mut Segment)| {
            let mut t = *s;
            f(&mut t);
            t
        };
        match field {
            Fields::RPL => PrivilegeLevel::ALL
                .map(|rpl| with(&|t| t.selector = t.selector.with_rpl(rpl)))
                .to_vec(),
            Fields::INDEX => [0x4, 0x8, 0xfff8]
                .map(|bits| with(&|t| t.selector.0 ^= bits))
                .to_vec(),
            Fields::BASE => [0, 1 << 32, 0x8000_0000_0000, u64::from(s.selector.0) << 4]
                .map(|base| with(&|t| t.base = base))
                .to_vec(),
            Fields::LIMIT => [0xfff, 0xffff, 0xf_ffff, 0xffff_ffff]
                .map(|limit| with(&|t| t.limit = limit))
                .to_vec(),
            Fields::AVL => vec![with(&|t| t.attributes.avl ^= true)],
            Fields::UNUSABLE => vec![with(&|t| t.unusable ^= true)],
            _ => {
                let mut out: Vec<Segment> = (0..16)
                    .map(|ty| with(&|t| t.attributes.segment_type = SegmentType::from_low_bits(ty)))
                    .collect();
                out.extend(PrivilegeLevel::ALL.map(|dpl| with(&|t| t.attributes.dpl = dpl)));
                out.extend([
                    with(&|t| t.attributes.s ^= true),
                    with(&|t| t.attributes.present ^= true),
                    with(&|t| t.attributes.l ^= true),
                    with(&|t| t.attributes.db ^= true),
                    with(&|t| t.attributes.g ^= true),
                ]);
                out
            }
        }
    }

    /// `state` and `controls` changed in `part` in every way the test tries.
    fn changed_context(
        state: &SegmentState,
        controls: VmxEntryControls,
        part: Context,
    ) -> Vec<(SegmentState, VmxEntryControls)> {
        let with = |f: &dyn Fn(&mut SegmentState, &mut VmxEntryControls)| {
            let (mut s, mut c) = (*state, controls);
            f(&mut s, &mut c);
            (s, c)
        };
        match part {
            Context::CR0 => vec![with(&|s, _| s.cr0 ^= CR0_PE), with(&|s, _| s.cr0 ^= CR0_PG)],
            Context::CR4 => vec![
                with(&|s, _| s.cr4 ^= CR4_PAE),
                with(&|s, _| s.cr4 ^= CR4_PCIDE),
            ],
            Context::EFER => vec![
                with(&|s, _| s.efer ^= EFER_LMA),
                with(&|s, _| s.efer ^= EFER_LME),
            ],
            Context::RFLAGS => vec![
                with(&|s, _| s.rflags ^= RFLAGS_VM),
                with(&|s, _| s.rflags ^= 1 << 3),
                with(&|s, _| s.rflags ^= 1 << 1),
            ],
            Context::UNRESTRICTED_GUEST => vec![with(&|_, c| c.unrestricted_guest ^= true)],
            _ => vec![with(&|_, c| c.ia32e_mode_guest ^= true)],
        }
    }

    /// What [`reads`] declares, held to what the checks do: for every (register,
    /// baseline, decoded output) of the domain, changing one field of the register, or
    /// one part of the rest of the state or the controls, changes the verdict only of
    /// checks that declare they read it. The selector and the base are changed under
    /// KVM's controls and also with unrestricted guest off and in a virtual-8086 guest:
    /// KVM's controls skip the checks those run (`VmxEntrySsRpl`, `VmxEntryDataDplRpl`,
    /// `VmxEntryV8086Base`), whose declarations would otherwise go untried. The split of
    /// [`EntryJudge::refusals`] rests on this for the selector and the base.
    #[test]
    fn reads_cover_what_each_check_reads() {
        let baselines = PrivilegeLevel::ALL.map(super::super::baseline);
        let (mut changes, mut tried) = (0u64, 0u64);
        let mut hold = |(state, controls): (&SegmentState, VmxEntryControls),
                        (before, after): (&HashSet<_>, HashSet<_>),
                        (declared, what): (&dyn Fn(CheckId) -> bool, &str)| {
            tried += 1;
            for &(id, on) in before.symmetric_difference(&after) {
                changes += 1;
                assert!(
                    declared(id),
                    "{id:?} on {on:?} changed with {what} ({controls:?}): {state:?}"
                );
            }
        };
        for (reg, baseline, decoded) in domain_outputs() {
            let whole = entry_context(&baselines, reg, baseline, decoded);
            let controls = VmxEntryControls::kvm_default(whole.efer);
            let restricted = VmxEntryControls {
                unrestricted_guest: false,
                ..controls
            };
            let mut v8086 = whole;
            v8086.rflags |= RFLAGS_VM;
            // Its base as virtual-8086 mode makes it, so a selector change is seen.
            let put = &mut v8086.segments[reg];
            put.base = u64::from(put.selector.0) << 4;
            let settings = [(whole, controls), (whole, restricted), (v8086, controls)];
            for (n, (context, controls)) in settings.into_iter().enumerate() {
                let before = verdicts(&context, controls);
                // Past KVM's own controls, only the fields the split rests on: the
                // attribute changes would make the test several times slower.
                let fields = Fields::EACH
                    .iter()
                    .filter(|f| n == 0 || f.meets(Fields::CARRIED));
                for &field in fields {
                    for seg in changed(&context.segments[reg], field) {
                        let mut after = context;
                        after.segments[reg] = seg;
                        let what = format!("{reg:?} {field:?}");
                        let declared = |id| reads(id).segment.meets(field);
                        let after = verdicts(&after, controls);
                        hold((&context, controls), (&before, after), (&declared, &what));
                    }
                }
            }
            let before = verdicts(&whole, controls);
            for &part in Context::EACH {
                for (after, after_controls) in changed_context(&whole, controls, part) {
                    let what = format!("{part:?}");
                    let declared = |id| reads(id).context.meets(part);
                    let after = verdicts(&after, after_controls);
                    hold((&whole, controls), (&before, after), (&declared, &what));
                }
            }
        }
        // The changes really changed verdicts, or the assertions above checked nothing.
        assert!(
            changes > tried / 10,
            "{changes} verdicts changed in {tried} tries"
        );
    }

    /// [`EntryJudge::refusals`], which asks the checks that read neither selector nor
    /// base once per register and baseline, gives every member the verdict [`accepts`]
    /// gives it alone: over every (register, baseline, decoded output) of the domain,
    /// with members in each register of its class's group, each RPL, two bases and two
    /// baselines. The sharing really happens.
    #[test]
    fn member_refusals_equal_each_members_own_verdict() {
        let baselines = PrivilegeLevel::ALL.map(super::super::baseline);
        let judge = EntryJudge::new(&baselines);
        super::SHARED_UNCARRIED.with(|n| n.set(0));
        let mut members_judged = 0usize;
        for (reg, baseline, decoded) in domain_outputs() {
            let data = [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs];
            let regs: &[SegReg] = if data.contains(&reg) {
                &data
            } else {
                core::slice::from_ref(&reg)
            };
            let other = PrivilegeLevel::from_low_bits(baseline.bits() ^ 3);
            let mut members = Vec::new();
            for &r in regs {
                for rpl in PrivilegeLevel::ALL {
                    let selector = decoded.map_or(Selector(0x2b), |d| d.selector.with_rpl(rpl));
                    for base in [decoded.map_or(0, |d| d.base), 0x8000_0000_0000] {
                        for b in [baseline, other] {
                            members.push((r, b, selector, base));
                        }
                    }
                }
            }
            assert!(members.len() <= MemberVerdicts::MAX_MEMBERS);
            let refused = judge.refusals(decoded, members.iter().copied());
            for (m, &(r, b, selector, base)) in members.iter().enumerate() {
                let out = decoded.map(|s| Segment {
                    selector,
                    base,
                    ..s
                });
                let alone = accepts(&baselines, r, b, out);
                assert_eq!(refused & 1 << m == 0, alone, "{r:?} at {b:?}: {out:?}");
            }
            members_judged += members.len();
        }
        let shared = super::SHARED_UNCARRIED.with(|n| n.get());
        assert!(
            shared > members_judged / 2,
            "{shared} of {members_judged} members shared a verdict"
        );
    }

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
        // `none_for` says "nothing" for a class exactly when nothing is kept for it, so
        // `get` finds nothing whatever the group and output (`judge_batch` skips it).
        let none_for = |kept: &MemberVerdicts| [kept.none_for(0), kept.none_for(1)];
        assert_eq!(none_for(&kept), [true, true]);
        let found = ClassVerdicts {
            representative: false,
            refused: 0b101,
        };
        kept.keep(1, 0, out, found);
        assert_eq!(none_for(&kept), [true, false]);
        assert_eq!(kept.get(1, 0, out), Some(found));
        assert_eq!(kept.get(0, 0, out), None);
        assert_eq!(kept.get(1, 1, out), None);
        assert_eq!(kept.get(1, 0, other), None);
        assert_eq!(kept.get(1, 0, None), None);
        kept.start(2);
        assert_eq!(none_for(&kept), [true, true]);
        assert_eq!(kept.get(1, 0, out), None);
    }

    /// A kept refusal is given back only under an equal key (baseline group, register
    /// group, baseline, decoded output), each list's bit where it was put and in the
    /// order of the lists asked for; lists not yet known under the key are judged, the
    /// known ones are not.
    #[test]
    fn partner_refusals_are_shared_only_under_equal_keys() {
        use super::{PartnerKey, PartnerRefusals, gather, spread};
        let seg = super::super::baseline(PrivilegeLevel::Ring0).segments[SegReg::Ds];
        let key = PartnerKey {
            group: 0,
            reg: SegReg::Es,
            baseline: PrivilegeLevel::Ring0,
            decoded: Some(seg),
        };
        let mut known = PartnerRefusals::default();
        // Lists 1, 4 and 9 asked; 4 refused (the second asked).
        let asked = |mask: u16| {
            move |missing: u16| {
                assert_eq!(missing, mask, "judged again");
                0b010
            }
        };
        assert_eq!(
            known.refusals(key, 0b10_0001_0010, asked(0b10_0001_0010)),
            0b010
        );
        // Known now: only list 6 is judged (refused), in the order of the lists asked.
        let again = known.refusals(key, 0b101_0000, |missing| {
            assert_eq!(missing, 0b100_0000);
            1
        });
        assert_eq!(again, 0b11);
        let mut limit = seg;
        limit.limit ^= 1;
        let others = [
            PartnerKey { group: 1, ..key },
            PartnerKey {
                reg: SegReg::Ss,
                ..key
            },
            PartnerKey {
                baseline: PrivilegeLevel::Ring3,
                ..key
            },
            PartnerKey {
                decoded: Some(limit),
                ..key
            },
            PartnerKey {
                decoded: None,
                ..key
            },
        ];
        for other in others {
            let mut judged = false;
            known.refusals(other, 0b1_0000, |_| {
                judged = true;
                0
            });
            assert!(judged, "shared with a different key");
        }
        assert_eq!(spread(0b101, 0b1011_0000), 0b1001_0000);
        for mask in [0u16, 1, 0b1010, 0x7fff] {
            for packed in [0u64, 0b1, 0b110, 0x7fff] {
                let bits = spread(packed, mask);
                assert_eq!(bits & !mask, 0);
                assert_eq!(gather(bits, mask), packed & ((1 << mask.count_ones()) - 1));
            }
        }
    }

    /// [`spread`] and [`gather`], a mask where `mask` is a run of its lowest bits, give
    /// what the walk a bit at a time gives, for every 16-bit mask and packed or
    /// scattered bits of every kind (none, all, alternating, bits past the mask's):
    /// fails if the shortcut is taken for a mask it does not fit or masks wrongly.
    #[test]
    fn spread_and_gather_of_low_runs_are_bit_by_bit() {
        use super::{gather, gather_bit_by_bit, low_run, spread, spread_bit_by_bit};
        let mut runs = 0;
        for mask in 0..=u16::MAX {
            runs += usize::from(low_run(mask));
            for packed in [0u64, u64::MAX, 0x5555, 0xaaaa, 0x1_0000, 0x7fff, 0xffff] {
                let want = spread_bit_by_bit(packed, mask);
                assert_eq!(spread(packed, mask), want, "{mask:#x} {packed:#x}");
                let bits = packed as u16;
                let want = gather_bit_by_bit(bits, mask);
                assert_eq!(gather(bits, mask), want, "{mask:#x} {bits:#x}");
            }
        }
        // The 17 runs 0..k, k = 0..=16, and no other mask.
        assert_eq!(runs, 17);
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
        super::SHARED_REPRESENTATIVE.with(|n| n.set(0));
        let shared = verify_all(&chains);
        // Verdicts were really shared, members' and representatives', or equality
        // below would prove nothing about it.
        assert!(
            super::SHARED.with(|n| n.get()) > 0,
            "no chain reused a verdict"
        );
        assert!(
            super::SHARED_REPRESENTATIVE.with(|n| n.get()) > 0,
            "no chain reused a representative's verdict"
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

    /// A shared VM-entry verdict is kept under the chain's baselines and handed only to
    /// a chain with equal ones, representatives' and members' alike: one chain judged
    /// four times in one batch run, with the baselines it makes, with them in reverse
    /// CPL order (the same outputs into contexts VM entry judges differently), then
    /// both again (everything shared from the first two), reports in each run what it
    /// reports alone. The built-in chains do not hold this on their own: a key without
    /// the baselines, a representative's refusal kept as an acceptance, or members'
    /// refusals kept with bits dropped, each passes
    /// `shared_workspaces_give_each_chains_own_report`.
    #[test]
    fn verdicts_are_shared_only_between_equal_baselines() {
        use super::super::reduce::{ClassRun, applies, avl};
        use super::super::{ChainReport, Property};
        let chain = builtin_chains()
            .into_iter()
            .find(|c| c.destination() == Format::Vmcs && applies(c))
            .expect("a reduced chain into a VMCS");
        let ws = Workspace::new(chain.source());
        let made = ws
            .baseline_outputs(&chain)
            .expect("same source")
            .expect("baselines for a VMCS");
        let mut reversed = made;
        reversed.reverse();
        let verify = |baselines: &[&[SegmentState; 4]]| -> Vec<ChainReport> {
            let mut runs: Vec<_> = baselines
                .iter()
                .map(|&b| ClassRun::new(&chain, Some(b), ws.empty_report(&chain).expect("same")))
                .collect();
            ws.verify_classes(&mut runs, avl(&chain))
                .expect("same source");
            runs.into_iter().map(ClassRun::into_report).collect()
        };
        super::SHARED_REPRESENTATIVE.with(|n| n.set(0));
        let together = verify(&[&made, &reversed, &made, &reversed]);
        assert!(
            super::SHARED_REPRESENTATIVE.with(|n| n.get()) > 0,
            "no run reused a representative's verdict"
        );
        let alone = [verify(&[&made]), verify(&[&reversed])].map(|mut r| r.remove(0));
        // The two contexts really judge differently, or sharing would be harmless.
        assert_ne!(
            alone[0].violations(Property::VmxEntryRejected),
            alone[1].violations(Property::VmxEntryRejected),
            "{chain}"
        );
        for (report, alone) in together.iter().zip(alone.iter().cycle()) {
            assert_eq!(report.violations, alone.violations, "{chain}");
            assert_eq!(report.counterexamples, alone.counterexamples, "{chain}");
        }
    }
}
