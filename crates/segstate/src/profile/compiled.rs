//! Compiled chains: a register's whole trip through a chain as one table lookup, for
//! chains of a shape without a pipeline ([`super::specialised`] runs the others;
//! [`super::compiled_cell`] chooses which way a chain runs).
//!
//! Every conversion a chain performs copies the selector, the base and the limit, and
//! computes the rest of the segment from a few attribute bits, the G class of the limit
//! (`limit > 0xfffff`, what `svm.get.g-from-limit` reads) and, in a VMCB, the CPL byte.
//! For each source format that key is 14 or 15 bits ([`key_space`]), so a chain with its
//! rules is, per register, a table of at most 32,768 outputs. The table is built once
//! per chain, after it has run [`COMPILE_AFTER`] segments or on [`Chain::compile`], by
//! running the interpreted chain (rules as data) over every key: nothing here names an
//! op, a profile or a rule, so a new op or profile is compiled by running it.
//!
//! What the table assumes is checked while it is built: every key runs twice, with two
//! different carriers (selector, base, limit within its G class), two different
//! previous QEMU caches and, for sources without a CPL byte, two different incoming
//! CPL bytes. If any output differs beyond the carrier (or the CPL byte passed
//! through), the chain is not compiled and runs interpreted; so are the chains that
//! read the previous QEMU cache (the 2017 thread's designs). Inputs outside the key
//! space (a VMCB CPL byte above 3, attribute bits a format does not define, a
//! `kvm_segment` byte other than 0/1 or out of its field's range, non-zero padding)
//! also run interpreted, value by value. The tests hold the tables equal to the
//! interpreted ops over the whole verification domain of every built-in chain, with
//! and without each rule.

// Without `std` there is no lazy cell to keep tables in: chains without a pipeline run
// interpreted and the table builder is unused.
#![cfg_attr(not(feature = "std"), allow(dead_code, unused_imports))]

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::chain::{Chain, Format, InFlight, SegmentValue, VcpuSegments};
#[cfg(doc)]
use super::compiled_cell::COMPILE_AFTER;
use crate::arch::{PerSegReg, SegReg};
use crate::format::kvm::KvmSegment;
use crate::format::qemu::{QemuFlags, QemuSegmentCache};
use crate::format::svm::{SvmAttrib, VmcbSegment};
use crate::format::vmx::{VmxAccessRights, VmxSegment};

/// The limits above this are G class 1.
const G_LIMIT: u32 = 0xf_ffff;
/// The access-rights bits a VMCS key covers: type, S, DPL, P, AVL, L, D/B, G, unusable.
const AR_BITS: u32 = 0x1_f0ff;
/// The attrib bits a VMCB key covers.
const ATTRIB_BITS: u16 = 0x0fff;

/// A table entry: the destination's attribute payload in its low 13 bits (VMCB attrib,
/// VMCS access rights without their reserved bits 8-11, or the packed `kvm_segment`
/// bytes), the outgoing CPL byte in bits 13-14, and in bit 15 whether that byte is the
/// incoming one passed through instead.
pub(super) type Entry = u16;
const PAYLOAD: u16 = 0x1fff;
const CPL_SHIFT: u32 = 13;
const CPL_PASSED: u16 = 1 << 15;

/// The `kvm_segment` attribute bytes packed into 13 bits, when each holds a value of
/// its field (type < 16, DPL < 4, booleans 0/1) and the padding is zero.
#[inline(always)]
fn kvm_pack(k: &KvmSegment) -> Option<u16> {
    let flags = k.present | k.s | k.db | k.l | k.g | k.avl | k.unusable;
    (k.type_ < 16 && k.dpl < 4 && flags < 2 && k.padding == 0).then(|| {
        u16::from(k.type_)
            | u16::from(k.s) << 4
            | u16::from(k.dpl) << 5
            | u16::from(k.present) << 7
            | u16::from(k.avl) << 8
            | u16::from(k.l) << 9
            | u16::from(k.db) << 10
            | u16::from(k.g) << 11
            | u16::from(k.unusable) << 12
    })
}

#[inline(always)]
fn kvm_unpack(p: u16, c: Carrier) -> KvmSegment {
    let bit = |n: u16| ((p >> n) & 1) as u8;
    KvmSegment {
        base: c.base,
        limit: c.limit,
        selector: c.selector,
        type_: (p & 15) as u8,
        present: bit(7),
        dpl: ((p >> 5) & 3) as u8,
        db: bit(10),
        s: bit(4),
        l: bit(9),
        g: bit(11),
        avl: bit(8),
        unusable: bit(12),
        padding: 0,
    }
}

/// VMCS access rights in 13 bits (the reserved bits 8-11 left out), when no bit beyond
/// type, S, DPL, P, AVL, L, D/B, G and unusable is set.
#[inline(always)]
fn ar_pack(ar: u32) -> Option<u16> {
    (ar & !AR_BITS == 0).then_some((ar & 0xff) as u16 | ((ar >> 12) as u16) << 8)
}

#[inline(always)]
fn ar_unpack(p: u16) -> u32 {
    u32::from(p & 0xff) | u32::from(p >> 8) << 12
}

/// Selector, base and limit: what every conversion copies.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Carrier {
    pub(super) selector: u16,
    pub(super) base: u64,
    pub(super) limit: u32,
}

#[inline(always)]
const fn carrier(selector: u16, base: u64, limit: u32) -> Carrier {
    Carrier {
        selector,
        base,
        limit,
    }
}

/// The key bits of the G class of the limit.
#[inline(always)]
fn g(limit: u32) -> usize {
    usize::from(limit > G_LIMIT)
}

/// A VMCB key: attrib in bits 0-11, the G class in bit 12, the CPL byte in 13-14.
#[inline(always)]
fn vmcb_key(v: &VmcbSegment, cpl: u8) -> Option<(usize, Carrier)> {
    let a = v.attrib.0;
    (a & !ATTRIB_BITS == 0 && cpl < 4).then(|| {
        let key = usize::from(a) | g(v.limit) << 12 | usize::from(cpl) << 13;
        (key, carrier(v.selector, v.base, v.limit))
    })
}

/// A VMCS key: packed access rights in bits 0-12, the G class in bit 13.
#[inline(always)]
fn vmcs_key(v: &VmxSegment) -> Option<(usize, Carrier)> {
    let p = ar_pack(v.access_rights.0)?;
    Some((
        usize::from(p) | g(v.limit) << 13,
        carrier(v.selector, v.base, v.limit),
    ))
}

/// A `kvm_segment` key: packed bytes in bits 0-12, the G class in bit 13.
#[inline(always)]
fn kvm_key(k: &KvmSegment) -> Option<(usize, Carrier)> {
    let p = kvm_pack(k)?;
    Some((
        usize::from(p) | g(k.limit) << 13,
        carrier(k.selector, k.base, k.limit),
    ))
}

/// Keys per register for chains starting from `source`, and how many low bits of a key
/// are attribute bits (the G class comes next, then a VMCB's CPL byte).
const fn key_space(source: Format) -> (usize, u32) {
    match source {
        Format::Vmcb => (1 << 15, 12),
        Format::Vmcs | Format::Kvm => (1 << 14, 13),
        // Never built (Tables::build refuses Hyper-V chains); no keys.
        Format::HyperV => (0, 0),
    }
}

/// One of the two runs every key gets while a table is built.
struct Probe {
    /// The carrier for G class 0 and for G class 1.
    carriers: [Carrier; 2],
    /// The previous QEMU cache.
    previous: QemuSegmentCache,
    /// The incoming CPL byte, for sources that have none of their own.
    cpl: u8,
}

const PROBES: [Probe; 2] = [
    Probe {
        carriers: [carrier(0, 0, 0), carrier(0, 0, G_LIMIT + 1)],
        previous: QemuSegmentCache {
            selector: 0,
            base: 0,
            limit: 0,
            flags: QemuFlags(0),
        },
        cpl: 0,
    },
    Probe {
        carriers: [
            carrier(0xffff, u64::MAX, G_LIMIT),
            carrier(0xffff, u64::MAX, u32::MAX),
        ],
        previous: QemuSegmentCache {
            selector: 0xffff,
            base: u64::MAX,
            limit: u32::MAX,
            flags: QemuFlags(QemuFlags::ATTRIBUTE_MASK),
        },
        cpl: 0xa5,
    },
];

impl Probe {
    /// The carrier this probe gives `key`.
    const fn carrier(&self, source: Format, key: usize) -> Carrier {
        self.carriers[(key >> key_space(source).1) & 1]
    }

    /// The source value of `key` with this probe's carrier.
    fn input(&self, source: Format, key: usize) -> InFlight {
        let c = self.carrier(source, key);
        let (value, vmcb_cpl) = match source {
            Format::Vmcb => {
                let v = VmcbSegment {
                    selector: c.selector,
                    attrib: SvmAttrib(key as u16 & ATTRIB_BITS),
                    limit: c.limit,
                    base: c.base,
                };
                (SegmentValue::Vmcb(v), (key >> 13) as u8)
            }
            Format::Vmcs => {
                let v = VmxSegment {
                    selector: c.selector,
                    base: c.base,
                    limit: c.limit,
                    access_rights: VmxAccessRights(ar_unpack(key as u16 & PAYLOAD)),
                };
                (SegmentValue::Vmcs(v), self.cpl)
            }
            // Hyper-V chains are never tabled (Tables::build refuses them).
            Format::Kvm | Format::HyperV => {
                let k = kvm_unpack(key as u16 & PAYLOAD, c);
                (SegmentValue::Kvm(k), self.cpl)
            }
        };
        InFlight { value, vmcb_cpl }
    }
}

/// The destination payload of `out` when it is in `destination` and carries `c`.
#[inline(always)]
fn payload(destination: Format, out: &InFlight, c: Carrier) -> Option<u16> {
    match (destination, &out.value) {
        (Format::Vmcb, SegmentValue::Vmcb(v)) if carrier(v.selector, v.base, v.limit) == c => {
            (v.attrib.0 & !ATTRIB_BITS == 0).then_some(v.attrib.0)
        }
        (Format::Vmcs, SegmentValue::Vmcs(v)) if carrier(v.selector, v.base, v.limit) == c => {
            ar_pack(v.access_rights.0)
        }
        (Format::Kvm, SegmentValue::Kvm(k)) if carrier(k.selector, k.base, k.limit) == c => {
            kvm_pack(k)
        }
        _ => None,
    }
}

/// The entry of one key from its two probe runs, or `None` when they disagree beyond
/// what the entry can say.
fn entry_of(
    source: Format,
    destination: Format,
    key: usize,
    runs: &[Vec<InFlight>; 2],
) -> Option<Entry> {
    let [a, b] = [0, 1].map(|p| {
        let out = &runs[p][key];
        payload(destination, out, PROBES[p].carrier(source, key)).map(|v| (v, out.vmcb_cpl))
    });
    let ((pa, ca), (pb, cb)) = (a?, b?);
    if pa != pb {
        return None;
    }
    let cpl = if ca == cb && ca < 4 {
        Entry::from(ca) << CPL_SHIFT
    } else if source != Format::Vmcb && ca == PROBES[0].cpl && cb == PROBES[1].cpl {
        CPL_PASSED
    } else {
        return None;
    };
    Some(pa | cpl)
}

/// A chain compiled into one table per register. A table leaves out the key bits it
/// does not depend on (the CPL byte for every register but SS, the G class where no
/// rule reads the limit), and registers the chain treats alike share one.
pub(crate) struct Tables {
    source: Format,
    destination: Format,
    entries: Box<[Entry]>,
    /// Per register, in [`SegReg::index`] order: where its table starts in `entries`
    /// and the mask of the key bits it keeps.
    regs: [(usize, usize); 8],
}

impl Tables {
    /// Builds the tables by running `chain` interpreted over every key, or `None` when
    /// the chain's outputs depend on more than the key (see the module doc).
    pub(crate) fn build(chain: &Chain) -> Option<Tables> {
        let (source, destination) = (chain.source(), chain.destination());
        if source == Format::HyperV
            || destination == Format::HyperV
            || !chain.ops().iter().all(|op| op.is_kvm_or_qemu())
        {
            // Hyper-V registers have no key space here, and other ops are not proven to
            // depend on the key alone: such chains run interpreted.
            return None;
        }
        let (n, attribute_bits) = key_space(source);
        let mut entries: Vec<Entry> = Vec::new();
        let mut regs = [(0, 0); 8];
        let mut runs: [Vec<InFlight>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
        let mut table: Vec<Entry> = Vec::with_capacity(n);
        for reg in SegReg::ALL {
            for (probe, run) in PROBES.iter().zip(&mut runs) {
                run.clear();
                run.extend((0..n).map(|key| probe.input(source, key)));
                chain
                    .run_batch_interpreted(reg, run, &probe.previous, 0..chain.ops().len())
                    .ok()?;
            }
            table.clear();
            for key in 0..n {
                table.push(entry_of(source, destination, key, &runs)?);
            }
            // The smallest prefix of key bits the outputs depend on.
            let mask = [attribute_bits, attribute_bits + 1]
                .into_iter()
                .map(|bits| (1usize << bits) - 1)
                .find(|&m| table.iter().enumerate().all(|(k, e)| *e == table[k & m]))
                .unwrap_or(n - 1);
            let kept = &table[..=mask];
            let same = regs[..reg.index()]
                .iter()
                .find(|&&(start, m)| m == mask && entries[start..=start + m] == *kept);
            regs[reg.index()] = match same {
                Some(&shared) => shared,
                None => {
                    entries.extend_from_slice(kept);
                    (entries.len() - kept.len(), mask)
                }
            };
        }
        Some(Tables {
            source,
            destination,
            entries: entries.into_boxed_slice(),
            regs,
        })
    }

    #[inline(always)]
    fn entry(&self, reg: SegReg, key: usize) -> Option<Entry> {
        let (start, mask) = self.regs[reg.index()];
        self.entries.get(start + (key & mask)).copied()
    }

    /// The key of a source value, if it is in the key space.
    #[inline(always)]
    fn key(&self, input: &InFlight) -> Option<(usize, Carrier)> {
        match (self.source, &input.value) {
            (Format::Vmcb, SegmentValue::Vmcb(v)) => vmcb_key(v, input.vmcb_cpl),
            (Format::Vmcs, SegmentValue::Vmcs(v)) => vmcs_key(v),
            (Format::Kvm, SegmentValue::Kvm(k)) => kvm_key(k),
            _ => None,
        }
    }

    /// Runs one register through the compiled chain, or `None` when `input` is outside
    /// the key space (the caller then runs it interpreted).
    #[inline(always)]
    pub(crate) fn run(&self, reg: SegReg, input: &InFlight) -> Option<InFlight> {
        let (key, c) = self.key(input)?;
        output(self.destination, self.entry(reg, key)?, c, input.vmcb_cpl)
    }

    /// Runs a whole vCPU through the compiled chain, or `None` when it is in another
    /// format or a register is outside the key space.
    #[inline]
    pub(crate) fn run_vcpu(&self, input: &VcpuSegments) -> Option<VcpuSegments> {
        let mut keyed = [(0, Carrier::default()); 8];
        let in_cpl = match (self.source, input) {
            (Format::Vmcb, VcpuSegments::Vmcb { segments, cpl }) => {
                for (reg, v) in segments.iter() {
                    keyed[reg.index()] = vmcb_key(v, *cpl)?;
                }
                *cpl
            }
            (Format::Vmcs, VcpuSegments::Vmcs(segments)) => {
                for (reg, v) in segments.iter() {
                    keyed[reg.index()] = vmcs_key(v)?;
                }
                0
            }
            (Format::Kvm, VcpuSegments::Kvm(segments)) => {
                for (reg, k) in segments.iter() {
                    keyed[reg.index()] = kvm_key(k)?;
                }
                0
            }
            _ => return None,
        };
        let mut entries = [0; 8];
        for reg in SegReg::ALL {
            entries[reg.index()] = self.entry(reg, keyed[reg.index()].0)?;
        }
        let at = |reg: SegReg| (entries[reg.index()] & PAYLOAD, keyed[reg.index()].1);
        Some(match self.destination {
            Format::Vmcb => VcpuSegments::Vmcb {
                segments: PerSegReg::from_fn(|reg| {
                    let (p, c) = at(reg);
                    vmcb_out(p, c)
                }),
                cpl: cpl_out(entries[SegReg::Ss.index()], in_cpl),
            },
            Format::Vmcs => VcpuSegments::Vmcs(PerSegReg::from_fn(|reg| {
                let (p, c) = at(reg);
                vmcs_out(p, c)
            })),
            Format::Kvm => VcpuSegments::Kvm(PerSegReg::from_fn(|reg| {
                let (p, c) = at(reg);
                kvm_unpack(p, c)
            })),
            Format::HyperV => return None,
        })
    }

    /// Entries stored, all registers together (registers alike share theirs).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[inline(always)]
fn vmcb_out(p: u16, c: Carrier) -> VmcbSegment {
    VmcbSegment {
        selector: c.selector,
        attrib: SvmAttrib(p),
        limit: c.limit,
        base: c.base,
    }
}

#[inline(always)]
fn vmcs_out(p: u16, c: Carrier) -> VmxSegment {
    VmxSegment {
        selector: c.selector,
        base: c.base,
        limit: c.limit,
        access_rights: VmxAccessRights(ar_unpack(p)),
    }
}

#[inline(always)]
fn cpl_out(e: Entry, incoming: u8) -> u8 {
    if e & CPL_PASSED != 0 {
        incoming
    } else {
        (e >> CPL_SHIFT) as u8 & 3
    }
}

/// The carrier of a value in a format with a key space.
#[inline(always)]
pub(super) fn carrier_of(value: &SegmentValue) -> Option<Carrier> {
    match value {
        SegmentValue::Vmcb(v) => Some(carrier(v.selector, v.base, v.limit)),
        SegmentValue::Vmcs(v) => Some(carrier(v.selector, v.base, v.limit)),
        SegmentValue::Kvm(k) => Some(carrier(k.selector, k.base, k.limit)),
        _ => None,
    }
}

/// The value entry `e` means in `destination` with carrier `c`, `incoming` being the
/// CPL byte the input came with.
#[inline(always)]
fn output(destination: Format, e: Entry, c: Carrier, incoming: u8) -> Option<InFlight> {
    let p = e & PAYLOAD;
    let value = match destination {
        Format::Vmcb => SegmentValue::Vmcb(vmcb_out(p, c)),
        Format::Vmcs => SegmentValue::Vmcs(vmcs_out(p, c)),
        Format::Kvm => SegmentValue::Kvm(kvm_unpack(p, c)),
        Format::HyperV => return None,
    };
    Some(InFlight {
        value,
        vmcb_cpl: cpl_out(e, incoming),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::PerSegReg;
    use crate::arch::{Attributes, PrivilegeLevel, Segment, Selector};
    use crate::profile::{OTHER_PIPELINES, builtin_chains};

    /// Every built-in chain of KVM and QEMU ops, and every one with other ops that has
    /// a pipeline (`specialised.rs`), each also with one of its rules switched off
    /// (chains with other ops have no tables, see `Tables::build`; those without a
    /// pipeline run interpreted). The chains with other ops are those
    /// [`OTHER_PIPELINES`] lists, each with its pipeline (one that lost it fails here
    /// rather than leave the test unseen), also with all its rules off.
    fn chains() -> Vec<Chain> {
        let mut all = Vec::new();
        for chain in builtin_chains() {
            if !kvm_or_qemu(&chain) {
                assert!(Tables::build(&chain).is_none(), "{chain}");
                let spec = alloc::format!("{chain}");
                let listed = OTHER_PIPELINES.iter().any(|&(s, _)| s == spec);
                assert_eq!(chain.has_pipeline(), listed, "{chain}");
                if !listed {
                    continue;
                }
                // And with every rule off: two rules may only show together (one
                // op's output the other's only input that tells).
                let none = chain
                    .rules()
                    .iter()
                    .fold(chain.clone(), |c, r| c.without(r));
                all.push(none);
            }
            for rule in chain.rules().iter() {
                all.push(chain.without(rule));
            }
            all.push(chain);
        }
        all
    }

    /// True when every op of `chain` is KVM's or QEMU's get or set.
    fn kvm_or_qemu(chain: &Chain) -> bool {
        chain.ops().iter().all(|op| op.is_kvm_or_qemu())
    }

    /// xorshift64*: varied carriers, CPL bytes and attribute bytes, garbage included.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Mostly in the key space, sometimes not (a byte or bit out of range).
        fn value(&mut self, source: Format) -> InFlight {
            let r = self.next();
            let odd = r & 0xf == 0;
            let limit = match (r >> 4) & 3 {
                0 => G_LIMIT,
                1 => G_LIMIT + 1,
                _ => (r >> 32) as u32,
            };
            let (selector, base) = ((r >> 8) as u16, self.next());
            let bits = self.next();
            let cpl = if odd {
                (bits >> 56) as u8
            } else {
                (bits >> 56) as u8 & 3
            };
            let value = match source {
                Format::Vmcb => SegmentValue::Vmcb(VmcbSegment {
                    selector,
                    attrib: SvmAttrib(bits as u16 & if odd { 0xffff } else { 0xfff }),
                    limit,
                    base,
                }),
                Format::Vmcs => SegmentValue::Vmcs(VmxSegment {
                    selector,
                    base,
                    limit,
                    access_rights: VmxAccessRights(bits as u32 & if odd { !0 } else { AR_BITS }),
                }),
                Format::Kvm => {
                    let mut k = kvm_unpack(bits as u16 & PAYLOAD, carrier(selector, base, limit));
                    if odd {
                        k.dpl = (bits >> 40) as u8;
                        k.padding = (bits >> 48) as u8 & 1;
                    }
                    SegmentValue::Kvm(k)
                }
                Format::HyperV => unreachable!("no chain starts from Hyper-V registers"),
            };
            InFlight {
                value,
                vmcb_cpl: cpl,
            }
        }
    }

    /// The public API, compiled, against the interpreted ops: every register, varied
    /// carriers, CPL bytes and garbage, for every chain (the other stacks' pipelines
    /// among them: each listed chain, each with any one rule switched off and with all
    /// off, every one through its pipeline).
    #[test]
    fn public_api_equals_interpreted() {
        let mut rng = Rng(0x5e65_7a7e);
        // The cache QEMU held for a kernel: what the 2017 designs read back.
        let kernel = Segment::flat(Selector(0x18), Attributes::flat_data(PrivilegeLevel::Ring0));
        let previous: PerSegReg<QemuSegmentCache> =
            PerSegReg::from_fn(|_| QemuSegmentCache::try_from(kernel).unwrap_or_default());
        let chains = chains();
        let others = chains.iter().filter(|c| !kvm_or_qemu(c)).count();
        let listed: usize = OTHER_PIPELINES
            .iter()
            .map(|(spec, _)| {
                2 + spec
                    .parse::<Chain>()
                    .expect("parses")
                    .rules()
                    .iter()
                    .count()
            })
            .sum();
        assert_eq!(others, listed, "chains of other ops with a pipeline");
        for chain in chains {
            assert!(chain.has_pipeline() || kvm_or_qemu(&chain), "{chain}");
            assert!(chain.compile(), "{chain}");
            // The tables too, for chains of shapes without a pipeline.
            let tables = Tables::build(&chain);
            assert!(
                tables.is_some() || chain.reads_previous() || !kvm_or_qemu(&chain),
                "{chain}"
            );
            let source = chain.source();
            for _ in 0..64 {
                let input: [InFlight; 8] = core::array::from_fn(|_| rng.value(source));
                let reference: [InFlight; 8] = core::array::from_fn(|i| {
                    chain.interpret(SegReg::ALL[i], input[i], &previous[SegReg::ALL[i]])
                });
                for reg in SegReg::ALL {
                    let i = reg.index();
                    assert_eq!(
                        chain.run_segment(reg, input[i], &previous[reg]),
                        Ok(reference[i])
                    );
                    // An output holding a value of another format: overwritten whole.
                    let mut into = rng.value(other_format(source));
                    assert_eq!(
                        chain.run_segment_into(reg, &input[i], &previous[reg], &mut into),
                        Ok(())
                    );
                    assert_eq!(into, reference[i], "{chain}: run_segment_into");
                    let mut batch = [input[i]; 3];
                    chain
                        .run_batch(reg, &mut batch, &previous[reg])
                        .expect("source format");
                    assert_eq!(batch, [reference[i]; 3], "{chain}");
                    if let Some(out) = tables.as_ref().and_then(|t| t.run(reg, &input[i])) {
                        assert_eq!(out, reference[i], "{chain}");
                    }
                }
                // A whole vCPU: the CPL byte of a VMCB is SS's.
                let vcpu = whole(source, &input);
                let cpl = match vcpu {
                    VcpuSegments::Vmcb { cpl, .. } => cpl,
                    _ => 0,
                };
                let expected = PerSegReg::from_fn(|reg| {
                    let at = InFlight {
                        vmcb_cpl: cpl,
                        ..input[reg.index()]
                    };
                    chain.interpret(reg, at, &previous[reg])
                });
                let out = chain.run(&vcpu, &previous).expect("source format");
                // run_into over a vCPU of another format: overwritten whole.
                let mut into = whole(
                    other_format(source),
                    &core::array::from_fn(|_| rng.value(other_format(source))),
                );
                assert_eq!(chain.run_into(&vcpu, &previous, &mut into), Ok(()));
                assert_eq!(into, out, "{chain}: run_into");
                let by_tables = tables.as_ref().and_then(|t| t.run_vcpu(&vcpu));
                for out in core::iter::once(out).chain(by_tables) {
                    for reg in SegReg::ALL {
                        let got = out.in_flight(reg);
                        assert_eq!(got.value, expected[reg].value, "{chain} {reg:?}");
                    }
                    if let VcpuSegments::Vmcb { cpl, .. } = out {
                        assert_eq!(cpl, expected[SegReg::Ss].vmcb_cpl, "{chain}");
                    }
                }
            }
            // A value in another format is refused, compiled or not.
            let other = if source == Format::Kvm {
                Format::Vmcb
            } else {
                Format::Kvm
            };
            let wrong = rng.value(other);
            assert!(
                chain
                    .run_segment(SegReg::Ds, wrong, &previous[SegReg::Ds])
                    .is_err()
            );
            let before = rng.value(source);
            let mut untouched = before;
            assert!(
                chain
                    .run_segment_into(SegReg::Ds, &wrong, &previous[SegReg::Ds], &mut untouched)
                    .is_err()
            );
            assert_eq!(
                untouched, before,
                "{chain}: run_segment_into wrote for a refused value"
            );
            // A batch with one such value among good ones is refused whole, untouched,
            // wherever it is: in a group of eight the pipeline checks together, at
            // either end of one, or among the values after the last group.
            let good: Vec<InFlight> = (0..21).map(|_| rng.value(source)).collect();
            for at in 0..good.len() {
                let mut batch = good.clone();
                batch[at] = wrong;
                let before = batch.clone();
                let refused = chain.run_batch(SegReg::Ds, &mut batch, &previous[SegReg::Ds]);
                assert_eq!(
                    refused,
                    Err(crate::profile::WrongSourceFormat {
                        expected: source,
                        found: other
                    }),
                    "{chain}, wrong value at {at}"
                );
                assert_eq!(batch, before, "{chain}, wrong value at {at}");
            }
            // A whole vCPU in another format: the pipelines' own refusal is the
            // interpreted ops' error.
            let wrong_vcpu = whole(other, &[wrong; 8]);
            let refused = crate::profile::WrongSourceFormat {
                expected: source,
                found: other,
            };
            assert_eq!(
                chain.run(&wrong_vcpu, &previous).err(),
                Some(refused),
                "{chain}"
            );
            let before = whole(source, &core::array::from_fn(|_| rng.value(source)));
            let mut untouched = before;
            assert_eq!(
                chain.run_into(&wrong_vcpu, &previous, &mut untouched),
                Err(refused),
                "{chain}"
            );
            assert_eq!(
                untouched, before,
                "{chain}: run_into wrote for a refused vCPU"
            );
            assert_eq!(
                chain.run_interpreted(&wrong_vcpu, &previous).err(),
                Some(refused),
                "{chain}"
            );
        }
    }

    /// A format other than `source`, for outputs a run must overwrite.
    fn other_format(source: Format) -> Format {
        if source == Format::Kvm {
            Format::Vmcs
        } else {
            Format::Kvm
        }
    }

    fn whole(source: Format, input: &[InFlight; 8]) -> VcpuSegments {
        let pick = |reg: SegReg| input[reg.index()].value;
        match source {
            Format::Vmcb => VcpuSegments::Vmcb {
                segments: PerSegReg::from_fn(|reg| match pick(reg) {
                    SegmentValue::Vmcb(v) => v,
                    _ => unreachable!(),
                }),
                cpl: input[SegReg::Ss.index()].vmcb_cpl,
            },
            Format::Vmcs => VcpuSegments::Vmcs(PerSegReg::from_fn(|reg| match pick(reg) {
                SegmentValue::Vmcs(v) => v,
                _ => unreachable!(),
            })),
            Format::Kvm => VcpuSegments::Kvm(PerSegReg::from_fn(|reg| match pick(reg) {
                SegmentValue::Kvm(k) => k,
                _ => unreachable!(),
            })),
            Format::HyperV => unreachable!("no chain starts from Hyper-V registers"),
        }
    }

    #[test]
    fn tables_leave_out_what_a_register_does_not_read() {
        // AMD + QEMU: only SS reads the CPL byte; DS, ES, FS and GS are alike, and so
        // are CS and LDTR. Four tables, SS's four times the others.
        let chain: Chain = "kvm-svm > qemu > kvm-svm".parse().expect("parses");
        let tables = Tables::build(&chain).expect("compiles");
        assert_eq!(tables.len(), (1 << 15) + 3 * (1 << 13));
        let ds = tables.regs[SegReg::Ds.index()];
        for reg in [SegReg::Es, SegReg::Fs, SegReg::Gs] {
            assert_eq!(tables.regs[reg.index()], ds);
        }
    }
}
