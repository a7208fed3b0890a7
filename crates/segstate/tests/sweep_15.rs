//! Sweep 15's misreadings of real pastes (`fixtures/dumps/`, each with its sidecar):
//! what each reads to now, beyond its row in `dump_corpus/table.rs`.

use segstate::ingest::exit::{Exit, ExitClass, TripleFaultReport};
use segstate::ingest::judge::Verdict;
use segstate::ingest::log::{Dialect, Target};

mod corpus_common;
use corpus_common::{judged, noted};

/// PureDarwin#49: Xen 4.7's `d36v0 Triple fault - invoking HVM shutdown action 1`, then
/// `vcpu_show_execution_state`'s dump of the vCPU. The dump was judged with no exit
/// ("no check fails"); the first line is now Xen's triple-fault report, and the state
/// is one the guest ran into a triple fault from, not a failed VM entry.
#[test]
fn xen_s_triple_fault_line_is_the_dump_s_exit() {
    let all = judged("puredarwin-49-xen-triple.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::XenRegisters]);
    let xen = TripleFaultReport::Xen;
    assert_eq!(
        d.exits,
        [(
            1,
            Exit::TripleFault {
                vector: None,
                by: xen,
            }
        )]
    );
    assert_eq!(
        j.verdict,
        Verdict::NotGuestState(ExitClass::TripleFault {
            vector: None,
            by: xen,
        })
    );
    // Nothing in the log names the hardware: an HVM guest on Intel or AMD.
    assert_eq!(d.target, Target::Unknown);
    // The registers `show_registers` prints for an HVM vCPU; selectors only: no segment
    // is read. The RIP line's CS 0008 gives the CPL: protected mode, RFLAGS.VM clear.
    corpus_common::xen_registers_only(
        d,
        [
            0xffff_ff80_0031_93c3,
            0x10086,
            0x8001_0011,
            0x15b_b000,
            0x20,
        ],
        Some(segstate::arch::Cpl::Ring0),
    );
    noted(
        &d.notes,
        "Xen's register dump shows selectors only",
        &["CS 0008", "DS 0000"],
    );
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
}

/// twizzler-public#1: a VBox.log part holding VirtualBox's `Host CPUM state` alone, the
/// host's registers in WinDbg's layout. It was refused as "a Windows debugger's register
/// display"; it is refused as VirtualBox's host state, whole or streamed.
#[test]
fn virtualbox_s_host_state_is_refused_as_the_host_s() {
    for e in corpus_common::refusals("not-a-dump/twizzler-public-1-vbox-host-cpum.txt") {
        assert!(
            e.contains("line 9: VirtualBox's `Host CPUM state` (cpumR3InfoHost)"),
            "{e}"
        );
        assert!(e.contains("not the guest's"), "{e}");
        assert!(e.contains("`Guest CPUM (VCPU n) state:`"), "{e}");
        assert!(!e.contains("Windows debugger"), "{e}");
    }
}

/// qubes-mirage-firewall#96: Xen's `domain_crash_sync called from entry.S: fault at …`
/// and its register block of a PV guest. It was refused as "no CPU state dump found …
/// and no VM exit line"; the line is now Xen's crash of the domain, read with no vendor,
/// and the PV guest's block is still no state (a PV guest has no VM entry).
#[test]
fn xen_s_domain_crash_sync_is_the_exit_of_a_pv_guest_s_crash() {
    let all = judged("qubes-mirage-firewall-96-pv-crash-sync.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert!(d.dialects.is_empty(), "{:?}", d.dialects);
    assert_eq!(
        d.exits,
        [(
            7,
            Exit::XenDomainCrash {
                vendor: None,
                entry: false,
            }
        )]
    );
    assert_eq!(d.target, Target::Unknown);
    assert_eq!(j.verdict, Verdict::NoState(Some(ExitClass::XenDomainCrash)));
    // The PV block's registers are not taken for a guest state.
    assert_eq!((d.guest.cr0, d.guest.rip), (None, None));
}

/// QubesOS/qubes-issues#6029: Xen's `MMIO emulation failed` and `d29v0 Triple fault -
/// invoking HVM shutdown action 1`, no register dump after them. It was refused as "no
/// CPU state dump found … and no VM exit line"; line 3 is now Xen's triple-fault report,
/// with no state to judge (line 2, the emulation failure, is read since sweep 16: see
/// sweep_16.rs).
#[test]
fn xen_s_triple_fault_line_alone_is_read() {
    let all = judged("qubes-issues-6029-xen-mmio-triple.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    let tf = ExitClass::TripleFault {
        vector: None,
        by: TripleFaultReport::Xen,
    };
    let (line, exit) = d.exits.last().expect("the triple fault");
    assert_eq!(*line, 3);
    assert_eq!(exit.class(), tf);
    assert_eq!(d.exit().map(|e| e.class()), Some(tf));
    assert_eq!(j.verdict, Verdict::NoState(Some(tf)));
}

/// Dasharo/dasharo-issues#488: Xen's `show_registers` of Xen itself (`CONTEXT:
/// hypervisor (d0v0)`) after a crash of its scheduler. It was refused as "no CPU state
/// dump found"; the refusal names Xen's dump and its context, whole or streamed.
#[test]
fn xen_s_own_register_dump_is_refused_as_no_guest_s() {
    for e in corpus_common::refusals("not-a-dump/dasharo-issues-488-xen-hypervisor.txt") {
        assert!(
            e.contains(
                "line 4: Xen's register dump (`show_registers`) with `CONTEXT: hypervisor \
                 (d0v0)`: Xen's own registers"
            ),
            "{e}"
        );
        assert!(e.contains("not an HVM guest's state"), "{e}");
        assert!(!e.contains("no CPU state dump found"), "{e}");
    }
}
