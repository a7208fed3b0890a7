//! Chains of a known shape run as one monomorphised function: the op sequence is chosen
//! once, when the chain is built, and its rule sets stay data (each `rules.has` is a
//! test of a loop-invariant word, predicted every time).
//!
//! A shape is an op sequence: `[SvmGet, QemuGet, QemuSet, SvmSet]` is every AMD round
//! trip through a VMM, whatever the profiles' versions. [`recognise`] lists the shapes
//! of the built-in chains, the other stacks' among them (their ops' stages are in
//! [`super::stack_stages`]); a chain of another shape (a new op, a longer chain) runs
//! through its tables ([`super::compiled`]) or interpreted, with the same results. A new
//! shape plugs in with a line in `pipelines!` and one in [`recognise`], a new op
//! with a [`Stage`]. Each shape is a monomorphised copy of the entries (about 7 KB of
//! code a variant): of the other stacks' shapes only those of nine of the heaviest
//! chains in `verify` have one, a single variant each with rules as data; the rest
//! run interpreted (`BENCHMARKS.md` §2, step 33).

use super::attribute_bytes::AttributeBytes;
use super::chain::{Format, InFlight, Op, SegmentValue, VcpuSegments, WrongSourceFormat};
use super::compiled::{Carrier, carrier_of};
use super::stack_stages as st;
use super::{Profile, RuleSet};
use crate::arch::{PerSegReg, SegReg};
use crate::format::kvm::KvmSegment;
use crate::format::qemu::QemuSegmentCache;
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::{VmxAccessRights, VmxSegment};
use core::num::NonZeroU32;

mod stage;
use stage::{
    Dynamic, Fixed, Migrate, Qemu, QemuGet, QemuSet, Svm, SvmGet, SvmSet, Then, Vmx, VmxGet, VmxSet,
};
pub(crate) use stage::{Rules, Stage};

/// A segment type a chain starts or ends in.
pub(crate) trait Shape: Copy + Default {
    /// The format a value of this type is in.
    const FORMAT: Format;
    fn take(value: &SegmentValue) -> Option<Self>;
    fn wrap(self) -> SegmentValue;
    /// The eight registers, borrowed (a copy of the ~200 bytes per vCPU measured as
    /// a `memcpy` call per `Chain::run`), and the CPL byte they start with (VMCB.CPL,
    /// else 0).
    fn take_vcpu(v: &VcpuSegments) -> Option<(&PerSegReg<Self>, u8)>;
    /// The eight registers, with SS's outgoing CPL byte for a VMCB.
    fn vcpu(segments: PerSegReg<Self>, ss_cpl: u8) -> VcpuSegments;
    /// Selector, base and limit.
    fn carrier(&self) -> Carrier;
    /// What the segment holds beyond its carrier, with the CPL byte after it.
    fn written(self, cpl: u8) -> Written;
}

macro_rules! shape {
    ($ty:ty, $variant:ident, $format:ident, |$s:ident| $take:pat => $cpl:expr, |$o:ident, $c:ident| $make:expr,
        |$w:ident, $wc:ident| $written:expr) => {
        impl Shape for $ty {
            const FORMAT: Format = Format::$format;
            #[inline(always)]
            fn take(value: &SegmentValue) -> Option<Self> {
                match value {
                    SegmentValue::$variant(v) => Some(*v),
                    _ => None,
                }
            }
            #[inline(always)]
            fn wrap(self) -> SegmentValue {
                SegmentValue::$variant(self)
            }
            #[inline(always)]
            fn take_vcpu($s: &VcpuSegments) -> Option<(&PerSegReg<Self>, u8)> {
                match $s {
                    $take => Some($cpl),
                    _ => None,
                }
            }
            #[inline(always)]
            fn vcpu($o: PerSegReg<Self>, $c: u8) -> VcpuSegments {
                $make
            }
            #[inline(always)]
            fn carrier(&self) -> Carrier {
                Carrier {
                    selector: self.selector,
                    base: self.base,
                    limit: self.limit,
                }
            }
            #[inline(always)]
            fn written($w, $wc: u8) -> Written {
                $written
            }
        }
    };
}

shape!(VmcbSegment, Vmcb, Vmcb,
    |v| VcpuSegments::Vmcb { segments, cpl } => (segments, *cpl),
    |o, c| VcpuSegments::Vmcb { segments: o, cpl: c },
    |self, cpl| Written::new(Written::VMCB, self.attrib.0.into(), 0, 0, cpl));
shape!(VmxSegment, Vmcs, Vmcs,
    |v| VcpuSegments::Vmcs(segments) => (segments, 0),
    |o, _c| VcpuSegments::Vmcs(o),
    |self, cpl| Written::new(Written::VMCS, self.access_rights.0.into(), 0, 0, cpl));
shape!(KvmSegment, Kvm, Kvm,
    |v| VcpuSegments::Kvm(segments) => (segments, 0),
    |o, _c| VcpuSegments::Kvm(o),
    |self, cpl| Written::kvm(&self, cpl));

/// One register's result as `run_segment`'s entry gives it back: what the destination
/// holds beyond the selector, base and limit (which every stage copies: checked), and
/// the CPL byte, in two words that come back in two registers (`Option<Written>` too:
/// `None` is the tail's zero). The caller puts the input's carrier around it. (A whole
/// [`InFlight`] came back through memory, stored field by field and read back in
/// words, a store-forwarding stall per word; an enum of the three formats came back
/// through memory too; the tables' 16-bit entry cost a pack in the entry and an unpack
/// in the caller.)
#[derive(Clone, Copy)]
pub(crate) struct Written {
    /// The destination's attribute word as its format holds it: VMCB attrib, VMCS
    /// access rights, or a `kvm_segment`'s bytes 14..22 (type to avl, byte 14 lowest).
    word: u64,
    /// A `kvm_segment`'s unusable byte in bits 7:0 and padding byte in 15:8 (0 for the
    /// other formats), the CPL byte in 23:16, and the format in 25:24 ([`Written::VMCB`],
    /// [`Written::VMCS`], [`Written::KVM`]: never 0).
    tail: NonZeroU32,
}

impl Written {
    const FORMAT: u32 = 3 << 24;
    const VMCB: NonZeroU32 = NonZeroU32::new(1 << 24).expect("not 0");
    const VMCS: NonZeroU32 = NonZeroU32::new(2 << 24).expect("not 0");
    const KVM: NonZeroU32 = NonZeroU32::new(3 << 24).expect("not 0");

    /// `format` (one of the constants) with `word` and the bytes of the tail.
    #[inline(always)]
    fn new(format: NonZeroU32, word: u64, unusable: u8, padding: u8, cpl: u8) -> Self {
        Written {
            word,
            tail: format | u32::from_le_bytes([unusable, padding, cpl, 0]),
        }
    }

    /// What `k` holds beyond its carrier.
    #[inline(always)]
    fn kvm(k: &KvmSegment, cpl: u8) -> Self {
        let bytes = AttributeBytes::of(k).0;
        Written::new(Written::KVM, bytes, k.unusable, k.padding, cpl)
    }

    /// The segment with carrier `c`.
    #[inline(always)]
    fn around(self, c: Carrier) -> InFlight {
        let tail = self.tail.get();
        let [unusable, padding, vmcb_cpl, _] = tail.to_le_bytes();
        let format = tail & Written::FORMAT;
        let value = if format == Written::VMCB.get() {
            SegmentValue::Vmcb(VmcbSegment {
                selector: c.selector,
                attrib: SvmAttrib(self.word as u16),
                limit: c.limit,
                base: c.base,
            })
        } else if format == Written::VMCS.get() {
            SegmentValue::Vmcs(VmxSegment {
                selector: c.selector,
                base: c.base,
                limit: c.limit,
                access_rights: VmxAccessRights(self.word as u32),
            })
        } else {
            let mut k = KvmSegment {
                base: c.base,
                limit: c.limit,
                selector: c.selector,
                unusable,
                padding,
                ..KvmSegment::default()
            };
            AttributeBytes(self.word).write_into(&mut k);
            SegmentValue::Kvm(k)
        };
        InFlight { value, vmcb_cpl }
    }
}

/// One register, its result without the carrier: `None` when `input` is not in the
/// source format, or when the output does not carry the input's selector, base and
/// limit (the caller then runs it interpreted). The compiler sees the stages copy the
/// carrier, so for these pipelines that check folds away.
#[inline(always)]
fn segment<S>(s: S, reg: SegReg, input: &InFlight, previous: &QemuSegmentCache) -> Option<Written>
where
    S: Stage,
    S::In: Shape,
    S::Out: Shape,
{
    let (x, out, cpl) = converted::<S, Plain>(s, reg, input, previous)?;
    (out.carrier() == x.carrier()).then(|| out.written(cpl))
}

/// One register through `s`: the input in the source format, the output and the CPL
/// byte after it, or `None` when `input` is not in the source format. `R` is the
/// stage form for where the input is and where the output goes: [`Plain`] for the
/// entries, [`Copied`] for `run_segment`'s arms, [`InPlace`] for `run_segment_into`'s.
#[inline(always)]
fn converted<S, R: Reading>(
    s: S,
    reg: SegReg,
    input: &InFlight,
    previous: &QemuSegmentCache,
) -> Option<(S::In, S::Out, u8)>
where
    S: Stage,
    S::In: Shape,
{
    let x = S::In::take(&input.value)?;
    let mut cpl = input.vmcb_cpl;
    let out = R::apply(s, reg, x, &mut cpl, previous);
    Some((x, out, cpl))
}

/// Which of a stage's forms [`converted`] runs, for where its input is and where its
/// output goes.
pub(super) trait Reading {
    /// `s` applied in this form.
    fn apply<S: Stage>(
        s: S,
        reg: SegReg,
        x: S::In,
        cpl: &mut u8,
        previous: &QemuSegmentCache,
    ) -> S::Out;
}

/// A [`Reading`] per form: a unit type whose `apply` runs that stage method.
macro_rules! readings {
    ($($(#[$doc:meta])* $name:ident => $method:ident $(::<$($flag:literal),+>)?;)*) => {$(
        $(#[$doc])*
        pub(super) struct $name;

        impl Reading for $name {
            #[inline(always)]
            fn apply<S: Stage>(
                s: S,
                reg: SegReg,
                x: S::In,
                cpl: &mut u8,
                previous: &QemuSegmentCache,
            ) -> S::Out {
                s.$method $(::<$($flag),+>)?(reg, x, cpl, previous)
            }
        }
    )*};
}

readings! {
    /// [`Stage::apply`]: the result goes on to be compared (the entries' carrier check).
    Plain => apply;
    /// [`Stage::apply_copied`], stored: the input is the caller's copy, just stored in
    /// 16-byte halves (`run_segment`'s by-value input), and the output goes to the
    /// caller's memory.
    Copied => apply_copied::<true>;
    /// [`Stage::apply_memory`], loaded and stored: the input is read where the caller
    /// keeps it, not just written (`run_segment_into`'s reference), and the output goes
    /// to the caller's memory.
    InPlace => apply_memory::<true, true>;
}

#[inline(always)]
fn batch<S>(s: S, reg: SegReg, values: &mut [InFlight], previous: &QemuSegmentCache) -> bool
where
    S: Stage,
    S::In: Shape,
    S::Out: Shape,
{
    // Every value first, so that a refused batch is left as it was: one tag compare
    // per value, for this pipeline's source format alone, eight values to a test of
    // the loop (`all` alone kept the loop rolled, a value per iteration: ~1 cycle a
    // value, `perf annotate`; eight to an iteration it is unrolled, 0.1-0.2 ns a
    // value less on the single-pass rows).
    let refused = |v: &InFlight| S::In::take(&v.value).is_none();
    let mut eights = values.chunks_exact(8);
    let clean = eights.all(|c| !c.iter().fold(false, |any, v| any | refused(v)));
    if !clean || eights.remainder().iter().any(refused) {
        return false;
    }
    // One loop per register, its `reg` a constant: with `reg` a variable the loop
    // jumped through a table on it for every value (`perf annotate`: a `jmp *%rax`
    // per value for the rules that differ by register); the constant folds them.
    match reg {
        SegReg::Es => batch_of(s, SegReg::Es, values, previous),
        SegReg::Cs => batch_of(s, SegReg::Cs, values, previous),
        SegReg::Ss => batch_of(s, SegReg::Ss, values, previous),
        SegReg::Ds => batch_of(s, SegReg::Ds, values, previous),
        SegReg::Fs => batch_of(s, SegReg::Fs, values, previous),
        SegReg::Gs => batch_of(s, SegReg::Gs, values, previous),
        SegReg::Ldtr => batch_of(s, SegReg::Ldtr, values, previous),
        SegReg::Tr => batch_of(s, SegReg::Tr, values, previous),
    }
    true
}

/// [`batch`]'s loop for one register, the values checked to be in the source format.
/// A value in another format is unreachable here, not skipped: skipping it made the
/// loop a compare, a taken jump and the loop test a value; with the other arm a panic
/// out of line the body falls through (`verbatim > kvm-vmx` 2.25 → 2.15 ns a value).
#[inline(always)]
fn batch_of<S>(s: S, reg: SegReg, values: &mut [InFlight], previous: &QemuSegmentCache)
where
    S: Stage,
    S::In: Shape,
    S::Out: Shape,
{
    for v in values.iter_mut() {
        let Some(x) = S::In::take(&v.value) else {
            unreachable!("batch checked every value's format first")
        };
        let out = s.apply_memory::<true, true>(reg, x, &mut v.vmcb_cpl, previous);
        v.value = out.wrap();
    }
}

/// A whole vCPU, or the error [`super::Chain::run`] gives for one in another format.
/// The result is the caller's own return value, so `run` hands this entry its return
/// slot and the ~200-byte vCPU is written once, where the caller reads it (returned as
/// an `Option` it was written into `run`'s frame and copied out with a `memcpy` whose
/// wide loads wait for the narrow stores that built it).
#[inline(always)]
fn vcpu<S>(
    s: S,
    input: &VcpuSegments,
    previous: &PerSegReg<QemuSegmentCache>,
) -> Result<VcpuSegments, WrongSourceFormat>
where
    S: Stage,
    S::In: Shape,
    S::Out: Shape,
{
    let Some((segments, start)) = S::In::take_vcpu(input) else {
        return Err(WrongSourceFormat {
            expected: S::In::FORMAT,
            found: input.format(),
        });
    };
    let mut ss_cpl = 0;
    // Eight calls, not a loop: where the compiler kept the loop rolled (the longer
    // pipelines, and those ending in `kvm_segment`), the outputs went into an array in
    // memory and on into the result with two `memcpy` calls (objdump), whose wide loads
    // wait for the narrow stores; with constant indices each output is stored once,
    // into the result.
    let mut one = |i| register(s, i, segments, start, previous, &mut ss_cpl);
    let outs = [
        one(0),
        one(1),
        one(2),
        one(3),
        one(4),
        one(5),
        one(6),
        one(7),
    ];
    Ok(S::Out::vcpu(PerSegReg(outs), ss_cpl))
}

/// Register `i` of a vCPU through `s`, noting SS's outgoing CPL byte.
#[inline(always)]
fn register<S: Stage>(
    s: S,
    i: usize,
    segments: &PerSegReg<S::In>,
    start: u8,
    previous: &PerSegReg<QemuSegmentCache>,
    ss_cpl: &mut u8,
) -> S::Out {
    let reg = SegReg::ALL[i];
    let mut cpl = start;
    let out = s.apply_memory::<true, true>(reg, segments.0[i], &mut cpl, &previous.0[i]);
    if reg == SegReg::Ss {
        *ss_cpl = cpl;
    }
    out
}

/// QEMU's get_seg then set_seg: a VMM between two hypervisor steps.
type Vmm<Q> = Then<QemuGet<Q>, QemuSet<Q>>;
type SvmVmmSvm<S, Q> = Then<Then<SvmGet<S>, Vmm<Q>>, SvmSet<S>>;
type SvmSvm<S> = Then<SvmGet<S>, SvmSet<S>>;
type SvmVmmVmx<S, Q, V> = Then<Then<SvmGet<S>, Vmm<Q>>, VmxSet<V>>;
type VmxVmmVmx<V, Q> = Then<Then<VmxGet<V>, Vmm<Q>>, VmxSet<V>>;
type VmxVmx<V> = Then<VmxGet<V>, VmxSet<V>>;
type VmxVmmSvm<V, Q, S> = Then<Then<VmxGet<V>, Vmm<Q>>, SvmSet<S>>;
type SvmVmmVmxVmmSvm<S, Q, V> =
    Then<Then<Then<SvmGet<S>, Vmm<Q>>, Then<VmxSet<V>, VmxGet<V>>>, Then<Vmm<Q>, SvmSet<S>>>;

/// Three stages in sequence.
type Via<A, B, C> = Then<Then<A, B>, C>;
/// A KVM get, another VMM's model and back (`from`, `to`), a KVM set.
type KvmHop<G, F, T, S> = Then<Then<G, F>, Then<T, S>>;
/// AMD round trip through a QEMU migration between two QEMU versions.
type SvmMigrateSvm<D> =
    Then<Then<SvmGet<D>, Then<QemuGet<D>, Migrate>>, Then<QemuSet<D>, SvmSet<D>>>;

/// `run_segment`'s entry into one pipeline variant: the output as [`Written`], so that
/// it comes back in registers. One per register, `reg` a constant in each (see
/// [`batch`]).
type SegmentFn = fn(&Pipeline, &InFlight, &QemuSegmentCache) -> Option<Written>;
/// `run_batch`'s entry.
type BatchFn = fn(&Pipeline, SegReg, &mut [InFlight], &QemuSegmentCache) -> bool;
/// `run_into`'s entry.
type VcpuIntoFn = fn(
    &Pipeline,
    &VcpuSegments,
    &PerSegReg<QemuSegmentCache>,
    &mut VcpuSegments,
) -> Result<(), WrongSourceFormat>;
/// `run`'s entry.
type VcpuFn = fn(
    &Pipeline,
    &VcpuSegments,
    &PerSegReg<QemuSegmentCache>,
) -> Result<VcpuSegments, WrongSourceFormat>;

/// A chain's pipeline with its entry points, each monomorphised for the pipeline's
/// variant and chosen once, when the chain is built: running a segment is one
/// indirect call into code for that shape alone, but for the variants [`inlined`]
/// runs in the caller (today's profiles, every built-in shape). The call cost little
/// on the Intel Xeon; on the AMD EPYC (Zen 4) a caller cycling through the registers
/// calls a different one of the eight `segment` entries each time, and the rows from
/// a VMCB ran 8.7-13.0 ns a segment through them (`BENCHMARKS.md` §1, step 48). One
/// entry with the register a variable measured slower still on two chains with rules
/// as data (a jump through a table on the register inside it), so the eight stay for
/// those. (A `match` on the variant per call, inlined into
/// the caller's loop, made the compiler load and spill every field any variant reads
/// before the jump: 3-5 ns a segment, `perf annotate` of the bench's `run_segment`
/// loop, when each variant held its rules as data; `inlined`'s hold none.)
#[derive(Clone, Copy)]
pub(crate) struct Compiled {
    pipeline: Pipeline,
    /// Indexed by [`SegReg::index`].
    segment: [SegmentFn; 8],
    batch: BatchFn,
    vcpu: VcpuFn,
    /// The same written through the caller's reference (`Chain::run_into`): the result
    /// stored where the caller wants it, not copied there from a returned value.
    vcpu_into: VcpuIntoFn,
}

impl Compiled {
    /// One register through the pipeline's entry (the variants not inlined), or `None`
    /// when `input` is not in the source format.
    #[inline(always)]
    pub(crate) fn entry_segment(
        &self,
        reg: SegReg,
        input: &InFlight,
        previous: &QemuSegmentCache,
    ) -> Option<InFlight> {
        // The entry gets a copy of its own, not the caller's value: so the caller's value
        // is not one whose address a call through a pointer takes, and the compiler is
        // free to keep it in registers on the inlined arms' path. On the AMD EPYC that
        // measured 0.4-1.5 ns a segment less on six rows of `ratios 9 chains` and up to
        // 0.36 more on three (`BENCHMARKS.md` §1, step 49).
        let copy = *input;
        let written = (self.segment[reg.index()])(&self.pipeline, &copy, previous)?;
        Some(written.around(carrier_of(&copy.value)?))
    }

    /// A batch of one register in place; false, and the batch untouched, when a value
    /// is not in the source format.
    #[inline(always)]
    pub(crate) fn batch(
        &self,
        reg: SegReg,
        values: &mut [InFlight],
        previous: &QemuSegmentCache,
    ) -> bool {
        (self.batch)(&self.pipeline, reg, values, previous)
    }

    /// A whole vCPU, or the error when it is in another format: the variants
    /// [`inlined_vcpu`] lists run in the caller, the others through their entry.
    #[inline(always)]
    pub(crate) fn vcpu(
        &self,
        input: &VcpuSegments,
        previous: &PerSegReg<QemuSegmentCache>,
    ) -> Result<VcpuSegments, WrongSourceFormat> {
        inlined_vcpu::run(self, input, previous)
    }

    /// A whole vCPU written to `out`, or the error, `out` untouched, when it is in
    /// another format: as [`Compiled::vcpu`], each path storing its own result.
    #[inline(always)]
    pub(crate) fn vcpu_into(
        &self,
        input: &VcpuSegments,
        previous: &PerSegReg<QemuSegmentCache>,
        out: &mut VcpuSegments,
    ) -> Result<(), WrongSourceFormat> {
        inlined_vcpu::run_into(self, input, previous, out)
    }
}

macro_rules! pipelines {
    // The KVM/QEMU shapes twice: their rules as data, and today's profiles as
    // constants; then the shapes with other ops, whose rules are always data (`today`).
    ($($(#[$doc:meta])* $name:ident($ty:ty) | $today:ident($today_ty:ty),)*
        ; $($(#[$odoc:meta])* $other:ident($other_ty:ty),)*) => {
        pipelines!(@each $(
            $(#[$doc])* $name($ty),
            /// The same with today's profiles, their rules constant.
            $today($today_ty),
        )* $($(#[$odoc])* $other($other_ty),)*);
    };
    (@each $($(#[$doc:meta])* $name:ident($ty:ty),)*) => {
        /// A chain of a known shape, its stages monomorphised (the rules it holds as
        /// data, or none when they are constants).
        #[derive(Clone, Copy)]
        pub(crate) enum Pipeline {
            $($(#[$doc])* $name($ty),)*
        }

        impl Pipeline {
            /// The pipeline with the entry points of its variant. Each entry matches
            /// its own variant only (one compare, always taken).
            fn compiled(self) -> Compiled {
                match self {
                    $(Pipeline::$name(_) => Compiled {
                        pipeline: self,
                        segment: {
                            fn at<const R: usize>(
                                p: &Pipeline,
                                input: &InFlight,
                                previous: &QemuSegmentCache,
                            ) -> Option<Written> {
                                match p {
                                    Pipeline::$name(s) => {
                                        segment(*s, SegReg::ALL[R], input, previous)
                                    }
                                    _ => None,
                                }
                            }
                            [at::<0>, at::<1>, at::<2>, at::<3>, at::<4>, at::<5>, at::<6>, at::<7>]
                        },
                        batch: |p, reg, values, previous| match p {
                            Pipeline::$name(s) => batch(*s, reg, values, previous),
                            _ => false,
                        },
                        vcpu: |p, input, previous| match p {
                            Pipeline::$name(s) => vcpu(*s, input, previous),
                            _ => unreachable!("an entry is only kept with its own variant"),
                        },
                        vcpu_into: |p, input, previous, out| match p {
                            Pipeline::$name(s) => vcpu(*s, input, previous).map(|v| *out = v),
                            _ => unreachable!("an entry is only kept with its own variant"),
                        },
                    },)*
                }
            }
        }
    };
}

pipelines! {
    /// AMD round trip through a VMM (QEMU syncs, or migrates between versions).
    SvmVmmSvm(SvmVmmSvm<Dynamic, Dynamic>) | SvmVmmSvmToday(SvmVmmSvm<Svm, Qemu>),
    /// AMD round trip through a pass-through VMM.
    SvmSvm(SvmSvm<Dynamic>) | SvmSvmToday(SvmSvm<Svm>),
    /// AMD to Intel.
    SvmVmmVmx(SvmVmmVmx<Dynamic, Dynamic, Dynamic>) | SvmVmmVmxToday(SvmVmmVmx<Svm, Qemu, Vmx>),
    /// Intel round trip through a VMM.
    VmxVmmVmx(VmxVmmVmx<Dynamic, Dynamic>) | VmxVmmVmxToday(VmxVmmVmx<Vmx, Qemu>),
    /// Intel round trip through a pass-through VMM.
    VmxVmx(VmxVmx<Dynamic>) | VmxVmxToday(VmxVmx<Vmx>),
    /// Intel to AMD.
    VmxVmmSvm(VmxVmmSvm<Dynamic, Dynamic, Dynamic>) | VmxVmmSvmToday(VmxVmmSvm<Vmx, Qemu, Svm>),
    /// AMD to Intel and back.
    SvmVmmVmxVmmSvm(SvmVmmVmxVmmSvm<Dynamic, Dynamic, Dynamic>)
        | SvmVmmVmxVmmSvmToday(SvmVmmVmxVmmSvm<Svm, Qemu, Vmx>),
    /// `kvm_sregs` into AMD.
    IntoSvm(SvmSet<Dynamic>) | IntoSvmToday(SvmSet<Svm>),
    /// `kvm_sregs` into Intel.
    IntoVmx(VmxSet<Dynamic>) | IntoVmxToday(VmxSet<Vmx>),
    /// `kvm_sregs` through a VMM.
    Vmm(Vmm<Dynamic>) | VmmToday(Vmm<Qemu>),
    ;
    /// AMD round trip through a migration from one QEMU to another.
    SvmMigrateSvm(SvmMigrateSvm<Dynamic>),
    /// Intel, through crosvm, restored on HAXM.
    VmxCrosvmHaxm(Via<VmxGet<Dynamic>, st::CrosvmFromKvm<Dynamic>, st::CrosvmToHaxm<Dynamic>>),
    /// AMD round trip through crosvm.
    SvmCrosvmSvm(KvmHop<SvmGet<Dynamic>, st::CrosvmFromKvm<Dynamic>, st::CrosvmToKvm<Dynamic>, SvmSet<Dynamic>>),
    /// Intel round trip through crosvm.
    VmxCrosvmVmx(KvmHop<VmxGet<Dynamic>, st::CrosvmFromKvm<Dynamic>, st::CrosvmToKvm<Dynamic>, VmxSet<Dynamic>>),
    /// AMD round trip through VirtualBox NEM.
    SvmNemSvm(KvmHop<SvmGet<Dynamic>, st::VboxNemImport<Dynamic>, st::VboxNemExport<Dynamic>, SvmSet<Dynamic>>),
    /// AMD round trip through openvmm.
    SvmOpenvmmSvm(KvmHop<SvmGet<Dynamic>, st::OpenvmmFromKvm<Dynamic>, st::OpenvmmToKvm<Dynamic>, SvmSet<Dynamic>>),
    /// Intel round trip through openvmm.
    VmxOpenvmmVmx(KvmHop<VmxGet<Dynamic>, st::OpenvmmFromKvm<Dynamic>, st::OpenvmmToKvm<Dynamic>, VmxSet<Dynamic>>),
    /// bhyve on AMD (FreeBSD or illumos) through its VMM's snapshot or migration.
    BhyveSvm(Via<st::BhyveSvmGet<Dynamic>, st::BhyveCarry<Dynamic>, st::BhyveSvmSet<Dynamic>>),
}

/// True when every op runs today's profile of its engine, rules untouched.
fn today(ops: &[Op]) -> bool {
    ops.iter().all(|op| match *op {
        Op::SvmGet(r) | Op::SvmSet(r) => r == Profile::KVM_SVM.rules,
        Op::VmxGet(r) | Op::VmxSet(r) => r == Profile::KVM_VMX.rules,
        Op::QemuGet(r) | Op::QemuSet(r) => r == Profile::QEMU.rules,
        // Other stacks' ops and migration hooks: rules as data (their shapes' variants
        // have no constant-rule twin: twice the code for chains verify runs once).
        Op::QemuMigrate(..) | Op::Stack(_) => false,
    })
}

/// The compiled pipeline for `ops` when they have one of the built-in chains' shapes:
/// with constant rules when they are today's profiles, else with the rules as data.
pub(crate) fn recognise(ops: &[Op]) -> Option<Compiled> {
    pipeline(ops).map(Pipeline::compiled)
}

/// Rules of a stage made from a step's rule set: the set itself ([`Dynamic`]), or
/// nothing when the pipeline was chosen for today's profiles ([`Fixed`]).
trait FromRules: Rules {
    fn from_rules(rules: RuleSet) -> Self;
}

impl FromRules for Dynamic {
    #[inline(always)]
    fn from_rules(rules: RuleSet) -> Self {
        Dynamic(rules)
    }
}

impl<const R: u128> FromRules for Fixed<R> {
    #[inline(always)]
    fn from_rules(_: RuleSet) -> Self {
        Fixed
    }
}

/// The rules of the pipeline being built: their type says which.
fn r<T: FromRules>(rules: RuleSet) -> T {
    T::from_rules(rules)
}

/// QEMU's get_seg under `get`, then set_seg under `set`.
fn vmm<Q: FromRules>(get: RuleSet, set: RuleSet) -> Vmm<Q> {
    Then(QemuGet(r(get)), QemuSet(r(set)))
}

/// Three stages in sequence.
fn via<A, B, C>(a: A, b: B, c: C) -> Via<A, B, C> {
    Then(Then(a, b), c)
}

/// A KVM get, another VMM's model and back, a KVM set.
fn hop<G, F, T, S>(get: G, from: F, to: T, set: S) -> KvmHop<G, F, T, S> {
    Then(Then(get, from), Then(to, set))
}

/// The pipeline of `ops`' shape, if it is a built-in one.
fn pipeline(ops: &[Op]) -> Option<Pipeline> {
    use super::StackOp as S;
    use Op as O;
    let fixed = today(ops);
    // One stage expression per shape, built with constant rules when every op runs
    // today's profile (the variant's type makes `r` give `Fixed`), else as data.
    macro_rules! pick {
        ($today:ident | $data:ident, $stages:expr) => {
            if fixed {
                Pipeline::$today($stages)
            } else {
                Pipeline::$data($stages)
            }
        };
    }
    Some(match *ops {
        [O::SvmGet(a), O::QemuGet(b), O::QemuSet(c), O::SvmSet(e)] => pick!(
            SvmVmmSvmToday | SvmVmmSvm,
            Then(Then(SvmGet(r(a)), vmm(b, c)), SvmSet(r(e)))
        ),
        [O::SvmGet(a), O::SvmSet(b)] => {
            pick!(SvmSvmToday | SvmSvm, Then(SvmGet(r(a)), SvmSet(r(b))))
        }
        [O::SvmGet(a), O::QemuGet(b), O::QemuSet(c), O::VmxSet(e)] => pick!(
            SvmVmmVmxToday | SvmVmmVmx,
            Then(Then(SvmGet(r(a)), vmm(b, c)), VmxSet(r(e)))
        ),
        [O::VmxGet(a), O::QemuGet(b), O::QemuSet(c), O::VmxSet(e)] => pick!(
            VmxVmmVmxToday | VmxVmmVmx,
            Then(Then(VmxGet(r(a)), vmm(b, c)), VmxSet(r(e)))
        ),
        [O::VmxGet(a), O::VmxSet(b)] => {
            pick!(VmxVmxToday | VmxVmx, Then(VmxGet(r(a)), VmxSet(r(b))))
        }
        [O::VmxGet(a), O::QemuGet(b), O::QemuSet(c), O::SvmSet(e)] => pick!(
            VmxVmmSvmToday | VmxVmmSvm,
            Then(Then(VmxGet(r(a)), vmm(b, c)), SvmSet(r(e)))
        ),
        [
            O::SvmGet(a),
            O::QemuGet(b),
            O::QemuSet(c),
            O::VmxSet(e),
            O::VmxGet(f),
            O::QemuGet(g),
            O::QemuSet(h),
            O::SvmSet(i),
        ] => pick!(
            SvmVmmVmxVmmSvmToday | SvmVmmVmxVmmSvm,
            Then(
                Then(
                    Then(SvmGet(r(a)), vmm(b, c)),
                    Then(VmxSet(r(e)), VmxGet(r(f)))
                ),
                Then(vmm(g, h), SvmSet(r(i))),
            )
        ),
        [O::SvmSet(a)] => pick!(IntoSvmToday | IntoSvm, SvmSet(r(a))),
        [O::VmxSet(a)] => pick!(IntoVmxToday | IntoVmx, VmxSet(r(a))),
        [O::QemuGet(a), O::QemuSet(b)] => pick!(VmmToday | Vmm, vmm(a, b)),
        // The other stacks' shapes and the migration: rules as data.
        [
            O::SvmGet(a),
            O::QemuGet(b),
            O::QemuMigrate(..),
            O::QemuSet(c),
            O::SvmSet(e),
        ] => {
            let get = Then(SvmGet(r(a)), Then(QemuGet(r(b)), Migrate));
            Pipeline::SvmMigrateSvm(Then(get, Then(QemuSet(r(c)), SvmSet(r(e)))))
        }
        [
            O::VmxGet(a),
            O::Stack(S::CrosvmFromKvm(b)),
            O::Stack(S::CrosvmToHaxm(c)),
        ] => Pipeline::VmxCrosvmHaxm(via(
            VmxGet(r(a)),
            st::CrosvmFromKvm(r(b)),
            st::CrosvmToHaxm(r(c)),
        )),
        [
            O::SvmGet(a),
            O::Stack(S::CrosvmFromKvm(b)),
            O::Stack(S::CrosvmToKvm(c)),
            O::SvmSet(e),
        ] => Pipeline::SvmCrosvmSvm(hop(
            SvmGet(r(a)),
            st::CrosvmFromKvm(r(b)),
            st::CrosvmToKvm(r(c)),
            SvmSet(r(e)),
        )),
        [
            O::VmxGet(a),
            O::Stack(S::CrosvmFromKvm(b)),
            O::Stack(S::CrosvmToKvm(c)),
            O::VmxSet(e),
        ] => Pipeline::VmxCrosvmVmx(hop(
            VmxGet(r(a)),
            st::CrosvmFromKvm(r(b)),
            st::CrosvmToKvm(r(c)),
            VmxSet(r(e)),
        )),
        [
            O::SvmGet(a),
            O::Stack(S::VboxNemImport(b)),
            O::Stack(S::VboxNemExport(c)),
            O::SvmSet(e),
        ] => Pipeline::SvmNemSvm(hop(
            SvmGet(r(a)),
            st::VboxNemImport(r(b)),
            st::VboxNemExport(r(c)),
            SvmSet(r(e)),
        )),
        [
            O::SvmGet(a),
            O::Stack(S::OpenvmmFromKvm(b)),
            O::Stack(S::OpenvmmToKvm(c)),
            O::SvmSet(e),
        ] => Pipeline::SvmOpenvmmSvm(hop(
            SvmGet(r(a)),
            st::OpenvmmFromKvm(r(b)),
            st::OpenvmmToKvm(r(c)),
            SvmSet(r(e)),
        )),
        [
            O::VmxGet(a),
            O::Stack(S::OpenvmmFromKvm(b)),
            O::Stack(S::OpenvmmToKvm(c)),
            O::VmxSet(e),
        ] => Pipeline::VmxOpenvmmVmx(hop(
            VmxGet(r(a)),
            st::OpenvmmFromKvm(r(b)),
            st::OpenvmmToKvm(r(c)),
            VmxSet(r(e)),
        )),
        [
            O::Stack(S::BhyveSvmGet(a)),
            O::Stack(S::BhyveCarry(b)),
            O::Stack(S::BhyveSvmSet(c)),
        ] => Pipeline::BhyveSvm(via(
            st::BhyveSvmGet(r(a)),
            st::BhyveCarry(r(b)),
            st::BhyveSvmSet(r(c)),
        )),
        _ => return None,
    })
}

pub(super) mod inlined;
pub(super) mod inlined_vcpu;
#[cfg(test)]
pub(super) mod tests;
