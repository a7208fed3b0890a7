//! What the corpus tests share: reading a real dump of `fixtures/dumps/` and judging
//! it, and asserting a note or what a Xen log of an HVM vCPU gives.
#![allow(dead_code)]

use std::path::PathBuf;

use segstate::arch::SegReg;
use segstate::ingest::exit::Exit;
use segstate::ingest::judge::{Judgement, judge};
use segstate::ingest::log::{LogDump, read_log};

/// `fixtures/dumps/`.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps")
}

/// The name of every dump in `fixtures/dumps/` (its file name without `.txt`), sorted.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".txt").map(String::from))
        .collect();
    names.sort();
    names
}

/// The text of `fixtures/dumps/{name}`.
pub fn text(name: &str) -> String {
    let p = dir().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every state `read_log` finds in `fixtures/dumps/{name}`.
pub fn states(name: &str) -> Vec<LogDump> {
    read_log(&text(name))
}

/// Every state of `fixtures/dumps/{name}`, each with its judgement for the inferred
/// target.
pub fn judged(name: &str) -> Vec<(LogDump, Judgement)> {
    states(name)
        .into_iter()
        .map(|d| {
            let j = judge(&d, None);
            (d, j)
        })
        .collect()
}

/// The judgement of the first whole QEMU dump in `text`, with the checks only a whole
/// dump allows (`judge_input`), as `segstate check` makes it.
pub fn judged_whole_dump(text: &str) -> Judgement {
    let inputs = segstate::ingest::read(text.as_bytes(), None).unwrap();
    let input = inputs
        .iter()
        .find(|i| i.dump.is_some())
        .expect("a whole dump");
    segstate::ingest::judge::judge_input(input, None).unwrap()
}

/// The refusals of `fixtures/dumps/{name}`, a text in which `read_log` finds no state:
/// the error of reading it whole (`ingest::read`) and of reading it streamed
/// (`source::read_all`, as the CLI reads a file).
pub fn refusals(name: &str) -> [String; 2] {
    let text = text(name);
    assert!(read_log(&text).is_empty(), "{name}");
    let bytes = text.into_bytes();
    let whole = segstate::ingest::read(&bytes, None)
        .unwrap_err()
        .to_string();
    let streamed = segstate::ingest::source::read_all(
        &bytes,
        &segstate::ingest::source::InputName::Stdin,
        None,
    )
    .unwrap_err()
    .to_string();
    [whole, streamed]
}

/// Asserts a note of `notes` that starts with `start` and holds each of `parts`.
pub fn noted(notes: &[String], start: &str, parts: &[&str]) {
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with(start) && parts.iter().all(|p| n.contains(p))),
        "no note {start:?} with {parts:?}: {notes:?}"
    );
}

/// Asserts that exit `at` of `d` is Xen's `MMIO emulation failed (1): dNvN MODE @
/// CS:IP ->` with nothing after the arrow (`hvm_dump_emulation_state`'s fetch of the
/// instruction failed): the line, each field, and that no instruction is named.
pub fn xen_mmio_failure_without_bytes(
    d: &LogDump,
    at: usize,
    line: usize,
    mode: &str,
    cs: u16,
    ip: u64,
) {
    let Some((l, Exit::XenEmulationFailed(x))) = d.exits.get(at) else {
        panic!("{:?}", d.exits);
    };
    assert_eq!(
        (*l, x.caller, x.rc, x.mode, x.cs, x.ip),
        (line, "MMIO", Some(1), Some(mode), cs, ip)
    );
    assert!(x.bytes.is_empty());
    assert_eq!(d.emulated_instruction(), None);
}

/// Asserts what Xen's `show_registers` of an HVM vCPU gives (`ingest/xen_regs.rs`):
/// RIP, RFLAGS, CR0, CR3 and CR4 as printed, and, the selectors being all it prints of
/// the segments, no segment; the CPL `cpl`, CS's RPL where the mode makes it the CPL.
pub fn xen_registers_only(
    d: &LogDump,
    [rip, rflags, cr0, cr3, cr4]: [u64; 5],
    cpl: Option<segstate::arch::Cpl>,
) {
    let g = &d.guest;
    assert_eq!(
        (g.rip, g.rflags, g.cr0, g.cr3, g.cr4),
        (Some(rip), Some(rflags), Some(cr0), Some(cr3), Some(cr4))
    );
    for r in SegReg::ALL {
        assert!(g.segments[r].is_none(), "{r:?}");
    }
    assert_eq!(g.cpl, cpl);
}
