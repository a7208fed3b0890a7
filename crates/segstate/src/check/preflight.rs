//! Preflight: judge a state for the place it is about to go, before it goes there.
//!
//! A VMM holding a `kvm_sregs` (from a snapshot, a migration stream, its own CPU model)
//! asks: will `KVM_SET_SREGS` and the next VM entry take this, and at the CPL I mean?
//! [`kvm_sregs`] answers that for a [`Target`]: it decodes every segment strictly,
//! puts the state through the set path of today's KVM for the target vendor (what the
//! VMCS or VMCB will really hold: [`crate::profile::vmx::kvm_vmcs_segments`],
//! [`crate::profile::svm::kvm_vmcb_segments`]) and runs the target's rules on that.
//! [`state`] judges a state as the hardware holds it (a VMCS or VMCB dump), unchanged.
//!
//! ```
//! use segstate::arch::{PrivilegeLevel, SegmentState};
//! use segstate::check::preflight::{self, Target};
//! use segstate::check::vmx_entry::VmxEntryControls;
//! use segstate::verify::baseline;
//!
//! // A Linux user-mode state: every target takes it.
//! let user: SegmentState = baseline(PrivilegeLevel::Ring3);
//! let intel = Target::IntelVmEntry(VmxEntryControls::kvm_default(user.efer));
//! assert!(preflight::state(&user, intel).is_empty());
//!
//! // SS.DPL 0 under a user CS: the CPL KVM would take from SS is not the user's.
//! let mut bad = user;
//! bad.segments[segstate::arch::SegReg::Ss].attributes.dpl = PrivilegeLevel::Ring0;
//! let ids: Vec<_> = preflight::state(&bad, intel).iter().map(|f| f.id.id()).collect();
//! assert!(ids.contains(&"vmx.entry.cs.dpl-nonconforming"), "{ids:?}");
//! ```

use alloc::vec::Vec;

use super::{Finding, Severity, arch, svm_vmrun, vmx_entry};
use crate::arch::{EFER_SVME, PrivilegeLevel, SegReg, Segment, SegmentState};
use crate::format::FormatError;
use crate::format::kvm::KvmSregs;
use crate::profile::{svm, vmx};

/// Where a state is going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// The architecture alone: could a real CPU be in this state at all?
    Architecture,
    /// Intel VM entry with these controls: the architectural rules and the guest-state
    /// checks of SDM Vol. 3C §27.3.1.
    IntelVmEntry(vmx_entry::VmxEntryControls),
    /// AMD VMRUN: the architectural rules (on the cache as AMD keeps it, see
    /// [`arch::canonical_vmcb_cache`]) and the consistency checks of APM Vol. 2
    /// §15.5.1.
    AmdVmrun,
}

/// Every finding of `target`'s rules on `state` as given (the state a VMCS or VMCB
/// holds), most severe first.
#[must_use]
pub fn state(state: &SegmentState, target: Target) -> Vec<Finding> {
    let mut out = match target {
        Target::Architecture => arch::check(state),
        Target::IntelVmEntry(controls) => {
            let mut all = arch::check(state);
            all.extend(vmx_entry::check(state, controls));
            all
        }
        Target::AmdVmrun => {
            let mut cache = *state;
            cache.segments = state
                .segments
                .map(|reg, s| arch::canonical_vmcb_cache(reg, *s));
            let mut all = arch::check(&cache);
            all.extend(svm_vmrun::check(state));
            all
        }
    };
    out.sort_by_key(|f| core::cmp::Reverse(f.severity));
    out
}

/// True when `target` reports no error for `state` (warnings allowed).
#[must_use]
pub fn accepts(state: &SegmentState, target: Target) -> bool {
    self::state(state, target)
        .iter()
        .all(|f| f.severity != Severity::Error)
}

/// The state `KVM_SET_SREGS` would hand to `target`: the segments of `sregs` decoded
/// strictly, put through today's KVM set path for the target's vendor, the CPL from
/// SS.DPL (KVM's only carrier of it), and `rflags` (a `kvm_sregs` has none).
///
/// # Errors
///
/// The first segment whose bytes no format can mean (a DPL above 3, a type above 15,
/// a flag byte above 1), naming the register's field.
pub fn kvm_entered_state(
    sregs: &KvmSregs,
    rflags: u64,
    target: Target,
) -> Result<SegmentState, FormatError> {
    let segments = sregs.decode_segments().map_err(|e| e.error)?;
    let given = SegmentState {
        segments,
        cpl: PrivilegeLevel::from_low_bits(sregs.ss.dpl),
        cr0: sregs.cr0,
        cr4: sregs.cr4,
        efer: sregs.efer,
        rflags,
    };
    kvm_set_path(&given, target)
}

/// A state given to `KVM_SET_SREGS` (a `kvm_sregs`, or a QEMU dump: what QEMU hands
/// to KVM) as `target` will hold it: on Intel the segments `vmx_set_segment` writes
/// into the VMCS ([`vmx::kvm_vmcs_segments`]: a not-present segment becomes unusable,
/// with unrestricted guest the accessed bit is set), on AMD those `svm_set_segment`
/// writes into the VMCB ([`svm::kvm_vmcb_segments`]: P = present && !unusable) with
/// EFER.SVME set (`svm_set_efer`). The one path every guest's-view state takes to a
/// VM-entry target.
///
/// # Errors
///
/// A segment the VMCS or VMCB form cannot turn back into a [`Segment`].
pub fn kvm_set_path(given: &SegmentState, target: Target) -> Result<SegmentState, FormatError> {
    let mut out = *given;
    match target {
        Target::Architecture => {}
        Target::IntelVmEntry(_) => {
            let vmcs = vmx::kvm_vmcs_segments(&given.segments);
            for reg in SegReg::ALL {
                out.segments[reg] = Segment::try_from(vmcs[reg])?;
            }
        }
        Target::AmdVmrun => {
            let vmcb = svm::kvm_vmcb_segments(&given.segments);
            for reg in SegReg::ALL {
                out.segments[reg] = Segment::try_from(vmcb[reg])?;
            }
            out.efer |= EFER_SVME;
        }
    }
    Ok(out)
}

/// Preflight of a `kvm_sregs` about to be given to `KVM_SET_SREGS`: every finding of
/// `target`'s rules on [`kvm_entered_state`], most severe first.
///
/// # Errors
///
/// As [`kvm_entered_state`]: a segment that does not decode.
///
/// ```
/// use segstate::check::CheckId;
/// use segstate::check::preflight::{self, Target};
/// use segstate::check::vmx_entry::VmxEntryControls;
/// use segstate::format::kvm::KvmSregs;
/// use segstate::verify::baseline;
///
/// // What KVM_GET_SREGS returned for a user-mode vCPU, and its RFLAGS from kvm_regs.
/// let user = baseline(segstate::arch::PrivilegeLevel::Ring3);
/// let mut sregs = KvmSregs::default();
/// for (reg, seg) in user.segments.iter() {
///     *sregs.segment_mut(reg) = (*seg).into();
/// }
/// (sregs.cr0, sregs.cr4, sregs.efer) = (user.cr0, user.cr4, user.efer);
/// let intel = Target::IntelVmEntry(VmxEntryControls::kvm_default(sregs.efer));
/// assert!(preflight::kvm_sregs(&sregs, 0x202, intel)?.is_empty());
///
/// // A VMM that zeroes the flags of an unusable SS (QEMU before 2.10) sends SS.DPL 0:
/// // KVM would run the user code at CPL 0, and VM entry says so.
/// sregs.ss.unusable = 1;
/// sregs.ss.present = 0;
/// sregs.ss.dpl = 0;
/// let findings = preflight::kvm_sregs(&sregs, 0x202, intel)?;
/// assert!(findings.iter().any(|f| f.id == CheckId::VmxEntryCsDplNonconforming));
/// # Ok::<(), segstate::format::FormatError>(())
/// ```
pub fn kvm_sregs(
    sregs: &KvmSregs,
    rflags: u64,
    target: Target,
) -> Result<Vec<Finding>, FormatError> {
    Ok(state(&kvm_entered_state(sregs, rflags, target)?, target))
}
