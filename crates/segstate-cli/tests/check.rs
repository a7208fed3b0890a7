//! `segstate check` end to end: QEMU dumps (fixtures from a real QEMU and hand-made
//! ones in its exact format), kvm_sregs bytes, VMCB pages and save areas, JSON; exit
//! codes 0/1/2 and the messages of malformed input.

use std::path::PathBuf;

use segstate::arch::SegmentState;
use segstate::arch::{PrivilegeLevel, SegReg};
use segstate::format::kvm::{KvmSegment, KvmSregs};
use segstate::format::svm::{SaveAreaOffset, VmcbSaveArea, VmcbSegment};
use segstate::verify::{baseline, sysret_state};

mod common;
use common::{assert_contains, code, json, segstate, segstate_stdin, stderr, stdout, temp};

/// A QEMU fixture.
fn fixture(name: &str) -> String {
    common::fixture(&format!("qemu/{name}"))
}

fn sregs_of(st: &SegmentState) -> KvmSregs {
    let mut s = KvmSregs::default();
    s.set_segments(&st.segments.map(|_, x| KvmSegment::from(*x)));
    s.cr0 = st.cr0;
    s.cr4 = st.cr4;
    s.efer = st.efer;
    s
}

fn vmcb_of(st: &SegmentState) -> VmcbSaveArea {
    let segs = st.segments.map(|_, x| {
        let mut x = *x;
        x.attributes.present = x.attributes.present && !x.unusable;
        x.unusable = !x.attributes.present;
        VmcbSegment::try_from(x).unwrap()
    });
    let mut area = VmcbSaveArea::new(segs, st.cpl.bits());
    area.cr0 = st.cr0;
    area.cr4 = st.cr4;
    area.efer = st.efer;
    area.rflags = 0x202;
    area
}

fn regs_with_rflags(rflags: u64) -> Vec<u8> {
    let mut regs = vec![0u8; 144];
    regs[136..].copy_from_slice(&rflags.to_le_bytes());
    regs
}

#[test]
fn help_teaches_with_examples() {
    let o = segstate(&["check", "--help"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    for s in [
        "Examples:",
        "--vendor",
        "--format",
        "0x80000021",
        "kvm_sregs",
    ] {
        assert!(out.contains(s), "{s}: {out}");
    }
}

// ---- QEMU dumps from a real QEMU (TCG) --------------------------------------------

#[test]
fn real_qemu_dumps_are_read_and_judged() {
    // Reset and 32-bit protected mode: nothing wrong anywhere.
    for name in ["reset.txt", "pm32-cpl0.txt"] {
        let o = segstate(&["check", &fixture(name)]);
        assert_eq!(code(&o), 0, "{name}: {}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("summary: 0 errors"), "{}", stdout(&o));
    }
    // Long mode under TCG: QEMU's ltr caches the TSS as available (type 9), which
    // Intel's VM entry refuses and AMD runs.
    let o = segstate(&["check", &fixture("user-cpl3.txt")]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("CPL 3 (QEMU printed CPL=3)"), "{out}");
    assert!(out.contains("vmx.entry.tr.type"), "{out}");
    assert!(out.contains("  TR\n"), "grouped by segment: {out}");
    let o = segstate(&["check", "--vendor", "amd", &fixture("user-cpl3.txt")]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("arch.tr.available"), "a warning on AMD");
}

#[test]
fn several_dumps_in_one_file_are_checked_one_by_one_with_their_lines() {
    let o = segstate(&["check", "--json", &fixture("null-ss-cpl0.txt")]);
    let j = json(&o);
    let states = j["states"].as_array().unwrap();
    assert_eq!(states.len(), 2, "{j}");
    assert_eq!(states[0]["line"], 3);
    assert_eq!(states[1]["line"], 37);
    assert_eq!(states[1]["mode"], "real mode");
    assert_eq!(j["exit"], code(&o));
    let text = stdout(&segstate(&["check", &fixture("null-ss-cpl0.txt")]));
    assert!(text.contains("== dump at line 3"), "{text}");
    assert!(text.contains("== dump at line 37"), "{text}");
    assert!(text.contains("2 states checked"), "{text}");
}

/// user-cpl3.txt with the SS line replaced.
fn user_dump_with_ss(ss_line: &str, cpl: u8) -> String {
    let text = std::fs::read_to_string(fixture("user-cpl3.txt")).unwrap();
    text.lines()
        .map(|l| {
            if l.starts_with("SS =") {
                ss_line.to_string()
            } else {
                l.replace("CPL=3", &format!("CPL={cpl}"))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_user_dump_with_an_unusable_ss_shows_the_2017_escalation() {
    // AMD after SYSRET: CPL 3, SS selector 0x2b, hidden SS not present with DPL 3.
    let dump = user_dump_with_ss("SS =002b 0000000000000000 00000000 00407300", 3);
    let o = segstate_stdin(&["check", "--vendor", "amd"], dump.as_bytes());
    assert_eq!(code(&o), 0, "legal on AMD: {}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("arch.ss.null-cpl3"), "{out}");
    assert!(out.contains("path.escalation"), "{out}");
    assert!(
        out.contains("kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11"),
        "{out}"
    );
    assert!(
        out.contains("svm.set.zero-unusable-attrib + qemu.get.zero-unusable-flags"),
        "{out}"
    );
    let j = json(&segstate_stdin(
        &["check", "--vendor", "amd", "--json"],
        dump.as_bytes(),
    ));
    let ss = j["states"][0]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["segment"] == "SS")
        .unwrap();
    assert!(
        ss["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "path.escalation" && f["severity"] == "warning")
    );
}

#[test]
fn an_entry_failed_dump_names_the_vmx_check() {
    // KVM before 6.2 zeroed an unusable SS's AR: SS.DPL 0 (CPL=0 printed), user CS.
    let dump = format!(
        "KVM: entry failed, hardware error 0x80000021\n\n{}",
        user_dump_with_ss("SS =002b 0000000000000000 00000000 00000000", 0)
    );
    let o = segstate_stdin(&["check", "--vendor", "intel"], dump.as_bytes());
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("vmx.entry.cs.dpl-nonconforming"), "{out}");
    assert!(out.contains("SDM Vol. 3C §27.3.1.2"), "{out}");
}

#[test]
fn a_printed_cpl_that_disagrees_with_ss_dpl_is_an_error() {
    let text = std::fs::read_to_string(fixture("user-cpl3.txt"))
        .unwrap()
        .replacen("CPL=3", "CPL=0", 1);
    let o = segstate_stdin(&["check", "--vendor", "amd"], text.as_bytes());
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("qemu.cpl-ss-dpl"), "{}", stdout(&o));
}

#[test]
fn a_malformed_line_is_named_and_what_it_held_is_not_judged() {
    // One odd line no longer rejects the file: the reader says which line it could
    // not read and judges the dump on the rest.
    let text = std::fs::read_to_string(fixture("user-cpl3.txt")).unwrap();
    let broken = text.replacen("CS =", "CS =zz", 1);
    let o = segstate_stdin(&["check"], broken.as_bytes());
    assert_ne!(code(&o), 2, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("line 9: the CS line is cut short"), "{out}");
    assert!(out.contains("the dump lacks CS"), "{out}");
    assert!(!out.contains("  CS\n"), "no finding about CS: {out}");
    let o = segstate_stdin(&["check"], b"hello\nworld\n");
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), "no QEMU CPU state dump");
}

// ---- kvm_sregs bytes ----------------------------------------------------------------

#[test]
fn sregs_bytes_are_detected_by_size() {
    let user = sregs_of(&baseline(PrivilegeLevel::Ring3)).to_bytes();
    let p = temp("user.sregs", &user);
    let o = segstate(&["check", p.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("[sregs]"), "{out}");
    assert!(out.contains("RFLAGS taken as 0x2"), "{out}");

    // With kvm_regs: RFLAGS is checked.
    let mut both = user.to_vec();
    both.extend(regs_with_rflags(0x202 | 1 << 15));
    let o = segstate_stdin(&["check", "--vendor", "intel"], &both);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("vmx.entry.rflags.reserved"));
    assert!(stdout(&o).contains("[sregs+regs]"));
}

#[test]
fn sregs_with_garbage_exit_2_naming_the_offset() {
    let mut s = sregs_of(&baseline(PrivilegeLevel::Ring3));
    s.ss.dpl = 7;
    let o = segstate_stdin(&["check"], &s.to_bytes());
    assert_eq!(code(&o), 2);
    // ss is the sixth kvm_segment (offset 120); dpl is at +16.
    assert!(stderr(&o).contains("offset 136 (ss.dpl)"), "{}", stderr(&o));
    let o = segstate_stdin(&["check", "--format", "sregs"], &[0u8; 100]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("312 bytes"), "{}", stderr(&o));
}

#[test]
fn sysret_sregs_through_intel_fail_vm_entry() {
    let s = sregs_of(&sysret_state());
    // KVM's UAPI carries the CPL in SS.DPL: the sysret state's stale DPL 0 is CPL 0.
    let o = segstate_stdin(&["check", "--vendor", "intel"], &s.to_bytes());
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("vmx.entry.cs.dpl-nonconforming"));
}

// ---- VMCB ---------------------------------------------------------------------------

#[test]
fn vmcb_pages_and_save_areas_are_judged_for_amd() {
    let area = vmcb_of(&sysret_state());
    let page = temp("sysret.vmcb", &area.to_page());
    let o = segstate(&["check", page.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("[vmcb]"), "{out}");
    assert!(out.contains("judged for amd"), "{out}");
    assert!(out.contains("CPL 3"), "the CPL comes from VMCB.CPL: {out}");
    assert!(out.contains("path.escalation"), "{out}");

    let o = segstate_stdin(&["check"], &area.to_bytes());
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("[vmcb-save]"));

    // VMRUN refuses a VMCB without EFER.SVME.
    let mut bad = vmcb_of(&baseline(PrivilegeLevel::Ring0));
    bad.efer &= !(1 << 12);
    let o = segstate_stdin(&["check"], &bad.to_page());
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("svm.vmrun.efer-svme"));
}

/// The VMCB CPL byte is kept raw: a value above 3 is a warning naming the offset, not
/// a refusal to read the VMCB (KVM and nested SVM carry such a byte on) and not a
/// VMRUN failure (VMRUN does not check the byte).
#[test]
fn a_vmcb_cpl_byte_above_3_is_a_finding() {
    let mut page = vmcb_of(&baseline(PrivilegeLevel::Ring3)).to_page();
    page[SaveAreaOffset::IN_PAGE + SaveAreaOffset::CPL] = 7;
    let o = segstate_stdin(&["check"], &page);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("warning svm.vmrun.cpl-byte"),
        "{}",
        stdout(&o)
    );
    let out = stdout(&o);
    assert!(out.contains("svm.vmrun.cpl-byte"), "{out}");
    assert!(out.contains("offset 0x4cb (VMCB.CPL) holds 7"), "{out}");
    page[SaveAreaOffset::IN_PAGE + SaveAreaOffset::CPL] = 3;
    let o = segstate_stdin(&["check"], &page);
    assert!(!stdout(&o).contains("svm.vmrun.cpl-byte"), "{}", stdout(&o));
}

#[test]
fn a_vmcb_that_cannot_be_read_exits_2_naming_the_offset() {
    let mut page = vmcb_of(&baseline(PrivilegeLevel::Ring3)).to_page();
    let attrib = SaveAreaOffset::IN_PAGE + SaveAreaOffset::segment(SegReg::Ss) + 3;
    page[attrib] |= 0xf0;
    let o = segstate_stdin(&["check"], &page);
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), "offset 0x422 (SS attrib)");
}

// ---- JSON ---------------------------------------------------------------------------

#[test]
fn the_json_state_of_convert_is_read() {
    let s = sregs_of(&baseline(PrivilegeLevel::Ring3));
    let text = serde_json::to_string_pretty(&s).unwrap();
    let o = segstate_stdin(&["check"], text.as_bytes());
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("[json]"));
    let j = json(&segstate_stdin(&["check", "--json"], text.as_bytes()));
    assert_eq!(j["states"][0]["format"], "json");
    assert_eq!(j["states"][0]["cpl"], 3);
    assert_eq!(j["exit"], 0);
}

#[test]
fn malformed_json_exits_2_naming_the_line() {
    let o = segstate_stdin(&["check"], b"{\n  \"cs\": {\n    \"base\": nope\n");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("line 3"), "{}", stderr(&o));
    let o = segstate_stdin(&["check"], b"{\"cs\": 1, \"bogus\": 2}");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("line 1"), "{}", stderr(&o));
}

// ---- input that is nothing at all ---------------------------------------------------

#[test]
fn unknown_or_empty_input_exits_2() {
    let o = segstate_stdin(&["check"], &[0u8, 1, 2, 3]);
    assert_eq!(code(&o), 2);
    assert_contains(&stderr(&o), "4 bytes of binary input");
    let o = segstate_stdin(&["check"], b"   \n");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("empty input"));
    let o = segstate(&["check", "/nonexistent/segstate-check-input"]);
    assert_eq!(code(&o), 2);
    let o = segstate_stdin(&["check", "--format", "dump"], &[0xff, 0xfe, b'\n']);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("not UTF-8"), "{}", stderr(&o));
}

#[test]
fn save_area_bounds_are_the_documented_ones() {
    assert_eq!(segstate::ingest::SAVE_AREA_MIN, 664);
    assert_eq!(segstate::ingest::SAVE_AREA_MAX, 3072);
    assert_eq!(KvmSregs::SIZE + segstate::ingest::KVM_REGS_SIZE, 456);
    assert_eq!(VmcbSaveArea::PAGE_SIZE, 4096);
}

// ---- fuzzing inputs -------------------------------------------------------------------

/// Every seed and every crash input the fuzz targets ever found (fuzz/regressions/) goes
/// through detection, decoding and a report for each vendor without a panic.
#[test]
fn fuzz_seeds_and_regressions_never_panic() {
    use segstate::check::report::Vendors;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(targets) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for target in targets.flatten() {
            for f in std::fs::read_dir(target.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                files.push(f.path());
            }
        }
    }
    assert!(files.len() >= 10, "the seeds are there: {files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let formats = [None]
            .into_iter()
            .chain(segstate::ingest::InputFormat::ALL.map(Some));
        for format in formats {
            let Ok(inputs) = segstate::ingest::read(&bytes, format) else {
                continue;
            };
            for input in &inputs {
                for vendor in [Vendors::Intel, Vendors::Amd, Vendors::Both] {
                    let _ = input.report(vendor).by_segment();
                }
            }
        }
    }
}

/// A QEMU migration stream is detected, read as a stream, and each CPU checked.
#[test]
fn migration_stream_cpus_are_checked_one_by_one() {
    let path = fixture("null-ss-cpl0.migstream");
    let o = segstate(&["check", "--json", &path]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    let states = j["states"].as_array().unwrap_or_else(|| panic!("{j:#}"));
    assert_eq!(states.len(), 2, "{j:#}");
    assert!(
        states[0]["label"]
            .as_str()
            .unwrap()
            .contains("migration stream CPU 0")
    );
    // CPU 0 sits in a kernel handler with TCG's available TR, which Intel refuses.
    let text = stdout(&segstate(&["check", &path]));
    assert!(text.contains("vmx.entry.tr.type"), "{text}");
    // Forced and from standard input, a cut stream names the offset where it stops.
    let bytes = std::fs::read(&path).unwrap();
    let cut = segstate_stdin(&["check", "--format", "migration"], &bytes[..5000]);
    assert_eq!(code(&cut), 2);
    assert!(stderr(&cut).contains("offset 0x"), "{}", stderr(&cut));
    let not_a_stream = segstate_stdin(&["check", "--format", "migration"], b"QEVX\0\0\0\x03");
    assert_eq!(code(&not_a_stream), 2);
}

// ---- logs as users paste them ----------------------------------------------------------

fn dump_fixture(name: &str) -> String {
    common::fixture(&format!("dumps/{name}"))
}

#[test]
fn each_dump_starts_with_its_verdict() {
    let o = segstate(&["check", &dump_fixture("svsm-1081-qemu.txt")]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let out = stdout(&o);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with(
            "== dump at line 2 [dump]: not a guest-state failure: a failed VMX instruction with no error number"
        ),
        "{out}"
    );
    assert!(out.contains("judged for intel"), "{out}");
    // Exit lines without registers: a verdict, not an error.
    let o = segstate(&["check", &dump_fixture("razzer-22.txt")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("no segment or control register to judge"),
        "{out}"
    );
    // What the paste does not show is not printed as if it did.
    assert!(
        out.contains("mode unknown (no CR0 in the dump), CPL unknown"),
        "{out}"
    );
    let j = json(&segstate(&[
        "check",
        "--json",
        &dump_fixture("razzer-22.txt"),
    ]));
    assert!(
        j["states"][0]["mode"].is_null() && j["states"][0]["cpl"].is_null(),
        "{j}"
    );
    // The rules a dump lacks a field for are listed as the text's note counts them.
    let o = segstate(&["check", &dump_fixture("drakvuf-465.txt")]);
    let text = stdout(&o);
    let j = json(&segstate(&[
        "check",
        "--json",
        &dump_fixture("drakvuf-465.txt"),
    ]));
    let listed = j["states"][0]["rules_not_judged"].as_array().unwrap();
    assert!(
        text.contains(&format!(
            "{} guest-state rules beyond the segments are not judged",
            listed.len()
        )),
        "{text}\n{j}"
    );
    assert!(
        listed
            .iter()
            .any(|r| r["id"] == "vmx.entry.cr0.ne" && r["lacks"] == "CR0"),
        "{j}"
    );
}

/// A mail body in quoted-printable is read decoded, and says so; its lines are the
/// encoded file's (the dump's first line is line 15 of what the user holds).
#[test]
fn a_quoted_printable_mail_is_read_decoded() {
    let o = segstate(&["check", &dump_fixture("qemu-smm-migration-qp.txt")]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "== dump at line 15 [dump]: not a guest-state failure: KVM internal error 3"
        ),
        "{out}"
    );
    assert_contains(&out, "64-bit mode, CPL 0 (QEMU printed CPL=0)");
    assert_contains(&out, "exit at line 9: KVM internal error 3");
    assert_contains(&out, "note: line 15: the text is quoted-printable");
    // `=3D` is not read into a value, nor a soft break taken for a cut line.
    assert!(!out.contains("0x3d") && !out.contains("cut short"), "{out}");
}

/// QEMU's all-zero dump of a TDX guest's registers (KVM does not expose them) is no
/// state: no finding, the mode not claimed, and a note that says why.
#[test]
fn a_protected_guests_placeholder_dump_is_not_judged() {
    let o = segstate(&["check", &dump_fixture("tdx-mce-sub4.txt")]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "== dump at line 6 [dump]: no segment or control register to judge; the exit says: KVM internal \
             error 4"
        ),
        "{out}"
    );
    assert_contains(
        &out,
        "mode unknown (the dump carries no registers), CPL unknown;",
    );
    assert_contains(&out, "note: line 6: QEMU printed registers it never read");
    assert_contains(&out, "summary: 0 errors, 0 warnings, 0 infos: ok");
    assert!(!out.contains("QEMU printed CPL"), "{out}");
}

/// WHP's exits alone (QEMU's WHPX line, a VMM naming the reason) and triple-fault or
/// shutdown lines alone (a KVM tracepoint, QEMU's `kvm_run_exit` trace event, VDHH's
/// report) are a paste of exit lines, reported as such, not refused as holding no dump.
#[test]
fn exit_line_pastes_are_read_as_exit_lines() {
    for (name, line, exit_line, says) in [
        (
            "nos-11-ftrace-triple.txt",
            4,
            4,
            "a triple fault: VMX exit reason 2",
        ),
        (
            "cilium-ebpf-598-kvmtrace.txt",
            4,
            5,
            "a triple fault: the vCPU shut down (KVM_EXIT_SHUTDOWN",
        ),
        (
            "vdhh-31-triple.txt",
            4,
            4,
            "a triple fault: VDHH stopped the VM",
        ),
        (
            "serenity-11484.txt",
            8,
            8,
            "WHP stopped the processor on an exception it could not deliver",
        ),
        ("wtf-15.txt", 4, 4, "WHP refused a register value"),
    ] {
        let o = segstate(&["check", &dump_fixture(name)]);
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.starts_with(&format!(
                "== exit lines at line {line} [dump]: no segment or control register to judge; the exit \
                 says: {says}"
            )),
            "{name}: {out}"
        );
        assert_contains(&out, &format!("exit at line {exit_line}: {says}"));
    }
}

#[test]
fn the_target_is_inferred_unless_vendor_says() {
    let vmcb = dump_fixture("synthetic/linux-vmcb-old.txt");
    let o = segstate(&["check", &vmcb]);
    assert_eq!(code(&o), 0, "paged real mode runs on AMD: {}", stdout(&o));
    assert!(stdout(&o).contains("judged for amd"), "{}", stdout(&o));
    let o = segstate(&["check", "--vendor", "intel", &vmcb]);
    assert_contains(&stdout(&o), "judged for intel (--vendor intel)");
    let tcg = segstate(&["check", &dump_fixture("qemu-d-int-linux33.txt")]);
    assert_eq!(code(&tcg), 0);
    let out = stdout(&tcg);
    assert!(
        out.contains("judged for the architecture only (TCG-only"),
        "{out}"
    );
    assert!(!out.contains("vmx.") && !out.contains("svm."), "{out}");
}

/// bhyve-family pastes that used to be refused ("no CPU state dump found") are read
/// and judged: hyperkit's VMCS dump with its exit report, and `bhyvectl --get-all`,
/// whose host EFER.SVME names.
#[test]
fn hyperkit_and_bhyvectl_pastes_are_judged_not_refused() {
    let o = segstate(&["check", &dump_fixture("hyperkit-226.txt")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines().next().unwrap().starts_with(
            "== hyperkit VMCS dump at line 3 [dump]: every check this dump can show passes; \
             the failure is outside it: VM entry failed the guest-state checks (exit reason 33"
        ),
        "{out}"
    );
    assert!(
        out.contains("judged for intel (a hyperkit VMCS dump"),
        "{out}"
    );
    assert!(
        out.contains("RIP 0x9e019 read from the `vm exit[0]` report"),
        "{out}"
    );
    assert!(
        !out.contains("kvm_intel"),
        "hyperkit has no KVM switch: {out}"
    );
    let o = segstate(&["check", &dump_fixture("propolis-300.txt")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("judged for amd (a bhyvectl dump of a VMCB"),
        "{out}"
    );
    assert!(out.contains("the GS desc line is cut short"), "{out}");
    let j = json(&segstate(&[
        "check",
        "--json",
        &dump_fixture("linuxkit-3289.txt"),
    ]));
    assert_eq!(j["states"].as_array().map(Vec::len), Some(1), "{j}");
}

/// The verdict line of the first state starts with `start`.
fn assert_first_line(out: &str, start: &str) {
    assert!(
        out.lines().next().unwrap_or_default().starts_with(start),
        "{out}"
    );
}

/// kvmtool's register table and gdb's `info registers`, once refused ("no CPU state
/// dump found"), are read and judged: the table as the kvm_sregs it prints, the
/// listing for its control registers, with the selectors named and the CPL's source
/// said.
#[test]
fn kvmtool_tables_and_gdb_listings_are_judged_not_refused() {
    let o = segstate(&["check", &dump_fixture("lkml-2504-kvmtool-smp.txt")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert_first_line(
        &out,
        "== kvm_sregs printout at line 12 [dump]: no check fails",
    );
    assert_contains(&out, "   real mode, CPL 0;");
    assert_contains(
        &out,
        "VM entry judged on what KVM_SET_SREGS writes into the VMCS",
    );
    let o = segstate(&["check", &dump_fixture("qemu-devel-2301-rr-gdb.txt")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert_first_line(
        &out,
        "== gdb register listing at line 6 [dump]: no check fails",
    );
    assert_contains(&out, "shows selectors only (CS 0x60, SS 0x68");
    assert_contains(&out, "CPL 0: CS's RPL (CS 0x60)");
    assert!(!out.contains("IOPL"), "the flag list is not read: {out}");
    let j = json(&segstate(&[
        "check",
        "--json",
        &dump_fixture("notes-tdvf-efistub-gdb.txt"),
    ]));
    assert_eq!(j["states"][0]["cpl"], 0, "{j}");
    assert_eq!(j["states"][0]["errors"], 0, "{j}");
}

/// The CPL QEMU printed is in `--json` as in the text, for a QEMU dump read from a log
/// (a dmesg-prefixed paste) as for a whole one.
#[test]
fn json_carries_the_printed_cpl_of_a_dump_in_a_log() {
    let path = dump_fixture("synthetic/prefix-dmesg.txt");
    let text = stdout(&segstate(&["check", &path]));
    assert_contains(&text, "(QEMU printed CPL=");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&segstate(&["check", "--json", &path]))).unwrap();
    let printed = &json["states"][0]["printed_cpl"];
    assert!(printed.is_u64(), "{json}");
    assert_contains(&text, &format!("(QEMU printed CPL={printed})"));
}

/// A VMCS's IA-32e mode guest control decides the mode whatever its EFER field holds
/// (without "load IA32_EFER" the field is not loaded), in the text and in `--json` alike.
#[test]
fn the_text_and_json_say_the_same_mode() {
    let path = common::temp(
        "ia32e-control.txt",
        b"*** Guest State ***\n\
         CR0: actual=0x0000000080050033, shadow=0x0000000080050033, gh_mask=fffffffffffffff7\n\
         CS:   sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x0000000000000000\n\
         SS:   sel=0x0018, attr=0x0c093, limit=0xffffffff, base=0x0000000000000000\n\
         RFLAGS=0x00000002         DR7 = 0x0000000000000400\n\
         EFER =     0x0000000000000000  PAT = 0x0007040600070406\n\
         *** Control State ***\n\
         EntryControls=000053ff ExitControls=000fefff\n",
    );
    let path = common::s(&path);
    let text = stdout(&segstate(&["check", path]));
    assert_contains(&text, "   64-bit mode, CPL 0;");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&segstate(&["check", "--json", path]))).unwrap();
    assert_eq!(json["states"][0]["mode"], "64-bit mode", "{json}");
}

#[test]
fn json_is_printed_for_unreadable_input_too() {
    let o = segstate_stdin(&["check", "--json"], b"hello\nworld\n");
    assert_eq!(code(&o), 2);
    let j = json(&o);
    assert_eq!(j["exit"], 2);
    assert_eq!(j["error"]["where"], "standard input");
    assert!(
        j["error"]["why"].as_str().unwrap().contains("line 1"),
        "{j}"
    );
    let j = json(&segstate(&[
        "check",
        "--json",
        &dump_fixture("drakvuf-388.txt"),
    ]));
    let s = &j["states"][0];
    assert_eq!(s["judged_for"], "intel");
    assert!(
        s["verdict"]
            .as_str()
            .unwrap()
            .starts_with("VM entry fails: vmx.entry.cr3.width"),
        "{s}"
    );
    assert_eq!(s["exits"][0]["line"], 1);
    assert!(
        s["not_judged"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("vmx.entry.cr4.pcide")),
        "{s}"
    );
}

/// A pipe named by path (`/dev/stdin` here, as a shell's `<(...)` would be) is read as
/// the stream it is: probing it for a HyperVStorage signature would eat its first
/// bytes, and the dump would be reported a line early or not at all.
#[test]
fn a_pipe_named_by_path_loses_no_bytes() {
    if !std::path::Path::new("/dev/stdin").exists() {
        return;
    }
    let path = common::fixture("dumps/blog-os-770.txt");
    let by_file = segstate(&["check", &path]);
    let bytes = std::fs::read(&path).unwrap();
    let by_pipe = segstate_stdin(&["check", "/dev/stdin"], &bytes);
    assert_eq!(code(&by_pipe), code(&by_file), "{}", stderr(&by_pipe));
    assert_contains(&stdout(&by_file), "dump at line 5");
    let text = stdout(&by_pipe);
    assert_eq!(
        text.replace("/dev/stdin", &path),
        stdout(&by_file),
        "{text}"
    );
}

/// KVM_RUN's errno is read from QEMU's `strerror` text: EFAULT is host memory, and the
/// host's `[kvm_amd]` frames make the target AMD.
#[test]
fn kvm_run_failed_names_its_errno() {
    let o = segstate(&["check", &dump_fixture("kvm-2024-ksm-efault-amd.txt")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert_contains(
        &out,
        "not a guest-state failure: KVM_RUN returned EFAULT, \"Bad address\"",
    );
    assert!(!out.contains("EINVAL"), "{out}");
    assert_contains(&out, "judged for amd (the host's kernel stack trace");
    let o = segstate(&["check", &dump_fixture("kvm-2020-qcai-kvmrun-enoent.txt")]);
    assert_contains(&stdout(&o), "KVM_RUN returned ENOENT");
}

/// An elided Xen VMCS dump's `RFLAGS=… (…)  DR7 = …` line is read, and the hint names
/// Xen's debug key; a Xen qualification of 2 rules out the register rules.
#[test]
fn xen_lines_read_without_their_dump() {
    let o = segstate(&["check", &dump_fixture("xen-2023-dr7-upper.txt")]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    assert_contains(&out, "VM entry fails: vmx.entry.dr7.high");
    assert_contains(&out, "Xen's `v` debug key");
    assert!(!out.contains("kvm_intel"), "{out}");
    let o = segstate(&["check", &dump_fixture("osstest-2024-nested-qual2.txt")]);
    assert_contains(&stdout(&o), "exit qualification 2");
    assert_contains(&stdout(&o), "no segment or register rule is the cause");
}

/// A Rust VMM's `{:#?}` of kvm-bindings' `kvm_sregs` (real output: ring 3 with SS
/// unusable, `fixtures/dumps/kvm-bindings/`) used to be refused ("no CPU state dump
/// found"); it is read as a kvm_sregs printout and judged.
#[test]
fn rust_debug_of_kvm_sregs_is_judged_not_refused() {
    let o = segstate(&[
        "check",
        &dump_fixture("kvm-bindings/ring3-unusable-ss-pretty.txt"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with("== kvm_sregs printout at line 2 [dump]: no check fails"),
        "{out}"
    );
    assert!(out.contains("64-bit mode, CPL 3"), "{out}");
}

/// `judged_for` and `mode_in_words` in `--json`.
#[test]
fn json_names_the_emulator_and_the_mode_in_words() {
    // An emulator's state is judged for the architecture, named by its emulator.
    for (dump, emulator) in [
        ("centuryos2-j009-bochs-null-fs.txt", "bochs"),
        ("blog-os-798.txt", "tcg"),
    ] {
        let j = json(&segstate(&["check", "--json", &dump_fixture(dump)]));
        assert_eq!(j["states"][0]["judged_for"], emulator, "{dump}");
    }
    // `mode` is null where the fields do not decide it; `mode_in_words` says how far
    // they do, as the text report does.
    let j = json(&segstate(&[
        "check",
        "--json",
        &dump_fixture("dosemu-1274.txt"),
    ]));
    let s = &j["states"][0];
    assert_eq!(s["mode"], serde_json::Value::Null);
    assert_eq!(
        s["mode_in_words"],
        "protected mode, IA-32e or not unknown (no EFER in the dump)"
    );
}
