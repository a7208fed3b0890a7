//! `bhyvectl --get-all` (FreeBSD's `usr.sbin/bhyvectl/bhyvectl.c` @01f2ed7d52ef, and
//! illumos's `usr/src/cmd/bhyvectl/bhyvectl.c` @007ca33219ff, which Oxide's propolis
//! users run): a vCPU's registers, one a line, the vCPU's number in brackets, a tab
//! or two before the value:
//!
//! ```text
//! efer[1]         0x0000000000001800   %016lx: efer, cr0, cr2, cr3, cr4, dr0-dr7,
//! cr0[1]          0x0000000000010033   rsp, rip, rax … r15, rflags
//! ds desc[1]      0x0000000000000000/0xffffffff/0x0000c093
//!                 base/limit/access: ds, es, fs, gs, ss, cs, tr, ldtr
//! gdtr[1]         0x0000000000001000/0x0000007f   base/limit; idtr alike
//! cs[1]           0x0008               selectors: cs, ds, es, fs, gs, ss, tr, ldtr
//! ```
//!
//! then, on an Intel host, VMCS fields (`get_misc_vmcs`: `pinbased_ctls[1]`,
//! `procbased_ctls2[1]`, `entry_ctls[1]`, `vmcs_guest_interruptibility[1]` …) or, on an
//! AMD host, VMCB fields (`get_misc_vmcb`: `cr_intercept[1]`, `exitinfo1[1]` …), and
//! `guest_pat[1]`, `guest_sysenter_sp[1]` (`%#lx`) on both.
//!
//! `access` is `struct seg_desc`'s ([`crate::format::bhyve`]): the VMX access rights
//! on both vendors. On AMD `vmcb_getdesc` (FreeBSD `sys/amd64/vmm/amd/vmcb.c`;
//! illumos `svm.c` `svm_getdesc`) converts the VMCB's 12-bit attrib to it
//! (`(attrib & 0xf00) << 4 | attrib & 0xff`) and marks a data segment or the LDTR
//! whose P bit is clear unusable (bit 16), never CS or TR. So one decoding serves both.
//!
//! Which vendor: the VMCS or VMCB lines say, a vCPU's own or, failing them, another
//! vCPU's in the same paste (one bhyvectl on one host printed them all: a paste cut
//! in vCPU 1's registers after vCPU 0's VMCB lines, oxidecomputer/propolis#378);
//! failing them (a paste cut before them), EFER.SVME does, which bhyve keeps set in
//! the VMCB on AMD (`vmcb_init`, `svm_setreg`: "EFER_SVM must always be set when the
//! guest is executing") and a guest on an Intel host cannot set. Failing that too,
//! the dump says so and is judged for both, where a right wrong only in the Intel
//! reading is not judged (`intel_only_reading`). The CPL is SS.DPL on Intel; on AMD
//! it is the VMCB's own field, which bhyvectl does not print.
//!
//! Each vCPU (`[N]`) is its own state; a field printed again for a vCPU starts its
//! next state (bhyvectl run twice).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::log::{Dialect, MAX_DUMPS, RawDump};
use super::segment_parts::{AllParts, Cut, assemble};
use super::text::{Words, hex, hex_width, register_field};
use super::vmcs_field;
use crate::arch::{DescriptorTable, EFER_SVME, SegReg};
use crate::check::Family;
use crate::check::report::{Entry, Report};

/// The segment names of the `desc` and selector lines.
const SEGMENTS: [(&str, SegReg); 8] = [
    ("ds", SegReg::Ds),
    ("es", SegReg::Es),
    ("fs", SegReg::Fs),
    ("gs", SegReg::Gs),
    ("ss", SegReg::Ss),
    ("cs", SegReg::Cs),
    ("tr", SegReg::Tr),
    ("ldtr", SegReg::Ldtr),
];

/// `get_all_registers`' `%016lx` registers no rule reads: part of the dump, not kept.
const OTHER_REGISTERS: &[&str] = &[
    "cr2", "dr0", "dr1", "dr2", "dr3", "rsp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
];

/// `get_misc_vmcs`'s controls and guest fields read, by their VMCS encodings.
const VMCS_FIELDS: &[(&str, u32)] = &[
    ("pinbased_ctls", vmcs_field::PIN_BASED_CTLS),
    ("procbased_ctls", vmcs_field::PRI_PROC_BASED_CTLS),
    ("procbased_ctls2", vmcs_field::SEC_PROC_BASED_CTLS),
    ("entry_ctls", vmcs_field::ENTRY_CTLS),
    ("exit_ctls", vmcs_field::EXIT_CTLS),
    ("entry_interruption_info", vmcs_field::ENTRY_INTR_INFO),
    (
        "vmcs_guest_interruptibility",
        vmcs_field::GUEST_INTERRUPTIBILITY,
    ),
];

/// Lines only an Intel host prints (`get_misc_vmcs` and the VMCS branches of
/// `main`), beyond [`VMCS_FIELDS`].
const VMCS_ONLY: &[&str] = &[
    "cr0_mask",
    "cr0_shadow",
    "cr4_mask",
    "cr4_shadow",
    "cr3_target_count",
    "gla",
    "gpa",
    "tpr_threshold",
    "instruction_error",
    "host_pat",
    "host_cr0",
    "host_rip",
    "vmcs_pointer",
    "vmcs_exit_qualification",
    "eptp",
    "vpid",
    "io_bitmap_a",
];

/// Lines only an AMD host prints (`get_misc_vmcb` and the VMCB branches of `main`).
const VMCB_ONLY: &[&str] = &[
    "cr_intercept",
    "dr_intercept",
    "exc_intercept",
    "inst1_intercept",
    "inst2_intercept",
    "exitinfo1",
    "exitinfo2",
    "exitintinfo",
    "v_irq/tpr",
    "rvi/npt",
    "asid",
];

/// `get_misc_vmcb`'s lines whose name is two words (`TLB ctrl[N]`, `AVIC apic_bar[N]`,
/// `AVIC backing page[N]`, `AVIC logical table[N]`, `AVIC physical table[N]`): the word
/// before the bracketed one, and that one.
const VMCB_TWO_WORDS: &[(&str, &str)] = &[
    ("TLB", "ctrl"),
    ("AVIC", "apic_bar"),
    ("backing", "page"),
    ("logical", "table"),
    ("physical", "table"),
];

/// The host's vendor as far as the lines show.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Host {
    Unknown,
    Intel,
    Amd,
}

/// Where a vendor's lines were read: the vCPU and the line.
#[derive(Clone, Copy)]
struct Told {
    host: Host,
    vcpu: u32,
    line: usize,
}

/// One vCPU's dump being read.
struct Building {
    dump: RawDump,
    parts: AllParts,
    /// The names read, so a name printed again starts the next dump.
    seen: Vec<String>,
    host: Host,
}

impl Building {
    fn new(line: usize) -> Self {
        Building {
            dump: RawDump::new(Dialect::Bhyvectl, line),
            parts: AllParts::default(),
            seen: Vec::new(),
            host: Host::Unknown,
        }
    }

    /// The dump, its host told by its own lines or else by `paste`'s: another vCPU's
    /// lines in the same paste, which one bhyvectl printed on one host.
    fn finish(mut self, paste: Option<Told>) -> RawDump {
        let d = &mut self.dump;
        let svme = d.guest.efer.is_some_and(|e| e & EFER_SVME != 0);
        if let Some(t) = paste.filter(|_| self.host == Host::Unknown) {
            let (vendor, lines) = if t.host == Host::Amd {
                (
                    "an AMD",
                    "VMCB lines (`cr_intercept`, `exitinfo1`, `AVIC` …)",
                )
            } else {
                ("an Intel", "VMCS lines (`pinbased_ctls`, `entry_ctls` …)")
            };
            d.note(format!(
                "{vendor} host: this vCPU's part of the paste shows no VMCS or VMCB line, \
                 but vCPU {}'s {lines} at line {} do, and one bhyvectl on one host printed \
                 the whole paste",
                t.vcpu, t.line
            ));
            self.host = t.host;
        }
        d.dialect = match self.host {
            Host::Intel => Dialect::BhyvectlVmcs,
            Host::Amd => Dialect::BhyvectlVmcb,
            Host::Unknown if svme => {
                d.note(String::from(
                    "an AMD host: EFER.SVME is set, which bhyve keeps set in the VMCB on AMD \
                     (vmcb_init) and a guest on an Intel host cannot set",
                ));
                Dialect::BhyvectlVmcb
            }
            Host::Unknown => {
                let efer = if d.guest.efer.is_some() {
                    "EFER.SVME is clear"
                } else {
                    "it has no EFER line (an AMD host's shows SVME set)"
                };
                d.note(format!(
                    "the paste ends before bhyvectl's VMCS or VMCB lines (`pinbased_ctls[N]` \
                     … on an Intel host, `cr_intercept[N]` … on an AMD one) and {efer}, so \
                     which vendor's host printed it cannot be told",
                ));
                Dialect::Bhyvectl
            }
        };
        let intel = d.dialect == Dialect::BhyvectlVmcs;
        if !intel && self.parts[SegReg::Ss.index()].ar.is_some() {
            d.note(String::from(
                "the CPL is not read: bhyvectl prints none, and on an AMD host the CPL is the \
                 VMCB's own field, not SS.DPL",
            ));
        }
        assemble(
            d,
            &self.parts,
            Cut {
                why: "bhyvectl prints the descriptors first and the selectors after them, so \
                      the paste ends or begins between them",
                cpl_from_ss: intel,
            },
        );
        self.dump
    }

    /// Notes `name` as read; false when it was read before (the next dump's).
    fn first_time(&mut self, name: &str) -> bool {
        if self.seen.iter().any(|s| s == name) {
            return false;
        }
        self.seen.push(String::from(name));
        true
    }
}

/// `name[N]` → (`name`, N).
fn indexed(word: &str) -> Option<(&str, u32)> {
    let (name, rest) = word.split_once('[')?;
    let n = rest.strip_suffix(']')?.parse().ok()?;
    (!name.is_empty()).then_some((name, n))
}

/// A `0x`-prefixed value of one of `widths` digits.
fn value(word: &str, widths: &[usize]) -> Option<u64> {
    word.starts_with("0x").then(|| hex_width(word, widths))?
}

/// What one line holds.
enum Field {
    /// A `%016lx` register.
    Register(u64),
    /// `base/limit/access`.
    Desc(SegReg, u64, u64, u64),
    /// `base/limit` of the GDTR or IDTR.
    Table(u64, u64),
    /// A `desc` line whose value is cut.
    CutDesc(SegReg),
    /// A selector.
    Selector(SegReg, u64),
    /// A VMCS field by encoding.
    Vmcs(u32, u64),
    /// `guest_sysenter_sp`/`_ip`, `%#lx`.
    Sysenter(u64),
    /// A line of the dump no rule reads, naming its host's vendor or not.
    Other(Host),
}

/// Reads the field `name` (the word before `[N]`, `prev` the word before that) from the
/// value word `v`.
fn field(prev: Option<&str>, name: &str, v: &str) -> Option<Field> {
    if name == "desc" {
        let reg = SEGMENTS.iter().find(|(n, _)| Some(*n) == prev)?.1;
        let mut cols = v.split('/');
        let parsed = (|| {
            let base = value(cols.next()?, &[16])?;
            let limit = value(cols.next()?, &[8])?;
            let access = value(cols.next()?, &[8])?;
            cols.next().is_none().then_some((base, limit, access))
        })();
        return Some(match parsed {
            Some((b, l, a)) => Field::Desc(reg, b, l, a),
            None => Field::CutDesc(reg),
        });
    }
    if name == "gdtr" || name == "idtr" {
        let (b, l) = v.split_once('/')?;
        return Some(Field::Table(value(b, &[16])?, value(l, &[8])?));
    }
    if let Some(&(_, reg)) = SEGMENTS.iter().find(|(n, _)| *n == name) {
        // `%04lx`: four digits or more.
        let digits = v.strip_prefix("0x")?;
        return (digits.len() >= 4)
            .then(|| hex(v))
            .flatten()
            .map(|s| Field::Selector(reg, s));
    }
    if matches!(name, "guest_sysenter_sp" | "guest_sysenter_ip") {
        // `%#lx`: `0` for zero.
        return (v == "0" || v.starts_with("0x"))
            .then(|| hex(v))
            .flatten()
            .map(Field::Sysenter);
    }
    let wide = value(v, &[16]);
    if matches!(
        name,
        "efer" | "cr0" | "cr3" | "cr4" | "rip" | "rflags" | "dr6" | "dr7" | "guest_pat"
    ) || OTHER_REGISTERS.contains(&name)
    {
        return wide.map(Field::Register);
    }
    if let Some(&(_, enc)) = VMCS_FIELDS.iter().find(|(n, _)| *n == name) {
        return wide.map(|v| Field::Vmcs(enc, v));
    }
    if VMCS_ONLY.contains(&name) {
        return Some(Field::Other(Host::Intel));
    }
    if VMCB_ONLY.contains(&name) || VMCB_TWO_WORDS.contains(&(prev.unwrap_or_default(), name)) {
        return Some(Field::Other(Host::Amd));
    }
    None
}

/// Every vCPU's `bhyvectl --get-all` dump in the words, in the order they begin.
#[must_use]
pub(crate) fn read(words: &mut Words<'_>) -> Vec<RawDump> {
    let mut done: Vec<Building> = Vec::new();
    let mut open: BTreeMap<u32, Building> = BTreeMap::new();
    let mut prev: Option<&str> = None;
    // The first vCPU whose lines named its host, and where.
    let mut told: Option<Told> = None;
    while let Some(w) = words.next_word() {
        if done.len() + open.len() >= MAX_DUMPS {
            break;
        }
        let before = prev.replace(w.text);
        let Some((name, vcpu)) = indexed(w.text) else {
            continue;
        };
        let Some(v) = words.peek(0) else {
            continue;
        };
        let Some(f) = field(before, name, v.text) else {
            continue;
        };
        words.skip(1);
        prev = None;
        let key = match name {
            "desc" => format!("{} desc", before.unwrap_or_default()),
            _ => String::from(name),
        };
        let b = open.entry(vcpu).or_insert_with(|| Building::new(w.line));
        if !b.first_time(&key) {
            // Printed again for this vCPU: its next state.
            done.push(core::mem::replace(b, Building::new(w.line)));
            b.first_time(&key);
        }
        b.dump.lines.extend_to(w.line);
        let g = &mut b.dump.guest;
        match f {
            Field::Register(x) => match register_field(g, name) {
                Some(slot) => *slot = Some(x),
                None if name == "dr6" => g.dr6 = Some(x),
                None if name == "dr7" => g.dr7 = Some(x),
                None if name == "guest_pat" => g.pat = Some(x),
                None => {}
            },
            Field::Desc(reg, base, limit, access) => {
                let p = &mut b.parts[reg.index()];
                (p.base, p.limit, p.ar) = (Some(base), Some(limit), Some(access));
            }
            Field::CutDesc(reg) => b.dump.note(format!(
                "line {}: the {} desc line is cut short, so its base, limit and access are \
                 not read",
                w.line,
                reg.name()
            )),
            Field::Table(base, limit) => {
                let t = Some(DescriptorTable {
                    base,
                    limit: limit as u32,
                });
                if name == "gdtr" {
                    g.gdtr = t;
                } else {
                    g.idtr = t;
                }
            }
            Field::Selector(reg, s) => b.parts[reg.index()].selector = Some(s),
            Field::Vmcs(enc, x) => {
                b.host = Host::Intel;
                told.get_or_insert(Told {
                    host: Host::Intel,
                    vcpu,
                    line: w.line,
                });
                vmcs_field::read(&mut b.dump, &mut b.parts, enc, x);
            }
            Field::Sysenter(x) => {
                if name == "guest_sysenter_sp" {
                    g.sysenter_esp = Some(x);
                } else {
                    g.sysenter_eip = Some(x);
                }
            }
            Field::Other(host) => {
                if host != Host::Unknown {
                    b.host = host;
                    told.get_or_insert(Told {
                        host,
                        vcpu,
                        line: w.line,
                    });
                }
            }
        }
    }
    done.extend(open.into_values());
    // Both vendors' lines in one paste (two hosts' output pasted together): no vCPU
    // takes another's.
    let mixed = [Host::Intel, Host::Amd]
        .iter()
        .all(|h| done.iter().any(|b| b.host == *h));
    let paste = told.filter(|_| !mixed);
    let mut out: Vec<RawDump> = done.into_iter().map(|b| b.finish(paste)).collect();
    out.retain(|d| d.has_fields() || !d.partial_segments.is_empty());
    out.sort_by_key(|d| d.lines.first);
    out
}

/// For a dump whose host's vendor cannot be told, judged for both ([`Dialect::Bhyvectl`]):
/// removes from `report` the architectural and VM-entry findings that the AMD reading of
/// the same dump (`amd`, judged as a VMCB's cache) does not have, and returns the note
/// naming them.
///
/// On AMD, `access` is `vmcb_getdesc`'s copy of the VMCB attrib (FreeBSD
/// `sys/amd64/vmm/amd/vmcb.c`, illumos `svm_getdesc`), and AMD keeps neither CS's G bit
/// ("SVM always stores 0 for the 'G' bit in the CS selector in the VMCB on a VMEXIT"),
/// nor TR's busy bit, nor the accessed bits of the cache (Linux
/// `arch/x86/kvm/svm/svm.c` `svm_get_segment` rebuilds all three). So CS access 0x209b
/// with limit 0xffffffff (G clear) or a TR of type 9 fails VM entry only if an Intel
/// host printed it: without the vendor, that is no verdict.
pub(crate) fn intel_only_reading(report: &mut Report, amd: &Report) -> Option<String> {
    let judged = |e: &Entry| matches!(e.family, Family::Vmx | Family::Arch);
    let in_amd = |e: &Entry| {
        amd.entries.iter().any(|a| {
            (a.family, a.finding.id, a.finding.reg) == (e.family, e.finding.id, e.finding.reg)
        })
    };
    let mut named: Vec<String> = Vec::new();
    report.entries.retain(|e| {
        let intel_only = judged(e) && !in_amd(e);
        if intel_only {
            let at = e.finding.reg.map(|r| format!(" ({r})")).unwrap_or_default();
            named.push(format!("{}{at}", e.finding.id));
        }
        !intel_only
    });
    (!named.is_empty()).then(|| {
        format!(
            "{} fail only if an Intel host printed the paste: on an AMD host bhyvectl's \
             access is vmcb_getdesc's copy of the VMCB attrib, where AMD keeps neither CS's \
             G bit nor TR's busy bit nor the accessed bits (KVM's svm_get_segment rebuilds \
             them), and read so they pass; the host's vendor cannot be told, so they are \
             not judged",
            named.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PrivilegeLevel;
    use crate::ingest::text::normalise;

    fn dumps(text: &str) -> Vec<RawDump> {
        read(&mut Words::new(&normalise(text)))
    }

    /// A whole `--get-all` of vCPU `n` on an Intel host: a 64-bit kernel.
    fn intel(n: u32) -> String {
        let mut t = String::new();
        for (r, v) in [
            ("efer", 0xd01u64),
            ("cr0", 0x8005_0033),
            ("cr3", 0x4000),
            ("cr4", 0x2020),
            ("dr7", 0x400),
            ("rsp", 0),
            ("rip", 0xffff_ffff_8100_0000),
        ] {
            t += &format!("{r}[{n}]\t\t0x{v:016x}\n");
        }
        t += &format!("rflags[{n}]\t0x0000000000000002\n");
        for (s, ar) in [
            ("ds", 0xc093),
            ("es", 0xc093),
            ("fs", 0x1_0000),
            ("gs", 0x1_0000),
            ("ss", 0xc093),
            ("cs", 0xa09b),
            ("tr", 0x8b),
            ("ldtr", 0x1_0082),
        ] {
            t += &format!("{s} desc[{n}]\t0x0000000000000000/0xffffffff/0x{ar:08x}\n");
        }
        t += &format!(
            "gdtr[{n}]\t\t0x0000000000001000/0x0000007f\nidtr[{n}]\t\t0x0000000000002000/0x00000fff\n"
        );
        for (s, sel) in [
            ("cs", 0x10),
            ("ds", 0x18),
            ("es", 0x18),
            ("fs", 0),
            ("gs", 0),
            ("ss", 0x18),
            ("tr", 0x20),
            ("ldtr", 0),
        ] {
            t += &format!("{s}[{n}]\t\t0x{sel:04x}\n");
        }
        t += &format!(
            "cr0_mask[{n}]\t\t0x0000000060000020\npinbased_ctls[{n}]\t0x000000000000007f\n\
                       procbased_ctls2[{n}]\t0x00000000000000aa\nentry_ctls[{n}]\t\t0x00000000000093ff\n\
                       vmcs_guest_interruptibility[{n}]\t0x0000000000000000\n\
                       guest_sysenter_sp[{n}]\t0\nguest_sysenter_ip[{n}]\t0xffffffff81000000\n"
        );
        t
    }

    #[test]
    fn an_intel_hosts_dump_reads_whole() {
        let d = dumps(&intel(0));
        assert_eq!(d.len(), 1, "{d:?}");
        let d = &d[0];
        assert_eq!(d.dialect, Dialect::BhyvectlVmcs);
        let g = &d.guest;
        assert!(SegReg::ALL.into_iter().all(|r| g.segments[r].is_some()));
        assert!(g.segments[SegReg::Cs].unwrap().attributes.l);
        assert!(g.segments[SegReg::Fs].unwrap().unusable);
        assert_eq!(g.segments[SegReg::Ss].unwrap().selector.0, 0x18);
        assert_eq!(g.cpl, Some(PrivilegeLevel::Ring0));
        assert_eq!(
            (g.efer, g.rflags, g.dr7),
            (Some(0xd01), Some(2), Some(0x400))
        );
        assert_eq!(g.idtr.map(|t| t.limit), Some(0xfff));
        assert_eq!(g.controls.entry, Some(0x93ff));
        assert_eq!(
            g.controls.unrestricted_guest(),
            None,
            "procbased_ctls not printed here"
        );
        assert_eq!(g.interruptibility, Some(0));
        assert_eq!(
            (g.sysenter_esp, g.sysenter_eip),
            (Some(0), Some(0xffff_ffff_8100_0000))
        );
        assert!(d.notes.is_empty(), "{:?}", d.notes);
    }

    /// Two vCPUs in one paste are two states; an AMD host's lines, or EFER.SVME, name
    /// its vendor, and no CPL is read there.
    #[test]
    fn vcpus_are_states_and_the_host_is_told_by_its_lines() {
        let amd = intel(1)
            .lines()
            .filter(|l| {
                !l.contains("ctls") && !l.contains("mask") && !l.contains("interruptibility")
            })
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            + "cr_intercept[1]\t0x00000000\n";
        let d = dumps(&format!("{}{amd}", intel(0)));
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].dialect, d[1].dialect),
            (Dialect::BhyvectlVmcs, Dialect::BhyvectlVmcb)
        );
        assert_eq!(d[1].guest.cpl, None);
        assert!(
            d[1].notes[0].starts_with("the CPL is not read"),
            "{:?}",
            d[1].notes
        );
        let svme = amd
            .replace("cr_intercept[1]\t0x00000000\n", "")
            .replace("0x0000000000000d01", "0x0000000000001d01");
        let d = dumps(&svme);
        assert_eq!(d[0].dialect, Dialect::BhyvectlVmcb);
        assert!(
            d[0].notes
                .iter()
                .any(|n| n.starts_with("an AMD host: EFER.SVME"))
        );
        let neither = svme.replace("0x0000000000001d01", "0x0000000000000d01");
        let d = dumps(&neither);
        assert_eq!(d[0].dialect, Dialect::Bhyvectl);
        let said = |d: &RawDump, what: &str| d.notes.iter().any(|n| n.contains(what));
        assert!(
            said(&d[0], "and EFER.SVME is clear, so"),
            "{:?}",
            d[0].notes
        );
        // Without an EFER line the note says so, not that SVME is clear.
        let no_efer = neither
            .lines()
            .filter(|l| !l.starts_with("efer["))
            .map(|l| format!("{l}\n"))
            .collect::<String>();
        let d = dumps(&no_efer);
        assert_eq!(d[0].dialect, Dialect::Bhyvectl);
        assert!(said(&d[0], "it has no EFER line"), "{:?}", d[0].notes);
        assert!(!said(&d[0], "SVME is clear"), "{:?}", d[0].notes);
        // The same vCPU printed twice: two states.
        assert_eq!(dumps(&format!("{}{}", intel(2), intel(2))).len(), 2);
    }

    /// `get_misc_vmcb`'s two-word names (`AVIC backing page[N]` …) name an AMD host too.
    #[test]
    fn avic_lines_name_an_amd_host() {
        for line in [
            "AVIC apic_bar[0]\t0x0000000000000000",
            "AVIC backing page[0]\t0x0000000000000000",
            "AVIC physical table[0]\t0x0000000000000000",
            "TLB ctrl[0]\t0x0000000000000000",
        ] {
            let d = dumps(&format!("rflags[0]\t0x0000000000000002\n{line}\n"));
            assert_eq!(d[0].dialect, Dialect::BhyvectlVmcb, "{line}");
        }
    }

    /// A paste cut mid-line in the descriptors (oxidecomputer/propolis#300): the cut
    /// line is named, the descriptors without their selectors are named and not read.
    #[test]
    fn a_cut_paste_names_what_it_lacks() {
        let text = "efer[1]\t\t0x0000000000001800\ncr0[1]\t\t0x0000000000010033\n\
                    ds desc[1]\t0x0000000000000000/0xffffffff/0x0000c093\n\
                    es desc[1]\t0x0000000000000000/0x00000000/0x00010000\n\
                    gs desc[1]\t0x0000000000000000/0xffffffff/0x0000c0";
        let d = dumps(text);
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert!(d.guest.has_no_segments());
        assert_eq!(d.partial_segments, [SegReg::Es, SegReg::Ds]);
        let notes = d.notes.join("\n");
        assert!(
            notes.contains("line 5: the GS desc line is cut short"),
            "{notes}"
        );
        assert!(notes.contains("ES, DS are not read: the dump has their access rights, base and limit but no selector"), "{notes}");
        assert_eq!(d.lines.last, 5);
        // Words that only look like the lines are not a dump.
        for junk in [
            "cr0[x]\t0x0000000000000011",
            "cr0[1] 0x11",
            "foo[1]\t0x0000000000000000",
            "zz desc[1]\t0x0/0x0/0x0",
        ] {
            assert!(dumps(junk).is_empty(), "{junk}");
        }
    }
}
