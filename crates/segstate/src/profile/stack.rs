//! The other stacks in chains: the shapes their segments take in flight, the
//! conversions their steps perform, and how a step of theirs compiles.
//!
//! Kept apart from [`super::chain`] so the KVM/QEMU core stays as it was: a chain sees
//! one [`Op::Stack`] per conversion and one [`SegmentValue::Stack`] per shape.

use alloc::vec::Vec;
use core::fmt;

use super::chain::Shape;
use super::{Engine, Format, InFlight, Op, RuleSet, SegmentValue, Step};
use super::{bhyve, nested, rustvmm, vbox, xen};
use crate::arch::{PrivilegeLevel, SegReg, Segment};
use crate::format::bhyve::BhyveSegment;
use crate::format::crosvm::CrosvmSegment;
use crate::format::hyperv::HvSegmentRegister;
use crate::format::vbox::CpumSelReg;
use crate::format::xen::XenSegmentRegister;

/// A segment in one of the other stacks' shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StackValue {
    /// Xen's `segment_register` (also a `hvm_hw_cpu` record's fields).
    Xen(XenSegmentRegister),
    /// bhyve's `seg_desc` and selector (also propolis's record).
    Bhyve(BhyveSegment),
    /// VirtualBox's `CPUMSELREG` (also its saved state).
    Cpum(CpumSelReg),
    /// crosvm's `Segment` (also its snapshot).
    Crosvm(CrosvmSegment),
    /// A Hyper-V / WHP segment register (also openvmm's `SegmentRegister`).
    Hv(HvSegmentRegister),
}

impl StackValue {
    /// The architectural segment, strictly decoded; `None` when the value does not
    /// decode.
    #[must_use]
    pub fn decode(&self) -> Option<Segment> {
        match *self {
            StackValue::Xen(v) => Segment::try_from(v).ok(),
            StackValue::Bhyve(v) => Segment::try_from(v).ok(),
            StackValue::Cpum(v) => Segment::try_from(v).ok(),
            StackValue::Crosvm(v) => Segment::try_from(v).ok(),
            StackValue::Hv(v) => Segment::try_from(v).ok(),
        }
    }

    /// The DPL field (for SS: the CPL every one of these shapes means).
    #[must_use]
    pub const fn dpl(&self) -> PrivilegeLevel {
        PrivilegeLevel::from_low_bits(match *self {
            StackValue::Xen(v) => (v.attr.0 >> 5) as u8,
            StackValue::Bhyve(v) => (v.desc.access.0 >> 5) as u8,
            StackValue::Cpum(v) => (v.attr.0 >> 5) as u8,
            StackValue::Crosvm(v) => v.dpl,
            StackValue::Hv(v) => (v.attributes.0 >> 5) as u8,
        })
    }

    /// The format a chain names when this value is handed to it.
    #[must_use]
    pub const fn format(&self) -> Format {
        match self {
            StackValue::Hv(_) => Format::HyperV,
            _ => Format::Kvm,
        }
    }
}

impl fmt::Display for StackValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackValue::Xen(v) => write!(
                f,
                "Xen sel={:#06x} attr={:#05x} limit={:#x} base={:#x}",
                v.selector, v.attr.0, v.limit, v.base
            ),
            StackValue::Bhyve(v) => write!(
                f,
                "bhyve sel={:#06x} access={:#07x} limit={:#x} base={:#x}",
                v.selector, v.desc.access.0, v.desc.limit, v.desc.base
            ),
            StackValue::Cpum(v) => write!(
                f,
                "CPUMSELREG sel={:#06x} attr={:#07x} limit={:#x} base={:#x}",
                v.selector, v.attr.0, v.limit, v.base
            ),
            StackValue::Crosvm(v) => write!(
                f,
                "crosvm sel={:#06x} type={} p={} dpl={} db={} s={} l={} g={} avl={} limit={:#x} base={:#x}",
                v.selector,
                v.type_,
                v.present,
                v.dpl,
                v.db,
                v.s,
                v.l,
                v.g,
                v.avl,
                v.limit_bytes,
                v.base
            ),
            StackValue::Hv(v) => write!(
                f,
                "Hyper-V sel={:#06x} attributes={:#06x} limit={:#x} base={:#x}",
                v.selector, v.attributes.0, v.limit, v.base
            ),
        }
    }
}

/// One conversion of another stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub(crate) enum StackOp {
    /// Xen svm_get_segment_register + hvm_get_segment_register.
    XenSvmGet(RuleSet),
    /// Xen hvm_set_segment_register + svm_set_segment_register.
    XenSvmSet(RuleSet),
    /// Xen vmx_get_segment_register + hvm_get_segment_register.
    XenVmxGet(RuleSet),
    /// Xen hvm_set_segment_register + vmx_set_segment_register.
    XenVmxSet(RuleSet),
    /// Xen hvm_save_cpu_ctxt then hvm_load_cpu_ctxt.
    XenSaveLoad(RuleSet),
    /// bhyve vmcb_getdesc / illumos svm_getdesc.
    BhyveSvmGet(RuleSet),
    /// bhyve vmcb_setdesc / illumos svm_setdesc.
    BhyveSvmSet(RuleSet),
    /// bhyve vmcs_getdesc.
    BhyveVmxGet(RuleSet),
    /// bhyve vmcs_setdesc.
    BhyveVmxSet(RuleSet),
    /// A bhyve VMM's snapshot or migration payload (CPL byte carried or not).
    BhyveCarry(RuleSet),
    /// VirtualBox HM-SVM import.
    VboxSvmImport(RuleSet),
    /// VirtualBox HM-SVM export.
    VboxSvmExport(RuleSet),
    /// VirtualBox HM-VMX import.
    VboxVmxImport(RuleSet),
    /// VirtualBox HM-VMX export.
    VboxVmxExport(RuleSet),
    /// VirtualBox NEM on KVM, import.
    VboxNemImport(RuleSet),
    /// VirtualBox NEM on KVM, export.
    VboxNemExport(RuleSet),
    /// crosvm `From<&kvm_segment> for Segment`.
    CrosvmFromKvm(RuleSet),
    /// crosvm `From<&Segment> for kvm_segment`.
    CrosvmToKvm(RuleSet),
    /// crosvm Segment → WHV_X64_SEGMENT_REGISTER.
    CrosvmToWhpx(RuleSet),
    /// crosvm WHV_X64_SEGMENT_REGISTER → Segment.
    CrosvmFromWhpx(RuleSet),
    /// crosvm Segment → HAXM segment_desc_t.
    CrosvmToHaxm(RuleSet),
    /// crosvm HAXM segment_desc_t → Segment.
    CrosvmFromHaxm(RuleSet),
    /// mshv-bindings SegmentRegister → hv_x64_segment_register.
    MshvSet(RuleSet),
    /// mshv-bindings hv_x64_segment_register → SegmentRegister.
    MshvGet(RuleSet),
    /// openvmm seg_reg_from_kvm.
    OpenvmmFromKvm(RuleSet),
    /// openvmm seg_reg.
    OpenvmmToKvm(RuleSet),
    /// Bochs VMRUN then #VMEXIT.
    BochsRoundTrip(RuleSet),
    /// Linux nested SVM: vmcb12 → vmcb02 → vmcb12.
    NestedSvmRoundTrip(RuleSet),
    /// Linux nested VMX: vmcs12 → vmcs02 → vmcs12.
    NestedVmxRoundTrip(RuleSet),
}

impl StackOp {
    /// The upstream function the op runs.
    #[must_use]
    pub const fn function(self) -> &'static str {
        match self {
            StackOp::XenSvmGet(_) => "xen svm_get_segment_register",
            StackOp::XenSvmSet(_) => "xen svm_set_segment_register",
            StackOp::XenVmxGet(_) => "xen vmx_get_segment_register",
            StackOp::XenVmxSet(_) => "xen vmx_set_segment_register",
            StackOp::XenSaveLoad(_) => "xen hvm_save/load_cpu_ctxt",
            StackOp::BhyveSvmGet(_) => "bhyve svm getdesc",
            StackOp::BhyveSvmSet(_) => "bhyve svm setdesc",
            StackOp::BhyveVmxGet(_) => "bhyve vmcs_getdesc",
            StackOp::BhyveVmxSet(_) => "bhyve vmcs_setdesc",
            StackOp::BhyveCarry(_) => "bhyve VMM snapshot/migration",
            StackOp::VboxSvmImport(_) => "vbox hmR0SvmSaveGuestState",
            StackOp::VboxSvmExport(_) => "vbox hmR0SvmLoadGuestSegmentRegs",
            StackOp::VboxVmxImport(_) => "vbox hmR0VmxReadSegmentReg",
            StackOp::VboxVmxExport(_) => "vbox hmR0VmxWriteSegmentReg",
            StackOp::VboxNemImport(_) => "vbox NEM_LNX_IMPORT_SEG",
            StackOp::VboxNemExport(_) => "vbox NEM_LNX_EXPORT_SEG",
            StackOp::CrosvmFromKvm(_) => "crosvm From<&kvm_segment>",
            StackOp::CrosvmToKvm(_) => "crosvm From<&Segment> for kvm_segment",
            StackOp::CrosvmToWhpx(_) => "crosvm Segment -> WHV_X64_SEGMENT_REGISTER",
            StackOp::CrosvmFromWhpx(_) => "crosvm WHV_X64_SEGMENT_REGISTER -> Segment",
            StackOp::CrosvmToHaxm(_) => "crosvm From<&Segment> for segment_desc_t",
            StackOp::CrosvmFromHaxm(_) => "crosvm From<&segment_desc_t> for Segment",
            StackOp::MshvSet(_) => "mshv From<SegmentRegister> for hv_x64_segment_register",
            StackOp::MshvGet(_) => "mshv From<hv_x64_segment_register> for SegmentRegister",
            StackOp::OpenvmmFromKvm(_) => "openvmm seg_reg_from_kvm",
            StackOp::OpenvmmToKvm(_) => "openvmm seg_reg",
            StackOp::BochsRoundTrip(_) => "bochs VMRUN + #VMEXIT",
            StackOp::NestedSvmRoundTrip(_) => "kvm nested_vmcb02_prepare_save + nested_svm_vmexit",
            StackOp::NestedVmxRoundTrip(_) => "kvm prepare_vmcs02 + sync_vmcs02_to_vmcs12",
        }
    }
}

/// The shapes of the other stacks' models between a get and a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Model {
    Xen,
    Bhyve,
    Cpum,
    Crosvm,
    Openvmm,
}

/// Compiles one step of another stack (or any step on another stack's shape): pushes
/// its conversions and returns the shape after it, or why the step cannot go there.
pub(super) fn compile(
    step: &Step,
    shape: Shape,
    last: bool,
    next: Option<Engine>,
    ops: &mut Vec<Op>,
) -> Result<Shape, &'static str> {
    use Engine as E;
    use Format::{HyperV, Vmcb, Vmcs};
    use Model as M;
    use Shape::{Hardware, Kvm, Stack};
    let r = step.rules;
    let hop = |ops: &mut Vec<Op>,
               get: StackOp,
               set: StackOp,
               hw: Format,
               model: Shape,
               from_model: bool| {
        if from_model {
            ops.push(Op::Stack(set));
            if last {
                return Hardware(hw);
            }
        }
        ops.push(Op::Stack(get));
        model
    };
    let next_is_kvm = next.is_some_and(|e| matches!(e, E::KvmSvm | E::KvmVmx));
    Ok(match (step.profile.engine, shape) {
        (E::XenSvm, Hardware(Vmcb)) => hop(
            ops,
            StackOp::XenSvmGet(r),
            StackOp::XenSvmSet(r),
            Vmcb,
            Stack(M::Xen),
            false,
        ),
        (E::XenSvm, Stack(M::Xen)) => hop(
            ops,
            StackOp::XenSvmGet(r),
            StackOp::XenSvmSet(r),
            Vmcb,
            Stack(M::Xen),
            true,
        ),
        (E::XenVmx, Hardware(Vmcs)) => hop(
            ops,
            StackOp::XenVmxGet(r),
            StackOp::XenVmxSet(r),
            Vmcs,
            Stack(M::Xen),
            false,
        ),
        (E::XenVmx, Stack(M::Xen)) => hop(
            ops,
            StackOp::XenVmxGet(r),
            StackOp::XenVmxSet(r),
            Vmcs,
            Stack(M::Xen),
            true,
        ),
        (E::XenSave, Stack(M::Xen)) => {
            ops.push(Op::Stack(StackOp::XenSaveLoad(r)));
            Stack(M::Xen)
        }
        (E::BhyveSvm | E::IllumosSvm, Hardware(Vmcb)) => hop(
            ops,
            StackOp::BhyveSvmGet(r),
            StackOp::BhyveSvmSet(r),
            Vmcb,
            Stack(M::Bhyve),
            false,
        ),
        (E::BhyveSvm | E::IllumosSvm, Stack(M::Bhyve)) => hop(
            ops,
            StackOp::BhyveSvmGet(r),
            StackOp::BhyveSvmSet(r),
            Vmcb,
            Stack(M::Bhyve),
            true,
        ),
        (E::BhyveVmx, Hardware(Vmcs)) => hop(
            ops,
            StackOp::BhyveVmxGet(r),
            StackOp::BhyveVmxSet(r),
            Vmcs,
            Stack(M::Bhyve),
            false,
        ),
        (E::BhyveVmx, Stack(M::Bhyve)) => hop(
            ops,
            StackOp::BhyveVmxGet(r),
            StackOp::BhyveVmxSet(r),
            Vmcs,
            Stack(M::Bhyve),
            true,
        ),
        (E::BhyveVmm | E::Propolis, Stack(M::Bhyve)) => {
            ops.push(Op::Stack(StackOp::BhyveCarry(r)));
            Stack(M::Bhyve)
        }
        (E::VboxSvm, Hardware(Vmcb)) => hop(
            ops,
            StackOp::VboxSvmImport(r),
            StackOp::VboxSvmExport(r),
            Vmcb,
            Stack(M::Cpum),
            false,
        ),
        (E::VboxSvm, Stack(M::Cpum)) => hop(
            ops,
            StackOp::VboxSvmImport(r),
            StackOp::VboxSvmExport(r),
            Vmcb,
            Stack(M::Cpum),
            true,
        ),
        (E::VboxVmx, Hardware(Vmcs)) => hop(
            ops,
            StackOp::VboxVmxImport(r),
            StackOp::VboxVmxExport(r),
            Vmcs,
            Stack(M::Cpum),
            false,
        ),
        (E::VboxVmx, Stack(M::Cpum)) => hop(
            ops,
            StackOp::VboxVmxImport(r),
            StackOp::VboxVmxExport(r),
            Vmcs,
            Stack(M::Cpum),
            true,
        ),
        (E::VboxSav, Stack(M::Cpum)) => Stack(M::Cpum),
        (E::VboxNem, Kvm) => {
            ops.push(Op::Stack(StackOp::VboxNemImport(r)));
            if last || next_is_kvm {
                ops.push(Op::Stack(StackOp::VboxNemExport(r)));
                Kvm
            } else {
                Stack(M::Cpum)
            }
        }
        (E::VboxNem, Stack(M::Cpum)) => {
            ops.push(Op::Stack(StackOp::VboxNemExport(r)));
            Kvm
        }
        (E::Crosvm, Kvm | Stack(M::Crosvm)) => {
            if shape == Kvm {
                ops.push(Op::Stack(StackOp::CrosvmFromKvm(r)));
            }
            if last || next_is_kvm {
                ops.push(Op::Stack(StackOp::CrosvmToKvm(r)));
                Kvm
            } else {
                Stack(M::Crosvm)
            }
        }
        (E::CrosvmWhpx, Stack(M::Crosvm)) => hop(
            ops,
            StackOp::CrosvmFromWhpx(r),
            StackOp::CrosvmToWhpx(r),
            HyperV,
            Stack(M::Crosvm),
            true,
        ),
        (E::CrosvmHaxm, Stack(M::Crosvm)) => hop(
            ops,
            StackOp::CrosvmFromHaxm(r),
            StackOp::CrosvmToHaxm(r),
            Vmcs,
            Stack(M::Crosvm),
            true,
        ),
        (E::CrosvmHaxm, Hardware(Vmcs)) => hop(
            ops,
            StackOp::CrosvmFromHaxm(r),
            StackOp::CrosvmToHaxm(r),
            Vmcs,
            Stack(M::Crosvm),
            false,
        ),
        (E::Mshv, Kvm) => hop(
            ops,
            StackOp::MshvGet(r),
            StackOp::MshvSet(r),
            HyperV,
            Kvm,
            true,
        ),
        (E::Openvmm, Kvm) => {
            ops.push(Op::Stack(StackOp::OpenvmmFromKvm(r)));
            if last || next_is_kvm {
                ops.push(Op::Stack(StackOp::OpenvmmToKvm(r)));
                Kvm
            } else {
                Stack(M::Openvmm)
            }
        }
        (E::Openvmm, Stack(M::Openvmm)) => {
            ops.push(Op::Stack(StackOp::OpenvmmToKvm(r)));
            Kvm
        }
        (E::Bochs, Hardware(Vmcb)) => {
            ops.push(Op::Stack(StackOp::BochsRoundTrip(r)));
            Hardware(Vmcb)
        }
        (E::NestedSvm, Hardware(Vmcb)) => {
            ops.push(Op::Stack(StackOp::NestedSvmRoundTrip(r)));
            Hardware(Vmcb)
        }
        (E::NestedVmx, Hardware(Vmcs)) => {
            ops.push(Op::Stack(StackOp::NestedVmxRoundTrip(r)));
            Hardware(Vmcs)
        }
        (E::KvmSvm | E::KvmVmx | E::Qemu | E::Verbatim, Stack(_)) => {
            return Err("KVM and its VMMs read kvm_segment, not another stack's model");
        }
        (_, Hardware(_)) => {
            return Err(
                "this step cannot read the save area the previous step wrote (vendor or stack mismatch)",
            );
        }
        (_, Stack(_)) => return Err("a stack's model is read back only by that stack"),
        _ => return Err("this step does not read kvm_segment"),
    })
}

fn wrong(op: StackOp) -> ! {
    unreachable!("Chain::new orders ops so each one receives its own input shape ({op:?})")
}

/// Runs one conversion of another stack. `at.vmcb_cpl` is the CPL byte as far as the
/// path carries it.
#[must_use]
pub(super) fn apply(op: StackOp, reg: SegReg, at: InFlight) -> InFlight {
    use SegmentValue as V;
    use StackValue as S;
    let cpl = at.vmcb_cpl;
    let (value, vmcb_cpl) = match (op, at.value) {
        (StackOp::XenSvmGet(r), V::Vmcb(v)) => {
            (V::Stack(S::Xen(xen::svm_get(r, reg, &v, cpl))), cpl)
        }
        (StackOp::XenSvmSet(r), V::Stack(S::Xen(x))) => {
            let (v, written) = xen::svm_set(r, reg, &x);
            (V::Vmcb(v), written.unwrap_or(0))
        }
        (StackOp::XenVmxGet(r), V::Vmcs(v)) => (V::Stack(S::Xen(xen::vmx_get(r, reg, &v))), cpl),
        (StackOp::XenVmxSet(r), V::Stack(S::Xen(x))) => (V::Vmcs(xen::vmx_set(r, &x)), cpl),
        (StackOp::XenSaveLoad(r), V::Stack(S::Xen(x))) => {
            (V::Stack(S::Xen(xen::save_load(r, &x))), cpl)
        }
        (StackOp::BhyveSvmGet(r), V::Vmcb(v)) => {
            (V::Stack(S::Bhyve(bhyve::svm_get(r, reg, &v, cpl))), cpl)
        }
        (StackOp::BhyveSvmSet(r), V::Stack(S::Bhyve(b))) => {
            let (v, written) = bhyve::svm_set(r, reg, &b);
            // The descriptor API leaves VMCB.CPL alone; what the VMM carried is restored.
            (V::Vmcb(v), written.unwrap_or(cpl))
        }
        (StackOp::BhyveVmxGet(_), V::Vmcs(v)) => (V::Stack(S::Bhyve(bhyve::vmx_get(&v))), cpl),
        (StackOp::BhyveVmxSet(_), V::Stack(S::Bhyve(b))) => (V::Vmcs(bhyve::vmx_set(&b)), cpl),
        (StackOp::BhyveCarry(r), value @ V::Stack(S::Bhyve(_))) => {
            (value, bhyve::carried_cpl(r, cpl))
        }
        (StackOp::VboxSvmImport(r), V::Vmcb(v)) => {
            (V::Stack(S::Cpum(vbox::svm_import(r, reg, &v, cpl))), cpl)
        }
        (StackOp::VboxSvmExport(r), V::Stack(S::Cpum(c))) => {
            let (v, written) = vbox::svm_export(r, reg, &c);
            (V::Vmcb(v), written.unwrap_or(0))
        }
        (StackOp::VboxVmxImport(r), V::Vmcs(v)) => {
            (V::Stack(S::Cpum(vbox::vmx_import(r, &v))), cpl)
        }
        (StackOp::VboxVmxExport(r), V::Stack(S::Cpum(c))) => {
            (V::Vmcs(vbox::vmx_export(r, &c)), cpl)
        }
        (StackOp::VboxNemImport(r), V::Kvm(k)) => (V::Stack(S::Cpum(vbox::nem_import(r, &k))), cpl),
        (StackOp::VboxNemExport(r), V::Stack(S::Cpum(c))) => (V::Kvm(vbox::nem_export(r, &c)), cpl),
        (StackOp::CrosvmFromKvm(r), V::Kvm(k)) => {
            (V::Stack(S::Crosvm(rustvmm::crosvm_from_kvm(r, &k))), cpl)
        }
        (StackOp::CrosvmToKvm(r), V::Stack(S::Crosvm(c))) => {
            (V::Kvm(rustvmm::crosvm_to_kvm(r, &c)), cpl)
        }
        (StackOp::CrosvmToWhpx(_), V::Stack(S::Crosvm(c))) => {
            (V::Stack(S::Hv(rustvmm::crosvm_to_whpx(&c))), cpl)
        }
        (StackOp::CrosvmFromWhpx(_), V::Stack(S::Hv(h))) => {
            (V::Stack(S::Crosvm(rustvmm::crosvm_from_whpx(&h))), cpl)
        }
        (StackOp::CrosvmToHaxm(r), V::Stack(S::Crosvm(c))) => {
            (V::Vmcs(rustvmm::crosvm_to_haxm(r, &c)), cpl)
        }
        (StackOp::CrosvmFromHaxm(_), V::Vmcs(v)) => {
            (V::Stack(S::Crosvm(rustvmm::crosvm_from_haxm(&v))), cpl)
        }
        (StackOp::MshvSet(r), V::Kvm(k)) => (V::Stack(S::Hv(rustvmm::mshv_set(r, &k))), cpl),
        (StackOp::MshvGet(r), V::Stack(S::Hv(h))) => (V::Kvm(rustvmm::mshv_get(r, &h)), cpl),
        (StackOp::OpenvmmFromKvm(r), V::Kvm(k)) => {
            (V::Stack(S::Hv(rustvmm::openvmm_from_kvm(r, &k))), cpl)
        }
        (StackOp::OpenvmmToKvm(r), V::Stack(S::Hv(h))) => {
            (V::Kvm(rustvmm::openvmm_to_kvm(r, &h)), cpl)
        }
        (StackOp::BochsRoundTrip(r), V::Vmcb(v)) => {
            let (v, c) = nested::bochs_round_trip(r, reg, &v, cpl);
            (V::Vmcb(v), c)
        }
        (StackOp::NestedSvmRoundTrip(r), V::Vmcb(v)) => {
            let (v, c) = nested::svm_l1_l2_round_trip(r, &v, cpl);
            (V::Vmcb(v), c)
        }
        (StackOp::NestedVmxRoundTrip(r), V::Vmcs(v)) => {
            (V::Vmcs(nested::vmx_l1_l2_round_trip(r, reg, &v)), cpl)
        }
        _ => wrong(op),
    };
    InFlight { value, vmcb_cpl }
}

/// A Hyper-V register read back as `kvm_segment` fields, exactly (unusable = !P): how
/// [`super::Chain::run_sregs`] leaves a chain that ends in a Hyper-V register file.
#[must_use]
pub(super) fn hv_as_kvm(h: &HvSegmentRegister) -> crate::format::kvm::KvmSegment {
    rustvmm::mshv_get(RuleSet::EMPTY, h)
}
