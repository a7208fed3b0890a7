//! Intel VM entry: the checks on the guest-state area beyond the segment registers
//! (SDM Vol. 3C §27.3.1, "Checks on the Guest State Area"; §26.3.1 in 2013–2021
//! editions): control registers, debug registers and MSRs (§27.3.1.1), GDTR/IDTR
//! (§27.3.1.3), RIP and RFLAGS (§27.3.1.4), non-register state (§27.3.1.5) and the
//! PDPTEs (§27.3.1.6), with the checks that involve the VM-entry
//! interruption-information field.
//!
//! They read a [`GuestState`]: a dump shows some fields and not others, so every rule
//! first asks for the fields it needs and, when one is missing, is reported "not
//! judged" ([`GuestFindings::not_judged`]), never guessed. The rules that depend on a
//! VM-entry or VM-execution control read it from [`GuestControls`], which takes each
//! control from the dump when it shows it and otherwise from what KVM sets, naming
//! every control it assumed.
//!
//! Not judged because no dialect segstate reads prints the field: the VMCS link
//! pointer, IA32_SYSENTER_ESP/EIP, IA32_PERF_GLOBAL_CTRL, IA32_BNDCFGS, the RTIT, CET
//! and PKRS state.

use alloc::vec::Vec;

use super::{CheckId, GuestFindings, Run};
use crate::arch::{
    CR0_NE, CR0_PE, CR0_PG, CR4_PAE, CR4_VMXE, EFER_LMA, EFER_LME, GuestField, GuestState,
    PrivilegeLevel, RFLAGS_IF, RFLAGS_TF, SegReg, VmxControls,
};

/// CR4 bits no processor sets in IA32_VMX_CR4_FIXED1: 15, 31:29 and 63:33 (bit 32 is
/// FRED).
pub const CR4_RESERVED: u64 = 1 << 15 | 0xe000_0000 | !0x1_ffff_ffff;
/// CR3 bits above the architectural MAXPHYADDR of 52, less bits 62:61 (LAM_U57 and
/// LAM_U48, which CPUs with LAM accept): the bits every processor refuses.
pub const CR3_ABOVE_MAXPHYADDR: u64 = 1 << 63 | 0x1ff << 52;
/// IA32_DEBUGCTL bits reserved on every processor: 5:2 and 63:16.
pub const DEBUGCTL_RESERVED: u64 = 0x3c | !0xffff;
/// IA32_EFER bits defined on Intel processors: SCE, LME, LMA, NXE.
pub const EFER_INTEL_DEFINED: u64 = 1 | EFER_LME | EFER_LMA | 1 << 11;
/// IA32_DEBUGCTL.BTF.
const DEBUGCTL_BTF: u64 = 1 << 1;
/// Interruptibility state: blocking by STI, MOV SS, SMI, NMI (SDM Table 25-3).
const BLOCK_STI: u32 = 1 << 0;
const BLOCK_MOV_SS: u32 = 1 << 1;
const BLOCK_SMI: u32 = 1 << 2;
const BLOCK_NMI: u32 = 1 << 3;
/// Interruptibility-state bits 31:5, reserved (bit 4 is enclave interruption).
const INTERRUPTIBILITY_RESERVED: u32 = !0x1f;
/// Pending debug exceptions: reserved bits 11:4, 13, 15 and 63:17.
pub const PENDING_DEBUG_RESERVED: u64 = 0xff0 | 1 << 13 | 1 << 15 | !0x1_ffff;
/// IA32_BNDCFGS bits 11:2, reserved (SDM Vol. 1 §17.3.3: EN is bit 0, BNDPRESERVE bit 1).
const BNDCFGS_RESERVED: u64 = 0xffc;
/// Pending debug exceptions: BS (single step).
const PENDING_DEBUG_BS: u64 = 1 << 14;
/// PDPTE bits reserved when present (SDM Vol. 3A §5.4.1): 2:1, 8:5 and those above
/// the architectural MAXPHYADDR of 52.
pub const PDPTE_RESERVED: u64 = 0x1e6 | !((1 << 52) - 1);

/// Every rule of this module: they read fields a [`crate::arch::SegmentState`] does
/// not hold, so tools that judge segment states alone (the Bochs oracle) cannot reach
/// them.
pub const RULES: &[CheckId] = &[
    CheckId::VmxEntryCr0High,
    CheckId::VmxEntryCr0Ne,
    CheckId::VmxEntryCr4Reserved,
    CheckId::VmxEntryCr4Vmxe,
    CheckId::VmxEntryCr3Width,
    CheckId::VmxEntryDebugctlReserved,
    CheckId::VmxEntryDr7High,
    CheckId::VmxEntryPat,
    CheckId::VmxEntrySysenterCanonical,
    CheckId::VmxEntryBndcfgs,
    CheckId::VmxEntryEferReserved,
    CheckId::VmxEntryDtrBase,
    CheckId::VmxEntryDtrLimit,
    CheckId::VmxEntryRipHigh,
    CheckId::VmxEntryRipCanonical,
    CheckId::VmxEntryRflagsIf,
    CheckId::VmxEntryActivityRange,
    CheckId::VmxEntryActivityHltDpl,
    CheckId::VmxEntryActivityBlocking,
    CheckId::VmxEntryActivityEvent,
    CheckId::VmxEntryIntrReserved,
    CheckId::VmxEntryIntrStiMovSs,
    CheckId::VmxEntryIntrStiIf,
    CheckId::VmxEntryIntrExternal,
    CheckId::VmxEntryIntrNmiMovSs,
    CheckId::VmxEntryIntrSmi,
    CheckId::VmxEntryIntrVirtualNmi,
    CheckId::VmxEntryPendingDebugReserved,
    CheckId::VmxEntryPendingDebugBs,
    CheckId::VmxEntryPdpteReserved,
    CheckId::VmxControlEntryErrorCode,
];

/// The rules among [`RULES`] that are VM-entry control checks (SDM Vol. 3C §27.2.1):
/// the processor makes them before any guest-state check, and a failure is
/// VM-instruction error 7, not exit reason 33.
pub const CONTROL_RULES: [CheckId; 1] = [CheckId::VmxControlEntryErrorCode];

/// Activity states (SDM Vol. 3C §25.4.2).
const ACTIVE: u32 = 0;
const HLT: u32 = 1;
const SHUTDOWN: u32 = 2;
const WAIT_FOR_SIPI: u32 = 3;

/// A valid VM-entry interruption-information field, decoded (SDM Vol. 3C §25.8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectedEvent {
    /// Bits 7:0.
    pub vector: u8,
    /// Bits 10:8: 0 external interrupt, 2 NMI, 3 hardware exception, 4 software
    /// interrupt, 5 privileged software exception, 6 software exception, 7 other.
    pub kind: u8,
}

impl InjectedEvent {
    /// The event a VM-entry interruption-information field injects, if its valid bit
    /// (31) is set.
    #[must_use]
    pub const fn from_field(info: u32) -> Option<Self> {
        if info & 1 << 31 == 0 {
            return None;
        }
        Some(InjectedEvent {
            vector: (info & 0xff) as u8,
            kind: ((info >> 8) & 7) as u8,
        })
    }

    const fn external_interrupt(self) -> bool {
        self.kind == 0
    }

    const fn nmi(self) -> bool {
        self.kind == 2
    }
}

/// The controls the guest-state checks depend on (SDM Vol. 3C §25.6–25.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestControls {
    /// Secondary control "unrestricted guest" (bit 7): relaxes CR0.PE/PG.
    pub unrestricted_guest: bool,
    /// VM-entry control "IA-32e mode guest" (bit 9).
    pub ia32e_mode_guest: bool,
    /// VM-entry control "load debug controls" (bit 2): DR7 and IA32_DEBUGCTL.
    pub load_debug_controls: bool,
    /// VM-entry control "load IA32_PAT" (bit 14).
    pub load_pat: bool,
    /// VM-entry control "load IA32_EFER" (bit 15).
    pub load_efer: bool,
    /// VM-entry control "entry to SMM" (bit 10).
    pub entry_to_smm: bool,
    /// Pin-based control "virtual NMIs" (bit 5).
    pub virtual_nmis: bool,
    /// Secondary control "enable EPT" (bit 1): the PDPTEs come from the VMCS.
    pub ept: bool,
}

/// A control [`GuestControls::resolve`] took from KVM's defaults, for the report.
pub type Assumed = &'static str;

impl GuestControls {
    /// VM-entry control bits.
    const ENTRY_LOAD_DEBUG: u32 = 1 << 2;
    const ENTRY_SMM: u32 = 1 << 10;
    const ENTRY_LOAD_PAT: u32 = 1 << 14;
    const ENTRY_LOAD_BNDCFGS: u32 = 1 << 16;
    /// Pin-based "virtual NMIs".
    const PIN_VIRTUAL_NMIS: u32 = 1 << 5;
    /// Secondary "enable EPT".
    const SECONDARY_EPT: u32 = 1 << 1;

    /// What KVM's `vmx.c` sets up on a current CPU: unrestricted guest and EPT on
    /// (`enable_unrestricted_guest`, `enable_ept`), virtual NMIs (`enable_vnmi`),
    /// load debug controls always (`setup_vmcs_config`'s required entry controls),
    /// load IA32_PAT and IA32_EFER (`cpu_has_load_ia32_efer`), no entry to SMM (KVM
    /// emulates SMM), IA-32e mode guest = EFER.LMA (`vmx_set_efer`).
    #[must_use]
    pub const fn kvm_default(efer: u64) -> Self {
        GuestControls {
            unrestricted_guest: true,
            ia32e_mode_guest: efer & EFER_LMA != 0,
            load_debug_controls: true,
            load_pat: true,
            load_efer: true,
            entry_to_smm: false,
            virtual_nmis: true,
            ept: true,
        }
    }

    /// The controls a dump shows, each missing one from [`GuestControls::kvm_default`],
    /// and the names of those assumed. `efer` decides IA-32e mode guest when the
    /// VM-entry controls are not shown.
    #[must_use]
    pub fn resolve(c: &VmxControls, efer: u64) -> (Self, Vec<Assumed>) {
        let kvm = Self::kvm_default(efer);
        let mut assumed = Vec::new();
        let mut bit = |field: Option<u32>, mask: u32, default: bool, name: Assumed| match field {
            Some(v) => v & mask != 0,
            None => {
                assumed.push(name);
                default
            }
        };
        let entry = c.entry;
        let controls = GuestControls {
            unrestricted_guest: match c.unrestricted_guest() {
                Some(ug) => ug,
                None => bit(None, 0, kvm.unrestricted_guest, "unrestricted guest = 1"),
            },
            ia32e_mode_guest: bit(
                entry,
                VmxControls::ENTRY_IA32E_MODE_GUEST,
                kvm.ia32e_mode_guest,
                "IA-32e mode guest = EFER.LMA",
            ),
            load_debug_controls: bit(
                entry,
                Self::ENTRY_LOAD_DEBUG,
                kvm.load_debug_controls,
                "load debug controls = 1",
            ),
            load_pat: bit(
                entry,
                Self::ENTRY_LOAD_PAT,
                kvm.load_pat,
                "load IA32_PAT = 1",
            ),
            load_efer: bit(
                entry,
                VmxControls::ENTRY_LOAD_EFER,
                kvm.load_efer,
                "load IA32_EFER = 1",
            ),
            entry_to_smm: bit(entry, Self::ENTRY_SMM, kvm.entry_to_smm, "entry to SMM = 0"),
            virtual_nmis: bit(
                c.pin_based,
                Self::PIN_VIRTUAL_NMIS,
                kvm.virtual_nmis,
                "virtual NMIs = 1",
            ),
            ept: match (c.cpu_based, c.secondary) {
                (Some(cpu), _) if cpu & VmxControls::CPU_BASED_SECONDARY == 0 => false,
                (_, s) => bit(s, Self::SECONDARY_EPT, kvm.ept, "enable EPT = 1"),
            },
        };
        (controls, assumed)
    }
}

/// Which CR0/CR4 a state holds: the VMCS's own fields (a kernel dump of the VMCS), or
/// the guest's view (a QEMU dump, `kvm_sregs`), into which KVM folds the bits VMX
/// fixes (CR0.NE, CR4.VMXE, and CR0.PE/PG without unrestricted guest) only when it
/// writes the VMCS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrLevel {
    /// The VMCS guest-state fields.
    Vmcs,
    /// The guest's own view.
    GuestView,
}

/// The rules that read the activity state, the range check first.
const ACTIVITY: [CheckId; 4] = [
    CheckId::VmxEntryActivityRange,
    CheckId::VmxEntryActivityHltDpl,
    CheckId::VmxEntryActivityBlocking,
    CheckId::VmxEntryActivityEvent,
];

/// The rules that read the pending debug exceptions, the reserved-bits check first.
const PENDING_DEBUG: [CheckId; 2] = [
    CheckId::VmxEntryPendingDebugReserved,
    CheckId::VmxEntryPendingDebugBs,
];

impl Run<'_> {
    /// `value` when known; otherwise every rule of `ids` (the one that reads `field`
    /// first, then those that hang on it) is recorded as not judged for `field`.
    fn need_all<T>(&mut self, field: GuestField, value: Option<T>, ids: &[CheckId]) -> Option<T> {
        if value.is_none() {
            self.unjudged(field, ids);
        }
        value
    }
}

/// True when `addr` is canonical for 48-bit linear addresses (the narrowest width a
/// 64-bit processor has; a 57-bit one accepts more).
#[must_use]
pub const fn canonical48(addr: u64) -> bool {
    let top = (addr as i64) >> 47;
    top == 0 || top == -1
}

/// Every guest-state check beyond the segment registers on `g`, under `controls`,
/// with CR0/CR4 judged at `level`.
#[must_use]
pub fn check(g: &GuestState, controls: GuestControls, level: CrLevel) -> GuestFindings {
    let mut r = Run::new(g);
    control_registers(&mut r, level);
    msrs(&mut r, controls);
    descriptor_tables(&mut r);
    rip_rflags(&mut r, controls);
    activity(&mut r);
    interruptibility(&mut r, controls);
    pending_debug(&mut r);
    pdptes(&mut r, controls);
    entry_event(&mut r, controls);
    r.finish()
}

/// The VM-entry interruption-information field's deliver-error-code bit (bit 11).
const DELIVER_ERROR_CODE: u32 = 1 << 11;

/// The control check on the injected event's error code (SDM Vol. 3C §27.2.1.3):
/// a hardware exception in protected mode (CR0.PE of the guest-state field, or
/// unrestricted guest off) delivers an error code exactly when its vector has one (#DF,
/// #TS, #NP, #SS, #GP, #PF, #AC); any other event delivers none. A processor whose
/// IA32_VMX_BASIC[56] is 1 lets a hardware exception go either way, which no dump
/// shows; the finding says so.
fn entry_event(r: &mut Run<'_>, controls: GuestControls) {
    let id = CheckId::VmxControlEntryErrorCode;
    let g = r.g;
    let Some(info) = r.need(
        id,
        GuestField::EntryInterruptionInfo,
        g.entry_interruption_info,
    ) else {
        return;
    };
    let Some(e) = InjectedEvent::from_field(info) else {
        return;
    };
    let Some(cr0) = r.need(id, GuestField::Cr0, g.cr0) else {
        return;
    };
    let delivers = info & DELIVER_ERROR_CODE != 0;
    let protected = !controls.unrestricted_guest || cr0 & CR0_PE != 0;
    let (expected, fails) = if e.kind != 3 || !protected {
        ("0 (not a hardware exception in protected mode)", delivers)
    } else if matches!(e.vector, 8 | 10..=14 | 17) {
        (
            "1 for #DF, #TS, #NP, #SS, #GP, #PF or #AC in protected mode (unless \
             IA32_VMX_BASIC[56] = 1)",
            !delivers,
        )
    } else {
        (
            "0 for an exception without an error code (unless IA32_VMX_BASIC[56] = 1)",
            delivers,
        )
    };
    if fails {
        r.f.fail(
            id,
            None,
            "VM-entry interruption information bit 11 (deliver error code)",
            expected,
            format_args!(
                "{} (type {}, vector {})",
                u8::from(delivers),
                e.kind,
                e.vector
            ),
        );
    }
}

fn control_registers(r: &mut Run<'_>, level: CrLevel) {
    let g = r.g;
    r.need(CheckId::VmxEntryCr0Ne, GuestField::Cr0, g.cr0);
    r.need(CheckId::VmxEntryCr4Vmxe, GuestField::Cr4, g.cr4);
    r.reserved(
        CheckId::VmxEntryCr0High,
        GuestField::Cr0,
        g.cr0,
        !0xffff_ffff,
        "CR0",
        "bits 63:32 clear (IA32_VMX_CR0_FIXED1)",
    );
    // The bits VMX fixes to 1, on the VMCS's own CR0/CR4 only.
    for (id, name, value, bit) in [
        (CheckId::VmxEntryCr0Ne, "CR0.NE", g.cr0, CR0_NE),
        (CheckId::VmxEntryCr4Vmxe, "CR4.VMXE", g.cr4, CR4_VMXE),
    ] {
        if level == CrLevel::Vmcs && value.is_some_and(|v| v & bit == 0) {
            r.f.fail(id, None, name, "1 (IA32_VMX_CR0/CR4_FIXED0)", "0");
        }
    }
    r.reserved(
        CheckId::VmxEntryCr4Reserved,
        GuestField::Cr4,
        g.cr4,
        CR4_RESERVED,
        "CR4",
        "bits 15, 31:29 and 63:33 clear (IA32_VMX_CR4_FIXED1)",
    );
    r.reserved(
        CheckId::VmxEntryCr3Width,
        GuestField::Cr3,
        g.cr3,
        CR3_ABOVE_MAXPHYADDR,
        "CR3",
        "no bit above MAXPHYADDR (52 assumed, the architectural most)",
    );
}

fn msrs(r: &mut Run<'_>, controls: GuestControls) {
    if controls.load_debug_controls {
        let g = r.g;
        r.reserved(
            CheckId::VmxEntryDebugctlReserved,
            GuestField::DebugCtl,
            g.debugctl,
            DEBUGCTL_RESERVED,
            "IA32_DEBUGCTL",
            "reserved bits 5:2 and 63:16 clear (load debug controls)",
        );
        r.reserved(
            CheckId::VmxEntryDr7High,
            GuestField::Dr7,
            g.dr7,
            !0xffff_ffff,
            "DR7",
            "bits 63:32 clear (load debug controls)",
        );
    }
    if controls.load_pat {
        let expected = "every entry 0, 1, 4, 5, 6 or 7 (load IA32_PAT)";
        r.pat(CheckId::VmxEntryPat, "IA32_PAT", expected);
    }
    for (field, value, name) in [
        (
            GuestField::SysenterEsp,
            r.g.sysenter_esp,
            "IA32_SYSENTER_ESP",
        ),
        (
            GuestField::SysenterEip,
            r.g.sysenter_eip,
            "IA32_SYSENTER_EIP",
        ),
    ] {
        let id = CheckId::VmxEntrySysenterCanonical;
        if let Some(addr) = r.need(id, field, value) {
            if !canonical48(addr) {
                r.f.fail(
                    id,
                    None,
                    name,
                    "a canonical address",
                    format_args!("{addr:#018x}"),
                );
            }
        }
    }
    // `dump_vmcs` prints BndCfgS only when "load IA32_BNDCFGS" is 1, so a dump that
    // shows the field and no entry controls had the control on; with the control
    // unknown and no field, the rule is not judged.
    let load_bndcfgs =
        r.g.controls
            .entry
            .is_none_or(|e| e & GuestControls::ENTRY_LOAD_BNDCFGS != 0);
    let bndcfgs = if load_bndcfgs {
        r.need(CheckId::VmxEntryBndcfgs, GuestField::Bndcfgs, r.g.bndcfgs)
    } else {
        None
    };
    if let Some(b) = bndcfgs {
        if b & BNDCFGS_RESERVED != 0 || !canonical48(b & !0xfff) {
            r.f.fail(
                CheckId::VmxEntryBndcfgs,
                None,
                "IA32_BNDCFGS",
                "bits 11:2 clear and a canonical base in bits 63:12 (load IA32_BNDCFGS)",
                format_args!("{b:#018x}"),
            );
        }
    }
    if controls.load_efer {
        r.reserved(
            CheckId::VmxEntryEferReserved,
            GuestField::Efer,
            r.g.efer,
            !EFER_INTEL_DEFINED,
            "IA32_EFER",
            "only SCE, LME, LMA and NXE (load IA32_EFER)",
        );
    }
}

fn descriptor_tables(r: &mut Run<'_>) {
    for (name, field, table) in [
        ("GDTR", GuestField::Gdtr, r.g.gdtr),
        ("IDTR", GuestField::Idtr, r.g.idtr),
    ] {
        let ids = [CheckId::VmxEntryDtrBase, CheckId::VmxEntryDtrLimit];
        let Some(t) = r.need_all(field, table, &ids) else {
            continue;
        };
        if !canonical48(t.base) {
            r.f.fail(
                CheckId::VmxEntryDtrBase,
                None,
                if name == "GDTR" {
                    "GDTR.base"
                } else {
                    "IDTR.base"
                },
                "a canonical address",
                format_args!("{:#x}", t.base),
            );
        }
        if t.limit > 0xffff {
            r.f.fail(
                CheckId::VmxEntryDtrLimit,
                None,
                if name == "GDTR" {
                    "GDTR.limit"
                } else {
                    "IDTR.limit"
                },
                "at most 0xffff (bits 31:16 clear)",
                format_args!("{:#x}", t.limit),
            );
        }
    }
}

fn rip_rflags(r: &mut Run<'_>, controls: GuestControls) {
    let g = r.g;
    let cs = r.need(
        CheckId::VmxEntryRipHigh,
        GuestField::Segment(SegReg::Cs),
        g.segments[SegReg::Cs],
    );
    let rip = r.need(CheckId::VmxEntryRipHigh, GuestField::Rip, g.rip);
    if let (Some(cs), Some(rip)) = (cs, rip) {
        let bits64 = controls.ia32e_mode_guest && cs.attributes.l;
        if !bits64 && rip >> 32 != 0 {
            r.f.fail(
                CheckId::VmxEntryRipHigh,
                None,
                "RIP[63:32]",
                "0 outside 64-bit code (IA-32e mode guest with CS.L = 1)",
                format_args!("{rip:#x}"),
            );
        }
        if bits64 && !canonical48(rip) {
            r.f.fail(
                CheckId::VmxEntryRipCanonical,
                None,
                "RIP",
                "canonical in 64-bit code",
                format_args!("{rip:#x}"),
            );
        }
    } else {
        // The first field the rule lacks: CS (its L bit) when the dump shows RIP.
        let lacking = if cs.is_none() {
            GuestField::Segment(SegReg::Cs)
        } else {
            GuestField::Rip
        };
        r.unjudged(lacking, &[CheckId::VmxEntryRipCanonical]);
    }
    let event = g
        .entry_interruption_info
        .and_then(InjectedEvent::from_field);
    let info = r.need(
        CheckId::VmxEntryRflagsIf,
        GuestField::EntryInterruptionInfo,
        g.entry_interruption_info,
    );
    if info.is_some() && event.is_some_and(InjectedEvent::external_interrupt) {
        if let Some(rflags) = r.need(CheckId::VmxEntryRflagsIf, GuestField::Rflags, g.rflags) {
            if rflags & RFLAGS_IF == 0 {
                r.f.fail(
                    CheckId::VmxEntryRflagsIf,
                    None,
                    "RFLAGS.IF",
                    "1 when injecting an external interrupt",
                    "0",
                );
            }
        }
    }
}

fn activity(r: &mut Run<'_>) {
    let g = r.g;
    let Some(state) = r.need_all(GuestField::ActivityState, g.activity_state, &ACTIVITY) else {
        return;
    };
    if state > WAIT_FOR_SIPI {
        r.f.fail(
            CheckId::VmxEntryActivityRange,
            None,
            "activity state",
            "0 (active), 1 (HLT), 2 (shutdown) or 3 (wait-for-SIPI)",
            state,
        );
        return;
    }
    if state == HLT {
        if let Some(ss) = r.need(
            CheckId::VmxEntryActivityHltDpl,
            GuestField::Segment(SegReg::Ss),
            g.segments[SegReg::Ss],
        ) {
            if ss.attributes.dpl != PrivilegeLevel::Ring0 {
                r.f.fail(
                    CheckId::VmxEntryActivityHltDpl,
                    Some(SegReg::Ss),
                    "DPL",
                    "0 in the HLT activity state",
                    format_args!("{}", ss.attributes.dpl),
                );
            }
        }
    }
    if state != ACTIVE {
        if let Some(i) = r.need(
            CheckId::VmxEntryActivityBlocking,
            GuestField::Interruptibility,
            g.interruptibility,
        ) {
            if i & (BLOCK_STI | BLOCK_MOV_SS) != 0 {
                r.f.fail(
                    CheckId::VmxEntryActivityBlocking,
                    None,
                    "activity state",
                    "active (0) with blocking by STI or MOV SS",
                    state,
                );
            }
        }
        if let Some(info) = r.need(
            CheckId::VmxEntryActivityEvent,
            GuestField::EntryInterruptionInfo,
            g.entry_interruption_info,
        ) {
            if let Some(e) = InjectedEvent::from_field(info) {
                // HLT wakes for an external interrupt, an NMI, #DB, #MC or a pending
                // MTF; shutdown only for an NMI or #MC; wait-for-SIPI for none.
                let machine_check = e.kind == 3 && e.vector == 18;
                let allowed = match state {
                    HLT => {
                        e.external_interrupt()
                            || e.nmi()
                            || (e.kind == 3 && e.vector == 1)
                            || machine_check
                            || (e.kind == 7 && e.vector == 0)
                    }
                    SHUTDOWN => e.nmi() || machine_check,
                    _ => false,
                };
                if !allowed {
                    r.f.fail(
                        CheckId::VmxEntryActivityEvent,
                        None,
                        "VM-entry interruption information",
                        "an event the activity state can take (HLT: interrupt, NMI, #DB, \
                         #MC, MTF; shutdown: NMI, #MC; wait-for-SIPI: none)",
                        format_args!(
                            "type {} vector {} in activity state {state}",
                            e.kind, e.vector
                        ),
                    );
                }
            }
        }
    }
}

/// The injected event, `Some(None)` when the field shows none; `None` (and `id` not
/// judged) when the dump lacks the field.
fn injected(r: &mut Run<'_>, id: CheckId) -> Option<Option<InjectedEvent>> {
    let info = r.g.entry_interruption_info;
    r.need(id, GuestField::EntryInterruptionInfo, info)
        .map(InjectedEvent::from_field)
}

fn interruptibility(r: &mut Run<'_>, controls: GuestControls) {
    use CheckId as C;
    let g = r.g;
    let Some(i) = r.need_all(
        GuestField::Interruptibility,
        g.interruptibility,
        &[
            C::VmxEntryIntrReserved,
            C::VmxEntryIntrStiMovSs,
            C::VmxEntryIntrStiIf,
            C::VmxEntryIntrExternal,
            C::VmxEntryIntrNmiMovSs,
            C::VmxEntryIntrSmi,
            C::VmxEntryIntrVirtualNmi,
        ],
    ) else {
        return;
    };
    let (sti, mov_ss) = (i & BLOCK_STI != 0, i & BLOCK_MOV_SS != 0);
    let sti_if_clear = if sti {
        r.need(C::VmxEntryIntrStiIf, GuestField::Rflags, g.rflags)
            .map(|f| f & RFLAGS_IF == 0)
    } else {
        Some(false)
    };
    let nmi = |e: Option<InjectedEvent>| e.is_some_and(InjectedEvent::nmi);
    // (rule, whether it fails — None when a field it needs is missing, what it wants)
    let rules = [
        (
            C::VmxEntryIntrReserved,
            Some(i & INTERRUPTIBILITY_RESERVED != 0),
            "bits 31:5 clear",
        ),
        (
            C::VmxEntryIntrStiMovSs,
            Some(sti && mov_ss),
            "not blocking by STI and by MOV SS at once",
        ),
        (
            C::VmxEntryIntrStiIf,
            sti_if_clear,
            "no blocking by STI while RFLAGS.IF = 0",
        ),
        (
            C::VmxEntryIntrSmi,
            Some(i & BLOCK_SMI != 0 && !controls.entry_to_smm),
            "no blocking by SMI outside SMM",
        ),
        (
            C::VmxEntryIntrExternal,
            injected(r, C::VmxEntryIntrExternal)
                .map(|e| e.is_some_and(InjectedEvent::external_interrupt) && (sti || mov_ss)),
            "no blocking by STI or MOV SS when injecting an external interrupt",
        ),
        (
            C::VmxEntryIntrNmiMovSs,
            injected(r, C::VmxEntryIntrNmiMovSs).map(|e| nmi(e) && mov_ss),
            "no blocking by MOV SS when injecting an NMI",
        ),
        (
            C::VmxEntryIntrVirtualNmi,
            injected(r, C::VmxEntryIntrVirtualNmi)
                .map(|e| nmi(e) && controls.virtual_nmis && i & BLOCK_NMI != 0),
            "no blocking by NMI when injecting an NMI with virtual NMIs",
        ),
    ];
    for (id, fails, expected) in rules {
        if fails == Some(true) {
            r.f.fail(
                id,
                None,
                "interruptibility state",
                expected,
                format_args!("{i:#x}"),
            );
        }
    }
}

fn pending_debug(r: &mut Run<'_>) {
    let g = r.g;
    let field = GuestField::PendingDebugExceptions;
    let Some(pde) = r.need_all(field, g.pending_debug_exceptions, &PENDING_DEBUG) else {
        return;
    };
    if pde & PENDING_DEBUG_RESERVED != 0 {
        r.f.fail(
            CheckId::VmxEntryPendingDebugReserved,
            None,
            "pending debug exceptions",
            "bits 11:4, 13, 15 and 63:17 clear",
            format_args!("{pde:#x}"),
        );
    }
    // BS must agree with single-stepping when STI/MOV SS blocking or HLT defers it.
    let id = CheckId::VmxEntryPendingDebugBs;
    let Some(i) = r.need(id, GuestField::Interruptibility, g.interruptibility) else {
        return;
    };
    let Some(activity) = r.need(id, GuestField::ActivityState, g.activity_state) else {
        return;
    };
    if i & (BLOCK_STI | BLOCK_MOV_SS) == 0 && activity != HLT {
        return;
    }
    let (Some(rflags), Some(debugctl)) = (
        r.need(id, GuestField::Rflags, g.rflags),
        r.need(id, GuestField::DebugCtl, g.debugctl),
    ) else {
        return;
    };
    let stepping = rflags & RFLAGS_TF != 0 && debugctl & DEBUGCTL_BTF == 0;
    let bs = pde & PENDING_DEBUG_BS != 0;
    if bs != stepping {
        r.f.fail(
            id,
            None,
            "pending debug exceptions.BS",
            format_args!(
                "{} (RFLAGS.TF = {}, IA32_DEBUGCTL.BTF = {}, with blocking or HLT)",
                u8::from(stepping),
                u8::from(rflags & RFLAGS_TF != 0),
                u8::from(debugctl & DEBUGCTL_BTF != 0)
            ),
            u8::from(bs),
        );
    }
}

fn pdptes(r: &mut Run<'_>, controls: GuestControls) {
    let g = r.g;
    let id = CheckId::VmxEntryPdpteReserved;
    let (Some(cr0), Some(cr4)) = (
        r.need(id, GuestField::Cr0, g.cr0),
        r.need(id, GuestField::Cr4, g.cr4),
    ) else {
        return;
    };
    let pae_paging = cr0 & CR0_PG != 0 && cr0 & CR0_PE != 0 && cr4 & CR4_PAE != 0;
    if !(pae_paging && !controls.ia32e_mode_guest && controls.ept) {
        return;
    }
    let Some(pdptes) = r.need(id, GuestField::Pdptes, g.pdptes) else {
        return;
    };
    for (n, p) in pdptes.iter().enumerate() {
        if p & 1 != 0 && p & PDPTE_RESERVED != 0 {
            r.f.fail(
                id,
                None,
                match n {
                    0 => "PDPTE0",
                    1 => "PDPTE1",
                    2 => "PDPTE2",
                    _ => "PDPTE3",
                },
                "reserved bits 2:1, 8:5 and 63:52 clear (PAE paging with EPT)",
                format_args!("{p:#x}"),
            );
        }
    }
}
