//! rust-vmm's `kvm_bindings::kvm_sregs` (plus RFLAGS from `kvm_regs`) to the
//! whole-vCPU [`SegmentState`] and back, with no mirror struct in the caller's way
//! (feature `kvm-bindings`).
//!
//! KVM's UAPI has no CPL field: KVM_GET_SREGS reports it as SS.DPL and
//! KVM_SET_SREGS takes it from there (arch/x86/kvm/svm/svm.c `svm_set_segment`
//! writes `save->cpl` from SS's DPL; VMX derives it from SS.AR.DPL). So the way in
//! reads the CPL from SS.DPL, and the way out refuses a state whose CPL SS.DPL
//! would not carry, instead of letting the next KVM_SET_SREGS change privilege.
//!
//! ```
//! use kvm_bindings::{kvm_regs, kvm_sregs};
//! use segstate::arch::{PrivilegeLevel, SegReg, SegmentState};
//!
//! // What KVM_GET_SREGS / KVM_GET_REGS return for a vCPU paused in user mode
//! // right after AMD's SYSRET left SS unusable (its DPL still says CPL 3).
//! let mut sregs = kvm_sregs::default();
//! for s in [&mut sregs.cs, &mut sregs.ss] {
//!     (s.type_, s.s, s.present, s.dpl, s.g, s.limit) = (0xb, 1, 1, 3, 1, 0xffff_ffff);
//! }
//! sregs.cs.selector = 0x2b;
//! sregs.cs.l = 1;
//! (sregs.ss.selector, sregs.ss.type_, sregs.ss.db) = (0x23, 3, 1);
//! (sregs.ss.present, sregs.ss.unusable) = (0, 1);
//! (sregs.cr0, sregs.cr4, sregs.efer) = (0x8005_0033, 0x620, 0xd01);
//! let regs = kvm_regs { rflags: 0x202, ..Default::default() };
//!
//! let state = SegmentState::from_kvm(&sregs, &regs)?;
//! assert_eq!(state.cpl, PrivilegeLevel::Ring3);
//! assert!(state.segments[SegReg::Ss].unusable);
//! assert_eq!(state.rflags, 0x202);
//!
//! // And back, onto what KVM reported (CR3, GDTR, APIC base... stay as they were).
//! let mut back = sregs;
//! state.write_kvm_sregs(&mut back)?;
//! assert_eq!(back, sregs);
//!
//! // A state whose CPL SS.DPL does not carry is refused, not silently changed.
//! let mut lying = state;
//! lying.cpl = PrivilegeLevel::Ring0;
//! assert!(lying.write_kvm_sregs(&mut back).is_err());
//! # Ok::<(), segstate::format::kvm_bindings::KvmStateError>(())
//! ```

use core::fmt;

use super::FormatError;
use super::kvm::{KvmSegment, KvmSregs};
use crate::arch::{Cpl, PerSegReg, PrivilegeLevel, SegReg, SegmentState};

/// Why a `kvm_sregs` and a [`SegmentState`] do not convert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KvmStateError {
    /// A segment holds a byte its field cannot mean (strict decode, see
    /// [`Segment::try_from`](crate::arch::Segment)).
    Segment {
        /// The register.
        reg: SegReg,
        /// What was wrong in it.
        error: FormatError,
    },
    /// SS.DPL is KVM's carrier of the CPL, and it differs from the state's CPL:
    /// KVM_SET_SREGS would run the vCPU at SS.DPL.
    CplNotInSsDpl {
        /// The state's CPL.
        cpl: Cpl,
        /// The DPL of its SS.
        ss_dpl: PrivilegeLevel,
    },
}

impl fmt::Display for KvmStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvmStateError::Segment { reg, error } => {
                write!(f, "{} of kvm_sregs: {error}", reg.name())
            }
            KvmStateError::CplNotInSsDpl { cpl, ss_dpl } => write!(
                f,
                "CPL {} cannot go through kvm_sregs: KVM takes the CPL from SS.DPL, which is {}",
                cpl.bits(),
                ss_dpl.bits()
            ),
        }
    }
}

impl core::error::Error for KvmStateError {}

impl SegmentState {
    /// The state KVM_GET_SREGS reported, with `rflags` from KVM_GET_REGS. The CPL is
    /// SS.DPL, KVM's convention.
    pub fn from_kvm_sregs(
        sregs: &::kvm_bindings::kvm_sregs,
        rflags: u64,
    ) -> Result<Self, KvmStateError> {
        KvmSregs::from(*sregs)
            .state(rflags)
            .map_err(|e| KvmStateError::Segment {
                reg: e.reg,
                error: e.error,
            })
    }

    /// As [`SegmentState::from_kvm_sregs`], RFLAGS taken from `regs`.
    pub fn from_kvm(
        sregs: &::kvm_bindings::kvm_sregs,
        regs: &::kvm_bindings::kvm_regs,
    ) -> Result<Self, KvmStateError> {
        Self::from_kvm_sregs(sregs, regs.rflags)
    }

    /// Writes this state's segments, CR0, CR4 and EFER into `sregs` for
    /// KVM_SET_SREGS; the fields the state does not hold (CR2, CR3, CR8, GDTR, IDTR,
    /// the APIC base, the interrupt bitmap) keep their values. Refuses, leaving
    /// `sregs` untouched, when SS.DPL would not carry the CPL.
    pub fn write_kvm_sregs(
        &self,
        sregs: &mut ::kvm_bindings::kvm_sregs,
    ) -> Result<(), KvmStateError> {
        let ss_dpl = self.segments[SegReg::Ss].attributes.dpl;
        if ss_dpl != self.cpl {
            return Err(KvmStateError::CplNotInSsDpl {
                cpl: self.cpl,
                ss_dpl,
            });
        }
        let mut ours = KvmSregs::from(*sregs);
        ours.set_segments(&PerSegReg::from_fn(|reg| {
            KvmSegment::from(self.segments[reg])
        }));
        ours.cr0 = self.cr0;
        ours.cr4 = self.cr4;
        ours.efer = self.efer;
        *sregs = ours.into();
        Ok(())
    }

    /// [`SegmentState::write_kvm_sregs`], and RFLAGS into `regs` for KVM_SET_REGS.
    pub fn write_kvm(
        &self,
        sregs: &mut ::kvm_bindings::kvm_sregs,
        regs: &mut ::kvm_bindings::kvm_regs,
    ) -> Result<(), KvmStateError> {
        self.write_kvm_sregs(sregs)?;
        regs.rflags = self.rflags;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Attributes, Segment, Selector};

    fn user_sregs() -> ::kvm_bindings::kvm_sregs {
        let mut ours = KvmSregs {
            cr0: 0x8005_0033,
            cr3: 0x4000,
            cr4: 0x620,
            efer: 0xd01,
            apic_base: 0xfee0_0900,
            interrupt_bitmap: [0, 1 << 3, 0, 0],
            ..Default::default()
        };
        let data = Attributes::flat_data(PrivilegeLevel::Ring3);
        for reg in SegReg::ALL {
            *ours.segment_mut(reg) = KvmSegment::from(Segment::flat(Selector(0x23), data));
        }
        ours.cs = Segment::flat(Selector(0x2b), Attributes::code64(PrivilegeLevel::Ring3)).into();
        ours.ss = Segment::null(Selector(0x23), data).into();
        ours.gdt.base = 0x1000;
        ours.gdt.limit = 0x3f;
        ours.into()
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let sregs = user_sregs();
        let regs = ::kvm_bindings::kvm_regs {
            rflags: 0x3202,
            ..Default::default()
        };
        let state = SegmentState::from_kvm(&sregs, &regs).unwrap();
        assert_eq!(state.cpl, PrivilegeLevel::Ring3);
        assert_eq!(state.efer, 0xd01);
        assert!(!state.segments[SegReg::Ss].attributes.present);
        // Only what the state does not hold is carried over from the original.
        let mut back = ::kvm_bindings::kvm_sregs {
            cr3: sregs.cr3,
            gdt: sregs.gdt,
            apic_base: sregs.apic_base,
            interrupt_bitmap: sregs.interrupt_bitmap,
            ..Default::default()
        };
        let mut regs_back = ::kvm_bindings::kvm_regs::default();
        state.write_kvm(&mut back, &mut regs_back).unwrap();
        assert_eq!(back, sregs);
        assert_eq!(regs_back.rflags, 0x3202);
    }

    #[test]
    fn garbage_names_the_register_and_field() {
        let mut sregs = user_sregs();
        sregs.fs.present = 2;
        assert_eq!(
            SegmentState::from_kvm_sregs(&sregs, 2)
                .unwrap_err()
                .to_string(),
            format!(
                "FS of kvm_sregs: {}",
                Segment::try_from(KvmSegment::from(sregs.fs)).unwrap_err()
            )
        );
        assert!(matches!(
            SegmentState::from_kvm_sregs(&sregs, 2),
            Err(KvmStateError::Segment {
                reg: SegReg::Fs,
                ..
            })
        ));
    }

    #[test]
    fn a_cpl_ss_dpl_cannot_carry_is_refused_untouched() {
        let sregs = user_sregs();
        let mut state = SegmentState::from_kvm_sregs(&sregs, 2).unwrap();
        state.cpl = PrivilegeLevel::Ring0;
        state.cr4 = 0;
        let mut target = sregs;
        assert_eq!(
            state.write_kvm_sregs(&mut target),
            Err(KvmStateError::CplNotInSsDpl {
                cpl: PrivilegeLevel::Ring0,
                ss_dpl: PrivilegeLevel::Ring3
            })
        );
        assert_eq!(target, sregs);
    }
}
