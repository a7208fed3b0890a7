//! Opening the input of `check` and `convert`: the one place the CLI reaches the
//! library's openers ([`segstate::ingest::open_path`], which decides how a path is
//! read, and [`segstate::ingest::source`]'s bounded reader), and the hint a user gets
//! when a command waits on a terminal.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use segstate::ingest::source::{self, InputName};
use segstate::ingest::{InputFormat, OpenedInput};

use crate::cmd::Failure;

/// Opens `path` (standard input for `None` or `-`) as [`segstate::ingest::open_path`]
/// does: a snapshot directory or HyperVStorage file read by path, anything else as a
/// stream of `format` (detected when `None`).
pub fn open(
    path: Option<&Path>,
    format: Option<InputFormat>,
    expected: &str,
) -> Result<OpenedInput, Failure> {
    let opened = segstate::ingest::open_path(path.unwrap_or(Path::new("-")), format)
        .map_err(|e| Failure::input(e.to_string()))?;
    hint(opened.name(), expected);
    Ok(opened)
}

/// Opens standard input, for a command that reads it whole.
pub fn open_stdin(expected: &str) -> Result<(InputName, Box<dyn BufRead>), Failure> {
    let (name, reader) = source::open(None).map_err(|e| Failure::input(e.to_string()))?;
    hint(&name, expected);
    Ok((name, reader))
}

/// When `name` is standard input and that is a terminal, says on stderr what is
/// expected and how to end it, instead of waiting silently.
fn hint(name: &InputName, expected: &str) {
    if *name == InputName::Stdin && std::io::stdin().is_terminal() {
        eprintln!(
            "segstate: reading {expected} from standard input (end with Ctrl-D; --help shows examples)"
        );
    }
}
