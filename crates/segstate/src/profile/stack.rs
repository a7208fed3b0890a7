//! The other stacks in chains: the shapes their segments take in flight, the
//! conversions their steps perform, and how a step of theirs compiles.
//!
//! Kept apart from [`super::chain`] so the KVM/QEMU core stays as it was: a chain sees
//! one [`Op::Stack`] per conversion and one [`SegmentValue::Stack`] per shape.

use alloc::vec::Vec;
use core::fmt;

use super::chain::Shape;
use super::{Engine, Format, InFlight, Op, RuleSet, SegmentValue, Step};
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

/// A stack that reads the save area (or register file) below it into its model and
/// writes it back: `get` takes `hardware` to `model`, `set` takes it back.
struct Hop {
    get: StackOp,
    set: StackOp,
    hardware: Format,
    model: Shape,
    /// False where the stack's model is only ever written to `hardware` (crosvm's WHPX
    /// backend, mshv): the chain cannot start on that hardware there.
    reads_hardware: bool,
}

impl Hop {
    const fn new(get: StackOp, set: StackOp, hardware: Format, model: Shape) -> Hop {
        Hop {
            get,
            set,
            hardware,
            model,
            reads_hardware: true,
        }
    }

    /// A stack whose model is only ever written to the hardware, never read from it.
    const fn write_only(self) -> Hop {
        Hop {
            reads_hardware: false,
            ..self
        }
    }

    /// The hop of an engine that has one, with the step's rules.
    const fn of(engine: Engine, r: RuleSet) -> Option<Hop> {
        use Engine as E;
        use Format::{HyperV, Vmcb, Vmcs};
        use Model as M;
        use Shape::Stack;
        use StackOp as O;
        Some(match engine {
            E::XenSvm => Hop::new(O::XenSvmGet(r), O::XenSvmSet(r), Vmcb, Stack(M::Xen)),
            E::XenVmx => Hop::new(O::XenVmxGet(r), O::XenVmxSet(r), Vmcs, Stack(M::Xen)),
            E::BhyveSvm | E::IllumosSvm => {
                Hop::new(O::BhyveSvmGet(r), O::BhyveSvmSet(r), Vmcb, Stack(M::Bhyve))
            }
            E::BhyveVmx => Hop::new(O::BhyveVmxGet(r), O::BhyveVmxSet(r), Vmcs, Stack(M::Bhyve)),
            E::VboxSvm => Hop::new(
                O::VboxSvmImport(r),
                O::VboxSvmExport(r),
                Vmcb,
                Stack(M::Cpum),
            ),
            E::VboxVmx => Hop::new(
                O::VboxVmxImport(r),
                O::VboxVmxExport(r),
                Vmcs,
                Stack(M::Cpum),
            ),
            E::CrosvmWhpx => Hop::new(
                O::CrosvmFromWhpx(r),
                O::CrosvmToWhpx(r),
                HyperV,
                Stack(M::Crosvm),
            )
            .write_only(),
            E::CrosvmHaxm => Hop::new(
                O::CrosvmFromHaxm(r),
                O::CrosvmToHaxm(r),
                Vmcs,
                Stack(M::Crosvm),
            ),
            E::Mshv => Hop::new(O::MshvGet(r), O::MshvSet(r), HyperV, Shape::Kvm).write_only(),
            _ => return None,
        })
    }

    /// From the model: set (the last step ends on the hardware), then get it back for
    /// the next step. From the hardware: get.
    fn compile(&self, shape: Shape, last: bool, ops: &mut Vec<Op>) -> Option<Shape> {
        if shape == self.model {
            ops.push(Op::Stack(self.set));
            if last {
                return Some(Shape::Hardware(self.hardware));
            }
        } else if !(self.reads_hardware && shape == Shape::Hardware(self.hardware)) {
            return None;
        }
        ops.push(Op::Stack(self.get));
        Some(self.model)
    }
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
    use Format::{Vmcb, Vmcs};
    use Model as M;
    use Shape::{Hardware, Kvm, Stack};
    use StackOp as O;
    let r = step.rules;
    if let Some(next_shape) =
        Hop::of(step.profile.engine, r).and_then(|h| h.compile(shape, last, ops))
    {
        return Ok(next_shape);
    }
    // Conversions that leave the segment in the shape they found it in.
    let in_place = match (step.profile.engine, shape) {
        (E::XenSave, Stack(M::Xen)) => Some(O::XenSaveLoad(r)),
        (E::BhyveVmm | E::Propolis, Stack(M::Bhyve)) => Some(O::BhyveCarry(r)),
        (E::Bochs, Hardware(Vmcb)) => Some(O::BochsRoundTrip(r)),
        (E::NestedSvm, Hardware(Vmcb)) => Some(O::NestedSvmRoundTrip(r)),
        (E::NestedVmx, Hardware(Vmcs)) => Some(O::NestedVmxRoundTrip(r)),
        _ => None,
    };
    if let Some(op) = in_place {
        ops.push(Op::Stack(op));
        return Ok(shape);
    }
    let next_is_kvm = next.is_some_and(|e| matches!(e, E::KvmSvm | E::KvmVmx));
    // Reads `kvm_segment` into the model (`from`), and writes it back (`to`) when the
    // chain goes on to KVM or ends.
    let to_kvm = |ops: &mut Vec<Op>, from: Option<StackOp>, to: StackOp, model: Model| {
        if let Some(from) = from {
            ops.push(Op::Stack(from));
        }
        if last || next_is_kvm {
            ops.push(Op::Stack(to));
            Kvm
        } else {
            Stack(model)
        }
    };
    Ok(match (step.profile.engine, shape) {
        (E::VboxSav, Stack(M::Cpum)) => Stack(M::Cpum),
        (E::VboxNem, Kvm) => to_kvm(ops, Some(O::VboxNemImport(r)), O::VboxNemExport(r), M::Cpum),
        (E::Crosvm, Kvm) => to_kvm(ops, Some(O::CrosvmFromKvm(r)), O::CrosvmToKvm(r), M::Crosvm),
        (E::Crosvm, Stack(M::Crosvm)) => to_kvm(ops, None, O::CrosvmToKvm(r), M::Crosvm),
        (E::Openvmm, Kvm) => to_kvm(
            ops,
            Some(O::OpenvmmFromKvm(r)),
            O::OpenvmmToKvm(r),
            M::Openvmm,
        ),
        // From their own model these two always write `kvm_segment`.
        (E::VboxNem, Stack(M::Cpum)) => {
            ops.push(Op::Stack(O::VboxNemExport(r)));
            Kvm
        }
        (E::Openvmm, Stack(M::Openvmm)) => {
            ops.push(Op::Stack(O::OpenvmmToKvm(r)));
            Kvm
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

#[cold]
fn wrong(op: StackOp) -> ! {
    unreachable!("Chain::new orders ops so each one receives its own input shape ({op:?})")
}

/// One body of [`each_stack_op!`] as a function of the value in flight.
macro_rules! convert {
    ($op:expr, $cpl:ident, $pat:pat => $body:expr) => {
        |at: &InFlight| {
            let $cpl = at.vmcb_cpl;
            let (value, vmcb_cpl) = match at.value {
                $pat => $body,
                _ => wrong($op),
            };
            InFlight { value, vmcb_cpl }
        }
    };
}

/// A conversion's output and CPL byte ([`super::stack_stages`]), the output as the
/// interpreter holds it.
#[inline(always)]
fn via<T>((value, cpl): (T, u8), wrap: impl FnOnce(T) -> SegmentValue) -> (SegmentValue, u8) {
    (wrap(value), cpl)
}

/// Each conversion, for [`apply`] and [`apply_batch`]: the match on the op is taken
/// outside `$each!`, which runs one body on one value or on every value of a batch. A
/// body is `cpl, input pattern => output value, output CPL byte`: the conversion's
/// function in [`super::stack_stages`] (where each is written once, for the pipelines
/// too), its output wrapped in its variant.
macro_rules! each_stack_op {
    ($op:expr, $reg:expr, $each:ident) => {{
        use SegmentValue as V;
        use StackOp as O;
        use StackValue as S;
        use super::stack_stages as st;
        let reg: SegReg = $reg;
        match $op {
            O::XenSvmSet(r) => $each!(cpl, V::Stack(S::Xen(x)) => via(st::xen_svm_set(r, reg, &x, cpl), V::Vmcb)),
            O::BhyveSvmSet(r) => $each!(cpl, V::Stack(S::Bhyve(b)) => via(st::bhyve_svm_set(r, reg, &b, cpl), V::Vmcb)),
            O::BhyveCarry(r) => $each!(cpl, V::Stack(S::Bhyve(b)) => via(st::bhyve_carry(r, reg, &b, cpl), |b| V::Stack(S::Bhyve(b)))),
            O::VboxSvmExport(r) => $each!(cpl, V::Stack(S::Cpum(c)) => via(st::vbox_svm_export(r, reg, &c, cpl), V::Vmcb)),
            O::BochsRoundTrip(r) => $each!(cpl, V::Vmcb(v) => via(st::bochs_round_trip(r, reg, &v, cpl), V::Vmcb)),
            O::NestedSvmRoundTrip(r) => $each!(cpl, V::Vmcb(v) => via(st::nested_svm_round_trip(r, reg, &v, cpl), V::Vmcb)),
            O::XenSvmGet(r) => $each!(cpl, V::Vmcb(v) => via(st::xen_svm_get(r, reg, &v, cpl), |x| V::Stack(S::Xen(x)))),
            O::XenVmxGet(r) => $each!(cpl, V::Vmcs(v) => via(st::xen_vmx_get(r, reg, &v, cpl), |x| V::Stack(S::Xen(x)))),
            O::XenVmxSet(r) => $each!(cpl, V::Stack(S::Xen(x)) => via(st::xen_vmx_set(r, reg, &x, cpl), V::Vmcs)),
            O::XenSaveLoad(r) => $each!(cpl, V::Stack(S::Xen(x)) => via(st::xen_save_load(r, reg, &x, cpl), |x| V::Stack(S::Xen(x)))),
            O::BhyveSvmGet(r) => $each!(cpl, V::Vmcb(v) => via(st::bhyve_svm_get(r, reg, &v, cpl), |b| V::Stack(S::Bhyve(b)))),
            O::BhyveVmxGet(r) => $each!(cpl, V::Vmcs(v) => via(st::bhyve_vmx_get(r, reg, &v, cpl), |b| V::Stack(S::Bhyve(b)))),
            O::BhyveVmxSet(r) => $each!(cpl, V::Stack(S::Bhyve(b)) => via(st::bhyve_vmx_set(r, reg, &b, cpl), V::Vmcs)),
            O::VboxSvmImport(r) => $each!(cpl, V::Vmcb(v) => via(st::vbox_svm_import(r, reg, &v, cpl), |c| V::Stack(S::Cpum(c)))),
            O::VboxVmxImport(r) => $each!(cpl, V::Vmcs(v) => via(st::vbox_vmx_import(r, reg, &v, cpl), |c| V::Stack(S::Cpum(c)))),
            O::VboxVmxExport(r) => $each!(cpl, V::Stack(S::Cpum(c)) => via(st::vbox_vmx_export(r, reg, &c, cpl), V::Vmcs)),
            O::VboxNemImport(r) => $each!(cpl, V::Kvm(k) => via(st::vbox_nem_import(r, reg, &k, cpl), |c| V::Stack(S::Cpum(c)))),
            O::VboxNemExport(r) => $each!(cpl, V::Stack(S::Cpum(c)) => via(st::vbox_nem_export(r, reg, &c, cpl), V::Kvm)),
            O::CrosvmFromKvm(r) => $each!(cpl, V::Kvm(k) => via(st::crosvm_from_kvm(r, reg, &k, cpl), |c| V::Stack(S::Crosvm(c)))),
            O::CrosvmToKvm(r) => $each!(cpl, V::Stack(S::Crosvm(c)) => via(st::crosvm_to_kvm(r, reg, &c, cpl), V::Kvm)),
            O::CrosvmToWhpx(r) => $each!(cpl, V::Stack(S::Crosvm(c)) => via(st::crosvm_to_whpx(r, reg, &c, cpl), |h| V::Stack(S::Hv(h)))),
            O::CrosvmFromWhpx(r) => $each!(cpl, V::Stack(S::Hv(h)) => via(st::crosvm_from_whpx(r, reg, &h, cpl), |c| V::Stack(S::Crosvm(c)))),
            O::CrosvmToHaxm(r) => $each!(cpl, V::Stack(S::Crosvm(c)) => via(st::crosvm_to_haxm(r, reg, &c, cpl), V::Vmcs)),
            O::CrosvmFromHaxm(r) => $each!(cpl, V::Vmcs(v) => via(st::crosvm_from_haxm(r, reg, &v, cpl), |c| V::Stack(S::Crosvm(c)))),
            O::MshvSet(r) => $each!(cpl, V::Kvm(k) => via(st::mshv_set(r, reg, &k, cpl), |h| V::Stack(S::Hv(h)))),
            O::MshvGet(r) => $each!(cpl, V::Stack(S::Hv(h)) => via(st::mshv_get(r, reg, &h, cpl), V::Kvm)),
            O::OpenvmmFromKvm(r) => $each!(cpl, V::Kvm(k) => via(st::openvmm_from_kvm(r, reg, &k, cpl), |h| V::Stack(S::Hv(h)))),
            O::OpenvmmToKvm(r) => $each!(cpl, V::Stack(S::Hv(h)) => via(st::openvmm_to_kvm(r, reg, &h, cpl), V::Kvm)),
            O::NestedVmxRoundTrip(r) => $each!(cpl, V::Vmcs(v) => via(st::nested_vmx_round_trip(r, reg, &v, cpl), V::Vmcs)),
        }
    }};
}

/// Runs one conversion of another stack. `at.vmcb_cpl` is the CPL byte as far as the
/// path carries it; it passes through every conversion but those that write it.
#[must_use]
pub(super) fn apply(op: StackOp, reg: SegReg, at: InFlight) -> InFlight {
    macro_rules! one {
        ($($body:tt)*) => {
            convert!(op, $($body)*)(&at)
        };
    }
    each_stack_op!(op, reg, one)
}

/// [`apply`] over a batch, with the match on the op hoisted out of the loop (as
/// `super::apply::apply_batch` does for the KVM/QEMU ops): the same bodies, each run
/// over every value, in place.
pub(super) fn apply_batch(op: StackOp, reg: SegReg, values: &mut [InFlight]) {
    macro_rules! every {
        ($($body:tt)*) => {{
            let convert = convert!(op, $($body)*);
            for at in values.iter_mut() {
                *at = convert(at);
            }
        }};
    }
    each_stack_op!(op, reg, every);
}

/// A Hyper-V register read back as `kvm_segment` fields, exactly (unusable = !P): how
/// [`super::Chain::run_sregs`] leaves a chain that ends in a Hyper-V register file.
#[must_use]
pub(super) fn hv_as_kvm(h: &HvSegmentRegister) -> crate::format::kvm::KvmSegment {
    super::rustvmm::mshv_get(RuleSet::EMPTY, h)
}
