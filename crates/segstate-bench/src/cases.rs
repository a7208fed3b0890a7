//! Every comparison, as closures owning their inputs and outputs: one per
//! implementation ("rust", "c", and for chains also "rust-into" (`run_segment_into`),
//! "rust-run", "rust-run-into" (`run_into`), "rust-batch",
//! "rust-batch-copy" (the batch's copy-in alone), "rust-direct" and "rust-call-floor"
//! (`run_segment`'s loop around a function of its type that converts nothing), and
//! "c-one" and "rust-typed-one" (C's and the typed Rust's sync of one segment called
//! through a pointer, once per segment), and "rust-contract" and "c-contract"
//! (`run_segment`'s contract written out by hand, in Rust (`rust::contract`) and in C
//! (`ffi::contract_batch`))). Each closure
//! converts one batch of [`BATCH`] elements and returns a count (refusals) so the
//! work cannot be dropped.

use std::fmt;
use std::hint::black_box;

use segstate::arch::{PerSegReg, SegReg};
use segstate::format::hyperv::HvSegmentRegister;
use segstate::format::kvm::KvmSegment;
use segstate::format::svm::VmcbSegment;
use segstate::format::vmx::VmxSegment;
use segstate::profile::{Chain, Format, InFlight, SegmentValue, VcpuSegments};

use crate::ffi::{self, CInFlight, CQemuSeg, CVmcbSeg, CVmxSeg};
use crate::inputs::{self, BATCH};
use crate::rust::{self, direct};

/// One batch of work.
pub type Run = Box<dyn FnMut() -> usize>;

/// A comparison: one conversion (or chain), several implementations.
pub struct Case {
    /// What is converted, e.g. `vmcb->kvm svm_get_segment`.
    pub name: String,
    /// Whether this is a whole chain (`rust` = `Chain::run_segment`).
    pub chain: bool,
    /// `(implementation, batch)`; the first is Rust's `Chain`/function, `c` is C.
    pub variants: Vec<(&'static str, Run)>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.variants.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("variants", &names)
            .finish()
    }
}

fn to_c<T, U: for<'a> From<&'a T>>(v: &[T]) -> Vec<U> {
    v.iter().map(U::from).collect()
}

fn case(name: &str, (rust, c): (Run, Run)) -> Case {
    Case {
        name: name.into(),
        chain: false,
        variants: vec![("rust", rust), ("c", c)],
    }
}

macro_rules! run {
    (|$($x:ident),*| $body:expr) => {
        Box::new(move || {
            $(let $x = black_box(&mut $x);)*
            let r: usize = $body;
            black_box(r)
        }) as Run
    };
}

/// What a batch function returns, as the count a [`Run`] gives: refusals, or 0.
pub trait Refused {
    /// The count.
    fn count(self) -> usize;
}

impl Refused for () {
    fn count(self) -> usize {
        0
    }
}

impl Refused for usize {
    fn count(self) -> usize {
        self
    }
}

/// Rust and C batch functions of one input and one output, each side converting its
/// own copy of the same inputs into outputs of its own.
fn sides<I, O, CI, CO, R: Refused + 'static, CR: Refused + 'static>(
    (input, c_input): (&[I], &[CI]),
    rust: fn(&[I], &mut [O]) -> R,
    c: fn(&[CI], &mut [CO]) -> CR,
) -> (Run, Run)
where
    I: Clone + 'static,
    CI: Clone + 'static,
    O: Clone + Default + 'static,
    CO: Clone + Default + 'static,
{
    let (i, mut o) = (input.to_vec(), vec![O::default(); BATCH]);
    let (ci, mut co) = (c_input.to_vec(), vec![CO::default(); BATCH]);
    (
        run!(|o| rust(black_box(&i), o).count()),
        run!(|co| c(black_box(&ci), co).count()),
    )
}

/// The single-conversion comparisons.
#[must_use]
pub fn pairs() -> Vec<Case> {
    let (vmcb, cpl) = inputs::vmcb(BATCH, 1);
    let vmx = inputs::vmx(BATCH, 2);
    let kvm = inputs::kvm(BATCH, 3);
    let qemu = inputs::qemu(BATCH, 4);
    let c_vmcb: Vec<CVmcbSeg> = to_c(&vmcb);
    let c_vmx: Vec<CVmxSeg> = to_c(&vmx);
    let c_qemu: Vec<CQemuSeg> = to_c(&qemu);
    let attribs: Vec<u16> = vmcb.iter().map(|v| v.attrib.0).collect();

    let k0 = || vec![KvmSegment::default(); BATCH];
    let mut out = Vec::new();

    {
        let (i, c, mut o) = (vmcb.clone(), cpl.clone(), k0());
        let (ci, cc, mut co) = (c_vmcb.clone(), cpl.clone(), k0());
        out.push(case(
            "vmcb->kvm svm_get_segment",
            (
                run!(|o| {
                    rust::svm_get_batch(black_box(&i), black_box(&c), o);
                    0
                }),
                run!(|co| {
                    ffi::svm_get_batch(black_box(&ci), black_box(&cc), co);
                    0
                }),
            ),
        ));
    }
    {
        let (i, mut o, mut c) = (
            kvm.clone(),
            vec![VmcbSegment::default(); BATCH],
            vec![0u8; BATCH],
        );
        let (ci, mut co, mut cc) = (
            kvm.clone(),
            vec![CVmcbSeg::default(); BATCH],
            vec![0u8; BATCH],
        );
        out.push(case(
            "kvm->vmcb svm_set_segment",
            (
                run!(|o, c| {
                    rust::svm_set_batch(black_box(&i), o, c);
                    0
                }),
                run!(|co, cc| {
                    ffi::svm_set_batch(black_box(&ci), co, cc);
                    0
                }),
            ),
        ));
    }
    out.extend([
        case(
            "vmx->kvm vmx_get_segment",
            sides((&vmx, &c_vmx), rust::vmx_get_batch, ffi::vmx_get_batch),
        ),
        case(
            "kvm->vmx vmx_set_segment",
            sides((&kvm, &kvm), rust::vmx_set_batch, ffi::vmx_set_batch),
        ),
        case(
            "kvm->qemu get_seg",
            sides((&kvm, &kvm), rust::qemu_get_batch, ffi::qemu_get_batch),
        ),
        case(
            "qemu->kvm set_seg",
            sides((&qemu, &c_qemu), rust::qemu_set_batch, ffi::qemu_set_batch),
        ),
        case(
            "vmcb->vmx strict (attrib->AR)",
            sides(
                (&vmcb, &c_vmcb),
                rust::vmcb_to_vmx_batch,
                ffi::vmcb_to_vmx_batch,
            ),
        ),
        case(
            "attrib->AR bit move",
            sides(
                (&attribs, &attribs),
                rust::svm_attrib_to_vmx_ar_batch,
                ffi::svm_attrib_to_vmx_ar_batch,
            ),
        ),
        case(
            "kvm->vmx strict",
            sides((&kvm, &kvm), rust::kvm_to_vmx_batch, ffi::kvm_to_vmx_batch),
        ),
        case(
            "vmx->kvm strict",
            sides(
                (&vmx, &c_vmx),
                rust::vmx_to_kvm_batch,
                ffi::vmx_to_kvm_batch,
            ),
        ),
        case(
            "kvm->qemu strict",
            sides(
                (&kvm, &kvm),
                rust::kvm_to_qemu_batch,
                ffi::kvm_to_qemu_batch,
            ),
        ),
        case(
            "qemu->kvm strict",
            sides(
                (&qemu, &c_qemu),
                rust::qemu_to_kvm_batch,
                ffi::qemu_to_kvm_batch,
            ),
        ),
        case(
            "kvm->hyperv strict",
            sides((&kvm, &kvm), rust::kvm_to_hv_batch, ffi::kvm_to_hv_batch),
        ),
    ]);
    out
}

fn in_flight_vmcb(v: &[VmcbSegment], cpl: &[u8]) -> Vec<InFlight> {
    v.iter()
        .zip(cpl)
        .map(|(v, c)| InFlight {
            value: SegmentValue::Vmcb(*v),
            vmcb_cpl: *c,
        })
        .collect()
}

fn in_flight<T: Copy>(v: &[T], wrap: fn(T) -> SegmentValue) -> Vec<InFlight> {
    v.iter()
        .map(|x| InFlight {
            value: wrap(*x),
            vmcb_cpl: 0,
        })
        .collect()
}

/// The batch as whole vCPUs: vCPU j holds elements 8j..8j+7 (element i is register
/// i & 7); a VMCB's CPL byte is its SS element's.
fn vcpus(input: &[InFlight]) -> Vec<VcpuSegments> {
    input
        .chunks_exact(8)
        .map(|regs| {
            let at = |reg: SegReg| regs[reg.index()];
            match at(SegReg::Ss).value {
                SegmentValue::Vmcb(_) => VcpuSegments::Vmcb {
                    segments: PerSegReg::from_fn(|reg| match at(reg).value {
                        SegmentValue::Vmcb(v) => v,
                        _ => unreachable!("one format per batch"),
                    }),
                    cpl: at(SegReg::Ss).vmcb_cpl,
                },
                SegmentValue::Vmcs(_) => {
                    VcpuSegments::Vmcs(PerSegReg::from_fn(|reg| match at(reg).value {
                        SegmentValue::Vmcs(v) => v,
                        _ => unreachable!("one format per batch"),
                    }))
                }
                _ => VcpuSegments::Kvm(PerSegReg::from_fn(|reg| match at(reg).value {
                    SegmentValue::Kvm(k) => k,
                    _ => unreachable!("one format per batch"),
                })),
            }
        })
        .collect()
}

/// A vCPU in `format` to write outputs over.
fn blank_vcpu(format: Format) -> VcpuSegments {
    match format {
        Format::Vmcb => VcpuSegments::Vmcb {
            segments: PerSegReg::from_fn(|_| VmcbSegment::default()),
            cpl: 0,
        },
        Format::Vmcs => VcpuSegments::Vmcs(PerSegReg::from_fn(|_| VmxSegment::default())),
        Format::Kvm => VcpuSegments::Kvm(PerSegReg::from_fn(|_| KvmSegment::default())),
        // Hyper-V registers, and formats to come: no benchmarked chain ends there.
        _ => VcpuSegments::HyperV(PerSegReg::from_fn(|_| HvSegmentRegister::default())),
    }
}

/// The batch split by register (the same elements, register i & 7 in slice i & 7).
fn by_reg(input: &[InFlight]) -> PerSegReg<Vec<InFlight>> {
    PerSegReg::from_fn(|reg| input.iter().skip(reg.index()).step_by(8).copied().collect())
}

/// `batch` (a loop calling a one-segment sync through a pointer) over its own copy of
/// `input` and its CPL bytes, into outputs of its own.
fn per_segment<I, O>(
    mut batch: impl FnMut(&[I], &[u8], &mut [O], &mut [u8]) + 'static,
    input: &[I],
    cpl: &[u8],
) -> Run
where
    I: Clone + 'static,
    O: Clone + Default + 'static,
{
    let (i, c) = (input.to_vec(), cpl.to_vec());
    let (mut o, mut oc) = (vec![O::default(); BATCH], vec![0u8; BATCH]);
    run!(|o, oc| {
        batch(black_box(&i), black_box(&c), o, oc);
        0
    })
}

/// A chain shape's sync of one segment called once per element through its pointer
/// (hidden from both compilers): C's ("c-one", on the C inputs) and the typed Rust's
/// ("rust-typed-one", the same profile functions as "direct", on the Rust inputs).
fn one_segment<CI, CO, I, O>(
    (c, c_input): (ffi::OneSync<CI, CO>, &[CI]),
    (typed, input): ([direct::TypedSync<I, O>; 8], &[I]),
    cpl: &[u8],
) -> [(&'static str, Run); 2]
where
    CI: Clone + 'static,
    CO: Clone + Default + 'static,
    I: Clone + 'static,
    O: Clone + Default + 'static,
{
    [
        (
            "c-one",
            per_segment(
                move |i, c_in, o, c_out| ffi::one_batch(black_box(c), i, c_in, o, c_out),
                c_input,
                cpl,
            ),
        ),
        (
            "rust-typed-one",
            per_segment(
                move |i, c_in, o, c_out| {
                    direct::typed_one_batch(&black_box(typed), i, c_in, o, c_out)
                },
                input,
                cpl,
            ),
        ),
    ]
}

/// The chains of current profiles among segstate's built-in ones, each as
/// `Chain::run_segment`, the same profile functions called directly, and C.
#[must_use]
pub fn chains() -> Vec<Case> {
    let (vmcb, cpl) = inputs::vmcb(BATCH, 11);
    let vmx = inputs::vmx(BATCH, 12);
    let kvm = inputs::kvm(BATCH, 13);
    let c_vmcb: Vec<CVmcbSeg> = to_c(&vmcb);
    let c_vmx: Vec<CVmxSeg> = to_c(&vmx);
    let fl_vmcb = in_flight_vmcb(&vmcb, &cpl);
    let fl_vmx = in_flight(&vmx, SegmentValue::Vmcs);
    let fl_kvm = in_flight(&kvm, SegmentValue::Kvm);
    let no_cpl = vec![0u8; BATCH];
    let blank = InFlight {
        value: SegmentValue::Kvm(KvmSegment::default()),
        vmcb_cpl: 0,
    };

    let chain_run = |spec: &str, input: &Vec<InFlight>| -> [(&'static str, Run); 9] {
        let chain: Chain = spec.parse().expect("chain parses");
        chain.compile();
        let (i, mut o) = (input.clone(), vec![blank; BATCH]);
        let c = chain.clone();
        let segment = run!(|o| rust::chain_batch(black_box(&c), black_box(&i), o));
        let (i, mut o) = (input.clone(), vec![blank; BATCH]);
        let c = chain.clone();
        let into = run!(|o| rust::chain_batch_into(black_box(&c), black_box(&i), o));
        let (i, mut o) = (
            vcpus(input),
            vec![blank_vcpu(chain.destination()); BATCH / 8],
        );
        let c = chain.clone();
        let whole = run!(|o| rust::chain_run_vcpus(black_box(&c), black_box(&i), o));
        let (i, mut o) = (
            vcpus(input),
            vec![blank_vcpu(chain.destination()); BATCH / 8],
        );
        let c = chain.clone();
        let whole_into = run!(|o| rust::chain_run_vcpus_into(black_box(&c), black_box(&i), o));
        let (i, mut o) = (by_reg(input), by_reg(input));
        let batch = run!(|o| rust::chain_run_batches(black_box(&chain), black_box(&i), o));
        let (i, mut o) = (by_reg(input), by_reg(input));
        let copy = run!(|o| rust::copy_batches(black_box(&i), o));
        let (i, mut o) = (input.clone(), vec![blank; BATCH]);
        let unconverted: rust::SegmentCall = rust::unconverted;
        let floor = run!(|o| rust::segment_call_batch(black_box(unconverted), black_box(&i), o));
        let shape = rust::contract::Shape::of(spec).expect("a shape the bench writes out");
        let (i, mut o) = (input.clone(), vec![blank; BATCH]);
        let contract = run!(|o| rust::contract::batch(black_box(shape), black_box(&i), o));
        let (i, mut o) = (CInFlight::all(input), CInFlight::all(&[blank; BATCH]));
        let c_contract = run!(|o| ffi::contract_batch(black_box(shape), black_box(&i), o));
        [
            ("rust", segment),
            ("rust-into", into),
            ("rust-run", whole),
            ("rust-run-into", whole_into),
            ("rust-batch", batch),
            ("rust-batch-copy", copy),
            ("rust-call-floor", floor),
            ("rust-contract", contract),
            ("c-contract", c_contract),
        ]
    };
    let mk = |spec: &str,
              chain: [(&'static str, Run); 9],
              (direct, c): (Run, Run),
              one: [(&'static str, Run); 2]| {
        let mut variants: Vec<(&'static str, Run)> = chain.into();
        variants.push(("rust-direct", direct));
        variants.push(("c", c));
        variants.extend(one);
        Case {
            name: spec.into(),
            chain: true,
            variants,
        }
    };
    let vmcb_out = || (vec![VmcbSegment::default(); BATCH], vec![0u8; BATCH]);
    let c_vmcb_out = || (vec![CVmcbSeg::default(); BATCH], vec![0u8; BATCH]);
    let mut out = Vec::new();

    macro_rules! vmcb_vmcb {
        ($spec:literal, $direct:path, $c:path, $one:path, $typed:expr) => {{
            let (i, c, (mut o, mut oc)) = (vmcb.clone(), cpl.clone(), vmcb_out());
            let (ci, cc, (mut co, mut coc)) = (c_vmcb.clone(), cpl.clone(), c_vmcb_out());
            out.push(mk(
                $spec,
                chain_run($spec, &fl_vmcb),
                (
                    run!(|o, oc| {
                        $direct(black_box(&i), black_box(&c), o, oc);
                        0
                    }),
                    run!(|co, coc| {
                        $c(black_box(&ci), black_box(&cc), co, coc);
                        0
                    }),
                ),
                one_segment(($one, &c_vmcb), ($typed, &vmcb), &cpl),
            ));
        }};
    }
    vmcb_vmcb!(
        "kvm-svm > qemu > kvm-svm",
        direct::svm_qemu_svm,
        ffi::chain_svm_qemu_svm,
        ffi::ONE_SVM_QEMU_SVM,
        direct::ONE_SVM_QEMU_SVM
    );
    vmcb_vmcb!(
        "kvm-svm > verbatim > kvm-svm",
        direct::svm_svm,
        ffi::chain_svm_svm,
        ffi::ONE_SVM_SVM,
        direct::ONE_SVM_SVM
    );
    vmcb_vmcb!(
        "kvm-svm > qemu > kvm-vmx > qemu > kvm-svm",
        direct::svm_qemu_vmx_qemu_svm,
        ffi::chain_svm_qemu_vmx_qemu_svm,
        ffi::ONE_SVM_QEMU_VMX_QEMU_SVM,
        direct::ONE_SVM_QEMU_VMX_QEMU_SVM
    );
    {
        let spec = "kvm-svm > qemu > kvm-vmx";
        let (i, c, mut o) = (
            vmcb.clone(),
            cpl.clone(),
            vec![VmxSegment::default(); BATCH],
        );
        let (ci, cc, mut co) = (c_vmcb.clone(), cpl.clone(), vec![CVmxSeg::default(); BATCH]);
        out.push(mk(
            spec,
            chain_run(spec, &fl_vmcb),
            (
                run!(|o| {
                    direct::svm_qemu_vmx(black_box(&i), black_box(&c), o);
                    0
                }),
                run!(|co| {
                    ffi::chain_svm_qemu_vmx(black_box(&ci), black_box(&cc), co);
                    0
                }),
            ),
            one_segment(
                (ffi::ONE_SVM_QEMU_VMX, &c_vmcb),
                (direct::ONE_SVM_QEMU_VMX, &vmcb),
                &cpl,
            ),
        ));
    }
    {
        let spec = "kvm-vmx > qemu > kvm-svm";
        let (i, (mut o, mut oc)) = (vmx.clone(), vmcb_out());
        let (ci, (mut co, mut coc)) = (c_vmx.clone(), c_vmcb_out());
        out.push(mk(
            spec,
            chain_run(spec, &fl_vmx),
            (
                run!(|o, oc| {
                    direct::vmx_qemu_svm(black_box(&i), o, oc);
                    0
                }),
                run!(|co, coc| {
                    ffi::chain_vmx_qemu_svm(black_box(&ci), co, coc);
                    0
                }),
            ),
            one_segment(
                (ffi::ONE_VMX_QEMU_SVM, &c_vmx),
                (direct::ONE_VMX_QEMU_SVM, &vmx),
                &no_cpl,
            ),
        ));
    }
    {
        let spec = "verbatim > kvm-svm";
        let (i, (mut o, mut oc)) = (kvm.clone(), vmcb_out());
        let (ci, (mut co, mut coc)) = (kvm.clone(), c_vmcb_out());
        out.push(mk(
            spec,
            chain_run(spec, &fl_kvm),
            (
                run!(|o, oc| {
                    direct::verbatim_svm(black_box(&i), o, oc);
                    0
                }),
                run!(|co, coc| {
                    ffi::chain_verbatim_svm(black_box(&ci), co, coc);
                    0
                }),
            ),
            one_segment(
                (ffi::ONE_VERBATIM_SVM, &kvm),
                (direct::ONE_VERBATIM_SVM, &kvm),
                &no_cpl,
            ),
        ));
    }
    // The shapes of one input and one output: the direct Rust and the C side by side.
    for (spec, input, sides, one) in [
        (
            "kvm-vmx > qemu > kvm-vmx",
            &fl_vmx,
            sides(
                (&vmx, &c_vmx),
                direct::vmx_qemu_vmx,
                ffi::chain_vmx_qemu_vmx,
            ),
            one_segment(
                (ffi::ONE_VMX_QEMU_VMX, &c_vmx),
                (direct::ONE_VMX_QEMU_VMX, &vmx),
                &no_cpl,
            ),
        ),
        (
            "kvm-vmx > verbatim > kvm-vmx",
            &fl_vmx,
            sides((&vmx, &c_vmx), direct::vmx_vmx, ffi::chain_vmx_vmx),
            one_segment(
                (ffi::ONE_VMX_VMX, &c_vmx),
                (direct::ONE_VMX_VMX, &vmx),
                &no_cpl,
            ),
        ),
        (
            "verbatim > kvm-vmx",
            &fl_kvm,
            sides((&kvm, &kvm), rust::vmx_set_batch, ffi::vmx_set_batch),
            one_segment(
                (ffi::ONE_VERBATIM_VMX, &kvm),
                (direct::ONE_VERBATIM_VMX, &kvm),
                &no_cpl,
            ),
        ),
        (
            "qemu",
            &fl_kvm,
            sides((&kvm, &kvm), direct::qemu, ffi::chain_qemu),
            one_segment((ffi::ONE_QEMU, &kvm), (direct::ONE_QEMU, &kvm), &no_cpl),
        ),
    ] {
        out.push(mk(spec, chain_run(spec, input), sides, one));
    }
    out
}

/// The profiles of 2017's KVM and QEMU, each in place of today's in a chain's spec:
/// their rules are data, so a chain of them runs through its pipeline's entry rather
/// than an arm inlined in the caller.
const PROFILES_2017: [(&str, &str); 3] = [
    ("kvm-svm", "kvm-svm@4.11"),
    ("kvm-vmx", "kvm-vmx@6.1"),
    ("qemu", "qemu@2.9"),
];

/// Each built-in chain shape through `Chain::run_segment` twice, over the inputs of
/// [`chains`]: "today" with today's profiles (an arm inlined in the caller), "entry" with
/// 2017's (through the pipeline's entry, `BENCHMARKS.md` §1 step 53). No C: this is what
/// a chain of older profiles pays beside one of today's.
#[must_use]
pub fn entry_chains() -> Vec<Case> {
    let (vmcb, cpl) = inputs::vmcb(BATCH, 11);
    let blank = InFlight {
        value: SegmentValue::Kvm(KvmSegment::default()),
        vmcb_cpl: 0,
    };
    rust::contract::Shape::ALL
        .into_iter()
        .map(|shape| {
            let today: Chain = shape.spec().parse().expect("chain parses");
            let spec_2017 = PROFILES_2017
                .iter()
                .fold(shape.spec().to_owned(), |s, (now, then)| {
                    s.replace(now, then)
                });
            let older: Chain = spec_2017.parse().expect("chain parses");
            assert!(
                today.is_current() && !older.is_current() && older.source() == today.source(),
                "{spec_2017}: the same shape with other profiles"
            );
            let input = match today.source() {
                Format::Vmcb => in_flight_vmcb(&vmcb, &cpl),
                Format::Vmcs => in_flight(&inputs::vmx(BATCH, 12), SegmentValue::Vmcs),
                _ => in_flight(&inputs::kvm(BATCH, 13), SegmentValue::Kvm),
            };
            let variants = [("today", today), ("entry", older)].map(|(name, chain)| {
                chain.compile();
                let (i, mut o) = (input.clone(), vec![blank; BATCH]);
                (
                    name,
                    run!(|o| rust::chain_batch(black_box(&chain), black_box(&i), o)),
                )
            });
            Case {
                name: shape.spec().into(),
                chain: true,
                variants: variants.into(),
            }
        })
        .collect()
}
