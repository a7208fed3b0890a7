//! A foreign binary file read front to back as a stream, with the offset of the next
//! byte kept for errors: what the stream readers of other programs' files share (Xen's
//! save images, QEMU's guest memory dumps). Skipped bytes pass through a fixed buffer,
//! never held, so a reader's memory is what it keeps, whatever the file's size.

use std::io::Read;
use std::string::{String, ToString};

use super::foreign::{IngestError, Place, Reason};

/// The input, the offset of its next byte, and the names errors carry.
pub(crate) struct ByteStream<'a, R> {
    inner: R,
    /// The offset of the next byte.
    pub offset: u64,
    /// The format being read, e.g. `Xen save image`.
    format: &'static str,
    /// The file (its path, or a label).
    pub file: &'a str,
}

impl<'a, R: Read> ByteStream<'a, R> {
    /// `inner` from its first byte.
    pub fn new(inner: R, format: &'static str, file: &'a str) -> Self {
        ByteStream {
            inner,
            offset: 0,
            format,
            file,
        }
    }

    /// An error at offset `at`.
    pub fn error(&self, at: u64, reason: Reason) -> IngestError {
        IngestError::new(self.format, self.file, Place::Offset(usize_of(at)), reason)
    }

    /// A magic number at `at` that is not the `expected` one.
    pub fn bad_magic(&self, at: u64, found: u64, expected: u64) -> IngestError {
        self.error(at, Reason::BadMagic { found, expected })
    }

    /// A header field at `at` holding `found`, a value the reader does not read: what
    /// it reads instead is `supported`.
    pub fn unsupported(&self, at: u64, found: String, supported: &'static str) -> IngestError {
        self.error(at, Reason::UnsupportedVersion { found, supported })
    }

    /// `what`, starting at `start`, cut short: `found` of its `needed` bytes are there.
    pub fn truncated(&self, what: &str, start: u64, needed: usize, found: usize) -> IngestError {
        IngestError::new(
            self.format,
            self.file,
            Place::Field(std::format!("{what} at offset {start} ({start:#x})")),
            Reason::Truncated { needed, found },
        )
    }

    /// Fills `buf`; the end of the input before it is full is a truncation naming `what`.
    pub fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), IngestError> {
        let start = self.offset;
        let got = self.fill(buf)?;
        if got < buf.len() {
            return Err(self.truncated(what, start, buf.len(), got));
        }
        Ok(())
    }

    /// Reads until `buf` is full or the input ends; returns how many bytes came.
    pub fn fill(&mut self, buf: &mut [u8]) -> Result<usize, IngestError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(self.error(self.offset + got as u64, Reason::Io(e.to_string())));
                }
            }
        }
        self.offset += got as u64;
        Ok(got)
    }

    /// Skips `n` bytes without keeping them; the end of the input first is a truncation
    /// naming `what`.
    pub fn skip(&mut self, n: u64, what: &str) -> Result<(), IngestError> {
        let start = self.offset;
        let skipped = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
            .map_err(|e| self.error(start, Reason::Io(e.to_string())))?;
        self.offset += skipped;
        if skipped < n {
            return Err(self.truncated(what, start, usize_of(n), usize_of(skipped)));
        }
        Ok(())
    }

    /// Skips forward to offset `to`, where `what` starts. An offset behind the one
    /// already read is an error: these readers never seek back.
    pub fn skip_to(&mut self, to: u64, what: &str) -> Result<(), IngestError> {
        if to < self.offset {
            return Err(self.error(
                to,
                Reason::Layout(std::format!(
                    "{what} starts at offset {to} ({to:#x}), before offset {} already read: \
                     the file is read front to back, and its writer puts it later",
                    self.offset
                )),
            ));
        }
        self.skip(to - self.offset, what)
    }
}

/// A position or a length in a file as a `usize`, saturating where `usize` is narrower.
pub(crate) fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
