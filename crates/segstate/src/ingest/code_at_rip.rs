//! The instruction at RIP, from the code bytes QEMU prints after its CPU dump.
//!
//! With `CPU_DUMP_CODE` (every "KVM: entry failed" and "KVM internal error" dump, and
//! `-d cpu`), `x86_cpu_dump_state` in QEMU's target/i386/cpu-dump.c prints 50 bytes
//! read at `CS.base + EIP - min(EIP, 20)`:
//!
//! ```text
//! Code=0f 1f 40 00 b9 38 00 00 00 <0f> 30 48 8b 44 24 10 …
//! ```
//!
//! The byte at RIP is bracketed, and a byte `cpu_memory_rw_debug` could not read is
//! printed `??`. The failing instruction is what a reader of a KVM failure wants
//! first (a `wrmsr`, an `rsm`, an ENDBR32 the CPU model lacks), so this reads the
//! bytes from the bracket on and, with the `disasm` feature, decodes the first
//! instruction in the width the dump's CS and mode give ([`crate::arch::CpuMode::code_bits`]).

use std::fmt;
use std::string::String;
use std::vec::Vec;

use super::text::Words;

/// How many bytes before RIP QEMU prints at most (`DUMP_CODE_BYTES_BACKWARD`).
pub const QEMU_CODE_BYTES_BACKWARD: usize = 20;

/// How many bytes QEMU prints in all (`DUMP_CODE_BYTES_TOTAL`).
pub const QEMU_CODE_BYTES_TOTAL: usize = 50;

/// The longest x86 instruction (SDM Vol. 2A, 2.3.11 "AVX Instruction Length": 15
/// bytes): more bytes than these are never needed to decode one.
pub const MAX_INSTRUCTION_BYTES: usize = 15;

/// A `Code=` line as read: where it is, how many bytes came before the bracket, and
/// the bytes from the bracketed one on (`None` where QEMU printed `??`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeAtRip {
    /// The line `Code=` is on.
    pub line: usize,
    /// How many bytes the line has before the bracketed one.
    pub before: usize,
    /// The bytes from RIP on, as printed.
    pub from_rip: Vec<Option<u8>>,
}

/// One printed byte: `0f`, `<0f>`, `??` or `<??>`; `Some(marked, byte)` when it is one.
fn code_byte(word: &str) -> Option<(bool, Option<u8>)> {
    let (marked, hex) = match word.strip_prefix('<') {
        Some(rest) => (true, rest.strip_suffix('>')?),
        None => (false, word),
    };
    if hex == "??" {
        return Some((marked, None));
    }
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok().map(|b| (marked, Some(b)))
}

impl CodeAtRip {
    /// Reads the bytes of a `Code=` line whose first byte, `first`, was glued to
    /// `Code=` on `line`, taking the rest from `words` (a wrapped line reads the same).
    /// Reads no more than QEMU prints; `None` when no byte is bracketed, since then
    /// where RIP is cannot be told.
    pub(crate) fn read(first: &str, line: usize, words: &mut Words<'_>) -> Option<Self> {
        let mut printed = Vec::new();
        let mut marker = None;
        let mut take = |word: &str, printed: &mut Vec<Option<u8>>| match code_byte(word) {
            Some((marked, byte)) => {
                if marked && marker.is_none() {
                    marker = Some(printed.len());
                }
                printed.push(byte);
                true
            }
            None => false,
        };
        if !take(first, &mut printed) {
            return None;
        }
        while printed.len() < QEMU_CODE_BYTES_TOTAL {
            match words.peek(0) {
                Some(w) if take(w.text, &mut printed) => words.skip(1),
                _ => break,
            }
        }
        let before = marker?;
        Some(CodeAtRip {
            line,
            before,
            from_rip: printed.split_off(before),
        })
    }

    /// Bytes that start at RIP, all readable (`line` is where they were printed): the
    /// instruction bytes of a KVM emulation failure ([`super::exit::emulation_instruction_bytes`]).
    #[must_use]
    pub fn at_rip(line: usize, bytes: &[u8]) -> Self {
        CodeAtRip {
            line,
            before: 0,
            from_rip: bytes.iter().copied().map(Some).collect(),
        }
    }

    /// Whether the bracket sits where QEMU puts it for this RIP, `min(RIP, 20)` bytes
    /// in; when not, the line's start was cut (the bytes from RIP on still hold).
    #[must_use]
    pub fn fits_rip(&self, rip: u64) -> bool {
        let expected = rip.min(QEMU_CODE_BYTES_BACKWARD as u64) as usize;
        self.before == expected
    }

    /// The instruction at RIP: its bytes, and its decoding in a `bits`-bit code
    /// segment (16, 32 or 64; `None` when the dump's mode is not known).
    #[must_use]
    pub fn instruction(&self, bits: Option<u32>, rip: u64) -> InstructionAtRip {
        let readable: Vec<u8> = self
            .from_rip
            .iter()
            .take(MAX_INSTRUCTION_BYTES)
            .map_while(|b| *b)
            .collect();
        let decoding = match bits {
            _ if readable.is_empty() => Decoding::Unreadable,
            None => Decoding::ModeUnknown,
            Some(bits) => decode(bits, &readable, rip, self.readable_cut_by_unreadable()),
        };
        let shown = match decoding {
            Decoding::Decoded { len, .. } => len,
            _ => readable.len(),
        };
        InstructionAtRip {
            line: self.line,
            bits,
            bytes: readable[..shown].to_vec(),
            decoding,
        }
    }

    /// Whether the readable run from RIP ends at a `??` (rather than at the line's end
    /// or at 15 bytes).
    fn readable_cut_by_unreadable(&self) -> bool {
        self.from_rip
            .iter()
            .take(MAX_INSTRUCTION_BYTES)
            .any(Option::is_none)
    }
}

/// The instruction at CS:RIP read from guest memory an input carries (a HyperFuzzer VM
/// state), through the guest's page tables ([`crate::arch::paging`]): where its first
/// byte was found, and what the bytes from there decode to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstructionInMemory {
    /// CS:RIP as a linear address (CS.base + EIP outside 64-bit mode).
    pub linear: u64,
    /// The paging mode it was translated in.
    pub paging: crate::arch::paging::PagingMode,
    /// The guest physical address of its first byte.
    pub physical: u64,
    /// The instruction (its `line` is 0: it was printed nowhere).
    pub instruction: InstructionAtRip,
}

impl fmt::Display for InstructionInMemory {
    /// Where it was read: `linear 0x…, 4-level paging, physical 0x…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "linear {:#x}, {}, physical {:#x}",
            self.linear, self.paging, self.physical
        )
    }
}

/// What the bytes at RIP decode to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoding {
    /// One instruction: its text (MASM syntax, hex with `0x`) and length in bytes.
    Decoded {
        /// The instruction, e.g. `wrmsr` or `mov [rbp], r12b`.
        text: String,
        /// How many of the bytes it takes.
        len: usize,
    },
    /// The byte at RIP was printed `??`: QEMU could not read guest memory there.
    Unreadable,
    /// The bytes end before the instruction does.
    Cut {
        /// True when they end at a `??`, false when the bytes shown end.
        at_unreadable: bool,
    },
    /// No x86 instruction starts with these bytes in this mode (#UD).
    Invalid,
    /// The dump does not give the code segment's width: the mode, or (outside 64-bit
    /// mode) CS's D bit.
    ModeUnknown,
    /// segstate was built without the `disasm` feature.
    NotDecoded,
}

/// The instruction at RIP as a dump shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstructionAtRip {
    /// The line of `Code=`.
    pub line: usize,
    /// The code segment's width it was decoded in, when known.
    pub bits: Option<u32>,
    /// The instruction's bytes when decoded, else the readable bytes from RIP (up to 15).
    pub bytes: Vec<u8>,
    /// The decoding.
    pub decoding: Decoding,
}

impl InstructionAtRip {
    /// The bytes as QEMU prints them, space-separated lowercase hex.
    #[must_use]
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(self.bytes.len() * 3);
        for (i, b) in self.bytes.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&std::format!("{b:02x}"));
        }
        s
    }

    /// A word for the decoding, for machine-readable output: `decoded`, `unreadable`,
    /// `cut`, `invalid`, `mode-unknown` or `not-decoded`.
    #[must_use]
    pub fn status(&self) -> &'static str {
        match self.decoding {
            Decoding::Decoded { .. } => "decoded",
            Decoding::Unreadable => "unreadable",
            Decoding::Cut { .. } => "cut",
            Decoding::Invalid => "invalid",
            Decoding::ModeUnknown => "mode-unknown",
            Decoding::NotDecoded => "not-decoded",
        }
    }
}

impl fmt::Display for InstructionAtRip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self
            .bits
            .map(|b| std::format!(", {b}-bit"))
            .unwrap_or_default();
        match &self.decoding {
            Decoding::Decoded { text, .. } => write!(f, "{text} ({}{bits})", self.hex()),
            Decoding::Unreadable => f.write_str(
                "not readable: QEMU printed `??` at RIP (guest memory it could not read)",
            ),
            Decoding::Cut { at_unreadable } => write!(
                f,
                "cut: {} ends before the instruction does{bits}, at {}",
                self.hex(),
                if *at_unreadable {
                    "a byte QEMU could not read"
                } else {
                    "the last byte shown"
                }
            ),
            Decoding::Invalid => write!(
                f,
                "no valid instruction ({}{bits}): the fetch raises #UD",
                self.hex()
            ),
            Decoding::ModeUnknown => write!(
                f,
                "{}, not decoded: the dump does not give the width to decode in (the mode, \
                 and CS's D bit outside 64-bit mode)",
                self.hex()
            ),
            Decoding::NotDecoded => write!(
                f,
                "{} (segstate built without the disasm feature)",
                self.hex()
            ),
        }
    }
}

/// Decodes the first instruction of `bytes` at `rip` in a `bits`-bit code segment.
#[cfg(feature = "disasm")]
fn decode(bits: u32, bytes: &[u8], rip: u64, cut_by_unreadable: bool) -> Decoding {
    use iced_x86::{Decoder, DecoderError, DecoderOptions, Formatter, MasmFormatter};

    if !matches!(bits, 16 | 32 | 64) {
        return Decoding::ModeUnknown;
    }
    let mut decoder = Decoder::with_ip(bits, bytes, rip, DecoderOptions::NONE);
    let instruction = decoder.decode();
    if instruction.is_invalid() {
        return match decoder.last_error() {
            DecoderError::NoMoreBytes if bytes.len() < MAX_INSTRUCTION_BYTES => Decoding::Cut {
                at_unreadable: cut_by_unreadable,
            },
            _ => Decoding::Invalid,
        };
    }
    let mut formatter = MasmFormatter::new();
    let options = formatter.options_mut();
    options.set_hex_prefix("0x");
    options.set_hex_suffix("");
    options.set_uppercase_hex(false);
    options.set_space_after_operand_separator(true);
    options.set_branch_leading_zeros(false);
    let mut text = String::new();
    formatter.format(&instruction, &mut text);
    Decoding::Decoded {
        text,
        len: instruction.len(),
    }
}

/// Without the `disasm` feature the bytes are shown undecoded.
#[cfg(not(feature = "disasm"))]
fn decode(_bits: u32, _bytes: &[u8], _rip: u64, _cut_by_unreadable: bool) -> Decoding {
    Decoding::NotDecoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::text::normalise;

    fn code(line: &str) -> Option<CodeAtRip> {
        let lines = normalise(line);
        let mut words = Words::new(&lines);
        let first = words.next_word()?;
        CodeAtRip::read(first.text.strip_prefix("Code=")?, first.line, &mut words)
    }

    #[test]
    fn the_bracket_marks_rip_and_question_marks_are_unreadable() {
        let c = code("Code=0f 1f 00 ?? <0f> 30 c3 ??").unwrap();
        assert_eq!(c.before, 4);
        assert_eq!(c.from_rip, [Some(0x0f), Some(0x30), Some(0xc3), None]);
        assert!(c.fits_rip(4));
        assert!(!c.fits_rip(0x1000), "20 bytes expected before RIP");
        let c = code("Code=<??> 00").unwrap();
        assert_eq!(c.instruction(Some(64), 0).decoding, Decoding::Unreadable);
    }

    #[test]
    fn a_line_without_a_bracket_or_with_words_after_it_reads_what_qemu_printed() {
        assert_eq!(code("Code=0f 30 c3"), None, "no bracket: RIP unknown");
        let c = code("Code=<0f> 30 then more words 00").unwrap();
        assert_eq!(c.from_rip, [Some(0x0f), Some(0x30)]);
        let long = std::format!("Code=<90>{}", " 90".repeat(80));
        assert_eq!(code(&long).unwrap().from_rip.len(), QEMU_CODE_BYTES_TOTAL);
    }

    #[cfg(feature = "disasm")]
    #[test]
    fn the_first_instruction_decodes_in_the_code_segments_width() {
        let c = code("Code=<0f> 30 c3").unwrap();
        let i = c.instruction(Some(64), 0x1000);
        assert_eq!(
            i.decoding,
            Decoding::Decoded {
                text: "wrmsr".into(),
                len: 2
            }
        );
        assert_eq!(i.hex(), "0f 30");
        // `b8 00 00 00 00` is `mov eax, 0` in 32-bit code and `mov ax, 0` plus two
        // more bytes in 16-bit code.
        let c = code("Code=<b8> 00 00 00 00").unwrap();
        let text = |bits| match c.instruction(Some(bits), 0).decoding {
            Decoding::Decoded { text, len } => (text, len),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(32), ("mov eax, 0".into(), 5));
        assert_eq!(text(16), ("mov ax, 0".into(), 3));
    }

    #[cfg(feature = "disasm")]
    #[test]
    fn cut_invalid_and_unknown_mode_are_told_apart() {
        let c = code("Code=<0f> ?? 00").unwrap();
        assert_eq!(
            c.instruction(Some(64), 0).decoding,
            Decoding::Cut {
                at_unreadable: true
            }
        );
        let c = code("Code=<48> 8b").unwrap();
        assert_eq!(
            c.instruction(Some(64), 0).decoding,
            Decoding::Cut {
                at_unreadable: false
            }
        );
        // 0x06 (push es) does not exist in 64-bit mode.
        let c = code("Code=<06> 00 00").unwrap();
        assert_eq!(c.instruction(Some(64), 0).decoding, Decoding::Invalid);
        assert_eq!(c.instruction(Some(32), 0).status(), "decoded");
        assert_eq!(c.instruction(None, 0).decoding, Decoding::ModeUnknown);
    }
}
