//! Xen's `xenctx` tool (`tools/xentrace/xenctx.c`, xen-project/xen @022d4ee27cee), told
//! apart so that a paste of its output is refused as what it is rather than as "no CPU
//! state dump found".
//!
//! `xenctx DOMID` prints each vCPU's `vcpu_guest_context` as `xc_vcpu_getcontext`
//! returns it. For a 32-bit context (`print_ctx_32`, `print_ctx_32on64`) its first line
//! is `cs:eip: %04x:%08x` (then the symbol, if any), then `flags:`, `ss:esp:`, the
//! general registers and ` ds:     %04x\t es: …`; for a 64-bit one (`print_ctx_64`)
//! `rip:`, …, ` cs: %04x\t ss: …` and ` gs: %04x @ %016lx/%016lx` (GS's selector, the
//! kernel's and the user's GS base). With `-a` it adds `cr0:`…`cr4:` and the debug
//! registers. That is all: selectors and no descriptor cache (base, limit, attributes),
//! no EFER and no CPL, so no segment rule can be judged from it. For an HVM guest,
//! Xen's `v` debug key prints the VMCS or VMCB with the segments whole, and
//! `xen-hvmctx DOMID` the saved `hvm_hw_cpu`; segstate reads both.

use alloc::format;
use alloc::string::String;

/// Whether `line` is one only `xenctx` prints: `cs:eip: CCCC:EEEEEEEE` (a 32-bit
/// context's first line) or ` gs: SSSS @ KKKKKKKKKKKKKKKK/UUUUUUUUUUUUUUUU` (a 64-bit
/// context's GS with its two bases), the widths as `xenctx.c` prints them; a reply's
/// `> ` quoting before it is passed over.
#[must_use]
pub(crate) fn line(line: &str) -> bool {
    // E-mail quoting and fences peeled as every text reader peels them.
    let l = crate::ingest::text::prefix::peel(line).trim();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = l.strip_prefix("cs:eip: ") {
        let word = rest.split_whitespace().next().unwrap_or("");
        return word
            .split_once(':')
            .is_some_and(|(cs, eip)| hex(cs, 4) && hex(eip, 8));
    }
    l.strip_prefix("gs: ")
        .and_then(|rest| rest.split_once(" @ "))
        .and_then(|(sel, bases)| Some((sel, bases.trim_end().split_once('/')?)))
        .is_some_and(|(sel, (kernel, user))| hex(sel, 4) && hex(kernel, 16) && hex(user, 16))
}

/// The refusal of a text whose only register listing is `xenctx`'s, first told at
/// `line` ([`line`]).
#[must_use]
pub(crate) fn refusal(line: usize) -> String {
    format!(
        "line {line}: Xen's `xenctx` output (tools/xentrace/xenctx.c), not a dump of a \
         VM's saved state: it prints a vCPU's selectors, general and control registers, \
         and no descriptor cache (base, limit, attributes), EFER or CPL, so no segment \
         rule can be judged; for an HVM guest, Xen's `v` debug key (`xl debug-keys v`, \
         then `xl dmesg`) prints the VMCS or VMCB with its segments, and `xen-hvmctx \
         DOMID` the saved segment state: segstate reads either"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xenctx_s_32_and_64_bit_layouts_are_told() {
        // print_ctx_32's first line as a real paste has it (tests/fixtures/dumps/
        // not-a-dump/xen-devel-2010-xenctx-real-mode.txt), and with the `name+0x…`
        // print_symbol adds when the address is in the kernel's text.
        assert!(line("cs:eip: ca80:00000256"));
        assert!(line("cs:eip: 0010:c01013a7 default_idle+0x17 "));
        // Quoted in the replies to it, once and twice.
        assert!(line("> cs:eip: ca80:00000256"));
        assert!(line(">> cs:eip: ca80:00000256"));
        // print_ctx_64's GS line as its printf has it, and with a pasted CR.
        assert!(line(" gs: 0000 @ ffff88003fc00000/0000000000000000"));
        assert!(line(" gs: 0000 @ ffff88003fc00000/0000000000000000\r"));
    }

    #[test]
    fn other_lines_are_not_xenctx_s() {
        for l in [
            "",
            "cs:eip: ",
            "cs:eip: ca80",
            "cs:eip: ca8:00000256",
            "cs:eip: ca80:0256",
            "cs:eip: zz80:00000256",
            " gs: 0000 @ ffff88003fc00000",
            " gs: 0000 @ ffff88003fc00000/00",
            " gs: 0000",
            // Xen's `show_registers` and QEMU's dump name GS otherwise.
            "(XEN) ds: 0018   es: 0018   fs: 0000   gs: c900   ss: 0018   cs: 0008",
            "GS =0000 0000000000000000 ffffffff 00c00000",
            " ds:     ca80\t es:     0010\t fs:     0000\t gs:     0000",
        ] {
            assert!(!line(l), "{l:?}");
        }
    }

    #[test]
    fn the_refusal_names_the_tool_and_what_it_lacks() {
        let r = refusal(4);
        assert!(r.starts_with("line 4: Xen's `xenctx` output"), "{r}");
        assert!(r.contains("no descriptor cache"), "{r}");
        assert!(r.contains("`xen-hvmctx"), "{r}");
    }
}
