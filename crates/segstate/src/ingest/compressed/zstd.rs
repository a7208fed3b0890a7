//! Every frame of a zstd file, as one stream of bytes (RFC 8878 §3.1: a file is frames
//! one after another). ruzstd's own streaming reader decodes a single frame; this one
//! starts the next where one ends, skips skippable frames (pzstd writes one first, with
//! the sizes of what follows), and checks each frame's content checksum when it has one
//! (`zstd` writes one by default), so a corrupt file is an error, not wrong bytes.

use std::format;
use std::io::{self, BufRead, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use super::WINDOW_LIMIT;

/// The frames of `source`, decoded.
pub(super) struct Frames<R> {
    source: R,
    decoder: FrameDecoder,
    /// A frame's header is read and its last bytes not yet handed out.
    in_frame: bool,
    /// Frames started, for errors.
    frames: u64,
}

impl<R: BufRead> Frames<R> {
    pub(super) fn new(source: R) -> Self {
        let mut decoder = FrameDecoder::new();
        decoder.set_max_window_size(WINDOW_LIMIT);
        Frames {
            source,
            decoder,
            in_frame: false,
            frames: 0,
        }
    }

    /// Starts the next frame, skipping skippable ones; false at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            self.frames += 1;
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(length.into()), &mut io::sink())?;
                    if skipped < u64::from(length) {
                        return Err(self.invalid(format!(
                            "the input ends inside a skippable frame of {length} bytes"
                        )));
                    }
                }
                Err(e) => return Err(self.invalid(e)),
            }
        }
    }

    /// An error in the frame being read.
    fn invalid(&self, e: impl core::fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("zstd frame {}: {e}", self.frames),
        )
    }
}

impl<R: BufRead> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if !self.decoder.is_finished() {
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(|e| self.invalid(e))?;
                continue;
            }
            // Every byte of the frame is handed out: its checksum covers them all.
            if let (Some(stored), Some(computed)) = (
                self.decoder.get_checksum_from_data(),
                self.decoder.get_calculated_checksum(),
            ) && stored != computed
            {
                return Err(self.invalid(format!(
                    "content checksum {stored:#010x} stored, {computed:#010x} computed"
                )));
            }
            self.in_frame = false;
        }
    }
}
