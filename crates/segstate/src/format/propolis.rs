//! Oxide propolis: the vCPU segment payload of live migration, schema
//! `("bhyve-x86-vcpu-segregs", 1)`, `VcpuSegRegsV1` (lib/propolis/src/vcpu.rs
//! @372a57444262, module `migrate`). Ten `SegDesc { base, limit, access, selector }`
//! records, each a [`BhyveSegment`], in the order cs, ds, es, fs, gs, ss, gdtr, idtr,
//! ldtr, tr. **There is no CPL field**, and none elsewhere in propolis.
//!
//! propolis serialises the payload with serde; the text encoding is read by the
//! snapshot readers, which build this struct.

use super::bhyve::BhyveSegment;
use crate::arch::{PerSegReg, SegReg};

/// Schema id and version of the payload.
pub const SCHEMA: (&str, u32) = ("bhyve-x86-vcpu-segregs", 1);

/// `VcpuSegRegsV1`, the ten records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VcpuSegRegsV1 {
    /// The eight segment registers.
    pub segments: PerSegReg<BhyveSegment>,
    /// `gdtr` (only base and limit are meaningful).
    pub gdtr: BhyveSegment,
    /// `idtr` (only base and limit are meaningful).
    pub idtr: BhyveSegment,
}

impl VcpuSegRegsV1 {
    /// The serde field names of the eight segment registers, in record order.
    pub const FIELD_ORDER: [(&'static str, SegReg); 8] = [
        ("cs", SegReg::Cs),
        ("ds", SegReg::Ds),
        ("es", SegReg::Es),
        ("fs", SegReg::Fs),
        ("gs", SegReg::Gs),
        ("ss", SegReg::Ss),
        ("ldtr", SegReg::Ldtr),
        ("tr", SegReg::Tr),
    ];

    /// The CPL a restore into illumos bhyve on AMD will run at: SS's `access` DPL
    /// (`svm_setdesc` syncs VMCB.CPL from it). The payload itself carries no CPL.
    #[must_use]
    pub fn cpl_on_restore(&self) -> crate::arch::PrivilegeLevel {
        self.segments[SegReg::Ss].desc.access.dpl()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;
    use crate::format::vmx::VmxAccessRights;

    #[test]
    fn field_order_covers_every_register_once() {
        for reg in SegReg::ALL {
            let n = VcpuSegRegsV1::FIELD_ORDER
                .iter()
                .filter(|(_, r)| *r == reg)
                .count();
            assert_eq!(n, 1, "{reg:?}");
        }
        assert_eq!(SCHEMA.0, "bhyve-x86-vcpu-segregs");
    }

    #[test]
    fn cpl_on_restore_is_ss_access_dpl() {
        let mut regs = VcpuSegRegsV1::default();
        regs.segments[SegReg::Ss].desc.access = VmxAccessRights(0x1_0093);
        assert_eq!(regs.cpl_on_restore(), PrivilegeLevel::Ring0);
        regs.segments[SegReg::Ss].desc.access = VmxAccessRights(0xc0f3);
        assert_eq!(regs.cpl_on_restore(), PrivilegeLevel::Ring3);
    }
}
