//! The processor's operating mode, as the control registers and CS decide it
//! (SDM Vol. 3A §2.2, APM Vol. 2 §1.2).

use core::fmt;

use super::Attributes;

/// CR0.PE.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.ET: always 1 on anything newer than a 386.
pub const CR0_ET: u64 = 1 << 4;
/// CR0.NE: fixed to 1 in VMX operation (IA32_VMX_CR0_FIXED0).
pub const CR0_NE: u64 = 1 << 5;
/// CR0.NW.
pub const CR0_NW: u64 = 1 << 29;
/// CR0.CD.
pub const CR0_CD: u64 = 1 << 30;
/// CR0.PG.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PSE: 4-MByte pages in 32-bit paging.
pub const CR4_PSE: u64 = 1 << 4;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.LA57: 5-level paging in IA-32e mode.
pub const CR4_LA57: u64 = 1 << 12;
/// CR4.VMXE: fixed to 1 in VMX operation (IA32_VMX_CR4_FIXED0), MBZ on AMD.
pub const CR4_VMXE: u64 = 1 << 13;
/// CR4.PCIDE.
pub const CR4_PCIDE: u64 = 1 << 17;
/// EFER.LME.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA.
pub const EFER_LMA: u64 = 1 << 10;
/// EFER.SVME: SVM enabled (AMD). KVM keeps it set in every VMCB it runs
/// (`svm_set_efer`); a guest's own EFER, as KVM_GET_SREGS reports it, hides it.
pub const EFER_SVME: u64 = 1 << 12;
/// RFLAGS.TF.
pub const RFLAGS_TF: u64 = 1 << 8;
/// RFLAGS.IF.
pub const RFLAGS_IF: u64 = 1 << 9;
/// RFLAGS.VM.
pub const RFLAGS_VM: u64 = 1 << 17;

/// Where the CPU executes: the mode decides which segment rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuMode {
    /// CR0.PE = 0.
    Real,
    /// Protected mode with RFLAGS.VM = 1.
    Virtual8086,
    /// Protected mode, CS.D = 0.
    Protected16,
    /// Protected mode, CS.D = 1.
    Protected32,
    /// IA-32e mode with CS.L = 0 (a 16- or 32-bit program under a 64-bit kernel).
    Compatibility,
    /// IA-32e mode with CS.L = 1.
    Long64,
}

impl CpuMode {
    /// Decides the mode from CR0, EFER, RFLAGS and the cached CS attributes.
    #[must_use]
    pub const fn from_state(cr0: u64, efer: u64, rflags: u64, cs: Attributes) -> Self {
        if cr0 & CR0_PE == 0 {
            CpuMode::Real
        } else if efer & EFER_LMA != 0 {
            if cs.l {
                CpuMode::Long64
            } else {
                CpuMode::Compatibility
            }
        } else if rflags & RFLAGS_VM != 0 {
            CpuMode::Virtual8086
        } else if cs.db {
            CpuMode::Protected32
        } else {
            CpuMode::Protected16
        }
    }

    /// IA-32e (long) mode, either sub-mode.
    #[must_use]
    pub const fn is_ia32e(self) -> bool {
        matches!(self, CpuMode::Compatibility | CpuMode::Long64)
    }

    /// The default operand and address size, in bits, that instructions are fetched
    /// and decoded with: 64 in 64-bit mode, otherwise 32 when the cached CS.D (`cs_db`)
    /// is set and 16 when not.
    ///
    /// Real and virtual-8086 mode follow CS.D too, as KVM's emulator does
    /// (`x86_decode_insn` in arch/x86/kvm/emulate.c reads the CS descriptor's `d` for
    /// `X86EMUL_MODE_REAL` and `X86EMUL_MODE_VM86`) and as QEMU's TCG does (`HF_CS32`
    /// follows the cached CS flags whatever CR0.PE is): a "big real mode" CS left with
    /// D = 1 runs 32-bit code until CS is reloaded.
    #[must_use]
    pub const fn code_bits(self, cs_db: bool) -> u32 {
        match self {
            CpuMode::Long64 => 64,
            _ if cs_db => 32,
            _ => 16,
        }
    }
}

impl fmt::Display for CpuMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CpuMode::Real => "real mode",
            CpuMode::Virtual8086 => "virtual-8086 mode",
            CpuMode::Protected16 => "16-bit protected mode",
            CpuMode::Protected32 => "32-bit protected mode",
            CpuMode::Compatibility => "compatibility mode",
            CpuMode::Long64 => "64-bit mode",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;

    #[test]
    fn mode_follows_pe_lma_vm_and_cs() {
        let cs64 = Attributes::code64(PrivilegeLevel::Ring3);
        let cs32 = Attributes::code32(PrivilegeLevel::Ring3);
        assert_eq!(CpuMode::from_state(0, 0, 0, cs64), CpuMode::Real);
        let long = CR0_PE | CR0_PG;
        assert_eq!(
            CpuMode::from_state(long, EFER_LMA, 0, cs64),
            CpuMode::Long64
        );
        assert_eq!(
            CpuMode::from_state(long, EFER_LMA, 0, cs32),
            CpuMode::Compatibility
        );
        assert_eq!(
            CpuMode::from_state(CR0_PE, 0, RFLAGS_VM, cs32),
            CpuMode::Virtual8086
        );
        assert_eq!(
            CpuMode::from_state(CR0_PE, 0, 0, cs32),
            CpuMode::Protected32
        );
        let mut cs16 = cs32;
        cs16.db = false;
        assert_eq!(
            CpuMode::from_state(CR0_PE, 0, 0, cs16),
            CpuMode::Protected16
        );
    }

    #[test]
    fn code_bits_follow_long_mode_then_cs_d() {
        assert_eq!(CpuMode::Long64.code_bits(false), 64);
        assert_eq!(CpuMode::Long64.code_bits(true), 64);
        assert_eq!(CpuMode::Compatibility.code_bits(true), 32);
        assert_eq!(CpuMode::Compatibility.code_bits(false), 16);
        assert_eq!(CpuMode::Protected32.code_bits(true), 32);
        assert_eq!(CpuMode::Protected16.code_bits(false), 16);
        assert_eq!(CpuMode::Real.code_bits(false), 16);
        assert_eq!(CpuMode::Real.code_bits(true), 32, "big real mode with CS.D");
        assert_eq!(CpuMode::Virtual8086.code_bits(false), 16);
    }
}
