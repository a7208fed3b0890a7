//! Firecracker's snapshot data, format 11.x on x86_64, type for type.
//!
//! bitcode (0.6, serde mode) is not self-describing: it writes every value of a field
//! into a column of its own, packed by value range, in the order the decoder first
//! visits the types. A reader therefore has to walk exactly the tree of types
//! Firecracker serialises, field order, variant order and integer widths included; a
//! field too many or too few, or a `u32` for a `u64`, misreads every column after it.
//! These mirrors were written from firecracker `81b38b9dad60` (2026-08-21, v1.17.0-dev,
//! `SNAPSHOT_VERSION = 11.0.0`); each names the upstream type it mirrors. Mirrors keep
//! only what segstate reads and discard the rest after decoding.
//!
//! Serde shapes that matter here:
//! - kvm-bindings 0.14 (`serialize.rs`, `serde_impls!`): every `kvm_*` struct is
//!   `serialize_bytes` of its C bytes, which bitcode decodes as a `Vec<u8>`;
//! - vmm-sys-util 0.15 `FamStructWrapper` (`fam.rs`): a 2-tuple of the header struct and
//!   a `Vec` of entries (`CpuId`, `Msrs`: entries are byte structs; `Xsave`: `u32`);
//! - `semver::Version`, `MacAddr`, `KvmCapability`: strings;
//! - `usize` travels as `u64`, `Wrapping<u16>` as `u16`, arrays as tuples;
//! - enums travel as their variant index, so variant order matters, names do not.

#![allow(dead_code)] // Mirrored fields are decoded to keep the layout, not all are read.

use std::cell::Cell;
use std::string::String;
use std::vec::Vec;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// What the decoder records on the side: bitcode's own errors carry no message in
/// release builds, so the field being decoded and a header refusal are kept here for
/// the error to name. One decode per thread at a time; [`progress::reset`] starts one.
pub(super) mod progress {
    use std::cell::{Cell, RefCell};
    use std::string::String;

    std::thread_local! {
        static FIELD: Cell<&'static str> = const { Cell::new("header") };
        static REFUSAL: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// Starts a decode.
    pub(crate) fn reset() {
        FIELD.with(|f| f.set("header"));
        REFUSAL.with(|r| r.borrow_mut().take());
    }

    /// Records that `field` is being decoded.
    pub(crate) fn enter(field: &'static str) {
        FIELD.with(|f| f.set(field));
    }

    /// The field last entered.
    pub(crate) fn current() -> &'static str {
        FIELD.with(Cell::get)
    }

    /// Records why the header was refused.
    pub(crate) fn refuse(reason: String) {
        REFUSAL.with(|r| *r.borrow_mut() = Some(reason));
    }

    /// The header refusal, if any (taken).
    pub(crate) fn take_refusal() -> Option<String> {
        REFUSAL.with(|r| r.borrow_mut().take())
    }
}

/// `snapshot::Snapshot<MicrovmState>`: the header, then the data. The header is
/// checked ([`super::check_header`]) as soon as it is decoded.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub header: SnapshotHdr,
    pub data: MicrovmState,
}

/// `snapshot::SnapshotHdr`.
#[derive(Debug, Deserialize)]
pub(crate) struct SnapshotHdr {
    pub magic: u64,
    /// `semver::Version`, serialised as its string.
    pub version: String,
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Snapshot;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Firecracker snapshot")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Snapshot, A::Error> {
                progress::enter("header");
                let header: SnapshotHdr = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("no header"))?;
                // Refuse another version by its version, before its data misreads.
                if let Err(reason) = super::check_header(&header) {
                    progress::refuse(reason);
                    return Err(de::Error::custom("header refused"));
                }
                let data: MicrovmState = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("no data"))?;
                Ok(Snapshot { header, data })
            }
        }
        d.deserialize_struct("Snapshot", &["header", "data"], V)
    }
}

/// `persist::MicrovmState`.
#[derive(Debug)]
pub(crate) struct MicrovmState {
    pub vm_info: VmInfo,
    pub kvm_state: KvmState,
    pub vm_state: VmState,
    pub vcpu_states: Vec<VcpuState>,
    pub device_states: DevicesState,
}

impl<'de> Deserialize<'de> for MicrovmState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MicrovmState;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("MicrovmState")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MicrovmState, A::Error> {
                fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
                    seq: &mut A,
                    field: &'static str,
                ) -> Result<T, A::Error> {
                    progress::enter(field);
                    seq.next_element()?.ok_or_else(|| de::Error::custom(field))
                }
                Ok(MicrovmState {
                    vm_info: next(&mut seq, "data.vm_info")?,
                    kvm_state: next(&mut seq, "data.kvm_state")?,
                    vm_state: next(&mut seq, "data.vm_state")?,
                    vcpu_states: next(&mut seq, "data.vcpu_states")?,
                    device_states: next(&mut seq, "data.device_states")?,
                })
            }
        }
        d.deserialize_struct(
            "MicrovmState",
            &[
                "vm_info",
                "kvm_state",
                "vm_state",
                "vcpu_states",
                "device_states",
            ],
            V,
        )
    }
}

/// `persist::VmInfo`.
#[derive(Debug, Deserialize)]
pub(crate) struct VmInfo {
    pub mem_size_mib: u64,
    pub smt: bool,
    pub cpu_template: StaticCpuTemplate,
    pub boot_source: BootSourceConfig,
    pub huge_pages: HugePageConfig,
}

/// `cpu_config::x86_64::static_cpu_templates::StaticCpuTemplate`.
#[derive(Debug, Deserialize)]
pub(crate) enum StaticCpuTemplate {
    C3,
    T2,
    T2S,
    None,
    T2CL,
    T2A,
}

/// `vmm_config::boot_source::BootSourceConfig`.
#[derive(Debug, Deserialize)]
pub(crate) struct BootSourceConfig {
    pub kernel_image_path: String,
    pub initrd_path: Option<String>,
    pub boot_args: Option<String>,
}

/// `vmm_config::machine_config::HugePageConfig`.
#[derive(Debug, Deserialize)]
pub(crate) enum HugePageConfig {
    None,
    Transparent,
    Hugetlbfs2M,
}

/// `vstate::kvm::KvmState`; `KvmCapability` serialises as a string.
#[derive(Debug, Deserialize)]
pub(crate) struct KvmState {
    pub kvm_cap_modifiers: Vec<String>,
}

/// `arch::x86_64::vm::VmState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VmState {
    pub memory: GuestMemoryState,
    pub resource_allocator: ResourceAllocatorState,
    pub pitstate: Vec<u8>,
    pub clock: Vec<u8>,
    pub pic_master: Vec<u8>,
    pub pic_slave: Vec<u8>,
    pub ioapic: Vec<u8>,
}

/// `vstate::memory::GuestMemoryState`.
#[derive(Debug, Deserialize)]
pub(crate) struct GuestMemoryState {
    pub regions: Vec<GuestMemoryRegionState>,
}

/// `vstate::memory::GuestMemoryRegionState`.
#[derive(Debug, Deserialize)]
pub(crate) struct GuestMemoryRegionState {
    pub base_address: u64,
    pub size: u64,
    pub region_type: GuestRegionType,
    pub plugged: Vec<bool>,
}

/// `vstate::memory::GuestRegionType`.
#[derive(Debug, Deserialize)]
pub(crate) enum GuestRegionType {
    Dram,
    Hotpluggable,
}

/// `vstate::resources::ResourceAllocatorState`.
#[derive(Debug, Deserialize)]
pub(crate) struct ResourceAllocatorState {
    pub mmio32_memory: AddressAllocator,
    pub mmio64_memory: AddressAllocator,
    pub past_mmio64_memory: AddressAllocator,
    pub system_memory: AddressAllocator,
}

/// vm-allocator 0.1.4 `AddressAllocator`.
#[derive(Debug, Deserialize)]
pub(crate) struct AddressAllocator {
    pub address_space: RangeInclusive,
    pub interval_tree: IntervalTree,
}

/// vm-allocator 0.1.4 `RangeInclusive`.
#[derive(Debug, Deserialize)]
pub(crate) struct RangeInclusive {
    pub start: u64,
    pub end: u64,
}

/// vm-allocator 0.1.4 `IntervalTree`.
#[derive(Debug, Deserialize)]
pub(crate) struct IntervalTree {
    pub root: TreeChild,
}

/// vm-allocator 0.1.4 `InnerNode`.
#[derive(Debug, Deserialize)]
pub(crate) struct InnerNode {
    pub key: RangeInclusive,
    pub node_state: NodeState,
    pub left: TreeChild,
    pub right: TreeChild,
    pub height: u64,
}

/// vm-allocator 0.1.4 `NodeState`.
#[derive(Debug, Deserialize)]
pub(crate) enum NodeState {
    Free,
    Allocated,
}

/// The deepest interval tree accepted. vm-allocator's tree is an AVL tree, at most
/// 1.44·log2(n) deep; 128 levels is more than any address space has, and it keeps a
/// crafted file from recursing the decoder off the stack.
pub(crate) const MAX_TREE_DEPTH: u32 = 128;

std::thread_local! {
    static TREE_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// `Option<Box<InnerNode>>` with a depth limit.
#[derive(Debug)]
pub(crate) struct TreeChild(pub Option<Box<InnerNode>>);

impl<'de> Deserialize<'de> for TreeChild {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let depth = TREE_DEPTH.with(Cell::get);
        if depth >= MAX_TREE_DEPTH {
            return Err(de::Error::custom("address allocator tree deeper than 128"));
        }
        TREE_DEPTH.with(|c| c.set(depth + 1));
        let node = Option::<Box<InnerNode>>::deserialize(d);
        TREE_DEPTH.with(|c| c.set(depth));
        node.map(TreeChild)
    }
}

/// `arch::x86_64::vcpu::VcpuState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VcpuState {
    /// `CpuId` = `FamStructWrapper<kvm_cpuid2>`: (header, entries).
    pub cpuid: (Vec<u8>, Vec<Vec<u8>>),
    /// `Vec<Msrs>`, each `FamStructWrapper<kvm_msrs>`: (header, `kvm_msr_entry`s).
    pub saved_msrs: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    pub debug_regs: Vec<u8>,
    pub lapic: Vec<u8>,
    pub mp_state: Vec<u8>,
    pub regs: Vec<u8>,
    pub sregs: Vec<u8>,
    pub vcpu_events: Vec<u8>,
    pub xcrs: Vec<u8>,
    /// `Xsave` = `FamStructWrapper<kvm_xsave2>`: (header, `u32` tail).
    pub xsave: (Vec<u8>, Vec<u32>),
    pub tsc_khz: Option<u32>,
}

/// `device_manager::DevicesState`.
#[derive(Debug, Deserialize)]
pub(crate) struct DevicesState {
    pub virtio_state: VirtioDevicesState,
    pub mmio_platform_state: MmioPlatformDevicesState,
    pub acpi_state: AcpiDeviceManagerState,
    pub serial_state: Option<SerialState>,
}

/// `device_manager::VirtioDevicesState`.
#[derive(Debug, Deserialize)]
pub(crate) enum VirtioDevicesState {
    Mmio(MmioDeviceStates),
    Pci(PciDeviceStates),
}

/// `device_manager::persist::MMIOPlatformDevicesState`: no fields on x86_64.
#[derive(Debug, Deserialize)]
pub(crate) struct MmioPlatformDevicesState {}

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

/// `device_manager::persist::DeviceStates` (MMIO transport).
#[derive(Debug, Deserialize)]
pub(crate) struct MmioDeviceStates {
    pub block_devices: Vec<MmioVirtioDevice<BlockState>>,
    pub net_devices: Vec<MmioVirtioDevice<NetState>>,
    pub vsock_device: Option<MmioVirtioDevice<VsockState>>,
    pub balloon_device: Option<MmioVirtioDevice<BalloonState>>,
    pub mmds: Option<MmdsState>,
    pub entropy_device: Option<MmioVirtioDevice<EntropyState>>,
    pub pmem_devices: Vec<MmioVirtioDevice<PmemState>>,
    pub memory_device: Option<MmioVirtioDevice<VirtioMemState>>,
}

/// `device_manager::pci_mngr::PciDevicesState` (PCI transport).
#[derive(Debug, Deserialize)]
pub(crate) struct PciDeviceStates {
    pub block_devices: Vec<PciVirtioDevice<BlockState>>,
    pub net_devices: Vec<PciVirtioDevice<NetState>>,
    pub vsock_device: Option<PciVirtioDevice<VsockState>>,
    pub balloon_device: Option<PciVirtioDevice<BalloonState>>,
    pub mmds: Option<MmdsState>,
    pub entropy_device: Option<PciVirtioDevice<EntropyState>>,
    pub pmem_devices: Vec<PciVirtioDevice<PmemState>>,
    pub memory_device: Option<PciVirtioDevice<VirtioMemState>>,
}

/// `device_manager::persist::VirtioDeviceState<T>`.
#[derive(Debug, Deserialize)]
pub(crate) struct MmioVirtioDevice<T> {
    pub device_id: String,
    pub device_state: T,
    pub transport_state: MmioTransportState,
    pub device_info: MmioDeviceInfo,
}

/// `device_manager::pci_mngr::VirtioDeviceState<T>`.
#[derive(Debug, Deserialize)]
pub(crate) struct PciVirtioDevice<T> {
    pub device_id: String,
    /// `pci::PciSBDF(u32)`.
    pub sbdf: u32,
    pub device_state: T,
    pub transport_state: VirtioPciDeviceState,
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
pub(crate) struct NetState {
    pub id: String,
    pub tap_if_name: String,
    pub rx_rate_limiter_state: RateLimiterState,
    pub tx_rate_limiter_state: RateLimiterState,
    pub mmds_ns: Option<MmdsNetworkStackState>,
    pub config_space: NetConfigSpaceState,
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
pub(crate) struct NetConfigSpaceState {
    pub guest_mac: Option<String>,
    pub mtu: Option<u16>,
}

/// `devices::virtio::vsock::persist::VsockState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VsockState {
    pub backend: VsockBackendState,
    pub frontend: VsockFrontendState,
}

/// `devices::virtio::vsock::persist::VsockBackendState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VsockBackendState {
    pub uds_path: String,
    pub local_port_last: u32,
}

/// `devices::virtio::vsock::persist::VsockFrontendState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VsockFrontendState {
    pub cid: u64,
    pub virtio_state: VirtioDeviceState,
    pub pending_event_ack: bool,
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
pub(crate) struct PmemState {
    pub virtio_state: VirtioDeviceState,
    pub config_space: PmemConfigSpace,
    pub config: PmemConfig,
    pub rate_limiter_state: RateLimiterState,
}

/// `devices::virtio::pmem::device::ConfigSpace`.
#[derive(Debug, Deserialize)]
pub(crate) struct PmemConfigSpace {
    pub start: u64,
    pub size: u64,
}

/// `vmm_config::pmem::PmemConfig`.
#[derive(Debug, Deserialize)]
pub(crate) struct PmemConfig {
    pub id: String,
    pub path_on_host: String,
    pub root_device: bool,
    pub read_only: bool,
    pub rate_limiter: Option<RateLimiterConfig>,
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

/// `devices::virtio::transport::pci::device::VirtioPciDeviceState`.
#[derive(Debug, Deserialize)]
pub(crate) struct VirtioPciDeviceState {
    pub sbdf: u32,
    pub device_activated: bool,
    pub cap_pci_cfg_offset: u16,
    pub cap_pci_cfg: Vec<u8>,
    pub pci_configuration_state: PciConfigurationState,
    pub pci_dev_state: VirtioPciCommonConfigState,
    pub msix_state: MsixConfigState,
    pub bars: Bars,
    pub msix_config_cap_offset: u16,
    pub bar_address: u64,
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
