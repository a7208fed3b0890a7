//! The states of each source format: a VMCB's attrib and CPL byte, a VMCS's access
//! rights, `kvm_segment`'s clean combinations and garbage bytes, each put in the
//! baseline its CPL names with the baseline's selector (at a list's RPL) and base,
//! decoded and judged for consistency. [`super::Domain::state`] says which state sits
//! at which position of a (register, RPL) list.

use crate::arch::{
    Attributes, PrivilegeLevel, SegReg, Segment, SegmentState, SegmentType, Selector,
};
use crate::format::kvm::KvmSegment;
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::{VmxAccessRights, VmxSegment};
use crate::profile::{InFlight, SegmentValue};

use super::{
    Consistency, Domain, DomainState, GARBAGE_BOOL, GARBAGE_DPL, GARBAGE_PER_COMBINATION,
    GARBAGE_TYPE, LIMITS,
};

/// The baseline a varied register sits in: for CS and SS the one whose CPL the
/// register's DPL (or, for a VMCB, the CPL byte) names, otherwise user mode.
fn baseline_cpl(reg: SegReg, dpl: PrivilegeLevel) -> PrivilegeLevel {
    match reg {
        SegReg::Cs | SegReg::Ss => dpl,
        _ => PrivilegeLevel::Ring3,
    }
}

pub(super) fn base_selector(base: &SegmentState, reg: SegReg, rpl: PrivilegeLevel) -> Selector {
    base.segments[reg].selector.with_rpl(rpl)
}

/// A VMCB state: attrib `a`, and for SS the CPL byte `cpl` (which every DPL meets:
/// the VMCB carries the CPL apart from SS).
///
/// This and the other two makers are inlined into [`Domain::state`](super::Domain::state)
/// and the representatives' [`Domain::state_judged_into`](super::Domain::state_judged_into):
/// out of line, each state came back through the stack and was copied, the copy's wide
/// loads stalling on the narrow stores that had just made it (`BENCHMARKS.md` §2,
/// step 45).
#[inline(always)]
pub(super) fn vmcb_state(
    (judge, known): (&Consistency, Option<bool>),
    reg: SegReg,
    rpl: PrivilegeLevel,
    limit: u32,
    a: SvmAttrib,
    cpl: PrivilegeLevel,
) -> DomainState {
    let bcpl = if reg == SegReg::Ss {
        cpl
    } else {
        baseline_cpl(reg, a.dpl())
    };
    let base = judge.baseline(bcpl);
    let v = VmcbSegment {
        selector: base_selector(base, reg, rpl).0,
        attrib: a,
        limit,
        base: base.segments[reg].base,
    };
    let decoded = Segment::try_from(v).ok();
    DomainState {
        reg,
        input: InFlight {
            value: SegmentValue::Vmcb(v),
            vmcb_cpl: bcpl.bits(),
        },
        cpl: bcpl,
        decoded,
        baseline: bcpl,
        consistent: judge.verdict(known, reg, decoded, bcpl),
    }
}

/// A VMCS state: the 13 meaningful access-rights bits `bits` (type, S, DPL, P; AVL, L,
/// D/B, G; unusable).
#[inline(always)]
pub(super) fn vmcs_state(
    (judge, known): (&Consistency, Option<bool>),
    reg: SegReg,
    rpl: PrivilegeLevel,
    limit: u32,
    bits: u32,
) -> DomainState {
    let ar = VmxAccessRights((bits & 0xff) | ((bits >> 8) & 0xf) << 12 | (bits >> 12) << 16);
    let bcpl = baseline_cpl(reg, ar.dpl());
    let base = judge.baseline(bcpl);
    let v = VmxSegment {
        selector: base_selector(base, reg, rpl).0,
        base: base.segments[reg].base,
        limit,
        access_rights: ar,
    };
    let decoded = Segment::try_from(v).ok();
    DomainState {
        reg,
        input: InFlight {
            value: SegmentValue::Vmcs(v),
            vmcb_cpl: 0,
        },
        cpl: bcpl,
        decoded,
        baseline: bcpl,
        consistent: judge.verdict(known, reg, decoded, bcpl),
    }
}

/// A `kvm_segment` state: `k` with the baseline's selector (RPL `rpl`) and base and
/// the limit `limit`.
#[inline(always)]
pub(super) fn kvm_state(
    (judge, known): (&Consistency, Option<bool>),
    reg: SegReg,
    rpl: PrivilegeLevel,
    limit: u32,
    k: KvmSegment,
) -> DomainState {
    let bcpl = baseline_cpl(reg, PrivilegeLevel::from_low_bits(k.dpl));
    let base = judge.baseline(bcpl);
    let k = KvmSegment {
        selector: base_selector(base, reg, rpl).0,
        base: base.segments[reg].base,
        limit,
        ..k
    };
    let decoded = k.meaningful_segment();
    DomainState {
        reg,
        input: InFlight {
            value: SegmentValue::Kvm(k),
            vmcb_cpl: 0,
        },
        cpl: bcpl,
        decoded,
        baseline: bcpl,
        consistent: judge.verdict(known, reg, decoded, bcpl),
    }
}

/// Clean combination `bits`: 16 types x S x 4 DPL x P x AVL x L x D/B x G x unusable.
pub(super) fn kvm_clean(bits: u32, limit: u32) -> KvmSegment {
    let attributes = Attributes {
        segment_type: SegmentType::from_low_bits(bits as u8),
        s: bits & 1 << 4 != 0,
        dpl: PrivilegeLevel::from_low_bits((bits >> 5) as u8),
        present: bits & 1 << 7 != 0,
        avl: bits & 1 << 8 != 0,
        l: bits & 1 << 9 != 0,
        db: bits & 1 << 10 != 0,
        g: bits & 1 << 11 != 0,
    };
    KvmSegment::from(Segment {
        selector: Selector(0),
        base: 0,
        limit,
        attributes,
        unusable: bits & 1 << 12 != 0,
    })
}

/// The clean combination [`kvm_clean`] makes `k`'s attribute bytes from, if each is in
/// its range (its inverse; `garbage_counterparts_are_their_states` checks it).
pub(super) fn kvm_clean_bits(k: &KvmSegment) -> Option<u32> {
    let booleans = [k.s, k.present, k.avl, k.l, k.db, k.g, k.unusable];
    if k.type_ > 0xf || k.dpl > 3 || booleans.iter().any(|&b| b > 1) {
        return None;
    }
    let at = [4, 7, 8, 9, 10, 11, 12];
    let flags = booleans.iter().zip(at).map(|(&b, at)| u32::from(b) << at);
    Some(u32::from(k.type_) | u32::from(k.dpl) << 5 | flags.sum::<u32>())
}

/// Garbage state `g`: one byte at a time over the combinations with AVL, L, D/B, G
/// clear (the clean states already meet every RPL and limit): per combination of the
/// low 9 bits, each garbage type, each garbage DPL, then each garbage boolean byte in
/// P, unusable, S, D/B, L, G and AVL in turn.
pub(super) fn kvm_garbage(g: usize) -> KvmSegment {
    let (bits, k) = (g / GARBAGE_PER_COMBINATION, g % GARBAGE_PER_COMBINATION);
    let clean = KvmSegment {
        type_: (bits & 0xf) as u8,
        s: ((bits >> 4) & 1) as u8,
        dpl: ((bits >> 5) & 3) as u8,
        present: ((bits >> 7) & 1) as u8,
        unusable: ((bits >> 8) & 1) as u8,
        ..KvmSegment::default()
    };
    let (types, dpls) = (GARBAGE_TYPE.len(), GARBAGE_DPL.len());
    if k < types {
        return KvmSegment {
            type_: GARBAGE_TYPE[k],
            ..clean
        };
    }
    if k < types + dpls {
        return KvmSegment {
            dpl: GARBAGE_DPL[k - types],
            ..clean
        };
    }
    let (b, field) = ((k - types - dpls) / 7, (k - types - dpls) % 7);
    let b = GARBAGE_BOOL[b];
    let mut out = clean;
    *[
        &mut out.present,
        &mut out.unusable,
        &mut out.s,
        &mut out.db,
        &mut out.l,
        &mut out.g,
        &mut out.avl,
    ][field] = b;
    out
}

impl Domain {
    /// The garbage value at position `n` of a `kvm_segment` list of `reg` (past its
    /// clean states, RPL 3 only), with its limit (4 GiB) but neither selector nor base:
    /// its attribute bytes without making the state ([`Domain::state`] puts it in its
    /// baseline). `None` for a clean position.
    #[inline]
    pub(in crate::verify) fn kvm_garbage_at(&self, reg: SegReg, n: usize) -> Option<KvmSegment> {
        let g = n.checked_sub(self.per_limit(reg) * LIMITS.len())?;
        Some(KvmSegment {
            limit: LIMITS[LIMITS.len() - 1],
            ..kvm_garbage(g)
        })
    }
}
