//! Every check rule, one state that makes it fire and one closely related state that
//! keeps it quiet; and a meta-test that the ids the code emits are exactly the ids the
//! catalogue lists (`CheckId::ALL`), each covered here.

use std::collections::BTreeSet;

mod configurations;
mod guest_cases;
use guest_cases::{GuestHow, guest_findings};

use segstate::arch::SegmentState;
use segstate::arch::{
    Attributes, CR0_PE, CR0_PG, EFER_LMA, EFER_LME, PrivilegeLevel, RFLAGS_VM, SegReg, Segment,
    SegmentType, Selector,
};
use segstate::check::kvm_set_sregs::{self, Cr4Allowed};
use segstate::check::report::{self, Vendors};
use segstate::check::vmx_entry::VmxEntryControls;
use segstate::check::{CheckId, Finding, Severity, arch, svm_vmrun, vmx_entry};
use segstate::ingest::qemu_dump;
use segstate::profile::Chain;
use segstate::verify::{baseline, sysret_state};

const R0: PrivilegeLevel = PrivilegeLevel::Ring0;
const R3: PrivilegeLevel = PrivilegeLevel::Ring3;

/// How a case is judged.
#[derive(Clone, Copy)]
enum How {
    Arch,
    /// VM entry; `true` = unrestricted guest (KVM's default), `false` = without.
    Vmx(bool),
    /// VM entry with both controls given: unrestricted guest, IA-32e mode guest.
    VmxIa32e(bool, bool),
    Svm,
    /// KVM_SET_SREGS acceptance, a vCPU with every CR4 feature.
    KvmSetSregs,
    Report(Vendors),
    /// Path findings through one chain given as text.
    Chain(&'static str, Vendors),
    /// QEMU dump checks on a dump text.
    Dump,
    /// The raw VMCB CPL byte.
    CplByte,
    /// The guest-state rules beyond the segments, on a whole guest state.
    Guest(GuestHow),
    /// The architectural rules that read RIP, on a whole guest state.
    ArchRip,
}

struct Case {
    id: CheckId,
    how: How,
    fire: State,
    quiet: State,
}

#[allow(clippy::large_enum_variant)]
enum State {
    S(SegmentState),
    Text(String),
    /// A raw VMCB CPL byte.
    CplByte(u8),
    /// A guest state with fields beyond the segments.
    G(segstate::arch::GuestState),
}

fn k0() -> SegmentState {
    baseline(R0)
}

fn k3() -> SegmentState {
    baseline(R3)
}

fn with(mut s: SegmentState, f: impl FnOnce(&mut SegmentState)) -> SegmentState {
    f(&mut s);
    s
}

fn seg(s: &mut SegmentState, reg: SegReg) -> &mut Segment {
    &mut s.segments[reg]
}

fn ty(raw: u8) -> SegmentType {
    SegmentType::new(raw).unwrap()
}

/// 32-bit protected mode, flat, CPL 0, no paging.
fn pm32() -> SegmentState {
    with(k0(), |s| {
        s.cr0 = CR0_PE | 1 << 4;
        s.cr4 = 0;
        s.efer = 1 << 12;
        seg(s, SegReg::Cs).attributes = Attributes::code32(R0);
        for reg in [SegReg::Fs, SegReg::Gs] {
            seg(s, reg).base = 0;
        }
        seg(s, SegReg::Tr).base = 0x5000;
    })
}

/// Virtual-8086 mode: every user segment base = selector << 4, limit 0xffff, AR 0xf3.
fn v86() -> SegmentState {
    with(pm32(), |s| {
        s.rflags |= RFLAGS_VM;
        s.cpl = R3;
        for reg in SegReg::USER {
            let sel = 0x1000 + reg.index() as u16 * 0x10;
            *seg(s, reg) = Segment {
                selector: Selector(sel),
                base: u64::from(sel) << 4,
                limit: 0xffff,
                attributes: Attributes {
                    segment_type: ty(3),
                    s: true,
                    dpl: R3,
                    present: true,
                    ..Attributes::default()
                },
                unusable: false,
            };
        }
    })
}

fn ldt_usable() -> Segment {
    Segment {
        selector: Selector(0x50),
        base: 0x6000,
        limit: 0xffff,
        attributes: Attributes::ldt(),
        unusable: false,
    }
}

const USER_DUMP: &str = include_str!("fixtures/qemu/user-cpl3.txt");

/// Cases whose two states are segment states, as rows `Id, how, fire, quiet;` (ids
/// are [`CheckId`]'s).
macro_rules! cases {
    ($($(#[$meta:meta])* $id:ident, $how:expr, $fire:expr, $quiet:expr;)*) => {
        vec![$(
            $(#[$meta])*
            Case { id: CheckId::$id, how: $how, fire: S($fire), quiet: S($quiet) }
        ),*]
    };
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    use How::*;
    use State::S;
    let b0 = k0();
    let b3 = k3();
    let mut c = cases! {
        // Architectural invariants.
        ArchCr0PgPe, Arch, with(b0, |s| s.cr0 &= !CR0_PE), b0;
        ArchEferLma, Arch, with(b0, |s| s.efer &= !EFER_LMA), b0;
        ArchLongModePae, Arch, with(b0, |s| s.cr4 = 0), b0;
        ArchCsCode, Arch,
            with(b0, |s| seg(s, SegReg::Cs).attributes.segment_type = ty(3)),
            b0;
        ArchCsDplCpl, Arch, with(b3, |s| seg(s, SegReg::Cs).attributes.dpl = R0), b3;
        ArchCsRplCpl, Arch, with(b3, |s| seg(s, SegReg::Cs).selector = Selector(0x30)), b3;
        ArchCsLD, Arch, with(b0, |s| seg(s, SegReg::Cs).attributes.db = true), b0;
        ArchSsWritable, Arch,
            with(b0, |s| seg(s, SegReg::Ss).attributes.segment_type = ty(1)),
            b0;
        ArchSsDplCpl, Arch, with(b0, |s| seg(s, SegReg::Ss).attributes.dpl = R3), b0;
        ArchSsDplCplUnusable, Arch,
            with(sysret_state(), |s| seg(s, SegReg::Ss).attributes.dpl = R0),
            with(sysret_state(), |s| seg(s, SegReg::Ss).attributes.dpl = R3);
        ArchSsNull, Arch,
            with(pm32(), |s| {
                *seg(s, SegReg::Ss) = Segment::null(Selector(0), Attributes::flat_data(R0))
            }),
            pm32();
        ArchSsNullCpl3, Arch,
            sysret_state(),
            with(b0, |s| {
                *seg(s, SegReg::Ss) = Segment::null(Selector(0), Attributes::flat_data(R0))
            });
        ArchSsRplCpl, Arch, with(b0, |s| seg(s, SegReg::Ss).selector = Selector(0x1b)), b0;
        ArchDataReadable, Arch,
            with(b0, |s| seg(s, SegReg::Ds).attributes.segment_type = ty(9)),
            with(b0, |s| seg(s, SegReg::Ds).attributes.segment_type = ty(11));
        ArchDataNullUsable, Arch,
            with(pm32(), |s| {
                let ds = seg(s, SegReg::Ds);
                ds.selector = Selector(0);
                ds.base = 0x1000;
            }),
            // What a real-mode load of selector 0 leaves after CR0.PE is set.
            with(pm32(), |s| {
                let ds = seg(s, SegReg::Ds);
                ds.selector = Selector(0);
                ds.base = 0;
                ds.limit = 0xffff;
                ds.attributes.g = false;
                ds.attributes.db = false;
            });
        ArchDataDplRpl, Arch,
            with(b0, |s| seg(s, SegReg::Ds).attributes.dpl = R0),
            with(b0, |s| {
                let ds = seg(s, SegReg::Ds);
                ds.attributes.dpl = R0;
                ds.selector = Selector(0x28);
            });
        ArchTrType, Arch,
            with(b0, |s| seg(s, SegReg::Tr).attributes.segment_type = ty(2)),
            b0;
        ArchTrAvailable, Arch,
            with(b0, |s| seg(s, SegReg::Tr).attributes.segment_type = ty(9)),
            b0;
        ArchLdtrType, Arch,
            with(b0, |s| {
                let mut l = ldt_usable();
                l.attributes.segment_type = ty(9);
                *seg(s, SegReg::Ldtr) = l;
            }),
            with(b0, |s| *seg(s, SegReg::Ldtr) = ldt_usable());
        ArchLimitG, Arch,
            with(b0, |s| seg(s, SegReg::Ds).limit = 0x10_0000),
            with(b0, |s| seg(s, SegReg::Ds).limit = 0x10_0fff);
    };

    // Intel VM entry.
    c.extend(cases! {
        VmxEntryCr0PgPe, Vmx(true), with(k0(), |s| s.cr0 &= !CR0_PE), k0();
        // Both found by bochs-oracle (docs/conformance/bochs.md): Bochs refused these
        // states, segstate accepted them.
        VmxEntryCr0Fixed, Vmx(false), with(k0(), |s| s.cr0 &= !CR0_PG), k0();
        VmxEntryCr0Fixed, Vmx(false),
            with(k0(), |s| s.cr0 &= !(CR0_PE | CR0_PG)),
            with(k0(), |s| s.cr0 |= CR0_PE | CR0_PG);
        VmxEntryEferLmaIa32e, VmxIa32e(true, false),
            k0(),
            with(k0(), |s| {
                s.efer &= !(EFER_LMA | EFER_LME);
                s.cr4 = 0;
            });
        VmxEntryIa32ePgPae, Vmx(true), with(k0(), |s| s.cr4 = 0), k0();
        VmxEntryRflagsReserved, Vmx(true), with(k0(), |s| s.rflags = 0x200), k0();
        VmxEntryRflagsVm, Vmx(true), with(k0(), |s| s.rflags |= RFLAGS_VM), k0();
        VmxEntrySsDplRpl, Vmx(false),
            with(k0(), |s| seg(s, SegReg::Ss).selector = Selector(0x1b)), k0();
        VmxEntryDataDplRpl, Vmx(false),
            with(k0(), |s| seg(s, SegReg::Ds).attributes.dpl = R0), k0();
    });
    // One field of one segment register made wrong, with unrestricted guest, as rows
    // `Id, register, change;`: the quiet state is k0 (for LDTR, k0 with a usable LDT),
    // the firing one that with the change.
    let usable_ldt = with(k0(), |s| *seg(s, SegReg::Ldtr) = ldt_usable());
    let unchanged = |reg: SegReg| {
        if reg == SegReg::Ldtr {
            usable_ldt
        } else {
            k0()
        }
    };
    macro_rules! one_field {
        ($($id:ident, $reg:ident, $change:expr;)*) => {
            [$((CheckId::$id, SegReg::$reg, $change as fn(&mut Segment))),*]
        };
    }
    for (id, reg, change) in one_field! {
        VmxEntryTrTi, Tr, |tr| tr.selector = Selector(0x44);
        VmxEntryBaseCanonical, Fs, |fs| fs.base = 0x8000_0000_0000;
        VmxEntryBaseHigh, Ds, |ds| ds.base = 1 << 32;
        VmxEntryCsType, Cs, |cs| cs.attributes.segment_type = ty(1);
        VmxEntrySsType, Ss, |ss| ss.attributes.segment_type = ty(1);
        VmxEntryDataAccessed, Ds, |ds| ds.attributes.segment_type = ty(2);
        VmxEntryS, Ds, |ds| ds.attributes.s = false;
        VmxEntryP, Cs, |cs| cs.attributes.present = false;
        VmxEntryG, Ds, |ds| ds.limit = 0x10_0000;
        VmxEntryCsDplConforming, Cs, |cs| {
            cs.attributes.segment_type = ty(15);
            cs.attributes.dpl = R3;
        };
        VmxEntryCsDb, Cs, |cs| cs.attributes.db = true;
        VmxEntryTrType, Tr, |tr| tr.attributes.segment_type = ty(9);
        VmxEntryTrS, Tr, |tr| tr.attributes.s = true;
        VmxEntryTrP, Tr, |tr| tr.attributes.present = false;
        VmxEntryTrG, Tr, |tr| tr.attributes.g = true;
        VmxEntryTrUnusable, Tr, |tr| tr.unusable = true;
        VmxEntryLdtrTi, Ldtr, |ldtr| ldtr.selector = Selector(0x54);
        VmxEntryLdtrType, Ldtr, |ldtr| ldtr.attributes.segment_type = ty(3);
        VmxEntryLdtrS, Ldtr, |ldtr| ldtr.attributes.s = true;
        VmxEntryLdtrP, Ldtr, |ldtr| ldtr.attributes.present = false;
        VmxEntryLdtrG, Ldtr, |ldtr| ldtr.limit = 0x10_0000;
    } {
        c.push(Case {
            id,
            how: Vmx(true),
            fire: S(with(unchanged(reg), |s| change(seg(s, reg)))),
            quiet: S(unchanged(reg)),
        });
    }
    c.extend(cases! {
        VmxEntryCr4Pcide, Vmx(true), with(pm32(), |s| s.cr4 |= 1 << 17), pm32();
        VmxEntryEferLmeLma, Vmx(true),
            with(pm32(), |s| {
                s.cr0 |= CR0_PG;
                s.efer |= EFER_LME;
            }),
            with(pm32(), |s| s.cr0 |= CR0_PG);
        VmxEntrySsRpl, Vmx(false),
            with(k3(), |s| seg(s, SegReg::Ss).selector = Selector(0x28)),
            k3();
        VmxEntryV8086Base, Vmx(true), with(v86(), |s| seg(s, SegReg::Cs).base = 0), v86();
        VmxEntryV8086Limit, Vmx(true), with(v86(), |s| seg(s, SegReg::Ds).limit = 0xf_ffff), v86();
        VmxEntryV8086Ar, Vmx(true), with(v86(), |s| seg(s, SegReg::Ds).attributes.dpl = R0), v86();
        VmxEntryDataReadableCode, Vmx(true),
            with(k0(), |s| seg(s, SegReg::Ds).attributes.segment_type = ty(9)),
            with(k0(), |s| seg(s, SegReg::Ds).attributes.segment_type = ty(11));
        VmxEntryCsDplType3, Vmx(true),
            with(k0(), |s| {
                let cs = seg(s, SegReg::Cs);
                cs.attributes.segment_type = ty(3);
                cs.attributes.dpl = R3;
            }),
            with(k0(), |s| seg(s, SegReg::Cs).attributes.segment_type = ty(3));
        VmxEntryCsDplNonconforming, Vmx(true),
            with(k3(), |s| seg(s, SegReg::Ss).attributes.dpl = R0),
            k3();
        VmxEntrySsDplZero, Vmx(true),
            with(k3(), |s| seg(s, SegReg::Cs).attributes.segment_type = ty(3)),
            with(k0(), |s| seg(s, SegReg::Cs).attributes.segment_type = ty(3));
    });

    // AMD VMRUN.
    c.extend(cases! {
        SvmVmrunEferSvme, Svm, with(k0(), |s| s.efer &= !(1 << 12)), k0();
        SvmVmrunEferMbz, Svm, with(k0(), |s| s.efer |= 1 << 9), with(k0(), |s| s.efer |= 1 << 11);
        SvmVmrunCr0CdNw, Svm, with(k0(), |s| s.cr0 |= 1 << 29), with(k0(), |s| s.cr0 |= 3 << 29);
        SvmVmrunCr0High, Svm, with(k0(), |s| s.cr0 |= 1 << 32), k0();
        SvmVmrunCr4High, Svm, with(k0(), |s| s.cr4 |= 1 << 32), k0();
        SvmVmrunLmePgPae, Svm, with(k0(), |s| s.cr4 = 0), k0();
        SvmVmrunLmePgPe, Svm, with(k0(), |s| s.cr0 &= !CR0_PE), k0();
        SvmVmrunCsLD, Svm,
            with(k0(), |s| seg(s, SegReg::Cs).attributes.db = true),
            with(k0(), |s| seg(s, SegReg::Cs).attributes.l = false);
    });
    // The raw VMCB CPL byte: 4 is not a privilege level, 3 is.
    c.push(Case {
        id: CheckId::SvmVmrunCplByte,
        how: CplByte,
        fire: State::CplByte(4),
        quiet: State::CplByte(3),
    });

    // KVM_SET_SREGS acceptance (upstream kvm_is_valid_sregs), with every CR4 feature.
    c.extend(cases! {
        KvmSetSregsLongModePae, KvmSetSregs, with(k0(), |s| s.cr4 = 0), k0();
        KvmSetSregsLongModeLma, KvmSetSregs, with(k0(), |s| s.efer &= !EFER_LMA), k0();
        KvmSetSregsLma, KvmSetSregs,
            with(k0(), |s| s.cr0 &= !CR0_PG),
            with(k0(), |s| {
                s.cr0 &= !CR0_PG;
                s.efer &= !EFER_LMA;
                seg(s, SegReg::Cs).attributes.l = false;
            });
        KvmSetSregsCsL, KvmSetSregs,
            with(k0(), |s| s.efer &= !(EFER_LME | EFER_LMA)),
            with(k0(), |s| {
                s.efer &= !(EFER_LME | EFER_LMA);
                seg(s, SegReg::Cs).attributes.l = false;
            });
        KvmSetSregsCr4Reserved, KvmSetSregs,
            with(k0(), |s| s.cr4 |= 1 << 14), with(k0(), |s| s.cr4 |= 1 << 13);
        KvmSetSregsCr0High, KvmSetSregs, with(k0(), |s| s.cr0 |= 1 << 32), k0();
        KvmSetSregsCr0NwCd, KvmSetSregs,
            with(k0(), |s| s.cr0 |= 1 << 29), with(k0(), |s| s.cr0 |= 3 << 29);
        KvmSetSregsCr0PgPe, KvmSetSregs,
            with(k0(), |s| s.cr0 &= !CR0_PE), with(k0(), |s| s.cr0 |= CR0_PE);
    });

    // Paths.
    let user_unusable_ss = with(k3(), |s| {
        let ss = seg(s, SegReg::Ss);
        ss.unusable = true;
        ss.attributes.present = false;
    });
    c.extend([
        Case {
            id: CheckId::PathEscalation,
            how: Report(Vendors::Amd),
            fire: S(sysret_state()),
            quiet: S(k3()),
        },
        // No built-in chain raises the CPL; a VMCB whose stale SS.DPL (3) disagrees
        // with VMCB.CPL (0) does when svm_get_segment reads DPL from attrib.
        Case {
            id: CheckId::PathCplChanged,
            how: Chain(
                "kvm-svm[-svm.get.ss-dpl-from-cpl] > qemu > kvm-svm",
                Vendors::Amd,
            ),
            fire: S(with(k0(), |s| seg(s, SegReg::Ss).attributes.dpl = R3)),
            quiet: S(k0()),
        },
        Case {
            id: CheckId::PathAttributesChanged,
            how: Report(Vendors::Amd),
            fire: S(with(k3(), |s| {
                *seg(s, SegReg::Ds) = Segment::null(Selector(0), Attributes::flat_data(R3))
            })),
            quiet: S(k3()),
        },
        Case {
            id: CheckId::PathVmxEntryRejected,
            how: Report(Vendors::Intel),
            fire: S(user_unusable_ss),
            quiet: S(k3()),
        },
        Case {
            id: CheckId::QemuCplSsDpl,
            how: Dump,
            fire: State::Text(USER_DUMP.replacen("CPL=3", "CPL=0", 1)),
            quiet: State::Text(USER_DUMP.to_string()),
        },
        Case {
            id: CheckId::QemuSuffix,
            how: Dump,
            fire: State::Text(USER_DUMP.replacen("DPL=3 CS64", "DPL=0 CS64", 1)),
            quiet: State::Text(USER_DUMP.to_string()),
        },
        Case {
            id: CheckId::QemuHflagsStale,
            how: Dump,
            fire: State::Text(
                USER_DUMP
                    .lines()
                    .map(|l| l.split(" DPL=").next().unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            quiet: State::Text(USER_DUMP.to_string()),
        },
    ]);
    // EIP one past a 64 KiB CS (32-bit protected mode): the next fetch faults.
    let rip_at = |rip: u64| {
        let mut g = segstate::arch::GuestState::from(&with(pm32(), |s| {
            let cs = seg(s, SegReg::Cs);
            (cs.limit, cs.attributes.g) = (0xffff, false);
        }));
        g.rip = Some(rip);
        State::G(g)
    };
    c.push(Case {
        id: CheckId::ArchRipCsLimit,
        how: How::ArchRip,
        fire: rip_at(0x1_0000),
        quiet: rip_at(0xffff),
    });
    c.push(Case {
        id: CheckId::VmxEntryErratumSsTypeUnusable,
        how: Vmx(true),
        fire: S(with(k0(), |s| {
            let ss = seg(s, SegReg::Ss);
            ss.unusable = true;
            ss.attributes.segment_type = ty(1);
        })),
        quiet: S(with(k0(), |s| seg(s, SegReg::Ss).unusable = true)),
    });
    c.extend(guest_cases::cases().into_iter().map(|g| Case {
        id: g.id,
        how: Guest(g.how),
        fire: State::G(g.fire),
        quiet: State::G(g.quiet),
    }));
    c
}

/// Every finding `how` gives for `state`.
fn judge(how: How, state: &State) -> Vec<Finding> {
    match (how, state) {
        (How::Arch, State::S(s)) => arch::check(s),
        (How::Vmx(ug), State::S(s)) => vmx_entry::check(
            s,
            VmxEntryControls {
                unrestricted_guest: ug,
                ..VmxEntryControls::kvm_default(s.efer)
            },
        ),
        (How::VmxIa32e(ug, ia32e), State::S(s)) => vmx_entry::check(
            s,
            VmxEntryControls {
                unrestricted_guest: ug,
                ia32e_mode_guest: ia32e,
            },
        ),
        (How::Svm, State::S(s)) => svm_vmrun::check(s),
        (How::KvmSetSregs, State::S(s)) => kvm_set_sregs::check(s, Cr4Allowed::all_known()),
        (How::Report(v), State::S(s)) => full_report(s, v)
            .entries
            .into_iter()
            .map(|e| e.finding)
            .collect(),
        (How::Chain(spec, v), State::S(s)) => {
            let chain: Chain = spec.parse().unwrap();
            segstate::verify::paths::path_findings(s, v, &[chain])
                .into_iter()
                .map(|e| e.finding)
                .collect()
        }
        (How::CplByte, State::CplByte(b)) => svm_vmrun::cpl_byte(*b).into_iter().collect(),
        (How::Dump, State::Text(t)) => {
            let dumps = qemu_dump::parse(t).unwrap();
            dumps
                .iter()
                .flat_map(segstate::ingest::qemu_dump::findings)
                .collect()
        }
        (How::Guest(how), State::G(g)) => guest_findings(how, g),
        (How::ArchRip, State::G(g)) => arch::check_rip(g),
        _ => panic!("case mixes a state kind with the wrong judge"),
    }
}

#[test]
fn every_rule_fires_on_its_state_and_stays_quiet_on_the_related_one() {
    for case in cases() {
        let fired = judge(case.how, &case.fire);
        assert!(
            fired.iter().any(|f| f.id == case.id),
            "{} does not fire: {fired:#?}",
            case.id
        );
        let quiet = judge(case.how, &case.quiet);
        assert!(
            quiet.iter().all(|f| f.id != case.id),
            "{} fires on the quiet state: {quiet:#?}",
            case.id
        );
    }
}

#[test]
fn the_listed_ids_are_exactly_the_covered_ids_and_unique() {
    let all = CheckId::ALL;
    let listed: BTreeSet<CheckId> = all.iter().copied().collect();
    assert_eq!(listed.len(), all.len(), "an id is listed twice");
    let covered: BTreeSet<CheckId> = cases().iter().map(|c| c.id).collect();
    let missing: Vec<_> = listed.difference(&covered).collect();
    let unlisted: Vec<_> = covered.difference(&listed).collect();
    assert!(missing.is_empty(), "rules without a test: {missing:?}");
    assert!(
        unlisted.is_empty(),
        "tested ids not in the catalogue: {unlisted:?}"
    );
}

#[test]
fn every_id_emitted_anywhere_is_listed() {
    let listed: BTreeSet<CheckId> = CheckId::ALL.iter().copied().collect();
    let mut seen = BTreeSet::new();
    for case in cases() {
        for state in [&case.fire, &case.quiet] {
            let mut findings = judge(case.how, state);
            if let State::S(s) = state {
                for vendor in [Vendors::Intel, Vendors::Amd, Vendors::Both] {
                    findings.extend(
                        full_report(s, vendor)
                            .entries
                            .into_iter()
                            .map(|e| e.finding),
                    );
                }
                findings.extend(arch::check(s));
                findings.extend(svm_vmrun::check(s));
                findings.extend(kvm_set_sregs::check(s, Cr4Allowed::all_known()));
                for ug in [true, false] {
                    findings.extend(vmx_entry::check(
                        s,
                        VmxEntryControls {
                            unrestricted_guest: ug,
                            ..VmxEntryControls::kvm_default(s.efer)
                        },
                    ));
                }
            }
            for f in findings {
                assert!(listed.contains(&f.id), "{} is emitted but not listed", f.id);
                seen.insert(f.id);
            }
        }
    }
    assert_eq!(seen, listed, "every listed id is emitted by some state");
}

#[test]
fn a_0x80000021_state_names_the_failing_check() {
    // KVM on Intel before 6.2 after a sync of a user state with an unusable SS: SS's AR
    // was zeroed, so SS.DPL (0) no longer matches the user CS (3).
    let mut s = k3();
    let ss = seg(&mut s, SegReg::Ss);
    ss.unusable = true;
    ss.attributes = Attributes::default();
    s.cpl = R0;
    let r = full_report(&s, Vendors::Intel);
    assert!(
        r.has(CheckId::VmxEntryCsDplNonconforming),
        "{:#?}",
        r.entries
    );
    assert!(r.errors() > 0);
    let e = r
        .entries
        .iter()
        .find(|e| e.finding.id == CheckId::VmxEntryCsDplNonconforming)
        .unwrap();
    assert_eq!(e.context.as_deref(), Some("VM entry (any configuration)"));
}

/// A 64-bit kernel interrupted with SS null, as the CPU saves it on VM exit and as KVM
/// writes it back on every KVM_SET_SREGS (type 0 before Linux 6.2, 1 since): no error
/// and no warning. The type of an unusable SS is information only; the state Linux
/// 33ab91103b34 (CVE-2017-2583) fixed fails VM entry on CS.DPL against SS.DPL, an error.
#[test]
fn an_unusable_ss_of_any_type_is_information_and_the_cve_2017_2583_state_an_error() {
    for ty_bits in [0, 1] {
        let s = with(k0(), |s| {
            let ss = seg(s, SegReg::Ss);
            *ss = Segment {
                selector: Selector::NULL,
                unusable: true,
                base: 0,
                limit: 0xffff_ffff,
                attributes: Attributes {
                    segment_type: ty(ty_bits),
                    present: false,
                    ..Attributes::flat_data(R0)
                },
            };
        });
        let r = full_report(&s, Vendors::Intel);
        let loud: Vec<_> = r
            .entries
            .iter()
            .filter(|e| e.finding.severity > Severity::Info)
            .map(|e| e.finding.id)
            .collect();
        assert_eq!(loud, [], "type {ty_bits}: {:#?}", r.entries);
        let e = r
            .entries
            .iter()
            .find(|e| e.finding.id == CheckId::VmxEntryErratumSsTypeUnusable)
            .expect("the claimed erratum is named");
        assert_eq!(e.finding.severity, Severity::Info);
    }
    // CVE-2017-2583: `mov ss, 0` emulated at CPL 3 loaded an all-zero SS.
    let cve = with(k3(), |s| {
        *seg(s, SegReg::Ss) = Segment {
            selector: Selector::from(3),
            unusable: true,
            base: 0,
            limit: 0,
            attributes: Attributes::default(),
        };
    });
    let r = full_report(&cve, Vendors::Intel);
    let e = r
        .entries
        .iter()
        .find(|e| e.finding.id == CheckId::VmxEntryCsDplNonconforming)
        .expect("CS.DPL 3 against SS.DPL 0 fails VM entry");
    assert_eq!(e.finding.severity, Severity::Error);
}

/// A state read from neither a VMCB nor a guest's view (a VirtualBox or hyperkit dump,
/// JSON) is judged for VMRUN with SVME set, and the note does not say that KVM put it
/// there.
#[test]
fn svme_is_set_for_vmrun_and_the_note_names_no_one_hypervisor() {
    let r = report::report_with(&k0(), Vendors::Amd, report::Context::default());
    let note = r
        .notes
        .iter()
        .find(|n| n.starts_with("VMRUN judged with EFER.SVME set"))
        .expect("the SVME note");
    assert!(note.contains("the hypervisor sets it"), "{note}");
    assert!(
        !r.ids().contains(&CheckId::SvmVmrunEferSvme),
        "{:?}",
        r.ids()
    );
}

#[test]
fn the_2017_escalation_names_both_halves() {
    let r = full_report(&sysret_state(), Vendors::Amd);
    let e = r
        .entries
        .iter()
        .find(|e| {
            e.finding.id == CheckId::PathEscalation
                && e.chain.as_deref() == Some("kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11")
        })
        .expect("the 2017 chain escalates");
    let ids: Vec<&str> = e.rules.iter().map(|r| r.id()).collect();
    assert_eq!(
        ids,
        [
            "svm.set.zero-unusable-attrib",
            "qemu.get.zero-unusable-flags"
        ]
    );
    // Today's chain keeps the CPL.
    assert!(
        !r.entries
            .iter()
            .any(|e| e.finding.id == CheckId::PathEscalation
                && e.chain.as_deref() == Some("kvm-svm > qemu > kvm-svm"))
    );
}

/// What `segstate check` reports for a state: every rule family plus the path findings
/// through the built-in chains.
fn full_report(s: &SegmentState, vendors: Vendors) -> report::Report {
    segstate::verify::paths::diagnose(s, vendors, report::Context::default())
}

/// KVM without unrestricted guest forces CR0.PE and CR0.PG on in the VMCS, so a
/// guest's own CR0 with paging off is no VM-entry warning; a VMCS-level CR0 still is.
#[test]
fn cr0_fixed_bits_are_judged_on_the_vmcs_not_on_a_guests_view() {
    let s = pm32();
    assert_eq!(s.cr0 & CR0_PG, 0, "paging off");
    let judged = |source| {
        segstate::verify::paths::diagnose(
            &s,
            Vendors::Intel,
            report::Context {
                source,
                vmcb_cpl_byte: None,
            },
        )
    };
    let view = judged(report::Source::GuestView);
    assert!(!view.has(CheckId::VmxEntryCr0Fixed));
    assert!(
        view.configurations[0]
            .findings
            .iter()
            .all(|f| f.id != CheckId::VmxEntryCr0Fixed)
    );
    let raw = judged(report::Source::Generic);
    assert!(
        !raw.has(CheckId::VmxEntryCr0Fixed),
        "KVM's default enters it"
    );
    assert!(
        raw.configurations[0]
            .findings
            .iter()
            .any(|f| f.id == CheckId::VmxEntryCr0Fixed),
        "a VMCS-level CR0 with PG = 0 fails VM entry without unrestricted guest"
    );
}

/// A system type is named as the mode names it: type 9 in TR is a 32-bit TSS outside
/// IA-32e mode and a 64-bit one in it (SDM Vol. 3A Table 3-2; QEMU prints `TSS32-avl`).
#[test]
fn an_available_tss_is_named_for_the_mode() {
    let found = |s: &SegmentState| {
        arch::check(s)
            .into_iter()
            .find(|f| f.id == CheckId::ArchTrAvailable)
            .map(|f| f.found)
    };
    let legacy = with(pm32(), |s| {
        seg(s, SegReg::Tr).attributes.segment_type = ty(9)
    });
    let found_legacy = found(&legacy).expect("fires in 32-bit protected mode");
    assert!(
        found_legacy.contains("32-bit TSS (available)"),
        "{found_legacy}"
    );
    let long = with(k0(), |s| seg(s, SegReg::Tr).attributes.segment_type = ty(9));
    let found_long = found(&long).expect("fires in 64-bit mode");
    assert!(
        found_long.contains("64-bit TSS (available)"),
        "{found_long}"
    );
}
