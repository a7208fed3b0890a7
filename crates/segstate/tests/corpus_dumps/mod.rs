//! The corpus of pasted dumps (`fixtures/dumps/`), read as `segstate check` reads them,
//! for the test files that each hold one feature's assertions over it.

use std::path::PathBuf;

use segstate::ingest::log::{LogDump, read_log};

/// Every state `read_log` finds in the corpus fixture `name`.
pub fn states(name: &str) -> Vec<LogDump> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dumps")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    read_log(&text)
}
