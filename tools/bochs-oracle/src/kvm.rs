//! The kvm-set-sregs oracle: each case through this host's real `KVM_SET_SREGS` on a
//! vCPU built by the live harness (`segstate_kvm::machine::Machine`: guest RAM, the
//! CPUID KVM reports as supported). No guest code runs: KVM_RUN is never called.
//!
//! A case becomes a `kvm_sregs` from the vCPU's own (KVM_GET_SREGS after creation)
//! with the case's segments, CR0, CR4 and EFER; CR3 stays 0 (a legal GPA) and the
//! APIC base stays KVM's, so only what segstate models varies.

use std::time::Duration;

use kvm_bindings::KVM_MAX_CPUID_ENTRIES;
use segstate::arch::SegReg;
use segstate::check::kvm_set_sregs::Cr4Allowed;
use segstate::format::kvm::{KvmSegment, KvmSregs};
use segstate_kvm::machine::{Machine, open_kvm};
use segstate_kvm::{HostInfo, kvm_available};

use crate::case::{Case, Oracle, Outcome};
use crate::error::OracleError;

/// A vCPU to set states on.
#[derive(Debug)]
pub struct SregsProbe {
    machine: Machine,
    base: KvmSregs,
    /// The CR4 bits this vCPU's CPUID allows (the target's model input).
    pub cr4: Cr4Allowed,
    /// What `/dev/kvm` is.
    pub host: HostInfo,
}

fn kvm_error(what: &str, detail: impl std::fmt::Display) -> OracleError {
    OracleError::Tool {
        program: "kvm".into(),
        detail: format!("{what}: {detail}"),
    }
}

impl SregsProbe {
    /// Opens `/dev/kvm` and builds the vCPU.
    ///
    /// # Errors
    /// No usable KVM, or a setup ioctl fails.
    pub fn new() -> Result<Self, OracleError> {
        let host = kvm_available().map_err(|e| kvm_error("/dev/kvm", e))?;
        let kvm = open_kvm().map_err(|e| kvm_error("/dev/kvm", e))?;
        let cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(|e| kvm_error("KVM_GET_SUPPORTED_CPUID", e))?;
        let entries = cpuid.as_slice().to_vec();
        let cr4 = Cr4Allowed::from_cpuid(|function, index| {
            entries
                .iter()
                .find(|e| e.function == function && e.index == index)
                .map(|e| [e.eax, e.ebx, e.ecx, e.edx])
        });
        let machine =
            Machine::new(&kvm, Duration::from_secs(2)).map_err(|e| kvm_error("VM setup", e))?;
        let base = KvmSregs::from(machine.sregs().map_err(|e| kvm_error("KVM_GET_SREGS", e))?);
        Ok(SregsProbe {
            machine,
            base,
            cr4,
            host,
        })
    }

    /// The `kvm_sregs` a case is set as.
    #[must_use]
    pub fn sregs(&self, case: &Case) -> KvmSregs {
        let mut s = self.base;
        for reg in SegReg::ALL {
            *s.segment_mut(reg) = KvmSegment::from(case.state.segments[reg]);
        }
        s.cr0 = case.state.cr0;
        s.cr3 = 0;
        s.cr4 = case.state.cr4;
        s.efer = case.state.efer;
        s.interrupt_bitmap = [0; 4];
        s
    }
}

impl Oracle for SregsProbe {
    fn run(&self, cases: &[Case]) -> Result<Vec<Outcome>, OracleError> {
        let vcpu = self.machine.vcpu();
        cases
            .iter()
            .map(|case| {
                let sregs = kvm_bindings::kvm_sregs::from(self.sregs(case));
                match vcpu.set_sregs(&sregs) {
                    Ok(()) => Ok(Outcome {
                        accepted: true,
                        code: "ok".into(),
                        log: Vec::new(),
                    }),
                    Err(e) if e.errno() == libc::EINVAL => Ok(Outcome {
                        accepted: false,
                        code: "EINVAL".into(),
                        log: vec!["KVM_SET_SREGS: EINVAL".into()],
                    }),
                    Err(e) => Err(kvm_error("KVM_SET_SREGS", e)),
                }
            })
            .collect()
    }
}
