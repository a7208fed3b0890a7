//! How `check` and `convert` read what they are given: bounded memory on any input
//! (`/dev/zero` included), long QEMU logs streamed with their true line numbers, every
//! error naming the input, control characters escaped, `--format` obeyed, and
//! segstate snapshots recognised.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{BIN, assert_contains, code, segstate, segstate_stdin, stderr, temp};

const DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../segstate/tests/fixtures/qemu/sysret-null-ss-cpl3.txt"
);
const STREAM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../segstate/tests/fixtures/qemu/null-ss-cpl0.migstream"
);

/// Runs `script` under `sh` with 64 MiB of address space: more than that and the
/// allocation fails, which segstate reports as an error, not a refusal of the input.
fn under_64_mib(script: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v 65536; {script}"))
        .env("SEGSTATE", BIN)
        .output()
        .expect("sh runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn endless_inputs_are_refused_in_64_mib_naming_the_input() {
    for (script, named, why) in [
        (
            "exec \"$SEGSTATE\" check /dev/zero",
            "/dev/zero: ",
            "binary input",
        ),
        (
            "exec \"$SEGSTATE\" check < /dev/zero",
            "standard input: ",
            "binary input",
        ),
        (
            "exec \"$SEGSTATE\" convert < /dev/zero",
            "standard input: ",
            "more than 1048576 bytes",
        ),
        (
            "exec \"$SEGSTATE\" convert --from sregs-bytes < /dev/zero",
            "standard input: ",
            "more than 1048576 bytes",
        ),
        // Text without a newline: one line past the line limit.
        (
            "tr '\\0' a < /dev/zero | \"$SEGSTATE\" check",
            "standard input: line 1",
            "longer than 65536 bytes",
        ),
        // 50 MB of short lines, no dump among them: streamed, then refused.
        (
            "yes | head -c 50000000 | \"$SEGSTATE\" check",
            "standard input: line 1",
            "no QEMU CPU state dump",
        ),
    ] {
        let o = under_64_mib(script);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{script}: {err}");
        assert!(err.contains(named) && err.contains(why), "{script}: {err}");
        assert!(!err.contains("memory"), "{script}: {err}");
    }
}

#[test]
fn oversized_small_formats_are_refused_by_name() {
    let mut json = b"{\n".to_vec();
    json.resize(2 << 20, b' ');
    let big = temp("big.json", &json);
    let o = segstate(&["check", path(&big)]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!(
            "{}: more than 1048576 bytes, the most a json input",
            big.display()
        )),
        "{}",
        stderr(&o)
    );
    // Forced to a binary format, a long input is refused at the cap too.
    let o = under_64_mib("exec \"$SEGSTATE\" check --format vmcb /dev/zero");
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), "/dev/zero: more than 1048576 bytes");
}

/// A log of many dumps goes through chunk by chunk: every state is found, each with
/// the line it starts at in the whole log, and an error late in it names its line.
#[test]
fn a_long_log_is_streamed_with_true_line_numbers() {
    let dump = std::fs::read_to_string(DUMP).unwrap();
    let per = dump.lines().count();
    let copies = 400;
    let mut log = String::new();
    for _ in 0..copies {
        log.push_str(&dump);
    }
    assert!(log.len() > 3 * (256 << 10), "several chunks");
    let p = temp("long.log", log.as_bytes());
    let o = segstate(&["check", "--json", path(&p)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let states = v["states"].as_array().unwrap();
    assert_eq!(states.len(), copies);
    let first = states[0]["line"].as_u64().unwrap() as usize;
    for (i, s) in states.iter().enumerate() {
        assert_eq!(s["line"].as_u64().unwrap() as usize, first + i * per);
    }
    // A dump cut to one broken line at the end is read as what it shows (issue 14: one
    // odd line no longer rejects a log), at its true line in the whole log.
    // The dump cut after its CS line, and a broken field.
    let cut: Vec<&str> = dump
        .lines()
        .take_while(|l| !l.starts_with("SS ="))
        .collect();
    log.push_str(&cut.join("\n").replacen("RBX=", "RBX=zz", 1));
    log.push('\n');
    let broken_line = first + copies * per;
    let p = temp("broken.log", log.as_bytes());
    let o = segstate(&["check", "--json", path(&p)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let states = v["states"].as_array().unwrap();
    assert_eq!(states.len(), copies + 1, "{}", stderr(&o));
    let last = &states[copies];
    assert_eq!(last["line"].as_u64().unwrap() as usize, broken_line);
    assert!(
        !last["not_judged"].as_array().unwrap().is_empty(),
        "what the cut dump lacks is not judged: {last}"
    );
}

#[test]
fn every_unreadable_input_is_named() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let o = segstate(&["check", path(&dir)]);
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), &format!("{}: is a directory", dir.display()));
    let o = segstate(&["check", "/nonexistent/segstate.bin"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("/nonexistent/segstate.bin: cannot open"));
    // A value out of range in JSON: input, then field.
    let sregs = segstate(&[
        "convert",
        "--from",
        "sregs-bytes",
        "--to",
        "sregs",
        &"00".repeat(312),
    ]);
    let mut v: serde_json::Value = serde_json::from_slice(&sregs.stdout).unwrap();
    v["cs"]["limit"] = serde_json::json!(1u64 << 32);
    let p = temp("wide.json", v.to_string().as_bytes());
    let o = segstate(&["check", path(&p)]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!("{}: kvm_sregs JSON: ", p.display()))
            && stderr(&o).contains("limit"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn control_characters_never_reach_the_terminal() {
    let p = temp("evil\x1b[2J.bin", b"\x01\x02");
    let o = segstate(&["check", path(&p)]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(err.contains("evil\\u{1b}[2J.bin"), "{err}");
    let o = segstate_stdin(&["convert", "--from", "descriptor"], b"\x1b[31m0x12");
    assert_eq!(code(&o), 2);
    assert!(!stderr(&o).contains('\x1b'), "{:?}", stderr(&o));
}

#[test]
fn format_is_obeyed_even_for_stream_magic() {
    let stream = std::fs::read(STREAM).unwrap();
    let detected = segstate_stdin(&["check"], &stream);
    assert!(
        String::from_utf8_lossy(&detected.stdout).contains("[migration]"),
        "{}",
        stderr(&detected)
    );
    // Forced to a dump, the stream's bytes are read as text and refused as such.
    let o = segstate_stdin(&["check", "--format", "dump"], &stream);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("not UTF-8 text"), "{}", stderr(&o));
    // Forced to libvirt, a bare stream has no libvirt header.
    let o = segstate_stdin(&["check", "--format", "libvirt"], &stream);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("libvirt save image"), "{}", stderr(&o));
}

#[test]
fn segstate_snapshots_are_checked_as_snapshots() {
    let mut snap = segstate::testing::example_user_null_ss();
    let p = temp("user.snap", &snap.encode());
    let o = segstate(&["check", path(&p)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("segstate snapshot [snapshot]"),
        "{out}{}",
        stderr(&o)
    );
    assert!(out.contains("CPL 3"), "{out}");
    assert!(!out.contains("VMCB save area"), "{out}");
    // The snapshot's own CPL is judged: one SS.DPL disagrees with is shown.
    snap.cpl = segstate::arch::PrivilegeLevel::try_from(0u8).unwrap();
    let p = temp("lying.snap", &snap.encode());
    let o = segstate(&["check", path(&p)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("the snapshot's CPL is 0 but SS.DPL is 3"),
        "{out}"
    );
    assert_eq!(code(&o), 1, "{out}");
}

/// Numbers are JSON numbers or strings of digits, nothing looser; an optional field is
/// absent or a number, never null. Every refusal names the input and the field.
#[test]
fn json_numbers_are_strict() {
    let seg = |cpl: &str, selector: &str| {
        format!(r#"{{"selector":{selector},"attrib":"0xcf3","limit":"0xffffffff","base":0{cpl}}}"#)
    };
    for (text, why) in [
        (seg("", r#"" 12""#), "` 12` is not a number"),
        (seg("", r#""12 ""#), "`12 ` is not a number"),
        (seg("", r#""+12""#), "`+12` is not a number"),
        (seg("", r#""1_2""#), "`1_2` is not a number"),
        (seg("", r#""0x""#), "`0x` is not a number"),
        (seg("", "-1"), "-1 is negative"),
        (seg(r#","cpl":null"#, "12"), "invalid type: null"),
    ] {
        let o = segstate(&["convert", "--from", "vmcb", "--to", "vmx", &text]);
        assert_eq!(code(&o), 2, "{text}");
        assert!(
            stderr(&o).contains("the INPUT argument: VMCB segment") && stderr(&o).contains(why),
            "{text}: {}",
            stderr(&o)
        );
    }
    let good = segstate(&[
        "convert",
        "--from",
        "vmcb",
        "--to",
        "vmx",
        &seg(r#","cpl":3"#, r#""0x2b""#),
    ]);
    assert_eq!(code(&good), 0, "{}", stderr(&good));
    let o = segstate_stdin(
        &["convert"],
        br#"{"base":0,"limit":4294967296,"selector":43,"type":3,"present":1,"dpl":3,"db":1,"s":1,"l":0,"g":1,"avl":0,"unusable":0}"#,
    );
    assert_eq!(code(&o), 2);
    assert_contains(
        &stderr(&o),
        "standard input: field `limit`: 4294967296 does not fit in 32 bits",
    );
}
