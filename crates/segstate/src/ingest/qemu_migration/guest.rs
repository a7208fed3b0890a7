//! What a `cpu` section holds beyond the segments (target/i386/machine.c
//! `vmstate_x86_cpu`, QEMU 10.0.2): the guest state the rules beyond the segments
//! judge, and whether the vCPU was running a nested guest.

use super::*;
use crate::arch::GuestState;

/// `KVM_STATE_NESTED_GUEST_MODE`, bit 0 of `struct kvm_nested_state`'s `flags`.
const KVM_STATE_NESTED_GUEST_MODE: u64 = 1;

/// The subsections that belong to a nested guest: TCG's SVM state (`cpu/svn_npt`, as
/// QEMU spells it, `cpu/svm_guest`) and KVM's nested state with its VMX or SVM part.
const NESTED_SUBSECTIONS: [&str; 3] = ["cpu/svn_npt", "cpu/svm_guest", SUBSECTION_KVM_NESTED_STATE];

impl MigrationCpu {
    /// The guest state the section holds, for the rules beyond the segments
    /// ([`crate::check::report::guest_state`]): the segment state, CR3, RIP, DR6, DR7,
    /// IA32_PAT, IA32_SYSENTER_ESP/EIP, GDTR, IDTR, IA32_BNDCFGS, and the PDPTEs when
    /// KVM reported them.
    ///
    /// What QEMU does not migrate stays unknown, so the rules that read it are not
    /// judged: IA32_DEBUGCTL; the pending debug exceptions; the interruptibility state
    /// (hflags' `HF_INHIBIT_IRQ_MASK` is TCG's interrupt shadow, and QEMU 10 does not
    /// synchronise KVM's: target/i386/kvm/kvm.c `kvm_put_vcpu_events` sets no shadow);
    /// the activity state (`env.mp_state` is KVM's, and a TCG vCPU's halt is not in
    /// it); and the VM-entry interruption information and controls, which are a
    /// hypervisor's VMCS fields, not the vCPU's.
    #[must_use]
    pub fn guest_state(&self) -> GuestState {
        GuestState {
            cr3: Some(self.cr3),
            rip: Some(self.rip),
            dr6: self.dr6,
            dr7: self.dr7,
            pat: self.pat,
            sysenter_esp: self.sysenter_esp,
            sysenter_eip: self.sysenter_eip,
            gdtr: self.gdtr,
            idtr: self.idtr,
            bndcfgs: Some(self.bndcfgs),
            pdptes: self.pdptes,
            ..GuestState::from(&self.segment_state())
        }
    }

    /// True when the vCPU was running a nested (L2) guest: `HF_GUEST_MASK` in hflags.
    #[must_use]
    pub fn in_nested_guest(&self) -> bool {
        self.hflags & HF_GUEST_MASK != 0
    }

    /// For a vCPU in a nested guest, what the report must say: whose segments these
    /// are, where the L1 hypervisor's are, and whether QEMU can load the stream at all
    /// (target/i386/machine.c `cpu_post_load`, lines 357-365 in QEMU 10.0.2, refuses a
    /// vCPU in guest mode without KVM's nested state in guest mode). `None` otherwise.
    #[must_use]
    pub fn nested_guest_note(&self) -> Option<String> {
        if !self.in_nested_guest() {
            return None;
        }
        let has = |name: &str| self.subsections.iter().any(|s| s == name);
        let shown: Vec<&str> = self
            .subsections
            .iter()
            .map(String::as_str)
            .filter(|s| NESTED_SUBSECTIONS.iter().any(|n| s.starts_with(n)))
            .collect();
        let shown = if shown.is_empty() {
            String::new()
        } else {
            format!("; subsections {}", shown.join(", "))
        };
        let vmx = has("cpu/kvm_nested_state/vmx");
        let l1 = match self.vm_hsave {
            _ if vmx => String::from(
                "in the host-state area of its VMCS for L2 (vmcs12, which KVM's nested \
                 state carries)",
            ),
            Some(hsave) if hsave != 0 => {
                format!("in its host save area at VM_HSAVE_PA {hsave:#x}, in guest RAM")
            }
            _ => String::from("not in this section"),
        };
        let loads = match self.nested_state_flags {
            Some(flags) if flags & KVM_STATE_NESTED_GUEST_MODE != 0 => String::from(
                "QEMU loads it only where KVM can restore the nested state it carries \
                 (cpu/kvm_nested_state, KVM_SET_NESTED_STATE)",
            ),
            _ => String::from(
                "QEMU itself refuses to load this stream: it carries no KVM nested state in \
                 guest mode (cpu/kvm_nested_state), and cpu_post_load fails with \"vCPU set \
                 in guest-mode inconsistent with migrated kernel nested state\" \
                 (target/i386/machine.c lines 357-365, QEMU 10.0.2) in any QEMU built with \
                 KVM support, whatever the accelerator",
            ),
        };
        Some(format!(
            "the vCPU was running a nested (L2) guest (QEMU's hflags HF_GUEST_MASK{shown}): \
             the segments, CPL and control registers judged here are the L2 guest's, and \
             the L1 hypervisor's are {l1}; {loads}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::GuestField;

    /// CPU 0 of the QEMU 7.2 fixture: in the `int $0x80` handler, not nested.
    fn cpu0() -> MigrationCpu {
        let stream = include_bytes!("../../../tests/fixtures/qemu/null-ss-cpl0.migstream");
        walk(&stream[..]).unwrap().cpus.swap_remove(0)
    }

    #[test]
    fn the_guest_state_holds_what_the_section_migrates_and_nothing_else() {
        let cpu = cpu0();
        let g = cpu.guest_state();
        assert_eq!(g.segment_state(), Some(cpu.segment_state()));
        assert_eq!((g.cr3, g.rip), (Some(cpu.cr3), Some(cpu.rip)));
        for known in [
            GuestField::Dr6,
            GuestField::Dr7,
            GuestField::Pat,
            GuestField::SysenterEsp,
            GuestField::SysenterEip,
            GuestField::Gdtr,
            GuestField::Idtr,
            GuestField::Bndcfgs,
        ] {
            assert!(g.is_known(known), "{known}");
        }
        for unknown in [
            GuestField::DebugCtl,
            GuestField::Interruptibility,
            GuestField::ActivityState,
            GuestField::PendingDebugExceptions,
            GuestField::EntryInterruptionInfo,
            GuestField::Pdptes,
        ] {
            assert!(!g.is_known(unknown), "{unknown}");
        }
        // The reset values QEMU keeps for a CPU that never wrote them.
        assert_eq!(g.pat, Some(0x0007_0406_0007_0406));
        assert_eq!(g.dr7, Some(0x400));
        assert_eq!(g.bndcfgs, Some(0), "no cpu/mpx subsection: zero");
        let gdtr = g.gdtr.unwrap();
        assert_ne!(gdtr.limit, 0, "the guest loaded a GDT");
    }

    #[test]
    fn a_cpu_outside_a_nested_guest_has_no_note() {
        assert_eq!(cpu0().nested_guest_note(), None);
    }

    #[test]
    fn a_nested_guest_is_named_with_whether_qemu_can_load_it() {
        let mut cpu = cpu0();
        cpu.hflags |= HF_GUEST_MASK;
        cpu.vm_hsave = Some(0xa000);
        cpu.subsections = vec!["cpu/svm_guest".into()];
        let tcg = cpu.nested_guest_note().unwrap();
        assert!(tcg.contains("nested (L2) guest"), "{tcg}");
        assert!(tcg.contains("subsections cpu/svm_guest"), "{tcg}");
        assert!(tcg.contains("VM_HSAVE_PA 0xa000"), "{tcg}");
        assert!(
            tcg.contains("QEMU itself refuses to load this stream"),
            "{tcg}"
        );
        assert!(tcg.contains("target/i386/machine.c"), "{tcg}");
        // KVM's nested state in guest mode, VMX: loadable where KVM restores it.
        cpu.subsections = vec![
            SUBSECTION_KVM_NESTED_STATE.into(),
            "cpu/kvm_nested_state/vmx".into(),
        ];
        cpu.nested_state_flags = Some(KVM_STATE_NESTED_GUEST_MODE);
        let kvm = cpu.nested_guest_note().unwrap();
        assert!(kvm.contains("vmcs12"), "{kvm}");
        assert!(kvm.contains("KVM_SET_NESTED_STATE"), "{kvm}");
        assert!(!kvm.contains("refuses"), "{kvm}");
        // The same nested state with guest mode clear is the refusal again.
        cpu.nested_state_flags = Some(0);
        assert!(cpu.nested_guest_note().unwrap().contains("refuses"));
    }
}
