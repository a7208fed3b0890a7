//! The README and every `--help` against what the binary really does: the audit
//! excerpt is real output (modulo timings), `check --help` names every format it
//! detects, every subcommand's help gives its exit statuses and examples, and every
//! command line the README shows names a real subcommand.

use std::path::Path;

use segstate::ingest::InputFormat;

mod common;
use common::segstate;

const README: &str = include_str!("../../../README.md");

fn help(args: &[&str]) -> String {
    let o = segstate(args);
    assert!(o.status.success(), "{args:?}");
    String::from_utf8(o.stdout).unwrap()
}

/// `line` with every duration (`600 ms`, `2.0 s`, `(42.7 s)`) written as `#`, and the
/// host part of the live header dropped: what differs between two runs.
fn untimed(line: &str) -> String {
    if let Some(rest) = line.strip_prefix("Live on this host:") {
        let watchdog = rest.find("watchdog").map_or("", |i| &rest[i..]);
        return format!("Live on this host: HOST; {}", durations(watchdog));
    }
    durations(line)
}

/// `line` with every duration's number written as `#`.
fn durations(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or_default();
        let number = w.trim_start_matches('(');
        let is_time = !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit() || c == '.')
            && ["ms", "s", "s)", "µs"].contains(&next.trim_end_matches(','));
        out.push(if is_time {
            format!("{}#", &w[..w.len() - number.len()])
        } else {
            (*w).to_string()
        });
    }
    out.join(" ")
}

/// The fenced block after `heading` in the README.
fn block_after(heading: &str) -> Vec<&'static str> {
    let at = README.find(heading).expect("heading in README");
    let rest = &README[at..];
    // ```text: the README is also run as doc tests, where a bare fence means Rust.
    let start = rest.find("```text\n").expect("a block") + 8;
    let len = rest[start..].find("```").expect("the block ends");
    rest[start..start + len].lines().collect()
}

#[test]
fn the_readme_audit_excerpt_is_what_audit_prints() {
    let excerpt = block_after("## What `segstate audit` shows");
    let live = Path::new("/dev/kvm").exists();
    let o = segstate(if live {
        &["audit"][..]
    } else {
        &["audit", "--no-live"][..]
    });
    let real: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(untimed)
        .collect();
    // Without /dev/kvm only the model part can be compared.
    let wanted: Vec<&str> = if live {
        excerpt.clone()
    } else {
        excerpt
            .iter()
            .copied()
            .take_while(|l| !l.starts_with("Live on this host"))
            .collect()
    };
    // Every excerpt line, in order; `  ...` stands for lines left out.
    let mut at = 0;
    let mut gap = false;
    for line in wanted {
        if line.trim() == "..." {
            gap = true;
            continue;
        }
        let want = untimed(line);
        let found = real[at..].iter().position(|r| *r == want);
        match found {
            Some(0) => at += 1,
            Some(n) if gap => at += n + 1,
            _ => panic!(
                "README line not printed where the README shows it:\n  {line}\nreal output from there:\n{}",
                real[at..].join("\n")
            ),
        }
        gap = false;
    }
}

#[test]
fn check_help_names_every_format_it_detects() {
    let h = help(&["check", "--help"]);
    for format in InputFormat::ALL {
        assert!(h.contains(&format!("`{}`", format.name())), "{format}: {h}");
    }
    assert!(h.contains("Exit status"), "{h}");
    // And `--format` takes each of those names.
    let o = segstate(&["check", "--format", "nonsense", "-"]);
    let err = String::from_utf8_lossy(&o.stderr);
    for format in InputFormat::ALL {
        assert!(err.contains(format.name()), "{format}: {err}");
    }
}

#[test]
fn every_subcommand_help_gives_exit_statuses_and_examples() {
    for args in [
        &["audit", "--help"][..],
        &["verify", "--help"],
        &["check", "--help"],
        &["convert", "--help"],
        &["snapshot", "--help"],
        &["snapshot", "save", "--help"],
        &["snapshot", "restore", "--help"],
        &["snapshot", "inspect", "--help"],
        &["snapshot", "diff", "--help"],
        &["snapshot", "import", "--help"],
    ] {
        let h = help(args);
        assert!(h.contains("Exit status"), "{args:?}: {h}");
        assert!(h.contains("Examples:"), "{args:?}: {h}");
    }
}

#[test]
fn every_command_the_readme_shows_exists() {
    let subcommands = [
        "audit", "verify", "check", "convert", "snapshot", "profiles",
    ];
    let mut seen = 0;
    let mut in_sh = false;
    for line in README.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        let Some(rest) = line
            .trim_start()
            .strip_prefix("segstate ")
            .filter(|_| in_sh)
        else {
            continue;
        };
        let word = rest.split_whitespace().next().unwrap_or_default();
        assert!(subcommands.contains(&word), "README: {line}");
        seen += 1;
        if word == "snapshot" {
            let sub = rest.split_whitespace().nth(1).unwrap_or_default();
            assert!(
                ["save", "restore", "inspect", "diff", "import"].contains(&sub),
                "README: {line}"
            );
        }
    }
    assert!(seen >= 10, "the README shows {seen} command lines");
    assert!(
        README.contains("cargo doc -p segstate"),
        "where the API docs are"
    );
}

#[test]
fn untimed_drops_durations_only() {
    assert_eq!(
        untimed("Model: 21 built-in chains, 9224192 states verified in 600 ms"),
        "Model: 21 built-in chains, 9224192 states verified in # ms"
    );
    assert_eq!(untimed("(42.7 s)"), "(# s)");
    assert_eq!(
        untimed("Live on this host: KVM API 12 on x (AMD); watchdog 2.0 s per KVM_RUN; 4.1 s"),
        "Live on this host: HOST; watchdog # s per KVM_RUN; # s"
    );
    assert_eq!(untimed("  qemu  0  sound"), "  qemu  0  sound");
}

/// The README's count of the rule catalogue, family by family, is the catalogue's.
#[test]
fn the_readme_counts_the_rule_catalogue_right() {
    use segstate::check::{CheckId, Family};
    let count = |f| CheckId::of(f).count();
    let claim = format!(
        "holds {} rules: {} architectural, {}\nIntel VM entry, {} AMD VMRUN, {} KVM_SET_SREGS, {} path and {} QEMU-dump rules; all {}",
        CheckId::ALL.len(),
        count(Family::Arch),
        count(Family::Vmx),
        count(Family::Svm),
        count(Family::KvmSetSregs),
        count(Family::Path),
        count(Family::Qemu),
        CheckId::ALL.len(),
    );
    assert!(README.contains(&claim), "README should say: {claim}");
}
