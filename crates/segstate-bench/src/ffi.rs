//! The C baseline (`c/segconv.c`): `#[repr(C)]` mirrors of its structs and safe
//! wrappers, each declaring the `extern "C"` function it calls. `unsafe` lives only
//! here, at the calls.

use core::ffi::c_void;
use core::marker::PhantomData;

use segstate::format::hyperv::{HvSegmentAttributes, HvSegmentRegister};
use segstate::format::kvm::KvmSegment;
use segstate::format::qemu::{QemuFlags, QemuSegmentCache};
use segstate::format::svm::{SvmAttrib, VmcbSegment};
use segstate::format::vmx::{VmxAccessRights, VmxSegment};
use segstate::profile::{InFlight, SegmentValue};

use crate::rust::contract::Shape;

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

// ---- scalar wrappers ----

/// A safe wrapper of a C conversion `$sys(&input, [seg,] &mut out)`, declared here with
/// the signature segconv.h gives it: returning `out`, or for a strict one (`refusing`,
/// C returning 0 or -EINVAL) `out` when C accepted the input.
macro_rules! c_scalar {
    () => {};
    ($(#[$doc:meta])* $name:ident = $sys:ident($in:ty => $out:ty) refusing; $($rest:tt)*) => {
        c_scalar!(@ $(#[$doc])* $name = $sys($in => $out) -> i32, Option<$out>,
            |rc, out| (rc == 0).then_some(out));
        c_scalar!($($rest)*);
    };
    ($(#[$doc:meta])* $name:ident = $sys:ident($in:ty $(, $seg:ident)? => $out:ty); $($rest:tt)*) => {
        c_scalar!(@ $(#[$doc])* $name = $sys($in $(, $seg)? => $out) -> (), $out, |_rc, out| out);
        c_scalar!($($rest)*);
    };
    (@ $(#[$doc:meta])* $name:ident = $sys:ident($in:ty $(, $seg:ident)? => $out:ty) -> $c_ret:ty,
        $ret:ty, |$rc:ident, $o:ident| $result:expr) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(input: &$in $(, $seg: usize)?) -> $ret {
            unsafe extern "C" {
                fn $sys(input: *const $in, $($seg: i32,)? out: *mut $out) -> $c_ret;
            }
            let mut $o = <$out>::default();
            // SAFETY: live references to `#[repr(C)]` structs with the layouts segconv.h
            // declares; C reads `input` and writes `out` only.
            let $rc = unsafe { $sys(input, $($seg as i32,)? &mut $o) };
            $result
        }
    };
}

/// C `svm_get_segment` (today's KVM).
#[must_use]
pub fn svm_get_segment(s: &CVmcbSeg, cpl: u8, seg: usize) -> KvmSegment {
    unsafe extern "C" {
        fn segconv_svm_get_segment(s: *const CVmcbSeg, cpl: u8, seg: i32, var: *mut KvmSegment);
    }
    let mut out = KvmSegment::default();
    // SAFETY: both pointers come from live references to `#[repr(C)]` structs with
    // the layouts segconv.h declares; C only reads `s` and writes `out`.
    unsafe { segconv_svm_get_segment(s, cpl, seg as i32, &mut out) };
    out
}

/// C `svm_set_segment`; the CPL byte when the call writes it (SS).
#[must_use]
pub fn svm_set_segment(k: &KvmSegment, seg: usize) -> (CVmcbSeg, Option<u8>) {
    unsafe extern "C" {
        fn segconv_svm_set_segment(
            var: *const KvmSegment,
            seg: i32,
            s: *mut CVmcbSeg,
            cpl: *mut u8,
        ) -> i32;
    }
    let mut out = CVmcbSeg::default();
    let mut cpl = 0u8;
    // SAFETY: live references to matching `#[repr(C)]` layouts; C reads `k` and
    // writes `out` and `cpl` only.
    let wrote = unsafe { segconv_svm_set_segment(k, seg as i32, &mut out, &mut cpl) };
    (out, (wrote != 0).then_some(cpl))
}

c_scalar! {
    /// C `vmx_get_segment`.
    vmx_get_segment = segconv_vmx_get_segment(CVmxSeg => KvmSegment);
    /// C `vmx_set_segment` (unrestricted guest).
    vmx_set_segment = segconv_vmx_set_segment(KvmSegment, seg => CVmxSeg);
    /// C QEMU `get_seg`.
    qemu_get_seg = segconv_qemu_get_seg(KvmSegment => CQemuSeg);
    /// C QEMU `set_seg`.
    qemu_set_seg = segconv_qemu_set_seg(CQemuSeg => KvmSegment);
    /// Strict `kvm_segment` → VMX access rights; `None` when C refuses (-EINVAL).
    kvm_to_vmx = segconv_kvm_to_vmx(KvmSegment => CVmxSeg) refusing;
    /// Strict VMX access rights → `kvm_segment`.
    vmx_to_kvm = segconv_vmx_to_kvm(CVmxSeg => KvmSegment) refusing;
    /// Strict VMCB attrib → VMX access rights.
    vmcb_to_vmx = segconv_vmcb_to_vmx(CVmcbSeg => CVmxSeg) refusing;
    /// Strict VMX access rights → VMCB attrib.
    vmx_to_vmcb = segconv_vmx_to_vmcb(CVmxSeg => CVmcbSeg) refusing;
    /// Strict `kvm_segment` → QEMU flags.
    kvm_to_qemu = segconv_kvm_to_qemu(KvmSegment => CQemuSeg) refusing;
    /// Strict QEMU flags → `kvm_segment`.
    qemu_to_kvm = segconv_qemu_to_kvm(CQemuSeg => KvmSegment) refusing;
    /// Strict `kvm_segment` → Hyper-V.
    kvm_to_hv = segconv_kvm_to_hv(KvmSegment => CHvSeg) refusing;
    /// Strict Hyper-V → `kvm_segment`.
    hv_to_kvm = segconv_hv_to_kvm(CHvSeg => KvmSegment) refusing;
}

unsafe extern "C" {
    fn segconv_svm_attrib_to_vmx_ar(attrib: u16) -> u32;
    fn segconv_vmx_ar_to_svm_attrib(ar: u32) -> u16;
}

/// Bit move: VMCB attrib → VMX AR layout.
#[must_use]
pub fn svm_attrib_to_vmx_ar(attrib: u16) -> u32 {
    // SAFETY: a pure function of its argument; no pointers.
    unsafe { segconv_svm_attrib_to_vmx_ar(attrib) }
}

/// Bit move: VMX AR → VMCB attrib layout.
#[must_use]
pub fn vmx_ar_to_svm_attrib(ar: u32) -> u16 {
    // SAFETY: a pure function of its argument; no pointers.
    unsafe { segconv_vmx_ar_to_svm_attrib(ar) }
}

// ---- batch wrappers: element i is register i & 7 ----

/// The length every slice of a batch call shares.
fn common_len(lengths: &[usize]) -> usize {
    let n = lengths[0];
    assert!(
        lengths.iter().all(|&l| l == n),
        "the slices of a batch differ in length: {lengths:?}"
    );
    n
}

/// A safe wrapper of a C batch function `$sys(inputs..., outputs..., n)`: every slice
/// holds `n` elements, inputs are read and outputs written (element i is register
/// i & 7). The C function is declared here, with the signature segconv.h gives it.
macro_rules! c_batch {
    ($($(#[$doc:meta])* $name:ident = $sys:ident(
        $($input:ident: $in:ty),+ => $($output:ident: $out:ty),+
    ) $(-> $ret:ty)?;)*) => {$(
        $(#[$doc])*
        pub fn $name($($input: &[$in],)+ $($output: &mut [$out],)+) $(-> $ret)? {
            unsafe extern "C" {
                fn $sys($($input: *const $in,)+ $($output: *mut $out,)+ n: usize) $(-> $ret)?;
            }
            let n = common_len(&[$($input.len(),)+ $($output.len(),)+]);
            // SAFETY: every slice holds `n` elements of the `#[repr(C)]` layout C
            // expects; C reads the inputs and writes the outputs, `n` elements each, and
            // the outputs, mutable borrows, alias nothing else.
            unsafe { $sys($($input.as_ptr(),)+ $($output.as_mut_ptr(),)+ n) }
        }
    )*};
}

c_batch! {
    /// C `svm_get_segment` over a batch.
    svm_get_batch = segconv_svm_get_batch(input: CVmcbSeg, cpl: u8 => out: KvmSegment);
    /// C `svm_set_segment` over a batch; `cpl[i]` is 0 unless the call wrote it.
    svm_set_batch = segconv_svm_set_batch(input: KvmSegment => out: CVmcbSeg, cpl: u8);
    /// C `vmx_get_segment` over a batch.
    vmx_get_batch = segconv_vmx_get_batch(input: CVmxSeg => out: KvmSegment);
    /// C `vmx_set_segment` over a batch.
    vmx_set_batch = segconv_vmx_set_batch(input: KvmSegment => out: CVmxSeg);
    /// C QEMU `get_seg` over a batch.
    qemu_get_batch = segconv_qemu_get_batch(input: KvmSegment => out: CQemuSeg);
    /// C QEMU `set_seg` over a batch.
    qemu_set_batch = segconv_qemu_set_batch(input: CQemuSeg => out: KvmSegment);
    /// Strict `kvm_segment` → VMX over a batch; returns how many C refused (their
    /// outputs are left as they were), as do the strict batches below.
    kvm_to_vmx_batch = segconv_kvm_to_vmx_batch(input: KvmSegment => out: CVmxSeg) -> usize;
    /// Strict VMX → `kvm_segment` over a batch.
    vmx_to_kvm_batch = segconv_vmx_to_kvm_batch(input: CVmxSeg => out: KvmSegment) -> usize;
    /// Strict VMCB → VMX over a batch.
    vmcb_to_vmx_batch = segconv_vmcb_to_vmx_batch(input: CVmcbSeg => out: CVmxSeg) -> usize;
    /// Strict `kvm_segment` → QEMU over a batch.
    kvm_to_qemu_batch = segconv_kvm_to_qemu_batch(input: KvmSegment => out: CQemuSeg) -> usize;
    /// Strict QEMU → `kvm_segment` over a batch.
    qemu_to_kvm_batch = segconv_qemu_to_kvm_batch(input: CQemuSeg => out: KvmSegment) -> usize;
    /// Strict `kvm_segment` → Hyper-V over a batch.
    kvm_to_hv_batch = segconv_kvm_to_hv_batch(input: KvmSegment => out: CHvSeg) -> usize;
    /// VMCB attrib → VMX AR bit move over a batch.
    svm_attrib_to_vmx_ar_batch = segconv_svm_attrib_to_vmx_ar_batch(input: u16 => out: u32);
    // Whole syncs, one C function per built-in chain shape.
    /// Chain `kvm-svm > qemu > kvm-svm` over a batch.
    chain_svm_qemu_svm = segconv_chain_svm_qemu_svm(
        input: CVmcbSeg, cpl_in: u8 => out: CVmcbSeg, cpl_out: u8);
    /// Chain `kvm-svm > verbatim > kvm-svm` over a batch.
    chain_svm_svm = segconv_chain_svm_svm(
        input: CVmcbSeg, cpl_in: u8 => out: CVmcbSeg, cpl_out: u8);
    /// Chain `kvm-svm > qemu > kvm-vmx > qemu > kvm-svm` over a batch.
    chain_svm_qemu_vmx_qemu_svm = segconv_chain_svm_qemu_vmx_qemu_svm(
        input: CVmcbSeg, cpl_in: u8 => out: CVmcbSeg, cpl_out: u8);
    /// Chain `kvm-svm > qemu > kvm-vmx` over a batch.
    chain_svm_qemu_vmx = segconv_chain_svm_qemu_vmx(input: CVmcbSeg, cpl: u8 => out: CVmxSeg);
    /// Chain `kvm-vmx > qemu > kvm-svm` over a batch.
    chain_vmx_qemu_svm = segconv_chain_vmx_qemu_svm(input: CVmxSeg => out: CVmcbSeg, cpl: u8);
    /// Chain `kvm-vmx > qemu > kvm-vmx` over a batch.
    chain_vmx_qemu_vmx = segconv_chain_vmx_qemu_vmx(input: CVmxSeg => out: CVmxSeg);
    /// Chain `kvm-vmx > verbatim > kvm-vmx` over a batch.
    chain_vmx_vmx = segconv_chain_vmx_vmx(input: CVmxSeg => out: CVmxSeg);
    /// Chain `verbatim > kvm-svm` over a batch.
    chain_verbatim_svm = segconv_chain_verbatim_svm(
        input: KvmSegment => out: CVmcbSeg, cpl_out: u8);
    /// Chain `qemu` over a batch.
    chain_qemu = segconv_chain_qemu(input: KvmSegment => out: KvmSegment);
}

// ---- one segment of a chain, called through a pointer ----

/// `segconv_sync_fn`: one segment of one chain shape, `in` and `out` pointing at that
/// shape's structs.
type RawSync = unsafe extern "C" fn(*const c_void, u8, i32, *mut c_void, *mut u8);

/// A C sync of one segment, `segconv_one_*`, as a VMM that picks its sync at run time
/// holds it: a pointer of one type for every chain shape. `I` and `O` are the structs
/// the function reads and writes; only the constants below exist, each pairing a
/// function with its own structs, so [`one_batch`] cannot hand C the wrong layout.
pub struct OneSync<I, O> {
    raw: RawSync,
    structs: PhantomData<fn(&I) -> O>,
}

impl<I, O> Clone for OneSync<I, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, O> Copy for OneSync<I, O> {}

impl<I, O> core::fmt::Debug for OneSync<I, O> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("OneSync").field(&self.raw).finish()
    }
}

/// The [`OneSync`] constants, each declaring the C function it points at.
macro_rules! one_sync {
    ($($(#[$doc:meta])* $name:ident: $in:ty => $out:ty = $sys:ident;)*) => {
        unsafe extern "C" {
            $(fn $sys(input: *const c_void, cpl_in: u8, seg: i32, out: *mut c_void, cpl_out: *mut u8);)*
        }
        $(
            $(#[$doc])*
            pub const $name: OneSync<$in, $out> = OneSync { raw: $sys, structs: PhantomData };
        )*
    };
}

one_sync! {
    /// `kvm-svm > qemu > kvm-svm`, one segment.
    ONE_SVM_QEMU_SVM: CVmcbSeg => CVmcbSeg = segconv_one_svm_qemu_svm;
    /// `kvm-svm > verbatim > kvm-svm`, one segment.
    ONE_SVM_SVM: CVmcbSeg => CVmcbSeg = segconv_one_svm_svm;
    /// `kvm-vmx > qemu > kvm-vmx`, one segment.
    ONE_VMX_QEMU_VMX: CVmxSeg => CVmxSeg = segconv_one_vmx_qemu_vmx;
    /// `kvm-svm > qemu > kvm-vmx`, one segment.
    ONE_SVM_QEMU_VMX: CVmcbSeg => CVmxSeg = segconv_one_svm_qemu_vmx;
    /// `kvm-vmx > qemu > kvm-svm`, one segment.
    ONE_VMX_QEMU_SVM: CVmxSeg => CVmcbSeg = segconv_one_vmx_qemu_svm;
    /// `kvm-svm > qemu > kvm-vmx > qemu > kvm-svm`, one segment.
    ONE_SVM_QEMU_VMX_QEMU_SVM: CVmcbSeg => CVmcbSeg = segconv_one_svm_qemu_vmx_qemu_svm;
    /// `kvm-vmx > verbatim > kvm-vmx`, one segment.
    ONE_VMX_VMX: CVmxSeg => CVmxSeg = segconv_one_vmx_vmx;
    /// `verbatim > kvm-svm`, one segment.
    ONE_VERBATIM_SVM: KvmSegment => CVmcbSeg = segconv_one_verbatim_svm;
    /// `verbatim > kvm-vmx` (`vmx_set_segment`), one segment.
    ONE_VERBATIM_VMX: KvmSegment => CVmxSeg = segconv_one_verbatim_vmx;
    /// `qemu`, one segment.
    ONE_QEMU: KvmSegment => KvmSegment = segconv_one_qemu;
}

/// `sync` once per element, out of line through its pointer, in C's own loop
/// (`segconv_chain_one_batch`; element i is register i & 7): a VMCB input's CPL byte
/// from `cpl_in`, a VMCB output's into `cpl_out` (0 unless written; other shapes
/// neither read nor write them).
pub fn one_batch<I, O>(
    sync: OneSync<I, O>,
    input: &[I],
    cpl_in: &[u8],
    out: &mut [O],
    cpl_out: &mut [u8],
) {
    unsafe extern "C" {
        fn segconv_chain_one_batch(
            sync: RawSync,
            input: *const c_void,
            in_size: usize,
            cpl_in: *const u8,
            out: *mut c_void,
            out_size: usize,
            cpl_out: *mut u8,
            n: usize,
        );
    }
    let n = common_len(&[input.len(), cpl_in.len(), out.len(), cpl_out.len()]);
    // SAFETY: `sync` is one of the `OneSync` constants, a C function reading one `I` and
    // writing one `O` (`#[repr(C)]`, the layouts segconv.h declares) at the pointers
    // it is given, and one CPL byte each way; every slice holds `n` elements, the C
    // loop steps by `size_of` of each, and the outputs, mutable borrows, alias nothing.
    unsafe {
        segconv_chain_one_batch(
            sync.raw,
            input.as_ptr().cast(),
            size_of::<I>(),
            cpl_in.as_ptr(),
            out.as_mut_ptr().cast(),
            size_of::<O>(),
            cpl_out.as_mut_ptr(),
            n,
        );
    }
}

// ---- Chain::run_segment's contract, in C ----

/// The value of `struct segconv_in_flight`: one segment in the member its `format`
/// names.
#[derive(Clone, Copy)]
#[repr(C)]
union CSegmentValue {
    vmcb: CVmcbSeg,
    vmx: CVmxSeg,
    kvm: KvmSegment,
}

/// `struct segconv_in_flight`, what `segconv_contract_batch` reads and writes: a
/// segment tagged with its format (`enum segconv_format`), and the VMCB.CPL byte.
/// Only [`CInFlight::of`] makes one, so `format` always names a member that holds a
/// value, and every byte of the union is initialised.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct CInFlight {
    format: u32,
    value: CSegmentValue,
    vmcb_cpl: u8,
}

// The C contract moves as many bytes a segment as `run_segment` does.
const _: () = assert!(size_of::<CInFlight>() == size_of::<InFlight>());

/// `enum segconv_format`.
const FORMAT_VMCB: u32 = 0;
const FORMAT_VMCS: u32 = 1;
const FORMAT_KVM: u32 = 2;

impl CInFlight {
    /// `f` in C's layout; `None` for a format the C contract has no member for (a
    /// QEMU cache, another stack's shape).
    #[must_use]
    pub fn of(f: &InFlight) -> Option<CInFlight> {
        // All 24 bytes of the union written first (a `kvm_segment` has no padding),
        // then the member `format` names.
        let mut value = CSegmentValue {
            kvm: KvmSegment::default(),
        };
        let format = match f.value {
            SegmentValue::Vmcb(v) => {
                value.vmcb = CVmcbSeg::from(&v);
                FORMAT_VMCB
            }
            SegmentValue::Vmcs(v) => {
                value.vmx = CVmxSeg::from(&v);
                FORMAT_VMCS
            }
            SegmentValue::Kvm(k) => {
                value.kvm = k;
                FORMAT_KVM
            }
            _ => return None,
        };
        Some(CInFlight {
            format,
            value,
            vmcb_cpl: f.vmcb_cpl,
        })
    }

    /// Each of `values` in C's layout, for the bench's inputs and outputs: all of them
    /// in a format the C contract holds (a VMCB, a VMCS or a `kvm_segment`).
    ///
    /// # Panics
    ///
    /// On a value in another format, naming it.
    #[must_use]
    pub fn all(values: &[InFlight]) -> Vec<CInFlight> {
        values
            .iter()
            .map(|f| {
                CInFlight::of(f).unwrap_or_else(|| panic!("C's contract holds no {:?}", f.value))
            })
            .collect()
    }

    /// The segment and CPL byte, read from the member `format` names.
    #[must_use]
    pub fn in_flight(&self) -> InFlight {
        // SAFETY: `format` names the member last written, by `of` or by C's contract
        // (which writes the member of the format it sets), and every byte of the union
        // was initialised by `of`: the read is of an initialised value of that type.
        let value = unsafe {
            match self.format {
                FORMAT_VMCB => SegmentValue::Vmcb(VmcbSegment::from(&self.value.vmcb)),
                FORMAT_VMCS => SegmentValue::Vmcs(VmxSegment::from(&self.value.vmx)),
                FORMAT_KVM => SegmentValue::Kvm(self.value.kvm),
                other => unreachable!("segconv_contract_batch wrote format {other}"),
            }
        };
        InFlight {
            value,
            vmcb_cpl: self.vmcb_cpl,
        }
    }
}

impl core::fmt::Debug for CInFlight {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("CInFlight").field(&self.in_flight()).finish()
    }
}

/// `segconv_contract_batch`: element i (register i & 7) of `input` through `shape`,
/// chosen at run time, into `out[i]`; a value not in the shape's source format is
/// refused and its output left as it was. Returns how many were refused.
pub fn contract_batch(shape: Shape, input: &[CInFlight], out: &mut [CInFlight]) -> usize {
    unsafe extern "C" {
        fn segconv_contract_batch(
            shape: i32,
            input: *const CInFlight,
            out: *mut CInFlight,
            n: usize,
        ) -> usize;
    }
    let n = common_len(&[input.len(), out.len()]);
    // SAFETY: both slices hold `n` `#[repr(C)]` values of `struct segconv_in_flight`'s
    // layout; C reads `input` and writes whole members of `out` (a mutable borrow,
    // aliasing nothing) of the format it sets there.
    unsafe { segconv_contract_batch(shape.c_value(), input.as_ptr(), out.as_mut_ptr(), n) }
}
