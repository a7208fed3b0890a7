//! Field-by-field differences between two snapshots, each with its meaning.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::safety::{granularity_consistent, segment_fields};
use super::{HostDescription, VcpuSnapshot};
use crate::arch::{SegReg, msr};

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Difference {
    /// The field, e.g. `SS.DPL`, `MSR 0xc0000082`, `memory 0x1000`.
    pub field: String,
    /// Its value in the first snapshot (`-` when absent).
    pub old: String,
    /// Its value in the second snapshot (`-` when absent).
    pub new: String,
    /// What the difference means.
    pub meaning: String,
    /// True when it changes privilege (CPL, SS.DPL, CS.DPL).
    pub privilege: bool,
    /// True when two captures of one unchanged guest differ here anyway (the TSC
    /// advances between them): not a difference of state.
    pub expected: bool,
}

impl_display!(
    Difference,
    |d| "{} {} → {}: {}",
    d.field,
    d.old,
    d.new,
    d.meaning
);

fn hex(v: u64) -> String {
    if v < 10 {
        v.to_string()
    } else {
        format!("{v:#x}")
    }
}

/// Two values in one notation: decimal when both are single digits (flags, DPLs,
/// types), hex otherwise, so a selector reads `0x2b → 0x8`, never `0x2b → 8`.
fn pair(a: u64, b: u64) -> (String, String) {
    if a.max(b) < 10 {
        (a.to_string(), b.to_string())
    } else {
        (format!("{a:#x}"), format!("{b:#x}"))
    }
}

/// MSRs whose value differs between two captures of an unchanged guest.
const EXPECTED_MSRS: [u32; 1] = [msr::TSC];

struct Out(Vec<Difference>);

impl Out {
    fn push(&mut self, field: impl Into<String>, old: String, new: String, meaning: String) {
        self.0.push(Difference {
            field: field.into(),
            old,
            new,
            meaning,
            privilege: false,
            expected: false,
        });
    }
    /// A text field: recorded when the two values differ.
    fn text(&mut self, field: &str, a: String, b: String, meaning: &str) {
        if a != b {
            self.push(field, a, b, meaning.into());
        }
    }
    fn num(&mut self, field: impl Into<String>, a: u64, b: u64, meaning: impl Into<String>) {
        if a != b {
            let (old, new) = pair(a, b);
            self.push(field, old, new, meaning.into());
        }
    }
    fn privilege(&mut self, field: impl Into<String>, a: u64, b: u64, meaning: String) {
        if a != b {
            let (old, new) = pair(a, b);
            self.push(field, old, new, meaning);
            if let Some(last) = self.0.last_mut() {
                last.privilege = true;
            }
        }
    }
}

fn direction(a: u64, b: u64) -> &'static str {
    if b < a {
        "privilege escalation"
    } else {
        "privilege loss"
    }
}

fn segment_meaning(reg: SegReg, field: &str, a: u64, b: u64, limit: u32) -> String {
    match (reg, field) {
        (SegReg::Ss, "DPL") => format!("CPL changes, {}", direction(a, b)),
        (SegReg::Cs, "DPL") => format!("code privilege changes, {}", direction(a, b)),
        (_, "DPL") => "descriptor privilege changes".into(),
        (_, "type") if a ^ b == 1 => {
            "accessed bit only (set by the CPU on load; KVM normalises it)".into()
        }
        (SegReg::Tr, "type") if a ^ b == 2 => "TSS busy bit only (KVM reports TR busy)".into(),
        (_, "type") => "segment type changes".into(),
        (_, "unusable") => {
            if b != 0 {
                "the segment becomes unusable (null)".into()
            } else {
                "the segment becomes usable".into()
            }
        }
        (_, "P") => {
            "present bit (for an unusable segment the VMCB and QEMU carry unusable here)".into()
        }
        (_, "G")
            if granularity_consistent(limit, b as u8) && granularity_consistent(limit, a as u8) =>
        {
            "granularity only: the byte-granular limit is the same (KVM SVM synthesises G)".into()
        }
        (_, "G") if granularity_consistent(limit, b as u8) => {
            "granularity now agrees with the limit (the old G did not)".into()
        }
        (_, "G") => "granularity disagrees with the limit".into(),
        (SegReg::Ss, "DB") => "stack size (KVM SVM clears DB of an unusable SS)".into(),
        (SegReg::Cs, "DB") | (SegReg::Cs, "L") => "code size / mode changes".into(),
        (_, "base") => "segment base changes".into(),
        (_, "limit") => "segment limit changes".into(),
        (_, "selector") => "selector changes".into(),
        _ => "attribute changes".into(),
    }
}

fn msr_meaning(index: u32) -> &'static str {
    match index {
        msr::TSC => "time-stamp counter (advances between captures; expected)",
        msr::STAR => "SYSCALL/SYSRET selectors: the CS/SS the CPU loads on a privilege change",
        msr::LSTAR | msr::CSTAR => "SYSCALL entry point into the kernel",
        msr::SFMASK => "RFLAGS mask on SYSCALL",
        msr::SYSENTER_CS | msr::SYSENTER_ESP | msr::SYSENTER_EIP => "SYSENTER entry state",
        msr::KERNEL_GS_BASE => "SWAPGS kernel GS base",
        _ => "MSR value changes",
    }
}

fn blob(out: &mut Out, name: &str, a: Option<&[u8]>, b: Option<&[u8]>, meaning: &str) {
    match (a, b) {
        (None, None) => {}
        (Some(_), None) => out.push(
            name,
            "present".into(),
            "-".into(),
            format!("{meaning}: only in the first"),
        ),
        (None, Some(_)) => out.push(
            name,
            "-".into(),
            "present".into(),
            format!("{meaning}: only in the second"),
        ),
        (Some(a), Some(b)) if a == b => {}
        (Some(a), Some(b)) => {
            let n = a.iter().zip(b).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len());
            let first = a
                .iter()
                .zip(b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            out.push(
                name,
                format!("{} bytes", a.len()),
                format!("{} bytes", b.len()),
                format!("{meaning}: {n} bytes differ, first at offset {first:#x}"),
            );
        }
    }
}

fn host(out: &mut Out, a: &HostDescription, b: &HostDescription) {
    // "unknown" is no vendor's name, so the texts differ exactly when the vendors do.
    let v = |h: &HostDescription| h.vendor.map_or("unknown".to_string(), |v| v.to_string());
    out.text(
        "host.vendor",
        v(a),
        v(b),
        "taken on another vendor: cross-vendor restore needs normalisation",
    );
    let (cpu_a, cpu_b) = (a.cpu_vendor.clone(), b.cpu_vendor.clone());
    out.text("host.cpu_vendor", cpu_a, cpu_b, "CPU vendor string");
    let (backend_a, backend_b) = (a.backend.clone(), b.backend.clone());
    out.text("host.backend", backend_a, backend_b, "KVM backend module");
    out.num(
        "host.kvm_api_version",
        a.kvm_api_version.into(),
        b.kvm_api_version.into(),
        "KVM API version",
    );
    if a.capabilities != b.capabilities {
        out.push(
            "host.capabilities",
            format!("{} caps", a.capabilities.len()),
            format!("{} caps", b.capabilities.len()),
            "host KVM capabilities differ".into(),
        );
    }
}

/// Every difference between `a` and `b`, privilege-relevant ones first.
#[must_use]
pub fn diff(a: &VcpuSnapshot, b: &VcpuSnapshot) -> Vec<Difference> {
    let mut out = Out(Vec::new());
    out.privilege(
        "CPL",
        a.cpl.bits().into(),
        b.cpl.bits().into(),
        format!(
            "explicit CPL changes, {}",
            direction(a.cpl.bits().into(), b.cpl.bits().into())
        ),
    );
    for reg in SegReg::KVM_SREGS_ORDER {
        let (sa, sb) = (a.sregs.segment(reg), b.sregs.segment(reg));
        for (field, x, y) in segment_fields(sa, sb) {
            if x == y {
                continue;
            }
            let meaning = segment_meaning(reg, field, x, y, sb.limit);
            let name = format!("{}.{field}", reg.name());
            if field == "DPL" && matches!(reg, SegReg::Ss | SegReg::Cs) {
                out.privilege(name, x, y, meaning);
            } else {
                out.num(name, x, y, meaning);
            }
        }
    }
    host(&mut out, &a.host, &b.host);
    out.num("vcpu_id", a.vcpu_id.into(), b.vcpu_id.into(), "vCPU id");
    for ((name, x), y) in super::Regs::NAMES
        .iter()
        .zip(a.regs.to_array())
        .zip(b.regs.to_array())
    {
        let meaning = match *name {
            "rip" => "instruction pointer: where the guest resumes",
            "rsp" => "stack pointer",
            "rflags" => "flags (IOPL, IF, …)",
            _ => "general register",
        };
        out.num(*name, x, y, meaning);
    }
    let (ra, rb) = (&a.sregs, &b.sregs);
    let (gdt_limits, idt_limits) = (
        (u64::from(ra.gdt.limit), u64::from(rb.gdt.limit)),
        (u64::from(ra.idt.limit), u64::from(rb.idt.limit)),
    );
    for (name, x, y, meaning) in [
        (
            "GDTR.base",
            ra.gdt.base,
            rb.gdt.base,
            "descriptor table moves",
        ),
        (
            "GDTR.limit",
            gdt_limits.0,
            gdt_limits.1,
            "descriptor table size",
        ),
        (
            "IDTR.base",
            ra.idt.base,
            rb.idt.base,
            "interrupt table moves: other handlers run",
        ),
        (
            "IDTR.limit",
            idt_limits.0,
            idt_limits.1,
            "interrupt table size",
        ),
        ("CR0", ra.cr0, rb.cr0, "protection/paging mode"),
        ("CR2", ra.cr2, rb.cr2, "last page-fault address"),
        ("CR3", ra.cr3, rb.cr3, "address space (page-table root)"),
        (
            "CR4",
            ra.cr4,
            rb.cr4,
            "architectural extensions (PAE, SMEP, …)",
        ),
        ("CR8", ra.cr8, rb.cr8, "task priority"),
        ("EFER", ra.efer, rb.efer, "long mode / SYSCALL / NX enables"),
        ("APIC_BASE", ra.apic_base, rb.apic_base, "local APIC base"),
    ] {
        out.num(name, x, y, meaning);
    }
    for i in 0..4 {
        out.num(
            format!("interrupt_bitmap[{i}]"),
            ra.interrupt_bitmap[i],
            rb.interrupt_bitmap[i],
            "pending external interrupts",
        );
    }
    // MSRs, matched by index.
    let mut ia = a.msrs.clone();
    let mut ib = b.msrs.clone();
    ia.sort();
    ib.sort();
    let (mut i, mut j) = (0, 0);
    while i < ia.len() || j < ib.len() {
        let (x, y) = (ia.get(i), ib.get(j));
        let label = |idx: u32| match msr::name(idx) {
            Some(n) => format!("MSR {idx:#x} ({n})"),
            None => format!("MSR {idx:#x}"),
        };
        match (x, y) {
            (Some(x), Some(y)) if x.index == y.index => {
                out.num(label(x.index), x.value, y.value, msr_meaning(x.index));
                if x.value != y.value && EXPECTED_MSRS.contains(&x.index) {
                    if let Some(last) = out.0.last_mut() {
                        last.expected = true;
                    }
                }
                i += 1;
                j += 1;
            }
            (Some(x), y) if y.is_none_or(|y| x.index < y.index) => {
                out.push(
                    label(x.index),
                    hex(x.value),
                    "-".into(),
                    "MSR only in the first".into(),
                );
                i += 1;
            }
            (_, Some(y)) => {
                out.push(
                    label(y.index),
                    "-".into(),
                    hex(y.value),
                    "MSR only in the second".into(),
                );
                j += 1;
            }
            _ => break,
        }
    }
    let xa = a.xcrs.as_deref().unwrap_or_default();
    let xb = b.xcrs.as_deref().unwrap_or_default();
    let (xa, xb) = (format!("{xa:x?}"), format!("{xb:x?}"));
    out.text("XCRS", xa, xb, "enabled XSAVE features change");
    // The raw C structs kept as opaque bytes: compared whole, named with what they hold.
    type Bytes = fn(&VcpuSnapshot) -> Option<&[u8]>;
    let blobs: [(&str, Bytes, &str); 5] = [
        ("XSAVE", |s| s.xsave.as_deref(), "FPU/SSE/AVX state"),
        ("FPU", |s| s.fpu.as_deref(), "legacy FPU state"),
        ("LAPIC", |s| s.lapic.as_deref(), "local APIC registers"),
        (
            "VCPU_EVENTS",
            |s| s.vcpu_events.as_deref(),
            "pending exceptions, interrupts, NMIs, SMIs",
        ),
        ("DEBUGREGS", |s| s.debug_regs.as_deref(), "debug registers"),
    ];
    for (name, bytes, meaning) in blobs {
        blob(&mut out, name, bytes(a), bytes(b), meaning);
    }
    let s = |m: Option<u32>| m.map_or("-".to_string(), |v| v.to_string());
    let (mp_a, mp_b) = (s(a.mp_state), s(b.mp_state));
    out.text(
        "mp_state",
        mp_a,
        mp_b,
        "vCPU run state (runnable, halted, …)",
    );
    if a.cpuid != b.cpuid {
        let n = |c: &Option<Vec<[u8; 40]>>| {
            c.as_ref()
                .map_or("-".to_string(), |c| format!("{} entries", c.len()))
        };
        out.push(
            "CPUID",
            n(&a.cpuid),
            n(&b.cpuid),
            "guest CPUID differs".into(),
        );
    }
    // Memory, page by page over the union of both snapshots' regions.
    let ma = memory_pages(a);
    let mb = memory_pages(b);
    let mut pages: Vec<u64> = ma.iter().chain(mb.iter()).map(|(p, _)| *p).collect();
    pages.sort_unstable();
    pages.dedup();
    let mut changed = Vec::new();
    for p in pages {
        let find =
            |m: &Vec<(u64, Vec<u8>)>| m.iter().find(|(q, _)| *q == p).map(|(_, d)| d.clone());
        let (x, y) = (find(&ma), find(&mb));
        let zero = alloc::vec![0u8; 4096];
        if x.as_ref().unwrap_or(&zero) != y.as_ref().unwrap_or(&zero) {
            changed.push(p);
        }
    }
    if !changed.is_empty() {
        let list: Vec<String> = changed.iter().take(8).map(|p| format!("{p:#x}")).collect();
        out.push(
            "memory",
            format!(
                "{} bytes",
                a.memory.iter().map(|m| m.data.len()).sum::<usize>()
            ),
            format!(
                "{} bytes",
                b.memory.iter().map(|m| m.data.len()).sum::<usize>()
            ),
            format!(
                "{} guest page(s) differ: {}{}",
                changed.len(),
                list.join(", "),
                if changed.len() > 8 { ", …" } else { "" }
            ),
        );
    }
    let mut v = out.0;
    v.sort_by_key(|d| !d.privilege);
    v
}

/// Guest memory as 4 KiB pages `(gpa, bytes)`; missing bytes are zero.
fn memory_pages(s: &VcpuSnapshot) -> Vec<(u64, Vec<u8>)> {
    let mut pages: Vec<(u64, Vec<u8>)> = Vec::new();
    for r in &s.memory {
        for (i, &byte) in r.data.iter().enumerate() {
            let addr = r.gpa + i as u64;
            let page = addr & !0xfff;
            if pages.last().is_none_or(|(p, _)| *p != page) {
                match pages.iter().position(|(p, _)| *p == page) {
                    Some(k) => {
                        let e = pages.remove(k);
                        pages.push(e);
                    }
                    None => pages.push((page, alloc::vec![0u8; 4096])),
                }
            }
            if let Some(last) = pages.last_mut() {
                last.1[(addr & 0xfff) as usize] = byte;
            }
        }
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_snapshots_have_no_differences() {
        let a = VcpuSnapshot::example_user_null_ss();
        assert!(diff(&a, &a.clone()).is_empty());
    }

    #[test]
    fn ss_dpl_drop_is_an_escalation_listed_first() {
        let a = VcpuSnapshot::example_user_null_ss();
        let mut b = a.clone();
        b.regs.rax = 5;
        b.sregs.ss.dpl = 0;
        let d = diff(&a, &b);
        assert_eq!(
            d[0].to_string(),
            "SS.DPL 3 → 0: CPL changes, privilege escalation"
        );
        assert!(d[0].privilege);
        assert!(d.iter().any(|x| x.field == "rax"));
    }

    #[test]
    fn accessed_bit_and_memory_are_explained() {
        let mut a = VcpuSnapshot::example_user_null_ss();
        a.memory.push(super::super::MemoryRegion {
            gpa: 0x1000,
            data: alloc::vec![1; 8192],
        });
        let mut b = a.clone();
        b.sregs.ds.type_ = 2;
        b.memory[0].data[5000] = 0;
        let d = diff(&a, &b);
        assert!(
            d.iter()
                .any(|x| x.field == "DS.type" && x.meaning.contains("accessed"))
        );
        let m = d.iter().find(|x| x.field == "memory").unwrap();
        assert!(m.meaning.contains("0x2000"), "{m}");
    }

    #[test]
    fn the_tsc_alone_is_an_expected_difference() {
        let mut a = VcpuSnapshot::example_user_null_ss();
        a.msrs.retain(|m| m.index != msr::TSC);
        a.msrs.push(super::super::MsrEntry {
            index: msr::TSC,
            value: 1000,
        });
        let mut b = a.clone();
        b.msrs.last_mut().unwrap().value = 5000;
        let d = diff(&a, &b);
        assert_eq!(d.len(), 1);
        assert!(d[0].expected && !d[0].privilege, "{}", d[0]);
        b.regs.rip += 1;
        let d = diff(&a, &b);
        assert_eq!(d.iter().filter(|x| !x.expected).count(), 1);
    }

    #[test]
    fn numbers_share_a_notation_and_g_is_judged_on_the_new_value() {
        let a = VcpuSnapshot::example_user_null_ss();
        let mut b = a.clone();
        b.sregs.ds.selector = 8;
        b.sregs.ss.limit = 0;
        b.sregs.ss.g = 0;
        let mut a2 = a.clone();
        a2.sregs.ss.limit = 0;
        let d = diff(&a2, &b);
        let sel = d.iter().find(|x| x.field == "DS.selector").unwrap();
        assert_eq!(
            (sel.old.as_str(), sel.new.as_str()),
            ("0x23", "0x8"),
            "{sel}"
        );
        let g = d.iter().find(|x| x.field == "SS.G").unwrap();
        assert_eq!(
            g.to_string(),
            "SS.G 1 → 0: granularity now agrees with the limit (the old G did not)"
        );
    }
}
