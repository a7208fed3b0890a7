//! The wtf `regs.json` reader against real files (tests/fixtures/wtf): bdump.js's
//! pre-fix attribute encoding (wtf's HEVD target state), wtf's 2022 linux_mode QEMU
//! flags, and two users' pastes cut by the issue index; the encoding notes, the
//! refusals and where they point.
#![cfg(feature = "serde")]
#![cfg(feature = "std")]

use segstate::arch::{Attributes, CpuMode, PrivilegeLevel, SegReg, SegmentType, Selector};
use segstate::check::report::Vendors;
use segstate::ingest::source::{InputName, read_all};
use segstate::ingest::{self, Input, InputFormat, wtf};

const HEVD: &str = include_str!("fixtures/wtf/hevd-regs.json");
const LINUX: &str = include_str!("fixtures/wtf/linuxmode-stackoverflow-regs.json");
const ISSUE_34: &str = include_str!("fixtures/wtf/issue-34.txt");
const ISSUE_217: &str = include_str!("fixtures/wtf/issue-217.txt");

fn one(text: &str) -> Input {
    let inputs = ingest::read(text.as_bytes(), None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inputs.len(), 1);
    let input = inputs.into_iter().next().unwrap();
    assert_eq!(input.format, InputFormat::Wtf);
    input
}

fn refused(text: &str) -> String {
    match ingest::read(text.as_bytes(), None) {
        Ok(i) => panic!("expected a refusal, read {} states", i.len()),
        Err(e) => e.0,
    }
}

fn has_note(input: &Input, words: &[&str]) {
    assert!(
        input
            .notes
            .iter()
            .any(|n| words.iter().all(|w| n.contains(w))),
        "no note with {words:?}: {:#?}",
        input.notes
    );
}

fn mode(input: &Input) -> CpuMode {
    input.report(Vendors::Both).mode
}

#[test]
fn both_real_files_are_detected_as_wtf() {
    for text in [HEVD, LINUX] {
        assert_eq!(ingest::detect(text.as_bytes()), Ok(InputFormat::Wtf));
        assert!(wtf::recognise(text));
    }
    // segstate's own JSON kvm_sregs stays JSON.
    let sregs = r#"{"cs": {"base": 0, "limit": 0, "selector": 51, "type": 11}}"#;
    assert_eq!(ingest::detect(sregs.as_bytes()), Ok(InputFormat::Json));
    assert_eq!("wtf".parse(), Ok(InputFormat::Wtf));
    // Forced as segstate's JSON, the refusal names the format that reads it.
    let e = ingest::read(HEVD.as_bytes(), Some(InputFormat::Json)).unwrap_err();
    assert!(
        e.0.contains("this is wtf's regs.json: `--format wtf` reads it"),
        "{e}"
    );
    let e = ingest::read(sregs.as_bytes(), Some(InputFormat::Json)).unwrap_err();
    assert!(!e.0.contains("wtf"), "{e}");
}

#[test]
fn hevd_old_bdump_encoding_reads_as_windows_user_mode() {
    let input = one(HEVD);
    let s = &input.state;
    assert_eq!(s.cpl, PrivilegeLevel::Ring3);
    assert_eq!(mode(&input), CpuMode::Long64);
    let cs = s.segments[SegReg::Cs];
    assert_eq!(cs.selector, Selector(0x33));
    assert_eq!(cs.attributes, {
        let mut a = Attributes::code64(PrivilegeLevel::Ring3);
        a.g = false; // Windows' KGDT64_R3_CODE: limit 0, byte granular
        a
    });
    for reg in [SegReg::Ss, SegReg::Ds, SegReg::Es, SegReg::Gs] {
        let seg = s.segments[reg];
        assert_eq!(
            seg.attributes,
            Attributes::flat_data(PrivilegeLevel::Ring3),
            "{reg:?}"
        );
        assert!(!seg.unusable, "{reg:?}");
    }
    // 0x4f3: D/B, DPL 3 data, byte granular (Windows' TEB segment).
    let fs = s.segments[SegReg::Fs];
    assert_eq!(
        (fs.selector, fs.limit, fs.attributes.g, fs.attributes.db),
        (Selector(0x53), 0x3c00, false, true)
    );
    assert_eq!(s.segments[SegReg::Tr].attributes, Attributes::busy_tss());
    let ldtr = s.segments[SegReg::Ldtr];
    assert!(ldtr.unusable && !ldtr.attributes.present);
    assert_eq!(
        (s.cr0, s.cr4, s.efer, s.rflags),
        (0x8005_0033, 0x3506f8, 0xd01, 0x206)
    );
    let g = input.guest.as_ref().expect("a whole state");
    assert_eq!(g.cr3, Some(0x1_01ba_2000));
    assert_eq!(g.rip, Some(0x7ff6_f5bb_111e));
    assert_eq!(g.gdtr.map(|t| t.limit), Some(0x57));
    assert_eq!(
        g.idtr.map(|t| (t.base, t.limit)),
        Some((0xffff_f804_7375_b000, 0xfff))
    );
    assert_eq!(
        (g.dr6, g.dr7, g.pat),
        (Some(0xffff_4ff0), Some(0x400), Some(0x7_0106_0007_0106))
    );
    has_note(
        &input,
        &[
            "es.attr 0xcf3 is bdump's pre-fix 12-bit encoding",
            "wtf#28",
            "54c7532",
            "VMCB attribute layout",
        ],
    );
    has_note(
        &input,
        &[
            "cs.attr 0x22fb",
            "0x2000",
            "__fixup_regs",
            "CS.L is the word's bit 9 (1)",
        ],
    );
    has_note(&input, &["CPL 3 from SS.DPL", "CS.RPL (3), which agrees"]);
    assert_eq!(input.report(Vendors::Both).errors(), 0);
}

#[test]
fn linux_mode_qemu_flags_read_as_linux_user_mode() {
    let input = one(LINUX);
    let s = &input.state;
    assert_eq!(s.cpl, PrivilegeLevel::Ring3);
    assert_eq!(mode(&input), CpuMode::Long64);
    assert_eq!(
        s.segments[SegReg::Cs].attributes,
        Attributes::code64(PrivilegeLevel::Ring3)
    );
    assert_eq!(
        s.segments[SegReg::Ss].attributes,
        Attributes::flat_data(PrivilegeLevel::Ring3)
    );
    assert_eq!(s.segments[SegReg::Ss].selector, Selector(0x2b));
    // Null data selectors: "present": true, attr 0; read as unusable and named.
    for reg in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        assert!(s.segments[reg].unusable, "{reg:?}");
    }
    assert_eq!(s.segments[SegReg::Fs].base, 0x7fff_f7da_c740);
    assert_eq!(s.segments[SegReg::Ldtr].attributes, Attributes::ldt());
    // 0x8900: QEMU TCG's ltr leaves the TSS available; wtf's later gdb_qemu.py ORs 0xb.
    let tr = s.segments[SegReg::Tr].attributes;
    assert_eq!(tr.segment_type, SegmentType::from_low_bits(9));
    has_note(
        &input,
        &[
            "QEMU's SegmentCache.flags",
            "cs.attr 0xaffb00 is wider than 16 bits",
            "2c031b8",
        ],
    );
    has_note(&input, &["cs.attr 0xaffb00, ss.attr 0xcff300", "19:16"]);
    has_note(
        &input,
        &["es, ds, fs, gs: \"present\": true but attr's P bit is clear"],
    );
    has_note(&input, &["CPL 3 from SS.DPL"]);
    let r = input.report(Vendors::Intel);
    assert!(
        r.entries
            .iter()
            .any(|e| e.finding.id.to_string() == "vmx.entry.tr.type"),
        "{r:?}"
    );
}

#[test]
fn the_fixed_bdump_encoding_reads_as_seg_t_and_a_disagreeing_rpl_is_named() {
    // wtf-217's segments (bdump after 54c7532) in the HEVD file.
    let fixed = HEVD
        .replace("\"0xcf3\"", "\"0xcff3\"")
        .replace("\"0x22fb\"", "\"0x20fb\"")
        .replace("\"0x4f3\"", "\"0x40f3\"");
    let input = one(&fixed);
    assert_eq!(input.state.segments, one(HEVD).state.segments);
    has_note(&input, &["wtf's Seg_t word", "bits 11:8 match every limit"]);
    assert!(!input.notes.iter().any(|n| n.contains("pre-fix 12-bit")));
    // CS.RPL 0 with SS.DPL 3: KVM's CPL is judged, Bochs's named.
    let rpl0 = fixed.replace("\"0x33\"", "\"0x30\"");
    has_note(
        &one(&rpl0),
        &[
            "CPL 3 from SS.DPL",
            "disagrees: under bochscpu the guest runs at CPL 0",
        ],
    );
}

#[test]
fn attrs_both_bdump_encodings_fit_are_read_as_seg_t_and_the_choice_is_named() {
    // Bits 11:8 equal every limit's 19:16 and bits 15:12 are clear (but CS's 0x2000):
    // 0xff3 is G=0, D=0 to wtf's Seg_t, G, D, L, AVL all 1 to the pre-fix dg flags.
    let both = HEVD
        .replace("\"0xcf3\"", "\"0xff3\"")
        .replace("\"0x22fb\"", "\"0x20fb\"")
        .replace("\"0x4f3\"", "\"0xf3\"");
    let input = one(&both);
    has_note(
        &input,
        &["attr fits both bdump encodings", "read as wtf's Seg_t word"],
    );
    let ss = input.state.segments[SegReg::Ss].attributes;
    assert!(!ss.g && !ss.db && !ss.l && !ss.avl, "{ss:?}");
    // Attributes that read the same either way need no such note.
    let same = HEVD
        .replace("\"0xcf3\"", "\"0xf3\"")
        .replace("\"0xffffffff\"", "\"0xffff\"")
        .replace("\"0x22fb\"", "\"0xfb\"")
        .replace("\"0x4f3\"", "\"0xf3\"");
    let input = one(&same);
    assert!(
        !input.notes.iter().any(|n| n.contains("fits both")),
        "{:#?}",
        input.notes
    );
}

#[test]
fn cut_pastes_are_refused_where_they_end() {
    let e = refused(ISSUE_34);
    assert!(
        e.contains("wtf regs.json (from line 13): the file is cut: it ends at line 61 column 6"),
        "{e}"
    );
    let e = refused(ISSUE_217);
    assert!(
        e.contains("(from line 6): the file is cut: it ends at line 6 column 1069"),
        "{e}"
    );
    // As a file is read by `check`: a part at a time.
    let name = InputName::Path("issue-34.txt".into());
    let e = read_all(ISSUE_34.as_bytes(), &name, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("it ends at line 61 column 6"), "{e}");
    // A whole file cut short.
    let e = refused(&HEVD[..1500]);
    assert!(
        e.starts_with("wtf regs.json: the file is cut: it ends at line 71 column 20"),
        "{e}"
    );
}

#[test]
fn a_whole_regs_json_pasted_in_text_is_read() {
    let paste = format!("my regs.json:\n```\n{HEVD}\n```\nthanks\n");
    let input = one(&paste);
    assert_eq!(input.state, one(HEVD).state);
    has_note(&input, &["read from line 3"]);
    let name = InputName::Path("paste.txt".into());
    let streamed = read_all(paste.as_bytes(), &name, None).unwrap();
    assert_eq!(streamed[0].state, input.state);
}

#[test]
fn bad_values_are_refused_by_key_path() {
    let e = refused(&HEVD.replace("\"0x22fb\"", "\"0xzz\""));
    assert_eq!(e, "wtf regs.json: cs.attr: \"0xzz\" is not a hex number");
    let e = refused(&HEVD.replacen("\"0x33\"", "\"0x10033\"", 1));
    assert_eq!(
        e,
        "wtf regs.json: cs.selector: 0x10033 does not fit in 16 bits"
    );
    let e = refused(&HEVD.replacen("\"present\": true", "\"present\": 1", 1));
    assert_eq!(e, "wtf regs.json: es.present: 1 is not true or false");
    let e = refused(&HEVD.replace("\"cr4\": \"0x3506f8\",", ""));
    assert_eq!(
        e,
        "wtf regs.json: no `cr4` (wtf's LoadCpuStateFromJSON reads it)"
    );
    let e = refused(&HEVD.replace("\"limit\": \"0xfff\"", "\"limit\": \"0x10000\""));
    assert_eq!(
        e,
        "wtf regs.json: idtr.limit: 0x10000 does not fit in 16 bits"
    );
    let e = refused(&HEVD.replace("\"0x206\"", "518"));
    assert!(
        e.starts_with("wtf regs.json: rflags: 518 is not a string"),
        "{e}"
    );
    let e = refused(&HEVD.replace("\"0xdfd9621000\"", "\"0x1ffffffffffffffff\""));
    assert_eq!(
        e,
        "wtf regs.json: gs.base: \"0x1ffffffffffffffff\" does not fit in 64 bits"
    );
    let e = refused(&HEVD.replace("\"0x101ba2000\"", "\"0x\""));
    assert_eq!(e, "wtf regs.json: cr3: \"0x\" is not a hex number");
    let e = refused(&HEVD.replace("\"0x101ba2000\"", "\"0777\""));
    assert_eq!(e, "wtf regs.json: cr3: \"0777\" is not a hex number");
    assert!(refused("{\"cs\": {\"attr\": 1, \"present\": true}}").contains("no `es`"));
}
