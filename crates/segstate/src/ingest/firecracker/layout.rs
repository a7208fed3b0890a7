//! Firecracker's snapshot data on x86_64: the framing and the types formats 9 to 11
//! share, type for type (the device states are in [`super::devices`], re-exported here).
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
//! 11.0.0) and checked against `v1.16.1` (format 10.0.0) and `v1.15.1` (9.0.0); the
//! version modules ([`super::v11`], [`super::v10`], [`super::v9`]) hold what differs. Each mirror names the upstream
//! type it mirrors and keeps what segstate reads; the rest is decoded and dropped.
//!
//! Serde shapes that matter here:
//! - kvm-bindings 0.14 (`serialize.rs`, `serde_impls!`): every `kvm_*` struct is
//!   `serialize_bytes` of its C bytes, which bitcode decodes as a `Vec<u8>`
//!   ([`KvmBytes`]);
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

pub(crate) use super::devices::*;

/// What the decoder records on the side: bitcode's own errors carry no message in
/// release builds and it has no partial decode, so the field being decoded and the
/// header last read (all a [`HeaderOnly`] decode yields) are kept here. One decode per
/// thread at a time; [`progress::reset`] starts one.
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

    /// Keeps the header just read.
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

/// The data of a header-only decode: bitcode has no partial decode, so decoding
/// `Snapshot<HeaderOnly>` stops the whole decode right after the header (an error by
/// design), which [`Snapshot`]'s decoder has already left in [`progress`]. The version
/// then picks the layout of the data.
pub(crate) struct HeaderOnly;

impl<'de> Deserialize<'de> for HeaderOnly {
    fn deserialize<De: Deserializer<'de>>(_: De) -> Result<Self, De::Error> {
        Err(de::Error::custom("header read"))
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
                progress::keep_header(header.clone());
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
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct SnapshotHdr {
    pub magic: u64,
    /// `semver::Version`, serialised as its string.
    pub version: String,
}

/// `persist::MicrovmState`, over the version's `VmInfo` (`I`), `VmState` (`S`) and
/// `DevicesState` (`D`); `VcpuState` is the same in formats 9 to 11.
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

/// A whole file of one format: its `HugePageConfig` (`H`), saved resource allocator
/// (`R`) and `DevicesState` (`D`), the rest shared.
pub(crate) type FileOf<H, R, D> = Snapshot<MicrovmState<VmInfo<H>, VmState<R>, D>>;

/// A kvm-bindings struct as Firecracker saves it: kvm-bindings 0.14's serde impls
/// (`serialize.rs`, `serde_impls!`) write a `kvm_*` struct as `serialize_bytes` of its
/// C bytes, which bitcode decodes as a `Vec<u8>`. The field's doc names the struct;
/// the ones segstate reads are checked for length and decoded by `foreign::raw`.
pub(crate) type KvmBytes = Vec<u8>;

/// `arch::x86_64::vm::VmState`, over the version's resource allocator state.
#[derive(Debug, Deserialize)]
pub(crate) struct VmState<R> {
    pub memory: GuestMemoryState,
    pub resource_allocator: R,
    /// `kvm_pit_state2`.
    pub pitstate: KvmBytes,
    /// `kvm_clock_data`.
    pub clock: KvmBytes,
    /// `kvm_irqchip` (chip 0, the master PIC).
    pub pic_master: KvmBytes,
    /// `kvm_irqchip` (chip 1, the slave PIC).
    pub pic_slave: KvmBytes,
    /// `kvm_irqchip` (chip 2, the IOAPIC).
    pub ioapic: KvmBytes,
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

/// `vstate::resources::ResourceAllocator`'s four address allocators, in its order:
/// all that format 11 saves of it (its `ResourceAllocatorState`), and what formats 9
/// and 10 save after the GSI allocators.
#[derive(Debug, Deserialize)]
pub(crate) struct AddressAllocators {
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
    /// `CpuId` = `FamStructWrapper<kvm_cpuid2>`: (header, `kvm_cpuid_entry2`s).
    pub cpuid: (KvmBytes, Vec<KvmBytes>),
    /// `Vec<Msrs>`, each `FamStructWrapper<kvm_msrs>`: (header, `kvm_msr_entry`s).
    pub saved_msrs: Vec<(KvmBytes, Vec<KvmBytes>)>,
    /// `kvm_debugregs`.
    pub debug_regs: KvmBytes,
    /// `kvm_lapic_state`.
    pub lapic: KvmBytes,
    /// `kvm_mp_state`.
    pub mp_state: KvmBytes,
    /// `kvm_regs`.
    pub regs: KvmBytes,
    /// `kvm_sregs`.
    pub sregs: KvmBytes,
    /// `kvm_vcpu_events`.
    pub vcpu_events: KvmBytes,
    /// `kvm_xcrs`.
    pub xcrs: KvmBytes,
    /// `Xsave` = `FamStructWrapper<kvm_xsave2>`: (header, `u32` tail).
    pub xsave: (KvmBytes, Vec<u32>),
    pub tsc_khz: Option<u32>,
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
        /// A field another version lacks, as the mirrors write it: nothing.
        absent: (),
        d: Option<String>,
    }

    #[test]
    fn a_nested_struct_encodes_like_its_fields_inline() {
        // What lets the mirrors group fields (DeviceLists, VirtioPciDeviceCommon,
        // VsockFrontendCommon) and stand `()` for a field a version lacks: bitcode
        // writes a struct as its fields' columns only, and a unit as nothing.
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
                absent: (),
                d: f.d.clone(),
            })
            .collect();
        assert_eq!(
            bitcode::serialize(&flat).unwrap(),
            bitcode::serialize(&nested).unwrap()
        );
    }
}
