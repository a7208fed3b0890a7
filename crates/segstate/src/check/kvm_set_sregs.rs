//! KVM_SET_SREGS acceptance: the states upstream KVM's set path refuses with EINVAL.
//!
//! Linux `arch/x86/kvm/x86.c`, `__set_sregs_common` → `kvm_is_valid_sregs` (as of
//! v6.12; the CR0 half since commit 26a0652cb453 "KVM: x86: Disallow KVM_SET_SREGS{2}
//! if incoming CR0 is invalid", v6.5):
//!
//! - with EFER.LME and CR0.PG set the vCPU is in long mode: CR4.PAE and EFER.LMA must
//!   be set (and CR3 must be a legal GPA);
//! - otherwise EFER.LMA and CS.L must be clear;
//! - `kvm_is_valid_cr4`: no CR4 bit KVM does not know (`CR4_RESERVED_BITS`,
//!   arch/x86/include/asm/kvm_host.h) and none whose feature the vCPU's CPUID lacks
//!   (`__cr4_reserved_bits`, arch/x86/kvm/x86.h);
//! - `kvm_is_valid_cr0`: bits 63:32 of CR0 clear, not NW without CD, not PG without PE.
//!
//! Not modelled, because [`SegmentState`] does not hold them: CR3's legality in long
//! mode, the APIC base (`kvm_apic_set_base`), and the vendor hooks that matter only
//! under nested VMX (VMXON) or in SMM. EFER's reserved bits are not checked on this
//! path (only on WRMSR), and neither is any segment attribute.

use alloc::vec::Vec;

use super::{CheckId, Finding, Findings};
use crate::arch::SegmentState;
use crate::arch::{CR0_CD, CR0_NW, CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME, SegReg};

/// The CR4 bits KVM_SET_SREGS lets through for one vCPU: those KVM knows, less those
/// whose CPUID feature the vCPU lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cr4Allowed(pub u64);

/// One CR4 bit that depends on a CPUID feature: (CR4 bit, features that allow it as
/// (leaf, subleaf, register index EAX=0..EDX=3, bit)).
type FeatureGate = (u32, &'static [(u32, u32, usize, u32)]);

/// `__cr4_reserved_bits` (arch/x86/kvm/x86.h): a CR4 bit is reserved unless the vCPU
/// has one of its features.
const FEATURE_GATES: &[FeatureGate] = &[
    (18, &[(1, 0, 2, 26)]),               // OSXSAVE: XSAVE
    (20, &[(7, 0, 1, 7)]),                // SMEP
    (21, &[(7, 0, 1, 20)]),               // SMAP
    (16, &[(7, 0, 1, 0)]),                // FSGSBASE
    (22, &[(7, 0, 2, 3)]),                // PKE: PKU
    (12, &[(7, 0, 2, 16)]),               // LA57
    (11, &[(7, 0, 2, 2)]),                // UMIP
    (13, &[(1, 0, 2, 5)]),                // VMXE: VMX
    (17, &[(1, 0, 2, 17)]),               // PCIDE: PCID
    (28, &[(7, 1, 0, 26)]),               // LAM_SUP: LAM
    (23, &[(7, 0, 2, 7), (7, 0, 3, 20)]), // CET: SHSTK or IBT
    (32, &[(7, 1, 0, 17)]),               // FRED
];

impl Cr4Allowed {
    /// The CR4 bits KVM knows: the complement of `CR4_RESERVED_BITS` — VME, PVI, TSD,
    /// DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT, UMIP, LA57, VMXE, FSGSBASE,
    /// PCIDE, OSXSAVE, SMEP, SMAP, PKE, CET, LAM_SUP, FRED.
    pub const KVM_KNOWN: u64 = 0x7ff
        | 1 << 11
        | 1 << 12
        | 1 << 13
        | 1 << 16
        | 1 << 17
        | 1 << 18
        | 1 << 20
        | 1 << 21
        | 1 << 22
        | 1 << 23
        | 1 << 28
        | 1 << 32;

    /// Every bit KVM knows: a vCPU with every feature.
    #[must_use]
    pub const fn all_known() -> Self {
        Cr4Allowed(Self::KVM_KNOWN)
    }

    /// The bits a vCPU with this CPUID may set. `leaf(function, index)` gives
    /// EAX, EBX, ECX, EDX of a CPUID entry, or `None` when the vCPU has none.
    #[must_use]
    pub fn from_cpuid(leaf: impl Fn(u32, u32) -> Option<[u32; 4]>) -> Self {
        let mut allowed = Self::KVM_KNOWN;
        for &(bit, features) in FEATURE_GATES {
            let has = features.iter().any(|&(function, index, reg, feature)| {
                leaf(function, index).is_some_and(|r| r[reg] & (1 << feature) != 0)
            });
            if !has {
                allowed &= !(1u64 << bit);
            }
        }
        Cr4Allowed(allowed)
    }
}

/// Every reason KVM_SET_SREGS would refuse the state with EINVAL.
#[must_use]
pub fn check(state: &SegmentState, cr4: Cr4Allowed) -> Vec<Finding> {
    Findings::listed(|f| run(state, cr4, f))
}

/// True when KVM_SET_SREGS accepts the state. Formats nothing.
#[must_use]
pub fn accepts(state: &SegmentState, cr4: Cr4Allowed) -> bool {
    Findings::no_error(|f| run(state, cr4, f))
}

fn run(state: &SegmentState, cr4: Cr4Allowed, f: &mut Findings) {
    let lma = state.efer & EFER_LMA != 0;
    if state.efer & EFER_LME != 0 && state.cr0 & CR0_PG != 0 {
        if state.cr4 & CR4_PAE == 0 {
            f.fail(
                CheckId::KvmSetSregsLongModePae,
                None,
                "CR4.PAE",
                "1 with EFER.LME and CR0.PG",
                "0",
            );
        }
        if !lma {
            f.fail(
                CheckId::KvmSetSregsLongModeLma,
                None,
                "EFER.LMA",
                "1 with EFER.LME and CR0.PG",
                "0",
            );
        }
    } else {
        if lma {
            f.fail(
                CheckId::KvmSetSregsLma,
                None,
                "EFER.LMA",
                "0 unless EFER.LME and CR0.PG",
                "1",
            );
        }
        if state.segments[SegReg::Cs].attributes.l {
            f.fail(
                CheckId::KvmSetSregsCsL,
                Some(SegReg::Cs),
                "L",
                "0 unless EFER.LME and CR0.PG",
                "1",
            );
        }
    }
    let reserved = state.cr4 & !cr4.0;
    if reserved != 0 {
        f.fail(
            CheckId::KvmSetSregsCr4Reserved,
            None,
            "CR4",
            format_args!("only bits {:#x} (known to KVM, allowed by CPUID)", cr4.0),
            format_args!("{reserved:#x} set"),
        );
    }
    if state.cr0 >> 32 != 0 {
        f.fail(
            CheckId::KvmSetSregsCr0High,
            None,
            "CR0[63:32]",
            "0",
            format_args!("{:#x}", state.cr0 >> 32),
        );
    }
    if state.cr0 & CR0_NW != 0 && state.cr0 & CR0_CD == 0 {
        f.fail(
            CheckId::KvmSetSregsCr0NwCd,
            None,
            "CR0.NW",
            "0 when CR0.CD = 0",
            "1",
        );
    }
    if state.cr0 & CR0_PG != 0 && state.cr0 & CR0_PE == 0 {
        f.fail(
            CheckId::KvmSetSregsCr0PgPe,
            None,
            "CR0.PE",
            "1 when CR0.PG = 1",
            "0",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_features_open_their_cr4_bits() {
        let none = Cr4Allowed::from_cpuid(|_, _| None);
        assert_eq!(none.0 & 1 << 13, 0, "VMXE needs VMX");
        assert_ne!(none.0 & 1 << 5, 0, "PAE needs no feature");
        let vmx_pcid = Cr4Allowed::from_cpuid(|f, i| {
            (f == 1 && i == 0).then_some([0, 0, 1 << 5 | 1 << 17, 0])
        });
        assert_eq!(vmx_pcid.0 & (1 << 13 | 1 << 17), 1 << 13 | 1 << 17);
        let ibt = Cr4Allowed::from_cpuid(|f, i| (f == 7 && i == 0).then_some([0, 0, 0, 1 << 20]));
        assert_ne!(ibt.0 & 1 << 23, 0, "CET with IBT alone");
        assert_eq!(
            Cr4Allowed::from_cpuid(|_, _| Some([!0; 4])),
            Cr4Allowed::all_known()
        );
        assert_eq!(Cr4Allowed::KVM_KNOWN & 1 << 14, 0, "SMXE is unknown to KVM");
    }
}
