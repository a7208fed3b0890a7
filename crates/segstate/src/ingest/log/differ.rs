//! Why a kernel dump and QEMU's dump of the same failure differ in a register, where
//! KVM's own writes explain it: the kernel prints what KVM put in the VMCS or VMCB,
//! QEMU what the guest sees.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::{
    CR0_CD, CR0_NE, CR0_NW, CR0_PE, CR0_PG, CR4_PAE, CR4_VMXE, EFER_SVME, GuestField, Vendor,
};

/// CR0.WP (bit 16), which KVM forces on for a guest under shadow paging on AMD.
const CR0_WP: u64 = 1 << 16;
/// CR4.VME (bit 0), forced on for KVM's vm86 real mode on Intel.
const CR4_VME: u64 = 1 << 0;
/// CR4.MCE (bit 6), which `vmx_set_cr4` takes from the host's CR4, not the guest's.
const CR4_MCE: u64 = 1 << 6;

/// CR4 bits `vmx_set_cr4` may set while the guest's are clear: VMXE always
/// (`KVM_VM_CR4_ALWAYS_ON_UNRESTRICTED_GUEST`), PAE in protected mode without
/// unrestricted guest (`KVM_PMODE_VM_CR4_ALWAYS_ON`), VME and PAE in vm86 real mode
/// (`KVM_RMODE_VM_CR4_ALWAYS_ON`); MCE follows the host either way.
const VMX_CR4_FORCED_ON: u64 = CR4_VMXE | CR4_PAE | CR4_VME;

/// CR0 bits KVM clears in the hardware CR0 whatever the guest sets: on Intel
/// `KVM_VM_CR0_ALWAYS_OFF` in `vmx_set_cr0` (VMX does not allow CD with EPT, KVM
/// emulates it through the memory type), on AMD `svm_set_cr0` under
/// `KVM_X86_QUIRK_CD_NW_CLEARED` (arch/x86/kvm/vmx/vmx.c, arch/x86/kvm/svm/svm.c).
const CR0_FORCED_OFF: u64 = CR0_CD | CR0_NW;

/// CR0 bits KVM may set in the hardware CR0 while the guest's are clear: on Intel
/// NE (`KVM_VM_CR0_ALWAYS_ON_UNRESTRICTED_GUEST`), and PG and PE too without
/// unrestricted guest (`KVM_VM_CR0_ALWAYS_ON`); on AMD PG and WP without NPT
/// (`svm_set_cr0`: a shadow-paged guest always runs paged and write-protected).
const fn cr0_forced_on(vendor: Vendor) -> u64 {
    match vendor {
        Vendor::Intel => CR0_NE | CR0_PG | CR0_PE,
        Vendor::Amd => CR0_PG | CR0_WP,
    }
}

/// The names of `mask`'s bits among `names`, lowest first, joined by `/`.
fn bit_names(mask: u64, names: &[(u64, &str)]) -> String {
    let named: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    named.join("/")
}

/// The CR0 bits KVM forces, by name.
const CR0_NAMES: [(u64, &str); 6] = [
    (CR0_PE, "PE"),
    (CR0_NE, "NE"),
    (CR0_WP, "WP"),
    (CR0_NW, "NW"),
    (CR0_CD, "CD"),
    (CR0_PG, "PG"),
];

/// The CR4 bits KVM forces or takes from the host, by name.
const CR4_NAMES: [(u64, &str); 4] = [
    (CR4_VME, "VME"),
    (CR4_PAE, "PAE"),
    (CR4_MCE, "MCE"),
    (CR4_VMXE, "VMXE"),
];

/// " (only in what KVM forces …)" for bits cleared (`off`) and set (`on`) by `function`.
fn forced(area: &str, function: &str, off: u64, on: u64, names: &[(u64, &str)]) -> String {
    let mut parts = Vec::new();
    if off != 0 {
        parts.push(format!("clears {}", bit_names(off, names)));
    }
    if on != 0 {
        parts.push(format!("sets {}", bit_names(on, names)));
    }
    format!(
        " (only in what KVM forces in the {area}: {function} {} whatever the guest's \
         value, which QEMU shows)",
        parts.join(" and ")
    )
}

/// Why `field` differs between a kernel dump's value (`kernel`) and QEMU's (`qemu`),
/// as words to append to the note, or `""` when KVM's writes do not explain the whole
/// difference. `kvm` is the vendor whose save area the kernel printed when the pair is
/// KVM's (a Linux dump_vmcs or dump_vmcb beside QEMU's dump); CR0 is explained only
/// then.
pub(super) fn why(field: GuestField, kvm: Option<Vendor>, kernel: u64, qemu: u64) -> String {
    match field {
        // KVM sets EFER.SVME in the VMCB and keeps it out of the guest's view
        // (svm_set_efer), so a VMCB dump and QEMU's differ in it every time.
        GuestField::Efer if kernel ^ qemu == EFER_SVME => String::from(
            " (only in SVME, bit 12, which KVM sets in the VMCB and hides from the guest's \
             view)",
        ),
        GuestField::Cr0 => {
            let Some(vendor) = kvm else {
                return String::new();
            };
            let (off, on) = (qemu & !kernel, kernel & !qemu);
            let explained = off & !CR0_FORCED_OFF == 0 && on & !cr0_forced_on(vendor) == 0;
            if !explained || off | on == 0 {
                return String::new();
            }
            match vendor {
                Vendor::Intel => forced("VMCS", "vmx_set_cr0", off, on, &CR0_NAMES),
                Vendor::Amd => forced("VMCB", "svm_set_cr0", off, on, &CR0_NAMES),
            }
        }
        // MCE may differ either way (the host's), the rest only set by KVM.
        GuestField::Cr4 if kvm == Some(Vendor::Intel) => {
            let (off, on) = (qemu & !kernel, kernel & !qemu);
            let explained = off & !CR4_MCE == 0 && on & !(VMX_CR4_FORCED_ON | CR4_MCE) == 0;
            if !explained || off | on == 0 {
                return String::new();
            }
            forced("VMCS", "vmx_set_cr4", off, on, &CR4_NAMES)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvms_forced_cr0_bits_explain_the_corpus_differences_and_nothing_else() {
        // kvm-2005-hwerr0-dumpvmcs-ept: QEMU 0x60000010, VMCS 0x30.
        let intel = why(GuestField::Cr0, Some(Vendor::Intel), 0x30, 0x6000_0010);
        assert!(
            intel.contains("vmx_set_cr0 clears NW/CD and sets NE whatever"),
            "{intel}"
        );
        // lkml-1509-svm: QEMU 0x60000010, VMCB 0x80010010 (shadow paging).
        let amd = why(GuestField::Cr0, Some(Vendor::Amd), 0x8001_0010, 0x6000_0010);
        assert!(
            amd.contains("svm_set_cr0 clears NW/CD and sets WP/PG whatever"),
            "{amd}"
        );
        // NE set by KVM on AMD is no KVM write; TS differing is the guest's own.
        assert_eq!(why(GuestField::Cr0, Some(Vendor::Amd), 0x30, 0x10), "");
        assert_eq!(why(GuestField::Cr0, Some(Vendor::Intel), 0x38, 0x30), "");
        assert_eq!(why(GuestField::Cr0, None, 0x30, 0x6000_0010), "");
        // The same VMCS's CR4: 0x2040 where QEMU shows 0 (VMXE, and the host's MCE).
        let cr4 = why(GuestField::Cr4, Some(Vendor::Intel), 0x2040, 0);
        assert!(cr4.contains("vmx_set_cr4 sets MCE/VMXE whatever"), "{cr4}");
        assert_eq!(why(GuestField::Cr4, Some(Vendor::Intel), 0x2060, 0x20), cr4);
        assert_eq!(why(GuestField::Cr4, Some(Vendor::Intel), 0x2000, 0x80), "");
        assert_eq!(why(GuestField::Cr4, Some(Vendor::Amd), 0x20, 0x7e0), "");
        assert!(why(GuestField::Efer, Some(Vendor::Amd), 0x1d00, 0xd00).contains("SVME"));
        assert_eq!(why(GuestField::Efer, Some(Vendor::Amd), 0x1d01, 0xd00), "");
    }
}
