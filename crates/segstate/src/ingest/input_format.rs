//! The input formats `check` and `snapshot import` read, by the name `--format` takes.

use std::string::String;

use core::fmt;

/// The input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputFormat {
    /// QEMU CPU state dump text (`info registers`, `-d cpu`, "KVM: entry failed").
    Dump,
    /// Raw `struct kvm_sregs`, 312 bytes.
    Sregs,
    /// Raw `struct kvm_sregs` followed by `struct kvm_regs`, 456 bytes.
    SregsRegs,
    /// A whole 4 KiB VMCB page.
    Vmcb,
    /// A VMCB save area, 664 to 3072 bytes.
    VmcbSave,
    /// segstate's JSON state: a `kvm_sregs` as `segstate convert --to sregs` writes it.
    Json,
    /// A QEMU migration stream (`migrate "exec:cat > FILE"`), read as a stream: guest
    /// RAM is skipped, never held in memory.
    Migration,
    /// A libvirt saved-VM image (`virsh save`): its header and domain XML, then a
    /// QEMU migration stream.
    Libvirt,
    /// A segstate snapshot (`segstate snapshot save`), with its explicit CPL.
    Snapshot,
    /// A Cloud Hypervisor snapshot's `state.json` (or `vm.json`, v15–v21) or its
    /// directory: every vCPU, in the layout of each version from v15.
    CloudHypervisor,
    /// A Firecracker snapshot state file (formats 1.x to 11.x, and the Versionize files
    /// of Firecracker 0.23 to 1.6): every vCPU.
    Firecracker,
    /// A crosvm snapshot's `vcpu{N}` fragment (CBOR, or the JSON of crosvm before
    /// 2025-03-11), or the snapshot directory: every vCPU.
    Crosvm,
    /// A Xen HVM save image (`xl save`, a libxl or libxc stream), read as a stream down
    /// to its `HVM_CONTEXT`: every vCPU.
    Xen,
    /// A Hyper-V partition state blob (`VP_SEGMENT_REGISTERS` with its CPL): every VP.
    HyperV,
    /// The text Xen's `xen-hvmctx DOMID` prints (Xen 4.0 to today): every CPU entry,
    /// loaded as the save image's `hvm_hw_cpu` is.
    XenHvmctx,
    /// The `regs.json` of the snapshot fuzzer wtf (bdump.js or wtf's linux_mode
    /// scripts), each producer's `attr` encoding decided and named (`wtf`, with `serde`).
    Wtf,
    /// A QEMU guest memory dump (`dump-guest-memory`, `virsh dump --memory-only`), ELF
    /// or kdump-compressed, read as a stream down to its notes: every vCPU's segment
    /// cache.
    Vmcore,
    /// A qcow2 image's internal snapshots (`savevm`, `virsh snapshot-create`), read by
    /// path: every snapshot's VM state as a migration stream.
    Qcow2,
    /// A HyperFuzzer VM state (MSRSSP/hyperfuzzer-seeds): its register file, and the
    /// instruction at CS:RIP read through the page tables in the memory after it. It
    /// has no magic: named only.
    HyperFuzzer,
}

impl InputFormat {
    /// Every format.
    pub const ALL: [InputFormat; 19] = [
        InputFormat::Dump,
        InputFormat::Sregs,
        InputFormat::SregsRegs,
        InputFormat::Vmcb,
        InputFormat::VmcbSave,
        InputFormat::Json,
        InputFormat::Migration,
        InputFormat::Libvirt,
        InputFormat::Snapshot,
        InputFormat::CloudHypervisor,
        InputFormat::Firecracker,
        InputFormat::Crosvm,
        InputFormat::Xen,
        InputFormat::HyperV,
        InputFormat::XenHvmctx,
        InputFormat::Wtf,
        InputFormat::Vmcore,
        InputFormat::Qcow2,
        InputFormat::HyperFuzzer,
    ];

    /// The name `--format` takes.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            InputFormat::Dump => "dump",
            InputFormat::Sregs => "sregs",
            InputFormat::SregsRegs => "sregs+regs",
            InputFormat::Vmcb => "vmcb",
            InputFormat::VmcbSave => "vmcb-save",
            InputFormat::Json => "json",
            InputFormat::Migration => "migration",
            InputFormat::Libvirt => "libvirt",
            InputFormat::Snapshot => "snapshot",
            InputFormat::CloudHypervisor => "cloud-hypervisor",
            InputFormat::Firecracker => "firecracker",
            InputFormat::Crosvm => "crosvm",
            InputFormat::Xen => "xen",
            InputFormat::HyperV => "hyperv",
            InputFormat::XenHvmctx => "xen-hvmctx",
            InputFormat::Wtf => "wtf",
            InputFormat::Vmcore => "vmcore",
            InputFormat::Qcow2 => "qcow2",
            InputFormat::HyperFuzzer => "hyperfuzzer",
        }
    }
}

/// A name [`InputFormat::name`] does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownInputFormat(pub String);

impl fmt::Display for UnknownInputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown input format `{}` (one of:",
            self.0.escape_debug()
        )?;
        for format in InputFormat::ALL {
            write!(f, " {}", format.name())?;
        }
        f.write_str(")")
    }
}

impl core::error::Error for UnknownInputFormat {}

impl core::str::FromStr for InputFormat {
    type Err = UnknownInputFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InputFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownInputFormat(String::from(s)))
    }
}

display_by_name!(InputFormat);
