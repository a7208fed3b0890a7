//! A HyperFuzzer VM state (MSRSSP/hyperfuzzer-seeds, [`crate::format::hyperfuzzer`]):
//! the register file as a state to check, and the instruction at CS:RIP found through
//! the guest's page tables in the memory after it.
//!
//! A seed is "a complete VM state which triggers VMEXIT on executing its very first
//! instruction" (the seeds' README), so the instruction at CS:RIP is the exit the
//! hypervisor under test handles: it is read into [`Input::instruction_in_memory`]
//! (`check` prints it beside the state), or a note says why it cannot be. The CPL is SS.DPL: the file
//! has no CPL, and a VMCS has none either (on VMX SS.DPL is the CPL, Intel SDM Vol. 3C
//! "Checks on Guest Segment Registers"). The file has no LDTR: the state holds an
//! unusable null LDTR, which no rule faults, and the guest state none. The attribute
//! words are Hyper-V's, without an unusable bit, so a segment is unusable where P = 0;
//! their reserved bits 11:8 are named in a note and otherwise ignored, as the rest of
//! the state is still worth judging.
//!
//! ```
//! use segstate::arch::PrivilegeLevel;
//! use segstate::format::hyperfuzzer::RegFile;
//! use segstate::ingest::{InputFormat, read};
//!
//! // Real mode at 0:8 with `f4` (hlt) there: CPL 0, the instruction named.
//! let mut regs = RegFile { rip: 8, eflags: 2, ..RegFile::default() };
//! regs.cs.limit = 0xffff;
//! regs.cs.attributes.0 = 0x9b;
//! regs.ss.limit = 0xffff;
//! regs.ss.attributes.0 = 0x93;
//! let mut file = regs.to_bytes().to_vec();
//! file.extend([0u8; 8]);
//! file.push(0xf4);
//! let inputs = read(&file, Some(InputFormat::HyperFuzzer))?;
//! assert_eq!(inputs[0].state.cpl, PrivilegeLevel::Ring0);
//! let at_rip = inputs[0].instruction_in_memory.as_ref().expect("mapped");
//! assert_eq!((at_rip.linear, at_rip.physical, at_rip.instruction.bytes[0]), (8, 8, 0xf4));
//! # Ok::<(), segstate::ingest::InputError>(())
//! ```

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::code_at_rip::{CodeAtRip, InstructionInMemory, MAX_INSTRUCTION_BYTES};
use super::{Input, InputError, InputFormat, err};
use crate::arch::paging::{PagingMode, translate};
use crate::arch::{
    Attributes, CpuMode, GuestState, PerSegReg, SegReg, Segment, SegmentState, Selector,
};
use crate::check::report::Source;
use crate::format::hyperfuzzer::RegFile;
use crate::format::hyperv::HvSegmentAttributes;

/// What the input is called in labels and errors.
const WHAT: &str = "HyperFuzzer VM state";

/// Reads a HyperFuzzer VM state: the 396-byte `REG_FILE`, then guest physical memory.
///
/// # Errors
///
/// An input shorter than the register file.
pub fn read(bytes: &[u8]) -> Result<Input, InputError> {
    let Some(regs) = bytes.get(..RegFile::SIZE) else {
        return Err(err(format!(
            "{WHAT}: offset {}: the input ends inside the {}-byte REG_FILE ({} bytes); a \
             VM state is the register file, then guest physical memory",
            bytes.len(),
            RegFile::SIZE,
            bytes.len()
        )));
    };
    let regs = RegFile::from_bytes(regs).map_err(|e| err(format!("{WHAT}: {e}")))?;
    let memory = &bytes[RegFile::SIZE..];
    let mut notes = vec![format!(
        "{WHAT}: the {}-byte REG_FILE, then {} bytes of guest physical memory from address 0",
        RegFile::SIZE,
        memory.len()
    )];
    let mut segments = PerSegReg([Segment::null(Selector(0), Attributes::default()); 8]);
    for (reg, name, offset, hv) in regs.segments() {
        let reserved = hv.attributes.0 & HvSegmentAttributes::RESERVED_MASK;
        if reserved != 0 {
            notes.push(format!(
                "offset {} ({name}.Attributes) {:#06x}: reserved bits 11:8 set ({reserved:#x}), \
                 ignored",
                offset + 14,
                hv.attributes.0
            ));
        }
        let attributes = hv.attributes.attributes();
        segments[reg] = Segment {
            selector: Selector(hv.selector),
            base: hv.base,
            limit: hv.limit,
            attributes,
            unusable: !attributes.present,
        };
    }
    let ss_dpl = segments[SegReg::Ss].attributes.dpl;
    let state = SegmentState {
        segments,
        cpl: ss_dpl,
        cr0: regs.cr0.into(),
        cr4: regs.cr4.into(),
        efer: regs.efer.into(),
        rflags: regs.eflags.into(),
    };
    notes.push(format!(
        "CPL {ss_dpl} from SS.DPL: REG_FILE has no CPL, and on VMX SS.DPL is the CPL"
    ));
    notes.push(String::from(
        "REG_FILE has no LDTR (the hypervisor under test keeps its own): taken as an unusable \
         null LDTR, which no rule faults, so nothing about LDTR is judged",
    ));
    let instruction = match instruction_at_rip(&regs, &state, memory) {
        Ok(found) => Some(found),
        Err(why) => {
            notes.push(why);
            None
        }
    };
    let mut guest = GuestState::from(&state);
    guest.segments[SegReg::Ldtr] = None;
    guest.cr3 = Some(regs.cr3);
    guest.rip = Some(regs.rip);
    guest.dr6 = Some(regs.dr6.into());
    guest.dr7 = Some(regs.dr7.into());
    guest.sysenter_esp = Some(regs.sysenter_esp);
    guest.sysenter_eip = Some(regs.sysenter_eip);
    guest.gdtr = Some(regs.gdtr.into());
    guest.idtr = Some(regs.idtr.into());
    Ok(Input {
        source: Source::GuestView,
        guest: Some(guest),
        instruction_in_memory: instruction,
        ..Input::guest_view(String::from(WHAT), InputFormat::HyperFuzzer, state, notes)
    })
}

/// CS:RIP as a linear address: RIP alone in 64-bit mode (CS.base is not used), else
/// CS.base + EIP in 32 bits.
fn code_linear(mode: CpuMode, cs_base: u64, rip: u64) -> u64 {
    if mode == CpuMode::Long64 {
        rip
    } else {
        cs_base.wrapping_add(rip) & 0xffff_ffff
    }
}

/// Up to [`MAX_INSTRUCTION_BYTES`] bytes from `linear` on, a page at a time; fewer where
/// the walk fails or the memory ends. The error is the first page's.
fn code_bytes(
    memory: &[u8],
    paging: PagingMode,
    cr3: u64,
    linear: u64,
) -> Result<(u64, Vec<u8>), String> {
    let mut bytes = Vec::with_capacity(MAX_INSTRUCTION_BYTES);
    let mut first = None;
    while bytes.len() < MAX_INSTRUCTION_BYTES {
        let at = linear.wrapping_add(bytes.len() as u64);
        let physical = match translate(memory, paging, cr3, at) {
            Ok(p) => p,
            Err(e) if bytes.is_empty() => return Err(e.to_string()),
            Err(_) => break,
        };
        first.get_or_insert(physical);
        let in_page = 0x1000 - (at & 0xfff) as usize;
        let want = in_page.min(MAX_INSTRUCTION_BYTES - bytes.len());
        let Some(start) = usize::try_from(physical).ok().filter(|&p| p < memory.len()) else {
            if bytes.is_empty() {
                return Err(format!(
                    "physical {physical:#x} is past the end of the {}-byte memory",
                    memory.len()
                ));
            }
            break;
        };
        let end = start.saturating_add(want).min(memory.len());
        bytes.extend_from_slice(&memory[start..end]);
        if end - start < want {
            break;
        }
    }
    Ok((first.unwrap_or(linear), bytes))
}

/// The instruction at CS:RIP, found through the page tables in `memory`; else a note
/// saying why it cannot be read.
fn instruction_at_rip(
    regs: &RegFile,
    state: &SegmentState,
    memory: &[u8],
) -> Result<InstructionInMemory, String> {
    let cs = state.segments[SegReg::Cs];
    let mode = CpuMode::from_state(state.cr0, state.efer, state.rflags, cs.attributes);
    let paging = PagingMode::from_registers(state.cr0, state.cr4, state.efer);
    let linear = code_linear(mode, cs.base, regs.rip);
    let (physical, bytes) = code_bytes(memory, paging, regs.cr3, linear).map_err(|why| {
        format!("the instruction at CS:RIP (linear {linear:#x}, {paging}) cannot be read: {why}")
    })?;
    let bits = mode.code_bits(cs.attributes.db);
    Ok(InstructionInMemory {
        linear,
        paging,
        physical,
        instruction: CodeAtRip::at_rip(0, &bytes).instruction(Some(bits), regs.rip),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_linear_drops_cs_base_only_in_64_bit_mode() {
        assert_eq!(
            code_linear(CpuMode::Long64, 0x1000, 0x1_0000_0010),
            0x1_0000_0010
        );
        assert_eq!(code_linear(CpuMode::Compatibility, 0x1000, 0x10), 0x1010);
        assert_eq!(code_linear(CpuMode::Real, 0xf_0000, 0xfff0), 0xf_fff0);
        assert_eq!(
            code_linear(CpuMode::Protected32, 0xffff_f000, 0x2000),
            0x1000
        );
    }

    /// Bytes are read a page at a time: an instruction that crosses into an unmapped
    /// page is cut there, and memory that ends mid-instruction cuts it too.
    #[test]
    fn code_bytes_stop_at_unmapped_pages_and_the_end_of_memory() {
        // 32-bit paging, no PSE: PDE 0 -> PT at 0x1000; PTE 0 maps linear page 0 to
        // physical 0x2000; linear page 1 is not mapped.
        let mut m = vec![0u8; 0x3000];
        m[..4].copy_from_slice(&0x1003u32.to_le_bytes());
        m[0x1000..0x1004].copy_from_slice(&0x2003u32.to_le_bytes());
        m[0x2ffe] = 0x0f;
        m[0x2fff] = 0x30;
        let paging = PagingMode::Bits32 { pse: false };
        assert_eq!(
            code_bytes(&m, paging, 0, 0xffe),
            Ok((0x2ffe, vec![0x0f, 0x30]))
        );
        let unmapped = code_bytes(&m, paging, 0, 0x1000).unwrap_err();
        assert!(
            unmapped.contains("the PTE at physical 0x1004 is not present"),
            "{unmapped}"
        );
        let off = code_bytes(&m, PagingMode::Off, 0, 0x2ffe);
        assert_eq!(off, Ok((0x2ffe, vec![0x0f, 0x30])));
        let past = code_bytes(&m, PagingMode::Off, 0, 0x3000).unwrap_err();
        assert_eq!(
            past,
            "physical 0x3000 is past the end of the 12288-byte memory"
        );
    }
}
