//! Linear to physical: the page walk of the four paging modes (SDM Vol. 3A chapter 4,
//! "Paging"), over a guest's physical memory held as bytes from address 0.
//!
//! Only what finding a guest's code needs: the walk follows present entries and the
//! page-size bits to the frame, and stops at a non-present entry or one outside the
//! memory it was given. Access rights, reserved bits and the accessed/dirty bits are
//! not checked: a fault they would raise is the guest's to take, not the reader's.

use core::fmt;

use super::mode::{CR0_PG, CR4_LA57, CR4_PAE, CR4_PSE, EFER_LMA};

/// Bits 51:12 of a PAE or IA-32e paging entry: the address of the next table or page
/// (MAXPHYADDR at most 52, SDM Vol. 3A §4.1.4).
const ADDRESS_51_12: u64 = 0x000f_ffff_ffff_f000;

/// How the CPU translates linear addresses (SDM Vol. 3A §4.1.1, Table 4-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PagingMode {
    /// CR0.PG = 0: a linear address is the physical address.
    Off,
    /// 32-bit paging (CR4.PAE = 0); `pse` is CR4.PSE, which allows 4-MByte pages.
    Bits32 {
        /// CR4.PSE.
        pse: bool,
    },
    /// PAE paging: a 4-entry PDPT, then 512-entry tables of 8-byte entries.
    Pae,
    /// 4-level paging (IA-32e mode, CR4.LA57 = 0).
    Level4,
    /// 5-level paging (IA-32e mode, CR4.LA57 = 1).
    Level5,
}

impl PagingMode {
    /// The mode CR0.PG, CR4.PAE, CR4.PSE, CR4.LA57 and EFER.LMA select.
    #[must_use]
    pub const fn from_registers(cr0: u64, cr4: u64, efer: u64) -> Self {
        if cr0 & CR0_PG == 0 {
            PagingMode::Off
        } else if cr4 & CR4_PAE == 0 {
            PagingMode::Bits32 {
                pse: cr4 & CR4_PSE != 0,
            }
        } else if efer & EFER_LMA == 0 {
            PagingMode::Pae
        } else if cr4 & CR4_LA57 != 0 {
            PagingMode::Level5
        } else {
            PagingMode::Level4
        }
    }
}

impl fmt::Display for PagingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PagingMode::Off => "no paging",
            PagingMode::Bits32 { .. } => "32-bit paging",
            PagingMode::Pae => "PAE paging",
            PagingMode::Level4 => "4-level paging",
            PagingMode::Level5 => "5-level paging",
        })
    }
}

/// Why a linear address has no physical address in the memory given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// An entry on the way has P = 0.
    NotPresent {
        /// The table the entry is in (`PDE`, `PML4E`, ...).
        level: &'static str,
        /// The entry's physical address.
        address: u64,
        /// The entry.
        entry: u64,
    },
    /// An entry on the way lies past the end of the memory.
    EntryOutside {
        /// The table the entry is in.
        level: &'static str,
        /// The entry's physical address.
        address: u64,
    },
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::NotPresent {
                level,
                address,
                entry,
            } => write!(
                f,
                "the {level} at physical {address:#x} is not present ({entry:#x})"
            ),
            WalkError::EntryOutside { level, address } => write!(
                f,
                "the {level} at physical {address:#x} is past the end of the memory"
            ),
        }
    }
}

impl core::error::Error for WalkError {}

/// A table of the walk: its name, the shift of the linear-address bits that index it,
/// and, where its entry may map a page (PS = 1 when allowed), that page's size shift.
struct Level {
    name: &'static str,
    shift: u32,
    large_page: Option<u32>,
}

const PML5: Level = Level {
    name: "PML5E",
    shift: 48,
    large_page: None,
};
const PML4: Level = Level {
    name: "PML4E",
    shift: 39,
    large_page: None,
};
/// The IA-32e PDPT, whose entries may map 1-GByte pages.
const PDPT: Level = Level {
    name: "PDPTE",
    shift: 30,
    large_page: Some(30),
};
const PD: Level = Level {
    name: "PDE",
    shift: 21,
    large_page: Some(21),
};
const PT: Level = Level {
    name: "PTE",
    shift: 12,
    large_page: None,
};

/// Reads the little-endian entry of `width` bytes at physical `address`.
fn entry(memory: &[u8], level: &'static str, address: u64, width: usize) -> Result<u64, WalkError> {
    let outside = WalkError::EntryOutside { level, address };
    let at = usize::try_from(address).map_err(|_| outside)?;
    let bytes = memory
        .get(at..at.checked_add(width).ok_or(outside)?)
        .ok_or(outside)?;
    let mut word = [0u8; 8];
    word[..width].copy_from_slice(bytes);
    Ok(u64::from_le_bytes(word))
}

/// Reads a present entry, else says which is not.
fn present(
    memory: &[u8],
    level: &'static str,
    address: u64,
    width: usize,
) -> Result<u64, WalkError> {
    let e = entry(memory, level, address, width)?;
    if e & 1 == 0 {
        return Err(WalkError::NotPresent {
            level,
            address,
            entry: e,
        });
    }
    Ok(e)
}

/// The physical address of `linear` in `mode`, walking the tables from `cr3` in
/// `memory` (the guest's physical memory from address 0).
///
/// # Errors
///
/// [`WalkError`]: an entry on the way is not present or lies outside `memory`.
pub fn translate(memory: &[u8], mode: PagingMode, cr3: u64, linear: u64) -> Result<u64, WalkError> {
    let levels: &[Level] = match mode {
        PagingMode::Off => return Ok(linear),
        PagingMode::Bits32 { pse } => return translate_32(memory, pse, cr3, linear as u32),
        PagingMode::Pae => {
            // The PDPT: four entries at CR3 bits 31:5, indexed by linear bits 31:30
            // (SDM Vol. 3A §4.4.1); they map no pages.
            let address = (cr3 & 0xffff_ffe0) + ((linear >> 30) & 3) * 8;
            let pdpte = present(memory, "PDPTE", address, 8)?;
            return walk(memory, &[PD, PT], pdpte & ADDRESS_51_12, linear);
        }
        PagingMode::Level4 => &[PML4, PDPT, PD, PT],
        PagingMode::Level5 => &[PML5, PML4, PDPT, PD, PT],
    };
    walk(memory, levels, cr3 & ADDRESS_51_12, linear)
}

/// The walk through 512-entry tables of 8-byte entries from the table at `table`.
fn walk(memory: &[u8], levels: &[Level], mut table: u64, linear: u64) -> Result<u64, WalkError> {
    for level in levels {
        let address = table + ((linear >> level.shift) & 0x1ff) * 8;
        let e = present(memory, level.name, address, 8)?;
        if let Some(page) = level.large_page.filter(|_| e & (1 << 7) != 0) {
            let size = 1u64 << page;
            return Ok((e & ADDRESS_51_12 & !(size - 1)) | (linear & (size - 1)));
        }
        table = e & ADDRESS_51_12;
    }
    Ok(table | (linear & 0xfff))
}

/// 32-bit paging (SDM Vol. 3A §4.3): a PDE indexed by bits 31:22, a 4-MByte page where
/// CR4.PSE and the PDE's PS allow (PSE-36: PDE bits 20:13 are physical bits 39:32),
/// else a PTE indexed by bits 21:12.
fn translate_32(memory: &[u8], pse: bool, cr3: u64, linear: u32) -> Result<u64, WalkError> {
    let linear = u64::from(linear);
    let pde = present(
        memory,
        "PDE",
        (cr3 & 0xffff_f000) + ((linear >> 22) & 0x3ff) * 4,
        4,
    )?;
    if pse && pde & (1 << 7) != 0 {
        let high = ((pde >> 13) & 0xff) << 32;
        return Ok((pde & 0xffc0_0000) | high | (linear & 0x3f_ffff));
    }
    let pte = present(
        memory,
        "PTE",
        (pde & 0xffff_f000) + ((linear >> 12) & 0x3ff) * 4,
        4,
    )?;
    Ok((pte & 0xffff_f000) | (linear & 0xfff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::CR0_PE;

    fn put(memory: &mut [u8], at: u64, entry: u64, width: usize) {
        let at = at as usize;
        memory[at..at + width].copy_from_slice(&entry.to_le_bytes()[..width]);
    }

    #[test]
    fn mode_follows_pg_pae_lma_and_la57() {
        let pg = CR0_PE | CR0_PG;
        assert_eq!(
            PagingMode::from_registers(CR0_PE, CR4_PAE, EFER_LMA),
            PagingMode::Off
        );
        assert_eq!(
            PagingMode::from_registers(pg, CR4_PSE, 0),
            PagingMode::Bits32 { pse: true }
        );
        assert_eq!(
            PagingMode::from_registers(pg, 0, 0),
            PagingMode::Bits32 { pse: false }
        );
        assert_eq!(PagingMode::from_registers(pg, CR4_PAE, 0), PagingMode::Pae);
        assert_eq!(
            PagingMode::from_registers(pg, CR4_PAE, EFER_LMA),
            PagingMode::Level4
        );
        let la57 = CR4_PAE | CR4_LA57;
        assert_eq!(
            PagingMode::from_registers(pg, la57, EFER_LMA),
            PagingMode::Level5
        );
    }

    /// 32-bit paging: a 4-MByte page with PSE, its PS bit ignored without; a 4-KByte
    /// page through a PTE; a non-present PDE named with its address.
    #[test]
    fn bits_32_walks_pde_and_pte() {
        let mut m = vec![0u8; 0x3000];
        put(&mut m, 0x1000 + 4 * 4, 0x0100_0083 | (0x12 << 13), 4); // PDE 4: 4 MiB page
        put(&mut m, 0x1000 + 5 * 4, 0x2003, 4); // PDE 5: the PT at 0x2000
        put(&mut m, 0x2000 + 7 * 4, 0x0abc_d003, 4); // PTE 7
        let big = translate(&m, PagingMode::Bits32 { pse: true }, 0x1000, 0x0112_3456);
        assert_eq!(big, Ok(0x12_0112_3456));
        let small = translate(&m, PagingMode::Bits32 { pse: true }, 0x1000, 0x0140_7123);
        assert_eq!(small, Ok(0x0abc_d123));
        // Without CR4.PSE the PDE's PS bit is ignored: its frame is a page table,
        // here past the end of the memory.
        let no_pse = translate(&m, PagingMode::Bits32 { pse: false }, 0x1000, 0x0112_3456);
        assert!(matches!(
            no_pse,
            Err(WalkError::EntryOutside { level: "PTE", .. })
        ));
        let absent = translate(&m, PagingMode::Bits32 { pse: true }, 0x1000, 0x0);
        assert_eq!(
            absent,
            Err(WalkError::NotPresent {
                level: "PDE",
                address: 0x1000,
                entry: 0
            })
        );
    }

    /// 4-level and 5-level paging: 1-GByte, 2-MByte and 4-KByte pages; PAE's PDPT.
    #[test]
    fn ia32e_and_pae_walk_to_every_page_size() {
        let mut m = vec![0u8; 0x8000];
        put(&mut m, 0x1000, 0x2003, 8); // PML4E 0 -> PDPT at 0x2000
        put(&mut m, 0x2000, 0x4000_0083, 8); // PDPTE 0: 1 GiB page at 1 GiB
        put(&mut m, 0x2008, 0x3003, 8); // PDPTE 1 -> PD at 0x3000
        put(&mut m, 0x3000, 0x0060_0083, 8); // PDE 0: 2 MiB page at 6 MiB
        put(&mut m, 0x3008, 0x4003, 8); // PDE 1 -> PT at 0x4000
        put(&mut m, 0x4000 + 3 * 8, 0x0007_7003, 8); // PTE 3
        let l4 = |lin| translate(&m, PagingMode::Level4, 0x1000, lin);
        assert_eq!(l4(0x1234_5678), Ok(0x5234_5678));
        assert_eq!(l4(0x4012_3456), Ok(0x0072_3456));
        assert_eq!(l4(0x4020_3abc), Ok(0x0007_7abc));
        assert!(matches!(
            l4(0x8000_0000),
            Err(WalkError::NotPresent { level: "PDPTE", .. })
        ));
        put(&mut m, 0x5000, 0x1003, 8); // PML5E 0 -> the PML4 at 0x1000
        assert_eq!(
            translate(&m, PagingMode::Level5, 0x5000, 0x4020_3abc),
            Ok(0x0007_7abc)
        );
        // PAE: CR3 bits 31:5 name the PDPT; its entry 1 leads to the PD at 0x3000.
        put(&mut m, 0x6020 + 8, 0x3001, 8);
        assert_eq!(
            translate(&m, PagingMode::Pae, 0x6020, 0x4020_3abc),
            Ok(0x0007_7abc)
        );
        assert_eq!(
            translate(&m, PagingMode::Off, 0, 0xdead_beef),
            Ok(0xdead_beef)
        );
        let outside = translate(&m, PagingMode::Level4, 0x10_0000, 0);
        assert_eq!(
            outside,
            Err(WalkError::EntryOutside {
                level: "PML4E",
                address: 0x10_0000
            })
        );
    }
}
