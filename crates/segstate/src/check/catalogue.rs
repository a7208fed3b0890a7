//! The check catalogue: every rule `check` (and verify's path analysis, and the dump
//! readers) can report, in one table — its stable id, the family it belongs to, its
//! severity and its SDM/APM or upstream reference. A finding names its rule by
//! [`CheckId`]; its severity and reference come from this table, never from the place
//! that emits it (path findings alone take their severity from the chain's tier and
//! their reference from the profile rule responsible, see `verify::paths`).
//!
//! ```
//! use segstate::check::{CheckId, Family, Severity};
//!
//! let rule: CheckId = "vmx.entry.cs.dpl-nonconforming".parse()?;
//! assert_eq!(rule, CheckId::VmxEntryCsDplNonconforming);
//! assert_eq!(rule.family(), Family::Vmx);
//! assert_eq!(rule.severity(), Severity::Error);
//! assert!(rule.reference().starts_with("SDM"));
//! assert!(CheckId::of(Family::Svm).count() > 0);
//! # Ok::<(), segstate::check::UnknownCheck>(())
//! ```

use core::fmt;
use core::str::FromStr;

use super::Severity;
use crate::table::table_enum;

/// The rule family a check belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Family {
    /// Architectural invariants.
    Arch,
    /// Intel VM entry.
    Vmx,
    /// What KVM_SET_SREGS refuses with EINVAL before any VM entry.
    KvmSetSregs,
    /// AMD VMRUN.
    Svm,
    /// Built-in chains (KVM and VMM cooking).
    Path,
    /// What a QEMU dump shows about QEMU's own state.
    Qemu,
}

impl Family {
    /// Short name: the first part of every id of the family.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Family::Arch => "arch",
            Family::Vmx => "vmx",
            Family::KvmSetSregs => "kvm",
            Family::Svm => "svm",
            Family::Path => "path",
            Family::Qemu => "qemu",
        }
    }
}

display_by_name!(Family);

table_enum! {
    /// A rule of the check catalogue, by its stable id (e.g. `vmx.entry.cs.type`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    #[non_exhaustive]
    pub enum CheckId;
    /// Every rule, in catalogue order.
    ALL;
    columns {
        /// The stable id, e.g. `vmx.entry.cs.type`.
        id: &'static str,
        /// The family.
        family: Family,
        /// How bad a finding of this rule is.
        severity: Severity,
        /// The SDM/APM section or upstream source the rule comes from.
        reference: &'static str,
    }
    /// CR0.PG: expected 0 while CR0.PE = 0 (paging needs protected mode).
    ArchCr0PgPe = "arch.cr0.pg-pe", Arch, Error, "SDM Vol. 3A §2.5 (CR0.PG), APM Vol. 2 §3.1.1";
    /// EFER.LMA must equal EFER.LME && CR0.PG (IA-32e mode is active exactly when enabled and paging is on).
    ArchEferLma = "arch.efer.lma", Arch, Error, "SDM Vol. 3A §10.8.5 (§9.8.5 in older editions), APM Vol. 2 §14.6.1";
    /// CR4.PAE: expected 1 in IA-32e mode.
    ArchLongModePae = "arch.long-mode.pae", Arch, Error, "SDM Vol. 3A §10.8.5 (§9.8.5 in older editions), APM Vol. 2 §14.6.1";
    /// Type: expected a present code segment.
    ArchCsCode = "arch.cs.code", Arch, Error, "SDM Vol. 3A §5.5-5.8, APM Vol. 2 §4.9-4.11";
    /// CS.DPL must equal the CPL (or be at most the CPL for a conforming CS).
    ArchCsDplCpl = "arch.cs.dpl-cpl", Arch, Error, "SDM Vol. 3A §5.5-5.8, APM Vol. 2 §4.9-4.11";
    /// CS's selector RPL should equal the CPL.
    ArchCsRplCpl = "arch.cs.rpl-cpl", Arch, Warning, "SDM Vol. 3A §5.5-5.8, APM Vol. 2 §4.9-4.11";
    /// L, D: expected not both set (reserved in IA-32e mode).
    ArchCsLD = "arch.cs.l-d", Arch, Error, "SDM Vol. 3A §5.2.1 / APM Vol. 2 §4.8.1";
    /// Type: expected writable data.
    ArchSsWritable = "arch.ss.writable", Arch, Error, "SDM Vol. 3A §5.5-5.8, APM Vol. 2 §4.9-4.11";
    /// A usable SS has DPL = CPL (SS.DPL is always the CPL).
    ArchSsDplCpl = "arch.ss.dpl-cpl", Arch, Error, "SDM Vol. 3C §24.4.1: SS.DPL is always the CPL";
    /// An unusable SS left by AMD's SYSRET keeps a stale DPL: KVM's UAPI must still carry the CPL there.
    ArchSsDplCplUnusable = "arch.ss.dpl-cpl-unusable", Arch, Warning, "APM Vol. 2 SYSRET; Linux X86_BUG_SYSRET_SS_ATTRS";
    /// Unusable: expected a usable SS outside IA-32e mode.
    ArchSsNull = "arch.ss.null", Arch, Error, "SDM Vol. 3A §5.5-5.8, APM Vol. 2 §4.9-4.11";
    /// Unusable: expected a usable SS at CPL 3.
    ArchSsNullCpl3 = "arch.ss.null-cpl3", Arch, Warning, "APM Vol. 2 SYSRET; Linux X86_BUG_SYSRET_SS_ATTRS";
    /// SS's selector RPL should equal the CPL.
    ArchSsRplCpl = "arch.ss.rpl-cpl", Arch, Warning, "SDM Vol. 3A §5.5-5.8, APM Vol. 2 §4.9-4.11";
    /// Type: expected readable data or code.
    ArchDataReadable = "arch.data.readable", Arch, Error, "SDM Vol. 3A §5.5-5.8, APM Vol. 2 §4.9-4.11";
    /// Selector: a null selector loads an unusable segment in protected mode; a usable one
    /// with base 0 is what a real-mode load of selector 0 leaves after CR0.PE is set, and
    /// is not reported.
    ArchDataNullUsable = "arch.data.null-usable", Arch, Warning, "SDM Vol. 3A §5.5-5.8, APM Vol. 2 §4.9-4.11";
    /// A usable data segment should have DPL >= its selector's RPL (not conforming code).
    ArchDataDplRpl = "arch.data.dpl-rpl", Arch, Warning, "SDM Vol. 3A §5.5-5.8, APM Vol. 2 §4.9-4.11";
    /// TR must hold a busy TSS (3 or 11; 11 in IA-32e mode).
    ArchTrType = "arch.tr.type", Arch, Error, "SDM Vol. 3A §8.2.4";
    /// TR holds an available TSS (1 or 9): QEMU TCG and AMD VMCBs leave it so; Intel VM entry refuses it.
    ArchTrAvailable = "arch.tr.available", Arch, Warning, "SDM Vol. 3A §8.2.4; QEMU TCG ltr; AMD VMCB (KVM's svm_get_segment reports busy)";
    /// Type: expected an LDT (2).
    ArchLdtrType = "arch.ldtr.type", Arch, Error, "SDM Vol. 3A §3.5.1";
    /// A byte-granular limit must be expressible under its G bit (G = 1 needs the low 12 bits set; G = 0 at most 20 bits).
    ArchLimitG = "arch.limit-g", Arch, Error, "SDM Vol. 3A §3.4.5";
    /// Outside 64-bit mode RIP (EIP) must not lie beyond CS's limit: the next instruction fetch faults (#GP(0)).
    ArchRipCsLimit = "arch.rip.cs-limit", Arch, Warning, "SDM Vol. 3A §5.3 (Limit Checking)";
    /// Without unrestricted guest, CR0.PE and CR0.PG must both be 1 (IA32_VMX_CR0_FIXED0).
    VmxEntryCr0Fixed = "vmx.entry.cr0.fixed", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// CR0.PE: expected 1 when CR0.PG = 1.
    VmxEntryCr0PgPe = "vmx.entry.cr0.pg-pe", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// CR0.PG, CR4.PAE: expected both 1 (IA-32e mode guest).
    VmxEntryIa32ePgPae = "vmx.entry.ia32e.pg-pae", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// CR4.PCIDE: expected 0 outside IA-32e mode.
    VmxEntryCr4Pcide = "vmx.entry.cr4.pcide", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// With "load IA32_EFER", EFER.LMA and EFER.LME must equal the "IA-32e mode guest" control (LME only when CR0.PG = 1).
    VmxEntryEferLmeLma = "vmx.entry.efer.lme-lma", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// With "load IA32_EFER", EFER.LMA must equal the "IA-32e mode guest" control.
    VmxEntryEferLmaIa32e = "vmx.entry.efer.lma-ia32e", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// RFLAGS: expected bits 63:22, 15, 5, 3 clear and bit 1 set.
    VmxEntryRflagsReserved = "vmx.entry.rflags.reserved", Vmx, Error, "SDM Vol. 3C §27.3.1.4";
    /// RFLAGS.VM: expected 0 in an IA-32e mode guest or with CR0.PE = 0.
    VmxEntryRflagsVm = "vmx.entry.rflags.vm", Vmx, Error, "SDM Vol. 3C §27.3.1.4";
    /// Selector TI: expected 0 (GDT).
    VmxEntryTrTi = "vmx.entry.tr.ti", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Selector TI: expected 0 (GDT).
    VmxEntryLdtrTi = "vmx.entry.ldtr.ti", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Without unrestricted guest, SS.RPL must equal CS.RPL.
    VmxEntrySsRpl = "vmx.entry.ss.rpl", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Base: expected a canonical address.
    VmxEntryBaseCanonical = "vmx.entry.base.canonical", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Basebits 63:32: expected 0.
    VmxEntryBaseHigh = "vmx.entry.base.high", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// In virtual-8086 mode each base must be the selector times 16.
    VmxEntryV8086Base = "vmx.entry.v8086.base", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Limit: expected 0xffff.
    VmxEntryV8086Limit = "vmx.entry.v8086.limit", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Access rights: expected 0xf3.
    VmxEntryV8086Ar = "vmx.entry.v8086.ar", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// CS must be an accessed code segment (9, 11, 13, 15), or 3 with unrestricted guest.
    VmxEntryCsType = "vmx.entry.cs.type", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Type: expected 3 or 7.
    VmxEntrySsType = "vmx.entry.ss.type", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Type: expected accessed (bit 0 set).
    VmxEntryDataAccessed = "vmx.entry.data.accessed", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Type: expected readable if code (bit 1 set).
    VmxEntryDataReadableCode = "vmx.entry.data.readable-code", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// S: expected 1.
    VmxEntryS = "vmx.entry.s", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// P: expected 1.
    VmxEntryP = "vmx.entry.p", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// G must agree with the limit: limit bits 11:0 all set if G = 1, bits 31:20 clear if G = 0.
    VmxEntryG = "vmx.entry.g", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// DPL: expected 0 (type 3).
    VmxEntryCsDplType3 = "vmx.entry.cs.dpl-type3", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// A non-conforming CS must have DPL = SS.DPL.
    VmxEntryCsDplNonconforming = "vmx.entry.cs.dpl-nonconforming", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// A conforming CS must have DPL <= SS.DPL.
    VmxEntryCsDplConforming = "vmx.entry.cs.dpl-conforming", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Without unrestricted guest, SS.DPL must equal SS.RPL.
    VmxEntrySsDplRpl = "vmx.entry.ss.dpl-rpl", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// DPL: expected 0 (CS type 3 or CR0.PE = 0).
    VmxEntrySsDplZero = "vmx.entry.ss.dpl-zero", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Without unrestricted guest, a usable non-conforming data segment must have DPL >= RPL.
    VmxEntryDataDplRpl = "vmx.entry.data.dpl-rpl", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// D/B: expected 0 (IA-32e mode guest with CS.L = 1).
    VmxEntryCsDb = "vmx.entry.cs.db", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// TR must be a busy TSS: 11, or 3 outside IA-32e mode.
    VmxEntryTrType = "vmx.entry.tr.type", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// S: expected 0.
    VmxEntryTrS = "vmx.entry.tr.s", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// P: expected 1.
    VmxEntryTrP = "vmx.entry.tr.p", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// TR's G must agree with its limit.
    VmxEntryTrG = "vmx.entry.tr.g", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Unusable: expected 0.
    VmxEntryTrUnusable = "vmx.entry.tr.unusable", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Type: expected 2.
    VmxEntryLdtrType = "vmx.entry.ldtr.type", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// S: expected 0.
    VmxEntryLdtrS = "vmx.entry.ldtr.s", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// P: expected 1.
    VmxEntryLdtrP = "vmx.entry.ldtr.p", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// LDTR's G must agree with its limit.
    VmxEntryLdtrG = "vmx.entry.ldtr.g", Vmx, Error, "SDM Vol. 3C §27.3.1.2";
    /// Claimed erratum, reported as information: an unusable SS whose type is not 3 or 7.
    /// The SDM checks SS's type only when SS is usable. Linux 33ab91103b34's message
    /// (CVE-2017-2583) says real CPUs check it anyway, but the state it fixed (a null SS
    /// of DPL 0 loaded at CPL 3) already fails `vmx.entry.cs.dpl-nonconforming`, and
    /// CPUs enter an unusable SS of type 0 (KVM's `vmx_segment_access_rights` before
    /// a44b331614e6, Linux 6.2) or 1 (since, with `vmx_set_segment`'s accessed fix-up;
    /// openvmm PR 3947 saw KVM's 0xc000 read back as 0xc001) whenever a VMM puts back
    /// the registers of a 64-bit guest in kernel context with SS null: the most common SS
    /// in real dumps, and those guests run.
    VmxEntryErratumSsTypeUnusable = "vmx.entry.erratum.ss-type-unusable", Vmx, Info, "Erratum to SDM Vol. 3C §27.3.1.2: Linux 33ab91103b34 (CVE-2017-2583) \"KVM: x86: fix emulation of 'MOV SS, null selector'\"";
    /// CR0 bits 63:32 must be 0 (IA32_VMX_CR0_FIXED1).
    VmxEntryCr0High = "vmx.entry.cr0.high", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// CR0.NE must be 1 in the VMCS (IA32_VMX_CR0_FIXED0); judged on a VMCS-level CR0 only.
    VmxEntryCr0Ne = "vmx.entry.cr0.ne", Vmx, Error, "SDM Vol. 3C §27.3.1.1; Appendix A.7";
    /// CR4 must not set a bit no processor allows in VMX operation (IA32_VMX_CR4_FIXED1).
    VmxEntryCr4Reserved = "vmx.entry.cr4.reserved", Vmx, Error, "SDM Vol. 3C §27.3.1.1; Appendix A.8";
    /// CR4.VMXE must be 1 in the VMCS (IA32_VMX_CR4_FIXED0); judged on a VMCS-level CR4 only.
    VmxEntryCr4Vmxe = "vmx.entry.cr4.vmxe", Vmx, Error, "SDM Vol. 3C §27.3.1.1; Appendix A.8";
    /// CR3 must have no bit set beyond the physical-address width.
    VmxEntryCr3Width = "vmx.entry.cr3.width", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// With "load debug controls", IA32_DEBUGCTL's reserved bits must be 0.
    VmxEntryDebugctlReserved = "vmx.entry.debugctl.reserved", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// With "load debug controls", DR7 bits 63:32 must be 0.
    VmxEntryDr7High = "vmx.entry.dr7.high", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// With "load IA32_PAT", every PAT entry must be a memory type (0, 1, 4, 5, 6, 7).
    VmxEntryPat = "vmx.entry.pat", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// IA32_SYSENTER_ESP and IA32_SYSENTER_EIP must each hold a canonical address.
    VmxEntrySysenterCanonical = "vmx.entry.sysenter.canonical", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// With "load IA32_BNDCFGS", bits 11:2 of IA32_BNDCFGS are clear and its base (bits
    /// 63:12) is canonical.
    VmxEntryBndcfgs = "vmx.entry.bndcfgs", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// With "load IA32_EFER", EFER's reserved bits must be 0.
    VmxEntryEferReserved = "vmx.entry.efer.reserved", Vmx, Error, "SDM Vol. 3C §27.3.1.1";
    /// GDTR and IDTR bases must be canonical.
    VmxEntryDtrBase = "vmx.entry.dtr.base", Vmx, Error, "SDM Vol. 3C §27.3.1.3";
    /// GDTR and IDTR limits must be at most 0xffff (bits 31:16 clear).
    VmxEntryDtrLimit = "vmx.entry.dtr.limit", Vmx, Error, "SDM Vol. 3C §27.3.1.3";
    /// RIP bits 63:32 must be 0 unless IA-32e mode guest and CS.L = 1.
    VmxEntryRipHigh = "vmx.entry.rip.high", Vmx, Error, "SDM Vol. 3C §27.3.1.4";
    /// In 64-bit code (IA-32e mode guest, CS.L = 1) RIP must be canonical.
    VmxEntryRipCanonical = "vmx.entry.rip.canonical", Vmx, Error, "SDM Vol. 3C §27.3.1.4";
    /// RFLAGS.IF must be 1 when an external interrupt is injected.
    VmxEntryRflagsIf = "vmx.entry.rflags.if", Vmx, Error, "SDM Vol. 3C §27.3.1.4";
    /// The activity state must be 0 (active), 1 (HLT), 2 (shutdown) or 3 (wait-for-SIPI).
    VmxEntryActivityRange = "vmx.entry.activity.range", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// The HLT activity state needs SS.DPL = 0.
    VmxEntryActivityHltDpl = "vmx.entry.activity.hlt-ss-dpl", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// Blocking by STI or MOV SS needs the active state.
    VmxEntryActivityBlocking = "vmx.entry.activity.blocking", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// An injected event must be one the activity state can take (shutdown: NMI or #MC; wait-for-SIPI: none).
    VmxEntryActivityEvent = "vmx.entry.activity.event", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// Interruptibility-state bits 31:5 must be 0.
    VmxEntryIntrReserved = "vmx.entry.intr.reserved", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// Blocking by STI and by MOV SS must not both be set.
    VmxEntryIntrStiMovSs = "vmx.entry.intr.sti-movss", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// Blocking by STI needs RFLAGS.IF = 1.
    VmxEntryIntrStiIf = "vmx.entry.intr.sti-if", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// Injecting an external interrupt needs no blocking by STI or MOV SS.
    VmxEntryIntrExternal = "vmx.entry.intr.external", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// Injecting an NMI needs no blocking by MOV SS.
    VmxEntryIntrNmiMovSs = "vmx.entry.intr.nmi-movss", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// Blocking by SMI only in SMM.
    VmxEntryIntrSmi = "vmx.entry.intr.smi", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// With virtual NMIs, injecting an NMI needs no blocking by NMI.
    VmxEntryIntrVirtualNmi = "vmx.entry.intr.virtual-nmi", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// Pending debug exceptions: bits 11:4, 13, 15 and 63:17 must be 0.
    VmxEntryPendingDebugReserved = "vmx.entry.pending-debug.reserved", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// With blocking by STI/MOV SS or in HLT, BS must be 1 exactly when RFLAGS.TF = 1 and DEBUGCTL.BTF = 0.
    VmxEntryPendingDebugBs = "vmx.entry.pending-debug.bs", Vmx, Error, "SDM Vol. 3C §27.3.1.5";
    /// With PAE paging outside IA-32e mode and EPT, a present PDPTE's reserved bits must be 0.
    VmxEntryPdpteReserved = "vmx.entry.pdpte.reserved", Vmx, Error, "SDM Vol. 3C §27.3.1.6";
    /// The injected event's deliver-error-code bit: 1 exactly for a #DF, #TS, #NP, #SS, #GP, #PF or #AC in protected mode (a VM-entry control field: VM-instruction error 7).
    VmxControlEntryErrorCode = "vmx.control.entry-intr.error-code", Vmx, Error, "SDM Vol. 3C §27.2.1.3";
    /// EFER.SVME: expected 1.
    SvmVmrunEferSvme = "svm.vmrun.efer-svme", Svm, Error, "APM Vol. 2 §15.5.1";
    /// EFER: expected reserved bits 7:1, 9 and 63:32 clear.
    SvmVmrunEferMbz = "svm.vmrun.efer-mbz", Svm, Error, "APM Vol. 2 §15.5.1";
    /// CR0.CD/NW: expected not CD=0 with NW=1.
    SvmVmrunCr0CdNw = "svm.vmrun.cr0-cd-nw", Svm, Error, "APM Vol. 2 §15.5.1";
    /// CR0bits 63:32: expected 0.
    SvmVmrunCr0High = "svm.vmrun.cr0-high", Svm, Error, "APM Vol. 2 §15.5.1";
    /// CR4bits 63:32: expected 0.
    SvmVmrunCr4High = "svm.vmrun.cr4-high", Svm, Error, "APM Vol. 2 §15.5.1";
    /// CR4.PAE: expected 1 with EFER.LME and CR0.PG.
    SvmVmrunLmePgPae = "svm.vmrun.lme-pg-pae", Svm, Error, "APM Vol. 2 §15.5.1";
    /// CR0.PE: expected 1 with EFER.LME and CR0.PG.
    SvmVmrunLmePgPe = "svm.vmrun.lme-pg-pe", Svm, Error, "APM Vol. 2 §15.5.1";
    /// L, D: expected not both set in long mode.
    SvmVmrunCsLD = "svm.vmrun.cs-l-d", Svm, Error, "APM Vol. 2 §15.5.1";
    /// A VMCB CPL byte above 3: VMRUN does not check it (so it never fails VMRUN), the CPU keeps the byte and KVM copies it on as stored.
    SvmVmrunCplByte = "svm.vmrun.cpl-byte", Svm, Warning, "APM Vol. 2 §15.5 (CPL field); KVM svm_get_cpl, nested_vmcb02_prepare_save";
    /// CR3: no bit above the physical-address width (MBZ).
    SvmVmrunCr3Mbz = "svm.vmrun.cr3-mbz", Svm, Error, "APM Vol. 2 §15.5.1";
    /// CR4: MBZ bits below 32 clear (VMXE, SMXE and the undefined ones).
    SvmVmrunCr4Mbz = "svm.vmrun.cr4-mbz", Svm, Error, "APM Vol. 2 §15.5.1";
    /// DR6 bits 63:32 must be 0.
    SvmVmrunDr6High = "svm.vmrun.dr6-high", Svm, Error, "APM Vol. 2 §15.5.1";
    /// DR7 bits 63:32 must be 0.
    SvmVmrunDr7High = "svm.vmrun.dr7-high", Svm, Error, "APM Vol. 2 §15.5.1";
    /// The VMRUN intercept bit must be set.
    SvmVmrunIntercept = "svm.vmrun.vmrun-intercept", Svm, Error, "APM Vol. 2 §15.5.1";
    /// The guest ASID must not be 0 (the host's).
    SvmVmrunAsid = "svm.vmrun.asid", Svm, Error, "APM Vol. 2 §15.5.1";
    /// The I/O permission map must end below the physical-address limit.
    SvmVmrunIopmBase = "svm.vmrun.iopm-base", Svm, Error, "APM Vol. 2 §15.5.1";
    /// The MSR permission map must end below the physical-address limit.
    SvmVmrunMsrpmBase = "svm.vmrun.msrpm-base", Svm, Error, "APM Vol. 2 §15.5.1";
    /// EVENTINJ must be legal: no reserved type, an NMI with vector 2, no exception vector 2 or above 31.
    SvmVmrunEventInj = "svm.vmrun.event-inj", Svm, Error, "APM Vol. 2 §15.5.1; §15.20";
    /// With nested paging, nCR3 has no bit above the physical-address width.
    SvmVmrunNcr3 = "svm.vmrun.ncr3", Svm, Error, "APM Vol. 2 §15.5.1; §15.25.4";
    /// With nested paging, every G_PAT entry must be a memory type.
    SvmVmrunGpat = "svm.vmrun.gpat", Svm, Error, "APM Vol. 2 §15.5.1; §15.25.8";
    /// With EFER.LME and CR0.PG, CR4.PAE must be 1.
    KvmSetSregsLongModePae = "kvm.set-sregs.long-mode.pae", KvmSetSregs, Error, "Linux arch/x86/kvm/x86.c kvm_is_valid_sregs";
    /// With EFER.LME and CR0.PG, EFER.LMA must be 1.
    KvmSetSregsLongModeLma = "kvm.set-sregs.long-mode.lma", KvmSetSregs, Error, "Linux arch/x86/kvm/x86.c kvm_is_valid_sregs";
    /// EFER.LMA must be 0 unless EFER.LME and CR0.PG.
    KvmSetSregsLma = "kvm.set-sregs.lma", KvmSetSregs, Error, "Linux arch/x86/kvm/x86.c kvm_is_valid_sregs";
    /// CS.L must be 0 outside IA-32e mode (EFER.LME and CR0.PG).
    KvmSetSregsCsL = "kvm.set-sregs.cs-l", KvmSetSregs, Error, "Linux arch/x86/kvm/x86.c kvm_is_valid_sregs";
    /// CR4 must not set a bit KVM reserves or whose CPUID feature the vCPU lacks.
    KvmSetSregsCr4Reserved = "kvm.set-sregs.cr4-reserved", KvmSetSregs, Error, "Linux arch/x86/kvm/x86.c kvm_is_valid_cr4; CR4_RESERVED_BITS, __cr4_reserved_bits";
    /// CR0 bits 63:32 must be 0.
    KvmSetSregsCr0High = "kvm.set-sregs.cr0-high", KvmSetSregs, Error, "Linux arch/x86/kvm/x86.c kvm_is_valid_cr0 (26a0652cb453, v6.5)";
    /// CR0.NW must be 0 when CR0.CD is 0.
    KvmSetSregsCr0NwCd = "kvm.set-sregs.cr0-nw-cd", KvmSetSregs, Error, "Linux arch/x86/kvm/x86.c kvm_is_valid_cr0 (26a0652cb453, v6.5)";
    /// CR0.PG needs CR0.PE.
    KvmSetSregsCr0PgPe = "kvm.set-sregs.cr0-pg-pe", KvmSetSregs, Error, "Linux arch/x86/kvm/x86.c kvm_is_valid_cr0 (26a0652cb453, v6.5)";
    /// The CPL QEMU printed must equal SS.DPL, which is what KVM_SET_SREGS takes the CPL from.
    QemuCplSsDpl = "qemu.cpl-ss-dpl", Qemu, Error, "QEMU x86_update_hflags / cpu_x86_load_seg_cache (7125c937c97d, 2.1)";
    /// The decoded suffix QEMU prints for a segment must match its flags.
    QemuSuffix = "qemu.suffix", Qemu, Warning, "QEMU target/i386/cpu-dump.c cpu_x86_dump_seg_cache";
    /// With CR0.PE set, a dump where no segment has its suffix: QEMU prints the suffixes only when its hflags have HF_PE_MASK, so its hflags were stale (the accelerator did not sync them), not the dump edited.
    QemuHflagsStale = "qemu.hflags-stale", Qemu, Warning, "QEMU target/i386/cpu-dump.c cpu_x86_dump_seg_cache (HF_PE_MASK); helper.c x86_update_hflags";
    /// A built-in chain lowers the CPL: privilege escalation.
    PathEscalation = "path.escalation", Path, Error, "segstate verify: built-in chains";
    /// A built-in chain changes the CPL.
    PathCplChanged = "path.cpl-changed", Path, Error, "segstate verify: built-in chains";
    /// A built-in chain changes attributes beyond its documented normalisation.
    PathAttributesChanged = "path.attributes-changed", Path, Warning, "segstate verify: built-in chains";
    /// VM entry refuses what a built-in chain makes of a valid state.
    PathVmxEntryRejected = "path.vmx-entry-rejected", Path, Error, "segstate verify: built-in chains";

}

impl CheckId {
    /// The rules of `family`, in catalogue order.
    pub fn of(family: Family) -> impl Iterator<Item = CheckId> {
        CheckId::ALL
            .iter()
            .copied()
            .filter(move |c| c.family() == family)
    }
}

display_by_name!(CheckId, id);

/// A check id is written as its stable id string.
#[cfg(feature = "serde")]
impl serde::Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// An id that is not in the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCheck(pub alloc::string::String);

impl fmt::Display for UnknownCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown check id `{}`", self.0.escape_debug())
    }
}

impl core::error::Error for UnknownCheck {}

impl FromStr for CheckId {
    type Err = UnknownCheck;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::table::find(CheckId::ALL, CheckId::id, s).ok_or_else(|| UnknownCheck(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_parse_back_and_start_with_their_family() {
        crate::table::assert_ids_unique_and_parse_back(CheckId::ALL, CheckId::id);
        for c in CheckId::ALL {
            assert!(c.id().starts_with(c.family().name()), "{c}");
            assert!(!c.reference().is_empty(), "{c}");
        }
    }
}
