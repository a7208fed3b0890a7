//! The words of a normalised text, each with its line, and the hex numbers in them.

use alloc::string::String;
use alloc::vec::Vec;

/// One whitespace-separated word and the 1-based line it is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word<'a> {
    /// Line number in the input.
    pub line: usize,
    /// The word.
    pub text: &'a str,
}

/// The words of normalised lines, in order, with a cursor. Words point into the
/// lines (12 bytes each), so a log costs little more than its text.
#[derive(Clone, Debug)]
pub struct Words<'a> {
    lines: &'a [(usize, String)],
    /// (index into `lines`, start, end) of each word.
    spans: Vec<(u32, u32, u32)>,
    pos: usize,
}

impl<'a> Words<'a> {
    /// Cuts normalised lines into words.
    #[must_use]
    pub fn new(lines: &'a [(usize, String)]) -> Self {
        let mut spans = Vec::new();
        for (i, (_, l)) in lines.iter().enumerate() {
            let mut start = None;
            for (at, c) in l.char_indices().chain(core::iter::once((l.len(), ' '))) {
                match (c.is_whitespace(), start) {
                    (true, Some(s)) => {
                        spans.push((i as u32, s as u32, at as u32));
                        start = None;
                    }
                    (false, None) => start = Some(at),
                    _ => {}
                }
            }
        }
        Words {
            lines,
            spans,
            pos: 0,
        }
    }

    fn word(&self, index: usize) -> Option<Word<'a>> {
        let &(i, s, e) = self.spans.get(index)?;
        let (no, l) = &self.lines[i as usize];
        Some(Word {
            line: *no,
            text: &l[s as usize..e as usize],
        })
    }

    /// The word at the cursor plus `ahead`.
    #[must_use]
    pub fn peek(&self, ahead: usize) -> Option<Word<'a>> {
        self.word(self.pos + ahead)
    }

    /// The word at the cursor, advancing.
    pub fn next_word(&mut self) -> Option<Word<'a>> {
        let w = self.word(self.pos);
        if w.is_some() {
            self.pos += 1;
        }
        w
    }

    /// Advances by `n` words.
    pub fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.spans.len());
    }

    /// The cursor.
    #[must_use]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves the cursor back to `pos` (from [`Words::pos`]).
    pub fn rewind(&mut self, pos: usize) {
        self.pos = pos.min(self.spans.len());
    }
}

/// A hex number: optional `0x`, then 1 to 16 hex digits, then optional trailing `,`
/// or `;`. `None` for anything else (a cut value such as `DR7=00000` still reads;
/// callers that know the printed width check it with [`hex_width`]).
#[must_use]
pub fn hex(s: &str) -> Option<u64> {
    let s = s.trim_end_matches([',', ';']);
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// A hex number printed with one of `widths` digits (after an optional `0x`), as
/// a fixed-width column must be; a shorter one was cut by its poster.
#[must_use]
pub fn hex_width(s: &str, widths: &[usize]) -> Option<u64> {
    let t = s.trim_end_matches([',', ';']);
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if widths.contains(&digits.len()) {
        hex(t)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_reads_every_printed_form_and_refuses_the_rest() {
        for (text, value) in [
            ("0x0010,", Some(0x10)),
            ("00c09300", Some(0xc0_9300)),
            ("ffffffffffffffff", Some(u64::MAX)),
            ("1ffffffffffffffff", None),
            ("6e[182]", None),
            ("", None),
        ] {
            assert_eq!(hex(text), value, "{text:?}");
        }
        assert_eq!(hex_width("000", &[8]), None);
        assert_eq!(hex_width("0x0000ffff", &[8]), Some(0xffff));
    }

    #[test]
    fn words_cross_lines() {
        let lines = [
            (1, String::from("CS =0033 0000000000000000")),
            (2, String::from("ffffffff 00a0fb00")),
        ];
        let mut w = Words::new(&lines);
        assert_eq!(w.next_word().map(|w| w.text), Some("CS"));
        w.skip(2);
        assert_eq!(w.peek(0).map(|w| (w.line, w.text)), Some((2, "ffffffff")));
    }
}
