//! The documented normalisation of a chain: what the encoding, fixup and CPL-carrier
//! rules are allowed to change, stated on the architectural model.
//!
//! This is the specification verify holds the cooking code to. It is written against
//! [`Segment`], not the raw formats, so it is a second, independent statement of each
//! rule; loss rules have no normalisation, so whatever they change is a violation.

use crate::arch::{Attributes, PrivilegeLevel, SegReg, Segment, SegmentType};
use crate::profile::{Op, Rule};

/// What a segment may look like after `ops`, given the segment and CPL at the source.
///
/// `source` is borrowed and the whole rule walk inlined (with
/// [`super::normalise_stacks::apply`]) so the segment stays in registers: passed by
/// value it was copied through the stack with byte and 16-byte stores that the wide
/// loads here could not forward from (`perf annotate`: half of this function's samples).
/// Always inlined into `judge`: returned through memory, its result's byte stores
/// stalled the wide load comparing it with the chain's output.
#[must_use]
#[inline(always)]
pub fn expected(ops: &[Op], reg: SegReg, source: &Segment, cpl: PrivilegeLevel) -> Segment {
    let mut s = *source;
    for &op in ops {
        let a = &mut s.attributes;
        match op {
            Op::SvmGet(r) => {
                if r.has(Rule::SvmGetUnusableFromP) {
                    s.unusable = !a.present;
                }
                if r.has(Rule::SvmGetGFromLimit) {
                    a.g = s.limit > 0xf_ffff;
                }
                match reg {
                    SegReg::Tr if r.has(Rule::SvmGetTrBusy) => {
                        a.segment_type = a.segment_type.with_busy();
                    }
                    SegReg::Ds | SegReg::Es | SegReg::Fs | SegReg::Gs
                        if r.has(Rule::SvmGetDataAccessed) && !s.unusable =>
                    {
                        a.segment_type = a.segment_type.with_accessed();
                    }
                    SegReg::Ss => {
                        if r.has(Rule::SvmGetSsDbUnusable) && s.unusable {
                            a.db = false;
                        }
                        if r.has(Rule::SvmGetSsDplFromCpl) {
                            a.dpl = cpl;
                        }
                    }
                    _ => {}
                }
            }
            Op::SvmSet(r) => {
                if r.has(Rule::SvmSetPFromUnusable) {
                    a.present = a.present && !s.unusable;
                }
                // The VMCB says "unusable" only through P.
                s.unusable = !a.present;
            }
            Op::VmxGet(r) => {
                if r.has(Rule::VmxGetPresentFromUnusable) {
                    a.present = !s.unusable;
                }
            }
            Op::VmxSet(r) => {
                if r.has(Rule::VmxSetAccessedUnrestricted) && reg != SegReg::Ldtr {
                    a.segment_type = a.segment_type.with_accessed();
                }
                if r.has(Rule::VmxSetUnusableFromNotPresent) {
                    s.unusable = s.unusable || !a.present;
                }
            }
            Op::QemuGet(r) => {
                if r.has(Rule::QemuGetPFromUnusable) {
                    a.present = a.present && !s.unusable;
                }
                // QEMU's cache says "unusable" only through P.
                s.unusable = !a.present;
            }
            Op::QemuSet(r) => {
                if r.has(Rule::QemuSetV8086Seg) && reg != SegReg::Ldtr && reg != SegReg::Tr {
                    // set_v8086_seg: type 3, S, DPL 3, P, nothing else.
                    *a = Attributes {
                        segment_type: SegmentType::from_low_bits(3),
                        s: true,
                        dpl: PrivilegeLevel::Ring3,
                        present: true,
                        avl: false,
                        l: false,
                        db: false,
                        g: false,
                    };
                    s.unusable = false;
                } else {
                    s.unusable = r.has(Rule::QemuSetUnusableFromNotPresent) && !a.present;
                }
            }
            // Whole-state hooks: nothing in protected mode, one register at a time.
            Op::QemuMigrate(..) => {}
            Op::Stack(op) => super::normalise_stacks::apply(op, reg, &mut s, cpl),
        }
    }
    s
}
