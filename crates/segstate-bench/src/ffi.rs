//! The C baseline (`c/segconv.c`): `#[repr(C)]` mirrors of its structs, the raw
//! `extern "C"` declarations, and safe slice wrappers. `unsafe` lives only here, at
//! the calls.

use segstate::format::hyperv::{HvSegmentAttributes, HvSegmentRegister};
use segstate::format::kvm::KvmSegment;
use segstate::format::qemu::{QemuFlags, QemuSegmentCache};
use segstate::format::svm::{SvmAttrib, VmcbSegment};
use segstate::format::vmx::{VmxAccessRights, VmxSegment};

/// `struct vmcb_seg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CVmcbSeg {
    /// Selector.
    pub selector: u16,
    /// 12-bit attrib.
    pub attrib: u16,
    /// Limit.
    pub limit: u32,
    /// Base.
    pub base: u64,
}

/// `struct vmx_seg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CVmxSeg {
    /// Base.
    pub base: u64,
    /// Limit.
    pub limit: u32,
    /// Access rights.
    pub ar: u32,
    /// Selector.
    pub selector: u16,
}

/// `struct qemu_seg` (QEMU's `SegmentCache`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CQemuSeg {
    /// Selector.
    pub selector: u32,
    /// Base.
    pub base: u64,
    /// Limit.
    pub limit: u32,
    /// Flags.
    pub flags: u32,
}

/// `struct hv_seg` (`HV_X64_SEGMENT_REGISTER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CHvSeg {
    /// Base.
    pub base: u64,
    /// Limit.
    pub limit: u32,
    /// Selector.
    pub selector: u16,
    /// Attribute word.
    pub attributes: u16,
}

// `KvmSegment` is `#[repr(C)]` with the UAPI layout: C reads and writes it directly.
const _: () = assert!(core::mem::size_of::<KvmSegment>() == 24);
const _: () = assert!(core::mem::align_of::<KvmSegment>() == 8);
const _: () = assert!(core::mem::size_of::<CVmcbSeg>() == 16);
const _: () = assert!(core::mem::size_of::<CHvSeg>() == 16);

/// Both `From` conversions between a C mirror and its segstate type: the shared
/// fields copy as they are, the one attribute word is unwrapped from and rewrapped in
/// its newtype.
macro_rules! mirror {
    ($c:ident <=> $rust:ident { $($field:ident),* ; $c_word:ident <=> $word:ident($wrap:ident) }) => {
        impl From<&$rust> for $c {
            fn from(r: &$rust) -> Self {
                $c { $($field: r.$field,)* $c_word: r.$word.0 }
            }
        }
        impl From<&$c> for $rust {
            fn from(c: &$c) -> Self {
                $rust { $($field: c.$field,)* $word: $wrap(c.$c_word) }
            }
        }
    };
}

mirror!(CVmcbSeg <=> VmcbSegment { selector, limit, base; attrib <=> attrib(SvmAttrib) });
mirror!(CVmxSeg <=> VmxSegment { selector, limit, base; ar <=> access_rights(VmxAccessRights) });
mirror!(CQemuSeg <=> QemuSegmentCache { selector, limit, base; flags <=> flags(QemuFlags) });
mirror!(CHvSeg <=> HvSegmentRegister { selector, limit, base; attributes <=> attributes(HvSegmentAttributes) });

mod sys {
    use super::{CHvSeg, CQemuSeg, CVmcbSeg, CVmxSeg};
    use segstate::format::kvm::KvmSegment;

    unsafe extern "C" {
        pub fn segconv_svm_get_segment(s: *const CVmcbSeg, cpl: u8, seg: i32, var: *mut KvmSegment);
        pub fn segconv_svm_set_segment(
            var: *const KvmSegment,
            seg: i32,
            s: *mut CVmcbSeg,
            cpl: *mut u8,
        ) -> i32;
        pub fn segconv_vmx_get_segment(v: *const CVmxSeg, var: *mut KvmSegment);
        pub fn segconv_vmx_set_segment(var: *const KvmSegment, seg: i32, v: *mut CVmxSeg);
        pub fn segconv_qemu_get_seg(rhs: *const KvmSegment, lhs: *mut CQemuSeg);
        pub fn segconv_qemu_set_seg(rhs: *const CQemuSeg, lhs: *mut KvmSegment);

        pub fn segconv_kvm_to_vmx(var: *const KvmSegment, v: *mut CVmxSeg) -> i32;
        pub fn segconv_vmx_to_kvm(v: *const CVmxSeg, var: *mut KvmSegment) -> i32;
        pub fn segconv_vmcb_to_vmx(s: *const CVmcbSeg, v: *mut CVmxSeg) -> i32;
        pub fn segconv_vmx_to_vmcb(v: *const CVmxSeg, s: *mut CVmcbSeg) -> i32;
        pub fn segconv_kvm_to_qemu(var: *const KvmSegment, q: *mut CQemuSeg) -> i32;
        pub fn segconv_qemu_to_kvm(q: *const CQemuSeg, var: *mut KvmSegment) -> i32;
        pub fn segconv_kvm_to_hv(var: *const KvmSegment, h: *mut CHvSeg) -> i32;
        pub fn segconv_hv_to_kvm(h: *const CHvSeg, var: *mut KvmSegment) -> i32;
        pub fn segconv_svm_attrib_to_vmx_ar(attrib: u16) -> u32;
        pub fn segconv_vmx_ar_to_svm_attrib(ar: u32) -> u16;

        pub fn segconv_svm_get_batch(
            input: *const CVmcbSeg,
            cpl: *const u8,
            out: *mut KvmSegment,
            n: usize,
        );
        pub fn segconv_svm_set_batch(
            input: *const KvmSegment,
            out: *mut CVmcbSeg,
            cpl: *mut u8,
            n: usize,
        );
        pub fn segconv_vmx_get_batch(input: *const CVmxSeg, out: *mut KvmSegment, n: usize);
        pub fn segconv_vmx_set_batch(input: *const KvmSegment, out: *mut CVmxSeg, n: usize);
        pub fn segconv_qemu_get_batch(input: *const KvmSegment, out: *mut CQemuSeg, n: usize);
        pub fn segconv_qemu_set_batch(input: *const CQemuSeg, out: *mut KvmSegment, n: usize);
        pub fn segconv_kvm_to_vmx_batch(
            input: *const KvmSegment,
            out: *mut CVmxSeg,
            n: usize,
        ) -> usize;
        pub fn segconv_vmx_to_kvm_batch(
            input: *const CVmxSeg,
            out: *mut KvmSegment,
            n: usize,
        ) -> usize;
        pub fn segconv_vmcb_to_vmx_batch(
            input: *const CVmcbSeg,
            out: *mut CVmxSeg,
            n: usize,
        ) -> usize;
        pub fn segconv_kvm_to_qemu_batch(
            input: *const KvmSegment,
            out: *mut CQemuSeg,
            n: usize,
        ) -> usize;
        pub fn segconv_qemu_to_kvm_batch(
            input: *const CQemuSeg,
            out: *mut KvmSegment,
            n: usize,
        ) -> usize;
        pub fn segconv_kvm_to_hv_batch(
            input: *const KvmSegment,
            out: *mut CHvSeg,
            n: usize,
        ) -> usize;
        pub fn segconv_svm_attrib_to_vmx_ar_batch(input: *const u16, out: *mut u32, n: usize);

        pub fn segconv_chain_svm_qemu_svm(
            input: *const CVmcbSeg,
            cpl_in: *const u8,
            out: *mut CVmcbSeg,
            cpl_out: *mut u8,
            n: usize,
        );
        pub fn segconv_chain_svm_svm(
            input: *const CVmcbSeg,
            cpl_in: *const u8,
            out: *mut CVmcbSeg,
            cpl_out: *mut u8,
            n: usize,
        );
        pub fn segconv_chain_vmx_qemu_vmx(input: *const CVmxSeg, out: *mut CVmxSeg, n: usize);
        pub fn segconv_chain_vmx_vmx(input: *const CVmxSeg, out: *mut CVmxSeg, n: usize);
        pub fn segconv_chain_svm_qemu_vmx(
            input: *const CVmcbSeg,
            cpl_in: *const u8,
            out: *mut CVmxSeg,
            n: usize,
        );
        pub fn segconv_chain_vmx_qemu_svm(
            input: *const CVmxSeg,
            out: *mut CVmcbSeg,
            cpl_out: *mut u8,
            n: usize,
        );
        pub fn segconv_chain_svm_qemu_vmx_qemu_svm(
            input: *const CVmcbSeg,
            cpl_in: *const u8,
            out: *mut CVmcbSeg,
            cpl_out: *mut u8,
            n: usize,
        );
        pub fn segconv_chain_verbatim_svm(
            input: *const KvmSegment,
            out: *mut CVmcbSeg,
            cpl_out: *mut u8,
            n: usize,
        );
        pub fn segconv_chain_qemu(input: *const KvmSegment, out: *mut KvmSegment, n: usize);
    }
}

// ---- scalar wrappers ----

/// C `svm_get_segment` (today's KVM).
#[must_use]
pub fn svm_get_segment(s: &CVmcbSeg, cpl: u8, seg: usize) -> KvmSegment {
    let mut out = KvmSegment::default();
    // SAFETY: both pointers come from live references to `#[repr(C)]` structs with
    // the layouts segconv.h declares; C only reads `s` and writes `out`.
    unsafe { sys::segconv_svm_get_segment(s, cpl, seg as i32, &mut out) };
    out
}

/// C `svm_set_segment`; the CPL byte when the call writes it (SS).
#[must_use]
pub fn svm_set_segment(k: &KvmSegment, seg: usize) -> (CVmcbSeg, Option<u8>) {
    let mut out = CVmcbSeg::default();
    let mut cpl = 0u8;
    // SAFETY: live references to matching `#[repr(C)]` layouts; C reads `k` and
    // writes `out` and `cpl` only.
    let wrote = unsafe { sys::segconv_svm_set_segment(k, seg as i32, &mut out, &mut cpl) };
    (out, (wrote != 0).then_some(cpl))
}

/// C `vmx_get_segment`.
#[must_use]
pub fn vmx_get_segment(v: &CVmxSeg) -> KvmSegment {
    let mut out = KvmSegment::default();
    // SAFETY: live references to matching `#[repr(C)]` layouts; C reads `v`, writes `out`.
    unsafe { sys::segconv_vmx_get_segment(v, &mut out) };
    out
}

/// C `vmx_set_segment` (unrestricted guest).
#[must_use]
pub fn vmx_set_segment(k: &KvmSegment, seg: usize) -> CVmxSeg {
    let mut out = CVmxSeg::default();
    // SAFETY: live references to matching `#[repr(C)]` layouts; C reads `k`, writes `out`.
    unsafe { sys::segconv_vmx_set_segment(k, seg as i32, &mut out) };
    out
}

/// C QEMU `get_seg`.
#[must_use]
pub fn qemu_get_seg(k: &KvmSegment) -> CQemuSeg {
    let mut out = CQemuSeg::default();
    // SAFETY: live references to matching `#[repr(C)]` layouts; C reads `k`, writes `out`.
    unsafe { sys::segconv_qemu_get_seg(k, &mut out) };
    out
}

/// C QEMU `set_seg`.
#[must_use]
pub fn qemu_set_seg(q: &CQemuSeg) -> KvmSegment {
    let mut out = KvmSegment::default();
    // SAFETY: live references to matching `#[repr(C)]` layouts; C reads `q`, writes `out`.
    unsafe { sys::segconv_qemu_set_seg(q, &mut out) };
    out
}

macro_rules! strict_scalar {
    ($(#[$doc:meta])* $name:ident, $sys:ident, $in:ty, $out:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(input: &$in) -> Option<$out> {
            let mut out = <$out>::default();
            // SAFETY: live references to matching `#[repr(C)]` layouts; C reads
            // `input` and writes `out` only.
            let rc = unsafe { sys::$sys(input, &mut out) };
            (rc == 0).then_some(out)
        }
    };
}

strict_scalar!(
    /// Strict `kvm_segment` → VMX access rights; `None` when C refuses (-EINVAL).
    kvm_to_vmx, segconv_kvm_to_vmx, KvmSegment, CVmxSeg);
strict_scalar!(
    /// Strict VMX access rights → `kvm_segment`.
    vmx_to_kvm, segconv_vmx_to_kvm, CVmxSeg, KvmSegment);
strict_scalar!(
    /// Strict VMCB attrib → VMX access rights.
    vmcb_to_vmx, segconv_vmcb_to_vmx, CVmcbSeg, CVmxSeg);
strict_scalar!(
    /// Strict VMX access rights → VMCB attrib.
    vmx_to_vmcb, segconv_vmx_to_vmcb, CVmxSeg, CVmcbSeg);
strict_scalar!(
    /// Strict `kvm_segment` → QEMU flags.
    kvm_to_qemu, segconv_kvm_to_qemu, KvmSegment, CQemuSeg);
strict_scalar!(
    /// Strict QEMU flags → `kvm_segment`.
    qemu_to_kvm, segconv_qemu_to_kvm, CQemuSeg, KvmSegment);
strict_scalar!(
    /// Strict `kvm_segment` → Hyper-V.
    kvm_to_hv, segconv_kvm_to_hv, KvmSegment, CHvSeg);
strict_scalar!(
    /// Strict Hyper-V → `kvm_segment`.
    hv_to_kvm, segconv_hv_to_kvm, CHvSeg, KvmSegment);

/// Bit move: VMCB attrib → VMX AR layout.
#[must_use]
pub fn svm_attrib_to_vmx_ar(attrib: u16) -> u32 {
    // SAFETY: a pure function of its argument; no pointers.
    unsafe { sys::segconv_svm_attrib_to_vmx_ar(attrib) }
}

/// Bit move: VMX AR → VMCB attrib layout.
#[must_use]
pub fn vmx_ar_to_svm_attrib(ar: u32) -> u16 {
    // SAFETY: a pure function of its argument; no pointers.
    unsafe { sys::segconv_vmx_ar_to_svm_attrib(ar) }
}

// ---- batch wrappers: element i is register i & 7 ----

fn same_len(a: usize, b: usize) -> usize {
    assert_eq!(a, b, "input and output batches differ in length");
    a
}

/// A C batch function with a VMCB CPL byte per element beside its input (`cpl in`) or
/// its output (`cpl out`).
macro_rules! cpl_batch {
    ($(#[$doc:meta])* $name:ident, $sys:ident, $in:ty, cpl in, $out:ty) => {
        $(#[$doc])*
        pub fn $name(input: &[$in], cpl: &[u8], out: &mut [$out]) {
            let n = same_len(input.len(), out.len());
            same_len(n, cpl.len());
            // SAFETY: all three slices hold `n` elements of the layouts C expects; C
            // reads `input[..n]`, `cpl[..n]` and writes `out[..n]`, which does not alias
            // them.
            unsafe { sys::$sys(input.as_ptr(), cpl.as_ptr(), out.as_mut_ptr(), n) }
        }
    };
    ($(#[$doc:meta])* $name:ident, $sys:ident, $in:ty, $out:ty, cpl out) => {
        $(#[$doc])*
        pub fn $name(input: &[$in], out: &mut [$out], cpl: &mut [u8]) {
            let n = same_len(input.len(), out.len());
            same_len(n, cpl.len());
            // SAFETY: `n` elements each, matching layouts; C writes only `out[..n]` and
            // `cpl[..n]`, distinct from `input`.
            unsafe { sys::$sys(input.as_ptr(), out.as_mut_ptr(), cpl.as_mut_ptr(), n) }
        }
    };
}

cpl_batch!(
    /// C `svm_get_segment` over a batch.
    svm_get_batch, segconv_svm_get_batch, CVmcbSeg, cpl in, KvmSegment);
cpl_batch!(
    /// C `svm_set_segment` over a batch; `cpl[i]` is 0 unless the call wrote it.
    svm_set_batch, segconv_svm_set_batch, KvmSegment, CVmcbSeg, cpl out);
cpl_batch!(
    /// Chain `kvm-svm > qemu > kvm-vmx` over a batch.
    chain_svm_qemu_vmx, segconv_chain_svm_qemu_vmx, CVmcbSeg, cpl in, CVmxSeg);
cpl_batch!(
    /// Chain `kvm-vmx > qemu > kvm-svm` over a batch.
    chain_vmx_qemu_svm, segconv_chain_vmx_qemu_svm, CVmxSeg, CVmcbSeg, cpl out);

macro_rules! batch {
    ($(#[$doc:meta])* $name:ident, $sys:ident, $in:ty, $out:ty $(=> $ret:ty)?) => {
        $(#[$doc])*
        pub fn $name(input: &[$in], out: &mut [$out]) $(-> $ret)? {
            let n = same_len(input.len(), out.len());
            // SAFETY: both slices hold `n` elements of the layouts C expects; C reads
            // `input[..n]` and writes `out[..n]`, which do not alias.
            unsafe { sys::$sys(input.as_ptr(), out.as_mut_ptr(), n) }
        }
    };
    ($(#[$doc:meta])* $name:ident, $sys:ident, $in:ty, $out:ty, refused) => {
        batch!(
            $(#[$doc])*
            /// Returns how many elements C refused (their outputs are left as they were).
            $name, $sys, $in, $out => usize
        );
    };
}

batch!(
    /// C `vmx_get_segment` over a batch.
    vmx_get_batch, segconv_vmx_get_batch, CVmxSeg, KvmSegment);
batch!(
    /// C `vmx_set_segment` over a batch.
    vmx_set_batch, segconv_vmx_set_batch, KvmSegment, CVmxSeg);
batch!(
    /// C QEMU `get_seg` over a batch.
    qemu_get_batch, segconv_qemu_get_batch, KvmSegment, CQemuSeg);
batch!(
    /// C QEMU `set_seg` over a batch.
    qemu_set_batch, segconv_qemu_set_batch, CQemuSeg, KvmSegment);
batch!(
    /// Strict `kvm_segment` → VMX over a batch.
    kvm_to_vmx_batch, segconv_kvm_to_vmx_batch, KvmSegment, CVmxSeg, refused);
batch!(
    /// Strict VMX → `kvm_segment` over a batch.
    vmx_to_kvm_batch, segconv_vmx_to_kvm_batch, CVmxSeg, KvmSegment, refused);
batch!(
    /// Strict VMCB → VMX over a batch.
    vmcb_to_vmx_batch, segconv_vmcb_to_vmx_batch, CVmcbSeg, CVmxSeg, refused);
batch!(
    /// Strict `kvm_segment` → QEMU over a batch.
    kvm_to_qemu_batch, segconv_kvm_to_qemu_batch, KvmSegment, CQemuSeg, refused);
batch!(
    /// Strict QEMU → `kvm_segment` over a batch.
    qemu_to_kvm_batch, segconv_qemu_to_kvm_batch, CQemuSeg, KvmSegment, refused);
batch!(
    /// Strict `kvm_segment` → Hyper-V over a batch.
    kvm_to_hv_batch, segconv_kvm_to_hv_batch, KvmSegment, CHvSeg, refused);
batch!(
    /// VMCB attrib → VMX AR bit move over a batch.
    svm_attrib_to_vmx_ar_batch, segconv_svm_attrib_to_vmx_ar_batch, u16, u32);
batch!(
    /// Chain `kvm-vmx > qemu > kvm-vmx` over a batch.
    chain_vmx_qemu_vmx, segconv_chain_vmx_qemu_vmx, CVmxSeg, CVmxSeg);
batch!(
    /// Chain `kvm-vmx > verbatim > kvm-vmx` over a batch.
    chain_vmx_vmx, segconv_chain_vmx_vmx, CVmxSeg, CVmxSeg);
batch!(
    /// Chain `qemu` over a batch.
    chain_qemu, segconv_chain_qemu, KvmSegment, KvmSegment);

macro_rules! vmcb_to_vmcb_chain {
    ($(#[$doc:meta])* $name:ident, $sys:ident) => {
        $(#[$doc])*
        pub fn $name(input: &[CVmcbSeg], cpl_in: &[u8], out: &mut [CVmcbSeg], cpl_out: &mut [u8]) {
            let n = same_len(input.len(), out.len());
            same_len(n, cpl_in.len());
            same_len(n, cpl_out.len());
            // SAFETY: four slices of `n` elements with the layouts C expects; C reads
            // the two inputs and writes the two outputs, none aliasing another.
            unsafe {
                sys::$sys(
                    input.as_ptr(),
                    cpl_in.as_ptr(),
                    out.as_mut_ptr(),
                    cpl_out.as_mut_ptr(),
                    n,
                )
            }
        }
    };
}

vmcb_to_vmcb_chain!(
    /// Chain `kvm-svm > qemu > kvm-svm` over a batch.
    chain_svm_qemu_svm, segconv_chain_svm_qemu_svm);
vmcb_to_vmcb_chain!(
    /// Chain `kvm-svm > verbatim > kvm-svm` over a batch.
    chain_svm_svm, segconv_chain_svm_svm);
vmcb_to_vmcb_chain!(
    /// Chain `kvm-svm > qemu > kvm-vmx > qemu > kvm-svm` over a batch.
    chain_svm_qemu_vmx_qemu_svm, segconv_chain_svm_qemu_vmx_qemu_svm);

/// Chain `verbatim > kvm-svm` over a batch.
pub fn chain_verbatim_svm(input: &[KvmSegment], out: &mut [CVmcbSeg], cpl_out: &mut [u8]) {
    let n = same_len(input.len(), out.len());
    same_len(n, cpl_out.len());
    // SAFETY: three slices of `n` elements with matching layouts; C reads `input`,
    // writes `out` and `cpl_out`.
    unsafe {
        sys::segconv_chain_verbatim_svm(input.as_ptr(), out.as_mut_ptr(), cpl_out.as_mut_ptr(), n)
    }
}
