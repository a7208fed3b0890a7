//! Bounds every KVM_RUN: a guest that runs away or a backend that hangs is
//! reported as hung, never a hung tool.
//!
//! One watchdog thread per vCPU polls the armed deadline. When a run
//! overstays it, the watchdog (under the state lock, so only while that run is
//! armed) sets `kvm_run.immediate_exit` and sends SIGRTMIN to the thread in
//! KVM_RUN. The signal makes KVM_RUN return EINTR; `immediate_exit` covers the
//! race where the signal lands just before the thread enters KVM_RUN (KVM then
//! returns EINTR at entry). The signal handler is a no-op registered once per
//! process. Arming and disarming cost one uncontended mutex each, so a
//! 10,000-exit storm is not slowed by it.

use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kvm_bindings::kvm_run;

use crate::error::HarnessError;

/// The signal used to kick a vCPU thread out of KVM_RUN.
pub fn kick_signal() -> libc::c_int {
    vmm_sys_util::signal::SIGRTMIN()
}

extern "C" fn noop_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// Registers the no-op handler for [`kick_signal`] (once per process). Without
/// a handler the default action of a real-time signal would kill the process.
fn register_handler() -> Result<(), HarnessError> {
    static RESULT: OnceLock<Result<(), HarnessError>> = OnceLock::new();
    RESULT
        .get_or_init(|| {
            vmm_sys_util::signal::register_signal_handler(kick_signal(), noop_handler)
                .map_err(|e| HarnessError::WatchdogSignal(e.errno()))
        })
        .clone()
}

/// `*mut kvm_run` that may cross to the watchdog thread.
#[derive(Clone, Copy, Debug)]
struct RunPtr(*mut kvm_run);
// SAFETY: the pointer is only dereferenced (one volatile byte store to
// `immediate_exit`, a byte of the mapping KVM shares with userspace and reads
// at KVM_RUN entry) while the owning `Watchdog` is alive and a run is armed;
// `Watchdog` is dropped (and its thread joined) before the vCPU mapping it
// points into (see the field order of `Machine`).
unsafe impl Send for RunPtr {}

#[derive(Debug)]
struct State {
    /// Deadline and target thread of the run in progress, if any.
    armed: Option<(Instant, libc::pthread_t)>,
    /// The watchdog fired for the run in progress.
    fired: bool,
    stop: bool,
}

/// The per-vCPU watchdog. Create it with the vCPU, drop it before the vCPU.
#[derive(Debug)]
pub struct Watchdog {
    state: Arc<Mutex<State>>,
    run: RunPtr,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts a watchdog for the vCPU whose `kvm_run` mapping is `run`.
    ///
    /// `run` must stay mapped until this watchdog is dropped.
    pub fn new(run: *mut kvm_run, tick: Duration) -> Result<Self, HarnessError> {
        register_handler()?;
        let state = Arc::new(Mutex::new(State {
            armed: None,
            fired: false,
            stop: false,
        }));
        let run = RunPtr(run);
        let st = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("segstate-watchdog".into())
            .spawn(move || watch(&st, run, tick))
            .map_err(|e| HarnessError::WatchdogThread(e.kind()))?;
        Ok(Self {
            state,
            run,
            thread: Some(thread),
        })
    }

    /// Arms the watchdog for a run by the calling thread, lasting at most `timeout`.
    pub fn arm(&self, timeout: Duration) {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let mut s = lock(&self.state);
        s.armed = Some((Instant::now() + timeout, me));
        s.fired = false;
    }

    /// Disarms; returns whether the watchdog fired for this run. After this
    /// returns the watchdog cannot touch the vCPU until the next `arm`.
    pub fn disarm(&self) -> bool {
        let fired = {
            let mut s = lock(&self.state);
            s.armed = None;
            std::mem::take(&mut s.fired)
        };
        if fired {
            // SAFETY: `run` is the live kvm_run mapping (see `new`); a single
            // volatile byte store, and the watchdog thread no longer writes it.
            unsafe { std::ptr::addr_of_mut!((*self.run.0).immediate_exit).write_volatile(0) };
        }
        fired
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn watch(state: &Mutex<State>, run: RunPtr, tick: Duration) {
    loop {
        std::thread::park_timeout(tick);
        let mut s = lock(state);
        if s.stop {
            return;
        }
        let Some((deadline, thread)) = s.armed else {
            continue;
        };
        if Instant::now() < deadline {
            continue;
        }
        // Overdue: kick. Re-kick every tick while still armed, in case the
        // first signal arrived between two KVM_RUN calls of a retry loop.
        s.fired = true;
        // SAFETY: armed ⇒ the vCPU (and its kvm_run mapping) is alive and in
        // use by `thread`; one volatile byte store, as KVM documents for
        // immediate_exit.
        unsafe { std::ptr::addr_of_mut!((*run.0).immediate_exit).write_volatile(1) };
        // SAFETY: `thread` is blocked in (or about to enter) KVM_RUN while
        // armed, so the handle is valid; the signal has a no-op handler.
        unsafe { libc::pthread_kill(thread, kick_signal()) };
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        lock(&self.state).stop = true;
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
