//! `segstate check` on QEMU 10.0.2's streams (crates/segstate/tests/fixtures/qemu10):
//! the x-ignore-shared and mapped-ram streams it refused, a libvirt "sparse" save image
//! around the mapped-ram one, and the nested SVM guest judged by the rules its dump is.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use segstate::testing::Extents;

mod common;
use common::{assert_contains, code, json, s, scratch, segstate, stderr, stdout};

fn fixture(name: &str) -> String {
    common::fixture(&format!("qemu10/{name}"))
}

/// The mapped-ram stream, read back from its extents.
fn mapped_ram() -> Vec<u8> {
    let extents = std::fs::read(fixture("extra/user-cpl3-mapped-ram.migstream.extents")).unwrap();
    let mut stream = Vec::new();
    Extents::new(&extents)
        .unwrap()
        .read_to_end(&mut stream)
        .unwrap();
    stream
}

/// Writes `bytes` to `path` as a sparse file, as QEMU leaves a mapped-ram file: the
/// all-zero 64 KiB blocks are skipped, not written.
fn write_sparse(path: &Path, bytes: &[u8]) -> PathBuf {
    let mut f = std::fs::File::create(path).unwrap();
    for block in bytes.chunks(64 << 10) {
        if block.iter().all(|&b| b == 0) {
            f.seek(SeekFrom::Current(block.len() as i64)).unwrap();
        } else {
            f.write_all(block).unwrap();
        }
    }
    f.set_len(bytes.len() as u64).unwrap();
    path.to_path_buf()
}

#[track_caller]
fn check_ok_but_tr(path: &str) -> serde_json::Value {
    let o = segstate(&["check", "--json", path]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    let states = j["states"].as_array().unwrap();
    assert_eq!(states.len(), 2, "{j:#}");
    assert_eq!(states[0]["cpl"], 3, "{j:#}");
    assert_eq!(states[0]["mode"], "64-bit mode", "{j:#}");
    assert_eq!(states[0]["errors"], 1, "TCG's available TR: {j:#}");
    assert_eq!(states[1]["mode"], "real mode", "{j:#}");
    j
}

#[test]
fn an_x_ignore_shared_stream_is_read() {
    check_ok_but_tr(&fixture("extra/user-cpl3-ignore-shared.migstream"));
}

#[test]
fn a_sparse_mapped_ram_file_is_read_through_to_its_device_state() {
    let dir = scratch("mapped-ram");
    let path = write_sparse(&dir.join("user-cpl3-mapped-ram.migstream"), &mapped_ram());
    check_ok_but_tr(s(&path));
    // Cut inside pc.ram's page slots: the offset, the block and where it should end.
    let cut = write_sparse(&dir.join("cut.migstream"), &mapped_ram()[..0x20_0000]);
    let o = segstate(&["check", s(&cut)]);
    assert_eq!(code(&o), 2);
    for part in [
        "offset 0x8e",
        "RAM block \"pc.ram\"",
        "file offset 0x1100000",
    ] {
        assert_contains(&stderr(&o), part);
    }
}

/// What libvirt 11.2+ writes with `save_image_format = "sparse"`: its header and
/// domain XML (padded), then QEMU's mapped-ram stream written into the same file, so
/// every mapped-ram header's offsets count from the file's start.
#[test]
fn a_libvirt_sparse_save_image_is_read() {
    const STREAM_AT: u64 = 0x1000;
    let mut stream = mapped_ram();
    let mut shifted = 0;
    // A MappedRamHeader: version 1, page size 0x1000, its bitmap right after it.
    let mut p = 0;
    while p + 28 <= stream.len() {
        let word = |at: usize| u64::from_be_bytes(stream[at..at + 8].try_into().unwrap());
        if stream[p..p + 4] == [0, 0, 0, 1]
            && word(p + 4) == 0x1000
            && word(p + 12) == p as u64 + 28
        {
            let (bitmap, pages) = (word(p + 12), word(p + 20));
            stream[p + 12..p + 20].copy_from_slice(&(bitmap + STREAM_AT).to_be_bytes());
            stream[p + 20..p + 28].copy_from_slice(&(pages + STREAM_AT).to_be_bytes());
            shifted += 1;
            p += 28;
        } else {
            p += 1;
        }
    }
    assert!(
        shifted >= 4,
        "pc.ram, the ROMs and the ACPI blocks: {shifted}"
    );
    let xml = STREAM_AT as usize - 92;
    let mut image = b"LibvirtQemudSave".to_vec();
    for w in [2u32, xml as u32, 1, 6, 0].iter().chain([0u32; 14].iter()) {
        image.extend_from_slice(&w.to_le_bytes());
    }
    image.extend_from_slice(b"<domain type='kvm'><name>segstate</name></domain>");
    image.resize(STREAM_AT as usize, 0);
    image.extend_from_slice(&stream);
    let dir = scratch("libvirt-sparse");
    let path = write_sparse(&dir.join("domain.save"), &image);
    check_ok_but_tr(s(&path));
    // The walker sees the stream only, so it takes the stream's place in the file
    // from its first header: a stream written at offset 0 and put behind a header
    // afterwards reads as well.
    image[STREAM_AT as usize..].copy_from_slice(&mapped_ram());
    check_ok_but_tr(s(&write_sparse(&dir.join("unshifted.save"), &image)));
}

#[test]
fn the_nested_svm_stream_fails_as_its_dump_and_says_whose_segments_these_are() {
    let text = stdout(&segstate(&[
        "check",
        &fixture("tcg-max/svm-l2-null-ss-cpl3.migstream"),
    ]));
    for part in [
        "vmx.entry.efer.reserved",
        "the stream lacks DEBUGCTL",
        "nested (L2) guest",
        "QEMU itself refuses to load this stream",
        "summary: 2 errors",
    ] {
        assert_contains(&text, part);
    }
    let dump = stdout(&segstate(&[
        "check",
        &fixture("tcg-max/svm-l2-null-ss-cpl3.txt"),
    ]));
    assert_contains(&dump, "summary: 2 errors");
}
