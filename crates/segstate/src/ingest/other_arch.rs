//! Register dumps of other architectures, told apart so that a paste from an arm64 or
//! POWER host is refused as not x86 instead of being judged by its exit line alone.
//!
//! QEMU prints `error: kvm run failed …` and then the vCPU's registers on every KVM
//! host (`kvm_cpu_exec` calls `cpu_dump_state`), so the exit line reads like an x86
//! one; the register lines after it are each target's own `dump_state` in QEMU's
//! `target/*/cpu.c`:
//!
//! | architecture | QEMU function | lines that only it prints |
//! |---|---|---|
//! | AArch64 | `aarch64_cpu_dump_state` | ` PC=… X00=… X01=…`, `PSTATE=… EL1h` |
//! | 32-bit Arm | `arm_cpu_dump_state` | `R00=… R01=…`, `PSR=…` |
//! | POWER | `ppc_cpu_dump_state` | `NIP … LR … CTR …`, `GPR00 …` |
//! | s390x | `s390_cpu_dump_state` | `PSW=mask … addr …` |
//! | RISC-V | `riscv_cpu_dump_state` | ` pc       …`, ` mhartid  …` |
//! | MIPS | `mips_cpu_dump_state` | `pc=0x… HI=0x… LO=0x…` |

use core::fmt;

/// An architecture whose register dump is not x86's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherArch {
    /// AArch64 (arm64).
    Aarch64,
    /// 32-bit Arm.
    Arm,
    /// POWER / PowerPC.
    Ppc,
    /// IBM Z.
    S390x,
    /// RISC-V.
    RiscV,
    /// MIPS.
    Mips,
}

impl OtherArch {
    /// The lines that gave it away, as the report quotes them.
    #[must_use]
    pub const fn evidence(self) -> &'static str {
        match self {
            OtherArch::Aarch64 => "`PC=` with `X00=`, `PSTATE=`",
            OtherArch::Arm => "`R00=` … `R15=`, `PSR=`",
            OtherArch::Ppc => "`NIP` with `LR` and `CTR`, `GPR00`",
            OtherArch::S390x => "`PSW=mask`",
            OtherArch::RiscV => "` pc` with ` mhartid`",
            OtherArch::Mips => "`pc=0x` with `HI=0x` and `LO=0x`",
        }
    }
}

impl fmt::Display for OtherArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OtherArch::Aarch64 => "AArch64 (arm64)",
            OtherArch::Arm => "32-bit Arm",
            OtherArch::Ppc => "POWER (ppc64)",
            OtherArch::S390x => "s390x",
            OtherArch::RiscV => "RISC-V",
            OtherArch::Mips => "MIPS",
        })
    }
}

/// The architecture one line of a QEMU register dump belongs to, when only another
/// architecture's dump prints such a line. Each needs two marks on the line, or one
/// name no x86 dump prints, so a word in a sentence does not count.
fn of_line(line: &str) -> Option<OtherArch> {
    let words: alloc::vec::Vec<&str> = line.split_whitespace().collect();
    let has = |prefix: &str| words.iter().any(|w| w.starts_with(prefix));
    let first = words.first().copied().unwrap_or_default();
    if has("PC=") && has("X00=") || first.starts_with("PSTATE=") && line.contains(" EL") {
        Some(OtherArch::Aarch64)
    } else if has("R00=") && has("R01=") {
        Some(OtherArch::Arm)
    } else if first == "NIP" && has("LR") && has("CTR") || first == "GPR00" && words.len() >= 5 {
        Some(OtherArch::Ppc)
    } else if first.starts_with("PSW=mask") {
        Some(OtherArch::S390x)
    } else if first == "mhartid" && words.len() == 2 {
        Some(OtherArch::RiscV)
    } else if first.starts_with("pc=0x") && has("HI=0x") && has("LO=0x") {
        Some(OtherArch::Mips)
    } else {
        None
    }
}

/// The first line of `text` (1-based) that only another architecture's register dump
/// prints, and that architecture.
#[must_use]
pub fn find(text: &str) -> Option<(usize, OtherArch)> {
    text.lines()
        .enumerate()
        .find_map(|(i, l)| of_line(l).map(|a| (i + 1, a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_architecture_is_told_by_its_own_lines() {
        for (line, arch) in [
            (
                " PC=0000000040205afc X00=0000000040723f4c X01=0000000000000010",
                OtherArch::Aarch64,
            ),
            ("PSTATE=600003c5 -ZC- EL1h", OtherArch::Aarch64),
            (
                "R00=00000000 R01=00000000 R02=00000000 R03=00000000",
                OtherArch::Arm,
            ),
            (
                "  NIP 0000000000000100   LR 0000000000000000 CTR 0000000000000000 XER 0 CPU#0",
                OtherArch::Ppc,
            ),
            (
                "GPR00 0000000000000000 0000000000000000 c000000002a8c300 000000007fe00000",
                OtherArch::Ppc,
            ),
            (
                "PSW=mask 0000000180000000 addr 000000000001a2b4 cc 00",
                OtherArch::S390x,
            ),
            (" mhartid  0000000000000000", OtherArch::RiscV),
            (
                "pc=0xbfc00000 HI=0x00000000 LO=0x00000000 ds 0091 BFC00000 0",
                OtherArch::Mips,
            ),
        ] {
            assert_eq!(find(line), Some((1, arch)), "{line}");
        }
        // x86's QEMU dump and sentences that name the words are not another's.
        for line in [
            "RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000",
            "EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0",
            "the NIP register and the LR",
            "set PC=0 before X00 is read",
        ] {
            assert_eq!(find(line), None, "{line}");
        }
    }
}
