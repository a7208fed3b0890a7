//! `segstate snapshot`: vCPU snapshots that never lose privilege. (Work in progress:
//! see issue 5.)

use super::{Failure, Outcome};

/// Save, restore, inspect and diff vCPU snapshots.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print a snapshot (not available yet).
    Inspect {
        /// The snapshot file.
        file: std::path::PathBuf,
    },
}

pub fn run(command: &Command) -> Outcome {
    match command {
        Command::Inspect { file } => Err(Failure::failed(format!(
            "`segstate snapshot` is not available yet ({})",
            file.display()
        ))),
    }
}
