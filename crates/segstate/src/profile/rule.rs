//! Named cooking rules: every place where an implementation changes a segment on its
//! way through, each with an id, a kind, what it does, what the code does without it,
//! and where it came from upstream.
//!
//! ```
//! use segstate::profile::{Rule, RuleKind};
//!
//! // The kernel half of the 2017 fix, by its id.
//! let rule: Rule = "svm.set.cpl-from-ss-dpl".parse()?;
//! assert_eq!(rule.kind(), RuleKind::CplCarrier);
//! assert!(!rule.upstream().is_empty());
//! # Ok::<(), segstate::profile::UnknownRule>(())
//! ```

use core::fmt;

use crate::table::table_enum;

/// What a rule is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleKind {
    /// How a format without an unusable bit spells "unusable" (P = 0). Part of the
    /// documented normalisation.
    Encoding,
    /// A deliberate fixup (cross-vendor aids, hardware quirks). Part of the documented
    /// normalisation: verify expects its effect.
    Fixup,
    /// How the CPL travels through SS.DPL. Without it the CPL is not carried.
    CplCarrier,
    /// Drops information. The bugs and the rejected designs: verify reports what they lose.
    Loss,
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleKind::Encoding => "encoding",
            RuleKind::Fixup => "fixup",
            RuleKind::CplCarrier => "cpl-carrier",
            RuleKind::Loss => "loss",
        })
    }
}

table_enum! {
    /// A cooking rule of one implementation that moves segments.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[repr(u8)]
    #[non_exhaustive]
    pub enum Rule;
    /// Every rule.
    ALL;
    columns {
        /// Stable id, e.g. `svm.get.g-from-limit`.
        id: &'static str,
        /// What the rule is for.
        kind: RuleKind,
        /// What the rule does, in one line.
        summary: &'static str,
        /// What the cooking code does when the rule is switched off.
        when_off: &'static str,
        /// The upstream commit or release that introduced (or removed) it.
        upstream: &'static str,
    }
    /// svm_get_segment: `var->g = s->limit > 0xfffff`.
    SvmGetGFromLimit = id: "svm.get.g-from-limit", kind: Fixup,
        summary: "G is synthesized from the limit (limit > 0xfffff): AMD does not track G for every segment and Intel's VM entry checks it",
        when_off: "G is read from attrib bit 11",
        upstream: "Linux ~3.16 (2014), \"AMD CPUs circa 2014 track the G bit for all segments except CS\"";
    /// svm_get_segment: `var->unusable = !var->present`.
    SvmGetUnusableFromP = id: "svm.get.unusable-from-p", kind: Encoding,
        summary: "unusable = !P: the VMCB has no unusable bit",
        when_off: "unusable is reported as 0 for every segment",
        upstream: "Linux 2.6.x";
    /// svm_get_segment before 4.12: `unusable = !present || type == 0`.
    SvmGetUnusableFromType0 = id: "svm.get.unusable-from-type0", kind: Loss,
        summary: "a present segment of type 0 is also reported unusable",
        when_off: "type 0 does not make a segment unusable",
        upstream: "Linux 2.6.x to 4.11; gone with d9c1b5431d5f (4.12)";
    /// svm_get_segment: TR `type |= 2`.
    SvmGetTrBusy = id: "svm.get.tr-busy", kind: Fixup,
        summary: "TR's type gets the busy bit (type |= 2): hardware may not expose it and Intel requires a busy TSS",
        when_off: "TR's type is reported as stored",
        upstream: "Linux 2.6.x (\"work around hardware that doesn't set the busy flag\")";
    /// svm_get_segment: DS/ES/FS/GS `type |= 1` when usable.
    SvmGetDataAccessed = id: "svm.get.data-accessed", kind: Fixup,
        summary: "usable DS/ES/FS/GS get the accessed bit (type |= 1): the descriptor cache always has A=1 and Intel checks it",
        when_off: "data segment types are reported as stored",
        upstream: "Linux ~3.x cross-vendor migration fixups";
    /// svm_get_segment: SS `db = 0` when unusable.
    SvmGetSsDbUnusable = id: "svm.get.ss-db-unusable", kind: Fixup,
        summary: "an unusable SS reports D/B=0: AMD can leave DB=1 there and Intel's VM entry rejects it",
        when_off: "SS.DB is reported as stored",
        upstream: "Linux ~3.x cross-vendor migration fixups";
    /// svm_get_segment: SS `dpl = vmcb->save.cpl`.
    SvmGetSsDplFromCpl = id: "svm.get.ss-dpl-from-cpl", kind: CplCarrier,
        summary: "SS.DPL is reported from VMCB.CPL, so the UAPI carries the CPL",
        when_off: "SS.DPL is read from attrib (stale after an AMD SYSRET)",
        upstream: "Linux ae9fedc793c4 (3.16, 2014) \"KVM: x86: get CPL from SS.DPL\"";
    /// svm_set_segment since 4.12: `P = (present & 1) && !unusable`.
    SvmSetPFromUnusable = id: "svm.set.p-from-unusable", kind: Encoding,
        summary: "every attribute is packed; P = present && !unusable is the only place unusable goes",
        when_off: "P = present & 1; unusable is ignored",
        upstream: "Linux d9c1b5431d5f (4.12, 2017) \"KVM: SVM: do not zero out segment attributes if segment is unusable or not present\"";
    /// svm_set_segment before 4.12: `if (var->unusable) s->attrib = 0`.
    SvmSetZeroUnusableAttrib = id: "svm.set.zero-unusable-attrib", kind: Loss,
        summary: "an unusable segment's attrib is zeroed, DPL included",
        when_off: "attributes are packed as for a usable segment",
        upstream: "Linux 2.6.x to 4.11; removed by d9c1b5431d5f (4.12)";
    /// svm_set_segment since 4.12: `save.cpl = var->dpl & 3` for SS.
    SvmSetCplFromSsDpl = id: "svm.set.cpl-from-ss-dpl", kind: CplCarrier,
        summary: "VMCB.CPL = SS.dpl & 3, symmetric with the get side",
        when_off: "VMCB.CPL is not written (a fresh VMCB holds 0)",
        upstream: "Linux d9c1b5431d5f (4.12, 2017)";
    /// svm_set_segment 3.16 to 4.11: `save.cpl = (s->attrib >> 5) & 3` for SS.
    SvmSetCplFromAttrib = id: "svm.set.cpl-from-attrib", kind: Loss,
        summary: "VMCB.CPL is taken from the freshly packed attrib's DPL: 0 for an unusable SS",
        when_off: "VMCB.CPL is not written (a fresh VMCB holds 0)",
        upstream: "Linux ae9fedc793c4 (3.16) to 4.11; replaced by d9c1b5431d5f";
    /// vmx_get_segment: `var->present = !var->unusable`.
    VmxGetPresentFromUnusable = id: "vmx.get.present-from-unusable", kind: Fixup,
        summary: "P is reported as !unusable; the AR P bit is never read (some userspace does not preserve unusable)",
        when_off: "P is read from AR bit 7",
        upstream: "Linux 25391454e73e (3.10, 2013) era";
    /// vmx_segment_access_rights: bit 16 = `unusable || !present`.
    VmxSetUnusableFromNotPresent = id: "vmx.set.unusable-from-not-present", kind: Encoding,
        summary: "AR bit 16 = unusable || !present: a not-present segment is unusable",
        when_off: "AR bit 16 = unusable",
        upstream: "Linux f0495f9b9992 (3.5, 2012) \"KVM: VMX: Relax check on unusable segment\"";
    /// __vmx_set_segment: `type |= 1` on every segment but LDTR under unrestricted guest.
    VmxSetAccessedUnrestricted = id: "vmx.set.accessed-unrestricted", kind: Fixup,
        summary: "with unrestricted guest, every segment but LDTR gets the accessed bit (a hack for old QEMU reset values)",
        when_off: "the type is written as given",
        upstream: "Linux 2.6.3x (unrestricted guest support); openvmm #3947 normalizes it on save";
    /// vmx_segment_access_rights before 6.2: `AR = 1 << 16` when unusable or not present.
    VmxSetZeroUnusableAr = id: "vmx.set.zero-unusable-ar", kind: Loss,
        summary: "an unusable or not-present segment's AR is 0x10000: every attribute, SS.DPL (the CPL) included, is lost",
        when_off: "attributes are packed for unusable segments too",
        upstream: "Linux to 6.1; removed by a44b331614e6 (6.2, 2022) \"KVM: x86/vmx: Do not skip segment attributes if unusable bit is set\"";
    /// QEMU set_seg: `lhs->unusable = !lhs->present`.
    QemuSetUnusableFromNotPresent = id: "qemu.set.unusable-from-not-present", kind: Encoding,
        summary: "set_seg sends unusable = !P: QEMU's cache has no unusable bit",
        when_off: "set_seg sends unusable = 0 (QEMU before 2.6)",
        upstream: "QEMU 4cae9c97967a (2.6, 2015) \"target-i386: kvm: clear unusable segments' flags in migration\"";
    /// QEMU get_seg since 2.10: `P = present && !unusable`.
    QemuGetPFromUnusable = id: "qemu.get.p-from-unusable", kind: Encoding,
        summary: "get_seg packs every field; P = present && !unusable",
        when_off: "P = present * DESC_P_MASK, unnormalised (present=2 sets bit 16 and clears P)",
        upstream: "QEMU d45fc087c266 (2.10, 2017) \"i386/kvm: do not zero out segment flags if segment is unusable or not present\"";
    /// QEMU get_seg 2.6 to 2.9: `if (rhs->unusable) flags = 0`.
    QemuGetZeroUnusableFlags = id: "qemu.get.zero-unusable-flags", kind: Loss,
        summary: "get_seg zeroes the flags of an unusable segment, SS.DPL (the CPL) included",
        when_off: "flags are packed for unusable segments too",
        upstream: "QEMU 4cae9c97967a (2.6) to 2.9; removed by d45fc087c266 (2.10)";
    /// The thread's first alternative: on unusable, keep the cache's previous flags, clear P.
    QemuGetKeepOldFlags = id: "qemu.get.keep-old-flags", kind: Loss,
        summary: "on unusable, get_seg keeps the cache's previous flags and clears only P: the old DPL survives, the new one is ignored",
        when_off: "flags are packed from KVM's fields",
        upstream: "proposed by Paolo Bonzini in the 2017 thread; not merged";
    /// The thread's second alternative: on unusable, clear P and DPL; SS takes DPL from KVM.
    QemuGetSegtype = id: "qemu.get.segtype", kind: Loss,
        summary: "on unusable, get_seg keeps the previous flags minus P and DPL, and SS takes its DPL from KVM",
        when_off: "flags are packed from KVM's fields",
        upstream: "proposed by Roman Penyaev in the 2017 thread; not merged";
    /// kvm_put_sregs with EFLAGS.VM: `set_v8086_seg` for CS, DS, ES, FS, GS, SS.
    QemuSetV8086Seg = id: "qemu.set.v8086-seg", kind: Fixup,
        summary: "in virtual-8086 mode, CS/DS/ES/FS/GS/SS go to KVM as type 3, P, DPL 3, S (so KVM gets CPL 3), other flags 0",
        when_off: "set_seg packs the cached flags as in protected mode",
        upstream: "QEMU target/i386/kvm/kvm.c set_v8086_seg / kvm_put_sregs @00001a22d183";
    /// cpu_pre_save: real mode with CS.DPL != 0 clears the DPLs.
    QemuPreSaveRealModeDplZero = id: "qemu.pre-save.real-mode-dpl-zero", kind: Fixup,
        summary: "before a migration stream is written, real mode (CR0.PE=0) with CS.DPL != 0 clears the DPL of CS/DS/ES/FS/GS/SS (old KVM set it; unrestricted-guest VM entry refuses it)",
        when_off: "the caches are written as they are",
        upstream: "QEMU target/i386/machine.c cpu_pre_save @00001a22d183";
    /// cpu_post_load: `hflags.CPL = SS.DPL`.
    QemuPostLoadCplFromSsDpl = id: "qemu.post-load.cpl-from-ss-dpl", kind: CplCarrier,
        summary: "after a migration stream is loaded, the CPL (hflags) is recomputed from SS.DPL (older QEMU used CS.DPL)",
        when_off: "the CPL in the stream's hflags stands",
        upstream: "QEMU target/i386/machine.c cpu_post_load @00001a22d183 (since 7125c937c97d, 2.1)";

    // ----- Xen HVM (xen-project/xen c447b7308b13) -----
    /// hvm_get_segment_register: `if ( !reg->p ) reg->db = 0` for SS.
    XenGetSsDbNotPresent = id: "xen.get.ss-db-not-present", kind: Fixup,
        summary: "a not-present SS reports D/B=0: SVM may keep DB when SS is loaded with a null selector",
        when_off: "SS.DB is reported as stored",
        upstream: "Xen xen/arch/x86/hvm/hvm.c hvm_get_segment_register @c447b7308b13";
    /// hvm_get_segment_register: `reg->type |= 0x2` for TR.
    XenGetTrBusy = id: "xen.get.tr-busy", kind: Fixup,
        summary: "TR's type gets the busy bit: SVM does not track TR.B and a loaded TSS is always busy",
        when_off: "TR's type is reported as stored",
        upstream: "Xen xen/arch/x86/hvm/hvm.c hvm_get_segment_register @c447b7308b13";
    /// hvm_get_segment_register: `reg->p = 1` for CS and TR.
    XenGetCsTrPresent = id: "xen.get.cs-tr-present", kind: Fixup,
        summary: "CS and TR report P=1: they are always present and SVM runs with the bit clear",
        when_off: "CS.P and TR.P are reported as stored",
        upstream: "Xen xen/arch/x86/hvm/hvm.c hvm_get_segment_register @c447b7308b13";
    /// hvm_get_segment_register: `reg->s = is_x86_user_segment(seg)` when present.
    XenGetSFromRegister = id: "xen.get.s-from-register", kind: Fixup,
        summary: "a present segment's S is recomputed from the register (1 for ES..GS, 0 for LDTR/TR): SVM ignores S",
        when_off: "S is reported as stored",
        upstream: "Xen xen/arch/x86/hvm/hvm.c hvm_get_segment_register @c447b7308b13";
    /// hvm_get_segment_register: `reg->g = !!(reg->limit >> 20)` when present.
    XenGetGFromLimit = id: "xen.get.g-from-limit", kind: Fixup,
        summary: "a present segment's G is recomputed from the limit: SVM discards CS.G on #VMEXIT",
        when_off: "G is reported as stored",
        upstream: "Xen xen/arch/x86/hvm/hvm.c hvm_get_segment_register @c447b7308b13 (after Linux 80112c89ed87)";
    /// hvm_get_segment_register: `reg->type |= 0x1` for present user segments.
    XenGetUserAccessed = id: "xen.get.user-accessed", kind: Fixup,
        summary: "present ES..GS get the accessed bit: SVM does not track it and the cache always has it",
        when_off: "the type is reported as stored",
        upstream: "Xen xen/arch/x86/hvm/hvm.c hvm_get_segment_register @c447b7308b13";
    /// hvm_set_segment_register: `if ( reg->p ) reg->g = !!(reg->limit >> 20)`.
    XenSetGFromLimit = id: "xen.set.g-from-limit", kind: Fixup,
        summary: "a present segment's G is set from the limit before the vendor hook: VT-x checks it",
        when_off: "G is written as given",
        upstream: "Xen xen/arch/x86/hvm/hvm.c hvm_set_segment_register @c447b7308b13";
    /// svm_get_segment_register: `reg->dpl = vmcb_get_cpl(vmcb)` for SS.
    XenSvmGetSsDplFromCpl = id: "xen.svm.get.ss-dpl-from-cpl", kind: CplCarrier,
        summary: "SS.DPL is reported from VMCB.CPL (low two bits), so segment_register carries the CPL",
        when_off: "SS.DPL is read from the VMCB attrib (stale after an AMD SYSRET)",
        upstream: "Xen xen/arch/x86/hvm/svm/svm.c svm_get_segment_register @c447b7308b13";
    /// svm_set_segment_register: `vmcb_set_cpl(vmcb, reg->dpl)` for SS.
    XenSvmSetCplFromSsDpl = id: "xen.svm.set.cpl-from-ss-dpl", kind: CplCarrier,
        summary: "VMCB.CPL = SS.DPL, symmetric with the get side",
        when_off: "VMCB.CPL is not written (a fresh VMCB holds 0)",
        upstream: "Xen xen/arch/x86/hvm/svm/svm.c svm_set_segment_register @c447b7308b13";
    /// vmx_get_segment_register: `attr = (!(ar & 1<<16) << 7) | (ar & 0x7f) | ((ar >> 4) & 0xf00)`.
    XenVmxGetPFromUnusable = id: "xen.vmx.get.p-from-unusable", kind: Encoding,
        summary: "P is reported as !unusable; the AR P bit is dropped (Xen's layout says unusable with P=0)",
        when_off: "P is read from AR bit 7 and unusable is dropped",
        upstream: "Xen xen/arch/x86/hvm/vmx/vmx.c vmx_get_segment_register @c447b7308b13";
    /// vmx_set_segment_register: `ar = (!(attr & 1<<7) << 16) | ((attr & 0xf00) << 4) | (attr & 0xff)`.
    XenVmxSetUnusableFromNotP = id: "xen.vmx.set.unusable-from-not-p", kind: Encoding,
        summary: "AR bit 16 (unusable) = !P",
        when_off: "AR bit 16 is never set",
        upstream: "Xen xen/arch/x86/hvm/vmx/vmx.c vmx_set_segment_register @c447b7308b13";
    /// hvm_load_cpu_ctxt: `UNFOLD_ARBYTES`.
    XenLoadUnfoldArbytes = id: "xen.load.unfold-arbytes", kind: Fixup,
        summary: "an arbytes value in the old VMX layout (bits 15:12 set, 11:8 clear) is folded to Xen's 12-bit layout",
        when_off: "arbytes are loaded as stored (an old record's AVL/L/DB/G land in reserved bits)",
        upstream: "Xen xen/arch/x86/hvm/hvm.c hvm_load_cpu_ctxt UNFOLD_ARBYTES @c447b7308b13";

    // ----- bhyve: FreeBSD (sys/amd64/vmm/amd/vmcb.c) and illumos (usr/src/uts/intel/io/vmm/amd/svm.c) -----
    /// vmcb_getdesc / svm_getdesc: `if ((access & 0x80) == 0) access |= 0x10000` for DS..GS, SS, LDTR.
    BhyveSvmGetUnusableFromP = id: "bhyve.svm.get.unusable-from-p", kind: Encoding,
        summary: "seg_desc.access bit 16 (unusable) = !P for DS, ES, FS, GS, SS and LDTR (not CS or TR)",
        when_off: "access bit 16 is never set",
        upstream: "FreeBSD vmcb.c vmcb_getdesc @be9a57eda106; illumos svm.c svm_getdesc @88f663c9ea41";
    /// vmcb_getdesc / svm_getdesc: `access = VMCB_ATTR2ACCESS(seg->attrib)` for SS too.
    BhyveSvmGetSsDplFromAttrib = id: "bhyve.svm.get.ss-dpl-from-attrib", kind: Loss,
        summary: "SS's DPL is reported from the VMCB attrib, never from VMCB.CPL: the descriptor API does not carry the CPL",
        when_off: "SS.DPL is reported from VMCB.CPL (as KVM and Xen do)",
        upstream: "FreeBSD vmcb.c vmcb_getdesc @be9a57eda106; illumos svm.c svm_getdesc @88f663c9ea41";
    /// vmcb_setdesc / svm_setdesc: `if (SEG_DESC_UNUSABLE(access)) attrib &= ~0x80`.
    BhyveSvmSetPFromUnusable = id: "bhyve.svm.set.p-from-unusable", kind: Encoding,
        summary: "every attribute is folded in; an unusable seg_desc clears P, the only way the VMCB says it",
        when_off: "P is written as given; unusable is ignored",
        upstream: "FreeBSD vmcb.c vmcb_setdesc @be9a57eda106; illumos svm.c svm_setdesc @88f663c9ea41";
    /// illumos svm_setdesc: `if (reg == VM_REG_GUEST_SS) vmcb->state.cpl = SEG_DESC_DPL(access)`.
    BhyveSvmSetCplFromSsDpl = id: "bhyve.svm.set.cpl-from-ss-dpl", kind: CplCarrier,
        summary: "setting SS's descriptor syncs VMCB.CPL from its DPL (illumos only)",
        when_off: "VMCB.CPL is left as it was (FreeBSD: only the snapshot code writes it)",
        upstream: "illumos usr/src/uts/intel/io/vmm/amd/svm.c svm_setdesc @88f663c9ea41";
    /// FreeBSD BHYVE_SNAPSHOT: `vmcb_snapshot_any(vcpu, VMCB_ACCESS(VMCB_OFF_CPL, 1), meta)`.
    BhyveSnapshotCplByte = id: "bhyve.snapshot.cpl-byte", kind: CplCarrier,
        summary: "the snapshot saves and restores VMCB.CPL as a byte of its own, next to the seg_desc records",
        when_off: "no CPL travels: the restored VMCB keeps whatever CPL it had (0 when fresh)",
        upstream: "FreeBSD sys/amd64/vmm/amd/svm.c svm_snapshot (VMCB_OFF_CPL) @be9a57eda106";

    // ----- VirtualBox 5.2.40 HM (thalium/icebox third_party/virtualbox @6f78952d58da) and NEM -----
    /// hmR0SvmSaveGuestState: `ss.Attr.n.u2Dpl = u8CPL & 3`.
    VboxSvmImportSsDplFromCpl = id: "vbox.svm.import.ss-dpl-from-cpl", kind: CplCarrier,
        summary: "on import SS.DPL is re-synced from VMCB.CPL (\"observed on some AMD Fusion CPUs\")",
        when_off: "SS.DPL is imported from the VMCB attrib",
        upstream: "VirtualBox HMSVMR0.cpp hmR0SvmSaveGuestState (5.2.40)";
    /// `HMSVM_SEG_REG_COPY_FROM_VMCB`: `Attr.u = (a & 0xff) | ((a & 0xf00) << 4)`, bit 16 never set.
    VboxSvmImportUnusableNotSet = id: "vbox.svm.import.unusable-not-set", kind: Loss,
        summary: "a segment imported from the VMCB never gets u1Unusable: a null-loaded segment becomes \"usable, not present\" in CPUM",
        when_off: "u1Unusable = !P",
        upstream: "VirtualBox include/VBox/vmm/hm_svm.h HMSVM_VMCB_2_CPU_SEG_ATTR (5.2.40)";
    /// hmR0SvmSaveGuestState: `cs.G = 1` when present, G clear and limit > 0xfffff.
    VboxSvmImportCsGFromLimit = id: "vbox.svm.import.cs-g-from-limit", kind: Fixup,
        summary: "a present CS with limit > 0xfffff and G clear gets G (AMD does not keep CS.G)",
        when_off: "CS.G is imported as stored",
        upstream: "VirtualBox HMSVMR0.cpp hmR0SvmSaveGuestState (5.2.40), bugref 6785";
    /// hmR0SvmSaveGuestState: TR type forced busy (long mode branch).
    VboxSvmImportTrBusy = id: "vbox.svm.import.tr-busy", kind: Fixup,
        summary: "TR's type is made busy so Intel accepts the saved state (in long mode any type -> 11; else 9 -> 11, 1 -> 3)",
        when_off: "TR's type is imported as stored",
        upstream: "VirtualBox HMSVMR0.cpp hmR0SvmSaveGuestState (5.2.40), bugref 6208";
    /// hmR0SvmLoadGuestSegmentRegs: `u8CPL = ss.Attr.n.u2Dpl`.
    VboxSvmExportCplFromSsDpl = id: "vbox.svm.export.cpl-from-ss-dpl", kind: CplCarrier,
        summary: "VMCB.CPL = SS.DPL on export, symmetric with the import",
        when_off: "VMCB.CPL is not written (a fresh VMCB holds 0)",
        upstream: "VirtualBox HMSVMR0.cpp hmR0SvmLoadGuestSegmentRegs (5.2.40)";
    /// hmR0VmxReadSegmentReg: unusable segments keep only unusable, L, D, G, DPL, type, S.
    VboxVmxImportStripUnusable = id: "vbox.vmx.import.strip-unusable", kind: Fixup,
        summary: "an unusable segment read from the VMCS loses P, AVL and limit-high: only unusable, L, D/B, G, DPL, type, S stay",
        when_off: "the access rights are imported as read",
        upstream: "VirtualBox HMVMXR0.cpp hmR0VmxReadSegmentReg (5.2.40)";
    /// hmR0VmxWriteSegmentReg: `if (!u32Access) u32Access = X86DESCATTR_UNUSABLE`.
    VboxVmxExportZeroAttrUnusable = id: "vbox.vmx.export.zero-attr-unusable", kind: Encoding,
        summary: "only an all-zero Attr is written unusable; any other value goes to the VMCS as it is (u1Unusable included)",
        when_off: "an all-zero Attr is written as 0 (usable, not present)",
        upstream: "VirtualBox HMVMXR0.cpp hmR0VmxWriteSegmentReg (5.2.40)";
    /// NEM on KVM: NEM_LNX_IMPORT_SEG / NEM_LNX_EXPORT_SEG copy `unusable` too.
    VboxNemCopyUnusable = id: "vbox.nem.copy-unusable", kind: Encoding,
        summary: "kvm_segment <-> CPUMSELREG copies every field, unusable included",
        when_off: "unusable is dropped both ways",
        upstream: "VirtualBox NEMR3Native-linux.cpp NEM_LNX_IMPORT_SEG/EXPORT_SEG @4908d8d1a85c";

    // ----- crosvm (google/crosvm f1e797a68dad) -----
    /// `From<&Segment> for kvm_segment`: `unusable: match s.present { 0 => 1, _ => 0 }`.
    CrosvmKvmUnusableFromNotPresent = id: "crosvm.kvm.unusable-from-not-present", kind: Encoding,
        summary: "crosvm's Segment has no unusable field; to KVM, unusable = !present",
        when_off: "unusable = 0 for every segment",
        upstream: "crosvm hypervisor/src/kvm/x86_64.rs From<&Segment> for kvm_segment @f1e797a68dad";
    /// `From<&kvm_segment> for Segment`: `unusable` has no field and is dropped.
    CrosvmFromKvmDropUnusable = id: "crosvm.from-kvm.drop-unusable", kind: Loss,
        summary: "from KVM, unusable is dropped and present copied as is: an unusable present segment becomes usable",
        when_off: "present = present && !unusable (QEMU get_seg's encoding)",
        upstream: "crosvm hypervisor/src/kvm/x86_64.rs From<&kvm_segment> for Segment @f1e797a68dad";
    /// `From<&Segment> for segment_desc_t` (HAXM): the `null` bit is never set.
    CrosvmHaxmNoNullBit = id: "crosvm.haxm.no-null-bit", kind: Loss,
        summary: "HAXM's segment_desc_t gets every attribute but never the null (VMX unusable) bit: a not-present segment is sent usable",
        when_off: "null = !present, as VMX requires for a not-present data segment",
        upstream: "crosvm hypervisor/src/haxm/vcpu.rs From<&Segment> for segment_desc_t @f1e797a68dad";
    /// HAXM vcpu_set_regs → `_copy_desc`: `if (old->ar == 0) new->null = 1`.
    CrosvmHaxmZeroArNull = id: "crosvm.haxm.zero-ar-null", kind: Encoding,
        summary: "HAXM itself marks a segment whose whole access-rights word is 0 null (unusable) before writing the VMCS",
        when_off: "an all-zero access-rights word is written as it is (usable, not present)",
        upstream: "intel/haxm core/vcpu.c _copy_desc (vcpu_set_regs) @4c524a10486d";

    // ----- rust-vmm mshv-bindings (rust-vmm/mshv 1032a5dedff0) -----
    /// `From<SegmentRegister> for hv_x64_segment_register`: P packed from `present` alone.
    MshvSetIgnoreUnusable = id: "mshv.set.ignore-unusable", kind: Loss,
        summary: "to Hyper-V, P is packed from present alone; unusable is ignored, so an unusable present segment becomes usable",
        when_off: "P = present && !unusable (the only way Hyper-V can say unusable)",
        upstream: "mshv-bindings src/x86_64/regs.rs From<SegmentRegister> for hv_x64_segment_register @1032a5dedff0";
    /// `From<hv_x64_segment_register> for SegmentRegister`: `unusable: 0`.
    MshvGetUnusableZero = id: "mshv.get.unusable-zero", kind: Loss,
        summary: "from Hyper-V, unusable is always 0, also for a not-present segment",
        when_off: "unusable = !P",
        upstream: "mshv-bindings src/x86_64/regs.rs From<hv_x64_segment_register> for SegmentRegister @1032a5dedff0";

    // ----- openvmm virt_kvm (microsoft/openvmm 1488a37b7cfe) -----
    /// seg_reg_from_kvm: the accessed bit of a not-present segment is masked (PR #3947).
    OpenvmmFromKvmClearAccessedNotPresent = id: "openvmm.from-kvm.clear-accessed-not-present", kind: Fixup,
        summary: "a not-present segment read from KVM loses the accessed bit (KVM VMX forces it; openvmm normalises it away)",
        when_off: "the type is kept as KVM reports it",
        upstream: "openvmm vmm_core/virt_kvm/src/arch/x86_64/vp_state.rs seg_reg_from_kvm @1488a37b7cfe (PR #3947)";
    /// seg_reg_from_kvm: `unusable` has no place in `SegmentRegister`.
    OpenvmmFromKvmDropUnusable = id: "openvmm.from-kvm.drop-unusable", kind: Loss,
        summary: "from KVM, unusable is dropped and P taken from present: an unusable present segment becomes usable",
        when_off: "P = present && !unusable",
        upstream: "openvmm vmm_core/virt_kvm/src/arch/x86_64/vp_state.rs seg_reg_from_kvm @1488a37b7cfe";
    /// seg_reg: `unusable: 0`, P carries it.
    OpenvmmToKvmUnusableZero = id: "openvmm.to-kvm.unusable-zero", kind: Loss,
        summary: "to KVM, unusable is always 0: openvmm relies on KVM deriving it from P",
        when_off: "unusable = !P",
        upstream: "openvmm vmm_core/virt_kvm/src/arch/x86_64/vp_state.rs seg_reg @1488a37b7cfe";
    /// hyperv_dump partition_state.rs: `cpl: (r.cs.selector & 3) as u8`.
    OpenvmmDumpCplFromCsRpl = id: "openvmm.dump.cpl-from-cs-rpl", kind: Loss,
        summary: "the Hyper-V dump writer records the CPL as CS.selector & 3: wrong in real mode (a paragraph number) and virtual-8086 mode (CPL 3)",
        when_off: "the CPL is recorded from SS.DPL, as every other path carries it",
        upstream: "openvmm vmm_core/hyperv_dump/src/partition_state.rs @1488a37b7cfe";

    // ----- Bochs as the L0 CPU (bochs-emu/Bochs 783b58fd6d9b) -----
    /// VMRUN: `guest.sregs[BX_SEG_REG_SS].cache.dpl = guest.cpl`.
    BochsVmrunSsDplFromCpl = id: "bochs.vmrun.ss-dpl-from-cpl", kind: CplCarrier,
        summary: "VMRUN loads SS.DPL from VMCB.CPL, so the next #VMEXIT writes SS.attrib.DPL = CPL",
        when_off: "SS.DPL is loaded from the VMCB attrib",
        upstream: "Bochs bochs/cpu/svm.cc SvmEnterLoadCheckGuestState @783b58fd6d9b";
    /// #VMEXIT: `attr = seg->cache.valid ? ... : 0`.
    BochsVmexitZeroInvalidAttrib = id: "bochs.vmexit.zero-invalid-attrib", kind: Loss,
        summary: "#VMEXIT writes the attrib of an invalid (P=0) segment as 0: DPL and type are lost (the 2017 zeroing pattern)",
        when_off: "every attribute is written back",
        upstream: "Bochs bochs/cpu/svm.cc svm_segment_write @783b58fd6d9b";

    // ----- Linux nested SVM / VMX (arch/x86/kvm/svm/nested.c, vmx/nested.c) -----
    /// nested_vmcb02_prepare_save: `vmcb02->save.cpl = save->cpl` (with the segments, VMCB_SEG dirty).
    NsvmVmrunCopyCpl = id: "nsvm.vmrun.copy-cpl", kind: CplCarrier,
        summary: "VMRUN copies vmcb12's CPL byte into vmcb02 with the segments, unchecked",
        when_off: "vmcb02 keeps its own CPL byte (0 when fresh)",
        upstream: "Linux arch/x86/kvm/svm/nested.c nested_vmcb02_prepare_save";
    /// nested_svm_vmexit: `vmcb12->save.cpl = vmcb02->save.cpl`.
    NsvmVmexitCopyCpl = id: "nsvm.vmexit.copy-cpl", kind: CplCarrier,
        summary: "#VMEXIT copies vmcb02's CPL byte back into vmcb12",
        when_off: "vmcb12's CPL byte is not updated (0 in a fresh vmcb12)",
        upstream: "Linux arch/x86/kvm/svm/nested.c nested_svm_vmexit";
    /// prepare_vmcs02: `vmcs_write32(GUEST_SS_AR_BYTES, vmcs12->guest_ss_ar_bytes)`.
    NvmxEntryCopySsAr = id: "nvmx.entry.copy-ss-ar", kind: CplCarrier,
        summary: "VM entry to L2 copies vmcs12's SS access rights (the CPL) into vmcs02, raw",
        when_off: "vmcs02 keeps a stale SS AR (the eVMCS GUEST_GRP2 clean-field case; 0 when fresh)",
        upstream: "Linux arch/x86/kvm/vmx/nested.c prepare_vmcs02 / sync_vmcs02_to_vmcs12";
}

display_by_name!(Rule, id);

impl core::str::FromStr for Rule {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::table::find(Rule::ALL, Rule::id, s.trim()).ok_or_else(|| UnknownRule(s.into()))
    }
}

/// A rule id that is not defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRule(pub alloc::string::String);

impl fmt::Display for UnknownRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown rule id `{}` (see `segstate profiles --rules`)",
            self.0.escape_debug()
        )
    }
}

impl core::error::Error for UnknownRule {}

/// A set of rules, as a bit set over [`Rule`]: rule n is bit n & 63 of word n >> 6.
/// Two words rather than a `u128`, whose 16-byte alignment would grow every chain `Op`
/// and compiled pipeline that carries sets; a constant rule tests one word, as before.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RuleSet([u64; 2]);

const _: () = assert!(
    Rule::ALL.len() <= 2 * u64::BITS as usize,
    "RuleSet holds 128 rules: add a word"
);

/// The word of `rule`, and its bit there.
const fn place(rule: Rule) -> (usize, u64) {
    let n = rule as usize;
    (n >> 6, 1 << (n & 63))
}

impl RuleSet {
    /// No rules.
    pub const EMPTY: RuleSet = RuleSet([0; 2]);

    /// The set of the given rules.
    #[must_use]
    pub const fn of(rules: &[Rule]) -> Self {
        let mut set = RuleSet::EMPTY;
        let mut i = 0;
        while i < rules.len() {
            set = set.with(rules[i]);
            i += 1;
        }
        set
    }

    /// True when `rule` is in the set.
    #[must_use]
    pub const fn has(self, rule: Rule) -> bool {
        let (word, bit) = place(rule);
        self.0[word] & bit != 0
    }

    /// The set with `rule` added.
    #[must_use]
    pub const fn with(mut self, rule: Rule) -> Self {
        let (word, bit) = place(rule);
        self.0[word] |= bit;
        self
    }

    /// The set with `rule` removed.
    #[must_use]
    pub const fn without(mut self, rule: Rule) -> Self {
        let (word, bit) = place(rule);
        self.0[word] &= !bit;
        self
    }

    /// The set as bits (bit n is the rule of discriminant n): a const generic
    /// argument for the chains compiled with constant rules (`specialised.rs`).
    #[must_use]
    pub(crate) const fn bits(self) -> u128 {
        self.0[0] as u128 | (self.0[1] as u128) << 64
    }

    /// The set of [`RuleSet::bits`].
    #[must_use]
    pub(crate) const fn from_bits(bits: u128) -> Self {
        RuleSet([bits as u64, (bits >> 64) as u64])
    }

    /// The rules in the set, in [`Rule::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Rule> {
        Rule::ALL.iter().copied().filter(move |r| self.has(*r))
    }
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Rule::id)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_parse_back() {
        crate::table::assert_ids_unique_and_parse_back(Rule::ALL, Rule::id);
        assert!("svm.get.nonsense".parse::<Rule>().is_err());
    }

    #[test]
    fn set_operations() {
        let s = RuleSet::of(&[Rule::SvmGetTrBusy, Rule::QemuGetSegtype]);
        assert!(s.has(Rule::SvmGetTrBusy) && s.has(Rule::QemuGetSegtype));
        assert!(!s.has(Rule::SvmGetDataAccessed));
        assert!(!s.without(Rule::SvmGetTrBusy).has(Rule::SvmGetTrBusy));
        assert!(
            s.with(Rule::SvmGetDataAccessed)
                .has(Rule::SvmGetDataAccessed)
        );
        assert_eq!(s.iter().count(), 2);
    }

    /// Bits beyond the first word round-trip and every rule has its own bit: the
    /// 65th rule lands in the second word without touching the first.
    #[test]
    fn both_words_hold_rules() {
        let high = RuleSet::from_bits(1 << 100 | 1);
        assert_eq!(high.bits(), 1 << 100 | 1);
        assert_eq!(high.0, [1, 1 << 36]);
        let all = RuleSet::of(Rule::ALL);
        assert_eq!(all.iter().count(), Rule::ALL.len());
        assert_eq!(all.bits().count_ones() as usize, Rule::ALL.len());
        for rule in Rule::ALL {
            assert_eq!(RuleSet::EMPTY.with(*rule).bits(), 1 << *rule as u8);
        }
    }
}
