//! The exit qualification of a control-register access (basic exit reason 28), decoded
//! for a report: what the guest was doing when it exited. Read per Intel SDM Vol. 3C
//! §28.2.1, Table 28-3, "Exit Qualification for Control-Register Accesses":
//!
//! | bits | field |
//! |---|---|
//! | 3:0 | number of the control register (0 for CLTS and LMSW) |
//! | 5:4 | access type: 0 MOV to CR, 1 MOV from CR, 2 CLTS, 3 LMSW |
//! | 6 | LMSW operand type: 0 register, 1 memory (0 for CLTS and MOV CR) |
//! | 7 | reserved (0) |
//! | 11:8 | MOV CR: the general-purpose register, 0 RAX … 15 R15 (0 for CLTS and LMSW) |
//! | 15:12 | reserved (0) |
//! | 31:16 | LMSW: its source data (0 for CLTS and MOV CR) |
//! | 63:32 | reserved (0) |
//!
//! LMSW loads CR0 bits 3:0 (PE, MP, EM, TS) from the low four bits of its source, and
//! can set PE but not clear it (SDM Vol. 2A, "LMSW").

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::Exit;

/// The basic exit reason of a control-register access.
pub const CR_ACCESS: u16 = 28;

/// The general-purpose registers as bits 11:8 number them.
const GPRS: [&str; 16] = [
    "RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI", "R8", "R9", "R10", "R11", "R12", "R13",
    "R14", "R15",
];

/// Bits Table 28-3 reserves, which the processor clears: 7, 15:12 and 63:32.
const RESERVED: u64 = 0xffff_ffff_0000_f080;

/// The qualification of a control-register access in words: which instruction, on
/// which register, from or to where.
#[must_use]
pub fn describe(q: u64) -> String {
    let cr = q & 0xf;
    let kind = (q >> 4) & 3;
    let memory = q & (1 << 6) != 0;
    let gpr = GPRS[((q >> 8) & 0xf) as usize];
    let source = (q >> 16) & 0xffff;
    let what = match kind {
        0 => format!("MOV to CR{cr} from {gpr}"),
        1 => format!("MOV from CR{cr} to {gpr}"),
        2 => String::from("CLTS (clears CR0.TS)"),
        _ => {
            let bit = |n: u64| (source >> n) & 1;
            format!(
                "LMSW from {} with source data {source:#06x}: CR0 bits 3:0 loaded from it, \
                 PE={} MP={} EM={} TS={} (LMSW can set PE, not clear it)",
                if memory { "memory" } else { "a register" },
                bit(0),
                bit(1),
                bit(2),
                bit(3)
            )
        }
    };
    // Fields Table 28-3 clears for this access type, and the reserved bits.
    let cleared = match kind {
        0 | 1 => (1 << 6) | 0xffff_0000,
        2 => 0xffff_0f4f,
        _ => 0x0f0f,
    };
    let odd = q & (RESERVED | cleared);
    let odd = if odd == 0 {
        String::new()
    } else {
        format!(
            "; bits {odd:#x} are set, which the processor clears for this access type: \
             the value may not be the qualification of this exit"
        )
    };
    format!(
        "exit qualification {q:#x} of a control-register access (exit reason 28): {what} \
         (SDM Vol. 3C §28.2.1, Table 28-3){odd}"
    )
}

/// Notes on the exits' qualifications that say what the guest was doing: one for each
/// control-register access (basic reason 28) printed with its qualification.
#[must_use]
pub fn notes(exits: &[(usize, Exit)]) -> Vec<String> {
    exits
        .iter()
        .filter_map(|(line, e)| match e {
            Exit::VmxExitReason {
                reason,
                qualification: Some(q),
            } if reason & 0xffff == u32::from(CR_ACCESS) && reason & (1 << 31) == 0 => {
                Some(format!("line {line}: {}", describe(*q)))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_access_type_is_decoded() {
        // xhyve#215: LMSW of 1 from a register (PE set: the guest entering protected mode).
        let lmsw = describe(0x1_0030);
        assert!(
            lmsw.contains("LMSW from a register with source data 0x0001"),
            "{lmsw}"
        );
        assert!(lmsw.contains("PE=1 MP=0 EM=0 TS=0"), "{lmsw}");
        assert!(!lmsw.contains("are set"), "{lmsw}");
        assert!(
            describe(0x40 | 0x30 | 0xb_0000).contains("LMSW from memory with source data 0x000b")
        );
        // MOV to CR4 from RAX (KVM's CR4 intercept), MOV from CR3 to R12, CLTS.
        assert!(describe(0x4).contains("MOV to CR4 from RAX"));
        assert!(describe(0xc13).contains("MOV from CR3 to R12"));
        assert!(describe(0x20).contains("CLTS (clears CR0.TS)"));
        assert!(describe(0x8).contains("MOV to CR8 from RAX"));
    }

    #[test]
    fn bits_the_processor_clears_are_named() {
        // Reserved bit 7, and a register number for LMSW.
        let odd = describe(0x1_0130 | 0x80);
        assert!(odd.contains("bits 0x180 are set"), "{odd}");
        // Source data for a MOV to CR.
        assert!(describe(0x1_0000).contains("bits 0x10000 are set"));
    }

    #[test]
    fn only_a_cr_access_with_its_qualification_gets_a_note() {
        let exit = |reason, qualification| Exit::VmxExitReason {
            reason,
            qualification,
        };
        let n = notes(&[
            (3, exit(28, Some(0x1_0030))),
            (5, exit(28, None)),
            (7, exit(30, Some(0x1f80_0008))),
            (9, exit(0x8000_001c, Some(0))),
        ]);
        assert_eq!(n.len(), 1);
        assert!(n[0].starts_with("line 3: exit qualification 0x10030"));
    }
}
