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

use super::layout::{GDT, IST1_STACK_TOP, KERNEL_STACK_TOP, TSS};
use super::memory::GuestMemory;

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

/// Code/data segment attributes, in the `kvm_segment` vocabulary.
#[derive(Clone, Copy, Debug)]
struct Attr {
    type_: u8,
    dpl: u8,
    l: u8,
    db: u8,
}

const KCODE: Attr = Attr {
    type_: 0xb,
    dpl: 0,
    l: 1,
    db: 0,
};
const KDATA: Attr = Attr {
    type_: 0x3,
    dpl: 0,
    l: 0,
    db: 1,
};
const UCODE32: Attr = Attr {
    type_: 0xb,
    dpl: 3,
    l: 0,
    db: 1,
};
const UDATA: Attr = Attr {
    type_: 0x3,
    dpl: 3,
    l: 0,
    db: 1,
};
const UCODE: Attr = Attr {
    type_: 0xb,
    dpl: 3,
    l: 1,
    db: 0,
};

/// A flat (base 0, limit 4 GiB, G=1) present code/data segment.
fn flat(selector: u16, a: Attr) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: a.type_,
        present: 1,
        dpl: a.dpl,
        db: a.db,
        s: 1,
        l: a.l,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Encodes a flat 8-byte code/data descriptor.
fn descriptor(a: Attr) -> u64 {
    let access = 0x80 | (u64::from(a.dpl) << 5) | 0x10 | u64::from(a.type_);
    let flags = 0x8 | (u64::from(a.db) << 2) | (u64::from(a.l) << 1); // G, D/B, L
    0xffff | (access << 40) | (0xf << 48) | (flags << 52)
}

/// Kernel CS (0x08): 64-bit, DPL 0.
pub fn kernel_cs() -> kvm_segment {
    flat(KERNEL_CS, KCODE)
}
/// Kernel SS/DS (0x10): DPL 0.
pub fn kernel_ds() -> kvm_segment {
    flat(KERNEL_DS, KDATA)
}
/// User CS (0x2b): 64-bit, DPL 3.
pub fn user_cs() -> kvm_segment {
    flat(USER_CS, UCODE)
}
/// User SS/DS (0x23): DPL 3.
pub fn user_ds() -> kvm_segment {
    flat(USER_DS, UDATA)
}

/// The SS that AMD's SYSRET leaves behind when the hidden SS was NULL: the
/// selector says user data (RPL 3) but the cached descriptor is unusable /
/// not present. KVM's UAPI carries the CPL in SS.DPL, so a faithful VMM keeps
/// DPL 3 here.
pub fn unusable_user_ss() -> kvm_segment {
    kvm_segment {
        present: 0,
        unusable: 1,
        ..user_ds()
    }
}

/// A NULL data segment as KVM reports one: selector 0, unusable.
pub fn null_segment(selector: u16, dpl: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0,
        selector,
        type_: 0,
        present: 0,
        dpl,
        db: 0,
        s: 0,
        l: 0,
        g: 0,
        avl: 0,
        unusable: 1,
        padding: 0,
    }
}

/// TR: the busy 64-bit TSS (type 11) at [`TSS`].
pub fn task_register() -> kvm_segment {
    kvm_segment {
        base: TSS,
        limit: TSS_LIMIT,
        selector: TSS_SEL,
        type_: 0xb,
        present: 1,
        dpl: 0,
        db: 0,
        s: 0,
        l: 0,
        g: 0,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// LDTR: unusable (no LDT).
pub fn ldtr() -> kvm_segment {
    kvm_segment {
        type_: 0x2,
        ..null_segment(0, 0)
    }
}

/// Writes the GDT at [`GDT`] and the TSS at [`TSS`].
pub fn write_gdt_and_tss(mem: &mut GuestMemory) -> Result<(), String> {
    let tss_low = u64::from(TSS_LIMIT)
        | ((TSS & 0xff_ffff) << 16)
        | (0x8b << 40) // P, DPL 0, type 11 (busy 64-bit TSS, matches TR)
        | (((TSS >> 24) & 0xff) << 56);
    let tss_high = TSS >> 32;
    let entries = [
        0,
        descriptor(KCODE),
        descriptor(KDATA),
        descriptor(UCODE32),
        descriptor(UDATA),
        descriptor(UCODE),
        tss_low,
        tss_high,
    ];
    for (i, e) in entries.iter().enumerate() {
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

    #[test]
    fn descriptors_are_the_classic_flat_ones() {
        assert_eq!(descriptor(KCODE), 0x00af_9b00_0000_ffff);
        assert_eq!(descriptor(KDATA), 0x00cf_9300_0000_ffff);
        assert_eq!(descriptor(UCODE32), 0x00cf_fb00_0000_ffff);
        assert_eq!(descriptor(UDATA), 0x00cf_f300_0000_ffff);
        assert_eq!(descriptor(UCODE), 0x00af_fb00_0000_ffff);
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
