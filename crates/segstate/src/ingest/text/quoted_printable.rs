//! Quoted-printable mail bodies (RFC 2045 §6.7), decoded before the dialects read them.
//!
//! A dump sent by mail as `Content-Transfer-Encoding: quoted-printable` (the raw
//! messages of lore.kernel.org keep it so) has each `=` of QEMU's `RAX=` written `=3D`,
//! and its long lines cut by soft line breaks (a `=` that ends the line). Read as it is,
//! `ES =3D0020` is a selector 0x3d0020 and a register group is split over two lines.
//!
//! A QEMU dump has the shape of escapes too (`RFL=00000002`: `=00` would be a NUL;
//! `CR0=80050033`: `=80` half a UTF-8 character), so nothing is decoded unless the text
//! shows it is encoded. A *part* of the text is quoted-printable when
//!
//! 1. it is announced: the body after a `Content-Transfer-Encoding: quoted-printable`
//!    header, up to the header block of the next MIME part or the next mbox `From `
//!    line; or, in a text with no such header at all, the whole text when `=3D` follows
//!    a register name (`RAX=3D`, `ES =3D`) at least twice: an escaped `=`, since QEMU
//!    prints its values in lower-case hex (`%016" PRIx64`) and never writes `=3D`.
//!
//! Within such a part, each line, joined with the lines its soft breaks continue onto,
//! is decoded when
//!
//! 2. it is well formed: every `=` in it starts an escape of two upper-case hex digits
//!    (RFC 2045 §6.7 rule 1) or ends the line (rule 5); a dump's `CPL=0`, `DPL=0`,
//!    `Code=0f …`, a dump_vmcs's `RIP = 0x…` or prose's `a=b` are not;
//! 3. it decodes clean: UTF-8 without control characters other than tab: a dump's `=00`
//!    (NUL) or `=80` does not.
//!
//! A line that is not is kept as it is, so a dump pasted unencoded inside a part that
//! claims to be encoded is still read. The mail's headers themselves are never decoded.
//!
//! A line joined from soft breaks is numbered by its first source line: what a finding
//! names is the line of the encoded text, as the user holds it, where that dump line
//! starts.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// The header that names a body's encoding (RFC 2045 §6.1), compared without case.
const HEADER: &str = "content-transfer-encoding:";
/// The encoding decoded here.
const QUOTED_PRINTABLE: &str = "quoted-printable";
/// How many `=3D` after a register name make a text with no header quoted-printable.
const MIN_ESCAPED_ASSIGNMENTS: usize = 2;

/// Why a text was taken for quoted-printable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// A `Content-Transfer-Encoding: quoted-printable` header.
    Header,
    /// No header, but `=3D` after a register name this many times.
    EscapedAssignments(usize),
}

/// The lines of a text, its quoted-printable parts decoded.
#[derive(Clone, Debug)]
pub struct Decoded<'a> {
    /// Each line, numbered from 1 as in the text; a line joined from soft breaks by its
    /// first source line, so numbers may skip.
    pub lines: Vec<(usize, Cow<'a, str>)>,
    /// Why the text was taken for quoted-printable; `None` when nothing was decoded.
    pub evidence: Option<Evidence>,
    /// The source lines decoded, first and last of each run (both included).
    pub spans: Vec<(usize, usize)>,
}

impl Decoded<'_> {
    /// True when source line `line` was decoded.
    #[must_use]
    pub fn covers(&self, line: usize) -> bool {
        self.spans.iter().any(|&(a, b)| a <= line && line <= b)
    }

    /// What a report says of the decoding, for a dump starting at `line`; `None` when
    /// that line was not decoded.
    #[must_use]
    pub fn note(&self, line: usize) -> Option<String> {
        let why = match self.evidence? {
            Evidence::Header => String::from("its `Content-Transfer-Encoding` header says so"),
            Evidence::EscapedAssignments(n) => {
                format!("`=3D` follows a register name {n} times")
            }
        };
        self.covers(line).then(|| {
            format!(
                "line {line}: the text is quoted-printable ({why}): decoded before reading \
                 (`=3D` is `=`, a `=` at a line's end joins the next line); lines are \
                 numbered as in the encoded text, a joined line by its first"
            )
        })
    }
}

/// The lines of `text`, the quoted-printable parts decoded (see the module doc); every
/// line borrowed as it is when none is.
#[must_use]
pub fn decode(text: &str) -> Decoded<'_> {
    let raw: Vec<&str> = text.lines().collect();
    let parts = parts(&raw);
    let mut out = Decoded {
        lines: Vec::with_capacity(raw.len()),
        evidence: None,
        spans: Vec::new(),
    };
    let mut i = 0;
    while i < raw.len() {
        let in_part = parts.iter().find(|p| p.first <= i && i < p.end);
        let Some(part) = in_part else {
            out.lines.push((i + 1, Cow::Borrowed(raw[i])));
            i += 1;
            continue;
        };
        // One encoded line: this source line and those its soft breaks continue onto,
        // never past the part.
        let mut last = i;
        while last + 1 < part.end && soft_break(raw[last]) {
            last += 1;
        }
        match decode_line(&raw[i..=last]) {
            Some(line) => {
                out.lines.push((i + 1, Cow::Owned(line)));
                out.evidence = Some(part.evidence);
                match out.spans.last_mut() {
                    Some((_, end)) if *end == i => *end = last + 1,
                    _ => out.spans.push((i + 1, last + 1)),
                }
                i = last + 1;
            }
            None => {
                out.lines.push((i + 1, Cow::Borrowed(raw[i])));
                i += 1;
            }
        }
    }
    out
}

/// A run of source lines (0-based, `end` excluded) announced as quoted-printable.
struct Part {
    first: usize,
    end: usize,
    evidence: Evidence,
}

/// The announced parts of the source lines (step 1 of the module doc).
fn parts(raw: &[&str]) -> Vec<Part> {
    let headers: Vec<usize> = (0..raw.len())
        .filter(|&i| header_value(raw[i]).is_some())
        .collect();
    if headers.is_empty() {
        let n = escaped_assignments(raw);
        return if n >= MIN_ESCAPED_ASSIGNMENTS {
            vec![Part {
                first: 0,
                end: raw.len(),
                evidence: Evidence::EscapedAssignments(n),
            }]
        } else {
            Vec::new()
        };
    }
    let mut out = Vec::new();
    for (k, &h) in headers.iter().enumerate() {
        let qp = header_value(raw[h]).is_some_and(|v| v.eq_ignore_ascii_case(QUOTED_PRINTABLE));
        if !qp {
            continue;
        }
        // The body starts after the blank line that ends the header block.
        let Some(blank) = (h..raw.len()).find(|&i| raw[i].trim().is_empty()) else {
            continue;
        };
        let next_block = headers
            .get(k + 1)
            .map_or(raw.len(), |&n| block_start(raw, n));
        let end = (blank + 1..next_block)
            .find(|&i| raw[i].starts_with("From "))
            .unwrap_or(next_block);
        if blank + 1 < end {
            out.push(Part {
                first: blank + 1,
                end,
                evidence: Evidence::Header,
            });
        }
    }
    out
}

/// The value of a `Content-Transfer-Encoding:` header line.
fn header_value(line: &str) -> Option<&str> {
    let head = line.get(..HEADER.len())?;
    head.eq_ignore_ascii_case(HEADER)
        .then(|| line[HEADER.len()..].trim())
}

/// The first line of the header block holding line `at`: the headers before it (`Name:
/// value` lines and their folded continuations, RFC 5322 §2.2), and the MIME boundary
/// line (`--…`, RFC 2046 §5.1.1) that opens the part when there is one.
fn block_start(raw: &[&str], at: usize) -> usize {
    let mut start = at;
    while start > 0 && is_header(raw[start - 1]) {
        start -= 1;
    }
    if start > 0 && raw[start - 1].starts_with("--") {
        start -= 1;
    }
    start
}

/// True for a header line (`Name: value`, the name of printable ASCII without spaces) or
/// a folded header's continuation (leading whitespace, not blank).
fn is_header(line: &str) -> bool {
    if line.starts_with([' ', '\t']) {
        return !line.trim().is_empty();
    }
    line.split_once(':').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
    })
}

/// How many times `=3D` follows a register name: an ASCII letter or digit, or one
/// space after one (QEMU pads two-letter names: `ES =`, `R8 =`).
fn escaped_assignments(raw: &[&str]) -> usize {
    raw.iter()
        .map(|line| {
            let b = line.as_bytes();
            (0..b.len())
                .filter(|&at| b[at..].starts_with(b"=3D") && after_name(&b[..at]))
                .count()
        })
        .sum()
}

fn after_name(before: &[u8]) -> bool {
    match before {
        [.., c] if c.is_ascii_alphanumeric() => true,
        [.., c, b' '] => c.is_ascii_alphanumeric(),
        _ => false,
    }
}

/// True when the source line ends in a soft line break: a `=` and, at most, the
/// whitespace a transport may have added (RFC 2045 §6.7 rule 3).
fn soft_break(line: &str) -> bool {
    line.trim_end_matches([' ', '\t']).ends_with('=')
}

/// One encoded line made of the source lines `run` (each but the last ending in a soft
/// break), decoded; `None` when it is not well formed or does not decode clean.
fn decode_line(run: &[&str]) -> Option<String> {
    let mut bytes: Vec<u8> = Vec::new();
    for src in run {
        // A soft break: the `=` and the transport's whitespace after it go.
        let line = if soft_break(src) {
            src.trim_end_matches([' ', '\t'])
        } else {
            src
        };
        let b = line.as_bytes();
        let mut at = 0;
        while at < b.len() {
            if b[at] != b'=' {
                bytes.push(b[at]);
                at += 1;
                continue;
            }
            if at + 1 == b.len() {
                break;
            }
            let hi = upper_hex(*b.get(at + 1)?)?;
            let lo = upper_hex(*b.get(at + 2)?)?;
            bytes.push(hi << 4 | lo);
            at += 3;
        }
    }
    let line = String::from_utf8(bytes).ok()?;
    (!line.chars().any(|c| c.is_control() && c != '\t')).then_some(line)
}

/// The value of an upper-case hex digit, the only form RFC 2045 §6.7 rule 1 allows.
fn upper_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(usize, String)> {
        decode(text)
            .lines
            .into_iter()
            .map(|(n, l)| (n, l.into_owned()))
            .collect()
    }

    const HEADERS: &str = "Message-ID: <x@y>\nContent-Type: text/plain; charset=utf-8\n\
                           Content-Transfer-Encoding: quoted-printable\n\n";

    #[test]
    fn an_announced_body_is_decoded_and_soft_breaks_join_lines() {
        let text = format!(
            "{HEADERS}>>    RAX=3D0000000000000000 RCX=3D0000000000000000 =\n\
             RDX=3D0000000000000f61\n>>    ES =3D0020 0000000000000000\n>>=20\n"
        );
        let d = decode(&text);
        assert_eq!(d.evidence, Some(Evidence::Header));
        let l = lines(&text);
        // The headers are kept as they are (`charset=utf-8` is no escape).
        assert_eq!(
            l[1],
            (2, String::from("Content-Type: text/plain; charset=utf-8"))
        );
        assert_eq!(
            l[4],
            (
                5,
                String::from(
                    ">>    RAX=0000000000000000 RCX=0000000000000000 RDX=0000000000000f61"
                )
            )
        );
        // The line after a joined one keeps its own number.
        assert_eq!(l[5], (7, String::from(">>    ES =0020 0000000000000000")));
        assert_eq!(l[6], (8, String::from(">> ")));
        assert_eq!(d.spans, [(5, 8)]);
        assert!(d.note(5).is_some_and(|n| n.contains("header")));
        assert_eq!(d.note(2), None);
    }

    #[test]
    fn escaped_assignments_without_a_header_are_evidence() {
        let text =
            "RAX=3D0000000000000000 RBX=3D0000000000000000\nES =3D0020 =\n0000000000000000\n";
        let d = decode(text);
        assert_eq!(d.evidence, Some(Evidence::EscapedAssignments(3)));
        assert_eq!(
            lines(text),
            [
                (1, String::from("RAX=0000000000000000 RBX=0000000000000000")),
                (2, String::from("ES =0020 0000000000000000")),
            ]
        );
    }

    /// Ordinary dumps are never touched: no evidence, or escapes that would decode to
    /// NUL or half a character, or `=` signs that are no escape.
    #[test]
    fn an_ordinary_dump_is_never_decoded() {
        for text in [
            "RIP=000000000000fff0 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n",
            "CR0=80050033 CR2=0000000000000000 CR3=0000000000004000 CR4=00000620\n",
            "EFER=0000000000000d01\n",
            // One value that happens to start with 3D is no evidence.
            "CR0=3D000011 CR2=0000000000000000\n",
            // Wrapped: `DR3=` at a line's end is not a soft break without evidence.
            "DR0=0000000000000000 DR3=\n0000000000000000\n",
        ] {
            let d = decode(text);
            assert_eq!(d.evidence, None, "{text}");
            let want: Vec<(usize, String)> = text
                .lines()
                .enumerate()
                .map(|(i, l)| (i + 1, String::from(l)))
                .collect();
            assert_eq!(lines(text), want, "{text}");
        }
    }

    /// Inside an announced part, a line that is not well-formed quoted-printable, or
    /// that would decode to control bytes or broken UTF-8, is kept as it is.
    #[test]
    fn an_unencoded_line_in_an_announced_part_is_kept() {
        for line in [
            "RFL=00000002 [-------] CPL=0 II=0",
            "CR0=80050033 CR2=0000000000000000",
            "Code=0f 01 d9",
            "RIP = 0x000000000000fff0",
            "a=b",
        ] {
            let text = format!("{HEADERS}{line}\n");
            let d = decode(&text);
            assert_eq!(d.evidence, None, "{line}");
            assert_eq!(lines(&text)[4], (5, String::from(line)));
        }
    }

    #[test]
    fn other_encodings_and_other_parts_are_not_decoded() {
        let text = "Content-Transfer-Encoding: 8bit\n\nRAX=3D00\n";
        assert_eq!(decode(text).evidence, None);
        // A QP part, then a 7bit part of the same message, then a message of an mbox.
        let text = "--b\nContent-Transfer-Encoding: quoted-printable\n\nRAX=3D0f =\nX\n\
                    --b\nContent-Type: text/plain\nContent-Transfer-Encoding: 7bit\n\nRAX=3D11\n";
        let l = lines(text);
        assert_eq!(l[3], (4, String::from("RAX=0f X")));
        assert_eq!(l.last(), Some(&(10, String::from("RAX=3D11"))));
        let mbox = format!("{HEADERS}RAX=3D1\nFrom a@b Mon Jan 1\nRBX=3D2\n");
        let l = lines(&mbox);
        assert_eq!(l[4], (5, String::from("RAX=1")));
        assert_eq!(l[6], (7, String::from("RBX=3D2")));
    }

    #[test]
    fn a_soft_break_on_the_last_line_of_a_part_joins_nothing_past_it() {
        let text = format!("{HEADERS}RAX=3D1 =\n");
        assert_eq!(lines(&text)[4], (5, String::from("RAX=1 ")));
        // Lower-case escapes are not the RFC's form.
        let text = format!("{HEADERS}RAX=3d1\n");
        assert_eq!(lines(&text)[4], (5, String::from("RAX=3d1")));
    }

    /// Read whole, under mail quoting: every field comes out as QEMU printed it, and a
    /// note's line is the line of the encoded text where the dump line starts.
    #[test]
    fn a_quoted_encoded_dump_reads_whole_with_its_own_line_numbers() {
        use crate::arch::SegReg;
        use crate::ingest::log::read_log;
        let text = format!(
            "{HEADERS}>>    KVM internal error. Suberror: 3\n\
             >>    RAX=3D0000000000000000 RBX=3D0000000000000000 =\n\
             RCX=3D0000000000000000\n\
             >>    RIP=3D000000000000fff0 RFL=3D00010002 [-------] CPL=3D0 II=3D0 A20=3D=\n\
             1 SMM=3D0 HLT=3D0\n\
             >>    CS =3D0038 0000000000000000 ffffffff 00a09b00 DPL=3D0 CS64 [-RA]\n\
             >>    GS =3D0020 0000000000000000 ffffffff 00c0\n\
             >>    CR0=3D80010033 CR2=3D000000000000fff0 CR3=3D000000007f809000 CR4=3D00=\n\
             000668\n"
        );
        let d = read_log(&text);
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert_eq!(d.line, 6);
        assert_eq!(d.exits.first().map(|(l, _)| *l), Some(5));
        assert_eq!(d.printed_cpl.map(|c| c.bits()), Some(0));
        let cs = d.guest.segments[SegReg::Cs].expect("CS read");
        assert_eq!(cs.selector.0, 0x38);
        assert_eq!(d.guest.rflags, Some(0x10002));
        assert_eq!(d.guest.cr4, Some(0x668));
        assert_eq!(d.guest.segments[SegReg::Gs], None);
        assert!(d.notes[0].starts_with("line 6: the text is quoted-printable"));
        assert!(
            d.notes
                .iter()
                .any(|n| n.starts_with("line 11: the GS line is cut short")),
            "{:?}",
            d.notes
        );
    }

    /// An encoded dump is not QEMU's print as it is: `ingest::read` leaves it to the log
    /// readers, which see it decoded.
    #[test]
    fn an_encoded_dump_is_read_decoded_only() {
        use crate::arch::SegReg;
        let text = "RAX=3D0000000000000000 RBX=3D0000000000000000 RCX=3D0000000000000000 =\n\
                    RDX=3D0000000000000000\n\
                    RIP=3D0000000000001000 RFL=3D00000002 [-------] CPL=3D0 II=3D0 A20=3D1 SMM=\
                    =3D0 HLT=3D0\n\
                    CS =3D0008 0000000000000000 ffffffff 00a09b00 DPL=3D0 CS64 [-RA]\n\
                    CR0=3D80010033 CR2=3D0000000000000000 CR3=3D0000000000001000 CR4=3D00000020\n\
                    EFER=3D0000000000000500\n";
        let inputs = crate::ingest::read(text.as_bytes(), None).expect("read");
        assert_eq!(inputs.len(), 1);
        assert!(inputs[0].dump.is_none());
        let log = inputs[0].log.as_ref().expect("a log state");
        assert_eq!(log.line, 1);
        assert_eq!(log.guest.efer, Some(0x500));
        assert!(log.guest.segments[SegReg::Cs].is_some());
    }

    #[test]
    fn junk_never_panics() {
        for junk in [
            "=",
            "==",
            "=\n=",
            "=3",
            "=\u{e9}9",
            "\u{e9}=3D=3D",
            "=FF=FE",
        ] {
            let _ = decode(junk);
            let _ = decode(&format!("{HEADERS}{junk}"));
        }
    }
}
