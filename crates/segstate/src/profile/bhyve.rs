//! bhyve's cooking on AMD: `vmcb_getdesc`/`vmcb_setdesc` (FreeBSD
//! sys/amd64/vmm/amd/vmcb.c @be9a57eda106) and `svm_getdesc`/`svm_setdesc` (illumos
//! usr/src/uts/intel/io/vmm/amd/svm.c @88f663c9ea41), the VMX side (`vmcs_getdesc`/
//! `vmcs_setdesc`, raw), and what the VMMs carry between them: FreeBSD's snapshot
//! (the `seg_desc`s and `VMCB_OFF_CPL`) or Oxide propolis (`bhyve-x86-vcpu-segregs`,
//! no CPL).
//!
//! In flight, the CPL byte travels in [`crate::profile::InFlight::vmcb_cpl`] only as
//! far as a VMM carries it.

use super::{Rule, RuleSet};
use crate::arch::SegReg;
use crate::format::bhyve::{BhyveSegment, SegDesc};
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::{VmxAccessRights, VmxSegment};

/// `VMCB_ATTR2ACCESS`: `((attr & 0xf00) << 4) | (attr & 0xff)`.
const fn attr_to_access(attr: u16) -> u32 {
    ((attr as u32 & 0xf00) << 4) | (attr as u32 & 0xff)
}

/// `VMCB_ACCESS2ATTR`: `((access & 0xf000) >> 4) | (access & 0xff)`.
const fn access_to_attr(access: u32) -> u16 {
    (((access & 0xf000) >> 4) | (access & 0xff)) as u16
}

/// VMCB segment (and CPL byte) → `seg_desc` and selector.
#[must_use]
pub fn svm_get(rules: RuleSet, reg: SegReg, v: &VmcbSegment, vmcb_cpl: u8) -> BhyveSegment {
    let mut attrib = v.attrib.0;
    if reg == SegReg::Ss && !rules.has(Rule::BhyveSvmGetSsDplFromAttrib) {
        attrib = (attrib & !(3 << SvmAttrib::DPL_SHIFT)) | u16::from(vmcb_cpl & 3) << 5;
    }
    let mut access = attr_to_access(attrib);
    let flags_unusable = !matches!(reg, SegReg::Cs | SegReg::Tr);
    if rules.has(Rule::BhyveSvmGetUnusableFromP) && flags_unusable && access & 0x80 == 0 {
        access |= VmxAccessRights::UNUSABLE;
    }
    BhyveSegment {
        selector: v.selector,
        desc: SegDesc {
            base: v.base,
            limit: v.limit,
            access: VmxAccessRights(access),
        },
    }
}

/// `seg_desc` and selector → VMCB segment; for SS also the CPL written to VMCB.CPL
/// (illumos), or `None` when the descriptor API leaves it alone (FreeBSD).
#[must_use]
pub fn svm_set(rules: RuleSet, reg: SegReg, b: &BhyveSegment) -> (VmcbSegment, Option<u8>) {
    let access = b.desc.access;
    let mut attrib = access_to_attr(access.0);
    if rules.has(Rule::BhyveSvmSetPFromUnusable) && access.unusable() {
        attrib &= !0x80;
    }
    let cpl = (reg == SegReg::Ss && rules.has(Rule::BhyveSvmSetCplFromSsDpl))
        .then_some(((access.0 >> 5) & 3) as u8);
    let v = VmcbSegment {
        selector: b.selector,
        attrib: SvmAttrib(attrib),
        limit: b.desc.limit,
        base: b.desc.base,
    };
    (v, cpl)
}

/// VMCS guest segment → `seg_desc`: the access rights copied raw.
#[must_use]
pub const fn vmx_get(v: &VmxSegment) -> BhyveSegment {
    BhyveSegment {
        selector: v.selector,
        desc: SegDesc {
            base: v.base,
            limit: v.limit,
            access: v.access_rights,
        },
    }
}

/// `seg_desc` → VMCS guest segment: raw.
#[must_use]
pub const fn vmx_set(b: &BhyveSegment) -> VmxSegment {
    VmxSegment {
        selector: b.selector,
        base: b.desc.base,
        limit: b.desc.limit,
        access_rights: b.desc.access,
    }
}

/// What a VMM carries of the CPL byte: the byte itself when it snapshots it
/// ([`Rule::BhyveSnapshotCplByte`]), otherwise nothing (the destination VMCB is fresh).
#[must_use]
pub const fn carried_cpl(rules: RuleSet, vmcb_cpl: u8) -> u8 {
    if rules.has(Rule::BhyveSnapshotCplByte) {
        vmcb_cpl
    } else {
        0
    }
}
