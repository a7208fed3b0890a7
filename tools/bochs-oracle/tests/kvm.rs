//! Live KVM_SET_SREGS runs: the valid states are accepted, states the upstream rules
//! refuse get EINVAL, and each host observation in docs/conformance/bochs.md still
//! holds on a `kvm_pvm` host (elsewhere it is not asserted). Skipped without
//! /dev/kvm; `SEGSTATE_REQUIRE_KVM=1` makes that a failure.

use std::path::Path;

use bochs_oracle::case::{Oracle, Target};
use bochs_oracle::conformance;
use bochs_oracle::generate::valid_kvm_states;
use bochs_oracle::kvm::SregsProbe;
use bochs_oracle::verdict::verdict;
use segstate::arch::SegReg;

fn probe() -> Option<SregsProbe> {
    if !Path::new("/dev/kvm").exists() {
        assert!(
            std::env::var_os("SEGSTATE_REQUIRE_KVM").is_none(),
            "SEGSTATE_REQUIRE_KVM is set but /dev/kvm is missing"
        );
        eprintln!("skipped: no /dev/kvm");
        return None;
    }
    Some(SregsProbe::new().unwrap())
}

#[test]
fn valid_states_are_set_and_upstream_refusals_get_einval() {
    let Some(p) = probe() else { return };
    let target = Target::KvmSetSregs(p.cr4);
    let kernel = valid_kvm_states()[0];
    let mut no_pae = kernel;
    no_pae.state.cr4 = 0;
    let mut cs_l_legacy = valid_kvm_states()[2];
    cs_l_legacy.state.segments[SegReg::Cs].attributes.l = true;
    let mut nw = kernel;
    nw.state.cr0 |= 1 << 29;
    let mut smxe = kernel;
    smxe.state.cr4 |= 1 << 14;
    let mut cases = valid_kvm_states();
    let n = cases.len();
    cases.extend([no_pae, cs_l_legacy, nw, smxe]);
    let out = p.run(&cases).unwrap();
    for (c, o) in cases.iter().zip(&out) {
        assert_eq!(verdict(target, c).accepted, o.accepted, "{c:?}: {o:?}");
    }
    assert!(out[..n].iter().all(|o| o.accepted));
    assert!(out[n..].iter().all(|o| !o.accepted && o.code == "EINVAL"));
}

#[test]
fn host_observations_hold_on_kvm_pvm() {
    let Some(p) = probe() else { return };
    if p.host.backend() != "kvm_pvm" {
        eprintln!(
            "not kvm_pvm ({}): the observations are about that backend",
            p.host
        );
        return;
    }
    let target = Target::KvmSetSregs(p.cr4);
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/conformance/bochs.md");
    let table = conformance::load(&doc).unwrap();
    let mut pke = valid_kvm_states()[4];
    pke.state.cr4 = 1 << 22;
    let mut la57 = valid_kvm_states()[0];
    la57.state.cr4 |= 1 << 12;
    for (case, row) in [
        (pke, "host-kvm-pvm-cr4-host-features"),
        (la57, "host-kvm-pvm-cr4-la57"),
    ] {
        let o = p.run(&[case]).unwrap();
        let v = verdict(target, &case);
        assert_ne!(v.accepted, o[0].accepted, "{row} no longer holds");
        assert_eq!(
            conformance::explain(&table, target, &case, &v, &o[0]),
            Some(vec![row.to_string()])
        );
    }
}
