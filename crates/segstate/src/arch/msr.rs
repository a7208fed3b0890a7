//! Architectural MSR indices the project reads, writes, captures or names, each in one
//! place: Intel SDM Vol. 4, Table 2-2 "IA-32 Architectural MSRs", and AMD APM Vol. 2,
//! Appendix A "MSR Cross-Reference" (the SYSCALL/SYSRET MSRs: APM Vol. 2 §6.1.1, SDM
//! Vol. 3A §5.8.8).
//!
//! Each constant's identifier is also its short name in [`TABLE`] (and so in
//! `snapshot diff`'s `MSR 0xc0000081 (STAR)`): one list declares both, so an index
//! cannot be added without its name.

/// Declares one `u32` constant per MSR and [`TABLE`], which names each by its identifier.
macro_rules! msrs {
    ($($(#[$doc:meta])* $name:ident = $index:literal;)*) => {
        $($(#[$doc])* pub const $name: u32 = $index;)*

        /// Every index of this module with its short name (the constant's identifier),
        /// in ascending index order: what [`name`] reads.
        pub const TABLE: &[(u32, &str)] = &[$(($name, stringify!($name))),*];
    };
}

msrs! {
    /// IA32_TIME_STAMP_COUNTER (SDM; APM: TSC): the time-stamp counter RDTSC reads.
    TSC = 0x10;
    /// IA32_APIC_BASE (SDM; APM: APIC_BASE): the local APIC's base address and enables.
    APIC_BASE = 0x1b;
    /// IA32_SYSENTER_CS (SDM; APM: SYSENTER_CS): the CS SYSENTER loads.
    SYSENTER_CS = 0x174;
    /// IA32_SYSENTER_ESP (SDM; APM: SYSENTER_ESP): the stack pointer SYSENTER loads.
    SYSENTER_ESP = 0x175;
    /// IA32_SYSENTER_EIP (SDM; APM: SYSENTER_EIP): the entry point SYSENTER jumps to.
    SYSENTER_EIP = 0x176;
    /// IA32_PAT (SDM; APM: PAT): the page-attribute table.
    PAT = 0x277;
    /// IA32_TSC_DEADLINE (SDM): the local APIC timer's TSC-deadline target.
    TSC_DEADLINE = 0x6e0;
    /// IA32_EFER (SDM; APM: EFER): extended features (SCE, LME, LMA, NXE, SVME).
    EFER = 0xc000_0080;
    /// IA32_STAR (SDM; APM: STAR): the SYSCALL and SYSRET CS/SS selector bases.
    STAR = 0xc000_0081;
    /// IA32_LSTAR (SDM; APM: LSTAR): the 64-bit-mode SYSCALL entry point.
    LSTAR = 0xc000_0082;
    /// CSTAR (APM; Intel: IA32_CSTAR): the compatibility-mode SYSCALL entry point.
    CSTAR = 0xc000_0083;
    /// SFMASK (APM; SDM: IA32_FMASK): the RFLAGS bits SYSCALL clears.
    SFMASK = 0xc000_0084;
    /// IA32_FS_BASE (SDM; APM: FS.base): FS's 64-bit base.
    FS_BASE = 0xc000_0100;
    /// IA32_GS_BASE (SDM; APM: GS.base): GS's 64-bit base.
    GS_BASE = 0xc000_0101;
    /// IA32_KERNEL_GS_BASE (SDM; APM: KernelGSbase): what SWAPGS exchanges GS.base with.
    KERNEL_GS_BASE = 0xc000_0102;
    /// IA32_TSC_AUX (SDM; APM: TSC_AUX): the value RDTSCP and RDPID return.
    TSC_AUX = 0xc000_0103;
}

/// The short name of the MSR at `index` (`STAR` for `0xc000_0081`), or `None` for an
/// index this module does not list.
///
/// ```
/// use segstate::arch::msr;
///
/// assert_eq!(msr::name(msr::STAR), Some("STAR"));
/// assert_eq!(msr::name(0xc000_0084), Some("SFMASK"));
/// assert_eq!(msr::name(0x3a), None); // IA32_FEATURE_CONTROL: not one the project uses
/// ```
pub fn name(index: u32) -> Option<&'static str> {
    TABLE.iter().find(|&&(i, _)| i == index).map(|&(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_strictly_ascending_index_order_so_no_index_has_two_names() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{:#x?} then {:#x?}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn every_listed_index_is_named_by_its_constant_and_nothing_else_is() {
        for &(index, n) in TABLE {
            assert_eq!(name(index), Some(n), "{index:#x}");
        }
        assert_eq!(
            [TSC, APIC_BASE, KERNEL_GS_BASE, TSC_AUX].map(name),
            [
                Some("TSC"),
                Some("APIC_BASE"),
                Some("KERNEL_GS_BASE"),
                Some("TSC_AUX")
            ]
        );
        // IA32_P5_MC_ADDR, IA32_FEATURE_CONTROL and the MSR after TSC_AUX: real MSRs
        // the project does not name.
        assert_eq!([0, 0x3a, TSC_AUX + 1].map(name), [None; 3]);
    }
}
