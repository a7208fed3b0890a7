//! Formats 1 to 8 (Firecracker 1.7 to 1.14, bincode with fixed-width integers): the
//! types in front of the device states, per format, and the decode.
//!
//! bincode writes a value's fields one after the other, so the vCPUs are reached by
//! reading, in order, what `MicrovmState` holds before them, and the reader stops there:
//! the device states after them (eight formats of them) are not decoded; the file's
//! CRC-64, checked first, covers them. Written from each release's
//! `src/vmm/src/persist.rs` (`MicrovmState`, `VmInfo`), its x86_64 `VmState` and
//! `VcpuState`, `vstate/memory.rs` and `vstate/resources.rs`, at the tags named below.
//!
//! | format | Firecracker | before the vCPUs |
//! |---|---|---|
//! | 1.0 | v1.7 | `vm_info`, `memory_state` (regions with `offset`), `vm_state` (the PIT, clock and irqchips, then `kvm_cap_modifiers`) |
//! | 2.0, 3.0, 4.0 | v1.8; v1.9 and v1.10.0; v1.10.1 | the same (the devices after them differ) |
//! | 5.0 | v1.11 | `vm_info`, `memory_state` (no `offset`), `kvm_state`, `vm_state` (no capabilities) |
//! | 6.0 | v1.12 | `vm_info`, `kvm_state`, `vm_state` (the memory first) |
//! | 8.0 | v1.13 | the same, `vm_state` with the resource allocator after the memory |
//! | 8.0 | v1.14 | the same, memory regions with their type and plug bitmap, a fourth address allocator |
//!
//! Firecracker 1.14 kept the version 8.0.0 of 1.13 while its `VmState` changed, so an
//! 8.x file is read with 1.14's layout and, where that does not decode, with 1.13's.
//! Format 7 was never released.
//!
//! How kvm-bindings structs were written: Firecracker 1.7 used its fork of kvm-bindings
//! (`v0.7.0-2`), whose structs derive serde field by field; in bincode that is each
//! struct's C bytes with no length ([`Fields`]). From 1.8 (kvm-bindings 0.8) they are
//! `serialize_bytes` of the C bytes: a `u64` length, then the bytes ([`Bytes`]). Both
//! were checked by serialising every struct read here with each crate and bincode 1.3.3.
//! Up to format 5 the XSAVE area is a plain `kvm_xsave` (4096 bytes); from 6 it is
//! `Xsave`, a `FamStructWrapper<kvm_xsave2>` as in formats 9 to 11.

#![allow(dead_code)] // Mirrored fields are decoded to keep the layout, not all are read.

use std::fmt::Debug;
use std::string::String;
use std::vec::Vec;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};

use super::bincode::{Error, Reader};
use super::layout::{self, AddressAllocator, KvmState};
use super::v10::{HugePageConfig, IdAllocator, ResourceAllocator};
use crate::snapshot::raw_size;

/// `struct kvm_pit_state2`.
pub(crate) const PIT_STATE2: usize = 112;
/// `struct kvm_clock_data`.
pub(crate) const CLOCK_DATA: usize = 48;
/// `struct kvm_irqchip`.
pub(crate) const IRQCHIP: usize = 520;
/// `struct kvm_xcrs`.
pub(crate) const XCRS: usize = 392;
/// `struct kvm_mp_state`.
pub(crate) const MP_STATE: usize = 4;
/// `struct kvm_msr_entry`.
pub(crate) const MSR_ENTRY: usize = 16;
/// The headers of `struct kvm_cpuid2` and `struct kvm_msrs` (a count and a pad).
pub(crate) const FAM_HEADER: usize = 8;

/// How a kvm-bindings version wrote its structs: the type a struct of `N` C bytes
/// decodes as.
pub(crate) trait Bindings {
    /// A struct of `N` C bytes, as written.
    type Struct<const N: usize>: DeserializeOwned + Debug + Into<Vec<u8>>;
}

/// kvm-bindings 0.8 and later: `serialize_bytes` of the C bytes.
#[derive(Debug)]
pub(crate) enum Bytes {}

impl Bindings for Bytes {
    type Struct<const N: usize> = Vec<u8>;
}

/// Firecracker's kvm-bindings fork `v0.7.0-2`: derived serde, the fields in C order,
/// which for these structs (no implicit padding) are the C bytes, with no length.
#[derive(Debug)]
pub(crate) enum Fields {}

impl Bindings for Fields {
    type Struct<const N: usize> = FixedBytes<N>;
}

/// `N` bytes with no length before them.
#[derive(Debug)]
pub(crate) struct FixedBytes<const N: usize>(Vec<u8>);

impl<const N: usize> From<FixedBytes<N>> for Vec<u8> {
    fn from(b: FixedBytes<N>) -> Self {
        b.0
    }
}

impl<'de, const N: usize> Deserialize<'de> for FixedBytes<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = FixedBytes<N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{N} bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FixedBytes<N>, A::Error> {
                let mut out = Vec::with_capacity(N);
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                if out.len() == N {
                    Ok(FixedBytes(out))
                } else {
                    Err(de::Error::invalid_length(out.len(), &self))
                }
            }
        }
        d.deserialize_tuple(N, V::<N>)
    }
}

/// `vstate::memory::GuestMemoryRegionState` in formats 1 to 4.
#[derive(Debug, Deserialize)]
pub(crate) struct RegionWithOffset {
    pub base_address: u64,
    pub size: u64,
    pub offset: u64,
}

/// `vstate::memory::GuestMemoryRegionState` in formats 5, 6 and 8 (Firecracker 1.13).
#[derive(Debug, Deserialize)]
pub(crate) struct Region {
    pub base_address: u64,
    pub size: u64,
}

/// `vstate::memory::GuestMemoryState` over the format's region.
#[derive(Debug, Deserialize)]
pub(crate) struct Memory<R> {
    pub regions: Vec<R>,
}

/// The PIT, the KVM clock and the three irqchips, as every format's x86_64 `VmState`
/// holds them.
#[derive(Debug, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Chips<B: Bindings> {
    pub pitstate: B::Struct<PIT_STATE2>,
    pub clock: B::Struct<CLOCK_DATA>,
    pub pic_master: B::Struct<IRQCHIP>,
    pub pic_slave: B::Struct<IRQCHIP>,
    pub ioapic: B::Struct<IRQCHIP>,
}

/// `vstate::vm::VmState` (x86_64) in formats 1 to 4.
#[derive(Debug, Deserialize)]
#[serde(bound = "")]
pub(crate) struct VmStateWithCaps<B: Bindings> {
    pub chips: Chips<B>,
    pub kvm_cap_modifiers: Vec<String>,
}

/// `vstate::resources::ResourceAllocator` in Firecracker 1.13 (format 8).
#[derive(Debug, Deserialize)]
pub(crate) struct ResourceAllocator13 {
    pub gsi_legacy_allocator: IdAllocator,
    pub gsi_msi_allocator: IdAllocator,
    pub mmio32_memory: AddressAllocator,
    pub mmio64_memory: AddressAllocator,
    pub system_memory: AddressAllocator,
}

/// `arch::x86_64::vm::VmState` from format 6: the memory `M`, the saved resource
/// allocator `R` (`()` where the format has none), the chips.
#[derive(Debug, Deserialize)]
pub(crate) struct VmState<M, R> {
    pub memory: M,
    pub resource_allocator: R,
    pub chips: Chips<Bytes>,
}

/// `VcpuState` (x86_64) in formats 1 to 5: its XSAVE area a plain `kvm_xsave`.
#[derive(Debug, Deserialize)]
#[serde(bound = "")]
pub(crate) struct VcpuStateKvmXsave<B: Bindings> {
    /// `CpuId`: (`kvm_cpuid2` header, `kvm_cpuid_entry2`s).
    pub cpuid: (
        B::Struct<FAM_HEADER>,
        Vec<B::Struct<{ raw_size::CPUID_ENTRY }>>,
    ),
    /// `Vec<Msrs>`: each (`kvm_msrs` header, `kvm_msr_entry`s).
    pub saved_msrs: Vec<(B::Struct<FAM_HEADER>, Vec<B::Struct<MSR_ENTRY>>)>,
    pub debug_regs: B::Struct<{ raw_size::DEBUGREGS }>,
    pub lapic: B::Struct<{ raw_size::LAPIC }>,
    pub mp_state: B::Struct<MP_STATE>,
    pub regs: B::Struct<{ crate::snapshot::Regs::SIZE }>,
    pub sregs: B::Struct<{ crate::format::kvm::KvmSregs::SIZE }>,
    pub vcpu_events: B::Struct<{ raw_size::VCPU_EVENTS }>,
    pub xcrs: B::Struct<XCRS>,
    pub xsave: B::Struct<{ raw_size::XSAVE_LEGACY }>,
    pub tsc_khz: Option<u32>,
}

impl<B: Bindings> From<VcpuStateKvmXsave<B>> for layout::VcpuState {
    fn from(v: VcpuStateKvmXsave<B>) -> Self {
        fn fam<H: Into<Vec<u8>>, E: Into<Vec<u8>>>((h, e): (H, Vec<E>)) -> (Vec<u8>, Vec<Vec<u8>>) {
            (h.into(), e.into_iter().map(Into::into).collect())
        }
        layout::VcpuState {
            cpuid: fam(v.cpuid),
            saved_msrs: v.saved_msrs.into_iter().map(fam).collect(),
            debug_regs: v.debug_regs.into(),
            lapic: v.lapic.into(),
            mp_state: v.mp_state.into(),
            regs: v.regs.into(),
            sregs: v.sregs.into(),
            vcpu_events: v.vcpu_events.into(),
            xcrs: v.xcrs.into(),
            xsave: (v.xsave.into(), Vec::new()),
            tsc_khz: v.tsc_khz,
        }
    }
}

/// `persist::VmInfo`: the same in formats 1 to 8.
type VmInfo = layout::VmInfo<HugePageConfig>;

/// Formats 1 to 4: `vm_info`, `memory_state`, `vm_state`, then the vCPUs.
#[derive(Debug, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Before5<B: Bindings> {
    pub vm_info: VmInfo,
    pub memory_state: Memory<RegionWithOffset>,
    pub vm_state: VmStateWithCaps<B>,
    pub vcpu_states: Vec<VcpuStateKvmXsave<B>>,
}

/// Format 5: `vm_info`, `memory_state`, `kvm_state`, `vm_state`, then the vCPUs.
#[derive(Debug, Deserialize)]
pub(crate) struct Format5 {
    pub vm_info: VmInfo,
    pub memory_state: Memory<Region>,
    pub kvm_state: KvmState,
    pub vm_state: Chips<Bytes>,
    pub vcpu_states: Vec<VcpuStateKvmXsave<Bytes>>,
}

/// Formats 6 and 8: `vm_info`, `kvm_state`, `vm_state` (`S`), then the vCPUs with
/// `Xsave` as formats 9 to 11 have them.
#[derive(Debug, Deserialize)]
pub(crate) struct From6<S> {
    pub vm_info: VmInfo,
    pub kvm_state: KvmState,
    pub vm_state: S,
    pub vcpu_states: Vec<layout::VcpuState>,
}

/// Format 6 (Firecracker 1.12).
type Format6 = From6<VmState<Memory<Region>, ()>>;
/// Format 8 as Firecracker 1.13 wrote it.
type Format8Of113 = From6<VmState<Memory<Region>, ResourceAllocator13>>;
/// Format 8 as Firecracker 1.14 wrote it: format 9's `VmState`.
type Format8Of114 = From6<layout::VmState<ResourceAllocator>>;

/// Which layout read an 8.x file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The only layout of the format.
    Only,
    /// Firecracker 1.14's layout of format 8.
    Of114,
    /// Firecracker 1.13's layout of format 8.
    Of113,
}

impl Layout {
    /// What a note on the file says about it.
    pub(crate) fn note(self) -> Option<&'static str> {
        match self {
            Layout::Only => None,
            Layout::Of114 => Some("Firecracker 1.14's layout"),
            Layout::Of113 => Some("Firecracker 1.13's layout"),
        }
    }
}

fn vcpus_of<T: DeserializeOwned>(
    body: &[u8],
    at: usize,
    into: impl FnOnce(T) -> Vec<layout::VcpuState>,
) -> Result<Vec<layout::VcpuState>, Error> {
    Reader::new(body, at, "data").read::<T>().map(into)
}

/// The vCPUs of a format-`major` file whose data starts at `at` in `body`, and the
/// layout that read them.
///
/// # Errors
///
/// [`Error`] with the field path and offset where the bytes stopped following the
/// layout (for an 8.x file, the error of the layout that read further).
pub(crate) fn vcpu_states(
    body: &[u8],
    at: usize,
    major: u64,
) -> Result<(Vec<layout::VcpuState>, Layout), Error> {
    let before5 = |v: Before5<Bytes>| v.vcpu_states.into_iter().map(Into::into).collect();
    let from6 = |v: Vec<layout::VcpuState>| v;
    let only = |r: Result<Vec<layout::VcpuState>, Error>| r.map(|v| (v, Layout::Only));
    match major {
        1 => only(vcpus_of(body, at, |v: Before5<Fields>| {
            v.vcpu_states.into_iter().map(Into::into).collect()
        })),
        2..=4 => only(vcpus_of(body, at, before5)),
        5 => only(vcpus_of(body, at, |v: Format5| {
            v.vcpu_states.into_iter().map(Into::into).collect()
        })),
        6 => only(vcpus_of(body, at, |v: Format6| from6(v.vcpu_states))),
        _ => match vcpus_of(body, at, |v: Format8Of114| v.vcpu_states) {
            Ok(v) => Ok((v, Layout::Of114)),
            Err(e114) => match vcpus_of(body, at, |v: Format8Of113| v.vcpu_states) {
                Ok(v) => Ok((v, Layout::Of113)),
                Err(e113) => Err(if e113.offset > e114.offset {
                    e113
                } else {
                    e114
                }),
            },
        },
    }
}
