//! libvirt saved-VM images: `virQEMUSaveHeader` (v1/v2), the domain XML, then the
//! QEMU migration stream.

use super::*;
use crate::ingest::compressed::{self, Compression};

/// The magic of a libvirt saved-VM image (`virsh save`, `managedsave`).
pub(crate) const LIBVIRT_SAVE_MAGIC: &[u8; 16] = b"LibvirtQemudSave";
/// The magic libvirt writes while a save is still in progress.
pub(crate) const LIBVIRT_SAVE_PARTIAL: &[u8; 16] = b"LibvirtQemudPart";
/// Size of libvirt's `virQEMUSaveHeader`: the magic and nineteen `uint32_t`.
pub(crate) const LIBVIRT_HEADER_SIZE: usize = 16 + 19 * 4;
/// `QEMU_SAVE_FORMAT_RAW`: the QEMU stream as QEMU wrote it.
const LIBVIRT_FORMAT_RAW: u32 = 0;
/// `QEMU_SAVE_FORMAT_SPARSE` (libvirt src/qemu/qemu_saveimage_format.h, 11.2 and
/// later): QEMU wrote a mapped-ram stream into the file itself, after libvirt's header
/// (`qemuSaveImageCreate`), so its page offsets count from the file's start; the
/// walker reads it as it reads any mapped-ram stream.
const LIBVIRT_FORMAT_SPARSE: u32 = 6;
/// Whether segstate reads a stream in libvirt's `format`: raw and sparse always, and
/// the compressions of [`crate::ingest::compressed`] this build reads (libvirt pipes
/// QEMU's stream through `gzip -c`, `bzip2 -c`, `xz -c`, `lzop -c` or `zstd -c` when
/// qemu.conf's `save_image_format` names one).
fn is_read(format: u32) -> bool {
    matches!(format, LIBVIRT_FORMAT_RAW | LIBVIRT_FORMAT_SPARSE)
        || Compression::of_libvirt_format(format).is_some_and(Compression::is_read)
}
/// The largest domain XML (plus cookie) segstate skips before the stream.
const LIBVIRT_DATA_LIMIT: u32 = 64 << 20;

/// The header libvirt puts before the QEMU stream in a saved-VM image
/// (src/qemu/qemu_saveimage.h `virQEMUSaveHeader`): magic, version, the length of
/// the domain XML and cookie that follow, whether the domain was running, and the
/// compression of the stream. Integers are in the host's byte order; the version
/// (1 or 2) tells which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LibvirtSaveHeader {
    /// Format version, 1 or 2.
    pub version: u32,
    /// Bytes of domain XML (and, in version 2, cookie) between the header and the stream.
    pub data_len: u32,
    /// The domain was running when saved.
    pub was_running: bool,
    /// The format of the QEMU stream (libvirt's `virQEMUSaveFormat`, the header's
    /// `format`, once `compressed`): 0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop, 5 zstd,
    /// 6 sparse (a raw mapped-ram stream, libvirt 11.2 and later).
    pub compressed: u32,
}

impl LibvirtSaveHeader {
    /// True when `prefix` starts with either libvirt magic.
    #[must_use]
    pub fn looks_like(prefix: &[u8]) -> bool {
        prefix.len() >= 16
            && (prefix[..16] == LIBVIRT_SAVE_MAGIC[..] || prefix[..16] == LIBVIRT_SAVE_PARTIAL[..])
    }

    /// Reads the header and skips the domain XML after it, leaving `reader` at the
    /// first byte of the QEMU stream. A partial image, a stream compressed with what
    /// this build does not read (lzop; another compression without its feature) or a
    /// header of another version is an error naming the offset.
    pub fn skip(reader: &mut impl Read) -> Result<Self, MigrationError> {
        let mut h = [0u8; LIBVIRT_HEADER_SIZE];
        reader.read_exact(&mut h).map_err(|e| MigrationError {
            offset: 0,
            message: alloc::format!(
                "libvirt save header: {LIBVIRT_HEADER_SIZE} bytes expected: {e}"
            ),
        })?;
        let err = |offset: u64, message: String| MigrationError { offset, message };
        if h[..16] == LIBVIRT_SAVE_PARTIAL[..] {
            return Err(err(
                0,
                "libvirt save image is partial (LibvirtQemudPart): the save never finished".into(),
            ));
        }
        if h[..16] != LIBVIRT_SAVE_MAGIC[..] {
            return Err(err(
                0,
                "not a libvirt save image (no LibvirtQemudSave magic)".into(),
            ));
        }
        let word = |i: usize, little: bool| {
            let b = [h[16 + 4 * i], h[17 + 4 * i], h[18 + 4 * i], h[19 + 4 * i]];
            if little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        let little = match (word(0, true), word(0, false)) {
            (1 | 2, _) => true,
            (_, 1 | 2) => false,
            (v, _) => {
                return Err(err(
                    16,
                    alloc::format!("libvirt save header version {v}: segstate reads 1 and 2"),
                ));
            }
        };
        let header = LibvirtSaveHeader {
            version: word(0, little),
            data_len: word(1, little),
            was_running: word(2, little) != 0,
            compressed: if word(0, little) >= 2 {
                word(3, little)
            } else {
                0
            },
        };
        if !is_read(header.compressed) {
            let name = Compression::of_libvirt_format(header.compressed)
                .map_or("an unknown format", Compression::name);
            return Err(err(
                28,
                alloc::format!(
                    "the QEMU stream in this libvirt image is compressed with {name} ({}), \
                     which this build of segstate does not read: decompress the bytes after \
                     the header and the {} bytes of XML first",
                    header.compressed,
                    header.data_len
                ),
            ));
        }
        if header.data_len > LIBVIRT_DATA_LIMIT {
            return Err(err(
                20,
                alloc::format!(
                    "libvirt domain XML of {} bytes is over the 64 MiB limit",
                    header.data_len
                ),
            ));
        }
        let skipped = io::copy(
            &mut reader.by_ref().take(header.data_len.into()),
            &mut io::sink(),
        )
        .map_err(|e| {
            err(
                LIBVIRT_HEADER_SIZE as u64,
                alloc::format!("reading the domain XML: {e}"),
            )
        })?;
        if skipped < u64::from(header.data_len) {
            return Err(err(
                LIBVIRT_HEADER_SIZE as u64 + skipped,
                alloc::format!(
                    "the image ends inside its {} bytes of domain XML",
                    header.data_len
                ),
            ));
        }
        Ok(header)
    }
}

/// Reads every CPU of a libvirt saved-VM image: its header and domain XML are skipped,
/// then the QEMU stream (raw, sparse, or decompressed when compressed) is read as
/// [`crate::ingest::read_migration`] does.
///
/// # Errors
///
/// [`crate::ingest::InputError`] naming the offset in the header, or in the stream after it.
pub fn read_libvirt(
    reader: impl Read,
) -> Result<alloc::vec::Vec<crate::ingest::Input>, crate::ingest::InputError> {
    use crate::ingest::{InputError, read_migration};
    let err = |message: alloc::string::String| InputError(message);
    let mut reader = reader;
    let header = LibvirtSaveHeader::skip(&mut reader)
        .map_err(|e| err(alloc::format!("libvirt save image: {e}")))?;
    if let Some(c) = Compression::of_libvirt_format(header.compressed) {
        let stream = std::io::BufReader::new(reader);
        // `skip` let through only what this build reads.
        let stream = compressed::decompress(c, stream, compressed::DECOMPRESSED_LIMIT)
            .map_err(|e| err(alloc::format!("libvirt save image: {e}")))?;
        return read_migration(stream).map_err(|e| {
            err(alloc::format!(
                "after the libvirt header, in the {c}-compressed stream (offsets in the \
                 bytes it decompresses to): {}",
                e.0
            ))
        });
    }
    read_migration(reader).map_err(|e| err(alloc::format!("after the libvirt header: {}", e.0)))
}
