//! The RAM block list after `RAM_SAVE_FLAG_MEM_SIZE`, with the per-block fields the
//! stream's capabilities add (QEMU 10.0.2 migration/ram.c: `ram_save_setup` writes it,
//! `parse_ramblocks` and `parse_ramblock` read it):
//!
//! - every block: `u8 len, idstr, be64 used_length`;
//! - with `x-ignore-shared`: `be64`, the block's guest-physical address
//!   (`block->mr->addr`);
//! - with `mapped-ram` (QEMU 9.0 and later; libvirt's "sparse" save images): a packed
//!   28-byte `MappedRamHeader`, `be32 version` (1), `be64 page_size`,
//!   `be64 bitmap_offset`, `be64 pages_offset` (`mapped_ram_setup_ramblock`). The
//!   block's dirty bitmap (one bit per page, in host `unsigned long`s) follows the
//!   header, its pages start at the next 1 MiB boundary, one slot per page (a hole
//!   where no page was written), and the stream goes on at `pages_offset +
//!   used_length`. No page words follow in the stream (`ram_load_precopy` refuses them).
//!
//! Both capabilities are announced in `configuration/capabilities` (savevm.c
//! `should_validate_capability`: the two capabilities source and destination must
//! agree on), which is how the walker knows the fields are there. (A postcopy stream
//! adds a `be64` page size after a huge-page block's length, which the stream does not
//! announce; such a block list is refused where it stops making sense.)
//!
//! A mapped-ram header's offsets count from the start of the file, not of the stream:
//! QEMU writes at `file:PATH,offset=N` (libvirt puts its own header first). The bitmap
//! directly follows the header, so the first header says where the stream starts in
//! the file and every later one must agree; the walker then reads on, forward only,
//! through each block's bitmap and pages, holding nothing of them.

use super::*;

/// `x-ignore-shared`: each RAM block's entry carries its guest-physical address.
pub(super) const CAP_X_IGNORE_SHARED: &str = "x-ignore-shared";
/// `mapped-ram`: each RAM block's entry carries a [`MappedRamHeader`] and its pages.
pub(super) const CAP_MAPPED_RAM: &str = "mapped-ram";
/// The capabilities QEMU writes into `configuration/capabilities`, each of which
/// changes the RAM block list; the walker reads every one of them.
pub(super) const FORMAT_CAPABILITIES: [&str; 2] = [CAP_X_IGNORE_SHARED, CAP_MAPPED_RAM];

/// `sizeof(MappedRamHeader)` (`QEMU_PACKED`).
const MAPPED_RAM_HEADER_BYTES: u64 = 4 + 3 * 8;
/// `MAPPED_RAM_HDR_VERSION`: QEMU refuses a later version.
const MAPPED_RAM_HDR_VERSION: u32 = 1;
/// The bitmap's unit, `unsigned long` on the 64-bit hosts QEMU supports.
const BITMAP_WORD_BYTES: u64 = 8;

/// The RAM flags a mapped-ram stream may not carry: its pages are not in the stream
/// (`ram_load_precopy`'s `invalid_flags`; `COMPRESS_PAGE`, gone since QEMU 9.1, never
/// went with mapped-ram either).
pub(super) const MAPPED_RAM_INVALID_FLAGS: u64 = RAM_SAVE_FLAG_HOOK
    | RAM_SAVE_FLAG_MULTIFD_FLUSH
    | RAM_SAVE_FLAG_PAGE
    | RAM_SAVE_FLAG_XBZRLE
    | RAM_SAVE_FLAG_ZERO
    | RAM_SAVE_FLAG_COMPRESS_PAGE;

/// A RAM block's `MappedRamHeader`, as read (big-endian on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MappedRamHeader {
    version: u32,
    page_size: u64,
    /// File offset of the block's dirty bitmap.
    bitmap_offset: u64,
    /// File offset of the block's first page slot.
    pages_offset: u64,
}

/// Where one block's mapped-ram region ends, once its header has been checked.
struct Region {
    /// File offset of the stream's first byte, as this header places it.
    base: u64,
    /// File offset just past the block's last page slot.
    end: u64,
}

impl MappedRamHeader {
    /// Checks the header of a block of `used_length` bytes that ends at stream offset
    /// `header_end`, against the stream's `page_size` and the stream's start in the
    /// file (`base`) when an earlier header gave it. The reason, when it does not hold.
    fn region(
        &self,
        used_length: u64,
        header_end: u64,
        page_size: u64,
        base: Option<u64>,
    ) -> Result<Region, String> {
        let h = self;
        if h.version > MAPPED_RAM_HDR_VERSION {
            return Err(format!(
                "version {}: QEMU writes {MAPPED_RAM_HDR_VERSION} and refuses a later one",
                h.version
            ));
        }
        if h.page_size != page_size {
            return Err(format!(
                "page size {:#x}, but the stream's target page size is {page_size:#x}",
                h.page_size
            ));
        }
        // The bitmap follows the header: its offset says where the stream starts.
        let here = h.bitmap_offset.checked_sub(header_end).ok_or_else(|| {
            format!(
                "bitmap at file offset {:#x}, before the header's own end (stream offset \
                 {header_end:#x}): the bitmap follows the header",
                h.bitmap_offset
            )
        })?;
        if let Some(base) = base.filter(|&b| b != here) {
            return Err(format!(
                "bitmap at file offset {:#x}, but the header ends at file offset {:#x} \
                 (the first header places the stream at file offset {base:#x}): the bitmap \
                 follows the header",
                h.bitmap_offset,
                base + header_end
            ));
        }
        let pages = used_length / page_size;
        let bitmap_bytes = pages.div_ceil(64) * BITMAP_WORD_BYTES;
        let bitmap_end = h.bitmap_offset.checked_add(bitmap_bytes);
        if bitmap_end.is_none_or(|e| h.pages_offset < e) {
            return Err(format!(
                "pages at file offset {:#x}, inside the {bitmap_bytes:#x}-byte bitmap of its \
                 {pages} pages at {:#x}",
                h.pages_offset, h.bitmap_offset
            ));
        }
        if h.pages_offset % page_size != 0 {
            return Err(format!(
                "pages at file offset {:#x}, not page-aligned (QEMU refuses it too)",
                h.pages_offset
            ));
        }
        let end = h.pages_offset.checked_add(used_length).ok_or_else(|| {
            format!(
                "pages at file offset {:#x} and {used_length:#x} bytes of them run past the \
                 largest offset",
                h.pages_offset
            )
        })?;
        Ok(Region { base: here, end })
    }
}

impl<R: Read> Walker<R> {
    /// The stream announces `cap` in its configuration section.
    fn has_capability(&self, cap: &str) -> bool {
        self.summary.capabilities.iter().any(|c| c == cap)
    }

    /// The stream is a mapped-ram one: no page words, pages at fixed file offsets.
    pub(super) fn mapped_ram(&self) -> bool {
        self.has_capability(CAP_MAPPED_RAM)
    }

    /// The RAM block list after `RAM_SAVE_FLAG_MEM_SIZE` (`parse_ramblocks`): blocks
    /// until their lengths add up to `total`, each with the fields the capabilities add.
    pub(super) fn ram_blocks(&mut self, total: u64, at: u64) -> Result<(), MigrationError> {
        let mut left = total;
        let mut blocks = 0;
        while left > 0 {
            if blocks == MAX_RAM_BLOCKS {
                return Err(error(at, format!("more than {MAX_RAM_BLOCKS} RAM blocks")));
            }
            let block_at = self.input.offset;
            let (name, readable) = self.input.short_name("a RAM block idstr")?;
            if !readable || name.is_empty() {
                return Err(error(
                    block_at,
                    format!(
                        "RAM block name \"{name}\" is empty or not printable ASCII: the block list \
                         does not parse here (a per-block field the stream does not announce, \
                         such as postcopy's page size of a huge-page block, or a corrupt \
                         length before it)"
                    ),
                ));
            }
            let length = self.input.be64("a RAM block length")?;
            left = left.checked_sub(length).ok_or_else(|| {
                error(
                    block_at,
                    format!(
                        "RAM block \"{name}\" is {length:#x} bytes, more than the {left:#x} left \
                         of the total {total:#x}"
                    ),
                )
            })?;
            if self.has_capability(CAP_X_IGNORE_SHARED) {
                self.input.be64("an x-ignore-shared RAM block address")?;
            }
            if self.mapped_ram() {
                self.mapped_ram_block(&name, length)?;
            }
            blocks += 1;
        }
        self.summary.ram_total = total;
        Ok(())
    }

    /// A block's `MappedRamHeader`, then its bitmap and pages, read through and
    /// discarded up to where the stream goes on.
    fn mapped_ram_block(&mut self, name: &str, used_length: u64) -> Result<(), MigrationError> {
        let at = self.input.offset;
        let what = "a mapped-ram header";
        let header = MappedRamHeader {
            version: self.input.be32(what)?,
            page_size: self.input.be64(what)?,
            bitmap_offset: self.input.be64(what)?,
            pages_offset: self.input.be64(what)?,
        };
        let header_end = at + MAPPED_RAM_HEADER_BYTES;
        let region = header
            .region(
                used_length,
                header_end,
                self.summary.page_size,
                self.mapped_ram_base,
            )
            .map_err(|why| {
                error(
                    at,
                    format!("mapped-ram header of RAM block \"{name}\": {why}"),
                )
            })?;
        self.mapped_ram_base = Some(region.base);
        // Within u64: `end` is at least the bitmap's offset, `base + header_end`.
        let skip = region.end - region.base - header_end;
        self.input.skip(
            skip,
            &format!(
                "the mapped-ram bitmap and pages of RAM block \"{name}\" (its header at \
                 {at:#x} puts their end at file offset {:#x}, stream offset {:#x})",
                region.end,
                region.end - region.base
            ),
        )?;
        self.summary.ram_bytes_skipped += skip;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Crafted streams: a header, a configuration section naming the capabilities, one
    //! `ram` START section holding the block list and EOS, then `QEMU_VM_EOF`.

    use super::*;

    const PAGE: u64 = 4096;

    /// `u8 len, bytes`.
    fn short(out: &mut Vec<u8>, s: &[u8]) {
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }

    /// The stream up to the first block entry: magic, version, configuration with
    /// `caps`, the `ram` START header and the `MEM_SIZE` word for `total` bytes.
    fn head(caps: &[&str], total: u64) -> Vec<u8> {
        let mut s = b"QEVM\0\0\0\x03".to_vec();
        s.push(QEMU_VM_CONFIGURATION);
        s.extend(14u32.to_be_bytes());
        s.extend(b"pc-i440fx-10.0");
        s.push(QEMU_VM_SUBSECTION);
        short(&mut s, b"configuration/capabilities");
        s.extend(1u32.to_be_bytes());
        s.extend((caps.len() as u32).to_be_bytes());
        for c in caps {
            short(&mut s, c.as_bytes());
        }
        s.push(QEMU_VM_SECTION_START);
        s.extend(0u32.to_be_bytes());
        short(&mut s, b"ram");
        s.extend(0u32.to_be_bytes());
        s.extend(4u32.to_be_bytes());
        s.extend((total | RAM_SAVE_FLAG_MEM_SIZE).to_be_bytes());
        s
    }

    /// EOS, the `ram` section's footer and `QEMU_VM_EOF`.
    fn tail(s: &mut Vec<u8>) {
        s.extend(RAM_SAVE_FLAG_EOS.to_be_bytes());
        s.push(QEMU_VM_SECTION_FOOTER);
        s.extend(0u32.to_be_bytes());
        s.push(QEMU_VM_EOF);
    }

    /// A mapped-ram block entry as QEMU writes it into a file where the stream starts
    /// at file offset `base`: name, length, header, bitmap (all pages written), zero
    /// padding to the page-aligned pages, the pages (filled with `0xa5`). Returns the
    /// header's stream offset.
    fn mapped_block(s: &mut Vec<u8>, base: u64, name: &[u8], len: u64) -> u64 {
        short(s, name);
        s.extend(len.to_be_bytes());
        let at = s.len() as u64;
        let bitmap = base + at + MAPPED_RAM_HEADER_BYTES;
        let pages = (bitmap + (len / PAGE).div_ceil(64) * 8).next_multiple_of(PAGE);
        s.extend(1u32.to_be_bytes());
        s.extend(PAGE.to_be_bytes());
        s.extend(bitmap.to_be_bytes());
        s.extend(pages.to_be_bytes());
        s.extend(vec![0xff; ((len / PAGE).div_ceil(64) * 8) as usize]);
        s.resize((pages - base) as usize, 0);
        s.resize((pages - base + len) as usize, 0xa5);
        at
    }

    fn walk_err(bytes: &[u8]) -> MigrationError {
        match walk(bytes) {
            Ok(s) => panic!("expected an error, got {} sections", s.sections.len()),
            Err(e) => e,
        }
    }

    /// A two-block mapped-ram stream at file offset `base`, and its header offsets.
    fn mapped_stream(base: u64) -> (Vec<u8>, [u64; 2]) {
        let mut s = head(&[CAP_MAPPED_RAM], 0x3000);
        let first = mapped_block(&mut s, base, b"pc.ram", 0x2000);
        let second = mapped_block(&mut s, base, b"pc.bios", 0x1000);
        tail(&mut s);
        (s, [first, second])
    }

    #[test]
    fn mapped_ram_blocks_are_read_through_to_the_end_of_their_pages() {
        for base in [0, 0x5c + 0x1_0000, 0x1234_5000] {
            let (s, _) = mapped_stream(base);
            let summary = walk(s.as_slice()).unwrap_or_else(|e| panic!("base {base:#x}: {e}"));
            assert_eq!(summary.capabilities, [CAP_MAPPED_RAM]);
            assert_eq!(summary.ram_total, 0x3000);
            assert_eq!(summary.stream_len, s.len() as u64);
            assert!(summary.ram_bytes_skipped >= 0x3000, "base {base:#x}");
            assert_eq!(summary.max_buffered, READ_BUFFER_BYTES, "nothing kept");
        }
    }

    #[test]
    fn a_mapped_ram_stream_cut_short_names_the_block_and_where_its_pages_end() {
        let (s, [first, _]) = mapped_stream(0);
        let cut = first as usize + 28 + 100;
        let e = walk_err(&s[..cut]);
        assert_eq!(e.offset, first + 28, "{e}");
        assert!(e.message.contains("ends at offset"), "{e}");
        assert!(e.message.contains("RAM block \"pc.ram\""), "{e}");
        assert!(e.message.contains(&format!("header at {first:#x}")), "{e}");
    }

    /// Rewrites one field of the first block's header: `field` is its offset in the
    /// header (0 version, 4 page size, 12 bitmap, 20 pages).
    fn lying(field: usize, value: &[u8]) -> (MigrationError, u64) {
        let (mut s, [first, _]) = mapped_stream(0);
        let at = first as usize + field;
        s[at..at + value.len()].copy_from_slice(value);
        (walk_err(&s), first)
    }

    #[test]
    fn lying_mapped_ram_headers_are_refused_at_the_header() {
        let cases: [(usize, Vec<u8>, &str); 6] = [
            (0, 2u32.to_be_bytes().to_vec(), "version 2"),
            (4, 0x2000u64.to_be_bytes().to_vec(), "page size 0x2000"),
            (
                12,
                0x10u64.to_be_bytes().to_vec(),
                "before the header's own end",
            ),
            (20, 0u64.to_be_bytes().to_vec(), "inside the"),
            (20, 0x10_0800u64.to_be_bytes().to_vec(), "not page-aligned"),
            (20, (u64::MAX - 0xfff).to_be_bytes().to_vec(), "run past"),
        ];
        for (field, value, says) in cases {
            let (e, header) = lying(field, &value);
            assert_eq!(e.offset, header, "{says}: {e}");
            assert!(
                e.message
                    .contains("mapped-ram header of RAM block \"pc.ram\""),
                "{e}"
            );
            assert!(e.message.contains(says), "{says}: {e}");
        }
    }

    #[test]
    fn a_header_claiming_pages_beyond_the_file_is_a_truncation_not_an_allocation() {
        let far = (1u64 << 50).to_be_bytes();
        let (e, header) = lying(20, &far);
        assert_eq!(e.offset, header + 28, "{e}");
        assert!(e.message.contains("ends at offset"), "{e}");
        assert!(e.message.contains("file offset 0x4000000002000"), "{e}");
    }

    #[test]
    fn a_later_header_must_place_the_stream_where_the_first_did() {
        let (mut s, [_, second]) = mapped_stream(0);
        let at = second as usize + 12;
        let bitmap = u64::from_be_bytes(s[at..at + 8].try_into().unwrap());
        s[at..at + 8].copy_from_slice(&(bitmap + 0x1000).to_be_bytes());
        let e = walk_err(&s);
        assert_eq!(e.offset, second, "{e}");
        assert!(e.message.contains("RAM block \"pc.bios\""), "{e}");
        assert!(
            e.message
                .contains("the first header places the stream at file offset 0x0"),
            "{e}"
        );
    }

    #[test]
    fn page_words_in_a_mapped_ram_stream_are_refused() {
        let mut s = head(&[CAP_MAPPED_RAM], 0x1000);
        mapped_block(&mut s, 0, b"pc.ram", 0x1000);
        let word = s.len() as u64;
        s.extend(RAM_SAVE_FLAG_ZERO.to_be_bytes());
        short(&mut s, b"pc.ram");
        s.push(0);
        tail(&mut s);
        let e = walk_err(&s);
        assert_eq!(e.offset, word, "{e}");
        assert!(e.message.contains("mapped-ram"), "{e}");
    }

    /// Two blocks, each followed by its guest-physical address (`first_at` for the
    /// first).
    fn ignore_shared_stream(caps: &[&str], first_at: u64) -> Vec<u8> {
        let mut s = head(caps, 0x3000);
        short(&mut s, b"pc.ram");
        s.extend(0x2000u64.to_be_bytes());
        s.extend(first_at.to_be_bytes());
        short(&mut s, b"pc.bios");
        s.extend(0x1000u64.to_be_bytes());
        s.extend(0xffff_f000u64.to_be_bytes());
        tail(&mut s);
        s
    }

    #[test]
    fn x_ignore_shared_blocks_carry_an_address() {
        let s = walk(ignore_shared_stream(&[CAP_X_IGNORE_SHARED], 0).as_slice()).unwrap();
        assert_eq!(s.capabilities, [CAP_X_IGNORE_SHARED]);
        assert_eq!(s.ram_total, 0x3000);
    }

    #[test]
    fn a_misread_block_name_is_shown_escaped() {
        // The same bytes without the capability: the address is read as the next
        // block's name, empty for address 0 (as in a real stream), three NULs here.
        let e = walk_err(&ignore_shared_stream(&[], 0));
        assert!(e.message.contains("RAM block name \"\" is empty"), "{e}");
        let e = walk_err(&ignore_shared_stream(&[], 0x0300_0000_0000_0000));
        assert!(e.message.contains("\"\\x00\\x00\\x00\""), "{e}");
        assert!(e.message.contains("not printable ASCII"), "{e}");
        assert!(!e.message.contains('\0'), "{e}");
    }

    #[test]
    fn a_capability_segstate_does_not_read_is_refused_where_it_is_named() {
        let s = head(&["x-new-format"], 0);
        let at = s.windows(5).position(|w| w == b"x-new").unwrap() as u64 - 1;
        let e = walk_err(&s);
        assert_eq!(e.offset, at, "{e}");
        assert!(e.message.contains("\"x-new-format\""), "{e}");
    }

    #[test]
    fn names_keep_printable_ascii_and_escape_the_rest() {
        assert_eq!(printable(b"rom@etc/acpi/tables"), "rom@etc/acpi/tables");
        assert_eq!(printable(b"a\0\x1b\"\\\xff"), "a\\x00\\x1b\\x22\\x5c\\xff");
    }
}
