//! vCPU snapshots that carry the CPL explicitly.
//!
//! KVM's UAPI has no CPL field: SS.DPL carries it, and every lossy step on the way
//! (the 2017 bug zeroed the attributes of an unusable SS) silently changes privilege.
//! A [`VcpuSnapshot`] stores the CPL as a field of its own next to the raw
//! `kvm_sregs`, so a disagreement between the two is visible, and a restore can
//! refuse it ([`VcpuSnapshot::restore_problems`]) or repair it
//! ([`VcpuSnapshot::normalise_for`]).
//!
//! - `codec`: the file format (docs/snapshot-format.md), [`encode`](VcpuSnapshot::encode)
//!   and [`decode`](VcpuSnapshot::decode), refusing anything truncated, corrupt,
//!   unknown or impossible with an error naming the field or offset, and [`sections`]
//!   for a file's table of contents;
//! - `crc`: CRC-32C, the file checksum;
//! - [`safety`]: the restore-safety checks, the cross-vendor normalisation and the
//!   read-back comparison after a restore;
//! - `diff`: field-by-field differences with their meaning ([`diff()`]);
//! - [`file`](mod@file) (`std`): atomic writes and size-limited reads.
//!
//! Raw fields stay raw: the FPU/XSAVE image, the LAPIC page, `kvm_vcpu_events` and
//! `kvm_debugregs` are opaque bytes of the C structs; only the special registers are
//! decoded, because the checks need them.
//!
//! ```
//! use segstate::arch::{Attributes, PrivilegeLevel, SegReg, Segment, Selector, Vendor};
//! use segstate::format::kvm::{KvmSegment, KvmSregs};
//! use segstate::snapshot::{Regs, VcpuSnapshot};
//!
//! // User code after AMD's SYSRET: CPL 3, SS null-loaded (unusable) with DPL 3.
//! let mut state = segstate::verify::baseline(PrivilegeLevel::Ring3);
//! state.segments[SegReg::Ss] =
//!     Segment::null(Selector(0x2b), Attributes::flat_data(PrivilegeLevel::Ring3));
//! let mut sregs = KvmSregs { cr0: state.cr0, cr4: state.cr4, efer: state.efer, ..KvmSregs::default() };
//! sregs.set_segments(&state.segments.map(|_, s| KvmSegment::from(*s)));
//! let regs = Regs { rflags: state.rflags, ..Regs::default() };
//! let snap = VcpuSnapshot::new(state.cpl, regs, sregs);
//! let bytes = snap.encode();
//! let back = VcpuSnapshot::decode(&bytes).unwrap();
//! assert_eq!(back, snap);
//! assert_eq!(back.cpl, PrivilegeLevel::Ring3);
//! assert!(back.restore_problems(Vendor::Intel).is_empty());
//!
//! // The 2017 bug: SS.DPL lost, CPL kept. The snapshot knows.
//! let mut bad = back.clone();
//! bad.sregs.ss.dpl = 0;
//! let problems = bad.restore_problems(Vendor::Intel);
//! assert!(problems[0].to_string().contains("SS.DPL 0 disagrees with the snapshot's CPL 3"));
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::arch::{Cpl, PrivilegeLevel, Vendor};
use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};

pub(crate) mod codec;
pub(crate) mod crc;
mod diff;
#[cfg(feature = "std")]
pub mod file;
pub mod safety;

pub use codec::{
    DEFAULT_DECODE_LIMIT, DecodeError, FORMAT_MAJOR, FORMAT_MINOR, MAGIC, SectionInfo, sections,
};
pub use diff::{Difference, diff};
pub use safety::{Change, ReadbackMismatch, RestoreProblem};

/// Where a snapshot was taken.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HostDescription {
    /// The vendor whose entry rules the state was taken under, if known.
    pub vendor: Option<Vendor>,
    /// The CPUID vendor string (`GenuineIntel`, …), as the host reported it.
    pub cpu_vendor: String,
    /// KVM_GET_API_VERSION.
    pub kvm_api_version: u32,
    /// The KVM backend module(s), e.g. `kvm_intel`, `kvm_amd`, `kvm_pvm`.
    pub backend: String,
    /// `(KVM_CAP_* number, KVM_CHECK_EXTENSION result)` pairs.
    pub capabilities: Vec<(u32, i32)>,
}

/// Declares `struct kvm_regs` from its field list, written once in C order: the struct,
/// [`Regs::NAMES`], the conversions to and from an array in that order, and (feature
/// `kvm-bindings`) `From` both ways with `kvm_bindings::kvm_regs`.
macro_rules! kvm_regs {
    ($(#[$meta:meta])* pub struct $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[allow(missing_docs)]
        pub struct $name {
            $(pub $field: u64,)*
        }

        impl $name {
            /// Field names in C order.
            pub const NAMES: [&'static str; 18] = [$(stringify!($field)),*];

            /// The values in C order.
            #[must_use]
            pub fn to_array(&self) -> [u64; 18] {
                [$(self.$field),*]
            }

            /// From the values in C order.
            #[must_use]
            pub fn from_array(a: [u64; 18]) -> Self {
                let [$($field),*] = a;
                $name { $($field),* }
            }
        }

        /// rust-vmm's `kvm-bindings` names the fields alike.
        #[cfg(feature = "kvm-bindings")]
        impl From<kvm_bindings::kvm_regs> for $name {
            fn from(r: kvm_bindings::kvm_regs) -> Self {
                $name { $($field: r.$field),* }
            }
        }

        #[cfg(feature = "kvm-bindings")]
        impl From<$name> for kvm_bindings::kvm_regs {
            fn from(r: $name) -> Self {
                kvm_bindings::kvm_regs { $($field: r.$field),* }
            }
        }
    };
}

kvm_regs! {
    /// `struct kvm_regs`, field for field (144 bytes).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Regs {
        rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp,
        r8, r9, r10, r11, r12, r13, r14, r15,
        rip, rflags,
    }
}

impl Regs {
    /// Size of the C struct.
    pub const SIZE: usize = 144;
}

/// One MSR: index and value (`struct kvm_msr_entry` without its reserved word).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MsrEntry {
    /// MSR number.
    pub index: u32,
    /// Value.
    pub value: u64,
}

/// One extended control register (`struct kvm_xcr` without its reserved word).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Xcr {
    /// XCR number (0 is XCR0).
    pub index: u32,
    /// Value.
    pub value: u64,
}

/// Guest physical memory: `data` at `gpa`. Bytes of guest RAM not covered by any
/// region of a whole-VM snapshot are zero.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct MemoryRegion {
    /// Guest physical address of `data[0]`.
    pub gpa: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

impl fmt::Debug for MemoryRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemoryRegion({:#x}+{:#x})", self.gpa, self.data.len())
    }
}

/// Sizes of the raw C structs a snapshot carries as opaque bytes.
pub mod raw_size {
    /// `struct kvm_debugregs`.
    pub const DEBUGREGS: usize = 128;
    /// `struct kvm_fpu`.
    pub const FPU: usize = 416;
    /// `struct kvm_vcpu_events`.
    pub const VCPU_EVENTS: usize = 64;
    /// `struct kvm_lapic_state`.
    pub const LAPIC: usize = 1024;
    /// `struct kvm_cpuid_entry2`.
    pub const CPUID_ENTRY: usize = 40;
    /// Smallest XSAVE image: legacy region (512) + XSAVE header (64).
    pub const XSAVE_MIN: usize = 576;
    /// `struct kvm_xsave` without the dynamic tail (KVM_GET_XSAVE).
    pub const XSAVE_LEGACY: usize = 4096;
}

/// Everything KVM holds for one vCPU, plus (optionally) guest memory.
///
/// The CPL is a field of its own. [`VcpuSnapshot::restore_problems`] refuses a state
/// whose SS.DPL (KVM's carrier of the CPL) disagrees with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcpuSnapshot {
    /// Where the snapshot was taken.
    pub host: HostDescription,
    /// The vCPU id (KVM_CREATE_VCPU argument).
    pub vcpu_id: u32,
    /// The current privilege level, explicit.
    pub cpl: Cpl,
    /// `kvm_regs`.
    pub regs: Regs,
    /// `kvm_sregs`, every segment exact as KVM reported it.
    pub sregs: KvmSregs,
    /// `kvm_debugregs`, raw ([`raw_size::DEBUGREGS`] bytes).
    pub debug_regs: Option<Vec<u8>>,
    /// MSRs (from KVM_GET_MSR_INDEX_LIST, those the host let us read).
    pub msrs: Vec<MsrEntry>,
    /// `kvm_fpu`, raw ([`raw_size::FPU`] bytes); normally absent when `xsave` is present.
    pub fpu: Option<Vec<u8>>,
    /// The XSAVE image (KVM_GET_XSAVE/XSAVE2), raw, with its length.
    pub xsave: Option<Vec<u8>>,
    /// Extended control registers.
    pub xcrs: Option<Vec<Xcr>>,
    /// `kvm_vcpu_events`, raw ([`raw_size::VCPU_EVENTS`] bytes; layout in
    /// docs/snapshot-format.md).
    pub vcpu_events: Option<Vec<u8>>,
    /// `kvm_lapic_state`, raw ([`raw_size::LAPIC`] bytes), when the VM has an
    /// in-kernel LAPIC.
    pub lapic: Option<Vec<u8>>,
    /// `kvm_mp_state.mp_state`.
    pub mp_state: Option<u32>,
    /// `kvm_cpuid_entry2` entries, raw ([`raw_size::CPUID_ENTRY`] bytes each).
    pub cpuid: Option<Vec<[u8; raw_size::CPUID_ENTRY]>>,
    /// Guest memory, for whole-VM snapshots.
    pub memory: Vec<MemoryRegion>,
}

impl VcpuSnapshot {
    /// A snapshot of `regs` and `sregs` at `cpl`, with nothing else captured: no host
    /// description, no MSRs, no optional state, no memory. There is no `Default`: a
    /// snapshot cannot be made without saying its CPL.
    #[must_use]
    pub fn new(cpl: Cpl, regs: Regs, sregs: KvmSregs) -> Self {
        VcpuSnapshot {
            host: HostDescription::default(),
            vcpu_id: 0,
            cpl,
            regs,
            sregs,
            debug_regs: None,
            msrs: Vec::new(),
            fpu: None,
            xsave: None,
            xcrs: None,
            vcpu_events: None,
            lapic: None,
            mp_state: None,
            cpuid: None,
            memory: Vec::new(),
        }
    }
}

impl VcpuSnapshot {
    /// The CPL that KVM would derive from this state (SS.DPL, low two bits).
    #[must_use]
    pub fn kvm_cpl(&self) -> PrivilegeLevel {
        self.sregs.cpl()
    }

    /// A synthetic snapshot of the harness guest paused at CPL 3 with an unusable SS
    /// of DPL 3 (AMD's post-SYSRET state), as KVM on Intel reports it. For examples,
    /// tests and the compatibility corpus; no memory.
    #[must_use]
    pub(crate) fn example_user_null_ss() -> Self {
        let seg = |selector: u16, type_: u8, dpl: u8, l: u8, db: u8| KvmSegment {
            base: 0,
            limit: 0xffff_ffff,
            selector,
            type_,
            present: 1,
            dpl,
            db,
            s: 1,
            l,
            g: 1,
            avl: 0,
            unusable: 0,
            padding: 0,
        };
        let data = seg(0x23, 3, 3, 0, 1);
        let sregs = KvmSregs {
            cs: seg(0x2b, 11, 3, 1, 0),
            ds: data,
            es: data,
            fs: data,
            gs: data,
            ss: KvmSegment {
                limit: 0,
                present: 0,
                unusable: 1,
                ..data
            },
            tr: KvmSegment {
                base: 0x3000,
                limit: 0x67,
                selector: 0x30,
                type_: 11,
                present: 1,
                ..KvmSegment::default()
            },
            ldt: KvmSegment {
                unusable: 1,
                ..KvmSegment::default()
            },
            gdt: KvmDtable::new(0x1000, 63),
            idt: KvmDtable::new(0x2000, 511),
            cr0: 0x8005_0033,
            cr2: 0,
            cr3: 0x4000,
            cr4: 0x620,
            cr8: 0,
            efer: 0x501,
            apic_base: 0xfee0_0900,
            interrupt_bitmap: [0; 4],
        };
        VcpuSnapshot {
            host: HostDescription {
                vendor: Some(Vendor::Intel),
                cpu_vendor: "GenuineIntel".into(),
                kvm_api_version: 12,
                backend: "kvm_intel".into(),
                capabilities: alloc::vec![(40, 1), (179, 1)],
            },
            vcpu_id: 0,
            cpl: PrivilegeLevel::Ring3,
            regs: Regs {
                rip: 0x2_0006,
                rsp: 0x7_0000,
                rflags: 0x2,
                ..Regs::default()
            },
            sregs,
            debug_regs: Some(alloc::vec![0; raw_size::DEBUGREGS]),
            msrs: alloc::vec![
                MsrEntry {
                    index: crate::arch::msr::STAR,
                    value: 0x0018_0008_0000_0000,
                },
                MsrEntry {
                    index: crate::arch::msr::SFMASK,
                    value: 0x4_4700,
                },
            ],
            fpu: None,
            xsave: None,
            xcrs: Some(alloc::vec![Xcr { index: 0, value: 1 }]),
            vcpu_events: Some(alloc::vec![0; raw_size::VCPU_EVENTS]),
            lapic: None,
            mp_state: Some(0),
            cpuid: None,
            memory: Vec::new(),
        }
    }
}

#[cfg(all(test, feature = "kvm-bindings"))]
mod bindings_tests {
    use super::Regs;

    #[test]
    fn kvm_regs_round_trip_field_for_field() {
        let ours = Regs::from_array(core::array::from_fn(|i| i as u64 + 1));
        let theirs = kvm_bindings::kvm_regs::from(ours);
        assert_eq!(
            (
                theirs.rax,
                theirs.rdi,
                theirs.r8,
                theirs.r15,
                theirs.rip,
                theirs.rflags
            ),
            (1, 6, 9, 16, 17, 18)
        );
        assert_eq!(Regs::from(theirs), ours);
    }
}
