//! Writing a snapshot: header, tagged sections, CRC-32C trailer.

use super::*;

pub(super) struct Writer {
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

pub(super) fn put_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
pub(super) fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
pub(super) fn put_u64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}
pub(super) fn put_str(v: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(usize::from(u16::MAX));
    put_u16(v, n as u16);
    v.extend_from_slice(&b[..n]);
}

/// An MSRS or XCRS payload: count u32, reserved u32, then per entry index u32,
/// reserved u32, value u64 (what [`super::decode::decode_pairs`] reads).
fn encode_pairs(pairs: impl ExactSizeIterator<Item = (u32, u64)>) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + 16 * pairs.len());
    put_u32(&mut p, pairs.len() as u32);
    put_u32(&mut p, 0);
    for (index, value) in pairs {
        put_u32(&mut p, index);
        put_u32(&mut p, 0);
        put_u64(&mut p, value);
    }
    p
}

pub(super) fn vendor_byte(v: Option<Vendor>) -> u8 {
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
            let pairs = self.msrs.iter().map(|m| (m.index, m.value));
            w.section(section::MSRS, 0, &encode_pairs(pairs));
        }
        if let Some(fpu) = &self.fpu {
            w.section(section::FPU, 0, fpu);
        }
        if let Some(x) = &self.xsave {
            w.section(section::XSAVE, 0, x);
        }
        if let Some(xcrs) = &self.xcrs {
            let pairs = xcrs.iter().map(|x| (x.index, x.value));
            w.section(section::XCRS, 0, &encode_pairs(pairs));
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
