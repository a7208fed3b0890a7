//! The walker's buffered reader: a fixed read buffer, look-ahead, and offsets for
//! every error.

use super::*;

pub(super) struct Input<R> {
    pub(super) inner: R,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) eof: bool,
    pub(super) offset: u64,
}

impl<R: Read> Input<R> {
    pub(super) fn new(inner: R) -> Self {
        Input {
            inner,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
        }
    }

    pub(super) fn avail(&self) -> usize {
        self.end - self.start
    }

    /// Reads more into the buffer; returns the count read (0 at end of input).
    pub(super) fn fill(&mut self) -> Result<usize, MigrationError> {
        if self.eof {
            return Ok(0);
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let space = self.buf.len() - self.end;
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    let n = n.min(space);
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(error(
                        self.offset + self.avail() as u64,
                        format!("read error: {e}"),
                    ));
                }
            }
        }
    }

    /// Up to `n` (≤ [`PEEK_MAX`]) bytes ahead without consuming them; fewer at the end.
    pub(super) fn peek(&mut self, n: usize) -> Result<&[u8], MigrationError> {
        let n = n.min(PEEK_MAX);
        if self.avail() < n && self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.avail() < n {
            if self.fill()? == 0 {
                break;
            }
        }
        let k = n.min(self.avail());
        Ok(&self.buf[self.start..self.start + k])
    }

    pub(super) fn peek_byte(&mut self) -> Result<Option<u8>, MigrationError> {
        Ok(self.peek(1)?.first().copied())
    }

    pub(super) fn truncated(&self, at: u64, what: &str, need: u64) -> MigrationError {
        error(
            at,
            format!(
                "stream ends at offset {:#x} inside {what} ({need} bytes from {at:#x})",
                self.offset
            ),
        )
    }

    pub(super) fn read_into(&mut self, out: &mut [u8], what: &str) -> Result<(), MigrationError> {
        let at = self.offset;
        let mut done = 0;
        while done < out.len() {
            if self.avail() == 0 && self.fill()? == 0 {
                return Err(self.truncated(at, what, out.len() as u64));
            }
            let k = (out.len() - done).min(self.avail());
            out[done..done + k].copy_from_slice(&self.buf[self.start..self.start + k]);
            self.start += k;
            self.offset += k as u64;
            done += k;
        }
        Ok(())
    }

    /// Discards `n` bytes through the read buffer.
    pub(super) fn skip(&mut self, n: u64, what: &str) -> Result<(), MigrationError> {
        let at = self.offset;
        let mut left = n;
        while left > 0 {
            if self.avail() == 0 && self.fill()? == 0 {
                return Err(self.truncated(at, what, n));
            }
            let k = left.min(self.avail() as u64) as usize;
            self.start += k;
            self.offset += k as u64;
            left -= k as u64;
        }
        Ok(())
    }

    pub(super) fn u8(&mut self, what: &str) -> Result<u8, MigrationError> {
        let mut b = [0; 1];
        self.read_into(&mut b, what)?;
        Ok(b[0])
    }

    pub(super) fn be16(&mut self, what: &str) -> Result<u16, MigrationError> {
        let mut b = [0; 2];
        self.read_into(&mut b, what)?;
        Ok(u16::from_be_bytes(b))
    }

    pub(super) fn be32(&mut self, what: &str) -> Result<u32, MigrationError> {
        let mut b = [0; 4];
        self.read_into(&mut b, what)?;
        Ok(u32::from_be_bytes(b))
    }

    pub(super) fn be64(&mut self, what: &str) -> Result<u64, MigrationError> {
        let mut b = [0; 8];
        self.read_into(&mut b, what)?;
        Ok(u64::from_be_bytes(b))
    }

    /// A `u8 len` + bytes string (idstr); at most 255 bytes by construction. Written
    /// as [`printable`] makes it.
    pub(super) fn short_string(&mut self, what: &str) -> Result<String, MigrationError> {
        Ok(self.short_name(what)?.0)
    }

    /// [`Input::short_string`], and whether it reads unchanged (no byte needed an escape).
    pub(super) fn short_name(&mut self, what: &str) -> Result<(String, bool), MigrationError> {
        let len = self.u8(what)?;
        let mut b = [0u8; 255];
        let b = &mut b[..usize::from(len)];
        self.read_into(b, what)?;
        Ok((printable(b), b.iter().all(|c| is_printable(*c))))
    }
}

/// True for the bytes an idstr shows as they are: printable ASCII but `\` and `"`.
const fn is_printable(c: u8) -> bool {
    matches!(c, 0x20..=0x7e) && c != b'\\' && c != b'"'
}

/// The bytes of a name read from the stream, for keeping and for showing between
/// quotes in an error: printable ASCII as it is, every other byte (and `\` and `"`)
/// as `\xNN`. QEMU's idstrs and RAM block names are printable ASCII (qdev paths,
/// `pc.ram`, `rom@etc/acpi/tables`), so they read unchanged; bytes misread as a name (the
/// NULs of a length field) show as what they are, and never reach a terminal raw.
pub(super) fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &c in bytes {
        if is_printable(c) {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("\\x{c:02x}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The walk.
