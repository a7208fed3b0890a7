//! `segstate`: keep x86 privilege intact across hypervisor boundaries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Writes to standard output; a reader that went away (`segstate verify | head`) ends
/// the program quietly, as SIGPIPE ends a C tool, instead of a panic.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

/// [`out!`] with a newline.
macro_rules! outln {
    () => {
        $crate::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod cmd;
mod input;
mod progress;
mod table;

/// The exit status of a program killed by SIGPIPE (128 + 13).
const BROKEN_PIPE_STATUS: i32 = 141;

/// Writes to standard output; exits with [`BROKEN_PIPE_STATUS`] when the reader has gone.
fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(args);
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::exit(BROKEN_PIPE_STATUS)
        }
        Err(e) => {
            eprintln!("segstate: error: writing standard output: {e}");
            std::process::exit(1)
        }
    }
}

/// Writes each of `items` on a line of its own, two spaces in, after `label`
/// (`"note: "`, or `""`): the lists under a verdict, a restore check or a diff.
fn outln_each<T: std::fmt::Display>(label: &str, items: impl IntoIterator<Item = T>) {
    for item in items {
        outln!("  {label}{item}");
    }
}

/// Keeps x86 privilege (CPL) intact across hypervisor boundaries.
///
/// A vCPU's segment registers travel from the CPU's descriptor cache through the
/// hypervisor's save area (AMD VMCB, Intel VMCS), KVM's kvm_segment and a VMM's CPU
/// model, to snapshots and back. KVM's UAPI has no CPL field: SS.DPL carries it. In
/// 2017 an unusable SS (AMD after SYSRET) lost its DPL on the way and user code ran
/// at CPL 0. segstate models every step, bit-exact, and proves what survives.
#[derive(Parser, Debug)]
#[command(name = "segstate", version, propagate_version = true)]
#[command(
    after_help = "Start with:\n  segstate audit           model verification + live scenarios on /dev/kvm\n  segstate profiles        the cooking profiles of KVM, QEMU and other stacks, by release\n  segstate verify --help   exhaustive round trips through chains of profiles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Audit(cmd::audit::Args),
    Verify(cmd::verify::Args),
    Check(cmd::check::Args),
    Convert(cmd::convert::Args),
    #[command(subcommand)]
    Snapshot(cmd::snapshot::Command),
    Profiles(cmd::profiles::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Audit(a) => cmd::audit::run(&a),
        Command::Verify(a) => cmd::verify::run(&a),
        Command::Check(a) => cmd::check::run(&a),
        Command::Convert(a) => cmd::convert::run(&a),
        Command::Snapshot(c) => cmd::snapshot::run(&c),
        Command::Profiles(a) => cmd::profiles::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Bytes of the input in a message never reach the terminal raw; the lines a
            // message is made of stay lines.
            let message: Vec<String> = e
                .message
                .split('\n')
                .map(segstate::ingest::source::escape_controls)
                .collect();
            let message = message.join("\n");
            eprintln!("segstate: error: {message}");
            ExitCode::from(e.exit)
        }
    }
}
