//! The ops chains compile to, pinned: the chain's IR is crate-internal, so what a
//! chain's text turns into is asserted here rather than through the public API.

use alloc::vec::Vec;

use super::{Chain, Op, Profile, StackOp};

fn ops(text: &str) -> Vec<Op> {
    let chain: Chain = text.parse().unwrap();
    chain.ops().to_vec()
}

/// Each KVM step is a get or a set by where the chain goes next; each QEMU sync
/// between two KVM steps is one get_seg and one set_seg.
#[test]
fn kvm_qemu_chain_ops_in_order() {
    let svm = Profile::KVM_SVM.rules;
    let vmx = Profile::KVM_VMX.rules;
    let q = Profile::QEMU.rules;
    let sync = [Op::QemuGet(q), Op::QemuSet(q)];
    let expected = [
        &[Op::SvmGet(svm)][..],
        &sync,
        &[Op::VmxSet(vmx), Op::VmxGet(vmx)],
        &sync,
        &[Op::SvmSet(svm)],
    ]
    .concat();
    assert_eq!(ops("kvm-svm > qemu > kvm-vmx > qemu > kvm-svm"), expected);
}

/// Two QEMU steps in a row are a migration stream: the hooks run between them.
#[test]
fn two_qemu_steps_compile_to_a_migration() {
    let q = Profile::QEMU.rules;
    assert!(
        ops("kvm-vmx > qemu > qemu > kvm-vmx").contains(&Op::QemuMigrate(q, q)),
        "{:?}",
        ops("kvm-vmx > qemu > qemu > kvm-vmx")
    );
}

/// A bhyve VMM between two descriptor-API steps carries the segment in bhyve's model;
/// crosvm's HAXM backend writes the VMCS from crosvm's own model.
#[test]
fn stack_chains_compile_to_their_paths() {
    let r = Profile::ILLUMOS_BHYVE_SVM.rules;
    let p = Profile::PROPOLIS.rules;
    assert_eq!(
        ops("illumos-bhyve-svm > propolis > illumos-bhyve-svm"),
        [
            Op::Stack(StackOp::BhyveSvmGet(r)),
            Op::Stack(StackOp::BhyveCarry(p)),
            Op::Stack(StackOp::BhyveSvmSet(r)),
        ]
    );
    let (vmx, crosvm, haxm) = (
        Profile::KVM_VMX.rules,
        Profile::CROSVM.rules,
        Profile::CROSVM_HAXM.rules,
    );
    assert_eq!(
        ops("kvm-vmx > crosvm > crosvm-haxm"),
        [
            Op::VmxGet(vmx),
            Op::Stack(StackOp::CrosvmFromKvm(crosvm)),
            Op::Stack(StackOp::CrosvmToHaxm(haxm)),
        ]
    );
}
