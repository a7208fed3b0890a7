//! A pasted log, read whole: every dump of every dialect in it, the exit lines, which
//! failure each dump belongs to, and which hardware it speaks for.
//!
//! [`read_log`] decodes a quoted-printable mail body and strips prefixes
//! (`ingest::text`), runs each dialect reader over the
//! words ([`super::qemu_log`], [`super::linux_vmcs`] for Linux `dump_vmcs` and Xen's
//! `vmcs_dump_vcpu`, [`super::linux_vmcb`] for Linux `dump_vmcb` and Xen's
//! `svm_vmcb_dump`, [`super::haxm`], the `kvm_sregs` printouts of `text::sregs`,
//! `text::show_regs` and `text::kvmtool`, `xen_regs` for Xen's `show_registers`,
//! `vbox_log` for VirtualBox's `Guest CPUM` dump, [`super::bochs`] for Bochs's CPU
//! dump, [`super::hvdump`] for hyperkit's VMCS dump, [`super::bhyvectl`] for `bhyvectl
//! --get-all`, `gdb_regs` for gdb's `info registers`, `edk2_exception` for EDK2's
//! exception dump, [`super::noirvisor`] for NoirVisor's VMCS dump), reads the exit lines
//! ([`super::exit`]), and assembles [`LogDump`]s: each exit goes with the dump it
//! precedes (or, failing that, the one before it), and when a log holds exactly one
//! kernel dump and one QEMU dump they are the same failure seen twice and are merged
//! into one state — the kernel's fields first (it printed what the CPU was asked to
//! enter), QEMU's where the kernel printed none.

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use super::code_at_rip::{CodeAtRip, InstructionAtRip};
use super::exit::{self, Exit};
use super::text::{Words, quoted_printable, strip_prefixes};
use super::{haxm, linux_vmcb, linux_vmcs, qemu_log};
use crate::arch::{Cpl, CpuMode, GuestField, GuestState, SegReg, Vendor, VmxControls};

/// The most dumps read from one log; the rest are named, not read, so memory stays
/// bounded on any input.
pub const MAX_DUMPS: usize = 256;
/// The most remarks kept per dump.
pub(crate) const MAX_NOTES: usize = 32;
/// The most exit lines kept per log, and extra-data words per exit.
pub(crate) const MAX_EXITS: usize = 1024;

/// The dialect a dump was printed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// QEMU `x86_cpu_dump_state` (`info registers`, `-d cpu`, "KVM: entry failed").
    Qemu,
    /// Linux `vmx.c` `dump_vmcs` (`*** Guest State ***`).
    LinuxVmcs,
    /// Xen `vmcs_dump_vcpu` (`(XEN)   CS: 0010 0a09b …`).
    XenVmcs,
    /// Linux `svm.c` `dump_vmcb` (`VMCB State Save Area:`).
    LinuxVmcb,
    /// Xen `svm_vmcb_dump`.
    XenVmcb,
    /// HAXM's VMCS field dump (`4402 VM_EXIT_INFO_REASON: 80000021`).
    Haxm,
    /// Another project's printout of `kvm_sregs` (kontain km, gVisor: `text::sregs`;
    /// qemu-kvm's `kvm_show_regs`: `text::show_regs`; kvmtool's table and its copies in
    /// Solo5, uhyve: `text::kvmtool`): what a VMM hands to KVM_SET_SREGS.
    KvmSregsPrint,
    /// Xen's `show_registers` of an HVM guest's vCPU (`RIP:    0010:[<…>]`, `cr0: …`,
    /// `ds: 0008 …`), see `xen_regs`: control registers and selectors, no
    /// descriptor cache.
    XenRegisters,
    /// VirtualBox's guest register dump (`Guest CPUM (VCPU 0) state:`, VBox.log on a
    /// Guru Meditation, `info cpumguest`), see `vbox_log`: `CPUMSELREG` segments with
    /// their `X86DESCATTR` flags.
    VboxLog,
    /// Bochs's CPU dump (`BX_CPU_C::debug`: `CPU is in protected mode (active)`, `|
    /// CS:0010( 0002| 0|  0) …`), see [`super::bochs`]: an emulator's state, segments
    /// without their attributes.
    Bochs,
    /// hyperkit's and xhyve's VMCS dump (`VMCS_GUEST_CS_ACCESS_RIGHTS: 0x…`), see
    /// [`super::hvdump`].
    Hvdump,
    /// `bhyvectl --get-all` from an Intel host (its VMCS lines show), see
    /// [`super::bhyvectl`].
    BhyvectlVmcs,
    /// `bhyvectl --get-all` from an AMD host (its VMCB lines or EFER.SVME show).
    BhyvectlVmcb,
    /// `bhyvectl --get-all` cut before anything that tells the host's vendor.
    Bhyvectl,
    /// gdb's `info registers` of an x86 system target (QEMU's gdbstub: `cs 0x10 16`,
    /// `cr0 0x80050033 [ PG … PE ]`), see `gdb_regs`: control registers and
    /// selectors, no descriptor cache.
    GdbRegisters,
    /// EDK2's CPU exception dump (`!!!! X64 Exception Type - 0D(#GP - General
    /// Protection)  CPU Apic ID - …`, OVMF's serial output), see `edk2_exception`: the
    /// firmware's own view, control registers and selectors, no descriptor cache.
    Edk2Exception,
    /// NoirVisor's VMCS dump (`Guest CS Segment - Selector: 0x10`), see [`super::noirvisor`].
    NoirVisor,
    /// openvmm's register trace after a triple fault (`vmm_core::partition_unit::vp_set`:
    /// `cs=SegmentRegister { base: 0, limit: ffffffff, selector: 38, attributes: a09b }`),
    /// see `text::rust_debug`: Hyper-V attribute words, whichever hypervisor ran the VP.
    OpenvmmTrace,
    /// Jailhouse's panic dump from an Intel host (`AR-BYTES` of a VMCS), see
    /// [`super::jailhouse`]: RIP, RFLAGS, CS without its limit, CR0, CR3, CR4, EFER.
    JailhouseVmcs,
    /// Jailhouse's panic dump from an AMD host (a VMCB's `AR-BYTES`, EFER.SVME).
    JailhouseVmcb,
    /// Jailhouse's panic dump that does not tell its host's vendor.
    Jailhouse,
    /// A WHP VMM's registers (hyperlight's `WHV_REGISTER_NAME(  19) - 0x… …`, `ExecState=`
    /// words), see `whp_registers`.
    WhpRegisters,
}

impl Dialect {
    /// A short name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Dialect::Qemu => "QEMU dump",
            Dialect::LinuxVmcs => "Linux dump_vmcs",
            Dialect::XenVmcs => "Xen VMCS dump",
            Dialect::LinuxVmcb => "Linux dump_vmcb",
            Dialect::XenVmcb => "Xen VMCB dump",
            Dialect::Haxm => "HAXM VMCS dump",
            Dialect::KvmSregsPrint => "kvm_sregs printout",
            Dialect::XenRegisters => "Xen register dump",
            Dialect::VboxLog => "VirtualBox register dump",
            Dialect::Bochs => "Bochs CPU dump",
            Dialect::Hvdump => "hyperkit VMCS dump",
            Dialect::BhyvectlVmcs => "bhyvectl dump of a VMCS",
            Dialect::BhyvectlVmcb => "bhyvectl dump of a VMCB",
            Dialect::Bhyvectl => "bhyvectl register dump",
            Dialect::GdbRegisters => "gdb register listing",
            Dialect::Edk2Exception => "EDK2 exception dump",
            Dialect::NoirVisor => "NoirVisor VMCS dump",
            Dialect::OpenvmmTrace => "openvmm register trace",
            Dialect::WhpRegisters => "WHP register printout",
            Dialect::JailhouseVmcs => "Jailhouse panic dump of a VMCS",
            Dialect::JailhouseVmcb => "Jailhouse panic dump of a VMCB",
            Dialect::Jailhouse => "Jailhouse panic dump",
        }
    }

    /// The hardware the dialect's save area belongs to; `None` for QEMU's.
    #[must_use]
    pub const fn vendor(self) -> Option<Vendor> {
        match self {
            // Xen prints its register dump alike on Intel and AMD.
            // VirtualBox prints CPUM's context alike on VT-x, AMD-V and its emulator.
            Dialect::Qemu
            | Dialect::KvmSregsPrint
            | Dialect::XenRegisters
            | Dialect::VboxLog
            | Dialect::Bochs
            | Dialect::Bhyvectl
            | Dialect::GdbRegisters
            | Dialect::Edk2Exception
            | Dialect::OpenvmmTrace
            | Dialect::WhpRegisters
            | Dialect::Jailhouse => None,
            Dialect::LinuxVmcs
            | Dialect::XenVmcs
            | Dialect::Haxm
            | Dialect::Hvdump
            | Dialect::NoirVisor
            | Dialect::BhyvectlVmcs
            | Dialect::JailhouseVmcs => Some(Vendor::Intel),
            Dialect::LinuxVmcb
            | Dialect::XenVmcb
            | Dialect::BhyvectlVmcb
            | Dialect::JailhouseVmcb => Some(Vendor::Amd),
        }
    }
}

display_by_name!(Dialect);

/// The lines of a log a dump spans, first to last (1-based, both included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineSpan {
    /// First line.
    pub first: usize,
    /// Last line.
    pub last: usize,
}

impl LineSpan {
    /// The one line `line`.
    #[must_use]
    pub const fn at(line: usize) -> Self {
        LineSpan {
            first: line,
            last: line,
        }
    }

    /// Grows the span to `line` when that is past its end: a reader met one more line
    /// of the dump.
    pub fn extend_to(&mut self, line: usize) {
        self.last = self.last.max(line);
    }

    /// True when `line` is inside.
    #[must_use]
    pub const fn contains(self, line: usize) -> bool {
        self.first <= line && line <= self.last
    }

    /// True when `other` lies wholly inside.
    #[must_use]
    pub const fn covers(self, other: LineSpan) -> bool {
        self.first <= other.first && other.last <= self.last
    }

    /// The smallest span holding both.
    #[must_use]
    pub fn join(self, other: LineSpan) -> LineSpan {
        LineSpan {
            first: self.first.min(other.first),
            last: self.last.max(other.last),
        }
    }
}

/// One dump as a dialect reader found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawDump {
    /// Its dialect.
    pub dialect: Dialect,
    /// The lines it was read from.
    pub lines: LineSpan,
    /// The fields read.
    pub guest: GuestState,
    /// The CPL QEMU printed (`CPL=`), for QEMU dumps.
    pub printed_cpl: Option<Cpl>,
    /// Remarks: cut lines, odd widths.
    pub notes: Vec<String>,
    /// Segment registers the dump shows only some fields of (a HAXM paste cut before
    /// the limits): each is named in a note and not read.
    pub partial_segments: Vec<SegReg>,
    /// QEMU's `-d cpu_reset` dump: the state as a reset began, which nothing entered.
    pub at_reset: bool,
    /// The mode the dump names in words (Bochs's `CPU is in protected mode`), which
    /// stands in for the mode only where the fields read do not decide it.
    pub named_mode: Option<CpuMode>,
    /// EFER.LMA as the dump names it without printing EFER (EDK2's X64 or IA32
    /// handler), which decides IA-32e mode where the fields read do not.
    pub named_lma: Option<bool>,
    /// QEMU's `Code=` line after the dump: the bytes at RIP.
    pub code: Option<CodeAtRip>,
    /// QEMU's `SMM=`: whether the vCPU was in system-management mode.
    pub smm: Option<bool>,
}

impl RawDump {
    /// An empty dump starting at `line`.
    #[must_use]
    pub fn new(dialect: Dialect, line: usize) -> Self {
        RawDump {
            dialect,
            lines: LineSpan::at(line),
            guest: GuestState::default(),
            printed_cpl: None,
            notes: Vec::new(),
            partial_segments: Vec::new(),
            at_reset: false,
            named_mode: None,
            named_lma: None,
            code: None,
            smm: None,
        }
    }

    /// Adds a remark, up to 32 (`MAX_NOTES`).
    pub fn note(&mut self, s: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(s);
        }
    }

    /// True when any field was read.
    #[must_use]
    pub fn has_fields(&self) -> bool {
        self.guest != GuestState::default()
    }
}

/// Where a state would run, as far as the log tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Intel VMX (a VMCS dump, a VMX exit reason or VM-instruction error).
    Intel,
    /// AMD SVM (a VMCB dump, VMEXIT_INVALID).
    Amd,
    /// QEMU's TCG emulator (`-d int` output): no VM entry at all, only the
    /// architecture applies.
    Tcg,
    /// Bochs's emulated CPU (a Bochs CPU dump): like TCG, no VM entry, only the
    /// architecture applies. Its own target rather than [`Target::Tcg`] so that a
    /// report names the program whose state it judges.
    Bochs,
    /// The state a firmware's own exception handler printed (an EDK2 exception dump):
    /// the CPU ran in it until the exception, in a VM or on hardware; no VM entry is in
    /// question, only the architecture applies.
    Firmware,
    /// Nothing in the log says: both vendors, each labelled.
    Unknown,
}

/// One state the log holds: one dump, or a kernel dump and a QEMU dump of the same
/// failure merged, or only exit lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogDump {
    /// First line of the first dump (or of the first exit line).
    pub line: usize,
    /// The dialects merged into it, in the order they were merged.
    pub dialects: Vec<Dialect>,
    /// The state.
    pub guest: GuestState,
    /// The CPL QEMU printed, when a QEMU dump is part of it.
    pub printed_cpl: Option<Cpl>,
    /// The exit lines that go with it, with their lines.
    pub exits: Vec<(usize, Exit)>,
    /// Inferred target.
    pub target: Target,
    /// Why the target was inferred.
    pub target_reason: String,
    /// Remarks: cut lines, merge conflicts.
    pub notes: Vec<String>,
    /// Segment registers shown only in part, named in the notes and not read: the
    /// dump shows no segment register only when this is empty too.
    pub partial_segments: Vec<SegReg>,
    /// QEMU printed registers it never read (a protected guest's, which KVM withholds,
    /// see `ingest::protected`): the state is empty, its first note says why, and
    /// nothing is judged.
    pub withheld: bool,
    /// The mode the dump names in words (Bochs's `CPU is in protected mode` and
    /// `CS.mode = 32 bit`), apart from the fields: see [`LogDump::mode`].
    pub named_mode: Option<CpuMode>,
    /// EFER.LMA as the dump names it without printing EFER (EDK2's X64 or IA32
    /// exception handler): see [`LogDump::mode`].
    pub named_lma: Option<bool>,
    /// The bytes at RIP, from QEMU's `Code=` line (the first, when dumps merged).
    pub code: Option<CodeAtRip>,
    /// Whether QEMU printed the vCPU in system-management mode (`SMM=1`).
    pub smm: Option<bool>,
}

impl LogDump {
    /// The instruction at RIP, from QEMU's `Code=` line when the log has one, decoded
    /// in the width the mode and the cached CS.D give ([`CpuMode::code_bits`]).
    #[must_use]
    pub fn instruction_at_rip(&self) -> Option<InstructionAtRip> {
        let code = self.code.as_ref()?;
        Some(code.instruction(self.code_bits(), self.guest.rip.unwrap_or(0)))
    }

    /// The width instructions are decoded in, when the mode and CS.D are known.
    fn code_bits(&self) -> Option<u32> {
        let cs_db = self.guest.segments[SegReg::Cs].map(|s| s.attributes.db);
        self.mode()
            .ok()
            .zip(cs_db)
            .map(|(m, db)| m.mode().code_bits(db))
    }
}

/// Without "load IA32_EFER" a VMCS dump's EFER is a field VM entry ignores: the guest
/// runs with EFER.LMA, and with paging EFER.LME, from "IA-32e mode guest"
/// ([`VmxControls::efer_after_entry`], SDM Vol. 3C §27.3.2.1). Applied to every VMCS
/// dump whose entry controls are shown (Linux and Xen `dump_vmcs`, HAXM, hyperkit,
/// bhyvectl), with a note where it changes the value: Xen 4.9-4.11 runs 64-bit guests
/// with `EntryControls=000053ff` (HAXM's dumps show `51ff`, bit 15 clear too), and Linux
/// before 5.11 and Xen print the field whenever they load or save IA32_PAT.
fn efer_as_entered(d: &mut RawDump) {
    let g = &mut d.guest;
    let (Some(printed), Some(entry)) = (g.efer, g.controls.entry) else {
        return;
    };
    let Some(entered) = g.controls.efer_after_entry(printed, g.cr0) else {
        return;
    };
    if entered != printed {
        g.efer = Some(entered);
        let ia32e = u8::from(entry & VmxControls::ENTRY_IA32E_MODE_GUEST != 0);
        d.notes.push(format!(
            "VM-entry controls {entry:08x}: load IA32_EFER (bit 15) is clear, so VM entry \
             neither checks nor loads the EFER field the dump prints ({printed:#x}); it sets \
             EFER.LMA, and with paging EFER.LME, from IA-32e mode guest (bit 9 = {ia32e}), so \
             the state is judged with EFER = {entered:#x}, its other bits as printed, though \
             the guest has whatever the processor held (SDM Vol. 3C §27.3.2.1)"
        ));
    }
}

/// Reads every dump and exit line of a pasted log.
#[must_use]
pub fn read_log(text: &str) -> Vec<LogDump> {
    read_log_from(text, 1)
}

/// [`read_log`] of a part of a longer text whose first line is that text's `first_line`:
/// every line number read (dumps, exits, notes) is the whole text's.
pub(crate) fn read_log_from(text: &str, first_line: usize) -> Vec<LogDump> {
    let mut source = quoted_printable::decode(text);
    source
        .lines
        .iter_mut()
        .for_each(|(no, _)| *no += first_line - 1);
    let mut lines = strip_prefixes(&source.lines);
    // A DOS debugger's or WinDbg's register display (`EAX=…`, `EIP=…`, the flags as
    // `NV UP EI PL …`) is no dump: no reader sees its lines.
    super::debugger_regs::blank(&mut lines);
    let whp = super::whp_registers::claim(&mut lines);
    let mut words = Words::new(&lines);
    // Xen prints `(XEN) ` before every line of its dumps.
    let xen = text.contains("(XEN)");
    let (mut raws, tcg) = qemu_log::read(&mut words);
    words.rewind(0);
    raws.extend(linux_vmcs::read(&mut words, xen));
    words.rewind(0);
    raws.extend(linux_vmcb::read(&mut words, xen));
    words.rewind(0);
    raws.extend(haxm::read(&mut words));
    words.rewind(0);
    raws.extend(super::hvdump::read(&mut words));
    words.rewind(0);
    raws.extend(super::bhyvectl::read(&mut words));
    words.rewind(0);
    raws.extend(super::text::sregs::read(&mut words));
    words.rewind(0);
    raws.extend(super::text::show_regs::read(&mut words));
    words.rewind(0);
    raws.extend(super::text::kvmtool::read(&mut words));
    words.rewind(0);
    raws.extend(super::text::opendcdiag::read(&mut words));
    words.rewind(0);
    raws.extend(super::text::rust_debug::read(&mut words));
    raws.extend(super::xen_regs::read(&lines, xen));
    raws.extend(super::vbox_log::read(&lines));
    raws.extend(super::gdb_regs::read(&lines));
    raws.extend(whp);
    raws.extend(super::edk2_exception::read(&lines));
    raws.extend(super::noirvisor::read(&source.lines));
    let jailhouse = super::jailhouse::read(&lines);
    for d in raws
        .iter_mut()
        .filter(|d| d.dialect.vendor() == Some(Vendor::Intel))
    {
        efer_as_entered(d);
    }
    let bochs = super::bochs::read(&source.lines);
    // A Bochs dump's `EFER   = 0x…`, `EAX=…` and `CR3=0x…` lines also look like fields
    // of a dump_vmcs or QEMU dump: another dialect's dump starting inside a Bochs
    // dump's lines is a misreading of them.
    // So do Jailhouse's `CR0: …` and `EFER: …` lines, and a console's cut repeat of them.
    let mut fenced: Vec<LineSpan> = bochs.iter().map(|d| d.lines).collect();
    fenced.extend(jailhouse.iter().map(|d| d.lines));
    raws.retain(|d| !fenced.iter().any(|b| b.contains(d.lines.first)));
    raws.extend(bochs);
    raws.extend(jailhouse);
    raws.sort_by_key(|d| d.lines.first);
    // A kvm_sregs printout's `CR0: 0x…` and `EFER: 0x…` lines also look like fields of
    // a HAXM or dump_vmcs dump, and dump_vmcs's host state `CR0=… CR3=… CR4=…` like a
    // QEMU dump's: a dump without segments inside the lines of a dump of another
    // dialect is a misreading of them.
    let spans: Vec<(Dialect, LineSpan)> = raws.iter().map(|d| (d.dialect, d.lines)).collect();
    raws.retain(|d| {
        d.guest.segments.iter().any(|(_, s)| s.is_some())
            || !spans
                .iter()
                .any(|(dialect, span)| *dialect != d.dialect && span.covers(d.lines))
    });
    if raws.len() > MAX_DUMPS {
        raws.truncate(MAX_DUMPS);
        if let Some(last) = raws.last_mut() {
            last.note(format!(
                "the log holds more than {MAX_DUMPS} dumps; those after line {} are not read",
                last.lines.last
            ));
        }
    }
    let exits = exits::exits(&lines, &source.lines);
    let host = lines.iter().find_map(|(no, l)| host_evidence(*no, l));

    let kernel: Vec<usize> = (0..raws.len())
        .filter(|&i| raws[i].dialect.vendor().is_some())
        .collect();
    let qemu: Vec<usize> = (0..raws.len())
        .filter(|&i| raws[i].dialect == Dialect::Qemu)
        .collect();
    let mut dumps: Vec<LogDump> = Vec::new();
    let mut groups: Vec<Vec<usize>> = if kernel.len() == 1 && qemu.len() == 1 {
        vec![vec![kernel[0], qemu[0]]]
    } else {
        (0..raws.len()).map(|i| vec![i]).collect()
    };
    groups.sort_by_key(|g| g.iter().map(|&i| raws[i].lines.first).min());
    merge_xen_registers(&raws, &mut groups);
    for group in &groups {
        let first = &raws[group[0]];
        let mut d = LogDump {
            line: group
                .iter()
                .map(|&i| raws[i].lines.first)
                .min()
                .unwrap_or(0),
            dialects: vec_dialects(&raws, group),
            guest: first.guest.clone(),
            printed_cpl: first.printed_cpl,
            exits: Vec::new(),
            target: Target::Unknown,
            target_reason: String::new(),
            notes: first.notes.clone(),
            partial_segments: first.partial_segments.clone(),
            withheld: false,
            named_mode: first.named_mode,
            named_lma: first.named_lma,
            code: first.code.clone(),
            smm: first.smm,
        };
        for &i in &group[1..] {
            let other = &raws[i];
            let differ = d.guest.merge_from(&other.guest);
            d.printed_cpl = d.printed_cpl.or(other.printed_cpl);
            d.named_mode = d.named_mode.or(other.named_mode);
            d.named_lma = d.named_lma.or(other.named_lma);
            d.smm = d.smm.or(other.smm);
            if d.code.is_none() {
                d.code.clone_from(&other.code);
            }
            d.notes.extend(other.notes.iter().cloned());
            for reg in &other.partial_segments {
                if !d.partial_segments.contains(reg) {
                    d.partial_segments.push(*reg);
                }
            }
            d.notes.push(format!(
                "merged with the {} at line {}: one failure, printed twice",
                other.dialect, other.lines.first
            ));
            // KVM's own writes explain a difference only between the kernel's dump of
            // its VMCS or VMCB and QEMU's.
            let kvm = match (first.dialect, other.dialect) {
                (Dialect::LinuxVmcs, Dialect::Qemu) => Some(Vendor::Intel),
                (Dialect::LinuxVmcb, Dialect::Qemu) => Some(Vendor::Amd),
                _ => None,
            };
            for f in differ {
                let why = match (f, &first.guest, &other.guest) {
                    (GuestField::Efer, a, b) => a.efer.zip(b.efer),
                    (GuestField::Cr0, a, b) => a.cr0.zip(b.cr0),
                    (GuestField::Cr4, a, b) => a.cr4.zip(b.cr4),
                    _ => None,
                }
                .map(|(kernel, qemu)| differ::why(f, kvm, kernel, qemu))
                .unwrap_or_default();
                d.notes.push(format!(
                    "{f} differs between the {} and the {}{why}; the {}'s value is judged \
                     (it is what the CPU was asked to enter)",
                    first.dialect, other.dialect, first.dialect
                ));
            }
        }
        // A register another dump of the failure showed whole is read.
        let guest = &d.guest;
        d.partial_segments.retain(|r| guest.segments[*r].is_none());
        dumps.push(d);
    }
    exits::attach_exits(&mut dumps, &raws, &groups, exits);
    for (k, d) in dumps.iter_mut().enumerate() {
        // The exit-only dump `attach_exits` may add has no group.
        let at_reset = groups
            .get(k)
            .is_some_and(|g| g.iter().all(|&i| raws[i].at_reset));
        infer_target(d, tcg, at_reset, host.as_ref());
        super::protected::withhold(d, at_reset);
        d.notes.extend(exit::cr_access::notes(&d.exits));
        if d.target == Target::Tcg {
            // The `-d int` line just before the dump names the event it was printed for.
            let at = lines.partition_point(|(no, _)| *no < d.line);
            let event = lines[at.saturating_sub(2)..at]
                .iter()
                .rev()
                .find_map(|(_, l)| super::tcg_event::parse(l));
            if let Some(note) = event.and_then(|e| super::tcg_event::idt_note(e, &d.guest)) {
                d.notes.push(note);
            }
        }
        if let Some(note) = source.note(d.line) {
            d.notes.insert(0, note);
        }
    }
    dumps
}

/// Xen prints a failed VM entry twice: `vmx_failed_vmentry` dumps the VMCS
/// (`vmcs_dump_vcpu`), then crashes the domain, and `domain_crash` prints the vCPU's
/// registers (`show_registers`). A Xen register dump that comes next after a Xen VMCS
/// or VMCB dump, with no other dump between, is that same failure: it joins the
/// save area's group, whose fields come first.
fn merge_xen_registers(raws: &[RawDump], groups: &mut Vec<Vec<usize>>) {
    let mut k = 1;
    while k < groups.len() {
        let joins = matches!(groups[k].as_slice(), [i] if raws[*i].dialect == Dialect::XenRegisters)
            && groups[k - 1]
                .last()
                .is_some_and(|&j| matches!(raws[j].dialect, Dialect::XenVmcs | Dialect::XenVmcb));
        if joins {
            let moved = groups.remove(k);
            groups[k - 1].extend(moved);
        } else {
            k += 1;
        }
    }
}

fn vec_dialects(raws: &[RawDump], group: &[usize]) -> Vec<Dialect> {
    group.iter().map(|&i| raws[i].dialect).collect()
}

/// A frame of KVM's AMD code in a kernel stack trace (`npf_interception+0x99/0x180
/// [kvm_amd]`, `svm_handle_exit+0x…/0x…`; the `FUNCTION+off/len [module]` of Linux's
/// `printk("%pS")`): the frame, at most 64 bytes of it.
/// The host's vendor, when line `no` of the log shows which KVM module runs: a kernel
/// stack frame in kvm_amd ([`kvm_amd_frame`]), or a `Modules linked in:` line of an
/// oops or warning that lists kvm_amd or kvm_intel, not both. With the reason in words.
fn host_evidence(no: usize, line: &str) -> Option<(Vendor, String)> {
    if let Some(frame) = kvm_amd_frame(line) {
        return Some((
            Vendor::Amd,
            format!(
                "the host's kernel stack trace in the log runs through kvm_amd (`{frame}`): an \
                 AMD host"
            ),
        ));
    }
    let (_, modules) = line.split_once("Modules linked in:")?;
    let has = |m: &str| modules.split_whitespace().any(|w| w == m);
    let vendor = match (has("kvm_amd"), has("kvm_intel")) {
        (true, false) => Vendor::Amd,
        (false, true) => Vendor::Intel,
        _ => return None,
    };
    let (module, host) = match vendor {
        Vendor::Amd => ("kvm_amd", "an AMD"),
        Vendor::Intel => ("kvm_intel", "an Intel"),
    };
    Some((
        vendor,
        format!(
            "the host kernel's module list at line {no} has {module}, not the other: {host} host"
        ),
    ))
}

fn kvm_amd_frame(line: &str) -> Option<String> {
    let frame = |at: usize| {
        let start = line[..at].rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let end = line[at..]
            .find(char::is_whitespace)
            .map_or(line.len(), |i| at + i);
        let f = &line[start..end];
        let cut = (0..=f.len().min(64))
            .rev()
            .find(|&i| f.is_char_boundary(i))
            .unwrap_or(0);
        String::from(&f[..cut])
    };
    if let Some(at) = line.find(" [kvm_amd]") {
        return Some(frame(
            line[..at].rfind(|c: char| !c.is_whitespace()).unwrap_or(0),
        ));
    }
    let at = line.find("svm_")?;
    let head = line[at..].split_whitespace().next()?;
    let (_, offsets) = head.split_once("+0x")?;
    offsets.contains("/0x").then(|| frame(at))
}

/// Decides `d`'s target: a save area's vendor, else an exit's, else an emulator's
/// (Bochs, a `CPU Reset` dump, a TCG log) when no exit says VM entry was involved.
fn infer_target(d: &mut LogDump, tcg: bool, at_reset: bool, host: Option<&(Vendor, String)>) {
    if d.dialects.contains(&Dialect::Edk2Exception) {
        d.target = Target::Firmware;
        d.target_reason = String::from(
            "an EDK2 exception dump: the firmware's own handler printed the state its CPU \
             took the exception in, in a VM or on hardware; no VM entry is in question, only \
             the architecture applies",
        );
        return;
    }
    if d.dialects.contains(&Dialect::Bochs) {
        d.target = Target::Bochs;
        d.target_reason = String::from(
            "a Bochs CPU dump: Bochs's emulated CPU, no VM entry; only the architecture applies",
        );
        return;
    }
    if let Some(dialect) = d.dialects.iter().find(|x| x.vendor().is_some()) {
        d.target = match dialect.vendor() {
            Some(Vendor::Amd) => Target::Amd,
            _ => Target::Intel,
        };
        d.target_reason = format!("a {dialect} is a dump of that vendor's save area");
        return;
    }
    if let Some((line, e)) = d.exits.iter().find(|(_, e)| e.vendor().is_some()) {
        d.target = match e.vendor() {
            Some(Vendor::Amd) => Target::Amd,
            _ => Target::Intel,
        };
        d.target_reason = format!("the exit at line {line} is {}", e.vendor_evidence());
        return;
    }
    if let Some((vendor, why)) = host {
        d.target = match vendor {
            Vendor::Amd => Target::Amd,
            Vendor::Intel => Target::Intel,
        };
        d.target_reason.clone_from(why);
        return;
    }
    if at_reset && d.exits.is_empty() {
        d.target = Target::Tcg;
        d.target_reason = String::from(
            "a `CPU Reset` dump: QEMU logs the state as the reset begins, which no VM entry \
             was asked to take; only the architecture applies",
        );
        return;
    }
    if tcg && d.exits.iter().all(|(_, e)| e.from_emulator()) {
        d.target = Target::Tcg;
        d.target_reason = String::from(
            "TCG-only log output (-d int exception lines, check_exception, CCS=, SMM:, code \
             outside RAM or ROM) and no VM exit: QEMU's emulator, no VM entry; only the \
             architecture applies",
        );
        return;
    }
    let recompiler = d.exits.iter().find(|(_, e)| e.from_vbox_recompiler());
    if let Some((line, _)) = recompiler
        && d.exits
            .iter()
            .all(|(_, e)| e.from_emulator() || e.from_vbox_recompiler())
    {
        d.target = Target::Tcg;
        d.target_reason = format!(
            "VirtualBox's recompiler ran the guest (Guru Meditation -2301, \
             VERR_REM_VIRTUAL_CPU_ERROR, at line {line}): QEMU's TCG inside VirtualBox, not \
             VT-x or AMD-V, so no VM entry; only the architecture applies"
        );
        return;
    }
    d.target = Target::Unknown;
    d.target_reason = String::from(
        "nothing in the log names the hardware: judged for Intel and AMD, each labelled",
    );
}

mod differ;
mod exits;
mod mode;

#[cfg(test)]
mod tests;
