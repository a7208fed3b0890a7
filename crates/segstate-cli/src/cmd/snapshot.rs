//! `segstate snapshot`: vCPU snapshots that never lose privilege.
//!
//! The file format (docs/snapshot-format.md) carries the CPL as a field of its own.
//! `restore` refuses a state whose SS.DPL disagrees with it, or which the target
//! vendor's entry checks reject, before any ioctl; `--repair` fixes what can be
//! fixed and says what it changed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use serde_json::{Value, json};

use super::{Failure, Outcome, flags, print_json};
use crate::outln_each;
use crate::table::Table;
use segstate::arch::SegReg;
use segstate::arch::Vendor;
use segstate::snapshot::file::{check_writable, read_bytes};
use segstate::snapshot::{DEFAULT_DECODE_LIMIT, VcpuSnapshot, diff};
use segstate::snapshot::{FORMAT_MAJOR, FORMAT_MINOR, sections};
use segstate_kvm::RunOptions;
use segstate_kvm::snapshot::{
    RestoreOptions, SavePoint, SnapshotError, host_vendor, restore_into_fresh_machine, run_probe,
    save_at,
};

/// Where `save` pauses the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum At {
    /// CPL 3 with an unusable SS of DPL 3 (the state AMD's SYSRET leaves).
    UserNullSs,
    /// CPL 3 with a valid user SS.
    User,
    /// CPL 0 inside the guest's int3 handler (NULL SS), on its way back to user mode.
    Kernel,
}

/// The target vendor of `restore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetVendor {
    /// Intel VMX entry rules.
    Intel,
    /// AMD SVM VMRUN rules.
    Amd,
}

impl From<TargetVendor> for Vendor {
    fn from(v: TargetVendor) -> Self {
        match v {
            TargetVendor::Intel => Vendor::Intel,
            TargetVendor::Amd => Vendor::Amd,
        }
    }
}

/// Save, restore, inspect, diff and import vCPU snapshots that carry the CPL explicitly.
///
/// KVM's UAPI has no CPL field: SS.DPL carries it. A segstate snapshot stores the CPL
/// next to the exact kvm_sregs, so a lost SS.DPL (the 2017 bug) cannot go unnoticed.
///
/// Exit status: 0 ok (restore: the guest kept privilege; diff: the same state), 1 refused
/// or different (or the guest escalated), 2 unreadable input.
#[derive(clap::Subcommand, Debug)]
#[command(after_help = r#"Examples:
  segstate snapshot save user.snap --at user-null-ss
  segstate snapshot inspect user.snap
  segstate snapshot restore user.snap
  segstate snapshot restore altered.snap --repair
  segstate snapshot restore user.snap --target-vendor amd
  segstate snapshot diff before.snap after.snap --json
  segstate snapshot import vmstate -o vcpu0.snap
  segstate snapshot import ch-snapshot/ -o vcpu1.snap --vcpu 1"#)]
pub enum Command {
    /// Run the harness guest to a pause point and save its vCPU and memory.
    #[command(
        after_help = r#"Exit status: 0 saved, 1 the guest or KVM failed or the file could not be written (nothing is left behind), 2 a bad flag or a destination that cannot be written (found before the guest runs).

Examples:
  segstate snapshot save user.snap
  segstate snapshot save kernel.snap --at kernel"#
    )]
    Save {
        /// The snapshot file to write (atomically: temp file, fsync, rename).
        file: PathBuf,
        /// Where the guest pauses.
        #[arg(long, value_enum, default_value = "user-null-ss")]
        at: At,
        /// Watchdog bound on each KVM_RUN, in seconds (more than 0, at most 3600).
        #[arg(long, default_value = "2", value_name = "SECONDS", allow_negative_numbers = true, value_parser = flags::timeout)]
        timeout: Duration,
    },
    /// Restore a snapshot into a fresh VM, resume it and report what the guest did.
    ///
    /// Before KVM_SET_SREGS the state must pass: SS.DPL equal to the snapshot's CPL,
    /// the architectural rules, and the target vendor's entry checks (VMX VM entry
    /// for Intel, VMRUN for AMD). A state taken on the other vendor is normalised for
    /// the target first (G from the limit, accessed/busy type bits, …; never the CPL).
    /// After restore the state is read back and compared. The guest then runs its
    /// privileged probe: PASS (#GP at CPL 3) or ESCALATED (it ran at CPL 0).
    #[command(
        after_help = r#"Exit status: 0 the guest kept its privilege (PASS), 1 refused before restore or the guest escalated, 2 unreadable input.

Examples:
  segstate snapshot restore user.snap
  segstate snapshot restore altered.snap --repair
  segstate snapshot restore user.snap --target-vendor amd --json"#
    )]
    Restore {
        /// The snapshot file.
        file: PathBuf,
        /// Fix what can be fixed (SS.DPL := CPL, the target's cooking) and say what
        /// changed, instead of refusing.
        #[arg(long)]
        repair: bool,
        /// Check against this vendor's entry rules (default: this host's).
        #[arg(long, value_enum)]
        target_vendor: Option<TargetVendor>,
        /// Watchdog bound on each KVM_RUN, in seconds (more than 0, at most 3600).
        #[arg(long, default_value = "2", value_name = "SECONDS", allow_negative_numbers = true, value_parser = flags::timeout)]
        timeout: Duration,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print a snapshot: header, host, CPL, segments, sections, restore safety.
    #[command(
        after_help = "Exit status: 0 printed (its last lines say whether restore would accept it), 2 unreadable input.\n\nExamples:\n  segstate snapshot inspect user.snap\n  segstate snapshot inspect user.snap --json"
    )]
    Inspect {
        /// The snapshot file.
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Compare two snapshots field by field, with the meaning of each difference.
    ///
    /// Differences two captures of an unchanged guest always show (the TSC advances)
    /// are listed apart as expected and do not count.
    #[command(
        after_help = "Exit status: 0 the same state (identical, or only expected differences such as the TSC), 1 real differences, 2 unreadable input.\n\nExamples:\n  segstate snapshot diff a.snap b.snap\n  segstate snapshot diff a.snap b.snap --json"
    )]
    Diff {
        /// The first snapshot.
        a: PathBuf,
        /// The second snapshot.
        b: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Import one vCPU of another VMM's snapshot, with its CPL made explicit.
    ///
    /// Reads a Firecracker snapshot state file (formats 1.x to 11.x, and the Versionize
    /// files of Firecracker 0.23 to 1.6), a Cloud Hypervisor
    /// snapshot (its directory, state.json or the vm.json of v15–v21), a crosvm snapshot (its directory or a
    /// vcpu{N} fragment, CBOR or the JSON of crosvm before 2025-03-11), a Xen save image (`xl save`, a libxl or libxc stream)
    /// or the text `xen-hvmctx DOMID` prints, or Hyper-V saved state (a `.vmrs`/`.vsv` or its partition state blob), takes the CPL
    /// by the stack's convention (SS.DPL for the first four: Firecracker and Cloud
    /// Hypervisor pass kvm_sregs verbatim, crosvm its Segment without unusable, Xen its
    /// ss_arbytes; Hyper-V's own cpl byte) and writes a segstate snapshot carrying it. A
    /// format with a CPL field of its own that disagrees with SS.DPL is
    /// reported. Guest memory is not imported. A QEMU migration stream, a libvirt save
    /// image or a QEMU guest memory dump is not imported (it holds QEMU's segment
    /// caches, not kvm_sregs):
    /// `segstate check` reads it.
    #[command(
        after_help = r#"Exit status: 0 imported, 1 the snapshot could not be written, 2 the file cannot be read (the message names it, the place and why) or has no such vCPU.

Examples:
  segstate snapshot import vmstate -o vcpu0.snap
  segstate snapshot import ch-snapshot/ -o vcpu1.snap --vcpu 1
  segstate snapshot import crosvm-snapshot/ -o vcpu0.snap
  segstate snapshot inspect vcpu0.snap"#
    )]
    Import {
        /// The foreign snapshot: a Firecracker state file, a Cloud Hypervisor
        /// snapshot directory or its state.json (vm.json), a crosvm snapshot directory or one of
        /// its vcpu{N} fragments, a Xen save image or `xen-hvmctx` output, Hyper-V
        /// saved state.
        file: PathBuf,
        /// The segstate snapshot to write (atomically).
        #[arg(short, long)]
        output: PathBuf,
        /// The vCPU to import, by the id the file gives it (default: the first).
        #[arg(long)]
        vcpu: Option<String>,
    },
}

pub fn run(command: &Command) -> Outcome {
    match command {
        Command::Save { file, at, timeout } => save(file, *at, *timeout),
        Command::Restore {
            file,
            repair,
            target_vendor,
            timeout,
            json,
        } => restore(
            file,
            *repair,
            target_vendor.map(Vendor::from),
            *timeout,
            *json,
        ),
        Command::Inspect { file, json } => inspect(file, *json),
        Command::Diff { a, b, json } => diff_cmd(a, b, *json),
        Command::Import { file, output, vcpu } => import(file, output, vcpu.as_deref()),
    }
}

fn load(path: &Path) -> Result<(VcpuSnapshot, Vec<u8>), Failure> {
    let bytes = read_bytes(path, DEFAULT_DECODE_LIMIT)
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    let snap = VcpuSnapshot::decode(&bytes)
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    Ok((snap, bytes))
}

fn save(file: &Path, at: At, timeout: Duration) -> Outcome {
    let opts = RunOptions {
        timeout,
        ..RunOptions::default()
    };
    // Before the guest runs: a destination that cannot be written fails now, not after.
    check_writable(file)
        .map_err(|e| Failure::input(format!("{}: cannot be written: {e}", file.display())))?;
    let point = match at {
        At::UserNullSs => SavePoint::UserNullSs,
        At::User => SavePoint::User,
        At::Kernel => SavePoint::Kernel,
    };
    let snap = save_at(point, &opts).map_err(|e| Failure::failed(e.to_string()))?;
    snap.write_file(file)
        .map_err(|e| Failure::failed(format!("writing {}: {e}", file.display())))?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    outln!(
        "saved {} at {}: CPL {}, SS {}, {} MSRs, {} bytes of guest memory; {size} bytes",
        file.display(),
        point.name(),
        snap.cpl,
        segment_line(&snap, SegReg::Ss),
        snap.msrs.len(),
        snap.memory.iter().map(|m| m.data.len()).sum::<usize>()
    );
    Ok(ExitCode::SUCCESS)
}

fn restore(
    file: &Path,
    repair: bool,
    target: Option<Vendor>,
    timeout: Duration,
    json: bool,
) -> Outcome {
    let (snap, _) = load(file)?;
    let opts = RestoreOptions { repair, target };
    let (mut m, report) = match restore_into_fresh_machine(&snap, opts, timeout) {
        Ok(r) => r,
        Err(SnapshotError::Refused(problems)) => {
            if json {
                let list: Vec<Value> = problems
                    .iter()
                    .map(|p| json!({"id": p.id(), "message": p.to_string()}))
                    .collect();
                print_json(&json!({"restored": false, "refused": list}));
            }
            let mut msg = String::from("refused to restore");
            for p in &problems {
                msg.push_str(&format!("\n  {p}"));
            }
            if !repair {
                msg.push_str("\n  (--repair sets SS.DPL from the CPL and applies the target's cooking, where that suffices)");
            }
            return Err(Failure::failed(msg));
        }
        Err(e) => return Err(Failure::failed(e.to_string())),
    };
    let o = run_probe(&mut m);
    let target = report.target.to_string();
    if json {
        print_json(&json!({
            "restored": true,
            "target_vendor": target,
            "changes": report.changes.iter().map(|c| json!({
                "field": c.field, "from": c.from, "to": c.to, "reason": c.reason,
            })).collect::<Vec<_>>(),
            "warnings": report.warnings,
            "msrs_refused": report.msrs_refused.iter().map(|i| format!("{i:#x}")).collect::<Vec<_>>(),
            "msr_readback_differences": report.msr_mismatches.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "verdict": o.verdict.label(),
            "detail": o.detail,
        }));
    } else {
        outln!(
            "restored {} (CPL {}) into a fresh VM, checked against {target} entry rules",
            file.display(),
            snap.cpl
        );
        outln_each("changed ", &report.changes);
        outln_each("note: ", &report.warnings);
        if !report.msrs_refused.is_empty() {
            let l: Vec<String> = report
                .msrs_refused
                .iter()
                .map(|i| format!("{i:#x}"))
                .collect();
            outln!("  MSRs this host refused to set: {}", l.join(", "));
        }
        outln_each("MSR read back differently: ", &report.msr_mismatches);
        outln!("  read back: equal to what was written (after normalisation)");
        outln!("{}: {}", o.verdict.label(), o.detail);
    }
    Ok(if o.verdict == segstate_kvm::Verdict::Pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn segment_line(s: &VcpuSnapshot, reg: SegReg) -> String {
    let g = s.sregs.segment(reg);
    format!(
        "sel={:#06x} type={} s={} dpl={} p={} db={} l={} g={} unusable={} base={:#x} limit={:#x}",
        g.selector, g.type_, g.s, g.dpl, g.present, g.db, g.l, g.g, g.unusable, g.base, g.limit
    )
}

fn vendor_name(v: Option<Vendor>) -> String {
    v.map_or("unknown".into(), |v| v.to_string())
}

fn inspect(file: &Path, json: bool) -> Outcome {
    let (snap, bytes) = load(file)?;
    let target = snap
        .host
        .vendor
        .or_else(host_vendor)
        .unwrap_or(Vendor::Intel);
    let problems = snap.restore_problems(target);
    let warnings = snap.restore_warnings(target);
    let secs = sections(&bytes);
    if json {
        let segs: serde_json::Map<String, Value> = SegReg::KVM_SREGS_ORDER
            .iter()
            .map(|&r| {
                let g = s_seg(&snap, r);
                (r.kvm_name().to_string(), g)
            })
            .collect();
        print_json(&json!({
            "file": file.display().to_string(),
            "format_version": format!("{}.{}", u16::from_le_bytes([bytes[8], bytes[9]]), u16::from_le_bytes([bytes[10], bytes[11]])),
            "size": bytes.len(),
            "host": {
                "vendor": vendor_name(snap.host.vendor),
                "cpu_vendor": snap.host.cpu_vendor,
                "kvm_api_version": snap.host.kvm_api_version,
                "backend": snap.host.backend,
                "capabilities": snap.host.capabilities.iter().map(|(c, v)| json!([c, v])).collect::<Vec<_>>(),
            },
            "vcpu_id": snap.vcpu_id,
            "cpl": snap.cpl.bits(),
            "ss_dpl": snap.sregs.ss.dpl,
            "regs": segstate::snapshot::Regs::NAMES.iter().zip(snap.regs.to_array()).map(|(n, v)| (n.to_string(), json!(format!("{v:#x}")))).collect::<serde_json::Map<_, _>>(),
            "segments": segs,
            "cr0": format!("{:#x}", snap.sregs.cr0),
            "cr3": format!("{:#x}", snap.sregs.cr3),
            "cr4": format!("{:#x}", snap.sregs.cr4),
            "efer": format!("{:#x}", snap.sregs.efer),
            "msrs": snap.msrs.len(),
            "memory": snap.memory.iter().map(|m| json!({"gpa": format!("{:#x}", m.gpa), "bytes": m.data.len()})).collect::<Vec<_>>(),
            "sections": secs.iter().map(|s| json!({
                "offset": s.offset, "id": format!("{:#06x}", s.id),
                "name": s.name().unwrap_or("?"), "flags": s.flags, "length": s.len,
            })).collect::<Vec<_>>(),
            "restore_check": {
                "target_vendor": target.to_string(),
                "safe": problems.is_empty(),
                "problems": problems.iter().map(|p| json!({"id": p.id(), "message": p.to_string()})).collect::<Vec<_>>(),
                "warnings": warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            },
        }));
    } else {
        outln!(
            "{}: segstate snapshot, format {}.{} (this reader: {FORMAT_MAJOR}.{FORMAT_MINOR}), {} bytes, CRC-32C ok",
            file.display(),
            u16::from_le_bytes([bytes[8], bytes[9]]),
            u16::from_le_bytes([bytes[10], bytes[11]]),
            bytes.len()
        );
        let h = &snap.host;
        outln!(
            "host: {} ({}), KVM API {}, backend {}",
            vendor_name(h.vendor),
            h.cpu_vendor,
            h.kvm_api_version,
            h.backend
        );
        outln!(
            "vCPU {}: CPL {} (explicit); SS.DPL {}{}",
            snap.vcpu_id,
            snap.cpl,
            snap.sregs.ss.dpl,
            if snap.cpl_disagrees() {
                "  <-- DISAGREES"
            } else {
                ""
            }
        );
        let r = &snap.regs;
        outln!(
            "rip={:#x} rsp={:#x} rflags={:#x}  cr0={:#x} cr3={:#x} cr4={:#x} efer={:#x}",
            r.rip,
            r.rsp,
            r.rflags,
            snap.sregs.cr0,
            snap.sregs.cr3,
            snap.sregs.cr4,
            snap.sregs.efer
        );
        let mut t = Table::new(&[
            "reg", "selector", "type", "s", "dpl", "p", "db", "l", "g", "unusable", "base", "limit",
        ]);
        for reg in SegReg::KVM_SREGS_ORDER {
            let g = snap.sregs.segment(reg);
            t.row(vec![
                reg.name().into(),
                format!("{:#06x}", g.selector),
                g.type_.to_string(),
                g.s.to_string(),
                g.dpl.to_string(),
                g.present.to_string(),
                g.db.to_string(),
                g.l.to_string(),
                g.g.to_string(),
                g.unusable.to_string(),
                format!("{:#x}", g.base),
                format!("{:#x}", g.limit),
            ]);
        }
        out!("{}", t.render(2));
        let mut t = Table::new(&["offset", "section", "flags", "length"]);
        for s in &secs {
            t.row(vec![
                s.offset.to_string(),
                format!("{} ({:#06x})", s.name().unwrap_or("unknown"), s.id),
                if s.flags & 1 != 0 {
                    "skippable".into()
                } else {
                    "mandatory".into()
                },
                s.len.to_string(),
            ]);
        }
        out!("{}", t.render(2));
        if problems.is_empty() {
            outln!("restore check ({target}): safe");
        } else {
            outln!("restore check ({target}): REFUSED");
            outln_each("", &problems);
        }
        outln_each("note: ", &warnings);
    }
    Ok(ExitCode::SUCCESS)
}

fn s_seg(s: &VcpuSnapshot, reg: SegReg) -> Value {
    let g = s.sregs.segment(reg);
    json!({
        "selector": format!("{:#x}", g.selector), "type": g.type_, "s": g.s, "dpl": g.dpl,
        "present": g.present, "db": g.db, "l": g.l, "g": g.g, "avl": g.avl,
        "unusable": g.unusable, "base": format!("{:#x}", g.base), "limit": format!("{:#x}", g.limit),
    })
}

fn diff_cmd(a: &Path, b: &Path, json: bool) -> Outcome {
    let (sa, _) = load(a)?;
    let (sb, _) = load(b)?;
    let d = diff(&sa, &sb);
    let real = d.iter().filter(|x| !x.expected).count();
    let privilege = d.iter().filter(|x| x.privilege).count();
    if json {
        print_json(&json!({
            "identical": d.is_empty(),
            "same_state": real == 0,
            "real_differences": real,
            "expected_differences": d.len() - real,
            "privilege_changes": privilege,
            "differences": d.iter().map(|x| json!({
                "field": x.field, "old": x.old, "new": x.new,
                "meaning": x.meaning, "privilege": x.privilege, "expected": x.expected,
            })).collect::<Vec<_>>(),
        }));
    } else if d.is_empty() {
        outln!("identical");
    } else {
        for x in d.iter().filter(|x| !x.expected) {
            outln!("{}{x}", if x.privilege { "! " } else { "  " });
        }
        outln_each("(expected) ", d.iter().filter(|x| x.expected));
        if real == 0 {
            outln!(
                "the same state: only {} expected difference(s)",
                d.len() - real
            );
        } else {
            outln!(
                "{real} difference(s), {privilege} changing privilege; {} expected",
                d.len() - real
            );
        }
    }
    Ok(if real == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn import(file: &Path, output: &Path, vcpu: Option<&str>) -> Outcome {
    let vcpus =
        segstate::ingest::foreign_vcpus_at(file).map_err(|e| Failure::input(e.to_string()))?;
    let index = match vcpu {
        None => 0,
        Some(id) => vcpus.iter().position(|v| v.id == id).ok_or_else(|| {
            let ids: Vec<&str> = vcpus.iter().map(|v| v.id.as_str()).collect();
            Failure::input(format!(
                "{}: no vCPU {id}; the file has {}",
                file.display(),
                ids.join(", ")
            ))
        })?,
    };
    let chosen = &vcpus[index];
    let snap = chosen.to_snapshot(u32::try_from(index).unwrap_or(u32::MAX));
    snap.write_file(output)
        .map_err(|e| Failure::failed(format!("writing {}: {e}", output.display())))?;
    outln!(
        "imported {} vCPU {} of {} ({}) into {}: CPL {}, SS {}",
        chosen.stack,
        chosen.id,
        vcpus.len(),
        chosen.format,
        output.display(),
        snap.cpl,
        segment_line(&snap, SegReg::Ss)
    );
    outln!("  CPL: {}", chosen.stack.cpl_convention());
    if let Some(d) = chosen.cpl_disagreement() {
        outln!(
            "  warning: {d}; the snapshot keeps the file's CPL, `restore` refuses until repaired"
        );
    }
    Ok(ExitCode::SUCCESS)
}
