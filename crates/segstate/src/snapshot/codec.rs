//! The snapshot file format, version 1 (docs/snapshot-format.md is the full
//! description; this module is its reference implementation).
//!
//! ```text
//! offset  size  field
//! 0       8     magic "SEGSNAP\0"
//! 8       2     format major version (1)
//! 10      2     format minor version (0)
//! 12      2     header size (32)
//! 14      2     reserved, 0
//! 16      8     total file size in bytes, checksum included
//! 24      4     number of sections
//! 28      4     reserved, 0
//! 32      …     sections: id u16, flags u16, payload length u32, payload
//! size-4  4     CRC-32C of bytes [0, size-4)
//! ```
//!
//! All integers are little-endian. Section flag bit 0 means "skippable": a reader
//! that does not know the id may ignore it; an unknown section without it is refused.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::crc::crc32c;
use super::{HostDescription, MemoryRegion, MsrEntry, Regs, VcpuSnapshot, Xcr, raw_size};
use crate::arch::Vendor;
use crate::arch::{PrivilegeLevel, SegReg, Segment};
use crate::format::kvm::KvmSregs;

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"SEGSNAP\0";
/// The format major version this code writes and the only one it reads.
pub const FORMAT_MAJOR: u16 = 1;
/// The format minor version this code writes (it reads every minor of its major).
pub const FORMAT_MINOR: u16 = 0;
/// Size of the file header.
pub const HEADER_SIZE: usize = 32;
/// Size of a section header.
pub const SECTION_HEADER_SIZE: usize = 8;
/// Size of the checksum trailer.
pub const TRAILER_SIZE: usize = 4;
/// Largest input [`VcpuSnapshot::decode`] accepts (64 MiB).
pub const DEFAULT_DECODE_LIMIT: usize = 64 << 20;

/// Section flag: a reader that does not know this section may skip it.
pub const FLAG_SKIPPABLE: u16 = 1;

/// Section ids of format version 1.
pub mod section {
    /// Host description (skippable).
    pub const HOST: u16 = 0x0001;
    /// vCPU id and the explicit CPL.
    pub const VCPU: u16 = 0x0002;
    /// `struct kvm_regs`.
    pub const REGS: u16 = 0x0003;
    /// `struct kvm_sregs`.
    pub const SREGS: u16 = 0x0004;
    /// `struct kvm_debugregs`, raw.
    pub const DEBUGREGS: u16 = 0x0005;
    /// MSR list.
    pub const MSRS: u16 = 0x0006;
    /// `struct kvm_fpu`, raw.
    pub const FPU: u16 = 0x0007;
    /// XSAVE image, raw.
    pub const XSAVE: u16 = 0x0008;
    /// XCR list.
    pub const XCRS: u16 = 0x0009;
    /// `struct kvm_vcpu_events`, raw.
    pub const VCPU_EVENTS: u16 = 0x000a;
    /// `struct kvm_lapic_state`, raw.
    pub const LAPIC: u16 = 0x000b;
    /// `kvm_mp_state.mp_state`.
    pub const MP_STATE: u16 = 0x000c;
    /// `struct kvm_cpuid_entry2` list, raw.
    pub const CPUID: u16 = 0x000d;
    /// One guest memory region (may repeat).
    pub const MEMORY: u16 = 0x0010;

    /// Name of a known section id.
    #[must_use]
    pub fn name(id: u16) -> Option<&'static str> {
        Some(match id {
            HOST => "HOST",
            VCPU => "VCPU",
            REGS => "REGS",
            SREGS => "SREGS",
            DEBUGREGS => "DEBUGREGS",
            MSRS => "MSRS",
            FPU => "FPU",
            XSAVE => "XSAVE",
            XCRS => "XCRS",
            VCPU_EVENTS => "VCPU_EVENTS",
            LAPIC => "LAPIC",
            MP_STATE => "MP_STATE",
            CPUID => "CPUID",
            MEMORY => "MEMORY",
            _ => return None,
        })
    }
}

/// Highest `kvm_mp_state` value KVM defines (KVM_MP_STATE_SUSPENDED).
pub const MAX_MP_STATE: u32 = 10;

/// Why bytes are not a snapshot this code can read. Every variant names the field or
/// the offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is larger than the decode limit.
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input ends before `what` does.
    Truncated {
        /// Offset where more bytes were needed.
        offset: usize,
        /// Bytes needed there.
        needed: usize,
        /// The structure being read.
        what: &'static str,
    },
    /// The first eight bytes are not [`MAGIC`].
    BadMagic {
        /// What was found.
        found: [u8; 8],
    },
    /// The header's total size disagrees with the input size.
    SizeMismatch {
        /// `header.total_size` (offset 16).
        header: u64,
        /// The input's size.
        actual: usize,
    },
    /// The CRC-32C trailer does not match the contents.
    Checksum {
        /// Stored in the trailer.
        stored: u32,
        /// Computed over the file.
        computed: u32,
        /// Offset of the trailer.
        offset: usize,
    },
    /// A format version this code cannot read.
    UnknownVersion {
        /// Major.
        major: u16,
        /// Minor.
        minor: u16,
    },
    /// A section this code does not know and may not skip.
    UnknownMandatorySection {
        /// Its id.
        id: u16,
        /// Offset of its header.
        offset: usize,
    },
    /// A section that may appear once appears again.
    DuplicateSection {
        /// Its name.
        name: &'static str,
        /// Offset of the second header.
        offset: usize,
    },
    /// A required section is absent.
    MissingSection {
        /// Its name.
        name: &'static str,
    },
    /// A field holds a value that cannot be.
    Invalid {
        /// Offset of the field.
        offset: usize,
        /// The field, e.g. `VCPU.cpl`.
        field: String,
        /// Its value.
        value: u64,
        /// Why it cannot be.
        reason: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { size, limit } => write!(
                f,
                "snapshot is {size} bytes, more than the decode limit of {limit}"
            ),
            DecodeError::Truncated {
                offset,
                needed,
                what,
            } => write!(
                f,
                "truncated: {what} needs {needed} bytes at offset {offset}, past the end of the input"
            ),
            DecodeError::BadMagic { found } => write!(
                f,
                "not a segstate snapshot: magic at offset 0 is {found:02x?}, expected \"SEGSNAP\\0\""
            ),
            DecodeError::SizeMismatch { header, actual } => {
                if (*actual as u64) < *header {
                    write!(
                        f,
                        "truncated: header.total_size (offset 16) says {header} bytes, the input has {actual}"
                    )
                } else {
                    write!(
                        f,
                        "trailing bytes: header.total_size (offset 16) says {header} bytes, the input has {actual}"
                    )
                }
            }
            DecodeError::Checksum {
                stored,
                computed,
                offset,
            } => write!(
                f,
                "checksum mismatch: CRC-32C at offset {offset} is {stored:#010x}, the contents give {computed:#010x} (corrupt file)"
            ),
            DecodeError::UnknownVersion { major, minor } => write!(
                f,
                "unknown format version {major}.{minor} (offset 8): this reader knows major version {FORMAT_MAJOR}"
            ),
            DecodeError::UnknownMandatorySection { id, offset } => write!(
                f,
                "unknown mandatory section {id:#06x} at offset {offset} (written by a newer segstate?)"
            ),
            DecodeError::DuplicateSection { name, offset } => {
                write!(
                    f,
                    "section {name} appears twice (second at offset {offset})"
                )
            }
            DecodeError::MissingSection { name } => write!(f, "required section {name} is missing"),
            DecodeError::Invalid {
                offset,
                field,
                value,
                reason,
            } => write!(f, "{field} = {value:#x} at offset {offset}: {reason}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

// ---------------------------------------------------------------------------------
// Encoding

struct Writer {
    out: Vec<u8>,
    sections: u32,
}

impl Writer {
    fn section(&mut self, id: u16, flags: u16, payload: &[u8]) {
        self.out.extend_from_slice(&id.to_le_bytes());
        self.out.extend_from_slice(&flags.to_le_bytes());
        // Payloads are bounded by the decode limit; a u32 length is the format's.
        let len = u32::try_from(payload.len()).expect("section payload under 4 GiB");
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(payload);
        self.sections += 1;
    }
}

fn put_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put_u64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put_str(v: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(usize::from(u16::MAX));
    put_u16(v, n as u16);
    v.extend_from_slice(&b[..n]);
}

fn vendor_byte(v: Option<Vendor>) -> u8 {
    match v {
        None => 0,
        Some(Vendor::Intel) => 1,
        Some(Vendor::Amd) => 2,
    }
}

impl VcpuSnapshot {
    /// The file bytes (format version [`FORMAT_MAJOR`].[`FORMAT_MINOR`]).
    ///
    /// # Panics
    ///
    /// When one section would exceed 4 GiB (a memory region that large); split
    /// memory into smaller regions.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer {
            out: Vec::with_capacity(
                8192 + self.memory.iter().map(|m| m.data.len() + 24).sum::<usize>(),
            ),
            sections: 0,
        };
        w.out.extend_from_slice(&MAGIC);
        put_u16(&mut w.out, FORMAT_MAJOR);
        put_u16(&mut w.out, FORMAT_MINOR);
        put_u16(&mut w.out, HEADER_SIZE as u16);
        put_u16(&mut w.out, 0);
        put_u64(&mut w.out, 0); // total size, patched below
        put_u32(&mut w.out, 0); // section count, patched below
        put_u32(&mut w.out, 0);

        let h = &self.host;
        let mut p = Vec::new();
        p.push(vendor_byte(h.vendor));
        p.extend_from_slice(&[0; 3]);
        put_u32(&mut p, h.kvm_api_version);
        put_str(&mut p, &h.cpu_vendor);
        put_str(&mut p, &h.backend);
        put_u32(&mut p, h.capabilities.len() as u32);
        for &(cap, value) in &h.capabilities {
            put_u32(&mut p, cap);
            p.extend_from_slice(&value.to_le_bytes());
        }
        w.section(section::HOST, FLAG_SKIPPABLE, &p);

        let mut p = Vec::new();
        put_u32(&mut p, self.vcpu_id);
        p.push(self.cpl.bits());
        p.extend_from_slice(&[0; 3]);
        w.section(section::VCPU, 0, &p);

        let mut p = Vec::with_capacity(Regs::SIZE);
        for r in self.regs.to_array() {
            put_u64(&mut p, r);
        }
        w.section(section::REGS, 0, &p);
        w.section(section::SREGS, 0, &self.sregs.to_bytes());

        if let Some(d) = &self.debug_regs {
            w.section(section::DEBUGREGS, 0, d);
        }
        if !self.msrs.is_empty() {
            let mut p = Vec::with_capacity(8 + 16 * self.msrs.len());
            put_u32(&mut p, self.msrs.len() as u32);
            put_u32(&mut p, 0);
            for m in &self.msrs {
                put_u32(&mut p, m.index);
                put_u32(&mut p, 0);
                put_u64(&mut p, m.value);
            }
            w.section(section::MSRS, 0, &p);
        }
        if let Some(fpu) = &self.fpu {
            w.section(section::FPU, 0, fpu);
        }
        if let Some(x) = &self.xsave {
            w.section(section::XSAVE, 0, x);
        }
        if let Some(xcrs) = &self.xcrs {
            let mut p = Vec::with_capacity(8 + 16 * xcrs.len());
            put_u32(&mut p, xcrs.len() as u32);
            put_u32(&mut p, 0);
            for x in xcrs {
                put_u32(&mut p, x.index);
                put_u32(&mut p, 0);
                put_u64(&mut p, x.value);
            }
            w.section(section::XCRS, 0, &p);
        }
        if let Some(ev) = &self.vcpu_events {
            w.section(section::VCPU_EVENTS, 0, ev);
        }
        if let Some(l) = &self.lapic {
            w.section(section::LAPIC, 0, l);
        }
        if let Some(mp) = self.mp_state {
            w.section(section::MP_STATE, 0, &mp.to_le_bytes());
        }
        if let Some(cpuid) = &self.cpuid {
            let mut p = Vec::with_capacity(8 + raw_size::CPUID_ENTRY * cpuid.len());
            put_u32(&mut p, cpuid.len() as u32);
            put_u32(&mut p, 0);
            for e in cpuid {
                p.extend_from_slice(e);
            }
            w.section(section::CPUID, 0, &p);
        }
        for m in &self.memory {
            let mut p = Vec::with_capacity(16 + m.data.len());
            put_u64(&mut p, m.gpa);
            put_u64(&mut p, 0);
            p.extend_from_slice(&m.data);
            w.section(section::MEMORY, 0, &p);
        }

        let total = (w.out.len() + TRAILER_SIZE) as u64;
        w.out[16..24].copy_from_slice(&total.to_le_bytes());
        let count = w.sections;
        w.out[24..28].copy_from_slice(&count.to_le_bytes());
        let crc = crc32c(&w.out);
        w.out.extend_from_slice(&crc.to_le_bytes());
        w.out
    }
}

// ---------------------------------------------------------------------------------
// Decoding

/// A cursor over one section's payload that reports absolute offsets.
struct Reader<'a> {
    bytes: &'a [u8],
    base: usize,
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(DecodeError::Truncated {
                offset: self.base + self.pos,
                needed: n,
                what: self.what,
            }),
        }
    }
    fn offset(&self) -> usize {
        self.base + self.pos
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn zero(&mut self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        let off = self.offset();
        let b = self.take(n)?;
        if let Some(i) = b.iter().position(|&x| x != 0) {
            return Err(invalid(
                off + i,
                field,
                b[i].into(),
                "reserved, must be zero",
            ));
        }
        Ok(())
    }
    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let off = self.offset();
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        core::str::from_utf8(b)
            .map(String::from)
            .map_err(|_| invalid(off, field, n as u64, "not UTF-8"))
    }
    /// The whole payload has been read.
    fn end(&self) -> Result<(), DecodeError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(invalid(
                self.offset(),
                self.what,
                (self.bytes.len() - self.pos) as u64,
                "bytes left over at the end of the section",
            ))
        }
    }
}

fn invalid(
    offset: usize,
    field: impl Into<String>,
    value: u64,
    reason: &'static str,
) -> DecodeError {
    DecodeError::Invalid {
        offset,
        field: field.into(),
        value,
        reason,
    }
}

fn le_u16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le_u32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn le_u64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

fn exact(r: &Reader<'_>, len: usize, what: &'static str) -> Result<(), DecodeError> {
    if r.bytes.len() == len {
        Ok(())
    } else {
        Err(invalid(
            r.base - 4,
            alloc::format!("{what} section length"),
            r.bytes.len() as u64,
            "wrong size for this structure",
        ))
    }
}

fn decode_sregs(r: &mut Reader<'_>) -> Result<KvmSregs, DecodeError> {
    exact(r, KvmSregs::SIZE, "SREGS")?;
    let base = r.offset();
    let bytes = r.take(KvmSregs::SIZE)?;
    let sregs = KvmSregs::from_bytes(bytes).map_err(|_| DecodeError::Truncated {
        offset: base,
        needed: KvmSregs::SIZE,
        what: "SREGS",
    })?;
    // Strict: every segment byte must mean something (type 0..=15, DPL 0..=3,
    // booleans 0/1, padding 0). KVM never reports anything else.
    for (reg, off) in SegReg::KVM_SREGS_ORDER
        .iter()
        .zip(KvmSregs::SEGMENT_OFFSETS)
    {
        if let Err(e) = Segment::try_from(*sregs.segment(*reg)) {
            let field_off = match e.field {
                "type" => 14,
                "present" => 15,
                "dpl" => 16,
                "db" => 17,
                "s" => 18,
                "l" => 19,
                "g" => 20,
                "avl" => 21,
                "unusable" => 22,
                _ => 23,
            };
            return Err(invalid(
                base + off + field_off,
                alloc::format!("SREGS.{}.{}", reg.kvm_name(), e.field),
                e.value,
                e.reason,
            ));
        }
    }
    Ok(sregs)
}

fn decode_pairs(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<(u32, u64)>, DecodeError> {
    let count_off = r.offset();
    let n = r.u32()? as usize;
    r.zero(4, what)?;
    if n.checked_mul(16).map(|b| b + 8) != Some(r.bytes.len()) {
        return Err(invalid(
            count_off,
            alloc::format!("{what}.count"),
            n as u64,
            "disagrees with the section length (8 + 16 * count)",
        ));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let index = r.u32()?;
        r.zero(4, what)?;
        out.push((index, r.u64()?));
    }
    Ok(out)
}

#[derive(Default)]
struct Seen {
    host: bool,
    vcpu: bool,
    regs: bool,
    sregs: bool,
    msrs: bool,
}

impl VcpuSnapshot {
    /// Decodes a snapshot file of at most [`DEFAULT_DECODE_LIMIT`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with_limit(bytes, DEFAULT_DECODE_LIMIT)
    }

    /// Decodes a snapshot file of at most `limit` bytes. Never panics; either the
    /// whole snapshot is returned or an error naming the field or offset.
    ///
    /// Order of checks: size limit; header present; magic; header.total_size equals
    /// the input size; CRC-32C; version; header fields; sections in order.
    pub fn decode_with_limit(bytes: &[u8], limit: usize) -> Result<Self, DecodeError> {
        if bytes.len() > limit {
            return Err(DecodeError::TooLarge {
                size: bytes.len(),
                limit,
            });
        }
        if bytes.len() < 8 {
            return Err(DecodeError::Truncated {
                offset: 0,
                needed: 8,
                what: "magic",
            });
        }
        if bytes[..8] != MAGIC {
            let mut found = [0u8; 8];
            found.copy_from_slice(&bytes[..8]);
            return Err(DecodeError::BadMagic { found });
        }
        if bytes.len() < HEADER_SIZE + TRAILER_SIZE {
            return Err(DecodeError::Truncated {
                offset: bytes.len(),
                needed: HEADER_SIZE + TRAILER_SIZE - bytes.len(),
                what: "header and checksum",
            });
        }
        let total = le_u64(bytes, 16);
        if total != bytes.len() as u64 {
            return Err(DecodeError::SizeMismatch {
                header: total,
                actual: bytes.len(),
            });
        }
        let body_end = bytes.len() - TRAILER_SIZE;
        let stored = le_u32(bytes, body_end);
        let computed = crc32c(&bytes[..body_end]);
        if stored != computed {
            return Err(DecodeError::Checksum {
                stored,
                computed,
                offset: body_end,
            });
        }
        let (major, minor) = (le_u16(bytes, 8), le_u16(bytes, 10));
        if major != FORMAT_MAJOR {
            return Err(DecodeError::UnknownVersion { major, minor });
        }
        let header_size = usize::from(le_u16(bytes, 12));
        if header_size != HEADER_SIZE {
            return Err(invalid(
                12,
                "header.header_size",
                header_size as u64,
                "format major version 1 has a 32-byte header",
            ));
        }
        if le_u16(bytes, 14) != 0 {
            return Err(invalid(
                14,
                "header.reserved",
                le_u16(bytes, 14).into(),
                "must be zero",
            ));
        }
        if le_u32(bytes, 28) != 0 {
            return Err(invalid(
                28,
                "header.reserved",
                le_u32(bytes, 28).into(),
                "must be zero",
            ));
        }
        let count = le_u32(bytes, 24);

        let mut snap = VcpuSnapshot::default();
        let mut seen = Seen::default();
        let mut pos = HEADER_SIZE;
        let mut read_sections = 0u32;
        while pos < body_end {
            if read_sections == count {
                return Err(invalid(
                    24,
                    "header.section_count",
                    count.into(),
                    "fewer than the sections present before the checksum",
                ));
            }
            if body_end - pos < SECTION_HEADER_SIZE {
                return Err(DecodeError::Truncated {
                    offset: pos,
                    needed: SECTION_HEADER_SIZE,
                    what: "section header",
                });
            }
            let id = le_u16(bytes, pos);
            let flags = le_u16(bytes, pos + 2);
            let len = le_u32(bytes, pos + 4) as usize;
            let start = pos + SECTION_HEADER_SIZE;
            if len > body_end - start {
                return Err(DecodeError::Truncated {
                    offset: start,
                    needed: len,
                    what: section::name(id).unwrap_or("section payload"),
                });
            }
            if flags & !FLAG_SKIPPABLE != 0 {
                return Err(invalid(
                    pos + 2,
                    "section.flags",
                    flags.into(),
                    "undefined flag bits set",
                ));
            }
            let payload = &bytes[start..start + len];
            snap.decode_section(id, flags, pos, payload, &mut seen)?;
            read_sections += 1;
            pos = start + len;
        }
        if read_sections != count {
            return Err(invalid(
                24,
                "header.section_count",
                count.into(),
                "more than the sections present before the checksum",
            ));
        }
        for (ok, name) in [
            (seen.vcpu, "VCPU"),
            (seen.regs, "REGS"),
            (seen.sregs, "SREGS"),
        ] {
            if !ok {
                return Err(DecodeError::MissingSection { name });
            }
        }
        Ok(snap)
    }

    fn decode_section(
        &mut self,
        id: u16,
        flags: u16,
        header_offset: usize,
        payload: &[u8],
        seen: &mut Seen,
    ) -> Result<(), DecodeError> {
        let name = section::name(id);
        let mut r = Reader {
            bytes: payload,
            base: header_offset + SECTION_HEADER_SIZE,
            pos: 0,
            what: name.unwrap_or("section"),
        };
        let dup = |name: &'static str| DecodeError::DuplicateSection {
            name,
            offset: header_offset,
        };
        let once = |flag: bool, name: &'static str| if flag { Err(dup(name)) } else { Ok(()) };
        match id {
            section::HOST => {
                if seen.host {
                    return Err(dup("HOST"));
                }
                seen.host = true;
                let off = r.offset();
                let vendor = match r.u8()? {
                    0 => None,
                    1 => Some(Vendor::Intel),
                    2 => Some(Vendor::Amd),
                    v => {
                        return Err(invalid(
                            off,
                            "HOST.vendor",
                            v.into(),
                            "0 unknown, 1 Intel, 2 AMD",
                        ));
                    }
                };
                r.zero(3, "HOST.reserved")?;
                let api = r.u32()?;
                let cpu_vendor = r.string("HOST.cpu_vendor")?;
                let backend = r.string("HOST.backend")?;
                let n_off = r.offset();
                let n = r.u32()? as usize;
                if n.checked_mul(8) != Some(payload.len() - r.pos) {
                    return Err(invalid(
                        n_off,
                        "HOST.capability_count",
                        n as u64,
                        "disagrees with the section length",
                    ));
                }
                let mut caps = Vec::with_capacity(n);
                for _ in 0..n {
                    let cap = r.u32()?;
                    let v = r.u32()? as i32;
                    caps.push((cap, v));
                }
                r.end()?;
                self.host = HostDescription {
                    vendor,
                    cpu_vendor,
                    kvm_api_version: api,
                    backend,
                    capabilities: caps,
                };
            }
            section::VCPU => {
                once(seen.vcpu, "VCPU")?;
                seen.vcpu = true;
                exact(&r, 8, "VCPU")?;
                self.vcpu_id = r.u32()?;
                let off = r.offset();
                let cpl = r.u8()?;
                self.cpl = PrivilegeLevel::try_from(cpl)
                    .map_err(|_| invalid(off, "VCPU.cpl", cpl.into(), "a CPL is 0..=3"))?;
                r.zero(3, "VCPU.reserved")?;
            }
            section::REGS => {
                once(seen.regs, "REGS")?;
                seen.regs = true;
                exact(&r, Regs::SIZE, "REGS")?;
                let mut a = [0u64; 18];
                for v in &mut a {
                    *v = r.u64()?;
                }
                self.regs = Regs::from_array(a);
            }
            section::SREGS => {
                once(seen.sregs, "SREGS")?;
                seen.sregs = true;
                self.sregs = decode_sregs(&mut r)?;
            }
            section::DEBUGREGS => {
                once(self.debug_regs.is_some(), "DEBUGREGS")?;
                exact(&r, raw_size::DEBUGREGS, "DEBUGREGS")?;
                self.debug_regs = Some(payload.to_vec());
            }
            section::MSRS => {
                once(seen.msrs, "MSRS")?;
                seen.msrs = true;
                self.msrs = decode_pairs(&mut r, "MSRS")?
                    .into_iter()
                    .map(|(index, value)| MsrEntry { index, value })
                    .collect();
            }
            section::FPU => {
                once(self.fpu.is_some(), "FPU")?;
                exact(&r, raw_size::FPU, "FPU")?;
                self.fpu = Some(payload.to_vec());
            }
            section::XSAVE => {
                once(self.xsave.is_some(), "XSAVE")?;
                if payload.len() < raw_size::XSAVE_MIN || payload.len() % 4 != 0 {
                    return Err(invalid(
                        header_offset + 4,
                        "XSAVE section length",
                        payload.len() as u64,
                        "an XSAVE image is at least 576 bytes, a multiple of 4",
                    ));
                }
                self.xsave = Some(payload.to_vec());
            }
            section::XCRS => {
                once(self.xcrs.is_some(), "XCRS")?;
                let pairs = decode_pairs(&mut r, "XCRS")?;
                if pairs.len() > 16 {
                    return Err(invalid(
                        r.base,
                        "XCRS.count",
                        pairs.len() as u64,
                        "KVM carries at most 16 XCRs",
                    ));
                }
                self.xcrs = Some(
                    pairs
                        .into_iter()
                        .map(|(index, value)| Xcr { index, value })
                        .collect(),
                );
            }
            section::VCPU_EVENTS => {
                once(self.vcpu_events.is_some(), "VCPU_EVENTS")?;
                exact(&r, raw_size::VCPU_EVENTS, "VCPU_EVENTS")?;
                self.vcpu_events = Some(payload.to_vec());
            }
            section::LAPIC => {
                once(self.lapic.is_some(), "LAPIC")?;
                exact(&r, raw_size::LAPIC, "LAPIC")?;
                self.lapic = Some(payload.to_vec());
            }
            section::MP_STATE => {
                once(self.mp_state.is_some(), "MP_STATE")?;
                exact(&r, 4, "MP_STATE")?;
                let off = r.offset();
                let v = r.u32()?;
                if v > MAX_MP_STATE {
                    return Err(invalid(
                        off,
                        "MP_STATE.mp_state",
                        v.into(),
                        "KVM defines 0..=10",
                    ));
                }
                self.mp_state = Some(v);
            }
            section::CPUID => {
                once(self.cpuid.is_some(), "CPUID")?;
                let off = r.offset();
                let n = r.u32()? as usize;
                r.zero(4, "CPUID.reserved")?;
                if n.checked_mul(raw_size::CPUID_ENTRY).map(|b| b + 8) != Some(payload.len()) {
                    return Err(invalid(
                        off,
                        "CPUID.count",
                        n as u64,
                        "disagrees with the section length (8 + 40 * count)",
                    ));
                }
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let mut e = [0u8; raw_size::CPUID_ENTRY];
                    e.copy_from_slice(r.take(raw_size::CPUID_ENTRY)?);
                    entries.push(e);
                }
                self.cpuid = Some(entries);
            }
            section::MEMORY => {
                let gpa_off = r.offset();
                let gpa = r.u64()?;
                r.zero(8, "MEMORY.flags")?;
                let data = &payload[r.pos..];
                if gpa.checked_add(data.len() as u64).is_none() {
                    return Err(invalid(
                        gpa_off,
                        "MEMORY.gpa",
                        gpa,
                        "region wraps around the address space",
                    ));
                }
                if let Some(prev) = self.memory.last() {
                    let prev_end = prev.gpa + prev.data.len() as u64;
                    if gpa < prev_end {
                        return Err(invalid(
                            gpa_off,
                            "MEMORY.gpa",
                            gpa,
                            "regions must be in ascending order without overlap",
                        ));
                    }
                }
                self.memory.push(MemoryRegion {
                    gpa,
                    data: data.to_vec(),
                });
            }
            _ if flags & FLAG_SKIPPABLE != 0 => {}
            _ => {
                return Err(DecodeError::UnknownMandatorySection {
                    id,
                    offset: header_offset,
                });
            }
        }
        Ok(())
    }
}

/// One section as found in a file (for `inspect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// Offset of the section header.
    pub offset: usize,
    /// Section id.
    pub id: u16,
    /// Flags.
    pub flags: u16,
    /// Payload length.
    pub len: usize,
}

/// The sections of a file that [`VcpuSnapshot::decode`] accepted, in order.
#[must_use]
pub fn sections(bytes: &[u8]) -> Vec<SectionInfo> {
    let mut out = Vec::new();
    if bytes.len() < HEADER_SIZE + TRAILER_SIZE {
        return out;
    }
    let end = bytes.len() - TRAILER_SIZE;
    let mut pos = HEADER_SIZE;
    while end.saturating_sub(pos) >= SECTION_HEADER_SIZE {
        let len = le_u32(bytes, pos + 4) as usize;
        out.push(SectionInfo {
            offset: pos,
            id: le_u16(bytes, pos),
            flags: le_u16(bytes, pos + 2),
            len,
        });
        match (pos + SECTION_HEADER_SIZE).checked_add(len) {
            Some(p) if p <= end => pos = p,
            _ => break,
        }
    }
    out
}
