//! OpenDCDiag's KVM register dump (`ingest/text/opendcdiag.rs`): the paste its pull
//! request quotes (fixtures/dumps/opendcdiag-465-register-dump.txt, cut after GS), and
//! the failure its own KVM workaround names (`kvm_generic_workaround_kernel_cache_bug`
//! in framework/sysdeps/linux/kvm.c: exit reason 0x80000021 with SS.S = 0) as its YAML
//! report holds it.

use segstate::arch::{PrivilegeLevel, SegReg};
use segstate::check::CheckId;
use segstate::ingest::judge::{Verdict, judge};
use segstate::ingest::log::{Dialect, Target, read_log};

mod corpus_common;
use corpus_common::{noted, states};

#[test]
fn the_quoted_dump_reads_its_five_segments_and_says_what_it_lacks() {
    let d = &states("opendcdiag-465-register-dump.txt")[0];
    assert_eq!(d.dialects, [Dialect::KvmSregsPrint]);
    let cs = d.guest.segments[SegReg::Cs].expect("CS");
    assert!(cs.attributes.l && cs.attributes.segment_type.is_code());
    assert_eq!(d.guest.segments[SegReg::Fs].map(|s| s.limit), Some(0xffff));
    assert_eq!((d.guest.segments[SegReg::Ss], d.guest.cpl), (None, None));
    assert_eq!(d.guest.rip, Some(0x30_0006));
    noted(
        &d.notes,
        "OpenDCDiag's register dump prints no AVL",
        &["no TR"],
    );
}

/// The report OpenDCDiag writes for a KVM_EXIT_FAIL_ENTRY: the error line, then the
/// register dump, each a YAML scalar indented under its list item.
const FAIL_ENTRY: &str = "\
  - level: error
    text: 'E> KVM exit reason: KVM_EXIT_FAIL_ENTRY, Hardware entry exit reason: 0x80000021, cpu:1'
  - level: info
    text: |1
     I> Register dump:
     rax = 0x0000000000000001 rbx = 0x0000000000000000 rcx = 0x0000000000000000 rdx = 0x0000000000000600
     rsi = 0x0000000000000000 rdi = 0x0000000000000000 rsp = 0x00000000005ff000 rbp = 0x00000000005ff000
     r8  = 0x0000000000000000 r9  = 0x0000000000000000 rcx = 0x0000000000000000 r11 = 0x0000000000000000
     r12 = 0x0000000000000000 r13 = 0x0000000000000000 r14 = 0x0000000000000000 r15 = 0x0000000000000000
     rip = 0x0000000000300006 rflags = 0x0000000000000002 []
     cs  = 0x0008 base = 0x000000000000 limit = 0x000fffff s=1 type=R-Xa dpl=0 db=0 g=1 l=1 present
     ds  = 0x0010 base = 0x000000000000 limit = 0x000fffff s=1 type=RW-a dpl=0 db=1 g=1 l=0 present
     es  = 0x0010 base = 0x000000000000 limit = 0x000fffff s=1 type=RW-a dpl=0 db=1 g=1 l=0 present
     fs  = 0x0000 base = 0x000000000000 limit = 0x0000ffff s=1 type=RW-a dpl=0 db=0 g=0 l=0 present
     gs  = 0x0000 base = 0x000000000000 limit = 0x0000ffff s=1 type=RW-a dpl=0 db=0 g=0 l=0 present
     ss  = 0x0000 base = 0x000000000000 limit = 0x0000ffff s=0 type=0x3 dpl=0 db=0 g=0 l=0 present
     cr0 = 0x80000011 cr2 = 0 cr3 = 0x0000000000201000 cr4 = 0x00000220 efer = 0x500 xcr0 = 0x000007
     gdt: base = 0x0000000000200000 limit = 0x0017
     ldt: base = 0x0000000000000000 limit = 0xffff
";

#[test]
fn the_stale_ss_its_workaround_names_fails_vm_entry_on_intel() {
    let all = read_log(FAIL_ENTRY);
    assert_eq!(all.len(), 1);
    let d = &all[0];
    assert_eq!(d.target, Target::Intel, "the 0x80000021 exit is VMX's");
    assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring0));
    assert_eq!(
        (d.guest.cr0, d.guest.efer),
        (Some(0x8000_0011), Some(0x500))
    );
    assert_eq!(d.guest.gdtr.map(|t| t.limit), Some(0x17));
    let j = judge(d, None);
    match &j.verdict {
        Verdict::Fails { finding, .. } => {
            assert_eq!(finding.id, CheckId::VmxEntryS, "{}", j.verdict)
        }
        other => panic!("{other}"),
    }
    // With SS as a real data segment the same dump passes.
    let fixed = FAIL_ENTRY.replace("s=0 type=0x3", "s=1 type=RW-a");
    let d = &read_log(&fixed)[0];
    assert!(
        matches!(judge(d, None).verdict, Verdict::Outside { .. }),
        "{}",
        judge(d, None).verdict
    );
}
