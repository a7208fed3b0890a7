//! Firecracker's device states on x86_64, as formats 9 to 11 share them: ACPI, serial,
//! the virtio devices of both transports and what they hold. Mirrors in the sense of
//! [`super::layout`]; the version modules hold the few that differ.

#![allow(dead_code)] // Mirrored fields are decoded to keep the layout, not all are read.

use std::string::String;
use std::vec::Vec;

use serde::Deserialize;

/// `device_manager::persist::ACPIDeviceManagerState`.
#[derive(Debug, Deserialize)]
pub(crate) struct AcpiDeviceManagerState {
    pub vmgenid: VmGenIdState,
    pub vmclock: VmClockState,
}

/// `devices::acpi::vmgenid::VMGenIDState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VmGenIdState {
    pub gsi: u32,
    pub addr: u64,
}

/// `devices::acpi::vmclock::VmClockState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VmClockState {
    pub guest_address: u64,
    pub gsi: u32,
    pub inner: VmClockAbi,
}

/// `devices::acpi::generated::vmclock_abi::vmclock_abi` (derived serde, field by field).
#[derive(Debug, Deserialize)]
pub(crate) struct VmClockAbi {
    pub magic: u32,
    pub size: u32,
    pub version: u16,
    pub counter_id: u8,
    pub time_type: u8,
    pub seq_count: u32,
    pub disruption_marker: u64,
    pub flags: u64,
    pub pad: [u8; 2],
    pub clock_status: u8,
    pub leap_second_smearing_hint: u8,
    pub tai_offset_sec: u16,
    pub leap_indicator: u8,
    pub counter_period_shift: u8,
    pub counter_value: u64,
    pub counter_period_frac_sec: u64,
    pub counter_period_esterror_rate_frac_sec: u64,
    pub counter_period_maxerror_rate_frac_sec: u64,
    pub time_sec: u64,
    pub time_frac_sec: u64,
    pub time_esterror_nanosec: u64,
    pub time_maxerror_nanosec: u64,
    pub vm_generation_counter: u64,
}

/// `device_manager::persist::SerialState`.
#[derive(Debug, Deserialize)]
pub(crate) struct SerialState {
    pub baud_divisor_low: u8,
    pub baud_divisor_high: u8,
    pub interrupt_enable: u8,
    pub interrupt_identification: u8,
    pub line_control: u8,
    pub line_status: u8,
    pub modem_control: u8,
    pub modem_status: u8,
    pub scratch: u8,
    pub in_buffer: Vec<u8>,
}

/// The eight device fields of `device_manager::persist::DeviceStates` (MMIO) and
/// `device_manager::pci_mngr::PciDevicesState` (PCI), each device wrapped with its
/// transport ([`MmioLists`], [`PciLists`]).
#[derive(Debug, Deserialize)]
pub(crate) struct DeviceLists<Block, Net, Vsock, Balloon, Entropy, Pmem, Mem> {
    pub block_devices: Vec<Block>,
    pub net_devices: Vec<Net>,
    pub vsock_device: Option<Vsock>,
    pub balloon_device: Option<Balloon>,
    pub mmds: Option<MmdsState>,
    pub entropy_device: Option<Entropy>,
    pub pmem_devices: Vec<Pmem>,
    pub memory_device: Option<Mem>,
}

/// `DeviceStates`: the lists with the MMIO transport; `V` is the version's vsock state,
/// `N` and `P` its net and pmem states.
pub(crate) type MmioLists<V, N = NetState, P = PmemState> = DeviceLists<
    MmioVirtioDevice<BlockState>,
    MmioVirtioDevice<N>,
    MmioVirtioDevice<V>,
    MmioVirtioDevice<BalloonState>,
    MmioVirtioDevice<EntropyState>,
    MmioVirtioDevice<P>,
    MmioVirtioDevice<VirtioMemState>,
>;

/// `PciDevicesState`'s lists: `V` is the version's vsock state, `X` its
/// `VirtioPciDeviceState`, `N` and `P` its net and pmem states.
pub(crate) type PciLists<V, X, N = NetState, P = PmemState> = DeviceLists<
    PciVirtioDevice<BlockState, X>,
    PciVirtioDevice<N, X>,
    PciVirtioDevice<V, X>,
    PciVirtioDevice<BalloonState, X>,
    PciVirtioDevice<EntropyState, X>,
    PciVirtioDevice<P, X>,
    PciVirtioDevice<VirtioMemState, X>,
>;

/// `device_manager::pci_mngr::PciDevicesState` in formats 9 and 10 (11 folds it into
/// its `VirtioDevicesState`), over the version's [`PciLists`] parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct PciDevicesState<V, X, N = NetState, P = PmemState> {
    pub pci_enabled: bool,
    pub lists: PciLists<V, X, N, P>,
}

/// `device_manager::persist::VirtioDeviceState<T>`.
#[derive(Debug, Deserialize)]
pub(crate) struct MmioVirtioDevice<T> {
    pub device_id: String,
    pub device_state: T,
    pub transport_state: MmioTransportState,
    pub device_info: MmioDeviceInfo,
}

/// `device_manager::pci_mngr::VirtioDeviceState<T>`, over the version's
/// `VirtioPciDeviceState` (`X`).
#[derive(Debug, Deserialize)]
pub(crate) struct PciVirtioDevice<T, X> {
    pub device_id: String,
    /// `pci::PciSBDF(u32)`.
    pub sbdf: u32,
    pub device_state: T,
    pub transport_state: X,
}

/// `devices::virtio::persist::MmioTransportState`.
#[derive(Debug, Deserialize)]
pub(crate) struct MmioTransportState {
    pub features_select: u32,
    pub acked_features_select: u32,
    pub queue_select: u32,
    pub device_status: u32,
    pub config_generation: u32,
    pub interrupt_status: u32,
}

/// `device_manager::mmio::MMIODeviceInfo`.
#[derive(Debug, Deserialize)]
pub(crate) struct MmioDeviceInfo {
    pub addr: u64,
    pub len: u64,
    pub gsi: Option<u32>,
}

/// `devices::virtio::persist::QueueState`.
#[derive(Debug, Deserialize)]
pub(crate) struct QueueState {
    pub max_size: u16,
    pub size: u16,
    pub ready: bool,
    pub desc_table: u64,
    pub avail_ring: u64,
    pub used_ring: u64,
    pub next_avail: u16,
    pub next_used: u16,
    pub num_added: u16,
}

/// `devices::virtio::persist::VirtioDeviceState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VirtioDeviceState {
    pub device_type: VirtioDeviceType,
    pub avail_features: u64,
    pub acked_features: u64,
    pub queues: Vec<QueueState>,
    pub activated: bool,
}

/// `devices::virtio::device::VirtioDeviceType` (variant index, not the virtio id).
#[derive(Debug, Deserialize)]
pub(crate) enum VirtioDeviceType {
    Net,
    Block,
    Rng,
    Balloon,
    Vsock,
    Mem,
    Pmem,
}

/// `rate_limiter::persist::TokenBucketState`.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenBucketState {
    pub size: u64,
    pub one_time_burst: u64,
    pub refill_time: u64,
    pub budget: u64,
    pub elapsed_ns: u64,
}

/// `rate_limiter::persist::RateLimiterState`.
#[derive(Debug, Deserialize)]
pub(crate) struct RateLimiterState {
    pub ops: Option<TokenBucketState>,
    pub bandwidth: Option<TokenBucketState>,
}

/// `devices::virtio::block::persist::BlockState`.
#[derive(Debug, Deserialize)]
pub(crate) enum BlockState {
    Virtio(VirtioBlockState),
    VhostUser(VhostUserBlockState),
}

/// `devices::virtio::block::CacheType`.
#[derive(Debug, Deserialize)]
pub(crate) enum CacheType {
    Unsafe,
    Writeback,
}

/// `devices::virtio::block::virtio::persist::FileEngineTypeState`.
#[derive(Debug, Deserialize)]
pub(crate) enum FileEngineTypeState {
    Sync,
    Async,
}

/// `devices::virtio::block::virtio::persist::VirtioBlockState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VirtioBlockState {
    pub id: String,
    pub partuuid: Option<String>,
    pub cache_type: CacheType,
    pub root_device: bool,
    pub disk_path: String,
    pub virtio_state: VirtioDeviceState,
    pub rate_limiter_state: RateLimiterState,
    pub file_engine_type: FileEngineTypeState,
}

/// `devices::virtio::block::vhost_user::persist::VhostUserBlockState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VhostUserBlockState {
    pub id: String,
    pub partuuid: Option<String>,
    pub cache_type: CacheType,
    pub root_device: bool,
    pub socket_path: String,
    pub vu_acked_protocol_features: u64,
    pub config_space: Vec<u8>,
    pub virtio_state: VirtioDeviceState,
}

/// `devices::virtio::net::persist::NetState`.
#[derive(Debug, Deserialize)]
pub(crate) struct NetState<Mtu = Option<u16>> {
    pub id: String,
    pub tap_if_name: String,
    pub rx_rate_limiter_state: RateLimiterState,
    pub tx_rate_limiter_state: RateLimiterState,
    pub mmds_ns: Option<MmdsNetworkStackState>,
    pub config_space: NetConfigSpaceState<Mtu>,
    pub virtio_state: VirtioDeviceState,
}

/// `mmds::persist::MmdsNetworkStackState`.
#[derive(Debug, Deserialize)]
pub(crate) struct MmdsNetworkStackState {
    pub mac_addr: [u8; 6],
    pub ipv4_addr: u32,
    pub tcp_port: u16,
}

/// `devices::virtio::net::persist::NetConfigSpaceState`; `MacAddr` is a string.
#[derive(Debug, Deserialize)]
pub(crate) struct NetConfigSpaceState<Mtu = Option<u16>> {
    pub guest_mac: Option<String>,
    /// `()` in format 9, which has no MTU.
    pub mtu: Mtu,
}

/// `devices::virtio::vsock::persist::VsockState`, over the version's frontend state.
#[derive(Debug, Deserialize)]
pub(crate) struct VsockState<F> {
    pub backend: VsockBackendState,
    pub frontend: F,
}

/// `devices::virtio::vsock::persist::VsockFrontendState`'s fields in format 10 (11 adds
/// one after them).
#[derive(Debug, Deserialize)]
pub(crate) struct VsockFrontendCommon {
    pub cid: u64,
    pub virtio_state: VirtioDeviceState,
}

/// `devices::virtio::vsock::persist::VsockBackendState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VsockBackendState {
    pub uds_path: String,
    pub local_port_last: u32,
}

/// `devices::virtio::balloon::persist::BalloonState`.
#[derive(Debug, Deserialize)]
pub(crate) struct BalloonState {
    pub stats_polling_interval_s: u16,
    pub stats_desc_index: Option<u16>,
    pub latest_stats: BalloonStatsState,
    pub config_space: BalloonConfigSpaceState,
    pub hinting_state: HintingState,
    pub virtio_state: VirtioDeviceState,
}

/// `devices::virtio::balloon::persist::BalloonStatsState`: sixteen optional counters.
#[derive(Debug, Deserialize)]
pub(crate) struct BalloonStatsState {
    pub swap_in: Option<u64>,
    pub swap_out: Option<u64>,
    pub major_faults: Option<u64>,
    pub minor_faults: Option<u64>,
    pub free_memory: Option<u64>,
    pub total_memory: Option<u64>,
    pub available_memory: Option<u64>,
    pub disk_caches: Option<u64>,
    pub hugetlb_allocations: Option<u64>,
    pub hugetlb_failures: Option<u64>,
    pub oom_kill: Option<u64>,
    pub alloc_stall: Option<u64>,
    pub async_scan: Option<u64>,
    pub direct_scan: Option<u64>,
    pub async_reclaim: Option<u64>,
    pub direct_reclaim: Option<u64>,
}

/// `devices::virtio::balloon::persist::BalloonConfigSpaceState`.
#[derive(Debug, Deserialize)]
pub(crate) struct BalloonConfigSpaceState {
    pub num_pages: u32,
    pub actual_pages: u32,
}

/// `devices::virtio::balloon::device::HintingState`.
#[derive(Debug, Deserialize)]
pub(crate) struct HintingState {
    pub host_cmd: u32,
    pub last_cmd_id: u32,
    pub guest_cmd: Option<u32>,
    pub acknowledge_on_finish: bool,
}

/// `device_manager::persist::MmdsState`.
#[derive(Debug, Deserialize)]
pub(crate) struct MmdsState {
    pub version: MmdsVersion,
    pub imds_compat: bool,
}

/// `mmds::data_store::MmdsVersion`.
#[derive(Debug, Deserialize)]
pub(crate) enum MmdsVersion {
    V1,
    V2,
}

/// `devices::virtio::rng::persist::EntropyState`.
#[derive(Debug, Deserialize)]
pub(crate) struct EntropyState {
    pub virtio_state: VirtioDeviceState,
    pub rate_limiter_state: RateLimiterState,
}

/// `devices::virtio::pmem::persist::PmemState`.
#[derive(Debug, Deserialize)]
pub(crate) struct PmemState<Limiter = RateLimiterState, LimiterConfig = Option<RateLimiterConfig>> {
    pub virtio_state: VirtioDeviceState,
    pub config_space: PmemConfigSpace,
    pub config: PmemConfig<LimiterConfig>,
    /// `()` in format 9, which has no pmem rate limiter.
    pub rate_limiter_state: Limiter,
}

/// `devices::virtio::pmem::device::ConfigSpace`.
#[derive(Debug, Deserialize)]
pub(crate) struct PmemConfigSpace {
    pub start: u64,
    pub size: u64,
}

/// `vmm_config::pmem::PmemConfig`.
#[derive(Debug, Deserialize)]
pub(crate) struct PmemConfig<LimiterConfig = Option<RateLimiterConfig>> {
    pub id: String,
    pub path_on_host: String,
    pub root_device: bool,
    pub read_only: bool,
    /// `()` in format 9.
    pub rate_limiter: LimiterConfig,
}

/// `vmm_config::RateLimiterConfig`.
#[derive(Debug, Deserialize)]
pub(crate) struct RateLimiterConfig {
    pub bandwidth: Option<TokenBucketConfig>,
    pub ops: Option<TokenBucketConfig>,
}

/// `vmm_config::TokenBucketConfig`.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenBucketConfig {
    pub size: u64,
    pub one_time_burst: Option<u64>,
    pub refill_time: u64,
}

/// `devices::virtio::mem::persist::VirtioMemState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VirtioMemState {
    pub virtio_state: VirtioDeviceState,
    pub addr: u64,
    pub region_size: u64,
    pub block_size: u64,
    pub usable_region_size: u64,
    pub requested_size: u64,
    pub slot_size: u64,
    pub plugged_blocks: Vec<bool>,
}

/// `devices::virtio::transport::pci::device::VirtioPciDeviceState`'s fields in format
/// 10 (11 adds `bar_address` after them).
#[derive(Debug, Deserialize)]
pub(crate) struct VirtioPciDeviceCommon {
    pub sbdf: u32,
    pub device_activated: bool,
    pub cap_pci_cfg_offset: u16,
    pub cap_pci_cfg: Vec<u8>,
    pub pci_configuration_state: PciConfigurationState,
    pub pci_dev_state: VirtioPciCommonConfigState,
    pub msix_state: MsixConfigState,
    pub bars: Bars,
    pub msix_config_cap_offset: u16,
}

/// `pci::configuration::PciConfigurationState`.
#[derive(Debug, Deserialize)]
pub(crate) struct PciConfigurationState {
    pub registers: Vec<u32>,
    pub writable_bits: Vec<u32>,
    pub last_capability: Option<(u8, u8)>,
}

/// `devices::virtio::transport::pci::common_config::VirtioPciCommonConfigState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VirtioPciCommonConfigState {
    pub driver_status: u8,
    pub config_generation: u8,
    pub device_feature_select: u32,
    pub driver_feature_select: u32,
    pub queue_select: u16,
    pub msix_config: u16,
    pub msix_queues: Vec<u16>,
}

/// `pci::msix::MsixConfigState`.
#[derive(Debug, Deserialize)]
pub(crate) struct MsixConfigState {
    pub table_entries: Vec<MsixTableEntry>,
    pub pba_entries: Vec<u64>,
    pub masked: bool,
    pub enabled: bool,
    pub vectors: Vec<u32>,
}

/// `pci::msix::MsixTableEntry`.
#[derive(Debug, Deserialize)]
pub(crate) struct MsixTableEntry {
    pub msg_addr_lo: u32,
    pub msg_addr_hi: u32,
    pub msg_data: u32,
    pub vector_ctl: u32,
}

/// `pci::configuration::Bars`: six BAR registers.
#[derive(Debug, Deserialize)]
pub(crate) struct Bars {
    pub bars: [Bar; 6],
}

/// `pci::configuration::Bar`.
#[derive(Debug, Deserialize)]
pub(crate) struct Bar {
    pub encoded_addr: u32,
    pub encoded_size: u32,
    pub about_to_be_read: bool,
}
