//! The Xen save image reader against the fixtures built with Xen's own headers
//! (tests/fixtures/xen, see its README for what the producer set): every vCPU's
//! segments, registers and CPL as the producer wrote them; a stream read in small
//! pieces and one with large page data; checkpointed streams; and damaged, cut,
//! re-versioned and foreign images refused with the place named.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use std::io::Read;

use segstate::arch::PrivilegeLevel;
use segstate::format::kvm::KvmSegment;
use segstate::ingest::foreign::{ForeignVcpu, IngestError, Place, Reason, Stack};
use segstate::ingest::xen::{self, Container, MAX_HVM_CONTEXT, REC_LENGTH_MAX};
use segstate::ingest::{self, InputFormat};

mod foreign_common;
use foreign_common::{assert_noted, assert_producer_user_vcpu, check_inputs};

const XL: &[u8] = include_bytes!("fixtures/xen/xl-save-hvm-2vcpu.img");
const LEGACY: &[u8] = include_bytes!("fixtures/xen/libxc-v2-legacy-compat.stream");
/// Where the producer put the records (the sidecar's offsets).
const XL_HVM_CONTEXT: usize = 0x51b3;
const LEGACY_HVM_CONTEXT: usize = 0x1060;
/// The libxc image header of the legacy stream starts at 0; of the xl image, after
/// the xl header (48), its optional data (179), the libxl header (16) and LIBXC_CONTEXT (8).
const XL_LIBXC: usize = 48 + 179 + 16 + 8;

fn read(bytes: &[u8]) -> Result<Vec<ForeignVcpu>, IngestError> {
    xen::read(bytes, "image")
}

fn ok(bytes: &[u8]) -> Vec<ForeignVcpu> {
    read(bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn err(bytes: &[u8]) -> IngestError {
    match read(bytes) {
        Ok(v) => panic!("read {} vCPUs from a bad image", v.len()),
        Err(e) => e,
    }
}

fn seg(s: &KvmSegment) -> (u16, u64, u32, u8, u8, u8, u8, u8, u8, u8) {
    (
        s.selector, s.base, s.limit, s.type_, s.present, s.dpl, s.s, s.l, s.db, s.unusable,
    )
}

/// The vCPU's format description says `text`.
fn says(v: &ForeignVcpu, text: &str) {
    assert!(v.format.contains(text), "{}", v.format);
}

fn msr(v: &ForeignVcpu, index: u32) -> Option<u64> {
    v.msrs.iter().find(|m| m.index == index).map(|m| m.value)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn xl_save_image_every_vcpu_as_the_producer_set_it() {
    assert_eq!(xen::recognise(XL), Some(Container::Xl));
    let v = ok(XL);
    assert_eq!(v.len(), 2);
    let (user, kernel) = (&v[0], &v[1]);
    for (cpu, id) in [(user, "0"), (kernel, "1")] {
        assert_eq!(cpu.stack, Stack::XenHvm);
        assert_eq!(cpu.id, id);
        assert_eq!(cpu.file_cpl, None, "hvm_hw_cpu has no CPL field");
        says(
            cpu,
            "xl save image (JSON config), libxl stream v2, libxc v3 (Xen 4.20)",
        );
    }
    // vCPU 0: ring 3 after SYSRET, SS 0x2b with ss_arbytes 0x060: P = 0 (unusable), DPL 3.
    let s = &user.sregs;
    assert_eq!(seg(&s.ss), (0x2b, 0, 0xffff_ffff, 0, 0, 3, 0, 0, 0, 1));
    assert_eq!(seg(&s.cs), (0x33, 0, 0xffff_ffff, 0xb, 1, 3, 1, 1, 0, 0));
    assert_eq!(seg(&s.ds), (0, 0, 0xffff_ffff, 0, 0, 0, 0, 0, 0, 1));
    assert_eq!(s.fs.base, 0x7f3a_1c2e_9740);
    assert_eq!(
        seg(&s.tr),
        (0x40, 0xffff_fe00_0000_3000, 0x4087, 0xb, 1, 0, 0, 0, 0, 0)
    );
    assert_eq!(s.ldt.unusable, 1);
    assert_eq!(s.cpl(), PrivilegeLevel::Ring3);
    assert_eq!(user.cpl(), PrivilegeLevel::Ring3);
    assert_eq!(user.cpl_disagreement(), None);
    assert_producer_user_vcpu(user);
    assert_eq!(s.apic_base, 0xfee0_0900);
    assert_eq!(
        msr(user, segstate::arch::msr::STAR),
        Some(0x0023_0010_0000_0000)
    );
    assert_eq!(
        msr(user, segstate::arch::msr::LSTAR),
        Some(0xffff_ffff_81c0_0080)
    );
    assert_eq!(msr(user, segstate::arch::msr::SFMASK), Some(0x47700));
    assert_eq!(
        msr(user, segstate::arch::msr::TSC_AUX),
        Some(0),
        "msr_tsc_aux of the full record"
    );
    let dr = user.debug_regs.as_deref().unwrap();
    assert_eq!((le_u64(dr, 32), le_u64(dr, 40)), (0xffff_0ff0, 0x400));

    // vCPU 1: the kernel at CPL 0.
    let k = &kernel.sregs;
    assert_eq!(seg(&k.cs), (0x10, 0, 0xffff_ffff, 0xb, 1, 0, 1, 1, 0, 0));
    assert_eq!(seg(&k.ss), (0x18, 0, 0xffff_ffff, 3, 1, 0, 1, 0, 1, 0));
    assert_eq!(k.gs.base, 0xffff_8881_3bc8_0000);
    assert_eq!((k.cr3, k.apic_base), (0x2a1_2000, 0xfee0_0800));
    assert_eq!(kernel.cpl(), PrivilegeLevel::Ring0);
    assert_eq!(kernel.regs.rip, 0xffff_ffff_81f2_b6cf);
}

#[test]
fn legacy_compat_record_is_unfolded_as_hvm_load_cpu_ctxt_does() {
    assert_eq!(xen::recognise(LEGACY), Some(Container::Libxc));
    let v = ok(LEGACY);
    assert_eq!(v.len(), 1);
    let cpu = &v[0];
    says(
        cpu,
        "bare libxc stream, libxc v2 (converted by the legacy tool v1), HVM_CONTEXT at offset 0x1060",
    );
    assert!(cpu.format.contains("hvm_hw_cpu_compat (1016 bytes"));
    says(cpu, "cs 0xc09b -> 0xc9b");
    says(cpu, "gs 0x4093 -> 0x493");
    says(cpu, "ldtr_arbytes 0x10000: bits 31:16 dropped");
    let s = &cpu.sregs;
    // 0xc09b unfolded: G and DB from bits 15:12 moved to 11:8.
    assert_eq!(
        (s.cs.selector, s.cs.type_, s.cs.db, s.cs.g, s.cs.present),
        (0x60, 0xb, 1, 1, 1)
    );
    assert_eq!((s.ss.selector, s.ss.dpl, s.ss.db, s.ss.g), (0x68, 0, 1, 1));
    assert_eq!((s.ds.dpl, s.ds.g), (3, 1));
    assert_eq!(
        (s.gs.base, s.gs.limit, s.gs.db, s.gs.g),
        (0xc1a2_b000, 0x18, 1, 0)
    );
    assert_eq!((s.ldt.present, s.ldt.unusable), (0, 1));
    assert_eq!(
        (s.tr.base, s.tr.limit, s.tr.type_),
        (0xc1a0_c000, 0x206b, 0xb)
    );
    assert_eq!(cpu.cpl(), PrivilegeLevel::Ring0);
    assert_eq!(
        (s.cr0, s.cr3, s.cr4, s.efer),
        (0x8005_003b, 0x5d_5000, 0x6d0, 0)
    );
    assert_eq!(cpu.regs.rip, 0xc010_3c5c);
    assert_eq!(
        msr(cpu, segstate::arch::msr::TSC_AUX),
        None,
        "the compat record has no msr_tsc_aux"
    );
}

/// A reader that hands out a few bytes at a time, as a pipe may.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(7).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_stream_read_in_pieces_reads_the_same() {
    assert_eq!(xen::read(Trickle(XL), "pipe").unwrap(), ok(XL));
}

/// The libxc stream of the legacy fixture with `records` in place of its own.
fn libxc_with(records: &[u8]) -> Vec<u8> {
    let mut out = LEGACY[..40].to_vec();
    out.extend_from_slice(records);
    out
}

fn record(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut out = kind.to_le_bytes().to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len().next_multiple_of(8), 0);
    out
}

/// The legacy fixture's HVM_CONTEXT body.
fn legacy_context() -> Vec<u8> {
    let at = LEGACY_HVM_CONTEXT;
    let len = u32::from_le_bytes(LEGACY[at + 4..at + 8].try_into().unwrap()) as usize;
    LEGACY[at + 8..at + 8 + len].to_vec()
}

#[test]
fn page_data_is_skipped_as_it_streams() {
    // 64 MiB of page data in front of the context, never in memory at once.
    let pages: u32 = 64 << 8;
    let mut head = LEGACY[..40].to_vec();
    head.extend_from_slice(&1u32.to_le_bytes());
    head.extend_from_slice(&(pages * 4096).to_le_bytes());
    let tail = [record(9, &legacy_context()), record(0, &[])].concat();
    let stream = head
        .as_slice()
        .chain(std::io::repeat(0x90).take(u64::from(pages) * 4096))
        .chain(tail.as_slice());
    let v = xen::read(stream, "big").unwrap();
    assert_eq!(v[0].regs.rip, 0xc010_3c5c);
    says(&v[0], "HVM_CONTEXT at offset 0x4000030");
}

#[test]
fn checkpointed_streams_give_the_last_complete_checkpoint() {
    let first = legacy_context();
    let mut second = first.clone();
    // The CPU entry follows HEADER (8 + 24 bytes); move RIP in the second checkpoint.
    let rip = 32 + 8 + 640;
    second[rip..rip + 8].copy_from_slice(&0xc010_4000u64.to_le_bytes());
    let checkpoint = record(0xe, &[]);
    let both = libxc_with(
        &[
            record(9, &first),
            checkpoint.clone(),
            record(9, &second),
            checkpoint.clone(),
            record(0, &[]),
        ]
        .concat(),
    );
    assert_eq!(ok(&both)[0].regs.rip, 0xc010_4000);
    // Cut after the second context, before its CHECKPOINT: the first is the state.
    let cut = libxc_with(&[record(9, &first), checkpoint, record(9, &second)].concat());
    assert_eq!(ok(&cut)[0].regs.rip, 0xc010_3c5c);
}

fn at(e: &IngestError) -> usize {
    match e.place {
        Place::Offset(o) => o,
        ref other => panic!("expected an offset, found {other:?}: {e}"),
    }
}

#[test]
fn bad_magic_and_unknown_versions_are_refused_with_the_offset() {
    let mut b = XL.to_vec();
    b[0] = b'x';
    let e = err(&b);
    assert!(matches!(e.reason, Reason::BadMagic { .. }), "{e}");
    assert_eq!(
        (at(&e), e.file.as_str(), e.format),
        (0, "image", xen::FORMAT)
    );

    // The libxl stream version (big-endian, after the ident).
    let mut b = XL.to_vec();
    b[48 + 179 + 11] = 3;
    let e = err(&b);
    assert_eq!(at(&e), 48 + 179 + 8);
    assert!(
        matches!(&e.reason, Reason::UnsupportedVersion { found, .. } if found == "libxl stream version 3"),
        "{e}"
    );

    // The libxc image header's version: 1 and 4 are not 2 or 3.
    for version in [1u8, 4] {
        let mut b = LEGACY.to_vec();
        b[15] = version;
        let e = err(&b);
        assert_eq!(at(&e), 12, "{e}");
        assert!(
            e.to_string()
                .contains(&format!("libxc stream version {version}")),
            "{e}"
        );
    }
    let mut b = XL.to_vec();
    b[XL_LIBXC + 15] = 4;
    assert_eq!(at(&err(&b)), XL_LIBXC + 12);

    // A big-endian libxc stream, a PV domain, an xl image without STREAMv2.
    let mut b = LEGACY.to_vec();
    b[17] = 1;
    assert_eq!(at(&err(&b)), 16);
    let mut b = LEGACY.to_vec();
    b[24] = 1;
    let e = err(&b);
    assert_eq!(at(&e), 24);
    assert!(e.to_string().contains("domain type 1"), "{e}");
    let mut b = XL.to_vec();
    b[36] = 1;
    let e = err(&b);
    assert_eq!(at(&e), 36);
    assert!(e.to_string().contains("legacy (pre-4.6) stream"), "{e}");

    // The HVM context's own header magic.
    let mut b = XL.to_vec();
    b[XL_HVM_CONTEXT + 16] ^= 1;
    let e = err(&b);
    assert_eq!(at(&e), XL_HVM_CONTEXT + 16);
    assert!(matches!(e.reason, Reason::BadMagic { .. }), "{e}");
}

#[test]
fn truncated_images_name_what_was_cut() {
    for cut in [
        4,
        40,
        60,
        250,
        270,
        4000,
        XL_HVM_CONTEXT + 4,
        XL_HVM_CONTEXT + 600,
    ] {
        let e = err(&XL[..cut]);
        assert!(
            matches!(e.reason, Reason::Truncated { .. }),
            "cut at {cut}: {e}"
        );
        assert!(e.to_string().contains("image: Xen save image: "), "{e}");
    }
    let e = err(&XL[..XL_HVM_CONTEXT + 600]);
    assert!(
        matches!(&e.place, Place::Field(f) if f.starts_with("the HVM_CONTEXT record at offset")),
        "{e}"
    );
    // Cut right after a whole record: the stream ends without HVM_CONTEXT.
    let e = err(&LEGACY[..40 + 8 + 16 + 4096]);
    assert!(matches!(e.reason, Reason::Missing(_)), "{e}");
}

#[test]
fn lengths_over_their_limits_are_refused_before_reading() {
    let mut b = libxc_with(&record(1, &[]));
    b[44..48].copy_from_slice(&(REC_LENGTH_MAX + 1).to_le_bytes());
    let e = err(&b);
    assert_eq!(at(&e), 44);
    assert!(
        matches!(e.reason, Reason::TooLarge { size, .. } if size == u64::from(REC_LENGTH_MAX) + 1),
        "{e}"
    );
    let mut b = libxc_with(&record(9, &[]));
    b[44..48].copy_from_slice(&(MAX_HVM_CONTEXT + 8).to_le_bytes());
    assert_eq!(at(&err(&b)), 44);
    // A descriptor whose length runs past the context.
    let mut ctx = legacy_context();
    ctx[36..40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let e = err(&libxc_with(&record(9, &ctx)));
    assert_eq!(at(&e), 40 + 8 + 36, "{e}");
    assert!(matches!(e.reason, Reason::Truncated { .. }), "{e}");
}

#[test]
fn a_stream_without_hvm_context_or_cpus_says_what_is_missing() {
    // HVM_CONTEXT turned into an optional record nobody reads: END comes first.
    let mut b = LEGACY.to_vec();
    b[LEGACY_HVM_CONTEXT + 3] = 0x80;
    let e = err(&b);
    assert!(
        matches!(e.reason, Reason::Missing(m) if m.contains("HVM_CONTEXT")),
        "{e}"
    );
    // A context whose CPU entry is renamed MTRR (14).
    let mut ctx = legacy_context();
    ctx[32] = 14;
    let e = err(&libxc_with(&[record(9, &ctx), record(0, &[])].concat()));
    assert!(
        matches!(e.reason, Reason::Missing(m) if m.contains("CPU entry")),
        "{e}"
    );
    // A CPU entry of neither size.
    let mut ctx = legacy_context();
    ctx[36..40].copy_from_slice(&1000u32.to_le_bytes());
    let e = err(&libxc_with(&record(9, &ctx)));
    assert!(
        matches!(e.reason, Reason::WrongLength { found: 1000, .. }),
        "{e}"
    );
}

#[test]
fn undecodable_segment_fields_name_the_vcpu_field_and_offset() {
    // cs_arbytes of vCPU 1 with bits 11:8 and 15:12 both set: neither layout.
    let cpu1 = XL_HVM_CONTEXT + 8 + 8 + 24 + 8 + 1032 + 8;
    let mut b = XL.to_vec();
    b[cpu1 + 888..cpu1 + 892].copy_from_slice(&0x1a9bu32.to_le_bytes());
    let e = err(&b);
    let want = format!("vCPU 1 cs_arbytes at offset {}", cpu1 + 888);
    assert!(
        matches!(&e.place, Place::Field(f) if f.starts_with(&want)),
        "{e}"
    );
    let mut b = XL.to_vec();
    b[cpu1 + 756 + 2] = 1; // ss_sel above 0xffff
    assert!(err(&b).to_string().contains("vCPU 1 ss_sel at offset"));
}

#[test]
fn detection_and_the_check_path_read_every_vcpu() {
    assert_eq!(ingest::detect(XL), Ok(InputFormat::Xen));
    assert_eq!(ingest::detect(LEGACY), Ok(InputFormat::Xen));
    let bare_libxl = &XL[48 + 179..];
    assert_eq!(xen::recognise(bare_libxl), Some(Container::Libxl));
    assert_eq!(ok(bare_libxl).len(), 2);
    let inputs = check_inputs(XL, "xen (HVM) vCPU 0");
    assert!(inputs[0].state.segments[segstate::arch::SegReg::Ss].unusable);
    assert_noted(&inputs[0], "CPL = ss_arbytes' DPL");
    let named = ingest::source::InputName::Path("x.img".into());
    let streamed = ingest::source::read_all(XL, &named, None).unwrap();
    assert_eq!(streamed.len(), 2);
}

/// `xen-hvmctx DOMID`'s text (Xen 4.22 and 4.11 builds printing the same context, see
/// the fixtures' README) is detected from whole bytes and from a stream's first 8 KiB,
/// and every vCPU reads as the save image's does, judged with the same CPL.
#[test]
fn xen_hvmctx_text_is_detected_and_read_as_a_save_image_is() {
    const NEW: &[u8] = include_bytes!("fixtures/xen/xen-hvmctx-4.22.txt");
    const OLD: &[u8] = include_bytes!("fixtures/xen/xen-hvmctx-4.11.txt");
    for text in [NEW, OLD] {
        assert_eq!(ingest::detect(text), Ok(InputFormat::XenHvmctx));
        let inputs = check_inputs(text, "xen (HVM) vCPU 0");
        assert!(inputs.iter().all(|i| i.format == InputFormat::XenHvmctx));
        assert!(inputs[0].state.segments[segstate::arch::SegReg::Ss].unusable);
        assert_noted(&inputs[0], "CPL = ss_arbytes' DPL");
        assert_noted(&inputs[0], "xen-hvmctx output for domain 5");
    }
    // Longer than the 8 KiB a stream is detected from: four domains, one after another.
    let long: Vec<u8> = (5..9)
        .flat_map(|d| {
            String::from_utf8_lossy(NEW)
                .replace("domain 5", &format!("domain {d}"))
                .into_bytes()
        })
        .collect();
    assert!(long.len() > 8 << 10);
    let named = ingest::source::InputName::Stdin;
    let streamed = ingest::source::read_all(&long, &named, None).unwrap();
    assert_eq!(streamed.len(), 8);
    assert_eq!(streamed[7].label, "xen (HVM) vCPU d8v1");
    // A dump reader's text is not taken for it.
    assert_eq!(
        ingest::detect(b"RAX=0000000000000000 RBX=0000000000000000\n"),
        Ok(InputFormat::Dump)
    );
    // Named, a text without a CPU entry says so.
    let e = ingest::read(
        b"HVM save record for domain 1\n",
        Some(InputFormat::XenHvmctx),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("xen-hvmctx output") && e.contains("a CPU entry"),
        "{e}"
    );
}
