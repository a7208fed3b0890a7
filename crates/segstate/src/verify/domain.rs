//! The verification domain: every attribute combination of every segment register,
//! every selector RPL, representative limits, every CPL where the format carries one,
//! and garbage bytes where the format is `kvm_segment`.

use alloc::vec::Vec;

mod formats;

use formats::{base_selector, kvm_clean, kvm_clean_bits, kvm_state, vmcb_state, vmcs_state};

use crate::arch::SegmentState;
use crate::arch::{
    Attributes, CR0_PE, CR0_PG, EFER_LMA, EFER_LME, PerSegReg, PrivilegeLevel, SegReg, Segment,
    Selector,
};
use crate::check::segment_fields::Fields;
use crate::check::{arch, vmx_entry};
use crate::format::hyperv::HvSegmentRegister;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::format::svm::SvmAttrib;
use crate::format::vmx::VmxSegment;
use crate::profile::{Format, InFlight};

use super::entry::{MemberEntry, put_carried};

/// The limits every attribute combination is tried with: the largest byte-granular one
/// and 4 GiB - 1 (G synthesis switches between them).
pub const LIMITS: [u32; 2] = [0xf_ffff, 0xffff_ffff];

/// Values tried in each `kvm_segment` byte beyond the clean ones.
pub const GARBAGE_TYPE: [u8; 4] = [0x10, 0x1f, 0x20, 0xff];
/// Garbage DPL bytes.
pub const GARBAGE_DPL: [u8; 3] = [4, 7, 0xff];
/// Garbage boolean bytes.
pub const GARBAGE_BOOL: [u8; 2] = [2, 0xff];

/// CR0 of the baseline states: protected mode with paging.
pub const BASELINE_CR0: u64 = CR0_PE | CR0_PG | 1 << 16 | 1 << 4;
/// CR4 of the baseline states: PAE.
pub const BASELINE_CR4: u64 = 1 << 5;
/// EFER of the baseline states: long mode active, SYSCALL enabled, SVME set (AMD).
pub const BASELINE_EFER: u64 = EFER_LME | EFER_LMA | 1 | crate::arch::EFER_SVME;

/// A 64-bit Linux-like state at `cpl`: GDT layout kernel CS 0x10, kernel SS 0x18,
/// user SS 0x2b, user CS 0x33, TSS 0x40.
#[must_use]
pub fn baseline(cpl: PrivilegeLevel) -> SegmentState {
    let user = cpl == PrivilegeLevel::Ring3;
    let sel = |kernel: u16, user_sel: u16| {
        if user {
            Selector(user_sel)
        } else {
            Selector(kernel).with_rpl(cpl)
        }
    };
    let data3 = Segment::flat(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3));
    let mut fs = data3;
    fs.base = 0x7f12_3456_7000;
    let mut gs = data3;
    gs.base = if user {
        0x7f12_3456_9000
    } else {
        0xffff_8880_7fc0_0000
    };
    let tr = Segment {
        selector: Selector(0x40),
        base: 0xffff_fe00_0000_3000,
        limit: 0x4087,
        attributes: Attributes::busy_tss(),
        unusable: false,
    };
    let ldtr = Segment::null(Selector(0), Attributes::default());
    let segments = PerSegReg::from_fn(|reg| match reg {
        SegReg::Cs => Segment::flat(sel(0x10, 0x33), Attributes::code64(cpl)),
        SegReg::Ss => Segment::flat(sel(0x18, 0x2b), Attributes::flat_data(cpl)),
        SegReg::Ds | SegReg::Es => data3,
        SegReg::Fs => fs,
        SegReg::Gs => gs,
        SegReg::Tr => tr,
        SegReg::Ldtr => ldtr,
    });
    SegmentState {
        segments,
        cpl,
        cr0: BASELINE_CR0,
        cr4: BASELINE_CR4,
        efer: BASELINE_EFER,
        rflags: 0x202,
    }
}

/// The state AMD's SYSRET leaves when the kernel ran with a null SS: CPL 3, SS selector
/// 0x2b, hidden SS still unusable with the stale DPL 0 of the kernel's null load.
#[must_use]
pub fn sysret_state() -> SegmentState {
    let mut s = baseline(PrivilegeLevel::Ring3);
    s.segments[SegReg::Ss] =
        Segment::null(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring0));
    s
}

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// States made in their slot ([`Domain::state_judged_into`]): the tests see that a
    /// batch's representatives are made in place.
    pub(super) static MADE_IN_PLACE: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// One state of the domain: one register varied over a baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainState {
    /// The register varied.
    pub reg: SegReg,
    /// Its value in the chain's source format (with VMCB.CPL for a VMCB).
    pub input: InFlight,
    /// The CPL the source state means.
    pub cpl: PrivilegeLevel,
    /// The varied register, decoded; `None` for garbage bytes.
    pub decoded: Option<Segment>,
    /// The baseline the other registers come from (the CPL of [`baseline`]).
    pub baseline: PrivilegeLevel,
    /// The whole source state has no architectural error.
    pub consistent: bool,
}

/// The previous QEMU cache the thread's designs read: what QEMU held after a sync while
/// the guest was in its kernel (the baseline at CPL 0).
#[must_use]
pub fn previous_caches() -> PerSegReg<QemuSegmentCache> {
    let kernel = baseline(PrivilegeLevel::Ring0);
    kernel
        .segments
        .map(|_, s| QemuSegmentCache::try_from(*s).unwrap_or_default())
}

/// The eight registers of a baseline encoded in `format`, for whole-state runs.
#[must_use]
pub fn encode_state(format: Format, state: &SegmentState) -> crate::profile::VcpuSegments {
    use crate::profile::VcpuSegments;
    match format {
        Format::Vmcb => VcpuSegments::Vmcb {
            segments: crate::profile::svm::kvm_vmcb_segments(&state.segments),
            cpl: state.cpl.bits(),
        },
        Format::Vmcs => VcpuSegments::Vmcs(state.segments.map(|_, s| VmxSegment::from(*s))),
        Format::Kvm => VcpuSegments::Kvm(state.segments.map(|_, s| KvmSegment::from(*s))),
        Format::HyperV => VcpuSegments::HyperV(
            state
                .segments
                .map(|_, s| HvSegmentRegister::try_from(*s).unwrap_or_default()),
        ),
    }
}

/// Whether a domain state is consistent, judged per register: each state is a baseline
/// with one register varied, so the checks that do not read that register
/// ([`arch::is_consistent_apart_from`], [`vmx_entry::accepts_apart_from`]) are asked
/// once per baseline and register, and only those that read it per state. The test
/// `per_register_consistency_is_the_whole_state_check` holds the verdicts equal to the
/// whole-state checks over every domain.
#[derive(Debug)]
struct Consistency {
    baselines: [SegmentState; 4],
    /// Per baseline (by CPL) and register: the checks that do not read it pass.
    apart: [PerSegReg<bool>; 4],
    /// The format is a VMCS: VM entry must accept the state too.
    vmx: bool,
    /// A VMCB: judge the register the way AMD hardware keeps the cache
    /// ([`arch::canonical_vmcb_cache`]).
    vmcb: bool,
}

impl Consistency {
    fn new(format: Format) -> Self {
        Consistency::over(format, PrivilegeLevel::ALL.map(baseline))
    }

    /// The verdicts of `format`'s states in `baselines` (by CPL): [`baseline`]'s, or
    /// in the tests others (`Domain::refusing_carried_fields`).
    fn over(format: Format, baselines: [SegmentState; 4]) -> Self {
        let vmx = format == Format::Vmcs;
        let apart = baselines.each_ref().map(|base| {
            PerSegReg::from_fn(|reg| {
                arch::is_consistent_apart_from(base, reg)
                    && (!vmx || vmx_entry::accepts_apart_from(base, entry_controls(), reg))
            })
        });
        Consistency {
            baselines,
            apart,
            vmx,
            vmcb: format == Format::Vmcb,
        }
    }

    /// The baseline at `cpl`.
    fn baseline(&self, cpl: PrivilegeLevel) -> &SegmentState {
        &self.baselines[cpl.bits() as usize]
    }

    /// True when the baseline at `cpl` (whose CPL is the state's) with `reg` holding
    /// `seg` has no architectural error and, for a VMCS, passes VM entry.
    fn judge(&self, reg: SegReg, seg: Segment, cpl: PrivilegeLevel) -> bool {
        let at = cpl.bits() as usize;
        if !self.apart[at][reg] {
            return false;
        }
        let base = &self.baselines[at];
        let seg = self.cache(reg, seg);
        arch::register_is_consistent(base, reg, &seg) && self.entry_accepts(base, reg, &seg)
    }

    /// [`Consistency::judge`] of the state decoded as `decoded` (inconsistent when it
    /// does not decode), unless its verdict is `known`.
    #[inline(always)]
    fn verdict(
        &self,
        known: Option<bool>,
        reg: SegReg,
        decoded: Option<Segment>,
        cpl: PrivilegeLevel,
    ) -> bool {
        known.unwrap_or_else(|| decoded.is_some_and(|s| self.judge(reg, s, cpl)))
    }

    /// `seg` as the architectural checks judge it: for a VMCB, the way AMD hardware
    /// keeps the cache.
    fn cache(&self, reg: SegReg, seg: Segment) -> Segment {
        if self.vmcb {
            arch::canonical_vmcb_cache(reg, seg)
        } else {
            seg
        }
    }

    /// True when the format is not a VMCS, or VM entry accepts `base` with `reg`
    /// holding `seg`.
    fn entry_accepts(&self, base: &SegmentState, reg: SegReg, seg: &Segment) -> bool {
        !self.vmx || vmx_entry::register_accepted(base, entry_controls(), reg, seg)
    }
}

/// Architectural verdicts already given within one class, by what the checks saw and
/// the CPL: a class's members differ from their representative only in their selector
/// and base, which no error check reads ([`arch::reads`]), so they share the
/// representative's verdict, or one per register of another kind of checks
/// ([`Domain::consistent_partners`]). Cleared per class to stay a short list; kept
/// between classes only for its memory.
#[derive(Debug, Default)]
pub(crate) struct SharedVerdicts {
    known: Vec<(KnownKey, bool)>,
    /// How many members took a verdict given before rather than judging their own
    /// (read by the tests only, so counted only there).
    #[cfg(test)]
    reused: u64,
}

/// What an architectural verdict depends on: the context's CPL (the baseline) and what
/// the register's checks read.
type KnownKey = (PrivilegeLevel, arch::ReadKey);

impl SharedVerdicts {
    /// The verdict kept for `key`, or `judged()`, then kept.
    fn get_or(&mut self, key: KnownKey, judged: impl FnOnce() -> bool) -> bool {
        match self.known.iter().find(|(k, _)| *k == key) {
            Some(&(_, verdict)) => {
                self.count_reused();
                verdict
            }
            None => {
                let verdict = judged();
                self.known.push((key, verdict));
                verdict
            }
        }
    }

    /// Counts a member that took a verdict given before (tests only).
    #[inline(always)]
    fn count_reused(&mut self) {
        #[cfg(test)]
        {
            self.reused += 1;
        }
    }

    /// How many members took a verdict given before since this was made.
    #[cfg(test)]
    pub(crate) fn reused(&self) -> u64 {
        self.reused
    }
}

/// The VM-entry controls KVM uses for every baseline (all in IA-32e mode).
fn entry_controls() -> vmx_entry::VmxEntryControls {
    vmx_entry::VmxEntryControls::kvm_default(BASELINE_EFER)
}

/// AVL's bit in an attribute combination of every domain: attrib bit 8 of a VMCB, the
/// `bits` of [`vmcs_state`] and [`kvm_clean`].
const AVL_COMBINATION_BIT: usize = 1 << SvmAttrib::AVL_SHIFT;

/// The number of garbage `kvm_segment` states per clean combination of the low 9
/// attribute bits: each garbage type, DPL, and boolean byte in each of the 7 booleans.
const GARBAGE_PER_COMBINATION: usize =
    GARBAGE_TYPE.len() + GARBAGE_DPL.len() + 7 * GARBAGE_BOOL.len();

/// The domain of one source format as a function: the states of each register and
/// selector RPL form a list (every limit in turn, each over every attribute
/// combination; `kvm_segment`'s garbage bytes after the clean states of RPL 3), and
/// the whole domain is those lists in register, then RPL order. Making a state on
/// demand lets the reduction class states without holding the domain in memory
/// (`reduce::classes`); [`Domain::states`] makes every state in domain order.
#[derive(Debug)]
pub struct Domain {
    format: Format,
    judge: Consistency,
}

impl Domain {
    /// The domain for chains starting from `format` (empty for Hyper-V registers,
    /// which no chain starts from).
    #[must_use]
    pub fn new(format: Format) -> Self {
        Domain {
            format,
            judge: Consistency::new(format),
        }
    }

    /// The domain of `format` over baselines in which VM entry refuses some members of
    /// a class for their carried fields alone, as [`baseline`]'s never do: ES unusable
    /// (the baselines pass) with a base above 4 GiB, refused for a usable ES (SDM Vol.
    /// 3C §27.3.1.2: bits 63:32 of ES's base are zero when it is usable). So usable
    /// states of ES's lists (the data classes' representatives among them) are refused
    /// and those of DS, FS and GS at the same positions are not.
    #[cfg(test)]
    pub(crate) fn refusing_carried_fields(format: Format) -> Self {
        Domain::over_changed_baselines(format, SegReg::Es, |es| {
            es.unusable = true;
            es.base = 1 << 32;
        })
    }

    /// The domain of `format` over baselines whose DS holds a system descriptor while
    /// usable (an error: `CheckId::ArchDataReadable`), so every register's checks apart
    /// from its own fail but DS's: in a data class only DS's lists can hold consistent
    /// states, and the walk by register skips the others' lists whole
    /// (`partners_skipped_by_register_leave_the_others_in_place`).
    #[cfg(test)]
    pub(crate) fn refusing_apart_from_ds(format: Format) -> Self {
        Domain::over_changed_baselines(format, SegReg::Ds, |ds| {
            ds.attributes.s = false;
            ds.unusable = false;
        })
    }

    /// The domain of `format` over [`baseline`]'s with `change` made to `reg`.
    #[cfg(test)]
    fn over_changed_baselines(format: Format, reg: SegReg, change: fn(&mut Segment)) -> Self {
        let baselines = PrivilegeLevel::ALL.map(|cpl| {
            let mut b = baseline(cpl);
            change(&mut b.segments[reg]);
            b
        });
        Domain {
            format,
            judge: Consistency::over(format, baselines),
        }
    }

    /// States per limit in the list of `reg`: every attribute combination (12 bits
    /// for a VMCB, with the four CPL bytes for SS; 13 for a VMCS and `kvm_segment`).
    fn per_limit(&self, reg: SegReg) -> usize {
        match self.format {
            Format::Vmcb if reg == SegReg::Ss => 0x1000 * PrivilegeLevel::ALL.len(),
            Format::Vmcb => 0x1000,
            Format::Vmcs | Format::Kvm => 0x2000,
            Format::HyperV => 0,
        }
    }

    /// The length of the list of `reg` with selector RPL `rpl`.
    #[must_use]
    pub fn list_len(&self, reg: SegReg, rpl: PrivilegeLevel) -> usize {
        let clean = self.per_limit(reg) * LIMITS.len();
        // Garbage is about byte values, which no conversion mixes with the selector or
        // the limit, so it is tried once per register, with RPL 3 and the 4 GiB limit.
        if self.format == Format::Kvm && rpl == PrivilegeLevel::Ring3 {
            clean + 0x200 * GARBAGE_PER_COMBINATION
        } else {
            clean
        }
    }

    /// The number of states.
    #[must_use]
    pub fn state_count(&self) -> usize {
        SegReg::ALL.iter().map(|&reg| self.register_len(reg)).sum()
    }

    fn register_len(&self, reg: SegReg) -> usize {
        PrivilegeLevel::ALL
            .iter()
            .map(|&rpl| self.list_len(reg, rpl))
            .sum()
    }

    /// The state at position `n` of the list of `reg` with selector RPL `rpl`.
    #[must_use]
    pub fn state(&self, reg: SegReg, rpl: PrivilegeLevel, n: usize) -> DomainState {
        self.make(reg, rpl, n, None)
    }

    /// [`Domain::state`] of a state judged before, whose [`DomainState::consistent`]
    /// it gave as `consistent`: the same state, made without judging it again (what a
    /// class's representative, made once per batch, keeps of its first making).
    pub(crate) fn state_judged(
        &self,
        (reg, rpl, n): (SegReg, PrivilegeLevel, usize),
        consistent: bool,
    ) -> DomainState {
        self.make(reg, rpl, n, Some(consistent))
    }

    /// [`Domain::state_judged`], made straight into `slot`: a state returned and then
    /// copied into a buffer went through the stack, and the copy's wide loads of the
    /// narrow stores that had just made it were not store-forwarded (`BENCHMARKS.md`
    /// §2, step 45). Out of line, so that `slot` is a place no one else reads while the
    /// state is made, and the state is built in it.
    #[inline(never)]
    pub(crate) fn state_judged_into(
        &self,
        (reg, rpl, n): (SegReg, PrivilegeLevel, usize),
        consistent: bool,
        slot: &mut DomainState,
    ) {
        *slot = self.make(reg, rpl, n, Some(consistent));
        #[cfg(all(test, feature = "std"))]
        MADE_IN_PLACE.with(|n| n.set(n.get() + 1));
    }

    /// The state at position `n` of the list of `reg` and `rpl`, judged for
    /// consistency unless its verdict is `known`.
    #[inline(always)]
    fn make(&self, reg: SegReg, rpl: PrivilegeLevel, n: usize, known: Option<bool>) -> DomainState {
        let per_limit = self.per_limit(reg);
        let judge = (&self.judge, known);
        let Some(&limit) = LIMITS.get(n / per_limit.max(1)) else {
            let k = self.kvm_garbage_at(reg, n).expect("past the clean states");
            return kvm_state(judge, reg, rpl, k.limit, k);
        };
        let i = n % per_limit;
        match self.format {
            Format::Vmcb if reg == SegReg::Ss => {
                let cpl = PrivilegeLevel::ALL[i % PrivilegeLevel::ALL.len()];
                let attrib = i / PrivilegeLevel::ALL.len();
                vmcb_state(judge, reg, rpl, limit, SvmAttrib(attrib as u16), cpl)
            }
            Format::Vmcb => vmcb_state(
                judge,
                reg,
                rpl,
                limit,
                SvmAttrib(i as u16),
                PrivilegeLevel::Ring3,
            ),
            Format::Vmcs => vmcs_state(judge, reg, rpl, limit, i as u32),
            Format::Kvm | Format::HyperV => {
                kvm_state(judge, reg, rpl, limit, kvm_clean(i as u32, limit))
            }
        }
    }

    /// The position of the AVL twin of position `n` of a list of `reg`: the state equal
    /// to it but for AVL, set, when `n` is a clean state with AVL clear. Each domain
    /// enumerates the attribute word with AVL at bit 8 of the combination (the VMCB's
    /// attrib; [`vmcs_state`]'s and [`kvm_clean`]'s `bits`), times the four CPL bytes
    /// per attrib of a VMCB's SS; nothing else depends on it, so the twin is `n` with
    /// that bit set (`avl_twins_differ_only_in_avl` checks it state by state).
    #[must_use]
    pub fn avl_twin(&self, reg: SegReg, n: usize) -> Option<usize> {
        let (avl, at) = self.avl_bit(reg, n)?;
        (at & avl == 0).then_some(n + avl)
    }

    /// The position of the AVL-clear state whose AVL twin ([`Domain::avl_twin`]) is
    /// position `n` of a list of `reg`, when `n` is a clean state with AVL set.
    #[must_use]
    pub fn avl_clear(&self, reg: SegReg, n: usize) -> Option<usize> {
        let (avl, at) = self.avl_bit(reg, n)?;
        (at & avl != 0).then(|| n - avl)
    }

    /// For a clean state at position `n` of a list of `reg`: the bit of its attribute
    /// combination's place within its limit's block that is AVL's, and that place.
    fn avl_bit(&self, reg: SegReg, n: usize) -> Option<(usize, usize)> {
        let per_limit = self.per_limit(reg);
        let per_combination = match self.format {
            Format::Vmcb if reg == SegReg::Ss => PrivilegeLevel::ALL.len(),
            _ => 1,
        };
        let avl = AVL_COMBINATION_BIT * per_combination;
        let clean = n < per_limit * LIMITS.len();
        clean.then(|| (avl, n % per_limit))
    }

    /// The position in a list of `kvm_segment` states of the clean state with `k`'s
    /// limit and attribute bytes (whichever its register and RPL), if `k` is one.
    #[must_use]
    pub fn kvm_clean_position(&self, k: &KvmSegment) -> Option<usize> {
        let limit = LIMITS.iter().position(|&l| l == k.limit)?;
        let per_limit = self.per_limit(SegReg::Cs);
        let bits = kvm_clean_bits(k)?;
        (self.format == Format::Kvm).then_some(limit * per_limit + bits as usize)
    }

    /// The index in domain order of position `n` of the list of `reg` and `rpl`.
    #[must_use]
    pub fn index(&self, reg: SegReg, rpl: PrivilegeLevel, n: usize) -> usize {
        let before: usize = SegReg::ALL
            .iter()
            .take_while(|&&r| r != reg)
            .map(|&r| self.register_len(r))
            .sum();
        let lists: usize = PrivilegeLevel::ALL
            .iter()
            .take_while(|&&r| r != rpl)
            .map(|&r| self.list_len(reg, r))
            .sum();
        before + lists + n
    }

    /// What every state of the list of `reg` with selector RPL `rpl` whose baseline is
    /// the one at `baseline` takes from it: the register's selector, with RPL `rpl`, and
    /// its base (the fields a chain carries, `reduce`).
    #[must_use]
    pub fn carried(
        &self,
        baseline: PrivilegeLevel,
        reg: SegReg,
        rpl: PrivilegeLevel,
    ) -> (Selector, u64) {
        let base = self.judge.baseline(baseline);
        (base_selector(base, reg, rpl), base.segments[reg].base)
    }

    /// Which of the lists `partners` (a register and a selector RPL each, `rep`'s
    /// class's other members: [`Domain::carried`] of each with `rep`'s decoding) hold
    /// a consistent state at `rep`'s position: bit `i` for `partners[i]`, what
    /// [`DomainState::consistent`] of each holds (`classes_cover_the_domain_once`).
    ///
    /// Judged once per kind of check, not per member: the members share `rep`'s
    /// decoded attributes, limit, unusable bit and CPL, and differ only in the fields
    /// a list carries (selector and base), so where a register's error checks read
    /// neither ([`arch::reads`]; today none does), every member of that register sees
    /// the same [`arch::ReadKey`] and gets one verdict, shared with `rep`'s own where
    /// the keys are equal and `rep`'s verdict is architectural alone (not a VMCS, whose
    /// verdict includes VM entry). For a VMCS, VM entry's checks reading neither
    /// selector nor base are asked once per register too
    /// ([`vmx_entry::register_accepted_uncarried`], split by [`MemberEntry`] as after
    /// a chain). The partners come a register at a time (a run of its lists), and a
    /// run is settled whole where its register's checks apart from it fail, or where
    /// what its members share is refused, or accepted outside a VMCS; what remains per
    /// member is, for a VMCS, VM entry's checks that read its selector or base.
    /// `shared_verdicts_are_the_unshared_ones` holds the bits to each state's verdict
    /// judged alone, and fails if nothing is shared;
    /// `vm_entry_split_is_each_members_whole_check` holds the two parts of VM entry,
    /// and [`MemberEntry`], to each member's [`vmx_entry::register_accepted`], the
    /// first part one verdict per register and position.
    ///
    /// The key is taken before the VMCB's canonical cache: that reads no selector or
    /// base and tells TR alone apart, whose checks are its own, so segments alike to the
    /// checks stay alike after it (and a VMCB is never a VMCS, the one format whose VM
    /// entry reads the segment as decoded).
    pub(crate) fn consistent_partners(
        &self,
        rep: &DomainState,
        partners: &[(SegReg, PrivilegeLevel)],
        shared: &mut SharedVerdicts,
    ) -> u16 {
        let Some(seg) = rep.decoded else { return 0 };
        let judge = &self.judge;
        let (cpl, at) = (rep.cpl, rep.cpl.bits() as usize);
        let base = &judge.baselines[at];
        shared.known.clear();
        if !judge.vmx && judge.apart[at][rep.reg] {
            let key = (cpl, arch::reads(rep.reg).key(&seg));
            shared.known.push((key, rep.consistent));
        }
        // For a VMCS, VM entry's register checks, split as for the members after a chain.
        let mut entry = judge.vmx.then(|| MemberEntry::new(seg));
        let mut out = 0u16;
        let mut first = 0;
        // The lists of one register at a time (a group's partners are in register order).
        for run in partners.chunk_by(|a, b| a.0 == b.0) {
            let (reg, bits) = (run[0].0, first..first + run.len());
            first = bits.end;
            if !judge.apart[at][reg] {
                continue;
            }
            let reads = arch::reads(reg);
            let carried = |rpl| self.carried(rep.baseline, reg, rpl);
            let arch_ok = |rpl, shared: &mut SharedVerdicts| {
                let mut member = seg;
                put_carried(&mut member, carried(rpl));
                let judged = || arch::register_is_consistent(base, reg, &judge.cache(reg, member));
                shared.get_or((cpl, reads.key(&member)), judged)
            };
            // What the run's members share: while the register's error checks read no
            // carried field, one key and one verdict for all (the others count as
            // reused); for a VMCS, VM entry's checks reading neither selector nor base.
            let carried_unread = !reads.fields.meets(Fields::CARRIED);
            if carried_unread {
                let ok = arch_ok(run[0].1, shared)
                    && (entry.as_mut()).is_none_or(|e| e.uncarried_accepts((base, cpl), reg));
                (1..run.len()).for_each(|_| shared.count_reused());
                if !ok {
                    continue;
                }
                if entry.is_none() {
                    out |= (((1u32 << run.len()) - 1) << bits.start) as u16;
                    continue;
                }
            }
            for (i, &(_, rpl)) in bits.zip(run) {
                let entry_ok = |e: &mut MemberEntry| match carried_unread {
                    // The part read by no carried field passed above.
                    true => e.carried_accepts(base, reg, carried(rpl)),
                    false => e.accepts((base, cpl), reg, carried(rpl)),
                };
                let ok = (carried_unread || arch_ok(rpl, shared))
                    && (entry.as_mut()).is_none_or(entry_ok);
                out |= u16::from(ok) << i;
            }
        }
        out
    }

    /// The state at `index` in domain order.
    #[cfg(test)]
    #[must_use]
    pub fn state_at(&self, index: usize) -> DomainState {
        let mut at = index;
        for reg in SegReg::ALL {
            for rpl in PrivilegeLevel::ALL {
                let len = self.list_len(reg, rpl);
                if at < len {
                    return self.state(reg, rpl, at);
                }
                at -= len;
            }
        }
        panic!(
            "domain index {index} beyond the domain's {} states",
            self.state_count()
        );
    }

    /// Every state, in domain order.
    #[must_use]
    pub fn states(&self) -> Vec<DomainState> {
        let mut out = Vec::with_capacity(self.state_count());
        for reg in SegReg::ALL {
            for rpl in PrivilegeLevel::ALL {
                out.extend((0..self.list_len(reg, rpl)).map(|n| self.state(reg, rpl, n)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
