//! Sweep 14's misreadings of real pastes (`fixtures/dumps/`, each with its sidecar):
//! what each reads to now, beyond its row in `dump_corpus/table.rs`.

use segstate::arch::{CpuMode, PrivilegeLevel, SegReg, Selector, ShownMode};
use segstate::ingest::exit::{Exit, ExitClass, TripleFaultReport};
use segstate::ingest::judge::Verdict;
use segstate::ingest::log::{Dialect, Target};

mod corpus_common;
use corpus_common::{judged, noted};

/// hyperlight#168: hyperlight's error after an unexpected WHP exit, each register as
/// `WHV_REGISTER_NAME(n) - 0x<high 64> <low 64>`. It read to "no CPU state dump found";
/// the exit line is read as WHP's reason 0x2001 (Canceled) and the listing as a state.
#[test]
fn hyperlight_s_whp_listing_is_read() {
    let all = judged("hyperlight-168-whp-registers.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::WhpRegisters]);
    assert_eq!(d.exits, [(4, Exit::Whp { reason: 0x2001 })]);
    assert_eq!(j.verdict, Verdict::NotGuestState(ExitClass::NotAFailure));
    // CS: WHV_X64_SEGMENT_REGISTER's high half 0xA09B0008FFFFFFFF, base 0 in the low.
    let cs = d.guest.segments[SegReg::Cs].expect("CS");
    assert_eq!(cs.selector, Selector(8));
    assert_eq!((cs.base, cs.limit), (0, 0xffff_ffff));
    assert_eq!(cs.attributes.segment_type.bits(), 0xb);
    assert_eq!(cs.attributes.dpl, PrivilegeLevel::Ring0);
    assert!(cs.attributes.l && !cs.attributes.db && cs.attributes.g);
    assert!(!cs.unusable);
    // The registers by their WinHvPlatformDefs.h numbers: 28 CR0, 30 CR3, 31 CR4,
    // 8193 EFER, 16 RIP, 17 RFLAGS; 1, 2, 4 and 8 (RCX, RDX, RSP, R8) passed over.
    assert_eq!(d.guest.cr0, Some(0x8005_0033));
    assert_eq!(d.guest.cr3, Some(0x20_0000));
    assert_eq!(d.guest.cr4, Some(0x620));
    assert_eq!(d.guest.efer, Some(0x500));
    assert_eq!(d.guest.rip, Some(0x20_45ab));
    assert_eq!(d.guest.rflags, Some(0x97));
    assert!(matches!(d.mode(), Ok(ShownMode::Decided(CpuMode::Long64))));
}

/// The same listing has CS and no SS: WHP's CPL is SS.DPL, so it stays unknown, and
/// the rules that compare CS with the CPL are named as not judged rather than taken
/// from CS.
#[test]
fn without_ss_the_cpl_is_unknown_and_cs_against_it_not_judged() {
    let (d, j) = &judged("hyperlight-168-whp-registers.txt")[0];
    assert_eq!(d.guest.cpl, None);
    for r in SegReg::ALL.into_iter().filter(|r| *r != SegReg::Cs) {
        assert!(d.guest.segments[r].is_none(), "{r:?}");
    }
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
    let not_judged = &j.not_judged;
    assert!(
        not_judged.iter().any(|x| x.contains("arch.cs.dpl-cpl")),
        "{not_judged:?}"
    );
}

/// microsandbox#1095: the exit line and a patched build's `NAME=0x…` words with the
/// exit context's `ExecState=0x005c`. It read as a "Linux dump_vmcs" judged for Intel,
/// CR0 and CR4 lost; it reads as a WHP printout, the CPL from ExecState, both vendors.
#[test]
fn microsandbox_s_exec_state_words_are_a_whp_state_not_a_dump_vmcs() {
    let all = judged("microsandbox-1095-whp-exec-state.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert_eq!(d.dialects, [Dialect::WhpRegisters]);
    assert_eq!(d.target, Target::Unknown);
    assert_eq!(d.exits, [(3, Exit::Whp { reason: 4 })]);
    assert_eq!(
        j.verdict,
        Verdict::NotGuestState(ExitClass::WhpUnrecoverableException)
    );
    assert_eq!(d.guest.cr0, Some(0x8005_0033));
    assert_eq!(d.guest.cr3, Some(0));
    assert_eq!(d.guest.cr4, Some(0xb0));
    assert_eq!(d.guest.efer, Some(0xd01));
    assert_eq!(d.guest.rip, Some(0xffff_ffff_8101_96dc));
    assert_eq!(d.guest.rflags, Some(0x46));
    // WHV_X64_VP_EXECUTION_STATE 0x5c: CPL 0 (bits 1:0), PE, AM, LMA, InterruptionPending.
    assert_eq!(d.guest.cpl, Some(PrivilegeLevel::Ring0));
    noted(
        &d.notes,
        "line 6: ExecState=0x005c",
        &[
            "CPL 0, CR0.PE 1, CR0.AM 1, EFER.LMA 1",
            "InterruptionPending 1",
        ],
    );
    assert!(!d.notes.iter().any(|n| n.contains("not taken at one exit")));
    assert_eq!(j.report.errors(), 0, "{:?}", j.report.ids());
}

/// docker/for-mac#1345: hyperkit's `vm exit[0]` report in macOS's console log, each
/// line behind `Feb 27 10:22:15 MacBook-Pro-2 Docker[92529]: `, other threads' lines
/// interleaved. It read to nothing; the report now opens and its exit reason is read.
#[test]
fn a_hyperkit_report_behind_syslog_prefixes_is_read() {
    let all = judged("docker-for-mac-1345-hyperkit-syslog.txt");
    assert_eq!(all.len(), 1);
    let (d, j) = &all[0];
    assert!(d.dialects.is_empty());
    assert_eq!(
        d.exits,
        [(
            13,
            Exit::VmxExitReason {
                reason: 2,
                qualification: None,
            }
        )]
    );
    assert_eq!(d.target, Target::Intel);
    assert_eq!(
        j.verdict,
        Verdict::NoState(Some(ExitClass::TripleFault {
            vector: None,
            by: TripleFaultReport::VmxExit,
        }))
    );
}
