//! A kernel dump and QEMU's dump of one failure differ where KVM writes the VMCS or
//! VMCB other than the guest's view: the merge note says so, over real pastes.

mod corpus_common;

fn differ_notes(name: &str) -> Vec<String> {
    let states = corpus_common::states(name);
    assert_eq!(states.len(), 1, "{name}: one merged state");
    states[0]
        .notes
        .iter()
        .filter(|n| n.contains(" differs between "))
        .cloned()
        .collect()
}

#[test]
fn kvms_own_cr0_and_cr4_bits_are_named_in_the_merge_notes() {
    let intel = differ_notes("kvm-2005-hwerr0-dumpvmcs-ept.txt");
    for (field, says) in [
        ("CR0", "vmx_set_cr0 clears NW/CD and sets NE"),
        ("CR4", "vmx_set_cr4 sets MCE/VMXE"),
    ] {
        let note = intel.iter().find(|n| n.starts_with(field)).expect(field);
        assert!(note.contains(says), "{note}");
    }
    let amd = differ_notes("lkml-1509-svm.txt");
    let cr0 = amd.iter().find(|n| n.starts_with("CR0")).expect("CR0");
    assert!(
        cr0.contains("svm_set_cr0 clears NW/CD and sets WP/PG"),
        "{cr0}"
    );
    // CR4 there differs in bits KVM does not force: no explanation is invented.
    let cr4 = amd.iter().find(|n| n.starts_with("CR4")).expect("CR4");
    assert!(!cr4.contains("KVM forces"), "{cr4}");
}
