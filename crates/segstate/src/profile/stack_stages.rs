//! The other stacks' conversions, each once: a function of (rules, register, value,
//! CPL byte) giving the value and the CPL byte after it, and, for an op a pipeline
//! runs, the [`Stage`] that runs it (`profile/specialised.rs`; another op's stage is a
//! name on its row). The interpreter (`stack::each_stack_op!`)
//! calls the same functions, so a chain runs the same code whether its shape has a
//! pipeline or not; only the dispatch differs.
//!
//! Why here: before, the interpreter held each conversion's body (the CPL byte's
//! handling among it) and a pipeline stage would have been a second copy that could
//! drift from it; `verify` proves the interpreter's, so the pipelines must run the
//! same code. The bodies only glue: what each stack does to a segment is in its own
//! module, read from its upstream source there:
//!
//! - Xen ([`super::xen`]): xen-project/xen hvm/svm/svm.c, hvm/vmx/vmx.c, hvm/hvm.c.
//! - bhyve ([`super::bhyve`]): FreeBSD sys/amd64/vmm/amd/vmcb.c, illumos
//!   usr/src/uts/intel/io/vmm/amd/svm.c; FreeBSD's snapshot and Oxide propolis carry.
//! - VirtualBox ([`super::vbox`]): VMMR0/HMSVMR0.cpp, VMMR0/HMVMXR0.cpp,
//!   VMMR3/NEMR3Native-linux.cpp.
//! - crosvm, mshv, openvmm ([`super::rustvmm`]): google/crosvm
//!   hypervisor/src/{kvm,whpx,haxm}, rust-vmm/mshv src/x86_64/regs.rs, microsoft/openvmm
//!   vmm_core/virt_kvm/src/arch/x86_64/vp_state.rs.
//! - Bochs and Linux nested SVM/VMX ([`super::nested`]): bochs/cpu/svm.cc,
//!   arch/x86/kvm/svm/nested.c, arch/x86/kvm/vmx/nested.c.
//!
//! The CPL byte passes through every conversion (a `keep` row) but those that write
//! it: a set into the VMCB (a fresh VMCB's 0 where the set writes none; bhyve's
//! descriptor API leaves VMCB.CPL alone, so what the VMM carried stays), a VMM's
//! carry, a nested round trip. (The commits each upstream file was read at are in
//! those modules' docs.)

use super::specialised::{Rules, Stage};
use super::{RuleSet, bhyve, nested, rustvmm, vbox, xen};
use crate::arch::SegReg;
use crate::format::bhyve::BhyveSegment;
use crate::format::crosvm::CrosvmSegment;
use crate::format::hyperv::HvSegmentRegister;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::format::svm::VmcbSegment;
use crate::format::vbox::CpumSelReg;
use crate::format::vmx::VmxSegment;
use crate::format::xen::XenSegmentRegister;

/// Each conversion's function (`$fn`) and, where a pipeline runs it, its stage
/// (`[$name]`, rules of type `R`; `[_]` for none: a shape that takes the op into
/// `pipelines!` names one). A `keep` conversion passes the CPL byte through: its body
/// is the value alone.
macro_rules! stack_stages {
    (@out keep, $body:expr, $cpl:ident) => {
        ($body, $cpl)
    };
    (@out, $body:expr, $cpl:ident) => {
        $body
    };
    (@stage _, $fn:ident, $in:ty, $out:ty) => {};
    (@stage $name:ident, $fn:ident, $in:ty, $out:ty) => {
        #[doc = concat!("[`", stringify!($fn), "`] as a pipeline stage.")]
        #[derive(Clone, Copy)]
        pub(super) struct $name<R>(pub(super) R);

        impl<R: Rules> Stage for $name<R> {
            type In = $in;
            type Out = $out;
            #[inline(always)]
            fn apply(
                self,
                reg: SegReg,
                x: $in,
                cpl: &mut u8,
                _previous: &QemuSegmentCache,
            ) -> $out {
                let (out, after) = $fn(self.0.rules(), reg, &x, *cpl);
                *cpl = after;
                out
            }
        }
    };
    ($($(#[$doc:meta])* [$name:tt] $fn:ident: $in:ty => $out:ty, $($keep:ident)?
        |$r:pat_param, $reg:pat_param, $x:ident, $cpl:ident| $body:expr;)*) => {
        $(
            $(#[$doc])*
            #[inline(always)]
            pub(super) fn $fn($r: RuleSet, $reg: SegReg, $x: &$in, $cpl: u8) -> ($out, u8) {
                stack_stages!(@out $($keep)?, $body, $cpl)
            }

            stack_stages!(@stage $name, $fn, $in, $out);
        )*
    };
}

stack_stages! {
    /// Xen hvm_set_segment_register + svm_set_segment_register.
    [_] xen_svm_set: XenSegmentRegister => VmcbSegment, |r, reg, x, _cpl| {
        let (v, written) = xen::svm_set(r, reg, x);
        (v, written.unwrap_or(0))
    };
    /// Xen svm_get_segment_register + hvm_get_segment_register.
    [_] xen_svm_get: VmcbSegment => XenSegmentRegister, keep |r, reg, v, cpl|
        xen::svm_get(r, reg, v, cpl);
    /// Xen vmx_get_segment_register + hvm_get_segment_register.
    [_] xen_vmx_get: VmxSegment => XenSegmentRegister, keep |r, reg, v, cpl|
        xen::vmx_get(r, reg, v);
    /// Xen hvm_set_segment_register + vmx_set_segment_register.
    [_] xen_vmx_set: XenSegmentRegister => VmxSegment, keep |r, _, x, cpl|
        xen::vmx_set(r, x);
    /// Xen hvm_save_cpu_ctxt then hvm_load_cpu_ctxt.
    [_] xen_save_load: XenSegmentRegister => XenSegmentRegister, keep |r, _, x, cpl|
        xen::save_load(r, x);
    /// bhyve vmcb_getdesc / illumos svm_getdesc.
    [BhyveSvmGet] bhyve_svm_get: VmcbSegment => BhyveSegment, keep |r, reg, v, cpl|
        bhyve::svm_get(r, reg, v, cpl);
    /// bhyve vmcb_setdesc / illumos svm_setdesc: the descriptor API leaves VMCB.CPL
    /// alone, so what the VMM carried is restored.
    [BhyveSvmSet] bhyve_svm_set: BhyveSegment => VmcbSegment, |r, reg, b, cpl| {
        let (v, written) = bhyve::svm_set(r, reg, b);
        (v, written.unwrap_or(cpl))
    };
    /// bhyve vmcs_getdesc.
    [_] bhyve_vmx_get: VmxSegment => BhyveSegment, keep |_, _, v, cpl|
        bhyve::vmx_get(v);
    /// bhyve vmcs_setdesc.
    [_] bhyve_vmx_set: BhyveSegment => VmxSegment, keep |_, _, b, cpl|
        bhyve::vmx_set(b);
    /// A bhyve VMM's snapshot or migration payload: the segment as it is, the CPL
    /// byte carried or not.
    [BhyveCarry] bhyve_carry: BhyveSegment => BhyveSegment, |r, _, b, cpl| {
        (*b, bhyve::carried_cpl(r, cpl))
    };
    /// VirtualBox HM-SVM import.
    [_] vbox_svm_import: VmcbSegment => CpumSelReg, keep |r, reg, v, cpl|
        vbox::svm_import(r, reg, v, cpl);
    /// VirtualBox HM-SVM export.
    [_] vbox_svm_export: CpumSelReg => VmcbSegment, |r, reg, c, _cpl| {
        let (v, written) = vbox::svm_export(r, reg, c);
        (v, written.unwrap_or(0))
    };
    /// VirtualBox HM-VMX import.
    [_] vbox_vmx_import: VmxSegment => CpumSelReg, keep |r, _, v, cpl|
        vbox::vmx_import(r, v);
    /// VirtualBox HM-VMX export.
    [_] vbox_vmx_export: CpumSelReg => VmxSegment, keep |r, _, c, cpl|
        vbox::vmx_export(r, c);
    /// VirtualBox NEM on KVM, import.
    [VboxNemImport] vbox_nem_import: KvmSegment => CpumSelReg, keep |r, _, k, cpl|
        vbox::nem_import(r, k);
    /// VirtualBox NEM on KVM, export.
    [VboxNemExport] vbox_nem_export: CpumSelReg => KvmSegment, keep |r, _, c, cpl|
        vbox::nem_export(r, c);
    /// crosvm `From<&kvm_segment> for Segment`.
    [CrosvmFromKvm] crosvm_from_kvm: KvmSegment => CrosvmSegment, keep |r, _, k, cpl|
        rustvmm::crosvm_from_kvm(r, k);
    /// crosvm `From<&Segment> for kvm_segment`.
    [CrosvmToKvm] crosvm_to_kvm: CrosvmSegment => KvmSegment, keep |r, _, c, cpl|
        rustvmm::crosvm_to_kvm(r, c);
    /// crosvm Segment → WHV_X64_SEGMENT_REGISTER.
    [_] crosvm_to_whpx: CrosvmSegment => HvSegmentRegister, keep |_, _, c, cpl|
        rustvmm::crosvm_to_whpx(c);
    /// crosvm WHV_X64_SEGMENT_REGISTER → Segment.
    [_] crosvm_from_whpx: HvSegmentRegister => CrosvmSegment, keep |_, _, h, cpl|
        rustvmm::crosvm_from_whpx(h);
    /// crosvm Segment → HAXM segment_desc_t.
    [CrosvmToHaxm] crosvm_to_haxm: CrosvmSegment => VmxSegment, keep |r, _, c, cpl|
        rustvmm::crosvm_to_haxm(r, c);
    /// crosvm HAXM segment_desc_t → Segment.
    [_] crosvm_from_haxm: VmxSegment => CrosvmSegment, keep |_, _, v, cpl|
        rustvmm::crosvm_from_haxm(v);
    /// mshv-bindings SegmentRegister → hv_x64_segment_register.
    [_] mshv_set: KvmSegment => HvSegmentRegister, keep |r, _, k, cpl|
        rustvmm::mshv_set(r, k);
    /// mshv-bindings hv_x64_segment_register → SegmentRegister.
    [_] mshv_get: HvSegmentRegister => KvmSegment, keep |r, _, h, cpl|
        rustvmm::mshv_get(r, h);
    /// openvmm seg_reg_from_kvm.
    [OpenvmmFromKvm] openvmm_from_kvm: KvmSegment => HvSegmentRegister, keep |r, _, k, cpl|
        rustvmm::openvmm_from_kvm(r, k);
    /// openvmm seg_reg.
    [OpenvmmToKvm] openvmm_to_kvm: HvSegmentRegister => KvmSegment, keep |r, _, h, cpl|
        rustvmm::openvmm_to_kvm(r, h);
    /// Bochs VMRUN then #VMEXIT.
    [_] bochs_round_trip: VmcbSegment => VmcbSegment, |r, reg, v, cpl| {
        nested::bochs_round_trip(r, reg, v, cpl)
    };
    /// Linux nested SVM: vmcb12 → vmcb02 → vmcb12.
    [_] nested_svm_round_trip: VmcbSegment => VmcbSegment, |r, _, v, cpl| {
        nested::svm_l1_l2_round_trip(r, v, cpl)
    };
    /// Linux nested VMX: vmcs12 → vmcs02 → vmcs12.
    [_] nested_vmx_round_trip: VmxSegment => VmxSegment, keep |r, reg, v, cpl|
        nested::vmx_l1_l2_round_trip(r, reg, v);
}
