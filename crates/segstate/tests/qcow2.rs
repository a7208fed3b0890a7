//! qcow2 internal snapshots written by QEMU 10.0.2's `savevm` of the fixture guest
//! (tests/fixtures/qcow2, see its README): versions 2 and 3, 4 KiB clusters and 16 KiB
//! ones with extended L2 entries, one and two snapshots. Every snapshot's CPUs are held
//! against the `info registers` text QEMU printed before it; damaged images are refused
//! with the place named.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use std::io::{Cursor, Read};
use std::path::PathBuf;

use segstate::arch::SegReg;
use segstate::ingest::foreign::{IngestError, Reason};
use segstate::ingest::qcow2::Image;
use segstate::ingest::{self, Input, InputFormat};

const ALL: [&str; 3] = ["tcg-v2-sysret.qcow2", "kvm-v3-two.qcow2", "kvm-extl2.qcow2"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/qcow2")
        .join(name)
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn open(b: Vec<u8>) -> Result<Image<Cursor<Vec<u8>>>, IngestError> {
    Image::open(Cursor::new(b), "img")
}

fn refused(b: Vec<u8>) -> IngestError {
    match open(b) {
        Ok(i) => panic!("opened a bad image with {} snapshots", i.snapshots.len()),
        Err(e) => e,
    }
}

fn patched(name: &str, at: usize, with: &[u8]) -> Vec<u8> {
    let mut b = bytes(name);
    b[at..at + with.len()].copy_from_slice(with);
    b
}

#[test]
fn every_snapshots_cpus_match_what_qemu_printed_before_it() {
    for name in ALL {
        let path = fixture(name);
        let text = std::fs::read(fixture(&format!("{name}.txt"))).unwrap();
        let printed: Vec<Input> = ingest::read(&text, Some(InputFormat::Dump)).unwrap();
        let opened = ingest::open_path(&path, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut states = Vec::new();
        opened
            .read_each(&mut |i| states.push(i))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            states.len(),
            printed.len(),
            "{name}: one state a snapshot's CPU"
        );
        let image = Image::open_path(&path).unwrap();
        for ((got, want), snap) in states.iter().zip(&printed).zip(&image.snapshots) {
            assert_eq!(got.format, InputFormat::Qcow2);
            assert!(
                got.label.contains(&format!("{:?}", snap.name)),
                "{}",
                got.label
            );
            let (g, w) = (&got.state, &want.state);
            assert_eq!(g.segments, w.segments, "{name} {}", snap.name);
            assert_eq!(
                (g.cpl, g.cr0, g.cr4, g.efer),
                (w.cpl, w.cr0, w.cr4, w.efer),
                "{name}"
            );
            assert_eq!(g.rflags, w.rflags, "{name}");
        }
    }
}

#[test]
fn headers_snapshot_tables_and_vm_state_offsets_are_read_as_qemu_wrote_them() {
    let v2 = Image::open_path(&fixture("tcg-v2-sysret.qcow2")).unwrap();
    assert_eq!((v2.header.version, v2.header.cluster_bits), (2, 12));
    assert_eq!(v2.snapshots.len(), 1);
    assert_eq!(
        (v2.snapshots[0].id.as_str(), v2.snapshots[0].name.as_str()),
        ("1", "sysret")
    );
    let mut two = Image::open_path(&fixture("kvm-v3-two.qcow2")).unwrap();
    let tags: Vec<&str> = two.snapshots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(tags, ["user-a", "user-b"]);
    // The second ran half a second longer (qmp.py --wait 0.5) before it was taken.
    assert!(two.snapshots[1].vm_clock_nsec > two.snapshots[0].vm_clock_nsec + 400_000_000);
    assert!(
        two.snapshots[0].date().starts_with("2026-12-02 "),
        "{}",
        two.snapshots[0].date()
    );
    // 1 MiB disk, 4 KiB clusters, 512 L2 entries: L1 entry 1, at 2 MiB.
    assert_eq!(two.header.vm_state_offset(1 << 20), 2 << 20);
    let mut stream = Vec::new();
    two.vm_state(1)
        .unwrap()
        .unwrap()
        .read_to_end(&mut stream)
        .unwrap();
    assert_eq!(stream.len() as u64, two.snapshots[1].vm_state_size);
    assert_eq!(&stream[..4], b"QEVM");
    let extl2 = Image::open_path(&fixture("kvm-extl2.qcow2")).unwrap();
    assert!(extl2.header.extended_l2);
    // 16 KiB clusters with 16-byte L2 entries: 1024 entries, 16 MiB an L1 entry.
    assert_eq!(extl2.header.vm_state_offset(1 << 20), 16 << 20);
}

#[test]
fn the_sysret_snapshot_keeps_cpl_3_with_its_selector_carry() {
    let opened = ingest::open_path(&fixture("tcg-v2-sysret.qcow2"), None).unwrap();
    let mut states = Vec::new();
    opened.read_each(&mut |i| states.push(i)).unwrap();
    let s = &states[0].state;
    assert_eq!(s.cpl.bits(), 3);
    assert_eq!(s.segments[SegReg::Ss].selector.0, 0x0003);
    assert!(states[0].notes[0].contains("internal snapshot \"sysret\" (id 1)"));
}

#[test]
fn damaged_encrypted_and_foreign_images_are_refused_with_the_place_named() {
    let name = "kvm-v3-two.qcow2";
    let e = refused(patched(name, 0, b"QFI\0"));
    assert!(matches!(e.reason, Reason::BadMagic { .. }), "{e}");
    let e = refused(patched(name, 4, &4u32.to_be_bytes()));
    assert!(e.to_string().contains("qcow2 version 4"), "{e}");
    let e = refused(patched(name, 32, &2u32.to_be_bytes()));
    assert!(matches!(e.reason, Reason::Encrypted(_)), "{e}");
    let e = refused(patched(name, 72, &2u64.to_be_bytes()));
    assert!(e.to_string().contains("marked corrupt"), "{e}");
    let e = refused(patched(name, 72, &4u64.to_be_bytes()));
    assert!(e.to_string().contains("external data file"), "{e}");
    let e = refused(patched(name, 72, &0x40u64.to_be_bytes()));
    assert!(e.to_string().contains("incompatible features 0x40"), "{e}");
    let e = refused(patched(name, 20, &30u32.to_be_bytes()));
    assert!(e.to_string().contains("cluster_bits 30"), "{e}");
    let e = refused(patched(name, 60, &70_000u32.to_be_bytes()));
    assert!(e.to_string().contains("70000 snapshots"), "{e}");
    // Cut inside the snapshot table.
    let table = u64::from_be_bytes(bytes(name)[64..72].try_into().unwrap()) as usize;
    let e = refused(bytes(name)[..table + 20].to_vec());
    assert!(
        matches!(
            e.reason,
            Reason::Truncated {
                needed: 40,
                found: 20
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("a snapshot table entry at offset"),
        "{e}"
    );
    // An L1 table past QEMU's limit.
    let mut b = bytes(name);
    b[table + 8..table + 12].copy_from_slice(&(8u32 << 20).to_be_bytes());
    let mut image = open(b).unwrap();
    let e = image.vm_state(0).unwrap_err();
    assert!(matches!(e.reason, Reason::TooLarge { .. }), "{e}");
    // The VM state's first cluster marked compressed (bit 62 of its L2 entry): the
    // stream's read fails and says why.
    let mut b = bytes(name);
    let be = |b: &[u8], at: usize| u64::from_be_bytes(b[at..at + 8].try_into().unwrap());
    let l1 = be(&b, table) as usize;
    let l2 = (be(&b, l1 + 8) & 0x00ff_ffff_ffff_fe00) as usize;
    let entry = be(&b, l2) | 1 << 62;
    b[l2..l2 + 8].copy_from_slice(&entry.to_be_bytes());
    let mut image = open(b).unwrap();
    let e = image
        .vm_state(0)
        .unwrap()
        .unwrap()
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert!(e.to_string().contains("is compressed"), "{e}");
}

#[test]
fn a_qcow2_image_given_as_a_stream_is_sent_back_to_its_path() {
    let b = bytes("kvm-extl2.qcow2");
    assert_eq!(ingest::detect_magic(&b), Some(InputFormat::Qcow2));
    let name = ingest::source::InputName::of(None);
    let mut reader: &[u8] = &b;
    let e = ingest::source::read_each(&mut reader, &name, None, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("read by path"), "{e}");
    let e = ingest::read(&b, None).unwrap_err();
    assert!(e.to_string().contains("give the image's path"), "{e}");
}
