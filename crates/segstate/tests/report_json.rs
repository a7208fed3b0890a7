//! A check report's JSON (feature `serde`, `check::report_json`): the fields `segstate
//! check --json` prints for each state, pinned here for one state by hand, and the
//! narrowing the CLI applies (`least`, `mode_known`, `cpl_known`) checked against the
//! report it comes from.
#![cfg(feature = "serde")]

use segstate::arch::{PrivilegeLevel, SegReg, SegmentState};
use segstate::check::Severity;
use segstate::check::report::{Report, Vendors, report};
use segstate::profile::Chain;
use segstate::verify::baseline;
use segstate::verify::paths::path_findings;
use serde_json::{Value, json};

/// A user-mode state whose SS has DPL 0: one architectural error, on SS.
fn ss_dpl0() -> SegmentState {
    let mut s = baseline(PrivilegeLevel::Ring3);
    s.segments[SegReg::Ss].attributes.dpl = PrivilegeLevel::Ring0;
    s
}

/// A user-mode state with a null, unusable SS (what SYSRET leaves), and its report for
/// AMD with the path findings through the 2017 chain added: findings with a chain and
/// the rules responsible.
fn null_ss_through_2017_chain() -> Report {
    let mut s = baseline(PrivilegeLevel::Ring3);
    s.segments[SegReg::Ss].unusable = true;
    s.segments[SegReg::Ss].selector = segstate::arch::Selector::NULL;
    let chain: Chain = "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11".parse().unwrap();
    let mut r = report(&s, Vendors::Amd);
    r.entries.extend(path_findings(&s, Vendors::Amd, &[chain]));
    r
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn a_report_is_pinned_field_by_field() {
    let r = report(&ss_dpl0(), Vendors::Intel);
    let v = serde_json::to_value(&r).unwrap();
    let ss = &v["segments"].as_array().unwrap();
    let ss = ss.iter().find(|g| g["segment"] == "SS").unwrap();
    let dpl = ss["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "arch.ss.dpl-cpl")
        .unwrap();
    assert_eq!(
        *dpl,
        json!({
            "id": "arch.ss.dpl-cpl",
            "severity": "error",
            "segment": "SS",
            "field": "DPL",
            "expected": "CPL 3",
            "found": "0",
            "reference": "SDM Vol. 3C §24.4.1: SS.DPL is always the CPL",
            "family": "arch",
            "context": null,
            "chain": null,
            "rules": [],
        })
    );
    assert_eq!(
        keys(&v),
        [
            "cpl", "errors", "ids", "infos", "mode", "notes", "segments", "vendor", "warnings"
        ]
    );
    assert_eq!(v["vendor"], "intel");
    assert_eq!(v["mode"], r.mode.to_string());
    assert_eq!(v["cpl"], 3);
    assert_eq!(v["errors"], r.errors());
    assert_eq!(v["warnings"], r.count(Severity::Warning));
    assert_eq!(v["infos"], r.count(Severity::Info));
    assert_eq!(v["notes"], json!(r.notes));
    let ids: Vec<&str> = r.ids().iter().map(|c| c.id()).collect();
    assert_eq!(v["ids"], json!(ids));
    assert!(ids.contains(&"arch.ss.dpl-cpl"));
}

#[test]
fn a_path_finding_carries_its_chain_and_rules_by_id() {
    let r = null_ss_through_2017_chain();
    let v = serde_json::to_value(&r).unwrap();
    let listed: Vec<&Value> = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["findings"].as_array().unwrap())
        .collect();
    assert_eq!(listed.len(), r.entries.len(), "every finding is listed");
    let paths: Vec<_> = r.entries.iter().filter(|e| e.chain.is_some()).collect();
    assert!(
        paths.iter().any(|e| !e.rules.is_empty()),
        "the 2017 chain blames rules"
    );
    for e in paths {
        let written = listed
            .iter()
            .find(|f| f["id"] == e.finding.id.id() && f["chain"] == json!(e.chain))
            .unwrap();
        let ids: Vec<&str> = e.rules.iter().map(|r| r.id()).collect();
        assert_eq!(written["rules"], json!(ids));
        assert_eq!(written["family"], "path");
        assert_eq!(written["context"], json!(e.context));
        // The finding's own shape, unchanged, with the report's four fields around it.
        let own = serde_json::to_value(&e.finding).unwrap();
        for (k, value) in own.as_object().unwrap() {
            assert_eq!(&written[k], value, "{k}");
        }
        assert_eq!(keys(written).len(), keys(&own).len() + 4);
    }
}

#[test]
fn segments_follow_by_segment_and_least_leaves_findings_out_of_them_only() {
    let r = null_ss_through_2017_chain();
    assert!(r.count(Severity::Info) > 0, "the state has info findings");
    let all = serde_json::to_value(&r).unwrap();
    let groups: Vec<(String, usize)> = r
        .by_segment()
        .into_iter()
        .map(|(reg, list)| (reg.map_or("CPU", |r| r.name()).to_string(), list.len()))
        .collect();
    let written: Vec<(String, usize)> = all["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let n = g["findings"].as_array().unwrap().len();
            (g["segment"].as_str().unwrap().to_string(), n)
        })
        .collect();
    assert_eq!(written, groups);

    let shown = serde_json::to_value(r.json().least(Severity::Warning)).unwrap();
    let severities: Vec<&Value> = shown["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["findings"].as_array().unwrap())
        .map(|f| &f["severity"])
        .collect();
    assert_eq!(severities.len(), r.entries.len() - r.count(Severity::Info));
    assert!(severities.iter().all(|s| *s != "info"));
    assert!(
        shown["segments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| !g["findings"].as_array().unwrap().is_empty()),
        "a group left empty is left out"
    );
    for count in ["errors", "warnings", "infos", "ids"] {
        assert_eq!(
            shown[count], all[count],
            "{count} still counts every finding"
        );
    }
}

#[test]
fn a_mode_or_cpl_not_shown_by_the_source_is_null() {
    let r = report(&ss_dpl0(), Vendors::Both);
    let v = serde_json::to_value(r.json().mode_known(false)).unwrap();
    assert_eq!(
        (v["mode"].clone(), v["cpl"].clone()),
        (Value::Null, json!(3))
    );
    let v = serde_json::to_value(r.json().cpl_known(false)).unwrap();
    assert_eq!(v["mode"], r.mode.to_string());
    assert_eq!(v["cpl"], Value::Null);
    assert_eq!(v["vendor"], "both");
}
