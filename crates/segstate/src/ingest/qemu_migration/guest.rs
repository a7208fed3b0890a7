//! What a `cpu` section holds beyond the segments (target/i386/machine.c
//! `vmstate_x86_cpu`, QEMU 10.0.2): the guest state the rules beyond the segments
//! judge.

use super::*;
use crate::arch::GuestState;

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
}
