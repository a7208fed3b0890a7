//! Opening the input of `check` and `convert`: the one place the CLI reaches the
//! library's bounded reader ([`segstate::ingest::source`]), and the hint a user gets
//! when a command waits on a terminal.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use segstate::ingest::source::{self, InputName};

use crate::cmd::Failure;

/// Opens `path` (standard input for `None` or `-`). When that is a terminal, says on
/// stderr what is expected and how to end it, instead of waiting silently.
pub fn open(path: Option<&Path>, expected: &str) -> Result<(InputName, Box<dyn BufRead>), Failure> {
    let (name, reader) = source::open(path).map_err(|e| Failure::input(e.to_string()))?;
    if name == InputName::Stdin && std::io::stdin().is_terminal() {
        eprintln!(
            "segstate: reading {expected} from standard input (end with Ctrl-D; --help shows examples)"
        );
    }
    Ok((name, reader))
}
