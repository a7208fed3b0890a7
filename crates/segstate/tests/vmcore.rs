//! The QEMU guest memory dump reader against dumps QEMU 10.0.2 wrote of the fixture
//! guest (tests/fixtures/vmcore, see its README): ELF (EM_386 and EM_X86_64, one and two
//! vCPUs) and kdump-compressed (flattened and raw). Every vCPU's registers are held
//! against the `info registers` text QEMU printed of the same stopped VM; then cut,
//! damaged and foreign files are refused with the place named.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use segstate::arch::{EFER_LMA, SegReg};
use segstate::ingest::foreign::{IngestError, Place, Reason};
use segstate::ingest::qemu_vmcore::{self, Container, EM_386, EM_X86_64, Vmcore};
use segstate::ingest::{self, Input, InputFormat};

const PM32: &[u8] = include_bytes!("fixtures/vmcore/tcg-pm32.elf");
const SYSRET: &[u8] = include_bytes!("fixtures/vmcore/tcg-sysret-null-ss.elf");
const COMPAT: &[u8] = include_bytes!("fixtures/vmcore/tcg-compat.elf");
const SMP2: &[u8] = include_bytes!("fixtures/vmcore/kvm-user-smp2.elf");
const FLAT: &[u8] = include_bytes!("fixtures/vmcore/kvm-user.kdump-zlib");
const RAW: &[u8] = include_bytes!("fixtures/vmcore/kvm-user.kdump-raw-zlib");

/// Every fixture with the `info registers -a` text of its run.
const ALL: [(&str, &[u8], &str); 6] = [
    (
        "tcg-pm32.elf",
        PM32,
        include_str!("fixtures/vmcore/tcg-pm32.elf.txt"),
    ),
    (
        "tcg-sysret-null-ss.elf",
        SYSRET,
        include_str!("fixtures/vmcore/tcg-sysret-null-ss.elf.txt"),
    ),
    (
        "tcg-compat.elf",
        COMPAT,
        include_str!("fixtures/vmcore/tcg-compat.elf.txt"),
    ),
    (
        "kvm-user-smp2.elf",
        SMP2,
        include_str!("fixtures/vmcore/kvm-user-smp2.elf.txt"),
    ),
    (
        "kvm-user.kdump-zlib",
        FLAT,
        include_str!("fixtures/vmcore/kvm-user.kdump-zlib.txt"),
    ),
    (
        "kvm-user.kdump-raw-zlib",
        RAW,
        include_str!("fixtures/vmcore/kvm-user.kdump-raw-zlib.txt"),
    ),
];

fn ok(bytes: &[u8]) -> Vmcore {
    qemu_vmcore::read(bytes, "dump").unwrap_or_else(|e| panic!("{e}"))
}

fn err(bytes: &[u8]) -> IngestError {
    match qemu_vmcore::read(bytes, "dump") {
        Ok(v) => panic!("read {} vCPUs from a bad dump", v.cpus.len()),
        Err(e) => e,
    }
}

fn offset(e: &IngestError) -> usize {
    match e.place {
        Place::Offset(o) => o,
        ref p => panic!("{e}: place {p:?}, not an offset"),
    }
}

/// The notes' offset and size in an ELF64 fixture (its one PT_NOTE).
fn elf_notes(bytes: &[u8]) -> (usize, usize) {
    let le64 = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let phoff = le64(32);
    (le64(phoff + 8), le64(phoff + 32))
}

#[test]
fn every_fixture_is_detected_and_every_vcpu_matches_what_qemu_printed() {
    for (name, bytes, text) in ALL {
        assert_eq!(
            ingest::detect_magic(bytes),
            Some(InputFormat::Vmcore),
            "{name}"
        );
        let printed: Vec<Input> = ingest::read(text.as_bytes(), Some(InputFormat::Dump))
            .unwrap_or_else(|e| panic!("{name}.txt: {e}"));
        let dump = ok(bytes);
        let read = ingest::read(bytes, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(read.len(), printed.len(), "{name}: one state a CPU");
        assert_eq!(dump.cpus.len(), printed.len(), "{name}");
        assert_eq!(
            dump.prstatus,
            printed.len(),
            "{name}: one NT_PRSTATUS a CPU"
        );
        for ((cpu, got), want) in dump.cpus.iter().zip(&read).zip(&printed) {
            let (g, w) = (&got.state, &want.state);
            assert_eq!(got.format, InputFormat::Vmcore);
            assert_eq!(g.segments, w.segments, "{name} CPU {}: segments", cpu.index);
            assert_eq!(
                g.cpl, w.cpl,
                "{name} CPU {}: CPL (SS.DPL against CPL=)",
                cpu.index
            );
            assert_eq!((g.cr0, g.cr4, g.rflags), (w.cr0, w.cr4, w.rflags), "{name}");
            // EFER is inferred: its LMA bit must be what QEMU printed.
            assert_eq!(
                g.efer & EFER_LMA,
                w.efer & EFER_LMA,
                "{name} CPU {}",
                cpu.index
            );
            let guest = want.log.as_ref().map(|l| &l.guest).or(want.guest.as_ref());
            if let Some(gs) = guest {
                assert_eq!(Some(cpu.rip), gs.rip, "{name} CPU {}: RIP", cpu.index);
                assert_eq!(Some(cpu.cr[3]), gs.cr3, "{name} CPU {}: CR3", cpu.index);
            }
            // QEMU 10 writes kernel_gs_base (440 bytes).
            assert_eq!(cpu.size, 440, "{name}");
            assert!(cpu.kernel_gs_base.is_some(), "{name}");
            assert!(
                got.notes.iter().any(|n| n.starts_with("EFER is not in")),
                "{name}"
            );
        }
        // Only the headers and notes are read, never guest RAM.
        assert!(
            dump.bytes_read < 6000,
            "{name}: read {} bytes",
            dump.bytes_read
        );
    }
}

#[test]
fn containers_and_long_mode_are_named_as_qemu_wrote_them() {
    let pm32 = ok(PM32);
    // The PC's BIOS ROM ends at 4 GiB: ELF64 even for a 32-bit guest.
    assert_eq!(
        pm32.container,
        Container::Elf {
            class64: true,
            machine: EM_386
        }
    );
    assert_eq!(pm32.first_lma, Some(false));
    let compat = ok(COMPAT);
    assert_eq!(
        compat.container,
        Container::Elf {
            class64: true,
            machine: EM_X86_64
        }
    );
    assert_eq!(compat.first_lma, Some(true));
    // Compatibility mode: CS.L = 0, so LMA comes from the first vCPU's dump layout.
    let efer = compat.cpus[0].efer(compat.first_lma);
    assert_eq!(efer.value & EFER_LMA, EFER_LMA);
    assert!(efer.how.contains("first vCPU in long mode"), "{}", efer.how);
    let flat = ok(FLAT);
    assert_eq!(
        flat.container,
        Container::Kdump {
            flattened: true,
            header64: true,
            compression: "zlib"
        }
    );
    assert_eq!(
        ok(RAW).container,
        Container::Kdump {
            flattened: false,
            header64: true,
            compression: "zlib"
        }
    );
    // Two runs of the same parked guest: the same vCPU in either kdump layout.
    assert_eq!(flat.cpus[0].segments, ok(RAW).cpus[0].segments);
}

#[test]
fn the_sysret_state_keeps_its_32_bit_selectors_and_cpl_3() {
    let cpu = &ok(SYSRET).cpus[0];
    // SYSRET with STAR[63:48] = 0xfff8: QEMU keeps the selector's carry in bit 16.
    assert_eq!(cpu.segments[SegReg::Ss].selector, 0x1_0003);
    assert_eq!(cpu.segments[SegReg::Cs].selector, 0x1_000b);
    assert_eq!(cpu.cpl(), 3);
    let input = &ingest::read(SYSRET, None).unwrap()[0];
    assert_eq!(input.state.segments[SegReg::Ss].selector.0, 0x0003);
}

#[test]
fn the_second_vcpu_of_the_smp_dump_is_in_its_reset_state() {
    let dump = ok(SMP2);
    let ap = &dump.cpus[1];
    assert_eq!(ap.index, 1);
    assert_eq!(ap.segments[SegReg::Cs].base, 0xffff_0000);
    assert_eq!(ap.rip, 0xfff0);
    // Real mode: no LMA, whatever the first vCPU's.
    assert_eq!(ap.efer(dump.first_lma).value, 0);
}

#[test]
fn a_dump_cut_anywhere_before_its_notes_end_is_refused_and_after_them_read() {
    let (at, size) = elf_notes(SMP2);
    for cut in (0..at + size).step_by(7) {
        let e = err(&SMP2[..cut]);
        assert!(
            matches!(e.reason, Reason::Truncated { .. }),
            "cut at {cut}: {e}"
        );
    }
    // Guest RAM is never needed.
    assert_eq!(ok(&SMP2[..at + size]).cpus.len(), 2);
    // The raw layout's notes end at 4200 + 816; in the flattened file, after the 4096
    // bytes of its header and three records (16-byte headers) of 464, 104 and 816 bytes.
    let (raw_end, flat_end) = (4200 + 816, 4096 + 16 * 3 + 464 + 104 + 816);
    for cut in (0..raw_end).step_by(97) {
        assert!(
            qemu_vmcore::read(&RAW[..cut], "dump").is_err(),
            "raw cut at {cut}"
        );
    }
    for cut in (0..flat_end).step_by(97) {
        assert!(
            qemu_vmcore::read(&FLAT[..cut], "dump").is_err(),
            "flattened cut at {cut}"
        );
    }
    assert_eq!(ok(&RAW[..raw_end]).cpus.len(), 1);
    assert_eq!(ok(&FLAT[..flat_end]).cpus.len(), 1);
}

#[test]
fn damaged_and_foreign_files_are_refused_with_the_place_named() {
    let patched = |at: usize, with: &[u8]| {
        let mut b = SMP2.to_vec();
        b[at..at + with.len()].copy_from_slice(with);
        b
    };
    let e = err(&patched(16, &2u16.to_le_bytes()));
    assert!(e.to_string().contains("not a core file"), "{e}");
    assert_eq!(offset(&e), 16);
    assert!(!qemu_vmcore::recognise(&patched(18, &183u16.to_le_bytes())));
    let e = err(&patched(18, &183u16.to_le_bytes()));
    assert!(e.to_string().contains("not x86"), "{e}");
    let e = err(&patched(5, &[2]));
    assert!(e.to_string().contains("little-endian"), "{e}");
    // The first "QEMU" note, renamed: an ELF core without QEMU's CPU notes for it.
    let (at, size) = elf_notes(SMP2);
    let notes = &SMP2[at..at + size];
    let qemu = notes.windows(5).position(|w| w == b"QEMU\0").unwrap();
    let mut renamed = SMP2.to_vec();
    for i in 0..size - 4 {
        if renamed[at + i..at + i + 5] == *b"QEMU\0" {
            renamed[at + i + 3] = b'X';
        }
    }
    let e = err(&renamed);
    assert!(matches!(e.reason, Reason::Missing(_)), "{e}");
    assert!(e.to_string().contains("/proc/vmcore"), "{e}");
    // QEMUCPUState version 2.
    let version_at = at + qemu + 8;
    let e = err(&patched(version_at, &2u32.to_le_bytes()));
    assert!(
        e.to_string().contains("QEMUCPUState version 2 (vCPU 0)"),
        "{e}"
    );
    assert_eq!(offset(&e), version_at);
    // A size field below the version-1 layout.
    let e = err(&patched(version_at + 4, &100u32.to_le_bytes()));
    assert!(e.to_string().contains("says it is 100 bytes"), "{e}");
    // A note whose descriptor runs past the notes.
    let e = err(&patched(at + 4, &0x10_0000u32.to_le_bytes()));
    assert!(e.to_string().contains("runs past"), "{e}");
    assert_eq!(offset(&e), at);
    // Notes declared larger than the reader takes: refused before any allocation.
    let le = |v: u64| v.to_le_bytes();
    let phoff = 64 + 2 * 64;
    let e = err(&patched(phoff + 32, &le(1 << 40)));
    assert!(matches!(e.reason, Reason::TooLarge { .. }), "{e}");
    // A flattened header of another type; a record of negative size.
    let mut flat = FLAT.to_vec();
    flat[16..24].copy_from_slice(&2i64.to_be_bytes());
    assert!(err(&flat).to_string().contains("type 2"));
    let mut flat = FLAT.to_vec();
    flat[4096 + 8..4096 + 16].copy_from_slice(&(-5i64).to_be_bytes());
    assert!(err(&flat).to_string().contains("non-negative"));
    // Not a dump at all.
    let e = err(b"hello, this is not a dump at all");
    assert!(matches!(e.reason, Reason::BadMagic { .. }), "{e}");
}

#[test]
fn check_reads_a_dump_as_a_stream_and_judges_every_vcpu() {
    let name = ingest::source::InputName::of(None);
    let mut inputs = Vec::new();
    let mut reader: &[u8] = FLAT;
    ingest::source::read_each(&mut reader, &name, None, &mut |i| inputs.push(i))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inputs.len(), 1);
    assert!(inputs[0].label.contains("CPU 0"), "{}", inputs[0].label);
    let r = inputs[0].report(segstate::check::report::Vendors::Both);
    assert_eq!(r.errors(), 0, "the parked user loop is a valid state");
}

/// ELFCLASS32 and the 32-bit kdump header: QEMU writes them when the first vCPU is not in
/// long mode and no guest RAM block ends above 4 GiB, which on x86 its BIOS ROM always
/// does; so these carry the real notes of `tcg-pm32.elf` in headers built here as
/// `write_elf32_header`/`write_elf32_note` and `create_header32` would write them.
#[test]
fn elf32_and_the_32_bit_kdump_header_carry_the_same_notes() {
    let (at, size) = elf_notes(PM32);
    let notes = &PM32[at..at + size];
    // The same vCPUs, each note's offset moved by as much as the notes were.
    let moved = |cpus: Vec<qemu_vmcore::VmcoreCpu>, from: usize| -> Vec<_> {
        cpus.into_iter()
            .map(|mut c| {
                c.offset -= from as u64;
                c
            })
            .collect()
    };
    let want = moved(ok(PM32).cpus, at);
    // Elf32_Ehdr (52 bytes), one Elf32_Phdr (32) of type PT_NOTE, then the notes.
    let mut elf = vec![0u8; 52 + 32];
    elf[..8].copy_from_slice(b"\x7fELF\x01\x01\x01\0");
    elf[16..18].copy_from_slice(&4u16.to_le_bytes());
    elf[18..20].copy_from_slice(&EM_386.to_le_bytes());
    elf[28..32].copy_from_slice(&52u32.to_le_bytes());
    elf[42..44].copy_from_slice(&32u16.to_le_bytes());
    elf[44..46].copy_from_slice(&1u16.to_le_bytes());
    elf[52..56].copy_from_slice(&4u32.to_le_bytes());
    elf[56..60].copy_from_slice(&84u32.to_le_bytes());
    elf[68..72].copy_from_slice(&(size as u32).to_le_bytes());
    elf.extend_from_slice(notes);
    let got = ok(&elf);
    assert_eq!(
        got.container,
        Container::Elf {
            class64: false,
            machine: EM_386
        }
    );
    assert_eq!(moved(got.cpus, 84), want);
    // DiskDumpHeader32 (452 bytes: a 10-byte timestamp), KdumpSubHeader32 one block
    // later, the notes after it.
    let block = 4096usize;
    let mut kdump = vec![0u8; 2 * block];
    kdump[..8].copy_from_slice(b"KDUMP   ");
    kdump[8..12].copy_from_slice(&6u32.to_le_bytes());
    kdump[412..416].copy_from_slice(&1u32.to_le_bytes());
    kdump[416..420].copy_from_slice(&(block as u32).to_le_bytes());
    let sub = block;
    kdump[sub + 32..sub + 40].copy_from_slice(&((2 * block) as u64).to_le_bytes());
    kdump[sub + 40..sub + 44].copy_from_slice(&(size as u32).to_le_bytes());
    kdump.extend_from_slice(notes);
    let got = ok(&kdump);
    assert_eq!(
        got.container,
        Container::Kdump {
            flattened: false,
            header64: false,
            compression: "zlib"
        }
    );
    assert_eq!(moved(got.cpus, 2 * block), want);
    // A header version before the notes (4).
    kdump[8..12].copy_from_slice(&3u32.to_le_bytes());
    assert!(err(&kdump).to_string().contains("header version 3"));
}
