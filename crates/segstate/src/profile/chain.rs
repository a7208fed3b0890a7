//! Chains: a sequence of profile steps modelling one real path a vCPU state takes.
//!
//! `kvm-svm > qemu > kvm-svm` reads: the state starts in a VMCB, KVM on AMD reports it
//! (KVM_GET_SREGS), QEMU takes it into its CPU model and puts it back (get_seg then
//! set_seg), and KVM on AMD writes it into a VMCB (KVM_SET_SREGS). A hypervisor in
//! the middle of a chain is a hardware hop (set, then get). Two VMM steps in a row are
//! a migration between VMM versions: the first gets, the model travels, the second sets.
//! A chain that starts with a VMM starts from `kvm_sregs`.
//!
//! A step may switch rules off or on: `kvm-svm[-svm.get.data-accessed] > qemu > kvm-vmx`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

mod previous;
mod run;
mod sregs;
mod value_eq;

#[cfg(test)]
pub(crate) use run::collect;

use super::compiled_cell::CompiledCell;
use super::stack::{self, StackOp, StackValue};
use super::{Engine, Profile, Rule, RuleSet, UnknownProfile};
use crate::arch::{PerSegReg, PrivilegeLevel, SegReg};
use crate::format::hyperv::HvSegmentRegister;
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::format::svm::VmcbSegment;
use crate::format::vmx::VmxSegment;

/// One step of a chain: a profile, possibly with rules switched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// The profile.
    pub profile: Profile,
    /// The rules in force (the profile's, unless switched).
    pub rules: RuleSet,
}

impl Step {
    /// A step running `profile` as defined.
    #[must_use]
    pub const fn new(profile: Profile) -> Self {
        Step {
            profile,
            rules: profile.rules,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.profile.name)?;
        let removed = self.profile.rules.iter().filter(|r| !self.rules.has(*r));
        let added = self.rules.iter().filter(|r| !self.profile.rules.has(*r));
        let mut first = true;
        for (sign, rule) in removed.map(|r| ('-', r)).chain(added.map(|r| ('+', r))) {
            f.write_str(if first { "[" } else { "," })?;
            write!(f, "{sign}{rule}")?;
            first = false;
        }
        if !first {
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// Where a chain starts or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// An AMD VMCB (segments and the CPL byte).
    Vmcb,
    /// An Intel VMCS (guest segment fields).
    Vmcs,
    /// KVM's `kvm_sregs`.
    Kvm,
    /// A Hyper-V / WHP register file (MSHV, WHPX): where chains into Hyper-V end.
    HyperV,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Vmcb => "VMCB",
            Format::Vmcs => "VMCS",
            Format::Kvm => "kvm_sregs",
            Format::HyperV => "Hyper-V registers",
        })
    }
}

/// One conversion a chain performs on each segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub(crate) enum Op {
    /// svm_get_segment.
    SvmGet(RuleSet),
    /// svm_set_segment.
    SvmSet(RuleSet),
    /// vmx_get_segment.
    VmxGet(RuleSet),
    /// vmx_set_segment.
    VmxSet(RuleSet),
    /// QEMU get_seg.
    QemuGet(RuleSet),
    /// QEMU set_seg.
    QemuSet(RuleSet),
    /// A QEMU migration stream between two QEMU steps: the source's `cpu_pre_save`
    /// and the destination's `cpu_post_load` (see [`Chain::run_migration`]).
    QemuMigrate(RuleSet, RuleSet),
    /// A conversion of another stack (Xen, bhyve, VirtualBox, the Rust VMMs, nested).
    Stack(StackOp),
}

impl Op {
    /// True for KVM's and QEMU's get and set: the ops whose outputs are proven to depend
    /// only on what `profile/compiled.rs` keys on (tested against the interpreted ops
    /// over whole domains). Chains with other ops run through the pipelines of
    /// `profile/specialised.rs` when of a built-in shape, else interpreted.
    #[must_use]
    pub const fn is_kvm_or_qemu(self) -> bool {
        matches!(
            self,
            Op::SvmGet(_)
                | Op::SvmSet(_)
                | Op::VmxGet(_)
                | Op::VmxSet(_)
                | Op::QemuGet(_)
                | Op::QemuSet(_)
        )
    }

    /// The upstream function the op runs.
    #[must_use]
    pub const fn function(self) -> &'static str {
        match self {
            Op::SvmGet(_) => "svm_get_segment",
            Op::SvmSet(_) => "svm_set_segment",
            Op::VmxGet(_) => "vmx_get_segment",
            Op::VmxSet(_) => "vmx_set_segment",
            Op::QemuGet(_) => "qemu get_seg",
            Op::QemuSet(_) => "qemu set_seg",
            Op::QemuMigrate(..) => "qemu cpu_pre_save + cpu_post_load",
            Op::Stack(op) => op.function(),
        }
    }
}

/// A segment in one of the shapes a chain passes through.
/// Compared and hashed as derived, written out in `value_eq` so the comparison inlines.
#[derive(Clone, Copy, Debug, Eq)]
#[non_exhaustive]
pub enum SegmentValue {
    /// VMCB segment.
    Vmcb(VmcbSegment),
    /// VMCS guest segment.
    Vmcs(VmxSegment),
    /// `kvm_segment`.
    Kvm(KvmSegment),
    /// QEMU `SegmentCache`.
    Qemu(QemuSegmentCache),
    /// Another stack's shape.
    Stack(StackValue),
}

impl SegmentValue {
    /// The segment the value means, strictly decoded; `None` when its bytes mean no
    /// segment (garbage in a `kvm_segment`, reserved bits). Always inlined: verify
    /// decodes every executed output (`BENCHMARKS.md` §2, step 25).
    #[must_use]
    #[inline(always)]
    pub fn decode(&self) -> Option<crate::arch::Segment> {
        use crate::arch::Segment;
        match *self {
            SegmentValue::Vmcb(v) => Segment::try_from(v).ok(),
            SegmentValue::Vmcs(v) => Segment::try_from(v).ok(),
            SegmentValue::Kvm(k) => Segment::try_from(k).ok(),
            SegmentValue::Qemu(q) => Segment::try_from(q).ok(),
            SegmentValue::Stack(s) => s.decode(),
        }
    }
}

/// A segment on its way through a chain, with the VMCB CPL byte when it is in a VMCB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InFlight {
    /// The segment.
    pub value: SegmentValue,
    /// VMCB.CPL: read by svm_get_segment for SS, written by svm_set_segment for SS. A
    /// VMCB the chain writes into starts at 0, as a fresh VMCB does.
    pub vmcb_cpl: u8,
}

/// All eight segments of a vCPU in one of a chain's end formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VcpuSegments {
    /// A VMCB's segments and its CPL byte.
    Vmcb {
        /// Segments.
        segments: PerSegReg<VmcbSegment>,
        /// VMCB.CPL.
        cpl: u8,
    },
    /// A VMCS's guest segments.
    Vmcs(PerSegReg<VmxSegment>),
    /// `kvm_sregs` segments.
    Kvm(PerSegReg<KvmSegment>),
    /// Hyper-V segment registers (the CPL is SS's DPL, as MSHV and WHP take it).
    HyperV(PerSegReg<HvSegmentRegister>),
}

impl VcpuSegments {
    /// The format.
    #[must_use]
    pub const fn format(&self) -> Format {
        match self {
            VcpuSegments::Vmcb { .. } => Format::Vmcb,
            VcpuSegments::Vmcs(_) => Format::Vmcs,
            VcpuSegments::Kvm(_) => Format::Kvm,
            VcpuSegments::HyperV(_) => Format::HyperV,
        }
    }

    /// The CPL the state means: VMCB.CPL on AMD, SS.DPL in a VMCS and in KVM's UAPI.
    #[must_use]
    pub fn cpl(&self) -> PrivilegeLevel {
        match self {
            VcpuSegments::Vmcb { cpl, .. } => PrivilegeLevel::from_low_bits(*cpl),
            VcpuSegments::Vmcs(s) => s[SegReg::Ss].access_rights.dpl(),
            VcpuSegments::Kvm(s) => PrivilegeLevel::from_low_bits(s[SegReg::Ss].dpl),
            VcpuSegments::HyperV(s) => s[SegReg::Ss].attributes.attributes().dpl,
        }
    }

    /// One register, with the CPL byte when in a VMCB.
    #[must_use]
    pub fn in_flight(&self, reg: SegReg) -> InFlight {
        match self {
            VcpuSegments::Vmcb { segments, cpl } => InFlight {
                value: SegmentValue::Vmcb(segments[reg]),
                vmcb_cpl: *cpl,
            },
            VcpuSegments::Vmcs(s) => InFlight {
                value: SegmentValue::Vmcs(s[reg]),
                vmcb_cpl: 0,
            },
            VcpuSegments::Kvm(s) => InFlight {
                value: SegmentValue::Kvm(s[reg]),
                vmcb_cpl: 0,
            },
            VcpuSegments::HyperV(s) => InFlight {
                value: SegmentValue::Stack(StackValue::Hv(s[reg])),
                vmcb_cpl: 0,
            },
        }
    }
}

/// A value given to a chain that starts from another format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WrongSourceFormat {
    /// What the chain starts from.
    pub expected: Format,
    /// What was given.
    pub found: Format,
}

impl fmt::Display for WrongSourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the chain starts from {}, got {}",
            self.expected, self.found
        )
    }
}

impl core::error::Error for WrongSourceFormat {}

impl From<WrongSourceFormat> for ChainError {
    fn from(e: WrongSourceFormat) -> Self {
        ChainError::WrongSourceFormat {
            expected: e.expected,
            found: e.found,
        }
    }
}

/// Why a chain cannot be built or run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// The chain text has no steps.
    Empty,
    /// A profile name is not defined.
    UnknownProfile(UnknownProfile),
    /// A rule switch names an undefined rule or is malformed.
    BadRuleSwitch {
        /// The step's text.
        step: String,
        /// What is wrong.
        reason: String,
    },
    /// Three VMM steps in a row, or a QEMU model handed to a verbatim VMM.
    BadVmmSequence {
        /// The step's text.
        step: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The state given to [`Chain::run`] is not in the chain's source format.
    WrongSourceFormat {
        /// What the chain starts from.
        expected: Format,
        /// What was given.
        found: Format,
    },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::Empty => {
                f.write_str("empty chain or empty step: give profile names separated by '>'")
            }
            ChainError::UnknownProfile(e) => e.fmt(f),
            ChainError::BadRuleSwitch { step, reason } => {
                write!(f, "step `{step}`: {reason}")
            }
            ChainError::BadVmmSequence { step, reason } => write!(f, "step `{step}`: {reason}"),
            ChainError::WrongSourceFormat { expected, found } => {
                write!(f, "the chain starts from {expected}, got {found}")
            }
        }
    }
}

impl core::error::Error for ChainError {}

/// A chain of profile steps, compiled into the conversions it performs.
///
/// The steps and ops stay data (verify switches rules off one by one); running a chain
/// uses its compiled form (`profile/specialised.rs`: one monomorphised pipeline per
/// shape of the built-in chains; `profile/compiled.rs`: tables for other shapes, see
/// [`Chain::compile`]), checked equal to the interpreted ops by the tests.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chain {
    steps: Vec<Step>,
    ops: Vec<Op>,
    source: Format,
    destination: Format,
    compiled: CompiledCell,
}

/// Where a chain's value is between steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// In a save area.
    Hardware(Format),
    /// In `kvm_segment`.
    Kvm,
    /// In QEMU's model, between two QEMU steps.
    QemuModel,
    /// In a pass-through VMM, between two verbatim steps.
    VerbatimModel,
    /// In another stack's model.
    Stack(stack::Model),
}

impl Chain {
    /// Compiles steps into conversions.
    pub fn new(steps: Vec<Step>) -> Result<Self, ChainError> {
        let first = steps.first().ok_or(ChainError::Empty)?;
        let mut shape = match first.profile.engine.hardware() {
            Some(Format::HyperV) => {
                return Err(ChainError::BadVmmSequence {
                    step: first.to_string(),
                    reason: "no chain starts from a Hyper-V register file: start from the save area or the kvm_sregs it came from",
                });
            }
            Some(format) => Shape::Hardware(format),
            None => Shape::Kvm,
        };
        let source = format_of(shape);
        let mut ops = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let last = i + 1 == steps.len();
            let next_engine = steps.get(i + 1).map(|s| s.profile.engine);
            // The next step is a VMM (QEMU or verbatim) rather than a hypervisor.
            let vmm_follows = next_engine.is_some_and(|e| !e.is_hypervisor());
            let rules = step.rules;
            let bad = |reason| ChainError::BadVmmSequence {
                step: step.to_string(),
                reason,
            };
            shape = match (step.profile.engine, shape) {
                (Engine::KvmSvm, Shape::Hardware(Format::Vmcb)) => {
                    ops.push(Op::SvmGet(rules));
                    Shape::Kvm
                }
                (Engine::KvmVmx, Shape::Hardware(Format::Vmcs)) => {
                    ops.push(Op::VmxGet(rules));
                    Shape::Kvm
                }
                (engine @ (Engine::KvmSvm | Engine::KvmVmx), Shape::Kvm) => {
                    // KVM sets the save area; a later step reads it back.
                    let (set, get, area) = if engine == Engine::KvmSvm {
                        (Op::SvmSet(rules), Op::SvmGet(rules), Format::Vmcb)
                    } else {
                        (Op::VmxSet(rules), Op::VmxGet(rules), Format::Vmcs)
                    };
                    ops.push(set);
                    if last {
                        Shape::Hardware(area)
                    } else {
                        ops.push(get);
                        Shape::Kvm
                    }
                }
                (Engine::Qemu, Shape::Kvm) => {
                    ops.push(Op::QemuGet(rules));
                    if vmm_follows {
                        Shape::QemuModel
                    } else {
                        ops.push(Op::QemuSet(rules));
                        Shape::Kvm
                    }
                }
                (Engine::Qemu, Shape::QemuModel) => {
                    if vmm_follows {
                        return Err(bad(
                            "at most two VMM steps in a row (source and destination)",
                        ));
                    }
                    ops.push(Op::QemuMigrate(steps[i - 1].rules, rules));
                    ops.push(Op::QemuSet(rules));
                    Shape::Kvm
                }
                (Engine::Verbatim, Shape::Kvm) => {
                    if vmm_follows {
                        Shape::VerbatimModel
                    } else {
                        Shape::Kvm
                    }
                }
                (Engine::Verbatim, Shape::VerbatimModel) => {
                    if vmm_follows {
                        return Err(bad(
                            "at most two VMM steps in a row (source and destination)",
                        ));
                    }
                    Shape::Kvm
                }
                (Engine::Qemu, Shape::VerbatimModel) | (Engine::Verbatim, Shape::QemuModel) => {
                    return Err(bad("a VMM migrates only to a VMM with the same CPU model"));
                }
                (_, Shape::QemuModel | Shape::VerbatimModel) => {
                    return Err(bad("a VMM model must be set back into KVM by a VMM"));
                }
                (_, shape) => {
                    stack::compile(step, shape, last, next_engine, &mut ops).map_err(bad)?
                }
            };
        }
        if let (Shape::Stack(_), Some(step)) = (shape, steps.last()) {
            return Err(ChainError::BadVmmSequence {
                step: step.to_string(),
                reason: "a chain ends in a save area or in kvm_sregs: end it with the hypervisor that restores the model",
            });
        }
        let destination = format_of(shape);
        Ok(Chain {
            steps,
            compiled: CompiledCell::new(&ops),
            ops,
            source,
            destination,
        })
    }

    /// The steps.
    #[must_use]
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The conversions, in order.
    #[must_use]
    pub(crate) fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// What the chain starts from.
    #[must_use]
    pub const fn source(&self) -> Format {
        self.source
    }

    /// What the chain ends in.
    #[must_use]
    pub const fn destination(&self) -> Format {
        self.destination
    }

    /// True when every step runs today's fixed profile of its engine, rules untouched
    /// (or is `verbatim`): the chain models current code.
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.steps.iter().all(|s| {
            s.profile == Profile::current_of(s.profile.engine) && s.rules == s.profile.rules
        })
    }

    /// The rules of every step, united.
    #[must_use]
    pub fn rules(&self) -> RuleSet {
        self.steps.iter().fold(RuleSet::EMPTY, |acc, s| {
            s.rules.iter().fold(acc, RuleSet::with)
        })
    }

    /// The same chain with `rule` switched off in every step that has it.
    #[must_use]
    pub fn without(&self, rule: Rule) -> Chain {
        let steps = self
            .steps
            .iter()
            .map(|s| Step {
                profile: s.profile,
                rules: s.rules.without(rule),
            })
            .collect();
        Chain::new(steps).expect("switching a rule off keeps the chain's shape")
    }

    /// Compiles the chain now. A chain of a built-in chain's shape is compiled when it
    /// is built (a monomorphised pipeline); another one gets tables, built here or once
    /// it has run about two million segments (what building costs), so that a chain run
    /// a few times never pays for them. False when the chain runs interpreted: its
    /// outputs depend on more than a segment's attributes, e.g. on the previous QEMU
    /// cache.
    pub fn compile(&self) -> bool {
        self.compiled.fast().is_some() || self.compiled.tables(self).is_some()
    }

    /// One register through the chain's tables alone, building them if need be:
    /// `None` when the chain has none or `input` is outside their key space. For the
    /// tests that hold the tables to the interpreter over verify's whole domain.
    #[cfg(test)]
    pub(crate) fn tabled(&self, reg: SegReg, input: &InFlight) -> Option<InFlight> {
        self.compiled.tables(self)?.run(reg, input)
    }
}

fn format_of(shape: Shape) -> Format {
    match shape {
        Shape::Hardware(format) => format,
        _ => Format::Kvm,
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(" > ")?;
            }
            step.fmt(f)?;
        }
        Ok(())
    }
}
