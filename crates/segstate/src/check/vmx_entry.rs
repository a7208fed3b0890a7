//! Intel VM entry: checks on guest segment registers (SDM Vol. 3C §27.3.1.2).
//!
//! A register is usable iff its unusable bit (AR bit 16) is 0. Reserved AR bits are
//! not representable in a decoded [`Segment`]; the VMX decoder refuses them.

use super::{Finding, Findings, SegmentState, Severity};
use crate::arch::{
    CR0_PE, CR0_PG, EFER_LMA, EFER_LME, PrivilegeLevel, RFLAGS_VM, SegReg, Segment, TableIndicator,
};

const REF: &str = "SDM Vol. 3C §27.3.1.2";
const REF_CR: &str = "SDM Vol. 3C §27.3.1.1";
const REF_RFLAGS: &str = "SDM Vol. 3C §27.3.1.4";
/// CR4.PAE.
const CR4_PAE: u64 = 1 << 5;
/// CR4.PCIDE.
const CR4_PCIDE: u64 = 1 << 17;
/// RFLAGS bits that must be 0 in the guest-state field: 63:22, 15, 5 and 3.
pub const RFLAGS_RESERVED_ZERO: u64 = !0x3f_ffff | 1 << 15 | 1 << 5 | 1 << 3;
/// RFLAGS bit 1, which must be 1.
pub const RFLAGS_FIXED_ONE: u64 = 1 << 1;

/// Every rule id this module emits.
pub const RULE_IDS: &[&str] = &[
    "vmx.entry.cr0.fixed",
    "vmx.entry.cr0.pg-pe",
    "vmx.entry.ia32e.pg-pae",
    "vmx.entry.cr4.pcide",
    "vmx.entry.efer.lme-lma",
    "vmx.entry.efer.lma-ia32e",
    "vmx.entry.rflags.reserved",
    "vmx.entry.rflags.vm",
    "vmx.entry.tr.ti",
    "vmx.entry.ldtr.ti",
    "vmx.entry.ss.rpl",
    "vmx.entry.base.canonical",
    "vmx.entry.base.high",
    "vmx.entry.v8086.base",
    "vmx.entry.v8086.limit",
    "vmx.entry.v8086.ar",
    "vmx.entry.cs.type",
    "vmx.entry.ss.type",
    "vmx.entry.data.accessed",
    "vmx.entry.data.readable-code",
    "vmx.entry.s",
    "vmx.entry.p",
    "vmx.entry.g",
    "vmx.entry.cs.dpl-type3",
    "vmx.entry.cs.dpl-nonconforming",
    "vmx.entry.cs.dpl-conforming",
    "vmx.entry.ss.dpl-rpl",
    "vmx.entry.ss.dpl-zero",
    "vmx.entry.data.dpl-rpl",
    "vmx.entry.cs.db",
    "vmx.entry.tr.type",
    "vmx.entry.tr.s",
    "vmx.entry.tr.p",
    "vmx.entry.tr.g",
    "vmx.entry.tr.unusable",
    "vmx.entry.ldtr.type",
    "vmx.entry.ldtr.s",
    "vmx.entry.ldtr.p",
    "vmx.entry.ldtr.g",
];

/// The VM-execution and VM-entry controls the checks depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmxEntryControls {
    /// Secondary control "unrestricted guest": relaxes the CS type, SS.RPL and DPL checks.
    pub unrestricted_guest: bool,
    /// VM-entry control "IA-32e mode guest".
    pub ia32e_mode_guest: bool,
}

impl VmxEntryControls {
    /// What KVM uses for a state: unrestricted guest on (the default since Westmere),
    /// IA-32e mode guest = EFER.LMA.
    #[must_use]
    pub const fn kvm_default(efer: u64) -> Self {
        VmxEntryControls {
            unrestricted_guest: true,
            ia32e_mode_guest: efer & EFER_LMA != 0,
        }
    }
}

fn canonical(addr: u64) -> bool {
    let top = (addr as i64) >> 47;
    top == 0 || top == -1
}

/// True when G agrees with the limit as VM entry requires: bits 11:0 not all ones → G=0;
/// bits 31:20 not all zeros → G=1.
#[must_use]
pub fn granularity_consistent(s: &Segment) -> bool {
    let g = s.attributes.g;
    let low_all_ones = s.limit & 0xfff == 0xfff;
    let high_all_zeros = s.limit & 0xfff0_0000 == 0;
    (low_all_ones || !g) && (high_all_zeros || g)
}

/// Runs every guest-segment check; an empty result means VM entry accepts the segments.
#[must_use]
pub fn check(state: &SegmentState, controls: VmxEntryControls) -> alloc::vec::Vec<Finding> {
    let mut f = Findings::collecting();
    run(state, controls, &mut f);
    f.list
}

/// True when VM entry accepts the segments. Formats nothing.
#[must_use]
pub fn accepts(state: &SegmentState, controls: VmxEntryControls) -> bool {
    let mut f = Findings::counting();
    run(state, controls, &mut f);
    f.errors == 0
}

/// Guest control registers, EFER and RFLAGS (SDM §27.3.1.1, §27.3.1.4): the non-segment
/// checks a "KVM: entry failed, hardware error 0x80000021" dump most often trips.
fn check_registers(state: &SegmentState, controls: VmxEntryControls, f: &mut Findings) {
    let e = Severity::Error;
    let (pe, pg) = (state.cr0 & CR0_PE != 0, state.cr0 & CR0_PG != 0);
    // CR0 bits fixed to 1 in VMX operation (IA32_VMX_CR0_FIXED0, Appendix A.7): PE and PG
    // are exempt only under unrestricted guest. (NE is fixed too, but KVM keeps it set in
    // the VMCS whatever the guest's view, so a guest-visible CR0 is not judged on it.)
    // Found by the Bochs oracle (docs/conformance/bochs.md).
    if !(controls.unrestricted_guest || pe && pg) {
        f.fail(
            "vmx.entry.cr0.fixed",
            e,
            None,
            "CR0.PE, CR0.PG",
            "both 1 without unrestricted guest (IA32_VMX_CR0_FIXED0)",
            format_args!("PE={} PG={}", u8::from(pe), u8::from(pg)),
            REF_CR,
        );
    }
    if pg && !pe {
        f.fail(
            "vmx.entry.cr0.pg-pe",
            e,
            None,
            "CR0.PE",
            "1 when CR0.PG = 1",
            "0",
            REF_CR,
        );
    }
    if controls.ia32e_mode_guest && (!pg || state.cr4 & CR4_PAE == 0) {
        f.fail(
            "vmx.entry.ia32e.pg-pae",
            e,
            None,
            "CR0.PG, CR4.PAE",
            "both 1 (IA-32e mode guest)",
            format_args!(
                "PG={} PAE={}",
                u8::from(pg),
                u8::from(state.cr4 & CR4_PAE != 0)
            ),
            REF_CR,
        );
    }
    if !controls.ia32e_mode_guest && state.cr4 & CR4_PCIDE != 0 {
        f.fail(
            "vmx.entry.cr4.pcide",
            e,
            None,
            "CR4.PCIDE",
            "0 outside IA-32e mode",
            "1",
            REF_CR,
        );
    }
    let lma = state.efer & EFER_LMA != 0;
    if pg && (state.efer & EFER_LME != 0) != lma {
        f.fail(
            "vmx.entry.efer.lme-lma",
            e,
            None,
            "EFER.LME",
            format_args!(
                "EFER.LMA = {} when CR0.PG = 1 (load IA32_EFER)",
                u8::from(lma)
            ),
            format_args!("{}", u8::from(!lma)),
            REF_CR,
        );
    }
    // "Bit 10 (corresponding to IA32_EFER.LMA) must equal the value of the IA-32e mode
    // guest VM-entry control" (load IA32_EFER = 1, as for the check above).
    if lma != controls.ia32e_mode_guest {
        f.fail(
            "vmx.entry.efer.lma-ia32e",
            e,
            None,
            "EFER.LMA",
            format_args!(
                "{} (the IA-32e mode guest control, load IA32_EFER)",
                u8::from(controls.ia32e_mode_guest)
            ),
            format_args!("{}", u8::from(lma)),
            REF_CR,
        );
    }
    let r = state.rflags;
    if r & RFLAGS_RESERVED_ZERO != 0 || r & RFLAGS_FIXED_ONE == 0 {
        f.fail(
            "vmx.entry.rflags.reserved",
            e,
            None,
            "RFLAGS",
            "bits 63:22, 15, 5, 3 clear and bit 1 set",
            format_args!("{r:#x}"),
            REF_RFLAGS,
        );
    }
    if r & RFLAGS_VM != 0 && (controls.ia32e_mode_guest || !pe) {
        f.fail(
            "vmx.entry.rflags.vm",
            e,
            None,
            "RFLAGS.VM",
            "0 in an IA-32e mode guest or with CR0.PE = 0",
            "1",
            REF_RFLAGS,
        );
    }
}

fn run(state: &SegmentState, controls: VmxEntryControls, f: &mut Findings) {
    check_registers(state, controls, f);
    let segs = &state.segments;
    let ug = controls.unrestricted_guest;
    let v8086 = state.rflags & RFLAGS_VM != 0;
    let e = Severity::Error;
    let cs = segs[SegReg::Cs];
    let ss = segs[SegReg::Ss];

    // Selector fields.
    if segs[SegReg::Tr].selector.table() != TableIndicator::Gdt {
        f.fail(
            "vmx.entry.tr.ti",
            e,
            Some(SegReg::Tr),
            "selector TI",
            "0 (GDT)",
            "1 (LDT)",
            REF,
        );
    }
    let ldtr = segs[SegReg::Ldtr];
    if !ldtr.unusable && ldtr.selector.table() != TableIndicator::Gdt {
        f.fail(
            "vmx.entry.ldtr.ti",
            e,
            Some(SegReg::Ldtr),
            "selector TI",
            "0 (GDT)",
            "1 (LDT)",
            REF,
        );
    }
    if !v8086 && !ug && ss.selector.rpl() != cs.selector.rpl() {
        f.fail(
            "vmx.entry.ss.rpl",
            e,
            Some(SegReg::Ss),
            "selector RPL",
            format_args!("CS.RPL = {}", cs.selector.rpl()),
            format_args!("{}", ss.selector.rpl()),
            REF,
        );
    }

    // Base-address fields.
    for reg in [SegReg::Tr, SegReg::Fs, SegReg::Gs, SegReg::Ldtr] {
        let s = segs[reg];
        if (reg != SegReg::Ldtr || !s.unusable) && !canonical(s.base) {
            f.fail(
                "vmx.entry.base.canonical",
                e,
                Some(reg),
                "base",
                "a canonical address",
                format_args!("{:#x}", s.base),
                REF,
            );
        }
    }
    for reg in [SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Es] {
        let s = segs[reg];
        if (reg == SegReg::Cs || !s.unusable) && s.base >> 32 != 0 {
            f.fail(
                "vmx.entry.base.high",
                e,
                Some(reg),
                "base[63:32]",
                "0",
                format_args!("{:#x}", s.base >> 32),
                REF,
            );
        }
    }

    if v8086 {
        for reg in SegReg::USER {
            let s = segs[reg];
            if s.base != u64::from(s.selector.0) << 4 {
                f.fail(
                    "vmx.entry.v8086.base",
                    e,
                    Some(reg),
                    "base",
                    format_args!("{:#x}", u64::from(s.selector.0) << 4),
                    format_args!("{:#x}", s.base),
                    REF,
                );
            }
            if s.limit != 0xffff {
                f.fail(
                    "vmx.entry.v8086.limit",
                    e,
                    Some(reg),
                    "limit",
                    "0xffff",
                    format_args!("{:#x}", s.limit),
                    REF,
                );
            }
            let ar = crate::format::vmx::VmxSegment::from(s).access_rights.0;
            if ar != 0xf3 {
                f.fail(
                    "vmx.entry.v8086.ar",
                    e,
                    Some(reg),
                    "access rights",
                    "0xf3",
                    format_args!("{ar:#x}"),
                    REF,
                );
            }
        }
    } else {
        check_protected(f, state, controls);
    }
    check_system(f, state, controls);
}

fn check_protected(f: &mut Findings, state: &SegmentState, controls: VmxEntryControls) {
    let segs = &state.segments;
    let ug = controls.unrestricted_guest;
    let e = Severity::Error;
    let cs = segs[SegReg::Cs];
    let ss = segs[SegReg::Ss];
    let cs_type = cs.attributes.segment_type.bits();

    // Types.
    let cs_type_ok = matches!(cs_type, 9 | 11 | 13 | 15) || (ug && cs_type == 3);
    if !cs_type_ok {
        f.fail(
            "vmx.entry.cs.type",
            e,
            Some(SegReg::Cs),
            "type",
            if ug {
                "9, 11, 13, 15 or 3"
            } else {
                "9, 11, 13 or 15"
            },
            format_args!("{cs_type}"),
            REF,
        );
    }
    if !ss.unusable && !matches!(ss.attributes.segment_type.bits(), 3 | 7) {
        f.fail(
            "vmx.entry.ss.type",
            e,
            Some(SegReg::Ss),
            "type",
            "3 or 7",
            format_args!("{}", ss.attributes.segment_type),
            REF,
        );
    }
    for reg in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        let s = segs[reg];
        let t = s.attributes.segment_type;
        if !s.unusable && !t.is_accessed() {
            f.fail(
                "vmx.entry.data.accessed",
                e,
                Some(reg),
                "type",
                "accessed (bit 0 set)",
                format_args!("{t}"),
                REF,
            );
        }
        if !s.unusable && t.is_code() && !t.is_readable() {
            f.fail(
                "vmx.entry.data.readable-code",
                e,
                Some(reg),
                "type",
                "readable if code (bit 1 set)",
                format_args!("{t}"),
                REF,
            );
        }
    }

    // S and P.
    for reg in SegReg::USER {
        let s = segs[reg];
        if (reg == SegReg::Cs || !s.unusable) && !s.attributes.s {
            f.fail("vmx.entry.s", e, Some(reg), "S", "1", "0", REF);
        }
        if (reg == SegReg::Cs || !s.unusable) && !s.attributes.present {
            f.fail("vmx.entry.p", e, Some(reg), "P", "1", "0", REF);
        }
        if (reg == SegReg::Cs || !s.unusable) && !granularity_consistent(&s) {
            f.fail(
                "vmx.entry.g",
                e,
                Some(reg),
                "G",
                format_args!("consistent with limit {:#x}", s.limit),
                format_args!("{}", u8::from(s.attributes.g)),
                REF,
            );
        }
    }

    // DPL.
    let (cs_dpl, ss_dpl) = (cs.attributes.dpl, ss.attributes.dpl);
    match cs_type {
        3 if cs_dpl != PrivilegeLevel::Ring0 => {
            f.fail(
                "vmx.entry.cs.dpl-type3",
                e,
                Some(SegReg::Cs),
                "DPL",
                "0 (type 3)",
                format_args!("{cs_dpl}"),
                REF,
            );
        }
        9 | 11 if cs_dpl != ss_dpl => {
            f.fail(
                "vmx.entry.cs.dpl-nonconforming",
                e,
                Some(SegReg::Cs),
                "DPL",
                format_args!("SS.DPL = {ss_dpl} (non-conforming code)"),
                format_args!("{cs_dpl}"),
                REF,
            );
        }
        13 | 15 if cs_dpl > ss_dpl => {
            f.fail(
                "vmx.entry.cs.dpl-conforming",
                e,
                Some(SegReg::Cs),
                "DPL",
                format_args!("<= SS.DPL = {ss_dpl} (conforming code)"),
                format_args!("{cs_dpl}"),
                REF,
            );
        }
        _ => {}
    }
    if !ug && ss_dpl != ss.selector.rpl() {
        f.fail(
            "vmx.entry.ss.dpl-rpl",
            e,
            Some(SegReg::Ss),
            "DPL",
            format_args!("SS.RPL = {}", ss.selector.rpl()),
            format_args!("{ss_dpl}"),
            REF,
        );
    }
    if (cs_type == 3 || state.cr0 & CR0_PE == 0) && ss_dpl != PrivilegeLevel::Ring0 {
        f.fail(
            "vmx.entry.ss.dpl-zero",
            e,
            Some(SegReg::Ss),
            "DPL",
            "0 (CS type 3 or CR0.PE = 0)",
            format_args!("{ss_dpl}"),
            REF,
        );
    }
    if !ug {
        for reg in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
            let s = segs[reg];
            if !s.unusable
                && s.attributes.segment_type.bits() <= 11
                && s.attributes.dpl < s.selector.rpl()
            {
                f.fail(
                    "vmx.entry.data.dpl-rpl",
                    e,
                    Some(reg),
                    "DPL",
                    format_args!(">= RPL = {}", s.selector.rpl()),
                    format_args!("{}", s.attributes.dpl),
                    REF,
                );
            }
        }
    }

    // D/B.
    if controls.ia32e_mode_guest && cs.attributes.l && cs.attributes.db {
        f.fail(
            "vmx.entry.cs.db",
            e,
            Some(SegReg::Cs),
            "D/B",
            "0 (IA-32e mode guest with CS.L = 1)",
            "1",
            REF,
        );
    }
}

fn check_system(f: &mut Findings, state: &SegmentState, controls: VmxEntryControls) {
    let e = Severity::Error;
    let tr = state.segments[SegReg::Tr];
    let t = tr.attributes.segment_type.bits();
    let type_ok = t == 11 || (t == 3 && !controls.ia32e_mode_guest);
    if !type_ok {
        f.fail(
            "vmx.entry.tr.type",
            e,
            Some(SegReg::Tr),
            "type",
            if controls.ia32e_mode_guest {
                "11"
            } else {
                "3 or 11"
            },
            format_args!("{t}"),
            REF,
        );
    }
    if tr.attributes.s {
        f.fail("vmx.entry.tr.s", e, Some(SegReg::Tr), "S", "0", "1", REF);
    }
    if !tr.attributes.present {
        f.fail("vmx.entry.tr.p", e, Some(SegReg::Tr), "P", "1", "0", REF);
    }
    if !granularity_consistent(&tr) {
        f.fail(
            "vmx.entry.tr.g",
            e,
            Some(SegReg::Tr),
            "G",
            format_args!("consistent with limit {:#x}", tr.limit),
            format_args!("{}", u8::from(tr.attributes.g)),
            REF,
        );
    }
    if tr.unusable {
        f.fail(
            "vmx.entry.tr.unusable",
            e,
            Some(SegReg::Tr),
            "unusable",
            "0",
            "1",
            REF,
        );
    }
    let ldtr = state.segments[SegReg::Ldtr];
    if !ldtr.unusable {
        if ldtr.attributes.segment_type.bits() != 2 {
            f.fail(
                "vmx.entry.ldtr.type",
                e,
                Some(SegReg::Ldtr),
                "type",
                "2",
                format_args!("{}", ldtr.attributes.segment_type),
                REF,
            );
        }
        if ldtr.attributes.s {
            f.fail(
                "vmx.entry.ldtr.s",
                e,
                Some(SegReg::Ldtr),
                "S",
                "0",
                "1",
                REF,
            );
        }
        if !ldtr.attributes.present {
            f.fail(
                "vmx.entry.ldtr.p",
                e,
                Some(SegReg::Ldtr),
                "P",
                "1",
                "0",
                REF,
            );
        }
        if !granularity_consistent(&ldtr) {
            f.fail(
                "vmx.entry.ldtr.g",
                e,
                Some(SegReg::Ldtr),
                "G",
                format_args!("consistent with limit {:#x}", ldtr.limit),
                format_args!("{}", u8::from(ldtr.attributes.g)),
                REF,
            );
        }
    }
}
