//! Xen HVM save images: an `xl save` file, a bare libxl stream or a bare libxc
//! migration stream, read as a stream down to the `HVM_CONTEXT` record, every vCPU.
//!
//! Layouts, all read at xen-project/xen `c447b7308b13`:
//!
//! - **xl header** (`tools/xl/xl.h` `struct save_file_header`, written by
//!   `tools/xl/xl_saverestore.c` `save_domain_core_writeconfig`): the 32-byte magic
//!   [`XL_MAGIC`], `u32 byteorder` = [`XL_BYTEORDER`] in the domain's byte order,
//!   `u32 mandatory_flags` (bit 0 JSON config, bit 1 STREAMv2), `u32 optional_flags`,
//!   `u32 optional_data_len`, then that many bytes (`u32` config length and the config);
//! - **libxl stream** (`tools/libs/light/libxl_sr_stream_format.h`,
//!   `docs/specs/libxl-migration-stream.pandoc`): a big-endian header (ident
//!   [`LIBXL_IDENT`] "LibxlFmt", version 2, options), then records `{u32 type, u32
//!   length}` padded to 8 bytes; `LIBXC_CONTEXT` (1) has no body: the libxc stream
//!   follows it inline;
//! - **libxc stream** (`tools/libs/guest/xg_sr_stream_format.h`,
//!   `docs/specs/libxc-migration-stream.pandoc`): the image header (marker all ones, id
//!   "XENF", version, options; big-endian), the domain header (type, page shift, Xen
//!   version), then records `{u32 type, u32 length}` padded to 8 bytes, at most
//!   `REC_LENGTH_MAX` (128 MiB) each. Versions 2 and 3 are read, as
//!   `xg_sr_restore.c` `read_headers` accepts (`2 <= ver <= 3`); big-endian streams are
//!   refused, as there;
//! - **HVM context** (record `HVM_CONTEXT` = 9, `xen/include/public/hvm/save.h`): the
//!   blob of `XEN_DOMCTL_gethvmcontext`, a run of `struct hvm_save_descriptor {u16
//!   typecode, u16 instance, u32 length}` each followed by its payload, ending with the
//!   `END` descriptor. `HEADER` (1) comes first (magic `0x54381286`, version 1);
//!   `HVM_SAVE_CODE(CPU)` = 2 is a `struct hvm_hw_cpu` (1032 bytes, or the 1016-byte
//!   `hvm_hw_cpu_compat` an old image converted by the legacy tool holds) per vCPU,
//!   `instance` = vCPU id; `LAPIC` (5) holds each vCPU's `apic_base_msr`
//!   (`xen/include/public/arch-x86/hvm/save.h`).
//!
//! Page data is skipped by length as it passes, never held: memory is the largest
//! record header plus the HVM context ([`MAX_HVM_CONTEXT`]). Reading stops at the first
//! `HVM_CONTEXT`, unless a `CHECKPOINT` record follows it (a Remus/COLO stream): then
//! each checkpoint's context replaces the previous one and the last complete one is
//! read, as a restore after failover would use it.
//!
//! Each CPU record is loaded the way `hvm_load_cpu_ctxt` (`xen/arch/x86/hvm/hvm.c`)
//! loads it: `UNFOLD_ARBYTES` for old VMX-layout values ([`Profile::XEN_SAVE`]), then
//! `seg.attr = *_arbytes`, a u16 assignment. Xen's segment shape has no unusable bit
//! and no CPL field: P = 0 is unusable, and the CPL is `ss_arbytes`' DPL
//! ([`Stack::XenHvm`]).

use std::format;
use std::io::Read;
use std::string::{String, ToString};
use std::vec::Vec;

use super::foreign::{ForeignVcpu, IngestError, Place, Reason, Stack, raw};
use crate::arch::{PerSegReg, SegReg, Segment};
use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};
use crate::format::svm::SvmAttrib;
use crate::format::xen::{HvmHwCpuOffset, HvmHwCpuSegments, XenSegmentRegister};
use crate::profile::Profile;
use crate::snapshot::{MsrEntry, Regs};

/// The format name errors carry.
pub const FORMAT: &str = "Xen save image";
/// `savefileheader_magic` (`tools/xl/xl.h`).
pub const XL_MAGIC: [u8; 32] = *b"Xen saved domain, xl format\n \0 \r";
/// `SAVEFILE_BYTEORDER_VALUE`, in the byte order of the domain.
pub const XL_BYTEORDER: u32 = 0x0102_0304;
/// `XL_MANDATORY_FLAG_JSON`: the optional data holds the JSON config.
pub const XL_FLAG_JSON: u32 = 1 << 0;
/// `XL_MANDATORY_FLAG_STREAMv2`: a libxl v2 stream follows (Xen 4.6 and later).
pub const XL_FLAG_STREAM_V2: u32 = 1 << 1;
/// `RESTORE_STREAM_IDENT`, "LibxlFmt", big-endian.
pub const LIBXL_IDENT: u64 = 0x4c69_6278_6c46_6d74;
/// `RESTORE_STREAM_VERSION`.
pub const LIBXL_VERSION: u32 = 2;
/// `IHDR_MARKER`.
pub const IHDR_MARKER: u64 = u64::MAX;
/// `IHDR_ID`, "XENF", big-endian.
pub const IHDR_ID: u32 = 0x5845_4e46;
/// The libxc stream versions read (`read_headers`: `2 <= ver <= 3`).
pub const LIBXC_VERSIONS: [u32; 2] = [2, 3];
/// `DHDR_TYPE_X86_HVM`.
pub const DHDR_TYPE_X86_HVM: u32 = 2;
/// `REC_LENGTH_MAX`: the longest libxc record (128 MiB).
pub const REC_LENGTH_MAX: u32 = 128 << 20;
/// The longest `HVM_CONTEXT` read into memory: a few KiB per vCPU, so 16 MiB is
/// thousands of vCPUs.
pub const MAX_HVM_CONTEXT: u32 = 16 << 20;
/// `HVM_FILE_MAGIC`, the `HEADER` entry's magic.
pub const HVM_FILE_MAGIC: u32 = 0x5438_1286;
/// `HVM_FILE_VERSION`.
pub const HVM_FILE_VERSION: u32 = 1;

/// Record types of the libxl stream (`libxl_sr_stream_format.h`).
mod libxl_rec {
    pub const END: u32 = 0;
    pub const LIBXC_CONTEXT: u32 = 1;
}

/// Record types of the libxc stream (`xg_sr_stream_format.h`).
mod libxc_rec {
    pub const END: u32 = 0;
    pub const HVM_CONTEXT: u32 = 9;
    pub const CHECKPOINT: u32 = 0xe;
}

/// `HVM_SAVE_CODE(...)` typecodes (`public/hvm/save.h`, `arch-x86/hvm/save.h`).
mod hvm_code {
    pub const END: u16 = 0;
    pub const HEADER: u16 = 1;
    pub const CPU: u16 = 2;
    pub const LAPIC: u16 = 5;
}

/// How a Xen save image starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// `xl save`: the xl header, its config, then a libxl stream.
    Xl,
    /// A libxl stream without the xl header (what `libxl_domain_suspend` writes to its fd).
    Libxl,
    /// A bare libxc stream (`xc_domain_save`'s output).
    Libxc,
}

impl Container {
    fn name(self) -> &'static str {
        match self {
            Container::Xl => "xl save image",
            Container::Libxl => "libxl stream",
            Container::Libxc => "bare libxc stream",
        }
    }
}

/// Recognises a Xen save image by its first bytes: the xl magic, the libxl ident or the
/// libxc image header (marker and id).
#[must_use]
pub fn recognise(prefix: &[u8]) -> Option<Container> {
    if prefix.starts_with(&XL_MAGIC) {
        Some(Container::Xl)
    } else if prefix.starts_with(&LIBXL_IDENT.to_be_bytes()) {
        Some(Container::Libxl)
    } else if prefix.starts_with(&IHDR_MARKER.to_be_bytes())
        && prefix.get(8..12) == Some(&IHDR_ID.to_be_bytes()[..])
    {
        Some(Container::Libxc)
    } else {
        None
    }
}

/// Reads every vCPU of the Xen save image at `path`, streaming.
///
/// # Errors
///
/// As [`read`]; a file that cannot be opened.
pub fn read_path(path: &std::path::Path) -> Result<Vec<ForeignVcpu>, IngestError> {
    let label = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| IngestError::new(FORMAT, &label, Place::File, Reason::Io(e.to_string())))?;
    read(std::io::BufReader::new(file), &label)
}

/// Reads every vCPU of a Xen save image from `reader`, streaming: page data is skipped
/// as it passes. `file` names the input in errors.
///
/// # Errors
///
/// [`IngestError`] naming the offset and the reason: a bad magic or ident, a version
/// or byte order without a known layout, a truncated record, a length over its limit,
/// no `HVM_CONTEXT`, or a CPU record that does not decode.
pub fn read(reader: impl Read, file: &str) -> Result<Vec<ForeignVcpu>, IngestError> {
    let mut s = Stream {
        inner: reader,
        offset: 0,
        file,
    };
    let mut first = [0u8; 8];
    s.read_exact(&mut first, "the first 8 bytes")?;
    let container = if first == IHDR_MARKER.to_be_bytes() {
        Container::Libxc
    } else if first == LIBXL_IDENT.to_be_bytes() {
        Container::Libxl
    } else if first == XL_MAGIC[..8] {
        Container::Xl
    } else {
        return Err(s.error(
            0,
            Reason::BadMagic {
                found: u64::from_be_bytes(first),
                expected: u64::from_be_bytes(XL_MAGIC[..8].try_into().unwrap_or_default()),
            },
        ));
    };
    let mut described = String::from(container.name());
    match container {
        Container::Xl => {
            xl_header(&mut s, &first, &mut described)?;
            let mut ident = [0u8; 8];
            s.read_exact(&mut ident, "the libxl stream header")?;
            libxl_stream(&mut s, ident, &mut described)?;
        }
        Container::Libxl => libxl_stream(&mut s, first, &mut described)?,
        Container::Libxc => {}
    }
    let marker_at = s.offset - 8;
    libxc_stream(&mut s, marker_at, &described)
}

/// The input with the offset of the next byte, for errors.
struct Stream<'a, R> {
    inner: R,
    offset: u64,
    file: &'a str,
}

impl<R: Read> Stream<'_, R> {
    fn error(&self, at: u64, reason: Reason) -> IngestError {
        IngestError::new(FORMAT, self.file, Place::Offset(offset(at)), reason)
    }

    /// Fills `buf`; the end of the input before it is full is a truncation naming `what`.
    fn read_exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), IngestError> {
        let start = self.offset;
        let got = self.fill(buf)?;
        if got < buf.len() {
            return Err(IngestError::new(
                FORMAT,
                self.file,
                Place::Field(format!("{what} at offset {start} ({start:#x})")),
                Reason::Truncated {
                    needed: buf.len(),
                    found: got,
                },
            ));
        }
        Ok(())
    }

    /// Reads until `buf` is full or the input ends; returns how many bytes came.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, IngestError> {
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

    /// Skips `n` bytes without keeping them (page data, configs, other records).
    fn skip(&mut self, n: u64, what: &'static str) -> Result<(), IngestError> {
        let start = self.offset;
        let skipped = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
            .map_err(|e| self.error(start, Reason::Io(e.to_string())))?;
        self.offset += skipped;
        if skipped < n {
            return Err(IngestError::new(
                FORMAT,
                self.file,
                Place::Field(format!("{what} at offset {start} ({start:#x})")),
                Reason::Truncated {
                    needed: usize::try_from(n).unwrap_or(usize::MAX),
                    found: usize::try_from(skipped).unwrap_or(usize::MAX),
                },
            ));
        }
        Ok(())
    }

    /// A record header `{u32 type, u32 length}`, little-endian; `None` at a clean end.
    fn record_header(&mut self) -> Result<Option<(u64, u32, u32)>, IngestError> {
        let at = self.offset;
        let mut h = [0u8; 8];
        let got = self.fill(&mut h)?;
        if got == 0 {
            return Ok(None);
        }
        if got < h.len() {
            return Err(IngestError::new(
                FORMAT,
                self.file,
                Place::Field(format!("record header at offset {at} ({at:#x})")),
                Reason::Truncated {
                    needed: 8,
                    found: got,
                },
            ));
        }
        Ok(Some((at, le_u32(&h, 0), le_u32(&h, 4))))
    }
}

fn offset(at: u64) -> usize {
    usize::try_from(at).unwrap_or(usize::MAX)
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A record body of `length` bytes is followed by zeros up to an 8-byte boundary.
fn padding(length: u32) -> u64 {
    u64::from(length.wrapping_neg() & 7)
}

/// The xl header after its first 8 bytes; skips the optional data (the config).
fn xl_header<R: Read>(
    s: &mut Stream<'_, R>,
    first: &[u8; 8],
    described: &mut String,
) -> Result<(), IngestError> {
    let mut h = [0u8; 48];
    h[..8].copy_from_slice(first);
    s.read_exact(
        &mut h[8..],
        "the xl header (struct save_file_header, 48 bytes)",
    )?;
    if h[..32] != XL_MAGIC {
        return Err(s.error(
            0,
            Reason::BadMagic {
                found: u64::from_be_bytes(h[24..32].try_into().unwrap_or_default()),
                expected: u64::from_be_bytes(XL_MAGIC[24..32].try_into().unwrap_or_default()),
            },
        ));
    }
    let byteorder = le_u32(&h, 32);
    if byteorder != XL_BYTEORDER {
        return Err(s.error(
            32,
            Reason::UnsupportedVersion {
                found: format!("byteorder {byteorder:#010x}"),
                supported: "little-endian images (byteorder 0x01020304)",
            },
        ));
    }
    let mandatory = le_u32(&h, 36);
    if mandatory & !(XL_FLAG_JSON | XL_FLAG_STREAM_V2) != 0 {
        return Err(s.error(
            36,
            Reason::UnsupportedVersion {
                found: format!("mandatory_flags {mandatory:#x} (unknown bits, xl refuses them)"),
                supported: "mandatory_flags JSON (bit 0) and STREAMv2 (bit 1)",
            },
        ));
    }
    if mandatory & XL_FLAG_STREAM_V2 == 0 {
        return Err(s.error(
            36,
            Reason::UnsupportedVersion {
                found: format!("mandatory_flags {mandatory:#x}: a legacy (pre-4.6) stream"),
                supported: "xl images with the STREAMv2 flag (Xen 4.6 and later)",
            },
        ));
    }
    let optional = le_u32(&h, 40);
    if optional != 0 {
        return Err(s.error(
            40,
            Reason::UnsupportedVersion {
                found: format!("optional_flags {optional:#x}"),
                supported: "optional_flags 0 (xl defines none)",
            },
        ));
    }
    let optional_len = le_u32(&h, 44);
    s.skip(u64::from(optional_len), "the xl optional data (the config)")?;
    described.push_str(if mandatory & XL_FLAG_JSON != 0 {
        " (JSON config)"
    } else {
        " (no config)"
    });
    Ok(())
}

/// The libxl stream header (its ident already read) and records up to `LIBXC_CONTEXT`.
fn libxl_stream<R: Read>(
    s: &mut Stream<'_, R>,
    ident: [u8; 8],
    described: &mut String,
) -> Result<(), IngestError> {
    let at = s.offset - 8;
    if ident != LIBXL_IDENT.to_be_bytes() {
        return Err(s.error(
            at,
            Reason::BadMagic {
                found: u64::from_be_bytes(ident),
                expected: LIBXL_IDENT,
            },
        ));
    }
    let mut h = [0u8; 8];
    s.read_exact(&mut h, "the libxl stream header")?;
    let version = be_u32(&h, 0);
    if version != LIBXL_VERSION {
        return Err(s.error(
            at + 8,
            Reason::UnsupportedVersion {
                found: format!("libxl stream version {version}"),
                supported: "libxl stream version 2",
            },
        ));
    }
    let options = be_u32(&h, 4);
    if options & 1 != 0 {
        return Err(s.error(
            at + 12,
            Reason::UnsupportedVersion {
                found: String::from("a big-endian libxl stream"),
                supported: "little-endian streams (as libxl reads them)",
            },
        ));
    }
    described.push_str(", libxl stream v2");
    if options & 2 != 0 {
        described.push_str(" (converted from a legacy image)");
    }
    loop {
        let Some((rec_at, kind, length)) = s.record_header()? else {
            return Err(s.error(
                s.offset,
                Reason::Missing("the libxl LIBXC_CONTEXT record (the stream ends first)"),
            ));
        };
        match kind {
            libxl_rec::LIBXC_CONTEXT if length == 0 => {
                let marker_at = s.offset;
                let mut marker = [0u8; 8];
                s.read_exact(&mut marker, "the libxc image header")?;
                if marker != IHDR_MARKER.to_be_bytes() {
                    return Err(s.error(
                        marker_at,
                        Reason::BadMagic {
                            found: u64::from_be_bytes(marker),
                            expected: IHDR_MARKER,
                        },
                    ));
                }
                return Ok(());
            }
            libxl_rec::LIBXC_CONTEXT => {
                return Err(s.error(
                    rec_at + 4,
                    Reason::Layout(format!(
                        "LIBXC_CONTEXT has no body, but its length is {length}"
                    )),
                ));
            }
            libxl_rec::END => {
                return Err(s.error(
                    rec_at,
                    Reason::Missing(
                        "the libxl LIBXC_CONTEXT record (END comes first: no domain state)",
                    ),
                ));
            }
            _ => s.skip(u64::from(length) + padding(length), "a libxl record's body")?,
        }
    }
}

/// The libxc stream from its image header (the marker at `marker_at` already read)
/// to the `HVM_CONTEXT` record.
fn libxc_stream<R: Read>(
    s: &mut Stream<'_, R>,
    marker_at: u64,
    described: &str,
) -> Result<Vec<ForeignVcpu>, IngestError> {
    let mut ihdr = [0u8; 16];
    s.read_exact(&mut ihdr, "the libxc image header (struct xc_sr_ihdr)")?;
    // The marker was the 8 bytes before; check it when a libxl stream led here.
    let id = be_u32(&ihdr, 0);
    if id != IHDR_ID {
        return Err(s.error(
            marker_at + 8,
            Reason::BadMagic {
                found: id.into(),
                expected: IHDR_ID.into(),
            },
        ));
    }
    let version = be_u32(&ihdr, 4);
    if !LIBXC_VERSIONS.contains(&version) {
        return Err(s.error(
            marker_at + 12,
            Reason::UnsupportedVersion {
                found: format!("libxc stream version {version}"),
                supported: "libxc stream versions 2 and 3",
            },
        ));
    }
    let options = u16::from_be_bytes([ihdr[8], ihdr[9]]);
    if options & 1 != 0 {
        return Err(s.error(
            marker_at + 16,
            Reason::UnsupportedVersion {
                found: String::from("a big-endian libxc stream"),
                supported: "little-endian streams (as xc_domain_restore reads them)",
            },
        ));
    }
    let dhdr_at = s.offset;
    let mut dhdr = [0u8; 16];
    s.read_exact(&mut dhdr, "the libxc domain header (struct xc_sr_dhdr)")?;
    let guest = le_u32(&dhdr, 0);
    if guest != DHDR_TYPE_X86_HVM {
        return Err(s.error(
            dhdr_at,
            Reason::UnsupportedVersion {
                found: format!("domain type {guest}"),
                supported: "x86 HVM domains (type 2); a PV domain has no HVM context",
            },
        ));
    }
    let (major, minor) = (le_u32(&dhdr, 8), le_u32(&dhdr, 12));
    let from = if major == 0 {
        format!("converted by the legacy tool v{minor}")
    } else {
        format!("Xen {major}.{minor}")
    };
    let described = format!("{described}, libxc v{version} ({from})");
    // In a checkpointed (Remus/COLO) stream each checkpoint ends with a CHECKPOINT
    // record; the last complete checkpoint is the state a failover restores.
    let mut complete: Option<Vec<ForeignVcpu>> = None;
    let mut pending: Option<Vec<ForeignVcpu>> = None;
    let mut checkpointed = false;
    loop {
        let Some((at, kind, length)) = s.record_header()? else {
            return complete
                .filter(|_| checkpointed)
                .ok_or_else(|| s.error(s.offset, Reason::Missing("the HVM_CONTEXT record")));
        };
        if length > REC_LENGTH_MAX {
            return Err(s.error(
                at + 4,
                Reason::TooLarge {
                    size: length.into(),
                    limit: REC_LENGTH_MAX.into(),
                },
            ));
        }
        let body = u64::from(length) + padding(length);
        match kind {
            libxc_rec::HVM_CONTEXT => {
                if length > MAX_HVM_CONTEXT {
                    return Err(s.error(
                        at + 4,
                        Reason::TooLarge {
                            size: length.into(),
                            limit: MAX_HVM_CONTEXT.into(),
                        },
                    ));
                }
                let body_at = s.offset;
                let mut blob = std::vec![0u8; length as usize];
                s.read_exact(&mut blob, "the HVM_CONTEXT record")?;
                s.skip(padding(length), "the HVM_CONTEXT record's padding")?;
                let what = format!("{described}, HVM_CONTEXT at offset {at:#x}");
                let vcpus = hvm_context(&blob, body_at, &what, s.file)?;
                if !checkpointed {
                    // Unless a checkpoint follows, this is the domain's state.
                    match s.record_header()? {
                        Some((_, libxc_rec::CHECKPOINT, l)) => {
                            s.skip(u64::from(l) + padding(l), "the CHECKPOINT record")?;
                            checkpointed = true;
                            complete = Some(vcpus);
                        }
                        _ => return Ok(vcpus),
                    }
                } else {
                    pending = Some(vcpus);
                }
            }
            libxc_rec::CHECKPOINT => {
                checkpointed = true;
                if pending.is_some() {
                    complete = pending.take();
                }
                s.skip(body, "the CHECKPOINT record")?;
            }
            libxc_rec::END => {
                return pending.or(complete).ok_or_else(|| {
                    s.error(
                        at,
                        Reason::Missing("the HVM_CONTEXT record (END comes first)"),
                    )
                });
            }
            _ => s.skip(body, "a libxc record's body (page data or other)")?,
        }
    }
}

/// A CPU entry found in the HVM context.
struct CpuEntry<'a> {
    instance: u16,
    /// Offset of the payload in the file.
    at: u64,
    payload: &'a [u8],
}

/// The `hvm_save_descriptor` entries of an HVM context blob that starts at file offset
/// `base`: every CPU record decoded, with its vCPU's `apic_base_msr` from `LAPIC`.
fn hvm_context(
    blob: &[u8],
    base: u64,
    described: &str,
    file: &str,
) -> Result<Vec<ForeignVcpu>, IngestError> {
    let fail = |at: usize, reason: Reason| {
        IngestError::new(
            FORMAT,
            file,
            Place::Offset(offset(base + at as u64)),
            reason,
        )
    };
    let mut cpus = Vec::new();
    let mut apic_bases: Vec<(u16, u64)> = Vec::new();
    let mut o = 0usize;
    let mut seen_header = false;
    loop {
        let Some(d) = blob.get(o..o + 8) else {
            return Err(fail(
                o,
                Reason::Missing("the END descriptor of the HVM context (the record ends first)"),
            ));
        };
        let (code, instance, length) = (le_u16(d, 0), le_u16(d, 2), le_u32(d, 4) as usize);
        let start = o + 8;
        let Some(payload) = blob.get(start..start.saturating_add(length)) else {
            return Err(fail(
                o + 4,
                Reason::Truncated {
                    needed: length,
                    found: blob.len() - start,
                },
            ));
        };
        match code {
            hvm_code::END => break,
            hvm_code::HEADER => {
                if length < 8 {
                    return Err(fail(
                        o + 4,
                        Reason::WrongLength {
                            what: "struct hvm_save_header",
                            expected: 24,
                            found: length,
                        },
                    ));
                }
                let magic = le_u32(payload, 0);
                if magic != HVM_FILE_MAGIC {
                    return Err(fail(
                        start,
                        Reason::BadMagic {
                            found: magic.into(),
                            expected: HVM_FILE_MAGIC.into(),
                        },
                    ));
                }
                let version = le_u32(payload, 4);
                if version != HVM_FILE_VERSION {
                    return Err(fail(
                        start + 4,
                        Reason::UnsupportedVersion {
                            found: format!("HVM context version {version}"),
                            supported: "HVM context version 1",
                        },
                    ));
                }
                seen_header = true;
            }
            hvm_code::CPU => {
                if length != HvmHwCpuOffset::SIZE && length != HvmHwCpuOffset::COMPAT_SIZE {
                    return Err(fail(
                        o + 4,
                        Reason::WrongLength {
                            what: "struct hvm_hw_cpu (1032 bytes, or 1016 for hvm_hw_cpu_compat)",
                            expected: HvmHwCpuOffset::SIZE,
                            found: length,
                        },
                    ));
                }
                cpus.push(CpuEntry {
                    instance,
                    at: base + start as u64,
                    payload,
                });
            }
            hvm_code::LAPIC if length >= 8 => apic_bases.push((instance, le_u64(payload, 0))),
            _ => {}
        }
        o = start + length;
    }
    if !seen_header {
        return Err(fail(
            0,
            Reason::Missing("the HEADER entry (HVM_SAVE_CODE(HEADER) = 1)"),
        ));
    }
    if cpus.is_empty() {
        return Err(fail(
            0,
            Reason::Missing("every CPU entry (HVM_SAVE_CODE(CPU) = 2): the context has none"),
        ));
    }
    cpus.iter()
        .map(|c| {
            let apic = apic_bases
                .iter()
                .find(|(i, _)| *i == c.instance)
                .map(|&(_, b)| b);
            cpu(c, apic, described, file)
        })
        .collect()
}

/// The registers of `kvm_regs` in its order, from the record (rax, rbx, rcx, rdx, rbp,
/// rsi, rdi, rsp, r8 … r15 there).
fn regs(r: &[u8]) -> Regs {
    let gpr = |i: usize| le_u64(r, HvmHwCpuOffset::GPRS + 8 * i);
    Regs::from_array([
        gpr(0),
        gpr(1),
        gpr(2),
        gpr(3),
        gpr(5),
        gpr(6),
        gpr(7),
        gpr(4),
        gpr(8),
        gpr(9),
        gpr(10),
        gpr(11),
        gpr(12),
        gpr(13),
        gpr(14),
        gpr(15),
        le_u64(r, HvmHwCpuOffset::RIP),
        le_u64(r, HvmHwCpuOffset::RFLAGS),
    ])
}

/// The MSRs the record carries, by their architectural index.
fn msrs(r: &[u8], compat: bool) -> Vec<MsrEntry> {
    let at = |i: usize| le_u64(r, HvmHwCpuOffset::SYSENTER_CS + 8 * i);
    // sysenter_cs, _esp, _eip, shadow_gs, (msr_flags), lstar, star, cstar, syscall_mask.
    let mut out: Vec<MsrEntry> = [
        (0x174, 0),
        (0x175, 1),
        (0x176, 2),
        (0xc000_0102, 3),
        (0xc000_0082, 5),
        (0xc000_0081, 6),
        (0xc000_0083, 7),
        (0xc000_0084, 8),
    ]
    .into_iter()
    .map(|(index, slot)| MsrEntry {
        index,
        value: at(slot),
    })
    .collect();
    if !compat {
        out.push(MsrEntry {
            index: 0xc000_0103,
            value: le_u64(r, HvmHwCpuOffset::MSR_TSC_AUX),
        });
    }
    out
}

/// One CPU record, loaded as `hvm_load_cpu_ctxt` loads it.
fn cpu(
    c: &CpuEntry<'_>,
    apic_base: Option<u64>,
    described: &str,
    file: &str,
) -> Result<ForeignVcpu, IngestError> {
    let compat = c.payload.len() == HvmHwCpuOffset::COMPAT_SIZE;
    // hvm_load_entry_zeroextend: a shorter record is zero-extended; the fields read
    // below (up to msr_efer) sit at the same offsets in both.
    let mut record = std::vec![0u8; HvmHwCpuOffset::SIZE];
    record[..c.payload.len()].copy_from_slice(c.payload);
    let raw_segs = HvmHwCpuSegments::from_record(&record).map_err(|e| {
        IngestError::new(
            FORMAT,
            file,
            Place::Offset(offset(c.at)),
            Reason::Layout(e.to_string()),
        )
    })?;
    let mut notes = Vec::new();
    if compat {
        notes.push(String::from(
            "hvm_hw_cpu_compat (1016 bytes: no msr_tsc_aux, no flags)",
        ));
    }
    let mut segments = PerSegReg::from_fn(|_| KvmSegment::default());
    let mut unfolded = Vec::new();
    for reg in SegReg::ALL {
        segments[reg] = segment(&raw_segs, reg, c, file, &mut notes, &mut unfolded)?;
    }
    if !unfolded.is_empty() {
        notes.push(format!(
            "arbytes in the old VMX layout, unfolded as UNFOLD_ARBYTES does: {}",
            unfolded.join(", ")
        ));
    }
    let limit16 = |at: usize, name: &'static str| {
        let v = le_u32(&record, at);
        u16::try_from(v).map_err(|_| {
            IngestError::new(
                FORMAT,
                file,
                Place::Field(format!(
                    "vCPU {} {name} at offset {}",
                    c.instance,
                    c.at + at as u64
                )),
                Reason::Layout(format!(
                    "{v:#x} does not fit a descriptor-table limit (16 bits)"
                )),
            )
        })
    };
    let table = |limit: u16, base_at: usize| KvmDtable {
        base: le_u64(&record, base_at),
        limit,
        padding: [0; 3],
    };
    let cr = |i: usize| le_u64(&record, HvmHwCpuOffset::CR0 + 8 * i);
    let sregs = KvmSregs {
        cs: segments[SegReg::Cs],
        ds: segments[SegReg::Ds],
        es: segments[SegReg::Es],
        fs: segments[SegReg::Fs],
        gs: segments[SegReg::Gs],
        ss: segments[SegReg::Ss],
        tr: segments[SegReg::Tr],
        ldt: segments[SegReg::Ldtr],
        gdt: table(
            limit16(HvmHwCpuOffset::GDTR_LIMIT, "gdtr_limit")?,
            HvmHwCpuOffset::GDTR_BASE,
        ),
        idt: table(
            limit16(HvmHwCpuOffset::IDTR_LIMIT, "idtr_limit")?,
            HvmHwCpuOffset::IDTR_BASE,
        ),
        cr0: cr(0),
        cr2: cr(1),
        cr3: cr(2),
        cr4: cr(3),
        // CR8 is the LAPIC's TPR (LAPIC_REGS), not part of the CPU record.
        cr8: 0,
        efer: le_u64(&record, HvmHwCpuOffset::MSR_EFER),
        apic_base: apic_base.unwrap_or(0),
        interrupt_bitmap: [0; 4],
    };
    let dr = |i: usize| le_u64(&record, HvmHwCpuOffset::DR0 + 8 * i);
    let mut format = format!(
        "{described}, CPU instance {} at offset {:#x}",
        c.instance, c.at
    );
    for n in &notes {
        format.push_str("; ");
        format.push_str(n);
    }
    Ok(ForeignVcpu {
        stack: Stack::XenHvm,
        format,
        id: c.instance.to_string(),
        regs: regs(&record),
        sregs,
        file_cpl: None,
        mp_state: None,
        lapic: None,
        vcpu_events: None,
        debug_regs: Some(raw::debug_regs_from(
            [dr(0), dr(1), dr(2), dr(3)],
            dr(4),
            dr(5),
        )),
        msrs: msrs(&record, compat),
    })
}

/// The record's name of a segment: `cs` … `ldtr`.
const fn xen_name(reg: SegReg) -> &'static str {
    match reg {
        SegReg::Ldtr => "ldtr",
        other => other.kvm_name(),
    }
}

/// One segment of the record as `hvm_load_cpu_ctxt` loads it: `UNFOLD_ARBYTES`, then
/// the u16 assignment to `seg.attr`, then Xen's shape decoded strictly.
fn segment(
    raw: &HvmHwCpuSegments,
    reg: SegReg,
    c: &CpuEntry<'_>,
    file: &str,
    notes: &mut Vec<String>,
    unfolded: &mut Vec<String>,
) -> Result<KvmSegment, IngestError> {
    let name = xen_name(reg);
    let arbytes = raw.arbytes[reg].0;
    let arbytes_at = c.at + (HvmHwCpuOffset::ARBYTES + 4 * HvmHwCpuOffset::slot(reg)) as u64;
    let place = |field: &str, at: u64| {
        Place::Field(format!(
            "vCPU {} {field} at offset {at} ({at:#x})",
            c.instance
        ))
    };
    let sel_at = c.at + (HvmHwCpuOffset::SELECTORS + 4 * HvmHwCpuOffset::slot(reg)) as u64;
    let selector = u16::try_from(raw.selectors[reg]).map_err(|_| {
        IngestError::new(
            FORMAT,
            file,
            place(&format!("{name}_sel"), sel_at),
            Reason::Layout(format!(
                "{:#x} is not a selector (16 bits)",
                raw.selectors[reg]
            )),
        )
    })?;
    if arbytes >> 16 != 0 {
        notes.push(format!(
            "{name}_arbytes {arbytes:#x}: bits 31:16 dropped, as hvm_load_cpu_ctxt's u16 assignment does"
        ));
    }
    let stored = XenSegmentRegister {
        selector,
        attr: SvmAttrib(arbytes as u16),
        limit: raw.limits[reg],
        base: raw.bases[reg],
    };
    let loaded = crate::profile::xen::save_load(Profile::XEN_SAVE.rules, &stored);
    if loaded.attr != stored.attr {
        unfolded.push(format!(
            "{name} {:#x} -> {:#x}",
            stored.attr.0, loaded.attr.0
        ));
    }
    let segment = Segment::try_from(loaded).map_err(|e| {
        IngestError::new(
            FORMAT,
            file,
            place(&format!("{name}_arbytes"), arbytes_at),
            Reason::Layout(format!("{:#x}: {}", loaded.attr.0, e.reason)),
        )
    })?;
    Ok(KvmSegment::from(segment))
}
