//! Progress on stderr for work that can take more than a second: one line, rewritten
//! in place, only when stderr is a terminal (never in CI logs or pipes) and only once
//! the work has run for a second.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How long work runs before progress shows, and how often it is redrawn.
const AFTER: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_millis(200);
/// Overrides [`AFTER`], in milliseconds: tests set it to 0 so that progress shows
/// however fast the machine is.
const AFTER_ENV: &str = "SEGSTATE_PROGRESS_AFTER_MS";

/// A progress line.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    after: Duration,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    /// A progress line, shown only when `wanted` (not with `--json`) and stderr is a
    /// terminal.
    pub fn new(wanted: bool) -> Self {
        Progress {
            enabled: wanted && std::io::stderr().is_terminal(),
            after: std::env::var(AFTER_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(AFTER, Duration::from_millis),
            start: Instant::now(),
            last: None,
        }
    }

    /// Shows `msg()` when the work has run for a second, at most every 200 ms.
    pub fn show(&mut self, msg: impl FnOnce() -> String) {
        if !self.enabled || self.start.elapsed() < self.after {
            return;
        }
        let now = Instant::now();
        if self.last.is_some_and(|l| now - l < EVERY) {
            return;
        }
        self.last = Some(now);
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2Ksegstate: {}", msg());
        let _ = e.flush();
    }

    /// Erases the line, if one was shown.
    pub fn done(&mut self) {
        if self.last.take().is_some() {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
        }
    }
}

/// Runs `work`, showing `what` and the seconds spent on a progress line while it runs
/// (see [`Progress`]: only on a terminal, only after a second).
///
/// Where no line can show (a pipe, a file, `--json`) no thread is started. Where one
/// can, the drawing thread waits between redraws parked, and `work`'s end wakes it: a
/// plain sleep kept the command waiting for the sleeper at the join, up to a whole
/// redraw interval after the work was done (`segstate verify`: 101 ms elapsed for
/// 89 ms of CPU, `BENCHMARKS.md` §2).
pub fn while_running<T: Send>(wanted: bool, what: &str, work: impl FnOnce() -> T + Send) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut line = Progress::new(wanted);
    if !line.enabled {
        return work();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let drawer = scope.spawn(|| {
            let start = Instant::now();
            while !done.load(Ordering::Acquire) {
                line.show(|| format!("{what}… {:.0} s", start.elapsed().as_secs_f64()));
                std::thread::park_timeout(Duration::from_millis(50));
            }
            line.done();
        });
        let out = work();
        done.store(true, Ordering::Release);
        drawer.thread().unpark();
        out
    })
}
