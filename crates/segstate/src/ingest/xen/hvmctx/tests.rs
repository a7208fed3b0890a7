use std::string::String;
use std::vec::Vec;

use super::super::context::hvm_context;
use super::*;
use crate::arch::{Cpl, msr};

/// `xen-hvmctx` of Xen 4.22 (`c447b7308b13`) and of Xen 4.11, each compiled against a
/// stub libxc that hands it the blob below (`fixtures/xen/README.md` says how).
const NEW: &str = include_str!("../../../../tests/fixtures/xen/xen-hvmctx-4.22.txt");
const OLD: &str = include_str!("../../../../tests/fixtures/xen/xen-hvmctx-4.11.txt");
/// The HVM context both printed: two vCPUs, user mode after an AMD SYSRET (SS
/// unusable with DPL 3) and kernel mode.
const BLOB: &[u8] = include_bytes!("../../../../tests/fixtures/xen/hvmctx-2vcpu.hvmcontext");

fn binary() -> Vec<ForeignVcpu> {
    hvm_context(BLOB, 0, "blob", "blob").expect("the blob reads")
}

/// Everything the text carries: the MSRs without TSC_AUX, which it does not print.
fn comparable(v: &ForeignVcpu) -> ForeignVcpu {
    let mut v = v.clone();
    v.format = String::new();
    v.msrs.retain(|m| m.index != msr::TSC_AUX);
    v
}

#[test]
fn both_layouts_read_to_the_binary_records() {
    let binary = binary();
    assert_eq!(binary.len(), 2);
    for (text, name) in [(NEW, "4.22"), (OLD, "4.11")] {
        assert!(recognise(text), "{name}");
        let read = read(text, name).expect(name);
        assert_eq!(read.len(), 2, "{name}");
        for (t, b) in read.iter().zip(&binary) {
            assert_eq!(comparable(t), comparable(b), "{name} vCPU {}", b.id);
            assert!(t.msrs.iter().all(|m| m.index != msr::TSC_AUX), "{name}");
        }
    }
}

/// Xen 4.12's `es` line holds DS (0x2b, flat data) and its `ds` line ES (null): read
/// by what they hold, said in the description.
#[test]
fn the_swapped_labels_of_xen_4_12_are_read_by_what_they_hold() {
    let v = &read(NEW, "new").unwrap()[0];
    assert_eq!(v.sregs.ds.selector, 0x2b);
    assert_eq!(v.sregs.ds.limit, 0xffff_ffff);
    assert_eq!(v.sregs.es.selector, 0);
    assert!(v.format.contains("`es` line holds DS"), "{}", v.format);
    let old = &read(OLD, "old").unwrap()[0];
    assert_eq!(old.sregs.ds.selector, 0x2b);
    assert!(old.format.contains("Xen 4.0 to 4.11"), "{}", old.format);
    assert!(!old.format.contains("holds DS"), "{}", old.format);
}

/// The CPL is SS's DPL, unusable SS or not: 3 after the SYSRET, 0 in the kernel.
#[test]
fn the_cpl_is_ss_dpl_and_the_lapic_base_is_each_vcpu_s() {
    let v = read(NEW, "new").unwrap();
    assert_eq!(v[0].cpl(), Cpl::Ring3);
    assert_eq!(v[0].sregs.ss.present, 0);
    assert_eq!(v[1].cpl(), Cpl::Ring0);
    assert_eq!(v[0].sregs.apic_base, 0xfee0_0900);
    assert_eq!(v[1].sregs.apic_base, 0xfee0_0800);
    assert_eq!(v[0].id, "0");
    assert_eq!(v[1].id, "1");
    assert!(v[0].format.contains("domain 5"), "{}", v[0].format);
    let at = std::format!("at line {}", line_of(NEW, "Entry 2:"));
    assert!(v[1].format.ends_with(&at), "{}", v[1].format);
}

/// The line, column and field of an error's place in the text.
#[track_caller]
fn text_place(e: &IngestError) -> (usize, usize, &str) {
    match &e.place {
        Place::Text {
            line,
            column,
            field,
        } => (*line, *column, field.as_str()),
        other => panic!("not a place in the text: {other:?}"),
    }
}

fn line_of(text: &str, starts: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(starts))
        .expect("line")
        + 1
}

/// A paste cut inside a CPU entry names the entry's line and the first field missing.
#[test]
fn a_cut_entry_names_what_is_missing() {
    let at = NEW.find("             tr 0x0040").unwrap();
    let cut = &NEW[..at];
    let e = read(cut, "cut").unwrap_err();
    assert_eq!(e.format, FORMAT);
    let msg = e.to_string();
    assert!(msg.contains("line 7"), "{msg}");
    assert!(msg.contains("sysenter cs"), "{msg}");
    assert!(msg.contains("cut paste"), "{msg}");
}

/// A value that is not a number, or too wide for its field, is refused at its column.
#[test]
fn a_bad_value_is_named_by_line_and_column() {
    let bad = NEW.replacen("rbx 0x0000000000000000", "rbx 0x00000000000000zz", 1);
    let e = read(&bad, "bad").unwrap_err();
    let line = line_of(NEW, "CPU:");
    let (l, column, field) = text_place(&e);
    assert_eq!((l, field), (line, "rbx"));
    assert_eq!(
        &bad.lines().nth(line - 1).unwrap()[column - 1..column + 3],
        "0x00"
    );
    assert!(e.to_string().contains("0x00000000000000zz"), "{e}");
    let wide = NEW.replacen("+ 0xffffffff /  0x0afb", "+ 0x1ffffffff /  0x0afb", 1);
    let e = read(&wide, "wide").unwrap_err().to_string();
    assert!(e.contains("cs_limit") && e.contains("32 bits"), "{e}");
}

/// A selector above 16 bits passes the text (the record's field is a u32) and is
/// refused by the load, at the line that printed it, under the register it belongs to.
#[test]
fn a_bad_selector_is_refused_at_its_line_with_its_register() {
    let bad = NEW.replacen("es 0x002b (", "es 0x1002b (", 1);
    let e = read(&bad, "bad").unwrap_err();
    let line = line_of(NEW, "es 0x002b");
    let (l, _, field) = text_place(&e);
    assert_eq!((l, field), (line, "ds_sel, on the line labelled `es`"));
    assert!(e.to_string().contains("0x1002b is not a selector"), "{e}");
}

/// Arbytes the strict decode refuses are named by their field and line.
#[test]
fn bad_arbytes_are_refused_at_their_line() {
    // Bits 15:12 set beside bits 11:8: not the old VMX layout, not Xen's shape.
    let bad = NEW.replacen("/  0x0afb)", "/  0x1afb)", 1);
    let e = read(&bad, "bad").unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains(&std::format!("line {}", line_of(NEW, "cs 0x0033"))),
        "{s}"
    );
    assert!(s.contains("cs_arbytes"), "{s}");
}

/// A field printed twice in one entry (a line pasted twice) is an error; a second
/// `CPU:` line without its `Entry` header starts the next vCPU, numbered by order.
#[test]
fn a_field_printed_twice_is_refused() {
    let rcx = NEW.lines().find(|l| l.contains("rcx 0x")).unwrap();
    let twice = NEW.replacen(rcx, &std::format!("{rcx}\n{rcx}"), 1);
    let e = read(&twice, "twice").unwrap_err().to_string();
    assert!(
        e.contains("`rcx` is printed a second time (first at line 9)"),
        "{e}"
    );

    let at = line_of(NEW, "Entry 2:");
    let joined: String = NEW
        .lines()
        .enumerate()
        .filter(|(i, _)| *i + 1 != at)
        .map(|(_, l)| std::format!("{l}\n"))
        .collect();
    let v = read(&joined, "joined").unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].id, "1");
    assert!(v[1].format.contains("(vCPU 1 by order)"), "{}", v[1].format);
    // No `Entry` header, so no LAPIC entry is taken to be its.
    assert_eq!(v[1].sregs.apic_base, 0);
    assert_eq!(v[0].sregs.apic_base, 0xfee0_0900);
}

#[test]
fn text_without_a_cpu_entry_is_refused_and_not_recognised() {
    assert!(!recognise("RAX=0000000000000000 RBX=0000000000000000\n"));
    let header = "HVM save record for domain 3\nEntry 0: type 1 instance 0, length 24\n";
    assert!(recognise(header));
    let e = read(header, "h").unwrap_err().to_string();
    assert!(e.contains("a CPU entry"), "{e}");
    // A paste without the title still reads: the entry header and its CPU line.
    let body = &NEW[NEW.find("Entry 1:").unwrap()..];
    assert!(recognise(body));
    assert_eq!(read(body, "body").unwrap().len(), 2);
}

/// Two domains pasted one after the other: each vCPU is named by domain and id.
#[test]
fn two_domains_are_told_apart() {
    let both = std::format!("{NEW}{}", NEW.replace("domain 5", "domain 6"));
    let v = read(&both, "both").unwrap();
    let ids: Vec<&str> = v.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["d5v0", "d5v1", "d6v0", "d6v1"]);
    assert_eq!(v[2].sregs.apic_base, 0xfee0_0900);
}

/// CRLF line ends and tabs (a paste through a web form) read the same.
#[test]
fn crlf_and_tabs_read_the_same() {
    let crlf = NEW.replace('\n', "\r\n").replace("    CPU:", "\tCPU:");
    assert_eq!(read(&crlf, "crlf").unwrap(), read(NEW, "crlf").unwrap());
}

/// Pasted into an e-mail reply (`> ` quoting, at any depth) or a Markdown fence after
/// the shell prompt that ran it: read the same, and an error's column is the one in the
/// line as pasted.
#[test]
fn quoted_and_fenced_pastes_read_the_same() {
    let quoted: String = NEW.lines().map(|l| std::format!("> > {l}\n")).collect();
    assert!(recognise(&quoted));
    assert_eq!(
        read(&quoted, "quoted").unwrap(),
        read(NEW, "quoted").unwrap()
    );
    let fenced = std::format!("# xen-hvmctx 5\n```\n{NEW}```\n");
    assert!(recognise(&fenced));
    let fenced = read(&fenced, "fenced").unwrap();
    let plain = read(NEW, "plain").unwrap();
    let same = |v: &[ForeignVcpu]| v.iter().map(comparable).collect::<Vec<_>>();
    assert_eq!(same(&fenced), same(&plain));
    // Two lines above the text: each entry two lines further down.
    assert!(
        fenced[1].format.ends_with("at line 40"),
        "{}",
        fenced[1].format
    );

    let bad = quoted.replacen("rbx 0x0000000000000000", "rbx 0x00000000000000zz", 1);
    let e = read(&bad, "bad").unwrap_err();
    let (line, column, _) = text_place(&e);
    let pasted = bad.lines().nth(line - 1).unwrap();
    assert_eq!(&pasted[column - 1..column + 17], "0x00000000000000zz");
}

/// Xen 4.0's tool labelled the IDTR's line `itdr`: read as the IDTR.
#[test]
fn xen_4_0_s_itdr_line_is_the_idtr() {
    let old = OLD.replace("           idtr ", "           itdr ");
    assert_ne!(old, OLD);
    let same = |v: Vec<ForeignVcpu>| v.iter().map(comparable).collect::<Vec<_>>();
    assert_eq!(
        same(read(&old, "4.0").unwrap()),
        same(read(OLD, "4.11").unwrap())
    );
    assert_eq!(read(&old, "4.0").unwrap()[0].sregs.idt.limit, 0xfff);
}

/// Only the CPU blocks pasted, without the title or their `Entry` lines: read, each
/// numbered by its order and said so.
#[test]
fn cpu_blocks_without_their_entry_lines_are_read_in_order() {
    let blocks: String = NEW
        .lines()
        .filter(|l| !l.starts_with("Entry ") && !l.starts_with("HVM save record"))
        .map(|l| std::format!("{l}\n"))
        .collect();
    assert!(recognise(&blocks));
    let v = read(&blocks, "blocks").unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].id, "0");
    assert_eq!(v[1].id, "1");
    assert!(
        v[1].format
            .contains("without its `Entry` header (vCPU 1 by order)"),
        "{}",
        v[1].format
    );
    let plain = read(NEW, "plain").unwrap();
    for (b, p) in v.iter().zip(&plain) {
        // The LAPIC entries' lines went with their headers: no APIC base.
        assert_eq!(b.sregs.apic_base, 0);
        let mut p = comparable(p);
        p.sregs.apic_base = 0;
        assert_eq!(comparable(b), p);
    }
    // A kernel log's `CPU: 0 PID: …` line is no CPU block.
    assert!(!recognise(
        "CPU: 0 PID: 1234 Comm: qemu-system-x86 Not tainted\n"
    ));
}

/// A fence line with text after it that `peel` drops whole (`~~~Xen changeset 0`, found
/// by the `xen` fuzz target) is skipped like any line outside a CPU entry.
#[test]
fn a_fence_line_peeled_to_nothing_is_skipped() {
    let fenced = NEW.replacen(
        "             Xen changeset 0",
        "             ~~~Xen changeset 0",
        1,
    );
    assert_ne!(fenced, NEW);
    assert_eq!(
        read(&fenced, "fenced").unwrap(),
        read(NEW, "plain").unwrap()
    );
    // And inside a CPU entry, a bare fence between its lines.
    let inside = NEW.replacen("            rcx 0x", "```\n            rcx 0x", 1);
    let v = read(&inside, "inside").unwrap();
    assert_eq!(v[0].regs.rcx, read(NEW, "plain").unwrap()[0].regs.rcx);
    // The column of a line peeled to a static "" is 1, not an address's difference
    // (which release builds wrapped and debug builds refused); others count from the
    // line as pasted.
    assert_eq!(Line::peeled("   ```").column, 1);
    assert_eq!(Line::peeled("~~~Xen changeset 0").column, 1);
    assert_eq!(tokens(Line::peeled("> > cs 0x0033"))[0].column, 5);
}
