//! The decoders against files the real programs wrote (`tests/fixtures/compressed`,
//! `tests/fixtures/gzip`: GNU gzip 1.12, zstd and pzstd 1.5.4, XZ Utils 5.4.1, bzip2
//! 1.0.8, lz4 1.9.4), each decompressed to the fixture it was made from.

use super::*;
use std::vec::Vec;

const SYSRET: &[u8] = include_bytes!("../../../tests/fixtures/qemu/sysret-null-ss-cpl3.txt");
const KVM: &[u8] = include_bytes!("../../../tests/fixtures/dumps/kvm-2005-hwerr0-dumpvmcs-ept.txt");
const STREAM: &[u8] = include_bytes!("../../../tests/fixtures/qemu/null-ss-cpl0.migstream");

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/compressed/", $name)).as_slice()
    };
}

const SYSRET_GZ: &[u8] = include_bytes!("../../../tests/fixtures/gzip/sysret-null-ss-cpl3.txt.gz");
const KVM_GZ: &[u8] =
    include_bytes!("../../../tests/fixtures/gzip/kvm-2005-hwerr0-dumpvmcs-ept.txt.gz");
const STREAM_GZ: &[u8] = include_bytes!("../../../tests/fixtures/gzip/null-ss-cpl0.migstream.gz");

/// Each compression read by this build, with the three fixtures compressed by its
/// program, in the order sysret, kvm, stream.
fn read_ones() -> Vec<(Compression, [&'static [u8]; 3])> {
    let all = [
        (Compression::Gzip, [SYSRET_GZ, KVM_GZ, STREAM_GZ]),
        (
            Compression::Zstd,
            [
                fixture!("sysret-null-ss-cpl3.txt.zst"),
                fixture!("kvm-2005-hwerr0-dumpvmcs-ept.txt.zst"),
                fixture!("null-ss-cpl0.migstream.pzstd.zst"),
            ],
        ),
        (
            Compression::Xz,
            [
                fixture!("sysret-null-ss-cpl3.txt.xz"),
                fixture!("kvm-2005-hwerr0-dumpvmcs-ept.txt.xz"),
                fixture!("null-ss-cpl0.migstream.xz"),
            ],
        ),
        (
            Compression::Bzip2,
            [
                fixture!("sysret-null-ss-cpl3.txt.bz2"),
                fixture!("kvm-2005-hwerr0-dumpvmcs-ept.txt.bz2"),
                fixture!("null-ss-cpl0.migstream.bz2"),
            ],
        ),
    ];
    all.into_iter().filter(|(c, _)| c.is_read()).collect()
}

fn decompressed(c: Compression, bytes: &[u8], limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    decompress(c, bytes, limit)
        .expect("read by this build")
        .read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn each_program_s_file_is_detected_and_gives_back_its_source() {
    let plain = [SYSRET, KVM, STREAM];
    for (c, files) in read_ones() {
        for (file, source) in files.into_iter().zip(plain) {
            assert_eq!(Compression::detect(file), Some(c));
            let out = decompressed(c, file, DECOMPRESSED_LIMIT).unwrap();
            assert!(out == source, "{c}: {} bytes back", out.len());
        }
    }
    // The zstd migration stream made by `zstd` itself (no skippable frame) too.
    if Compression::Zstd.is_read() {
        let zst = fixture!("null-ss-cpl0.migstream.zst");
        assert_eq!(
            decompressed(Compression::Zstd, zst, DECOMPRESSED_LIMIT).unwrap(),
            STREAM
        );
    }
    for source in plain {
        assert_eq!(Compression::detect(source), None);
    }
}

#[test]
fn files_one_after_another_read_as_one() {
    for (c, [sysret, kvm, _]) in read_ones() {
        let two = [sysret, kvm].concat();
        let out = decompressed(c, &two, DECOMPRESSED_LIMIT).unwrap();
        assert!(out == [SYSRET, KVM].concat(), "{c}");
    }
}

#[test]
fn the_limit_is_the_most_read_and_one_more_byte_fails() {
    for (c, [sysret, ..]) in read_ones() {
        let n = SYSRET.len() as u64;
        assert_eq!(decompressed(c, sysret, n).unwrap(), SYSRET, "{c}");
        let e = decompressed(c, sysret, n - 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{c}");
        let said = format!("the {c} data decompresses to more than {} bytes", n - 1);
        assert!(e.to_string().contains(&said), "{c}: {e}");
    }
}

#[test]
fn a_cut_or_corrupt_file_is_an_error_not_a_short_read() {
    for (c, [sysret, ..]) in read_ones() {
        for cut in [sysret.len() - 1, sysret.len() - 6, sysret.len() / 2, 12] {
            let e = decompressed(c, &sysret[..cut], DECOMPRESSED_LIMIT).unwrap_err();
            assert_eq!(
                e.kind(),
                io::ErrorKind::UnexpectedEof,
                "{c} cut at {cut}: {e}"
            );
            let said = format!("the {c} data ends before it is complete: the file is cut short");
            assert_eq!(e.to_string(), said, "{c} cut at {cut}");
        }
        let mut bad = sysret.to_vec();
        let at = bad.len() / 2;
        bad[at] ^= 0x55;
        assert!(
            decompressed(c, &bad, DECOMPRESSED_LIMIT).is_err(),
            "{c} with byte {at} changed"
        );
    }
}

#[test]
fn a_zstd_frame_s_checksum_is_checked() {
    if !Compression::Zstd.is_read() {
        return;
    }
    // The last four bytes of a frame `zstd` writes are its content checksum.
    let mut zst = fixture!("sysret-null-ss-cpl3.txt.zst").to_vec();
    let last = zst.len() - 1;
    zst[last] ^= 0x01;
    let e = decompressed(Compression::Zstd, &zst, DECOMPRESSED_LIMIT).unwrap_err();
    let said = "the zstd data is corrupt: zstd frame 1: content checksum";
    assert!(e.to_string().starts_with(said), "{e}");
}

#[test]
fn magics_are_read_as_far_as_they_go() {
    assert_eq!(Compression::detect(b"BZh9 is not a stream\n"), None);
    assert_eq!(
        Compression::detect(b"\x1f\x8b\x07"),
        None,
        "CM 7 is not deflate"
    );
    assert_eq!(
        Compression::detect(b"\x50\x2a\x4d"),
        None,
        "a cut skippable magic"
    );
    let empty_bzip2 = b"BZh9\x17\x72\x45\x38\x50\x90\x00\x00\x00\x00";
    assert_eq!(Compression::detect(empty_bzip2), Some(Compression::Bzip2));
    let lz4 = fixture!("sysret-null-ss-cpl3.txt.lz4");
    assert_eq!(Compression::detect(lz4), Some(Compression::Lz4));
    let lzop = b"\x89LZO\x00\x0d\x0a\x1a\x0a\x10\x40";
    assert_eq!(Compression::detect(lzop), Some(Compression::Lzop));
}

#[test]
fn what_is_not_read_is_named_with_the_command_that_reads_it() {
    let lz4 = fixture!("sysret-null-ss-cpl3.txt.lz4");
    let Err(e) = decompress(Compression::Lz4, lz4, DECOMPRESSED_LIMIT) else {
        panic!("lz4 is not read");
    };
    assert_eq!(
        e.to_string(),
        "lz4-compressed: segstate reads gzip, zstd, xz and bzip2, not lz4; decompress it \
         first (`lz4 -dc FILE | segstate check -`)"
    );
    for n in 1..=5 {
        let c = Compression::of_libvirt_format(n).expect("a compression");
        assert_eq!(c.is_read(), decompress(c, &b""[..], 1).is_ok(), "{c}");
    }
    assert_eq!(Compression::of_libvirt_format(0), None);
    assert_eq!(Compression::of_libvirt_format(6), None);
}
