//! Compatibility corpus: snapshot files written by format version 1
//! (tests/corpus/snapshots/v1, generated once by
//! `cargo run -p segstate-kvm --example snapshot_corpus`). Every later version of
//! the reader must decode them, checksum included, to exactly these values.

use std::path::PathBuf;

use segstate::arch::PrivilegeLevel;
use segstate::arch::Vendor;
use segstate::arch::msr;
use segstate::snapshot::VcpuSnapshot;
use segstate::testing::crc32c;

fn corpus(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/corpus/snapshots/v1")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn stored_crc(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[b.len() - 4..].try_into().unwrap())
}

fn header(b: &[u8]) -> (u16, u16) {
    (
        u16::from_le_bytes([b[8], b[9]]),
        u16::from_le_bytes([b[10], b[11]]),
    )
}

#[test]
fn v1_corpus_is_complete() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/snapshots/v1");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".snap"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "example-user-null-ss.snap",
            "harness-kernel.snap",
            "harness-user-null-ss.snap"
        ]
    );
}

#[test]
fn v1_example_decodes_to_the_example_and_is_byte_stable() {
    let b = corpus("example-user-null-ss.snap");
    assert_eq!(header(&b), (1, 0));
    assert_eq!(b.len(), 885);
    assert_eq!(stored_crc(&b), crc32c(&b[..b.len() - 4]));
    let s = VcpuSnapshot::decode(&b).unwrap();
    assert_eq!(s, segstate::testing::example_user_null_ss());
    // While the writer's version is 1.0, it must write the same bytes.
    if segstate::snapshot::FORMAT_MAJOR == 1 && segstate::snapshot::FORMAT_MINOR == 0 {
        assert_eq!(s.encode(), b);
    }
}

/// A version 1.0 corpus file whose stored CRC is `crc`, decoded.
#[track_caller]
fn v1_0(name: &str, crc: u32) -> VcpuSnapshot {
    let b = corpus(name);
    assert_eq!(header(&b), (1, 0), "{name}");
    assert_eq!(stored_crc(&b), crc, "{name}");
    VcpuSnapshot::decode(&b).unwrap()
}

#[test]
fn v1_harness_user_null_ss() {
    let s = v1_0("harness-user-null-ss.snap", 0xc250_735e);
    assert_eq!(s.host.vendor, Some(Vendor::Intel));
    assert_eq!(s.host.cpu_vendor, "GenuineIntel");
    assert_eq!(s.host.kvm_api_version, 12);
    assert_eq!(s.cpl, PrivilegeLevel::Ring3);
    assert_eq!(
        (s.regs.rip, s.regs.rsp, s.regs.rflags),
        (0x20009, 0x70000, 0x2)
    );
    assert_eq!(s.sregs.cs.selector, 0x2b);
    let ss = s.sregs.ss;
    assert_eq!(
        (ss.selector, ss.type_, ss.s, ss.dpl, ss.present, ss.unusable),
        (0x23, 3, 1, 3, 0, 1)
    );
    assert_eq!((s.sregs.cr3, s.sregs.efer), (0x4000, 0x501));
    assert_eq!(s.msrs.len(), 41);
    let star = s.msrs.iter().find(|m| m.index == msr::STAR).unwrap();
    assert_eq!(star.value, 0x0018_0008_0000_0000);
    let regions: Vec<(u64, usize)> = s.memory.iter().map(|m| (m.gpa, m.data.len())).collect();
    assert_eq!(
        regions,
        [
            (0x1000, 24576),
            (0x8000, 4096),
            (0x10000, 4096),
            (0x20000, 4096)
        ]
    );
    assert_eq!(s.xsave.as_ref().map(Vec::len), Some(4096));
    assert!(s.restore_problems(Vendor::Intel).is_empty());
    assert!(s.clone().normalise_for(Vendor::Amd).is_ok());
}

#[test]
fn v1_harness_kernel() {
    let s = v1_0("harness-kernel.snap", 0xd699_ee4a);
    assert_eq!(s.cpl, PrivilegeLevel::Ring0);
    assert_eq!(s.sregs.cs.selector, 0x08);
    assert_eq!((s.regs.rip, s.regs.rsp), (0x1004f, 0x8ffd0));
    // A NULL SS loaded by an interrupt to CPL 0, as this backend reported it.
    assert_eq!(
        (s.sregs.ss.selector, s.sregs.ss.present, s.sregs.ss.dpl),
        (0, 0, 0)
    );
    assert_eq!(s.memory.len(), 5);
    assert_eq!(s.memory[4].gpa, 0x8f000, "the kernel stack page");
    assert!(s.restore_problems(Vendor::Intel).is_empty());
}
