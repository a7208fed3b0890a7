//! A seeded generator of guest states: valid states of each CPU mode, single-field
//! mutations of them, cross products of a segment's attribute bits, and random states,
//! with the VMX controls the rules depend on (unrestricted guest, IA-32e mode guest).
//!
//! Only what segstate models varies. CR0.NE and CR0.ET (and CR4.VMXE on VMX) stay set:
//! they are fixed to 1 in VMX operation (SDM Vol. 3C Appendix A.7-A.8) and no segstate
//! rule reads them; EFER varies within the bits the emulated CPU implements on VMX
//! (SCE, LME, LMA, NXE), and in every bit on SVM, where segstate judges reserved bits.

use segstate::arch::SegmentState;
use segstate::arch::{
    CR0_CD, CR0_ET, CR0_NE, CR0_NW, CR0_PE, CR0_PG, CR4_PAE, CR4_PCIDE, CR4_VMXE, EFER_LMA,
    EFER_LME, EFER_SVME, RFLAGS_IF, RFLAGS_VM,
};
use segstate::arch::{PerSegReg, PrivilegeLevel, SegReg, Segment, SegmentType, Selector};
use segstate::check::vmx_entry::VmxEntryControls;
use segstate::format::vmx::{VmxAccessRights, VmxSegment};

use crate::case::{Case, Target};

/// SplitMix64: small, seeded, reproducible across platforms.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// A coin flip.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// EFER.SCE and EFER.NXE, and RFLAGS bit 1 (always set): bits no segstate rule reads,
// so the library does not name them.
const EFER_SCE: u64 = 1;
const EFER_NXE: u64 = 1 << 11;
const RFLAGS_FIXED: u64 = 1 << 1;

/// A segment from its VMCS fields (access rights as the SDM's Table 25-2 writes them).
fn seg(selector: u16, access_rights: u32, limit: u32, base: u64) -> Segment {
    Segment::try_from(VmxSegment {
        selector,
        base,
        limit,
        access_rights: VmxAccessRights(access_rights),
    })
    .expect("built-in access rights have no reserved bits")
}

fn state(segs: [Segment; 8], cpl: u8, cr0: u64, cr4: u64, efer: u64, rflags: u64) -> SegmentState {
    SegmentState {
        segments: PerSegReg(segs),
        cpl: PrivilegeLevel::from_low_bits(cpl),
        cr0,
        cr4,
        efer,
        rflags,
    }
}

const UNUSABLE_LDTR: u32 = 1 << 16;
const BUSY_TSS: u32 = 0x8b;

/// Valid VMX guest states, one per CPU mode, each with controls it enters under:
/// 64-bit kernel and user, 32-bit protected mode with paging, real mode (unrestricted
/// guest), virtual-8086 mode.
#[must_use]
pub fn valid_vmx_states() -> Vec<Case> {
    let flat = |sel, ar| seg(sel, ar, 0xffff_ffff, 0);
    let tr = seg(0x20, BUSY_TSS, 0x67, 0x42000);
    let ldtr = seg(0, UNUSABLE_LDTR, 0, 0);
    let null = seg(0, 1 << 16 | 0x93, 0, 0);
    let long_cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
    let real = |sel: u16, ar| seg(sel, ar, 0xffff, u64::from(sel) << 4);
    let v86 = |sel: u16| seg(sel, 0xf3, 0xffff, u64::from(sel) << 4);
    let controls = |ug, ia32e| VmxEntryControls {
        unrestricted_guest: ug,
        ia32e_mode_guest: ia32e,
    };
    vec![
        Case {
            state: state(
                [
                    flat(0x10, 0xc093),
                    flat(0x08, 0xa09b),
                    flat(0x10, 0xc093),
                    flat(0x10, 0xc093),
                    flat(0x10, 0xc093),
                    flat(0x10, 0xc093),
                    ldtr,
                    tr,
                ],
                0,
                long_cr0,
                CR4_PAE | CR4_VMXE,
                EFER_LME | EFER_LMA,
                RFLAGS_FIXED,
            ),
            controls: controls(true, true),
        },
        Case {
            state: state(
                [
                    flat(0x2b, 0xc0f3),
                    flat(0x33, 0xa0fb),
                    flat(0x2b, 0xc0f3),
                    flat(0x2b, 0xc0f3),
                    null,
                    null,
                    ldtr,
                    tr,
                ],
                3,
                long_cr0,
                CR4_PAE | CR4_VMXE,
                EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE,
                RFLAGS_FIXED | RFLAGS_IF,
            ),
            controls: controls(false, true),
        },
        Case {
            state: state(
                [
                    flat(0x10, 0xc093),
                    flat(0x08, 0xc09b),
                    flat(0x10, 0xc093),
                    flat(0x10, 0xc093),
                    flat(0x10, 0xc093),
                    flat(0x10, 0xc093),
                    seg(0x28, 0x82, 0xfff, 0x50000),
                    tr,
                ],
                0,
                long_cr0,
                CR4_VMXE,
                0,
                RFLAGS_FIXED,
            ),
            controls: controls(false, false),
        },
        Case {
            state: state(
                [
                    real(0x1000, 0x93),
                    real(0xf000, 0x9b),
                    real(0x2000, 0x93),
                    real(0, 0x93),
                    real(0, 0x93),
                    real(0, 0x93),
                    ldtr,
                    seg(0, BUSY_TSS, 0xffff, 0),
                ],
                0,
                CR0_ET | CR0_NE,
                CR4_VMXE,
                0,
                RFLAGS_FIXED,
            ),
            controls: controls(true, false),
        },
        Case {
            state: state(
                [
                    v86(0x1000),
                    v86(0xf000),
                    v86(0x2000),
                    v86(0),
                    v86(0),
                    v86(0),
                    ldtr,
                    tr,
                ],
                3,
                long_cr0,
                CR4_VMXE,
                0,
                RFLAGS_FIXED | RFLAGS_VM,
            ),
            controls: controls(false, false),
        },
    ]
}

/// Valid SVM guest states: 64-bit kernel and user, 32-bit protected, real mode.
/// EFER.SVME is set (the APM requires it in the guest's EFER).
#[must_use]
pub fn valid_svm_states() -> Vec<Case> {
    let vmx = valid_vmx_states();
    let mut out = Vec::new();
    for (i, c) in vmx.into_iter().enumerate() {
        if c.state.rflags & RFLAGS_VM != 0 {
            continue;
        }
        let mut s = c.state;
        s.cr4 &= !CR4_VMXE;
        s.cr0 &= !CR0_NE;
        s.efer |= EFER_SVME;
        s.rflags |= RFLAGS_IF;
        if i == 1 {
            s.cpl = PrivilegeLevel::Ring3;
        }
        // The VMCB has no unusable bit: P carries it.
        for reg in SegReg::ALL {
            let seg = &mut s.segments[reg];
            if seg.unusable {
                seg.attributes.present = false;
            }
        }
        out.push(Case {
            state: s,
            controls: c.controls,
        });
    }
    out
}

/// Valid KVM_SET_SREGS states: the VMX ones without CR4.VMXE (a vCPU has it only
/// with VMX in its CPUID).
#[must_use]
pub fn valid_kvm_states() -> Vec<Case> {
    let mut v = valid_vmx_states();
    for c in &mut v {
        c.state.cr4 &= !CR4_VMXE;
    }
    v
}

/// The valid states of a target.
#[must_use]
pub fn valid_states(target: Target) -> Vec<Case> {
    match target {
        Target::Vmx => valid_vmx_states(),
        Target::Svm => valid_svm_states(),
        Target::KvmSetSregs(_) => valid_kvm_states(),
    }
}

/// The name of a valid state, as reproducers in `docs/conformance/bochs.md` cite it.
#[must_use]
pub fn valid_state_name(target: Target, case: &Case) -> &'static str {
    const VMX: [&str; 5] = [
        "64-bit kernel",
        "64-bit user",
        "32-bit protected",
        "real mode",
        "virtual-8086",
    ];
    const SVM: [&str; 4] = [
        "64-bit kernel",
        "64-bit user",
        "32-bit protected",
        "real mode",
    ];
    let names: &[&str] = match target {
        Target::Vmx | Target::KvmSetSregs(_) => &VMX,
        Target::Svm => &SVM,
    };
    valid_states(target)
        .iter()
        .position(|c| c == case)
        .map_or("(not a valid state)", |i| names[i])
}

const SELECTORS: &[u16] = &[
    0, 0x08, 0x10, 0x18, 0x20, 0x28, 0x2b, 0x33, 0x1000, 0xf000, 0xfffc,
];
const LIMITS: &[u32] = &[
    0,
    0x67,
    0xfff,
    0xffff,
    0xf_ffff,
    0x10_0000,
    0xffff_ffff,
    0x000f_ffff,
];

fn random_base(rng: &mut Rng, selector: u16) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => u64::from(selector) << 4,
        2 => 0x42000,
        3 => 0xffff_f000,
        4 => 0x1_0000_0000,
        5 => 0xffff_8000_0000_0000,
        6 => 0x0000_8000_0000_0000,
        _ => rng.next_u64(),
    }
}

/// One field of one segment, changed.
fn mutate_segment(rng: &mut Rng, s: &mut Segment) {
    let a = &mut s.attributes;
    match rng.below(13) {
        0 => {
            s.selector = s
                .selector
                .with_rpl(PrivilegeLevel::from_low_bits(rng.below(4) as u8))
        }
        1 => s.selector = Selector(s.selector.0 ^ 4),
        2 => s.selector = Selector(rng.pick(SELECTORS) | (rng.below(4) as u16)),
        3 => s.base = random_base(rng, s.selector.0),
        4 => {
            s.limit = if rng.coin() {
                rng.pick(LIMITS)
            } else {
                rng.next_u64() as u32
            }
        }
        5 => a.segment_type = SegmentType::from_low_bits(rng.below(16) as u8),
        6 => a.s = !a.s,
        7 => a.dpl = PrivilegeLevel::from_low_bits(rng.below(4) as u8),
        8 => a.present = !a.present,
        9 => a.l = !a.l,
        10 => a.db = !a.db,
        11 => a.g = !a.g,
        _ => {
            if rng.below(4) == 0 {
                a.avl = !a.avl;
            } else {
                s.unusable = !s.unusable;
            }
        }
    }
}

/// One field of the state (a segment field, a register bit, the CPL or a control).
fn mutate(target: Target, rng: &mut Rng, c: &mut Case) {
    let s = &mut c.state;
    match rng.below(10) {
        0..=4 => {
            let reg = rng.pick(&SegReg::ALL);
            mutate_segment(rng, &mut s.segments[reg]);
            if target == Target::Svm {
                // The VMCB has no unusable bit: keep segstate's view equal to what the
                // VMCB carries.
                let seg = &mut s.segments[reg];
                seg.unusable = !seg.attributes.present;
            }
        }
        5 => s.cr0 ^= rng.pick(&cr0_bits(target)),
        6 => s.cr4 ^= rng.pick(&cr4_bits(target)),
        7 => s.efer ^= rng.pick(&efer_bits(target)),
        8 => match target {
            Target::Vmx => {
                let width = if rng.below(8) == 0 { 64 } else { 22 };
                s.rflags ^= 1 << rng.below(width);
            }
            Target::Svm => s.cpl = PrivilegeLevel::from_low_bits(rng.below(4) as u8),
            // RFLAGS is not in kvm_sregs and the CPL is SS.DPL there.
            Target::KvmSetSregs(_) => s.efer ^= 1 << rng.below(64),
        },
        _ => {
            if rng.coin() {
                c.controls.unrestricted_guest = !c.controls.unrestricted_guest;
            } else {
                c.controls.ia32e_mode_guest = !c.controls.ia32e_mode_guest;
            }
        }
    }
}

fn cr0_bits(target: Target) -> Vec<u64> {
    match target {
        Target::Vmx => vec![CR0_PE, CR0_PG],
        Target::Svm | Target::KvmSetSregs(_) => {
            vec![CR0_PE, CR0_PG, CR0_CD, CR0_NW, CR0_NE, 1 << 32, 1 << 63]
        }
    }
}

fn cr4_bits(target: Target) -> Vec<u64> {
    match target {
        Target::Vmx => vec![CR4_PAE, CR4_PCIDE],
        Target::Svm => vec![CR4_PAE, 1 << 32, 1 << 40],
        // PAE and PCIDE, then VMXE, SMXE (unknown to KVM), OSXSAVE, FSGSBASE, LA57,
        // SMEP, PKE, CET, LAM_SUP, FRED, and bits beyond.
        Target::KvmSetSregs(_) => vec![
            CR4_PAE,
            CR4_PCIDE,
            CR4_VMXE,
            1 << 14,
            1 << 18,
            1 << 16,
            1 << 12,
            1 << 20,
            1 << 22,
            1 << 23,
            1 << 28,
            1 << 32,
            1 << 40,
        ],
    }
}

fn efer_bits(target: Target) -> Vec<u64> {
    match target {
        Target::Vmx => vec![EFER_SCE, EFER_LME, EFER_LMA, EFER_NXE],
        Target::Svm | Target::KvmSetSregs(_) => vec![
            EFER_SCE,
            1 << 1,
            1 << 4,
            1 << 7,
            EFER_LME,
            1 << 9,
            EFER_LMA,
            EFER_NXE,
            EFER_SVME,
            1 << 32,
            1 << 63,
        ],
    }
}

/// The attribute bits of one segment as a number below [`ATTRIBUTE_COMBINATIONS`]:
/// type, S, DPL, P, L, D/B, G, unusable.
pub const ATTRIBUTE_COMBINATIONS: u64 = 16 * 2 * 4 * 2 * 2 * 2 * 2 * 2;

fn set_attribute_combination(s: &mut Segment, mut k: u64) {
    let mut take = |n: u64| {
        let v = k % n;
        k /= n;
        v
    };
    let a = &mut s.attributes;
    a.segment_type = SegmentType::from_low_bits(take(16) as u8);
    a.s = take(2) == 1;
    a.dpl = PrivilegeLevel::from_low_bits(take(4) as u8);
    a.present = take(2) == 1;
    a.l = take(2) == 1;
    a.db = take(2) == 1;
    a.g = take(2) == 1;
    s.unusable = take(2) == 1;
}

/// The generated cases of one target and seed: the valid states (each rule's passing
/// vector), then one failing vector per rule of the target's family (a state on which
/// that rule alone fires), then the mutation stream ([`mutated`]).
#[derive(Clone, Debug)]
pub struct Stream {
    target: Target,
    seed: u64,
    head: Vec<Case>,
    vectors: Vec<(&'static str, Case)>,
}

/// How far into the mutation stream [`Stream::new`] looks for rule vectors.
pub const VECTOR_SCAN: u64 = 200_000;

impl Stream {
    /// The stream for `target` and `seed`, its rule vectors picked from the first
    /// [`VECTOR_SCAN`] mutations by segstate's own verdict.
    #[must_use]
    pub fn new(target: Target, seed: u64) -> Self {
        let family = crate::verdict::family(target);
        let mut vectors: Vec<(&'static str, Case)> = Vec::new();
        for i in 0..VECTOR_SCAN {
            if vectors.len() == family.len() {
                break;
            }
            let c = mutated(target, seed, i);
            if let Some(id) = crate::verdict::sole_rule(target, &c) {
                if !vectors.iter().any(|(v, _)| *v == id) {
                    vectors.push((id, c));
                }
            }
        }
        vectors.sort_by_key(|(id, _)| family.iter().position(|f| f == id));
        let mut head = valid_states(target);
        head.extend(vectors.iter().map(|(_, c)| *c));
        Stream {
            target,
            seed,
            head,
            vectors,
        }
    }

    /// The rule vectors: each family rule with a state on which it alone fires.
    #[must_use]
    pub fn rule_vectors(&self) -> &[(&'static str, Case)] {
        &self.vectors
    }

    /// The `index`-th case.
    #[must_use]
    pub fn case(&self, index: u64) -> Case {
        match usize::try_from(index).ok().and_then(|i| self.head.get(i)) {
            Some(c) => *c,
            None => mutated(self.target, self.seed, index - self.head.len() as u64),
        }
    }
}

/// The `index`-th mutated case for `seed`: in turn a single-field mutation of a valid
/// state, several mutations, one point of a segment's attribute cross product, and a
/// random state.
#[must_use]
pub fn mutated(target: Target, seed: u64, index: u64) -> Case {
    let valid = valid_states(target);
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut c = valid[rng.below(valid.len() as u64) as usize];
    match index % 4 {
        0 => mutate(target, &mut rng, &mut c),
        1 => {
            if rng.coin() {
                // Two or three fields of one segment: rules that relate fields (DPL and
                // RPL, type and DPL, G and limit) need both changed.
                let reg = rng.pick(&SegReg::ALL);
                for _ in 0..2 + rng.below(2) {
                    mutate_segment(&mut rng, &mut c.state.segments[reg]);
                }
                if target == Target::Svm {
                    let seg = &mut c.state.segments[reg];
                    seg.unusable = !seg.attributes.present;
                }
            } else {
                for _ in 0..2 + rng.below(3) {
                    mutate(target, &mut rng, &mut c);
                }
            }
        }
        2 => {
            // Walk the cross product of one segment's attribute bits, one base state
            // and register at a time, so a long run covers every combination.
            let step = index / 4;
            let reg = SegReg::ALL[(step % 8) as usize];
            let base = (step / 8) % valid.len() as u64;
            c = valid[base as usize];
            let k = (step / 8 / valid.len() as u64) % ATTRIBUTE_COMBINATIONS;
            set_attribute_combination(&mut c.state.segments[reg], k);
            if target == Target::Svm {
                let seg = &mut c.state.segments[reg];
                seg.unusable = !seg.attributes.present;
            }
        }
        _ => {
            for _ in 0..12 {
                mutate(target, &mut rng, &mut c);
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstate::check::{svm_vmrun, vmx_entry};

    #[test]
    fn valid_states_pass_segstate() {
        for c in valid_vmx_states() {
            assert!(vmx_entry::check(&c.state, c.controls).is_empty(), "{c:?}");
        }
        for c in valid_svm_states() {
            assert!(svm_vmrun::check(&c.state).is_empty(), "{c:?}");
        }
    }

    #[test]
    fn stream_is_reproducible_and_seeded() {
        let a: Vec<Case> = (0..50).map(|i| mutated(Target::Vmx, 7, i)).collect();
        let b: Vec<Case> = (0..50).map(|i| mutated(Target::Vmx, 7, i)).collect();
        let c: Vec<Case> = (0..50).map(|i| mutated(Target::Vmx, 8, i)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn every_family_rule_has_a_vector_on_which_it_alone_fires() {
        use segstate::check::kvm_set_sregs::Cr4Allowed;
        for target in [
            Target::Vmx,
            Target::Svm,
            Target::KvmSetSregs(Cr4Allowed(0x1fff)),
        ] {
            let s = Stream::new(target, 1);
            let family = crate::verdict::family(target);
            assert_eq!(s.rule_vectors().len(), family.len(), "{target}");
            for (k, (id, c)) in s.rule_vectors().iter().enumerate() {
                assert_eq!(crate::verdict::sole_rule(target, c), Some(*id));
                let n = valid_states(target).len();
                assert_eq!(s.case((n + k) as u64), *c);
            }
            assert_eq!(s.case(0), valid_states(target)[0]);
        }
    }

    #[test]
    fn stream_mixes_accepted_and_rejected_states() {
        let rejected = (0..400)
            .map(|i| mutated(Target::Vmx, 1, i))
            .filter(|c| !vmx_entry::accepts(&c.state, c.controls))
            .count();
        assert!(
            rejected > 40 && rejected < 360,
            "{rejected} of 400 rejected"
        );
    }

    #[test]
    fn cross_product_reaches_every_attribute_combination() {
        let mut seen = std::collections::HashSet::new();
        for k in 0..ATTRIBUTE_COMBINATIONS {
            let mut s = Segment::default();
            set_attribute_combination(&mut s, k);
            seen.insert(VmxSegment::from(s).access_rights.0);
        }
        assert_eq!(seen.len() as u64, ATTRIBUTE_COMBINATIONS);
    }
}
