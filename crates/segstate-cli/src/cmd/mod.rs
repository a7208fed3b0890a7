//! The subcommands.

use std::process::ExitCode;

pub mod audit;
pub mod check;
pub mod convert;
pub mod flags;
pub mod profiles;
pub mod snapshot;
pub mod verify;

/// A failure with the exit code it maps to: 2 for input that cannot be read, 1 for
/// the rest.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit: u8,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            exit: 2,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            exit: 1,
        }
    }

    /// The same failure, its message led by the input it is about.
    pub fn within(self, input: &str) -> Self {
        Failure {
            message: format!("{input}: {}", self.message),
            exit: self.exit,
        }
    }
}

pub type Outcome = Result<ExitCode, Failure>;

/// Prints a JSON value, pretty.
pub fn print_json(value: &serde_json::Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    );
}
