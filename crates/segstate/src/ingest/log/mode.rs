//! The operating mode a log's state shows: decided by the fields read, or named by the
//! dump where they stop (Bochs's words, an EDK2 handler's width, QEMU's 64-bit layout).

use crate::arch::{EFER_LMA, EFER_LME, GuestField, GuestState, ModeGap, ShownMode};

use super::LogDump;

impl LogDump {
    /// The operating mode: as the fields read decide it ([`GuestState::shown_mode`]),
    /// else as the dump names it in words, when it does. A dump that names EFER.LMA
    /// without printing EFER ([`LogDump::named_lma`]) goes as far as the fields decide
    /// with that LMA: where EFER is the gap, or CR0 with no EFER shown, since LMA = 1
    /// itself says paging and protection are on (EFER.LMA is CR0.PG && EFER.LME, and
    /// paging needs CR0.PE: SDM Vol. 3A §2.2.1, §10.8.5); LMA = 0 leaves CR0 the gap.
    ///
    /// # Errors
    ///
    /// [`ModeGap`] when neither decides it.
    pub fn mode(&self) -> Result<ShownMode, ModeGap> {
        let gap = match self.guest.shown_mode() {
            Ok(m) => return Ok(ShownMode::Decided(m)),
            Err(gap) => gap,
        };
        if let Some(m) = self.named_mode {
            return Ok(ShownMode::Named(m, gap));
        }
        let efer_decides = gap.lacks == GuestField::Efer
            || (gap.lacks == GuestField::Cr0 && self.guest.efer.is_none());
        match self.named_lma {
            Some(lma) if efer_decides => {
                let named = GuestState {
                    efer: Some(if lma { EFER_LMA | EFER_LME } else { 0 }),
                    ..self.guest.clone()
                };
                match named.shown_mode() {
                    Ok(m) => Ok(ShownMode::Named(m, gap)),
                    // LMA = 0 without CR0 decides nothing: the gap stays CR0.
                    Err(further) if further.lacks == GuestField::Cr0 => Err(gap),
                    Err(further) => Err(further),
                }
            }
            _ => Err(gap),
        }
    }
}
