//! Format 11.x (Firecracker since `ce2697255`, 2026-06-23; mirrored from firecracker
//! `81b38b9dad60`, v1.17.0-dev): the types that differ from format 10. Everything else
//! is in [`super::layout`].

#![allow(dead_code)] // Mirrored fields are decoded to keep the layout, not all are read.

use serde::Deserialize;

use super::layout::{
    AcpiDeviceManagerState, AddressAllocators, FileOf, MmioLists, PciLists, SerialState,
    VirtioPciDeviceCommon, VsockFrontendCommon, VsockState,
};

/// The file in format 11: `vstate::resources::ResourceAllocatorState` no longer saves
/// the GSI allocators, only the [`AddressAllocators`].
pub(crate) type File = FileOf<HugePageConfig, AddressAllocators, DevicesState>;

/// `vmm_config::machine_config::HugePageConfig`: `Transparent` is new in 11.
#[derive(Debug, Deserialize)]
pub(crate) enum HugePageConfig {
    None,
    Transparent,
    Hugetlbfs2M,
}

/// `device_manager::DevicesState`: one transport's devices, then the platform ones.
#[derive(Debug, Deserialize)]
pub(crate) struct DevicesState {
    pub virtio_state: VirtioDevicesState,
    pub mmio_platform_state: MmioPlatformDevicesState,
    pub acpi_state: AcpiDeviceManagerState,
    pub serial_state: Option<SerialState>,
}

type Vsock = VsockState<VsockFrontendState>;

/// `device_manager::VirtioDevicesState`.
#[derive(Debug, Deserialize)]
pub(crate) enum VirtioDevicesState {
    Mmio(Box<MmioLists<Vsock>>),
    Pci(Box<PciLists<Vsock, VirtioPciDeviceState>>),
}

/// `device_manager::persist::MMIOPlatformDevicesState`: no fields on x86_64.
#[derive(Debug, Deserialize)]
pub(crate) struct MmioPlatformDevicesState {}

/// `devices::virtio::vsock::persist::VsockFrontendState`: 11 adds `pending_event_ack`.
#[derive(Debug, Deserialize)]
pub(crate) struct VsockFrontendState {
    pub common: VsockFrontendCommon,
    pub pending_event_ack: bool,
}

/// `devices::virtio::transport::pci::device::VirtioPciDeviceState`: 11 adds
/// `bar_address`.
#[derive(Debug, Deserialize)]
pub(crate) struct VirtioPciDeviceState {
    pub common: VirtioPciDeviceCommon,
    pub bar_address: u64,
}
