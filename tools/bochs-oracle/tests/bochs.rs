//! Live runs through Bochs: the valid states enter, known-bad states fail with the
//! check Bochs names, and the conformance table explains the deviations it lists.
//! Skipped where Bochs or NASM is missing; `BOCHS_ORACLE_REQUIRE=1` makes that a
//! failure (`tools/bochs-oracle/run` installs both).

use std::path::Path;

use bochs_oracle::bochs::{BIOS, Machine};
use bochs_oracle::case::{Case, Target};
use bochs_oracle::conformance;
use bochs_oracle::generate::{valid_states, valid_svm_states, valid_vmx_states};
use bochs_oracle::verdict::verdict;
use segstate::arch::SegReg;

fn bochs_present() -> bool {
    let found = Path::new(BIOS).exists()
        && std::process::Command::new("nasm")
            .arg("-v")
            .output()
            .is_ok()
        && std::process::Command::new("bochs")
            .arg("--help")
            .output()
            .is_ok();
    if !found {
        assert!(
            std::env::var_os("BOCHS_ORACLE_REQUIRE").is_none(),
            "BOCHS_ORACLE_REQUIRE is set but bochs, its BIOS or nasm is missing"
        );
        eprintln!("skipped: bochs or nasm not installed (tools/bochs-oracle/run installs them)");
    }
    found
}

fn doc() -> Vec<conformance::Explained> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/conformance/bochs.md");
    conformance::load(&path).unwrap()
}

fn machine(target: Target) -> Machine {
    Machine::new(target, &std::env::temp_dir()).unwrap()
}

#[test]
fn vmx_valid_states_enter_and_bad_ones_fail_with_the_named_check() {
    if !bochs_present() {
        return;
    }
    let kernel = valid_vmx_states()[0];
    let mut bad_ss = kernel;
    bad_ss.state.segments[SegReg::Ss].attributes.segment_type =
        segstate::arch::SegmentType::from_low_bits(1);
    let mut unusable_tr = kernel;
    unusable_tr.state.segments[SegReg::Tr].unusable = true;
    let mut cases: Vec<Case> = valid_vmx_states();
    cases.extend([bad_ss, unusable_tr]);
    let out = machine(Target::Vmx).run(&cases).unwrap();
    let n = valid_vmx_states().len();
    for (c, o) in cases[..n].iter().zip(&out) {
        assert!(o.accepted && o.log.is_empty(), "{c:?}: {o:?}");
    }
    assert!(!out[n].accepted);
    assert!(
        out[n].log.iter().any(|l| l.contains("SS.TYPE")),
        "{:?}",
        out[n]
    );
    assert!(!out[n + 1].accepted);
    assert!(
        out[n + 1].log.iter().any(|l| l.contains("TR invalid")),
        "{:?}",
        out[n + 1]
    );
    // segstate agrees on all of them.
    for (c, o) in cases.iter().zip(&out) {
        assert_eq!(verdict(Target::Vmx, c).accepted, o.accepted, "{c:?}");
    }
}

#[test]
fn svm_valid_states_enter_and_bad_ones_exit_invalid() {
    if !bochs_present() {
        return;
    }
    let kernel = valid_svm_states()[0];
    let mut no_svme = kernel;
    no_svme.state.efer &= !(1 << 12);
    let mut cd_nw = kernel;
    cd_nw.state.cr0 |= 1 << 29;
    let mut cases = valid_svm_states();
    cases.extend([no_svme, cd_nw]);
    let out = machine(Target::Svm).run(&cases).unwrap();
    let n = valid_svm_states().len();
    for (c, o) in cases[..n].iter().zip(&out) {
        assert!(o.accepted, "{c:?}: {o:?}");
    }
    assert!(!out[n].accepted && out[n].log.iter().any(|l| l.contains("SVME = 0")));
    assert!(!out[n + 1].accepted, "{:?}", out[n + 1]);
    for (c, o) in cases.iter().zip(&out) {
        assert_eq!(verdict(Target::Svm, c).accepted, o.accepted, "{c:?}");
    }
}

/// Each deviation the document records still happens in this Bochs, and its row
/// explains it.
#[test]
fn documented_deviations_reproduce_and_are_explained() {
    if !bochs_present() {
        return;
    }
    let table = doc();
    // vmx-ia32e-pg: IA-32e mode guest with CR0.PG = 0 under unrestricted guest.
    let mut ia32e = valid_vmx_states()[0];
    ia32e.state.cr0 &= !(1 << 31);
    // svm-cs-l-d-legacy: CS.L = CS.D = 1 in 32-bit protected mode.
    let mut legacy = valid_svm_states()[2];
    legacy.state.segments[SegReg::Cs].attributes.l = true;
    for (target, case, row) in [
        (Target::Vmx, ia32e, "vmx-ia32e-pg"),
        (Target::Svm, legacy, "svm-cs-l-d-legacy"),
    ] {
        let o = machine(target).run(&[case]).unwrap();
        let v = verdict(target, &case);
        assert_ne!(v.accepted, o[0].accepted, "{row} no longer reproduces");
        assert_eq!(
            conformance::explain(&table, target, &case, &v, &o[0]),
            Some(vec![row.to_string()]),
            "{row}"
        );
    }
}

#[test]
fn every_row_of_the_table_has_its_section() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/conformance/bochs.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let rows = doc();
    assert!(rows.len() >= 2);
    for r in rows {
        assert!(
            text.contains(&format!("### {}:", r.id)),
            "no section for {}",
            r.id
        );
        assert!(!valid_states(r.target).is_empty());
    }
}
