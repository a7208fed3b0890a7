//! What each VM-entry guest-segment check reads (SDM Vol. 3C §27.3.1.1, §27.3.1.2,
//! §27.3.1.4): of every segment register it reads, which fields, and which other guest
//! state and VM controls. The checks take their split from this table
//! ([`super::register_accepted_carried`]), and `reads_cover_what_each_check_reads` holds it
//! to what the checks do over the whole verify domain: changing a field a check does not
//! declare never changes its verdict.
//!
//! Verify's class members differ from their representative only in the selector (RPL,
//! and the register) and the base (`verify::reduce`), so the checks that read neither
//! ([`Fields::CARRIED`]) give a member its representative's verdict.

use crate::check::CheckId;

/// Fields of a segment register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields(u8);

impl Fields {
    /// None.
    pub const NONE: Fields = Fields(0);
    /// Selector bits 1:0.
    pub const RPL: Fields = Fields(1);
    /// Selector bits 15:2: the table indicator and the index.
    pub const INDEX: Fields = Fields(1 << 1);
    /// The base address.
    pub const BASE: Fields = Fields(1 << 2);
    /// The limit.
    pub const LIMIT: Fields = Fields(1 << 3);
    /// The attributes, the unusable bit included.
    pub const ATTRIBUTES: Fields = Fields(1 << 4);
    /// What a verify class member carries apart from its representative: the whole
    /// selector and the base.
    pub const CARRIED: Fields = Fields(Self::RPL.0 | Self::INDEX.0 | Self::BASE.0);
    /// Every field, each alone.
    pub const EACH: [Fields; 5] = [
        Self::RPL,
        Self::INDEX,
        Self::BASE,
        Self::LIMIT,
        Self::ATTRIBUTES,
    ];

    /// Both sets.
    #[must_use]
    pub const fn and(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// True when the sets share a field.
    #[must_use]
    pub const fn meets(self, other: Fields) -> bool {
        self.0 & other.0 != 0
    }
}

/// Guest state outside the segment registers, and VM controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context(u8);

impl Context {
    /// None.
    pub const NONE: Context = Context(0);
    /// Guest CR0.
    pub const CR0: Context = Context(1);
    /// Guest CR4.
    pub const CR4: Context = Context(1 << 1);
    /// Guest IA32_EFER.
    pub const EFER: Context = Context(1 << 2);
    /// Guest RFLAGS (VM, for the virtual-8086 checks; the reserved bits).
    pub const RFLAGS: Context = Context(1 << 3);
    /// The "unrestricted guest" secondary control.
    pub const UNRESTRICTED_GUEST: Context = Context(1 << 4);
    /// The "IA-32e mode guest" VM-entry control.
    pub const IA32E_MODE_GUEST: Context = Context(1 << 5);

    /// Both sets.
    #[must_use]
    pub const fn and(self, other: Context) -> Context {
        Context(self.0 | other.0)
    }

    /// True when the sets share a member.
    #[must_use]
    pub const fn meets(self, other: Context) -> bool {
        self.0 & other.0 != 0
    }
}

/// What a check reads: `segment` of each register it reads (which registers: the
/// check's guard in [`super::run`]), and `context`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reads {
    /// The fields it reads of every register it reads.
    pub segment: Fields,
    /// The rest of the guest state and the controls it reads.
    pub context: Context,
}

const fn reads_of(segment: Fields, context: Context) -> Reads {
    Reads { segment, context }
}

/// What check `id` reads. A check not listed (none of the guest-segment checks) is
/// taken to read everything.
#[must_use]
#[inline(always)]
pub const fn reads(id: CheckId) -> Reads {
    use CheckId as C;
    use Context as X;
    use Fields as F;
    // The user-segment checks are all skipped for a virtual-8086 guest (RFLAGS.VM),
    // and the virtual-8086 ones run only for it.
    let vm = X::RFLAGS;
    let attrs = F::ATTRIBUTES;
    match id {
        C::VmxEntryCr0Fixed => reads_of(F::NONE, X::CR0.and(X::UNRESTRICTED_GUEST)),
        C::VmxEntryCr0PgPe => reads_of(F::NONE, X::CR0),
        C::VmxEntryIa32ePgPae => reads_of(F::NONE, X::CR0.and(X::CR4).and(X::IA32E_MODE_GUEST)),
        C::VmxEntryCr4Pcide => reads_of(F::NONE, X::CR4.and(X::IA32E_MODE_GUEST)),
        C::VmxEntryEferLmeLma => reads_of(F::NONE, X::CR0.and(X::EFER)),
        C::VmxEntryEferLmaIa32e => reads_of(F::NONE, X::EFER.and(X::IA32E_MODE_GUEST)),
        C::VmxEntryRflagsReserved => reads_of(F::NONE, X::RFLAGS),
        C::VmxEntryRflagsVm => reads_of(F::NONE, X::RFLAGS.and(X::CR0).and(X::IA32E_MODE_GUEST)),
        C::VmxEntryTrTi => reads_of(F::INDEX, X::NONE),
        // LDTR's TI is checked only when it is usable.
        C::VmxEntryLdtrTi => reads_of(F::INDEX.and(attrs), X::NONE),
        C::VmxEntrySsRpl => reads_of(F::RPL, vm.and(X::UNRESTRICTED_GUEST)),
        // LDTR's, DS's and ES's bases are checked only when usable.
        C::VmxEntryBaseCanonical | C::VmxEntryBaseHigh => reads_of(F::BASE.and(attrs), X::NONE),
        C::VmxEntryV8086Base => reads_of(F::CARRIED, vm),
        C::VmxEntryV8086Limit => reads_of(F::LIMIT, vm),
        C::VmxEntryV8086Ar => reads_of(attrs, vm),
        C::VmxEntryCsType => reads_of(attrs, vm.and(X::UNRESTRICTED_GUEST)),
        C::VmxEntryDataDplRpl | C::VmxEntrySsDplRpl => {
            reads_of(F::RPL.and(attrs), vm.and(X::UNRESTRICTED_GUEST))
        }
        C::VmxEntrySsType
        | C::VmxEntryErratumSsTypeUnusable
        | C::VmxEntryDataAccessed
        | C::VmxEntryDataReadableCode
        | C::VmxEntryS
        | C::VmxEntryP
        | C::VmxEntryCsDplType3
        | C::VmxEntryCsDplNonconforming
        | C::VmxEntryCsDplConforming => reads_of(attrs, vm),
        C::VmxEntryG => reads_of(F::LIMIT.and(attrs), vm),
        C::VmxEntrySsDplZero => reads_of(attrs, vm.and(X::CR0)),
        C::VmxEntryCsDb => reads_of(attrs, vm.and(X::IA32E_MODE_GUEST)),
        C::VmxEntryTrType => reads_of(attrs, X::IA32E_MODE_GUEST),
        C::VmxEntryTrS
        | C::VmxEntryTrP
        | C::VmxEntryTrUnusable
        | C::VmxEntryLdtrType
        | C::VmxEntryLdtrS
        | C::VmxEntryLdtrP => reads_of(attrs, X::NONE),
        C::VmxEntryTrG | C::VmxEntryLdtrG => reads_of(F::LIMIT.and(attrs), X::NONE),
        _ => reads_of(
            F::CARRIED.and(F::LIMIT).and(attrs),
            X::CR0
                .and(X::CR4)
                .and(X::EFER)
                .and(X::RFLAGS)
                .and(X::UNRESTRICTED_GUEST)
                .and(X::IA32E_MODE_GUEST),
        ),
    }
}
