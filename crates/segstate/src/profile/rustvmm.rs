//! The Rust VMMs' conversions: crosvm (google/crosvm @f1e797a68dad,
//! hypervisor/src/{kvm,whpx,haxm}), rust-vmm `mshv-bindings` (rust-vmm/mshv
//! @1032a5dedff0, src/x86_64/regs.rs; Cloud Hypervisor's MSHV path) and openvmm's KVM
//! backend (microsoft/openvmm @1488a37b7cfe, vmm_core/virt_kvm/src/arch/x86_64/
//! vp_state.rs). None of their models has an unusable bit except `kvm_segment` itself.

use super::{Rule, RuleSet};
use crate::format::crosvm::CrosvmSegment;
use crate::format::hyperv::{HvSegmentAttributes, HvSegmentRegister};
use crate::format::kvm::KvmSegment;
use crate::format::vmx::{VmxAccessRights, VmxSegment};

/// The 16-bit attribute word every Hyper-V shape uses (and HAXM's low 16 bits), packed
/// from `kvm_segment`-style fields with the C bitfield truncation.
#[allow(clippy::too_many_arguments)]
pub(super) const fn pack16(
    type_: u8,
    s: u8,
    dpl: u8,
    p: bool,
    avl: u8,
    l: u8,
    db: u8,
    g: u8,
) -> u16 {
    (type_ & 0xf) as u16
        | ((s & 1) as u16) << 4
        | ((dpl & 3) as u16) << 5
        | (p as u16) << 7
        | ((avl & 1) as u16) << 12
        | ((l & 1) as u16) << 13
        | ((db & 1) as u16) << 14
        | ((g & 1) as u16) << 15
}

const fn bit(a: u16, n: u16) -> u8 {
    ((a >> n) & 1) as u8
}

/// `kvm_segment` → crosvm `Segment` (`From<&kvm_segment>`): `unusable` is dropped.
#[must_use]
pub const fn crosvm_from_kvm(rules: RuleSet, k: &KvmSegment) -> CrosvmSegment {
    let mut c = CrosvmSegment::from_kvm(k);
    if !rules.has(Rule::CrosvmFromKvmDropUnusable) && k.unusable != 0 {
        c.present = 0;
    }
    c
}

/// crosvm `Segment` → `kvm_segment` (`From<&Segment>`).
#[must_use]
pub const fn crosvm_to_kvm(rules: RuleSet, c: &CrosvmSegment) -> KvmSegment {
    let unusable = rules.has(Rule::CrosvmKvmUnusableFromNotPresent) && c.present == 0;
    c.to_kvm(unusable as u8)
}

/// crosvm `Segment` → `WHV_X64_SEGMENT_REGISTER` (whpx/types.rs): every attribute
/// packed, reserved bits 11:8 zero; WHP has no unusable bit.
#[must_use]
pub const fn crosvm_to_whpx(c: &CrosvmSegment) -> HvSegmentRegister {
    HvSegmentRegister {
        base: c.base,
        limit: c.limit_bytes,
        selector: c.selector,
        attributes: HvSegmentAttributes(pack16(
            c.type_,
            c.s,
            c.dpl,
            c.present & 1 != 0,
            c.avl,
            c.l,
            c.db,
            c.g,
        )),
    }
}

/// `WHV_X64_SEGMENT_REGISTER` → crosvm `Segment`: every field unpacked.
#[must_use]
pub const fn crosvm_from_whpx(h: &HvSegmentRegister) -> CrosvmSegment {
    let a = h.attributes.0;
    CrosvmSegment {
        base: h.base,
        limit_bytes: h.limit,
        selector: h.selector,
        type_: (a & 0xf) as u8,
        present: bit(a, 7),
        dpl: ((a >> 5) & 3) as u8,
        db: bit(a, 14),
        s: bit(a, 4),
        l: bit(a, 13),
        g: bit(a, 15),
        avl: bit(a, 12),
    }
}

/// crosvm `Segment` → HAXM `segment_desc_t` (the VMCS layout) → HAXM's VMCS write:
/// every attribute set through its bitfield setter; crosvm never sets the `null` bit
/// (VMX unusable), HAXM sets it for an all-zero word.
#[must_use]
pub const fn crosvm_to_haxm(rules: RuleSet, c: &CrosvmSegment) -> VmxSegment {
    let present = c.present & 1 != 0;
    let attributes = pack16(c.type_, c.s, c.dpl, present, c.avl, c.l, c.db, c.g) as u32;
    let null = !rules.has(Rule::CrosvmHaxmNoNullBit) && !present
        || rules.has(Rule::CrosvmHaxmZeroArNull) && attributes == 0;
    VmxSegment {
        selector: c.selector,
        base: c.base,
        limit: c.limit_bytes,
        access_rights: VmxAccessRights(attributes | (null as u32) << 16),
    }
}

/// HAXM `segment_desc_t` → crosvm `Segment`: the `null` bit is not read.
#[must_use]
pub const fn crosvm_from_haxm(v: &VmxSegment) -> CrosvmSegment {
    let h = HvSegmentRegister {
        base: v.base,
        limit: v.limit,
        selector: v.selector,
        attributes: HvSegmentAttributes(v.access_rights.0 as u16),
    };
    crosvm_from_whpx(&h)
}

/// The P bit a `kvm_segment` packs into Hyper-V's attributes: KVM's P, cleared for an
/// unusable segment unless `ignore_unusable` (the rule of a VMM that drops the flag).
const fn hv_present(k: &KvmSegment, ignore_unusable: bool) -> bool {
    k.present & 1 != 0 && (ignore_unusable || k.unusable == 0)
}

/// mshv-bindings `SegmentRegister` (the `kvm_segment` fields) → `hv_x64_segment_register`.
#[must_use]
pub const fn mshv_set(rules: RuleSet, k: &KvmSegment) -> HvSegmentRegister {
    let present = hv_present(k, rules.has(Rule::MshvSetIgnoreUnusable));
    HvSegmentRegister {
        base: k.base,
        limit: k.limit,
        selector: k.selector,
        attributes: HvSegmentAttributes(pack16(
            k.type_, k.s, k.dpl, present, k.avl, k.l, k.db, k.g,
        )),
    }
}

/// A Hyper-V-shaped register unpacked into `kvm_segment` fields; `unusable` is !P
/// unless `unusable_zero` (the callers' loss rule) says 0.
pub(super) const fn hv_to_kvm(h: &HvSegmentRegister, unusable_zero: bool) -> KvmSegment {
    let c = crosvm_from_whpx(h);
    c.to_kvm((!unusable_zero && c.present == 0) as u8)
}

/// `hv_x64_segment_register` → mshv-bindings `SegmentRegister`.
#[must_use]
pub const fn mshv_get(rules: RuleSet, h: &HvSegmentRegister) -> KvmSegment {
    hv_to_kvm(h, rules.has(Rule::MshvGetUnusableZero))
}

/// `kvm_segment` → openvmm's `SegmentRegister` (`seg_reg_from_kvm`): attributes packed,
/// unusable dropped, the accessed bit cleared for a not-present segment.
#[must_use]
pub const fn openvmm_from_kvm(rules: RuleSet, k: &KvmSegment) -> HvSegmentRegister {
    let present = hv_present(k, rules.has(Rule::OpenvmmFromKvmDropUnusable));
    let mut type_ = k.type_;
    if rules.has(Rule::OpenvmmFromKvmClearAccessedNotPresent) && !present {
        type_ &= !1;
    }
    HvSegmentRegister {
        base: k.base,
        limit: k.limit,
        selector: k.selector,
        attributes: HvSegmentAttributes(pack16(type_, k.s, k.dpl, present, k.avl, k.l, k.db, k.g)),
    }
}

/// openvmm's Hyper-V dump writer: the `VP_SEGMENT_REGISTERS` chunk it writes for eight
/// registers (`vmm_core/hyperv_dump/src/partition_state.rs`), CPL included.
#[must_use]
pub fn openvmm_dump_chunk(
    rules: RuleSet,
    segments: &crate::arch::PerSegReg<HvSegmentRegister>,
) -> crate::format::hyperv::VpSegmentRegisters {
    use crate::arch::SegReg;
    let cpl = if rules.has(Rule::OpenvmmDumpCplFromCsRpl) {
        (segments[SegReg::Cs].selector & 3) as u8
    } else {
        segments[SegReg::Ss].attributes.attributes().dpl.bits()
    };
    crate::format::hyperv::VpSegmentRegisters::new(*segments, cpl)
}

/// openvmm's `SegmentRegister` → `kvm_segment` (`seg_reg`).
#[must_use]
pub const fn openvmm_to_kvm(rules: RuleSet, h: &HvSegmentRegister) -> KvmSegment {
    hv_to_kvm(h, rules.has(Rule::OpenvmmToKvmUnusableZero))
}
