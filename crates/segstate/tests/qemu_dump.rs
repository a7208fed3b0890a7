//! QEMU register dumps printed by a real QEMU (tests/fixtures/qemu, made by
//! tools/qemu-fixtures/generate.sh): what each decodes to, round trips, errors, and
//! that no input makes the parser panic.

use segstate::arch::{CpuMode, PrivilegeLevel, SegReg, Selector};
use segstate::format::qemu::QemuFlags;
use segstate::ingest::qemu_dump::{QemuDump, parse};

mod common;
use common::Rng;

const RESET: &str = include_str!("fixtures/qemu/reset.txt");
const PM32: &str = include_str!("fixtures/qemu/pm32-cpl0.txt");
const LONG_CPL0: &str = include_str!("fixtures/qemu/long-cpl0.txt");
const USER_CPL3: &str = include_str!("fixtures/qemu/user-cpl3.txt");
const NULL_SS_CPL0: &str = include_str!("fixtures/qemu/null-ss-cpl0.txt");
const SYSRET: &str = include_str!("fixtures/qemu/sysret-null-ss-cpl3.txt");
const COMPAT: &str = include_str!("fixtures/qemu/compat-cpl3.txt");
const INT_LOG: &str = include_str!("fixtures/qemu/int-log.txt");

const ALL: [(&str, &str); 8] = [
    ("reset", RESET),
    ("pm32-cpl0", PM32),
    ("long-cpl0", LONG_CPL0),
    ("user-cpl3", USER_CPL3),
    ("null-ss-cpl0", NULL_SS_CPL0),
    ("sysret-null-ss-cpl3", SYSRET),
    ("compat-cpl3", COMPAT),
    ("int-log", INT_LOG),
];

fn one(text: &str) -> QemuDump {
    let mut dumps = parse(text).unwrap();
    assert_eq!(dumps.len(), 1);
    dumps.pop().unwrap()
}

/// [`one`], which must have stopped at `cpl` and `rip`.
#[track_caller]
fn one_at(text: &str, cpl: u8, rip: u64) -> QemuDump {
    let d = one(text);
    assert_eq!((d.cpl, d.rip), (cpl, rip));
    d
}

/// Selector, base, limit, flags column, suffix.
fn seg(d: &QemuDump, reg: SegReg) -> (u32, u64, u32, u32, Option<&str>) {
    let s = &d.segments[reg];
    (
        s.selector,
        s.base,
        s.limit,
        s.flags.0,
        d.suffixes[reg].as_deref(),
    )
}

fn mode(d: &QemuDump) -> CpuMode {
    let s = d.segment_state();
    CpuMode::from_state(s.cr0, s.efer, s.rflags, s.segments[SegReg::Cs].attributes)
}

#[test]
fn reset_is_real_mode() {
    let d = one(RESET);
    assert_eq!(d.line, 3, "after a blank line and CPU#0");
    assert!(!d.long_mode_layout);
    assert_eq!((d.cpl, d.rip, d.rflags), (0, 0xfff0, 0x2));
    assert_eq!(
        seg(&d, SegReg::Cs),
        (0xf000, 0xffff_0000, 0xffff, 0x9b00, None)
    );
    for reg in [SegReg::Es, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
        assert_eq!(seg(&d, reg), (0, 0, 0xffff, 0x9300, None), "{reg}");
    }
    assert_eq!(seg(&d, SegReg::Ldtr), (0, 0, 0xffff, 0x8200, None));
    assert_eq!(seg(&d, SegReg::Tr), (0, 0, 0xffff, 0x8b00, None));
    assert_eq!((d.gdt, d.idt), ((0, 0xffff), (0, 0xffff)));
    assert_eq!((d.cr0, d.cr2, d.cr3, d.cr4), (0x6000_0010, 0, 0, 0));
    assert_eq!(d.efer, Some(0));
    assert_eq!(mode(&d), CpuMode::Real);
    let state = d.segment_state();
    assert!(state.segments.iter().all(|(_, s)| !s.unusable));
}

#[test]
fn pm32_is_flat_protected_mode() {
    let d = one(PM32);
    assert!(!d.long_mode_layout);
    assert_eq!((d.cpl, d.rip, d.rflags), (0, 0xf_0048, 0x46));
    assert_eq!(
        seg(&d, SegReg::Cs),
        (8, 0, 0xffff_ffff, 0x00cf_9b00, Some(" DPL=0 CS32 [-RA]"))
    );
    for reg in [SegReg::Es, SegReg::Ss, SegReg::Ds] {
        assert_eq!(
            seg(&d, reg),
            (0x10, 0, 0xffff_ffff, 0x00cf_9300, Some(" DPL=0 DS   [-WA]")),
            "{reg}"
        );
    }
    // MOV of a null selector into FS/GS: QEMU loads flags 0, so P = 0, unusable.
    assert_eq!(seg(&d, SegReg::Fs), (0, 0, 0, 0, None));
    assert_eq!(
        seg(&d, SegReg::Tr),
        (0, 0, 0xffff, 0x8b00, Some(" DPL=0 TSS32-busy"))
    );
    assert_eq!(d.gdt, (0x800, 0x4f));
    assert_eq!(d.cr0, 0x6000_0011);
    assert_eq!(mode(&d), CpuMode::Protected32);
    let state = d.segment_state();
    assert!(state.segments[SegReg::Fs].unusable);
    assert_eq!(state.cpl, PrivilegeLevel::Ring0);
}

#[test]
fn long_mode_cpl0() {
    let d = one_at(LONG_CPL0, 0, 0xf_0103);
    assert!(d.long_mode_layout);
    assert_eq!(
        [SegReg::Cs, SegReg::Ss, SegReg::Tr].map(|reg| seg(&d, reg)),
        [
            (0x18, 0, 0xffff_ffff, 0x00af_9b00, Some(" DPL=0 CS64 [-RA]")),
            (0x10, 0, 0xffff_ffff, 0x00cf_9300, Some(" DPL=0 DS   [-WA]")),
            // TCG's LTR caches the descriptor before it sets the busy bit in memory: TR
            // says type 9 (available), where hardware and VMX entry checks expect 11.
            (0x40, 0x5000, 0x67, 0x8900, Some(" DPL=0 TSS64-avl")),
        ]
    );
    assert_eq!((d.gdt, d.idt), ((0x800, 0x4f), (0x4000, 0xfff)));
    assert_eq!((d.cr0, d.cr3, d.cr4), (0xe000_0011, 0x1000, 0x20));
    assert_eq!(d.efer, Some(0x501));
    assert_eq!(mode(&d), CpuMode::Long64);
}

#[test]
fn user_mode_cpl3_after_iretq() {
    let d = one_at(USER_CPL3, 3, 0xf_0115);
    assert!(d.long_mode_layout);
    assert_eq!(
        [SegReg::Cs, SegReg::Ss].map(|reg| seg(&d, reg)),
        [
            (0x3b, 0, 0xffff_ffff, 0x00af_fb00, Some(" DPL=3 CS64 [-RA]")),
            (0x33, 0, 0xffff_ffff, 0x00cf_f300, Some(" DPL=3 DS   [-WA]")),
        ]
    );
    // IRET to CPL 3 nulls DS/ES whose DPL (0) is below the new CPL and clears only P:
    // the flags keep type, DPL and the limit nibble 19:16 (residue).
    for reg in [SegReg::Es, SegReg::Ds] {
        assert_eq!(
            seg(&d, reg),
            (0, 0, 0xffff_ffff, 0x00cf_1300, None),
            "{reg}"
        );
    }
    let state = d.segment_state();
    assert_eq!(state.cpl, PrivilegeLevel::Ring3);
    assert_eq!(
        state.segments[SegReg::Ss].attributes.dpl,
        PrivilegeLevel::Ring3
    );
    let ds = state.segments[SegReg::Ds];
    assert!(ds.unusable && ds.attributes.s && ds.attributes.db && ds.attributes.g);
}

#[test]
fn interrupt_from_cpl3_leaves_null_ss_at_cpl0() {
    let dumps = parse(NULL_SS_CPL0).unwrap();
    assert_eq!(dumps.len(), 2, "info registers -a with -smp 2");
    let (bsp, ap) = (&dumps[0], &dumps[1]);
    assert_eq!((bsp.line, ap.line), (3, 37));
    assert!(bsp.long_mode_layout && !ap.long_mode_layout);
    assert_eq!((bsp.cpl, bsp.rip), (0, 0xf_0119));
    assert_eq!(
        seg(bsp, SegReg::Cs),
        (0x18, 0, 0xffff_ffff, 0x00af_9b00, Some(" DPL=0 CS64 [-RA]"))
    );
    // 64-bit interrupt delivery with a CPL change loads SS with the null selector,
    // RPL = new CPL, and flags = DPL << 13 = 0: an unusable SS of DPL 0.
    assert_eq!(seg(bsp, SegReg::Ss), (0, 0, 0, 0, None));
    let state = bsp.segment_state();
    assert!(state.segments[SegReg::Ss].unusable);
    assert_eq!(state.cpl, PrivilegeLevel::Ring0);
    assert_eq!(mode(bsp), CpuMode::Long64);
    // The application processor waits for SIPI in the reset state.
    assert_eq!((ap.cpl, ap.rip), (0, 0xfff0));
    assert_eq!(
        seg(ap, SegReg::Cs),
        (0xf000, 0xffff_0000, 0xffff, 0x9b00, None)
    );
    assert_eq!(mode(ap), CpuMode::Real);
}

#[test]
fn sysret_with_wrapping_star_gives_cpl3_and_a_17_bit_selector() {
    let d = one(SYSRET);
    assert_eq!((d.cpl, d.rip), (3, 0xf_0138));
    // STAR[63:48] = 0xfff8: hardware computes SS = (0xfff8 + 8) | 3 = 0x0003 in 16 bits;
    // TCG's helper_sysret keeps the carry in its 32-bit selector field.
    assert_eq!(
        seg(&d, SegReg::Cs),
        (
            0x1_000b,
            0,
            0xffff_ffff,
            0x00a0_fb00,
            Some(" DPL=3 CS64 [-RA]")
        )
    );
    assert_eq!(
        seg(&d, SegReg::Ss),
        (
            0x1_0003,
            0,
            0xffff_ffff,
            0x00c0_f300,
            Some(" DPL=3 DS   [-WA]")
        )
    );
    let state = d.segment_state();
    let ss = state.segments[SegReg::Ss];
    assert_eq!(ss.selector, Selector(3), "a null selector with RPL 3");
    assert!(ss.is_usable(), "SYSRET writes flat attributes regardless");
    assert_eq!(ss.attributes.dpl, PrivilegeLevel::Ring3);
    assert_eq!(state.cpl, PrivilegeLevel::Ring3);
}

#[test]
fn compat_mode_mixes_32_bit_segments_and_64_bit_tables() {
    let d = one_at(COMPAT, 3, 0xf_014c);
    assert!(
        !d.long_mode_layout,
        "CS.L = 0: 32-bit register and segment lines"
    );
    assert_eq!(d.efer, Some(0x501), "LMA = 1: 64-bit table lines");
    assert_eq!(
        [SegReg::Cs, SegReg::Tr].map(|reg| seg(&d, reg)),
        [
            (0x2b, 0, 0xffff_ffff, 0x00cf_fb00, Some(" DPL=3 CS32 [-RA]")),
            (0x40, 0x5000, 0x67, 0x8900, Some(" DPL=0 TSS64-avl")),
        ]
    );
    assert_eq!(
        (d.gdt, d.idt, d.cr3),
        ((0x800, 0x4f), (0x4000, 0xfff), 0x1000)
    );
    assert_eq!(mode(&d), CpuMode::Compatibility);
    let text = d.to_text();
    assert!(text.contains("\nCS =002b 00000000 ffffffff 00cffb00 DPL=3 CS32 [-RA]\n"));
    assert!(text.contains("\nGDT=     0000000000000800 0000004f\n"));
}

#[test]
fn int_log_dump_follows_the_exception_line() {
    let d = one(INT_LOG);
    assert_eq!(d.line, 2);
    assert_eq!((d.cpl, d.rip), (3, 0xf_0115), "the state before delivery");
    assert_eq!(seg(&d, SegReg::Ss).0, 0x33);
}

/// Lines of `text` that `to_text` reproduces exactly: the register summary, segments,
/// tables, control registers and EFER.
fn kept_lines(text: &str) -> Vec<&str> {
    const PREFIXES: [&str; 14] = [
        "ES =", "CS =", "SS =", "DS =", "FS =", "GS =", "LDT=", "TR =", "GDT=", "IDT=", "CR0=",
        "DR6=", "EFER=", "DR0=",
    ];
    text.lines()
        .filter(|l| PREFIXES.iter().any(|p| l.starts_with(p)))
        .collect()
}

#[test]
fn every_fixture_round_trips_and_prints_back_as_qemu_did() {
    for (name, text) in ALL {
        let dumps = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!dumps.is_empty(), "{name}");
        let mut printed = String::new();
        for d in &dumps {
            let again = one(&d.to_text());
            assert_eq!(
                again,
                QemuDump {
                    line: 1,
                    ..d.clone()
                },
                "{name}"
            );
            for reg in SegReg::ALL {
                assert_eq!(d.expected_suffix(reg), d.suffixes[reg], "{name} {reg}");
            }
            printed.push_str(&d.to_text());
        }
        assert_eq!(kept_lines(&printed), kept_lines(text), "{name}");
    }
}

#[test]
fn flags_column_decodes_leniently() {
    let d = one(USER_CPL3);
    assert_eq!(d.segments[SegReg::Ds].flags, QemuFlags(0x00cf_1300));
    assert_ne!(d.segments[SegReg::Ds].flags.residue(), 0);
    let ds = d.segment_state().segments[SegReg::Ds];
    assert_eq!(ds.limit, 0xffff_ffff);
    assert!(!ds.attributes.present);
}

#[test]
fn truncated_dump_names_the_missing_line() {
    let lines: Vec<&str> = LONG_CPL0.lines().collect();
    // Cut after the SS line (line 10 of the file).
    let cut = lines[..10].join("\n");
    let e = parse(&cut).unwrap_err();
    assert_eq!((e.line, e.column), (11, 1), "{e}");
    assert!(e.message.contains("unexpected end of input"), "{e}");
    assert!(e.message.contains("DS segment line"), "{e}");
    assert!(e.to_string().starts_with("line 11, column 1: "), "{e}");
    // Cut in the middle of a line.
    let half = &LONG_CPL0[..LONG_CPL0.find("CR3=").unwrap() + 7];
    let e = parse(half).unwrap_err();
    assert_eq!(e.line, 18, "{e}");
    assert!(e.message.contains("hex digits for CR3"), "{e}");
}

#[test]
fn bad_hex_names_line_and_column() {
    // The error for the user-mode dump with `from` replaced by `to`.
    let damaged = |from: &str, to: &str| parse(&USER_CPL3.replace(from, to)).unwrap_err();
    let e = damaged(
        "SS =0033 0000000000000000 ffffffff 00cff300",
        "SS =0033 0000000000000000 fffffgff 00cff300",
    );
    assert_eq!((e.line, e.column), (10, 32), "{e}");
    assert!(e.message.contains("the limit"), "{e}");
    let e = damaged("RFL=00000002", "RFL=0000002");
    assert_eq!((e.line, e.column), (7, 26), "{e}");
    let e = damaged("CPL=3", "CPL=7");
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("out of range"), "{e}");
    let e = damaged("[-------]", "[---Z---]");
    assert_eq!((e.line, e.column), (7, 39), "{e}");
    let e = damaged("DPL=3 CS64", "XPL=3 CS64");
    assert_eq!((e.line, e.column), (9, 44), "{e}");
}

#[test]
fn unrelated_text_is_skipped() {
    let text = format!(
        "KVM: entry failed, hardware error 0x80000021\n\nIf you're running a guest on an Intel machine without unrestricted mode\n{LONG_CPL0}\nEAX is not a dump\n{USER_CPL3}"
    );
    let dumps = parse(&text).unwrap();
    assert_eq!(dumps.len(), 2);
    assert_eq!(dumps[0].line, 6);
    assert_eq!(dumps[1].cpl, 3);
    assert_eq!(parse("").unwrap(), []);
    assert_eq!(parse("nothing here\n\r\n").unwrap(), []);
}

#[test]
fn no_input_panics() {
    let mut rng = Rng(0x5eed_0f5e_6574_0a7e);
    // Every truncation of every fixture.
    for (name, text) in ALL {
        for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            if let Err(e) = parse(&text[..cut]) {
                assert!(e.line >= 1 && e.column >= 1, "{name} cut at {cut}: {e}");
            }
        }
    }
    // Byte mutations of real dumps, biased to the characters the format uses.
    const ALPHABET: &[u8] = b"0123456789abcdefABCDEFxX =-[]\n\r\t\xc3\xa9RAXEIP";
    for round in 0..20_000 {
        let (_, text) = ALL[round % ALL.len()];
        let mut bytes = text.as_bytes().to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes[at] = ALPHABET[rng.below(ALPHABET.len())],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(dumps) = parse(&text) {
            for d in dumps {
                let _ = d.segment_state();
                assert_eq!(one(&d.to_text()), QemuDump { line: 1, ..d });
            }
        }
    }
    // Random bytes, with dump starts sprinkled in.
    for _ in 0..2_000 {
        let len = rng.below(400);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0 {
            bytes.splice(0..0, b"RAX=".iter().copied());
        }
        let _ = parse(&String::from_utf8_lossy(&bytes));
    }
}
