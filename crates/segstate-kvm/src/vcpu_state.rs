//! Capture and restore of one vCPU's architectural state, for snapshots and
//! for moving a paused guest into a fresh VM.

use kvm_bindings::{
    CpuId, KVM_MAX_CPUID_ENTRIES, Msrs, kvm_debugregs, kvm_fpu, kvm_lapic_state, kvm_mp_state,
    kvm_msr_entry, kvm_regs, kvm_sregs, kvm_vcpu_events, kvm_xcrs, kvm_xsave,
};
use kvm_ioctls::VcpuFd;

use crate::error::errno_text;
use crate::machine::msr;

/// MSRs captured, most important first. Any the host cannot read are skipped.
pub const CAPTURED_MSRS: [u32; 13] = [
    msr::EFER,
    msr::STAR,
    msr::LSTAR,
    msr::CSTAR,
    msr::SFMASK,
    msr::KERNEL_GS_BASE,
    msr::FS_BASE,
    msr::GS_BASE,
    msr::SYSENTER_CS,
    msr::SYSENTER_ESP,
    msr::SYSENTER_EIP,
    msr::PAT,
    msr::TSC,
];

/// A failed capture or restore ioctl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateError {
    /// The ioctl.
    pub what: &'static str,
    /// Its errno.
    pub errno: i32,
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.what, errno_text(self.errno))
    }
}

impl std::error::Error for StateError {}

fn err(what: &'static str) -> impl Fn(vmm_sys_util::errno::Error) -> StateError {
    move |e| StateError {
        what,
        errno: e.errno(),
    }
}

/// Everything KVM holds for one vCPU that this harness's guests depend on.
/// Optional parts are `None` when the host does not offer them (e.g. no LAPIC
/// without an in-kernel irqchip, no XSAVE on very old hosts).
#[derive(Debug)]
pub struct VcpuState {
    pub cpuid: Option<CpuId>,
    pub regs: kvm_regs,
    pub sregs: kvm_sregs,
    pub fpu: kvm_fpu,
    pub xsave: Option<kvm_xsave>,
    pub xcrs: Option<kvm_xcrs>,
    pub debug_regs: Option<kvm_debugregs>,
    pub msrs: Vec<kvm_msr_entry>,
    pub lapic: Option<kvm_lapic_state>,
    pub vcpu_events: Option<kvm_vcpu_events>,
    pub mp_state: Option<kvm_mp_state>,
}

impl VcpuState {
    /// Reads the state of a vCPU that is not running. If the vCPU stopped on
    /// an I/O or MMIO exit, complete it first (KVM_RUN with `immediate_exit`,
    /// see [`crate::machine::Machine::complete_pending_io`]): KVM documents the
    /// state as consistent only after that.
    pub fn capture(vcpu: &VcpuFd) -> Result<Self, StateError> {
        Ok(Self {
            cpuid: vcpu.get_cpuid2(KVM_MAX_CPUID_ENTRIES).ok(),
            regs: vcpu.get_regs().map_err(err("KVM_GET_REGS"))?,
            sregs: vcpu.get_sregs().map_err(err("KVM_GET_SREGS"))?,
            fpu: vcpu.get_fpu().map_err(err("KVM_GET_FPU"))?,
            xsave: vcpu.get_xsave().ok(),
            xcrs: vcpu.get_xcrs().ok(),
            debug_regs: vcpu.get_debug_regs().ok(),
            msrs: read_msrs(vcpu, &CAPTURED_MSRS)?,
            lapic: vcpu.get_lapic().ok(),
            vcpu_events: vcpu.get_vcpu_events().ok(),
            mp_state: vcpu.get_mp_state().ok(),
        })
    }

    /// Writes this state into a vCPU (normally a fresh one in a fresh VM). Every MSR
    /// must be accepted: a refused one is an error.
    pub fn restore(&self, vcpu: &VcpuFd) -> Result<(), StateError> {
        let refused = self.restore_reporting_msrs(vcpu)?;
        if refused.is_empty() {
            Ok(())
        } else {
            Err(StateError {
                what: "KVM_SET_MSRS (partial)",
                errno: libc::EINVAL,
            })
        }
    }

    /// Writes this state into a vCPU and returns the MSRs KVM refused to set (the
    /// others are set: one host's MSR index list can name MSRs another host does not
    /// let userspace write). The rest of the state must all be accepted.
    ///
    /// The order matters; each step says what it must follow.
    pub fn restore_reporting_msrs(&self, vcpu: &VcpuFd) -> Result<Vec<u32>, StateError> {
        // CPUID first: KVM validates XCR0, EFER bits (LME, SCE, NX) and MSR
        // writes against the guest's CPUID.
        if let Some(cpuid) = &self.cpuid {
            vcpu.set_cpuid2(cpuid).map_err(err("KVM_SET_CPUID2"))?;
        }
        // Special registers before anything mode-dependent: CR0/CR4/EFER
        // decide which MSR values, XCR0 and LAPIC states are acceptable, and
        // CPL comes from SS.DPL here.
        vcpu.set_sregs(&self.sregs).map_err(err("KVM_SET_SREGS"))?;
        // General registers after sregs and before vcpu events: KVM_SET_REGS
        // discards a pending exception, which the events below may carry.
        vcpu.set_regs(&self.regs).map_err(err("KVM_SET_REGS"))?;
        // XCR0 before the XSAVE image, so the image's components are enabled.
        if let Some(xcrs) = &self.xcrs {
            vcpu.set_xcrs(xcrs).map_err(err("KVM_SET_XCRS"))?;
        }
        match &self.xsave {
            Some(xsave) => {
                // SAFETY: `xsave` is the 4 KiB legacy struct that KVM_GET_XSAVE
                // filled; this process never enables dynamic XSTATE features
                // (arch_prctl), so KVM's expected size is exactly that struct.
                unsafe { vcpu.set_xsave(xsave) }.map_err(err("KVM_SET_XSAVE"))?;
            }
            None => vcpu.set_fpu(&self.fpu).map_err(err("KVM_SET_FPU"))?,
        }
        if let Some(dr) = &self.debug_regs {
            vcpu.set_debug_regs(dr).map_err(err("KVM_SET_DEBUGREGS"))?;
        }
        // LAPIC after sregs (apic_base in sregs enables/configures the APIC)
        // and before MSRs (TSC_DEADLINE needs the LAPIC timer mode).
        if let Some(lapic) = &self.lapic {
            vcpu.set_lapic(lapic).map_err(err("KVM_SET_LAPIC"))?;
        }
        // KVM_SET_MSRS stops at the first MSR it refuses: note it, go on after it.
        let mut refused = Vec::new();
        let mut i = 0;
        while i < self.msrs.len() {
            let msrs = Msrs::from_entries(&self.msrs[i..]).map_err(|_| StateError {
                what: "KVM_SET_MSRS",
                errno: libc::E2BIG,
            })?;
            let n = vcpu.set_msrs(&msrs).map_err(err("KVM_SET_MSRS"))?;
            if let Some(r) = self.msrs.get(i + n) {
                refused.push(r.index);
            }
            i += n + 1;
        }
        // Events after regs/sregs/LAPIC: they (re)inject pending exceptions,
        // interrupts and NMIs on top of the state set above; KVM_SET_SREGS'
        // interrupt bitmap would otherwise override them.
        if let Some(ev) = &self.vcpu_events {
            vcpu.set_vcpu_events(ev)
                .map_err(err("KVM_SET_VCPU_EVENTS"))?;
        }
        // MP state last: events (INIT/SIPI latches) can change it.
        if let Some(mp) = self.mp_state {
            vcpu.set_mp_state(mp).map_err(err("KVM_SET_MP_STATE"))?;
        }
        Ok(refused)
    }
}

/// Reads `indices`, skipping any the host refuses.
fn read_msrs(vcpu: &VcpuFd, indices: &[u32]) -> Result<Vec<kvm_msr_entry>, StateError> {
    let entries: Vec<kvm_msr_entry> = indices
        .iter()
        .map(|&index| kvm_msr_entry {
            index,
            ..Default::default()
        })
        .collect();
    let mut msrs = Msrs::from_entries(&entries).map_err(|_| StateError {
        what: "KVM_GET_MSRS",
        errno: libc::E2BIG,
    })?;
    let n = vcpu.get_msrs(&mut msrs).map_err(err("KVM_GET_MSRS"))?;
    if n == entries.len() {
        return Ok(msrs.as_slice().to_vec());
    }
    // KVM stops at the first MSR it cannot read: fall back to one at a time.
    let mut out = Vec::new();
    for &index in indices {
        let mut one = Msrs::from_entries(&[kvm_msr_entry {
            index,
            ..Default::default()
        }])
        .map_err(|_| StateError {
            what: "KVM_GET_MSRS",
            errno: libc::E2BIG,
        })?;
        if vcpu.get_msrs(&mut one).map_err(err("KVM_GET_MSRS"))? == 1 {
            out.extend_from_slice(one.as_slice());
        }
    }
    Ok(out)
}
