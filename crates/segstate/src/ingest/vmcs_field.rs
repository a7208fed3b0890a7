//! A VMCS field dumped one to a line, read by its encoding (SDM Vol. 3C Appendix B):
//! the one place that says which guest-state field, control or segment part each
//! encoding fills, for the dumps that print fields by encoding (HAXM) or by a name
//! that stands for one (hyperkit's `VMCS_GUEST_CR0`).

use super::log::RawDump;
use super::segment_parts::AllParts;
use crate::arch::{DescriptorTable, SegReg};
use crate::format::vmx::VmcsField;

/// Guest CR0.
pub(crate) const GUEST_CR0: u32 = 0x6800;
/// Guest CR3.
pub(crate) const GUEST_CR3: u32 = 0x6802;
/// Guest CR4.
pub(crate) const GUEST_CR4: u32 = 0x6804;
/// Guest DR7.
pub(crate) const GUEST_DR7: u32 = 0x681a;
/// Guest RIP.
pub(crate) const GUEST_RIP: u32 = 0x681e;
/// Guest RFLAGS.
pub(crate) const GUEST_RFLAGS: u32 = 0x6820;
/// Guest pending debug exceptions.
pub(crate) const GUEST_PENDING_DBG: u32 = 0x6822;
/// Guest IA32_DEBUGCTL.
pub(crate) const GUEST_DEBUGCTL: u32 = 0x2802;
/// Guest IA32_PAT.
pub(crate) const GUEST_PAT: u32 = 0x2804;
/// Guest IA32_EFER.
pub(crate) const GUEST_EFER: u32 = 0x2806;
/// Guest PDPTE0 (PDPTE1–3 follow, two apart).
pub(crate) const GUEST_PDPTE0: u32 = 0x280a;
/// Guest GDTR limit.
pub(crate) const GUEST_GDTR_LIMIT: u32 = 0x4810;
/// Guest IDTR limit.
pub(crate) const GUEST_IDTR_LIMIT: u32 = 0x4812;
/// Guest GDTR base.
pub(crate) const GUEST_GDTR_BASE: u32 = 0x6816;
/// Guest IDTR base.
pub(crate) const GUEST_IDTR_BASE: u32 = 0x6818;
/// Guest interruptibility state.
pub(crate) const GUEST_INTERRUPTIBILITY: u32 = 0x4824;
/// Guest activity state.
pub(crate) const GUEST_ACTIVITY: u32 = 0x4826;
/// VM-entry interruption information.
pub(crate) const ENTRY_INTR_INFO: u32 = 0x4016;
/// Pin-based VM-execution controls.
pub(crate) const PIN_BASED_CTLS: u32 = 0x4000;
/// Primary processor-based VM-execution controls.
pub(crate) const PRI_PROC_BASED_CTLS: u32 = 0x4002;
/// Secondary processor-based VM-execution controls.
pub(crate) const SEC_PROC_BASED_CTLS: u32 = 0x401e;
/// VM-exit controls.
pub(crate) const EXIT_CTLS: u32 = 0x400c;
/// VM-entry controls.
pub(crate) const ENTRY_CTLS: u32 = 0x4012;

/// Reads the field encoded `enc` with value `v` into `d`, a segment's part into
/// `parts` (put together by [`super::segment_parts::assemble`]); an encoding no rule
/// reads is skipped.
pub(crate) fn read(d: &mut RawDump, parts: &mut AllParts, enc: u32, v: u64) {
    let g = &mut d.guest;
    for reg in SegReg::ALL {
        let p = &mut parts[reg.index()];
        if enc == VmcsField::selector(reg) {
            p.selector = Some(v);
        } else if enc == VmcsField::limit(reg) {
            p.limit = Some(v);
        } else if enc == VmcsField::access_rights(reg) {
            p.ar = Some(v);
        } else if enc == VmcsField::base(reg) {
            p.base = Some(v);
        } else {
            continue;
        }
        return;
    }
    let table = |t: &mut Option<DescriptorTable>, base: Option<u64>, limit: Option<u64>| {
        let mut cur = t.unwrap_or_default();
        if let Some(b) = base {
            cur.base = b;
        }
        if let Some(l) = limit {
            cur.limit = l as u32;
        }
        *t = Some(cur);
    };
    match enc {
        GUEST_CR0 => g.cr0 = Some(v),
        GUEST_CR3 => g.cr3 = Some(v),
        GUEST_CR4 => g.cr4 = Some(v),
        GUEST_DR7 => g.dr7 = Some(v),
        GUEST_RIP => g.rip = Some(v),
        GUEST_RFLAGS => g.rflags = Some(v),
        GUEST_PENDING_DBG => g.pending_debug_exceptions = Some(v),
        GUEST_DEBUGCTL => g.debugctl = Some(v),
        GUEST_PAT => g.pat = Some(v),
        GUEST_EFER => g.efer = Some(v),
        0x280a | 0x280c | 0x280e | 0x2810 => {
            let mut all = g.pdptes.unwrap_or_default();
            all[((enc - GUEST_PDPTE0) / 2) as usize] = v;
            g.pdptes = Some(all);
        }
        GUEST_GDTR_LIMIT => table(&mut g.gdtr, None, Some(v)),
        GUEST_IDTR_LIMIT => table(&mut g.idtr, None, Some(v)),
        GUEST_GDTR_BASE => table(&mut g.gdtr, Some(v), None),
        GUEST_IDTR_BASE => table(&mut g.idtr, Some(v), None),
        GUEST_INTERRUPTIBILITY => g.interruptibility = Some(v as u32),
        GUEST_ACTIVITY => g.activity_state = Some(v as u32),
        ENTRY_INTR_INFO => g.entry_interruption_info = Some(v as u32),
        PIN_BASED_CTLS => g.controls.pin_based = Some(v as u32),
        PRI_PROC_BASED_CTLS => g.controls.cpu_based = Some(v as u32),
        SEC_PROC_BASED_CTLS => g.controls.secondary = Some(v as u32),
        EXIT_CTLS => g.controls.exit = Some(v as u32),
        ENTRY_CTLS => g.controls.entry = Some(v as u32),
        _ => {}
    }
}
