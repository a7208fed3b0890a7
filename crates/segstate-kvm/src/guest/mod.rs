//! A tiny 64-bit long-mode guest built in code: identity-mapped RAM, a
//! SYSCALL/SYSRET-style GDT with a TSS, an IDT whose exception handlers
//! report to the VMM, and a handful of named kernel and user routines.
//!
//! The guest starts directly in long mode (CR0/CR4/EFER/segments set through
//! KVM_SET_SREGS): no real-mode boot, because some backends hang there.

pub mod code;
pub mod gdt;
pub mod idt;
pub mod layout;
pub mod memory;

use std::sync::OnceLock;

use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};

pub use code::{GuestCode, Probe, Routines};
use layout::*;
pub use memory::GuestMemory;

use crate::error::HarnessError;

/// Room for the user routines from [`USER_CODE`].
const USER_CODE_BYTES: u64 = 0x1_0000;

/// CR0: PE | MP | ET | NE | WP | PG.
pub const CR0: u64 = 0x8005_0033;
/// CR4: PAE | OSFXSR | OSXMMEXCPT.
pub const CR4: u64 = 0x620;
/// EFER: SCE | LME | LMA.
pub const EFER: u64 = 0x501;

/// The assembled guest code, built once per process.
pub fn code() -> Result<&'static GuestCode, HarnessError> {
    static CODE: OnceLock<Result<GuestCode, HarnessError>> = OnceLock::new();
    CODE.get_or_init(code::assemble)
        .as_ref()
        .map_err(Clone::clone)
}

/// Writes page tables, GDT, TSS, IDT and code into fresh guest RAM.
pub fn load(mem: &mut GuestMemory) -> Result<&'static Routines, HarnessError> {
    let c = code()?;
    memory::write_identity_map(mem)?;
    gdt::write_gdt_and_tss(mem)?;
    idt::write_idt(mem, &c.routines.k_exception, c.routines.k_int3)?;
    for (blob, code, at, room) in [
        ("kernel", &c.kernel, KERNEL_CODE, USER_CODE - KERNEL_CODE),
        ("user", &c.user, USER_CODE, USER_CODE_BYTES),
    ] {
        if code.len() as u64 > room {
            return Err(HarnessError::GuestTooLarge {
                blob,
                bytes: code.len(),
                room,
            });
        }
        mem.write(at, code)?;
    }
    Ok(&c.routines)
}

/// How the guest's SS looks at the start of a user-mode entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserSs {
    /// Flat, present user data segment 0x23 (DPL 3).
    Valid,
    /// Selector 0x23 but unusable / not present, DPL 3: AMD's post-SYSRET state.
    Unusable,
    /// Selector 0x23, unusable, DPL `n`: a deliberately inconsistent state
    /// used to measure where KVM takes the CPL from.
    UnusableDpl(u8),
}

/// The CPU state a run starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// CPL 0 at `rip` with kernel CS/SS and the kernel stack.
    Kernel { rip: u64 },
    /// CPL 3 at `rip` with user CS, the user stack and the given SS.
    User { rip: u64, ss: UserSs },
}

/// The special registers for `entry`, on top of what KVM_GET_SREGS returned
/// for a fresh vCPU (keeps apic_base and the interrupt bitmap as KVM made them).
pub fn sregs_for(base: &kvm_sregs, entry: Entry) -> kvm_sregs {
    let mut s = *base;
    s.cr0 = CR0;
    s.cr3 = PML4;
    s.cr4 = CR4;
    s.efer = EFER;
    s.gdt.base = GDT;
    s.gdt.limit = gdt::GDT_LIMIT;
    s.idt.base = IDT;
    s.idt.limit = idt::IDT_LIMIT;
    s.tr = gdt::task_register();
    s.ldt = gdt::ldtr();
    let (cs, ss, data): (kvm_segment, kvm_segment, kvm_segment) = match entry {
        Entry::Kernel { .. } => (gdt::kernel_cs(), gdt::kernel_ds(), gdt::kernel_ds()),
        Entry::User { ss, .. } => {
            let ss = match ss {
                UserSs::Valid => gdt::user_ds(),
                UserSs::Unusable => gdt::unusable_user_ss(),
                UserSs::UnusableDpl(d) => kvm_segment {
                    dpl: d & 3,
                    ..gdt::unusable_user_ss()
                },
            };
            (gdt::user_cs(), ss, gdt::user_ds())
        }
    };
    s.cs = cs;
    s.ss = ss;
    s.ds = data;
    s.es = data;
    s.fs = data;
    s.gs = data;
    s
}

/// The general registers for `entry`.
pub fn regs_for(entry: Entry) -> kvm_regs {
    let (rip, rsp) = match entry {
        Entry::Kernel { rip } => (rip, KERNEL_STACK_TOP),
        Entry::User { rip, .. } => (rip, USER_STACK_TOP),
    };
    kvm_regs {
        rip,
        rsp,
        rflags: RFLAGS_DEFAULT,
        ..Default::default()
    }
}
