//! The IDT: 32 exception gates that run at CPL 0 and report to the VMM, and a
//! DPL-3 breakpoint gate that user code may invoke with `int3`.

use segstate::arch::{GateDescriptor, GateKind, PrivilegeLevel, Selector};

use super::gdt::KERNEL_CS;
use super::layout::IDT;
use super::memory::GuestMemory;
use crate::error::HarnessError;

/// Number of architectural exception vectors.
pub const EXCEPTION_VECTORS: usize = 32;
/// Breakpoint vector (`int3`).
pub const VECTOR_BP: u8 = 3;
/// General-protection vector.
pub const VECTOR_GP: u8 = 13;

/// A 64-bit interrupt gate (IF cleared on entry) to `handler` in the kernel CS.
fn interrupt_gate(
    handler: u64,
    dpl: PrivilegeLevel,
    ist: u8,
) -> Result<GateDescriptor, HarnessError> {
    GateDescriptor::new(GateKind::Interrupt, Selector(KERNEL_CS), handler, dpl, ist).map_err(
        |error| HarnessError::Descriptor {
            what: "IDT gate",
            error,
        },
    )
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
) -> Result<(), HarnessError> {
    for (vector, &stub) in stubs.iter().enumerate() {
        let gate = if vector == usize::from(VECTOR_BP) {
            interrupt_gate(int3_handler, PrivilegeLevel::Ring3, 0)?
        } else {
            interrupt_gate(stub, PrivilegeLevel::Ring0, 1)?
        };
        mem.write(IDT + 16 * vector as u64, &gate.to_bytes())?;
    }
    Ok(())
}

/// IDT limit covering the exception vectors.
pub const IDT_LIMIT: u16 = (16 * EXCEPTION_VECTORS - 1) as u16;

#[cfg(test)]
mod tests {
    use super::*;

    /// The gates are the bytes the hand-built encoder wrote before the library type
    /// existed: offset split 15:0 / 31:16 / 63:32, kernel CS, IST, P|DPL|type 0xE.
    #[test]
    fn gates_carry_handler_selector_dpl_and_ist() {
        let bp = interrupt_gate(0x1_2345_6789, PrivilegeLevel::Ring3, 0).unwrap();
        assert_eq!(
            bp.to_bytes(),
            [
                0x89, 0x67, 0x08, 0x00, 0x00, 0xee, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        let gp = interrupt_gate(0x1_0040, PrivilegeLevel::Ring0, 1).unwrap();
        assert_eq!(
            gp.to_bytes()[..8],
            [0x40, 0x00, 0x08, 0x00, 0x01, 0x8e, 0x01, 0x00]
        );
    }
}
