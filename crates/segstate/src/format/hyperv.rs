//! Hyper-V (MSHV, WHP) segment registers: `HV_X64_SEGMENT_REGISTER` /
//! `WHV_X64_SEGMENT_REGISTER`, the layout of the second hypervisor family Rust VMMs
//! target (Hyper-V TLFS, "Virtual Processor Register Names and Values").

use super::attribute_word::{attribute_word, without_unusable_bit};
use super::vmx::VmxAccessRights;
use super::wire::{segment_record, wire_struct};
use super::{FormatError, LengthError, exact_len, le_u32};
use crate::arch::{Attributes, PerSegReg, PrivilegeLevel, SegReg, Segment, Selector};

attribute_word! {
    /// The 16-bit attribute word: VMX access-rights bits 15:0 (type 3:0, S 4, DPL 6:5,
    /// P 7, reserved 11:8, AVL 12, L 13, D/B 14, G 15) and **no unusable bit**.
    pub struct HvSegmentAttributes(pub u16) in "hv_x64_segment_register"."attributes";
    /// Bits 11:8, reserved.
    reserved 0x0f00, "bits 11:8 of the attribute word are reserved"
}

impl HvSegmentAttributes {
    /// All eight attribute fields: the layout is VMX access rights bits 15:0.
    #[inline]
    #[must_use]
    pub const fn attributes(self) -> Attributes {
        VmxAccessRights(self.0 as u32).attributes()
    }

    /// Packs attributes; reserved bits are zero.
    #[inline]
    #[must_use]
    pub const fn from_attributes(a: Attributes) -> Self {
        // Bits 15:0 of VMX access rights; without the unusable bit the value fits.
        HvSegmentAttributes(VmxAccessRights::from_parts(a, false).0 as u16)
    }
}

segment_record! {
    /// `HV_X64_SEGMENT_REGISTER`: Base u64 @0, Limit u32 @8, Selector u16 @12,
    /// Attributes u16 @14; 16 bytes.
    pub struct HvSegmentRegister ("HV_X64_SEGMENT_REGISTER", 16 bytes) {
        base @0 "Base",
        limit @8 "Limit",
        selector @12 "Selector",
        attributes: HvSegmentAttributes @14 "Attributes",
    }
}

wire_struct! {
    /// `HV_X64_TABLE_REGISTER` / `WHV_X64_TABLE_REGISTER`, a GDTR or IDTR: Pad u16\[3\]
    /// @0, Limit u16 @6, Base u64 @8; 16 bytes, as a Hyper-V saved state's
    /// `VP_TABLE_REGISTERS` chunk and WHP's 128-bit register value hold it.
    pub struct HvTableRegister ("HV_X64_TABLE_REGISTER", 16 bytes) {
        /// `Pad`.
        pub pad: [u16; 3] = @0,
        /// `Limit`.
        pub limit: u16 = @6,
        /// `Base`.
        pub base: u64 = @8,
    }
}

impl From<HvTableRegister> for crate::arch::DescriptorTable {
    fn from(t: HvTableRegister) -> Self {
        crate::arch::DescriptorTable {
            base: t.base,
            limit: t.limit.into(),
        }
    }
}

without_unusable_bit! {
    /// Strict decode. Without an unusable bit, P = 0 is the only way to say it, so
    /// `unusable = !P`. Reserved bits are refused.
    decode HvSegmentRegister.attributes: HvSegmentAttributes,
    /// Fails where Hyper-V would lose information: an unusable segment that still
    /// says P = 1 (as KVM VMX reports some) or a usable one with P = 0 cannot be
    /// told apart from their neighbours once the unusable bit is gone.
    encode refusing "unusable", |_unusable| "Hyper-V has no unusable bit: unusable must equal !present"
}

/// The header of every chunk of a Hyper-V partition state blob
/// (`VmSaveChunkHeader`, openvmm vm/hv1/hvdef/src/save_restore.rs @1488a37b7cfe):
/// id u32 @0, data_length u32 @4, 8 bytes of padding; 16 bytes, 16-aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VmSaveChunkHeader {
    /// `id`, a `VM_SAVE_CHUNK_ID`.
    pub id: u32,
    /// `data_length`: the bytes after the header.
    pub data_length: u32,
}

impl VmSaveChunkHeader {
    /// Size on disk.
    pub const SIZE: usize = 16;
}

/// The `VP_SEGMENT_REGISTERS` chunk (`VpX64SaveChunkSegmentRegisters`): the header,
/// eight [`HvSegmentRegister`]s in the order es, cs, ss, ds, fs, gs, ldtr, tr (the
/// [`SegReg`] order), then **`cpl: u8`** and 15 bytes of padding; 160 bytes. The only
/// user-held format found that stores the CPL next to the segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VpSegmentRegisters {
    /// ES … TR.
    pub segments: PerSegReg<HvSegmentRegister>,
    /// `cpl`, raw.
    pub cpl: u8,
    /// The padding bytes, kept so re-encoding reproduces the input.
    pub padding: [u8; 15],
    /// The header's padding bytes, kept likewise.
    pub header_padding: [u8; 8],
}

/// Why a `VP_SEGMENT_REGISTERS` chunk was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VpSegmentRegistersError {
    /// Not 160 bytes.
    Length(LengthError),
    /// The header names another chunk.
    WrongId {
        /// The id found at offset 0.
        found: u32,
    },
    /// `data_length` at offset 4 is not 144.
    WrongDataLength {
        /// The value found.
        found: u32,
    },
}

impl core::fmt::Display for VpSegmentRegistersError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VpSegmentRegistersError::Length(e) => e.fmt(f),
            VpSegmentRegistersError::WrongId { found } => write!(
                f,
                "offset 0 (id): {found:#010x} is not VP_SEGMENT_REGISTERS ({:#010x})",
                VpSegmentRegisters::CHUNK_ID
            ),
            VpSegmentRegistersError::WrongDataLength { found } => write!(
                f,
                "offset 4 (data_length): {found}, expected {}",
                VpSegmentRegisters::SIZE - VmSaveChunkHeader::SIZE
            ),
        }
    }
}

impl core::error::Error for VpSegmentRegistersError {}

impl VpSegmentRegisters {
    /// `VmSaveChunkId::VP_SEGMENT_REGISTERS`.
    pub const CHUNK_ID: u32 = 0x3000_9000;
    /// Size of the chunk, header included.
    pub const SIZE: usize = 160;
    /// Offset of `cpl`.
    pub const CPL_OFFSET: usize = VmSaveChunkHeader::SIZE + 8 * HvSegmentRegister::SIZE;

    /// A chunk with zero padding.
    #[must_use]
    pub const fn new(segments: PerSegReg<HvSegmentRegister>, cpl: u8) -> Self {
        VpSegmentRegisters {
            segments,
            cpl,
            padding: [0; 15],
            header_padding: [0; 8],
        }
    }

    /// The chunk's bytes, header included.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..4].copy_from_slice(&Self::CHUNK_ID.to_le_bytes());
        let data_length = (Self::SIZE - VmSaveChunkHeader::SIZE) as u32;
        out[4..8].copy_from_slice(&data_length.to_le_bytes());
        out[8..16].copy_from_slice(&self.header_padding);
        for reg in SegReg::ALL {
            let at = VmSaveChunkHeader::SIZE + reg.index() * HvSegmentRegister::SIZE;
            out[at..at + HvSegmentRegister::SIZE].copy_from_slice(&self.segments[reg].to_bytes());
        }
        out[Self::CPL_OFFSET] = self.cpl;
        out[Self::CPL_OFFSET + 1..].copy_from_slice(&self.padding);
        out
    }

    /// Reads one whole chunk, header included, strictly: the id and the data length
    /// must be this chunk's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VpSegmentRegistersError> {
        exact_len("VP_SEGMENT_REGISTERS chunk", bytes, Self::SIZE)
            .map_err(VpSegmentRegistersError::Length)?;
        let id = le_u32(bytes, 0);
        if id != Self::CHUNK_ID {
            return Err(VpSegmentRegistersError::WrongId { found: id });
        }
        let data_length = le_u32(bytes, 4);
        if data_length as usize != Self::SIZE - VmSaveChunkHeader::SIZE {
            return Err(VpSegmentRegistersError::WrongDataLength { found: data_length });
        }
        let segments = PerSegReg::from_fn(|reg| {
            let at = VmSaveChunkHeader::SIZE + reg.index() * HvSegmentRegister::SIZE;
            HvSegmentRegister::from_bytes(&bytes[at..at + HvSegmentRegister::SIZE])
                .expect("16 bytes per register")
        });
        let mut padding = [0u8; 15];
        padding.copy_from_slice(&bytes[Self::CPL_OFFSET + 1..]);
        let mut header_padding = [0u8; 8];
        header_padding.copy_from_slice(&bytes[8..16]);
        Ok(VpSegmentRegisters {
            segments,
            cpl: bytes[Self::CPL_OFFSET],
            padding,
            header_padding,
        })
    }

    /// The stored CPL, strictly: a byte above 3 is refused.
    pub fn cpl(&self) -> Result<PrivilegeLevel, FormatError> {
        PrivilegeLevel::try_from(self.cpl).map_err(|_| FormatError {
            format: "VP_SEGMENT_REGISTERS",
            field: "cpl",
            value: self.cpl.into(),
            reason: "a privilege level is 0..=3",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::{encodes_and_decodes_back, user_null_ss};

    /// The pad words, limit and base at the offsets the TLFS gives, and back.
    #[test]
    fn a_table_register_reads_its_limit_and_base_past_the_pad() {
        let mut bytes = [0u8; 16];
        bytes[0..6].copy_from_slice(&[1, 0, 2, 0, 3, 0]);
        bytes[6..8].copy_from_slice(&0x7fu16.to_le_bytes());
        bytes[8..].copy_from_slice(&0xffff_f800_0000_1000u64.to_le_bytes());
        let t = HvTableRegister::from_bytes(&bytes).unwrap();
        assert_eq!(
            (t.pad, t.limit, t.base),
            ([1, 2, 3], 0x7f, 0xffff_f800_0000_1000)
        );
        assert_eq!(t.to_bytes(), bytes);
        assert!(HvTableRegister::from_bytes(&bytes[..15]).is_err());
    }

    #[test]
    fn bytes_and_attributes_round_trip() {
        let cs = Segment::flat(Selector(0x10), Attributes::code64(PrivilegeLevel::Ring0));
        let hv: HvSegmentRegister = encodes_and_decodes_back(cs);
        assert_eq!(hv.attributes.0, 0xa09b);
        assert_eq!(HvSegmentRegister::from_bytes(&hv.to_bytes()), Ok(hv));
        for raw in 0..=u16::MAX {
            if raw & HvSegmentAttributes::RESERVED_MASK == 0 {
                let a = HvSegmentAttributes(raw);
                assert_eq!(HvSegmentAttributes::from_attributes(a.attributes()), a);
            }
        }
    }

    /// Converting into Hyper-V says so when the unusable flag would be lost.
    #[test]
    fn unusable_present_segment_is_refused_not_dropped() {
        let mut ss = Segment::flat(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3));
        ss.unusable = true;
        let err = HvSegmentRegister::try_from(ss).unwrap_err();
        assert_eq!(err.field, "unusable");
        let null = user_null_ss();
        let hv: HvSegmentRegister = encodes_and_decodes_back(null);
        assert_eq!(hv.attributes.attributes().dpl, PrivilegeLevel::Ring3);
    }

    /// Offsets of the chunk: ss at 16 + 2 * 16, cpl at 144; decode -> encode exact.
    #[test]
    fn vp_segment_registers_layout() {
        let mut segs = PerSegReg::from_fn(|_| HvSegmentRegister::default());
        segs[SegReg::Ss] = HvSegmentRegister {
            base: 0,
            limit: 0xffff_ffff,
            selector: 0x2b,
            attributes: HvSegmentAttributes(0xc0f3),
        };
        let chunk = VpSegmentRegisters::new(segs, 3);
        let mut b = chunk.to_bytes();
        assert_eq!(&b[0..8], &[0x00, 0x90, 0x00, 0x30, 144, 0, 0, 0]);
        assert_eq!(&b[48 + 12..48 + 16], &[0x2b, 0, 0xf3, 0xc0]);
        assert_eq!(b[144], 3);
        assert_eq!(VpSegmentRegisters::from_bytes(&b), Ok(chunk));
        b[150] = 0x55;
        b[9] = 0x66;
        let odd = VpSegmentRegisters::from_bytes(&b).unwrap();
        assert_eq!(odd.to_bytes(), b, "padding survives re-encoding");
        b[144] = 7;
        assert_eq!(
            VpSegmentRegisters::from_bytes(&b)
                .unwrap()
                .cpl()
                .unwrap_err()
                .field,
            "cpl"
        );
        b[1] = 0;
        assert!(matches!(
            VpSegmentRegisters::from_bytes(&b),
            Err(VpSegmentRegistersError::WrongId { found: 0x3000_0000 })
        ));
        b[1] = 0x90;
        b[4] = 143;
        assert!(matches!(
            VpSegmentRegisters::from_bytes(&b),
            Err(VpSegmentRegistersError::WrongDataLength { found: 143 })
        ));
        assert!(VpSegmentRegisters::from_bytes(&b[..159]).is_err());
    }
}
