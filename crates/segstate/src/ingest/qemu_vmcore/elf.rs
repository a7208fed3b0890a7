//! The ELF container of a QEMU guest memory dump: its header, its program headers
//! (section header 0 for the count past `PN_XNUM`), and the notes its `PT_NOTE` points
//! at (`dump/dump.c` `write_elf64_header`, `write_elf_phdr_note`, `prepare_elf_section_hdrs`).

use std::format;
use std::io::Read;
use std::vec::Vec;

use super::super::byte_stream::{ByteStream, usize_of};
use super::super::foreign::{IngestError, Reason};
use super::{Container, EM_386, EM_X86_64, ET_CORE, notes_within_limit};
use crate::format::{le_u16, le_u32, le_u64};

/// `PT_NOTE`.
const PT_NOTE: u32 = 4;
/// `PN_XNUM`: the program header count is in section header 0's `sh_info`.
const PN_XNUM: u16 = 0xffff;
/// The most program headers walked.
const MAX_PHDRS: u64 = 1 << 20;

/// The ELF header at the start, its program headers, and the notes its `PT_NOTE`
/// points at: (container, the notes' offset, the notes).
pub(super) fn elf_notes<R: Read>(
    s: &mut ByteStream<'_, R>,
    ident: &[u8; 16],
) -> Result<(Container, u64, Vec<u8>), IngestError> {
    let class64 = match ident[4] {
        1 => false,
        2 => true,
        c => return Err(s.unsupported(4, format!("ELF class {c}"), "ELFCLASS32 and ELFCLASS64")),
    };
    if ident[5] != 1 {
        return Err(s.unsupported(
            5,
            format!("ELF data encoding {}", ident[5]),
            "little-endian ELF (ELFDATA2LSB), as QEMU writes for x86",
        ));
    }
    let mut rest = [0u8; 48];
    let rest = &mut rest[..if class64 { 48 } else { 36 }];
    s.read_exact(rest, "the ELF header")?;
    let h = |at: usize| at - 16;
    let (e_type, machine) = (le_u16(rest, h(16)), le_u16(rest, h(18)));
    if e_type != ET_CORE {
        return Err(s.error(
            16,
            Reason::Layout(format!(
                "an ELF file of type {e_type}, not a core file (ET_CORE, 4): a guest memory \
                 dump is a core file"
            )),
        ));
    }
    if !matches!(machine, EM_386 | EM_X86_64) {
        return Err(s.error(
            18,
            Reason::Layout(format!(
                "ELF machine {machine}, not x86 (EM_386 3 or EM_X86_64 62): QEMU's dumps of \
                 other targets carry other CPU notes"
            )),
        ));
    }
    // (phoff, shoff, phentsize, phnum, shentsize)
    let (phoff, shoff, phentsize, phnum, shentsize) = if class64 {
        (
            le_u64(rest, h(32)),
            le_u64(rest, h(40)),
            u64::from(le_u16(rest, h(54))),
            le_u16(rest, h(56)),
            u64::from(le_u16(rest, h(58))),
        )
    } else {
        (
            u64::from(le_u32(rest, h(28))),
            u64::from(le_u32(rest, h(32))),
            u64::from(le_u16(rest, h(42))),
            le_u16(rest, h(44)),
            u64::from(le_u16(rest, h(46))),
        )
    };
    let container = Container::Elf { class64, machine };
    let (ph_size, sh_size) = if class64 { (56, 64) } else { (32, 40) };
    if phentsize != ph_size {
        return Err(s.error(
            if class64 { 54 } else { 42 },
            Reason::Layout(format!(
                "e_phentsize {phentsize}, not the {ph_size} of an ELF{} program header",
                if class64 { 64 } else { 32 }
            )),
        ));
    }
    let count = if phnum == PN_XNUM {
        // The real count is section header 0's sh_info (QEMU writes the section headers
        // before the program headers).
        if shentsize != sh_size {
            return Err(s.error(
                shoff,
                Reason::Layout(format!("e_shentsize {shentsize}, not {sh_size}")),
            ));
        }
        s.skip_to(
            shoff,
            "section header 0 (PN_XNUM: it holds the program header count)",
        )?;
        let mut sh = [0u8; 64];
        let sh = &mut sh[..usize_of(sh_size)];
        s.read_exact(sh, "section header 0")?;
        u64::from(le_u32(sh, if class64 { 44 } else { 28 }))
    } else {
        u64::from(phnum)
    };
    if count > MAX_PHDRS {
        return Err(s.error(
            phoff,
            Reason::Layout(format!(
                "{count} program headers, more than the {MAX_PHDRS} this reader walks"
            )),
        ));
    }
    s.skip_to(phoff, "the program headers")?;
    let mut note: Option<(u64, u64)> = None;
    let mut ph = [0u8; 56];
    let ph = &mut ph[..usize_of(ph_size)];
    for _ in 0..count {
        s.read_exact(ph, "a program header")?;
        if le_u32(ph, 0) != PT_NOTE || note.is_some() {
            continue;
        }
        let (offset, filesz) = if class64 {
            (le_u64(ph, 8), le_u64(ph, 32))
        } else {
            (u64::from(le_u32(ph, 4)), u64::from(le_u32(ph, 16)))
        };
        note = Some((offset, filesz));
    }
    let Some((offset, size)) = note else {
        return Err(s.error(
            phoff,
            Reason::Missing("a PT_NOTE program header (the CPU notes)"),
        ));
    };
    let notes = read_notes(s, offset, size)?;
    Ok((container, offset, notes))
}

/// The `size` note bytes at `offset` of a stream read from its start.
fn read_notes<R: Read>(
    s: &mut ByteStream<'_, R>,
    offset: u64,
    size: u64,
) -> Result<Vec<u8>, IngestError> {
    notes_within_limit(size).map_err(|r| s.error(offset, r))?;
    s.skip_to(offset, "the notes")?;
    let mut notes = std::vec![0u8; usize_of(size)];
    s.read_exact(&mut notes, "the notes")?;
    Ok(notes)
}
