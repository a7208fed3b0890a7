//! gzip-compressed inputs, read as the bytes they hold: a dump attached to a bug as
//! `dmesg.txt.gz` or piped through `journalctl | gzip`, a migration stream saved
//! compressed, and the QEMU stream of a libvirt save image written with
//! `save_image_format = "gzip"` (libvirt pipes QEMU's stream through `gzip -c`,
//! `src/qemu/qemu_saveimage.c`).
//!
//! The format is RFC 1952: members of a deflate stream (RFC 1951), each behind a
//! 10-byte header that starts `1f 8b 08` (magic, then CM = 8, deflate, the only method
//! defined). Several members one after another are one file (`cat a.gz b.gz`, and what
//! `gzip` itself writes when appending), so every member is read.
//!
//! Decompressing is streaming, so memory stays what the format inside needs; the bytes
//! it yields are capped at [`INFLATED_LIMIT`], so a small file that inflates without end
//! (a deflate "bomb") is refused by name rather than read for hours.

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

/// The first bytes of every gzip member: ID1, ID2, and CM = 8 (deflate).
pub const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// The most bytes a gzip input may inflate to: room for a migration stream of a guest
/// with many GiB of RAM, far past any dump or state file.
pub const INFLATED_LIMIT: u64 = 64 << 30;

/// True when `prefix` starts a gzip member.
#[must_use]
pub fn is_gzip(prefix: &[u8]) -> bool {
    prefix.starts_with(&GZIP_MAGIC)
}

/// The bytes `compressed` (a gzip file, every member) holds, read as they are needed,
/// and never more than `limit` of them: past it, the read fails naming the limit.
pub fn inflate<R: BufRead>(compressed: R, limit: u64) -> impl BufRead {
    BufReader::new(Capped {
        inner: MultiGzDecoder::new(compressed),
        left: limit,
        limit,
    })
}

/// A reader that yields at most `limit` bytes and fails on the next.
struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Only an input that holds more than the limit has a byte to read here.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the gzip data inflates to more than {} bytes, the most segstate reads \
                         of a compressed input",
                        self.limit
                    ),
                )),
            };
        }
        let room = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    use std::vec::Vec;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn inflated(bytes: &[u8], limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        inflate(bytes, limit).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn every_member_is_read() {
        let mut two = gz(b"first member\n");
        two.extend(gz(b"second member\n"));
        assert!(is_gzip(&two));
        assert_eq!(
            inflated(&two, INFLATED_LIMIT).unwrap(),
            b"first member\nsecond member\n"
        );
    }

    #[test]
    fn the_limit_is_the_most_read_and_one_more_byte_fails() {
        let data = gz(&[b'x'; 1000]);
        assert_eq!(inflated(&data, 1000).unwrap().len(), 1000);
        let e = inflated(&data, 999).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("more than 999 bytes"), "{e}");
    }

    #[test]
    fn a_cut_or_corrupt_member_is_an_error_not_a_short_read() {
        let data = gz(b"RAX=0000000000000000 RBX=0000000000000000\n");
        assert!(inflated(&data[..data.len() - 6], INFLATED_LIMIT).is_err());
        let mut bad = data.clone();
        bad[12] ^= 0xff;
        assert!(inflated(&bad, INFLATED_LIMIT).is_err());
        assert!(!is_gzip(b"\x1f\x8b\x07"), "CM 7 is not deflate");
    }
}
