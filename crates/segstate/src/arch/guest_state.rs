//! A guest state as a dump shows it: every field known or not.
//!
//! A register dump pasted into a bug report is rarely whole: posters cut it, kernels
//! print only what a build knows, and the interesting fields (interruptibility, the
//! VM-entry controls, PDPTEs) appear only in the kernel's own dump. [`GuestState`]
//! carries each field as `Option`, so a rule can ask "is field X known"
//! ([`GuestState::is_known`]) and say "not judged" instead of guessing. The fields
//! beyond [`SegmentState`] are those of the SDM's guest-state area (Vol. 3C §25.4) that
//! the VM-entry checks read (§27.3.1): control and debug registers, MSRs, descriptor
//! tables, non-register state and the VM-entry interruption information.

use alloc::vec::Vec;
use core::fmt;

use super::mode::{CR0_PE, CR0_PG, EFER_LMA, EFER_LME, RFLAGS_VM};
use super::{Cpl, CpuMode, PerSegReg, SegReg, Segment, SegmentState};

/// GDTR or IDTR: base and limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DescriptorTable {
    /// Linear base address.
    pub base: u64,
    /// Limit (16 bits on the CPU; dumps print 32).
    pub limit: u32,
}

/// The VMX controls a VMCS dump prints (SDM Vol. 3C §25.6–25.8). Each is its own
/// 32-bit VMCS field, so each is known or not on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VmxControls {
    /// Pin-based VM-execution controls.
    pub pin_based: Option<u32>,
    /// Primary processor-based VM-execution controls.
    pub cpu_based: Option<u32>,
    /// Secondary processor-based VM-execution controls.
    pub secondary: Option<u32>,
    /// VM-entry controls.
    pub entry: Option<u32>,
    /// VM-exit controls.
    pub exit: Option<u32>,
}

impl VmxControls {
    /// Secondary control "unrestricted guest" (bit 7).
    pub const SECONDARY_UNRESTRICTED_GUEST: u32 = 1 << 7;
    /// Primary control "activate secondary controls" (bit 31).
    pub const CPU_BASED_SECONDARY: u32 = 1 << 31;
    /// VM-entry control "IA-32e mode guest" (bit 9).
    pub const ENTRY_IA32E_MODE_GUEST: u32 = 1 << 9;
    /// VM-entry control "load IA32_EFER" (bit 15).
    pub const ENTRY_LOAD_EFER: u32 = 1 << 15;

    /// Whether unrestricted guest is on, when the dump shows both controls it
    /// depends on.
    #[must_use]
    pub fn unrestricted_guest(&self) -> Option<bool> {
        let cpu = self.cpu_based?;
        if cpu & Self::CPU_BASED_SECONDARY == 0 {
            return Some(false);
        }
        Some(self.secondary? & Self::SECONDARY_UNRESTRICTED_GUEST != 0)
    }

    /// The IA32_EFER the guest runs with after VM entry, when the VM-entry controls
    /// are shown and "load IA32_EFER" is 0; `None` when they are not shown or it is 1
    /// (then VM entry loads the guest-state field as it is). `efer` is the value a dump
    /// printed for the field, `cr0` the guest CR0 when known.
    ///
    /// Without "load IA32_EFER" VM entry neither checks nor loads the VMCS's IA32_EFER
    /// field: it sets EFER.LMA to the "IA-32e mode guest" control and, when CR0.PG =
    /// 1, EFER.LME likewise, and leaves the other bits as the processor had them (SDM
    /// Vol. 3C §27.3.2.1). A hypervisor that runs its guests so (Xen 4.9's
    /// `EntryControls=000053ff`, Linux before 5.11, which print the field whenever
    /// they load or save IA32_PAT) prints a field nothing loaded, often 0 for a 64-bit
    /// guest. The other bits are taken as printed: nothing else in such a dump shows
    /// them. With `cr0` unknown, LME is left as printed unless IA-32e mode guest is 1,
    /// which VM entry allows only with paging on (§27.3.1.1).
    #[must_use]
    pub fn efer_after_entry(&self, efer: u64, cr0: Option<u64>) -> Option<u64> {
        let entry = self.entry?;
        if entry & Self::ENTRY_LOAD_EFER != 0 {
            return None;
        }
        let ia32e = entry & Self::ENTRY_IA32E_MODE_GUEST != 0;
        let paging = cr0.map_or(ia32e, |c| c & CR0_PG != 0);
        let set = |v: u64, bit: u64, on: bool| if on { v | bit } else { v & !bit };
        let efer = set(efer, EFER_LMA, ia32e);
        Some(if paging {
            set(efer, EFER_LME, ia32e)
        } else {
            efer
        })
    }
}

/// The VMCB control-area fields the VMRUN consistency checks read (APM Vol. 2
/// §15.5.1, Appendix B): each known or not on its own, as `dump_vmcb` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SvmControls {
    /// The VMRUN intercept bit (intercept word 4 bit 0; bit 32 of the older 64-bit
    /// `intercept` field).
    pub vmrun_intercept: Option<bool>,
    /// The guest ASID.
    pub asid: Option<u32>,
    /// IOPM_BASE_PA.
    pub iopm_base: Option<u64>,
    /// MSRPM_BASE_PA.
    pub msrpm_base: Option<u64>,
    /// NP_ENABLE (bit 0 of `nested_ctl`).
    pub nested_paging: Option<bool>,
    /// N_CR3, the nested page table root.
    pub ncr3: Option<u64>,
    /// EVENTINJ (APM Vol. 2 §15.20): vector 7:0, type 10:8, valid bit 31.
    pub event_inj: Option<u64>,
}

/// One field of a [`GuestState`], for "known or not" questions and for saying which
/// fields a dump lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuestField {
    /// A segment register (all four of its parts).
    Segment(SegReg),
    /// The CPL (VMCB.CPL, QEMU's printed CPL, or SS.DPL of a VMCS).
    Cpl,
    /// CR0.
    Cr0,
    /// CR3.
    Cr3,
    /// CR4.
    Cr4,
    /// EFER.
    Efer,
    /// RFLAGS.
    Rflags,
    /// RIP.
    Rip,
    /// DR6.
    Dr6,
    /// DR7.
    Dr7,
    /// IA32_DEBUGCTL.
    DebugCtl,
    /// IA32_PAT (the VMCB's G_PAT on AMD).
    Pat,
    /// IA32_SYSENTER_ESP.
    SysenterEsp,
    /// IA32_SYSENTER_EIP.
    SysenterEip,
    /// IA32_BNDCFGS (MPX).
    Bndcfgs,
    /// GDTR.
    Gdtr,
    /// IDTR.
    Idtr,
    /// The four PDPTEs (PAE paging with EPT).
    Pdptes,
    /// Interruptibility state.
    Interruptibility,
    /// Activity state.
    ActivityState,
    /// Pending debug exceptions.
    PendingDebugExceptions,
    /// VM-entry interruption-information field.
    EntryInterruptionInfo,
    /// The VM-entry and execution controls (any of them).
    Controls,
    /// The VMCB control area (any of its fields).
    SvmControls,
}

impl fmt::Display for GuestField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestField::Segment(reg) => f.write_str(reg.name()),
            other => f.write_str(match other {
                GuestField::Cpl => "CPL",
                GuestField::Cr0 => "CR0",
                GuestField::Cr3 => "CR3",
                GuestField::Cr4 => "CR4",
                GuestField::Efer => "EFER",
                GuestField::Rflags => "RFLAGS",
                GuestField::Rip => "RIP",
                GuestField::Dr6 => "DR6",
                GuestField::Dr7 => "DR7",
                GuestField::DebugCtl => "DEBUGCTL",
                GuestField::Pat => "PAT",
                GuestField::SysenterEsp => "IA32_SYSENTER_ESP",
                GuestField::SysenterEip => "IA32_SYSENTER_EIP",
                GuestField::Bndcfgs => "IA32_BNDCFGS",
                GuestField::Gdtr => "GDTR",
                GuestField::Idtr => "IDTR",
                GuestField::Pdptes => "PDPTEs",
                GuestField::Interruptibility => "interruptibility state",
                GuestField::ActivityState => "activity state",
                GuestField::PendingDebugExceptions => "pending debug exceptions",
                GuestField::EntryInterruptionInfo => "VM-entry interruption information",
                GuestField::Controls => "VM-execution/entry controls",
                GuestField::SvmControls => "VMCB control area",
                GuestField::Segment(_) => "",
            }),
        }
    }
}

/// How far a partial state decides its operating mode ([`GuestState::shown_mode`]):
/// the mode it is known to be in so far, and the first field that would decide the
/// rest. A dump without EFER is not in "32-bit protected mode" because 32 is what a
/// zero EFER would mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeGap {
    /// What the known fields decide.
    pub so_far: ModeSoFar,
    /// The field that would decide the rest.
    pub lacks: GuestField,
}

/// The mode a dump shows: decided by its fields, or, where they stop short, named by
/// the dump in words (Bochs's `CPU is in protected mode`, `CS.mode = 32 bit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShownMode {
    /// The fields decide it ([`GuestState::shown_mode`]).
    Decided(CpuMode),
    /// The dump names it; its fields stop at the gap.
    Named(CpuMode, ModeGap),
}

impl ShownMode {
    /// The mode, decided or named.
    #[must_use]
    pub const fn mode(self) -> CpuMode {
        match self {
            ShownMode::Decided(m) | ShownMode::Named(m, _) => m,
        }
    }
}

impl fmt::Display for ShownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShownMode::Decided(m) => write!(f, "{m}"),
            ShownMode::Named(m, gap) => {
                write!(
                    f,
                    "{m} as the dump names it (the fields read lack {})",
                    gap.lacks
                )
            }
        }
    }
}

/// The part of the mode a partial state decides (see [`ModeGap`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeSoFar {
    /// Nothing: no CR0.
    Nothing,
    /// Protected mode (CR0.PE = 1); IA-32e or not is EFER.LMA's.
    Protected,
    /// IA-32e mode (EFER.LMA = 1); 64-bit or compatibility is CS.L's.
    Ia32e,
    /// Protected mode outside IA-32e; virtual-8086 is RFLAGS.VM's, 16- or 32-bit
    /// CS.D's.
    Legacy,
}

impl ModeGap {
    /// What the known fields decide, in words ("IA-32e mode, 64-bit or compatibility
    /// unknown"); [`fmt::Display`] adds the field the dump lacks.
    #[must_use]
    pub const fn so_far_in_words(&self) -> &'static str {
        match (self.so_far, self.lacks) {
            (ModeSoFar::Nothing, _) => "mode unknown",
            (ModeSoFar::Protected, _) => "protected mode, IA-32e or not unknown",
            (ModeSoFar::Ia32e, _) => "IA-32e mode, 64-bit or compatibility unknown",
            (ModeSoFar::Legacy, GuestField::Rflags) => {
                "protected mode outside IA-32e, virtual-8086 or not unknown"
            }
            (ModeSoFar::Legacy, _) => "protected mode outside IA-32e, 16- or 32-bit unknown",
        }
    }
}

impl fmt::Display for ModeGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lacks {
            // A dump may print the selector (Xen's register dump does) and still lack
            // the descriptor whose L and D bits decide.
            GuestField::Segment(reg) => write!(
                f,
                "{} (no {reg} descriptor in the dump)",
                self.so_far_in_words()
            ),
            lacks => write!(f, "{} (no {lacks} in the dump)", self.so_far_in_words()),
        }
    }
}

/// A guest state with every field known or not.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GuestState {
    /// The eight segment registers.
    pub segments: PerSegReg<Option<Segment>>,
    /// The CPL.
    pub cpl: Option<Cpl>,
    /// CR0.
    pub cr0: Option<u64>,
    /// CR3.
    pub cr3: Option<u64>,
    /// CR4.
    pub cr4: Option<u64>,
    /// EFER.
    pub efer: Option<u64>,
    /// RFLAGS.
    pub rflags: Option<u64>,
    /// RIP.
    pub rip: Option<u64>,
    /// DR6.
    pub dr6: Option<u64>,
    /// DR7.
    pub dr7: Option<u64>,
    /// IA32_DEBUGCTL.
    pub debugctl: Option<u64>,
    /// IA32_PAT / G_PAT.
    pub pat: Option<u64>,
    /// IA32_SYSENTER_ESP (`dump_vmcs`'s `Sysenter RSP=`).
    pub sysenter_esp: Option<u64>,
    /// IA32_SYSENTER_EIP (`dump_vmcs`'s `Sysenter … CS:RIP=cs:eip`).
    pub sysenter_eip: Option<u64>,
    /// IA32_BNDCFGS (`dump_vmcs`'s `BndCfgS`, printed when "load IA32_BNDCFGS" is 1).
    pub bndcfgs: Option<u64>,
    /// GDTR.
    pub gdtr: Option<DescriptorTable>,
    /// IDTR.
    pub idtr: Option<DescriptorTable>,
    /// PDPTE0..3.
    pub pdptes: Option<[u64; 4]>,
    /// Interruptibility state (SDM Vol. 3C §25.4.2, Table 25-3).
    pub interruptibility: Option<u32>,
    /// Activity state (0 active, 1 HLT, 2 shutdown, 3 wait-for-SIPI).
    pub activity_state: Option<u32>,
    /// Pending debug exceptions.
    pub pending_debug_exceptions: Option<u64>,
    /// VM-entry interruption-information field (SDM Vol. 3C §25.8.3).
    pub entry_interruption_info: Option<u32>,
    /// The VMX controls.
    pub controls: VmxControls,
    /// The VMCB control area.
    pub svm: SvmControls,
}

/// Fills each named `Option` member of `$mine` that is `None` from `$theirs` ([`fill`]).
/// With tags, pushes a member's tag onto `$differ` when both know it with different
/// values; without, is true when any member does.
macro_rules! merge_members {
    ($mine:expr, $theirs:expr, $differ:ident; $($member:ident => $tag:expr,)*) => {
        $(
            if fill(&mut $mine.$member, $theirs.$member) {
                $differ.push($tag);
            }
        )*
    };
    ($mine:expr, $theirs:expr; $($member:ident),*) => {
        false $(| fill(&mut $mine.$member, $theirs.$member))*
    };
}

impl GuestState {
    /// The operating mode, when the fields that decide it are known (CR0.PE, then
    /// EFER.LMA, RFLAGS.VM and CS's L or D bit, as [`CpuMode::from_state`] reads them);
    /// else how far they go and the first one missing.
    ///
    /// # Errors
    ///
    /// [`ModeGap`] when a field that decides the mode is not known.
    pub fn shown_mode(&self) -> Result<CpuMode, ModeGap> {
        let gap = |so_far, lacks| Err(ModeGap { so_far, lacks });
        // IA-32e mode: in a VMCS the "IA-32e mode guest" entry control decides EFER.LMA
        // on entry, whatever the EFER field holds (SDM Vol. 3C §27.3.2.1: without "load
        // IA32_EFER" the field is not loaded at all); elsewhere EFER.LMA.
        let lma = match self.controls.entry {
            Some(entry) => Some(entry & VmxControls::ENTRY_IA32E_MODE_GUEST != 0),
            None => self.efer.map(|e| e & EFER_LMA != 0),
        };
        // LMA is set only while paging is on (SDM Vol. 3A §10.8.5): it decides
        // protected mode without CR0; paging off (CR0.PG = 0) decides it is clear.
        let cr0 = match self.cr0 {
            Some(cr0) => cr0,
            None if lma == Some(true) => CR0_PE | CR0_PG,
            None => return gap(ModeSoFar::Nothing, GuestField::Cr0),
        };
        if cr0 & CR0_PE == 0 {
            return Ok(CpuMode::Real);
        }
        let lma = match lma {
            _ if cr0 & CR0_PG == 0 => false,
            Some(lma) => lma,
            None => return gap(ModeSoFar::Protected, GuestField::Efer),
        };
        let cs = self.segments[SegReg::Cs].map(|s| s.attributes);
        let efer = if lma { EFER_LMA } else { 0 };
        if lma {
            return match cs {
                Some(cs) => Ok(CpuMode::from_state(cr0, efer, 0, cs)),
                None => gap(ModeSoFar::Ia32e, GuestField::Segment(SegReg::Cs)),
            };
        }
        let Some(rflags) = self.rflags else {
            return gap(ModeSoFar::Legacy, GuestField::Rflags);
        };
        match cs {
            _ if rflags & RFLAGS_VM != 0 => Ok(CpuMode::Virtual8086),
            Some(cs) => Ok(CpuMode::from_state(cr0, efer, rflags, cs)),
            None => gap(ModeSoFar::Legacy, GuestField::Segment(SegReg::Cs)),
        }
    }

    /// The fields a segment check reads: the eight segments, CPL, CR0, CR4, EFER and
    /// RFLAGS, in that order.
    #[must_use]
    pub fn segment_check_fields() -> Vec<GuestField> {
        let mut v: Vec<GuestField> = SegReg::ALL.into_iter().map(GuestField::Segment).collect();
        v.extend([
            GuestField::Cpl,
            GuestField::Cr0,
            GuestField::Cr4,
            GuestField::Efer,
            GuestField::Rflags,
        ]);
        v
    }

    /// True when the dump showed `field`.
    #[must_use]
    pub fn is_known(&self, field: GuestField) -> bool {
        match field {
            GuestField::Segment(reg) => self.segments[reg].is_some(),
            GuestField::Cpl => self.cpl.is_some(),
            GuestField::Cr0 => self.cr0.is_some(),
            GuestField::Cr3 => self.cr3.is_some(),
            GuestField::Cr4 => self.cr4.is_some(),
            GuestField::Efer => self.efer.is_some(),
            GuestField::Rflags => self.rflags.is_some(),
            GuestField::Rip => self.rip.is_some(),
            GuestField::Dr6 => self.dr6.is_some(),
            GuestField::Dr7 => self.dr7.is_some(),
            GuestField::DebugCtl => self.debugctl.is_some(),
            GuestField::Pat => self.pat.is_some(),
            GuestField::SysenterEsp => self.sysenter_esp.is_some(),
            GuestField::SysenterEip => self.sysenter_eip.is_some(),
            GuestField::Bndcfgs => self.bndcfgs.is_some(),
            GuestField::Gdtr => self.gdtr.is_some(),
            GuestField::Idtr => self.idtr.is_some(),
            GuestField::Pdptes => self.pdptes.is_some(),
            GuestField::Interruptibility => self.interruptibility.is_some(),
            GuestField::ActivityState => self.activity_state.is_some(),
            GuestField::PendingDebugExceptions => self.pending_debug_exceptions.is_some(),
            GuestField::EntryInterruptionInfo => self.entry_interruption_info.is_some(),
            // Every member is an `Option`: the default is "none known".
            GuestField::Controls => self.controls != VmxControls::default(),
            GuestField::SvmControls => self.svm != SvmControls::default(),
        }
    }

    /// The segment-check fields ([`GuestState::segment_check_fields`]) the state lacks.
    #[must_use]
    pub fn missing_for_segment_checks(&self) -> Vec<GuestField> {
        Self::segment_check_fields()
            .into_iter()
            .filter(|f| !self.is_known(*f))
            .collect()
    }

    /// True when no segment register is known: nothing a segment rule can judge.
    #[must_use]
    pub fn has_no_segments(&self) -> bool {
        self.segments.iter().all(|(_, s)| s.is_none())
    }

    /// The whole [`SegmentState`], when every field it holds is known.
    #[must_use]
    pub fn segment_state(&self) -> Option<SegmentState> {
        let mut segments = PerSegReg([Segment::default(); 8]);
        for reg in SegReg::ALL {
            segments[reg] = self.segments[reg]?;
        }
        Some(SegmentState {
            segments,
            cpl: self.cpl?,
            cr0: self.cr0?,
            cr4: self.cr4?,
            efer: self.efer?,
            rflags: self.rflags?,
        })
    }

    /// Fills every field `self` lacks from `other` (a second dump of the same
    /// failure); fields `self` knows are kept. Returns the fields both know with
    /// different values, for the report to mention.
    pub fn merge_from(&mut self, other: &GuestState) -> Vec<GuestField> {
        let mut differ = Vec::new();
        for reg in SegReg::ALL {
            let (mine, theirs) = (&mut self.segments[reg], other.segments[reg]);
            if fill(mine, theirs) {
                differ.push(GuestField::Segment(reg));
            }
        }
        merge_members!(self, other, differ;
            cpl => GuestField::Cpl,
            cr0 => GuestField::Cr0,
            cr3 => GuestField::Cr3,
            cr4 => GuestField::Cr4,
            efer => GuestField::Efer,
            rflags => GuestField::Rflags,
            rip => GuestField::Rip,
            dr6 => GuestField::Dr6,
            dr7 => GuestField::Dr7,
            debugctl => GuestField::DebugCtl,
            pat => GuestField::Pat,
            sysenter_esp => GuestField::SysenterEsp,
            sysenter_eip => GuestField::SysenterEip,
            bndcfgs => GuestField::Bndcfgs,
            gdtr => GuestField::Gdtr,
            idtr => GuestField::Idtr,
            pdptes => GuestField::Pdptes,
            interruptibility => GuestField::Interruptibility,
            activity_state => GuestField::ActivityState,
            pending_debug_exceptions => GuestField::PendingDebugExceptions,
            entry_interruption_info => GuestField::EntryInterruptionInfo,
        );
        // Each control area is one field for the report: any member that differs.
        if merge_members!(self.controls, other.controls;
            pin_based, cpu_based, secondary, entry, exit)
        {
            differ.push(GuestField::Controls);
        }
        if merge_members!(self.svm, other.svm;
            vmrun_intercept, asid, iopm_base, msrpm_base, nested_paging, ncr3, event_inj)
        {
            differ.push(GuestField::SvmControls);
        }
        differ
    }
}

/// Takes `theirs` where `mine` is unknown; true when both are known and differ.
fn fill<T: PartialEq + Copy>(mine: &mut Option<T>, theirs: Option<T>) -> bool {
    match (*mine, theirs) {
        (None, t) => {
            *mine = t;
            false
        }
        (Some(a), Some(b)) => a != b,
        (Some(_), None) => false,
    }
}

impl From<&SegmentState> for GuestState {
    /// A whole segment state: every field it holds known, the others not.
    fn from(s: &SegmentState) -> Self {
        GuestState {
            segments: s.segments.map(|_, seg| Some(*seg)),
            cpl: Some(s.cpl),
            cr0: Some(s.cr0),
            cr4: Some(s.cr4),
            efer: Some(s.efer),
            rflags: Some(s.rflags),
            ..GuestState::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Attributes, PrivilegeLevel, Selector};

    fn whole() -> SegmentState {
        let data = Segment {
            selector: Selector(0x18),
            base: 0,
            limit: 0xffff_ffff,
            attributes: Attributes::flat_data(PrivilegeLevel::Ring0),
            unusable: false,
        };
        SegmentState {
            segments: PerSegReg([data; 8]),
            cpl: PrivilegeLevel::Ring0,
            cr0: 0x8005_0033,
            cr4: 0x20,
            efer: 0xd01,
            rflags: 2,
        }
    }

    #[test]
    fn a_whole_state_round_trips_and_a_missing_field_is_named() {
        let s = whole();
        let mut g = GuestState::from(&s);
        assert_eq!(g.segment_state(), Some(s));
        assert!(g.missing_for_segment_checks().is_empty());
        g.segments[SegReg::Gs] = None;
        g.efer = None;
        assert_eq!(g.segment_state(), None);
        assert_eq!(
            g.missing_for_segment_checks(),
            [GuestField::Segment(SegReg::Gs), GuestField::Efer]
        );
        assert!(!g.is_known(GuestField::Interruptibility));
    }

    #[test]
    fn the_mode_is_shown_only_as_far_as_the_known_fields_decide_it() {
        let s = whole();
        let mut g = GuestState::from(&s);
        assert_eq!(g.shown_mode(), Ok(CpuMode::Compatibility), "LMA, CS.L = 0");
        let gap = |so_far, lacks| Err(ModeGap { so_far, lacks });
        let cs = GuestField::Segment(SegReg::Cs);
        // No EFER: 32-bit is what a zero EFER would mean, not what the dump shows.
        g.efer = None;
        assert_eq!(g.shown_mode(), gap(ModeSoFar::Protected, GuestField::Efer));
        assert_eq!(
            g.shown_mode().unwrap_err().to_string(),
            "protected mode, IA-32e or not unknown (no EFER in the dump)"
        );
        g.efer = Some(0xd01);
        g.segments[SegReg::Cs] = None;
        assert_eq!(g.shown_mode(), gap(ModeSoFar::Ia32e, cs));
        g.efer = Some(0);
        assert_eq!(g.shown_mode(), gap(ModeSoFar::Legacy, cs));
        assert_eq!(
            g.shown_mode().unwrap_err().to_string(),
            "protected mode outside IA-32e, 16- or 32-bit unknown (no CS descriptor in the dump)"
        );
        g.rflags = None;
        assert_eq!(g.shown_mode(), gap(ModeSoFar::Legacy, GuestField::Rflags));
        g.rflags = Some(RFLAGS_VM | 2);
        assert_eq!(
            g.shown_mode(),
            Ok(CpuMode::Virtual8086),
            "VM decides without CS"
        );
        g.cr0 = Some(0x10);
        assert_eq!(g.shown_mode(), Ok(CpuMode::Real), "PE = 0 decides alone");
        g.cr0 = None;
        assert_eq!(
            g.shown_mode().unwrap_err().to_string(),
            "mode unknown (no CR0 in the dump)"
        );
        // Paging off decides IA-32e is off, without EFER.
        g.cr0 = Some(0x11);
        g.efer = None;
        g.rflags = Some(2);
        g.segments[SegReg::Cs] = s.segments[SegReg::Cs].into();
        assert_eq!(g.shown_mode(), Ok(CpuMode::Protected32), "CS.D = 1");
        // A VMCS's IA-32e mode guest control decides LMA whatever its EFER field holds.
        g.cr0 = Some(0x8005_0033);
        g.efer = Some(0);
        g.controls.entry = Some(VmxControls::ENTRY_IA32E_MODE_GUEST);
        assert_eq!(g.shown_mode(), Ok(CpuMode::Compatibility));
        g.controls.entry = None;
        g.cr0 = None;
        // EFER.LMA decides paging, so protected mode, without CR0.
        g.efer = Some(0xd01);
        g.segments[SegReg::Cs] = s.segments[SegReg::Cs].into();
        assert_eq!(g.shown_mode(), Ok(CpuMode::Compatibility));
    }

    #[test]
    fn without_load_efer_entry_sets_lma_and_lme_from_ia32e_mode_guest() {
        let ia32e = VmxControls::ENTRY_IA32E_MODE_GUEST;
        let with = |entry: Option<u32>| VmxControls {
            entry,
            ..VmxControls::default()
        };
        // Not shown, or load IA32_EFER on: the field is what entry loads.
        assert_eq!(with(None).efer_after_entry(0, None), None);
        let loads = VmxControls::ENTRY_LOAD_EFER | ia32e;
        assert_eq!(with(Some(loads)).efer_after_entry(0, Some(CR0_PG)), None);
        // Off: LMA is IA-32e mode guest, LME too with paging; SCE and NXE untouched.
        let off = with(Some(ia32e));
        assert_eq!(off.efer_after_entry(0x801, Some(CR0_PG | 1)), Some(0xd01));
        assert_eq!(
            off.efer_after_entry(0, None),
            Some(0x500),
            "IA-32e needs paging"
        );
        let legacy = with(Some(0));
        assert_eq!(
            legacy.efer_after_entry(0xd01, Some(CR0_PG | 1)),
            Some(0x801)
        );
        // Paging off: LME is not touched.
        assert_eq!(legacy.efer_after_entry(0x500, Some(1)), Some(0x100));
        assert_eq!(legacy.efer_after_entry(0x500, None), Some(0x100));
    }

    #[test]
    fn merging_fills_gaps_keeps_own_values_and_reports_conflicts() {
        let mut kernel = GuestState {
            rip: Some(0x1000),
            interruptibility: Some(1),
            ..GuestState::default()
        };
        let qemu = GuestState {
            rip: Some(0x2000),
            cr0: Some(0x11),
            ..GuestState::default()
        };
        let differ = kernel.merge_from(&qemu);
        assert_eq!(kernel.rip, Some(0x1000));
        assert_eq!(kernel.cr0, Some(0x11));
        assert_eq!(kernel.interruptibility, Some(1));
        assert_eq!(differ, [GuestField::Rip]);
    }

    #[test]
    fn merging_reports_a_control_area_once_whatever_member_differs() {
        let mut kernel = GuestState::default();
        kernel.controls.entry = Some(0x200);
        kernel.controls.exit = Some(1);
        kernel.svm.asid = Some(1);
        let mut other = GuestState::default();
        other.controls.entry = Some(0);
        other.controls.exit = Some(2);
        other.controls.pin_based = Some(0x16);
        other.svm.asid = Some(1);
        other.svm.ncr3 = Some(0x1000);
        let differ = kernel.merge_from(&other);
        assert_eq!(differ, [GuestField::Controls]);
        assert_eq!(kernel.controls.entry, Some(0x200), "own value kept");
        assert_eq!(kernel.controls.pin_based, Some(0x16), "gap filled");
        assert_eq!(kernel.svm.ncr3, Some(0x1000), "gap filled");
        assert!(kernel.is_known(GuestField::Controls) && kernel.is_known(GuestField::SvmControls));
        let unknown = GuestState::default();
        assert!(
            !unknown.is_known(GuestField::Controls) && !unknown.is_known(GuestField::SvmControls)
        );
    }

    #[test]
    fn unrestricted_guest_needs_both_controls() {
        let mut c = VmxControls::default();
        assert_eq!(c.unrestricted_guest(), None);
        c.cpu_based = Some(0);
        assert_eq!(c.unrestricted_guest(), Some(false));
        c.cpu_based = Some(VmxControls::CPU_BASED_SECONDARY);
        assert_eq!(c.unrestricted_guest(), None);
        c.secondary = Some(0x80);
        assert_eq!(c.unrestricted_guest(), Some(true));
    }
}
