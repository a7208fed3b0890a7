//! Reading an input from a file or standard input in bounded memory.
//!
//! Every format but three is small: a `kvm_sregs` is 312 bytes, a VMCB page 4096, a JSON
//! state a few KiB, a segstate snapshot with the harness guest's memory well under a
//! MiB, another VMM's state file (Firecracker, Cloud Hypervisor, crosvm, Hyper-V) at
//! most tens of MiB. Those are read whole, but never past a cap ([`WHOLE_INPUT_LIMIT`],
//! 16 MiB for a snapshot, 32 MiB for another VMM's state file): a larger input is
//! refused with its name before it costs memory. The three streams are read as streams:
//! a QEMU migration stream (and the libvirt image around one) by its walker, a Xen save
//! image down to its `HVM_CONTEXT` record, and a QEMU log of dumps line by line
//! (64 KiB per line), parsed a part of about 128 KiB at a time, so a multi-GiB
//! log or `/dev/zero` never grows the process.
//!
//! Every error is a [`SourceError`]: the input's name (a path or "standard input"),
//! where in it (line or byte offset, from the format's reader), and what was wrong, with
//! control characters escaped so bytes from the input never reach a terminal raw.

use std::boxed::Box;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use super::compressed::{Compression, DECOMPRESSED_LIMIT};
use super::{Input, InputFormat};

/// The most a non-stream input may hold (JSON states and the binary formats).
pub const WHOLE_INPUT_LIMIT: usize = 1 << 20;
/// The most a segstate snapshot given to `check` may hold: its memory is skipped by the
/// check but decoded, so the file is held twice.
pub(crate) const SNAPSHOT_INPUT_LIMIT: usize = 16 << 20;
/// The largest foreign state file read: a Cloud Hypervisor `state.json` of many vCPUs
/// and devices (its own reader's limit); a Firecracker state file is at most 10 MB.
pub(crate) const FOREIGN_INPUT_LIMIT: usize = 32 << 20;
/// The largest HyperFuzzer VM state read: its register file and the guest memory its
/// seed maps (the published seeds are under 10 KiB; a mutated state holds what its
/// page tables reach).
pub(crate) const HYPERFUZZER_INPUT_LIMIT: usize = 64 << 20;
/// The longest line of a QEMU log (a dump line is under 100 bytes).
pub(crate) const LINE_LIMIT: usize = 64 << 10;
/// Bytes looked at before deciding the format: more than the largest binary format, so
/// an input that ends within them is detected exactly as [`super::detect`] does.
const PREFIX: usize = 8 << 10;
/// A log is read in parts of about this many bytes (a dump is 2–4 KiB), each ending at a blank line or where
/// a QEMU dump begins, so a kernel dump and the QEMU dump of the same failure (printed
/// together) fall into one part and are merged; memory stays bounded by a part.
const PART: usize = 128 << 10;
/// A part with no such boundary is cut here, below the tolerant reader's limit
/// ([`super::text::MAX_TEXT`]).
const PART_MAX: usize = 256 << 10;
const _: () = assert!(PART_MAX + LINE_LIMIT < super::text::MAX_TEXT);

/// Where an input comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputName {
    /// Standard input (`-` or no argument).
    Stdin,
    /// A file.
    Path(PathBuf),
}

impl InputName {
    /// The name of `path`, where `None` and `-` mean standard input.
    #[must_use]
    pub fn of(path: Option<&Path>) -> Self {
        match path {
            Some(p) if p.as_os_str() != "-" => InputName::Path(p.to_path_buf()),
            _ => InputName::Stdin,
        }
    }
}

impl fmt::Display for InputName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputName::Stdin => f.write_str("standard input"),
            InputName::Path(p) => f.write_str(&escape_controls(&p.display().to_string())),
        }
    }
}

/// `text` with every control character (ESC, CR, NUL, ...) written as an escape, so
/// that bytes taken from an input cannot drive the terminal an error is printed on.
#[must_use]
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// An input that cannot be read: which input, and what was wrong where in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceError {
    /// The input.
    pub input: InputName,
    /// What was wrong, starting with the line or offset when there is one.
    pub message: String,
}

impl SourceError {
    pub(super) fn new(input: &InputName, message: impl fmt::Display) -> Self {
        SourceError {
            input: input.clone(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.input, escape_controls(&self.message))
    }
}

impl core::error::Error for SourceError {}

/// Opens `path` (standard input for `None` or `-`) for reading. A directory is refused
/// here, by name, rather than by a later read's "Is a directory".
///
/// # Errors
///
/// The path is a directory or cannot be opened.
pub fn open(path: Option<&Path>) -> Result<(InputName, Box<dyn BufRead>), SourceError> {
    let name = InputName::of(path);
    let InputName::Path(p) = &name else {
        return Ok((name, Box::new(std::io::stdin().lock())));
    };
    if std::fs::metadata(p).is_ok_and(|m| m.is_dir()) {
        return Err(SourceError::new(&name, "is a directory, not an input file"));
    }
    match std::fs::File::open(p) {
        Ok(f) => Ok((name, Box::new(BufReader::new(f)))),
        Err(e) => Err(SourceError::new(&name, format_args!("cannot open: {e}"))),
    }
}

/// Reads at most `limit` bytes from `reader`; more is an error naming the input and the
/// limit, found after reading one byte past it (never the whole of it).
///
/// # Errors
///
/// A read error, or an input larger than `limit`.
pub fn read_bounded(
    reader: &mut dyn Read,
    name: &InputName,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, SourceError> {
    read_bounded_after(Vec::new(), reader, name, limit, what)
}

fn read_bounded_after(
    mut bytes: Vec<u8>,
    reader: &mut dyn Read,
    name: &InputName,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, SourceError> {
    let room = (limit + 1).saturating_sub(bytes.len()) as u64;
    reader
        .take(room)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(name, bytes.len(), &e))?;
    if bytes.len() > limit {
        return Err(SourceError::new(
            name,
            format_args!(
                "more than {limit} bytes, the most {what} may hold: refused without reading the rest"
            ),
        ));
    }
    Ok(bytes)
}

/// Fills up to `n` bytes, fewer only at the end of the input.
fn prefix(reader: &mut dyn Read, name: &InputName, n: usize) -> Result<Vec<u8>, SourceError> {
    match prefix_to_error(reader, n) {
        (bytes, None) => Ok(bytes),
        (bytes, Some(e)) => Err(read_error(name, bytes.len(), &e)),
    }
}

/// Fills up to `n` bytes, as [`prefix`] does; a read error after some bytes is given
/// back beside them, not in their place.
fn prefix_to_error(reader: &mut dyn Read, n: usize) -> (Vec<u8>, Option<std::io::Error>) {
    let mut bytes = Vec::with_capacity(n);
    match reader.take(n as u64).read_to_end(&mut bytes) {
        Ok(_) => (bytes, None),
        Err(e) => (bytes, Some(e)),
    }
}

/// A read of `name` that failed with `e` after `at` bytes.
fn read_error(name: &InputName, at: usize, e: &std::io::Error) -> SourceError {
    SourceError::new(name, format_args!("byte offset {at}: {e}"))
}

/// A reader at an error: it gives the error once, then the end.
struct ErrorAt(Option<std::io::Error>);

impl Read for ErrorAt {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

impl BufRead for ErrorAt {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.0.take().map_or(Ok(&[]), Err)
    }

    fn consume(&mut self, _: usize) {}
}

/// True when `prefix` reads as the start of text: no NUL, and UTF-8 but for a
/// character cut at the end.
pub(crate) fn starts_as_text(prefix: &[u8]) -> bool {
    !prefix.contains(&0)
        && match std::str::from_utf8(prefix) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        }
}

/// The format of an input that starts with `prefix` and goes on past it.
fn detect_long(prefix: &[u8], name: &InputName) -> Result<InputFormat, SourceError> {
    if let Some(f) = super::detect_magic(prefix) {
        return Ok(f);
    }
    if starts_as_text(prefix) {
        // The prefix may end inside a character.
        let text = std::str::from_utf8(prefix)
            .unwrap_or_else(|e| std::str::from_utf8(&prefix[..e.valid_up_to()]).unwrap_or(""));
        return Ok(super::text_format(text));
    }
    Err(SourceError::new(
        name,
        format_args!(
            "more than {PREFIX} bytes of binary input with no stream magic: the binary \
             formats are at most 4096 bytes (a VMCB page); text must be UTF-8 without NUL \
             bytes; {}",
            super::NAMED_ONLY
        ),
    ))
}

/// Reads every state of the input, detecting the format unless `format` is given, and
/// hands each to `each` as soon as it is read; returns how many there were. Memory
/// stays bounded whatever the input (see the module documentation). A compressed input
/// (gzip, zstd, xz or bzip2, each under its feature) is read as the bytes it holds
/// ([`super::compressed`]).
///
/// # Errors
///
/// [`SourceError`] naming the input and the line or offset of the first thing that
/// cannot be read; states before it have been handed out.
pub fn read_each(
    reader: &mut dyn BufRead,
    name: &InputName,
    format: Option<InputFormat>,
    each: &mut dyn FnMut(Input),
) -> Result<usize, SourceError> {
    let head = prefix(reader, name, PREFIX)?;
    match Compression::detect(&head) {
        Some(c) => read_compressed(c, head.chain(reader), name, format, each),
        None => read_each_after(head, reader, name, format, each),
    }
}

/// [`read_each`] of an input compressed with `compression`: what it holds, read as any
/// input is, every error saying it is about the decompressed bytes. One layer is
/// decompressed: a compressed file inside is refused with the command that takes the
/// outer one off.
fn read_compressed(
    compression: Compression,
    compressed: impl BufRead,
    name: &InputName,
    format: Option<InputFormat>,
    each: &mut dyn FnMut(Input),
) -> Result<usize, SourceError> {
    let mut inner = super::compressed::decompress(compression, compressed, DECOMPRESSED_LIMIT)
        .map_err(|e| SourceError::new(name, e))?;
    let within = |e: SourceError| SourceError {
        message: format!(
            "{compression}-compressed; in the bytes it decompresses to, {}",
            e.message
        ),
        ..e
    };
    let (head, cut) = prefix_to_error(&mut inner, PREFIX);
    if let Some(e) = cut {
        if head.is_empty() || !starts_as_text(&head) {
            return Err(within(read_error(name, head.len(), &e)));
        }
        // Text before the error (a log cut short in its first bytes): read as far as it
        // goes, the error then where it fell.
        let mut rest = ErrorAt(Some(e));
        return read_each_after(head, &mut rest, name, format, each).map_err(within);
    }
    if let Some(again) = Compression::detect(&head) {
        let layers = if again == compression {
            String::from("twice")
        } else {
            format!("and inside that {again}-compressed")
        };
        return Err(SourceError::new(
            name,
            format_args!(
                "{compression}-compressed {layers}: segstate decompresses one layer; take \
                 the outer one off first (`{} FILE | segstate check -`)",
                compression.decompress_command()
            ),
        ));
    }
    read_each_after(head, &mut inner, name, format, each).map_err(within)
}

/// [`read_each`] once the first bytes, `head`, are read.
fn read_each_after(
    head: Vec<u8>,
    reader: &mut dyn BufRead,
    name: &InputName,
    format: Option<InputFormat>,
    each: &mut dyn FnMut(Input),
) -> Result<usize, SourceError> {
    let format = match format {
        Some(f) => f,
        None if head.len() < PREFIX => {
            super::detect(&head).map_err(|e| SourceError::new(name, e))?
        }
        None => detect_long(&head, name)?,
    };
    let bad = |e: super::InputError| SourceError::new(name, e);
    // A format read whole: at most `limit` bytes, `what` naming it when there are more.
    let whole = |head: Vec<u8>, reader: &mut dyn BufRead, limit: usize, what: String| {
        let bytes = read_bounded_after(head, reader, name, limit, &what)?;
        super::read(&bytes, Some(format)).map_err(bad)
    };
    let inputs = match format {
        InputFormat::Dump => return read_dumps(head, reader, name, each),
        InputFormat::Migration => super::read_migration(head.chain(reader)).map_err(bad)?,
        InputFormat::Xen => super::read_xen(head.chain(reader)).map_err(bad)?,
        InputFormat::Vmcore => super::read_vmcore(head.chain(reader)).map_err(bad)?,
        InputFormat::Qcow2 => return Err(SourceError::new(name, super::QCOW2_BY_PATH)),
        InputFormat::Libvirt => super::read_libvirt(head.chain(reader)).map_err(bad)?,
        InputFormat::Snapshot => whole(head, reader, SNAPSHOT_INPUT_LIMIT, "a snapshot".into())?,
        InputFormat::CloudHypervisor
        | InputFormat::Firecracker
        | InputFormat::Crosvm
        | InputFormat::XenHvmctx
        | InputFormat::HyperV => whole(
            head,
            reader,
            FOREIGN_INPUT_LIMIT,
            format!("a {format} state file"),
        )?,
        InputFormat::HyperFuzzer => whole(
            head,
            reader,
            HYPERFUZZER_INPUT_LIMIT,
            String::from("a HyperFuzzer VM state"),
        )?,
        InputFormat::Json
        | InputFormat::Wtf
        | InputFormat::Sregs
        | InputFormat::SregsRegs
        | InputFormat::Vmcb
        | InputFormat::VmcbSave => {
            whole(head, reader, WHOLE_INPUT_LIMIT, format!("a {format} input"))?
        }
    };
    let n = inputs.len();
    inputs.into_iter().for_each(each);
    Ok(n)
}

/// A QEMU log, a dump at a time.
fn read_dumps(
    head: Vec<u8>,
    reader: &mut dyn BufRead,
    name: &InputName,
    each: &mut dyn FnMut(Input),
) -> Result<usize, SourceError> {
    let mut reader = head.chain(reader);
    let mut chunk = String::new();
    let mut chunk_first_line = 1;
    let mut line_no = 0;
    let mut offset = 0usize;
    let mut count = 0;
    let mut line = Vec::new();
    // A wtf regs.json pasted in the text, read when no dump is found.
    #[cfg(feature = "serde")]
    let mut paste = super::wtf::PasteCapture::default();
    // What the text shows instead of a dump, for the refusal when it holds none.
    let mut not_a_dump = super::dump_text::NotADump::default();
    let mut flush = |chunk: &mut String, first: usize| -> Result<(), SourceError> {
        let inputs = super::dump_text::read_dumps_from(chunk, first)
            .map_err(|e| SourceError::new(name, e))?;
        count += inputs.len();
        inputs.into_iter().for_each(&mut *each);
        chunk.clear();
        Ok(())
    };
    loop {
        line.clear();
        let got = match (&mut reader)
            .take(LINE_LIMIT as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(got) => got,
            Err(e) => {
                // What was read before the error is handed out first (a log cut short).
                flush(&mut chunk, chunk_first_line)?;
                return Err(read_error(name, offset, &e));
            }
        };
        if got == 0 {
            break;
        }
        line_no += 1;
        if line.len() > LINE_LIMIT {
            return Err(SourceError::new(
                name,
                format_args!(
                    "line {line_no} (byte offset {offset}): longer than {LINE_LIMIT} bytes; \
                     a QEMU dump line is under 100"
                ),
            ));
        }
        let Some(text) = std::str::from_utf8(&line)
            .ok()
            .filter(|_| !line.contains(&0))
        else {
            let at = std::str::from_utf8(&line).map_or_else(
                |e| e.valid_up_to(),
                |_| line.iter().position(|&b| b == 0).unwrap_or(0),
            );
            return Err(SourceError::new(
                name,
                format_args!(
                    "line {line_no} (byte offset {}): not UTF-8 text without NUL bytes; \
                     binary inputs are detected by size",
                    offset + at
                ),
            ));
        };
        let boundary = text.trim().is_empty() || super::qemu_dump::starts_dump(text);
        if (chunk.len() >= PART && boundary) || chunk.len() >= PART_MAX {
            flush(&mut chunk, chunk_first_line)?;
        }
        if chunk.is_empty() {
            chunk_first_line = line_no;
        }
        chunk.push_str(text);
        not_a_dump.push(line_no, text);
        #[cfg(feature = "serde")]
        paste.push(line_no, text);
        offset += got;
    }
    flush(&mut chunk, chunk_first_line)?;
    if count == 0 {
        #[cfg(feature = "serde")]
        if let Some(wtf) = paste.read() {
            each(wtf.map_err(|e| SourceError::new(name, e))?);
            return Ok(1);
        }
        if let Some(why) = not_a_dump.refusal() {
            return Err(SourceError::new(name, why));
        }
        return Err(SourceError::new(name, super::dump_text::NO_DUMP));
    }
    Ok(count)
}

/// Reads every state of `bytes` at once, as [`read_each`] would from a file.
///
/// # Errors
///
/// As [`read_each`].
pub fn read_all(
    bytes: &[u8],
    name: &InputName,
    format: Option<InputFormat>,
) -> Result<Vec<Input>, SourceError> {
    let mut out = vec![];
    let mut reader = bytes;
    read_each(&mut reader, name, format, &mut |i| out.push(i))?;
    Ok(out)
}
