//! The kdump-compressed containers of a QEMU guest memory dump: the raw layout
//! (`DiskDumpHeader`, `KdumpSubHeader` one block later, the notes at its `offset_note`)
//! and makedumpfile's flattened format, records of that layout in file order
//! (`dump/dump.c` `create_header64`, `write_start_flat_header`, `write_buffer`;
//! `include/sysemu/dump.h`).

use std::format;
use std::io::Read;
use std::string::String;
use std::vec::Vec;

use super::super::byte_stream::{ByteStream, usize_of};
use super::super::foreign::{IngestError, Reason};
use super::{Container, notes_within_limit};
use crate::format::{be_u64, le_u32, le_u64};

/// `KDUMP_SIGNATURE`.
pub(super) const KDUMP_SIGNATURE: [u8; 8] = *b"KDUMP   ";
/// `MAKEDUMPFILE_SIGNATURE`, NUL-padded to its 16 bytes.
pub(super) const MAKEDUMPFILE_SIGNATURE: [u8; 16] = *b"makedumpfile\0\0\0\0";
/// `MAX_SIZE_MDF_HEADER`: the flattened format's header block.
const FLAT_HEADER: u64 = 4096;

/// The bytes of a kdump-compressed file at offsets of its raw layout, asked for in
/// increasing order.
pub(super) trait KdumpBytes {
    /// `len` bytes at raw offset `at`, where `what` is.
    fn bytes_at(&mut self, at: u64, len: usize, what: &str) -> Result<Vec<u8>, IngestError>;
    /// An error at raw offset `at`.
    fn error(&self, at: u64, reason: Reason) -> IngestError;
}

/// The raw kdump layout: the file itself (its first 16 bytes already read).
pub(super) struct RawKdump<'s, 'a, R> {
    pub s: &'s mut ByteStream<'a, R>,
    pub head: [u8; 16],
}

impl<R: Read> KdumpBytes for RawKdump<'_, '_, R> {
    fn bytes_at(&mut self, at: u64, len: usize, what: &str) -> Result<Vec<u8>, IngestError> {
        let mut out = std::vec![0u8; len];
        let mut from = at;
        // The first 16 bytes were read to recognise the file.
        if at < 16 {
            let head = &self.head[usize_of(at)..];
            let n = head.len().min(len);
            out[..n].copy_from_slice(&head[..n]);
            from = 16;
            if n == len {
                return Ok(out);
            }
        }
        self.s.skip_to(from, what)?;
        let done = usize_of(from - at);
        self.s.read_exact(&mut out[done..], what)?;
        Ok(out)
    }

    fn error(&self, at: u64, reason: Reason) -> IngestError {
        self.s.error(at, reason)
    }
}

/// makedumpfile's flattened format: records of the raw layout, walked in file order.
pub(super) struct Flattened<'s, 'a, R> {
    s: &'s mut ByteStream<'a, R>,
    /// The record being read: its raw offset, and how many of its bytes are consumed
    /// and in all.
    record: Option<(u64, u64, u64)>,
}

impl<'s, 'a, R: Read> Flattened<'s, 'a, R> {
    /// After the signature: the header's type and version, then to the first record.
    pub fn open(s: &'s mut ByteStream<'a, R>) -> Result<Self, IngestError> {
        let mut tv = [0u8; 16];
        s.read_exact(&mut tv, "the makedumpfile header")?;
        let (kind, version) = (be_i64(&tv, 0), be_i64(&tv, 8));
        if kind != 1 || version != 1 {
            return Err(s.unsupported(
                16,
                format!("flattened header type {kind}, version {version}"),
                "type 1, version 1 (TYPE_FLAT_HEADER, VERSION_FLAT_HEADER)",
            ));
        }
        s.skip_to(FLAT_HEADER, "the first flattened record")?;
        Ok(Flattened { s, record: None })
    }

    /// The next record's header; `None` at the end flag.
    fn next_record(&mut self, what: &str) -> Result<Option<(u64, u64)>, IngestError> {
        let at = self.s.offset;
        let mut h = [0u8; 16];
        let got = self.s.fill(&mut h)?;
        if got < h.len() {
            return Err(self.s.truncated(
                &format!("a flattened record header, before {what} was found,"),
                at,
                h.len(),
                got,
            ));
        }
        let (offset, size) = (be_i64(&h, 0), be_i64(&h, 8));
        if offset == -1 {
            return Ok(None);
        }
        match (u64::try_from(offset), u64::try_from(size)) {
            (Ok(o), Ok(n)) => Ok(Some((o, n))),
            _ => Err(self.s.error(
                at,
                Reason::Layout(format!(
                    "flattened record with offset {offset} and size {size}: both must be \
                     non-negative"
                )),
            )),
        }
    }
}

impl<R: Read> KdumpBytes for Flattened<'_, '_, R> {
    fn bytes_at(&mut self, at: u64, len: usize, what: &str) -> Result<Vec<u8>, IngestError> {
        let mut out = std::vec![0u8; len];
        let end = at + len as u64;
        let mut filled = at;
        while filled < end {
            // The record being read, or the next one: (raw offset, bytes used, size).
            let (offset, used, size) = match self.record {
                Some(r) if r.1 < r.2 => r,
                _ => {
                    let Some((o, n)) = self.next_record(what)? else {
                        return Err(self.s.error(
                            self.s.offset,
                            Reason::Missing(
                                "a flattened record holding the kdump headers and notes",
                            ),
                        ));
                    };
                    (o, 0, n)
                }
            };
            let here = offset + used;
            let record_end = offset.saturating_add(size);
            if record_end <= filled {
                // Wholly before what is wanted (page data, the bitmaps).
                self.s.skip(size - used, "a flattened record's data")?;
                self.record = Some((offset, size, size));
                continue;
            }
            if here > filled {
                return Err(self.s.error(
                    self.s.offset,
                    Reason::Layout(format!(
                        "{what} (raw offset {filled}) is in no flattened record before the \
                         one at raw offset {here}"
                    )),
                ));
            }
            self.s.skip(filled - here, "a flattened record's data")?;
            let n = record_end.min(end) - filled;
            let dst = usize_of(filled - at);
            self.s.read_exact(&mut out[dst..dst + usize_of(n)], what)?;
            filled += n;
            self.record = Some((offset, filled - offset, size));
        }
        Ok(out)
    }

    fn error(&self, at: u64, reason: Reason) -> IngestError {
        self.s.error(at, reason)
    }
}

/// makedumpfile's fields are `int64_t`, big-endian.
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(be_u64(b, at).to_be_bytes())
}

/// `DiskDumpHeader64` and `DiskDumpHeader32` differ in `timestamp` (22 and 10 bytes):
/// where `block_size` is in each.
const BLOCK_SIZE_AT_64: usize = 428;
const BLOCK_SIZE_AT_32: usize = 416;
/// `sizeof(DiskDumpHeader64)`, the longer of the two.
const DISK_DUMP_HEADER_64: usize = 464;

/// The kdump headers and the notes they point at.
pub(super) fn kdump_notes(
    src: &mut impl KdumpBytes,
    flattened: bool,
) -> Result<(Container, u64, Vec<u8>), IngestError> {
    let h = src.bytes_at(0, DISK_DUMP_HEADER_64, "the kdump header (DiskDumpHeader)")?;
    if h[..8] != KDUMP_SIGNATURE {
        return Err(src.error(
            0,
            Reason::Layout(String::from(
                "the flattened data at raw offset 0 is not a kdump header (\"KDUMP   \")",
            )),
        ));
    }
    let version = le_u32(&h, 8);
    if version < 4 {
        return Err(src.error(
            8,
            Reason::UnsupportedVersion {
                found: format!("kdump header version {version}"),
                supported: "header versions 4 and later, which carry the notes",
            },
        ));
    }
    let sane = |b: u32| b.is_power_of_two() && (512..=1 << 20).contains(&b);
    let (header64, block_size) = match (le_u32(&h, BLOCK_SIZE_AT_64), le_u32(&h, BLOCK_SIZE_AT_32))
    {
        (b, _) if sane(b) => (true, b),
        (_, b) if sane(b) => (false, b),
        (b, _) => {
            return Err(src.error(
                BLOCK_SIZE_AT_64 as u64,
                Reason::Layout(format!(
                    "block_size {b}: neither the 64-bit nor the 32-bit kdump header has a \
                     power of two from 512 to 1 MiB there"
                )),
            ));
        }
    };
    let status = le_u32(&h, if header64 { 424 } else { 412 });
    let compression = match status & 0x27 {
        0x1 => "zlib",
        0x2 => "lzo",
        0x4 => "snappy",
        0x20 => "zstd",
        0 => "uncompressed",
        _ => "mixed compression flags",
    };
    let sub = src.bytes_at(
        u64::from(block_size),
        if header64 { 64 } else { 44 },
        "the kdump sub-header (KdumpSubHeader)",
    )?;
    let (offset, size) = if header64 {
        (le_u64(&sub, 48), le_u64(&sub, 56))
    } else {
        (le_u64(&sub, 32), u64::from(le_u32(&sub, 40)))
    };
    notes_within_limit(size).map_err(|r| src.error(offset, r))?;
    let notes = src.bytes_at(offset, usize_of(size), "the notes")?;
    Ok((
        Container::Kdump {
            flattened,
            header64,
            compression,
        },
        offset,
        notes,
    ))
}
