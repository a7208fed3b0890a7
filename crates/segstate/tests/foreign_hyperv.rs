//! The Hyper-V partition state reader against the blob built with openvmm's own hvdef
//! types (tests/fixtures/hyperv, see its README for what the producer set): every VP's
//! segments, registers and explicit CPL; the CPL-from-CS.RPL disagreement openvmm's
//! writer makes in virtual-8086 mode; and damaged, cut and foreign blobs refused with
//! the place named.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use segstate::arch::PrivilegeLevel;
use segstate::format::hyperv::VpSegmentRegisters;
use segstate::ingest::foreign::{CplDisagreement, ForeignVcpu, IngestError, Place, Reason, Stack};
use segstate::ingest::hyperv::{self, Framing};
use segstate::ingest::hyperv_storage;
use segstate::ingest::{self, InputFormat};

mod foreign_common;
use foreign_common::{assert_noted, assert_producer_user_vcpu, check_inputs};

const BLOB: &[u8] = include_bytes!("fixtures/hyperv/partition-state-2vp.bin");
/// The same blob in a HyperVStorage file written by openvmm's `hvs_file` writer.
const VMRS: &[u8] = include_bytes!("fixtures/hyperv/partition-state-2vp.vmrs");
/// The chunks start after the 24-byte descriptor and 16 bytes of gap.
const CHUNKS: usize = 40;
/// Chunk offsets, as the producer wrote them: prolog 4080, OS_ID 32, PARTITION_VTL
/// 32, VP_INDICES 28; then per VP: VP 32, VP_VTL 32, GP 160, control 64, segment
/// 160, table 48, debug 64, FP 432, XSAVE control 80.
const VP0: usize = CHUNKS + 4080 + 32 + 32 + 28;
const VP_SIZE: usize = 32 + 32 + 160 + 64 + 160 + 48 + 64 + 432 + 80;
const SEGMENTS: usize = 32 + 32 + 160 + 64;

fn read(bytes: &[u8]) -> Result<Vec<ForeignVcpu>, IngestError> {
    hyperv::read(bytes, "blob")
}

fn err(bytes: &[u8]) -> IngestError {
    match read(bytes) {
        Ok(v) => panic!("read {} VPs from a bad blob", v.len()),
        Err(e) => e,
    }
}

fn at(e: &IngestError) -> usize {
    match e.place {
        Place::Offset(o) => o,
        ref other => panic!("expected an offset, found {other:?}: {e}"),
    }
}

/// The blob with its `total_size` made to match a new length.
fn resized(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() as u64;
    b[16..24].copy_from_slice(&n.to_le_bytes());
    b
}

#[test]
fn every_vp_with_its_explicit_cpl() {
    assert_eq!(hyperv::recognise(BLOB), Some(Framing::Envelope));
    let v = read(BLOB).unwrap();
    assert_eq!(v.len(), 2);
    let (user, v86) = (&v[0], &v[1]);
    for (vp, id) in [(user, "0"), (v86, "1")] {
        assert_eq!(vp.stack, Stack::HyperV);
        assert_eq!(vp.id, id);
        assert_eq!(
            vp.format,
            format!("Hyper-V partition state (VidSavedStateDescriptor envelope, Intel), VP {id}")
        );
    }
    let s = &user.sregs;
    assert_eq!(
        (s.cs.selector, s.cs.type_, s.cs.l, s.cs.dpl, s.cs.present),
        (0x33, 0xb, 1, 3, 1)
    );
    assert_eq!(
        (s.ss.selector, s.ss.dpl, s.ss.db, s.ss.g, s.ss.unusable),
        (0x2b, 3, 1, 1, 0)
    );
    assert_eq!((s.ds.present, s.ds.unusable), (0, 1), "attributes 0: P = 0");
    assert_eq!(s.fs.base, 0x7f3a_1c2e_9740);
    assert_eq!(
        (s.tr.selector, s.tr.base, s.tr.limit, s.tr.type_),
        (0x40, 0xffff_fe00_0000_3000, 0x4087, 0xb)
    );
    assert_producer_user_vcpu(user);
    assert_eq!(user.file_cpl, Some(PrivilegeLevel::Ring3));
    assert_eq!(user.cpl_disagreement(), None);
    let dr = user.debug_regs.as_deref().unwrap();
    assert_eq!(
        &dr[32..48],
        &[0xf0, 0x0f, 0xff, 0xff, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0]
    );

    // VP 1: virtual-8086 mode; the writer put CS.RPL (0) in the cpl byte, SS.DPL is 3.
    let s = &v86.sregs;
    assert_eq!(
        (s.cs.selector, s.cs.base, s.cs.limit, s.cs.dpl, s.cs.type_),
        (0x1000, 0x1_0000, 0xffff, 3, 3)
    );
    assert_eq!(v86.regs.rflags, 0x2_0202);
    assert_eq!(
        (v86.regs.rip, v86.regs.rsp, v86.regs.rax),
        (0x100, 0xfffe, 0x4c00)
    );
    assert_eq!((s.cr0, s.cr4, s.efer), (0x8000_0011, 1, 0));
    assert_eq!(v86.file_cpl, Some(PrivilegeLevel::Ring0));
    assert_eq!(
        v86.cpl(),
        PrivilegeLevel::Ring0,
        "the file's own CPL is reported"
    );
    assert_eq!(
        v86.cpl_disagreement(),
        Some(CplDisagreement {
            file: PrivilegeLevel::Ring0,
            ss_dpl: PrivilegeLevel::Ring3
        })
    );
}

#[test]
fn a_bare_chunk_stream_reads_the_same() {
    let bare = &BLOB[CHUNKS..];
    assert_eq!(hyperv::recognise(bare), Some(Framing::Bare));
    let (a, b) = (read(BLOB).unwrap(), read(bare).unwrap());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (&x.sregs, &x.regs, x.file_cpl),
            (&y.sregs, &y.regs, y.file_cpl)
        );
    }
    assert!(b[0].format.contains("bare chunk stream"));
}

#[test]
fn the_segment_chunk_is_where_the_producer_put_it() {
    let seg = VP0 + SEGMENTS;
    let chunk = VpSegmentRegisters::from_bytes(&BLOB[seg..seg + VpSegmentRegisters::SIZE]).unwrap();
    assert_eq!(chunk.cpl, 3);
    let seg1 = seg + VP_SIZE;
    assert_eq!(BLOB[seg1 + VpSegmentRegisters::CPL_OFFSET], 0);
}

#[test]
fn foreign_bytes_are_refused_by_name() {
    let e = err(&[0u8; 10]);
    assert!(
        matches!(
            e.reason,
            Reason::Truncated {
                needed: 24,
                found: 10
            }
        ),
        "{e}"
    );
    let mut b = BLOB.to_vec();
    b[CHUNKS + 16] ^= 1; // the prolog's tag
    let e = err(&b);
    assert!(
        matches!(e.reason, Reason::Missing(m) if m.contains("PROLOG")),
        "{e}"
    );
    let e = err(&BLOB[..BLOB.len() - 1]);
    assert_eq!(at(&e), 16, "total_size names the cut: {e}");
}

#[test]
fn a_vmrs_container_is_opened_down_to_its_blob() {
    assert_eq!(hyperv::recognise(VMRS), Some(Framing::HyperVStorage));
    assert_eq!(ingest::detect(VMRS), Ok(InputFormat::HyperV));
    let (inner, key) =
        hyperv_storage::partition_state(std::io::Cursor::new(VMRS), "vmrs", 1 << 20).unwrap();
    assert_eq!(inner, BLOB, "the blob the writer stored");
    assert_eq!(key, "/savedstate/savedVM/partition_state");
    let (a, b) = (read(VMRS).unwrap(), read(BLOB).unwrap());
    assert_eq!(a.len(), 2);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (&x.sregs, &x.regs, x.file_cpl),
            (&y.sregs, &y.regs, y.file_cpl)
        );
        assert!(
            x.format
                .starts_with("HyperVStorage 4.0 file, /savedstate/savedVM/partition_state: "),
            "{}",
            x.format
        );
    }
    // A bad copy 0 is outvoted by copy 1; both bad is refused.
    let mut b = VMRS.to_vec();
    b[20] ^= 1;
    assert_eq!(read(&b).unwrap().len(), 2);
    b[4096 + 20] ^= 1;
    let e = err(&b);
    assert_eq!(at(&e), 0);
    assert!(e.to_string().contains("neither file header copy"), "{e}");
}

/// The container with both header copies set to `version`, their CRCs made right.
fn vmrs_version(version: u32) -> Vec<u8> {
    let mut b = VMRS.to_vec();
    for h in [0, 4096] {
        b[h + 10..h + 14].copy_from_slice(&version.to_le_bytes());
        b[h + 4..h + 8].fill(0);
        let crc = hyperv_storage::crc32(&b[h..h + hyperv_storage::FILE_HEADER_SIZE]);
        b[h + 4..h + 8].copy_from_slice(&crc.to_le_bytes());
    }
    b
}

#[test]
fn damaged_containers_name_the_place() {
    assert_eq!(read(&vmrs_version(0x0400)).unwrap().len(), 2);
    let e = err(&vmrs_version(0x0301));
    assert!(
        matches!(&e.reason, Reason::UnsupportedVersion { found, .. } if found == "HyperVStorage 3.1"),
        "{e}"
    );
    assert_eq!(e.format, hyperv_storage::FORMAT);
    // The object table's signature.
    let mut b = VMRS.to_vec();
    b[8192] ^= 1;
    assert_eq!(at(&err(&b)), 8192);
    // The key renamed: nothing to read.
    let name = b"partition_state\0";
    let pos = VMRS.windows(name.len()).position(|w| w == name).unwrap();
    let mut b = VMRS.to_vec();
    b[pos] = b'P';
    let e = err(&b);
    assert!(
        matches!(e.reason, Reason::Missing(m) if m.contains("partition_state")),
        "{e}"
    );
    // The file object cut off.
    let e = err(&VMRS[..8192 + 4096 + 100]);
    assert!(matches!(e.reason, Reason::Truncated { .. }), "{e}");
    // Damage inside the blob is named by the key and the blob's own offset.
    let object = VMRS.windows(24).position(|w| w == &BLOB[..24]).unwrap();
    let mut b = VMRS.to_vec();
    b[object + VP0 + SEGMENTS + VpSegmentRegisters::CPL_OFFSET] = 9;
    let e = err(&b);
    let cpl_at = VP0 + SEGMENTS + VpSegmentRegisters::CPL_OFFSET;
    assert_eq!(
        e.place,
        Place::Field(format!(
            "/savedstate/savedVM/partition_state, VP 0 cpl at offset {cpl_at} ({cpl_at:#x})"
        ))
    );
}

#[test]
fn cut_and_damaged_chunks_name_the_offset() {
    // Cut inside VP 1's segment chunk (total_size patched, so the walk finds it).
    let seg1 = VP0 + VP_SIZE + SEGMENTS;
    let e = err(&resized(BLOB[..seg1 + 100].to_vec()));
    assert_eq!(at(&e), seg1 + 4);
    assert!(
        matches!(
            e.reason,
            Reason::Truncated {
                needed: 144,
                found: 84
            }
        ),
        "{e}"
    );
    // Cut exactly before the epilog.
    let e = err(&resized(BLOB[..BLOB.len() - 16].to_vec()));
    assert!(
        matches!(e.reason, Reason::Missing(m) if m.contains("EPILOG")),
        "{e}"
    );

    // A segment chunk with a data length of 145.
    let mut b = BLOB.to_vec();
    let seg0 = VP0 + SEGMENTS;
    b[seg0 + 4] = 145;
    let e = err(&b);
    assert!(matches!(e.reason, Reason::Layout(_)), "{e}");
    assert_eq!(at(&e), seg0);

    // A CPL byte of 7, reserved attribute bits in SS.
    let mut b = BLOB.to_vec();
    b[seg0 + VpSegmentRegisters::CPL_OFFSET] = 7;
    let e = err(&b);
    let cpl_at = seg0 + VpSegmentRegisters::CPL_OFFSET;
    assert_eq!(
        e.place,
        Place::Field(format!("VP 0 cpl at offset {cpl_at} ({cpl_at:#x})"))
    );
    let mut b = BLOB.to_vec();
    let ss_attr = seg0 + 16 + 2 * 16 + 14;
    b[ss_attr + 1] |= 0x0f;
    let e = err(&b);
    assert_eq!(
        e.place,
        Place::Field(format!(
            "VP 0 ss.attributes at offset {ss_attr} ({ss_attr:#x})"
        ))
    );

    // VP 1 without a segment chunk (its id renamed to one nobody reads).
    let mut b = BLOB.to_vec();
    b[seg1 + 2] = 0x77;
    let e = err(&b);
    assert!(
        matches!(e.reason, Reason::Missing("the VP_SEGMENT_REGISTERS chunk")),
        "{e}"
    );
    assert_eq!(
        e.place,
        Place::Field(format!("VP 1 (its VP chunk at offset {})", VP0 + VP_SIZE))
    );

    // A GP chunk of the wrong size.
    let mut b = BLOB.to_vec();
    b[VP0 + 64 + 4] = 136;
    let e = err(&b);
    assert!(
        matches!(
            e.reason,
            Reason::WrongLength {
                expected: 144,
                found: 136,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn detection_and_the_check_path_carry_the_disagreement() {
    assert_eq!(ingest::detect(BLOB), Ok(InputFormat::HyperV));
    let inputs = check_inputs(BLOB, "hyper-v vCPU 0");
    assert_noted(&inputs[1], "the file's CPL field is 0 but SS.DPL is 3");
}
