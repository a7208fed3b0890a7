//! QEMU 10.0.2's migration streams (tests/fixtures/qemu10, see its README): each
//! stream's CPUs against the `info registers` dump of the same stop, the capabilities
//! that change the RAM block list (x-ignore-shared, mapped-ram), the rules a stream's
//! CPU is judged by (the same as its dump's), and a nested SVM guest said to be one.

use std::collections::BTreeSet;
use std::io::Read;

use segstate::arch::{CpuMode, PrivilegeLevel, SegReg, SegmentState};
use segstate::check::report::Vendors;
use segstate::format::qemu::QemuFlags;
use segstate::ingest::qemu_migration::{MigrationSummary, READ_BUFFER_BYTES, walk};
use segstate::ingest::{self, Input, judge, qemu_dump};
use segstate::testing::Extents;

mod qemu_common;
use qemu_common::assert_cpus_match_dumps;

const TCG_USER: &[u8] = include_bytes!("fixtures/qemu10/tcg/user-cpl3.migstream");
const TCG_USER_TXT: &str = include_str!("fixtures/qemu10/tcg/user-cpl3.txt");
const RICH: &[u8] = include_bytes!("fixtures/qemu10/tcg-max/rich-cpl3.migstream");
const RICH_TXT: &str = include_str!("fixtures/qemu10/tcg-max/rich-cpl3.txt");
const SVM_L2: &[u8] = include_bytes!("fixtures/qemu10/tcg-max/svm-l2-null-ss-cpl3.migstream");
const SVM_L2_TXT: &str = include_str!("fixtures/qemu10/tcg-max/svm-l2-null-ss-cpl3.txt");
const KVM_USER: &[u8] = include_bytes!("fixtures/qemu10/kvm/user-cpl3.migstream");
const KVM_USER_TXT: &str = include_str!("fixtures/qemu10/kvm/user-cpl3.txt");
const IGNORE_SHARED: &[u8] =
    include_bytes!("fixtures/qemu10/extra/user-cpl3-ignore-shared.migstream");
/// The mapped-ram stream, kept as its data extents (23 MB, 200 KiB of data).
const MAPPED_RAM: &[u8] =
    include_bytes!("fixtures/qemu10/extra/user-cpl3-mapped-ram.migstream.extents");

/// The mapped-ram stream, read back whole, a buffer at a time.
fn mapped_ram() -> Extents<'static> {
    Extents::new(MAPPED_RAM).unwrap()
}

fn mode_of(s: &SegmentState) -> CpuMode {
    CpuMode::from_state(s.cr0, s.efer, s.rflags, s.segments[SegReg::Cs].attributes)
}

#[track_caller]
fn walked(name: &str, stream: impl Read) -> MigrationSummary {
    walk(stream).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every stream, with the dump QEMU printed for the same stop (for the -smp 2 streams
/// of extra/, the dump of CPU 0: byte for byte tcg/user-cpl3.txt), the CPL and mode
/// of CPU 0, and its SS selector.
fn fixtures() -> Vec<(
    &'static str,
    MigrationSummary,
    &'static str,
    u8,
    CpuMode,
    u32,
)> {
    let long = CpuMode::Long64;
    vec![
        (
            "tcg/user-cpl3",
            walked("tcg", TCG_USER),
            TCG_USER_TXT,
            3,
            long,
            0x33,
        ),
        (
            "tcg-max/rich-cpl3",
            walked("rich", RICH),
            RICH_TXT,
            3,
            long,
            0x33,
        ),
        (
            "tcg-max/svm-l2",
            walked("svm", SVM_L2),
            SVM_L2_TXT,
            3,
            long,
            0,
        ),
        (
            "kvm/user-cpl3",
            walked("kvm", KVM_USER),
            KVM_USER_TXT,
            3,
            long,
            0x33,
        ),
        (
            "extra/ignore-shared",
            walked("ignore-shared", IGNORE_SHARED),
            TCG_USER_TXT,
            3,
            long,
            0x33,
        ),
        (
            "extra/mapped-ram",
            walked("mapped-ram", mapped_ram()),
            TCG_USER_TXT,
            3,
            long,
            0x33,
        ),
    ]
}

#[test]
fn every_stream_matches_the_register_dump_of_the_same_stop() {
    for (name, s, txt, cpl, mode, ss) in fixtures() {
        assert!(s.has_description, "{name}");
        assert_eq!(s.machine.as_deref(), Some("pc-i440fx-10.0"), "{name}");
        let dumps = qemu_dump::parse(txt).unwrap();
        assert_cpus_match_dumps(name, &s.cpus, &dumps);
        let cpu0 = &s.cpus[0];
        let state = cpu0.segment_state();
        assert_eq!(state.cpl, PrivilegeLevel::from_low_bits(cpl), "{name}");
        assert_eq!(mode_of(&state), mode, "{name}");
        assert_eq!(cpu0.segments[SegReg::Cs].selector, 0x3b, "{name}");
        assert_eq!(cpu0.segments[SegReg::Ss].selector, ss, "{name}");
        assert_eq!(cpu0.segments[SegReg::Tr].selector, 0x40, "{name}");
    }
}

#[test]
fn the_smp2_streams_hold_the_second_cpu_in_its_reset_state() {
    for (name, s, ..) in fixtures().into_iter().filter(|f| f.0.starts_with("extra/")) {
        assert_eq!(s.cpus.len(), 2, "{name}");
        let cpu1 = &s.cpus[1];
        assert_eq!(mode_of(&cpu1.segment_state()), CpuMode::Real, "{name}");
        assert_eq!(
            (cpu1.segments[SegReg::Cs].selector, cpu1.rip),
            (0xf000, 0xfff0),
            "{name}"
        );
    }
}

/// The null SS at CPL 3 that TCG's VMRUN loads from the VMCB (attributes DPL 3, P 0),
/// and what the KVM stream keeps that TCG's does not.
#[test]
fn the_streams_keep_what_their_stops_set() {
    let svm = &walked("svm", SVM_L2).cpus[0];
    assert_eq!(svm.segments[SegReg::Ss].flags, QemuFlags(0x6000));
    assert!(svm.segment_state().segments[SegReg::Ss].unusable);
    assert_eq!(svm.efer, 0x1d01, "SCE LME LMA SVME");
    assert_eq!(svm.hflags & 1 << 21, 1 << 21, "HF_GUEST_MASK");
    assert_eq!(svm.vm_hsave, Some(0xa000));
    for sub in ["cpu/svn_npt", "cpu/svm_guest"] {
        assert!(svm.subsections.iter().any(|s| s == sub), "{sub}");
    }
    let rich = &walked("rich", RICH).cpus[0];
    for sub in ["cpu/fpop_ip_dp", "cpu/mpx", "cpu/pkru", "cpu/pkrs"] {
        assert!(rich.subsections.iter().any(|s| s == sub), "{sub}");
    }
    assert_eq!(rich.bndcfgs, 1, "stage 7 set IA32_BNDCFGS.EN");
    assert_eq!(rich.guest_state().bndcfgs, Some(1));
    assert_eq!(walked("tcg", TCG_USER).cpus[0].bndcfgs, 0, "no cpu/mpx");
}

#[test]
fn capabilities_change_the_block_list_and_nothing_else() {
    let plain = walked("tcg", TCG_USER);
    assert!(plain.capabilities.is_empty());
    let shared = walked("ignore-shared", IGNORE_SHARED);
    assert_eq!(shared.capabilities, ["x-ignore-shared"]);
    let mapped = walked("mapped-ram", mapped_ram());
    assert_eq!(mapped.capabilities, ["mapped-ram"]);
    for s in [&shared, &mapped] {
        assert_eq!(s.ram_total, plain.ram_total);
        assert_eq!(s.ram_total, 0x0105_2000, "-m 16 and the ROMs");
    }
    // The whole 23 MB stream is read, through one fixed buffer.
    assert_eq!(mapped.stream_len, mapped_ram().file_len());
    assert!(mapped.ram_bytes_skipped > mapped.ram_total);
    assert!(
        mapped.max_buffered < READ_BUFFER_BYTES + 64 * 1024,
        "{}",
        mapped.max_buffered
    );
}

#[test]
fn a_mapped_ram_stream_cut_inside_its_pages_names_the_block_and_the_offset() {
    // pc.ram's header is at 0x72, its bitmap at 0x8e, its pages at 0x100000.
    for cut in [0x80, 0x1000, 0x10_0000, 0x80_0000] {
        let e = walk(mapped_ram().take(cut)).unwrap_err();
        assert!(e.message.contains("ends at offset"), "{cut:#x}: {e}");
        if cut > 0x8e {
            assert_eq!(e.offset, 0x8e, "{e}");
            assert!(e.message.contains("RAM block \"pc.ram\""), "{e}");
            assert!(e.message.contains("file offset 0x1100000"), "{e}");
        }
    }
}

/// The ids of the non-path findings (the path family depends on the chains only, and
/// is the same for both by construction).
fn ids(r: &segstate::check::report::Report) -> BTreeSet<String> {
    r.entries
        .iter()
        .filter(|e| e.family != segstate::check::Family::Path)
        .map(|e| format!("{}", e.finding.id))
        .collect()
}

/// The report `segstate check` gives an input: a dump judged as a log, a stream's CPU
/// by its own report.
fn report(input: &Input) -> segstate::check::report::Report {
    judge::judge_input(input, None).map_or_else(|| input.report(Vendors::Both), |j| j.report)
}

#[test]
fn a_streams_cpu_is_judged_by_the_rules_its_dump_is() {
    for (name, s, txt, ..) in fixtures() {
        let dump = ingest::read(txt.as_bytes(), None).unwrap();
        let stream = if name.ends_with("mapped-ram") {
            ingest::read_migration(mapped_ram()).unwrap()
        } else {
            let bytes = match name {
                "tcg/user-cpl3" => TCG_USER,
                "tcg-max/rich-cpl3" => RICH,
                "tcg-max/svm-l2" => SVM_L2,
                "kvm/user-cpl3" => KVM_USER,
                _ => IGNORE_SHARED,
            };
            ingest::read_migration(bytes).unwrap()
        };
        assert_eq!(stream.len(), s.cpus.len(), "{name}");
        let (from_dump, from_stream) = (report(&dump[0]), report(&stream[0]));
        assert_eq!(ids(&from_stream), ids(&from_dump), "{name}");
        assert_eq!(from_stream.errors(), from_dump.errors(), "{name}");
        let lacks = from_stream
            .notes
            .iter()
            .find(|n| n.contains("beyond the segments are not judged"))
            .unwrap_or_else(|| panic!("{name}: {:?}", from_stream.notes));
        assert!(lacks.contains("the stream lacks DEBUGCTL"), "{lacks}");
        assert!(!lacks.contains("PAT"), "the stream has it: {lacks}");
    }
}

#[test]
fn the_nested_svm_guests_stream_fails_efer_as_its_dump_does_and_says_it_is_nested() {
    let inputs = ingest::read_migration(SVM_L2).unwrap();
    let r = inputs[0].report(Vendors::Both);
    assert!(
        r.has(segstate::check::CheckId::VmxEntryEferReserved),
        "{:?}",
        r.ids()
    );
    let nested = inputs[0]
        .notes
        .iter()
        .find(|n| n.contains("nested (L2) guest"))
        .expect("a note on the nested guest");
    assert!(nested.contains("VM_HSAVE_PA 0xa000"), "{nested}");
    assert!(
        nested.contains("QEMU itself refuses to load this stream"),
        "{nested}"
    );
    assert!(nested.contains("target/i386/machine.c"), "{nested}");
    for plain in ingest::read_migration(TCG_USER).unwrap() {
        assert!(!plain.notes.iter().any(|n| n.contains("nested")));
    }
}
