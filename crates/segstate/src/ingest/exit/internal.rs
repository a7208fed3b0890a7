//! What the `extra data[i]` words of a `KVM internal error. Suberror: N` say: the exit
//! KVM could not handle, as KVM's Intel code fills `kvm_run.internal.data`.
//!
//! - **Suberror 3, `KVM_INTERNAL_ERROR_DELIVERY_EV`** (an exit while the CPU was
//!   delivering an event): `vmx.c` `__vmx_handle_exit` (Linux 3.x to 6.11) writes the
//!   IDT-vectoring information, the exit reason, the exit qualification, then the
//!   guest-physical address for an EPT misconfiguration, then the CPU of the last
//!   entry; `x86.c` `kvm_prepare_event_vectoring_exit` (6.12 on) writes the
//!   IDT-vectoring information (`info2`), the exit reason, the qualification (`info1`),
//!   the guest-physical address and the CPU. Words 0 to 2, and word 3 after an EPT
//!   misconfiguration, mean the same in both.
//! - **Suberror 1, `KVM_INTERNAL_ERROR_EMULATION`** with its exit information (Linux
//!   5.15 on, `prepare_emulation_failure_exit`): word 0 the flags; with flag 1
//!   (`KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES`) two words of instruction
//!   bytes follow; then the exit reason, the qualification, the IDT-vectoring
//!   information, the exit interruption information and its error code
//!   (`vmx_get_exit_info`).
//!
//! AMD's words are the VMCB's `exit_code`, `exit_info_1`/`_2` in another order, so
//! they are read only for an Intel target or one not known (and then said to be
//! Intel's reading).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::names;
use crate::check::vmx_guest::InjectedEvent;

/// VMX basic exit reason 48, EPT violation.
const EPT_VIOLATION: u16 = 48;
/// VMX basic exit reason 49, EPT misconfiguration: how KVM marks the pages it emulates
/// as MMIO (and those no memslot backs).
const EPT_MISCONFIG: u16 = 49;

/// An event as the IDT-vectoring information names it (SDM Vol. 3C §25.9.3).
fn event(info: u64) -> Option<String> {
    let e = InjectedEvent::from_field(u32::try_from(info).ok()?)?;
    let v = e.vector;
    Some(match e.kind {
        0 => format!("external interrupt {v:#x}"),
        2 => String::from("an NMI"),
        3 | 6 => match names::exception(v) {
            Some(name) => format!("{name} (vector {v})"),
            None => format!("exception vector {v}"),
        },
        4 => format!("software interrupt INT {v:#x}"),
        5 => String::from("INT1"),
        _ => format!("event type {} vector {v}", e.kind),
    })
}

/// The exit reason word, named.
fn exit_reason(word: u64) -> Option<(u16, String)> {
    let full = u32::try_from(word).ok()?;
    // Bits 15:0 the basic reason; 31 entry failure, 29:27 other flags.
    let basic = (full & 0xffff) as u16;
    let name = names::vmx_exit_reason(basic)?;
    Some((basic, format!("VMX exit reason {basic} ({name})")))
}

/// What the exit means for the guest that met it, while delivering an event or while
/// KVM emulated an instruction after it.
fn consequence(basic: u16, delivering: bool) -> &'static str {
    match (basic, delivering) {
        (EPT_MISCONFIG, true) => {
            ": the event's delivery touched memory KVM emulates as MMIO or no memslot backs \
             (its IDT entry, GDT, stack or page tables there)"
        }
        (EPT_MISCONFIG, false) => {
            ": an instruction touched memory KVM emulates as MMIO, and KVM's emulator could \
             not carry it out"
        }
        (EPT_VIOLATION, true) => {
            ": the event's delivery touched memory the EPT does not map for that access"
        }
        (EPT_VIOLATION, false) => {
            ": an access the EPT does not map, which KVM's emulator could not carry out"
        }
        _ => "",
    }
}

/// Says what an internal error's extra data words show, when their layout is KVM's on
/// Intel (see the module doc); `intel_known` says whether the target is known to be
/// Intel (else the reading is said to be Intel's).
#[must_use]
pub fn explain(suberror: u32, extra: &[u64], intel_known: bool) -> Option<String> {
    let on = if intel_known { "" } else { " on Intel" };
    match suberror {
        3 => {
            let delivering = event(*extra.first()?)?;
            let (basic, reason) = exit_reason(*extra.get(1)?)?;
            let gpa = match (basic, extra.get(3)) {
                (EPT_MISCONFIG, Some(gpa)) => format!(" at guest-physical address {gpa:#x}"),
                _ => String::new(),
            };
            Some(format!(
                "the internal error's extra data, read as KVM's event-delivery report{on} \
                 (vmx.c, x86.c): while delivering {delivering}, the CPU took {reason}{gpa}{}",
                consequence(basic, true)
            ))
        }
        1 => {
            let flags = *extra.first()?;
            let at = match flags {
                0 => 1,
                1 => 3,
                _ => return None,
            };
            let (basic, reason) = exit_reason(*extra.get(at)?)?;
            let during = extra
                .get(at + 2)
                .and_then(|&v| event(v))
                .map(|e| format!(", while delivering {e}"))
                .unwrap_or_default();
            Some(format!(
                "the internal error's extra data, read as KVM's emulation-failure report{on} \
                 (x86.c prepare_emulation_failure_exit): KVM was emulating after \
                 {reason}{during}{}",
                consequence(basic, false)
            ))
        }
        _ => None,
    }
}

/// The instruction bytes an emulation failure carries (suberror 1 with flag 1,
/// `KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES`, Linux 5.15 on): `kvm_run`'s
/// `emulation_failure` puts `insn_size` (a byte) then `insn_bytes[15]` in the two words
/// after the flags, little-endian, as `prepare_emulation_failure_exit` in x86.c fills
/// them from the emulator's fetch (Intel and AMD alike). `None` without the flag, with
/// a size of 0, or with the words missing; a size above 15 is taken as 15.
#[must_use]
pub fn emulation_instruction_bytes(suberror: u32, extra: &[u64]) -> Option<Vec<u8>> {
    if suberror != 1 || *extra.first()? != 1 {
        return None;
    }
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&extra.get(1)?.to_le_bytes());
    raw[8..].copy_from_slice(&extra.get(2)?.to_le_bytes());
    let size = usize::from(raw[0]).min(15);
    (size > 0).then(|| raw[1..=size].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real words: a #PF delivered into an EPT misconfiguration (a 2020 i386 kmemleak
    /// report, the old short form); an EPT violation being emulated (a 2025 report).
    #[test]
    fn delivery_and_emulation_reports_are_named() {
        let s = explain(3, &[0x8000_0b0e, 0x31, 0x182, 0xbfff0, 0], false).unwrap();
        assert!(s.contains("while delivering #PF (vector 14)"), "{s}");
        assert!(
            s.contains("VMX exit reason 49 (EPT misconfiguration)"),
            "{s}"
        );
        assert!(s.contains("at guest-physical address 0xbfff0"), "{s}");
        assert!(s.contains("event-delivery report on Intel"), "{s}");
        let s = explain(3, &[0x8000_002f, 0x20, 0, 1], true).unwrap();
        assert!(s.contains("external interrupt 0x2f"), "{s}");
        assert!(!s.contains("address"), "{s}");
        let s = explain(1, &[0, 0x30, 0x181, 0, 0, 0, 1], true).unwrap();
        assert!(
            s.contains("after VMX exit reason 48 (EPT violation)"),
            "{s}"
        );
        // Instruction bytes first (flag 1): the reason is word 3.
        let s = explain(1, &[1, 0x0f03, 0, 0x30, 0x181, 0x8000_0b0e], true).unwrap();
        assert!(s.contains("EPT violation"), "{s}");
        assert!(s.contains("while delivering #PF"), "{s}");
    }

    #[test]
    fn an_emulation_failures_instruction_bytes_are_read_from_two_words() {
        // lkml-2310-cxl-stressng-two-dumps: 15 bytes fetched, `xsave64 [rdi]` first.
        let words = [1, 0x41c0_3127_ae0f_480f, 0x8b48_65ca_010f_c489, 0x7c];
        let bytes = emulation_instruction_bytes(1, &words).unwrap();
        assert_eq!(bytes.len(), 15);
        assert_eq!(bytes[..4], [0x48, 0x0f, 0xae, 0x27]);
        assert_eq!(bytes[14], 0x8b);
        assert_eq!(
            emulation_instruction_bytes(1, &[1, 0x0f02, 0]),
            Some(vec![0x0f, 0x00])
        );
        assert_eq!(emulation_instruction_bytes(1, &[0, 0x30, 0x181]), None);
        assert_eq!(emulation_instruction_bytes(3, &words), None);
        assert_eq!(emulation_instruction_bytes(1, &[1, 0x0f03]), None);
        assert_eq!(emulation_instruction_bytes(1, &[1, 0, 0]), None);
    }

    #[test]
    fn words_of_another_shape_are_not_named() {
        assert_eq!(explain(3, &[], false), None);
        assert_eq!(explain(3, &[0x0b0e, 0x31], false), None, "no valid event");
        assert_eq!(
            explain(3, &[0x8000_0b0e, 0xffff], false),
            None,
            "no such reason"
        );
        assert_eq!(explain(1, &[7, 0x30], false), None, "unknown flags");
        assert_eq!(explain(2, &[0x8000_0b0e, 0x31], false), None);
    }
}
