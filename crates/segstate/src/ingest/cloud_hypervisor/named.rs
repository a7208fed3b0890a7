//! `kvm_regs` and `kvm_sregs` by field name, as two serde derives wrote them:
//!
//! - mshv-bindings' `StandardRegisters` / `SpecialRegisters` (`mshv-bindings/src/x86_64/regs.rs`,
//!   mshv `1032a5d`), what Cloud Hypervisor on MSHV saves from v26 on;
//! - Cloud Hypervisor's kvm-bindings fork, whose `with-serde` feature puts
//!   `#[cfg_attr(feature = "with-serde", derive(Deserialize, Serialize))]` on the bindgen
//!   structs (`src/x86/bindings_v4_20_0.rs`, branch `ch-v0.4.0` `1a68725`), what
//!   Cloud Hypervisor on KVM saves up to v38.
//!
//! Both name `kvm_regs`' and `kvm_segment`'s fields as the C struct does; the tables
//! differ: the fork's `kvm_dtable` keeps its `padding: [u16; 3]` (no `serde(skip)`),
//! mshv's `TableRegister` has none. Every struct refuses a missing or an unknown field,
//! and each number must fit its C field, so a shape of another program or version is
//! refused rather than read with defaults.

use serde::Deserialize;

use crate::format::kvm::{KvmDtable, KvmSegment, KvmSregs};
use crate::snapshot::Regs;

/// `kvm_regs` (and mshv's `StandardRegisters`) by field name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NamedRegs {
    rax: u64,
    rbx: u64,
    rcx: u64,
    rdx: u64,
    rsi: u64,
    rdi: u64,
    rsp: u64,
    rbp: u64,
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rip: u64,
    rflags: u64,
}

/// `kvm_segment` (and mshv's `SegmentRegister`) by field name, `padding` included.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NamedSegment {
    base: u64,
    limit: u32,
    selector: u16,
    type_: u8,
    present: u8,
    dpl: u8,
    db: u8,
    s: u8,
    l: u8,
    g: u8,
    avl: u8,
    unusable: u8,
    padding: u8,
}

/// mshv-bindings `TableRegister`: no padding.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MshvTable {
    base: u64,
    limit: u16,
}

/// The kvm-bindings fork's derived `kvm_dtable`: `padding` is serialised.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForkDtable {
    base: u64,
    limit: u16,
    padding: [u16; 3],
}

/// A descriptor-table register of either derive.
pub(super) trait Table {
    /// As `struct kvm_dtable`.
    fn dtable(&self) -> KvmDtable;
}

impl Table for MshvTable {
    fn dtable(&self) -> KvmDtable {
        KvmDtable::new(self.base, self.limit)
    }
}

impl Table for ForkDtable {
    fn dtable(&self) -> KvmDtable {
        KvmDtable {
            base: self.base,
            limit: self.limit,
            padding: self.padding,
        }
    }
}

/// `kvm_sregs` (and mshv's `SpecialRegisters`) by field name; `T` is the table type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NamedSregs<T> {
    cs: NamedSegment,
    ds: NamedSegment,
    es: NamedSegment,
    fs: NamedSegment,
    gs: NamedSegment,
    ss: NamedSegment,
    tr: NamedSegment,
    ldt: NamedSegment,
    gdt: T,
    idt: T,
    cr0: u64,
    cr2: u64,
    cr3: u64,
    cr4: u64,
    cr8: u64,
    efer: u64,
    apic_base: u64,
    interrupt_bitmap: [u64; 4],
}

impl From<&NamedSegment> for KvmSegment {
    fn from(s: &NamedSegment) -> Self {
        KvmSegment {
            base: s.base,
            limit: s.limit,
            selector: s.selector,
            type_: s.type_,
            present: s.present,
            dpl: s.dpl,
            db: s.db,
            s: s.s,
            l: s.l,
            g: s.g,
            avl: s.avl,
            unusable: s.unusable,
            padding: s.padding,
        }
    }
}

impl<T: Table> From<&NamedSregs<T>> for KvmSregs {
    fn from(r: &NamedSregs<T>) -> Self {
        KvmSregs {
            cs: (&r.cs).into(),
            ds: (&r.ds).into(),
            es: (&r.es).into(),
            fs: (&r.fs).into(),
            gs: (&r.gs).into(),
            ss: (&r.ss).into(),
            tr: (&r.tr).into(),
            ldt: (&r.ldt).into(),
            gdt: r.gdt.dtable(),
            idt: r.idt.dtable(),
            cr0: r.cr0,
            cr2: r.cr2,
            cr3: r.cr3,
            cr4: r.cr4,
            cr8: r.cr8,
            efer: r.efer,
            apic_base: r.apic_base,
            interrupt_bitmap: r.interrupt_bitmap,
        }
    }
}

impl From<&NamedRegs> for Regs {
    fn from(r: &NamedRegs) -> Self {
        Regs::from_array([
            r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11,
            r.r12, r.r13, r.r14, r.r15, r.rip, r.rflags,
        ])
    }
}
