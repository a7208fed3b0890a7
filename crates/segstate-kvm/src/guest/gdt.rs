//! The GDT, the TSS and the `kvm_segment` values that describe them.
//!
//! Layout (SYSCALL/SYSRET compatible, like Linux but with the user entries at
//! 0x18..0x28):
//!
//! | selector | descriptor                         |
//! |----------|------------------------------------|
//! | 0x00     | null                               |
//! | 0x08     | kernel CS, 64-bit, DPL 0           |
//! | 0x10     | kernel SS/DS, DPL 0                |
//! | 0x18     | user CS, 32-bit, DPL 3 (SYSRET base)|
//! | 0x20     | user SS/DS, DPL 3 → selector 0x23  |
//! | 0x28     | user CS, 64-bit, DPL 3 → 0x2b      |
//! | 0x30     | 64-bit TSS (16 bytes)              |
//!
//! STAR\[47:32\] = 0x08 (SYSCALL: CS 0x08, SS 0x10) and STAR\[63:48\] = 0x18
//! (SYSRET to 64-bit: CS 0x18+16 = 0x2b, SS 0x18+8 = 0x23).

use kvm_bindings::kvm_segment;
use segstate::arch::{
    Attributes, Descriptor, PrivilegeLevel, Segment, SegmentType, Selector, SystemDescriptor,
};
use segstate::format::kvm::KvmSegment;

use super::layout::{GDT, IST1_STACK_TOP, KERNEL_STACK_TOP, TSS};
use super::memory::GuestMemory;
use crate::error::HarnessError;

pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
pub const USER_CS32: u16 = 0x18 | 3;
pub const USER_DS: u16 = 0x20 | 3;
pub const USER_CS: u16 = 0x28 | 3;
pub const TSS_SEL: u16 = 0x30;
/// Value for STAR: SYSCALL CS base in 47:32, SYSRET base in 63:48.
pub const STAR: u64 = ((0x18u64) << 48) | ((KERNEL_CS as u64) << 32);

/// Size of the TSS minus one.
const TSS_LIMIT: u32 = 0x67;
/// GDT limit: 6 eight-byte entries + one sixteen-byte TSS entry, minus one.
pub const GDT_LIMIT: u16 = 8 * 8 - 1;

const KCODE: Attributes = Attributes::code64(PrivilegeLevel::Ring0);
const KDATA: Attributes = Attributes::flat_data(PrivilegeLevel::Ring0);
const UCODE32: Attributes = Attributes::code32(PrivilegeLevel::Ring3);
const UDATA: Attributes = Attributes::flat_data(PrivilegeLevel::Ring3);
const UCODE: Attributes = Attributes::code64(PrivilegeLevel::Ring3);

/// The flat code/data segments of the GDT, in slot order from 0x08: the descriptor
/// each slot holds and the `kvm_segment` a register loaded from it caches are both
/// made from one [`Segment`], so the two cannot disagree.
const FLAT: [(u16, Attributes); 5] = [
    (KERNEL_CS, KCODE),
    (KERNEL_DS, KDATA),
    (USER_CS32, UCODE32),
    (USER_DS, UDATA),
    (USER_CS, UCODE),
];

fn flat(selector: u16, attributes: Attributes) -> Segment {
    Segment::flat(Selector(selector), attributes)
}

fn kvm(segment: Segment) -> kvm_segment {
    KvmSegment::from(segment).into()
}

/// Attributes with every bit clear but the type and DPL: what KVM reports for a
/// register loaded with a null selector.
const fn cleared(segment_type: SegmentType, dpl: PrivilegeLevel) -> Attributes {
    Attributes {
        segment_type,
        s: false,
        dpl,
        present: false,
        avl: false,
        l: false,
        db: false,
        g: false,
    }
}

/// Kernel CS (0x08): 64-bit, DPL 0.
pub fn kernel_cs() -> kvm_segment {
    kvm(flat(KERNEL_CS, KCODE))
}
/// Kernel SS/DS (0x10): DPL 0.
pub fn kernel_ds() -> kvm_segment {
    kvm(flat(KERNEL_DS, KDATA))
}
/// User CS (0x2b): 64-bit, DPL 3.
pub fn user_cs() -> kvm_segment {
    kvm(flat(USER_CS, UCODE))
}
/// User SS/DS (0x23): DPL 3.
pub fn user_ds() -> kvm_segment {
    kvm(flat(USER_DS, UDATA))
}

/// The SS that AMD's SYSRET leaves behind when the hidden SS was NULL: the
/// selector says user data (RPL 3) but the cached descriptor is unusable /
/// not present. KVM's UAPI carries the CPL in SS.DPL, so a faithful VMM keeps
/// DPL 3 here (and the rest of the stale flat cache).
pub fn unusable_user_ss() -> kvm_segment {
    let mut ss = flat(USER_DS, UDATA);
    ss.attributes.present = false;
    ss.unusable = true;
    kvm(ss)
}

/// A NULL data segment as KVM reports one: selector 0, unusable, every other
/// attribute zero but the DPL.
pub fn null_segment(selector: u16, dpl: u8) -> kvm_segment {
    let attributes = cleared(
        SegmentType::from_low_bits(0),
        PrivilegeLevel::from_low_bits(dpl),
    );
    kvm(Segment::null(Selector(selector), attributes))
}

/// The TSS segment: busy 64-bit TSS (type 11) at [`TSS`], as TR caches it and as
/// the GDT's 16-byte entry at [`TSS_SEL`] describes it.
fn tss_segment() -> Segment {
    Segment {
        selector: Selector(TSS_SEL),
        base: TSS,
        limit: TSS_LIMIT,
        attributes: Attributes::busy_tss(),
        unusable: false,
    }
}

/// TR: the busy 64-bit TSS.
pub fn task_register() -> kvm_segment {
    kvm(tss_segment())
}

/// LDTR: unusable (no LDT), type LDT.
pub fn ldtr() -> kvm_segment {
    kvm(Segment::null(
        Selector::NULL,
        cleared(SegmentType::LDT, PrivilegeLevel::Ring0),
    ))
}

/// The eight 8-byte GDT slots: null, the [`FLAT`] segments, the 16-byte TSS entry.
fn gdt_entries() -> Result<[u64; 8], HarnessError> {
    let mut out = [Descriptor::NULL.0; 8];
    for (slot, (selector, attributes)) in out[1..].iter_mut().zip(FLAT) {
        let s = flat(selector, attributes);
        *slot = Descriptor::encode(s.base, s.limit, s.attributes)
            .map_err(|error| HarnessError::Descriptor {
                what: "GDT code/data",
                error,
            })?
            .0;
    }
    let t = tss_segment();
    let tss = SystemDescriptor::encode(t.base, t.limit, t.attributes).map_err(|error| {
        HarnessError::Descriptor {
            what: "GDT TSS",
            error,
        }
    })?;
    out[6] = tss.low;
    out[7] = tss.high;
    Ok(out)
}

/// Writes the GDT at [`GDT`] and the TSS at [`TSS`].
pub fn write_gdt_and_tss(mem: &mut GuestMemory) -> Result<(), HarnessError> {
    for (i, e) in gdt_entries()?.iter().enumerate() {
        mem.write_u64(GDT + 8 * i as u64, *e)?;
    }
    // 64-bit TSS: RSP0 at +4, IST1 at +0x24, I/O map base at +0x66 (beyond
    // the limit: no I/O permission bitmap, so IOPL alone governs user I/O).
    mem.write_u64(TSS + 4, KERNEL_STACK_TOP)?;
    mem.write_u64(TSS + 0x24, IST1_STACK_TOP)?;
    mem.write(TSS + 0x66, &(TSS_LIMIT as u16 + 1).to_le_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's encoder gives the classic flat descriptors (the values Linux's
    /// GDT_ENTRY_INIT produces) and the TSS entry the hand-built table had.
    #[test]
    fn descriptors_are_the_classic_flat_ones() {
        let e = gdt_entries().unwrap();
        assert_eq!(
            e,
            [
                0,
                0x00af_9b00_0000_ffff,
                0x00cf_9300_0000_ffff,
                0x00cf_fb00_0000_ffff,
                0x00cf_f300_0000_ffff,
                0x00af_fb00_0000_ffff,
                0x0000_8b00_3000_0067,
                0,
            ]
        );
    }

    /// Every register value the harness loads is what its GDT slot decodes to: the
    /// descriptor cache KVM is handed matches the table the guest reloads from.
    #[test]
    fn kvm_segments_match_their_gdt_slots() {
        let e = gdt_entries().unwrap();
        for s in [
            kernel_cs(),
            kernel_ds(),
            user_cs(),
            user_ds(),
            task_register(),
        ] {
            let slot = usize::from(s.selector >> 3);
            let d = Descriptor(e[slot]);
            let a = d.attributes();
            assert_eq!(
                (s.type_, s.s, s.dpl, s.present, s.l, s.db, s.g),
                (
                    a.segment_type.bits(),
                    u8::from(a.s),
                    a.dpl.bits(),
                    u8::from(a.present),
                    u8::from(a.l),
                    u8::from(a.db),
                    u8::from(a.g)
                ),
                "selector {:#x}",
                s.selector
            );
            assert_eq!(
                (u64::from(d.base()), d.limit()),
                (s.base & 0xffff_ffff, s.limit)
            );
        }
    }

    #[test]
    fn null_and_ldt_segments_are_unusable_with_zero_attributes() {
        let n = null_segment(0, 3);
        assert_eq!(
            (
                n.selector, n.type_, n.s, n.dpl, n.present, n.unusable, n.limit, n.g
            ),
            (0, 0, 0, 3, 0, 1, 0, 0)
        );
        let l = ldtr();
        assert_eq!((l.type_, l.dpl, l.present, l.unusable), (2, 0, 0, 1));
    }

    #[test]
    fn star_gives_the_user_selectors_on_sysret() {
        let base = (STAR >> 48) as u16;
        assert_eq!((base + 16) | 3, USER_CS);
        assert_eq!((base + 8) | 3, USER_DS);
        assert_eq!((STAR >> 32) as u16, KERNEL_CS);
        assert_eq!(KERNEL_CS + 8, KERNEL_DS);
    }

    #[test]
    fn unusable_user_ss_keeps_dpl_3() {
        let ss = unusable_user_ss();
        assert_eq!(
            (ss.selector, ss.dpl, ss.present, ss.unusable),
            (USER_DS, 3, 0, 1)
        );
    }
}
