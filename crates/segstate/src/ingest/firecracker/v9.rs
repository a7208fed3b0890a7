//! Format 9.x (Firecracker v1.15, the first bitcode format, from `37480d9ca`,
//! 2026-01-09; mirrored from firecracker `v1.15.1`): the types that differ from format
//! 10. Everything else is in [`super::layout`] and [`super::v10`].

#![allow(dead_code)] // Mirrored fields are decoded to keep the layout, not all are read.

use std::string::String;
use std::vec::Vec;

use serde::Deserialize;

use super::layout::{
    AcpiDeviceManagerState, FileOf, MmioLists, MsixConfigState, PciDevicesState,
    VirtioPciCommonConfigState, VsockFrontendCommon, VsockState,
};
use super::v10::{HugePageConfig, ResourceAllocator};

/// The file in format 9: format 10's `VmInfo` and `VmState`, its own devices.
pub(crate) type File = FileOf<HugePageConfig, ResourceAllocator, DevicesState>;

type Vsock = VsockState<VsockFrontendCommon>;

/// `device_manager::DevicesState` before the serial state.
#[derive(Debug, Deserialize)]
pub(crate) struct DevicesState {
    pub mmio_state: MmioLists<Vsock, NetState, PmemState>,
    pub acpi_state: AcpiDeviceManagerState,
    pub pci_state: PciDevicesState<Vsock, VirtioPciDeviceState, NetState, PmemState>,
}

/// `devices::virtio::net::persist::NetState`: its config space has no MTU yet. A field
/// a format lacks is `()`, which bitcode writes as nothing.
type NetState = super::devices::NetState<()>;

/// `devices::virtio::pmem::persist::PmemState`: no rate limiter yet, in the state or
/// its config.
type PmemState = super::devices::PmemState<(), ()>;

/// `devices::virtio::transport::pci::device::VirtioPciDeviceState` in format 9.
#[derive(Debug, Deserialize)]
pub(crate) struct VirtioPciDeviceState {
    /// `pci::PciBdf`, serialised as its text (`0000:00:01.0`).
    pub pci_device_bdf: String,
    pub device_activated: bool,
    pub cap_pci_cfg_offset: u64,
    pub cap_pci_cfg: Vec<u8>,
    pub pci_configuration_state: PciConfigurationState,
    pub pci_dev_state: VirtioPciCommonConfigState,
    pub msix_state: MsixConfigState,
    pub bar_address: u64,
}

/// `pci::configuration::PciConfigurationState` in format 9.
#[derive(Debug, Deserialize)]
pub(crate) struct PciConfigurationState {
    pub registers: Vec<u32>,
    pub writable_bits: Vec<u32>,
    pub bars: Vec<PciBar>,
    pub last_capability: Option<(u64, u64)>,
    pub msix_cap_reg_idx: Option<u64>,
}

/// `pci::configuration::PciBar`.
#[derive(Debug, Deserialize)]
pub(crate) struct PciBar {
    pub addr: u32,
    pub size: u32,
    pub used: bool,
}
