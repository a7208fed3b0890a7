//! Capture and restore of [`segstate::snapshot::VcpuSnapshot`]s on `/dev/kvm`.
//!
//! Capture reads the vCPU through [`VcpuState::capture`], replaces its MSR list
//! with every MSR of KVM_GET_MSR_INDEX_LIST the host lets us read, records the CPL
//! explicitly (from SS.DPL, KVM's carrier of it) and, for whole-VM snapshots, the
//! non-zero pages of guest RAM.
//!
//! Restore refuses before any ioctl when the state is unsafe
//! ([`VcpuSnapshot::restore_problems`]: SS.DPL against the explicit CPL, the
//! architectural rules and the target vendor's entry checks), repairs it only when
//! asked ([`RestoreOptions::repair`]), writes it in KVM's required order, and reads
//! it back: what KVM holds afterwards must equal what was written, up to the
//! documented normalisation ([`segstate::snapshot::safety::canonical_sregs`]).

use std::fmt;
use std::time::Duration;

use kvm_bindings::{
    CpuId, Msrs, kvm_cpuid_entry2, kvm_debugregs, kvm_fpu, kvm_lapic_state, kvm_mp_state,
    kvm_msr_entry, kvm_sregs, kvm_vcpu_events, kvm_xcr, kvm_xcrs, kvm_xsave,
};
use kvm_ioctls::{Cap, Kvm, VcpuFd};
use segstate::arch::PrivilegeLevel;
use segstate::format::kvm::KvmSregs;
use segstate::snapshot::safety::{compare_regs, compare_sregs};
use segstate::snapshot::{
    Change, HostDescription, MemoryRegion, MsrEntry, ReadbackMismatch, Regs, RestoreProblem,
    VcpuSnapshot, Vendor, Xcr, raw_size,
};

use crate::error::HarnessError;
use crate::guest::idt::VECTOR_GP;
use crate::guest::layout::*;
use crate::guest::{Entry, Probe, UserSs};
use crate::machine::{Exit, Machine, open_kvm};
use crate::scenario::{RunOptions, Verdict, describe_frame};
use crate::vcpu_state::{StateError, VcpuState};

/// MSRs whose value legitimately moves between write and read-back.
pub const VOLATILE_MSRS: [u32; 2] = [
    0x10,  // IA32_TSC: the guest's clock runs on.
    0x6e0, // IA32_TSC_DEADLINE: KVM reports it relative to the moving TSC.
];

/// Why a capture or restore did not happen.
#[derive(Debug)]
pub enum SnapshotError {
    /// The state is unsafe to restore; nothing was written.
    Refused(Vec<RestoreProblem>),
    /// A KVM ioctl failed.
    State(StateError),
    /// The VM could not be built or the guest did not reach its pause.
    Harness(HarnessError),
    /// What KVM read back differs from what was written (after normalisation).
    Readback(Vec<ReadbackMismatch>),
    /// The snapshot holds something this host or harness cannot take.
    Unsupported(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Refused(p) => {
                write!(f, "refused to restore: ")?;
                for (i, p) in p.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
            SnapshotError::State(e) => write!(f, "{e}"),
            SnapshotError::Harness(e) => write!(f, "{e}"),
            SnapshotError::Readback(m) => {
                write!(f, "KVM read back a different state: ")?;
                let parts: Vec<String> = m.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join("; "))
            }
            SnapshotError::Unsupported(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl From<StateError> for SnapshotError {
    fn from(e: StateError) -> Self {
        SnapshotError::State(e)
    }
}

impl From<HarnessError> for SnapshotError {
    fn from(e: HarnessError) -> Self {
        SnapshotError::Harness(e)
    }
}

fn ioctl(what: &'static str) -> impl Fn(vmm_sys_util::errno::Error) -> StateError {
    move |e| StateError {
        what,
        errno: e.errno(),
    }
}

/// KVM capabilities recorded in a snapshot's host description.
const RECORDED_CAPS: [Cap; 10] = [
    Cap::Irqchip,
    Cap::MpState,
    Cap::VcpuEvents,
    Cap::Debugregs,
    Cap::Xsave,
    Cap::Xsave2,
    Cap::Xcrs,
    Cap::ExtCpuid,
    Cap::TscDeadlineTimer,
    Cap::ImmediateExit,
];

/// This host: vendor, KVM API version, backend and the capabilities that decide
/// which parts of a vCPU can be captured.
pub fn host_description(kvm: &Kvm) -> HostDescription {
    let info = crate::host::kvm_available().ok();
    let cpu_vendor = info
        .as_ref()
        .map_or_else(|| "unknown".into(), |i| i.cpu_vendor.clone());
    HostDescription {
        vendor: Vendor::from_cpuid_vendor(&cpu_vendor),
        cpu_vendor,
        kvm_api_version: kvm.get_api_version() as u32,
        backend: info.map_or_else(|| "unknown".into(), |i| i.backend()),
        capabilities: RECORDED_CAPS
            .iter()
            .map(|&c| (c as u32, kvm.check_extension_int(c)))
            .collect(),
    }
}

/// This host's vendor, if it is Intel or AMD (looked up once per process).
pub fn host_vendor() -> Option<Vendor> {
    static VENDOR: std::sync::OnceLock<Option<Vendor>> = std::sync::OnceLock::new();
    *VENDOR.get_or_init(|| {
        crate::host::kvm_available()
            .ok()
            .and_then(|i| Vendor::from_cpuid_vendor(&i.cpu_vendor))
    })
}

/// Reads every MSR of `indices` the host lets us read. KVM_GET_MSRS stops at the
/// first MSR it refuses; the batch resumes after it.
pub fn read_msrs(vcpu: &VcpuFd, indices: &[u32]) -> Result<Vec<MsrEntry>, StateError> {
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
        let mut msrs = Msrs::from_entries(&entries).map_err(|_| StateError {
            what: "KVM_GET_MSRS",
            errno: libc::E2BIG,
        })?;
        let n = vcpu.get_msrs(&mut msrs).map_err(ioctl("KVM_GET_MSRS"))?;
        out.extend(msrs.as_slice()[..n].iter().map(|e| MsrEntry {
            index: e.index,
            value: e.data,
        }));
        i += n + 1; // skip the refused one
    }
    Ok(out)
}

/// Non-zero 4 KiB pages of `ram` (at guest physical 0), merged into runs.
pub fn memory_regions(ram: &[u8]) -> Vec<MemoryRegion> {
    let mut out: Vec<MemoryRegion> = Vec::new();
    for (i, page) in ram.chunks(4096).enumerate() {
        if page.iter().all(|&b| b == 0) {
            continue;
        }
        let gpa = (i * 4096) as u64;
        match out.last_mut() {
            Some(r) if r.gpa + r.data.len() as u64 == gpa => r.data.extend_from_slice(page),
            _ => out.push(MemoryRegion {
                gpa,
                data: page.to_vec(),
            }),
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// kvm-bindings structs <-> the snapshot's raw bytes, field by field (no transmutes).

fn u64s(b: &[u8]) -> impl Iterator<Item = u64> + '_ {
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
}

fn debugregs_bytes(d: &kvm_debugregs) -> Vec<u8> {
    let mid = [d.dr6, d.dr7, d.flags];
    let words = d.db.iter().chain(mid.iter()).chain(d.reserved.iter());
    words.flat_map(|w| w.to_le_bytes()).collect()
}

fn debugregs_from(b: &[u8]) -> kvm_debugregs {
    let w: Vec<u64> = u64s(b).collect();
    let mut d = kvm_debugregs::default();
    d.db.copy_from_slice(&w[0..4]);
    d.dr6 = w[4];
    d.dr7 = w[5];
    d.flags = w[6];
    d.reserved.copy_from_slice(&w[7..16]);
    d
}

fn fpu_bytes(f: &kvm_fpu) -> Vec<u8> {
    let mut b = Vec::with_capacity(raw_size::FPU);
    for r in &f.fpr {
        b.extend_from_slice(r);
    }
    b.extend_from_slice(&f.fcw.to_le_bytes());
    b.extend_from_slice(&f.fsw.to_le_bytes());
    b.push(f.ftwx);
    b.push(f.pad1);
    b.extend_from_slice(&f.last_opcode.to_le_bytes());
    b.extend_from_slice(&f.last_ip.to_le_bytes());
    b.extend_from_slice(&f.last_dp.to_le_bytes());
    for x in &f.xmm {
        b.extend_from_slice(x);
    }
    b.extend_from_slice(&f.mxcsr.to_le_bytes());
    b.extend_from_slice(&f.pad2.to_le_bytes());
    b
}

fn fpu_from(b: &[u8]) -> kvm_fpu {
    let mut f = kvm_fpu::default();
    for (i, r) in f.fpr.iter_mut().enumerate() {
        r.copy_from_slice(&b[16 * i..16 * i + 16]);
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
    f.fcw = u16_at(128);
    f.fsw = u16_at(130);
    f.ftwx = b[132];
    f.pad1 = b[133];
    f.last_opcode = u16_at(134);
    f.last_ip = u64_at(136);
    f.last_dp = u64_at(144);
    for (i, x) in f.xmm.iter_mut().enumerate() {
        x.copy_from_slice(&b[152 + 16 * i..168 + 16 * i]);
    }
    f.mxcsr = u32::from_le_bytes(b[408..412].try_into().unwrap_or_default());
    f.pad2 = u32::from_le_bytes(b[412..416].try_into().unwrap_or_default());
    f
}

fn xsave_bytes(x: &kvm_xsave) -> Vec<u8> {
    x.region.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn xsave_from(b: &[u8]) -> kvm_xsave {
    let mut x = kvm_xsave::default();
    for (w, c) in x.region.iter_mut().zip(b.chunks_exact(4)) {
        *w = u32::from_le_bytes(c.try_into().unwrap_or_default());
    }
    x
}

fn xcrs_to(x: &kvm_xcrs) -> Vec<Xcr> {
    let n = (x.nr_xcrs as usize).min(x.xcrs.len());
    x.xcrs[..n]
        .iter()
        .map(|x| Xcr {
            index: x.xcr,
            value: x.value,
        })
        .collect()
}

fn xcrs_from(v: &[Xcr]) -> kvm_xcrs {
    let mut x = kvm_xcrs {
        nr_xcrs: v.len() as u32,
        ..Default::default()
    };
    for (slot, e) in x.xcrs.iter_mut().zip(v) {
        *slot = kvm_xcr {
            xcr: e.index,
            reserved: 0,
            value: e.value,
        };
    }
    x
}

/// `struct kvm_vcpu_events` as the 64 bytes documented in docs/snapshot-format.md.
fn events_bytes(e: &kvm_vcpu_events) -> Vec<u8> {
    let mut b = Vec::with_capacity(raw_size::VCPU_EVENTS);
    let x = &e.exception;
    b.extend_from_slice(&[x.injected, x.nr, x.has_error_code, x.pending]);
    b.extend_from_slice(&x.error_code.to_le_bytes());
    let i = &e.interrupt;
    b.extend_from_slice(&[i.injected, i.nr, i.soft, i.shadow]);
    let n = &e.nmi;
    b.extend_from_slice(&[n.injected, n.pending, n.masked, n.pad]);
    b.extend_from_slice(&e.sipi_vector.to_le_bytes());
    b.extend_from_slice(&e.flags.to_le_bytes());
    let s = &e.smi;
    b.extend_from_slice(&[s.smm, s.pending, s.smm_inside_nmi, s.latched_init]);
    b.push(e.triple_fault.pending);
    b.extend_from_slice(&e.reserved);
    b.push(e.exception_has_payload);
    b.extend_from_slice(&e.exception_payload.to_le_bytes());
    b
}

fn events_from(b: &[u8]) -> kvm_vcpu_events {
    let mut e = kvm_vcpu_events::default();
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
    (
        e.exception.injected,
        e.exception.nr,
        e.exception.has_error_code,
        e.exception.pending,
    ) = (b[0], b[1], b[2], b[3]);
    e.exception.error_code = u32_at(4);
    (
        e.interrupt.injected,
        e.interrupt.nr,
        e.interrupt.soft,
        e.interrupt.shadow,
    ) = (b[8], b[9], b[10], b[11]);
    (e.nmi.injected, e.nmi.pending, e.nmi.masked, e.nmi.pad) = (b[12], b[13], b[14], b[15]);
    e.sipi_vector = u32_at(16);
    e.flags = u32_at(20);
    (
        e.smi.smm,
        e.smi.pending,
        e.smi.smm_inside_nmi,
        e.smi.latched_init,
    ) = (b[24], b[25], b[26], b[27]);
    e.triple_fault.pending = b[28];
    e.reserved.copy_from_slice(&b[29..55]);
    e.exception_has_payload = b[55];
    e.exception_payload = u64::from_le_bytes(b[56..64].try_into().unwrap_or_default());
    e
}

fn lapic_bytes(l: &kvm_lapic_state) -> Vec<u8> {
    l.regs.iter().map(|&c| c as u8).collect()
}

fn lapic_from(b: &[u8]) -> kvm_lapic_state {
    let mut l = kvm_lapic_state::default();
    for (r, &x) in l.regs.iter_mut().zip(b) {
        *r = x as _;
    }
    l
}

fn cpuid_entry_bytes(e: &kvm_cpuid_entry2) -> [u8; raw_size::CPUID_ENTRY] {
    let mut out = [0u8; raw_size::CPUID_ENTRY];
    let words = [
        e.function,
        e.index,
        e.flags,
        e.eax,
        e.ebx,
        e.ecx,
        e.edx,
        e.padding[0],
        e.padding[1],
        e.padding[2],
    ];
    for (c, w) in out.chunks_exact_mut(4).zip(words) {
        c.copy_from_slice(&w.to_le_bytes());
    }
    out
}

fn cpuid_entry_from(b: &[u8; raw_size::CPUID_ENTRY]) -> kvm_cpuid_entry2 {
    let w: Vec<u32> = b
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    kvm_cpuid_entry2 {
        function: w[0],
        index: w[1],
        flags: w[2],
        eax: w[3],
        ebx: w[4],
        ecx: w[5],
        edx: w[6],
        padding: [w[7], w[8], w[9]],
    }
}

impl VcpuSnapshotExt for VcpuSnapshot {
    fn from_state(state: &VcpuState, msrs: Vec<MsrEntry>, host: HostDescription) -> Self {
        let sregs = KvmSregs::from(state.sregs);
        VcpuSnapshot {
            host,
            vcpu_id: 0,
            // KVM's convention: SS.DPL is the CPL (KVM SVM reports VMCB.CPL there
            // since 4.12; VMX reads it from the AR bytes). From here on it is explicit.
            cpl: PrivilegeLevel::from_low_bits(sregs.ss.dpl),
            regs: state.regs.into(),
            sregs,
            debug_regs: state.debug_regs.as_ref().map(debugregs_bytes),
            msrs,
            // The XSAVE image contains the legacy FPU area; keep kvm_fpu only without it.
            fpu: state.xsave.is_none().then(|| fpu_bytes(&state.fpu)),
            xsave: state.xsave.as_ref().map(xsave_bytes),
            xcrs: state.xcrs.as_ref().map(xcrs_to),
            vcpu_events: state.vcpu_events.as_ref().map(events_bytes),
            lapic: state.lapic.as_ref().map(lapic_bytes),
            mp_state: state.mp_state.map(|m| m.mp_state),
            cpuid: state
                .cpuid
                .as_ref()
                .map(|c| c.as_slice().iter().map(cpuid_entry_bytes).collect()),
            memory: Vec::new(),
        }
    }

    fn to_state(&self) -> Result<VcpuState, SnapshotError> {
        if let Some(x) = &self.xsave {
            if x.len() != raw_size::XSAVE_LEGACY {
                return Err(SnapshotError::Unsupported(format!(
                    "XSAVE image of {} bytes: this harness restores the {}-byte KVM_SET_XSAVE image only",
                    x.len(),
                    raw_size::XSAVE_LEGACY
                )));
            }
        }
        let cpuid = match &self.cpuid {
            Some(entries) => {
                let list: Vec<kvm_cpuid_entry2> = entries.iter().map(cpuid_entry_from).collect();
                Some(CpuId::from_entries(&list).map_err(|_| {
                    SnapshotError::Unsupported(format!("{} CPUID entries", list.len()))
                })?)
            }
            None => None,
        };
        Ok(VcpuState {
            cpuid,
            regs: self.regs.into(),
            sregs: kvm_sregs::from(self.sregs),
            fpu: self.fpu.as_deref().map(fpu_from).unwrap_or_default(),
            xsave: self.xsave.as_deref().map(xsave_from),
            xcrs: self.xcrs.as_deref().map(xcrs_from),
            debug_regs: self.debug_regs.as_deref().map(debugregs_from),
            msrs: self
                .msrs
                .iter()
                .map(|m| kvm_msr_entry {
                    index: m.index,
                    reserved: 0,
                    data: m.value,
                })
                .collect(),
            lapic: self.lapic.as_deref().map(lapic_from),
            vcpu_events: self.vcpu_events.as_deref().map(events_from),
            mp_state: self.mp_state.map(|mp_state| kvm_mp_state { mp_state }),
        })
    }
}

/// Conversions between [`VcpuSnapshot`] and the harness's [`VcpuState`].
pub trait VcpuSnapshotExt: Sized {
    /// A snapshot of `state` with `msrs` (replacing the state's short list) taken on `host`.
    fn from_state(state: &VcpuState, msrs: Vec<MsrEntry>, host: HostDescription) -> Self;
    /// The kvm-bindings structs to restore.
    fn to_state(&self) -> Result<VcpuState, SnapshotError>;
}

/// Captures the vCPU of `m` (not running, any pending I/O completed; see
/// [`Machine::complete_pending_io`]) and, with `memory`, the non-zero pages of
/// guest RAM.
pub fn capture(
    m: &Machine,
    kvm: &Kvm,
    host: &HostDescription,
    memory: bool,
) -> Result<VcpuSnapshot, SnapshotError> {
    let indices: Vec<u32> = kvm
        .get_msr_index_list()
        .map_err(ioctl("KVM_GET_MSR_INDEX_LIST"))?
        .as_slice()
        .to_vec();
    let state = VcpuState::capture(m.vcpu())?;
    let msrs = read_msrs(m.vcpu(), &indices)?;
    let mut snap = VcpuSnapshot::from_state(&state, msrs, host.clone());
    if memory {
        snap.memory = memory_regions(m.memory().as_slice());
    }
    Ok(snap)
}

/// How to restore.
#[derive(Clone, Copy, Debug, Default)]
pub struct RestoreOptions {
    /// Fix what can be fixed (SS.DPL := CPL, the target vendor's cooking) instead of
    /// refusing; every change is reported.
    pub repair: bool,
    /// The vendor whose entry rules the state must pass (default: this host's).
    pub target: Option<Vendor>,
}

/// What a restore did.
#[derive(Clone, Debug, Default)]
pub struct RestoreReport {
    /// The vendor whose rules the state was checked against.
    pub target: Option<Vendor>,
    /// Changes made by `--repair` or cross-vendor normalisation.
    pub changes: Vec<Change>,
    /// Warnings of the check rules (legal but notable states).
    pub warnings: Vec<String>,
    /// MSRs KVM refused to take (KVM_SET_MSRS stopped at them); the rest were set.
    pub msrs_refused: Vec<u32>,
    /// MSRs read back differently, besides the volatile ones (reported, not fatal).
    pub msr_mismatches: Vec<ReadbackMismatch>,
}

/// The state [`restore`] will write, after the safety checks and (if asked) repair.
/// Pure: touches no vCPU. Fails with [`SnapshotError::Refused`] when unsafe.
pub fn prepare(
    snap: &VcpuSnapshot,
    opts: RestoreOptions,
    host: Option<Vendor>,
) -> Result<(VcpuSnapshot, RestoreReport), SnapshotError> {
    let target = opts.target.or(host).or(snap.host.vendor).ok_or_else(|| {
        SnapshotError::Unsupported(
            "cannot tell the target vendor (this host is neither Intel nor AMD): pass --target-vendor"
                .into(),
        )
    })?;
    // The vCPU state without guest memory (which can be large and is not checked).
    let mut s = VcpuSnapshot {
        host: snap.host.clone(),
        vcpu_id: snap.vcpu_id,
        cpl: snap.cpl,
        regs: snap.regs,
        sregs: snap.sregs,
        debug_regs: snap.debug_regs.clone(),
        msrs: snap.msrs.clone(),
        fpu: snap.fpu.clone(),
        xsave: snap.xsave.clone(),
        xcrs: snap.xcrs.clone(),
        vcpu_events: snap.vcpu_events.clone(),
        lapic: snap.lapic.clone(),
        mp_state: snap.mp_state,
        cpuid: snap.cpuid.clone(),
        memory: Vec::new(),
    };
    let mut report = RestoreReport {
        target: Some(target),
        ..Default::default()
    };
    let cross_vendor = snap.host.vendor.is_some_and(|v| v != target);
    if s.cpl_disagrees() && !opts.repair {
        return Err(SnapshotError::Refused(s.restore_problems(target)));
    }
    if opts.repair || cross_vendor {
        report.changes = s.normalise_for(target).map_err(SnapshotError::Refused)?;
    } else {
        let problems = s.restore_problems(target);
        if !problems.is_empty() {
            return Err(SnapshotError::Refused(problems));
        }
    }
    report.warnings = s
        .restore_warnings(target)
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok((s, report))
}

/// Writes `snap`'s guest memory into `m`'s RAM: every byte outside the regions is
/// zeroed. Refuses regions outside RAM.
pub fn load_memory(m: &mut Machine, snap: &VcpuSnapshot) -> Result<(), SnapshotError> {
    let len = m.memory().len() as u64;
    if let Some(r) = snap
        .memory
        .iter()
        .find(|r| r.gpa.saturating_add(r.data.len() as u64) > len)
    {
        return Err(SnapshotError::Unsupported(format!(
            "memory region {:#x}+{:#x} lies outside this VM's {len:#x} bytes of RAM",
            r.gpa,
            r.data.len()
        )));
    }
    let ram = m.memory_mut().as_mut_slice();
    ram.fill(0);
    for r in &snap.memory {
        let start = r.gpa as usize;
        ram[start..start + r.data.len()].copy_from_slice(&r.data);
    }
    Ok(())
}

/// Restores the vCPU state of `snap` into `m` (normally a fresh VM), after the
/// safety checks, and verifies it by reading it back. Guest memory is not touched
/// (see [`load_memory`]).
pub fn restore(
    m: &Machine,
    snap: &VcpuSnapshot,
    opts: RestoreOptions,
) -> Result<RestoreReport, SnapshotError> {
    let (s, mut report) = prepare(snap, opts, host_vendor())?;
    let state = s.to_state()?;
    // The ioctls in KVM's required order; a refused MSR is reported, not fatal.
    report.msrs_refused = state.restore_reporting_msrs(m.vcpu())?;
    verify(m.vcpu(), &s, &mut report)?;
    Ok(report)
}

/// Reads the state back and compares it with what was written.
fn verify(
    vcpu: &VcpuFd,
    written: &VcpuSnapshot,
    report: &mut RestoreReport,
) -> Result<(), SnapshotError> {
    let sregs = KvmSregs::from(vcpu.get_sregs().map_err(ioctl("KVM_GET_SREGS"))?);
    let regs: Regs = vcpu.get_regs().map_err(ioctl("KVM_GET_REGS"))?.into();
    let mut mismatches = compare_sregs(&written.sregs, &sregs);
    mismatches.extend(compare_regs(&written.regs, &regs));
    // The extended control registers (XCR0 decides which XSAVE components are live).
    if let Some(xcrs) = &written.xcrs {
        let back = xcrs_to(&vcpu.get_xcrs().map_err(ioctl("KVM_GET_XCRS"))?);
        for w in xcrs {
            let r = back
                .iter()
                .find(|b| b.index == w.index)
                .map_or(0, |b| b.value);
            if r != w.value {
                mismatches.push(ReadbackMismatch {
                    field: format!("XCR{}", w.index),
                    written: w.value,
                    read: r,
                });
            }
        }
    }
    // Pending and injected events: what KVM round-trips exactly (the validity flags
    // and the fields they gate are left out: KVM sets them on its own).
    if let Some(bytes) = &written.vcpu_events {
        let w = events_from(bytes);
        let r = vcpu
            .get_vcpu_events()
            .map_err(ioctl("KVM_GET_VCPU_EVENTS"))?;
        let pairs: [(&str, u64, u64); 7] = [
            (
                "exception.injected",
                w.exception.injected.into(),
                r.exception.injected.into(),
            ),
            ("exception.nr", w.exception.nr.into(), r.exception.nr.into()),
            (
                "exception.error_code",
                w.exception.error_code.into(),
                r.exception.error_code.into(),
            ),
            (
                "interrupt.injected",
                w.interrupt.injected.into(),
                r.interrupt.injected.into(),
            ),
            ("interrupt.nr", w.interrupt.nr.into(), r.interrupt.nr.into()),
            ("nmi.injected", w.nmi.injected.into(), r.nmi.injected.into()),
            ("nmi.masked", w.nmi.masked.into(), r.nmi.masked.into()),
        ];
        for (field, written, read) in pairs {
            if written != read {
                mismatches.push(ReadbackMismatch {
                    field: format!("vcpu_events.{field}"),
                    written,
                    read,
                });
            }
        }
    }
    // The multiprocessing state (runnable, halted, waiting for SIPI...).
    if let Some(mp) = written.mp_state {
        let back = vcpu
            .get_mp_state()
            .map_err(ioctl("KVM_GET_MP_STATE"))?
            .mp_state;
        if back != mp {
            mismatches.push(ReadbackMismatch {
                field: "mp_state".into(),
                written: mp.into(),
                read: back.into(),
            });
        }
    }
    if !mismatches.is_empty() {
        return Err(SnapshotError::Readback(mismatches));
    }
    let checked: Vec<MsrEntry> = written
        .msrs
        .iter()
        .filter(|m| !VOLATILE_MSRS.contains(&m.index) && !report.msrs_refused.contains(&m.index))
        .copied()
        .collect();
    let indices: Vec<u32> = checked.iter().map(|m| m.index).collect();
    let back = read_msrs(vcpu, &indices)?;
    for w in &checked {
        let r = back.iter().find(|b| b.index == w.index);
        if r.is_none_or(|r| r.value != w.value) {
            report.msr_mismatches.push(ReadbackMismatch {
                field: format!("MSR {:#x}", w.index),
                written: w.value,
                read: r.map_or(0, |r| r.value),
            });
        }
    }
    Ok(())
}

/// Where `segstate snapshot save` pauses the harness guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavePoint {
    /// CPL 3 with an unusable SS of DPL 3 (AMD's post-SYSRET state).
    UserNullSs,
    /// CPL 3 with a valid user SS.
    User,
    /// CPL 0 in the `int3` handler (NULL SS, as an interrupt to CPL 0 leaves it in
    /// 64-bit mode), on its way back to user mode and the probe.
    Kernel,
}

impl SavePoint {
    /// Every pause point.
    pub const ALL: [SavePoint; 3] = [SavePoint::UserNullSs, SavePoint::User, SavePoint::Kernel];

    /// CLI name.
    pub fn name(self) -> &'static str {
        match self {
            SavePoint::UserNullSs => "user-null-ss",
            SavePoint::User => "user",
            SavePoint::Kernel => "kernel",
        }
    }
}

/// Runs the harness guest in a fresh VM to `at`, completes the pause, and captures
/// the vCPU with guest memory. The guest's next privileged step is the probe
/// `opts.probe`.
pub fn save_at(at: SavePoint, opts: &RunOptions) -> Result<VcpuSnapshot, SnapshotError> {
    let kvm = open_kvm()?;
    let host = host_description(&kvm);
    let mut m = Machine::new(&kvm, opts.timeout)?;
    let r = m.routines();
    let (entry, user_entry, pause) = match at {
        SavePoint::UserNullSs | SavePoint::User => (
            Entry::User {
                rip: r.u_pause_probe,
                ss: if at == SavePoint::User {
                    UserSs::Valid
                } else {
                    UserSs::Unusable
                },
            },
            0,
            MMIO_USER_PAUSE,
        ),
        SavePoint::Kernel => (
            Entry::Kernel {
                rip: r.k_iret_to_user,
            },
            r.u_int3,
            MMIO_KERNEL_PAUSE,
        ),
    };
    let setup = |e: String| SnapshotError::Harness(HarnessError::Setup(e));
    for (a, v) in [
        (PARAM_PROBE, r.probe(opts.probe)),
        (PARAM_USER_ENTRY, user_entry),
        (PARAM_STORM_COUNT, 1),
    ] {
        m.set_param(a, v).map_err(setup)?;
    }
    m.enter(entry).map_err(setup)?;
    match m.run() {
        Ok(Exit::MmioWrite { addr, .. }) if addr == pause => {}
        other => {
            return Err(setup(format!(
                "guest did not reach its {} pause: {other:?}",
                at.name()
            )));
        }
    }
    // KVM: the state is consistent only once the MMIO exit is completed.
    m.complete_pending_io().map_err(setup)?;
    capture(&m, &kvm, &host, true)
}

/// What the guest did after a restore.
#[derive(Clone, Debug)]
pub struct ProbeOutcome {
    /// PASS: the probe raised #GP from CPL 3; ESCALATED: it ran.
    pub verdict: Verdict,
    /// What happened, in a sentence.
    pub detail: String,
    /// Pauses the guest passed on its way to the probe.
    pub pauses: u32,
}

/// Builds a fresh VM, loads `snap`'s guest memory and restores its vCPU.
pub fn restore_into_fresh_machine(
    snap: &VcpuSnapshot,
    opts: RestoreOptions,
    timeout: Duration,
) -> Result<(Machine, RestoreReport), SnapshotError> {
    // Check before building anything: a refused snapshot never reaches a VM.
    prepare(snap, opts, host_vendor())?;
    if snap.memory.is_empty() {
        return Err(SnapshotError::Unsupported(
            "the snapshot has no guest memory: restore needs a whole-VM snapshot of the harness guest"
                .into(),
        ));
    }
    let kvm = open_kvm()?;
    let mut m = Machine::new(&kvm, timeout)?;
    load_memory(&mut m, snap)?;
    let report = restore(&m, snap, opts)?;
    Ok((m, report))
}

/// Resumes the harness guest and judges its privileged probe, as the scenarios do:
/// PASS when the probe raises #GP at CPL 3, ESCALATED when it completes. Pauses on
/// the way (the rest of a kernel path, a user pause) are run past.
pub fn run_probe(m: &mut Machine) -> ProbeOutcome {
    let r = m.routines();
    let probe = m
        .memory()
        .read_u64(PARAM_PROBE)
        .ok()
        .and_then(|a| Probe::ALL.into_iter().find(|&p| r.probe(p) == a));
    let Some(probe) = probe else {
        return ProbeOutcome {
            verdict: corrupted("the guest's probe parameter names no probe routine"),
            detail: String::new(),
            pauses: 0,
        };
    };
    let insn = r.probe_insn(probe);
    let mut pauses = 0;
    let mut notes = Vec::new();
    let verdict = loop {
        if pauses > 64 {
            break corrupted("the guest keeps pausing");
        }
        match m.run() {
            Ok(Exit::MmioWrite {
                addr: MMIO_USER_PAUSE | MMIO_KERNEL_PAUSE,
                ..
            }) => pauses += 1,
            Ok(Exit::MmioWrite {
                addr: MMIO_PRIV_RAN,
                ..
            }) => {
                notes.push(format!("user-mode `{}` completed: CPL was 0", probe.name()));
                break Verdict::Escalated;
            }
            Ok(Exit::Hlt) => notes.push("KVM_EXIT_HLT: hlt executed at CPL 0".into()),
            Ok(Exit::IoOut {
                port: PORT_EXCEPTION,
                ..
            }) => match m.exception_frame() {
                Ok(f) if f.vector == u64::from(VECTOR_GP) && f.rip == insn && f.cs & 3 == 3 => {
                    notes.push(format!(
                        "`{}` raised #GP from CPL 3 (cs {:#x})",
                        probe.name(),
                        f.cs
                    ));
                    break Verdict::Pass;
                }
                Ok(f) => break corrupted(describe_frame(&f)),
                Err(e) => break corrupted(e),
            },
            Ok(other) => break corrupted(format!("unexpected exit {other:?}")),
            Err(e) => {
                break match e {
                    crate::machine::RunFailure::Hung { .. } => Verdict::Hung {
                        detail: e.to_string(),
                    },
                    _ => corrupted(e.to_string()),
                };
            }
        }
    };
    if let Verdict::Corrupted { detail } | Verdict::Hung { detail } = &verdict {
        notes.push(detail.clone());
    }
    ProbeOutcome {
        verdict,
        detail: notes.join("; "),
        pauses,
    }
}

fn corrupted(detail: impl Into<String>) -> Verdict {
    Verdict::Corrupted {
        detail: detail.into(),
    }
}
