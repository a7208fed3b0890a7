//! VirtualBox's cooking between the hardware save areas and its CPU context
//! (`CPUMSELREG`), read in VirtualBox 5.2.40 (thalium/icebox third_party/virtualbox
//! @6f78952d58da): HM on AMD (`HMSVM_SEG_REG_COPY_FROM/TO_VMCB`, hmR0SvmSaveGuestState,
//! hmR0SvmLoadGuestSegmentRegs in VMMR0/HMSVMR0.cpp), HM on Intel
//! (hmR0VmxReadSegmentReg, hmR0VmxWriteSegmentReg in VMMR0/HMVMXR0.cpp), and NEM on
//! KVM (NEM_LNX_IMPORT_SEG/EXPORT_SEG, VMMR3/NEMR3Native-linux.cpp @4908d8d1a85c). The
//! saved state stores `CPUMSELREG` as it is.

use super::rustvmm::{hv_to_kvm, pack16};
use super::{Rule, RuleSet};
use crate::arch::SegReg;
use crate::format::hyperv::{HvSegmentAttributes, HvSegmentRegister};
use crate::format::kvm::KvmSegment;
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vbox::{CpumSelReg, X86DescAttr};
use crate::format::vmx::{VmxAccessRights, VmxSegment};

const DPL_MASK: u32 = 3 << 5;
const P: u32 = 1 << 7;
const G: u32 = 1 << 15;

fn valid(selector: u16, base: u64, limit: u32, attr: u32) -> CpumSelReg {
    CpumSelReg {
        selector,
        padding: 0,
        valid_selector: selector,
        flags: CpumSelReg::FLAGS_VALID,
        base,
        limit,
        attr: X86DescAttr(attr),
    }
}

/// VMCB → `CPUMSELREG` (`HMSVM_VMCB_2_CPU_SEG_ATTR`: `(a & 0xff) | ((a & 0xf00) << 4)`,
/// no unusable bit), then the import fixups. Modelled for long mode, the verify
/// domain's mode (the TR fixup's `CPUMIsGuestInLongModeEx` branch: any type but 11
/// becomes 11; outside long mode 9 -> 11 and 1 -> 3).
#[must_use]
pub fn svm_import(rules: RuleSet, reg: SegReg, v: &VmcbSegment, vmcb_cpl: u8) -> CpumSelReg {
    let a = u32::from(v.attrib.0);
    let mut attr = (a & 0xff) | ((a & 0xf00) << 4);
    match reg {
        SegReg::Cs
            if rules.has(Rule::VboxSvmImportCsGFromLimit)
                && attr & G == 0
                && attr & P != 0
                && v.limit > 0xf_ffff =>
        {
            attr |= G;
        }
        SegReg::Ss if rules.has(Rule::VboxSvmImportSsDplFromCpl) => {
            attr = (attr & !DPL_MASK) | u32::from(vmcb_cpl & 3) << 5;
        }
        // In long mode every TR type but the busy 386 TSS becomes 11.
        SegReg::Tr if rules.has(Rule::VboxSvmImportTrBusy) && attr & 0xf != 11 => {
            attr = (attr & !0xf) | 11;
        }
        _ => {}
    }
    if !rules.has(Rule::VboxSvmImportUnusableNotSet) && attr & P == 0 {
        attr |= VmxAccessRights::UNUSABLE;
    }
    valid(v.selector, v.base, v.limit, attr)
}

/// `CPUMSELREG` → VMCB (`HMSVM_CPU_2_VMCB_SEG_ATTR`: `(a & 0xff) | ((a & 0xf000) >> 4)`;
/// bit 16 has no place); for SS also the CPL written to VMCB.CPL.
#[must_use]
pub fn svm_export(rules: RuleSet, reg: SegReg, c: &CpumSelReg) -> (VmcbSegment, Option<u8>) {
    let a = c.attr.0;
    let v = VmcbSegment {
        selector: c.selector,
        attrib: SvmAttrib(((a & 0xff) | ((a & 0xf000) >> 4)) as u16),
        limit: c.limit,
        base: c.base,
    };
    let cpl = (reg == SegReg::Ss && rules.has(Rule::VboxSvmExportCplFromSsDpl))
        .then_some(((a >> 5) & 3) as u8);
    (v, cpl)
}

/// VMCS → `CPUMSELREG`: the access rights as read; an unusable segment keeps only
/// unusable, L, D/B, G, DPL, type and S.
#[must_use]
pub fn vmx_import(rules: RuleSet, v: &VmxSegment) -> CpumSelReg {
    let mut attr = v.access_rights.0;
    if rules.has(Rule::VboxVmxImportStripUnusable) && attr & VmxAccessRights::UNUSABLE != 0 {
        attr &= VmxAccessRights::UNUSABLE | 0xe000 | DPL_MASK | 0x1f;
    }
    valid(v.selector, v.base, v.limit, attr)
}

/// `CPUMSELREG` → VMCS: `Attr.u` as it is, an all-zero value written unusable.
#[must_use]
pub fn vmx_export(rules: RuleSet, c: &CpumSelReg) -> VmxSegment {
    let mut ar = c.attr.0;
    if rules.has(Rule::VboxVmxExportZeroAttrUnusable) && ar == 0 {
        ar = VmxAccessRights::UNUSABLE;
    }
    VmxSegment {
        selector: c.selector,
        base: c.base,
        limit: c.limit,
        access_rights: VmxAccessRights(ar),
    }
}

/// `kvm_segment` → `CPUMSELREG` (NEM_LNX_IMPORT_SEG): field by field.
#[must_use]
pub fn nem_import(rules: RuleSet, k: &KvmSegment) -> CpumSelReg {
    let unusable = rules.has(Rule::VboxNemCopyUnusable) && k.unusable != 0;
    let low = pack16(
        k.type_,
        k.s,
        k.dpl,
        k.present & 1 != 0,
        k.avl,
        k.l,
        k.db,
        k.g,
    );
    valid(
        k.selector,
        k.base,
        k.limit,
        u32::from(low) | u32::from(unusable) << 16,
    )
}

/// `CPUMSELREG` → `kvm_segment` (NEM_LNX_EXPORT_SEG): field by field, padding 0;
/// `u4LimitHigh` is not exported.
#[must_use]
pub fn nem_export(rules: RuleSet, c: &CpumSelReg) -> KvmSegment {
    let low = HvSegmentRegister {
        base: c.base,
        limit: c.limit,
        selector: c.selector,
        attributes: HvSegmentAttributes(c.attr.0 as u16),
    };
    let mut k = hv_to_kvm(&low, true);
    if rules.has(Rule::VboxNemCopyUnusable) {
        k.unusable = u8::from(c.attr.0 & X86DescAttr::UNUSABLE != 0);
    }
    k
}
