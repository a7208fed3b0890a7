//! The IDT: 32 exception gates that run at CPL 0 and report to the VMM, and a
//! DPL-3 breakpoint gate that user code may invoke with `int3`.

use super::gdt::KERNEL_CS;
use super::layout::IDT;
use super::memory::GuestMemory;

/// Number of architectural exception vectors.
pub const EXCEPTION_VECTORS: usize = 32;
/// Breakpoint vector (`int3`).
pub const VECTOR_BP: u8 = 3;
/// General-protection vector.
pub const VECTOR_GP: u8 = 13;

/// Encodes a 16-byte 64-bit interrupt gate (type 0xE: IF cleared on entry).
fn interrupt_gate(handler: u64, dpl: u8, ist: u8) -> [u8; 16] {
    let mut g = [0u8; 16];
    g[0..2].copy_from_slice(&(handler as u16).to_le_bytes());
    g[2..4].copy_from_slice(&KERNEL_CS.to_le_bytes());
    g[4] = ist & 7;
    g[5] = 0x80 | ((dpl & 3) << 5) | 0xe;
    g[6..8].copy_from_slice(&((handler >> 16) as u16).to_le_bytes());
    g[8..12].copy_from_slice(&((handler >> 32) as u32).to_le_bytes());
    g
}

/// Writes the IDT at [`IDT`]. Every exception vector except #BP goes to its
/// reporting stub on IST1, so a report works whatever RSP the fault left.
/// #BP goes to `int3_handler` through a DPL-3 gate without IST, so a
/// user-mode `int3` is an ordinary ring-3 → ring-0 transition: the CPU switches
/// to TSS.RSP0 and loads SS with a NULL selector.
pub fn write_idt(
    mem: &mut GuestMemory,
    stubs: &[u64; EXCEPTION_VECTORS],
    int3_handler: u64,
) -> Result<(), String> {
    for (vector, &stub) in stubs.iter().enumerate() {
        let gate = if vector == usize::from(VECTOR_BP) {
            interrupt_gate(int3_handler, 3, 0)
        } else {
            interrupt_gate(stub, 0, 1)
        };
        mem.write(IDT + 16 * vector as u64, &gate)?;
    }
    Ok(())
}

/// IDT limit covering the exception vectors.
pub const IDT_LIMIT: u16 = (16 * EXCEPTION_VECTORS - 1) as u16;
