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
        let mut segments = sregs.segments();
        self.run_kvm_segments(&mut segments, previous)?;
        sregs.set_segments(&segments);
        Ok(())
    }

    /// [`Chain::run_sregs`] on the eight segments alone, in place: what a sync holding
    /// another `kvm_sregs` type (rust-vmm's) runs without copying the whole struct. A
    /// chain without ops from `kvm_sregs` is the identity and returns at once; a refused
    /// state leaves `segments` as they were.
    pub fn run_kvm_segments(
        &self,
        segments: &mut PerSegReg<KvmSegment>,
        previous: &PerSegReg<QemuSegmentCache>,
    ) -> Result<(), WrongSourceFormat> {
        let input = match self.source {
            Format::Kvm if self.ops.is_empty() => return Ok(()),
            Format::Kvm => VcpuSegments::Kvm(*segments),
            Format::Vmcb => enter(Engine::KvmSvm, segments),
            Format::Vmcs => enter(Engine::KvmVmx, segments),
            Format::HyperV => unreachable!("Chain::new refuses chains that start from Hyper-V"),
        };
        let output = self.run(&input, previous)?;
        *segments = leave(&output);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::SegReg;
    use crate::profile::builtin_chains;
    use alloc::vec::Vec;

    /// `run_kvm_segments` (a chain without ops from `kvm_sregs` returning at once among
    /// them) gives what the interpreted chain gives between today's exact hypervisor
    /// paths, for every built-in chain a `kvm_sregs` can go through and every
    /// `kvm_segment` combination in each register, garbage bytes included.
    #[test]
    fn run_kvm_segments_equals_the_interpreted_chain() {
        let mut chains: Vec<Chain> = builtin_chains()
            .into_iter()
            .filter(|c| c.source() != Format::HyperV && c.destination() != Format::HyperV)
            .collect();
        chains.push("verbatim".parse().expect("parses"));
        let previous = crate::testing::previous_caches();
        let inputs = super::super::previous::tests::kvm_segments();
        let base = PerSegReg::from_fn(|_| inputs[0]);
        for chain in &chains {
            for reg in SegReg::ALL {
                for k in &inputs {
                    let mut segments = base;
                    segments[reg] = *k;
                    let input = match chain.source() {
                        Format::Kvm => VcpuSegments::Kvm(segments),
                        Format::Vmcb => enter(Engine::KvmSvm, &segments),
                        _ => enter(Engine::KvmVmx, &segments),
                    };
                    let expected = chain
                        .run_interpreted(&input, &previous)
                        .map(|out| leave(&out));
                    let mut ours = segments;
                    let got = chain.run_kvm_segments(&mut ours, &previous).map(|()| ours);
                    assert_eq!(got, expected, "{chain}: {reg:?} {k:?}");
                }
            }
        }
    }
}
