//! KVM's real mode without unrestricted guest: which segments its virtual-8086 path
//! takes as they are.
//!
//! Without unrestricted guest, VM entry cannot enter real mode, so KVM runs it in
//! virtual-8086 mode (`enter_rmode`). `vmx_guest_state_valid` then holds CS, SS, DS, ES,
//! FS and GS to `rmode_segment_valid` (Linux `arch/x86/kvm/vmx/vmx.c`): base = selector
//! << 4, limit 0xffff, and access rights 0xf3 once the DPL is made 3 and CS's type 3 (S,
//! P, type 3; no G, D/B, L or AVL). A state with any other segment, big ("unreal") real
//! mode above all, is emulated instruction by instruction
//! (`kvm_intel.emulate_invalid_guest_state=1`, the default), and an instruction the
//! emulator lacks ends the run in `KVM_EXIT_INTERNAL_ERROR` suberror 1.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::{SegReg, Segment, SegmentType};

/// The registers `vmx_guest_state_valid` holds to `rmode_segment_valid`.
pub const VM86_REGISTERS: [SegReg; 6] = [
    SegReg::Cs,
    SegReg::Ss,
    SegReg::Ds,
    SegReg::Es,
    SegReg::Fs,
    SegReg::Gs,
];

/// What keeps KVM's vm86 path from taking `seg` as it is (`rmode_segment_valid`
/// false), e.g. `DS (limit 0xffffffff, G)`; `None` when it can take it.
#[must_use]
pub fn vm86_incompatibility(reg: SegReg, seg: &Segment) -> Option<String> {
    let a = &seg.attributes;
    let mut why = Vec::new();
    if seg.base != u64::from(seg.selector.0) << 4 {
        why.push(format!("base {:#x}", seg.base));
    }
    if seg.limit != 0xffff {
        why.push(format!("limit {:#x}", seg.limit));
    }
    // CS's type is made 3 before the comparison; every other register's must be 3.
    if reg != SegReg::Cs && a.segment_type != SegmentType::DATA_RW_ACCESSED {
        why.push(format!("type {}", a.segment_type.bits()));
    }
    let bits = [
        (seg.unusable, "unusable"),
        (!a.s, "S=0"),
        (!a.present, "P=0"),
        (a.g, "G"),
        (a.db, "D/B"),
        (a.l, "L"),
        (a.avl, "AVL"),
    ];
    why.extend(
        bits.iter()
            .filter(|(set, _)| *set)
            .map(|(_, w)| String::from(*w)),
    );
    (!why.is_empty()).then(|| format!("{} ({})", reg.name(), why.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Attributes, PrivilegeLevel, Selector};

    fn real(selector: u16, limit: u32, type_: u8, g: bool) -> Segment {
        Segment {
            selector: Selector(selector),
            base: u64::from(selector) << 4,
            limit,
            attributes: Attributes {
                segment_type: SegmentType::from_low_bits(type_),
                s: true,
                dpl: PrivilegeLevel::Ring0,
                present: true,
                avl: false,
                l: false,
                db: false,
                g,
            },
            unusable: false,
        }
    }

    #[test]
    fn reset_segments_are_vm86_ones_and_big_real_mode_is_not() {
        // QEMU's reset state: CS f000 (type 0xb, made 3), DS 0 type 3.
        let mut cs = real(0xf000, 0xffff, 0xb, false);
        cs.base = 0xffff_0000;
        assert!(vm86_incompatibility(SegReg::Cs, &cs).is_some_and(|w| w.contains("base")));
        cs.base = 0xf_0000;
        assert_eq!(vm86_incompatibility(SegReg::Cs, &cs), None);
        assert_eq!(
            vm86_incompatibility(SegReg::Ds, &real(0, 0xffff, 3, false)),
            None
        );
        // SeaBIOS's 32-bit flat segments left in real mode (Launchpad 1866870).
        let big = real(0, 0xffff_ffff, 3, true);
        let why = vm86_incompatibility(SegReg::Ds, &big).expect("big real mode");
        assert_eq!(why, "DS (limit 0xffffffff, G)");
        // A data segment must be type 3 exactly (read/write, accessed).
        assert!(vm86_incompatibility(SegReg::Es, &real(0, 0xffff, 2, false)).is_some());
    }
}
