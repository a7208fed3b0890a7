//! A live `kvm_sregs` through a chain: a chain that starts (or ends) in hardware is
//! entered (or left) through today's fixed profile of that vendor, which is exact.

use super::{Chain, Format, VcpuSegments, WrongSourceFormat};
use crate::arch::PerSegReg;
use crate::format::kvm::{KvmSegment, KvmSregs};
use crate::format::qemu::QemuSegmentCache;
use crate::profile::{Engine, Profile, stack, svm, vmx};

impl Chain {
    /// Runs a live `kvm_sregs` through the chain, for a VMM-side state sync: a chain
    /// that starts (or ends) in hardware is entered (or left) through today's fixed
    /// profile of that vendor, which is exact. The other fields of `sregs` are kept.
    pub fn run_sregs(
        &self,
        sregs: &mut KvmSregs,
        previous: &PerSegReg<QemuSegmentCache>,
    ) -> Result<(), WrongSourceFormat> {
        let uapi = VcpuSegments::Kvm(sregs.segments());
        let input = match self.source {
            Format::Kvm => uapi,
            Format::Vmcb => enter(Engine::KvmSvm, &sregs.segments()),
            Format::Vmcs => enter(Engine::KvmVmx, &sregs.segments()),
            Format::HyperV => unreachable!("Chain::new refuses chains that start from Hyper-V"),
        };
        let output = self.run(&input, previous)?;
        let segments = leave(&output);
        sregs.set_segments(&segments);
        Ok(())
    }
}

/// Today's exact hypervisor set path, to put a live UAPI state into a save area.
fn enter(engine: Engine, segments: &PerSegReg<KvmSegment>) -> VcpuSegments {
    let rules = Profile::current_of(engine).rules;
    match engine {
        Engine::KvmSvm => {
            let mut cpl = 0;
            let segs = segments.map(|reg, k| {
                let (v, c) = svm::set_segment(rules, reg, k);
                if let Some(c) = c {
                    cpl = c;
                }
                v
            });
            VcpuSegments::Vmcb {
                segments: segs,
                cpl,
            }
        }
        _ => VcpuSegments::Vmcs(segments.map(|reg, k| vmx::set_segment(rules, reg, k))),
    }
}

/// Today's exact hypervisor get path, to read a save area back as UAPI.
fn leave(state: &VcpuSegments) -> PerSegReg<KvmSegment> {
    match state {
        VcpuSegments::Kvm(s) => *s,
        VcpuSegments::Vmcb { segments, cpl } => {
            let rules = Profile::KVM_SVM.rules;
            segments.map(|reg, v| svm::get_segment(rules, reg, v, *cpl))
        }
        VcpuSegments::Vmcs(segments) => {
            let rules = Profile::KVM_VMX.rules;
            segments.map(|_, v| vmx::get_segment(rules, v))
        }
        VcpuSegments::HyperV(segments) => segments.map(|_, h| stack::hv_as_kvm(h)),
    }
}
