//! Running Bochs: the kernel assembled with NASM, a boot floppy, the state disk, a
//! bochsrc, one headless run, and its port-0xe9 output parsed into one outcome per
//! state with the error lines Bochs logged while entering it.
//!
//! Bochs 2.7 as Debian builds it has the internal debugger and no `nogui` display: the
//! `term` display runs with stdin a pipe, and `c` on stdin starts the simulation. The
//! kernel ends the run by writing `Shutdown` to port 0x8900. Bochs's log (`log: -`,
//! stderr) and port 0xe9 (stdout) are each flushed after every write; both go to one
//! file, so a failed check's log line lands just before that state's result.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::case::{Case, Oracle, Outcome, Target};
use crate::error::{OracleError, io};
use crate::record;

const BOOT_ASM: &str = include_str!("../kernel/boot.asm");
const COMMON_INC: &str = include_str!("../kernel/common.inc");
const VMX_ASM: &str = include_str!("../kernel/vmx.asm");
const SVM_ASM: &str = include_str!("../kernel/svm.asm");
/// Bochs's BIOS and VGA BIOS as Debian installs them.
pub const BIOS: &str = "/usr/share/bochs/BIOS-bochs-latest";
/// See [`BIOS`].
pub const VGABIOS: &str = "/usr/share/bochs/VGABIOS-lgpl-latest";
/// The Debian packages the oracle needs.
pub const PACKAGES: &str = "bochs bochsbios vgabios bochs-term nasm";
const FLOPPY_SIZE: usize = 1_474_560;

/// A working directory with the kernel of one target assembled into a boot floppy.
#[derive(Debug)]
pub struct Machine {
    target: Target,
    dir: PathBuf,
}

fn run_tool(cmd: &mut Command, program: &str) -> Result<(), OracleError> {
    let out = cmd.output().map_err(|e| OracleError::Tool {
        program: program.into(),
        detail: format!("cannot run ({e}); install the Debian packages: {PACKAGES}"),
    })?;
    if !out.status.success() {
        return Err(OracleError::Tool {
            program: program.into(),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), OracleError> {
    std::fs::write(path, bytes).map_err(io("write", path))
}

impl Oracle for Machine {
    fn run(&self, cases: &[Case]) -> Result<Vec<Outcome>, OracleError> {
        Machine::run(self, cases)
    }
}

impl Machine {
    /// Assembles the kernel for `target` in a fresh directory under `parent`.
    ///
    /// # Errors
    /// NASM or the Bochs files are missing, or a file cannot be written.
    pub fn new(target: Target, parent: &Path) -> Result<Self, OracleError> {
        for f in [BIOS, VGABIOS] {
            if !Path::new(f).exists() {
                return Err(OracleError::Tool {
                    program: "bochs".into(),
                    detail: format!("{f} is missing; install the Debian packages: {PACKAGES}"),
                });
            }
        }
        // Unique per machine: several may run at once in one process.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = parent.join(format!(
            "bochs-oracle-{}-{}-{}",
            target.name(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        write(&dir.join("boot.asm"), BOOT_ASM.as_bytes())?;
        write(&dir.join("common.inc"), COMMON_INC.as_bytes())?;
        let (kernel, model) = match target {
            Target::Vmx => (VMX_ASM, "corei7_skylake_x"),
            Target::Svm => (SVM_ASM, "ryzen"),
            Target::KvmSetSregs(_) => {
                return Err(OracleError::Usage(
                    "kvm-set-sregs runs on this host's KVM, not in Bochs".into(),
                ));
            }
        };
        write(&dir.join("kernel.asm"), kernel.as_bytes())?;
        for (src, out) in [("boot.asm", "boot.bin"), ("kernel.asm", "kernel.bin")] {
            run_tool(
                Command::new("nasm")
                    .current_dir(&dir)
                    .args(["-f", "bin", "-o", out, src]),
                "nasm",
            )?;
        }
        let mut floppy =
            std::fs::read(dir.join("boot.bin")).map_err(io("read", dir.join("boot.bin")))?;
        let kernel_bin = dir.join("kernel.bin");
        let kernel = std::fs::read(&kernel_bin).map_err(io("read", &kernel_bin))?;
        // The boot sector loads 35 sectors.
        if kernel.len() > 35 * 512 {
            return Err(OracleError::Tool {
                program: "nasm".into(),
                detail: format!(
                    "kernel is {} bytes; the boot sector loads 17920",
                    kernel.len()
                ),
            });
        }
        floppy.extend_from_slice(&kernel);
        floppy.resize(FLOPPY_SIZE, 0);
        write(&dir.join("boot.img"), &floppy)?;
        let rc = format!(
            "megs: 32\n\
             romimage: file={BIOS}\n\
             vgaromimage: file={VGABIOS}\n\
             floppya: 1_44=boot.img, status=inserted\n\
             ata0-master: type=disk, path=states.img, mode=flat\n\
             boot: floppy\n\
             cpu: model={model}\n\
             port_e9_hack: enabled=1\n\
             display_library: term\n\
             speaker: enabled=0\n\
             log: -\n\
             panic: action=report, cpu0=report\n\
             error: action=report\n\
             info: action=ignore\n\
             debug: action=ignore\n"
        );
        write(&dir.join("bochsrc"), rc.as_bytes())?;
        Ok(Machine { target, dir })
    }

    /// Runs every case through one Bochs boot. The outcomes are in the cases' order.
    ///
    /// # Errors
    /// Bochs cannot run, runs past its time bound, or its output does not hold one
    /// result per case.
    pub fn run(&self, cases: &[Case]) -> Result<Vec<Outcome>, OracleError> {
        if cases.is_empty() {
            return Ok(Vec::new());
        }
        let disk = self.dir.join("states.img");
        write(&disk, &record::disk_image(self.target, cases))?;
        let out_path = self.dir.join("out.txt");
        let out = std::fs::File::create(&out_path).map_err(io("create", &out_path))?;
        let err = out.try_clone().map_err(io("duplicate", &out_path))?;
        // The term display needs a terminal type curses knows, even with no terminal.
        let term = std::env::var("TERM")
            .ok()
            .filter(|t| !t.is_empty() && t != "dumb")
            .unwrap_or_else(|| "xterm".into());
        let mut child = Command::new("bochs")
            .current_dir(&self.dir)
            .env("TERM", term)
            .args(["-q", "-f", "bochsrc"])
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| OracleError::Tool {
                program: "bochs".into(),
                detail: format!("cannot run ({e}); install the Debian packages: {PACKAGES}"),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // The debugger stops before the first instruction: continue.
            let _ = stdin.write_all(b"c\n");
        }
        // Boot takes a fraction of a second; a state well under a millisecond.
        let bound = Duration::from_secs(20) + Duration::from_millis(2 * cases.len() as u64);
        let start = Instant::now();
        loop {
            match child
                .try_wait()
                .map_err(io("wait for bochs in", &self.dir))?
            {
                Some(_) => break,
                None if start.elapsed() > bound => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(OracleError::Tool {
                        program: "bochs".into(),
                        detail: format!(
                            "no shutdown after {bound:?}; output in {}",
                            out_path.display()
                        ),
                    });
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let text = std::fs::read(&out_path).map_err(io("read", &out_path))?;
        let outcomes = parse(&text)?;
        if outcomes.len() != cases.len() {
            return Err(OracleError::Output {
                offset: text.len(),
                detail: format!("{} results for {} states", outcomes.len(), cases.len()),
            });
        }
        Ok(outcomes)
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if std::env::var_os("BOCHS_ORACLE_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// True at a Bochs log line: 11 digits of time, a level letter, `[`.
fn log_line_at(text: &[u8], i: usize) -> bool {
    text.len() > i + 13
        && text[i..i + 11].iter().all(u8::is_ascii_digit)
        && text[i + 11].is_ascii_lowercase()
        && text[i + 12] == b'['
}

/// Parses a Bochs run's output: everything after `READY`, up to `DONE`.
///
/// # Errors
/// No `READY` or `DONE`, a `FATAL` from the kernel, or a byte that is neither a result
/// nor a log line.
pub fn parse(text: &[u8]) -> Result<Vec<Outcome>, OracleError> {
    let find = |needle: &[u8], from: usize| {
        text[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let Some(ready) = find(b"READY\n", 0) else {
        let tail = String::from_utf8_lossy(&text[text.len().saturating_sub(600)..]).into_owned();
        return Err(OracleError::Output {
            offset: 0,
            detail: format!("the kernel never reported READY; the output ends:\n{tail}"),
        });
    };
    let mut outcomes = Vec::new();
    let mut log: Vec<String> = Vec::new();
    let mut i = ready + 6;
    while i < text.len() {
        let c = text[i];
        if log_line_at(text, i) {
            let end = find(b"\n", i).unwrap_or(text.len());
            let line = String::from_utf8_lossy(&text[i..end]);
            // "00018102240e[CPU0  ] VMENTER FAIL: ..." -> the message; errors only.
            let msg = line
                .split_once("] ")
                .map_or(&*line, |(_, m)| m)
                .trim()
                .to_string();
            // Errors, and panics (reported, not fatal: Bochs panics on some states
            // it let through its checks, e.g. "change_cpu_mode: EFER.LMA is set when
            // CR0.PE=0 !", and goes on to the guest's exit).
            if matches!(text[i + 11], b'e' | b'p') {
                log.push(msg);
            }
            i = end + 1;
            continue;
        }
        match c {
            b'\n' => i += 1,
            b'S' | b'G' => {
                outcomes.push(Outcome {
                    accepted: c == b'S',
                    code: (c as char).to_string(),
                    log: std::mem::take(&mut log),
                });
                i += 1;
            }
            b'M' | b'V' if text.len() >= i + 6 && text[i + 5] == b';' => {
                outcomes.push(Outcome {
                    accepted: false,
                    code: String::from_utf8_lossy(&text[i..i + 5]).into_owned(),
                    log: std::mem::take(&mut log),
                });
                i += 6;
            }
            b'D' if text[i..].starts_with(b"DONE\n") => return Ok(outcomes),
            b'F' if text[i..].starts_with(b"FATAL") => {
                return Err(OracleError::Output {
                    offset: i,
                    detail: format!("the kernel stopped (FATAL) after {} states", outcomes.len()),
                });
            }
            _ => {
                return Err(OracleError::Output {
                    offset: i,
                    detail: format!("unexpected byte {c:#04x} after {} results", outcomes.len()),
                });
            }
        }
    }
    Err(OracleError::Output {
        offset: text.len(),
        detail: format!(
            "no DONE after {} results (Bochs stopped early)",
            outcomes.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_results_with_the_log_line_before_each() {
        let out = b"prelude\nREADY\nS00018102240e[CPU0  ] VMENTER FAIL: VMCS guest SS.TYPE\n\
            00018102240e[CPU0  ] VMEXIT: Guest State Checks Failed\nGV0007;M0022;\nDONE\n";
        let o = parse(out).unwrap();
        assert_eq!(o.len(), 4);
        assert!(o[0].accepted && o[0].log.is_empty());
        assert!(!o[1].accepted);
        assert_eq!(o[1].log[0], "VMENTER FAIL: VMCS guest SS.TYPE");
        assert_eq!(o[2].code, "V0007");
        assert_eq!(o[3].code, "M0022");
    }

    #[test]
    fn truncated_or_garbled_output_is_an_error_naming_the_offset() {
        assert!(parse(b"no kernel here").is_err());
        assert!(parse(b"READY\nSS").is_err());
        match parse(b"READY\nSx") {
            Err(OracleError::Output { offset, .. }) => assert_eq!(offset, 7),
            other => panic!("{other:?}"),
        }
        assert!(parse(b"READY\nS\nFATAL\n").is_err());
    }

    #[test]
    fn a_reported_panic_is_kept_with_the_state_it_came_with() {
        let out =
            b"READY\nS00019324743p[CPU0  ] >>PANIC<< change_cpu_mode: EFER.LMA is set\nS\nDONE\n";
        let o = parse(out).unwrap();
        assert_eq!(o.len(), 2);
        assert!(o[1].accepted);
        assert!(o[1].log[0].contains("EFER.LMA"));
        assert!(o[0].log.is_empty());
    }
}
