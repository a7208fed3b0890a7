//! 8-byte segment descriptors, 16-byte long-mode system descriptors and 16-byte
//! long-mode IDT gates (SDM Vol. 3A §3.4.5, §7.2.3 and §6.14.1, APM Vol. 2 §4.7–4.8).
//!
//! ```
//! use segstate::arch::{Attributes, Descriptor, PrivilegeLevel};
//!
//! // Linux's 64-bit user code descriptor: base 0, limit 4 GiB - 1 with G, DPL 3, L.
//! let code = Descriptor::encode(0, 0xffff_ffff, Attributes::code64(PrivilegeLevel::Ring3))?;
//! assert_eq!(code, Descriptor(0x00af_fb00_0000_ffff));
//! assert_eq!(code.attributes(), Attributes::code64(PrivilegeLevel::Ring3));
//! // A limit G cannot express is refused, not rounded.
//! assert!(Descriptor::encode(0, 0x12345, Attributes { g: true, ..code.attributes() }).is_err());
//! # Ok::<(), segstate::arch::DescriptorError>(())
//! ```

use core::fmt;

use super::{Attributes, PrivilegeLevel, Selector};

/// Why a segment cannot be written as a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DescriptorError {
    /// G = 1 scales the raw limit by 4 KiB and fills the low 12 bits with ones, so a
    /// byte limit whose low 12 bits are not all ones has no G = 1 encoding.
    LimitNotPageGranular {
        /// The byte-granular limit.
        limit: u32,
    },
    /// G = 0 keeps the limit in 20 bits.
    LimitTooLargeForByteGranularity {
        /// The byte-granular limit.
        limit: u32,
    },
    /// An 8-byte descriptor holds a 32-bit base; long-mode system descriptors hold 64.
    BaseTooLarge {
        /// The base that did not fit.
        base: u64,
    },
    /// Bits 12:8 of the upper quadword of a 16-byte system descriptor must be zero
    /// (SDM Vol. 3A Figure 7-4).
    UpperTypeNotZero {
        /// The upper quadword.
        high: u64,
    },
    /// A gate's interrupt-stack-table index is 3 bits: 0 (no IST switch) to 7.
    IstOutOfRange {
        /// The index asked for.
        ist: u8,
    },
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescriptorError::LimitNotPageGranular { limit } => write!(
                f,
                "limit {limit:#x} has G=1 but its low 12 bits are not 0xfff"
            ),
            DescriptorError::LimitTooLargeForByteGranularity { limit } => {
                write!(f, "limit {limit:#x} needs G=1 (over 0xfffff with G=0)")
            }
            DescriptorError::BaseTooLarge { base } => {
                write!(
                    f,
                    "base {base:#x} does not fit an 8-byte descriptor (32 bits)"
                )
            }
            DescriptorError::UpperTypeNotZero { high } => write!(
                f,
                "upper quadword {high:#018x} of a 16-byte system descriptor has type bits set"
            ),
            DescriptorError::IstOutOfRange { ist } => {
                write!(f, "IST index {ist} does not fit the gate's 3 bits (0..=7)")
            }
        }
    }
}

impl core::error::Error for DescriptorError {}

/// An 8-byte GDT/LDT entry, kept raw. Every `u64` is a descriptor; decoding cannot fail.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Descriptor(pub u64);

impl Descriptor {
    /// The null descriptor.
    pub const NULL: Descriptor = Descriptor(0);

    /// Base address bits 31:0 (descriptor bits 16–39 and 56–63).
    #[must_use]
    pub const fn base(self) -> u32 {
        (((self.0 >> 16) & 0xff_ffff) | (((self.0 >> 56) & 0xff) << 24)) as u32
    }

    /// The raw 20-bit limit field (descriptor bits 0–15 and 48–51).
    #[must_use]
    pub const fn raw_limit(self) -> u32 {
        ((self.0 & 0xffff) | (((self.0 >> 48) & 0xf) << 16)) as u32
    }

    /// The byte-granular limit the CPU caches: with G = 1 the raw limit is scaled by
    /// 4 KiB and the low 12 bits filled with ones (SDM Vol. 3A §3.4.5). Scale once, here.
    #[must_use]
    pub const fn limit(self) -> u32 {
        let raw = self.raw_limit();
        if self.0 & (1 << 55) != 0 {
            (raw << 12) | 0xfff
        } else {
            raw
        }
    }

    /// The attribute bits, decoded.
    #[must_use]
    pub const fn attributes(self) -> Attributes {
        Attributes::from_word((self.0 >> 40) as u16)
    }

    /// Packs attributes at their descriptor positions (bits 40–47, 52–55).
    #[must_use]
    pub const fn attribute_bits(attributes: Attributes) -> u64 {
        (attributes.to_word() as u64) << 40
    }

    /// Encodes a descriptor from a byte-granular limit. Fails rather than rounding.
    pub const fn encode(
        base: u64,
        limit: u32,
        attributes: Attributes,
    ) -> Result<Self, DescriptorError> {
        if base > u32::MAX as u64 {
            return Err(DescriptorError::BaseTooLarge { base });
        }
        let raw_limit = match raw_limit_for(limit, attributes.g) {
            Ok(raw) => raw,
            Err(e) => return Err(e),
        };
        let base = base as u32 as u64;
        Ok(Descriptor(
            (raw_limit as u64 & 0xffff)
                | ((raw_limit as u64 >> 16) & 0xf) << 48
                | (base & 0xff_ffff) << 16
                | ((base >> 24) & 0xff) << 56
                | Self::attribute_bits(attributes),
        ))
    }
}

/// The 20-bit raw limit for a byte-granular `limit` under granularity `g`.
const fn raw_limit_for(limit: u32, g: bool) -> Result<u32, DescriptorError> {
    if g {
        if limit & 0xfff != 0xfff {
            return Err(DescriptorError::LimitNotPageGranular { limit });
        }
        Ok(limit >> 12)
    } else if limit > 0xf_ffff {
        Err(DescriptorError::LimitTooLargeForByteGranularity { limit })
    } else {
        Ok(limit)
    }
}

impl fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Descriptor({:#018x}: base {:#x}, limit {:#x}, {:?})",
            self.0,
            self.base(),
            self.limit(),
            self.attributes()
        )
    }
}

/// A 16-byte system descriptor (TSS or LDT) as IA-32e mode lays it out: the low
/// quadword is an 8-byte descriptor, the high one holds base bits 63:32 and must have
/// zeros in bits 12:8 of its upper dword (SDM Vol. 3A §7.2.3, Figure 7-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SystemDescriptor {
    /// Bytes 0–7.
    pub low: u64,
    /// Bytes 8–15.
    pub high: u64,
}

impl SystemDescriptor {
    /// The 64-bit base.
    #[must_use]
    pub const fn base(self) -> u64 {
        Descriptor(self.low).base() as u64 | (self.high & 0xffff_ffff) << 32
    }

    /// The byte-granular limit.
    #[must_use]
    pub const fn limit(self) -> u32 {
        Descriptor(self.low).limit()
    }

    /// The attribute bits of the low quadword.
    #[must_use]
    pub const fn attributes(self) -> Attributes {
        Descriptor(self.low).attributes()
    }

    /// Bits 12:8 of the upper dword of the high quadword (bits 44:40 of `high`):
    /// where a legacy descriptor's type would be, they must be zero.
    pub const UPPER_TYPE_MASK: u64 = 0x1f << 40;

    /// Strict decode: refuses type bits set in the upper quadword.
    pub const fn check(self) -> Result<Self, DescriptorError> {
        if self.high & Self::UPPER_TYPE_MASK != 0 {
            Err(DescriptorError::UpperTypeNotZero { high: self.high })
        } else {
            Ok(self)
        }
    }

    /// Encodes a 16-byte system descriptor with a 64-bit base.
    pub const fn encode(
        base: u64,
        limit: u32,
        attributes: Attributes,
    ) -> Result<Self, DescriptorError> {
        let low = match Descriptor::encode(base & 0xffff_ffff, limit, attributes) {
            Ok(d) => d.0,
            Err(e) => return Err(e),
        };
        Ok(SystemDescriptor {
            low,
            high: base >> 32,
        })
    }

    /// Little-endian bytes as they sit in the GDT.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.low.to_le_bytes());
        out[8..].copy_from_slice(&self.high.to_le_bytes());
        out
    }

    /// Reads a descriptor from 16 little-endian bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let mut low = [0u8; 8];
        let mut high = [0u8; 8];
        low.copy_from_slice(&bytes[..8]);
        high.copy_from_slice(&bytes[8..]);
        SystemDescriptor {
            low: u64::from_le_bytes(low),
            high: u64::from_le_bytes(high),
        }
    }
}

/// The two gate types an IA-32e IDT may hold (SDM Vol. 3A §6.14.1; APM Vol. 2 §4.8.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GateKind {
    /// Type 0xE: the CPU clears RFLAGS.IF on entry.
    Interrupt,
    /// Type 0xF: RFLAGS.IF is left as it was.
    Trap,
}

impl GateKind {
    /// The 4-bit system-descriptor type.
    #[must_use]
    pub const fn type_bits(self) -> u8 {
        match self {
            GateKind::Interrupt => 0xe,
            GateKind::Trap => 0xf,
        }
    }
}

/// A 16-byte IA-32e interrupt or trap gate, as it sits in the IDT (SDM Vol. 3A
/// §6.14.1, Figure 6-8): target offset 63:0 split over bytes 0–1, 6–7 and 8–11, the
/// code-segment selector in bytes 2–3, the IST index in byte 4 bits 2:0, and type,
/// DPL and P in byte 5. Bytes 12–15 are reserved (zero).
///
/// The gate's DPL is the most privileged CPL that may reach it with `int n`/`int3`
/// (a DPL-3 gate lets user code raise the vector); the handler runs at the DPL of
/// the code segment `selector` names.
///
/// ```
/// use segstate::arch::{GateDescriptor, GateKind, PrivilegeLevel, Selector};
///
/// let gate = GateDescriptor::new(
///     GateKind::Interrupt,
///     Selector(0x08),
///     0xffff_ffff_8100_1234,
///     PrivilegeLevel::Ring3,
///     0,
/// )?;
/// assert_eq!(gate.offset(), 0xffff_ffff_8100_1234);
/// assert_eq!(gate.kind(), Some(GateKind::Interrupt));
/// assert_eq!(gate.to_bytes()[5], 0xee); // P, DPL 3, type 0xE
/// # Ok::<(), segstate::arch::DescriptorError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct GateDescriptor {
    /// Bytes 0–7.
    pub low: u64,
    /// Bytes 8–15.
    pub high: u64,
}

impl GateDescriptor {
    /// A present gate of `kind` to `selector:offset`, reachable by software from CPL
    /// `dpl` and below, switching to IST stack `ist` (0: no switch).
    pub const fn new(
        kind: GateKind,
        selector: Selector,
        offset: u64,
        dpl: PrivilegeLevel,
        ist: u8,
    ) -> Result<Self, DescriptorError> {
        if ist > 7 {
            return Err(DescriptorError::IstOutOfRange { ist });
        }
        let access = 0x80 | (dpl.bits() as u64) << 5 | kind.type_bits() as u64;
        Ok(GateDescriptor {
            low: (offset & 0xffff)
                | (selector.0 as u64) << 16
                | (ist as u64) << 32
                | access << 40
                | ((offset >> 16) & 0xffff) << 48,
            high: offset >> 32,
        })
    }

    /// The handler's offset.
    #[must_use]
    pub const fn offset(self) -> u64 {
        (self.low & 0xffff) | ((self.low >> 48) & 0xffff) << 16 | (self.high & 0xffff_ffff) << 32
    }

    /// The handler's code-segment selector.
    #[must_use]
    pub const fn selector(self) -> Selector {
        Selector((self.low >> 16) as u16)
    }

    /// The interrupt-stack-table index (0: no stack switch through the IST).
    #[must_use]
    pub const fn ist(self) -> u8 {
        (self.low >> 32) as u8 & 7
    }

    /// The gate's DPL.
    #[must_use]
    pub const fn dpl(self) -> PrivilegeLevel {
        PrivilegeLevel::from_low_bits((self.low >> 45) as u8)
    }

    /// P.
    #[must_use]
    pub const fn present(self) -> bool {
        self.low & (1 << 47) != 0
    }

    /// The gate type, or `None` for a type an IA-32e IDT may not hold (#GP on delivery)
    /// or a set S bit.
    #[must_use]
    pub const fn kind(self) -> Option<GateKind> {
        match (self.low >> 40) & 0x1f {
            0xe => Some(GateKind::Interrupt),
            0xf => Some(GateKind::Trap),
            _ => None,
        }
    }

    /// Little-endian bytes as they sit in the IDT.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 16] {
        SystemDescriptor {
            low: self.low,
            high: self.high,
        }
        .to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's GDT_ENTRY_INIT values for the x86-64 kernel and user segments.
    #[test]
    fn linux_golden_descriptors_decode() {
        let kernel_cs = Descriptor(0x00af_9b00_0000_ffff);
        assert_eq!(
            kernel_cs.attributes(),
            Attributes::code64(PrivilegeLevel::Ring0)
        );
        assert_eq!(kernel_cs.limit(), 0xffff_ffff);
        assert_eq!(kernel_cs.base(), 0);
        let user_ds = Descriptor(0x00cf_f300_0000_ffff);
        assert_eq!(
            user_ds.attributes(),
            Attributes::flat_data(PrivilegeLevel::Ring3)
        );
        let user_cs = Descriptor(0x00af_fb00_0000_ffff);
        assert_eq!(
            user_cs.attributes(),
            Attributes::code64(PrivilegeLevel::Ring3)
        );
        for d in [kernel_cs, user_ds, user_cs] {
            assert_eq!(
                Descriptor::encode(d.base().into(), d.limit(), d.attributes()),
                Ok(d)
            );
        }
    }

    /// Peer bug: scaling an already byte-granular limit a second time. The cached limit
    /// of a G=1 descriptor with raw limit 0x12 is 0x12fff, and encoding it gives 0x12 back.
    #[test]
    fn granular_limit_scales_exactly_once() {
        let mut attrs = Attributes::flat_data(PrivilegeLevel::Ring0);
        attrs.g = true;
        let d = Descriptor::encode(0x1000, 0x12fff, attrs).unwrap();
        assert_eq!(d.raw_limit(), 0x12);
        assert_eq!(d.limit(), 0x12fff);
        let again = Descriptor::encode(d.base().into(), d.limit(), d.attributes()).unwrap();
        assert_eq!(again.limit(), 0x12fff);
        assert_eq!(
            Descriptor::encode(0, 0x12000, attrs),
            Err(DescriptorError::LimitNotPageGranular { limit: 0x12000 })
        );
        attrs.g = false;
        assert_eq!(
            Descriptor::encode(0, 0x10_0000, attrs),
            Err(DescriptorError::LimitTooLargeForByteGranularity { limit: 0x10_0000 })
        );
        assert_eq!(
            Descriptor::encode(0x1_0000_0000, 0, attrs),
            Err(DescriptorError::BaseTooLarge {
                base: 0x1_0000_0000
            })
        );
    }

    /// Every descriptor with a valid layout re-encodes to itself: decode, encode, compare.
    #[test]
    fn decode_encode_is_identity_on_a_sweep() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Bits 48-51 are the limit's top nibble and 40-55 are attributes: all meaningful.
            let d = Descriptor(x);
            let back = Descriptor::encode(d.base().into(), d.limit(), d.attributes()).unwrap();
            assert_eq!(back, d, "{d:?}");
        }
    }

    #[test]
    fn system_descriptor_carries_64_bit_base() {
        let tss =
            SystemDescriptor::encode(0xffff_8880_1234_5000, 0x67, Attributes::busy_tss()).unwrap();
        assert_eq!(tss.base(), 0xffff_8880_1234_5000);
        assert_eq!(tss.limit(), 0x67);
        assert_eq!(SystemDescriptor::from_bytes(tss.to_bytes()), tss);
        assert_eq!(tss.check(), Ok(tss));
        let bad = SystemDescriptor {
            low: tss.low,
            high: tss.high | 9 << 40,
        };
        assert!(bad.check().is_err());
    }

    /// Byte positions of SDM Vol. 3A Figure 6-8 (64-bit IDT gate descriptors): a DPL-3
    /// interrupt gate without IST (what user `int3` needs) and a DPL-0 trap gate on IST 1.
    #[test]
    fn gate_fields_sit_where_the_sdm_puts_them() {
        let bp = GateDescriptor::new(
            GateKind::Interrupt,
            Selector(0x10),
            0x1122_3344_5566_7788,
            PrivilegeLevel::Ring3,
            0,
        )
        .unwrap();
        assert_eq!(
            bp.to_bytes(),
            [
                0x88, 0x77, 0x10, 0x00, 0x00, 0xee, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0
            ]
        );
        let df = GateDescriptor::new(
            GateKind::Trap,
            Selector(0x10),
            0xffff_ffff_8100_0000,
            PrivilegeLevel::Ring0,
            1,
        )
        .unwrap();
        assert_eq!(df.to_bytes()[4..6], [0x01, 0x8f]);
        for g in [bp, df] {
            let again = GateDescriptor::new(
                g.kind().unwrap(),
                g.selector(),
                g.offset(),
                g.dpl(),
                g.ist(),
            );
            assert_eq!(again, Ok(g));
            assert!(g.present());
        }
        assert_eq!(df.kind(), Some(GateKind::Trap));
        assert_eq!(df.ist(), 1);
        assert_eq!(bp.dpl(), PrivilegeLevel::Ring3);
        assert_eq!(
            GateDescriptor::new(GateKind::Trap, Selector(8), 0, PrivilegeLevel::Ring0, 8),
            Err(DescriptorError::IstOutOfRange { ist: 8 })
        );
        // A call gate (type 0xC) or a TSS in the IDT is no gate this type decodes.
        assert_eq!(
            GateDescriptor {
                low: 0x8c << 40,
                high: 0
            }
            .kind(),
            None
        );
    }
}
