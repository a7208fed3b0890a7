//! Where everything lives in the guest. Guest virtual addresses equal guest
//! physical addresses (identity map), so one constant serves both.
//!
//! ```text
//! 0x0000_1000  GDT                      0x0000_8000  parameter block (VMM → guest)
//! 0x0000_2000  IDT (256 gates)          0x0001_0000  kernel routines + exception stubs
//! 0x0000_3000  TSS                      0x0002_0000  user routines
//! 0x0000_4000  PML4                     0x0007_0000  user stack top
//! 0x0000_5000  PDPT                     0x0009_0000  kernel stack top (TSS.RSP0)
//! 0x0000_6000  page directory           0x000a_0000  IST1 stack top (exception reporting)
//! RAM ends at RAM_BYTES; everything up to MAPPED_BYTES is mapped but unbacked → MMIO exits.
//! ```

/// Bytes of guest RAM (one 2 MiB page holds everything).
pub const RAM_BYTES: u64 = 2 << 20;
/// Bytes of guest physical space covered by the identity map (1 GiB).
pub const MAPPED_BYTES: u64 = 1 << 30;

pub const GDT: u64 = 0x1000;
pub const IDT: u64 = 0x2000;
pub const TSS: u64 = 0x3000;
pub const PML4: u64 = 0x4000;
pub const PDPT: u64 = 0x5000;
pub const PD: u64 = 0x6000;

/// Parameter block the VMM fills before a run; routines read it.
pub const PARAMS: u64 = 0x8000;
/// u64: address the user routines jump to for the privileged probe.
pub const PARAM_PROBE: u64 = PARAMS;
/// u64: address of the user routine a kernel routine enters (SYSRET / IRETQ).
pub const PARAM_USER_ENTRY: u64 = PARAMS + 8;
/// u64: number of pauses the storm routine performs.
pub const PARAM_STORM_COUNT: u64 = PARAMS + 16;

pub const KERNEL_CODE: u64 = 0x1_0000;
pub const USER_CODE: u64 = 0x2_0000;
pub const USER_STACK_TOP: u64 = 0x7_0000;
pub const KERNEL_STACK_TOP: u64 = 0x9_0000;
pub const IST1_STACK_TOP: u64 = 0xa_0000;

/// Base of the unbacked MMIO window the guest writes to in order to talk to
/// the VMM from any privilege level (user `out` is not a reliable channel:
/// some backends exit to userspace instead of raising #GP).
pub const MMIO_BASE: u64 = 0x1000_0000;
/// Write here: "pause me in user mode" (the sync point).
pub const MMIO_USER_PAUSE: u64 = MMIO_BASE;
/// Write here: "the privileged probe instruction completed" (escalation marker).
pub const MMIO_PRIV_RAN: u64 = MMIO_BASE + 0x10;
/// Write here: "pause me in kernel mode" (from the int3 handler).
pub const MMIO_KERNEL_PAUSE: u64 = MMIO_BASE + 0x20;
/// Write here: "a user-mode `out` completed" (host observation).
pub const MMIO_USER_OUT_DONE: u64 = MMIO_BASE + 0x30;

/// Port the CPL-0 exception stubs write the vector number to.
pub const PORT_EXCEPTION: u16 = 0xe0;
/// Port the CPL-0 smoke routine writes to.
pub const PORT_KERNEL_HELLO: u16 = 0xe1;
/// Port the user-mode `out` probe writes to (host observation).
pub const PORT_USER_OUT: u16 = 0xe2;
/// Port the SYSCALL entry writes to.
pub const PORT_SYSCALL: u16 = 0xe3;

/// RFLAGS with only the reserved bit 1 set: IF=0, IOPL=0.
pub const RFLAGS_DEFAULT: u64 = 0x2;
