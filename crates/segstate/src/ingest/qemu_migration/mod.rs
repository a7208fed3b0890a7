//! QEMU's migration stream: what `migrate "exec:cat > FILE"` writes, what `savevm`
//! stores, and what a libvirt saved image carries after libvirt's own header.
//!
//! [`walk`] reads the stream once, front to back, from any [`std::io::Read`], with memory
//! bounded independently of guest RAM: RAM page payloads are discarded through one fixed
//! read buffer, and only the `cpu` sections are kept (a few KiB each) until the vmstate
//! description at the end of the stream says how to decode them.
//!
//! The format, as QEMU writes it (`migration/savevm.c`, `migration/vmstate.c`,
//! `migration/ram.c`, `target/i386/machine.c`); every integer is big-endian:
//!
//! - header: `be32 QEMU_VM_FILE_MAGIC` (0x5145564d, `"QEVM"`), `be32` version 3
//!   (version 2, `QEMU_VM_FILE_VERSION_COMPAT`, is refused by QEMU itself);
//! - optional `QEMU_VM_CONFIGURATION` (0x07): vmstate `configuration`: `be32 len`, the
//!   machine type name, then its subsections (`configuration/target-page-bits`,
//!   `configuration/capabilities`, `configuration/uuid`);
//! - sections: `START` 0x01 and `FULL` 0x04 carry `be32 section_id, u8 len, idstr,
//!   be32 instance_id, be32 version_id`; `PART` 0x02 and `END` 0x03 carry only
//!   `be32 section_id`. Each is followed by its data and, unless the machine type
//!   predates QEMU 2.4, a footer `0x7e be32 section_id`. `COMMAND` 0x08 is
//!   `be16 cmd, be16 len, data`. `EOF` 0x00 ends the device state;
//! - `QEMU_VM_VMDESCRIPTION` 0x06 after `EOF`: `be32 len` and a JSON object
//!   `{"page_size": N, "devices": [{"name", "instance_id", "vmsd_name", "version",
//!   "fields": [{"name", "type", "size", "array_len"|"index", "struct"}],
//!   "subsections": [...]}]}` with one entry per `FULL` section in stream order. Each
//!   field's `size` is the number of bytes QEMU wrote for one element (measured, so it is
//!   exact); a compressible array is one entry with `array_len`. A subsection in the data
//!   is `0x05, u8 len, name, be32 version_id` then its fields;
//! - the `ram` section (version 4): a sequence of `be64` words whose bits below the
//!   target page size are `RAM_SAVE_FLAG_*`: `MEM_SIZE` 0x04 (total bytes; then
//!   `u8 len, idstr, be64 used_length` per RAM block until the total is reached), `ZERO`
//!   0x02 (one fill byte), `PAGE` 0x08 (one target page), `COMPRESS_PAGE` 0x100
//!   (`be32 len`, data), `XBZRLE` 0x40 (`u8 flags, be16 len`, data), `MULTIFD_FLUSH`
//!   0x200, `EOS` 0x10 (end of this section's RAM data). Page-carrying words without
//!   `CONTINUE` 0x20 name their block first (`u8 len, idstr`);
//! - `cpu` (target/i386/machine.c `vmstate_x86_cpu`): `env.segs[6]` (ES CS SS DS FS GS),
//!   `env.ldt`, `env.tr` are `vmstate_segment`: `be32 selector, target_ulong base,
//!   be32 limit, be32 flags`; `env.hflags & 3` is QEMU's CPL.
//!
//! Section data other than RAM carries no length, so a non-RAM section is delimited by
//! its footer: the walker reads up to `0x7e be32 section_id` followed by something that
//! parses as the next section header, `EOF` or end of input. Once the description has
//! been read, every `FULL` section's length is checked against the size its description
//! adds up to, and the `cpu` sections are decoded field by field from it.

use core::fmt;
use std::io::{self, Read};

use crate::arch::SegmentState;
use crate::arch::{PerSegReg, PrivilegeLevel, SegReg};
use crate::format::qemu::{QemuFlags, QemuSegmentCache};

/// `QEMU_VM_FILE_MAGIC`: `"QEVM"`.
pub const QEMU_VM_FILE_MAGIC: u32 = 0x5145_564d;
/// `QEMU_VM_FILE_VERSION`.
pub const QEMU_VM_FILE_VERSION: u32 = 3;
const QEMU_VM_FILE_VERSION_COMPAT: u32 = 2;

const QEMU_VM_EOF: u8 = 0x00;
const QEMU_VM_SECTION_START: u8 = 0x01;
const QEMU_VM_SECTION_PART: u8 = 0x02;
const QEMU_VM_SECTION_END: u8 = 0x03;
const QEMU_VM_SECTION_FULL: u8 = 0x04;
const QEMU_VM_SUBSECTION: u8 = 0x05;
const QEMU_VM_VMDESCRIPTION: u8 = 0x06;
const QEMU_VM_CONFIGURATION: u8 = 0x07;
const QEMU_VM_COMMAND: u8 = 0x08;
const QEMU_VM_SECTION_FOOTER: u8 = 0x7e;

/// `MIG_CMD_PACKAGED`: a postcopy package, a wrapped stream within the stream.
const MIG_CMD_PACKAGED: u16 = 7;

const RAM_SAVE_FLAG_FULL: u64 = 0x01;
const RAM_SAVE_FLAG_ZERO: u64 = 0x02;
const RAM_SAVE_FLAG_MEM_SIZE: u64 = 0x04;
const RAM_SAVE_FLAG_PAGE: u64 = 0x08;
const RAM_SAVE_FLAG_EOS: u64 = 0x10;
const RAM_SAVE_FLAG_CONTINUE: u64 = 0x20;
const RAM_SAVE_FLAG_XBZRLE: u64 = 0x40;
const RAM_SAVE_FLAG_HOOK: u64 = 0x80;
const RAM_SAVE_FLAG_COMPRESS_PAGE: u64 = 0x100;
const RAM_SAVE_FLAG_MULTIFD_FLUSH: u64 = 0x200;
/// `ENCODING_FLAG_XBZRLE`.
const ENCODING_FLAG_XBZRLE: u8 = 0x01;

/// x86 `TARGET_PAGE_BITS`; a `configuration/target-page-bits` subsection overrides it.
const DEFAULT_PAGE_BITS: u32 = 12;

/// `HF_CPL_MASK`.
const HF_CPL_MASK: u32 = 3;

/// The walker's fixed read buffer, in bytes: RAM payloads are discarded through it.
/// It counts in [`MigrationSummary::max_buffered`] whatever the stream's length, so
/// the bound on memory is `READ_BUFFER_BYTES` plus the kept `cpu` sections, which
/// are never longer than the stream.
pub const READ_BUFFER_BYTES: usize = 16 * 1024;
const READ_BUF: usize = READ_BUFFER_BYTES;
/// The longest look-ahead: a section header with a 255-byte idstr.
const PEEK_MAX: usize = 1 + 4 + 1 + 255 + 4 + 4;
/// Longest `cpu` section kept for decoding.
const MAX_KEPT_SECTION: u64 = 1 << 20;
/// Longest machine type name in the configuration section.
const MAX_MACHINE_NAME: u32 = 256;
/// Most sections listed in a summary.
const MAX_SECTIONS: usize = 1 << 20;
/// Most RAM blocks in a `MEM_SIZE` list.
const MAX_RAM_BLOCKS: usize = 4096;
/// Longest vmstate description.
const MAX_DESCRIPTION: u32 = 64 << 20;
/// Deepest JSON nesting in the description.
const MAX_JSON_DEPTH: usize = 48;
/// Longest JSON string in the description.
const MAX_JSON_STRING: usize = 4096;
/// Most JSON values in one device's description.
const MAX_JSON_NODES: usize = 1 << 18;

/// Where and why a stream could not be walked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationError {
    /// Byte offset in the stream of the item that is wrong or cut short.
    pub offset: u64,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {:#x}: {}", self.offset, self.message)
    }
}

impl std::error::Error for MigrationError {}

fn error(offset: u64, message: impl Into<String>) -> MigrationError {
    MigrationError {
        offset,
        message: message.into(),
    }
}

/// A section header's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `QEMU_VM_SECTION_START`: first part of an iterative (live) section such as `ram`.
    Start,
    /// `QEMU_VM_SECTION_PART`.
    Part,
    /// `QEMU_VM_SECTION_END`.
    End,
    /// `QEMU_VM_SECTION_FULL`: one device's whole state.
    Full,
}

/// One section of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// The handler's id string, e.g. `"ram"`, `"cpu"`, `"0000:00:01.0/PIIX3"`.
    pub idstr: String,
    /// The instance id (the CPU index for `cpu`).
    pub instance: u32,
    /// The handler's version id.
    pub version: u32,
    /// The stream's section id (PART/END sections name their START by it).
    pub section_id: u32,
    /// Byte offset of the section's type byte.
    pub offset: u64,
    /// The header type.
    pub kind: SectionKind,
    /// Bytes between the header and the footer.
    pub data_len: u64,
    /// True when the vmstate description was read and adds up to `data_len`
    /// (`FULL` sections only).
    pub described: bool,
}

/// One vCPU's `cpu` section, decoded with the stream's vmstate description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationCpu {
    /// The section's instance id: the CPU index.
    pub instance: u32,
    /// Byte offset of the section in the stream.
    pub offset: u64,
    /// `hflags & HF_CPL_MASK`: the CPL QEMU runs with.
    pub cpl: u8,
    /// `env.hflags`.
    pub hflags: u32,
    /// `env.segs[0..6]` (ES CS SS DS FS GS), `env.ldt`, `env.tr`, raw.
    pub segments: PerSegReg<QemuSegmentCache>,
    /// `env.cr[0]`.
    pub cr0: u64,
    /// `env.cr[3]`.
    pub cr3: u64,
    /// `env.cr[4]`.
    pub cr4: u64,
    /// `env.efer` (0 when the section has none, as on a CPU without long mode).
    pub efer: u64,
    /// `env.eip`.
    pub rip: u64,
    /// `env.eflags`.
    pub rflags: u64,
}

impl MigrationCpu {
    /// The segment state the check rules read.
    ///
    /// Decoding is lenient, as KVM's `set_seg` is and as
    /// [`crate::ingest::qemu_dump::QemuDump::segment_state`] is: residue bits of the flags
    /// are ignored, a selector keeps its low 16 bits, a segment is unusable when P is
    /// clear, and the CPL is `hflags & 3`.
    #[must_use]
    pub fn segment_state(&self) -> SegmentState {
        SegmentState {
            segments: self.segments.map(|_, q| q.lenient_segment()),
            cpl: PrivilegeLevel::from_low_bits(self.cpl),
            cr0: self.cr0,
            cr4: self.cr4,
            efer: self.efer,
            rflags: self.rflags,
        }
    }
}

/// What [`walk`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationSummary {
    /// The stream version (3).
    pub version: u32,
    /// The machine type from the configuration section, if the stream has one.
    pub machine: Option<String>,
    /// The target page size used to read RAM flags.
    pub page_size: u64,
    /// Every section, in stream order.
    pub sections: Vec<SectionInfo>,
    /// Guest RAM size: the total of the last `RAM_SAVE_FLAG_MEM_SIZE` block list.
    pub ram_total: u64,
    /// RAM payload bytes read and discarded (page data, zero-page fill bytes,
    /// compressed and XBZRLE data).
    pub ram_bytes_skipped: u64,
    /// The `cpu` sections, decoded; empty without a description.
    pub cpus: Vec<MigrationCpu>,
    /// True when the stream ends with a `QEMU_VM_VMDESCRIPTION`.
    pub has_description: bool,
    /// The most stream bytes held in memory at once: the fixed read buffer plus the
    /// kept `cpu` sections.
    pub max_buffered: usize,
    /// Total bytes read.
    pub stream_len: u64,
}

/// True if `prefix` (the first bytes of an input) starts a QEMU migration stream:
/// magic `QEVM` and version 3.
#[must_use]
pub fn looks_like_stream(prefix: &[u8]) -> bool {
    prefix.len() >= 8
        && prefix[..4] == QEMU_VM_FILE_MAGIC.to_be_bytes()
        && prefix[4..8] == QEMU_VM_FILE_VERSION.to_be_bytes()
}

/// The magic of a libvirt saved-VM image (`virsh save`, `managedsave`).
pub const LIBVIRT_SAVE_MAGIC: &[u8; 16] = b"LibvirtQemudSave";
/// The magic libvirt writes while a save is still in progress.
pub const LIBVIRT_SAVE_PARTIAL: &[u8; 16] = b"LibvirtQemudPart";
/// Size of libvirt's `virQEMUSaveHeader`: the magic and nineteen `uint32_t`.
pub const LIBVIRT_HEADER_SIZE: usize = 16 + 19 * 4;
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
    /// Compression of the QEMU stream: 0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop.
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
    /// first byte of the QEMU stream. A partial image, a compressed stream or a header
    /// of another version is an error naming the offset.
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
        if header.compressed != 0 {
            let name = match header.compressed {
                1 => "gzip",
                2 => "bzip2",
                3 => "xz",
                4 => "lzop",
                _ => "an unknown format",
            };
            return Err(err(
                28,
                alloc::format!(
                    "the QEMU stream in this libvirt image is compressed with {name} ({}): \
                     decompress the bytes after the header and the {} bytes of XML first",
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

/// Walks a migration stream, skipping RAM, and decodes its `cpu` sections.
///
/// Memory use does not depend on RAM size: see [`MigrationSummary::max_buffered`].
/// Nothing the input declares is allocated before it is checked against a limit.
///
/// # Errors
///
/// [`MigrationError`] naming the offset of the first item that is malformed,
/// unsupported, or cut short by the end of the input, or an I/O error of `reader`.
pub fn walk(reader: impl Read) -> Result<MigrationSummary, MigrationError> {
    Walker::new(reader).run()
}

// ---------------------------------------------------------------------------------------
// Input: one fixed buffer, byte offsets, bounded look-ahead.

struct Input<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    offset: u64,
}

impl<R: Read> Input<R> {
    fn new(inner: R) -> Self {
        Input {
            inner,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
        }
    }

    fn avail(&self) -> usize {
        self.end - self.start
    }

    /// Reads more into the buffer; returns the count read (0 at end of input).
    fn fill(&mut self) -> Result<usize, MigrationError> {
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
    fn peek(&mut self, n: usize) -> Result<&[u8], MigrationError> {
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

    fn peek_byte(&mut self) -> Result<Option<u8>, MigrationError> {
        Ok(self.peek(1)?.first().copied())
    }

    fn truncated(&self, at: u64, what: &str, need: u64) -> MigrationError {
        error(
            at,
            format!(
                "stream ends at offset {:#x} inside {what} ({need} bytes from {at:#x})",
                self.offset
            ),
        )
    }

    fn read_into(&mut self, out: &mut [u8], what: &str) -> Result<(), MigrationError> {
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
    fn skip(&mut self, n: u64, what: &str) -> Result<(), MigrationError> {
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

    fn u8(&mut self, what: &str) -> Result<u8, MigrationError> {
        let mut b = [0; 1];
        self.read_into(&mut b, what)?;
        Ok(b[0])
    }

    fn be16(&mut self, what: &str) -> Result<u16, MigrationError> {
        let mut b = [0; 2];
        self.read_into(&mut b, what)?;
        Ok(u16::from_be_bytes(b))
    }

    fn be32(&mut self, what: &str) -> Result<u32, MigrationError> {
        let mut b = [0; 4];
        self.read_into(&mut b, what)?;
        Ok(u32::from_be_bytes(b))
    }

    fn be64(&mut self, what: &str) -> Result<u64, MigrationError> {
        let mut b = [0; 8];
        self.read_into(&mut b, what)?;
        Ok(u64::from_be_bytes(b))
    }

    /// A `u8 len` + bytes string (idstr); at most 255 bytes by construction.
    fn short_string(&mut self, what: &str) -> Result<String, MigrationError> {
        let len = self.u8(what)?;
        let mut b = [0u8; 255];
        let b = &mut b[..usize::from(len)];
        self.read_into(b, what)?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }
}

// ---------------------------------------------------------------------------------------
// The walk.

/// A `START` section still open for `PART`/`END`.
struct Live {
    section_id: u32,
    idstr: String,
    instance: u32,
    version: u32,
}

/// A `FULL` section, to be checked against the description.
struct Full {
    section: usize,
    data: Option<Vec<u8>>,
}

struct Walker<R> {
    input: Input<R>,
    page_size: u64,
    machine: Option<String>,
    sections: Vec<SectionInfo>,
    live: Vec<Live>,
    full: Vec<Full>,
    ram_total: u64,
    ram_bytes_skipped: u64,
    kept: usize,
    max_buffered: usize,
    /// The RAM block of the last page, for `RAM_SAVE_FLAG_CONTINUE`.
    have_ram_block: bool,
}

impl<R: Read> Walker<R> {
    fn new(reader: R) -> Self {
        Walker {
            input: Input::new(reader),
            page_size: 1 << DEFAULT_PAGE_BITS,
            machine: None,
            sections: Vec::new(),
            live: Vec::new(),
            full: Vec::new(),
            ram_total: 0,
            ram_bytes_skipped: 0,
            kept: 0,
            max_buffered: READ_BUF,
            have_ram_block: false,
        }
    }

    fn run(mut self) -> Result<MigrationSummary, MigrationError> {
        let magic = self.input.be32("the file magic")?;
        if magic != QEMU_VM_FILE_MAGIC {
            return Err(error(
                0,
                format!(
                    "not a QEMU migration stream: magic {magic:#010x}, expected {QEMU_VM_FILE_MAGIC:#010x} (\"QEVM\")"
                ),
            ));
        }
        let version = self.input.be32("the stream version")?;
        if version == QEMU_VM_FILE_VERSION_COMPAT {
            return Err(error(
                4,
                "stream version 2 (QEMU_VM_FILE_VERSION_COMPAT) is obsolete; QEMU refuses it too",
            ));
        }
        if version != QEMU_VM_FILE_VERSION {
            return Err(error(
                4,
                format!("unsupported stream version {version}, expected {QEMU_VM_FILE_VERSION}"),
            ));
        }
        if self.input.peek_byte()? == Some(QEMU_VM_CONFIGURATION) {
            self.input.skip(1, "the configuration section")?;
            self.configuration()?;
        }
        loop {
            let at = self.input.offset;
            let Some(ty) = self.input.peek_byte()? else {
                return Err(error(
                    at,
                    "stream ends without QEMU_VM_EOF (truncated after a section)",
                ));
            };
            self.input.skip(1, "a section type")?;
            match ty {
                QEMU_VM_SECTION_START | QEMU_VM_SECTION_FULL => self.start_or_full(ty, at)?,
                QEMU_VM_SECTION_PART | QEMU_VM_SECTION_END => self.part_or_end(ty, at)?,
                QEMU_VM_COMMAND => self.command(at)?,
                QEMU_VM_EOF => break,
                other => {
                    return Err(error(
                        at,
                        format!("expected a section type (0x00-0x04, 0x08), found {other:#04x}"),
                    ));
                }
            }
        }
        let mut has_description = false;
        let mut cpus = Vec::new();
        if self.input.peek_byte()? == Some(QEMU_VM_VMDESCRIPTION) {
            let at = self.input.offset;
            self.input.skip(1, "the description type")?;
            let len = self.input.be32("the description length")?;
            if len > MAX_DESCRIPTION {
                return Err(error(
                    at + 1,
                    format!("description length {len} exceeds the limit of {MAX_DESCRIPTION}"),
                ));
            }
            cpus = self.description(u64::from(len))?;
            has_description = true;
        }
        Ok(MigrationSummary {
            version,
            machine: self.machine,
            page_size: self.page_size,
            sections: self.sections,
            ram_total: self.ram_total,
            ram_bytes_skipped: self.ram_bytes_skipped,
            cpus,
            has_description,
            max_buffered: self.max_buffered,
            stream_len: self.input.offset,
        })
    }

    /// `vmstate_configuration` (migration/savevm.c).
    fn configuration(&mut self) -> Result<(), MigrationError> {
        let at = self.input.offset;
        let len = self.input.be32("the machine type length")?;
        if len > MAX_MACHINE_NAME {
            return Err(error(
                at,
                format!("machine type length {len} exceeds the limit of {MAX_MACHINE_NAME}"),
            ));
        }
        let mut name = vec![0; len as usize];
        self.input.read_into(&mut name, "the machine type")?;
        self.machine = Some(String::from_utf8_lossy(&name).into_owned());
        while self.input.peek_byte()? == Some(QEMU_VM_SUBSECTION) {
            let at = self.input.offset;
            self.input.skip(1, "a subsection")?;
            let sub = self.input.short_string("a subsection name")?;
            let _version = self.input.be32("a subsection version")?;
            match sub.as_str() {
                "configuration/target-page-bits" => {
                    let bits = self.input.be32("target_page_bits")?;
                    if !(9..=20).contains(&bits) {
                        return Err(error(at, format!("target page bits {bits} outside 9..=20")));
                    }
                    self.page_size = 1 << bits;
                }
                "configuration/capabilities" => {
                    let count = self.input.be32("caps_count")?;
                    if count > 256 {
                        return Err(error(
                            at,
                            format!("{count} capabilities exceeds the limit of 256"),
                        ));
                    }
                    for _ in 0..count {
                        self.input.short_string("a capability name")?;
                    }
                }
                "configuration/uuid" => self.input.skip(16, "the VM UUID")?,
                other => {
                    return Err(error(
                        at,
                        format!("unknown configuration subsection {other:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn push_section(&mut self, info: SectionInfo) -> Result<usize, MigrationError> {
        if self.sections.len() >= MAX_SECTIONS {
            return Err(error(
                info.offset,
                format!("more than {MAX_SECTIONS} sections"),
            ));
        }
        self.sections.push(info);
        Ok(self.sections.len() - 1)
    }

    fn start_or_full(&mut self, ty: u8, at: u64) -> Result<(), MigrationError> {
        let section_id = self.input.be32("a section id")?;
        let idstr = self.input.short_string("a section idstr")?;
        let instance = self.input.be32("an instance id")?;
        let version = self.input.be32("a version id")?;
        let kind = if ty == QEMU_VM_SECTION_START {
            SectionKind::Start
        } else {
            SectionKind::Full
        };
        let index = self.push_section(SectionInfo {
            idstr: idstr.clone(),
            instance,
            version,
            section_id,
            offset: at,
            kind,
            data_len: 0,
            described: false,
        })?;
        if kind == SectionKind::Start {
            if self.live.iter().any(|l| l.section_id == section_id) {
                return Err(error(at, format!("section id {section_id} started twice")));
            }
            self.live.push(Live {
                section_id,
                idstr: idstr.clone(),
                instance,
                version,
            });
            let data_len = if idstr == "ram" {
                self.ram(section_id, version, at)?
            } else {
                self.read_to_footer(section_id, None)?
            };
            self.sections[index].data_len = data_len;
        } else {
            let mut keep = (idstr == "cpu").then(Vec::new);
            let data_len = self.read_to_footer(section_id, keep.as_mut())?;
            self.sections[index].data_len = data_len;
            self.full.push(Full {
                section: index,
                data: keep,
            });
        }
        Ok(())
    }

    fn part_or_end(&mut self, ty: u8, at: u64) -> Result<(), MigrationError> {
        let section_id = self.input.be32("a section id")?;
        let Some(live) = self.live.iter().find(|l| l.section_id == section_id) else {
            return Err(error(
                at,
                format!("section id {section_id} continues a section that never started"),
            ));
        };
        let (idstr, instance, version) = (live.idstr.clone(), live.instance, live.version);
        let kind = if ty == QEMU_VM_SECTION_PART {
            SectionKind::Part
        } else {
            SectionKind::End
        };
        let index = self.push_section(SectionInfo {
            idstr: idstr.clone(),
            instance,
            version,
            section_id,
            offset: at,
            kind,
            data_len: 0,
            described: false,
        })?;
        let data_len = if idstr == "ram" {
            self.ram(section_id, version, at)?
        } else {
            self.read_to_footer(section_id, None)?
        };
        self.sections[index].data_len = data_len;
        Ok(())
    }

    fn command(&mut self, at: u64) -> Result<(), MigrationError> {
        let cmd = self.input.be16("a command")?;
        let len = self.input.be16("a command length")?;
        if cmd == MIG_CMD_PACKAGED {
            return Err(error(
                at,
                "postcopy package (MIG_CMD_PACKAGED) is not supported",
            ));
        }
        self.input.skip(u64::from(len), "a command's data")
    }

    /// Reads an optional footer after a RAM section.
    fn ram_footer(&mut self, section_id: u32) -> Result<(), MigrationError> {
        if self.input.peek_byte()? == Some(QEMU_VM_SECTION_FOOTER) {
            let at = self.input.offset;
            self.input.skip(1, "a section footer")?;
            let id = self.input.be32("a section footer")?;
            if id != section_id {
                return Err(error(
                    at,
                    format!("footer names section {id}, expected {section_id}"),
                ));
            }
        }
        Ok(())
    }

    /// A `ram` section's data up to `RAM_SAVE_FLAG_EOS` (migration/ram.c
    /// `ram_load_precopy`), then its footer. Returns the data length.
    fn ram(&mut self, section_id: u32, version: u32, at: u64) -> Result<u64, MigrationError> {
        if version != 4 {
            return Err(error(
                at,
                format!("ram section version {version}, expected 4"),
            ));
        }
        let data_start = self.input.offset;
        let page_mask = self.page_size - 1;
        loop {
            let word_at = self.input.offset;
            let word = self.input.be64("a RAM page address")?;
            let flags = word & page_mask;
            let addr = word & !page_mask;
            let page_flags = RAM_SAVE_FLAG_ZERO
                | RAM_SAVE_FLAG_PAGE
                | RAM_SAVE_FLAG_COMPRESS_PAGE
                | RAM_SAVE_FLAG_XBZRLE;
            if flags & page_flags != 0 {
                if flags & RAM_SAVE_FLAG_CONTINUE == 0 {
                    self.input.short_string("a RAM block idstr")?;
                    self.have_ram_block = true;
                } else if !self.have_ram_block {
                    return Err(error(
                        word_at,
                        "RAM_SAVE_FLAG_CONTINUE before any RAM block was named",
                    ));
                }
            }
            match flags & !RAM_SAVE_FLAG_CONTINUE {
                RAM_SAVE_FLAG_MEM_SIZE => self.ram_blocks(addr, word_at)?,
                RAM_SAVE_FLAG_ZERO => {
                    self.input.skip(1, "a zero page's fill byte")?;
                    self.ram_bytes_skipped += 1;
                }
                RAM_SAVE_FLAG_PAGE => {
                    self.input.skip(self.page_size, "a RAM page")?;
                    self.ram_bytes_skipped += self.page_size;
                }
                RAM_SAVE_FLAG_COMPRESS_PAGE => {
                    let len = self.input.be32("a compressed page length")?;
                    // compressBound(TARGET_PAGE_SIZE) is a little over the page size.
                    if u64::from(len) > 2 * self.page_size + 64 {
                        return Err(error(
                            word_at,
                            format!("compressed page length {len} exceeds twice the page size"),
                        ));
                    }
                    self.input.skip(u64::from(len), "a compressed page")?;
                    self.ram_bytes_skipped += u64::from(len);
                }
                RAM_SAVE_FLAG_XBZRLE => {
                    let enc = self.input.u8("an XBZRLE header")?;
                    if enc != ENCODING_FLAG_XBZRLE {
                        return Err(error(
                            word_at,
                            format!("XBZRLE encoding flag {enc:#04x}, expected 0x01"),
                        ));
                    }
                    let len = self.input.be16("an XBZRLE length")?;
                    if u64::from(len) > self.page_size {
                        return Err(error(
                            word_at,
                            format!("XBZRLE length {len} exceeds the page size"),
                        ));
                    }
                    self.input.skip(u64::from(len), "XBZRLE data")?;
                    self.ram_bytes_skipped += u64::from(len);
                }
                RAM_SAVE_FLAG_EOS => break,
                RAM_SAVE_FLAG_MULTIFD_FLUSH => {}
                RAM_SAVE_FLAG_HOOK => {
                    return Err(error(
                        word_at,
                        "RAM_SAVE_FLAG_HOOK is RDMA-only and invalid in a stream",
                    ));
                }
                RAM_SAVE_FLAG_FULL => {
                    return Err(error(
                        word_at,
                        "RAM_SAVE_FLAG_FULL has been obsolete since 2009",
                    ));
                }
                other => {
                    return Err(error(
                        word_at,
                        format!("unknown RAM flags {other:#x} in word {word:#018x}"),
                    ));
                }
            }
        }
        let data_len = self.input.offset - data_start;
        self.ram_footer(section_id)?;
        Ok(data_len)
    }

    /// The RAM block list after `RAM_SAVE_FLAG_MEM_SIZE` (`parse_ramblocks`).
    fn ram_blocks(&mut self, total: u64, at: u64) -> Result<(), MigrationError> {
        let mut left = total;
        let mut blocks = 0;
        while left > 0 {
            if blocks == MAX_RAM_BLOCKS {
                return Err(error(at, format!("more than {MAX_RAM_BLOCKS} RAM blocks")));
            }
            let block_at = self.input.offset;
            let name = self.input.short_string("a RAM block idstr")?;
            let length = self.input.be64("a RAM block length")?;
            left = left.checked_sub(length).ok_or_else(|| {
                error(
                    block_at,
                    format!(
                        "RAM block {name:?} is {length:#x} bytes, more than the {left:#x} left of the total {total:#x} (postcopy or x-ignore-shared block fields are not supported)"
                    ),
                )
            })?;
            blocks += 1;
        }
        self.ram_total = total;
        Ok(())
    }

    /// Reads a non-RAM section's data up to its footer `0x7e be32 section_id`, keeping it
    /// in `keep` if given. Returns the data length.
    fn read_to_footer(
        &mut self,
        section_id: u32,
        mut keep: Option<&mut Vec<u8>>,
    ) -> Result<u64, MigrationError> {
        let start = self.input.offset;
        let footer = {
            let id = section_id.to_be_bytes();
            [QEMU_VM_SECTION_FOOTER, id[0], id[1], id[2], id[3]]
        };
        let mut window = [0u8; 5];
        let mut len: u64 = 0;
        loop {
            let b = match self.input.peek_byte()? {
                Some(b) => b,
                None => {
                    return Err(error(
                        start,
                        format!(
                            "stream ends at offset {:#x} before the footer of section {section_id} (0x7e {section_id:#010x})",
                            self.input.offset
                        ),
                    ));
                }
            };
            self.input.skip(1, "section data")?;
            len += 1;
            window.copy_within(1.., 0);
            window[4] = b;
            if let Some(buf) = keep.as_deref_mut() {
                if len > MAX_KEPT_SECTION {
                    return Err(error(
                        start,
                        format!("section longer than {MAX_KEPT_SECTION} bytes without a footer"),
                    ));
                }
                buf.push(b);
                self.kept += 1;
                self.max_buffered = self.max_buffered.max(READ_BUF + self.kept);
            }
            if len >= 5 && window == footer && self.next_is_plausible()? {
                if let Some(buf) = keep {
                    buf.truncate(buf.len() - 5);
                    buf.shrink_to_fit();
                    self.kept -= 5;
                }
                return Ok(len - 5);
            }
        }
    }

    /// After a candidate footer: does what follows parse as the next item?
    fn next_is_plausible(&mut self) -> Result<bool, MigrationError> {
        let live: Vec<u32> = self.live.iter().map(|l| l.section_id).collect();
        let ahead = self.input.peek(PEEK_MAX)?;
        let Some(&ty) = ahead.first() else {
            // End of input right after a footer: accept, the caller reports the missing EOF.
            return Ok(true);
        };
        let be32 = |at: usize| -> Option<u32> {
            ahead
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        Ok(match ty {
            QEMU_VM_SECTION_START | QEMU_VM_SECTION_FULL => {
                let Some(len) = ahead.get(5).map(|&l| usize::from(l)) else {
                    return Ok(false);
                };
                len > 0
                    && ahead
                        .get(6..6 + len)
                        .is_some_and(|s| s.iter().all(|c| (0x20..0x7f).contains(c)))
                    && ahead.len() >= 6 + len + 8
            }
            QEMU_VM_SECTION_PART | QEMU_VM_SECTION_END => {
                be32(1).is_some_and(|id| live.contains(&id))
            }
            QEMU_VM_EOF => matches!(ahead.get(1), None | Some(&QEMU_VM_VMDESCRIPTION)),
            QEMU_VM_COMMAND => ahead.len() >= 5,
            _ => false,
        })
    }

    /// Reads the JSON description (streamed, one device entry at a time), checks every
    /// `FULL` section's length against it and decodes the `cpu` sections.
    fn description(&mut self, len: u64) -> Result<Vec<MigrationCpu>, MigrationError> {
        let full = core::mem::take(&mut self.full);
        let sections = &mut self.sections;
        let mut cpus = Vec::new();
        let mut next = 0usize;
        let mut json = Json {
            input: &mut self.input,
            left: len,
            nodes: 0,
        };
        let mut process = |device: &Value, at: u64| -> Result<(), MigrationError> {
            let Some(f) = full.get(next) else {
                return Err(error(
                    at,
                    format!(
                        "description lists more devices than the stream's {} FULL sections",
                        full.len()
                    ),
                ));
            };
            next += 1;
            let info = &mut sections[f.section];
            let name = device.get("name").and_then(Value::as_str).unwrap_or("");
            let instance = device.get("instance_id").and_then(Value::as_u64);
            if name != info.idstr || instance != Some(u64::from(info.instance)) {
                return Err(error(
                    at,
                    format!(
                        "description entry {name:?} instance {instance:?} does not match section {:?} instance {} at offset {:#x}",
                        info.idstr, info.instance, info.offset
                    ),
                ));
            }
            let mut layout = Layout {
                data: f.data.as_deref(),
                limit: info.data_len,
                leaves: f.data.as_ref().map(|_| Vec::new()),
            };
            let mut pos = 0;
            layout.vmsd(device, &mut pos, "").map_err(|m| {
                error(
                    info.offset,
                    format!("section {:?} instance {}: {m}", info.idstr, info.instance),
                )
            })?;
            if pos != info.data_len {
                return Err(error(
                    info.offset,
                    format!(
                        "section {:?} instance {} has {} bytes of data but its description adds up to {pos}",
                        info.idstr, info.instance, info.data_len
                    ),
                ));
            }
            info.described = true;
            if let (Some(data), Some(leaves)) = (layout.data, &layout.leaves) {
                cpus.push(decode_cpu(info, data, leaves)?);
            }
            Ok(())
        };
        json.expect(b'{')?;
        if !json.eat(b'}')? {
            loop {
                let key = json.string()?;
                json.expect(b':')?;
                if key == "devices" {
                    json.expect(b'[')?;
                    if !json.eat(b']')? {
                        loop {
                            json.skip_ws()?;
                            let at = json.input.offset;
                            json.nodes = 0;
                            let device = json.value(0)?;
                            process(&device, at)?;
                            if json.eat(b',')? {
                                continue;
                            }
                            json.expect(b']')?;
                            break;
                        }
                    }
                } else {
                    json.nodes = 0;
                    json.value(0)?;
                }
                if json.eat(b',')? {
                    continue;
                }
                json.expect(b'}')?;
                break;
            }
        }
        json.skip_ws()?;
        if json.left > 0 {
            let at = json.input.offset;
            return Err(error(
                at,
                format!("{} bytes after the description's JSON object", json.left),
            ));
        }
        if next != full.len() {
            let at = self.input.offset;
            return Err(error(
                at,
                format!(
                    "description lists {next} devices but the stream has {} FULL sections",
                    full.len()
                ),
            ));
        }
        Ok(cpus)
    }
}

// ---------------------------------------------------------------------------------------
// The description: a small streaming JSON reader.

#[derive(Debug)]
enum Value {
    /// `null`, `true` or `false`.
    Other,
    /// An integer, or `None` for a number that is not one.
    Num(Option<i64>),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

impl Value {
    fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Num(Some(n)) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Arr(a) => Some(a),
            _ => None,
        }
    }
}

struct Json<'a, R> {
    input: &'a mut Input<R>,
    /// Bytes of the description not yet read.
    left: u64,
    /// Values parsed in the current device entry.
    nodes: usize,
}

impl<R: Read> Json<'_, R> {
    fn fail<T>(&self, message: impl Into<String>) -> Result<T, MigrationError> {
        Err(error(
            self.input.offset,
            format!("description: {}", message.into()),
        ))
    }

    fn next_byte(&mut self) -> Result<u8, MigrationError> {
        if self.left == 0 {
            return self
                .fail("the JSON ends before its declared length is used up or is cut short");
        }
        self.left -= 1;
        self.input.u8("the vmstate description")
    }

    fn peek(&mut self) -> Result<Option<u8>, MigrationError> {
        if self.left == 0 {
            return Ok(None);
        }
        match self.input.peek_byte()? {
            Some(b) => Ok(Some(b)),
            None => {
                let at = self.input.offset;
                Err(self
                    .input
                    .truncated(at, "the vmstate description", self.left))
            }
        }
    }

    fn skip_ws(&mut self) -> Result<(), MigrationError> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek()? {
            self.next_byte()?;
        }
        Ok(())
    }

    fn eat(&mut self, c: u8) -> Result<bool, MigrationError> {
        self.skip_ws()?;
        if self.peek()? == Some(c) {
            self.next_byte()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), MigrationError> {
        self.skip_ws()?;
        match self.peek()? {
            Some(b) if b == c => {
                self.next_byte()?;
                Ok(())
            }
            Some(b) => self.fail(format!(
                "expected '{}', found '{}'",
                char::from(c),
                b.escape_ascii()
            )),
            None => self.fail(format!("expected '{}', found the end", char::from(c))),
        }
    }

    fn string(&mut self) -> Result<String, MigrationError> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            if out.len() > MAX_JSON_STRING {
                return self.fail(format!("string longer than {MAX_JSON_STRING} bytes"));
            }
            match self.next_byte()? {
                b'"' => break,
                b'\\' => {
                    let c = match self.next_byte()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut v = 0u32;
                            for _ in 0..4 {
                                let d = self.next_byte()?;
                                let Some(d) = char::from(d).to_digit(16) else {
                                    return self.fail("bad \\u escape");
                                };
                                v = v << 4 | d;
                            }
                            char::from_u32(v).unwrap_or('\u{fffd}')
                        }
                        other => {
                            return self.fail(format!("bad escape '\\{}'", other.escape_ascii()));
                        }
                    };
                    let mut b = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
                b if b < 0x20 => return self.fail("control character in a string"),
                b => out.push(b),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, MigrationError> {
        for &c in word {
            if self.next_byte()? != c {
                return self.fail("bad literal");
            }
        }
        Ok(value)
    }

    fn value(&mut self, depth: usize) -> Result<Value, MigrationError> {
        self.nodes += 1;
        if self.nodes > MAX_JSON_NODES {
            return self.fail(format!("more than {MAX_JSON_NODES} values in one entry"));
        }
        if depth > MAX_JSON_DEPTH {
            return self.fail(format!("nested deeper than {MAX_JSON_DEPTH}"));
        }
        self.skip_ws()?;
        match self.peek()? {
            Some(b'{') => {
                self.next_byte()?;
                let mut members = Vec::new();
                if self.eat(b'}')? {
                    return Ok(Value::Obj(members));
                }
                loop {
                    let key = self.string()?;
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    members.push((key, v));
                    if self.eat(b',')? {
                        continue;
                    }
                    self.expect(b'}')?;
                    return Ok(Value::Obj(members));
                }
            }
            Some(b'[') => {
                self.next_byte()?;
                let mut items = Vec::new();
                if self.eat(b']')? {
                    return Ok(Value::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',')? {
                        continue;
                    }
                    self.expect(b']')?;
                    return Ok(Value::Arr(items));
                }
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Other),
            Some(b'f') => self.literal(b"false", Value::Other),
            Some(b'n') => self.literal(b"null", Value::Other),
            Some(b'-' | b'0'..=b'9') => {
                let mut text = [0u8; 32];
                let mut n = 0;
                while let Some(c @ (b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) =
                    self.peek()?
                {
                    if n == text.len() {
                        return self.fail("number longer than 32 characters");
                    }
                    text[n] = c;
                    n += 1;
                    self.next_byte()?;
                }
                let int = core::str::from_utf8(&text[..n])
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok());
                Ok(Value::Num(int))
            }
            Some(b) => self.fail(format!("unexpected '{}'", b.escape_ascii())),
            None => self.fail("unexpected end"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Laying a description over a section's data.

/// One scalar field of a decoded section: its path (`env.segs[1].base`), offset and size.
struct Leaf {
    path: String,
    offset: usize,
    size: usize,
}

struct Layout<'d> {
    /// The section data, when it was kept.
    data: Option<&'d [u8]>,
    /// The section's data length: nothing may lie beyond it.
    limit: u64,
    /// Scalars found, when decoding.
    leaves: Option<Vec<Leaf>>,
}

impl Layout<'_> {
    fn advance(&self, pos: &mut u64, by: u64) -> Result<(), String> {
        *pos = pos
            .checked_add(by)
            .filter(|&p| p <= self.limit)
            .ok_or_else(|| format!("description runs past the {} bytes of data", self.limit))?;
        Ok(())
    }

    /// A vmsd's `fields` then `subsections` (migration/vmstate.c `vmstate_save_state_v`,
    /// `vmstate_subsection_save`).
    fn vmsd(&mut self, obj: &Value, pos: &mut u64, prefix: &str) -> Result<(), String> {
        if let Some(fields) = obj.get("fields") {
            let fields = fields.as_array().ok_or("\"fields\" is not an array")?;
            for field in fields {
                self.field(field, pos, prefix)?;
            }
        }
        if let Some(subs) = obj.get("subsections") {
            let subs = subs.as_array().ok_or("\"subsections\" is not an array")?;
            for sub in subs {
                let name = sub
                    .get("vmsd_name")
                    .and_then(Value::as_str)
                    .ok_or("a subsection without \"vmsd_name\"")?;
                let at = *pos;
                self.advance(pos, 6 + name.len() as u64)?;
                if let Some(data) = self.data {
                    // `at` and `*pos` are within `limit`, the data's length.
                    let header = &data[at as usize..*pos as usize];
                    if header[0] != QEMU_VM_SUBSECTION
                        || usize::from(header[1]) != name.len()
                        || &header[2..2 + name.len()] != name.as_bytes()
                    {
                        return Err(format!(
                            "subsection {name:?} expected at data offset {at:#x}"
                        ));
                    }
                }
                self.vmsd(sub, pos, prefix)?;
            }
        }
        Ok(())
    }

    fn field(&mut self, field: &Value, pos: &mut u64, prefix: &str) -> Result<(), String> {
        let name = field
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a field without \"name\"")?;
        let size = field
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("field {name:?} without \"size\""))?;
        let array_len = match field.get("array_len") {
            Some(n) => Some(
                n.as_u64()
                    .ok_or_else(|| format!("field {name:?} has a bad \"array_len\""))?,
            ),
            None => None,
        };
        let count = array_len.unwrap_or(1);
        let index = field.get("index").and_then(Value::as_u64);
        let structure = field.get("struct");
        if self.leaves.is_none() {
            // Measuring only: one element's layout stands for all.
            if let Some(st) = structure {
                let mut p = *pos;
                self.vmsd(st, &mut p, "")?;
                if p - *pos != size {
                    return Err(format!(
                        "struct {name:?} adds up to {} bytes, its size says {size}",
                        p - *pos
                    ));
                }
            }
            let total = size
                .checked_mul(count)
                .ok_or_else(|| format!("field {name:?} size overflows"))?;
            return self.advance(pos, total);
        }
        if count > self.limit.max(1) {
            return Err(format!("field {name:?} has {count} elements"));
        }
        for i in 0..count {
            let path = match (array_len, index) {
                (Some(_), _) => format!("{prefix}{name}[{i}]"),
                (None, Some(ix)) => format!("{prefix}{name}[{ix}]"),
                (None, None) => format!("{prefix}{name}"),
            };
            let start = *pos;
            if let Some(st) = structure {
                let mut p = start;
                self.vmsd(st, &mut p, &format!("{path}."))?;
                if p - start != size {
                    return Err(format!(
                        "struct {path:?} adds up to {} bytes, its size says {size}",
                        p - start
                    ));
                }
            } else if let Some(leaves) = self.leaves.as_mut() {
                leaves.push(Leaf {
                    path,
                    offset: start as usize,
                    size: size as usize,
                });
            }
            self.advance(pos, size)?;
        }
        Ok(())
    }
}

/// Decodes one `cpu` section from its scalars.
fn decode_cpu(
    info: &SectionInfo,
    data: &[u8],
    leaves: &[Leaf],
) -> Result<MigrationCpu, MigrationError> {
    let get = |path: &str| -> Result<Option<u64>, MigrationError> {
        let Some(leaf) = leaves.iter().find(|l| l.path == path) else {
            return Ok(None);
        };
        if leaf.size == 0 || leaf.size > 8 {
            return Err(error(
                info.offset,
                format!("cpu field {path} is {} bytes, not an integer", leaf.size),
            ));
        }
        // Leaves lie within the data: Layout::advance checked every one against its length.
        let bytes = data
            .get(leaf.offset..leaf.offset + leaf.size)
            .ok_or_else(|| {
                error(
                    info.offset,
                    format!("cpu field {path} lies outside the section"),
                )
            })?;
        Ok(Some(bytes.iter().fold(0u64, |v, &b| v << 8 | u64::from(b))))
    };
    let need = |path: &str| -> Result<u64, MigrationError> {
        get(path)?.ok_or_else(|| {
            error(
                info.offset,
                format!("cpu section instance {} has no field {path}", info.instance),
            )
        })
    };
    let need32 = |path: &str| -> Result<u32, MigrationError> {
        let v = need(path)?;
        u32::try_from(v).map_err(|_| {
            error(
                info.offset,
                format!("cpu field {path} = {v:#x} does not fit 32 bits"),
            )
        })
    };
    let mut segments = PerSegReg([QemuSegmentCache::default(); 8]);
    for (i, &reg) in SegReg::ALL.iter().enumerate() {
        let base = match reg {
            SegReg::Ldtr => String::from("env.ldt"),
            SegReg::Tr => String::from("env.tr"),
            _ => format!("env.segs[{i}]"),
        };
        segments[reg] = QemuSegmentCache {
            selector: need32(&format!("{base}.selector"))?,
            base: need(&format!("{base}.base"))?,
            limit: need32(&format!("{base}.limit"))?,
            flags: QemuFlags(need32(&format!("{base}.flags"))?),
        };
    }
    let hflags = need32("env.hflags")?;
    Ok(MigrationCpu {
        instance: info.instance,
        offset: info.offset,
        cpl: (hflags & HF_CPL_MASK) as u8,
        hflags,
        segments,
        cr0: need("env.cr[0]")?,
        cr3: need("env.cr[3]")?,
        cr4: need("env.cr[4]")?,
        efer: get("env.efer")?.unwrap_or(0),
        rip: need("env.eip")?,
        rflags: need("env.eflags")?,
    })
}
