//! The kvm-bindings structs a [`VcpuSnapshot`] keeps as raw sections, to and from
//! their bytes.
//!
//! The sections are the C structs byte for byte (docs/snapshot-format.md), so
//! kvm-bindings' own zerocopy derives (its `serde` feature) are the codec for every
//! struct that has them; `kvm_fpu` has none and is written out field by field here.
//! A section of the wrong size is an error naming the section, never a panic.

use kvm_bindings::{
    CpuId, kvm_cpuid_entry2, kvm_fpu, kvm_mp_state, kvm_msr_entry, kvm_sregs, kvm_vcpu_events,
    kvm_xcr, kvm_xcrs,
};
use segstate::format::kvm::KvmSregs;
use segstate::snapshot::{HostDescription, MsrEntry, VcpuSnapshot, Xcr, raw_size};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::SnapshotError;
use crate::vcpu_state::VcpuState;

/// The bytes of a kvm-bindings struct, as its C layout has them.
fn raw<T: IntoBytes + Immutable>(x: &T) -> Vec<u8> {
    x.as_bytes().to_vec()
}

/// A kvm-bindings struct from exactly its size in bytes.
fn from_raw<T: FromBytes>(section: &'static str, bytes: &[u8]) -> Result<T, SnapshotError> {
    T::read_from_bytes(bytes).map_err(|_| SnapshotError::SectionSize {
        section,
        bytes: bytes.len(),
        expected: size_of::<T>(),
    })
}

/// `struct kvm_vcpu_events` from its 64 bytes.
pub(super) fn events_from(bytes: &[u8]) -> Result<kvm_vcpu_events, SnapshotError> {
    from_raw("VCPU_EVENTS", bytes)
}

fn cpuid_entry_bytes(e: &kvm_cpuid_entry2) -> [u8; raw_size::CPUID_ENTRY] {
    let mut out = [0u8; raw_size::CPUID_ENTRY];
    out.copy_from_slice(e.as_bytes());
    out
}

/// `struct kvm_fpu` as docs/snapshot-format.md lays it out (no implicit padding).
fn fpu_bytes(f: &kvm_fpu) -> Vec<u8> {
    let mut b = Vec::with_capacity(raw_size::FPU);
    for r in &f.fpr {
        b.extend_from_slice(r);
    }
    b.extend_from_slice(&f.fcw.to_le_bytes());
    b.extend_from_slice(&f.fsw.to_le_bytes());
    b.push(f.ftwx);
    b.push(f.pad1);
    b.extend_from_slice(&f.last_opcode.to_le_bytes());
    b.extend_from_slice(&f.last_ip.to_le_bytes());
    b.extend_from_slice(&f.last_dp.to_le_bytes());
    for x in &f.xmm {
        b.extend_from_slice(x);
    }
    b.extend_from_slice(&f.mxcsr.to_le_bytes());
    b.extend_from_slice(&f.pad2.to_le_bytes());
    b
}

fn fpu_from(b: &[u8]) -> Result<kvm_fpu, SnapshotError> {
    let b: &[u8; raw_size::FPU] = b.try_into().map_err(|_| SnapshotError::SectionSize {
        section: "FPU",
        bytes: b.len(),
        expected: raw_size::FPU,
    })?;
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let u64_at = |o: usize| u64::from(u32_at(o)) | u64::from(u32_at(o + 4)) << 32;
    let mut f = kvm_fpu::default();
    for (i, r) in f.fpr.iter_mut().enumerate() {
        r.copy_from_slice(&b[16 * i..16 * i + 16]);
    }
    f.fcw = u16_at(128);
    f.fsw = u16_at(130);
    f.ftwx = b[132];
    f.pad1 = b[133];
    f.last_opcode = u16_at(134);
    f.last_ip = u64_at(136);
    f.last_dp = u64_at(144);
    for (i, x) in f.xmm.iter_mut().enumerate() {
        x.copy_from_slice(&b[152 + 16 * i..168 + 16 * i]);
    }
    f.mxcsr = u32_at(408);
    f.pad2 = u32_at(412);
    Ok(f)
}

/// The XCRs KVM reported (its `nr_xcrs` first entries).
pub(super) fn xcrs_to(x: &kvm_xcrs) -> Vec<Xcr> {
    let n = (x.nr_xcrs as usize).min(x.xcrs.len());
    x.xcrs[..n]
        .iter()
        .map(|x| Xcr {
            index: x.xcr,
            value: x.value,
        })
        .collect()
}

fn xcrs_from(v: &[Xcr]) -> kvm_xcrs {
    let mut x = kvm_xcrs {
        nr_xcrs: v.len().min(16) as u32,
        ..Default::default()
    };
    for (slot, e) in x.xcrs.iter_mut().zip(v) {
        *slot = kvm_xcr {
            xcr: e.index,
            reserved: 0,
            value: e.value,
        };
    }
    x
}

impl VcpuSnapshotExt for VcpuSnapshot {
    fn from_state(state: &VcpuState, msrs: Vec<MsrEntry>, host: HostDescription) -> Self {
        let sregs = KvmSregs::from(state.sregs);
        VcpuSnapshot {
            host,
            vcpu_id: 0,
            // KVM's convention: SS.DPL is the CPL (KVM SVM reports VMCB.CPL there
            // since 4.12; VMX reads it from the AR bytes). From here on it is explicit.
            cpl: sregs.cpl(),
            regs: state.regs.into(),
            sregs,
            debug_regs: state.debug_regs.as_ref().map(raw),
            msrs,
            // The XSAVE image contains the legacy FPU area; keep kvm_fpu only without it.
            fpu: state.xsave.is_none().then(|| fpu_bytes(&state.fpu)),
            xsave: state.xsave.as_ref().map(raw),
            xcrs: state.xcrs.as_ref().map(xcrs_to),
            vcpu_events: state.vcpu_events.as_ref().map(raw),
            lapic: state.lapic.as_ref().map(raw),
            mp_state: state.mp_state.map(|m| m.mp_state),
            cpuid: state
                .cpuid
                .as_ref()
                .map(|c| c.as_slice().iter().map(cpuid_entry_bytes).collect()),
            memory: Vec::new(),
        }
    }

    fn to_state(&self) -> Result<VcpuState, SnapshotError> {
        let cpuid = match &self.cpuid {
            Some(entries) => {
                let list: Vec<kvm_cpuid_entry2> = entries
                    .iter()
                    .map(|e| from_raw("CPUID entry", e))
                    .collect::<Result<_, _>>()?;
                Some(
                    CpuId::from_entries(&list)
                        .map_err(|_| SnapshotError::TooManyCpuidEntries(list.len()))?,
                )
            }
            None => None,
        };
        Ok(VcpuState {
            cpuid,
            regs: self.regs.into(),
            sregs: kvm_sregs::from(self.sregs),
            fpu: self
                .fpu
                .as_deref()
                .map(fpu_from)
                .transpose()?
                .unwrap_or_default(),
            // Only the legacy 4 KiB image: KVM_SET_XSAVE of a larger (XSAVE2) one would
            // need dynamic XSTATE features this process never enables.
            xsave: self
                .xsave
                .as_deref()
                .map(|b| from_raw("XSAVE", b))
                .transpose()?,
            xcrs: self.xcrs.as_deref().map(xcrs_from),
            debug_regs: self
                .debug_regs
                .as_deref()
                .map(|b| from_raw("DEBUGREGS", b))
                .transpose()?,
            msrs: self
                .msrs
                .iter()
                .map(|m| kvm_msr_entry {
                    index: m.index,
                    reserved: 0,
                    data: m.value,
                })
                .collect(),
            lapic: self
                .lapic
                .as_deref()
                .map(|b| from_raw("LAPIC", b))
                .transpose()?,
            vcpu_events: self.vcpu_events.as_deref().map(events_from).transpose()?,
            mp_state: self.mp_state.map(|mp_state| kvm_mp_state { mp_state }),
            // What the capturing host lacked is not known here; the `None`s say it.
            not_captured: Vec::new(),
        })
    }
}

/// Conversions between [`VcpuSnapshot`] and the harness's [`VcpuState`].
pub trait VcpuSnapshotExt: Sized {
    /// A snapshot of `state` with `msrs` (replacing the state's short list) taken on `host`.
    fn from_state(state: &VcpuState, msrs: Vec<MsrEntry>, host: HostDescription) -> Self;
    /// The kvm-bindings structs to restore.
    fn to_state(&self) -> Result<VcpuState, SnapshotError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvm_bindings::{kvm_debugregs, kvm_lapic_state, kvm_xsave};

    /// The structs kvm-bindings encodes are exactly the section sizes the snapshot
    /// format fixes.
    #[test]
    fn struct_sizes_are_the_section_sizes() {
        assert_eq!(size_of::<kvm_debugregs>(), raw_size::DEBUGREGS);
        assert_eq!(size_of::<kvm_fpu>(), raw_size::FPU);
        assert_eq!(size_of::<kvm_vcpu_events>(), raw_size::VCPU_EVENTS);
        assert_eq!(size_of::<kvm_lapic_state>(), raw_size::LAPIC);
        assert_eq!(size_of::<kvm_cpuid_entry2>(), raw_size::CPUID_ENTRY);
        assert_eq!(size_of::<kvm_xsave>(), raw_size::XSAVE_LEGACY);
    }

    /// kvm_vcpu_events fields land at the offsets docs/snapshot-format.md documents.
    #[test]
    fn vcpu_events_bytes_follow_the_documented_layout() {
        let mut e = kvm_vcpu_events::default();
        e.exception.nr = 13;
        e.exception.error_code = 0xdead_beef;
        e.interrupt.nr = 0x30;
        e.nmi.masked = 1;
        e.sipi_vector = 0x1234_5678;
        e.flags = 0x0f;
        e.smi.latched_init = 1;
        e.triple_fault.pending = 1;
        e.exception_has_payload = 1;
        e.exception_payload = 0x0102_0304_0506_0708;
        let b = raw(&e);
        assert_eq!(b.len(), 64);
        assert_eq!(b[1], 13);
        assert_eq!(b[4..8], 0xdead_beef_u32.to_le_bytes());
        assert_eq!(b[9], 0x30);
        assert_eq!(b[14], 1);
        assert_eq!(b[16..20], 0x1234_5678_u32.to_le_bytes());
        assert_eq!(b[20..24], 0x0f_u32.to_le_bytes());
        assert_eq!(b[27], 1);
        assert_eq!(b[28], 1);
        assert_eq!(b[55], 1);
        assert_eq!(b[56..64], 0x0102_0304_0506_0708_u64.to_le_bytes());
        assert_eq!(events_from(&b).unwrap(), e);
    }

    #[test]
    fn fpu_round_trips_at_the_documented_offsets() {
        let mut bytes = [0u8; raw_size::FPU];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7).wrapping_add(1);
        }
        let f = fpu_from(&bytes).unwrap();
        assert_eq!(f.fcw, u16::from_le_bytes([bytes[128], bytes[129]]));
        assert_eq!(f.mxcsr.to_le_bytes()[..], bytes[408..412]);
        assert_eq!(fpu_bytes(&f), bytes);
    }

    #[test]
    fn wrong_section_sizes_are_named_errors() {
        let mut snap = segstate::testing::example_user_null_ss();
        snap.xsave = Some(vec![0; raw_size::XSAVE_MIN]);
        let cases = [
            (fpu_from(&[0; 415]).map(drop), ("FPU", 415, 416)),
            (events_from(&[0; 65]).map(drop), ("VCPU_EVENTS", 65, 64)),
            (snap.to_state().map(drop), ("XSAVE", 576, 4096)),
        ];
        for (got, want) in cases {
            assert!(
                matches!(
                    got,
                    Err(SnapshotError::SectionSize { section, bytes, expected })
                        if (section, bytes, expected) == want
                ),
                "{want:?}: {got:?}"
            );
        }
    }

    /// Capture → snapshot → restore state keeps every raw section bit for bit.
    #[test]
    fn snapshot_sections_round_trip_through_the_structs() {
        let mut snap = segstate::testing::example_user_null_ss();
        let mut n = 0u8;
        let mut fill = |v: &mut Vec<u8>| {
            for b in v.iter_mut() {
                n = n.wrapping_add(31);
                *b = n;
            }
        };
        for section in [&mut snap.debug_regs, &mut snap.vcpu_events, &mut snap.lapic] {
            if let Some(v) = section.as_mut() {
                fill(v);
            }
        }
        let mut xsave = vec![0; raw_size::XSAVE_LEGACY];
        fill(&mut xsave);
        snap.xsave = Some(xsave);
        let mut cpuid = vec![0; 2 * raw_size::CPUID_ENTRY];
        fill(&mut cpuid);
        snap.cpuid = Some(
            cpuid
                .chunks_exact(raw_size::CPUID_ENTRY)
                .map(|c| c.try_into().unwrap())
                .collect(),
        );
        let state = snap.to_state().unwrap();
        let back = VcpuSnapshot::from_state(&state, snap.msrs.clone(), snap.host.clone());
        assert_eq!(back.debug_regs, snap.debug_regs);
        assert_eq!(back.vcpu_events, snap.vcpu_events);
        assert_eq!(back.lapic, snap.lapic);
        assert_eq!(back.xsave, snap.xsave);
        assert_eq!(back.cpuid, snap.cpuid);
        assert_eq!(back.sregs, snap.sregs);
        assert_eq!(back.cpl, snap.cpl);
    }
}
