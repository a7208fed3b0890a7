//! A Linux `dump_vmcs` pasted in part: its `VMCS %p, last attempted VM-entry on CPU %d`
//! header (arch/x86/kvm/vmx/vmx.c `dump_vmcs`, since 5.14) opens the dump, and the
//! lines the poster kept after `... ...` elisions are its fields.

use segstate::check::CheckId;
use segstate::ingest::exit::Exit;
use segstate::ingest::judge::{Verdict, judge};
use segstate::ingest::log::Dialect;

mod corpus_common;
use corpus_common::states;

/// `lkml-2401-smm-intshadow-elided`: the header, `RFLAGS=0x00000002` and
/// `Interruptibility = 00000009`, each after a `... ...`, read as one dump from the
/// header's line; RFLAGS.IF = 0 with blocking by STI fails `vmx.entry.intr.sti-if`
/// (SDM Vol. 3C §27.3.1.5), the failure the thread's fix (fb28875fd7da) removes.
#[test]
fn the_header_opens_the_dump_and_the_elided_lines_are_its() {
    let all = states("lkml-2401-smm-intshadow-elided.txt");
    assert_eq!(all.len(), 1);
    let d = &all[0];
    assert_eq!(d.line, 20, "the header's line");
    assert_eq!(d.dialects, [Dialect::LinuxVmcs]);
    assert_eq!(d.guest.rflags, Some(0x2));
    assert_eq!(d.guest.dr7, Some(0x400));
    assert_eq!(d.guest.interruptibility, Some(0x9));
    // The selftest's assertion names what KVM_RUN returned: KVM_EXIT_FAIL_ENTRY (9).
    assert_eq!(d.exits, [(14, Exit::KvmRun { code: 9 })]);
    let j = judge(d, None);
    let Verdict::Fails { finding, .. } = &j.verdict else {
        panic!("{}", j.verdict);
    };
    assert_eq!(finding.id, CheckId::VmxEntryIntrStiIf, "{}", j.verdict);
}
