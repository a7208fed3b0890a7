//! Deterministic, varied input batches (xorshift; no dependencies).

use segstate::format::kvm::KvmSegment;
use segstate::format::qemu::{QemuFlags, QemuSegmentCache};
use segstate::format::svm::{SvmAttrib, VmcbSegment};
use segstate::format::vmx::{VmxAccessRights, VmxSegment};

/// Elements per batch in the benchmarks.
pub const BATCH: usize = 4096;

/// A xorshift64* generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn limit(&mut self) -> u32 {
        match self.next_u64() % 4 {
            0 => 0xffff,
            1 => 0xf_ffff,
            2 => 0xffff_ffff,
            _ => self.next_u64() as u32,
        }
    }

    fn bit(&mut self) -> u8 {
        (self.next_u64() & 1) as u8
    }
}

/// VMCB segments with every 12-bit attrib equally likely, and their CPL bytes.
#[must_use]
pub fn vmcb(n: usize, seed: u64) -> (Vec<VmcbSegment>, Vec<u8>) {
    let mut r = Rng::new(seed);
    let segs = (0..n)
        .map(|_| VmcbSegment {
            selector: r.next_u64() as u16,
            attrib: SvmAttrib((r.next_u64() & 0xfff) as u16),
            limit: r.limit(),
            base: r.next_u64(),
        })
        .collect();
    let cpl = (0..n).map(|_| (r.next_u64() & 3) as u8).collect();
    (segs, cpl)
}

/// VMCS segments with every defined 17-bit access-rights value equally likely.
#[must_use]
pub fn vmx(n: usize, seed: u64) -> Vec<VmxSegment> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| VmxSegment {
            selector: r.next_u64() as u16,
            base: r.next_u64(),
            limit: r.limit(),
            access_rights: VmxAccessRights((r.next_u64() as u32) & 0x1_f0ff),
        })
        .collect()
}

/// Well-formed `kvm_segment`s (every byte 0/1 or in range, padding 0), with
/// `unusable == !present` in 15 of 16 (so strict conversions to formats without
/// an unusable bit mostly succeed, as they do on real states).
#[must_use]
pub fn kvm(n: usize, seed: u64) -> Vec<KvmSegment> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            let present = r.bit();
            let odd = r.next_u64() % 16 == 0;
            KvmSegment {
                base: r.next_u64(),
                limit: r.limit(),
                selector: r.next_u64() as u16,
                type_: (r.next_u64() & 15) as u8,
                present,
                dpl: (r.next_u64() & 3) as u8,
                db: r.bit(),
                s: r.bit(),
                l: r.bit(),
                g: r.bit(),
                avl: r.bit(),
                unusable: u8::from((present == 0) != odd),
                padding: 0,
            }
        })
        .collect()
}

/// QEMU caches whose flags hold attribute bits only (the KVM path's shape).
#[must_use]
pub fn qemu(n: usize, seed: u64) -> Vec<QemuSegmentCache> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| QemuSegmentCache {
            selector: u32::from(r.next_u64() as u16),
            base: r.next_u64(),
            limit: r.limit(),
            flags: QemuFlags((r.next_u64() as u32) & QemuFlags::ATTRIBUTE_MASK),
        })
        .collect()
}
