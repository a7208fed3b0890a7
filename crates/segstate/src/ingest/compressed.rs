//! Compressed inputs, read as the bytes they hold: a dump attached to a bug as
//! `dmesg.txt.gz` or `vbox.log.xz`, `journalctl | zstd`, a migration stream saved
//! compressed, and the QEMU stream of a libvirt save image written with
//! `save_image_format` set to "gzip", "bzip2", "xz" or "zstd" in qemu.conf (libvirt
//! pipes QEMU's stream through that program's `-c`, `src/qemu/qemu_saveimage.c`).
//!
//! A compression is known by its magic ([`Compression::detect`]), never by a file name,
//! so piped input reads as a file does. Four are read, each by a decoder written in
//! Rust, each behind a feature of its own (all on by default):
//!
//! | compression | magic | format | decoder | feature |
//! |---|---|---|---|---|
//! | gzip | `1f 8b 08` | RFC 1952, every member (`cat a.gz b.gz`) | flate2 (miniz_oxide) | `gzip` |
//! | zstd | `28 b5 2f fd`, or a skippable frame `5? 2a 4d 18` first (pzstd) | RFC 8878, every frame, skippable frames skipped, content checksums checked | ruzstd | `zstd` |
//! | xz | `fd 37 7a 58 5a 00` | XZ Utils' `.xz`, every stream, each block's check verified | lzma-rust2 | `xz` |
//! | bzip2 | `BZh` and a level `1`–`9`, then a block or end-of-stream magic | bzip2 1.0, every stream | bzip2 (libbz2-rs-sys) | `bzip2` |
//!
//! lzop and LZ4 frames are known too, so that they are named when refused.
//!
//! Decompressing is streaming, so memory stays what the format inside needs plus the
//! decoder's window, itself capped ([`WINDOW_LIMIT`]: xz's and zstd's largest presets
//! use 64 and 128 MiB); the bytes a decoder yields are capped at [`DECOMPRESSED_LIMIT`],
//! so a small file that decompresses without end (a "bomb") is refused by name rather
//! than read for hours.

use core::cell::Cell;
use std::boxed::Box;
use std::fmt;
use std::format;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

/// The most bytes a compressed input may decompress to: room for a migration stream of
/// a guest with many GiB of RAM, far past any dump or state file.
pub const DECOMPRESSED_LIMIT: u64 = 64 << 30;

/// The largest window (zstd) or dictionary (xz) a decoder may allocate: zstd's
/// `--long=27` and xz's `-9` presets fit; a file asking for more is refused by name
/// before it costs the memory.
pub const WINDOW_LIMIT: u64 = 128 << 20;

/// A compression an input may arrive in, known by its magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// gzip (RFC 1952).
    Gzip,
    /// Zstandard (RFC 8878).
    Zstd,
    /// xz (XZ Utils).
    Xz,
    /// bzip2.
    Bzip2,
    /// lzop: known by its magic, not read.
    Lzop,
    /// An LZ4 frame: known by its magic, not read.
    Lz4,
}

/// gzip's ID1, ID2 and CM = 8 (deflate, the only method defined).
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
/// A zstd frame's magic number, 0xFD2FB528 little-endian.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// The last three bytes of a zstd skippable frame's magic, 0x184D2A5? little-endian.
const ZSTD_SKIPPABLE: [u8; 3] = [0x2a, 0x4d, 0x18];
/// The xz stream header magic.
const XZ_MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0x00];
/// A bzip2 block's magic (the BCD digits of pi), after the 4-byte stream header.
const BZIP2_BLOCK: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
/// A bzip2 end-of-stream magic (the digits of the square root of pi): an empty stream.
const BZIP2_END: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
/// lzop's magic.
const LZOP_MAGIC: [u8; 9] = [0x89, b'L', b'Z', b'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a];
/// An LZ4 frame's magic number, 0x184D2204 little-endian.
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

impl Compression {
    /// The compression `prefix` starts with, if any. Each magic is checked as far as it
    /// goes: a bzip2 stream needs its block magic after the header, so that no text
    /// starting "BZh1" is taken for one.
    #[must_use]
    pub fn detect(prefix: &[u8]) -> Option<Self> {
        if prefix.starts_with(&GZIP_MAGIC) {
            Some(Compression::Gzip)
        } else if prefix.starts_with(&ZSTD_MAGIC)
            || (prefix.first().is_some_and(|&b| b & 0xf0 == 0x50)
                && prefix.get(1..4) == Some(&ZSTD_SKIPPABLE[..]))
        {
            Some(Compression::Zstd)
        } else if prefix.starts_with(&XZ_MAGIC) {
            Some(Compression::Xz)
        } else if prefix.starts_with(b"BZh")
            && prefix.get(3).is_some_and(|l| (b'1'..=b'9').contains(l))
            && matches!(prefix.get(4..10), Some(m) if m == BZIP2_BLOCK || m == BZIP2_END)
        {
            Some(Compression::Bzip2)
        } else if prefix.starts_with(&LZOP_MAGIC) {
            Some(Compression::Lzop)
        } else if prefix.starts_with(&LZ4_MAGIC) {
            Some(Compression::Lz4)
        } else {
            None
        }
    }

    /// The compression libvirt's `virQEMUSaveFormat` number names (the `compressed`
    /// word of a save image's header, `src/qemu/qemu_saveimage_format.h`): 1 gzip,
    /// 2 bzip2, 3 xz, 4 lzop, 5 zstd; `None` for raw (0), sparse (6) and unknown numbers.
    #[must_use]
    pub const fn of_libvirt_format(format: u32) -> Option<Self> {
        match format {
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Bzip2),
            3 => Some(Compression::Xz),
            4 => Some(Compression::Lzop),
            5 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Its name, as its program is called.
    #[must_use]
    pub const fn name(self) -> &'static str {
        self.words().0
    }

    /// What a file of it is called in an error: "gzip-compressed file".
    #[must_use]
    pub const fn file_kind(self) -> &'static str {
        self.words().1
    }

    /// The command that writes what a file of it holds to standard output.
    #[must_use]
    pub const fn decompress_command(self) -> &'static str {
        self.words().2
    }

    /// Its name, what a file of it is called, and the command that decompresses one:
    /// each name written once.
    const fn words(self) -> (&'static str, &'static str, &'static str) {
        macro_rules! words {
            ($($variant:ident: $name:literal, $command:literal;)*) => {
                match self {
                    $(Compression::$variant => ($name, concat!($name, "-compressed file"), $command),)*
                }
            };
        }
        words! {
            Gzip: "gzip", "gunzip -c";
            Zstd: "zstd", "zstd -dc";
            Xz: "xz", "xz -dc";
            Bzip2: "bzip2", "bzip2 -dc";
            Lzop: "lzop", "lzop -dc";
            Lz4: "lz4", "lz4 -dc";
        }
    }

    /// True when this build reads it (its feature is on).
    #[must_use]
    pub const fn is_read(self) -> bool {
        match self {
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Zstd => cfg!(feature = "zstd"),
            Compression::Xz => cfg!(feature = "xz"),
            Compression::Bzip2 => cfg!(feature = "bzip2"),
            Compression::Lzop | Compression::Lz4 => false,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A compression this build does not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotDecompressed(pub Compression);

impl fmt::Display for NotDecompressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        match c {
            Compression::Lzop | Compression::Lz4 => write!(
                f,
                "{c}-compressed: segstate reads gzip, zstd, xz and bzip2, not {c}"
            )?,
            _ => write!(
                f,
                "{c}-compressed: this build of segstate reads no {c} (its `{c}` feature is off)"
            )?,
        }
        write!(
            f,
            "; decompress it first (`{} FILE | segstate check -`)",
            c.decompress_command()
        )
    }
}

impl core::error::Error for NotDecompressed {}

/// The bytes `compressed` (every member, frame or stream of it) holds, read as they are
/// needed, and never more than `limit` of them: past it, the read fails naming the
/// limit. Corrupt or cut data is a read error, never a short read.
///
/// # Errors
///
/// [`NotDecompressed`] when this build does not read `compression`.
pub fn decompress<'r>(
    compression: Compression,
    compressed: impl BufRead + 'r,
    limit: u64,
) -> Result<Box<dyn BufRead + 'r>, NotDecompressed> {
    let ended = Rc::new(Cell::new(false));
    let compressed = Watched {
        inner: compressed,
        ended: Rc::clone(&ended),
    };
    let Some(decoder) = decoder(compression, compressed) else {
        return Err(NotDecompressed(compression));
    };
    Ok(Box::new(BufReader::new(Capped {
        inner: decoder,
        compression,
        ended,
        left: limit,
        limit,
    })))
}

/// The decoder of `compression` over `compressed`, if this build has one.
fn decoder<'r>(
    compression: Compression,
    compressed: impl BufRead + 'r,
) -> Option<Box<dyn Read + 'r>> {
    match compression {
        #[cfg(feature = "gzip")]
        Compression::Gzip => Some(Box::new(flate2::bufread::MultiGzDecoder::new(compressed))),
        #[cfg(feature = "zstd")]
        Compression::Zstd => Some(Box::new(zstd::Frames::new(compressed))),
        #[cfg(feature = "xz")]
        Compression::Xz => {
            let kib = u32::try_from(WINDOW_LIMIT >> 10).unwrap_or(u32::MAX);
            let reader = lzma_rust2::XzReader::new_mem_limit(compressed, true, kib);
            Some(Box::new(reader))
        }
        #[cfg(feature = "bzip2")]
        Compression::Bzip2 => Some(Box::new(bzip2::bufread::MultiBzDecoder::new(compressed))),
        _ => {
            drop(compressed);
            None
        }
    }
}

/// The compressed bytes, noting when they run out: a decoder's error after that is a
/// file cut short, not corrupt data.
struct Watched<R> {
    inner: R,
    ended: Rc<Cell<bool>>,
}

impl<R: BufRead> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended.set(true);
        }
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Watched<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let bytes = self.inner.fill_buf()?;
        if bytes.is_empty() {
            self.ended.set(true);
        }
        Ok(bytes)
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
    }
}

/// A decoder's output: at most `limit` bytes, failing on the next; its errors said in
/// words (a cut file, corrupt data) rather than in each decoder's own.
struct Capped<R> {
    inner: R,
    compression: Compression,
    /// The compressed bytes ran out ([`Watched`]).
    ended: Rc<Cell<bool>>,
    left: u64,
    limit: u64,
}

impl<R: Read> Capped<R> {
    /// `e`, from the decoder, said for what it means. An error of the input itself
    /// (permission, I/O) is passed on as it is.
    fn said(&self, e: io::Error) -> io::Error {
        let c = self.compression;
        match e.kind() {
            _ if self.ended.get() => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the {c} data ends before it is complete: the file is cut short"),
            ),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the {c} data is corrupt: {e}"),
                )
            }
            _ => e,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Only an input that holds more than the limit has a byte to read here.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe).map_err(|e| self.said(e))? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the {} data decompresses to more than {} bytes, the most segstate \
                         reads of a compressed input",
                        self.compression, self.limit
                    ),
                )),
            };
        }
        let room = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self
            .inner
            .read(&mut buf[..room])
            .map_err(|e| self.said(e))?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(feature = "zstd")]
mod zstd;

#[cfg(test)]
mod tests;
