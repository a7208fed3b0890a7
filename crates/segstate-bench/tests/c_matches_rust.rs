//! The C baseline and segstate produce identical outputs over exhaustive and swept
//! domains, so the benchmarks compare equal work. Batches are checked (element i is
//! register i & 7, as in the benchmarks), and the scalar C entry points against them.

use std::fmt::Debug;

use segstate::format::hyperv::HvSegmentRegister;
use segstate::format::kvm::KvmSegment;
use segstate::format::qemu::{QemuFlags, QemuSegmentCache};
use segstate::format::svm::{SvmAttrib, VmcbSegment};
use segstate::format::vmx::{VmxAccessRights, VmxSegment};
use segstate::profile::{Chain, Format, InFlight, SegmentValue};
use segstate::testing::kvm_segment;
use segstate_bench::ffi::{self, CHvSeg, CInFlight, CQemuSeg, CVmcbSeg, CVmxSeg, OneSync};
use segstate_bench::rust;
use segstate_bench::rust::direct::{self, TypedSync};

fn check<T: PartialEq + Debug>(what: &str, rust: &[T], c: &[T], input: impl Fn(usize) -> String) {
    assert_eq!(rust.len(), c.len());
    let bad: Vec<usize> = (0..rust.len()).filter(|&i| rust[i] != c[i]).collect();
    if let Some(&i) = bad.first() {
        panic!(
            "{what}: {} of {} differ; first at {i} (reg {:?}), input {}\n rust: {:?}\n    c: {:?}",
            bad.len(),
            rust.len(),
            rust::reg_of(i),
            input(i),
            rust[i],
            c[i]
        );
    }
}

fn to_c<T, U: for<'a> From<&'a T>>(v: &[T]) -> Vec<U> {
    v.iter().map(U::from).collect()
}

fn from_c<T, U: for<'a> From<&'a T>>(v: &[T]) -> Vec<U> {
    v.iter().map(U::from).collect()
}

const LIMITS: [u32; 4] = [0xffff, 0xf_ffff, 0x10_0000, 0xffff_ffff];

/// Every 16-bit attrib (the 12 defined bits and the reserved nibble), CPL bytes 0-3
/// and garbage, four limits: each × 8 registers.
fn vmcb_domain() -> (Vec<VmcbSegment>, Vec<u8>) {
    let mut segs = Vec::new();
    let mut cpls = Vec::new();
    for attrib in 0..=u16::MAX {
        let cpl_set: &[u8] = if attrib < 0x1000 {
            &[0, 1, 2, 3, 0xff]
        } else {
            &[3]
        };
        for &cpl in cpl_set {
            for (n, limit) in LIMITS.iter().enumerate() {
                if attrib >= 0x1000 && n > 0 {
                    continue;
                }
                for reg in 0..8u16 {
                    segs.push(VmcbSegment {
                        selector: attrib ^ (reg << 3),
                        attrib: SvmAttrib(attrib),
                        limit: *limit,
                        base: u64::from(attrib) << 20 | u64::from(reg),
                    });
                    cpls.push(cpl);
                }
            }
        }
    }
    (segs, cpls)
}

/// Every 17-bit access-rights value, and reserved-bit variants, × 8 registers.
fn vmx_domain() -> Vec<VmxSegment> {
    let mut out = Vec::new();
    let extra = [1 << 8, 1 << 11, 1 << 17, 1 << 31, 0xfffe_0f00];
    let values = (0..(1u32 << 17)).chain(
        (0..(1u32 << 17))
            .step_by(97)
            .flat_map(move |v| extra.map(|e| v | e)),
    );
    for (n, ar) in values.enumerate() {
        for reg in 0..8u16 {
            out.push(VmxSegment {
                selector: (n as u16) ^ reg,
                base: (n as u64) << 12,
                limit: LIMITS[n % 4],
                access_rights: VmxAccessRights(ar),
            });
        }
    }
    out
}

/// `kvm_segment` byte sweep, garbage included, × 8 registers.
fn kvm_domain() -> Vec<KvmSegment> {
    let types: Vec<u8> = (0..=16).chain([0x7f, 0xff]).collect();
    let tri = [0u8, 1, 2];
    let dpls = [0u8, 1, 2, 3, 4, 0xff];
    let lga = {
        let mut v: Vec<[u8; 3]> = (0..8u8)
            .map(|b| [b & 1, (b >> 1) & 1, (b >> 2) & 1])
            .collect();
        v.extend([[2, 0, 0], [0, 2, 0], [0, 0, 2], [0xff, 0xff, 0xff]]);
        v
    };
    let mut out = Vec::new();
    let mut n = 0u64;
    for &type_ in &types {
        for present in tri {
            for &dpl in &dpls {
                for s in tri {
                    for db in tri {
                        for unusable in tri {
                            for &[l, g, avl] in &lga {
                                let paddings: &[u8] = if type_ == 3 { &[0, 1] } else { &[0] };
                                for &padding in paddings {
                                    n += 1;
                                    for reg in 0..8u16 {
                                        out.push(KvmSegment {
                                            padding,
                                            ..kvm_segment(
                                                (n as u16).wrapping_mul(8) | reg,
                                                LIMITS[(n % 4) as usize],
                                                n << 16 | u64::from(reg),
                                                [type_, present, dpl, db, s, l, g, avl, unusable],
                                            )
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Every attribute-bit combination of QEMU flags, plus residue and wide-selector
/// variants, × 8 registers.
fn qemu_domain() -> Vec<QemuSegmentCache> {
    let mut out = Vec::new();
    for (n, bits) in (0..=u16::MAX as u32).enumerate() {
        // Spread the 16 bits over the attribute positions 15:8 and 23:20.
        let flags = (bits & 0xff) << 8 | ((bits >> 8) & 0xf) << 20;
        let variants: &[(u32, u32)] = match bits >> 12 {
            0 => &[(0, 0x18)],
            1 => &[(1, 0x18), (0x000f_0000, 0x18)],
            2 => &[(0x1000_0000, 0x18), (0, 0x1_0018)],
            _ => &[(0, 0x2b)],
        };
        for &(residue, selector) in variants {
            for reg in 0..8u32 {
                out.push(QemuSegmentCache {
                    selector: selector ^ reg,
                    base: (n as u64) << 8,
                    limit: LIMITS[n % 4],
                    flags: QemuFlags(flags | residue),
                });
            }
        }
    }
    out
}

#[test]
fn svm_get_segment() {
    let (v, cpl) = vmcb_domain();
    let mut r = vec![KvmSegment::default(); v.len()];
    let mut c = r.clone();
    rust::svm_get_batch(&v, &cpl, &mut r);
    let cv: Vec<CVmcbSeg> = to_c(&v);
    ffi::svm_get_batch(&cv, &cpl, &mut c);
    check("svm_get_segment", &r, &c, |i| {
        format!("{:?} cpl {}", v[i], cpl[i])
    });
    for i in (0..v.len()).step_by(1009) {
        assert_eq!(
            ffi::svm_get_segment(&cv[i], cpl[i], i & 7),
            c[i],
            "scalar = batch"
        );
    }
}

#[test]
fn svm_set_segment() {
    let k = kvm_domain();
    let mut r = vec![VmcbSegment::default(); k.len()];
    let mut rc = vec![0u8; k.len()];
    let mut c = vec![CVmcbSeg::default(); k.len()];
    let mut cc = vec![0u8; k.len()];
    rust::svm_set_batch(&k, &mut r, &mut rc);
    ffi::svm_set_batch(&k, &mut c, &mut cc);
    let c: Vec<VmcbSegment> = from_c(&c);
    check("svm_set_segment", &r, &c, |i| format!("{:?}", k[i]));
    check("svm_set_segment cpl", &rc, &cc, |i| format!("{:?}", k[i]));
    for i in (0..k.len()).step_by(1013) {
        let (s, cpl) = ffi::svm_set_segment(&k[i], i & 7);
        assert_eq!(VmcbSegment::from(&s), c[i]);
        assert_eq!(cpl.unwrap_or(0), cc[i]);
        assert_eq!(cpl.is_some(), i & 7 == 2, "only SS writes the CPL");
    }
}

#[test]
fn vmx_get_and_set_segment() {
    let v = vmx_domain();
    let mut r = vec![KvmSegment::default(); v.len()];
    let mut c = r.clone();
    rust::vmx_get_batch(&v, &mut r);
    let cv: Vec<CVmxSeg> = to_c(&v);
    ffi::vmx_get_batch(&cv, &mut c);
    check("vmx_get_segment", &r, &c, |i| format!("{:?}", v[i]));

    let k = kvm_domain();
    let mut r = vec![VmxSegment::default(); k.len()];
    let mut c = vec![CVmxSeg::default(); k.len()];
    rust::vmx_set_batch(&k, &mut r);
    ffi::vmx_set_batch(&k, &mut c);
    let c: Vec<VmxSegment> = from_c(&c);
    check("vmx_set_segment", &r, &c, |i| format!("{:?}", k[i]));
    for i in (0..k.len()).step_by(1013) {
        assert_eq!(VmxSegment::from(&ffi::vmx_set_segment(&k[i], i & 7)), c[i]);
        assert_eq!(ffi::vmx_get_segment(&(&c[i]).into()), rust_vmx_get(&c[i]));
    }
}

fn rust_vmx_get(v: &VmxSegment) -> KvmSegment {
    let mut out = [KvmSegment::default()];
    rust::vmx_get_batch(std::slice::from_ref(v), &mut out);
    out[0]
}

#[test]
fn qemu_get_and_set_seg() {
    let k = kvm_domain();
    let mut r = vec![QemuSegmentCache::default(); k.len()];
    let mut c = vec![CQemuSeg::default(); k.len()];
    rust::qemu_get_batch(&k, &mut r);
    ffi::qemu_get_batch(&k, &mut c);
    let c: Vec<QemuSegmentCache> = from_c(&c);
    check("qemu get_seg", &r, &c, |i| format!("{:?}", k[i]));

    let q = qemu_domain();
    let mut r = vec![KvmSegment::default(); q.len()];
    let mut c = r.clone();
    rust::qemu_set_batch(&q, &mut r);
    let cq: Vec<CQemuSeg> = to_c(&q);
    ffi::qemu_set_batch(&cq, &mut c);
    check("qemu set_seg", &r, &c, |i| format!("{:?}", q[i]));
    for i in (0..q.len()).step_by(1013) {
        assert_eq!(ffi::qemu_set_seg(&cq[i]), c[i]);
        assert_eq!(
            QemuSegmentCache::from(&ffi::qemu_get_seg(&k[i])),
            rust_qemu_get(&k[i], i)
        );
    }
}

fn rust_qemu_get(k: &KvmSegment, i: usize) -> QemuSegmentCache {
    segstate::profile::qemu::get_seg(
        segstate::profile::Profile::QEMU.rules,
        rust::reg_of(i),
        k,
        &QemuSegmentCache::default(),
    )
}

/// Strict conversion: Rust batch (Option per element), C scalar and C batch agree.
fn strict<I, RO, CI, CO>(
    what: &str,
    input: &[I],
    rust_batch: fn(&[I], &mut [RO]) -> usize,
    c_scalar: fn(&CI) -> Option<CO>,
    c_batch: fn(&[CI], &mut [CO]) -> usize,
    to_ci: fn(&I) -> CI,
    to_ro: fn(&CO) -> RO,
) where
    I: Copy + Debug,
    RO: Copy + Default + PartialEq + Debug,
    CO: Copy + Default,
{
    let mut r = Vec::with_capacity(input.len());
    let mut one = [RO::default()];
    for x in input {
        let refused = rust_batch(std::slice::from_ref(x), &mut one);
        r.push((refused == 0).then_some(one[0]));
    }
    let ci: Vec<CI> = input.iter().map(to_ci).collect();
    let c: Vec<Option<RO>> = ci.iter().map(|x| c_scalar(x).map(|o| to_ro(&o))).collect();
    check(what, &r, &c, |i| format!("{:?}", input[i]));
    let mut rb = vec![RO::default(); input.len()];
    let mut cb = vec![CO::default(); input.len()];
    let refused_r = rust_batch(input, &mut rb);
    let refused_c = c_batch(&ci, &mut cb);
    assert_eq!(refused_r, refused_c, "{what}: refusal counts");
    assert_eq!(refused_r, r.iter().filter(|x| x.is_none()).count());
    assert!(refused_r < input.len(), "{what}: something must convert");
}

#[test]
fn strict_format_conversions() {
    let k = kvm_domain();
    strict(
        "kvm->vmx",
        &k,
        rust::kvm_to_vmx_batch,
        ffi::kvm_to_vmx,
        ffi::kvm_to_vmx_batch,
        |x| *x,
        |x| VmxSegment::from(x),
    );
    strict(
        "kvm->qemu",
        &k,
        rust::kvm_to_qemu_batch,
        ffi::kvm_to_qemu,
        ffi::kvm_to_qemu_batch,
        |x| *x,
        |x| QemuSegmentCache::from(x),
    );
    strict(
        "kvm->hyperv",
        &k,
        rust::kvm_to_hv_batch,
        ffi::kvm_to_hv,
        ffi::kvm_to_hv_batch,
        |x| *x,
        |x| HvSegmentRegister::from(x),
    );

    let v = vmx_domain();
    strict(
        "vmx->kvm",
        &v,
        rust::vmx_to_kvm_batch,
        ffi::vmx_to_kvm,
        ffi::vmx_to_kvm_batch,
        |x| CVmxSeg::from(x),
        |x| *x,
    );

    let (vmcb, _) = vmcb_domain();
    strict(
        "vmcb->vmx",
        &vmcb,
        rust::vmcb_to_vmx_batch,
        ffi::vmcb_to_vmx,
        ffi::vmcb_to_vmx_batch,
        |x| CVmcbSeg::from(x),
        |x| VmxSegment::from(x),
    );

    let q = qemu_domain();
    strict(
        "qemu->kvm",
        &q,
        rust::qemu_to_kvm_batch,
        ffi::qemu_to_kvm,
        ffi::qemu_to_kvm_batch,
        |x| CQemuSeg::from(x),
        |x| *x,
    );
}

#[test]
fn strict_conversions_without_batches() {
    use segstate::arch::Segment;
    // VMX -> VMCB (no batch in the benches) and Hyper-V -> kvm, scalar.
    for seg in vmx_domain().iter().step_by(8) {
        let r = Segment::try_from(*seg).and_then(VmcbSegment::try_from).ok();
        let c = ffi::vmx_to_vmcb(&seg.into()).map(|s| VmcbSegment::from(&s));
        assert_eq!(r, c, "vmx->vmcb {seg:?}");
    }
    for attributes in 0..=u16::MAX {
        let h = HvSegmentRegister {
            base: 0x1000,
            limit: 0xfffff,
            selector: attributes,
            attributes: segstate::format::hyperv::HvSegmentAttributes(attributes),
        };
        let r = Segment::try_from(h).map(KvmSegment::from).ok();
        let c = ffi::hv_to_kvm(&CHvSeg::from(&h));
        assert_eq!(r, c, "hyperv->kvm {h:?}");
    }
}

#[test]
fn layout_bit_moves() {
    let attribs: Vec<u16> = (0..=u16::MAX).collect();
    let mut r = vec![0u32; attribs.len()];
    let mut c = r.clone();
    rust::svm_attrib_to_vmx_ar_batch(&attribs, &mut r);
    ffi::svm_attrib_to_vmx_ar_batch(&attribs, &mut c);
    check("attrib->AR", &r, &c, |i| format!("{:#x}", attribs[i]));
    for a in 0..0x1000u16 {
        assert_eq!(ffi::svm_attrib_to_vmx_ar(a), SvmAttrib(a).to_vmx_layout());
    }
    for ar in 0..(1u32 << 17) {
        assert_eq!(
            ffi::vmx_ar_to_svm_attrib(ar),
            VmxAccessRights(ar).to_svm_layout()
        );
    }
}

// ---- whole chains ----

/// The chain run interpreted (fresh, below the compile threshold) and compiled: both
/// must give the same outputs, which the tests then hold against C.
fn run_chain(spec: &str, input: &[InFlight]) -> Vec<InFlight> {
    let blank = InFlight {
        value: SegmentValue::Kvm(KvmSegment::default()),
        vmcb_cpl: 0,
    };
    let [interpreted, compiled] = [false, true].map(|compile| {
        let chain: Chain = spec.parse().unwrap();
        assert!(!compile || chain.compile(), "{spec} compiles");
        let mut out = vec![blank; input.len()];
        assert_eq!(
            rust::chain_batch(&chain, input, &mut out),
            0,
            "{spec}: no run fails"
        );
        out
    });
    assert!(interpreted == compiled, "{spec}: compiled differs");
    // `run_segment_into` writes what `run_segment` returns, compiled or not, over
    // outputs that held something else before.
    for compile in [false, true] {
        let chain: Chain = spec.parse().unwrap();
        assert!(!compile || chain.compile(), "{spec} compiles");
        let mut into = input.to_vec();
        assert_eq!(
            rust::chain_batch_into(&chain, input, &mut into),
            0,
            "{spec}"
        );
        assert!(into == compiled, "{spec}: run_segment_into differs");
    }
    // The bench's hand-written contract (`rust::contract`) gives what run_segment gives.
    let shape = rust::contract::Shape::of(spec).unwrap();
    let mut contract = vec![blank; input.len()];
    assert_eq!(rust::contract::batch(shape, input, &mut contract), 0);
    assert!(
        contract == compiled,
        "{spec}: the contract written out differs"
    );
    // And so does C's contract (`ffi::contract_batch`, the same shape chosen at run time).
    let c_input = CInFlight::all(input);
    let mut c_out = CInFlight::all(&vec![blank; input.len()]);
    assert_eq!(ffi::contract_batch(shape, &c_input, &mut c_out), 0);
    let c_out: Vec<InFlight> = c_out.iter().map(CInFlight::in_flight).collect();
    check(spec, &c_out, &compiled, |i| {
        format!("C contract, {:?}", input[i])
    });
    compiled
}

/// A value in a format other than its chain's source is refused, its output left as it
/// was, by `run_segment`, `run_segment_into` and by both contracts written out (Rust's
/// and C's), for every shape the bench runs and every other format C's contract holds.
#[test]
fn every_contract_refuses_a_value_in_another_format() {
    let values = [
        (Format::Vmcb, SegmentValue::Vmcb(VmcbSegment::default())),
        (Format::Vmcs, SegmentValue::Vmcs(VmxSegment::default())),
        (Format::Kvm, SegmentValue::Kvm(KvmSegment::default())),
    ];
    let untouched = InFlight {
        value: SegmentValue::Kvm(KvmSegment {
            selector: 0x5a5a,
            ..KvmSegment::default()
        }),
        vmcb_cpl: 0xa5,
    };
    let mut refused = 0;
    for chain in segstate::profile::builtin_chains() {
        let spec = chain.to_string();
        let Some(shape) = rust::contract::Shape::of(&spec) else {
            continue;
        };
        for (format, value) in values {
            if format == chain.source() {
                continue;
            }
            let input = vec![InFlight { value, vmcb_cpl: 3 }; 8];
            let mut out = vec![untouched; 8];
            assert_eq!(rust::chain_batch(&chain, &input, &mut out), 8, "{spec}");
            assert_eq!(
                rust::chain_batch_into(&chain, &input, &mut out),
                8,
                "{spec}"
            );
            assert_eq!(rust::contract::batch(shape, &input, &mut out), 8, "{spec}");
            assert!(out.iter().all(|o| *o == untouched), "{spec}: Rust wrote");
            let c_input = CInFlight::all(&input);
            let mut c_out = CInFlight::all(&[untouched; 8]);
            assert_eq!(
                ffi::contract_batch(shape, &c_input, &mut c_out),
                8,
                "{spec}"
            );
            assert!(
                c_out.iter().all(|o| o.in_flight() == untouched),
                "{spec}: C wrote {value:?}"
            );
            refused += 1;
        }
    }
    // Ten shapes, each with two formats other than its source.
    assert_eq!(refused, 20);
}

fn vmcb_out(out: &[InFlight]) -> (Vec<VmcbSegment>, Vec<u8>) {
    out.iter()
        .map(|f| match f.value {
            SegmentValue::Vmcb(v) => (v, f.vmcb_cpl),
            other => panic!("expected a VMCB segment, got {other:?}"),
        })
        .unzip()
}

/// A chain into a VMCB against C's and the direct Rust's outputs, segments and CPL
/// bytes; `input` describes element i.
fn check_into_vmcb(
    spec: &str,
    chain: &[InFlight],
    (c, c_cpl): (&[CVmcbSeg], &[u8]),
    (direct, direct_cpl): (&[VmcbSegment], &[u8]),
    input: impl Fn(usize) -> String,
) {
    let (r, rc) = vmcb_out(chain);
    let c: Vec<VmcbSegment> = from_c(c);
    check(spec, &r, &c, &input);
    check(spec, &rc, c_cpl, &input);
    check(spec, &r, direct, |i| format!("direct {}", input(i)));
    check(spec, &rc, direct_cpl, |i| format!("direct {}", input(i)));
}

/// A chain into a VMCS against C's outputs and, when given, the direct Rust's.
fn check_into_vmcs(
    spec: &str,
    chain: &[InFlight],
    c: &[CVmxSeg],
    direct: Option<&[VmxSegment]>,
    input: impl Fn(usize) -> String,
) {
    let r = vmcs_out(chain);
    let c: Vec<VmxSegment> = from_c(c);
    check(spec, &r, &c, &input);
    if let Some(direct) = direct {
        check(spec, &r, direct, |i| format!("direct {}", input(i)));
    }
}

fn vmcs_out(out: &[InFlight]) -> Vec<VmxSegment> {
    out.iter()
        .map(|f| match f.value {
            SegmentValue::Vmcs(v) => v,
            other => panic!("expected a VMCS segment, got {other:?}"),
        })
        .collect()
}

fn kvm_out(out: &[InFlight]) -> Vec<KvmSegment> {
    out.iter()
        .map(|f| match f.value {
            SegmentValue::Kvm(v) => v,
            other => panic!("expected a kvm segment, got {other:?}"),
        })
        .collect()
}

/// `run` (a one-segment sync called through its pointer once per element, of `spec`)
/// into fresh outputs: equal to `expected`, the CPL bytes equal to `expected_cpl` where
/// the chain writes a VMCB and left untouched where it does not.
fn check_per_segment<O: Clone + Default + PartialEq + Debug>(
    what: &str,
    run: impl FnOnce(&mut [O], &mut [u8]),
    (expected, expected_cpl): (&[O], Option<&[u8]>),
    describe: impl Fn(usize) -> String,
) {
    const UNTOUCHED: u8 = 0xa5;
    let n = expected.len();
    let (mut out, mut out_cpl) = (vec![O::default(); n], vec![UNTOUCHED; n]);
    run(&mut out, &mut out_cpl);
    check(what, &out, expected, &describe);
    let untouched = vec![UNTOUCHED; n];
    check(
        what,
        &out_cpl,
        expected_cpl.unwrap_or(&untouched),
        &describe,
    );
}

/// The one-segment syncs of `spec` called through their pointers once per element, the
/// benches' "c-one" (`ffi::one_batch`, on C's inputs) and "rust-typed-one"
/// (`direct::typed_one_batch`), against the same chain's C batch outputs `c_out` and
/// Rust outputs `rust_out` (held equal to each other before), with `out_cpl` the CPL
/// bytes where the chain writes a VMCB.
fn check_one<CI, CO, I, O>(
    spec: &str,
    (c_sync, c_input): (OneSync<CI, CO>, &[CI]),
    (typed, input): (&[TypedSync<I, O>; 8], &[I]),
    cpl: &[u8],
    (c_out, rust_out): (&[CO], &[O]),
    out_cpl: Option<&[u8]>,
) where
    I: Debug,
    CO: Clone + Default + PartialEq + Debug,
    O: Clone + Default + PartialEq + Debug,
{
    let describe = |i: usize| format!("{:?} cpl {}", input[i], cpl[i]);
    check_per_segment(
        &format!("{spec}, C one segment through a pointer"),
        |o, oc| ffi::one_batch(c_sync, c_input, cpl, o, oc),
        (c_out, out_cpl),
        describe,
    );
    check_per_segment(
        &format!("{spec}, typed Rust one segment through a pointer"),
        |o, oc| direct::typed_one_batch(typed, input, cpl, o, oc),
        (rust_out, out_cpl),
        describe,
    );
}

type VmcbChain<S> = fn(&[S], &[u8], &mut [S], &mut [u8]);

#[test]
fn chains_from_vmcb() {
    let (v, cpl) = vmcb_domain();
    // Reserved attrib bits make no sense in a VMCB the hardware wrote; keep them anyway:
    // the cooking masks them, identically on both sides.
    let input: Vec<InFlight> = v
        .iter()
        .zip(&cpl)
        .map(|(v, c)| InFlight {
            value: SegmentValue::Vmcb(*v),
            vmcb_cpl: *c,
        })
        .collect();
    let cv: Vec<CVmcbSeg> = to_c(&v);
    let n = v.len();
    type One = (
        OneSync<CVmcbSeg, CVmcbSeg>,
        &'static [TypedSync<VmcbSegment, VmcbSegment>; 8],
    );
    let cases: [(&str, VmcbChain<VmcbSegment>, VmcbChain<CVmcbSeg>, One); 3] = [
        (
            "kvm-svm > qemu > kvm-svm",
            direct::svm_qemu_svm,
            ffi::chain_svm_qemu_svm,
            (ffi::ONE_SVM_QEMU_SVM, &direct::ONE_SVM_QEMU_SVM),
        ),
        (
            "kvm-svm > verbatim > kvm-svm",
            direct::svm_svm,
            ffi::chain_svm_svm,
            (ffi::ONE_SVM_SVM, &direct::ONE_SVM_SVM),
        ),
        (
            "kvm-svm > qemu > kvm-vmx > qemu > kvm-svm",
            direct::svm_qemu_vmx_qemu_svm,
            ffi::chain_svm_qemu_vmx_qemu_svm,
            (
                ffi::ONE_SVM_QEMU_VMX_QEMU_SVM,
                &direct::ONE_SVM_QEMU_VMX_QEMU_SVM,
            ),
        ),
    ];
    let describe = |i: usize| format!("{:?}", input[i]);
    for (spec, d, cf, (one, typed)) in cases {
        let (mut dv, mut dc) = (vec![VmcbSegment::default(); n], vec![0u8; n]);
        d(&v, &cpl, &mut dv, &mut dc);
        let (mut c, mut cc) = (vec![CVmcbSeg::default(); n], vec![0u8; n]);
        cf(&cv, &cpl, &mut c, &mut cc);
        let chain = run_chain(spec, &input);
        check_into_vmcb(spec, &chain, (&c, &cc), (&dv, &dc), describe);
        check_one(spec, (one, &cv), (typed, &v), &cpl, (&c, &dv), Some(&cc));
    }

    let spec = "kvm-svm > qemu > kvm-vmx";
    let mut dv = vec![VmxSegment::default(); n];
    direct::svm_qemu_vmx(&v, &cpl, &mut dv);
    let mut c = vec![CVmxSeg::default(); n];
    ffi::chain_svm_qemu_vmx(&cv, &cpl, &mut c);
    check_into_vmcs(spec, &run_chain(spec, &input), &c, Some(&dv), describe);
    let one = (ffi::ONE_SVM_QEMU_VMX, &cv[..]);
    check_one(
        spec,
        one,
        (&direct::ONE_SVM_QEMU_VMX, &v),
        &cpl,
        (&c, &dv),
        None,
    );
}

#[test]
fn chains_from_vmcs() {
    let v = vmx_domain();
    let input: Vec<InFlight> = v
        .iter()
        .map(|v| InFlight {
            value: SegmentValue::Vmcs(*v),
            vmcb_cpl: 0,
        })
        .collect();
    let cv: Vec<CVmxSeg> = to_c(&v);
    let n = v.len();
    let no_cpl = vec![0u8; n];
    type VmxChain<S> = fn(&[S], &mut [S]);
    type One = (
        OneSync<CVmxSeg, CVmxSeg>,
        &'static [TypedSync<VmxSegment, VmxSegment>; 8],
    );
    let cases: [(&str, VmxChain<VmxSegment>, VmxChain<CVmxSeg>, One); 2] = [
        (
            "kvm-vmx > qemu > kvm-vmx",
            direct::vmx_qemu_vmx,
            ffi::chain_vmx_qemu_vmx,
            (ffi::ONE_VMX_QEMU_VMX, &direct::ONE_VMX_QEMU_VMX),
        ),
        (
            "kvm-vmx > verbatim > kvm-vmx",
            direct::vmx_vmx,
            ffi::chain_vmx_vmx,
            (ffi::ONE_VMX_VMX, &direct::ONE_VMX_VMX),
        ),
    ];
    let describe = |i: usize| format!("{:?}", input[i]);
    for (spec, d, cf, (one, typed)) in cases {
        let mut dv = vec![VmxSegment::default(); n];
        d(&v, &mut dv);
        let mut c = vec![CVmxSeg::default(); n];
        cf(&cv, &mut c);
        check_into_vmcs(spec, &run_chain(spec, &input), &c, Some(&dv), describe);
        check_one(spec, (one, &cv), (typed, &v), &no_cpl, (&c, &dv), None);
    }

    let spec = "kvm-vmx > qemu > kvm-svm";
    let (mut dv, mut dc) = (vec![VmcbSegment::default(); n], vec![0u8; n]);
    direct::vmx_qemu_svm(&v, &mut dv, &mut dc);
    let (mut c, mut cc) = (vec![CVmcbSeg::default(); n], vec![0u8; n]);
    ffi::chain_vmx_qemu_svm(&cv, &mut c, &mut cc);
    let chain = run_chain(spec, &input);
    check_into_vmcb(spec, &chain, (&c, &cc), (&dv, &dc), describe);
    let (one, typed) = ((ffi::ONE_VMX_QEMU_SVM, &cv[..]), &direct::ONE_VMX_QEMU_SVM);
    check_one(spec, one, (typed, &v), &no_cpl, (&c, &dv), Some(&cc));
}

#[test]
fn chains_from_kvm() {
    let k = kvm_domain();
    let input: Vec<InFlight> = k
        .iter()
        .map(|k| InFlight {
            value: SegmentValue::Kvm(*k),
            vmcb_cpl: 0,
        })
        .collect();
    let n = k.len();
    let no_cpl = vec![0u8; n];

    let describe = |i: usize| format!("{:?}", k[i]);

    let spec = "verbatim > kvm-svm";
    let (mut dv, mut dc) = (vec![VmcbSegment::default(); n], vec![0u8; n]);
    direct::verbatim_svm(&k, &mut dv, &mut dc);
    let (mut c, mut cc) = (vec![CVmcbSeg::default(); n], vec![0u8; n]);
    ffi::chain_verbatim_svm(&k, &mut c, &mut cc);
    let chain = run_chain(spec, &input);
    check_into_vmcb(spec, &chain, (&c, &cc), (&dv, &dc), describe);
    let (one, typed) = ((ffi::ONE_VERBATIM_SVM, &k[..]), &direct::ONE_VERBATIM_SVM);
    check_one(spec, one, (typed, &k), &no_cpl, (&c, &dv), Some(&cc));

    let spec = "verbatim > kvm-vmx";
    let mut c = vec![CVmxSeg::default(); n];
    ffi::vmx_set_batch(&k, &mut c);
    let chain = run_chain(spec, &input);
    check_into_vmcs(spec, &chain, &c, None, describe);
    let (one, typed) = ((ffi::ONE_VERBATIM_VMX, &k[..]), &direct::ONE_VERBATIM_VMX);
    check_one(
        spec,
        one,
        (typed, &k),
        &no_cpl,
        (&c, &vmcs_out(&chain)),
        None,
    );

    let spec = "qemu";
    let r = kvm_out(&run_chain(spec, &input));
    let mut dv = vec![KvmSegment::default(); n];
    direct::qemu(&k, &mut dv);
    let mut c = vec![KvmSegment::default(); n];
    ffi::chain_qemu(&k, &mut c);
    check(spec, &r, &c, |i| format!("{:?}", k[i]));
    check(spec, &r, &dv, |i| format!("direct {:?}", k[i]));
    let (one, typed) = ((ffi::ONE_QEMU, &k[..]), &direct::ONE_QEMU);
    check_one(spec, one, (typed, &k), &no_cpl, (&c, &dv), None);
}
