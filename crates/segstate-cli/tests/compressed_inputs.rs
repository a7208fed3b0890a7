//! `segstate check` on compressed and wrapped inputs: gzip-, zstd-, xz- and
//! bzip2-compressed files and standard input (each program's own output,
//! `fixtures/gzip` and `fixtures/compressed`), and libvirt saved-VM images, raw or with
//! their QEMU stream through one of those programs.

mod common;
use common::{assert_contains, code, json, segstate, segstate_stdin, stderr, stdout};

/// A fixture of the library's tests.
fn fixture(name: &str) -> String {
    common::fixture(name)
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// What `check` prints of `path`, with the path itself taken out.
fn report_of(path: &str) -> (i32, String) {
    let o = segstate(&["check", path]);
    (code(&o), stdout(&o).replace(path, "FILE"))
}

/// Each compression `check` reads, as `(name, the fixture file of a source, its
/// extension)`: GNU gzip's files are in `fixtures/gzip`, the others' in
/// `fixtures/compressed`.
const COMPRESSIONS: [(&str, &str, &str); 4] = [
    ("gzip", "gzip", "gz"),
    ("zstd", "compressed", "zst"),
    ("xz", "compressed", "xz"),
    ("bzip2", "compressed", "bz2"),
];

/// `source` (a fixture path) compressed with the program of `(dir, ext)`.
fn compressed(source: &str, (dir, ext): (&str, &str)) -> String {
    let file = source.rsplit('/').next().unwrap();
    format!("{dir}/{file}.{ext}")
}

#[test]
fn a_compressed_file_reads_as_the_text_it_holds() {
    for plain in [
        "dumps/kvm-2005-hwerr0-dumpvmcs-ept.txt",
        "qemu/sysret-null-ss-cpl3.txt",
    ] {
        let want = report_of(&fixture(plain));
        assert!(want.1.starts_with("== "), "{plain}: {}", want.1);
        let direct = segstate(&["check", "--json", &fixture(plain)]);
        for (name, dir, ext) in COMPRESSIONS {
            let file = compressed(plain, (dir, ext));
            assert_eq!(report_of(&fixture(&file)), want, "{name}: {file}");
            // From standard input too, and as JSON.
            let piped = segstate_stdin(&["check", "--json"], &bytes(&file));
            assert_eq!(code(&piped), code(&direct), "{file}: {}", stderr(&piped));
            assert_eq!(json(&piped)["states"], json(&direct)["states"], "{file}");
        }
    }
}

#[test]
fn a_compressed_migration_stream_reads_every_cpu() {
    let plain = segstate(&["check", "--json", &fixture("qemu/null-ss-cpl0.migstream")]);
    let pzstd = ["compressed/null-ss-cpl0.migstream.pzstd.zst".to_string()];
    let files =
        COMPRESSIONS.map(|(_, dir, ext)| compressed("qemu/null-ss-cpl0.migstream", (dir, ext)));
    for file in files.iter().chain(&pzstd) {
        let o = segstate(&["check", "--json", &fixture(file)]);
        assert_eq!(code(&o), code(&plain), "{file}: {}", stderr(&o));
        assert_eq!(json(&o)["states"].as_array().unwrap().len(), 2, "{file}");
        assert_eq!(json(&o)["states"], json(&plain)["states"], "{file}");
    }
}

#[test]
fn every_member_of_a_concatenated_file_is_read() {
    // `cat a.gz b.gz` (and two zstd frames, xz streams, bzip2 streams): one file, read
    // as `cat a b` is.
    let mut plain = bytes("qemu/sysret-null-ss-cpl3.txt");
    plain.extend(bytes("dumps/kvm-2005-hwerr0-dumpvmcs-ept.txt"));
    let want = segstate_stdin(&["check"], &plain);
    // Both dumps are in it: the first's, and the second's dump_vmcs.
    let out = stdout(&want);
    let states: Vec<&str> = out.lines().filter(|l| l.starts_with("== ")).collect();
    assert!(states.len() >= 2, "{out}");
    assert_contains(states[0], "vmx.entry.tr.type");
    assert_contains(&out, "Linux dump_vmcs");
    for (name, dir, ext) in COMPRESSIONS {
        let mut two = bytes(&compressed("qemu/sysret-null-ss-cpl3.txt", (dir, ext)));
        two.extend(bytes(&compressed(
            "dumps/kvm-2005-hwerr0-dumpvmcs-ept.txt",
            (dir, ext),
        )));
        let o = segstate_stdin(&["check"], &two);
        assert_eq!(code(&o), code(&want), "{name}: {}", stderr(&o));
        assert_eq!(stdout(&o), out, "{name}");
    }
}

#[test]
fn a_cut_file_is_named_and_what_came_before_the_cut_is_read() {
    for (name, dir, ext) in COMPRESSIONS {
        let file = bytes(&compressed("qemu/null-ss-cpl0.migstream", (dir, ext)));
        let cut = segstate_stdin(&["check"], &file[..file.len() / 2]);
        assert_eq!(code(&cut), 2, "{name}");
        let err = stderr(&cut);
        let said = format!("standard input: {name}-compressed; in the bytes it decompresses to,");
        assert_contains(&err, &said);
        assert_contains(&err, &format!("the {name} data ends before it is complete"));
    }
    // gzip yields its bytes as it goes: a log cut inside its first 8 KiB still gives
    // the dump before the cut, then the error.
    let gz = bytes("gzip/kvm-2005-hwerr0-dumpvmcs-ept.txt.gz");
    let cut = segstate_stdin(&["check"], &gz[..gz.len() * 3 / 4]);
    assert_eq!(code(&cut), 2);
    assert_contains(&stdout(&cut), "Linux dump_vmcs");
    assert_contains(&stderr(&cut), "the file is cut short");
}

#[test]
fn a_file_compressed_twice_or_with_what_is_not_read_is_named() {
    // Twice compressed: refused, with the command that takes the outer layer off.
    let o = segstate(&["check", &fixture("gzip/sysret-null-ss-cpl3.txt.gz.gz")]);
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), "gzip-compressed twice");
    assert_contains(&stderr(&o), "gunzip -c FILE | segstate check -");
    let o = segstate(&[
        "check",
        &fixture("compressed/sysret-null-ss-cpl3.txt.xz.zst"),
    ]);
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), "zstd-compressed and inside that xz-compressed");
    assert_contains(&stderr(&o), "zstd -dc FILE | segstate check -");
    // lz4: known, not read.
    let o = segstate(&["check", &fixture("compressed/sysret-null-ss-cpl3.txt.lz4")]);
    assert_eq!(code(&o), 2);
    assert_contains(
        &stderr(&o),
        "lz4-compressed: segstate reads gzip, zstd, xz and bzip2",
    );
    assert_contains(&stderr(&o), "lz4 -dc FILE | segstate check -");
}

/// A libvirt saved-VM image: `virQEMUSaveHeader` (16-byte magic, nineteen u32), the
/// domain XML, then the QEMU stream. Built here around the real stream fixture.
fn libvirt_image(magic: &[u8; 16], compressed: u32, stream: &[u8]) -> Vec<u8> {
    let xml = b"<domain type='kvm'><name>segstate</name></domain>\0\0\0\0\0\0";
    let mut img = magic.to_vec();
    let words = [2u32, xml.len() as u32, 1, compressed, 0];
    for w in words.iter().chain([0u32; 14].iter()) {
        img.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(img.len(), 92);
    img.extend_from_slice(xml);
    img.extend_from_slice(stream);
    img
}

#[test]
fn libvirt_save_images_are_read_after_their_header() {
    let stream = std::fs::read(fixture("qemu/null-ss-cpl0.migstream")).unwrap();
    let ok = segstate_stdin(
        &["check", "--json"],
        &libvirt_image(b"LibvirtQemudSave", 0, &stream),
    );
    assert_eq!(code(&ok), 1, "{}", stderr(&ok));
    assert_eq!(json(&ok)["states"].as_array().unwrap().len(), 2);
    // save_image_format = "gzip", "zstd", "xz" or "bzip2": the stream through that
    // program's `-c` (its own output, fixtures/gzip and fixtures/compressed), read as
    // the raw one is.
    for ((name, dir, ext), format) in COMPRESSIONS.into_iter().zip([1, 5, 3, 2]) {
        let file = bytes(&compressed("qemu/null-ss-cpl0.migstream", (dir, ext)));
        let image = libvirt_image(b"LibvirtQemudSave", format, &file);
        let o = segstate_stdin(&["check", "--json"], &image);
        assert_eq!(code(&o), 1, "{name}: {}", stderr(&o));
        assert_eq!(json(&o)["states"], json(&ok)["states"], "{name}");
        // Marked so, the bytes are not: named so.
        let not = segstate_stdin(
            &["check"],
            &libvirt_image(b"LibvirtQemudSave", format, &stream),
        );
        assert_eq!(code(&not), 2, "{name}");
        assert_contains(&stderr(&not), &format!("in the {name}-compressed stream"));
    }
    // lzop is refused by name.
    let lzop = segstate_stdin(&["check"], &libvirt_image(b"LibvirtQemudSave", 4, &stream));
    assert_eq!(code(&lzop), 2);
    assert_contains(&stderr(&lzop), "compressed with lzop (4)");
    let partial = segstate_stdin(&["check"], &libvirt_image(b"LibvirtQemudPart", 0, &stream));
    assert_eq!(code(&partial), 2);
    assert!(stderr(&partial).contains("partial"), "{}", stderr(&partial));
    let cut = libvirt_image(b"LibvirtQemudSave", 0, &stream);
    let cut = segstate_stdin(&["check"], &cut[..100]);
    assert_eq!(code(&cut), 2);
    assert!(stderr(&cut).contains("domain XML"), "{}", stderr(&cut));
}

#[test]
fn snapshot_import_names_a_compressed_file_and_writes_nothing() {
    let out = std::env::temp_dir().join(format!("segstate-import-{}.snap", std::process::id()));
    for (name, dir, ext) in COMPRESSIONS {
        let file = fixture(&compressed("qemu/null-ss-cpl0.migstream", (dir, ext)));
        let o = segstate(&["snapshot", "import", "-o", out.to_str().unwrap(), &file]);
        assert_eq!(code(&o), 2, "{name}");
        let err = stderr(&o);
        assert_contains(
            &err,
            &format!("{name}-compressed file: whole file: not imported"),
        );
        assert_contains(&err, "decompress it first");
        assert!(!out.exists(), "{name}: nothing written");
    }
}
