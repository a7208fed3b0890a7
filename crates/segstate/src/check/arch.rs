//! Architectural invariants of a protected-mode segment state: what a real CPU can be
//! in after loading its segment registers (SDM Vol. 3A §5.5–5.8 and §6.12,
//! APM Vol. 2 §4.9–4.11).

use alloc::string::String;
use alloc::vec::Vec;

use super::segment_fields::Fields;
use super::{CheckId, Finding, Findings};
use crate::arch::{
    CR0_PE, CR0_PG, CR4_PAE, CpuMode, EFER_LMA, EFER_LME, PerSegReg, PrivilegeLevel, RFLAGS_VM,
    SegReg, Segment,
};
use crate::arch::{GuestState, SegmentState};

/// Which of a state's checks a run makes: all of them, or one side of a split at one
/// register. A state that differs from a known one in a single register is judged by
/// the checks that read that register alone, the others' verdict being the known
/// state's (verify's domain varies one register over a baseline: `verify::domain`).
/// Every check is on exactly one side of every split, so a state passes the whole iff
/// it passes both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Every check, in catalogue order: what [`check`] and [`is_consistent`] run.
    Whole,
    /// The checks that read this register.
    Reading(SegReg),
    /// The checks that do not read this register (those that read none included).
    ApartFrom(SegReg),
}

/// `$judge` with `$reg` bound to the value of `$value` as a constant: one copy per
/// register, so that checks run on [`Part::Reading`] of it keep only those reading it
/// (the rest fold away at compile time).
macro_rules! per_register {
    ($value:expr, |$reg:ident| $judge:expr) => {
        per_register!(@arms $value, $reg, $judge, Es Cs Ss Ds Fs Gs Ldtr Tr)
    };
    (@arms $value:expr, $reg:ident, $judge:expr, $($r:ident)*) => {
        match $value {
            $($crate::arch::SegReg::$r => {
                const $reg: $crate::arch::SegReg = $crate::arch::SegReg::$r;
                $judge
            })*
        }
    };
}
pub(crate) use per_register;

impl Part {
    /// True when a check that reads `regs` belongs to this part.
    #[inline]
    pub(crate) fn has(self, regs: &[SegReg]) -> bool {
        match self {
            Part::Whole => true,
            Part::Reading(r) => regs.contains(&r),
            Part::ApartFrom(r) => !regs.contains(&r),
        }
    }

    /// The registers of `regs` whose own checks belong to this part, for a check run
    /// per register: a loop over them touches no other register's segment (a copy of
    /// each before asking [`Part::has`] was most of a per-register entry point's time).
    #[inline(always)]
    pub(crate) fn reading<const N: usize>(self, regs: [SegReg; N]) -> impl Iterator<Item = SegReg> {
        regs.into_iter().filter(move |&reg| self.has(&[reg]))
    }
}

/// Which checks read a register: registers with the same checks are judged by the same
/// code with the register's own segment ([`run`]: the four data registers by
/// `check_data`; each other register by its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checks {
    Cs,
    Ss,
    Data,
    Tr,
    Ldtr,
}

/// What the checks reading a register read of it when they judge consistency, declared
/// beside them: the checks of [`Part::Reading`] that register and the fields of its
/// segment that the errors among them look at (the CPL and control registers aside,
/// which are the context's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reads {
    checks: Checks,
    /// The fields read by the checks whose findings are errors.
    pub(crate) fields: Fields,
}

/// What every register's error checks read ([`run`] and the functions it calls): the
/// attributes, the unusable bit (usability) and the limit (`ArchLimitG`), and nothing
/// else. The checks that read the selector are warnings, which no verdict counts
/// ([`is_consistent`]: "warnings allowed"): CS's and SS's RPL against the CPL
/// (`ArchCsRplCpl`, `ArchSsRplCpl`), a data register's DPL against its RPL
/// (`ArchDataDplRpl`) and its null selector (`ArchDataNullUsable`). No check reads a
/// base, nor AVL: the processor ignores it (SDM Vol. 3A §3.4.5, "available for use by
/// system software"; APM Vol. 2 §4.7.1), and so does every check here.
#[must_use]
pub(crate) const fn reads(reg: SegReg) -> Reads {
    let checks = match reg {
        SegReg::Cs => Checks::Cs,
        SegReg::Ss => Checks::Ss,
        SegReg::Ds | SegReg::Es | SegReg::Fs | SegReg::Gs => Checks::Data,
        SegReg::Tr => Checks::Tr,
        SegReg::Ldtr => Checks::Ldtr,
    };
    let fields = Fields::ATTRIBUTES.and(Fields::UNUSABLE).and(Fields::LIMIT);
    Reads { checks, fields }
}

/// What the error checks of one register see of a segment: two registers' checks give
/// the same [`register_is_consistent`] verdict in the same context when their keys are
/// equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadKey {
    checks: Checks,
    seen: Segment,
}

impl Reads {
    /// `seg` as these checks see it: the fields not read cleared.
    #[must_use]
    pub(crate) fn key(self, seg: &Segment) -> ReadKey {
        let has = |f| self.fields.meets(f);
        let seen = Segment {
            selector: if has(Fields::SELECTOR) {
                seg.selector
            } else {
                crate::arch::Selector(0)
            },
            base: if has(Fields::BASE) { seg.base } else { 0 },
            limit: if has(Fields::LIMIT) { seg.limit } else { 0 },
            attributes: crate::arch::Attributes {
                avl: has(Fields::AVL) && seg.attributes.avl,
                ..if has(Fields::ATTRIBUTES) {
                    seg.attributes
                } else {
                    crate::arch::Attributes::default()
                }
            },
            unusable: has(Fields::UNUSABLE) && seg.unusable,
        };
        ReadKey {
            checks: self.checks,
            seen,
        }
    }
}

/// A state's eight segment registers with at most one replaced: what a check reads, so
/// a per-register entry point judges "`context` with `reg` holding `seg`" without
/// copying the state.
#[derive(Clone, Copy)]
pub(crate) struct Registers<'a> {
    segments: &'a PerSegReg<Segment>,
    replaced: Option<(SegReg, &'a Segment)>,
}

impl<'a> Registers<'a> {
    /// The state's own registers.
    pub(crate) fn of(state: &'a SegmentState) -> Self {
        Registers {
            segments: &state.segments,
            replaced: None,
        }
    }

    /// `context`'s registers with `reg` holding `seg`.
    pub(crate) fn with(context: &'a SegmentState, reg: SegReg, seg: &'a Segment) -> Self {
        Registers {
            segments: &context.segments,
            replaced: Some((reg, seg)),
        }
    }
}

impl core::ops::Index<SegReg> for Registers<'_> {
    type Output = Segment;
    #[inline]
    fn index(&self, reg: SegReg) -> &Segment {
        match self.replaced {
            Some((r, seg)) if r == reg => seg,
            _ => &self.segments[reg],
        }
    }
}

/// True when every entry of a PAT value is a memory type (SDM Vol. 3A §13.12.2, APM
/// Vol. 2 §7.8.1): 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) or 7 (UC-); 2 and 3 and
/// anything above 7 are reserved. VM entry with "load IA32_PAT" and VMRUN's G_PAT
/// check both ask this.
#[must_use]
pub const fn pat_valid(pat: u64) -> bool {
    let mut i = 0;
    while i < 8 {
        let t = (pat >> (i * 8)) & 0xff;
        if t == 2 || t == 3 || t > 7 {
            return false;
        }
        i += 1;
    }
    true
}

/// The canonical VMCB cache, defined once with KVM SVM's rules in
/// [`crate::profile::repair::canonical_vmcb_cache`].
pub use crate::profile::repair::canonical_vmcb_cache;

/// Every architectural finding for a protected-mode state. Real mode and
/// virtual-8086 mode have no descriptor rules and give no findings.
#[must_use]
pub fn check(state: &SegmentState) -> Vec<Finding> {
    let mut f = Findings::collecting();
    run(state, Registers::of(state), Part::Whole, &mut f);
    f.list
}

/// True when the state has no architectural error (warnings allowed): a state a real
/// CPU can be in. Formats nothing.
#[must_use]
pub fn is_consistent(state: &SegmentState) -> bool {
    passes(state, Registers::of(state), Part::Whole)
}

/// True when the architectural checks that read `reg` find no error in `context` with
/// `reg` holding `seg` (the CPL and control registers are `context`'s). With
/// [`is_consistent_apart_from`] on the same context, this splits [`is_consistent`]:
/// the state passes iff both do. Copies nothing.
#[must_use]
pub fn register_is_consistent(context: &SegmentState, reg: SegReg, seg: &Segment) -> bool {
    per_register!(reg, |REG| passes(
        context,
        Registers::with(context, REG, seg),
        Part::Reading(REG)
    ))
}

/// True when the architectural checks that do not read `reg` find no error: the same
/// for every value of `reg`, so it is asked once per context (see
/// [`register_is_consistent`]).
#[must_use]
pub fn is_consistent_apart_from(state: &SegmentState, reg: SegReg) -> bool {
    passes(state, Registers::of(state), Part::ApartFrom(reg))
}

#[inline(always)]
fn passes(state: &SegmentState, segs: Registers<'_>, part: Part) -> bool {
    let mut f = Findings::counting();
    run(state, segs, part, &mut f);
    f.errors == 0
}

/// The architectural rules on CR0, CR4 and EFER alone (PG without PE, LMA against LME
/// and PG, PAE in IA-32e mode), for a dump whose segments are not read (a Bochs dump,
/// the controls of a VMCS dump): each rule judged only where every register it reads
/// is given.
#[must_use]
pub fn check_control_registers(
    cr0: Option<u64>,
    cr4: Option<u64>,
    efer: Option<u64>,
) -> Vec<Finding> {
    let mut f = Findings::collecting();
    let given = [cr0, cr4, efer].map(|r| r.unwrap_or(0));
    control_registers(given[0], given[1], given[2], &mut f);
    f.list.retain(|x| match x.id {
        CheckId::ArchCr0PgPe => cr0.is_some(),
        CheckId::ArchEferLma => cr0.is_some() && efer.is_some(),
        CheckId::ArchLongModePae => efer.is_some() && cr4.is_some(),
        _ => false,
    });
    f.list
}

/// RIP against CS's limit (`arch.rip.cs-limit`): outside 64-bit mode every
/// instruction fetch is checked against CS's limit, and code segments are expand-up
/// (SDM Vol. 3A §5.3, "Limit Checking"), so a RIP beyond it faults (#GP(0)) on the next
/// fetch: after a far jump or return with the wrong CS or offset, the state an OS-dev
/// triple fault shows. Judged only where the dump shows RIP and a usable CS whose
/// byte-granular limit agrees with its G bit ([`Segment::limit_matches_granularity`]),
/// and 64-bit mode is ruled out: CS.L clear, or EFER shown with LMA clear.
#[must_use]
pub fn check_rip(g: &GuestState) -> Vec<Finding> {
    let mut f = Findings::collecting();
    let (Some(rip), Some(cs)) = (g.rip, g.segments[SegReg::Cs]) else {
        return f.list;
    };
    let maybe_64 = cs.attributes.l && g.efer.is_none_or(|e| e & EFER_LMA != 0);
    let t = cs.attributes.segment_type;
    let expand_down_data = cs.attributes.s && !t.is_code() && t.bits() & 4 != 0;
    if !maybe_64
        && !expand_down_data
        && cs.is_usable()
        && cs.limit_matches_granularity()
        && rip > u64::from(cs.limit)
    {
        f.fail(
            CheckId::ArchRipCsLimit,
            Some(SegReg::Cs),
            "limit",
            format_args!(
                "RIP at most CS.limit {:#x} (G={})",
                cs.limit,
                u8::from(cs.attributes.g)
            ),
            format_args!("RIP {rip:#x}: the next instruction fetch faults (#GP(0))"),
        );
    }
    f.list
}

/// The legacy VGA window, 0xA0000..=0xBFFFF: video memory on a PC (QEMU's VGA, and the
/// SMRAM of ASEG only when SMM opens it).
const VGA_WINDOW: core::ops::RangeInclusive<u64> = 0xa_0000..=0xb_ffff;

/// A note when the next instruction is fetched from video memory: CS.base + RIP in the
/// legacy VGA window with paging off (CR0.PG = 0, so linear is physical). The CPU runs
/// whatever the frame buffer holds (text mode's `20 07` blanks, or `ff` with nothing
/// behind it): usually a jump or call through a bad pointer, a far return to a bad
/// CS:IP, or code that ran off the end of what was loaded below 0xA0000. Said only
/// when certain: with paging on (or CR0 not shown) the address is virtual, and a CS
/// whose base is in the window is left alone, since an SMM handler relocated into ASEG
/// (SeaBIOS: SMBASE 0xA0000) runs there with CS.base = SMBASE.
#[must_use]
pub fn video_memory_fetch(g: &GuestState) -> Option<String> {
    let (cr0, rip, cs) = (g.cr0?, g.rip?, g.segments[SegReg::Cs]?);
    let linear = cs.base.wrapping_add(rip) & 0xffff_ffff;
    (cr0 & CR0_PG == 0 && !VGA_WINDOW.contains(&cs.base) && VGA_WINDOW.contains(&linear)).then(
        || {
            alloc::format!(
                "the CPU is executing from video memory: CS.base {:#x} + RIP {rip:#x} = \
                 {linear:#x}, in the legacy VGA window 0xA0000-0xBFFFF with paging off \
                 (CR0.PG=0): usually a jump or call through a bad pointer, a far return to \
                 a bad CS:IP, or code that ran off the end of what was loaded below it",
                cs.base
            )
        },
    )
}

fn control_registers(cr0: u64, cr4: u64, efer: u64, f: &mut Findings) {
    let (pe, pg) = (cr0 & CR0_PE != 0, cr0 & CR0_PG != 0);
    if pg && !pe {
        f.fail(
            CheckId::ArchCr0PgPe,
            None,
            "CR0.PG",
            "0 while CR0.PE = 0 (paging needs protected mode)",
            "PG=1 PE=0",
        );
    }
    let lme = efer & EFER_LME != 0;
    let lma = efer & EFER_LMA != 0;
    if lma != (lme && pg) {
        f.fail(
            CheckId::ArchEferLma,
            None,
            "EFER.LMA",
            format_args!("EFER.LME & CR0.PG = {}", u8::from(lme && pg)),
            format_args!("{}", u8::from(lma)),
        );
    }
    if lma && cr4 & CR4_PAE == 0 {
        f.fail(
            CheckId::ArchLongModePae,
            None,
            "CR4.PAE",
            "1 in IA-32e mode",
            "0",
        );
    }
}

/// Runs the checks of `part` on `state` with the registers `segs`. Each block names the
/// registers it reads; the CPU mode's IA-32e-ness comes from CR0 and EFER alone (CS.L
/// only tells 64-bit from compatibility mode), so it reads no register.
#[inline(always)]
fn run(state: &SegmentState, segs: Registers<'_>, part: Part, f: &mut Findings) {
    if part.has(&[]) {
        control_registers(state.cr0, state.cr4, state.efer, f);
    }
    if state.cr0 & CR0_PE == 0 || state.rflags & RFLAGS_VM != 0 {
        return;
    }
    let cpl = state.cpl;
    let cs = segs[SegReg::Cs];
    let ss = segs[SegReg::Ss];
    let mode = CpuMode::from_state(state.cr0, state.efer, state.rflags, cs.attributes);
    if part.has(&[SegReg::Cs]) {
        check_cs(f, &cs, cpl, mode);
    }
    if part.has(&[SegReg::Ss]) {
        check_ss(f, &ss, cpl, mode);
    }
    check_data(f, segs, part, mode);
    check_system(f, segs, part, mode);
    for reg in part.reading(SegReg::ALL) {
        let s = &segs[reg];
        if s.is_usable() && !s.limit_matches_granularity() {
            f.fail(
                CheckId::ArchLimitG,
                Some(reg),
                "limit",
                if s.attributes.g {
                    "low 12 bits all ones with G=1"
                } else {
                    "at most 0xfffff with G=0"
                },
                format_args!("{:#x}", s.limit),
            );
        }
    }
}

/// CS: a usable code segment whose DPL agrees with the CPL.
fn check_cs(f: &mut Findings, cs: &Segment, cpl: PrivilegeLevel, mode: CpuMode) {
    let cs_type = cs.attributes.segment_type;
    if !cs.is_usable() || !cs.attributes.s || !cs_type.is_code() {
        f.fail(
            CheckId::ArchCsCode,
            Some(SegReg::Cs),
            "type",
            "a present code segment",
            describe(cs, mode),
        );
    } else {
        // Conforming code may run at a CPL above its DPL; non-conforming code only at
        // its DPL.
        let dpl = cs.attributes.dpl;
        let (allowed, at_most, kind) = if cs_type.is_conforming_code() {
            (dpl <= cpl, "<= ", "conforming")
        } else {
            (dpl == cpl, "", "non-conforming")
        };
        if !allowed {
            f.fail(
                CheckId::ArchCsDplCpl,
                Some(SegReg::Cs),
                "DPL",
                format_args!("{at_most}CPL {cpl} ({kind})"),
                format_args!("{dpl}"),
            );
        }
    }
    rpl_is_cpl(f, CheckId::ArchCsRplCpl, SegReg::Cs, cs, cpl);
    if mode.is_ia32e() && cs.attributes.l && cs.attributes.db {
        f.fail(
            CheckId::ArchCsLD,
            Some(SegReg::Cs),
            "L, D",
            "not both set (reserved in IA-32e mode)",
            "L=1 D=1",
        );
    }
}

/// SS: writable data at DPL = CPL, or unusable where the architecture allows it.
fn check_ss(f: &mut Findings, ss: &Segment, cpl: PrivilegeLevel, mode: CpuMode) {
    if ss.is_usable() {
        if !ss.attributes.s || !ss.attributes.segment_type.is_writable_data() {
            f.fail(
                CheckId::ArchSsWritable,
                Some(SegReg::Ss),
                "type",
                "writable data",
                describe(ss, mode),
            );
        }
    } else if !mode.is_ia32e() {
        f.fail(
            CheckId::ArchSsNull,
            Some(SegReg::Ss),
            "unusable",
            "a usable SS outside IA-32e mode",
            "unusable",
        );
    } else if cpl == crate::arch::PrivilegeLevel::Ring3 {
        f.fail(
            CheckId::ArchSsNullCpl3,
            Some(SegReg::Ss),
            "unusable",
            "a usable SS at CPL 3",
            "unusable (only AMD's SYSRET leaves this)",
        );
    }
    // SS.DPL is the CPL: an error in a usable SS; a warning in one unusable in IA-32e
    // mode (its DPL is stale, yet it is where KVM's UAPI carries the CPL).
    if ss.attributes.dpl != cpl && (ss.is_usable() || mode.is_ia32e()) {
        let (id, stale) = if ss.is_usable() {
            (CheckId::ArchSsDplCpl, "")
        } else {
            (
                CheckId::ArchSsDplCplUnusable,
                " (stale; KVM's UAPI must carry the CPL here)",
            )
        };
        f.fail(
            id,
            Some(SegReg::Ss),
            "DPL",
            format_args!("CPL {cpl}"),
            format_args!("{}{stale}", ss.attributes.dpl),
        );
    }
    rpl_is_cpl(f, CheckId::ArchSsRplCpl, SegReg::Ss, ss, cpl);
}

/// Data segments: readable; a usable one with a null selector is odd.
#[inline(always)]
fn check_data(f: &mut Findings, segs: Registers<'_>, part: Part, mode: CpuMode) {
    for reg in part.reading([SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs]) {
        let s = &segs[reg];
        if !s.is_usable() {
            continue;
        }
        if !s.attributes.s || !s.attributes.segment_type.is_readable() {
            f.fail(
                CheckId::ArchDataReadable,
                Some(reg),
                "type",
                "readable data or code",
                describe(s, mode),
            );
        }
        let t = s.attributes.segment_type;
        if s.attributes.s && !t.is_conforming_code() && s.attributes.dpl < s.selector.rpl() {
            f.fail(
                CheckId::ArchDataDplRpl,
                Some(reg),
                "DPL",
                format_args!(
                    ">= selector RPL {} (data and non-conforming code)",
                    s.selector.rpl()
                ),
                format_args!("{} (a load with this selector faults)", s.attributes.dpl),
            );
        }
        // A null selector loads an unusable segment in protected mode, but one loaded in
        // real mode (base = selector << 4 = 0, limit and attributes kept) stays usable
        // after CR0.PE is set, until the register is reloaded (SDM Vol. 3A §9.9.1:
        // boot code and firmware run with these between `mov cr0` and the far jump and
        // the segment loads). A non-zero base is no such leftover.
        if s.selector.is_null() && s.base != 0 && !mode.is_ia32e() {
            f.fail(
                CheckId::ArchDataNullUsable,
                Some(reg),
                "selector",
                "null selectors load unusable segments (a real-mode load of 0 leaves base 0)",
                format_args!("usable, base {:#x}", s.base),
            );
        }
    }
}

/// The system registers: a busy TSS in TR, an LDT in a usable LDTR.
#[inline(always)]
fn check_system(f: &mut Findings, segs: Registers<'_>, part: Part, mode: CpuMode) {
    if part.has(&[SegReg::Tr]) {
        check_tr(f, &segs[SegReg::Tr], mode);
    }
    let ldtr = segs[SegReg::Ldtr];
    if part.has(&[SegReg::Ldtr])
        && ldtr.is_usable()
        && (ldtr.attributes.s || ldtr.attributes.segment_type.bits() != 2)
    {
        f.fail(
            CheckId::ArchLdtrType,
            Some(SegReg::Ldtr),
            "type",
            "an LDT (2)",
            describe(&ldtr, mode),
        );
    }
}

fn check_tr(f: &mut Findings, tr: &Segment, mode: CpuMode) {
    let tr_type = tr.attributes.segment_type.bits();
    let tr_ok =
        tr.is_usable() && !tr.attributes.s && (tr_type == 11 || (!mode.is_ia32e() && tr_type == 3));
    // An available TSS (1 or 9) is what QEMU TCG's `ltr` caches before it sets the
    // busy bit, and what AMD may show: not a state to refuse, though Intel's VM entry
    // does (vmx.entry.tr.type).
    let tr_available = tr.is_usable() && !tr.attributes.s && matches!(tr_type, 1 | 9);
    if !tr_ok {
        f.fail(
            if tr_available {
                CheckId::ArchTrAvailable
            } else {
                CheckId::ArchTrType
            },
            Some(SegReg::Tr),
            "type",
            if mode.is_ia32e() {
                "a present busy 64-bit TSS (11)"
            } else {
                "a present busy TSS (3 or 11)"
            },
            describe(tr, mode),
        );
    }
}

/// A segment's type in words, formatted only when a finding is kept; a system type is
/// named as IA-32e mode names it when the second field is true (type 9 is a 64-bit TSS
/// there, a 32-bit one outside, SDM Vol. 3A Table 3-2).
struct Describe(Segment, bool);

/// CS's and SS's selector RPL must equal the CPL (SDM Vol. 3A §5.5: the CPL is the RPL
/// of the CS and SS selectors).
fn rpl_is_cpl(f: &mut Findings, id: CheckId, reg: SegReg, seg: &Segment, cpl: PrivilegeLevel) {
    if seg.selector.rpl() != cpl {
        f.fail(
            id,
            Some(reg),
            "selector RPL",
            format_args!("CPL {cpl}"),
            format_args!("{}", seg.selector.rpl()),
        );
    }
}

fn describe(s: &Segment, mode: CpuMode) -> Describe {
    Describe(*s, mode.is_ia32e())
}

impl core::fmt::Display for Describe {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = &self.0;
        if s.unusable {
            return f.write_str("unusable");
        }
        let a = s.attributes;
        let kind = if a.s {
            a.segment_type.code_data_name()
        } else if self.1 {
            a.segment_type.system_name_long_mode()
        } else {
            a.segment_type.system_name_legacy()
        };
        write!(
            f,
            "type {} ({kind}), S={}, P={}",
            a.segment_type,
            u8::from(a.s),
            u8::from(a.present)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(cr0: Option<u64>, cr4: Option<u64>, efer: Option<u64>) -> Vec<CheckId> {
        check_control_registers(cr0, cr4, efer)
            .iter()
            .map(|f| f.id)
            .collect()
    }

    /// Each rule is judged only where the registers it reads are given: a register
    /// the dump lacks is no zero.
    #[test]
    fn control_registers_alone_judge_only_what_is_given() {
        assert_eq!(ids(Some(CR0_PG), None, None), [CheckId::ArchCr0PgPe]);
        assert_eq!(ids(None, None, Some(EFER_LMA)), []);
        assert_eq!(
            ids(Some(CR0_PE), None, Some(EFER_LMA)),
            [CheckId::ArchEferLma]
        );
        let long = (Some(CR0_PE | CR0_PG), Some(EFER_LMA | EFER_LME));
        assert_eq!(ids(long.0, None, long.1), []);
        assert_eq!(ids(long.0, Some(0), long.1), [CheckId::ArchLongModePae]);
        assert_eq!(ids(long.0, Some(CR4_PAE), long.1), []);
    }
}
