//! openvmm's register trace after a triple fault (`trace_fault` in
//! vmm_core/src/partition_unit/vp_set.rs), read by `ingest/text/rust_debug.rs`: the
//! paste of openvmm#1308 (fixtures/dumps/openvmm-1308-triple-fault-trace.txt, cut after
//! CS), and whole traces in the radix each log prints.

use segstate::arch::{CpuMode, PrivilegeLevel, SegReg, ShownMode};
use segstate::check::CheckId;
use segstate::ingest::judge::{Verdict, judge};
use segstate::ingest::log::{Dialect, read_log};

mod corpus_common;
use corpus_common::{noted, states};

#[test]
fn the_pasted_trace_reads_cs_as_a_hyper_v_segment() {
    let d = &states("openvmm-1308-triple-fault-trace.txt")[0];
    assert_eq!(d.dialects, [Dialect::OpenvmmTrace]);
    assert_eq!(d.line, 6, "the rip line, after the comment's two lines");
    let cs = d.guest.segments[SegReg::Cs].expect("CS");
    assert_eq!((cs.selector.0, cs.limit), (0x38, 0xffff_ffff));
    assert!(cs.attributes.l && cs.attributes.g && cs.attributes.present);
    assert_eq!(
        (d.guest.rip, d.guest.rflags),
        (Some(0x66af_0c34), Some(0x10206))
    );
    assert_eq!(d.guest.segments[SegReg::Ds], None);
    noted(
        &d.notes,
        "line 7: the ds segment is cut short",
        &["attributes"],
    );
    noted(
        &d.notes,
        "line 6: numbers without `0x`",
        &["openvmm's trace"],
    );
}

/// A whole trace as the two `tracing::error!` calls print it, hex as OpenHCL's kmsg
/// shows it: a 64-bit user state whose SS is a null selector with DPL 3.
fn trace(ss: &str) -> String {
    format!(
        "[kmsg]: [2.167828] vmm_core::partition_unit::vp_set: ERROR  vp=0 vtl=Vtl0 rax=0x1 \
         rcx=0x72e rdx=0x0 rbx=0x0 rsp=0x7ffe0000 rbp=0x0 rsi=0x0 rdi=0x0 r8=0x0 r9=0x0 \
         r10=0x0 r11=0x246 r12=0x0 r13=0x0 r14=0x0 r15=0x0 rip=0x7ff612341000 \
         rflags=0x10246 triple fault register state\n\
         [kmsg]: [2.168161] vmm_core::partition_unit::vp_set: ERROR  vtl=Vtl0 vp=0 \
         cs=SegmentRegister {{ base: 0, limit: ffffffff, selector: 33, attributes: a0fb }} \
         ds=SegmentRegister {{ base: 0, limit: ffffffff, selector: 2b, attributes: c0f3 }} \
         es=SegmentRegister {{ base: 0, limit: ffffffff, selector: 2b, attributes: c0f3 }} \
         fs=SegmentRegister {{ base: 0, limit: 3c00, selector: 53, attributes: 40f3 }} \
         gs=SegmentRegister {{ base: 0, limit: ffffffff, selector: 2b, attributes: c0f3 }} \
         ss={ss} \
         tr=SegmentRegister {{ base: fffff80000001000, limit: 67, selector: 40, attributes: 8b }} \
         ldtr=SegmentRegister {{ base: 0, limit: 0, selector: 0, attributes: 0 }} \
         gdtr=TableRegister {{ base: fffff80000000000, limit: 57 }} \
         idtr=TableRegister {{ base: fffff80000002000, limit: fff }} cr0=0x80050033 \
         cr2=0x0 cr3=0x1ad000 cr4=0x350ef8 cr8=0x0 efer=0xd01 triple fault system register \
         state\n"
    )
}

#[test]
fn a_whole_trace_reads_every_register_and_its_cpl() {
    let text =
        trace("SegmentRegister { base: 0, limit: ffffffff, selector: 2b, attributes: c0f3 }");
    let all = read_log(&text);
    assert_eq!(all.len(), 1);
    let d = &all[0];
    assert_eq!(d.dialects, [Dialect::OpenvmmTrace]);
    assert!(
        SegReg::ALL.iter().all(|r| d.guest.segments[*r].is_some()),
        "{:?}",
        d.notes
    );
    assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring3));
    assert!(d.guest.segments[SegReg::Ldtr].is_some_and(|l| !l.is_usable()));
    assert_eq!(
        d.guest.gdtr.map(|t| (t.base, t.limit)),
        Some((0xffff_f800_0000_0000, 0x57))
    );
    assert_eq!(
        (d.guest.cr0, d.guest.efer, d.guest.rip),
        (Some(0x8005_0033), Some(0xd01), Some(0x7ff6_1234_1000))
    );
    assert!(
        matches!(d.mode(), Ok(ShownMode::Decided(CpuMode::Long64))),
        "{:?}",
        d.mode()
    );
    assert!(
        matches!(judge(d, None).verdict, Verdict::Passes),
        "{}",
        judge(d, None).verdict
    );
}

/// An SS whose DPL disagrees with CS's under a DPL-3 code segment: the CPL is SS.DPL,
/// and the CS rule names it.
#[test]
fn a_kernel_ss_under_user_cs_fails() {
    let text =
        trace("SegmentRegister { base: 0, limit: ffffffff, selector: 18, attributes: c093 }");
    let d = &read_log(&text)[0];
    assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring0));
    let j = judge(d, None);
    match &j.verdict {
        Verdict::Fails { finding, .. } => assert!(
            matches!(
                finding.id,
                CheckId::ArchCsDplCpl | CheckId::VmxEntryCsDplNonconforming
            ),
            "{}",
            j.verdict
        ),
        other => panic!("{other}"),
    }
}
