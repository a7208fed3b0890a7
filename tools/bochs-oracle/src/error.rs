//! What can go wrong running the oracle, with what and where.

use std::fmt;
use std::path::PathBuf;

/// An error of the oracle: a file, a tool, Bochs's output or the conformance table.
#[derive(Debug)]
pub enum OracleError {
    /// A file could not be read or written.
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An external program (nasm, bochs, apt-get) could not run or failed.
    Tool {
        /// The program.
        program: String,
        /// What happened.
        detail: String,
    },
    /// Bochs's output did not have the expected shape.
    Output {
        /// Byte offset in the output.
        offset: usize,
        /// What was wrong.
        detail: String,
    },
    /// The conformance table in `docs/conformance/bochs.md` is malformed.
    Table {
        /// The document.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What was wrong.
        detail: String,
    },
    /// A command-line argument is wrong.
    Usage(String),
}

impl fmt::Display for OracleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OracleError::Io { what, path, source } => {
                write!(f, "{what} {}: {source}", path.display())
            }
            OracleError::Tool { program, detail } => write!(f, "{program}: {detail}"),
            OracleError::Output { offset, detail } => {
                write!(f, "Bochs output at byte {offset}: {detail}")
            }
            OracleError::Table { path, line, detail } => {
                write!(f, "{}:{line}: {detail}", path.display())
            }
            OracleError::Usage(s) => write!(f, "usage: {s}"),
        }
    }
}

impl std::error::Error for OracleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OracleError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Wraps an I/O error with what was done to which file.
pub(crate) fn io(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> OracleError {
    let path = path.into();
    move |source| OracleError::Io { what, path, source }
}
