//! What every live test file shares: the policy for a machine without `/dev/kvm`.

/// True when the live tests can run. Without `/dev/kvm` a test prints a skip line and
/// passes, unless `SEGSTATE_REQUIRE_KVM=1` (CI on a machine that has KVM), where a
/// missing KVM is a failure.
pub fn kvm_present(test: &str) -> bool {
    if std::path::Path::new("/dev/kvm").exists() {
        return true;
    }
    if std::env::var("SEGSTATE_REQUIRE_KVM").as_deref() == Ok("1") {
        panic!("{test}: /dev/kvm is absent and SEGSTATE_REQUIRE_KVM=1");
    }
    println!("skipping {test}: /dev/kvm not present");
    false
}
