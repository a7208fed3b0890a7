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

mod codec;
mod probe;

use std::fmt;

use kvm_ioctls::{Cap, Kvm, VcpuFd};
use segstate::arch::{Vendor, msr};
use segstate::format::kvm::KvmSregs;
use segstate::snapshot::safety::{compare_regs, compare_sregs};
use segstate::snapshot::{
    Change, HostDescription, MemoryRegion, MsrEntry, ReadbackMismatch, Regs, RestoreProblem,
    VcpuSnapshot,
};

pub use codec::VcpuSnapshotExt;
pub use probe::{ProbeOutcome, SavePoint, restore_into_fresh_machine, run_probe, save_at};

use crate::error::{HarnessError, IoctlError, transparent_error};
use crate::machine::Machine;
use crate::vcpu_state::VcpuState;

/// MSRs whose value legitimately moves between write and read-back.
pub const VOLATILE_MSRS: [u32; 2] = [
    msr::TSC,          // The guest's clock runs on.
    msr::TSC_DEADLINE, // KVM reports it relative to the moving TSC.
];

/// Why a capture or restore did not happen.
#[derive(Debug)]
pub enum SnapshotError {
    /// The state is unsafe to restore; nothing was written.
    Refused(Vec<RestoreProblem>),
    /// A KVM ioctl failed.
    Ioctl(IoctlError),
    /// The VM could not be built or the guest did not reach its pause.
    Harness(HarnessError),
    /// What KVM read back differs from what was written (after normalisation).
    Readback(Vec<ReadbackMismatch>),
    /// A raw section does not have the size of the kvm-bindings struct it restores
    /// into (for XSAVE: this harness restores the legacy KVM_SET_XSAVE image only).
    SectionSize {
        /// The section.
        section: &'static str,
        /// Its size.
        bytes: usize,
        /// The size the struct has.
        expected: usize,
    },
    /// More CPUID entries than kvm-bindings' `CpuId` holds.
    TooManyCpuidEntries(usize),
    /// Neither the options, this host nor the snapshot name an Intel or AMD target.
    NoTargetVendor,
    /// A memory region of the snapshot lies outside this VM's RAM.
    MemoryOutsideRam {
        /// Guest physical start of the region.
        gpa: u64,
        /// Its length.
        bytes: usize,
        /// Bytes of RAM this VM has.
        ram: u64,
    },
    /// The snapshot has no guest memory, and restoring the harness guest needs it.
    NoGuestMemory,
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
            SnapshotError::Ioctl(e) => write!(f, "{e}"),
            SnapshotError::Harness(e) => write!(f, "{e}"),
            SnapshotError::Readback(m) => {
                write!(f, "KVM read back a different state: ")?;
                let parts: Vec<String> = m.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join("; "))
            }
            SnapshotError::SectionSize {
                section,
                bytes,
                expected,
            } => write!(
                f,
                "{section} section of {bytes} bytes: this harness restores {expected}-byte ones"
            ),
            SnapshotError::TooManyCpuidEntries(n) => {
                write!(f, "{n} CPUID entries: more than KVM_SET_CPUID2 takes")
            }
            SnapshotError::NoTargetVendor => f.write_str(
                "cannot tell the target vendor (this host is neither Intel nor AMD): pass --target-vendor",
            ),
            SnapshotError::MemoryOutsideRam { gpa, bytes, ram } => write!(
                f,
                "memory region {gpa:#x}+{bytes:#x} lies outside this VM's {ram:#x} bytes of RAM"
            ),
            SnapshotError::NoGuestMemory => f.write_str(
                "the snapshot has no guest memory: restore needs a whole-VM snapshot of the harness guest",
            ),
        }
    }
}

transparent_error!(SnapshotError: Ioctl(IoctlError), Harness(HarnessError));

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

/// Reads every MSR of `indices` the host lets us read (see
/// [`crate::vcpu_state::read_msrs`]), as the snapshot's entries.
pub fn read_msrs(vcpu: &VcpuFd, indices: &[u32]) -> Result<Vec<MsrEntry>, IoctlError> {
    Ok(crate::vcpu_state::read_msrs(vcpu, indices)?
        .iter()
        .map(|e| MsrEntry {
            index: e.index,
            value: e.data,
        })
        .collect())
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
        .map_err(IoctlError::of("KVM_GET_MSR_INDEX_LIST"))?
        .as_slice()
        .to_vec();
    let state = VcpuState::capture(m.vm(), m.vcpu())?;
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

/// What a restore did. It grows as restores learn to do more: `#[non_exhaustive]`,
/// so that a field added is not a breaking change.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The vendor whose rules the state was checked against (a restore without one
    /// is refused with [`SnapshotError::NoTargetVendor`]).
    pub target: Vendor,
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
    let target = opts
        .target
        .or(host)
        .or(snap.host.vendor)
        .ok_or(SnapshotError::NoTargetVendor)?;
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
        target,
        changes: Vec::new(),
        warnings: Vec::new(),
        msrs_refused: Vec::new(),
        msr_mismatches: Vec::new(),
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
        return Err(SnapshotError::MemoryOutsideRam {
            gpa: r.gpa,
            bytes: r.data.len(),
            ram: len,
        });
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
    let sregs = KvmSregs::from(vcpu.get_sregs().map_err(IoctlError::of("KVM_GET_SREGS"))?);
    let regs: Regs = vcpu
        .get_regs()
        .map_err(IoctlError::of("KVM_GET_REGS"))?
        .into();
    let mut mismatches = compare_sregs(&written.sregs, &sregs);
    mismatches.extend(compare_regs(&written.regs, &regs));
    // The extended control registers (XCR0 decides which XSAVE components are live).
    if let Some(xcrs) = &written.xcrs {
        let back = codec::xcrs_to(&vcpu.get_xcrs().map_err(IoctlError::of("KVM_GET_XCRS"))?);
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
        let w = codec::events_from(bytes)?;
        let r = vcpu
            .get_vcpu_events()
            .map_err(IoctlError::of("KVM_GET_VCPU_EVENTS"))?;
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
            .map_err(IoctlError::of("KVM_GET_MP_STATE"))?
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
