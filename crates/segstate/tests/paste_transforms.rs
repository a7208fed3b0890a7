//! Every real dump of `fixtures/dumps/` reads to the same states when it reaches us
//! the ways pastes travel: with Windows line ends, quoted in a mail reply (`> `, `>> `),
//! indented as a Markdown or mailing-list code block (four spaces, a tab), inside a
//! fenced block, with trailing blanks. The synthetic samples (`dump_corpus.rs`,
//! `every_prefix_wrap_and_join_reads_to_the_plain_state`) hold one QEMU dump through
//! many such prefixes; this holds every reader's real samples through the common ones.
//!
//! Log prefixes (dmesg's `[ 12.345678] `, journald's `Dec 03 09:00:00 host kernel: `)
//! are not applied here: many of these pastes were wrapped by a mail client after the
//! kernel printed them, and a prefix put on a wrapped line's tail makes a paste no one
//! could hold. A quoted-printable mail is not requoted either: its soft line breaks join
//! a line to the next as encoded, so a quote mark put in front of the next line lands
//! inside the joined line, where a real reply's would not.

use segstate::ingest::judge::judge;
use segstate::ingest::log::{LogDump, read_log};

mod corpus_common;
use corpus_common::{names, text};

/// What must not change: each state's target, dialects, guest state and verdict, its
/// line numbers aside (a fence's first line moves every line down one).
fn read(text: &str) -> Vec<String> {
    read_log(text)
        .iter()
        .map(|d: &LogDump| {
            let j = judge(d, None);
            let said = format!(
                "target {:?} ({}); dialects {:?}; {:?}; verdict: {}",
                d.target, d.target_reason, d.dialects, d.guest, j.verdict
            );
            without_line_numbers(&said)
        })
        .collect()
}

/// `said` with the number after each "line " dropped.
fn without_line_numbers(said: &str) -> String {
    let mut out = String::with_capacity(said.len());
    let mut rest = said;
    while let Some(at) = rest.find("line ") {
        let (before, after) = rest.split_at(at + "line ".len());
        out.push_str(before);
        rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// Each line of `t` with `prefix` in front.
fn prefixed(t: &str, prefix: &str) -> String {
    t.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

#[test]
fn every_real_dump_reads_the_same_crlf_quoted_indented_or_fenced() {
    let names = names();
    assert!(names.len() >= 100, "{} dumps", names.len());
    let mut compared = 0;
    for name in &names {
        let original = text(&format!("{name}.txt"));
        let want = read(&original);
        let quoted_printable = read_log(&original)
            .iter()
            .any(|d| d.notes.iter().any(|n| n.contains("quoted-printable")));
        let mut pastes = vec![
            ("CRLF line ends", original.replace('\n', "\r\n")),
            ("a fenced block", format!("```\n{original}\n```\n")),
            (
                "trailing blanks",
                prefixed(&original, "").replace('\n', "  \n"),
            ),
        ];
        if !quoted_printable {
            pastes.extend([
                ("quoted once", prefixed(&original, "> ")),
                ("quoted twice", prefixed(&original, ">> ")),
                ("indented four spaces", prefixed(&original, "    ")),
                ("indented a tab", prefixed(&original, "\t")),
            ]);
        }
        for (how, paste) in pastes {
            assert_eq!(read(&paste), want, "{name}, {how}");
            compared += 1;
        }
    }
    assert!(compared >= 600, "{compared} pastes compared");
}
