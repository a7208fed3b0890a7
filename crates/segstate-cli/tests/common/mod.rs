//! Running the `segstate` binary as a user would, and the files its tests hand it:
//! shared by every test of the CLI so each runs the command the same way.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_segstate");

/// Runs `segstate` with `args`, standard input closed.
pub fn segstate(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs `segstate` with `args` and `input` on its standard input.
pub fn segstate_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // segstate may stop reading once it has seen enough to refuse the input.
    match child.stdin.take().unwrap().write_all(input) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit status; a death by signal fails the test.
pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

/// Standard output parsed as JSON; what was printed is shown if it is not JSON.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// A path under the library's test fixtures (crates/segstate/tests/fixtures).
pub fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../segstate/tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

/// This test binary's own directory under the target's temporary directory, so two
/// test files never share a path.
fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let stem = exe.file_stem().expect("and a file name").to_owned();
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(stem)
}

/// An empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = binary_dir().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A file holding `bytes`.
pub fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = binary_dir().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts that `haystack` (what the binary printed) contains `needle`, showing all
/// of it when it does not.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "{needle:?} is not in:\n{haystack}"
    );
}
