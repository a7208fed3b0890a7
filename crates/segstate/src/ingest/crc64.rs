//! CRC-64/Jones as Firecracker computes it over its snapshot files.
//!
//! Firecracker (`src/vmm/src/snapshot/mod.rs`, `Snapshot::load`, firecracker `81b38b9`)
//! uses the `crc64` crate 2.0: the Redis variant — polynomial 0xad93d23594c935a9,
//! reflected, initial value 0, no final XOR. The checksum is appended little-endian,
//! so the CRC of a whole intact file is 0.

/// The reflected polynomial (0xad93d23594c935a9 bit-reversed).
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-64/Jones of `data`, continuing from `crc` (0 to start).
#[must_use]
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_jones_variant() {
        // The crc64 crate's documented check value for "123456789".
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn appended_little_endian_checksum_makes_the_whole_zero() {
        let mut data = b"segstate firecracker".to_vec();
        let sum = crc64(0, &data);
        data.extend_from_slice(&sum.to_le_bytes());
        assert_eq!(crc64(0, &data), 0);
        data[3] ^= 1;
        assert_ne!(crc64(0, &data), 0);
    }

    #[test]
    fn table_matches_the_crate_table() {
        // First entries of the crc64 crate's CRC64_TAB[0].
        assert_eq!(TABLE[1], 0x7ad8_70c8_3035_8979);
        assert_eq!(TABLE[2], 0xf5b0_e190_606b_12f2);
    }
}
