//! The eight segment registers a vCPU carries, and the orders each format stores them in.
//!
//! ```
//! use segstate::arch::{PerSegReg, SegReg};
//!
//! let ss: SegReg = "ss".parse()?;
//! assert_eq!(ss, SegReg::Ss);
//! // One value per register, indexed by register, in the architectural order.
//! let names = PerSegReg::from_fn(|reg| reg.name());
//! assert_eq!(names[SegReg::Tr], "TR");
//! // KVM's kvm_sregs and the VMCB each store the eight in their own order.
//! assert_eq!(SegReg::KVM_SREGS_ORDER[0], SegReg::Cs);
//! # Ok::<(), segstate::arch::UnknownSegReg>(())
//! ```

use core::str::FromStr;

/// A segment register, including the two system-segment registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum SegReg {
    /// Extra data segment.
    Es = 0,
    /// Code segment: its descriptor cache decides the execution mode (L, D).
    Cs = 1,
    /// Stack segment: its DPL is the CPL on Intel and in KVM's UAPI.
    Ss = 2,
    /// Data segment.
    Ds = 3,
    /// FS: its base is the thread pointer in 64-bit mode.
    Fs = 4,
    /// GS: its base is swapped by SWAPGS in 64-bit mode.
    Gs = 5,
    /// Local descriptor table register.
    Ldtr = 6,
    /// Task register.
    Tr = 7,
}

impl SegReg {
    /// Every register, in the architectural order (also QEMU's `X86Seg`: R_ES = 0 …
    /// R_GS = 5, R_LDTR = 6, R_TR = 7, and the VMCS guest-field order).
    pub const ALL: [SegReg; 8] = [
        SegReg::Es,
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Fs,
        SegReg::Gs,
        SegReg::Ldtr,
        SegReg::Tr,
    ];

    /// The order of the segment members of `struct kvm_sregs`: cs, ds, es, fs, gs, ss, tr, ldt.
    pub const KVM_SREGS_ORDER: [SegReg; 8] = [
        SegReg::Cs,
        SegReg::Ds,
        SegReg::Es,
        SegReg::Fs,
        SegReg::Gs,
        SegReg::Ss,
        SegReg::Tr,
        SegReg::Ldtr,
    ];

    /// The order of the VMCB save area (APM Vol. 2 Table B-2): ES, CS, SS, DS, FS, GS,
    /// then GDTR, LDTR, IDTR, TR. The two descriptor-table slots are not registers here;
    /// see [`crate::format::svm::SaveAreaOffset`].
    pub const VMCB_ORDER: [SegReg; 8] = SegReg::ALL;

    /// The six registers a program can load with MOV/POP (code and data segments):
    /// [`SegReg::ALL`] without the two system-segment registers, which it puts last.
    pub const USER: [SegReg; 6] = {
        let [es, cs, ss, ds, fs, gs, _ldtr, _tr] = SegReg::ALL;
        [es, cs, ss, ds, fs, gs]
    };

    /// The register at position `raw & 7` of [`SegReg::ALL`]: QEMU's `X86Seg` and the
    /// VMCB save area number the registers so, and a loop over a vCPU's registers by
    /// index (`i & 7`, as the C of `segstate-bench` writes it) gets the register with no
    /// table load and no bounds check (the `match` compiles to the number itself).
    #[inline]
    #[must_use]
    pub const fn from_low_bits(raw: u8) -> Self {
        match raw & 7 {
            0 => SegReg::Es,
            1 => SegReg::Cs,
            2 => SegReg::Ss,
            3 => SegReg::Ds,
            4 => SegReg::Fs,
            5 => SegReg::Gs,
            6 => SegReg::Ldtr,
            _ => SegReg::Tr,
        }
    }

    /// Position in [`SegReg::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Position in `order`, a format's storage order such as
    /// [`SegReg::KVM_SREGS_ORDER`]: the slot the format keeps this register in. Every
    /// order holds all eight registers; one that lacks this register panics, so only
    /// the crate's own orders (constants) are passed.
    #[must_use]
    pub(crate) const fn position_in(self, order: &[SegReg; 8]) -> usize {
        let mut slot = 0;
        while order[slot] as u8 != self as u8 {
            slot += 1;
        }
        slot
    }

    /// Lower-case name as KVM's `kvm_sregs` members spell it (`ldt` for LDTR).
    #[must_use]
    pub const fn kvm_name(self) -> &'static str {
        match self {
            SegReg::Es => "es",
            SegReg::Cs => "cs",
            SegReg::Ss => "ss",
            SegReg::Ds => "ds",
            SegReg::Fs => "fs",
            SegReg::Gs => "gs",
            SegReg::Ldtr => "ldt",
            SegReg::Tr => "tr",
        }
    }

    /// The register whose [`SegReg::kvm_name`] is exactly `name` (lower case, `ldt`):
    /// how the printouts of `kvm_sregs` name their rows, where an upper-case `CS` or a
    /// `ldtr` is another dialect's word, so unlike [`str::parse`] this is exact.
    #[must_use]
    pub fn from_kvm_name(name: &str) -> Option<Self> {
        SegReg::ALL.into_iter().find(|r| r.kvm_name() == name)
    }

    /// Upper-case name as the SDM and QEMU's register dump print it (`LDT` for LDTR).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SegReg::Es => "ES",
            SegReg::Cs => "CS",
            SegReg::Ss => "SS",
            SegReg::Ds => "DS",
            SegReg::Fs => "FS",
            SegReg::Gs => "GS",
            SegReg::Ldtr => "LDTR",
            SegReg::Tr => "TR",
        }
    }

    /// True for DS, ES, FS and GS: data-segment registers that may hold a null selector
    /// at any CPL.
    #[must_use]
    pub const fn is_data(self) -> bool {
        matches!(self, SegReg::Ds | SegReg::Es | SegReg::Fs | SegReg::Gs)
    }

    /// True for LDTR and TR, whose descriptors are system descriptors (S = 0).
    #[must_use]
    pub const fn is_system(self) -> bool {
        matches!(self, SegReg::Ldtr | SegReg::Tr)
    }
}

/// A register name that is not one of the eight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSegReg(pub alloc::string::String);

impl_display!(
    UnknownSegReg,
    |e| "unknown segment register `{}` (expected es, cs, ss, ds, fs, gs, ldt/ldtr or tr)",
    e.0.escape_debug()
);

impl core::error::Error for UnknownSegReg {}

impl FromStr for SegReg {
    type Err = UnknownSegReg;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let reg = match s.trim() {
            r if r.eq_ignore_ascii_case("es") => SegReg::Es,
            r if r.eq_ignore_ascii_case("cs") => SegReg::Cs,
            r if r.eq_ignore_ascii_case("ss") => SegReg::Ss,
            r if r.eq_ignore_ascii_case("ds") => SegReg::Ds,
            r if r.eq_ignore_ascii_case("fs") => SegReg::Fs,
            r if r.eq_ignore_ascii_case("gs") => SegReg::Gs,
            r if r.eq_ignore_ascii_case("ldt") || r.eq_ignore_ascii_case("ldtr") => SegReg::Ldtr,
            r if r.eq_ignore_ascii_case("tr") => SegReg::Tr,
            _ => return Err(UnknownSegReg(s.into())),
        };
        Ok(reg)
    }
}

display_by_name!(SegReg);

/// One value per segment register, indexed by [`SegReg`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PerSegReg<T>(pub [T; 8]);

impl<T> PerSegReg<T> {
    /// Builds the set by calling `f` for each register in [`SegReg::ALL`] order.
    pub fn from_fn(mut f: impl FnMut(SegReg) -> T) -> Self {
        PerSegReg(core::array::from_fn(|i| f(SegReg::ALL[i])))
    }

    /// Maps every value, keeping the register it belongs to.
    pub fn map<U>(&self, mut f: impl FnMut(SegReg, &T) -> U) -> PerSegReg<U> {
        PerSegReg::from_fn(|reg| f(reg, &self[reg]))
    }

    /// Iterates `(register, value)` in architectural order.
    pub fn iter(&self) -> impl Iterator<Item = (SegReg, &T)> {
        SegReg::ALL.iter().map(move |&reg| (reg, &self[reg]))
    }
}

impl<T> core::ops::Index<SegReg> for PerSegReg<T> {
    type Output = T;
    fn index(&self, reg: SegReg) -> &T {
        &self.0[reg.index()]
    }
}

impl<T> core::ops::IndexMut<SegReg> for PerSegReg<T> {
    fn index_mut(&mut self, reg: SegReg) -> &mut T {
        &mut self.0[reg.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_permutations_of_all() {
        for order in [SegReg::KVM_SREGS_ORDER, SegReg::VMCB_ORDER, SegReg::ALL] {
            let mut seen = [false; 8];
            for reg in order {
                assert!(!seen[reg.index()], "{reg} twice");
                seen[reg.index()] = true;
                assert_eq!(order[reg.position_in(&order)], reg);
            }
        }
    }

    #[test]
    fn from_low_bits_is_the_position_in_all() {
        for raw in 0..=u8::MAX {
            let reg = SegReg::from_low_bits(raw);
            assert_eq!(reg, SegReg::ALL[usize::from(raw & 7)], "{raw}");
            assert_eq!(reg.index(), usize::from(raw & 7));
        }
    }

    #[test]
    fn names_parse_back() {
        for reg in SegReg::ALL {
            assert_eq!(reg.kvm_name().parse::<SegReg>(), Ok(reg));
            assert_eq!(reg.name().parse::<SegReg>(), Ok(reg));
        }
        assert!("xs".parse::<SegReg>().is_err());
        for reg in SegReg::ALL {
            assert_eq!(SegReg::from_kvm_name(reg.kvm_name()), Some(reg));
        }
        for other in ["CS", "ldtr", "LDT", "xs", ""] {
            assert_eq!(SegReg::from_kvm_name(other), None, "{other}");
        }
    }

    #[test]
    fn position_in_finds_each_register_in_its_slot() {
        assert_eq!(SegReg::Cs.position_in(&SegReg::KVM_SREGS_ORDER), 0);
        assert_eq!(SegReg::Es.position_in(&SegReg::KVM_SREGS_ORDER), 2);
        assert_eq!(SegReg::Ldtr.position_in(&SegReg::KVM_SREGS_ORDER), 7);
        for reg in SegReg::ALL {
            assert_eq!(reg.position_in(&SegReg::ALL), reg.index());
        }
    }
}
