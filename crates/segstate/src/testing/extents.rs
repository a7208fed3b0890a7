//! A file of mostly zeros kept as its data extents (`tools/qemu-fixtures/extents.py`),
//! read back as the whole file: the QEMU mapped-ram fixture is a 23 MB stream with
//! about 200 KiB of data, committed as its extents.

use std::io::{self, Read};
use std::string::String;
use std::vec::Vec;

/// The extents file's magic.
const MAGIC: &[u8; 8] = b"SEGEXT01";

/// An extents file (`b"SEGEXT01"`, `be64` file length, then `be64 offset, be64
/// length, bytes` per extent, offsets increasing) read as the file it keeps: the
/// extents' bytes where they lie, zeros everywhere else, a buffer at a time.
#[derive(Clone, Debug)]
pub struct Extents<'a> {
    /// The extents not yet read past: file offset and bytes.
    extents: Vec<(u64, &'a [u8])>,
    /// How many of `extents` lie wholly before `pos`.
    passed: usize,
    /// The file's length.
    len: u64,
    /// The next byte to read.
    pos: u64,
}

impl<'a> Extents<'a> {
    /// Reads the extent list of `bytes`.
    ///
    /// # Errors
    ///
    /// Not an extents file, an extent that runs past the bytes or the file's length,
    /// or one that does not start after the one before it.
    pub fn new(bytes: &'a [u8]) -> Result<Self, String> {
        let word = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(String::from("not an extents file (no SEGEXT01)"));
        }
        let len = word(8).ok_or("no file length")?;
        let mut extents = Vec::new();
        let mut at = 16;
        let mut end = 0;
        while at < bytes.len() {
            let (Some(offset), Some(size)) = (word(at), word(at + 8)) else {
                return Err(std::format!("extent header at {at} cut short"));
            };
            let data = usize::try_from(size)
                .ok()
                .and_then(|n| bytes.get(at + 16..(at + 16).checked_add(n)?))
                .ok_or_else(|| std::format!("extent at {at} runs past the file"))?;
            if offset < end || offset.checked_add(size).is_none_or(|e| e > len) {
                return Err(std::format!(
                    "extent at {at} overlaps or lies outside the file"
                ));
            }
            end = offset + size;
            extents.push((offset, data));
            at += 16 + data.len();
        }
        Ok(Extents {
            extents,
            passed: 0,
            len,
            pos: 0,
        })
    }

    /// The length of the file kept.
    #[must_use]
    pub const fn file_len(&self) -> u64 {
        self.len
    }
}

impl Read for Extents<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(&(offset, data)) = self.extents.get(self.passed) {
            if self.pos < offset + data.len() as u64 {
                break;
            }
            self.passed += 1;
        }
        let left = self.len - self.pos;
        let n = match self.extents.get(self.passed) {
            // Inside an extent: its bytes.
            Some(&(offset, data)) if self.pos >= offset => {
                let from = &data[(self.pos - offset) as usize..];
                let n = from.len().min(buf.len());
                buf[..n].copy_from_slice(&from[..n]);
                n
            }
            // In a hole: zeros up to the next extent or the end.
            next => {
                let hole = next.map_or(left, |&(offset, _)| offset - self.pos);
                let n = usize::try_from(hole).unwrap_or(usize::MAX).min(buf.len());
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(len: u64, extents: &[(u64, &[u8])]) -> Vec<u8> {
        let mut f = MAGIC.to_vec();
        f.extend(len.to_be_bytes());
        for (offset, data) in extents {
            f.extend(offset.to_be_bytes());
            f.extend((data.len() as u64).to_be_bytes());
            f.extend_from_slice(data);
        }
        f
    }

    #[test]
    fn extents_read_back_as_the_whole_file() {
        let f = file(10, &[(2, b"ab"), (5, b"c")]);
        let mut out = Vec::new();
        Extents::new(&f).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"\0\0ab\0c\0\0\0\0");
        assert_eq!(Extents::new(&file(3, &[])).unwrap().file_len(), 3);
    }

    #[test]
    fn a_damaged_extents_file_is_refused() {
        assert!(Extents::new(b"SEGEXT02").is_err());
        assert!(
            Extents::new(&file(4, &[(2, b"abc")])).is_err(),
            "past the end"
        );
        assert!(
            Extents::new(&file(9, &[(4, b"a"), (2, b"b")])).is_err(),
            "backwards"
        );
        let mut cut = file(9, &[(4, b"abc")]);
        cut.truncate(cut.len() - 1);
        assert!(Extents::new(&cut).is_err(), "cut");
    }
}
