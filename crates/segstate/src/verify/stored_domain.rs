//! A chain's last step written to memory in its own form (`profile::qemu`'s
//! `set_seg_stored`, a QEMU `SegmentCache` written into a batch or a vCPU as a
//! `kvm_segment`) held to the interpreter over verify's whole `kvm_sregs` domain.

use super::Workspace;
use super::domain;
use crate::profile::Format;
use crate::profile::qemu::STORED_RUNS;
use crate::profile::{Chain, SegmentValue};
use crate::testing::counted;

/// `qemu` (`kvm_sregs` through QEMU's get_seg and set_seg), and it with each of its
/// rules switched off: `run_batch` over every state of the `kvm_sregs` domain, each
/// register's states one batch, gives what the interpreted ops give, every value
/// through the stored form (so a pipeline that stopped taking it fails here).
#[test]
fn stored_form_equals_interpreted_over_the_kvm_domain() {
    let base: Chain = "qemu".parse().expect("parses");
    let ws = Workspace::new(Format::Kvm);
    let states = ws.states();
    let previous = domain::previous_caches();
    let variants = base.rules().iter().map(|rule| base.without(rule));
    for chain in variants.chain(core::iter::once(base.clone())) {
        for reg in crate::arch::SegReg::ALL {
            let of_reg: Vec<_> = states.iter().filter(|s| s.reg == reg).collect();
            let mut batch: Vec<_> = of_reg.iter().map(|s| s.input).collect();
            assert!(matches!(batch[0].value, SegmentValue::Kvm(_)));
            let (done, runs) = counted(&STORED_RUNS, || {
                chain.run_batch(reg, &mut batch, &previous[reg])
            });
            done.expect("kvm_sregs");
            assert_eq!(runs, batch.len(), "{chain}: {reg:?}");
            for (state, out) in of_reg.iter().zip(&batch) {
                let reference = chain.interpret(reg, state.input, &previous[reg]);
                assert_eq!(*out, reference, "{chain}: {reg:?} {:?}", state.input);
            }
        }
    }
}
