//! Which chains read the VMM's previous QEMU cache: only a QEMU get_seg running one of
//! the 2017 thread's designs does ([`qemu::get_seg_reads_previous`]). A live sync keeps
//! that cache up to date only for the chains that read it.

use super::{Chain, Op};
use crate::profile::qemu;

impl Op {
    /// True when the op's output may depend on the previous QEMU cache. Only QEMU's
    /// get_seg is handed that cache ([`crate::profile::apply`]); the stack ops and the
    /// migration hooks never see it.
    #[must_use]
    pub(crate) const fn reads_previous(self) -> bool {
        match self {
            Op::QemuGet(rules) => qemu::get_seg_reads_previous(rules),
            _ => false,
        }
    }
}

impl Chain {
    /// True when the chain's outputs may depend on the `previous` QEMU caches its run
    /// functions take (a step runs `qemu-keep-old-flags` or `qemu-segtype`, or switches
    /// their rules on where QEMU 2.9's zeroing of an unusable segment's flags is off).
    /// For the other chains any caches give the same outputs, so a
    /// VMM-side sync need not keep them (`segstate-kvm`'s `ChainSync` does not).
    ///
    /// ```
    /// use segstate::profile::Chain;
    ///
    /// // Today's QEMU and 2.9 convert what KVM gives: no cache to keep between syncs.
    /// assert!(!"kvm-svm > qemu > kvm-svm".parse::<Chain>()?.reads_previous());
    /// assert!(!"qemu@2.9".parse::<Chain>()?.reads_previous());
    /// // A design that keeps an unusable segment's old flags reads QEMU's cache of
    /// // them, switched on as a rule of a step too.
    /// assert!("qemu-keep-old-flags".parse::<Chain>()?.reads_previous());
    /// assert!("qemu[+qemu.get.keep-old-flags]".parse::<Chain>()?.reads_previous());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn reads_previous(&self) -> bool {
        self.ops.iter().any(|op| op.reads_previous())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::arch::SegReg;
    use crate::format::kvm::KvmSegment;
    use crate::format::qemu::{QemuFlags, QemuSegmentCache};
    use crate::format::svm::{SvmAttrib, VmcbSegment};
    use crate::format::vmx::{VmxAccessRights, VmxSegment};
    use crate::profile::chain::{Format, InFlight, SegmentValue};
    use crate::profile::{Profile, Rule, builtin_chains};

    /// Two caches as unlike as caches get: nothing set, and every flag bit with a
    /// selector, base and limit.
    fn two_previous() -> [QemuSegmentCache; 2] {
        [
            QemuSegmentCache::default(),
            QemuSegmentCache {
                selector: 0x2b,
                base: 0x1234_5678,
                limit: 0xffff_ffff,
                flags: QemuFlags(!0),
            },
        ]
    }

    /// Every `kvm_segment` attribute combination (each byte 0 or 1, type and DPL over
    /// their ranges) and a byte of garbage in each field, at two limits.
    pub(in crate::profile::chain) fn kvm_segments() -> Vec<KvmSegment> {
        let mut out = Vec::new();
        for bits in 0u32..1 << 13 {
            for limit in [0xf_ffff, 0xffff_ffff] {
                let b = |i: u32| (bits >> i & 1) as u8;
                out.push(KvmSegment {
                    base: 0x1000,
                    limit,
                    selector: 0x2b,
                    type_: (bits & 0xf) as u8,
                    present: b(4),
                    dpl: (bits >> 5 & 3) as u8,
                    db: b(7),
                    s: b(8),
                    l: b(9),
                    g: b(10),
                    avl: b(11),
                    unusable: b(12),
                    padding: 0,
                });
            }
        }
        for garbage in [2u8, 0xff] {
            let mut k = out[0x1000 * 2];
            (k.dpl, k.present, k.s, k.db, k.padding) = (garbage, garbage, garbage, garbage, 1);
            out.push(k);
        }
        out
    }

    /// The inputs of every register in `format`: every 12-bit VMCB attrib with every CPL
    /// byte, every VMCS access-rights combination of the 13 defined bits, every
    /// `kvm_segment` of [`kvm_segments`].
    fn inputs(format: Format) -> Vec<InFlight> {
        let carried = |value| InFlight { value, vmcb_cpl: 0 };
        match format {
            Format::Vmcb => (0u16..0x1000)
                .flat_map(|a| {
                    (0u8..4).map(move |cpl| InFlight {
                        value: SegmentValue::Vmcb(VmcbSegment {
                            selector: 0x2b,
                            attrib: SvmAttrib(a),
                            limit: 0xffff_ffff,
                            base: 0x1000,
                        }),
                        vmcb_cpl: cpl,
                    })
                })
                .collect(),
            Format::Vmcs => (0u32..1 << 13)
                .map(|bits| {
                    // Bits 0-7 and 12-16 of the access rights.
                    let ar = (bits & 0xff) | (bits >> 8) << 12;
                    carried(SegmentValue::Vmcs(VmxSegment {
                        selector: 0x2b,
                        base: 0x1000,
                        limit: 0xffff_ffff,
                        access_rights: VmxAccessRights(ar),
                    }))
                })
                .collect(),
            Format::Kvm => kvm_segments()
                .into_iter()
                .map(|k| carried(SegmentValue::Kvm(k)))
                .collect(),
            Format::HyperV => Vec::new(),
        }
    }

    /// Every built-in chain, each also with one of its rules switched off, and the
    /// thread's two designs as the live audit runs them.
    fn chains() -> Vec<Chain> {
        let mut all: Vec<Chain> = ["qemu-keep-old-flags", "qemu-segtype"]
            .iter()
            .map(|s| s.parse().expect("parses"))
            .collect();
        for chain in builtin_chains() {
            all.extend(chain.rules().iter().map(|r| chain.without(r)));
            all.push(chain);
        }
        all
    }

    /// A chain that says it does not read the previous caches gives the same outputs
    /// under two unlike ones, for every register and every input of its source format.
    /// A chain that reads them and were said not to would fail here: the designs' own
    /// chains do depend on them (next test).
    #[test]
    fn chains_said_not_to_read_previous_ignore_it() {
        let [a, b] = two_previous();
        let mut unread = 0;
        for chain in chains() {
            if chain.reads_previous() {
                continue;
            }
            unread += 1;
            let inputs = inputs(chain.source());
            for reg in SegReg::ALL {
                for &input in &inputs {
                    assert_eq!(
                        chain.interpret(reg, input, &a),
                        chain.interpret(reg, input, &b),
                        "{chain}: {reg:?} {input:?}"
                    );
                }
            }
        }
        assert!(unread > 100, "{unread} chains that do not read previous");
    }

    /// The query is exact for get_seg: over every `kvm_segment` combination, an op's
    /// output depends on the previous cache exactly when it is said to, for every set of
    /// the three rules that decide an unusable segment's flags on top of QEMU's.
    #[test]
    fn qemu_get_reads_previous_exactly_when_said() {
        let [a, b] = two_previous();
        let deciding = [
            Rule::QemuGetZeroUnusableFlags,
            Rule::QemuGetKeepOldFlags,
            Rule::QemuGetSegtype,
        ];
        let inputs = kvm_segments();
        for mask in 0..1 << deciding.len() {
            let rules = deciding
                .iter()
                .enumerate()
                .fold(Profile::QEMU.rules, |r, (i, &rule)| {
                    if mask >> i & 1 == 1 {
                        r.with(rule)
                    } else {
                        r.without(rule)
                    }
                });
            let depends = SegReg::ALL.iter().any(|&reg| {
                inputs
                    .iter()
                    .any(|k| qemu::get_seg(rules, reg, k, &a) != qemu::get_seg(rules, reg, k, &b))
            });
            assert_eq!(Op::QemuGet(rules).reads_previous(), depends, "{mask:03b}");
        }
    }

    /// The thread's designs, alone, between two KVM steps or switched on as rules, read
    /// the previous cache; today's chains and QEMU 2.9's do not, nor 2.9 with a design's
    /// rule switched on (its zeroing decides first).
    #[test]
    fn the_designs_read_previous() {
        for (spec, reads) in [
            ("qemu-keep-old-flags", true),
            ("qemu-segtype", true),
            ("kvm-svm > qemu-keep-old-flags > kvm-svm", true),
            ("qemu", false),
            ("qemu@2.9", false),
            ("verbatim", false),
            ("kvm-svm > qemu > kvm-svm", false),
            ("qemu[+qemu.get.keep-old-flags]", true),
            ("kvm-vmx > qemu[+qemu.get.segtype] > kvm-vmx", true),
            // 2.9 zeroes an unusable segment's flags before a design could keep any.
            ("qemu@2.9[+qemu.get.keep-old-flags]", false),
            ("kvm-svm > qemu@2.9[+qemu.get.segtype] > kvm-svm", false),
        ] {
            let chain: Chain = spec.parse().expect("parses");
            assert_eq!(chain.reads_previous(), reads, "{spec}");
        }
    }
}
