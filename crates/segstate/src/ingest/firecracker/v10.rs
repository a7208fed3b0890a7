//! Format 10.x (Firecracker v1.16, from `25d7066a8`, 2026-03-13; mirrored from
//! firecracker `v1.16.1`): the types that differ from format 11. Everything else is in
//! [`super::layout`].

#![allow(dead_code)] // Mirrored fields are decoded to keep the layout, not all are read.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::layout::{
    AcpiDeviceManagerState, AddressAllocators, FileOf, MmioLists, PciDevicesState, SerialState,
    VirtioPciDeviceCommon, VsockFrontendCommon, VsockState,
};

/// The file in format 10.
pub(crate) type File = FileOf<HugePageConfig, ResourceAllocator, DevicesState>;

/// `vmm_config::machine_config::HugePageConfig` before `Transparent`.
#[derive(Debug, Deserialize)]
pub(crate) enum HugePageConfig {
    None,
    Hugetlbfs2M,
}

/// `vstate::resources::ResourceAllocator`, saved whole (GSI allocators included).
#[derive(Debug, Deserialize)]
pub(crate) struct ResourceAllocator {
    pub gsi_legacy_allocator: IdAllocator,
    pub gsi_msi_allocator: IdAllocator,
    pub address_allocators: AddressAllocators,
}

/// vm-allocator 0.1.3 `IdAllocator`.
#[derive(Debug, Deserialize)]
pub(crate) struct IdAllocator {
    pub range_base: u32,
    pub next_id: Option<u32>,
    pub range_end: u32,
    pub freed_ids: BTreeSet<u32>,
}

type Vsock = VsockState<VsockFrontendCommon>;

/// `device_manager::DevicesState`: both transports' device lists.
#[derive(Debug, Deserialize)]
pub(crate) struct DevicesState {
    pub mmio_state: MmioLists<Vsock>,
    pub acpi_state: AcpiDeviceManagerState,
    pub pci_state: PciDevicesState<Vsock, VirtioPciDeviceCommon>,
    pub serial_state: Option<SerialState>,
}
