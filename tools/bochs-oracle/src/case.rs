//! One test case: a guest state, the controls it is entered with, and the target.

use std::fmt;
use std::str::FromStr;

use segstate::arch::SegmentState;
use segstate::check::kvm_set_sregs::Cr4Allowed;
use segstate::check::vmx_entry::VmxEntryControls;

use crate::error::OracleError;

/// Which implementation the case is run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Bochs's VMLAUNCH guest-state checks (`cpu: model=corei7_skylake_x`).
    Vmx,
    /// Bochs's VMRUN consistency checks (`cpu: model=ryzen`).
    Svm,
    /// This host's KVM_SET_SREGS, for a vCPU whose CPUID allows these CR4 bits.
    KvmSetSregs(Cr4Allowed),
}

impl Target {
    /// The name on the command line and in the conformance table.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Target::Vmx => "vmx",
            Target::Svm => "svm",
            Target::KvmSetSregs(_) => "kvm-set-sregs",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = OracleError;
    fn from_str(s: &str) -> Result<Self, OracleError> {
        match s {
            "vmx" => Ok(Target::Vmx),
            "svm" => Ok(Target::Svm),
            // The CR4 bits are the vCPU's, known once it exists (crate::kvm).
            "kvm-set-sregs" => Ok(Target::KvmSetSregs(Cr4Allowed::all_known())),
            _ => Err(OracleError::Usage(format!(
                "unknown target {s:?}: expected vmx, svm or kvm-set-sregs"
            ))),
        }
    }
}

/// A state and the controls it is entered with. For SVM the controls are unused and
/// `state.cpl` is VMCB.CPL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    /// The guest state segstate models.
    pub state: SegmentState,
    /// VMX controls the rules depend on.
    pub controls: VmxEntryControls,
}

/// Something that decides cases: Bochs booted with a kernel, or this host's KVM.
pub trait Oracle {
    /// Decides every case; the outcomes are in the cases' order.
    ///
    /// # Errors
    /// The implementation could not be run or its answer not read.
    fn run(&self, cases: &[Case]) -> Result<Vec<Outcome>, OracleError>;
}

/// What an implementation did with a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Entry succeeded.
    pub accepted: bool,
    /// The result code: Bochs's (`S`, `G`, `Mxxxx`, `Vxxxx`) or the ioctl's errno.
    pub code: String,
    /// Bochs's error lines logged while entering this state (the failed check), or
    /// the ioctl's error.
    pub log: Vec<String>,
}
