//! Every public error type can be `?`-ed into `Box<dyn Error>` and says what was wrong.

use std::error::Error;

use segstate::arch::{Descriptor, PrivilegeLevel, SegReg, Selector};
use segstate::profile::{Chain, Profile, Rule};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn message(f: impl FnOnce() -> Result<()>) -> String {
    match f() {
        Ok(()) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn arch_errors_propagate_and_name_the_value() {
    assert!(message(|| Ok(drop("xs".parse::<SegReg>()?))).contains("`xs`"));
    assert!(message(|| Ok(drop(PrivilegeLevel::try_from(7u8)?))).contains('7'));
    assert!(
        message(|| Ok(drop(Selector::new(
            9000,
            segstate::arch::TableIndicator::Gdt,
            PrivilegeLevel::Ring0
        )?)))
        .contains("9000")
    );
    let attributes = segstate::arch::Attributes::default();
    assert!(
        message(|| Ok(drop(Descriptor::encode(1 << 40, 0, attributes)?))).contains("0x10000000000")
    );
}

#[test]
fn profile_errors_propagate_and_name_the_unknown_name() {
    assert!(message(|| Ok(drop("svm.no-such-rule".parse::<Rule>()?))).contains("svm.no-such-rule"));
    assert!(message(|| Ok(drop(Profile::by_name("kvm-arm")?))).contains("kvm-arm"));
    assert!(message(|| Ok(drop("kvm-svm > nope".parse::<Chain>()?))).contains("nope"));
}

#[test]
fn format_and_reader_errors_propagate() {
    use segstate::format::kvm::KvmSregs;
    assert!(message(|| Ok(drop(KvmSregs::from_bytes(&[0; 3])?))).contains('3'));
    assert!(message(|| Ok(drop(segstate::ingest::read(b"\x00\x02", None)?))).contains("2 bytes"));
    assert!(
        message(|| Ok(drop(segstate::ingest::qemu_migration::walk(
            &b"QEVM\0\0\0\x09"[..]
        )?)))
        .contains("offset")
    );
    assert!(
        message(|| Ok(drop("tar".parse::<segstate::ingest::InputFormat>()?))).contains("`tar`")
    );
    assert!(message(|| Ok(drop(segstate::snapshot::VcpuSnapshot::decode(b"SEGSNAP")?))).len() > 10);
}
