//! What each VM-entry guest-segment check reads (SDM Vol. 3C §27.3.1.1, §27.3.1.2,
//! §27.3.1.4): of every segment register it reads, which fields, and which other guest
//! state and VM controls. The checks take their split from this table
//! ([`super::register_accepted_carried`]), and `reads_cover_what_each_check_reads` holds it
//! to what the checks do over the whole verify domain: changing a field a check does not
//! declare never changes its verdict.
//!
//! Verify's class members differ from their representative only in the selector (RPL,
//! and the register) and the base (`verify::reduce`), so the checks that read neither
//! ([`Fields::CARRIED`]) give a member its representative's verdict; no check reads AVL
//! ([`Fields::AVL`]), so a state differing from another only there gets its verdict.

use crate::check::CheckId;

mod context {
    use crate::check::segment_fields::bit_set;

    bit_set!(
        /// Guest state outside the segment registers, and VM controls.
        Context {
            /// Guest CR0.
            CR0,
            /// Guest CR4.
            CR4,
            /// Guest IA32_EFER.
            EFER,
            /// Guest RFLAGS (VM, for the virtual-8086 checks; the reserved bits).
            RFLAGS,
            /// The "unrestricted guest" secondary control.
            UNRESTRICTED_GUEST,
            /// The "IA-32e mode guest" VM-entry control.
            IA32E_MODE_GUEST,
        }
    );
}

pub use crate::check::segment_fields::Fields;
pub use context::Context;

/// What a check reads: `segment` of each register it reads (which registers: the
/// check's guard, where it is run), and `context`.
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
    let attrs = F::ATTRIBUTES.and(F::UNUSABLE);
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
        _ => reads_of(F::ALL, X::ALL),
    }
}
