//! AMD SVM: the VMCB segment (`struct vmcb_seg`), its 12-bit `attrib`, and the VMCB
//! save area (APM Vol. 2 §15.5 and Appendix B, Table B-2).
//!
//! ```
//! use segstate::arch::{Attributes, PrivilegeLevel};
//! use segstate::format::svm::{SaveAreaOffset, SvmAttrib, VmcbSaveArea};
//!
//! // Linux's user data segment in the VMCB's 12-bit attribute layout.
//! let attrib = SvmAttrib::from_attributes(Attributes::flat_data(PrivilegeLevel::Ring3));
//! assert_eq!(attrib, SvmAttrib(0x0cf3));
//!
//! // A whole 4 KiB VMCB page, exact both ways; the CPL byte is kept raw.
//! let mut page = vec![0u8; VmcbSaveArea::PAGE_SIZE];
//! page[SaveAreaOffset::IN_PAGE + SaveAreaOffset::CPL] = 3;
//! let area = VmcbSaveArea::from_page(&page)?;
//! assert_eq!(area.cpl, 3);
//! assert_eq!(area.to_page(), page);
//! # Ok::<(), segstate::format::LengthError>(())
//! ```

use super::attribute_word::{attribute_word, without_unusable_bit};
use super::vmx::VmxAccessRights;
use super::wire::segment_record;
use super::{FormatError, LengthError, exact_len, le_u32, le_u64};
use crate::arch::{Attributes, PerSegReg, PrivilegeLevel, SegReg, Segment, SegmentType, Selector};

attribute_word! {
    /// The VMCB segment attribute word: descriptor bits 47:40 in bits 7:0 and descriptor
    /// bits 55:52 in bits 11:8 (Linux `SVM_SELECTOR_*_SHIFT`). Bits 15:12 are reserved.
    ///
    /// L is bit 9 here, not bit 13 as in VMX access rights: a peer hypervisor tests
    /// `attrib & (1 << 13)` for CS.L and never sees 64-bit mode.
    pub struct SvmAttrib(pub u16) in "vmcb_seg"."attrib";
    /// Bits 15:12, not defined by the APM.
    reserved 0xf000, "bits 15:12 of the attribute word are reserved"
}

impl SvmAttrib {
    /// Type, bits 3:0.
    pub const TYPE_MASK: u16 = 0xf;
    /// S, bit 4.
    pub const S_SHIFT: u16 = 4;
    /// DPL, bits 6:5.
    pub const DPL_SHIFT: u16 = 5;
    /// P, bit 7.
    pub const P_SHIFT: u16 = 7;
    /// AVL, bit 8.
    pub const AVL_SHIFT: u16 = 8;
    /// L, bit 9.
    pub const L_SHIFT: u16 = 9;
    /// D/B, bit 10.
    pub const DB_SHIFT: u16 = 10;
    /// G, bit 11.
    pub const G_SHIFT: u16 = 11;

    /// Type field.
    #[inline]
    #[must_use]
    pub const fn segment_type(self) -> SegmentType {
        SegmentType::from_low_bits(self.0 as u8)
    }
    /// DPL.
    #[inline]
    #[must_use]
    pub const fn dpl(self) -> PrivilegeLevel {
        PrivilegeLevel::from_low_bits((self.0 >> Self::DPL_SHIFT) as u8)
    }

    /// All eight attribute fields: the word moved into the VMX access-rights layout,
    /// whose bits 15:0 are the architectural attribute word.
    #[inline]
    #[must_use]
    pub const fn attributes(self) -> Attributes {
        Attributes::from_word(self.to_vmx_layout() as u16)
    }

    /// Packs attributes; reserved bits are zero.
    #[inline]
    #[must_use]
    pub const fn from_attributes(a: Attributes) -> Self {
        SvmAttrib(VmxAccessRights::from_parts(a, false).to_svm_layout())
    }

    /// The same attributes in VMX access-rights layout (no unusable bit):
    /// `(a & 0xff) | ((a & 0xf00) << 4)`.
    #[inline]
    #[must_use]
    pub const fn to_vmx_layout(self) -> u32 {
        (self.0 as u32 & 0xff) | ((self.0 as u32 & 0xf00) << 4)
    }
}

segment_record! {
    /// `struct vmcb_seg`: selector u16 @0, attrib u16 @2, limit u32 @4, base u64 @8.
    pub struct VmcbSegment ("struct vmcb_seg", 16 bytes) {
        selector @0 "selector",
        attrib: SvmAttrib @2 "attrib",
        limit @4 "limit",
        base @8 "base",
    }
}

without_unusable_bit! {
    /// Strict decode. The VMCB has no unusable bit: a segment with P = 0 is the AMD
    /// form of an unusable one (a null-selector load clears P), so `unusable = !P`.
    /// Reserved attribute bits 15:12 are refused.
    decode VmcbSegment.attrib: SvmAttrib,
    /// Fails where the VMCB would lose information: it says "unusable" only through
    /// P = 0, so a segment that is unusable yet present, or usable yet not present,
    /// has no exact encoding.
    encode refusing "attrib.P", |unusable| if unusable {
        "the VMCB has no unusable bit: an unusable segment must have P=0"
    } else {
        "the VMCB reads P=0 as unusable: a usable segment must have P=1"
    }
}

/// Byte offsets within the VMCB save area (which starts at VMCB offset 0x400),
/// from Linux `struct vmcb_save_area` (APM Vol. 2 Table B-2).
#[derive(Clone, Copy, Debug)]
pub struct SaveAreaOffset;

impl SaveAreaOffset {
    /// Offset of the save area within the 4 KiB VMCB page.
    pub const IN_PAGE: usize = 0x400;
    /// ES.
    pub const ES: usize = 0x000;
    /// CS.
    pub const CS: usize = 0x010;
    /// SS.
    pub const SS: usize = 0x020;
    /// DS.
    pub const DS: usize = 0x030;
    /// FS.
    pub const FS: usize = 0x040;
    /// GS.
    pub const GS: usize = 0x050;
    /// GDTR (selector and attrib unused).
    pub const GDTR: usize = 0x060;
    /// LDTR.
    pub const LDTR: usize = 0x070;
    /// IDTR (selector and attrib unused).
    pub const IDTR: usize = 0x080;
    /// TR.
    pub const TR: usize = 0x090;
    /// CPL: a byte of its own. KVM's UAPI has no counterpart.
    pub const CPL: usize = 0x0cb;
    /// EFER.
    pub const EFER: usize = 0x0d0;
    /// CR4.
    pub const CR4: usize = 0x148;
    /// CR3.
    pub const CR3: usize = 0x150;
    /// CR0.
    pub const CR0: usize = 0x158;
    /// DR7.
    pub const DR7: usize = 0x160;
    /// DR6.
    pub const DR6: usize = 0x168;
    /// RFLAGS.
    pub const RFLAGS: usize = 0x170;
    /// RIP.
    pub const RIP: usize = 0x178;
    /// RSP.
    pub const RSP: usize = 0x1d8;
    /// RAX.
    pub const RAX: usize = 0x1f8;
    /// STAR.
    pub const STAR: usize = 0x200;
    /// LSTAR.
    pub const LSTAR: usize = 0x208;
    /// CSTAR.
    pub const CSTAR: usize = 0x210;
    /// SFMASK.
    pub const SFMASK: usize = 0x218;
    /// KernelGSbase.
    pub const KERNEL_GS_BASE: usize = 0x220;
    /// SYSENTER_CS.
    pub const SYSENTER_CS: usize = 0x228;
    /// SYSENTER_ESP.
    pub const SYSENTER_ESP: usize = 0x230;
    /// SYSENTER_EIP.
    pub const SYSENTER_EIP: usize = 0x238;
    /// CR2.
    pub const CR2: usize = 0x240;
    /// G_PAT.
    pub const G_PAT: usize = 0x268;
    /// DBGCTL.
    pub const DBGCTL: usize = 0x270;
    /// End of the 2017-era save area (after LASTEXCPTO at 0x290).
    pub const END: usize = 0x298;

    /// The save-area offset of each segment register, in [`SegReg::ALL`] order.
    const SEGMENTS: [usize; 8] = [
        Self::ES,
        Self::CS,
        Self::SS,
        Self::DS,
        Self::FS,
        Self::GS,
        Self::LDTR,
        Self::TR,
    ];

    /// The save-area offset of a segment register.
    #[must_use]
    pub const fn segment(reg: SegReg) -> usize {
        Self::SEGMENTS[reg.index()]
    }
}

/// A descriptor-table register in the save area (GDTR, IDTR): base and limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VmcbDtable {
    /// Base.
    pub base: u64,
    /// Limit (the VMCB field is 32 bits; only 16 are architectural).
    pub limit: u32,
}

/// The fields of the VMCB save area that segstate reads, decoded from raw bytes.
///
/// Decoding keeps the whole save area; [`VmcbSaveArea::to_bytes`] writes the decoded
/// fields back over it, so decode → encode → compare reproduces the input exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmcbSaveArea {
    /// ES, CS, SS, DS, FS, GS, LDTR, TR.
    pub segments: PerSegReg<VmcbSegment>,
    /// GDTR.
    pub gdtr: VmcbDtable,
    /// IDTR.
    pub idtr: VmcbDtable,
    /// The CPL byte, raw: hardware uses its low two bits.
    pub cpl: u8,
    /// EFER.
    pub efer: u64,
    /// CR0.
    pub cr0: u64,
    /// CR2.
    pub cr2: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4.
    pub cr4: u64,
    /// DR6.
    pub dr6: u64,
    /// DR7.
    pub dr7: u64,
    /// RFLAGS.
    pub rflags: u64,
    /// RIP.
    pub rip: u64,
    /// RSP.
    pub rsp: u64,
    /// RAX.
    pub rax: u64,
    /// STAR: SYSCALL/SYSRET selectors.
    pub star: u64,
    /// LSTAR: 64-bit SYSCALL target.
    pub lstar: u64,
    /// CSTAR: compatibility-mode SYSCALL target.
    pub cstar: u64,
    /// SFMASK: RFLAGS mask on SYSCALL.
    pub sfmask: u64,
    /// KernelGSbase (SWAPGS).
    pub kernel_gs_base: u64,
    /// SYSENTER_CS.
    pub sysenter_cs: u64,
    /// SYSENTER_ESP.
    pub sysenter_esp: u64,
    /// SYSENTER_EIP.
    pub sysenter_eip: u64,
    /// G_PAT.
    pub g_pat: u64,
    /// The raw save area as decoded; fields above are written over it on encode.
    raw: alloc::vec::Vec<u8>,
}

impl VmcbSaveArea {
    /// The size of a whole VMCB.
    pub const PAGE_SIZE: usize = 4096;

    /// Decodes a save area of at least [`SaveAreaOffset::END`] bytes (longer save areas
    /// of newer processors are kept whole).
    pub fn from_save_area_bytes(bytes: &[u8]) -> Result<Self, LengthError> {
        if bytes.len() < SaveAreaOffset::END
            || bytes.len() > Self::PAGE_SIZE - SaveAreaOffset::IN_PAGE
        {
            return Err(LengthError {
                format: "VMCB save area",
                expected: SaveAreaOffset::END,
                found: bytes.len(),
            });
        }
        let seg = |reg| {
            let off = SaveAreaOffset::segment(reg);
            VmcbSegment::from_bytes(&bytes[off..off + VmcbSegment::SIZE])
        };
        let mut segments = PerSegReg([VmcbSegment::default(); 8]);
        for reg in SegReg::ALL {
            segments[reg] = seg(reg)?;
        }
        let dtable = |off: usize| VmcbDtable {
            limit: le_u32(bytes, off + 4),
            base: le_u64(bytes, off + 8),
        };
        use SaveAreaOffset as O;
        Ok(VmcbSaveArea {
            segments,
            gdtr: dtable(O::GDTR),
            idtr: dtable(O::IDTR),
            cpl: bytes[O::CPL],
            efer: le_u64(bytes, O::EFER),
            cr0: le_u64(bytes, O::CR0),
            cr2: le_u64(bytes, O::CR2),
            cr3: le_u64(bytes, O::CR3),
            cr4: le_u64(bytes, O::CR4),
            dr6: le_u64(bytes, O::DR6),
            dr7: le_u64(bytes, O::DR7),
            rflags: le_u64(bytes, O::RFLAGS),
            rip: le_u64(bytes, O::RIP),
            rsp: le_u64(bytes, O::RSP),
            rax: le_u64(bytes, O::RAX),
            star: le_u64(bytes, O::STAR),
            lstar: le_u64(bytes, O::LSTAR),
            cstar: le_u64(bytes, O::CSTAR),
            sfmask: le_u64(bytes, O::SFMASK),
            kernel_gs_base: le_u64(bytes, O::KERNEL_GS_BASE),
            sysenter_cs: le_u64(bytes, O::SYSENTER_CS),
            sysenter_esp: le_u64(bytes, O::SYSENTER_ESP),
            sysenter_eip: le_u64(bytes, O::SYSENTER_EIP),
            g_pat: le_u64(bytes, O::G_PAT),
            raw: bytes.to_vec(),
        })
    }

    /// Decodes the save area of a whole 4 KiB VMCB page.
    pub fn from_page(page: &[u8]) -> Result<Self, LengthError> {
        exact_len("VMCB page", page, Self::PAGE_SIZE)?;
        Self::from_save_area_bytes(&page[SaveAreaOffset::IN_PAGE..])
    }

    /// A zeroed 2017-size save area with the given segments and CPL.
    #[must_use]
    pub fn new(segments: PerSegReg<VmcbSegment>, cpl: u8) -> Self {
        let mut area =
            Self::from_save_area_bytes(&[0u8; SaveAreaOffset::END]).expect("END bytes decode");
        area.segments = segments;
        area.cpl = cpl;
        area
    }

    /// The save area's bytes with every decoded field written back at its offset.
    #[must_use]
    pub fn to_bytes(&self) -> alloc::vec::Vec<u8> {
        use SaveAreaOffset as O;
        let mut out = self.raw.clone();
        for (reg, seg) in self.segments.iter() {
            let off = O::segment(reg);
            out[off..off + VmcbSegment::SIZE].copy_from_slice(&seg.to_bytes());
        }
        for (off, dt) in [(O::GDTR, self.gdtr), (O::IDTR, self.idtr)] {
            out[off + 4..off + 8].copy_from_slice(&dt.limit.to_le_bytes());
            out[off + 8..off + 16].copy_from_slice(&dt.base.to_le_bytes());
        }
        out[O::CPL] = self.cpl;
        let words = [
            (O::EFER, self.efer),
            (O::CR0, self.cr0),
            (O::CR2, self.cr2),
            (O::CR3, self.cr3),
            (O::CR4, self.cr4),
            (O::DR6, self.dr6),
            (O::DR7, self.dr7),
            (O::RFLAGS, self.rflags),
            (O::RIP, self.rip),
            (O::RSP, self.rsp),
            (O::RAX, self.rax),
            (O::STAR, self.star),
            (O::LSTAR, self.lstar),
            (O::CSTAR, self.cstar),
            (O::SFMASK, self.sfmask),
            (O::KERNEL_GS_BASE, self.kernel_gs_base),
            (O::SYSENTER_CS, self.sysenter_cs),
            (O::SYSENTER_ESP, self.sysenter_esp),
            (O::SYSENTER_EIP, self.sysenter_eip),
            (O::G_PAT, self.g_pat),
        ];
        for (off, value) in words {
            out[off..off + 8].copy_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// A whole 4 KiB VMCB page: a zero control area and this save area.
    #[must_use]
    pub fn to_page(&self) -> alloc::vec::Vec<u8> {
        let mut page = alloc::vec![0u8; Self::PAGE_SIZE];
        let area = self.to_bytes();
        page[SaveAreaOffset::IN_PAGE..SaveAreaOffset::IN_PAGE + area.len()].copy_from_slice(&area);
        page
    }

    /// The CPL hardware runs at: the low two bits of the CPL byte.
    #[must_use]
    pub fn cpl(&self) -> PrivilegeLevel {
        PrivilegeLevel::from_low_bits(self.cpl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::user_null_ss;

    /// Golden attrib values from the fact sheet: 64-bit kernel CS 0x29b (0xa9b with G),
    /// flat data 0xc93, real-mode DPL-3 data 0x0f3.
    #[test]
    fn golden_attrib_values() {
        for (word, attributes) in [
            (0xa9b, Attributes::code64(PrivilegeLevel::Ring0)),
            (0xc93, Attributes::flat_data(PrivilegeLevel::Ring0)),
        ] {
            assert_eq!(SvmAttrib(word).attributes(), attributes, "{word:#x}");
            assert_eq!(SvmAttrib::from_attributes(attributes), SvmAttrib(word));
        }
        let v86 = SvmAttrib(0x0f3).attributes();
        assert_eq!(
            (v86.segment_type.bits(), v86.dpl, v86.present),
            (3, PrivilegeLevel::Ring3, true)
        );
        assert_eq!(SvmAttrib(0xa9b).to_vmx_layout(), 0xa09b);
    }

    /// Peer bug: reading CS.L at bit 13 (the VMX position) from a VMCB attrib.
    #[test]
    fn long_mode_bit_is_bit_9() {
        let cs = SvmAttrib(0x29b);
        assert!(cs.attributes().l);
        assert_eq!(cs.0 & (1 << 13), 0, "bit 13 is reserved in a VMCB attrib");
        assert!(!SvmAttrib(0x29b & !(1 << 9)).attributes().l);
    }

    #[test]
    fn every_attrib_word_round_trips() {
        for raw in 0..=0x0fffu16 {
            let a = SvmAttrib(raw);
            assert_eq!(SvmAttrib::from_attributes(a.attributes()), a);
        }
    }

    #[test]
    fn strict_decode_refuses_reserved_bits_and_unrepresentable_states() {
        let seg = VmcbSegment {
            selector: 0x2b,
            attrib: SvmAttrib(0x1c93),
            limit: 0,
            base: 0,
        };
        assert_eq!(Segment::try_from(seg).unwrap_err().field, "attrib");
        let mut unusable_present =
            Segment::flat(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3));
        unusable_present.unusable = true;
        assert_eq!(
            VmcbSegment::try_from(unusable_present).unwrap_err().field,
            "attrib.P"
        );
        let null = user_null_ss();
        let v = VmcbSegment::try_from(null).unwrap();
        assert_eq!(Segment::try_from(v), Ok(null));
    }

    /// Offsets computed by compiling Linux's `struct vmcb_save_area`.
    #[test]
    fn save_area_offsets_and_page_round_trip() {
        let mut page = alloc::vec![0u8; 4096];
        for (i, b) in page.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(13).wrapping_add(5);
        }
        let area = VmcbSaveArea::from_page(&page).unwrap();
        assert_eq!(area.cpl, page[0x4cb]);
        // Every segment at its offset in the page (save area at 0x400; GDTR at 0x460
        // and IDTR at 0x480 between LDTR and TR): `SaveAreaOffset::segment` reads a
        // table in `SegReg` order, so each register is pinned, not only SS and TR.
        use SegReg::{Cs, Ds, Es, Fs, Gs, Ldtr, Ss, Tr};
        let regs = [Es, Cs, Ss, Ds, Fs, Gs, Ldtr, Tr];
        let at = [0x400, 0x410, 0x420, 0x430, 0x440, 0x450, 0x470, 0x490];
        for (reg, at) in regs.into_iter().zip(at) {
            assert_eq!(
                area.segments[reg].to_bytes()[..],
                page[at..at + 16],
                "{reg}"
            );
        }
        assert_eq!(area.efer.to_le_bytes()[..], page[0x4d0..0x4d8]);
        assert_eq!(area.rip.to_le_bytes()[..], page[0x578..0x580]);
        assert_eq!(area.star.to_le_bytes()[..], page[0x600..0x608]);
        assert_eq!(area.to_bytes()[..], page[0x400..]);
        assert_eq!(
            VmcbSaveArea::from_page(&page[..4095]).unwrap_err().found,
            4095
        );
    }

    /// Peer bug: VMCB.CPL never written. A save area built for CPL 3 has it at 0x4cb.
    #[test]
    fn cpl_byte_is_written_at_0x4cb() {
        let area = VmcbSaveArea::new(PerSegReg([VmcbSegment::default(); 8]), 3);
        let page = area.to_page();
        assert_eq!(page[0x4cb], 3);
        assert_eq!(
            VmcbSaveArea::from_page(&page).unwrap().cpl(),
            PrivilegeLevel::Ring3
        );
    }
}
