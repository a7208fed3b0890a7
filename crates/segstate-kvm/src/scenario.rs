//! Live scenarios: run guest code into a state where SS is unusable or NULL,
//! pause, sync the special registers through a [`SregsSync`], resume, and let
//! the guest itself show its privilege by executing a privileged instruction.
//!
//! Verdicts come from the guest's behaviour only: the vector its CPL-0
//! handler reports (with the CPU-pushed frame), or the marker it writes after
//! the privileged instruction completed. Nothing is judged by reading back
//! what the harness wrote.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use kvm_bindings::kvm_sregs;
use kvm_ioctls::Kvm;
use segstate::format::kvm::KvmSegment;

use crate::error::{HarnessError, IoctlError};
use crate::guest::idt::VECTOR_GP;
use crate::guest::layout::*;
use crate::guest::{Entry, Probe, UserSs};
use crate::machine::{ExceptionFrame, Exit, Machine, RunFailure, open_kvm};
use crate::sync::SregsSync;
use crate::vcpu_state::VcpuState;

/// The scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScenarioKind {
    /// CPL 3 with an unusable SS of DPL 3 (AMD post-SYSRET state) set via
    /// KVM_SET_SREGS; pause, sync, probe.
    NullSsUser,
    /// Kernel loads a NULL SS and SYSRETs to user code; pause, sync, probe.
    Sysret,
    /// User `int3` into the kernel (NULL SS at CPL 0); pause and sync there;
    /// IRETQ back; pause and sync in user mode; probe.
    InterruptReturn,
    /// Pause in user mode with an unusable SS, capture, destroy the VM,
    /// restore into a fresh VM through the sync, probe.
    SnapshotRestore,
    /// Many pause/sync/resume cycles in user mode with an unusable SS, probe.
    SyncStorm,
}

impl ScenarioKind {
    /// Every scenario, in report order.
    pub const ALL: [ScenarioKind; 5] = [
        ScenarioKind::NullSsUser,
        ScenarioKind::Sysret,
        ScenarioKind::InterruptReturn,
        ScenarioKind::SnapshotRestore,
        ScenarioKind::SyncStorm,
    ];

    /// The scenario's row: its stable name and its one-line description, kept
    /// together so that each is written once.
    const fn row(self) -> (&'static str, &'static str) {
        match self {
            ScenarioKind::NullSsUser => (
                "null-ss-user",
                "CPL 3 with unusable SS (DPL 3): pause, sync, privileged probe",
            ),
            ScenarioKind::Sysret => (
                "sysret",
                "kernel loads NULL SS, SYSRET to user: pause, sync, privileged probe",
            ),
            ScenarioKind::InterruptReturn => (
                "interrupt-return",
                "user int3 → kernel (NULL SS): sync; IRETQ → user: sync, probe",
            ),
            ScenarioKind::SnapshotRestore => (
                "snapshot-restore",
                "CPL 3, unusable SS: capture, fresh VM, restore via sync, probe",
            ),
            ScenarioKind::SyncStorm => (
                "sync-storm",
                "CPL 3, unusable SS: many pause/sync/resume cycles, then probe",
            ),
        }
    }

    /// Stable name (CLI and JSON).
    pub fn name(self) -> &'static str {
        self.row().0
    }

    /// One-line description.
    pub fn description(self) -> &'static str {
        self.row().1
    }
}

impl fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown scenario name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownScenario(pub String);

impl fmt::Display for UnknownScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = ScenarioKind::ALL.iter().map(|k| k.name()).collect();
        write!(
            f,
            "unknown scenario `{}` (known: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl core::error::Error for UnknownScenario {}

/// Scenario names as the CLI and JSON spell them.
///
/// ```
/// use segstate_kvm::ScenarioKind;
///
/// let kind: ScenarioKind = "null-ss-user".parse().unwrap();
/// assert_eq!(kind, ScenarioKind::NullSsUser);
/// assert!("null-ss".parse::<ScenarioKind>().unwrap_err().to_string().contains("sync-storm"));
/// ```
impl FromStr for ScenarioKind {
    type Err = UnknownScenario;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScenarioKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownScenario(s.to_string()))
    }
}

/// What the guest showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Privilege kept: the probe raised #GP to the CPL-0 handler from CPL 3.
    Pass,
    /// The privileged instruction ran: user code had CPL 0.
    Escalated,
    /// Another fault, a refused state, or a failed KVM_RUN / VM entry.
    Corrupted { detail: String },
    /// The watchdog had to stop KVM_RUN.
    Hung { detail: String },
}

impl Verdict {
    /// Upper-case label: PASS, ESCALATED, CORRUPTED, HUNG.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Escalated => "ESCALATED",
            Verdict::Corrupted { .. } => "CORRUPTED",
            Verdict::Hung { .. } => "HUNG",
        }
    }

    fn corrupted(detail: impl Into<String>) -> Self {
        Verdict::Corrupted {
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Corrupted { detail } | Verdict::Hung { detail } => {
                write!(f, "{}: {detail}", self.label())
            }
            _ => f.write_str(self.label()),
        }
    }
}

/// Options for a run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Bound on each KVM_RUN.
    pub timeout: Duration,
    /// The privileged instruction the user code runs.
    pub probe: Probe,
    /// Pause/sync/resume cycles in `sync-storm`.
    pub storm_cycles: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            probe: Probe::Hlt,
            storm_cycles: 10_000,
        }
    }
}

/// One sync point: what KVM reported and what the sync wrote back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PausePoint {
    /// Where the guest paused: "user", "kernel", "snapshot".
    pub at: &'static str,
    /// CS as KVM_GET_SREGS reported it.
    pub cs: KvmSegment,
    /// SS as KVM_GET_SREGS reported it.
    pub ss_reported: KvmSegment,
    /// SS as the sync handed it to KVM_SET_SREGS.
    pub ss_synced: KvmSegment,
}

/// The result of one scenario run.
#[derive(Clone, Debug)]
pub struct ScenarioOutcome {
    pub kind: ScenarioKind,
    /// [`SregsSync::name`] of the sync used.
    pub sync: String,
    pub verdict: Verdict,
    /// What happened, in a sentence or two.
    pub detail: String,
    /// Sync points (for `sync-storm`: the first and the last).
    pub pauses: Vec<PausePoint>,
    /// Number of syncs performed.
    pub syncs: u32,
    /// Building the VM(s) and loading the guest.
    pub setup: Duration,
    /// Everything else: guest runs, syncs, capture/restore.
    pub run: Duration,
}

/// Runs one scenario with `sync` in a fresh VM. Never panics on a KVM failure:
/// a host without a usable KVM gives `Corrupted` with the reason (call
/// [`crate::kvm_available`] first to tell that case apart).
pub fn run_scenario(
    kind: ScenarioKind,
    sync: &dyn SregsSync,
    opts: &RunOptions,
) -> ScenarioOutcome {
    let mut ctx = Ctx {
        sync,
        opts,
        pauses: Vec::new(),
        syncs: 0,
        setup: Duration::ZERO,
        notes: Vec::new(),
    };
    let start = Instant::now();
    let verdict = match open_kvm() {
        Ok(kvm) => match kind {
            ScenarioKind::NullSsUser => ctx.null_ss_user(&kvm),
            ScenarioKind::Sysret => ctx.sysret(&kvm),
            ScenarioKind::InterruptReturn => ctx.interrupt_return(&kvm),
            ScenarioKind::SnapshotRestore => ctx.snapshot_restore(&kvm),
            ScenarioKind::SyncStorm => ctx.sync_storm(&kvm),
        }
        // A step that decided the verdict early (a failure, an escalation) is it.
        .unwrap_or_else(|v| v),
        Err(e) => Verdict::corrupted(e.to_string()),
    };
    let total = start.elapsed();
    let mut detail = ctx.notes.join("; ");
    if let Verdict::Corrupted { detail: d } | Verdict::Hung { detail: d } = &verdict {
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        detail.push_str(d);
    }
    ScenarioOutcome {
        kind,
        sync: sync.name(),
        verdict,
        detail,
        pauses: ctx.pauses,
        syncs: ctx.syncs,
        setup: ctx.setup,
        run: total.saturating_sub(ctx.setup),
    }
}

/// What one run of the guest up to its next event produced.
#[derive(Debug)]
enum Event {
    UserPause,
    KernelPause,
    PrivRan,
    Exception(ExceptionFrame),
    Other(Exit),
}

/// Shared state of one scenario run.
struct Ctx<'a> {
    sync: &'a dyn SregsSync,
    opts: &'a RunOptions,
    pauses: Vec<PausePoint>,
    syncs: u32,
    setup: Duration,
    notes: Vec<String>,
}

type Step<T> = Result<T, Verdict>;

fn hung_or_failed(f: RunFailure) -> Verdict {
    match f {
        RunFailure::Hung { .. } => Verdict::Hung {
            detail: f.to_string(),
        },
        RunFailure::Ioctl(_) => Verdict::corrupted(f.to_string()),
    }
}

impl Ctx<'_> {
    fn machine(&mut self, kvm: &Kvm) -> Step<Machine> {
        let t = Instant::now();
        let m = Machine::new(kvm, self.opts.timeout).map_err(Verdict::from);
        self.setup += t.elapsed();
        m
    }

    /// Runs until the guest produces an event (a `hlt` exit is noted and run past).
    fn next_event(&mut self, m: &mut Machine) -> Step<Event> {
        loop {
            let exit = m.run().map_err(hung_or_failed)?;
            return Ok(match exit {
                Exit::MmioWrite {
                    addr: MMIO_USER_PAUSE,
                    ..
                } => Event::UserPause,
                Exit::MmioWrite {
                    addr: MMIO_KERNEL_PAUSE,
                    ..
                } => Event::KernelPause,
                Exit::MmioWrite {
                    addr: MMIO_PRIV_RAN,
                    ..
                } => Event::PrivRan,
                Exit::IoOut {
                    port: PORT_EXCEPTION,
                    ..
                } => Event::Exception(m.exception_frame()?),
                Exit::Hlt => {
                    self.notes
                        .push("KVM_EXIT_HLT: hlt executed at CPL 0".into());
                    continue;
                }
                other => Event::Other(other),
            });
        }
    }

    /// Runs and requires `want`; anything else decides the verdict.
    fn expect(&mut self, m: &mut Machine, want: &str) -> Step<()> {
        let ev = self.next_event(m)?;
        match (&ev, want) {
            (Event::UserPause, "user pause") | (Event::KernelPause, "kernel pause") => Ok(()),
            _ => Err(self.unexpected(m, ev, want)),
        }
    }

    fn unexpected(&self, m: &Machine, ev: Event, wanted: &str) -> Verdict {
        match ev {
            Event::Exception(f) => {
                Verdict::corrupted(format!("waiting for {wanted}: {}", describe_frame(&f)))
            }
            Event::PrivRan => Verdict::Escalated,
            Event::UserPause | Event::KernelPause => Verdict::corrupted(format!(
                "waiting for {wanted}: unexpected {ev:?}{}",
                rip_of(m)
            )),
            Event::Other(exit) => {
                Verdict::corrupted(format!("waiting for {wanted}: {exit:?}{}", rip_of(m)))
            }
        }
    }

    /// The sync: KVM_GET_SREGS → `sync` → KVM_SET_SREGS.
    fn sync_point(&mut self, m: &Machine, at: &'static str) -> Step<()> {
        let mut s = m.sregs()?;
        let reported = s;
        self.apply_sync(&mut s)?;
        m.vcpu().set_sregs(&s).map_err(|e| {
            Verdict::corrupted(format!(
                "the synced state was refused: {}",
                IoctlError::new("KVM_SET_SREGS", e)
            ))
        })?;
        self.record(at, &reported, &s);
        Ok(())
    }

    fn apply_sync(&mut self, s: &mut kvm_sregs) -> Step<()> {
        self.syncs += 1;
        self.sync
            .sync(s)
            .map_err(|e| Verdict::corrupted(format!("sync `{}` failed: {e}", self.sync.name())))
    }

    fn record(&mut self, at: &'static str, reported: &kvm_sregs, synced: &kvm_sregs) {
        let p = PausePoint {
            at,
            cs: reported.cs.into(),
            ss_reported: reported.ss.into(),
            ss_synced: synced.ss.into(),
        };
        if self.pauses.len() < 2 {
            self.pauses.push(p);
        } else {
            // Storms keep the first and the last.
            self.pauses[1] = p;
        }
    }

    /// Resumes the guest at the probe and judges what it does.
    fn judge(&mut self, m: &mut Machine) -> Verdict {
        let probe = self.opts.probe;
        let insn = m.routines().probe_insn(probe);
        match self.next_event(m) {
            Err(v) => v,
            Ok(Event::PrivRan) => {
                self.notes
                    .push(format!("user-mode `{}` completed: CPL was 0", probe.name()));
                Verdict::Escalated
            }
            Ok(Event::Exception(f)) if probe_faulted_at_cpl3(&f, insn) => {
                self.notes.push(probe_fault_note(probe, &f));
                Verdict::Pass
            }
            Ok(ev) => self.unexpected(m, ev, "the probe's #GP"),
        }
    }

    /// A fresh machine entered in user mode at `rip` with an unusable SS.
    fn start_user_unusable_ss(&mut self, kvm: &Kvm, rip: u64) -> Step<Machine> {
        let ss = UserSs::Unusable;
        self.start(kvm, Entry::User { rip, ss }, None)
    }

    /// A fresh machine entered in kernel mode at `rip`, to return to user mode at
    /// `user_entry`.
    fn start_kernel(&mut self, kvm: &Kvm, rip: u64, user_entry: u64) -> Step<Machine> {
        self.start(kvm, Entry::Kernel { rip }, Some(user_entry))
    }

    /// Runs to the guest's pause in `at` ("user" or "kernel") mode and syncs there.
    fn pause_and_sync(&mut self, m: &mut Machine, at: &'static str) -> Step<()> {
        self.expect(m, &format!("{at} pause"))?;
        self.sync_point(m, at)
    }

    fn start(&mut self, kvm: &Kvm, entry: Entry, user_entry: Option<u64>) -> Step<Machine> {
        let mut m = self.machine(kvm)?;
        let r = m.routines();
        let params = [
            (PARAM_PROBE, r.probe(self.opts.probe)),
            (PARAM_USER_ENTRY, user_entry.unwrap_or(0)),
            (PARAM_STORM_COUNT, u64::from(self.opts.storm_cycles.max(1))),
        ];
        for (a, v) in params {
            m.set_param(a, v).map_err(HarnessError::from)?;
        }
        m.enter(entry)
            .map_err(|e| Verdict::corrupted(format!("the entry state was refused: {e}")))?;
        Ok(m)
    }

    fn null_ss_user(&mut self, kvm: &Kvm) -> Step<Verdict> {
        let rip = crate::guest::code()?.routines.u_pause_probe;
        let mut m = self.start_user_unusable_ss(kvm, rip)?;
        self.pause_and_sync(&mut m, "user")?;
        Ok(self.judge(&mut m))
    }

    fn sysret(&mut self, kvm: &Kvm) -> Step<Verdict> {
        let r = &crate::guest::code()?.routines;
        let mut m = self.start_kernel(kvm, r.k_sysret_null_ss, r.u_pause_probe)?;
        self.pause_and_sync(&mut m, "user")?;
        if let Some(p) = self.pauses.first() {
            self.notes.push(format!(
                "SS after SYSRET as KVM reports it: {}",
                p.ss_reported
            ));
        }
        Ok(self.judge(&mut m))
    }

    fn interrupt_return(&mut self, kvm: &Kvm) -> Step<Verdict> {
        let r = &crate::guest::code()?.routines;
        let mut m = self.start_kernel(kvm, r.k_iret_to_user, r.u_int3)?;
        self.pause_and_sync(&mut m, "kernel")?;
        self.pause_and_sync(&mut m, "user")?;
        Ok(self.judge(&mut m))
    }

    fn snapshot_restore(&mut self, kvm: &Kvm) -> Step<Verdict> {
        let rip = crate::guest::code()?.routines.u_pause_probe;
        let (mut state, ram) = {
            let mut m = self.start_user_unusable_ss(kvm, rip)?;
            self.expect(&mut m, "user pause")?;
            // KVM: state is consistent only once the MMIO exit is completed.
            m.complete_pending_io()?;
            let state = VcpuState::capture(m.vm(), m.vcpu())?;
            (state, m.memory().as_slice().to_vec())
            // `m` dropped here: the old VM, vCPU and RAM are gone.
        };
        let reported = state.sregs;
        self.apply_sync(&mut state.sregs)?;
        self.record("snapshot", &reported, &state.sregs);
        let mut m = self.machine(kvm)?;
        m.memory_mut().write(0, &ram).map_err(HarnessError::from)?;
        state
            .restore(m.vcpu())
            .map_err(|e| Verdict::corrupted(format!("restore: {e}")))?;
        Ok(self.judge(&mut m))
    }

    fn sync_storm(&mut self, kvm: &Kvm) -> Step<Verdict> {
        let rip = crate::guest::code()?.routines.u_storm;
        let mut m = self.start_user_unusable_ss(kvm, rip)?;
        let n = self.opts.storm_cycles.max(1);
        let mut first_dpl = None;
        let mut changed_at = None;
        for cycle in 1..=n {
            self.pause_and_sync(&mut m, "user")?;
            let dpl = self.pauses.last().map(|p| p.ss_reported.dpl);
            if first_dpl.is_none() {
                first_dpl = dpl;
            } else if dpl != first_dpl {
                // The CPL has moved; more cycles cannot undo what the probe will
                // show. End the guest's loop: finish the pending MMIO write, then
                // leave one iteration in its counter (RCX), so it goes to the probe.
                changed_at = Some(cycle);
                m.complete_pending_io()?;
                let mut regs = m.regs()?;
                regs.rcx = 1;
                m.vcpu()
                    .set_regs(&regs)
                    .map_err(IoctlError::of("KVM_SET_REGS"))?;
                break;
            }
        }
        self.notes.push(match changed_at {
            None => format!("{n} syncs; KVM-reported SS.DPL never changed"),
            Some(k) => format!(
                "KVM-reported SS.DPL changed at sync {k} of {n}; the guest's loop was ended there"
            ),
        });
        Ok(self.judge(&mut m))
    }
}

/// The harness failed under the guest: the run says nothing about privilege.
impl From<HarnessError> for Verdict {
    fn from(e: HarnessError) -> Self {
        Verdict::corrupted(e.to_string())
    }
}

impl From<IoctlError> for Verdict {
    fn from(e: IoctlError) -> Self {
        Verdict::corrupted(e.to_string())
    }
}

fn rip_of(m: &Machine) -> String {
    m.regs()
        .map(|r| format!(" at rip {:#x}", r.rip))
        .unwrap_or_default()
}

/// The PASS condition of every run: the probe instruction itself raised #GP, from
/// code whose CS says CPL 3 (the frame the CPU pushed, not what the harness wrote).
pub(crate) fn probe_faulted_at_cpl3(f: &ExceptionFrame, probe_insn: u64) -> bool {
    f.vector == u64::from(VECTOR_GP) && f.rip == probe_insn && f.cs & 3 == 3
}

/// The note a PASS leaves.
pub(crate) fn probe_fault_note(probe: Probe, f: &ExceptionFrame) -> String {
    format!("`{}` raised #GP from CPL 3 (cs {:#x})", probe.name(), f.cs)
}

/// "#GP(0x0) at rip … cs … ss …".
pub fn describe_frame(f: &ExceptionFrame) -> String {
    format!(
        "exception {} (error {:#x}) at rip {:#x}, cs {:#x}, ss {:#x}, rsp {:#x}",
        f.vector, f.error_code, f.rip, f.cs, f.ss, f.rsp
    )
}
