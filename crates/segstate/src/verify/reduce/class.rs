//! A class of states and a batch of classes, as the walk reads them: what
//! [`Classes::whole`](super::Classes) holds, 8 bytes a class.

use super::MAX_CLASS;
use crate::arch::{PrivilegeLevel, SegReg};
#[cfg(doc)]
use {
    super::super::{DomainState, Workspace, domain::Domain},
    super::{Avl, Classes},
};

/// States a chain cannot tell apart: one position across the lists of a register
/// group's (register, RPL) pairs, or a state alone; the representative (RPL 0 of the
/// group's first register) is the one that runs.
///
/// A class holds no state: its representative is made where it is read
/// ([`Workspace::representatives`], once per batch for every chain of the batch), from
/// its position, and its members from the representative and the group's lists
/// ([`Classes::consistent_members`]). Nor does it hold its place in [`Classes::whole`]
/// (the order its verdicts are recorded in): the walk knows it from the batch's
/// ([`Batch::first`]), so that a class is 8 bytes: the class list's first writes were
/// most of the fresh pages `verify` touched (167,936 classes for `kvm_sregs`, 2.7 MB at
/// 16 bytes a class, 1.3 MB at 8: about 330 page faults fewer of some 1,250).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::verify) struct Class {
    /// The representative's index in domain order (the tests find the members by it).
    #[cfg(test)]
    pub(super) index: u32,
    /// Its place in [`Classes::whole`] (the tests find its twin by it; the walk holds
    /// what it finds from the batch to it: `batches_make_each_representative_in_place`).
    #[cfg(test)]
    pub(super) ordinal: u32,
    /// For an AVL-clear class with AVL twins, how far after it in [`Classes::whole`] its
    /// twins' class sits, judged with it by chains folding AVL twins in
    /// ([`Avl::Folded`]); [`TWIN_IS_AVL`] for that twins' class (which those chains leave
    /// out); [`TWIN_NONE`] otherwise ([`Class::twin`]). Chains running AVL twins apart
    /// read none of it.
    pub(super) twin: u16,
    /// The representative's position in the list of `reg` and `rpl` ([`Domain::state`]):
    /// a list is at most 32,768 states (a VMCB's SS), 16 bits. Lists are sized when a
    /// domain is made, so `classes_cover_the_domain_once` holds every list of the three
    /// domains to it.
    pub(super) position: u16,
    /// A bit per member after the representative whose source state is consistent,
    /// bit `i` for the `i`-th of the group's lists ([`Classes::partners`]): the members
    /// VM entry is asked about.
    pub(super) consistent: u16,
    /// The representative's register (what a batch shares), kept here so walking the
    /// classes does not touch the states.
    pub(super) reg: SegReg,
    /// Its selector RPL, its own consistency and how many states it covers.
    pub(super) shape: Shape,
}

// What the class lists cost to write: 8 bytes a class (the tests' `index` and
// `ordinal` aside).
#[cfg(not(test))]
const _: () = assert!(size_of::<Class>() == 8);

/// [`Class::twin`] of a class judged without AVL twins.
pub(super) const NO_TWIN: u32 = u32::MAX;

/// [`Class::twin`] of the class of an AVL-clear class's AVL twins: judged with that
/// class when twins are folded in, so left out of [`Classes::placed_batches`]' folded walk.
pub(super) const AVL_TWIN: u32 = u32::MAX - 1;

/// [`Class::twin`]'s field for [`NO_TWIN`]: a twin's class is never the class itself.
const TWIN_NONE: u16 = 0;

/// [`Class::twin`]'s field for [`AVL_TWIN`].
const TWIN_IS_AVL: u16 = u16::MAX;

impl Class {
    /// The field [`Class::twin`] reads for a class at place `ordinal` whose twin is
    /// `twin` (a place after it, [`NO_TWIN`] or [`AVL_TWIN`]). An AVL twin sits 256
    /// classes after its AVL-clear class (1,024 for a VMCB's SS, [`Domain::avl_twin`]),
    /// or fewer in a part of the list (the tests' sparse domains).
    pub(super) fn twin_field(ordinal: u32, twin: u32) -> u16 {
        match twin {
            NO_TWIN => TWIN_NONE,
            AVL_TWIN => TWIN_IS_AVL,
            twin => twin
                .checked_sub(ordinal)
                .and_then(|d| u16::try_from(d).ok())
                .filter(|&d| d != TWIN_NONE && d != TWIN_IS_AVL)
                .expect("an AVL twin's class within 65,534 places after its own"),
        }
    }

    /// For this class at place `ordinal` in [`Classes::whole`]: the place of its AVL
    /// twins' class if it has one, [`AVL_TWIN`] if it is that class, [`NO_TWIN`]
    /// otherwise.
    #[inline(always)]
    pub(super) fn twin(&self, ordinal: u32) -> u32 {
        match self.twin {
            TWIN_NONE => NO_TWIN,
            TWIN_IS_AVL => AVL_TWIN,
            d => ordinal + u32::from(d),
        }
    }

    /// True for the class of an AVL-clear class's AVL twins ([`AVL_TWIN`]).
    #[inline(always)]
    pub(super) fn is_avl_twin(&self) -> bool {
        self.twin == TWIN_IS_AVL
    }

    /// [`Class::twin`] at the place the tests know it by.
    #[cfg(test)]
    pub(super) fn twin_place(&self) -> u32 {
        self.twin(self.ordinal)
    }

    /// The representative's selector RPL: its list's.
    #[inline(always)]
    pub(super) fn rpl(&self) -> PrivilegeLevel {
        self.shape.rpl()
    }

    /// The representative's own consistency ([`DomainState::consistent`]), kept from
    /// its first making so that making it again judges nothing.
    #[inline(always)]
    pub(super) fn judged(&self) -> bool {
        self.shape.judged()
    }

    /// How many states it covers, the representative included.
    #[inline(always)]
    pub(super) fn len(&self) -> u8 {
        self.shape.len()
    }
}

/// A class's representative's selector RPL (bits 0-1), its own consistency (bit 2)
/// and how many states the class covers (bits 3-7: at most [`MAX_CLASS`], 16), in a
/// byte. Each field is held to its bits: an RPL is one of four (its value its place in
/// [`PrivilegeLevel::ALL`], checked at compile time), [`MAX_CLASS`] is below 32
/// (checked at compile time) and a length beyond it fails [`Shape::new`] in every
/// build rather than spill into the other bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shape(u8);

// An RPL fits bits 0-1 and reads back as itself: `PrivilegeLevel::ALL[rpl as usize]`.
const _: () = {
    let all = PrivilegeLevel::ALL;
    assert!(all.len() == 4);
    let mut i = 0;
    while i < all.len() {
        assert!(all[i] as usize == i);
        i += 1;
    }
};

impl Shape {
    /// The shape of a class of `len` states whose representative has selector RPL `rpl`
    /// and consistency `judged`. Panics if `len` is 0 or more than [`MAX_CLASS`] (a
    /// class is at least its representative, and no group has more lists).
    pub(super) fn new(rpl: PrivilegeLevel, judged: bool, len: usize) -> Shape {
        assert!((1..=MAX_CLASS).contains(&len), "{len} states in a class");
        Shape(rpl as u8 | u8::from(judged) << 2 | (len as u8) << 3)
    }

    #[inline(always)]
    fn rpl(self) -> PrivilegeLevel {
        PrivilegeLevel::ALL[usize::from(self.0 & 3)]
    }

    #[inline(always)]
    fn judged(self) -> bool {
        self.0 & 4 != 0
    }

    #[inline(always)]
    fn len(self) -> u8 {
        self.0 >> 3
    }
}

/// A run of classes adjacent in [`Classes::whole`] and the place there of its first:
/// what a class's place is read from ([`Class`] does not keep it).
#[derive(Clone, Copy, Debug)]
pub(in crate::verify) struct Batch<'a> {
    /// The place in [`Classes::whole`] of `classes[0]`.
    pub(super) first: u32,
    pub(super) classes: &'a [Class],
}

impl<'a> Batch<'a> {
    /// Its first `n` classes, and the rest.
    pub(super) fn split_at(self, n: usize) -> (Batch<'a>, Batch<'a>) {
        let (here, rest) = self.classes.split_at(n);
        let first = self.first + n as u32;
        let rest = Batch {
            first,
            classes: rest,
        };
        (
            Batch {
                first: self.first,
                classes: here,
            },
            rest,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every RPL, consistency and length up to [`MAX_CLASS`] reads back from its
    /// [`Shape`] as it went in, none spilling into another's bits.
    #[test]
    fn shapes_read_back_what_they_pack() {
        for rpl in PrivilegeLevel::ALL {
            for judged in [false, true] {
                for len in 1..=MAX_CLASS {
                    let shape = Shape::new(rpl, judged, len);
                    let read = (shape.rpl(), shape.judged(), usize::from(shape.len()));
                    assert_eq!(read, (rpl, judged, len));
                }
            }
        }
    }

    /// A length past [`MAX_CLASS`] fails loudly rather than wrap into five bits.
    #[test]
    #[should_panic(expected = "17 states in a class")]
    fn a_shape_refuses_a_class_too_long() {
        Shape::new(PrivilegeLevel::Ring0, false, MAX_CLASS + 1);
    }

    /// Every distance a twin's field holds reads back ([`Class::twin`]) as the twin's
    /// place, from places near either end of the list, and [`NO_TWIN`] and [`AVL_TWIN`]
    /// as themselves.
    #[test]
    fn twins_read_back_every_distance() {
        let at = |ordinal: u32, twin: u32| Class {
            index: 0,
            ordinal,
            twin: Class::twin_field(ordinal, twin),
            position: 0,
            consistent: 0,
            reg: SegReg::Cs,
            shape: Shape::new(PrivilegeLevel::Ring0, false, 1),
        };
        for ordinal in [0, 1, 167_936, u32::MAX - 65_536] {
            for ahead in 1..=65_534 {
                let c = at(ordinal, ordinal + ahead);
                assert_eq!(u32::from(c.twin), ahead);
                assert_eq!((c.twin(ordinal), c.is_avl_twin()), (ordinal + ahead, false));
            }
            for (twin, avl) in [(NO_TWIN, false), (AVL_TWIN, true)] {
                let c = at(ordinal, twin);
                assert_eq!((c.twin(ordinal), c.is_avl_twin()), (twin, avl));
            }
        }
    }

    /// A twin 65,535 places ahead, or not ahead, fails loudly rather than wrap.
    #[test]
    #[should_panic(expected = "within 65,534 places")]
    fn a_twin_too_far_ahead_is_refused() {
        Class::twin_field(7, 7 + 65_535);
    }

    /// A twin at or before its own class is refused too.
    #[test]
    #[should_panic(expected = "within 65,534 places")]
    fn a_twin_behind_is_refused() {
        Class::twin_field(7, 7);
    }
}
