//! Capture and restore of one vCPU's architectural state, for snapshots and
//! for moving a paused guest into a fresh VM.

use kvm_bindings::{
    CpuId, KVM_MAX_CPUID_ENTRIES, Msrs, kvm_debugregs, kvm_fpu, kvm_lapic_state, kvm_mp_state,
    kvm_msr_entry, kvm_regs, kvm_sregs, kvm_vcpu_events, kvm_xcrs, kvm_xsave,
};
use kvm_ioctls::{Cap, VcpuFd, VmFd};
use segstate::arch::msr;

use crate::error::{IoctlError, transparent_error};

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

/// A part of the vCPU state this host or VM does not have, so [`VcpuState::capture`]
/// did not read it: said explicitly, never a swallowed error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotCaptured {
    /// KVM_CHECK_EXTENSION answered 0 for the capability the GET ioctl needs.
    Capability {
        /// The GET ioctl not made.
        ioctl: &'static str,
        /// The capability KVM lacks.
        cap: Cap,
    },
    /// The VM has no in-kernel LAPIC (no KVM_CREATE_IRQCHIP), so there is no LAPIC
    /// state to read: KVM_GET_LAPIC answers EINVAL for exactly this
    /// (arch/x86/kvm/x86.c, `kvm_arch_vcpu_ioctl`, `!lapic_in_kernel(vcpu)`).
    NoInKernelLapic,
}

/// Why [`VcpuState::restore`] did not write the whole state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// A SET ioctl failed.
    Ioctl(IoctlError),
    /// KVM_SET_MSRS refused these MSRs (the others were set).
    MsrsRefused(Vec<u32>),
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreError::Ioctl(e) => e.fmt(f),
            RestoreError::MsrsRefused(msrs) => {
                write!(f, "KVM_SET_MSRS refused MSR(s) {msrs:#x?}")
            }
        }
    }
}

transparent_error!(RestoreError: Ioctl(IoctlError));

/// Everything KVM holds for one vCPU that this harness's guests depend on.
/// Optional parts are `None` when the host or VM does not have them; which ones and
/// why is in [`VcpuState::not_captured`].
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
    /// The optional parts left out, and why.
    pub not_captured: Vec<NotCaptured>,
}

/// Reads one optional part: not at all when `vm` lacks `cap` (recorded in `absent`),
/// otherwise the GET must succeed.
fn optional<T>(
    vm: &VmFd,
    cap: Cap,
    ioctl: &'static str,
    absent: &mut Vec<NotCaptured>,
    get: impl FnOnce() -> Result<T, vmm_sys_util::errno::Error>,
) -> Result<Option<T>, IoctlError> {
    if !vm.check_extension(cap) {
        absent.push(NotCaptured::Capability { ioctl, cap });
        return Ok(None);
    }
    get().map(Some).map_err(IoctlError::of(ioctl))
}

impl VcpuState {
    /// Reads the state of a vCPU of `vm` that is not running. If the vCPU stopped
    /// on an I/O or MMIO exit, complete it first (KVM_RUN with `immediate_exit`,
    /// see [`crate::machine::Machine::complete_pending_io`]): KVM documents the
    /// state as consistent only after that.
    ///
    /// The order is KVM's safe one, as Firecracker's `KvmVcpu::save_state`
    /// (src/vmm/src/arch/x86_64/vcpu.rs) keeps it: KVM_GET_MP_STATE first, because
    /// it runs `kvm_apic_accept_events`, which can change the vCPU and LAPIC state
    /// every later GET reads; KVM_GET_VCPU_EVENTS last, after everything whose
    /// reading could still move a pending event.
    ///
    /// Every GET the host supports must succeed: a failure is an error. Parts the
    /// host or VM does not have are listed in [`VcpuState::not_captured`].
    pub fn capture(vm: &VmFd, vcpu: &VcpuFd) -> Result<Self, IoctlError> {
        let mut absent = Vec::new();
        let mp_state = optional(vm, Cap::MpState, "KVM_GET_MP_STATE", &mut absent, || {
            vcpu.get_mp_state()
        })?;
        let regs = vcpu.get_regs().map_err(IoctlError::of("KVM_GET_REGS"))?;
        let sregs = vcpu.get_sregs().map_err(IoctlError::of("KVM_GET_SREGS"))?;
        let fpu = vcpu.get_fpu().map_err(IoctlError::of("KVM_GET_FPU"))?;
        let xsave = optional(vm, Cap::Xsave, "KVM_GET_XSAVE", &mut absent, || {
            vcpu.get_xsave()
        })?;
        let xcrs = optional(vm, Cap::Xcrs, "KVM_GET_XCRS", &mut absent, || {
            vcpu.get_xcrs()
        })?;
        let debug_regs = optional(vm, Cap::Debugregs, "KVM_GET_DEBUGREGS", &mut absent, || {
            vcpu.get_debug_regs()
        })?;
        let lapic = match vcpu.get_lapic() {
            Ok(l) => Some(l),
            Err(e) if e.errno() == libc::EINVAL => {
                absent.push(NotCaptured::NoInKernelLapic);
                None
            }
            Err(e) => return Err(IoctlError::new("KVM_GET_LAPIC", e)),
        };
        let cpuid = optional(vm, Cap::ExtCpuid, "KVM_GET_CPUID2", &mut absent, || {
            vcpu.get_cpuid2(KVM_MAX_CPUID_ENTRIES)
        })?;
        let msrs = read_msrs(vcpu, &CAPTURED_MSRS)?;
        let vcpu_events = optional(
            vm,
            Cap::VcpuEvents,
            "KVM_GET_VCPU_EVENTS",
            &mut absent,
            || vcpu.get_vcpu_events(),
        )?;
        Ok(Self {
            cpuid,
            regs,
            sregs,
            fpu,
            xsave,
            xcrs,
            debug_regs,
            msrs,
            lapic,
            vcpu_events,
            mp_state,
            not_captured: absent,
        })
    }

    /// Writes this state into a vCPU (normally a fresh one in a fresh VM). Every MSR
    /// must be accepted: a refused one is an error.
    pub fn restore(&self, vcpu: &VcpuFd) -> Result<(), RestoreError> {
        let refused = self
            .restore_reporting_msrs(vcpu)
            .map_err(RestoreError::Ioctl)?;
        if refused.is_empty() {
            Ok(())
        } else {
            Err(RestoreError::MsrsRefused(refused))
        }
    }

    /// Writes this state into a vCPU and returns the MSRs KVM refused to set (the
    /// others are set: one host's MSR index list can name MSRs another host does not
    /// let userspace write). The rest of the state must all be accepted.
    ///
    /// The order matters; each step says what it must follow.
    pub fn restore_reporting_msrs(&self, vcpu: &VcpuFd) -> Result<Vec<u32>, IoctlError> {
        // CPUID first: KVM validates XCR0, EFER bits (LME, SCE, NX) and MSR
        // writes against the guest's CPUID.
        if let Some(cpuid) = &self.cpuid {
            vcpu.set_cpuid2(cpuid)
                .map_err(IoctlError::of("KVM_SET_CPUID2"))?;
        }
        // Special registers before anything mode-dependent: CR0/CR4/EFER
        // decide which MSR values, XCR0 and LAPIC states are acceptable, and
        // CPL comes from SS.DPL here.
        vcpu.set_sregs(&self.sregs)
            .map_err(IoctlError::of("KVM_SET_SREGS"))?;
        // General registers after sregs and before vcpu events: KVM_SET_REGS
        // discards a pending exception, which the events below may carry.
        vcpu.set_regs(&self.regs)
            .map_err(IoctlError::of("KVM_SET_REGS"))?;
        // XCR0 before the XSAVE image, so the image's components are enabled.
        if let Some(xcrs) = &self.xcrs {
            vcpu.set_xcrs(xcrs)
                .map_err(IoctlError::of("KVM_SET_XCRS"))?;
        }
        match &self.xsave {
            Some(xsave) => {
                // SAFETY: `xsave` is the 4 KiB legacy struct that KVM_GET_XSAVE
                // filled; this process never enables dynamic XSTATE features
                // (arch_prctl), so KVM's expected size is exactly that struct.
                unsafe { vcpu.set_xsave(xsave) }.map_err(IoctlError::of("KVM_SET_XSAVE"))?;
            }
            None => vcpu
                .set_fpu(&self.fpu)
                .map_err(IoctlError::of("KVM_SET_FPU"))?,
        }
        if let Some(dr) = &self.debug_regs {
            vcpu.set_debug_regs(dr)
                .map_err(IoctlError::of("KVM_SET_DEBUGREGS"))?;
        }
        // LAPIC after sregs (apic_base in sregs enables/configures the APIC)
        // and before MSRs (TSC_DEADLINE needs the LAPIC timer mode).
        if let Some(lapic) = &self.lapic {
            vcpu.set_lapic(lapic)
                .map_err(IoctlError::of("KVM_SET_LAPIC"))?;
        }
        // KVM_SET_MSRS stops at the first MSR it refuses: note it, go on after it.
        let mut refused = Vec::new();
        let mut i = 0;
        while i < self.msrs.len() {
            let msrs = Msrs::from_entries(&self.msrs[i..])
                .map_err(|_| IoctlError::too_many_entries("KVM_SET_MSRS"))?;
            let n = vcpu
                .set_msrs(&msrs)
                .map_err(IoctlError::of("KVM_SET_MSRS"))?;
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
                .map_err(IoctlError::of("KVM_SET_VCPU_EVENTS"))?;
        }
        // MP state last: events (INIT/SIPI latches) can change it.
        if let Some(mp) = self.mp_state {
            vcpu.set_mp_state(mp)
                .map_err(IoctlError::of("KVM_SET_MP_STATE"))?;
        }
        Ok(refused)
    }
}

/// Reads every MSR of `indices` the host lets us read. KVM_GET_MSRS stops at the
/// first MSR it refuses; the batch resumes after it.
pub fn read_msrs(vcpu: &VcpuFd, indices: &[u32]) -> Result<Vec<kvm_msr_entry>, IoctlError> {
    let mut out = Vec::with_capacity(indices.len());
    let mut i = 0;
    while i < indices.len() {
        let entries: Vec<kvm_msr_entry> = indices[i..]
            .iter()
            .map(|&index| kvm_msr_entry {
                index,
                ..Default::default()
            })
            .collect();
        let mut msrs = Msrs::from_entries(&entries)
            .map_err(|_| IoctlError::too_many_entries("KVM_GET_MSRS"))?;
        let n = vcpu
            .get_msrs(&mut msrs)
            .map_err(IoctlError::of("KVM_GET_MSRS"))?;
        out.extend_from_slice(&msrs.as_slice()[..n]);
        i += n + 1; // skip the refused one
    }
    Ok(out)
}
