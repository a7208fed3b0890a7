//! The `segstate` binary, driven as a user would.

use std::process::{Command, Output, Stdio};

mod common;
use common::{BIN, assert_contains, json, segstate, segstate_stdin, stderr, stdout};

const USER_SS_KVM: &str = r#"{"base":0,"limit":4294967295,"selector":43,"type":3,"present":1,"dpl":3,"db":1,"s":1,"l":0,"g":1,"avl":0,"unusable":0}"#;

#[test]
fn help_teaches_with_examples() {
    for sub in ["audit", "verify", "convert", "profiles"] {
        let o = segstate(&[sub, "--help"]);
        assert!(o.status.success(), "{sub}");
        assert!(
            stdout(&o).contains("Examples:"),
            "{sub} --help has examples"
        );
    }
}

#[test]
fn profiles_lists_every_profile_and_rule() {
    let o = segstate(&["profiles"]);
    assert!(o.status.success());
    for name in [
        "kvm-svm@4.11",
        "kvm-vmx@6.1",
        "qemu@2.9",
        "qemu-keep-old-flags",
        "qemu-segtype",
        "verbatim",
        "illumos-bhyve-svm",
        "propolis",
        "xen-save",
        "crosvm-haxm",
        "mshv",
        "kvm-nsvm",
    ] {
        assert!(stdout(&o).contains(name), "{name}");
    }
    let j = json(&segstate(&["profiles", "--json"]));
    assert_eq!(
        j["profiles"].as_array().unwrap().len(),
        segstate::profile::Profile::ALL.len()
    );
    assert_eq!(
        j["rules"].as_array().unwrap().len(),
        segstate::profile::Rule::ALL.len()
    );
    let rules = segstate(&["profiles", "--rules"]);
    assert!(stdout(&rules).contains("svm.set.zero-unusable-attrib"));
}

/// The default run holds one chain of today's code that escalates (propolis's payload
/// has no CPL and bhyve derives it from an unusable SS's zeroed DPL), so it ends with 1,
/// as `verify --help` and README.md say.
#[test]
fn default_verify_exits_1_for_todays_propolis_chain() {
    let o = segstate(&["verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let propolis = out
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("illumos-bhyve-svm > propolis > illumos-bhyve-svm")
        })
        .unwrap_or_default();
    assert!(propolis.ends_with("ESCALATES"), "{out}");
    assert!(
        out.contains("1 chain(s) of today's profiles escalate privilege."),
        "{out}"
    );
}

#[test]
fn verify_shows_the_2017_escalation_and_exits_3_for_historical_chains() {
    let o = segstate(&[
        "verify",
        "--chain",
        "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("ESCALATES"), "{out}");
    // The first counterexample is the worst one: user code at CPL 0.
    let first = out
        .lines()
        .find(|l| l.contains(" on SS: "))
        .unwrap_or_default();
    assert!(first.contains("escalation on SS: CPL 3 -> 0"), "{out}");
    let j = json(&segstate(&[
        "verify",
        "--json",
        "--chain",
        "kvm-svm > qemu > kvm-svm",
    ]));
    let chain = &j["chains"][0];
    assert_eq!(chain["verdict"], "sound");
    assert_eq!(chain["violations"]["escalation"], 0);
    let states = chain["states"].as_u64().unwrap();
    assert!(states > 300_000);
    // One run per attrib and limit for CS, TR, LDTR and the four data registers
    // together, and per CPL byte too for SS; every RPL is covered by that run, and
    // every attrib with AVL set by the one with AVL clear (the chain carries AVL).
    assert_eq!(
        chain["states_executed"].as_u64().unwrap(),
        (4 * 8192 + 32768) / 2
    );
    assert_eq!(j["states_executed"], chain["states_executed"]);
}

#[test]
fn verify_refuses_a_bad_chain_with_exit_2() {
    let o = segstate(&["verify", "--chain", "kvm-svm > qemu@9.9"]);
    assert_eq!(o.status.code(), Some(2));
    assert_contains(&stderr(&o), "unknown profile `qemu@9.9`");
    let o = segstate(&["verify", "--chain", "qemu[-svm.get.tr-busy]"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("another engine"), "{}", stderr(&o));
}

/// `segstate convert --from FROM --to TO INPUT`.
fn convert(from: &str, to: &str, input: &str) -> Output {
    segstate(&["convert", "--from", from, "--to", to, input])
}

#[test]
fn convert_between_formats_exactly() {
    let j = json(&convert("kvm", "qemu", USER_SS_KVM));
    assert_eq!(j["flags"], "0x00c0f300");
    let j = json(&convert("kvm", "vmcb", USER_SS_KVM));
    assert_eq!(j["attrib"], "0x0cf3");
    let j = json(&convert(
        "vmcb",
        "vmx",
        r#"{"selector":"0x2b","attrib":"0xcf3","limit":"0xffffffff","base":0}"#,
    ));
    assert_eq!(j["access_rights"], "0x0c0f3");
    let j = json(&segstate(&[
        "convert",
        "--from",
        "descriptor",
        "--to",
        "kvm",
        "--selector",
        "0x33",
        "0x00affb000000ffff",
    ]));
    assert_eq!(
        (
            j["type"].as_u64(),
            j["l"].as_u64(),
            j["dpl"].as_u64(),
            j["selector"].as_u64()
        ),
        (Some(11), Some(1), Some(3), Some(0x33))
    );
    // Bytes come out as bare hex, and go back in as they came out, through a pipe.
    for (shape, len) in [("kvm-bytes", 24), ("vmcb-bytes", 16), ("hyperv-bytes", 16)] {
        let bytes = convert("kvm", shape, USER_SS_KVM);
        let hex = stdout(&bytes);
        assert_eq!(hex.trim().len(), 2 * len, "{shape}: {hex}");
        assert!(hex.trim().bytes().all(|b| b.is_ascii_hexdigit()), "{hex}");
        let back = segstate_stdin(&["convert", "--from", shape, "--to", "kvm"], hex.as_bytes());
        assert!(back.status.success(), "{shape}: {}", stderr(&back));
        let back = json(&back);
        assert_eq!(back["dpl"], 3);
        assert_eq!(back["limit"], 4294967295u64);
    }
}

#[test]
fn convert_refuses_what_a_format_cannot_hold() {
    // Unusable yet present: the VMCB has no unusable bit.
    let unusable_present = USER_SS_KVM.replace(r#""unusable":0"#, r#""unusable":1"#);
    let o = convert("kvm", "vmcb", &unusable_present);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("attrib.P"), "{}", stderr(&o));
    let o = convert("kvm", "hyperv", &unusable_present);
    assert_eq!(o.status.code(), Some(1));
    // A type above 15 has no architectural meaning.
    let garbage = USER_SS_KVM.replace(r#""type":3"#, r#""type":16"#);
    let o = convert("kvm", "vmx", &garbage);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("kvm_segment.type"), "{}", stderr(&o));
}

#[test]
fn convert_reports_bad_input_with_exit_2() {
    let cases: [(&[&str], &str, &str); 6] = [
        (
            &["convert", "--from", "kvm", "--to", "vmx"],
            "{\"base\": 0,\n \"limit\": }",
            "line 2",
        ),
        (
            &["convert", "--from", "kvm", "--to", "vmx"],
            &USER_SS_KVM.replace(r#""dpl":3"#, r#""dpl":300"#),
            "field `dpl`: 300 does not fit in 8 bits",
        ),
        (
            &["convert", "--from", "kvm", "--to", "vmx"],
            &USER_SS_KVM.replace(r#""avl":0"#, r#""avl":0,"cpl":3"#),
            "unknown field `cpl`",
        ),
        (
            &["convert", "--from", "kvm-bytes", "--to", "kvm"],
            "00112233",
            "struct kvm_segment is 24 bytes, the input has 4",
        ),
        (
            &["convert", "--from", "sregs-bytes", "--to", "sregs"],
            "0g",
            "`g` at offset 1 is not a hex digit",
        ),
        (
            &["convert", "--from", "kvm", "--to", "vmx"],
            &USER_SS_KVM.replace("43", "\"0xzz\""),
            "is not a number",
        ),
    ];
    for (args, input, message) in cases {
        let o = segstate_stdin(args, input.as_bytes());
        assert_eq!(o.status.code(), Some(2), "{input}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{input}: {}", stderr(&o));
    }
}

/// `segstate convert --chain SPEC EXTRA…`.
fn convert_chain(spec: &str, extra: &[&str]) -> Output {
    let mut args = vec!["convert", "--chain", spec];
    args.extend_from_slice(extra);
    segstate(&args)
}

#[test]
fn convert_through_the_2017_chain_drops_cpl() {
    let ss = r#"{"selector":"0x2b","attrib":"0x013","limit":0,"base":0,"cpl":3}"#;
    let old = convert_chain(
        "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11",
        &["--reg", "ss", "--trace", ss],
    );
    // A CPL change is an exit status of its own, and said on stderr.
    assert_eq!(old.status.code(), Some(3));
    assert_contains(&stderr(&old), "from 3 to 0: privilege escalation");
    let old = json(&old);
    assert_eq!(old["output"]["cpl"], 0);
    assert_eq!(old["trace"].as_array().unwrap().len(), 4);
    assert_eq!(old["trace"][1]["after"], "qemu get_seg");
    assert_eq!(old["trace"][1]["value"]["flags"], "0x00000000");
    let fixed = convert_chain("kvm-svm > qemu > kvm-svm", &["--reg", "ss", ss]);
    assert!(fixed.status.success());
    assert_eq!(json(&fixed)["output"]["cpl"], 3);
    // The wrong source shape is named.
    let o = convert_chain("kvm-svm > qemu > kvm-svm", &["--from", "kvm", USER_SS_KVM]);
    assert_eq!(o.status.code(), Some(2));
    assert_contains(&stderr(&o), "the chain starts from VMCB");
}

#[test]
fn convert_whole_sregs_through_a_chain() {
    let mut sregs = segstate::format::kvm::KvmSregs::default();
    sregs.ss.dpl = 3;
    sregs.ss.unusable = 1;
    sregs.ss.selector = 0x2b;
    sregs.efer = 0xd01;
    let hex: String = sregs
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // The whole kvm_sregs through `chain`, as JSON.
    let through = |chain: &str| {
        json(&segstate_stdin(
            &[
                "convert",
                "--from",
                "sregs-bytes",
                "--to",
                "sregs",
                "--chain",
                chain,
            ],
            hex.as_bytes(),
        ))
    };
    let old = through("qemu@2.9");
    assert_eq!(old["ss"]["dpl"], 0);
    let code = segstate_stdin(
        &["convert", "--from", "sregs-bytes", "--chain", "qemu@2.9"],
        hex.as_bytes(),
    );
    assert_eq!(code.status.code(), Some(3), "the chain dropped the CPL");
    assert_contains(&stderr(&code), "changed the CPL from 3 to 0");
    assert_eq!(old["efer"], 0xd01);
    let fixed = through("qemu");
    assert_eq!(fixed["ss"]["dpl"], 3);
}

#[test]
fn audit_model_only() {
    let o = segstate(&["audit", "--no-live"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("live part skipped (--no-live)"));
    assert!(stdout(&o).contains(" executed) in "), "{}", stdout(&o));
    let j = json(&segstate(&["audit", "--no-live", "--json"]));
    assert_eq!(j["ok"], true);
    let (states, executed) = (&j["model"]["states"], &j["model"]["states_executed"]);
    // KVM and QEMU chains verify on the reduced domain; other stacks' chains unreduced.
    assert!(executed.as_u64().unwrap() < states.as_u64().unwrap(), "{j}");
    assert_eq!(j["live"]["ran"], false);
    assert_eq!(
        j["model"]["chains"].as_array().unwrap().len(),
        segstate::profile::BUILTIN_CHAINS.len()
    );
    // Another stack's escalation is listed, and does not fail this host's audit.
    assert_eq!(
        j["peer_stacks_escalating"],
        serde_json::json!(["illumos-bhyve-svm > propolis > illumos-bhyve-svm"])
    );
    let o = segstate(&["audit", "--scenario", "nonsense", "--no-live"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown scenario `nonsense`"));
}

#[test]
fn audit_live_shows_the_escalation_and_passes_the_host() {
    if !std::path::Path::new("/dev/kvm").exists() {
        assert_ne!(
            std::env::var("SEGSTATE_REQUIRE_KVM").as_deref(),
            Ok("1"),
            "/dev/kvm required"
        );
        println!("skipping: /dev/kvm not present");
        return;
    }
    let o = segstate(&[
        "audit",
        "--json",
        "--scenario",
        "null-ss-user",
        "--scenario",
        "snapshot-restore",
        "--chain",
        "verbatim",
        "--chain",
        "qemu",
        "--chain",
        "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11",
    ]);
    let j = json(&o);
    assert_eq!(o.status.code(), Some(0), "{j:#}");
    let runs = j["live"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for r in runs {
        let expected = if r["chain"].as_str().unwrap().contains("4.11") {
            "ESCALATED"
        } else {
            "PASS"
        };
        assert_eq!(r["verdict"], expected, "{r:#}");
    }
}

/// A KVM device that refuses (here /dev/null, which answers no KVM ioctl) gives a clear
/// line and exit 0 when KVM is optional, exit 1 when SEGSTATE_REQUIRE_KVM=1.
#[test]
fn audit_with_a_refusing_kvm_device() {
    let run = |require: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["audit", "--json"])
            .env("SEGSTATE_KVM_DEVICE", "/dev/null");
        if require {
            cmd.env("SEGSTATE_REQUIRE_KVM", "1");
        } else {
            cmd.env_remove("SEGSTATE_REQUIRE_KVM");
        }
        cmd.output().unwrap()
    };
    let optional = run(false);
    assert_eq!(optional.status.code(), Some(0), "{}", stderr(&optional));
    let j = json(&optional);
    assert_eq!(j["live"]["ran"], false);
    let note = j["live"]["note"].as_str().unwrap();
    assert!(
        note.contains("no usable /dev/kvm") && note.contains("live part skipped"),
        "{note}"
    );
    let required = run(true);
    assert_eq!(required.status.code(), Some(1));
    assert_eq!(json(&required)["ok"], false);
    let text = Command::new(BIN)
        .args(["audit"])
        .env("SEGSTATE_KVM_DEVICE", "/dev/null")
        .env("SEGSTATE_REQUIRE_KVM", "1")
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(1));
    assert_contains(
        &stdout(&text),
        "SEGSTATE_REQUIRE_KVM=1 but no usable /dev/kvm",
    );
}

/// A reader that goes away (`segstate verify | head -1`) ends the program quietly with
/// the SIGPIPE status, never a panic.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    // verify takes a moment before its first write, so the read end is closed by then
    // and that write fails with EPIPE whatever the pipe's buffer size.
    let mut child = Command::new(BIN)
        .args(["verify", "--chain", "verbatim > kvm-svm"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(141), "{:?}", out.status);
}
