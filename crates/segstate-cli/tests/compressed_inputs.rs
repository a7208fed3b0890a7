//! `segstate check` on compressed and wrapped inputs: gzip-compressed files and standard
//! input (GNU gzip's own output, `fixtures/gzip`), and libvirt saved-VM images, raw or
//! with their QEMU stream through `gzip -c`.

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

#[test]
fn a_gzip_file_reads_as_the_text_it_holds() {
    for (gz, plain) in [
        (
            "gzip/kvm-2005-hwerr0-dumpvmcs-ept.txt.gz",
            "dumps/kvm-2005-hwerr0-dumpvmcs-ept.txt",
        ),
        (
            "gzip/sysret-null-ss-cpl3.txt.gz",
            "qemu/sysret-null-ss-cpl3.txt",
        ),
    ] {
        let want = report_of(&fixture(plain));
        assert!(want.1.starts_with("== "), "{plain}: {}", want.1);
        assert_eq!(report_of(&fixture(gz)), want, "{gz}");
        // From standard input too, and as JSON.
        let piped = segstate_stdin(&["check", "--json"], &bytes(gz));
        let direct = segstate(&["check", "--json", &fixture(plain)]);
        assert_eq!(code(&piped), code(&direct), "{gz}: {}", stderr(&piped));
        assert_eq!(json(&piped)["states"], json(&direct)["states"], "{gz}");
    }
}

#[test]
fn a_gzip_migration_stream_reads_every_cpu() {
    let plain = segstate(&["check", "--json", &fixture("qemu/null-ss-cpl0.migstream")]);
    let gz = segstate(&[
        "check",
        "--json",
        &fixture("gzip/null-ss-cpl0.migstream.gz"),
    ]);
    assert_eq!(code(&gz), code(&plain), "{}", stderr(&gz));
    assert_eq!(json(&gz)["states"].as_array().unwrap().len(), 2);
    assert_eq!(json(&gz)["states"], json(&plain)["states"]);
}

#[test]
fn every_member_of_a_concatenated_gzip_file_is_read() {
    // `cat a.gz b.gz`: one file, two members, read as `cat a b` is.
    let mut two = bytes("gzip/sysret-null-ss-cpl3.txt.gz");
    two.extend(bytes("gzip/kvm-2005-hwerr0-dumpvmcs-ept.txt.gz"));
    let mut plain = bytes("qemu/sysret-null-ss-cpl3.txt");
    plain.extend(bytes("dumps/kvm-2005-hwerr0-dumpvmcs-ept.txt"));
    let o = segstate_stdin(&["check"], &two);
    let want = segstate_stdin(&["check"], &plain);
    assert_eq!(code(&o), code(&want), "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&want));
    // Both members' dumps are in it: the first's, and the second's dump_vmcs.
    let out = stdout(&o);
    let states: Vec<&str> = out.lines().filter(|l| l.starts_with("== ")).collect();
    assert!(states.len() >= 2, "{out}");
    assert_contains(states[0], "vmx.entry.tr.type");
    assert_contains(&out, "Linux dump_vmcs");
}

#[test]
fn a_cut_or_doubly_compressed_gzip_file_is_named() {
    let gz = bytes("gzip/null-ss-cpl0.migstream.gz");
    let cut = segstate_stdin(&["check"], &gz[..gz.len() / 2]);
    assert_eq!(code(&cut), 2);
    let err = stderr(&cut);
    assert_contains(
        &err,
        "standard input: gzip-compressed; in the bytes it inflates to,",
    );
    // Twice compressed: refused, with the command that takes the outer layer off.
    let o = segstate(&["check", &fixture("gzip/sysret-null-ss-cpl3.txt.gz.gz")]);
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), "gzip-compressed twice");
    assert_contains(&stderr(&o), "gunzip -c FILE | segstate check -");
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
    // save_image_format = "gzip": the stream through `gzip -c` (GNU gzip's own output,
    // fixtures/gzip), read as the raw one is.
    let gz_stream = std::fs::read(fixture("gzip/null-ss-cpl0.migstream.gz")).unwrap();
    let gz = segstate_stdin(
        &["check", "--json"],
        &libvirt_image(b"LibvirtQemudSave", 1, &gz_stream),
    );
    assert_eq!(code(&gz), 1, "{}", stderr(&gz));
    assert_eq!(json(&gz)["states"], json(&ok)["states"]);
    // Marked gzip, the bytes are not: named so; the other compressors are refused by name.
    let not_gz = segstate_stdin(&["check"], &libvirt_image(b"LibvirtQemudSave", 1, &stream));
    assert_eq!(code(&not_gz), 2);
    assert_contains(&stderr(&not_gz), "in the gzip-compressed stream");
    let xz = segstate_stdin(&["check"], &libvirt_image(b"LibvirtQemudSave", 3, &stream));
    assert_eq!(code(&xz), 2);
    assert_contains(&stderr(&xz), "compressed with xz");
    let partial = segstate_stdin(&["check"], &libvirt_image(b"LibvirtQemudPart", 0, &stream));
    assert_eq!(code(&partial), 2);
    assert!(stderr(&partial).contains("partial"), "{}", stderr(&partial));
    let cut = libvirt_image(b"LibvirtQemudSave", 0, &stream);
    let cut = segstate_stdin(&["check"], &cut[..100]);
    assert_eq!(code(&cut), 2);
    assert!(stderr(&cut).contains("domain XML"), "{}", stderr(&cut));
}
