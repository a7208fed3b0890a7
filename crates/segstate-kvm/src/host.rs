//! Facts about this host's KVM, measured live with the same guest and watchdog
//! as the scenarios. Nothing here is assumed: another backend may differ in
//! every answer, and the report says which way this one went.

use std::fmt;
use std::time::{Duration, Instant};

use kvm_bindings::KVM_MAX_CPUID_ENTRIES;
use kvm_ioctls::{Cap, Kvm};

use crate::error::{HarnessError, IoctlError};
use crate::guest::layout::*;
use crate::guest::{Entry, Probe, UserSs};
use crate::machine::{Exit, Machine, RunFailure, open_kvm};
use crate::scenario::{PausePoint, RunOptions, ScenarioKind, describe_frame, run_scenario};
use crate::sync::Verbatim;
use segstate::format::kvm::KvmSegment;

/// KVM backend modules the harness knows by name.
pub const BACKEND_MODULES: [&str; 3] = ["kvm_intel", "kvm_amd", "kvm_pvm"];

/// What `/dev/kvm` is on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    /// KVM_GET_API_VERSION (always 12 when this is returned).
    pub api_version: i32,
    /// Loaded backend modules from [`BACKEND_MODULES`] (`/sys/module`), or
    /// empty when none is recognised (built-in KVM, other backends).
    pub backends: Vec<String>,
    /// CPU vendor string (`GenuineIntel`, `AuthenticAMD`, …).
    pub cpu_vendor: String,
    /// KVM_CAP_IMMEDIATE_EXIT (the watchdog's race-free kick).
    pub immediate_exit: bool,
}

impl HostInfo {
    /// The backends joined, or "unknown".
    pub fn backend(&self) -> String {
        if self.backends.is_empty() {
            "unknown".into()
        } else {
            self.backends.join("+")
        }
    }
}

impl fmt::Display for HostInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KVM API {} on {} ({})",
            self.api_version,
            self.backend(),
            self.cpu_vendor
        )
    }
}

/// Checks that `/dev/kvm` opens, speaks API 12 and can create a VM.
pub fn kvm_available() -> Result<HostInfo, HarnessError> {
    let kvm = open_kvm()?;
    drop(kvm.create_vm().map_err(IoctlError::of("KVM_CREATE_VM"))?);
    Ok(HostInfo {
        api_version: kvm.get_api_version(),
        backends: loaded_backends(),
        cpu_vendor: cpu_vendor(&kvm),
        immediate_exit: kvm.check_extension(Cap::ImmediateExit),
    })
}

fn loaded_backends() -> Vec<String> {
    BACKEND_MODULES
        .iter()
        .filter(|m| std::path::Path::new("/sys/module").join(m).exists())
        .map(|m| m.to_string())
        .collect()
}

/// The vendor from /proc/cpuinfo, else from KVM's supported CPUID leaf 0.
fn cpu_vendor(kvm: &Kvm) -> String {
    if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
        if let Some(v) = info.lines().find_map(|l| l.strip_prefix("vendor_id")) {
            return v.trim_start_matches([' ', '\t', ':']).trim().to_string();
        }
    }
    kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .ok()
        .and_then(|c| c.as_slice().iter().find(|e| e.function == 0).copied())
        .map(|e| {
            let b: Vec<u8> = [e.ebx, e.edx, e.ecx]
                .iter()
                .flat_map(|r| r.to_le_bytes())
                .collect();
            String::from_utf8_lossy(&b).into_owned()
        })
        .unwrap_or_else(|| "unknown".into())
}

/// One measured fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Stable identifier, e.g. `user-out-iopl0`.
    pub name: &'static str,
    /// The measured value, short.
    pub value: String,
    /// One line: what was done and what the value means.
    pub explanation: String,
}

impl Observation {
    fn new(name: &'static str, value: impl Into<String>, explanation: impl Into<String>) -> Self {
        Self {
            name,
            value: value.into(),
            explanation: explanation.into(),
        }
    }
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} — {}", self.name, self.value, self.explanation)
    }
}

/// How a short user-mode run ended.
enum Ending {
    Gp,
    Fault(String),
    Ran,
    PortExit(u16),
    Other(String),
}

impl Ending {
    fn text(&self) -> String {
        match self {
            Ending::Gp => "#GP".into(),
            Ending::Fault(s) => s.clone(),
            Ending::Ran => "ran".into(),
            Ending::PortExit(p) => format!("I/O exit to userspace (port {p:#x})"),
            Ending::Other(s) => s.clone(),
        }
    }
}

/// Runs `entry` until the guest reports an exception, a marker, or stops.
/// Pauses are resumed without a sync; a KVM_EXIT_HLT is run past.
fn run_to_end(m: &mut Machine) -> Ending {
    for _ in 0..8 {
        match m.run() {
            Ok(Exit::IoOut {
                port: PORT_EXCEPTION,
                ..
            }) => {
                return match m.exception_frame() {
                    Ok(f) if f.vector == 13 => Ending::Gp,
                    Ok(f) => Ending::Fault(describe_frame(&f)),
                    Err(e) => Ending::Other(e.to_string()),
                };
            }
            Ok(Exit::IoOut { port, .. }) => return Ending::PortExit(port),
            Ok(Exit::MmioWrite {
                addr: MMIO_PRIV_RAN | MMIO_USER_OUT_DONE,
                ..
            }) => return Ending::Ran,
            Ok(
                Exit::MmioWrite {
                    addr: MMIO_USER_PAUSE,
                    ..
                }
                | Exit::Hlt,
            ) => continue,
            Ok(other) => return Ending::Other(format!("{other:?}")),
            Err(e @ RunFailure::Hung { .. }) => return Ending::Other(format!("hung: {e}")),
            Err(e) => return Ending::Other(e.to_string()),
        }
    }
    Ending::Other("no verdict after 8 exits".into())
}

fn fresh(
    kvm: &Kvm,
    opts: &RunOptions,
    entry: Entry,
    probe: Probe,
    user_entry: u64,
) -> Result<Machine, HarnessError> {
    let mut m = Machine::new(kvm, opts.timeout)?;
    let probe_addr = m.routines().probe(probe);
    m.set_param(PARAM_PROBE, probe_addr)?;
    m.set_param(PARAM_USER_ENTRY, user_entry)?;
    m.enter(entry)?;
    Ok(m)
}

fn user_run(kvm: &Kvm, opts: &RunOptions, rip: u64, ss: UserSs, probe: Probe) -> Ending {
    match fresh(kvm, opts, Entry::User { rip, ss }, probe, 0) {
        Ok(mut m) => run_to_end(&mut m),
        Err(e) => Ending::Other(e.to_string()),
    }
}

/// Measures this host. Each observation runs its own small guest; failures
/// become values ("error: …"), never panics.
pub fn observe_host(opts: &RunOptions) -> Vec<Observation> {
    let mut out = Vec::new();
    let kvm = match open_kvm() {
        Ok(k) => k,
        Err(e) => {
            out.push(Observation::new("kvm", "unavailable", e.to_string()));
            return out;
        }
    };
    let backends = loaded_backends();
    out.push(Observation::new(
        "backend",
        if backends.is_empty() {
            "unknown".into()
        } else {
            backends.join("+")
        },
        "KVM backend module(s) found in /sys/module (kvm_intel, kvm_amd, kvm_pvm)",
    ));
    out.push(Observation::new(
        "cpu-vendor",
        cpu_vendor(&kvm),
        "host CPU vendor (cpuid leaf 0)",
    ));
    out.push(Observation::new(
        "kvm-api-version",
        kvm.get_api_version().to_string(),
        "KVM_GET_API_VERSION",
    ));
    out.push(Observation::new(
        "immediate-exit",
        if kvm.check_extension(Cap::ImmediateExit) {
            "supported"
        } else {
            "absent"
        },
        "KVM_CAP_IMMEDIATE_EXIT, used by the watchdog to close the signal race",
    ));
    let code = match crate::guest::code() {
        Ok(c) => &c.routines,
        Err(e) => {
            out.push(Observation::new("guest", "error", e.to_string()));
            return out;
        }
    };

    let out_end = user_run(&kvm, opts, code.u_out, UserSs::Valid, Probe::Hlt);
    out.push(Observation::new(
        "user-out-iopl0",
        out_end.text(),
        "`out` at CPL 3 with IOPL 0 and no I/O bitmap: architecturally #GP; an I/O exit means the backend skips the check",
    ));

    // The same `out` with the TSS's I/O map base at 0 (what a zeroed TSS
    // has): the "bitmap" then overlaps the TSS's own zero bytes and grants
    // the port, so an I/O exit is architectural there, not a backend quirk.
    let zeroed = fresh(
        &kvm,
        opts,
        Entry::User {
            rip: code.u_out,
            ss: UserSs::Valid,
        },
        Probe::Hlt,
        0,
    )
    .and_then(|mut m| {
        m.memory_mut().write(TSS + 0x66, &0u16.to_le_bytes())?;
        Ok(run_to_end(&mut m))
    })
    .unwrap_or_else(|e| Ending::Other(e.to_string()));
    out.push(Observation::new(
        "user-out-iomap-zero",
        zeroed.text(),
        "same `out` with TSS I/O map base 0 (a zeroed TSS): bits read from the TSS itself are 0 ⇒ port allowed ⇒ I/O exit is correct",
    ));

    for p in Probe::ALL {
        let e = user_run(&kvm, opts, code.probe(p), UserSs::Valid, p);
        out.push(Observation::new(
            match p {
                Probe::Hlt => "user-hlt",
                Probe::Cli => "user-cli-iopl0",
                Probe::ReadCr3 => "user-read-cr3",
                Probe::WriteCr3 => "user-write-cr3",
            },
            e.text(),
            format!("`{}` at CPL 3 with a valid SS: #GP keeps privilege; `ran` would make it useless as a probe", p.name()),
        ));
    }

    let cpl = user_run(
        &kvm,
        opts,
        code.probe(Probe::Hlt),
        UserSs::UnusableDpl(0),
        Probe::Hlt,
    );
    out.push(Observation::new(
        "cpl-source",
        match cpl {
            Ending::Ran => "SS.DPL".to_string(),
            Ending::Gp => "CS (not SS.DPL)".to_string(),
            other => other.text(),
        },
        "KVM_SET_SREGS with CS.DPL=3 and an unusable SS of DPL 0, then `hlt`: ran ⇒ CPL taken from SS.DPL (the UAPI convention)",
    ));

    out.push(sysret_ss(opts));
    out.push(interrupt_ss(opts));
    out.push(unusable_ss_report(&kvm, opts, code.u_pause_probe));
    out.push(watchdog_latency(&kvm, code.u_spin));
    out.push(mmio_exit_cost(&kvm, opts, code.u_storm));
    out.push(sregs_roundtrip_cost(opts));
    out
}

/// SS as KVM reports it after the guest SYSRETs with a NULL SS loaded.
fn sysret_ss(opts: &RunOptions) -> Observation {
    Observation::new(
        "sysret-ss",
        reported_ss(ScenarioKind::Sysret, opts, |_| true, classify_ss),
        "SS reported after SYSRET from a NULL SS: Intel forces flat DPL 3; AMD keeps the stale unusable descriptor",
    )
}

/// SS as KVM reports it in the kernel after an interrupt from user mode: in 64-bit
/// mode the CPU loads a NULL selector there, which Intel marks unusable (AR bit 16)
/// and AMD reads as not present.
fn interrupt_ss(opts: &RunOptions) -> Observation {
    let describe = |ss: &KvmSegment| {
        format!(
            "selector {:#x}, unusable={}, P={}, DPL {} ({ss})",
            ss.selector, ss.unusable, ss.present, ss.dpl
        )
    };
    Observation::new(
        "interrupt-null-ss",
        reported_ss(
            ScenarioKind::InterruptReturn,
            opts,
            |p| p.at == "kernel",
            describe,
        ),
        "SS reported at CPL 0 after `int3` from CPL 3 (64-bit mode loads a NULL SS): VMX reports unusable=1; unusable=0 with P=0 means the backend says \"not present\" only",
    )
}

/// Runs `kind` with [`Verbatim`] syncs and describes the SS KVM reported at the
/// first pause `at` picks; without such a pause, the run's verdict as an error.
fn reported_ss(
    kind: ScenarioKind,
    opts: &RunOptions,
    at: impl Fn(&PausePoint) -> bool,
    describe: impl Fn(&KvmSegment) -> String,
) -> String {
    let o = run_scenario(kind, &Verbatim, opts);
    match o.pauses.iter().find(|p| at(p)) {
        Some(p) => describe(&p.ss_reported),
        None => format!("error: {}", o.verdict),
    }
}

fn classify_ss(ss: &KvmSegment) -> String {
    let kind = if ss.unusable != 0 || ss.present == 0 {
        "unusable"
    } else {
        "flat usable"
    };
    format!("{kind} ({ss})")
}

/// Whether KVM reports an unusable DPL-3 SS back as it was set.
fn unusable_ss_report(kvm: &Kvm, opts: &RunOptions, rip: u64) -> Observation {
    let name = "unusable-ss-report";
    let what = "KVM_GET_SREGS at a user pause after KVM_SET_SREGS of SS 0x23 unusable, P=0, DPL 3, type 3, S, DB, G";
    let set = crate::guest::gdt::unusable_user_ss();
    let got = fresh(
        kvm,
        opts,
        Entry::User {
            rip,
            ss: UserSs::Unusable,
        },
        Probe::Hlt,
        0,
    )
    .and_then(|mut m| {
        m.run_to_user_pause()?;
        Ok(m.sregs()?)
    });
    let value = match got {
        Ok(s) if KvmSegment::from(s.ss) == KvmSegment::from(set) => "kept as set".to_string(),
        Ok(s) => format!("changed: {}", KvmSegment::from(s.ss)),
        Err(e) => format!("error: {e}"),
    };
    Observation::new(name, value, what)
}

/// How long the watchdog takes to stop a `jmp $` guest.
fn watchdog_latency(kvm: &Kvm, spin: u64) -> Observation {
    let timeout = Duration::from_millis(50);
    let opts = RunOptions {
        timeout,
        ..RunOptions::default()
    };
    let value = match fresh(
        kvm,
        &opts,
        Entry::User {
            rip: spin,
            ss: UserSs::Valid,
        },
        Probe::Hlt,
        0,
    ) {
        Ok(mut m) => {
            let t = Instant::now();
            match m.run() {
                Err(RunFailure::Hung { .. }) => format!("stopped after {:.0?}", t.elapsed()),
                other => format!("unexpected: {other:?}"),
            }
        }
        Err(e) => format!("error: {e}"),
    };
    Observation::new(
        "watchdog",
        value,
        format!("`jmp $` at CPL 3 with a {timeout:?} bound per KVM_RUN"),
    )
}

/// Mean cost of one MMIO exit + re-entry, at CPL 3 and at CPL 0 (same
/// routine; CPL 0 reached through an unusable SS of DPL 0).
fn mmio_exit_cost(kvm: &Kvm, opts: &RunOptions, storm: u64) -> Observation {
    const N: u32 = 500;
    let per = |ss: UserSs| -> Result<Duration, HarnessError> {
        let mut m = fresh(kvm, opts, Entry::User { rip: storm, ss }, Probe::Hlt, 0)?;
        m.set_param(PARAM_STORM_COUNT, u64::from(N))?;
        let t = Instant::now();
        for _ in 0..N {
            m.run_to_user_pause()?;
        }
        Ok(t.elapsed() / N)
    };
    let value = match (per(UserSs::Valid), per(UserSs::UnusableDpl(0))) {
        (Ok(u), Ok(k)) => format!(
            "CPL 3: {:.1} µs, CPL 0: {:.1} µs",
            u.as_secs_f64() * 1e6,
            k.as_secs_f64() * 1e6
        ),
        (Err(e), _) | (_, Err(e)) => format!("error: {e}"),
    };
    Observation::new(
        "mmio-exit-cost",
        value,
        format!("mean of {N} MMIO-write exits + KVM_RUN re-entries, no sync"),
    )
}

/// Mean cost of one KVM_GET_SREGS + KVM_SET_SREGS on a paused vCPU.
fn sregs_roundtrip_cost(opts: &RunOptions) -> Observation {
    const N: u64 = 1000;
    let value = match crate::bench::paused_user_machine(opts) {
        Ok(m) => match crate::bench::sregs_roundtrip_loop(m.vcpu(), N, None) {
            Ok(d) => format!("{:.2} µs", d.as_secs_f64() * 1e6 / N as f64),
            Err(e) => format!("error: {e}"),
        },
        Err(e) => format!("error: {e}"),
    };
    Observation::new(
        "sregs-roundtrip",
        value,
        format!("mean of {N} KVM_GET_SREGS + KVM_SET_SREGS on a paused vCPU"),
    )
}
