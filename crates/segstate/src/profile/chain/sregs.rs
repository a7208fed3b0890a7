//! A live `kvm_sregs` through a chain: a chain that starts (or ends) in hardware is
//! entered (or left) through today's fixed profile of that vendor, which is exact.

use super::{Chain, Format, VcpuSegments, WrongSourceFormat};
use crate::arch::{PerSegReg, SegReg};
use crate::format::kvm::{KvmSegment, KvmSregs};
use crate::format::qemu::QemuSegmentCache;
use crate::profile::{Engine, Profile, RuleSet, stack, svm, vmx};

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
    ///
    /// A VMM's sync between KVM_GET_SREGS and KVM_SET_SREGS, on the segments of its
    /// own `kvm_sregs` (with the `kvm-bindings` feature, `KvmSregs::segments_of` and
    /// `KvmSregs::set_segments_of` read and write rust-vmm's). A chain from a save area
    /// is entered and left through today's KVM, whatever versions its steps run:
    ///
    /// ```
    /// use segstate::arch::{PerSegReg, SegReg};
    /// use segstate::format::kvm::KvmSegment;
    /// use segstate::format::qemu::QemuSegmentCache;
    /// use segstate::profile::Chain;
    ///
    /// // The SS AMD's SYSRET leaves, as KVM_GET_SREGS reports it: unusable, DPL 3.
    /// let mut segments = PerSegReg::from_fn(|_| KvmSegment::default());
    /// let ss = &mut segments[SegReg::Ss];
    /// (ss.selector, ss.dpl, ss.unusable) = (0x2b, 3, 1);
    /// // Read by the 2017 thread's designs alone (`Chain::reads_previous`).
    /// let previous = PerSegReg::from_fn(|_| QemuSegmentCache::default());
    ///
    /// let mut today = segments;
    /// "qemu".parse::<Chain>()?.run_kvm_segments(&mut today, &previous)?;
    /// assert_eq!(today[SegReg::Ss].dpl, 3, "the CPL KVM_SET_SREGS takes");
    ///
    /// let mut bug = segments;
    /// "qemu@2.9".parse::<Chain>()?.run_kvm_segments(&mut bug, &previous)?;
    /// assert_eq!(bug[SegReg::Ss].dpl, 0, "user code back at CPL 0");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None in practice: the input is made in the chain's own source format, and
    /// [`Chain::new`] refuses chains from Hyper-V, the one format not entered from
    /// `kvm_sregs`. `segments` would be left untouched.
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
        leave(&output, segments);
        Ok(())
    }
}

/// Today's KVM SVM rules, by which a live state enters and leaves a VMCB: constants, so
/// that `enter` and `leave` inline the conversions with them folded.
const SVM: RuleSet = Profile::current_of(Engine::KvmSvm).rules;
/// Today's KVM VMX rules, for a VMCS as [`SVM`] is for a VMCB.
const VMX: RuleSet = Profile::current_of(Engine::KvmVmx).rules;

/// Today's exact hypervisor set path, to put a live UAPI state into a save area.
#[inline]
fn enter(engine: Engine, segments: &PerSegReg<KvmSegment>) -> VcpuSegments {
    match engine {
        Engine::KvmSvm => {
            let mut cpl = 0;
            let segs = PerSegReg(core::array::from_fn(|i| {
                let reg = SegReg::ALL[i];
                let (v, c) = svm::set_segment(SVM, reg, &segments[reg]);
                if let Some(c) = c {
                    cpl = c;
                }
                v
            }));
            VcpuSegments::Vmcb {
                segments: segs,
                cpl,
            }
        }
        _ => VcpuSegments::Vmcs(PerSegReg(core::array::from_fn(|i| {
            let reg = SegReg::ALL[i];
            vmx::set_segment(VMX, reg, &segments[reg])
        }))),
    }
}

/// Today's exact hypervisor get path, to read a save area back as UAPI, into `out`.
#[inline]
fn leave(state: &VcpuSegments, out: &mut PerSegReg<KvmSegment>) {
    match state {
        VcpuSegments::Kvm(s) => *out = *s,
        VcpuSegments::Vmcb { segments, cpl } => {
            for reg in SegReg::ALL {
                out[reg] = svm::get_segment(SVM, reg, &segments[reg], *cpl);
            }
        }
        VcpuSegments::Vmcs(segments) => {
            for reg in SegReg::ALL {
                out[reg] = vmx::get_segment(VMX, &segments[reg]);
            }
        }
        VcpuSegments::HyperV(segments) => *out = segments.map(|_, h| stack::hv_as_kvm(h)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::builtin_chains;
    use alloc::vec::Vec;

    /// The chain that puts `kvm_sregs` into `format` as today's hypervisor does, and
    /// the one that reads it back: what `enter` and `leave` must do, run by the
    /// interpreter.
    fn through(format: Format) -> Option<(Chain, Chain)> {
        let hv = match format {
            Format::Vmcb => "kvm-svm",
            Format::Vmcs => "kvm-vmx",
            _ => return None,
        };
        let parse = |s: alloc::string::String| s.parse::<Chain>().expect("parses");
        Some((
            parse(alloc::format!("verbatim > {hv}")),
            parse(alloc::format!("{hv} > verbatim")),
        ))
    }

    /// `run_kvm_segments` (a chain without ops from `kvm_sregs` returning at once among
    /// them) gives what the interpreter gives through the chain between today's
    /// hypervisor set and get, themselves interpreted chains (a chain into Hyper-V read
    /// back register by register, as `stack::hv_as_kvm` reads one), for every built-in
    /// chain a `kvm_sregs` can go through and every `kvm_segment` combination in each
    /// register, garbage bytes included.
    #[test]
    fn run_kvm_segments_equals_the_interpreted_chain() {
        let mut chains: Vec<Chain> = builtin_chains()
            .into_iter()
            .filter(|c| c.source() != Format::HyperV)
            .collect();
        chains.push("verbatim".parse().expect("parses"));
        assert!(chains.iter().any(|c| c.destination() == Format::HyperV));
        let previous = crate::testing::previous_caches();
        let inputs = super::super::previous::tests::kvm_segments();
        let base = PerSegReg::from_fn(|_| inputs[0]);
        for chain in &chains {
            let (into, back) = (through(chain.source()), through(chain.destination()));
            for reg in SegReg::ALL {
                for k in &inputs {
                    let mut segments = base;
                    segments[reg] = *k;
                    let mut at = VcpuSegments::Kvm(segments);
                    let mut run = |c: &Chain| at = c.run_interpreted(&at, &previous).expect("runs");
                    if let Some((into, _)) = &into {
                        run(into);
                    }
                    run(chain);
                    if let Some((_, back)) = &back {
                        run(back);
                    }
                    let expected = match at {
                        VcpuSegments::Kvm(expected) => expected,
                        VcpuSegments::HyperV(h) => h.map(|_, h| stack::hv_as_kvm(h)),
                        _ => panic!("{chain}: not back in kvm_sregs"),
                    };
                    let mut ours = segments;
                    chain.run_kvm_segments(&mut ours, &previous).expect("runs");
                    assert_eq!(ours, expected, "{chain}: {reg:?} {k:?}");
                }
            }
        }
    }
}
