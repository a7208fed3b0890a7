//! CRC-32C (Castagnoli), table-driven, slicing by eight.
//!
//! Parameters (the "CRC-32/ISCSI" entry of the CRC catalogue): width 32,
//! polynomial 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF, input and output
//! reflected, final XOR 0xFFFFFFFF. Check value (CRC of the ASCII bytes
//! `123456789`): **0xE3069283**. The same CRC as SSE4.2's `crc32` instruction,
//! iSCSI, ext4 and Btrfs.

/// The reflected polynomial.
pub const POLY: u32 = 0x82F6_3B78;

/// CRC-32C of `b"123456789"`, from the CRC catalogue.
#[cfg(test)]
const CHECK: u32 = 0xE306_9283;

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = make_tables();

/// An incremental CRC-32C.
#[derive(Clone, Copy, Debug)]
pub struct Crc32c(u32);

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32c {
    /// A fresh CRC (nothing hashed yet).
    #[must_use]
    pub const fn new() -> Self {
        Crc32c(!0)
    }

    /// Hashes `data` into the running value.
    pub fn update(&mut self, data: &[u8]) {
        let t = &TABLES;
        let mut c = self.0;
        let mut chunks = data.chunks_exact(8);
        for ch in &mut chunks {
            let lo = c ^ u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
            let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
            c = t[7][(lo & 0xff) as usize]
                ^ t[6][((lo >> 8) & 0xff) as usize]
                ^ t[5][((lo >> 16) & 0xff) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][(hi & 0xff) as usize]
                ^ t[2][((hi >> 8) & 0xff) as usize]
                ^ t[1][((hi >> 16) & 0xff) as usize]
                ^ t[0][(hi >> 24) as usize];
        }
        for &b in chunks.remainder() {
            c = (c >> 8) ^ t[0][((c ^ u32::from(b)) & 0xff) as usize];
        }
        self.0 = c;
    }

    /// The CRC of everything hashed so far.
    #[must_use]
    pub const fn finish(self) -> u32 {
        !self.0
    }
}

/// CRC-32C of `data` in one call.
#[must_use]
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c = Crc32c::new();
    c.update(data);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference, straight from the definition.
    fn slow(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn published_check_value() {
        assert_eq!(crc32c(b"123456789"), CHECK);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    /// Test vectors from RFC 3720 (iSCSI) appendix B.4.
    #[test]
    fn rfc3720_vectors() {
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let inc: alloc::vec::Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&inc), 0x46DD_794E);
        let dec: alloc::vec::Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&dec), 0x113F_DB5C);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn sliced_equals_bitwise_and_incremental() {
        let data: alloc::vec::Vec<u8> = (0u32..1000).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 100, 1000] {
            assert_eq!(crc32c(&data[..len]), slow(&data[..len]), "len {len}");
            for split in [0, len / 3, len / 2, len] {
                let mut c = Crc32c::new();
                c.update(&data[..split]);
                c.update(&data[split..len]);
                assert_eq!(c.finish(), slow(&data[..len]));
            }
        }
    }
}
