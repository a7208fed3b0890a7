//! A failed Intel entry of a vCPU QEMU printed in SMM with IF clear: the note that
//! names the two VMCS event checks such a state fails, over real pasted dumps.

mod corpus_common;

/// Each state's notes, the judgement's after the dump's.
fn notes(name: &str) -> Vec<Vec<String>> {
    corpus_common::judged(name)
        .iter()
        .map(|(d, j)| d.notes.iter().chain(&j.report.notes).cloned().collect())
        .collect()
}

fn smm_note(notes: &[String]) -> Option<&String> {
    notes
        .iter()
        .find(|n| n.starts_with("QEMU printed the vCPU in SMM"))
}

#[test]
fn an_smm_entry_failure_names_the_event_checks_qemu_cannot_show() {
    // OVMF's SMI handler entered with Windows' clock interrupt injected (tianocore/edk2
    // issue 91): QEMU's dump alone, exit reason 33.
    let all = notes("edk2-91-qemu.txt");
    let note = all.iter().find_map(|n| smm_note(n)).expect("the SMM note");
    for part in [
        "at the SMI handler's entry point (EIP 0x8000)",
        "vmx.entry.rflags.if",
        "vmx.entry.intr.sti-if",
        "kvm_intel.dump_invalid_vmcs=1",
    ] {
        assert!(note.contains(part), "{part}: {note}");
    }
}

#[test]
fn the_smm_note_stays_out_where_the_vmcs_shows_the_fields_or_the_host_is_amd() {
    // dump_vmcs beside QEMU's dump shows the interruptibility: the rule itself fails.
    // And AMD's VMRUN has no such check (systemd#35885, VMEXIT_INVALID in SMM).
    for name in ["lkml-2207-tdpmmu.txt", "systemd-35885.txt"] {
        let all = notes(name);
        assert!(!all.is_empty(), "{name}");
        assert!(all.iter().all(|n| smm_note(n).is_none()), "{name}: {all:?}");
    }
}
