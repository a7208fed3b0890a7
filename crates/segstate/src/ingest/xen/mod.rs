//! Xen HVM save images: an `xl save` file, a bare libxl stream or a bare libxc
//! migration stream, read as a stream down to the `HVM_CONTEXT` record, every vCPU.
//!
//! Layouts, all read at xen-project/xen `c447b7308b13`:
//!
//! - **xl header** (`tools/xl/xl.h` `struct save_file_header`, written by
//!   `tools/xl/xl_saverestore.c` `save_domain_core_writeconfig`): the 32-byte magic
//!   `XL_MAGIC`, `u32 byteorder` = `XL_BYTEORDER` in the domain's byte order,
//!   `u32 mandatory_flags` (bit 0 JSON config, bit 1 STREAMv2), `u32 optional_flags`,
//!   `u32 optional_data_len`, then that many bytes (`u32` config length and the config);
//! - **libxl stream** (`tools/libs/light/libxl_sr_stream_format.h`,
//!   `docs/specs/libxl-migration-stream.pandoc`): a big-endian header (ident
//!   `LIBXL_IDENT` "LibxlFmt", version 2, options), then records `{u32 type, u32
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
//! loads it: `UNFOLD_ARBYTES` for old VMX-layout values ([`Profile::XEN_SAVE`](crate::profile::Profile::XEN_SAVE)), then
//! `seg.attr = *_arbytes`, a u16 assignment. Xen's segment shape has no unusable bit
//! and no CPL field: P = 0 is unusable, and the CPL is `ss_arbytes`' DPL
//! ([`Stack::XenHvm`](super::foreign::Stack::XenHvm)).

use std::format;
use std::io::Read;
use std::string::{String, ToString};
use std::vec::Vec;

mod context;
pub mod hvmctx;

use super::byte_stream::ByteStream;
pub(super) use super::byte_stream::usize_of;
use super::foreign::{ForeignVcpu, IngestError, Place, Reason};
use crate::format::{be_u32, be_u64, le_u32};

/// The format name errors carry.
pub const FORMAT: &str = "Xen save image";
/// `savefileheader_magic` (`tools/xl/xl.h`).
pub(crate) const XL_MAGIC: [u8; 32] = *b"Xen saved domain, xl format\n \0 \r";
/// `SAVEFILE_BYTEORDER_VALUE`, in the byte order of the domain.
pub(crate) const XL_BYTEORDER: u32 = 0x0102_0304;
/// `XL_MANDATORY_FLAG_JSON`: the optional data holds the JSON config.
pub(crate) const XL_FLAG_JSON: u32 = 1 << 0;
/// `XL_MANDATORY_FLAG_STREAMv2`: a libxl v2 stream follows (Xen 4.6 and later).
pub(crate) const XL_FLAG_STREAM_V2: u32 = 1 << 1;
/// `RESTORE_STREAM_IDENT`, "LibxlFmt", big-endian.
pub(crate) const LIBXL_IDENT: u64 = 0x4c69_6278_6c46_6d74;
/// `RESTORE_STREAM_VERSION`.
pub(crate) const LIBXL_VERSION: u32 = 2;
/// `IHDR_MARKER`.
pub(crate) const IHDR_MARKER: u64 = u64::MAX;
/// `IHDR_ID`, "XENF", big-endian.
pub(crate) const IHDR_ID: u32 = 0x5845_4e46;
/// The libxc stream versions read (`read_headers`: `2 <= ver <= 3`).
pub(crate) const LIBXC_VERSIONS: [u32; 2] = [2, 3];
/// `DHDR_TYPE_X86_HVM`.
pub(crate) const DHDR_TYPE_X86_HVM: u32 = 2;
/// `REC_LENGTH_MAX`: the longest libxc record (128 MiB).
pub const REC_LENGTH_MAX: u32 = 128 << 20;
/// The longest `HVM_CONTEXT` read into memory: a few KiB per vCPU, so 16 MiB is
/// thousands of vCPUs.
pub const MAX_HVM_CONTEXT: u32 = 16 << 20;
/// `HVM_FILE_MAGIC`, the `HEADER` entry's magic.
pub(crate) const HVM_FILE_MAGIC: u32 = 0x5438_1286;
/// `HVM_FILE_VERSION`.
pub(crate) const HVM_FILE_VERSION: u32 = 1;

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
    let mut s = Stream::new(reader, FORMAT, file);
    let mut first = [0u8; 8];
    s.read_exact(&mut first, "the first 8 bytes")?;
    let container = if first == IHDR_MARKER.to_be_bytes() {
        Container::Libxc
    } else if first == LIBXL_IDENT.to_be_bytes() {
        Container::Libxl
    } else if first == XL_MAGIC[..8] {
        Container::Xl
    } else {
        return Err(s.bad_magic(0, u64::from_be_bytes(first), be_u64(&XL_MAGIC, 0)));
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

/// The input as Xen's readers take it.
type Stream<'a, R> = ByteStream<'a, R>;

/// A record header `{u32 type, u32 length}`, little-endian; `None` at a clean end.
fn record_header<R: Read>(s: &mut Stream<'_, R>) -> Result<Option<(u64, u32, u32)>, IngestError> {
    let at = s.offset;
    let mut h = [0u8; 8];
    let got = s.fill(&mut h)?;
    if got == 0 {
        return Ok(None);
    }
    if got < h.len() {
        return Err(s.truncated("record header", at, h.len(), got));
    }
    Ok(Some((at, le_u32(&h, 0), le_u32(&h, 4))))
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
        return Err(s.bad_magic(0, be_u64(&h, 24), be_u64(&XL_MAGIC, 24)));
    }
    let (byteorder, mandatory, optional) = (le_u32(&h, 32), le_u32(&h, 36), le_u32(&h, 40));
    // The header fields segstate does not read, checked in field order: (refused,
    // offset, what was found, what is read instead).
    let refusals = [
        (
            byteorder != XL_BYTEORDER,
            32,
            format!("byteorder {byteorder:#010x}"),
            "little-endian images (byteorder 0x01020304)",
        ),
        (
            mandatory & !(XL_FLAG_JSON | XL_FLAG_STREAM_V2) != 0,
            36,
            format!("mandatory_flags {mandatory:#x} (unknown bits, xl refuses them)"),
            "mandatory_flags JSON (bit 0) and STREAMv2 (bit 1)",
        ),
        (
            mandatory & XL_FLAG_STREAM_V2 == 0,
            36,
            format!("mandatory_flags {mandatory:#x}: a legacy (pre-4.6) stream"),
            "xl images with the STREAMv2 flag (Xen 4.6 and later)",
        ),
        (
            optional != 0,
            40,
            format!("optional_flags {optional:#x}"),
            "optional_flags 0 (xl defines none)",
        ),
    ];
    if let Some((_, at, found, supported)) = refusals.into_iter().find(|r| r.0) {
        return Err(s.unsupported(at, found, supported));
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
        return Err(s.bad_magic(at, u64::from_be_bytes(ident), LIBXL_IDENT));
    }
    let mut h = [0u8; 8];
    s.read_exact(&mut h, "the libxl stream header")?;
    let version = be_u32(&h, 0);
    if version != LIBXL_VERSION {
        return Err(s.unsupported(
            at + 8,
            format!("libxl stream version {version}"),
            "libxl stream version 2",
        ));
    }
    let options = be_u32(&h, 4);
    if options & 1 != 0 {
        return Err(s.unsupported(
            at + 12,
            String::from("a big-endian libxl stream"),
            "little-endian streams (as libxl reads them)",
        ));
    }
    described.push_str(", libxl stream v2");
    if options & 2 != 0 {
        described.push_str(" (converted from a legacy image)");
    }
    loop {
        let Some((rec_at, kind, length)) = record_header(s)? else {
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
                    return Err(s.bad_magic(marker_at, u64::from_be_bytes(marker), IHDR_MARKER));
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
        return Err(s.bad_magic(marker_at + 8, id.into(), IHDR_ID.into()));
    }
    let version = be_u32(&ihdr, 4);
    if !LIBXC_VERSIONS.contains(&version) {
        return Err(s.unsupported(
            marker_at + 12,
            format!("libxc stream version {version}"),
            "libxc stream versions 2 and 3",
        ));
    }
    let options = u16::from_be_bytes([ihdr[8], ihdr[9]]);
    if options & 1 != 0 {
        return Err(s.unsupported(
            marker_at + 16,
            String::from("a big-endian libxc stream"),
            "little-endian streams (as xc_domain_restore reads them)",
        ));
    }
    let dhdr_at = s.offset;
    let mut dhdr = [0u8; 16];
    s.read_exact(&mut dhdr, "the libxc domain header (struct xc_sr_dhdr)")?;
    let guest = le_u32(&dhdr, 0);
    if guest != DHDR_TYPE_X86_HVM {
        return Err(s.unsupported(
            dhdr_at,
            format!("domain type {guest}"),
            "x86 HVM domains (type 2); a PV domain has no HVM context",
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
        let Some((at, kind, length)) = record_header(s)? else {
            return complete
                .filter(|_| checkpointed)
                .ok_or_else(|| s.error(s.offset, Reason::Missing("the HVM_CONTEXT record")));
        };
        // The context is held in memory, every other record only skipped.
        let limit = if kind == libxc_rec::HVM_CONTEXT {
            MAX_HVM_CONTEXT
        } else {
            REC_LENGTH_MAX
        };
        if length > limit {
            return Err(s.error(
                at + 4,
                Reason::TooLarge {
                    size: length.into(),
                    limit: limit.into(),
                },
            ));
        }
        let body = u64::from(length) + padding(length);
        match kind {
            libxc_rec::HVM_CONTEXT => {
                let body_at = s.offset;
                let mut blob = std::vec![0u8; length as usize];
                s.read_exact(&mut blob, "the HVM_CONTEXT record")?;
                s.skip(padding(length), "the HVM_CONTEXT record's padding")?;
                let what = format!("{described}, HVM_CONTEXT at offset {at:#x}");
                let vcpus = context::hvm_context(&blob, body_at, &what, s.file)?;
                if !checkpointed {
                    // Unless a checkpoint follows, this is the domain's state.
                    match record_header(s)? {
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
