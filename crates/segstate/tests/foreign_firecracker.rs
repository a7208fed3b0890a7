//! The Firecracker snapshot reader against state files written by the real Firecracker
//! (tests/fixtures/firecracker, v1.17.0-dev, format 11.0.0, this host's /dev/kvm): every
//! vCPU's segments and CPL; a re-saved file with other bytes and the same state; and
//! damaged, cut, re-versioned and foreign files refused with the place named.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use segstate::arch::PrivilegeLevel;
use segstate::format::kvm::{KvmSegment, KvmSregs};
use segstate::ingest::firecracker::{self, Encoding, MAGIC_AARCH64, MAGIC_X86_64};
use segstate::ingest::foreign::{ForeignVcpu, Place, Reason, Stack};

mod foreign_common;
use foreign_common::{
    FIRECRACKER_USER as USER, assert_guest_star, firecracker_refused as refused, sealed, user_vcpu0,
};
const RESAVED: &[u8] = include_bytes!("fixtures/firecracker/user-null-ss-resaved.vmstate");
const KERNEL: &[u8] = include_bytes!("fixtures/firecracker/kernel-cpl0.vmstate");
/// The user-mode guest written by Firecracker v1.16.1 (format 10) and v1.15.1 (format 9).
const USER_OLDER: [(&str, &[u8]); 2] = [
    (
        "10.0.0",
        include_bytes!("fixtures/firecracker/user-null-ss-v1.16.1.vmstate"),
    ),
    (
        "9.0.0",
        include_bytes!("fixtures/firecracker/user-null-ss-v1.15.1.vmstate"),
    ),
];
/// Block, vsock, balloon, entropy, net (with MMDS) and pmem devices, MMIO and PCI
/// transports, formats 11, 10 and 9.
const WITH_DEVICES: [(&str, &[u8]); 6] = [
    (
        "devices-mmio",
        include_bytes!("fixtures/firecracker/devices-mmio.vmstate"),
    ),
    (
        "devices-pci",
        include_bytes!("fixtures/firecracker/devices-pci.vmstate"),
    ),
    (
        "devices-mmio-v1.16.1",
        include_bytes!("fixtures/firecracker/devices-mmio-v1.16.1.vmstate"),
    ),
    (
        "devices-pci-v1.16.1",
        include_bytes!("fixtures/firecracker/devices-pci-v1.16.1.vmstate"),
    ),
    (
        "devices-mmio-v1.15.1",
        include_bytes!("fixtures/firecracker/devices-mmio-v1.15.1.vmstate"),
    ),
    (
        "devices-pci-v1.15.1",
        include_bytes!("fixtures/firecracker/devices-pci-v1.15.1.vmstate"),
    ),
];

/// Addresses in the guest (tools/foreign-fixtures/guest.S, `nm guest.elf`).
const ENTRY32: u64 = 0x10_0000;
const USER_LOOP: u64 = 0x10_0099;
const KERNEL_LOOP: u64 = 0x10_0084;
const GDT: u64 = 0x10_00a0;
/// RAX the guest sets before it parks: "SEGSTATE".
const MARKER: u64 = 0x5345_4753_5441_5445;

fn read(bytes: &[u8]) -> Vec<ForeignVcpu> {
    firecracker::read(bytes, "fixture").unwrap_or_else(|e| panic!("{e}"))
}

/// The fixture with its version string replaced (same length), re-sealed.
fn with_version(version: &str) -> Vec<u8> {
    let body = &USER[..USER.len() - 8];
    let at = body
        .windows(6)
        .position(|w| w == b"11.0.0")
        .expect("the version string is in the header");
    let mut b = body.to_vec();
    b[at..at + version.len()].copy_from_slice(version.as_bytes());
    sealed(&b)
}

/// A present flat 4 GiB ring-0 read/write data segment (selector 0x10).
const FLAT_DATA: KvmSegment = KvmSegment {
    base: 0,
    limit: 0xffff_ffff,
    selector: 0x10,
    type_: 3,
    present: 1,
    dpl: 0,
    db: 1,
    s: 1,
    l: 0,
    g: 1,
    avl: 0,
    unusable: 0,
    padding: 0,
};
/// Ring-0 code, 32-bit (selector 0x08): what the PVH setup loads.
const CODE32: KvmSegment = KvmSegment {
    selector: 0x08,
    type_: 11,
    ..FLAT_DATA
};
/// Ring-0 code, 64-bit.
const CODE64: KvmSegment = KvmSegment {
    db: 0,
    l: 1,
    ..CODE32
};
/// The 64-bit TSS the PVH setup loads (selector 0x18, 0x67 bytes).
const TSS: KvmSegment = KvmSegment {
    selector: 0x18,
    type_: 11,
    s: 0,
    db: 0,
    g: 0,
    limit: 0x67,
    ..FLAT_DATA
};

/// The segments both VMMs saved for the user-mode vCPU 0.
fn user_segments(s: &KvmSregs) {
    let user_code = KvmSegment {
        selector: 0x23,
        dpl: 3,
        ..CODE64
    };
    assert_eq!(s.cs, user_code, "CS");
    // After SYSRET from a null SS this backend reports selector 0x1b with P = 1,
    // DPL 3 and a 0xfff limit.
    let user_ss = KvmSegment {
        selector: 0x1b,
        dpl: 3,
        limit: 0xfff,
        ..FLAT_DATA
    };
    assert_eq!(s.ss, user_ss, "SS");
    for (name, d) in [("DS", s.ds), ("ES", s.es), ("FS", s.fs), ("GS", s.gs)] {
        assert_eq!(d, FLAT_DATA, "{name}");
    }
    assert_eq!(s.tr, TSS, "TR");
    assert_eq!(s.gdt.base, GDT);
    assert_eq!(s.gdt.limit, 39);
    assert_eq!(s.efer, 0x501, "EFER: SCE | LME | LMA");
    assert_eq!(s.cr0 & 0x8000_0001, 0x8000_0001, "PG | PE");
}

/// vCPU 1 never ran: the 32-bit flat state of the VMM's PVH setup, CPL 0.
fn unstarted_ap(v: &ForeignVcpu) {
    assert_eq!(v.id, "1");
    assert_eq!(v.mp_state, Some(1), "KVM_MP_STATE_UNINITIALIZED");
    assert_eq!(v.cpl(), PrivilegeLevel::Ring0);
    assert_eq!(v.regs.rip, ENTRY32);
    assert_eq!(v.sregs.cs, CODE32, "AP CS");
    assert_eq!(v.sregs.ss, FLAT_DATA, "AP SS");
    assert_eq!(v.sregs.efer, 0);
}

#[test]
fn user_mode_snapshot_every_vcpu_with_its_cpl() {
    let vcpus = read(USER);
    let v = user_vcpu0(&vcpus, Stack::Firecracker);
    assert_eq!(v.format, "Firecracker snapshot 11.0.0");
    assert_eq!(v.cpl_disagreement(), None);
    user_segments(&v.sregs);
    assert!(
        (USER_LOOP..USER_LOOP + 4).contains(&v.regs.rip),
        "rip {:#x} is in user_loop",
        v.regs.rip
    );
    assert_eq!(v.regs.rax, MARKER);
    assert_eq!(v.regs.rcx, USER_LOOP, "SYSRET's target");
    assert_eq!(v.regs.r11 & 0x200, 0, "IF clear, as the guest set R11");
    assert_eq!(v.mp_state, Some(0), "KVM_MP_STATE_RUNNABLE");
    assert_eq!(v.lapic.as_ref().map(Vec::len), Some(1024));
    assert_eq!(v.vcpu_events.as_ref().map(Vec::len), Some(64));
    let msr = |i: u32| v.msrs.iter().find(|m| m.index == i).map(|m| m.value);
    assert_guest_star(v);
    // Firecracker rewrites a zero TSC deadline when saving.
    assert_ne!(msr(segstate::arch::msr::TSC_DEADLINE).unwrap_or(0), 0);
    unstarted_ap(&vcpus[1]);
}

#[test]
fn formats_10_and_9_are_read_with_their_own_layouts() {
    for (version, bytes) in USER_OLDER {
        let vcpus = read(bytes);
        assert_eq!(vcpus.len(), 2, "{version}");
        assert_eq!(vcpus[0].format, format!("Firecracker snapshot {version}"));
        assert_eq!(vcpus[0].cpl(), PrivilegeLevel::Ring3, "{version}");
        user_segments(&vcpus[0].sregs);
        assert_eq!(vcpus[0].regs.rax, MARKER);
        unstarted_ap(&vcpus[1]);
    }
}

#[test]
fn device_states_of_both_transports_and_formats_decode() {
    for (name, bytes) in WITH_DEVICES {
        let vcpus = firecracker::read(bytes, name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vcpus.len(), 2, "{name}");
        let want = if name.ends_with("v1.16.1") {
            "10.0.0"
        } else if name.ends_with("v1.15.1") {
            "9.0.0"
        } else {
            "11.0.0"
        };
        assert_eq!(
            vcpus[0].format,
            format!("Firecracker snapshot {want}"),
            "{name}"
        );
        assert_eq!(vcpus[0].cpl(), PrivilegeLevel::Ring3, "{name}");
        user_segments(&vcpus[0].sregs);
        unstarted_ap(&vcpus[1]);
    }
}

#[test]
fn kernel_mode_snapshot_is_cpl_0() {
    let vcpus = read(KERNEL);
    assert_eq!(vcpus.len(), 2);
    let v = &vcpus[0];
    assert_eq!(v.cpl(), PrivilegeLevel::Ring0);
    assert_eq!(v.sregs.cs, CODE64);
    assert_eq!(v.sregs.ss, FLAT_DATA);
    assert!((KERNEL_LOOP..KERNEL_LOOP + 4).contains(&v.regs.rip));
    assert_eq!(v.regs.rax, MARKER);
    unstarted_ap(&vcpus[1]);
}

#[test]
fn resaved_file_has_other_bytes_and_the_same_vcpus() {
    // Restored and saved again: bitcode packs the columns differently, so the raw
    // kvm_sregs bytes are not where they were (the reader decodes the layout).
    let (a, b) = (read(USER), read(RESAVED));
    assert_ne!(USER.len(), RESAVED.len());
    let offset =
        |file: &[u8], s: &KvmSregs| file.windows(KvmSregs::SIZE).position(|w| w == s.to_bytes());
    assert_ne!(offset(USER, &a[0].sregs), offset(RESAVED, &b[0].sregs));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.sregs, y.sregs, "vCPU {} sregs", x.id);
        assert_eq!(x.cpl(), y.cpl());
        assert_eq!(x.regs.rax, y.regs.rax);
        assert_eq!(x.regs.rcx, y.regs.rcx);
    }
}

#[test]
fn import_makes_the_cpl_explicit() {
    let v = &read(USER)[0];
    let snap = v.to_snapshot(0);
    assert_eq!(snap.cpl, PrivilegeLevel::Ring3);
    assert_eq!(snap.sregs, v.sregs);
    assert_eq!(snap.regs, v.regs);
    assert!(!snap.cpl_disagrees());
    let back = segstate::snapshot::VcpuSnapshot::decode(&snap.encode()).unwrap();
    assert_eq!(back.cpl, PrivilegeLevel::Ring3);
    assert_eq!(back.msrs, v.msrs);
}

#[test]
fn recognised_by_magic_only() {
    assert_eq!(firecracker::recognise(USER), Some(Encoding::Bitcode));
    assert_eq!(firecracker::recognise(b"{\"snapshots\": {}}"), None);
    assert_eq!(firecracker::recognise(&[0u8; 312]), None);
    let mut bincode = MAGIC_X86_64.to_le_bytes().to_vec();
    bincode.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(firecracker::recognise(&bincode), Some(Encoding::Bincode));
    // Versionize: the magic ORed with the snapshot format version 1.
    let versionize = (MAGIC_X86_64 | 1).to_le_bytes();
    assert_eq!(
        firecracker::recognise(&versionize),
        Some(Encoding::Versionize)
    );
    assert_eq!(
        firecracker::recognise(&(MAGIC_X86_64 | 2).to_le_bytes()),
        None
    );
}

#[test]
fn corrupted_file_is_refused_by_crc_at_the_checksum_offset() {
    let mut bad = USER.to_vec();
    bad[USER.len() / 2] ^= 0x40;
    let e = refused(&bad);
    assert_eq!(e.place, Place::Offset(USER.len() - 8));
    let stored = u64::from_le_bytes(USER[USER.len() - 8..].try_into().unwrap());
    match e.reason {
        Reason::BadChecksum {
            stored: s,
            computed,
        } => {
            assert_eq!(s, stored);
            assert_ne!(computed, stored);
        }
        ref r => panic!("expected a checksum error, got {r}"),
    }
    let msg = e.to_string();
    assert!(
        msg.starts_with("damaged.vmstate: Firecracker snapshot: offset"),
        "{msg}"
    );
    assert!(msg.contains("checksum mismatch"), "{msg}");
}

#[test]
fn truncated_files_are_refused() {
    // Cut: the checksum no longer matches.
    let e = refused(&USER[..USER.len() / 2]);
    assert!(matches!(e.reason, Reason::BadChecksum { .. }), "{e}");
    // Shorter than a header.
    let e = refused(&USER[..5]);
    assert_eq!(
        e.reason,
        Reason::Truncated {
            needed: 9,
            found: 5
        }
    );
    // Cut and re-sealed (a valid CRC over too few bytes): the layout runs out, and the
    // error names the part of the state being decoded.
    for cut in [40, 2000, USER.len() / 2, USER.len() - 100] {
        let e = refused(&sealed(&USER[..cut]));
        let Place::Field(field) = &e.place else {
            panic!("cut at {cut}: expected a field, got {}", e.place)
        };
        assert!(field == "header" || field.starts_with("data."), "{field}");
        assert!(matches!(e.reason, Reason::Layout(_)), "{e}");
    }
}

#[test]
fn other_versions_are_refused_by_version() {
    for v in ["12.0.0", "99.1.0", "08.0.0"] {
        let e = refused(&with_version(v));
        assert_eq!(e.place, Place::Field(String::from("header.version")), "{v}");
        match &e.reason {
            Reason::UnsupportedVersion { found, .. } => assert_eq!(found, v),
            r => panic!("{v}: expected a version refusal, got {r}"),
        }
    }
    // A newer minor of the same major is read, as Firecracker itself would.
    let vcpus = read(&with_version("11.3.0"));
    assert_eq!(
        vcpus[0].format,
        "Firecracker snapshot 11.3.0 (read with the 11.0 layout)"
    );
    assert_eq!(vcpus[0].cpl(), PrivilegeLevel::Ring3);
}

#[test]
fn a_header_that_names_the_wrong_layout_is_refused_by_the_layout() {
    // An 11.0 body under a 10.0 header: the 10.x layout does not fit it.
    let e = refused(&with_version("10.0.0"));
    let Place::Field(field) = &e.place else {
        panic!("expected a field, got {}", e.place)
    };
    assert!(field.starts_with("data."), "{field}");
    assert!(e.to_string().contains("10.x type layout"), "{e}");
    // Under a 9.0.0 header (one byte shorter: the version string's length byte at
    // offset 9, then its text), re-sealed: the 9.x layout does not fit it either.
    let body = &USER[..USER.len() - 8];
    let mut b = body[..9].to_vec();
    b.push(5);
    b.extend_from_slice(b"9.0.0");
    b.extend_from_slice(&body[16..]);
    let e = refused(&sealed(&b));
    assert!(e.to_string().contains("9.x type layout"), "{e}");
}

#[test]
fn bincode_and_versionize_files_are_named_by_version() {
    // Formats 1 to 8: bincode with fixed-width integers, the raw magic first.
    let mut bincode = MAGIC_X86_64.to_le_bytes().to_vec();
    bincode.extend_from_slice(&5u64.to_le_bytes());
    bincode.extend_from_slice(b"7.0.0"); // never released: no layout
    bincode.extend_from_slice(&[0; 64]);
    let e = refused(&bincode);
    assert_eq!(e.place, Place::Field(String::from("header.version")));
    assert!(
        matches!(&e.reason, Reason::UnsupportedVersion { found, .. } if found == "7.0.0 (bincode)"),
        "{e}"
    );
    // Versionize (Firecracker before 1.7): the magic ORed with 1, then a u16 data
    // version; 11 was never written (1.7 moved to bincode).
    let mut versionize = (MAGIC_X86_64 | 1).to_le_bytes().to_vec();
    versionize.extend_from_slice(&[11, 0, 0xaa, 0xbb]);
    let e = refused(&versionize);
    assert_eq!(e.place, Place::Field(String::from("header.data_version")));
    assert!(e.to_string().contains("Versionize data version 11"), "{e}");
    assert!(e.to_string().contains("Firecracker 0.23 to 1.6"), "{e}");
    // A bincode magic with no version string after it.
    let mut no_version = MAGIC_X86_64.to_le_bytes().to_vec();
    no_version.extend_from_slice(&[0xff; 24]);
    let e = refused(&no_version);
    assert_eq!(e.place, Place::Field(String::from("header.version")));
    assert!(matches!(e.reason, Reason::Missing(_)), "{e}");
}

#[test]
fn another_architectures_magic_is_refused() {
    let body = &USER[..USER.len() - 8];
    let at = body
        .windows(8)
        .position(|w| w == MAGIC_X86_64.to_le_bytes())
        .unwrap();
    let mut b = body.to_vec();
    b[at..at + 8].copy_from_slice(&MAGIC_AARCH64.to_le_bytes());
    let e = refused(&sealed(&b));
    assert_eq!(
        e.reason,
        Reason::BadMagic {
            found: MAGIC_AARCH64,
            expected: MAGIC_X86_64
        }
    );
}

#[test]
fn files_over_firecrackers_limit_are_refused_before_decoding() {
    let mut big = USER.to_vec();
    big.resize(10_000_001, 0);
    let e = refused(&big);
    assert_eq!(
        e.reason,
        Reason::TooLarge {
            size: 10_000_001,
            limit: 10_000_000
        }
    );
}

#[test]
fn a_file_cpl_that_disagrees_with_ss_dpl_is_reported_and_kept() {
    // Formats with a CPL field of their own (Hyper-V, bhyve) set `file_cpl`; here the
    // real user-mode vCPU with a CPL field claiming ring 0 while SS.DPL says 3.
    let mut v = read(USER).remove(0);
    assert_eq!(v.cpl_disagreement(), None);
    v.file_cpl = Some(PrivilegeLevel::Ring0);
    assert_eq!(v.cpl(), PrivilegeLevel::Ring0, "the file's own CPL wins");
    let d = v.cpl_disagreement().expect("a disagreement");
    assert_eq!(
        (d.file, d.ss_dpl),
        (PrivilegeLevel::Ring0, PrivilegeLevel::Ring3)
    );
    assert!(
        d.to_string().contains("CPL field is 0 but SS.DPL is 3"),
        "{d}"
    );
    // Imported, the snapshot keeps the explicit CPL and its restore check refuses the
    // SS.DPL that contradicts it.
    let snap = v.to_snapshot(0);
    assert_eq!(snap.cpl, PrivilegeLevel::Ring0);
    assert!(snap.cpl_disagrees());
    assert!(
        !snap
            .restore_problems(segstate::arch::Vendor::Intel)
            .is_empty()
    );
    // Agreeing fields are no disagreement.
    v.file_cpl = Some(PrivilegeLevel::Ring3);
    assert_eq!(v.cpl_disagreement(), None);
}
