//! The HyperFuzzer VM-state reader against the seeds its repository's scripts write
//! (tests/fixtures/hyperfuzzer, README.md there): mode, CPL, the instruction at CS:RIP
//! through each paging mode the seeds use, the guest state beyond the segments, and
//! the refusals and notes on states that are cut, mutated or point nowhere.
#![cfg(feature = "std")]

use segstate::arch::{CpuMode, PrivilegeLevel, SegReg, Selector};
use segstate::check::report::Vendors;
use segstate::format::hyperfuzzer::RegFile;
use segstate::ingest::source::{InputName, read_all};
use segstate::ingest::{self, Input, InputFormat};

fn seed(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/hyperfuzzer/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn one(bytes: &[u8]) -> Input {
    let inputs =
        ingest::read(bytes, Some(InputFormat::HyperFuzzer)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inputs.len(), 1);
    inputs.into_iter().next().unwrap()
}

fn note<'a>(input: &'a Input, starts: &str) -> &'a str {
    input
        .notes
        .iter()
        .find(|n| n.starts_with(starts))
        .unwrap_or_else(|| panic!("no note starting {starts:?}: {:#?}", input.notes))
}

/// Every seed: the mode, the CPL from SS.DPL, CS's selector, and the instruction the
/// seed's script put at CS:RIP, found through the paging mode the seed sets up.
#[test]
fn every_seed_reads_to_its_mode_cpl_and_first_instruction() {
    #[rustfmt::skip]
    let seeds = [
        ("realmode", CpuMode::Real, PrivilegeLevel::Ring0, 0x00, "no paging", "popf (9d, 16-bit)"),
        ("rdmsr", CpuMode::Protected32, PrivilegeLevel::Ring0, 0x08, "no paging", "rdmsr (0f 32, 32-bit)"),
        ("syscall", CpuMode::Long64, PrivilegeLevel::Ring3, 0x13, "4-level paging", "syscall (0f 05, 64-bit)"),
        ("sysenter", CpuMode::Compatibility, PrivilegeLevel::Ring3, 0x13, "4-level paging", "sysenter (0f 34, 16-bit)"),
        ("callgate", CpuMode::Compatibility, PrivilegeLevel::Ring3, 0x13, "4-level paging", "call far ptr 0x38:0"),
        ("popss", CpuMode::Compatibility, PrivilegeLevel::Ring3, 0x13, "4-level paging", "pop ss (17, 32-bit)"),
        ("taskswitch_jmp", CpuMode::Protected32, PrivilegeLevel::Ring0, 0x08, "no paging", "jmp far ptr 0x10:0"),
        ("taskswitch_iret_s", CpuMode::Protected32, PrivilegeLevel::Ring0, 0x08, "no paging", "iretd (cf, 32-bit)"),
        ("vmxon", CpuMode::Protected32, PrivilegeLevel::Ring0, 0x08, "32-bit paging", "vmxon qword ptr ds:[0x2098]"),
    ];
    for (name, mode, cpl, cs, paging, instruction) in seeds {
        let input = one(&seed(name));
        assert_eq!(input.format, InputFormat::HyperFuzzer);
        assert_eq!(input.label, "HyperFuzzer VM state");
        assert_eq!(input.state.cpl, cpl, "{name}");
        assert_eq!(
            input.state.segments[SegReg::Cs].selector,
            Selector(cs),
            "{name}"
        );
        let report = input.report(Vendors::Both);
        assert_eq!(report.mode, mode, "{name}");
        let at_rip = input
            .instruction_in_memory
            .as_ref()
            .expect("CS:RIP is mapped");
        assert_eq!(at_rip.paging.to_string(), paging, "{name}");
        assert_eq!(
            at_rip.linear,
            input.guest.as_ref().and_then(|g| g.rip).unwrap(),
            "{name}: flat CS"
        );
        assert_eq!(at_rip.physical, at_rip.linear, "{name}: identity-mapped");
        if cfg!(feature = "disasm") {
            let shown = at_rip.instruction.to_string();
            assert!(shown.contains(instruction), "{name}: {shown}");
        }
        // The seeds are states a CPU enters: nothing the checker calls an error.
        assert_eq!(report.errors(), 0, "{name}: {report:#?}");
    }
}

/// What the state holds beyond the segments reaches the guest-state rules; LDTR, which
/// REG_FILE lacks, is unknown there and an unusable null in the segment state.
#[test]
fn the_guest_state_has_what_reg_file_holds_and_no_ldtr() {
    let bytes = seed("sysenter");
    let regs = RegFile::from_bytes(&bytes[..RegFile::SIZE]).unwrap();
    let input = one(&bytes);
    let guest = input.guest.as_ref().expect("a whole state");
    assert_eq!(guest.segments[SegReg::Ldtr], None);
    assert!(input.state.segments[SegReg::Ldtr].unusable);
    assert_eq!(guest.rip, Some(0x20a0));
    assert_eq!(guest.cr3, Some(regs.cr3));
    assert_eq!(guest.sysenter_eip, Some(regs.sysenter_eip));
    assert_eq!(guest.gdtr.map(|t| (t.base, t.limit)), Some((0x2068, 0x37)));
    assert_eq!(input.state.efer, 0xd01);
    assert!(note(&input, "REG_FILE has no LDTR").contains("nothing about LDTR is judged"));
    // FS and GS of a protected-mode seed are all zero: P = 0, so unusable.
    let jmp = one(&seed("taskswitch_jmp"));
    assert!(jmp.state.segments[SegReg::Fs].unusable && jmp.state.segments[SegReg::Gs].unusable);
    assert!(!jmp.state.segments[SegReg::Ds].unusable);
}

/// A mutated seed is judged like any state: SS.DPL lowered to 0 under a DPL-3 CS makes
/// the CPL 0 and the CS rules fail.
#[test]
fn a_mutated_seed_is_judged() {
    let mut bytes = seed("syscall");
    let ss_attributes = 172 + 14;
    bytes[ss_attributes] &= !0x60;
    let input = one(&bytes);
    assert_eq!(input.state.cpl, PrivilegeLevel::Ring0);
    let report = input.report(Vendors::Both);
    let ids: Vec<String> = report
        .entries
        .iter()
        .map(|e| e.finding.id.to_string())
        .collect();
    assert!(ids.iter().any(|i| i == "arch.cs.dpl-cpl"), "{ids:?}");
    assert!(report.errors() > 0);
}

/// Reserved attribute bits are named with their offset and ignored; a RIP past the
/// memory, or a file that ends inside REG_FILE, is said for what it is.
#[test]
fn reserved_bits_unreadable_code_and_cut_files_are_named() {
    let mut bytes = seed("syscall");
    bytes[140 + 15] |= 0x0f;
    let input = one(&bytes);
    let reserved = note(&input, "offset 154 (Es.Attributes)");
    assert!(
        reserved.contains("reserved bits 11:8 set (0xf00)"),
        "{reserved}"
    );
    assert!(!input.state.segments[SegReg::Es].unusable);

    let mut far = seed("syscall");
    far[128..136].copy_from_slice(&0x7fff_0000u64.to_le_bytes());
    let input = one(&far);
    assert_eq!(input.instruction_in_memory, None);
    let unread = note(&input, "the instruction at CS:RIP");
    assert!(
        unread.contains(
            "cannot be read: physical 0x7fff0000 is past the end of the 8386-byte memory"
        ),
        "{unread}"
    );

    let e = ingest::read(&seed("rdmsr")[..300], Some(InputFormat::HyperFuzzer)).unwrap_err();
    assert!(
        e.0.contains("offset 300: the input ends inside the 396-byte REG_FILE"),
        "{e}"
    );
}

/// Without a magic number a seed is never guessed: undetected, the error names the
/// format that reads it; named, it is read from a file of any size under the limit.
#[test]
fn a_seed_is_read_when_named_and_the_refusal_says_how() {
    for name in ["rdmsr", "syscall"] {
        let bytes = seed(name);
        let e = read_all(&bytes, &InputName::Stdin, None).unwrap_err();
        assert!(e.message.contains("`--format hyperfuzzer`"), "{name}: {e}");
        let read = read_all(&bytes, &InputName::Stdin, Some(InputFormat::HyperFuzzer)).unwrap();
        assert_eq!(read.len(), 1);
    }
    assert_eq!("hyperfuzzer".parse(), Ok(InputFormat::HyperFuzzer));
}
