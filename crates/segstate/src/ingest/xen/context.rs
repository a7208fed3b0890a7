//! The HVM context blob of a Xen save image (the body of its `HVM_CONTEXT` record):
//! its `hvm_save_descriptor` entries, and each `hvm_hw_cpu` loaded as
//! `hvm_load_cpu_ctxt` (`xen/arch/x86/hvm/hvm.c`, xen `c447b7308b13`) loads it.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use super::{FORMAT, HVM_FILE_MAGIC, HVM_FILE_VERSION, usize_of};
use crate::arch::{PerSegReg, SegReg, Segment, msr};
use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};
use crate::format::svm::SvmAttrib;
use crate::format::xen::{HvmHwCpuOffset, HvmHwCpuSegments, XenSegmentRegister};
use crate::format::{le_u16, le_u32, le_u64};
use crate::ingest::foreign::{ForeignVcpu, IngestError, Place, Reason, Stack, raw, record_body};
use crate::profile::Profile;
use crate::snapshot::{MsrEntry, Regs};

/// `HVM_SAVE_CODE(...)` typecodes (`public/hvm/save.h`, `arch-x86/hvm/save.h`).
mod hvm_code {
    pub const END: u16 = 0;
    pub const HEADER: u16 = 1;
    pub const CPU: u16 = 2;
    pub const LAPIC: u16 = 5;
}

/// A CPU record to load: its bytes, and where each of its fields was read, for errors.
pub(super) struct CpuEntry<'a> {
    /// The vCPU id (the descriptor's `instance`).
    pub(super) instance: u16,
    /// The `hvm_hw_cpu` (or `hvm_hw_cpu_compat`) bytes.
    pub(super) payload: &'a [u8],
    /// Where the record came from, in the words of a description ("CPU instance 0 at
    /// offset 0x5213").
    pub(super) origin: String,
    /// The place of the field named (`cs_arbytes`, `gdtr_limit`) at an offset of the
    /// record: a byte offset of a save image, a line of `xen-hvmctx`'s text.
    pub(super) locate: &'a dyn Fn(&str, usize) -> Place,
    /// The format errors name: a save image, or `xen-hvmctx`'s text.
    pub(super) format: &'static str,
    /// False when the record's `msr_tsc_aux` was not in the source (`xen-hvmctx` does
    /// not print it): no TSC_AUX is reported rather than an invented 0.
    pub(super) tsc_aux: bool,
}

/// The `hvm_save_descriptor` entries of an HVM context blob that starts at file offset
/// `base`: every CPU record decoded, with its vCPU's `apic_base_msr` from `LAPIC`.
pub(super) fn hvm_context(
    blob: &[u8],
    base: u64,
    described: &str,
    file: &str,
) -> Result<Vec<ForeignVcpu>, IngestError> {
    let fail = |at: usize, reason: Reason| {
        IngestError::new(
            FORMAT,
            file,
            Place::Offset(usize_of(base + at as u64)),
            reason,
        )
    };
    let mut cpus = Vec::new();
    let mut apic_bases: Vec<(u16, u64)> = Vec::new();
    let mut o = 0usize;
    let mut seen_header = false;
    loop {
        let Some(d) = blob.get(o..o + 8) else {
            return Err(fail(
                o,
                Reason::Missing("the END descriptor of the HVM context (the record ends first)"),
            ));
        };
        let (code, instance, length) = (le_u16(d, 0), le_u16(d, 2), le_u32(d, 4) as usize);
        let start = o + 8;
        let payload = record_body(blob, start, length).map_err(|r| fail(o + 4, r))?;
        match code {
            hvm_code::END => break,
            hvm_code::HEADER => {
                if length < 8 {
                    return Err(fail(
                        o + 4,
                        Reason::WrongLength {
                            what: "struct hvm_save_header",
                            expected: 24,
                            found: length,
                        },
                    ));
                }
                let magic = le_u32(payload, 0);
                if magic != HVM_FILE_MAGIC {
                    return Err(fail(
                        start,
                        Reason::BadMagic {
                            found: magic.into(),
                            expected: HVM_FILE_MAGIC.into(),
                        },
                    ));
                }
                let version = le_u32(payload, 4);
                if version != HVM_FILE_VERSION {
                    return Err(fail(
                        start + 4,
                        Reason::UnsupportedVersion {
                            found: format!("HVM context version {version}"),
                            supported: "HVM context version 1",
                        },
                    ));
                }
                seen_header = true;
            }
            hvm_code::CPU => {
                if length != HvmHwCpuOffset::SIZE && length != HvmHwCpuOffset::COMPAT_SIZE {
                    return Err(fail(
                        o + 4,
                        Reason::WrongLength {
                            what: "struct hvm_hw_cpu (1032 bytes, or 1016 for hvm_hw_cpu_compat)",
                            expected: HvmHwCpuOffset::SIZE,
                            found: length,
                        },
                    ));
                }
                cpus.push((instance, base + start as u64, payload));
            }
            hvm_code::LAPIC if length >= 8 => apic_bases.push((instance, le_u64(payload, 0))),
            _ => {}
        }
        o = start + length;
    }
    if !seen_header {
        return Err(fail(
            0,
            Reason::Missing("the HEADER entry (HVM_SAVE_CODE(HEADER) = 1)"),
        ));
    }
    if cpus.is_empty() {
        return Err(fail(
            0,
            Reason::Missing("every CPU entry (HVM_SAVE_CODE(CPU) = 2): the context has none"),
        ));
    }
    cpus.iter()
        .map(|&(instance, at, payload)| {
            let apic = apic_bases
                .iter()
                .find(|(i, _)| *i == instance)
                .map(|&(_, b)| b);
            let locate = |field: &str, offset: usize| {
                let at = at + offset as u64;
                Place::Field(format!("vCPU {instance} {field} at offset {at} ({at:#x})"))
            };
            let entry = CpuEntry {
                instance,
                payload,
                origin: format!("CPU instance {instance} at offset {at:#x}"),
                locate: &locate,
                format: FORMAT,
                tsc_aux: payload.len() != HvmHwCpuOffset::COMPAT_SIZE,
            };
            cpu(&entry, apic, described, file)
        })
        .collect()
}

/// The registers of `kvm_regs` in its order, from the record (rax, rbx, rcx, rdx, rbp,
/// rsi, rdi, rsp, r8 … r15 there).
fn regs(r: &[u8]) -> Regs {
    let gpr = |i: usize| le_u64(r, HvmHwCpuOffset::GPRS + 8 * i);
    Regs::from_array([
        gpr(0),
        gpr(1),
        gpr(2),
        gpr(3),
        gpr(5),
        gpr(6),
        gpr(7),
        gpr(4),
        gpr(8),
        gpr(9),
        gpr(10),
        gpr(11),
        gpr(12),
        gpr(13),
        gpr(14),
        gpr(15),
        le_u64(r, HvmHwCpuOffset::RIP),
        le_u64(r, HvmHwCpuOffset::RFLAGS),
    ])
}

/// The MSRs the record carries, by their architectural index.
fn msrs(r: &[u8], tsc_aux: bool) -> Vec<MsrEntry> {
    let at = |i: usize| le_u64(r, HvmHwCpuOffset::SYSENTER_CS + 8 * i);
    // sysenter_cs, _esp, _eip, shadow_gs, (msr_flags), lstar, star, cstar, syscall_mask.
    let mut out: Vec<MsrEntry> = [
        (msr::SYSENTER_CS, 0),
        (msr::SYSENTER_ESP, 1),
        (msr::SYSENTER_EIP, 2),
        (msr::KERNEL_GS_BASE, 3),
        (msr::LSTAR, 5),
        (msr::STAR, 6),
        (msr::CSTAR, 7),
        (msr::SFMASK, 8),
    ]
    .into_iter()
    .map(|(index, slot)| MsrEntry {
        index,
        value: at(slot),
    })
    .collect();
    if tsc_aux {
        out.push(MsrEntry {
            index: msr::TSC_AUX,
            value: le_u64(r, HvmHwCpuOffset::MSR_TSC_AUX),
        });
    }
    out
}

/// One CPU record, loaded as `hvm_load_cpu_ctxt` loads it.
pub(super) fn cpu(
    c: &CpuEntry<'_>,
    apic_base: Option<u64>,
    described: &str,
    file: &str,
) -> Result<ForeignVcpu, IngestError> {
    let compat = c.payload.len() == HvmHwCpuOffset::COMPAT_SIZE;
    // hvm_load_entry_zeroextend: a shorter record is zero-extended; the fields read
    // below (up to msr_efer) sit at the same offsets in both.
    let mut record = std::vec![0u8; HvmHwCpuOffset::SIZE];
    record[..c.payload.len()].copy_from_slice(c.payload);
    let raw_segs = HvmHwCpuSegments::from_record(&record).map_err(|e| {
        IngestError::new(
            c.format,
            file,
            (c.locate)("hvm_hw_cpu", 0),
            Reason::Layout(e.to_string()),
        )
    })?;
    let mut notes = Vec::new();
    if compat {
        notes.push(String::from(
            "hvm_hw_cpu_compat (1016 bytes: no msr_tsc_aux, no flags)",
        ));
    }
    let mut segments = PerSegReg::from_fn(|_| KvmSegment::default());
    let mut unfolded = Vec::new();
    for reg in SegReg::ALL {
        segments[reg] = segment(&raw_segs, reg, c, file, &mut notes, &mut unfolded)?;
    }
    if !unfolded.is_empty() {
        notes.push(format!(
            "arbytes in the old VMX layout, unfolded as UNFOLD_ARBYTES does: {}",
            unfolded.join(", ")
        ));
    }
    let limit16 = |at: usize, name: &'static str| {
        let v = le_u32(&record, at);
        u16::try_from(v).map_err(|_| {
            IngestError::new(
                c.format,
                file,
                (c.locate)(name, at),
                Reason::Layout(format!(
                    "{v:#x} does not fit a descriptor-table limit (16 bits)"
                )),
            )
        })
    };
    let table = |limit: u16, base_at: usize| KvmDtable {
        base: le_u64(&record, base_at),
        limit,
        padding: [0; 3],
    };
    let cr = |i: usize| le_u64(&record, HvmHwCpuOffset::CR0 + 8 * i);
    let mut sregs = KvmSregs {
        gdt: table(
            limit16(HvmHwCpuOffset::GDTR_LIMIT, "gdtr_limit")?,
            HvmHwCpuOffset::GDTR_BASE,
        ),
        idt: table(
            limit16(HvmHwCpuOffset::IDTR_LIMIT, "idtr_limit")?,
            HvmHwCpuOffset::IDTR_BASE,
        ),
        cr0: cr(0),
        cr2: cr(1),
        cr3: cr(2),
        cr4: cr(3),
        // CR8 is the LAPIC's TPR (LAPIC_REGS), not part of the CPU record.
        cr8: 0,
        efer: le_u64(&record, HvmHwCpuOffset::MSR_EFER),
        apic_base: apic_base.unwrap_or(0),
        ..KvmSregs::default()
    };
    sregs.set_segments(&segments);
    let dr = |i: usize| le_u64(&record, HvmHwCpuOffset::DR0 + 8 * i);
    let mut format = format!("{described}, {}", c.origin);
    for n in &notes {
        format.push_str("; ");
        format.push_str(n);
    }
    Ok(ForeignVcpu {
        stack: Stack::XenHvm,
        format,
        id: c.instance.to_string(),
        regs: regs(&record),
        sregs,
        file_cpl: None,
        mp_state: None,
        lapic: None,
        vcpu_events: None,
        debug_regs: Some(raw::debug_regs_from(
            [dr(0), dr(1), dr(2), dr(3)],
            dr(4),
            dr(5),
        )),
        msrs: msrs(&record, c.tsc_aux),
    })
}

/// The record's name of a segment: `cs` … `ldtr`.
const fn xen_name(reg: SegReg) -> &'static str {
    match reg {
        SegReg::Ldtr => "ldtr",
        other => other.kvm_name(),
    }
}

/// One segment of the record as `hvm_load_cpu_ctxt` loads it: `UNFOLD_ARBYTES`, then
/// the u16 assignment to `seg.attr`, then Xen's shape decoded strictly.
fn segment(
    raw: &HvmHwCpuSegments,
    reg: SegReg,
    c: &CpuEntry<'_>,
    file: &str,
    notes: &mut Vec<String>,
    unfolded: &mut Vec<String>,
) -> Result<KvmSegment, IngestError> {
    let name = xen_name(reg);
    let arbytes = raw.arbytes[reg].0;
    let arbytes_at = HvmHwCpuOffset::ARBYTES + 4 * HvmHwCpuOffset::slot(reg);
    let place = |field: &str, at: usize| (c.locate)(field, at);
    let sel_at = HvmHwCpuOffset::SELECTORS + 4 * HvmHwCpuOffset::slot(reg);
    let selector = u16::try_from(raw.selectors[reg]).map_err(|_| {
        IngestError::new(
            c.format,
            file,
            place(&format!("{name}_sel"), sel_at),
            Reason::Layout(format!(
                "{:#x} is not a selector (16 bits)",
                raw.selectors[reg]
            )),
        )
    })?;
    if arbytes >> 16 != 0 {
        notes.push(format!(
            "{name}_arbytes {arbytes:#x}: bits 31:16 dropped, as hvm_load_cpu_ctxt's u16 assignment does"
        ));
    }
    let stored = XenSegmentRegister {
        selector,
        attr: SvmAttrib(arbytes as u16),
        limit: raw.limits[reg],
        base: raw.bases[reg],
    };
    let loaded = crate::profile::xen::save_load(Profile::XEN_SAVE.rules, &stored);
    if loaded.attr != stored.attr {
        unfolded.push(format!(
            "{name} {:#x} -> {:#x}",
            stored.attr.0, loaded.attr.0
        ));
    }
    let segment = Segment::try_from(loaded).map_err(|e| {
        IngestError::new(
            c.format,
            file,
            place(&format!("{name}_arbytes"), arbytes_at),
            Reason::Layout(format!("{:#x}: {}", loaded.attr.0, e.reason)),
        )
    })?;
    Ok(KvmSegment::from(segment))
}
