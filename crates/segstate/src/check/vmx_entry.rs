//! Intel VM entry: checks on guest segment registers (SDM Vol. 3C §27.3.1.2).
//!
//! A register is usable iff its unusable bit (AR bit 16) is 0. Reserved AR bits are
//! not representable in a decoded [`Segment`]; the VMX decoder refuses them.

mod reads;

pub use reads::{Context, Fields, Reads, reads};

use super::arch::{Part, Registers, per_register};
use super::{CheckId, Finding, Findings};
use crate::arch::SegmentState;
use crate::arch::{
    CR0_PE, CR0_PG, CR4_PAE, CR4_PCIDE, EFER_LMA, EFER_LME, PrivilegeLevel, RFLAGS_VM, SegReg,
    Segment, TableIndicator,
};

/// RFLAGS bits that must be 0 in the guest-state field: 63:22, 15, 5 and 3.
pub const RFLAGS_RESERVED_ZERO: u64 = !0x3f_ffff | 1 << 15 | 1 << 5 | 1 << 3;
/// RFLAGS bit 1, which must be 1.
pub const RFLAGS_FIXED_ONE: u64 = 1 << 1;

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

/// Runs every guest-segment check; an empty result means VM entry accepts the segments.
#[must_use]
pub fn check(state: &SegmentState, controls: VmxEntryControls) -> alloc::vec::Vec<Finding> {
    let mut f = Findings::collecting();
    run(
        state,
        Registers::of(state),
        controls,
        Part::Whole.into(),
        &mut f,
    );
    f.list
}

/// True when VM entry accepts the segments. Formats nothing.
#[must_use]
pub fn accepts(state: &SegmentState, controls: VmxEntryControls) -> bool {
    passes(state, Registers::of(state), controls, Part::Whole.into())
}

/// True when the VM-entry checks that read `reg` find no error in `context` with `reg`
/// holding `seg` (every other field is `context`'s). With [`accepts_apart_from`] on the
/// same context, this splits [`accepts`]: VM entry takes the state iff both pass.
/// Copies nothing.
#[must_use]
pub fn register_accepted(
    context: &SegmentState,
    controls: VmxEntryControls,
    reg: SegReg,
    seg: &Segment,
) -> bool {
    register_passes(context, controls, (reg, seg), Carried::Either)
}

/// [`register_accepted`] on the checks that read `reg`'s selector or base
/// ([`Fields::CARRIED`], by [`reads`]). With [`register_accepted_uncarried`] on the same
/// arguments, this splits [`register_accepted`]: both pass iff it does.
#[must_use]
pub fn register_accepted_carried(
    context: &SegmentState,
    controls: VmxEntryControls,
    reg: SegReg,
    seg: &Segment,
) -> bool {
    register_passes(context, controls, (reg, seg), Carried::Reading)
}

/// [`register_accepted`] on the checks that read `reg` but neither its selector nor its
/// base: the same for two values of `reg` that differ only there.
#[must_use]
pub fn register_accepted_uncarried(
    context: &SegmentState,
    controls: VmxEntryControls,
    reg: SegReg,
    seg: &Segment,
) -> bool {
    register_passes(context, controls, (reg, seg), Carried::NotReading)
}

#[inline(always)]
fn register_passes(
    context: &SegmentState,
    controls: VmxEntryControls,
    (reg, seg): (SegReg, &Segment),
    carried: Carried,
) -> bool {
    per_register!(reg, |REG| passes(
        context,
        Registers::with(context, REG, seg),
        controls,
        Scope {
            part: Part::Reading(REG),
            carried
        }
    ))
}

/// True when the VM-entry checks that do not read `reg` find no error: the same for
/// every value of `reg`, so it is asked once per context (see [`register_accepted`]).
#[must_use]
pub fn accepts_apart_from(state: &SegmentState, controls: VmxEntryControls, reg: SegReg) -> bool {
    passes(
        state,
        Registers::of(state),
        controls,
        Part::ApartFrom(reg).into(),
    )
}

/// Which checks of a [`Part`] a run asks, by whether they read a register's selector or
/// base ([`Fields::CARRIED`], by [`reads`]).
#[derive(Clone, Copy)]
enum Carried {
    /// Every check of the part.
    Either,
    /// Only those that read the selector or the base.
    Reading,
    /// Only those that read neither.
    NotReading,
}

/// Which checks a run asks: those of a [`Part`], narrowed by [`Carried`].
#[derive(Clone, Copy)]
struct Scope {
    part: Part,
    carried: Carried,
}

impl From<Part> for Scope {
    #[inline(always)]
    fn from(part: Part) -> Self {
        Scope {
            part,
            carried: Carried::Either,
        }
    }
}

impl Scope {
    /// True when check `id`, reading `regs`, is asked.
    #[inline(always)]
    fn has(self, id: CheckId, regs: &[SegReg]) -> bool {
        self.part.has(regs) && self.takes(id)
    }

    /// True when check `id` is asked on a register this scope's part reads.
    #[inline(always)]
    fn takes(self, id: CheckId) -> bool {
        let reads_carried = || reads(id).segment.meets(Fields::CARRIED);
        match self.carried {
            Carried::Either => true,
            Carried::Reading => reads_carried(),
            Carried::NotReading => !reads_carried(),
        }
    }

    /// See [`Part::reading`].
    #[inline(always)]
    fn reading<const N: usize>(self, regs: [SegReg; N]) -> impl Iterator<Item = SegReg> {
        self.part.reading(regs)
    }
}

#[inline(always)]
fn passes(
    state: &SegmentState,
    segs: Registers<'_>,
    controls: VmxEntryControls,
    part: Scope,
) -> bool {
    let mut f = Findings::counting();
    run(state, segs, controls, part, &mut f);
    f.errors == 0
}

/// Guest control registers, EFER and RFLAGS (SDM §27.3.1.1, §27.3.1.4): the non-segment
/// checks a "KVM: entry failed, hardware error 0x80000021" dump most often trips.
fn check_registers(state: &SegmentState, controls: VmxEntryControls, f: &mut Findings) {
    let (pe, pg) = (state.cr0 & CR0_PE != 0, state.cr0 & CR0_PG != 0);
    // CR0 bits fixed to 1 in VMX operation (IA32_VMX_CR0_FIXED0, Appendix A.7): PE and PG
    // are exempt only under unrestricted guest. (NE is fixed too, but KVM keeps it set in
    // the VMCS whatever the guest's view, so a guest-visible CR0 is not judged on it.)
    // Found by the Bochs oracle (docs/conformance/bochs.md).
    if !(controls.unrestricted_guest || pe && pg) {
        f.fail(
            CheckId::VmxEntryCr0Fixed,
            None,
            "CR0.PE, CR0.PG",
            "both 1 without unrestricted guest (IA32_VMX_CR0_FIXED0)",
            format_args!("PE={} PG={}", u8::from(pe), u8::from(pg)),
        );
    }
    if pg && !pe {
        f.fail(
            CheckId::VmxEntryCr0PgPe,
            None,
            "CR0.PE",
            "1 when CR0.PG = 1",
            "0",
        );
    }
    if controls.ia32e_mode_guest && (!pg || state.cr4 & CR4_PAE == 0) {
        f.fail(
            CheckId::VmxEntryIa32ePgPae,
            None,
            "CR0.PG, CR4.PAE",
            "both 1 (IA-32e mode guest)",
            format_args!(
                "PG={} PAE={}",
                u8::from(pg),
                u8::from(state.cr4 & CR4_PAE != 0)
            ),
        );
    }
    if !controls.ia32e_mode_guest && state.cr4 & CR4_PCIDE != 0 {
        f.fail(
            CheckId::VmxEntryCr4Pcide,
            None,
            "CR4.PCIDE",
            "0 outside IA-32e mode",
            "1",
        );
    }
    let lma = state.efer & EFER_LMA != 0;
    if pg && (state.efer & EFER_LME != 0) != lma {
        f.fail(
            CheckId::VmxEntryEferLmeLma,
            None,
            "EFER.LME",
            format_args!(
                "EFER.LMA = {} when CR0.PG = 1 (load IA32_EFER)",
                u8::from(lma)
            ),
            format_args!("{}", u8::from(!lma)),
        );
    }
    // "Bit 10 (corresponding to IA32_EFER.LMA) must equal the value of the IA-32e mode
    // guest VM-entry control" (load IA32_EFER = 1, as for the check above).
    if lma != controls.ia32e_mode_guest {
        f.fail(
            CheckId::VmxEntryEferLmaIa32e,
            None,
            "EFER.LMA",
            format_args!(
                "{} (the IA-32e mode guest control, load IA32_EFER)",
                u8::from(controls.ia32e_mode_guest)
            ),
            format_args!("{}", u8::from(lma)),
        );
    }
    let r = state.rflags;
    if r & RFLAGS_RESERVED_ZERO != 0 || r & RFLAGS_FIXED_ONE == 0 {
        f.fail(
            CheckId::VmxEntryRflagsReserved,
            None,
            "RFLAGS",
            "bits 63:22, 15, 5, 3 clear and bit 1 set",
            format_args!("{r:#x}"),
        );
    }
    if r & RFLAGS_VM != 0 && (controls.ia32e_mode_guest || !pe) {
        f.fail(
            CheckId::VmxEntryRflagsVm,
            None,
            "RFLAGS.VM",
            "0 in an IA-32e mode guest or with CR0.PE = 0",
            "1",
        );
    }
}

/// Runs the checks of `part` on `state` with the registers `segs`; each check names the
/// registers it reads ([`Part::has`]).
#[inline(always)]
fn run(
    state: &SegmentState,
    segs: Registers<'_>,
    controls: VmxEntryControls,
    part: Scope,
    f: &mut Findings,
) {
    if part.part.has(&[]) {
        check_registers(state, controls, f);
    }
    let ug = controls.unrestricted_guest;
    let v8086 = state.rflags & RFLAGS_VM != 0;
    let cs = segs[SegReg::Cs];
    let ss = segs[SegReg::Ss];

    // Selector fields.
    if part.has(CheckId::VmxEntryTrTi, &[SegReg::Tr])
        && segs[SegReg::Tr].selector.table() != TableIndicator::Gdt
    {
        f.fail(
            CheckId::VmxEntryTrTi,
            Some(SegReg::Tr),
            "selector TI",
            "0 (GDT)",
            "1 (LDT)",
        );
    }
    let ldtr = segs[SegReg::Ldtr];
    if part.has(CheckId::VmxEntryLdtrTi, &[SegReg::Ldtr])
        && !ldtr.unusable
        && ldtr.selector.table() != TableIndicator::Gdt
    {
        f.fail(
            CheckId::VmxEntryLdtrTi,
            Some(SegReg::Ldtr),
            "selector TI",
            "0 (GDT)",
            "1 (LDT)",
        );
    }
    if part.has(CheckId::VmxEntrySsRpl, &[SegReg::Cs, SegReg::Ss])
        && !v8086
        && !ug
        && ss.selector.rpl() != cs.selector.rpl()
    {
        f.fail(
            CheckId::VmxEntrySsRpl,
            Some(SegReg::Ss),
            "selector RPL",
            format_args!("CS.RPL = {}", cs.selector.rpl()),
            format_args!("{}", ss.selector.rpl()),
        );
    }

    // Base-address fields.
    for reg in part.reading([SegReg::Tr, SegReg::Fs, SegReg::Gs, SegReg::Ldtr]) {
        let s = &segs[reg];
        if part.takes(CheckId::VmxEntryBaseCanonical)
            && (reg != SegReg::Ldtr || !s.unusable)
            && !canonical(s.base)
        {
            f.fail(
                CheckId::VmxEntryBaseCanonical,
                Some(reg),
                "base",
                "a canonical address",
                format_args!("{:#x}", s.base),
            );
        }
    }
    for reg in part.reading([SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Es]) {
        let s = &segs[reg];
        if part.takes(CheckId::VmxEntryBaseHigh)
            && (reg == SegReg::Cs || !s.unusable)
            && s.base >> 32 != 0
        {
            f.fail(
                CheckId::VmxEntryBaseHigh,
                Some(reg),
                "base[63:32]",
                "0",
                format_args!("{:#x}", s.base >> 32),
            );
        }
    }

    if v8086 {
        for reg in part.reading(SegReg::USER) {
            let s = &segs[reg];
            if part.takes(CheckId::VmxEntryV8086Base) && s.base != u64::from(s.selector.0) << 4 {
                f.fail(
                    CheckId::VmxEntryV8086Base,
                    Some(reg),
                    "base",
                    format_args!("{:#x}", u64::from(s.selector.0) << 4),
                    format_args!("{:#x}", s.base),
                );
            }
            if part.takes(CheckId::VmxEntryV8086Limit) && s.limit != 0xffff {
                f.fail(
                    CheckId::VmxEntryV8086Limit,
                    Some(reg),
                    "limit",
                    "0xffff",
                    format_args!("{:#x}", s.limit),
                );
            }
            let ar = crate::format::vmx::VmxSegment::from(*s).access_rights.0;
            if part.takes(CheckId::VmxEntryV8086Ar) && ar != 0xf3 {
                f.fail(
                    CheckId::VmxEntryV8086Ar,
                    Some(reg),
                    "access rights",
                    "0xf3",
                    format_args!("{ar:#x}"),
                );
            }
        }
    } else {
        check_protected(f, state, segs, controls, part);
    }
    if part.part.has(&[SegReg::Tr]) {
        check_tr(f, &segs[SegReg::Tr], controls, part);
    }
    if part.part.has(&[SegReg::Ldtr]) {
        check_ldtr(f, &segs[SegReg::Ldtr], part);
    }
}

#[inline(always)]
fn check_protected(
    f: &mut Findings,
    state: &SegmentState,
    segs: Registers<'_>,
    controls: VmxEntryControls,
    part: Scope,
) {
    let ug = controls.unrestricted_guest;
    let cs = segs[SegReg::Cs];
    let ss = segs[SegReg::Ss];
    let cs_type = cs.attributes.segment_type.bits();

    // Types.
    let cs_type_ok = matches!(cs_type, 9 | 11 | 13 | 15) || (ug && cs_type == 3);
    if part.has(CheckId::VmxEntryCsType, &[SegReg::Cs]) && !cs_type_ok {
        f.fail(
            CheckId::VmxEntryCsType,
            Some(SegReg::Cs),
            "type",
            if ug {
                "9, 11, 13, 15 or 3"
            } else {
                "9, 11, 13 or 15"
            },
            format_args!("{cs_type}"),
        );
    }
    // The SDM checks SS's type only when SS is usable. Linux 33ab91103b34 (CVE-2017-2583)
    // says real CPUs check it anyway; the evidence says they do not (the catalogue entry
    // gives it), so an unusable SS of another type is information, not a verdict.
    let (id, expected) = if ss.unusable {
        (
            CheckId::VmxEntryErratumSsTypeUnusable,
            "3 or 7 only if CPUs checked an unusable SS's type (the SDM does not; Linux 33ab91103b34's message says they do)",
        )
    } else {
        (CheckId::VmxEntrySsType, "3 or 7")
    };
    if part.has(id, &[SegReg::Ss]) && !matches!(ss.attributes.segment_type.bits(), 3 | 7) {
        f.fail(
            id,
            Some(SegReg::Ss),
            "type",
            expected,
            format_args!("{}", ss.attributes.segment_type),
        );
    }
    for reg in part.reading([SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs]) {
        let s = &segs[reg];
        let t = s.attributes.segment_type;
        if part.takes(CheckId::VmxEntryDataAccessed) && !s.unusable && !t.is_accessed() {
            f.fail(
                CheckId::VmxEntryDataAccessed,
                Some(reg),
                "type",
                "accessed (bit 0 set)",
                format_args!("{t}"),
            );
        }
        if part.takes(CheckId::VmxEntryDataReadableCode)
            && !s.unusable
            && t.is_code()
            && !t.is_readable()
        {
            f.fail(
                CheckId::VmxEntryDataReadableCode,
                Some(reg),
                "type",
                "readable if code (bit 1 set)",
                format_args!("{t}"),
            );
        }
    }

    // S and P.
    for reg in part.reading(SegReg::USER) {
        let s = &segs[reg];
        let usable = reg == SegReg::Cs || !s.unusable;
        if part.takes(CheckId::VmxEntryS) && usable && !s.attributes.s {
            f.fail(CheckId::VmxEntryS, Some(reg), "S", "1", "0");
        }
        if part.takes(CheckId::VmxEntryP) && usable && !s.attributes.present {
            f.fail(CheckId::VmxEntryP, Some(reg), "P", "1", "0");
        }
        if part.takes(CheckId::VmxEntryG) && usable && !s.limit_matches_granularity() {
            f.fail(
                CheckId::VmxEntryG,
                Some(reg),
                "G",
                format_args!("consistent with limit {:#x}", s.limit),
                format_args!("{}", u8::from(s.attributes.g)),
            );
        }
    }

    // DPL.
    let (cs_dpl, ss_dpl) = (cs.attributes.dpl, ss.attributes.dpl);
    let cs_and_ss = part.part.has(&[SegReg::Cs, SegReg::Ss]);
    match cs_type {
        _ if !cs_and_ss => {}
        3 if part.takes(CheckId::VmxEntryCsDplType3) && cs_dpl != PrivilegeLevel::Ring0 => {
            f.fail(
                CheckId::VmxEntryCsDplType3,
                Some(SegReg::Cs),
                "DPL",
                "0 (type 3)",
                format_args!("{cs_dpl}"),
            );
        }
        9 | 11 if part.takes(CheckId::VmxEntryCsDplNonconforming) && cs_dpl != ss_dpl => {
            f.fail(
                CheckId::VmxEntryCsDplNonconforming,
                Some(SegReg::Cs),
                "DPL",
                format_args!("SS.DPL = {ss_dpl} (non-conforming code)"),
                format_args!("{cs_dpl}"),
            );
        }
        13 | 15 if part.takes(CheckId::VmxEntryCsDplConforming) && cs_dpl > ss_dpl => {
            f.fail(
                CheckId::VmxEntryCsDplConforming,
                Some(SegReg::Cs),
                "DPL",
                format_args!("<= SS.DPL = {ss_dpl} (conforming code)"),
                format_args!("{cs_dpl}"),
            );
        }
        _ => {}
    }
    if part.has(CheckId::VmxEntrySsDplRpl, &[SegReg::Ss]) && !ug && ss_dpl != ss.selector.rpl() {
        f.fail(
            CheckId::VmxEntrySsDplRpl,
            Some(SegReg::Ss),
            "DPL",
            format_args!("SS.RPL = {}", ss.selector.rpl()),
            format_args!("{ss_dpl}"),
        );
    }
    if cs_and_ss
        && part.takes(CheckId::VmxEntrySsDplZero)
        && (cs_type == 3 || state.cr0 & CR0_PE == 0)
        && ss_dpl != PrivilegeLevel::Ring0
    {
        f.fail(
            CheckId::VmxEntrySsDplZero,
            Some(SegReg::Ss),
            "DPL",
            "0 (CS type 3 or CR0.PE = 0)",
            format_args!("{ss_dpl}"),
        );
    }
    if !ug {
        for reg in part.reading([SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs]) {
            let s = &segs[reg];
            if part.takes(CheckId::VmxEntryDataDplRpl)
                && !s.unusable
                && s.attributes.segment_type.bits() <= 11
                && s.attributes.dpl < s.selector.rpl()
            {
                f.fail(
                    CheckId::VmxEntryDataDplRpl,
                    Some(reg),
                    "DPL",
                    format_args!(">= RPL = {}", s.selector.rpl()),
                    format_args!("{}", s.attributes.dpl),
                );
            }
        }
    }

    // D/B.
    if part.has(CheckId::VmxEntryCsDb, &[SegReg::Cs])
        && controls.ia32e_mode_guest
        && cs.attributes.l
        && cs.attributes.db
    {
        f.fail(
            CheckId::VmxEntryCsDb,
            Some(SegReg::Cs),
            "D/B",
            "0 (IA-32e mode guest with CS.L = 1)",
            "1",
        );
    }
}

/// TR: a busy TSS of the guest's width, present, its limit consistent with G, usable.
fn check_tr(f: &mut Findings, tr: &Segment, controls: VmxEntryControls, part: Scope) {
    let t = tr.attributes.segment_type.bits();
    let type_ok = t == 11 || (t == 3 && !controls.ia32e_mode_guest);
    if part.takes(CheckId::VmxEntryTrType) && !type_ok {
        f.fail(
            CheckId::VmxEntryTrType,
            Some(SegReg::Tr),
            "type",
            if controls.ia32e_mode_guest {
                "11"
            } else {
                "3 or 11"
            },
            format_args!("{t}"),
        );
    }
    check_system_bits(
        f,
        SegReg::Tr,
        tr,
        [
            CheckId::VmxEntryTrS,
            CheckId::VmxEntryTrP,
            CheckId::VmxEntryTrG,
        ],
        part,
    );
    if part.takes(CheckId::VmxEntryTrUnusable) && tr.unusable {
        f.fail(
            CheckId::VmxEntryTrUnusable,
            Some(SegReg::Tr),
            "unusable",
            "0",
            "1",
        );
    }
}

/// LDTR, when usable: an LDT (type 2), present, its limit consistent with G.
fn check_ldtr(f: &mut Findings, ldtr: &Segment, part: Scope) {
    if ldtr.unusable {
        return;
    }
    if part.takes(CheckId::VmxEntryLdtrType) && ldtr.attributes.segment_type.bits() != 2 {
        f.fail(
            CheckId::VmxEntryLdtrType,
            Some(SegReg::Ldtr),
            "type",
            "2",
            format_args!("{}", ldtr.attributes.segment_type),
        );
    }
    check_system_bits(
        f,
        SegReg::Ldtr,
        ldtr,
        [
            CheckId::VmxEntryLdtrS,
            CheckId::VmxEntryLdtrP,
            CheckId::VmxEntryLdtrG,
        ],
        part,
    );
}

/// The S, P and G checks TR and a usable LDTR share (SDM Vol. 3C §27.3.1.2): a system
/// descriptor (S = 0), present, its limit consistent with G. `ids` are the register's
/// S, P and G check ids.
fn check_system_bits(f: &mut Findings, reg: SegReg, seg: &Segment, ids: [CheckId; 3], part: Scope) {
    let [s_id, p_id, g_id] = ids;
    if part.takes(s_id) && seg.attributes.s {
        f.fail(s_id, Some(reg), "S", "0", "1");
    }
    if part.takes(p_id) && !seg.attributes.present {
        f.fail(p_id, Some(reg), "P", "1", "0");
    }
    if part.takes(g_id) && !seg.limit_matches_granularity() {
        f.fail(
            g_id,
            Some(reg),
            "G",
            format_args!("consistent with limit {:#x}", seg.limit),
            format_args!("{}", u8::from(seg.attributes.g)),
        );
    }
}
