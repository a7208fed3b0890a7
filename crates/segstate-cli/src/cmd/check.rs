//! `segstate check`: diagnose a vCPU state. (Work in progress: see issue 4.)

use super::{Failure, Outcome};

/// Diagnose a vCPU state: QEMU register dumps, kvm_sregs, VMCB pages, JSON.
///
/// Not yet available: this subcommand is being built.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  segstate check dump.txt")]
pub struct Args {
    /// The input file.
    input: Option<std::path::PathBuf>,
}

pub fn run(args: &Args) -> Outcome {
    let _ = &args.input;
    Err(Failure::failed("`segstate check` is not available yet"))
}
