//! The Rust side of every comparison: segstate's functions over the same batches
//! the C baseline runs, element i being register `i & 7`. Each batch function is
//! `#[inline(never)]`, as the C ones are behind FFI.

use segstate::arch::{PerSegReg, SegReg, Segment};
use segstate::format::hyperv::HvSegmentRegister;
use segstate::format::kvm::KvmSegment;
use segstate::format::qemu::QemuSegmentCache;
use segstate::format::svm::{SvmAttrib, VmcbSegment};
use segstate::format::vmx::VmxSegment;
use segstate::profile::{
    Chain, InFlight, Profile, RuleSet, VcpuSegments, WrongSourceFormat, qemu, svm, vmx,
};

const SVM: RuleSet = Profile::KVM_SVM.rules;
const VMX: RuleSet = Profile::KVM_VMX.rules;
const QEMU: RuleSet = Profile::QEMU.rules;

/// The register of batch element `i`: `i & 7`, as the C's batches number it. Through
/// `from_low_bits` the number is the register, as C's `int seg` is; `SegReg::ALL[i & 7]`
/// cost a table load and, at each `match` on the register, a bounds check C does not
/// make (2-7 instructions a segment on `ratios chains`' one-segment rows,
/// `BENCHMARKS.md` §1 step 55).
#[inline]
#[must_use]
pub fn reg_of(i: usize) -> SegReg {
    // Only the low three bits are read: the truncation is the point.
    SegReg::from_low_bits(i as u8)
}

/// `svm::get_segment` with `Profile::KVM_SVM`.
#[inline(never)]
pub fn svm_get_batch(input: &[VmcbSegment], cpl: &[u8], out: &mut [KvmSegment]) {
    for (i, ((v, c), o)) in input.iter().zip(cpl).zip(out.iter_mut()).enumerate() {
        *o = svm::get_segment(SVM, reg_of(i), v, *c);
    }
}

/// `svm::set_segment` with `Profile::KVM_SVM`; `cpl[i]` is 0 unless written.
#[inline(never)]
pub fn svm_set_batch(input: &[KvmSegment], out: &mut [VmcbSegment], cpl: &mut [u8]) {
    for (i, ((k, o), c)) in input.iter().zip(out.iter_mut()).zip(cpl).enumerate() {
        let (v, written) = svm::set_segment(SVM, reg_of(i), k);
        *o = v;
        *c = written.unwrap_or(0);
    }
}

/// `vmx::get_segment` with `Profile::KVM_VMX`.
#[inline(never)]
pub fn vmx_get_batch(input: &[VmxSegment], out: &mut [KvmSegment]) {
    for (v, o) in input.iter().zip(out.iter_mut()) {
        *o = vmx::get_segment(VMX, v);
    }
}

/// `vmx::set_segment` with `Profile::KVM_VMX`.
#[inline(never)]
pub fn vmx_set_batch(input: &[KvmSegment], out: &mut [VmxSegment]) {
    for (i, (k, o)) in input.iter().zip(out.iter_mut()).enumerate() {
        *o = vmx::set_segment(VMX, reg_of(i), k);
    }
}

/// `qemu::get_seg` with `Profile::QEMU` (the previous cache is not read by it).
#[inline(never)]
pub fn qemu_get_batch(input: &[KvmSegment], out: &mut [QemuSegmentCache]) {
    let previous = QemuSegmentCache::default();
    for (i, (k, o)) in input.iter().zip(out.iter_mut()).enumerate() {
        *o = qemu::get_seg(QEMU, reg_of(i), k, &previous);
    }
}

/// `qemu::set_seg` with `Profile::QEMU`.
#[inline(never)]
pub fn qemu_set_batch(input: &[QemuSegmentCache], out: &mut [KvmSegment]) {
    for (q, o) in input.iter().zip(out.iter_mut()) {
        *o = qemu::set_seg(QEMU, q);
    }
}

/// A strict conversion through [`Segment`]: `$in` → `Segment` → `$out`, each step
/// refusing what it cannot represent.
macro_rules! strict {
    ($($name:ident: $in:ident => $out:ident),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($in), "` → `Segment` → `", stringify!($out), "`.")]
        /// Returns how many were refused (their outputs are left as they were).
        #[inline(never)]
        pub fn $name(input: &[$in], out: &mut [$out]) -> usize {
            let mut refused = 0;
            for (x, o) in input.iter().zip(out.iter_mut()) {
                match Segment::try_from(*x).ok().and_then(|s| $out::try_from(s).ok()) {
                    Some(v) => *o = v,
                    None => refused += 1,
                }
            }
            refused
        }
    )*};
}

strict!(
    kvm_to_vmx_batch: KvmSegment => VmxSegment,
    vmx_to_kvm_batch: VmxSegment => KvmSegment,
    vmcb_to_vmx_batch: VmcbSegment => VmxSegment,
    kvm_to_qemu_batch: KvmSegment => QemuSegmentCache,
    qemu_to_kvm_batch: QemuSegmentCache => KvmSegment,
    kvm_to_hv_batch: KvmSegment => HvSegmentRegister,
);

/// `SvmAttrib::to_vmx_layout`.
#[inline(never)]
pub fn svm_attrib_to_vmx_ar_batch(input: &[u16], out: &mut [u32]) {
    for (a, o) in input.iter().zip(out.iter_mut()) {
        *o = SvmAttrib(*a).to_vmx_layout();
    }
}

/// `chain.run_segment` over a batch; returns how many runs failed.
#[inline(never)]
pub fn chain_batch(chain: &Chain, input: &[InFlight], out: &mut [InFlight]) -> usize {
    chain_batch_body(chain, input, out)
}

/// [`chain_batch`]'s loop, in each function that runs it (so that with `second-caller`
/// `run_segment` is called in two functions).
#[inline(always)]
fn chain_batch_body(chain: &Chain, input: &[InFlight], out: &mut [InFlight]) -> usize {
    let previous = QemuSegmentCache::default();
    let mut failed = 0;
    for (i, (x, o)) in input.iter().zip(out.iter_mut()).enumerate() {
        match chain.run_segment(reg_of(i), *x, &previous) {
            Ok(v) => *o = v,
            Err(_) => failed += 1,
        }
    }
    failed
}

/// [`chain_batch`] again, built with the `second-caller` feature only and never run: a
/// second call of [`Chain::run_segment`] in this module, as a VMM that calls it from two
/// places in one codegen unit has. LLVM then inlines `run_segment` into neither: its
/// body, every inlined pipeline's arm, is far over the inlining threshold, which a
/// single call passes as the last call of a local function. So with the feature the
/// `segment` column of `ratios chains` measures `run_segment` out of line, its result
/// handed back through memory (`BENCHMARKS.md` §1, step 50).
#[cfg(feature = "second-caller")]
#[inline(never)]
pub fn chain_batch_second_caller(chain: &Chain, input: &[InFlight], out: &mut [InFlight]) -> usize {
    chain_batch_body(chain, input, out)
}

/// `chain.run_segment_into` over a batch, each output written in place; returns how
/// many runs failed.
#[inline(never)]
pub fn chain_batch_into(chain: &Chain, input: &[InFlight], out: &mut [InFlight]) -> usize {
    chain_batch_into_body(chain, input, out)
}

/// [`chain_batch_into`]'s loop, in each function that runs it (as
/// [`chain_batch_body`]).
#[inline(always)]
fn chain_batch_into_body(chain: &Chain, input: &[InFlight], out: &mut [InFlight]) -> usize {
    let previous = QemuSegmentCache::default();
    let mut failed = 0;
    for (i, (x, o)) in input.iter().zip(out.iter_mut()).enumerate() {
        if chain.run_segment_into(reg_of(i), x, &previous, o).is_err() {
            failed += 1;
        }
    }
    failed
}

/// [`chain_batch_into`] again, with the `second-caller` feature only and never run (as
/// [`chain_batch_second_caller`]): with it, the `into` column of `ratios chains`
/// measures `run_segment_into` out of line.
#[cfg(feature = "second-caller")]
#[inline(never)]
pub fn chain_batch_into_second_caller(
    chain: &Chain,
    input: &[InFlight],
    out: &mut [InFlight],
) -> usize {
    chain_batch_into_body(chain, input, out)
}

/// A function of [`Chain::run_segment`]'s argument and return types.
pub type SegmentCall =
    fn(SegReg, InFlight, &QemuSegmentCache) -> Result<InFlight, WrongSourceFormat>;

/// A [`SegmentCall`] that converts nothing: the input, unchanged.
#[inline(never)]
pub fn unconverted(
    _: SegReg,
    input: InFlight,
    _: &QemuSegmentCache,
) -> Result<InFlight, WrongSourceFormat> {
    Ok(input)
}

/// [`chain_batch`]'s loop calling `f` instead of a chain: with [`unconverted`] behind
/// `black_box`, the floor of `run_segment`'s shape (an indirect call, the 40-byte
/// `InFlight` in, a `Result<InFlight, _>` out) with no conversion in it.
#[inline(never)]
pub fn segment_call_batch(f: SegmentCall, input: &[InFlight], out: &mut [InFlight]) -> usize {
    let previous = QemuSegmentCache::default();
    let mut failed = 0;
    for (i, (x, o)) in input.iter().zip(out.iter_mut()).enumerate() {
        match f(reg_of(i), *x, &previous) {
            Ok(v) => *o = v,
            Err(_) => failed += 1,
        }
    }
    failed
}

/// `chain.run` over whole vCPUs (eight registers each); returns how many runs failed.
#[inline(never)]
pub fn chain_run_vcpus(chain: &Chain, input: &[VcpuSegments], out: &mut [VcpuSegments]) -> usize {
    let previous = PerSegReg::from_fn(|_| QemuSegmentCache::default());
    let mut failed = 0;
    for (x, o) in input.iter().zip(out.iter_mut()) {
        match chain.run(x, &previous) {
            Ok(v) => *o = v,
            Err(_) => failed += 1,
        }
    }
    failed
}

/// `chain.run_into` over whole vCPUs (eight registers each), each written in place;
/// returns how many runs failed.
#[inline(never)]
pub fn chain_run_vcpus_into(
    chain: &Chain,
    input: &[VcpuSegments],
    out: &mut [VcpuSegments],
) -> usize {
    let previous = PerSegReg::from_fn(|_| QemuSegmentCache::default());
    let mut failed = 0;
    for (x, o) in input.iter().zip(out.iter_mut()) {
        if chain.run_into(x, &previous, o).is_err() {
            failed += 1;
        }
    }
    failed
}

/// `chain.run_batch` once per register over `out`, first copied from `input` (the
/// batch is converted in place); returns how many batches failed.
#[inline(never)]
pub fn chain_run_batches(
    chain: &Chain,
    input: &PerSegReg<Vec<InFlight>>,
    out: &mut PerSegReg<Vec<InFlight>>,
) -> usize {
    let previous = QemuSegmentCache::default();
    let mut failed = 0;
    for reg in SegReg::ALL {
        out[reg].copy_from_slice(&input[reg]);
        failed += usize::from(chain.run_batch(reg, &mut out[reg], &previous).is_err());
    }
    failed
}

/// Only the copy-in of [`chain_run_batches`], each register's batch copied from `input`
/// to `out`: the bench's price for feeding an in-place API the same inputs every round,
/// which the C (input and output arrays apart) does not pay. Returns the elements copied.
#[inline(never)]
pub fn copy_batches(input: &PerSegReg<Vec<InFlight>>, out: &mut PerSegReg<Vec<InFlight>>) -> usize {
    let mut copied = 0;
    for reg in SegReg::ALL {
        out[reg].copy_from_slice(&input[reg]);
        copied += out[reg].len();
    }
    copied
}

/// Hand-written Rust chains: the same profile functions called in sequence, with
/// the rules as constants, to separate the conversions' cost from `Chain`'s.
pub mod direct {
    use super::{QEMU, SVM, VMX, reg_of};
    use segstate::arch::SegReg;
    use segstate::format::kvm::KvmSegment;
    use segstate::format::qemu::QemuSegmentCache;
    use segstate::format::svm::VmcbSegment;
    use segstate::format::vmx::VmxSegment;
    use segstate::profile::{qemu, svm, vmx};

    #[inline(always)]
    fn qemu_sync(reg: SegReg, k: &KvmSegment) -> KvmSegment {
        let q = qemu::get_seg(QEMU, reg, k, &QemuSegmentCache::default());
        qemu::set_seg(QEMU, &q)
    }

    #[inline(always)]
    fn svm_set_fresh(reg: SegReg, k: &KvmSegment) -> (VmcbSegment, u8) {
        let (v, c) = svm::set_segment(SVM, reg, k);
        (v, c.unwrap_or(0))
    }

    /// One segment of a chain shape for one register, typed: the input and its CPL
    /// byte (read only from a VMCB), the output and its CPL byte (written only into a
    /// VMCB). Eight of them per shape, one per register with the register a constant
    /// (as `Chain::run_segment`'s entries are), called through a pointer
    /// ([`typed_one_batch`]): what a typed entry per chain shape, taking the format
    /// struct by reference, would cost out of line. A bench experiment beside
    /// `Chain::run_segment`, not segstate's API. (With the register an argument, as C's
    /// `segconv_sync_fn` takes it, each call switched on it: 5-11 ns a segment on the
    /// rows from a VMCB.)
    pub type TypedSync<I, O> = fn(&I, u8, &mut O, &mut u8);

    /// The typed one-segment body of each chain shape (`NAME_one`) and its eight
    /// [`TypedSync`] entries (`ONE_NAME`, in `SegReg::ALL` order), which
    /// [`typed_one_batch`] calls through a pointer. (The batch loops below keep their
    /// own bodies: calling these from them made "direct" 0.1-1.3 ns a segment slower on
    /// the rows from a VMCB, `ratios 9 chains`, and "direct" is the Rust floor.)
    macro_rules! one {
        ($($(#[$doc:meta])* $name:ident / $entries:ident($x:ident: $in:ty, $c:pat, $reg:ident,
            $o:ident: $out:ty, $oc:pat) $body:block)*) => {$(
            $(#[$doc])*
            #[inline(always)]
            pub fn $name($x: &$in, $c: u8, $reg: SegReg, $o: &mut $out, $oc: &mut u8) $body

            $(#[$doc])*
            /// Its eight typed entries, one per register.
            pub const $entries: [TypedSync<$in, $out>; 8] = {
                fn at<const R: usize>(x: &$in, c: u8, o: &mut $out, oc: &mut u8) {
                    $name(x, c, SegReg::ALL[R], o, oc);
                }
                [at::<0>, at::<1>, at::<2>, at::<3>, at::<4>, at::<5>, at::<6>, at::<7>]
            };
        )*};
    }

    one! {
        /// `kvm-svm > qemu > kvm-svm`, one segment.
        svm_qemu_svm_one / ONE_SVM_QEMU_SVM(v: VmcbSegment, c, reg, o: VmcbSegment, oc) {
            (*o, *oc) = svm_set_fresh(reg, &qemu_sync(reg, &svm::get_segment(SVM, reg, v, c)));
        }
        /// `kvm-svm > verbatim > kvm-svm`, one segment.
        svm_svm_one / ONE_SVM_SVM(v: VmcbSegment, c, reg, o: VmcbSegment, oc) {
            (*o, *oc) = svm_set_fresh(reg, &svm::get_segment(SVM, reg, v, c));
        }
        /// `kvm-svm > qemu > kvm-vmx > qemu > kvm-svm`, one segment.
        svm_qemu_vmx_qemu_svm_one / ONE_SVM_QEMU_VMX_QEMU_SVM(v: VmcbSegment, c, reg, o: VmcbSegment, oc) {
            let k = qemu_sync(reg, &svm::get_segment(SVM, reg, v, c));
            let k = qemu_sync(reg, &vmx::get_segment(VMX, &vmx::set_segment(VMX, reg, &k)));
            (*o, *oc) = svm_set_fresh(reg, &k);
        }
        /// `kvm-svm > qemu > kvm-vmx`, one segment.
        svm_qemu_vmx_one / ONE_SVM_QEMU_VMX(v: VmcbSegment, c, reg, o: VmxSegment, _) {
            *o = vmx::set_segment(VMX, reg, &qemu_sync(reg, &svm::get_segment(SVM, reg, v, c)));
        }
        /// `kvm-vmx > qemu > kvm-svm`, one segment.
        vmx_qemu_svm_one / ONE_VMX_QEMU_SVM(v: VmxSegment, _, reg, o: VmcbSegment, oc) {
            (*o, *oc) = svm_set_fresh(reg, &qemu_sync(reg, &vmx::get_segment(VMX, v)));
        }
        /// `kvm-vmx > qemu > kvm-vmx`, one segment.
        vmx_qemu_vmx_one / ONE_VMX_QEMU_VMX(v: VmxSegment, _, reg, o: VmxSegment, _) {
            *o = vmx::set_segment(VMX, reg, &qemu_sync(reg, &vmx::get_segment(VMX, v)));
        }
        /// `kvm-vmx > verbatim > kvm-vmx`, one segment.
        vmx_vmx_one / ONE_VMX_VMX(v: VmxSegment, _, reg, o: VmxSegment, _) {
            *o = vmx::set_segment(VMX, reg, &vmx::get_segment(VMX, v));
        }
        /// `verbatim > kvm-svm`, one segment.
        verbatim_svm_one / ONE_VERBATIM_SVM(k: KvmSegment, _, reg, o: VmcbSegment, oc) {
            (*o, *oc) = svm_set_fresh(reg, k);
        }
        /// `verbatim > kvm-vmx` (`vmx::set_segment`), one segment.
        verbatim_vmx_one / ONE_VERBATIM_VMX(k: KvmSegment, _, reg, o: VmxSegment, _) {
            *o = vmx::set_segment(VMX, reg, k);
        }
        /// `qemu`, one segment.
        qemu_one / ONE_QEMU(k: KvmSegment, _, reg, o: KvmSegment, _) {
            *o = qemu_sync(reg, k);
        }
    }

    /// Register i & 7's entry of `sync` once per element i, out of line through its
    /// pointer: the typed counterpart of `ffi::one_batch`.
    #[inline(never)]
    pub fn typed_one_batch<I, O>(
        sync: &[TypedSync<I, O>; 8],
        input: &[I],
        cpl_in: &[u8],
        out: &mut [O],
        cpl_out: &mut [u8],
    ) {
        let it = input.iter().zip(cpl_in).zip(out.iter_mut().zip(cpl_out));
        for (i, ((x, c), (o, oc))) in it.enumerate() {
            sync[i & 7](x, *c, o, oc);
        }
    }

    /// Each VMCB segment of `input` with its CPL byte through `chain`, into `out` and
    /// `cpl_out`: the loop of every VMCB-to-VMCB chain below.
    #[inline(always)]
    fn vmcb_to_vmcb(
        input: &[VmcbSegment],
        cpl_in: &[u8],
        out: &mut [VmcbSegment],
        cpl_out: &mut [u8],
        chain: impl Fn(SegReg, KvmSegment) -> KvmSegment,
    ) {
        let it = input.iter().zip(cpl_in).zip(out.iter_mut().zip(cpl_out));
        for (i, ((v, c), (o, oc))) in it.enumerate() {
            let reg = reg_of(i);
            (*o, *oc) = svm_set_fresh(reg, &chain(reg, svm::get_segment(SVM, reg, v, *c)));
        }
    }

    /// A VMCB-to-VMCB chain: `svm_get_segment`, `$between` on the `kvm_segment`, then
    /// `svm_set_segment`.
    macro_rules! vmcb_chain {
        ($(#[$doc:meta])* $name:ident, $between:expr) => {
            $(#[$doc])*
            #[inline(never)]
            pub fn $name(
                input: &[VmcbSegment],
                cpl_in: &[u8],
                out: &mut [VmcbSegment],
                cpl_out: &mut [u8],
            ) {
                vmcb_to_vmcb(input, cpl_in, out, cpl_out, $between);
            }
        };
    }

    vmcb_chain!(
        /// `kvm-svm > qemu > kvm-svm`.
        svm_qemu_svm,
        |reg, k| qemu_sync(reg, &k)
    );
    vmcb_chain!(
        /// `kvm-svm > verbatim > kvm-svm`.
        svm_svm,
        |_, k| k
    );
    vmcb_chain!(
        /// `kvm-svm > qemu > kvm-vmx > qemu > kvm-svm`.
        svm_qemu_vmx_qemu_svm,
        |reg, k| {
            let x = vmx::set_segment(VMX, reg, &qemu_sync(reg, &k));
            qemu_sync(reg, &vmx::get_segment(VMX, &x))
        }
    );

    /// `kvm-vmx > qemu > kvm-vmx`.
    #[inline(never)]
    pub fn vmx_qemu_vmx(input: &[VmxSegment], out: &mut [VmxSegment]) {
        for (i, (v, o)) in input.iter().zip(out.iter_mut()).enumerate() {
            let reg = reg_of(i);
            *o = vmx::set_segment(VMX, reg, &qemu_sync(reg, &vmx::get_segment(VMX, v)));
        }
    }

    /// `kvm-vmx > verbatim > kvm-vmx`.
    #[inline(never)]
    pub fn vmx_vmx(input: &[VmxSegment], out: &mut [VmxSegment]) {
        for (i, (v, o)) in input.iter().zip(out.iter_mut()).enumerate() {
            *o = vmx::set_segment(VMX, reg_of(i), &vmx::get_segment(VMX, v));
        }
    }

    /// `kvm-svm > qemu > kvm-vmx`.
    #[inline(never)]
    pub fn svm_qemu_vmx(input: &[VmcbSegment], cpl_in: &[u8], out: &mut [VmxSegment]) {
        for (i, ((v, c), o)) in input.iter().zip(cpl_in).zip(out.iter_mut()).enumerate() {
            let reg = reg_of(i);
            let k = qemu_sync(reg, &svm::get_segment(SVM, reg, v, *c));
            *o = vmx::set_segment(VMX, reg, &k);
        }
    }

    /// `kvm-vmx > qemu > kvm-svm`.
    #[inline(never)]
    pub fn vmx_qemu_svm(input: &[VmxSegment], out: &mut [VmcbSegment], cpl_out: &mut [u8]) {
        for (i, (v, (o, oc))) in input.iter().zip(out.iter_mut().zip(cpl_out)).enumerate() {
            let reg = reg_of(i);
            (*o, *oc) = svm_set_fresh(reg, &qemu_sync(reg, &vmx::get_segment(VMX, v)));
        }
    }

    /// `verbatim > kvm-svm`.
    #[inline(never)]
    pub fn verbatim_svm(input: &[KvmSegment], out: &mut [VmcbSegment], cpl_out: &mut [u8]) {
        for (i, (k, (o, oc))) in input.iter().zip(out.iter_mut().zip(cpl_out)).enumerate() {
            (*o, *oc) = svm_set_fresh(reg_of(i), k);
        }
    }

    /// `qemu`.
    #[inline(never)]
    pub fn qemu(input: &[KvmSegment], out: &mut [KvmSegment]) {
        for (i, (k, o)) in input.iter().zip(out.iter_mut()).enumerate() {
            *o = qemu_sync(reg_of(i), k);
        }
    }
}

/// `Chain::run_segment`'s contract written out by hand for the ten built-in chain
/// shapes: a bench experiment, not segstate's API. Per segment it does what the
/// contract asks and nothing else: read an [`InFlight`], check its format against a
/// shape chosen at run time, convert with the [`direct`] bodies (rules constant), and
/// write an `InFlight` (the VMCB.CPL byte from the conversion where the chain writes a
/// VMCB, else the input's, as `run_segment` gives it). Its loop beside `run_segment`'s
/// says how much of `run_segment`'s time is the library's, and how much the contract's
/// (`BENCHMARKS.md` §1, step 52).
pub mod contract {
    use super::direct;
    use super::reg_of;
    use segstate::arch::SegReg;
    use segstate::format::kvm::KvmSegment;
    use segstate::format::svm::VmcbSegment;
    use segstate::format::vmx::VmxSegment;
    use segstate::profile::{InFlight, SegmentValue};

    /// A built-in chain shape with today's profiles, in the order of segconv.h's
    /// `enum segconv_shape` (the C contract's, `ffi::contract_batch`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(i32)]
    pub enum Shape {
        /// `kvm-svm > qemu > kvm-svm`.
        SvmQemuSvm,
        /// `kvm-svm > verbatim > kvm-svm`.
        SvmSvm,
        /// `kvm-svm > qemu > kvm-vmx > qemu > kvm-svm`.
        SvmQemuVmxQemuSvm,
        /// `kvm-svm > qemu > kvm-vmx`.
        SvmQemuVmx,
        /// `kvm-vmx > qemu > kvm-svm`.
        VmxQemuSvm,
        /// `verbatim > kvm-svm`.
        VerbatimSvm,
        /// `kvm-vmx > qemu > kvm-vmx`.
        VmxQemuVmx,
        /// `kvm-vmx > verbatim > kvm-vmx`.
        VmxVmx,
        /// `verbatim > kvm-vmx`.
        VerbatimVmx,
        /// `qemu`.
        Qemu,
    }

    impl Shape {
        /// The ten, in `enum segconv_shape`'s order.
        pub const ALL: [Shape; 10] = [
            Shape::SvmQemuSvm,
            Shape::SvmSvm,
            Shape::SvmQemuVmxQemuSvm,
            Shape::SvmQemuVmx,
            Shape::VmxQemuSvm,
            Shape::VerbatimSvm,
            Shape::VmxQemuVmx,
            Shape::VmxVmx,
            Shape::VerbatimVmx,
            Shape::Qemu,
        ];

        /// The built-in chain of this shape with today's profiles, as it is spelled.
        #[must_use]
        pub const fn spec(self) -> &'static str {
            match self {
                Shape::SvmQemuSvm => "kvm-svm > qemu > kvm-svm",
                Shape::SvmSvm => "kvm-svm > verbatim > kvm-svm",
                Shape::SvmQemuVmxQemuSvm => "kvm-svm > qemu > kvm-vmx > qemu > kvm-svm",
                Shape::SvmQemuVmx => "kvm-svm > qemu > kvm-vmx",
                Shape::VmxQemuSvm => "kvm-vmx > qemu > kvm-svm",
                Shape::VerbatimSvm => "verbatim > kvm-svm",
                Shape::VmxQemuVmx => "kvm-vmx > qemu > kvm-vmx",
                Shape::VmxVmx => "kvm-vmx > verbatim > kvm-vmx",
                Shape::VerbatimVmx => "verbatim > kvm-vmx",
                Shape::Qemu => "qemu",
            }
        }

        /// The shape of the chain spelled `spec`, for the ten the bench runs.
        #[must_use]
        pub fn of(spec: &str) -> Option<Shape> {
            Shape::ALL.into_iter().find(|s| s.spec() == spec)
        }

        /// The shape's value in segconv.h's `enum segconv_shape`.
        #[must_use]
        pub const fn c_value(self) -> i32 {
            self as i32
        }
    }

    /// [`one`] over a batch, as `rust::chain_batch` runs `run_segment`; returns how
    /// many values were refused (their outputs left as they were).
    #[inline(never)]
    pub fn batch(shape: Shape, input: &[InFlight], out: &mut [InFlight]) -> usize {
        let mut failed = 0;
        for (i, (x, o)) in input.iter().zip(out.iter_mut()).enumerate() {
            match one(shape, reg_of(i), x) {
                Some(v) => *o = v,
                None => failed += 1,
            }
        }
        failed
    }

    /// One register through `shape`: `None` when `x` is not in its source format.
    #[inline(always)]
    pub fn one(shape: Shape, reg: SegReg, x: &InFlight) -> Option<InFlight> {
        use SegmentValue::{Kvm, Vmcb, Vmcs};
        let c = x.vmcb_cpl;
        Some(match (shape, x.value) {
            (Shape::SvmQemuSvm, Vmcb(v)) => {
                into_vmcb(|o, oc| direct::svm_qemu_svm_one(&v, c, reg, o, oc))
            }
            (Shape::SvmSvm, Vmcb(v)) => into_vmcb(|o, oc| direct::svm_svm_one(&v, c, reg, o, oc)),
            (Shape::SvmQemuVmxQemuSvm, Vmcb(v)) => {
                into_vmcb(|o, oc| direct::svm_qemu_vmx_qemu_svm_one(&v, c, reg, o, oc))
            }
            (Shape::SvmQemuVmx, Vmcb(v)) => {
                into_vmcs(c, |o| direct::svm_qemu_vmx_one(&v, c, reg, o, &mut 0))
            }
            (Shape::VmxQemuSvm, Vmcs(v)) => {
                into_vmcb(|o, oc| direct::vmx_qemu_svm_one(&v, c, reg, o, oc))
            }
            (Shape::VerbatimSvm, Kvm(k)) => {
                into_vmcb(|o, oc| direct::verbatim_svm_one(&k, c, reg, o, oc))
            }
            (Shape::VmxQemuVmx, Vmcs(v)) => {
                into_vmcs(c, |o| direct::vmx_qemu_vmx_one(&v, c, reg, o, &mut 0))
            }
            (Shape::VmxVmx, Vmcs(v)) => {
                into_vmcs(c, |o| direct::vmx_vmx_one(&v, c, reg, o, &mut 0))
            }
            (Shape::VerbatimVmx, Kvm(k)) => {
                into_vmcs(c, |o| direct::verbatim_vmx_one(&k, c, reg, o, &mut 0))
            }
            (Shape::Qemu, Kvm(k)) => {
                let mut o = KvmSegment::default();
                direct::qemu_one(&k, c, reg, &mut o, &mut 0);
                InFlight {
                    value: Kvm(o),
                    vmcb_cpl: c,
                }
            }
            _ => return None,
        })
    }

    /// A VMCB written by `f`, with the CPL byte `f` writes.
    #[inline(always)]
    fn into_vmcb(f: impl FnOnce(&mut VmcbSegment, &mut u8)) -> InFlight {
        let (mut o, mut oc) = (VmcbSegment::default(), 0);
        f(&mut o, &mut oc);
        InFlight {
            value: SegmentValue::Vmcb(o),
            vmcb_cpl: oc,
        }
    }

    /// A VMCS segment written by `f`, with the input's CPL byte `c`.
    #[inline(always)]
    fn into_vmcs(c: u8, f: impl FnOnce(&mut VmxSegment)) -> InFlight {
        let mut o = VmxSegment::default();
        f(&mut o);
        InFlight {
            value: SegmentValue::Vmcs(o),
            vmcb_cpl: c,
        }
    }
}
