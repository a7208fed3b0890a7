//! One chain's normalisation of one register as bit masks over a packed attribute word,
//! derived at run time from [`normalise::expected`] (the specification, left as it is).
//!
//! `expected` reads of a segment only its attributes, `unusable`, whether the limit
//! is above G's 1 MiB, and the CPL; it never changes the selector, base or limit. For
//! the built-in rules, once P, `unusable`, that limit test, the CPL and whether the
//! other attribute bits are all clear (the "null attributes" rules of VirtualBox and
//! crosvm) are fixed (a *class*: 64 of them), each other output bit is either a
//! constant or the same input bit: `expected = (word & keep) | set`. Walking the ops
//! per state cost a jump per op and a rule test per rule (`BENCHMARKS.md` §2, step
//! 32); the masks cost a pack, two loads and a compare.
//!
//! Each class's masks are found the first time a state of that class is judged, by
//! probing `expected` with every other bit set, then with each bit cleared in turn,
//! then with each bit alone; a class whose probes do not fit the mask form, or whose
//! probes move the selector, base or limit, is judged by `expected` itself. The probes
//! do not prove the form for every word of a class; the tests do, over the whole domain
//! of every built-in chain and each with rules switched off, and under the tests every
//! state judged by masks is also judged by `expected` and the two verdicts compared.
//!
//! So masks judge only the built-in chains ([`RegisterMasks::for_chain`]), whose masks
//! `masks_judge_as_normalise_expected_over_the_whole_domain` proves over every state
//! verify makes. A chain a user writes (`verify --chain`, rules switched off, another
//! order of profiles) is judged by walking `expected`: the probes could miss a
//! normalisation that reads two free bits together (the "null attributes" rules read
//! all of them at once), and verify's verdict must not rest on a guess.

use crate::arch::{Attributes, PerSegReg, PrivilegeLevel, SegReg, Segment, Selector};
use crate::profile::{Chain, Op, builtin_about};

use super::normalise;

/// `unusable` in the packed word: bit 8, which the attribute word leaves clear.
const UNUSABLE: u16 = 1 << 8;
/// P in the packed word.
const PRESENT: u16 = 1 << Attributes::P_SHIFT;
/// The attribute bits other than P (type, S, DPL, AVL, L, D/B, G): what a class leaves
/// free.
const FREE: u16 = 0xf07f;

/// A segment's attribute word ([`Attributes::to_word`]: type 3:0, S, DPL 6:5, P, AVL
/// 12, L, D/B, G 15) with `unusable` in bit 8.
#[inline(always)]
fn pack(s: &Segment) -> u16 {
    s.attributes.to_word() | (u16::from(s.unusable) * UNUSABLE)
}

/// The segment whose [`pack`] is `word`, with a limit on the side of 1 MiB `big` says.
fn unpack(word: u16, big: bool) -> Segment {
    Segment {
        selector: Selector(0x2b),
        base: 0x1234_5000,
        limit: if big { 0xffff_ffff } else { 0xf_ffff },
        attributes: Attributes::from_word(word),
        unusable: word & UNUSABLE != 0,
    }
}

/// The class of a packed word (limit above 1 MiB: `big`) at `cpl`, as an index.
#[inline(always)]
fn class(word: u16, big: bool, cpl: PrivilegeLevel) -> usize {
    usize::from(word & UNUSABLE != 0)
        | usize::from(word & PRESENT != 0) << 1
        | usize::from(big) << 2
        | usize::from(cpl.bits()) << 3
        | usize::from(word & FREE == 0) << 5
}

/// What one class of words comes out as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// Not probed yet.
    Unknown,
    /// `(word & keep) | set`.
    Masks { keep: u16, set: u16 },
    /// Not of that form: judged by [`normalise::expected`].
    Walked,
}

/// One chain's normalisation of one register, class by class.
#[derive(Clone, Debug)]
pub(super) struct RegisterMasks {
    reg: SegReg,
    forms: [Form; 64],
}

impl RegisterMasks {
    /// Nothing probed yet for `reg`.
    pub(super) fn new(reg: SegReg) -> Self {
        RegisterMasks {
            reg,
            forms: [Form::Unknown; 64],
        }
    }

    /// Every class judged by [`normalise::expected`], never probed.
    fn walking(reg: SegReg) -> Self {
        RegisterMasks {
            reg,
            forms: [Form::Walked; 64],
        }
    }

    /// What judges `chain`'s attribute property, register by register: masks for a
    /// built-in chain (proven over the whole domain by the tests), the walk of
    /// [`normalise::expected`] for any other (module doc).
    pub(super) fn for_chain(chain: &Chain) -> PerSegReg<Self> {
        if builtin_about(chain).is_some() {
            PerSegReg::from_fn(RegisterMasks::new)
        } else {
            PerSegReg::from_fn(RegisterMasks::walking)
        }
    }

    /// [`RegisterMasks::keeps_source`] with the source made here: the tests' way in.
    #[cfg(test)]
    pub(super) fn keeps(
        &mut self,
        ops: &[Op],
        (before, cpl): (&Segment, PrivilegeLevel),
        after: &Segment,
    ) -> bool {
        self.keeps_source(ops, (before, cpl, Source::of(before, cpl)), after)
    }

    /// Whether `after` is what `ops` may make of `before` at `cpl`: the same verdict
    /// as comparing it with [`normalise::expected`]. `source` is what the masks read of
    /// `before` at `cpl` ([`Source::of`] them), made already: a batch's representatives
    /// are the same for every chain of the batch, so their sources are made once for
    /// all of them (`verify/reduce/pass.rs`). Under the tests, `source` is held to the
    /// one made here and the verdict to `expected`'s.
    #[inline(always)]
    pub(super) fn keeps_source(
        &mut self,
        ops: &[Op],
        (before, cpl, source): (&Segment, PrivilegeLevel, Source),
        after: &Segment,
    ) -> bool {
        #[cfg(test)]
        {
            let alone = Source::of(before, cpl);
            assert_eq!(
                (source.word, source.at),
                (alone.word, alone.at),
                "{before:?} at {cpl}"
            );
        }
        #[cfg(all(test, feature = "std"))]
        if source.shared {
            SOURCES_READ.with(|n| n.set(n.get() + 1));
        }
        let Source { word, at, .. } = source;
        let at = usize::from(at);
        if self.forms[at] == Form::Unknown {
            self.forms[at] = probe(ops, self.reg, (word, before.limit > 0xf_ffff), cpl);
        }
        let kept = match self.forms[at] {
            Form::Masks { keep, set } => {
                #[cfg(all(test, feature = "std"))]
                MASKED.with(|n| n.set(n.get() + 1));
                pack(after) == (word & keep) | set
                    && after.limit == before.limit
                    && after.base == before.base
                    && after.selector == before.selector
            }
            _ => walked(ops, self.reg, (before, cpl), after),
        };
        #[cfg(test)]
        assert_eq!(
            kept,
            *after == normalise::expected(ops, self.reg, before, cpl),
            "masks and normalise::expected disagree on {before:?} at {cpl} ({:?})",
            self.reg
        );
        kept
    }
}

/// What the masks read of a source segment at a CPL: its packed word and the index of
/// its class. It depends on the source alone, not on the chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Source {
    word: u16,
    at: u8,
    /// Made once for the chains of a batch ([`Source::share`]): what the tests count.
    #[cfg(test)]
    shared: bool,
}

impl Source {
    /// `before`'s word and class at `cpl`.
    #[inline(always)]
    pub(super) fn of(before: &Segment, cpl: PrivilegeLevel) -> Self {
        let word = pack(before);
        let at = class(word, before.limit > 0xf_ffff, cpl);
        Source {
            word,
            // 64 classes.
            at: at as u8,
            #[cfg(test)]
            shared: false,
        }
    }

    /// Marks the source as made once for the chains of a batch, for the tests to count
    /// the masks' judgments that read one ([`SOURCES_READ`]).
    #[cfg(test)]
    pub(super) fn share(&mut self) {
        self.shared = true;
    }
}

/// Whether `after` is [`normalise::expected`] of `before` at `cpl`: the judge of a
/// class not of the mask form, out of line, so that [`RegisterMasks::keeps_source`]
/// does not carry the walk of every op's rules inlined where it is called
/// (`BENCHMARKS.md` §2, step 43).
#[inline(never)]
fn walked(
    ops: &[Op],
    reg: SegReg,
    (before, cpl): (&Segment, PrivilegeLevel),
    after: &Segment,
) -> bool {
    *after == normalise::expected(ops, reg, before, cpl)
}

/// The form of the class of `word` (with a limit above 1 MiB: `big`) at `cpl`.
#[cold]
fn probe(ops: &[Op], reg: SegReg, (word, big): (u16, bool), cpl: PrivilegeLevel) -> Form {
    let fixed = word & !FREE;
    let run = |w: u16| {
        let source = unpack(w, big);
        let out = normalise::expected(ops, reg, &source, cpl);
        let moved =
            (out.selector, out.base, out.limit) != (source.selector, source.base, source.limit);
        (!moved).then(|| pack(&out))
    };
    if word & FREE == 0 {
        // One word in the class.
        return run(word).map_or(Form::Walked, |set| Form::Masks { keep: 0, set });
    }
    let Some(all) = run(fixed | FREE) else {
        return Form::Walked;
    };
    let mut keep = 0;
    for n in (0..16).filter(|n| FREE & 1 << n != 0) {
        let bit = 1u16 << n;
        match run(fixed | (FREE & !bit)).map(|w| w ^ all) {
            Some(0) => {}
            Some(d) if d == bit => keep |= bit,
            _ => return Form::Walked,
        }
    }
    let set = all & !keep;
    // The words with one bit cleared already fit: each came out as `all` or `all`
    // without that bit, which is what the masks make of it. The words with one bit
    // alone are new.
    let fits = (0..16)
        .filter(|n| FREE & 1 << n != 0)
        .map(|n| fixed | 1 << n)
        .all(|w| run(w) == Some((w & keep) | set));
    if fits {
        Form::Masks { keep, set }
    } else {
        Form::Walked
    }
}

#[cfg(all(test, feature = "std"))]
std::thread_local! {
    /// How many states [`RegisterMasks::keeps_source`] judged by masks: the tests see
    /// that the masks they hold to `expected` really are used.
    pub(super) static MASKED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    /// How many of the masks' judgments read a source made once for a batch's chains
    /// ([`Source::share`]).
    pub(super) static SOURCES_READ: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use std::collections::HashSet;
    use std::vec::Vec;

    use super::*;
    use crate::arch::PerSegReg;
    use crate::profile::Format;
    use crate::verify::reduce::tests::{chains_and_workspaces, with_half_rules_off};

    /// A decoded source state: register, CPL, segment.
    type Source = (SegReg, PrivilegeLevel, Segment);

    /// A segment with one packed bit flipped.
    fn flipped(s: &Segment, n: u16) -> Segment {
        let mut out = unpack(pack(s) ^ 1 << n, s.limit > 0xf_ffff);
        (out.selector, out.base, out.limit) = (s.selector, s.base, s.limit);
        out
    }

    /// A built-in chain's attribute property is judged by masks; the same chain with a
    /// rule switched off, or its profiles in another order, by walking
    /// `normalise::expected` (the verdicts equal, as `keeps_source` asserts under the
    /// tests), over every state of its source format's domain.
    #[test]
    fn only_built_in_chains_are_judged_by_masks() {
        let (chains, workspaces) = chains_and_workspaces();
        let builtin = crate::profile::builtin_chains();
        let written: [Chain; 3] = [
            "kvm-svm[-svm.get.data-accessed] > qemu > kvm-svm",
            "kvm-vmx > crosvm > crosvm-haxm[-crosvm.haxm.no-null-bit]",
            "kvm-vmx > qemu > kvm-vmx > qemu > kvm-vmx",
        ]
        .map(|spec| spec.parse().expect("a chain"));
        for chain in builtin.iter().chain(&written) {
            let built_in = builtin_about(chain).is_some();
            assert_eq!(built_in, builtin.contains(chain), "{chain}");
            let ws = workspaces
                .iter()
                .find(|ws| ws.format == chain.source())
                .expect("a workspace per source format");
            let mut masks = RegisterMasks::for_chain(chain);
            let before = MASKED.with(|n| n.get());
            for s in ws.states() {
                let Some(source) = s.decoded else { continue };
                let expected = normalise::expected(chain.ops(), s.reg, &source, s.cpl);
                assert!(masks[s.reg].keeps(chain.ops(), (&source, s.cpl), &expected));
            }
            let masked = MASKED.with(|n| n.get()) - before;
            assert_eq!(masked > 0, built_in, "{chain}: {masked} judged by masks");
        }
        assert!(chains.iter().any(|c| builtin_about(c).is_none()));
    }

    /// For every built-in chain, each with one rule switched off and each with half its
    /// rules switched off, every register and every distinct decoded source segment and
    /// CPL of the whole domain: the masks take what `normalise::expected` makes of it
    /// and refuse it with an attribute bit or `unusable` flipped (each bit in turn
    /// across the sources), the limit or the base changed (and `keeps_source` asserts
    /// under the tests that each of those verdicts is `expected`'s). The masks are
    /// really used: every state of a built-in chain is judged by them, and more than
    /// nine in ten of all, or this test would hold the walk to itself.
    #[test]
    fn masks_judge_as_normalise_expected_over_the_whole_domain() {
        let (mut chains, workspaces) = chains_and_workspaces();
        with_half_rules_off(&mut chains);
        let builtin = crate::profile::builtin_chains();
        assert!(chains.len() > 400, "{} chains", chains.len());
        let (mut judged, mut masked_builtin, mut judged_builtin) = (0usize, 0usize, 0usize);
        MASKED.with(|n| n.set(0));
        let domains: Vec<(Format, HashSet<Source>)> = workspaces
            .iter()
            .map(|ws| {
                let states = ws.states();
                let decoded = states
                    .iter()
                    .filter_map(|s| s.decoded.map(|d| (s.reg, s.cpl, d)));
                (ws.format, decoded.collect())
            })
            .collect();
        for chain in &chains {
            let (_, sources) = domains
                .iter()
                .find(|(f, _)| *f == chain.source())
                .expect("a workspace per source format");
            let mut masks = PerSegReg::from_fn(RegisterMasks::new);
            let before = MASKED.with(|n| n.get());
            for &(reg, cpl, source) in sources {
                let masks = &mut masks[reg];
                let expected = normalise::expected(chain.ops(), reg, &source, cpl);
                assert!(
                    masks.keeps(chain.ops(), (&source, cpl), &expected),
                    "{chain}: {source:?}"
                );
                // Each bit in turn, over the sources (every bit thousands of times).
                let n = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15]
                    [usize::from(pack(&source) ^ source.selector.0) % 13];
                let wrong = flipped(&expected, n);
                assert!(
                    !masks.keeps(chain.ops(), (&source, cpl), &wrong),
                    "{chain}: bit {n}"
                );
                let mut moved = expected;
                moved.limit ^= 1;
                assert!(
                    !masks.keeps(chain.ops(), (&source, cpl), &moved),
                    "{chain}: limit"
                );
                moved = expected;
                moved.base ^= 0x1000;
                assert!(
                    !masks.keeps(chain.ops(), (&source, cpl), &moved),
                    "{chain}: base"
                );
            }
            let calls = sources.len() * 4;
            judged += calls;
            if builtin.iter().any(|b| b == chain) {
                judged_builtin += calls;
                masked_builtin += MASKED.with(|n| n.get()) - before;
            }
        }
        let masked = MASKED.with(|n| n.get());
        assert_eq!(
            masked_builtin, judged_builtin,
            "built-in chains judged by walking"
        );
        assert!(
            masked * 10 > judged * 9,
            "{masked} of {judged} judged by masks"
        );
    }
}
