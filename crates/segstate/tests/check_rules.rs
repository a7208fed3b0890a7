//! Every check rule, one state that makes it fire and one closely related state that
//! keeps it quiet; and a meta-test that the ids the code emits are exactly the ids the
//! modules list (`RULE_IDS`), each covered here.

use std::collections::BTreeSet;

use segstate::arch::{
    Attributes, CR0_PE, CR0_PG, EFER_LMA, EFER_LME, PrivilegeLevel, RFLAGS_VM, SegReg, Segment,
    SegmentType, Selector,
};
use segstate::check::report::{self, Vendor};
use segstate::check::vmx_entry::VmxEntryControls;
use segstate::check::{Finding, SegmentState, arch, svm_vmrun, vmx_entry};
use segstate::format::qemu_dump;
use segstate::profile::Chain;
use segstate::verify::domain::{baseline, sysret_state};

const R0: PrivilegeLevel = PrivilegeLevel::Ring0;
const R3: PrivilegeLevel = PrivilegeLevel::Ring3;

/// How a case is judged.
#[derive(Clone, Copy)]
enum How {
    Arch,
    /// VM entry; `true` = unrestricted guest (KVM's default), `false` = without.
    Vmx(bool),
    Svm,
    Report(Vendor),
    /// Path findings through one chain given as text.
    Chain(&'static str, Vendor),
    /// QEMU dump checks on a dump text.
    Dump,
    /// The raw VMCB CPL byte.
    CplByte,
}

struct Case {
    id: &'static str,
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

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    use How::*;
    use State::S;
    let b0 = k0();
    let b3 = k3();
    let mut c = vec![
        // Architectural invariants.
        Case {
            id: "arch.cr0.pg-pe",
            how: Arch,
            fire: S(with(b0, |s| s.cr0 &= !CR0_PE)),
            quiet: S(b0),
        },
        Case {
            id: "arch.efer.lma",
            how: Arch,
            fire: S(with(b0, |s| s.efer &= !EFER_LMA)),
            quiet: S(b0),
        },
        Case {
            id: "arch.long-mode.pae",
            how: Arch,
            fire: S(with(b0, |s| s.cr4 = 0)),
            quiet: S(b0),
        },
        Case {
            id: "arch.cs.code",
            how: Arch,
            fire: S(with(b0, |s| {
                seg(s, SegReg::Cs).attributes.segment_type = ty(3)
            })),
            quiet: S(b0),
        },
        Case {
            id: "arch.cs.dpl-cpl",
            how: Arch,
            fire: S(with(b3, |s| seg(s, SegReg::Cs).attributes.dpl = R0)),
            quiet: S(b3),
        },
        Case {
            id: "arch.cs.rpl-cpl",
            how: Arch,
            fire: S(with(b3, |s| seg(s, SegReg::Cs).selector = Selector(0x30))),
            quiet: S(b3),
        },
        Case {
            id: "arch.cs.l-d",
            how: Arch,
            fire: S(with(b0, |s| seg(s, SegReg::Cs).attributes.db = true)),
            quiet: S(b0),
        },
        Case {
            id: "arch.ss.writable",
            how: Arch,
            fire: S(with(b0, |s| {
                seg(s, SegReg::Ss).attributes.segment_type = ty(1)
            })),
            quiet: S(b0),
        },
        Case {
            id: "arch.ss.dpl-cpl",
            how: Arch,
            fire: S(with(b0, |s| seg(s, SegReg::Ss).attributes.dpl = R3)),
            quiet: S(b0),
        },
        Case {
            id: "arch.ss.null",
            how: Arch,
            fire: S(with(pm32(), |s| {
                *seg(s, SegReg::Ss) = Segment::null(Selector(0), Attributes::flat_data(R0))
            })),
            quiet: S(pm32()),
        },
        Case {
            id: "arch.ss.null-cpl3",
            how: Arch,
            fire: S(sysret_state()),
            quiet: S(with(b0, |s| {
                *seg(s, SegReg::Ss) = Segment::null(Selector(0), Attributes::flat_data(R0))
            })),
        },
        Case {
            id: "arch.ss.rpl-cpl",
            how: Arch,
            fire: S(with(b0, |s| seg(s, SegReg::Ss).selector = Selector(0x1b))),
            quiet: S(b0),
        },
        Case {
            id: "arch.data.readable",
            how: Arch,
            fire: S(with(b0, |s| {
                seg(s, SegReg::Ds).attributes.segment_type = ty(9)
            })),
            quiet: S(with(b0, |s| {
                seg(s, SegReg::Ds).attributes.segment_type = ty(11)
            })),
        },
        Case {
            id: "arch.data.null-usable",
            how: Arch,
            fire: S(with(pm32(), |s| seg(s, SegReg::Ds).selector = Selector(0))),
            quiet: S(pm32()),
        },
        Case {
            id: "arch.data.dpl-rpl",
            how: Arch,
            fire: S(with(b0, |s| seg(s, SegReg::Ds).attributes.dpl = R0)),
            quiet: S(with(b0, |s| {
                let ds = seg(s, SegReg::Ds);
                ds.attributes.dpl = R0;
                ds.selector = Selector(0x28);
            })),
        },
        Case {
            id: "arch.tr.type",
            how: Arch,
            fire: S(with(b0, |s| {
                seg(s, SegReg::Tr).attributes.segment_type = ty(9)
            })),
            quiet: S(b0),
        },
        Case {
            id: "arch.ldtr.type",
            how: Arch,
            fire: S(with(b0, |s| {
                let mut l = ldt_usable();
                l.attributes.segment_type = ty(9);
                *seg(s, SegReg::Ldtr) = l;
            })),
            quiet: S(with(b0, |s| *seg(s, SegReg::Ldtr) = ldt_usable())),
        },
        Case {
            id: "arch.limit-g",
            how: Arch,
            fire: S(with(b0, |s| seg(s, SegReg::Ds).limit = 0x10_0000)),
            quiet: S(with(b0, |s| seg(s, SegReg::Ds).limit = 0x10_0fff)),
        },
    ];

    // Intel VM entry.
    let vmx_mut = |id: &'static str, ug: bool, f: fn(&mut SegmentState)| Case {
        id,
        how: Vmx(ug),
        fire: S(with(k0(), f)),
        quiet: S(k0()),
    };
    c.extend([
        vmx_mut("vmx.entry.cr0.pg-pe", true, |s| s.cr0 &= !CR0_PE),
        vmx_mut("vmx.entry.ia32e.pg-pae", true, |s| s.cr4 = 0),
        vmx_mut("vmx.entry.rflags.reserved", true, |s| s.rflags = 0x200),
        vmx_mut("vmx.entry.rflags.vm", true, |s| s.rflags |= RFLAGS_VM),
        vmx_mut("vmx.entry.tr.ti", true, |s| {
            seg(s, SegReg::Tr).selector = Selector(0x44)
        }),
        vmx_mut("vmx.entry.base.canonical", true, |s| {
            seg(s, SegReg::Fs).base = 0x8000_0000_0000
        }),
        vmx_mut("vmx.entry.base.high", true, |s| {
            seg(s, SegReg::Ds).base = 1 << 32
        }),
        vmx_mut("vmx.entry.cs.type", true, |s| {
            seg(s, SegReg::Cs).attributes.segment_type = ty(1)
        }),
        vmx_mut("vmx.entry.ss.type", true, |s| {
            seg(s, SegReg::Ss).attributes.segment_type = ty(1)
        }),
        vmx_mut("vmx.entry.data.accessed", true, |s| {
            seg(s, SegReg::Ds).attributes.segment_type = ty(2)
        }),
        vmx_mut("vmx.entry.s", true, |s| {
            seg(s, SegReg::Ds).attributes.s = false
        }),
        vmx_mut("vmx.entry.p", true, |s| {
            seg(s, SegReg::Cs).attributes.present = false
        }),
        vmx_mut("vmx.entry.g", true, |s| {
            seg(s, SegReg::Ds).limit = 0x10_0000
        }),
        vmx_mut("vmx.entry.cs.dpl-conforming", true, |s| {
            let cs = seg(s, SegReg::Cs);
            cs.attributes.segment_type = ty(15);
            cs.attributes.dpl = R3;
        }),
        vmx_mut("vmx.entry.ss.dpl-rpl", false, |s| {
            seg(s, SegReg::Ss).selector = Selector(0x1b)
        }),
        vmx_mut("vmx.entry.data.dpl-rpl", false, |s| {
            seg(s, SegReg::Ds).attributes.dpl = R0
        }),
        vmx_mut("vmx.entry.cs.db", true, |s| {
            seg(s, SegReg::Cs).attributes.db = true
        }),
        vmx_mut("vmx.entry.tr.type", true, |s| {
            seg(s, SegReg::Tr).attributes.segment_type = ty(9)
        }),
        vmx_mut("vmx.entry.tr.s", true, |s| {
            seg(s, SegReg::Tr).attributes.s = true
        }),
        vmx_mut("vmx.entry.tr.p", true, |s| {
            seg(s, SegReg::Tr).attributes.present = false
        }),
        vmx_mut("vmx.entry.tr.g", true, |s| {
            seg(s, SegReg::Tr).attributes.g = true
        }),
        vmx_mut("vmx.entry.tr.unusable", true, |s| {
            seg(s, SegReg::Tr).unusable = true
        }),
    ]);
    let ldt = |f: fn(&mut Segment)| {
        let mut l = ldt_usable();
        f(&mut l);
        with(k0(), |s| *seg(s, SegReg::Ldtr) = l)
    };
    let quiet_ldt = with(k0(), |s| *seg(s, SegReg::Ldtr) = ldt_usable());
    for (id, fire) in [
        ("vmx.entry.ldtr.ti", ldt(|l| l.selector = Selector(0x54))),
        (
            "vmx.entry.ldtr.type",
            ldt(|l| l.attributes.segment_type = ty(3)),
        ),
        ("vmx.entry.ldtr.s", ldt(|l| l.attributes.s = true)),
        ("vmx.entry.ldtr.p", ldt(|l| l.attributes.present = false)),
        ("vmx.entry.ldtr.g", ldt(|l| l.limit = 0x10_0000)),
    ] {
        c.push(Case {
            id,
            how: Vmx(true),
            fire: S(fire),
            quiet: S(quiet_ldt),
        });
    }
    c.extend([
        Case {
            id: "vmx.entry.cr4.pcide",
            how: Vmx(true),
            fire: S(with(pm32(), |s| s.cr4 |= 1 << 17)),
            quiet: S(pm32()),
        },
        Case {
            id: "vmx.entry.efer.lme-lma",
            how: Vmx(true),
            fire: S(with(pm32(), |s| {
                s.cr0 |= CR0_PG;
                s.efer |= EFER_LME;
            })),
            quiet: S(with(pm32(), |s| s.cr0 |= CR0_PG)),
        },
        Case {
            id: "vmx.entry.ss.rpl",
            how: Vmx(false),
            fire: S(with(k3(), |s| seg(s, SegReg::Ss).selector = Selector(0x28))),
            quiet: S(k3()),
        },
        Case {
            id: "vmx.entry.v8086.base",
            how: Vmx(true),
            fire: S(with(v86(), |s| seg(s, SegReg::Cs).base = 0)),
            quiet: S(v86()),
        },
        Case {
            id: "vmx.entry.v8086.limit",
            how: Vmx(true),
            fire: S(with(v86(), |s| seg(s, SegReg::Ds).limit = 0xf_ffff)),
            quiet: S(v86()),
        },
        Case {
            id: "vmx.entry.v8086.ar",
            how: Vmx(true),
            fire: S(with(v86(), |s| seg(s, SegReg::Ds).attributes.dpl = R0)),
            quiet: S(v86()),
        },
        Case {
            id: "vmx.entry.data.readable-code",
            how: Vmx(true),
            fire: S(with(k0(), |s| {
                seg(s, SegReg::Ds).attributes.segment_type = ty(9)
            })),
            quiet: S(with(k0(), |s| {
                seg(s, SegReg::Ds).attributes.segment_type = ty(11)
            })),
        },
        Case {
            id: "vmx.entry.cs.dpl-type3",
            how: Vmx(true),
            fire: S(with(k0(), |s| {
                let cs = seg(s, SegReg::Cs);
                cs.attributes.segment_type = ty(3);
                cs.attributes.dpl = R3;
            })),
            quiet: S(with(k0(), |s| {
                seg(s, SegReg::Cs).attributes.segment_type = ty(3)
            })),
        },
        Case {
            id: "vmx.entry.cs.dpl-nonconforming",
            how: Vmx(true),
            fire: S(with(k3(), |s| seg(s, SegReg::Ss).attributes.dpl = R0)),
            quiet: S(k3()),
        },
        Case {
            id: "vmx.entry.ss.dpl-zero",
            how: Vmx(true),
            fire: S(with(k3(), |s| {
                seg(s, SegReg::Cs).attributes.segment_type = ty(3)
            })),
            quiet: S(with(k0(), |s| {
                seg(s, SegReg::Cs).attributes.segment_type = ty(3)
            })),
        },
    ]);

    // AMD VMRUN.
    let svm = |id: &'static str, f: fn(&mut SegmentState), q: fn(&mut SegmentState)| Case {
        id,
        how: Svm,
        fire: S(with(k0(), f)),
        quiet: S(with(k0(), q)),
    };
    c.extend([
        svm("svm.vmrun.efer-svme", |s| s.efer &= !(1 << 12), |_| {}),
        svm(
            "svm.vmrun.efer-mbz",
            |s| s.efer |= 1 << 9,
            |s| s.efer |= 1 << 11,
        ),
        svm(
            "svm.vmrun.cr0-cd-nw",
            |s| s.cr0 |= 1 << 29,
            |s| s.cr0 |= 3 << 29,
        ),
        svm("svm.vmrun.cr0-high", |s| s.cr0 |= 1 << 32, |_| {}),
        svm("svm.vmrun.cr4-high", |s| s.cr4 |= 1 << 32, |_| {}),
        svm("svm.vmrun.lme-pg-pae", |s| s.cr4 = 0, |_| {}),
        svm("svm.vmrun.lme-pg-pe", |s| s.cr0 &= !CR0_PE, |_| {}),
        svm(
            "svm.vmrun.cs-l-d",
            |s| seg(s, SegReg::Cs).attributes.db = true,
            |s| seg(s, SegReg::Cs).attributes.l = false,
        ),
    ]);
    // The raw VMCB CPL byte: 4 is not a privilege level, 3 is.
    c.push(Case {
        id: "svm.vmrun.cpl-byte",
        how: CplByte,
        fire: State::CplByte(4),
        quiet: State::CplByte(3),
    });

    // Paths.
    let user_unusable_ss = with(k3(), |s| {
        let ss = seg(s, SegReg::Ss);
        ss.unusable = true;
        ss.attributes.present = false;
    });
    c.extend([
        Case {
            id: "path.escalation",
            how: Report(Vendor::Amd),
            fire: S(sysret_state()),
            quiet: S(k3()),
        },
        // No built-in chain raises the CPL; a VMCB whose stale SS.DPL (3) disagrees
        // with VMCB.CPL (0) does when svm_get_segment reads DPL from attrib.
        Case {
            id: "path.cpl-changed",
            how: Chain(
                "kvm-svm[-svm.get.ss-dpl-from-cpl] > qemu > kvm-svm",
                Vendor::Amd,
            ),
            fire: S(with(k0(), |s| seg(s, SegReg::Ss).attributes.dpl = R3)),
            quiet: S(k0()),
        },
        Case {
            id: "path.attributes-changed",
            how: Report(Vendor::Amd),
            fire: S(with(k3(), |s| {
                *seg(s, SegReg::Ds) = Segment::null(Selector(0), Attributes::flat_data(R3))
            })),
            quiet: S(k3()),
        },
        Case {
            id: "path.vmx-entry-rejected",
            how: Report(Vendor::Intel),
            fire: S(user_unusable_ss),
            quiet: S(k3()),
        },
        Case {
            id: "qemu.cpl-ss-dpl",
            how: Dump,
            fire: State::Text(USER_DUMP.replacen("CPL=3", "CPL=0", 1)),
            quiet: State::Text(USER_DUMP.to_string()),
        },
        Case {
            id: "qemu.suffix",
            how: Dump,
            fire: State::Text(USER_DUMP.replacen("DPL=3 CS64", "DPL=0 CS64", 1)),
            quiet: State::Text(USER_DUMP.to_string()),
        },
    ]);
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
        (How::Svm, State::S(s)) => svm_vmrun::check(s),
        (How::Report(v), State::S(s)) => report::report(s, v)
            .entries
            .into_iter()
            .map(|e| e.finding)
            .collect(),
        (How::Chain(spec, v), State::S(s)) => {
            let chain: Chain = spec.parse().unwrap();
            report::path_findings(s, v, &[chain])
                .into_iter()
                .map(|e| e.finding)
                .collect()
        }
        (How::CplByte, State::CplByte(b)) => svm_vmrun::cpl_byte(*b).into_iter().collect(),
        (How::Dump, State::Text(t)) => {
            let dumps = qemu_dump::parse(t).unwrap();
            dumps.iter().flat_map(report::dump_findings).collect()
        }
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
    let all = report::all_rule_ids();
    let listed: BTreeSet<&str> = all.iter().copied().collect();
    assert_eq!(listed.len(), all.len(), "an id is listed twice");
    let covered: BTreeSet<&str> = cases().iter().map(|c| c.id).collect();
    let missing: Vec<_> = listed.difference(&covered).collect();
    let unlisted: Vec<_> = covered.difference(&listed).collect();
    assert!(missing.is_empty(), "rules without a test: {missing:?}");
    assert!(
        unlisted.is_empty(),
        "tested ids not in RULE_IDS: {unlisted:?}"
    );
}

#[test]
fn every_id_emitted_anywhere_is_listed() {
    let listed: BTreeSet<&str> = report::all_rule_ids().into_iter().collect();
    let mut seen = BTreeSet::new();
    for case in cases() {
        for state in [&case.fire, &case.quiet] {
            let mut findings = judge(case.how, state);
            if let State::S(s) = state {
                for vendor in [Vendor::Intel, Vendor::Amd, Vendor::Both] {
                    findings.extend(
                        report::report(s, vendor)
                            .entries
                            .into_iter()
                            .map(|e| e.finding),
                    );
                }
                findings.extend(arch::check(s));
                findings.extend(svm_vmrun::check(s));
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
                assert!(listed.contains(f.id), "{} is emitted but not listed", f.id);
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
    let r = report::report(&s, Vendor::Intel);
    assert!(r.has("vmx.entry.cs.dpl-nonconforming"), "{:#?}", r.entries);
    assert!(r.errors() > 0);
    let e = r
        .entries
        .iter()
        .find(|e| e.finding.id == "vmx.entry.cs.dpl-nonconforming")
        .unwrap();
    assert_eq!(e.context.as_deref(), Some("VM entry (any configuration)"));
}

#[test]
fn a_check_only_without_unrestricted_guest_is_a_warning() {
    let s = with(k0(), |s| seg(s, SegReg::Ss).selector = Selector(0x1b));
    let r = report::report(&s, Vendor::Intel);
    let e = r
        .entries
        .iter()
        .find(|e| e.finding.id == "vmx.entry.ss.dpl-rpl")
        .expect("reported");
    assert_eq!(e.finding.severity, segstate::check::Severity::Warning);
}

#[test]
fn the_2017_escalation_names_both_halves() {
    let r = report::report(&sysret_state(), Vendor::Amd);
    let e = r
        .entries
        .iter()
        .find(|e| {
            e.finding.id == "path.escalation"
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
    assert!(!r.entries.iter().any(|e| e.finding.id == "path.escalation"
        && e.chain.as_deref() == Some("kvm-svm > qemu > kvm-svm")));
}
