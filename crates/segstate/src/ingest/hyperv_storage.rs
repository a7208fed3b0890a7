//! The HyperVStorage container of Hyper-V's `.vmrs`/`.vsv` files, read just far enough
//! to find the partition state blob ([`super::hyperv`] reads that).
//!
//! Layout, read at microsoft/openvmm `1488a37b7cfe` (`support/hvs_file/FORMAT.md`,
//! `src/defs.rs`, `src/reader.rs`), all little-endian and packed:
//!
//! - two copies of the 46-byte file header at 0 and 4096 (signature `0x01282014`,
//!   CRC-32 with the checksum field zeroed, a sequence number: the valid copy with the
//!   higher sequence wins; `FormatVersion` `(major << 8) | minor`);
//! - object tables from offset 8192 (signature `0x01110001`, entry count, 18-byte
//!   entries `{u8 type, u32 checksum, u64 offset, u32 size, u8 flags}`; the last entry
//!   chains to the next table);
//! - key tables (10-byte header, signature 2 and the table index, then entries: a
//!   21-byte header `{u8 type, u8 flags, u32 size, u16 parent table, u32 parent offset,
//!   u32 checksum, u32 insertion sequence, u8 name length}`, the NUL-terminated UTF-8
//!   name, the data); `Node` entries are the directories of the key paths, an `Array`
//!   value is `u32 length` + bytes inline, or with flag `PointsToFileObject` a `{u32
//!   size, u64 offset}` pointer to a file object of raw bytes.
//!
//! The blob is the `Array` at `/savedstate/savedVM/partition_state` (`/savedVM/
//! partition_state` in saved states of VM version 5.0 and earlier). The reader seeks:
//! guest RAM (the `RamBlock` file objects) is never read. Only format version 4.0 is
//! read, the one openvmm's reader and writer know; the others are refused by version.

use std::format;
use std::io::{Read, Seek, SeekFrom};
use std::string::{String, ToString};
use std::vec::Vec;

use super::foreign::{IngestError, Place, Reason};
use crate::format::{le_u16, le_u32, le_u64};

/// The format name errors carry.
pub const FORMAT: &str = "HyperVStorage file";
/// `HEADER_SIGNATURE`.
pub(crate) const HEADER_SIGNATURE: u32 = 0x0128_2014;
/// `OBJECT_TABLE_SIGNATURE`.
pub(crate) const OBJECT_TABLE_SIGNATURE: u32 = 0x0111_0001;
/// `KEY_TABLE_SIGNATURE`.
pub(crate) const KEY_TABLE_SIGNATURE: u16 = 0x0002;
/// `size_of::<FileHeader>()`.
pub const FILE_HEADER_SIZE: usize = 46;
/// The second header copy and the first object table.
pub(crate) const HEADER_COPY_1: u64 = 4096;
/// Where the first object table is.
pub(crate) const OBJECT_TABLE_OFFSET: u64 = 8192;
/// `FORMAT_VERSION_4_0`, the only version read.
pub const FORMAT_VERSION: u32 = 0x0400;
/// The keys of the partition state blob, current and for VM versions up to 5.0.
pub(crate) const PARTITION_STATE_KEYS: [&str; 2] = [
    "/savedstate/savedVM/partition_state",
    "/savedVM/partition_state",
];
/// The most object table entries followed, and the largest key table read: far above
/// a saved state's few hundred keys, far below what a hostile count could cost.
pub(crate) const MAX_OBJECTS: usize = 1 << 16;
/// The largest key table read (the default is 4096 bytes).
pub(crate) const MAX_KEY_TABLE: u32 = 1 << 20;

const OBJECT_KEY_TABLE: u8 = 2;
const OBJECT_TABLE: u8 = 1;
const KEY_ARRAY: u8 = 7;
const KEY_NODE: u8 = 9;
const FLAG_FILE_OBJECT: u8 = 0x01;
const KEY_TABLE_HEADER: usize = 10;
const ENTRY_HEADER: usize = 21;

/// CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320), bit by bit: it only covers
/// 46-byte headers.
#[must_use]
pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| {
        (0..8).fold(crc ^ u32::from(b), |c, _| {
            (c >> 1) ^ (0xEDB8_8320 & 0u32.wrapping_sub(c & 1))
        })
    })
}

/// The file with the offset of the next read, for errors.
struct Container<'a, R> {
    inner: R,
    file: &'a str,
}

impl<R: Read + Seek> Container<'_, R> {
    fn fail(&self, place: Place, reason: Reason) -> IngestError {
        IngestError::new(FORMAT, self.file, place, reason)
    }

    /// `n` bytes at `at`; the end of the file before them is a truncation.
    fn bytes_at(&mut self, at: u64, n: usize, what: &str) -> Result<Vec<u8>, IngestError> {
        let io = |e: std::io::Error| Reason::Io(e.to_string());
        self.inner
            .seek(SeekFrom::Start(at))
            .map_err(|e| self.fail(Place::Offset(offset(at)), io(e)))?;
        let mut out = Vec::new();
        (&mut self.inner)
            .take(n as u64)
            .read_to_end(&mut out)
            .map_err(|e| self.fail(Place::Offset(offset(at)), io(e)))?;
        if out.len() < n {
            return Err(self.fail(
                Place::Field(format!("{what} at offset {at} ({at:#x})")),
                Reason::Truncated {
                    needed: n,
                    found: out.len(),
                },
            ));
        }
        Ok(out)
    }
}

fn offset(at: u64) -> usize {
    usize::try_from(at).unwrap_or(usize::MAX)
}

/// One object table entry of interest: a key table's place and size.
struct KeyTable {
    at: u64,
    size: u32,
}

/// Reads the partition state blob out of a HyperVStorage file, at most `limit` bytes;
/// `file` names it in errors. Returns the blob and the key it was found under.
///
/// # Errors
///
/// [`IngestError`] naming the offset or the key and the reason: no valid header copy,
/// a format version other than 4.0, a bad object or key table, no partition state key,
/// a blob over `limit` or cut short.
pub fn partition_state<R: Read + Seek>(
    reader: R,
    file: &str,
    limit: u64,
) -> Result<(Vec<u8>, &'static str), IngestError> {
    let mut c = Container {
        inner: reader,
        file,
    };
    header(&mut c)?;
    let tables = key_tables(&mut c)?;
    let mut nodes: Vec<((u16, u32), String)> = std::vec![((0, 0), String::new())];
    for t in &tables {
        let data = c.bytes_at(t.at, t.size as usize, "a key table")?;
        if data.len() < KEY_TABLE_HEADER || le_u16(&data, 0) != KEY_TABLE_SIGNATURE {
            return Err(c.fail(
                Place::Offset(offset(t.at)),
                Reason::BadMagic {
                    found: data.get(..2).map_or(0, |b| le_u16(b, 0)).into(),
                    expected: KEY_TABLE_SIGNATURE.into(),
                },
            ));
        }
        let index = le_u16(&data, 2);
        let mut pos = KEY_TABLE_HEADER;
        while pos + ENTRY_HEADER <= data.len() {
            let e = &data[pos..];
            let (kind, flags, size) = (e[0], e[1], le_u32(e, 2) as usize);
            if size == 0 || size > e.len() {
                break; // the unused end of the table
            }
            let parent = (le_u16(e, 6), le_u32(e, 8));
            let name_len = usize::from(e[20]);
            let Some(name) = e.get(ENTRY_HEADER..ENTRY_HEADER + name_len) else {
                break;
            };
            let name = String::from_utf8_lossy(name.strip_suffix(&[0]).unwrap_or(name));
            let parent_path = nodes
                .iter()
                .find(|(k, _)| *k == parent)
                .map_or("", |(_, p)| p.as_str());
            let path = format!("{parent_path}/{name}");
            let value = &e[(ENTRY_HEADER + name_len).min(size)..size];
            if kind == KEY_NODE {
                if nodes.len() < MAX_OBJECTS {
                    nodes.push(((index, pos as u32), path));
                }
            } else if let Some(key) = PARTITION_STATE_KEYS.iter().find(|k| **k == path) {
                let at = t.at + (pos + ENTRY_HEADER + name_len) as u64;
                return array(&mut c, kind, flags, value, at, key, limit).map(|b| (b, *key));
            }
            pos += size;
        }
    }
    Err(c.fail(
        Place::File,
        Reason::Missing("the /savedstate/savedVM/partition_state key"),
    ))
}

/// The valid header copy with the higher sequence; its format version must be 4.0.
fn header<R: Read + Seek>(c: &mut Container<'_, R>) -> Result<(), IngestError> {
    let mut best: Option<(u16, u32, u64)> = None;
    let mut first_signature = None;
    for at in [0, HEADER_COPY_1] {
        let h = c.bytes_at(at, FILE_HEADER_SIZE, "a file header copy")?;
        let signature = le_u32(&h, 0);
        first_signature.get_or_insert(signature);
        let mut zeroed = h.clone();
        zeroed[4..8].fill(0);
        if signature == HEADER_SIGNATURE && crc32(&zeroed) == le_u32(&h, 4) {
            let (sequence, version) = (le_u16(&h, 8), le_u32(&h, 10));
            if best.is_none_or(|(s, _, _)| sequence > s) {
                best = Some((sequence, version, at));
            }
        }
    }
    let Some((_, version, at)) = best else {
        return Err(c.fail(
            Place::Offset(0),
            if first_signature == Some(HEADER_SIGNATURE) {
                Reason::Layout(String::from(
                    "neither file header copy (offsets 0 and 4096) has a valid CRC-32",
                ))
            } else {
                Reason::BadMagic {
                    found: first_signature.unwrap_or(0).into(),
                    expected: HEADER_SIGNATURE.into(),
                }
            },
        ));
    };
    if version != FORMAT_VERSION {
        return Err(c.fail(
            Place::Offset(offset(at + 10)),
            Reason::UnsupportedVersion {
                found: format!("HyperVStorage {}.{}", version >> 8, version & 0xff),
                supported: "HyperVStorage 4.0",
            },
        ));
    }
    Ok(())
}

/// Every key table the object tables list, following the chain.
fn key_tables<R: Read + Seek>(c: &mut Container<'_, R>) -> Result<Vec<KeyTable>, IngestError> {
    let mut out = Vec::new();
    let mut table = OBJECT_TABLE_OFFSET;
    let mut seen = 0usize;
    loop {
        let h = c.bytes_at(table, 8, "an object table header")?;
        if le_u32(&h, 0) != OBJECT_TABLE_SIGNATURE {
            return Err(c.fail(
                Place::Offset(offset(table)),
                Reason::BadMagic {
                    found: le_u32(&h, 0).into(),
                    expected: OBJECT_TABLE_SIGNATURE.into(),
                },
            ));
        }
        let count = le_u32(&h, 4) as usize;
        seen += count;
        if seen > MAX_OBJECTS {
            return Err(c.fail(
                Place::Offset(offset(table + 4)),
                Reason::TooLarge {
                    size: seen as u64,
                    limit: MAX_OBJECTS as u64,
                },
            ));
        }
        let entries = c.bytes_at(table + 8, count * 18, "an object table")?;
        let mut next = None;
        for (i, e) in entries.chunks_exact(18).enumerate() {
            let (kind, at, size) = (e[0], le_u64(e, 5), le_u32(e, 13));
            if i + 1 == count {
                next = (kind == OBJECT_TABLE).then_some(at);
            } else if kind == OBJECT_KEY_TABLE {
                if size > MAX_KEY_TABLE {
                    let field = table + 8 + 18 * i as u64 + 13;
                    return Err(c.fail(
                        Place::Offset(offset(field)),
                        Reason::TooLarge {
                            size: size.into(),
                            limit: MAX_KEY_TABLE.into(),
                        },
                    ));
                }
                out.push(KeyTable { at, size });
            }
        }
        match next {
            Some(at) if at > table => table = at,
            _ => return Ok(out),
        }
    }
}

/// The bytes of an `Array` value: inline, or the file object it points to.
fn array<R: Read + Seek>(
    c: &mut Container<'_, R>,
    kind: u8,
    flags: u8,
    value: &[u8],
    at: u64,
    key: &str,
    limit: u64,
) -> Result<Vec<u8>, IngestError> {
    let place = || Place::Field(format!("{key} (its value at offset {at} ({at:#x}))"));
    if kind != KEY_ARRAY {
        return Err(c.fail(
            place(),
            Reason::Layout(format!("key type {kind}, not an Array (7)")),
        ));
    }
    if value.len() < 12 && flags & FLAG_FILE_OBJECT != 0 || value.len() < 4 {
        return Err(c.fail(
            place(),
            Reason::Truncated {
                needed: if flags & FLAG_FILE_OBJECT != 0 { 12 } else { 4 },
                found: value.len(),
            },
        ));
    }
    let size = u64::from(le_u32(value, 0));
    if size > limit {
        return Err(c.fail(place(), Reason::TooLarge { size, limit }));
    }
    if flags & FLAG_FILE_OBJECT != 0 {
        let object = le_u64(value, 4);
        return c.bytes_at(object, size as usize, "the partition state file object");
    }
    value
        .get(4..4 + size as usize)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            c.fail(
                place(),
                Reason::Truncated {
                    needed: size as usize,
                    found: value.len() - 4,
                },
            )
        })
}

#[cfg(test)]
mod tests {
    use super::crc32;

    #[test]
    fn crc32_is_iso_hdlc() {
        // The check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
