//! QEMU guest memory dumps: the file `dump-guest-memory` (QMP and HMP) and `virsh dump
//! --memory-only` write, ELF or kdump-compressed, every vCPU's segment cache.
//!
//! QEMU puts one ELF note pair per vCPU in the dump (`dump/dump.c`
//! `write_elf64_notes`/`write_elf32_notes`: every vCPU's `"CORE"` `NT_PRSTATUS` first,
//! then every vCPU's `"QEMU"` note, both in `CPU_FOREACH` order). The `NT_PRSTATUS`
//! holds only selectors; the `"QEMU"` note (type 0) holds `QEMUCPUState`
//! (`target/i386/arch_dump.c`, `QEMUCPUSTATE_VERSION` 1): the general registers, RIP,
//! RFLAGS, then `QEMUCPUSegment {u32 selector, u32 limit, u32 flags, u32 pad, u64
//! base}` for CS DS ES FS GS SS LDT TR GDT IDT, `cr[0..5]`, and since QEMU 8.1
//! `kernel_gs_base` (its `size` field says which: 432 or 440 bytes). The segments are
//! QEMU's `SegmentCache` verbatim (`copy_segment`), flags and a 32-bit selector
//! included: the same cooked shape a migration stream carries, so they are read through
//! the same [`QemuSegmentCache`]. The note has no EFER and no hflags: the CPL is SS.DPL,
//! as KVM's `KVM_SET_SREGS` takes it, and EFER.LMA is inferred (see
//! [`VmcoreCpu::efer`]).
//!
//! The containers, all read front to back as a stream, guest RAM never read:
//!
//! - **ELF** (`format=elf`, the default): an `ET_CORE` file, `EM_X86_64` when the first
//!   vCPU had `HF_LMA` and `EM_386` otherwise, ELF64 unless the first vCPU was not in
//!   long mode and no guest RAM block ends above 4 GiB (`cpu_get_dump_info`; the PC's
//!   BIOS ROM ends at 4 GiB, so QEMU 10 writes ELF64 even for a 32-bit guest). One
//!   `PT_NOTE` program header points at the notes; with more than 65534 program headers
//!   the count is in section header 0 (`PN_XNUM`, QEMU 7.2 on).
//! - **kdump-compressed, raw** (`kdump-raw-zlib`, `-lzo`, `-snappy`, QEMU 8.2 on): a
//!   `DiskDumpHeader64` ("KDUMP   ", header version 6) at offset 0, a `KdumpSubHeader64`
//!   one block later, and the same notes at its `offset_note` (`create_header64`;
//!   `include/sysemu/dump.h`). The 32-bit header, written for an ELFCLASS32 dump, is
//!   read too.
//! - **kdump-compressed, flattened** (`kdump-zlib`, `-lzo`, `-snappy`, `-z` in HMP, and
//!   what `virsh dump --format=kdump-zlib` writes): makedumpfile's flattened format, a
//!   4096-byte header (`makedumpfile`, type 1, version 1) then records `{i64 offset,
//!   i64 size}` big-endian, each followed by `size` bytes of the raw format at
//!   `offset`, ending with offset -1 (`write_start_flat_header`, `write_buffer`).
//!
//! Memory is the largest header plus the notes ([`MAX_NOTES`]); reading stops once the
//! notes are in.

use std::format;
use std::io::Read;
use std::string::String;
use std::vec::Vec;

use super::byte_stream::ByteStream;
use super::foreign::{IngestError, Reason};
use crate::arch::{CR0_PG, CR4_PAE, DescriptorTable, EFER_LMA, EFER_LME, PerSegReg, SegReg};
use crate::format::qemu::{QemuFlags, QemuSegmentCache};
use crate::format::{le_u16, le_u32, le_u64};

mod elf;
mod kdump;

use elf::elf_notes;
use kdump::{Flattened, KDUMP_SIGNATURE, MAKEDUMPFILE_SIGNATURE, RawKdump, kdump_notes};

/// The format name errors carry.
pub const FORMAT: &str = "QEMU guest memory dump";
/// The most note bytes read: a `"CORE"` and a `"QEMU"` note are 0x330 bytes a vCPU, so
/// this is room for thousands of vCPUs and the guest's own notes (VMCOREINFO).
pub const MAX_NOTES: u64 = 16 << 20;
/// `QEMUCPUSTATE_VERSION`.
pub const QEMU_CPU_STATE_VERSION: u32 = 1;
/// `sizeof(QEMUCPUState)` before `kernel_gs_base` was added.
pub const QEMU_CPU_STATE_BASE: usize = 432;
/// `sizeof(QEMUCPUState)` with `kernel_gs_base`.
pub const QEMU_CPU_STATE_KGS: usize = 440;

/// ELF's `\x7fELF`.
const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
/// `ET_CORE`.
const ET_CORE: u16 = 4;
/// `EM_386`.
pub const EM_386: u16 = 3;
/// `EM_X86_64`.
pub const EM_X86_64: u16 = 62;
/// `NT_PRSTATUS`.
const NT_PRSTATUS: u32 = 1;
/// `sizeof(x86_64_elf_prstatus)`: QEMU writes it when the first vCPU had `HF_LMA`.
const PRSTATUS_X86_64: usize = 336;
/// `sizeof(x86_elf_prstatus)`: written otherwise.
const PRSTATUS_I386: usize = 144;

/// True when `prefix` starts a file this reader takes: an x86 ELF core file, or a
/// kdump-compressed dump, raw or flattened.
#[must_use]
pub fn recognise(prefix: &[u8]) -> bool {
    let elf_core = prefix.len() >= 20
        && prefix.starts_with(&ELF_MAGIC)
        && le_u16(prefix, 16) == ET_CORE
        && matches!(le_u16(prefix, 18), EM_386 | EM_X86_64);
    elf_core || prefix.starts_with(&KDUMP_SIGNATURE) || prefix.starts_with(&MAKEDUMPFILE_SIGNATURE)
}

/// The container the dump came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// An ELF core file; `class64` for ELFCLASS64.
    Elf {
        /// ELFCLASS64 (else ELFCLASS32).
        class64: bool,
        /// `e_machine`: [`EM_X86_64`] or [`EM_386`].
        machine: u16,
    },
    /// A kdump-compressed file.
    Kdump {
        /// makedumpfile's flattened format (else the raw one).
        flattened: bool,
        /// `DiskDumpHeader64` (else the 32-bit header).
        header64: bool,
        /// The compression its `status` names: `zlib`, `lzo`, `snappy`, `zstd`.
        compression: &'static str,
    },
}

impl core::fmt::Display for Container {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Container::Elf { class64, machine } => write!(
                f,
                "ELF{} core, {}",
                if class64 { 64 } else { 32 },
                if machine == EM_X86_64 {
                    "EM_X86_64"
                } else {
                    "EM_386"
                }
            ),
            Container::Kdump {
                flattened,
                header64,
                compression,
            } => write!(
                f,
                "kdump-compressed ({compression}{}{})",
                if flattened { ", flattened" } else { ", raw" },
                if header64 { "" } else { ", 32-bit header" }
            ),
        }
    }
}

/// One vCPU's `"QEMU"` note: `QEMUCPUState`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmcoreCpu {
    /// Its place among the `"QEMU"` notes: QEMU's CPU index (`CPU_FOREACH` order).
    pub index: usize,
    /// The file offset of the note's descriptor (in the raw layout for a flattened
    /// kdump file).
    pub offset: u64,
    /// The note's `size` field: 432, or 440 with `kernel_gs_base`.
    pub size: u32,
    /// RAX RBX RCX RDX RSI RDI RSP RBP R8-R15, in `QEMUCPUState`'s order.
    pub gprs: [u64; 16],
    /// `env->eip`.
    pub rip: u64,
    /// `env->eflags`.
    pub rflags: u64,
    /// ES CS SS DS FS GS LDTR TR: `env->segs`, `env->ldt`, `env->tr`, raw.
    pub segments: PerSegReg<QemuSegmentCache>,
    /// `env->gdt`.
    pub gdtr: DescriptorTable,
    /// `env->idt`.
    pub idtr: DescriptorTable,
    /// `env->cr[0..5]` (CR1 is always 0).
    pub cr: [u64; 5],
    /// `env->kernelgsbase`, in notes of 440 bytes.
    pub kernel_gs_base: Option<u64>,
}

/// EFER as far as a dump tells it, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferredEfer {
    /// EFER with LME and LMA as inferred; every other bit 0.
    pub value: u64,
    /// How LMA was decided, in words.
    pub how: String,
}

impl VmcoreCpu {
    /// The CPL: SS.DPL. The note carries no hflags, and KVM_SET_SREGS takes the CPL from
    /// SS.DPL too (QEMU's `get_seg` reports the CPL there).
    #[must_use]
    pub fn cpl(&self) -> u8 {
        self.segments[SegReg::Ss].flags.dpl().bits()
    }

    /// EFER, which `QEMUCPUState` does not carry: LMA (and LME) from what the dump shows.
    /// CS.L = 1 is 64-bit mode, so LMA = 1; CR0.PG = 0 or CR4.PAE = 0 rules LMA out;
    /// otherwise (paging with PAE, CS.L = 0: compatibility or legacy PAE mode) it is
    /// the first vCPU's `HF_LMA`, which QEMU wrote into the dump's machine and
    /// `NT_PRSTATUS` layout (`first_lma`), for vCPU 0 known and for the others assumed
    /// alike. SCE and NXE are not known and are taken as 0.
    #[must_use]
    pub fn efer(&self, first_lma: Option<bool>) -> InferredEfer {
        let cs64 = self.segments[SegReg::Cs].flags.0 & QemuFlags::L_MASK != 0;
        let (pg, pae) = (self.cr[0] & CR0_PG != 0, self.cr[4] & CR4_PAE != 0);
        let (lma, how) = if cs64 {
            (
                true,
                String::from("CS.L = 1 is 64-bit mode, so EFER.LMA = 1"),
            )
        } else if !pg || !pae {
            (
                false,
                String::from("CR0.PG or CR4.PAE is 0, which rules out EFER.LMA = 1"),
            )
        } else {
            match first_lma {
                Some(lma) if self.index == 0 => (
                    lma,
                    format!(
                        "QEMU wrote the dump for a first vCPU {} long mode (its ELF machine and \
                         NT_PRSTATUS layout), so EFER.LMA = {}",
                        if lma { "in" } else { "not in" },
                        u8::from(lma)
                    ),
                ),
                Some(lma) => (
                    lma,
                    format!(
                        "CS.L = 0 with paging and PAE is compatibility or legacy PAE mode; \
                         assumed as on vCPU 0, whose long mode ({}) QEMU wrote into the dump",
                        if lma { "on" } else { "off" }
                    ),
                ),
                None => (
                    false,
                    String::from(
                        "CS.L = 0 with paging and PAE, and no NT_PRSTATUS to tell long mode: \
                         assumed EFER.LMA = 0",
                    ),
                ),
            }
        };
        InferredEfer {
            value: if lma { EFER_LME | EFER_LMA } else { 0 },
            how: format!("EFER is not in a QEMU dump's CPU note: {how}; SCE and NXE taken as 0"),
        }
    }
}

/// What [`read`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmcore {
    /// The container.
    pub container: Container,
    /// Every vCPU's `"QEMU"` note, in CPU index order.
    pub cpus: Vec<VmcoreCpu>,
    /// How many `NT_PRSTATUS` notes the dump holds (one a vCPU).
    pub prstatus: usize,
    /// The first vCPU's long mode, from the `NT_PRSTATUS` layout QEMU chose for it:
    /// `None` without one.
    pub first_lma: Option<bool>,
    /// Bytes read from the file, notes included.
    pub bytes_read: u64,
}

/// Reads every vCPU of a QEMU guest memory dump from `reader`, stopping after the
/// notes; `file` names it in errors.
///
/// # Errors
///
/// [`IngestError`] naming the offset or the field and the reason: not an x86 ELF core
/// or kdump file, a byte order or version without a layout, a truncated header, notes
/// over [`MAX_NOTES`] or malformed, or no `"QEMU"` note (a dump not written by QEMU,
/// such as a guest kernel's `/proc/vmcore`, holds selectors only).
pub fn read(reader: impl Read, file: &str) -> Result<Vmcore, IngestError> {
    let mut s = ByteStream::new(reader, FORMAT, file);
    let mut first = [0u8; 16];
    s.read_exact(&mut first, "the file's first 16 bytes")?;
    let (container, notes_at, notes) = if first.starts_with(&ELF_MAGIC) {
        elf_notes(&mut s, &first)?
    } else if first.starts_with(&KDUMP_SIGNATURE) {
        let mut raw = RawKdump {
            s: &mut s,
            head: first,
        };
        kdump_notes(&mut raw, false)?
    } else if first == MAKEDUMPFILE_SIGNATURE {
        let mut flat = Flattened::open(&mut s)?;
        kdump_notes(&mut flat, true)?
    } else {
        return Err(s.bad_magic(
            0,
            u64::from_be_bytes(first[..8].try_into().unwrap_or_default()),
            u64::from_be_bytes(*b"\x7fELF\x02\x01\x01\0"),
        ));
    };
    let parsed = parse_notes(&notes, notes_at, &s)?;
    if parsed.cpus.is_empty() {
        return Err(s.error(
            notes_at,
            Reason::Missing(
                "a \"QEMU\" note (QEMUCPUState): only QEMU's dump-guest-memory writes the \
                 segment caches; a kernel's /proc/vmcore or a process core holds selectors only",
            ),
        ));
    }
    Ok(Vmcore {
        container,
        first_lma: parsed.first_lma,
        prstatus: parsed.prstatus,
        cpus: parsed.cpus,
        bytes_read: s.offset,
    })
}

/// Notes of `size` bytes are read only within [`MAX_NOTES`], whatever the container.
fn notes_within_limit(size: u64) -> Result<(), Reason> {
    if size > MAX_NOTES {
        return Err(Reason::TooLarge {
            size,
            limit: MAX_NOTES,
        });
    }
    Ok(())
}

/// What the notes hold.
struct Notes {
    cpus: Vec<VmcoreCpu>,
    prstatus: usize,
    first_lma: Option<bool>,
}

/// Walks the notes (`namesz`, `descsz`, `type`, the name and the descriptor, each
/// padded to 4 bytes, as QEMU writes both ELF classes' notes).
fn parse_notes<R: Read>(
    notes: &[u8],
    base: u64,
    s: &ByteStream<'_, R>,
) -> Result<Notes, IngestError> {
    let mut out = Notes {
        cpus: Vec::new(),
        prstatus: 0,
        first_lma: None,
    };
    let mut at = 0usize;
    let round = |n: usize| n.div_ceil(4) * 4;
    while at + 12 <= notes.len() {
        let (namesz, descsz, kind) = (
            le_u32(notes, at) as usize,
            le_u32(notes, at + 4) as usize,
            le_u32(notes, at + 8),
        );
        let name_at = at + 12;
        let desc_at = name_at.saturating_add(round(namesz));
        let next = desc_at.saturating_add(round(descsz));
        if next > notes.len() {
            return Err(s.error(
                base + at as u64,
                Reason::Layout(format!(
                    "a note of name size {namesz} and descriptor size {descsz} runs past the \
                     {} note bytes",
                    notes.len()
                )),
            ));
        }
        let name = &notes[name_at..name_at + namesz];
        let desc = &notes[desc_at..desc_at + descsz];
        match (name, kind) {
            (b"CORE\0", NT_PRSTATUS) => {
                if out.prstatus == 0 {
                    out.first_lma = match descsz {
                        PRSTATUS_X86_64 => Some(true),
                        PRSTATUS_I386 => Some(false),
                        _ => None,
                    };
                }
                out.prstatus += 1;
            }
            (b"QEMU\0", 0) => {
                let cpu = cpu_state(desc, out.cpus.len(), base + desc_at as u64, s)?;
                out.cpus.push(cpu);
            }
            _ => {}
        }
        at = next;
    }
    Ok(out)
}

/// `QEMUCPUState` from a `"QEMU"` note's descriptor.
fn cpu_state<R: Read>(
    d: &[u8],
    index: usize,
    offset: u64,
    s: &ByteStream<'_, R>,
) -> Result<VmcoreCpu, IngestError> {
    if d.len() < 8 {
        return Err(s.error(
            offset,
            Reason::WrongLength {
                what: "QEMUCPUState",
                expected: QEMU_CPU_STATE_BASE,
                found: d.len(),
            },
        ));
    }
    let (version, size) = (le_u32(d, 0), le_u32(d, 4));
    if version != QEMU_CPU_STATE_VERSION {
        return Err(s.unsupported(
            offset,
            format!("QEMUCPUState version {version} (vCPU {index})"),
            "QEMUCPUState version 1",
        ));
    }
    let size_us = size as usize;
    if size_us < QEMU_CPU_STATE_BASE || size_us > d.len() {
        return Err(s.error(
            offset + 4,
            Reason::Layout(format!(
                "vCPU {index}'s QEMUCPUState says it is {size} bytes, in a note of {}: it is \
                 at least {QEMU_CPU_STATE_BASE} and at most its note",
                d.len()
            )),
        ));
    }
    let q = |i: usize| le_u64(d, 8 + 8 * i);
    // CS DS ES FS GS SS LDT TR GDT IDT, 24 bytes each, after 18 registers.
    let seg = |i: usize| {
        let at = 8 + 18 * 8 + 24 * i;
        QemuSegmentCache {
            selector: le_u32(d, at),
            limit: le_u32(d, at + 4),
            flags: QemuFlags(le_u32(d, at + 8)),
            base: le_u64(d, at + 16),
        }
    };
    let order = |reg: SegReg| match reg {
        SegReg::Cs => 0,
        SegReg::Ds => 1,
        SegReg::Es => 2,
        SegReg::Fs => 3,
        SegReg::Gs => 4,
        SegReg::Ss => 5,
        SegReg::Ldtr => 6,
        SegReg::Tr => 7,
    };
    let table = |i: usize| {
        let s = seg(i);
        DescriptorTable {
            base: s.base,
            limit: s.limit,
        }
    };
    let cr_at = 8 + 18 * 8 + 24 * 10;
    Ok(VmcoreCpu {
        index,
        offset,
        size,
        gprs: core::array::from_fn(q),
        rip: q(16),
        rflags: q(17),
        segments: PerSegReg::from_fn(|reg| seg(order(reg))),
        gdtr: table(8),
        idtr: table(9),
        cr: core::array::from_fn(|i| le_u64(d, cr_at + 8 * i)),
        kernel_gs_base: (size_us >= QEMU_CPU_STATE_KGS).then(|| le_u64(d, cr_at + 40)),
    })
}

impl core::fmt::Display for VmcoreCpu {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "CPU {} (QEMU note at offset {:#x})",
            self.index, self.offset
        )
    }
}

/// Every vCPU of a QEMU guest memory dump read from `reader`, as states to check: the
/// segment caches decoded as QEMU's `set_seg` hands them to KVM (as a migration
/// stream's are), the CPL SS.DPL, EFER inferred and said so.
///
/// # Errors
///
/// [`super::InputError`] with [`read`]'s error in words.
pub(crate) fn inputs(reader: impl Read) -> Result<Vec<super::Input>, super::InputError> {
    let dump = read(reader, "").map_err(super::InputError::from)?;
    Ok(dump
        .cpus
        .iter()
        .map(|cpu| {
            let efer = cpu.efer(dump.first_lma);
            let state = super::qemu_dump::lenient_state(
                &cpu.segments,
                cpu.cpl(),
                cpu.cr[0],
                cpu.cr[4],
                efer.value,
                cpu.rflags,
            );
            let notes = std::vec![
                format!(
                    "read from a {FORMAT} ({}): QEMU's SegmentCache as dump-guest-memory copied \
                     it, {} of {} vCPUs; {} bytes of the file read, guest RAM skipped",
                    dump.container,
                    cpu.index + 1,
                    dump.cpus.len(),
                    dump.bytes_read
                ),
                String::from(
                    "the CPL is SS.DPL: a dump's CPU note carries no hflags, and KVM_SET_SREGS \
                     takes the CPL from SS.DPL too",
                ),
                efer.how,
            ];
            super::Input {
                guest: Some(crate::arch::GuestState {
                    cr3: Some(cpu.cr[3]),
                    rip: Some(cpu.rip),
                    gdtr: Some(cpu.gdtr),
                    idtr: Some(cpu.idtr),
                    // Inferred for the segment rules; unknown to the guest-state ones.
                    efer: None,
                    ..crate::arch::GuestState::from(&state)
                }),
                ..super::Input::guest_view(
                    format!("{FORMAT} {cpu}"),
                    super::InputFormat::Vmcore,
                    state,
                    notes,
                )
            }
        })
        .collect())
}
