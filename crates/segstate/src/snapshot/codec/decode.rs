//! Reading a snapshot: every section checked against the decode limit, its
//! length and its values, each error naming the offset and field.

use super::*;
use crate::format::kvm::KvmSegment;
use crate::format::{le_u16, le_u32, le_u64};

/// A cursor over one section's payload that reports absolute offsets.
pub(super) struct Reader<'a> {
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
    /// A section that is one raw C struct of exactly `size` bytes, kept as its bytes;
    /// `slot` already holding one is a duplicate section.
    fn raw_once(&self, slot: &mut Option<Vec<u8>>, size: usize) -> Result<(), DecodeError> {
        if slot.is_some() {
            return Err(DecodeError::DuplicateSection {
                name: self.what,
                offset: self.base - SECTION_HEADER_SIZE,
            });
        }
        exact(self, size, self.what)?;
        *slot = Some(self.bytes.to_vec());
        Ok(())
    }
    /// A count read at `offset` must say how many `stride`-byte entries are left.
    fn entries_left(
        &self,
        offset: usize,
        count: usize,
        stride: usize,
        field: &'static str,
        reason: &'static str,
    ) -> Result<(), DecodeError> {
        if count.checked_mul(stride) == Some(self.bytes.len() - self.pos) {
            Ok(())
        } else {
            Err(invalid(offset, field, count as u64, reason))
        }
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

pub(super) fn invalid(
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

pub(super) fn exact(r: &Reader<'_>, len: usize, what: &'static str) -> Result<(), DecodeError> {
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

pub(super) fn decode_sregs(r: &mut Reader<'_>) -> Result<KvmSregs, DecodeError> {
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
            // Every field the strict decode names is one of the struct's.
            let field_off = KvmSegment::field_offset(e.field).unwrap_or(KvmSegment::SIZE - 1);
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

pub(super) fn decode_pairs(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<Vec<(u32, u64)>, DecodeError> {
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
pub(super) struct Seen {
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
        // The header's two reserved fields, a u16 at 14 and a u32 at 28, each whole.
        let reserved = [
            (14, le_u16(bytes, 14).into()),
            (28, le_u32(bytes, 28).into()),
        ];
        if let Some((offset, value)) = reserved.into_iter().find(|&(_, value)| value != 0) {
            return Err(invalid(offset, "header.reserved", value, "must be zero"));
        }
        let count = le_u32(bytes, 24);

        // The VCPU section is mandatory and sets the CPL (a file without one is refused
        // after the loop), so this placeholder never leaves the decoder.
        let mut snap =
            VcpuSnapshot::new(PrivilegeLevel::Ring0, Regs::default(), KvmSregs::default());
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
                let reason = "disagrees with the section length";
                r.entries_left(n_off, n, 8, "HOST.capability_count", reason)?;
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
            section::DEBUGREGS => r.raw_once(&mut self.debug_regs, raw_size::DEBUGREGS)?,
            section::MSRS => {
                once(seen.msrs, "MSRS")?;
                seen.msrs = true;
                self.msrs = decode_pairs(&mut r, "MSRS")?
                    .into_iter()
                    .map(|(index, value)| MsrEntry { index, value })
                    .collect();
            }
            section::FPU => r.raw_once(&mut self.fpu, raw_size::FPU)?,
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
            section::VCPU_EVENTS => r.raw_once(&mut self.vcpu_events, raw_size::VCPU_EVENTS)?,
            section::LAPIC => r.raw_once(&mut self.lapic, raw_size::LAPIC)?,
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
                let reason = "disagrees with the section length (8 + 40 * count)";
                r.entries_left(off, n, raw_size::CPUID_ENTRY, "CPUID.count", reason)?;
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
