//! `segstate check`: diagnose a vCPU state, rule by rule.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;
use serde_json::json;

use super::{Failure, Outcome};
use crate::progress::Progress;
use segstate::arch::{GuestField, SegReg, ShownMode};
use segstate::check::Severity;
use segstate::check::report::{Entry, Report, Vendors};
use segstate::check::report_json::ReportJson;
use segstate::ingest::code_at_rip::{Decoding, InstructionAtRip};
use segstate::ingest::exit::Exit;
use segstate::ingest::judge::{self, Judgement};
use segstate::ingest::log::{LogDump, Target};
use segstate::ingest::{Input, InputFormat};

/// The vendors `--vendor` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VendorArg {
    /// Intel VMX: VM-entry checks, chains from a VMCS.
    Intel,
    /// AMD SVM: VMRUN checks, chains from a VMCB.
    Amd,
    /// Both.
    Both,
}

impl From<VendorArg> for Vendors {
    fn from(v: VendorArg) -> Self {
        match v {
            VendorArg::Intel => Vendors::Intel,
            VendorArg::Amd => Vendors::Amd,
            VendorArg::Both => Vendors::Both,
        }
    }
}

/// Diagnose a vCPU state: QEMU dumps, kvm_sregs, VMCB, JSON, migration streams, snapshots.
///
/// Reads a state and says, rule by rule and segment by segment, what is wrong with it
/// and what would happen to it on the way through KVM and a VMM:
///
/// - arch.*: architectural invariants (CPL = SS.DPL, CS.DPL against CPL, CS.L with
///   CS.D, TR/LDTR types, limit against G, EFER.LMA, RIP within CS's limit outside
///   64-bit mode, ...);
///
/// - vmx.entry.*: Intel's VM-entry guest-state checks (SDM Vol. 3C §27.3.1), with
///   KVM's controls and without unrestricted guest: the check a "KVM: entry failed,
///   hardware error 0x80000021" dump failed; and vmx.control.*, a VM-entry control a
///   dump shows (the injected event's error code, §27.2.1.3: VM-instruction error 7);
///
/// - svm.vmrun.*: AMD's VMRUN consistency checks (APM Vol. 2 §15.5.1);
///
/// - kvm.set-sregs.*: what KVM_SET_SREGS refuses (kvm_is_valid_sregs), for a state a
///   VMM hands to it (a QEMU dump or another VMM's kvm_sregs printout, a migration
///   stream's CPU, wtf's regs.json);
///
/// - path.*: the state run through every built-in chain (`segstate verify`): where
///   the CPL or attributes would change, and the profile rule responsible. Through
///   today's code that is an error, through an old release a warning (CPL 3 with an
///   unusable SS escalates on the 2017 chains);
///
/// - qemu.*: a dump whose printed CPL disagrees with SS.DPL, or whose suffix
///   disagrees with its flags, or that QEMU printed with stale hflags (CR0.PE set and
///   no suffix: the accelerator did not sync them).
///
/// The input (FILE, or standard input when `-` or absent) is detected, in this order,
/// after a compressed input is decompressed as it is read (gzip, zstd, xz or bzip2,
/// known by magic, not by name: `dmesg.txt.gz`, `journalctl | zstd`, `vbox.log.xz`, a
/// `.migstream.bz2`; every member, frame or stream; one layer; a cut file is read up to
/// the cut where the decoder has yielded it):
///
/// - by magic: a QEMU migration stream (`migration`, QEVM), a libvirt saved-VM image
///   (`libvirt`, LibvirtQemudSave: its header is skipped, its stream raw, sparse or
///   compressed with gzip, bzip2, xz or zstd), a segstate snapshot
///   (`snapshot`, SEGSNAP: judged with its explicit CPL), a Firecracker snapshot state
///   file (`firecracker`, formats 1.x to 11.x: Firecracker 1.7 and later, and the
///   Versionize files of Firecracker 0.23 to 1.6; every vCPU), a
///   Xen save image (`xen`: an `xl save` file, a libxl or libxc stream, down to
///   HVM_CONTEXT, every vCPU), Hyper-V
///   saved state (`hyperv`: a `.vmrs`/`.vsv` file, opened by seeking, or its partition
///   state blob; every VP, its own CPL byte), a crosvm snapshot's `vcpu{N}` fragment
///   (`crosvm`, CBOR starting with `vcpu_id`, or the JSON crosvm wrote before
///   2025-03-11, `{"vcpu_id":`), a QEMU guest memory dump (`vmcore`: what
///   `dump-guest-memory` and `virsh dump --memory-only` write, ELF or kdump-compressed,
///   raw or flattened; every vCPU's segment cache from QEMU's CPU notes, the CPL as
///   SS.DPL, EFER.LMA inferred and said so); streams are read as streams, guest RAM is
///   never held;
///
/// - a qcow2 image (`qcow2`, by its path: `QFI\xfb`): every internal snapshot with VM
///   state (`savevm`, `virsh snapshot-create` of a running domain), its migration
///   stream read through the image's cluster tables, each CPU labelled with the
///   snapshot's tag;
///
/// - a Cloud Hypervisor snapshot (`cloud-hypervisor`): its directory, or its
///   `state.json` (`vm.json` up to v21) by the `snapshots` / `cpu-manager` keys; every
///   vCPU, the stack and the layout's Cloud Hypervisor versions named;
///
/// - a crosvm snapshot directory (`crosvm`): its `vcpu` namespace, every `vcpu{N}`
///   fragment, the stack named (an encrypted snapshot, with `enc_metadata`, is refused);
///
/// - text: starting with `{` the `regs.json` of the snapshot fuzzer wtf (`wtf`: by its
///   `cs` object with `attr` and `present`; bdump.js's old and fixed `attr` encodings
///   and wtf's linux_mode QEMU flags, the one read named), else segstate's JSON
///   kvm_sregs (`json`, the `segstate convert --to sregs` shape); the text Xen's
///   `xen-hvmctx DOMID` prints (`xen-hvmctx`, by its `HVM save record for domain`
///   title or a CPU entry: Xen 4.0 to 4.11's layout and 4.12's, whose `es` line holds
///   DS and `ds` line ES; every vCPU loaded as a save image's); else a log as pasted (`dump`: journald/syslog/dmesg/(XEN)/e-mail
///   prefixes, wrapped or cut lines) holding QEMU dumps, Linux dump_vmcs/dump_vmcb, Xen
///   or HAXM dumps, kvm_sregs printouts (kontain km, gVisor, qemu-kvm's register dump,
///   kvmtool's `register  selector  base` table and its copies in Solo5 and uhyve,
///   OpenDCDiag's KVM `Register dump:` (`cs  = 0x0008 base = … type=R-Xa …`),
///   openvmm's triple-fault trace (`cs=SegmentRegister { … attributes: a09b }`),
///   and the Rust VMMs' `{:?}`/`{:#?}` of kvm-bindings' `kvm_sregs`, hex `{:x?}` too),
///   gdb's `info registers` of an x86 system target (QEMU's gdbstub: its control
///   registers judged, its selectors named, not read), EDK2's CPU exception dump
///   (OVMF's `!!!! X64 Exception Type - …` serial output, X64 or IA32: judged for the
///   architecture only, the vector and error code in words), VirtualBox's `Guest CPUM`
///   register dump (VBox.log, `info cpumguest`), Bochs CPU
///   dumps (`bochsout.txt` after a triple fault or panic: judged for the architecture
///   only, its segments named, not read, since Bochs prints no attributes), hyperkit's
///   and xhyve's VMCS dump (`VMCS_GUEST_CS_ACCESS_RIGHTS: 0x…`, staircase pastes too),
///   NoirVisor's VMCS dump (`Guest CS Segment - Selector: …`, its `Failed at VM-Entry,
///   Code=N` the VM-instruction error), Jailhouse's panic dump (`CS: 10 BASE: 0x…
///   AR-BYTES: 29b EFER.LMA 1`: CS named, not read, its limit not printed; the host's
///   vendor told by EFER.SVME, the attributes' width or CR4.VMXE), hyperlight's WHP
///   register listing
///   (`WHV_REGISTER_NAME(  19) - 0x<high 64> <low 64>`, after its
///   `WHV_RUN_VP_EXIT_REASON(n)`) and `NAME=0x…` words around a WHP exit context's
///   `ExecState=` (the CPL read from it),
///   `bhyvectl --get-all` (each vCPU a state) and exit lines, read a part at a time,
///   each dump with its verdict first; a text with none of them but a wtf regs.json
///   pasted in it (an issue) is read from the JSON's first line;
///
/// - binary, by size: 312 bytes kvm_sregs (`sregs`), 456 kvm_sregs + kvm_regs
///   (`sregs+regs`), 4096 a VMCB page (`vmcb`), 664..=3072 a VMCB save area
///   (`vmcb-save`).
///
/// - named only, having no magic: a HyperFuzzer VM state (`hyperfuzzer`, the seeds of
///   Microsoft's Hyper-V fuzzer: a 396-byte register file, then guest physical memory;
///   the CPL as SS.DPL, and the instruction at CS:RIP found through the guest's page
///   tables and named, the exit the seed was written to make).
///
/// A QEMU dump's `Code=` line (50 bytes around RIP, the one at RIP bracketed) names
/// the instruction at RIP, decoded in the width the dump's mode and CS.D give: the
/// WRMSR, RSM or ENDBR32 KVM could not run (`instruction at RIP` in the text,
/// `instruction_at_rip` in the JSON). Bytes QEMU printed `??` (memory it could not
/// read: an SEV guest's, an unmapped page) are named, not guessed. A KVM emulation
/// failure whose extra data carry the fetched instruction bytes (Linux 5.15 on) names
/// the instruction KVM could not emulate the same way (`emulated_instruction`), and so
/// does Xen's `MMIO emulation failed (1): d1v0 16bit @ f000:0000fea7 -> 66 ea …` line,
/// in the width it names.
///
/// `--format NAME` forces one of those names, whatever the input starts with. A
/// non-stream input larger than 1 MiB (16 MiB for a snapshot, 32 MiB for another VMM's
/// state file, 64 MiB for a HyperFuzzer VM state) is refused unread.
///
/// Exit status: 0 when no state has an error, 1 when one has, 2 when the input cannot
/// be read (the message names the input, then the line or byte offset).
#[derive(clap::Args, Debug)]
#[command(after_help = r#"Examples:
  segstate check qemu.log                  every dump in a QEMU log (-d cpu, "KVM: entry failed")
  segstate check --vendor intel crash.txt  which VM-entry check a 0x80000021 dump fails
  segstate check --format sregs sregs.bin  raw KVM_GET_SREGS bytes (append kvm_regs for RFLAGS)
  segstate check vmcb.bin                  a 4 KiB VMCB page: VMRUN checks, CPL from VMCB.CPL
  segstate check vm.snapshot/              a Cloud Hypervisor snapshot: every vCPU
  segstate check vmstate                   a Firecracker snapshot state file: every vCPU
  segstate check crosvm-snap/              a crosvm snapshot (vcpu/vcpu0, ...): every vCPU
  segstate check domain.xlsave             a Xen xl save image or libxc stream: every vCPU
  segstate check vm.vmrs                   Hyper-V saved state: every VP, with its CPL byte
  segstate check guest.vmcore              QEMU dump-guest-memory (ELF or kdump): every vCPU
  segstate check disk.qcow2                every internal snapshot's CPUs (savevm, virsh snapshot-create)
  segstate check state/regs.json           wtf's regs.json (bdump.js, linux_mode): attr encoding named
  segstate check --format hyperfuzzer syscall.bin  a HyperFuzzer seed: state and first instruction
  segstate convert --from sregs-bytes --to sregs < sregs.hex | segstate check
  segstate check --json --verbose dump.txt"#)]
pub struct Args {
    /// The input file; `-` or absent reads standard input.
    input: Option<std::path::PathBuf>,
    /// Which hardware to judge for (default: inferred — amd for a VMCB or a VMCB dump or
    /// VMEXIT_INVALID, intel for a VMCS dump or a VMX exit, the architecture only for a
    /// TCG `-d int` log, a Bochs CPU dump or an EDK2 exception dump, both otherwise).
    #[arg(long, value_enum)]
    vendor: Option<VendorArg>,
    /// The input format (default: detected): dump, json, sregs, sregs+regs, vmcb,
    /// vmcb-save, migration, libvirt, snapshot, cloud-hypervisor, firecracker, crosvm,
    /// xen, hyperv, xen-hvmctx, wtf, vmcore, qcow2, hyperfuzzer (never detected: no
    /// magic).
    #[arg(long, value_parser = parse_format, value_name = "NAME")]
    format: Option<InputFormat>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Show info findings too (path changes through never-merged designs, and on
    /// unusable segments).
    #[arg(long, short)]
    verbose: bool,
}

/// `--format`: one of [`InputFormat::name`].
fn parse_format(s: &str) -> Result<InputFormat, segstate::ingest::UnknownInputFormat> {
    s.parse()
}

/// Judges one input: a text log through the tolerant readers (vendor inferred from
/// the log unless `--vendor` is given, verdict first), anything else as before.
fn judge(input: &Input, vendor: Option<VendorArg>) -> (Report, Option<Judgement>) {
    if let Some(mut j) = judge::judge_input(input, vendor.map(Vendors::from)) {
        let mut r = j.report.clone();
        r.notes.splice(0..0, input.notes.iter().cloned());
        j.report = r.clone();
        return (r, Some(j));
    }
    let vendor = vendor.map_or(
        if matches!(input.format, InputFormat::Vmcb | InputFormat::VmcbSave) {
            Vendors::Amd
        } else {
            Vendors::Both
        },
        Vendors::from,
    );
    let mut r = input.report(vendor);
    r.notes.splice(0..0, input.notes.iter().cloned());
    (r, None)
}

/// What check prints as it goes: each state as soon as it is judged, so a long log
/// needs memory for one state at a time, never for all of them.
struct Printer<'a> {
    args: &'a Args,
    states: usize,
    failing: usize,
    errors: usize,
}

impl Printer<'_> {
    fn state(&mut self, input: &Input) {
        let (r, j) = judge(input, self.args.vendor);
        self.states += 1;
        self.failing += usize::from(r.errors() > 0);
        self.errors += r.errors();
        if self.args.json {
            let opening = if self.states == 1 {
                "{\n\"states\": [\n"
            } else {
                ",\n"
            };
            let state = StateJson::new(input, &r, j.as_ref(), self.args.verbose).to_pretty();
            out!("{opening}{state}");
        } else {
            let mut text_out = String::new();
            if self.states > 1 {
                text_out.push('\n');
            }
            text(&mut text_out, input, &r, j.as_ref(), self.args.verbose);
            out!("{text_out}");
        }
    }

    /// Closes the JSON document; `error` is why reading stopped, if it did.
    fn finish(&self, code: u8, error: Option<&str>) {
        if self.args.json {
            if self.states == 0 {
                out!("{{\n\"states\": [");
            }
            let error = error.map_or(String::new(), |e| format!("\"error\": {},\n", json!(e)));
            outln!(
                "\n],\n\"errors\": {},\n{error}\"exit\": {code}\n}}",
                self.errors
            );
        } else if self.states > 1 && error.is_none() {
            outln!(
                "\n{} states checked: {} with errors, {} without",
                self.states,
                self.failing,
                self.states - self.failing
            );
        }
    }
}

pub fn run(args: &Args) -> Outcome {
    let opened = crate::input::open(
        args.input.as_deref(),
        args.format,
        "a vCPU state (a QEMU dump, kvm_sregs, VMCB, JSON, ...)",
    )?;
    let name = opened.name().clone();
    let mut printer = Printer {
        args,
        states: 0,
        failing: 0,
        errors: 0,
    };
    let mut progress = Progress::new(!args.json);
    let read = opened.read_each(&mut |input| {
        printer.state(&input);
        progress.show(|| format!("{} states checked", printer.states));
    });
    progress.done();
    if let Err(e) = read {
        let message = e.to_string();
        if printer.states > 0 {
            // What was read before the error is printed; the document still closes.
            printer.finish(2, Some(&message));
        } else if args.json {
            // `--json` always prints JSON: what could not be read, where, and why.
            outln!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "error": {
                        "what": "the input cannot be read",
                        "where": name.to_string(),
                        "why": message,
                    },
                    "exit": 2,
                }))
                .unwrap_or_default()
            );
        }
        return Err(Failure::input(message));
    }
    let code = u8::from(printer.failing > 0);
    printer.finish(code, None);
    Ok(ExitCode::from(code))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The least severity a finding needs to be listed: info findings only with `--verbose`.
fn least_shown(verbose: bool) -> Severity {
    if verbose {
        Severity::Info
    } else {
        Severity::Warning
    }
}

fn rules_text(e: &Entry) -> Option<String> {
    match e.rules.as_slice() {
        [] => None,
        [one] => Some(format!("rule {one}")),
        many => Some(format!(
            "rules {} (all needed to fix it)",
            many.iter().map(|r| r.id()).collect::<Vec<_>>().join(" + ")
        )),
    }
}

/// The CPL QEMU printed (`CPL=`): a whole QEMU dump's, or that of the QEMU dump in a
/// log's state. The text and `--json` both say it.
fn printed_cpl(input: &Input) -> Option<u8> {
    input.dump.as_ref().map(|d| d.cpl).or_else(|| {
        input
            .log
            .as_ref()
            .and_then(|l| l.printed_cpl)
            .map(|c| c.bits())
    })
}

fn text(out: &mut String, input: &Input, r: &Report, j: Option<&Judgement>, verbose: bool) {
    let printed = printed_cpl(input)
        .map(|c| format!(" (QEMU printed CPL={c})"))
        .unwrap_or_default();
    if let Some(j) = j {
        // The verdict first, one line per dump.
        let _ = writeln!(out, "== {} [{}]: {}", input.label, input.format, j.verdict);
        let judged = j
            .vendors
            .map_or_else(|| String::from("the architecture only"), |v| v.to_string());
        // What the dump does not show is not printed as if it did.
        let guest = input.log.as_ref().map(|l| &l.guest);
        let mode = mode_in_words(input, r);
        let cpl = if guest.is_some_and(|g| g.cpl.is_none()) {
            String::from("unknown")
        } else {
            r.cpl.to_string()
        };
        let _ = writeln!(
            out,
            "   {mode}, CPL {cpl}{printed}; judged for {judged} ({})",
            j.target_reason
        );
        if let Some(log) = &input.log {
            for (line, e) in &log.exits {
                let _ = writeln!(out, "   exit at line {line}: {}", e.class().describe());
            }
            if let Some(i) = log.instruction_at_rip() {
                let _ = writeln!(out, "   instruction at RIP (Code= at line {}): {i}", i.line);
            }
            if let Some(i) = log.emulated_instruction() {
                let xen = log
                    .exits
                    .iter()
                    .any(|(l, e)| *l == i.line && matches!(e, Exit::XenEmulationFailed(_)));
                let (who, whence) = if xen {
                    ("Xen", "its `emulation failed` line")
                } else {
                    ("KVM", "the extra data at line")
                };
                let _ = writeln!(
                    out,
                    "   instruction {who} could not emulate ({whence} {}): {i}",
                    i.line
                );
            }
        }
    } else {
        let _ = writeln!(
            out,
            "== {} [{}]: {}, CPL {}{printed}; judged for {}",
            input.label, input.format, r.mode, r.cpl, r.vendor
        );
    }
    if let Some(m) = &input.instruction_in_memory {
        let _ = writeln!(
            out,
            "   instruction at RIP (guest memory: {m}): {}",
            m.instruction
        );
    }
    for note in &r.notes {
        let _ = writeln!(out, "   note: {note}");
    }
    if let Some(j) = j.filter(|j| !j.not_judged.is_empty()) {
        let _ = writeln!(
            out,
            "   not judged (they read fields the dump lacks): {}",
            j.not_judged.join(", ")
        );
    }
    let mut hidden = 0;
    for (reg, list) in r.by_segment() {
        let visible: Vec<&&Entry> = list
            .iter()
            .filter(|e| e.finding.severity >= least_shown(verbose))
            .collect();
        hidden += list.len() - visible.len();
        if visible.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {}", reg.map_or("CPU-wide", |r| r.name()));
        for e in visible {
            let f = &e.finding;
            let _ = writeln!(
                out,
                "    {:<7} {:<32} {}: expected {}, found {}",
                f.severity.to_string(),
                f.id,
                f.field,
                f.expected,
                f.found
            );
            let mut tail = Vec::new();
            if let Some(c) = &e.context {
                tail.push(if e.chain.is_some() {
                    format!("via {c}")
                } else {
                    c.clone()
                });
            }
            if let Some(rules) = rules_text(e) {
                tail.push(rules);
            }
            tail.push(format!("ref: {}", f.reference));
            let _ = writeln!(out, "            {}", tail.join("; "));
        }
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "  ({} hidden: path changes through never-merged designs or of unusable segments; --verbose shows them)",
            plural(hidden, "info finding")
        );
    }
    let verdict = if r.errors() > 0 {
        "ERRORS"
    } else if r.count(Severity::Warning) > 0 {
        "ok, with warnings"
    } else {
        "ok"
    };
    let _ = writeln!(
        out,
        "  summary: {}, {}, {}: {verdict}",
        plural(r.errors(), "error"),
        plural(r.count(Severity::Warning), "warning"),
        plural(r.count(Severity::Info), "info")
    );
}

/// One exit line of a log, as the JSON lists it.
#[derive(Serialize)]
struct ExitJson {
    line: usize,
    class: String,
    blames_guest_state: bool,
}

/// The instruction at RIP from QEMU's `Code=` line, as the JSON gives it.
#[derive(Serialize)]
struct InstructionJson {
    /// The line of `Code=` (or of the exit's extra data); null for an instruction read
    /// from guest memory the input carries.
    line: Option<usize>,
    /// For an instruction read from guest memory: CS:RIP as a linear address.
    linear: Option<u64>,
    /// For an instruction read from guest memory: the physical address of its first byte.
    physical: Option<u64>,
    /// `decoded`, `unreadable`, `cut`, `invalid`, `mode-unknown` or `not-decoded`.
    status: &'static str,
    /// The code segment's width it was decoded in, null when the mode is unknown.
    bits: Option<u32>,
    /// Its bytes (all readable ones from RIP, up to 15, when not decoded).
    bytes: String,
    /// The instruction in MASM syntax, when decoded.
    text: Option<String>,
    /// The text report's sentence.
    description: String,
}

impl From<&InstructionAtRip> for InstructionJson {
    fn from(i: &InstructionAtRip) -> Self {
        InstructionJson {
            line: Some(i.line),
            linear: None,
            physical: None,
            status: i.status(),
            bits: i.bits,
            bytes: i.hex(),
            text: match &i.decoding {
                Decoding::Decoded { text, .. } => Some(text.clone()),
                _ => None,
            },
            description: i.to_string(),
        }
    }
}

/// A rule not judged for want of a field, as the JSON lists it.
#[derive(Serialize)]
struct RuleNotJudgedJson {
    id: &'static str,
    lacks: String,
}

/// The mode as the report's second line says it: decided, or how far the dump's
/// fields decide it ("protected mode, IA-32e or not unknown (no EFER in the dump)").
fn mode_in_words(input: &Input, r: &Report) -> String {
    let withheld = input.log.as_ref().is_some_and(|l| l.withheld);
    match input.log.as_ref().map(LogDump::mode) {
        // Its fields were printed, but never read: not "no CR0 in the dump".
        _ if withheld => String::from("mode unknown (the dump carries no registers)"),
        Some(Ok(mode)) => mode.to_string(),
        // A dump that shows CS's selector alone (gdb's listing, EDK2's exception dump)
        // has CS, not the descriptor cache whose L and D bits decide the rest.
        Some(Err(gap))
            if gap.lacks == GuestField::Segment(SegReg::Cs)
                && input
                    .log
                    .as_ref()
                    .is_some_and(|l| l.partial_segments.contains(&SegReg::Cs)) =>
        {
            format!(
                "{} (only CS's selector is in the dump, not its L and D bits)",
                gap.so_far_in_words()
            )
        }
        Some(Err(gap)) => gap.to_string(),
        None => r.mode.to_string(),
    }
}

/// One state of `--json`: the library's report ([`ReportJson`]) with what only the
/// CLI knows around it: the input's label and format, a log's verdict and exits.
#[derive(Serialize)]
struct StateJson<'a> {
    label: &'a str,
    format: &'static str,
    verdict: Option<String>,
    judged_for: Option<String>,
    /// The mode in words, as the text report says it, where `mode` is null too: how
    /// far the dump's fields decide it.
    mode_in_words: String,
    target_reason: Option<&'a str>,
    not_judged: Option<&'a [String]>,
    /// The guest-state rules beyond the segments that the input lacks a field for,
    /// each with the first field it lacks (the text's "N guest-state rules … are not
    /// judged" note).
    rules_not_judged: Option<Vec<RuleNotJudgedJson>>,
    exits: Option<Vec<ExitJson>>,
    /// The instruction at RIP, when the log has QEMU's `Code=` line or the input
    /// carries guest memory the page walk reaches it in (a HyperFuzzer VM state).
    instruction_at_rip: Option<InstructionJson>,
    /// The instruction KVM's or Xen's emulator failed on, when an emulation failure's
    /// extra data (or Xen's `emulation failed` line) carry its bytes (`line` is the
    /// exit line's).
    emulated_instruction: Option<InstructionJson>,
    line: Option<usize>,
    printed_cpl: Option<u8>,
    #[serde(flatten)]
    report: ReportJson<'a>,
}

impl<'a> StateJson<'a> {
    fn new(input: &'a Input, r: &'a Report, j: Option<&'a Judgement>, verbose: bool) -> Self {
        let guest = input.log.as_ref().map(|l| &l.guest);
        StateJson {
            label: &input.label,
            format: input.format.name(),
            verdict: j.map(|j| j.verdict.to_string()),
            // Without a vendor, the emulator whose CPU the state is (QEMU's TCG or Bochs), or
            // the architecture alone for a firmware's own exception dump.
            judged_for: j.map(
                |j| match (j.vendors, input.log.as_ref().map(|l| l.target)) {
                    (Some(v), _) => v.to_string(),
                    (None, Some(Target::Bochs)) => String::from("bochs"),
                    (None, Some(Target::Firmware)) => String::from("architecture"),
                    (None, _) => String::from("tcg"),
                },
            ),
            mode_in_words: mode_in_words(input, r),
            target_reason: j.map(|j| j.target_reason.as_str()),
            not_judged: j.map(|j| j.not_judged.as_slice()),
            rules_not_judged: j.map(|j| {
                j.rules_not_judged
                    .iter()
                    .map(|(id, field)| RuleNotJudgedJson {
                        id: id.id(),
                        lacks: field.to_string(),
                    })
                    .collect()
            }),
            exits: input.log.as_ref().map(|l| {
                l.exits
                    .iter()
                    .map(|(line, e)| ExitJson {
                        line: *line,
                        class: e.class().describe(),
                        blames_guest_state: e.class().blames_guest_state(),
                    })
                    .collect()
            }),
            instruction_at_rip: input
                .log
                .as_ref()
                .and_then(LogDump::instruction_at_rip)
                .map(|i| InstructionJson::from(&i))
                .or_else(|| {
                    input
                        .instruction_in_memory
                        .as_ref()
                        .map(|m| InstructionJson {
                            line: None,
                            linear: Some(m.linear),
                            physical: Some(m.physical),
                            ..InstructionJson::from(&m.instruction)
                        })
                }),
            emulated_instruction: input
                .log
                .as_ref()
                .and_then(LogDump::emulated_instruction)
                .map(|i| InstructionJson::from(&i)),
            line: input
                .dump
                .as_ref()
                .map(|d| d.line)
                .or(input.log.as_ref().map(|l| l.line)),
            printed_cpl: printed_cpl(input),
            // null where a pasted dump does not show what decides it
            report: r
                .json()
                .least(least_shown(verbose))
                .mode(
                    input
                        .log
                        .as_ref()
                        .map_or(Some(r.mode), |l| l.mode().ok().map(ShownMode::mode)),
                )
                .cpl_known(guest.is_none_or(|g| g.cpl.is_some())),
        }
    }

    /// Pretty-printed with every object's keys in alphabetical order, as `--json` has
    /// always printed them (serde_json's map keeps keys sorted).
    fn to_pretty(&self) -> String {
        serde_json::to_value(self)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_default()
    }
}
