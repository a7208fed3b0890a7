//! Xen HVM: `struct segment_register` (xen/arch/x86/include/asm/x86-types.h), Xen's
//! one internal segment shape, and the segment fields of the `hvm_hw_cpu` save record
//! (xen/include/public/arch-x86/hvm/save.h, `HVM_SAVE_CODE(CPU) = 2`), read at
//! xen-project/xen c447b7308b13.
//!
//! `attr` uses the SVM 12-bit layout ([`SvmAttrib`]) on both vendors: P = 0 means
//! unusable. Neither shape has a CPL field: SS's DPL carries it.

use super::attribute_word::{AttributeWord, attribute_word};
use super::svm::SvmAttrib;
use super::wire::segment_record;
use super::{FormatError, LengthError, exact_len, le_u32, le_u64, segment_without_unusable_bit};
use crate::arch::{PerSegReg, SegReg, Segment, Selector};

segment_record! {
    /// `struct segment_register`: sel u16 @0, attr u16 @2 (the VMCB's layout), limit
    /// u32 @4, base u64 @8.
    pub struct XenSegmentRegister ("struct segment_register", 16 bytes) {
        selector @0 "sel",
        attr: SvmAttrib @2 "attr",
        limit @4 "limit",
        base @8 "base",
    }
}

impl TryFrom<XenSegmentRegister> for Segment {
    type Error = FormatError;

    /// Strict decode: bits 15:12 of `attr` are refused; unusable = !P.
    #[inline]
    fn try_from(x: XenSegmentRegister) -> Result<Self, FormatError> {
        let attrib = XenArbytes(u32::from(x.attr.0)).attrib()?;
        Ok(segment_without_unusable_bit(
            Selector(x.selector),
            x.base,
            x.limit,
            attrib.attributes(),
        ))
    }
}

attribute_word! {
    /// One `*_arbytes` word of `hvm_hw_cpu`: a u32 holding the 12-bit SVM-layout `attr`.
    pub struct XenArbytes(pub u32) in "hvm_hw_cpu"."arbytes";
    /// Bits 31:12, outside the 12-bit layout.
    reserved !0xfffu32, "bits 31:12 are not part of Xen's 12-bit attribute layout"
}

impl XenArbytes {
    /// Strict decode: only bits 11:0 may be set.
    #[inline]
    pub fn attrib(self) -> Result<SvmAttrib, FormatError> {
        self.check_reserved()?;
        Ok(SvmAttrib(self.0 as u16))
    }

    /// True for a value in the old VMX layout (AVL/L/DB/G in bits 15:12 and nothing in
    /// 11:8) that `hvm_load_cpu_ctxt`'s `UNFOLD_ARBYTES` folds down.
    #[must_use]
    #[inline]
    pub const fn is_vmx_layout(self) -> bool {
        self.0 & 0xf000 != 0 && self.0 & 0x0f00 == 0
    }
}

/// Byte offsets of the segment fields in `struct hvm_hw_cpu` (1032 bytes, compiled
/// with gcc for x86-64).
#[derive(Debug)]
pub struct HvmHwCpuOffset;

impl HvmHwCpuOffset {
    /// Size of the record.
    pub const SIZE: usize = 1032;
    /// Size of `struct hvm_hw_cpu_compat`, the record before `msr_tsc_aux` and `flags`
    /// existed; `hvm_load_cpu_ctxt` still takes it (`_hvm_hw_fix_cpu`). Every field up to
    /// `msr_efer` sits where it does in the current record.
    pub const COMPAT_SIZE: usize = 1016;
    /// `rax`; then rbx, rcx, rdx, rbp, rsi, rdi, rsp, r8 … r15, each a u64.
    pub const GPRS: usize = 512;
    /// `rip`.
    pub const RIP: usize = 640;
    /// `rflags`.
    pub const RFLAGS: usize = 648;
    /// `cr0`; then cr2, cr3, cr4, each a u64.
    pub const CR0: usize = 656;
    /// `dr0`; then dr1, dr2, dr3, dr6, dr7, each a u64.
    pub const DR0: usize = 688;
    /// `sysenter_cs`; then sysenter_esp, sysenter_eip, shadow_gs, msr_flags, msr_lstar,
    /// msr_star, msr_cstar, msr_syscall_mask, msr_efer, each a u64.
    pub const SYSENTER_CS: usize = 920;
    /// `msr_efer`.
    pub const MSR_EFER: usize = 992;
    /// `idtr_limit`, `gdtr_limit` (u32, after the eight segment limits).
    pub const IDTR_LIMIT: usize = Self::LIMITS + 4 * 8;
    /// `gdtr_limit`.
    pub const GDTR_LIMIT: usize = Self::LIMITS + 4 * 9;
    /// `idtr_base` (u64, after the eight segment bases).
    pub const IDTR_BASE: usize = Self::BASES + 8 * 8;
    /// `gdtr_base`.
    pub const GDTR_BASE: usize = Self::BASES + 8 * 9;
    /// `msr_tsc_aux`: absent from the compat record.
    pub const MSR_TSC_AUX: usize = 1000;
    /// `tsc` (u64).
    pub const TSC: usize = 1008;
    /// `pending_event` (u32): the event being injected, in VMX's entry-interruption form.
    pub const PENDING_EVENT: usize = 1016;
    /// `error_code` (u32) of the pending event.
    pub const ERROR_CODE: usize = 1020;
    /// `cs_sel`; then ds, es, fs, gs, ss, tr, ldtr, each a u32.
    pub const SELECTORS: usize = 736;
    /// `cs_limit`; then ds … ldtr, idtr, gdtr, each a u32.
    pub const LIMITS: usize = 768;
    /// `cs_base`; then ds … ldtr, idtr, gdtr, each a u64.
    pub const BASES: usize = 808;
    /// `cs_arbytes`; then ds, es, fs, gs, ss, tr, ldtr, each a u32.
    pub const ARBYTES: usize = 888;

    /// The record's register order: cs, ds, es, fs, gs, ss, tr, ldtr, the order of
    /// `kvm_sregs`.
    const ORDER: [SegReg; 8] = SegReg::KVM_SREGS_ORDER;

    /// The slot of `reg` in the record's cs, ds, es, fs, gs, ss, tr, ldtr order (that
    /// of [`SegReg::KVM_SREGS_ORDER`]).
    #[must_use]
    pub const fn slot(reg: SegReg) -> usize {
        reg.position_in(&Self::ORDER)
    }
}

/// The segment part of an `hvm_hw_cpu` record, raw. The selectors are u32 in the
/// record; a value above 0xffff is kept as found and refused by [`Self::segment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HvmHwCpuSegments {
    /// `*_sel`.
    pub selectors: PerSegReg<u32>,
    /// `*_limit`.
    pub limits: PerSegReg<u32>,
    /// `*_base`.
    pub bases: PerSegReg<u64>,
    /// `*_arbytes`.
    pub arbytes: PerSegReg<XenArbytes>,
}

impl HvmHwCpuSegments {
    /// Reads the segment fields of a whole 1032-byte record.
    pub fn from_record(record: &[u8]) -> Result<Self, LengthError> {
        exact_len("struct hvm_hw_cpu", record, HvmHwCpuOffset::SIZE)?;
        let at = |base: usize, width: usize, reg: SegReg| base + width * HvmHwCpuOffset::slot(reg);
        Ok(HvmHwCpuSegments {
            selectors: PerSegReg::from_fn(|r| le_u32(record, at(HvmHwCpuOffset::SELECTORS, 4, r))),
            limits: PerSegReg::from_fn(|r| le_u32(record, at(HvmHwCpuOffset::LIMITS, 4, r))),
            bases: PerSegReg::from_fn(|r| le_u64(record, at(HvmHwCpuOffset::BASES, 8, r))),
            arbytes: PerSegReg::from_fn(|r| {
                XenArbytes(le_u32(record, at(HvmHwCpuOffset::ARBYTES, 4, r)))
            }),
        })
    }

    /// Writes the segment fields over `record` (a whole 1032-byte record); every other
    /// byte is left as it was, so decode → encode reproduces the input.
    pub fn write_into(&self, record: &mut [u8]) -> Result<(), LengthError> {
        exact_len("struct hvm_hw_cpu", record, HvmHwCpuOffset::SIZE)?;
        for reg in SegReg::ALL {
            let slot = HvmHwCpuOffset::slot(reg);
            let mut put = |offset: usize, bytes: &[u8]| {
                record[offset..offset + bytes.len()].copy_from_slice(bytes);
            };
            put(
                HvmHwCpuOffset::SELECTORS + 4 * slot,
                &self.selectors[reg].to_le_bytes(),
            );
            put(
                HvmHwCpuOffset::LIMITS + 4 * slot,
                &self.limits[reg].to_le_bytes(),
            );
            put(
                HvmHwCpuOffset::BASES + 8 * slot,
                &self.bases[reg].to_le_bytes(),
            );
            put(
                HvmHwCpuOffset::ARBYTES + 4 * slot,
                &self.arbytes[reg].0.to_le_bytes(),
            );
        }
        Ok(())
    }

    /// One register as Xen's `segment_register`, strictly: a selector above 0xffff or
    /// arbytes outside bits 11:0 are refused.
    pub fn segment(&self, reg: SegReg) -> Result<XenSegmentRegister, FormatError> {
        let selector = u16::try_from(self.selectors[reg]).map_err(|_| FormatError {
            format: "hvm_hw_cpu",
            field: "sel",
            value: self.selectors[reg].into(),
            reason: "a selector is 16 bits",
        })?;
        Ok(XenSegmentRegister {
            selector,
            attr: self.arbytes[reg].attrib()?,
            limit: self.limits[reg],
            base: self.bases[reg],
        })
    }

    /// The CPL the record means: SS's DPL (the record has no CPL field).
    pub fn cpl(&self) -> Result<crate::arch::PrivilegeLevel, FormatError> {
        Ok(self.arbytes[SegReg::Ss].attrib()?.dpl())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;

    #[test]
    fn segment_register_layout() {
        let x = XenSegmentRegister {
            selector: 0x2b,
            attr: SvmAttrib(0xcf3),
            limit: 0xffff_ffff,
            base: 0x1122_3344_5566_7788,
        };
        let b = x.to_bytes();
        assert_eq!(&b[0..2], &[0x2b, 0]);
        assert_eq!(&b[2..4], &[0xf3, 0x0c]);
        assert_eq!(&b[4..8], &[0xff; 4]);
        assert_eq!(b[8], 0x88);
        assert_eq!(XenSegmentRegister::from_bytes(&b), Ok(x));
        assert!(XenSegmentRegister::from_bytes(&b[..15]).is_err());
        let s = Segment::try_from(x).unwrap();
        assert_eq!(s.attributes.dpl, PrivilegeLevel::Ring3);
        assert!(!s.unusable);
        let bad = XenSegmentRegister {
            attr: SvmAttrib(0x1cf3),
            ..x
        };
        assert_eq!(Segment::try_from(bad).unwrap_err().field, "arbytes");
    }

    #[test]
    fn hvm_hw_cpu_offsets_and_round_trip() {
        let mut record = alloc::vec![0u8; HvmHwCpuOffset::SIZE];
        for (i, b) in record.iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        let original = record.clone();
        let mut segs = HvmHwCpuSegments::from_record(&record).unwrap();
        segs.write_into(&mut record).unwrap();
        assert_eq!(record, original, "decode -> encode is byte-exact");
        segs.arbytes[SegReg::Ss] = XenArbytes(0xc93 | 3 << 5);
        segs.selectors[SegReg::Ss] = 0x2b;
        segs.write_into(&mut record).unwrap();
        assert_eq!(le_u32(&record, 908), 0xcf3, "ss_arbytes at 908");
        assert_eq!(le_u32(&record, 756), 0x2b, "ss_sel at 756");
        assert_eq!(
            le_u32(&record, 912),
            segs.arbytes[SegReg::Tr].0,
            "tr_arbytes at 912"
        );
        assert_eq!(
            le_u64(&record, 848),
            segs.bases[SegReg::Ss],
            "ss_base at 848"
        );
        let back = HvmHwCpuSegments::from_record(&record).unwrap();
        assert_eq!(back.cpl(), Ok(PrivilegeLevel::Ring3));
        // offsetof() in the gcc x86-64 build of save.h @c447b7308b13.
        assert_eq!(
            [
                HvmHwCpuOffset::IDTR_LIMIT,
                HvmHwCpuOffset::GDTR_LIMIT,
                HvmHwCpuOffset::IDTR_BASE,
                HvmHwCpuOffset::GDTR_BASE
            ],
            [800, 804, 872, 880]
        );
        assert!(HvmHwCpuSegments::from_record(&record[..1031]).is_err());
        // save.h's member order, each register named (the slots come from
        // KVM_SREGS_ORDER, which only happens to be the same order).
        use SegReg::{Cs, Ds, Es, Fs, Gs, Ldtr, Ss, Tr};
        let order = [Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldtr];
        assert_eq!(order.map(HvmHwCpuOffset::slot), [0, 1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn strict_arbytes_and_selectors() {
        assert!(XenArbytes(0xa09b).attrib().is_err());
        assert!(XenArbytes(0xa09b).is_vmx_layout());
        assert!(!XenArbytes(0xa9b).is_vmx_layout());
        let mut segs = HvmHwCpuSegments::from_record(&[0u8; HvmHwCpuOffset::SIZE]).unwrap();
        segs.selectors[SegReg::Cs] = 0x1_0010;
        assert_eq!(segs.segment(SegReg::Cs).unwrap_err().field, "sel");
    }
}
