//! Every public error type can be `?`-ed into `Box<dyn Error>` and says what was wrong.

use std::error::Error;

use segstate::arch::{Descriptor, PrivilegeLevel, SegReg, Selector};
use segstate::profile::{Chain, Profile, Rule};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn message<T>(f: impl FnOnce() -> Result<T>) -> String {
    match f() {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn arch_errors_propagate_and_name_the_value() {
    assert!(message(|| Ok::<_, Box<dyn Error>>("xs".parse::<SegReg>()?)).contains("`xs`"));
    assert!(message(|| Ok::<_, Box<dyn Error>>(PrivilegeLevel::try_from(7u8)?)).contains('7'));
    assert!(
        message(|| Ok::<_, Box<dyn Error>>(Selector::new(
            9000,
            segstate::arch::TableIndicator::Gdt,
            PrivilegeLevel::Ring0
        )?))
        .contains("9000")
    );
    let attributes = segstate::arch::Attributes::default();
    assert!(
        message(|| Ok::<_, Box<dyn Error>>(Descriptor::encode(1 << 40, 0, attributes)?))
            .contains("0x10000000000")
    );
}

#[test]
fn profile_errors_propagate_and_name_the_unknown_name() {
    assert!(
        message(|| Ok::<_, Box<dyn Error>>("svm.no-such-rule".parse::<Rule>()?))
            .contains("svm.no-such-rule")
    );
    assert!(message(|| Ok::<_, Box<dyn Error>>(Profile::by_name("kvm-arm")?)).contains("kvm-arm"));
    assert!(
        message(|| Ok::<_, Box<dyn Error>>("kvm-svm > nope".parse::<Chain>()?)).contains("nope")
    );
}

#[test]
fn format_and_reader_errors_propagate() {
    use segstate::format::kvm::KvmSregs;
    assert!(message(|| Ok::<_, Box<dyn Error>>(KvmSregs::from_bytes(&[0; 3])?)).contains('3'));
    assert!(
        message(|| Ok::<_, Box<dyn Error>>(segstate::ingest::read(b"\x00\x02", None)?))
            .contains("2 bytes")
    );
    assert!(
        message(
            || Ok::<_, Box<dyn Error>>(segstate::ingest::qemu_migration::walk(
                &b"QEVM\0\0\0\x09"[..]
            )?)
        )
        .contains("offset")
    );
    assert!(
        message(|| Ok::<_, Box<dyn Error>>("tar".parse::<segstate::ingest::InputFormat>()?))
            .contains("`tar`")
    );
    assert!(
        message(|| Ok::<_, Box<dyn Error>>(segstate::snapshot::VcpuSnapshot::decode(b"SEGSNAP")?))
            .len()
            > 10
    );
}
