//! HyperFuzzer's VM state: the fuzzing seeds Microsoft's HyperFuzzer (CCS '21) feeds the
//! Hyper-V hypervisor, as published in MSRSSP/hyperfuzzer-seeds (README.md and
//! `scripts/vmstate.py` @b52d453): a packed `REG_FILE` of 396 bytes, then the guest's
//! physical memory from address 0 to the end of the file.
//!
//! ```text
//! #pragma pack(1)
//! typedef struct _VM_STATE { REG_FILE RegFile; UINT8 PhysicalMemory[0]; } VM_STATE;
//! typedef struct _REG_SEG64 { UINT64 Base; UINT32 Limit; UINT16 Selector; UINT16 Attributes; } REG_SEG64;
//! typedef struct _REG_TABLE64 { UINT64 Base; UINT16 Limit; } REG_TABLE64;
//! ```
//!
//! A `REG_SEG64` is Hyper-V's `HV_X64_SEGMENT_REGISTER` byte for byte
//! ([`HvSegmentRegister`]: the attribute word is VMX access rights 15:0, reserved bits
//! 11:8, no unusable bit). `REG_FILE` holds no LDTR: a seed's code never loads one, and
//! the hypervisor under test keeps whatever it had. Widths are the header's: CR0, CR4,
//! EFLAGS, DR6, DR7, SYSENTER_CS, EFER and SFMASK are 32 bits, the rest 64. There is no
//! magic number and no version: the state is told by being named.

use super::hyperv::HvSegmentRegister;
use super::wire::wire_struct;
use crate::arch::{DescriptorTable, SegReg};

wire_struct! {
    /// `REG_TABLE64`: a GDTR or IDTR, base then a 16-bit limit; 10 bytes, packed.
    pub struct RegTable64 ("REG_TABLE64", 10 bytes) {
        /// `Base`.
        pub base: u64 = @0,
        /// `Limit`.
        pub limit: u16 = @8,
    }
}

impl From<RegTable64> for DescriptorTable {
    fn from(t: RegTable64) -> Self {
        DescriptorTable {
            base: t.base,
            limit: t.limit.into(),
        }
    }
}

wire_struct! {
    /// `REG_FILE`: the registers of a HyperFuzzer VM state, packed; 396 bytes.
    pub struct RegFile ("REG_FILE", 396 bytes) {
        /// `Rax`.
        pub rax: u64 = @0,
        /// `Rcx`.
        pub rcx: u64 = @8,
        /// `Rdx`.
        pub rdx: u64 = @16,
        /// `Rbx`.
        pub rbx: u64 = @24,
        /// `Rsp`.
        pub rsp: u64 = @32,
        /// `Rbp`.
        pub rbp: u64 = @40,
        /// `Rsi`.
        pub rsi: u64 = @48,
        /// `Rdi`.
        pub rdi: u64 = @56,
        /// `R8`.
        pub r8: u64 = @64,
        /// `R9`.
        pub r9: u64 = @72,
        /// `R10`.
        pub r10: u64 = @80,
        /// `R11`.
        pub r11: u64 = @88,
        /// `R12`.
        pub r12: u64 = @96,
        /// `R13`.
        pub r13: u64 = @104,
        /// `R14`.
        pub r14: u64 = @112,
        /// `R15`.
        pub r15: u64 = @120,
        /// `Rip`.
        pub rip: u64 = @128,
        /// `Eflags`: 32 bits.
        pub eflags: u32 = @136,
        /// `Es`.
        pub es: HvSegmentRegister = @140,
        /// `Cs`.
        pub cs: HvSegmentRegister = @156,
        /// `Ss`.
        pub ss: HvSegmentRegister = @172,
        /// `Ds`.
        pub ds: HvSegmentRegister = @188,
        /// `Fs`.
        pub fs: HvSegmentRegister = @204,
        /// `Gs`.
        pub gs: HvSegmentRegister = @220,
        /// `Tr`.
        pub tr: HvSegmentRegister = @236,
        /// `Idtr`.
        pub idtr: RegTable64 = @252,
        /// `Gdtr`.
        pub gdtr: RegTable64 = @262,
        /// `Cr0`: 32 bits.
        pub cr0: u32 = @272,
        /// `Cr2`.
        pub cr2: u64 = @276,
        /// `Cr3`.
        pub cr3: u64 = @284,
        /// `Cr4`: 32 bits.
        pub cr4: u32 = @292,
        /// `Dr0`.
        pub dr0: u64 = @296,
        /// `Dr1`.
        pub dr1: u64 = @304,
        /// `Dr2`.
        pub dr2: u64 = @312,
        /// `Dr3`.
        pub dr3: u64 = @320,
        /// `Dr6`: 32 bits.
        pub dr6: u32 = @328,
        /// `Dr7`: 32 bits.
        pub dr7: u32 = @332,
        /// `SysenterCs`: 32 bits.
        pub sysenter_cs: u32 = @336,
        /// `SysenterEip`.
        pub sysenter_eip: u64 = @340,
        /// `SysenterEsp`.
        pub sysenter_esp: u64 = @348,
        /// `Efer`: 32 bits.
        pub efer: u32 = @356,
        /// `KernelGsBase`.
        pub kernel_gs_base: u64 = @360,
        /// `Star`.
        pub star: u64 = @368,
        /// `Lstar`.
        pub lstar: u64 = @376,
        /// `Cstar`.
        pub cstar: u64 = @384,
        /// `Sfmask`: 32 bits.
        pub sfmask: u32 = @392,
    }
}

impl RegFile {
    /// The seven segment registers `REG_FILE` holds, in its order, each with its C name
    /// and byte offset (for errors and notes); LDTR is not among them.
    #[must_use]
    pub fn segments(&self) -> [(SegReg, &'static str, usize, HvSegmentRegister); 7] {
        [
            (SegReg::Es, "Es", 140, self.es),
            (SegReg::Cs, "Cs", 156, self.cs),
            (SegReg::Ss, "Ss", 172, self.ss),
            (SegReg::Ds, "Ds", 188, self.ds),
            (SegReg::Fs, "Fs", 204, self.fs),
            (SegReg::Gs, "Gs", 220, self.gs),
            (SegReg::Tr, "Tr", 236, self.tr),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::hyperv::HvSegmentAttributes;

    /// Offsets from the packed header, as `vmstate.py`'s ctypes `RegFile` lays it out:
    /// each field written at its offset comes back from it.
    #[test]
    fn fields_sit_at_the_packed_offsets() {
        let mut b = [0u8; RegFile::SIZE];
        b[128..136].copy_from_slice(&0x20a0u64.to_le_bytes()); // Rip
        b[136..140].copy_from_slice(&0x0002u32.to_le_bytes()); // Eflags
        b[172 + 12..172 + 16].copy_from_slice(&[0x23, 0x00, 0xf3, 0xc0]); // Ss.Selector, Attributes
        b[262..270].copy_from_slice(&0x2068u64.to_le_bytes()); // Gdtr.Base
        b[270..272].copy_from_slice(&0x37u16.to_le_bytes()); // Gdtr.Limit
        b[272..276].copy_from_slice(&0x8000_0011u32.to_le_bytes()); // Cr0
        b[356..360].copy_from_slice(&0xd01u32.to_le_bytes()); // Efer
        b[392..396].copy_from_slice(&0x4700u32.to_le_bytes()); // Sfmask
        let r = RegFile::from_bytes(&b).unwrap();
        assert_eq!(
            (r.rip, r.eflags, r.cr0, r.efer, r.sfmask),
            (0x20a0, 2, 0x8000_0011, 0xd01, 0x4700)
        );
        assert_eq!(
            (r.ss.selector, r.ss.attributes),
            (0x23, HvSegmentAttributes(0xc0f3))
        );
        assert_eq!(
            DescriptorTable::from(r.gdtr),
            DescriptorTable {
                base: 0x2068,
                limit: 0x37
            }
        );
        assert_eq!(r.to_bytes(), b);
        assert_eq!(r.segments()[2].0, SegReg::Ss);
        for (reg, c_name, offset, _) in r.segments() {
            let field = c_name.to_ascii_lowercase();
            assert_eq!(RegFile::field_offset(&field), Some(offset), "{reg:?}");
        }
        assert!(RegFile::from_bytes(&b[..395]).is_err());
    }
}
