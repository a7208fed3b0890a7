//! Firecracker before 1.7 (0.23 to 1.6): files written with the `versionize` crate, the
//! types in front of the device states per data version, and the decode.
//!
//! A Versionize file (firecracker `v1.6.0`, `src/snapshot/src/lib.rs`
//! `Snapshot::save`) is the magic ORed with the snapshot format version (1), a `u16`
//! data version, the `MicrovmState` as that data version has it, and the CRC-64 of
//! those bytes. versionize 0.1.10 writes primitives with bincode 1 (fixed-width, little
//! endian), a `Vec` or `String` as a `u64` length then its elements, an `Option` as a
//! `u8` tag, an enum as its `u32` variant index then its fields, a struct's fields in
//! order and an array's elements with no length: bincode's fixint encoding, read by
//! [`super::bincode`]. A struct's fields depend on the data version
//! (`#[version(start, end)]`), which `src/vmm/src/version_map.rs` maps per type:
//!
//! | data version | Firecracker | `VmInfo` | `VmState` | `VcpuState` |
//! |---|---|---|---|---|
//! | 1, 2 | 0.23, 0.24 | 1: `mem_size_mib` | 1 | 1: `msrs` (one `Msrs`) |
//! | 3 to 5 | 0.25, 1.0, 1.1 | 1 | 1 | 2: and `tsc_khz` |
//! | 6 to 8 | 1.2, 1.3, 1.4 | 2: and `smt`, `cpu_template`, `boot_source` | 1 | 3: `saved_msrs` (a `Vec<Msrs>`) |
//! | 9, 10 | 1.5, 1.6 | 2 | 2: and `kvm_cap_modifiers` | 3 |
//!
//! Firecracker's kvm-bindings fork (`v0.6.0-2`) derives `Versionize` field by field and
//! writes arrays element by element, so each struct read here is its C bytes with no
//! length ([`Fields`], as format 1 has them). The device states after the vCPUs are
//! not decoded; the CRC, checked first, covers them.

#![allow(dead_code)] // Mirrored fields are decoded to keep the layout, not all are read.

use std::vec::Vec;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::bincode::{Error, Reader};
use super::layout;
use super::legacy::{
    Bindings, Chips, FAM_HEADER, Fields, MP_STATE, MSR_ENTRY, Memory, RegionWithOffset,
    VcpuStateKvmXsave, XCRS,
};
use crate::snapshot::raw_size;

/// The snapshot format version a Versionize file ORs into its magic.
pub(crate) const FORMAT_VERSION: u64 = 1;
/// The data versions read, and the Firecracker release that wrote each (index + 1).
pub(crate) const RELEASES: [&str; 10] = [
    "0.23", "0.24", "0.25", "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6",
];

/// `persist::VmInfo` version 1.
#[derive(Debug, Deserialize)]
pub(crate) struct VmInfoV1 {
    pub mem_size_mib: u64,
}

/// `persist::VmInfo` version 2: format 1's `VmInfo` without `huge_pages`.
type VmInfoV2 = layout::VmInfo<()>;

/// `cpu_config::templates::KvmCapability`, derived `Versionize`: a variant and its cap.
#[derive(Debug, Deserialize)]
pub(crate) enum KvmCapability {
    Add(u32),
    Remove(u32),
}

/// `vstate::vm::VmState` (x86_64) version 2.
#[derive(Debug, Deserialize)]
pub(crate) struct VmStateV2 {
    pub chips: Chips<Fields>,
    pub kvm_cap_modifiers: Vec<KvmCapability>,
}

type Struct<const N: usize> = <Fields as Bindings>::Struct<N>;

/// `vstate::vcpu::VcpuState` (x86_64) versions 1 and 2: one `Msrs`, and `tsc_khz` as
/// `T` (`()` in version 1, which has none).
#[derive(Debug, Deserialize)]
pub(crate) struct VcpuStateOneMsrs<T> {
    pub cpuid: (Struct<FAM_HEADER>, Vec<Struct<{ raw_size::CPUID_ENTRY }>>),
    pub msrs: (Struct<FAM_HEADER>, Vec<Struct<MSR_ENTRY>>),
    pub debug_regs: Struct<{ raw_size::DEBUGREGS }>,
    pub lapic: Struct<{ raw_size::LAPIC }>,
    pub mp_state: Struct<MP_STATE>,
    pub regs: Struct<{ crate::snapshot::Regs::SIZE }>,
    pub sregs: Struct<{ crate::format::kvm::KvmSregs::SIZE }>,
    pub vcpu_events: Struct<{ raw_size::VCPU_EVENTS }>,
    pub xcrs: Struct<XCRS>,
    pub xsave: Struct<{ raw_size::XSAVE_LEGACY }>,
    pub tsc_khz: T,
}

/// What a `tsc_khz` field of a version holds.
pub(crate) trait TscKhz {
    fn khz(self) -> Option<u32>;
}

impl TscKhz for () {
    fn khz(self) -> Option<u32> {
        None
    }
}

impl TscKhz for Option<u32> {
    fn khz(self) -> Option<u32> {
        self
    }
}

impl<T: TscKhz> From<VcpuStateOneMsrs<T>> for layout::VcpuState {
    fn from(v: VcpuStateOneMsrs<T>) -> Self {
        let (msr_header, msrs) = v.msrs;
        VcpuStateKvmXsave::<Fields> {
            cpuid: v.cpuid,
            saved_msrs: std::vec![(msr_header, msrs)],
            debug_regs: v.debug_regs,
            lapic: v.lapic,
            mp_state: v.mp_state,
            regs: v.regs,
            sregs: v.sregs,
            vcpu_events: v.vcpu_events,
            xcrs: v.xcrs,
            xsave: v.xsave,
            tsc_khz: v.tsc_khz.khz(),
        }
        .into()
    }
}

/// `persist::MicrovmState` up to its vCPUs: `VmInfo` as `I`, `VmState` as `S`,
/// `VcpuState` as `V`.
#[derive(Debug, Deserialize)]
pub(crate) struct Prefix<I, S, V> {
    pub vm_info: I,
    pub memory_state: Memory<RegionWithOffset>,
    pub vm_state: S,
    pub vcpu_states: Vec<V>,
}

fn vcpus<I, S, V>(body: &[u8], at: usize) -> Result<Vec<layout::VcpuState>, Error>
where
    I: DeserializeOwned,
    S: DeserializeOwned,
    V: DeserializeOwned + Into<layout::VcpuState>,
{
    let p = Reader::new(body, at, "data").read::<Prefix<I, S, V>>()?;
    Ok(p.vcpu_states.into_iter().map(Into::into).collect())
}

/// The vCPUs of a file of `data_version` (1 to 10) whose data starts at `at` in `body`.
///
/// # Errors
///
/// [`Error`] with the field path and offset where the bytes stopped following the
/// data version's types.
pub(crate) fn vcpu_states(
    body: &[u8],
    at: usize,
    data_version: u16,
) -> Result<Vec<layout::VcpuState>, Error> {
    type V3 = VcpuStateKvmXsave<Fields>;
    match data_version {
        1 | 2 => vcpus::<VmInfoV1, Chips<Fields>, VcpuStateOneMsrs<()>>(body, at),
        3..=5 => vcpus::<VmInfoV1, Chips<Fields>, VcpuStateOneMsrs<Option<u32>>>(body, at),
        6..=8 => vcpus::<VmInfoV2, Chips<Fields>, V3>(body, at),
        _ => vcpus::<VmInfoV2, VmStateV2, V3>(body, at),
    }
}
