//! Firecracker's snapshot data on x86_64: the framing and the types formats 10 and 11
//! share, type for type.
//!
//! bitcode (0.6, serde mode) is not self-describing: it writes every value of a field
//! into a column of its own, packed by value range, in the order the decoder first
//! visits the types. A reader therefore has to walk exactly the tree of types
//! Firecracker serialises, field order, variant order and integer widths included; a
//! field too many or too few, or a `u32` for a `u64`, misreads every column after it.
//! A struct is a tuple of its fields and adds no bytes of its own, so a mirror may
//! group consecutive fields into a nested struct (e.g. [`DeviceLists`]) without
//! changing the layout.
//!
//! These mirrors were written from firecracker `81b38b9dad60` (2026-08-21, format
//! 11.0.0) and checked against `v1.16.1` (format 10.0.0); the version modules
//! ([`super::v11`], [`super::v10`]) hold what differs. Each mirror names the upstream
//! type it mirrors and keeps what segstate reads; the rest is decoded and dropped.
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
use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};

/// What the decoder records on the side: bitcode's own errors carry no message in
/// release builds and it has no partial decode, so the field being decoded and the
/// header [`HeaderOnly`] read are kept here. One decode per thread at a time;
/// [`progress::reset`] starts one.
pub(super) mod progress {
    use std::cell::{Cell, RefCell};

    std::thread_local! {
        static FIELD: Cell<&'static str> = const { Cell::new("header") };
        static HEADER: RefCell<Option<super::SnapshotHdr>> = const { RefCell::new(None) };
    }

    /// Starts a decode.
    pub(crate) fn reset() {
        FIELD.with(|f| f.set("header"));
        HEADER.with(|c| c.borrow_mut().take());
    }

    /// Records that `field` is being decoded.
    pub(crate) fn enter(field: &'static str) {
        FIELD.with(|f| f.set(field));
    }

    /// The field last entered.
    pub(crate) fn current() -> &'static str {
        FIELD.with(Cell::get)
    }

    /// Keeps the header [`super::HeaderOnly`] read.
    pub(crate) fn keep_header(h: super::SnapshotHdr) {
        HEADER.with(|c| *c.borrow_mut() = Some(h));
    }

    /// The header kept, if any (taken).
    pub(crate) fn take_header() -> Option<super::SnapshotHdr> {
        HEADER.with(|c| c.borrow_mut().take())
    }
}

/// `snapshot::Snapshot<MicrovmState>`: the header, then the data `D` (the version's
/// [`MicrovmState`]).
#[derive(Debug)]
pub(crate) struct Snapshot<D> {
    pub header: SnapshotHdr,
    pub data: D,
}

/// The header alone: bitcode has no partial decode, so [`HeaderOnly`]'s decoder stops
/// the whole decode right after the header (an error by design) and leaves the header
/// in [`progress`]. The version then picks the layout of the data.
pub(crate) struct HeaderOnly;

impl<'de> Deserialize<'de> for HeaderOnly {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderOnly;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Firecracker snapshot header")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HeaderOnly, A::Error> {
                let header: SnapshotHdr = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("no header"))?;
                progress::keep_header(header);
                Err(de::Error::custom("header read"))
            }
        }
        d.deserialize_struct("Snapshot", &["header", "data"], V)
    }
}

impl<'de, D: DeserializeOwned> Deserialize<'de> for Snapshot<D> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct V<D>(std::marker::PhantomData<D>);
        impl<'de, D: DeserializeOwned> Visitor<'de> for V<D> {
            type Value = Snapshot<D>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Firecracker snapshot")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Snapshot<D>, A::Error> {
                progress::enter("header");
                let header: SnapshotHdr = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("no header"))?;
                let data: D = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("no data"))?;
                Ok(Snapshot { header, data })
            }
        }
        d.deserialize_struct("Snapshot", &["header", "data"], V(std::marker::PhantomData))
    }
}

/// `snapshot::SnapshotHdr`.
#[derive(Debug, Deserialize)]
pub(crate) struct SnapshotHdr {
    pub magic: u64,
    /// `semver::Version`, serialised as its string.
    pub version: String,
}

/// `persist::MicrovmState`, over the version's `VmInfo` (`I`), `VmState` (`S`) and
/// `DevicesState` (`D`); `VcpuState` is the same in formats 10 and 11.
#[derive(Debug)]
pub(crate) struct MicrovmState<I, S, D> {
    pub vm_info: I,
    pub kvm_state: KvmState,
    pub vm_state: S,
    pub vcpu_states: Vec<VcpuState>,
    pub device_states: D,
}

impl<'de, I: DeserializeOwned, S: DeserializeOwned, D: DeserializeOwned> Deserialize<'de>
    for MicrovmState<I, S, D>
{
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct V<I, S, D>(std::marker::PhantomData<(I, S, D)>);
        impl<'de, I: DeserializeOwned, S: DeserializeOwned, D: DeserializeOwned> Visitor<'de>
            for V<I, S, D>
        {
            type Value = MicrovmState<I, S, D>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("MicrovmState")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<MicrovmState<I, S, D>, A::Error> {
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
            V(std::marker::PhantomData),
        )
    }
}

/// A decoded file, whatever its version: its vCPUs.
pub(crate) trait VcpuStates {
    /// The `vcpu_states` of the file's `MicrovmState`.
    fn into_vcpu_states(self) -> Vec<VcpuState>;
}

impl<I, S, D> VcpuStates for Snapshot<MicrovmState<I, S, D>> {
    fn into_vcpu_states(self) -> Vec<VcpuState> {
        self.data.vcpu_states
    }
}

/// `persist::VmInfo`, over the version's `HugePageConfig`.
#[derive(Debug, Deserialize)]
pub(crate) struct VmInfo<H> {
    pub mem_size_mib: u64,
    pub smt: bool,
    pub cpu_template: StaticCpuTemplate,
    pub boot_source: BootSourceConfig,
    pub huge_pages: H,
}

/// `arch::x86_64::vm::VmState`, over the version's resource allocator state.
#[derive(Debug, Deserialize)]
pub(crate) struct VmState<R> {
    pub memory: GuestMemoryState,
    pub resource_allocator: R,
    pub pitstate: Vec<u8>,
    pub clock: Vec<u8>,
    pub pic_master: Vec<u8>,
    pub pic_slave: Vec<u8>,
    pub ioapic: Vec<u8>,
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

/// `vstate::kvm::KvmState`; `KvmCapability` serialises as a string.
#[derive(Debug, Deserialize)]
pub(crate) struct KvmState {
    pub kvm_cap_modifiers: Vec<String>,
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

/// `DeviceStates`: the lists with the MMIO transport; `V` is the version's vsock state.
pub(crate) type MmioLists<V> = DeviceLists<
    MmioVirtioDevice<BlockState>,
    MmioVirtioDevice<NetState>,
    MmioVirtioDevice<V>,
    MmioVirtioDevice<BalloonState>,
    MmioVirtioDevice<EntropyState>,
    MmioVirtioDevice<PmemState>,
    MmioVirtioDevice<VirtioMemState>,
>;

/// `PciDevicesState`'s lists: `V` is the version's vsock state, `X` its
/// `VirtioPciDeviceState`.
pub(crate) type PciLists<V, X> = DeviceLists<
    PciVirtioDevice<BlockState, X>,
    PciVirtioDevice<NetState, X>,
    PciVirtioDevice<V, X>,
    PciVirtioDevice<BalloonState, X>,
    PciVirtioDevice<EntropyState, X>,
    PciVirtioDevice<PmemState, X>,
    PciVirtioDevice<VirtioMemState, X>,
>;

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

#[cfg(test)]
mod tests {
    use serde::Serialize;

    #[derive(Serialize)]
    struct Flat {
        a: u32,
        b: bool,
        c: Vec<u64>,
        d: Option<String>,
    }

    #[derive(Serialize)]
    struct Tail {
        b: bool,
        c: Vec<u64>,
    }

    #[derive(Serialize)]
    struct Nested {
        a: u32,
        tail: Tail,
        d: Option<String>,
    }

    #[test]
    fn a_nested_struct_encodes_like_its_fields_inline() {
        // What lets the mirrors group fields (DeviceLists, VirtioPciDeviceCommon,
        // VsockFrontendCommon): bitcode writes a struct as its fields' columns only.
        let flat: Vec<Flat> = (0..5u32)
            .map(|i| Flat {
                a: i * 1000,
                b: i % 2 == 0,
                c: (0..u64::from(i)).collect(),
                d: (i > 2).then(|| "x".repeat(i as usize)),
            })
            .collect();
        let nested: Vec<Nested> = flat
            .iter()
            .map(|f| Nested {
                a: f.a,
                tail: Tail {
                    b: f.b,
                    c: f.c.clone(),
                },
                d: f.d.clone(),
            })
            .collect();
        assert_eq!(
            bitcode::serialize(&flat).unwrap(),
            bitcode::serialize(&nested).unwrap()
        );
    }
}
