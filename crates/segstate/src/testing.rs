//! Not API: what the workspace's own tests, fuzz targets and examples reach inside
//! the crate for (checksums to re-seal a mutated file, the verification domain's
//! encoder, a synthetic snapshot). Hidden from the documentation, with no stability
//! promise; a VMM has no use for it.

#[cfg(feature = "std")]
mod extents;
#[cfg(feature = "serde")]
pub use crate::ingest::crc64::crc64;
pub use crate::snapshot::crc::crc32c;
pub use crate::verify::domain::{encode_state, previous_caches};
#[cfg(feature = "std")]
pub use extents::Extents;

/// The size of a segstate snapshot's file header, for tests that damage files past it.
pub const SNAPSHOT_HEADER_SIZE: usize = crate::snapshot::codec::HEADER_SIZE;

/// A synthetic snapshot of the harness guest paused at CPL 3 with an unusable SS of
/// DPL 3 (AMD's post-SYSRET state), as KVM on Intel reports it; no memory.
#[must_use]
pub fn example_user_null_ss() -> crate::snapshot::VcpuSnapshot {
    crate::snapshot::VcpuSnapshot::example_user_null_ss()
}

/// A `kvm_segment` written field by field, in the C struct's order after the header:
/// `[type, present, dpl, db, s, l, g, avl, unusable]`, padding zero. A literal, no
/// cooking: the rule tests write expected values with it and the C comparison sweeps.
#[must_use]
pub fn kvm_segment(
    selector: u16,
    limit: u32,
    base: u64,
    fields: [u8; 9],
) -> crate::format::kvm::KvmSegment {
    let [type_, present, dpl, db, s, l, g, avl, unusable] = fields;
    crate::format::kvm::KvmSegment {
        base,
        limit,
        selector,
        type_,
        present,
        dpl,
        db,
        s,
        l,
        g,
        avl,
        unusable,
        padding: 0,
    }
}

/// The other stacks' per-segment conversions, one function per upstream get/set, for
/// tests/stack_rules.rs to pin each rule alone. A VMM reaches them only through a
/// [`crate::profile::Chain`].
pub mod stacks {
    /// Xen's conversions (`profile/xen.rs`).
    pub mod xen {
        pub use crate::profile::xen::*;
    }
    /// bhyve's and illumos bhyve's conversions (`profile/bhyve.rs`).
    pub mod bhyve {
        pub use crate::profile::bhyve::*;
    }
    /// VirtualBox's conversions (`profile/vbox.rs`).
    pub mod vbox {
        pub use crate::profile::vbox::*;
    }
    /// Bochs' and Linux's nested round trips (`profile/nested.rs`).
    pub mod nested {
        pub use crate::profile::nested::*;
    }
    /// The Rust VMMs' conversions (`profile/rustvmm.rs`).
    pub mod rustvmm {
        pub use crate::profile::rustvmm::*;
    }
}

/// `f`'s result and how many times it advanced `counter`: one of the thread-local counts a
/// test build keeps of a fast path taken (`INLINED_RUNS`, `INLINED_VCPU_RUNS`, ...), so
/// that a test holding the fast path to the interpreter fails when the path is not taken.
#[cfg(all(test, feature = "std"))]
pub(crate) fn counted<T>(
    counter: &'static std::thread::LocalKey<core::cell::Cell<usize>>,
    f: impl FnOnce() -> T,
) -> (T, usize) {
    let before = counter.with(core::cell::Cell::get);
    let out = f();
    (out, counter.with(core::cell::Cell::get) - before)
}

/// Runs an API's value-returning form and its in-place form (`run_segment` and
/// `run_segment_into`, `run` and `run_into`) on the same input, each counted on
/// `counter`, and holds them to each other: the in-place form writes what the other
/// returns over `before`, leaves `before` untouched where the other refuses, and takes
/// the counted fast path exactly as often. Gives the value form's result and count.
#[cfg(all(test, feature = "std"))]
pub(crate) fn counted_with_into<T, E>(
    counter: &'static std::thread::LocalKey<core::cell::Cell<usize>>,
    what: &dyn core::fmt::Display,
    run: impl FnOnce() -> Result<T, E>,
    into: impl FnOnce(&mut T) -> Result<(), E>,
    before: T,
) -> (Result<T, E>, usize)
where
    T: Copy + PartialEq + core::fmt::Debug,
    E: Copy + PartialEq + core::fmt::Debug,
{
    let (value, ran) = counted(counter, run);
    let mut out = before;
    let (written, ran_into) = counted(counter, || into(&mut out));
    match value {
        Ok(v) => assert_eq!((written, out), (Ok(()), v), "{what}"),
        Err(e) => assert_eq!((written, out), (Err(e), before), "{what}"),
    }
    assert_eq!(ran_into, ran, "{what}: fast-path runs of the in-place form");
    (value, ran)
}
