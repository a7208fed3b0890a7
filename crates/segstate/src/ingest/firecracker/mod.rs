//! Firecracker snapshot files (`vmstate`): every vCPU, decoded by the real type layout.
//!
//! A Firecracker snapshot state file (firecracker `src/vmm/src/snapshot/mod.rs`,
//! `Snapshot::save`/`load`, commit `81b38b9`) is
//! `bitcode::serialize(Snapshot { header: { magic, version }, data: MicrovmState })`
//! followed by the CRC-64/Jones of those bytes, little-endian (`ingest::crc64`). The
//! header is inside the bitcode blob. Guest memory is a separate file and is not read.
//!
//! What is read, and what is refused:
//! - formats **11.x** (Firecracker since `ce2697255`, 2026-06-23), **10.x**
//!   (Firecracker v1.16) and **9.x** (v1.15, the first bitcode format): decoded with
//!   bitcode 0.6 (the crate and version Firecracker uses) into mirrors of
//!   Firecracker's types (`layout`, with what differs in `v11`, `v10` and `v9`); the
//!   header is read first and its version picks the layout. A newer minor of a known
//!   major is read with that major's layout and said so (Firecracker's own rule: same
//!   major, minor ≤ its own);
//! - formats **1.x to 6.x and 8.x** (Firecracker v1.7 to v1.14: bincode with
//!   fixed-width integers, the raw magic first, then the version string): read by a
//!   bincode reader of its own (`bincode`) up to the vCPUs, with each format's types
//!   before them (`legacy`); the device states after them are not decoded;
//! - the **Versionize** files of Firecracker 0.23 to 1.6 (the magic ORed with the
//!   snapshot format version 1, then a `u16` data version, 1 to 10): the same reader,
//!   with each data version's types before the vCPUs (`versionize`);
//! - another architecture's magic, a bad CRC, a truncated file, a file over 10 MB
//!   (Firecracker's own `SNAPSHOT_DESERIALIZATION_BYTES_LIMIT`): refused, naming the
//!   offset or field.
//!
//! Firecracker saves `kvm_sregs` verbatim (`VcpuState.sregs`), so each vCPU's CPL is
//! its SS.DPL ([`Stack::Firecracker`]).

mod bincode;
mod devices;
mod layout;
mod legacy;
mod v10;
mod v11;
mod v9;
mod versionize;

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use super::crc64::crc64;
use super::foreign::{ForeignVcpu, IngestError, Place, Reason, Stack, raw, within_limit};

/// The format name errors carry.
pub const FORMAT: &str = "Firecracker snapshot";
/// Magic of an x86_64 snapshot (`SNAPSHOT_MAGIC_ID`).
pub const MAGIC_X86_64: u64 = 0x0710_1984_8664_0000;
/// Magic of an aarch64 snapshot.
pub const MAGIC_AARCH64: u64 = 0x0710_1984_aaaa_0000;
/// The largest file read: Firecracker's `SNAPSHOT_DESERIALIZATION_BYTES_LIMIT`.
pub(crate) const MAX_FILE_SIZE: u64 = 10_000_000;
/// The format majors this reader decodes in the bitcode encoding.
pub(crate) const SUPPORTED_MAJORS: [u64; 3] = [9, 10, 11];
/// The format majors this reader decodes in the bincode encoding (7 was never
/// released).
pub(crate) const BINCODE_MAJORS: [u64; 7] = [1, 2, 3, 4, 5, 6, 8];
/// What [`Reason::UnsupportedVersion`] says is supported.
const SUPPORTED: &str = "Versionize data versions 1 to 10 (Firecracker 0.23 to 1.6), formats 1.x \
     to 6.x and 8.x (Firecracker 1.7 to 1.14, bincode), 9.x (Firecracker 1.15), 10.x \
     (Firecracker 1.16) and 11.x (since June 2026)";

/// How a Firecracker file starts, before any decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// bitcode (format 9 and later): a packing byte, then the magic.
    Bitcode,
    /// bincode (formats 1 to 8, Firecracker 1.7 to 1.14): the magic as the first 8
    /// bytes, then the version string.
    Bincode,
    /// Versionize (Firecracker before 1.7): the magic ORed with the snapshot format
    /// version (1) as the first 8 bytes, then a `u16` data version.
    Versionize,
}

/// Recognises a Firecracker state file by its magic (either architecture), without
/// decoding. The checksum is not looked at, so a damaged file is still recognised
/// and then refused with the reason.
#[must_use]
pub fn recognise(bytes: &[u8]) -> Option<Encoding> {
    let word = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let is_magic = |v: u64| v == MAGIC_X86_64 || v == MAGIC_AARCH64;
    if word(1).is_some_and(is_magic) {
        Some(Encoding::Bitcode)
    } else if word(0).is_some_and(is_magic) {
        Some(Encoding::Bincode)
    } else if word(0)
        .is_some_and(|v| is_magic(v & !0xffff) && v & 0xffff == versionize::FORMAT_VERSION)
    {
        Some(Encoding::Versionize)
    } else {
        None
    }
}

/// What a file says of itself before its data, read once before the checksum: bitcode
/// keeps its header inside the encoded data; bincode and Versionize write theirs plain.
enum Header {
    /// Read by the bitcode decode itself.
    Bitcode,
    /// A bincode file's version string and its format major.
    Bincode { version: String, major: u64 },
    /// A Versionize file's data version.
    Versionize(u16),
}

fn refuse(file: &str, place: Place, reason: Reason) -> IngestError {
    IngestError::new(FORMAT, file, place, reason)
}

/// Reads every vCPU of the Firecracker snapshot state file `bytes`; `file` names it
/// in errors.
///
/// # Errors
///
/// [`IngestError`] naming the offset or field and the reason: too large, truncated,
/// bad CRC, wrong magic, a format version without a known layout, or bytes that do
/// not decode with the 11.x layout.
pub fn read(bytes: &[u8], file: &str) -> Result<Vec<ForeignVcpu>, IngestError> {
    within_limit(FORMAT, file, bytes.len(), MAX_FILE_SIZE)?;
    let encoding = recognise(bytes).ok_or_else(|| {
        refuse(
            file,
            Place::Offset(0),
            if bytes.len() < 9 {
                Reason::Truncated {
                    needed: 9,
                    found: bytes.len(),
                }
            } else {
                Reason::Missing("the snapshot magic (0x0710198486640000) at offset 0 or 1")
            },
        )
    })?;
    // Bincode and Versionize files say their version in plain bytes before the data:
    // a version without a layout is named before the checksum is looked at.
    // Read once here; the decode below starts after it.
    let header = match encoding {
        Encoding::Bitcode => Header::Bitcode,
        Encoding::Bincode => {
            let version = bincode_version(bytes, file)?;
            let major = layout_of(
                magic_at_0(bytes),
                &format!("{version} (bincode)"),
                &BINCODE_MAJORS,
                file,
            )?;
            Header::Bincode { version, major }
        }
        Encoding::Versionize => Header::Versionize(versionize_data_version(bytes, file)?),
    };
    if bytes.len() < 17 {
        return Err(refuse(
            file,
            Place::Offset(bytes.len()),
            Reason::Truncated {
                needed: 17,
                found: bytes.len(),
            },
        ));
    }
    let (body, stored) = bytes.split_at(bytes.len() - 8);
    let computed = crc64(0, bytes);
    if computed != 0 {
        let mut s = [0u8; 8];
        s.copy_from_slice(stored);
        return Err(refuse(
            file,
            Place::Offset(bytes.len() - 8),
            Reason::BadChecksum {
                stored: u64::from_le_bytes(s),
                computed: crc64(0, body),
            },
        ));
    }
    let (note, vcpus) = match header {
        Header::Bitcode => {
            let (version, vcpus) = decode(body, file)?;
            (version_note(&version, &[]), vcpus)
        }
        Header::Bincode { version, major } => {
            // The data follows the magic and the version's length and text.
            let at = 16 + version.len();
            let (vcpus, layout) = legacy::vcpu_states(body, at, major).map_err(|e| {
                layout_refusal(file, e, &format!("Firecracker's {major}.x type layout"))
            })?;
            let mut said = std::vec!["bincode"];
            said.extend(layout.note());
            (version_note(&version, &said), vcpus)
        }
        Header::Versionize(version) => decode_versionize(body, file, version)?,
    };
    // Firecracker saves every vCPU of a VM that has at least one. None is a file whose
    // header names the wrong types (a length read where another field was).
    if vcpus.is_empty() {
        return Err(refuse(
            file,
            Place::Field(String::from("data.vcpu_states")),
            Reason::Missing("a vCPU state (the list decodes empty)"),
        ));
    }
    vcpus
        .iter()
        .enumerate()
        .map(|(i, v)| {
            vcpu(v, i, &note).map_err(|(field, reason)| {
                refuse(
                    file,
                    Place::Field(format!("data.vcpu_states[{i}].{field}")),
                    reason,
                )
            })
        })
        .collect()
}

/// What a vCPU's note says of a file of format `version`: the version, and `said`
/// (the encoding, the layout) with a newer minor read with its major's layout.
fn version_note(version: &str, said: &[&str]) -> String {
    let major = version.split('.').next().unwrap_or_default();
    let mut all: Vec<String> = said.iter().map(|s| String::from(*s)).collect();
    if !version.starts_with(&format!("{major}.0.")) {
        all.insert(said.len().min(1), format!("read with the {major}.0 layout"));
    }
    if all.is_empty() {
        format!("Firecracker snapshot {version}")
    } else {
        format!("Firecracker snapshot {version} ({})", all.join(", "))
    }
}

/// The first 8 bytes, little-endian (the caller has recognised a magic there).
fn magic_at_0(bytes: &[u8]) -> u64 {
    let mut magic = [0u8; 8];
    magic.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(magic)
}

/// Reads the Firecracker snapshot state file at `path` (at most 10 MB are read,
/// Firecracker's own limit when it loads one).
///
/// # Errors
///
/// As [`read`], or the file cannot be read.
pub fn read_path(path: &std::path::Path) -> Result<Vec<ForeignVcpu>, IngestError> {
    let bytes = super::foreign::read_limited(path, MAX_FILE_SIZE, FORMAT)?;
    read(&bytes, &path.display().to_string())
}

/// Which layout (format major) a header's magic and version call for, among `majors`.
fn layout_of(magic: u64, version: &str, majors: &[u64], file: &str) -> Result<u64, IngestError> {
    x86_64_magic(magic, file)?;
    match version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u64>().ok())
    {
        Some(major) if majors.contains(&major) => Ok(major),
        _ => Err(refuse(
            file,
            Place::Field(String::from("header.version")),
            Reason::UnsupportedVersion {
                found: String::from(version),
                supported: SUPPORTED,
            },
        )),
    }
}

/// Decodes a whole file as the layout `F` and keeps its vCPUs.
fn vcpu_states<F: serde::de::DeserializeOwned + layout::VcpuStates>(
    body: &[u8],
) -> Result<Vec<layout::VcpuState>, bitcode::Error> {
    bitcode::deserialize::<F>(body).map(layout::VcpuStates::into_vcpu_states)
}

/// Decodes the file with the layout its header names: the version and every vCPU.
fn decode(body: &[u8], file: &str) -> Result<(String, Vec<layout::VcpuState>), IngestError> {
    layout::progress::reset();
    // Stops right after the header by design; the header is left in `progress`.
    let _ = bitcode::deserialize::<layout::Snapshot<layout::HeaderOnly>>(body);
    let header = layout::progress::take_header().ok_or_else(|| {
        refuse(
            file,
            Place::Field(String::from("header")),
            Reason::Layout(String::from(
                "no Firecracker snapshot header (magic, version string) decodes here",
            )),
        )
    })?;
    let major = layout_of(header.magic, &header.version, &SUPPORTED_MAJORS, file)?;
    let layout_error = |e: bitcode::Error| {
        refuse(
            file,
            Place::Field(layout::progress::current().to_string()),
            Reason::Layout(format!(
                "the bytes do not follow Firecracker's {major}.x type layout here ({e}); the \
                 file is damaged, cut, or from a build whose state types differ"
            )),
        )
    };
    layout::progress::reset();
    let vcpus = match major {
        9 => vcpu_states::<v9::File>(body),
        10 => vcpu_states::<v10::File>(body),
        _ => vcpu_states::<v11::File>(body),
    }
    .map_err(layout_error)?;
    Ok((header.version, vcpus))
}

/// Refuses a magic other than x86_64's (`magic` without a Versionize format version).
fn x86_64_magic(magic: u64, file: &str) -> Result<(), IngestError> {
    if magic == MAGIC_X86_64 {
        Ok(())
    } else {
        Err(refuse(
            file,
            Place::Field(String::from("header.magic")),
            Reason::BadMagic {
                found: magic,
                expected: MAGIC_X86_64,
            },
        ))
    }
}

/// The refusal of a bincode or Versionize file whose bytes stop following `what` (the
/// types of its version) where `e` says.
fn layout_refusal(file: &str, e: bincode::Error, what: &str) -> IngestError {
    refuse(
        file,
        Place::Field(e.path.clone().unwrap_or_else(|| String::from("data"))),
        Reason::Layout(format!(
            "the bytes do not follow {what} here ({e}); the file is damaged, cut, or from a \
             build whose state types differ"
        )),
    )
}

/// The version string of a bincode file (formats 1 to 8): the magic, then the version
/// as a `u64` length (1 to 32) and its text, digits and dots.
fn bincode_version(bytes: &[u8], file: &str) -> Result<String, IngestError> {
    let no_version = || {
        refuse(
            file,
            Place::Field(String::from("header.version")),
            Reason::Missing("a version string (a u64 length of 1 to 32, then digits and dots)"),
        )
    };
    let Some(len) = bytes
        .get(8..16)
        .map(|l| u64::from_le_bytes(l.try_into().unwrap_or_default()))
        .filter(|l| (1..=32).contains(l))
    else {
        return Err(if bytes.len() < 16 {
            refuse(
                file,
                Place::Field(String::from("header.version")),
                Reason::Truncated {
                    needed: 16,
                    found: bytes.len(),
                },
            )
        } else {
            no_version()
        });
    };
    let end = 16 + len as usize;
    let Some(text) = bytes.get(16..end) else {
        return Err(refuse(
            file,
            Place::Field(String::from("header.version")),
            Reason::Truncated {
                needed: end,
                found: bytes.len(),
            },
        ));
    };
    std::str::from_utf8(text)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .map(String::from)
        .ok_or_else(no_version)
}

/// The data version of a Versionize file (the `u16` after the magic), refused unless
/// its architecture is x86_64 and its version one this reader has types for.
fn versionize_data_version(bytes: &[u8], file: &str) -> Result<u16, IngestError> {
    x86_64_magic(magic_at_0(bytes) & !0xffff, file)?;
    let Some(v) = bytes.get(8..10) else {
        return Err(refuse(
            file,
            Place::Field(String::from("header.data_version")),
            Reason::Truncated {
                needed: 10,
                found: bytes.len(),
            },
        ));
    };
    let version = u16::from_le_bytes([v[0], v[1]]);
    if (1..=versionize::RELEASES.len()).contains(&usize::from(version)) {
        Ok(version)
    } else {
        Err(refuse(
            file,
            Place::Field(String::from("header.data_version")),
            Reason::UnsupportedVersion {
                found: format!("Versionize data version {version}"),
                supported: SUPPORTED,
            },
        ))
    }
}

/// Decodes a Versionize file (Firecracker before 1.7) of data `version` up to its vCPUs:
/// the note for its vCPUs, and every vCPU.
fn decode_versionize(
    body: &[u8],
    file: &str,
    version: u16,
) -> Result<(String, Vec<layout::VcpuState>), IngestError> {
    let release = versionize::RELEASES[usize::from(version) - 1];
    let at = 10; // the magic, the data version
    let vcpus = versionize::vcpu_states(body, at, version).map_err(|e| {
        layout_refusal(
            file,
            e,
            &format!("the types of Versionize data version {version} (Firecracker {release})"),
        )
    })?;
    Ok((
        format!("Firecracker snapshot, Versionize data version {version} (Firecracker {release})"),
        vcpus,
    ))
}

/// One vCPU; an error names the field within `VcpuState`.
fn vcpu(
    v: &layout::VcpuState,
    index: usize,
    format: &str,
) -> Result<ForeignVcpu, (&'static str, Reason)> {
    let at = |field: &'static str| move |r: Reason| (field, r);
    let mut msrs = Vec::new();
    for (header, entries) in &v.saved_msrs {
        // kvm_msrs header: nmsrs u32, pad u32; the wrapper's entries are the MSRs.
        if header.len() != 8 {
            return Err((
                "saved_msrs",
                Reason::WrongLength {
                    what: "struct kvm_msrs",
                    expected: 8,
                    found: header.len(),
                },
            ));
        }
        for e in entries {
            msrs.push(raw::msr(e).map_err(at("saved_msrs"))?);
        }
    }
    Ok(ForeignVcpu {
        stack: Stack::Firecracker,
        format: format.to_string(),
        id: index.to_string(),
        regs: raw::regs(&v.regs).map_err(at("regs"))?,
        sregs: raw::sregs(&v.sregs).map_err(at("sregs"))?,
        file_cpl: None,
        mp_state: Some(raw::mp_state(&v.mp_state).map_err(at("mp_state"))?),
        lapic: Some(raw::lapic(&v.lapic).map_err(at("lapic"))?),
        vcpu_events: Some(raw::vcpu_events(&v.vcpu_events).map_err(at("vcpu_events"))?),
        debug_regs: Some(raw::debug_regs(&v.debug_regs).map_err(at("debug_regs"))?),
        msrs,
    })
}
