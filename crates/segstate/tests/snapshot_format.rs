//! The snapshot file format: round trips and every refusal path.

use segstate::arch::PrivilegeLevel;
use segstate::arch::Vendor;
use segstate::snapshot::sections;
use segstate::snapshot::{DecodeError, MemoryRegion, MsrEntry, VcpuSnapshot, Xcr};
use segstate::testing::SNAPSHOT_HEADER_SIZE as HEADER_SIZE;
use segstate::testing::crc32c;

fn full() -> VcpuSnapshot {
    let mut s = segstate::testing::example_user_null_ss();
    s.regs.rax = 0x1122_3344_5566_7788;
    s.regs.r15 = u64::MAX;
    s.debug_regs = Some((0..128).map(|i| i as u8).collect());
    s.fpu = Some(vec![7; 416]);
    s.xsave = Some((0..4096u32).map(|i| (i * 13) as u8).collect());
    s.xcrs = Some(vec![Xcr { index: 0, value: 7 }]);
    s.vcpu_events = Some((0..64).map(|i| 100 + i as u8).collect());
    s.lapic = Some(vec![0x5a; 1024]);
    s.mp_state = Some(3);
    s.cpuid = Some(vec![[1; 40], [2; 40]]);
    s.msrs.push(MsrEntry {
        index: segstate::arch::msr::TSC,
        value: 12345,
    });
    s.memory = vec![
        MemoryRegion {
            gpa: 0x1000,
            data: vec![0xcc; 4096],
        },
        MemoryRegion {
            gpa: 0x10_0000,
            data: vec![1, 2, 3],
        },
    ];
    s
}

/// Re-seals a modified file: fixes total size and CRC.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    b.truncate(b.len() - 4);
    let total = (b.len() + 4) as u64;
    b[16..24].copy_from_slice(&total.to_le_bytes());
    let crc = crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn section_offset(b: &[u8], id: u16) -> usize {
    sections(b).into_iter().find(|s| s.id == id).unwrap().offset
}

#[test]
fn round_trip_minimal_and_full() {
    for s in [segstate::testing::example_user_null_ss(), full()] {
        let b = s.encode();
        assert_eq!(&b[..8], b"SEGSNAP\0");
        assert_eq!(VcpuSnapshot::decode(&b).unwrap(), s);
        // Deterministic: encoding is a function of the value.
        assert_eq!(VcpuSnapshot::decode(&b).unwrap().encode(), b);
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let b = full().encode();
    for n in 0..b.len() {
        let e = VcpuSnapshot::decode(&b[..n]).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(
                e,
                DecodeError::Truncated { .. } | DecodeError::SizeMismatch { .. }
            ),
            "cut at {n}: {text}"
        );
        assert!(text.contains("truncated"), "cut at {n}: {text}");
    }
}

#[test]
fn every_flipped_byte_is_refused() {
    let b = segstate::testing::example_user_null_ss().encode();
    for i in 0..b.len() {
        let mut c = b.clone();
        c[i] ^= 0x40;
        let e = VcpuSnapshot::decode(&c).unwrap_err();
        match i {
            // The magic is checked first: such a file is not a snapshot at all.
            0..8 => assert!(matches!(e, DecodeError::BadMagic { .. }), "{i}: {e}"),
            // header.total_size no longer matches the input.
            16..24 => assert!(matches!(e, DecodeError::SizeMismatch { .. }), "{i}: {e}"),
            _ => assert!(matches!(e, DecodeError::Checksum { .. }), "{i}: {e}"),
        }
    }
}

#[test]
fn unknown_version_is_refused_by_name() {
    let mut b = full().encode();
    b[8] = 2;
    let e = VcpuSnapshot::decode(&reseal(b)).unwrap_err();
    assert_eq!(e, DecodeError::UnknownVersion { major: 2, minor: 0 });
    assert!(e.to_string().contains("unknown format version 2.0"));
}

#[test]
fn newer_minor_version_is_read() {
    let mut b = full().encode();
    b[10] = 7;
    assert_eq!(VcpuSnapshot::decode(&reseal(b)).unwrap(), full());
}

#[test]
fn cpl_4_is_impossible() {
    let b = full().encode();
    let off = section_offset(&b, 0x0002) + 8 + 4;
    let mut c = b.clone();
    c[off] = 4;
    let e = VcpuSnapshot::decode(&reseal(c)).unwrap_err();
    assert!(
        matches!(&e, DecodeError::Invalid { field, value: 4, .. } if field == "VCPU.cpl"),
        "{e}"
    );
    assert!(e.to_string().contains(&format!("at offset {off}")), "{e}");
}

#[test]
fn impossible_segment_bytes_are_named() {
    let b = full().encode();
    // SS is the sixth kvm_segment (offset 120), its dpl byte at +16.
    let off = section_offset(&b, 0x0004) + 8 + 120 + 16;
    let mut c = b.clone();
    c[off] = 7;
    let e = VcpuSnapshot::decode(&reseal(c)).unwrap_err();
    assert!(e.to_string().starts_with("SREGS.ss.dpl = 0x7"), "{e}");
}

#[test]
fn cpl_disagreeing_with_ss_dpl_decodes_but_is_unsafe_to_restore() {
    let mut s = full();
    s.sregs.ss.dpl = 0;
    let back = VcpuSnapshot::decode(&s.encode()).unwrap();
    assert_eq!(back.cpl, PrivilegeLevel::Ring3);
    assert!(back.cpl_disagrees());
    assert_eq!(
        back.restore_problems(Vendor::Intel)[0].id(),
        "snapshot.cpl.ss-dpl"
    );
}

/// Appends a section (id, flags, payload) just before the checksum.
fn with_extra_section(id: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = full().encode();
    b.truncate(b.len() - 4);
    b.extend_from_slice(&id.to_le_bytes());
    b.extend_from_slice(&flags.to_le_bytes());
    b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    b.extend_from_slice(payload);
    let n = u32::from_le_bytes(b[24..28].try_into().unwrap()) + 1;
    b[24..28].copy_from_slice(&n.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    reseal(b)
}

#[test]
fn unknown_sections_skippable_or_refused() {
    let skippable = with_extra_section(0x7777, 1, b"future");
    assert_eq!(VcpuSnapshot::decode(&skippable).unwrap(), full());
    let mandatory = with_extra_section(0x7777, 0, b"future");
    let e = VcpuSnapshot::decode(&mandatory).unwrap_err();
    assert!(
        matches!(e, DecodeError::UnknownMandatorySection { id: 0x7777, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("unknown mandatory section 0x7777"));
    let bad_flags = with_extra_section(0x7777, 2, b"");
    assert!(VcpuSnapshot::decode(&bad_flags).is_err());
}

#[test]
fn duplicate_and_missing_sections() {
    let e = VcpuSnapshot::decode(&with_extra_section(0x0002, 0, &[0, 0, 0, 0, 3, 0, 0, 0]))
        .unwrap_err();
    assert!(
        matches!(e, DecodeError::DuplicateSection { name: "VCPU", .. }),
        "{e}"
    );
    // Drop the REGS section: splice it out.
    let b = full().encode();
    let info = sections(&b).into_iter().find(|s| s.id == 0x0003).unwrap();
    let mut c = b[..info.offset].to_vec();
    c.extend_from_slice(&b[info.offset + 8 + info.len..]);
    let n = u32::from_le_bytes(c[24..28].try_into().unwrap()) - 1;
    c[24..28].copy_from_slice(&n.to_le_bytes());
    let e = VcpuSnapshot::decode(&reseal(c)).unwrap_err();
    assert_eq!(e, DecodeError::MissingSection { name: "REGS" });
}

#[test]
fn wrong_section_sizes_and_counts() {
    let b = full().encode();
    // Section count one too many.
    let mut c = b.clone();
    c[24] += 1;
    assert!(
        VcpuSnapshot::decode(&reseal(c))
            .unwrap_err()
            .to_string()
            .contains("section_count")
    );
    // Overlapping memory regions.
    let mut s = full();
    s.memory[1].gpa = 0x1800;
    let e = VcpuSnapshot::decode(&s.encode()).unwrap_err();
    assert!(e.to_string().contains("MEMORY.gpa"), "{e}");
    // MP state out of range.
    let mut s = full();
    s.mp_state = Some(99);
    assert!(
        VcpuSnapshot::decode(&s.encode())
            .unwrap_err()
            .to_string()
            .contains("MP_STATE")
    );
    // A LAPIC that is not 1024 bytes.
    let mut s = full();
    s.lapic = Some(vec![0; 1000]);
    let e = VcpuSnapshot::decode(&s.encode()).unwrap_err();
    assert!(e.to_string().contains("LAPIC section length"), "{e}");
    let _ = HEADER_SIZE;
}

#[test]
fn size_limit() {
    let b = full().encode();
    let e = VcpuSnapshot::decode_with_limit(&b, b.len() - 1).unwrap_err();
    assert!(matches!(e, DecodeError::TooLarge { .. }));
    assert!(VcpuSnapshot::decode_with_limit(&b, b.len()).is_ok());
}

/// Randomised no-panic test: mutations of a valid file, re-sealed so the checksum
/// passes and the section parser sees the damage, and raw random bytes.
#[test]
fn decoder_never_panics_on_random_input() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = full().encode();
    for round in 0..20_000 {
        let mut b = base.clone();
        let edits = 1 + next() % 8;
        for _ in 0..edits {
            let i = HEADER_SIZE + (next() as usize) % (b.len() - HEADER_SIZE - 4);
            b[i] = next() as u8;
        }
        if round % 3 == 0 {
            let cut = HEADER_SIZE + 4 + (next() as usize) % (b.len() - HEADER_SIZE - 4);
            b.truncate(cut);
        }
        let _ = VcpuSnapshot::decode(&reseal(b));
        let raw: Vec<u8> = (0..(next() % 200)).map(|_| next() as u8).collect();
        let _ = VcpuSnapshot::decode(&raw);
    }
}
