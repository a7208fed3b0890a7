//! The Firecracker reader against the encodings before bitcode: the bincode formats 1
//! to 8 (Firecracker 1.7 to 1.14) and Versionize (before 1.7), in state files written by
//! the real Firecracker on this host's /dev/kvm (tests/fixtures/firecracker/legacy,
//! README.md there): every vCPU's segments and CPL; the layout an 8.x file was read
//! with; and damaged, cut and re-versioned files refused with the field path and offset
//! named.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use segstate::arch::PrivilegeLevel;
use segstate::format::kvm::KvmSegment;
use segstate::ingest::firecracker;
use segstate::ingest::foreign::{ForeignVcpu, Place, Reason, Stack};

mod foreign_common;
use foreign_common::{assert_guest_star, firecracker_refused as refused, sealed, user_vcpu0};

/// A file of the user-mode guest: the Firecracker release, its format, the bytes.
struct Written {
    release: &'static str,
    format: &'static str,
    bytes: &'static [u8],
}

macro_rules! written {
    ($release:literal, $format:expr, $name:literal) => {
        Written {
            release: $release,
            format: $format,
            bytes: include_bytes!(concat!("fixtures/firecracker/legacy/", $name)),
        }
    };
}

/// What the note says of an 8.x file read with Firecracker 1.14's layout.
const F8_114: &str = "Firecracker snapshot 8.0.0 (bincode, Firecracker 1.14's layout)";

/// The user-mode guest (`user-null-ss`), one file per bincode format.
const USER: &[Written] = &[
    written!("v1.14.4", F8_114, "v1.14.4-user-null-ss.vmstate"),
    written!(
        "v1.13.2",
        "Firecracker snapshot 8.0.0 (bincode, Firecracker 1.13's layout)",
        "v1.13.2-user-null-ss.vmstate"
    ),
    written!(
        "v1.12.1",
        "Firecracker snapshot 6.0.0 (bincode)",
        "v1.12.1-user-null-ss.vmstate"
    ),
    written!(
        "v1.11.0",
        "Firecracker snapshot 5.0.0 (bincode)",
        "v1.11.0-user-null-ss.vmstate"
    ),
    written!(
        "v1.10.1",
        "Firecracker snapshot 4.0.0 (bincode)",
        "v1.10.1-user-null-ss.vmstate"
    ),
    written!(
        "v1.9.1",
        "Firecracker snapshot 3.0.0 (bincode)",
        "v1.9.1-user-null-ss.vmstate"
    ),
    written!(
        "v1.8.0",
        "Firecracker snapshot 2.0.0 (bincode)",
        "v1.8.0-user-null-ss.vmstate"
    ),
    written!(
        "v1.7.0",
        "Firecracker snapshot 1.0.0 (bincode)",
        "v1.7.0-user-null-ss.vmstate"
    ),
    written!(
        "v1.6.0",
        "Firecracker snapshot, Versionize data version 10 (Firecracker 1.6)",
        "v1.6.0-user-null-ss.vmstate"
    ),
    // Firecracker 1.5 wrote the data version of an older release on request (the
    // `version` of PUT /snapshot/create, removed in 1.6): VmState 2, VmInfo 2 and
    // VcpuState 3 (9, 8, 6), VcpuState 2 with one Msrs and VmInfo 1 (5, 4).
    written!(
        "v1.5.1",
        "Firecracker snapshot, Versionize data version 9 (Firecracker 1.5)",
        "v1.5.1-user-null-ss.vmstate"
    ),
    written!(
        "v1.5.1 as 1.4.0",
        "Firecracker snapshot, Versionize data version 8 (Firecracker 1.4)",
        "v1.5.1-user-null-ss-as-1.4.0.vmstate"
    ),
    written!(
        "v1.5.1 as 1.2.0",
        "Firecracker snapshot, Versionize data version 6 (Firecracker 1.2)",
        "v1.5.1-user-null-ss-as-1.2.0.vmstate"
    ),
    written!(
        "v1.5.1 as 1.1.0",
        "Firecracker snapshot, Versionize data version 5 (Firecracker 1.1)",
        "v1.5.1-user-null-ss-as-1.1.0.vmstate"
    ),
    written!(
        "v1.5.1 as 1.0.0",
        "Firecracker snapshot, Versionize data version 4 (Firecracker 1.0)",
        "v1.5.1-user-null-ss-as-1.0.0.vmstate"
    ),
    // Data versions 3 to 1: the 0.2x releases' VmInfo and VcpuState (VmInfo 1,
    // VcpuState 1 without tsc_khz).
    written!(
        "v1.5.1 as 0.25.0",
        "Firecracker snapshot, Versionize data version 3 (Firecracker 0.25)",
        "v1.5.1-user-null-ss-as-0.25.0.vmstate"
    ),
    written!(
        "v1.5.1 as 0.24.0",
        "Firecracker snapshot, Versionize data version 2 (Firecracker 0.24)",
        "v1.5.1-user-null-ss-as-0.24.0.vmstate"
    ),
    written!(
        "v1.5.1 as 0.23.0",
        "Firecracker snapshot, Versionize data version 1 (Firecracker 0.23)",
        "v1.5.1-user-null-ss-as-0.23.0.vmstate"
    ),
];

/// The kernel-mode guest (`KERNEL_ONLY=1`).
const KERNEL: &[Written] = &[
    written!("v1.14.4", F8_114, "v1.14.4-kernel-cpl0.vmstate"),
    written!(
        "v1.10.1",
        "Firecracker snapshot 4.0.0 (bincode)",
        "v1.10.1-kernel-cpl0.vmstate"
    ),
    written!(
        "v1.7.0",
        "Firecracker snapshot 1.0.0 (bincode)",
        "v1.7.0-kernel-cpl0.vmstate"
    ),
    written!(
        "v1.6.0",
        "Firecracker snapshot, Versionize data version 10 (Firecracker 1.6)",
        "v1.6.0-kernel-cpl0.vmstate"
    ),
];

/// The user-mode guest with devices (block, vsock, balloon, entropy as the release has
/// them).
const DEVICES: &[Written] = &[
    written!("v1.14.4", F8_114, "v1.14.4-devices.vmstate"),
    written!(
        "v1.10.1",
        "Firecracker snapshot 4.0.0 (bincode)",
        "v1.10.1-devices.vmstate"
    ),
];

/// RAX the guest sets before it parks: "SEGSTATE".
const MARKER: u64 = 0x5345_4753_5441_5445;

fn read(w: &Written) -> Vec<ForeignVcpu> {
    firecracker::read(w.bytes, w.release).unwrap_or_else(|e| panic!("{}: {e}", w.release))
}

/// Where vCPU 0's `kvm_regs` starts: the guest's RAX marker (RAX is its first field).
fn regs_offset(bytes: &[u8]) -> usize {
    bytes
        .windows(8)
        .position(|w| w == MARKER.to_le_bytes())
        .expect("the guest's RAX marker")
}

/// Where vCPU 0's `kvm_sregs` starts in a format-2-to-8 file: the 312 bytes behind the
/// `u64` length 312 that follow its `kvm_regs`.
fn sregs_offset(bytes: &[u8]) -> usize {
    let len_at = regs_offset(bytes) + 144;
    assert_eq!(bytes[len_at..len_at + 8], 312u64.to_le_bytes());
    len_at + 8
}

#[track_caller]
fn assert_user_mode(w: &Written) {
    let vcpus = read(w);
    let v = user_vcpu0(&vcpus, Stack::Firecracker);
    assert_eq!(v.format, w.format, "{}", w.release);
    assert_eq!(v.cpl_disagreement(), None);
    let s = &v.sregs;
    assert_eq!(
        (s.cs.selector, s.cs.dpl, s.cs.l),
        (0x23, 3, 1),
        "{} CS",
        w.release
    );
    assert_eq!((s.ss.selector, s.ss.dpl), (0x1b, 3), "{} SS", w.release);
    assert_eq!(s.efer & 0x500, 0x500, "{}: LME | LMA", w.release);
    assert_eq!(v.regs.rax, MARKER, "{}", w.release);
    assert_eq!(
        v.regs.rip & !0xf,
        v.regs.rcx & !0xf,
        "{}: in user_loop",
        w.release
    );
    assert_eq!(v.mp_state, Some(0), "{}: KVM_MP_STATE_RUNNABLE", w.release);
    assert_eq!(v.lapic.as_ref().map(Vec::len), Some(1024));
    assert_eq!(v.vcpu_events.as_ref().map(Vec::len), Some(64));
    assert_eq!(v.debug_regs.as_ref().map(Vec::len), Some(128));
    assert_guest_star(v);
    let ap = &vcpus[1];
    assert_eq!(ap.id, "1");
    assert_eq!(ap.mp_state, Some(1), "{}: the AP never started", w.release);
    assert_eq!(ap.cpl(), PrivilegeLevel::Ring0);
}

#[test]
fn every_bincode_format_reads_every_vcpu_with_its_cpl() {
    for w in USER {
        assert_user_mode(w);
    }
}

#[test]
fn kernel_mode_files_are_cpl_0() {
    for w in KERNEL {
        let vcpus = read(w);
        assert_eq!(vcpus.len(), 2);
        let v = &vcpus[0];
        assert_eq!(v.format, w.format);
        assert_eq!(v.cpl(), PrivilegeLevel::Ring0, "{}", w.release);
        assert_eq!(v.sregs.cs.l, 1, "{}: 64-bit code", w.release);
        assert_eq!((v.sregs.cs.dpl, v.sregs.ss.dpl), (0, 0), "{}", w.release);
    }
}

#[test]
fn files_with_devices_read_the_same_vcpus() {
    // The device states follow the vCPUs and are not decoded: the same vCPUs come out
    // of a file with four devices as of one without.
    for w in DEVICES {
        let plain = USER
            .iter()
            .find(|u| u.release == w.release)
            .expect("a user-mode file of the same release");
        assert!(w.bytes.len() > plain.bytes.len(), "{}", w.release);
        let (a, b) = (read(w), read(plain));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.sregs, y.sregs, "{}", w.release);
            assert_eq!(x.cpl(), y.cpl());
        }
    }
}

#[test]
fn the_segments_are_the_c_bytes_of_kvm_sregs() {
    // SS as KVM_GET_SREGS gave it, read back from its place in the file: the reader
    // takes kvm-bindings' bytes as they are.
    let w = &USER[0];
    let at = sregs_offset(w.bytes);
    let ss = KvmSegment::from_bytes(&w.bytes[at + 5 * 24..at + 6 * 24]).unwrap();
    assert_eq!(read(w)[0].sregs.ss, ss);
    // Format 1 (kvm-bindings' fork, derived serde): the struct follows kvm_regs with no
    // length between them.
    let w = USER.iter().find(|w| w.release == "v1.7.0").unwrap();
    let at = regs_offset(w.bytes) + 144;
    let ss = KvmSegment::from_bytes(&w.bytes[at + 5 * 24..at + 6 * 24]).unwrap();
    assert_eq!(read(w)[0].sregs.ss, ss);
    assert_eq!(ss.selector, 0x1b);
}

#[test]
fn a_damaged_struct_is_named_by_its_field_path() {
    let w = &USER[0];
    let body = &w.bytes[..w.bytes.len() - 8];
    let at = sregs_offset(w.bytes);
    // kvm_sregs said to be 311 bytes: the layout goes on one byte early and fails
    // later, or the struct is refused by its length.
    let mut b = body.to_vec();
    b[at - 8..at].copy_from_slice(&311u64.to_le_bytes());
    let e = refused(&sealed(&b));
    let Place::Field(path) = &e.place else {
        panic!("a field: {e}")
    };
    assert!(path.starts_with("data.vcpu_states[0]"), "{e}");

    // A length no file can hold: refused at that length's offset, nothing allocated.
    let mut b = body.to_vec();
    b[at - 8..at].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = refused(&sealed(&b));
    assert_eq!(
        e.place,
        Place::Field(String::from("data.vcpu_states[0].sregs"))
    );
    let Reason::Layout(msg) = &e.reason else {
        panic!("a layout error: {e}")
    };
    assert!(msg.contains(&format!("at offset {}", at - 8)), "{msg}");
}

#[test]
fn cut_and_damaged_files_are_refused() {
    let w = &USER[0];
    // Cut inside the version string: named as a cut, not as another encoding.
    for cut in [17, 20] {
        let e = refused(&w.bytes[..cut]);
        assert_eq!(e.place, Place::Field(String::from("header.version")), "{e}");
        assert!(
            matches!(e.reason, Reason::Truncated { needed: 21, found } if found == cut),
            "cut at {cut}: {e}"
        );
    }
    // Cut after it: the CRC no longer holds.
    for cut in [21, 100, w.bytes.len() / 2, w.bytes.len() - 1] {
        let e = refused(&w.bytes[..cut]);
        assert!(
            matches!(
                e.reason,
                Reason::BadChecksum { .. } | Reason::Truncated { .. }
            ),
            "cut at {cut}: {e}"
        );
    }
    // Cut and re-sealed: the bytes end inside the layout.
    let body = &w.bytes[..w.bytes.len() - 8];
    let at = sregs_offset(w.bytes);
    let e = refused(&sealed(&body[..at + 100]));
    assert_eq!(
        e.place,
        Place::Field(String::from("data.vcpu_states[0].sregs"))
    );
    assert!(
        e.to_string()
            .contains("a length of 312, more than the 100 bytes left"),
        "{e}"
    );
}

#[test]
fn versions_without_a_layout_are_named_before_the_checksum() {
    let w = &USER[0];
    for (version, expected) in [("7.0.0", "7.0.0 (bincode)"), ("12.0.0", "12.0.0 (bincode)")] {
        let mut b = w.bytes[..16].to_vec();
        b[8..16].copy_from_slice(&(version.len() as u64).to_le_bytes());
        b.extend_from_slice(version.as_bytes());
        b.extend_from_slice(&w.bytes[21..]);
        // Not re-sealed: the version is refused before the CRC is looked at.
        let e = refused(&b);
        assert_eq!(e.place, Place::Field(String::from("header.version")));
        assert!(
            matches!(&e.reason, Reason::UnsupportedVersion { found, supported }
                if found == expected && supported.contains("1.7 to 1.14")),
            "{e}"
        );
    }
}

/// The v1.6.0 file (Versionize data version 10).
fn versionize_file() -> &'static Written {
    USER.iter().find(|w| w.release == "v1.6.0").unwrap()
}

#[test]
fn versionize_files_are_named_by_their_data_version() {
    let w = versionize_file();
    assert_eq!(
        firecracker::recognise(w.bytes),
        Some(firecracker::Encoding::Versionize)
    );
    // The data version is the u16 after the magic.
    assert_eq!(w.bytes[8..10], 10u16.to_le_bytes());
    // Cut inside it: named as a cut.
    let e = refused(&w.bytes[..9]);
    assert_eq!(e.place, Place::Field(String::from("header.data_version")));
    assert!(
        matches!(
            e.reason,
            Reason::Truncated {
                needed: 10,
                found: 9
            }
        ),
        "{e}"
    );
    // Another architecture's magic.
    let mut arm = w.bytes.to_vec();
    arm[..8].copy_from_slice(&(firecracker::MAGIC_AARCH64 | 1).to_le_bytes());
    let e = refused(&arm);
    assert_eq!(e.place, Place::Field(String::from("header.magic")));
}

#[test]
fn a_versionize_file_under_another_data_version_is_refused_not_misread() {
    // Data version 10's types read as 6's (no kvm_cap_modifiers in VmState): the empty
    // capability list is read as the vCPU list. Refused, not zero vCPUs.
    let w = versionize_file();
    let mut b = w.bytes[..w.bytes.len() - 8].to_vec();
    b[8..10].copy_from_slice(&6u16.to_le_bytes());
    let e = refused(&sealed(&b));
    assert!(e.to_string().contains("data.vcpu_states"), "{e}");
    // Read as data version 2 (one Msrs, no tsc_khz, VmInfo without its three later
    // fields): the types stop matching inside the header of the file.
    b[8..10].copy_from_slice(&2u16.to_le_bytes());
    let e = refused(&sealed(&b));
    let Place::Field(path) = &e.place else {
        panic!("a field: {e}")
    };
    assert!(path.starts_with("data."), "{e}");
    assert!(
        e.to_string()
            .contains("Versionize data version 2 (Firecracker 0.24)"),
        "{e}"
    );
}

#[test]
fn the_file_firecracker_left_after_refusing_a_snapshot_is_refused_by_its_checksum() {
    // Firecracker 1.5.1 answered HTTP 400 ("Target version does not support persisting
    // the virtio-rng device.") after writing most of the file: the CRC never written.
    let bytes =
        include_bytes!("fixtures/firecracker/legacy/v1.5.1-refused-as-1.0.0-partial.vmstate");
    assert_eq!(
        firecracker::recognise(bytes),
        Some(firecracker::Encoding::Versionize)
    );
    let e = refused(bytes);
    assert_eq!(e.place, Place::Offset(bytes.len() - 8));
    assert!(matches!(e.reason, Reason::BadChecksum { .. }), "{e}");
}
