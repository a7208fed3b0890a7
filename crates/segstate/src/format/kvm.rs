//! KVM's UAPI: `struct kvm_segment`, `struct kvm_dtable` and `struct kvm_sregs`
//! (include/uapi/linux/kvm.h, x86; KVM_GET_SREGS / KVM_SET_SREGS).
//!
//! ```
//! use segstate::arch::{PrivilegeLevel, Segment};
//! use segstate::format::kvm::{KvmSegment, KvmSregs};
//!
//! // 312 bytes from KVM_GET_SREGS (or a snapshot file), exact, both ways.
//! let mut sregs = KvmSregs::default();
//! sregs.ss.dpl = 3;
//! let bytes = sregs.to_bytes();
//! assert_eq!(bytes.len(), KvmSregs::SIZE);
//! let back = KvmSregs::from_bytes(&bytes)?;
//! assert_eq!(back, sregs);
//! // KVM has no CPL field: SS.DPL carries it.
//! assert_eq!(back.cpl(), PrivilegeLevel::Ring3);
//! // A byte no segment can mean is refused by the strict decode.
//! let garbage = KvmSegment { dpl: 7, ..KvmSegment::default() };
//! assert!(Segment::try_from(garbage).is_err());
//! # Ok::<(), segstate::format::LengthError>(())
//! ```

use core::mem::offset_of;

use super::wire::segment_record;
use super::{FormatError, LengthError, exact_len, le_u16, le_u64};
use crate::arch::{Attributes, PerSegReg, PrivilegeLevel, SegReg, Segment, SegmentType, Selector};

segment_record! {
    /// `struct kvm_segment`, 24 bytes, field for field: base u64 @0, limit u32 @8,
    /// selector u16 @12, then one byte per attribute.
    ///
    /// Every byte is kept raw: an old VMM may send anything in `type`, `dpl` or the
    /// booleans, and each implementation treats such garbage its own way (masking with
    /// `& 1`, testing for non-zero, or shifting unmasked). [`Segment::try_from`] decodes
    /// strictly; the profiles reproduce each implementation's handling.
    #[repr(C)]
    pub struct KvmSegment ("struct kvm_segment", 24 bytes) {
        base @0 "base",
        limit @8 "limit",
        selector @12 "selector",
        /// Type (4 bits meaningful).
        pub type_: u8 = @14,
        /// P.
        pub present: u8 = @15,
        /// DPL (2 bits meaningful). For SS this is the CPL.
        pub dpl: u8 = @16,
        /// D/B.
        pub db: u8 = @17,
        /// S.
        pub s: u8 = @18,
        /// L.
        pub l: u8 = @19,
        /// G.
        pub g: u8 = @20,
        /// AVL.
        pub avl: u8 = @21,
        /// Segment unusable (Intel's AR bit 16).
        pub unusable: u8 = @22,
        /// Padding; KVM neither reads nor writes it.
        pub padding: u8 = @23,
    }
}

impl core::fmt::Display for KvmSegment {
    /// One line with every field, raw: garbage bytes show as they are.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "sel={:#06x} type={:#x} s={} dpl={} p={} db={} l={} g={} avl={} unusable={} base={:#x} limit={:#x}",
            self.selector,
            self.type_,
            self.s,
            self.dpl,
            self.present,
            self.db,
            self.l,
            self.g,
            self.avl,
            self.unusable,
            self.base,
            self.limit
        )
    }
}

/// One attribute byte's strict check: its C name (the error's field), its offset, the
/// bits no meaningful value sets, and why.
struct ByteCheck {
    field: &'static str,
    offset: usize,
    meaningless: u8,
    reason: &'static str,
}

impl ByteCheck {
    const fn new(
        field: &'static str,
        offset: usize,
        meaningless: u8,
        reason: &'static str,
    ) -> Self {
        ByteCheck {
            field,
            offset,
            meaningless,
            reason,
        }
    }

    const fn boolean(field: &'static str, offset: usize) -> Self {
        Self::new(field, offset, 0xfe, "a boolean field must be 0 or 1")
    }
}

impl KvmSegment {
    /// The strict decode's checks of the ten attribute bytes, in the order its error
    /// reports them: type 4 bits, DPL 2 bits, the padding zero, each boolean 0 or 1.
    /// [`KvmSegment::is_meaningful`]'s masks and [`KvmSegment::strict_error`] both come
    /// from this table.
    const BYTE_CHECKS: [ByteCheck; 10] = [
        ByteCheck::new(
            "type",
            offset_of!(KvmSegment, type_),
            0xf0,
            "the type field has 4 bits (0..=15)",
        ),
        ByteCheck::new(
            "dpl",
            offset_of!(KvmSegment, dpl),
            0xfc,
            "a privilege level is 0..=3",
        ),
        Self::PADDING_CHECK,
        ByteCheck::boolean("s", offset_of!(KvmSegment, s)),
        ByteCheck::boolean("present", offset_of!(KvmSegment, present)),
        ByteCheck::boolean("avl", offset_of!(KvmSegment, avl)),
        ByteCheck::boolean("l", offset_of!(KvmSegment, l)),
        ByteCheck::boolean("db", offset_of!(KvmSegment, db)),
        ByteCheck::boolean("g", offset_of!(KvmSegment, g)),
        ByteCheck::boolean("unusable", offset_of!(KvmSegment, unusable)),
    ];

    /// The padding's check, also [`KvmSegment::strict_error`]'s answer were no check to
    /// fail.
    const PADDING_CHECK: ByteCheck = ByteCheck::new(
        "padding",
        offset_of!(KvmSegment, padding),
        0xff,
        "padding must be zero",
    );

    /// [`KvmSegment::BYTE_CHECKS`]' masks laid over the struct's 24 bytes.
    const MEANINGLESS: [u8; 24] = {
        let mut mask = [0; 24];
        let mut i = 0;
        while i < Self::BYTE_CHECKS.len() {
            mask[Self::BYTE_CHECKS[i].offset] = Self::BYTE_CHECKS[i].meaningless;
            i += 1;
        }
        mask
    };

    /// Where the two words [`KvmSegment::attribute_words`] reads start in the struct:
    /// `type` and `present` (bytes 14..16), then `dpl` to `padding` (bytes 16..24).
    const LOW_WORD_AT: usize = offset_of!(KvmSegment, type_);
    const HIGH_WORD_AT: usize = offset_of!(KvmSegment, dpl);

    /// The masks of the two words [`KvmSegment::is_meaningful`] tests, each word's first
    /// byte lowest.
    const MEANINGLESS_LOW: u16 = {
        let (m, at) = (Self::MEANINGLESS, Self::LOW_WORD_AT);
        u16::from_le_bytes([m[at], m[at + 1]])
    };
    const MEANINGLESS_HIGH: u64 = {
        let (m, at) = (Self::MEANINGLESS, Self::HIGH_WORD_AT);
        u64::from_le_bytes([
            m[at],
            m[at + 1],
            m[at + 2],
            m[at + 3],
            m[at + 4],
            m[at + 5],
            m[at + 6],
            m[at + 7],
        ])
    };

    /// `type` and `present` (bytes 14..16), then `dpl` to `padding` (bytes 16..24), each
    /// word's first byte lowest: one load within each 8-byte half of the struct, where
    /// the compiler sees its layout. The fields are named in their order in the struct,
    /// which the assertion below holds at compile time.
    #[inline]
    fn attribute_words(&self) -> (u16, u64) {
        let low = u16::from_le_bytes([self.type_, self.present]);
        let high = u64::from_le_bytes([
            self.dpl,
            self.db,
            self.s,
            self.l,
            self.g,
            self.avl,
            self.unusable,
            self.padding,
        ]);
        (low, high)
    }

    /// Whether every attribute byte holds a value its field can mean and the padding is
    /// zero: [`Segment::try_from`]'s checks at once, the two attribute words masked, in
    /// place of ten compares. Which byte fails is [`KvmSegment::strict_error`]'s job.
    #[inline]
    fn is_meaningful(&self) -> bool {
        let (low, high) = self.attribute_words();
        low & Self::MEANINGLESS_LOW == 0 && high & Self::MEANINGLESS_HIGH == 0
    }

    /// [`Segment::try_from`] without its error: the segment when every attribute byte
    /// holds a value its field can mean and the padding is zero. For callers that drop
    /// the error (verify's domain, whose garbage values are refused: 86,016 of the
    /// 610,304 states of a chain from `kvm_sregs`): finding which field failed is a call
    /// the strict decode makes only to report it.
    #[inline]
    pub(crate) fn meaningful_segment(self) -> Option<Segment> {
        self.is_meaningful().then(|| self.decoded())
    }

    /// The segment these bytes mean, read from each byte's low bits: the whole value
    /// once [`KvmSegment::is_meaningful`] holds.
    #[inline(always)]
    fn decoded(self) -> Segment {
        Segment {
            selector: Selector(self.selector),
            base: self.base,
            limit: self.limit,
            attributes: Attributes {
                segment_type: SegmentType::from_low_bits(self.type_),
                s: self.s != 0,
                dpl: PrivilegeLevel::from_low_bits(self.dpl),
                present: self.present != 0,
                avl: self.avl != 0,
                l: self.l != 0,
                db: self.db != 0,
                g: self.g != 0,
            },
            unusable: self.unusable != 0,
        }
    }

    /// The error of [`Segment::try_from`] for a value [`KvmSegment::is_meaningful`]
    /// refuses: the first of [`KvmSegment::BYTE_CHECKS`] that fails. Out of line: the
    /// strict decode of a valid value never calls it.
    #[cold]
    #[inline(never)]
    fn strict_error(self) -> FormatError {
        // The struct's bytes from 14 (type) on, through the words `is_meaningful` reads:
        // through `to_bytes` the callers' loops copied every input to the stack for this
        // call (kvm → Hyper-V strict 2.58 → 3.34 ns a segment, `BENCHMARKS.md` §1 step 51).
        let (low, high) = self.attribute_words();
        let mut bytes = [0; 10];
        bytes[..2].copy_from_slice(&low.to_le_bytes());
        bytes[2..].copy_from_slice(&high.to_le_bytes());
        let byte = |c: &ByteCheck| bytes[c.offset - Self::LOW_WORD_AT];
        // Found for every value `is_meaningful` refuses: its masks are these checks'.
        let check = Self::BYTE_CHECKS
            .iter()
            .find(|c| byte(c) & c.meaningless != 0)
            .unwrap_or(&Self::PADDING_CHECK);
        FormatError {
            format: "kvm_segment",
            field: check.field,
            value: byte(check).into(),
            reason: check.reason,
        }
    }
}

// `attribute_words` names the fields in the order they lie from `type` on: two bytes,
// then eight, with nothing between.
const _: () = {
    let (low, high) = (KvmSegment::LOW_WORD_AT, KvmSegment::HIGH_WORD_AT);
    assert!(offset_of!(KvmSegment, present) == low + 1 && high == low + 2);
    assert!(offset_of!(KvmSegment, db) == high + 1);
    assert!(offset_of!(KvmSegment, s) == high + 2);
    assert!(offset_of!(KvmSegment, l) == high + 3);
    assert!(offset_of!(KvmSegment, g) == high + 4);
    assert!(offset_of!(KvmSegment, avl) == high + 5);
    assert!(offset_of!(KvmSegment, unusable) == high + 6);
    assert!(offset_of!(KvmSegment, padding) == high + 7);
};

impl TryFrom<KvmSegment> for Segment {
    type Error = FormatError;

    /// Strict decode: every byte must hold a value its field can mean, and the padding
    /// must be zero (segstate does not carry it, so a non-zero value would be lost).
    /// The error names the first field that fails, checked in the order type, dpl,
    /// padding, then the booleans s, present, avl, l, db, g, unusable.
    #[inline]
    fn try_from(k: KvmSegment) -> Result<Self, FormatError> {
        // An early return, not a `match` on `meaningful_segment`: through the `Option`
        // the compiler packed the decoded attributes into one word and took it apart
        // again for the destination (kvm → VMX strict 2.7 → 4.8 ns a segment).
        if !k.is_meaningful() {
            // `format` set here rather than read back from the call: a constant, so the
            // compiler sees the result is an error and keeps the success path's fields
            // in registers (read back, it merges the two paths through memory).
            return Err(FormatError {
                format: "kvm_segment",
                ..k.strict_error()
            });
        }
        Ok(k.decoded())
    }
}

impl From<Segment> for KvmSegment {
    /// Total: `kvm_segment` holds every field of the architectural model.
    #[inline]
    fn from(s: Segment) -> Self {
        let a = s.attributes;
        KvmSegment {
            base: s.base,
            limit: s.limit,
            selector: s.selector.0,
            type_: a.segment_type.bits(),
            present: a.present.into(),
            dpl: a.dpl.bits(),
            db: a.db.into(),
            s: a.s.into(),
            l: a.l.into(),
            g: a.g.into(),
            avl: a.avl.into(),
            unusable: s.unusable.into(),
            padding: 0,
        }
    }
}

/// `struct kvm_dtable`, 16 bytes: GDTR or IDTR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct KvmDtable {
    /// Linear base of the table.
    pub base: u64,
    /// Byte limit of the table.
    pub limit: u16,
    /// Padding.
    pub padding: [u16; 3],
}

impl KvmDtable {
    /// Size of the C struct.
    pub const SIZE: usize = 16;

    /// A table at `base` with byte limit `limit`, padding zero (as KVM_GET_SREGS
    /// fills it).
    #[must_use]
    pub const fn new(base: u64, limit: u16) -> Self {
        KvmDtable {
            base,
            limit,
            padding: [0; 3],
        }
    }

    fn write(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.base.to_le_bytes());
        out[8..10].copy_from_slice(&self.limit.to_le_bytes());
        for (i, p) in self.padding.iter().enumerate() {
            out[10 + 2 * i..12 + 2 * i].copy_from_slice(&p.to_le_bytes());
        }
    }

    fn read(bytes: &[u8]) -> Self {
        KvmDtable {
            base: le_u64(bytes, 0),
            limit: le_u16(bytes, 8),
            padding: [le_u16(bytes, 10), le_u16(bytes, 12), le_u16(bytes, 14)],
        }
    }
}

/// `struct kvm_sregs`, 312 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct KvmSregs {
    /// CS.
    pub cs: KvmSegment,
    /// DS.
    pub ds: KvmSegment,
    /// ES.
    pub es: KvmSegment,
    /// FS.
    pub fs: KvmSegment,
    /// GS.
    pub gs: KvmSegment,
    /// SS: its `dpl` is the CPL.
    pub ss: KvmSegment,
    /// TR.
    pub tr: KvmSegment,
    /// LDTR.
    pub ldt: KvmSegment,
    /// GDTR.
    pub gdt: KvmDtable,
    /// IDTR.
    pub idt: KvmDtable,
    /// CR0.
    pub cr0: u64,
    /// CR2.
    pub cr2: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4.
    pub cr4: u64,
    /// CR8 (TPR).
    pub cr8: u64,
    /// EFER.
    pub efer: u64,
    /// IA32_APIC_BASE.
    pub apic_base: u64,
    /// Pending external interrupts, one bit per vector (KVM_NR_INTERRUPTS = 256).
    pub interrupt_bitmap: [u64; 4],
}

/// A `kvm_sregs` segment no strict decode accepts, with its register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SregsSegmentError {
    /// The register.
    pub reg: SegReg,
    /// What the strict decode refused.
    pub error: FormatError,
}

impl_display!(SregsSegmentError, |e| "{}: {}", e.reg.kvm_name(), e.error);

impl core::error::Error for SregsSegmentError {}

/// The `kvm_sregs` member that holds `reg`, borrowed with `&` or `&mut`: the one list
/// of which member is which register (the UAPI calls LDTR `ldt`).
macro_rules! sregs_member {
    ($sregs:expr, $reg:expr, $($borrow:tt)+) => {
        match $reg {
            SegReg::Es => $($borrow)+ $sregs.es,
            SegReg::Cs => $($borrow)+ $sregs.cs,
            SegReg::Ss => $($borrow)+ $sregs.ss,
            SegReg::Ds => $($borrow)+ $sregs.ds,
            SegReg::Fs => $($borrow)+ $sregs.fs,
            SegReg::Gs => $($borrow)+ $sregs.gs,
            SegReg::Ldtr => $($borrow)+ $sregs.ldt,
            SegReg::Tr => $($borrow)+ $sregs.tr,
        }
    };
}

impl KvmSregs {
    /// The eight segments, strictly decoded ([`Segment::try_from`]); the first register
    /// whose bytes mean no segment is named.
    ///
    /// # Errors
    ///
    /// [`SregsSegmentError`] naming the register and the field.
    pub fn decode_segments(&self) -> Result<PerSegReg<Segment>, SregsSegmentError> {
        let mut out = PerSegReg([Segment::default(); 8]);
        for reg in SegReg::ALL {
            out[reg] = Segment::try_from(*self.segment(reg))
                .map_err(|error| SregsSegmentError { reg, error })?;
        }
        Ok(out)
    }

    /// The whole-vCPU state this `kvm_sregs` means with `rflags` (a `kvm_sregs` has
    /// none): every segment strictly decoded, the CPL from SS.DPL as KVM takes it.
    ///
    /// # Errors
    ///
    /// As [`KvmSregs::decode_segments`].
    pub fn state(&self, rflags: u64) -> Result<crate::arch::SegmentState, SregsSegmentError> {
        Ok(crate::arch::SegmentState {
            segments: self.decode_segments()?,
            cpl: self.cpl(),
            cr0: self.cr0,
            cr4: self.cr4,
            efer: self.efer,
            rflags,
        })
    }

    /// Size of the C struct.
    pub const SIZE: usize = 312;

    /// Byte offset of each segment member, in [`SegReg::KVM_SREGS_ORDER`].
    pub const SEGMENT_OFFSETS: [usize; 8] = [0, 24, 48, 72, 96, 120, 144, 168];

    /// The segment member for `reg`.
    #[must_use]
    pub fn segment(&self, reg: SegReg) -> &KvmSegment {
        sregs_member!(self, reg, &)
    }

    /// The segment member for `reg`, mutable.
    pub fn segment_mut(&mut self, reg: SegReg) -> &mut KvmSegment {
        sregs_member!(self, reg, &mut)
    }

    /// All eight segments, indexed by register.
    #[must_use]
    pub fn segments(&self) -> PerSegReg<KvmSegment> {
        PerSegReg::from_fn(|reg| *self.segment(reg))
    }

    /// Replaces all eight segments.
    pub fn set_segments(&mut self, segments: &PerSegReg<KvmSegment>) {
        for (reg, seg) in segments.iter() {
            *self.segment_mut(reg) = *seg;
        }
    }

    /// Little-endian bytes, as the ioctl passes them.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        for (reg, off) in SegReg::KVM_SREGS_ORDER.iter().zip(Self::SEGMENT_OFFSETS) {
            out[off..off + KvmSegment::SIZE].copy_from_slice(&self.segment(*reg).to_bytes());
        }
        self.gdt.write(&mut out[192..208]);
        self.idt.write(&mut out[208..224]);
        let words = [
            self.cr0,
            self.cr2,
            self.cr3,
            self.cr4,
            self.cr8,
            self.efer,
            self.apic_base,
        ];
        for (i, w) in words.iter().chain(self.interrupt_bitmap.iter()).enumerate() {
            let off = 224 + 8 * i;
            out[off..off + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads the struct from exactly 312 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LengthError> {
        exact_len("struct kvm_sregs", bytes, Self::SIZE)?;
        let mut sregs = KvmSregs::default();
        for (reg, off) in SegReg::KVM_SREGS_ORDER.iter().zip(Self::SEGMENT_OFFSETS) {
            *sregs.segment_mut(*reg) = KvmSegment::from_bytes(&bytes[off..off + 24])?;
        }
        sregs.gdt = KvmDtable::read(&bytes[192..208]);
        sregs.idt = KvmDtable::read(&bytes[208..224]);
        sregs.cr0 = le_u64(bytes, 224);
        sregs.cr2 = le_u64(bytes, 232);
        sregs.cr3 = le_u64(bytes, 240);
        sregs.cr4 = le_u64(bytes, 248);
        sregs.cr8 = le_u64(bytes, 256);
        sregs.efer = le_u64(bytes, 264);
        sregs.apic_base = le_u64(bytes, 272);
        for i in 0..4 {
            sregs.interrupt_bitmap[i] = le_u64(bytes, 280 + 8 * i);
        }
        Ok(sregs)
    }

    /// The CPL as KVM's convention carries it: SS.DPL, low two bits.
    #[must_use]
    pub fn cpl(&self) -> PrivilegeLevel {
        PrivilegeLevel::from_low_bits(self.ss.dpl)
    }
}

#[cfg(feature = "kvm-bindings")]
mod bindings {
    //! Field-by-field conversions with rust-vmm's `kvm-bindings` (x86_64 only).
    use super::{KvmDtable, KvmSegment, KvmSregs};
    use crate::arch::{PerSegReg, SegReg};

    /// `From` both ways between our mirror and the binding of the same C struct: the
    /// fields are named alike, so each list is written once. `copy` fields have one
    /// type on both sides; `into` fields are structs converted by their own `From`.
    macro_rules! both_ways {
        ($ours:ty, $theirs:ty, copy { $($c:ident),* } $(, into { $($i:ident),* })?) => {
            impl From<$theirs> for $ours {
                fn from(x: $theirs) -> Self {
                    Self { $($c: x.$c,)* $($($i: x.$i.into(),)*)? }
                }
            }

            impl From<$ours> for $theirs {
                fn from(x: $ours) -> Self {
                    Self { $($c: x.$c,)* $($($i: x.$i.into(),)*)? }
                }
            }
        };
    }

    both_ways! {
        KvmSegment, kvm_bindings::kvm_segment,
        copy { base, limit, selector, type_, present, dpl, db, s, l, g, avl, unusable, padding }
    }
    both_ways! { KvmDtable, kvm_bindings::kvm_dtable, copy { base, limit, padding } }

    impl KvmSregs {
        /// The eight segments of the binding's `kvm_sregs`, the rest of it not copied
        /// (a live sync's way in; [`KvmSregs::segments`] for the mirror).
        #[must_use]
        pub fn segments_of(sregs: &kvm_bindings::kvm_sregs) -> PerSegReg<KvmSegment> {
            PerSegReg::from_fn(|reg| KvmSegment::from(*sregs_member!(sregs, reg, &)))
        }

        /// Replaces the eight segments of the binding's `kvm_sregs`, its other fields
        /// kept (a live sync's way out; [`KvmSregs::set_segments`] for the mirror).
        pub fn set_segments_of(
            sregs: &mut kvm_bindings::kvm_sregs,
            segments: &PerSegReg<KvmSegment>,
        ) {
            for (reg, seg) in segments.iter() {
                *sregs_member!(sregs, reg, &mut) = (*seg).into();
            }
        }
    }
    both_ways! {
        KvmSregs, kvm_bindings::kvm_sregs,
        copy { cr0, cr2, cr3, cr4, cr8, efer, apic_base, interrupt_bitmap },
        into { cs, ds, es, fs, gs, ss, tr, ldt, gdt, idt }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn bindings_round_trip_every_field() {
            let mut ours = KvmSregs::default();
            let mut n = 1u8;
            for reg in crate::arch::SegReg::ALL {
                let s = ours.segment_mut(reg);
                *s = KvmSegment {
                    base: u64::from(n) << 40 | 0x1234,
                    limit: u32::from(n) << 8,
                    selector: u16::from(n) * 8 + 3,
                    type_: n,
                    present: n + 1,
                    dpl: n + 2,
                    db: n + 3,
                    s: n + 4,
                    l: n + 5,
                    g: n + 6,
                    avl: n + 7,
                    unusable: n + 8,
                    padding: n + 9,
                };
                n += 10;
            }
            ours.gdt = KvmDtable {
                base: 0xfeed,
                limit: 0x7f,
                padding: [1, 2, 3],
            };
            ours.idt = KvmDtable {
                base: 0xbeef,
                limit: 0xfff,
                padding: [4, 5, 6],
            };
            ours.cr0 = 1;
            ours.cr2 = 2;
            ours.cr3 = 3;
            ours.cr4 = 4;
            ours.cr8 = 5;
            ours.efer = 6;
            ours.apic_base = 7;
            ours.interrupt_bitmap = [8, 9, 10, 11];
            let theirs: kvm_bindings::kvm_sregs = ours.into();
            assert_eq!(KvmSregs::from(theirs), ours);
            // The segments alone, each member to its register, the rest kept. The
            // segments set are the old ones moved up a register, so each field of each
            // member changes, and every other field of the struct is set and unlike.
            assert_eq!(KvmSregs::segments_of(&theirs), ours.segments());
            let old = ours.segments();
            let moved = PerSegReg::from_fn(|reg| old[SegReg::ALL[(reg.index() + 1) % 8]]);
            let mut set = theirs;
            KvmSregs::set_segments_of(&mut set, &moved);
            let mut expected = ours;
            expected.set_segments(&moved);
            assert_eq!(KvmSregs::from(set), expected);
            assert_eq!(theirs.ss.dpl, ours.ss.dpl);
            assert_eq!(
                core::mem::size_of::<kvm_bindings::kvm_sregs>(),
                KvmSregs::SIZE
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::user_null_ss;
    use core::mem::{offset_of, size_of};

    /// Offsets from compiling include/uapi/linux/kvm.h (upstream-semantics.md §8).
    #[test]
    fn layout_matches_the_uapi_header() {
        assert_eq!(size_of::<KvmSegment>(), 24);
        assert_eq!(offset_of!(KvmSegment, limit), 8);
        assert_eq!(offset_of!(KvmSegment, selector), 12);
        assert_eq!(offset_of!(KvmSegment, type_), 14);
        assert_eq!(offset_of!(KvmSegment, present), 15);
        assert_eq!(offset_of!(KvmSegment, dpl), 16);
        assert_eq!(offset_of!(KvmSegment, db), 17);
        assert_eq!(offset_of!(KvmSegment, s), 18);
        assert_eq!(offset_of!(KvmSegment, l), 19);
        assert_eq!(offset_of!(KvmSegment, g), 20);
        assert_eq!(offset_of!(KvmSegment, avl), 21);
        assert_eq!(offset_of!(KvmSegment, unusable), 22);
        assert_eq!(offset_of!(KvmSegment, padding), 23);
        assert_eq!(size_of::<KvmDtable>(), 16);
        assert_eq!(size_of::<KvmSregs>(), 312);
        let seg_offsets = [
            offset_of!(KvmSregs, cs),
            offset_of!(KvmSregs, ds),
            offset_of!(KvmSregs, es),
            offset_of!(KvmSregs, fs),
            offset_of!(KvmSregs, gs),
            offset_of!(KvmSregs, ss),
            offset_of!(KvmSregs, tr),
            offset_of!(KvmSregs, ldt),
        ];
        assert_eq!(seg_offsets, KvmSregs::SEGMENT_OFFSETS);
        assert_eq!(offset_of!(KvmSregs, gdt), 192);
        assert_eq!(offset_of!(KvmSregs, idt), 208);
        assert_eq!(offset_of!(KvmSregs, cr0), 224);
        assert_eq!(offset_of!(KvmSregs, cr8), 256);
        assert_eq!(offset_of!(KvmSregs, efer), 264);
        assert_eq!(offset_of!(KvmSregs, apic_base), 272);
        assert_eq!(offset_of!(KvmSregs, interrupt_bitmap), 280);
    }

    #[test]
    fn bytes_round_trip_exactly() {
        let mut bytes = [0u8; KvmSregs::SIZE];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        let sregs = KvmSregs::from_bytes(&bytes).unwrap();
        assert_eq!(sregs.to_bytes(), bytes);
        assert_eq!(sregs.cs.to_bytes()[..], bytes[0..24]);
        assert_eq!(sregs.ss.to_bytes()[..], bytes[120..144]);
        assert_eq!(sregs.efer.to_le_bytes()[..], bytes[264..272]);
    }

    #[test]
    fn wrong_lengths_are_refused() {
        assert_eq!(
            KvmSregs::from_bytes(&[0; 311]),
            Err(LengthError {
                format: "struct kvm_sregs",
                expected: 312,
                found: 311
            })
        );
        assert!(KvmSegment::from_bytes(&[0; 25]).is_err());
    }

    #[test]
    fn strict_decode_names_the_garbage_field() {
        let good = KvmSegment::from(Segment::flat(
            Selector(0x2b),
            Attributes::flat_data(PrivilegeLevel::Ring3),
        ));
        assert!(Segment::try_from(good).is_ok());
        type Corrupt = fn(&mut KvmSegment);
        let cases: [(&str, Corrupt); 6] = [
            ("type", |k| k.type_ = 16),
            ("dpl", |k| k.dpl = 4),
            ("present", |k| k.present = 2),
            ("unusable", |k| k.unusable = 0xff),
            ("g", |k| k.g = 7),
            ("padding", |k| k.padding = 1),
        ];
        for (field, corrupt) in cases {
            let mut bad = good;
            corrupt(&mut bad);
            assert_eq!(Segment::try_from(bad).unwrap_err().field, field);
        }
    }

    /// The strict decode checks the ten attribute bytes as two masked words; this holds
    /// it to the field-by-field reading it replaced: the same success, and for garbage
    /// the same first field in the documented order with its value, for every value of
    /// each byte and for every pair of bytes over values at and around each bound.
    #[test]
    fn strict_decode_agrees_with_a_field_by_field_reading() {
        const ORDER: [&str; 10] = [
            "type", "dpl", "padding", "s", "present", "avl", "l", "db", "g", "unusable",
        ];
        // A byte by its C name (the error's field name), through the record's layout.
        fn byte(k: KvmSegment, field: &str) -> u8 {
            k.to_bytes()[KvmSegment::field_offset(field).unwrap()]
        }
        fn with(k: KvmSegment, field: &str, v: u8) -> KvmSegment {
            let mut bytes = k.to_bytes();
            bytes[KvmSegment::field_offset(field).unwrap()] = v;
            KvmSegment::from_bytes(&bytes).unwrap()
        }
        fn largest(field: &str) -> u8 {
            match field {
                "type" => 15,
                "dpl" => 3,
                "padding" => 0,
                _ => 1,
            }
        }
        fn reason(field: &str) -> &'static str {
            match field {
                "type" => "the type field has 4 bits (0..=15)",
                "dpl" => "a privilege level is 0..=3",
                "padding" => "padding must be zero",
                _ => "a boolean field must be 0 or 1",
            }
        }
        // The first field out of range, its value and why; else the decoded segment.
        type Refusal = (&'static str, u64, &'static str);
        fn reference(k: KvmSegment) -> Result<Segment, Refusal> {
            for field in ORDER {
                let v = byte(k, field);
                if v > largest(field) {
                    return Err((field, v.into(), reason(field)));
                }
            }
            Ok(Segment {
                selector: Selector(k.selector),
                base: k.base,
                limit: k.limit,
                attributes: Attributes {
                    segment_type: SegmentType::new(k.type_).unwrap(),
                    s: k.s == 1,
                    dpl: PrivilegeLevel::try_from(k.dpl).unwrap(),
                    present: k.present == 1,
                    avl: k.avl == 1,
                    l: k.l == 1,
                    db: k.db == 1,
                    g: k.g == 1,
                },
                unusable: k.unusable == 1,
            })
        }
        let check = |k: KvmSegment| {
            let ours = Segment::try_from(k).map_err(|e| {
                assert_eq!(e.format, "kvm_segment");
                (e.field, e.value, e.reason)
            });
            assert_eq!(ours, reference(k), "{k}");
        };
        let base = KvmSegment {
            base: 0x1234_5678_9abc_def0,
            limit: 0xfffff,
            selector: 0x2b,
            ..KvmSegment::default()
        };
        let values = [0u8, 1, 2, 3, 4, 15, 16, 0x7f, 0x80, 0xff];
        for a in ORDER {
            for v in 0..=u8::MAX {
                check(with(base, a, v));
            }
            for b in ORDER {
                for &va in &values {
                    for &vb in &values {
                        check(with(with(base, a, va), b, vb));
                    }
                }
            }
        }
        // Every meaningful value of all ten bytes at once.
        for bits in 0..1u32 << 13 {
            let mut k = base;
            k.type_ = (bits & 15) as u8;
            k.dpl = (bits >> 4 & 3) as u8;
            [k.s, k.present, k.avl, k.l, k.db, k.g, k.unusable] =
                core::array::from_fn(|i| (bits >> (6 + i) & 1) as u8);
            check(k);
        }
    }

    /// The unusable flag survives: a peer code base hard-codes `unusable: 0`.
    #[test]
    fn segment_round_trip_keeps_unusable_and_dpl() {
        let ss = user_null_ss();
        let k = KvmSegment::from(ss);
        assert_eq!((k.unusable, k.present, k.dpl), (1, 0, 3));
        assert_eq!(Segment::try_from(k), Ok(ss));
    }
}
