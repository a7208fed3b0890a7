//! The harness guest as a snapshot subject: pause it where a snapshot is taken, and
//! after a restore let it show its privilege with the probe.

use std::time::Duration;

use segstate::snapshot::VcpuSnapshot;

use super::{
    RestoreOptions, RestoreReport, SnapshotError, capture, host_description, host_vendor,
    load_memory, prepare, restore,
};
use crate::error::HarnessError;
use crate::guest::layout::*;
use crate::guest::{Entry, Probe, UserSs};
use crate::machine::{Exit, Machine, open_kvm};
use crate::scenario::{
    RunOptions, Verdict, describe_frame, probe_fault_note, probe_faulted_at_cpl3,
};

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

    /// The guest's pause at this point, for errors.
    fn pause_name(self) -> &'static str {
        match self {
            SavePoint::UserNullSs => "user-null-ss pause",
            SavePoint::User => "user pause",
            SavePoint::Kernel => "kernel pause",
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
    for (a, v) in [
        (PARAM_PROBE, r.probe(opts.probe)),
        (PARAM_USER_ENTRY, user_entry),
        (PARAM_STORM_COUNT, 1),
    ] {
        m.set_param(a, v).map_err(HarnessError::from)?;
    }
    m.enter(entry)?;
    m.run_to_pause(pause, at.pause_name())?;
    // KVM: the state is consistent only once the MMIO exit is completed.
    m.complete_pending_io()?;
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
        return Err(SnapshotError::NoGuestMemory);
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
                Ok(f) if probe_faulted_at_cpl3(&f, insn) => {
                    notes.push(probe_fault_note(probe, &f));
                    break Verdict::Pass;
                }
                Ok(f) => break corrupted(describe_frame(&f)),
                Err(e) => break corrupted(e.to_string()),
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
