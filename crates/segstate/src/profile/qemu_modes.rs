//! QEMU's paths that depend on more than one segment: `set_v8086_seg` (kvm_put_sregs
//! with EFLAGS.VM set, target/i386/kvm/kvm.c) and the migration hooks `cpu_pre_save` /
//! `cpu_post_load` (target/i386/machine.c), read at qemu/qemu
//! 00001a22d183ce96c110690987bf9dd6a8548552.
//!
//! The hooks need CR0 and CS while a chain runs one register at a time, so they act in
//! [`super::Chain::run_migration`]; run per register (the migration op a chain places
//! between two QEMU steps) they change nothing, which is exact for protected-mode
//! states (CR0.PE = 1: `cpu_pre_save` does nothing) and for the CPL the per-register
//! runs read (SS.DPL, what `cpu_post_load` recomputes).

use super::{Rule, RuleSet};
use crate::arch::{CR0_PE, PerSegReg, PrivilegeLevel, SegReg};
use crate::format::kvm::KvmSegment;
use crate::format::qemu::{QemuFlags, QemuSegmentCache};

/// The six registers `set_v8086_seg` and `cpu_pre_save` touch: CS, DS, ES, FS, GS, SS.
#[must_use]
pub const fn is_code_or_data(reg: SegReg) -> bool {
    !matches!(reg, SegReg::Ldtr | SegReg::Tr)
}

/// `set_v8086_seg`: selector, base and limit from the cache; type 3, P, DPL 3, S, the
/// rest 0, unusable 0. Returns `None` for a register or rule set it does not apply to
/// (then `set_seg` runs).
#[must_use]
pub fn set_v8086_seg(rules: RuleSet, reg: SegReg, q: &QemuSegmentCache) -> Option<KvmSegment> {
    if !(rules.has(Rule::QemuSetV8086Seg) && is_code_or_data(reg)) {
        return None;
    }
    Some(KvmSegment {
        base: q.base,
        limit: q.limit,
        selector: q.selector as u16,
        type_: 3,
        present: 1,
        dpl: 3,
        db: 0,
        s: 1,
        l: 0,
        g: 0,
        avl: 0,
        unusable: 0,
        padding: 0,
    })
}

/// `cpu_pre_save` on the migration source: in real mode (CR0.PE = 0) with CS.DPL ≠ 0,
/// the DPL of CS, DS, ES, FS, GS and SS is cleared in the caches the stream carries.
pub fn pre_save(rules: RuleSet, cr0: u64, caches: &mut PerSegReg<QemuSegmentCache>) {
    let cs_dpl = (caches[SegReg::Cs].flags.0 & QemuFlags::DPL_MASK) != 0;
    if rules.has(Rule::QemuPreSaveRealModeDplZero) && cr0 & CR0_PE == 0 && cs_dpl {
        for reg in SegReg::ALL.into_iter().filter(|r| is_code_or_data(*r)) {
            caches[reg].flags.0 &= !QemuFlags::DPL_MASK;
        }
    }
}

/// `cpu_post_load` on the destination: the CPL (hflags) is recomputed from SS.DPL of
/// the loaded caches; without the rule, the CPL in the stream's hflags stands.
#[must_use]
pub fn post_load_cpl(
    rules: RuleSet,
    caches: &PerSegReg<QemuSegmentCache>,
    stream_cpl: PrivilegeLevel,
) -> PrivilegeLevel {
    if rules.has(Rule::QemuPostLoadCplFromSsDpl) {
        caches[SegReg::Ss].flags.dpl()
    } else {
        stream_cpl
    }
}
