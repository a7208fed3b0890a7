//! The KVM vCPU state of Cloud Hypervisor v15 to v38, serialised with the derived serde
//! of Cloud Hypervisor's kvm-bindings fork (`with-serde`: the bindgen structs by field
//! name; branches `ch-v0.4.0` for v15–v18, `ch-v0.5.0` v19–v21, `ch-v0.5.0-tdx` v22–v28,
//! `ch-v0.6.0-tdx` v29–v37, `ch-v0.7.0` v38, as each tag's `Cargo.toml` patches it).
//!
//! - v15–v25 (`hypervisor/src/kvm/x86_64/mod.rs`, tag `v25.0`): the vCPU's state is the
//!   bare `VcpuKvmState {cpuid, msrs, vcpu_events, regs, sregs, fpu, lapic_state, xsave,
//!   xcrs, mp_state}` of kvm-bindings types. `msrs` is `kvm_bindings::Msrs`, a
//!   `FamStructWrapper<kvm_msrs>` that vmm-sys-util serialises as the tuple
//!   `[{"nmsrs": n}, [kvm_msr_entry…]]` (`src/fam.rs`, 0.8.0; `kvm_msrs.pad` and
//!   `entries` are `serde(skip)`), and `lapic_state` is `kvm_lapic_state`, which the fork
//!   serialises as its bare `regs` array (`src/x86/serializers.rs`).
//! - v26–v38 (tags `v26.0` to `v38.0`): `hypervisor::CpuState::Kvm(VcpuKvmState)`, with
//!   Cloud Hypervisor's own `MsrEntry {index, data}` and `LapicState {regs}`
//!   (`hypervisor/src/arch/x86/mod.rs`); `regs`, `sregs`, `vcpu_events` and `mp_state`
//!   stay the fork's derived structs. v35 adds `tsc_khz`.
//!
//! `kvm_vcpu_events` has two derived shapes: the 27 reserved bytes of the kernel 4.20
//! headers (the fork up to `ch-v0.6.0-tdx`, on rust-vmm kvm-bindings ≤ 0.6) and
//! `triple_fault` plus 26 reserved bytes (`ch-v0.7.0`, on kvm-bindings 0.7). Both are
//! laid out here as the 64 C bytes the v39+ layout stores.

use std::boxed::Box;
use std::format;
use std::vec::Vec;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny};

use super::named::{ForkDtable, NamedRegs, NamedSregs};
use super::{ChMsrEntry, LapicState, MshvVcpu};
use crate::ingest::foreign::Reason;
use crate::snapshot::{MsrEntry, raw_size};

/// The fork's derived `kvm_sregs`.
pub(super) type ForkSregs = NamedSregs<ForkDtable>;

/// `kvm_mp_state`, derived.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MpState {
    pub(super) mp_state: u32,
}

/// `kvm_msr_entry`, derived (v15–v25).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForkMsrEntry {
    index: u32,
    /// Not part of the MSR (KVM_SET_MSRS ignores it).
    #[serde(rename = "reserved")]
    _reserved: u32,
    data: u64,
}

/// `kvm_msrs`' serialised header: `pad` and `entries` are skipped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MsrsHeader {
    nmsrs: u32,
}

/// `kvm_bindings::Msrs` as vmm-sys-util serialises a `FamStructWrapper`: the header,
/// then the entries.
#[derive(Deserialize)]
pub(super) struct FamMsrs(MsrsHeader, Vec<ForkMsrEntry>);

impl FamMsrs {
    /// The entries, when the header counts them right (vmm-sys-util's deserialiser
    /// builds the wrapper from the entries and the header's `nmsrs` with them).
    pub(super) fn entries(&self) -> Result<Vec<MsrEntry>, Reason> {
        let FamMsrs(header, entries) = self;
        if header.nmsrs as usize != entries.len() {
            return Err(Reason::Layout(format!(
                "kvm_msrs.nmsrs is {} but {} entries follow",
                header.nmsrs,
                entries.len()
            )));
        }
        Ok(entries
            .iter()
            .map(|e| MsrEntry {
                index: e.index,
                value: e.data,
            })
            .collect())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exception {
    injected: u8,
    nr: u8,
    has_error_code: u8,
    pending: u8,
    error_code: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Interrupt {
    injected: u8,
    nr: u8,
    soft: u8,
    shadow: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Nmi {
    injected: u8,
    pending: u8,
    masked: u8,
    pad: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Smi {
    smm: u8,
    pending: u8,
    smm_inside_nmi: u8,
    latched_init: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TripleFault {
    pending: u8,
}

/// A field that may be absent but, when present, is never `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `kvm_vcpu_events`, derived: with `triple_fault` (kvm-bindings 0.7) or without.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForkVcpuEvents {
    exception: Exception,
    interrupt: Interrupt,
    nmi: Nmi,
    sipi_vector: u32,
    flags: u32,
    smi: Smi,
    #[serde(default, deserialize_with = "present")]
    triple_fault: Option<TripleFault>,
    reserved: Vec<u8>,
    exception_has_payload: u8,
    exception_payload: u64,
}

impl ForkVcpuEvents {
    /// The 64 bytes of `struct kvm_vcpu_events` (`include/uapi/linux/kvm.h`, x86):
    /// exception at 0, interrupt at 8, nmi at 12, sipi_vector at 16, flags at 20, smi at
    /// 24, then `triple_fault.pending` at 28 when present, the reserved bytes up to 55,
    /// exception_has_payload at 55 and exception_payload at 56.
    pub(super) fn to_bytes(&self) -> Result<Vec<u8>, Reason> {
        let reserved_len = if self.triple_fault.is_some() { 26 } else { 27 };
        if self.reserved.len() != reserved_len {
            return Err(Reason::WrongLength {
                what: if self.triple_fault.is_some() {
                    "kvm_vcpu_events.reserved (with triple_fault)"
                } else {
                    "kvm_vcpu_events.reserved (without triple_fault)"
                },
                expected: reserved_len,
                found: self.reserved.len(),
            });
        }
        let e = &self.exception;
        let i = &self.interrupt;
        let n = &self.nmi;
        let s = &self.smi;
        let mut out = Vec::with_capacity(raw_size::VCPU_EVENTS);
        out.extend_from_slice(&[e.injected, e.nr, e.has_error_code, e.pending]);
        out.extend_from_slice(&e.error_code.to_le_bytes());
        out.extend_from_slice(&[i.injected, i.nr, i.soft, i.shadow]);
        out.extend_from_slice(&[n.injected, n.pending, n.masked, n.pad]);
        out.extend_from_slice(&self.sipi_vector.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&[s.smm, s.pending, s.smm_inside_nmi, s.latched_init]);
        if let Some(t) = &self.triple_fault {
            out.push(t.pending);
        }
        out.extend_from_slice(&self.reserved);
        out.push(self.exception_has_payload);
        out.extend_from_slice(&self.exception_payload.to_le_bytes());
        Ok(out)
    }
}

/// `VcpuKvmState` of v15–v25, bare (not in a `CpuState`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BareKvmVcpu {
    #[serde(rename = "cpuid")]
    _cpuid: IgnoredAny,
    pub(super) msrs: FamMsrs,
    pub(super) vcpu_events: ForkVcpuEvents,
    pub(super) regs: NamedRegs,
    pub(super) sregs: ForkSregs,
    #[serde(rename = "fpu")]
    _fpu: IgnoredAny,
    /// `kvm_lapic_state`: the fork serialises only its `regs` array.
    pub(super) lapic_state: Vec<i8>,
    #[serde(rename = "xsave")]
    _xsave: IgnoredAny,
    #[serde(rename = "xcrs")]
    _xcrs: IgnoredAny,
    pub(super) mp_state: MpState,
}

/// `VcpuKvmState` of v26–v38.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForkKvmVcpu {
    #[serde(rename = "cpuid")]
    _cpuid: IgnoredAny,
    pub(super) msrs: Vec<ChMsrEntry>,
    pub(super) vcpu_events: ForkVcpuEvents,
    pub(super) regs: NamedRegs,
    pub(super) sregs: ForkSregs,
    #[serde(rename = "fpu")]
    _fpu: IgnoredAny,
    pub(super) lapic_state: LapicState,
    #[serde(rename = "xsave")]
    _xsave: IgnoredAny,
    #[serde(rename = "xcrs")]
    _xcrs: IgnoredAny,
    pub(super) mp_state: MpState,
    /// v35 on.
    #[serde(rename = "tsc_khz", default)]
    _tsc_khz: IgnoredAny,
}

/// `hypervisor::CpuState` of v26–v38, externally tagged (`hypervisor/src/lib.rs`).
#[derive(Deserialize)]
pub(super) enum ForkCpuState {
    Kvm(Box<ForkKvmVcpu>),
    Mshv(Box<MshvVcpu>),
}

/// How the bytes of a v15–v28 `vcpu-section` start: `null` (no state saved), a
/// `CpuState` tag (v26–v28) or a bare `VcpuKvmState` field (v15–v25). Only the first
/// token or key is looked at; the decoder that follows checks the rest.
pub(super) enum SectionStart {
    Null,
    Tagged,
    Bare,
}

/// The start of `bytes` ([`SectionStart`]).
pub(super) fn section_start(bytes: &[u8]) -> SectionStart {
    let rest = bytes.trim_ascii_start();
    if rest.starts_with(b"null") {
        return SectionStart::Null;
    }
    let Some(object) = rest.strip_prefix(b"{") else {
        return SectionStart::Bare;
    };
    let key = object.trim_ascii_start();
    if key.starts_with(b"\"Kvm\"") || key.starts_with(b"\"Mshv\"") {
        SectionStart::Tagged
    } else {
        SectionStart::Bare
    }
}
