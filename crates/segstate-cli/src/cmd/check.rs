//! `segstate check`: diagnose a vCPU state, rule by rule.

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::process::ExitCode;

use clap::ValueEnum;
use serde_json::{Value, json};

use super::{Failure, Outcome, print_json};
use segstate::check::Severity;
use segstate::check::report::{self, Context, Entry, Report, Vendor};
use segstate::format::qemu_migration::LibvirtSaveHeader;
use segstate_cli::foreign;
use segstate_cli::input::{self, Input, InputFormat};

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

impl From<VendorArg> for Vendor {
    fn from(v: VendorArg) -> Self {
        match v {
            VendorArg::Intel => Vendor::Intel,
            VendorArg::Amd => Vendor::Amd,
            VendorArg::Both => Vendor::Both,
        }
    }
}

/// Diagnose a vCPU state: QEMU register dumps, kvm_sregs, VMCB pages, JSON.
///
/// Reads a state and says, rule by rule and segment by segment, what is wrong with it
/// and what would happen to it on the way through KVM and a VMM:
///
/// - arch.*: architectural invariants (CPL = SS.DPL, CS.DPL against CPL, CS.L with
///   CS.D, TR/LDTR types, limit against G, EFER.LMA, ...);
///
/// - vmx.entry.*: Intel's VM-entry guest-state checks (SDM Vol. 3C §27.3.1), with
///   KVM's controls and without unrestricted guest: the check a "KVM: entry failed,
///   hardware error 0x80000021" dump failed;
///
/// - svm.vmrun.*: AMD's VMRUN consistency checks (APM Vol. 2 §15.5.1);
///
/// - path.*: the state run through every built-in chain (`segstate verify`): where
///   the CPL or attributes would change, and the profile rule responsible. Through
///   today's code that is an error, through an old release a warning (CPL 3 with an
///   unusable SS escalates on the 2017 chains);
///
/// - qemu.*: a dump whose printed CPL disagrees with SS.DPL, or whose suffix
///   disagrees with its flags.
///
/// The input (FILE, or standard input when `-` or absent) is detected: a Firecracker
/// snapshot state file (formats 9.x to 11.x) or a Cloud Hypervisor snapshot (its directory or
/// state.json) is read vCPU by vCPU, with the stack named; text starting
/// with `{` is segstate's JSON kvm_sregs (the `segstate convert --to sregs` shape),
/// other text a QEMU dump (several dumps in a file are checked one by one); binary
/// input by size: 312 bytes kvm_sregs, 456 kvm_sregs + kvm_regs, 4096 a VMCB page,
/// 664..=3072 a VMCB save area. `--format` forces one.
///
/// Exit status: 0 when no state has an error, 1 when one has, 2 when the input cannot
/// be read (the message names the line or byte offset).
#[derive(clap::Args, Debug)]
#[command(after_help = r#"Examples:
  segstate check qemu.log                  every dump in a QEMU log (-d cpu, "KVM: entry failed")
  segstate check --vendor intel crash.txt  which VM-entry check a 0x80000021 dump fails
  segstate check --format sregs sregs.bin  raw KVM_GET_SREGS bytes (append kvm_regs for RFLAGS)
  segstate check vmcb.bin                  a 4 KiB VMCB page: VMRUN checks, CPL from VMCB.CPL
  segstate check vm.snapshot/              a Cloud Hypervisor snapshot: every vCPU
  segstate check vmstate                   a Firecracker snapshot state file: every vCPU
  segstate convert --from sregs-bytes --to sregs < sregs.hex | segstate check
  segstate check --json --verbose dump.txt"#)]
pub struct Args {
    /// The input file; `-` or absent reads standard input.
    input: Option<std::path::PathBuf>,
    /// Which hardware to judge for (default: amd for a VMCB, both otherwise).
    #[arg(long, value_enum)]
    vendor: Option<VendorArg>,
    /// The input format (default: detected).
    #[arg(long, value_enum)]
    format: Option<InputFormat>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Show info findings too (path changes through never-merged designs, and on
    /// unusable segments).
    #[arg(long, short)]
    verbose: bool,
}

/// Judges one input.
fn judge(input: &Input, vendor: Option<VendorArg>) -> Report {
    let vendor = vendor.map_or(
        if matches!(input.format, InputFormat::Vmcb | InputFormat::VmcbSave) {
            Vendor::Amd
        } else {
            Vendor::Both
        },
        Vendor::from,
    );
    let mut r = match &input.dump {
        Some(d) => report::report_dump(d, vendor),
        None => report::report_with(
            &input.state,
            vendor,
            Context {
                source: input.source,
            },
        ),
    };
    r.notes.splice(0..0, input.notes.iter().cloned());
    r
}

/// Reads every state of the input. A QEMU migration stream is read straight from the
/// file or standard input, so guest RAM streams past instead of being loaded; anything
/// else is read whole and detected by content or size.
fn read_inputs(args: &Args) -> Result<Vec<Input>, Failure> {
    if let Some(dir) = args.input.as_deref().filter(|p| p.is_dir()) {
        // A snapshot directory (Cloud Hypervisor's): its state.json, every vCPU.
        return foreign::read_path(dir)
            .and_then(|vcpus| {
                let format = InputFormat::CloudHypervisor;
                vcpus.iter().map(|v| foreign::to_input(v, format)).collect()
            })
            .map_err(|e| Failure::input(e.to_string()));
    }
    let mut reader: Box<dyn Read> = match args.input.as_deref() {
        Some(p) if p.as_os_str() != "-" => Box::new(std::io::BufReader::new(
            std::fs::File::open(p)
                .map_err(|e| Failure::input(format!("reading {}: {e}", p.display())))?,
        )),
        _ => Box::new(std::io::stdin().lock()),
    };
    let mut prefix = [0u8; 16];
    let mut got = 0;
    while got < prefix.len() {
        match reader.read(&mut prefix[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::input(format!("reading the input: {e}"))),
        }
    }
    let forced = args.format == Some(InputFormat::Migration);
    if LibvirtSaveHeader::looks_like(&prefix[..got]) {
        // A libvirt saved-VM image: its header and domain XML, then the QEMU stream.
        let mut whole = std::io::Read::chain(&prefix[..got], reader);
        LibvirtSaveHeader::skip(&mut whole)
            .map_err(|e| Failure::input(format!("{}: {e}", input_name(args))))?;
        return input::read_migration(whole).map_err(|e| {
            Failure::input(format!(
                "{} (after the libvirt header): {e}",
                input_name(args)
            ))
        });
    }
    if !forced && !input::is_migration_stream(&prefix[..got]) {
        // Not a stream: hand back what was read so far with the rest.
        let mut bytes = prefix[..got].to_vec();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::input(format!("reading the input: {e}")))?;
        return input::read(&bytes, args.format)
            .map_err(|e| Failure::input(format!("{}: {e}", input_name(args))));
    }
    let whole = std::io::Read::chain(&prefix[..got], reader);
    input::read_migration(whole).map_err(|e| Failure::input(format!("{}: {e}", input_name(args))))
}

fn input_name(args: &Args) -> String {
    args.input
        .as_deref()
        .filter(|p| p.as_os_str() != "-")
        .map_or_else(
            || String::from("standard input"),
            |p| p.display().to_string(),
        )
}

pub fn run(args: &Args) -> Outcome {
    let inputs = read_inputs(args)?;
    let reports: Vec<(&Input, Report)> =
        inputs.iter().map(|i| (i, judge(i, args.vendor))).collect();
    let failing = reports.iter().filter(|(_, r)| r.errors() > 0).count();
    let code = u8::from(failing > 0);
    if args.json {
        print_json(&to_json(&reports, args.verbose, code));
    } else {
        let mut out = String::new();
        for (i, (input, r)) in reports.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            text(&mut out, input, r, args.verbose);
        }
        if reports.len() > 1 {
            let _ = writeln!(
                out,
                "\n{} states checked: {} with errors, {} without",
                reports.len(),
                failing,
                reports.len() - failing
            );
        }
        // A closed pipe (`| head`) is not an error of the state.
        let _ = std::io::stdout().write_all(out.as_bytes());
    }
    Ok(ExitCode::from(code))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn shown(e: &Entry, verbose: bool) -> bool {
    verbose || e.finding.severity != Severity::Info
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

fn text(out: &mut String, input: &Input, r: &Report, verbose: bool) {
    let printed = input
        .dump
        .as_ref()
        .map(|d| format!(" (QEMU printed CPL={})", d.cpl))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "== {} [{}]: {}, CPL {}{printed}; judged for {}",
        input.label, input.format, r.mode, r.cpl, r.vendor
    );
    for note in &r.notes {
        let _ = writeln!(out, "   note: {note}");
    }
    let mut hidden = 0;
    for (reg, list) in r.by_segment() {
        let visible: Vec<&&Entry> = list.iter().filter(|e| shown(e, verbose)).collect();
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

fn entry_json(e: &Entry) -> Value {
    let f = &e.finding;
    json!({
        "severity": f.severity.to_string(),
        "id": f.id,
        "family": e.family.name(),
        "segment": f.reg.map(|r| r.name()),
        "field": f.field,
        "expected": f.expected,
        "found": f.found,
        "reference": f.reference,
        "context": e.context,
        "chain": e.chain,
        "rules": e.rules.iter().map(|r| r.id()).collect::<Vec<_>>(),
    })
}

fn to_json(reports: &[(&Input, Report)], verbose: bool, code: u8) -> Value {
    let states: Vec<Value> = reports
        .iter()
        .map(|(input, r)| {
            let segments: Vec<Value> = r
                .by_segment()
                .into_iter()
                .filter_map(|(reg, list)| {
                    let findings: Vec<Value> = list
                        .iter()
                        .filter(|e| shown(e, verbose))
                        .map(|e| entry_json(e))
                        .collect();
                    (!findings.is_empty()).then(|| {
                        json!({"segment": reg.map_or("CPU", |r| r.name()), "findings": findings})
                    })
                })
                .collect();
            json!({
                "label": input.label,
                "format": input.format.name(),
                "line": input.dump.as_ref().map(|d| d.line),
                "printed_cpl": input.dump.as_ref().map(|d| d.cpl),
                "vendor": r.vendor.to_string(),
                "mode": r.mode.to_string(),
                "cpl": r.cpl.bits(),
                "errors": r.errors(),
                "warnings": r.count(Severity::Warning),
                "infos": r.count(Severity::Info),
                "ids": r.ids(),
                "notes": r.notes,
                "segments": segments,
            })
        })
        .collect();
    json!({
        "states": states,
        "errors": reports.iter().map(|(_, r)| r.errors()).sum::<usize>(),
        "exit": code,
    })
}
