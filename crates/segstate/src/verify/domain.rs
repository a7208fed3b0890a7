//! The verification domain: every attribute combination of every segment register,
//! every selector RPL, representative limits, every CPL where the format carries one,
//! and garbage bytes where the format is `kvm_segment`.

use alloc::vec::Vec;

use crate::arch::SegmentState;
use crate::arch::{
    Attributes, CR0_PE, CR0_PG, EFER_LMA, EFER_LME, PerSegReg, PrivilegeLevel, SegReg, Segment,
    SegmentType, Selector,
};
use crate::check::{arch, vmx_entry};
use crate::format::hyperv::HvSegmentRegister;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::{VmxAccessRights, VmxSegment};
use crate::profile::{Format, InFlight, SegmentValue};

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
        let baselines = PrivilegeLevel::ALL.map(baseline);
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
        let seg = if self.vmcb {
            arch::canonical_vmcb_cache(reg, seg)
        } else {
            seg
        };
        arch::register_is_consistent(base, reg, &seg)
            && (!self.vmx || vmx_entry::register_accepted(base, entry_controls(), reg, &seg))
    }
}

/// The VM-entry controls KVM uses for every baseline (all in IA-32e mode).
fn entry_controls() -> vmx_entry::VmxEntryControls {
    vmx_entry::VmxEntryControls::kvm_default(BASELINE_EFER)
}

/// How many states [`build`] makes for `format`: every attribute combination (12 bits
/// for a VMCB, with the four CPL bytes for SS; 13 for a VMCS and `kvm_segment`) per
/// register, RPL and limit, and `kvm_segment`'s garbage bytes (21 per clean
/// combination of the low 9 bits, once per register).
fn size(format: Format) -> usize {
    let per_reg = PrivilegeLevel::ALL.len() * LIMITS.len();
    let garbage = GARBAGE_TYPE.len() + GARBAGE_DPL.len() + 7 * GARBAGE_BOOL.len();
    match format {
        Format::Vmcb => 0x1000 * per_reg * (SegReg::ALL.len() - 1 + PrivilegeLevel::ALL.len()),
        Format::Vmcs => 0x2000 * per_reg * SegReg::ALL.len(),
        Format::Kvm => (0x2000 * per_reg + 0x200 * garbage) * SegReg::ALL.len(),
        Format::HyperV => 0,
    }
}

/// Builds the whole domain for chains starting from `format`.
#[must_use]
pub fn build(format: Format) -> Vec<DomainState> {
    let mut out = Vec::with_capacity(size(format));
    let judge = Consistency::new(format);
    for reg in SegReg::ALL {
        for rpl in PrivilegeLevel::ALL {
            for limit in LIMITS {
                match format {
                    Format::Vmcb => vmcb_states(&mut out, &judge, reg, rpl, limit),
                    Format::Vmcs => vmcs_states(&mut out, &judge, reg, rpl, limit),
                    Format::Kvm => kvm_states(&mut out, &judge, reg, rpl, limit),
                    // Chain::new refuses chains that start from Hyper-V registers.
                    Format::HyperV => {}
                }
            }
        }
    }
    debug_assert_eq!(out.len(), size(format));
    out
}

/// The baseline a varied register sits in: for CS and SS the one whose CPL the
/// register's DPL (or, for a VMCB, the CPL byte) names, otherwise user mode.
fn baseline_cpl(reg: SegReg, dpl: PrivilegeLevel) -> PrivilegeLevel {
    match reg {
        SegReg::Cs | SegReg::Ss => dpl,
        _ => PrivilegeLevel::Ring3,
    }
}

fn base_selector(base: &SegmentState, reg: SegReg, rpl: PrivilegeLevel) -> Selector {
    base.segments[reg].selector.with_rpl(rpl)
}

fn vmcb_states(
    out: &mut Vec<DomainState>,
    judge: &Consistency,
    reg: SegReg,
    rpl: PrivilegeLevel,
    limit: u32,
) {
    // The VMCB carries the CPL apart from SS: for SS every CPL meets every DPL.
    let cpls: &[PrivilegeLevel] = if reg == SegReg::Ss {
        &PrivilegeLevel::ALL
    } else {
        &[PrivilegeLevel::Ring3]
    };
    for attrib in 0..0x1000u16 {
        let a = SvmAttrib(attrib);
        for &cpl in cpls {
            let bcpl = if reg == SegReg::Ss {
                cpl
            } else {
                baseline_cpl(reg, a.dpl())
            };
            let base = judge.baseline(bcpl);
            let cpl = if reg == SegReg::Ss { cpl } else { bcpl };
            let v = VmcbSegment {
                selector: base_selector(base, reg, rpl).0,
                attrib: a,
                limit,
                base: base.segments[reg].base,
            };
            let decoded = Segment::try_from(v).ok();
            let consistent = decoded.is_some_and(|s| judge.judge(reg, s, cpl));
            out.push(DomainState {
                reg,
                input: InFlight {
                    value: SegmentValue::Vmcb(v),
                    vmcb_cpl: cpl.bits(),
                },
                cpl,
                decoded,
                baseline: bcpl,
                consistent,
            });
        }
    }
}

fn vmcs_states(
    out: &mut Vec<DomainState>,
    judge: &Consistency,
    reg: SegReg,
    rpl: PrivilegeLevel,
    limit: u32,
) {
    for bits in 0..0x2000u32 {
        let ar = VmxAccessRights((bits & 0xff) | ((bits >> 8) & 0xf) << 12 | (bits >> 12) << 16);
        let dpl = ar.dpl();
        let bcpl = baseline_cpl(reg, dpl);
        let base = judge.baseline(bcpl);
        let v = VmxSegment {
            selector: base_selector(base, reg, rpl).0,
            base: base.segments[reg].base,
            limit,
            access_rights: ar,
        };
        let cpl = if reg == SegReg::Ss { dpl } else { bcpl };
        let decoded = Segment::try_from(v).ok();
        let consistent = decoded.is_some_and(|s| judge.judge(reg, s, cpl));
        out.push(DomainState {
            reg,
            input: InFlight {
                value: SegmentValue::Vmcs(v),
                vmcb_cpl: 0,
            },
            cpl,
            decoded,
            baseline: bcpl,
            consistent,
        });
    }
}

fn kvm_states(
    out: &mut Vec<DomainState>,
    judge: &Consistency,
    reg: SegReg,
    rpl: PrivilegeLevel,
    limit: u32,
) {
    let mut push = |k: KvmSegment| {
        let dpl = PrivilegeLevel::from_low_bits(k.dpl);
        let bcpl = baseline_cpl(reg, dpl);
        let base = judge.baseline(bcpl);
        let mut k = k;
        k.selector = base_selector(base, reg, rpl).0;
        k.base = base.segments[reg].base;
        k.limit = limit;
        let cpl = if reg == SegReg::Ss { dpl } else { bcpl };
        let decoded = Segment::try_from(k).ok();
        let consistent = decoded.is_some_and(|s| judge.judge(reg, s, cpl));
        out.push(DomainState {
            reg,
            input: InFlight {
                value: SegmentValue::Kvm(k),
                vmcb_cpl: 0,
            },
            cpl,
            decoded,
            baseline: bcpl,
            consistent,
        });
    };
    // Every clean combination: 16 types x S x 4 DPL x P x AVL x L x D/B x G x unusable.
    for bits in 0..0x2000u32 {
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
        let seg = Segment {
            selector: Selector(0),
            base: 0,
            limit,
            attributes,
            unusable: bits & 1 << 12 != 0,
        };
        push(KvmSegment::from(seg));
    }
    // Garbage: one byte at a time over the combinations with AVL, L, D/B, G clear. The
    // clean states above already meet every RPL and limit; garbage is about byte values,
    // which no conversion mixes with the selector or the limit, so it is tried once per
    // register, with RPL 3 and the 4 GiB limit.
    if rpl != PrivilegeLevel::Ring3 || limit != LIMITS[LIMITS.len() - 1] {
        return;
    }
    for bits in 0..0x200u32 {
        let clean = KvmSegment {
            type_: (bits & 0xf) as u8,
            s: ((bits >> 4) & 1) as u8,
            dpl: ((bits >> 5) & 3) as u8,
            present: ((bits >> 7) & 1) as u8,
            unusable: ((bits >> 8) & 1) as u8,
            ..KvmSegment::default()
        };
        for t in GARBAGE_TYPE {
            push(KvmSegment { type_: t, ..clean });
        }
        for d in GARBAGE_DPL {
            push(KvmSegment { dpl: d, ..clean });
        }
        for b in GARBAGE_BOOL {
            push(KvmSegment {
                present: b,
                ..clean
            });
            push(KvmSegment {
                unusable: b,
                ..clean
            });
            push(KvmSegment { s: b, ..clean });
            push(KvmSegment { db: b, ..clean });
            push(KvmSegment { l: b, ..clean });
            push(KvmSegment { g: b, ..clean });
            push(KvmSegment { avl: b, ..clean });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-register consistency verdicts are the whole-state checks': over every
    /// state of every domain, the baseline with the state's register put in passes
    /// [`arch::is_consistent`] (and, for a VMCS, [`vmx_entry::accepts`]) iff it passes
    /// the checks apart from that register and those reading it; the checks apart from
    /// it give the same verdict whatever the register holds; and the domain's stored
    /// verdict is the whole state's.
    #[test]
    fn per_register_consistency_is_the_whole_state_check() {
        let controls = entry_controls();
        let mut judged = 0u64;
        for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
            let mut verdicts = [0u64; 2];
            for state in build(format) {
                let Some(seg) = state.decoded else {
                    assert!(!state.consistent);
                    continue;
                };
                let (reg, base) = (state.reg, baseline(state.baseline));
                assert_eq!(
                    state.cpl, base.cpl,
                    "{format}: a state's CPL is its baseline's"
                );
                let seg = if format == Format::Vmcb {
                    arch::canonical_vmcb_cache(reg, seg)
                } else {
                    seg
                };
                let mut whole = base;
                whole.segments[reg] = seg;
                let arch_whole = arch::is_consistent(&whole);
                let arch_apart = arch::is_consistent_apart_from(&base, reg);
                assert_eq!(arch_apart, arch::is_consistent_apart_from(&whole, reg));
                let arch_split = arch_apart && arch::register_is_consistent(&base, reg, &seg);
                assert_eq!(arch_whole, arch_split, "{format} {reg}: {seg:?}");
                let entry_whole = vmx_entry::accepts(&whole, controls);
                let entry_apart = vmx_entry::accepts_apart_from(&base, controls, reg);
                assert_eq!(
                    entry_apart,
                    vmx_entry::accepts_apart_from(&whole, controls, reg)
                );
                let entry_split =
                    entry_apart && vmx_entry::register_accepted(&base, controls, reg, &seg);
                assert_eq!(entry_whole, entry_split, "{format} {reg}: {seg:?}");
                let expected = arch_whole && (format != Format::Vmcs || entry_whole);
                assert_eq!(state.consistent, expected, "{format} {reg}: {seg:?}");
                verdicts[usize::from(entry_whole)] += 1;
                judged += 1;
            }
            // Both verdicts occur: the test compares something.
            assert!(verdicts.iter().all(|&n| n > 1000), "{format}: {verdicts:?}");
        }
        assert!(judged > 1_000_000, "{judged} states judged");
    }
}
