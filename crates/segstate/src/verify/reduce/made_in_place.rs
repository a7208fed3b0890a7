//! A batch's representatives made in their slots ([`Workspace::representatives`]) are
//! the states made one at a time ([`Workspace::representative`]), whatever the buffer
//! held before.

use super::*;
use crate::profile::Format;
use crate::verify::domain::MADE_IN_PLACE;

/// Batch lengths that make the buffer grow, shrink and stay: a full batch, one class,
/// a few, lengths between, and none (a full buffer emptied).
const LENGTHS: [usize; 7] = [BATCH, 1, 7, BATCH, 0, 300, BATCH - 1];

#[test]
fn representatives_made_in_place_are_each_made_alone() {
    for format in [Format::Vmcb, Format::Vmcs, Format::Kvm] {
        let ws = Workspace::new(format);
        let whole = &ws.classes.whole;
        let mut into = Vec::new();
        let (mut first, mut made, mut turn) = (0, 0, 0);
        MADE_IN_PLACE.with(|n| n.set(0));
        while first < whole.len() {
            let len = LENGTHS[turn % LENGTHS.len()].min(whole.len() - first);
            let batch = &whole[first..first + len];
            ws.representatives(batch, &mut into);
            assert_eq!(into.len(), batch.len(), "{format}: at {first}");
            for (i, (c, state)) in batch.iter().zip(&into).enumerate() {
                assert_eq!(
                    *state,
                    ws.representative(c),
                    "{format}: class {}",
                    first + i
                );
            }
            (first, made, turn) = (first + len, made + len, turn + 1);
        }
        // Every representative was made in its slot, not returned and copied.
        assert_eq!(MADE_IN_PLACE.with(|n| n.get()), made, "{format}");
        assert!(made > 0, "{format}");
    }
}
